#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "pipeline/page_sink.hpp"
#include "store/ledger.hpp"
#include "upstream/rate_state.hpp"

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
  double age_seconds = 0;  // since updated_at
};

// One page to commit, with the cursor that follows it.
struct PageCommit {
  std::int64_t page_number = 0;  // absolute, 1-based: the checkpoint's pages after this commit
  std::optional<std::string> next_cursor;
  bool done = false;
  std::optional<std::int64_t> upstream_total;
  std::string page_cursor;  // the cursor that fetched this page, kept with quarantined events
};

// Read side. Instants are epoch microseconds.
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

// The quarantine table's stream of pushed events.
inline constexpr std::string_view kPushStream = "push";

struct MigrationReport {
  std::vector<std::string> applied;
  int schema_version = 0;
};

struct SubmissionRecord {
  int attempt = 0;
  std::string started_at;
  std::optional<std::string> finished_at;
  std::optional<std::int64_t> ids_sent;
  std::optional<int> http_status;
  LedgerOutcome outcome = LedgerOutcome::in_progress;
  std::optional<std::string> response;
};

// The database boundary. SOCI runs the queries and migrations; the bulk paths are libpq COPY on
// SOCI's own connection, inside SOCI's transactions. Neither library shows in this header.
// Every failure leaves as DatabaseError, its cause (connection lost, unique violation, other)
// decided in one place. A commit that loses its connection reconnects, takes back its stream
// locks and retries, so everyone holds the same Store by reference for a whole run.
class Store {
 public:
  // `reconnect_timeout` bounds how long a lost connection is retried during a commit.
  Store(const std::string& database_url, std::chrono::milliseconds reconnect_timeout);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Keeps trying until the database answers or `timeout` passes (then DatabaseError, exit 4).
  static std::unique_ptr<Store> connect(const std::string& database_url,
                                        std::chrono::milliseconds timeout, std::stop_token stop);

  MigrationReport migrate();
  // Refuses a database that is not migrated, or whose schema is newer than this binary.
  void require_current_schema();
  int schema_version();

  // Session-level advisory lock: a second daemon on the same stream is refused. Waits up to
  // `wait` for another session's hold to end, because a process killed moments ago keeps its
  // lock until PostgreSQL notices the connection is gone (after the statement it was running).
  // Taken again after a reconnect.
  bool lock_stream(const std::string& stream, std::chrono::milliseconds wait, std::stop_token stop);

  // Opens the session again, retrying until `timeout`; then takes back the stream locks, waiting
  // up to `timeout` for the lost session's hold to end (TemporaryError when another process
  // holds one).
  void reconnect(std::chrono::milliseconds timeout, std::stop_token stop);

  Checkpoint load_checkpoint(const std::string& stream);
  // Rows, quarantine and checkpoint in one transaction; a lost connection is re-established
  // and the page retried (a commit whose acknowledgement was lost is recognised).
  CommitResult commit_page(const std::string& stream, const PageCommit& commit,
                           const DecodedPage& page, std::stop_token stop = {});
  void record_error(const std::string& stream, const std::string& message);

  // One pushed request: rows, rollups, quarantine (stream "push") and push_totals in one
  // transaction. Ids already stored (or repeated in the page) are not counted again.
  CommitResult commit_push(const DecodedPage& page);
  PushTotals push_totals();

  std::optional<RateLimitState> load_rate_state(const std::string& stream);
  // Committed at once (its own transaction), before the request it records leaves.
  void save_rate_state(const std::string& stream, const RateLimitState& state);

  std::int64_t count_events();
  // The same number from the day-level rollup: exact, and cheap enough to poll.
  std::int64_t count_events_rolled_up();
  std::int64_t count_quarantine();

  // Read side (store_reads.cpp). Every argument reaches SQL as a bind value.

  // The committed state a statement would see now, as PostgreSQL names it
  // (xmin:xmax:in-progress ids): equal texts see the same committed transactions.
  std::string current_snapshot();
  // The statements of one answer in a REPEATABLE READ READ ONLY transaction, so an answer built
  // from several statements sees one committed state, named by snapshot(). Ends with the object.
  class ReadTransaction {
   public:
    explicit ReadTransaction(Store& store);
    ~ReadTransaction();
    ReadTransaction(const ReadTransaction&) = delete;
    ReadTransaction& operator=(const ReadTransaction&) = delete;
    const std::string& snapshot() const { return snapshot_; }

   private:
    Store& store_;
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

  // Submission ledger. begin_submission commits the attempt before any byte is sent.
  std::vector<SubmissionRecord> submissions();
  int begin_submission(const std::string& stream);
  void finish_submission(int attempt, std::int64_t ids_sent, std::optional<int> http_status,
                         LedgerOutcome outcome, const std::string& response);
  // Attempts left in_progress by a crash: their outcome is unknown, and they still count.
  int close_interrupted_submissions();

  // Streams `COPY (SELECT id FROM events) TO STDOUT`: one id and '\n' per row.
  class IdReader {
   public:
    explicit IdReader(Store& store);
    ~IdReader();
    IdReader(const IdReader&) = delete;
    IdReader& operator=(const IdReader&) = delete;
    // Fills up to n bytes; 0 at the end. Throws DatabaseError.
    std::size_t read(char* out, std::size_t n);
    std::int64_t rows() const { return rows_; }

   private:
    Store& store_;
    char* chunk_ = nullptr;
    std::size_t chunk_size_ = 0;
    std::size_t chunk_pos_ = 0;
    std::int64_t rows_ = 0;
    bool finished_ = false;
  };

  // Defined in store/pg_session.hpp, which only src/store includes.
  struct Session;

 private:
  // Runs f; a SOCI error leaves as DatabaseError with its cause and `context`.
  template <typename F>
  auto guarded(const char* context, F&& f) -> decltype(f());
  void session_setup();
  void exec(const char* sql, const char* context);
  std::int64_t copy_into(const char* copy_sql, const std::string& rows, const char* context);
  CommitResult commit_page_once(const std::string& stream, const PageCommit& commit,
                                const DecodedPage& page);
  void lock_event_writers();
  // The page's rows and what they add to the rollups, inside the caller's transaction; the
  // result's quarantined count is left to the caller.
  CommitResult insert_events(const DecodedPage& page);
  void add_to_rollup(const std::vector<MinuteCount>& minutes);
  std::int64_t insert_quarantine(const std::string& stream, const std::string& page_cursor,
                                 const DecodedPage& page);

  std::unique_ptr<Session> s_;
};

}  // namespace ingestd
