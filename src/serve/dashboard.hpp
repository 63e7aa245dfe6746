#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace ingestd {

// web/dashboard.html, compiled into the binary (cmake/EmbedText.cmake).
std::string_view dashboard_html();

// Chart.js as Debian's libjs-chart.js installs it, or the copy the service installer places
// beside the binary (that copy first), read whole; nullopt when none does
// (the page then works without charts and says why).
std::optional<std::string> load_chartjs();

}  // namespace ingestd
