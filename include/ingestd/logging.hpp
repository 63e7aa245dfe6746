#pragma once

#include <string>

namespace ingestd {

// Installs the process logger on stderr: human-readable text, or with format "json" one JSON
// object per line ({"ts","level","msg"}) for log shippers.
void init_logging(const std::string& level, const std::string& format);

// Escapes s for inclusion inside a JSON string literal.
std::string json_escape(std::string_view s);

}  // namespace ingestd
