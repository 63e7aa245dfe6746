#include "serve/dashboard.hpp"

#include <array>
#include <fstream>
#include <sstream>
#include <system_error>

namespace ingestd {

std::optional<std::string> load_chartjs() {
  std::error_code ec;
  const auto exe_dir = std::filesystem::read_symlink("/proc/self/exe", ec).parent_path();
  const std::array<std::filesystem::path, 2> candidates = {
      exe_dir / "chart.min.js",
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
