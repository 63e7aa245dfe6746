#!/usr/bin/env bash
# Installs ingestd as a systemd service: builds Release, installs the binary to /usr/local/bin,
# the unit to /etc/systemd/system and a settings file to /etc/ingestd/ingestd.env (kept if it
# exists). Then: edit /etc/ingestd/ingestd.env and `systemctl enable --now ingestd`.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
[ "$(id -u)" -eq 0 ] || { echo "install-service: run as root" >&2; exit 1; }
"$repo/scripts/install-deps.sh"
cmake -S "$repo" -B "$repo/build-release" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$repo/build-release" -j 2 --target ingestd
install -m 0755 "$repo/build-release/ingestd" /usr/local/bin/ingestd
# The dashboard's charts, beside the binary so they survive libjs-chart.js being removed.
install -m 0644 /usr/share/javascript/chart.js/chart.min.js /usr/local/bin/chart.min.js
install -m 0644 "$repo/config/ingestd.service" /etc/systemd/system/ingestd.service
install -d -m 0755 /usr/local/share/doc/ingestd
install -m 0644 "$repo/README.md" /usr/local/share/doc/ingestd/README.md
install -d -m 0750 /etc/ingestd
if [ ! -f /etc/ingestd/ingestd.env ]; then
  # The service reads no .env from a working directory; this file is its only settings source.
  install -m 0600 "$repo/.env.example" /etc/ingestd/ingestd.env
  echo "install-service: wrote /etc/ingestd/ingestd.env; set UPSTREAM_BASE_URL, UPSTREAM_API_KEY and DATABASE_URL"
fi
if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  echo "install-service: installed; start with: systemctl enable --now ingestd"
else
  echo "install-service: installed; systemd is not running on this machine"
fi
