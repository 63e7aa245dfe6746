#include "store/event_writer.hpp"

#include <spdlog/spdlog.h>

#include "common/buckets.hpp"
#include "ingestd/errors.hpp"
#include "ingestd/event.hpp"
#include "store/pg_session.hpp"

namespace ingestd {

namespace {

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

}  // namespace

EventWriter::EventWriter(Database& db, std::string_view columns, std::string_view key)
    : db_(db),
      columns_(columns),
      staged_insert_(
          "WITH inserted AS (INSERT INTO events (" + columns_ + ") SELECT " + columns_ +
          " FROM events_staging ORDER BY " + std::string(key) +
          " ON CONFLICT DO NOTHING RETURNING type, "
          "occurred_at), minutes AS (SELECT coalesce(type, '') AS type, (floor(extract(epoch FROM "
          "occurred_at) / 60) * 60)::bigint AS minute_s, count(*) AS n FROM inserted GROUP BY 1, "
          "2), " +
          rollup_upsert_ctes() + " SELECT count(*) FROM inserted") {}

Database::Session& EventWriter::s() {
  return db_.session();
}

std::int64_t EventWriter::insert_quarantine(const std::string& stream,
                                            const std::string& page_cursor,
                                            const DecodedPage& page) {
  std::int64_t inserted = 0;
  PGconn* conn = s().native();
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

void EventWriter::lock_event_writers() {
  // Pull pages and push requests insert into the same tables; one writer at a time means two
  // transactions never wait on each other's ids and rollup rows in opposite orders (a deadlock).
  db_.exec("SELECT pg_advisory_xact_lock(hashtextextended('ingestd/event-writers', 0))",
           "event writer lock");
}

CommitResult EventWriter::insert_events(const DecodedPage& page) {
  CommitResult out;
  if (page.row_count == 0) return out;
  db_.exec("SAVEPOINT page_copy", "savepoint");
  const std::string fast = "COPY events (" + columns_ + ") FROM STDIN";
  try {
    out.inserted = db_.copy_into(fast.c_str(), page.copy_rows, "COPY into events");
  } catch (const DatabaseError& e) {
    if (e.failure() != DatabaseFailure::unique_violation) throw;
    db_.exec("ROLLBACK TO SAVEPOINT page_copy", "savepoint rollback");
    out.used_fallback = true;
  }
  if (!out.used_fallback) {
    add_to_rollup(page.minute_counts);
    return out;
  }
  // Some ids are stored already: only the rows this statement inserts are counted, straight
  // from what it returns. Sorted by id so that repeated ids are taken in one order.
  db_.exec(
      "CREATE TEMP TABLE IF NOT EXISTS events_staging (LIKE events INCLUDING DEFAULTS) ON "
      "COMMIT DELETE ROWS",
      "staging table");
  const std::string staged = "COPY events_staging (" + columns_ + ") FROM STDIN";
  db_.copy_into(staged.c_str(), page.copy_rows, "COPY into staging");
  const PgResult res =
      checked(s().native(), PQexec(s().native(), staged_insert_.c_str()), "staged insert");
  out.inserted = std::strtoll(PQgetvalue(res.get(), 0, 0), nullptr, 10);
  db_.exec("TRUNCATE events_staging", "staging cleanup");
  return out;
}

void EventWriter::add_to_rollup(const std::vector<MinuteCount>& minutes) {
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
  checked(s().native(),
          PQexecParams(s().native(), sql.c_str(), 3, nullptr, params, nullptr, nullptr, 0),
          "rollup update");
}

CommitResult EventWriter::commit_page(const std::string& stream, const PageCommit& commit,
                                      const DecodedPage& page, std::stop_token stop) {
  for (;;) {
    try {
      return commit_page_once(stream, commit, page);
    } catch (const DatabaseError& e) {
      if (e.failure() != DatabaseFailure::connection_lost) throw;
      spdlog::warn("{}; the connection is lost, reconnecting", e.what());
      db_.reconnect(db_.reconnect_timeout(), stop);
      spdlog::info("database: reconnected; retrying page {}", commit.page_number);
    }
  }
}

CommitResult EventWriter::commit_page_once(const std::string& stream, const PageCommit& commit,
                                           const DecodedPage& page) {
  const std::string context = "committing page " + std::to_string(commit.page_number);
  return db_.guarded(context.c_str(), [&] {
    soci::transaction tr(s().sql);
    lock_event_writers();
    long long pages = 0;
    s().sql << "SELECT pages FROM ingest_checkpoint WHERE stream = :s FOR UPDATE",
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
    long long mark = commit.marks.mark_us.value_or(0);
    soci::indicator mark_ind = commit.marks.mark_us ? soci::i_ok : soci::i_null;
    long long target = commit.marks.target_us.value_or(0);
    soci::indicator target_ind = commit.marks.target_us ? soci::i_ok : soci::i_null;
    // The last page of a head sync or re-scan also counts the pass as a completed sync.
    s().sql
        << "UPDATE ingest_checkpoint SET next_cursor = :c, pages = :p, events = events + :e, "
           "quarantined = quarantined + :q, upstream_total = coalesce(:t, upstream_total), "
           "done = :d::boolean, last_error = NULL, updated_at = now(), mark_us = :m, "
           "target_us = :g, "
           "syncs = syncs + CASE WHEN :d2::boolean AND phase <> 'first_pass' THEN 1 ELSE 0 END, "
           "rescans = rescans + CASE WHEN :d3::boolean AND phase = 'rescan' THEN 1 ELSE 0 END, "
           "last_sync_events = CASE WHEN :d4::boolean THEN events + :e2 - pass_started_events "
           "ELSE last_sync_events END, "
           "last_sync_at = CASE WHEN :d5::boolean THEN now() ELSE last_sync_at END "
           "WHERE stream = :s",
        soci::use(cursor, cursor_ind), soci::use(page_number), soci::use(inserted),
        soci::use(quarantined), soci::use(total, total_ind), soci::use(done),
        soci::use(mark, mark_ind), soci::use(target, target_ind), soci::use(done), soci::use(done),
        soci::use(done), soci::use(inserted), soci::use(done), soci::use(stream);
    tr.commit();
    return result;
  });
}

CommitResult EventWriter::commit_push(const DecodedPage& page) {
  return db_.guarded("storing pushed events", [&] {
    soci::transaction tr(s().sql);
    lock_event_writers();
    CommitResult result = insert_events(page);
    result.quarantined = insert_quarantine(std::string(kPushStream), {}, page);
    long long accepted = result.inserted;
    long long duplicates = static_cast<long long>(page.row_count) - result.inserted;
    long long quarantined = result.quarantined;
    s().sql << "INSERT INTO push_totals AS t (requests, accepted, duplicates, quarantined, "
               "last_at) VALUES (1, :a, :d, :q, now()) ON CONFLICT (id) DO UPDATE SET requests = "
               "t.requests + 1, accepted = t.accepted + excluded.accepted, duplicates = "
               "t.duplicates + excluded.duplicates, quarantined = t.quarantined + "
               "excluded.quarantined, last_at = excluded.last_at",
        soci::use(accepted), soci::use(duplicates), soci::use(quarantined);
    tr.commit();
    return result;
  });
}

void EventWriter::begin_pass(const std::string& stream, const std::string& phase) {
  db_.guarded("starting a pass", [&] {
    s().sql << "UPDATE ingest_checkpoint SET phase = :p, done = false, next_cursor = NULL, "
               "target_us = NULL, pass_started_events = events, updated_at = now() "
               "WHERE stream = :s",
        soci::use(phase), soci::use(stream);
  });
}

void EventWriter::record_error(const std::string& stream, const std::string& message) {
  try {
    db_.guarded("recording the last error", [&] {
      s().sql
          << "UPDATE ingest_checkpoint SET last_error = :m, updated_at = now() WHERE stream = :s",
          soci::use(message), soci::use(stream);
    });
  } catch (const DatabaseError& e) {
    spdlog::warn("{}", e.what());
  }
}

}  // namespace ingestd
