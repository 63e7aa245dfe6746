#include "common/database_url.hpp"

#include <regex>

namespace ingestd {

std::string redact_database_url(std::string_view url) {
  std::string s(url);
  if (s.starts_with("postgresql://") || s.starts_with("postgres://")) {
    auto scheme_end = s.find("://") + 3;
    auto at = s.find('@', scheme_end);
    auto colon = s.find(':', scheme_end);
    if (at != std::string::npos && colon != std::string::npos && colon < at) {
      s.replace(colon + 1, at - colon - 1, "***");
    }
  }
  static const std::regex password_kv(R"((password\s*=\s*)('[^']*'|[^\s&]+))");
  s = std::regex_replace(s, password_kv, "$1***");
  static const std::regex password_param(R"(([?&]password=)[^&]*)");
  return std::regex_replace(s, password_param, "$1***");
}

}  // namespace ingestd
