#!/usr/bin/env bash
# Stops what deploy/run.sh --keep left running in a run folder (default ./run): the
# supervisors first (so nothing is restarted), the services, the demo peers, nats-server
# and PostgreSQL.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
RUN=${1:-$(pwd)/run}
source deploy/lib/stack.sh
touch "$RUN/stopping" 2>/dev/null
for s in dispatcher checker filter receiver mover finder; do stop_pidfile "$RUN/$s.supervisor.pid" run.sh; done
for s in dispatcher checker filter receiver mover finder; do stop_pidfile "$RUN/$s.pid" "pacspull-$s"; done
bash deploy/demo/stop-pacs.sh "$RUN" >/dev/null 2>&1 || true
bash deploy/demo/stop-ai-node.sh "$RUN" >/dev/null 2>&1 || true
stop_pidfile "$RUN/nats/nats.pid" nats-server
stop_postgres "$RUN/pg"
echo "stopped everything under $RUN"
