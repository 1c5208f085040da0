#!/usr/bin/env bash
# The main job (README): installs, builds and runs the whole pacspull stack locally.
#   deploy/run.sh                      demo: a bundled Orthanc PACS holding a generated day
#                                      and a storescp AI node; ends with a summary per state
#   deploy/run.sh --config site.yaml   a real PACS: runs until Ctrl-C, printing progress
# Options: --keep (demo: leave everything running at the end), --timeout SECONDS (demo,
# default 900), --run-dir DIR (default ./run). PostgreSQL and nats-server run inside the
# run folder on PACSPULL_PG_PORT (55432) and PACSPULL_NATS_PORT (4222); the site file's
# ledger and bus URLs are pointed at them.
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
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
export TCP_NODELAY=1

bash deploy/setup.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)" --target pacspull-finder pacspull-mover pacspull-receiver pacspull-filter \
  pacspull-checker pacspull-dispatcher pullctl
BIN="$ROOT/build/bin"

mkdir -p "$RUN/logs"
chmod 755 "$RUN"
RUN=$(cd "$RUN" && pwd)
source deploy/lib/stack.sh
PG_PORT=${PACSPULL_PG_PORT:-55432}
NATS_PORT=${PACSPULL_NATS_PORT:-4222}

stop_everything() {
  echo "run: stopping"
  for s in dispatcher checker filter receiver mover finder; do stop_pidfile "$RUN/$s.pid"; done
  if [ -z "$SITE" ]; then
    bash deploy/demo/stop-pacs.sh "$RUN" >/dev/null 2>&1 || true
    bash deploy/demo/stop-ai-node.sh "$RUN" >/dev/null 2>&1 || true
  fi
  stop_pidfile "$RUN/nats/nats.pid"
  stop_postgres "$RUN/pg"
}

if [ -z "$SITE" ]; then
  # Each demo run starts from a clean pipeline (the demo PACS keeps its day).
  stop_pidfile "$RUN/nats/nats.pid"
  rm -rf "$RUN/nats" "$RUN/store" "$RUN/ai-node"
  start_postgres "$RUN/pg" "$PG_PORT"
  psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -qc "DROP DATABASE IF EXISTS pacspull WITH (FORCE)" postgres
else
  start_postgres "$RUN/pg" "$PG_PORT"
fi
ensure_database pacspull "$PG_PORT"
start_nats "$RUN/nats" "$NATS_PORT"
export PACSPULL_LEDGER_URL="postgresql://postgres@127.0.0.1:$PG_PORT/pacspull"
export PACSPULL_BUS_URL="nats://127.0.0.1:$NATS_PORT"

if [ -z "$SITE" ]; then
  # The demo hospital: our receiver is registered at the PACS as PACSPULL@127.0.0.1:11112.
  RECEIVER_PORT=11112 bash deploy/demo/start-pacs.sh "$RUN"
  bash deploy/demo/start-ai-node.sh "$RUN"
  SITE="$RUN/site.yaml"
  sed "s|@STORE@|$RUN/store|" deploy/demo/site.demo.yaml >"$SITE"
  DEMO=1
else
  DEMO=0
fi
if [ "$KEEP" = 0 ] || [ "$DEMO" = 0 ]; then trap stop_everything EXIT; fi

for s in finder mover receiver filter checker dispatcher; do
  stop_pidfile "$RUN/$s.pid"
  "$BIN/pacspull-$s" --config "$SITE" >>"$RUN/logs/$s.log" 2>&1 &
  echo $! >"$RUN/$s.pid"
done
echo "run: six services started (logs in $RUN/logs, site $SITE)"
PULLCTL=("$BIN/pullctl" --config "$SITE")
for _ in $(seq 1 100); do "${PULLCTL[@]}" health >/dev/null 2>&1 && break; sleep 0.3; done
"${PULLCTL[@]}" health || { tail -n 20 "$RUN"/logs/*.log; exit 1; }

progress() { "${PULLCTL[@]}" status | head -n 9 | tr '\n' ' ' | sed 's/  */ /g'; echo; }

if [ "$DEMO" = 1 ]; then
  want=$(/usr/bin/python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print(sum(1 for s in m["studies"] if s["expected"]["state"] != "not_pulled"))' "$RUN/demo-day/manifest.json")
  echo "run: the demo PACS holds $want chest-candidate studies (and some MR/US the finder never pulls)"
  start=$(date +%s)
  while :; do
    settled=$(psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -Atc \
      "SELECT count(*) FROM studies WHERE state IN ('completed','unsupported','failed')" pacspull)
    echo "run: $(date +%T) $settled/$want settled | $(progress)"
    [ "$settled" -ge "$want" ] && break
    if [ $(( $(date +%s) - start )) -ge "$TIMEOUT" ]; then echo "run: timed out after ${TIMEOUT}s" >&2; break; fi
    sleep 5
  done
  echo
  echo "=== summary per state ==="
  "${PULLCTL[@]}" status
  echo "AI node received $(find "$RUN/ai-node" -type f | wc -l) instances in $(find "$RUN/ai-node" -mindepth 1 -type d | wc -l) studies ($RUN/ai-node)"
  # The demo day knows what should have happened: compare.
  psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -Atc "SELECT study_uid || ' ' || state FROM studies" pacspull >"$RUN/states.txt"
  /usr/bin/python3 - "$RUN/demo-day/manifest.json" "$RUN/states.txt" "$RUN/ai-node" <<'PY' || DEMO_MISMATCH=1
import json, os, sys
manifest, states_file, ai_dir = sys.argv[1:4]
states = dict(line.split(" ", 1) for line in open(states_file).read().split("\n") if line)
received = set()
for root, _, files in os.walk(ai_dir):
    received.update(f.split(".", 1)[1] if "." in f else f for f in files)
bad, want_sops = [], set()
for s in json.load(open(manifest))["studies"]:
    want = s["expected"]["state"]
    got = states.get(s["study_instance_uid"], "not_pulled")
    if want != got:
        bad.append(f'  {s["key"]}: expected {want}, got {got} ({s["expected"]["why"]})')
    for series in s["series"]:
        if series["series_instance_uid"] in s["expected"]["dispatch"]:
            want_sops.update(i["sop_instance_uid"] for i in series["instances"])
print(f"check against the demo manifest: {len(states)} studies in the ledger, "
      f"{len(received & want_sops)} of {len(want_sops)} expected instances at the AI node, "
      f"{len(received - want_sops)} unexpected, {len(bad)} studies in an unexpected state")
for b in bad:
    print(b)
sys.exit(1 if bad or received != want_sops else 0)
PY
  echo "Ask why:  build/bin/pullctl --config $SITE why <AccessionNumber|PatientID|StudyInstanceUID>"
  [ "$settled" -ge "$want" ] && [ -z "${DEMO_MISMATCH:-}" ] || exit 1
  if [ "$KEEP" = 1 ]; then echo "run: --keep: everything keeps running; stop with: bash deploy/stop.sh"; fi
else
  echo "run: pulling from the PACS in $SITE; Ctrl-C stops"
  while :; do echo "run: $(date +%T) $(progress)"; sleep 30; done
fi
