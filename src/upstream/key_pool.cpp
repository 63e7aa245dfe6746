#include "upstream/key_pool.hpp"

#include <algorithm>
#include <iterator>

namespace ingestd {

KeyPool::KeyPool(std::size_t keys, const RateLimiter::Options& options) : options_(options) {
  limiters_.reserve(keys);
  keys_.reserve(keys);
  for (std::size_t k = 0; k < keys; ++k) {
    limiters_.emplace_back(options_);
    keys_.push_back({.budget = k, .seen = {0, std::vector<std::int64_t>(keys, 0)}});
  }
}

std::size_t KeyPool::active() const {
  return static_cast<std::size_t>(
      std::count_if(keys_.begin(), keys_.end(), [](const Key& k) { return !k.retired; }));
}

std::optional<std::size_t> KeyPool::pick(TimePoint now) const {
  std::optional<std::size_t> best;
  TimePoint best_at = TimePoint::max();
  for (std::size_t k = 0; k < keys_.size(); ++k) {
    if (keys_[k].retired) continue;
    const TimePoint at = limiter(k).next_send_time(now);
    if (!best || at < best_at) {
      best = k;
      best_at = at;
    }
  }
  return best;
}

void KeyPool::on_send(std::size_t key, TimePoint sent_at) {
  ++keys_[key].sends;
  limiter(key).on_send(sent_at);
}

std::vector<std::size_t> KeyPool::on_response(std::size_t key, TimePoint sent_at,
                                              TimePoint received_at, int http_status,
                                              const RateLimitHeaders& headers) {
  limiter(key).on_response(sent_at, received_at, http_status, headers);
  if (!headers.counted || !headers.limit || !headers.remaining) return {};
  const std::int64_t used = *headers.limit - *headers.remaining;
  std::vector<std::size_t> shared;
  const Observation& before = keys_[key].seen;
  std::int64_t own = 0, others = 0;
  std::vector<std::size_t> senders;
  for (std::size_t j = 0; j < keys_.size(); ++j) {
    const std::int64_t sent = keys_[j].sends - before.sends[j];
    if (keys_[j].budget == keys_[key].budget) {
      own += sent;
    } else if (sent > 0) {
      others += sent;
      senders.push_back(j);
    }
  }
  // Slots that free between two answers only lower the count; only requests raise it.
  const std::int64_t unexplained = used - before.used - own;
  if (unexplained > 0 && others >= unexplained) {
    // The pool goes on with the limiter that has learned most: the first sender's that has
    // had answers, told of this request and its answer as one of its own.
    const auto learned = std::find_if(senders.begin(), senders.end(),
                                      [&](std::size_t j) { return keys_[j].answered; });
    const std::size_t into = learned == senders.end() ? keys_[key].budget : keys_[*learned].budget;
    if (into != keys_[key].budget) {
      limiters_[into].on_send(sent_at);
      limiters_[into].on_response(sent_at, received_at, http_status, headers);
      shared.push_back(*learned);
      merge(into, keys_[key].budget);
    }
    for (std::size_t j = 0; j < keys_.size(); ++j) {
      const bool sent = std::find(senders.begin(), senders.end(), j) != senders.end();
      if (keys_[j].budget == into || (!sent && keys_[j].answered)) continue;
      merge(into, keys_[j].budget);
      shared.push_back(j);
    }
  }
  keys_[key].answered = true;
  Observation now{used, {}};
  std::transform(keys_.begin(), keys_.end(), std::back_inserter(now.sends),
                 [](const Key& k) { return k.sends; });
  keys_[key].seen = std::move(now);
  return shared;
}

std::vector<std::size_t> KeyPool::budget_of(std::size_t key) const {
  std::vector<std::size_t> out;
  for (std::size_t j = 0; j < keys_.size(); ++j) {
    if (keys_[j].budget == keys_[key].budget) out.push_back(j);
  }
  return out;
}

// The limiter of `into` has read the answer that showed the sharing: the requests of the other
// keys are in its count, as unknown ones it assumes were sent as late as possible.
void KeyPool::merge(std::size_t into, std::size_t from) {
  for (Key& k : keys_) {
    if (k.budget == from) k.budget = into;
  }
}

}  // namespace ingestd
