#!/usr/bin/env bash
# wait-listening.sh OUT PID [SECONDS]: prints HOST:PORT once the server with process ID PID has
# written "listening on HOST:PORT" to the file OUT (upstream-sim does). Exits 1 with a message
# when PID ends first or after SECONDS (default 60: a loaded machine can be slow to start it).
set -euo pipefail
out=$1 pid=$2 bound=${3:-60}
deadline=$((SECONDS + bound))
while :; do
  addr=$(sed -n 's/^listening on //p' "$out" 2>/dev/null | head -n 1)
  if [ -n "$addr" ]; then
    echo "$addr"
    exit 0
  fi
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "wait-listening: process $pid ended before it was listening" >&2
    exit 1
  fi
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "wait-listening: process $pid was not listening after ${bound} s" >&2
    exit 1
  fi
  sleep 0.05
done
