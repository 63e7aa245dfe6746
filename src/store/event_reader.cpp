// The read side's queries: libpq directly, each statement prepared once per connection (the
// plans are simple and parameters never change their shape), results read as text.
#include "store/event_reader.hpp"

#include <soci/soci.h>

#include <array>
#include <cstdlib>

#include "common/timestamp.hpp"
#include "store/pg_session.hpp"

namespace ingestd {

namespace {

// An instant as timestamptz input text: exact to the microsecond, unlike a float8 epoch.
std::string instant_text(std::int64_t us) {
  std::array<char, 40> text{};
  return std::string(text.data(), format_timestamptz(us, text.data()));
}

std::optional<std::string> instant_text(std::optional<std::int64_t> us) {
  return us ? std::optional(instant_text(*us)) : std::nullopt;
}

const char* param(const std::optional<std::string>& value) {
  return value ? value->c_str() : nullptr;
}

std::int64_t int_at(const PGresult* res, int row, int column) {
  return std::strtoll(PQgetvalue(res, row, column), nullptr, 10);
}

std::string epoch_us(std::string_view instant) {
  return "(extract(epoch FROM " + std::string(instant) + ") * 1000000)::bigint";
}

std::vector<BucketCount> bucket_rows(const PGresult* res) {
  std::vector<BucketCount> out;
  out.reserve(static_cast<std::size_t>(PQntuples(res)));
  for (int r = 0; r < PQntuples(res); ++r) out.push_back({int_at(res, r, 0), int_at(res, r, 1)});
  return out;
}

std::optional<EventSpan> span_row(const PGresult* res) {
  if (PQntuples(res) == 0 || PQgetisnull(res, 0, 0)) return std::nullopt;
  return EventSpan{int_at(res, 0, 0), int_at(res, 0, 1)};
}

struct Statement {
  const char* name;
  std::string sql;
};

const Statement kRolledUpTotal{
    "rolled_up_total",
    "SELECT coalesce(sum(count), 0)::bigint FROM event_rollup_all WHERE granularity_s = 86400"};

const Statement kUserSummary{
    "user_summary", "SELECT coalesce(type, ''), count(*), " + epoch_us("min(occurred_at)") + ", " +
                        epoch_us("max(occurred_at)") +
                        " FROM events WHERE user_id = $1 GROUP BY 1 ORDER BY 1"};

// Bucket starts are whole seconds, so float8 seconds are exact here and cheaper than numeric.
std::string bucket_start_us(std::string_view instant) {
  return "date_part('epoch', " + std::string(instant) + ")::bigint * 1000000";
}

const Statement kUserBuckets{
    "user_buckets",
    "SELECT " +
        bucket_start_us(
            "date_bin(make_interval(secs => $4::int), occurred_at, timestamptz 'epoch')") +
        ", count(*) FROM events WHERE user_id = $1 AND occurred_at >= coalesce($2::timestamptz, "
        "'-infinity') AND occurred_at < coalesce($3::timestamptz, 'infinity') GROUP BY 1 ORDER BY "
        "1"};

// Two probes of the index's ends.
const Statement kUserSpan{"user_span", "SELECT " + epoch_us("min(occurred_at)") + ", " +
                                           epoch_us("max(occurred_at)") +
                                           " FROM events WHERE user_id = $1 AND occurred_at >= "
                                           "coalesce($2::timestamptz, '-infinity') AND "
                                           "occurred_at < coalesce($3::timestamptz, 'infinity')"};

const Statement kSpan{"span", "SELECT " + epoch_us("min(occurred_at)") + ", " +
                                  epoch_us("max(occurred_at)") + " FROM events"};
const Statement kTypedSpan{"typed_span", kSpan.sql + " WHERE type = $1"};

const std::string kBucketStartUs = bucket_start_us("bucket_start");

const Statement kRollupAll{
    "rollup_all", "SELECT " + kBucketStartUs +
                      ", count FROM event_rollup_all WHERE granularity_s = $1::int AND "
                      "bucket_start >= $2::timestamptz AND bucket_start < $3::timestamptz ORDER "
                      "BY bucket_start"};
const Statement kRollupTyped{
    "rollup_typed", "SELECT " + kBucketStartUs +
                        ", count FROM event_rollup WHERE granularity_s = $1::int AND bucket_start "
                        ">= $2::timestamptz AND bucket_start < $3::timestamptz AND type = $4 "
                        "ORDER BY bucket_start"};

const Statement kCountRows{"count_rows",
                           "SELECT count(*) FROM events WHERE occurred_at >= $1::timestamptz AND "
                           "occurred_at < $2::timestamptz"};
const Statement kCountTypedRows{"count_typed_rows", kCountRows.sql + " AND type = $3"};

// Runs a statement with text parameters (nullptr is NULL), preparing it on first use on this
// connection; DatabaseError on failure.
PgResult run(Database::Session& session, const Statement& statement,
             std::initializer_list<const char*> params, const char* context) {
  PGconn* conn = session.native();
  const std::vector<const char*> values(params);
  if (!session.prepared.contains(statement.name)) {
    checked(conn,
            PQprepare(conn, statement.name, statement.sql.c_str(), static_cast<int>(values.size()),
                      nullptr),
            context);
    session.prepared.insert(statement.name);
  }
  return checked(conn,
                 PQexecPrepared(conn, statement.name, static_cast<int>(values.size()),
                                values.data(), nullptr, nullptr, 0),
                 context);
}

// The current snapshot, and whether a change committed since `$1` (invisible to it, visible to
// this statement) touched [$2, $3). Only changes of transactions at or after $1's xmin can be
// invisible to it, so the xid index keeps this to the last few.
const Statement kChangedSince{
    "changed_since",
    "SELECT pg_current_snapshot()::text, EXISTS (SELECT 1 FROM event_changes WHERE xid >= "
    "pg_snapshot_xmin($1::pg_snapshot) AND NOT pg_visible_in_snapshot(xid, $1::pg_snapshot) AND "
    "from_us < $3::bigint AND to_us > $2::bigint)::int"};

}  // namespace

std::optional<std::string> EventReader::unchanged_since(const std::string& snapshot,
                                                        std::int64_t from_us, std::int64_t to_us) {
  const std::string from = std::to_string(from_us);
  const std::string to = std::to_string(to_us);
  const PgResult res =
      run(s(), kChangedSince, {snapshot.c_str(), from.c_str(), to.c_str()}, "checking for changes");
  if (std::string_view(PQgetvalue(res.get(), 0, 1)) != "0") return std::nullopt;
  return std::string(PQgetvalue(res.get(), 0, 0));
}

EventReader::ReadTransaction::ReadTransaction(EventReader& reader) : reader_(reader) {
  PGconn* conn = reader_.s().native();
  // One round trip: the snapshot is taken by the transaction's first statement.
  PGresult* res = PQexec(
      conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SELECT pg_current_snapshot()::text");
  try {
    snapshot_ = PQgetvalue(checked(conn, res, "starting a read").get(), 0, 0);
  } catch (const DatabaseError&) {
    PQclear(PQexec(conn, "ROLLBACK"));
    throw;
  }
}

EventReader::ReadTransaction::~ReadTransaction() {
  // Ends a failed transaction too. Should the connection be gone, the next statement on it
  // reports that and the pool reopens it.
  PQclear(PQexec(reader_.s().native(), "COMMIT"));
}

std::int64_t EventReader::count_events_rolled_up() {
  return int_at(run(s(), kRolledUpTotal, {}, "counting events").get(), 0, 0);
}

UserSummary EventReader::user_summary(const std::string& user_id) {
  const PgResult res = run(s(), kUserSummary, {user_id.c_str()}, "reading a user");
  UserSummary summary;
  for (int r = 0; r < PQntuples(res.get()); ++r) {
    const std::int64_t count = int_at(res.get(), r, 1);
    const EventSpan span{int_at(res.get(), r, 2), int_at(res.get(), r, 3)};
    summary.event_count += count;
    summary.by_type.push_back({PQgetvalue(res.get(), r, 0), count});
    if (!summary.span) {
      summary.span = span;
    } else {
      summary.span->first_us = std::min(summary.span->first_us, span.first_us);
      summary.span->last_us = std::max(summary.span->last_us, span.last_us);
    }
  }
  return summary;
}

EventReader::UserBuckets EventReader::user_buckets(const std::string& user_id,
                                                   std::optional<std::int64_t> from_us,
                                                   std::optional<std::int64_t> to_us,
                                                   std::int64_t bucket_s) {
  const auto from = instant_text(from_us), to = instant_text(to_us);
  const std::string step = std::to_string(bucket_s);
  UserBuckets out;
  out.buckets =
      bucket_rows(run(s(), kUserBuckets, {user_id.c_str(), param(from), param(to), step.c_str()},
                      "counting a user's events")
                      .get());
  // The span matters only where the caller left an end open.
  if (!out.buckets.empty() && (!from_us || !to_us)) {
    out.span = span_row(
        run(s(), kUserSpan, {user_id.c_str(), param(from), param(to)}, "reading a user").get());
  }
  return out;
}

std::optional<EventSpan> EventReader::global_span(const std::optional<std::string>& type) {
  return span_row((type ? run(s(), kTypedSpan, {type->c_str()}, "reading the span")
                        : run(s(), kSpan, {}, "reading the span"))
                      .get());
}

std::vector<BucketCount> EventReader::rollup_counts(std::int64_t granularity_s,
                                                    std::int64_t from_us, std::int64_t to_us,
                                                    const std::optional<std::string>& type) {
  const std::string level = std::to_string(granularity_s), from = instant_text(from_us),
                    to = instant_text(to_us);
  return bucket_rows(
      (type ? run(s(), kRollupTyped, {level.c_str(), from.c_str(), to.c_str(), type->c_str()},
                  "reading the rollup")
            : run(s(), kRollupAll, {level.c_str(), from.c_str(), to.c_str()}, "reading the rollup"))
          .get());
}

std::int64_t EventReader::count_rows(std::int64_t from_us, std::int64_t to_us,
                                     const std::optional<std::string>& type) {
  const std::string from = instant_text(from_us), to = instant_text(to_us);
  const PgResult res =
      type ? run(s(), kCountTypedRows, {from.c_str(), to.c_str(), type->c_str()}, "counting events")
           : run(s(), kCountRows, {from.c_str(), to.c_str()}, "counting events");
  return int_at(res.get(), 0, 0);
}

EventReader::EventReader(Database& db) : db_(db) {}

Database::Session& EventReader::s() {
  return db_.session();
}

Checkpoint EventReader::load_checkpoint(const std::string& stream) {
  return db_.guarded("reading checkpoint", [&] {
    s().sql << "INSERT INTO ingest_checkpoint (stream) VALUES (:s) ON CONFLICT DO NOTHING",
        soci::use(stream);
    Checkpoint c;
    c.stream = stream;
    std::string cursor, last_error;
    long long total = 0, pages = 0, events = 0, quarantined = 0;
    long long mark = 0, target = 0, syncs = 0, rescans = 0, last_events = 0, last_at = 0;
    int done = 0;
    soci::indicator cursor_ind, total_ind, error_ind, mark_ind, target_ind, last_events_ind,
        last_at_ind;
    s().sql
        << "SELECT next_cursor, pages, events, quarantined, upstream_total, done::int, last_error, "
           "extract(epoch FROM now() - updated_at)::float8, phase, mark_us, target_us, syncs, "
           "rescans, last_sync_events, (extract(epoch FROM last_sync_at) * 1000)::bigint "
           "FROM ingest_checkpoint WHERE stream = :s",
        soci::use(stream), soci::into(cursor, cursor_ind), soci::into(pages), soci::into(events),
        soci::into(quarantined), soci::into(total, total_ind), soci::into(done),
        soci::into(last_error, error_ind), soci::into(c.age_seconds), soci::into(c.phase),
        soci::into(mark, mark_ind), soci::into(target, target_ind), soci::into(syncs),
        soci::into(rescans), soci::into(last_events, last_events_ind),
        soci::into(last_at, last_at_ind);
    if (mark_ind == soci::i_ok) c.marks.mark_us = mark;
    if (target_ind == soci::i_ok) c.marks.target_us = target;
    c.syncs = syncs;
    c.rescans = rescans;
    if (last_events_ind == soci::i_ok) c.last_sync_events = last_events;
    if (last_at_ind == soci::i_ok) c.last_sync_unix_ms = last_at;
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

PushTotals EventReader::push_totals() {
  return db_.guarded("reading push totals", [&] {
    PushTotals t;
    long long requests = 0, accepted = 0, duplicates = 0, quarantined = 0;
    std::string last_at;
    soci::indicator last_ind = soci::i_null;
    s().sql << "SELECT requests, accepted, duplicates, quarantined, " + iso8601("last_at") +
                   " FROM push_totals",
        soci::into(requests), soci::into(accepted), soci::into(duplicates), soci::into(quarantined),
        soci::into(last_at, last_ind);
    if (!s().sql.got_data()) return t;
    t.requests = requests;
    t.accepted = accepted;
    t.duplicates = duplicates;
    t.quarantined = quarantined;
    if (last_ind == soci::i_ok) t.last_at = last_at;
    return t;
  });
}

std::int64_t EventReader::count_events() {
  long long n = 0;
  db_.guarded("counting events", [&] { s().sql << "SELECT count(*) FROM events", soci::into(n); });
  return n;
}

std::int64_t EventReader::count_quarantine() {
  long long n = 0;
  db_.guarded("counting quarantine",
              [&] { s().sql << "SELECT count(*) FROM quarantine", soci::into(n); });
  return n;
}

std::optional<std::int64_t> EventReader::newest_event_us() {
  long long us = 0;
  soci::indicator ind = soci::i_null;
  db_.guarded("reading the newest event", [&] {
    s().sql << "SELECT (extract(epoch FROM max(occurred_at)) * 1000000)::bigint FROM events",
        soci::into(us, ind);
  });
  return ind == soci::i_ok ? std::optional<std::int64_t>(us) : std::nullopt;
}

}  // namespace ingestd
