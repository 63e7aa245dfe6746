#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace ingestd {

// What each stage counts, handed to it by the wiring and rendered by src/app (Prometheus,
// progress, status). Relaxed atomics: each value is independent and only read for reporting.

/// A histogram of durations with fixed bucket bounds in seconds.
struct LatencyHistogram {
  static constexpr std::array<double, 10> kBounds = {0.005, 0.01, 0.025, 0.05, 0.1,
                                                     0.25,  0.5,  1.0,   2.5,  5.0};
  std::array<std::atomic<std::int64_t>, kBounds.size() + 1> buckets{};
  std::atomic<std::int64_t> sum_us{0};
  std::atomic<std::int64_t> count{0};

  void observe(std::chrono::microseconds latency) {
    const double seconds = static_cast<double>(latency.count()) / 1e6;
    std::size_t i = 0;
    while (i < kBounds.size() && seconds > kBounds[i]) ++i;
    buckets[i].fetch_add(1, std::memory_order_relaxed);
    sum_us.fetch_add(latency.count(), std::memory_order_relaxed);
    count.fetch_add(1, std::memory_order_relaxed);
  }
};

/// One API key of a source's pool; key 1 is the first of UPSTREAM_API_KEYS.
struct KeyStats {
  std::atomic<std::int64_t> requests{0};
  std::atomic<std::int64_t> rate_limited{0};
  std::atomic<std::int64_t> remaining{-1};  ///< after its latest answer; -1: not reported
  std::atomic<std::int64_t> limit{0};       ///< learned or reported; 0: none known
  std::atomic<std::int64_t> window_ms{0};
  std::atomic<std::int64_t> next_send_unix_ms{0};  ///< when it may send next
  std::atomic<std::int64_t> shares_with{0};        ///< position of the first key of its budget
  std::atomic<bool> retired{false};
};

/// A page source's requests and what the upstream said of its budget.
struct SourceStats {
  static constexpr std::size_t kMaxKeys = 16;

  /// Status classes of upstream answers: 0 (no response), 2xx, 3xx, 4xx other than 429, 429, 5xx.
  enum StatusClass { kTransport, k2xx, k3xx, k4xx, k429, k5xx, kStatusClasses };

  std::atomic<std::int64_t> pages_fetched{0};
  std::atomic<std::int64_t> bytes_fetched{0};
  std::array<std::atomic<std::int64_t>, kStatusClasses> http_requests{};
  std::atomic<std::int64_t> retries{0};
  std::atomic<std::int64_t> rate_limit_wait_us{0};
  std::atomic<std::int64_t> upstream_total{-1};  ///< -1: not reported
  std::atomic<std::int64_t> rate_limit{0};
  std::atomic<std::int64_t> rate_window_ms{0};
  std::array<KeyStats, kMaxKeys> keys{};
  std::atomic<std::int64_t> key_count{1};
  /// Every active key is paused until then (epoch ms); 0 while one may send.
  std::atomic<std::int64_t> all_keys_paused_until_ms{0};

  void count_status(int status) {
    const StatusClass c = status == 0     ? kTransport
                          : status == 429 ? k429
                          : status < 300  ? k2xx
                          : status < 400  ? k3xx
                          : status < 500  ? k4xx
                                          : k5xx;
    http_requests[c].fetch_add(1, std::memory_order_relaxed);
  }
  std::int64_t requests_total() const {
    std::int64_t total = 0;
    for (const auto& c : http_requests) total += c.load(std::memory_order_relaxed);
    return total;
  }
};

/// The pipeline's commits and queues.
struct PipelineStats {
  std::atomic<std::int64_t> events_inserted{0};
  std::atomic<std::int64_t> events_quarantined{0};
  std::atomic<std::int64_t> pages_committed{0};
  LatencyHistogram commit_latency;
  std::atomic<std::int64_t> fetch_queue_depth{0};
  std::atomic<std::int64_t> write_queue_depth{0};
  std::atomic<std::int64_t> last_commit_unix_ms{0};  ///< 0: none yet
};

/// Following a newest-first upstream after the first pass (FOLLOW_INTERVAL_S).
struct FollowStats {
  enum Phase { kFirstPass, kFollowing, kRescan };
  std::atomic<int> phase{kFirstPass};
  std::atomic<bool> syncing{false};      ///< a head sync or re-scan is fetching now
  std::atomic<std::int64_t> syncs{0};    ///< head syncs and re-scans completed by this process
  std::atomic<std::int64_t> rescans{0};  ///< re-scans started by this process
  std::atomic<std::int64_t> last_sync_unix_ms{0};  ///< 0: no pass completed yet
  std::atomic<std::int64_t> last_sync_events{0};
  std::atomic<std::int64_t> mark_us{0};            ///< newest event known synced; 0: none
  std::atomic<std::int64_t> next_sync_unix_ms{0};  ///< 0: none planned
};

/// The serve side: push ingest (POST /v1/events) and the read API's answer cache.
struct ServeStats {
  std::atomic<std::int64_t> push_requests{0};
  std::atomic<std::int64_t> push_accepted{0};
  std::atomic<std::int64_t> push_duplicates{0};
  std::atomic<std::int64_t> push_quarantined{0};
  LatencyHistogram push_latency;
  std::atomic<std::int64_t> cache_hits{0};
  std::atomic<std::int64_t> cache_misses{0};
};

}  // namespace ingestd
