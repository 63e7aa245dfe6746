#include "upstream/cursor.hpp"

#include <doctest/doctest.h>

#include <string>

using ingestd::cursor_expired;
using ingestd::decode_cursor;
using ingestd::reissue_cursor;

namespace {

// base64 of {"id":"af5c33c8-0d4e-4f0b-9a51-2f6f3b1d7e90","ts":1769541612369,"v":2,
// "exp":1769541732369}: 90 bytes, so no padding and no alphabet-specific characters.
constexpr std::string_view kContractCursor =
    "eyJpZCI6ImFmNWMzM2M4LTBkNGUtNGYwYi05YTUxLTJmNmYzYjFkN2U5MCIsInRzIjoxNzY5NTQxNjEyMzY5LCJ2Ij"
    "oyLCJleHAiOjE3Njk1NDE3MzIzNjl9";
constexpr std::string_view kContractCursorReissued =
    "eyJpZCI6ImFmNWMzM2M4LTBkNGUtNGYwYi05YTUxLTJmNmYzYjFkN2U5MCIsInRzIjoxNzY5NTQxNjEyMzY5LCJ2Ij"
    "oyLCJleHAiOjE3Njk1NDE5OTk5OTl9";

// {"id":"~~~?","ts":1769541612369,"v":2,"exp":5} needs "==" and a + in standard base64.
constexpr std::string_view kStandardPadded =
    "eyJpZCI6In5+fj8iLCJ0cyI6MTc2OTU0MTYxMjM2OSwidiI6MiwiZXhwIjo1fQ==";
constexpr std::string_view kUrlUnpadded =
    "eyJpZCI6In5-fj8iLCJ0cyI6MTc2OTU0MTYxMjM2OSwidiI6MiwiZXhwIjo1fQ";
constexpr std::string_view kStandardPaddedReissued =
    "eyJpZCI6In5+fj8iLCJ0cyI6MTc2OTU0MTYxMjM2OSwidiI6MiwiZXhwIjoxNzY5NTQxOTk5OTk5fQ==";
constexpr std::string_view kUrlUnpaddedReissued =
    "eyJpZCI6In5-fj8iLCJ0cyI6MTc2OTU0MTYxMjM2OSwidiI6MiwiZXhwIjoxNzY5NTQxOTk5OTk5fQ";

// {"id":"ab", two question marks, ">", then "ts":1769541612369,"v":2,"exp":5}: one "=" of
// padding and a - in base64url.
constexpr std::string_view kUrlPadded =
    "eyJpZCI6ImFiPz8-IiwidHMiOjE3Njk1NDE2MTIzNjksInYiOjIsImV4cCI6NX0=";
constexpr std::string_view kUrlPaddedReissued =
    "eyJpZCI6ImFiPz8-IiwidHMiOjE3Njk1NDE2MTIzNjksInYiOjIsImV4cCI6MTc2OTU0MTk5OTk5OX0=";

// {"id":"a","ts":7,"v":2} has no exp; with one it is {"id":"a","ts":7,"v":2,"exp":99}.
constexpr std::string_view kNoExp = "eyJpZCI6ImEiLCJ0cyI6NywidiI6Mn0=";
constexpr std::string_view kNoExpReissued = "eyJpZCI6ImEiLCJ0cyI6NywidiI6MiwiZXhwIjo5OX0=";

constexpr std::int64_t kNewExp = 1769541999999;

}  // namespace

TEST_CASE("decode the contract's cursor") {
  const auto position = decode_cursor(kContractCursor);
  REQUIRE(position);
  CHECK(position->id == "af5c33c8-0d4e-4f0b-9a51-2f6f3b1d7e90");
  CHECK(position->ts_ms == 1769541612369);
  CHECK(position->version == 2);
  REQUIRE(position->exp_ms);
  CHECK(*position->exp_ms == 1769541732369);
}

TEST_CASE("decode both alphabets, padded or not") {
  for (const std::string_view cursor : {kStandardPadded, kUrlUnpadded, kUrlPadded,
                                        kStandardPadded.substr(0, kStandardPadded.size() - 2)}) {
    INFO(std::string(cursor));
    const auto position = decode_cursor(cursor);
    REQUIRE(position);
    CHECK(position->ts_ms == 1769541612369);
    CHECK(position->version == 2);
    CHECK(position->exp_ms == std::optional<std::int64_t>(5));
  }
  CHECK(decode_cursor(kStandardPadded)->id == "~~~?");
  CHECK(decode_cursor(kUrlPadded)->id == "ab?\?>");
}

TEST_CASE("undecodable cursors") {
  CHECK_FALSE(decode_cursor(""));
  CHECK_FALSE(decode_cursor("not base64!"));
  CHECK_FALSE(decode_cursor("eyJpZCI6In5+fj8iLCJ0cyI6MTc2OTU0MTYxMjM2OSwidiI6MiwiZXhwIjo1fQ="));
  CHECK_FALSE(decode_cursor("eyJpZCI6In5+fj8iLCJ0cyI6MTc2OTU0MTYxMjM2OSwidiI6MiwiZXhwIjo1fQ==="));
  CHECK_FALSE(decode_cursor("eyJpZCI6In5+fj8_LCJ0cyI6MTc2OTU0MTYxMjM2OSwidiI6MiwiZXhwIjo1fQ=="));
  CHECK_FALSE(decode_cursor(" " + std::string(kContractCursor)));
  CHECK_FALSE(decode_cursor("bm90IGpzb24="));                          // "not json"
  CHECK_FALSE(decode_cursor("WzEsMiwzXQ=="));                          // [1,2,3]
  CHECK_FALSE(decode_cursor("eyJpZCI6ImEifQ=="));                      // {"id":"a"}: no ts
  CHECK_FALSE(decode_cursor("eyJpZCI6MSwidHMiOjd9"));                  // {"id":1,"ts":7}
  CHECK_FALSE(decode_cursor("eyJpZCI6ImEiLCJ0cyI6N30geA=="));          // {"id":"a","ts":7} x
  CHECK_FALSE(decode_cursor("eyJpZCI6ImEiLCJ0cyI6IjcifQ=="));          // {"id":"a","ts":"7"}
  CHECK_FALSE(decode_cursor("eyJpZCI6ImEiLCJ0cyI6NywiZXhwIjoieCJ9"));  // exp "x"
}

TEST_CASE("a cursor without v or exp still decodes") {
  const auto position = decode_cursor("eyJpZCI6ImEiLCJ0cyI6N30=");  // {"id":"a","ts":7}
  REQUIRE(position);
  CHECK(position->id == "a");
  CHECK(position->ts_ms == 7);
  CHECK(position->version == 0);
  CHECK_FALSE(position->exp_ms);
}

TEST_CASE("reissue keeps alphabet, padding and key order") {
  CHECK(reissue_cursor(kContractCursor, kNewExp) == std::string(kContractCursorReissued));
  CHECK(reissue_cursor(kStandardPadded, kNewExp) == std::string(kStandardPaddedReissued));
  CHECK(reissue_cursor(kUrlUnpadded, kNewExp) == std::string(kUrlUnpaddedReissued));
  CHECK(reissue_cursor(kUrlPadded, kNewExp) == std::string(kUrlPaddedReissued));
  CHECK(reissue_cursor(kNoExp, 99) == std::string(kNoExpReissued));
  const auto reissued = decode_cursor(*reissue_cursor(kUrlUnpadded, kNewExp));
  REQUIRE(reissued);
  CHECK(reissued->id == "~~~?");
  CHECK(reissued->ts_ms == 1769541612369);
  CHECK(reissued->exp_ms == std::optional<std::int64_t>(kNewExp));
  CHECK_FALSE(reissue_cursor("%%%", kNewExp));
}

TEST_CASE("expiry check") {
  constexpr std::int64_t exp = 1769541732369;
  CHECK_FALSE(cursor_expired(kContractCursor, exp - 2001, 2000));
  CHECK(cursor_expired(kContractCursor, exp - 2000, 2000));
  CHECK(cursor_expired(kContractCursor, exp, 0));
  CHECK_FALSE(cursor_expired(kContractCursor, exp - 1, 0));
  CHECK(cursor_expired(kContractCursor, exp + 60000, 2000));
  CHECK_FALSE(cursor_expired(kNoExp, exp, 2000));
  CHECK_FALSE(cursor_expired("garbage", exp, 2000));
}
