#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace ingestd {

// web/dashboard.html, compiled into the binary (cmake/EmbedText.cmake).
std::string_view dashboard_html();

// Chart.js from the package's share/ingestd/assets/ (beside the binary's prefix) or as Debian's
// libjs-chart.js installs it, read whole; nullopt when neither is there (the page then works
// without charts and says why).
std::optional<std::string> load_chartjs();

}  // namespace ingestd
