#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "ingestd/rate_state.hpp"
#include "ingestd/source_profile.hpp"

namespace ingestd {

// What to do with a cursor the upstream says has expired: ask for it again by re-fetching the
// page it came from (reissue), or start the stream over (restart; the primary key drops what
// is fetched twice).
enum class CursorRecovery { reissue, restart };

// What the upstream's cursor chain needs to know, built by src/app/wiring.cpp.
struct SourceOptions {
  std::string events_url;  // e.g. http://host/api/v1/events
  // Sent as X-API-Key, one per request; never logged. Logs name a key by its position.
  std::vector<std::string> api_keys;
  int page_limit = 5000;
  CursorRecovery cursor_recovery = CursorRecovery::reissue;
  std::chrono::milliseconds http_timeout{120'000};
  std::chrono::milliseconds http_connect_timeout{10'000};
  bool http_gzip = true;
  int retry_max_attempts = 8;
  std::optional<RateCeiling> rate_limit;  // RATE_LIMIT; unset: the server's headers decide
  // The API described as data; the contract's profile pages the events API as it always has.
  SourceProfile profile;
  std::string base_url;         // UPSTREAM_BASE_URL, normalised: profile paths go after it
  bool page_limit_set = false;  // PAGE_LIMIT was given: it replaces the profile's page size

  bool contract() const { return profile == contract_profile(); }
};

}  // namespace ingestd
