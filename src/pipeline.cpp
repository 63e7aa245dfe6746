#include "ingestd/pipeline.hpp"

#include <spdlog/spdlog.h>

#include <condition_variable>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

#include "ingestd/backoff.hpp"
#include "ingestd/bounded_queue.hpp"
#include "ingestd/cursor.hpp"
#include "ingestd/errors.hpp"
#include "ingestd/http_client.hpp"
#include "ingestd/outcome.hpp"
#include "ingestd/page_parser.hpp"
#include "ingestd/rate_limiter.hpp"
#include "ingestd/sleep.hpp"

namespace ingestd {

namespace {

using SteadyClock = std::chrono::steady_clock;

struct FetchedPage {
  std::int64_t number = 0;
  std::string cursor_used;
  std::string body;
  PageInfo info;
};

struct DecodedBatch {
  std::int64_t number = 0;
  std::string cursor_used;
  PageInfo info;
  DecodedPage page;
};

std::int64_t unix_ms_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The first failure of any stage, kept so run() can rethrow it on the calling thread.
class FailureLatch {
 public:
  void set(std::exception_ptr e) {
    std::lock_guard lock(mutex_);
    if (!error_) error_ = std::move(e);
  }
  std::exception_ptr get() const {
    std::lock_guard lock(mutex_);
    return error_;
  }

 private:
  mutable std::mutex mutex_;
  std::exception_ptr error_;
};

RateLimiter::Options limiter_options(const Config& config) {
  RateLimiter::Options options;
  if (config.rate_limit) {
    options.ceiling = RateLimiter::Ceiling{
        config.rate_limit->limit,
        std::chrono::duration_cast<RateLimiter::Duration>(config.rate_limit->window)};
  }
  return options;
}

// The limiter reasons in steady time; what survives a restart must be wall-clock instants.
class WallClock {
 public:
  std::int64_t to_epoch_ms(SteadyClock::time_point t) const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch() + offset_)
        .count();
  }
  SteadyClock::time_point from_epoch_ms(std::int64_t ms) const {
    return SteadyClock::time_point(
        std::chrono::duration_cast<SteadyClock::duration>(std::chrono::milliseconds(ms) - offset_));
  }

 private:
  std::chrono::nanoseconds offset_ =
      std::chrono::system_clock::now().time_since_epoch() - SteadyClock::now().time_since_epoch();
};

// How many complete JSON answers that are not the contract's page end the run.
constexpr int kMaxForeignEnvelopes = 3;
// A request is recorded this far ahead of the instant it is planned for, so that the record
// never precedes the real send even when the save itself takes a moment.
constexpr auto kRecordLead = std::chrono::milliseconds(20);

class Fetcher {
 public:
  Fetcher(const Config& config, Metrics& metrics, std::optional<std::string> cursor,
          std::int64_t pages_done, std::unique_ptr<Store> rate_store)
      : config_(config),
        metrics_(metrics),
        http_({config.api_key, config.http_timeout, config.http_connect_timeout, config.http_gzip}),
        limiter_(limiter_options(config)),
        backoff_(BackoffPolicy{.max_attempts = config.retry_max_attempts}, std::random_device{}()),
        cursor_(std::move(cursor)),
        page_number_(pages_done),
        rate_store_(std::move(rate_store)) {
    restore_rate_state();
  }

  void run(BoundedQueue<FetchedPage>& out, std::stop_token stop) {
    recover_expired_cursor_at_start();
    HttpResult result;
    int consecutive_refusals = 0;
    while (!stop.stop_requested()) {
      const auto now = SteadyClock::now();
      const auto permit = limiter_.next_send_time(now);
      if (permit > now) {
        metrics_.rate_limit_wait_us +=
            std::chrono::duration_cast<std::chrono::microseconds>(permit - now).count();
        if (!sleep_until(permit, stop)) return;
      }
      const std::string url = page_url();
      record_send(SteadyClock::now(), stop);
      const auto sent = SteadyClock::now();
      const auto sent_wall = std::chrono::system_clock::now();
      limiter_.on_send(sent);
      http_.get(url, result, stop);
      if (stop.stop_requested()) return;
      const auto received = SteadyClock::now();
      metrics_.count_status(result.status);
      limiter_.on_response(sent, received, result.status,
                           parse_rate_limit(result, {sent_wall, std::chrono::system_clock::now()}));
      metrics_.rate_limit = limiter_.limit().value_or(0);
      metrics_.rate_window_ms =
          std::chrono::duration_cast<std::chrono::milliseconds>(limiter_.window()).count();
      spdlog::debug("upstream: HTTP {} in {} ms; limit {}, window {} ms, next request in {} ms",
                    result.status,
                    std::chrono::duration_cast<std::chrono::milliseconds>(received - sent).count(),
                    metrics_.rate_limit.load(), metrics_.rate_window_ms.load(),
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
          const std::string what = "upstream: the response of " + config_.events_url() + " " +
                                   e.what() + "; does UPSTREAM_BASE_URL point at the events API?";
          if (++foreign_envelopes_ >= kMaxForeignEnvelopes) throw FatalError(what);
          outcome = {OutcomeKind::retry_backoff, what};
        }
      }
      if (outcome.kind != OutcomeKind::rate_limited) consecutive_refusals = 0;
      switch (outcome.kind) {
        case OutcomeKind::ok: {
          backoff_.reset();
          metrics_.pages_fetched++;
          metrics_.bytes_fetched += static_cast<std::int64_t>(result.body.size());
          if (info->total) metrics_.upstream_total = *info->total;
          if (info->cursor_expires_in_s) cursor_ttl_s_ = *info->cursor_expires_in_s;
          FetchedPage page{++page_number_, cursor_.value_or(""), std::move(result.body), *info};
          const bool last = !info->has_more;
          cursor_ = info->next_cursor;
          reissued_ = false;
          if (!out.push(std::move(page), stop)) return;
          metrics_.fetch_queue_depth = static_cast<std::int64_t>(out.size());
          if (last) return;
          break;
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
  }

 private:
  void restore_rate_state() {
    const auto saved = rate_store_->load_rate_state(config_.stream);
    if (!saved) return;
    RateLimiter::Snapshot snapshot;
    snapshot.limit = saved->limit;
    snapshot.window = std::chrono::milliseconds(saved->window_ms);
    for (const std::int64_t ms : saved->sent_at_ms)
      snapshot.sent.push_back(wall_.from_epoch_ms(ms));
    limiter_.restore(snapshot);
    spdlog::info(
        "rate limit: {} earlier requests may still count upstream (limit {}, window {} ms)",
        snapshot.sent.size(),
        snapshot.limit ? std::to_string(*snapshot.limit) : std::string("unknown"),
        saved->window_ms);
  }

  // The request about to leave is saved with those still in the window before it goes, so a
  // process that restarts after a crash knows what the server's log holds.
  void record_send(SteadyClock::time_point at, std::stop_token stop) {
    const RateLimiter::Snapshot snapshot = limiter_.snapshot(at);
    RateLimitState state;
    state.limit = snapshot.limit;
    state.window_ms = std::max<std::int64_t>(
        1, std::chrono::duration_cast<std::chrono::milliseconds>(snapshot.window).count());
    for (const auto t : snapshot.sent) state.sent_at_ms.push_back(wall_.to_epoch_ms(t));
    state.sent_at_ms.push_back(wall_.to_epoch_ms(at + kRecordLead));
    try {
      if (!rate_store_) {
        rate_store_ = Store::connect(config_.database_url, std::chrono::seconds(1), stop);
      }
      rate_store_->save_rate_state(config_.stream, state);
      rate_record_failing_ = false;
    } catch (const DatabaseError& e) {
      // Pacing goes on from memory; only a crash in this state could cost a 429.
      if (!rate_record_failing_) spdlog::warn("rate limit: send times not saved: {}", e.what());
      rate_record_failing_ = true;
      if (rate_store_ && !rate_store_->connection_ok()) rate_store_.reset();
    }
  }

  std::string page_url() const {
    std::string url = config_.events_url() + "?limit=" + std::to_string(config_.page_limit);
    if (cursor_) url += "&cursor=" + http_.escape(*cursor_);
    return url;
  }

  void retry_after_backoff(const Outcome& outcome, std::stop_token stop) {
    auto delay = backoff_.next();
    if (!delay) {
      throw TemporaryError("upstream: giving up after " +
                           std::to_string(config_.retry_max_attempts) +
                           " retries: " + outcome.message);
    }
    metrics_.retries++;
    spdlog::warn("upstream: {}; retry {} in {} ms", outcome.message, backoff_.attempts(),
                 delay->count());
    sleep_until(SteadyClock::now() + *delay, stop);
  }

  std::int64_t fresh_expiry_ms() const { return unix_ms_now() + cursor_ttl_s_ * 1000; }

  void recover_expired_cursor_at_start() {
    if (!cursor_ || !cursor_expired(*cursor_, unix_ms_now(), 2000)) return;
    spdlog::warn("cursor: the saved cursor has expired");
    recover_cursor(Outcome{OutcomeKind::cursor_expired, "saved cursor expired"});
  }

  // The server trusts a cursor's expiry as sent, so the same position with a fresh expiry
  // resumes without refetching; when that fails (or is not allowed) paging restarts from the
  // first page, which costs requests but stays exact because inserts are idempotent.
  void recover_cursor(const Outcome& why) {
    if (!cursor_) throw TemporaryError("upstream: " + why.message + " on the first page");
    if (config_.cursor_recovery == CursorRecovery::reissue && !reissued_) {
      if (auto fresh = reissue_cursor(*cursor_, fresh_expiry_ms())) {
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

  const Config& config_;
  Metrics& metrics_;
  HttpClient http_;
  RateLimiter limiter_;
  Backoff backoff_;
  std::optional<std::string> cursor_;
  std::int64_t page_number_;
  std::int64_t cursor_ttl_s_ = 115;
  bool reissued_ = false;
  int foreign_envelopes_ = 0;
  std::unique_ptr<Store> rate_store_;
  WallClock wall_;
  bool rate_record_failing_ = false;
};

void decode_stage(BoundedQueue<FetchedPage>& in, BoundedQueue<DecodedBatch>& out, Metrics& metrics,
                  std::stop_token stop) {
  while (auto fetched = in.pop(stop)) {
    metrics.fetch_queue_depth = static_cast<std::int64_t>(in.size());
    DecodedBatch batch{
        fetched->number, std::move(fetched->cursor_used), std::move(fetched->info), {}};
    try {
      batch.page = decode_page(fetched->body);
    } catch (const PageError& e) {
      // The fetcher validated the envelope; damage inside the data array is rare enough to
      // end the run with a consistent checkpoint and let the restart fetch the page again.
      throw TemporaryError("page " + std::to_string(batch.number) + " is corrupt: " + e.what());
    }
    if (!out.push(std::move(batch), stop)) return;
    metrics.write_queue_depth = static_cast<std::int64_t>(out.size());
  }
}

class Writer {
 public:
  Writer(const Config& config, std::unique_ptr<Store>& store, Metrics& metrics)
      : config_(config), store_(store), metrics_(metrics) {}

  void run(BoundedQueue<DecodedBatch>& in, std::stop_token stop, bool& completed) {
    while (auto batch = in.pop(stop)) {
      metrics_.write_queue_depth = static_cast<std::int64_t>(in.size());
      PageCommit commit{batch->number, batch->info.next_cursor, !batch->info.has_more,
                        batch->info.total, batch->cursor_used};
      const auto started = SteadyClock::now();
      CommitResult r = commit_with_reconnect(commit, batch->page, stop);
      metrics_.observe_commit(
          std::chrono::duration_cast<std::chrono::microseconds>(SteadyClock::now() - started));
      metrics_.events_inserted += r.inserted;
      metrics_.events_quarantined += r.quarantined;
      metrics_.pages_committed++;
      metrics_.last_commit_unix_ms = unix_ms_now();
      for (const auto& q : batch->page.quarantined) {
        spdlog::warn("quarantined an event of page {}: {}", batch->number, q.reason);
      }
      if (r.used_fallback) {
        spdlog::info("page {}: {} of {} events were already stored", batch->number,
                     static_cast<std::int64_t>(batch->page.row_count) - r.inserted,
                     batch->page.row_count);
      }
      if (commit.done) completed = true;
    }
  }

 private:
  CommitResult commit_with_reconnect(const PageCommit& commit, const DecodedPage& page,
                                     std::stop_token stop) {
    for (;;) {
      try {
        return store_->commit_page(config_.stream, commit, page);
      } catch (const DatabaseError& e) {
        if (store_->connection_ok()) throw;
        spdlog::warn("{}; the connection is lost, reconnecting", e.what());
        store_ = Store::connect(config_.database_url, config_.db_connect_timeout, stop);
        if (!store_->try_lock_stream(config_.stream)) {
          throw TemporaryError("database: stream " + config_.stream +
                               " was taken by another ingestd while reconnecting");
        }
        spdlog::info("database: reconnected; retrying page {}", commit.page_number);
      }
    }
  }

  const Config& config_;
  std::unique_ptr<Store>& store_;
  Metrics& metrics_;
};

}  // namespace

Pipeline::Pipeline(const Config& config, std::unique_ptr<Store>& store, Metrics& metrics)
    : config_(config), store_(store), metrics_(metrics) {}

PipelineResult Pipeline::run(std::stop_token stop, const std::function<void()>& tick) {
  const Checkpoint start = store_->load_checkpoint(config_.stream);
  PipelineResult result;
  if (start.done) {
    result.completed = true;
    result.pages = start.pages;
    return result;
  }
  if (start.upstream_total) metrics_.upstream_total = *start.upstream_total;

  BoundedQueue<FetchedPage> fetched(static_cast<std::size_t>(config_.queue_pages));
  BoundedQueue<DecodedBatch> decoded(static_cast<std::size_t>(config_.queue_pages));
  FailureLatch failure;
  std::stop_source abort;  // every stage stops at once
  std::stop_source halt_fetching;
  std::stop_callback on_external_stop(stop, [&] { halt_fetching.request_stop(); });
  std::stop_callback on_abort(abort.get_token(), [&] { halt_fetching.request_stop(); });

  std::mutex done_mutex;
  std::condition_variable done_cv;
  int stages_left = 3;
  auto stage = [&](auto body, auto on_exit) {
    return [&, body, on_exit] {
      try {
        body();
      } catch (...) {
        failure.set(std::current_exception());
        abort.request_stop();
      }
      on_exit();
      std::lock_guard lock(done_mutex);
      --stages_left;
      done_cv.notify_all();
    };
  };

  bool completed = false;
  // The fetcher has a connection of its own: its small writes never wait behind a page commit.
  Fetcher fetcher(config_, metrics_, start.next_cursor, start.pages,
                  Store::connect(config_.database_url, config_.db_connect_timeout, stop));
  Writer writer(config_, store_, metrics_);
  {
    std::jthread fetch_thread(
        stage([&] { fetcher.run(fetched, halt_fetching.get_token()); }, [&] { fetched.close(); }));
    std::jthread decode_thread(
        stage([&] { decode_stage(fetched, decoded, metrics_, abort.get_token()); },
              [&] { decoded.close(); }));
    std::jthread write_thread(
        stage([&] { writer.run(decoded, abort.get_token(), completed); }, [] {}));
    std::unique_lock lock(done_mutex);
    while (
        !done_cv.wait_for(lock, std::chrono::milliseconds(200), [&] { return stages_left == 0; })) {
      lock.unlock();
      tick();
      lock.lock();
    }
  }
  if (auto e = failure.get()) {
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      store_->record_error(config_.stream, ex.what());
      throw;
    }
  }
  result.completed = completed;
  result.pages = store_->load_checkpoint(config_.stream).pages;
  return result;
}

}  // namespace ingestd
