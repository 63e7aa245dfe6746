#include "serve/answer_cache.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <string>

using namespace std::chrono_literals;
using ingestd::AnswerCache;
using ingestd::AnswerRange;

namespace {

const AnswerCache::Clock::time_point kNow = AnswerCache::Clock::time_point{} + 1h;
const AnswerRange kDay{1769472000000000, 1769558400000000};

std::optional<std::string> answer(AnswerCache& cache, const std::string& key,
                                  AnswerCache::Clock::time_point at = kNow) {
  const auto kept = cache.find(key, at);
  return kept ? std::optional(kept->answer) : std::nullopt;
}

}  // namespace

TEST_CASE("an answer is kept with its snapshot and range until the store says otherwise") {
  AnswerCache cache(1 << 20);
  CHECK(cache.enabled());
  CHECK_FALSE(cache.find("/v1/users/a", kNow));
  cache.put("/v1/users/a", "100:105:101,103", kDay, "A", kNow);
  const auto kept = cache.find("/v1/users/a", kNow);
  REQUIRE(kept);
  CHECK(kept->answer == "A");
  CHECK(kept->snapshot == "100:105:101,103");
  CHECK(kept->range.from_us == kDay.from_us);
  CHECK(kept->range.to_us == kDay.to_us);
  CHECK_FALSE(cache.find("/v1/users/b", kNow));
  // Answers of other snapshots live side by side: each is checked from its own.
  cache.put("/v1/users/b", "103:106:103", AnswerRange{}, "B", kNow);
  CHECK(answer(cache, "/v1/users/a") == "A");
  CHECK(answer(cache, "/v1/users/b") == "B");
}

TEST_CASE("a confirmed answer moves to the newer snapshot, unless it was replaced meanwhile") {
  AnswerCache cache(1 << 20);
  cache.put("a", "1:2:", kDay, "A1", kNow);
  cache.confirm("a", "1:2:", "5:9:7", kNow + 1min);
  CHECK(cache.find("a", kNow + 2min)->snapshot == "5:9:7");
  // Another request stored a fresh answer between the check and the confirmation.
  cache.put("a", "6:9:", kDay, "A2", kNow + 2min);
  cache.confirm("a", "5:9:7", "7:9:", kNow + 2min);
  const auto kept = cache.find("a", kNow + 2min);
  CHECK(kept->snapshot == "6:9:");
  CHECK(kept->answer == "A2");
  CHECK(cache.bytes() == std::string("a").size() + std::string("A2").size() +
                             std::string("6:9:").size() + AnswerCache::kEntryOverhead);
}

TEST_CASE("an answer not confirmed for 30 minutes is dropped: the change record is kept 1 h") {
  AnswerCache cache(1 << 20);
  cache.put("a", "1:2:", kDay, "A", kNow);
  CHECK(answer(cache, "a", kNow + 29min));
  cache.confirm("a", "1:2:", "3:4:", kNow + 29min);
  CHECK(answer(cache, "a", kNow + 58min));  // 29 minutes since its confirmation
  CHECK_FALSE(answer(cache, "a", kNow + 60min));
  CHECK(cache.bytes() == 0);
}

TEST_CASE("past max_bytes the least recently used answers go first") {
  const std::string big(1000, 'x');
  const std::size_t one = 1 + big.size() + 1 + AnswerCache::kEntryOverhead;
  AnswerCache cache(3 * one);
  cache.put("a", "s", {}, big, kNow);
  cache.put("b", "s", {}, big, kNow);
  cache.put("c", "s", {}, big, kNow);
  CHECK(answer(cache, "a"));  // a is now the most recent, b the least
  cache.put("d", "s", {}, big, kNow);
  CHECK_FALSE(answer(cache, "b"));
  CHECK(answer(cache, "a"));
  CHECK(answer(cache, "c"));
  CHECK(answer(cache, "d"));
  CHECK(cache.bytes() == 3 * one);
  // An answer replaced under its key is counted once.
  cache.put("d", "s", {}, big, kNow);
  CHECK(cache.bytes() == 3 * one);
  // One larger than the whole cache is not kept, and evicts nothing.
  cache.put("e", "s", {}, std::string(4 * one, 'y'), kNow);
  CHECK_FALSE(answer(cache, "e"));
  CHECK(cache.bytes() == 3 * one);
}

TEST_CASE("a cache of 0 bytes is disabled and keeps nothing") {
  AnswerCache cache(0);
  CHECK_FALSE(cache.enabled());
  cache.put("a", "s", {}, "A", kNow);
  CHECK_FALSE(answer(cache, "a"));
  CHECK(cache.bytes() == 0);
}
