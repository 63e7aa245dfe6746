#include "upstream/outcome.hpp"

#include <doctest/doctest.h>

#include <string>

#include "upstream/http_types.hpp"

using ingestd::classify_events_response;
using ingestd::classify_submission_response;
using ingestd::error_summary;
using ingestd::HttpResult;
using ingestd::OutcomeKind;
using ingestd::SubmissionOutcomeKind;

namespace {

HttpResult response(int status, std::string body) {
  HttpResult r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

HttpResult transport(std::string error) {
  HttpResult r;
  r.transport_error = std::move(error);
  return r;
}

const char* kUnavailable =
    R"({"error":"Service Unavailable","message":"Service Unavailable","code":"SERVICE_UNAVAILABLE"})";
const char* kHtml502 =
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad "
    "Gateway</h1></center>\r\n</body>\r\n</html>\r\n";
const char* kRateLimited =
    R"({"error":"Too Many Requests","message":"Rate limit exceeded. Try again in 46 seconds.","code":"RATE_LIMIT_EXCEEDED","rateLimit":{"limit":10,"remaining":0,"reset":46,"retryAfter":46}})";
const char* kUnauthorized =
    R"({"error":"Unauthorized","message":"Invalid or missing API key","code":"UNAUTHORIZED"})";
const char* kExpired =
    R"({"error":"Bad Request","message":"Cursor expired 2 minute(s) ago","code":"CURSOR_EXPIRED"})";
const char* kInvalid =
    R"({"error":"Bad Request","message":"Invalid cursor","code":"CURSOR_INVALID"})";
const char* kLimitReached =
    R"({"error":"Too Many Requests","message":"Submission limit reached","code":"SUBMISSION_LIMIT_REACHED"})";

}  // namespace

TEST_CASE("events: one outcome per row of the table") {
  CHECK(classify_events_response(transport("Operation timed out after 30000 ms")).kind ==
        OutcomeKind::retry_backoff);
  CHECK(classify_events_response(response(200, "{\"data\":[")).kind == OutcomeKind::ok);
  CHECK(classify_events_response(response(429, kRateLimited)).kind == OutcomeKind::rate_limited);
  CHECK(classify_events_response(response(500, "")).kind == OutcomeKind::retry_backoff);
  CHECK(classify_events_response(response(502, kHtml502)).kind == OutcomeKind::retry_backoff);
  CHECK(classify_events_response(response(503, kUnavailable)).kind == OutcomeKind::retry_backoff);
  CHECK(classify_events_response(response(504, "upstream timed out")).kind ==
        OutcomeKind::retry_backoff);
  CHECK(classify_events_response(response(507, "")).kind == OutcomeKind::retry_backoff);
  CHECK(classify_events_response(response(408, "")).kind == OutcomeKind::retry_backoff);
  CHECK(classify_events_response(response(401, kUnauthorized)).kind == OutcomeKind::auth_failed);
  CHECK(classify_events_response(response(403, "")).kind == OutcomeKind::auth_failed);
  // GitHub's 429: a 403 whose rate headers say the budget is spent.
  CHECK(classify_events_response(response(403, ""), true).kind == OutcomeKind::rate_limited);
  CHECK(classify_events_response(response(401, kUnauthorized), true).kind ==
        OutcomeKind::auth_failed);
  CHECK(classify_events_response(response(400, kExpired)).kind == OutcomeKind::cursor_expired);
  CHECK(classify_events_response(response(400, kInvalid)).kind == OutcomeKind::cursor_invalid);
  CHECK(classify_events_response(response(400, R"({"message":"bad limit","code":"BAD_LIMIT"})"))
            .kind == OutcomeKind::fatal);
  CHECK(classify_events_response(response(404, "")).kind == OutcomeKind::fatal);
  CHECK(classify_events_response(response(100, "")).kind == OutcomeKind::fatal);
  CHECK(classify_events_response(response(204, "")).kind == OutcomeKind::fatal);
  CHECK(classify_events_response(response(301, "")).kind == OutcomeKind::fatal);
  CHECK(classify_events_response(response(600, "")).kind == OutcomeKind::fatal);
}

TEST_CASE("events: cursor expiry in other dialects") {
  CHECK(classify_events_response(response(410, R"({"error":"CursorExpired"})")).kind ==
        OutcomeKind::cursor_expired);
  CHECK(classify_events_response(response(410, "")).kind == OutcomeKind::cursor_expired);
  CHECK(classify_events_response(response(400, R"({"error":"CursorExpired"})")).kind ==
        OutcomeKind::cursor_expired);
  CHECK(classify_events_response(response(400, R"({"code":"cursor_expired"})")).kind ==
        OutcomeKind::cursor_expired);
  CHECK(classify_events_response(response(400, R"({"code":"CursorInvalid"})")).kind ==
        OutcomeKind::cursor_invalid);
  CHECK(classify_events_response(response(400, R"({"code":"CURSOR_EXPIRED_SOON"})")).kind ==
        OutcomeKind::fatal);
}

TEST_CASE("submission list: one earlier submission with this run's count settles an attempt") {
  using ingestd::find_listed_submission;
  const std::string sim =
      R"({"data":[{"submissionNumber":1,"status":503,"eventCount":3000000},)"
      R"({"submissionNumber":2,"submissionId":"s2","status":200,"eventCount":3000000}],"meta":{}})";
  CHECK(find_listed_submission(sim, 3'000'000) ==
        std::optional<std::string>(
            R"({"submissionNumber":2,"submissionId":"s2","status":200,"eventCount":3000000})"));
  CHECK_FALSE(find_listed_submission(sim, 2'999'999).has_value());
  CHECK(find_listed_submission(R"([{"eventCount":5}])", 5).has_value());
  CHECK(find_listed_submission(R"({"submissions":[{"eventCount":5}]})", 5).has_value());
  CHECK(find_listed_submission(R"({"data":{"submissions":[{"eventCount":5}]}})", 5).has_value());
  CHECK_FALSE(find_listed_submission(R"({"data":[{"eventCount":5,"status":"x"}]})", 5));
  CHECK_FALSE(find_listed_submission(R"({"data":[{"count":5}]})", 5).has_value());
  CHECK_FALSE(find_listed_submission("<html>404</html>", 5).has_value());
  CHECK_FALSE(find_listed_submission(R"({"data":[)", 5).has_value());
}

TEST_CASE("events: messages say what the server said") {
  CHECK(classify_events_response(transport("Connection reset by peer")).message ==
        "Connection reset by peer");
  CHECK(classify_events_response(response(401, kUnauthorized)).message ==
        "HTTP 401: Invalid or missing API key (UNAUTHORIZED)");
  CHECK(classify_events_response(response(400, kExpired)).message ==
        "HTTP 400: Cursor expired 2 minute(s) ago (CURSOR_EXPIRED)");
  CHECK(classify_events_response(response(404, R"({"error":"Not Found"})")).message ==
        "HTTP 404: Not Found");
  CHECK(classify_events_response(response(429, kRateLimited)).message ==
        "HTTP 429: Rate limit exceeded. Try again in 46 seconds. (RATE_LIMIT_EXCEEDED)");
}

TEST_CASE("submission: one outcome per row of the table") {
  CHECK(classify_submission_response(response(200, R"({"success":true})")).kind ==
        SubmissionOutcomeKind::accepted);
  CHECK(classify_submission_response(response(201, "")).kind == SubmissionOutcomeKind::accepted);
  CHECK(classify_submission_response(response(429, kLimitReached)).kind ==
        SubmissionOutcomeKind::limit_reached);
  CHECK(classify_submission_response(response(403, kLimitReached)).kind ==
        SubmissionOutcomeKind::limit_reached);
  CHECK(classify_submission_response(response(401, kUnauthorized)).kind ==
        SubmissionOutcomeKind::auth_failed);
  CHECK(classify_submission_response(response(403, R"({"code":"FORBIDDEN"})")).kind ==
        SubmissionOutcomeKind::auth_failed);
  CHECK(classify_submission_response(transport("Send failure: Broken pipe")).kind ==
        SubmissionOutcomeKind::unknown);
  CHECK(classify_submission_response(response(500, "")).kind == SubmissionOutcomeKind::unknown);
  CHECK(classify_submission_response(response(502, kHtml502)).kind ==
        SubmissionOutcomeKind::unknown);
  CHECK(classify_submission_response(response(408, "")).kind == SubmissionOutcomeKind::unknown);
  CHECK(classify_submission_response(response(429, kRateLimited)).kind ==
        SubmissionOutcomeKind::rejected);
  CHECK(classify_submission_response(response(400, R"({"message":"no ids"})")).kind ==
        SubmissionOutcomeKind::rejected);
  CHECK(classify_submission_response(response(413, "")).kind == SubmissionOutcomeKind::rejected);
}

TEST_CASE("error summaries are short single lines") {
  CHECK(error_summary(response(503, kUnavailable)) ==
        "HTTP 503: Service Unavailable (SERVICE_UNAVAILABLE)");
  CHECK(error_summary(response(502, kHtml502)) == "HTTP 502: HTML error page");
  CHECK(error_summary(response(502, "")) == "HTTP 502: empty body");
  CHECK(error_summary(response(500, "  \r\n ")) == "HTTP 500: empty body");
  CHECK(error_summary(transport("Connection reset by peer")) == "Connection reset by peer");
  CHECK(error_summary(transport("")) == "no response (transport error)");
  CHECK(error_summary(response(504, "gateway\ntimed\tout")) == "HTTP 504: gateway timed out");
  // A truncated envelope is not trusted; its start is quoted.
  CHECK(error_summary(response(503, R"({"error":"Service Unavailable","message":"down for)")) ==
        R"(HTTP 503: {"error":"Service Unavailable","message":"down for)");

  const std::string plain(500, 'x');
  CHECK(error_summary(response(500, plain)) == "HTTP 500: " + std::string(80, 'x'));
  const std::string long_message = R"({"message":")" + std::string(400, 'm') + R"("})";
  const std::string s = error_summary(response(500, long_message));
  CHECK(s.size() == 200);
  CHECK(s.rfind("HTTP 500: mmm", 0) == 0);
}
