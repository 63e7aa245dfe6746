#pragma once

// Helpers for tests that drive real processes over loopback: the ingestd binary, the
// upstream-sim binary and a throwaway PostgreSQL database per test.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace testsupport {

using namespace std::chrono_literals;

// A unique scratch directory under the build tree, removed on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// A child process whose stdout and stderr go to a log file. The destructor kills it (SIGKILL)
// if it still runs and reaps it, so no test leaves processes behind.
class Process {
 public:
  struct Options {
    std::vector<std::string> argv;
    // Added to (or replacing entries of) the parent's environment; an empty value unsets.
    std::map<std::string, std::string> env;
    std::filesystem::path cwd;
    std::filesystem::path log;
    // Keep stdout on a pipe (read with read_line) instead of the log file.
    bool pipe_stdout = false;
    // Start a process group of its own, so signal_group reaches its children as Ctrl-C would.
    bool own_group = false;
  };

  explicit Process(Options options);
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  void signal(int sig) const;
  void signal_group(int sig) const;
  // Exit code, or 128 + signal number; nullopt when still running at the deadline.
  std::optional<int> wait_for(std::chrono::milliseconds timeout);
  bool running();
  std::string read_line(std::chrono::milliseconds timeout);
  std::string log() const;

 private:
  Options options_;
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  std::optional<int> status_;
};

struct RunResult {
  int exit_code = -1;
  std::string output;
};

// Runs the command to completion (fails the test when it outlives the timeout).
RunResult run(std::vector<std::string> argv, std::map<std::string, std::string> env,
              std::chrono::milliseconds timeout = 120s, std::filesystem::path cwd = {});

// The command line of ingestd_binary() with args.
std::vector<std::string> ingestd(std::vector<std::string> args);

// The binaries under test: this build's, or those INGESTD_UNDER_TEST and UPSTREAM_SIM_UNDER_TEST
// name (CI runs pipeline tests against the ThreadSanitizer build of both that way).
const std::string& ingestd_binary();
const std::string& sim_binary();

// upstream-sim arguments for a dataset of `events` from `seed`, with no page latency unless
// `extra` sets one.
std::vector<std::string> sim_args(int seed, std::int64_t events, std::vector<std::string> extra);

// One upstream-sim on a free port of 127.0.0.1, stopped with SIGTERM on destruction.
class Sim {
 public:
  explicit Sim(std::vector<std::string> args);
  ~Sim();
  Sim(const Sim&) = delete;
  Sim& operator=(const Sim&) = delete;

  int port() const { return port_; }
  std::string url() const;
  std::string get(const std::string& path) const;
  std::string post(const std::string& path) const;
  // A number in /internal/stats by JSON pointer, e.g. "/status_counts/429" (0 when absent).
  std::int64_t stat(const std::string& pointer) const;
  // Counted requests in arrival order: [arrived, answered] in ms since the simulator started.
  struct Request {
    double arrived_ms, answered_ms;
    int status;
  };
  std::vector<Request> request_log() const;
  // From the first counted request's arrival to the last one's answer, in seconds.
  double paging_seconds() const;
  // The ids /internal/expected says a correct client stores, sorted.
  std::vector<std::string> expected_ids() const;
  pid_t pid() const { return process_->pid(); }

 private:
  TempDir dir_;
  std::unique_ptr<Process> process_;
  int port_ = 0;
};

// An event a correct client stores, as /internal/expected describes it.
struct DatasetEvent {
  std::string id;
  std::string user;  // "" when the event has none
  std::string type;  // "" when the event has none
  std::int64_t us = 0;
};
// "2026-01-27T19:00:00.123456Z": written here independently of ingestd.
std::string iso8601_us(std::int64_t epoch_us);

// The events of the simulator's dataset a correct client stores, in the server's order.
std::vector<DatasetEvent> stored_dataset(const Sim& sim);

// A fresh database on the PostgreSQL named by TEST_DATABASE_URL, dropped on destruction.
class TestDatabase {
 public:
  TestDatabase();
  ~TestDatabase();
  TestDatabase(const TestDatabase&) = delete;
  TestDatabase& operator=(const TestDatabase&) = delete;

  const std::string& url() const { return url_; }
  void exec(const std::string& sql) const;
  std::int64_t scalar(const std::string& sql) const;
  std::string text(const std::string& sql) const;
  std::vector<std::string> column(const std::string& sql) const;
  // COPY FROM STDIN of an in-memory text payload.
  void copy_in(const std::string& copy_sql, const std::string& payload) const;
  // Runs setup_sql, sends busy_sql and closes the connection without waiting for it: the server
  // session lives on until busy_sql ends, as a client's does when the client is killed
  // mid-statement.
  void abandon_busy(const std::string& setup_sql, const std::string& busy_sql) const;

 private:
  std::string name_;
  std::string url_;
};

// A transaction left open until commit(), as a writer's is while other sessions read: BEGIN,
// then `sql`. Rolled back unless committed.
class OpenTransaction {
 public:
  OpenTransaction(const TestDatabase& db, const std::string& sql);
  ~OpenTransaction();
  OpenTransaction(const OpenTransaction&) = delete;
  OpenTransaction& operator=(const OpenTransaction&) = delete;
  void commit();

 private:
  struct Connection;
  std::unique_ptr<Connection> conn_;
};

// Settings for an `ingestd run` against a simulator and a database.
std::map<std::string, std::string> ingest_env(const Sim& sim, const TestDatabase& db);

// ingest_env with pages of 1,000 events and no submission at the end, plus `extra`.
std::map<std::string, std::string> paged_env(const Sim& sim, const TestDatabase& db,
                                             std::map<std::string, std::string> extra = {});

// Polls `condition` every 10 ms until it holds; fails the test, with the process's log, when
// the process ends first or `timeout` passes.
void wait_while_running(Process& p, const std::function<bool()>& condition,
                        std::chrono::milliseconds timeout = 60s);

// Kills the process with SIGKILL and requires that the signal ended it.
void kill_now(Process& p);

// Runs `ingestd run` with env and kills it with SIGKILL after a random delay in
// [min_delay, max_delay] (from `seed`), over and over, up to max_kills kills in at most
// max_rounds starts; a run that finishes by itself first must exit 0 and ends the series.
// after_kill runs after each kill. Returns the number of kills.
int kill_at_random(const std::map<std::string, std::string>& env, int max_kills, int max_rounds,
                   std::chrono::milliseconds min_delay, std::chrono::milliseconds max_delay,
                   std::uint32_t seed, const std::function<void()>& after_kill = {});

// `ingestd serve` (or any ingestd command that serves) on a free port of 127.0.0.1, found in
// its log line "read API on http://127.0.0.1:PORT/v1/"; stopped with SIGTERM on destruction.
class Serve {
 public:
  explicit Serve(std::map<std::string, std::string> env, std::vector<std::string> args = {"serve"});
  ~Serve();
  Serve(const Serve&) = delete;
  Serve& operator=(const Serve&) = delete;

  int port() const { return port_; }
  std::string log() const { return process_->log(); }
  Process& process() { return *process_; }

 private:
  TempDir dir_;
  std::unique_ptr<Process> process_;
  int port_ = 0;
};

// Fails the test with the process output when the exit code differs.
void expect_exit(const RunResult& r, int code);

// Loads the simulator's expected dataset and checks that `events` holds exactly the ids to be
// stored, each with the exact instant, and that every malformed event sits in quarantine;
// with `require_done`, also that the checkpoint says the pass is complete.
void check_exact_dataset(const Sim& sim, const TestDatabase& db, bool require_done = true);

std::string env_or(const char* name, std::string fallback);

}  // namespace testsupport
