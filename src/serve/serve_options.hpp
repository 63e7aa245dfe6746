#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>

#include "ingestd/rate_state.hpp"

namespace ingestd {

// What the HTTP side needs to know, built by src/app/wiring.cpp.
struct ServeOptions {
  std::string addr;     // host:port to listen on
  std::string api_key;  // required as X-API-Key on /v1 when set; enables push ingest
  std::optional<RateCeiling> rate_limit;  // per client; unset: no limit
  std::size_t cache_bytes = std::size_t{128} << 20;
  std::size_t ingest_max_body = 16 * 1024 * 1024;
  std::string stream;           // the stream /v1/status reports without ?stream=
  bool profile_stream = false;  // `stream` is a source profile's, not the contract's
  std::string contract_stream;  // the contract's stream name (STREAM)
  std::string database_url;
  std::chrono::milliseconds db_connect_timeout{60'000};
};

}  // namespace ingestd
