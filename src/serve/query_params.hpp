#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace ingestd {

// A request the read API refuses with 400; `parameter` is the one at fault.
class BadRequest : public std::runtime_error {
 public:
  BadRequest(std::string parameter, const std::string& message)
      : std::runtime_error(message), parameter_(std::move(parameter)) {}
  const std::string& parameter() const { return parameter_; }

 private:
  std::string parameter_;
};

// A time in a query string, as epoch microseconds: every form the ingest normaliser reads
// (ISO-8601 with a zone, epoch seconds or milliseconds, with a fraction too), a plain date
// (2026-01-27, midnight UTC) and a date and time without a zone (2026-01-27 19:00:00 or with a
// T, read as UTC). A '+' of a zone offset that arrived as a space (an unencoded '+' in a query
// string) is taken as '+'. nullopt when none of these.
std::optional<std::int64_t> parse_query_instant(std::string_view text);

// The lowercase form of a UUID user id; BadRequest naming user_id otherwise.
// A UUID, lowercased; with `uuid` false (a profile stream's users, stored as sent) the text as
// it is.
std::string parse_user_id(std::string_view text, bool uuid = true);

}  // namespace ingestd
