#pragma once

#include <string>
#include <string_view>

namespace ingestd {

// For log lines and error messages: the password of a libpq URI or conninfo string becomes ***.
std::string redact_database_url(std::string_view url);

}  // namespace ingestd
