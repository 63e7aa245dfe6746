#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ingestd {

// The position a cursor encodes. ingestd pages with cursors as opaque strings; decoding is only
// used to recover from expiry, which the upstream checks against `exp` as sent.
struct CursorPosition {
  std::string id;
  std::int64_t ts_ms = 0;
  std::int64_t version = 0;  // 0 when the cursor carries no "v"
  std::optional<std::int64_t> exp_ms;
};

// Decodes base64 or base64url, padded or not, of a JSON object with a string "id", an integer
// "ts", and optionally an integer "v" and an integer or null "exp". Unknown keys are ignored.
// nullopt when the cursor does not have that shape.
std::optional<CursorPosition> decode_cursor(std::string_view cursor);

// The same cursor with "exp" set to new_exp_ms (added after the other keys when absent). Only
// the exp value changes: key order, unknown keys, alphabet and padding style of the input are
// kept, so the upstream sees the cursor it issued with a later expiry. A cursor whose alphabet
// cannot be told (no + / - _ in it) is re-encoded in standard base64, padded when the input
// was padded or its length was a multiple of 4. nullopt when the cursor is not decodable.
std::optional<std::string> reissue_cursor(std::string_view cursor, std::int64_t new_exp_ms);

// True only when the cursor is decodable, carries an exp, and exp - margin_ms <= now_ms.
bool cursor_expired(std::string_view cursor, std::int64_t now_ms, std::int64_t margin_ms);

}  // namespace ingestd
