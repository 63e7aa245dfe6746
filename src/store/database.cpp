#include "store/database.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <optional>
#include <utility>

#include "common/database_url.hpp"
#include "common/sleep.hpp"
#include "common/text.hpp"
#include "ingestd/errors.hpp"
#include "ingestd/event.hpp"
#include "store/migrations.hpp"
#include "store/pg_session.hpp"

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

Database::Database(const std::string& database_url, std::chrono::milliseconds reconnect_timeout)
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

Database::~Database() = default;

void Database::session_setup() {
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
  if (!search_path_.empty()) exec(("SET search_path TO " + search_path_).c_str(), "session setup");
}

namespace {

// A profile stream's tables, made like the contract's (LIKE keeps defaults, checks and
// indexes, and follows later migrations of the originals) with the id exactly as the upstream
// sends it: a canonical UUID in the uuid column `id` (16 bytes), anything else in `text_id`,
// each unique (one id always lands in the same column); and the whole event kept. The change
// triggers are the contract's own function, which writes to the event_changes that the writer's
// search path finds first: the stream's. $S is the stream's schema, $B the schema of the contract's
// tables.
constexpr std::string_view kStreamTables = R"sql(
CREATE SCHEMA $S;
CREATE TABLE $S.events (LIKE $B.events INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES);
ALTER TABLE $S.events DROP CONSTRAINT events_pkey;
ALTER TABLE $S.events ALTER COLUMN id DROP NOT NULL;
ALTER TABLE $S.events ADD CONSTRAINT events_id_key UNIQUE (id);
ALTER TABLE $S.events ADD COLUMN text_id text CONSTRAINT events_text_id_key UNIQUE;
ALTER TABLE $S.events ADD CONSTRAINT events_one_id CHECK (num_nonnulls(id, text_id) = 1);
ALTER TABLE $S.events ADD COLUMN event jsonb;
CREATE TABLE $S.event_rollup (LIKE $B.event_rollup INCLUDING ALL);
CREATE TABLE $S.event_rollup_all (LIKE $B.event_rollup_all INCLUDING ALL);
CREATE TABLE $S.event_changes (LIKE $B.event_changes INCLUDING ALL);
CREATE TRIGGER events_changed_insert AFTER INSERT ON $S.events
    REFERENCING NEW TABLE AS changed_new FOR EACH STATEMENT EXECUTE FUNCTION $B.note_event_change();
CREATE TRIGGER events_changed_delete AFTER DELETE ON $S.events
    REFERENCING OLD TABLE AS changed_old FOR EACH STATEMENT EXECUTE FUNCTION $B.note_event_change();
CREATE TRIGGER events_changed_update AFTER UPDATE ON $S.events
    REFERENCING OLD TABLE AS changed_old NEW TABLE AS changed_new
    FOR EACH STATEMENT EXECUTE FUNCTION $B.note_event_change();
CREATE TRIGGER events_changed_truncate AFTER TRUNCATE ON $S.events
    FOR EACH STATEMENT EXECUTE FUNCTION $B.note_event_change();
)sql";

std::string replace_all(std::string text, std::string_view from, const std::string& to) {
  for (std::size_t at = text.find(from); at != std::string::npos;
       at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

}  // namespace

const std::string& Database::base_schema() {
  if (base_schema_.empty()) {
    guarded("reading the schema",
            [&] { s_->sql << "SELECT current_schema()", soci::into(base_schema_); });
  }
  return base_schema_;
}

std::string Database::quote_identifier(const std::string& name) {
  std::unique_ptr<char, decltype(&PQfreemem)> quoted(
      PQescapeIdentifier(s_->native(), name.c_str(), name.size()), &PQfreemem);
  if (!quoted) throw DatabaseError("database: cannot quote " + name);
  return std::string(quoted.get());
}

void Database::read_stream(const std::string& stream) {
  const std::string& base = base_schema();
  const std::string path =
      stream.empty() ? quote_identifier(base)
                     : quote_identifier("stream_" + stream) + ", " + quote_identifier(base);
  if (path == search_path_ || (stream.empty() && search_path_.empty())) return;
  exec(("SET search_path TO " + path).c_str(), "choosing the stream");
  search_path_ = path;
  stream_tables_ = !stream.empty();
}

std::string_view Database::event_id_sql() const {
  return stream_tables_ ? kStreamEventIdSql : std::string_view("id");
}

bool Database::contract_stream_used(const std::string& stream) {
  read_stream("");
  return guarded("reading the streams", [&] {
    int used = 0;
    s_->sql << "SELECT (EXISTS (SELECT 1 FROM ingest_checkpoint WHERE stream = :s) OR EXISTS "
               "(SELECT 1 FROM events))::int",
        soci::use(stream), soci::into(used);
    return used != 0;
  });
}

void Database::use_stream_tables(const std::string& stream) {
  const std::string base = base_schema();
  guarded("stream tables", [&] {
    const std::string schema = "stream_" + stream;
    const auto ident = [&](const std::string& name) { return quote_identifier(name); };
    soci::transaction tr(s_->sql);
    exec("SELECT pg_advisory_xact_lock(7355609)", "stream tables lock");
    int present = 0;
    s_->sql << "SELECT count(*) FROM streams WHERE name = :n", soci::use(stream),
        soci::into(present);
    if (present == 0) {
      const std::string ddl = replace_all(
          replace_all(std::string(kStreamTables), "$S", ident(schema)), "$B", ident(base));
      exec(ddl.c_str(), "creating the stream's tables");
      s_->sql << "INSERT INTO streams (name, schema_name) VALUES (:n, :s)", soci::use(stream),
          soci::use(schema);
      spdlog::info("stream {}: created its tables in schema {}", stream, schema);
    }
    tr.commit();
    search_path_ = ident(schema) + ", " + ident(base);
    stream_tables_ = true;
  });
  // Statements prepared before are planned again for the new path by PostgreSQL itself.
  exec(("SET search_path TO " + search_path_).c_str(), "stream tables");
}

std::vector<std::string> Database::profile_streams() {
  return guarded("listing streams", [&] {
    std::vector<std::string> names;
    soci::rowset<std::string> rows = (s_->sql.prepare << "SELECT name FROM streams ORDER BY name");
    for (const std::string& n : rows) names.push_back(n);
    return names;
  });
}

void Database::reconnect(std::chrono::milliseconds timeout, std::stop_token stop) {
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

std::unique_ptr<Database> Database::connect(const std::string& database_url,
                                            std::chrono::milliseconds timeout,
                                            std::stop_token stop) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto delay = std::chrono::milliseconds(250);
  for (int attempt = 1;; ++attempt) {
    try {
      return std::make_unique<Database>(database_url, timeout);
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

void Database::exec(const char* sql, const char* context) {
  PGconn* conn = s_->native();
  checked(conn, PQexec(conn, sql), context);
}

std::int64_t Database::copy_into(const char* copy_sql, const std::string& rows,
                                 const char* context) {
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

MigrationReport Database::migrate() {
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

int Database::schema_version() {
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

void Database::require_current_schema() {
  const int have = schema_version();
  const int want = latest_embedded_version();
  refuse_newer_schema(have);
  if (have < want) {
    throw FatalError("database: schema version " + std::to_string(have) + ", this binary needs " +
                     std::to_string(want) + "; run `ingestd migrate`");
  }
}

bool Database::lock_stream(const std::string& stream, std::chrono::milliseconds wait,
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

Database::Session& Database::session() {
  return *s_;
}

std::chrono::milliseconds Database::reconnect_timeout() const {
  return s_->reconnect_timeout;
}

}  // namespace ingestd
