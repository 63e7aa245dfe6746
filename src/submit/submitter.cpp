#include "submit/submitter.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <memory>
#include <random>

#include "common/backoff.hpp"
#include "common/sleep.hpp"
#include "ingestd/errors.hpp"
#include "store/event_reader.hpp"
#include "store/submission_ledger.hpp"
#include "upstream/http_client.hpp"
#include "upstream/outcome.hpp"
#include "upstream/profile_page.hpp"

namespace ingestd {

namespace {

LedgerOutcome ledger_outcome(SubmissionOutcomeKind k) {
  switch (k) {
    case SubmissionOutcomeKind::accepted:
      return LedgerOutcome::accepted;
    case SubmissionOutcomeKind::limit_reached:
      return LedgerOutcome::limit_reached;
    case SubmissionOutcomeKind::auth_failed:
      return LedgerOutcome::auth_failed;
    case SubmissionOutcomeKind::rejected:
      return LedgerOutcome::rejected;
    case SubmissionOutcomeKind::unknown:
      return LedgerOutcome::unknown;
  }
  return LedgerOutcome::unknown;
}

std::string preview(Database& db, std::int64_t count) {
  SubmissionLedger ledger(db);
  SubmissionLedger::IdReader reader(ledger);
  std::string text;
  char buf[4096];
  int lines = 0;
  // Reading only the first lines; the reader's destructor cancels the rest of the COPY.
  while (lines < 10) {
    std::size_t n = reader.read(buf, sizeof buf);
    if (n == 0) break;
    for (std::size_t i = 0; i < n && lines < 10; ++i) {
      text += buf[i];
      if (buf[i] == '\n') ++lines;
    }
  }
  return std::to_string(count) + " IDs would be sent; the first " + std::to_string(lines) + ":\n" +
         text;
}

void check_preconditions(const SubmitterOptions& options, Database& db, const SubmitMode& mode,
                         std::int64_t stored) {
  const Checkpoint cp = EventReader(db).load_checkpoint(options.stream);
  if (!cp.done && !mode.force) {
    throw SubmissionError("submission: ingestion is not finished (" + std::to_string(cp.pages) +
                          " pages, " + std::to_string(stored) +
                          " events stored); run `ingestd run` first or pass --force");
  }
  // A quarantined event was read but cannot be stored; it still accounts for one of the upstream's.
  const std::int64_t quarantined = EventReader(db).count_quarantine();
  if (cp.upstream_total && *cp.upstream_total != stored + quarantined && !mode.force) {
    throw SubmissionError("submission: " + std::to_string(stored) + " events stored and " +
                          std::to_string(quarantined) + " quarantined, but the upstream reported " +
                          std::to_string(*cp.upstream_total) +
                          "; refusing to submit an incomplete set without --force");
  }
}

// An attempt whose outcome is unknown (the process died, or no answer came) may have been
// accepted. Where the endpoint lists earlier submissions, one with this run's ID count settles
// it, and the attempt is recorded as accepted instead of spending another.
std::optional<SubmissionRecord> reconcile_unknown(const SubmitterOptions& options, Database& db,
                                                  HttpClient& http, std::int64_t ids,
                                                  const std::vector<SubmissionRecord>& ledger,
                                                  std::stop_token stop) {
  const auto unknown = std::find_if(ledger.rbegin(), ledger.rend(), [](const SubmissionRecord& r) {
    return r.outcome == LedgerOutcome::unknown;
  });
  if (unknown == ledger.rend()) return std::nullopt;
  HttpResult listing;
  http.get(options.url, listing, stop);
  if (listing.status != 200) {
    spdlog::info(
        "submission: the endpoint lists no earlier submissions ({}); attempt {} stays "
        "unknown",
        error_summary(listing), unknown->attempt);
    return std::nullopt;
  }
  const auto listed = find_listed_submission(listing.body, ids);
  if (!listed) return std::nullopt;
  SubmissionRecord accepted = *unknown;
  accepted.outcome = LedgerOutcome::accepted;
  accepted.response = "reconciled from the endpoint's list of submissions: " + *listed;
  SubmissionLedger(db).finish_submission(accepted.attempt, ids, 200, accepted.outcome,
                                         *accepted.response);
  spdlog::info("submission: attempt {} was accepted by the upstream ({} IDs); nothing sent",
               accepted.attempt, ids);
  return accepted;
}

// The acceptance the ledger records, or one the endpoint confirms for an attempt whose outcome
// was unknown; nullopt when there is none.
std::optional<SubmissionRecord> find_acceptance(const SubmitterOptions& options, Database& db,
                                                HttpClient& http, std::int64_t ids,
                                                std::stop_token stop) {
  const auto ledger = SubmissionLedger(db).submissions();
  const auto ok = std::find_if(ledger.begin(), ledger.end(), [](const SubmissionRecord& r) {
    return r.outcome == LedgerOutcome::accepted;
  });
  if (ok != ledger.end()) {
    spdlog::info("submission: attempt {} was already accepted; nothing sent", ok->attempt);
    return *ok;
  }
  return reconcile_unknown(options, db, http, ids, ledger, stop);
}

// The upstream caps attempts per key; one recorded before keys were told apart may have gone
// out on any of them, so it counts against each.
int attempts_on(const std::vector<SubmissionRecord>& ledger, int position) {
  return static_cast<int>(std::count_if(
      ledger.begin(), ledger.end(),
      [&](const SubmissionRecord& r) { return !r.key_position || *r.key_position == position; }));
}

struct Attempt {
  int number = 0;
  std::int64_t ids_sent = 0;
  HttpResult result;
  SubmissionOutcome outcome{SubmissionOutcomeKind::unknown, {}};
};

// One attempt: recorded in the ledger before any byte leaves, the IDs streamed from the store
// into the upload, and the answer recorded after.
Attempt send_once(const SubmitterOptions& options, Database& db, HttpClient& http,
                  const std::string& url, std::int64_t ids, const SubmissionKey& key,
                  std::stop_token stop) {
  Attempt a;
  a.number = SubmissionLedger(db).begin_submission(options.stream, key.position);
  spdlog::info("submission: attempt {} of {}: streaming {} IDs to {}{}", a.number,
               options.max_attempts * static_cast<int>(options.keys.size()), ids, options.url,
               options.key_count > 1 ? " on key " + std::to_string(key.position) + " of " +
                                           std::to_string(options.key_count)
                                     : std::string());
  std::uint64_t bytes = 0;
  {
    SubmissionLedger ledger(db);
    SubmissionLedger::IdReader reader(ledger);
    try {
      http.post_stream(
          url, "text/plain", [&](char* out, std::size_t n) { return reader.read(out, n); },
          a.result, bytes, stop);
    } catch (const DatabaseError& e) {
      SubmissionLedger(db).finish_submission(a.number, reader.rows(), std::nullopt,
                                             LedgerOutcome::unknown, e.what());
      throw;
    }
    a.ids_sent = reader.rows();
  }
  a.outcome = classify_submission_response(a.result);
  const bool answered = a.result.status != 0;
  SubmissionLedger(db).finish_submission(
      a.number, a.ids_sent, answered ? std::optional<int>(a.result.status) : std::nullopt,
      ledger_outcome(a.outcome.kind), answered ? a.result.body : a.result.transport_error);
  return a;
}

std::string key_name(const SubmitterOptions& options, std::size_t k) {
  return "key " + std::to_string(options.keys[k].position) + " of " +
         std::to_string(options.key_count);
}

std::string submission_url(const SubmitterOptions& options, const HttpClient& http) {
  std::string url = options.url;
  if (options.repo.empty()) {
    spdlog::warn("submission: SUBMISSION_REPO is not set; sending without github_repo");
    return url;
  }
  return url + (url.find('?') == std::string::npos ? "?" : "&") +
         "github_repo=" + http.escape(options.repo);
}

}  // namespace

SubmitReport submit_ids(const SubmitterOptions& options, Database& db, const SubmitMode& mode,
                        std::stop_token stop) {
  const std::int64_t stored = EventReader(db).count_events();
  check_preconditions(options, db, mode, stored);

  SubmitReport report;
  report.ids = stored;
  if (mode.dry_run) {
    report.result = SubmitReport::Result::dry_run;
    report.response = preview(db, stored);
    return report;
  }

  if (int n = SubmissionLedger(db).close_interrupted_submissions(); n > 0) {
    spdlog::warn(
        "submission: {} earlier attempt(s) were interrupted; their outcome is unknown and they "
        "count",
        n);
  }
  if (options.keys.empty()) {
    throw AuthError("submission: no API key is left that the upstream has not refused");
  }
  std::size_t key = 0;
  const auto client = [&](std::size_t k) {
    HttpClient::Options http;
    http.api_key = options.keys[k].key;
    http.timeout = std::max(options.http_timeout, std::chrono::milliseconds(600'000));
    http.connect_timeout = options.http_connect_timeout;
    http.gzip = false;
    return std::make_unique<HttpClient>(profile_http_options(options.profile, std::move(http)));
  };
  std::unique_ptr<HttpClient> http = client(key);
  const std::string url = submission_url(options, *http);
  Backoff backoff(
      BackoffPolicy{.initial = std::chrono::milliseconds(2000),
                    .max = std::chrono::milliseconds(60'000),
                    .max_attempts = options.max_attempts * static_cast<int>(options.keys.size())},
      std::random_device{}());
  const auto spent = [&](std::size_t k) {
    return attempts_on(SubmissionLedger(db).submissions(), options.keys[k].position) >=
           options.max_attempts;
  };
  for (;;) {
    if (auto accepted = find_acceptance(options, db, *http, stored, stop)) {
      report.result = SubmitReport::Result::already_accepted;
      report.attempt = accepted->attempt;
      report.response = accepted->response.value_or("");
      return report;
    }
    for (; spent(key); http = client(++key)) {
      if (key + 1 == options.keys.size()) {
        throw SubmissionError(
            "submission: all " + std::to_string(options.max_attempts) + " attempts" +
            (options.key_count > 1 ? " of every key still valid" : "") +
            " are used (SUBMISSION_MAX_ATTEMPTS" + (options.key_count > 1 ? " per key" : "") +
            "); see `ingestd status`");
      }
      spdlog::warn("submission: {} has used its {} attempts; the next goes on {}",
                   key_name(options, key), options.max_attempts, key_name(options, key + 1));
    }
    const Attempt a = send_once(options, db, *http, url, stored, options.keys[key], stop);
    switch (a.outcome.kind) {
      case SubmissionOutcomeKind::accepted:
        report.result = SubmitReport::Result::accepted;
        report.attempt = a.number;
        report.ids = a.ids_sent;
        report.response = a.result.body;
        spdlog::info("submission: attempt {} accepted: {} IDs", a.number, a.ids_sent);
        return report;
      case SubmissionOutcomeKind::auth_failed:
        if (key + 1 == options.keys.size()) throw AuthError("submission: " + a.outcome.message);
        spdlog::warn("submission: {} was refused ({}); the next attempt goes on {}",
                     key_name(options, key), a.outcome.message, key_name(options, key + 1));
        http = client(++key);
        continue;
      case SubmissionOutcomeKind::limit_reached:
      case SubmissionOutcomeKind::rejected:
        throw SubmissionError("submission: attempt " + std::to_string(a.number) +
                              " refused: " + a.outcome.message);
      case SubmissionOutcomeKind::unknown:
        break;
    }
    if (stop.stop_requested()) {
      throw SubmissionError("submission: stopped during attempt " + std::to_string(a.number));
    }
    const auto delay = backoff.next();
    if (!delay || (spent(key) && key + 1 == options.keys.size())) {
      throw SubmissionError("submission: attempt " + std::to_string(a.number) + " failed (" +
                            a.outcome.message + ") and no attempt is left");
    }
    spdlog::warn("submission: attempt {} failed ({}); it counts against the cap; retrying in {} ms",
                 a.number, a.outcome.message, delay->count());
    sleep_for(*delay, stop);
  }
}

}  // namespace ingestd
