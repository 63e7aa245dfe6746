#pragma once

#include <cstdint>
#include <optional>
#include <stop_token>
#include <string>

#include "upstream/page_parser.hpp"

namespace ingestd {

// One page as a source delivers it: the raw JSON body and what the source already read of it.
struct RawPage {
  std::int64_t number = 0;  // 1-based position in the stream: the checkpoint's pages once stored
  std::string cursor_used;  // the position that produced it; kept with quarantined events
  std::string body;         // parsed in place by the decoder (see page_parser.hpp)
  PageInfo info;
};

// Where pages come from: the upstream's cursor chain is the first (upstream/events_source.hpp).
// A source is driven by one thread; it paces, retries and recovers on its own and hands out
// only complete pages.
class PageSource {
 public:
  virtual ~PageSource() = default;
  // The next page; nullopt once the stream is exhausted or stop is requested. Throws an
  // ingestd::Error when it cannot go on.
  virtual std::optional<RawPage> next(std::stop_token stop) = 0;
};

}  // namespace ingestd
