#include "upstream/http_types.hpp"

#include <doctest/doctest.h>

using ingestd::HttpHeaders;

TEST_CASE("header lookup ignores case and prefers the last occurrence") {
  HttpHeaders h;
  h.add("X-RateLimit-Remaining", "5");
  h.add("content-type", "application/json");
  h.add("x-ratelimit-remaining", "4");
  CHECK(h.get("X-RATELIMIT-REMAINING") == "4");
  CHECK(h.get("Content-Type") == "application/json");
  CHECK_FALSE(h.get("Retry-After").has_value());
}
