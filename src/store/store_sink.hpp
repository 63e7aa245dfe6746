#pragma once

#include <string>

#include "pipeline/page_sink.hpp"
#include "store/store.hpp"

namespace ingestd {

// The store as a page sink: each page's rows, quarantined events and the cursor after them in
// one transaction, for one stream.
class StoreSink : public PageSink {
 public:
  StoreSink(Store& store, std::string stream) : store_(store), stream_(std::move(stream)) {}

  CommitResult commit(const DecodedBatch& batch, std::stop_token stop) override {
    const PageCommit commit{batch.number, batch.info.next_cursor, !batch.info.has_more,
                            batch.info.total, batch.cursor_used};
    return store_.commit_page(stream_, commit, batch.page, stop);
  }

 private:
  Store& store_;
  std::string stream_;
};

}  // namespace ingestd
