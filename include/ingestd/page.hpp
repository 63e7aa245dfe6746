#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ingestd/source_profile.hpp"

namespace ingestd {

/// What a source read of a page's envelope: where the stream goes next, and the upstream's
/// own figures about it.
struct PageInfo {
  bool has_more = false;
  std::optional<std::string> next_cursor;  ///< nullopt for null or missing
  std::optional<std::int64_t> cursor_expires_in_s;
  std::optional<std::int64_t> limit;
  std::optional<std::int64_t> total;
  std::optional<std::int64_t> returned;
  std::string request_id;
  std::size_t data_count = 0;  ///< elements of the records array
  /// The newest and oldest readable event timestamps (epoch microseconds), when the source
  /// was asked to read them: where a head sync starts and where it may stop.
  std::optional<std::int64_t> newest_us;
  std::optional<std::int64_t> oldest_us;
};

/// One page as a source delivers it: the raw JSON body and what the source already read of it.
struct RawPage {
  std::int64_t number = 0;  ///< 1-based position in the stream: the checkpoint's pages once stored
  std::string cursor_used;  ///< the position that produced it; kept with quarantined events
  /// Parsed in place by the decoder when it has simdjson's padding (64 bytes) of spare capacity.
  std::string body;
  /// RFC 6901 pointer to the array of events inside `body`; "" when the body is the array.
  std::string records = "/data";
  /// Where a profile stream's fields are (nullptr: the contract's events, by the contract's
  /// decoder). Points into the source's profile, which outlives every page.
  const FieldPointers* fields = nullptr;
  PageInfo info;
};

/// An event that cannot be stored, kept with the reason.
struct QuarantinedEvent {
  std::string raw;        ///< the event's JSON text as received
  std::string reason;     ///< why it cannot be stored
  std::size_t index = 0;  ///< position in the records array, from 0
  std::string id;         ///< its id when that is a readable UUID, otherwise empty
};

/// Rows of one event type (empty for an event without one) in one UTC minute.
struct MinuteCount {
  std::string type;
  std::int64_t minute_s = 0;  ///< epoch seconds of the minute's start
  std::int64_t count = 0;
};

/// A page's events as the store takes them.
struct DecodedPage {
  /// One PostgreSQL COPY text line per stored event, in page order, with the columns of
  /// kEventColumns (ingestd/event.hpp), in that order.
  std::string copy_rows;
  std::size_t row_count = 0;
  std::vector<QuarantinedEvent> quarantined;
  /// The rows of copy_rows by (type, minute), sorted: what the rollups gain when every row is
  /// new, so the store need not read them back.
  std::vector<MinuteCount> minute_counts;
};

/// A decoded page on its way to a sink, with the position that follows it.
struct DecodedBatch {
  std::int64_t number = 0;
  std::string cursor_used;
  PageInfo info;
  DecodedPage page;
};

/// What a sink's commit changed.
struct CommitResult {
  std::int64_t inserted = 0;     ///< rows that were new
  std::int64_t quarantined = 0;  ///< quarantined events that were new
  bool used_fallback = false;    ///< some rows already existed and were skipped
};

}  // namespace ingestd
