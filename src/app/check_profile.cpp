#include "app/check_profile.hpp"

#include <fmt/format.h>

#include <iostream>
#include <map>

#include "app/wiring.hpp"
#include "decode/decoder.hpp"
#include "ingestd/errors.hpp"
#include "ingestd/event.hpp"
#include "profile/profile_reader.hpp"
#include "store/database.hpp"
#include "store/rate_state_table.hpp"
#include "upstream/events_source.hpp"
#include "upstream/http_client.hpp"

namespace ingestd {

namespace {

// Without a database the limiter starts from what this one request teaches it.
class MemoryRateState : public RateStateStore {
 public:
  std::optional<RateLimitState> load(std::string_view key) override {
    const auto it = saved_.find(std::string(key));
    if (it == saved_.end()) return std::nullopt;
    return it->second;
  }
  void save(std::string_view key, const RateLimitState& state) override {
    saved_[std::string(key)] = state;
  }

 private:
  std::map<std::string, RateLimitState> saved_;
};

// The columns of one COPY text row, unescaped enough to read (\N shown as null).
std::vector<std::string> copy_columns(std::string_view row) {
  std::vector<std::string> out(1);
  for (std::size_t i = 0; i < row.size(); ++i) {
    if (row[i] == '\t') {
      out.emplace_back();
    } else if (row[i] == '\\' && i + 1 < row.size()) {
      const char c = row[++i];
      out.back() += c == 't' ? '\t' : c == 'n' ? '\n' : c == 'r' ? '\r' : c == 'N' ? '\0' : c;
      if (c == 'N' && out.back().size() == 1) out.back() = "null";
    } else {
      out.back() += row[i];
    }
  }
  return out;
}

std::vector<std::string> split_names(std::string_view list) {
  std::vector<std::string> names(1);
  for (const char c : list) {
    if (c == ',') {
      names.emplace_back();
    } else if (c != ' ') {
      names.back() += c;
    }
  }
  return names;
}

std::string shorten(const std::string& s, std::size_t n) {
  return s.size() <= n ? s : s.substr(0, n - 3) + "...";
}

std::string ms_text(std::optional<std::chrono::milliseconds> d) {
  return d ? fmt::format("{} ms", d->count()) : std::string("-");
}

}  // namespace

int command_check_profile(const Config& config, const SignalWatcher& signals) {
  CurlGlobal curl;
  const SourceProfile& p = config.profile;
  std::cout << fmt::format("profile         {} ({})\n", p.name,
                           config.source_profile_path.empty()
                               ? "built in: the events API's contract"
                               : config.source_profile_path);
  std::cout << fmt::format("pagination      {}\n", pagination_name(p.pagination));

  MemoryRateState memory;
  std::unique_ptr<RateStateTable> table;
  if (!config.database_url.empty()) {
    // The rate state lives in the schema `ingestd run` migrates.
    Database::connect(config.database_url, config.db_connect_timeout, signals.token())->migrate();
    table = std::make_unique<RateStateTable>(config.database_url, config.stream,
                                             config.db_connect_timeout, signals.token());
  }
  RateStateStore& rate_state = table ? static_cast<RateStateStore&>(*table) : memory;
  SourceStats stats;
  // One request: the first key's budget is the one it spends.
  SourceOptions options = source_options(config);
  options.api_keys.resize(1);
  EventsSource source(options, stats, std::nullopt, 0, rate_state);
  std::optional<RawPage> raw = source.next(signals.token());
  const EventsSource::Exchange& last = source.last_exchange();
  std::cout << fmt::format("request         GET {} -> HTTP {}\n", last.url, last.status);
  if (!raw) return signals.exit_code();

  const PageInfo info = raw->info;
  DecodedBatch batch = decode_batch(std::move(*raw));
  std::cout << fmt::format("records         {} at \"{}\": {} would be stored, {} quarantined\n",
                           info.data_count, p.records, batch.page.row_count,
                           batch.page.quarantined.size());
  const bool contract = p == contract_profile();
  const std::vector<std::string> names =
      split_names(contract ? event_column_list() : kStreamEventColumnList);
  std::size_t shown = 0;
  for (std::size_t at = 0; shown < 3 && at < batch.page.copy_rows.size(); ++shown) {
    const std::size_t end = batch.page.copy_rows.find('\n', at);
    const auto columns = copy_columns(std::string_view(batch.page.copy_rows).substr(at, end - at));
    std::cout << fmt::format("event {}\n", shown + 1);
    for (std::size_t c = 0; c < columns.size() && c < names.size(); ++c) {
      std::cout << fmt::format("  {:<12}  {}\n", names[c], shorten(columns[c], 100));
    }
    at = end + 1;
  }
  for (std::size_t q = 0; q < batch.page.quarantined.size() && q < 3; ++q) {
    const QuarantinedEvent& e = batch.page.quarantined[q];
    std::cout << fmt::format("quarantined     record {}: {}: {}\n", e.index + 1, e.reason,
                             shorten(e.raw, 100));
  }
  std::cout << fmt::format("next page       {}\n",
                           info.has_more ? info.next_cursor.value_or("(none)")
                                         : std::string("none: this is the last page"));
  std::cout << fmt::format("total           {}\n",
                           info.total ? std::to_string(*info.total) : std::string("not reported"));
  std::string seen;
  for (const auto& [name, value] : last.headers.items()) {
    std::string lower = name;
    for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (lower.find("rate") != std::string::npos || lower == "retry-after" || lower == "link") {
      seen += fmt::format("  {}: {}\n", name, shorten(value, 120));
    }
  }
  std::cout << "rate headers    " << (seen.empty() ? "none (the pace is learnt from 429s)\n" : "\n")
            << seen;
  const auto [limit, window] = source.pace(0);
  std::cout << fmt::format(
      "read as         limit {}, remaining {}, reset in {}, retry after {}; pacing {} requests "
      "per {} ms\n",
      last.rate.limit ? std::to_string(*last.rate.limit) : "-",
      last.rate.remaining ? std::to_string(*last.rate.remaining) : "-", ms_text(last.rate.reset),
      ms_text(last.rate.retry_after), limit > 0 ? std::to_string(limit) : "unknown",
      window.count());
  return kExitOk;
}

}  // namespace ingestd
