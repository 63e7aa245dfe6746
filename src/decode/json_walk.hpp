#pragma once

// On-demand JSON walking shared by the decoder and the envelope readers: a document parsed in
// place when the body has room, and helpers that turn every simdjson failure into a PageError
// naming what was being read.

#include <simdjson.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "ingestd/errors.hpp"

namespace ingestd::json {

namespace od = simdjson::ondemand;

[[noreturn]] void throw_page_error(std::string_view what, simdjson::error_code error = {});

inline void check(simdjson::error_code error, std::string_view what) {
  if (error != simdjson::SUCCESS) throw_page_error(what, error);
}

// A body as an on-demand document, parsed in place when it has simdjson::SIMDJSON_PADDING bytes
// of spare capacity and from a padded copy (kept alive with the document) otherwise. Parser
// buffers are per thread and reused: the fetcher and the decoder parse on threads of their own.
class Document {
 public:
  explicit Document(const std::string& body);

  od::document& doc() { return doc_; }

  // Called after the root value has been consumed.
  void expect_end();

  // Where the next token starts; used to take the raw text of a value just consumed.
  const char* position();

 private:
  simdjson::padded_string copy_;
  od::document doc_;
};

std::string_view text_between(const char* begin, const char* end);

std::optional<std::int64_t> optional_int(od::value value, std::string_view name);
std::optional<std::string_view> optional_string(od::value value, std::string_view name);
od::object get_object(od::value value, std::string_view what);

// Calls on_field(key, value) for each member of the object; key is nullopt when it is not a
// valid JSON string (the value is still visited, so the walk stays in step with the document).
// A broken document throws PageError naming `what`.
template <typename OnField>
void for_each_field(od::object& object, std::string_view what, OnField on_field) {
  for (auto field : object) {
    std::string_view key;
    od::value value;
    check(field.error(), what);
    const bool bad_key = field.unescaped_key().get(key) != simdjson::SUCCESS;
    check(field.value().get(value), what);
    on_field(bad_key ? std::nullopt : std::optional<std::string_view>(key), value);
  }
}

enum class JsonCheck { ok, invalid, nul };

// Walks a value completely. Skipping (what on-demand parsing does with values it is not asked
// for) only balances brackets, while jsonb and text columns need every string, number and
// literal to be valid and free of NUL.
JsonCheck check_json(od::value value);

}  // namespace ingestd::json
