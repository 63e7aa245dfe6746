#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>

#include "ingestd/rate_state.hpp"
#include "store/database.hpp"

namespace ingestd {

// Keeps the rate limiter's state in rate_limit_state, on a connection of its own so that its
// small writes never wait behind a page commit. A lost connection is tried again (briefly) at
// the next save; meanwhile saves fail and the source paces from memory.
class RateStateTable : public RateStateStore {
 public:
  RateStateTable(const std::string& database_url, std::string stream,
                 std::chrono::milliseconds connect_timeout, std::stop_token stop);
  ~RateStateTable() override;

  std::optional<RateLimitState> load() override;
  // Committed at once (its own transaction), before the request it records leaves.
  void save(const RateLimitState& state) override;

 private:
  std::optional<RateLimitState> load_row();
  void save_row(const RateLimitState& state);

  std::unique_ptr<Database> db_;
  std::string stream_;
  bool lost_ = false;
};

}  // namespace ingestd
