#include "app/progress.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace ingestd {

std::optional<double> budget_used(const ProgressSnapshot& s) {
  if (s.rate_limit <= 0 || s.rate_window.count() <= 0 || s.elapsed.count() <= 0)
    return std::nullopt;
  // A fresh window allows a burst of `limit` requests at once, then `limit` per window.
  const double windows =
      static_cast<double>(s.elapsed.count()) / static_cast<double>(s.rate_window.count());
  const double allowed = static_cast<double>(s.rate_limit) * std::max(1, s.budgets) *
                         std::max(1.0, std::ceil(windows));
  return std::min(1.0, static_cast<double>(s.requests) / allowed);
}

std::optional<std::chrono::seconds> eta(const ProgressSnapshot& s) {
  if (!s.total || s.events_this_run <= 0 || s.elapsed.count() <= 0) return std::nullopt;
  const std::int64_t left = std::max<std::int64_t>(0, *s.total - s.events - s.quarantined);
  const double per_ms =
      static_cast<double>(s.events_this_run) / static_cast<double>(s.elapsed.count());
  return std::chrono::seconds(
      static_cast<std::int64_t>(static_cast<double>(left) / per_ms / 1000.0));
}

std::string format_duration(std::chrono::seconds d) {
  const auto total = d.count();
  if (total >= 3600) return fmt::format("{}h{:02}m", total / 3600, (total % 3600) / 60);
  if (total >= 60) return fmt::format("{}m{:02}s", total / 60, total % 60);
  return fmt::format("{}s", total);
}

std::string progress_line(const ProgressSnapshot& s) {
  std::string line = fmt::format("events {}", s.events);
  if (s.total && *s.total > 0) {
    line += fmt::format("/{} ({:.1f}%)", *s.total,
                        100.0 * static_cast<double>(s.events) / static_cast<double>(*s.total));
  }
  const double seconds = static_cast<double>(s.elapsed.count()) / 1000.0;
  const double rate = seconds > 0 ? static_cast<double>(s.events_this_run) / seconds : 0.0;
  line += fmt::format(" pages {} rate {:.0f} ev/s", s.pages, rate);
  if (auto b = budget_used(s)) line += fmt::format(" budget {:.1f}%", *b * 100.0);
  line += fmt::format(" 429s {} quarantined {}", s.refused, s.quarantined);
  if (auto e = eta(s)) line += " ETA " + format_duration(*e);
  if (s.keys > 1) line += fmt::format(" keys {}/{}", s.keys_active, s.keys);
  if (s.all_keys_paused.count() > 0) {
    line += " every key waits " +
            format_duration(std::chrono::ceil<std::chrono::seconds>(s.all_keys_paused));
  }
  return line;
}

void ProgressHistory::record(std::int64_t unix_s, std::int64_t events) {
  if (!samples_.empty() && samples_.back().unix_s >= unix_s) {
    samples_.back().events = events;
    return;
  }
  samples_.push_back({unix_s, events});
  while (samples_.size() > capacity_) samples_.pop_front();
}

}  // namespace ingestd
