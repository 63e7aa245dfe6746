#include "upstream/page_parser.hpp"

#include <simdjson.h>

#include <array>
#include <map>
#include <string_view>
#include <utility>

#include "common/buckets.hpp"
#include "common/text.hpp"
#include "common/timestamp.hpp"
#include "common/uuid.hpp"
#include "store/copy_text.hpp"
#include "store/event_columns.hpp"

namespace ingestd {
namespace {

namespace od = simdjson::ondemand;

// Parser buffers are sized by the largest page seen and reused: one parser per thread, since
// the fetcher and the decoder each parse on their own thread.
od::parser& thread_parser() {
  thread_local od::parser parser;
  return parser;
}

[[noreturn]] void throw_page_error(std::string_view what, simdjson::error_code error) {
  std::string message("page: ");
  message.append(what);
  if (error != simdjson::SUCCESS) message.append(": ").append(simdjson::error_message(error));
  throw PageError(message);
}

void check(simdjson::error_code error, std::string_view what) {
  if (error != simdjson::SUCCESS) throw_page_error(what, error);
}

// Keeps the padded copy alive for as long as the document when the body lacks spare capacity.
class PageDocument {
 public:
  explicit PageDocument(const std::string& body) {
    simdjson::error_code error;
    if (body.capacity() - body.size() >= simdjson::SIMDJSON_PADDING) {
      error = thread_parser()
                  .iterate(simdjson::padded_string_view(body.data(), body.size(), body.capacity()))
                  .get(doc_);
    } else {
      copy_ = simdjson::padded_string(body);
      error = thread_parser().iterate(copy_).get(doc_);
    }
    check(error, "the body is not JSON");
  }

  od::document& doc() { return doc_; }

  // Called after the root object has been consumed.
  void expect_end() {
    const simdjson::error_code error = doc_.current_location().error();
    if (error != simdjson::OUT_OF_BOUNDS)
      throw_page_error("trailing content after the JSON object", {});
  }

  // Where the next token starts; used to take the raw text of a value just consumed.
  const char* position() {
    const char* at = nullptr;
    check(doc_.current_location().get(at), "the body ends inside the data array");
    return at;
  }

 private:
  simdjson::padded_string copy_;
  od::document doc_;
};

std::string_view text_between(const char* begin, const char* end) {
  return trim_json_space(std::string_view(begin, static_cast<std::size_t>(end - begin)));
}

std::optional<std::int64_t> optional_int(od::value value, std::string_view name) {
  bool is_null = false;
  check(value.is_null().get(is_null), name);
  if (is_null) return std::nullopt;
  std::int64_t result = 0;
  if (value.get_int64().get(result)) {
    throw_page_error(std::string(name) + " is not an integer", {});
  }
  return result;
}

std::optional<std::string_view> optional_string(od::value value, std::string_view name) {
  bool is_null = false;
  check(value.is_null().get(is_null), name);
  if (is_null) return std::nullopt;
  std::string_view result;
  if (value.get_string().get(result)) throw_page_error(std::string(name) + " is not a string", {});
  return result;
}

od::object get_object(od::value value, std::string_view what) {
  od::object object;
  check(value.get_object().get(object), what);
  return object;
}

// Calls on_field(key, value) for each member of the object; key is nullopt when it is not a
// valid JSON string (the value is still visited, so the walk stays in step with the document).
// A broken document throws PageError naming `what`.
template <typename OnField>
void for_each_field(od::object& object, std::string_view what, OnField on_field) {
  for (auto field : object) {
    std::string_view key;
    od::value value;
    check(field.error(), what);
    const bool bad_key = field.unescaped_key().get(key) != simdjson::SUCCESS;
    check(field.value().get(value), what);
    on_field(bad_key ? std::nullopt : std::optional<std::string_view>(key), value);
  }
}

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

// ---- events -------------------------------------------------------------------------------

using Column = EventColumnIndex;
constexpr std::size_t kColumnCount = kEventColumnCount;

// Reasons are literals so that an event's outcome needs no allocation until it is stored.
struct OptionalField {
  Column column;
  std::string_view nul_reason;
  std::string_view invalid_reason;

  std::string_view key() const { return kEventColumns[column].json_key; }
  bool jsonb() const { return kEventColumns[column].sql_type == "jsonb"; }
};

constexpr std::array<OptionalField, 6> kOptionalFields{{
    {kType, "type contains a NUL character", "type is not valid JSON"},
    {kName, "name contains a NUL character", "name is not valid JSON"},
    {kUserId, "userId contains a NUL character", "userId is not valid JSON"},
    {kSessionId, "sessionId contains a NUL character", "sessionId is not valid JSON"},
    {kProperties, "properties contains a NUL character", "properties is not valid JSON"},
    {kSession, "session contains a NUL character", "session is not valid JSON"},
}};

bool is_json_number(std::string_view s) {
  std::size_t i = 0;
  const auto digits = [&] {
    const std::size_t first = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    return i > first;
  };
  if (i < s.size() && s[i] == '-') ++i;
  if (i < s.size() && s[i] == '0') {
    ++i;
  } else if (!digits()) {
    return false;
  }
  if (i < s.size() && s[i] == '.') {
    ++i;
    if (!digits()) return false;
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    if (!digits()) return false;
  }
  return i == s.size();
}

enum class JsonCheck { ok, invalid, nul };

// Walks a value completely. Skipping (what on-demand parsing does with values it is not asked
// for) only balances brackets, while jsonb and text columns need every string, number and
// literal to be valid and free of NUL.
JsonCheck check_json(od::value value);

JsonCheck check_json(od::value value) {
  od::json_type type;
  if (value.type().get(type)) return JsonCheck::invalid;
  JsonCheck worst = JsonCheck::ok;
  const auto note = [&worst](JsonCheck c) {
    if (c != JsonCheck::ok && worst == JsonCheck::ok) worst = c;
  };
  switch (type) {
    case od::json_type::object: {
      od::object object;
      check(value.get_object().get(object), "broken event");
      for_each_field(object, "broken event",
                     [&](std::optional<std::string_view> key, od::value member) {
                       if (!key) {
                         note(JsonCheck::invalid);
                       } else if (contains_nul(*key)) {
                         note(JsonCheck::nul);
                       }
                       note(check_json(member));
                     });
      return worst;
    }
    case od::json_type::array: {
      od::array array;
      check(value.get_array().get(array), "broken event");
      for (auto element : array) {
        od::value member;
        check(element.get(member), "broken event");
        note(check_json(member));
      }
      return worst;
    }
    case od::json_type::string: {
      std::string_view s;
      if (value.get_string().get(s)) return JsonCheck::invalid;
      return contains_nul(s) ? JsonCheck::nul : JsonCheck::ok;
    }
    case od::json_type::number:
      return is_json_number(trim_json_space(value.raw_json_token())) ? JsonCheck::ok
                                                                     : JsonCheck::invalid;
    case od::json_type::boolean:
    case od::json_type::null: {
      const std::string_view token = trim_json_space(value.raw_json_token());
      return token == "true" || token == "false" || token == "null" ? JsonCheck::ok
                                                                    : JsonCheck::invalid;
    }
  }
  return JsonCheck::invalid;
}

struct ColumnValue {
  bool present = false;  // false: SQL NULL
  std::string_view text;
};

class EventDecoder {
 public:
  EventDecoder(PageDocument& document, DecodedPage& page) : document_(document), page_(page) {}

  // Moves the per-minute counts into the page once every event is decoded.
  void finish() {
    page_.minute_counts.reserve(minutes_.size());
    for (auto& [key, count] : minutes_) {
      page_.minute_counts.push_back({key.first, key.second, count});
    }
    minutes_.clear();
  }

  void decode(od::value element) {
    ++position_;
    const char* begin = element.raw_json_token().data();
    od::json_type type;
    check(element.type().get(type), "broken data array");
    if (type != od::json_type::object) {
      std::string_view raw = trim_json_space(element.raw_json_token());
      if (type == od::json_type::array) {
        od::array array;
        check(element.get_array().get(array), "broken data array");
        check(array.raw_json().get(raw), "broken data array");
      }
      id_reason_ = "event is not an object";
      quarantine(trim_json_space(raw), "event is not an object");
      return;
    }
    reset();
    od::object object;
    check(element.get_object().get(object), "broken data array");
    for_each_field(object, "broken event",
                   [&](std::optional<std::string_view> key, od::value value) {
                     if (key) {
                       read_field(*key, value);
                     } else {
                       note_other("event has a key that is not a valid JSON string");
                     }
                   });
    const std::string_view raw = text_between(begin, document_.position());
    if (!id_reason_.empty()) return quarantine(raw, id_reason_);
    if (!timestamp_reason_.empty()) return quarantine(raw, timestamp_reason_);
    if (!other_reason_.empty()) return quarantine(raw, other_reason_);
    append_row();
  }

 private:
  void reset() {
    columns_.fill(ColumnValue{});
    id_reason_ = "missing id";
    timestamp_reason_ = "timestamp: missing";
    other_reason_ = {};
  }

  void note_other(std::string_view reason) {
    if (other_reason_.empty()) other_reason_ = reason;
  }

  void read_field(std::string_view key, od::value value) {
    if (key == kEventColumns[kId].json_key) return read_id(value);
    if (key == kEventColumns[kOccurredAt].json_key) return read_timestamp(value);
    for (const OptionalField& spec : kOptionalFields) {
      if (key == spec.key()) return read_optional(spec, value);
    }
  }

  void read_id(od::value value) {
    std::string_view id;
    od::json_type type;
    check(value.type().get(type), "broken event");
    if (type != od::json_type::string) {
      id_reason_ = "id is not a string";
    } else if (value.get_string().get(id)) {
      id_reason_ = "id is not a valid JSON string";
    } else if (!normalize_uuid(id, id_)) {
      id_reason_ = "id is not a UUID";
    } else {
      id_reason_ = {};
    }
  }

  void read_timestamp(od::value value) {
    od::json_type type;
    check(value.type().get(type), "broken event");
    TimestampResult result;
    if (type == od::json_type::number) {
      result = parse_timestamp_number(trim_json_space(value.raw_json_token()));
    } else if (type == od::json_type::string) {
      std::string_view s;
      if (value.get_string().get(s)) {
        result.error = "timestamp: not a valid JSON string";
      } else {
        result = parse_timestamp_string(s);
      }
    } else if (type == od::json_type::null) {
      result.error = "timestamp: null";
    } else {
      result.error = "timestamp: neither a number nor a string";
    }
    timestamp_reason_ = result.error;
    occurred_at_ = result.micros;
  }

  void read_optional(const OptionalField& spec, od::value value) {
    ColumnValue& column = columns_[spec.column];
    const char* begin = value.raw_json_token().data();
    od::json_type type;
    check(value.type().get(type), "broken event");
    if (type == od::json_type::null) {
      column = {};
      return;
    }
    if (type == od::json_type::string && !spec.jsonb()) {
      std::string_view s;
      if (value.get_string().get(s)) {
        note_other(spec.invalid_reason);
      } else if (contains_nul(s)) {
        note_other(spec.nul_reason);
      }
      column = {true, s};
      return;
    }
    const bool composite = type == od::json_type::object || type == od::json_type::array;
    const std::string_view token = trim_json_space(value.raw_json_token());
    switch (check_json(value)) {
      case JsonCheck::ok:
        break;
      case JsonCheck::invalid:
        note_other(spec.invalid_reason);
        break;
      case JsonCheck::nul:
        note_other(spec.nul_reason);
        break;
    }
    column = {true, composite ? text_between(begin, document_.position()) : token};
  }

  void append_row() {
    std::string& out = page_.copy_rows;
    out.append(id_.data(), id_.size());
    out.push_back('\t');
    std::array<char, 40> stamp{};
    out.append(stamp.data(), format_timestamptz(occurred_at_, stamp.data()));
    for (std::size_t c = kType; c < kColumnCount; ++c) {
      out.push_back('\t');
      if (columns_[c].present) {
        append_copy_text(out, columns_[c].text);
      } else {
        out.append("\\N");
      }
    }
    out.push_back('\n');
    ++page_.row_count;
    const std::int64_t minute_s = floor_to(occurred_at_, kMinuteUs) / 1'000'000;
    ++minutes_[{std::string(columns_[kType].present ? columns_[kType].text : std::string_view()),
                minute_s}];
  }

  void quarantine(std::string_view raw, std::string_view reason) {
    QuarantinedEvent& event = page_.quarantined.emplace_back();
    event.index = position_ - 1;
    if (id_reason_.empty()) event.id.assign(id_.data(), id_.size());
    event.raw.assign(raw);
    // The quarantine table keeps raw as text, which cannot hold NUL bytes (JSON only allows
    // them escaped, but a broken body can carry them outside strings).
    for (char& c : event.raw) {
      if (c == '\0') c = ' ';
    }
    event.reason.assign(reason);
  }

  PageDocument& document_;
  DecodedPage& page_;
  std::map<std::pair<std::string, std::int64_t>, std::int64_t> minutes_;
  std::array<ColumnValue, kColumnCount> columns_{};
  std::array<char, 36> id_{};
  std::int64_t occurred_at_ = 0;
  std::size_t position_ = 0;  // events seen so far, quarantined ones included
  std::string_view id_reason_;
  std::string_view timestamp_reason_;
  std::string_view other_reason_;
};

}  // namespace

namespace {

PageInfo peek_unchecked(const std::string& body) {
  PageDocument document(body);
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

PageInfo peek_page_info(const std::string& body) {
  try {
    return peek_unchecked(body);
  } catch (const PageError& e) {
    if (auto foreign = foreign_envelope(body, e)) throw ContractError(*foreign);
    throw;
  }
}

DecodedPage decode_page(const std::string& body) {
  PageDocument document(body);
  od::object root;
  check(document.doc().get_object().get(root), "the body is not a JSON object");
  DecodedPage page;
  // COPY text is about as long as the JSON it comes from.
  page.copy_rows.reserve(body.size());
  EventDecoder decoder(document, page);
  bool has_data = false;
  for_each_field(root, "broken envelope",
                 [&](std::optional<std::string_view> key, od::value value) {
                   if (!key) throw_page_error("broken envelope", {});
                   if (key != "data") return;
                   od::array data;
                   check(value.get_array().get(data), "data is not an array");
                   for (auto element : data) {
                     od::value event;
                     check(element.get(event), "broken data array");
                     decoder.decode(event);
                   }
                   has_data = true;
                 });
  document.expect_end();
  if (!has_data) throw_page_error("data is missing", {});
  decoder.finish();
  return page;
}

}  // namespace ingestd
