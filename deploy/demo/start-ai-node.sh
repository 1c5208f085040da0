#!/usr/bin/env bash
# Demo AI node: DCMTK storescp receiving what the dispatcher hands on.
#   deploy/demo/start-ai-node.sh RUN_DIR
# Files land in RUN_DIR/ai-node/study_<StudyInstanceUID>/<modality>.<SOPInstanceUID>;
# pid in RUN_DIR/ai-node.pid, log in RUN_DIR/ai-node.log. Safe to run again.
# Environment (defaults): AI_AET=AINODE AI_PORT=11113
set -euo pipefail
RUN_DIR=${1:?usage: $0 RUN_DIR}
AI_AET=${AI_AET:-AINODE}
AI_PORT=${AI_PORT:-11113}
export TCP_NODELAY=1

mkdir -p "$RUN_DIR/ai-node"
RUN_DIR=$(cd "$RUN_DIR" && pwd)
PID_FILE="$RUN_DIR/ai-node.pid"

source "$(cd "$(dirname "${BASH_SOURCE[0]}")/../lib" && pwd)/stack.sh"
if [[ -f "$PID_FILE" ]] && pid_runs "$(cat "$PID_FILE")" storescp; then
  if listener_is_ours "$(cat "$PID_FILE")" "$AI_PORT"; then
    echo "AI node already running (pid $(cat "$PID_FILE"))"
    exit 0
  fi
  "$(dirname "${BASH_SOURCE[0]}")/stop-pid.sh" "$PID_FILE" storescp
fi
port_is_free "$AI_PORT" || { echo "port $AI_PORT is taken by another program; storescp not started" >&2; exit 1; }
nohup setsid storescp --aetitle "$AI_AET" --output-directory "$RUN_DIR/ai-node" --sort-on-study-uid study \
  --socket-timeout 30 --acse-timeout 30 --dimse-timeout 60 --disable-host-lookup --verbose "$AI_PORT" \
  >> "$RUN_DIR/ai-node.log" 2>&1 < /dev/null &
echo $! > "$PID_FILE"

# Ready once the storescp we started listens on the port itself (not merely "something answers").
wait_listener "$(cat "$PID_FILE")" "$AI_PORT" 15 || { echo "storescp is not listening on :$AI_PORT; log:" >&2; tail -n 20 "$RUN_DIR/ai-node.log" >&2; exit 1; }
echo "AI node $AI_AET listening on 127.0.0.1:$AI_PORT (pid $(cat "$PID_FILE")), files in $RUN_DIR/ai-node"
