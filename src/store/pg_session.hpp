// The store's private part: SOCI's session with its libpq connection, and the one place that
// turns a failure into a DatabaseError. Included only by src/store/*.cpp.
#pragma once

#include <libpq-fe.h>
#include <soci/postgresql/soci-postgresql.h>
#include <soci/soci.h>

#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/text.hpp"
#include "ingestd/errors.hpp"
#include "store/database.hpp"

namespace ingestd {

struct PgResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using PgResult = std::unique_ptr<PGresult, PgResultDeleter>;

inline std::string pg_error(PGconn* conn, const PGresult* res) {
  return one_line(res ? PQresultErrorMessage(res) : PQerrorMessage(conn));
}

// The one place that decides why a database operation failed: the connection is gone when
// libpq says so, the SQLSTATE is of class 08, or the server is ending the session (57P01
// admin shutdown as in `pg_ctl restart -m fast`, 57P02 crash shutdown, ...: libpq may read that
// FATAL before it sees the socket close, and still report the connection as good); 23505 is an
// id already stored.
inline DatabaseError database_error(PGconn* conn, std::string_view context, std::string_view detail,
                                    std::string_view sqlstate) {
  DatabaseFailure failure = DatabaseFailure::other;
  if (!conn || PQstatus(conn) != CONNECTION_OK || sqlstate.starts_with("08") ||
      sqlstate.starts_with("57P")) {
    failure = DatabaseFailure::connection_lost;
  } else if (sqlstate == "23505") {
    failure = DatabaseFailure::unique_violation;
  }
  std::string message = "database: ";
  message.append(context).append(": ").append(detail);
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  return DatabaseError(message, failure);
}

inline std::string_view result_sqlstate(const PGresult* res) {
  const char* state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
  return state ? std::string_view(state) : std::string_view();
}

// A finished statement's result, or the DatabaseError it failed with: the one check of a
// command's or query's outcome.
inline PgResult checked(PGconn* conn, PGresult* raw, std::string_view context) {
  PgResult res(raw);
  const auto status = PQresultStatus(raw);
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    throw database_error(conn, context, pg_error(conn, raw), result_sqlstate(raw));
  }
  return res;
}

// An instant as ISO-8601 UTC with milliseconds, e.g. 2026-01-27T19:19:13.629Z.
inline std::string iso8601(std::string_view column) {
  return "to_char(" + std::string(column) +
         " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')";
}

struct Database::Session {
  soci::session sql;
  std::string url;
  std::chrono::milliseconds reconnect_timeout{0};
  std::vector<std::string> locked_streams;
  std::set<std::string> prepared;  // statements prepared on this connection, by name

  PGconn* native() {
    auto* backend = static_cast<soci::postgresql_session_backend*>(sql.get_backend());
    return backend ? backend->conn_ : nullptr;
  }
};

template <typename F>
auto Database::guarded(const char* context, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const soci::postgresql_soci_error& e) {
    throw database_error(s_->native(), context, e.what(), e.sqlstate());
  } catch (const soci::soci_error& e) {
    throw database_error(s_->native(), context, e.what(), {});
  }
}

}  // namespace ingestd
