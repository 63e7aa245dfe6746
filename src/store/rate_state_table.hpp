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

  // The key's own row; failing that, one written before keys were told apart (fingerprint '').
  std::optional<RateLimitState> load(std::string_view key) override;
  // Committed at once (its own transaction), before the request it records leaves.
  void save(std::string_view key, const RateLimitState& state) override;

 private:
  void save_row(const std::string& key, const RateLimitState& state);

  std::unique_ptr<Database> db_;
  std::string stream_;
  bool lost_ = false;
};

}  // namespace ingestd
