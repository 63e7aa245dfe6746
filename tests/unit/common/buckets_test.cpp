#include "common/buckets.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <random>
#include <vector>

using ingestd::CountPiece;
using ingestd::plan_counts;

namespace {

constexpr std::int64_t kSecond = 1'000'000;
constexpr std::int64_t kMinute = 60 * kSecond;
constexpr std::int64_t kDay = 86400 * kSecond;

// Instants of some events; counts per bucket computed by brute force, and through the plan
// with rollup levels built independently from the same instants.
struct Model {
  std::vector<std::int64_t> events;

  std::int64_t rows(std::int64_t from, std::int64_t to) const {
    return std::count_if(events.begin(), events.end(),
                         [&](std::int64_t e) { return e >= from && e < to; });
  }
  std::map<std::int64_t, std::int64_t> level(std::int64_t granularity_s) const {
    std::map<std::int64_t, std::int64_t> out;
    for (const std::int64_t e : events)
      ++out[e / (granularity_s * kSecond) * granularity_s * kSecond];
    return out;
  }
  std::map<std::int64_t, std::int64_t> exact(std::int64_t from, std::int64_t to,
                                             std::int64_t bucket_s) const {
    std::map<std::int64_t, std::int64_t> out;
    for (const std::int64_t e : events) {
      if (e >= from && e < to) ++out[e / (bucket_s * kSecond) * bucket_s * kSecond];
    }
    return out;
  }
  std::map<std::int64_t, std::int64_t> planned(std::int64_t from, std::int64_t to,
                                               std::int64_t bucket_s) const {
    std::map<std::int64_t, std::int64_t> out;
    const std::int64_t step = bucket_s * kSecond;
    for (const CountPiece& p : plan_counts(from, to, bucket_s)) {
      if (p.source == CountPiece::Source::rows) {
        const std::int64_t n = rows(p.from_us, p.to_us);
        if (n) out[p.from_us / step * step] += n;
        continue;
      }
      for (const auto& [start, n] : level(p.granularity_s)) {
        if (start >= p.from_us && start < p.to_us) out[start / step * step] += n;
      }
    }
    return out;
  }
};

}  // namespace

TEST_CASE("bucket sizes are read by name only") {
  CHECK(ingestd::parse_bucket_size("1m") == 60);
  CHECK(ingestd::parse_bucket_size("15m") == 900);
  CHECK(ingestd::parse_bucket_size("1d") == 86400);
  CHECK_FALSE(ingestd::parse_bucket_size("2h"));
  CHECK_FALSE(ingestd::parse_bucket_size("1H"));
  CHECK_FALSE(ingestd::parse_bucket_size(""));
}

TEST_CASE("an aligned range is whole buckets of the answer's own level only") {
  const auto pieces = plan_counts(10 * kDay, 12 * kDay, 3600);
  REQUIRE(pieces.size() == 1);
  CHECK(pieces[0] == CountPiece{CountPiece::Source::rollup, 3600, 10 * kDay, 12 * kDay});
}

TEST_CASE("ragged ends: sub-minute parts from rows, whole minutes from the minute level") {
  const std::int64_t from = 10 * kDay + 90 * kMinute + 30 * kSecond;    // 01:30:30
  const std::int64_t to = 10 * kDay + 5 * 60 * kMinute + 15 * kSecond;  // 05:00:15
  const auto pieces = plan_counts(from, to, 3600);
  const std::vector<CountPiece> want{
      {CountPiece::Source::rows, 0, from, 10 * kDay + 91 * kMinute},
      {CountPiece::Source::rollup, 60, 10 * kDay + 91 * kMinute, 10 * kDay + 120 * kMinute},
      {CountPiece::Source::rollup, 3600, 10 * kDay + 120 * kMinute, 10 * kDay + 300 * kMinute},
      {CountPiece::Source::rows, 0, 10 * kDay + 300 * kMinute, to},
  };
  CHECK(pieces == want);
}

TEST_CASE("the plan gives the exact count of every bucket for random ranges and events") {
  std::mt19937_64 rng(7);
  Model m;
  std::uniform_int_distribution<std::int64_t> instant(100 * kDay, 103 * kDay);
  for (int i = 0; i < 3000; ++i) m.events.push_back(instant(rng));
  // Events exactly on boundaries, where off-by-one errors live.
  for (std::int64_t t = 100 * kDay; t < 103 * kDay; t += 7 * kMinute) m.events.push_back(t);
  for (int round = 0; round < 400; ++round) {
    std::int64_t from = instant(rng), to = instant(rng);
    if (round % 4 == 0) from = from / kMinute * kMinute;                 // minute-aligned start
    if (round % 5 == 0) to = m.events[static_cast<std::size_t>(round)];  // exactly at an event
    if (from == to) continue;
    if (from > to) std::swap(from, to);
    for (const auto& size : ingestd::kBucketSizes) {
      CAPTURE(from);
      CAPTURE(to);
      CAPTURE(size.name);
      REQUIRE(m.planned(from, to, size.seconds) == m.exact(from, to, size.seconds));
      CHECK(plan_counts(from, to, size.seconds).size() <= 7);
    }
  }
}

TEST_CASE("bucket_count counts the bucket of the last instant before the end") {
  CHECK(ingestd::bucket_count(0, 3600 * kSecond, 3600 * kSecond) == 1);
  CHECK(ingestd::bucket_count(0, 3600 * kSecond + 1, 3600 * kSecond) == 2);
  CHECK(ingestd::bucket_count(1, 2, 60 * kSecond) == 1);
}
