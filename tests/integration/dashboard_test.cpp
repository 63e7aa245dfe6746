// The dashboard in a real headless Chromium (Debian's chromium) against `ingestd serve` on an
// ingested database: what the page shows is compared with what the API answers.
#include <doctest/doctest.h>
#include <httplib.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "png.hpp"
#include "support.hpp"

using namespace testsupport;
using nlohmann::json;

namespace {

constexpr const char* kChromium = "/usr/bin/chromium";

// Runs headless Chromium on `url` with `mode` (--dump-dom, --screenshot=…); the output holds
// Chromium's own log, console messages included, and the DOM when dumped.
RunResult chromium(const std::string& url, const std::vector<std::string>& mode,
                   const std::string& window = "1280,900") {
  REQUIRE_MESSAGE(std::filesystem::exists(kChromium),
                  "Chromium is not installed: run scripts/install-deps.sh");
  TempDir profile;
  std::vector<std::string> argv = {kChromium,
                                   "--headless",
                                   "--disable-gpu",
                                   "--no-first-run",
                                   "--user-data-dir=" + profile.path().string(),
                                   "--window-size=" + window,
                                   "--enable-logging=stderr",
                                   "--v=0",
                                   "--virtual-time-budget=6000"};
  if (geteuid() == 0) argv.push_back("--no-sandbox");
  argv.insert(argv.end(), mode.begin(), mode.end());
  argv.push_back(url);
  RunResult r = run(argv, {{"HOME", profile.path().string()}}, 90s);
  INFO(r.output.substr(0, 4000));
  REQUIRE(r.exit_code == 0);
  return r;
}

std::string dom_of(const RunResult& r) {
  const auto begin = r.output.find("<html");
  const auto end = r.output.rfind("</html>");
  REQUIRE_MESSAGE(begin != std::string::npos, r.output.substr(0, 4000));
  REQUIRE(end != std::string::npos);
  return r.output.substr(begin, end + 7 - begin);
}

// Console messages (errors, uncaught exceptions, failed loads) as Chromium logs them.
std::vector<std::string> console_lines(const std::string& output) {
  std::vector<std::string> lines;
  std::istringstream in(output);
  for (std::string line; std::getline(in, line);) {
    if (line.find("CONSOLE") != std::string::npos || line.find("Uncaught") != std::string::npos) {
      lines.push_back(line);
    }
  }
  return lines;
}

json get(int port, const std::string& path) {
  httplib::Client client("127.0.0.1", port);
  auto res = client.Get(path.c_str());
  REQUIRE(res);
  REQUIRE(res->status == 200);
  return json::parse(res->body);
}

}  // namespace

TEST_CASE(
    "dashboard in headless Chromium: no console errors, live figures, charts drawn, explorer "
    "equals the API") {
  Sim sim(sim_args(1717, 20'000, {"--unlimited", "--fault-exotic", "0.01"}));
  TestDatabase db;
  expect_exit(run(ingestd({"run"}), paged_env(sim, db)), 0);
  Serve serve({{"DATABASE_URL", db.url()}, {"LOG_FORMAT", "text"}});
  const std::string base = "http://127.0.0.1:" + std::to_string(serve.port());

  const json status = get(serve.port(), "/v1/status");
  const std::string user =
      db.text("SELECT user_id FROM events WHERE user_id IS NOT NULL ORDER BY id LIMIT 1");
  const std::string page = base + "/?user=" + user + "&bucket=1d";

  const RunResult loaded = chromium(page, {"--dump-dom"});
  CHECK_MESSAGE(console_lines(loaded.output).empty(), loaded.output.substr(0, 4000));
  const std::string dom = dom_of(loaded);

  // The stored-events figure is /v1/status's.
  std::smatch m;
  REQUIRE(std::regex_search(dom, m, std::regex(R"re(data-stored="(\d+)")re")));
  CHECK(std::stoll(m[1].str()) == status["stored_events"].get<std::int64_t>());
  REQUIRE(std::regex_search(dom, m, std::regex(R"re(id="stored">([0-9,]+)<)re")));
  std::string shown = m[1].str();
  std::erase(shown, ',');
  CHECK(std::stoll(shown) == status["stored_events"].get<std::int64_t>());

  // The explorer's chart data for the user is the API's buckets, in order.
  const json api = get(serve.port(), "/v1/users/" + user + "/event_counts?bucket=1d");
  std::vector<std::pair<std::string, std::int64_t>> shown_buckets;
  const std::regex row(R"re(<tr><td>([^<]+)</td><td>(\d+)</td></tr>)re");
  for (auto it = std::sregex_iterator(dom.begin(), dom.end(), row); it != std::sregex_iterator();
       ++it) {
    shown_buckets.emplace_back((*it)[1].str(), std::stoll((*it)[2].str()));
  }
  REQUIRE(shown_buckets.size() == api["buckets"].size());
  for (std::size_t i = 0; i < shown_buckets.size(); ++i) {
    CHECK(shown_buckets[i].first == api["buckets"][i]["start"].get<std::string>());
    CHECK(shown_buckets[i].second == api["buckets"][i]["count"].get<std::int64_t>());
  }
  CHECK(api["total"].get<std::int64_t>() > 0);

  // Screenshots at 1280 and 400 px: the bars (#1f6feb) are drawn, the page is not blank.
  const std::filesystem::path out = std::filesystem::path(ingestd_binary()).parent_path();
  for (const auto& [file, window] :
       {std::pair{"dashboard.png", "1280,900"}, std::pair{"dashboard-400px.png", "400,1400"}}) {
    CAPTURE(file);
    const RunResult shot =
        chromium(page, {"--screenshot=" + (out / file).string(), "--hide-scrollbars"}, window);
    CHECK(console_lines(shot.output).empty());
    const Image image = read_png(out / file);
    std::set<std::uint32_t> colours(image.pixels.begin(), image.pixels.end());
    const auto blue = std::count(image.pixels.begin(), image.pixels.end(), 0x1f6febu);
    CHECK(colours.size() > 50);
    CHECK(blue > 2000);
  }
}

TEST_CASE("dashboard with SERVE_API_KEY: the page asks for the key before showing data") {
  TestDatabase db;
  expect_exit(run(ingestd({"migrate"}), {{"DATABASE_URL", db.url()}}), 0);
  Serve serve({{"DATABASE_URL", db.url()}, {"SERVE_API_KEY", "dash-key"}});
  const RunResult loaded =
      chromium("http://127.0.0.1:" + std::to_string(serve.port()) + "/", {"--dump-dom"});
  const std::string dom = dom_of(loaded);
  CHECK(
      dom.find(
          R"(id="key-dialog" role="dialog" aria-modal="true" aria-labelledby="key-title" class="open")") !=
      std::string::npos);
  CHECK(dom.find("data-stored") == std::string::npos);
  // The page itself and Chart.js need no key; the API does.
  httplib::Client client("127.0.0.1", serve.port());
  CHECK(client.Get("/")->status == 200);
  CHECK(client.Get("/assets/chart.min.js")->status == 200);
  CHECK(client.Get("/v1/status")->status == 401);
}
