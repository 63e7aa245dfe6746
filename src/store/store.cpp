#include "store/store.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <optional>
#include <utility>

#include "app/config.hpp"
#include "common/buckets.hpp"
#include "common/errors.hpp"
#include "common/sleep.hpp"
#include "common/text.hpp"
#include "store/event_columns.hpp"
#include "store/migrations.hpp"
#include "store/pg_session.hpp"
#include "upstream/page_parser.hpp"

namespace ingestd {

namespace {

// SOCI's PostgreSQL backend re-parses its connect string as key=value pairs and mangles a URI,
// so the URI (or keyword string) is expanded into an equivalent libpq keyword string first.
// Without a connect_timeout of its own, one attempt would wait as long as the kernel retries
// SYN packets to an unreachable host (minutes), past any budget the caller has.
std::string soci_connect_string(const std::string& database_url,
                                std::chrono::seconds connect_timeout) {
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
  bool has_timeout = false;
  for (const PQconninfoOption* o = options.get(); o->keyword; ++o) {
    if (!o->val) continue;
    has_timeout = has_timeout || std::string_view(o->keyword) == "connect_timeout";
    out += out.empty() ? "" : " ";
    out += o->keyword;
    out += "='";
    for (const char* c = o->val; *c; ++c) {
      if (*c == '\'' || *c == '\\') out += '\\';
      out += *c;
    }
    out += "'";
  }
  if (!has_timeout) {
    out += (out.empty() ? "" : " ") + std::string("connect_timeout='") +
           std::to_string(connect_timeout.count()) + "'";
  }
  return out;
}

// Adds the rows of `minutes` (type, minute_s, n) to every level of event_rollup and
// event_rollup_all: two data-modifying CTEs to append to a WITH list that defines `minutes`.
// Sorted, so that writers lock rollup rows in one order.
std::string rollup_upsert_ctes() {
  std::string levels;
  for (const BucketSize& size : kBucketSizes) {
    levels += levels.empty() ? "" : ",";
    levels += std::to_string(size.seconds);
  }
  const std::string leveled = "FROM minutes AS m CROSS JOIN unnest('{" + levels + "}'::int[]) AS g";
  const std::string bucket = "to_timestamp(m.minute_s - m.minute_s % g)";
  return "by_type AS (INSERT INTO event_rollup AS r (granularity_s, bucket_start, type, count) "
         "SELECT g, " +
         bucket + ", m.type, sum(m.n) " + leveled +
         " GROUP BY 1, 2, 3 ORDER BY 1, 2, 3 ON CONFLICT (granularity_s, bucket_start, type) DO "
         "UPDATE SET count = r.count + excluded.count), all_types AS (INSERT INTO "
         "event_rollup_all AS r (granularity_s, bucket_start, count) SELECT g, " +
         bucket + ", sum(m.n) " + leveled +
         " GROUP BY 1, 2 ORDER BY 1, 2 ON CONFLICT (granularity_s, bucket_start) DO UPDATE SET "
         "count = r.count + excluded.count)";
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

Store::Store(const std::string& database_url, std::chrono::milliseconds reconnect_timeout)
    : s_(std::make_unique<Session>()) {
  s_->url = database_url;
  s_->reconnect_timeout = reconnect_timeout;
  try {
    // libpq's smallest connect_timeout is 2 s; an attempt never takes more than 10 s, so a
    // long DB_CONNECT_TIMEOUT_S is spent on retries that each report why.
    const auto attempt =
        std::clamp(std::chrono::duration_cast<std::chrono::seconds>(reconnect_timeout),
                   std::chrono::seconds(2), std::chrono::seconds(10));
    s_->sql.open(soci::postgresql, soci_connect_string(database_url, attempt));
  } catch (const DatabaseError&) {
    throw;
  } catch (const std::exception& e) {
    throw DatabaseError("database: cannot connect to " + redact_database_url(database_url) + ": " +
                        one_line(e.what()));
  }
  session_setup();
}

Store::~Store() = default;

void Store::session_setup() {
  // Safe because every page's rows and the cursor that follows them commit together: a commit
  // lost in a server crash only means that page is fetched again.
  exec("SET synchronous_commit = off", "session setup");
  exec("SET application_name = 'ingestd'", "session setup");
  // Server notices such as "relation already exists, skipping" are not for the operator.
  exec("SET client_min_messages = warning", "session setup");
  // When this process dies mid-statement, the server ends the statement within a second instead
  // of finishing it, and the stream lock is free for the restart (PostgreSQL 14 and later).
  if (PQserverVersion(s_->native()) >= 140000) {
    exec("SET client_connection_check_interval = 1000", "session setup");
  }
}

void Store::reconnect(std::chrono::milliseconds timeout, std::stop_token stop) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto delay = std::chrono::milliseconds(250);
  for (int attempt = 1;; ++attempt) {
    try {
      s_->sql.reconnect();
      s_->prepared.clear();
      session_setup();
      break;
    } catch (const std::exception& e) {
      const auto now = std::chrono::steady_clock::now();
      if (now >= deadline || stop.stop_requested()) {
        throw DatabaseError("database: reconnecting to " + redact_database_url(s_->url) + ": " +
                                one_line(e.what()) + " (gave up after " + std::to_string(attempt) +
                                " attempts)",
                            DatabaseFailure::connection_lost);
      }
      sleep_for(
          std::min(delay, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now)),
          stop);
      delay = std::min(delay * 2, std::chrono::milliseconds(5000));
    }
  }
  const std::vector<std::string> streams = std::exchange(s_->locked_streams, {});
  for (const std::string& stream : streams) {
    if (!lock_stream(stream, timeout, stop)) {
      throw TemporaryError("database: stream " + stream +
                           " was taken by another ingestd while reconnecting");
    }
  }
}

std::unique_ptr<Store> Store::connect(const std::string& database_url,
                                      std::chrono::milliseconds timeout, std::stop_token stop) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto delay = std::chrono::milliseconds(250);
  for (int attempt = 1;; ++attempt) {
    try {
      return std::make_unique<Store>(database_url, timeout);
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

void Store::exec(const char* sql, const char* context) {
  PGconn* conn = s_->native();
  checked(conn, PQexec(conn, sql), context);
}

std::int64_t Store::copy_into(const char* copy_sql, const std::string& rows, const char* context) {
  PGconn* conn = s_->native();
  {
    PgResult res(PQexec(conn, copy_sql));
    if (PQresultStatus(res.get()) != PGRES_COPY_IN) {
      throw database_error(conn, context, pg_error(conn, res.get()), result_sqlstate(res.get()));
    }
  }
  // One PQputCopyData per page: libpq buffers and flushes it in socket-sized pieces.
  if ((!rows.empty() && PQputCopyData(conn, rows.data(), static_cast<int>(rows.size())) != 1) ||
      PQputCopyEnd(conn, nullptr) != 1) {
    throw database_error(conn, context, pg_error(conn, nullptr), {});
  }
  std::int64_t count = 0;
  std::optional<DatabaseError> failed;
  while (PGresult* raw = PQgetResult(conn)) {
    PgResult res(raw);
    if (PQresultStatus(raw) == PGRES_COMMAND_OK) {
      count = std::strtoll(PQcmdTuples(raw), nullptr, 10);
    } else if (!failed) {
      failed = database_error(conn, context, pg_error(conn, raw), result_sqlstate(raw));
    }
  }
  if (failed) throw *failed;
  return count;
}

MigrationReport Store::migrate() {
  MigrationReport report;
  guarded("migration failed", [&] {
    for (const Migration& m : embedded_migrations()) {
      soci::transaction tr(s_->sql);
      // Serialises concurrent migrators (say, systemd and a manual run starting together).
      exec("SELECT pg_advisory_xact_lock(7355608)", "migration lock");
      exec(
          "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text "
          "NOT "
          "NULL, applied_at timestamptz NOT NULL DEFAULT now())",
          "schema_migrations");
      int newest = 0;
      soci::indicator ind;
      s_->sql << "SELECT max(version) FROM schema_migrations", soci::into(newest, ind);
      if (ind == soci::i_ok) refuse_newer_schema(newest);
      int present = 0;
      s_->sql << "SELECT count(*) FROM schema_migrations WHERE version = :v", soci::use(m.version),
          soci::into(present);
      if (present == 0) {
        exec(std::string(m.sql).c_str(), std::string(m.name).c_str());
        std::string name(m.name);
        s_->sql << "INSERT INTO schema_migrations (version, name) VALUES (:v, :n)",
            soci::use(m.version), soci::use(name);
        report.applied.emplace_back(m.name);
      }
      tr.commit();
    }
  });
  report.schema_version = schema_version();
  return report;
}

int Store::schema_version() {
  return guarded("reading schema version", [&] {
    int exists = 0;
    s_->sql
        << "SELECT count(*) FROM pg_tables WHERE tablename = 'schema_migrations' AND schemaname = "
           "current_schema()",
        soci::into(exists);
    if (exists == 0) return 0;
    int version = 0;
    soci::indicator ind;
    s_->sql << "SELECT max(version) FROM schema_migrations", soci::into(version, ind);
    return ind == soci::i_ok ? version : 0;
  });
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

bool Store::lock_stream(const std::string& stream, std::chrono::milliseconds wait,
                        std::stop_token stop) {
  const std::string key = "ingestd/" + stream;
  const auto try_lock = [&] {
    return guarded("stream lock", [&] {
      int locked = 0;
      s_->sql << "SELECT pg_try_advisory_lock(hashtextextended(:k, 0))::int", soci::use(key),
          soci::into(locked);
      return locked == 1;
    });
  };
  const auto deadline = std::chrono::steady_clock::now() + wait;
  bool waiting = false;
  while (!try_lock()) {
    if (std::chrono::steady_clock::now() >= deadline || stop.stop_requested()) return false;
    if (!std::exchange(waiting, true)) {
      spdlog::info("stream {} is held by another session; waiting up to {} s for it to end", stream,
                   std::chrono::duration_cast<std::chrono::seconds>(wait).count());
    }
    sleep_for(std::chrono::milliseconds(200), stop);
  }
  if (std::find(s_->locked_streams.begin(), s_->locked_streams.end(), stream) ==
      s_->locked_streams.end()) {
    s_->locked_streams.push_back(stream);
  }
  return true;
}

Checkpoint Store::load_checkpoint(const std::string& stream) {
  return guarded("reading checkpoint", [&] {
    s_->sql << "INSERT INTO ingest_checkpoint (stream) VALUES (:s) ON CONFLICT DO NOTHING",
        soci::use(stream);
    Checkpoint c;
    c.stream = stream;
    std::string cursor, last_error;
    long long total = 0, pages = 0, events = 0, quarantined = 0;
    int done = 0;
    soci::indicator cursor_ind, total_ind, error_ind;
    s_->sql
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
  });
}

std::optional<RateLimitState> Store::load_rate_state(const std::string& stream) {
  return guarded("reading the rate-limit state", [&]() -> std::optional<RateLimitState> {
    RateLimitState state;
    int limit = 0;
    long long window_ms = 0;
    std::string sent;
    soci::indicator limit_ind = soci::i_null;
    s_->sql << "SELECT request_limit, window_ms, array_to_string(sent_at_ms, ',') FROM "
               "rate_limit_state WHERE stream = :s",
        soci::use(stream), soci::into(limit, limit_ind), soci::into(window_ms), soci::into(sent);
    if (!s_->sql.got_data()) return std::nullopt;
    if (limit_ind == soci::i_ok) state.limit = limit;
    state.window_ms = window_ms;
    for (std::size_t at = 0; at < sent.size();) {
      const std::size_t comma = std::min(sent.find(',', at), sent.size());
      state.sent_at_ms.push_back(std::stoll(sent.substr(at, comma - at)));
      at = comma + 1;
    }
    return state;
  });
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
  guarded("saving the rate-limit state", [&] {
    s_->sql << "INSERT INTO rate_limit_state (stream, request_limit, window_ms, sent_at_ms) "
               "VALUES (:s, :l, :w, CAST(:t AS bigint[])) ON CONFLICT (stream) DO UPDATE SET "
               "request_limit = excluded.request_limit, window_ms = excluded.window_ms, "
               "sent_at_ms = excluded.sent_at_ms, updated_at = now()",
        soci::use(stream), soci::use(limit, limit_ind), soci::use(window_ms), soci::use(sent);
  });
}

std::int64_t Store::insert_quarantine(const std::string& stream, const std::string& page_cursor,
                                      const DecodedPage& page) {
  std::int64_t inserted = 0;
  PGconn* conn = s_->native();
  for (const QuarantinedEvent& q : page.quarantined) {
    const char* params[] = {stream.c_str(), q.raw.c_str(), q.reason.c_str(),
                            page_cursor.empty() ? nullptr : page_cursor.c_str()};
    const PgResult res = checked(conn,
                                 PQexecParams(conn,
                                              "INSERT INTO quarantine (stream, raw, reason, "
                                              "page_cursor) VALUES ($1, $2, $3, $4) ON CONFLICT "
                                              "DO NOTHING",
                                              4, nullptr, params, nullptr, nullptr, 0),
                                 "quarantine insert");
    inserted += std::strtoll(PQcmdTuples(res.get()), nullptr, 10);
  }
  return inserted;
}

void Store::lock_event_writers() {
  // Pull pages and push requests insert into the same tables; one writer at a time means two
  // transactions never wait on each other's ids and rollup rows in opposite orders (a deadlock).
  exec("SELECT pg_advisory_xact_lock(hashtextextended('ingestd/event-writers', 0))",
       "event writer lock");
}

CommitResult Store::insert_events(const DecodedPage& page) {
  CommitResult out;
  if (page.row_count == 0) return out;
  exec("SAVEPOINT page_copy", "savepoint");
  const std::string fast = "COPY events (" + event_column_list() + ") FROM STDIN";
  try {
    out.inserted = copy_into(fast.c_str(), page.copy_rows, "COPY into events");
  } catch (const DatabaseError& e) {
    if (e.failure() != DatabaseFailure::unique_violation) throw;
    exec("ROLLBACK TO SAVEPOINT page_copy", "savepoint rollback");
    out.used_fallback = true;
  }
  if (!out.used_fallback) {
    add_to_rollup(page.minute_counts);
    return out;
  }
  // Some ids are stored already: only the rows this statement inserts are counted, straight
  // from what it returns. Sorted by id so that repeated ids are taken in one order.
  exec(
      "CREATE TEMP TABLE IF NOT EXISTS events_staging (LIKE events INCLUDING DEFAULTS) ON "
      "COMMIT DELETE ROWS",
      "staging table");
  const std::string staged = "COPY events_staging (" + event_column_list() + ") FROM STDIN";
  copy_into(staged.c_str(), page.copy_rows, "COPY into staging");
  static const std::string insert =
      "WITH inserted AS (INSERT INTO events (" + event_column_list() + ") SELECT " +
      event_column_list() +
      " FROM events_staging ORDER BY id ON CONFLICT (id) DO NOTHING RETURNING type, "
      "occurred_at), minutes AS (SELECT coalesce(type, '') AS type, (floor(extract(epoch FROM "
      "occurred_at) / 60) * 60)::bigint AS minute_s, count(*) AS n FROM inserted GROUP BY 1, 2), " +
      rollup_upsert_ctes() + " SELECT count(*) FROM inserted";
  const PgResult res = checked(s_->native(), PQexec(s_->native(), insert.c_str()), "staged insert");
  out.inserted = std::strtoll(PQgetvalue(res.get(), 0, 0), nullptr, 10);
  exec("TRUNCATE events_staging", "staging cleanup");
  return out;
}

void Store::add_to_rollup(const std::vector<MinuteCount>& minutes) {
  if (minutes.empty()) return;
  std::string types = "{", starts = "{", counts = "{";
  for (const MinuteCount& m : minutes) {
    if (types.size() > 1) {
      types += ',';
      starts += ',';
      counts += ',';
    }
    types += '"';
    for (const char c : m.type) {
      if (c == '"' || c == '\\') types += '\\';
      types += c;
    }
    types += '"';
    starts += std::to_string(m.minute_s);
    counts += std::to_string(m.count);
  }
  types += '}';
  starts += '}';
  counts += '}';
  static const std::string sql =
      "WITH minutes AS (SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS m(type, "
      "minute_s, n)), " +
      rollup_upsert_ctes() + " SELECT 1";
  const char* params[] = {types.c_str(), starts.c_str(), counts.c_str()};
  checked(s_->native(),
          PQexecParams(s_->native(), sql.c_str(), 3, nullptr, params, nullptr, nullptr, 0),
          "rollup update");
}

CommitResult Store::commit_page(const std::string& stream, const PageCommit& commit,
                                const DecodedPage& page, std::stop_token stop) {
  for (;;) {
    try {
      return commit_page_once(stream, commit, page);
    } catch (const DatabaseError& e) {
      if (e.failure() != DatabaseFailure::connection_lost) throw;
      spdlog::warn("{}; the connection is lost, reconnecting", e.what());
      reconnect(s_->reconnect_timeout, stop);
      spdlog::info("database: reconnected; retrying page {}", commit.page_number);
    }
  }
}

CommitResult Store::commit_page_once(const std::string& stream, const PageCommit& commit,
                                     const DecodedPage& page) {
  const std::string context = "committing page " + std::to_string(commit.page_number);
  return guarded(context.c_str(), [&] {
    soci::transaction tr(s_->sql);
    lock_event_writers();
    long long pages = 0;
    s_->sql << "SELECT pages FROM ingest_checkpoint WHERE stream = :s FOR UPDATE",
        soci::use(stream), soci::into(pages);
    if (pages >= commit.page_number) {
      // The previous attempt committed but its acknowledgement was lost with the connection.
      tr.rollback();
      return CommitResult{};
    }
    if (pages != commit.page_number - 1) {
      throw FatalError("database: checkpoint of stream " + stream + " is at page " +
                       std::to_string(pages) + ", expected " +
                       std::to_string(commit.page_number - 1) +
                       "; another process is writing this stream");
    }
    CommitResult result = insert_events(page);
    result.quarantined = insert_quarantine(stream, commit.page_cursor, page);

    std::string cursor = commit.next_cursor.value_or("");
    soci::indicator cursor_ind = commit.next_cursor ? soci::i_ok : soci::i_null;
    long long total = commit.upstream_total.value_or(0);
    soci::indicator total_ind = commit.upstream_total ? soci::i_ok : soci::i_null;
    long long page_number = commit.page_number;
    long long inserted = result.inserted;
    long long quarantined = result.quarantined;
    int done = commit.done ? 1 : 0;
    s_->sql << "UPDATE ingest_checkpoint SET next_cursor = :c, pages = :p, events = events + :e, "
               "quarantined = quarantined + :q, upstream_total = coalesce(:t, upstream_total), "
               "done = :d::boolean, last_error = NULL, updated_at = now() WHERE stream = :s",
        soci::use(cursor, cursor_ind), soci::use(page_number), soci::use(inserted),
        soci::use(quarantined), soci::use(total, total_ind), soci::use(done), soci::use(stream);
    tr.commit();
    return result;
  });
}

CommitResult Store::commit_push(const DecodedPage& page) {
  return guarded("storing pushed events", [&] {
    soci::transaction tr(s_->sql);
    lock_event_writers();
    CommitResult result = insert_events(page);
    result.quarantined = insert_quarantine(std::string(kPushStream), {}, page);
    long long accepted = result.inserted;
    long long duplicates = static_cast<long long>(page.row_count) - result.inserted;
    long long quarantined = result.quarantined;
    s_->sql << "INSERT INTO push_totals AS t (requests, accepted, duplicates, quarantined, "
               "last_at) VALUES (1, :a, :d, :q, now()) ON CONFLICT (id) DO UPDATE SET requests = "
               "t.requests + 1, accepted = t.accepted + excluded.accepted, duplicates = "
               "t.duplicates + excluded.duplicates, quarantined = t.quarantined + "
               "excluded.quarantined, last_at = excluded.last_at",
        soci::use(accepted), soci::use(duplicates), soci::use(quarantined);
    tr.commit();
    return result;
  });
}

PushTotals Store::push_totals() {
  return guarded("reading push totals", [&] {
    PushTotals t;
    long long requests = 0, accepted = 0, duplicates = 0, quarantined = 0;
    std::string last_at;
    soci::indicator last_ind = soci::i_null;
    s_->sql << "SELECT requests, accepted, duplicates, quarantined, " + iso8601("last_at") +
                   " FROM push_totals",
        soci::into(requests), soci::into(accepted), soci::into(duplicates), soci::into(quarantined),
        soci::into(last_at, last_ind);
    if (!s_->sql.got_data()) return t;
    t.requests = requests;
    t.accepted = accepted;
    t.duplicates = duplicates;
    t.quarantined = quarantined;
    if (last_ind == soci::i_ok) t.last_at = last_at;
    return t;
  });
}

void Store::record_error(const std::string& stream, const std::string& message) {
  try {
    guarded("recording the last error", [&] {
      s_->sql
          << "UPDATE ingest_checkpoint SET last_error = :m, updated_at = now() WHERE stream = :s",
          soci::use(message), soci::use(stream);
    });
  } catch (const DatabaseError& e) {
    spdlog::warn("{}", e.what());
  }
}

std::int64_t Store::count_events() {
  long long n = 0;
  guarded("counting events", [&] { s_->sql << "SELECT count(*) FROM events", soci::into(n); });
  return n;
}

std::int64_t Store::count_quarantine() {
  long long n = 0;
  guarded("counting quarantine",
          [&] { s_->sql << "SELECT count(*) FROM quarantine", soci::into(n); });
  return n;
}

std::vector<SubmissionRecord> Store::submissions() {
  std::vector<SubmissionRecord> out;
  guarded("reading submissions", [&] {
    soci::rowset<soci::row> rows =
        (s_->sql.prepare << "SELECT attempt, " + iso8601("started_at") + ", " +
                                iso8601("finished_at") +
                                ", "
                                "ids_sent, http_status, outcome, response FROM submissions "
                                "ORDER BY attempt");
    for (const soci::row& row : rows) {
      SubmissionRecord r;
      r.attempt = row.get<int>(0);
      r.started_at = row.get<std::string>(1);
      if (row.get_indicator(2) == soci::i_ok) r.finished_at = row.get<std::string>(2);
      if (row.get_indicator(3) == soci::i_ok) r.ids_sent = row.get<long long>(3);
      if (row.get_indicator(4) == soci::i_ok) r.http_status = row.get<int>(4);
      const std::string outcome = row.get<std::string>(5);
      const auto parsed = parse_ledger_outcome(outcome);
      if (!parsed) throw DatabaseError("database: unknown submission outcome " + outcome);
      r.outcome = *parsed;
      if (row.get_indicator(6) == soci::i_ok) r.response = row.get<std::string>(6);
      out.push_back(std::move(r));
    }
  });
  return out;
}

int Store::begin_submission(const std::string& stream) {
  return guarded("recording a submission attempt", [&] {
    soci::transaction tr(s_->sql);
    exec("LOCK TABLE submissions IN EXCLUSIVE MODE", "submission ledger lock");
    int attempt = 0;
    s_->sql << "SELECT coalesce(max(attempt), 0) + 1 FROM submissions", soci::into(attempt);
    s_->sql << "INSERT INTO submissions (attempt, stream) VALUES (:a, :s)", soci::use(attempt),
        soci::use(stream);
    tr.commit();
    return attempt;
  });
}

void Store::finish_submission(int attempt, std::int64_t ids_sent, std::optional<int> http_status,
                              LedgerOutcome outcome, const std::string& response) {
  guarded("recording a submission outcome", [&] {
    long long sent = ids_sent;
    int status = http_status.value_or(0);
    soci::indicator status_ind = http_status ? soci::i_ok : soci::i_null;
    const std::string outcome_name(ledger_outcome_name(outcome));
    s_->sql
        << "UPDATE submissions SET finished_at = now(), ids_sent = :n, http_status = :h, outcome = "
           ":o, response = :r WHERE attempt = :a",
        soci::use(sent), soci::use(status, status_ind), soci::use(outcome_name),
        soci::use(response), soci::use(attempt);
  });
}

int Store::close_interrupted_submissions() {
  return guarded("closing interrupted submissions", [&] {
    soci::statement st =
        (s_->sql.prepare << "UPDATE submissions SET outcome = 'unknown', finished_at = "
                            "now(), response = coalesce(response, 'interrupted: the "
                            "process stopped while sending') WHERE outcome = "
                            "'in_progress'");
    st.execute(true);
    return static_cast<int>(st.get_affected_rows());
  });
}

Store::IdReader::IdReader(Store& store) : store_(store) {
  PGconn* conn = store_.s_->native();
  PgResult res(PQexec(conn, "COPY (SELECT id FROM events) TO STDOUT"));
  if (PQresultStatus(res.get()) != PGRES_COPY_OUT) {
    throw DatabaseError("database: streaming ids: " + pg_error(conn, res.get()));
  }
}

Store::IdReader::~IdReader() {
  if (chunk_) PQfreemem(chunk_);
  if (!finished_) {
    // Abandoning a COPY OUT needs the connection reset; the cancel is best-effort.
    PGconn* conn = store_.s_->native();
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
  PGconn* conn = store_.s_->native();
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
