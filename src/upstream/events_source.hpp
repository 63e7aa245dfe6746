#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/backoff.hpp"
#include "common/clock.hpp"
#include "ingestd/page_source.hpp"
#include "ingestd/rate_state.hpp"
#include "ingestd/stats.hpp"
#include "upstream/http_client.hpp"
#include "upstream/key_pool.hpp"
#include "upstream/outcome.hpp"
#include "upstream/profile_page.hpp"
#include "upstream/rate_limiter.hpp"
#include "upstream/source_options.hpp"

namespace ingestd {

// The upstream's cursor chain as a page source: picks the API key whose rate limiter permits the
// earliest send (key_pool.hpp), saves that key's send times still in the window, sends
// GET /api/v1/events on the key's kept-alive handle, classifies the answer (outcome.hpp), and
// retries, waits, moves to another key or recovers the cursor until it has a complete page to
// hand out. One thread drives it: the chain is sequential, so extra keys add budget, not
// concurrency.
class EventsSource : public PageSource {
 public:
  EventsSource(SourceOptions options, SourceStats& stats, std::optional<std::string> cursor,
               std::int64_t pages_done, RateStateStore& rate_state);

  std::optional<RawPage> next(std::stop_token stop) override;

  // Starts another pass over the stream on the same keys and limiters: from `cursor` (nullopt:
  // the head), ending on the page that reaches an event at or below `stop_at_us` when set, or
  // at the end of the stream. Pages go on numbering from where the last pass ended.
  void begin_pass(std::optional<std::string> cursor, std::optional<std::int64_t> stop_at_us);

  // The last answer: the URL asked (never with a key in it), its status and headers, and how
  // its rate headers were read. For `ingestd check-profile`.
  struct Exchange {
    std::string url;
    int status = 0;
    HttpHeaders headers;
    RateLimitHeaders rate;
  };
  const Exchange& last_exchange() const { return last_; }
  // The limit and window the limiter of `key` paces by (0 and 0 while unknown).
  std::pair<std::int64_t, std::chrono::milliseconds> pace(std::size_t key) const;

 private:
  // One API key: its connection and the name its rate state is stored under.
  struct Key {
    Key(HttpClient::Options options, std::string fingerprint)
        : http(std::move(options)), fingerprint(std::move(fingerprint)) {}
    HttpClient http;
    std::string fingerprint;
    bool record_failing = false;
  };

  HttpClient::Options http_options(const std::string& key) const;
  void restore_rate_state();
  void record_send(std::size_t key, std::chrono::steady_clock::time_point at);
  std::size_t choose_key(std::chrono::steady_clock::time_point now) const;
  std::string key_name(std::size_t key) const;
  void report_keys(std::chrono::steady_clock::time_point now);
  // The request carried a cursor that another key, still active, was issued.
  bool cursor_of_another_key(std::size_t key, bool sent_cursor) const;
  // From now on each page goes on the key that was issued its cursor.
  void bind_cursors(std::size_t key, const std::string& refusal);
  void retire_key(std::size_t key, const Outcome& why);
  std::string page_url(const HttpClient& http) const;
  // What the page just received says next: the contract's envelope or the profile's paging.
  PageInfo read_page(const HttpResult& result, const std::string& url) const;
  void retry_after_backoff(const Outcome& outcome, std::stop_token stop);
  void recover_expired_cursor_at_start();
  void recover_cursor(const Outcome& why);

  const SourceOptions options_;
  // A profile stream's paging; nullopt for the contract's own cursor chain.
  std::optional<ProfilePaging> paging_;
  SourceStats& stats_;
  std::vector<std::unique_ptr<Key>> keys_;
  KeyPool pool_;
  Backoff backoff_;
  // The key whose answer carried cursor_; cursors_bound_ once the upstream refused another.
  std::optional<std::size_t> cursor_key_;
  bool cursors_bound_ = false;
  // A key refused (401/403) with another key's cursor, to be asked once without a cursor.
  std::optional<std::size_t> key_to_verify_;
  std::string refused_cursor_;
  std::optional<std::string> cursor_;
  std::optional<std::int64_t> stop_at_us_;
  std::int64_t page_number_;
  std::int64_t cursor_ttl_s_ = 115;
  bool reissued_ = false;
  bool finished_ = false;
  int foreign_envelopes_ = 0;
  RateStateStore& rate_state_;
  WallClock wall_;
  Exchange last_;
};

}  // namespace ingestd
