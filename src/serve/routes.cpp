#include "serve/routes.hpp"

#include <algorithm>

namespace ingestd {

std::string route_pattern(const Route& r) {
  std::string out;
  for (std::size_t i = 0; i < r.path.size(); ++i) {
    if (r.path[i] == '{') {
      i = r.path.find('}', i);
      out += "([^/]+)";
    } else {
      out += r.path[i];
    }
  }
  return out;
}

std::optional<std::string> unknown_query_parameter(
    const Route& r, const std::multimap<std::string, std::string>& params) {
  if (!r.refuses_unknown) return std::nullopt;
  for (const auto& [name, value] : params) {
    if (r.streams && name == "stream") continue;
    if (name.empty() || std::find(r.query.begin(), r.query.end(), name) == r.query.end()) {
      return name;
    }
  }
  return std::nullopt;
}

std::string unknown_parameter_message(const Route& r, std::string_view name) {
  std::string taken;
  for (const auto q : r.query) {
    if (q.empty()) continue;
    taken += taken.empty() ? "" : ", ";
    taken += q;
  }
  return "unknown parameter " + std::string(name.substr(0, 64)) + "; this route takes " +
         (taken.empty() ? "no parameters" : taken);
}

}  // namespace ingestd
