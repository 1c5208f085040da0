#!/usr/bin/env bash
# Demo hospital PACS: a real Orthanc holding one generated "day of studies".
#   deploy/demo/start-pacs.sh RUN_DIR
# Generates the day (tests/fixtures/gen_day.py --profile demo) into RUN_DIR/demo-day unless it
# is already there for DEMO_DATE, writes RUN_DIR/orthanc.json from orthanc.json.in, starts
# Orthanc in the background (RUN_DIR/orthanc.pid, RUN_DIR/orthanc.log) unless it already runs,
# uploads the day with storescu and prints the PACS instance count. Safe to run again.
# Environment (defaults): PACS_AET=DEMOPACS PACS_PORT=4242 PACS_HTTP=8042 RECEIVER_AET=PACSPULL
#   RECEIVER_HOST=127.0.0.1 RECEIVER_PORT=11112 DEMO_DATE=today DEMO_SEED=1 DEMO_STUDIES=20
#   PYTHON=/usr/bin/python3 (needs python3-pydicom)
set -euo pipefail

RUN_DIR=${1:?usage: $0 RUN_DIR}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

PACS_AET=${PACS_AET:-DEMOPACS}
PACS_PORT=${PACS_PORT:-4242}
PACS_HTTP=${PACS_HTTP:-8042}
RECEIVER_AET=${RECEIVER_AET:-PACSPULL}
RECEIVER_HOST=${RECEIVER_HOST:-127.0.0.1}
RECEIVER_PORT=${RECEIVER_PORT:-11112}
DEMO_DATE=${DEMO_DATE:-$(date +%Y%m%d)}
DEMO_SEED=${DEMO_SEED:-1}
DEMO_STUDIES=${DEMO_STUDIES:-20}
PYTHON=${PYTHON:-/usr/bin/python3}
export TCP_NODELAY=1

mkdir -p "$RUN_DIR"
RUN_DIR=$(cd "$RUN_DIR" && pwd)
DAY="$RUN_DIR/demo-day"
PID_FILE="$RUN_DIR/orthanc.pid"
LOG="$RUN_DIR/orthanc.log"

manifest_date() {
  "$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["date"])' "$DAY/manifest.json" 2>/dev/null || true
}

# 1. The day of studies (regenerated when it belongs to another date).
if [[ ! -f "$DAY/manifest.json" || "$(manifest_date)" != "$DEMO_DATE" ]]; then
  rm -rf "$DAY"
  "$PYTHON" "$ROOT/tests/fixtures/gen_day.py" --out "$DAY" --profile demo --date "$DEMO_DATE" \
    --seed "$DEMO_SEED" --studies "$DEMO_STUDIES"
else
  echo "demo day for $DEMO_DATE already in $DAY"
fi

# 2. The config.
mkdir -p "$RUN_DIR/orthanc-storage"
sed -e "s|@PACS_AET@|$PACS_AET|g" -e "s|@PACS_PORT@|$PACS_PORT|g" -e "s|@PACS_HTTP@|$PACS_HTTP|g" \
    -e "s|@STORAGE_DIR@|$RUN_DIR/orthanc-storage|g" -e "s|@RECEIVER_AET@|$RECEIVER_AET|g" \
    -e "s|@RECEIVER_HOST@|$RECEIVER_HOST|g" -e "s|@RECEIVER_PORT@|$RECEIVER_PORT|g" \
    "$HERE/orthanc.json.in" > "$RUN_DIR/orthanc.json"

# 3. Orthanc, unless the one we started last time still runs (on these ports).
source "$ROOT/deploy/lib/stack.sh"
is_our_orthanc() {
  [[ -f "$PID_FILE" ]] || return 1
  local pid; pid=$(cat "$PID_FILE")
  [[ -r "/proc/$pid/cmdline" ]] && tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q "Orthanc $RUN_DIR/orthanc.json"
}
if is_our_orthanc && listener_is_ours "$(cat "$PID_FILE")" "$PACS_PORT" && listener_is_ours "$(cat "$PID_FILE")" "$PACS_HTTP"; then
  echo "Orthanc already running (pid $(cat "$PID_FILE"))"
else
  is_our_orthanc && "$HERE/stop-pid.sh" "$PID_FILE" Orthanc
  for p in "$PACS_PORT" "$PACS_HTTP"; do
    port_is_free "$p" || { echo "port $p is taken by another program; Orthanc not started" >&2; exit 1; }
  done
  nohup setsid /usr/sbin/Orthanc "$RUN_DIR/orthanc.json" >> "$LOG" 2>&1 < /dev/null &
  echo $! > "$PID_FILE"
  echo "started Orthanc (pid $(cat "$PID_FILE")), log $LOG"
fi

# 4. Wait (bounded) until our Orthanc listens on both ports and its REST API answers.
pid=$(cat "$PID_FILE")
{ wait_listener "$pid" "$PACS_PORT" 60 && wait_listener "$pid" "$PACS_HTTP" 60; } ||
  { echo "Orthanc (pid $pid) is not listening on :$PACS_PORT and :$PACS_HTTP; log tail:" >&2; tail -n 30 "$LOG" >&2; exit 1; }
deadline=$((SECONDS + 60))
until curl -sf --max-time 5 "http://127.0.0.1:$PACS_HTTP/system" > /dev/null; do
  if ! is_our_orthanc; then echo "Orthanc exited; log tail:" >&2; tail -n 30 "$LOG" >&2; exit 1; fi
  if (( SECONDS >= deadline )); then echo "Orthanc did not answer on :$PACS_HTTP within 60 s" >&2; exit 1; fi
  sleep 0.2
done

# 5. Upload the day (Orthanc acknowledges already-stored instances, so this is idempotent).
storescu -R -aet DEMOUPLOAD -aec "$PACS_AET" -to 30 -ta 30 -td 60 +sd +r +sp '*.dcm' \
  127.0.0.1 "$PACS_PORT" "$DAY/initial" > "$RUN_DIR/storescu.log" 2>&1 \
  || { echo "storescu failed; see $RUN_DIR/storescu.log" >&2; tail -n 20 "$RUN_DIR/storescu.log" >&2; exit 1; }

expected=$("$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["instance_count"])' "$DAY/manifest.json")
count=$(curl -sf --max-time 30 "http://127.0.0.1:$PACS_HTTP/statistics" | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["CountInstances"])')
echo "PACS $PACS_AET at 127.0.0.1:$PACS_PORT (HTTP $PACS_HTTP) holds $count instances; day $DEMO_DATE has $expected"
echo "C-MOVE destination known to the PACS: $RECEIVER_AET at $RECEIVER_HOST:$RECEIVER_PORT"
