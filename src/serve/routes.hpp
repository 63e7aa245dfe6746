#pragma once

#include <array>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace ingestd {

// One route of `ingestd serve`: its method, its path as OpenAPI writes it (`{name}` for a path
// parameter) and the query parameters it takes. The server registers its handlers and refuses
// unknown query parameters from this table alone, and a unit test holds docs/openapi.yaml to it,
// so the document cannot describe a route or parameter the server does not take, nor miss one.
struct Route {
  std::string_view method;
  std::string_view path;
  std::array<std::string_view, 4> query;  // empty entries unused
  // The dashboard page reads its own query parameters in the browser; the server ignores
  // unknown ones there instead of refusing a link.
  bool refuses_unknown = true;
  // Reads a stream's tables: takes `stream` besides `query` (documented once for the path in
  // docs/openapi.yaml, which the route-table test checks).
  bool streams = false;
};

enum class RouteId {
  user_event_counts,
  user_summary,
  event_counts,
  status,
  push,
  openapi,
  dashboard,
  chartjs
};

inline constexpr std::array<Route, 8> kRoutes = {{
    {"GET",
     "/v1/users/{user_id}/event_counts",
     {"bucket", "starting_at", "ending_before"},
     true,
     true},
    {"GET", "/v1/users/{user_id}", {}, true, true},
    {"GET", "/v1/event_counts", {"bucket", "starting_at", "ending_before", "type"}, true, true},
    {"GET", "/v1/status", {"history"}, true, true},
    {"POST", "/v1/events", {}},
    {"GET", "/v1/openapi.yaml", {}},
    {"GET", "/", {"user", "bucket", "from", "until"}, false},
    {"GET", "/assets/chart.min.js", {}},
}};

constexpr const Route& route(RouteId id) {
  return kRoutes[static_cast<std::size_t>(id)];
}

// The route's path as the regular expression cpp-httplib matches: each `{name}` is one segment.
std::string route_pattern(const Route& r);

// The query parameter the route does not take (the first, by name), if any; nullopt when every
// one is taken or the route ignores unknown ones.
std::optional<std::string> unknown_query_parameter(
    const Route& r, const std::multimap<std::string, std::string>& params);

// "unknown parameter X; this route takes a, b" (or "takes no parameters").
std::string unknown_parameter_message(const Route& r, std::string_view name);

}  // namespace ingestd
