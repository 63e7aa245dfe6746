// sim-bench: pages through a running upstream-sim at limit 5000 and reports the page rate.
#include <httplib.h>
#include <simdjson.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <string>

int main(int argc, char** argv) {
  std::string url;
  std::string api_key = "test-key";
  bool gzip = false;
  CLI::App app{"Throughput of the simulated upstream"};
  app.add_option("--url", url, "http://127.0.0.1:PORT")->required();
  app.add_option("--api-key", api_key, "X-API-Key");
  app.add_flag("--gzip", gzip, "Ask for gzip responses");
  CLI11_PARSE(app, argc, argv);

  httplib::Client client(url);
  client.set_keep_alive(true);
  client.set_read_timeout(120, 0);
  client.set_decompress(gzip);
  httplib::Headers headers = {{"X-API-Key", api_key}};
  if (gzip) headers.emplace("Accept-Encoding", "gzip");

  simdjson::ondemand::parser parser;
  std::string cursor;
  std::uint64_t pages = 0, events = 0;
  const auto start = std::chrono::steady_clock::now();
  for (;;) {
    std::string path = "/api/v1/events?limit=5000";
    if (!cursor.empty()) path += "&cursor=" + httplib::detail::encode_query_param(cursor);
    auto res = client.Get(path.c_str(), headers);
    if (!res || res->status != 200) {
      std::fprintf(
          stderr, "sim-bench: page %llu failed: %s\n", static_cast<unsigned long long>(pages),
          res ? std::to_string(res->status).c_str() : httplib::to_string(res.error()).c_str());
      return 1;
    }
    simdjson::padded_string body(res->body);
    auto doc = parser.iterate(body);
    std::uint64_t returned = 0;
    std::string_view next;
    bool more = false;
    if (doc["pagination"]["hasMore"].get(more) != simdjson::SUCCESS) {
      std::fprintf(stderr, "sim-bench: unreadable page %llu\n",
                   static_cast<unsigned long long>(pages));
      return 1;
    }
    if (more && doc["pagination"]["nextCursor"].get(next) != simdjson::SUCCESS) return 1;
    cursor = more ? std::string(next) : std::string();
    if (doc["meta"]["returned"].get(returned) != simdjson::SUCCESS) return 1;
    ++pages;
    events += returned;
    if (!more) break;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("pages=%llu seconds=%.3f pages_per_s=%.1f events_per_s=%.0f\n",
              static_cast<unsigned long long>(pages), seconds, static_cast<double>(pages) / seconds,
              static_cast<double>(events) / seconds);
  return 0;
}
