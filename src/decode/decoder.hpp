#pragma once

#include <string>
#include <string_view>

#include "ingestd/page.hpp"

namespace ingestd {

// Turns the events of the array at `records` (an RFC 6901 pointer into the body, "" for the
// body itself) into COPY rows. Only "id" (a UUID, stored lowercase) and "timestamp" are
// required; an event without them, with a value PostgreSQL would refuse (a NUL character,
// properties that are not valid JSON), or that is not an object is quarantined with the reason
// instead. Missing or null optional fields become NULL; a non-string value in a text column is
// stored as its JSON text. Throws PageError when the document is broken, has trailing content,
// or has no array at `records`. Parses in place when `body` has simdjson's padding of spare
// capacity, and copies it otherwise.
DecodedPage decode_page(const std::string& body, std::string_view records = "/data");

// The decoder's step for one page, for every source: the page's events as COPY rows,
// quarantined events and per-minute counts. Throws PageError when the body is broken.
DecodedBatch decode_batch(RawPage&& raw);

}  // namespace ingestd
