#pragma once

// Reads the PNG screenshots headless Chromium writes (8-bit RGB or RGBA, not interlaced), so
// a browser test can look at what was drawn.

#include <cstdint>
#include <filesystem>
#include <vector>

namespace testsupport {

struct Image {
  std::uint32_t width = 0;
  std::uint32_t height = 0;
  std::vector<std::uint32_t> pixels;  // 0xRRGGBB, row by row
};

// Throws std::runtime_error for anything but an 8-bit RGB/RGBA non-interlaced PNG.
Image read_png(const std::filesystem::path& path);

}  // namespace testsupport
