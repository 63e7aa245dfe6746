// The pipeline between a fake source and an in-memory sink: ordering, backpressure, stop and
// errors, with no network and no database.
#include "pipeline/pipeline.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>
#include <vector>

#include "ingestd/errors.hpp"

using namespace std::chrono_literals;
using ingestd::CommitResult;
using ingestd::DecodedBatch;
using ingestd::PageSink;
using ingestd::PageSource;
using ingestd::Pipeline;
using ingestd::PipelineStats;
using ingestd::RawPage;

namespace {

constexpr int kEventsPerPage = 3;

std::string page_body(std::int64_t number) {
  std::string body = R"({"data":[)";
  for (int i = 0; i < kEventsPerPage; ++i) {
    char id[37];
    std::snprintf(id, sizeof id, "00000000-0000-4000-8000-%012lld",
                  static_cast<long long>(number * kEventsPerPage + i));
    if (i > 0) body += ',';
    body += R"({"id":")" + std::string(id) + R"(","timestamp":1769541612369})";
  }
  return body + R"(],"pagination":{"hasMore":true,"nextCursor":"c"}})";
}

// Hands out `pages` pages (or pages without end when 0), optionally failing at one of them.
class FakeSource : public PageSource {
 public:
  explicit FakeSource(std::int64_t pages, std::int64_t fail_at = 0)
      : pages_(pages), fail_at_(fail_at) {}

  std::optional<RawPage> next(std::stop_token stop) override {
    if (stop.stop_requested() || (pages_ > 0 && handed_out_ == pages_)) return std::nullopt;
    const std::int64_t number = handed_out_ + 1;
    if (number == fail_at_)
      throw ingestd::TemporaryError("source failed at page " + std::to_string(number));
    RawPage page;
    page.number = number;
    page.body = page_body(number);
    page.info.has_more = pages_ == 0 || number < pages_;
    ++handed_out_;
    return page;
  }

  std::int64_t handed_out() const { return handed_out_; }

 private:
  std::int64_t pages_;
  std::int64_t fail_at_;
  std::atomic<std::int64_t> handed_out_{0};
};

// Keeps what it is given; can hold every commit until released, or fail at one page.
class MemorySink : public PageSink {
 public:
  explicit MemorySink(bool held = false, std::int64_t fail_at = 0)
      : held_(held), fail_at_(fail_at) {}

  CommitResult commit(const DecodedBatch& batch, std::stop_token stop) override {
    {
      std::unique_lock lock(mutex_);
      released_.wait(lock, stop, [&] { return !held_; });
    }
    if (batch.number == fail_at_) throw ingestd::DatabaseError("sink failed");
    std::lock_guard lock(mutex_);
    numbers_.push_back(batch.number);
    rows_ += static_cast<std::int64_t>(batch.page.row_count);
    return {static_cast<std::int64_t>(batch.page.row_count), 0, false};
  }

  void release() {
    std::lock_guard lock(mutex_);
    held_ = false;
    released_.notify_all();
  }
  std::vector<std::int64_t> numbers() const {
    std::lock_guard lock(mutex_);
    return numbers_;
  }
  std::int64_t rows() const {
    std::lock_guard lock(mutex_);
    return rows_;
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable_any released_;
  bool held_;
  std::int64_t fail_at_;
  std::vector<std::int64_t> numbers_;
  std::int64_t rows_ = 0;
};

std::vector<std::int64_t> one_to(std::int64_t n) {
  std::vector<std::int64_t> v;
  for (std::int64_t i = 1; i <= n; ++i) v.push_back(i);
  return v;
}

}  // namespace

TEST_CASE("every page reaches the sink decoded, in order, and the last one completes the run") {
  FakeSource source(50);
  MemorySink sink;
  PipelineStats metrics;
  const auto result = Pipeline(source, sink, metrics, 2).run({}, [] {});
  CHECK(result.completed);
  CHECK(result.committed == 50);
  CHECK(result.last_page == 50);
  CHECK(sink.numbers() == one_to(50));
  CHECK(sink.rows() == 50 * kEventsPerPage);
  CHECK(metrics.pages_committed == 50);
  CHECK(metrics.events_inserted == 50 * kEventsPerPage);
}

TEST_CASE("backpressure: a sink that does not commit holds the source within the queues") {
  FakeSource source(0);
  MemorySink sink(true);
  PipelineStats metrics;
  std::stop_source stop;
  std::int64_t before_release = 0;
  std::jthread releaser([&] {
    std::this_thread::sleep_for(300ms);
    before_release = source.handed_out();
    sink.release();
    std::this_thread::sleep_for(100ms);
    stop.request_stop();
  });
  const auto result = Pipeline(source, sink, metrics, 2).run(stop.get_token(), [] {});
  releaser.join();
  // One page in the sink, two queued for it, one in the decoder, two queued for the decoder,
  // one in the source's hand waiting for room.
  CHECK(before_release <= 7);
  CHECK(before_release >= 5);
  CHECK_FALSE(result.completed);
  // The page the source held when stopped was never queued: it is fetched again next run.
  CHECK(sink.numbers() == one_to(result.committed));
  CHECK(result.committed >= source.handed_out() - 1);
}

TEST_CASE("a stop request ends fetching, and every page already fetched is still committed") {
  FakeSource source(0);
  MemorySink sink;
  PipelineStats metrics;
  std::stop_source stop;
  int ticks = 0;
  const auto result = Pipeline(source, sink, metrics, 4).run(stop.get_token(), [&] {
    if (++ticks == 2) stop.request_stop();
  });
  CHECK_FALSE(result.completed);
  CHECK(result.committed >= source.handed_out() - 1);
  CHECK(sink.numbers() == one_to(result.committed));
}

TEST_CASE("the first error of any stage reaches the caller") {
  PipelineStats metrics;
  SUBCASE("source") {
    FakeSource source(20, 5);
    MemorySink sink;
    CHECK_THROWS_WITH_AS(Pipeline(source, sink, metrics, 2).run({}, [] {}),
                         "source failed at page 5", ingestd::TemporaryError);
    // The failure stops every stage at once: what was committed is an in-order prefix.
    const auto committed = sink.numbers();
    CHECK(committed.size() <= 4);
    CHECK(committed == one_to(static_cast<std::int64_t>(committed.size())));
  }
  SUBCASE("sink") {
    FakeSource source(20);
    MemorySink sink(false, 3);
    CHECK_THROWS_WITH_AS(Pipeline(source, sink, metrics, 2).run({}, [] {}), "sink failed",
                         ingestd::DatabaseError);
    CHECK(sink.numbers() == one_to(2));
  }
  SUBCASE("decoder: a page whose data array is damaged") {
    class Corrupt : public FakeSource {
     public:
      using FakeSource::FakeSource;
      std::optional<RawPage> next(std::stop_token stop) override {
        auto page = FakeSource::next(stop);
        if (page && page->number == 2) page->body = R"({"data":[{"id":)";
        return page;
      }
    } source(10);
    MemorySink sink;
    CHECK_THROWS_WITH_AS(Pipeline(source, sink, metrics, 2).run({}, [] {}),
                         doctest::Contains("page 2 is corrupt"), ingestd::TemporaryError);
    CHECK(sink.numbers().size() <= 1);
  }
}
