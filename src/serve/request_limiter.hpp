#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <unordered_map>

#include "ingestd/rate_state.hpp"

namespace ingestd {

// The read API's own limit (SERVE_RATE_LIMIT): a sliding log per client, the same kind of
// window the upstream keeps, so its answers carry the same headers ingestd honours upstream.
// Not thread-safe; the clock is the caller's.
class RequestLimiter {
 public:
  struct Decision {
    bool allowed = false;
    std::int64_t limit = 0;
    std::int64_t remaining = 0;
    std::int64_t reset_s = 0;        // until the oldest counted request leaves the window
    std::int64_t retry_after_s = 0;  // refused only: until a request would be admitted
  };

  // At most `max_clients` logs are kept: past that, expired logs are dropped, then the least
  // recently seen client's.
  explicit RequestLimiter(RateCeiling ceiling, std::size_t max_clients = 10'000);

  Decision admit(const std::string& client, std::int64_t now_ms);

 private:
  struct Log {
    std::deque<std::int64_t> sent_ms;
  };
  void make_room(std::int64_t now_ms);

  RateCeiling ceiling_;
  std::size_t max_clients_;
  std::unordered_map<std::string, Log> logs_;
};

}  // namespace ingestd
