#pragma once

#include <string>

#include "ingestd/page.hpp"

namespace ingestd {

// Reads the contract's envelope (pagination and meta) and counts the events, checking on the
// way that the body is one complete JSON object with a "data" array and a "pagination" object
// holding a boolean "hasMore". Event contents are skipped structurally, not decoded, so this
// stays cheap on the fetch path; the decoder (src/decode) checks them. Throws PageError when
// the body is truncated, is not JSON, misses those members, has trailing content, or when
// meta.returned differs from the number of events, or when hasMore is true without a
// nextCursor. Throws ContractError instead when the body is complete, valid JSON that is not
// such a page. Parses in place when `body` has simdjson's padding of spare capacity.
// With `time_span`, also the newest and oldest readable "timestamp" of the events (an event
// whose timestamp cannot be read is left to the decoder to quarantine).
PageInfo peek_page_info(const std::string& body, bool time_span = false);

}  // namespace ingestd
