#include "decode/mapped_decoder.hpp"

#include <simdjson.h>

#include <map>
#include <utility>

#include "common/buckets.hpp"
#include "common/timestamp.hpp"
#include "common/uuid.hpp"
#include "decode/copy_text.hpp"
#include "decode/json_walk.hpp"

namespace ingestd {

namespace {

namespace dom = simdjson::dom;

struct Mapped {
  bool present = false;  // false: SQL NULL
  std::string text;
};

// A string as itself, anything else but null as its JSON text.
Mapped mapped_text(dom::element record, const std::string& pointer) {
  if (pointer.empty()) return {};
  dom::element value;
  if (record.at_pointer(pointer).get(value) != simdjson::SUCCESS || value.is_null()) return {};
  if (value.is_string()) return {true, std::string(value.get_string().value_unsafe())};
  return {true, simdjson::minify(value)};
}

class MappedDecoder {
 public:
  MappedDecoder(const FieldPointers& fields, DecodedPage& page) : fields_(fields), page_(page) {}

  void decode(dom::element record, std::size_t index) {
    std::string raw = simdjson::minify(record);
    if (!record.is_object()) return quarantine(std::move(raw), "event is not an object", index);
    if (json_has_nul(raw)) {
      return quarantine(std::move(raw), "event contains a NUL character", index);
    }
    dom::element id;
    std::string id_text;
    if (record.at_pointer(fields_.id).get(id) != simdjson::SUCCESS || id.is_null()) {
      return quarantine(std::move(raw), "missing id at " + fields_.id, index);
    }
    if (id.is_string()) {
      id_text = std::string(id.get_string().value_unsafe());
    } else if (id.is_int64() || id.is_uint64()) {
      id_text = simdjson::minify(id);
    } else {
      return quarantine(std::move(raw),
                        "id at " + fields_.id + " is neither a string nor an integer", index);
    }
    if (id_text.empty())
      return quarantine(std::move(raw), "id at " + fields_.id + " is empty", index);
    if (id_text.size() > kMaxIdBytes) {
      return quarantine(std::move(raw), "id at " + fields_.id + " is longer than 1024 bytes",
                        index);
    }
    dom::element stamp;
    TimestampResult at;
    if (record.at_pointer(fields_.timestamp).get(stamp) != simdjson::SUCCESS) {
      at.error = "missing";
    } else if (stamp.is_number()) {
      at = parse_timestamp_number(simdjson::minify(stamp));
    } else if (stamp.is_string()) {
      at = parse_timestamp_string(stamp.get_string().value_unsafe());
    } else {
      at.error = stamp.is_null() ? "null" : "neither a number nor a string";
    }
    if (!at.ok()) {
      return quarantine(std::move(raw),
                        "timestamp at " + fields_.timestamp + ": " + std::string(at.error), index);
    }
    const Mapped type = mapped_text(record, fields_.type);
    const Mapped user = mapped_text(record, fields_.user);
    const Mapped session = mapped_text(record, fields_.session);

    std::string& out = page_.copy_rows;
    std::array<char, 36> uuid{};
    if (normalize_uuid(id_text, uuid) && std::string_view(uuid.data(), uuid.size()) == id_text) {
      out.append(id_text).append("\t\\N\t");
    } else {
      out.append("\\N\t");
      append_copy_text(out, id_text);
      out.push_back('\t');
    }
    std::array<char, 40> text{};
    out.append(text.data(), format_timestamptz(at.micros, text.data()));
    for (const Mapped* m : {&type, &user, &session}) {
      out.push_back('\t');
      if (m->present) {
        append_copy_text(out, m->text);
      } else {
        out.append("\\N");
      }
    }
    out.push_back('\t');
    append_copy_text(out, raw);
    out.push_back('\n');
    ++page_.row_count;
    ++minutes_[{type.present ? type.text : std::string(),
                floor_to(at.micros, kMinuteUs) / 1'000'000}];
  }

  void finish() {
    for (auto& [key, count] : minutes_)
      page_.minute_counts.push_back({key.first, key.second, count});
  }

 private:
  // JSON may carry NUL escaped; text and jsonb columns refuse it either way.
  static bool json_has_nul(std::string_view raw) {
    return contains_nul(raw) || raw.find("\\u0000") != std::string_view::npos;
  }

  void quarantine(std::string raw, std::string reason, std::size_t index) {
    QuarantinedEvent& q = page_.quarantined.emplace_back();
    for (char& c : raw) {
      if (c == '\0') c = ' ';
    }
    q.raw = std::move(raw);
    q.reason = std::move(reason);
    q.index = index;
  }

  const FieldPointers& fields_;
  DecodedPage& page_;
  std::map<std::pair<std::string, std::int64_t>, std::int64_t> minutes_;
};

}  // namespace

DecodedPage decode_mapped_page(const std::string& body, std::string_view records,
                               const FieldPointers& fields) {
  thread_local dom::parser parser;
  dom::element root;
  json::check(parser.parse(body).get(root), "the body is not JSON");
  dom::array array;
  if (root.at_pointer(records).get_array().get(array) != simdjson::SUCCESS) {
    json::throw_page_error("records at \"" + std::string(records) + "\" are not an array");
  }
  DecodedPage page;
  page.copy_rows.reserve(body.size() * 2);
  MappedDecoder decoder(fields, page);
  std::size_t index = 0;
  for (dom::element record : array) decoder.decode(record, index++);
  decoder.finish();
  return page;
}

}  // namespace ingestd
