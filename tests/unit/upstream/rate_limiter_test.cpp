#include "upstream/rate_limiter.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <vector>

#include "upstream/http_types.hpp"

using namespace std::chrono_literals;
using ingestd::HttpHeaders;
using ingestd::HttpResult;
using ingestd::parse_rate_limit;
using ingestd::parse_rate_limit_headers;
using ingestd::RateLimiter;
using ingestd::RateLimitHeaders;
using Duration = RateLimiter::Duration;
using TimePoint = RateLimiter::TimePoint;

namespace {

const TimePoint kStart = TimePoint{} + 1000s;
// The wall clock the parser measures epoch instants against: 2026-01-27T19:20:12Z.
const auto kWall = std::chrono::system_clock::time_point{} + 1'769'541'612s;
const ingestd::ExchangeTimes kAt{kWall, kWall};

// Fields as a parsed response carries them: whole seconds.
RateLimitHeaders fields(std::optional<std::int64_t> limit, std::optional<std::int64_t> remaining,
                        std::optional<int> reset_s, std::optional<int> retry_after_s) {
  RateLimitHeaders h;
  h.limit = limit;
  h.remaining = remaining;
  if (reset_s) h.reset = std::chrono::seconds(*reset_s);
  if (retry_after_s) h.retry_after = std::chrono::seconds(*retry_after_s);
  return h;
}

std::int64_t ceil_seconds(Duration d) {
  if (d <= Duration::zero()) return 0;
  return (d + 1s - Duration(1)) / 1s;
}

double secs(Duration d) {
  return std::chrono::duration<double>(d).count();
}

// The wall clock instant of a model instant: kStart is kWall.
std::chrono::system_clock::time_point wall(TimePoint t) {
  return kWall + std::chrono::duration_cast<std::chrono::system_clock::duration>(t - kStart);
}

// The upstream's limiter as the contract describes it: a sliding log of arrivals, refused ones
// included; a request is refused when `limit` entries are already in the log. With `fixed`, a
// fixed window instead: it starts at the first arrival after the last one ended, and every
// entry leaves at its end.
struct Reply {
  int status;
  std::int64_t limit, remaining, reset;
  TimePoint frees_at{};  // when the oldest logged request leaves, unrounded
};

struct UpstreamModel {
  Duration window;
  std::int64_t limit;
  std::deque<TimePoint> log;
  bool fixed = false;

  Reply arrive(TimePoint t) {
    if (fixed) {
      if (!log.empty() && log.front() + window <= t) log.clear();
    } else {
      while (!log.empty() && log.front() + window <= t) log.pop_front();
    }
    const bool refused = static_cast<std::int64_t>(log.size()) >= limit;
    log.push_back(t);
    const std::int64_t reset = ceil_seconds(log.front() + window - t);
    if (refused) return {429, limit, 0, reset, log.front() + window};
    return {200, limit, limit - static_cast<std::int64_t>(log.size()), reset, log.front() + window};
  }
};

// missing: no rate headers anywhere; body_wait: none either, but a 429's body says the wait;
// body_contract: none either, and a 429's body is the contract's, with its rateLimit object.
// epoch_floor: Reset as the epoch second the oldest slot frees in, truncated.
enum class HeaderMode { honest, missing, garbled, body_wait, body_contract, epoch_floor };

HttpHeaders render(const Reply& r, HeaderMode mode) {
  HttpHeaders h;
  h.add("Content-Type", "application/json");
  if (mode == HeaderMode::missing || mode == HeaderMode::body_wait ||
      mode == HeaderMode::body_contract) {
    return h;
  }
  if (mode == HeaderMode::garbled) {
    h.add("X-RateLimit-Limit", "abc");
    h.add("X-RateLimit-Remaining", "-1");
    h.add("X-RateLimit-Reset", "1e309");
    if (r.status == 429) h.add("Retry-After", "soon");
    return h;
  }
  h.add("X-RateLimit-Limit", std::to_string(r.limit));
  h.add("X-RateLimit-Remaining", std::to_string(r.remaining));
  if (mode == HeaderMode::epoch_floor) {
    const auto frees = std::chrono::floor<std::chrono::seconds>(wall(r.frees_at));
    h.add("X-RateLimit-Reset", std::to_string(frees.time_since_epoch().count()));
  } else {
    h.add("X-RateLimit-Reset", std::to_string(r.reset));
  }
  if (r.status == 429) h.add("Retry-After", std::to_string(r.reset));
  return h;
}

HttpResult respond(const Reply& r, HeaderMode mode) {
  HttpResult result;
  result.status = r.status;
  result.headers = render(r, mode);
  if (r.status == 429 && mode == HeaderMode::body_wait) {
    result.body = R"({"error":"Too Many Requests","retryAfter":)" + std::to_string(r.reset) + "}";
  }
  if (r.status == 429 && mode == HeaderMode::body_contract) {
    const std::string reset = std::to_string(r.reset);
    result.body =
        R"({"error":"Too Many Requests","code":"RATE_LIMIT_EXCEEDED","rateLimit":{"limit":)" +
        std::to_string(r.limit) + R"(,"remaining":0,"reset":)" + reset + R"(,"retryAfter":)" +
        reset + "}}";
  }
  return result;
}

// One request at the limiter's earliest permit, answered `latency` later with honest headers;
// `now` moves on to the answer. Returns the server's status.
int exchange(RateLimiter& limiter, UpstreamModel& upstream, TimePoint& now, Duration latency) {
  now = limiter.next_send_time(now);
  REQUIRE(now != TimePoint::max());
  limiter.on_send(now);
  const Reply reply = upstream.arrive(now);
  limiter.on_response(now, now + latency, reply.status,
                      parse_rate_limit_headers(render(reply, HeaderMode::honest), kAt));
  now += latency;
  return reply.status;
}

// Drives a limiter against the model the way the fetcher does, with simulated latency. Up to
// `max_in_flight` requests overlap, so with 2 the next send is decided before the previous
// response has arrived.
struct Run {
  UpstreamModel upstream;
  RateLimiter limiter{RateLimiter::Options{}};
  HeaderMode headers = HeaderMode::honest;
  Duration latency_min = 50ms;
  Duration latency_max = 3500ms;
  Duration one_way_jitter = 0ms;
  int max_in_flight = 1;
  // Called before each send with the send index; changes the upstream mid-run.
  std::function<void(int, TimePoint, UpstreamModel&)> before_send{};

  int refused = 0;
  std::vector<int> refused_at{};
  std::vector<TimePoint> sends{};
  TimePoint now = kStart;
  std::uint64_t rng = 0x1234'5678'9abc'def0ULL;

  Duration draw(Duration lo, Duration hi) {
    rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
    const auto span = static_cast<std::uint64_t>((hi - lo).count()) + 1;
    return lo + Duration(static_cast<std::int64_t>((rng >> 11) % span));
  }

  struct Pending {
    TimePoint sent, received;
    Reply reply;
  };

  void go(int requests) {
    std::vector<Pending> pending;
    int sent = 0;
    while (sent < requests || !pending.empty()) {
      TimePoint permit = TimePoint::max();
      if (sent < requests && static_cast<int>(pending.size()) < max_in_flight) {
        permit = limiter.next_send_time(now);
        REQUIRE(permit >= now);
      }
      const auto next_reply = std::min_element(
          pending.begin(), pending.end(),
          [](const Pending& a, const Pending& b) { return a.received < b.received; });
      const TimePoint reply_at =
          next_reply == pending.end() ? TimePoint::max() : next_reply->received;
      REQUIRE((permit != TimePoint::max() || reply_at != TimePoint::max()));
      if (permit <= reply_at) {
        now = permit;
        if (before_send) before_send(sent, now, upstream);
        limiter.on_send(now);
        const Reply reply = upstream.arrive(now + draw(0ms, one_way_jitter));
        if (reply.status == 429) {
          ++refused;
          refused_at.push_back(sent);
        }
        sends.push_back(now);
        pending.push_back({now, now + draw(latency_min, latency_max), reply});
        ++sent;
      } else {
        const Pending p = *next_reply;
        pending.erase(next_reply);
        now = p.received;
        limiter.on_response(
            p.sent, p.received, p.reply.status,
            parse_rate_limit(respond(p.reply, headers),
                             ingestd::ExchangeTimes{wall(p.sent), wall(p.received)}));
      }
    }
  }

  Duration elapsed() const { return sends.back() - sends.front(); }
};

// The budget target: 200 requests within 1.01 x (requests / limit x window), plus one window
// because the first `limit` requests go at once.
Duration budget_bound(int requests, std::int64_t limit, Duration window) {
  return std::chrono::duration_cast<Duration>(window * (1.01 * requests / limit)) + window;
}

}  // namespace

TEST_CASE("rate limit headers: plain numbers parse, everything else is unusable") {
  HttpHeaders h;
  h.add("x-ratelimit-limit", " 10 ");
  h.add("X-RateLimit-Remaining", "0");
  h.add("X-RateLimit-Reset", "46");
  h.add("Retry-After", "1.5");
  const RateLimitHeaders r = parse_rate_limit_headers(h, kAt);
  CHECK(r.limit == 10);
  CHECK(r.remaining == 0);
  CHECK(r.reset == std::chrono::seconds(46));
  CHECK(r.retry_after == std::chrono::seconds(2));

  for (const char* bad : {"abc", "-1", "1e309", "", "12abc", "+5", "99999999999999999999",
                          "Wed, 21 Oct 2015 07:28"}) {
    CAPTURE(bad);
    HttpHeaders g;
    g.add("X-RateLimit-Limit", bad);
    g.add("X-RateLimit-Remaining", bad);
    g.add("X-RateLimit-Reset", bad);
    g.add("Retry-After", bad);
    const RateLimitHeaders p = parse_rate_limit_headers(g, kAt);
    CHECK_FALSE(p.limit.has_value());
    CHECK_FALSE(p.remaining.has_value());
    CHECK_FALSE(p.reset.has_value());
    CHECK_FALSE(p.retry_after.has_value());
  }

  HttpHeaders zero;
  zero.add("X-RateLimit-Limit", "0");
  zero.add("X-RateLimit-Reset", "0.000");
  CHECK_FALSE(parse_rate_limit_headers(zero, kAt).limit.has_value());
  CHECK(parse_rate_limit_headers(zero, kAt).reset == std::chrono::seconds(0));

  HttpHeaders none;
  const RateLimitHeaders n = parse_rate_limit_headers(none, kAt);
  CHECK_FALSE(n.limit.has_value());
  CHECK_FALSE(n.remaining.has_value());
}

TEST_CASE("rate limit headers: the IETF prefix, X-Rate-Limit- and a vendor prefix read alike") {
  HttpHeaders ietf;
  ietf.add("RateLimit-Limit", "20");
  ietf.add("RateLimit-Remaining", "7");
  ietf.add("RateLimit-Reset", "3");
  const RateLimitHeaders r = parse_rate_limit_headers(ietf, kAt);
  CHECK(r.limit == 20);
  CHECK(r.remaining == 7);
  CHECK(r.reset == std::chrono::seconds(3));

  HttpHeaders dashed;
  dashed.add("X-Rate-Limit-Limit", "5");
  dashed.add("X-Rate-Limit-Remaining", "0");
  CHECK(parse_rate_limit_headers(dashed, kAt).remaining == 0);

  // A profile's vendor prefix is read before the common ones; the contract's still wins over
  // the IETF's when both are sent and no vendor prefix is named.
  HttpHeaders both;
  both.add("X-HubSpot-RateLimit-Limit", "100");
  both.add("X-HubSpot-RateLimit-Remaining", "99");
  both.add("X-RateLimit-Limit", "10");
  both.add("X-RateLimit-Remaining", "1");
  CHECK(parse_rate_limit_headers(both, kAt, "X-HubSpot-RateLimit-").limit == 100);
  CHECK(parse_rate_limit_headers(both, kAt).limit == 10);
  HttpHeaders vendor_only;
  vendor_only.add("X-HubSpot-RateLimit-Limit", "100");
  CHECK_FALSE(parse_rate_limit_headers(vendor_only, kAt).limit.has_value());
}

TEST_CASE("rate limit headers: a cached answer yields no fields") {
  HttpHeaders h;
  h.add("X-Cache", "HIT");
  h.add("X-RateLimit-Limit", "10");
  h.add("X-RateLimit-Remaining", "3");
  h.add("X-RateLimit-Reset", "20");
  const RateLimitHeaders r = parse_rate_limit_headers(h, kAt);
  CHECK_FALSE(r.limit.has_value());
  CHECK_FALSE(r.remaining.has_value());
  CHECK_FALSE(r.reset.has_value());
  CHECK_FALSE(r.counted);

  HttpHeaders miss;
  miss.add("X-Cache", "MISS");
  miss.add("X-RateLimit-Remaining", "3");
  CHECK(parse_rate_limit_headers(miss, kAt).remaining == 3);
}

TEST_CASE("the first request is a probe: nothing else goes until its count is known") {
  RateLimiter limiter{RateLimiter::Options{}};
  CHECK(limiter.next_send_time(kStart) == kStart);
  limiter.on_send(kStart);
  CHECK(limiter.next_send_time(kStart + 1s) == TimePoint::max());
  limiter.on_response(kStart, kStart + 2s, 200, fields(10, 9, 60, std::nullopt));
  CHECK(limiter.next_send_time(kStart + 2s) == kStart + 2s);
  CHECK(limiter.limit() == 10);
  CHECK(limiter.window() == 60s);
}

TEST_CASE("steady 10 per 60 s: no 429 and the whole budget used") {
  Run run{.upstream = {60s, 10, {}}};
  run.go(200);
  CHECK(run.refused == 0);
  CHECK(run.elapsed() <= budget_bound(200, 10, 60s));
  // The server itself admits 10 per window: 190 requests after the first need 19 windows.
  CHECK(run.elapsed() >= 19 * 60s);
  CHECK(run.limiter.window() == 60s);
  MESSAGE("60 s window: 200 requests in " << secs(run.elapsed()) << " s");
}

TEST_CASE("steady 10 per 60 s with two requests in flight and one-way jitter") {
  Run run{.upstream = {60s, 10, {}}, .one_way_jitter = 10ms, .max_in_flight = 2};
  run.go(200);
  CHECK(run.refused == 0);
  CHECK(run.elapsed() <= budget_bound(200, 10, 60s));
}

TEST_CASE("a 2 s window is learned from the first response despite the 60 s guess") {
  Run run{.upstream = {2s, 10, {}}, .latency_min = 5ms, .latency_max = 60ms};
  run.go(200);
  CHECK(run.refused == 0);
  CHECK(run.elapsed() <= budget_bound(200, 10, 2s));
  CHECK(run.limiter.window() == 2s);
  MESSAGE("2 s window: 200 requests in " << secs(run.elapsed()) << " s");
}

TEST_CASE("a 2.5 s window is narrowed below the whole second Reset reports") {
  Run run{.upstream = {2500ms, 10, {}}, .latency_min = 5ms, .latency_max = 60ms};
  run.go(200);
  CHECK(run.refused == 0);
  CHECK(run.limiter.window() >= 2500ms);
  CHECK(run.limiter.window() < 2600ms);
  CHECK(run.elapsed() <= budget_bound(200, 10, 2500ms) + 2500ms);
  MESSAGE("2.5 s window: 200 requests in " << secs(run.elapsed()) << " s, window "
                                           << secs(run.limiter.window()));
}

TEST_CASE("a fractional 0.5 s window, where Reset always says 1") {
  Run run{.upstream = {500ms, 10, {}},
          .limiter = RateLimiter{RateLimiter::Options{.margin = 2ms}},
          .latency_min = 2ms,
          .latency_max = 10ms};
  run.go(200);
  CHECK(run.refused == 0);
  CHECK(run.limiter.window() >= 500ms);
  CHECK(run.limiter.window() < 600ms);
  // Above the 1.01 target: below a second only the count bounds the window, and a burst of
  // requests lowers that bound by the burst's length per window until it meets the true window.
  CHECK(run.elapsed() <= 13s);
  MESSAGE("0.5 s window: 200 requests in " << secs(run.elapsed()) << " s, window "
                                           << secs(run.limiter.window()));
}

// A fixed window frees every slot at once, so a request the server stopped counting was not
// older than the window; read as on a sliding log it would shorten the window by each burst's
// length until a 429. Fixed windows speak whole epoch seconds, often truncated.
TEST_CASE("a fixed window with a truncated whole-second epoch Reset: no 429") {
  for (const Duration window : {Duration(2s), Duration(2300ms), Duration(10s)}) {
    CAPTURE(secs(window));
    Run run{.upstream = {window, 4, {}, true},
            .headers = HeaderMode::epoch_floor,
            .latency_min = 5ms,
            .latency_max = 60ms};
    run.go(120);
    CHECK(run.refused == 0);
    // A second more per window at most: the price of not knowing how the second was rounded.
    CHECK(run.elapsed() <= budget_bound(120, 4, window + 1s));
    MESSAGE("fixed " << secs(window) << " s window: 120 requests in " << secs(run.elapsed())
                     << " s");
  }
}

TEST_CASE("a sliding log with a truncated whole-second epoch Reset: no 429") {
  Run run{.upstream = {2s, 4, {}},
          .headers = HeaderMode::epoch_floor,
          .latency_min = 5ms,
          .latency_max = 60ms};
  run.go(120);
  CHECK(run.refused == 0);
  CHECK(run.elapsed() <= budget_bound(120, 4, 3s));
}

TEST_CASE("the window grows mid-run") {
  Run run{.upstream = {20s, 10, {}}, .latency_min = 50ms, .latency_max = 1s};
  run.before_send = [](int i, TimePoint, UpstreamModel& u) {
    if (i == 60) u.window = 40s;
  };
  run.go(200);
  // The first request after the change meets a log the old window had already freed.
  CHECK(run.refused <= 1);
  for (const int i : run.refused_at) CHECK(i < 62);
  CHECK(run.limiter.window() >= 40s);
  CHECK(run.limiter.window() <= 41s);
  MESSAGE("20 s -> 40 s: " << run.refused << " refused, 200 requests in " << secs(run.elapsed())
                           << " s");
}

TEST_CASE("the window shrinks mid-run and the limiter speeds up") {
  Run run{.upstream = {60s, 10, {}}, .latency_min = 50ms, .latency_max = 1s};
  TimePoint changed{};
  run.before_send = [&changed](int i, TimePoint t, UpstreamModel& u) {
    if (i == 50) {
      u.window = 20s;
      changed = t;
    }
  };
  run.go(200);
  CHECK(run.refused == 0);
  CHECK(run.limiter.window() == 20s);
  // 150 requests under the short window: 15 windows, plus a 60 s window to unlearn.
  CHECK(run.sends.back() - changed <= budget_bound(150, 10, 20s) + 60s);
}

TEST_CASE("a higher limit is used and a lower one honored at once") {
  Run run{.upstream = {10s, 10, {}}, .latency_min = 20ms, .latency_max = 200ms};
  run.before_send = [](int i, TimePoint, UpstreamModel& u) {
    if (i == 50) u.limit = 20;
    if (i == 150) u.limit = 5;
  };
  run.go(250);
  // Lowering the limit under a full log refuses the next request whatever the client does.
  CHECK(run.refused <= 1);
  for (const int i : run.refused_at) CHECK(i == 150);
  CHECK(run.limiter.limit() == 5);
  // Requests 50..149 ran at 20 per window: 100 requests in about 5 windows.
  CHECK(run.sends[149] - run.sends[50] <= budget_bound(100, 20, 10s));
}

TEST_CASE("no rate headers at all: back to back until a 429, which teaches the limit") {
  SUBCASE("an unmetered upstream is never slowed down") {
    Run run{.upstream = {1s, 1'000'000, {}},
            .headers = HeaderMode::missing,
            .latency_min = 1ms,
            .latency_max = 2ms};
    run.go(200);
    CHECK(run.refused == 0);
    CHECK_FALSE(run.limiter.limit().has_value());
    // Back to back: nothing but the latency between requests.
    CHECK(run.elapsed() <= 200 * 2ms);
  }
  SUBCASE("10 per 60 s: one 429, then paced by the learned limit") {
    Run run{.upstream = {60s, 10, {}}, .headers = HeaderMode::missing};
    run.go(120);
    CHECK(run.refused == 1);
    CHECK(run.refused_at.front() == 10);
    CHECK(run.limiter.limit() == 10);
  }
  SUBCASE("the wait in the 429's body measures the window, whether the body names the limit") {
    // body_contract: the limit is known from the body before the window is, and the refusal
    // must still teach the window, or every later one is paced as the 60 s guess.
    for (const HeaderMode mode : {HeaderMode::body_wait, HeaderMode::body_contract}) {
      CAPTURE(mode == HeaderMode::body_wait ? "retryAfter only" : "the contract's body");
      Run run{.upstream = {2s, 3, {}}, .headers = mode, .latency_min = 5ms, .latency_max = 20ms};
      run.go(24);
      CHECK(run.refused == 1);
      CHECK(run.limiter.limit() == 3);
      CHECK(run.limiter.window() >= 2s);
      CHECK(run.limiter.window() <= 3s);
      // 24 requests at 3 per 2 s need 7 windows after the first burst; the refusal costs one.
      CHECK(run.elapsed() <= 2 * 8 * 2s);
      MESSAGE("waits in 429 bodies, 3 per 2 s: 24 requests in " << secs(run.elapsed()) << " s");
    }
  }
}

TEST_CASE("garbled rate headers say nothing: paced like an upstream without headers") {
  Run run{.upstream = {60s, 10, {}}, .headers = HeaderMode::garbled};
  run.go(120);
  CHECK(run.refused == 1);
  CHECK(run.limiter.limit() == 10);
}

TEST_CASE("garbled headers after honest ones keep the last known limit and window") {
  Run run{.upstream = {5s, 20, {}}, .latency_min = 10ms, .latency_max = 100ms};
  run.go(60);
  CHECK(run.limiter.window() == 5s);
  run.headers = HeaderMode::garbled;
  run.go(100);
  CHECK(run.refused == 0);
  CHECK(run.limiter.limit() == 20);
  CHECK(run.limiter.window() == 5s);
}

TEST_CASE("a 429 waits the full Retry-After plus margin from its receipt") {
  SUBCASE("with rate headers") {
    RateLimiter limiter{RateLimiter::Options{}};
    limiter.on_send(kStart);
    limiter.on_response(kStart, kStart + 1s, 429, fields(10, 0, 46, 46));
    CHECK(limiter.next_send_time(kStart + 1s) >= kStart + 1s + 46s);
    CHECK(limiter.next_send_time(kStart + 1s) <= kStart + 1s + 60s + 1s);
  }
  SUBCASE("Retry-After alone") {
    RateLimiter limiter{RateLimiter::Options{}};
    limiter.on_send(kStart);
    limiter.on_response(kStart, kStart + 2s, 429,
                        fields(std::nullopt, std::nullopt, std::nullopt, 7));
    const TimePoint next = limiter.next_send_time(kStart + 2s);
    CHECK(next >= kStart + 2s + 7s + 5ms);
    CHECK(next <= kStart + 2s + 7s + 1s);
  }
  SUBCASE("no usable header: a whole window") {
    RateLimiter limiter{RateLimiter::Options{}};
    limiter.on_send(kStart);
    limiter.on_response(kStart, kStart + 2s, 429, {});
    CHECK(limiter.next_send_time(kStart + 2s) >= kStart + 2s + 60s);
  }
}

TEST_CASE(
    "Reset is relative seconds: a full log frees its unknown oldest slot at receipt + Reset") {
  RateLimiter limiter{RateLimiter::Options{}};
  limiter.on_send(kStart);
  // Nine requests of someone else are in the log; the oldest leaves in 12 s.
  limiter.on_response(kStart, kStart + 500ms, 200, fields(10, 0, 12, std::nullopt));
  const TimePoint next = limiter.next_send_time(kStart + 500ms);
  CHECK(next == kStart + 500ms + 12s);
}

TEST_CASE("another client spent budget before we start") {
  for (const int spent : {3, 8, 9}) {
    CAPTURE(spent);
    Run run{.upstream = {60s, 10, {}}, .latency_min = 50ms, .latency_max = 2s};
    for (int i = 0; i < spent; ++i) run.upstream.log.push_back(kStart - 55s + i * 5s);
    run.go(100);
    CHECK(run.refused == 0);
    CHECK(run.elapsed() <= budget_bound(100, 10, 60s) + 60s);
  }
}

TEST_CASE("transport errors are assumed counted") {
  RateLimiter limiter{RateLimiter::Options{}};
  UpstreamModel upstream{60s, 10, {}};
  TimePoint now = kStart;
  int refused = 0;
  for (int i = 0; i < 100; ++i) {
    now = limiter.next_send_time(now);
    REQUIRE(now != TimePoint::max());
    limiter.on_send(now);
    const bool lost = i % 7 == 3;
    // Every other lost request never reached the server; the rest were logged, then lost.
    const Reply reply = (lost && i % 2 == 0) ? Reply{0, 0, 0, 0, {}} : upstream.arrive(now);
    if (reply.status == 429) ++refused;
    const TimePoint received = now + 300ms;
    if (lost) {
      limiter.on_response(now, received, 0, {});
    } else {
      limiter.on_response(now, received, reply.status,
                          parse_rate_limit_headers(render(reply, HeaderMode::honest), kAt));
    }
    now = received;
  }
  CHECK(refused == 0);
}

TEST_CASE("X-RateLimit-Reset: seconds until, or an epoch instant in seconds or milliseconds") {
  // A slow page: sent at kWall, answered 3.5 s later. The server counted the request when it
  // arrived, so an epoch instant is measured from the send.
  const ingestd::ExchangeTimes slow{kWall, kWall + 3500ms};
  const auto parse = [&](const char* value, const char* date) {
    HttpHeaders h;
    h.add("X-RateLimit-Limit", "10");
    h.add("X-RateLimit-Remaining", "0");
    h.add("X-RateLimit-Reset", value);
    if (date) h.add("Date", date);
    return parse_rate_limit_headers(h, slow);
  };
  const auto reset = [&](const char* value, const char* date) { return parse(value, date).reset; };
  using ms = std::chrono::milliseconds;
  CHECK(reset("46", nullptr) == ms(46'000));
  CHECK(reset("45.2", nullptr) == ms(45'200));
  CHECK(reset("45.0001", nullptr) == ms(45'001));
  // kWall is 1769541612: an instant 46 s after the send, in milliseconds; in whole seconds it
  // may have been rounded either way, so it stands for the later end of the two seconds about it.
  CHECK(reset("1769541658", nullptr) == ms(47'000));
  CHECK(parse("1769541658", nullptr).reset_spread == ms(2000));
  CHECK(reset("1769541658000", nullptr) == ms(46'000));
  CHECK(parse("1769541658000", nullptr).reset_spread == ms(1000));
  CHECK(reset("1769541657500", nullptr) == ms(45'500));
  // Epoch seconds with a fraction keep their milliseconds.
  CHECK(reset("1769541657.25", nullptr) == ms(45'250));
  // A Date within its one-second resolution of this clock changes nothing.
  CHECK(reset("1769541658", "Tue, 27 Jan 2026 19:20:15 GMT") == ms(47'000));
  CHECK(parse("1769541658", "Tue, 27 Jan 2026 19:20:15 GMT").reset_spread == ms(2000));
  // A server clock 40 s ahead (Date 19:20:55 at receipt 19:20:15.5): the instant is its own.
  CHECK(reset("1769541658", "Tue, 27 Jan 2026 19:20:55 GMT") == ms(7'500));
  CHECK(parse("1769541658", "Tue, 27 Jan 2026 19:20:55 GMT").reset_spread == ms(3000));
  CHECK(reset("46", "Tue, 27 Jan 2026 19:20:55 GMT") == ms(46'000));
  // An instant already past frees the slot now; one more than a day ahead is not believed.
  CHECK(reset("1769541600", nullptr) == ms(0));
  CHECK_FALSE(reset("1769741612", nullptr).has_value());
}

TEST_CASE("Retry-After as an HTTP-date") {
  HttpHeaders h;
  h.add("Retry-After", "Tue, 27 Jan 2026 19:20:42 GMT");
  CHECK(parse_rate_limit_headers(h, kAt).retry_after == std::chrono::seconds(30));
  h.add("Date", "Tue, 27 Jan 2026 19:20:40 GMT");
  CHECK(parse_rate_limit_headers(h, kAt).retry_after == std::chrono::seconds(2));
}

TEST_CASE("a Limit of 0, or more Remaining than Limit, names no limit") {
  HttpHeaders zero;
  zero.add("X-RateLimit-Limit", "0");
  zero.add("X-RateLimit-Remaining", "1000000");
  CHECK_FALSE(parse_rate_limit_headers(zero, kAt).limit.has_value());
  CHECK_FALSE(parse_rate_limit_headers(zero, kAt).remaining.has_value());
  HttpHeaders over;
  over.add("X-RateLimit-Limit", "10");
  over.add("X-RateLimit-Remaining", "50");
  CHECK_FALSE(parse_rate_limit_headers(over, kAt).limit.has_value());
  CHECK_FALSE(parse_rate_limit_headers(over, kAt).remaining.has_value());

  RateLimiter limiter{RateLimiter::Options{}};
  for (int i = 0; i < 50; ++i) {
    const TimePoint now = kStart + i * 2ms;
    REQUIRE(limiter.next_send_time(now) == now);
    limiter.on_send(now);
    limiter.on_response(now, now + 1ms, 200, parse_rate_limit_headers(zero, kAt));
  }
  CHECK_FALSE(limiter.limit().has_value());
}

TEST_CASE("a 429's body: retryAfter and the rateLimit object fill what the headers left out") {
  HttpResult r;
  r.status = 429;
  r.body =
      R"({"error":"Too Many Requests","code":"RATE_LIMIT_EXCEEDED","rateLimit":{"limit":10,"remaining":0,"reset":46,"retryAfter":46}})";
  const RateLimitHeaders h = parse_rate_limit(r, kAt);
  CHECK(h.limit == 10);
  CHECK(h.remaining == 0);
  CHECK(h.reset == std::chrono::seconds(46));
  CHECK(h.retry_after == std::chrono::seconds(46));

  r.body = R"({"retryAfter":7.2})";
  CHECK(parse_rate_limit(r, kAt).retry_after == std::chrono::seconds(8));
  r.headers.add("Retry-After", "3");
  CHECK(parse_rate_limit(r, kAt).retry_after == std::chrono::seconds(3));
  // Only a 429's body speaks of the wait; a page is never searched.
  r.status = 200;
  r.headers.clear();
  CHECK_FALSE(parse_rate_limit(r, kAt).retry_after.has_value());
  r.status = 429;
  r.body = "<html>busy</html>";
  CHECK_FALSE(parse_rate_limit(r, kAt).retry_after.has_value());
}

TEST_CASE("Remaining > 0 lets requests go now, even where the window model would wait") {
  // A restarted process remembers nine sends, but the server never received them.
  RateLimiter limiter{RateLimiter::Options{}};
  RateLimiter::Snapshot saved{10, 60s, {}};
  for (int i = 0; i < 9; ++i) saved.sent.push_back(kStart - 1s + i * 10ms);
  limiter.restore(saved);
  TimePoint now = kStart;
  REQUIRE(limiter.next_send_time(now) == now);
  limiter.on_send(now);
  limiter.on_response(now, now + 10ms, 200, fields(10, 6, 60, std::nullopt));
  now += 10ms;
  for (int i = 0; i < 6; ++i) {
    CHECK(limiter.next_send_time(now) == now);
    limiter.on_send(now);
    now += 1ms;
  }
  // The six are spent: the window model decides again.
  CHECK(limiter.next_send_time(now) > now + 50s);
}

TEST_CASE("RATE_LIMIT is a ceiling never exceeded, whatever the server allows") {
  RateLimiter limiter{RateLimiter::Options{.ceiling = ingestd::RateCeiling{3, 1s}}};
  std::vector<TimePoint> sends;
  TimePoint now = kStart;
  for (int i = 0; i < 30; ++i) {
    now = limiter.next_send_time(now);
    limiter.on_send(now);
    sends.push_back(now);
    limiter.on_response(now, now + 5ms, 200, fields(1000, 999, 1, std::nullopt));
    now += 5ms;
  }
  for (std::size_t i = 3; i < sends.size(); ++i) CHECK(sends[i] - sends[i - 3] >= 1s);
  CHECK(sends.back() - sends.front() <= 10s);
}

TEST_CASE("a restored snapshot schedules the first request as the server's log sees it") {
  UpstreamModel upstream{60s, 10, {}};
  RateLimiter first{RateLimiter::Options{}};
  TimePoint now = kStart;
  for (int i = 0; i < 7; ++i) REQUIRE(exchange(first, upstream, now, 100ms) == 200);
  // Killed after sending three more whose answers never came back.
  for (int i = 0; i < 3; ++i) {
    first.on_send(now);
    upstream.arrive(now);
    now += 50ms;
  }
  const RateLimiter::Snapshot saved = first.snapshot(now);
  CHECK(saved.limit == 10);
  CHECK(saved.sent.size() == 10);

  RateLimiter second{RateLimiter::Options{}};
  second.restore(saved);
  int refused = 0;
  for (int i = 0; i < 40; ++i) refused += exchange(second, upstream, now, 100ms) == 429 ? 1 : 0;
  CHECK(refused == 0);
}

TEST_CASE("answers from the upstream's cache were not counted and teach no shorter window") {
  UpstreamModel upstream{3s, 5, {}};
  RateLimiter limiter{RateLimiter::Options{}};
  HttpHeaders hit;
  hit.add("X-Cache", "HIT");
  TimePoint now = kStart;
  int refused = 0;
  for (int i = 0; i < 60; ++i) {
    if (i % 3 == 1) {
      // A URL asked again within the cache's lifetime: the server's limiter never sees it.
      now = limiter.next_send_time(now);
      REQUIRE(now != TimePoint::max());
      limiter.on_send(now);
      limiter.on_response(now, now + 5ms, 200, parse_rate_limit_headers(hit, kAt));
      now += 5ms;
    } else {
      refused += exchange(limiter, upstream, now, 50ms) == 429 ? 1 : 0;
    }
  }
  CHECK(refused == 0);
  CHECK(limiter.window() >= 3s);
}
