#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stop_token>

namespace ingestd {

// Sleeps until `deadline` unless stop is requested first; true when the full time passed.
template <typename Clock, typename Duration>
bool sleep_until(std::chrono::time_point<Clock, Duration> deadline, std::stop_token stop) {
  std::mutex m;
  std::condition_variable_any cv;
  std::unique_lock lock(m);
  cv.wait_until(lock, stop, deadline, [] { return false; });
  return !stop.stop_requested();
}

template <typename Rep, typename Period>
bool sleep_for(std::chrono::duration<Rep, Period> d, std::stop_token stop) {
  return sleep_until(std::chrono::steady_clock::now() + d, stop);
}

}  // namespace ingestd
