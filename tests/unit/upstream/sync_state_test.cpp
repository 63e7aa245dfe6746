#include "upstream/sync_state.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <set>
#include <vector>

using namespace std::chrono_literals;
using ingestd::FollowOptions;
using ingestd::NextPass;
using ingestd::PageMarks;
using ingestd::PassSummary;
using ingestd::SyncMarks;
using ingestd::SyncPhase;
using ingestd::SyncState;

namespace {

const SyncState::Clock::time_point kStart = SyncState::Clock::time_point{} + 1000s;
constexpr std::int64_t kSecond = 1'000'000;

// A newest-first upstream of event instants (one event per instant, so an instant names it),
// paged by keyset: the page after a position holds the next `page` events older than it.
struct FakeUpstream {
  std::set<std::int64_t, std::greater<>> events;
  std::size_t page = 3;

  std::vector<std::int64_t> page_after(std::optional<std::int64_t> after) const {
    std::vector<std::int64_t> out;
    for (auto it = after ? events.upper_bound(*after) : events.begin();
         it != events.end() && out.size() < page; ++it) {
      out.push_back(*it);
    }
    return out;
  }
};

// What one pass did: the marks committed with each page, and the summary.
struct Pass {
  std::vector<SyncMarks> committed;
  PassSummary summary;
};

// Runs one pass as EventsSource and the store do: from the head, each page's marks committed
// with its rows, ending at the stream's end or (head sync) on the page that reaches stop_at.
// `crash_after` pages, when set, ends the pass there without its last page (a kill -9).
Pass run_pass(SyncState& sync, const FakeUpstream& up, std::set<std::int64_t>& stored,
              std::optional<std::size_t> crash_after = std::nullopt) {
  Pass pass;
  std::optional<std::int64_t> cursor;
  const auto stop_at = sync.stop_at_us();
  for (std::size_t n = 0;; ++n) {
    if (crash_after && n == *crash_after) return pass;
    const auto page = up.page_after(cursor);
    const bool reached = stop_at && !page.empty() && page.back() <= *stop_at;
    const bool last = page.size() < up.page || reached ||
                      up.page_after(page.empty() ? cursor : std::optional(page.back())).empty();
    for (std::int64_t e : page) pass.summary.inserted += stored.insert(e).second ? 1 : 0;
    pass.committed.push_back(
        sync.on_page({.from_head = !cursor,
                      .newest_us = page.empty() ? std::nullopt : std::optional(page.front()),
                      .total = static_cast<std::int64_t>(up.events.size()),
                      .last = last}));
    if (last) break;
    cursor = page.back();
  }
  pass.summary.accounted = static_cast<std::int64_t>(stored.size());
  return pass;
}

FollowOptions options() {
  return {.interval = 2s, .overlap = 1s, .rescan_interval = std::nullopt, .page_limit = 3};
}

}  // namespace

TEST_CASE("sync state: the mark moves only when a pass completes, from first pass to re-scan") {
  FakeUpstream up;
  for (std::int64_t s = 1; s <= 10; ++s) up.events.insert(s * kSecond);
  std::set<std::int64_t> stored;
  SyncState sync(options(), SyncPhase::first_pass, {}, kStart);

  // First pass: every page commits the head it started from as the target; only the last
  // page makes it the mark.
  Pass first = run_pass(sync, up, stored);
  REQUIRE(first.committed.size() == 4);
  for (std::size_t i = 0; i + 1 < first.committed.size(); ++i) {
    CHECK(first.committed[i] == SyncMarks{std::nullopt, 10 * kSecond});
  }
  CHECK(first.committed.back() == SyncMarks{10 * kSecond, 10 * kSecond});
  CHECK(sync.stop_at_us() == std::nullopt);  // the first pass reads to the end
  NextPass next = sync.after_pass(first.summary, kStart);
  CHECK(next.phase == SyncPhase::head_sync);
  CHECK(next.wait == 0s);  // it stored more than a page: more may be waiting

  // Four events reach the head; one (5.5 s) arrives below the mark, out of a head sync's
  // sight.
  for (std::int64_t s = 11; s <= 14; ++s) up.events.insert(s * kSecond);
  up.events.insert(5 * kSecond + kSecond / 2);
  sync.begin(SyncPhase::head_sync);
  CHECK(sync.stop_at_us() == 9 * kSecond);  // the mark minus the overlap
  // A crash after the first page: the committed marks keep the old mark, so a restart rebuilt
  // from them syncs toward the same one.
  std::set<std::int64_t> stored_at_crash = stored;
  Pass crashed = run_pass(sync, up, stored_at_crash, 1);
  REQUIRE(crashed.committed.size() == 1);
  CHECK(crashed.committed[0] == SyncMarks{10 * kSecond, 14 * kSecond});
  SyncState restarted(options(), SyncPhase::head_sync, crashed.committed[0], kStart);
  CHECK(restarted.stop_at_us() == 9 * kSecond);

  Pass head = run_pass(sync, up, stored);
  // Pages 14,13,12 then 11,10,9: the second reaches 9 s and ends the sync.
  REQUIRE(head.committed.size() == 2);
  CHECK(head.committed[0] == SyncMarks{10 * kSecond, 14 * kSecond});
  CHECK(head.committed[1] == SyncMarks{14 * kSecond, 14 * kSecond});
  CHECK(head.summary.inserted == 4);
  CHECK(stored.count(5 * kSecond + kSecond / 2) == 0);
  // The upstream's total says one event is missing below the mark.
  next = sync.after_pass(head.summary, kStart + 5s);
  CHECK(next.phase == SyncPhase::rescan);
  CHECK(next.wait == 0s);
  CHECK(next.reason.find("1 arrived below the mark") != std::string::npos);

  sync.begin(SyncPhase::rescan);
  CHECK(sync.stop_at_us() == std::nullopt);
  Pass rescan = run_pass(sync, up, stored);
  CHECK(rescan.summary.inserted == 1);
  CHECK(stored.size() == up.events.size());
  CHECK(rescan.committed.back().mark_us == 14 * kSecond);
  next = sync.after_pass(rescan.summary, kStart + 6s);
  CHECK(next.phase == SyncPhase::head_sync);
  CHECK(next.wait == 2s);
}

TEST_CASE("sync state: idle syncs stretch the interval to at most ten times, new events reset it") {
  FakeUpstream up;
  for (std::int64_t s = 1; s <= 4; ++s) up.events.insert(s * kSecond);
  std::set<std::int64_t> stored;
  SyncState sync(options(), SyncPhase::first_pass, {}, kStart);
  sync.after_pass(run_pass(sync, up, stored).summary, kStart);
  std::vector<std::chrono::milliseconds> waits;
  for (int i = 0; i < 7; ++i) {
    sync.begin(SyncPhase::head_sync);
    Pass idle = run_pass(sync, up, stored);
    CHECK(idle.committed.size() == 1);  // an idle sync costs one request
    const NextPass next = sync.after_pass(idle.summary, kStart + 1s);
    CHECK(next.phase == SyncPhase::head_sync);
    waits.push_back(next.wait);
  }
  CHECK(waits == std::vector<std::chrono::milliseconds>{2s, 4s, 8s, 16s, 20s, 20s, 20s});
  up.events.insert(5 * kSecond);
  sync.begin(SyncPhase::head_sync);
  CHECK(sync.after_pass(run_pass(sync, up, stored).summary, kStart + 2s).wait == 2s);
}

TEST_CASE("sync state: a shortfall a full pass could not mend does not start re-scans forever") {
  SyncState sync(options(), SyncPhase::rescan, {}, kStart);
  // The upstream counts 12 but serves 10 distinct events: a re-scan ends 2 short.
  sync.on_page({.from_head = true, .newest_us = 10 * kSecond, .total = 12, .last = true});
  CHECK(sync.after_pass({.inserted = 0, .accounted = 10}, kStart).phase == SyncPhase::head_sync);
  sync.begin(SyncPhase::head_sync);
  sync.on_page({.from_head = true, .newest_us = 10 * kSecond, .total = 12, .last = true});
  CHECK(sync.after_pass({.inserted = 0, .accounted = 10}, kStart).phase == SyncPhase::head_sync);
  // A third event goes missing: that is new, and worth a re-scan.
  sync.begin(SyncPhase::head_sync);
  sync.on_page({.from_head = true, .newest_us = 11 * kSecond, .total = 14, .last = true});
  CHECK(sync.after_pass({.inserted = 1, .accounted = 11}, kStart).phase == SyncPhase::rescan);
}

TEST_CASE("sync state: RESCAN_INTERVAL_S forces a re-scan after that long since a full pass") {
  FollowOptions o = options();
  o.rescan_interval = 60s;
  SyncState sync(o, SyncPhase::first_pass, {}, kStart);
  sync.on_page({.from_head = true, .newest_us = 5 * kSecond, .total = std::nullopt, .last = true});
  CHECK(sync.after_pass({.inserted = 1, .accounted = 1}, kStart).phase == SyncPhase::head_sync);
  sync.begin(SyncPhase::head_sync);
  sync.on_page({.from_head = true, .newest_us = 5 * kSecond, .total = std::nullopt, .last = true});
  CHECK(sync.after_pass({.inserted = 0, .accounted = 1}, kStart + 59s).phase ==
        SyncPhase::head_sync);
  sync.begin(SyncPhase::head_sync);
  sync.on_page({.from_head = true, .newest_us = 5 * kSecond, .total = std::nullopt, .last = true});
  const NextPass next = sync.after_pass({.inserted = 0, .accounted = 1}, kStart + 60s);
  CHECK(next.phase == SyncPhase::rescan);
  CHECK(next.reason.find("RESCAN_INTERVAL_S") != std::string::npos);
}

TEST_CASE("sync state: an empty upstream leaves no mark, and phase names round-trip") {
  SyncState sync(options(), SyncPhase::first_pass, {}, kStart);
  CHECK(sync.on_page({.from_head = true, .newest_us = std::nullopt, .total = 0, .last = true}) ==
        SyncMarks{});
  sync.begin(SyncPhase::head_sync);
  CHECK(sync.stop_at_us() == std::nullopt);  // no mark: the sync reads to the end
  for (SyncPhase p : {SyncPhase::first_pass, SyncPhase::head_sync, SyncPhase::rescan}) {
    CHECK(ingestd::parse_sync_phase(ingestd::sync_phase_name(p)) == p);
  }
  CHECK(ingestd::parse_sync_phase("following") == std::nullopt);
}
