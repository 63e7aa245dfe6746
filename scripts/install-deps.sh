#!/usr/bin/env bash
# Installs the Debian packages ingestd needs to build, run and test. Idempotent: when every
# package is already installed it changes nothing and needs no network.
set -euo pipefail

# libboost-dev: Debian's SOCI headers include Boost.Fusion.
packages=(
  build-essential cmake pkg-config git ca-certificates curl
  libcurl4-openssl-dev libsimdjson-dev libsoci-dev libpq-dev libspdlog-dev libfmt-dev
  libboost-dev doctest-dev libcli11-dev libcpp-httplib-dev libsystemd-dev zlib1g-dev
  nlohmann-json3-dev shellcheck wrk libjs-chart.js chromium
  postgresql postgresql-client python3 procps util-linux systemd
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages already installed"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
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
