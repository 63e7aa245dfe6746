// The ingestd binary's command line, configuration errors and migrations, against a real
// PostgreSQL.
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <simdjson.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "support.hpp"

using namespace testsupport;

namespace {

std::map<std::string, std::string> clean_env() {
  // Settings the developer's shell may carry must not leak into these tests.
  return {{"UPSTREAM_BASE_URL", ""}, {"UPSTREAM_API_KEY", ""}, {"DATABASE_URL", ""},
          {"PAGE_LIMIT", ""},        {"LOG_FORMAT", ""},       {"LOG_LEVEL", ""}};
}

std::string last_line(const std::string& s) {
  auto end = s.find_last_not_of('\n');
  auto start = s.rfind('\n', end);
  return s.substr(start == std::string::npos ? 0 : start + 1,
                  end - (start == std::string::npos ? 0 : start + 1) + 1);
}

}  // namespace

TEST_CASE("--help explains the commands, settings and exit codes, --version prints it") {
  auto r = run(ingestd({"--help"}), clean_env());
  expect_exit(r, 0);
  for (const char* s :
       {"run", "migrate", "submit", "status", "--page-limit", "--database-url", "Exit codes",
        "UPSTREAM_API_KEY", "--page-limit INT", "--http-gzip BOOL", "--http-timeout-s SECONDS",
        "--upstream-base-url URL", "--rate-limit N/DURATION"}) {
    CHECK_MESSAGE(r.output.find(s) != std::string::npos, s);
  }
  // Every setting names the kind of value it takes.
  CHECK(r.output.find(" TEXT ") == std::string::npos);
  r = run(ingestd({"--version"}), clean_env());
  expect_exit(r, 0);
  CHECK(r.output.starts_with("ingestd 0."));
  // The commit the binary was built from: 12 hex digits (and -dirty for a changed tree).
  CHECK(
      std::regex_search(r.output, std::regex(R"(^ingestd \S+ \(git [0-9a-f]{12}(-dirty)?\)\n$)")));
  r = run(ingestd({}), clean_env());
  CHECK(r.exit_code == 2);
}

TEST_CASE("each bad setting exits 2 with one line naming the key") {
  struct Case {
    std::map<std::string, std::string> env;
    std::vector<std::string> args;
    std::string dotenv;
    std::string message;
  };
  const std::string db = "postgresql://u@127.0.0.1:1/db";
  const std::vector<Case> cases = {
      {{}, {"run"}, "PAGE_SIZE=10\n", "ingestd: config: unknown key PAGE_SIZE in .env"},
      {{{"UPSTREAM_BASE_URL", "htp:/bad"}, {"UPSTREAM_API_KEY", "k"}, {"DATABASE_URL", db}},
       {"run"},
       "",
       "ingestd: config: UPSTREAM_BASE_URL must be an http:// or https:// URL (got \"htp:/bad\" "
       "from environment)"},
      {{{"UPSTREAM_BASE_URL", "http://127.0.0.1:9"},
        {"UPSTREAM_API_KEY", "k"},
        {"DATABASE_URL", db}},
       {"--page-limit", "abc", "run"},
       "",
       "ingestd: config: PAGE_LIMIT must be an integer from 1 to 5000 (got \"abc\" from the "
       "command line)"},
      {{{"UPSTREAM_BASE_URL", "http://127.0.0.1:9"},
        {"UPSTREAM_API_KEY", "k"},
        {"DATABASE_URL", db},
        {"PAGE_LIMIT", "0"}},
       {"run"},
       "",
       "ingestd: config: PAGE_LIMIT must be an integer from 1 to 5000 (got \"0\" from "
       "environment)"},
      {{{"UPSTREAM_BASE_URL", "http://127.0.0.1:9"}, {"DATABASE_URL", db}},
       {"run"},
       "",
       "ingestd: config: UPSTREAM_API_KEY (or UPSTREAM_API_KEYS) is required when "
       "UPSTREAM_BASE_URL is set"},
      {{},
       {"migrate"},
       "",
       "ingestd: config: DATABASE_URL is required (in .env, the environment or --database-url)"},
  };
  for (const auto& c : cases) {
    TempDir dir;
    if (!c.dotenv.empty()) std::ofstream(dir.path() / ".env") << c.dotenv;
    auto env = clean_env();
    for (const auto& [k, v] : c.env) env[k] = v;
    const auto r = run(ingestd(c.args), env, 30s, dir.path());
    INFO(r.output);
    CHECK(r.exit_code == 2);
    CHECK(last_line(r.output) == c.message);
  }
}

TEST_CASE("migrate twice: the second run applies nothing and the tables match the design") {
  TestDatabase db;
  auto env = clean_env();
  env["DATABASE_URL"] = db.url();
  auto first = run(ingestd({"migrate"}), env);
  expect_exit(first, 0);
  CHECK(first.output.find("applied 001_initial_schema") != std::string::npos);
  CHECK(first.output.find("applied 002_rate_limit_state") != std::string::npos);
  auto second = run(ingestd({"migrate"}), env);
  expect_exit(second, 0);
  CHECK(second.output.find("nothing applied") != std::string::npos);
  std::int64_t sql_files = 0;
  for (const auto& f :
       std::filesystem::directory_iterator(std::string(INGESTD_SOURCE_DIR) + "/sql")) {
    sql_files += f.path().extension() == ".sql";
  }
  CHECK(db.scalar("SELECT count(*) FROM schema_migrations") == sql_files);
  CHECK(first.output.find("applied 003_read_side") != std::string::npos);

  auto columns = [&](const std::string& table) {
    return db.column(
        "SELECT column_name || ':' || data_type FROM information_schema.columns "
        "WHERE table_name = '" +
        table + "' ORDER BY ordinal_position");
  };
  CHECK(columns("events") ==
        std::vector<std::string>{"id:uuid", "occurred_at:timestamp with time zone", "type:text",
                                 "name:text", "user_id:text", "session_id:text", "properties:jsonb",
                                 "session:jsonb", "ingested_at:timestamp with time zone"});
  const auto checkpoint = columns("ingest_checkpoint");
  for (const char* c :
       {"stream:text", "next_cursor:text", "pages:bigint", "events:bigint", "done:boolean",
        "updated_at:timestamp with time zone", "phase:text", "mark_us:bigint", "target_us:bigint",
        "syncs:bigint", "rescans:bigint", "last_sync_at:timestamp with time zone"}) {
    CHECK_MESSAGE(std::find(checkpoint.begin(), checkpoint.end(), c) != checkpoint.end(), c);
  }
  const auto quarantine = columns("quarantine");
  for (const char* c :
       {"raw:text", "reason:text", "page_cursor:text", "at:timestamp with time zone"}) {
    CHECK_MESSAGE(std::find(quarantine.begin(), quarantine.end(), c) != quarantine.end(), c);
  }
  const auto submissions = columns("submissions");
  for (const char* c : {"attempt:integer", "started_at:timestamp with time zone",
                        "finished_at:timestamp with time zone", "ids_sent:bigint",
                        "http_status:integer", "response:text"}) {
    CHECK_MESSAGE(std::find(submissions.begin(), submissions.end(), c) != submissions.end(), c);
  }
  CHECK(columns("rate_limit_state") ==
        std::vector<std::string>{"stream:text", "request_limit:integer", "window_ms:bigint",
                                 "sent_at_ms:ARRAY", "updated_at:timestamp with time zone",
                                 "key_fingerprint:text"});
  CHECK(columns("event_changes") == std::vector<std::string>{"xid:xid8", "from_us:bigint",
                                                             "to_us:bigint",
                                                             "at:timestamp with time zone"});
}

TEST_CASE("a schema newer than the binary is refused") {
  TestDatabase db;
  auto env = clean_env();
  env["DATABASE_URL"] = db.url();
  expect_exit(run(ingestd({"migrate"}), env), 0);
  db.exec("INSERT INTO schema_migrations (version, name) VALUES (999, '999_future')");
  const auto r = run(ingestd({"migrate"}), env);
  CHECK(r.exit_code == 2);
  CHECK(r.output.find("schema version 999 is newer than this binary supports") !=
        std::string::npos);
}

TEST_CASE("an unreachable database: retries with backoff, then exits 4 with a redacted URL") {
  auto env = clean_env();
  env["DATABASE_URL"] = "postgresql://ingestd:pw-SECRET-456@127.0.0.1:1/ingestd";
  env["DB_CONNECT_TIMEOUT_S"] = "2";
  const auto started = std::chrono::steady_clock::now();
  const auto r = run(ingestd({"migrate"}), env);
  CHECK(r.exit_code == 4);
  CHECK(std::chrono::steady_clock::now() - started >= 2s);
  CHECK(r.output.find("postgresql://ingestd:***@127.0.0.1:1/ingestd") != std::string::npos);
  CHECK(r.output.find("pw-SECRET-456") == std::string::npos);
}

// A listening socket that never answers: libpq's connect waits on it like on an unreachable
// host, without a packet leaving the machine.
class SilentServer {
 public:
  SilentServer() : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(fd_, 8) == 0);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~SilentServer() { ::close(fd_); }
  SilentServer(const SilentServer&) = delete;
  SilentServer& operator=(const SilentServer&) = delete;
  int port() const { return port_; }

 private:
  int fd_;
  int port_ = 0;
};

TEST_CASE("status with an unreachable database: one line naming it, exit 4 within 3 s") {
  SilentServer silent;
  for (const std::string& url :
       {std::string("postgresql://ingestd:pw-SECRET-789@127.0.0.1:1/ingestd"),
        "postgresql://ingestd:pw-SECRET-789@127.0.0.1:" + std::to_string(silent.port()) +
            "/ingestd"}) {
    CAPTURE(url);
    auto env = clean_env();
    env["DATABASE_URL"] = url;
    const auto started = std::chrono::steady_clock::now();
    const auto r = run(ingestd({"status"}), env);
    CHECK(std::chrono::steady_clock::now() - started < 3s);
    INFO(r.output);
    CHECK(r.exit_code == 4);
    CHECK(std::count(r.output.begin(), r.output.end(), '\n') == 1);
    CHECK(r.output.find("postgresql://ingestd:***@127.0.0.1:") != std::string::npos);
    CHECK(r.output.find("pw-SECRET-789") == std::string::npos);
    CHECK(r.output.find("./run-ingestion.sh status") != std::string::npos);
  }
}

TEST_CASE("status on a fresh database reports nothing started") {
  TestDatabase db;
  auto env = clean_env();
  env["DATABASE_URL"] = db.url();
  expect_exit(run(ingestd({"migrate"}), env), 0);
  auto r = run(ingestd({"status"}), env);
  expect_exit(r, 0);
  CHECK(r.output.find("not started") != std::string::npos);
  r = run(ingestd({"status", "--json"}), env);
  expect_exit(r, 0);
  CHECK(r.output.find("\"done\":false") != std::string::npos);
}

TEST_CASE("LOG_FORMAT=json writes one JSON object per line") {
  TestDatabase db;
  auto env = clean_env();
  env["DATABASE_URL"] = db.url();
  env["LOG_FORMAT"] = "json";
  const auto r = run(ingestd({"migrate"}), env);
  expect_exit(r, 0);
  std::istringstream lines(r.output);
  std::string line;
  int count = 0;
  simdjson::dom::parser parser;
  while (std::getline(lines, line)) {
    CAPTURE(line);
    simdjson::dom::element doc;
    REQUIRE(parser.parse(line).get(doc) == simdjson::SUCCESS);
    std::string_view level, msg, ts;
    CHECK(doc["level"].get(level) == simdjson::SUCCESS);
    CHECK(doc["msg"].get(msg) == simdjson::SUCCESS);
    CHECK(doc["ts"].get(ts) == simdjson::SUCCESS);
    ++count;
  }
  CHECK(count >= 2);
}
