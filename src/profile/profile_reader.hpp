#pragma once

#include <string>
#include <string_view>

#include "ingestd/source_profile.hpp"

namespace ingestd {

// Reads a source profile from YAML text (docs/PROFILES.md). `origin` names the file in
// messages. Throws ConfigError (exit 2) naming the key and its line for YAML that does not
// parse, an unknown key, a value of the wrong kind, a pointer that is not RFC 6901 or a part
// that the pagination type needs and the profile lacks.
SourceProfile read_profile(std::string_view yaml, std::string_view origin);

// Whether `pointer` is an RFC 6901 JSON pointer ("" or "/a/b", with ~0 and ~1 as the only
// escapes).
bool valid_json_pointer(std::string_view pointer);

std::string_view pagination_name(PaginationType type);

}  // namespace ingestd
