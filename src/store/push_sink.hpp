#pragma once

#include "pipeline/page_sink.hpp"
#include "store/store.hpp"

namespace ingestd {

// The store as the sink of pushed requests: each request's rows, rollups, quarantined events and
// push totals in one transaction, with no cursor to advance.
class PushSink : public PageSink {
 public:
  explicit PushSink(Store& store) : store_(store) {}

  CommitResult commit(const DecodedBatch& batch, std::stop_token) override {
    return store_.commit_push(batch.page);
  }

 private:
  Store& store_;
};

}  // namespace ingestd
