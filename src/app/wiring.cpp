#include "app/wiring.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>

#include "app/check_profile.hpp"
#include "app/logging.hpp"
#include "app/metrics.hpp"
#include "app/metrics_server.hpp"
#include "app/progress.hpp"
#include "app/service_notify.hpp"
#include "app/signals.hpp"
#include "common/clock.hpp"
#include "common/database_url.hpp"
#include "common/sleep.hpp"
#include "common/timestamp.hpp"
#include "ingestd/errors.hpp"
#include "ingestd/event.hpp"
#include "pipeline/pipeline.hpp"
#include "profile/profile_reader.hpp"
#include "serve/api_server.hpp"
#include "serve/status_report.hpp"
#include "store/database.hpp"
#include "store/event_reader.hpp"
#include "store/event_writer.hpp"
#include "store/rate_state_table.hpp"
#include "store/store_sink.hpp"
#include "submit/submitter.hpp"
#include "upstream/events_source.hpp"
#include "upstream/http_client.hpp"
#include "upstream/profile_page.hpp"
#include "upstream/sync_state.hpp"

namespace ingestd {

namespace {

bool profile_stream(const Config& config) {
  return !(config.profile == contract_profile());
}

}  // namespace

SourceOptions source_options(const Config& config) {
  return {.events_url = config.events_url(),
          .api_keys = config.api_keys,
          .page_limit = config.page_limit,
          .cursor_recovery = config.cursor_recovery,
          .http_timeout = config.http_timeout,
          .http_connect_timeout = config.http_connect_timeout,
          .http_gzip = config.http_gzip,
          .retry_max_attempts = config.retry_max_attempts,
          .rate_limit = config.rate_limit,
          .profile = config.profile,
          .base_url = config.upstream_base_url,
          .page_limit_set = config.page_limit_set};
}

ServeOptions serve_options(const Config& config) {
  return {.addr = config.serve_addr,
          .api_key = config.serve_api_key,
          .rate_limit = config.serve_rate_limit,
          .cache_bytes = config.serve_cache_bytes,
          .ingest_max_body = config.ingest_max_body,
          .stream = config.stream,
          .profile_stream = profile_stream(config),
          .contract_stream = config.contract_stream,
          .database_url = config.database_url,
          .db_connect_timeout = config.db_connect_timeout};
}

SubmitterOptions submitter_options(const Config& config, const SourceStats* retired_by) {
  std::vector<SubmissionKey> keys;
  for (std::size_t k = 0; k < config.api_keys.size(); ++k) {
    if (retired_by && k < retired_by->keys.size() && retired_by->keys[k].retired) continue;
    keys.push_back({static_cast<int>(k) + 1, config.api_keys[k]});
  }
  return {.stream = config.stream,
          .url = config.submission_url,
          .repo = config.submission_repo,
          .keys = std::move(keys),
          .key_count = static_cast<int>(config.api_keys.size()),
          .max_attempts = config.submission_max_attempts,
          .http_timeout = config.http_timeout,
          .http_connect_timeout = config.http_connect_timeout,
          .profile = config.profile};
}

namespace {

// A profile stream reads and writes the tables of its own schema.
void enter_stream(Database& store, const Config& config) {
  if (profile_stream(config)) store.use_stream_tables(config.stream);
}

std::unique_ptr<Database> open_store(const Config& config, std::stop_token stop) {
  spdlog::info("database: {}", redact_database_url(config.database_url));
  return Database::connect(config.database_url, config.db_connect_timeout, stop);
}

void lock_stream(Database& store, const Config& config, std::stop_token stop) {
  if (!store.lock_stream(config.stream, config.stream_lock_wait, stop)) {
    throw TemporaryError(
        "stream " + config.stream +
        " is being ingested by another ingestd on this database; refusing to run twice");
  }
}

void print_submit_report(const SubmitReport& r) {
  switch (r.result) {
    case SubmitReport::Result::dry_run:
      std::cout << r.response;
      break;
    case SubmitReport::Result::already_accepted:
      std::cout << "submission: already accepted at attempt " << r.attempt << "; nothing sent\n";
      break;
    case SubmitReport::Result::accepted:
      std::cout << "submission: attempt " << r.attempt << " accepted, " << r.ids << " IDs\n"
                << r.response << "\n";
      break;
  }
}

// How many keys are configured, still valid and distinct budgets, and whether all of them wait.
void key_pool_progress(const SourceStats& source, ProgressSnapshot& s) {
  s.keys = static_cast<int>(source.key_count.load());
  s.keys_active = 0;
  std::vector<std::int64_t> budgets;
  for (int k = 0; k < s.keys && k < static_cast<int>(source.keys.size()); ++k) {
    const KeyStats& key = source.keys[static_cast<std::size_t>(k)];
    if (key.retired.load()) continue;
    ++s.keys_active;
    if (std::find(budgets.begin(), budgets.end(), key.shares_with.load()) == budgets.end()) {
      budgets.push_back(key.shares_with.load());
    }
  }
  s.budgets = std::max<int>(1, static_cast<int>(budgets.size()));
  const std::int64_t paused_until = source.all_keys_paused_until_ms.load();
  s.all_keys_paused =
      std::chrono::milliseconds(std::max<std::int64_t>(0, paused_until - unix_ms_now()));
}

// Each API key's budget as GET /v1/status reports it under "live.keys"; keys by position.
nlohmann::ordered_json keys_json(const SourceStats& source) {
  nlohmann::ordered_json keys = nlohmann::ordered_json::array();
  const std::int64_t now = unix_ms_now();
  for (std::int64_t k = 0; k < source.key_count.load() && k < std::ssize(source.keys); ++k) {
    const KeyStats& key = source.keys[static_cast<std::size_t>(k)];
    const std::int64_t remaining = key.remaining.load();
    keys.push_back(
        {{"key", k + 1},
         {"requests", key.requests.load()},
         {"http_429", key.rate_limited.load()},
         {"remaining",
          remaining < 0 ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(remaining)},
         {"rate_limit", key.limit.load()},
         {"rate_window_ms", key.window_ms.load()},
         {"next_request_in_ms", std::max<std::int64_t>(0, key.next_send_unix_ms.load() - now)},
         {"budget_of_key", key.shares_with.load()},
         {"retired", key.retired.load()}});
  }
  return keys;
}

// Events added in the last `seconds` of the per-second history, and their rate.
std::pair<std::int64_t, double> added_within(const ProgressHistory& history, std::int64_t seconds) {
  const auto& h = history.samples();
  if (h.size() < 2) return {0, 0.0};
  auto from = h.begin();
  while (from + 1 != h.end() && h.back().unix_s - from->unix_s > seconds) ++from;
  const std::int64_t span = h.back().unix_s - from->unix_s;
  const std::int64_t added = h.back().events - from->events;
  return {added, span > 0 ? static_cast<double>(added) / static_cast<double>(span) : 0.0};
}

// Following as GET /v1/status reports it under "live.follow".
nlohmann::ordered_json follow_json(const FollowStats& f, const ProgressHistory& history) {
  static constexpr const char* kPhases[] = {"first_pass", "following", "rescan"};
  const std::int64_t now = unix_ms_now();
  const std::int64_t synced = f.last_sync_unix_ms.load();
  const std::int64_t next = f.next_sync_unix_ms.load();
  const std::int64_t mark = f.mark_us.load();
  const auto [last_hour, _] = added_within(history, 3600);
  const auto [last_minute, per_second] = added_within(history, 60);
  return {{"phase", kPhases[std::clamp(f.phase.load(), 0, 2)]},
          {"syncing", f.syncing.load()},
          {"syncs", f.syncs.load()},
          {"rescans", f.rescans.load()},
          {"last_sync_unix_ms",
           synced == 0 ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(synced)},
          {"lag_s", synced == 0 ? nlohmann::ordered_json(nullptr)
                                : nlohmann::ordered_json(static_cast<double>(now - synced) / 1e3)},
          {"last_sync_events", f.last_sync_events.load()},
          {"synced_to", mark == 0 ? nlohmann::ordered_json(nullptr)
                                  : nlohmann::ordered_json(format_iso8601_ms(mark))},
          {"next_sync_in_ms", next == 0
                                  ? nlohmann::ordered_json(nullptr)
                                  : nlohmann::ordered_json(std::max<std::int64_t>(0, next - now))},
          {"events_last_minute", last_minute},
          {"events_last_hour", last_hour},
          {"events_per_s_1m", per_second}};
}

// The running ingestion as GET /v1/status reports it under "live".
nlohmann::ordered_json live_json(const ProgressSnapshot& s, const Metrics& m,
                                 const ProgressHistory& history, bool with_history) {
  const auto optional = [](const auto& v) {
    return v ? nlohmann::ordered_json(*v) : nlohmann::ordered_json(nullptr);
  };
  const auto left = eta(s);
  return {{"events", s.events},
          {"events_this_run", s.events_this_run},
          {"pages", s.pages},
          {"quarantined", s.quarantined},
          {"upstream_total", optional(s.total)},
          {"requests", s.requests},
          {"http_429", s.refused},
          {"retries", m.source.retries.load()},
          {"rate_limit", s.rate_limit},
          {"rate_window_ms", s.rate_window.count()},
          {"budget_used", optional(budget_used(s))},
          {"eta_s", left ? nlohmann::ordered_json(left->count()) : nlohmann::ordered_json(nullptr)},
          {"elapsed_s", static_cast<double>(s.elapsed.count()) / 1000.0},
          {"keys", keys_json(m.source)},
          {"all_keys_paused_ms", s.all_keys_paused.count()},
          {"follow", follow_json(m.follow, history)},
          {"unix_ms", unix_ms_now()},
          {"history", [&] {
             if (!with_history) return nlohmann::ordered_json(nullptr);
             nlohmann::ordered_json samples = nlohmann::ordered_json::array();
             for (const auto& h : history.samples()) samples.push_back({h.unix_s, h.events});
             return samples;
           }()}};
}

// Serves METRICS_ADDR when set.
std::unique_ptr<MetricsServer> start_metrics_server(const Config& config, Metrics& metrics) {
  if (config.metrics_addr.empty()) return nullptr;
  auto server = std::make_unique<MetricsServer>(config.metrics_addr, metrics);
  spdlog::info("metrics: serving Prometheus text on {} (port {})", config.metrics_addr,
               server->port());
  return server;
}

std::unique_ptr<ApiServer> start_api_server(const Config& config, Metrics& metrics,
                                            std::stop_token stop, ApiServer::LiveStatus live) {
  auto server =
      std::make_unique<ApiServer>(serve_options(config), metrics.serve, stop, std::move(live));
  const auto colon = config.serve_addr.rfind(':');
  spdlog::info("serve: read API on http://{}:{}/v1/ (dashboard http://{}:{}/){}",
               config.serve_addr.substr(0, colon), server->port(),
               config.serve_addr.substr(0, colon), server->port(),
               config.serve_api_key.empty() ? "" : ", X-API-Key required");
  return server;
}

int command_migrate(const Config& config, const SignalWatcher& signals) {
  auto store = open_store(config, signals.token());
  const MigrationReport report = store->migrate();
  if (report.applied.empty()) {
    spdlog::info("migrate: schema is current (version {}); nothing applied", report.schema_version);
  } else {
    for (const auto& name : report.applied) spdlog::info("migrate: applied {}", name);
    spdlog::info("migrate: schema is at version {}", report.schema_version);
  }
  return kExitOk;
}

// Between head syncs the loop wakes this often to feed the watchdog and draw progress.
constexpr std::chrono::milliseconds kIdleTick{200};
// `run --follow` without FOLLOW_INTERVAL_S.
constexpr std::chrono::milliseconds kDefaultFollowInterval{5000};

FollowOptions follow_options(const Config& config) {
  return {.interval =
              config.follow_interval.count() > 0 ? config.follow_interval : kDefaultFollowInterval,
          .overlap = config.follow_overlap,
          .rescan_interval = config.rescan_interval,
          .page_limit = config.page_limit};
}

std::string mark_text(std::optional<std::int64_t> mark_us) {
  return mark_us ? format_iso8601_ms(*mark_us) : "none";
}

void publish_sync(const SyncState& sync, FollowStats& stats) {
  stats.phase = sync.phase() == SyncPhase::first_pass ? FollowStats::kFirstPass
                : sync.phase() == SyncPhase::rescan   ? FollowStats::kRescan
                                                      : FollowStats::kFollowing;
  stats.mark_us = sync.marks().mark_us.value_or(0);
}

// After a completed pass the stream is following, whatever the next pass will be.
void publish_pass(const SyncState& sync, FollowStats& stats, std::int64_t added) {
  publish_sync(sync, stats);
  stats.phase = FollowStats::kFollowing;
  stats.last_sync_unix_ms = unix_ms_now();
  stats.last_sync_events = added;
}

// The submission after the first pass, as SUBMIT_ON_FINISH says (an accepted one is never sent
// again: the ledger says so).
void submit_after_first_pass(const Config& config, Database& store, Metrics& metrics,
                             ServiceNotifier& notifier, const SignalWatcher& signals) {
  if (!config.submit_on_finish) {
    spdlog::info("submission: SUBMIT_ON_FINISH=false; run `ingestd submit` when ready");
    return;
  }
  notifier.status("submitting event IDs");
  print_submit_report(
      submit_ids(submitter_options(config, &metrics.source), store, SubmitMode{}, signals.token()));
}

int command_run(const Config& config, const CommandFlags& flags, const SignalWatcher& signals) {
  CurlGlobal curl;
  ServiceNotifier notifier;
  auto store = open_store(config, signals.token());
  const MigrationReport migrated = store->migrate();
  for (const auto& name : migrated.applied) spdlog::info("migrate: applied {}", name);
  enter_stream(*store, config);
  lock_stream(*store, config, signals.token());
  if (profile_stream(config)) {
    spdlog::info("profile: {} ({} pagination) from {}", config.profile.name,
                 pagination_name(config.profile.pagination), config.source_profile_path);
  }

  Metrics metrics;
  const auto metrics_server = start_metrics_server(config, metrics);
  const Checkpoint start = EventReader(*store).load_checkpoint(config.stream);
  spdlog::info("start: stream {} at page {}, {} events stored{}", config.stream, start.pages,
               start.events, start.done ? ", ingestion already complete" : "");
  notifier.ready();

  const auto started = std::chrono::steady_clock::now();
  auto last_progress = started;
  auto snapshot = [&] {
    ProgressSnapshot s;
    s.events = start.events + metrics.pipeline.events_inserted.load();
    s.events_this_run = metrics.pipeline.events_inserted.load();
    s.pages = start.pages + metrics.pipeline.pages_committed.load();
    s.quarantined = start.quarantined + metrics.pipeline.events_quarantined.load();
    s.requests = metrics.source.requests_total();
    s.refused = metrics.source.http_requests[SourceStats::k429].load();
    if (auto t = metrics.source.upstream_total.load(); t >= 0) s.total = t;
    s.rate_limit = metrics.source.rate_limit.load();
    s.rate_window = std::chrono::milliseconds(metrics.source.rate_window_ms.load());
    s.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - started);
    key_pool_progress(metrics.source, s);
    return s;
  };
  std::mutex history_mu;
  ProgressHistory history;
  std::unique_ptr<ApiServer> api;
  if (!config.serve_addr.empty()) {
    api = start_api_server(config, metrics, signals.token(), [&](bool with_history) {
      std::lock_guard lock(history_mu);
      return live_json(snapshot(), metrics, history, with_history);
    });
  }
  const LiveLine live(config.log_format);
  auto tick = [&] {
    notifier.watchdog();
    {
      std::lock_guard lock(history_mu);
      history.record(unix_ms_now() / 1000, start.events + metrics.pipeline.events_inserted.load());
    }
    live.draw(progress_line(snapshot()));
    const auto now = std::chrono::steady_clock::now();
    if (now - last_progress >= config.progress_interval) {
      last_progress = now;
      const std::string line = progress_line(snapshot());
      spdlog::info("progress: {}", line);
      notifier.status(line);
    }
  };

  const bool follow = flags.follow || config.follow_interval.count() > 0;
  const auto phase = parse_sync_phase(start.phase).value_or(SyncPhase::first_pass);
  SyncState sync(follow_options(config), phase, start.marks, std::chrono::steady_clock::now());
  publish_sync(sync, metrics.follow);
  if (start.last_sync_unix_ms) metrics.follow.last_sync_unix_ms = *start.last_sync_unix_ms;
  if (start.last_sync_events) metrics.follow.last_sync_events = *start.last_sync_events;

  if (start.done && !follow) {
    const std::string line = progress_line(snapshot());
    spdlog::info("ingestion complete: {}", line);
    notifier.status("ingestion complete: " + line);
    submit_after_first_pass(config, *store, metrics, notifier, signals);
    notifier.stopping();
    return kExitOk;
  }

  RateStateTable rate_state(config.database_url, config.stream, config.db_connect_timeout,
                            signals.token());
  EventsSource source(source_options(config), metrics.source, std::nullopt, start.pages,
                      rate_state);
  EventWriter writer = profile_stream(config)
                           ? EventWriter(*store, kStreamEventColumnList, kStreamEventKey)
                           : EventWriter(*store);
  StoreSink sink(writer, config.stream, [&sync](const DecodedBatch& batch) {
    return sync.on_page({.from_head = batch.cursor_used.empty(),
                         .newest_us = batch.info.newest_us,
                         .total = batch.info.total,
                         .last = !batch.info.has_more});
  });
  // One pass through the pipeline; false when a signal stopped it.
  auto run_pass = [&](std::optional<std::string> cursor) {
    source.begin_pass(std::move(cursor), sync.stop_at_us());
    metrics.follow.syncing = sync.phase() != SyncPhase::first_pass;
    Pipeline pipeline(source, sink, metrics.pipeline, static_cast<std::size_t>(config.queue_pages),
                      sync.phase() != SyncPhase::first_pass);
    PipelineResult result;
    try {
      result = pipeline.run(signals.token(), tick);
    } catch (const std::exception& e) {
      writer.record_error(config.stream, e.what());
      throw;
    }
    metrics.follow.syncing = false;
    if (signals.stopped()) {
      spdlog::info("stopped: checkpoint at page {}; {}",
                   result.committed > 0 ? result.last_page : start.pages,
                   progress_line(snapshot()));
      return false;
    }
    if (!result.completed) throw TemporaryError("ingestion ended before the last page");
    return true;
  };
  // What the store holds for the stream, as the checkpoint counts it.
  auto accounted = [&] {
    return start.events + start.quarantined + metrics.pipeline.events_inserted.load() +
           metrics.pipeline.events_quarantined.load();
  };

  NextPass next;  // a head sync at once
  if (!start.done) {
    if (phase != SyncPhase::first_pass) {
      spdlog::info("follow: resuming the {} toward mark {}", sync_phase_text(phase),
                   mark_text(sync.marks().mark_us));
    }
    const std::int64_t before = metrics.pipeline.events_inserted.load();
    if (!run_pass(start.next_cursor)) {
      notifier.stopping();
      return signals.exit_code();
    }
    if (phase == SyncPhase::first_pass) {
      const std::string line = progress_line(snapshot());
      spdlog::info("ingestion complete: {}", line);
      notifier.status("ingestion complete: " + line);
    }
    next = sync.after_pass({metrics.pipeline.events_inserted.load() - before, accounted()},
                           std::chrono::steady_clock::now());
    publish_pass(sync, metrics.follow, metrics.pipeline.events_inserted.load() - before);
  }
  if (!follow) {
    submit_after_first_pass(config, *store, metrics, notifier, signals);
    notifier.stopping();
    return kExitOk;
  }
  try {
    submit_after_first_pass(config, *store, metrics, notifier, signals);
  } catch (const Error& e) {
    // The copy is what a follower keeps current; `ingestd submit` can try again.
    spdlog::error("{}; following goes on (`ingestd submit` tries again)", e.what());
  }

  spdlog::info("follow: syncing the head every {} s (overlap {} s){}",
               sync.options().interval.count() / 1000.0, config.follow_overlap.count() / 1000.0,
               config.rescan_interval ? fmt::format(", a full re-scan at least every {} s",
                                                    config.rescan_interval->count() / 1000.0)
                                      : "");
  for (;;) {
    if (next.wait.count() > 0) {
      metrics.follow.next_sync_unix_ms = unix_ms_now() + next.wait.count();
      notifier.status(fmt::format("following: next sync in {} s; {}", next.wait.count() / 1000.0,
                                  progress_line(snapshot())));
      const auto until = std::chrono::steady_clock::now() + next.wait;
      // The watchdog and the progress line stay fed while idle.
      while (std::chrono::steady_clock::now() < until && !signals.stopped()) {
        sleep_until(std::min(until, std::chrono::steady_clock::now() + kIdleTick), signals.token());
        tick();
      }
      metrics.follow.next_sync_unix_ms = 0;
    }
    if (signals.stopped()) break;
    if (next.phase == SyncPhase::rescan) {
      spdlog::info("follow: full re-scan: {}", next.reason);
      ++metrics.follow.rescans;
    }
    sync.begin(next.phase);
    writer.begin_pass(config.stream, std::string(sync_phase_name(next.phase)));
    publish_sync(sync, metrics.follow);
    const std::int64_t before = metrics.pipeline.events_inserted.load();
    if (!run_pass(std::nullopt)) break;
    const std::int64_t added = metrics.pipeline.events_inserted.load() - before;
    const SyncPhase done_phase = sync.phase();
    next = sync.after_pass({added, accounted()}, std::chrono::steady_clock::now());
    publish_pass(sync, metrics.follow, added);
    ++metrics.follow.syncs;
    spdlog::log(
        added > 0 || done_phase == SyncPhase::rescan ? spdlog::level::info : spdlog::level::debug,
        "follow: {} complete, {} new events, mark {}", sync_phase_text(done_phase), added,
        mark_text(sync.marks().mark_us));
  }
  notifier.stopping();
  return signals.exit_code();
}

int command_submit(const Config& config, const CommandFlags& cli, const SignalWatcher& signals) {
  if (config.submission_url.empty()) {
    throw ConfigError("submit: profile " + config.profile.name +
                      " names no submission endpoint (submission.path); nothing to submit to");
  }
  CurlGlobal curl;
  auto store = open_store(config, signals.token());
  store->require_current_schema();
  enter_stream(*store, config);
  lock_stream(*store, config, signals.token());
  print_submit_report(submit_ids(submitter_options(config, nullptr), *store,
                                 SubmitMode{cli.force, cli.dry_run}, signals.token()));
  return kExitOk;
}

int command_serve(const Config& config, const SignalWatcher& signals) {
  ServiceNotifier notifier;
  {
    auto store = open_store(config, signals.token());
    const MigrationReport migrated = store->migrate();
    for (const auto& name : migrated.applied) spdlog::info("migrate: applied {}", name);
  }
  Metrics metrics;
  const auto metrics_server = start_metrics_server(config, metrics);
  const auto api = start_api_server(config, metrics, signals.token(), {});
  notifier.ready();
  api->wait(signals.token());
  notifier.stopping();
  spdlog::info("serve: stopped");
  return kExitOk;
}

std::string state_text(const Checkpoint& cp) {
  const auto phase = parse_sync_phase(cp.phase).value_or(SyncPhase::first_pass);
  if (phase == SyncPhase::first_pass) {
    return cp.done ? "ingestion complete" : cp.pages == 0 ? "not started" : "in progress";
  }
  if (cp.done) return "following: the last sync is complete";
  return phase == SyncPhase::rescan ? "following: a full re-scan is in progress"
                                    : "following: a head sync is in progress";
}

// One attempt, bounded: status is a look, not a wait (ingestd run is the one that retries).
constexpr std::chrono::milliseconds kStatusConnectTimeout{2000};

int command_status(const Config& config, const CommandFlags& cli) {
  std::unique_ptr<Database> store;
  try {
    store = std::make_unique<Database>(config.database_url, kStatusConnectTimeout);
  } catch (const DatabaseError& e) {
    throw DatabaseError("status: " + std::string(e.what()) +
                        "; start that PostgreSQL or point DATABASE_URL at the right one (the "
                        "embedded one of ./run-ingestion.sh: ./run-ingestion.sh status)");
  }
  store->require_current_schema();
  enter_stream(*store, config);
  const StatusReport report = read_status(*store, config.stream);
  if (cli.json) {
    std::cout << status_json(report).dump(-1, ' ', false,
                                          nlohmann::ordered_json::error_handler_t::replace)
              << "\n";
    return kExitOk;
  }
  const Checkpoint& cp = report.checkpoint;
  const std::int64_t stored = report.stored_events;
  const std::int64_t quarantined = report.quarantined;
  const auto& ledger = report.submissions;
  std::cout << fmt::format("stream          {}\n", cp.stream)
            << fmt::format("state           {}\n", state_text(cp))
            << fmt::format("pages           {}\n", cp.pages)
            << fmt::format("events stored   {}{}\n", stored,
                           cp.upstream_total
                               ? fmt::format(" of {} reported by the upstream", *cp.upstream_total)
                               : "")
            << fmt::format("quarantined     {}\n", quarantined)
            << fmt::format("checkpoint age  {}\n",
                           format_duration(std::chrono::seconds(static_cast<long>(cp.age_seconds))))
            << fmt::format("last error      {}\n", cp.last_error.value_or("none"));
  if (cp.syncs > 0 || cp.phase != "first_pass") {
    std::cout << fmt::format("syncs           {} ({} re-scans); the last added {} events, {}\n",
                             cp.syncs, cp.rescans, cp.last_sync_events.value_or(0),
                             cp.last_sync_unix_ms ? format_iso8601_ms(*cp.last_sync_unix_ms * 1000)
                                                  : std::string("never"))
              << fmt::format("synced to       {}\n", mark_text(cp.marks.mark_us));
  }
  std::cout << fmt::format("newest event    {}\n", mark_text(report.newest_event_us));
  std::cout << fmt::format(
      "pushed          {} requests: {} accepted, {} duplicates, {} quarantined\n",
      report.push.requests, report.push.accepted, report.push.duplicates, report.push.quarantined);
  std::cout << fmt::format("submissions     {}\n", ledger.empty() ? "none" : "");
  for (const auto& r : ledger) {
    std::cout << fmt::format("  #{} {} started {} ids {} http {}{}\n", r.attempt,
                             ledger_outcome_name(r.outcome), r.started_at,
                             r.ids_sent ? std::to_string(*r.ids_sent) : "-",
                             r.http_status ? std::to_string(*r.http_status) : "-",
                             r.key_position ? " key " + std::to_string(*r.key_position) : "");
  }
  return kExitOk;
}

}  // namespace

int run_command(Command command, const Config& config, const CommandFlags& flags) {
  init_logging(config.log_level, config.log_format);
  try {
    SignalWatcher signals;
    switch (command) {
      case Command::run:
        return command_run(config, flags, signals);
      case Command::migrate:
        return command_migrate(config, signals);
      case Command::submit:
        return command_submit(config, flags, signals);
      case Command::status:
        return command_status(config, flags);
      case Command::serve:
        return command_serve(config, signals);
      case Command::check_profile:
        return command_check_profile(config, signals);
    }
  } catch (const Error& e) {
    spdlog::error("{}", e.what());
    return e.exit_code();
  } catch (const std::exception& e) {
    spdlog::error("unexpected error: {}", e.what());
    return kExitTemporary;
  }
  return kExitOk;
}

}  // namespace ingestd
