#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "upstream/rate_limiter.hpp"

namespace ingestd {

// The API keys of one source and their budgets: which key may send next, which are retired,
// which turned out to spend one budget. Each key has a rate limiter fed only by the answers to
// its own requests. When an answer's count (Limit - Remaining) grew by more than the requests
// of its budget explain, while other keys sent the difference, those keys share the server's
// budget: from then on they are paced by the limiter that read that answer, whose count covers
// the other keys' requests.
// Merging is the safe direction: assuming a budget that is not there earns 429s. So once two
// keys are found to share, the keys that have not answered yet are paced with them too (there is
// no telling them apart without spending a request that may be refused); merged budgets stay
// merged for the process's life.
class KeyPool {
 public:
  using TimePoint = RateLimiter::TimePoint;

  KeyPool(std::size_t keys, const RateLimiter::Options& options);

  std::size_t size() const { return keys_.size(); }
  std::size_t active() const;
  bool retired(std::size_t key) const { return keys_[key].retired; }
  void retire(std::size_t key) { keys_[key].retired = true; }
  // The key's limiter was given `requests` from a saved state: the server may count them.
  void restored(std::size_t key, std::int64_t requests) { keys_[key].seen.used = requests; }

  // The active key whose next permitted send is earliest, the first in order on a tie (so one
  // key behaves as a source without a pool); nullopt when every key is retired.
  std::optional<std::size_t> pick(TimePoint now) const;

  RateLimiter& limiter(std::size_t key) { return limiters_[keys_[key].budget]; }
  const RateLimiter& limiter(std::size_t key) const { return limiters_[keys_[key].budget]; }
  void on_send(std::size_t key, TimePoint sent_at);
  // Feeds the answer to the key's limiter. Returns the keys this answer showed to share the
  // key's budget (empty almost always).
  std::vector<std::size_t> on_response(std::size_t key, TimePoint sent_at, TimePoint received_at,
                                       int http_status, const RateLimitHeaders& headers);

  // The keys that spend the same budget as `key`, itself included, ascending.
  std::vector<std::size_t> budget_of(std::size_t key) const;

 private:
  // What the server's count was after an answer to this key, and how many requests every key
  // had sent by then.
  struct Observation {
    std::int64_t used;
    std::vector<std::int64_t> sends;
  };
  struct Key {
    std::size_t budget;
    bool retired = false;
    bool answered = false;  // an answer with the server's count came back for it
    std::int64_t sends = 0;
    Observation seen;  // before the first answer: what a fresh process may assume
  };

  void merge(std::size_t into, std::size_t from);

  RateLimiter::Options options_;
  std::vector<RateLimiter> limiters_;  // by budget; a merged budget's stays unused
  std::vector<Key> keys_;
};

}  // namespace ingestd
