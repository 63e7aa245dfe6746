#include "upstream/envelope.hpp"

#include <simdjson.h>

#include <algorithm>
#include <string_view>

#include "common/text.hpp"
#include "common/timestamp.hpp"
#include "decode/json_walk.hpp"

namespace ingestd {
namespace {

using namespace json;

void read_pagination(od::value value, PageInfo& info) {
  bool has_more_seen = false;
  od::object object = get_object(value, "pagination is not an object");
  for_each_field(object, "broken pagination",
                 [&](std::optional<std::string_view> key, od::value member) {
                   if (!key) throw_page_error("broken pagination", {});
                   if (key == "hasMore") {
                     if (member.get_bool().get(info.has_more)) {
                       throw_page_error("pagination.hasMore is not a boolean", {});
                     }
                     has_more_seen = true;
                   } else if (key == "nextCursor") {
                     const auto cursor = optional_string(member, "pagination.nextCursor");
                     info.next_cursor = cursor ? std::optional<std::string>(*cursor) : std::nullopt;
                   } else if (key == "cursorExpiresIn") {
                     info.cursor_expires_in_s = optional_int(member, "pagination.cursorExpiresIn");
                   } else if (key == "limit") {
                     info.limit = optional_int(member, "pagination.limit");
                   }
                 });
  if (!has_more_seen) throw_page_error("pagination.hasMore is missing", {});
}

void read_meta(od::value value, PageInfo& info) {
  od::object object = get_object(value, "meta is not an object");
  for_each_field(object, "broken meta", [&](std::optional<std::string_view> key, od::value member) {
    if (!key) throw_page_error("broken meta", {});
    if (key == "total") {
      info.total = optional_int(member, "meta.total");
    } else if (key == "returned") {
      info.returned = optional_int(member, "meta.returned");
    } else if (key == "requestId") {
      info.request_id.assign(optional_string(member, "meta.requestId").value_or(""));
    }
  });
}

// Widens [oldest, newest] by the event's timestamp when it has a readable one.
void note_instant(od::value event, PageInfo& info) {
  od::object object;
  if (event.get_object().get(object) != simdjson::SUCCESS) return;
  for_each_field(object, "broken event",
                 [&](std::optional<std::string_view> key, od::value member) {
                   if (key != "timestamp") return;
                   TimestampResult at;
                   od::json_type type;
                   std::string_view text;
                   if (member.type().get(type) != simdjson::SUCCESS) return;
                   if (type == od::json_type::number) {
                     at = parse_timestamp_number(trim_json_space(member.raw_json_token()));
                   } else if (type == od::json_type::string &&
                              member.get_string().get(text) == simdjson::SUCCESS) {
                     at = parse_timestamp_string(text);
                   } else {
                     return;
                   }
                   if (!at.ok()) return;
                   info.newest_us = std::max(info.newest_us.value_or(at.micros), at.micros);
                   info.oldest_us = std::min(info.oldest_us.value_or(at.micros), at.micros);
                 });
}

PageInfo peek_unchecked(const std::string& body, bool time_span) {
  Document document(body);
  od::object root;
  check(document.doc().get_object().get(root), "the body is not a JSON object");
  PageInfo info;
  bool has_data = false;
  bool has_pagination = false;
  for_each_field(root, "broken envelope",
                 [&](std::optional<std::string_view> key, od::value value) {
                   if (!key) throw_page_error("broken envelope", {});
                   if (key == "data") {
                     od::array data;
                     check(value.get_array().get(data), "data is not an array");
                     std::size_t count = 0;
                     for (auto element : data) {
                       check(element.error(), "broken data array");
                       ++count;
                       if (time_span) note_instant(element.value_unsafe(), info);
                     }
                     info.data_count = count;
                     has_data = true;
                   } else if (key == "pagination") {
                     read_pagination(value, info);
                     has_pagination = true;
                   } else if (key == "meta") {
                     read_meta(value, info);
                   }
                 });
  document.expect_end();
  if (!has_data) throw_page_error("data is missing", {});
  if (!has_pagination) throw_page_error("pagination is missing", {});
  if (info.returned && *info.returned != static_cast<std::int64_t>(info.data_count)) {
    throw PageError("page: meta.returned is " + std::to_string(*info.returned) + " but data has " +
                    std::to_string(info.data_count) + " events");
  }
  if (info.has_more && !info.next_cursor) {
    throw_page_error("pagination.hasMore is true but pagination.nextCursor is missing", {});
  }
  return info;
}

// For a body peek_unchecked refused: what makes a complete, valid JSON document not an events
// page, or nullopt when the body is not complete, valid JSON (a transient fault).
std::optional<std::string> foreign_envelope(const std::string& body, const PageError& error) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(body.data(), body.size()).get(root) != simdjson::SUCCESS) return std::nullopt;
  simdjson::dom::object object;
  if (root.get_object().get(object) != simdjson::SUCCESS) return "is not a JSON object";
  simdjson::dom::array data;
  if (object["data"].get_array().get(data) != simdjson::SUCCESS) return R"(has no "data" array)";
  simdjson::dom::object pagination;
  if (object["pagination"].get_object().get(pagination) != simdjson::SUCCESS) {
    return R"(has no "pagination" object)";
  }
  bool has_more = false;
  if (pagination["hasMore"].get_bool().get(has_more) != simdjson::SUCCESS) {
    return R"(has no boolean "pagination.hasMore")";
  }
  std::string_view cursor;
  if (has_more && pagination["nextCursor"].get_string().get(cursor) != simdjson::SUCCESS) {
    return R"(says "hasMore": true but has no "pagination.nextCursor" string)";
  }
  std::string what = error.what();
  if (what.starts_with("page: ")) what.erase(0, 6);
  return "is not an events page: " + what;
}

}  // namespace

PageInfo peek_page_info(const std::string& body, bool time_span) {
  try {
    return peek_unchecked(body, time_span);
  } catch (const PageError& e) {
    if (auto foreign = foreign_envelope(body, e)) throw ContractError(*foreign);
    throw;
  }
}

}  // namespace ingestd
