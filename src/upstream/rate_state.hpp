#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace ingestd {

// The rate limiter's view of the upstream's window as it survives a restart.
struct RateLimitState {
  std::optional<std::int64_t> limit;  // nullopt: none known
  std::int64_t window_ms = 0;
  std::vector<std::int64_t> sent_at_ms;  // epoch milliseconds, ascending
};

// Where that view is kept (store/rate_state_store.hpp keeps it beside the checkpoint).
class RateStateStore {
 public:
  virtual ~RateStateStore() = default;
  virtual std::optional<RateLimitState> load() = 0;
  // Durable before it returns: the request it records leaves right after. Throws an
  // ingestd::Error when it cannot save.
  virtual void save(const RateLimitState& state) = 0;
};

}  // namespace ingestd
