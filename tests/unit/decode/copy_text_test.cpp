#include "decode/copy_text.hpp"

#include <doctest/doctest.h>

#include <string>

using ingestd::append_copy_text;
using ingestd::contains_nul;

namespace {

std::string escaped(std::string_view value) {
  std::string out;
  append_copy_text(out, value);
  return out;
}

}  // namespace

TEST_CASE("COPY text escaping") {
  CHECK(escaped("") == "");
  CHECK(escaped("plain /home é") == "plain /home é");
  CHECK(escaped("a\tb") == "a\\tb");
  CHECK(escaped("a\nb") == "a\\nb");
  CHECK(escaped("a\rb") == "a\\rb");
  CHECK(escaped("a\\b") == "a\\\\b");
  CHECK(escaped("\\N") == "\\\\N");  // a literal backslash-N is not the NULL marker
  CHECK(escaped("\t\n\r\\") == "\\t\\n\\r\\\\");
  CHECK(escaped("{\"k\":\"a\\\"b\"}") == "{\"k\":\"a\\\\\"b\"}");
}

TEST_CASE("COPY text appends to what is already there") {
  std::string out = "x\t";
  append_copy_text(out, "y\n");
  CHECK(out == "x\ty\\n");
}

TEST_CASE("NUL detection") {
  CHECK_FALSE(contains_nul(""));
  CHECK_FALSE(contains_nul("abc"));
  CHECK(contains_nul(std::string_view("a\0b", 3)));
  CHECK(contains_nul(std::string_view("\0", 1)));
}
