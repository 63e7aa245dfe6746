#!/usr/bin/env bash
# Installs the Debian packages ingestd needs. Idempotent: when every package is already installed
# it changes nothing and needs no network.
#   scripts/install-deps.sh          what building and running need (./run-ingestion.sh)
#   scripts/install-deps.sh --test   that and the test tools (scripts/test.sh, CI)
#   --list                           print the package names instead of installing them
set -euo pipefail

# libboost-dev: Debian's SOCI headers include Boost.Fusion. postgresql: the embedded database of
# run-ingestion.sh. libjs-chart.js: the dashboard's charts. libyaml-cpp-dev: source profiles. python3: the one-shot's summary.
# libssl-dev: SHA-256, which names an API key where its rate state is stored.
run_packages=(
  build-essential cmake pkg-config git ca-certificates curl
  libcurl4-openssl-dev libssl-dev libsimdjson-dev libsoci-dev libpq-dev libspdlog-dev libfmt-dev
  libboost-dev libcli11-dev libcpp-httplib-dev libsystemd-dev zlib1g-dev nlohmann-json3-dev
  libjs-chart.js libyaml-cpp-dev postgresql postgresql-client python3 procps util-linux
)
# doctest for the suites, a browser for the dashboard test, wrk for the benchmark,
# python3-jsonschema for the OpenAPI check, lintian and systemd-analyze for the package.
test_packages=(
  doctest-dev shellcheck wrk chromium python3-yaml python3-jsonschema lintian
  systemd
)

packages=("${run_packages[@]}")
what="building and running"
list=""
for arg in "$@"; do
  case "$arg" in
    --test) packages+=("${test_packages[@]}"); what="building, running and testing" ;;
    --list) list=1 ;;
    *) echo "install-deps: unknown argument $arg (--test, --list)" >&2; exit 2 ;;
  esac
done
if [ -n "$list" ]; then
  printf '%s\n' "${packages[@]}"
  exit 0
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages for $what already installed"
  exit 0
fi

echo "install-deps: installing for $what: ${missing[*]}"
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo_cmd=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
# The Debian postgresql package starts a system cluster by default; ingestd never uses it.
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-deps: done"
