#include "store/submission_ledger.hpp"

#include "ingestd/errors.hpp"
#include "store/pg_session.hpp"

namespace ingestd {

SubmissionLedger::SubmissionLedger(Database& db) : db_(db) {}

Database::Session& SubmissionLedger::s() {
  return db_.session();
}

std::vector<SubmissionRecord> SubmissionLedger::submissions() {
  std::vector<SubmissionRecord> out;
  db_.guarded("reading submissions", [&] {
    soci::rowset<soci::row> rows =
        (s().sql.prepare << "SELECT attempt, " + iso8601("started_at") + ", " +
                                iso8601("finished_at") +
                                ", "
                                "ids_sent, http_status, outcome, response, key_position FROM "
                                "submissions "
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
      if (row.get_indicator(7) == soci::i_ok) r.key_position = row.get<int>(7);
      out.push_back(std::move(r));
    }
  });
  return out;
}

int SubmissionLedger::begin_submission(const std::string& stream, int key_position) {
  return db_.guarded("recording a submission attempt", [&] {
    soci::transaction tr(s().sql);
    db_.exec("LOCK TABLE submissions IN EXCLUSIVE MODE", "submission ledger lock");
    int attempt = 0;
    s().sql << "SELECT coalesce(max(attempt), 0) + 1 FROM submissions", soci::into(attempt);
    s().sql << "INSERT INTO submissions (attempt, stream, key_position) VALUES (:a, :s, :k)",
        soci::use(attempt), soci::use(stream), soci::use(key_position);
    tr.commit();
    return attempt;
  });
}

void SubmissionLedger::finish_submission(int attempt, std::int64_t ids_sent,
                                         std::optional<int> http_status, LedgerOutcome outcome,
                                         const std::string& response) {
  db_.guarded("recording a submission outcome", [&] {
    long long sent = ids_sent;
    int status = http_status.value_or(0);
    soci::indicator status_ind = http_status ? soci::i_ok : soci::i_null;
    const std::string outcome_name(ledger_outcome_name(outcome));
    s().sql
        << "UPDATE submissions SET finished_at = now(), ids_sent = :n, http_status = :h, outcome = "
           ":o, response = :r WHERE attempt = :a",
        soci::use(sent), soci::use(status, status_ind), soci::use(outcome_name),
        soci::use(response), soci::use(attempt);
  });
}

int SubmissionLedger::close_interrupted_submissions() {
  return db_.guarded("closing interrupted submissions", [&] {
    soci::statement st =
        (s().sql.prepare << "UPDATE submissions SET outcome = 'unknown', finished_at = "
                            "now(), response = coalesce(response, 'interrupted: the "
                            "process stopped while sending') WHERE outcome = "
                            "'in_progress'");
    st.execute(true);
    return static_cast<int>(st.get_affected_rows());
  });
}

SubmissionLedger::IdReader::IdReader(SubmissionLedger& ledger) : db_(ledger.db_) {
  PGconn* conn = db_.session().native();
  const std::string sql =
      "COPY (SELECT " + std::string(db_.event_id_sql()) + " FROM events) TO STDOUT";
  PgResult res(PQexec(conn, sql.c_str()));
  if (PQresultStatus(res.get()) != PGRES_COPY_OUT) {
    throw DatabaseError("database: streaming ids: " + pg_error(conn, res.get()));
  }
}

SubmissionLedger::IdReader::~IdReader() {
  if (chunk_) PQfreemem(chunk_);
  if (!finished_) {
    // Abandoning a COPY OUT needs the connection reset; the cancel is best-effort.
    PGconn* conn = db_.session().native();
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

std::size_t SubmissionLedger::IdReader::read(char* out, std::size_t n) {
  std::size_t written = 0;
  PGconn* conn = db_.session().native();
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
