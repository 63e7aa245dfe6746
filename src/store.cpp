#include "ingestd/store.hpp"

#include <soci/postgresql/soci-postgresql.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "ingestd/config.hpp"
#include "ingestd/errors.hpp"
#include "ingestd/migrations.hpp"
#include "ingestd/page_parser.hpp"
#include "ingestd/sleep.hpp"

namespace ingestd {

namespace {

constexpr const char* kEventColumns =
    "(id, occurred_at, type, name, user_id, session_id, properties, session)";

struct PgResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using PgResult = std::unique_ptr<PGresult, PgResultDeleter>;

// A unique violation during the fast COPY: the page holds ids that are already stored.
struct UniqueViolation {};

std::string pg_error(PGconn* conn, const PGresult* res) {
  std::string msg = res ? PQresultErrorMessage(res) : PQerrorMessage(conn);
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
  return msg;
}

bool is_unique_violation(const PGresult* res) {
  const char* state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
  return state && std::string_view(state) == "23505";
}

// SOCI's PostgreSQL backend re-parses its connect string as key=value pairs and mangles a URI,
// so a URI is expanded into an equivalent libpq keyword string first.
std::string soci_connect_string(const std::string& database_url) {
  if (!database_url.starts_with("postgresql://") && !database_url.starts_with("postgres://")) {
    return database_url;
  }
  char* error = nullptr;
  std::unique_ptr<PQconninfoOption, decltype(&PQconninfoFree)> options(
      PQconninfoParse(database_url.c_str(), &error), &PQconninfoFree);
  if (!options) {
    std::string why = error ? error : "malformed URI";
    PQfreemem(error);
    while (!why.empty() && why.back() == '\n') why.pop_back();
    throw DatabaseError("database: DATABASE_URL " + redact_database_url(database_url) + ": " + why);
  }
  std::string out;
  for (const PQconninfoOption* o = options.get(); o->keyword; ++o) {
    if (!o->val) continue;
    out += out.empty() ? "" : " ";
    out += o->keyword;
    out += "='";
    for (const char* c = o->val; *c; ++c) {
      if (*c == '\'' || *c == '\\') out += '\\';
      out += *c;
    }
    out += "'";
  }
  return out;
}

int latest_embedded_version() {
  const auto& m = embedded_migrations();
  return m.empty() ? 0 : m.back().version;
}

void refuse_newer_schema(int have) {
  if (have > latest_embedded_version()) {
    throw FatalError("database: schema version " + std::to_string(have) +
                     " is newer than this binary supports (" +
                     std::to_string(latest_embedded_version()) + "); upgrade ingestd");
  }
}

}  // namespace

Store::Store(const std::string& database_url) {
  try {
    sql_.open(soci::postgresql, soci_connect_string(database_url));
  } catch (const DatabaseError&) {
    throw;
  } catch (const std::exception& e) {
    throw DatabaseError("database: cannot connect to " + redact_database_url(database_url) + ": " +
                        e.what());
  }
  // Safe because every page's rows and the cursor that follows them commit together: a commit
  // lost in a server crash only means that page is fetched again.
  exec("SET synchronous_commit = off", "session setup");
  exec("SET application_name = 'ingestd'", "session setup");
  // Server notices such as "relation already exists, skipping" are not for the operator.
  exec("SET client_min_messages = warning", "session setup");
}

Store::~Store() = default;

std::unique_ptr<Store> Store::connect(const std::string& database_url,
                                      std::chrono::milliseconds timeout, std::stop_token stop) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto delay = std::chrono::milliseconds(250);
  for (int attempt = 1;; ++attempt) {
    try {
      return std::make_unique<Store>(database_url);
    } catch (const DatabaseError& e) {
      const auto now = std::chrono::steady_clock::now();
      if (now >= deadline || stop.stop_requested()) {
        throw DatabaseError(std::string(e.what()) + " (gave up after " + std::to_string(attempt) +
                            " attempts; DB_CONNECT_TIMEOUT_S is " +
                            std::to_string(timeout.count() / 1000) + ")");
      }
      const auto wait =
          std::min(delay, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now));
      spdlog::warn("{}; retrying in {} ms", e.what(), wait.count());
      sleep_for(wait, stop);
      delay = std::min(delay * 2, std::chrono::milliseconds(5000));
    }
  }
}

PGconn* Store::native() {
  return static_cast<soci::postgresql_session_backend*>(sql_.get_backend())->conn_;
}

bool Store::connection_ok() {
  PGconn* conn = native();
  if (!conn || PQstatus(conn) != CONNECTION_OK) return false;
  PgResult res(PQexec(conn, "SELECT 1"));
  return PQresultStatus(res.get()) == PGRES_TUPLES_OK;
}

void Store::exec(const char* sql, const char* context) {
  PGconn* conn = native();
  PgResult res(PQexec(conn, sql));
  auto st = PQresultStatus(res.get());
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
    throw DatabaseError(std::string("database: ") + context + ": " + pg_error(conn, res.get()));
  }
}

std::int64_t Store::copy_into(const char* copy_sql, const std::string& rows, const char* context) {
  PGconn* conn = native();
  {
    PgResult res(PQexec(conn, copy_sql));
    if (PQresultStatus(res.get()) != PGRES_COPY_IN) {
      throw DatabaseError(std::string("database: ") + context + ": " + pg_error(conn, res.get()));
    }
  }
  // One PQputCopyData per page: libpq buffers and flushes it in socket-sized pieces.
  if (!rows.empty() && PQputCopyData(conn, rows.data(), static_cast<int>(rows.size())) != 1) {
    throw DatabaseError(std::string("database: ") + context + ": " + pg_error(conn, nullptr));
  }
  if (PQputCopyEnd(conn, nullptr) != 1) {
    throw DatabaseError(std::string("database: ") + context + ": " + pg_error(conn, nullptr));
  }
  std::int64_t count = 0;
  bool unique_violation = false;
  std::string error;
  while (PGresult* raw = PQgetResult(conn)) {
    PgResult res(raw);
    if (PQresultStatus(raw) == PGRES_COMMAND_OK) {
      count = std::strtoll(PQcmdTuples(raw), nullptr, 10);
    } else if (is_unique_violation(raw)) {
      unique_violation = true;
    } else {
      error = pg_error(conn, raw);
    }
  }
  if (unique_violation) throw UniqueViolation{};
  if (!error.empty()) throw DatabaseError(std::string("database: ") + context + ": " + error);
  return count;
}

MigrationReport Store::migrate() {
  MigrationReport report;
  try {
    for (const Migration& m : embedded_migrations()) {
      soci::transaction tr(sql_);
      // Serialises concurrent migrators (say, systemd and a manual run starting together).
      exec("SELECT pg_advisory_xact_lock(7355608)", "migration lock");
      exec(
          "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text "
          "NOT "
          "NULL, applied_at timestamptz NOT NULL DEFAULT now())",
          "schema_migrations");
      int newest = 0;
      soci::indicator ind;
      sql_ << "SELECT max(version) FROM schema_migrations", soci::into(newest, ind);
      if (ind == soci::i_ok) refuse_newer_schema(newest);
      int present = 0;
      sql_ << "SELECT count(*) FROM schema_migrations WHERE version = :v", soci::use(m.version),
          soci::into(present);
      if (present == 0) {
        exec(std::string(m.sql).c_str(), std::string(m.name).c_str());
        std::string name(m.name);
        sql_ << "INSERT INTO schema_migrations (version, name) VALUES (:v, :n)",
            soci::use(m.version), soci::use(name);
        report.applied.emplace_back(m.name);
      }
      tr.commit();
    }
  } catch (const soci::soci_error& e) {
    throw DatabaseError(std::string("database: migration failed: ") + e.what());
  }
  report.schema_version = schema_version();
  return report;
}

int Store::schema_version() {
  try {
    int exists = 0;
    sql_ << "SELECT count(*) FROM pg_tables WHERE tablename = 'schema_migrations' AND schemaname = "
            "current_schema()",
        soci::into(exists);
    if (exists == 0) return 0;
    int version = 0;
    soci::indicator ind;
    sql_ << "SELECT max(version) FROM schema_migrations", soci::into(version, ind);
    return ind == soci::i_ok ? version : 0;
  } catch (const soci::soci_error& e) {
    throw DatabaseError(std::string("database: reading schema version: ") + e.what());
  }
}

void Store::require_current_schema() {
  const int have = schema_version();
  const int want = latest_embedded_version();
  refuse_newer_schema(have);
  if (have < want) {
    throw FatalError("database: schema version " + std::to_string(have) + ", this binary needs " +
                     std::to_string(want) + "; run `ingestd migrate`");
  }
}

bool Store::try_lock_stream(const std::string& stream) {
  try {
    int locked = 0;
    std::string key = "ingestd/" + stream;
    sql_ << "SELECT pg_try_advisory_lock(hashtextextended(:k, 0))::int", soci::use(key),
        soci::into(locked);
    return locked == 1;
  } catch (const soci::soci_error& e) {
    throw DatabaseError(std::string("database: stream lock: ") + e.what());
  }
}

Checkpoint Store::load_checkpoint(const std::string& stream) {
  try {
    sql_ << "INSERT INTO ingest_checkpoint (stream) VALUES (:s) ON CONFLICT DO NOTHING",
        soci::use(stream);
    Checkpoint c;
    c.stream = stream;
    std::string cursor, last_error;
    long long total = 0, pages = 0, events = 0, quarantined = 0;
    int done = 0;
    soci::indicator cursor_ind, total_ind, error_ind;
    sql_
        << "SELECT next_cursor, pages, events, quarantined, upstream_total, done::int, last_error, "
           "extract(epoch FROM now() - updated_at)::float8 FROM ingest_checkpoint WHERE stream = "
           ":s",
        soci::use(stream), soci::into(cursor, cursor_ind), soci::into(pages), soci::into(events),
        soci::into(quarantined), soci::into(total, total_ind), soci::into(done),
        soci::into(last_error, error_ind), soci::into(c.age_seconds);
    if (cursor_ind == soci::i_ok) c.next_cursor = cursor;
    if (total_ind == soci::i_ok) c.upstream_total = total;
    if (error_ind == soci::i_ok) c.last_error = last_error;
    c.pages = pages;
    c.events = events;
    c.quarantined = quarantined;
    c.done = done != 0;
    return c;
  } catch (const soci::soci_error& e) {
    throw DatabaseError(std::string("database: reading checkpoint: ") + e.what());
  }
}

std::optional<RateLimitState> Store::load_rate_state(const std::string& stream) {
  try {
    RateLimitState state;
    int limit = 0;
    long long window_ms = 0;
    std::string sent;
    soci::indicator limit_ind = soci::i_null;
    sql_ << "SELECT request_limit, window_ms, array_to_string(sent_at_ms, ',') FROM "
            "rate_limit_state WHERE stream = :s",
        soci::use(stream), soci::into(limit, limit_ind), soci::into(window_ms), soci::into(sent);
    if (!sql_.got_data()) return std::nullopt;
    if (limit_ind == soci::i_ok) state.limit = limit;
    state.window_ms = window_ms;
    for (std::size_t at = 0; at < sent.size();) {
      const std::size_t comma = std::min(sent.find(',', at), sent.size());
      state.sent_at_ms.push_back(std::stoll(sent.substr(at, comma - at)));
      at = comma + 1;
    }
    return state;
  } catch (const soci::soci_error& e) {
    throw DatabaseError(std::string("database: reading the rate-limit state: ") + e.what());
  }
}

void Store::save_rate_state(const std::string& stream, const RateLimitState& state) {
  std::string sent = "{";
  for (const std::int64_t ms : state.sent_at_ms) {
    if (sent.size() > 1) sent += ',';
    sent += std::to_string(ms);
  }
  sent += '}';
  int limit = static_cast<int>(state.limit.value_or(0));
  soci::indicator limit_ind = state.limit ? soci::i_ok : soci::i_null;
  long long window_ms = state.window_ms;
  try {
    sql_ << "INSERT INTO rate_limit_state (stream, request_limit, window_ms, sent_at_ms) "
            "VALUES (:s, :l, :w, CAST(:t AS bigint[])) ON CONFLICT (stream) DO UPDATE SET "
            "request_limit = excluded.request_limit, window_ms = excluded.window_ms, "
            "sent_at_ms = excluded.sent_at_ms, updated_at = now()",
        soci::use(stream), soci::use(limit, limit_ind), soci::use(window_ms), soci::use(sent);
  } catch (const soci::soci_error& e) {
    throw DatabaseError(std::string("database: saving the rate-limit state: ") + e.what());
  }
}

std::int64_t Store::insert_quarantine(const std::string& stream, const PageCommit& commit,
                                      const DecodedPage& page) {
  std::int64_t inserted = 0;
  PGconn* conn = native();
  for (const QuarantinedEvent& q : page.quarantined) {
    const char* params[] = {stream.c_str(), q.raw.c_str(), q.reason.c_str(),
                            commit.page_cursor.empty() ? nullptr : commit.page_cursor.c_str()};
    PgResult res(PQexecParams(conn,
                              "INSERT INTO quarantine (stream, raw, reason, page_cursor) VALUES "
                              "($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                              4, nullptr, params, nullptr, nullptr, 0));
    if (PQresultStatus(res.get()) != PGRES_COMMAND_OK) {
      throw DatabaseError("database: quarantine insert: " + pg_error(conn, res.get()));
    }
    inserted += std::strtoll(PQcmdTuples(res.get()), nullptr, 10);
  }
  return inserted;
}

CommitResult Store::commit_page(const std::string& stream, const PageCommit& commit,
                                const DecodedPage& page) {
  CommitResult result;
  try {
    soci::transaction tr(sql_);
    long long pages = 0;
    sql_ << "SELECT pages FROM ingest_checkpoint WHERE stream = :s FOR UPDATE", soci::use(stream),
        soci::into(pages);
    if (pages >= commit.page_number) {
      // The previous attempt committed but its acknowledgement was lost with the connection.
      tr.rollback();
      return result;
    }
    if (pages != commit.page_number - 1) {
      throw FatalError("database: checkpoint of stream " + stream + " is at page " +
                       std::to_string(pages) + ", expected " +
                       std::to_string(commit.page_number - 1) +
                       "; another process is writing this stream");
    }
    if (page.row_count > 0) {
      exec("SAVEPOINT page_copy", "savepoint");
      const std::string fast = std::string("COPY events ") + kEventColumns + " FROM STDIN";
      try {
        result.inserted = copy_into(fast.c_str(), page.copy_rows, "COPY into events");
      } catch (const UniqueViolation&) {
        exec("ROLLBACK TO SAVEPOINT page_copy", "savepoint rollback");
        exec(
            "CREATE TEMP TABLE IF NOT EXISTS events_staging (LIKE events INCLUDING DEFAULTS) ON "
            "COMMIT DELETE ROWS",
            "staging table");
        const std::string staged =
            std::string("COPY events_staging ") + kEventColumns + " FROM STDIN";
        try {
          copy_into(staged.c_str(), page.copy_rows, "COPY into staging");
        } catch (const UniqueViolation&) {
          throw DatabaseError("database: unexpected unique violation in the staging table");
        }
        const std::string insert = std::string("INSERT INTO events ") + kEventColumns + " SELECT " +
                                   "id, occurred_at, type, name, user_id, session_id, properties, "
                                   "session FROM events_staging ON CONFLICT (id) DO NOTHING";
        PgResult res(PQexec(native(), insert.c_str()));
        if (PQresultStatus(res.get()) != PGRES_COMMAND_OK) {
          throw DatabaseError("database: staged insert: " + pg_error(native(), res.get()));
        }
        result.inserted = std::strtoll(PQcmdTuples(res.get()), nullptr, 10);
        exec("TRUNCATE events_staging", "staging cleanup");
        result.used_fallback = true;
      }
    }
    result.quarantined = insert_quarantine(stream, commit, page);

    std::string cursor = commit.next_cursor.value_or("");
    soci::indicator cursor_ind = commit.next_cursor ? soci::i_ok : soci::i_null;
    long long total = commit.upstream_total.value_or(0);
    soci::indicator total_ind = commit.upstream_total ? soci::i_ok : soci::i_null;
    long long page_number = commit.page_number;
    long long inserted = result.inserted;
    long long quarantined = result.quarantined;
    int done = commit.done ? 1 : 0;
    sql_ << "UPDATE ingest_checkpoint SET next_cursor = :c, pages = :p, events = events + :e, "
            "quarantined = quarantined + :q, upstream_total = coalesce(:t, upstream_total), "
            "done = :d::boolean, last_error = NULL, updated_at = now() WHERE stream = :s",
        soci::use(cursor, cursor_ind), soci::use(page_number), soci::use(inserted),
        soci::use(quarantined), soci::use(total, total_ind), soci::use(done), soci::use(stream);
    tr.commit();
  } catch (const soci::soci_error& e) {
    throw DatabaseError(std::string("database: committing page ") +
                        std::to_string(commit.page_number) + ": " + e.what());
  }
  return result;
}

void Store::record_error(const std::string& stream, const std::string& message) {
  try {
    sql_ << "UPDATE ingest_checkpoint SET last_error = :m, updated_at = now() WHERE stream = :s",
        soci::use(message), soci::use(stream);
  } catch (const soci::soci_error& e) {
    spdlog::warn("database: could not record the last error: {}", e.what());
  }
}

std::int64_t Store::count_events() {
  long long n = 0;
  try {
    sql_ << "SELECT count(*) FROM events", soci::into(n);
  } catch (const soci::soci_error& e) {
    throw DatabaseError(std::string("database: counting events: ") + e.what());
  }
  return n;
}

std::int64_t Store::count_quarantine() {
  long long n = 0;
  try {
    sql_ << "SELECT count(*) FROM quarantine", soci::into(n);
  } catch (const soci::soci_error& e) {
    throw DatabaseError(std::string("database: counting quarantine: ") + e.what());
  }
  return n;
}

std::vector<SubmissionRecord> Store::submissions() {
  std::vector<SubmissionRecord> out;
  try {
    soci::rowset<soci::row> rows =
        (sql_.prepare << "SELECT attempt, started_at::text, finished_at::text, "
                         "ids_sent, http_status, outcome, response FROM submissions "
                         "ORDER BY attempt");
    for (const soci::row& row : rows) {
      SubmissionRecord r;
      r.attempt = row.get<int>(0);
      r.started_at = row.get<std::string>(1);
      if (row.get_indicator(2) == soci::i_ok) r.finished_at = row.get<std::string>(2);
      if (row.get_indicator(3) == soci::i_ok) r.ids_sent = row.get<long long>(3);
      if (row.get_indicator(4) == soci::i_ok) r.http_status = row.get<int>(4);
      r.outcome = row.get<std::string>(5);
      if (row.get_indicator(6) == soci::i_ok) r.response = row.get<std::string>(6);
      out.push_back(std::move(r));
    }
  } catch (const soci::soci_error& e) {
    throw DatabaseError(std::string("database: reading submissions: ") + e.what());
  }
  return out;
}

int Store::begin_submission(const std::string& stream) {
  try {
    soci::transaction tr(sql_);
    exec("LOCK TABLE submissions IN EXCLUSIVE MODE", "submission ledger lock");
    int attempt = 0;
    sql_ << "SELECT coalesce(max(attempt), 0) + 1 FROM submissions", soci::into(attempt);
    sql_ << "INSERT INTO submissions (attempt, stream) VALUES (:a, :s)", soci::use(attempt),
        soci::use(stream);
    tr.commit();
    return attempt;
  } catch (const soci::soci_error& e) {
    throw DatabaseError(std::string("database: recording a submission attempt: ") + e.what());
  }
}

void Store::finish_submission(int attempt, std::int64_t ids_sent, std::optional<int> http_status,
                              const std::string& outcome, const std::string& response) {
  try {
    long long sent = ids_sent;
    int status = http_status.value_or(0);
    soci::indicator status_ind = http_status ? soci::i_ok : soci::i_null;
    sql_
        << "UPDATE submissions SET finished_at = now(), ids_sent = :n, http_status = :h, outcome = "
           ":o, response = :r WHERE attempt = :a",
        soci::use(sent), soci::use(status, status_ind), soci::use(outcome), soci::use(response),
        soci::use(attempt);
  } catch (const soci::soci_error& e) {
    throw DatabaseError(std::string("database: recording a submission outcome: ") + e.what());
  }
}

int Store::close_interrupted_submissions() {
  try {
    soci::statement st =
        (sql_.prepare << "UPDATE submissions SET outcome = 'unknown', finished_at = "
                         "now(), response = coalesce(response, 'interrupted: the "
                         "process stopped while sending') WHERE outcome = "
                         "'in_progress'");
    st.execute(true);
    return static_cast<int>(st.get_affected_rows());
  } catch (const soci::soci_error& e) {
    throw DatabaseError(std::string("database: closing interrupted submissions: ") + e.what());
  }
}

Store::IdReader::IdReader(Store& store) : store_(store) {
  PGconn* conn = store_.native();
  PgResult res(PQexec(conn, "COPY (SELECT id FROM events) TO STDOUT"));
  if (PQresultStatus(res.get()) != PGRES_COPY_OUT) {
    throw DatabaseError("database: streaming ids: " + pg_error(conn, res.get()));
  }
}

Store::IdReader::~IdReader() {
  if (chunk_) PQfreemem(chunk_);
  if (!finished_) {
    // Abandoning a COPY OUT needs the connection reset; the cancel is best-effort.
    PGconn* conn = store_.native();
    if (PGcancel* cancel = PQgetCancel(conn)) {
      char err[256];
      PQcancel(cancel, err, sizeof err);
      PQfreeCancel(cancel);
    }
    char* buf = nullptr;
    while (PQgetCopyData(conn, &buf, 0) > 0) PQfreemem(buf);
    while (PGresult* r = PQgetResult(conn)) PQclear(r);
  }
}

std::size_t Store::IdReader::read(char* out, std::size_t n) {
  std::size_t written = 0;
  PGconn* conn = store_.native();
  while (written < n && !finished_) {
    if (chunk_pos_ == chunk_size_) {
      if (chunk_) {
        PQfreemem(chunk_);
        chunk_ = nullptr;
      }
      int len = PQgetCopyData(conn, &chunk_, 0);
      if (len == -1) {
        finished_ = true;
        PgResult res(PQgetResult(conn));
        if (PQresultStatus(res.get()) != PGRES_COMMAND_OK) {
          throw DatabaseError("database: streaming ids: " + pg_error(conn, res.get()));
        }
        while (PGresult* r = PQgetResult(conn)) PQclear(r);
        break;
      }
      if (len < 0) throw DatabaseError("database: streaming ids: " + pg_error(conn, nullptr));
      chunk_size_ = static_cast<std::size_t>(len);
      chunk_pos_ = 0;
      ++rows_;
    }
    std::size_t take = std::min(n - written, chunk_size_ - chunk_pos_);
    std::copy_n(chunk_ + chunk_pos_, take, out + written);
    chunk_pos_ += take;
    written += take;
  }
  return written;
}

}  // namespace ingestd
