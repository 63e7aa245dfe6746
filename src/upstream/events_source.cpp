#include "upstream/events_source.hpp"

#include <spdlog/spdlog.h>

#include <random>

#include "common/clock.hpp"
#include "common/sleep.hpp"
#include "ingestd/errors.hpp"
#include "upstream/cursor.hpp"
#include "upstream/envelope.hpp"
#include "upstream/key_fingerprint.hpp"
#include "upstream/outcome.hpp"

namespace ingestd {

namespace {

using SteadyClock = std::chrono::steady_clock;

// How many complete JSON answers that are not the contract's page end the run.
constexpr int kMaxForeignEnvelopes = 3;
// A request is recorded this far ahead of the instant it is planned for, so that the record
// never precedes the real send even when the save itself takes a moment.
constexpr auto kRecordLead = std::chrono::milliseconds(20);

// A position shown in a message: cursors can be long.
std::string shown(const std::string& position) {
  return position.size() <= 120 ? position : position.substr(0, 117) + "...";
}

}  // namespace

HttpClient::Options EventsSource::http_options(const std::string& key) const {
  HttpClient::Options o;
  o.api_key = key;
  o.timeout = options_.http_timeout;
  o.connect_timeout = options_.http_connect_timeout;
  o.gzip = options_.http_gzip;
  return o;
}

EventsSource::EventsSource(SourceOptions options, SourceStats& stats,
                           std::optional<std::string> cursor, std::int64_t pages_done,
                           RateStateStore& rate_state)
    : options_(std::move(options)),
      stats_(stats),
      pool_(options_.api_keys.size(), RateLimiter::Options{.ceiling = options_.rate_limit}),
      backoff_(BackoffPolicy{.max_attempts = options_.retry_max_attempts}, std::random_device{}()),
      cursor_(std::move(cursor)),
      page_number_(pages_done),
      rate_state_(rate_state) {
  if (options_.api_keys.empty() || options_.api_keys.size() > SourceStats::kMaxKeys) {
    throw ConfigError("upstream: 1 to " + std::to_string(SourceStats::kMaxKeys) +
                      " API keys are needed");
  }
  if (!options_.contract()) {
    paging_.emplace(
        options_.profile, options_.base_url,
        options_.page_limit_set ? std::optional<int>(options_.page_limit) : std::nullopt);
  }
  for (const std::string& key : options_.api_keys) {
    keys_.push_back(std::make_unique<Key>(profile_http_options(options_.profile, http_options(key)),
                                          key_fingerprint(key)));
  }
  stats_.key_count = static_cast<std::int64_t>(keys_.size());
  for (std::size_t k = 0; k < keys_.size(); ++k) {
    stats_.keys[k].shares_with = static_cast<std::int64_t>(k) + 1;
  }
  restore_rate_state();
  recover_expired_cursor_at_start();
}

void EventsSource::begin_pass(std::optional<std::string> cursor,
                              std::optional<std::int64_t> stop_at_us) {
  cursor_ = std::move(cursor);
  stop_at_us_ = stop_at_us;
  finished_ = false;
  reissued_ = false;
  recover_expired_cursor_at_start();
}

std::optional<RawPage> EventsSource::next(std::stop_token stop) {
  if (finished_) return std::nullopt;
  HttpResult result;
  int consecutive_refusals = 0;
  while (!stop.stop_requested()) {
    const auto now = SteadyClock::now();
    // A key refused with another key's cursor is asked once without one: a refused cursor and
    // a refused key look alike until then.
    const bool probe = key_to_verify_.has_value();
    const std::size_t key = probe ? *key_to_verify_ : choose_key(now);
    const auto permit = pool_.limiter(key).next_send_time(now);
    if (permit > now) {
      stats_.rate_limit_wait_us +=
          std::chrono::duration_cast<std::chrono::microseconds>(permit - now).count();
      // The key picked is the one whose slot frees first, so every key waits at least this long.
      if (keys_.size() > 1 && !probe && !cursors_bound_) {
        stats_.all_keys_paused_until_ms = wall_.to_epoch_ms(permit);
      }
      const bool slept = sleep_until(permit, stop);
      stats_.all_keys_paused_until_ms = 0;
      if (!slept) return std::nullopt;
    }
    Key& lane = *keys_[key];
    const bool sent_cursor = !probe && cursor_.has_value();
    const std::string url =
        probe ? (paging_ ? paging_->url(std::nullopt) : options_.events_url + "?limit=1")
              : page_url(lane.http);
    record_send(key, SteadyClock::now());
    const auto sent = SteadyClock::now();
    const auto sent_wall = std::chrono::system_clock::now();
    pool_.on_send(key, sent);
    lane.http.get(url, result, stop);
    if (stop.stop_requested()) return std::nullopt;
    const auto received = SteadyClock::now();
    stats_.count_status(result.status);
    const RateLimitHeaders headers = parse_rate_limit(
        result, {sent_wall, std::chrono::system_clock::now()}, options_.profile.rate_header_prefix);
    last_.url = url;
    last_.status = result.status;
    last_.headers = result.headers;
    last_.rate = headers;
    Outcome outcome = classify_events_response(result, headers.remaining == 0,
                                               options_.profile.cursor_expired_status,
                                               options_.profile.cursor_expired_codes);
    // A refusal spoken as 403 (GitHub's way) is a 429 to the window model.
    const int status = outcome.kind == OutcomeKind::rate_limited ? 429 : result.status;
    if (!pool_.on_response(key, sent, received, status, headers).empty()) {
      std::string together;
      for (const std::size_t k : pool_.budget_of(key)) {
        together += (together.empty() ? "" : ", ") + std::to_string(k + 1);
      }
      spdlog::warn(
          "rate limit: the count on {} includes requests sent on other keys: keys {} spend one "
          "budget upstream and are paced as one from now on (keys that had not answered yet "
          "among them)",
          key_name(key), together);
    }
    KeyStats& key_stats = stats_.keys[key];
    key_stats.requests++;
    if (status == 429) key_stats.rate_limited++;
    if (headers.remaining) key_stats.remaining = *headers.remaining;
    stats_.rate_limit = pool_.limiter(key).limit().value_or(0);
    stats_.rate_window_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(pool_.limiter(key).window()).count();
    report_keys(received);
    spdlog::debug("upstream: HTTP {} in {} ms on {}; limit {}, window {} ms, next request in {} ms",
                  result.status,
                  std::chrono::duration_cast<std::chrono::milliseconds>(received - sent).count(),
                  key_name(key), stats_.rate_limit.load(), stats_.rate_window_ms.load(),
                  std::chrono::duration_cast<std::chrono::milliseconds>(
                      pool_.limiter(key).next_send_time(received) - received)
                      .count());

    std::optional<PageInfo> info;
    if (outcome.kind == OutcomeKind::ok) {
      try {
        // A page from the head is where a pass's target comes from; a head sync's pages say
        // when it has reached its mark.
        info = read_page(result, url);
        foreign_envelopes_ = 0;
      } catch (const PageError& e) {
        outcome = {OutcomeKind::retry_backoff, std::string("incomplete page: ") + e.what()};
      } catch (const ContractError& e) {
        // A well-formed answer that is not the contract's page will not change by retrying;
        // a few tries only rule out a passing glitch of a proxy in between.
        const std::string what =
            paging_ ? "the response of " + options_.base_url + options_.profile.path + " " +
                          e.what() + " (profile " + options_.profile.name + ")"
                    : "the response of " + options_.events_url + " " + e.what() +
                          "; does UPSTREAM_BASE_URL point at the events API?";
        if (++foreign_envelopes_ >= kMaxForeignEnvelopes) throw FatalError("upstream: " + what);
        outcome = {OutcomeKind::retry_backoff, what};
      }
    }
    if (outcome.kind != OutcomeKind::rate_limited) consecutive_refusals = 0;
    if (probe && (outcome.kind == OutcomeKind::ok || outcome.kind == OutcomeKind::auth_failed)) {
      key_to_verify_.reset();
      if (outcome.kind == OutcomeKind::ok) {
        bind_cursors(key, refused_cursor_);
      } else {
        retire_key(key, outcome);
      }
      continue;
    }
    switch (outcome.kind) {
      case OutcomeKind::ok: {
        backoff_.reset();
        stats_.pages_fetched++;
        stats_.bytes_fetched += static_cast<std::int64_t>(result.body.size());
        if (info->total) stats_.upstream_total = *info->total;
        if (info->cursor_expires_in_s) cursor_ttl_s_ = *info->cursor_expires_in_s;
        if (stop_at_us_ && info->oldest_us && *info->oldest_us <= *stop_at_us_) {
          info->has_more = false;
        }
        if (info->has_more && info->next_cursor && cursor_ && *info->next_cursor == *cursor_) {
          throw FatalError("upstream: the page at " + shown(*cursor_) +
                           " names itself as the next page; stopping instead of fetching it "
                           "forever (check `pagination` in profile " +
                           options_.profile.name + ")");
        }
        RawPage page{++page_number_,
                     cursor_.value_or(""),
                     std::move(result.body),
                     paging_ ? options_.profile.records : "/data",
                     paging_ ? &options_.profile.fields : nullptr,
                     *info};
        finished_ = !info->has_more;
        cursor_ = info->next_cursor;
        cursor_key_ = key;
        reissued_ = false;
        return page;
      }
      case OutcomeKind::rate_limited:
        // The limiter has already scheduled the full Retry-After; a storm that never ends
        // is an upstream outage, left to the restart policy.
        if (++consecutive_refusals > 100)
          throw TemporaryError("upstream: " + outcome.message + " (100 times in a row)");
        if (keys_.size() > 1) {
          spdlog::warn(
              "upstream: {} on {}; it waits as the headers say, the page goes on the key "
              "whose slot is earliest",
              outcome.message, key_name(key));
        } else {
          spdlog::warn("upstream: {}; waiting as the headers say", outcome.message);
        }
        break;
      case OutcomeKind::retry_backoff:
        retry_after_backoff(outcome, stop);
        break;
      case OutcomeKind::cursor_invalid:
        if (cursor_of_another_key(key, sent_cursor)) {
          bind_cursors(key, outcome.message);
          break;
        }
        recover_cursor(outcome);
        break;
      case OutcomeKind::cursor_expired:
        recover_cursor(outcome);
        break;
      case OutcomeKind::auth_failed:
        if (cursor_of_another_key(key, sent_cursor)) {
          key_to_verify_ = key;
          refused_cursor_ = outcome.message;
          break;
        }
        retire_key(key, outcome);
        break;
      case OutcomeKind::fatal:
        throw FatalError("upstream: " + outcome.message);
    }
  }
  return std::nullopt;
}

std::pair<std::int64_t, std::chrono::milliseconds> EventsSource::pace(std::size_t key) const {
  const RateLimiter& limiter = pool_.limiter(key);
  return {limiter.limit().value_or(0),
          std::chrono::duration_cast<std::chrono::milliseconds>(limiter.window())};
}

std::size_t EventsSource::choose_key(SteadyClock::time_point now) const {
  if (cursors_bound_ && cursor_ && cursor_key_) return *cursor_key_;
  // retire_key ends the run before the last key is gone, so one is always left.
  return pool_.pick(now).value_or(0);
}

std::string EventsSource::key_name(std::size_t key) const {
  if (keys_.size() == 1) return "the API key";
  return "key " + std::to_string(key + 1) + " of " + std::to_string(keys_.size());
}

void EventsSource::report_keys(SteadyClock::time_point now) {
  for (std::size_t k = 0; k < keys_.size(); ++k) {
    KeyStats& out = stats_.keys[k];
    const RateLimiter& limiter = pool_.limiter(k);
    out.limit = limiter.limit().value_or(0);
    out.window_ms = std::chrono::duration_cast<std::chrono::milliseconds>(limiter.window()).count();
    out.next_send_unix_ms = wall_.to_epoch_ms(std::max(now, limiter.next_send_time(now)));
    out.shares_with = static_cast<std::int64_t>(pool_.budget_of(k).front()) + 1;
  }
}

bool EventsSource::cursor_of_another_key(std::size_t key, bool sent_cursor) const {
  return sent_cursor && cursor_key_ && *cursor_key_ != key && !pool_.retired(*cursor_key_);
}

void EventsSource::bind_cursors(std::size_t key, const std::string& refusal) {
  if (!cursors_bound_) {
    spdlog::warn(
        "upstream: {} refused a cursor issued to {} ({}); cursors are bound to their key, so each "
        "page now goes on the key that was issued its cursor",
        key_name(key), cursor_key_ ? key_name(*cursor_key_) : std::string("another key"), refusal);
  }
  cursors_bound_ = true;
}

void EventsSource::retire_key(std::size_t key, const Outcome& why) {
  if (keys_.size() == 1) throw AuthError("upstream refused the API key: " + why.message);
  pool_.retire(key);
  stats_.keys[key].retired = true;
  if (pool_.active() == 0) {
    throw AuthError("upstream refused every API key; the last, " + key_name(key) + ": " +
                    why.message);
  }
  spdlog::warn("upstream: {} was refused ({}); it is retired, {} of {} keys go on", key_name(key),
               why.message, pool_.active(), keys_.size());
  if (cursors_bound_ && cursor_ && cursor_key_ == key) {
    spdlog::warn(
        "cursor: it was issued to {}, which is retired; restarting from the first page: {} pages "
        "already stored will be fetched again (stored rows are kept, duplicates are skipped)",
        key_name(key), page_number_);
    cursor_.reset();
    cursor_key_.reset();
    reissued_ = false;
  }
}

void EventsSource::restore_rate_state() {
  for (std::size_t k = 0; k < keys_.size(); ++k) {
    const auto saved = rate_state_.load(keys_[k]->fingerprint);
    if (!saved) continue;
    RateLimiter::Snapshot snapshot;
    snapshot.limit = saved->limit;
    snapshot.window = std::chrono::milliseconds(saved->window_ms);
    for (const std::int64_t ms : saved->sent_at_ms) {
      snapshot.sent.push_back(wall_.from_epoch_ms(ms));
    }
    pool_.limiter(k).restore(snapshot);
    pool_.restored(k, static_cast<std::int64_t>(snapshot.sent.size()));
    spdlog::info(
        "rate limit: {} earlier requests on {} may still count upstream (limit {}, window {} ms)",
        snapshot.sent.size(), key_name(k),
        snapshot.limit ? std::to_string(*snapshot.limit) : std::string("unknown"),
        saved->window_ms);
  }
}

// The request about to leave is saved with those still in the window before it goes, so a
// process that restarts after a crash knows what the server's log holds; keys that share a
// budget each keep the whole of it.
void EventsSource::record_send(std::size_t key, SteadyClock::time_point at) {
  const RateLimiter::Snapshot snapshot = pool_.limiter(key).snapshot(at);
  RateLimitState state;
  state.limit = snapshot.limit;
  state.window_ms = std::max<std::int64_t>(
      1, std::chrono::duration_cast<std::chrono::milliseconds>(snapshot.window).count());
  for (const auto t : snapshot.sent) state.sent_at_ms.push_back(wall_.to_epoch_ms(t));
  state.sent_at_ms.push_back(wall_.to_epoch_ms(at + kRecordLead));
  Key& lane = *keys_[key];
  try {
    for (const std::size_t k : pool_.budget_of(key)) rate_state_.save(keys_[k]->fingerprint, state);
    lane.record_failing = false;
  } catch (const Error& e) {
    // Pacing goes on from memory; only a crash in this state could cost a 429.
    if (!lane.record_failing) spdlog::warn("rate limit: send times not saved: {}", e.what());
    lane.record_failing = true;
  }
}

PageInfo EventsSource::read_page(const HttpResult& result, const std::string& url) const {
  if (!paging_) return peek_page_info(result.body, !cursor_ || stop_at_us_);
  return paging_->read(result.body, result.headers, url, cursor_);
}

std::string EventsSource::page_url(const HttpClient& http) const {
  if (paging_) return paging_->url(cursor_);
  std::string url = options_.events_url + "?limit=" + std::to_string(options_.page_limit);
  if (cursor_) url += "&cursor=" + http.escape(*cursor_);
  return url;
}

void EventsSource::retry_after_backoff(const Outcome& outcome, std::stop_token stop) {
  auto delay = backoff_.next();
  if (!delay) {
    throw TemporaryError("upstream: giving up after " +
                         std::to_string(options_.retry_max_attempts) +
                         " retries: " + outcome.message);
  }
  stats_.retries++;
  spdlog::warn("upstream: {}; retry {} in {} ms", outcome.message, backoff_.attempts(),
               delay->count());
  sleep_until(SteadyClock::now() + *delay, stop);
}

void EventsSource::recover_expired_cursor_at_start() {
  if (!cursor_ || !cursor_expired(*cursor_, unix_ms_now(), 2000)) return;
  spdlog::warn("cursor: the saved cursor has expired");
  recover_cursor(Outcome{OutcomeKind::cursor_expired, "saved cursor expired"});
}

// The server trusts a cursor's expiry as sent, so the same position with a fresh expiry
// resumes without refetching; when that fails (or is not allowed) paging restarts from the
// first page, which costs requests but stays exact because inserts are idempotent.
void EventsSource::recover_cursor(const Outcome& why) {
  if (!cursor_) throw TemporaryError("upstream: " + why.message + " on the first page");
  if (options_.cursor_recovery == CursorRecovery::reissue && !reissued_) {
    if (auto fresh = reissue_cursor(*cursor_, unix_ms_now() + cursor_ttl_s_ * 1000)) {
      spdlog::warn("cursor: {}; reissuing the same position with a fresh expiry", why.message);
      cursor_ = std::move(*fresh);
      reissued_ = true;
      return;
    }
  }
  spdlog::warn(
      "cursor: {}; restarting from the first page: {} pages already stored will be "
      "fetched again (stored rows are kept, duplicates are skipped)",
      why.message, page_number_);
  cursor_.reset();
  reissued_ = false;
}

}  // namespace ingestd
