#!/usr/bin/env bash
# Installs ingestd as a systemd service from this checkout: builds the Debian package
# (scripts/package.sh) and installs it with apt-get, which keeps an edited
# /etc/ingestd/ingestd.env on upgrades. Then: edit /etc/ingestd/ingestd.env and
# `systemctl enable --now ingestd`. Remove with `apt-get purge ingestd`.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
[ "$(id -u)" -eq 0 ] || { echo "install-service: run as root" >&2; exit 1; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
chmod 755 "$out"
deb=$(OUT_DIR="$out" "$repo/scripts/package.sh")
DEBIAN_FRONTEND=noninteractive apt-get install -y "$deb"
echo "install-service: installed $(basename "$deb"); set UPSTREAM_BASE_URL, UPSTREAM_API_KEY and"
echo "DATABASE_URL in /etc/ingestd/ingestd.env, then: systemctl enable --now ingestd"
