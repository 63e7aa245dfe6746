#pragma once

#include <array>
#include <string_view>

namespace ingestd {

// 8-4-4-4-12 hex digits, any case; writes the lowercase form. False for anything else.
inline bool normalize_uuid(std::string_view s, std::array<char, 36>& out) {
  if (s.size() != 36) return false;
  for (std::size_t i = 0; i < 36; ++i) {
    const char c = s[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
      out[i] = c;
    } else if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) {
      out[i] = c;
    } else if (c >= 'A' && c <= 'F') {
      out[i] = static_cast<char>(c - 'A' + 'a');
    } else {
      return false;
    }
  }
  return true;
}

}  // namespace ingestd
