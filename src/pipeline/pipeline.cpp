#include "pipeline/pipeline.hpp"

#include <spdlog/spdlog.h>

#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>

#include "common/clock.hpp"
#include "decode/decoder.hpp"
#include "ingestd/errors.hpp"
#include "pipeline/bounded_queue.hpp"

namespace ingestd {

namespace {

using SteadyClock = std::chrono::steady_clock;

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

void fetch_stage(PageSource& source, BoundedQueue<RawPage>& out, PipelineStats& stats,
                 std::stop_token stop) {
  while (auto page = source.next(stop)) {
    if (!out.push(std::move(*page), stop)) return;
    stats.fetch_queue_depth = static_cast<std::int64_t>(out.size());
  }
}

void decode_stage(BoundedQueue<RawPage>& in, BoundedQueue<DecodedBatch>& out, PipelineStats& stats,
                  std::stop_token stop) {
  while (auto raw = in.pop(stop)) {
    stats.fetch_queue_depth = static_cast<std::int64_t>(in.size());
    DecodedBatch batch;
    try {
      batch = decode_batch(std::move(*raw));
    } catch (const PageError& e) {
      // The source validated the envelope; damage inside the data array is rare enough to
      // end the run with a consistent checkpoint and let the restart fetch the page again.
      throw TemporaryError("page " + std::to_string(raw->number) + " is corrupt: " + e.what());
    }
    if (!out.push(std::move(batch), stop)) return;
    stats.write_queue_depth = static_cast<std::int64_t>(out.size());
  }
}

void commit_stage(PageSink& sink, BoundedQueue<DecodedBatch>& in, PipelineStats& stats,
                  bool repeats_expected, std::stop_token stop, PipelineResult& result) {
  while (auto batch = in.pop(stop)) {
    stats.write_queue_depth = static_cast<std::int64_t>(in.size());
    const auto started = SteadyClock::now();
    const CommitResult r = sink.commit(*batch, stop);
    stats.commit_latency.observe(
        std::chrono::duration_cast<std::chrono::microseconds>(SteadyClock::now() - started));
    stats.events_inserted += r.inserted;
    stats.events_quarantined += r.quarantined;
    stats.pages_committed++;
    stats.last_commit_unix_ms = unix_ms_now();
    for (const auto& q : batch->page.quarantined) {
      spdlog::warn("quarantined an event of page {}: {}", batch->number, q.reason);
    }
    if (r.used_fallback) {
      spdlog::log(repeats_expected ? spdlog::level::debug : spdlog::level::info,
                  "page {}: {} of {} events were already stored", batch->number,
                  static_cast<std::int64_t>(batch->page.row_count) - r.inserted,
                  batch->page.row_count);
    }
    ++result.committed;
    result.last_page = batch->number;
    if (!batch->info.has_more) result.completed = true;
  }
}

}  // namespace

Pipeline::Pipeline(PageSource& source, PageSink& sink, PipelineStats& stats,
                   std::size_t queue_pages, bool repeats_expected)
    : source_(source),
      sink_(sink),
      stats_(stats),
      queue_pages_(queue_pages),
      repeats_expected_(repeats_expected) {}

PipelineResult Pipeline::run(std::stop_token stop, const std::function<void()>& tick) {
  BoundedQueue<RawPage> fetched(queue_pages_);
  BoundedQueue<DecodedBatch> decoded(queue_pages_);
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

  PipelineResult result;
  {
    std::jthread fetch_thread(
        stage([&] { fetch_stage(source_, fetched, stats_, halt_fetching.get_token()); },
              [&] { fetched.close(); }));
    std::jthread decode_thread(
        stage([&] { decode_stage(fetched, decoded, stats_, abort.get_token()); },
              [&] { decoded.close(); }));
    std::jthread commit_thread(stage(
        [&] { commit_stage(sink_, decoded, stats_, repeats_expected_, abort.get_token(), result); },
        [] {}));
    std::unique_lock lock(done_mutex);
    while (
        !done_cv.wait_for(lock, std::chrono::milliseconds(200), [&] { return stages_left == 0; })) {
      lock.unlock();
      tick();
      lock.lock();
    }
  }
  if (auto e = failure.get()) std::rethrow_exception(e);
  return result;
}

}  // namespace ingestd
