#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace ingestd {

// The body is not a complete, well-formed events page. It must never be treated as a page:
// the request is retried.
class PageError : public std::runtime_error {
 public:
  using runtime_error::runtime_error;
};

// The body is complete, valid JSON but not an events page of the contract (no "data" array, no
// "pagination" object, ...): no retry can fix it. The message names what is missing, e.g.
// `has no "pagination" object`.
class ContractError : public std::runtime_error {
 public:
  using runtime_error::runtime_error;
};

struct PageInfo {
  bool has_more = false;
  std::optional<std::string> next_cursor;  // nullopt for null or missing
  std::optional<std::int64_t> cursor_expires_in_s;
  std::optional<std::int64_t> limit;
  std::optional<std::int64_t> total;
  std::optional<std::int64_t> returned;
  std::string request_id;
  std::size_t data_count = 0;
};

// Reads pagination and meta and counts the events, checking on the way that the body is one
// complete JSON object with a "data" array and a "pagination" object holding a boolean
// "hasMore". Event contents are skipped structurally, not decoded, so this stays cheap on the
// fetch path; decode_page checks them. Throws PageError when the body is truncated, is not
// JSON, misses those members, has trailing content, or when meta.returned differs from the
// number of events, or when hasMore is true without a nextCursor. Throws ContractError instead
// when the body is complete, valid JSON that is not such a page.
//
// Both functions parse in place when `body` has simdjson::SIMDJSON_PADDING bytes of spare
// capacity, and copy it otherwise.
PageInfo peek_page_info(const std::string& body);

struct QuarantinedEvent {
  std::string raw;        // the event's JSON text as received
  std::string reason;     // why it cannot be stored
  std::size_t index = 0;  // position in the data array, from 0
  std::string id;         // its id when that is a readable UUID, otherwise empty
};

// Rows of one event type (empty for an event without one) in one UTC minute.
struct MinuteCount {
  std::string type;
  std::int64_t minute_s = 0;  // epoch seconds of the minute's start
  std::int64_t count = 0;
};

struct DecodedPage {
  // One PostgreSQL COPY text line per stored event, in page order, with the columns
  // of kEventColumns (store/event_columns.hpp), in that order.
  std::string copy_rows;
  std::size_t row_count = 0;
  std::vector<QuarantinedEvent> quarantined;
  // The rows of copy_rows by (type, minute), sorted: what the rollups gain when every row is
  // new, so the store need not read them back.
  std::vector<MinuteCount> minute_counts;
};

// Turns the events of a page into COPY rows. Only "id" (a UUID, stored lowercase) and
// "timestamp" are required; an event without them, with a value PostgreSQL would refuse (a
// NUL character, properties that are not valid JSON), or that is not an object is quarantined
// with the reason instead. Missing or null optional fields become NULL; a non-string value in
// a text column is stored as its JSON text. Throws PageError when the document is broken.
DecodedPage decode_page(const std::string& body);

}  // namespace ingestd
