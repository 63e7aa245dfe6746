// The read API against a database ingested from the simulator, with repeated pages and kill -9
// restarts. Every expected count is recomputed from the dataset the simulator generated
// (/internal/expected), never from the project's own SQL.
#include <doctest/doctest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ctime>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <thread>

#include "support.hpp"

using namespace testsupport;
using nlohmann::json;

namespace {

constexpr std::int64_t kUsPerSecond = 1'000'000;

using StoredEvent = DatasetEvent;

// "2026-01-27T19:00:00.000Z" -> epoch microseconds.
std::int64_t parse_iso_ms(const std::string& text) {
  std::tm tm{};
  REQUIRE(text.size() == 24);
  REQUIRE(strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm) != nullptr);
  REQUIRE(text.substr(19, 1) == ".");
  REQUIRE(text.back() == 'Z');
  return static_cast<std::int64_t>(timegm(&tm)) * kUsPerSecond +
         std::stoll(text.substr(20, 3)) * 1000;
}

struct Expected {
  std::int64_t first_start = 0;
  std::vector<std::int64_t> counts;
  std::int64_t total = 0;
};

Expected recount(const std::vector<StoredEvent>& events, std::int64_t from, std::int64_t to,
                 std::int64_t bucket_s, const std::string& user, const std::string& type) {
  const std::int64_t step = bucket_s * kUsPerSecond;
  Expected e;
  e.first_start = from / step * step;
  e.counts.assign(static_cast<std::size_t>(((to - 1) / step * step - e.first_start) / step + 1), 0);
  for (const StoredEvent& ev : events) {
    if (ev.us < from || ev.us >= to) continue;
    if (!user.empty() && ev.user != user) continue;
    if (!type.empty() && ev.type != type) continue;
    ++e.counts[static_cast<std::size_t>((ev.us / step * step - e.first_start) / step)];
    ++e.total;
  }
  return e;
}

void check_series(const json& answer, const Expected& want, std::int64_t bucket_s) {
  REQUIRE(answer["buckets"].size() == want.counts.size());
  CHECK(answer["total"].get<std::int64_t>() == want.total);
  for (std::size_t i = 0; i < want.counts.size(); ++i) {
    const json& b = answer["buckets"][i];
    CAPTURE(i);
    CHECK(parse_iso_ms(b["start"].get<std::string>()) ==
          want.first_start + static_cast<std::int64_t>(i) * bucket_s * kUsPerSecond);
    CHECK(b["count"].get<std::int64_t>() == want.counts[i]);
  }
}

struct Answer {
  int status = 0;
  json body;
  httplib::Headers headers;
  std::string raw;
};

Answer get(int port, const std::string& path, const httplib::Headers& headers = {}) {
  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(30, 0);
  auto res = client.Get(path.c_str(), headers);
  REQUIRE_MESSAGE(res, "GET " << path << " got no answer");
  Answer a{res->status, json::parse(res->body, nullptr, false), res->headers,
           path + " -> " + std::to_string(res->status) + " " + res->body.substr(0, 300)};
  REQUIRE_MESSAGE(!a.body.is_discarded(), a.raw);
  return a;
}

std::string encode(const std::string& s) {
  return httplib::detail::encode_query_param(s);
}

// One ingested database shared by the checks below: repeats across pages, malformed and
// unusual events, and kill -9 restarts during the run.
struct IngestedDatabase {
  Sim sim{sim_args(5151, 40'000,
                   {"--unlimited", "--latency-ms-per-event", "0.05", "--fault-repeat", "0.3",
                    "--fault-malformed", "0.01", "--fault-exotic", "0.01"})};
  TestDatabase db;
  std::vector<StoredEvent> events = stored_dataset(sim);

  IngestedDatabase() {
    const auto env = paged_env(sim, db);
    CHECK(kill_at_random(env, 3, 8, 80ms, 400ms, 777) >= 1);
    expect_exit(run(ingestd({"run"}), env), 0);
    REQUIRE(db.scalar("SELECT count(*) FROM events") == static_cast<std::int64_t>(events.size()));
  }
  std::map<std::string, std::string> env(std::map<std::string, std::string> extra = {}) const {
    std::map<std::string, std::string> e{{"DATABASE_URL", db.url()}, {"LOG_FORMAT", "text"}};
    for (auto& [k, v] : extra) e[k] = v;
    return e;
  }
};

IngestedDatabase& ingested() {
  static IngestedDatabase instance;
  return instance;
}

}  // namespace

TEST_CASE("read API: random users, buckets and ranges equal a recount of the simulator's dataset") {
  auto& data = ingested();
  Serve serve(data.env());
  std::mt19937_64 rng(99);
  std::vector<std::string> users;
  for (const auto& e : data.events) {
    if (!e.user.empty()) users.push_back(e.user);
  }
  std::int64_t lo = data.events.front().us, hi = lo;
  for (const auto& e : data.events) {
    lo = std::min(lo, e.us);
    hi = std::max(hi, e.us);
  }
  std::uniform_int_distribution<std::int64_t> instant(lo - 3600 * kUsPerSecond,
                                                      hi + 3600 * kUsPerSecond);
  for (int round = 0; round < 120; ++round) {
    static constexpr std::array<std::pair<const char*, std::int64_t>, 5> kSizes{
        {{"1m", 60}, {"5m", 300}, {"15m", 900}, {"1h", 3600}, {"1d", 86400}}};
    const auto& size = kSizes[static_cast<std::size_t>(round) % kSizes.size()];
    const std::int64_t max_span = 9'000 * size.second * kUsPerSecond;
    std::int64_t from = instant(rng);
    std::int64_t to =
        std::min(from + 1 + static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(max_span)),
                 hi + 3600 * kUsPerSecond);
    if (to <= from) to = from + 1;
    const std::string user = users[rng() % users.size()];
    const std::string range =
        "&starting_at=" + encode(iso8601_us(from)) + "&ending_before=" + encode(iso8601_us(to));
    CAPTURE(round);
    CAPTURE(range);
    const Answer per_user =
        get(serve.port(), "/v1/users/" + user + "/event_counts?bucket=" + size.first + range);
    REQUIRE_MESSAGE(per_user.status == 200, per_user.raw);
    CHECK(per_user.body["user_id"] == user);
    CHECK(per_user.body["bucket"] == size.first);
    check_series(per_user.body, recount(data.events, from, to, size.second, user, ""), size.second);

    const std::string type = round % 3 == 0 ? "click" : "";
    const Answer global = get(serve.port(), "/v1/event_counts?bucket=" + std::string(size.first) +
                                                range + (type.empty() ? "" : "&type=" + type));
    REQUIRE_MESSAGE(global.status == 200, global.raw);
    check_series(global.body, recount(data.events, from, to, size.second, "", type), size.second);
  }
}

TEST_CASE(
    "read API: an event exactly at starting_at counts, one exactly at ending_before does not") {
  auto& data = ingested();
  Serve serve(data.env());
  int checked = 0;
  for (std::size_t i = 0; i < data.events.size() && checked < 10; i += 997) {
    const StoredEvent& e = data.events[i];
    if (e.user.empty()) continue;
    ++checked;
    for (const auto& [from, to] :
         {std::pair{e.us, e.us + 1}, std::pair{e.us - 3600 * kUsPerSecond, e.us}}) {
      const std::string q = "bucket=1m&starting_at=" + encode(iso8601_us(from)) +
                            "&ending_before=" + encode(iso8601_us(to));
      const Answer user = get(serve.port(), "/v1/users/" + e.user + "/event_counts?" + q);
      check_series(user.body, recount(data.events, from, to, 60, e.user, ""), 60);
      const Answer global = get(serve.port(), "/v1/event_counts?" + q);
      check_series(global.body, recount(data.events, from, to, 60, "", ""), 60);
    }
    const Answer at =
        get(serve.port(), "/v1/users/" + e.user +
                              "/event_counts?bucket=1h&starting_at=" + encode(iso8601_us(e.us)) +
                              "&ending_before=" + encode(iso8601_us(e.us + 1)));
    CHECK(at.body["total"].get<std::int64_t>() >= 1);
  }
  CHECK(checked == 10);
}

TEST_CASE("read API: defaults span the user's events, and the summary matches the dataset") {
  auto& data = ingested();
  Serve serve(data.env());
  std::map<std::string, std::vector<const StoredEvent*>> by_user;
  for (const auto& e : data.events) {
    if (!e.user.empty()) by_user[e.user].push_back(&e);
  }
  int checked = 0;
  for (const auto& [user, list] : by_user) {
    if (++checked > 15) break;
    std::int64_t first = list.front()->us, last = first;
    std::map<std::string, std::int64_t> types;
    for (const auto* e : list) {
      first = std::min(first, e->us);
      last = std::max(last, e->us);
      ++types[e->type];
    }
    const Answer counts = get(serve.port(), "/v1/users/" + user + "/event_counts");
    REQUIRE(counts.status == 200);
    CHECK(counts.body["bucket"] == "1h");
    CHECK(parse_iso_ms(counts.body["starting_at"]) == first / 1000 * 1000);
    CHECK(parse_iso_ms(counts.body["ending_before"]) == (last + 1000) / 1000 * 1000);
    check_series(counts.body, recount(data.events, first, last + 1000, 3600, user, ""), 3600);

    const Answer summary = get(serve.port(), "/v1/users/" + user);
    CHECK(summary.body["event_count"].get<std::int64_t>() ==
          static_cast<std::int64_t>(list.size()));
    CHECK(parse_iso_ms(summary.body["first_event_at"]) == first / 1000 * 1000);
    CHECK(parse_iso_ms(summary.body["latest_event_at"]) == last / 1000 * 1000);
    CHECK(summary.body["by_type"].size() == types.size());
    for (const auto& [type, n] : types)
      CHECK(summary.body["by_type"][type].get<std::int64_t>() == n);
  }
  // An unknown user is not an error: zero counts.
  const std::string nobody = "00000000-0000-4000-8000-000000000000";
  const Answer none = get(serve.port(), "/v1/users/" + nobody + "/event_counts");
  CHECK(none.status == 200);
  CHECK(none.body["total"] == 0);
  CHECK(none.body["buckets"].empty());
  const Answer ranged = get(serve.port(), "/v1/users/" + nobody +
                                              "/event_counts?bucket=1d&starting_at=2026-01-01&"
                                              "ending_before=2026-01-04");
  CHECK(ranged.body["buckets"].size() == 3);
  CHECK(ranged.body["total"] == 0);
  CHECK(get(serve.port(), "/v1/users/" + nobody).body["event_count"] == 0);
  // Global defaults: the whole dataset.
  const Answer all = get(serve.port(), "/v1/event_counts?bucket=1d");
  CHECK(all.body["total"].get<std::int64_t>() == static_cast<std::int64_t>(data.events.size()));
  // /v1/status says what `ingestd status --json` says.
  const Answer status = get(serve.port(), "/v1/status");
  const RunResult cli = run(ingestd({"status", "--json"}), data.env());
  json cli_status = json::parse(cli.output.substr(cli.output.find('{')));
  CHECK(status.body["stored_events"] == cli_status["stored_events"]);
  CHECK(status.body["stored_events"].get<std::int64_t>() ==
        static_cast<std::int64_t>(data.events.size()));
  CHECK(status.body["quarantined"] == cli_status["quarantined"]);
  CHECK(status.body["done"] == true);
}

TEST_CASE("read API: each bad input is a 400 naming its parameter, never SQL") {
  auto& data = ingested();
  Serve serve(data.env());
  const std::string user = "/v1/users/" + data.events.front().user;
  const std::vector<std::pair<std::string, std::string>> cases = {
      {user + "/event_counts?bucket=2h", "bucket"},
      {user + "/event_counts?starting_at=yesterday", "starting_at"},
      {user + "/event_counts?ending_before=2026-02-30", "ending_before"},
      {user + "/event_counts?starting_at=2026-01-02&ending_before=2026-01-02", "ending_before"},
      {user + "/event_counts?starting_at=2026-01-03&ending_before=2026-01-02", "ending_before"},
      {user + "/event_counts?bucket=1m&starting_at=2025-12-01&ending_before=2026-02-01", "bucket"},
      {"/v1/event_counts?bucket=1m", "bucket"},
      {"/v1/users/not-a-uuid/event_counts", "user_id"},
      {"/v1/users/1';DROP TABLE events;--", "user_id"},
      {user + "/event_counts?start=2026-01-01", "start"},
      {"/v1/event_counts?type=", "type"},
  };
  for (const auto& [path, parameter] : cases) {
    CAPTURE(path);
    const Answer a = get(serve.port(), path);
    CHECK(a.status == 400);
    CHECK(a.body["error"] == "bad_request");
    const std::string message = a.body["message"].get<std::string>();
    const bool names_it = message.starts_with(parameter + ": ") ||
                          message.starts_with("unknown parameter " + parameter);
    CHECK_MESSAGE(names_it, message);
    CHECK(a.body["message"].get<std::string>().find("SELECT") == std::string::npos);
  }
  CHECK(data.db.scalar("SELECT count(*) FROM events") ==
        static_cast<std::int64_t>(data.events.size()));
  CHECK(get(serve.port(), "/v1/nothing").status == 404);
}

TEST_CASE("read API: SERVE_API_KEY is required on every /v1 route") {
  auto& data = ingested();
  Serve serve(data.env({{"SERVE_API_KEY", "s3cret-key"}}));
  for (const std::string path :
       {"/v1/status", "/v1/event_counts", "/v1/users/00000000-0000-4000-8000-000000000000"}) {
    CAPTURE(path);
    CHECK(get(serve.port(), path).status == 401);
    CHECK(get(serve.port(), path, {{"X-API-Key", "s3cret-kez"}}).status == 401);
    CHECK(get(serve.port(), path, {{"X-API-Key", "s3cret-key"}}).status == 200);
  }
  CHECK(serve.log().find("s3cret-key") == std::string::npos);
}

TEST_CASE("read API: SERVE_RATE_LIMIT answers 429 with the headers ingestd honours upstream") {
  auto& data = ingested();
  Serve serve(data.env({{"SERVE_RATE_LIMIT", "5/3s"}}));
  for (int i = 0; i < 5; ++i) {
    const Answer a = get(serve.port(), "/v1/status");
    REQUIRE(a.status == 200);
    CHECK(httplib::detail::get_header_value(a.headers, "X-RateLimit-Limit", 0, "") ==
          std::string("5"));
    CHECK(httplib::detail::get_header_value(a.headers, "X-RateLimit-Remaining", 0, "") ==
          std::to_string(4 - i));
  }
  const Answer refused = get(serve.port(), "/v1/status");
  CHECK(refused.status == 429);
  CHECK(refused.body["error"] == "rate_limited");
  const int retry_after =
      std::stoi(httplib::detail::get_header_value(refused.headers, "Retry-After", 0, "0"));
  const int reset =
      std::stoi(httplib::detail::get_header_value(refused.headers, "X-RateLimit-Reset", 0, "0"));
  CHECK(retry_after >= 1);
  CHECK(retry_after <= 3);
  CHECK(reset == retry_after);
  CHECK(httplib::detail::get_header_value(refused.headers, "X-RateLimit-Remaining", 0, "") ==
        std::string("0"));
  std::this_thread::sleep_for(std::chrono::seconds(retry_after));
  CHECK(get(serve.port(), "/v1/status").status == 200);
}

TEST_CASE("read API: idle connections do not hold every worker") {
  auto& data = ingested();
  Serve serve(data.env());
  // Only the idle connections are to be timed, not the first use of pooled database connections.
  REQUIRE(get(serve.port(), "/v1/status").status == 200);
  std::vector<int> idle;
  for (int i = 0; i < 20; ++i) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(serve.port()));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(write(fd, "GET /v1/status HTTP/1.1\r\n", 25) == 25);  // and never the rest
    idle.push_back(fd);
  }
  const auto started = std::chrono::steady_clock::now();
  CHECK(get(serve.port(), "/v1/status").status == 200);
  // Held workers would show as the 5 s read timeout.
  CHECK(std::chrono::steady_clock::now() - started < 2s);
  for (const int fd : idle) close(fd);
}

TEST_CASE("migration 003 backfills the rollup of an existing database exactly") {
  auto& data = ingested();
  TestDatabase copy;
  // A database as version 2 left it: the same rows, no rollup.
  const auto env = paged_env(data.sim, copy);
  expect_exit(run(ingestd({"run"}), env), 0);
  copy.exec(
      "DROP TABLE event_rollup, event_rollup_all; DROP INDEX events_user_time; DROP INDEX "
      "events_time; "
      "DELETE FROM schema_migrations WHERE version = 3");
  expect_exit(run(ingestd({"migrate"}), env), 0);
  Serve serve(env);
  const Answer all = get(serve.port(), "/v1/event_counts?bucket=1d");
  const auto first = parse_iso_ms(all.body["starting_at"]);
  const auto end = parse_iso_ms(all.body["ending_before"]);
  check_series(all.body, recount(data.events, first, end, 86400, "", ""), 86400);
  const Answer clicks = get(serve.port(), "/v1/event_counts?bucket=15m&type=click&starting_at=" +
                                              encode(iso8601_us(first)) +
                                              "&ending_before=" + encode(iso8601_us(end)));
  check_series(clicks.body, recount(data.events, first, end, 900, "", "click"), 900);
}

TEST_CASE("read API: a kept answer is served only while no commit since touched its range") {
  TestDatabase db;
  const std::map<std::string, std::string> env{{"DATABASE_URL", db.url()},
                                               {"LOG_FORMAT", "text"},
                                               {"SERVE_API_KEY", "k"},
                                               {"METRICS_ADDR", "127.0.0.1:0"}};
  expect_exit(run(ingestd({"migrate"}), env), 0);
  Serve serve(env);
  const std::string marker = "Prometheus text on 127.0.0.1:0 (port ";
  const std::string log = serve.log();
  REQUIRE(log.find(marker) != std::string::npos);
  const int metrics_port = std::stoi(log.substr(log.find(marker) + marker.size()));
  const auto cache_count = [&](const std::string& result) {
    httplib::Client client("127.0.0.1", metrics_port);
    auto res = client.Get("/metrics");
    REQUIRE(res);
    const std::string line = "ingestd_serve_cache_requests_total{result=\"" + result + "\"} ";
    const auto at = res->body.find(line);
    REQUIRE(at != std::string::npos);
    return std::stoll(res->body.substr(at + line.size()));
  };
  const httplib::Headers key{{"X-API-Key", "k"}};
  const std::string user = "cacecace-0000-4000-8000-000000000001";
  const std::string day = "bucket=1h&starting_at=2026-01-27&ending_before=2026-01-28";
  const auto user_total = [&] {
    const Answer a = get(serve.port(), "/v1/users/" + user + "/event_counts?" + day, key);
    REQUIRE_MESSAGE(a.status == 200, a.raw);
    return a.body["total"].get<std::int64_t>();
  };
  const auto global_total = [&] {
    const Answer a = get(serve.port(), "/v1/event_counts?" + day, key);
    REQUIRE_MESSAGE(a.status == 200, a.raw);
    return a.body["total"].get<std::int64_t>();
  };
  const auto push = [&](const std::string& id, const std::string& at) {
    httplib::Client client("127.0.0.1", serve.port());
    auto res = client.Post(
        "/v1/events", key,
        R"([{"id":")" + id + R"(","timestamp":")" + at + R"(","userId":")" + user + R"("}])",
        "application/json");
    REQUIRE(res);
    REQUIRE_MESSAGE(res->status == 200, res->body);
  };

  push("cacecace-0000-4000-8000-0000000000e1", "2026-01-27T19:00:00Z");
  CHECK(user_total() == 1);
  CHECK(global_total() == 1);
  CHECK(user_total() == 1);
  CHECK(global_total() == 1);
  CHECK(cache_count("miss") == 2);
  CHECK(cache_count("hit") == 2);

  // A writer mid-way while a later transaction commits: the snapshot lists the writer as in
  // progress, and its own commit then leaves xmax as it was. The answer kept for that snapshot
  // must not survive the commit.
  OpenTransaction writer(db,
                         "INSERT INTO events (id, occurred_at, user_id, type) VALUES "
                         "('cacecace-0000-4000-8000-0000000000e2', '2026-01-27T19:30:00Z', '" +
                             user + "', 'click')");
  push("cacecace-0000-4000-8000-0000000000e3", "2026-01-27T23:59:59.999Z");
  CHECK(user_total() == 2);
  CHECK(user_total() == 2);
  CHECK(global_total() == 2);
  CHECK(cache_count("miss") == 4);
  CHECK(cache_count("hit") == 3);
  writer.commit();
  CHECK(user_total() == 3);
  CHECK(global_total() == 2);  // the row inserted by hand is not in the rollup
  CHECK(cache_count("miss") == 6);

  // A commit at other instants (a live feed's head) leaves the day's answers kept; an answer
  // whose range defaults to the events' span depends on every instant, so it is computed again.
  const auto spanned_total = [&] {
    const Answer a = get(serve.port(), "/v1/users/" + user + "/event_counts?bucket=1d", key);
    REQUIRE_MESSAGE(a.status == 200, a.raw);
    return a.body["total"].get<std::int64_t>();
  };
  CHECK(spanned_total() == 3);
  CHECK(cache_count("miss") == 7);
  push("cacecace-0000-4000-8000-0000000000e4", "2026-02-05T10:00:00Z");
  CHECK(user_total() == 3);
  CHECK(global_total() == 2);
  CHECK(cache_count("miss") == 7);
  CHECK(cache_count("hit") == 5);
  CHECK(spanned_total() == 4);
  CHECK(cache_count("miss") == 8);
  // A row deleted by hand inside the day is a change there too.
  db.exec("DELETE FROM events WHERE id = 'cacecace-0000-4000-8000-0000000000e2'");
  CHECK(user_total() == 2);
  CHECK(cache_count("miss") == 9);
}
