#!/usr/bin/env bash
# The main job (README): installs, builds and runs the whole pacspull stack locally.
#   deploy/run.sh                      demo: a bundled Orthanc PACS holding a generated day
#                                      and a storescp AI node; ends with a summary per state
#   deploy/run.sh --config site.yaml   a real PACS: runs until Ctrl-C, printing progress
# Options: --keep (demo: leave everything running after the summary; deploy/stop.sh stops
# it), --timeout SECONDS (demo, default 900), --run-dir DIR (default ./run).
# Environment: PACSPULL_BUILD_DIR (default ./build), PACSPULL_SKIP_BUILD=1 (use its bin/
# as it is), PACSPULL_PG_PORT (55432),
# PACSPULL_NATS_PORT (4222). PostgreSQL and nats-server are private to the run folder; a
# port another program listens on is replaced by a free one, and a listener counts only
# when the pid we started owns it. The site file's ledger and bus URLs are pointed at them.
# Least privilege as in production (issue 11): the schema is migrated once as the owner
# (postgres), then each service connects to PostgreSQL as its own login <service>_login,
# a member of pacspull_<service> (migration 012's per-table grants), and to NATS as its own
# user of deploy/nats/nats-server.conf (only its own subjects); passwords are random files
# in RUN/secrets (deploy/make-secrets.sh). pullctl runs as operator_login / operator.
# Every service runs under a supervisor that restarts it when it exits (backoff 1, 2, 4 ..
# 30 s, reset after a minute of uptime; logged and counted in the progress line). Whatever
# fails, at exit or Ctrl-C everything this script started is stopped (unless --keep).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
SITE=""
KEEP=0
TIMEOUT=900
RUN="$ROOT/run"
while [ $# -gt 0 ]; do
  case "$1" in
    --config) SITE=$(realpath "$2"); shift 2 ;;
    --keep) KEEP=1; shift ;;
    --timeout) TIMEOUT=$2; shift 2 ;;
    --run-dir) RUN=$2; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
export TCP_NODELAY=1
DEMO=0
[ -n "$SITE" ] || DEMO=1
SERVICES=(finder mover receiver filter checker dispatcher)

mkdir -p "$RUN/logs"
chmod 755 "$RUN"
RUN=$(cd "$RUN" && pwd)
source deploy/lib/stack.sh

# --- Stopping: the trap is in place before anything is started. --------------------------
STOPPED=0
LEAVE_RUNNING=0
stop_everything() {
  [ "$STOPPED" = 0 ] || return 0
  STOPPED=1
  echo "run: stopping"
  touch "$RUN/stopping" # supervisors do not restart what exits from now on
  local s
  # All supervisors are asked at once (each stops its service gracefully), then waited for.
  for s in "${SERVICES[@]}"; do
    if pid_runs "$(cat "$RUN/$s.supervisor.pid" 2>/dev/null)" run.sh; then
      kill -TERM "$(cat "$RUN/$s.supervisor.pid")" 2>/dev/null || true
    fi
  done
  for s in dispatcher checker filter receiver mover finder; do stop_pidfile "$RUN/$s.supervisor.pid" run.sh; done
  for s in dispatcher checker filter receiver mover finder; do stop_pidfile "$RUN/$s.pid" "pacspull-$s"; done
  if [ "$DEMO" = 1 ]; then
    bash deploy/demo/stop-pacs.sh "$RUN" >/dev/null 2>&1 || true
    bash deploy/demo/stop-ai-node.sh "$RUN" >/dev/null 2>&1 || true
  fi
  stop_pidfile "$RUN/nats/nats.pid" nats-server
  stop_postgres "$RUN/pg"
}
on_exit() {
  local code=$?
  set +e # a failing stop step must not keep the next ones from running
  trap - EXIT INT TERM
  if [ "$LEAVE_RUNNING" = 1 ]; then
    echo "run: --keep: everything keeps running; stop with: bash deploy/stop.sh $RUN"
  else
    stop_everything
    # Whatever background job of ours is left (a progress-loop sleep).
    for pid in $(jobs -p); do kill "$pid" 2>/dev/null; done
  fi
  exit "$code"
}
trap on_exit EXIT
trap 'echo; echo "run: interrupted"; exit 130' INT
trap 'exit 143' TERM

# What a previous run in this folder left running (--keep) is stopped first: its ports
# would be taken by our own leftovers.
if compgen -G "$RUN/*.pid" >/dev/null || [ -f "$RUN/nats/nats.pid" ] || [ -f "$(pg_data_dir "$RUN/pg")/postmaster.pid" ]; then
  echo "run: stopping what a previous run left in $RUN"
  bash deploy/stop.sh "$RUN" >/dev/null
fi
rm -f "$RUN/stopping" "$RUN"/*.restarts
: >"$RUN/started.pids" # every pid this run starts, "pid name" (tests check they are gone)

# --- Install and build. --------------------------------------------------------------------
bash deploy/setup.sh
BUILD=${PACSPULL_BUILD_DIR:-$ROOT/build}
if [ "${PACSPULL_SKIP_BUILD:-0}" = 1 ]; then
  echo "run: PACSPULL_SKIP_BUILD=1: using the binaries in $BUILD/bin as they are"
else
  # An existing build folder is reused as configured (it may belong to another checkout).
  [ -f "$BUILD/CMakeCache.txt" ] || cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$BUILD" -j "$(nproc)" --target pacspull-finder pacspull-mover pacspull-receiver pacspull-filter \
    pacspull-checker pacspull-dispatcher pullctl
fi
BIN="$BUILD/bin"

# --- Ledger and bus. -----------------------------------------------------------------------
TAKEN=()
port() { pick_port "$1" "${TAKEN[@]}"; } # the caller adds the port to TAKEN
PG_PORT=$(port "${PACSPULL_PG_PORT:-55432}")
TAKEN+=("$PG_PORT")
NATS_PORT=$(port "${PACSPULL_NATS_PORT:-4222}")
TAKEN+=("$NATS_PORT")
if [ "$DEMO" = 1 ]; then
  # Each demo run starts from a clean pipeline (the demo PACS keeps its day).
  rm -rf "$RUN/nats" "$RUN/store" "$RUN/ai-node" "$RUN/ai-node.log"
fi
start_postgres "$RUN/pg" "$PG_PORT"
echo "$(head -n 1 "$(pg_data_dir "$RUN/pg")/postmaster.pid") postgres" >>"$RUN/started.pids"
if [ "$DEMO" = 1 ]; then
  PGOPTIONS="-c client_min_messages=warning" \
    psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -qc "DROP DATABASE IF EXISTS pacspull WITH (FORCE)" postgres
fi
ensure_database pacspull "$PG_PORT"
# Random passwords, one file each, mode 700 folder (kept across runs).
bash deploy/make-secrets.sh "$RUN/secrets" >/dev/null
for u in finder mover receiver filter checker dispatcher operator ai_backend; do
  # Quoted, as deploy/nats/start-with-secrets.sh does: nats-server parses the value, and a
  # password like 6T... would read as a number.
  export "PACSPULL_NATS_PASSWORD_${u^^}=\"$(cat "$RUN/secrets/nats-$u")\""
done
NATS_EXTRA_OPTS="-c $ROOT/deploy/nats/nats-server.conf" start_nats "$RUN/nats" "$NATS_PORT"
for u in finder mover receiver filter checker dispatcher operator ai_backend; do unset "PACSPULL_NATS_PASSWORD_${u^^}"; done
echo "$(cat "$RUN/nats/nats.pid") nats-server" >>"$RUN/started.pids"
export PACSPULL_LEDGER_URL="postgresql://postgres@127.0.0.1:$PG_PORT/pacspull"
export PACSPULL_BUS_URL="nats://127.0.0.1:$NATS_PORT"

# --- The demo hospital: PACS, AI node and a site file on free ports. ---------------------------
declare -A GRPC
if [ "$DEMO" = 1 ]; then
  PACS_PORT=$(port 4242); TAKEN+=("$PACS_PORT")
  PACS_HTTP=$(port 8042); TAKEN+=("$PACS_HTTP")
  AI_PORT=$(port 11113); TAKEN+=("$AI_PORT")
  RECEIVER_PORT=$(port 11112); TAKEN+=("$RECEIVER_PORT")
  SITE="$RUN/site.yaml"
  # Ports stand quoted in the template ("@X@", so that it is YAML too) and become numbers.
  subst=(-e "s|@STORE@|$RUN/store|" -e "s|@PG_PORT@|$PG_PORT|" -e "s|@NATS_PORT@|$NATS_PORT|"
    -e "s|\"@PACS_PORT@\"|$PACS_PORT|" -e "s|\"@AI_PORT@\"|$AI_PORT|" -e "s|\"@RECEIVER_PORT@\"|$RECEIVER_PORT|")
  i=1
  for s in "${SERVICES[@]}"; do
    GRPC[$s]=$(port $((50050 + i))); TAKEN+=("${GRPC[$s]}")
    m=$(port $((9100 + i))); TAKEN+=("$m")
    subst+=(-e "s|\"@${s^^}_GRPC@\"|${GRPC[$s]}|" -e "s|\"@${s^^}_METRICS@\"|$m|")
    i=$((i + 1))
  done
  sed "${subst[@]}" deploy/demo/site.demo.yaml >"$SITE"
  # gRPC on loopback, state-changing calls (pullctl finder pull, filter reload, ...) with a
  # token made here, readable by this user only; pullctl finds it through the site file.
  (umask 077 && printf 'operator:%s\n' "$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$RUN/grpc-token")
  printf 'grpc:\n  bind: 127.0.0.1\n  token_file: %s\n' "$RUN/grpc-token" >>"$SITE"
  # Our receiver is registered at the PACS as PACSPULL@127.0.0.1:RECEIVER_PORT.
  PACS_PORT=$PACS_PORT PACS_HTTP=$PACS_HTTP RECEIVER_PORT=$RECEIVER_PORT bash deploy/demo/start-pacs.sh "$RUN"
  echo "$(cat "$RUN/orthanc.pid") Orthanc" >>"$RUN/started.pids"
  AI_PORT=$AI_PORT bash deploy/demo/start-ai-node.sh "$RUN"
  echo "$(cat "$RUN/ai-node.pid") storescp" >>"$RUN/started.pids"
else
  # gRPC port per service: the site file's, an environment override, else the default.
  while read -r s p; do GRPC[$s]=$p; done < <(python3 - "$SITE" "${SERVICES[@]}" <<'PY'
import os, sys, yaml
site = yaml.safe_load(open(sys.argv[1])) or {}
for i, s in enumerate(sys.argv[2:]):
    port = os.environ.get(f"PACSPULL_{s.upper()}_GRPC_PORT") or (site.get(s) or {}).get("grpc_port") or 50051 + i
    print(s, port)
PY
)
fi

# --- The schema as the owner, then a login per service. ----------------------------------------
# The one-shot step of compose and k8s: migrations (and migration 012's grants) as postgres.
if ! "$BIN/pacspull-finder" --config "$SITE" --migrate >>"$RUN/logs/migrate.log" 2>&1; then
  echo "run: the ledger migration failed (see $RUN/logs/migrate.log)" >&2
  tail -n 20 "$RUN/logs/migrate.log" >&2
  exit 1
fi
for s in "${SERVICES[@]}" operator; do
  # The password through the environment (\getenv), not the command line others can read.
  RUN_LOGIN_PW="$(cat "$RUN/secrets/pg-$s")" PGOPTIONS="-c client_min_messages=warning" \
    psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -v ON_ERROR_STOP=1 -q \
    -v login="${s}_login" -v role="pacspull_$s" pacspull <<'SQL' >/dev/null
\getenv pw RUN_LOGIN_PW
SELECT format('CREATE ROLE %I LOGIN', :'login') WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'login')
\gexec
SELECT format('ALTER ROLE %I LOGIN PASSWORD %L', :'login', :'pw')
\gexec
SELECT format('GRANT %I TO %I', :'role', :'login')
\gexec
SQL
done
# as_service SVC CMD...: CMD with SVC's PostgreSQL login and NATS user (files, never the URL).
as_service() {
  local s=$1
  shift
  PACSPULL_LEDGER_USER="${s}_login" PACSPULL_LEDGER_PASSWORD_FILE="$RUN/secrets/pg-$s" PACSPULL_LEDGER_MIGRATE=off \
    PACSPULL_BUS_USER="$s" PACSPULL_BUS_PASSWORD_FILE="$RUN/secrets/nats-$s" "$@"
}

# --- The six services, each under a supervisor. ---------------------------------------------
# supervise SVC: runs pacspull-SVC, and when it exits (a crash, kill -9, a lost peer at
# start-up) starts it again after 1, 2, 4 .. 30 s; the delay goes back to 1 s after a run
# of a minute or more. Exit code 2 (bad configuration) is not retried: the site file must
# be fixed first. Restarts are logged here and in logs/run.log and counted in SVC.restarts.
supervise() {
  local s=$1 n=0 delay=1 code started how child=""
  trap '[ -n "$child" ] && kill -TERM "$child" 2>/dev/null; [ -n "$child" ] && wait "$child" 2>/dev/null; exit 0' TERM
  while :; do
    started=$SECONDS
    # setsid: a Ctrl-C in the terminal reaches this script, which stops everything in
    # order, not the service directly (its exit would look like a crash to restart).
    # Its own PostgreSQL login and NATS user (as_service, inline: $! must be the service's pid).
    PACSPULL_LEDGER_USER="${s}_login" PACSPULL_LEDGER_PASSWORD_FILE="$RUN/secrets/pg-$s" PACSPULL_LEDGER_MIGRATE=off \
      PACSPULL_BUS_USER="$s" PACSPULL_BUS_PASSWORD_FILE="$RUN/secrets/nats-$s" \
      setsid "$BIN/pacspull-$s" --config "$SITE" >>"$RUN/logs/$s.log" 2>&1 &
    child=$!
    echo "$child" >"$RUN/$s.pid"
    echo "$child pacspull-$s" >>"$RUN/started.pids"
    code=0
    wait "$child" || code=$?
    [ ! -e "$RUN/stopping" ] || exit 0
    [ $((SECONDS - started)) -lt 60 ] || delay=1
    how="code $code"
    [ "$code" -le 128 ] || how="$how (signal $(kill -l $((code - 128)) 2>/dev/null || echo $((code - 128))))"
    if [ "$code" = 2 ]; then
      echo "run: $s exited with $how: bad configuration, not restarting (see $RUN/logs/$s.log)" | tee -a "$RUN/logs/run.log"
      exit 2
    fi
    n=$((n + 1))
    echo "$n" >"$RUN/$s.restarts"
    echo "run: $s exited with $how, restart #$n in ${delay}s" | tee -a "$RUN/logs/run.log"
    sleep "$delay" &
    child=$!
    wait "$child" || true
    [ ! -e "$RUN/stopping" ] || exit 0
    delay=$((delay * 2 > 30 ? 30 : delay * 2))
  done
}
for s in "${SERVICES[@]}"; do
  # (bash's own "Killed" notices for the child go to logs/run.log, not the terminal)
  supervise "$s" 2>>"$RUN/logs/run.log" &
  echo $! >"$RUN/$s.supervisor.pid"
  echo "$! run.sh" >>"$RUN/started.pids" # the supervisor: a subshell of this script
done
echo "run: six services started under supervision (logs in $RUN/logs, site $SITE)"

# Up when every service's own pid listens on its gRPC port and answers pullctl health.
PULLCTL=(as_service operator "$BIN/pullctl" --config "$SITE")
deadline=$((SECONDS + 90))
for s in "${SERVICES[@]}"; do
  until listener_is_ours "$(cat "$RUN/$s.pid" 2>/dev/null)" "${GRPC[$s]}"; do
    if [ "$SECONDS" -ge "$deadline" ] || ! kill -0 "$(cat "$RUN/$s.supervisor.pid")" 2>/dev/null; then
      echo "run: $s is not listening on its gRPC port ${GRPC[$s]}$(port_is_free "${GRPC[$s]}" || echo ' (another program is)')" >&2
      tail -n 20 "$RUN/logs/$s.log" >&2
      exit 1
    fi
    sleep 0.2
  done
done
until "${PULLCTL[@]}" health >/dev/null 2>&1; do
  [ "$SECONDS" -lt "$deadline" ] || { "${PULLCTL[@]}" health; tail -n 20 "$RUN"/logs/*.log; exit 1; }
  sleep 0.3
done
"${PULLCTL[@]}" health

restarts() {
  local s n out="" total=0
  for s in "${SERVICES[@]}"; do
    n=$(cat "$RUN/$s.restarts" 2>/dev/null || echo 0)
    [ "$n" = 0 ] || out="$out $s=$n"
    total=$((total + n))
  done
  echo "restarts $total${out:+ ($out )}"
}
progress() { echo "$("${PULLCTL[@]}" status 2>&1 | head -n 9 | tr '\n' ' ' | sed 's/  */ /g') | $(restarts)"; }

if [ "$DEMO" = 1 ]; then
  want=$(/usr/bin/python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print(sum(1 for s in m["studies"] if s["expected"]["state"] != "not_pulled"))' "$RUN/demo-day/manifest.json")
  echo "run: the demo PACS holds $want chest-candidate studies (and some MR/US the finder never pulls)"
  start=$SECONDS
  while :; do
    settled=$(psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -Atc \
      "SELECT count(*) FROM studies WHERE state IN ('completed','unsupported','failed')" pacspull)
    echo "run: $(date +%T) $settled/$want settled | $(progress)"
    [ "$settled" -ge "$want" ] && break
    if [ $((SECONDS - start)) -ge "$TIMEOUT" ]; then echo "run: timed out after ${TIMEOUT}s" >&2; break; fi
    sleep 5 & wait $! # in the background, so that a TERM is handled at once
  done
  echo
  echo "=== summary per state ==="
  "${PULLCTL[@]}" status
  echo "services: $(restarts)"
  echo "AI node received $(find "$RUN/ai-node" -type f | wc -l) instances in $(find "$RUN/ai-node" -mindepth 1 -type d | wc -l) studies ($RUN/ai-node)"
  # The demo day knows what should have happened: compare.
  psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -Atc "SELECT study_uid || ' ' || state FROM studies" pacspull >"$RUN/states.txt"
  DEMO_MISMATCH=""
  python3 deploy/demo/check_outcome.py "$RUN/demo-day/manifest.json" "$RUN/states.txt" "$RUN/ai-node" \
    "$RUN/ai-node.log" || DEMO_MISMATCH=1
  echo "Ask why:  PACSPULL_LEDGER_USER=operator_login PACSPULL_LEDGER_PASSWORD_FILE=$RUN/secrets/pg-operator \\"
  echo "          $BIN/pullctl --config $SITE why <AccessionNumber|PatientID|StudyInstanceUID>"
  [ "$KEEP" = 0 ] || LEAVE_RUNNING=1
  [ "$settled" -ge "$want" ] && [ -z "$DEMO_MISMATCH" ] || exit 1
else
  echo "run: pulling from the PACS in $SITE; Ctrl-C stops"
  while :; do
    echo "run: $(date +%T) $(progress)"
    sleep 30 & wait $! # in the background, so that a TERM is handled at once
  done
fi
