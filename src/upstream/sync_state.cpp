#include "upstream/sync_state.hpp"

#include <algorithm>

namespace ingestd {

namespace {

struct PhaseNames {
  SyncPhase phase;
  std::string_view name;  // as the checkpoint stores it
  std::string_view text;  // as logs and `ingestd status` say it
};
constexpr PhaseNames kPhases[] = {{SyncPhase::first_pass, "first_pass", "first pass"},
                                  {SyncPhase::head_sync, "head_sync", "head sync"},
                                  {SyncPhase::rescan, "rescan", "re-scan"}};

const PhaseNames& names(SyncPhase phase) {
  for (const PhaseNames& p : kPhases) {
    if (p.phase == phase) return p;
  }
  return kPhases[0];
}

}  // namespace

std::string_view sync_phase_name(SyncPhase phase) {
  return names(phase).name;
}

std::string_view sync_phase_text(SyncPhase phase) {
  return names(phase).text;
}

std::optional<SyncPhase> parse_sync_phase(std::string_view name) {
  for (const PhaseNames& p : kPhases) {
    if (p.name == name) return p.phase;
  }
  return std::nullopt;
}

SyncState::SyncState(FollowOptions options, SyncPhase phase, SyncMarks marks, Clock::time_point now)
    : options_(options), phase_(phase), marks_(marks), last_full_pass_(now) {}

std::optional<std::int64_t> SyncState::stop_at_us() const {
  if (phase_ != SyncPhase::head_sync || !marks_.mark_us) return std::nullopt;
  const auto overlap_us =
      std::chrono::duration_cast<std::chrono::microseconds>(options_.overlap).count();
  return *marks_.mark_us - overlap_us;
}

SyncMarks SyncState::on_page(const PageMarks& page) {
  if (page.from_head) {
    if (page.newest_us) marks_.target_us = page.newest_us;
    head_total_ = page.total;
  }
  // An empty stream has no head: the mark stays where it was.
  if (page.last && marks_.target_us) marks_.mark_us = marks_.target_us;
  return marks_;
}

void SyncState::begin(SyncPhase phase) {
  phase_ = phase;
  marks_.target_us.reset();
  head_total_.reset();
}

NextPass SyncState::after_pass(const PassSummary& pass, Clock::time_point now) {
  const std::optional<std::int64_t> shortfall =
      head_total_ ? std::optional(*head_total_ - pass.accounted) : std::nullopt;
  if (phase_ != SyncPhase::head_sync) {
    last_full_pass_ = now;
    shortfall_after_full_pass_ = shortfall;
  }
  idle_passes_ = pass.inserted > 0 ? 0 : idle_passes_ + 1;

  NextPass next;
  if (phase_ == SyncPhase::head_sync && shortfall && *shortfall > 0 &&
      *shortfall > shortfall_after_full_pass_.value_or(0)) {
    next.phase = SyncPhase::rescan;
    next.reason = "the upstream reported " + std::to_string(*head_total_) + " events, " +
                  std::to_string(pass.accounted) +
                  " are stored or quarantined: " + std::to_string(*shortfall) +
                  " arrived below the mark";
    return next;
  }
  if (options_.rescan_interval && now - last_full_pass_ >= *options_.rescan_interval) {
    next.phase = SyncPhase::rescan;
    next.reason = "RESCAN_INTERVAL_S has passed since the last full pass";
    return next;
  }
  if (pass.inserted >= options_.page_limit) return next;
  const int factor = idle_passes_ == 0 ? 1 : std::min(10, 1 << std::min(idle_passes_ - 1, 4));
  next.wait = options_.interval * factor;
  return next;
}

}  // namespace ingestd
