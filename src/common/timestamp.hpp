#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ingestd {

// Instants are microseconds since 1970-01-01T00:00:00Z. Accepted instants lie in years
// 1970..9999: earlier ones are not in the upstream dataset and later ones do not fit the
// four-digit year that the COPY text of a timestamptz column is written with.
struct TimestampResult {
  std::int64_t micros = 0;
  // A static string literal naming the reason; empty on success.
  std::string_view error;
  bool ok() const { return error.empty(); }
};

// Parses the raw text of a JSON number token. Values below 10^11 are epoch seconds, others
// epoch milliseconds (10^11 ms is in 1973, 10^11 s in 5138, so the ranges cannot be confused
// for this dataset). The decimal value is converted exactly, never through a double. A plain
// fraction is rounded half-up to whole microseconds; a number in exponent form is accepted only
// when it denotes a whole number of microseconds. Negative values, NaN, infinities and anything
// that is not JSON number syntax are rejected.
TimestampResult parse_timestamp_number(std::string_view raw_json_number);

// Parses unescaped JSON string content: either digits only (epoch seconds or milliseconds by
// the same 10^11 rule) or ISO-8601 "YYYY-MM-DD(T|t| )HH:MM:SS[.f]zone" where f has 1..9 digits
// (truncated to microseconds) and zone is Z, z, +HH:MM, -HH:MM, +HHMM, -HHMM, +HH or -HH within
// 18 hours. A time without a zone is rejected because its instant is ambiguous; second 60 is
// rejected because PostgreSQL cannot store a leap second either.
TimestampResult parse_timestamp_string(std::string_view s);

// Parses an HTTP-date in the IMF-fixdate form every HTTP/1.1 server sends
// ("Sun, 06 Nov 1994 08:49:37 GMT", RFC 9110) into epoch seconds; nullopt for anything else.
std::optional<std::int64_t> parse_http_date(std::string_view s);

// Writes the instant as PostgreSQL timestamptz input text, for example
// "2026-01-27 19:19:13.629+00": UTC, trailing zeros of the fraction trimmed, no fraction when
// it is zero. `out` must hold at least 40 bytes. Returns the end of the written text.
// Precondition: the instant lies in years 1970..9999, as every parsed instant does.
char* format_timestamptz(std::int64_t micros, char* out);

// "2026-01-27T19:19:13.629Z": UTC, milliseconds (truncated), as the read API answers.
// Same precondition.
std::string format_iso8601_ms(std::int64_t micros);

}  // namespace ingestd
