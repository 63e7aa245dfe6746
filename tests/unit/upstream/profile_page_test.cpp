// A profile stream's paging, without I/O: the URL for a position and what a page names next.
#include "upstream/profile_page.hpp"

#include <doctest/doctest.h>

#include <string>

#include "ingestd/errors.hpp"

using ingestd::ContractError;
using ingestd::HttpHeaders;
using ingestd::PaginationType;
using ingestd::ProfilePaging;
using ingestd::SourceProfile;

namespace {

SourceProfile profile(PaginationType type) {
  SourceProfile p;
  p.name = "api";
  p.path = "/v1/events";
  p.params = {{"limit", "2"}, {"sort", "desc"}};
  p.page_size_param = "limit";
  p.records = "/data";
  p.pagination = type;
  p.next = "/next";
  p.param = "after";
  p.field = "/id";
  p.has_more.clear();
  p.total.clear();
  p.fields.id = "/id";
  p.fields.timestamp = "/ts";
  p.start = type == PaginationType::page ? 1 : 0;
  return p;
}

const std::string kTwo = R"({"data":[{"id":"a","ts":1},{"id":"b","ts":2}],"next":"c2"})";
const std::string kOne = R"({"data":[{"id":"c","ts":3}],"next":null})";
const std::string kUrl = "http://h:1/v1/events?limit=2&sort=desc";

}  // namespace

TEST_CASE("profile paging: cursor in the body, sent back as a parameter") {
  const SourceProfile p = profile(PaginationType::cursor);
  const ProfilePaging paging(p, "http://h:1", std::nullopt);
  CHECK(paging.url(std::nullopt) == kUrl);
  CHECK(paging.url(std::string("a b=")) == kUrl + "&after=a%20b%3D");
  auto info = paging.read(kTwo, {}, kUrl, std::nullopt);
  CHECK(info.data_count == 2);
  CHECK(info.has_more);
  CHECK(info.next_cursor == "c2");
  info = paging.read(kOne, {}, kUrl, std::string("c2"));
  CHECK_FALSE(info.has_more);
  // PAGE_LIMIT replaces the profile's page size.
  CHECK(ProfilePaging(p, "http://h:1", 7).url(std::nullopt) ==
        "http://h:1/v1/events?limit=7&sort=desc");
}

TEST_CASE("profile paging: has_more decides when the profile names it") {
  SourceProfile p = profile(PaginationType::cursor);
  p.has_more = "/more";
  const ProfilePaging paging(p, "http://h:1", std::nullopt);
  CHECK_FALSE(paging.read(R"({"data":[{"id":"a","ts":1}],"next":"x","more":false})", {}, kUrl, {})
                  .has_more);
  CHECK_THROWS_AS(paging.read(R"({"data":[{"id":"a","ts":1}],"more":true})", {}, kUrl, {}),
                  ContractError);
}

TEST_CASE("profile paging: last_record takes the last record's field") {
  const SourceProfile p = profile(PaginationType::last_record);
  const ProfilePaging paging(p, "http://h:1", std::nullopt);
  const auto info = paging.read(kTwo, {}, kUrl, std::nullopt);
  CHECK(info.next_cursor == "b");
  CHECK(paging.url(std::string("b")) == kUrl + "&after=b");
  CHECK_FALSE(paging.read(R"({"data":[]})", {}, kUrl, std::string("b")).has_more);
}

TEST_CASE("profile paging: next_url, relative or absolute, on the same origin only") {
  const SourceProfile p = profile(PaginationType::next_url);
  const ProfilePaging paging(p, "http://h:1", std::nullopt);
  const auto rel = paging.read(R"({"data":[{"id":"a","ts":1}],"next":"events?page_token=p2"})", {},
                               kUrl, std::nullopt);
  CHECK(rel.next_cursor == "http://h:1/v1/events?page_token=p2");
  CHECK(paging.url(rel.next_cursor) == *rel.next_cursor);
  CHECK(
      paging.read(R"({"data":[{"id":"a","ts":1}],"next":"/v2/x?n=1"})", {}, kUrl, {}).next_cursor ==
      "http://h:1/v2/x?n=1");
  CHECK_THROWS_AS(
      paging.read(R"({"data":[{"id":"a","ts":1}],"next":"http://evil:1/x"})", {}, kUrl, {}),
      ContractError);
  CHECK_FALSE(paging.read(R"({"data":[{"id":"a","ts":1}],"next":""})", {}, kUrl, {}).has_more);
}

TEST_CASE("profile paging: Link header rel=next") {
  const SourceProfile p = profile(PaginationType::link_header);
  const ProfilePaging paging(p, "http://h:1", std::nullopt);
  HttpHeaders h;
  h.add("link",
        R"(<http://h:1/v1/events?page=2>; rel="next", <http://h:1/v1/events?page=9>; rel="last")");
  CHECK(paging.read(kTwo, h, kUrl, {}).next_cursor == "http://h:1/v1/events?page=2");
  HttpHeaders last;
  last.add(
      "Link",
      R"(<http://h:1/v1/events?page=1>; rel="first", <http://h:1/v1/events?page=8>; rel="prev")");
  CHECK_FALSE(paging.read(kTwo, last, kUrl, {}).has_more);
  CHECK_FALSE(paging.read(kTwo, {}, kUrl, {}).has_more);
  CHECK(ingestd::link_next(R"(<a>; rel="prev next")") == "a");
  CHECK(ingestd::link_next("<a>; rel=next") == "a");
  CHECK_FALSE(ingestd::link_next(R"(<a>; title="next, please"; rel="last")").has_value());
}

TEST_CASE("profile paging: offset and page end on a short or empty page") {
  SourceProfile p = profile(PaginationType::offset);
  p.param = "offset";
  const ProfilePaging offsets(p, "http://h:1", std::nullopt);
  CHECK(offsets.url(std::nullopt) == kUrl + "&offset=0");
  auto info = offsets.read(kTwo, {}, kUrl, std::nullopt);
  CHECK(info.next_cursor == "2");
  CHECK(offsets.url(info.next_cursor) == kUrl + "&offset=2");
  CHECK_FALSE(offsets.read(kOne, {}, kUrl, std::string("2")).has_more);
  // A total above what was read keeps a short page (the server's own cap) from ending it.
  p.total = "/total";
  const ProfilePaging capped(p, "http://h:1", std::nullopt);
  CHECK(capped.read(R"({"data":[{"id":"c","ts":3}],"total":9})", {}, kUrl, std::string("2"))
            .next_cursor == "3");

  SourceProfile q = profile(PaginationType::page);
  q.param = "page";
  const ProfilePaging pages(q, "http://h:1", std::nullopt);
  CHECK(pages.url(std::nullopt) == kUrl + "&page=1");
  CHECK(pages.read(kTwo, {}, kUrl, std::nullopt).next_cursor == "2");
  CHECK(pages.read(kTwo, {}, kUrl, std::string("2")).next_cursor == "3");
  CHECK_FALSE(pages.read(R"({"data":[]})", {}, kUrl, std::string("3")).has_more);
}

TEST_CASE("profile paging: a page that is not the profile's is a contract mismatch") {
  const ProfilePaging paging(profile(PaginationType::cursor), "http://h:1", std::nullopt);
  CHECK_THROWS_AS(paging.read(R"({"items":[]})", {}, kUrl, {}), ContractError);
  CHECK_THROWS_AS(paging.read(R"({"data":{}})", {}, kUrl, {}), ContractError);
  // No record with an id: another API, not a bad record.
  CHECK_THROWS_WITH_AS(paging.read(R"({"data":[{"eventId":"a","ts":1}]})", {}, kUrl, {}),
                       doctest::Contains("\"/id\""), ContractError);
  CHECK_THROWS_AS(paging.read(R"({"data":[)", {}, kUrl, {}), ingestd::PageError);
}

TEST_CASE("profile paging: URLs resolve as RFC 3986 says for the forms APIs send") {
  using ingestd::resolve_url;
  const std::string base = "https://api.x.com/v1/items/list?page=1";
  CHECK(resolve_url(base, "https://other/x") == "https://other/x");
  CHECK(resolve_url(base, "//cdn.x.com/y") == "https://cdn.x.com/y");
  CHECK(resolve_url(base, "/v2/z?a=1") == "https://api.x.com/v2/z?a=1");
  CHECK(resolve_url(base, "?page=2") == "https://api.x.com/v1/items/list?page=2");
  CHECK(resolve_url(base, "more?page=2") == "https://api.x.com/v1/items/more?page=2");
  CHECK(resolve_url(base, "../up") == "https://api.x.com/v1/up");
  CHECK(ingestd::url_origin("HTTP://H:1/x?y") == "http://h:1");
  CHECK(ingestd::percent_encode("a+b/c=") == "a%2Bb%2Fc%3D");
}
