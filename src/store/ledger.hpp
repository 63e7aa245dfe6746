#pragma once

#include <array>
#include <optional>
#include <string_view>

namespace ingestd {

// What the submission ledger says of one attempt.
enum class LedgerOutcome { in_progress, accepted, unknown, rejected, limit_reached, auth_failed };

// The names stored in submissions.outcome, in enum order; the column's CHECK constraint allows
// exactly these (a test compares the two).
inline constexpr std::array<std::string_view, 6> kLedgerOutcomeNames = {
    "in_progress", "accepted", "unknown", "rejected", "limit_reached", "auth_failed"};

constexpr std::string_view ledger_outcome_name(LedgerOutcome o) {
  return kLedgerOutcomeNames[static_cast<std::size_t>(o)];
}

constexpr std::optional<LedgerOutcome> parse_ledger_outcome(std::string_view name) {
  for (std::size_t i = 0; i < kLedgerOutcomeNames.size(); ++i) {
    if (kLedgerOutcomeNames[i] == name) return static_cast<LedgerOutcome>(i);
  }
  return std::nullopt;
}

}  // namespace ingestd
