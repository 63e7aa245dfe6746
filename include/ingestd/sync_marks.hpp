#pragma once

#include <cstdint>
#include <optional>

namespace ingestd {

/// Instants (epoch microseconds of event timestamps) a pass over a newest-first stream commits
/// with its pages, so that a crash resumes toward the same mark.
struct SyncMarks {
  /// Every event at or after it is stored: the head the last completed pass started from.
  std::optional<std::int64_t> mark_us;
  /// The head the pass in progress started from; it becomes the mark when the pass completes.
  std::optional<std::int64_t> target_us;
  friend bool operator==(const SyncMarks&, const SyncMarks&) = default;
};

}  // namespace ingestd
