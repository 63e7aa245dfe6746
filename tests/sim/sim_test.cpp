#include <doctest/doctest.h>
#include <httplib.h>
#include <simdjson.h>

#include <algorithm>
#include <chrono>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "dataset.hpp"
#include "server.hpp"

using namespace upstream_sim;

namespace {

ServerOptions fast_options(std::uint64_t events) {
  ServerOptions o;
  o.dataset.events = events;
  o.latency_ms_per_event = 0;
  o.unlimited = true;
  return o;
}

// A limited server of 1,000 events without a cache: every request counts.
ServerOptions limited_options(int limit, double window_s) {
  ServerOptions o = fast_options(1000);
  o.unlimited = false;
  o.limit = limit;
  o.window_s = window_s;
  o.cache = false;
  return o;
}

httplib::Headers key_header() {
  return {{"X-API-Key", "test-key"}};
}

struct Page {
  int status = 0;
  std::vector<std::string> ids;
  std::string cursor;
  bool has_more = false;
  std::int64_t limit = 0;
};

Page get_page(httplib::Client& client, int limit, const std::string& cursor) {
  std::string path = "/api/v1/events?limit=" + std::to_string(limit);
  if (!cursor.empty()) path += "&cursor=" + httplib::detail::encode_query_param(cursor);
  auto res = client.Get(path.c_str(), key_header());
  REQUIRE(res);
  Page page;
  page.status = res->status;
  if (res->status != 200) return page;
  simdjson::dom::parser parser;
  simdjson::dom::element root = parser.parse(res->body);
  for (simdjson::dom::element e : root["data"].get_array()) {
    page.ids.emplace_back(std::string_view(e["id"]));
  }
  page.has_more = bool(root["pagination"]["hasMore"]);
  page.limit = std::int64_t(root["pagination"]["limit"]);
  if (page.has_more) page.cursor = std::string(std::string_view(root["pagination"]["nextCursor"]));
  return page;
}

std::vector<std::vector<std::string>> expected_rows(httplib::Client& client) {
  auto res = client.Get("/internal/expected");
  REQUIRE(res);
  REQUIRE(res->status == 200);
  std::vector<std::vector<std::string>> rows;
  std::istringstream in(res->body);
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> cols;
    std::size_t from = 0;
    for (;;) {
      const auto tab = line.find('\t', from);
      cols.push_back(line.substr(from, tab - from));
      if (tab == std::string::npos) break;
      from = tab + 1;
    }
    rows.push_back(std::move(cols));
  }
  return rows;
}

std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

// An independent reading of every timestamp form the contract allows, in microseconds.
std::int64_t parse_timestamp(simdjson::dom::element ts) {
  if (ts.is_int64()) {
    const std::int64_t v = ts.get_int64();
    return v < 100'000'000'000 ? v * 1'000'000 : v * 1'000;
  }
  const std::string s(std::string_view(ts.get_string()));
  if (s.find_first_not_of("0123456789") == std::string::npos) {
    const std::int64_t v = std::stoll(s);
    return v < 100'000'000'000 ? v * 1'000'000 : v * 1'000;
  }
  REQUIRE(s.size() >= 20);
  CHECK((s[10] == 'T' || s[10] == ' '));
  const std::int64_t days =
      days_from_civil(std::stoi(s.substr(0, 4)), static_cast<unsigned>(std::stoi(s.substr(5, 2))),
                      static_cast<unsigned>(std::stoi(s.substr(8, 2))));
  std::int64_t us = (days * 86400 + std::stoi(s.substr(11, 2)) * 3600 +
                     std::stoi(s.substr(14, 2)) * 60 + std::stoi(s.substr(17, 2))) *
                    1'000'000;
  std::size_t p = 19;
  if (s[p] == '.') {
    std::string frac;
    for (++p; std::isdigit(static_cast<unsigned char>(s[p])); ++p) frac.push_back(s[p]);
    while (frac.size() < 6) frac.push_back('0');
    us += std::stoll(frac.substr(0, 6));
  }
  if (s[p] == 'Z') return us;
  const int sign = s[p] == '-' ? -1 : 1;
  const int off_min = std::stoi(s.substr(p + 1, 2)) * 60 + std::stoi(s.substr(p + 4, 2));
  return us - sign * std::int64_t{off_min} * 60 * 1'000'000;
}

std::string submit(httplib::Client& client, const std::string& body, int* status,
                   const char* type = "text/plain") {
  auto res = client.Post("/api/v1/submissions?github_repo=https://example.invalid/r", key_header(),
                         body, type);
  REQUIRE(res);
  *status = res->status;
  return res->body;
}

std::string verdict_of(const std::string& body) {
  const auto at = body.find("\"verdict\":");
  REQUIRE(at != std::string::npos);
  return body.substr(at + 10, body.size() - at - 11);
}

}  // namespace

TEST_CASE("index_of inverts the id of every position and rejects other UUIDs") {
  DatasetOptions o;
  o.events = 3'000'000;
  o.seed = 7;
  const Dataset ds(o);
  std::mt19937_64 rng(42);
  for (int k = 0; k < 20000; ++k) {
    const std::uint64_t i = k < 100 ? static_cast<std::uint64_t>(k) : rng() % o.events;
    const std::string id = ds.id(i);
    REQUIRE(id.size() == 36);
    CHECK(id[14] == '4');
    CHECK(ds.index_of(id) == std::optional<std::uint64_t>(i));
  }
  CHECK(ds.index_of(ds.id(o.events - 1)) == std::optional<std::uint64_t>(o.events - 1));
  for (int k = 0; k < 20000; ++k) {
    char uuid[36];
    write_random_uuid(99, 5, static_cast<std::uint64_t>(k), uuid);
    CHECK_FALSE(ds.index_of(std::string_view(uuid, 36)).has_value());
  }
  std::string upper = ds.id(5);
  upper[0] = upper[0] == 'f' ? 'e' : 'f';
  CHECK_FALSE(ds.index_of(upper).has_value());
  CHECK_FALSE(ds.index_of("not-a-uuid").has_value());
  DatasetOptions other = o;
  other.seed = 8;
  CHECK_FALSE(Dataset(other).index_of(ds.id(12345)).has_value());
}

TEST_CASE("every timestamp form denotes ts_us and the order is timestamp DESC, id DESC") {
  DatasetOptions o;
  o.events = 200'000;
  o.ts_weights = {1, 1, 1, 1, 1, 1, 1, 1, 1};
  const Dataset ds(o);
  simdjson::dom::parser parser;
  std::array<int, kTsFormCount> seen{};
  int ties = 0;
  std::string json;
  std::int64_t prev_ts = 0;
  std::string prev_id;
  for (std::uint64_t i = 0; i < o.events; ++i) {
    json.clear();
    ds.append_event(i, json);
    simdjson::dom::element e = parser.parse(json);
    const std::int64_t ts = ds.ts_us(i);
    REQUIRE(parse_timestamp(e["timestamp"]) == ts);
    ++seen[static_cast<std::size_t>(ds.form(i))];
    const std::string id{std::string_view(e["id"])};
    if (i > 0) {
      REQUIRE(ts <= prev_ts);
      if (ts == prev_ts) {
        ++ties;
        REQUIRE(id < prev_id);
      }
    }
    prev_ts = ts;
    prev_id = id;
  }
  for (int count : seen) CHECK(count > 1000);
  CHECK(ties > 100);
  CHECK(ds.ts_us(0) == kNewestMs * 1000);
  json.clear();
  ds.append_event(0, json);
  CHECK(json.find("\"timestamp\":1769541612369,") != std::string::npos);
  CHECK(ds.ts_us(o.events - 1) > days_from_civil(2025, 12, 28) * 86400 * 1'000'000);
}

TEST_CASE("paging 50,000 events at limit 5000 yields exactly the expected ids in order") {
  BackgroundServer server(fast_options(50'000));
  httplib::Client client("127.0.0.1", server.port());
  std::vector<std::string> paged;
  std::string cursor;
  int pages = 0;
  for (;;) {
    const Page page = get_page(client, 5000, cursor);
    REQUIRE(page.status == 200);
    paged.insert(paged.end(), page.ids.begin(), page.ids.end());
    ++pages;
    if (!page.has_more) break;
    cursor = page.cursor;
  }
  CHECK(pages == 10);
  const auto rows = expected_rows(client);
  REQUIRE(rows.size() == 50'000);
  std::vector<std::string> expected;
  for (const auto& r : rows) {
    REQUIRE(r.size() == 6);  // id, instant, store|quarantine, form, userId, type
    CHECK(r[2] == "store");
    expected.push_back(r[0]);
  }
  CHECK(paged == expected);
  CHECK(std::set<std::string>(paged.begin(), paged.end()).size() == 50'000);
}

TEST_CASE("limit is clamped to 5000 and validated") {
  BackgroundServer server(fast_options(12'000));
  httplib::Client client("127.0.0.1", server.port());
  const Page big = get_page(client, 20000, "");
  CHECK(big.status == 200);
  CHECK(big.limit == 5000);
  CHECK(big.ids.size() == 5000);
  auto res = client.Get("/api/v1/events?limit=abc", key_header());
  REQUIRE(res);
  CHECK(res->status == 400);
  CHECK(res->body.find("\"code\":\"INVALID_LIMIT\"") != std::string::npos);
  res = client.Get("/api/v1/events?limit=0", key_header());
  REQUIRE(res);
  CHECK(res->status == 400);
  const Page dflt = get_page(client, 100, "");
  CHECK(dflt.ids.size() == 100);
}

TEST_CASE("the request past the budget gets 429 with consistent headers and body") {
  ServerOptions o = limited_options(3, 5);
  BackgroundServer server(o);
  httplib::Client client("127.0.0.1", server.port());
  for (int k = 0; k < 3; ++k) {
    auto res = client.Get("/api/v1/events?limit=10", key_header());
    REQUIRE(res);
    CHECK(res->status == 200);
    CHECK(res->get_header_value("X-RateLimit-Limit") == "3");
    CHECK(res->get_header_value("X-RateLimit-Remaining") == std::to_string(2 - k));
    CHECK(res->get_header_value("X-RateLimit-Reset") == "5");
  }
  auto res = client.Get("/api/v1/events?limit=10", key_header());
  REQUIRE(res);
  CHECK(res->status == 429);
  CHECK(res->get_header_value("Retry-After") == "5");
  CHECK(res->get_header_value("X-RateLimit-Remaining") == "0");
  CHECK(res->get_header_value("X-RateLimit-Reset") == "5");
  CHECK(res->body ==
        "{\"error\":\"Too Many Requests\",\"message\":\"Rate limit exceeded. Try again in 5 "
        "seconds.\",\"code\":\"RATE_LIMIT_EXCEEDED\",\"rateLimit\":{\"limit\":3,\"remaining\":0,"
        "\"reset\":5,\"retryAfter\":5}}");
  auto stats = client.Get("/internal/stats");
  REQUIRE(stats);
  CHECK(stats->body.find("\"rate_limited\":1,") != std::string::npos);
  CHECK(stats->body.find("\"max_in_window\":4,") != std::string::npos);
}

TEST_CASE("a sliding window frees its first slot after the window") {
  ServerOptions o = limited_options(1, 0.5);
  BackgroundServer server(o);
  httplib::Client client("127.0.0.1", server.port());
  CHECK(client.Get("/api/v1/events?limit=1", key_header())->status == 200);
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  auto res = client.Get("/api/v1/events?limit=1", key_header());
  CHECK(res->status == 200);
  CHECK(res->get_header_value("X-RateLimit-Reset") == "1");
}

TEST_CASE("epoch-floor: Reset is the truncated epoch second the window ends in, with Date") {
  ServerOptions o = limited_options(2, 30);
  o.fixed_window = true;
  o.rate_dialect = RateDialect::epoch_floor;
  BackgroundServer server(o);
  httplib::Client client("127.0.0.1", server.port());
  const auto epoch_ms = [] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  const std::int64_t before = epoch_ms();
  auto first = client.Get("/api/v1/events?limit=1", key_header());
  const std::int64_t after = epoch_ms();
  REQUIRE(first);
  CHECK(first->status == 200);
  const std::int64_t reset = std::stoll(first->get_header_value("X-RateLimit-Reset"));
  CHECK(reset >= (before + 30'000) / 1000);
  CHECK(reset <= (after + 30'000) / 1000);
  CHECK(first->has_header("Date"));
  CHECK(client.Get("/api/v1/events?limit=1", key_header())->status == 200);
  auto refused = client.Get("/api/v1/events?limit=1", key_header());
  CHECK(refused->status == 429);
  // One window: every request in it frees when it ends.
  CHECK(refused->get_header_value("X-RateLimit-Reset") == std::to_string(reset));
}

TEST_CASE("cursor errors and authentication") {
  ServerOptions o = fast_options(1000);
  o.cursor_ttl_s = 1;
  BackgroundServer server(o);
  httplib::Client client("127.0.0.1", server.port());

  auto res = client.Get("/api/v1/events");
  REQUIRE(res);
  CHECK(res->status == 401);
  CHECK(res->body ==
        "{\"error\":\"Unauthorized\",\"message\":\"Invalid or missing API key\","
        "\"code\":\"UNAUTHORIZED\"}");

  res = client.Get("/api/v1/events?cursor=%21%21garbage", key_header());
  REQUIRE(res);
  CHECK(res->status == 400);
  CHECK(res->body ==
        "{\"error\":\"Bad Request\",\"message\":\"Invalid cursor\",\"code\":\"CURSOR_INVALID\"}");

  const std::string unknown =
      base64_encode("{\"id\":\"00000000-0000-4000-8000-000000000000\",\"ts\":1,\"v\":2,\"exp\":" +
                    std::to_string(std::numeric_limits<std::int64_t>::max() / 2) + "}");
  res =
      client.Get(("/api/v1/events?cursor=" + httplib::detail::encode_query_param(unknown)).c_str(),
                 key_header());
  CHECK(res->status == 400);
  CHECK(res->body.find("CURSOR_INVALID") != std::string::npos);

  const Page first = get_page(client, 10, "");
  REQUIRE(first.has_more);
  const auto decoded = base64_decode(first.cursor);
  REQUIRE(decoded);
  CHECK(decoded->starts_with("{\"id\":\"" + first.ids.back() + "\",\"ts\":"));
  std::string url_safe = first.cursor;
  for (char& c : url_safe) c = c == '+' ? '-' : c == '/' ? '_' : c;
  while (!url_safe.empty() && url_safe.back() == '=') url_safe.pop_back();
  const Page second = get_page(client, 10, url_safe);
  REQUIRE(second.status == 200);
  CHECK(second.ids.front() == server.dataset().id(10));

  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  res = client.Get(
      ("/api/v1/events?limit=10&cursor=" + httplib::detail::encode_query_param(second.cursor))
          .c_str(),
      key_header());
  REQUIRE(res);
  CHECK(res->status == 400);
  CHECK(res->body ==
        "{\"error\":\"Bad Request\",\"message\":\"Cursor expired 1 minute(s) ago\","
        "\"code\":\"CURSOR_EXPIRED\"}");
}

TEST_CASE("several keys: a budget each or one shared, expiry, cursors bound to their key") {
  ServerOptions o = limited_options(2, 60);
  o.more_api_keys = {"k2", "k3"};
  o.key_expiry_s = {{3, 0.0}};
  o.cursor_per_key = true;
  BackgroundServer server(o);
  httplib::Client client("127.0.0.1", server.port());
  const auto get = [&](const std::string& key, const std::string& cursor) {
    std::string path = "/api/v1/events?limit=10";
    if (!cursor.empty()) path += "&cursor=" + httplib::detail::encode_query_param(cursor);
    auto res = client.Get(path.c_str(), httplib::Headers{{"X-API-Key", key}});
    REQUIRE(res);
    return std::pair<int, std::string>(res->status, res->body);
  };
  const auto first = get("test-key", "");
  REQUIRE(first.first == 200);
  simdjson::dom::parser parser;
  const std::string cursor(
      parser.parse(first.second).at_pointer("/pagination/nextCursor").get_string().value());
  // Key 1's cursor is refused with key 2, before any budget is spent.
  const auto foreign = get("k2", cursor);
  CHECK(foreign.first == 400);
  CHECK(foreign.second.find("CURSOR_INVALID") != std::string::npos);
  CHECK(get("test-key", cursor).first == 200);
  CHECK(get("test-key", "").first == 429);
  // Key 2 has a budget of its own.
  CHECK(get("k2", "").first == 200);
  CHECK(get("k2", "").first == 200);
  CHECK(get("k2", "").first == 429);
  // An unknown key is refused and never served as another.
  const auto unknown = get("nope", "");
  CHECK(unknown.first == 401);
  CHECK(unknown.second.find("Invalid or missing API key") != std::string::npos);
  // Key 3 expires at its first use.
  const auto expired = get("k3", "");
  CHECK(expired.first == 401);
  CHECK(expired.second.find("API key expired") != std::string::npos);

  ServerOptions shared = limited_options(2, 60);
  shared.more_api_keys = {"k2"};
  shared.shared_quota = true;
  BackgroundServer one_budget(shared);
  httplib::Client other("127.0.0.1", one_budget.port());
  const auto remaining = [&](const std::string& key) {
    auto res = other.Get("/api/v1/events?limit=10", httplib::Headers{{"X-API-Key", key}});
    REQUIRE(res);
    return res->get_header_value("X-RateLimit-Remaining");
  };
  CHECK(remaining("test-key") == "1");
  CHECK(remaining("k2") == "0");
}

TEST_CASE("submission verdicts are exact and the attempt cap holds") {
  ServerOptions o = fast_options(3000);
  o.dataset.malformed = 0.01;
  BackgroundServer server(o);
  const Dataset& ds = server.dataset();
  httplib::Client client("127.0.0.1", server.port());
  std::vector<std::string> storable;
  for (std::uint64_t i = 0; i < ds.size(); ++i) {
    if (ds.storable(i)) storable.push_back(ds.id(i));
  }
  REQUIRE(storable.size() == ds.expected_count());
  REQUIRE(storable.size() < 3000);
  const std::string n = std::to_string(storable.size());
  int status = 0;

  std::string body;
  for (const auto& id : storable) body += id + "\r\n";
  CHECK(verdict_of(submit(client, body, &status)) ==
        "{\"expected\":" + n + ",\"received\":" + n + ",\"unique\":" + n +
            ",\"duplicates\":0,\"missing\":0,\"unknown\":0}");
  CHECK(status == 200);

  body.clear();
  for (std::size_t k = 10; k < storable.size(); ++k) body += storable[k] + "\n";
  body += storable[0] + "\n" + storable[1] + "\n" + storable[2] + "\n" + storable[3] + "\n" +
          storable[4];
  const std::string m = std::to_string(storable.size() - 5);
  CHECK(verdict_of(submit(client, body, &status)) ==
        "{\"expected\":" + n + ",\"received\":" + m + ",\"unique\":" + m +
            ",\"duplicates\":0,\"missing\":5,\"unknown\":0}");

  std::string json = "{\"ids\":\"";
  for (const auto& id : storable) json += id + "\\n";
  for (int k = 0; k < 5; ++k) json += storable[static_cast<std::size_t>(k) * 7] + "\\n";
  json += "00000000-0000-4000-8000-000000000000\\ngarbage\",\"githubRepoUrl\":\"https://x\"}";
  const std::string r = std::to_string(storable.size() + 7);
  const std::string reply = submit(client, json, &status, "application/json");
  CHECK(status == 200);
  CHECK(verdict_of(reply) == "{\"expected\":" + n + ",\"received\":" + r + ",\"unique\":" + n +
                                 ",\"duplicates\":5,\"missing\":0,\"unknown\":2}");
  CHECK(reply.find("\"submissionNumber\":3,\"remainingSubmissions\":2}") != std::string::npos);

  std::uint64_t quarantined = 0;
  while (ds.storable(quarantined)) ++quarantined;
  CHECK(verdict_of(submit(client, ds.id(quarantined), &status)).find("\"unknown\":1}") !=
        std::string::npos);
  submit(client, storable[0], &status);
  CHECK(status == 200);
  const std::string refused = submit(client, storable[0], &status);
  CHECK(status == 429);
  CHECK(refused ==
        "{\"error\":\"Too Many Requests\",\"message\":\"Submission limit reached\","
        "\"code\":\"SUBMISSION_LIMIT_REACHED\"}");
  auto list = client.Get("/api/v1/submissions", key_header());
  REQUIRE(list);
  CHECK(list->body.find("\"total\":5") != std::string::npos);
}

TEST_CASE("malformed events are quarantined in /internal/expected") {
  ServerOptions o = fast_options(5000);
  o.dataset.malformed = 0.05;
  o.dataset.exotic = 0.05;
  BackgroundServer server(o);
  httplib::Client client("127.0.0.1", server.port());
  const auto rows = expected_rows(client);
  REQUIRE(rows.size() == 5000);
  std::uint64_t stores = 0;
  simdjson::dom::parser parser;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const bool store = rows[i][2] == "store";
    stores += store ? 1 : 0;
    CHECK(store == server.dataset().storable(i));
    auto res = client.Get(("/internal/event/" + std::to_string(i)).c_str());
    REQUIRE(res);
    simdjson::dom::element e = parser.parse(res->body);
    CHECK(std::string_view(e["expect"]) == rows[i][2]);
    if (!store) continue;
    CHECK(std::string_view(e["json"]["id"]) == rows[i][0]);
    CHECK(std::to_string(parse_timestamp(e["json"]["timestamp"])) == rows[i][1]);
  }
  CHECK(stores == server.dataset().expected_count());
  CHECK(stores < 4900);
  CHECK(stores > 4600);
}

TEST_CASE("fault decisions are reproducible from the seed") {
  auto run = [] {
    ServerOptions o = fast_options(20'000);
    o.fault_5xx = 0.2;
    o.fault_429_storm = 0.1;
    o.fault_truncate = 0.1;
    o.fault_repeat = 0.2;
    o.fault_garbled_rate_headers = 0.1;
    o.cache = false;
    o.dataset.seed = 3;
    BackgroundServer server(o);
    httplib::Client client("127.0.0.1", server.port());
    std::string trace;
    std::string cursor;
    for (int k = 0; k < 60; ++k) {
      std::string path = "/api/v1/events?limit=500";
      if (!cursor.empty()) path += "&cursor=" + httplib::detail::encode_query_param(cursor);
      auto res = client.Get(path.c_str(), key_header());
      REQUIRE(res);
      trace += std::to_string(res->status) + ":" + res->get_header_value("X-RateLimit-Limit") +
               ":" + std::to_string(res->body.size() / 100) + " ";
      if (res->status != 200) continue;
      simdjson::dom::parser parser;
      simdjson::dom::element root;
      if (parser.parse(res->body).get(root) != simdjson::SUCCESS) continue;
      std::string_view next;
      if (root["pagination"]["nextCursor"].get(next) == simdjson::SUCCESS) cursor = next;
    }
    return trace;
  };
  const std::string a = run();
  CHECK(a == run());
  CHECK(a.find("429:") != std::string::npos);
  CHECK(a.find("200:") != std::string::npos);
  CHECK((a.find("500:") != std::string::npos || a.find("503:") != std::string::npos ||
         a.find("502:") != std::string::npos || a.find("504:") != std::string::npos));
}

TEST_CASE("live feed: new events at the head and late ones inside, paged by keyset positions") {
  Dataset ds(DatasetOptions{.events = 100, .seed = 3});
  const auto t0 = LiveFeed::Clock::time_point{} + std::chrono::hours(1);
  LiveFeed feed(ds, LiveOptions{.rate = 10, .late_every = 4}, t0);
  using std::chrono::seconds;
  // One second in: ten new events, the 4th and 8th of them late (inside the dataset's range).
  const auto head = feed.page(std::nullopt, 5, t0 + seconds(1));
  CHECK(head.total == 110);
  CHECK(head.count == 5);
  REQUIRE(head.last);
  CHECK(head.events.find("event_live") != std::string::npos);
  CHECK(feed.live_count(t0 + seconds(1)) == 10);

  // A pass that began then goes on later: its position still holds and the pages go on
  // strictly older, whatever arrived in between.
  std::vector<OrderKey> seen;
  std::optional<OrderKey> after = head.last;
  for (;;) {
    const auto page = feed.page(after, 7, t0 + seconds(3));
    if (!page.last) break;
    CHECK(before(*after, *page.last));
    seen.push_back(*page.last);
    after = page.last;
  }
  for (std::size_t i = 1; i < seen.size(); ++i) CHECK(before(seen[i - 1], seen[i]));
  REQUIRE(feed.key_of(head.last->id, t0 + seconds(3)) == head.last);
  CHECK_FALSE(feed.key_of("00000000-0000-4000-8000-000000000000", t0 + seconds(3)));

  // Stopped at 4 s: 40 live events exist from then on, and a pass from the head serves exactly
  // them and the dataset, newest first, as /internal/expected lists them.
  CHECK(feed.stop(t0 + seconds(4)) == 140);
  CHECK(feed.live_count(t0 + seconds(60)) == 40);
  std::uint64_t served = 0;
  after.reset();
  for (;;) {
    const auto page = feed.page(after, 9, t0 + seconds(60));
    served += page.count;
    CHECK(page.total == 140);
    if (!page.last) break;
    after = page.last;
  }
  CHECK(served == 140);
  std::string lines;
  feed.append_expected(lines, t0 + seconds(60));
  CHECK(std::count(lines.begin(), lines.end(), '\n') == 40);
  CHECK(lines.find("\tstore\tiso\t") != std::string::npos);
}
