#include "common/backoff.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <optional>
#include <vector>

using namespace std::chrono_literals;
using ingestd::Backoff;
using ingestd::BackoffPolicy;

namespace {
std::vector<std::chrono::milliseconds> drain(Backoff& b) {
  std::vector<std::chrono::milliseconds> out;
  while (auto d = b.next()) out.push_back(*d);
  return out;
}
}  // namespace

TEST_CASE("each delay lies between half and all of its exponential ceiling") {
  Backoff b(BackoffPolicy{}, 42);
  const std::vector<std::chrono::milliseconds> ceilings{500ms,  1000ms,  2000ms,  4000ms,
                                                        8000ms, 16000ms, 30000ms, 30000ms};
  const auto delays = drain(b);
  REQUIRE(delays.size() == ceilings.size());
  for (std::size_t i = 0; i < delays.size(); ++i) {
    CAPTURE(i);
    CHECK(delays[i] >= ceilings[i] / 2);
    CHECK(delays[i] <= ceilings[i]);
  }
}

TEST_CASE("the delay never exceeds max, however many attempts") {
  Backoff b(BackoffPolicy{.initial = 100ms, .max = 1000ms, .max_attempts = 200}, 7);
  const auto delays = drain(b);
  CHECK(delays.size() == 200);
  for (const auto d : delays) {
    CHECK(d <= 1000ms);
    CHECK(d >= 50ms);
  }
  CHECK(delays.back() >= 500ms);
}

TEST_CASE("an initial delay above max is capped") {
  Backoff b(BackoffPolicy{.initial = 5000ms, .max = 800ms, .max_attempts = 3}, 1);
  for (const auto d : drain(b)) {
    CHECK(d >= 400ms);
    CHECK(d <= 800ms);
  }
}

TEST_CASE("the retry budget runs out and reset restores it") {
  Backoff b(BackoffPolicy{.initial = 10ms, .max = 1000ms, .max_attempts = 3}, 9);
  CHECK(b.attempts() == 0);
  CHECK(b.next().has_value());
  CHECK(b.next().has_value());
  CHECK(b.next().has_value());
  CHECK(b.attempts() == 3);
  CHECK_FALSE(b.next().has_value());
  CHECK(b.attempts() == 3);
  b.reset();
  CHECK(b.attempts() == 0);
  const auto first = b.next();
  REQUIRE(first.has_value());
  CHECK(*first >= 5ms);
  CHECK(*first <= 10ms);
}

TEST_CASE("no attempts allowed means no retry") {
  Backoff b(BackoffPolicy{.max_attempts = 0}, 3);
  CHECK_FALSE(b.next().has_value());
}

TEST_CASE("the same seed gives the same delays, another seed other ones") {
  const BackoffPolicy p{.initial = 1000ms, .max = 60000ms, .max_attempts = 6};
  Backoff a(p, 12345), b(p, 12345), c(p, 54321);
  const auto da = drain(a), db = drain(b), dc = drain(c);
  CHECK(da == db);
  CHECK(da != dc);
}

TEST_CASE("a multiplier of 1 keeps a constant ceiling") {
  Backoff b(BackoffPolicy{.initial = 200ms, .max = 10000ms, .multiplier = 1.0, .max_attempts = 20},
            5);
  for (const auto d : drain(b)) {
    CHECK(d >= 100ms);
    CHECK(d <= 200ms);
  }
}
