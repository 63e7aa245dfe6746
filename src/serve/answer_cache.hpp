#pragma once

#include <cstddef>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace ingestd {

// Read API answers kept while the database shows the snapshot they were computed in. Two equal
// snapshots (xmin:xmax:in-progress ids) see the same committed transactions, so an answer stays
// exact for as long as the current snapshot is the one it was computed in. Entries of an older
// snapshot can never match again, so the first answer of a new snapshot drops them all; within
// one snapshot the least recently used answers go first once max_bytes is reached.
class AnswerCache {
 public:
  // Counted per answer beside its key and text: a list node and a hash map slot, roughly.
  static constexpr std::size_t kEntryOverhead = 96;

  explicit AnswerCache(std::size_t max_bytes) : max_bytes_(max_bytes) {}
  AnswerCache(const AnswerCache&) = delete;
  AnswerCache& operator=(const AnswerCache&) = delete;

  bool enabled() const { return max_bytes_ > 0; }
  // The answer to `key` computed in `snapshot`, if kept.
  std::optional<std::string> find(const std::string& key, std::string_view snapshot);
  void put(const std::string& key, const std::string& snapshot, std::string answer);
  // What the kept answers take, their keys and bookkeeping included.
  std::size_t bytes() const;

 private:
  struct Entry {
    std::string key;
    std::string answer;
  };
  static std::size_t cost(const Entry& e);
  void erase(std::list<Entry>::iterator it);

  mutable std::mutex mu_;
  const std::size_t max_bytes_;
  std::size_t bytes_ = 0;
  std::string snapshot_;
  std::list<Entry> lru_;  // most recently used first
  std::unordered_map<std::string_view, std::list<Entry>::iterator> index_;  // keys live in lru_
};

}  // namespace ingestd
