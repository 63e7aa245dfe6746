#include "serve/request_limiter.hpp"

#include <doctest/doctest.h>

using namespace std::chrono_literals;
using ingestd::RequestLimiter;

TEST_CASE("a sliding log: N per window, then 429 until the oldest leaves") {
  RequestLimiter limiter({3, 1000ms});
  auto d = limiter.admit("a", 10'000);
  CHECK(d.allowed);
  CHECK(d.limit == 3);
  CHECK(d.remaining == 2);
  CHECK(d.reset_s == 1);
  CHECK(limiter.admit("a", 10'100).remaining == 1);
  CHECK(limiter.admit("a", 10'200).remaining == 0);
  d = limiter.admit("a", 10'300);
  CHECK_FALSE(d.allowed);
  CHECK(d.remaining == 0);
  CHECK(d.retry_after_s == 1);
  // The first request leaves the window at 11'000 exactly.
  CHECK_FALSE(limiter.admit("a", 10'999).allowed);
  CHECK(limiter.admit("a", 11'000).allowed);
}

TEST_CASE("refused requests do not extend the window") {
  RequestLimiter limiter({1, 10'000ms});
  CHECK(limiter.admit("a", 0).allowed);
  for (std::int64_t t = 1000; t < 10'000; t += 1000) {
    const auto d = limiter.admit("a", t);
    CHECK_FALSE(d.allowed);
    CHECK(d.retry_after_s == (10'000 - t + 999) / 1000);
  }
  CHECK(limiter.admit("a", 10'000).allowed);
}

TEST_CASE("clients have logs of their own, and their number is bounded") {
  RequestLimiter limiter({1, 1000ms}, 2);
  CHECK(limiter.admit("a", 0).allowed);
  CHECK(limiter.admit("b", 0).allowed);
  CHECK_FALSE(limiter.admit("a", 1).allowed);
  // A third client evicts the least recently seen log, never refuses.
  CHECK(limiter.admit("c", 2).allowed);
  CHECK_FALSE(limiter.admit("c", 3).allowed);
}
