#pragma once

#include <map>
#include <nlohmann/json_fwd.hpp>
#include <string>

#include "serve/answer_cache.hpp"

namespace ingestd {

class EventReader;

// A query string's parameters, as the HTTP layer decoded them.
using QueryParams = std::multimap<std::string, std::string>;

// The read API's answers, built from the store. Each throws BadRequest (serve/query_params.hpp)
// naming the parameter at fault, and DatabaseError when the store fails.

// GET /v1/users/{user_id}/event_counts
// `uuid_users`: the contract's user ids are UUIDs; a profile stream's are text as sent.
nlohmann::ordered_json user_event_counts(EventReader& store, const std::string& user_id,
                                         const QueryParams& params, bool uuid_users = true);
// GET /v1/event_counts
nlohmann::ordered_json global_event_counts(EventReader& store, const QueryParams& params);
// GET /v1/users/{user_id}
nlohmann::ordered_json user_summary(EventReader& store, const std::string& user_id,
                                    bool uuid_users = true);

// The instants a counts answer depends on: its starting_at and ending_before; an end left to
// the default follows the events' span, so it depends on every instant on that side.
AnswerRange counts_range(const QueryParams& params);

// More buckets than this in one answer is a 400.
inline constexpr std::int64_t kMaxBuckets = 10'000;

}  // namespace ingestd
