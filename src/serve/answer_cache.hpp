#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace ingestd {

// The instants an answer depends on: [from_us, to_us), epoch microseconds.
struct AnswerRange {
  std::int64_t from_us = std::numeric_limits<std::int64_t>::min();
  std::int64_t to_us = std::numeric_limits<std::int64_t>::max();
};

// Read API answers, each kept with the snapshot it is known exact in and the range of instants
// it depends on. The store tells whether a commit since that snapshot touched the range
// (EventReader::unchanged_since); if none did, the answer is exact now too, and is confirmed in
// the newer snapshot, so the next check starts there. A live feed committing at the head thus
// leaves the answers about older ranges in place. An answer not confirmed for kMaxUnchecked is
// dropped: the store keeps its record of changes for twice that. The least recently used
// answers go first once max_bytes is reached.
class AnswerCache {
 public:
  using Clock = std::chrono::steady_clock;
  // Counted per answer beside its key and texts: a list node and a hash map slot, roughly.
  static constexpr std::size_t kEntryOverhead = 96;
  static constexpr std::chrono::minutes kMaxUnchecked{30};

  struct Kept {
    std::string answer;
    std::string snapshot;
    AnswerRange range;
  };

  explicit AnswerCache(std::size_t max_bytes) : max_bytes_(max_bytes) {}
  AnswerCache(const AnswerCache&) = delete;
  AnswerCache& operator=(const AnswerCache&) = delete;

  bool enabled() const { return max_bytes_ > 0; }
  // The answer kept for `key`, still to be checked against the store's changes.
  std::optional<Kept> find(const std::string& key, Clock::time_point now);
  // The answer kept for `key` in `checked` is exact in `snapshot` too. Ignored when the entry
  // changed in between.
  void confirm(const std::string& key, std::string_view checked, std::string snapshot,
               Clock::time_point now);
  void put(const std::string& key, std::string snapshot, AnswerRange range, std::string answer,
           Clock::time_point now);
  // What the kept answers take, their keys and bookkeeping included.
  std::size_t bytes() const;

 private:
  struct Entry {
    std::string key;
    Kept kept;
    Clock::time_point confirmed;
  };
  static std::size_t cost(const Entry& e);
  void erase(std::list<Entry>::iterator it);

  mutable std::mutex mu_;
  const std::size_t max_bytes_;
  std::size_t bytes_ = 0;
  std::list<Entry> lru_;  // most recently used first
  std::unordered_map<std::string_view, std::list<Entry>::iterator> index_;  // keys live in lru_
};

}  // namespace ingestd
