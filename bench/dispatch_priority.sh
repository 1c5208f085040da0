#!/usr/bin/env bash
# Priority dispatch (issue 10 part 1): a backlog of N studies (default 200, SLICES instances
# each, one 1 mm chest CT series of the generated day) waits in the dispatch queue for one AI
# node (DCMTK storescp, --ignore: it answers Success without writing). Once the backlog is
# being sent, an urgent study (manual priority) is queued. Prints how long the urgent one
# waited before the dispatcher took it (and until it was sent), against one study's transfer
# time, for WINDOW studies in flight (default 1). Not a test: figures only.
#   bench/dispatch_priority.sh            (PACSPULL_BUILD_DIR=... N=200 WINDOW=1 WARM=5)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD=${PACSPULL_BUILD_DIR:-$ROOT/build}
N=${N:-200}
WINDOW=${WINDOW:-1}
WARM=${WARM:-5}  # backlog studies sent before the urgent one is queued
RUN=$(mktemp -d /tmp/pacspull-bench-dispatch-XXXXXX)
chmod 755 "$RUN"
source deploy/lib/stack.sh
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  stop_pidfile "$RUN/nats/nats.pid"
  stop_postgres "$RUN/pg"
  rm -rf "$RUN"
}
trap cleanup EXIT

PG_PORT=$(free_port)
PG_EXTRA_OPTS="-c fsync=off" start_postgres "$RUN/pg" "$PG_PORT" >/dev/null
ensure_database bench "$PG_PORT"
NATS_PORT=$(free_port)
start_nats "$RUN/nats" "$NATS_PORT" >/dev/null
PSQL=(psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -X -q -At -v ON_ERROR_STOP=1 bench)

/usr/bin/python3 tests/fixtures/gen_day.py --out "$RUN/day" --profile e2e >/dev/null
SERIES_DIR=$(ls -d "$RUN"/day/initial/e2e01_chest_ct/3_*)
mapfile -t FILES < <(ls "$SERIES_DIR"/*.dcm)
SLICES=${#FILES[@]}

AI_PORT=$(free_port)
mkdir -p "$RUN/ai"
storescp --ignore -aet AINODE -od "$RUN/ai" "$AI_PORT" >"$RUN/storescp.log" 2>&1 &
PIDS+=($!)
GRPC=$(free_port)
METRICS=$(free_port)
cat >"$RUN/site.yaml" <<YAML
site: bench
ledger: {url: "postgresql://postgres@127.0.0.1:$PG_PORT/bench"}
bus: {url: "nats://127.0.0.1:$NATS_PORT"}
local: {ae_title: PACSPULL, receiver_ae_title: PACSPULL, storage_root: $RUN/store}
pacs:
  - {name: none, ae_title: NONE, host: 127.0.0.1, port: 1}
targets:
  - {name: ai, ae_title: AINODE, host: 127.0.0.1, port: $AI_PORT, window: $WINDOW}
dispatcher: {grpc_port: $GRPC, metrics_port: $METRICS}
YAML
"$BUILD/bin/pacspull-dispatcher" --config "$RUN/site.yaml" >"$RUN/dispatcher.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 300); do port_is_free "$GRPC" || break; sleep 0.1; done  # migrated and serving

# The backlog: N received studies, exam times a minute apart yesterday, each with one series
# of SLICES instances (rows pointing at the generated files), queued for target "ai".
{
  echo "BEGIN;"
  echo "INSERT INTO studies (study_uid, state, priority, generation, filtered_generation, exam_time)
        SELECT 'bench.' || g, 'received', 1, 1, 1, now() - interval '1 day' + g * interval '1 minute'
        FROM generate_series(1, $N) g;"
  echo "INSERT INTO series (series_uid, study_uid, modality, first_instance_path, verdict)
        SELECT 'bench.' || g || '.1', 'bench.' || g, 'CT', '${FILES[0]}', 'pass' FROM generate_series(1, $N) g;"
  for i in "${!FILES[@]}"; do
    echo "INSERT INTO instances (sop_uid, series_uid, study_uid, path)
          SELECT 'bench.' || g || '.1.$i', 'bench.' || g || '.1', 'bench.' || g, '${FILES[$i]}' FROM generate_series(1, $N) g;"
  done
  echo "INSERT INTO dispatches (study_uid, generation, target, series_uids, reason, priority, exam_time)
        SELECT study_uid, 1, 'ai', ARRAY[study_uid || '.1'], 'backlog', priority, exam_time FROM studies;"
  echo "COMMIT;"
} | "${PSQL[@]}"
T0=$(date +%s.%N)

until [ "$("${PSQL[@]}" -c "SELECT count(*) FROM dispatches WHERE status = 'sent'")" -ge "$WARM" ]; do sleep 0.2; done
"${PSQL[@]}" <<SQL
BEGIN;
INSERT INTO studies (study_uid, state, priority, generation, filtered_generation, exam_time)
  VALUES ('bench.urgent', 'received', 3, 1, 1, now());
INSERT INTO series (series_uid, study_uid, modality, first_instance_path, verdict)
  VALUES ('bench.urgent.1', 'bench.urgent', 'CT', '${FILES[0]}', 'pass');
$(for i in "${!FILES[@]}"; do echo "INSERT INTO instances (sop_uid, series_uid, study_uid, path) VALUES ('bench.urgent.1.$i', 'bench.urgent.1', 'bench.urgent', '${FILES[$i]}');"; done)
INSERT INTO dispatches (study_uid, generation, target, series_uids, reason, priority, exam_time)
  VALUES ('bench.urgent', 1, 'ai', ARRAY['bench.urgent.1'], 'urgent', 3, now());
COMMIT;
SQL
until [ "$("${PSQL[@]}" -c "SELECT count(*) FROM dispatches WHERE status = 'sent' AND study_uid = 'bench.urgent'")" -ge 1 ]; do
  sleep 0.2
done
T1=$(date +%s.%N)

"${PSQL[@]}" -F ' ' <<SQL | awk -v n="$N" -v slices="$SLICES" -v window="$WINDOW" '
  { printf "backlog %d studies x %d instances, window %d\n", n, slices, window;
    printf "one study transfer (backlog, median over %d sent): %.3f s (p90 %.3f s)\n", $1, $2, $3;
    printf "urgent study: queued -> taken by the dispatcher %.3f s, queued -> sent %.3f s (own transfer %.3f s)\n", $4, $5, $6;
    printf "backlog studies finishing between the urgent one queued and taken: %d; still waiting when it was sent: %d\n", $7, $8;
    printf "urgent wait / one study transfer = %.2f\n", $4 / $2 }'
WITH claim AS (
  SELECT d.study_uid, d.created_at, d.sent_at, min(e.at) AS taken
  FROM dispatches d JOIN events e ON e.study_uid = d.study_uid AND e.kind = 'dispatching'
  GROUP BY d.study_uid, d.created_at, d.sent_at),
backlog AS (SELECT extract(epoch FROM sent_at - taken) AS s FROM claim WHERE study_uid <> 'bench.urgent' AND sent_at IS NOT NULL),
urgent AS (SELECT * FROM claim WHERE study_uid = 'bench.urgent')
SELECT (SELECT count(*) FROM backlog),
       (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY s) FROM backlog),
       (SELECT percentile_cont(0.9) WITHIN GROUP (ORDER BY s) FROM backlog),
       extract(epoch FROM u.taken - u.created_at), extract(epoch FROM u.sent_at - u.created_at),
       extract(epoch FROM u.sent_at - u.taken),
       (SELECT count(*) FROM dispatches d WHERE d.study_uid <> 'bench.urgent' AND d.sent_at BETWEEN u.created_at AND u.taken),
       (SELECT count(*) FROM dispatches d WHERE d.status = 'pending')
FROM urgent u;
SQL
printf "wall time of the run: %.1f s\n" "$(echo "$T1 - $T0" | bc)"
