#!/usr/bin/env bash
# Stops what deploy/run.sh --keep left running in the run folder (default ./run).
set -uo pipefail
cd "$(dirname "$0")/.."
RUN=${1:-$(pwd)/run}
source deploy/lib/stack.sh
for s in dispatcher checker filter receiver mover finder; do stop_pidfile "$RUN/$s.pid"; done
bash deploy/demo/stop-pacs.sh "$RUN" >/dev/null 2>&1 || true
bash deploy/demo/stop-ai-node.sh "$RUN" >/dev/null 2>&1 || true
stop_pidfile "$RUN/nats/nats.pid"
stop_postgres "$RUN/pg"
echo "stopped everything under $RUN"
