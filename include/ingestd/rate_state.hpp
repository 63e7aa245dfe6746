#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace ingestd {

/// At most `limit` requests in any `window`: a configured ceiling (RATE_LIMIT,
/// SERVE_RATE_LIMIT) or one the rate limiter learned.
struct RateCeiling {
  std::int64_t limit = 0;
  std::chrono::milliseconds window{0};
};

/// The rate limiter's view of the upstream's window as it survives a restart.
struct RateLimitState {
  std::optional<std::int64_t> limit;  ///< nullopt: none known
  std::int64_t window_ms = 0;
  std::vector<std::int64_t> sent_at_ms;  ///< epoch milliseconds, ascending
};

/// Where that view is kept, one per API key (src/store/rate_state_table.hpp keeps it beside the
/// checkpoint). `key` is a fingerprint of the API key, never the key itself.
class RateStateStore {
 public:
  virtual ~RateStateStore() = default;
  virtual std::optional<RateLimitState> load(std::string_view key) = 0;
  /// Durable before it returns: the request it records leaves right after. Throws an
  /// ingestd::Error when it cannot save.
  virtual void save(std::string_view key, const RateLimitState& state) = 0;
};

}  // namespace ingestd
