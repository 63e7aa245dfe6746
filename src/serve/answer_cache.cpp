#include "serve/answer_cache.hpp"

namespace ingestd {

std::size_t AnswerCache::cost(const Entry& e) {
  return e.key.size() + e.answer.size() + kEntryOverhead;
}

void AnswerCache::erase(std::list<Entry>::iterator it) {
  bytes_ -= cost(*it);
  index_.erase(it->key);
  lru_.erase(it);
}

std::optional<std::string> AnswerCache::find(const std::string& key, std::string_view snapshot) {
  std::lock_guard lock(mu_);
  if (snapshot != snapshot_) return std::nullopt;
  const auto found = index_.find(key);
  if (found == index_.end()) return std::nullopt;
  lru_.splice(lru_.begin(), lru_, found->second);
  return found->second->answer;
}

void AnswerCache::put(const std::string& key, const std::string& snapshot, std::string answer) {
  Entry entry{key, std::move(answer)};
  const std::size_t size = cost(entry);
  if (size > max_bytes_) return;
  std::lock_guard lock(mu_);
  // An answer of an older snapshot that finished late replaces the newer ones too; the next
  // answers of the current snapshot bring them back.
  if (snapshot != snapshot_) {
    index_.clear();
    lru_.clear();
    bytes_ = 0;
    snapshot_ = snapshot;
  }
  if (const auto found = index_.find(key); found != index_.end()) erase(found->second);
  while (bytes_ + size > max_bytes_) erase(std::prev(lru_.end()));
  lru_.push_front(std::move(entry));
  index_.emplace(lru_.front().key, lru_.begin());
  bytes_ += size;
}

std::size_t AnswerCache::bytes() const {
  std::lock_guard lock(mu_);
  return bytes_;
}

}  // namespace ingestd
