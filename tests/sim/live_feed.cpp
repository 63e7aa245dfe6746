#include "live_feed.hpp"

#include <algorithm>
#include <charconv>

namespace upstream_sim {
namespace {

// Hash domains of the feed, apart from the dataset's.
constexpr std::uint64_t kTagLiveId = 0x4c1;
constexpr std::uint64_t kTagLiveLike = 0x4c2;
constexpr std::uint64_t kTagLatePlace = 0x4c3;

}  // namespace

bool before(const OrderKey& a, const OrderKey& b) {
  if (a.ts_us != b.ts_us) return a.ts_us > b.ts_us;
  return a.id > b.id;
}

LiveFeed::LiveFeed(const Dataset& ds, LiveOptions options, Clock::time_point start)
    : ds_(ds),
      options_(options),
      start_(start),
      started_unix_ms_(
          std::chrono::duration_cast<std::chrono::milliseconds>(
              std::chrono::system_clock::now().time_since_epoch() - (Clock::now() - start))
              .count()) {}

void LiveFeed::advance(Clock::time_point now) {
  if (options_.rate <= 0) return;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  auto due = static_cast<std::uint64_t>(std::max(0.0, elapsed) * options_.rate);
  if (stopped_at_) due = std::min(due, *stopped_at_);
  const std::uint64_t seed = ds_.seed();
  for (; appeared_ < due; ++appeared_) {
    const std::uint64_t j = appeared_;
    char id36[36];
    write_random_uuid(seed, kTagLiveId, j, id36);
    // A user and type as an event of the dataset has them, so per-user counts mix both.
    const std::uint64_t like = mix(seed, kTagLiveLike, j) % ds_.size();
    Event e{
        j,
        options_.late_every > 0 && (j + 1) % static_cast<std::uint64_t>(options_.late_every) == 0,
        ds_.user_id(like), ds_.type(like).value_or("")};
    std::int64_t ts_ms = 0;
    if (e.late) {
      ts_ms = ds_.ts_us(mix(seed, kTagLatePlace, j) % ds_.size()) / 1000;
    } else {
      ts_ms = kNewestMs + 1000 +
              static_cast<std::int64_t>(static_cast<double>(j) * 1000.0 / options_.rate);
    }
    OrderKey key{ts_ms * 1000, std::string(id36, 36)};
    by_id_.emplace(key.id, key);
    events_.emplace(std::move(key), std::move(e));
  }
}

OrderKey LiveFeed::dataset_key(std::uint64_t i) const {
  return {ds_.ts_us(i), ds_.id(i)};
}

std::uint64_t LiveFeed::dataset_after(const OrderKey& key) const {
  std::uint64_t lo = 0, hi = ds_.size();
  while (lo < hi) {
    const std::uint64_t mid = lo + (hi - lo) / 2;
    if (before(key, dataset_key(mid))) {
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  return lo;
}

std::optional<OrderKey> LiveFeed::key_of(std::string_view id, Clock::time_point now) {
  if (const auto i = ds_.index_of(id)) return dataset_key(*i);
  std::lock_guard lock(mu_);
  advance(now);
  const auto it = by_id_.find(std::string(id));
  if (it == by_id_.end()) return std::nullopt;
  return it->second;
}

void LiveFeed::append_live(const OrderKey& key, const Event& e, std::string& out) const {
  out += "{\"id\":\"";
  out += key.id;
  out += "\",";
  if (e.user) {
    out += "\"userId\":\"";
    out += *e.user;
    out += "\",";
  }
  if (!e.type.empty()) {
    out += "\"type\":\"";
    out += e.type;
    out += "\",";
  }
  out += e.late ? "\"name\":\"event_late\"," : "\"name\":\"event_live\",";
  out += "\"properties\":{\"arrival\":";
  append_int(out, static_cast<std::int64_t>(e.j));
  out += "},\"timestamp\":\"";
  append_iso_ms(key.ts_us / 1000, out);
  out += "\"}";
}

LiveFeed::Page LiveFeed::page(const std::optional<OrderKey>& after, std::size_t limit,
                              Clock::time_point now) {
  std::lock_guard lock(mu_);
  advance(now);
  Page page;
  page.total = ds_.size() + appeared_;
  auto live = after ? events_.upper_bound(*after) : events_.begin();
  std::uint64_t hist = after ? dataset_after(*after) : 0;
  OrderKey last;
  while (page.count < limit && (live != events_.end() || hist < ds_.size())) {
    if (page.count > 0) page.events.push_back(',');
    const bool take_live =
        live != events_.end() && (hist >= ds_.size() || before(live->first, dataset_key(hist)));
    if (take_live) {
      append_live(live->first, live->second, page.events);
      last = live->first;
      ++live;
    } else {
      ds_.append_event(hist, page.events);
      last = dataset_key(hist);
      ++hist;
    }
    ++page.count;
  }
  if (live != events_.end() || hist < ds_.size()) page.last = std::move(last);
  return page;
}

std::uint64_t LiveFeed::stop(Clock::time_point now) {
  std::lock_guard lock(mu_);
  advance(now);
  stopped_at_ = appeared_;
  return ds_.size() + appeared_;
}

std::uint64_t LiveFeed::live_count(Clock::time_point now) {
  std::lock_guard lock(mu_);
  advance(now);
  return appeared_;
}

void LiveFeed::append_expected(std::string& out, Clock::time_point now) {
  std::lock_guard lock(mu_);
  advance(now);
  for (const auto& [key, e] : events_) {
    out += key.id;
    out.push_back('\t');
    append_int(out, key.ts_us);
    out += "\tstore\tiso\t";
    out += e.user.value_or("-");
    out.push_back('\t');
    out += e.type.empty() ? std::string_view("-") : e.type;
    out.push_back('\n');
  }
}

}  // namespace upstream_sim
