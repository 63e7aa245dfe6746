#include "decode/json_walk.hpp"

#include "common/text.hpp"
#include "decode/copy_text.hpp"

namespace ingestd::json {

namespace {

od::parser& thread_parser() {
  thread_local od::parser parser;
  return parser;
}

bool is_json_number(std::string_view s) {
  std::size_t i = 0;
  const auto digits = [&] {
    const std::size_t first = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    return i > first;
  };
  if (i < s.size() && s[i] == '-') ++i;
  if (i < s.size() && s[i] == '0') {
    ++i;
  } else if (!digits()) {
    return false;
  }
  if (i < s.size() && s[i] == '.') {
    ++i;
    if (!digits()) return false;
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    if (!digits()) return false;
  }
  return i == s.size();
}

}  // namespace

void throw_page_error(std::string_view what, simdjson::error_code error) {
  std::string message("page: ");
  message.append(what);
  if (error != simdjson::SUCCESS) message.append(": ").append(simdjson::error_message(error));
  throw PageError(message);
}

Document::Document(const std::string& body) {
  simdjson::error_code error;
  if (body.capacity() - body.size() >= simdjson::SIMDJSON_PADDING) {
    error = thread_parser()
                .iterate(simdjson::padded_string_view(body.data(), body.size(), body.capacity()))
                .get(doc_);
  } else {
    copy_ = simdjson::padded_string(body);
    error = thread_parser().iterate(copy_).get(doc_);
  }
  check(error, "the body is not JSON");
}

void Document::expect_end() {
  const simdjson::error_code error = doc_.current_location().error();
  if (error != simdjson::OUT_OF_BOUNDS) throw_page_error("trailing content after the JSON value");
}

const char* Document::position() {
  const char* at = nullptr;
  check(doc_.current_location().get(at), "the body ends inside the records array");
  return at;
}

std::string_view text_between(const char* begin, const char* end) {
  return trim_json_space(std::string_view(begin, static_cast<std::size_t>(end - begin)));
}

std::optional<std::int64_t> optional_int(od::value value, std::string_view name) {
  bool is_null = false;
  check(value.is_null().get(is_null), name);
  if (is_null) return std::nullopt;
  std::int64_t result = 0;
  if (value.get_int64().get(result)) throw_page_error(std::string(name) + " is not an integer");
  return result;
}

std::optional<std::string_view> optional_string(od::value value, std::string_view name) {
  bool is_null = false;
  check(value.is_null().get(is_null), name);
  if (is_null) return std::nullopt;
  std::string_view result;
  if (value.get_string().get(result)) throw_page_error(std::string(name) + " is not a string");
  return result;
}

od::object get_object(od::value value, std::string_view what) {
  od::object object;
  check(value.get_object().get(object), what);
  return object;
}

JsonCheck check_json(od::value value) {
  od::json_type type;
  if (value.type().get(type)) return JsonCheck::invalid;
  JsonCheck worst = JsonCheck::ok;
  const auto note = [&worst](JsonCheck c) {
    if (c != JsonCheck::ok && worst == JsonCheck::ok) worst = c;
  };
  switch (type) {
    case od::json_type::object: {
      od::object object;
      check(value.get_object().get(object), "broken event");
      for_each_field(object, "broken event",
                     [&](std::optional<std::string_view> key, od::value member) {
                       if (!key) {
                         note(JsonCheck::invalid);
                       } else if (contains_nul(*key)) {
                         note(JsonCheck::nul);
                       }
                       note(check_json(member));
                     });
      return worst;
    }
    case od::json_type::array: {
      od::array array;
      check(value.get_array().get(array), "broken event");
      for (auto element : array) {
        od::value member;
        check(element.get(member), "broken event");
        note(check_json(member));
      }
      return worst;
    }
    case od::json_type::string: {
      std::string_view s;
      if (value.get_string().get(s)) return JsonCheck::invalid;
      return contains_nul(s) ? JsonCheck::nul : JsonCheck::ok;
    }
    case od::json_type::number:
      return is_json_number(trim_json_space(value.raw_json_token())) ? JsonCheck::ok
                                                                     : JsonCheck::invalid;
    case od::json_type::boolean:
    case od::json_type::null: {
      const std::string_view token = trim_json_space(value.raw_json_token());
      return token == "true" || token == "false" || token == "null" ? JsonCheck::ok
                                                                    : JsonCheck::invalid;
    }
  }
  return JsonCheck::invalid;
}

}  // namespace ingestd::json
