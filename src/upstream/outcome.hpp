#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "upstream/http_types.hpp"

namespace ingestd {

// The one place that decides what an upstream answer means: retry it, stop, or carry on.

enum class OutcomeKind {
  ok,
  rate_limited,
  retry_backoff,
  cursor_expired,
  cursor_invalid,
  auth_failed,
  fatal
};

struct Outcome {
  OutcomeKind kind;
  std::string message;
};

// An events page response. 200 is ok without looking at the body: the caller validates the JSON
// itself and must treat a truncated page as retry_backoff. 502 stays retry_backoff even though a
// load balancer has been seen answering a malformed cursor with it: the retry budget ends that.
// `budget_spent`: the answer's rate headers say Remaining 0; a 403 that says so is a rate
// refusal (GitHub's way of saying 429), not a refused key.
// `expired_status` and `expired_codes` are a source profile's own ways of saying a cursor
// expired (a status in the list, with one of the codes when the list of codes is not empty).
Outcome classify_events_response(const HttpResult& r, bool budget_spent = false,
                                 const std::vector<int>& expired_status = {},
                                 const std::vector<std::string>& expired_codes = {});

enum class SubmissionOutcomeKind { accepted, limit_reached, auth_failed, rejected, unknown };

struct SubmissionOutcome {
  SubmissionOutcomeKind kind;
  std::string message;
};

// A submission response. `unknown` means the upstream may have counted the attempt (no answer
// after bytes were sent, 5xx, 408), so it must count against the submission cap.
SubmissionOutcome classify_submission_response(const HttpResult& r);

// Reads the endpoint's list of earlier submissions (GET on the submission URL): a JSON array,
// at the top or under "data" or "submissions" (also data.submissions), of objects with an
// "eventCount". Returns the JSON text of one that counted `id_count` IDs and did not fail (no
// "status", or a 2xx one), or nullopt when there is none or the body is not such a list.
std::optional<std::string> find_listed_submission(std::string_view body, std::int64_t id_count);

// The JSON body of an error answer: the {"error","message","code"} envelope and the rate-limit
// fields a 429 may carry ("retryAfter" at the top or in "rateLimit", rateLimit.limit /
// remaining / reset; non-negative numbers, fractions rounded up). A truncated, non-JSON or
// oversized body yields no fields.
struct ErrorBody {
  std::optional<std::string> error, message, code;
  std::optional<std::int64_t> retry_after, limit, remaining, reset;
};
ErrorBody parse_error_body(std::string_view body);

// One line for logs and error messages, at most 200 bytes and free of control characters, e.g.
// "HTTP 503: Service Unavailable (SERVICE_UNAVAILABLE)", "HTTP 502: HTML error page", or the
// transport error when no response arrived. Only the body's envelope is quoted, never request
// headers, so the API key cannot leak into it.
std::string error_summary(const HttpResult& r);

}  // namespace ingestd
