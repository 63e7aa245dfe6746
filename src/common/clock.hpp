#pragma once

#include <chrono>
#include <cstdint>

namespace ingestd {

inline std::int64_t unix_ms_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The limiter reasons in steady time; what survives a restart must be wall-clock instants.
class WallClock {
 public:
  std::int64_t to_epoch_ms(std::chrono::steady_clock::time_point t) const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch() + offset_)
        .count();
  }
  std::chrono::steady_clock::time_point from_epoch_ms(std::int64_t ms) const {
    return std::chrono::steady_clock::time_point(
        std::chrono::duration_cast<std::chrono::steady_clock::duration>(
            std::chrono::milliseconds(ms) - offset_));
  }

 private:
  std::chrono::nanoseconds offset_ = std::chrono::system_clock::now().time_since_epoch() -
                                     std::chrono::steady_clock::now().time_since_epoch();
};

}  // namespace ingestd
