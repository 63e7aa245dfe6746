#include "upstream/http_types.hpp"

#include <algorithm>
#include <cctype>

namespace ingestd {

namespace {
bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}
}  // namespace

void HttpHeaders::add(std::string name, std::string value) {
  items_.emplace_back(std::move(name), std::move(value));
}

std::optional<std::string_view> HttpHeaders::get(std::string_view name) const {
  // The last occurrence wins: after redirects or 100-continue, later headers are the final ones.
  for (auto it = items_.rbegin(); it != items_.rend(); ++it) {
    if (iequals(it->first, name)) return std::string_view(it->second);
  }
  return std::nullopt;
}

}  // namespace ingestd
