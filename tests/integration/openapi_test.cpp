// docs/openapi.yaml against real answers: `ingestd serve` and `ingestd run` on a database
// ingested from the simulator, each route's success and error answers recorded and checked by
// tests/support/openapi_check.py (python3-jsonschema, JSON Schema 2020-12).
#include <doctest/doctest.h>
#include <httplib.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "support.hpp"

using namespace testsupport;
using nlohmann::json;

namespace {

class Recorder {
 public:
  explicit Recorder(int port) : client_("127.0.0.1", port) { client_.set_read_timeout(30, 0); }

  // Sends the request and records its answer under the document's path template.
  void get(const std::string& templ, const std::string& target, int expected_status,
           const std::string& key = "k") {
    httplib::Headers headers;
    if (!key.empty()) headers.emplace("X-API-Key", key);
    record("get", templ, client_.Get(target, headers), expected_status);
  }

  void post(const std::string& templ, const std::string& target, const std::string& body,
            int expected_status) {
    record("post", templ, client_.Post(target, {{"X-API-Key", "k"}}, body, "application/json"),
           expected_status);
  }

  const json& answers() const { return answers_; }

 private:
  void record(const std::string& method, const std::string& templ, const httplib::Result& r,
              int expected_status) {
    REQUIRE(r);
    INFO(method << " " << templ << ": " << r->body.substr(0, 500));
    REQUIRE(r->status == expected_status);
    json headers = json::object();
    for (const auto& [name, value] : r->headers) headers[name] = value;
    answers_.push_back({{"method", method},
                        {"path", templ},
                        {"status", r->status},
                        {"content_type", r->get_header_value("Content-Type")},
                        {"headers", headers},
                        {"body", r->body}});
  }

  httplib::Client client_;
  json answers_ = json::array();
};

void expect_valid(const json& answers) {
  TempDir dir;
  const auto file = dir.path() / "answers.json";
  std::ofstream(file) << answers.dump();
  const auto r =
      run({"/usr/bin/python3", std::string(INGESTD_SOURCE_DIR) + "/tests/support/openapi_check.py",
           std::string(INGESTD_SOURCE_DIR) + "/docs/openapi.yaml", file.string()},
          {});
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK(r.output.find(std::to_string(answers.size()) + " passed, 0 failed") != std::string::npos);
}

}  // namespace

TEST_CASE("openapi: every route's answers validate against docs/openapi.yaml") {
  Sim sim(sim_args(17, 6'000, {"--unlimited", "--fault-malformed", "0.01"}));
  TestDatabase db;
  auto env = ingest_env(sim, db);
  expect_exit(run(ingestd({"run"}), env), 0);
  const auto dataset = stored_dataset(sim);
  const std::string user = dataset.front().user;
  REQUIRE_FALSE(user.empty());

  std::map<std::string, std::string> serve_env{{"DATABASE_URL", db.url()},
                                               {"SERVE_API_KEY", "k"},
                                               {"SERVE_RATE_LIMIT", "1000/1s"},
                                               {"LOG_FORMAT", "text"}};
  Serve serve(serve_env);
  Recorder rec(serve.port());
  const std::string counts = "/v1/users/{user_id}/event_counts";
  rec.get(counts, "/v1/users/" + user + "/event_counts?bucket=1d", 200);
  rec.get(counts,
          "/v1/users/" + user +
              "/event_counts?bucket=1h&starting_at=2026-01-27&ending_before=2026-01-27T06:00:00Z",
          200);
  rec.get(counts, "/v1/users/00000000-0000-4000-8000-000000000000/event_counts", 200);
  rec.get(counts, "/v1/users/not-a-uuid/event_counts", 400);
  rec.get(counts, "/v1/users/" + user + "/event_counts?bucket=2h", 400);
  rec.get(counts, "/v1/users/" + user + "/event_counts?colour=red", 400);
  rec.get(counts, "/v1/users/" + user + "/event_counts", 401, "");
  rec.get("/v1/event_counts", "/v1/event_counts?bucket=1d&type=click", 200);
  rec.get("/v1/event_counts", "/v1/event_counts?bucket=15m&starting_at=1769500000", 200);
  rec.get("/v1/event_counts", "/v1/event_counts?type=", 400);
  rec.get("/v1/users/{user_id}", "/v1/users/" + user, 200);
  rec.get("/v1/users/{user_id}", "/v1/users/00000000-0000-4000-8000-000000000000", 200);
  rec.get("/v1/users/{user_id}", "/v1/users/" + user + "?bucket=1h", 400);
  rec.get("/v1/status", "/v1/status", 200);
  rec.get("/v1/status", "/v1/status?history=1", 200);
  rec.get("/v1/status", "/v1/status?verbose=1", 400);
  rec.post("/v1/events", "/v1/events",
           R"([{"id":"56a349b5-7243-4e0c-9fd8-f2c1eb2a5d35","userId":")" + user +
               R"(","type":"click","timestamp":1769541612369},
               {"id":"not-a-uuid","timestamp":1769541612369}])",
           200);
  rec.post("/v1/events", "/v1/events", "{not json", 400);
  rec.get("/v1/openapi.yaml", "/v1/openapi.yaml", 200, "");
  rec.get("/", "/?user=" + user + "&bucket=1d", 200, "");
  rec.get("/assets/chart.min.js", "/assets/chart.min.js", 200, "");
  expect_valid(rec.answers());

  // The limit's refusal, with its headers.
  serve_env["SERVE_RATE_LIMIT"] = "1/60s";
  Serve limited(serve_env);
  Recorder refused(limited.port());
  refused.get("/v1/status", "/v1/status", 200);
  refused.get("/v1/status", "/v1/status", 429);
  expect_valid(refused.answers());
}

TEST_CASE("openapi: /v1/status of a running `ingestd run` validates, live figures included") {
  // 30 pages at 5 per second: several seconds to look at the live figures.
  Sim sim(sim_args(19, 30'000, {"--limit", "5", "--window-s", "1"}));
  TestDatabase db;
  auto env = paged_env(sim, db, {{"SERVE_API_KEY", "k"}});
  Serve running(env, {"run"});
  Recorder rec(running.port());
  rec.get("/v1/status", "/v1/status?history=1", 200);
  rec.get("/v1/status", "/v1/status", 200);
  const json live = json::parse(rec.answers()[0]["body"].get<std::string>())["live"];
  CHECK(live.is_object());
  CHECK(live["history"].is_array());
  expect_valid(rec.answers());
  // A finished run stops with 0, as the server's destructor requires.
  REQUIRE(running.process().wait_for(120s) == 0);
}
