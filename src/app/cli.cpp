#include "app/cli.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "app/config.hpp"
#include "app/logging.hpp"
#include "app/metrics.hpp"
#include "app/metrics_server.hpp"
#include "app/progress.hpp"
#include "app/service_notify.hpp"
#include "app/version.hpp"
#include "common/clock.hpp"
#include "common/errors.hpp"
#include "pipeline/pipeline.hpp"
#include "serve/api_server.hpp"
#include "serve/status_report.hpp"
#include "store/rate_state_store.hpp"
#include "store/store.hpp"
#include "store/store_sink.hpp"
#include "submit/submitter.hpp"
#include "upstream/events_source.hpp"
#include "upstream/http_client.hpp"

extern char** environ;

namespace ingestd {

namespace {

constexpr const char* kFooter =
    R"(Configuration: defaults < .env file < environment < command-line flags.
Every flag above is also an environment variable and a .env key: --page-limit is PAGE_LIMIT.
`ingestd run` needs only UPSTREAM_BASE_URL, UPSTREAM_API_KEY and DATABASE_URL.

Exit codes: 0 done, 2 bad usage or configuration, 3 upstream refused the API key,
4 database unreachable, 5 submission refused, 75 temporary failure (safe to restart),
130/143 stopped by SIGINT/SIGTERM after a clean checkpoint.)";

struct CliState {
  std::map<std::string, std::string> flag_values;
  std::string env_file = ".env";
  bool env_file_explicit = false;
  bool dry_run = false;
  bool force = false;
  bool json = false;
};

std::vector<ConfigLayer> config_layers(const CliState& cli) {
  std::vector<ConfigLayer> layers;
  std::ifstream in(cli.env_file);
  if (in) {
    std::stringstream text;
    text << in.rdbuf();
    layers.push_back({cli.env_file, parse_dotenv(text.str(), cli.env_file), true});
  } else if (cli.env_file_explicit) {
    throw ConfigError("config: cannot read env file " + cli.env_file);
  }
  ConfigLayer env{"environment", {}, false};
  for (char** e = environ; *e; ++e) {
    std::string_view kv(*e);
    auto eq = kv.find('=');
    if (eq != std::string_view::npos) env.values.emplace(kv.substr(0, eq), kv.substr(eq + 1));
  }
  layers.push_back(std::move(env));
  layers.push_back({"the command line", cli.flag_values, true});
  return layers;
}

// SIGINT/SIGTERM are blocked in every thread and received here, so no handler runs in an
// arbitrary thread and the stop request travels through stop tokens.
class SignalWatcher {
 public:
  SignalWatcher() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGINT);
    sigaddset(&set_, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set_, nullptr);
    thread_ = std::jthread([this](std::stop_token own) {
      timespec timeout{0, 100'000'000};
      while (!own.stop_requested()) {
        int sig = sigtimedwait(&set_, nullptr, &timeout);
        if (sig == SIGINT || sig == SIGTERM) {
          if (signal_ != 0) {
            spdlog::warn("second signal: exiting without waiting for the writer");
            std::_Exit(128 + sig);
          }
          signal_ = sig;
          spdlog::warn("received {}: stopping after the pages in flight are committed",
                       sig == SIGINT ? "SIGINT" : "SIGTERM");
          stop_.request_stop();
        }
      }
    });
  }
  std::stop_token token() const { return stop_.get_token(); }
  int exit_code() const { return signal_ == SIGINT ? kExitSigint : kExitSigterm; }
  bool stopped() const { return signal_ != 0; }

 private:
  sigset_t set_{};
  std::stop_source stop_;
  std::atomic<int> signal_{0};
  std::jthread thread_;
};

std::unique_ptr<Store> open_store(const Config& config, std::stop_token stop) {
  spdlog::info("database: {}", redact_database_url(config.database_url));
  return Store::connect(config.database_url, config.db_connect_timeout, stop);
}

void lock_stream(Store& store, const Config& config, std::stop_token stop) {
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

// The running ingestion as GET /v1/status reports it under "live".
nlohmann::ordered_json live_json(const ProgressSnapshot& s, const Metrics& m,
                                 const ProgressHistory* history) {
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
          {"retries", m.retries.load()},
          {"rate_limit", s.rate_limit},
          {"rate_window_ms", s.rate_window.count()},
          {"budget_used", optional(budget_used(s))},
          {"eta_s", left ? nlohmann::ordered_json(left->count()) : nlohmann::ordered_json(nullptr)},
          {"elapsed_s", static_cast<double>(s.elapsed.count()) / 1000.0},
          {"unix_ms", unix_ms_now()},
          {"history", [&] {
             if (!history) return nlohmann::ordered_json(nullptr);
             nlohmann::ordered_json samples = nlohmann::ordered_json::array();
             for (const auto& h : history->samples()) samples.push_back({h.unix_s, h.events});
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
  auto server = std::make_unique<ApiServer>(config, metrics, stop, std::move(live));
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

int command_run(const Config& config, const SignalWatcher& signals) {
  CurlGlobal curl;
  ServiceNotifier notifier;
  auto store = open_store(config, signals.token());
  const MigrationReport migrated = store->migrate();
  for (const auto& name : migrated.applied) spdlog::info("migrate: applied {}", name);
  lock_stream(*store, config, signals.token());

  Metrics metrics;
  const auto metrics_server = start_metrics_server(config, metrics);
  const Checkpoint start = store->load_checkpoint(config.stream);
  spdlog::info("start: stream {} at page {}, {} events stored{}", config.stream, start.pages,
               start.events, start.done ? ", ingestion already complete" : "");
  notifier.ready();

  const auto started = std::chrono::steady_clock::now();
  auto last_progress = started;
  auto snapshot = [&] {
    ProgressSnapshot s;
    s.events = start.events + metrics.events_inserted.load();
    s.events_this_run = metrics.events_inserted.load();
    s.pages = start.pages + metrics.pages_committed.load();
    s.quarantined = start.quarantined + metrics.events_quarantined.load();
    s.requests = metrics.requests_total();
    s.refused = metrics.http_requests[Metrics::k429].load();
    if (auto t = metrics.upstream_total.load(); t >= 0) s.total = t;
    s.rate_limit = metrics.rate_limit.load();
    s.rate_window = std::chrono::milliseconds(metrics.rate_window_ms.load());
    s.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - started);
    return s;
  };
  std::mutex history_mu;
  ProgressHistory history;
  std::unique_ptr<ApiServer> api;
  if (!config.serve_addr.empty()) {
    api = start_api_server(config, metrics, signals.token(), [&](bool with_history) {
      std::lock_guard lock(history_mu);
      return live_json(snapshot(), metrics, with_history ? &history : nullptr);
    });
  }
  const LiveLine live(config.log_format);
  auto tick = [&] {
    notifier.watchdog();
    {
      std::lock_guard lock(history_mu);
      history.record(unix_ms_now() / 1000, start.events + metrics.events_inserted.load());
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

  if (!start.done) {
    StoreRateState rate_state(config.database_url, config.stream, config.db_connect_timeout,
                              signals.token());
    EventsSource source(config, metrics, start.next_cursor, start.pages, rate_state);
    StoreSink sink(*store, config.stream);
    Pipeline pipeline(source, sink, metrics, static_cast<std::size_t>(config.queue_pages));
    PipelineResult result;
    try {
      result = pipeline.run(signals.token(), tick);
    } catch (const std::exception& e) {
      store->record_error(config.stream, e.what());
      throw;
    }
    const std::string final_line = progress_line(snapshot());
    if (signals.stopped()) {
      spdlog::info("stopped: checkpoint at page {}; {}",
                   result.committed > 0 ? result.last_page : start.pages, final_line);
      notifier.stopping();
      return signals.exit_code();
    }
    if (!result.completed) throw TemporaryError("ingestion ended before the last page");
  }
  const std::string final_line = progress_line(snapshot());
  spdlog::info("ingestion complete: {}", final_line);
  notifier.status("ingestion complete: " + final_line);

  if (!config.submit_on_finish) {
    spdlog::info("submission: SUBMIT_ON_FINISH=false; run `ingestd submit` when ready");
    return kExitOk;
  }
  notifier.status("submitting event IDs");
  print_submit_report(submit_ids(config, *store, SubmitOptions{}, signals.token()));
  notifier.stopping();
  return kExitOk;
}

int command_submit(const Config& config, const CliState& cli, const SignalWatcher& signals) {
  CurlGlobal curl;
  auto store = open_store(config, signals.token());
  store->require_current_schema();
  lock_stream(*store, config, signals.token());
  print_submit_report(
      submit_ids(config, *store, SubmitOptions{cli.force, cli.dry_run}, signals.token()));
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

// One attempt, bounded: status is a look, not a wait (ingestd run is the one that retries).
constexpr std::chrono::milliseconds kStatusConnectTimeout{2000};

int command_status(const Config& config, const CliState& cli) {
  std::unique_ptr<Store> store;
  try {
    store = std::make_unique<Store>(config.database_url, kStatusConnectTimeout);
  } catch (const DatabaseError& e) {
    throw DatabaseError("status: " + std::string(e.what()) +
                        "; start that PostgreSQL or point DATABASE_URL at the right one (the "
                        "embedded one of ./run-ingestion.sh: ./run-ingestion.sh status)");
  }
  store->require_current_schema();
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
            << fmt::format("state           {}\n", cp.done         ? "ingestion complete"
                                                   : cp.pages == 0 ? "not started"
                                                                   : "in progress")
            << fmt::format("pages           {}\n", cp.pages)
            << fmt::format("events stored   {}{}\n", stored,
                           cp.upstream_total
                               ? fmt::format(" of {} reported by the upstream", *cp.upstream_total)
                               : "")
            << fmt::format("quarantined     {}\n", quarantined)
            << fmt::format("checkpoint age  {}\n",
                           format_duration(std::chrono::seconds(static_cast<long>(cp.age_seconds))))
            << fmt::format("last error      {}\n", cp.last_error.value_or("none"));
  std::cout << fmt::format(
      "pushed          {} requests: {} accepted, {} duplicates, {} quarantined\n",
      report.push.requests, report.push.accepted, report.push.duplicates, report.push.quarantined);
  std::cout << fmt::format("submissions     {}\n", ledger.empty() ? "none" : "");
  for (const auto& r : ledger) {
    std::cout << fmt::format("  #{} {} started {} ids {} http {}\n", r.attempt,
                             ledger_outcome_name(r.outcome), r.started_at,
                             r.ids_sent ? std::to_string(*r.ids_sent) : "-",
                             r.http_status ? std::to_string(*r.http_status) : "-");
  }
  return kExitOk;
}

}  // namespace

int run_cli(int argc, char** argv) {
  // A closed log pipe must not kill the process before it commits; the write just fails.
  std::signal(SIGPIPE, SIG_IGN);
  CLI::App app{
      "ingestd: copies a rate-limited events API into PostgreSQL exactly once, then submits "
      "every event ID.",
      "ingestd"};
  app.footer(kFooter);
  app.set_version_flag("--version", "ingestd " + std::string(version_text()));
  app.require_subcommand(1);
  app.fallthrough();
  CliState cli;
  app.add_option("--env-file", cli.env_file,
                 "read settings from this file (default .env, if present)")
      ->type_name("FILE")
      ->each([&](const std::string&) { cli.env_file_explicit = true; });
  std::map<std::string, std::string> raw;
  for (const auto& key : config_keys()) {
    std::string help(key.help);
    if (!key.default_value.empty()) help += " [" + std::string(key.default_value) + "]";
    app.add_option(flag_for(key.name), raw[std::string(key.name)], help)
        ->type_name(std::string(key.type))
        ->group("Settings");
  }
  app.add_subcommand("run",
                     "migrate, ingest every page, then submit the IDs (resumes where it stopped)");
  app.add_subcommand("migrate", "apply the schema migrations in sql/ (idempotent)");
  auto* submit =
      app.add_subcommand("submit", "stream every stored event ID to the submission endpoint");
  submit->add_flag("--dry-run", cli.dry_run, "print the count and the first IDs without sending");
  submit->add_flag("--force", cli.force,
                   "submit although ingestion is unfinished or the count differs");
  auto* status = app.add_subcommand(
      "status", "show progress, checkpoint age, last error and the submission ledger");
  status->add_flag("--json", cli.json, "print one JSON object");
  app.add_subcommand("serve",
                     "serve the read API, push ingest and the dashboard on SERVE_ADDR (default "
                     "127.0.0.1:8080) until SIGINT/SIGTERM");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? kExitOk : kExitUsage;
  }
  for (const auto& key : config_keys()) {
    if (app.count(flag_for(key.name)) > 0)
      cli.flag_values[std::string(key.name)] = raw[std::string(key.name)];
  }

  const std::string name = app.get_subcommands().front()->get_name();
  const Command command = name == "run"       ? Command::run
                          : name == "migrate" ? Command::migrate
                          : name == "submit"  ? Command::submit
                          : name == "serve"   ? Command::serve
                                              : Command::status;
  Config config;
  try {
    config = resolve_config(config_layers(cli), command);
  } catch (const ConfigError& e) {
    std::fprintf(stderr, "ingestd: %s\n", e.what());
    return e.exit_code();
  }
  init_logging(config.log_level, config.log_format);
  try {
    SignalWatcher signals;
    switch (command) {
      case Command::run:
        return command_run(config, signals);
      case Command::migrate:
        return command_migrate(config, signals);
      case Command::submit:
        return command_submit(config, cli, signals);
      case Command::status:
        return command_status(config, cli);
      case Command::serve:
        return command_serve(config, signals);
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
