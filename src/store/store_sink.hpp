#pragma once

#include <functional>
#include <string>

#include "ingestd/page_sink.hpp"
#include "store/event_writer.hpp"

namespace ingestd {

// The store as a page sink: each page's rows, quarantined events and the cursor after them in
// one transaction, for one stream.
class StoreSink : public PageSink {
 public:
  // `marks` tells, for each page, the pass's target and mark to commit with it.
  using MarksOf = std::function<SyncMarks(const DecodedBatch&)>;
  StoreSink(EventWriter& writer, std::string stream, MarksOf marks)
      : writer_(writer), stream_(std::move(stream)), marks_(std::move(marks)) {}

  CommitResult commit(const DecodedBatch& batch, std::stop_token stop) override {
    const PageCommit commit{batch.number,     batch.info.next_cursor, !batch.info.has_more,
                            batch.info.total, batch.cursor_used,      marks_(batch)};
    return writer_.commit_page(stream_, commit, batch.page, stop);
  }

 private:
  EventWriter& writer_;
  std::string stream_;
  MarksOf marks_;
};

}  // namespace ingestd
