#include "app/cli.hpp"

int main(int argc, char** argv) {
  return ingestd::run_cli(argc, argv);
}
