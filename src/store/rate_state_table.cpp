#include "store/rate_state_table.hpp"

#include "ingestd/errors.hpp"
#include "store/pg_session.hpp"

namespace ingestd {

RateStateTable::RateStateTable(const std::string& database_url, std::string stream,
                               std::chrono::milliseconds connect_timeout, std::stop_token stop)
    : db_(Database::connect(database_url, connect_timeout, stop)), stream_(std::move(stream)) {}

RateStateTable::~RateStateTable() = default;

void RateStateTable::save(std::string_view key, const RateLimitState& state) {
  if (lost_) {
    db_->reconnect(std::chrono::seconds(1), {});
    lost_ = false;
  }
  try {
    save_row(std::string(key), state);
  } catch (const DatabaseError& e) {
    lost_ = e.failure() == DatabaseFailure::connection_lost;
    throw;
  }
}

std::optional<RateLimitState> RateStateTable::load(std::string_view key) {
  const std::string fingerprint(key);
  return db_->guarded("reading the rate-limit state", [&]() -> std::optional<RateLimitState> {
    RateLimitState state;
    int limit = 0;
    long long window_ms = 0;
    std::string sent;
    soci::indicator limit_ind = soci::i_null;
    db_->session().sql << "SELECT request_limit, window_ms, array_to_string(sent_at_ms, ',') FROM "
                          "rate_limit_state WHERE stream = :s AND key_fingerprint IN (:k, '') "
                          "ORDER BY key_fingerprint DESC LIMIT 1",
        soci::use(stream_), soci::use(fingerprint), soci::into(limit, limit_ind),
        soci::into(window_ms), soci::into(sent);
    if (!db_->session().sql.got_data()) return std::nullopt;
    if (limit_ind == soci::i_ok) state.limit = limit;
    state.window_ms = window_ms;
    for (std::size_t at = 0; at < sent.size();) {
      const std::size_t comma = std::min(sent.find(',', at), sent.size());
      state.sent_at_ms.push_back(std::stoll(sent.substr(at, comma - at)));
      at = comma + 1;
    }
    return state;
  });
}

void RateStateTable::save_row(const std::string& key, const RateLimitState& state) {
  std::string sent = "{";
  for (const std::int64_t ms : state.sent_at_ms) {
    if (sent.size() > 1) sent += ',';
    sent += std::to_string(ms);
  }
  sent += '}';
  int limit = static_cast<int>(state.limit.value_or(0));
  soci::indicator limit_ind = state.limit ? soci::i_ok : soci::i_null;
  long long window_ms = state.window_ms;
  db_->guarded("saving the rate-limit state", [&] {
    db_->session().sql
        << "INSERT INTO rate_limit_state (stream, key_fingerprint, request_limit, window_ms, "
           "sent_at_ms) VALUES (:s, :k, :l, :w, CAST(:t AS bigint[])) "
           "ON CONFLICT (stream, key_fingerprint) DO UPDATE SET "
           "request_limit = excluded.request_limit, window_ms = excluded.window_ms, "
           "sent_at_ms = excluded.sent_at_ms, updated_at = now()",
        soci::use(stream_), soci::use(key), soci::use(limit, limit_ind), soci::use(window_ms),
        soci::use(sent);
  });
}

}  // namespace ingestd
