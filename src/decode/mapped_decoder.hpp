#pragma once

#include <string>
#include <string_view>

#include "ingestd/page.hpp"
#include "ingestd/source_profile.hpp"

namespace ingestd {

// Ids longer than this are quarantined: a key is not a document.
inline constexpr std::size_t kMaxIdBytes = 1024;

// Turns the records at `records` of a profile stream's page into COPY rows with the columns of
// kStreamEventColumnList: the id exactly as sent (a string, or an integer's digits), the
// instant at fields.timestamp in any form of the contract, the mapped user, type and session
// (a non-string value as its JSON text, missing or null as NULL) and the whole record. A record
// that is not an object, lacks an id or a readable timestamp, or holds a NUL character is
// quarantined with the reason. Throws PageError when the body is not JSON or `records` is not
// an array.
DecodedPage decode_mapped_page(const std::string& body, std::string_view records,
                               const FieldPointers& fields);

}  // namespace ingestd
