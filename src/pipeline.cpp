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

class Fetcher {
 public:
  Fetcher(const Config& config, Metrics& metrics, std::optional<std::string> cursor,
          std::int64_t pages_done)
      : config_(config),
        metrics_(metrics),
        http_({config.api_key, config.http_timeout, config.http_connect_timeout, config.http_gzip}),
        limiter_(RateLimiter::Options{}),
        backoff_(BackoffPolicy{.max_attempts = config.retry_max_attempts}, std::random_device{}()),
        cursor_(std::move(cursor)),
        page_number_(pages_done) {}

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
      const auto sent = SteadyClock::now();
      limiter_.on_send(sent);
      http_.get(url, result, stop);
      if (stop.stop_requested()) return;
      const auto received = SteadyClock::now();
      metrics_.count_status(result.status);
      limiter_.on_response(sent, received, result.status, parse_rate_limit_headers(result.headers));
      metrics_.rate_limit = limiter_.limit();
      metrics_.rate_window_ms =
          std::chrono::duration_cast<std::chrono::milliseconds>(limiter_.window()).count();

      Outcome outcome = classify_events_response(result);
      std::optional<PageInfo> info;
      if (outcome.kind == OutcomeKind::ok) {
        try {
          info = peek_page_info(result.body);
        } catch (const PageError& e) {
          outcome = {OutcomeKind::retry_backoff, std::string("incomplete page: ") + e.what()};
        }
      }
      if (outcome.kind != OutcomeKind::rate_limited) consecutive_refusals = 0;
      switch (outcome.kind) {
        case OutcomeKind::ok: {
          backoff_.reset();
          if (info->has_more && !info->next_cursor) {
            throw TemporaryError("upstream: page says hasMore but carries no nextCursor");
          }
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
  Fetcher fetcher(config_, metrics_, start.next_cursor, start.pages);
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
