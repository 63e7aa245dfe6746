#pragma once

#include <chrono>
#include <memory>
#include <stop_token>
#include <string>
#include <vector>

namespace ingestd {

struct MigrationReport {
  std::vector<std::string> applied;
  int schema_version = 0;
};

// One PostgreSQL session: the database API every job of the store (event_writer.hpp,
// event_reader.hpp, submission_ledger.hpp, rate_state_table.hpp) runs its statements through.
// SOCI runs queries and migrations; the bulk paths are libpq COPY on SOCI's own connection,
// inside SOCI's transactions. Neither library shows in this header. Every failure leaves as
// DatabaseError, its cause (connection lost, unique violation, other) decided in one place
// (pg_session.hpp). Stream locks are taken again after a reconnect.
class Database {
 public:
  // `reconnect_timeout` bounds how long a lost connection is retried during a commit.
  Database(const std::string& database_url, std::chrono::milliseconds reconnect_timeout);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  // Keeps trying until the database answers or `timeout` passes (then DatabaseError, exit 4).
  static std::unique_ptr<Database> connect(const std::string& database_url,
                                           std::chrono::milliseconds timeout, std::stop_token stop);

  MigrationReport migrate();
  // Refuses a database that is not migrated, or whose schema is newer than this binary.
  void require_current_schema();
  int schema_version();

  // Session-level advisory lock: a second daemon on the same stream is refused. Waits up to
  // `wait` for another session's hold to end, because a process killed moments ago keeps its
  // lock until PostgreSQL notices the connection is gone (after the statement it was running).
  bool lock_stream(const std::string& stream, std::chrono::milliseconds wait, std::stop_token stop);

  // From now on the session reads and writes the events and rollups of the profile stream
  // `stream` (a schema of its own, created with its tables on first use and named in the
  // streams table); checkpoints, quarantine, rate state and submissions stay shared, keyed by
  // stream. Call after migrate() or require_current_schema().
  void use_stream_tables(const std::string& stream);
  // The profile streams the database holds (the streams table), by name.
  std::vector<std::string> profile_streams();
  // For readers: the tables of profile stream `stream` from now on, or the contract's when
  // empty. Costs a round trip only when it changes the session's path; the stream must exist.
  void read_stream(const std::string& stream);
  // The SQL of an event's id as sent in the tables the session uses: the contract's `id`, or a
  // profile stream's two id columns as one (kStreamEventIdSql).
  std::string_view event_id_sql() const;
  // Whether the contract's stream `stream` has been ingested or holds events (pushed ones too).
  bool contract_stream_used(const std::string& stream);

  // Opens the session again, retrying until `timeout`; then takes back the stream locks, waiting
  // up to `timeout` for the lost session's hold to end (TemporaryError when another process
  // holds one).
  void reconnect(std::chrono::milliseconds timeout, std::stop_token stop);
  std::chrono::milliseconds reconnect_timeout() const;

  // For the store's own files: the session (defined in pg_session.hpp, which only src/store
  // includes) and the statements that need nothing else.
  struct Session;
  Session& session();
  // Runs f; a SOCI error leaves as DatabaseError with its cause and `context`.
  template <typename F>
  auto guarded(const char* context, F&& f) -> decltype(f());
  void exec(const char* sql, const char* context);
  // COPY ... FROM STDIN of `rows` (COPY text); the rows it stored.
  std::int64_t copy_into(const char* copy_sql, const std::string& rows, const char* context);

 private:
  void session_setup();

  std::unique_ptr<Session> s_;
  const std::string& base_schema();
  std::string quote_identifier(const std::string& name);

  std::string search_path_;     // set by use_stream_tables, applied again after a reconnect
  bool stream_tables_ = false;  // the session's path leads to a profile stream's tables
  std::string base_schema_;     // the schema of the contract's tables, once asked
};

}  // namespace ingestd
