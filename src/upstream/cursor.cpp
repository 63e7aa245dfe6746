#include "upstream/cursor.hpp"

#include <simdjson.h>

#include <array>
#include <charconv>
#include <limits>

#include "common/text.hpp"

namespace ingestd {
namespace {

struct Base64Style {
  bool url = false;
  bool padded = false;
};

constexpr std::string_view kStandardAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr std::string_view kUrlAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

constexpr std::uint8_t kInvalid = 0xff;

// One table for both alphabets; which alphabet was used is checked separately so that a
// mixture of the two is rejected.
constexpr std::array<std::uint8_t, 256> make_decode_table() {
  std::array<std::uint8_t, 256> table{};
  table.fill(kInvalid);
  for (std::size_t i = 0; i < 64; ++i) {
    table[static_cast<unsigned char>(kStandardAlphabet[i])] = static_cast<std::uint8_t>(i);
    table[static_cast<unsigned char>(kUrlAlphabet[i])] = static_cast<std::uint8_t>(i);
  }
  return table;
}

constexpr std::array<std::uint8_t, 256> kDecodeTable = make_decode_table();

std::optional<std::string> base64_decode(std::string_view in, Base64Style& style) {
  const std::size_t padding_start = in.find('=');
  std::string_view body = in;
  if (padding_start != std::string_view::npos) {
    const std::string_view padding = in.substr(padding_start);
    if (padding.size() > 2 || padding.find_first_not_of('=') != std::string_view::npos ||
        in.size() % 4 != 0) {
      return std::nullopt;
    }
    body = in.substr(0, padding_start);
    style.padded = true;
  } else {
    style.padded = !in.empty() && in.size() % 4 == 0;
  }
  if (body.empty() || body.size() % 4 == 1) return std::nullopt;
  bool standard_chars = false;
  bool url_chars = false;
  std::string out;
  out.reserve(body.size() / 4 * 3 + 2);
  std::uint32_t bits = 0;
  int bit_count = 0;
  for (const char c : body) {
    const std::uint8_t v = kDecodeTable[static_cast<unsigned char>(c)];
    if (v == kInvalid) return std::nullopt;
    standard_chars |= c == '+' || c == '/';
    url_chars |= c == '-' || c == '_';
    bits = (bits << 6) | v;
    bit_count += 6;
    if (bit_count >= 8) {
      bit_count -= 8;
      out.push_back(static_cast<char>((bits >> bit_count) & 0xff));
    }
  }
  if (standard_chars && url_chars) return std::nullopt;
  style.url = url_chars;
  if (url_chars && padding_start == std::string_view::npos) style.padded = false;
  return out;
}

std::string base64_encode(std::string_view in, Base64Style style) {
  const std::string_view alphabet = style.url ? kUrlAlphabet : kStandardAlphabet;
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::uint32_t bits = 0;
  int bit_count = 0;
  for (const char c : in) {
    bits = (bits << 8) | static_cast<unsigned char>(c);
    bit_count += 8;
    while (bit_count >= 6) {
      bit_count -= 6;
      out.push_back(alphabet[(bits >> bit_count) & 0x3f]);
    }
  }
  if (bit_count > 0) out.push_back(alphabet[(bits << (6 - bit_count)) & 0x3f]);
  if (style.padded) {
    while (out.size() % 4 != 0) out.push_back('=');
  }
  return out;
}

struct DecodedCursor {
  Base64Style style;
  std::string json;
  CursorPosition position;
  // Where the exp value is in `json` (npos when absent), for re-issuing in place.
  std::size_t exp_offset = std::string::npos;
  std::size_t exp_length = 0;
};

bool read_position(DecodedCursor& decoded) {
  namespace od = simdjson::ondemand;
  const simdjson::padded_string padded(decoded.json);
  od::parser parser;
  od::document doc;
  od::object object;
  if (parser.iterate(padded).get(doc) || doc.get_object().get(object)) return false;
  bool has_id = false;
  bool has_ts = false;
  for (auto field : object) {
    std::string_view key;
    od::value value;
    if (field.unescaped_key().get(key) || field.value().get(value)) return false;
    if (key == "id") {
      std::string_view id;
      if (value.get_string().get(id)) return false;
      decoded.position.id.assign(id);
      has_id = true;
    } else if (key == "ts") {
      if (value.get_int64().get(decoded.position.ts_ms)) return false;
      has_ts = true;
    } else if (key == "v") {
      if (value.get_int64().get(decoded.position.version)) return false;
    } else if (key == "exp") {
      const std::string_view token = value.raw_json_token();
      decoded.exp_offset = static_cast<std::size_t>(token.data() - padded.data());
      decoded.exp_length = trim_json_space(token).size();
      bool is_null = false;
      if (value.is_null().get(is_null)) return false;
      if (is_null) {
        decoded.position.exp_ms.reset();
      } else {
        std::int64_t exp = 0;
        if (value.get_int64().get(exp)) return false;
        decoded.position.exp_ms = exp;
      }
    }
  }
  // Anything after the object means the text is not one JSON document.
  return has_id && has_ts && doc.current_location().error() == simdjson::OUT_OF_BOUNDS;
}

std::optional<DecodedCursor> decode(std::string_view cursor) {
  DecodedCursor decoded;
  auto json = base64_decode(cursor, decoded.style);
  if (!json) return std::nullopt;
  decoded.json = std::move(*json);
  if (!read_position(decoded)) return std::nullopt;
  return decoded;
}

}  // namespace

std::optional<CursorPosition> decode_cursor(std::string_view cursor) {
  auto decoded = decode(cursor);
  if (!decoded) return std::nullopt;
  return std::move(decoded->position);
}

std::optional<std::string> reissue_cursor(std::string_view cursor, std::int64_t new_exp_ms) {
  auto decoded = decode(cursor);
  if (!decoded) return std::nullopt;
  std::array<char, 24> digits{};
  const auto [end, ec] = std::to_chars(digits.data(), digits.data() + digits.size(), new_exp_ms);
  const std::string_view exp_text(digits.data(), static_cast<std::size_t>(end - digits.data()));
  std::string& json = decoded->json;
  if (decoded->exp_offset != std::string::npos) {
    json.replace(decoded->exp_offset, decoded->exp_length, exp_text);
  } else {
    const std::size_t close = trim_json_space(json).size() - 1;  // the object's closing brace
    json.insert(close, std::string(",\"exp\":").append(exp_text));
  }
  return base64_encode(json, decoded->style);
}

bool cursor_expired(std::string_view cursor, std::int64_t now_ms, std::int64_t margin_ms) {
  const auto position = decode_cursor(cursor);
  if (!position || !position->exp_ms) return false;
  // exp - margin <= now, written so that extreme values cannot overflow.
  std::int64_t deadline = 0;
  if (__builtin_sub_overflow(*position->exp_ms, margin_ms, &deadline)) {
    return margin_ms > 0;
  }
  return deadline <= now_ms;
}

}  // namespace ingestd
