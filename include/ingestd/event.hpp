#pragma once

#include <array>
#include <cstddef>
#include <string>
#include <string_view>

namespace ingestd {

/// One column of the events table and the event field it is read from.
struct EventColumn {
  std::string_view name;      ///< column of the events table
  std::string_view sql_type;  ///< as information_schema.columns.data_type names it
  std::string_view json_key;  ///< the upstream event's field it holds
};

enum EventColumnIndex : std::size_t {
  kId,
  kOccurredAt,
  kType,
  kName,
  kUserId,
  kSessionId,
  kProperties,
  kSession,
  kEventColumnCount
};

/// The columns an event is stored in, in the order the decoder writes COPY rows and the store
/// names them in COPY and queries. A test checks them against the migrated schema.
inline constexpr std::array<EventColumn, kEventColumnCount> kEventColumns{{
    {"id", "uuid", "id"},
    {"occurred_at", "timestamp with time zone", "timestamp"},
    {"type", "text", "type"},
    {"name", "text", "name"},
    {"user_id", "text", "userId"},
    {"session_id", "text", "sessionId"},
    {"properties", "jsonb", "properties"},
    {"session", "jsonb", "session"},
}};

/// "id, occurred_at, type, ..." in table order.
inline const std::string& event_column_list() {
  static const std::string list = [] {
    std::string out;
    for (const EventColumn& c : kEventColumns) {
      if (!out.empty()) out += ", ";
      out += c.name;
    }
    return out;
  }();
  return list;
}

/// The columns of a profile stream's events table (its own schema, docs/PROFILES.md), in the
/// order the mapped decoder writes COPY rows: the id exactly as sent, in `id` (uuid, 16 bytes)
/// when it is a UUID in its canonical lowercase form and in `text_id` otherwise, the mapped
/// fields, and the whole event as received.
inline constexpr std::string_view kStreamEventColumnList =
    "id, text_id, occurred_at, type, user_id, session_id, event";
/// A profile stream's id columns, in the order repeated ids are taken.
inline constexpr std::string_view kStreamEventKey = "id, text_id";
/// The id of a profile stream's event as sent, whichever of its two columns holds it.
inline constexpr std::string_view kStreamEventIdSql = "coalesce(id::text, text_id)";

/// The quarantine table's stream of pushed events.
inline constexpr std::string_view kPushStream = "push";

}  // namespace ingestd
