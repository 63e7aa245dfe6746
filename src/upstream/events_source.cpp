#include "upstream/events_source.hpp"

#include <spdlog/spdlog.h>

#include <random>

#include "common/clock.hpp"
#include "common/sleep.hpp"
#include "ingestd/errors.hpp"
#include "upstream/cursor.hpp"
#include "upstream/envelope.hpp"
#include "upstream/outcome.hpp"

namespace ingestd {

namespace {

using SteadyClock = std::chrono::steady_clock;

// How many complete JSON answers that are not the contract's page end the run.
constexpr int kMaxForeignEnvelopes = 3;
// A request is recorded this far ahead of the instant it is planned for, so that the record
// never precedes the real send even when the save itself takes a moment.
constexpr auto kRecordLead = std::chrono::milliseconds(20);

}  // namespace

EventsSource::EventsSource(SourceOptions options, SourceStats& stats,
                           std::optional<std::string> cursor, std::int64_t pages_done,
                           RateStateStore& rate_state)
    : options_(std::move(options)),
      stats_(stats),
      http_({options_.api_key, options_.http_timeout, options_.http_connect_timeout,
             options_.http_gzip}),
      limiter_(RateLimiter::Options{.ceiling = options_.rate_limit}),
      backoff_(BackoffPolicy{.max_attempts = options_.retry_max_attempts}, std::random_device{}()),
      cursor_(std::move(cursor)),
      page_number_(pages_done),
      rate_state_(rate_state) {
  restore_rate_state();
  recover_expired_cursor_at_start();
}

std::optional<RawPage> EventsSource::next(std::stop_token stop) {
  if (finished_) return std::nullopt;
  HttpResult result;
  int consecutive_refusals = 0;
  while (!stop.stop_requested()) {
    const auto now = SteadyClock::now();
    const auto permit = limiter_.next_send_time(now);
    if (permit > now) {
      stats_.rate_limit_wait_us +=
          std::chrono::duration_cast<std::chrono::microseconds>(permit - now).count();
      if (!sleep_until(permit, stop)) return std::nullopt;
    }
    const std::string url = page_url();
    record_send(SteadyClock::now());
    const auto sent = SteadyClock::now();
    const auto sent_wall = std::chrono::system_clock::now();
    limiter_.on_send(sent);
    http_.get(url, result, stop);
    if (stop.stop_requested()) return std::nullopt;
    const auto received = SteadyClock::now();
    stats_.count_status(result.status);
    limiter_.on_response(sent, received, result.status,
                         parse_rate_limit(result, {sent_wall, std::chrono::system_clock::now()}));
    stats_.rate_limit = limiter_.limit().value_or(0);
    stats_.rate_window_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(limiter_.window()).count();
    spdlog::debug("upstream: HTTP {} in {} ms; limit {}, window {} ms, next request in {} ms",
                  result.status,
                  std::chrono::duration_cast<std::chrono::milliseconds>(received - sent).count(),
                  stats_.rate_limit.load(), stats_.rate_window_ms.load(),
                  std::chrono::duration_cast<std::chrono::milliseconds>(
                      limiter_.next_send_time(received) - received)
                      .count());

    Outcome outcome = classify_events_response(result);
    std::optional<PageInfo> info;
    if (outcome.kind == OutcomeKind::ok) {
      try {
        info = peek_page_info(result.body);
        foreign_envelopes_ = 0;
      } catch (const PageError& e) {
        outcome = {OutcomeKind::retry_backoff, std::string("incomplete page: ") + e.what()};
      } catch (const ContractError& e) {
        // A well-formed answer that is not the contract's page will not change by retrying;
        // a few tries only rule out a passing glitch of a proxy in between.
        const std::string what = "the response of " + options_.events_url + " " + e.what() +
                                 "; does UPSTREAM_BASE_URL point at the events API?";
        if (++foreign_envelopes_ >= kMaxForeignEnvelopes) throw FatalError("upstream: " + what);
        outcome = {OutcomeKind::retry_backoff, what};
      }
    }
    if (outcome.kind != OutcomeKind::rate_limited) consecutive_refusals = 0;
    switch (outcome.kind) {
      case OutcomeKind::ok: {
        backoff_.reset();
        stats_.pages_fetched++;
        stats_.bytes_fetched += static_cast<std::int64_t>(result.body.size());
        if (info->total) stats_.upstream_total = *info->total;
        if (info->cursor_expires_in_s) cursor_ttl_s_ = *info->cursor_expires_in_s;
        RawPage page{++page_number_, cursor_.value_or(""), std::move(result.body), "/data", *info};
        finished_ = !info->has_more;
        cursor_ = info->next_cursor;
        reissued_ = false;
        return page;
      }
      case OutcomeKind::rate_limited:
        // The limiter has already scheduled the full Retry-After; a storm that never ends
        // is an upstream outage, left to the restart policy.
        if (++consecutive_refusals > 100)
          throw TemporaryError("upstream: " + outcome.message + " (100 times in a row)");
        spdlog::warn("upstream: {}; waiting as the headers say", outcome.message);
        break;
      case OutcomeKind::retry_backoff:
        retry_after_backoff(outcome, stop);
        break;
      case OutcomeKind::cursor_expired:
      case OutcomeKind::cursor_invalid:
        recover_cursor(outcome);
        break;
      case OutcomeKind::auth_failed:
        throw AuthError("upstream refused the API key: " + outcome.message);
      case OutcomeKind::fatal:
        throw FatalError("upstream: " + outcome.message);
    }
  }
  return std::nullopt;
}

void EventsSource::restore_rate_state() {
  const auto saved = rate_state_.load();
  if (!saved) return;
  RateLimiter::Snapshot snapshot;
  snapshot.limit = saved->limit;
  snapshot.window = std::chrono::milliseconds(saved->window_ms);
  for (const std::int64_t ms : saved->sent_at_ms) snapshot.sent.push_back(wall_.from_epoch_ms(ms));
  limiter_.restore(snapshot);
  spdlog::info("rate limit: {} earlier requests may still count upstream (limit {}, window {} ms)",
               snapshot.sent.size(),
               snapshot.limit ? std::to_string(*snapshot.limit) : std::string("unknown"),
               saved->window_ms);
}

// The request about to leave is saved with those still in the window before it goes, so a
// process that restarts after a crash knows what the server's log holds.
void EventsSource::record_send(SteadyClock::time_point at) {
  const RateLimiter::Snapshot snapshot = limiter_.snapshot(at);
  RateLimitState state;
  state.limit = snapshot.limit;
  state.window_ms = std::max<std::int64_t>(
      1, std::chrono::duration_cast<std::chrono::milliseconds>(snapshot.window).count());
  for (const auto t : snapshot.sent) state.sent_at_ms.push_back(wall_.to_epoch_ms(t));
  state.sent_at_ms.push_back(wall_.to_epoch_ms(at + kRecordLead));
  try {
    rate_state_.save(state);
    rate_record_failing_ = false;
  } catch (const Error& e) {
    // Pacing goes on from memory; only a crash in this state could cost a 429.
    if (!rate_record_failing_) spdlog::warn("rate limit: send times not saved: {}", e.what());
    rate_record_failing_ = true;
  }
}

std::string EventsSource::page_url() const {
  std::string url = options_.events_url + "?limit=" + std::to_string(options_.page_limit);
  if (cursor_) url += "&cursor=" + http_.escape(*cursor_);
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
