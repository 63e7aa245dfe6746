#pragma once

#include <optional>
#include <stop_token>

#include "ingestd/page.hpp"

namespace ingestd {

/// Where pages come from: the upstream's cursor chain (src/upstream/events_source.hpp) and a
/// pushed request (src/push/push_source.hpp) are the two today.
///
/// The contract a source keeps:
/// - One thread drives it; next() is never called concurrently.
/// - It paces, retries and recovers on its own, and hands out only complete pages: a body the
///   decoder may still refuse element by element, but whose envelope was read.
/// - Pages come in stream order, numbered from the checkpoint on; `info.has_more == false` on
///   the last one.
/// - A stop request is honoured within a bounded time (it ends waits, not a page in flight).
class PageSource {
 public:
  virtual ~PageSource() = default;
  /// The next page; nullopt once the stream is exhausted or stop is requested. Throws an
  /// ingestd::Error (errors.hpp) when it cannot go on.
  virtual std::optional<RawPage> next(std::stop_token stop) = 0;
};

}  // namespace ingestd
