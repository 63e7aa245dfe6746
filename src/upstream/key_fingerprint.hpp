#pragma once

#include <string>
#include <string_view>

namespace ingestd {

// What names an API key where it is stored (rate_limit_state): 16 hex digits of its SHA-256.
// Telling keys apart needs no more, and a digest does not give the key back.
std::string key_fingerprint(std::string_view api_key);

}  // namespace ingestd
