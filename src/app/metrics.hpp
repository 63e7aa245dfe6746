#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace ingestd {

// A Prometheus histogram of durations, with fixed bucket bounds in seconds.
struct LatencyHistogram {
  static constexpr std::array<double, 10> kBounds = {0.005, 0.01, 0.025, 0.05, 0.1,
                                                     0.25,  0.5,  1.0,   2.5,  5.0};
  std::array<std::atomic<std::int64_t>, kBounds.size() + 1> buckets{};
  std::atomic<std::int64_t> sum_us{0};
  std::atomic<std::int64_t> count{0};

  void observe(std::chrono::microseconds latency);
};

// Counters shared by the pipeline threads, the read API, the progress line and the Prometheus
// endpoint. Relaxed atomics: each value is independent and only read for reporting.
struct Metrics {
  // Status classes of upstream answers: 0 (no response), 2xx, 3xx, 4xx other than 429, 429, 5xx.
  enum StatusClass { kTransport, k2xx, k3xx, k4xx, k429, k5xx, kStatusClasses };

  std::atomic<std::int64_t> events_inserted{0};
  std::atomic<std::int64_t> events_quarantined{0};
  std::atomic<std::int64_t> pages_committed{0};
  std::atomic<std::int64_t> pages_fetched{0};
  std::atomic<std::int64_t> bytes_fetched{0};
  std::array<std::atomic<std::int64_t>, kStatusClasses> http_requests{};
  std::atomic<std::int64_t> retries{0};
  std::atomic<std::int64_t> rate_limit_wait_us{0};
  LatencyHistogram commit_latency;
  std::atomic<std::int64_t> fetch_queue_depth{0};
  std::atomic<std::int64_t> write_queue_depth{0};
  std::atomic<std::int64_t> last_commit_unix_ms{0};
  std::atomic<std::int64_t> upstream_total{-1};
  std::atomic<std::int64_t> rate_limit{0};
  std::atomic<std::int64_t> rate_window_ms{0};

  // POST /v1/events
  std::atomic<std::int64_t> push_requests{0};
  std::atomic<std::int64_t> push_accepted{0};
  std::atomic<std::int64_t> push_duplicates{0};
  std::atomic<std::int64_t> push_quarantined{0};
  LatencyHistogram push_latency;
  std::atomic<std::int64_t> serve_cache_hits{0};
  std::atomic<std::int64_t> serve_cache_misses{0};

  void count_status(int status);
  std::int64_t requests_total() const;
};

// Prometheus text exposition format (version 0.0.4) of the metrics.
std::string render_prometheus(const Metrics& m, std::int64_t now_unix_ms);

}  // namespace ingestd
