#pragma once

#include <cstdint>
#include <stop_token>
#include <string>

#include "upstream/page_parser.hpp"

namespace ingestd {

// A decoded page on its way to a sink, with the position that follows it.
struct DecodedBatch {
  std::int64_t number = 0;
  std::string cursor_used;
  PageInfo info;
  DecodedPage page;
};

struct CommitResult {
  std::int64_t inserted = 0;     // rows that were new
  std::int64_t quarantined = 0;  // quarantined events that were new
  bool used_fallback = false;    // some rows already existed and were skipped
};

// Where decoded pages go: the store is the first (store/store_sink.hpp). Pages arrive strictly
// in order; each commit stores the rows and the position after them atomically, so a crash at
// any instant leaves a consistent checkpoint.
class PageSink {
 public:
  virtual ~PageSink() = default;
  // Throws an ingestd::Error when the page cannot be committed.
  virtual CommitResult commit(const DecodedBatch& batch, std::stop_token stop) = 0;
};

}  // namespace ingestd
