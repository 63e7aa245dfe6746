#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

namespace ingestd {

struct BackoffPolicy {
  std::chrono::milliseconds initial{500};
  std::chrono::milliseconds max{30000};
  double multiplier = 2.0;
  int max_attempts = 8;
};

// Exponential backoff with "equal jitter": retry n (from 0) has a ceiling of
// min(max, initial * multiplier^n) and waits ceiling/2 plus a uniform draw in [0, ceiling/2].
// Full jitter could retry a struggling upstream almost at once; the fixed half keeps a floor
// while the random half still spreads clients apart. The generator is a splitmix64 stream of its
// own, so a seed gives the same delays with every standard library.
class Backoff {
 public:
  Backoff(BackoffPolicy policy, std::uint64_t seed);

  // The delay before the next retry, or nullopt when max_attempts retries were already handed
  // out; never longer than policy.max.
  std::optional<std::chrono::milliseconds> next();
  // After a success: the next failure starts from `initial` with a full budget again.
  void reset();
  // Retries handed out since construction or the last reset.
  int attempts() const { return attempts_; }

 private:
  std::uint64_t next_random();

  BackoffPolicy policy_;
  std::uint64_t state_;
  int attempts_ = 0;
};

}  // namespace ingestd
