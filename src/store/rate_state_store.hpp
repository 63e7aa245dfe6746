#pragma once

#include <chrono>
#include <memory>
#include <stop_token>
#include <string>

#include "common/errors.hpp"
#include "store/store.hpp"
#include "upstream/rate_state.hpp"

namespace ingestd {

// Keeps the rate limiter's state in rate_limit_state, on a connection of its own so that its
// small writes never wait behind a page commit. A lost connection is tried again (briefly) at
// the next save; meanwhile saves fail and the source paces from memory.
class StoreRateState : public RateStateStore {
 public:
  StoreRateState(const std::string& database_url, std::string stream,
                 std::chrono::milliseconds connect_timeout, std::stop_token stop)
      : store_(Store::connect(database_url, connect_timeout, stop)), stream_(std::move(stream)) {}

  std::optional<RateLimitState> load() override { return store_->load_rate_state(stream_); }

  void save(const RateLimitState& state) override {
    if (lost_) {
      store_->reconnect(std::chrono::seconds(1), {});
      lost_ = false;
    }
    try {
      store_->save_rate_state(stream_, state);
    } catch (const DatabaseError& e) {
      lost_ = e.failure() == DatabaseFailure::connection_lost;
      throw;
    }
  }

 private:
  std::unique_ptr<Store> store_;
  std::string stream_;
  bool lost_ = false;
};

}  // namespace ingestd
