// Source profiles (docs/PROFILES.md) against upstream-sim speaking other APIs' dialects: one
// test per pagination type, each through kill -9 and a limit, checked against the simulator's
// own list of what it sent; then refusals, and two streams in one database.
#include <doctest/doctest.h>
#include <httplib.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <tuple>

#include "support.hpp"

using namespace testsupport;

namespace {

struct DialectCase {
  std::string dialect;  // upstream-sim --dialect
  std::string stream;   // the profile's name
  std::vector<std::string> sim_extra;
};

std::string profile_path(const std::string& dialect) {
  return std::string(INGESTD_SOURCE_DIR) + "/tests/profiles/" + dialect + ".yaml";
}

std::map<std::string, std::string> profile_env(const Sim& sim, const TestDatabase& db,
                                               const std::string& dialect) {
  auto env = ingest_env(sim, db);
  env["SOURCE_PROFILE"] = profile_path(dialect);
  return env;
}

// The stream's rows as "id\tinstant_us", sorted: what was stored, read independently.
std::vector<std::string> stored_rows(const TestDatabase& db, const std::string& stream) {
  return db.column(
      "SELECT coalesce(id::text, text_id) || E'\\t' || "
      "((extract(epoch FROM occurred_at) * 1000000)::bigint) "
      "FROM stream_" +
      stream + ".events ORDER BY 1");
}

std::vector<std::string> sent_rows(const std::vector<DatasetEvent>& events) {
  std::vector<std::string> rows;
  for (const DatasetEvent& e : events) rows.push_back(e.id + "\t" + std::to_string(e.us));
  std::sort(rows.begin(), rows.end());
  return rows;
}

std::string get_json(httplib::Client& client, const std::string& path) {
  auto res = client.Get(path);
  REQUIRE(res);
  INFO(path << " -> " << res->body);
  REQUIRE(res->status == 200);
  return res->body;
}

std::int64_t json_int(const std::string& body, const std::string& key) {
  const auto at = body.find("\"" + key + "\":");
  REQUIRE(at != std::string::npos);
  return std::stoll(body.substr(at + key.size() + 3));
}

// The read API's totals by type and by user equal a recount of what the simulator sent.
void check_read_api(const TestDatabase& db, const std::string& stream,
                    const std::vector<DatasetEvent>& events) {
  std::map<std::string, std::int64_t> by_type, by_user;
  for (const DatasetEvent& e : events) {
    if (!e.type.empty()) by_type[e.type]++;
    if (!e.user.empty()) by_user[e.user]++;
  }
  Serve serve({{"DATABASE_URL", db.url()}, {"LOG_FORMAT", "text"}});
  httplib::Client client("127.0.0.1", serve.port());
  CHECK(json_int(get_json(client, "/v1/event_counts?bucket=1d&stream=" + stream), "total") ==
        static_cast<std::int64_t>(events.size()));
  for (const auto& [type, n] : by_type) {
    CAPTURE(type);
    CHECK(
        json_int(get_json(client, "/v1/event_counts?bucket=1h&type=" + type + "&stream=" + stream),
                 "total") == n);
  }
  int asked = 0;
  for (const auto& [user, n] : by_user) {
    if (++asked > 5) break;
    CAPTURE(user);
    CHECK(json_int(get_json(client, "/v1/users/" + user + "?stream=" + stream), "event_count") ==
          n);
    CHECK(
        json_int(get_json(client, "/v1/users/" + user + "/event_counts?bucket=1d&stream=" + stream),
                 "total") == n);
  }
}

// Pages the dialect's dataset through kill -9 at random moments, then to the end: exact ids
// and instants, rollups and checkpoint that count every event once, no request refused, and
// read-API counts by the mapped user and type.
void ingest_dialect(const DialectCase& c, std::uint32_t seed) {
  CAPTURE(c.dialect);
  std::vector<std::string> extra = {
      "--dialect", c.dialect, "--limit", "20", "--window-s", "1", "--latency-ms-per-event", "0.2"};
  extra.insert(extra.end(), c.sim_extra.begin(), c.sim_extra.end());
  Sim sim(sim_args(static_cast<int>(seed), 3000, extra));
  TestDatabase db;
  auto env = profile_env(sim, db, c.dialect);
  // Replaces each profile's page size: 12 pages or more, clamped to the dialect's cap.
  env["PAGE_LIMIT"] = "250";
  int mid_run = 0;  // kills that left part of the stream stored
  const int kills = kill_at_random(env, 3, 6, 150ms, 700ms, seed, [&] {
    const std::int64_t stored = db.scalar(
        "SELECT coalesce(max(events), 0) FROM ingest_checkpoint WHERE stream = '" + c.stream + "'");
    if (stored > 0 && stored < 3000) ++mid_run;
  });
  const auto final_run = run(ingestd({"run"}), env, 120s);
  expect_exit(final_run, 0);
  MESSAGE(c.dialect << ": " << kills << " kills, " << mid_run << " with part of the stream stored");
  CHECK(mid_run >= 1);

  const std::vector<DatasetEvent> events = stored_dataset(sim);
  REQUIRE(events.size() == 3000);
  CHECK(stored_rows(db, c.stream) == sent_rows(events));
  // Canonical UUIDs are kept in the uuid column, everything else as text. The page dialect
  // sends the dataset's UUIDs, the others ids of their own.
  static const std::regex uuid("[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}");
  const auto uuids = std::count_if(events.begin(), events.end(), [](const DatasetEvent& e) {
    return std::regex_match(e.id, uuid);
  });
  CHECK(uuids == (c.dialect == "page" ? 3000 : 0));
  CHECK(db.scalar("SELECT count(id) FROM stream_" + c.stream + ".events") == uuids);
  if (c.dialect == "page") {
    // Its profile names the submission endpoint: every id once, accepted once.
    CHECK(db.scalar("SELECT count(*) FROM submissions WHERE stream = '" + c.stream +
                    "' AND outcome = 'accepted'") == 1);
    CHECK(sim.stat("/submissions/0/unique") == 3000);
    CHECK(sim.stat("/submissions/0/duplicates") == 0);
    CHECK(sim.stat("/submissions/0/unknown") == 0);
    CHECK(sim.stat("/submissions/1/number") == 0);
  }
  CHECK(db.scalar("SELECT events FROM ingest_checkpoint WHERE stream = '" + c.stream + "'") ==
        3000);
  CHECK(db.scalar("SELECT done::int FROM ingest_checkpoint WHERE stream = '" + c.stream + "'") ==
        1);
  for (const char* g : {"60", "3600", "86400"}) {
    CHECK(db.scalar("SELECT sum(count) FROM stream_" + c.stream +
                    ".event_rollup_all WHERE granularity_s = " + g) == 3000);
  }
  CHECK(db.scalar("SELECT count(*) FROM events") == 0);
  CHECK(db.scalar("SELECT count(*) FROM quarantine") == 0);
  CHECK(sim.stat("/rate_limited") == 0);
  check_read_api(db, c.stream, events);
}

}  // namespace

TEST_CASE("profile cursor (HubSpot style): exact through kill -9, no 429, read API counts") {
  ingest_dialect({"hubspot", "crm_events", {}}, 71);
}

TEST_CASE("profile last_record (Stripe style): exact through kill -9, no 429, read API counts") {
  ingest_dialect({"stripe", "stripe_events", {}}, 72);
}

TEST_CASE("profile next_url (relative): exact through kill -9, no 429, read API counts") {
  ingest_dialect({"nexturl", "feed_events", {}}, 73);
}

TEST_CASE("profile link_header (GitHub style): exact through kill -9, no 403 or 429, read API") {
  ingest_dialect({"github", "repo_events", {"--rate-dialect", "epoch"}}, 74);
}

TEST_CASE("profile offset (query key, capped pages): exact through kill -9, no 429, read API") {
  ingest_dialect({"offset", "offset_events", {}}, 75);
}

TEST_CASE("profile page numbers: exact through kill -9, no 429, read API counts") {
  ingest_dialect({"page", "paged_events", {}}, 76);
}

TEST_CASE("profile: a page that names itself as the next one stops with exit 2") {
  for (const std::string dialect : {"hubspot", "stripe", "nexturl", "github"}) {
    CAPTURE(dialect);
    Sim sim(sim_args(5, 5000, {"--dialect", dialect, "--unlimited", "--stuck-from", "400"}));
    TestDatabase db;
    const auto r = run(ingestd({"run"}), profile_env(sim, db, dialect), 60s);
    expect_exit(r, 2);
    CHECK(r.output.find("names itself as the next page") != std::string::npos);
    // What came before the loop is stored and checkpointed.
    CHECK(db.scalar("SELECT count(*) FROM ingest_checkpoint WHERE pages >= 1") == 1);
  }
}

TEST_CASE("profile: a typo'd key stops with exit 2 naming it, before any request") {
  Sim sim(sim_args(5, 100, {"--dialect", "hubspot"}));
  TestDatabase db;
  TempDir dir;
  const auto file = dir.path() / "typo.yaml";
  {
    std::ifstream in(profile_path("hubspot"));
    std::stringstream text;
    text << in.rdbuf();
    std::string yaml = text.str();
    yaml.replace(yaml.find("pagination:"), 11, "paginaton:");
    std::ofstream(file) << yaml;
  }
  auto env = ingest_env(sim, db);
  env["SOURCE_PROFILE"] = file.string();
  for (const std::vector<std::string>& command :
       {std::vector<std::string>{"run"}, std::vector<std::string>{"check-profile"}}) {
    const auto r = run(ingestd(command), env, 30s);
    expect_exit(r, 2);
    CHECK(r.output.find("typo.yaml:9: unknown key `paginaton` (did you mean `pagination`?)") !=
          std::string::npos);
  }
  CHECK(sim.stat("/requests") == 0);
}

TEST_CASE("profile: answers that are not the profile's API stop with exit 2 naming the pointer") {
  Sim sim(sim_args(5, 500, {"--dialect", "hubspot"}));
  TestDatabase db;
  TempDir dir;
  std::ifstream in(profile_path("hubspot"));
  std::stringstream text;
  text << in.rdbuf();
  for (const auto& [from, to, named] :
       std::vector<std::tuple<std::string, std::string, std::string>>{
           {"records: /results", "records: /data", "records pointer \"/data\""},
           {"id: /id,", "id: /eventId,", "\"/eventId\" (fields in the profile)"}}) {
    CAPTURE(to);
    std::string yaml = text.str();
    yaml.replace(yaml.find(from), from.size(), to);
    const auto file = dir.path() / "wrong.yaml";
    std::ofstream(file) << yaml;
    auto env = ingest_env(sim, db);
    env["SOURCE_PROFILE"] = file.string();
    const std::int64_t before = sim.stat("/requests");
    const auto r = run(ingestd({"run"}), env, 60s);
    expect_exit(r, 2);
    CHECK(r.output.find(named) != std::string::npos);
    CHECK(sim.stat("/requests") - before <= 3);
  }
}

TEST_CASE("profile: check-profile shows the mapped columns, the next page and the rate headers") {
  Sim sim(sim_args(5, 250, {"--dialect", "hubspot", "--limit", "7", "--window-s", "2"}));
  const auto r = run(ingestd({"check-profile", profile_path("hubspot")}),
                     {{"UPSTREAM_BASE_URL", sim.url()}, {"UPSTREAM_API_KEY", "test-key"}}, 30s);
  expect_exit(r, 0);
  const std::vector<DatasetEvent> events = stored_dataset(sim);
  CHECK(r.output.find("records         100 at \"/results\": 100 would be stored, 0 quarantined") !=
        std::string::npos);
  // HubSpot's ids are numbers: kept as text, the uuid column empty.
  CHECK(r.output.find("  id            null\n  text_id       " + events[0].id + "\n") !=
        std::string::npos);
  CHECK(r.output.find("  user_id       " + events[0].user + "\n") != std::string::npos);
  CHECK(r.output.find("next page       aWR4OjEwMA==") != std::string::npos);  // base64 "idx:100"
  CHECK(r.output.find("X-HubSpot-RateLimit-Limit: 7") != std::string::npos);
  CHECK(r.output.find("read as         limit 7, remaining 6") != std::string::npos);
  CHECK(sim.stat("/requests") == 1);
}

TEST_CASE(
    "profile: three streams in one database, neither's rows, checkpoint, lock or counts touched") {
  Sim contract(sim_args(81, 4000, {"--limit", "20", "--window-s", "1"}));
  Sim crm(sim_args(82, 2500, {"--dialect", "hubspot", "--limit", "20", "--window-s", "1"}));
  Sim stripe(sim_args(83, 1500, {"--dialect", "stripe", "--limit", "20", "--window-s", "1"}));
  TestDatabase db;
  TempDir dir;
  auto contract_env = paged_env(contract, db);
  expect_exit(run(ingestd({"run"}), contract_env, 120s), 0);
  const std::string checkpoint_sql =
      "SELECT stream || ' ' || pages || ' ' || events || ' ' || done || ' ' || updated_at FROM "
      "ingest_checkpoint WHERE stream = 'events'";
  const std::string contract_checkpoint = db.text(checkpoint_sql);
  const std::string contract_rollup = db.text(
      "SELECT string_agg(granularity_s || ':' || sum, ',') FROM (SELECT granularity_s, "
      "sum(count) FROM event_rollup_all GROUP BY 1 ORDER BY 1) r");
  const std::int64_t contract_rate_rows =
      db.scalar("SELECT count(*) FROM rate_limit_state WHERE stream = 'events'");

  // Two profiles at once: each takes its own stream's lock.
  {
    Process a(
        {ingestd({"run"}), profile_env(crm, db, "hubspot"), dir.path(), dir.path() / "crm.log"});
    Process b({ingestd({"run"}), profile_env(stripe, db, "stripe"), dir.path(),
               dir.path() / "stripe.log"});
    const auto ca = a.wait_for(120s);
    const auto cb = b.wait_for(120s);
    INFO(a.log() << b.log());
    CHECK(ca == 0);
    CHECK(cb == 0);
  }
  check_exact_dataset(contract, db);
  CHECK(stored_rows(db, "crm_events") == sent_rows(stored_dataset(crm)));
  CHECK(stored_rows(db, "stripe_events") == sent_rows(stored_dataset(stripe)));
  CHECK(db.scalar("SELECT events FROM ingest_checkpoint WHERE stream = 'stripe_events'") == 1500);
  CHECK(db.text(checkpoint_sql) == contract_checkpoint);
  CHECK(db.text("SELECT string_agg(granularity_s || ':' || sum, ',') FROM (SELECT granularity_s, "
                "sum(count) FROM event_rollup_all GROUP BY 1 ORDER BY 1) r") == contract_rollup);
  CHECK(db.scalar("SELECT count(*) FROM rate_limit_state WHERE stream = 'events'") ==
        contract_rate_rows);
  CHECK(db.scalar("SELECT count(*) FROM rate_limit_state WHERE stream = 'crm_events'") >= 1);
  CHECK(db.scalar("SELECT events FROM ingest_checkpoint WHERE stream = 'crm_events'") == 2500);
  // The contract's stream resumes as complete: nothing refetched, its lock free of the other's.
  const auto again = run(ingestd({"run"}), contract_env, 60s);
  expect_exit(again, 0);
  CHECK(again.output.find("ingestion already complete") != std::string::npos);

  Serve serve({{"DATABASE_URL", db.url()}, {"LOG_FORMAT", "text"}});
  httplib::Client client("127.0.0.1", serve.port());
  CHECK(json_int(get_json(client, "/v1/event_counts?bucket=1d"), "total") == 4000);
  CHECK(json_int(get_json(client, "/v1/event_counts?bucket=1d&stream=events"), "total") == 4000);
  CHECK(json_int(get_json(client, "/v1/event_counts?bucket=1d&stream=crm_events"), "total") ==
        2500);
  // A server configured with a profile reads its stream by default, the contract's on request.
  Serve profiled({{"DATABASE_URL", db.url()},
                  {"LOG_FORMAT", "text"},
                  {"SOURCE_PROFILE", profile_path("stripe")}});
  httplib::Client other("127.0.0.1", profiled.port());
  CHECK(json_int(get_json(other, "/v1/event_counts?bucket=1d"), "total") == 1500);
  CHECK(json_int(get_json(other, "/v1/event_counts?bucket=1d&stream=events"), "total") == 4000);
  CHECK(get_json(other, "/v1/status").find("\"stream\":\"stripe_events\"") != std::string::npos);
  const auto unknown = client.Get("/v1/event_counts?stream=nope");
  REQUIRE(unknown);
  CHECK(unknown->status == 400);
  CHECK(unknown->body.find("this database holds: events, crm_events, stripe_events") !=
        std::string::npos);
}
