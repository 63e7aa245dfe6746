// The reliability suite: crashes, database and upstream faults. Every scenario ends with the same
// check: the stored ID set is exactly the upstream's, with the exact instants, and every malformed
// event is in quarantine. docs/RELIABILITY.md has one row per TEST_CASE here.
#include <doctest/doctest.h>
#include <signal.h>

#include <random>
#include <thread>

#include "support.hpp"

using namespace testsupport;

namespace {

// One complete run under the given simulator flags; returns the output for further checks.
std::string run_exact(std::vector<std::string> flags, std::int64_t events = 20'000,
                      std::map<std::string, std::string> extra_env = {}) {
  Sim sim(sim_args(11, events, std::move(flags)));
  TestDatabase db;
  const auto r = run(ingestd({"run"}), paged_env(sim, db, std::move(extra_env)), 300s);
  expect_exit(r, 0);
  check_exact_dataset(sim, db);
  return r.output;
}

}  // namespace

TEST_CASE("crash storm: 20 kill -9 across fetching, decoding, committing and submitting") {
  Sim sim(sim_args(11, 300'000,
                   {"--unlimited", "--latency-ms-per-event", "0.04", "--fault-malformed", "0.001",
                    "--submission-cap", "5", "--submit-delay-ms", "1000"}));
  TestDatabase db;
  auto env = paged_env(sim, db, {{"PAGE_LIMIT", "5000"}});
  std::mt19937 rng(7);
  int kills = 0;
  auto storm = [&](const std::vector<std::string>& command, int wanted, int lo_ms, int hi_ms) {
    std::uniform_int_distribution<int> delay(lo_ms, hi_ms);
    const int max_rounds = wanted * 3;
    for (int round = 0; round < max_rounds && wanted > 0; ++round) {
      TempDir dir;
      Process p({ingestd(command), env, dir.path(), dir.path() / "log", false});
      if (p.wait_for(std::chrono::milliseconds(delay(rng)))) continue;
      p.signal(SIGKILL);
      REQUIRE(p.wait_for(10s) == 128 + SIGKILL);
      ++kills;
      --wanted;
      const std::string counted = db.text("SELECT events FROM ingest_checkpoint");
      if (!counted.empty()) CHECK(std::stoll(counted) == db.scalar("SELECT count(*) FROM events"));
    }
  };
  storm({"run"}, 16, 50, 800);
  expect_exit(run(ingestd({"run"}), env, 300s), 0);
  check_exact_dataset(sim, db);
  storm({"submit"}, 4, 20, 900);
  CHECK(kills == 20);
  const auto final_submit = run(ingestd({"submit"}), env);
  const auto ledger = db.scalar("SELECT count(*) FROM submissions");
  CHECK(ledger <= 5);
  CHECK(db.scalar("SELECT count(*) FROM submissions WHERE outcome = 'in_progress'") == 0);
  std::int64_t sim_attempts = 0;
  while (sim.stat("/submissions/" + std::to_string(sim_attempts) + "/number") > 0) ++sim_attempts;
  CHECK(sim_attempts <= ledger);
  if (final_submit.exit_code == 0) {
    CHECK(sim.stat("/submissions/" + std::to_string(sim_attempts - 1) + "/missing") == 0);
    CHECK(sim.stat("/submissions/" + std::to_string(sim_attempts - 1) + "/duplicates") == 0);
  } else {
    CHECK(final_submit.exit_code == 5);
    CHECK(ledger == 5);
  }
}

TEST_CASE("PostgreSQL restarted mid-run (pg_ctl restart -m fast): reconnects, exact result") {
  const std::string cluster = env_or("PG_LOCAL_DIR_FOR_TESTS", "");
  if (cluster.empty()) {
    MESSAGE("TEST_DATABASE_URL points at an external server: restart scenario skipped");
    return;
  }
  Sim sim(sim_args(11, 40'000, {"--limit", "10", "--window-s", "1"}));
  TestDatabase db;
  TempDir dir;
  Process p({ingestd({"run"}), paged_env(sim, db), dir.path(), dir.path() / "log", false});
  std::this_thread::sleep_for(1500ms);
  const auto restart = run({std::string(INGESTD_SOURCE_DIR) + "/scripts/pg-local.sh", "restart"},
                           {{"PG_LOCAL_DIR", cluster}});
  expect_exit(restart, 0);
  const auto code = p.wait_for(120s);
  INFO(p.log());
  REQUIRE(code == 0);
  CHECK(p.log().find("reconnect") != std::string::npos);
  check_exact_dataset(sim, db);
}

TEST_CASE("5xx bursts with JSON and HTML bodies") {
  run_exact({"--unlimited", "--fault-5xx", "0.2"});
}

TEST_CASE("429 storms that ignore the budget") {
  const auto out = run_exact({"--limit", "10", "--window-s", "1", "--fault-429-storm", "0.05"});
  CHECK(out.find("429") != std::string::npos);
}

TEST_CASE("Retry-After without rate headers") {
  run_exact({"--limit", "10", "--window-s", "1", "--fault-429-storm", "0.05",
             "--fault-retry-after-only"});
}

TEST_CASE("missing and garbled rate headers: no 429 from the conservative model") {
  Sim sim(sim_args(11, 20'000,
                   {"--limit", "10", "--window-s", "1", "--fault-missing-rate-headers", "0.3",
                    "--fault-garbled-rate-headers", "0.3"}));
  TestDatabase db;
  expect_exit(run(ingestd({"run"}), paged_env(sim, db), 300s), 0);
  check_exact_dataset(sim, db);
  CHECK(sim.stat("/status_counts/429") == 0);
}

TEST_CASE("window length changing mid-run") {
  Sim sim(sim_args(11, 30'000,
                   {"--limit", "10", "--window-s", "1", "--window-change-after", "12",
                    "--window-s-after", "2"}));
  TestDatabase db;
  expect_exit(run(ingestd({"run"}), paged_env(sim, db), 300s), 0);
  check_exact_dataset(sim, db);
  // At most the one request that discovers the longer window is refused.
  CHECK(sim.stat("/status_counts/429") <= 1);
}

TEST_CASE("responses slower than the timeout") {
  run_exact({"--unlimited", "--fault-slow", "0.1", "--fault-slow-ms", "2500"}, 20'000,
            {{"HTTP_TIMEOUT_S", "1"}});
}

TEST_CASE("connection reset mid-body and truncated JSON") {
  run_exact({"--unlimited", "--fault-drop", "0.1", "--fault-truncate", "0.1"});
}

TEST_CASE("events repeated across page boundaries") {
  run_exact({"--unlimited", "--fault-repeat", "0.3"});
}

// Expiry as the contract says it (400 CURSOR_EXPIRED) and as other APIs do (410 Gone).
TEST_CASE("cursor expiry after a pause (SIGSTOP past the TTL, then SIGCONT)") {
  for (const auto& [recovery, gone] : {std::pair{"reissue", false}, std::pair{"restart", false},
                                       std::pair{"reissue", true}, std::pair{"restart", true}}) {
    CAPTURE(recovery);
    CAPTURE(gone);
    std::vector<std::string> flags = {"--limit", "10", "--window-s", "1", "--cursor-ttl-s", "2"};
    if (gone) flags.push_back("--expired-as-gone");
    Sim sim(sim_args(11, 20'000, flags));
    TestDatabase db;
    TempDir dir;
    Process p({ingestd({"run"}), paged_env(sim, db, {{"CURSOR_RECOVERY", recovery}}), dir.path(),
               dir.path() / "log", false});
    std::this_thread::sleep_for(800ms);
    p.signal(SIGSTOP);
    std::this_thread::sleep_for(3500ms);
    p.signal(SIGCONT);
    const auto code = p.wait_for(120s);
    INFO(p.log());
    REQUIRE(code == 0);
    CHECK(p.log().find(gone ? "CursorExpired" : "CURSOR_EXPIRED") != std::string::npos);
    CHECK(sim.stat(gone ? "/status_counts/410" : "/status_counts/400") >= 1);
    check_exact_dataset(sim, db);
  }
}

TEST_CASE("a saved cursor expired while ingestd was down is recovered at start") {
  Sim sim(sim_args(11, 20'000, {"--limit", "10", "--window-s", "1", "--cursor-ttl-s", "1"}));
  TestDatabase db;
  const auto env = paged_env(sim, db);
  {
    TempDir dir;
    Process p({ingestd({"run"}), env, dir.path(), dir.path() / "log", false});
    std::this_thread::sleep_for(1200ms);
    p.signal(SIGKILL);
    p.wait_for(10s);
  }
  std::this_thread::sleep_for(2s);
  const auto r = run(ingestd({"run"}), env);
  expect_exit(r, 0);
  check_exact_dataset(sim, db);
}

TEST_CASE("bad input: every malformed field is quarantined, unusual valid events stored") {
  Sim sim(
      sim_args(11, 30'000, {"--unlimited", "--fault-malformed", "0.02", "--fault-exotic", "0.02"}));
  TestDatabase db;
  expect_exit(run(ingestd({"run"}), paged_env(sim, db, {{"PAGE_LIMIT", "5000"}})), 0);
  check_exact_dataset(sim, db);
  for (const char* reason : {"timestamp", "id"}) {
    CHECK_MESSAGE(db.scalar(std::string("SELECT count(*) FROM quarantine WHERE reason LIKE '%") +
                            reason + "%'") > 0,
                  reason);
  }
  CHECK(db.scalar("SELECT count(*) FROM quarantine WHERE reason LIKE '%NUL%'") > 0);
  CHECK(db.scalar("SELECT count(*) FROM events WHERE length(properties::text) > 100000") > 0);
}
