#include "push/push_source.hpp"

#include <simdjson.h>

#include <string_view>

#include "decode/decoder.hpp"

namespace ingestd {

namespace {

// Calls on_line(number, text) for each line that is not blank, without its line ending.
template <typename OnLine>
void for_each_line(const std::string& body, OnLine on_line) {
  std::size_t line_no = 0;
  for (std::size_t at = 0; at < body.size();) {
    const std::size_t end = std::min(body.find('\n', at), body.size());
    std::string_view line(body.data() + at, end - at);
    at = end + 1;
    ++line_no;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) {
      line.remove_suffix(1);
    }
    if (line.find_first_not_of(" \t") != std::string_view::npos) on_line(line_no, line);
  }
}

// Checks one complete JSON text; returns the error, or nullptr when it is one JSON value.
const char* json_error(simdjson::dom::parser& parser, std::string_view text,
                       simdjson::dom::element& root) {
  const auto error = parser.parse(text.data(), text.size()).get(root);
  return error == simdjson::SUCCESS ? nullptr : simdjson::error_message(error);
}

}  // namespace

PushSource::PushSource(const std::string& body, Format format) : body_(body), format_(format) {
  RawPage page;
  page.number = 1;
  page.records = "";
  std::string& out = page.body;
  if (format == Format::json_array) {
    out.reserve(body.size() + simdjson::SIMDJSON_PADDING);
    out.append(body);
  } else {
    out.reserve(body.size() + 2 + simdjson::SIMDJSON_PADDING);
    out.push_back('[');
    for_each_line(body, [&](std::size_t, std::string_view line) {
      if (lines_++ > 0) out.push_back(',');
      out.append(line);
    });
    out.push_back(']');
  }
  page_ = std::move(page);
}

std::optional<RawPage> PushSource::next(std::stop_token) {
  return std::exchange(page_, std::nullopt);
}

DecodedBatch PushSource::decode() {
  auto page = next({});
  if (!page) throw PushBodyError("the body was decoded already");
  try {
    DecodedBatch batch = decode_batch(std::move(*page));
    // A line holding two values joined by a comma would frame as two events: the count tells.
    const std::size_t values = batch.page.row_count + batch.page.quarantined.size();
    if (format_ == Format::ndjson && values != lines_) {
      throw PageError("the lines hold " + std::to_string(values) + " values, not " +
                      std::to_string(lines_));
    }
    return batch;
  } catch (const PageError& e) {
    throw refusal(e);
  }
}

PushBodyError PushSource::refusal(const PageError& decoder_error) const {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (format_ == Format::json_array) {
    if (const char* error = json_error(parser, body_, root)) {
      return PushBodyError(std::string("the body is not JSON: ") + error);
    }
    if (!root.is_array()) {
      return PushBodyError(
          "the body is not a JSON array of events (send NDJSON with Content-Type: "
          "application/x-ndjson)");
    }
  } else {
    std::optional<PushBodyError> bad_line;
    for_each_line(body_, [&](std::size_t line_no, std::string_view line) {
      if (bad_line) return;
      if (const char* error = json_error(parser, line, root)) {
        bad_line.emplace("line " + std::to_string(line_no) + " is not one JSON value: " + error);
      }
    });
    if (bad_line) return *bad_line;
  }
  return PushBodyError(std::string("the body cannot be read: ") + decoder_error.what());
}

}  // namespace ingestd
