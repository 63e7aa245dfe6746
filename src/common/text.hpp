#pragma once

#include <cctype>
#include <string_view>

namespace ingestd {

// s without leading and trailing ASCII white space.
inline std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// s without trailing JSON white space (space, tab, newline, carriage return): the end of a
// raw token as simdjson reports it.
inline std::string_view trim_json_space(std::string_view s) {
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

}  // namespace ingestd
