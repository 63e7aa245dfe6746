#include "decode/decoder.hpp"

#include <array>
#include <map>
#include <string_view>
#include <utility>
#include <vector>

#include "common/buckets.hpp"
#include "common/text.hpp"
#include "common/timestamp.hpp"
#include "common/uuid.hpp"
#include "decode/copy_text.hpp"
#include "decode/json_walk.hpp"
#include "decode/mapped_decoder.hpp"
#include "ingestd/event.hpp"

namespace ingestd {
namespace {

using namespace json;

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

struct ColumnValue {
  bool present = false;  // false: SQL NULL
  std::string_view text;
};

class EventDecoder {
 public:
  EventDecoder(Document& document, DecodedPage& page) : document_(document), page_(page) {}

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

  Document& document_;
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

// The pointer's reference tokens, unescaped (~1 is '/', ~0 is '~').
std::vector<std::string> pointer_tokens(std::string_view pointer) {
  std::vector<std::string> tokens;
  if (pointer.empty()) return tokens;
  if (pointer.front() != '/') throw_page_error("records pointer does not start with '/'");
  for (std::size_t at = 1;;) {
    const std::size_t end = std::min(pointer.find('/', at), pointer.size());
    std::string token;
    for (std::size_t i = at; i < end; ++i) {
      if (pointer[i] == '~' && i + 1 < end && (pointer[i + 1] == '0' || pointer[i + 1] == '1')) {
        token.push_back(pointer[++i] == '0' ? '~' : '/');
      } else {
        token.push_back(pointer[i]);
      }
    }
    tokens.push_back(std::move(token));
    if (end == pointer.size()) return tokens;
    at = end + 1;
  }
}

// Finds the records array below `value` along tokens[depth...] (object members only) and
// decodes each element; the rest of the document is skipped structurally. True when found.
bool decode_at(od::value value, const std::vector<std::string>& tokens, std::size_t depth,
               EventDecoder& decoder) {
  if (depth == tokens.size()) {
    od::array records;
    check(value.get_array().get(records), "records are not an array");
    for (auto element : records) {
      od::value event;
      check(element.get(event), "broken records array");
      decoder.decode(event);
    }
    return true;
  }
  od::object object = get_object(
      value, depth == 0 ? "the body is not a JSON object"
                        : "/" + tokens[depth - 1] + " on the records' path is not an object");
  bool found = false;
  for_each_field(object, "broken envelope",
                 [&](std::optional<std::string_view> key, od::value member) {
                   if (!key) throw_page_error("broken envelope");
                   if (!found && *key == tokens[depth])
                     found = decode_at(member, tokens, depth + 1, decoder);
                 });
  return found;
}

}  // namespace

DecodedPage decode_page(const std::string& body, std::string_view records) {
  const std::vector<std::string> tokens = pointer_tokens(records);
  Document document(body);
  od::value root;
  check(document.doc().get_value().get(root), "the body is not a JSON object or array");
  DecodedPage page;
  // COPY text is about as long as the JSON it comes from.
  page.copy_rows.reserve(body.size());
  EventDecoder decoder(document, page);
  const bool found = decode_at(root, tokens, 0, decoder);
  document.expect_end();
  if (!found)
    throw_page_error(tokens.size() == 1 ? tokens[0] + " is missing"
                                        : std::string(records) + " is missing");
  decoder.finish();
  return page;
}

DecodedBatch decode_batch(RawPage&& raw) {
  DecodedBatch batch;
  batch.page = raw.fields ? decode_mapped_page(raw.body, raw.records, *raw.fields)
                          : decode_page(raw.body, raw.records);
  batch.number = raw.number;
  batch.cursor_used = std::move(raw.cursor_used);
  batch.info = std::move(raw.info);
  return batch;
}

}  // namespace ingestd
