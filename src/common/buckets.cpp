#include "common/buckets.hpp"

namespace ingestd {

std::optional<std::int64_t> parse_bucket_size(std::string_view name) {
  for (const BucketSize& size : kBucketSizes) {
    if (size.name == name) return size.seconds;
  }
  return std::nullopt;
}

namespace {

// [from, to) as: the part before the first whole step, the whole steps, the part after the
// last. `whole` takes the whole steps; `part` the rest.
template <typename Whole, typename Part>
void split(std::int64_t from, std::int64_t to, std::int64_t step, Whole whole, Part part) {
  const std::int64_t first = ceil_to(from, step);
  const std::int64_t last = floor_to(to, step);
  if (first > last) {
    part(from, to);
    return;
  }
  if (from < first) part(from, first);
  if (first < last) whole(first, last);
  if (last < to) part(last, to);
}

}  // namespace

std::vector<CountPiece> plan_counts(std::int64_t from_us, std::int64_t to_us,
                                    std::int64_t bucket_s) {
  std::vector<CountPiece> pieces;
  if (from_us >= to_us) return pieces;
  const auto rows = [&](std::int64_t a, std::int64_t b) {
    pieces.push_back({CountPiece::Source::rows, 0, a, b});
  };
  const auto minutes = [&](std::int64_t a, std::int64_t b) {
    pieces.push_back({CountPiece::Source::rollup, 60, a, b});
  };
  const auto partial = [&](std::int64_t a, std::int64_t b) {
    split(a, b, kMinuteUs, minutes, rows);
  };
  const auto whole = [&](std::int64_t a, std::int64_t b) {
    pieces.push_back({CountPiece::Source::rollup, bucket_s, a, b});
  };
  split(from_us, to_us, bucket_s * 1'000'000, whole, partial);
  return pieces;
}

}  // namespace ingestd
