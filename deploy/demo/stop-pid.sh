#!/usr/bin/env bash
# stop-pid.sh PID_FILE NAME: SIGTERM the process in PID_FILE if its command line contains NAME,
# wait up to 20 s, then SIGKILL; removes PID_FILE. Never touches a recycled pid of another program.
set -euo pipefail
PID_FILE=${1:?usage: $0 PID_FILE NAME}
NAME=${2:?usage: $0 PID_FILE NAME}
if [[ ! -f "$PID_FILE" ]]; then echo "$NAME: not running (no $PID_FILE)"; exit 0; fi
pid=$(cat "$PID_FILE")
alive() { [[ -r "/proc/$pid/cmdline" ]] && tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q -- "$NAME"; }
if alive; then
  kill -TERM "$pid"
  deadline=$((SECONDS + 20))
  while alive && (( SECONDS < deadline )); do sleep 0.2; done
  if alive; then kill -KILL "$pid"; echo "$NAME (pid $pid) killed"; else echo "$NAME (pid $pid) stopped"; fi
else
  echo "$NAME: pid $pid not running"
fi
rm -f "$PID_FILE"
