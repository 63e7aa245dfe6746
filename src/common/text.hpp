#pragma once

#include <cctype>
#include <string>
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

// s as one line: each line break, with the white space around it, becomes "; " (a space after
// a line that ends in '.', ':' or ';'), and blank lines go, so that a library's multi-line
// message (libpq's "…failed: Connection refused\n\tIs the server running…") is one log line.
inline std::string one_line(std::string_view s) {
  if (s.find_first_of("\r\n") == std::string_view::npos) return std::string(s);
  std::string out;
  for (std::size_t start = 0;;) {
    const std::size_t end = s.find_first_of("\r\n", start);
    const std::string_view line = trim(s.substr(start, end - start));
    if (!line.empty()) {
      if (!out.empty()) {
        const char last = out.back();
        out += last == '.' || last == ':' || last == ';' ? " " : "; ";
      }
      out += line;
    }
    if (end == std::string_view::npos) return out;
    start = end + 1;
  }
}

}  // namespace ingestd
