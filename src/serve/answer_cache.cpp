#include "serve/answer_cache.hpp"

namespace ingestd {

std::size_t AnswerCache::cost(const Entry& e) {
  return e.key.size() + e.kept.answer.size() + e.kept.snapshot.size() + kEntryOverhead;
}

void AnswerCache::erase(std::list<Entry>::iterator it) {
  bytes_ -= cost(*it);
  index_.erase(it->key);
  lru_.erase(it);
}

std::optional<AnswerCache::Kept> AnswerCache::find(const std::string& key, Clock::time_point now) {
  std::lock_guard lock(mu_);
  const auto found = index_.find(key);
  if (found == index_.end()) return std::nullopt;
  if (now - found->second->confirmed > kMaxUnchecked) {
    erase(found->second);
    return std::nullopt;
  }
  lru_.splice(lru_.begin(), lru_, found->second);
  return found->second->kept;
}

void AnswerCache::confirm(const std::string& key, std::string_view checked, std::string snapshot,
                          Clock::time_point now) {
  std::lock_guard lock(mu_);
  const auto found = index_.find(key);
  if (found == index_.end() || found->second->kept.snapshot != checked) return;
  Entry& e = *found->second;
  bytes_ -= cost(e);
  e.kept.snapshot = std::move(snapshot);
  e.confirmed = now;
  bytes_ += cost(e);
}

void AnswerCache::put(const std::string& key, std::string snapshot, AnswerRange range,
                      std::string answer, Clock::time_point now) {
  Entry entry{key, {std::move(answer), std::move(snapshot), range}, now};
  const std::size_t size = cost(entry);
  if (size > max_bytes_) return;
  std::lock_guard lock(mu_);
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
