#include "serve/status_report.hpp"

#include <cmath>
#include <nlohmann/json.hpp>

#include "common/timestamp.hpp"

namespace ingestd {

StatusReport read_status(Database& db, const std::string& stream) {
  EventReader store(db);
  StatusReport r;
  r.checkpoint = store.load_checkpoint(stream);
  r.stored_events = store.count_events_rolled_up();
  r.quarantined = store.count_quarantine();
  r.submissions = SubmissionLedger(db).submissions();
  r.push = store.push_totals();
  r.newest_event_us = store.newest_event_us();
  return r;
}

nlohmann::ordered_json status_json(const StatusReport& report) {
  const auto optional = [](const auto& v) {
    return v ? nlohmann::ordered_json(*v) : nlohmann::ordered_json(nullptr);
  };
  const auto instant = [](std::optional<std::int64_t> us) {
    return us ? nlohmann::ordered_json(format_iso8601_ms(*us)) : nlohmann::ordered_json(nullptr);
  };
  nlohmann::ordered_json submissions = nlohmann::ordered_json::array();
  for (const auto& r : report.submissions) {
    submissions.push_back({{"attempt", r.attempt},
                           {"started_at", r.started_at},
                           {"finished_at", optional(r.finished_at)},
                           {"ids_sent", optional(r.ids_sent)},
                           {"http_status", optional(r.http_status)},
                           {"outcome", ledger_outcome_name(r.outcome)},
                           {"key", optional(r.key_position)},
                           {"response", optional(r.response)}});
  }
  const Checkpoint& cp = report.checkpoint;
  return {
      {"stream", cp.stream},
      {"done", cp.done},
      {"pages", cp.pages},
      {"events", cp.events},
      {"stored_events", report.stored_events},
      {"quarantined", report.quarantined},
      {"upstream_total", optional(cp.upstream_total)},
      {"checkpoint_age_s", std::round(cp.age_seconds * 10) / 10},
      {"has_cursor", cp.next_cursor.has_value()},
      {"last_error", optional(cp.last_error)},
      {"follow",
       {{"phase", cp.phase},
        {"pass_done", cp.done},
        {"syncs", cp.syncs},
        {"rescans", cp.rescans},
        {"last_sync_at", instant(cp.last_sync_unix_ms ? std::optional(*cp.last_sync_unix_ms * 1000)
                                                      : std::nullopt)},
        {"last_sync_events", optional(cp.last_sync_events)},
        {"synced_to", instant(cp.marks.mark_us)},
        {"newest_event_at", instant(report.newest_event_us)}}},
      {"submissions", submissions},
      {"push",
       {{"requests", report.push.requests},
        {"accepted", report.push.accepted},
        {"duplicates", report.push.duplicates},
        {"quarantined", report.push.quarantined},
        {"last_at", optional(report.push.last_at)}}}};
}

}  // namespace ingestd
