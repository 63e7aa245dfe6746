// A live upstream: events that keep appearing after the dataset, at the head of the newest-first
// order or (late arrivals) inside it, served through keyset positions as the real upstream's
// cursors are, so a position stays valid while events are inserted before it.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "dataset.hpp"

namespace upstream_sim {

struct LiveOptions {
  double rate = 0;     // new events per second; 0: no feed
  int late_every = 0;  // every K-th new event gets a timestamp inside the dataset's range
};

// An event's place in the order: timestamp DESC, id DESC.
struct OrderKey {
  std::int64_t ts_us = 0;
  std::string id;
  friend bool operator==(const OrderKey&, const OrderKey&) = default;
};
// True when `a` comes first (is newer) in the order.
bool before(const OrderKey& a, const OrderKey& b);

class LiveFeed {
 public:
  using Clock = std::chrono::steady_clock;
  LiveFeed(const Dataset& ds, LiveOptions options, Clock::time_point start);

  // The position of an event the upstream served, by its id; nullopt for an unknown id.
  std::optional<OrderKey> key_of(std::string_view id, Clock::time_point now);

  struct Page {
    std::string events;  // the events' JSON, comma-separated
    std::uint64_t count = 0;
    std::optional<OrderKey> last;  // set when more events follow
    std::uint64_t total = 0;       // events that exist now
  };
  // Up to `limit` events strictly after `after` (from the head when nullopt).
  Page page(const std::optional<OrderKey>& after, std::size_t limit, Clock::time_point now);

  // Ends the feed: no event appears after this. Returns the events that exist.
  std::uint64_t stop(Clock::time_point now);
  std::uint64_t live_count(Clock::time_point now);
  // When event j appears: start + j / rate, as epoch milliseconds of the wall clock.
  std::int64_t started_unix_ms() const { return started_unix_ms_; }
  // /internal/expected lines of the live events (the dataset's own lines are the Dataset's).
  void append_expected(std::string& out, Clock::time_point now);

 private:
  struct Event {
    std::uint64_t j = 0;  // arrival number
    bool late = false;
    std::optional<std::string> user;
    std::string_view type;
  };
  struct Newer {
    bool operator()(const OrderKey& a, const OrderKey& b) const { return before(a, b); }
  };
  void advance(Clock::time_point now);
  OrderKey dataset_key(std::uint64_t i) const;
  // First dataset position strictly after `key`.
  std::uint64_t dataset_after(const OrderKey& key) const;
  void append_live(const OrderKey& key, const Event& e, std::string& out) const;

  const Dataset& ds_;
  const LiveOptions options_;
  const Clock::time_point start_;
  const std::int64_t started_unix_ms_;
  std::mutex mu_;
  std::optional<std::uint64_t> stopped_at_;
  std::uint64_t appeared_ = 0;
  std::map<OrderKey, Event, Newer> events_;
  std::unordered_map<std::string, OrderKey> by_id_;
};

}  // namespace upstream_sim
