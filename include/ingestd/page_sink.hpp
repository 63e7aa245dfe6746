#pragma once

#include <stop_token>

#include "ingestd/page.hpp"

namespace ingestd {

/// Where decoded pages go: the store is the first (src/store/store_sink.hpp, push_sink.hpp).
///
/// The contract a sink keeps:
/// - Pages arrive strictly in order, from one thread.
/// - Each commit stores the rows, the quarantined events, the rollups and the position after
///   them atomically, so a crash at any instant leaves a consistent checkpoint.
/// - A commit is idempotent: a page stored before (a crash between commit and acknowledgement)
///   adds nothing, and says so in CommitResult.
class PageSink {
 public:
  virtual ~PageSink() = default;
  /// Throws an ingestd::Error (errors.hpp) when the page cannot be committed.
  virtual CommitResult commit(const DecodedBatch& batch, std::stop_token stop) = 0;
};

}  // namespace ingestd
