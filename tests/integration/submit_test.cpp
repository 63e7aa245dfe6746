// `ingestd submit`: streaming every ID to the real upstream-sim, the attempt ledger and the cap.
#include <doctest/doctest.h>

#include <regex>

#include "support.hpp"

using namespace testsupport;

namespace {

void ingest(const Sim& sim, const TestDatabase& db) {
  auto env = ingest_env(sim, db);
  env["SUBMIT_ON_FINISH"] = "false";
  expect_exit(run(ingestd({"run"}), env), 0);
}

}  // namespace

TEST_CASE("submit: dry run, exact verdict, and a second submit sends nothing") {
  Sim sim({"--events", "30000", "--unlimited", "--latency-ms-per-event", "0"});
  TestDatabase db;
  ingest(sim, db);
  const auto env = ingest_env(sim, db);

  auto dry = run(ingestd({"submit", "--dry-run"}), env);
  expect_exit(dry, 0);
  CHECK(dry.output.find("30000 IDs would be sent") != std::string::npos);
  CHECK(sim.stat("/submissions/0/received") == 0);

  auto first = run(ingestd({"submit"}), env);
  expect_exit(first, 0);
  CHECK(sim.stat("/submissions/0/received") == 30000);
  CHECK(sim.stat("/submissions/0/unique") == 30000);
  CHECK(sim.stat("/submissions/0/missing") == 0);
  CHECK(sim.stat("/submissions/0/duplicates") == 0);
  CHECK(sim.stat("/submissions/0/unknown") == 0);
  CHECK(db.text("SELECT outcome FROM submissions WHERE attempt = 1") == "accepted");
  CHECK(db.scalar("SELECT ids_sent FROM submissions WHERE attempt = 1") == 30000);
  CHECK(db.scalar("SELECT http_status FROM submissions WHERE attempt = 1") == 200);

  auto second = run(ingestd({"submit"}), env);
  expect_exit(second, 0);
  CHECK(second.output.find("already accepted") != std::string::npos);
  CHECK(sim.stat("/submissions/1/number") == 0);
  CHECK(db.scalar("SELECT count(*) FROM submissions") == 1);

  // Instants in status are ISO-8601 UTC, and the output ends with a newline.
  const auto status = run(ingestd({"status", "--json"}), env);
  expect_exit(status, 0);
  CHECK(std::regex_search(
      status.output, std::regex(R"re("started_at":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")re")));
  CHECK(status.output.find("\"outcome\":\"accepted\"") != std::string::npos);
  CHECK(status.output.back() == '\n');
  const auto text = run(ingestd({"status"}), env);
  expect_exit(text, 0);
  CHECK(std::regex_search(text.output,
                          std::regex(R"re(#1 accepted started \d{4}-\d\d-\d\dT[0-9:.]+Z)re")));
  CHECK(text.output.back() == '\n');
}

TEST_CASE("submit refuses before ingestion is complete and gives the numbers") {
  Sim sim({"--events", "1000", "--unlimited", "--latency-ms-per-event", "0"});
  TestDatabase db;
  auto env = ingest_env(sim, db);
  expect_exit(run(ingestd({"migrate"}), env), 0);
  const auto r = run(ingestd({"submit"}), env);
  CHECK(r.exit_code == 5);
  CHECK(r.output.find("ingestion is not finished (0 pages, 0 events stored)") != std::string::npos);
  CHECK(sim.stat("/submissions/0/received") == 0);
}

TEST_CASE("submission 5xx: the cap is never exceeded and the ledger tells the truth") {
  Sim sim({"--events", "5000", "--unlimited", "--latency-ms-per-event", "0", "--fault-submit-5xx",
           "1.0", "--submission-cap", "5"});
  TestDatabase db;
  ingest(sim, db);
  auto env = ingest_env(sim, db);
  env["SUBMISSION_MAX_ATTEMPTS"] = "3";
  const auto r = run(ingestd({"submit"}), env, 180s);
  CHECK(r.exit_code == 5);
  CHECK(r.output.find("no attempt is left") != std::string::npos);
  CHECK(sim.stat("/submissions/2/status") == 503);
  CHECK(sim.stat("/submissions/3/status") == 0);
  CHECK(db.scalar("SELECT count(*) FROM submissions") == 3);
  CHECK(
      db.scalar("SELECT count(*) FROM submissions WHERE outcome = 'unknown' AND http_status = 503 "
                "AND ids_sent = 5000 AND finished_at IS NOT NULL") == 3);

  const auto again = run(ingestd({"submit"}), env);
  CHECK(again.exit_code == 5);
  CHECK(again.output.find("all 3 attempts are used") != std::string::npos);
  CHECK(sim.stat("/submissions/3/status") == 0);
}

TEST_CASE("ingestd run submits at the end by default, with an exact verdict") {
  Sim sim({"--events", "12000", "--unlimited", "--latency-ms-per-event", "0", "--fault-malformed",
           "0.005"});
  TestDatabase db;
  const auto r = run(ingestd({"run"}), ingest_env(sim, db));
  expect_exit(r, 0);
  CHECK(r.output.find("accepted") != std::string::npos);
  CHECK(sim.stat("/submissions/0/missing") == 0);
  CHECK(sim.stat("/submissions/0/duplicates") == 0);
  CHECK(sim.stat("/submissions/0/unknown") == 0);
  CHECK(sim.stat("/submissions/0/received") == db.scalar("SELECT count(*) FROM events"));
}
