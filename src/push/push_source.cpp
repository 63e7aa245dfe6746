#include "push/push_source.hpp"

#include <simdjson.h>

#include <string_view>

namespace ingestd {

namespace {

constexpr std::string_view kOpen = "{\"data\":";
constexpr std::string_view kClose = "}";

// Checks one complete JSON text; returns the error, or nullptr when it is one JSON value.
const char* json_error(simdjson::dom::parser& parser, std::string_view text,
                       simdjson::dom::element& root) {
  const auto error = parser.parse(text.data(), text.size()).get(root);
  return error == simdjson::SUCCESS ? nullptr : simdjson::error_message(error);
}

}  // namespace

PushSource::PushSource(const std::string& body, Format format) {
  RawPage page;
  page.number = 1;
  std::string& out = page.body;
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (format == Format::json_array) {
    if (const char* error = json_error(parser, body, root)) {
      throw PushBodyError(std::string("the body is not JSON: ") + error);
    }
    simdjson::dom::array events;
    if (root.get_array().get(events) != simdjson::SUCCESS) {
      throw PushBodyError(
          "the body is not a JSON array of events (send NDJSON with Content-Type: "
          "application/x-ndjson)");
    }
    events_ = events.size();
    out.reserve(kOpen.size() + body.size() + kClose.size() + simdjson::SIMDJSON_PADDING);
    out.append(kOpen).append(body).append(kClose);
  } else {
    out.reserve(kOpen.size() + body.size() + 2 + kClose.size() + simdjson::SIMDJSON_PADDING);
    out.append(kOpen).push_back('[');
    std::size_t line_no = 0;
    for (std::size_t at = 0; at < body.size();) {
      const std::size_t end = std::min(body.find('\n', at), body.size());
      std::string_view line(body.data() + at, end - at);
      at = end + 1;
      ++line_no;
      while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) {
        line.remove_suffix(1);
      }
      if (line.find_first_not_of(" \t") == std::string_view::npos) continue;
      if (const char* error = json_error(parser, line, root)) {
        throw PushBodyError("line " + std::to_string(line_no) + " is not one JSON value: " + error);
      }
      if (events_++ > 0) out.push_back(',');
      out.append(line);
    }
    out.push_back(']');
    out.append(kClose);
  }
  page.info.data_count = events_;
  page_ = std::move(page);
}

std::optional<RawPage> PushSource::next(std::stop_token) {
  return std::exchange(page_, std::nullopt);
}

}  // namespace ingestd
