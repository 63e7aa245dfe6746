#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ingestd/rate_state.hpp"
#include "ingestd/source_profile.hpp"
#include "upstream/source_options.hpp"

namespace ingestd {

enum class Command { run, migrate, submit, status, serve, check_profile };

inline constexpr std::string_view kDefaultServeAddr = "127.0.0.1:8080";

struct Config {
  std::string upstream_base_url;      // normalised: no trailing slash, no trailing /api/v1
  std::vector<std::string> api_keys;  // UPSTREAM_API_KEY or UPSTREAM_API_KEYS, in order
  std::string database_url;
  int page_limit = 5000;
  bool page_limit_set = false;      // PAGE_LIMIT was given: it replaces the profile's page size
  std::string source_profile_path;  // SOURCE_PROFILE; empty: the contract
  SourceProfile profile;            // what the source pages (apply_profile)
  std::string submission_url;       // defaults to ${UPSTREAM_BASE_URL}/api/v1/submissions
  std::string submission_repo;
  bool submit_on_finish = true;
  int submission_max_attempts = 5;
  std::chrono::milliseconds follow_interval{0};  // 0: one pass
  std::chrono::milliseconds follow_overlap{5'000};
  std::optional<std::chrono::milliseconds> rescan_interval;
  std::string log_level = "info";
  std::string log_format = "text";
  std::string metrics_addr;                // host:port; empty disables the endpoint
  std::string stream = "events";           // the stream run: STREAM, or a profile's name
  std::string contract_stream = "events";  // STREAM: the contract's stream, whatever is run
  CursorRecovery cursor_recovery = CursorRecovery::reissue;
  std::chrono::milliseconds http_timeout{120'000};
  std::chrono::milliseconds http_connect_timeout{10'000};
  bool http_gzip = true;
  int retry_max_attempts = 8;
  std::chrono::milliseconds db_connect_timeout{60'000};
  std::chrono::milliseconds stream_lock_wait{10'000};
  int queue_pages = 4;
  std::chrono::milliseconds progress_interval{5'000};
  std::optional<RateCeiling> rate_limit;  // RATE_LIMIT; unset: the server's headers decide
  std::string serve_addr;     // host:port of the read API; `serve` defaults it, `run` serves if set
  std::string serve_api_key;  // required as X-API-Key on /v1 when set
  std::optional<RateCeiling> serve_rate_limit;  // per client; unset: no limit
  std::size_t serve_cache_bytes = std::size_t{128} << 20;
  std::size_t ingest_max_body = 16 * 1024 * 1024;

  std::string events_url() const { return upstream_base_url + "/api/v1/events"; }
};

// One configuration key as users see it: the environment/.env name, the flag is derived.
struct ConfigKey {
  std::string_view name;
  std::string_view type;  // what --help shows as the value: INT, BOOL, SECONDS, URL, ...
  std::string_view default_value;
  std::string_view help;
  bool secret = false;
};
const std::vector<ConfigKey>& config_keys();
std::string flag_for(std::string_view key);  // PAGE_LIMIT -> --page-limit

// A source of settings, lowest precedence first: defaults < .env < environment < flags.
struct ConfigLayer {
  std::string origin;  // "environment", ".env", "command line": named in error messages
  std::map<std::string, std::string> values;
  bool reject_unknown = true;  // the process environment holds unrelated variables
};

// Parses KEY=VALUE lines (comments, blank lines, `export`, single or double quotes).
// Throws ConfigError naming the line on a syntax error.
std::map<std::string, std::string> parse_dotenv(std::string_view text, std::string_view origin);

// Makes `profile` the source: a profile other than the contract's names the stream, the
// submission path (none: nothing is submitted) and cannot be followed; a command that talks to
// the upstream needs a key unless the profile sends none. Throws ConfigError.
void apply_profile(Config& config, SourceProfile profile, const std::string& origin,
                   Command command);

// Merges the layers, validates every value and the combination the command needs.
// Throws ConfigError with one line naming the key and its origin.
Config resolve_config(const std::vector<ConfigLayer>& layers, Command command);

// Parses "N/<duration>" such as 10/60s, 100/1s, 5/500ms or 10/1m; nullopt when malformed.
std::optional<RateCeiling> parse_rate_ceiling(std::string_view text);

}  // namespace ingestd
