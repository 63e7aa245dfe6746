#pragma once

#include <string_view>

namespace ingestd {

// "0.1.0 (git 6836cc9a1b2c)": the release and the commit the binary was built from.
std::string_view version_text();

}  // namespace ingestd
