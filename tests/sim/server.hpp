// HTTP side of the simulated upstream: events paging, rate limiting, cache, submissions,
// fault injection and the /internal endpoints tests read.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "dataset.hpp"
#include "dialects.hpp"
#include "live_feed.hpp"

namespace upstream_sim {

// How rate limits are spoken: the contract's headers, or a dialect of another API.
enum class RateDialect {
  contract,     // X-RateLimit-* with Reset in seconds until, Retry-After on a 429
  none,         // no rate headers at all; a 429's body is the contract's
  body_wait,    // no rate headers at all; a 429's body carries only retryAfter
  epoch,        // Reset as an epoch instant in whole seconds, with a Date header
  epoch_floor,  // the same, truncated: the true instant lies up to a second later
  epoch_frac,   // Reset as an epoch instant in seconds with milliseconds, no Date header
  epoch_ms,     // Reset as an epoch instant in milliseconds, no Date header
  zero_limit    // X-RateLimit-Limit: 0 and a huge Remaining, as unmetered APIs send
};

struct ServerOptions {
  DatasetOptions dataset;
  int port = 0;
  std::string api_key = "test-key";
  // More accepted keys besides api_key (which is key 1); each has a budget of its own.
  std::vector<std::string> more_api_keys;
  // Every key spends one budget, as keys of one account sometimes do.
  bool shared_quota = false;
  // Key position (1-based) -> seconds after its first use at which it starts answering 401.
  std::map<int, double> key_expiry_s;
  // A cursor names the key it was issued to; another key presenting it gets 400 CURSOR_INVALID.
  bool cursor_per_key = false;
  double latency_ms_per_event = 0.7;
  double cursor_ttl_s = 120;
  int limit = 10;
  double window_s = 60;
  bool unlimited = false;
  bool gzip = true;
  bool cache = true;
  int submission_cap = 5;
  double fault_submit_5xx = 0;
  // Time the submission endpoint takes to answer after reading the body.
  int submit_delay_ms = 0;
  // Time the submission endpoint waits before it reads the body: the upload stays unfinished
  // (and unaccepted) that long.
  int submit_hold_ms = 0;
  double fault_5xx = 0;
  double fault_429_storm = 0;
  int storm_length = 3;
  bool fault_retry_after_only = false;
  double fault_missing_rate_headers = 0;
  double fault_garbled_rate_headers = 0;
  // Negative: the window never changes.
  std::int64_t window_change_after = -1;
  double window_s_after = 60;
  double fault_slow = 0;
  int fault_slow_ms = 2000;
  double fault_drop = 0;
  double fault_truncate = 0;
  double fault_repeat = 0;
  RateDialect rate_dialect = RateDialect::contract;
  // A fixed window instead of a sliding log: it starts at the first request after the last one
  // ended, and every slot frees at its end.
  bool fixed_window = false;
  // An expired cursor answers 410 Gone {"error":"CursorExpired"} instead of 400 CURSOR_EXPIRED.
  bool expired_as_gone = false;
  // Pages come as {"data":[...],"hasMore":...,"nextCursor":...}: not the contract's envelope.
  bool foreign_envelope = false;
  // New events keep appearing (live.rate > 0): cursors are keyset positions, meta.total counts
  // what exists at each answer, and the head is never answered from the cache.
  LiveOptions live;
  // Another API's way of paging the dataset (dialects.hpp) on its own path, instead of the
  // contract's /api/v1/events. Dialects serve storable events only (malformed is ignored).
  Dialect dialect = Dialect::contract;
  // From the page starting at this index on, the next position named is the one asked for
  // (a stuck cursor); negative: never.
  std::int64_t stuck_from = -1;
  bool verbose = false;
};

// Standard-alphabet base64 with padding.
std::string base64_encode(std::string_view in);
// Accepts the standard and URL-safe alphabets, padded or not; nullopt on anything else.
std::optional<std::string> base64_decode(std::string_view in);

class Server {
 public:
  explicit Server(ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds 127.0.0.1 and returns the port; throws when binding fails.
  int bind();
  // Serves until stop(); call after bind().
  void run();
  void stop();
  const Dataset& dataset() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// A bound server answering on its own thread until destruction: what tests and benchmarks use.
class BackgroundServer {
 public:
  explicit BackgroundServer(ServerOptions options);
  ~BackgroundServer();
  BackgroundServer(const BackgroundServer&) = delete;
  BackgroundServer& operator=(const BackgroundServer&) = delete;

  int port() const { return port_; }
  const Dataset& dataset() const { return server_.dataset(); }

 private:
  Server server_;
  int port_;
  std::jthread thread_;
};

}  // namespace upstream_sim
