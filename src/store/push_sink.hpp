#pragma once

#include "ingestd/page_sink.hpp"
#include "store/event_writer.hpp"

namespace ingestd {

// The store as the sink of pushed requests: each request's rows, rollups, quarantined events and
// push totals in one transaction, with no cursor to advance.
class PushSink : public PageSink {
 public:
  explicit PushSink(EventWriter& writer) : writer_(writer) {}

  CommitResult commit(const DecodedBatch& batch, std::stop_token) override {
    return writer_.commit_push(batch.page);
  }

 private:
  EventWriter& writer_;
};

}  // namespace ingestd
