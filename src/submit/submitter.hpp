#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "ingestd/source_profile.hpp"
#include "store/database.hpp"

namespace ingestd {

// An API key the submission may go out on, with its position in UPSTREAM_API_KEYS (what logs
// and the ledger name it by).
struct SubmissionKey {
  int position = 1;
  std::string key;
};

// What the submission needs to know, built by src/app/wiring.cpp.
struct SubmitterOptions {
  std::string stream;
  std::string url;   // the submission endpoint
  std::string repo;  // github_repo query parameter; empty: none
  // The keys still valid, in order: the submission goes out on the first; a key the endpoint
  // refuses (401/403), or whose max_attempts are used, is passed over for the next.
  std::vector<SubmissionKey> keys;
  int key_count = 1;     // how many keys are configured, for "key 2 of 3"
  int max_attempts = 5;  // per key, as the upstream caps them
  std::chrono::milliseconds http_timeout{120'000};
  std::chrono::milliseconds http_connect_timeout{10'000};
  SourceProfile profile;  // how a key is sent (auth) and the fixed headers
};

// How one `ingestd submit` was asked to behave.
struct SubmitMode {
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
SubmitReport submit_ids(const SubmitterOptions& options, Database& db, const SubmitMode& mode,
                        std::stop_token stop = {});

}  // namespace ingestd
