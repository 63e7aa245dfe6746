#include "ingestd/rate_limiter.hpp"

#include <algorithm>
#include <cctype>
#include <string_view>

namespace ingestd {

namespace {

using std::chrono::seconds;

// Relative seconds beyond a day are not relative seconds: an epoch timestamp in a Reset header
// would otherwise stall ingestion for decades.
constexpr std::int64_t kMaxSeconds = 86'400;
constexpr std::int64_t kMaxLimit = 1'000'000'000;
constexpr std::size_t kMaxDigits = 12;

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

bool all_digits(std::string_view s) {
  return !s.empty() && s.size() <= kMaxDigits &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::int64_t to_int(std::string_view digits) {
  std::int64_t v = 0;
  for (const char c : digits) v = v * 10 + (c - '0');
  return v;
}

// A plain non-negative integer, nothing else: no sign, exponent or fraction.
std::optional<std::int64_t> parse_count(std::optional<std::string_view> raw, std::int64_t min) {
  if (!raw) return std::nullopt;
  const std::string_view s = trim(*raw);
  if (!all_digits(s)) return std::nullopt;
  const std::int64_t v = to_int(s);
  if (v < min || v > kMaxLimit) return std::nullopt;
  return v;
}

// Delta-seconds, possibly with a fraction, which rounds up so that waiting it is never too short.
std::optional<std::int64_t> parse_seconds(std::optional<std::string_view> raw) {
  if (!raw) return std::nullopt;
  const std::string_view s = trim(*raw);
  const std::size_t dot = s.find('.');
  const std::string_view whole = s.substr(0, dot);
  if (!all_digits(whole)) return std::nullopt;
  std::int64_t v = to_int(whole);
  if (dot != std::string_view::npos) {
    const std::string_view frac = s.substr(dot + 1);
    if (!all_digits(frac)) return std::nullopt;
    if (frac.find_first_not_of('0') != std::string_view::npos) ++v;
  }
  if (v > kMaxSeconds) return std::nullopt;
  return v;
}

bool served_from_cache(const HttpHeaders& headers) {
  const auto cache = headers.get("X-Cache");
  if (!cache) return false;
  const std::string_view v = trim(*cache);
  return v.size() >= 3 && std::tolower(static_cast<unsigned char>(v[0])) == 'h' &&
         std::tolower(static_cast<unsigned char>(v[1])) == 'i' &&
         std::tolower(static_cast<unsigned char>(v[2])) == 't';
}

}  // namespace

RateLimitHeaders parse_rate_limit_headers(const HttpHeaders& headers) {
  if (served_from_cache(headers)) return {};
  RateLimitHeaders h;
  h.limit = parse_count(headers.get("X-RateLimit-Limit"), 1);
  h.remaining = parse_count(headers.get("X-RateLimit-Remaining"), 0);
  h.reset_s = parse_seconds(headers.get("X-RateLimit-Reset"));
  h.retry_after_s = parse_seconds(headers.get("Retry-After"));
  return h;
}

RateLimiter::RateLimiter(Options options)
    : options_(options),
      limit_(std::max<std::int64_t>(options.initial_limit, 1)),
      window_hi_(std::max(options.initial_window, Duration(std::chrono::milliseconds(1)))) {}

RateLimiter::Duration RateLimiter::margin() const {
  return options_.margin +
         std::chrono::duration_cast<Duration>(window_hi_ * std::max(options_.margin_fraction, 0.0));
}

RateLimiter::TimePoint RateLimiter::next_send_time(TimePoint now) const {
  if (probing_ && !in_flight_.empty()) return TimePoint::max();
  TimePoint t = std::max(now, floor_);
  const auto n = static_cast<std::size_t>(limit_);
  if (log_.size() >= n) t = std::max(t, log_[log_.size() - n].at + window_hi_ + margin());
  return t;
}

void RateLimiter::insert_entry(Entry entry) {
  // Unknown requests reached the server before the one that revealed them, so at equal times
  // they sort first and own entries stay the newest.
  const auto pos = entry.unknown
                       ? std::lower_bound(log_.begin(), log_.end(), entry.at,
                                          [](const Entry& e, TimePoint t) { return e.at < t; })
                       : std::upper_bound(log_.begin(), log_.end(), entry.at,
                                          [](TimePoint t, const Entry& e) { return t < e.at; });
  log_.insert(pos, entry);
}

void RateLimiter::on_send(TimePoint sent_at) {
  insert_entry({sent_at, false, false});
  in_flight_.push_back(sent_at);
  prune(sent_at);
}

void RateLimiter::confirm(TimePoint at) {
  for (auto it = log_.rbegin(); it != log_.rend(); ++it) {
    if (!it->unknown && it->at == at) {
      it->confirmed = true;
      return;
    }
  }
}

std::vector<RateLimiter::Entry> RateLimiter::entries_up_to(TimePoint at) const {
  std::vector<Entry> out;
  bool own_seen = false;
  for (auto it = log_.rbegin(); it != log_.rend(); ++it) {
    if (it->at > at) continue;
    if (!own_seen && !it->unknown && it->at == at) {
      own_seen = true;
      out.insert(out.begin(), *it);
      continue;
    }
    out.push_back(*it);
  }
  return out;
}

std::int64_t RateLimiter::count_in_window(TimePoint at) const {
  const TimePoint oldest_held = at - window_hi_ - margin();
  return std::count_if(log_.begin(), log_.end(),
                       [&](const Entry& e) { return e.at <= at && e.at > oldest_held; });
}

void RateLimiter::on_response(TimePoint sent_at, TimePoint received_at, int http_status,
                              const RateLimitHeaders& headers) {
  if (auto it = std::find(in_flight_.begin(), in_flight_.end(), sent_at); it != in_flight_.end()) {
    in_flight_.erase(it);
  }
  // No response: the server may have logged the request, so its entry stays, unconfirmed.
  if (http_status == 0) return;
  if (headers.limit) limit_ = *headers.limit;
  // A page was served, so the server logged the request even when its headers are unusable;
  // later responses can then use its send time as evidence.
  if (http_status == 200) confirm(sent_at);
  if (http_status == 429) {
    on_refused(sent_at, received_at, headers);
  } else if (headers.remaining && *headers.remaining < limit_) {
    // Remaining == 0 only says the log is full: the count may be larger still.
    const std::int64_t count = limit_ - *headers.remaining;
    const bool exact = *headers.remaining > 0;
    confirm(sent_at);
    probing_ = false;
    learn_window(sent_at, count, exact, headers);
    sync_count(sent_at, count, exact);
    if (!exact && headers.reset_s) {
      free_oldest_unknown(sent_at, received_at + seconds(*headers.reset_s));
    }
  }
  prune(received_at);
}

void RateLimiter::learn_window(TimePoint sent_at, std::int64_t count, bool exact,
                               const RateLimitHeaders& headers) {
  const std::vector<Entry> entries = entries_up_to(sent_at);
  if (entries.empty()) return;
  // Bounds need own entries whose arrival the server confirmed, and only as deep as they reach.
  std::int64_t known = 0;
  while (known + 1 < static_cast<std::int64_t>(entries.size()) &&
         !entries[static_cast<std::size_t>(known + 1)].unknown &&
         entries[static_cast<std::size_t>(known + 1)].confirmed) {
    ++known;
  }
  const auto age = [&](std::int64_t i) {
    return sent_at - entries[static_cast<std::size_t>(i)].at;
  };
  std::optional<Duration> lo, hi;
  const auto lower = [&](Duration d) { lo = lo ? std::max(*lo, d) : d; };
  const auto upper = [&](Duration d) { hi = hi ? std::min(*hi, d) : d; };

  const std::optional<std::int64_t> reset = headers.reset_s;
  if (exact && count == 1 && reset && *reset > 0) {
    upper(seconds(*reset));
    lower(seconds(*reset - 1));
  }
  if (exact && known >= count) upper(age(count));
  if (count >= 2 && known >= count - 1) {
    lower(age(count - 1));
    // The oldest entry the server holds is ours, so Reset measures from a known send time.
    if (exact && reset && *reset > 0) {
      upper(seconds(*reset) + age(count - 1));
      lower(seconds(*reset - 1) + age(count - 1));
    }
  }
  observe_window(lo, hi);
}

void RateLimiter::observe_window(std::optional<Duration> lo, std::optional<Duration> hi) {
  const Duration min_window = std::chrono::milliseconds(1);
  if (lo && *lo >= window_hi_) {
    window_lo_ = *lo;
    window_hi_ = (hi && *hi > *lo) ? *hi : std::max<Duration>(2 * *lo, *lo + seconds(1));
    return;
  }
  if (lo) window_lo_ = std::max(window_lo_, *lo);
  if (hi && *hi < window_hi_) {
    if (*hi <= window_lo_) window_lo_ = lo ? std::min(*lo, *hi) : Duration(0);
    window_hi_ = std::max(*hi, min_window);
  }
}

void RateLimiter::sync_count(TimePoint sent_at, std::int64_t count, bool exact) {
  std::int64_t held = count_in_window(sent_at);
  if (count > held) {
    for (; held < count; ++held) insert_entry({sent_at, true, false});
    return;
  }
  if (!exact) return;
  // Unknown entries were placed as late as possible; the server holding fewer means the oldest
  // of them have already left its log.
  const TimePoint oldest_held = sent_at - window_hi_ - margin();
  for (auto it = log_.begin(); it != log_.end() && held > count;) {
    if (it->unknown && it->at > oldest_held && it->at <= sent_at) {
      it = log_.erase(it);
      --held;
    } else {
      ++it;
    }
  }
}

void RateLimiter::free_oldest_unknown(TimePoint sent_at, TimePoint frees_at) {
  // Unknown entries are never placed earlier than the requests they stand for, so when the
  // oldest held entry is one of them, the server's oldest request is unknown too and its slot
  // frees by frees_at.
  const TimePoint oldest_held = sent_at - window_hi_ - margin();
  const auto it = std::find_if(log_.begin(), log_.end(), [&](const Entry& e) {
    return e.at > oldest_held && e.at <= sent_at;
  });
  if (it == log_.end() || !it->unknown) return;
  const TimePoint at = frees_at - window_hi_ - margin();
  if (at >= it->at) return;
  log_.erase(it);
  insert_entry({at, true, false});
}

void RateLimiter::on_refused(TimePoint sent_at, TimePoint received_at,
                             const RateLimitHeaders& headers) {
  confirm(sent_at);
  probing_ = false;
  const std::optional<std::int64_t> wait =
      headers.retry_after_s ? headers.retry_after_s : headers.reset_s;
  const Duration until_free = wait ? Duration(seconds(*wait)) : window_hi_;
  floor_ = std::max(floor_, received_at + until_free + margin());

  // The server already held `limit` requests: if ours reach further back than the window we
  // assumed, the window is longer.
  const std::vector<Entry> entries = entries_up_to(sent_at);
  const auto n = static_cast<std::size_t>(limit_);
  bool own = entries.size() > n;
  for (std::size_t i = 1; own && i <= n; ++i) own = !entries[i].unknown && entries[i].confirmed;
  if (own) observe_window(sent_at - entries[n].at, std::nullopt);

  // Refused requests stay in the server's log: it holds at least limit + 1 now. A bare
  // Retry-After is all the server chose to say, and it is trusted as is.
  if (!headers.remaining) return;
  sync_count(sent_at, limit_ + 1, false);
  if (wait) free_oldest_unknown(sent_at, received_at + seconds(*wait));
}

void RateLimiter::prune(TimePoint now) {
  // Entries well past the window still prove a longer window if the server turns out to hold
  // them; beyond that they only cost memory.
  const TimePoint keep_after = now - 2 * window_hi_ - margin() - seconds(1);
  const auto max_size = static_cast<std::size_t>(4 * limit_ + 16);
  while (!log_.empty() && (log_.front().at < keep_after || log_.size() > max_size)) {
    log_.pop_front();
  }
}

}  // namespace ingestd
