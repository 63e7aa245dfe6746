#include "upstream/outcome.hpp"

#include <simdjson.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <optional>
#include <string_view>

#include "common/text.hpp"

namespace ingestd {

namespace {

constexpr std::size_t kMaxSummary = 200;
constexpr std::size_t kMaxBodyExcerpt = 80;
// Error envelopes are tiny; a larger body is a page or an HTML dump and is not worth a parse.
constexpr std::size_t kMaxEnvelopeBytes = 64 * 1024;

using Envelope = ErrorBody;

// Control characters and newlines become spaces and runs of spaces collapse, so a summary is
// always one log line.
std::string one_line(std::string_view s, std::size_t max_len) {
  std::string out;
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    const char put = (c < 0x20 || c == 0x7f) ? ' ' : ch;
    if (put == ' ' && (out.empty() || out.back() == ' ')) continue;
    if (out.size() >= max_len) break;
    out.push_back(put);
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

std::optional<std::string> string_field(simdjson::ondemand::object& obj, std::string_view key) {
  std::string_view value;
  if (obj.find_field_unordered(key).get_string().get(value) != simdjson::SUCCESS) {
    return std::nullopt;
  }
  return std::string(value);
}

std::optional<std::int64_t> number_field(simdjson::ondemand::object& obj, std::string_view key) {
  double value = 0;
  if (obj.find_field_unordered(key).get_double().get(value) != simdjson::SUCCESS ||
      !(value >= 0 && value <= 1e12)) {
    return std::nullopt;
  }
  return static_cast<std::int64_t>(std::ceil(value));
}

}  // namespace

ErrorBody parse_error_body(std::string_view body) {
  ErrorBody env;
  const std::string_view t = trim(body);
  if (t.empty() || t.front() != '{' || t.size() > kMaxEnvelopeBytes) return env;
  const simdjson::padded_string padded(t);
  simdjson::ondemand::parser parser;
  simdjson::ondemand::document doc;
  if (parser.iterate(padded).get(doc) != simdjson::SUCCESS) return env;
  simdjson::ondemand::object obj;
  if (doc.get_object().get(obj) != simdjson::SUCCESS) return env;
  env.error = string_field(obj, "error");
  env.message = string_field(obj, "message");
  env.code = string_field(obj, "code");
  env.retry_after = number_field(obj, "retryAfter");
  simdjson::ondemand::object rate;
  if (obj.find_field_unordered("rateLimit").get_object().get(rate) == simdjson::SUCCESS) {
    env.limit = number_field(rate, "limit");
    env.remaining = number_field(rate, "remaining");
    env.reset = number_field(rate, "reset");
    if (!env.retry_after) env.retry_after = number_field(rate, "retryAfter");
  }
  return env;
}

namespace {

bool looks_like_html(std::string_view body) {
  const std::string_view t = trim(body);
  if (t.empty() || t.front() != '<') return false;
  std::string head(t.substr(0, 256));
  std::transform(head.begin(), head.end(), head.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return head.find("<html") != std::string::npos || head.find("<!doctype") != std::string::npos ||
         head.find("<head") != std::string::npos || head.find("<body") != std::string::npos ||
         head.find("<h1") != std::string::npos || head.find("<title") != std::string::npos;
}

std::string body_summary(std::string_view body, const Envelope& env) {
  if (env.message || env.error) {
    std::string s = env.message ? *env.message : *env.error;
    if (env.code) s += " (" + *env.code + ")";
    return s;
  }
  if (env.code) return *env.code;
  if (trim(body).empty()) return "empty body";
  if (looks_like_html(body)) return "HTML error page";
  const std::string excerpt = one_line(body, kMaxBodyExcerpt);
  return excerpt.empty() ? "unreadable body" : excerpt;
}

std::string summarize(const HttpResult& r, const Envelope& env) {
  if (r.status == 0) {
    const std::string what = one_line(r.transport_error, kMaxSummary);
    return what.empty() ? "no response (transport error)" : what;
  }
  return one_line("HTTP " + std::to_string(r.status) + ": " + body_summary(r.body, env),
                  kMaxSummary);
}

// No response, a request timeout or a server error: the request may be retried as it was.
bool is_transient(int status) {
  return status == 0 || status == 408 || (status >= 500 && status <= 599);
}

// CURSOR_EXPIRED, CursorExpired and cursor-expired are one code in different dialects: compare
// letters and digits only, case-insensitively, in "code" or in "error".
std::string fold_code(std::string_view s) {
  std::string out;
  for (const char c : s) {
    if (std::isalnum(static_cast<unsigned char>(c))) {
      out.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
    }
  }
  return out;
}

bool names(const Envelope& env, std::string_view folded) {
  return (env.code && fold_code(*env.code) == folded) ||
         (env.error && fold_code(*env.error) == folded);
}

}  // namespace

std::string error_summary(const HttpResult& r) {
  return summarize(r, r.status == 0 ? Envelope{} : parse_error_body(r.body));
}

Outcome classify_events_response(const HttpResult& r, bool budget_spent,
                                 const std::vector<int>& expired_status,
                                 const std::vector<std::string>& expired_codes) {
  if (r.status == 200) return {OutcomeKind::ok, "HTTP 200"};
  const Envelope env = r.status == 0 ? Envelope{} : parse_error_body(r.body);
  std::string message = summarize(r, env);
  const int s = r.status;
  if (is_transient(s)) return {OutcomeKind::retry_backoff, std::move(message)};
  if (s == 429 || (s == 403 && budget_spent)) {
    return {OutcomeKind::rate_limited, std::move(message)};
  }
  if (s == 401 || s == 403) return {OutcomeKind::auth_failed, std::move(message)};
  if (std::find(expired_status.begin(), expired_status.end(), s) != expired_status.end() &&
      (expired_codes.empty() ||
       std::any_of(expired_codes.begin(), expired_codes.end(),
                   [&](const std::string& code) { return names(env, fold_code(code)); }))) {
    return {OutcomeKind::cursor_expired, std::move(message)};
  }
  // 410 Gone is how other APIs say a cursor expired.
  if (s == 410 || ((s == 400 || s == 404) && names(env, "CURSOREXPIRED"))) {
    return {OutcomeKind::cursor_expired, std::move(message)};
  }
  if ((s == 400 || s == 404) && names(env, "CURSORINVALID")) {
    return {OutcomeKind::cursor_invalid, std::move(message)};
  }
  return {OutcomeKind::fatal, std::move(message)};
}

std::optional<std::string> find_listed_submission(std::string_view body, std::int64_t id_count) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(body.data(), body.size()).get(root) != simdjson::SUCCESS) return std::nullopt;
  simdjson::dom::array list;
  if (root.get_array().get(list) != simdjson::SUCCESS &&
      root["data"].get_array().get(list) != simdjson::SUCCESS &&
      root["submissions"].get_array().get(list) != simdjson::SUCCESS &&
      root.at_pointer("/data/submissions").get_array().get(list) != simdjson::SUCCESS) {
    return std::nullopt;
  }
  for (const simdjson::dom::element item : list) {
    std::int64_t count = -1;
    if (item["eventCount"].get_int64().get(count) != simdjson::SUCCESS || count != id_count) {
      continue;
    }
    std::int64_t status = 200;
    if (simdjson::dom::element s; item["status"].get(s) == simdjson::SUCCESS) {
      if (s.get_int64().get(status) != simdjson::SUCCESS) continue;
    }
    if (status >= 200 && status <= 299) return simdjson::minify(item);
  }
  return std::nullopt;
}

SubmissionOutcome classify_submission_response(const HttpResult& r) {
  const Envelope env = r.status == 0 ? Envelope{} : parse_error_body(r.body);
  std::string message = summarize(r, env);
  const int s = r.status;
  if (s >= 200 && s <= 299) return {SubmissionOutcomeKind::accepted, std::move(message)};
  if (is_transient(s)) return {SubmissionOutcomeKind::unknown, std::move(message)};
  if ((s == 429 || s == 403) && names(env, "SUBMISSIONLIMITREACHED")) {
    return {SubmissionOutcomeKind::limit_reached, std::move(message)};
  }
  if (s == 401 || s == 403) return {SubmissionOutcomeKind::auth_failed, std::move(message)};
  return {SubmissionOutcomeKind::rejected, std::move(message)};
}

}  // namespace ingestd
