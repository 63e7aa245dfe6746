#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace ingestd {

// The bucket sizes the read API offers. The global rollup keeps one level per size
// (sql/003_read_side.sql), so a whole bucket is always one row per type.
struct BucketSize {
  std::string_view name;
  std::int64_t seconds;
};
inline constexpr std::array<BucketSize, 5> kBucketSizes{{
    {"1m", 60},
    {"5m", 300},
    {"15m", 900},
    {"1h", 3600},
    {"1d", 86400},
}};
inline constexpr std::int64_t kMinuteUs = 60'000'000;

// "1h" -> 3600; nullopt for a size not in kBucketSizes.
std::optional<std::int64_t> parse_bucket_size(std::string_view name);

// Bucket boundaries are multiples of the step since the epoch: UTC minutes, hours, days.
// Instants here are epoch microseconds >= 0.
constexpr std::int64_t floor_to(std::int64_t us, std::int64_t step) {
  return us / step * step;
}
constexpr std::int64_t ceil_to(std::int64_t us, std::int64_t step) {
  return (us + step - 1) / step * step;
}

// Starts of the buckets from the one containing `from` to the one containing the last instant
// before `to` (from < to): how many there are.
constexpr std::int64_t bucket_count(std::int64_t from, std::int64_t to, std::int64_t step) {
  return (floor_to(to - 1, step) - floor_to(from, step)) / step + 1;
}

// One part of an exact global count over [from_us, to_us): either rows of the rollup level
// `granularity_s` whose bucket starts lie in the range, or events counted from the table.
struct CountPiece {
  enum class Source { rollup, rows };
  Source source;
  std::int64_t granularity_s = 0;  // rollup only
  std::int64_t from_us = 0;
  std::int64_t to_us = 0;
  bool operator==(const CountPiece&) const = default;
};

// Splits [from_us, to_us) into pieces whose counts add up to the exact count per bucket of
// `bucket_s` seconds: whole buckets from their own rollup level, the whole minutes of a partial
// bucket from the minute level, and only the sub-minute ends from the rows. Every piece lies
// inside one answer bucket except rollup pieces of the answer's own size. At most seven pieces.
std::vector<CountPiece> plan_counts(std::int64_t from_us, std::int64_t to_us,
                                    std::int64_t bucket_s);

}  // namespace ingestd
