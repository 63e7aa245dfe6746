// A profile stream's records as COPY rows: ids as sent, fields by pointer, the whole event kept.
#include "decode/mapped_decoder.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "ingestd/errors.hpp"

using ingestd::decode_mapped_page;
using ingestd::FieldPointers;

namespace {

FieldPointers nested() {
  FieldPointers f;
  f.id = "/eventId";
  f.timestamp = "/properties/occurredAt";
  f.user = "/properties/user/id";
  f.type = "/eventType";
  f.session.clear();
  return f;
}

}  // namespace

TEST_CASE("mapped decoder: string and integer ids, nested fields, the record kept whole") {
  const std::string body =
      R"({"results":[{"eventId":"event_0000001","eventType":"click","properties":{"occurredAt":"2026-01-27T19:19:13.629Z","user":{"id":"u1"}}},)"
      R"({"eventId":42,"eventType":null,"properties":{"occurredAt":1769541612369,"user":{"id":7}}}]})";
  const auto page = decode_mapped_page(body, "/results", nested());
  CHECK(page.row_count == 2);
  CHECK(page.quarantined.empty());
  CHECK(
      page.copy_rows ==
      "\\N\tevent_0000001\t2026-01-27 19:19:13.629+00\tclick\tu1\t\\N\t"
      R"({"eventId":"event_0000001","eventType":"click","properties":{"occurredAt":"2026-01-27T19:19:13.629Z","user":{"id":"u1"}}})"
      "\n"
      "\\N\t42\t2026-01-27 19:20:12.369+00\t\\N\t7\t\\N\t"
      R"({"eventId":42,"eventType":null,"properties":{"occurredAt":1769541612369,"user":{"id":7}}})"
      "\n");
  REQUIRE(page.minute_counts.size() == 2);
  CHECK(page.minute_counts[0].type.empty());
  CHECK(page.minute_counts[1].type == "click");
}

TEST_CASE("mapped decoder: a bare array body, and what is quarantined with its reason") {
  const std::string body = R"([{"eventId":"a","properties":{"occurredAt":"yesterday"}},)"
                           R"({"properties":{"occurredAt":1769541612369}},)"
                           R"({"eventId":1.5,"properties":{"occurredAt":1769541612369}},)"
                           R"({"eventId":"","properties":{"occurredAt":1769541612369}},)"
                           R"({"eventId":"b\u0000","properties":{"occurredAt":1769541612369}},)"
                           R"("text",)"
                           R"({"eventId":"tab\there","properties":{"occurredAt":1769541612369}}])";
  const auto page = decode_mapped_page(body, "", nested());
  REQUIRE(page.quarantined.size() == 6);
  CHECK(page.quarantined[0].reason.find("timestamp at /properties/occurredAt") == 0);
  CHECK(page.quarantined[1].reason == "missing id at /eventId");
  CHECK(page.quarantined[2].reason == "id at /eventId is neither a string nor an integer");
  CHECK(page.quarantined[3].reason == "id at /eventId is empty");
  CHECK(page.quarantined[4].reason == "event contains a NUL character");
  CHECK(page.quarantined[5].reason == "event is not an object");
  CHECK(page.quarantined[5].index == 5);
  CHECK(page.row_count == 1);
  CHECK(page.copy_rows.starts_with("\\N\ttab\\there\t"));
}

// The uuid column takes only what it gives back unchanged; any other form is kept as text.
TEST_CASE("mapped decoder: a canonical UUID goes to the uuid column, other forms to text_id") {
  const std::string body =
      R"([{"eventId":"0b9e4f7c-3a2d-4e1f-9c8b-7a6d5e4f3a2b","properties":{"occurredAt":0}},)"
      R"({"eventId":"0B9E4F7C-3A2D-4E1F-9C8B-7A6D5E4F3A2B","properties":{"occurredAt":0}},)"
      R"({"eventId":"0b9e4f7c3a2d4e1f9c8b7a6d5e4f3a2b","properties":{"occurredAt":0}},)"
      R"({"eventId":"{0b9e4f7c-3a2d-4e1f-9c8b-7a6d5e4f3a2b}","properties":{"occurredAt":0}}])";
  const auto page = decode_mapped_page(body, "", nested());
  REQUIRE(page.row_count == 4);
  std::vector<std::string> ids;
  for (std::size_t at = 0; at < page.copy_rows.size();) {
    const std::size_t end = page.copy_rows.find('\n', at);
    const std::string row = page.copy_rows.substr(at, end - at);
    const std::size_t first = row.find('\t');
    ids.push_back(row.substr(0, row.find('\t', first + 1)));
    at = end + 1;
  }
  CHECK(ids == std::vector<std::string>{"0b9e4f7c-3a2d-4e1f-9c8b-7a6d5e4f3a2b\t\\N",
                                        "\\N\t0B9E4F7C-3A2D-4E1F-9C8B-7A6D5E4F3A2B",
                                        "\\N\t0b9e4f7c3a2d4e1f9c8b7a6d5e4f3a2b",
                                        "\\N\t{0b9e4f7c-3a2d-4e1f-9c8b-7a6d5e4f3a2b}"});
}

TEST_CASE("mapped decoder: records that are not an array are a broken page") {
  CHECK_THROWS_AS(decode_mapped_page(R"({"results":{}})", "/results", nested()),
                  ingestd::PageError);
  CHECK_THROWS_AS(decode_mapped_page(R"({"results":[)", "/results", nested()), ingestd::PageError);
}
