// Several API keys against an upstream that gives each its own budget (upstream-sim
// --more-api-keys): each request goes on the key whose next slot is earliest, and a key that is
// refused, expires, shares a budget or binds its cursors is handled without 429s or loops.
// Key 1 is the simulator's --api-key (test-key); the others are k2, k3.
#include <doctest/doctest.h>
#include <signal.h>

#include "support.hpp"

using namespace testsupport;

namespace {

const std::string kThreeKeys = "test-key,k2,k3";

std::vector<std::string> plus(std::vector<std::string> base, const std::vector<std::string>& more) {
  base.insert(base.end(), more.begin(), more.end());
  return base;
}

std::map<std::string, std::string> keys_env(const Sim& sim, const TestDatabase& db,
                                            const std::string& keys,
                                            std::map<std::string, std::string> extra = {}) {
  auto env = paged_env(sim, db, std::move(extra));
  env["UPSTREAM_API_KEY"] = "";
  env["UPSTREAM_API_KEYS"] = keys;
  return env;
}

std::int64_t key_stat(const Sim& sim, int position, const std::string& field) {
  return sim.stat("/keys/" + std::to_string(position - 1) + "/" + field);
}

// 4 requests per second and key, pages of 1,000 events that take about 10 ms.
const std::vector<std::string> kFourPerSecond = {
    "--limit", "4", "--window-s", "1", "--latency-ms-per-event", "0.01"};

}  // namespace

TEST_CASE("3 keys at 4 requests/s each page 90 pages in at most 0.4 x one key's time") {
  double one_s = 0, three_s = 0;
  {
    Sim sim(sim_args(21, 90'000, kFourPerSecond));
    TestDatabase db;
    expect_exit(run(ingestd({"run"}), paged_env(sim, db), 300s), 0);
    check_exact_dataset(sim, db);
    CHECK(sim.stat("/status_counts/429") == 0);
    one_s = sim.paging_seconds();
  }
  {
    Sim sim(sim_args(21, 90'000, plus(kFourPerSecond, {"--more-api-keys", "k2,k3"})));
    TestDatabase db;
    const auto r = run(ingestd({"run"}), keys_env(sim, db, kThreeKeys), 300s);
    expect_exit(r, 0);
    check_exact_dataset(sim, db);
    three_s = sim.paging_seconds();
    for (int k = 1; k <= 3; ++k) {
      CAPTURE(k);
      CHECK(key_stat(sim, k, "rate_limited") == 0);
      CHECK(key_stat(sim, k, "max_in_window") <= 4);
      // Earliest slot first spreads the pages: every key carries about a third.
      CHECK(key_stat(sim, k, "requests") >= 24);
    }
    // The secrets never reach the log; keys are named by position.
    CHECK(r.output.find("k2") == std::string::npos);
  }
  MESSAGE("90 pages at 4/s per key: 1 key " << one_s << " s, 3 keys " << three_s << " s ("
                                            << three_s / one_s << " x)");
  CHECK(three_s <= 0.4 * one_s);
}

TEST_CASE("kill -9 five times with 3 keys: zero 429s on every key across restarts, exact set") {
  Sim sim(sim_args(21, 60'000,
                   {"--limit", "3", "--window-s", "2", "--latency-ms-per-event", "0.05",
                    "--more-api-keys", "k2,k3"}));
  TestDatabase db;
  auto env = keys_env(sim, db, kThreeKeys, {{"PAGE_LIMIT", "500"}});
  const int kills = kill_at_random(env, 5, 20, 500ms, 3000ms, 20261201);
  CHECK(kills == 5);
  expect_exit(run(ingestd({"run"}), env, 300s), 0);
  check_exact_dataset(sim, db);
  for (int k = 1; k <= 3; ++k) {
    CAPTURE(k);
    CHECK(key_stat(sim, k, "rate_limited") == 0);
    CHECK(key_stat(sim, k, "max_in_window") <= 3);
  }
  // One row of rate state per key, none named by the key itself.
  CHECK(db.scalar("SELECT count(*) FROM rate_limit_state") == 3);
  CHECK(db.scalar("SELECT count(*) FROM rate_limit_state WHERE key_fingerprint IN "
                  "('test-key', 'k2', 'k3') OR length(key_fingerprint) <> 16") == 0);
}

TEST_CASE("cursors bound to the key they were issued to: exact, at most 3 answers of 400") {
  Sim sim(
      sim_args(21, 30'000, plus(kFourPerSecond, {"--more-api-keys", "k2,k3", "--cursor-per-key"})));
  TestDatabase db;
  const auto r = run(ingestd({"run"}), keys_env(sim, db, kThreeKeys), 300s);
  expect_exit(r, 0);
  check_exact_dataset(sim, db);
  CHECK(sim.stat("/status_counts/400") <= 3);
  CHECK(sim.stat("/status_counts/429") == 0);
  CHECK(r.output.find("cursors are bound to their key") != std::string::npos);
}

TEST_CASE("one of 3 keys expires mid-run: it is retired by position, the run ends exact") {
  Sim sim(sim_args(21, 60'000,
                   plus(kFourPerSecond, {"--more-api-keys", "k2,k3", "--key-expiry", "1:2"})));
  TestDatabase db;
  auto env = keys_env(sim, db, kThreeKeys,
                      {{"SUBMIT_ON_FINISH", "true"}, {"SUBMISSION_REPO", "https://example.org/r"}});
  const auto r = run(ingestd({"run"}), env, 300s);
  expect_exit(r, 0);
  check_exact_dataset(sim, db);
  CHECK(r.output.find("key 1 of 3 was refused") != std::string::npos);
  CHECK(key_stat(sim, 1, "after_expiry") >= 1);
  CHECK(key_stat(sim, 1, "after_expiry") <= 2);
  CHECK(sim.stat("/status_counts/429") == 0);
  // The submission goes out on the first key still valid, and the ledger says which.
  CHECK(db.text("SELECT key_position || ':' || outcome FROM submissions") == "2:accepted");
}

TEST_CASE("submission attempts are counted per key: when one key's are used, the next key's go") {
  Sim sim(sim_args(21, 2'000,
                   {"--unlimited", "--more-api-keys", "k2", "--submission-cap", "2",
                    "--fault-submit-5xx", "1.0"}));
  TestDatabase db;
  auto env = keys_env(sim, db, "test-key,k2",
                      {{"SUBMIT_ON_FINISH", "true"}, {"SUBMISSION_MAX_ATTEMPTS", "2"}});
  const auto r = run(ingestd({"run"}), env, 120s);
  expect_exit(r, 5);
  // Two attempts on each key, none past the upstream's cap of 2 per key.
  CHECK(db.text("SELECT string_agg(key_position::text, ',' ORDER BY attempt) FROM submissions") ==
        "1,1,2,2");
  CHECK(sim.stat("/submission_attempts") == 4);
  CHECK(r.output.find("key 1 of 2 has used its 2 attempts; the next goes on key 2 of 2") !=
        std::string::npos);
  const auto again = run(ingestd({"submit"}), env, 60s);
  expect_exit(again, 5);
  CHECK(again.output.find("all 2 attempts of every key still valid are used") != std::string::npos);
  CHECK(sim.stat("/submission_attempts") == 4);
}

TEST_CASE("every key expires: exit 3 within 10 s of the last expiry, at most 2 requests each") {
  Sim sim(
      sim_args(21, 200'000,
               plus(kFourPerSecond, {"--more-api-keys", "k2,k3", "--key-expiry", "1:2,2:3,3:4"})));
  TestDatabase db;
  const auto started = std::chrono::steady_clock::now();
  const auto r = run(ingestd({"run"}), keys_env(sim, db, kThreeKeys), 120s);
  expect_exit(r, 3);
  CHECK(std::chrono::steady_clock::now() - started < 14s + 10s);
  for (int k = 1; k <= 3; ++k) {
    CAPTURE(k);
    CHECK(key_stat(sim, k, "after_expiry") >= 1);
    CHECK(key_stat(sim, k, "after_expiry") <= 2);
  }
  CHECK(r.output.find("upstream refused every API key") != std::string::npos);
  CHECK(db.scalar("SELECT count(*) FROM events") > 0);
}

TEST_CASE("keys that share one quota: no speed-up assumed, no 429 after the first") {
  const std::vector<std::string> flags = {
      "--limit", "4", "--window-s", "1", "--latency-ms-per-event", "0.01"};
  double one_s = 0;
  {
    Sim sim(sim_args(21, 40'000, flags));
    TestDatabase db;
    expect_exit(run(ingestd({"run"}), paged_env(sim, db), 300s), 0);
    one_s = sim.paging_seconds();
  }
  Sim sim(sim_args(21, 40'000, plus(flags, {"--more-api-keys", "k2,k3", "--shared-quota"})));
  TestDatabase db;
  const auto r = run(ingestd({"run"}), keys_env(sim, db, kThreeKeys), 300s);
  expect_exit(r, 0);
  check_exact_dataset(sim, db);
  const double shared_s = sim.paging_seconds();
  MESSAGE("40 pages, 4/s: one key " << one_s << " s, 3 keys of one quota " << shared_s << " s, "
                                    << sim.stat("/status_counts/429") << " x 429");
  CHECK(sim.stat("/status_counts/429") <= 1);
  CHECK(sim.stat("/max_in_window") <= 5);
  CHECK(r.output.find("keys 1, 2, 3 spend one budget upstream") != std::string::npos);
  // Paced as the one budget it is: about as long as one key needs, never a third of it.
  CHECK(shared_s >= 0.8 * one_s);
}

TEST_CASE("UPSTREAM_API_KEY and UPSTREAM_API_KEYS together: exit 2 naming both") {
  Sim sim(sim_args(21, 1'000, {"--unlimited"}));
  TestDatabase db;
  auto env = paged_env(sim, db);
  env["UPSTREAM_API_KEYS"] = "a,b";
  const auto r = run(ingestd({"run"}), env, 60s);
  expect_exit(r, 2);
  CHECK(r.output.find("UPSTREAM_API_KEY and UPSTREAM_API_KEYS are both set") != std::string::npos);
  CHECK(sim.stat("/requests") == 0);
  env["UPSTREAM_API_KEY"] = "";
  env["UPSTREAM_API_KEYS"] = "a,,b";
  expect_exit(run(ingestd({"run"}), env, 60s), 2);
  env["UPSTREAM_API_KEYS"] = "a,b,a";
  const auto same = run(ingestd({"run"}), env, 60s);
  expect_exit(same, 2);
  CHECK(same.output.find("the same key at positions 1 and 3") != std::string::npos);
  CHECK(same.output.find("\"a,b,a\"") == std::string::npos);
}
