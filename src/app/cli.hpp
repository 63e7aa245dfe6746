#pragma once

namespace ingestd {

// Parses the command line, runs the command, and turns every error into one log line and the
// documented exit code.
int run_cli(int argc, char** argv);

}  // namespace ingestd
