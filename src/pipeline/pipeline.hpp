#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <stop_token>

#include "ingestd/page_sink.hpp"
#include "ingestd/page_source.hpp"
#include "ingestd/stats.hpp"

namespace ingestd {

struct PipelineResult {
  bool completed = false;      // the source said its last page, and that page is committed
  std::int64_t committed = 0;  // pages committed by this run
  std::int64_t last_page = 0;  // number of the last committed page (0: none)
};

// Source → decoder → sink, one thread each, joined by bounded queues of `queue_pages`: memory
// stays flat and backpressure travels from the sink back to the source. The sink sees pages
// strictly in order. A stop request ends fetching at once; pages already fetched are still
// decoded and committed, so the checkpoint left behind is consistent. The first error of any
// stage stops the others and is rethrown by run().
class Pipeline {
 public:
  // `repeats_expected`: pages that overlap what is stored (a head sync's) are logged at debug.
  Pipeline(PageSource& source, PageSink& sink, PipelineStats& stats, std::size_t queue_pages,
           bool repeats_expected = false);

  // `tick` runs on the calling thread about every 200 ms while the stages work (progress
  // lines, watchdog pings).
  PipelineResult run(std::stop_token stop, const std::function<void()>& tick);

 private:
  PageSource& source_;
  PageSink& sink_;
  PipelineStats& stats_;
  std::size_t queue_pages_;
  bool repeats_expected_;
};

}  // namespace ingestd
