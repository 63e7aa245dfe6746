#include "app/config.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <optional>
#include <regex>

#include "common/text.hpp"
#include "ingestd/errors.hpp"

namespace ingestd {

const std::vector<ConfigKey>& config_keys() {
  static const std::vector<ConfigKey> keys = {
      {"UPSTREAM_BASE_URL", "URL", "",
       "scheme://host[:port][/prefix] of the events API; ingestd calls "
       "${UPSTREAM_BASE_URL}/api/v1/events"},
      {"UPSTREAM_API_KEY", "KEY", "", "API key sent as X-API-Key; never logged", true},
      {"UPSTREAM_API_KEYS", "KEY,KEY,...", "",
       "instead of UPSTREAM_API_KEY: up to 16 comma-separated keys, each with a budget of its "
       "own; each request goes on the key whose next slot is earliest; never logged (a key is "
       "named by its position)",
       true},
      {"DATABASE_URL", "URL", "", "libpq connection URI or conninfo string", true},
      {"PAGE_LIMIT", "INT", "5000", "events per request, 1 to 5000 (the upstream's maximum)"},
      {"RATE_LIMIT", "N/DURATION", "",
       "optional ceiling on upstream requests, N/<duration> such as 10/60s or 5/500ms; never "
       "exceeded whatever the server's headers say; empty: the headers decide"},
      {"SUBMISSION_URL", "URL", "",
       "submission endpoint; default ${UPSTREAM_BASE_URL}/api/v1/submissions"},
      {"SUBMISSION_REPO", "URL", "", "value of the github_repo query parameter of the submission"},
      {"SUBMIT_ON_FINISH", "BOOL", "true", "submit the IDs when ingestion completes (true/false)"},
      {"SUBMISSION_MAX_ATTEMPTS", "INT", "5",
       "submission attempts allowed per API key, 1 to 5 (the upstream's cap)"},
      {"FOLLOW_INTERVAL_S", "SECONDS", "0",
       "0: `ingestd run` makes one pass and exits; N: after the first pass it keeps running and "
       "syncs the head every N seconds until SIGTERM/SIGINT (`run --follow` without it: 5)"},
      {"FOLLOW_OVERLAP_S", "SECONDS", "5",
       "a head sync reads this far below the newest event already synced, by timestamp, so "
       "events of the same instant or slightly late are not missed"},
      {"RESCAN_INTERVAL_S", "SECONDS", "",
       "while following, re-read the whole stream at least this often (for upstreams without "
       "meta.total); empty: only when the total says events are missing"},
      {"LOG_LEVEL", "LEVEL", "info", "trace, debug, info, warn or error"},
      {"LOG_FORMAT", "text|json", "text", "text, or json for one JSON object per line"},
      {"METRICS_ADDR", "HOST:PORT", "",
       "host:port for the Prometheus text endpoint; empty disables it"},
      {"STREAM", "NAME", "events",
       "name of the contract's cursor chain in ingest_checkpoint; a SOURCE_PROFILE's stream is "
       "named by the profile"},
      {"SOURCE_PROFILE", "FILE", "",
       "YAML description of another paged JSON API to ingest (docs/PROFILES.md, "
       "config/profiles/); empty: the events API's contract"},
      {"CURSOR_RECOVERY", "reissue|restart", "reissue",
       "on an expired saved cursor: reissue (same position, fresh expiry) or restart (first page)"},
      {"HTTP_TIMEOUT_S", "SECONDS", "120", "total time allowed for one HTTP request, seconds"},
      {"HTTP_CONNECT_TIMEOUT_S", "SECONDS", "10", "TCP/TLS connect timeout, seconds"},
      {"HTTP_GZIP", "BOOL", "true", "ask the upstream for gzip-compressed pages (true/false)"},
      {"RETRY_MAX_ATTEMPTS", "INT", "8",
       "retries of one failing request before giving up (exit 75)"},
      {"DB_CONNECT_TIMEOUT_S", "SECONDS", "60",
       "how long to keep retrying an unreachable database (exit 4)"},
      {"STREAM_LOCK_WAIT_S", "SECONDS", "10",
       "how long to wait for another session's hold on STREAM to end before refusing (exit 75); "
       "a process killed moments ago holds it until PostgreSQL notices"},
      {"QUEUE_PAGES", "INT", "4", "pages buffered between fetcher, decoder and writer, 1 to 64"},
      {"PROGRESS_INTERVAL_S", "SECONDS", "5", "seconds between progress log lines"},
      {"SERVE_ADDR", "HOST:PORT", "",
       "host:port of the read API, push ingest and dashboard; `ingestd serve` uses 127.0.0.1:8080 "
       "when empty, `ingestd run` serves only when it is set"},
      {"SERVE_API_KEY", "KEY", "",
       "when set, every /v1 route requires it as X-API-Key (push ingest needs it); never logged",
       true},
      {"SERVE_RATE_LIMIT", "N/DURATION", "",
       "the read API's own limit per API key or client address, e.g. 100/1s; empty: no limit"},
      {"SERVE_CACHE_MB", "MB", "128",
       "memory for read API answers kept while the database is unchanged; 0 turns it off"},
      {"INGEST_MAX_BODY", "BYTES", "16777216",
       "largest request body the serve address accepts, bytes (1024 to 1073741824)"},
  };
  return keys;
}

std::string flag_for(std::string_view key) {
  std::string flag = "--";
  for (char c : key)
    flag += c == '_' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return flag;
}

namespace {

const ConfigKey* find_key(std::string_view name) {
  const auto& keys = config_keys();
  auto it =
      std::find_if(keys.begin(), keys.end(), [&](const ConfigKey& k) { return k.name == name; });
  return it == keys.end() ? nullptr : &*it;
}

struct Value {
  std::string text;
  std::string origin;
};

class Resolver {
 public:
  explicit Resolver(const std::vector<ConfigLayer>& layers) {
    for (const auto& key : config_keys())
      values_[std::string(key.name)] = {std::string(key.default_value), "default"};
    for (const auto& layer : layers) {
      for (const auto& [name, text] : layer.values) {
        if (!find_key(name)) {
          if (layer.reject_unknown)
            throw ConfigError("config: unknown key " + name + " in " + layer.origin);
          continue;
        }
        values_[name] = {text, layer.origin};
      }
    }
  }

  const std::string& text(std::string_view key) const { return values_.at(std::string(key)).text; }
  bool given(std::string_view key) const {
    return values_.at(std::string(key)).origin != "default";
  }

  [[noreturn]] void fail(std::string_view key, std::string_view requirement) const {
    const Value& v = values_.at(std::string(key));
    const ConfigKey* spec = find_key(key);
    std::string shown = spec && spec->secret ? std::string("<redacted>") : "\"" + v.text + "\"";
    throw ConfigError("config: " + std::string(key) + " " + std::string(requirement) + " (got " +
                      shown + " from " + v.origin + ")");
  }

  long long integer(std::string_view key, long long lo, long long hi) const {
    const std::string& s = text(key);
    long long out = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    if (s.empty() || ec != std::errc() || end != s.data() + s.size() || out < lo || out > hi) {
      fail(key, "must be an integer from " + std::to_string(lo) + " to " + std::to_string(hi));
    }
    return out;
  }

  std::chrono::milliseconds seconds(std::string_view key, double lo, double hi) const {
    const std::string& s = text(key);
    double out = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    if (s.empty() || ec != std::errc() || end != s.data() + s.size() || !(out >= lo && out <= hi)) {
      fail(key, "must be a number of seconds from " + trim_number(lo) + " to " + trim_number(hi));
    }
    return std::chrono::milliseconds(static_cast<long long>(out * 1000.0));
  }

  bool boolean(std::string_view key) const {
    std::string s = text(key);
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
    if (s == "true" || s == "1" || s == "yes" || s == "on") return true;
    if (s == "false" || s == "0" || s == "no" || s == "off") return false;
    fail(key, "must be true or false");
  }

  // Empty: nullopt.
  std::optional<RateCeiling> ceiling(std::string_view key, std::string_view example) const {
    const std::string& s = text(key);
    if (s.empty()) return std::nullopt;
    auto out = parse_rate_ceiling(s);
    if (!out) {
      fail(key, "must be N/<duration> with N >= 1 and a duration in ms, s or m, e.g. " +
                    std::string(example));
    }
    return out;
  }

  std::string choice(std::string_view key, std::initializer_list<std::string_view> allowed) const {
    const std::string& s = text(key);
    for (auto a : allowed) {
      if (s == a) return s;
    }
    std::string list;
    for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
    fail(key, "must be one of " + list);
  }

 private:
  static std::string trim_number(double d) {
    std::string s = std::to_string(d);
    s.erase(s.find_last_not_of('0') + 1);
    if (!s.empty() && s.back() == '.') s.pop_back();
    return s;
  }
  std::map<std::string, Value> values_;
};

bool is_http_url(std::string_view url) {
  static const std::regex re(
      R"(^https?://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.\-_]+)(:[0-9]{1,5})?(/[^\s?#]*)?$)");
  return std::regex_match(url.begin(), url.end(), re);
}

std::string normalise_base_url(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  constexpr std::string_view suffix = "/api/v1";
  if (url.size() >= suffix.size() &&
      url.compare(url.size() - suffix.size(), suffix.size(), suffix) == 0) {
    url.resize(url.size() - suffix.size());
  }
  return url;
}

bool is_database_url(std::string_view url) {
  return url.starts_with("postgresql://") || url.starts_with("postgres://") ||
         url.find('=') != std::string_view::npos;
}

bool is_host_port(std::string_view addr) {
  static const std::regex re(R"(^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.\-_]+):([0-9]{1,5})$)");
  std::match_results<std::string_view::const_iterator> m;
  if (!std::regex_match(addr.begin(), addr.end(), m, re)) return false;
  return std::stoi(m[2].str()) <= 65535;
}

}  // namespace

std::map<std::string, std::string> parse_dotenv(std::string_view text, std::string_view origin) {
  std::map<std::string, std::string> out;
  int line_no = 0;
  while (!text.empty()) {
    ++line_no;
    auto nl = text.find('\n');
    std::string line(trim(text.substr(0, nl)));
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    if (line.empty() || line.front() == '#') continue;
    if (line.starts_with("export ")) line = std::string(trim(std::string_view(line).substr(7)));
    auto eq = line.find('=');
    std::string key(trim(std::string_view(line).substr(0, eq)));
    static const std::regex key_re("^[A-Za-z_][A-Za-z0-9_]*$");
    if (eq == std::string::npos || !std::regex_match(key, key_re)) {
      throw ConfigError("config: " + std::string(origin) + " line " + std::to_string(line_no) +
                        ": expected KEY=VALUE");
    }
    std::string value(trim(std::string_view(line).substr(eq + 1)));
    if (!value.empty() && (value.front() == '"' || value.front() == '\'')) {
      char quote = value.front();
      auto close = value.find(quote, 1);
      if (close == std::string::npos) {
        throw ConfigError("config: " + std::string(origin) + " line " + std::to_string(line_no) +
                          ": unterminated quote in " + key);
      }
      value = value.substr(1, close - 1);
    } else if (auto hash = value.find(" #"); hash != std::string::npos) {
      value = std::string(trim(std::string_view(value).substr(0, hash)));
    }
    out[key] = value;
  }
  return out;
}

namespace {

// UPSTREAM_API_KEY, or the list in UPSTREAM_API_KEYS; never both.
std::vector<std::string> api_keys(const Resolver& r) {
  const std::string& one = r.text("UPSTREAM_API_KEY");
  const std::string& many = r.text("UPSTREAM_API_KEYS");
  if (!one.empty() && !many.empty()) {
    throw ConfigError(
        "config: UPSTREAM_API_KEY and UPSTREAM_API_KEYS are both set; set one of them (a single "
        "key can be the only entry of UPSTREAM_API_KEYS)");
  }
  if (many.empty()) return one.empty() ? std::vector<std::string>{} : std::vector{one};
  std::vector<std::string> keys;
  for (std::size_t at = 0; at <= many.size();) {
    const std::size_t comma = std::min(many.find(',', at), many.size());
    keys.emplace_back(trim(std::string_view(many).substr(at, comma - at)));
    at = comma + 1;
  }
  for (std::size_t k = 0; k < keys.size(); ++k) {
    if (keys[k].empty()) {
      r.fail("UPSTREAM_API_KEYS", "has an empty entry at position " + std::to_string(k + 1));
    }
    for (std::size_t j = 0; j < k; ++j) {
      if (keys[j] == keys[k]) {
        r.fail("UPSTREAM_API_KEYS", "names the same key at positions " + std::to_string(j + 1) +
                                        " and " + std::to_string(k + 1));
      }
    }
  }
  if (keys.size() > 16) r.fail("UPSTREAM_API_KEYS", "may hold at most 16 keys");
  return keys;
}

}  // namespace

Config resolve_config(const std::vector<ConfigLayer>& layers, Command command) {
  Resolver r(layers);
  Config c;
  c.source_profile_path = r.text("SOURCE_PROFILE");
  c.upstream_base_url = r.text("UPSTREAM_BASE_URL");
  if (!c.upstream_base_url.empty()) {
    if (!is_http_url(c.upstream_base_url))
      r.fail("UPSTREAM_BASE_URL", "must be an http:// or https:// URL");
    // A profile's path goes after the base URL as it is; the contract's may name /api/v1.
    if (c.source_profile_path.empty()) {
      c.upstream_base_url = normalise_base_url(c.upstream_base_url);
    } else {
      while (c.upstream_base_url.ends_with('/')) c.upstream_base_url.pop_back();
    }
  }
  c.api_keys = api_keys(r);
  c.database_url = r.text("DATABASE_URL");
  if (!c.database_url.empty() && !is_database_url(c.database_url)) {
    r.fail("DATABASE_URL", "must be a postgresql:// URI or a libpq conninfo string");
  }
  // Other APIs cap their pages elsewhere; the contract's cap is 5000.
  c.page_limit =
      static_cast<int>(r.integer("PAGE_LIMIT", 1, c.source_profile_path.empty() ? 5000 : 100'000));
  c.page_limit_set = r.given("PAGE_LIMIT");
  c.rate_limit = r.ceiling("RATE_LIMIT", "10/60s");
  c.submission_url = r.text("SUBMISSION_URL");
  if (!c.submission_url.empty() && !is_http_url(c.submission_url)) {
    r.fail("SUBMISSION_URL", "must be an http:// or https:// URL");
  }
  if (c.submission_url.empty() && !c.upstream_base_url.empty()) {
    c.submission_url = c.upstream_base_url + "/api/v1/submissions";
  }
  c.submission_repo = r.text("SUBMISSION_REPO");
  c.submit_on_finish = r.boolean("SUBMIT_ON_FINISH");
  c.submission_max_attempts = static_cast<int>(r.integer("SUBMISSION_MAX_ATTEMPTS", 1, 5));
  c.follow_interval = r.seconds("FOLLOW_INTERVAL_S", 0, 86400);
  c.follow_overlap = r.seconds("FOLLOW_OVERLAP_S", 0, 86400);
  if (!r.text("RESCAN_INTERVAL_S").empty()) {
    c.rescan_interval = r.seconds("RESCAN_INTERVAL_S", 1, 30 * 86400);
  }
  c.log_level = r.choice("LOG_LEVEL", {"trace", "debug", "info", "warn", "error"});
  c.log_format = r.choice("LOG_FORMAT", {"text", "json"});
  c.metrics_addr = r.text("METRICS_ADDR");
  if (!c.metrics_addr.empty() && !is_host_port(c.metrics_addr))
    r.fail("METRICS_ADDR", "must be host:port");
  c.stream = r.text("STREAM");
  c.contract_stream = c.stream;
  static const std::regex stream_re("^[A-Za-z0-9_.:-]{1,64}$");
  if (!std::regex_match(c.stream, stream_re))
    r.fail("STREAM", "must be 1 to 64 letters, digits or _.:-");
  c.cursor_recovery = r.choice("CURSOR_RECOVERY", {"reissue", "restart"}) == "reissue"
                          ? CursorRecovery::reissue
                          : CursorRecovery::restart;
  c.http_timeout = r.seconds("HTTP_TIMEOUT_S", 1, 3600);
  c.http_connect_timeout = r.seconds("HTTP_CONNECT_TIMEOUT_S", 0.1, 300);
  c.http_gzip = r.boolean("HTTP_GZIP");
  c.retry_max_attempts = static_cast<int>(r.integer("RETRY_MAX_ATTEMPTS", 0, 1000));
  c.db_connect_timeout = r.seconds("DB_CONNECT_TIMEOUT_S", 0, 86400);
  c.stream_lock_wait = r.seconds("STREAM_LOCK_WAIT_S", 0, 3600);
  c.queue_pages = static_cast<int>(r.integer("QUEUE_PAGES", 1, 64));
  c.progress_interval = r.seconds("PROGRESS_INTERVAL_S", 0.1, 3600);

  c.serve_addr = r.text("SERVE_ADDR");
  if (c.serve_addr.empty() && command == Command::serve) c.serve_addr = kDefaultServeAddr;
  if (!c.serve_addr.empty() && !is_host_port(c.serve_addr))
    r.fail("SERVE_ADDR", "must be host:port");
  c.serve_api_key = r.text("SERVE_API_KEY");
  c.serve_rate_limit = r.ceiling("SERVE_RATE_LIMIT", "100/1s");
  c.serve_cache_bytes = static_cast<std::size_t>(r.integer("SERVE_CACHE_MB", 0, 65536)) << 20;
  c.ingest_max_body = static_cast<std::size_t>(r.integer("INGEST_MAX_BODY", 1024, 1LL << 30));

  if (c.database_url.empty() && command != Command::check_profile) {
    throw ConfigError(
        "config: DATABASE_URL is required (in .env, the environment or --database-url)");
  }
  const bool talks_upstream =
      command == Command::run || command == Command::submit || command == Command::check_profile;
  if (talks_upstream) {
    if (c.upstream_base_url.empty()) {
      throw ConfigError(
          "config: UPSTREAM_BASE_URL is required for this command (in .env, the "
          "environment or --upstream-base-url)");
    }
    if (c.api_keys.empty() && c.source_profile_path.empty()) {
      throw ConfigError(
          "config: UPSTREAM_API_KEY (or UPSTREAM_API_KEYS) is required when UPSTREAM_BASE_URL is "
          "set");
    }
  }
  return c;
}

void apply_profile(Config& c, SourceProfile profile, const std::string& origin, Command command) {
  if (profile.name == kContractStream && profile != contract_profile()) {
    throw ConfigError("profile " + origin + ": the name " + std::string(kContractStream) +
                      " is the events API's contract (config/profiles/datasync.yaml); a profile "
                      "that differs from it needs a name of its own");
  }
  const bool contract = profile == contract_profile();
  if (!contract) {
    c.stream = profile.name;
    c.submission_url = profile.submission_path && !c.upstream_base_url.empty()
                           ? c.upstream_base_url + *profile.submission_path
                           : "";
    if (!profile.submission_path) c.submit_on_finish = false;
    if (c.follow_interval.count() > 0) {
      throw ConfigError(
          "config: FOLLOW_INTERVAL_S follows the events API's contract only; "
          "profile " +
          origin + " is paged once per run");
    }
  }
  const bool talks_upstream =
      command == Command::run || command == Command::submit || command == Command::check_profile;
  if (c.api_keys.empty() && talks_upstream) {
    if (profile.auth != AuthType::none) {
      throw ConfigError("config: UPSTREAM_API_KEY (or UPSTREAM_API_KEYS) is required: profile " +
                        origin + " sends a key (auth)");
    }
    c.api_keys.emplace_back();  // one budget; no key is sent
  }
  c.profile = std::move(profile);
}

std::optional<RateCeiling> parse_rate_ceiling(std::string_view text) {
  static const std::regex re(
      R"(^\s*([0-9]{1,9})\s*/\s*([0-9]{1,9}(\.[0-9]{1,3})?)\s*(ms|s|m)\s*$)");
  std::match_results<std::string_view::const_iterator> m;
  if (!std::regex_match(text.begin(), text.end(), m, re)) return std::nullopt;
  const long long limit = std::stoll(m[1].str());
  const double amount = std::stod(m[2].str());
  const double unit_ms = m[4] == "ms" ? 1.0 : m[4] == "s" ? 1000.0 : 60'000.0;
  const auto window = std::chrono::milliseconds(static_cast<long long>(amount * unit_ms));
  if (limit < 1 || window < std::chrono::milliseconds(1) || window > std::chrono::hours(24)) {
    return std::nullopt;
  }
  return RateCeiling{limit, window};
}

}  // namespace ingestd
