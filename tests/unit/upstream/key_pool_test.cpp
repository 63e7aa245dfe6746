#include "upstream/key_pool.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <vector>

using namespace std::chrono_literals;
using ingestd::KeyPool;
using ingestd::RateLimiter;
using ingestd::RateLimitHeaders;
using TimePoint = RateLimiter::TimePoint;

namespace {

const TimePoint kStart = TimePoint{} + 1000s;

RateLimitHeaders counted(std::int64_t limit, std::int64_t remaining, int reset_s) {
  RateLimitHeaders h;
  h.limit = limit;
  h.remaining = remaining;
  h.reset = std::chrono::seconds(reset_s);
  return h;
}

// One request on `key` at `at`, answered 10 ms later with the server's count.
std::vector<std::size_t> exchange(KeyPool& pool, std::size_t key, TimePoint at, std::int64_t limit,
                                  std::int64_t remaining, int status = 200) {
  pool.on_send(key, at);
  return pool.on_response(key, at, at + 10ms, status, counted(limit, remaining, 1));
}

}  // namespace

TEST_CASE("key pool: the earliest permitted send wins, the first key on a tie, retired never") {
  KeyPool pool(3, RateLimiter::Options{});
  CHECK(pool.pick(kStart) == 0u);
  // Key 1 spends its whole budget of 2: key 2 is the earliest now.
  CHECK(exchange(pool, 0, kStart, 2, 1).empty());
  CHECK(exchange(pool, 0, kStart + 20ms, 2, 0).empty());
  CHECK(pool.limiter(0).next_send_time(kStart + 40ms) > kStart + 40ms);
  CHECK(pool.pick(kStart + 40ms) == 1u);
  pool.retire(1);
  CHECK(pool.pick(kStart + 40ms) == 2u);
  CHECK(pool.active() == 2u);
  pool.retire(2);
  // Only key 1 is left, waiting for its slot: it is still the one to pick.
  CHECK(pool.pick(kStart + 40ms) == 0u);
  pool.retire(0);
  CHECK_FALSE(pool.pick(kStart + 40ms).has_value());
}

TEST_CASE("key pool: keys whose counts their own requests explain keep their own budgets") {
  KeyPool pool(3, RateLimiter::Options{});
  TimePoint t = kStart;
  for (int round = 0; round < 3; ++round) {
    for (std::size_t k = 0; k < 3; ++k) {
      CHECK(exchange(pool, k, t, 10, 9 - round).empty());
      t += 20ms;
    }
  }
  for (std::size_t k = 0; k < 3; ++k) CHECK(pool.budget_of(k) == std::vector<std::size_t>{k});
}

TEST_CASE("key pool: a count that grew by another key's requests merges the keys") {
  KeyPool pool(3, RateLimiter::Options{});
  CHECK(exchange(pool, 0, kStart, 4, 3).empty());
  CHECK(exchange(pool, 0, kStart + 20ms, 4, 2).empty());
  // Key 2's first answer counts 3 requests: its own and key 1's two.
  const auto shared = exchange(pool, 1, kStart + 40ms, 4, 1);
  // Key 3 has not answered: it may share too, so it is paced with them.
  CHECK(shared == std::vector<std::size_t>{0, 2});
  CHECK(pool.budget_of(1) == std::vector<std::size_t>{0, 1, 2});
  // The one limiter knows all three requests: one slot is left, then the window binds.
  pool.on_send(2, kStart + 60ms);
  pool.on_response(2, kStart + 60ms, kStart + 70ms, 200, counted(4, 0, 1));
  CHECK(pool.limiter(0).next_send_time(kStart + 80ms) >= kStart + 1000ms);
  CHECK(&pool.limiter(0) == &pool.limiter(2));
}

TEST_CASE("key pool: a 429 that reveals a shared budget is known to the merged limiter") {
  KeyPool pool(2, RateLimiter::Options{});
  CHECK(exchange(pool, 0, kStart, 2, 1).empty());
  CHECK(exchange(pool, 0, kStart + 20ms, 2, 0).empty());
  // Key 2's first request is refused: the server's log is full of key 1's.
  CHECK(exchange(pool, 1, kStart + 40ms, 2, 0, 429) == std::vector<std::size_t>{0});
  // Refused requests count too: nothing goes before the refused one has left the window.
  CHECK(pool.limiter(1).next_send_time(kStart + 60ms) >= kStart + 1040ms);
}

TEST_CASE("key pool: requests a restarted process restored explain a key's first count") {
  KeyPool pool(2, RateLimiter::Options{});
  pool.restored(1, 2);
  CHECK(exchange(pool, 0, kStart, 10, 9).empty());
  // Two restored requests and its own: no one else's.
  CHECK(exchange(pool, 1, kStart + 20ms, 10, 7).empty());
  CHECK(pool.budget_of(1) == std::vector<std::size_t>{1});
}
