#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "store/database.hpp"
#include "store/event_reader.hpp"
#include "store/submission_ledger.hpp"

namespace ingestd {

// What `ingestd status` and GET /v1/status report: the checkpoint, what is stored and the
// submission ledger.
struct StatusReport {
  Checkpoint checkpoint;
  std::int64_t stored_events = 0;
  std::int64_t quarantined = 0;
  std::vector<SubmissionRecord> submissions;
  PushTotals push;
  std::optional<std::int64_t> newest_event_us;
};

StatusReport read_status(Database& db, const std::string& stream);
nlohmann::ordered_json status_json(const StatusReport& report);

}  // namespace ingestd
