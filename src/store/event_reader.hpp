#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ingestd/sync_marks.hpp"
#include "store/database.hpp"

namespace ingestd {

struct Checkpoint {
  std::string stream;
  std::optional<std::string> next_cursor;
  std::int64_t pages = 0;
  std::int64_t events = 0;
  std::int64_t quarantined = 0;
  std::optional<std::int64_t> upstream_total;
  bool done = false;
  std::optional<std::string> last_error;
  double age_seconds = 0;            // since updated_at
  std::string phase = "first_pass";  // the pass in progress, or the last one when done
  SyncMarks marks;
  std::int64_t syncs = 0;                         // completed head syncs and re-scans
  std::int64_t rescans = 0;                       // completed re-scans
  std::optional<std::int64_t> last_sync_events;   // events the last completed pass added
  std::optional<std::int64_t> last_sync_unix_ms;  // when it completed
};

// Instants are epoch microseconds.
struct BucketCount {
  std::int64_t start_us = 0;
  std::int64_t count = 0;
};

struct EventSpan {
  std::int64_t first_us = 0;
  std::int64_t last_us = 0;
};

struct TypeCount {
  std::string type;  // '' for events without a type
  std::int64_t count = 0;
};

struct UserSummary {
  std::int64_t event_count = 0;
  std::optional<EventSpan> span;
  std::vector<TypeCount> by_type;
};

// What POST /v1/events has stored so far.
struct PushTotals {
  std::int64_t requests = 0;
  std::int64_t accepted = 0;
  std::int64_t duplicates = 0;
  std::int64_t quarantined = 0;
  std::optional<std::string> last_at;
};

// The read side: checkpoints, counts and the read API's queries. Every argument reaches SQL as
// a bind value; each statement is prepared once per connection.
class EventReader {
 public:
  explicit EventReader(Database& db);

  // The stream's checkpoint; a stream never seen gets its (empty) row.
  Checkpoint load_checkpoint(const std::string& stream);
  std::int64_t count_events();
  // The same number from the day-level rollup: exact, and cheap enough to poll.
  std::int64_t count_events_rolled_up();
  std::int64_t count_quarantine();
  // The newest stored event's instant (epoch microseconds), from the time index.
  std::optional<std::int64_t> newest_event_us();
  PushTotals push_totals();

  // The committed state a statement sees now, as PostgreSQL names it (xmin:xmax:in-progress
  // ids), when no change to events committed since `snapshot` touched an
  // instant in [from_us, to_us) (sql/007_event_changes.sql); nullopt when one did.
  std::optional<std::string> unchanged_since(const std::string& snapshot, std::int64_t from_us,
                                             std::int64_t to_us);
  // The statements of one answer in a REPEATABLE READ READ ONLY transaction, so an answer built
  // from several statements sees one committed state, named by snapshot(). Ends with the object.
  class ReadTransaction {
   public:
    explicit ReadTransaction(EventReader& reader);
    ~ReadTransaction();
    ReadTransaction(const ReadTransaction&) = delete;
    ReadTransaction& operator=(const ReadTransaction&) = delete;
    const std::string& snapshot() const { return snapshot_; }

   private:
    EventReader& reader_;
    std::string snapshot_;
  };

  UserSummary user_summary(const std::string& user_id);
  // First and last instant of all events, optionally of one type.
  std::optional<EventSpan> global_span(const std::optional<std::string>& type);
  // The user's events in [from_us, to_us) (either end open when nullopt) per bucket of
  // `bucket_s` seconds, buckets without events left out, and, when an end is open, the first
  // and last of them.
  struct UserBuckets {
    std::vector<BucketCount> buckets;
    std::optional<EventSpan> span;
  };
  UserBuckets user_buckets(const std::string& user_id, std::optional<std::int64_t> from_us,
                           std::optional<std::int64_t> to_us, std::int64_t bucket_s);
  // Rollup rows of one level whose bucket starts lie in [from_us, to_us): of one type, or of
  // all types.
  std::vector<BucketCount> rollup_counts(std::int64_t granularity_s, std::int64_t from_us,
                                         std::int64_t to_us,
                                         const std::optional<std::string>& type);
  // Events in [from_us, to_us), counted from the table.
  std::int64_t count_rows(std::int64_t from_us, std::int64_t to_us,
                          const std::optional<std::string>& type);

 private:
  Database::Session& s();

  Database& db_;
};

}  // namespace ingestd
