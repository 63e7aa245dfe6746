#include "push/push_source.hpp"

#include <doctest/doctest.h>

using ingestd::PushBodyError;
using ingestd::PushSource;

namespace {

const std::string kA =
    R"({"id":"11111111-1111-4111-8111-111111111111","timestamp":1769540400000,"type":"click"})";
const std::string kB =
    R"({"id":"22222222-2222-4222-8222-222222222222","timestamp":"2026-01-27T19:00:00Z"})";

ingestd::DecodedBatch decode(PushSource& source) {
  auto batch = source.decode();
  CHECK_FALSE(source.next({}).has_value());
  return batch;
}

}  // namespace

TEST_CASE("a JSON array of events is one page, decoded like a pulled one") {
  PushSource source("[" + kA + ",\n " + kB + ", 7]", PushSource::Format::json_array);
  const auto batch = decode(source);
  CHECK(batch.page.row_count == 2);
  REQUIRE(batch.page.quarantined.size() == 1);
  CHECK(batch.page.quarantined[0].index == 2);
  CHECK(batch.page.quarantined[0].reason == "event is not an object");
  CHECK(batch.page.quarantined[0].id.empty());
}

TEST_CASE("NDJSON: one value per line, blank lines and CRLF ignored") {
  PushSource source(kA + "\r\n\n" + kB + "\n", PushSource::Format::ndjson);
  const auto batch = decode(source);
  CHECK(batch.page.row_count == 2);
  CHECK(batch.page.quarantined.empty());
}

TEST_CASE("a quarantined event keeps its index and, when readable, its id") {
  PushSource source(
      "[" + kA + R"(,{"id":"33333333-3333-4333-8333-333333333333","timestamp":"soon"}])",
      PushSource::Format::json_array);
  const auto batch = decode(source);
  REQUIRE(batch.page.quarantined.size() == 1);
  CHECK(batch.page.quarantined[0].index == 1);
  CHECK(batch.page.quarantined[0].id == "33333333-3333-4333-8333-333333333333");
}

TEST_CASE("bodies that are not an array of events, or not NDJSON, are refused whole") {
  const auto refused = [](const std::string& body, PushSource::Format format) {
    try {
      PushSource source(body, format);
      source.decode();
    } catch (const PushBodyError& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  CHECK(refused("garbage", PushSource::Format::json_array).starts_with("the body is not JSON"));
  CHECK(refused(kA, PushSource::Format::json_array).starts_with("the body is not a JSON array"));
  CHECK(refused("[" + kA, PushSource::Format::json_array).starts_with("the body is not JSON"));
  // Not smuggled into the envelope the decoder reads.
  CHECK(refused(R"([], "pagination": {"hasMore": true})", PushSource::Format::json_array) !=
        "accepted");
  CHECK(refused(kA + "\n{\"id\":", PushSource::Format::ndjson).starts_with("line 2 is not"));
  CHECK(refused(kA + " " + kB, PushSource::Format::ndjson).starts_with("line 1 is not"));
  // Framed as two events, but one line holds both: refused, not stored as two.
  CHECK(refused(kA + "," + kB, PushSource::Format::ndjson).starts_with("line 1 is not"));
  CHECK(refused(R"({"id":1,)"
                "\n"
                R"("timestamp":2})",
                PushSource::Format::ndjson)
            .starts_with("line 1 is not"));
  CHECK(refused("", PushSource::Format::json_array).starts_with("the body is not JSON"));
}

TEST_CASE("an empty array or an empty NDJSON body is an empty page") {
  PushSource array("[]", PushSource::Format::json_array);
  CHECK(decode(array).page.row_count == 0);
  PushSource lines("\n\n", PushSource::Format::ndjson);
  CHECK(decode(lines).page.row_count == 0);
}
