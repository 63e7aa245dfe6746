#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "ingestd/sync_marks.hpp"

namespace ingestd {

// Which pass over a newest-first stream is running: the first copy, a head sync (from the head
// down to the mark), or a re-scan of the whole stream (for events that arrived below the mark).
enum class SyncPhase { first_pass, head_sync, rescan };

std::string_view sync_phase_name(SyncPhase phase);  // "first_pass", "head_sync", "rescan"
std::string_view sync_phase_text(SyncPhase phase);  // "first pass", "head sync", "re-scan"
std::optional<SyncPhase> parse_sync_phase(std::string_view name);

struct FollowOptions {
  std::chrono::milliseconds interval{0};  // between head syncs; 0: one pass, no following
  // A head sync reads this far below the mark, on timestamps: events that share the mark's
  // instant or arrived slightly late are fetched again (the primary key drops the repeats).
  std::chrono::milliseconds overlap{5000};
  std::optional<std::chrono::milliseconds> rescan_interval;  // a re-scan at least this often
  std::int64_t page_limit = 5000;
};

// What the page a commit carries says about the pass.
struct PageMarks {
  bool from_head = false;  // fetched without a cursor: the pass's first page, or a restart
  std::optional<std::int64_t> newest_us;
  std::optional<std::int64_t> total;  // the upstream's meta.total
  bool last = false;                  // the pass ends with this page
};

// A completed pass as the store counted it.
struct PassSummary {
  std::int64_t inserted = 0;   // events the pass stored that were new
  std::int64_t accounted = 0;  // the stream's stored + quarantined events after it
};

struct NextPass {
  SyncPhase phase = SyncPhase::head_sync;
  std::chrono::milliseconds wait{0};
  std::string reason;  // why a re-scan; empty for a head sync
};

// The follow state machine, without I/O: which pass runs, where a head sync stops, what marks
// each page commits, and when the next pass starts. The marks it returns are committed with
// the rows, so after a crash the store's copy is the truth and the state is rebuilt from it.
//
// Schedule: a pass that stored at least a page of new events is followed at once; after k
// passes in a row that stored nothing the wait is interval × min(10, 2^(k-1)); anything new
// brings it back to the interval. After a head sync whose head page reported a total above
// what is stored + quarantined, a re-scan runs (events arrived below the mark); a full pass that
// leaves a shortfall (an upstream that counts duplicates) is not followed by a re-scan for it.
class SyncState {
 public:
  using Clock = std::chrono::steady_clock;
  SyncState(FollowOptions options, SyncPhase phase, SyncMarks marks, Clock::time_point now);

  SyncPhase phase() const { return phase_; }
  const SyncMarks& marks() const { return marks_; }
  const FollowOptions& options() const { return options_; }

  // Where a head sync ends: on the page that reaches an event at or below it. nullopt for
  // the first pass and re-scans (they read to the end), and without a mark.
  std::optional<std::int64_t> stop_at_us() const;

  // The marks to commit with a page: a page from the head sets the target (a restart from the
  // head after an expired cursor moves it to that newer head), and the last page of the pass
  // makes the target the mark.
  SyncMarks on_page(const PageMarks& page);

  // After the last page of a pass is committed: the next pass, and how long to wait for it.
  NextPass after_pass(const PassSummary& pass, Clock::time_point now);
  // A new pass starts: the target of the previous one is gone.
  void begin(SyncPhase phase);

 private:
  FollowOptions options_;
  SyncPhase phase_;
  SyncMarks marks_;
  std::optional<std::int64_t> head_total_;
  std::optional<std::int64_t> shortfall_after_full_pass_;
  Clock::time_point last_full_pass_;
  int idle_passes_ = 0;
};

}  // namespace ingestd
