// `ingestd run` end to end: the real upstream-sim over loopback, a real PostgreSQL.
#include <doctest/doctest.h>
#include <signal.h>

#include <random>
#include <thread>

#include "support.hpp"

using namespace testsupport;

TEST_CASE("a full rate-limited run stores exactly the upstream's events with zero 429s") {
  Sim sim(sim_args(7, 20'000, {"--limit", "10", "--window-s", "1"}));
  TestDatabase db;
  auto env = ingest_env(sim, db);
  env["PAGE_LIMIT"] = "1000";
  env["SUBMIT_ON_FINISH"] = "false";
  const auto r = run(ingestd({"run"}), env);
  expect_exit(r, 0);
  check_exact_dataset(sim, db);
  CHECK(sim.stat("/status_counts/429") == 0);
  CHECK(sim.stat("/max_in_window") <= 10);
  CHECK(db.scalar("SELECT pages FROM ingest_checkpoint") == 20);
  CHECK(db.scalar("SELECT events FROM ingest_checkpoint") == 20'000);
  CHECK(r.output.find("test-key") == std::string::npos);
  CHECK(r.output.find("ingestion complete") != std::string::npos);
}

TEST_CASE("transient upstream faults: 5xx, slow, truncated and dropped responses") {
  Sim sim(sim_args(
      7, 50'000,
      {"--unlimited", "--fault-5xx", "0.08", "--fault-slow", "0.04", "--fault-slow-ms", "2500",
       "--fault-truncate", "0.05", "--fault-drop", "0.05", "--fault-repeat", "0.1"}));
  TestDatabase db;
  auto env = ingest_env(sim, db);
  env["PAGE_LIMIT"] = "1000";
  env["HTTP_TIMEOUT_S"] = "1";
  env["SUBMIT_ON_FINISH"] = "false";
  const auto r = run(ingestd({"run"}), env, 240s);
  expect_exit(r, 0);
  check_exact_dataset(sim, db);
  CHECK(sim.stat("/faults/5xx") > 0);
  CHECK(sim.stat("/faults/truncate") > 0);
  CHECK(sim.stat("/faults/drop") > 0);
}

TEST_CASE("malformed events are quarantined with their reason, unusual valid ones are stored") {
  Sim sim(
      sim_args(7, 20'000, {"--unlimited", "--fault-malformed", "0.01", "--fault-exotic", "0.01"}));
  TestDatabase db;
  auto env = ingest_env(sim, db);
  env["PAGE_LIMIT"] = "5000";
  env["SUBMIT_ON_FINISH"] = "false";
  const auto r = run(ingestd({"run"}), env);
  expect_exit(r, 0);
  check_exact_dataset(sim, db);
  CHECK(db.scalar("SELECT count(*) FROM quarantine") > 50);
  CHECK(db.scalar("SELECT count(*) FROM quarantine WHERE reason = ''") == 0);
  CHECK(db.scalar("SELECT count(*) FROM quarantine WHERE reason LIKE 'timestamp%'") > 0);
  CHECK(db.scalar("SELECT count(*) FROM quarantine WHERE reason LIKE '%id%'") > 0);
}

TEST_CASE("kill -9 at random moments, restarting each time: exact set, checkpoint never ahead") {
  // 100 pages x 100 ms of the server's time outlast the 6 kill delays (at most 6 x 900 ms), so
  // every round is killed mid-run.
  Sim sim(sim_args(7, 100'000, {"--unlimited", "--latency-ms-per-event", "0.1"}));
  TestDatabase db;
  auto env = ingest_env(sim, db);
  env["PAGE_LIMIT"] = "1000";
  env["SUBMIT_ON_FINISH"] = "false";
  const int kills = kill_at_random(env, 6, 12, 150ms, 900ms, 20261123, [&] {
    // Rows and checkpoint commit together: the counter always equals the stored rows.
    const std::string counted = db.text("SELECT events FROM ingest_checkpoint");
    if (!counted.empty()) CHECK(std::stoll(counted) == db.scalar("SELECT count(*) FROM events"));
  });
  CHECK(kills == 6);
  expect_exit(run(ingestd({"run"}), env), 0);
  check_exact_dataset(sim, db);
  CHECK(db.scalar("SELECT events FROM ingest_checkpoint") == 100'000);
}

TEST_CASE("SIGTERM stops with a consistent checkpoint (exit 143) and a rerun resumes") {
  Sim sim(sim_args(7, 30'000, {"--unlimited", "--latency-ms-per-event", "0.2"}));
  TestDatabase db;
  auto env = ingest_env(sim, db);
  env["PAGE_LIMIT"] = "1000";
  env["SUBMIT_ON_FINISH"] = "false";
  {
    TempDir dir;
    Process p({ingestd({"run"}), env, dir.path(), dir.path() / "run.log", false});
    std::this_thread::sleep_for(2500ms);
    p.signal(SIGTERM);
    const auto code = p.wait_for(30s);
    INFO(p.log());
    REQUIRE(code == 143);
    CHECK(db.scalar("SELECT pages FROM ingest_checkpoint") > 0);
    CHECK(db.scalar("SELECT done::int FROM ingest_checkpoint") == 0);
    CHECK(db.scalar("SELECT events FROM ingest_checkpoint") ==
          db.scalar("SELECT count(*) FROM events"));
  }
  expect_exit(run(ingestd({"run"}), env), 0);
  check_exact_dataset(sim, db);
  const auto again = run(ingestd({"run"}), env);
  expect_exit(again, 0);
  CHECK(again.output.find("ingestion already complete") != std::string::npos);
}

TEST_CASE("a second ingestd on the same database and stream refuses clearly") {
  Sim sim(sim_args(7, 50'000, {"--limit", "2", "--window-s", "1"}));
  TestDatabase db;
  auto env = ingest_env(sim, db);
  env["PAGE_LIMIT"] = "500";
  env["SUBMIT_ON_FINISH"] = "false";
  env["STREAM_LOCK_WAIT_S"] = "1";
  TempDir dir;
  Process first({ingestd({"run"}), env, dir.path(), dir.path() / "first.log", false});
  wait_while_running(first, [&] {
    return db.text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'") != "0";
  });
  const auto started = std::chrono::steady_clock::now();
  const auto second = run(ingestd({"run"}), env);
  CHECK(std::chrono::steady_clock::now() - started >= 1s);
  CHECK(second.exit_code == 75);
  CHECK(second.output.find("waiting up to 1 s") != std::string::npos);
  CHECK(second.output.find("is being ingested by another ingestd on this database") !=
        std::string::npos);
  first.signal(SIGTERM);
  CHECK(first.wait_for(30s) == 143);
}

TEST_CASE("a restart waits for the stream lock of a killed process's session to go") {
  Sim sim(sim_args(7, 2'000, {}));
  TestDatabase db;
  expect_exit(run(ingestd({"migrate"}), {{"DATABASE_URL", db.url()}}), 0);
  // The session of an ingestd killed during a statement holds the stream until the statement
  // ends and PostgreSQL finds the client gone.
  db.abandon_busy("SELECT pg_advisory_lock(hashtextextended('ingestd/events', 0))",
                  "SELECT pg_sleep(2)");
  auto env = ingest_env(sim, db);
  env["SUBMIT_ON_FINISH"] = "false";
  const auto started = std::chrono::steady_clock::now();
  const auto r = run(ingestd({"run"}), env);
  expect_exit(r, 0);
  CHECK(std::chrono::steady_clock::now() - started >= 1500ms);
  CHECK(r.output.find("stream events is held by another session; waiting up to 10 s") !=
        std::string::npos);
  check_exact_dataset(sim, db);
}

TEST_CASE("a process killed while its statement waits leaves no session behind for long") {
  Sim sim(sim_args(7, 5'000, {}));
  TestDatabase db;
  expect_exit(run(ingestd({"migrate"}), {{"DATABASE_URL", db.url()}}), 0);
  auto env = ingest_env(sim, db);
  env["SUBMIT_ON_FINISH"] = "false";
  env["PAGE_LIMIT"] = "1000";
  const std::string sessions =
      "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'ingestd' AND datname = "
      "current_database()";
  {
    // Holds the lock every event writer takes, so ingestd's first commit waits inside a
    // statement, where the server would otherwise stay until the statement ends.
    OpenTransaction writers(
        db, "SELECT pg_advisory_xact_lock(hashtextextended('ingestd/event-writers', 0))");
    TempDir dir;
    Process p({ingestd({"run"}), env, dir.path(), dir.path() / "run.log", false});
    wait_while_running(p,
                       [&] { return db.scalar(sessions + " AND wait_event_type = 'Lock'") > 0; });
    REQUIRE_MESSAGE(db.scalar(sessions + " AND wait_event_type = 'Lock'") == 1, p.log());
    p.signal(SIGKILL);
    REQUIRE(p.wait_for(10s) == 128 + SIGKILL);
    const auto killed = std::chrono::steady_clock::now();
    while (db.scalar(sessions) > 0 && std::chrono::steady_clock::now() - killed < 10s) {
      std::this_thread::sleep_for(50ms);
    }
    CHECK(db.scalar(sessions) == 0);
    CHECK(std::chrono::steady_clock::now() - killed < 3s);
  }
  const auto r = run(ingestd({"run"}), env);
  expect_exit(r, 0);
  CHECK(r.output.find("waiting up to") == std::string::npos);
  check_exact_dataset(sim, db);
}

TEST_CASE("a wrong API key: exit 3 after a handful of requests, and the key is never logged") {
  Sim sim(sim_args(7, 1000, {"--api-key", "the-right-key"}));
  TestDatabase db;
  auto env = ingest_env(sim, db);
  env["UPSTREAM_API_KEY"] = "sk-WRONG-secret-987";
  env["LOG_LEVEL"] = "debug";
  const auto r = run(ingestd({"run"}), env);
  CHECK(r.exit_code == 3);
  CHECK(sim.stat("/requests") <= 3);
  CHECK(r.output.find("sk-WRONG-secret-987") == std::string::npos);
  CHECK(r.output.find("refused the API key") != std::string::npos);
}
