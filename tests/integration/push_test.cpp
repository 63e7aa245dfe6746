// POST /v1/events against a real ingestd serve and PostgreSQL, while `ingestd run` pulls the
// same dataset into the same database. Expected figures come from the events the test pushed
// and the simulator's dataset, never from the project's SQL.
#include <doctest/doctest.h>
#include <httplib.h>

#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "support.hpp"

using namespace testsupport;
using nlohmann::json;

namespace {

constexpr std::int64_t kUs = 1'000'000;

using Event = DatasetEvent;

std::string uuid(std::uint64_t n) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%08llx-0000-4000-8000-%012llx",
                static_cast<unsigned long long>(n >> 32),
                static_cast<unsigned long long>(n & 0xffffffffffffULL));
  return buf;
}

// The event in the upstream's shape, its timestamp in one of the forms the contract allows.
json to_json(const Event& e, int form) {
  json j = {{"id", e.id}, {"name", "pushed"}, {"properties", {{"page", "/push"}}}};
  if (!e.user.empty()) j["userId"] = e.user;
  if (!e.type.empty()) j["type"] = e.type;
  if (form % 2 == 0 && e.us % 1000 == 0) {
    j["timestamp"] = e.us / 1000;  // epoch milliseconds
  } else {
    j["timestamp"] = iso8601_us(e.us);
  }
  return j;
}

httplib::Result post(int port, const std::string& body, const std::string& key,
                     const std::string& type = "application/json") {
  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(60, 0);
  httplib::Headers headers;
  if (!key.empty()) headers.emplace("X-API-Key", key);
  return client.Post("/v1/events", headers, body, type);
}

std::map<std::string, std::string> serve_env(const TestDatabase& db, const std::string& key) {
  std::map<std::string, std::string> env{{"DATABASE_URL", db.url()}, {"LOG_FORMAT", "text"}};
  if (!key.empty()) env["SERVE_API_KEY"] = key;
  return env;
}

}  // namespace

TEST_CASE(
    "push: 8 clients, 40 overlapping batches of 1,000, while ingestd run pulls the same database") {
  Sim sim(sim_args(8080, 30'000, {"--unlimited", "--latency-ms-per-event", "0.1"}));
  TestDatabase db;
  const std::vector<Event> pulled = stored_dataset(sim);
  const std::string key = "push-key";
  expect_exit(run(ingestd({"migrate"}), serve_env(db, key)), 0);
  Serve serve(serve_env(db, key));

  // 40 batches: new events (some of them repeated in later batches), events the pull also
  // stores, 2 % malformed, and a few duplicates inside the body.
  std::mt19937_64 rng(4242);
  std::vector<std::string> users;
  for (std::size_t i = 0; i < pulled.size(); i += 97) users.push_back(pulled[i].user);
  const std::vector<std::string> types = {"click", "page_view", "purchase", "signup"};
  const std::int64_t lo = 1766880000 * kUs;  // 2025-12-28
  std::uniform_int_distribution<std::int64_t> instant(lo, lo + 30 * 86400 * kUs);
  std::map<std::string, Event> pushed;  // valid pushed events by id
  std::set<std::string> malformed;      // raw JSON of the malformed ones
  std::vector<std::string> bodies;
  std::uint64_t next_id = 1;
  std::vector<Event> earlier;
  for (int b = 0; b < 40; ++b) {
    json batch = json::array();
    for (int k = 0; k < 1000; ++k) {
      const auto pick = rng() % 100;
      Event e;
      if (pick < 2) {
        json bad = {{"id", uuid(1'000'000 + next_id++)}, {"timestamp", "not a time"}};
        if (pick == 1)
          bad = {{"id", "evt-" + std::to_string(next_id++)}, {"timestamp", 1769540400000}};
        malformed.insert(bad.dump());
        batch.push_back(bad);
        continue;
      }
      if (pick < 30) {
        e = pulled[rng() % pulled.size()];
      } else if (pick < 40 && !earlier.empty()) {
        e = earlier[rng() % earlier.size()];
      } else if (pick < 42 && batch.size() > 0 && batch.back().contains("userId")) {
        batch.push_back(batch.back());  // the same event twice in one body
        continue;
      } else {
        e = {uuid(next_id++), users[rng() % users.size()], types[rng() % types.size()],
             instant(rng)};
        if (rng() % 10 == 0) e.us = e.us / 1000 * 1000 + 123;  // microseconds survive
        earlier.push_back(e);
      }
      pushed[e.id] = e;
      batch.push_back(to_json(e, static_cast<int>(rng() % 4)));
    }
    bodies.push_back(batch.dump());
  }

  auto env = paged_env(sim, db);
  TempDir logs;
  Process ingest(
      Process::Options{ingestd({"run"}), env, logs.path(), logs.path() / "run.log", false});
  std::mutex mu;
  std::int64_t accepted = 0, duplicates = 0, quarantined = 0, not_ok = 0;
  std::vector<std::jthread> clients;
  for (int c = 0; c < 8; ++c) {
    clients.emplace_back([&, c] {
      for (std::size_t b = static_cast<std::size_t>(c); b < bodies.size(); b += 8) {
        auto res = post(serve.port(), bodies[b], key);
        std::lock_guard lock(mu);
        if (!res || res->status != 200) {
          ++not_ok;
          continue;
        }
        const json answer = json::parse(res->body);
        accepted += answer["accepted"].get<std::int64_t>();
        duplicates += answer["duplicates"].get<std::int64_t>();
        quarantined += static_cast<std::int64_t>(answer["quarantined"].size());
      }
    });
  }
  // Readers meanwhile: rows are only ever added, so an answer older than one already seen (a
  // kept answer outliving a commit, or statements of one answer seeing different commits) shows
  // as a total going down.
  const std::string range = "starting_at=2025-12-01&ending_before=2026-02-01";
  std::int64_t reads = 0, went_down = 0, read_not_ok = 0;
  std::vector<std::jthread> readers;
  for (const std::string& path : {"/v1/event_counts?bucket=1d&" + range,
                                  "/v1/users/" + users[0] + "/event_counts?bucket=1h&" + range}) {
    readers.emplace_back([&, path](std::stop_token stop) {
      httplib::Client client("127.0.0.1", serve.port());
      std::int64_t last = 0;
      while (!stop.stop_requested()) {
        auto res = client.Get(path.c_str(), {{"X-API-Key", key}});
        std::lock_guard lock(mu);
        ++reads;
        if (!res || res->status != 200) {
          ++read_not_ok;
          continue;
        }
        const auto total = json::parse(res->body)["total"].get<std::int64_t>();
        went_down += total < last;
        last = total;
      }
    });
  }
  clients.clear();
  readers.clear();
  REQUIRE_MESSAGE(ingest.wait_for(120s) == 0, ingest.log());
  CHECK(not_ok == 0);
  CHECK(reads > 10);
  CHECK(read_not_ok == 0);
  CHECK(went_down == 0);
  CHECK(quarantined == 40'000 - accepted - duplicates);

  // The events table is exactly the union of the pull and the valid pushes.
  std::map<std::string, Event> all = pushed;
  for (const Event& e : pulled) all.emplace(e.id, e);
  std::string payload;
  for (const auto& [id, e] : all) payload += id + "\t" + std::to_string(e.us) + "\n";
  db.exec("CREATE TABLE expected_union (id uuid PRIMARY KEY, ts_us bigint NOT NULL)");
  db.copy_in("COPY expected_union FROM STDIN", payload);
  CHECK(db.scalar("SELECT count(*) FROM events") == static_cast<std::int64_t>(all.size()));
  CHECK(db.scalar("SELECT count(*) FROM expected_union x WHERE NOT EXISTS (SELECT 1 FROM events e "
                  "WHERE e.id = x.id AND e.occurred_at = timestamptz 'epoch' + x.ts_us * "
                  "interval '1 microsecond')") == 0);
  // Every stored row was counted once: by the pull's checkpoint or by a push answer.
  CHECK(db.scalar("SELECT events FROM ingest_checkpoint") + accepted ==
        static_cast<std::int64_t>(all.size()));
  // The malformed ones are in quarantine with their reason, once each.
  CHECK(db.scalar("SELECT count(*) FROM quarantine WHERE stream = 'push'") ==
        static_cast<std::int64_t>(malformed.size()));
  CHECK(db.scalar("SELECT count(*) FROM quarantine WHERE stream = 'push' AND reason NOT IN "
                  "('timestamp: not a valid ISO-8601 date-time', 'id is not a UUID')") == 0);

  // Counts from the API equal a recount of the union (per day, and per user).
  httplib::Client client("127.0.0.1", serve.port());
  httplib::Headers auth{{"X-API-Key", key}};
  const auto fetch = [&](const std::string& path) {
    auto res = client.Get(path.c_str(), auth);
    REQUIRE(res);
    REQUIRE(res->status == 200);
    return json::parse(res->body);
  };
  std::map<std::int64_t, std::int64_t> per_day;
  for (const auto& [id, e] : all) ++per_day[e.us / (86400 * kUs)];
  const json global = fetch("/v1/event_counts?bucket=1d&" + range);
  std::int64_t matched = 0;
  for (const json& b : global["buckets"]) {
    const auto day = (std::int64_t{1764547200} + 86400 * matched) / 86400;  // from 2025-12-01
    CHECK(b["count"].get<std::int64_t>() == (per_day.contains(day) ? per_day[day] : 0));
    ++matched;
  }
  CHECK(global["total"].get<std::int64_t>() == static_cast<std::int64_t>(all.size()));
  for (std::size_t u = 0; u < 20; ++u) {
    const std::string& user = users[u];
    std::int64_t want = 0;
    for (const auto& [id, e] : all) want += e.user == user;
    CHECK(fetch("/v1/users/" + user + "/event_counts?bucket=1d&" + range)["total"]
              .get<std::int64_t>() == want);
    CHECK(fetch("/v1/users/" + user)["event_count"].get<std::int64_t>() == want);
  }
  // The status reports the push totals.
  const json status = fetch("/v1/status");
  CHECK(status["push"]["requests"] == 40);
  CHECK(status["push"]["accepted"] == accepted);
}

TEST_CASE("push: a retried body stores nothing twice and reports its events as duplicates") {
  TestDatabase db;
  expect_exit(run(ingestd({"migrate"}), serve_env(db, "k")), 0);
  Serve serve(serve_env(db, "k"));
  const std::string body =
      R"([{"id":"aaaaaaaa-0000-4000-8000-000000000001","timestamp":"2026-01-27T19:00:00Z","userId":"u"},)"
      R"({"id":"aaaaaaaa-0000-4000-8000-000000000002","timestamp":1769540400000},)"
      R"({"id":"aaaaaaaa-0000-4000-8000-000000000003","timestamp":"late"}])";
  auto first = post(serve.port(), body, "k");
  REQUIRE(first);
  CHECK(first->status == 200);
  CHECK(
      json::parse(first->body) ==
      json::parse(
          R"({"accepted":2,"duplicates":0,"quarantined":[{"index":2,"id":"aaaaaaaa-0000-4000-8000-000000000003","reason":"timestamp: not a valid ISO-8601 date-time"}]})"));
  auto again = post(serve.port(), body, "k");
  REQUIRE(again);
  CHECK(json::parse(again->body)["accepted"] == 0);
  CHECK(json::parse(again->body)["duplicates"] == 2);
  CHECK(db.scalar("SELECT count(*) FROM events") == 2);
  CHECK(db.scalar("SELECT count(*) FROM quarantine") == 1);
  CHECK(db.scalar("SELECT sum(count) FROM event_rollup_all WHERE granularity_s = 60") == 2);
  // NDJSON: the same decoder.
  auto lines = post(serve.port(),
                    "{\"id\":\"aaaaaaaa-0000-4000-8000-000000000004\",\"timestamp\":1769540400}\n",
                    "k", "application/x-ndjson");
  REQUIRE(lines);
  CHECK(json::parse(lines->body)["accepted"] == 1);
  CHECK(db.text("SELECT occurred_at = timestamptz '2026-01-27T19:00:00Z' FROM events WHERE id = "
                "'aaaaaaaa-0000-4000-8000-000000000004'") == "t");
}

TEST_CASE(
    "push: garbage is 400 and stores nothing, too large is 413, no key 401, no SERVE_API_KEY 403") {
  TestDatabase db;
  auto env = serve_env(db, "k");
  env["INGEST_MAX_BODY"] = "2048";
  expect_exit(run(ingestd({"migrate"}), env), 0);
  {
    Serve serve(env);
    for (const std::string garbage : {"garbage", "{\"id\":1}", "[{\"id\":", "[1] [2]"}) {
      CAPTURE(garbage);
      auto res = post(serve.port(), garbage, "k");
      REQUIRE(res);
      CHECK(res->status == 400);
      CHECK(json::parse(res->body)["error"] == "bad_request");
    }
    auto ndjson = post(serve.port(), "{\"a\":1}\nnot json\n", "k", "application/x-ndjson");
    REQUIRE(ndjson);
    CHECK(ndjson->status == 400);
    CHECK(json::parse(ndjson->body)["message"].get<std::string>().starts_with("body: line 2"));
    auto large = post(serve.port(), "[" + std::string(4096, ' ') + "]", "k");
    REQUIRE(large);
    CHECK(large->status == 413);
    auto no_key = post(serve.port(), "[]", "");
    REQUIRE(no_key);
    CHECK(no_key->status == 401);
    CHECK(db.scalar("SELECT count(*) FROM events") == 0);
    CHECK(db.scalar("SELECT count(*) FROM quarantine") == 0);
  }
  Serve open(serve_env(db, ""));
  auto disabled = post(open.port(), "[]", "");
  REQUIRE(disabled);
  CHECK(disabled->status == 403);
  CHECK(json::parse(disabled->body)["message"].get<std::string>().find("SERVE_API_KEY") !=
        std::string::npos);
}
