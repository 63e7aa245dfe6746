#include "upstream/rate_limiter.hpp"

#include <algorithm>
#include <cctype>
#include <string_view>

#include "common/text.hpp"
#include "common/timestamp.hpp"
#include "upstream/outcome.hpp"

namespace ingestd {

namespace {

using std::chrono::seconds;

// A wait beyond a day is not a wait this daemon should honour silently: such a value is taken
// as unusable.
constexpr std::int64_t kMaxSeconds = 86'400;
constexpr std::int64_t kMaxLimit = 1'000'000'000;
constexpr std::size_t kMaxDigits = 16;
// Reset values this large are epoch instants: 10^9 s is in 2001, 10^12 ms too.
constexpr std::int64_t kEpochSeconds = 1'000'000'000;
constexpr std::int64_t kEpochMillis = 1'000'000'000'000;

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
std::optional<std::int64_t> parse_count(std::optional<std::string_view> raw) {
  if (!raw) return std::nullopt;
  const std::string_view s = trim(*raw);
  if (!all_digits(s)) return std::nullopt;
  const std::int64_t v = to_int(s);
  if (v > kMaxLimit) return std::nullopt;
  return v;
}

// A non-negative number, possibly with a fraction, which rounds up so that waiting it is never
// too short.
std::optional<std::int64_t> parse_number_up(std::string_view s) {
  s = trim(s);
  const std::size_t dot = s.find('.');
  const std::string_view whole = s.substr(0, dot);
  if (!all_digits(whole)) return std::nullopt;
  std::int64_t v = to_int(whole);
  if (dot != std::string_view::npos) {
    const std::string_view frac = s.substr(dot + 1);
    if (!all_digits(frac)) return std::nullopt;
    if (frac.find_first_not_of('0') != std::string_view::npos) ++v;
  }
  return v;
}

// A non-negative number in thousandths (45.2 → 45200), digits past the third decimal
// rounding up.
std::optional<std::int64_t> parse_thousandths(std::string_view s) {
  s = trim(s);
  const std::size_t dot = s.find('.');
  const std::string_view whole = s.substr(0, dot);
  if (!all_digits(whole) || whole.size() > 15) return std::nullopt;
  std::int64_t v = to_int(whole) * 1000;
  if (dot != std::string_view::npos) {
    const std::string_view frac = s.substr(dot + 1);
    if (!all_digits(frac)) return std::nullopt;
    std::int64_t scale = 100;
    for (std::size_t i = 0; i < frac.size() && i < 3; ++i, scale /= 10)
      v += (frac[i] - '0') * scale;
    if (frac.size() > 3 && frac.find_first_not_of('0', 3) != std::string_view::npos) ++v;
  }
  return v;
}

using std::chrono::milliseconds;

std::optional<milliseconds> bounded_wait(milliseconds wait) {
  if (wait > seconds(kMaxSeconds)) return std::nullopt;
  return std::max(wait, milliseconds(0));
}

std::int64_t epoch_ms(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<milliseconds>(t.time_since_epoch()).count();
}

// Where this machine's clock stands against the server's, read from the Date header.
struct ServerClock {
  std::optional<std::int64_t> date_ms;  // the answer's Date
  std::int64_t skew_ms = 0;             // server minus this machine, 0 when they agree
};

ServerClock server_clock(const HttpHeaders& headers, ExchangeTimes at) {
  ServerClock clock;
  const auto date = headers.get("Date");
  const auto date_s = date ? parse_http_date(trim(*date)) : std::nullopt;
  if (!date_s) return clock;
  clock.date_ms = *date_s * 1000;
  // Date is truncated to the second and written before the answer travels: a Date from the
  // second before receipt, or during it, shows clocks that agree.
  const std::int64_t received = epoch_ms(at.received);
  if (*clock.date_ms < received - 2000 || *clock.date_ms > received + 1000) {
    clock.skew_ms = *clock.date_ms - received;
  }
  return clock;
}

struct Reset {
  std::optional<milliseconds> wait;
  milliseconds spread{1000};
  bool whole_epoch_second = false;
};

// Until the instant a Reset value (in thousandths) names: relative seconds, or an epoch instant
// in seconds (with or without a fraction) or milliseconds. The contract rounds its relative
// seconds up, so the truth lies within the second below. A whole epoch second may be rounded
// either way (a fixed window's reset is often truncated): it is read as its later end, with the
// truth anywhere in the two seconds below, since a refused request costs more than a second. A
// corrected clock skew adds Date's own second.
Reset reset_wait(std::int64_t thousandths, ExchangeTimes at, const ServerClock& clock) {
  Reset r;
  if (thousandths < kEpochSeconds * 1000) {
    r.wait = bounded_wait(milliseconds(thousandths));
    return r;
  }
  std::int64_t instant_ms = thousandths;
  if (thousandths >= kEpochMillis * 1000) {
    instant_ms = (thousandths + 999) / 1000;
  } else if (thousandths % 1000 == 0) {
    instant_ms += 1000;
    r.spread += seconds(1);
    r.whole_epoch_second = true;
  }
  r.wait = bounded_wait(milliseconds(instant_ms - (epoch_ms(at.sent) + clock.skew_ms)));
  if (clock.skew_ms != 0) r.spread += seconds(1);
  return r;
}

// Delta-seconds or an HTTP-date.
std::optional<milliseconds> parse_retry_after(std::optional<std::string_view> raw, ExchangeTimes at,
                                              const ServerClock& clock) {
  if (!raw) return std::nullopt;
  if (const auto v = parse_number_up(*raw)) return bounded_wait(seconds(*v));
  if (const auto when = parse_http_date(trim(*raw))) {
    const std::int64_t now_ms = clock.date_ms.value_or(epoch_ms(at.received));
    return bounded_wait(milliseconds(*when * 1000 - now_ms));
  }
  return std::nullopt;
}

bool served_from_cache(const HttpHeaders& headers) {
  const auto cache = headers.get("X-Cache");
  if (!cache) return false;
  const std::string_view v = trim(*cache);
  return v.size() >= 3 && std::tolower(static_cast<unsigned char>(v[0])) == 'h' &&
         std::tolower(static_cast<unsigned char>(v[1])) == 'i' &&
         std::tolower(static_cast<unsigned char>(v[2])) == 't';
}

// Limit and Remaining describe one budget: without a usable Limit, or with more remaining than
// the limit, neither is something to pace by.
void drop_inconsistent(RateLimitHeaders& h, bool limit_sent) {
  if (h.limit && *h.limit == 0) h.limit.reset();
  if ((limit_sent && !h.limit) || (h.limit && h.remaining && *h.remaining > *h.limit)) {
    h.limit.reset();
    h.remaining.reset();
  }
}

}  // namespace

RateLimitHeaders parse_rate_limit_headers(const HttpHeaders& headers, ExchangeTimes at,
                                          std::string_view vendor_prefix) {
  if (served_from_cache(headers)) {
    RateLimitHeaders uncounted;
    uncounted.counted = false;
    return uncounted;
  }
  const ServerClock clock = server_clock(headers, at);
  RateLimitHeaders h;
  // The first dialect the response speaks: a profile's vendor prefix, then the common ones.
  std::string prefix = "X-RateLimit-";
  for (const std::string_view candidate :
       {vendor_prefix, std::string_view("X-RateLimit-"), std::string_view("RateLimit-"),
        std::string_view("X-Rate-Limit-")}) {
    if (candidate.empty()) continue;
    const std::string c(candidate);
    if (headers.get(c + "Limit") || headers.get(c + "Remaining") || headers.get(c + "Reset")) {
      prefix = c;
      break;
    }
  }
  const auto limit_header = headers.get(prefix + "Limit");
  h.limit = parse_count(limit_header);
  h.remaining = parse_count(headers.get(prefix + "Remaining"));
  if (const auto raw = headers.get(prefix + "Reset")) {
    if (const auto value = parse_thousandths(*raw)) {
      const Reset reset = reset_wait(*value, at, clock);
      h.reset = reset.wait;
      h.reset_spread = reset.spread;
      h.window_may_be_fixed = reset.whole_epoch_second;
    }
  }
  h.retry_after = parse_retry_after(headers.get("Retry-After"), at, clock);
  drop_inconsistent(h, limit_header.has_value());
  return h;
}

RateLimitHeaders parse_rate_limit(const HttpResult& response, ExchangeTimes at,
                                  std::string_view vendor_prefix) {
  RateLimitHeaders h = parse_rate_limit_headers(response.headers, at, vendor_prefix);
  if (response.status != 429 || (h.retry_after && h.limit && h.remaining && h.reset)) return h;
  const ErrorBody body = parse_error_body(response.body);
  if (!h.retry_after && body.retry_after) h.retry_after = bounded_wait(seconds(*body.retry_after));
  if (!h.reset && body.reset) {
    const Reset reset = reset_wait(*body.reset * 1000, at, server_clock(response.headers, at));
    h.reset = reset.wait;
    h.reset_spread = reset.spread;
  }
  if (!h.limit && !h.remaining && body.limit && *body.limit <= kMaxLimit) {
    h.limit = body.limit;
    h.remaining = body.remaining;
    drop_inconsistent(h, true);
  }
  return h;
}

RateLimiter::RateLimiter(Options options)
    : options_(options),
      fixed_margin_(options.margin),
      window_hi_(std::max(options.initial_window, Duration(std::chrono::milliseconds(1)))) {}

std::optional<std::int64_t> RateLimiter::limit() const {
  if (!limit_known_) return std::nullopt;
  return limit_;
}

RateLimiter::Duration RateLimiter::margin() const {
  return fixed_margin_ +
         std::chrono::duration_cast<Duration>(window_hi_ * std::max(options_.margin_fraction, 0.0));
}

RateLimiter::TimePoint RateLimiter::next_send_time(TimePoint now) const {
  if (probing_ && !in_flight_.empty()) return TimePoint::max();
  TimePoint t = std::max(now, floor_);
  if (options_.ceiling) {
    const auto n = static_cast<std::size_t>(options_.ceiling->limit);
    if (ceiling_log_.size() >= n) {
      t = std::max(t, ceiling_log_[ceiling_log_.size() - n] + options_.ceiling->window + margin());
    }
  }
  if (grant_ > 0 || !limit_known_) return t;
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
  if (grant_ > 0) --grant_;
  if (options_.ceiling) ceiling_log_.push_back(sent_at);
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
  if (!headers.counted) {
    // Answered from a cache in front of the limiter: the server's log never held it, and
    // keeping it would make the next count look like a window shorter than it is.
    const auto own = std::find_if(log_.begin(), log_.end(),
                                  [&](const Entry& e) { return !e.unknown && e.at == sent_at; });
    if (own != log_.end()) log_.erase(own);
    return;
  }
  if (headers.limit) {
    limit_ = *headers.limit;
    limit_known_ = true;
  }
  // A page was served, so the server logged the request even when its headers are unusable;
  // later responses can then use its send time as evidence.
  if (http_status == 200) confirm(sent_at);
  if (http_status != 429 && headers.remaining && sent_at >= grant_for_) {
    // Remaining was counted when this request arrived; requests sent since then spend it.
    const auto later = std::count_if(in_flight_.begin(), in_flight_.end(),
                                     [&](TimePoint t) { return t > sent_at; });
    grant_ = std::max<std::int64_t>(0, *headers.remaining - later);
    grant_for_ = sent_at;
  }
  if (http_status == 429) {
    on_refused(sent_at, received_at, headers);
  } else if (limit_known_ && headers.remaining && *headers.remaining < limit_) {
    // Remaining == 0 only says the log is full: the count may be larger still.
    const std::int64_t count = limit_ - *headers.remaining;
    const bool exact = *headers.remaining > 0;
    confirm(sent_at);
    probing_ = false;
    learn_window(sent_at, count, exact, headers);
    sync_count(sent_at, count, exact);
    if (!exact && headers.reset) {
      free_oldest_unknown(sent_at, received_at + *headers.reset);
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

  const std::optional<Duration> reset = headers.reset;
  const Duration spread = headers.reset_spread;
  if (exact && count == 1 && reset && *reset > Duration(0)) {
    upper(*reset);
    lower(*reset - spread);
  }
  if (exact && known >= count && !headers.window_may_be_fixed) upper(age(count));
  if (count >= 2 && known >= count - 1) {
    lower(age(count - 1));
    // The oldest entry the server holds is ours, so Reset measures from a known send time.
    if (exact && reset && *reset > Duration(0)) {
      upper(*reset + age(count - 1));
      lower(*reset - spread + age(count - 1));
    }
  }
  observe_window(lo, hi, false);
}

void RateLimiter::observe_window(std::optional<Duration> lo, std::optional<Duration> hi,
                                 bool refused) {
  if (lo || hi) window_guessed_ = false;
  const Duration min_window = std::chrono::milliseconds(1);
  if (lo && *lo >= window_hi_) {
    window_lo_ = *lo;
    if (hi && *hi > *lo) {
      window_hi_ = *hi;
    } else if (!refused && *lo < window_hi_ + margin()) {
      // Bounds come from send times, the server's from arrivals: a difference in one-way
      // delay can put a bound that much past the truth. Unless a request was refused, that
      // moves the window but is no sign of a longer one.
      window_hi_ = *lo;
    } else {
      window_hi_ = std::max<Duration>(2 * *lo, *lo + seconds(1));
    }
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
  grant_ = 0;
  const std::optional<Duration> wait = headers.retry_after ? headers.retry_after : headers.reset;
  const Duration until_free = wait ? *wait : window_hi_;
  if (limit_known_) {
    fixed_margin_ = std::min(std::max<Duration>(2 * fixed_margin_, std::chrono::milliseconds(1)),
                             std::max(options_.max_margin, options_.margin));
  } else {
    learn_from_refusal(sent_at, received_at, wait);
  }
  floor_ = std::max(floor_, received_at + until_free + margin());
  burst_start_ = floor_;

  // The server already held `limit` requests: if ours reach further back than the window we
  // assumed, the window is longer. While the window is still the initial guess, the oldest of
  // them is taken to free its slot when the wait ends, which bounds the window from above (from
  // its send time, before it arrived), as the first refusal of an upstream that names no limit
  // teaches it: a limit named only in a 429's body would otherwise leave every later window
  // paced as the guess. Once counts have bounded the window, the server may hold more than
  // `limit` (a lowered limit, another client), and only the lower bound is sound.
  if (!limit_known_) return;
  const std::vector<Entry> entries = entries_up_to(sent_at);
  const auto n = static_cast<std::size_t>(limit_);
  bool own = entries.size() > n;
  for (std::size_t i = 1; own && i <= n; ++i) own = !entries[i].unknown && entries[i].confirmed;
  if (own) {
    const Duration lo = sent_at - entries[n].at;
    std::optional<Duration> hi;
    if (wait && window_guessed_) hi = std::max(lo, received_at + *wait - entries[n].at);
    observe_window(lo, hi, true);
  }

  // Refused requests stay in the server's log: it holds at least limit + 1 now. A bare
  // Retry-After is all the server chose to say, and it is trusted as is.
  if (!headers.remaining) return;
  sync_count(sent_at, limit_ + 1, false);
  if (wait) free_oldest_unknown(sent_at, received_at + *wait);
}

void RateLimiter::learn_from_refusal(TimePoint sent_at, TimePoint received_at,
                                     std::optional<Duration> wait) {
  // Every request since the last refusal's wait was accepted, so together they filled the
  // server's log: that many is the limit. The oldest of them is the one whose slot frees when
  // the wait ends, which measures the window.
  const auto first = std::find_if(log_.begin(), log_.end(), [&](const Entry& e) {
    return e.at >= burst_start_ && e.at < sent_at;
  });
  const auto accepted =
      std::count_if(first, log_.end(), [&](const Entry& e) { return e.at < sent_at; });
  // Refused at once: someone else spent the budget, and there is nothing to learn from.
  if (accepted == 0) return;
  limit_ = accepted;
  limit_known_ = true;
  if (wait) {
    window_lo_ = Duration(0);
    window_hi_ = std::max<Duration>(received_at + *wait - first->at, std::chrono::milliseconds(1));
    window_guessed_ = false;
  }
}

void RateLimiter::prune(TimePoint now) {
  if (options_.ceiling) {
    while (!ceiling_log_.empty() &&
           ceiling_log_.front() < now - options_.ceiling->window - margin()) {
      ceiling_log_.pop_front();
    }
  }
  // Entries well past the window still prove a longer window if the server turns out to hold
  // them; beyond that they only cost memory. Until a limit is known, every request may be one
  // that a first 429 will have to count.
  const TimePoint keep_after = now - 2 * window_hi_ - margin() - seconds(1);
  const auto max_size = static_cast<std::size_t>(limit_known_ ? 4 * limit_ + 16 : 100'000);
  while (!log_.empty() && (log_.front().at < keep_after || log_.size() > max_size)) {
    log_.pop_front();
  }
}

RateLimiter::Snapshot RateLimiter::snapshot(TimePoint now) const {
  Snapshot s;
  s.limit = limit();
  s.window = window_hi_;
  Duration reach = window_hi_;
  if (options_.ceiling) reach = std::max(reach, Duration(options_.ceiling->window));
  const TimePoint oldest = now - reach - margin();
  for (const Entry& e : log_) {
    if (e.at > oldest) s.sent.push_back(e.at);
  }
  return s;
}

void RateLimiter::restore(const Snapshot& snapshot) {
  if (snapshot.limit && *snapshot.limit > 0) {
    limit_ = *snapshot.limit;
    limit_known_ = true;
  }
  // A window the previous process had learned, not merely the same guess.
  if (snapshot.window > Duration(0)) {
    window_hi_ = snapshot.window;
    window_guessed_ = snapshot.window == options_.initial_window;
  }
  for (const TimePoint at : snapshot.sent) {
    insert_entry({at, false, false});
    if (options_.ceiling) ceiling_log_.push_back(at);
  }
  std::sort(ceiling_log_.begin(), ceiling_log_.end());
}

}  // namespace ingestd
