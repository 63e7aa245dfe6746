#pragma once

#include <functional>
#include <memory>
#include <stop_token>

#include "ingestd/config.hpp"
#include "ingestd/metrics.hpp"
#include "ingestd/store.hpp"

namespace ingestd {

struct PipelineResult {
  bool completed = false;  // the upstream said hasMore=false and that page is committed
  std::int64_t pages = 0;  // checkpoint pages at the end
};

// Fetcher → decoder → writer, one thread each, joined by bounded queues. The writer commits
// pages strictly in order, each with the cursor that follows it. A stop request ends fetching
// at once; pages already fetched are still decoded and committed, so the checkpoint left
// behind is always consistent. A failing stage stops the others and its error is rethrown.
class Pipeline {
 public:
  // `store` belongs to the caller; the writer may replace it after a lost connection.
  Pipeline(const Config& config, std::unique_ptr<Store>& store, Metrics& metrics);

  // `tick` runs on the calling thread about every 200 ms while the stages work (progress
  // lines, watchdog pings).
  PipelineResult run(std::stop_token stop, const std::function<void()>& tick);

 private:
  const Config& config_;
  std::unique_ptr<Store>& store_;
  Metrics& metrics_;
};

}  // namespace ingestd
