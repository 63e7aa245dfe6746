#include "decode/copy_text.hpp"

#include <cstring>

namespace ingestd {
namespace {

constexpr char escape_for(char c) {
  switch (c) {
    case '\\':
      return '\\';
    case '\t':
      return 't';
    case '\n':
      return 'n';
    case '\r':
      return 'r';
    default:
      return 0;
  }
}

}  // namespace

void append_copy_text(std::string& out, std::string_view value) {
  // Copy unescaped runs in one piece: most values have nothing to escape.
  std::size_t run_start = 0;
  for (std::size_t i = 0; i < value.size(); ++i) {
    const char escaped = escape_for(value[i]);
    if (escaped == 0) continue;
    out.append(value.data() + run_start, i - run_start);
    out.push_back('\\');
    out.push_back(escaped);
    run_start = i + 1;
  }
  out.append(value.data() + run_start, value.size() - run_start);
}

bool contains_nul(std::string_view value) {
  return !value.empty() && std::memchr(value.data(), '\0', value.size()) != nullptr;
}

}  // namespace ingestd
