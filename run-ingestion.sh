#!/usr/bin/env bash
# One-shot ingestion: set up what is missing, ingest every event, submit the IDs, print a summary.
#
#   ./run-ingestion.sh            settings from .env (if present) and the environment
#   ./run-ingestion.sh --serve    the same, then keep serving the dashboard and read API until
#                                 Ctrl-C
#   ./run-ingestion.sh status     the status of the last run (`ingestd status`), starting the
#                                 embedded PostgreSQL for the look and stopping it after
#
# While it runs, the dashboard is served on SERVE_ADDR (default: a free port of 127.0.0.1) and
# its URL printed.
#
# With no UPSTREAM_BASE_URL it runs a demo against the bundled upstream-sim (a small dataset and a
# compressed rate-limit window). With no DATABASE_URL it uses an embedded PostgreSQL whose data
# stays in .state/, so a rerun resumes where the last one stopped. Ctrl-C stops cleanly after the
# pages in flight are committed. The exit code is ingestd's (see `ingestd --help`).
set -euo pipefail

serve_after=""
status_only=""
for arg in "$@"; do
  case "$arg" in
    --serve) serve_after=1 ;;
    status) status_only=1 ;;
    -h | --help) sed -n '2,16s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "run-ingestion: unknown argument $arg (try --help)" >&2; exit 2 ;;
  esac
done

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$repo"
state="$repo/.state"
build="$repo/build-release"
mkdir -p "$state"
say() { echo "run-ingestion: $*" >&2; }

# Only the two settings that decide what to start are read here; ingestd reads the rest of .env
# itself, with validation.
dotenv_value() {
  [ -f .env ] || return 0
  sed -n -E "s/^[[:space:]]*(export[[:space:]]+)?$1[[:space:]]*=[[:space:]]*//p" .env | tail -n 1 |
    sed -E "s/[[:space:]]+#.*$//; s/^\"(.*)\"$/\1/; s/^'(.*)'$/\1/"
}
UPSTREAM_BASE_URL=${UPSTREAM_BASE_URL:-$(dotenv_value UPSTREAM_BASE_URL)}
DATABASE_URL=${DATABASE_URL:-$(dotenv_value DATABASE_URL)}
SERVE_ADDR=${SERVE_ADDR:-$(dotenv_value SERVE_ADDR)}
export SERVE_ADDR=${SERVE_ADDR:-127.0.0.1:0}

ingestd_bin="$build/ingestd"
pg_started=""
sim_pid=""
db_where="DATABASE_URL"
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
  local rc=$?
  if [ -n "$sim_pid" ]; then kill -TERM "$sim_pid" 2>/dev/null || true; wait "$sim_pid" 2>/dev/null || true; fi
  if [ -n "$pg_started" ]; then scripts/pg-local.sh stop >/dev/null 2>&1 || true; fi
  exit "$rc"
}
trap cleanup EXIT

# The embedded PostgreSQL, started unless it already runs (then whoever started it stops it).
# With "demo": the demo's database, so that demo data never mixes with a real upstream's.
start_embedded_pg() {
  scripts/pg-local.sh status >/dev/null 2>&1 || pg_started=1
  DATABASE_URL=$(scripts/pg-local.sh start)
  db_where="embedded PostgreSQL in $(scripts/pg-local.sh where)"
  if [ "$1" = demo ]; then
    DATABASE_URL="${DATABASE_URL%/*}/ingestd_demo"
    scripts/pg-local.sh createdb ingestd_demo >/dev/null
  fi
}

if [ -n "$status_only" ]; then
  [ -x "$ingestd_bin" ] || { say "nothing has run here yet: run ./run-ingestion.sh first"; exit 1; }
  if [ -z "${DATABASE_URL:-}" ]; then
    [ -d "$state/pg" ] || { say "no embedded PostgreSQL yet: run ./run-ingestion.sh first"; exit 1; }
    start_embedded_pg "${UPSTREAM_BASE_URL:-demo}"
  fi
  say "the last run against ${UPSTREAM_BASE_URL:-the bundled simulator (demo)}, as the $db_where holds it:"
  set +e
  DATABASE_URL=$DATABASE_URL "$ingestd_bin" status
  rc=$?
  set -e
  exit "$rc"
fi

scripts/install-deps.sh >&2

# Only what the one-shot runs: no test suites, so their tools need not be installed.
build_ingestd() {
  cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=Release -DINGESTD_BUILD_TESTS=OFF &&
    cmake --build "$build" -j 2 --target ingestd upstream-sim
}
[ -f "$build/CMakeCache.txt" ] || say "building ingestd (Release, first run only)"
if ! build_ingestd >"$state/build.log" 2>&1; then
  cat "$state/build.log" >&2
  say "build failed"
  exit 1
fi

demo=""
if [ -z "${UPSTREAM_BASE_URL:-}" ]; then
  demo=1
  say "UPSTREAM_BASE_URL is not set: running a DEMO against the bundled upstream-sim"
  say "(200,000 events, 10 requests per 2 s window). Set UPSTREAM_BASE_URL and UPSTREAM_API_KEY"
  say "in .env to ingest from the real upstream."
  "$build/tests/sim/upstream-sim" --port 0 --events 200000 --seed 1 --limit 10 --window-s 2 \
    --latency-ms-per-event 0.02 --api-key demo-key >"$state/sim.out" 2>"$state/sim.log" &
  sim_pid=$!
  sim_addr=$(scripts/wait-listening.sh "$state/sim.out" "$sim_pid") ||
    { cat "$state/sim.log" >&2; say "upstream-sim did not start"; exit 1; }
  export UPSTREAM_BASE_URL="http://$sim_addr" UPSTREAM_API_KEY=demo-key
  export SUBMISSION_REPO=${SUBMISSION_REPO:-https://github.com/ingestd/ingestd}
fi

if [ -z "${DATABASE_URL:-}" ]; then
  say "DATABASE_URL is not set: using the embedded PostgreSQL in .state/pg"
  start_embedded_pg "${demo:+demo}"
fi
export DATABASE_URL

started=$(date +%s.%N)
set +e
# The log copy ignores Ctrl-C so that ingestd can still write while it commits and stops. It
# ends when the last writer closes fd 3, so once it has exited, last-run.log is complete.
exec 3> >(trap '' INT TERM; exec tee "$state/last-run.log" >&2)
tee_pid=$!
"$ingestd_bin" run 2>&3 3>&- &
ingestd_pid=$!
# The dashboard's address, once ingestd has bound it; the log is read once more after the copy
# ended, so a short run's address is printed too.
(
  exec 3>&-
  for _ in $(seq 600); do
    copying=""
    kill -0 "$tee_pid" 2>/dev/null && copying=1
    url=$(sed -n 's|.*(dashboard \(http://[^)]*\)).*|\1|p' "$state/last-run.log" 2>/dev/null | head -n 1)
    if [ -n "$url" ]; then say "dashboard: $url"; break; fi
    [ -n "$copying" ] || break
    sleep 0.1
  done
) &
watch_pid=$!
# Ctrl-C reaches ingestd too (same process group); waiting again lets it finish its commit.
trap 'say "stopping: waiting for ingestd to commit the pages in flight"' INT TERM
wait "$ingestd_pid"; rc=$?
while kill -0 "$ingestd_pid" 2>/dev/null; do wait "$ingestd_pid"; rc=$?; done
exec 3>&-
while kill -0 "$tee_pid" 2>/dev/null; do wait "$tee_pid"; done
while kill -0 "$watch_pid" 2>/dev/null; do wait "$watch_pid"; done
set -e
elapsed=$(python3 -c "import time; print(f'{time.time() - $started:.1f}')")

status_json=$("$ingestd_bin" status --json 2>/dev/null || echo '{}')
STATUS_JSON="$status_json" ELAPSED="$elapsed" RC="$rc" DB_WHERE="$db_where" \
  LAST_LINE="$(grep -E 'ingestion complete:|stopped:' "$state/last-run.log" | tail -n 1)" python3 - <<'PY'
import json, os, re
st = json.loads(os.environ["STATUS_JSON"] or "{}")
line = os.environ["LAST_LINE"]
m = re.search(r"429s (\d+)", line)
rate = re.search(r"rate (\d+)", line)
elapsed = float(os.environ["ELAPSED"])
events = st.get("stored_events", 0)
subs = st.get("submissions", [])
verdict = "not submitted"
if subs:
    last = subs[-1]
    verdict = f"attempt {last['attempt']}: {last['outcome']}"
    try:
        response = json.loads(last.get("response") or "{}")
    except ValueError:
        response = {}
    v = response.get("verdict") if isinstance(response, dict) else None
    if v:
        verdict += f" (received {v['received']}, missing {v['missing']}, duplicates {v['duplicates']})"
    elif isinstance(response, dict) and response.get("message"):
        verdict += f" ({response['message']})"
rows = [
    ("events stored", f"{events:,}" + (f" of {st['upstream_total']:,}" if st.get("upstream_total") else "")),
    ("duration", f"{elapsed:.1f} s"),
    ("events/s (this run)", f"{int(rate.group(1)):,}" if rate else "-"),
    ("HTTP 429 received", m.group(1) if m else "-"),
    ("quarantined", f"{st.get('quarantined', 0):,}"),
    ("ingestion", "complete" if st.get("done") else "in progress (rerun to resume)"),
    ("submission", verdict),
    ("database", os.environ["DB_WHERE"]),
    ("exit code", os.environ["RC"]),
]
w = max(len(k) for k, _ in rows)
print("\n" + "-" * (w + 40))
for k, v in rows:
    print(f"{k:<{w}}  {v}")
print("-" * (w + 40))
PY

if [ -n "$serve_after" ] && [ "$rc" = 0 ]; then
  if [ -n "$sim_pid" ]; then kill -TERM "$sim_pid" 2>/dev/null || true; wait "$sim_pid" 2>/dev/null || true; sim_pid=""; fi
  # The port ingestd run used, so the page already open keeps working.
  port=$(sed -n 's|.*(dashboard http://[^)]*:\([0-9]*\)/).*|\1|p' "$state/last-run.log" | head -n 1)
  addr=$SERVE_ADDR
  if [ -n "$port" ]; then addr="${SERVE_ADDR%:*}:$port"; fi
  say "serving the dashboard and read API on http://$addr/ until Ctrl-C"
  trap 'say "stopping the server"' INT TERM
  set +e
  SERVE_ADDR=$addr "$ingestd_bin" serve
  set -e
fi
exit "$rc"
