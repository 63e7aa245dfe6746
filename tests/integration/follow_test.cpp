// Following a live upstream (FOLLOW_INTERVAL_S) against upstream-sim --live-rate: new events
// appear at the head while ingestd copies and then follows it; cursors are keyset positions.
// After the feed stops, the table must equal the simulator's set exactly, whatever kill -9 did
// on the way, and the rollups and read API must agree with a recount.
#include <doctest/doctest.h>
#include <httplib.h>
#include <signal.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "support.hpp"

using namespace testsupport;
using nlohmann::json;

namespace {

// 100 new events a second; 10 requests a second; pages answer in about a millisecond.
std::vector<std::string> live_args(std::vector<std::string> more = {}) {
  std::vector<std::string> args = {
      "--live-rate", "100", "--limit", "10", "--window-s", "1", "--latency-ms-per-event", "0.01"};
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

// Pages of 100 and a 2 s overlap (200 events of the feed): a head sync spans a few pages, so a
// kill can land inside one.
std::map<std::string, std::string> follow_env(const Sim& sim, const TestDatabase& db) {
  return paged_env(sim, db,
                   {{"PAGE_LIMIT", "100"}, {"FOLLOW_INTERVAL_S", "1"}, {"FOLLOW_OVERLAP_S", "2"}});
}

// The schema exists before a test polls the checkpoint of a run it starts.
const std::map<std::string, std::string>& migrated(const std::map<std::string, std::string>& env) {
  expect_exit(run(ingestd({"migrate"}), env), 0);
  return env;
}

// A number of the checkpoint's row; 0 before the run has made it.
std::int64_t checkpoint(const TestDatabase& db, const std::string& expression) {
  return db.scalar("SELECT coalesce(max((" + expression + ")::bigint), 0) FROM ingest_checkpoint");
}

std::int64_t expected_count(const Sim& sim) {
  std::int64_t n = 0;
  const std::string all = sim.get("/internal/expected");
  for (std::size_t at = 0; (at = all.find("\tstore\t", at)) != std::string::npos; ++at) ++n;
  return n;
}

// Seconds from now until the table holds `count` events (fails past `timeout`).
double seconds_until_count(Process& p, const TestDatabase& db, std::int64_t count,
                           std::chrono::milliseconds timeout) {
  const auto start = std::chrono::steady_clock::now();
  wait_while_running(
      p, [&] { return db.scalar("SELECT count(*) FROM events") >= count; }, timeout);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The rollups of every bucket size equal a GROUP BY over the stored rows.
void check_rollups(const TestDatabase& db) {
  for (int g : {60, 300, 900, 3600, 86400}) {
    CAPTURE(g);
    const std::string recount = "SELECT to_timestamp(floor(extract(epoch FROM occurred_at) / " +
                                std::to_string(g) + ") * " + std::to_string(g) +
                                ") AS bucket_start, coalesce(type, '') AS type, count(*) "
                                "AS count FROM events GROUP BY 1, 2";
    CHECK(db.scalar("SELECT count(*) FROM (SELECT bucket_start, type, count FROM event_rollup "
                    "WHERE granularity_s = " +
                    std::to_string(g) + " AND count > 0) r FULL JOIN (" + recount +
                    ") e USING (bucket_start, type) WHERE r.count IS DISTINCT FROM "
                    "e.count") == 0);
  }
}

std::int64_t answer_total(int port, const std::string& path) {
  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(30, 0);
  auto res = client.Get(path.c_str());
  REQUIRE(res);
  REQUIRE_MESSAGE(res->status == 200, path << " -> " << res->body);
  return json::parse(res->body)["total"].get<std::int64_t>();
}

// The read API's totals for the whole range, per type and for users of live events, equal a
// count of the simulator's set made here.
void check_read_api(const Sim& sim, const TestDatabase& db) {
  const std::vector<DatasetEvent> events = stored_dataset(sim);
  Serve serve({{"DATABASE_URL", db.url()}, {"LOG_FORMAT", "text"}});
  const std::string range =
      "starting_at=2025-12-01T00:00:00.000Z&ending_before=2026-03-01T00:00:00.000Z";
  CHECK(answer_total(serve.port(), "/v1/event_counts?bucket=1d&" + range) ==
        static_cast<std::int64_t>(events.size()));
  for (const std::string type : {"click", "page_view"}) {
    CAPTURE(type);
    std::int64_t want = 0;
    for (const auto& e : events) want += e.type == type ? 1 : 0;
    CHECK(answer_total(serve.port(), "/v1/event_counts?bucket=1h&type=" + type + "&" + range) ==
          want);
  }
  // The users of the newest (live) events, whose rows arrived in head syncs.
  std::vector<std::string> users;
  for (auto it = events.rbegin(); it != events.rend() && users.size() < 3; ++it) {
    if (!it->user.empty()) users.push_back(it->user);
  }
  REQUIRE(users.size() == 3);
  for (const std::string& user : users) {
    CAPTURE(user);
    std::int64_t want = 0;
    for (const auto& e : events) want += e.user == user ? 1 : 0;
    CHECK(answer_total(serve.port(), "/v1/users/" + user + "/event_counts?bucket=1d&" + range) ==
          want);
  }
}

}  // namespace

TEST_CASE(
    "follow: a live feed of 100 events/s at 10 requests/s, kill -9 three times in the first pass "
    "and twice in head syncs, is exact within 2 intervals and a page after the feed stops") {
  Sim sim(sim_args(61, 10'000, live_args()));
  TestDatabase db;
  const auto env = migrated(follow_env(sim, db));
  TempDir dir;
  // Three kills in the first pass (100 pages), at pages 20, 45 and 70.
  for (int pages : {20, 45, 70}) {
    Process p({ingestd({"run"}), env, dir.path(), dir.path() / "run.log", false});
    wait_while_running(
        p, [&] { return checkpoint(db, "pages") >= pages; }, 120s);
    kill_now(p);
  }
  // Two kills inside head syncs: after a sync's first page committed and before its last.
  const std::string mid_sync = "(phase = 'head_sync' AND NOT done AND target_us IS NOT NULL)::int";
  for (int k = 0; k < 2; ++k) {
    // A restart first completes the sync the kill interrupted; the kill goes into a later one.
    const std::int64_t before = checkpoint(db, "syncs");
    Process p({ingestd({"run"}), env, dir.path(), dir.path() / "run.log", false});
    wait_while_running(
        p, [&] { return checkpoint(db, "syncs") > before && checkpoint(db, mid_sync) == 1; }, 120s);
    kill_now(p);
    CHECK(checkpoint(db, "(mark_us IS NOT NULL)::int") == 1);
  }
  Process p({ingestd({"run"}), env, dir.path(), dir.path() / "run.log", false});
  // Let it resume the interrupted sync and follow for a few more.
  const std::int64_t syncs = checkpoint(db, "syncs");
  wait_while_running(
      p, [&] { return checkpoint(db, "syncs") >= syncs + 3; }, 120s);
  const json stopped = json::parse(sim.post("/internal/feed/stop"));
  const std::int64_t want = expected_count(sim);
  CHECK(stopped["total"].get<std::int64_t>() == want);
  const double took = seconds_until_count(p, db, want, 60s);
  MESSAGE("exact " << took << " s after the feed stopped");
  CHECK(took <= 2 * 1.0 + 1.0);  // 2 x FOLLOW_INTERVAL_S + one page, with its commit
  p.signal(SIGTERM);
  REQUIRE(p.wait_for(30s) == 143);
  check_exact_dataset(sim, db, false);
  CHECK(sim.stat("/status_counts/429") == 0);
  CHECK(checkpoint(db, "events") == want);
  check_rollups(db);
  check_read_api(sim, db);
}

TEST_CASE(
    "follow: late arrivals every 20th event are exact within one full re-scan after the "
    "feed stops") {
  Sim sim(sim_args(62, 3'000, live_args({"--late-every", "20"})));
  TestDatabase db;
  TempDir dir;
  const auto env = migrated(follow_env(sim, db));
  Process p({ingestd({"run"}), env, dir.path(), dir.path() / "run.log", false});
  wait_while_running(
      p, [&] { return checkpoint(db, "syncs") >= 3; }, 120s);
  sim.post("/internal/feed/stop");
  const std::int64_t want = expected_count(sim);
  // A head sync sees the shortfall, and one re-scan (30-odd pages at 10 a second) mends it.
  seconds_until_count(p, db, want, 60s);
  p.signal(SIGTERM);
  REQUIRE(p.wait_for(30s) == 143);
  INFO(p.log());
  check_exact_dataset(sim, db, false);
  CHECK(checkpoint(db, "rescans") >= 1);
  CHECK(p.log().find("follow: full re-scan: the upstream reported") != std::string::npos);
  CHECK(sim.stat("/status_counts/429") == 0);
  check_rollups(db);
}

TEST_CASE("follow: SIGTERM while idle between syncs exits 143 in under 2 s") {
  Sim sim(sim_args(63, 2'000, {"--live-rate", "5", "--unlimited"}));
  TestDatabase db;
  TempDir dir;
  const auto env = migrated(paged_env(sim, db, {{"FOLLOW_INTERVAL_S", "30"}}));
  Process p({ingestd({"run"}), env, dir.path(), dir.path() / "run.log", false});
  // The first pass, then the head sync at once; then 30 s of waiting.
  wait_while_running(
      p, [&] { return checkpoint(db, "syncs") >= 1 && checkpoint(db, "done::int") == 1; }, 60s);
  const auto sent = std::chrono::steady_clock::now();
  p.signal(SIGTERM);
  const auto code = p.wait_for(10s);
  const double took =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - sent).count();
  INFO(p.log());
  CHECK(code == 143);
  CHECK(took < 2.0);
  CHECK(checkpoint(db, "done::int") == 1);
}

TEST_CASE("follow: a second run of a completed stream with --follow syncs the head it missed") {
  Sim sim(sim_args(64, 2'000, {"--live-rate", "50", "--unlimited"}));
  TestDatabase db;
  auto env = paged_env(sim, db);
  expect_exit(run(ingestd({"run"}), env), 0);
  const std::int64_t first = db.scalar("SELECT count(*) FROM events");
  // Events keep arriving; a one-shot run finds the stream done and fetches nothing.
  const auto again = run(ingestd({"run"}), env);
  expect_exit(again, 0);
  CHECK(db.scalar("SELECT count(*) FROM events") == first);
  TempDir dir;
  auto follow = env;
  follow["METRICS_ADDR"] = "127.0.0.1:0";
  Process p({ingestd({"run", "--follow"}), follow, dir.path(), dir.path() / "run.log", false});
  wait_while_running(
      p, [&] { return checkpoint(db, "syncs") >= 1; }, 60s);
  sim.post("/internal/feed/stop");
  seconds_until_count(p, db, expected_count(sim), 60s);
  // What a scraper and `ingestd status` see of it.
  const std::string marker = "Prometheus text on 127.0.0.1:0 (port ";
  const std::string log = p.log();
  REQUIRE(log.find(marker) != std::string::npos);
  httplib::Client metrics("127.0.0.1", std::stoi(log.substr(log.find(marker) + marker.size())));
  const auto scraped = metrics.Get("/metrics");
  REQUIRE(scraped);
  CHECK(scraped->body.find("\ningestd_rescans_total 0\n") != std::string::npos);
  CHECK(scraped->body.find("\ningestd_follow_syncs_total 0\n") == std::string::npos);
  CHECK(scraped->body.find("\ningestd_follow_lag_seconds ") != std::string::npos);
  const auto status = run(ingestd({"status"}), env);
  expect_exit(status, 0);
  CHECK(status.output.find("following: ") != std::string::npos);
  CHECK(status.output.find("synced to       2026-01-27T19:2") != std::string::npos);
  p.signal(SIGINT);
  CHECK(p.wait_for(30s) == 130);
  check_exact_dataset(sim, db, false);
}
