#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

#include "ingestd/rate_state.hpp"
#include "upstream/http_types.hpp"

namespace ingestd {

// Rate-limit fields of one response. Each is nullopt when absent or unusable, so callers fall
// back field by field; all of them nullopt means the server said nothing about a limit.
struct RateLimitHeaders {
  std::optional<std::int64_t> limit, remaining;
  // Until the oldest request in the server's log leaves its window, counted from the arrival of
  // this request; the truth lies in (reset - reset_spread, reset].
  std::optional<std::chrono::milliseconds> reset;
  std::chrono::milliseconds reset_spread{1000};
  // Reset named a whole epoch second, the way fixed windows speak: such a window frees every
  // slot at once when it ends, so a request the server stopped counting says nothing of how
  // long the window is (on a sliding log it would bound the window from above).
  bool window_may_be_fixed = false;
  // How long a refused request asks to wait, counted from the answer's receipt.
  std::optional<std::chrono::milliseconds> retry_after;
  // False for an answer from the upstream's cache (X-Cache: HIT): the server did not count it.
  bool counted = true;
};

// When one exchange happened by this machine's wall clock. The server computes an epoch Reset
// when the request arrives (send time is the best estimate), and an HTTP-date Retry-After
// when it answers.
struct ExchangeTimes {
  std::chrono::system_clock::time_point sent, received;
};

// Reads X-RateLimit-Limit/-Remaining/-Reset and Retry-After. The same three under the IETF's
// RateLimit- prefix, X-Rate-Limit- or a vendor's own prefix (a source profile's
// rate_headers.prefix, read first) are read alike: the first prefix a response uses wins.
//  - Limit and Remaining are plain non-negative integers. A Limit of 0 or garbage, or a
//    Remaining above the Limit, describes no limit this client can pace by: both are dropped.
//  - Reset is decided per response: seconds until a slot frees (the contract), or an epoch
//    instant in seconds (>= 10^9) or milliseconds (>= 10^12), which is measured from the send
//    time. A whole epoch second may be rounded either way and stands for its later end. The Date
//    header corrects for a server clock that differs from this one by more than Date's
//    one-second resolution explains. Fractions round up.
//  - Retry-After is delta-seconds or an HTTP-date (measured against Date when present).
// A response served from the upstream's cache (X-Cache: HIT) did not spend budget and may
// replay stale headers, so it yields no fields at all and counted = false.
RateLimitHeaders parse_rate_limit_headers(const HttpHeaders& headers, ExchangeTimes at,
                                          std::string_view vendor_prefix = {});

// The headers of a response and, for a 429 whose headers leave a field unsaid, its JSON body:
// "retryAfter" at the top or in "rateLimit", and rateLimit.limit / remaining / reset.
RateLimitHeaders parse_rate_limit(const HttpResult& response, ExchangeTimes at,
                                  std::string_view vendor_prefix = {});

// Decides when the next request may leave so that none is refused and none waits longer than
// needed. The upstream keeps a sliding log of the last `window` of request ARRIVALS, refused
// ones included, and refuses a request when `limit` of them are already in the log. The model:
//  - A local log of our own send times mirrors the server's log. Send time is the right anchor
//    because the server logs a request when it arrives, long before a slow page completes.
//    A new request may go once the limit-th newest entry is a window (plus margin) old.
//  - The window is an interval (lo, hi] learned from each counted response; scheduling uses hi,
//    the safe end. X-RateLimit-Reset is whole seconds until the oldest logged request expires: a
//    response with Remaining == Limit-1 is alone in the log, so hi <= Reset. The count
//    (Limit - Remaining) says which of our own entries the server still holds: the newest one it
//    dropped bounds the window from above, the oldest it holds bounds it from below, and that
//    oldest entry turns a deeper Reset into an interval narrower than a second. Another client's
//    requests only inflate the count, which moves every bound towards a longer window, so these
//    bounds stay safe; an entry whose arrival is unconfirmed (transport error, cached answer) is
//    ambiguous and suspends learning from the count. Evidence that the window is longer than hi
//    replaces the interval at once; a bound below lo means the window itself got shorter.
//  - A fixed window (it starts at the first request after the last one ended and frees every
//    slot at its end) is scheduled safely by the same log, since its count never exceeds the
//    sliding one; but there a dropped entry does not bound the window. Fixed windows speak
//    whole epoch seconds, so with such a Reset only the Reset and the held entries bound it.
//  - When the server counts more requests than the local log explains (a previous process or
//    another client spent budget), the unknown requests are assumed to be as recent as
//    possible. With Remaining == 0, the oldest of them frees its slot at receive time + Reset.
//    When the log does explain the count, its exact send times beat the Reset rounded up to a
//    whole second.
//  - A 429 waits the full Retry-After plus margin from its receive time; the refused request
//    stays in the log because the server counts it too.
//  - Until a response has revealed the server's count, one request at a time (a probe).
// The server's word comes first:
//  - Remaining > 0 in the latest response lets that many requests go at once; the window model
//    schedules only what follows once it reaches 0.
//  - Until the server names a limit, none is assumed: requests go back to back. A 429 then
//    teaches one: the requests accepted since the last refusal fill the server's log, so their
//    number is the limit, and the oldest of them frees its slot when the 429's wait ends, which
//    gives the window. From then on requests are paced as for a limited upstream.
//  - An optional ceiling (RATE_LIMIT) is never exceeded, whatever the server says.
// Reset is taken as computed when the request arrived, before a slow page is built.
// Margin per request is margin + margin_fraction * window: it absorbs one-way delay jitter, and
// its fixed part doubles after each 429 the model did not foresee.
class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  using TimePoint = Clock::time_point;
  using Duration = Clock::duration;

  struct Options {
    // The window assumed for a 429 that says nothing of its wait, until one is learned.
    Duration initial_window = std::chrono::seconds(60);
    // Absorbs the difference in one-way delay between two requests, including a request that
    // the server logs some milliseconds after its send time was taken on a busy machine (15 ms
    // seen on two cores beside PostgreSQL, and 20 ms was not always enough there); doubled after
    // every 429 the model did not foresee, up to max_margin. Costs 4 % of a 1 s window, 0.07 %
    // of the contract's 60 s.
    Duration margin = std::chrono::milliseconds(40);
    Duration max_margin = std::chrono::milliseconds(250);
    double margin_fraction = 0.002;
    std::optional<RateCeiling> ceiling = std::nullopt;
  };

  // What a restarted process needs to schedule its first request as the server sees it.
  struct Snapshot {
    std::optional<std::int64_t> limit;  // nullopt: no limit known
    Duration window{};
    std::vector<TimePoint> sent;  // requests that may still be in the server's log, ascending
  };

  explicit RateLimiter(Options options);

  // Earliest instant (>= now) a request may be sent without being refused; TimePoint::max()
  // while the probe is in flight. Every on_send must later be matched by an on_response with the
  // same sent_at (status 0 for a transport error).
  TimePoint next_send_time(TimePoint now) const;
  void on_send(TimePoint sent_at);
  void on_response(TimePoint sent_at, TimePoint received_at, int http_status,
                   const RateLimitHeaders& headers);

  // Requests the server allows per window; nullopt while none is known.
  std::optional<std::int64_t> limit() const;
  Duration window() const { return window_hi_; }

  // The state a restart needs, as of `now`; restore() takes it into a fresh limiter. Restored
  // requests count as sent but unconfirmed, so they delay requests without teaching bounds.
  Snapshot snapshot(TimePoint now) const;
  void restore(const Snapshot& snapshot);

 private:
  struct Entry {
    TimePoint at;
    // Stands for a request the server counted that we did not send (or no longer remember).
    bool unknown;
    // The server is known to have logged it (a response with its count came back for it).
    bool confirmed;
  };

  Duration margin() const;
  void insert_entry(Entry entry);
  void confirm(TimePoint at);
  // Entries sent at or before `at`, newest first, the own entry sent at `at` leading.
  std::vector<Entry> entries_up_to(TimePoint at) const;
  // Entries the schedule still holds against a request sent at `at`.
  std::int64_t count_in_window(TimePoint at) const;
  // `refused`: the evidence is a 429 the model did not foresee.
  void observe_window(std::optional<Duration> lo, std::optional<Duration> hi, bool refused);
  void learn_window(TimePoint sent_at, std::int64_t count, bool exact,
                    const RateLimitHeaders& headers);
  void sync_count(TimePoint sent_at, std::int64_t count, bool exact);
  void free_oldest_unknown(TimePoint sent_at, TimePoint frees_at);
  void on_refused(TimePoint sent_at, TimePoint received_at, const RateLimitHeaders& headers);
  void learn_from_refusal(TimePoint sent_at, TimePoint received_at, std::optional<Duration> wait);
  void prune(TimePoint now);

  Options options_;
  Duration fixed_margin_;
  std::int64_t limit_ = 1;
  bool limit_known_ = false;
  // Requests the latest response's Remaining still allows, and the send time it was for.
  std::int64_t grant_ = 0;
  TimePoint grant_for_{};
  // Where the requests a 429 teaches from begin: after the previous refusal's wait.
  TimePoint burst_start_{};
  std::deque<TimePoint> ceiling_log_;
  Duration window_lo_{0};
  Duration window_hi_;
  // No response has bounded the window yet: it is still options_.initial_window.
  bool window_guessed_ = true;
  std::deque<Entry> log_;  // ascending by send time
  std::vector<TimePoint> in_flight_;
  TimePoint floor_{};
  bool probing_ = true;
};

}  // namespace ingestd
