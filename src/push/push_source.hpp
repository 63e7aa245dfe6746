#pragma once

#include <optional>
#include <stdexcept>
#include <string>

#include "pipeline/page_source.hpp"

namespace ingestd {

// A request body that is not what POST /v1/events takes: nothing of it may be stored.
class PushBodyError : public std::runtime_error {
 public:
  using runtime_error::runtime_error;
};

// One pushed request as a page source: its events, as a JSON array or as NDJSON (one JSON value
// per line, blank lines ignored), become the single page it yields, in the envelope the decoder
// reads, so pushed events are decoded, normalised and quarantined exactly like pulled ones.
// Throws PushBodyError from the constructor when the body is not one JSON array (or, for NDJSON,
// when a line is not one JSON value), naming what is wrong.
class PushSource : public PageSource {
 public:
  enum class Format { json_array, ndjson };

  PushSource(const std::string& body, Format format);

  std::optional<RawPage> next(std::stop_token stop) override;
  std::size_t events() const { return events_; }

 private:
  std::optional<RawPage> page_;
  std::size_t events_ = 0;
};

}  // namespace ingestd
