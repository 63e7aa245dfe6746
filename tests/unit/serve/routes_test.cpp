#include "serve/routes.hpp"

#include <doctest/doctest.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <set>
#include <string>

using namespace ingestd;

namespace {

const YAML::Node& openapi() {
  static const YAML::Node doc = YAML::LoadFile(INGESTD_SOURCE_DIR "/docs/openapi.yaml");
  return doc;
}

// A parameter object, following a "#/components/parameters/X" reference.
YAML::Node resolve(const YAML::Node& p) {
  if (!p["$ref"]) return p;
  const auto ref = p["$ref"].as<std::string>();
  const std::string prefix = "#/components/parameters/";
  REQUIRE(ref.starts_with(prefix));
  const YAML::Node target = openapi()["components"]["parameters"][ref.substr(prefix.size())];
  REQUIRE_MESSAGE(target.IsMap(), ref);
  return target;
}

std::set<std::string> documented(const YAML::Node& operation, const std::string& in) {
  std::set<std::string> names;
  for (const auto& p : operation["parameters"]) {
    const YAML::Node param = resolve(p);
    if (param["in"].as<std::string>() == in) names.insert(param["name"].as<std::string>());
  }
  return names;
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return out;
}

}  // namespace

TEST_CASE("routes: docs/openapi.yaml describes every route and query parameter, and no other") {
  CHECK(openapi()["openapi"].as<std::string>() == "3.1.0");
  std::set<std::pair<std::string, std::string>> served;
  for (const Route& r : kRoutes) {
    CAPTURE(r.path);
    served.emplace(lower(r.method), r.path);
    const YAML::Node operation = openapi()["paths"][std::string(r.path)][lower(r.method)];
    REQUIRE(operation.IsMap());
    std::set<std::string> query;
    for (const auto q : r.query) {
      if (!q.empty()) query.emplace(q);
    }
    CHECK(documented(operation, "query") == query);
    std::set<std::string> in_path;
    for (std::size_t i = r.path.find('{'); i != std::string_view::npos;
         i = r.path.find('{', i + 1)) {
      in_path.emplace(r.path.substr(i + 1, r.path.find('}', i) - i - 1));
    }
    CHECK(documented(operation, "path") == in_path);
    CHECK(operation["responses"]["200"].IsMap());
  }
  for (const auto& path : openapi()["paths"]) {
    for (const auto& method : path.second) {
      const auto name = method.first.as<std::string>();
      if (name == "parameters" || name == "summary" || name == "description") continue;
      CHECK_MESSAGE(served.count({name, path.first.as<std::string>()}) == 1,
                    name << " " << path.first.as<std::string>() << " is documented, not served");
    }
  }
}

TEST_CASE("routes: a path parameter is one segment in the server's pattern") {
  CHECK(route_pattern(route(RouteId::user_event_counts)) == "/v1/users/([^/]+)/event_counts");
  CHECK(route_pattern(route(RouteId::user_summary)) == "/v1/users/([^/]+)");
  CHECK(route_pattern(route(RouteId::status)) == "/v1/status");
}

TEST_CASE("routes: unknown query parameters are named, except where the page reads its own") {
  const Route& counts = route(RouteId::event_counts);
  CHECK_FALSE(unknown_query_parameter(counts, {{"bucket", "1h"}, {"type", "click"}}));
  CHECK(unknown_query_parameter(counts, {{"bucket", "1h"}, {"colour", "red"}}) == "colour");
  CHECK(unknown_query_parameter(counts, {{"", "x"}}) == "");
  CHECK(unknown_query_parameter(route(RouteId::user_summary), {{"bucket", "1h"}}) == "bucket");
  CHECK_FALSE(unknown_query_parameter(route(RouteId::dashboard), {{"anything", "1"}}));
  CHECK(unknown_parameter_message(counts, "colour") ==
        "unknown parameter colour; this route takes bucket, starting_at, ending_before, type");
  CHECK(unknown_parameter_message(route(RouteId::user_summary), "x") ==
        "unknown parameter x; this route takes no parameters");
}

TEST_CASE("routes: the read routes take stream, documented once for their path") {
  for (const Route& r : kRoutes) {
    CAPTURE(r.path);
    const YAML::Node item = openapi()["paths"][std::string(r.path)];
    std::set<std::string> names;
    for (const auto& p : item["parameters"]) names.insert(resolve(p)["name"].as<std::string>());
    CHECK(names.count("stream") == (r.streams ? 1U : 0U));
    CHECK(unknown_query_parameter(r, {{"stream", "crm_events"}}).has_value() ==
          (r.refuses_unknown && !r.streams));
  }
}
