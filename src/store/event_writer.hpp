#pragma once

#include <cstdint>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "ingestd/event.hpp"
#include "ingestd/page.hpp"
#include "ingestd/sync_marks.hpp"
#include "store/database.hpp"

namespace ingestd {

// One page to commit, with the cursor that follows it.
struct PageCommit {
  std::int64_t page_number = 0;  // absolute, 1-based: the checkpoint's pages after this commit
  std::optional<std::string> next_cursor;
  bool done = false;
  std::optional<std::int64_t> upstream_total;
  std::string page_cursor;  // the cursor that fetched this page, kept with quarantined events
  SyncMarks marks;          // the pass's target and mark after this page
};

// The write side: events, their rollups, quarantine and the checkpoint, each commit one
// transaction. Pull pages and push requests take one writer lock, so they never deadlock.
class EventWriter {
 public:
  // `columns` are those the pages' COPY rows hold: the contract's (kEventColumns) or a
  // profile stream's (kStreamEventColumnList); `key` the id columns, in the order repeated
  // ids are taken.
  explicit EventWriter(Database& db, std::string_view columns = event_column_list(),
                       std::string_view key = "id");

  // Rows, rollups, quarantine and checkpoint in one transaction; a lost connection is
  // re-established and the page retried (a commit whose acknowledgement was lost is recognised).
  CommitResult commit_page(const std::string& stream, const PageCommit& commit,
                           const DecodedPage& page, std::stop_token stop = {});
  // One pushed request: rows, rollups, quarantine (stream "push") and push_totals in one
  // transaction. Ids already stored (or repeated in the page) are not counted again.
  CommitResult commit_push(const DecodedPage& page);
  // A new pass over the stream (phase "head_sync" or "rescan") starts from the head: not done,
  // no cursor, no target; what it adds is counted from here.
  void begin_pass(const std::string& stream, const std::string& phase);
  // Logged, not thrown, when it fails: it runs while another error is on its way out.
  void record_error(const std::string& stream, const std::string& message);

 private:
  Database::Session& s();
  CommitResult commit_page_once(const std::string& stream, const PageCommit& commit,
                                const DecodedPage& page);
  void lock_event_writers();
  // The page's rows and what they add to the rollups, inside the caller's transaction; the
  // result's quarantined count is left to the caller.
  CommitResult insert_events(const DecodedPage& page);
  void add_to_rollup(const std::vector<MinuteCount>& minutes);
  std::int64_t insert_quarantine(const std::string& stream, const std::string& page_cursor,
                                 const DecodedPage& page);

  Database& db_;
  const std::string columns_;
  const std::string staged_insert_;  // the insert of a page some of whose rows are stored
};

}  // namespace ingestd
