#!/usr/bin/env bash
# An embedded PostgreSQL cluster for this checkout, listening on 127.0.0.1 only.
#   scripts/pg-local.sh start     start (initialising on first use); prints DATABASE_URL on stdout
#   scripts/pg-local.sh stop      fast shutdown
#   scripts/pg-local.sh restart   fast restart on the same port (used by the reliability suite)
#   scripts/pg-local.sh status    exit 0 when running
#   scripts/pg-local.sh url       print DATABASE_URL
#   scripts/pg-local.sh where     print the cluster's directory (data, port, log)
#   scripts/pg-local.sh createdb NAME   create database NAME unless it exists
# PG_LOCAL_DIR chooses the state directory (default: <repo>/.state/pg).
# PG_LOCAL_FSYNC=off trades durability for speed in throwaway test clusters.
#
# PostgreSQL refuses to run as root. Run as root, the cluster belongs to the unprivileged
# 'postgres' user; when that user cannot reach the state directory (a checkout below a 0700
# home, say), the cluster lives under /var/tmp/ingestd-pg/ instead, in a directory named after
# the state directory, and the state directory records where in its file 'location'. No
# permission of a directory above the state directory is ever changed.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir=${PG_LOCAL_DIR:-$repo/.state/pg}
fsync=${PG_LOCAL_FSYNC:-on}
log() { echo "pg-local: $*" >&2; }

bindir=""
for candidate in /usr/lib/postgresql/*/bin; do
  [ -x "$candidate/initdb" ] && bindir=$candidate
done
if [ -z "$bindir" ]; then
  log "PostgreSQL server binaries not found under /usr/lib/postgresql (run scripts/install-deps.sh)"
  exit 1
fi

as_user=()
if [ "$(id -u)" -eq 0 ]; then
  id postgres >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin postgres
  as_user=(runuser -u postgres --)
fi
# From / so that the server user never needs to enter the caller's working directory.
run() { (cd / && "${as_user[@]}" "$@"); }

mkdir -p "$dir"
home=$dir
if [ ${#as_user[@]} -gt 0 ]; then
  if [ -s "$dir/location" ]; then
    home=$(cat "$dir/location")
  elif ! { chown postgres: "$dir" && run test -w "$dir" -a -x "$dir"; } 2>/dev/null; then
    name=$(basename "$(dirname "$(dirname "$dir")")")
    name=$(printf '%s' "$name" | tr -c 'A-Za-z0-9_.-' '_' | cut -c1-40)
    home="/var/tmp/ingestd-pg/$name-$(printf '%s' "$dir" | md5sum | cut -c1-12)"
    mkdir -p /var/tmp/ingestd-pg
    chmod 755 /var/tmp/ingestd-pg
    printf '%s\n' "$home" >"$dir/location"
  fi
  mkdir -p "$home"
  chown postgres: "$home"
fi
data="$home/data"
port_file="$home/port"
logfile="$home/postgres.log"
[ ${#as_user[@]} -gt 0 ] && { touch "$logfile"; chown postgres: "$logfile"; }

url() { echo "postgresql://ingestd@127.0.0.1:$(cat "$port_file")/ingestd"; }
running() { [ -f "$data/postmaster.pid" ] && run "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

init_cluster() {
  log "initialising a cluster in $data"
  run mkdir -p "$data"
  run "$bindir/initdb" -D "$data" -U ingestd --auth=trust --encoding=UTF8 --locale=C.UTF-8 >/dev/null
  # Tuned for bulk load on a small machine; only loopback connections are accepted.
  cat <<CONF | run tee -a "$data/postgresql.conf" >/dev/null
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
shared_buffers = 256MB
work_mem = 16MB
maintenance_work_mem = 256MB
wal_level = minimal
max_wal_senders = 0
wal_buffers = 16MB
max_wal_size = 4GB
checkpoint_timeout = 15min
synchronous_commit = off
fsync = $fsync
full_page_writes = $fsync
logging_collector = off
CONF
}

createdb() {
  local port
  port=$(cat "$port_file")
  if ! "$bindir/psql" -qtA -h 127.0.0.1 -p "$port" -U ingestd -d postgres \
    -c "SELECT 1 FROM pg_database WHERE datname = '$1'" | grep -q 1; then
    "$bindir/createdb" -h 127.0.0.1 -p "$port" -U ingestd "$1"
  fi
}

start() {
  if running; then
    url
    return
  fi
  [ -f "$data/PG_VERSION" ] || init_cluster
  if [ ! -s "$port_file" ] || port_busy "$(cat "$port_file")"; then free_port >"$port_file"; fi
  local port
  port=$(cat "$port_file")
  if ! run "$bindir/pg_ctl" -D "$data" -l "$logfile" -o "-p $port" -w -t 60 start >/dev/null; then
    log "start failed; last lines of $logfile:"
    tail -n 20 "$logfile" >&2
    exit 1
  fi
  createdb ingestd
  log "running on 127.0.0.1:$port (data: $data)"
  url
}

case "${1:-}" in
  start) start ;;
  stop) if running; then
    run "$bindir/pg_ctl" -D "$data" -m fast -w stop >/dev/null
    log "stopped"
  fi ;;
  restart)
    run "$bindir/pg_ctl" -D "$data" -l "$logfile" -o "-p $(cat "$port_file")" -m fast -w restart >/dev/null
    log "restarted"
    ;;
  status) if running; then log "running: $(url)"; else
    log "not running"
    exit 3
  fi ;;
  url) url ;;
  where) echo "$home" ;;
  createdb)
    [ -n "${2:-}" ] || {
      echo "usage: $0 createdb NAME" >&2
      exit 2
    }
    createdb "$2"
    ;;
  *)
    echo "usage: $0 start|stop|restart|status|url|where|createdb NAME" >&2
    exit 2
    ;;
esac
