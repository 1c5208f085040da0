#!/usr/bin/env bash
# The test command (README, .ci/run): installs what is missing, builds, starts a
# private PostgreSQL and nats-server, runs every tier (unit, integration, e2e), the
# static deployment checks and a bounded fuzz run, and exits non-zero on any failure.
#   tests/run.sh            everything
#   tests/run.sh -L unit    only a CTest label (unit, integration, e2e; pending: known-failing
#                           work in progress, not in the default run)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
export TCP_NODELAY=1

bash deploy/setup.sh
BUILD=${PACSPULL_BUILD_DIR:-$ROOT/build}
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j "$(nproc)"

RUN=$(mktemp -d /tmp/pacspull-tests-XXXXXX)
chmod 755 "$RUN"
source deploy/lib/stack.sh
cleanup() {
  stop_pidfile "$RUN/nats/nats.pid"
  stop_postgres "$RUN/pg"
  rm -rf "$RUN"
}
trap cleanup EXIT

PG_PORT=$(free_port)
# fsync off: test clusters are thrown away; durability is tested on our own files.
PG_EXTRA_OPTS="-c fsync=off -c max_connections=300" start_postgres "$RUN/pg" "$PG_PORT"
NATS_PORT=$(free_port)
start_nats "$RUN/nats" "$NATS_PORT"
export PACSPULL_TEST_PG_URL="$PACSPULL_PG_ADMIN_URL"
export PACSPULL_TEST_NATS_URL="nats://127.0.0.1:$NATS_PORT"

status=0
# Tests labelled `pending` are known-failing work in progress (named in their CMakeLists
# and the issue): excluded from the default run, run them with `tests/run.sh -L pending`.
CTEST_ARGS=("$@")
[ $# -gt 0 ] || CTEST_ARGS=(-LE pending)
(cd "$BUILD" && ctest --output-on-failure --no-tests=error "${CTEST_ARGS[@]}") || status=1

if [ $# -eq 0 ]; then
  if [ -x tests/static/check_deploy.sh ]; then bash tests/static/check_deploy.sh || status=1; fi
  if [ -x tests/fuzz/run.sh ]; then PACSPULL_FUZZ_SECONDS=${PACSPULL_FUZZ_SECONDS:-60} bash tests/fuzz/run.sh || status=1; fi
fi
exit $status
