#pragma once

#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>

#include "ingestd/errors.hpp"
#include "ingestd/page_source.hpp"

namespace ingestd {

// A request body that is not what POST /v1/events takes: nothing of it may be stored.
class PushBodyError : public std::runtime_error {
 public:
  using runtime_error::runtime_error;
};

// One pushed request as a page source: its events, as a JSON array or as NDJSON (one JSON value
// per line, blank lines ignored), become the single page it yields, whose records are the whole
// body, so pushed events are decoded, normalised and quarantined exactly like pulled ones. The
// body is framed here, not parsed: the decoder's walk is the only parse of an accepted body.
class PushSource : public PageSource {
 public:
  enum class Format { json_array, ndjson };

  // `body` must outlive the source.
  PushSource(const std::string& body, Format format);

  std::optional<RawPage> next(std::stop_token stop) override;

  // The page's events, decoded. Throws PushBodyError naming what is wrong when the body is not
  // one JSON array, or, for NDJSON, when a line is not one JSON value.
  DecodedBatch decode();

 private:
  // Why the decoder refused the framed page, told in the body's own terms.
  PushBodyError refusal(const PageError& decoder_error) const;

  const std::string& body_;
  Format format_;
  std::optional<RawPage> page_;
  std::size_t lines_ = 0;
};

}  // namespace ingestd
