#pragma once

#include <string>

#include "ingestd/page_sink.hpp"
#include "store/event_writer.hpp"

namespace ingestd {

// The store as a page sink: each page's rows, quarantined events and the cursor after them in
// one transaction, for one stream.
class StoreSink : public PageSink {
 public:
  StoreSink(EventWriter& writer, std::string stream)
      : writer_(writer), stream_(std::move(stream)) {}

  CommitResult commit(const DecodedBatch& batch, std::stop_token stop) override {
    const PageCommit commit{batch.number, batch.info.next_cursor, !batch.info.has_more,
                            batch.info.total, batch.cursor_used};
    return writer_.commit_page(stream_, commit, batch.page, stop);
  }

 private:
  EventWriter& writer_;
  std::string stream_;
};

}  // namespace ingestd
