#include "common/backoff.hpp"

#include <algorithm>
#include <cmath>

namespace ingestd {

Backoff::Backoff(BackoffPolicy policy, std::uint64_t seed) : policy_(policy), state_(seed) {}

std::uint64_t Backoff::next_random() {
  state_ += 0x9e3779b97f4a7c15ULL;
  std::uint64_t z = state_;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

std::optional<std::chrono::milliseconds> Backoff::next() {
  if (attempts_ >= policy_.max_attempts) return std::nullopt;
  const double cap = static_cast<double>(std::max<std::int64_t>(policy_.max.count(), 0));
  const double initial =
      std::min(static_cast<double>(std::max<std::int64_t>(policy_.initial.count(), 0)), cap);
  // A multiplier below 1 would shrink the delay as failures pile up.
  const double growth = std::pow(std::max(policy_.multiplier, 1.0), attempts_);
  // Comparing in double first keeps a huge attempt count from overflowing the integer.
  const auto ceiling = static_cast<std::uint64_t>(std::min(initial * growth, cap));
  const std::uint64_t half = ceiling / 2;
  const std::uint64_t spread = ceiling - half;
  const std::uint64_t jitter = spread == 0 ? 0 : next_random() % (spread + 1);
  ++attempts_;
  return std::chrono::milliseconds(static_cast<std::int64_t>(half + jitter));
}

void Backoff::reset() {
  attempts_ = 0;
}

}  // namespace ingestd
