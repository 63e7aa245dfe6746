#include "serve/query_params.hpp"

#include <array>
#include <regex>

#include "common/text.hpp"
#include "common/timestamp.hpp"
#include "common/uuid.hpp"

namespace ingestd {

namespace {

std::optional<std::int64_t> ok(const TimestampResult& r) {
  return r.ok() ? std::optional<std::int64_t>(r.micros) : std::nullopt;
}

}  // namespace

std::optional<std::int64_t> parse_query_instant(std::string_view raw) {
  const std::string_view text = trim(raw);
  if (text.empty() || text.size() > 64) return std::nullopt;
  if (auto r = ok(parse_timestamp_string(text))) return r;
  if (text.find_first_not_of("0123456789.") == std::string_view::npos) {
    return ok(parse_timestamp_number(text));
  }
  static const std::regex date(R"(^\d{4}-\d{2}-\d{2}$)");
  static const std::regex zoneless(R"(^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?$)");
  static const std::regex spaced_offset(
      R"(^(\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?) (\d{2}(:?\d{2})?)$)");
  const std::string s(text);
  if (std::regex_match(s, date)) return ok(parse_timestamp_string(s + "T00:00:00Z"));
  if (std::regex_match(s, zoneless)) return ok(parse_timestamp_string(s + "Z"));
  std::smatch m;
  if (std::regex_match(s, m, spaced_offset)) {
    return ok(parse_timestamp_string(m[1].str() + "+" + m[3].str()));
  }
  return std::nullopt;
}

std::string parse_user_id(std::string_view text, bool uuid) {
  std::array<char, 36> id{};
  if (!uuid) {
    if (text.empty() || text.size() > 1024) {
      throw BadRequest("user_id", "user_id: must be 1 to 1024 bytes");
    }
    return std::string(text);
  }
  if (!normalize_uuid(text, id)) {
    throw BadRequest("user_id",
                     "user_id: must be a UUID such as "
                     "1f2a12b4-1bdc-463d-ba74-f6d849f5b76f");
  }
  return std::string(id.data(), id.size());
}

}  // namespace ingestd
