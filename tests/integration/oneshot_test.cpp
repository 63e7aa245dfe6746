// ./run-ingestion.sh in demo mode from a fresh clone wherever a user may put one: as root below a
// directory only root can enter and a path with a space and non-ASCII characters, and as an
// ordinary user in a home of their own. Each run builds, ingests, submits; a rerun does nothing;
// --serve keeps the dashboard up after ingestion until Ctrl-C.
#include <doctest/doctest.h>
#include <httplib.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <thread>

#include "support.hpp"

using namespace testsupport;
namespace fs = std::filesystem;

namespace {

const std::map<std::string, std::string> kDemoEnv = {
    {"UPSTREAM_BASE_URL", ""}, {"UPSTREAM_API_KEY", ""}, {"DATABASE_URL", ""}};

void clone_to(const fs::path& dest) {
  expect_exit(
      run({"/usr/bin/git", "clone", "--quiet", "--local", INGESTD_SOURCE_DIR, dest.string()}, {}),
      0);
}

// Runs the demo twice through `prefix` (empty, or runuser for another user) and checks both.
void demo_twice(const fs::path& clone, const std::vector<std::string>& prefix) {
  std::vector<std::string> argv = prefix;
  argv.push_back((clone / "run-ingestion.sh").string());
  auto r = run(argv, kDemoEnv, 900s, clone);
  expect_exit(r, 0);
  CHECK(r.output.find("DEMO") != std::string::npos);
  CHECK(r.output.find("200,000 of 200,000") != std::string::npos);
  CHECK(r.output.find("attempt 1: accepted (received 200000, missing 0, duplicates 0)") !=
        std::string::npos);
  CHECK(r.output.find("embedded PostgreSQL in ") != std::string::npos);
  CHECK(r.output.find("run-ingestion: dashboard: http://127.0.0.1:") != std::string::npos);
  // Only what building and running need: the test tools are scripts/test.sh's.
  CHECK(r.output.find(" packages for building and running ") != std::string::npos);
  CHECK(r.output.find("for building, running and testing") == std::string::npos);
  r = run(argv, kDemoEnv, 300s, clone);
  expect_exit(r, 0);
  CHECK(r.output.find("ingestion already complete") != std::string::npos);
  CHECK(r.output.find("already accepted") != std::string::npos);

  // The last run's status, with the embedded PostgreSQL started for the look and stopped after.
  std::vector<std::string> status = argv;
  status.emplace_back("status");
  r = run(status, kDemoEnv, 120s, clone);
  expect_exit(r, 0);
  CHECK(r.output.find("the last run against the bundled simulator (demo)") != std::string::npos);
  CHECK(r.output.find("state           ingestion complete") != std::string::npos);
  CHECK(r.output.find("events stored   200000 of 200000") != std::string::npos);
  CHECK(r.output.find("#1 accepted") != std::string::npos);
  std::vector<std::string> pg_status = prefix;
  pg_status.push_back((clone / "scripts" / "pg-local.sh").string());
  pg_status.emplace_back("status");
  CHECK(run(pg_status, {}, 60s, clone).exit_code != 0);
}

TEST_CASE("the one-shot's packages hold no test tool, and scripts/test.sh's add them") {
  const std::string script = std::string(INGESTD_SOURCE_DIR) + "/scripts/install-deps.sh";
  const auto runtime = run({script, "--list"}, {});
  const auto all = run({script, "--list", "--test"}, {});
  expect_exit(runtime, 0);
  expect_exit(all, 0);
  for (const char* tool :
       {"chromium", "wrk", "shellcheck", "lintian", "doctest-dev", "python3-jsonschema"}) {
    CAPTURE(tool);
    CHECK(runtime.output.find(std::string("\n") + tool + "\n") == std::string::npos);
    CHECK(all.output.find(std::string("\n") + tool + "\n") != std::string::npos);
  }
  // yaml-cpp reads source profiles (docs/PROFILES.md).
  for (const char* needed : {"libsoci-dev", "postgresql", "libjs-chart.js", "libyaml-cpp-dev"}) {
    CHECK(runtime.output.find(std::string("\n") + needed + "\n") != std::string::npos);
  }
}

// A cluster placed outside the checkout is removed with the test.
void remove_relocated_cluster(const fs::path& clone) {
  std::ifstream location(clone / ".state" / "pg" / "location");
  std::string where;
  if (std::getline(location, where) && where.starts_with("/var/tmp/ingestd-pg/")) {
    fs::remove_all(where);
  }
}

// `--serve` in a clone whose demo is complete: the dashboard and read API stay up after the
// (empty) rerun until Ctrl-C, which ends the script with 0.
void serve_after_ingestion(const fs::path& clone, const fs::path& log) {
  Process demo(Process::Options{
      {(clone / "run-ingestion.sh").string(), "--serve"}, kDemoEnv, clone, log, false, true});
  const std::string marker = "serving the dashboard and read API on http://127.0.0.1:";
  int port = 0;
  const auto deadline = std::chrono::steady_clock::now() + 300s;
  while (port == 0 && std::chrono::steady_clock::now() < deadline && demo.running()) {
    const std::string log = demo.log();
    if (const auto at = log.find(marker); at != std::string::npos) {
      port = std::stoi(log.substr(at + marker.size()));
    }
    std::this_thread::sleep_for(200ms);
  }
  REQUIRE_MESSAGE(port > 0, demo.log());
  CHECK(demo.log().find("run-ingestion: dashboard: http://127.0.0.1:" + std::to_string(port)) !=
        std::string::npos);
  httplib::Client client("127.0.0.1", port);
  std::optional<httplib::Result> page;
  for (int i = 0; i < 600; ++i) {  // the server may still be binding
    if (auto res = client.Get("/"); res && res->status == 200) {
      page.emplace(std::move(res));
      break;
    }
    std::this_thread::sleep_for(100ms);
  }
  REQUIRE(page.has_value());
  CHECK((*page)->body.find("<title>ingestd</title>") != std::string::npos);
  auto status = client.Get("/v1/status");
  REQUIRE(status);
  CHECK(status->body.find("\"stored_events\":200000") != std::string::npos);
  // Ctrl-C: the terminal signals the whole group.
  demo.signal_group(SIGINT);
  const auto code = demo.wait_for(60s);
  REQUIRE(code.has_value());
  CHECK(*code == 0);
  CHECK_FALSE(client.Get("/"));
}

}  // namespace

// One clone exercises both: the build and the one-shot run cost most of this suite's time.
TEST_CASE(
    "run-ingestion.sh below a 0700 directory (as root) and a path with a space and non-ASCII "
    "characters, then --serve") {
  const bool root = ::geteuid() == 0;
  TempDir dir;
  const fs::path closed = dir.path() / "private";
  fs::create_directory(closed);
  if (root) fs::permissions(closed, fs::perms::owner_all, fs::perm_options::replace);
  const fs::path clone = closed / "my projects" / "ingestd-\xc3\xa9t\xc3\xa9 \xe2\x9c\x93";
  fs::create_directories(clone.parent_path());
  clone_to(clone);
  demo_twice(clone, {});
  if (root) {
    std::ifstream location(clone / ".state" / "pg" / "location");
    std::string where;
    CHECK(std::getline(location, where));
    CHECK(where.starts_with("/var/tmp/ingestd-pg/ingestd-"));
    // The user's directory keeps its mode.
    CHECK(fs::status(closed).permissions() == fs::perms::owner_all);
  }
  serve_after_ingestion(clone, dir.path() / "serve.log");
  remove_relocated_cluster(clone);
}

TEST_CASE("run-ingestion.sh as an ordinary user in a home of their own") {
  if (::geteuid() != 0) {
    MESSAGE("skipped: creating a user needs root");
    return;
  }
  TempDir dir;
  const std::string user = "ingestd-e2e-" + std::to_string(::getpid());
  const fs::path home = dir.path() / "home";
  const auto added = run({"/usr/sbin/useradd", "--create-home", "--home-dir", home.string(),
                          "--shell", "/bin/bash", user},
                         {});
  if (added.exit_code != 0) {
    MESSAGE("skipped: useradd failed: " << added.output);
    return;
  }
  struct RemoveUser {
    std::string name;
    ~RemoveUser() { run({"/usr/sbin/userdel", "--force", name}, {}); }
  } remove_user{user};
  // The temporary directory above the home must let its owner in, as /home does.
  fs::permissions(dir.path(), fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec,
                  fs::perm_options::replace);
  const fs::path clone = home / "ingestd";
  clone_to(clone);
  expect_exit(run({"/bin/chown", "-R", user + ":", home.string()}, {}), 0);
  demo_twice(clone, {"/usr/sbin/runuser", "-u", user, "--"});
  CHECK_FALSE(fs::exists(clone / ".state" / "pg" / "location"));
}
