#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "store/database.hpp"
#include "store/ledger.hpp"

namespace ingestd {

struct SubmissionRecord {
  int attempt = 0;
  std::string started_at;
  std::optional<std::string> finished_at;
  std::optional<std::int64_t> ids_sent;
  std::optional<int> http_status;
  LedgerOutcome outcome = LedgerOutcome::in_progress;
  std::optional<std::string> response;
  std::optional<int> key_position;  // nullopt: recorded before keys were told apart
};

// The submission attempt ledger and the stream of stored ids it sends.
class SubmissionLedger {
 public:
  explicit SubmissionLedger(Database& db);

  std::vector<SubmissionRecord> submissions();
  // Commits the attempt, with the position of the API key it goes out on, before any byte is
  // sent.
  int begin_submission(const std::string& stream, int key_position);
  void finish_submission(int attempt, std::int64_t ids_sent, std::optional<int> http_status,
                         LedgerOutcome outcome, const std::string& response);
  // Attempts left in_progress by a crash: their outcome is unknown, and they still count.
  int close_interrupted_submissions();

  // Streams the ids of the session's events table (COPY ... TO STDOUT): one id and '\n' per row.
  class IdReader {
   public:
    explicit IdReader(SubmissionLedger& ledger);
    ~IdReader();
    IdReader(const IdReader&) = delete;
    IdReader& operator=(const IdReader&) = delete;
    // Fills up to n bytes; 0 at the end. Throws DatabaseError.
    std::size_t read(char* out, std::size_t n);
    std::int64_t rows() const { return rows_; }

   private:
    Database& db_;
    char* chunk_ = nullptr;
    std::size_t chunk_size_ = 0;
    std::size_t chunk_pos_ = 0;
    std::int64_t rows_ = 0;
    bool finished_ = false;
  };

 private:
  Database::Session& s();

  Database& db_;
};

}  // namespace ingestd
