// ingestd against upstreams that speak other dialects than the contract (no rate headers, epoch
// Resets, a wait only in a 429's body, 410 for an expired cursor, a foreign envelope), and
// against crashes that the server's sliding log outlives. Times come from the simulator's own
// log of arrivals and answers, so process start-up is never part of a comparison.
#include <doctest/doctest.h>
#include <signal.h>

#include <random>
#include <thread>

#include "support.hpp"

using namespace testsupport;

namespace {

struct Outcome {
  std::string output;
  double paging_s = 0;
  std::int64_t refused = 0;
  std::vector<Sim::Request> log;
};

std::vector<std::string> plus(std::vector<std::string> base, const std::vector<std::string>& more) {
  base.insert(base.end(), more.begin(), more.end());
  return base;
}

// One complete run against a simulator with these flags; the stored set must be exact.
Outcome ingest(std::vector<std::string> flags, std::int64_t events,
               std::map<std::string, std::string> extra_env = {}) {
  Sim sim(sim_args(13, events, std::move(flags)));
  TestDatabase db;
  const auto r = run(ingestd({"run"}), paged_env(sim, db, std::move(extra_env)), 300s);
  expect_exit(r, 0);
  check_exact_dataset(sim, db);
  return {r.output, sim.paging_seconds(), sim.stat("/status_counts/429"), sim.request_log()};
}

// What a client that knew the limit and window exactly would need for the same pages with the
// same service times: page k leaves when page k-1 came back (the cursor chain is sequential)
// and not before request k-limit has left the window.
double floor_seconds(const std::vector<Sim::Request>& log, std::size_t limit, double window_s) {
  std::vector<double> service;
  for (const auto& r : log) {
    if (r.status == 200) service.push_back((r.answered_ms - r.arrived_ms) / 1000.0);
  }
  std::vector<double> leaves(service.size());
  for (std::size_t k = 0; k < service.size(); ++k) {
    double t = k == 0 ? 0.0 : leaves[k - 1] + service[k - 1];
    if (k >= limit) t = std::max(t, leaves[k - limit] + window_s);
    leaves[k] = t;
  }
  return service.empty() ? 0.0 : leaves.back() + service.back();
}

}  // namespace

TEST_CASE("no rate headers: an unmetered upstream is paged as fast as --unlimited") {
  const std::vector<std::string> base = {"--unlimited", "--latency-ms-per-event", "0.05"};
  const Outcome unlimited = ingest(base, 40'000);
  const Outcome silent = ingest(plus(base, {"--rate-dialect", "none"}), 40'000);
  const Outcome zero = ingest(plus(base, {"--rate-dialect", "zero-limit"}), 40'000);
  MESSAGE("40 pages: unlimited " << unlimited.paging_s << " s, no headers " << silent.paging_s
                                 << " s, Limit 0 " << zero.paging_s << " s");
  CHECK(silent.refused == 0);
  CHECK(zero.refused == 0);
  CHECK(silent.paging_s <= 2 * unlimited.paging_s);
  CHECK(zero.paging_s <= 2 * unlimited.paging_s);
}

// A 10 s window: an epoch instant with milliseconds paces like the relative Reset. One in whole
// seconds says when a slot frees only to within a second, rounded either way, and is read as the
// later end: at most a second more per wait (three here), never a 429.
TEST_CASE("X-RateLimit-Reset as an epoch instant paces like the relative Reset") {
  const std::vector<std::string> base = {
      "--limit", "10", "--window-s", "10", "--latency-ms-per-event", "0.01"};
  const Outcome relative = ingest(base, 40'000);
  const Outcome epoch_ms = ingest(plus(base, {"--rate-dialect", "epoch-ms"}), 40'000);
  const Outcome epoch_frac = ingest(plus(base, {"--rate-dialect", "epoch-frac"}), 40'000);
  const Outcome epoch_s = ingest(plus(base, {"--rate-dialect", "epoch"}), 40'000);
  MESSAGE("40 pages at 10 per 10 s: relative "
          << relative.paging_s << " s, epoch ms " << epoch_ms.paging_s
          << " s, epoch seconds.millis " << epoch_frac.paging_s << " s, whole epoch seconds + Date "
          << epoch_s.paging_s << " s");
  for (const Outcome* o : {&epoch_ms, &epoch_frac, &epoch_s}) CHECK(o->refused == 0);
  CHECK(epoch_ms.paging_s <= 1.1 * relative.paging_s);
  CHECK(epoch_frac.paging_s <= 1.1 * relative.paging_s);
  CHECK(epoch_s.paging_s <= 1.1 * relative.paging_s + 3 * 1.0);
  CHECK(relative.refused == 0);
}

// A whole epoch second says when a slot frees only to within a second, and servers round it
// either way: up (the simulator's epoch) or down (epoch-floor, as fixed windows often do, where
// the truth lies up to a second later). Read as its later end, neither earns a 429, on a sliding
// log or on a fixed window that starts at the first request after the last one ended.
TEST_CASE("whole-second epoch Reset on a 2 s window, rounded up or truncated: zero 429s") {
  for (const char* dialect : {"epoch", "epoch-floor"}) {
    for (const bool fixed : {false, true}) {
      CAPTURE(dialect);
      CAPTURE(fixed);
      std::vector<std::string> flags = {
          "--limit", "4", "--window-s", "2", "--rate-dialect", dialect, "--latency-ms-per-event",
          "0.01"};
      if (fixed) flags.push_back("--fixed-window");
      const Outcome o = ingest(flags, 20'000);
      const double floor = floor_seconds(o.log, 4, 2.0);
      MESSAGE("20 pages at 4 per 2 s, "
              << std::string(dialect) << (fixed ? ", fixed window: " : ": ") << o.paging_s << " s, "
              << o.refused << " x 429, sliding-log floor " << floor << " s");
      CHECK(o.refused == 0);
      // Up to a second per window is the price of not knowing which way the second was rounded;
      // a fixed window frees every slot at once, so the sliding log's floor is above its own.
      CHECK(o.paging_s <= 2 * floor);
    }
  }
}

// body-wait: only {"retryAfter":2}; none: the contract's body, whose rateLimit object names the
// limit too (known before any window is).
TEST_CASE("a 429 that carries its wait only in the body, no rate headers anywhere") {
  for (const char* dialect : {"body-wait", "none"}) {
    CAPTURE(dialect);
    const Outcome o = ingest({"--limit", "3", "--window-s", "2", "--rate-dialect", dialect,
                              "--latency-ms-per-event", "0.01"},
                             12'000);
    const double floor = floor_seconds(o.log, 3, 2.0);
    MESSAGE("12 pages at 3 per 2 s, waits only in 429 bodies ("
            << dialect << "): " << o.paging_s << " s, " << o.refused << " x 429, floor " << floor
            << " s");
    CHECK(o.refused <= 3);
    CHECK(o.paging_s <= 2 * floor);
    // body-wait's 429 carries no message of the contract's.
    if (std::string_view(dialect) == "body-wait") {
      CHECK(o.output.find("Rate limit") == std::string::npos);
    }
  }
}

TEST_CASE("RATE_LIMIT is a ceiling even where the upstream allows more") {
  const Outcome o = ingest({"--limit", "100", "--window-s", "1"}, 12'000, {{"RATE_LIMIT", "4/1s"}});
  std::size_t checked = 0;
  for (std::size_t k = 4; k < o.log.size(); ++k, ++checked) {
    CHECK(o.log[k].arrived_ms - o.log[k - 4].arrived_ms >= 1000.0);
  }
  CHECK(checked == 8);
}

TEST_CASE("a foreign envelope stops within 3 requests with exit 2, naming the missing field") {
  Sim sim(sim_args(13, 20'000, {"--unlimited", "--foreign-envelope"}));
  TestDatabase db;
  const auto started = std::chrono::steady_clock::now();
  const auto r = run(ingestd({"run"}), paged_env(sim, db), 60s);
  expect_exit(r, 2);
  CHECK(std::chrono::steady_clock::now() - started < 20s);
  CHECK(sim.stat("/pages_served") <= 3);
  CHECK(r.output.find("upstream: the response of " + sim.url() +
                      "/api/v1/events has no \"pagination\" object; does UPSTREAM_BASE_URL point "
                      "at the events API?") != std::string::npos);
  // The retries before the refusal name their cause once, not "upstream: upstream: …".
  CHECK(r.output.find("upstream: the response of") != r.output.rfind("upstream: the response of"));
  CHECK(r.output.find("upstream: upstream:") == std::string::npos);
  CHECK(db.scalar("SELECT count(*) FROM events") == 0);
}

TEST_CASE("10 kill -9 against the server's sliding log: zero 429s, exact set") {
  Sim sim(
      sim_args(13, 30'000, {"--limit", "5", "--window-s", "3", "--latency-ms-per-event", "0.1"}));
  TestDatabase db;
  auto env = paged_env(sim, db, {{"PAGE_LIMIT", "500"}});
  const int kills = kill_at_random(env, 10, 30, 300ms, 2500ms, 20261124);
  CHECK(kills == 10);
  expect_exit(run(ingestd({"run"}), env, 300s), 0);
  check_exact_dataset(sim, db);
  CHECK(sim.stat("/status_counts/429") == 0);
  CHECK(sim.stat("/max_in_window") <= 5);
}

// What is saved before each request is the server's log as the restart needs it: three series of
// ten kills at random instants against a 4 per 2 s sliding log, none earning a 429.
TEST_CASE("4 per 2 s sliding log, ten kill -9 at random instants, three times: zero 429s in each") {
  for (std::uint32_t series = 0; series < 3; ++series) {
    CAPTURE(series);
    Sim sim(sim_args(17 + static_cast<int>(series), 20'000,
                     {"--limit", "4", "--window-s", "2", "--latency-ms-per-event", "0.1"}));
    TestDatabase db;
    auto env = paged_env(sim, db, {{"PAGE_LIMIT", "500"}});
    const int kills = kill_at_random(env, 10, 30, 300ms, 2500ms, 20261201 + series);
    CHECK(kills == 10);
    expect_exit(run(ingestd({"run"}), env, 300s), 0);
    check_exact_dataset(sim, db);
    CHECK(sim.stat("/status_counts/429") == 0);
    CHECK(sim.stat("/max_in_window") <= 4);
  }
}

TEST_CASE("kill -9 after the submission was accepted, before the ledger knew: no second one") {
  Sim sim(sim_args(13, 5'000, {"--unlimited", "--submit-delay-ms", "5000"}));
  TestDatabase db;
  auto env = ingest_env(sim, db);
  TempDir dir;
  Process p({ingestd({"run"}), env, dir.path(), dir.path() / "run.log", false});
  wait_while_running(p, [&] { return sim.stat("/submissions/0/number") > 0; });
  kill_now(p);
  CHECK(db.text("SELECT outcome FROM submissions") == "in_progress");

  const auto r = run(ingestd({"submit"}), env);
  expect_exit(r, 0);
  CHECK(r.output.find("was accepted by the upstream") != std::string::npos);
  CHECK(sim.stat("/submissions/1/number") == 0);
  CHECK(db.text("SELECT outcome FROM submissions") == "accepted");
  CHECK(db.scalar("SELECT count(*) FROM submissions") == 1);
  // And nothing more on a later run.
  expect_exit(run(ingestd({"submit"}), env), 0);
  CHECK(sim.stat("/submissions/1/number") == 0);
}
