#!/usr/bin/env bash
# The one test command: install what building and testing need (scripts/install-deps.sh --test),
# configure, build, start a throwaway PostgreSQL (unless TEST_DATABASE_URL is set), run every
# CTest suite, stop what it started. Extra arguments go to ctest, e.g. scripts/test.sh -L unit.
#   BUILD_DIR       build directory (default build)
#   CMAKE_ARGS      extra configure arguments (e.g. -DINGESTD_SANITIZE=address)
#   BUILD_TARGET    build only these targets, space-separated (default: everything)
#   BUILD_TYPE      CMake build type (default RelWithDebInfo)
#   NO_DATABASE=1   do not start PostgreSQL (for suites that need none, like -L unit)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${BUILD_DIR:-$repo/build}
jobs=${JOBS:-2}

"$repo/scripts/install-deps.sh" --test

read -ra cmake_args <<<"${CMAKE_ARGS:-}"
read -ra targets <<<"${BUILD_TARGET:-}"
cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" "${cmake_args[@]}" >/dev/null
cmake --build "$build" -j "$jobs" ${targets[0]:+--target "${targets[@]}"}

pg_dir=""
cleanup() {
  local rc=$?
  if [ -n "$pg_dir" ]; then
    PG_LOCAL_DIR="$pg_dir" "$repo/scripts/pg-local.sh" stop || true
    rm -rf "$pg_dir"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ -z "${TEST_DATABASE_URL:-}" ] && [ -z "${NO_DATABASE:-}" ]; then
  pg_dir=$(mktemp -d /tmp/ingestd-test-pg.XXXXXX)
  chmod 755 "$pg_dir"
  TEST_DATABASE_URL=$(PG_LOCAL_DIR="$pg_dir" PG_LOCAL_FSYNC=off "$repo/scripts/pg-local.sh" start)
fi
export TEST_DATABASE_URL=${TEST_DATABASE_URL:-}
export PG_LOCAL_DIR_FOR_TESTS="$pg_dir"

cd "$build"
ctest --output-on-failure --timeout 900 "$@"
