#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "common/backoff.hpp"
#include "common/clock.hpp"
#include "ingestd/page_source.hpp"
#include "ingestd/rate_state.hpp"
#include "ingestd/stats.hpp"
#include "upstream/http_client.hpp"
#include "upstream/outcome.hpp"
#include "upstream/rate_limiter.hpp"
#include "upstream/source_options.hpp"

namespace ingestd {

// The upstream's cursor chain as a page source: asks the rate limiter for a permit, saves the
// send times still in the window, sends GET /api/v1/events on a kept-alive handle, classifies
// the answer (outcome.hpp), and retries, waits or recovers the cursor until it has a complete
// page to hand out. One thread drives it: the chain is sequential.
class EventsSource : public PageSource {
 public:
  EventsSource(SourceOptions options, SourceStats& stats, std::optional<std::string> cursor,
               std::int64_t pages_done, RateStateStore& rate_state);

  std::optional<RawPage> next(std::stop_token stop) override;

 private:
  void restore_rate_state();
  void record_send(std::chrono::steady_clock::time_point at);
  std::string page_url() const;
  void retry_after_backoff(const Outcome& outcome, std::stop_token stop);
  void recover_expired_cursor_at_start();
  void recover_cursor(const Outcome& why);

  const SourceOptions options_;
  SourceStats& stats_;
  HttpClient http_;
  RateLimiter limiter_;
  Backoff backoff_;
  std::optional<std::string> cursor_;
  std::int64_t page_number_;
  std::int64_t cursor_ttl_s_ = 115;
  bool reissued_ = false;
  bool finished_ = false;
  int foreign_envelopes_ = 0;
  RateStateStore& rate_state_;
  WallClock wall_;
  bool rate_record_failing_ = false;
};

}  // namespace ingestd
