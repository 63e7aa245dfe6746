#include "app/metrics.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace ingestd {

std::string render_prometheus(const Metrics& m, std::int64_t now_unix_ms) {
  auto v = [](const std::atomic<std::int64_t>& a) { return a.load(std::memory_order_relaxed); };
  std::string out;
  auto metric = [&](std::string_view name, std::string_view type, std::string_view help) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  };
  metric("ingestd_events_inserted_total", "counter", "Events newly stored in PostgreSQL.");
  out += fmt::format("ingestd_events_inserted_total {}\n", v(m.pipeline.events_inserted));
  metric("ingestd_events_quarantined_total", "counter", "Events kept in quarantine with a reason.");
  out += fmt::format("ingestd_events_quarantined_total {}\n", v(m.pipeline.events_quarantined));
  metric("ingestd_pages_fetched_total", "counter", "Complete pages received from the upstream.");
  out += fmt::format("ingestd_pages_fetched_total {}\n", v(m.source.pages_fetched));
  metric("ingestd_pages_committed_total", "counter", "Pages committed with their checkpoint.");
  out += fmt::format("ingestd_pages_committed_total {}\n", v(m.pipeline.pages_committed));
  metric("ingestd_fetched_bytes_total", "counter", "Response body bytes received (decoded).");
  out += fmt::format("ingestd_fetched_bytes_total {}\n", v(m.source.bytes_fetched));
  metric("ingestd_http_requests_total", "counter", "Upstream requests by status class.");
  static constexpr std::array<std::string_view, SourceStats::kStatusClasses> names = {
      "none", "2xx", "3xx", "4xx", "429", "5xx"};
  for (std::size_t i = 0; i < names.size(); ++i) {
    out += fmt::format("ingestd_http_requests_total{{status=\"{}\"}} {}\n", names[i],
                       v(m.source.http_requests[i]));
  }
  metric("ingestd_retries_total", "counter", "Requests retried after a transient failure.");
  out += fmt::format("ingestd_retries_total {}\n", v(m.source.retries));
  metric("ingestd_rate_limit_wait_seconds_total", "counter",
         "Time spent waiting for a request permit.");
  out += fmt::format("ingestd_rate_limit_wait_seconds_total {:.3f}\n",
                     static_cast<double>(v(m.source.rate_limit_wait_us)) / 1e6);
  auto histogram = [&](std::string_view name, std::string_view help, const LatencyHistogram& h) {
    metric(name, "histogram", help);
    std::int64_t cumulative = 0;
    for (std::size_t i = 0; i < LatencyHistogram::kBounds.size(); ++i) {
      cumulative += v(h.buckets[i]);
      out += fmt::format("{}_bucket{{le=\"{}\"}} {}\n", name, LatencyHistogram::kBounds[i],
                         cumulative);
    }
    cumulative += v(h.buckets.back());
    out += fmt::format("{}_bucket{{le=\"+Inf\"}} {}\n", name, cumulative);
    out += fmt::format("{}_sum {:.6f}\n", name, static_cast<double>(v(h.sum_us)) / 1e6);
    out += fmt::format("{}_count {}\n", name, v(h.count));
  };
  histogram("ingestd_batch_commit_seconds", "Latency of one page's commit (rows and checkpoint).",
            m.pipeline.commit_latency);
  metric("ingestd_queue_depth", "gauge", "Pages waiting between pipeline stages.");
  out +=
      fmt::format("ingestd_queue_depth{{queue=\"fetched\"}} {}\n", v(m.pipeline.fetch_queue_depth));
  out +=
      fmt::format("ingestd_queue_depth{{queue=\"decoded\"}} {}\n", v(m.pipeline.write_queue_depth));
  metric("ingestd_checkpoint_age_seconds", "gauge", "Seconds since the last committed checkpoint.");
  const auto last = v(m.pipeline.last_commit_unix_ms);
  out += fmt::format("ingestd_checkpoint_age_seconds {:.3f}\n",
                     last == 0 ? 0.0 : static_cast<double>(now_unix_ms - last) / 1e3);
  metric("ingestd_follow_lag_seconds", "gauge",
         "Seconds since the last completed pass reached the head (0 before the first).");
  const auto synced = v(m.follow.last_sync_unix_ms);
  out += fmt::format("ingestd_follow_lag_seconds {:.3f}\n",
                     synced == 0 ? 0.0 : static_cast<double>(now_unix_ms - synced) / 1e3);
  metric("ingestd_follow_syncs_total", "counter", "Head syncs and re-scans completed.");
  out += fmt::format("ingestd_follow_syncs_total {}\n", v(m.follow.syncs));
  metric("ingestd_rescans_total", "counter", "Full re-scans started while following.");
  out += fmt::format("ingestd_rescans_total {}\n", v(m.follow.rescans));
  metric("ingestd_rate_limit_requests", "gauge",
         "Requests per window, as learned from the upstream.");
  out += fmt::format("ingestd_rate_limit_requests {}\n", v(m.source.rate_limit));
  metric("ingestd_rate_limit_window_seconds", "gauge",
         "Rate-limit window, as learned from the upstream.");
  out += fmt::format("ingestd_rate_limit_window_seconds {:.3f}\n",
                     static_cast<double>(v(m.source.rate_window_ms)) / 1e3);
  // One series per configured API key, labelled by its position (never the key).
  const auto keys = static_cast<std::size_t>(std::clamp<std::int64_t>(
      v(m.source.key_count), 1, static_cast<std::int64_t>(SourceStats::kMaxKeys)));
  const auto per_key = [&](std::string_view name, std::string_view type, std::string_view help,
                           auto value) {
    metric(name, type, help);
    for (std::size_t k = 0; k < keys; ++k) {
      out += fmt::format("{}{{key=\"{}\"}} {}\n", name, k + 1, value(m.source.keys[k]));
    }
  };
  per_key("ingestd_key_requests_total", "counter", "Upstream requests sent on each API key.",
          [&](const KeyStats& k) { return v(k.requests); });
  per_key("ingestd_key_rate_limited_total", "counter", "429s (or 403 rate refusals) per API key.",
          [&](const KeyStats& k) { return v(k.rate_limited); });
  per_key("ingestd_key_remaining", "gauge",
          "Requests the upstream said were left on each key's budget (-1: not said).",
          [&](const KeyStats& k) { return v(k.remaining); });
  per_key("ingestd_key_retired", "gauge", "1 when the upstream refused the key and it is unused.",
          [&](const KeyStats& k) { return k.retired.load(std::memory_order_relaxed) ? 1 : 0; });
  metric("ingestd_push_requests_total", "counter", "POST /v1/events requests stored.");
  out += fmt::format("ingestd_push_requests_total {}\n", v(m.serve.push_requests));
  metric("ingestd_push_events_total", "counter", "Pushed events by result.");
  out += fmt::format("ingestd_push_events_total{{result=\"accepted\"}} {}\n",
                     v(m.serve.push_accepted));
  out += fmt::format("ingestd_push_events_total{{result=\"duplicate\"}} {}\n",
                     v(m.serve.push_duplicates));
  out += fmt::format("ingestd_push_events_total{{result=\"quarantined\"}} {}\n",
                     v(m.serve.push_quarantined));
  histogram("ingestd_push_request_seconds",
            "Latency of POST /v1/events, from the body read to the answer.", m.serve.push_latency);
  metric("ingestd_serve_cache_requests_total", "counter",
         "Read API answers by whether they came from the answer cache.");
  out += fmt::format("ingestd_serve_cache_requests_total{{result=\"hit\"}} {}\n",
                     v(m.serve.cache_hits));
  out += fmt::format("ingestd_serve_cache_requests_total{{result=\"miss\"}} {}\n",
                     v(m.serve.cache_misses));
  return out;
}

}  // namespace ingestd
