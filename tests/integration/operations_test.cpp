// Operating ingestd: systemd notifications, the unit file, Prometheus metrics.
#include <doctest/doctest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

#include "support.hpp"

using namespace testsupport;

namespace {

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

double metric_value(const std::string& text, const std::string& name) {
  std::smatch m;
  const std::regex re("(^|\n)" + name + " ([0-9.e+]+)");
  return std::regex_search(text, m, re) ? std::stod(m[2]) : -1;
}

}  // namespace

TEST_CASE("sd_notify: READY=1, STATUS= progress and WATCHDOG=1 reach NOTIFY_SOCKET") {
  TempDir dir;
  const auto socket_path = dir.path() / "notify.sock";
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, socket_path.c_str(), sizeof addr.sun_path - 1);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  timeval tv{0, 100'000};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);

  Sim sim({"--events", "20000", "--limit", "10", "--window-s", "1", "--latency-ms-per-event", "0"});
  TestDatabase db;
  auto env = ingest_env(sim, db);
  env["PAGE_LIMIT"] = "1000";
  env["SUBMIT_ON_FINISH"] = "false";
  env["PROGRESS_INTERVAL_S"] = "0.2";
  env["NOTIFY_SOCKET"] = socket_path.string();
  env["WATCHDOG_USEC"] = "2000000";
  Process p({ingestd({"run"}), env, dir.path(), dir.path() / "run.log", false});
  std::vector<std::string> messages;
  while (p.running()) {
    char buf[4096];
    const auto n = ::recv(fd, buf, sizeof buf, 0);
    if (n > 0) messages.emplace_back(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  INFO(p.log());
  REQUIRE(p.wait_for(0ms) == 0);
  auto has = [&](const std::string& prefix) {
    return std::any_of(messages.begin(), messages.end(),
                       [&](const std::string& m) { return m.starts_with(prefix); });
  };
  CHECK(has("READY=1"));
  CHECK(has("STATUS=events "));
  CHECK(has("WATCHDOG=1"));
  CHECK(has("STATUS=ingestion complete"));
}

TEST_CASE("systemd-analyze verify accepts config/ingestd.service") {
  if (::access("/usr/bin/systemd-analyze", X_OK) != 0 &&
      ::access("/bin/systemd-analyze", X_OK) != 0) {
    MESSAGE("systemd-analyze is not installed: unit verification skipped");
    return;
  }
  TempDir dir;
  std::ifstream in(std::string(INGESTD_SOURCE_DIR) + "/config/ingestd.service");
  std::stringstream unit;
  unit << in.rdbuf();
  // verify checks that ExecStart exists; point it at the binary under test.
  const std::string text =
      std::regex_replace(unit.str(), std::regex("/usr/bin/ingestd"), ingestd_binary());
  std::ofstream(dir.path() / "ingestd.service") << text;
  const auto r =
      run({"/usr/bin/systemd-analyze", "verify", (dir.path() / "ingestd.service").string()}, {});
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK(r.output.find("ingestd.service") == std::string::npos);
}

TEST_CASE("the metrics endpoint serves moving counters during a run") {
  Sim sim({"--events", "40000", "--limit", "10", "--window-s", "1", "--latency-ms-per-event", "0"});
  TestDatabase db;
  auto env = ingest_env(sim, db);
  const int port = free_port();
  env["PAGE_LIMIT"] = "1000";
  env["SUBMIT_ON_FINISH"] = "false";
  env["METRICS_ADDR"] = "127.0.0.1:" + std::to_string(port);
  TempDir dir;
  Process p({ingestd({"run"}), env, dir.path(), dir.path() / "run.log", false});
  httplib::Client client("127.0.0.1", port);
  std::vector<double> seen;
  std::string last;
  for (int i = 0; i < 100 && p.running(); ++i) {
    std::this_thread::sleep_for(150ms);
    if (auto res = client.Get("/metrics"); res && res->status == 200) {
      last = res->body;
      seen.push_back(metric_value(last, "ingestd_events_inserted_total"));
    }
  }
  INFO(p.log());
  REQUIRE(p.wait_for(60s) == 0);
  REQUIRE(seen.size() >= 3);
  CHECK(seen.back() > seen.front());
  CHECK(last.find("ingestd_http_requests_total{status=\"2xx\"}") != std::string::npos);
  CHECK(last.find("ingestd_batch_commit_seconds_bucket") != std::string::npos);
  CHECK(last.find("ingestd_queue_depth{queue=\"fetched\"}") != std::string::npos);
  CHECK(metric_value(last, "ingestd_rate_limit_requests") == 10);
  // One key: its series carry key="1".
  CHECK(metric_value(last, "ingestd_key_requests_total\\{key=\"1\"\\}") > 0);
  CHECK(metric_value(last, "ingestd_key_rate_limited_total\\{key=\"1\"\\}") == 0);
  CHECK(metric_value(last, "ingestd_key_retired\\{key=\"1\"\\}") == 0);
}
