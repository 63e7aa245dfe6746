#pragma once

#include "app/config.hpp"
#include "app/signals.hpp"

namespace ingestd {

// `ingestd check-profile [FILE]`: one request as the profile describes it, within the rate
// limit (the stream's saved rate state when DATABASE_URL is set), and what it would store:
// the first three events as columns, quarantined ones with their reason, the next page, the
// total and the rate headers with how they were read. Writes nothing but the rate state.
int command_check_profile(const Config& config, const SignalWatcher& signals);

}  // namespace ingestd
