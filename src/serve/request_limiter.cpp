#include "serve/request_limiter.hpp"

#include <algorithm>

namespace ingestd {

namespace {

std::int64_t ceil_seconds(std::int64_t ms) {
  return std::max<std::int64_t>(1, (ms + 999) / 1000);
}

}  // namespace

RequestLimiter::RequestLimiter(RateCeiling ceiling, std::size_t max_clients)
    : ceiling_(ceiling), max_clients_(std::max<std::size_t>(1, max_clients)) {}

void RequestLimiter::make_room(std::int64_t now_ms) {
  const std::int64_t window = ceiling_.window.count();
  std::erase_if(logs_, [&](const auto& entry) {
    return entry.second.sent_ms.empty() || entry.second.sent_ms.back() <= now_ms - window;
  });
  while (logs_.size() >= max_clients_) {
    auto oldest = std::min_element(logs_.begin(), logs_.end(), [](const auto& a, const auto& b) {
      return a.second.sent_ms.back() < b.second.sent_ms.back();
    });
    logs_.erase(oldest);
  }
}

RequestLimiter::Decision RequestLimiter::admit(const std::string& client, std::int64_t now_ms) {
  if (!logs_.contains(client) && logs_.size() >= max_clients_) make_room(now_ms);
  auto& sent = logs_[client].sent_ms;
  const std::int64_t window = ceiling_.window.count();
  while (!sent.empty() && sent.front() <= now_ms - window) sent.pop_front();

  Decision d;
  d.limit = ceiling_.limit;
  if (static_cast<std::int64_t>(sent.size()) < ceiling_.limit) {
    sent.push_back(now_ms);
    d.allowed = true;
    d.remaining = ceiling_.limit - static_cast<std::int64_t>(sent.size());
  } else {
    d.retry_after_s = ceil_seconds(sent.front() + window - now_ms);
  }
  d.reset_s = ceil_seconds(sent.front() + window - now_ms);
  return d;
}

}  // namespace ingestd
