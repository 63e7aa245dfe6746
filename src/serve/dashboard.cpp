#include "serve/dashboard.hpp"

#include <array>
#include <fstream>
#include <sstream>
#include <system_error>

namespace ingestd {

std::optional<std::string> load_chartjs() {
  std::error_code ec;
  const auto exe_dir = std::filesystem::read_symlink("/proc/self/exe", ec).parent_path();
  // The package's assets directory (a link to libjs-chart.js, found from wherever the package's
  // prefix puts the binary), then Debian's copy itself for a binary run from a build tree.
  const std::array<std::filesystem::path, 2> candidates = {
      exe_dir.parent_path() / "share/ingestd/assets/chart.min.js",
      "/usr/share/javascript/chart.js/chart.min.js",
  };
  for (const auto& path : candidates) {
    std::ifstream in(path, std::ios::binary);
    if (!in) continue;
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
  }
  return std::nullopt;
}

}  // namespace ingestd
