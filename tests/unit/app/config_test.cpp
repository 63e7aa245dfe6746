#include "app/config.hpp"

#include <doctest/doctest.h>

#include "common/database_url.hpp"
#include "ingestd/errors.hpp"

using namespace ingestd;

namespace {

ConfigLayer layer(std::string origin, std::map<std::string, std::string> values,
                  bool reject_unknown = true) {
  return {std::move(origin), std::move(values), reject_unknown};
}

std::map<std::string, std::string> minimal() {
  return {{"UPSTREAM_BASE_URL", "http://127.0.0.1:8080"},
          {"UPSTREAM_API_KEY", "k"},
          {"DATABASE_URL", "postgresql://u@127.0.0.1/db"}};
}

std::string error_of(const std::vector<ConfigLayer>& layers, Command command = Command::run) {
  try {
    resolve_config(layers, command);
  } catch (const ConfigError& e) {
    CHECK(e.exit_code() == 2);
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("defaults apply when only the three required settings are given") {
  const Config c = resolve_config({layer("environment", minimal(), false)}, Command::run);
  CHECK(c.page_limit == 5000);
  CHECK(c.submit_on_finish);
  CHECK(c.submission_url == "http://127.0.0.1:8080/api/v1/submissions");
  CHECK(c.events_url() == "http://127.0.0.1:8080/api/v1/events");
}

TEST_CASE("later layers win: .env < environment < command line") {
  auto env = minimal();
  env["PAGE_LIMIT"] = "200";
  const Config c = resolve_config(
      {layer(".env", {{"PAGE_LIMIT", "100"}, {"LOG_LEVEL", "debug"}}),
       layer("environment", env, false), layer("the command line", {{"PAGE_LIMIT", "300"}})},
      Command::run);
  CHECK(c.page_limit == 300);
  CHECK(c.log_level == "debug");
}

TEST_CASE("a trailing /api/v1 or slash in the base URL is not doubled") {
  auto env = minimal();
  env["UPSTREAM_BASE_URL"] = "https://api.example.com/api/v1/";
  const Config c = resolve_config({layer("environment", env, false)}, Command::run);
  CHECK(c.events_url() == "https://api.example.com/api/v1/events");
}

TEST_CASE("each invalid setting is named in one clear line") {
  CHECK(error_of({layer(".env", {{"PAGE_SIZE", "10"}})}) ==
        "config: unknown key PAGE_SIZE in .env");
  auto env = minimal();
  env["PAGE_LIMIT"] = "abc";
  CHECK(error_of({layer("environment", env, false)}) ==
        "config: PAGE_LIMIT must be an integer from 1 to 5000 (got \"abc\" from environment)");
  env["PAGE_LIMIT"] = "5001";
  CHECK(error_of({layer("environment", env, false)}) ==
        "config: PAGE_LIMIT must be an integer from 1 to 5000 (got \"5001\" from environment)");
  env = minimal();
  env["UPSTREAM_BASE_URL"] = "ftp://x";
  CHECK(error_of({layer("environment", env, false)}) ==
        "config: UPSTREAM_BASE_URL must be an http:// or https:// URL (got \"ftp://x\" from "
        "environment)");
  env = minimal();
  env.erase("UPSTREAM_API_KEY");
  CHECK(error_of({layer("environment", env, false)}) ==
        "config: UPSTREAM_API_KEY (or UPSTREAM_API_KEYS) is required when UPSTREAM_BASE_URL is "
        "set");
  env = minimal();
  env["HTTP_TIMEOUT_S"] = "0";
  CHECK(error_of({layer("environment", env, false)}) ==
        "config: HTTP_TIMEOUT_S must be a number of seconds from 1 to 3600 (got \"0\" from "
        "environment)");
  env = minimal();
  env["SUBMIT_ON_FINISH"] = "maybe";
  CHECK(error_of({layer("environment", env, false)}) ==
        "config: SUBMIT_ON_FINISH must be true or false (got \"maybe\" from environment)");
  env = minimal();
  env["RATE_LIMIT"] = "10 per minute";
  CHECK(error_of({layer("environment", env, false)}) ==
        "config: RATE_LIMIT must be N/<duration> with N >= 1 and a duration in ms, s or m, e.g. "
        "10/60s (got \"10 per minute\" from environment)");
}

TEST_CASE("UPSTREAM_API_KEYS: keys in order, one of the two settings, never shown") {
  auto env = minimal();
  env.erase("UPSTREAM_API_KEY");
  env["UPSTREAM_API_KEYS"] = " k1, k2 ,k3";
  const Config c = resolve_config({layer("environment", env, false)}, Command::run);
  CHECK(c.api_keys == std::vector<std::string>{"k1", "k2", "k3"});
  env["UPSTREAM_API_KEY"] = "k0";
  CHECK(error_of({layer("environment", env, false)})
            .find("UPSTREAM_API_KEY and UPSTREAM_API_KEYS are both set") != std::string::npos);
  env.erase("UPSTREAM_API_KEY");
  env["UPSTREAM_API_KEYS"] = "k1,,k3";
  CHECK(error_of({layer("environment", env, false)}) ==
        "config: UPSTREAM_API_KEYS has an empty entry at position 2 (got <redacted> from "
        "environment)");
  env["UPSTREAM_API_KEYS"] = "k1,k2,k1";
  CHECK(error_of({layer("environment", env, false)}) ==
        "config: UPSTREAM_API_KEYS names the same key at positions 1 and 3 (got <redacted> from "
        "environment)");
  env = minimal();
  CHECK(resolve_config({layer("environment", env, false)}, Command::run).api_keys.size() == 1);
}

TEST_CASE("RATE_LIMIT: N/<duration>, or unset for the server's word") {
  using ingestd::parse_rate_ceiling;
  using std::chrono::milliseconds;
  CHECK(parse_rate_ceiling("10/60s")->limit == 10);
  CHECK(parse_rate_ceiling("10/60s")->window == milliseconds(60'000));
  CHECK(parse_rate_ceiling("5/500ms")->window == milliseconds(500));
  CHECK(parse_rate_ceiling(" 10 / 1m ")->window == milliseconds(60'000));
  CHECK(parse_rate_ceiling("3/1.5s")->window == milliseconds(1'500));
  for (const char* bad : {"", "10", "0/1s", "10/0s", "10/s", "-1/1s", "10/60", "10/2h", "x/1s"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_rate_ceiling(bad).has_value());
  }
  auto env = minimal();
  CHECK_FALSE(ingestd::resolve_config({layer("environment", env, false)}, Command::run)
                  .rate_limit.has_value());
  env["RATE_LIMIT"] = "4/1s";
  const auto c = ingestd::resolve_config({layer("environment", env, false)}, Command::run);
  REQUIRE(c.rate_limit.has_value());
  CHECK(c.rate_limit->limit == 4);
}

TEST_CASE("unknown variables in the process environment are ignored") {
  auto env = minimal();
  env["HOME"] = "/root";
  CHECK_NOTHROW(resolve_config({layer("environment", env, false)}, Command::run));
}

TEST_CASE("a secret is never echoed in a validation message") {
  auto env = minimal();
  env["DATABASE_URL"] = "mysql://u:s3cret@h/db";
  const std::string msg = error_of({layer("environment", env, false)});
  CHECK(msg.find("s3cret") == std::string::npos);
  CHECK(msg.find("<redacted>") != std::string::npos);
  CHECK(redact_database_url("postgresql://u:s3cret@h:5432/db") == "postgresql://u:***@h:5432/db");
  CHECK(redact_database_url("host=h password=s3cret dbname=d") == "host=h password=*** dbname=d");
  CHECK(redact_database_url("postgresql://u@h/db?password=s3cret&x=1") ==
        "postgresql://u@h/db?password=***&x=1");
}

TEST_CASE(".env parsing: comments, export, quotes and malformed lines") {
  const auto v = parse_dotenv("# c\nexport A=1\nB=\"two words\" \nC=x # note\n\n", ".env");
  CHECK(v.at("A") == "1");
  CHECK(v.at("B") == "two words");
  CHECK(v.at("C") == "x");
  CHECK_THROWS_WITH_AS(parse_dotenv("A=1\nnot a pair\n", ".env"),
                       "config: .env line 2: expected KEY=VALUE", ConfigError);
}

TEST_CASE("serve settings: address defaulted for serve only, limit and body cap checked") {
  auto env = minimal();
  CHECK(resolve_config({layer("environment", env, false)}, Command::run).serve_addr.empty());
  const auto serve = resolve_config({layer("environment", env, false)}, Command::serve);
  CHECK(serve.serve_addr == "127.0.0.1:8080");
  CHECK_FALSE(serve.serve_rate_limit.has_value());
  CHECK(serve.ingest_max_body == 16 * 1024 * 1024);
  env["SERVE_RATE_LIMIT"] = "100/1s";
  CHECK(
      resolve_config({layer("environment", env, false)}, Command::serve).serve_rate_limit->limit ==
      100);
  env["SERVE_RATE_LIMIT"] = "lots";
  CHECK(error_of({layer("environment", env, false)}) ==
        "config: SERVE_RATE_LIMIT must be N/<duration> with N >= 1 and a duration in ms, s or m, "
        "e.g. 100/1s (got \"lots\" from environment)");
  env = minimal();
  env["SERVE_ADDR"] = "8080";
  CHECK(error_of({layer("environment", env, false)}) ==
        "config: SERVE_ADDR must be host:port (got \"8080\" from environment)");
  env = minimal();
  env["SERVE_API_KEY"] = "s3cret";
  env["INGEST_MAX_BODY"] = "10";
  CHECK(error_of({layer("environment", env, false)}) ==
        "config: INGEST_MAX_BODY must be an integer from 1024 to 1073741824 (got \"10\" from "
        "environment)");
}
