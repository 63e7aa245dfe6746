#pragma once

#include <string_view>

namespace ingestd {

// docs/openapi.yaml as the binary carries it, served at /v1/openapi.yaml.
std::string_view openapi_yaml();

}  // namespace ingestd
