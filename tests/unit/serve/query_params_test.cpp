#include "serve/query_params.hpp"

#include <doctest/doctest.h>

using ingestd::parse_query_instant;

namespace {
constexpr std::int64_t k19h = 1769540400000000;  // 2026-01-27T19:00:00Z
}

TEST_CASE("every form of the ingest normaliser names the same instant") {
  CHECK(parse_query_instant("2026-01-27T19:00:00Z") == k19h);
  CHECK(parse_query_instant("2026-01-27T19:00:00.000Z") == k19h);
  CHECK(parse_query_instant("2026-01-27T20:00:00+01:00") == k19h);
  CHECK(parse_query_instant("1769540400000") == k19h);
  CHECK(parse_query_instant("1769540400") == k19h);
  CHECK(parse_query_instant("1769540400.5") == k19h + 500000);
}

TEST_CASE("a plain date and a zone-less date and time are UTC") {
  CHECK(parse_query_instant("2026-01-27") == 1769472000000000);
  CHECK(parse_query_instant("2026-01-27 19:00:00") == k19h);
  CHECK(parse_query_instant("2026-01-27T19:00:00") == k19h);
  CHECK(parse_query_instant("2026-01-27 19:00:00.25") == k19h + 250000);
}

TEST_CASE("an offset whose + arrived as a space is read as +") {
  CHECK(parse_query_instant("2026-01-27T20:00:00 01:00") == k19h);
  CHECK(parse_query_instant("2026-01-27T20:00:00.000 0100") == k19h);
}

TEST_CASE("anything else is refused") {
  for (const char* bad : {"", "yesterday", "2026-13-01", "2026-01-27T25:00:00Z", "-5", "1e3x",
                          "2026-01-27T19:00", "0x10", "2026-01-27 19:00:00 +99:00"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_query_instant(bad));
  }
}

TEST_CASE("user ids are UUIDs, answered lowercase") {
  CHECK(ingestd::parse_user_id("1F2A12B4-1BDC-463D-BA74-F6D849F5B76F") ==
        "1f2a12b4-1bdc-463d-ba74-f6d849f5b76f");
  try {
    ingestd::parse_user_id("42");
    FAIL("accepted");
  } catch (const ingestd::BadRequest& e) {
    CHECK(e.parameter() == "user_id");
    CHECK(std::string(e.what()).starts_with("user_id: "));
  }
}
