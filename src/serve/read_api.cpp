#include "serve/read_api.hpp"

#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

#include "common/buckets.hpp"
#include "common/timestamp.hpp"
#include "serve/query_params.hpp"
#include "store/event_reader.hpp"

namespace ingestd {

namespace {

struct CountsQuery {
  std::string bucket_name = "1h";
  std::int64_t bucket_s = 3600;
  std::optional<std::int64_t> from_us;  // starting_at
  std::optional<std::int64_t> to_us;    // ending_before
  std::optional<std::string> type;
};

std::optional<std::string> single(const QueryParams& params, const std::string& name) {
  const auto [first, last] = params.equal_range(name);
  if (first == last) return std::nullopt;
  if (std::next(first) != last) throw BadRequest(name, name + ": given more than once");
  return first->second;
}

std::optional<std::int64_t> instant_param(const QueryParams& params, const std::string& name) {
  const auto text = single(params, name);
  if (!text) return std::nullopt;
  const auto us = parse_query_instant(*text);
  if (!us) {
    throw BadRequest(name, name + ": cannot read \"" + text->substr(0, 64) +
                               "\" as a time; use ISO-8601 such as 2026-01-27T19:00:00Z (encode "
                               "+ as %2B), a date such as 2026-01-27, or epoch seconds or "
                               "milliseconds");
  }
  return us;
}

// Unknown parameters were refused by the server from its route table (serve/routes.hpp).
CountsQuery parse_counts_query(const QueryParams& params, bool allow_type) {
  CountsQuery q;
  if (const auto bucket = single(params, "bucket")) {
    const auto seconds = parse_bucket_size(*bucket);
    if (!seconds) {
      throw BadRequest("bucket", "bucket: must be one of 1m, 5m, 15m, 1h, 1d (got \"" +
                                     bucket->substr(0, 16) + "\")");
    }
    q.bucket_name = *bucket;
    q.bucket_s = *seconds;
  }
  q.from_us = instant_param(params, "starting_at");
  q.to_us = instant_param(params, "ending_before");
  if (q.from_us && q.to_us && *q.from_us >= *q.to_us) {
    throw BadRequest("ending_before", "ending_before: must be later than starting_at");
  }
  if (allow_type) {
    q.type = single(params, "type");
    if (q.type && (q.type->empty() || q.type->size() > 256)) {
      throw BadRequest("type", "type: must be 1 to 256 characters");
    }
  }
  return q;
}

// The range asked for, the defaults filled in from the events' span: from the first event to
// just after the last. nullopt when it holds no instant (no events and no explicit range).
std::optional<std::pair<std::int64_t, std::int64_t>> resolve_range(
    const CountsQuery& q, const std::optional<EventSpan>& span) {
  if (!q.from_us && !span) return std::nullopt;
  if (!q.to_us && !span) return std::nullopt;
  const std::int64_t from = q.from_us ? *q.from_us : span->first_us;
  const std::int64_t to = q.to_us ? *q.to_us : span->last_us + 1000;
  if (from >= to) return std::nullopt;
  return std::make_pair(from, to);
}

nlohmann::ordered_json optional_instant(const std::optional<std::int64_t>& us) {
  return us ? nlohmann::ordered_json(format_iso8601_ms(*us)) : nlohmann::ordered_json(nullptr);
}

// Buckets from the one containing `from` to the one containing the last instant before `to`,
// zeros included; `add` fills them.
class BucketSeries {
 public:
  BucketSeries(std::int64_t from, std::int64_t to, const CountsQuery& q)
      : step_(q.bucket_s * 1'000'000), first_(floor_to(from, step_)) {
    const std::int64_t n = bucket_count(from, to, step_);
    if (n > kMaxBuckets) {
      throw BadRequest("bucket", "bucket: " + q.bucket_name + " buckets over this range are " +
                                     std::to_string(n) + ", more than " +
                                     std::to_string(kMaxBuckets) +
                                     "; choose a larger bucket or a shorter range");
    }
    counts_.assign(static_cast<std::size_t>(n), 0);
  }
  // Counts of an instant inside the series (a bucket start, or any instant of a piece).
  void add(std::int64_t at_us, std::int64_t count) {
    counts_.at(static_cast<std::size_t>((floor_to(at_us, step_) - first_) / step_)) += count;
  }
  nlohmann::ordered_json to_json(std::int64_t& total) const {
    nlohmann::ordered_json out = nlohmann::ordered_json::array();
    out.get_ref<nlohmann::ordered_json::array_t&>().reserve(counts_.size());
    total = 0;
    for (std::size_t i = 0; i < counts_.size(); ++i) {
      total += counts_[i];
      nlohmann::ordered_json& bucket = out.emplace_back(nlohmann::ordered_json::object());
      bucket.get_ref<nlohmann::ordered_json::object_t&>().reserve(2);
      bucket["start"] = format_iso8601_ms(first_ + static_cast<std::int64_t>(i) * step_);
      bucket["count"] = counts_[i];
    }
    return out;
  }

 private:
  std::int64_t step_;
  std::int64_t first_;
  std::vector<std::int64_t> counts_;
};

void put_series(nlohmann::ordered_json& out, const BucketSeries& series) {
  std::int64_t total = 0;
  nlohmann::ordered_json buckets = series.to_json(total);
  out["total"] = total;
  out["buckets"] = std::move(buckets);
}

// Resolves the range and writes its ends; with no range, also the empty answer.
std::optional<std::pair<std::int64_t, std::int64_t>> put_range(
    nlohmann::ordered_json& out, const CountsQuery& q, const std::optional<EventSpan>& span) {
  const auto range = resolve_range(q, span);
  out["starting_at"] = optional_instant(range ? std::optional(range->first) : q.from_us);
  out["ending_before"] = optional_instant(range ? std::optional(range->second) : q.to_us);
  if (!range) {
    out["total"] = 0;
    out["buckets"] = nlohmann::ordered_json::array();
  }
  return range;
}

}  // namespace

nlohmann::ordered_json user_event_counts(EventReader& store, const std::string& raw_user_id,
                                         const QueryParams& params, bool uuid_users) {
  const std::string user_id = parse_user_id(raw_user_id, uuid_users);
  const CountsQuery q = parse_counts_query(params, false);
  nlohmann::ordered_json out = {{"user_id", user_id}, {"bucket", q.bucket_name}};
  // An explicit range is checked before the query; a default one once the span is known.
  std::optional<BucketSeries> series;
  if (q.from_us && q.to_us) series.emplace(*q.from_us, *q.to_us, q);
  const EventReader::UserBuckets found =
      store.user_buckets(user_id, q.from_us, q.to_us, q.bucket_s);
  const auto range = put_range(out, q, found.span);
  if (!range) return out;
  if (!series) series.emplace(range->first, range->second, q);
  for (const BucketCount& b : found.buckets) series->add(b.start_us, b.count);
  put_series(out, *series);
  return out;
}

nlohmann::ordered_json global_event_counts(EventReader& store, const QueryParams& params) {
  const CountsQuery q = parse_counts_query(params, true);
  const auto span = q.from_us && q.to_us ? std::nullopt : store.global_span(q.type);
  nlohmann::ordered_json out = {
      {"bucket", q.bucket_name},
      {"type", q.type ? nlohmann::ordered_json(*q.type) : nlohmann::ordered_json(nullptr)}};
  const auto range = put_range(out, q, span);
  if (!range) return out;
  BucketSeries series(range->first, range->second, q);
  for (const CountPiece& piece : plan_counts(range->first, range->second, q.bucket_s)) {
    if (piece.source == CountPiece::Source::rows) {
      series.add(piece.from_us, store.count_rows(piece.from_us, piece.to_us, q.type));
      continue;
    }
    for (const BucketCount& b :
         store.rollup_counts(piece.granularity_s, piece.from_us, piece.to_us, q.type)) {
      series.add(b.start_us, b.count);
    }
  }
  put_series(out, series);
  return out;
}

AnswerRange counts_range(const QueryParams& params) {
  AnswerRange range;
  if (const auto from = instant_param(params, "starting_at")) range.from_us = *from;
  if (const auto to = instant_param(params, "ending_before")) range.to_us = *to;
  return range;
}

nlohmann::ordered_json user_summary(EventReader& store, const std::string& raw_user_id,
                                    bool uuid_users) {
  const std::string user_id = parse_user_id(raw_user_id, uuid_users);
  const UserSummary summary = store.user_summary(user_id);
  nlohmann::ordered_json by_type = nlohmann::ordered_json::object();
  for (const TypeCount& t : summary.by_type) by_type[t.type] = t.count;
  return {{"user_id", user_id},
          {"event_count", summary.event_count},
          {"first_event_at",
           optional_instant(summary.span ? std::optional(summary.span->first_us) : std::nullopt)},
          {"latest_event_at",
           optional_instant(summary.span ? std::optional(summary.span->last_us) : std::nullopt)},
          {"by_type", by_type}};
}

}  // namespace ingestd
