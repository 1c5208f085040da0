#!/usr/bin/env bash
# deploy/run.sh as a new user meets it (issue 8): the demo from a fresh copy of the checkout
# in a mode-700 folder (as root: the postgres user cannot enter it), with a foreign program
# already listening on NATS's 4222 and on every other default demo port. Passes when run.sh
# ends with the demo summary, the outcome matches the demo manifest, it exits 0, it used
# none of the foreign ports, and afterwards nothing it started is still running while the
# foreign listener still is.
#   PACSPULL_BUILD_DIR=build bash tests/deploy/first_run_test.sh
# Environment: PACSPULL_BUILD_DIR (a configured build folder, reused: nothing is rebuilt
# from scratch), FIRST_RUN_TIMEOUT (run.sh --timeout, default 300), PACSPULL_SKIP_BUILD=1
# (passed on to run.sh: use the build folder's binaries as they are).
set -euo pipefail
SRC=$(cd "$(dirname "$0")/../.." && pwd)
export PACSPULL_BUILD_DIR=${PACSPULL_BUILD_DIR:?set PACSPULL_BUILD_DIR to a configured build folder}
source "$SRC/deploy/lib/stack.sh"

WORK=$(mktemp -d /tmp/pacspull-first-run-XXXXXX)
chmod 700 "$WORK"
CHECKOUT="$WORK/checkout"
RUN="$CHECKOUT/run"
FOREIGN_PID=""
fail() { echo "FAIL: $*" >&2; exit 1; }
cleanup() {
  local code=$?
  if [ -d "$RUN" ]; then bash "$CHECKOUT/deploy/stop.sh" "$RUN" >/dev/null 2>&1 || true; fi
  if [ -n "$FOREIGN_PID" ]; then kill "$FOREIGN_PID" 2>/dev/null || true; fi
  local pg
  pg=$(readlink "$RUN/pg" 2>/dev/null || true)
  case "$pg" in */pacspull-*) rm -rf "$pg" "$pg.initdb.log" ;; esac
  if [ "$code" = 0 ]; then rm -rf "$WORK"; else echo "first_run_test: kept $WORK for inspection" >&2; fi
  exit "$code"
}
trap cleanup EXIT

# 1. A fresh checkout: a clone of this repository's HEAD (committed work only, as a new
#    user gets it).
git clone --quiet --no-hardlinks "$SRC" "$CHECKOUT"
[ -f "$CHECKOUT/deploy/run.sh" ] || fail "the clone has no deploy/run.sh"
echo "first_run_test: cloned $(git -C "$CHECKOUT" log -1 --format='%h %s') into $CHECKOUT (mode 700 above it)"

# 2. A foreign program on 4222 and the other default demo ports.
FOREIGN_PORTS=(4222 55432 4242 8042 11112 11113 50051 50052 50053 50054 50055 50056 9101 9102 9103 9104 9105 9106)
python3 "$SRC/tests/deploy/foreign_listeners.py" "$WORK/foreign.ready" "${FOREIGN_PORTS[@]}" &
FOREIGN_PID=$!
for _ in $(seq 1 100); do [ -f "$WORK/foreign.ready" ] && break; sleep 0.1; done
[ -f "$WORK/foreign.ready" ] || fail "the foreign listener did not start"
mapfile -t HELD <"$WORK/foreign.ready"
if port_is_free 4222; then fail "nothing foreign listens on 4222"; fi
echo "first_run_test: a foreign listener (pid $FOREIGN_PID) holds ${HELD[*]}"

# 3. The demo, bounded.
status=0
timeout -k 30 $((${FIRST_RUN_TIMEOUT:-300} + 420)) \
  bash "$CHECKOUT/deploy/run.sh" --timeout "${FIRST_RUN_TIMEOUT:-300}" </dev/null 2>&1 | tee "$WORK/run.out" ||
  status=$?
[ "${PIPESTATUS[0]}" = 0 ] || status=${PIPESTATUS[0]}

# 4. Assertions.
[ "$status" = 0 ] || fail "deploy/run.sh exited with $status"
grep -q '^=== summary per state ===' "$WORK/run.out" || fail "no demo summary"
grep -q '^check against the demo manifest: .* 0 unexpected, 0 studies in an unexpected state' "$WORK/run.out" ||
  fail "the outcome does not match the demo manifest"
[ "$(tail -n 1 "$WORK/run.out")" = "run: stopping" ] || fail "run.sh did not end by stopping everything"
# No port run.sh used is one the foreign program holds.
used=$(grep -oE '(127\.0\.0\.1:|port: |_port: )[0-9]+' "$RUN/site.yaml" | grep -oE '[0-9]+$' | sort -u)
for p in $used; do
  printf '%s\n' "${HELD[@]}" | grep -qx "$p" && fail "run.sh used port $p, which the foreign program holds"
done
# Every process run.sh started is gone (pid and name, so a recycled pid is not mistaken).
[ -s "$RUN/started.pids" ] || fail "run.sh recorded no started pids"
left=""
while read -r pid name; do
  pid_runs "$pid" "$name" && left="$left $name($pid)"
done <"$RUN/started.pids"
# ... and so is anything else working in the checkout or the PostgreSQL folder.
left="$left$(python3 - "$CHECKOUT" "$(pg_data_dir "$RUN/pg")" <<'PY'
import os, sys
for pid in filter(lambda p: p.isdigit() and int(p) != os.getpid(), os.listdir("/proc")):
    try:
        cwd = os.readlink(f"/proc/{pid}/cwd")
        cmd = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        continue  # gone meanwhile, or not ours to read
    if any(cwd.startswith(d) or d in cmd for d in sys.argv[1:]):
        print(f" {pid}({cmd.strip()}, in {cwd})", end="")
PY
)"
[ -z "$left" ] || fail "still running after run.sh:$left"
kill -0 "$FOREIGN_PID" 2>/dev/null || fail "the foreign listener is gone"
for p in "${HELD[@]}"; do listener_is_ours "$FOREIGN_PID" "$p" || fail "$p no longer belongs to the foreign listener"; done
echo "first_run_test: ok ($(grep -c . "$RUN/started.pids") processes started and all stopped; foreign ports untouched)"
