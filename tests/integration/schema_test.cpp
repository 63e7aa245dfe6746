// The tables C++ names in one place, checked against the migrated schema: the event columns
// the decoder, COPY and queries share, and the submission ledger's outcomes.
#include <doctest/doctest.h>

#include <algorithm>
#include <regex>

#include "ingestd/event.hpp"
#include "store/ledger.hpp"
#include "support.hpp"

TEST_CASE("the event column table and the ledger outcomes match the migrated schema") {
  testsupport::TestDatabase db;
  auto env = std::map<std::string, std::string>{{"DATABASE_URL", db.url()}};
  testsupport::expect_exit(testsupport::run(testsupport::ingestd({"migrate"}), env), 0);

  std::vector<std::string> expected;
  for (const auto& c : ingestd::kEventColumns) {
    expected.push_back(std::string(c.name) + ":" + std::string(c.sql_type));
  }
  expected.push_back("ingested_at:timestamp with time zone");
  CHECK(db.column("SELECT column_name || ':' || data_type FROM information_schema.columns "
                  "WHERE table_name = 'events' ORDER BY ordinal_position") == expected);

  const std::string check = db.text(
      "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = "
      "'submissions'::regclass AND contype = 'c' AND pg_get_constraintdef(oid) LIKE '%outcome%'");
  std::vector<std::string> allowed;
  const std::regex quoted("'([a-z_]+)'");
  for (auto it = std::sregex_iterator(check.begin(), check.end(), quoted);
       it != std::sregex_iterator(); ++it) {
    allowed.push_back((*it)[1]);
  }
  std::vector<std::string> names(ingestd::kLedgerOutcomeNames.begin(),
                                 ingestd::kLedgerOutcomeNames.end());
  std::sort(allowed.begin(), allowed.end());
  std::sort(names.begin(), names.end());
  CHECK(allowed == names);
}
