#!/usr/bin/env bash
# Receive throughput with 1, 2 and 3 pacspull receivers behind HAProxy (issue 7, part 3).
# HAProxy in TCP mode is configured from deploy/haproxy/haproxy.cfg (render-local.sh puts
# the local receivers in); the receivers share one store and one ledger database, as in
# k8s; a private PostgreSQL (fsync ON, as in production) and nats-server are started here.
# The sender is DCMTK storescu with 4 associations through HAProxy, TCP_NODELAY=1. Runs are
# paired (run k of every contender before run k+1 of any); medians of --runs. Also one
# receiver without HAProxy, so the proxy's own cost shows.
#
# Usage: bench/haproxy_receivers.sh [--count N] [--runs R] [--size ct|small] [--build DIR] [--work DIR]
#   --count  instances per run (default 300)   --runs  paired runs (default 3)
#   --size   ct = 0.5 MB CT slices (default), small = 64x64
#   --work   where the store lives (default a fresh dir under /var/tmp: the disk under test)
# Needs: bin/pacspull-receiver in the build; haproxy, storescu, nats-server, PostgreSQL
# (deploy/setup.sh). Not a test: it prints figures and judges nothing. On a machine with
# few cores the receivers compete with PostgreSQL, HAProxy and the sender for the CPU: read
# the ratios with the core count printed at the top.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
COUNT=300 RUNS=3 SIZE=ct BUILD=${PACSPULL_BUILD_DIR:-$ROOT/build} WORK=""
while [ $# -gt 0 ]; do
  case $1 in
    --count) COUNT=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --size) SIZE=$2; shift 2 ;;
    --build) BUILD=$2; shift 2 ;;
    --work) WORK=$2; shift 2 ;;
    *) sed -n 2,18p "$0"; exit 2 ;;
  esac
done
RECEIVER=$BUILD/bin/pacspull-receiver
[ -x "$RECEIVER" ] || { echo "bench: $RECEIVER missing (cmake --build $BUILD --target pacspull-receiver)" >&2; exit 2; }
for t in haproxy storescu nats-server psql; do
  command -v "$t" >/dev/null || { echo "bench: $t not installed (deploy/setup.sh)" >&2; exit 2; }
done
export TCP_NODELAY=1
PY=/usr/bin/python3
ASSOC=4

WORK=${WORK:-$(mktemp -d /var/tmp/pacspull-bench-ha-XXXXXX)}
mkdir -p "$WORK"
chmod 755 "$WORK"
source deploy/lib/stack.sh
RX_PIDS=() HA_PID=""
stop_all_receivers() {
  for p in "${RX_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${RX_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  RX_PIDS=()
}
stop_haproxy() {
  [ -z "$HA_PID" ] || { kill "$HA_PID" 2>/dev/null || true; wait "$HA_PID" 2>/dev/null || true; }
  HA_PID=""
}
cleanup() {
  stop_haproxy
  stop_all_receivers
  stop_pidfile "$WORK/nats/nats.pid"
  stop_postgres "$WORK/pg" >/dev/null 2>&1 || true
  [ -n "${BENCH_KEEP:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT

PG_PORT=$(free_port)
PG_EXTRA_OPTS="-c fsync=on -c synchronous_commit=on -c max_connections=200" start_postgres "$WORK/pg" "$PG_PORT" >/dev/null
NATS_PORT=$(free_port)
start_nats "$WORK/nats" "$NATS_PORT" >/dev/null
PG="postgresql://postgres@127.0.0.1:$PG_PORT"

now() { date +%s.%N; }
elapsed() { $PY -c "import sys; print('%.4f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$1" "$2"; }
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

SEQ=0
# start_receivers N: N receivers on a fresh database and one fresh shared store; sets
# RX_PORTS and DB.
start_receivers() {
  local n=$1 k port d
  SEQ=$((SEQ + 1))
  DB=bench_ha_$SEQ
  ensure_database "$DB" "$PG_PORT"
  d=$WORK/rx
  rm -rf "$d"; mkdir -p "$d/store"
  RX_PORTS=()
  for k in $(seq 1 "$n"); do
    port=$(free_port)
    cat >"$d/site-$k.yaml" <<EOF
site: bench
ledger: {url: "$PG/$DB"}
bus: {url: "nats://127.0.0.1:$NATS_PORT"}
local: {ae_title: PACSPULL, receiver_ae_title: PACSPULL, storage_root: $d/store, connect_timeout: 5s}
pacs:
  - {name: nowhere, ae_title: NOPACS, host: 127.0.0.1, port: 1}
ai_node: {ae_title: AI, host: 127.0.0.1, port: 2}
log: {level: warn}
receiver: {dicom_port: $port, grpc_port: $(free_port), metrics_port: $(free_port), max_associations: 16,
           accept_any_caller: true, accept_unsolicited: true}  # storescu sends what no pull asked for
EOF
    "$RECEIVER" --config "$d/site-$k.yaml" >"$WORK/receiver-$SEQ-$k.log" 2>&1 &
    RX_PIDS+=($!)
    wait_listener "$!" "$port" 60 >&2 || { tail -20 "$WORK/receiver-$SEQ-$k.log" >&2; exit 1; }
    RX_PORTS+=("$port")
  done
}

# start_haproxy: HAProxy in front of RX_PORTS; sets HA_PORT.
start_haproxy() {
  local args=() p
  HA_PORT=$(free_port)
  for p in "${RX_PORTS[@]}"; do args+=(--server "127.0.0.1:$p"); done
  bash deploy/haproxy/render-local.sh --bind "$HA_PORT" --stats "$(free_port)" --check-inter 1s "${args[@]}" \
    >"$WORK/haproxy.cfg"
  haproxy -db -f "$WORK/haproxy.cfg" >>"$WORK/haproxy.log" 2>&1 &
  HA_PID=$!
  wait_listener "$HA_PID" "$HA_PORT" 30 >&2 || { tail -20 "$WORK/haproxy.log" >&2; exit 1; }
}

# send PORT DIR: ASSOC storescu associations (one per DIR/p<k>); prints the seconds.
send() {
  local port=$1 dir=$2 t0 t1 pids=() rc=0 k
  t0=$(now)
  for k in $(seq 0 $((ASSOC - 1))); do
    storescu -aet BENCH -aec PACSPULL -to 10 -ta 30 -td 120 +sd +r 127.0.0.1 "$port" "$dir/p$k" \
      >"$WORK/storescu-$k.log" 2>&1 &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || rc=1; done
  t1=$(now)
  [ $rc = 0 ] || echo "bench: storescu failed (see $WORK/storescu-*.log)" >&2
  elapsed "$t0" "$t1"
}

# run N|direct DATA: prints seconds; warns when the ledger has fewer rows than sent.
run() {
  local what=$1 data=$2 s got
  if [ "$what" = direct ]; then
    start_receivers 1
    s=$(send "${RX_PORTS[0]}" "$data")
  else
    start_receivers "$what"
    start_haproxy
    s=$(send "$HA_PORT" "$data")
    stop_haproxy
  fi
  got=$(psql "$PG/$DB" -Atc 'SELECT count(*) FROM instances')
  [ "$got" = "$COUNT" ] || echo "bench: WARNING $what: $got of $COUNT instances recorded" >&2
  WRITERS=$(psql "$PG/$DB" -Atc "SELECT string_agg(n::text, '/' ORDER BY n DESC) FROM (SELECT count(*) n FROM instances GROUP BY receiver) c" 2>/dev/null || echo "?")
  stop_all_receivers
  psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS \"$DB\"" >/dev/null
  echo "$s"
}

echo "bench: $COUNT $SIZE instances per run, $ASSOC storescu associations, $RUNS paired runs; work dir $WORK ($(df -h --output=source,fstype "$WORK" | tail -1 | tr -s ' '))"
echo "bench: load average $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores, $(haproxy -v | head -1 | cut -d' ' -f1-3)"
data=$WORK/data
$PY bench/make_bench_instances.py "$data" --count "$COUNT" --parts "$ASSOC" --size "$SIZE"
bytes=$(stat -c %s "$data/p0/000000.dcm")
declare -A T=() SPLIT=()
NAMES=(direct 1 2 3)
for r in $(seq 1 "$RUNS"); do
  line="bench: run $r:"
  for n in "${NAMES[@]}"; do
    T[$n]+=" $(run "$n" "$data")"
    line+="  $n $(echo "${T[$n]}" | awk '{print $NF}')s"
  done
  echo "$line"
done

# Which receiver took how many instances, from one extra run per N (the split is the
# balancer's doing: leastconn over 4 long associations).
for n in 2 3; do run "$n" "$data" >/dev/null; SPLIT[$n]=$WRITERS; done

echo
echo "== $COUNT instances of $bytes bytes, $ASSOC associations through HAProxy; medians of $RUNS =="
printf '%-36s %9s %10s %14s\n' "receivers" "seconds" "inst/s" "vs 1 behind HA"
base=$(echo "${T[1]}" | median)
for n in "${NAMES[@]}"; do
  m=$(echo "${T[$n]}" | median)
  case $n in direct) label="1 receiver, no HAProxy" ;; 1) label="1 receiver behind HAProxy" ;;
    *) label="$n receivers behind HAProxy (${SPLIT[$n]:-?})" ;; esac
  printf '%-36s %9.3f %10.1f %13.2fx\n' "$label" "$m" "$(awk -v c="$COUNT" -v s="$m" 'BEGIN{print c/s}')" \
    "$(awk -v b="$base" -v s="$m" 'BEGIN{print b/s}')"
done
echo "(ratio = time of 1 receiver behind HAProxy / time of this row: above 1 is faster; the split in brackets is instances per receiver)"
