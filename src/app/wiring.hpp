#pragma once

#include "app/config.hpp"
#include "ingestd/stats.hpp"
#include "serve/serve_options.hpp"
#include "submit/submitter.hpp"
#include "upstream/source_options.hpp"

namespace ingestd {

// The one place that reads Config: each stage's options are built here, and the commands wire
// the stages together.

SourceOptions source_options(const Config& config);
ServeOptions serve_options(const Config& config);
// `retired_by`: the keys a run's source retired are left out; nullptr: every key.
SubmitterOptions submitter_options(const Config& config, const SourceStats* retired_by);

// What the command line added to the configuration for one command.
struct CommandFlags {
  bool dry_run = false;  // submit
  bool force = false;    // submit
  bool json = false;     // status
  bool follow = false;   // run: keep syncing the head (FOLLOW_INTERVAL_S, else 5 s)
};

// Starts logging as configured, runs the command, and turns the error that ends it into its
// exit code and one log line.
int run_command(Command command, const Config& config, const CommandFlags& flags);

}  // namespace ingestd
