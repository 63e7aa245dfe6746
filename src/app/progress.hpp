#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>

namespace ingestd {

struct ProgressSnapshot {
  std::int64_t events = 0;  // stored so far, this run and earlier ones
  std::int64_t events_this_run = 0;
  std::int64_t pages = 0;
  std::int64_t quarantined = 0;
  std::int64_t requests = 0;  // upstream requests sent this run
  std::int64_t refused = 0;   // 429s this run
  std::optional<std::int64_t> total;
  std::int64_t rate_limit = 0;  // requests per window; 0 when unknown
  std::chrono::milliseconds rate_window{0};
  std::chrono::milliseconds elapsed{0};
  int keys = 1;         // API keys configured
  int keys_active = 1;  // not refused by the upstream
  int budgets = 1;      // distinct budgets among the active keys (keys may share one)
  std::chrono::milliseconds all_keys_paused{0};  // every active key waits this long; 0: none
};

// Share of the request budget spent since the run started, 0..1; empty while unknown.
std::optional<double> budget_used(const ProgressSnapshot& s);
// Estimated time left at the run's average event rate; empty while unknown.
std::optional<std::chrono::seconds> eta(const ProgressSnapshot& s);
// "events 120000/3000000 (4.0%) pages 24 rate 21000 ev/s budget 99.8% 429s 0 quarantined 3 ETA
// 2m17s", and with several keys " keys 3/3" (active/configured) and, while every key waits,
// " every key waits 41s".
std::string progress_line(const ProgressSnapshot& s);
std::string format_duration(std::chrono::seconds d);

// Events stored over the run, one sample per second (the last of each second), the most recent
// `capacity` seconds kept: what the dashboard draws as events per second. Not thread-safe.
class ProgressHistory {
 public:
  struct Sample {
    std::int64_t unix_s;
    std::int64_t events;
  };
  explicit ProgressHistory(std::size_t capacity = 3600) : capacity_(capacity) {}
  void record(std::int64_t unix_s, std::int64_t events);
  const std::deque<Sample>& samples() const { return samples_; }

 private:
  std::size_t capacity_;
  std::deque<Sample> samples_;
};

}  // namespace ingestd
