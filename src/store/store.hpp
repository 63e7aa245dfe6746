#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "pipeline/page_sink.hpp"
#include "store/ledger.hpp"
#include "upstream/rate_state.hpp"

namespace ingestd {

struct Checkpoint {
  std::string stream;
  std::optional<std::string> next_cursor;
  std::int64_t pages = 0;
  std::int64_t events = 0;
  std::int64_t quarantined = 0;
  std::optional<std::int64_t> upstream_total;
  bool done = false;
  std::optional<std::string> last_error;
  double age_seconds = 0;  // since updated_at
};

// One page to commit, with the cursor that follows it.
struct PageCommit {
  std::int64_t page_number = 0;  // absolute, 1-based: the checkpoint's pages after this commit
  std::optional<std::string> next_cursor;
  bool done = false;
  std::optional<std::int64_t> upstream_total;
  std::string page_cursor;  // the cursor that fetched this page, kept with quarantined events
};

struct MigrationReport {
  std::vector<std::string> applied;
  int schema_version = 0;
};

struct SubmissionRecord {
  int attempt = 0;
  std::string started_at;
  std::optional<std::string> finished_at;
  std::optional<std::int64_t> ids_sent;
  std::optional<int> http_status;
  LedgerOutcome outcome = LedgerOutcome::in_progress;
  std::optional<std::string> response;
};

// The database boundary. SOCI runs the queries and migrations; the bulk paths are libpq COPY on
// SOCI's own connection, inside SOCI's transactions. Neither library shows in this header.
// Every failure leaves as DatabaseError, its cause (connection lost, unique violation, other)
// decided in one place. A commit that loses its connection reconnects, takes back its stream
// locks and retries, so everyone holds the same Store by reference for a whole run.
class Store {
 public:
  // `reconnect_timeout` bounds how long a lost connection is retried during a commit.
  Store(const std::string& database_url, std::chrono::milliseconds reconnect_timeout);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Keeps trying until the database answers or `timeout` passes (then DatabaseError, exit 4).
  static std::unique_ptr<Store> connect(const std::string& database_url,
                                        std::chrono::milliseconds timeout, std::stop_token stop);

  MigrationReport migrate();
  // Refuses a database that is not migrated, or whose schema is newer than this binary.
  void require_current_schema();
  int schema_version();

  // Session-level advisory lock: a second daemon on the same stream is refused. Taken again
  // after a reconnect.
  bool try_lock_stream(const std::string& stream);

  // Opens the session again, retrying until `timeout`; then takes back the stream locks
  // (TemporaryError when another process took one meanwhile).
  void reconnect(std::chrono::milliseconds timeout, std::stop_token stop);

  Checkpoint load_checkpoint(const std::string& stream);
  // Rows, quarantine and checkpoint in one transaction; a lost connection is re-established
  // and the page retried (a commit whose acknowledgement was lost is recognised).
  CommitResult commit_page(const std::string& stream, const PageCommit& commit,
                           const DecodedPage& page, std::stop_token stop = {});
  void record_error(const std::string& stream, const std::string& message);

  std::optional<RateLimitState> load_rate_state(const std::string& stream);
  // Committed at once (its own transaction), before the request it records leaves.
  void save_rate_state(const std::string& stream, const RateLimitState& state);

  std::int64_t count_events();
  std::int64_t count_quarantine();

  // Submission ledger. begin_submission commits the attempt before any byte is sent.
  std::vector<SubmissionRecord> submissions();
  int begin_submission(const std::string& stream);
  void finish_submission(int attempt, std::int64_t ids_sent, std::optional<int> http_status,
                         LedgerOutcome outcome, const std::string& response);
  // Attempts left in_progress by a crash: their outcome is unknown, and they still count.
  int close_interrupted_submissions();

  // Streams `COPY (SELECT id FROM events) TO STDOUT`: one id and '\n' per row.
  class IdReader {
   public:
    explicit IdReader(Store& store);
    ~IdReader();
    IdReader(const IdReader&) = delete;
    IdReader& operator=(const IdReader&) = delete;
    // Fills up to n bytes; 0 at the end. Throws DatabaseError.
    std::size_t read(char* out, std::size_t n);
    std::int64_t rows() const { return rows_; }

   private:
    Store& store_;
    char* chunk_ = nullptr;
    std::size_t chunk_size_ = 0;
    std::size_t chunk_pos_ = 0;
    std::int64_t rows_ = 0;
    bool finished_ = false;
  };

 private:
  struct Session;

  // Runs f; a SOCI error leaves as DatabaseError with its cause and `context`.
  template <typename F>
  auto guarded(const char* context, F&& f) -> decltype(f());
  void session_setup();
  void exec(const char* sql, const char* context);
  std::int64_t copy_into(const char* copy_sql, const std::string& rows, const char* context);
  CommitResult commit_page_once(const std::string& stream, const PageCommit& commit,
                                const DecodedPage& page);
  std::int64_t insert_quarantine(const std::string& stream, const PageCommit& commit,
                                 const DecodedPage& page);

  std::unique_ptr<Session> s_;
};

}  // namespace ingestd
