#pragma once

#include <cstdint>
#include <optional>
#include <stop_token>
#include <string>

#include "app/config.hpp"
#include "store/store.hpp"

namespace ingestd {

struct SubmitOptions {
  bool force = false;    // submit although ingestion is unfinished or the count differs
  bool dry_run = false;  // count and show the first IDs, send nothing
};

struct SubmitReport {
  enum class Result { accepted, already_accepted, dry_run } result = Result::accepted;
  int attempt = 0;
  std::int64_t ids = 0;
  std::string response;  // the endpoint's answer (verdict included), or the dry-run preview
};

// Streams every stored event ID to the submission endpoint (COPY TO STDOUT into a chunked
// upload, constant memory) under the attempt ledger's rules: nothing is sent after a recorded
// success, the cap is never exceeded, and an attempt whose fate is unknown still counts.
// Throws SubmissionError (exit 5) or AuthError (exit 3) when it cannot succeed.
SubmitReport submit_ids(const Config& config, Store& store, const SubmitOptions& options,
                        std::stop_token stop = {});

}  // namespace ingestd
