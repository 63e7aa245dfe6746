// The decoder, and the envelope read on the fetch path, on the contract's pages.
#include "decode/decoder.hpp"

#include <doctest/doctest.h>
#include <simdjson.h>

#include <string>

#include "ingestd/errors.hpp"
#include "upstream/envelope.hpp"

using ingestd::decode_page;
using ingestd::PageError;
using ingestd::peek_page_info;

namespace {

const std::string kEvent1 =
    R"({"id":"56a349b5-7243-4e0c-9fd8-f2c1eb2a5d35","sessionId":"0ae5e27f-bcc5-4d99-b744-3ce64d3623a9","userId":"1f2a12b4-1bdc-463d-ba74-f6d849f5b76f","type":"click","name":"event_e8o287","properties":{"page":"/home"},"timestamp":1769541612369,"session":{"id":"0ae5e27f-bcc5-4d99-b744-3ce64d3623a9","deviceType":"tablet","browser":"Edge"}})";
const std::string kEvent2 =
    R"({"id":"065a1ce4-7f87-4dc0-a18a-6ee5cdbaf027","sessionId":"a6993074-bef4-4c4e-9924-1893e2acc59d","userId":"498bac8d-1cc6-4704-8ab7-272a84a27aee","type":"page_view","name":"event_3laxn6","properties":{"page":"/home"},"timestamp":"2026-01-27T19:19:13.629Z","session":{"id":"a6993074-bef4-4c4e-9924-1893e2acc59d","deviceType":"tablet","browser":"Safari"}})";

const std::string kRow1 =
    "56a349b5-7243-4e0c-9fd8-f2c1eb2a5d35\t2026-01-27 19:20:12.369+00\tclick\tevent_e8o287\t"
    "1f2a12b4-1bdc-463d-ba74-f6d849f5b76f\t0ae5e27f-bcc5-4d99-b744-3ce64d3623a9\t"
    "{\"page\":\"/home\"}\t"
    "{\"id\":\"0ae5e27f-bcc5-4d99-b744-3ce64d3623a9\",\"deviceType\":\"tablet\",\"browser\":"
    "\"Edge\"}\n";
const std::string kRow2 =
    "065a1ce4-7f87-4dc0-a18a-6ee5cdbaf027\t2026-01-27 19:19:13.629+00\tpage_view\tevent_3laxn6\t"
    "498bac8d-1cc6-4704-8ab7-272a84a27aee\ta6993074-bef4-4c4e-9924-1893e2acc59d\t"
    "{\"page\":\"/home\"}\t"
    "{\"id\":\"a6993074-bef4-4c4e-9924-1893e2acc59d\",\"deviceType\":\"tablet\",\"browser\":"
    "\"Safari\"}\n";

// The contract's sample page, with meta.returned matching its two events.
const std::string kPage =
    "{\"data\":[\n  " + kEvent1 + ",\n  " + kEvent2 +
    "],\n \"pagination\":{\"limit\":100,\"hasMore\":true,\"nextCursor\":\"eyJpZCI6ImFmNWMzM2M4\","
    "\"cursorExpiresIn\":116},\n \"meta\":{\"total\":3000000,\"returned\":2,\"requestId\":"
    "\"23d61d86-60b3-41d4-a704-ded5da7db7a0\"}}";

const std::string kLastPagination =
    R"("pagination":{"limit":5000,"hasMore":false,"nextCursor":null,"cursorExpiresIn":null})";

// How the fetcher hands bodies over: with spare capacity for in-place parsing.
std::string padded(std::string_view text) {
  std::string body;
  body.reserve(text.size() + simdjson::SIMDJSON_PADDING);
  body.assign(text);
  return body;
}

std::string page_of(std::string_view events) {
  return "{\"data\":[" + std::string(events) + "]," + kLastPagination + "}";
}

// Decodes a one-event page and returns its quarantine reason, or "" when it became a row.
std::string reason_for(std::string_view event) {
  const auto page = decode_page(page_of(event));
  if (page.quarantined.empty()) return "";
  REQUIRE(page.quarantined.size() == 1);
  CHECK(page.quarantined[0].raw == event);
  CHECK(page.row_count == 0);
  CHECK(page.copy_rows.empty());
  return page.quarantined[0].reason;
}

std::string row_for(std::string_view event) {
  const auto page = decode_page(page_of(event));
  CHECK(page.quarantined.empty());
  CHECK(page.row_count == 1);
  return page.copy_rows;
}

constexpr std::string_view kId = R"("id":"56a349b5-7243-4e0c-9fd8-f2c1eb2a5d35")";
constexpr std::string_view kTs = R"("timestamp":1769541612369)";
constexpr std::string_view kRowStart =
    "56a349b5-7243-4e0c-9fd8-f2c1eb2a5d35\t2026-01-27 19:20:12.369+00\t";

}  // namespace

TEST_CASE("peek reads pagination and meta of the contract's page") {
  for (const std::string& body : {kPage, padded(kPage)}) {
    const auto info = peek_page_info(body);
    CHECK(info.has_more);
    CHECK(info.next_cursor == std::optional<std::string>("eyJpZCI6ImFmNWMzM2M4"));
    CHECK(info.cursor_expires_in_s == std::optional<std::int64_t>(116));
    CHECK(info.limit == std::optional<std::int64_t>(100));
    CHECK(info.total == std::optional<std::int64_t>(3000000));
    CHECK(info.returned == std::optional<std::int64_t>(2));
    CHECK(info.request_id == "23d61d86-60b3-41d4-a704-ded5da7db7a0");
    CHECK(info.data_count == 2);
  }
}

TEST_CASE("peek reads the page's newest and oldest timestamps only when asked") {
  for (const std::string& body : {kPage, padded(kPage)}) {
    CHECK_FALSE(peek_page_info(body).newest_us);
    const auto info = peek_page_info(body, true);
    CHECK(info.newest_us == std::optional<std::int64_t>(1769541612369000));  // epoch ms
    CHECK(info.oldest_us == std::optional<std::int64_t>(1769541553629000));  // ISO-8601
    CHECK(info.data_count == 2);
  }
  // An event whose timestamp cannot be read, or that is no object, bounds nothing; the walk
  // stays in step with the document.
  const auto info = peek_page_info(
      padded(
          R"({"data":[{"timestamp":"yesterday"},7,{"a":{"timestamp":1}},{"timestamp":1769541612},)"
          R"({"id":"x","timestamp":null}],"pagination":{"hasMore":false,"nextCursor":null}})"),
      true);
  CHECK(info.data_count == 5);
  CHECK(info.newest_us == std::optional<std::int64_t>(1769541612000000));
  CHECK(info.oldest_us == info.newest_us);
}

TEST_CASE("peek on the last page") {
  const auto info = peek_page_info(padded(page_of(kEvent1)));
  CHECK_FALSE(info.has_more);
  CHECK_FALSE(info.next_cursor);
  CHECK_FALSE(info.cursor_expires_in_s);
  CHECK(info.limit == std::optional<std::int64_t>(5000));
  CHECK_FALSE(info.total);
  CHECK(info.request_id.empty());
  CHECK(info.data_count == 1);
}

TEST_CASE("peek accepts any key order and unknown keys") {
  const std::string body =
      R"({"meta":{"returned":0,"x":[1]},"extra":{"a":[{}]},"pagination":{"nextCursor":"c","hasMore":true,"new":1},"data":[]})";
  const auto info = peek_page_info(body);
  CHECK(info.has_more);
  CHECK(info.next_cursor == std::optional<std::string>("c"));
  CHECK(info.data_count == 0);
}

TEST_CASE("peek: an incomplete body is transient, a complete foreign one a contract error") {
  const auto transient = [](const std::string& body, std::string_view fragment) {
    INFO(body);
    try {
      peek_page_info(body);
      FAIL("accepted");
    } catch (const PageError& e) {
      CHECK(std::string(e.what()).find(fragment) != std::string::npos);
    }
  };
  const auto foreign = [](const std::string& body, std::string_view message) {
    INFO(body);
    try {
      peek_page_info(body);
      FAIL("accepted");
    } catch (const ingestd::ContractError& e) {
      CHECK(std::string(e.what()) == message);
    }
  };
  transient("", "the body is not JSON");
  transient("<html><body>502 Bad Gateway</body></html>", "page:");
  transient(R"({"data":[],"pagination":{"hasMore":false}} {})", "page:");
  transient(R"({"data":[],"pagination":{"hasMore":false}}x)", "page:");
  transient(R"({"data":[{"id":"a"},)", "page:");
  foreign("{}", R"(has no "data" array)");
  foreign("[]", "is not a JSON object");
  foreign(R"({"data":[]})", R"(has no "pagination" object)");
  foreign(R"({"data":[],"hasMore":true,"nextCursor":"abc"})", R"(has no "pagination" object)");
  foreign(R"({"data":[],"pagination":{"nextCursor":null}})",
          R"(has no boolean "pagination.hasMore")");
  foreign(R"({"data":[],"pagination":{"hasMore":"true"}})",
          R"(has no boolean "pagination.hasMore")");
  foreign(R"({"data":[],"pagination":{"hasMore":1}})", R"(has no boolean "pagination.hasMore")");
  foreign(R"({"data":{},"pagination":{"hasMore":false}})", R"(has no "data" array)");
  foreign(R"({"data":[],"pagination":[]})", R"(has no "pagination" object)");
  foreign(R"({"data":[],"pagination":{"hasMore":true,"nextCursor":null}})",
          R"(says "hasMore": true but has no "pagination.nextCursor" string)");
  foreign(R"({"data":[],"pagination":{"hasMore":true}})",
          R"(says "hasMore": true but has no "pagination.nextCursor" string)");
  foreign(R"({"data":[],"pagination":{"hasMore":false,"nextCursor":5}})",
          "is not an events page: pagination.nextCursor is not a string");
  foreign(R"({"data":[],"pagination":{"hasMore":false,"limit":"x"}})",
          "is not an events page: pagination.limit is not an integer");
  foreign(R"({"data":[1,2],"pagination":{"hasMore":false},"meta":{"returned":3}})",
          "is not an events page: meta.returned is 3 but data has 2 events");
  foreign(R"({"error":"Too Many Requests","code":"RATE_LIMIT_EXCEEDED"})",
          R"(has no "data" array)");
}

TEST_CASE("a last page may omit nextCursor instead of sending null") {
  const auto info = peek_page_info(R"({"data":[],"pagination":{"hasMore":false}})");
  CHECK_FALSE(info.has_more);
  CHECK_FALSE(info.next_cursor.has_value());
}

TEST_CASE("a body truncated at any byte is never a page") {
  for (std::size_t length = 0; length < kPage.size(); ++length) {
    const std::string prefix = kPage.substr(0, length);
    INFO("length ", length);
    CHECK_THROWS_AS(peek_page_info(prefix), PageError);
    CHECK_THROWS_AS(peek_page_info(padded(prefix)), PageError);
    CHECK_THROWS_AS(decode_page(padded(prefix)), PageError);
  }
  CHECK(peek_page_info(kPage + "\n").data_count == 2);
}

TEST_CASE("decode the contract's page into exact COPY rows") {
  const auto page = decode_page(padded(kPage));
  CHECK(page.row_count == 2);
  CHECK(page.quarantined.empty());
  CHECK(page.copy_rows == kRow1 + kRow2);
  CHECK(decode_page(kPage).copy_rows == kRow1 + kRow2);
}

TEST_CASE("decode keeps page order and mixes rows with quarantine") {
  const std::string bad = R"({"id":"nope","timestamp":1769541612369})";
  const auto page = decode_page(page_of(kEvent2 + "," + bad + "," + kEvent1));
  CHECK(page.copy_rows == kRow2 + kRow1);
  CHECK(page.row_count == 2);
  REQUIRE(page.quarantined.size() == 1);
  CHECK(page.quarantined[0].raw == bad);
  CHECK(page.quarantined[0].reason == "id is not a UUID");
}

TEST_CASE("required fields") {
  CHECK(reason_for(R"({"timestamp":1769541612369})") == "missing id");
  CHECK(reason_for(R"({"id":null,"timestamp":1769541612369})") == "id is not a string");
  CHECK(reason_for(R"({"id":42,"timestamp":1769541612369})") == "id is not a string");
  CHECK(reason_for(R"({"id":"56a349b5-7243-4e0c-9fd8-f2c1eb2a5d3","timestamp":1})") ==
        "id is not a UUID");
  CHECK(reason_for(R"({"id":"56a349b5x7243-4e0c-9fd8-f2c1eb2a5d35","timestamp":1})") ==
        "id is not a UUID");
  CHECK(reason_for(R"({"id":"56a349b5-7243-4e0c-9fd8-f2c1eb2a5g35","timestamp":1})") ==
        "id is not a UUID");
  CHECK(reason_for(R"({"id":"56a349b5-7243-4e0c-9fd8-f2c1eb2a5d35"})") == "timestamp: missing");
  CHECK(reason_for(R"({"id":"56a349b5-7243-4e0c-9fd8-f2c1eb2a5d35","timestamp":null})") ==
        "timestamp: null");
  CHECK(reason_for(R"({"id":"56a349b5-7243-4e0c-9fd8-f2c1eb2a5d35","timestamp":true})") ==
        "timestamp: neither a number nor a string");
  CHECK(reason_for(R"({"id":"56a349b5-7243-4e0c-9fd8-f2c1eb2a5d35","timestamp":"yesterday"})") ==
        "timestamp: not a valid ISO-8601 date-time");
  CHECK(reason_for(R"({"id":"56a349b5-7243-4e0c-9fd8-f2c1eb2a5d35","timestamp":-5})") ==
        "timestamp: negative epoch value");
  CHECK(reason_for(
            R"({"id":"56a349b5-7243-4e0c-9fd8-f2c1eb2a5d35","timestamp":"2026-01-27T19:19:13"})") ==
        "timestamp: no time zone");
  // The id problem is reported first when both required fields are bad.
  CHECK(reason_for(R"({"id":"x","timestamp":"x"})") == "id is not a UUID");
}

TEST_CASE("events that are not objects") {
  for (const std::string_view event : {"42", "\"text\"", "null", "[1, 2]", "true"}) {
    CHECK(reason_for(event) == "event is not an object");
  }
  const auto page = decode_page(page_of(std::string("[1, [2]] , ") + kEvent1));
  REQUIRE(page.quarantined.size() == 1);
  CHECK(page.quarantined[0].raw == "[1, [2]]");
  CHECK(page.copy_rows == kRow1);
}

TEST_CASE("NUL characters are quarantined, escaped backslashes are not NUL") {
  const std::string id_ts = std::string(kId) + "," + std::string(kTs);
  CHECK(reason_for("{" + id_ts + R"(,"name":"a\u0000b"})") == "name contains a NUL character");
  CHECK(reason_for("{" + id_ts + R"(,"type":"\u0000"})") == "type contains a NUL character");
  CHECK(reason_for("{" + id_ts + R"(,"userId":"\u0000"})") == "userId contains a NUL character");
  CHECK(reason_for("{" + id_ts + R"(,"properties":{"k":"x\u0000"}})") ==
        "properties contains a NUL character");
  CHECK(reason_for("{" + id_ts + R"(,"properties":{"k\u0000":1}})") ==
        "properties contains a NUL character");
  CHECK(reason_for("{" + id_ts + R"(,"session":["\u0000"]})") ==
        "session contains a NUL character");
  CHECK(row_for("{" + id_ts + R"(,"properties":{"k":"\\u0000"}})") ==
        std::string(kRowStart) + "\\N\t\\N\t\\N\t\\N\t{\"k\":\"\\\\\\\\u0000\"}\t\\N\n");
}

TEST_CASE("optional fields: missing, null, strings and other JSON") {
  const std::string id_ts = std::string(kId) + "," + std::string(kTs);
  CHECK(row_for("{" + id_ts + "}") == std::string(kRowStart) + "\\N\t\\N\t\\N\t\\N\t\\N\t\\N\n");
  CHECK(
      row_for(
          "{" + id_ts +
          R"(,"type":null,"name":null,"userId":null,"sessionId":null,"properties":null,"session":null})") ==
      std::string(kRowStart) + "\\N\t\\N\t\\N\t\\N\t\\N\t\\N\n");
  CHECK(
      row_for(
          "{" + id_ts +
          R"(,"type":42,"name":{"a": [1, true]},"userId":false,"sessionId":-1.5e3,"properties":"s","session":7})") ==
      std::string(kRowStart) + "42\t{\"a\": [1, true]}\tfalse\t-1.5e3\t\"s\"\t7\n");
  CHECK(row_for("{" + id_ts + R"(,"type":"","name":"caf\u00e9 \"q\" \\ \t\n\r /\/"})") ==
        std::string(kRowStart) + "\tcafé \"q\" \\\\ \\t\\n\\r //\t\\N\t\\N\t\\N\t\\N\n");
  CHECK(row_for("{" + id_ts + R"(,"properties":{"note":"line\nbreak\ttab"} })") ==
        std::string(kRowStart) +
            "\\N\t\\N\t\\N\t\\N\t{\"note\":\"line\\\\nbreak\\\\ttab\"}\t\\N\n");
  CHECK(row_for("{" + id_ts + R"(,"extra":{"deep":[{"x":1}]},"more":null})") ==
        std::string(kRowStart) + "\\N\t\\N\t\\N\t\\N\t\\N\t\\N\n");
}

TEST_CASE("ids are stored lowercase and later duplicate keys win") {
  CHECK(row_for(R"({"id":"56A349B5-7243-4E0C-9FD8-F2C1EB2A5D35","timestamp":1769541612369})") ==
        std::string(kRowStart) + "\\N\t\\N\t\\N\t\\N\t\\N\t\\N\n");
  CHECK(row_for(R"({"type":"a","type":"b",)" + std::string(kId) + "," + std::string(kTs) + "}") ==
        std::string(kRowStart) + "b\t\\N\t\\N\t\\N\t\\N\t\\N\n");
}

TEST_CASE("values jsonb would refuse are quarantined") {
  const std::string id_ts = std::string(kId) + "," + std::string(kTs);
  CHECK(reason_for("{" + id_ts + R"(,"properties":{"a":tru}})") == "properties is not valid JSON");
  CHECK(reason_for("{" + id_ts + R"(,"properties":{"a":01}})") == "properties is not valid JSON");
  CHECK(reason_for("{" + id_ts + R"(,"properties":{"a":"\ud800"}})") ==
        "properties is not valid JSON");
  CHECK(reason_for("{" + id_ts + R"(,"session":"\x"})") == "session is not valid JSON");
  CHECK(reason_for("{" + id_ts + R"(,"name":"\x"})") == "name is not valid JSON");
}

TEST_CASE("decode rejects a broken document") {
  CHECK_THROWS_AS(decode_page("nope"), PageError);
  CHECK_THROWS_AS(decode_page("{}"), PageError);
  CHECK_THROWS_AS(decode_page(R"({"data":{}})"), PageError);
  CHECK_THROWS_AS(decode_page(page_of(R"({"id":"x" "timestamp":1})")), PageError);
  CHECK_THROWS_AS(decode_page(page_of(R"({"id":"x","properties":{"a":[1,2}}})")), PageError);
}

TEST_CASE("decode counts the stored rows per type and UTC minute, for the rollups") {
  const std::string untyped =
      R"({"id":"11111111-1111-4111-8111-111111111111","timestamp":"2026-01-27T19:20:59.999Z"})";
  const std::string bad = R"({"id":"x","type":"click","timestamp":1769541612369})";
  std::string body = "{\"data\":[" + kEvent1 + "," + kEvent2 + "," + untyped + "," + bad + "," +
                     kEvent1 + "]," + kLastPagination + "}";
  body.reserve(body.size() + simdjson::SIMDJSON_PADDING);
  const auto page = decode_page(body);
  REQUIRE(page.minute_counts.size() == 3);
  // Sorted by (type, minute); 19:20 is 1769541600.
  CHECK(page.minute_counts[0].type == "");
  CHECK(page.minute_counts[0].minute_s == 1769541600);
  CHECK(page.minute_counts[0].count == 1);
  CHECK(page.minute_counts[1].type == "click");
  CHECK(page.minute_counts[1].minute_s == 1769541600);
  CHECK(page.minute_counts[1].count == 2);
  CHECK(page.minute_counts[2].type == "page_view");
  CHECK(page.minute_counts[2].minute_s == 1769541540);
  CHECK(page.minute_counts[2].count == 1);
}

TEST_CASE("records are found where the pointer says: the whole body, or nested members") {
  const auto bare = decode_page("[" + kEvent1 + "," + kEvent2 + "]", "");
  CHECK(bare.copy_rows == kRow1 + kRow2);
  const auto nested =
      decode_page(R"({"meta":{"n":2},"result":{"a/b":{"items":[)" + kEvent1 + "]}},\"more\":false}",
                  "/result/a~1b/items");
  CHECK(nested.copy_rows == kRow1);
  // Members that share a prefix with the pointer are skipped, whatever their type.
  CHECK(decode_page(R"({"data2":1,"data":[)" + kEvent2 + "]}").copy_rows == kRow2);
  CHECK_THROWS_WITH_AS(decode_page(R"({"result":{}})", "/result/items"),
                       "page: /result/items is missing", PageError);
  CHECK_THROWS_WITH_AS(decode_page(R"({"data":[]})", ""), doctest::Contains("not an array"),
                       PageError);
  CHECK_THROWS_AS(decode_page("[] []", ""), PageError);
}
