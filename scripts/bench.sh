#!/usr/bin/env bash
# Benchmarks ingestd against baselines measured in the same run, on this machine, and writes
# bench/results.md (also printed). Never part of CI: figures are ratios, not pass/fail.
# `scripts/bench.sh follow` runs row 8 alone (following a live feed, about 3 minutes) and puts
# it in place of the one in bench/results.md. `scripts/bench.sh copy` runs rows 1 and 1b alone
# (unthrottled ingestion against psql \copy, about 6 minutes) and only prints them, since other
# rows of bench/results.md compare with row 1's figures: a quick check of COPY speed between two
# commits, run one after the other on the same machine.
#   BENCH_EVENTS     events for the unthrottled run and the submission (default 3000000)
#   BENCH_RL_PAGES   pages in the compressed rate-limited run, 10 per 2 s (default 100)
#   BENCH_CONTRACT_PAGES  pages in the run shaped like the contract: 10 per 60 s, about 3.5 s
#                    per 5,000-event page (default 30; 0 skips it)
# The floor of a rate-limited run is what a client that knew the window exactly would need with
# the server's real service times, read from the simulator's log of arrivals and answers: page k
# leaves at the later of "page k-1 came back" and "request k-limit left the window". With several
# API keys, each with a sliding log of its own, the floor sends each page on the key whose slot
# frees first (the chain stays sequential).
# Starts its own PostgreSQL and upstream-sim on 127.0.0.1 and stops them when done.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build="$repo/build-release"
events=${BENCH_EVENTS:-3000000}
rl_pages=${BENCH_RL_PAGES:-100}
contract_pages=${BENCH_CONTRACT_PAGES:-30}
work=$(mktemp -d /tmp/ingestd-bench.XXXXXX)
chmod 755 "$work"
say() { echo "bench: $*" >&2; }

"$repo/scripts/install-deps.sh" >&2
cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j 2 --target ingestd upstream-sim sim-bench >&2
ingestd="$build/ingestd"
sim_bin="$build/tests/sim/upstream-sim"

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  PG_LOCAL_DIR="$work/pg" "$repo/scripts/pg-local.sh" stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

admin_url=$(PG_LOCAL_DIR="$work/pg" "$repo/scripts/pg-local.sh" start)
psql_admin() { PGOPTIONS="-c client_min_messages=warning" psql -qtA "$admin_url" "$@"; }
new_db() { psql_admin -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1" >/dev/null; echo "${admin_url%/*}/$1"; }

# start_sim NAME ARGS...: starts upstream-sim, sets $sim_url.
start_sim() {
  local name=$1; shift
  "$sim_bin" --port 0 "$@" >"$work/$name.out" 2>"$work/$name.log" &
  pids+=($!)
  local addr
  addr=$("$repo/scripts/wait-listening.sh" "$work/$name.out" "$!") ||
    { cat "$work/$name.log" >&2; say "upstream-sim ($name) did not start"; exit 1; }
  sim_url="http://$addr"
}

# measure CMD...: runs CMD; prints "<seconds> <peak RSS KiB> <exit code>".
measure() {
  python3 - "$@" <<'PY'
import resource, subprocess, sys, time
t = time.monotonic()
rc = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=open("/dev/null", "w"))
print(f"{time.monotonic() - t:.3f} {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss} {rc}")
PY
}
ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }
rate() { python3 -c "print(f'{$1 / $2:,.0f}')"; }
thousands() { python3 -c "print(f'{$1:,}')"; }
# paging SIM_URL LIMIT WINDOW_S [KEYS]: "<paging s> <floor s> <requests> <429s> <max in window>"
# from the simulator's request log; the floor is for KEYS keys (default 1), each LIMIT per window.
paging() {
  curl -fsS "$1/internal/stats" | python3 -c '
import json, sys
limit, window, keys = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
st = json.load(sys.stdin)
log = st["request_log"]
service = [(done - arrived) / 1000 for arrived, done, status in log if status == 200]
leaves, per_key = [], [[] for _ in range(keys)]
for k in range(len(service)):
    t = 0.0 if k == 0 else leaves[k - 1] + service[k - 1]
    slot = lambda sent: t if len(sent) < limit else max(t, sent[-limit] + window)
    key = min(range(keys), key=lambda j: slot(per_key[j]))
    t = slot(per_key[key])
    per_key[key].append(t)
    leaves.append(t)
floor = leaves[-1] + service[-1]
paging = (max(done for _, done, _ in log) - log[0][0]) / 1000
refused = st["status_counts"].get("429", 0)
peak = st["max_in_window"]
print(f"{paging:.3f} {floor:.3f} {len(log)} {refused} {peak}")
' "$2" "$3" "${4:-1}"
}
mib() { python3 -c "print(f'{$1 / 1024:.1f}')"; }

common_env=(env UPSTREAM_API_KEY=bench-key SUBMIT_ON_FINISH=false LOG_LEVEL=warn HTTP_GZIP=false)

# start_serve DB [ENV...]: starts `ingestd serve` on a free port of 127.0.0.1; sets $serve_pid
# and $serve_port.
start_serve() {
  local db=$1; shift
  env "$@" SERVE_ADDR=127.0.0.1:0 LOG_LEVEL=info DATABASE_URL="$db" "$ingestd" serve >"$work/serve.log" 2>&1 &
  serve_pid=$!
  pids+=("$serve_pid")
  serve_port=""
  for _ in $(seq 200); do
    serve_port=$(sed -n 's|.*read API on http://127.0.0.1:\([0-9]*\)/v1/.*|\1|p' "$work/serve.log")
    [ -n "$serve_port" ] && break
    sleep 0.05
  done
  [ -n "$serve_port" ] || { say "ingestd serve did not start"; cat "$work/serve.log" >&2; exit 1; }
}

# wrk_figure NAME ROUTE CONNECTIONS [SECONDS]: wrk for 20 s (or SECONDS); prints "<p50 ms>
# <p99 ms> <req/s> <errors>".
wrk_figure() {
  USERS="$work/users.txt" ROUTE=$2 wrk -t2 -c"$3" -d"${4:-20}"s -s "$repo/bench/wrk/read_api.lua" \
    "http://127.0.0.1:$serve_port" | sed -n 's/^RESULT //p'
}

# percentiles FILE: "<p50> <p99>" of the numbers in FILE (one a line).
percentiles() {
  python3 - "$1" <<'PY'
import sys
v = sorted(float(x) for x in open(sys.argv[1]) if x.strip())
print(f"{v[len(v) // 2]:.3f} {v[min(len(v) - 1, int(len(v) * 0.99))]:.3f}")
PY
}

# follow_row: `ingestd run` following a live feed of 200 events/s (10 requests/s) with
# FOLLOW_INTERVAL_S=1; sets $follow_row, row 8 of the table. The lag of an event is from the
# instant it appeared upstream (the simulator's feed start + its arrival number / rate) to its
# row's ingested_at (its transaction's start, just before the commit). The read figures ask per-user
# counts for a range that ends an hour before the head, while the head moves; the baseline asks
# the same questions as one GROUP BY over events, through libpq (pgbench, 4 clients).
follow_row() {
  local rate=200
  start_sim live --events 300000 --live-rate "$rate" --limit 10 --window-s 1 \
    --latency-ms-per-event 0.01 --api-key bench-key --seed 8
  local live_url=$sim_url db
  db=$(new_db bench_follow)
  "${common_env[@]}" UPSTREAM_BASE_URL="$live_url" DATABASE_URL="$db" FOLLOW_INTERVAL_S=1 \
    "$ingestd" run >"$work/follow.log" 2>&1 &
  local follower=$!
  pids+=("$follower")
  until [ "$(psql -qtA "$db" -c "SELECT coalesce(max(syncs), 0) FROM ingest_checkpoint" 2>/dev/null)" -ge 3 ] 2>/dev/null; do sleep 0.2; done
  # The lag is that of following: events that appeared after the first pass and two syncs.
  local following_ms
  following_ms=$(date +%s%3N)
  # Users of the dataset, and a range that ends an hour before its newest event (the live
  # events come after it).
  psql -qtA "$db" -c "SELECT DISTINCT user_id FROM events WHERE user_id IS NOT NULL" >"$work/users.txt"
  local range="starting_at=2026-01-20T00:00:00Z&ending_before=2026-01-27T18:20:12Z"
  start_serve "$db" METRICS_ADDR=127.0.0.1:0
  wrk_figure warmup counts 4 5 >/dev/null
  local metrics_port hits0 hits1
  metrics_port=$(sed -n 's|.*Prometheus text on .* (port \([0-9]*\)).*|\1|p' "$work/serve.log")
  cache_counts() {
    curl -fsS "http://127.0.0.1:$metrics_port/metrics" |
      sed -n 's/^ingestd_serve_cache_requests_total{result="\(hit\|miss\)"} \([0-9]*\)$/\2/p' | tr '\n' ' '
  }
  hits0=$(cache_counts)
  local r_p50 r_p99 r_rps r_err
  read -r r_p50 r_p99 r_rps r_err <<<"$(RANGE=$range wrk_figure counts counts 4)"
  hits1=$(cache_counts)
  local kept
  kept=$(python3 -c "h0, m0 = map(int, '$hits0'.split()); h1, m1 = map(int, '$hits1'.split()); print(f'{100 * (h1 - h0) / max(1, h1 - h0 + m1 - m0):.0f} %')")
  kill -TERM "$serve_pid"; wait "$serve_pid" 2>/dev/null || true
  # The same questions through libpq: one GROUP BY per question, 4 clients for 20 s.
  psql -qtA "$db" -c "CREATE TABLE bench_users (n serial PRIMARY KEY, user_id text NOT NULL)" \
    -c "INSERT INTO bench_users (user_id) SELECT DISTINCT user_id FROM events WHERE user_id IS NOT NULL" >/dev/null
  local nusers
  nusers=$(psql -qtA "$db" -c "SELECT count(*) FROM bench_users")
  cat >"$work/group_by.sql" <<SQL
\\set u random(1, $nusers)
SELECT date_bin('1 hour', occurred_at, timestamptz 'epoch') AS bucket, count(*) FROM events
WHERE user_id = (SELECT user_id FROM bench_users WHERE n = :u)
  AND occurred_at >= '2026-01-20T00:00:00Z' AND occurred_at < '2026-01-27T18:20:12Z'
GROUP BY 1 ORDER BY 1;
SQL
  (cd "$work" && pgbench -n -M prepared -c 4 -j 2 -T 20 -f group_by.sql --log --log-prefix=pgb "$db" >/dev/null 2>&1)
  cat "$work"/pgb.* | awk '{print $3 / 1000}' >"$work/pgb_ms.txt"
  local s_p50 s_p99 s_rps
  read -r s_p50 s_p99 <<<"$(percentiles "$work/pgb_ms.txt")"
  s_rps=$(python3 -c "print(f'{$(wc -l <"$work/pgb_ms.txt") / 20:,.0f}')")
  rm -f "$work"/pgb.*
  # The feed stops; the follower catches up, then idles.
  local total started
  total=$(curl -fsS -X POST -d '' "$live_url/internal/feed/stop" | python3 -c "import json, sys; print(json.load(sys.stdin)['total'])")
  started=$(curl -fsS "$live_url/internal/stats" | python3 -c "import json, sys; print(json.load(sys.stdin)['live_started_unix_ms'])")
  until [ "$(psql -qtA "$db" -c "SELECT count(*) FROM events")" -ge "$total" ]; do sleep 0.2; done
  psql -qtA "$db" -c "SELECT extract(epoch FROM ingested_at) * 1000 - ($started + (properties->>'arrival')::bigint * 1000.0 / $rate) FROM events WHERE name = 'event_live' AND $started + (properties->>'arrival')::bigint * 1000.0 / $rate > $following_ms" |
    awk '{print $1 / 1000}' >"$work/lag_s.txt"
  local lag_p50 lag_p99 live_events
  read -r lag_p50 lag_p99 <<<"$(percentiles "$work/lag_s.txt")"
  live_events=$(wc -l <"$work/lag_s.txt")
  # Idle: the interval has grown to its cap (1, 2, 4, 8, then 10 s) after 30 s.
  sleep 30
  local req0 req1
  req0=$(curl -fsS "$live_url/internal/stats" | python3 -c "import json, sys; print(json.load(sys.stdin)['requests'])")
  sleep 60
  req1=$(curl -fsS "$live_url/internal/stats" | python3 -c "import json, sys; print(json.load(sys.stdin)['requests'])")
  local r429
  r429=$(curl -fsS "$live_url/internal/stats" | python3 -c "import json, sys; print(json.load(sys.stdin)['status_counts'].get('429', 0))")
  kill -TERM "$follower"; wait "$follower" 2>/dev/null || true
  follow_row="| 8 | following a live feed of $rate events/s at 10 req/s (\`FOLLOW_INTERVAL_S=1\`, 300,000 events first) | lag from appearing upstream to committed: p50 ${lag_p50} s, p99 ${lag_p99} s over the $(thousands "$live_events") events that appeared while it followed, $r429 × 429; idle: $((req1 - req0)) requests/min; per-user counts for a range ending an hour before the head while it moves, 4 connections: p50 ${r_p50} ms, p99 ${r_p99} ms, ${r_rps} req/s, ${kept} kept, $r_err errors | the same questions as one SQL \`GROUP BY\` over events through libpq (pgbench, 4 clients): p50 ${s_p50} ms, p99 ${s_p99} ms, ${s_rps} req/s | **$(ratio "$r_p99" "$s_p99")** (p99) | lag ≤ 1 s + one page; idle ≤ 6/min; p99 ≤ 5 ms, ≥ 90 % kept |"
}

# Rows 1 and 1b against the unthrottled simulator at $sim_url: ingestd's events/s and psql \copy
# of the same rows into the same table; sets $db_big, $stored, $ingest_eps, $copy_eps,
# $rss_big, $copy_row and $copy_pk_row.
copy_rows() {
  db_big=$(new_db bench_big)
  read -r t_ingest rss_big rc <<<"$(measure "${common_env[@]}" UPSTREAM_BASE_URL="$sim_url" DATABASE_URL="$db_big" "$ingestd" run)"
  [ "$rc" = 0 ] || { say "ingestd run failed ($rc)"; exit 1; }
  stored=$(psql -qtA "$db_big" -c "SELECT count(*) FROM events")
  # Baseline: the same rows, as COPY text, loaded by psql \copy into an identical empty table.
  psql -qtA "$db_big" -c "\\copy (SELECT id, occurred_at, type, name, user_id, session_id, properties, session FROM events) TO '$work/rows.copy'"
  # The same table with the same indexes (the read side's included); and, to show what those
  # indexes cost, a table with the primary key alone (the schema before the read side).
  psql -qtA "$db_big" -c "CREATE TABLE events_copy (LIKE events INCLUDING ALL)" >/dev/null
  read -r t_copy _ _ <<<"$(measure psql -qtA "$db_big" -c "\\copy events_copy (id, occurred_at, type, name, user_id, session_id, properties, session) FROM '$work/rows.copy'")"
  psql -qtA "$db_big" -c "DROP TABLE events_copy" -c "CREATE TABLE events_pk (LIKE events INCLUDING DEFAULTS)" -c "ALTER TABLE events_pk ADD PRIMARY KEY (id)" >/dev/null
  read -r t_copy_pk _ _ <<<"$(measure psql -qtA "$db_big" -c "\\copy events_pk (id, occurred_at, type, name, user_id, session_id, properties, session) FROM '$work/rows.copy'")"
  psql -qtA "$db_big" -c "DROP TABLE events_pk" >/dev/null
  ingest_eps=$(rate "$stored" "$t_ingest"); copy_eps=$(rate "$stored" "$t_copy"); copy_pk_eps=$(rate "$stored" "$t_copy_pk")
  copy_ratio=$(python3 -c "print(f'{($stored/$t_ingest) / ($stored/$t_copy):.2f}')")
  copy_pk_ratio=$(python3 -c "print(f'{($stored/$t_ingest) / ($stored/$t_copy_pk):.2f}')")
  copy_row="| 1 | unthrottled ingestion with rollups, $(thousands "$stored") events | $ingest_eps events/s | raw \`\\copy\` of the same rows into the same table (same indexes): $copy_eps rows/s | **$copy_ratio** | ≥ 0.7 |"
  copy_pk_row="| 1b | the same, against the table before the read side | $ingest_eps events/s | raw \`\\copy\` into a table with the primary key only: $copy_pk_eps rows/s | **$copy_pk_ratio** | (what the per-user and time indexes cost) |"
}

case "${1:-}" in
  follow)
    say "8 following a live feed (only this row)"
    follow_row
    # In place of row 8, or before the simulator's own figure (the table's last row).
    python3 - "$repo/bench/results.md" "$follow_row" <<'PY'
import sys
path, row = sys.argv[1], sys.argv[2]
lines = open(path).read().splitlines()
lines = [l for l in lines if not l.startswith("| 8 |")]
at = next((i for i, l in enumerate(lines) if l.startswith("| – | upstream-sim")),
          max(i for i, l in enumerate(lines) if l.startswith("| ")) + 1)
lines.insert(at, row)
open(path, "w").write("\n".join(lines) + "\n")
PY
    echo "$follow_row"
    exit 0
    ;;
  copy)
    say "1 unthrottled ingestion of $events events against psql \\copy (only rows 1 and 1b, printed)"
    start_sim unthrottled --events "$events" --unlimited --latency-ms-per-event 0 --api-key bench-key --seed 3
    copy_rows
    printf '%s\n' "$copy_row" "$copy_pk_row"
    exit 0
    ;;
esac

say "1/8 simulator throughput and unthrottled ingestion of $events events"
start_sim unthrottled --events "$events" --unlimited --latency-ms-per-event 0 --api-key bench-key --seed 3
sim_line=$("$build/tests/sim/sim-bench" --url "$sim_url" --api-key bench-key)
sim_pps=$(sed -E 's/.*pages_per_s=([0-9.]+).*/\1/' <<<"$sim_line")
copy_rows

say "2/8 submission of $stored IDs"
read -r t_submit rss_submit rc <<<"$(measure "${common_env[@]}" UPSTREAM_BASE_URL="$sim_url" DATABASE_URL="$db_big" "$ingestd" submit)"
submit_ok=$([ "$rc" = 0 ] && echo accepted || echo "failed ($rc)")
verdict=$(curl -fsS "$sim_url/internal/stats" | python3 -c "import json,sys; s=json.load(sys.stdin)['submissions'][-1]; print(f\"received {s['received']:,}, missing {s['missing']}, duplicates {s['duplicates']}\")")

# read_figures PREFIX [ENV...]: `ingestd serve` with ENV on the big database; wrk figures of the
# three routes set fig[PREFIX_{counts,summary,global}_{p50,p99,rps}] and add to $read_errors;
# fig[PREFIX_hits] is the share of answers sent from the answer cache.
declare -A fig
read_figures() {
  local prefix=$1; shift
  start_serve "$db_big" METRICS_ADDR=127.0.0.1:0 "$@"
  # A server that has run a while: every pooled connection has prepared its statements.
  for route in counts summary global; do wrk_figure warmup "$route" 16 5 >/dev/null; done
  local route p50 p99 rps err
  for route in counts summary global; do
    read -r p50 p99 _ err <<<"$(wrk_figure "$route" "$route" 4)"
    fig[${prefix}_${route}_p50]=$p50
    fig[${prefix}_${route}_p99]=$p99
    read_errors=$((read_errors + err))
  done
  for route in counts summary global; do
    read -r _ _ rps err <<<"$(wrk_figure "$route" "$route" 16)"
    fig[${prefix}_${route}_rps]=$rps
    read_errors=$((read_errors + err))
  done
  local metrics_port
  metrics_port=$(sed -n 's|.*Prometheus text on .* (port \([0-9]*\)).*|\1|p' "$work/serve.log")
  fig[${prefix}_hits]="$(curl -fsS "http://127.0.0.1:$metrics_port/metrics" | python3 -c "
import re, sys
text = sys.stdin.read()
hit, miss = (int(re.search(r'ingestd_serve_cache_requests_total\{result=\"%s\"\} (\d+)' % r, text).group(1)) for r in ('hit', 'miss'))
print(f'{100 * hit / max(1, hit + miss):.0f} %')")"
  kill -TERM "$serve_pid"; wait "$serve_pid" 2>/dev/null || true
}

say "2b/8 read API on the $stored events: wrk, 20 s per figure, answers kept and computed"
# Steady state: the load's dirty pages written out, statistics and visibility map current.
psql -qtA "$db_big" -c "VACUUM ANALYZE" -c "CHECKPOINT" >/dev/null
psql -qtA "$db_big" -c "SELECT DISTINCT user_id FROM events WHERE user_id IS NOT NULL" >"$work/users.txt"
read_errors=0
read_figures kept
read_figures computed SERVE_CACHE_MB=0

push_batches=${BENCH_PUSH_BATCHES:-1000}
# push_run SPREAD BATCHES: a fresh database, `ingestd serve`, 8 clients; sets $pushed to what
# bench/push_client.py prints.
push_run() {
  local db
  db=$(new_db "bench_push_$1")
  DATABASE_URL="$db" LOG_LEVEL=warn "$ingestd" migrate >/dev/null 2>&1
  start_serve "$db" SERVE_API_KEY=bench-push-key
  pushed=$(python3 "$repo/bench/push_client.py" "$serve_port" bench-push-key "$2" 8 "$1")
  kill -TERM "$serve_pid"; wait "$serve_pid" 2>/dev/null || true
}
say "2c/8 push ingest: $push_batches batches of 1,000 new recent events, then 200 batches spread over a month, 8 clients"
push_run recent "$push_batches"
read -r push_eps push_accepted push_failed t_push <<<"$pushed"
push_run month 200
read -r push_month_eps push_month_accepted push_month_failed t_push_month <<<"$pushed"
push_ratio=$(python3 -c "print(f'{$push_eps / ($stored / $t_ingest):.2f}')")
push_month_ratio=$(python3 -c "print(f'{$push_month_eps / ($stored / $t_ingest):.2f}')")

say "3/8 peak RSS at 1,000,000 events"
start_sim small --events 1000000 --unlimited --latency-ms-per-event 0 --api-key bench-key --seed 4
small_url=$sim_url
db_small=$(new_db bench_small)
read -r _ rss_small rc <<<"$(measure "${common_env[@]}" UPSTREAM_BASE_URL="$sim_url" DATABASE_URL="$db_small" "$ingestd" run)"

# limited_run NAME PAGES LIMIT WINDOW_S MS_PER_EVENT SEED [KEYS] [PAGE_EVENTS]: one rate-limited
# run of PAGES pages of PAGE_EVENTS events (default 5,000) on KEYS API keys (default 1), each with
# LIMIT per window of its own; sets $paged to what paging prints. Not run in a subshell: the
# simulator it starts must stay in $pids for cleanup.
limited_run() {
  local keys=${7:-1} page=${8:-5000} more=() list=bench-key db
  for k in $(seq 2 "$keys"); do list="$list,bench-key-$k"; done
  [ "$keys" -gt 1 ] && more=(--more-api-keys "${list#bench-key,}")
  start_sim "$1" --events $(($2 * page)) --limit "$3" --window-s "$4" --latency-ms-per-event "$5" \
    --api-key bench-key --seed "$6" "${more[@]}"
  db=$(new_db "bench_$1")
  "${common_env[@]}" UPSTREAM_API_KEY= UPSTREAM_API_KEYS="$list" PAGE_LIMIT="$page" \
    UPSTREAM_BASE_URL="$sim_url" DATABASE_URL="$db" "$ingestd" run >/dev/null 2>&1 ||
    { say "rate-limited run $1 failed"; exit 1; }
  paged=$(paging "$sim_url" "$3" "$4" "$keys")
}

# key_rows ROW PAGES LIMIT WINDOW_S MS_PER_EVENT SEED SHAPE PAGE_EVENTS [ONE_KEY_S]: rows for 1, 2
# and 3 keys against the floor for that many keys; ONE_KEY_S, when given, is a one-key run of
# the same shape measured already (its row is elsewhere in the table).
key_rows() {
  local keys one=${9:-}
  for keys in 1 2 3; do
    [ "$keys" = 1 ] && [ -n "$one" ] && continue
    limited_run "keys$keys$1" "$2" "$3" "$4" "$5" "$6" "$keys" "$8"
    read -r t_k floor_k k_requests k_429 k_max <<<"$paged"
    [ "$keys" = 1 ] && one=$t_k
    key_table+="| $1 | $keys API key(s), $2 pages of $(thousands "$8") at $7 per key | $t_k s paging ($(ratio "$one" "$t_k") × one key's speed), $k_requests requests, $k_429 × 429, at most $k_max in a key's window | honest floor for $keys key(s) $floor_k s | **$(ratio "$t_k" "$floor_k")** × floor | 0 × 429, ≤ 1.05 × floor |"$'\n'
  done
}
key_table=""

say "4/8 rate-limited run: $rl_pages pages at 10 requests per 2 s"
limited_run rl "$rl_pages" 10 2 0.02 5
read -r t_rl floor_rl rl_requests rl_429 rl_max <<<"$paged"

contract_row="| 2b | contract shape: skipped (BENCH_CONTRACT_PAGES=0) | | | | |"
if [ "$contract_pages" -gt 0 ]; then
  say "5/8 contract shape: $contract_pages pages of 5,000 at 10 requests per 60 s, 0.7 ms per event"
  limited_run contract "$contract_pages" 10 60 0.7 6
  read -r t_c floor_c c_requests c_429 c_max <<<"$paged"
  contract_row="| 2b | rate-limited like the contract, $contract_pages pages at 10 req / 60 s, ~3.5 s a page | $t_c s paging, $c_requests requests, $c_429 × 429, at most $c_max in a window | honest floor $floor_c s | **$(ratio "$t_c" "$floor_c")** × floor | 0 × 429, ≤ 1.01 × floor |"
fi

say "5b/8 several API keys: 1, 2 and 3 keys at 10 per 2 s, and 2 and 3 shaped like the contract"
# 1,000-event pages that take about 100 ms: with two keys the latency binds, not the database.
key_rows 2d "$rl_pages" 10 2 0.1 5 "10 req / 2 s, ~0.1 s a page" 1000
if [ "$contract_pages" -gt 0 ]; then
  key_rows 2e "$contract_pages" 10 60 0.7 6 "10 req / 60 s, ~3.5 s a page" 5000 "$t_c"
fi

say "6/8 unmetered upstream without rate headers, $events events"
start_sim silent --events "$events" --unlimited --rate-dialect none --latency-ms-per-event 0 --api-key bench-key --seed 3
db_silent=$(new_db bench_silent)
read -r t_silent _ rc <<<"$(measure "${common_env[@]}" UPSTREAM_BASE_URL="$sim_url" DATABASE_URL="$db_silent" "$ingestd" run)"
[ "$rc" = 0 ] || { say "ingestd run without rate headers failed ($rc)"; exit 1; }
silent_stored=$(psql -qtA "$db_silent" -c "SELECT count(*) FROM events")
silent_eps=$(rate "$silent_stored" "$t_silent")
silent_ratio=$(python3 -c "print(f'{($silent_stored/$t_silent) / ($stored/$t_copy):.2f}')")

say "7/8 resume after kill -9"
db_resume=$(new_db bench_resume)
"${common_env[@]}" UPSTREAM_BASE_URL="$small_url" DATABASE_URL="$db_resume" "$ingestd" run >/dev/null 2>&1 &
victim=$!
sleep 2
kill -KILL "$victim"; wait "$victim" 2>/dev/null || true
before=$(psql -qtA "$db_resume" -c "SELECT pages FROM ingest_checkpoint")
t0=$(date +%s.%N)
"${common_env[@]}" UPSTREAM_BASE_URL="$small_url" DATABASE_URL="$db_resume" "$ingestd" run >/dev/null 2>&1 &
resumed=$!
pids+=("$resumed")
while [ "$(psql -qtA "$db_resume" -c "SELECT pages FROM ingest_checkpoint")" = "$before" ]; do sleep 0.01; done
t_resume=$(python3 -c "print(f'{$(date +%s.%N) - $t0:.2f}')")
kill -TERM "$resumed" 2>/dev/null || true

say "8/8 following a live feed"
follow_row

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
mem=$(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)
mkdir -p "$repo/bench"
cat >"$repo/bench/results.md" <<MD
# Benchmark results

Machine: $(nproc) cores, $cpu, $mem RAM; PostgreSQL $(psql_admin -c "SHOW server_version"), $(date -u +%Y-%m-%d).
Produced by \`scripts/bench.sh\`; every ratio compares figures measured in the same run.

| # | what | measured | baseline (same run) | ratio | target |
|---|---|---|---|---|---|
$copy_row
$copy_pk_row
| 2 | rate-limited, $rl_pages pages at 10 req / 2 s | $t_rl s paging, $rl_requests requests, $rl_429 × 429, at most $rl_max in a window | honest floor $floor_rl s | **$(ratio "$t_rl" "$floor_rl")** × floor | 0 × 429, ≤ 1.01 × floor |
$contract_row
${key_table}| 2c | unmetered upstream without rate headers, $(thousands "$silent_stored") events | $silent_eps events/s | raw \`\\copy\` (row 1): $copy_eps rows/s | **$silent_ratio** | ≥ 0.7 |
| 3 | peak RSS of \`ingestd run\` | 1M events: $(mib "$rss_small") MiB; $(thousands "$stored") events: $(mib "$rss_big") MiB | | $(ratio "$rss_big" "$rss_small") (3M ÷ 1M) | ≤ 64 MiB, flat |
| 4 | submission of $(thousands "$stored") IDs | $(rate "$stored" "$t_submit") IDs/s, peak RSS $(mib "$rss_submit") MiB, $submit_ok ($verdict) | | | ≥ 1M IDs/s, ≤ 64 MiB |
| 5 | resume after kill -9 | ${t_resume} s to the first committed page | | | |
| 6a | read API, per-user counts (1h buckets, the user's whole range, random users) | answers kept (${fig[kept_hits]} sent from the cache): 4 connections p50 ${fig[kept_counts_p50]} ms, p99 ${fig[kept_counts_p99]} ms; 16 connections ${fig[kept_counts_rps]} req/s | every answer computed (\`SERVE_CACHE_MB=0\`): p50 ${fig[computed_counts_p50]} ms, p99 ${fig[computed_counts_p99]} ms; ${fig[computed_counts_rps]} req/s | | p99 ≤ 5 ms; ≥ 3,000 req/s |
| 6b | read API, per-user summary (random users) | answers kept: 4 connections p50 ${fig[kept_summary_p50]} ms, p99 ${fig[kept_summary_p99]} ms; 16 connections ${fig[kept_summary_rps]} req/s | computed: p50 ${fig[computed_summary_p50]} ms, p99 ${fig[computed_summary_p99]} ms; ${fig[computed_summary_rps]} req/s | | p99 ≤ 5 ms; ≥ 3,000 req/s |
| 6c | read API, global counts (15m buckets over the whole month) | answers kept: 4 connections p50 ${fig[kept_global_p50]} ms, p99 ${fig[kept_global_p99]} ms; 16 connections ${fig[kept_global_rps]} req/s | computed: p50 ${fig[computed_global_p50]} ms, p99 ${fig[computed_global_p99]} ms; ${fig[computed_global_rps]} req/s | | p99 ≤ 20 ms |
| – | read API errors (non-2xx, socket) over all wrk runs | $read_errors | | | 0 |
| 7 | push ingest, $push_batches batches of 1,000 new events, each batch five minutes of events (as devices push them), 8 concurrent clients | $(thousands "$push_eps") events/s ($(thousands "$push_accepted") accepted in $t_push s, $push_failed non-200) | unthrottled pull (row 1): $ingest_eps events/s | **$push_ratio** | ≥ 0.5 |
| 7b | push ingest, worst case: 200 batches whose events lie at random instants of a month (each batch updates thousands of rollup rows) | $(thousands "$push_month_eps") events/s ($(thousands "$push_month_accepted") accepted in $t_push_month s, $push_month_failed non-200) | unthrottled pull (row 1): $ingest_eps events/s | $push_month_ratio | |
$follow_row
| – | upstream-sim, unlimited, 5000-event pages | $sim_pps pages/s served | | | ≥ 20 pages/s |
MD
cat "$repo/bench/results.md"
