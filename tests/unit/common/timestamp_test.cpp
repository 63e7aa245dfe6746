#include "common/timestamp.hpp"

#include <doctest/doctest.h>

#include <array>
#include <string>

using ingestd::format_timestamptz;
using ingestd::parse_timestamp_number;
using ingestd::parse_timestamp_string;

namespace {

std::int64_t ok_string(std::string_view s) {
  const auto r = parse_timestamp_string(s);
  INFO("input: ", std::string(s), " error: ", std::string(r.error));
  CHECK(r.ok());
  return r.micros;
}

std::int64_t ok_number(std::string_view s) {
  const auto r = parse_timestamp_number(s);
  INFO("input: ", std::string(s), " error: ", std::string(r.error));
  CHECK(r.ok());
  return r.micros;
}

std::string error_of_string(std::string_view s) {
  const auto r = parse_timestamp_string(s);
  return std::string(r.error);
}

std::string format(std::int64_t micros) {
  std::array<char, 40> buf{};
  return {buf.data(), format_timestamptz(micros, buf.data())};
}

}  // namespace

TEST_CASE("numbers: epoch milliseconds and seconds by the 10^11 rule") {
  CHECK(ok_number("1769541612369") == 1769541612369000);
  CHECK(ok_number("1769541612") == 1769541612000000);
  CHECK(ok_number("0") == 0);
  CHECK(ok_number("99999999999") == 99999999999000000);  // largest seconds value
  CHECK(ok_number("100000000000") == 100000000000000);   // smallest milliseconds value
  CHECK(ok_number("1769541612369.5") == 1769541612369500);
  CHECK(ok_number("1769541612.25") == 1769541612250000);
  CHECK(ok_number("1769541612369.0004") == 1769541612369000);  // rounds down
  CHECK(ok_number("1769541612369.0005") == 1769541612369001);  // rounds half up
  CHECK(ok_number("1769541612.0000005") == 1769541612000001);
  CHECK(ok_number("1.769541612369e12") == 1769541612369000);
  CHECK(ok_number("1769541612369E0") == 1769541612369000);
  CHECK(ok_number("17695416123695e-1") == 1769541612369500);
  CHECK(ok_number("1.769541612e+9") == 1769541612000000);
  CHECK(ok_number("0.5") == 500000);
  CHECK(ok_number("253402300799999") == 253402300799999000);  // 9999-12-31T23:59:59.999Z
}

TEST_CASE("numbers: rejected forms") {
  CHECK(parse_timestamp_number("-1").error == "timestamp: negative epoch value");
  CHECK(parse_timestamp_number("-1769541612369").error == "timestamp: negative epoch value");
  CHECK(parse_timestamp_number("").error == "timestamp: not a JSON number");
  CHECK(parse_timestamp_number("NaN").error == "timestamp: not a JSON number");
  CHECK(parse_timestamp_number("Infinity").error == "timestamp: not a JSON number");
  CHECK(parse_timestamp_number("01769541612").error == "timestamp: not a JSON number");
  CHECK(parse_timestamp_number("1769541612.").error == "timestamp: not a JSON number");
  CHECK(parse_timestamp_number(".5").error == "timestamp: not a JSON number");
  CHECK(parse_timestamp_number("1e").error == "timestamp: not a JSON number");
  CHECK(parse_timestamp_number("1769541612369 ").error == "timestamp: not a JSON number");
  CHECK(parse_timestamp_number("+1769541612369").error == "timestamp: not a JSON number");
  CHECK(parse_timestamp_number("1.7695416123691234e12").error ==
        "timestamp: exponent form is not a whole microsecond");
  CHECK(parse_timestamp_number("253402300800000").error ==
        "timestamp: out of range (years 1970..9999)");
  CHECK(parse_timestamp_number("99999999999999999999999999").error ==
        "timestamp: out of range (years 1970..9999)");
  CHECK(parse_timestamp_number("1e999999999999").error ==
        "timestamp: out of range (years 1970..9999)");
  CHECK(parse_timestamp_number("1e-999999999999").error ==
        "timestamp: exponent form is not a whole microsecond");
}

TEST_CASE("strings of digits follow the same rule") {
  CHECK(ok_string("1769541612369") == 1769541612369000);
  CHECK(ok_string("1769541612") == 1769541612000000);
  CHECK(ok_string("0") == 0);
  CHECK(ok_string("001769541612") == 1769541612000000);
  CHECK(error_of_string("99999999999999999999") == "timestamp: out of range (years 1970..9999)");
}

TEST_CASE("ISO-8601 forms from the contract") {
  const std::int64_t t = 1769541553629000;  // 2026-01-27T19:19:13.629Z
  CHECK(ok_string("2026-01-27T19:19:13.629Z") == t);
  CHECK(ok_string("2026-01-27T19:19:13.629z") == t);
  CHECK(ok_string("2026-01-27 19:19:13.629Z") == t);
  CHECK(ok_string("2026-01-27t19:19:13.629Z") == t);
  CHECK(ok_string("2026-01-27T21:19:13.629+02:00") == t);
  CHECK(ok_string("2026-01-27T21:19:13.629+0200") == t);
  CHECK(ok_string("2026-01-27T21:19:13.629+02") == t);
  CHECK(ok_string("2026-01-27T13:49:13.629-05:30") == t);
  CHECK(ok_string("2026-01-27T13:49:13.629-0530") == t);
  CHECK(ok_string("2026-01-27T19:19:13.629+00:00") == t);
  CHECK(ok_string("2026-01-27T19:19:13.629-00:00") == t);
  CHECK(ok_string("2026-01-27T19:19:13Z") == 1769541553000000);
  CHECK(ok_string("2026-01-27T19:19:13.6Z") == 1769541553600000);
  CHECK(ok_string("2026-01-27T19:19:13.123456Z") == 1769541553123456);
  CHECK(ok_string("2026-01-27T19:19:13.123456789Z") == 1769541553123456);  // truncated
  CHECK(ok_string("2026-01-27T19:19:13.999999999Z") == 1769541553999999);
  CHECK(ok_string("2026-01-28T00:30:00+05:30") == 1769540400000000);  // previous UTC day
}

TEST_CASE("ISO-8601 calendar and boundaries") {
  CHECK(ok_string("1970-01-01T00:00:00Z") == 0);
  CHECK(ok_string("1970-01-01T00:00:00.000001Z") == 1);
  CHECK(ok_string("1970-01-01T05:00:00+05:00") == 0);
  CHECK(error_of_string("1970-01-01T00:00:00+00:01") ==
        "timestamp: out of range (years 1970..9999)");
  CHECK(error_of_string("1969-12-31T23:59:59Z") == "timestamp: out of range (years 1970..9999)");
  CHECK(ok_string("9999-12-31T23:59:59.999999Z") == 253402300799999999);
  CHECK(error_of_string("9999-12-31T23:59:59-00:01") ==
        "timestamp: out of range (years 1970..9999)");
  CHECK(ok_string("2024-02-29T12:00:00Z") == 1709208000000000);
  CHECK(ok_string("2000-02-29T00:00:00Z") == 951782400000000);
  CHECK(error_of_string("2025-02-29T12:00:00Z") == "timestamp: day out of range");
  CHECK(error_of_string("1900-02-29T12:00:00Z") == "timestamp: day out of range");
  CHECK(error_of_string("2026-04-31T00:00:00Z") == "timestamp: day out of range");
  CHECK(error_of_string("2026-01-00T00:00:00Z") == "timestamp: day out of range");
  CHECK(ok_string("2025-12-31T23:59:59Z") == 1767225599000000);
}

TEST_CASE("ISO-8601 rejections with reasons") {
  CHECK(error_of_string("") == "timestamp: empty string");
  CHECK(error_of_string("yesterday") == "timestamp: not a valid ISO-8601 date-time");
  CHECK(error_of_string("2026-13-01T00:00:00Z") == "timestamp: month out of range");
  CHECK(error_of_string("2026-00-01T00:00:00Z") == "timestamp: month out of range");
  CHECK(error_of_string("2026-01-27T25:00:00Z") == "timestamp: hour out of range");
  CHECK(error_of_string("2026-01-27T24:00:00Z") == "timestamp: hour out of range");
  CHECK(error_of_string("2026-01-27T23:60:00Z") == "timestamp: minute out of range");
  CHECK(error_of_string("2026-01-27T23:59:60Z") == "timestamp: second out of range");
  CHECK(error_of_string("2026-01-27T19:19:13.629") == "timestamp: no time zone");
  CHECK(error_of_string("2026-01-27T19:19:13") == "timestamp: no time zone");
  CHECK(error_of_string("2026-01-27T19:19:13.629Zjunk") ==
        "timestamp: not a valid ISO-8601 date-time");
  CHECK(error_of_string("2026-01-27T19:19:13.629Z ") ==
        "timestamp: not a valid ISO-8601 date-time");
  CHECK(error_of_string(" 2026-01-27T19:19:13.629Z") ==
        "timestamp: not a valid ISO-8601 date-time");
  CHECK(error_of_string("2026-01-27T19:19:13.Z") == "timestamp: not a valid ISO-8601 date-time");
  CHECK(error_of_string("2026-01-27T19:19:13.1234567890Z") ==
        "timestamp: more than 9 fraction digits");
  CHECK(error_of_string("2026-01-27T19:19Z") == "timestamp: not a valid ISO-8601 date-time");
  CHECK(error_of_string("2026-01-27") == "timestamp: not a valid ISO-8601 date-time");
  CHECK(error_of_string("2026-1-27T19:19:13Z") == "timestamp: not a valid ISO-8601 date-time");
  CHECK(error_of_string("2026-01-27X19:19:13Z") == "timestamp: not a valid ISO-8601 date-time");
  CHECK(error_of_string("2026-01-27T19:19:13+19:00") == "timestamp: time zone offset out of range");
  CHECK(error_of_string("2026-01-27T19:19:13+18:01") == "timestamp: time zone offset out of range");
  CHECK(error_of_string("2026-01-27T19:19:13+05:60") == "timestamp: time zone offset out of range");
  CHECK(ok_string("2026-01-27T19:19:13+18:00") == 1769476753000000);
  CHECK(error_of_string("2026-01-27T19:19:13+5") == "timestamp: not a valid ISO-8601 date-time");
  CHECK(error_of_string("2026-01-27T19:19:13+05:0") == "timestamp: not a valid ISO-8601 date-time");
  CHECK(error_of_string("2026-01-27T19:19:13 Z") == "timestamp: not a valid ISO-8601 date-time");
  CHECK(error_of_string("1769541612369.5") == "timestamp: not a valid ISO-8601 date-time");
  CHECK(error_of_string(std::string("2026-01-27T19:19:13Z\0", 21)) ==
        "timestamp: not a valid ISO-8601 date-time");
}

TEST_CASE("format_timestamptz writes PostgreSQL input text") {
  CHECK(format(1769541553629000) == "2026-01-27 19:19:13.629+00");
  CHECK(format(1769541612369000) == "2026-01-27 19:20:12.369+00");
  CHECK(format(0) == "1970-01-01 00:00:00+00");
  CHECK(format(1) == "1970-01-01 00:00:00.000001+00");
  CHECK(format(1769541553123456) == "2026-01-27 19:19:13.123456+00");
  CHECK(format(1769541553100000) == "2026-01-27 19:19:13.1+00");
  CHECK(format(1709208000000000) == "2024-02-29 12:00:00+00");
  CHECK(format(253402300799999999) == "9999-12-31 23:59:59.999999+00");
}

TEST_CASE("format_timestamptz round-trips through the parser") {
  for (const std::int64_t micros : {std::int64_t{0}, std::int64_t{1}, std::int64_t{951782400000000},
                                    std::int64_t{1769541553629000}, std::int64_t{1769541553123456},
                                    std::int64_t{253402300799999999}}) {
    std::string text = format(micros);
    // The parser takes ISO-8601 zones with minutes; PostgreSQL's "+00" is the same instant.
    text.replace(text.size() - 3, 3, "Z");
    CHECK(ok_string(text) == micros);
  }
}

TEST_CASE("format_iso8601_ms writes the read API's instants: UTC, milliseconds, Z") {
  CHECK(ingestd::format_iso8601_ms(1769541553629000) == "2026-01-27T19:19:13.629Z");
  CHECK(ingestd::format_iso8601_ms(1769540400000000) == "2026-01-27T19:00:00.000Z");
  CHECK(ingestd::format_iso8601_ms(1769541553629999) == "2026-01-27T19:19:13.629Z");
  CHECK(ingestd::format_iso8601_ms(0) == "1970-01-01T00:00:00.000Z");
}
