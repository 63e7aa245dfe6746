#include "pipeline/bounded_queue.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <numeric>
#include <thread>
#include <vector>

using ingestd::BoundedQueue;

TEST_CASE("items arrive in order and a closed queue drains before it ends") {
  BoundedQueue<int> q(4);
  std::stop_source stop;
  for (int i = 0; i < 3; ++i) REQUIRE(q.push(i, stop.get_token()));
  q.close();
  CHECK_FALSE(q.push(99, stop.get_token()));
  CHECK(q.pop(stop.get_token()) == 0);
  CHECK(q.pop(stop.get_token()) == 1);
  CHECK(q.pop(stop.get_token()) == 2);
  CHECK_FALSE(q.pop(stop.get_token()).has_value());
}

TEST_CASE("a full queue blocks the producer until the consumer takes an item") {
  BoundedQueue<int> q(2);
  std::stop_source stop;
  REQUIRE(q.push(1, stop.get_token()));
  REQUIRE(q.push(2, stop.get_token()));
  std::atomic<bool> pushed{false};
  std::jthread producer([&](std::stop_token) {
    q.push(3, stop.get_token());
    pushed = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK_FALSE(pushed.load());
  CHECK(q.size() == 2);
  CHECK(q.pop(stop.get_token()) == 1);
  producer.join();
  CHECK(pushed.load());
  CHECK(q.size() == 2);
}

TEST_CASE("a stop request wakes a blocked consumer and a blocked producer") {
  BoundedQueue<int> empty(1);
  BoundedQueue<int> full(1);
  std::stop_source stop;
  REQUIRE(full.push(0, stop.get_token()));
  std::optional<int> popped = 42;
  bool push_result = true;
  std::jthread consumer([&](std::stop_token) { popped = empty.pop(stop.get_token()); });
  std::jthread producer([&](std::stop_token) { push_result = full.push(1, stop.get_token()); });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  stop.request_stop();
  consumer.join();
  producer.join();
  CHECK_FALSE(popped.has_value());
  CHECK_FALSE(push_result);
}

TEST_CASE("many producers and one consumer: every item exactly once, never above capacity") {
  BoundedQueue<int> q(3);
  std::stop_source stop;
  constexpr int kPerProducer = 2000;
  std::vector<int> seen;
  std::size_t max_depth = 0;
  {
    std::vector<std::jthread> producers;
    for (int p = 0; p < 3; ++p) {
      producers.emplace_back([&, p](std::stop_token) {
        for (int i = 0; i < kPerProducer; ++i) q.push(p * kPerProducer + i, stop.get_token());
      });
    }
    std::jthread consumer([&](std::stop_token) {
      while (auto v = q.pop(stop.get_token())) {
        max_depth = std::max(max_depth, q.size());
        seen.push_back(*v);
      }
    });
    for (auto& t : producers) t.join();
    q.close();
  }
  REQUIRE(seen.size() == 3 * kPerProducer);
  std::sort(seen.begin(), seen.end());
  std::vector<int> expected(3 * kPerProducer);
  std::iota(expected.begin(), expected.end(), 0);
  CHECK(seen == expected);
  CHECK(max_depth <= 3);
}
