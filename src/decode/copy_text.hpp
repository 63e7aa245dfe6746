#pragma once

#include <string>
#include <string_view>

namespace ingestd {

// Appends `value` as one column of PostgreSQL COPY text format: backslash, tab, newline and
// carriage return are written as \\, \t, \n and \r so that they cannot end the column or the
// row. Every other byte is copied as is (COPY reads it back unchanged). The NULL marker \N is
// not produced here: the caller writes it for a missing value.
void append_copy_text(std::string& out, std::string_view value);

// PostgreSQL text and jsonb cannot hold a NUL character, so such values must not reach COPY.
bool contains_nul(std::string_view value);

}  // namespace ingestd
