#include "serve/answer_cache.hpp"

#include <doctest/doctest.h>

#include <string>

using ingestd::AnswerCache;

TEST_CASE("an answer is found only in the snapshot it was computed in") {
  AnswerCache cache(1 << 20);
  CHECK(cache.enabled());
  CHECK_FALSE(cache.find("/v1/users/a", "100:105:101,103"));
  cache.put("/v1/users/a", "100:105:101,103", "A");
  CHECK(cache.find("/v1/users/a", "100:105:101,103") == "A");
  CHECK_FALSE(cache.find("/v1/users/b", "100:105:101,103"));
  // Transaction 101 ended: same xmax, other snapshot.
  CHECK_FALSE(cache.find("/v1/users/a", "100:105:103"));
  CHECK_FALSE(cache.find("/v1/users/a", "103:106:103"));
}

TEST_CASE("the first answer of a new snapshot drops every older one") {
  AnswerCache cache(1 << 20);
  cache.put("a", "1:2:", "A1");
  cache.put("b", "1:2:", "B1");
  cache.put("a", "2:3:", "A2");
  CHECK(cache.find("a", "2:3:") == "A2");
  CHECK_FALSE(cache.find("b", "2:3:"));
  CHECK_FALSE(cache.find("b", "1:2:"));
  CHECK(cache.bytes() ==
        std::string("a").size() + std::string("A2").size() + AnswerCache::kEntryOverhead);
}

TEST_CASE("past max_bytes the least recently used answers go first") {
  const std::string big(1000, 'x');
  const std::size_t one = 1 + big.size() + AnswerCache::kEntryOverhead;
  AnswerCache cache(3 * one);
  cache.put("a", "s", big);
  cache.put("b", "s", big);
  cache.put("c", "s", big);
  CHECK(cache.find("a", "s"));  // a is now the most recent, b the least
  cache.put("d", "s", big);
  CHECK_FALSE(cache.find("b", "s"));
  CHECK(cache.find("a", "s"));
  CHECK(cache.find("c", "s"));
  CHECK(cache.find("d", "s"));
  CHECK(cache.bytes() == 3 * one);
  // An answer replaced under its key is counted once.
  cache.put("d", "s", big);
  CHECK(cache.bytes() == 3 * one);
  // One larger than the whole cache is not kept, and evicts nothing.
  cache.put("e", "s", std::string(4 * one, 'y'));
  CHECK_FALSE(cache.find("e", "s"));
  CHECK(cache.bytes() == 3 * one);
}

TEST_CASE("a cache of 0 bytes is disabled and keeps nothing") {
  AnswerCache cache(0);
  CHECK_FALSE(cache.enabled());
  cache.put("a", "s", "A");
  CHECK_FALSE(cache.find("a", "s"));
  CHECK(cache.bytes() == 0);
}
