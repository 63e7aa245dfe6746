#include "app/cli.hpp"

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "app/config.hpp"
#include "app/version.hpp"
#include "app/wiring.hpp"
#include "ingestd/errors.hpp"
#include "profile/profile_reader.hpp"

extern char** environ;

namespace ingestd {

namespace {

constexpr const char* kFooter =
    R"(Configuration: defaults < .env file < environment < command-line flags.
Every flag above is also an environment variable and a .env key: --page-limit is PAGE_LIMIT.
`ingestd run` needs only UPSTREAM_BASE_URL, UPSTREAM_API_KEY (or UPSTREAM_API_KEYS) and
DATABASE_URL.

Exit codes: 0 done, 2 bad usage or configuration, 3 upstream refused the API key (every key),
4 database unreachable, 5 submission refused, 75 temporary failure (safe to restart),
130/143 stopped by SIGINT/SIGTERM after a clean checkpoint.)";

struct CliState {
  std::map<std::string, std::string> flag_values;
  std::string env_file = ".env";
  bool env_file_explicit = false;
  bool dry_run = false;
  bool force = false;
  bool json = false;
  bool follow = false;
  std::string profile_file;  // check-profile's argument
};

// SOURCE_PROFILE (or check-profile's FILE), read and applied to the configuration.
void load_profile(Config& config, const std::string& file, Command command) {
  if (file.empty()) return;
  std::ifstream in(file);
  if (!in) throw ConfigError("config: cannot read the source profile " + file);
  std::stringstream text;
  text << in.rdbuf();
  apply_profile(config, read_profile(text.str(), file), file, command);
}

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
  auto* run = app.add_subcommand(
      "run", "migrate, ingest every page, then submit the IDs (resumes where it stopped)");
  run->add_flag("--follow", cli.follow,
                "after the first pass keep syncing the head until SIGTERM/SIGINT, every "
                "FOLLOW_INTERVAL_S seconds (5 when that is 0)");
  app.add_subcommand("migrate", "apply the schema migrations in sql/ (idempotent)");
  auto* submit =
      app.add_subcommand("submit", "stream every stored event ID to the submission endpoint");
  submit->add_flag("--dry-run", cli.dry_run, "print the count and the first IDs without sending");
  submit->add_flag("--force", cli.force,
                   "submit although ingestion is unfinished or the count differs");
  auto* status = app.add_subcommand(
      "status", "show progress, checkpoint age, last error and the submission ledger");
  status->add_flag("--json", cli.json, "print one JSON object");
  auto* check = app.add_subcommand(
      "check-profile",
      "fetch one page as the source profile says (one request, within the rate limit) and show "
      "what would be stored, the next page and the rate headers; nothing is written");
  check
      ->add_option("FILE", cli.profile_file,
                   "the profile (default: SOURCE_PROFILE, else the "
                   "contract's)")
      ->type_name("FILE");
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
  const Command command = name == "run"             ? Command::run
                          : name == "migrate"       ? Command::migrate
                          : name == "submit"        ? Command::submit
                          : name == "serve"         ? Command::serve
                          : name == "check-profile" ? Command::check_profile
                                                    : Command::status;
  Config config;
  try {
    std::vector<ConfigLayer> layers = config_layers(cli);
    if (!cli.profile_file.empty())
      layers.push_back({"check-profile", {{"SOURCE_PROFILE", cli.profile_file}}, true});
    config = resolve_config(layers, command);
    load_profile(config, config.source_profile_path, command);
  } catch (const ConfigError& e) {
    std::fprintf(stderr, "ingestd: %s\n", e.what());
    return e.exit_code();
  }
  return run_command(command, config, CommandFlags{cli.dry_run, cli.force, cli.json, cli.follow});
}

}  // namespace ingestd
