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

if [[ -f "$PID_FILE" ]] && tr '\0' ' ' < "/proc/$(cat "$PID_FILE")/cmdline" 2>/dev/null | grep -q storescp; then
  echo "AI node already running (pid $(cat "$PID_FILE"))"
  exit 0
fi
nohup storescp --aetitle "$AI_AET" --output-directory "$RUN_DIR/ai-node" --sort-on-study-uid study \
  --socket-timeout 30 --acse-timeout 30 --dimse-timeout 60 --disable-host-lookup --verbose "$AI_PORT" \
  >> "$RUN_DIR/ai-node.log" 2>&1 < /dev/null &
echo $! > "$PID_FILE"

deadline=$((SECONDS + 15))
until (exec 3<>"/dev/tcp/127.0.0.1/$AI_PORT") 2>/dev/null; do
  if ! kill -0 "$(cat "$PID_FILE")" 2>/dev/null; then echo "storescp exited; log:" >&2; tail -n 20 "$RUN_DIR/ai-node.log" >&2; exit 1; fi
  if (( SECONDS >= deadline )); then echo "storescp not listening on :$AI_PORT" >&2; exit 1; fi
  sleep 0.2
done
echo "AI node $AI_AET listening on 127.0.0.1:$AI_PORT (pid $(cat "$PID_FILE")), files in $RUN_DIR/ai-node"
