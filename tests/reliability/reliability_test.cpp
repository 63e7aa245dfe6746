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

// 0 until ingestd has migrated the database and committed its first page.
std::int64_t pages_committed(const TestDatabase& db) {
  if (db.scalar("SELECT (to_regclass('ingest_checkpoint') IS NOT NULL)::int") == 0) return 0;
  return db.scalar("SELECT coalesce(max(pages), 0) FROM ingest_checkpoint");
}

}  // namespace

// Every kill is made to land in the phase it names, whichever process is quicker:
// - run: paging needs at least 60 pages x 200 ms = 12 s of the server's time, more than the
//   16 kill delays can add up to (16 x 700 ms), so no round can finish before its kill;
// - submit, before acceptance: the simulator holds each upload 3 s before it reads the body
//   (and keeps its receive buffer small, so the body cannot finish into kernel buffers), and
//   the kill comes at most 1.5 s after the upload reached it: a truncated upload is no
//   submission;
// - submit, after acceptance: the simulator lists the submission, then takes 3 s to answer;
//   the kill comes as soon as it is listed, before ingestd can learn of it.
TEST_CASE("crash storm: 20 kill -9 across fetching, decoding, committing and submitting") {
  Sim sim(
      sim_args(11, 300'000,
               {"--unlimited", "--latency-ms-per-event", "0.04", "--fault-malformed", "0.001",
                "--submission-cap", "5", "--submit-hold-ms", "3000", "--submit-delay-ms", "3000"}));
  TestDatabase db;
  auto env = paged_env(sim, db, {{"PAGE_LIMIT", "5000"}});
  std::mt19937 rng(7);
  const auto start = [&](const char* command, TempDir& dir) {
    return std::make_unique<Process>(
        Process::Options{ingestd({command}), env, dir.path(), dir.path() / "log", false});
  };

  std::uniform_int_distribution<int> run_delay(50, 700);
  for (int kill = 0; kill < 16; ++kill) {
    CAPTURE(kill);
    TempDir dir;
    auto p = start("run", dir);
    const auto code = p->wait_for(std::chrono::milliseconds(run_delay(rng)));
    INFO(p->log());
    REQUIRE_FALSE(code.has_value());
    kill_now(*p);
    const std::string counted = db.text("SELECT events FROM ingest_checkpoint");
    if (!counted.empty()) CHECK(std::stoll(counted) == db.scalar("SELECT count(*) FROM events"));
  }
  CHECK(db.text("SELECT done::int FROM ingest_checkpoint") != "1");
  expect_exit(run(ingestd({"run"}), env, 300s), 0);
  check_exact_dataset(sim, db);

  std::uniform_int_distribution<int> upload_delay(0, 1500);
  for (std::int64_t kill = 0; kill < 3; ++kill) {
    CAPTURE(kill);
    TempDir dir;
    auto p = start("submit", dir);
    wait_while_running(*p, [&] { return sim.stat("/submission_attempts") == kill + 1; });
    std::this_thread::sleep_for(std::chrono::milliseconds(upload_delay(rng)));
    kill_now(*p);
  }
  {
    TempDir dir;
    auto p = start("submit", dir);
    wait_while_running(*p, [&] { return sim.stat("/submissions/0/number") > 0; });
    kill_now(*p);
  }
  // The killed attempts: 3 uploads cut short, 1 accepted whose answer never arrived.
  const auto attempts = sim.stat("/submission_attempts");
  CHECK(attempts == 4);
  CHECK(sim.stat("/broken_uploads") == 3);

  const auto final_submit = run(ingestd({"submit"}), env);
  expect_exit(final_submit, 0);
  CHECK(final_submit.output.find("was accepted by the upstream") != std::string::npos);
  CHECK(sim.stat("/submission_attempts") == attempts);
  CHECK(sim.stat("/submissions/0/status") == 200);
  CHECK(sim.stat("/submissions/0/missing") == 0);
  CHECK(sim.stat("/submissions/0/duplicates") == 0);
  CHECK(sim.stat("/submissions/1/number") == 0);
  const auto ledger = db.scalar("SELECT count(*) FROM submissions");
  CHECK(ledger == attempts);
  CHECK(db.scalar("SELECT count(*) FROM submissions WHERE outcome = 'in_progress'") == 0);
  CHECK(db.scalar("SELECT count(*) FROM submissions WHERE outcome = 'accepted'") == 1);
  expect_exit(run(ingestd({"submit"}), env), 0);
  CHECK(sim.stat("/submission_attempts") == attempts);
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
  // 40 pages at 10 per second: at least 3 s are left after the first commit.
  wait_while_running(p, [&] { return pages_committed(db) > 0; });
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
    // 20 pages at 10 per second: the second half is at least a window away.
    wait_while_running(p, [&] { return pages_committed(db) > 0; });
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
    wait_while_running(p, [&] { return pages_committed(db) > 0; });
    kill_now(p);
  }
  REQUIRE(db.text("SELECT done::int FROM ingest_checkpoint") == "0");
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
