#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

#include "ingestd/http_types.hpp"

namespace ingestd {

// Rate-limit fields of one response. Each is nullopt when absent or unusable (not a plain
// non-negative number, or out of range), so callers fall back field by field.
struct RateLimitHeaders {
  std::optional<std::int64_t> limit, remaining, reset_s, retry_after_s;
};

// Reads X-RateLimit-Limit/-Remaining/-Reset and Retry-After (delta-seconds; a fractional value is
// rounded up, an HTTP-date is unusable without a wall clock). A response served from the
// upstream's cache (X-Cache: HIT) did not spend budget and may replay stale headers, so it
// yields no fields at all.
RateLimitHeaders parse_rate_limit_headers(const HttpHeaders& headers);

// Decides when the next request may leave so that none is refused and none waits longer than
// needed. The upstream keeps a sliding log of the last `window` of request ARRIVALS, refused
// ones included, and refuses a request when `limit` of them are already in the log. The model:
//  - A local log of our own send times mirrors the server's log. Send time is the right anchor
//    because the server logs a request when it arrives, long before a slow page completes.
//    A new request may go once the limit-th newest entry is a window (plus margin) old.
//  - The window is an interval (lo, hi] learned from X-RateLimit-Reset, which is whole seconds
//    until the oldest logged request expires: a response with Remaining == Limit-1 is alone in
//    the log, so hi <= Reset; deeper responses locate the oldest entry in the local log and
//    narrow the interval below one second. Scheduling uses hi, the safe end. Evidence that the
//    window is longer than hi replaces the interval at once; only a request alone in the log
//    may shrink it, because a short Reset on a deeper response is ambiguous.
//  - When the server counts more requests than the local log explains (a previous process or
//    another client spent budget), the unknown requests are assumed to be as recent as
//    possible, and Remaining == 0 sets a hard floor at receive time + Reset. When the log does
//    explain the count, its exact send times beat the Reset rounded up to a whole second.
//  - A 429 waits the full Retry-After plus margin from its receive time; the refused request
//    stays in the log because the server counts it too.
//  - Until a response has revealed the server's count, one request at a time (a probe).
// Margin per request is margin + margin_fraction * window: it absorbs one-way delay jitter.
class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  using TimePoint = Clock::time_point;
  using Duration = Clock::duration;

  struct Options {
    std::int64_t initial_limit = 10;
    Duration initial_window = std::chrono::seconds(60);
    Duration margin = std::chrono::milliseconds(25);
    double margin_fraction = 0.002;
  };

  explicit RateLimiter(Options options);

  // Earliest instant (>= now) a request may be sent without being refused; TimePoint::max()
  // while the probe is in flight. Every on_send must later be matched by an on_response with the
  // same sent_at (status 0 for a transport error).
  TimePoint next_send_time(TimePoint now) const;
  void on_send(TimePoint sent_at);
  void on_response(TimePoint sent_at, TimePoint received_at, int http_status,
                   const RateLimitHeaders& headers);

  std::int64_t limit() const { return limit_; }
  Duration window() const { return window_hi_; }

 private:
  struct Entry {
    TimePoint at;
    // The server is known to have logged it (a counted response came back for it).
    bool confirmed;
  };

  Duration margin() const;
  void insert_entry(TimePoint at, bool confirmed);
  void confirm(TimePoint at);
  // Entries sent at or before `at`, newest first.
  std::vector<Entry> entries_up_to(TimePoint at) const;
  std::size_t count_in_window(TimePoint at) const;
  void observe_window(Duration lo, std::optional<Duration> hi, bool may_shrink);
  void learn_from_reset(TimePoint sent_at, std::int64_t count, const RateLimitHeaders& headers);
  bool sync_count(TimePoint sent_at, std::int64_t count);
  void on_refused(TimePoint sent_at, TimePoint received_at, const RateLimitHeaders& headers);
  void prune();

  Options options_;
  std::int64_t limit_;
  Duration window_lo_{0};
  Duration window_hi_;
  std::deque<Entry> log_;  // ascending by send time
  std::vector<TimePoint> in_flight_;
  TimePoint floor_{};
  bool probing_ = true;
};

}  // namespace ingestd
