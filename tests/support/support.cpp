#include "support.hpp"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <httplib.h>
#include <libpq-fe.h>
#include <poll.h>
#include <signal.h>
#include <simdjson.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace testsupport {

namespace fs = std::filesystem;

namespace {

std::atomic<int> counter{0};

std::string unique_suffix() {
  return std::to_string(::getpid()) + "_" + std::to_string(counter.fetch_add(1));
}

struct PgConnDeleter {
  void operator()(PGconn* c) const { PQfinish(c); }
};
struct PgResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using PgConn = std::unique_ptr<PGconn, PgConnDeleter>;
using PgResult = std::unique_ptr<PGresult, PgResultDeleter>;

PgConn connect(const std::string& url) {
  PgConn conn(PQconnectdb(url.c_str()));
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    throw std::runtime_error("test database: cannot connect: " +
                             std::string(PQerrorMessage(conn.get())));
  }
  return conn;
}

PgResult query(PGconn* conn, const std::string& sql) {
  PgResult r(PQexec(conn, sql.c_str()));
  const auto status = PQresultStatus(r.get());
  if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
    throw std::runtime_error("test database: " + sql + ": " + PQerrorMessage(conn));
  }
  return r;
}

std::string admin_url() {
  std::string url = env_or("TEST_DATABASE_URL", "");
  if (url.empty()) {
    throw std::runtime_error(
        "TEST_DATABASE_URL is not set: run the suites with scripts/test.sh, which starts a "
        "throwaway PostgreSQL");
  }
  return url;
}

// Replaces the database name in a postgresql:// URI.
std::string with_database(const std::string& url, const std::string& name) {
  const auto authority = url.find("://");
  REQUIRE(authority != std::string::npos);
  const auto slash = url.find('/', authority + 3);
  const auto query_start = url.find('?', authority + 3);
  std::string out = url.substr(0, std::min(slash, query_start)) + "/" + name;
  if (query_start != std::string::npos) out += url.substr(query_start);
  return out;
}

}  // namespace

std::string env_or(const char* name, std::string fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : fallback;
}

TempDir::TempDir() {
  path_ = fs::temp_directory_path() / ("ingestd-test-" + unique_suffix());
  fs::remove_all(path_);
  fs::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

Process::Process(Options options) : options_(std::move(options)) {
  std::map<std::string, std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string_view kv(*e);
    const auto eq = kv.find('=');
    if (eq != std::string_view::npos) env[std::string(kv.substr(0, eq))] = kv.substr(eq + 1);
  }
  for (const auto& [k, v] : options_.env) {
    if (v.empty()) {
      env.erase(k);
    } else {
      env[k] = v;
    }
  }
  std::vector<std::string> env_strings;
  for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<char*> argv;
  for (auto& a : options_.argv) argv.push_back(a.data());
  argv.push_back(nullptr);

  int pipe_fds[2] = {-1, -1};
  if (options_.pipe_stdout && ::pipe2(pipe_fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
  const int log_fd = ::open(options_.log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) throw std::runtime_error("cannot open log " + options_.log.string());

  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    // Only async-signal-safe calls from here on.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    if (options_.own_group) ::setpgid(0, 0);
    ::dup2(options_.pipe_stdout ? pipe_fds[1] : log_fd, STDOUT_FILENO);
    ::dup2(log_fd, STDERR_FILENO);
    const int devnull = ::open("/dev/null", O_RDONLY);
    ::dup2(devnull, STDIN_FILENO);
    if (!options_.cwd.empty() && ::chdir(options_.cwd.c_str()) != 0) ::_exit(126);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  ::close(log_fd);
  if (options_.pipe_stdout) {
    ::close(pipe_fds[1]);
    stdout_fd_ = pipe_fds[0];
  }
}

Process::~Process() {
  if (!status_) {
    ::kill(pid_, SIGKILL);
    int st = 0;
    ::waitpid(pid_, &st, 0);
  }
  if (stdout_fd_ >= 0) ::close(stdout_fd_);
}

void Process::signal(int sig) const {
  if (!status_) ::kill(pid_, sig);
}

void Process::signal_group(int sig) const {
  if (!status_) ::kill(-pid_, sig);
}

std::optional<int> Process::wait_for(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!status_) {
    int st = 0;
    const pid_t r = ::waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
      status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      break;
    }
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(5ms);
  }
  return status_;
}

bool Process::running() {
  return !wait_for(0ms).has_value();
}

std::string Process::read_line(std::chrono::milliseconds timeout) {
  std::string line;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{stdout_fd_, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    char c = 0;
    if (::read(stdout_fd_, &c, 1) != 1) break;
    if (c == '\n') return line;
    line += c;
  }
  return line;
}

std::string Process::log() const {
  std::ifstream in(options_.log);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

RunResult run(std::vector<std::string> argv, std::map<std::string, std::string> env,
              std::chrono::milliseconds timeout, fs::path cwd) {
  TempDir dir;
  Process p({std::move(argv), std::move(env), cwd.empty() ? dir.path() : cwd,
             dir.path() / "output.log", false});
  const auto code = p.wait_for(timeout);
  RunResult r;
  r.output = p.log();
  if (!code)
    FAIL("process outlived its " << timeout.count() << " ms timeout; output:\n" << r.output);
  r.exit_code = *code;
  return r;
}

const std::string& ingestd_binary() {
  static const std::string path = env_or("INGESTD_UNDER_TEST", INGESTD_BINARY);
  return path;
}

const std::string& sim_binary() {
  static const std::string path = env_or("UPSTREAM_SIM_UNDER_TEST", UPSTREAM_SIM_BINARY);
  return path;
}

std::vector<std::string> ingestd(std::vector<std::string> args) {
  args.insert(args.begin(), ingestd_binary());
  return args;
}

std::vector<std::string> sim_args(int seed, std::int64_t events, std::vector<std::string> extra) {
  std::vector<std::string> args = {"--events", std::to_string(events), "--seed",
                                   std::to_string(seed)};
  if (std::find(extra.begin(), extra.end(), "--latency-ms-per-event") == extra.end()) {
    args.insert(args.end(), {"--latency-ms-per-event", "0"});
  }
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

Sim::Sim(std::vector<std::string> args) {
  args.insert(args.begin(), {sim_binary(), "--port", "0"});
  process_ = std::make_unique<Process>(
      Process::Options{std::move(args), {}, dir_.path(), dir_.path() / "sim.log", true});
  const std::string line = process_->read_line(60s);
  const std::string prefix = "listening on 127.0.0.1:";
  if (!line.starts_with(prefix)) {
    FAIL("upstream-sim did not start: first line \"" << line << "\"; log:\n" << process_->log());
  }
  port_ = std::stoi(line.substr(prefix.size()));
}

Serve::Serve(std::map<std::string, std::string> env, std::vector<std::string> args) {
  if (!env.contains("SERVE_ADDR")) env["SERVE_ADDR"] = "127.0.0.1:0";
  process_ = std::make_unique<Process>(Process::Options{ingestd(std::move(args)), std::move(env),
                                                        dir_.path(), dir_.path() / "serve.log"});
  const std::string marker = "read API on http://127.0.0.1:";
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < deadline) {
    const std::string text = process_->log();
    if (const auto at = text.find(marker); at != std::string::npos) {
      port_ = std::stoi(text.substr(at + marker.size()));
      return;
    }
    if (!process_->running()) break;
    std::this_thread::sleep_for(20ms);
  }
  FAIL("ingestd did not start serving; log:\n" << process_->log());
}

Serve::~Serve() {
  process_->signal(SIGTERM);
  // A clean stop is exit 0; anything else (a sanitizer's exit code among them) fails the test.
  const auto code = process_->wait_for(10s);
  CHECK_MESSAGE(code == std::optional<int>(0), "ingestd serve ended with "
                                                   << (code ? std::to_string(*code) : "no exit")
                                                   << "; log:\n"
                                                   << process_->log());
}

Sim::~Sim() {
  process_->signal(SIGTERM);
  process_->wait_for(5s);
}

std::string Sim::url() const {
  return "http://127.0.0.1:" + std::to_string(port_);
}

std::string Sim::get(const std::string& path) const {
  httplib::Client client("127.0.0.1", port_);
  client.set_read_timeout(60, 0);
  auto res = client.Get(path.c_str());
  if (!res || res->status != 200) {
    throw std::runtime_error("upstream-sim GET " + path + " failed");
  }
  return res->body;
}

std::string Sim::post(const std::string& path) const {
  httplib::Client client("127.0.0.1", port_);
  client.set_read_timeout(60, 0);
  auto res = client.Post(path.c_str(), "", "application/json");
  if (!res || res->status != 200) {
    throw std::runtime_error("upstream-sim POST " + path + " failed");
  }
  return res->body;
}

std::int64_t Sim::stat(const std::string& pointer) const {
  simdjson::dom::parser parser;
  simdjson::padded_string json(get("/internal/stats"));
  simdjson::dom::element root = parser.parse(json);
  auto value = root.at_pointer(pointer);
  if (value.error()) return 0;
  std::int64_t n = 0;
  if (value.get_int64().get(n) == simdjson::SUCCESS) return n;
  std::uint64_t u = 0;
  if (value.get_uint64().get(u) == simdjson::SUCCESS) return static_cast<std::int64_t>(u);
  return 0;
}

std::vector<Sim::Request> Sim::request_log() const {
  simdjson::dom::parser parser;
  simdjson::padded_string json(get("/internal/stats"));
  simdjson::dom::element root = parser.parse(json);
  std::vector<Request> log;
  for (simdjson::dom::element entry : root["request_log"].get_array()) {
    simdjson::dom::array fields = entry.get_array();
    log.push_back({double(fields.at(0)), double(fields.at(1)), int(int64_t(fields.at(2)))});
  }
  return log;
}

double Sim::paging_seconds() const {
  const auto log = request_log();
  if (log.empty()) return 0;
  double last = 0;
  for (const Request& r : log) last = std::max(last, r.answered_ms);
  return (last - log.front().arrived_ms) / 1000.0;
}

std::vector<std::string> Sim::expected_ids() const {
  std::vector<std::string> ids;
  std::istringstream in(get("/internal/expected"));
  std::string line;
  while (std::getline(in, line)) {
    const auto tab = line.find('\t');
    const auto tab2 = line.find('\t', tab + 1);
    const auto tab3 = line.find('\t', tab2 + 1);
    if (line.substr(tab2 + 1, tab3 - tab2 - 1) == "store") ids.push_back(line.substr(0, tab));
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

std::string iso8601_us(std::int64_t epoch_us) {
  const std::time_t s = static_cast<std::time_t>(epoch_us / 1'000'000);
  std::tm tm{};
  gmtime_r(&s, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<long long>(epoch_us % 1'000'000));
  return buf;
}

std::vector<DatasetEvent> stored_dataset(const Sim& sim) {
  std::vector<DatasetEvent> out;
  std::istringstream in(sim.get("/internal/expected"));
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::istringstream fields(line);
    for (std::string x; std::getline(fields, x, '\t');) f.push_back(x);
    if (f.size() != 6) throw std::runtime_error("/internal/expected: unexpected line " + line);
    if (f[2] != "store") continue;
    out.push_back({f[0], f[4] == "-" ? "" : f[4], f[5] == "-" ? "" : f[5], std::stoll(f[1])});
  }
  return out;
}

TestDatabase::TestDatabase() {
  const std::string admin = admin_url();
  name_ = "ingestd_t_" + unique_suffix();
  auto conn = connect(admin);
  query(conn.get(), "CREATE DATABASE " + name_);
  url_ = with_database(admin, name_);
}

TestDatabase::~TestDatabase() {
  try {
    auto conn = connect(admin_url());
    query(conn.get(), "DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
  } catch (const std::exception&) {
    // A database the server cannot drop now is left for the throwaway cluster's removal.
  }
}

void TestDatabase::exec(const std::string& sql) const {
  auto conn = connect(url_);
  query(conn.get(), sql);
}

void TestDatabase::abandon_busy(const std::string& setup_sql, const std::string& busy_sql) const {
  auto conn = connect(url_);
  query(conn.get(), setup_sql);
  if (PQsendQuery(conn.get(), busy_sql.c_str()) != 1 || PQflush(conn.get()) != 0) {
    throw std::runtime_error("test database: " + busy_sql + ": " + PQerrorMessage(conn.get()));
  }
}

struct OpenTransaction::Connection {
  PgConn conn;
};

OpenTransaction::OpenTransaction(const TestDatabase& db, const std::string& sql)
    : conn_(std::make_unique<Connection>(Connection{connect(db.url())})) {
  query(conn_->conn.get(), "BEGIN");
  query(conn_->conn.get(), sql);
}

OpenTransaction::~OpenTransaction() = default;

void OpenTransaction::commit() {
  query(conn_->conn.get(), "COMMIT");
}

std::int64_t TestDatabase::scalar(const std::string& sql) const {
  return std::stoll(text(sql));
}

std::string TestDatabase::text(const std::string& sql) const {
  auto conn = connect(url_);
  auto r = query(conn.get(), sql);
  if (PQntuples(r.get()) < 1 || PQgetisnull(r.get(), 0, 0)) return "";
  return PQgetvalue(r.get(), 0, 0);
}

std::vector<std::string> TestDatabase::column(const std::string& sql) const {
  auto conn = connect(url_);
  auto r = query(conn.get(), sql);
  std::vector<std::string> out;
  for (int i = 0; i < PQntuples(r.get()); ++i) out.emplace_back(PQgetvalue(r.get(), i, 0));
  return out;
}

void TestDatabase::copy_in(const std::string& copy_sql, const std::string& payload) const {
  auto conn = connect(url_);
  PgResult start(PQexec(conn.get(), copy_sql.c_str()));
  REQUIRE(PQresultStatus(start.get()) == PGRES_COPY_IN);
  REQUIRE(PQputCopyData(conn.get(), payload.data(), static_cast<int>(payload.size())) == 1);
  REQUIRE(PQputCopyEnd(conn.get(), nullptr) == 1);
  PgResult done(PQgetResult(conn.get()));
  INFO(PQerrorMessage(conn.get()));
  REQUIRE(PQresultStatus(done.get()) == PGRES_COMMAND_OK);
}

std::map<std::string, std::string> ingest_env(const Sim& sim, const TestDatabase& db) {
  return {{"UPSTREAM_BASE_URL", sim.url()}, {"UPSTREAM_API_KEY", "test-key"},
          {"DATABASE_URL", db.url()},       {"SUBMISSION_REPO", "https://example.invalid/ingestd"},
          {"PROGRESS_INTERVAL_S", "1"},     {"LOG_FORMAT", "text"}};
}

std::map<std::string, std::string> paged_env(const Sim& sim, const TestDatabase& db,
                                             std::map<std::string, std::string> extra) {
  auto env = ingest_env(sim, db);
  env["PAGE_LIMIT"] = "1000";
  env["SUBMIT_ON_FINISH"] = "false";
  for (auto& [k, v] : extra) env[k] = v;
  return env;
}

void wait_while_running(Process& p, const std::function<bool()>& condition,
                        std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    INFO(p.log());
    REQUIRE(p.running());
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(10ms);
  }
}

void kill_now(Process& p) {
  p.signal(SIGKILL);
  REQUIRE(p.wait_for(10s) == 128 + SIGKILL);
}

int kill_at_random(const std::map<std::string, std::string>& env, int max_kills, int max_rounds,
                   std::chrono::milliseconds min_delay, std::chrono::milliseconds max_delay,
                   std::uint32_t seed, const std::function<void()>& after_kill) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<std::int64_t> delay(min_delay.count(), max_delay.count());
  int kills = 0;
  for (int round = 0; round < max_rounds && kills < max_kills; ++round) {
    TempDir dir;
    Process p({ingestd({"run"}), env, dir.path(), dir.path() / "run.log", false});
    const auto code = p.wait_for(std::chrono::milliseconds(delay(rng)));
    if (code) {
      INFO(p.log());
      REQUIRE(*code == 0);
      break;
    }
    kill_now(p);
    ++kills;
    if (after_kill) after_kill();
  }
  return kills;
}

void expect_exit(const RunResult& r, int code) {
  INFO("output:\n" << r.output);
  REQUIRE(r.exit_code == code);
}

void check_exact_dataset(const Sim& sim, const TestDatabase& db, bool require_done) {
  std::istringstream in(sim.get("/internal/expected"));
  std::string payload;
  std::string line;
  std::int64_t to_store = 0, to_quarantine = 0;
  while (std::getline(in, line)) {
    const auto t1 = line.find('\t');
    const auto t2 = line.find('\t', t1 + 1);
    const auto t3 = line.find('\t', t2 + 1);
    if (line.substr(t2 + 1, t3 - t2 - 1) == "store") {
      payload += line.substr(0, t2) + "\n";
      ++to_store;
    } else {
      ++to_quarantine;
    }
  }
  db.exec(
      "CREATE TABLE IF NOT EXISTS expected_events (id uuid PRIMARY KEY, ts_us bigint NOT NULL)");
  db.exec("TRUNCATE expected_events");
  db.copy_in("COPY expected_events FROM STDIN", payload);

  CHECK(db.scalar("SELECT count(*) FROM events") == to_store);
  CHECK(db.scalar("SELECT count(*) FROM expected_events e WHERE NOT EXISTS "
                  "(SELECT 1 FROM events v WHERE v.id = e.id)") == 0);
  CHECK(db.scalar("SELECT count(*) FROM events v WHERE NOT EXISTS "
                  "(SELECT 1 FROM expected_events e WHERE e.id = v.id)") == 0);
  CHECK(db.scalar("SELECT count(*) FROM events v JOIN expected_events e USING (id) WHERE "
                  "v.occurred_at <> timestamptz 'epoch' + e.ts_us * interval '1 microsecond'") ==
        0);
  CHECK(db.scalar("SELECT count(*) FROM quarantine") == to_quarantine);
  if (require_done) CHECK(db.scalar("SELECT done::int FROM ingest_checkpoint") == 1);
}

}  // namespace testsupport
