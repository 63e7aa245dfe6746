#include "server.hpp"

#include <httplib.h>
#include <simdjson.h>
#include <sys/socket.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <map>
#include <mutex>
#include <numeric>
#include <optional>
#include <stdexcept>
#include <thread>
#include <vector>

namespace upstream_sim {
namespace {

using SteadyClock = std::chrono::steady_clock;
using SystemClock = std::chrono::system_clock;

constexpr int kMaxLimit = 5000;
constexpr int kDefaultLimit = 100;
constexpr int kUnlimitedLimit = 1'000'000;
constexpr auto kCacheTtl = std::chrono::seconds(30);
// Pages are ~1.7 MB: a handful keeps the cache useful for retries without growing memory.
constexpr std::size_t kCacheEntries = 4;
constexpr std::uint64_t kExpectedLinesPerChunk = 4096;

constexpr const char* kJsonType = "application/json; charset=utf-8";

// Hash domains of per-request and per-attempt fault decisions (distinct from the dataset's).
enum FaultTag : std::uint64_t {
  kTag5xx = 101,
  kTag5xxKind,
  kTagStorm,
  kTagMissingHeaders,
  kTagGarbled,
  kTagGarbledKind,
  kTagSlow,
  kTagDrop,
  kTagTruncate,
  kTagRepeat,
  kTagRepeatCount,
  kTagSubmit5xx,
  kTagRequestId,
  kTagSubmissionId,
};

enum FaultKind : std::size_t {
  kFault5xx,
  kFaultStorm,
  kFaultSlow,
  kFaultDrop,
  kFaultTruncate,
  kFaultRepeat,
  kFaultGarbled,
  kFaultMissingHeaders,
  kFaultKinds
};
constexpr std::array<const char*, kFaultKinds> kFaultNames = {
    "5xx", "storm_429", "slow", "drop", "truncate", "repeat", "garbled_headers", "missing_headers"};

constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::int64_t now_epoch_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             SystemClock::now().time_since_epoch())
      .count();
}

void append_json_string(std::string& out, std::string_view s) {
  out.push_back('"');
  for (const char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
          out += buf;
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
}

std::string with_thousands(std::uint64_t v) {
  std::string digits = std::to_string(v);
  std::string out;
  for (std::size_t k = 0; k < digits.size(); ++k) {
    if (k > 0 && (digits.size() - k) % 3 == 0) out.push_back(',');
    out.push_back(digits[k]);
  }
  return out;
}

std::string error_body(std::string_view error, std::string_view message, std::string_view code) {
  std::string out = "{\"error\":";
  append_json_string(out, error);
  out += ",\"message\":";
  append_json_string(out, message);
  out += ",\"code\":";
  append_json_string(out, code);
  out.push_back('}');
  return out;
}

bool gzip_compress(std::string_view in, std::string& out) {
  z_stream zs{};
  if (deflateInit2(&zs, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    return false;
  }
  out.resize(deflateBound(&zs, static_cast<uLong>(in.size())));
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return rc == Z_STREAM_END;
}

bool accepts_gzip(const httplib::Request& req) {
  return req.get_header_value("Accept-Encoding").find("gzip") != std::string::npos;
}

// Streams "id\nid\n…" (text/plain lines, CRLF tolerated) into an exact verdict using one bit per
// dataset event, so a 3M-id body costs 375 KB however it arrives.
class IdTally {
 public:
  explicit IdTally(const Dataset& ds) : ds_(ds), seen_((ds.size() + 63) / 64, 0) {}

  void put(char c) {
    if (c == '\n') {
      end_line();
    } else if (c != '\r') {
      if (line_.size() < 64) {
        line_.push_back(c);
      } else {
        overlong_ = true;
      }
    }
  }

  void end_line() {
    if (!line_.empty() || overlong_) classify();
    line_.clear();
    overlong_ = false;
  }

  std::uint64_t received = 0, unique = 0, duplicates = 0, unknown = 0;

 private:
  void classify() {
    ++received;
    const auto i = overlong_ ? std::nullopt : ds_.index_of(line_);
    // The id of an event a correct client quarantines is no part of the answer either.
    if (!i || !ds_.storable(*i)) {
      ++unknown;
      return;
    }
    std::uint64_t& word = seen_[*i / 64];
    const std::uint64_t bit = std::uint64_t{1} << (*i % 64);
    if (word & bit) {
      ++duplicates;
    } else {
      word |= bit;
      ++unique;
    }
  }

  const Dataset& ds_;
  std::vector<std::uint64_t> seen_;
  std::string line_;
  bool overlong_ = false;
};

// Incremental reader of {"ids":"id\nid…","githubRepoUrl":"…"}: the ids string is decoded as it
// arrives and fed to the tally; other members are skipped.
class JsonIdsReader {
 public:
  explicit JsonIdsReader(IdTally& tally) : tally_(tally) {}

  void feed(std::string_view chunk) {
    for (const char c : chunk) step(c);
  }

  const std::string& repo_url() const { return repo_; }

 private:
  enum class St { kSeekKey, kKey, kSeekColon, kSeekValue, kString, kOther };
  enum class Target { kNone, kIds, kRepo };

  void step(char c) {
    switch (st_) {
      case St::kSeekKey:
        if (c == '"') {
          key_.clear();
          escape_ = false;
          st_ = St::kKey;
        }
        return;
      case St::kKey:
        if (escape_) {
          escape_ = false;
          if (key_.size() < 32) key_.push_back(c);
        } else if (c == '\\') {
          escape_ = true;
        } else if (c == '"') {
          st_ = St::kSeekColon;
        } else if (key_.size() < 32) {
          key_.push_back(c);
        }
        return;
      case St::kSeekColon:
        if (c == ':') st_ = St::kSeekValue;
        return;
      case St::kSeekValue:
        if (c == '"') {
          target_ = key_ == "ids"             ? Target::kIds
                    : key_ == "githubRepoUrl" ? Target::kRepo
                                              : Target::kNone;
          escape_ = false;
          unicode_left_ = 0;
          st_ = St::kString;
        } else if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
          st_ = St::kOther;
        }
        return;
      case St::kOther:
        if (c == ',') st_ = St::kSeekKey;
        return;
      case St::kString:
        string_char(c);
        return;
    }
  }

  void string_char(char c) {
    if (unicode_left_ > 0) {
      const int h = c >= '0' && c <= '9'   ? c - '0'
                    : c >= 'a' && c <= 'f' ? c - 'a' + 10
                    : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                           : 0;
      unicode_ = unicode_ * 16 + static_cast<unsigned>(h);
      if (--unicode_left_ == 0) emit(unicode_ < 0x80 ? static_cast<char>(unicode_) : '?');
      return;
    }
    if (escape_) {
      escape_ = false;
      switch (c) {
        case 'n':
          emit('\n');
          return;
        case 'r':
          emit('\r');
          return;
        case 't':
          emit('\t');
          return;
        case 'b':
        case 'f':
          emit('?');
          return;
        case 'u':
          unicode_left_ = 4;
          unicode_ = 0;
          return;
        default:
          emit(c);
          return;
      }
    }
    if (c == '\\') {
      escape_ = true;
    } else if (c == '"') {
      if (target_ == Target::kIds) tally_.end_line();
      st_ = St::kSeekKey;
    } else {
      emit(c);
    }
  }

  void emit(char c) {
    if (target_ == Target::kIds) {
      tally_.put(c);
    } else if (target_ == Target::kRepo && repo_.size() < 2048) {
      repo_.push_back(c);
    }
  }

  IdTally& tally_;
  St st_ = St::kSeekKey;
  Target target_ = Target::kNone;
  std::string key_;
  std::string repo_;
  bool escape_ = false;
  int unicode_left_ = 0;
  unsigned unicode_ = 0;
};

struct CacheEntry {
  std::string target;
  SteadyClock::time_point at;
  std::shared_ptr<const std::string> body;
  std::string request_id;
  std::string etag;
};

struct SubmissionRecord {
  int number;
  int status;
  std::string submission_id;
  std::string submitted_at;
  std::uint64_t received, unique, duplicates, missing, unknown;
};

struct RateView {
  bool allowed;
  bool storm;
  int limit;
  int remaining;
  int reset;
  std::int64_t reset_ms;  // unrounded: when the oldest logged request leaves the window
  SteadyClock::time_point arrived;
  std::int64_t arrived_epoch_ms;  // the instants of the epoch dialects count from the arrival
  std::size_t key;                // position of the key in the accepted list, 0-based
};

// One counted request: when it arrived and when its answer was ready, for the benchmark's floor.
struct RequestRecord {
  SteadyClock::time_point arrived, answered;
  int status;
};
constexpr std::size_t kMaxRequestLog = 100'000;

// RFC 9110 IMF-fixdate, e.g. "Sun, 06 Nov 1994 08:49:37 GMT".
std::string http_date(std::int64_t epoch_s) {
  const auto t = static_cast<std::time_t>(epoch_s);
  std::tm tm{};
  gmtime_r(&t, &tm);
  static constexpr std::array<const char*, 7> kDays = {"Sun", "Mon", "Tue", "Wed",
                                                       "Thu", "Fri", "Sat"};
  static constexpr std::array<const char*, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  char buf[40];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d GMT",
                kDays[static_cast<std::size_t>(tm.tm_wday)], tm.tm_mday,
                kMonths[static_cast<std::size_t>(tm.tm_mon)], tm.tm_year + 1900, tm.tm_hour,
                tm.tm_min, tm.tm_sec);
  return buf;
}

}  // namespace

std::string base64_encode(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t k = 0;
  for (; k + 2 < in.size(); k += 3) {
    const auto v = static_cast<std::uint32_t>(static_cast<unsigned char>(in[k]) << 16 |
                                              static_cast<unsigned char>(in[k + 1]) << 8 |
                                              static_cast<unsigned char>(in[k + 2]));
    out.push_back(kB64[v >> 18]);
    out.push_back(kB64[(v >> 12) & 63]);
    out.push_back(kB64[(v >> 6) & 63]);
    out.push_back(kB64[v & 63]);
  }
  if (k < in.size()) {
    std::uint32_t v = static_cast<std::uint32_t>(static_cast<unsigned char>(in[k]) << 16);
    if (k + 1 < in.size())
      v |= static_cast<std::uint32_t>(static_cast<unsigned char>(in[k + 1]) << 8);
    out.push_back(kB64[v >> 18]);
    out.push_back(kB64[(v >> 12) & 63]);
    out.push_back(k + 1 < in.size() ? kB64[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view in) {
  while (!in.empty() && in.back() == '=') in.remove_suffix(1);
  if (in.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(in.size() * 3 / 4);
  std::uint32_t acc = 0;
  int bits = 0;
  for (const char c : in) {
    int v;
    if (c >= 'A' && c <= 'Z') {
      v = c - 'A';
    } else if (c >= 'a' && c <= 'z') {
      v = c - 'a' + 26;
    } else if (c >= '0' && c <= '9') {
      v = c - '0' + 52;
    } else if (c == '+' || c == '-') {
      v = 62;
    } else if (c == '/' || c == '_') {
      v = 63;
    } else {
      return std::nullopt;
    }
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return out;
}

// One accepted API key: its own sliding log (unless the quota is shared) and what it spent.
struct KeyState {
  std::string secret;
  std::deque<SteadyClock::time_point> log;
  std::optional<SteadyClock::time_point> first_use;
  std::uint64_t requests = 0, rate_limited = 0, after_expiry = 0;
  std::size_t max_in_window = 0;
};

struct Server::State {
  explicit State(ServerOptions o) : opt(std::move(o)), ds(opt.dataset) {
    keys.resize(1 + opt.more_api_keys.size());
    keys[0].secret = opt.api_key;
    for (std::size_t k = 0; k < opt.more_api_keys.size(); ++k) {
      keys[k + 1].secret = opt.more_api_keys[k];
    }
    attempts.assign(keys.size(), 0);
  }

  ServerOptions opt;
  Dataset ds;
  LiveFeed feed{ds, opt.live, SteadyClock::now()};
  httplib::Server http;

  bool live_mode() const { return opt.live.rate > 0; }

  std::mutex stop_mu;
  std::condition_variable stop_cv;
  bool stopping = false;
  bool in_run = false;

  std::mutex rate_mu;
  std::vector<KeyState> keys;
  std::int64_t counted_total = 0;
  std::size_t max_in_window = 0;
  int storm_left = 0;

  std::atomic<std::uint64_t> requests{0}, pages_served{0}, events_served{0}, bytes_served{0},
      rate_limited{0}, cache_hits{0}, request_seq{0}, id_seq{0};
  std::array<std::atomic<std::uint64_t>, kFaultKinds> faults{};
  std::atomic<std::int64_t> first_call_ms{-1};

  std::mutex status_mu;
  std::map<int, std::uint64_t> status_counts;

  std::mutex cache_mu;
  std::deque<CacheEntry> cache;

  std::mutex log_mu;
  const SteadyClock::time_point started = SteadyClock::now();
  std::vector<RequestRecord> request_log;

  std::mutex sub_mu;
  std::vector<int> attempts;  // per key
  std::atomic<std::uint64_t> broken_uploads{0};
  std::vector<SubmissionRecord> submissions;

  // False when the server is stopping, so long sleeps never delay shutdown.
  bool sleep_for(std::chrono::microseconds d) {
    std::unique_lock lock(stop_mu);
    return !stop_cv.wait_for(lock, d, [this] { return stopping; });
  }

  template <typename... Args>
  void note(const char* fmt, Args... args) {
    if (!opt.verbose) return;
    std::string line = "upstream-sim: ";
    line += fmt;
    line += '\n';
    std::fprintf(stderr, line.c_str(), args...);
  }

  void fault(FaultKind k) { faults[k].fetch_add(1, std::memory_order_relaxed); }

  std::string next_request_id() {
    char buf[36];
    write_random_uuid(opt.dataset.seed, kTagRequestId, id_seq.fetch_add(1), buf);
    return {buf, 36};
  }

  // The position of the key the request carries as the contract or the dialect sends keys, or
  // nullopt with a 401 written to res.
  std::optional<std::size_t> authorized(const httplib::Request& req, httplib::Response& res) {
    return authorized_key(opt.dialect == Dialect::contract
                              ? req.get_header_value("X-API-Key")
                              : dialect_key(req, dialect_spec(opt.dialect)),
                          res);
  }

  // The key as the dialect expects it: a header, a bearer token or a query parameter.
  std::string dialect_key(const httplib::Request& req, const DialectSpec& spec) {
    switch (spec.auth) {
      case DialectAuth::header:
        return req.get_header_value(std::string(spec.auth_name));
      case DialectAuth::bearer: {
        const std::string h = req.get_header_value("Authorization");
        return h.starts_with("Bearer ") ? h.substr(7) : std::string();
      }
      case DialectAuth::query:
        return req.get_param_value(std::string(spec.auth_name));
    }
    return {};
  }

  std::optional<std::size_t> authorized_key(const std::string& presented, httplib::Response& res) {
    std::lock_guard lock(rate_mu);
    for (std::size_t k = 0; k < keys.size(); ++k) {
      KeyState& key = keys[k];
      if (key.secret != presented) continue;
      const auto now = SteadyClock::now();
      if (!key.first_use) key.first_use = now;
      ++key.requests;
      const auto ttl = opt.key_expiry_s.find(static_cast<int>(k) + 1);
      if (ttl != opt.key_expiry_s.end() &&
          now - *key.first_use >= std::chrono::duration<double>(ttl->second)) {
        ++key.after_expiry;
        res.status = 401;
        res.set_content(error_body("Unauthorized", "API key expired", "UNAUTHORIZED"), kJsonType);
        return std::nullopt;
      }
      std::int64_t unset = -1;
      first_call_ms.compare_exchange_strong(unset, now_epoch_ms());
      return k;
    }
    res.status = 401;
    res.set_content(error_body("Unauthorized", "Invalid or missing API key", "UNAUTHORIZED"),
                    kJsonType);
    return std::nullopt;
  }

  std::chrono::duration<double> window() const {
    const bool changed = opt.window_change_after >= 0 && counted_total >= opt.window_change_after;
    return std::chrono::duration<double>(changed ? opt.window_s_after : opt.window_s);
  }

  // Sliding log of arrivals; refused arrivals are logged too, as the real service does.
  RateView arrive(std::uint64_t reqno, std::size_t key) {
    std::lock_guard lock(rate_mu);
    std::deque<SteadyClock::time_point>& log = keys[opt.shared_quota ? 0 : key].log;
    const auto now = SteadyClock::now();
    const auto w = std::chrono::duration_cast<SteadyClock::duration>(window());
    if (opt.fixed_window) {
      if (!log.empty() && log.front() <= now - w) log.clear();
    } else {
      while (!log.empty() && log.front() <= now - w) log.pop_front();
    }
    bool storm = false;
    if (storm_left > 0) {
      --storm_left;
      storm = true;
    } else if (opt.storm_length > 0 &&
               chance(opt.dataset.seed, kTagStorm, reqno, opt.fault_429_storm)) {
      storm_left = opt.storm_length - 1;
      storm = true;
    }
    const int limit = opt.unlimited ? kUnlimitedLimit : opt.limit;
    const bool allowed = !storm && static_cast<std::int64_t>(log.size()) < limit;
    log.push_back(now);
    ++counted_total;
    max_in_window = std::max(max_in_window, log.size());
    keys[key].max_in_window = std::max(keys[key].max_in_window, log.size());
    const auto left = std::chrono::duration<double>(log.front() + w - now).count();
    const int reset = std::max(1, static_cast<int>(std::ceil(left)));
    const int remaining = std::max<std::int64_t>(0, limit - static_cast<std::int64_t>(log.size()));
    return {allowed,   storm,          limit,
            remaining, reset,          static_cast<std::int64_t>(std::ceil(left * 1000.0)),
            now,       now_epoch_ms(), key};
  }

  // httplib writes a response and then calls its logger on the thread that ran the handler:
  // the record waits there for the moment the last byte was written.
  static inline thread_local std::optional<RequestRecord> unanswered;

  void note_counted(const RateView& v, const httplib::Response& res) {
    unanswered = RequestRecord{v.arrived, {}, res.status < 0 ? 200 : res.status};
  }

  void note_answered() {
    if (!unanswered) return;
    unanswered->answered = SteadyClock::now();
    std::lock_guard lock(log_mu);
    if (request_log.size() < kMaxRequestLog) request_log.push_back(*unanswered);
    unanswered.reset();
  }

  void rate_headers(httplib::Response& res, const RateView& v, std::uint64_t reqno) {
    switch (opt.rate_dialect) {
      case RateDialect::none:
      case RateDialect::body_wait:
        return;
      case RateDialect::zero_limit:
        res.set_header("X-RateLimit-Limit", "0");
        res.set_header("X-RateLimit-Remaining", "1000000");
        return;
      case RateDialect::epoch:
      case RateDialect::epoch_floor:
      case RateDialect::epoch_frac:
      case RateDialect::epoch_ms:
      case RateDialect::contract:
        break;
    }
    const std::uint64_t seed = opt.dataset.seed;
    if (chance(seed, kTagMissingHeaders, reqno, opt.fault_missing_rate_headers)) {
      fault(kFaultMissingHeaders);
      note("request %llu: rate headers omitted", static_cast<unsigned long long>(reqno));
      return;
    }
    if (chance(seed, kTagGarbled, reqno, opt.fault_garbled_rate_headers)) {
      static constexpr std::array<const char*, 4> kGarbage = {"abc", "-3", "", "10, 10"};
      const std::uint64_t h = mix(seed, kTagGarbledKind, reqno);
      res.set_header("X-RateLimit-Limit", kGarbage[h % 4]);
      res.set_header("X-RateLimit-Remaining", kGarbage[(h >> 8) % 4]);
      res.set_header("X-RateLimit-Reset", kGarbage[(h >> 16) % 4]);
      fault(kFaultGarbled);
      note("request %llu: garbled rate headers", static_cast<unsigned long long>(reqno));
      return;
    }
    res.set_header("X-RateLimit-Limit", std::to_string(v.limit));
    res.set_header("X-RateLimit-Remaining", std::to_string(v.remaining));
    // The instant the oldest slot frees, by the server's clock; Date is when it answers.
    const std::int64_t frees_ms = v.arrived_epoch_ms + v.reset_ms;
    if (opt.rate_dialect == RateDialect::epoch) {
      res.set_header("X-RateLimit-Reset", std::to_string((frees_ms + 999) / 1000));
      res.set_header("Date", http_date(now_epoch_ms() / 1000));
    } else if (opt.rate_dialect == RateDialect::epoch_floor) {
      res.set_header("X-RateLimit-Reset", std::to_string(frees_ms / 1000));
      res.set_header("Date", http_date(now_epoch_ms() / 1000));
    } else if (opt.rate_dialect == RateDialect::epoch_frac) {
      const std::int64_t at = frees_ms;
      char text[32];
      std::snprintf(text, sizeof text, "%lld.%03lld", static_cast<long long>(at / 1000),
                    static_cast<long long>(at % 1000));
      res.set_header("X-RateLimit-Reset", text);
    } else if (opt.rate_dialect == RateDialect::epoch_ms) {
      res.set_header("X-RateLimit-Reset", std::to_string(frees_ms));
    } else {
      res.set_header("X-RateLimit-Reset", std::to_string(v.reset));
    }
  }

  void set_json(const httplib::Request& req, httplib::Response& res, std::string_view body) {
    if (opt.gzip && accepts_gzip(req)) {
      std::string packed;
      if (gzip_compress(body, packed)) {
        res.set_header("Content-Encoding", "gzip");
        res.set_content(std::move(packed), kJsonType);
        return;
      }
    }
    res.set_content(body.data(), body.size(), kJsonType);
  }

  void refuse(const httplib::Request& req, httplib::Response& res, const RateView& v,
              std::uint64_t reqno) {
    const int retry = v.storm ? 1 : v.reset;
    res.status = 429;
    const bool headers =
        opt.rate_dialect != RateDialect::none && opt.rate_dialect != RateDialect::body_wait;
    if (headers) res.set_header("Retry-After", std::to_string(retry));
    if (headers && !opt.fault_retry_after_only) rate_headers(res, v, reqno);
    std::string body;
    if (opt.rate_dialect == RateDialect::body_wait) {
      body = "{\"error\":\"Too Many Requests\",\"retryAfter\":";
      append_int(body, retry);
      body += "}";
    } else {
      body = "{\"error\":\"Too Many Requests\",\"message\":\"Rate limit exceeded. Try again in ";
      append_int(body, retry);
      body += " seconds.\",\"code\":\"RATE_LIMIT_EXCEEDED\",\"rateLimit\":{\"limit\":";
      append_int(body, v.limit);
      body += ",\"remaining\":";
      append_int(body, v.remaining);
      body += ",\"reset\":";
      append_int(body, v.reset);
      body += ",\"retryAfter\":";
      append_int(body, retry);
      body += "}}";
    }
    set_json(req, res, body);
    if (v.storm) {
      fault(kFaultStorm);
      note("request %llu: 429 storm", static_cast<unsigned long long>(reqno));
    } else {
      rate_limited.fetch_add(1);
      std::lock_guard lock(rate_mu);
      ++keys[v.key].rate_limited;
    }
  }

  bool serve_cached(const httplib::Request& req, httplib::Response& res) {
    std::shared_ptr<const std::string> body;
    std::string request_id, etag;
    {
      std::lock_guard lock(cache_mu);
      const auto now = SteadyClock::now();
      std::erase_if(cache, [&](const CacheEntry& e) { return now - e.at >= kCacheTtl; });
      const auto it = std::find_if(cache.begin(), cache.end(),
                                   [&](const CacheEntry& e) { return e.target == req.target; });
      if (it == cache.end()) return false;
      body = it->body;
      request_id = it->request_id;
      etag = it->etag;
    }
    cache_hits.fetch_add(1);
    res.set_header("X-Request-ID", request_id);
    res.set_header("X-Cache", "HIT");
    res.set_header("X-Cache-TTL", "30");
    res.set_header("ETag", etag);
    set_json(req, res, *body);
    bytes_served.fetch_add(res.body.size());
    return true;
  }

  void remember(const std::string& target, std::string_view body, const std::string& request_id,
                const std::string& etag) {
    std::lock_guard lock(cache_mu);
    if (cache.size() >= kCacheEntries) cache.pop_front();
    cache.push_back(
        {target, SteadyClock::now(), std::make_shared<const std::string>(body), request_id, etag});
  }

  void bad_request(httplib::Response& res, std::string_view message, std::string_view code) {
    res.status = 400;
    res.set_content(error_body("Bad Request", message, code), kJsonType);
  }

  // Position of the first event after the cursor's, or an error already written to res.
  // In live mode the position is left in `live_after` instead.
  std::optional<std::uint64_t> cursor_start(const std::string& cursor, std::size_t key,
                                            httplib::Response& res,
                                            std::optional<OrderKey>& live_after) {
    thread_local simdjson::dom::parser parser;
    const auto decoded = base64_decode(cursor);
    std::string_view id;
    std::int64_t exp = 0;
    simdjson::dom::element root;
    if (!decoded || parser.parse(*decoded).get(root) != simdjson::SUCCESS ||
        root["id"].get(id) != simdjson::SUCCESS) {
      bad_request(res, "Invalid cursor", "CURSOR_INVALID");
      return std::nullopt;
    }
    double exp_double = 0;
    if (root["exp"].get(exp) != simdjson::SUCCESS) {
      if (root["exp"].get(exp_double) != simdjson::SUCCESS) {
        bad_request(res, "Invalid cursor", "CURSOR_INVALID");
        return std::nullopt;
      }
      exp = static_cast<std::int64_t>(exp_double);
    }
    const std::int64_t now = now_epoch_ms();
    if (now > exp && opt.expired_as_gone) {
      res.status = 410;
      res.set_content(R"({"error":"CursorExpired"})", kJsonType);
      return std::nullopt;
    }
    if (now > exp) {
      const std::int64_t minutes = (now - exp + 59'999) / 60'000;
      bad_request(res, "Cursor expired " + std::to_string(minutes) + " minute(s) ago",
                  "CURSOR_EXPIRED");
      return std::nullopt;
    }
    std::int64_t owner = -1;
    if (opt.cursor_per_key &&
        (root["k"].get(owner) != simdjson::SUCCESS || owner != static_cast<std::int64_t>(key))) {
      bad_request(res, "Invalid cursor", "CURSOR_INVALID");
      return std::nullopt;
    }
    if (live_mode()) {
      // A keyset position: valid for as long as its event exists, whatever arrived since.
      live_after = feed.key_of(id, SteadyClock::now());
      if (!live_after) {
        bad_request(res, "Invalid cursor", "CURSOR_INVALID");
        return std::nullopt;
      }
      return 0;
    }
    const auto index = ds.index_of(id);
    if (!index) {
      bad_request(res, "Invalid cursor", "CURSOR_INVALID");
      return std::nullopt;
    }
    return *index + 1;
  }

  // Logs a counted request's answer when its handler returns, whichever way it returns.
  struct LogCountedAnswer {
    State& state;
    const RateView& rate;
    const httplib::Response& res;
    ~LogCountedAnswer() { state.note_counted(rate, res); }
  };

  // The service time of a page of `events`; false when the server stops meanwhile.
  bool page_latency(std::uint64_t events) {
    const double latency_ms = static_cast<double>(events) * opt.latency_ms_per_event;
    return latency_ms <= 0 ||
           sleep_for(std::chrono::microseconds(static_cast<std::int64_t>(latency_ms * 1000.0)));
  }

  void handle_events(const httplib::Request& req, httplib::Response& res) {
    requests.fetch_add(1);
    const auto key = authorized(req, res);
    if (!key) return;

    int limit = kDefaultLimit;
    if (req.has_param("limit")) {
      const std::string text = req.get_param_value("limit");
      long long value = 0;
      const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
      if (text.empty() || ec == std::errc::invalid_argument || ptr != text.data() + text.size() ||
          value < 1) {
        bad_request(res, "limit must be a positive integer", "INVALID_LIMIT");
        return;
      }
      // Out-of-range digit strings are simply huge: clamp them like any other large value.
      limit = ec == std::errc::result_out_of_range
                  ? kMaxLimit
                  : static_cast<int>(std::min<long long>(value, kMaxLimit));
    }
    std::uint64_t start = 0;
    std::optional<OrderKey> live_after;
    if (req.has_param("cursor")) {
      const auto s = cursor_start(req.get_param_value("cursor"), *key, res, live_after);
      if (!s) return;
      start = *s;
    }
    // A live head changes from one request to the next: the feed is never answered from cache.
    if (opt.cache && !live_mode() && serve_cached(req, res)) return;

    const std::uint64_t reqno = request_seq.fetch_add(1);
    const std::uint64_t seed = opt.dataset.seed;
    const bool fail = chance(seed, kTag5xx, reqno, opt.fault_5xx);
    const auto fail_kind = mix(seed, kTag5xxKind, reqno) % 4;
    if (fail && fail_kind >= 2) {
      // A load-balancer page: never reaches the service, so no budget and no rate headers.
      const int status = fail_kind == 2 ? 502 : 504;
      const char* title = status == 502 ? "502 Bad Gateway" : "504 Gateway Time-out";
      res.status = status;
      res.set_content(std::string("<html><head><title>") + title +
                          "</title></head><body><center><h1>" + title +
                          "</h1></center><hr><center>nginx</center></body></html>\n",
                      "text/html");
      fault(kFault5xx);
      note("request %llu: HTML %d", static_cast<unsigned long long>(reqno), status);
      return;
    }

    const RateView rate = arrive(reqno, *key);
    const LogCountedAnswer log_on_exit{*this, rate, res};
    if (!rate.allowed) {
      refuse(req, res, rate, reqno);
      return;
    }
    if (fail) {
      res.status = fail_kind == 0 ? 500 : 503;
      rate_headers(res, rate, reqno);
      set_json(req, res,
               fail_kind == 0 ? error_body("Internal Server Error", "An unexpected error occurred",
                                           "INTERNAL_ERROR")
                              : error_body("Service Unavailable", "Service temporarily unavailable",
                                           "SERVICE_UNAVAILABLE"));
      fault(kFault5xx);
      note("request %llu: JSON %d", static_cast<unsigned long long>(reqno), res.status);
      return;
    }

    LiveFeed::Page live_page;
    std::uint64_t n = ds.size(), first = 0, end = 0;
    if (live_mode()) {
      live_page = feed.page(live_after, static_cast<std::size_t>(limit), SteadyClock::now());
      n = live_page.total;
      end = live_page.count;
    } else {
      const std::uint64_t begin = std::min(start, n);
      end = std::min<std::uint64_t>(n, begin + static_cast<std::uint64_t>(limit));
      first = begin;
      if (begin > 0 && chance(seed, kTagRepeat, reqno, opt.fault_repeat)) {
        first = begin - std::min<std::uint64_t>(begin, 1 + mix(seed, kTagRepeatCount, reqno) % 5);
        fault(kFaultRepeat);
        note("request %llu: page repeats %llu events", static_cast<unsigned long long>(reqno),
             static_cast<unsigned long long>(begin - first));
      }
    }

    if (!page_latency(end - first)) return;
    if (chance(seed, kTagSlow, reqno, opt.fault_slow)) {
      fault(kFaultSlow);
      note("request %llu: slow by %d ms", static_cast<unsigned long long>(reqno),
           opt.fault_slow_ms);
      if (!sleep_for(std::chrono::milliseconds(opt.fault_slow_ms))) return;
    }

    const std::string request_id = next_request_id();
    thread_local std::string body;
    body.clear();
    body += "{\"data\":[";
    if (live_mode()) {
      body += live_page.events;
    } else {
      for (std::uint64_t i = first; i < end; ++i) {
        if (i != first) body.push_back(',');
        ds.append_event(i, body);
      }
    }
    std::string next_cursor;
    const std::int64_t ttl_ms = static_cast<std::int64_t>(opt.cursor_ttl_s * 1000.0);
    const auto make_cursor = [&](const std::string& id, std::int64_t ts_ms) {
      std::string cursor = "{\"id\":\"";
      cursor += id;
      cursor += "\",\"ts\":";
      append_int(cursor, ts_ms);
      cursor += ",\"v\":2,\"exp\":";
      append_int(cursor, now_epoch_ms() + ttl_ms);
      if (opt.cursor_per_key) {
        cursor += ",\"k\":";
        append_uint(cursor, *key);
      }
      cursor.push_back('}');
      return base64_encode(cursor);
    };
    if (live_mode()) {
      if (live_page.last)
        next_cursor = make_cursor(live_page.last->id, live_page.last->ts_us / 1000);
    } else if (end < n) {
      next_cursor = make_cursor(ds.id(end - 1), ds.ts_us(end - 1) / 1000);
    }
    if (opt.foreign_envelope) {
      body += next_cursor.empty() ? "],\"hasMore\":false,\"nextCursor\":null}"
                                  : "],\"hasMore\":true,\"nextCursor\":\"" + next_cursor + "\"}";
    } else {
      body += "],\"pagination\":{\"limit\":";
      append_int(body, limit);
      if (!next_cursor.empty()) {
        body += ",\"hasMore\":true,\"nextCursor\":\"";
        body += next_cursor;
        body += "\",\"cursorExpiresIn\":";
        append_int(body, std::max<std::int64_t>(0, (ttl_ms - 1) / 1000));
      } else {
        body += ",\"hasMore\":false,\"nextCursor\":null,\"cursorExpiresIn\":null";
      }
      body += "},\"meta\":{\"total\":";
      append_uint(body, n);
      body += ",\"returned\":";
      append_uint(body, end - first);
      body += ",\"requestId\":\"";
      body += request_id;
      body += "\"}}";
    }

    char etag[40];
    std::snprintf(etag, sizeof etag, "W/\"%016llx\"",
                  static_cast<unsigned long long>(mix(seed, first * 131 + end, n)));
    res.set_header("X-Request-ID", request_id);
    res.set_header("X-Cache", "MISS");
    res.set_header("X-Cache-TTL", "30");
    res.set_header("ETag", etag);
    rate_headers(res, rate, reqno);
    pages_served.fetch_add(1);
    events_served.fetch_add(end - first);

    if (chance(seed, kTagDrop, reqno, opt.fault_drop)) {
      fault(kFaultDrop);
      note("request %llu: connection dropped mid-body", static_cast<unsigned long long>(reqno));
      auto shared = std::make_shared<const std::string>(body);
      bytes_served.fetch_add(shared->size() / 2);
      res.set_content_provider(shared->size(), kJsonType,
                               [shared](std::size_t offset, std::size_t, httplib::DataSink& sink) {
                                 const std::size_t half = shared->size() / 2;
                                 if (offset >= half) return false;
                                 return sink.write(shared->data() + offset, half - offset);
                               });
      return;
    }
    if (chance(seed, kTagTruncate, reqno, opt.fault_truncate)) {
      fault(kFaultTruncate);
      note("request %llu: truncated body", static_cast<unsigned long long>(reqno));
      set_json(req, res, std::string_view(body).substr(0, body.size() * 2 / 3));
      bytes_served.fetch_add(res.body.size());
      return;
    }
    set_json(req, res, body);
    bytes_served.fetch_add(res.body.size());
    if (opt.cache) remember(req.target, body, request_id, etag);
  }

  void handle_submit(const httplib::Request& req, httplib::Response& res,
                     const httplib::ContentReader& reader) {
    requests.fetch_add(1);
    const auto key = authorized(req, res);
    if (!key) return;
    int number = 0;
    {
      std::lock_guard lock(sub_mu);
      if (attempts[*key] >= opt.submission_cap) {
        res.status = 429;
        res.set_content(
            error_body("Too Many Requests", "Submission limit reached", "SUBMISSION_LIMIT_REACHED"),
            kJsonType);
        return;
      }
      number = ++attempts[*key];
    }

    if (opt.submit_hold_ms > 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(opt.submit_hold_ms));
    }
    IdTally tally(ds);
    JsonIdsReader json(tally);
    const bool is_json =
        req.get_header_value("Content-Type").find("application/json") != std::string::npos;
    std::uint64_t bytes = 0;
    const bool complete = reader([&](const char* data, std::size_t len) {
      bytes += len;
      if (is_json) {
        json.feed({data, len});
      } else {
        for (std::size_t k = 0; k < len; ++k) tally.put(data[k]);
      }
      return true;
    });
    // A body that ended before its declared end (the client died mid-upload) is no submission:
    // the attempt counts, nothing is accepted.
    if (!complete) {
      note("submission %d: the upload ended before its body did", number);
      broken_uploads.fetch_add(1);
      return;
    }
    if (!is_json) tally.end_line();
    if (bytes == 0) {
      {
        std::lock_guard lock(sub_mu);
        --attempts[*key];
      }
      bad_request(res, "Submission body is empty", "EMPTY_SUBMISSION");
      return;
    }

    std::string repo = req.get_param_value("github_repo");
    if (repo.empty()) repo = json.repo_url();
    const std::uint64_t missing = ds.expected_count() - tally.unique;
    const std::int64_t now = now_epoch_ms();
    std::string submitted_at;
    append_iso_ms(now, submitted_at);
    char sid[36];
    write_random_uuid(opt.dataset.seed, kTagSubmissionId, static_cast<std::uint64_t>(number), sid);
    SubmissionRecord rec{number,         200,          std::string(sid, 36), submitted_at,
                         tally.received, tally.unique, tally.duplicates,     missing,
                         tally.unknown};
    const bool failing = chance(opt.dataset.seed, kTagSubmit5xx, static_cast<std::uint64_t>(number),
                                opt.fault_submit_5xx);
    // An accepted submission is on record before its answer leaves: a client that dies while
    // waiting for the answer finds it in GET /api/v1/submissions.
    if (!failing) {
      std::lock_guard lock(sub_mu);
      submissions.push_back(rec);
    }
    if (opt.submit_delay_ms > 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(opt.submit_delay_ms));
    }
    if (failing) {
      rec.status = 503;
      note("submission %d: 503 after reading the body", number);
      res.status = 503;
      res.set_content(
          error_body("Service Unavailable", "Submission service temporarily unavailable",
                     "SERVICE_UNAVAILABLE"),
          kJsonType);
      std::lock_guard lock(sub_mu);
      submissions.push_back(std::move(rec));
      return;
    }

    const std::int64_t since = first_call_ms.load();
    const std::int64_t elapsed = since < 0 ? 0 : std::max<std::int64_t>(0, now - since);
    const int remaining = std::max(0, opt.submission_cap - number);
    std::string body = "{\"success\":true,\"data\":{\"submissionId\":\"";
    body.append(sid, 36);
    body += "\",\"eventCount\":";
    append_uint(body, tally.received);
    body += ",\"githubRepoUrl\":";
    append_json_string(body, repo);
    body += ",\"submittedAt\":\"" + submitted_at + "\",\"timeToSubmit\":{\"ms\":";
    append_int(body, elapsed);
    body += ",\"seconds\":";
    append_int(body, (elapsed + 500) / 1000);
    char minutes[32];
    std::snprintf(minutes, sizeof minutes, "%.1f", static_cast<double>(elapsed) / 60000.0);
    body += ",\"minutes\":";
    body += minutes;
    body += ",\"formatted\":\"";
    append_int(body, elapsed / 60000);
    body += "m ";
    append_int(body, (elapsed % 60000 + 500) / 1000);
    body += "s\"},\"submissionNumber\":";
    append_int(body, number);
    body += ",\"remainingSubmissions\":";
    append_int(body, remaining);
    body += "},\"message\":\"Submission #" + std::to_string(number) + " received with " +
            with_thousands(tally.received) + " event IDs. " + std::to_string(remaining) +
            " submissions remaining.\",\"verdict\":{\"expected\":";
    append_uint(body, ds.expected_count());
    body += ",\"received\":";
    append_uint(body, tally.received);
    body += ",\"unique\":";
    append_uint(body, tally.unique);
    body += ",\"duplicates\":";
    append_uint(body, tally.duplicates);
    body += ",\"missing\":";
    append_uint(body, missing);
    body += ",\"unknown\":";
    append_uint(body, tally.unknown);
    body += "}}";
    res.set_content(body, kJsonType);
  }

  void handle_list_submissions(const httplib::Request& req, httplib::Response& res) {
    requests.fetch_add(1);
    const auto key = authorized(req, res);
    if (!key) return;
    std::string body = "{\"data\":[";
    std::lock_guard lock(sub_mu);
    for (const auto& s : submissions) {
      if (body.back() != '[') body.push_back(',');
      body += "{\"submissionNumber\":";
      append_int(body, s.number);
      body += ",\"submissionId\":\"" + s.submission_id + "\",\"status\":";
      append_int(body, s.status);
      body += ",\"eventCount\":";
      append_uint(body, s.received);
      body += ",\"submittedAt\":\"" + s.submitted_at + "\"}";
    }
    body += "],\"meta\":{\"total\":";
    append_uint(body, submissions.size());
    body += ",\"remaining\":";
    append_int(body, std::max(0, opt.submission_cap - attempts[*key]));
    body += "}}";
    res.set_content(body, kJsonType);
  }

  void handle_stats(httplib::Response& res) {
    std::string body = "{\"requests\":";
    append_uint(body, requests.load());
    body += ",\"pages_served\":";
    append_uint(body, pages_served.load());
    body += ",\"events_served\":";
    append_uint(body, events_served.load());
    body += ",\"bytes_served\":";
    append_uint(body, bytes_served.load());
    body += ",\"status_counts\":{";
    {
      std::lock_guard lock(status_mu);
      bool comma = false;
      for (const auto& [status, count] : status_counts) {
        if (comma) body.push_back(',');
        comma = true;
        body.push_back('"');
        append_int(body, status);
        body += "\":";
        append_uint(body, count);
      }
    }
    body += "},\"rate_limited\":";
    append_uint(body, rate_limited.load());
    body += ",\"live_events\":";
    append_uint(body, feed.live_count(SteadyClock::now()));
    body += ",\"live_started_unix_ms\":";
    append_int(body, feed.started_unix_ms());
    body += ",\"faults\":{";
    for (std::size_t k = 0; k < kFaultKinds; ++k) {
      if (k > 0) body.push_back(',');
      body += "\"";
      body += kFaultNames[k];
      body += "\":";
      append_uint(body, faults[k].load());
    }
    body += "},\"cache_hits\":";
    append_uint(body, cache_hits.load());
    body += ",\"max_in_window\":";
    {
      std::lock_guard lock(rate_mu);
      append_uint(body, max_in_window);
      // Per key, in the order of the accepted list.
      body += ",\"keys\":[";
      for (const KeyState& k : keys) {
        if (body.back() != '[') body.push_back(',');
        body += "{\"requests\":";
        append_uint(body, k.requests);
        body += ",\"rate_limited\":";
        append_uint(body, k.rate_limited);
        body += ",\"after_expiry\":";
        append_uint(body, k.after_expiry);
        body += ",\"max_in_window\":";
        append_uint(body, k.max_in_window);
        body += "}";
      }
      body += "]";
    }
    // [arrived_ms, answered_ms, status] per counted request, ms since the simulator started.
    body += ",\"request_log\":[";
    {
      std::lock_guard lock(log_mu);
      char entry[80];
      for (const RequestRecord& r : request_log) {
        if (body.back() != '[') body.push_back(',');
        const auto ms = [this](SteadyClock::time_point t) {
          return std::chrono::duration<double, std::milli>(t - started).count();
        };
        std::snprintf(entry, sizeof entry, "[%.3f,%.3f,%d]", ms(r.arrived), ms(r.answered),
                      r.status);
        body += entry;
      }
    }
    body += "]";
    {
      std::lock_guard lock(sub_mu);
      body += ",\"submission_attempts\":";
      append_int(body, std::accumulate(attempts.begin(), attempts.end(), 0));
      body += ",\"broken_uploads\":";
      append_uint(body, broken_uploads.load());
      body += ",\"submissions\":[";
      for (const auto& s : submissions) {
        if (body.back() != '[') body.push_back(',');
        body += "{\"number\":";
        append_int(body, s.number);
        body += ",\"status\":";
        append_int(body, s.status);
        body += ",\"received\":";
        append_uint(body, s.received);
        body += ",\"unique\":";
        append_uint(body, s.unique);
        body += ",\"duplicates\":";
        append_uint(body, s.duplicates);
        body += ",\"missing\":";
        append_uint(body, s.missing);
        body += ",\"unknown\":";
        append_uint(body, s.unknown);
        body += "}";
      }
    }
    body += "]}";
    res.set_content(body, kJsonType);
  }

  void handle_event(const httplib::Request& req, httplib::Response& res) {
    std::uint64_t i = 0;
    const std::string text = req.matches[1];
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), i);
    if (ec != std::errc{} || i >= ds.size()) {
      res.status = 404;
      res.set_content(error_body("Not Found", "No such event", "NOT_FOUND"), kJsonType);
      return;
    }
    const Malformed bad = ds.malformed(i);
    std::string body = "{\"index\":";
    append_uint(body, i);
    body += ",\"id\":";
    if (bad == Malformed::kIdMissing || bad == Malformed::kIdNotUuid) {
      body += "null";
    } else {
      body += "\"" + ds.id(i) + "\"";
    }
    body += ",\"ts_us\":";
    const bool no_ts = bad == Malformed::kTsGarbage || bad == Malformed::kTsImpossible ||
                       bad == Malformed::kTsBool || bad == Malformed::kTsNull ||
                       bad == Malformed::kTsMissing;
    if (no_ts) {
      body += "null";
    } else {
      append_int(body, ds.ts_us(i));
    }
    body +=
        ds.storable(i) ? ",\"expect\":\"store\",\"json\":" : ",\"expect\":\"quarantine\",\"json\":";
    ds.append_event(i, body);
    body.push_back('}');
    res.set_content(body, kJsonType);
  }

  // Ends the live feed and says how many events exist from now on.
  void handle_feed_stop(httplib::Response& res) {
    const std::uint64_t total = feed.stop(SteadyClock::now());
    std::string body = "{\"total\":";
    append_uint(body, total);
    body += ",\"live\":";
    append_uint(body, total - ds.size());
    body += "}";
    res.set_content(body, kJsonType);
  }

  // The contract's rate headers under the dialect's prefix; a refusal as the dialect says it.
  void dialect_rate_headers(httplib::Response& res, const DialectSpec& spec) {
    std::vector<std::pair<std::string, std::string>> moved;
    for (auto it = res.headers.begin(); it != res.headers.end();) {
      if (it->first.starts_with("X-RateLimit-")) {
        moved.emplace_back(std::string(spec.rate_prefix) + it->first.substr(12), it->second);
        it = res.headers.erase(it);
      } else {
        ++it;
      }
    }
    for (const auto& [name, value] : moved) res.set_header(name, value);
    if (res.status == 429 && spec.refusal_403) res.status = 403;
  }

  void handle_dialect(const httplib::Request& req, httplib::Response& res) {
    requests.fetch_add(1);
    const DialectSpec& spec = dialect_spec(opt.dialect);
    const auto key = authorized(req, res);
    if (!key) return;
    std::uint64_t limit = 10;
    if (req.has_param(std::string(spec.limit_param))) {
      const std::string text = req.get_param_value(std::string(spec.limit_param));
      std::uint64_t value = 0;
      const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
      if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() || value < 1) {
        bad_request(res, "limit must be a positive integer", "INVALID_LIMIT");
        return;
      }
      if (value > static_cast<std::uint64_t>(spec.page_cap) && spec.cap_refused) {
        bad_request(res, "limit must be at most " + std::to_string(spec.page_cap), "INVALID_LIMIT");
        return;
      }
      limit = std::min<std::uint64_t>(value, static_cast<std::uint64_t>(spec.page_cap));
    }
    DialectQuery q;
    const auto param = [&](const char* name) {
      return req.has_param(name) ? std::optional<std::string>(req.get_param_value(name))
                                 : std::nullopt;
    };
    q.after = param("after");
    q.starting_after = param("starting_after");
    q.page_token = param("page_token");
    q.page = param("page");
    q.offset = param("offset");
    const auto start = dialect_start(opt.dialect, q, limit);
    if (!start) {
      bad_request(res, "Invalid cursor", "CURSOR_INVALID");
      return;
    }
    const std::uint64_t reqno = request_seq.fetch_add(1);
    const RateView rate = arrive(reqno, *key);
    const LogCountedAnswer log_on_exit{*this, rate, res};
    if (!rate.allowed) {
      refuse(req, res, rate, reqno);
      dialect_rate_headers(res, spec);
      return;
    }
    const std::uint64_t n = ds.size();
    std::uint64_t first = std::min(*start, n);
    std::uint64_t end = std::min(n, first + limit);
    std::optional<std::uint64_t> next;
    if (end < n) next = end;
    if (opt.stuck_from >= 0 && first >= static_cast<std::uint64_t>(opt.stuck_from) && next) {
      fault(kFaultRepeat);
      if (opt.dialect == Dialect::stripe) {
        // The position is the last record: serve the page that ends where this one starts.
        end = first;
        first = end - std::min(end, limit);
      } else {
        next = first;
      }
    }
    if (!page_latency(end - first)) return;
    const std::string origin = "http://" + req.get_header_value("Host");
    const DialectPage page =
        render_dialect_page(opt.dialect, ds, first, end, n, next, limit, origin);
    if (!page.link.empty()) res.set_header("Link", page.link);
    rate_headers(res, rate, reqno);
    dialect_rate_headers(res, spec);
    pages_served.fetch_add(1);
    events_served.fetch_add(end - first);
    set_json(req, res, page.body);
  }

  void handle_expected(httplib::Response& res) {
    if (opt.dialect != Dialect::contract) {
      std::string all;
      for (std::uint64_t i = 0; i < ds.size(); ++i) {
        all += dialect_id(opt.dialect, ds, i);
        all += '\t';
        append_int(all, dialect_ts_us(ds, i));
        all += "\tstore\tms\t";
        all += ds.user_id(i).value_or("-");
        all += '\t';
        all += ds.type(i).value_or("-");
        all += '\n';
      }
      res.set_content(all, "text/tab-separated-values");
      return;
    }
    if (live_mode()) {
      // The dataset's lines, then the live events that exist at this instant.
      std::string all;
      for (std::uint64_t i = 0; i < ds.size(); ++i) ds.append_expected_line(i, all);
      feed.append_expected(all, SteadyClock::now());
      res.set_content(all, "text/tab-separated-values");
      return;
    }
    auto next = std::make_shared<std::uint64_t>(0);
    res.set_chunked_content_provider(
        "text/tab-separated-values", [this, next](std::size_t, httplib::DataSink& sink) {
          std::string chunk;
          const std::uint64_t stop = std::min(ds.size(), *next + kExpectedLinesPerChunk);
          for (; *next < stop; ++*next) ds.append_expected_line(*next, chunk);
          if (!chunk.empty() && !sink.write(chunk.data(), chunk.size())) return false;
          if (*next >= ds.size()) sink.done();
          return true;
        });
  }

  void routes() {
    http.Get("/api/v1/events", [this](const httplib::Request& req, httplib::Response& res) {
      handle_events(req, res);
    });
    if (opt.dialect != Dialect::contract) {
      http.Get(std::string(dialect_spec(opt.dialect).path),
               [this](const httplib::Request& req, httplib::Response& res) {
                 handle_dialect(req, res);
               });
    }
    http.Post("/api/v1/submissions",
              [this](const httplib::Request& req, httplib::Response& res,
                     const httplib::ContentReader& reader) { handle_submit(req, res, reader); });
    http.Get("/api/v1/submissions", [this](const httplib::Request& req, httplib::Response& res) {
      handle_list_submissions(req, res);
    });
    http.Get("/internal/health", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("{\"status\":\"ok\"}", kJsonType);
    });
    http.Get("/internal/stats",
             [this](const httplib::Request&, httplib::Response& res) { handle_stats(res); });
    http.Post("/internal/feed/stop",
              [this](const httplib::Request&, httplib::Response& res) { handle_feed_stop(res); });
    http.Get("/internal/expected",
             [this](const httplib::Request&, httplib::Response& res) { handle_expected(res); });
    http.Get(
        R"(/internal/event/(\d+))",
        [this](const httplib::Request& req, httplib::Response& res) { handle_event(req, res); });
    http.set_logger([this](const httplib::Request&, const httplib::Response& res) {
      note_answered();
      std::lock_guard lock(status_mu);
      ++status_counts[res.status];
    });
    // Clients keep one connection for a whole run; httplib's default closes it every 5 requests.
    http.set_keep_alive_max_count(100000);
    if (opt.submit_hold_ms > 0) {
      // A held upload must stay unfinished: an autotuned receive buffer (up to tcp_rmem's
      // maximum, 32 MiB on some kernels) could take a whole body while the handler waits.
      // Accepted sockets inherit the listening socket's size.
      http.set_socket_options([](socket_t sock) {
        httplib::default_socket_options(sock);
        const int size = 64 * 1024;
        setsockopt(sock, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
      });
    }
  }
};

Server::Server(ServerOptions options) : state_(std::make_unique<State>(std::move(options))) {
  state_->routes();
}

Server::~Server() {
  stop();
}

int Server::bind() {
  const int port =
      state_->opt.port == 0
          ? state_->http.bind_to_any_port("127.0.0.1")
          : (state_->http.bind_to_port("127.0.0.1", state_->opt.port) ? state_->opt.port : -1);
  if (port <= 0)
    throw std::runtime_error("cannot bind 127.0.0.1:" + std::to_string(state_->opt.port));
  return port;
}

void Server::run() {
  {
    std::lock_guard lock(state_->stop_mu);
    if (state_->stopping) return;
    state_->in_run = true;
  }
  state_->http.listen_after_bind();
  std::lock_guard lock(state_->stop_mu);
  state_->in_run = false;
}

void Server::stop() {
  {
    std::lock_guard lock(state_->stop_mu);
    state_->stopping = true;
  }
  state_->stop_cv.notify_all();
  // httplib ignores stop() until listen has started, so repeat it until run() has returned.
  for (;;) {
    state_->http.stop();
    {
      std::lock_guard lock(state_->stop_mu);
      if (!state_->in_run) return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

const Dataset& Server::dataset() const {
  return state_->ds;
}

BackgroundServer::BackgroundServer(ServerOptions options)
    : server_(std::move(options)), port_(server_.bind()), thread_([this] { server_.run(); }) {}

BackgroundServer::~BackgroundServer() {
  server_.stop();
  thread_.join();
}

}  // namespace upstream_sim
