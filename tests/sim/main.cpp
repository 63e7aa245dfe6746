// upstream-sim: the simulated upstream events API, for integration tests, benchmarks and demos.
#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <exception>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "server.hpp"

int main(int argc, char** argv) {
  upstream_sim::ServerOptions o;
  std::string ts_mix = "ms=45,iso=45,sec=2,ms_str=2,sec_str=1,offset=2,nofrac=1,micros=1,space=1";
  std::uint64_t events = o.dataset.events;
  std::uint64_t seed = o.dataset.seed;

  CLI::App app{"Simulated upstream events API with fault injection"};
  app.add_option("--port", o.port, "Port on 127.0.0.1 (0: any free port)");
  app.add_option("--events", events, "Events in the dataset");
  app.add_option("--seed", seed, "Dataset and fault seed");
  app.add_option("--ts-mix", ts_mix, "Timestamp form weights, e.g. ms=45,iso=45,...");
  app.add_option("--api-key", o.api_key, "Accepted X-API-Key");
  app.add_option("--more-api-keys", o.more_api_keys,
                 "Further accepted keys (key 2, 3, ...), each with a budget of its own")
      ->delimiter(',');
  app.add_flag("--shared-quota", o.shared_quota, "Every key spends one budget");
  std::vector<std::string> key_expiry;
  app.add_option("--key-expiry", key_expiry,
                 "POSITION:SECONDS,...: key POSITION (1 is --api-key) answers 401 that many "
                 "seconds after its first use")
      ->delimiter(',');
  app.add_flag("--cursor-per-key", o.cursor_per_key,
               "A cursor is valid only with the key it was issued to (400 CURSOR_INVALID)");
  app.add_option("--latency-ms-per-event", o.latency_ms_per_event, "Page latency per event");
  app.add_option("--cursor-ttl-s", o.cursor_ttl_s, "Cursor lifetime in seconds");
  app.add_option("--limit", o.limit, "Requests per window");
  app.add_option("--window-s", o.window_s, "Rate-limit window in seconds (fractions allowed)");
  app.add_flag("--unlimited", o.unlimited, "Disable rate limiting");
  bool no_gzip = false, no_cache = false;
  app.add_flag("--no-gzip", no_gzip, "Never gzip responses");
  app.add_flag("--no-cache", no_cache, "Disable the 30 s response cache");
  app.add_option("--submission-cap", o.submission_cap, "Submission attempts per key");
  app.add_option("--fault-submit-5xx", o.fault_submit_5xx, "P(submission answered 503)");
  app.add_option("--submit-delay-ms", o.submit_delay_ms,
                 "Milliseconds the submission endpoint takes to answer after reading the body");
  app.add_option("--submit-hold-ms", o.submit_hold_ms,
                 "Milliseconds the submission endpoint waits before reading the body");
  app.add_option("--fault-5xx", o.fault_5xx, "P(request answered 500/502/503/504)");
  app.add_option("--fault-429-storm", o.fault_429_storm, "P(request starts a 429 storm)");
  app.add_option("--storm-length", o.storm_length, "Consecutive 429s in a storm");
  app.add_flag("--fault-retry-after-only", o.fault_retry_after_only,
               "429s carry Retry-After but no X-RateLimit-*");
  app.add_option("--fault-missing-rate-headers", o.fault_missing_rate_headers,
                 "P(response without X-RateLimit-*)");
  app.add_option("--fault-garbled-rate-headers", o.fault_garbled_rate_headers,
                 "P(response with unparsable X-RateLimit-*)");
  app.add_option("--window-change-after", o.window_change_after,
                 "Counted requests after which the window changes");
  app.add_option("--window-s-after", o.window_s_after, "Window length after the change");
  app.add_option("--fault-slow", o.fault_slow, "P(response delayed by --fault-slow-ms)");
  app.add_option("--fault-slow-ms", o.fault_slow_ms, "Delay of a slow response");
  app.add_option("--fault-drop", o.fault_drop, "P(connection closed mid-body)");
  app.add_option("--fault-truncate", o.fault_truncate, "P(200 with a cut JSON body)");
  app.add_option("--fault-repeat", o.fault_repeat, "P(page overlaps the previous one)");
  app.add_option("--fault-malformed", o.dataset.malformed, "P(event must be quarantined)");
  app.add_option("--fault-exotic", o.dataset.exotic, "P(event is unusual but valid)");
  const std::map<std::string, upstream_sim::RateDialect> dialects = {
      {"contract", upstream_sim::RateDialect::contract},
      {"none", upstream_sim::RateDialect::none},
      {"body-wait", upstream_sim::RateDialect::body_wait},
      {"epoch", upstream_sim::RateDialect::epoch},
      {"epoch-floor", upstream_sim::RateDialect::epoch_floor},
      {"epoch-frac", upstream_sim::RateDialect::epoch_frac},
      {"epoch-ms", upstream_sim::RateDialect::epoch_ms},
      {"zero-limit", upstream_sim::RateDialect::zero_limit}};
  app.add_option("--rate-dialect", o.rate_dialect,
                 "How limits are spoken: contract, none (no rate headers), body-wait (no headers, "
                 "the 429 body says retryAfter), epoch (Reset as whole epoch seconds rounded up, "
                 "with Date), "
                 "epoch-floor (the same, truncated), "
                 "epoch-frac (epoch seconds with milliseconds), "
                 "epoch-ms (Reset as epoch milliseconds), zero-limit (Limit 0, huge Remaining)")
      ->transform(CLI::CheckedTransformer(dialects, CLI::ignore_case));
  app.add_flag("--fixed-window", o.fixed_window,
               "A fixed window instead of a sliding log: it starts at the first request after "
               "the last window ended, and every slot frees at its end");
  app.add_flag("--expired-as-gone", o.expired_as_gone,
               "Answer an expired cursor with 410 Gone {\"error\":\"CursorExpired\"}");
  app.add_flag("--foreign-envelope", o.foreign_envelope,
               "Serve pages as {\"data\",\"hasMore\",\"nextCursor\"}, not the contract's envelope");
  app.add_option("--live-rate", o.live.rate,
                 "New events per second appearing at the head after start (0: none); cursors "
                 "are then keyset positions and meta.total counts what exists at each answer");
  app.add_option("--late-every", o.live.late_every,
                 "With --live-rate: every K-th new event gets a timestamp inside the dataset's "
                 "range (a late arrival)");
  std::string dialect = "contract";
  app.add_option("--dialect", dialect,
                 "Page the dataset as another API does, on its own path: contract, hubspot "
                 "(cursor), stripe (last_record), nexturl (next_url), github (link_header), "
                 "offset, page (tests/profiles/ has a profile for each)");
  app.add_option("--stuck-from", o.stuck_from,
                 "From the page starting at this event index on, name the page asked for as the "
                 "next one (a stuck cursor); -1: never");
  app.add_flag("--verbose", o.verbose, "Log each injected fault to stderr");
  CLI11_PARSE(app, argc, argv);

  const auto weights = upstream_sim::parse_ts_mix(ts_mix);
  if (!weights || events == 0 || o.limit < 1 || o.window_s <= 0 || o.cursor_ttl_s <= 0 ||
      o.live.rate < 0 || o.live.late_every < 0) {
    std::fprintf(stderr,
                 "upstream-sim: invalid --ts-mix, --events, --limit, --window-s, "
                 "--cursor-ttl-s, --live-rate or --late-every\n");
    return 2;
  }
  for (const std::string& item : key_expiry) {
    const auto colon = item.find(':');
    try {
      if (colon == std::string::npos) throw std::invalid_argument(item);
      o.key_expiry_s[std::stoi(item.substr(0, colon))] = std::stod(item.substr(colon + 1));
    } catch (const std::exception&) {
      std::fprintf(stderr, "upstream-sim: --key-expiry takes POSITION:SECONDS, not %s\n",
                   item.c_str());
      return 2;
    }
  }
  const auto parsed_dialect = upstream_sim::parse_dialect(dialect);
  if (!parsed_dialect) {
    std::fprintf(stderr, "upstream-sim: unknown --dialect %s\n", dialect.c_str());
    return 2;
  }
  o.dialect = *parsed_dialect;
  o.dataset.ts_weights = *weights;
  o.dataset.events = events;
  o.dataset.seed = seed;
  o.gzip = !no_gzip;
  o.cache = !no_cache;

  // Blocked before any thread starts, so only the sigwait below ever sees SIGTERM/SIGINT.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  try {
    upstream_sim::Server server(o);
    const int port = server.bind();
    std::printf("listening on 127.0.0.1:%d\n", port);
    std::fflush(stdout);
    std::jthread serving([&server] { server.run(); });
    int received = 0;
    sigwait(&signals, &received);
    server.stop();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "upstream-sim: %s\n", e.what());
    return 1;
  }
  return 0;
}
