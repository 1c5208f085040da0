#!/usr/bin/env bash
# Receive speed side by side, in one run, on this machine's disk (bench/README.md):
#   DCMTK storescp (1 association; --fork for 4), Orthanc 1.10 (1 association), the
#   pacspull receiver (bin/pacspull-receiver with a private PostgreSQL, fsync ON, and
#   nats-server; 1 and 4 associations), and the "durable ceiling" (bench/durable_ceiling:
#   write + fsync + rename + directory fsync + one small durable PostgreSQL commit, in a
#   loop). Senders: DCMTK storescu over loopback with TCP_NODELAY=1. Runs are paired: run k
#   of every contender happens before run k+1 of any; medians of --runs, and the median of
#   the per-run ratios. Then the receiver's RSS at 1k, 10k, 100k instances (64x64 images).
#
# Usage: bench/receive_compare.sh [--count N] [--runs R] [--sizes "ct small"]
#                                 [--rss-count N | --no-rss] [--build DIR] [--work DIR]
#                                 [--receiver BIN] [--ceiling BIN] [--baseline BIN]
#   --count  instances per run (default 300)        --runs  paired runs (default 5)
#   --sizes  ct = 0.5 MB CT slices, small = 64x64   --rss-count  instances of the RSS phase
#            (default 100000; RSS is printed at 1k, 10k, 100k as reached)
#   --work   where stores live (default a fresh dir under /var/tmp: the disk under test)
#   --baseline  another pacspull-receiver binary (e.g. built from an older commit), run as
#            one more contender in the same paired runs: before/after in one table
# Quick run: bench/receive_compare.sh --count 100 --runs 3 --sizes ct --rss-count 2000
# Needs: a build with bin/pacspull-receiver and bin/durable_ceiling (target durable_ceiling).
# Not a test: it prints figures and judges nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
COUNT=300 RUNS=5 SIZES="ct small" RSS_COUNT=100000 BUILD=${PACSPULL_BUILD_DIR:-$ROOT/build} WORK=""
RECEIVER="" CEILING="" BASELINE=""
while [ $# -gt 0 ]; do
  case $1 in
    --count) COUNT=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --sizes) SIZES=$2; shift 2 ;;
    --rss-count) RSS_COUNT=$2; shift 2 ;;
    --no-rss) RSS_COUNT=0; shift ;;
    --build) BUILD=$2; shift 2 ;;
    --work) WORK=$2; shift 2 ;;
    --receiver) RECEIVER=$2; shift 2 ;;
    --ceiling) CEILING=$2; shift 2 ;;
    --baseline) BASELINE=$2; shift 2 ;;
    *) sed -n 2,20p "$0"; exit 2 ;;
  esac
done
RECEIVER=${RECEIVER:-$BUILD/bin/pacspull-receiver}
CEILING=${CEILING:-$BUILD/bin/durable_ceiling}
for b in "$RECEIVER" "$CEILING" ${BASELINE:+"$BASELINE"}; do
  [ -x "$b" ] || { echo "bench: $b missing (cmake --build $BUILD --target pacspull-receiver durable_ceiling)" >&2; exit 2; }
done
for t in storescu storescp Orthanc nats-server psql; do
  command -v "$t" >/dev/null || { echo "bench: $t not installed (deploy/setup.sh)" >&2; exit 2; }
done
export TCP_NODELAY=1
PY=/usr/bin/python3

WORK=${WORK:-$(mktemp -d /var/tmp/pacspull-bench-XXXXXX)}
mkdir -p "$WORK"
chmod 755 "$WORK"
source deploy/lib/stack.sh
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  stop_pidfile "$WORK/nats/nats.pid"
  stop_postgres "$WORK/pg" >/dev/null 2>&1 || true
  [ -n "${BENCH_KEEP:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT

# PostgreSQL with fsync and synchronous_commit ON (the defaults): durability is what we measure.
PG_PORT=$(free_port)
PG_EXTRA_OPTS="-c fsync=on -c synchronous_commit=on -c max_connections=100" start_postgres "$WORK/pg" "$PG_PORT" >/dev/null
NATS_PORT=$(free_port)
start_nats "$WORK/nats" "$NATS_PORT" >/dev/null
PG="postgresql://postgres@127.0.0.1:$PG_PORT"

now() { date +%s.%N; }
elapsed() { $PY -c "import sys; print('%.4f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$1" "$2"; }

# send PORT AET ASSOC DIR: storescu, ASSOC associations (one per DIR/p<k> when 4, all in
# one when 1); prints the seconds from the first start to the last exit.
send() {
  local port=$1 aet=$2 assoc=$3 dir=$4 t0 t1 pids=() rc=0
  t0=$(now)
  if [ "$assoc" = 1 ]; then
    storescu -aet BENCH -aec "$aet" -to 10 -ta 30 -td 120 +sd +r 127.0.0.1 "$port" "$dir" >"$WORK/storescu.log" 2>&1 || rc=1
  else
    for k in $(seq 0 $((assoc - 1))); do
      storescu -aet BENCH -aec "$aet" -to 10 -ta 30 -td 120 +sd +r 127.0.0.1 "$port" "$dir/p$k" >"$WORK/storescu-$k.log" 2>&1 &
      pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p" || rc=1; done
  fi
  t1=$(now)
  [ $rc = 0 ] || echo "bench: storescu failed (see $WORK/storescu*.log)" >&2
  elapsed "$t0" "$t1"
}

count_files() { find "$1" -name "$2" -type f | wc -l; }
check_count() {  # check_count WHAT GOT WANT
  [ "$2" = "$3" ] || echo "bench: WARNING $1 stored $2 of $3 instances" >&2
}

run_storescp() {  # run_storescp ASSOC DATA
  local assoc=$1 data=$2 d port pid s fork=""
  d=$WORK/storescp; rm -rf "$d"; mkdir -p "$d"
  port=$(free_port)
  [ "$assoc" = 1 ] || fork=--fork
  storescp $fork -aet STORESCP -od "$d" "$port" >"$WORK/storescp.log" 2>&1 &
  pid=$!; PIDS+=("$pid")
  wait_listener "$pid" "$port" 20 >&2
  s=$(send "$port" STORESCP "$assoc" "$data")
  kill "$pid"; wait "$pid" 2>/dev/null || true
  check_count "storescp" "$(count_files "$d" '*.*')" "$COUNT"
  echo "$s"
}

run_orthanc() {  # run_orthanc ASSOC DATA
  local assoc=$1 data=$2 d port pid s
  d=$WORK/orthanc; rm -rf "$d"; mkdir -p "$d"
  port=$(free_port)
  cat >"$d/orthanc.json" <<EOF
{ "Name": "bench", "StorageDirectory": "$d/storage", "IndexDirectory": "$d/index",
  "DicomAet": "ORTHANC", "DicomPort": $port, "HttpPort": $(free_port), "HttpServerEnabled": true,
  "RemoteAccessAllowed": false, "AuthenticationEnabled": false, "DicomCheckCalledAet": false,
  "StorageCompression": false, "Plugins": [], "ConcurrentJobs": 1 }
EOF
  Orthanc "$d/orthanc.json" >"$WORK/orthanc.log" 2>&1 &
  pid=$!; PIDS+=("$pid")
  wait_listener "$pid" "$port" 60 >&2
  s=$(send "$port" ORTHANC "$assoc" "$data")
  kill "$pid"; wait "$pid" 2>/dev/null || true
  check_count "Orthanc" "$(find "$d/storage" -type f | wc -l)" "$COUNT"
  echo "$s"
}

# start_receiver [BIN]: a fresh database and store; sets RX_PID, RX_PORT, RX_METRICS, RX_DB.
start_receiver() {
  local bin=${1:-$RECEIVER}
  RX_SEQ=${BASHPID}_$RANDOM  # runs happen in $(...) subshells: no counter survives them
  RX_DB=bench_$RX_SEQ
  ensure_database "$RX_DB" "$PG_PORT"
  local d=$WORK/rx
  rm -rf "$d"; mkdir -p "$d"
  RX_PORT=$(free_port); RX_METRICS=$(free_port)
  cat >"$d/site.yaml" <<EOF
site: bench
ledger: {url: "$PG/$RX_DB"}
bus: {url: "nats://127.0.0.1:$NATS_PORT"}
local: {ae_title: PACSPULL, receiver_ae_title: PACSPULL, storage_root: $d/store, connect_timeout: 5s}
pacs:
  - {name: nowhere, ae_title: NOPACS, host: 127.0.0.1, port: 1}
ai_node: {ae_title: AI, host: 127.0.0.1, port: 2}
log: {level: warn}
receiver: {dicom_port: $RX_PORT, grpc_port: $(free_port), metrics_port: $RX_METRICS, max_associations: 8,
           accept_any_caller: true, accept_unsolicited: true}  # storescu sends what no pull asked for
EOF
  "$bin" --config "$d/site.yaml" >"$WORK/receiver-$RX_SEQ.log" 2>&1 &
  RX_PID=$!; PIDS+=("$RX_PID")
  wait_listener "$RX_PID" "$RX_PORT" 60 >&2 || { tail -20 "$WORK/receiver-$RX_SEQ.log" >&2; exit 1; }
}
stop_receiver() {
  kill "$RX_PID"; wait "$RX_PID" 2>/dev/null || true
  psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS \"$RX_DB\"" >/dev/null
}

# stage_means: the receiver's mean milliseconds per stage of one C-STORE, from its
# pacspull_receiver_stage_seconds histograms, as "receive=.. sync=.. place=.. dir_sync=.. commit=.. respond=..".
stage_means() {
  curl -fsS "http://127.0.0.1:$RX_METRICS/metrics" 2>/dev/null |
    awk '/^pacspull_receiver_stage_seconds_(sum|count)\{/ {
           match($0, /stage="[a-z_]+"/); k = substr($0, RSTART + 7, RLENGTH - 8)
           if ($0 ~ /_sum/) s[k] = $2; else c[k] = $2 }
         END { n = split("receive sync place dir_sync commit respond", order, " ")
               for (i = 1; i <= n; i++) { k = order[i]; if (c[k] > 0) printf "%s=%.3f ", k, 1000 * s[k] / c[k] } }'
}

run_pacspull() {  # run_pacspull ASSOC DATA [BIN]
  local assoc=$1 data=$2 s
  start_receiver "${3:-}"
  s=$(send "$RX_PORT" PACSPULL "$assoc" "$data")
  check_count "pacspull ${3:-}" "$(psql "$PG/$RX_DB" -Atc 'SELECT count(*) FROM instances')" "$COUNT"
  [ -n "${3:-}" ] || { stage_means; echo; } >>"$WORK/stages-$assoc"
  stop_receiver
  echo "$s"
}

run_ceiling() {  # run_ceiling BYTES
  "$CEILING" --dir "$WORK/ceiling" --count "$COUNT" --bytes "$1" --pg "$PG/postgres" | cut -d' ' -f1
}

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

echo "bench: $COUNT instances per run, $RUNS paired runs, sizes: $SIZES; work dir $WORK ($(df -h --output=source,fstype "$WORK" | tail -1 | tr -s ' '))"
echo "bench: load average $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"
for size in $SIZES; do
  data=$WORK/data-$size
  $PY bench/make_bench_instances.py "$data" --count "$COUNT" --parts 4 --size "$size"
  bytes=$(stat -c %s "$data/p0/000000.dcm")
  declare -A T=()
  NAMES=(storescp1 storescp4 orthanc1 pacspull1 pacspull4 ceiling)
  [ -z "$BASELINE" ] || NAMES+=(baseline1 baseline4)
  for r in $(seq 1 "$RUNS"); do
    T[storescp1]+=" $(run_storescp 1 "$data")"
    T[pacspull1]+=" $(run_pacspull 1 "$data")"
    T[ceiling]+=" $(run_ceiling "$bytes")"
    T[orthanc1]+=" $(run_orthanc 1 "$data")"
    T[storescp4]+=" $(run_storescp 4 "$data")"
    T[pacspull4]+=" $(run_pacspull 4 "$data")"
    if [ -n "$BASELINE" ]; then
      T[baseline1]+=" $(run_pacspull 1 "$data" "$BASELINE")"
      T[baseline4]+=" $(run_pacspull 4 "$data" "$BASELINE")"
    fi
    echo "bench: $size run $r: $(for n in "${NAMES[@]}"; do printf '%s %s  ' "$n" "$(echo "${T[$n]}" | awk '{print $NF}')"; done)"
  done
  # ratio A B: median over runs of (B's time / A's time) = A's speed relative to B.
  ratio() { paste <(echo "${T[$1]}" | tr ' ' '\n' | grep -v '^$') <(echo "${T[$2]}" | tr ' ' '\n' | grep -v '^$') |
      awk '{print $2/$1}' | median | awk '{printf "%.2fx", $1}'; }
  echo
  echo "== $size: $COUNT instances of $bytes bytes, medians of $RUNS (seconds; speed ratio = other's time / ours, paired) =="
  printf '%-34s %10s %12s\n' "receiver" "seconds" "inst/s"
  for n in "${NAMES[@]}"; do
    m=$(echo "${T[$n]}" | median)
    label=$n
    case $n in
      storescp1) label="DCMTK storescp, 1 assoc" ;; storescp4) label="DCMTK storescp --fork, 4 assoc" ;;
      orthanc1) label="Orthanc 1.10, 1 assoc" ;; pacspull1) label="pacspull receiver, 1 assoc" ;;
      pacspull4) label="pacspull receiver, 4 assoc" ;; ceiling) label="durable ceiling (loop)" ;;
      baseline1) label="baseline receiver, 1 assoc" ;; baseline4) label="baseline receiver, 4 assoc" ;;
    esac
    printf '%-34s %10.3f %12.1f\n' "$label" "$m" "$(awk -v c="$COUNT" -v s="$m" 'BEGIN{print c/s}')"
  done
  # One association waits for each C-STORE-RSP before it sends the next: the DICOM exchange
  # (storescp's time, no fsync) and the durable work (the ceiling loop) add up. Best case
  # for pacspull/ceiling with 1 association = ceiling / (ceiling + storescp), per run.
  bound=$(paste <(echo "${T[ceiling]}" | tr ' ' '\n' | grep -v '^$') <(echo "${T[storescp1]}" | tr ' ' '\n' | grep -v '^$') |
      awk '{print $1/($1+$2)}' | median | awk '{printf "%.2fx", $1}')
  echo "ratios (pacspull speed / other's speed; goal in brackets):"
  echo "  1 assoc: pacspull/storescp $(ratio pacspull1 storescp1)   pacspull/ceiling $(ratio pacspull1 ceiling) [>=0.9]   pacspull/Orthanc $(ratio pacspull1 orthanc1) [>=4]"
  echo "  4 assoc: pacspull/storescp --fork $(ratio pacspull4 storescp4) [>=0.9]   pacspull(4)/Orthanc(1) $(ratio pacspull4 orthanc1) [>=4]"
  echo "  serial bound for 1 assoc: ceiling/(ceiling + storescp exchange) = $bound (what pacspull/ceiling could reach at best)"
  for a in 1 4; do
    [ -s "$WORK/stages-$a" ] || continue
    printf '  pacspull %s assoc, ms per C-STORE by stage (median of runs):' "$a"
    for st in receive sync place dir_sync commit respond; do
      printf ' %s %s' "$st" "$(tr ' ' '\n' <"$WORK/stages-$a" | awk -F= -v k="$st" '$1 == k {print $2}' | median)"
    done
    echo
    rm -f "$WORK/stages-$a"
  done
  if [ -n "$BASELINE" ]; then
    echo "  baseline, 1 assoc: /storescp $(ratio baseline1 storescp1)  /ceiling $(ratio baseline1 ceiling)  /Orthanc $(ratio baseline1 orthanc1);  4 assoc: /storescp --fork $(ratio baseline4 storescp4)"
    echo "  pacspull/baseline: 1 assoc $(ratio pacspull1 baseline1), 4 assoc $(ratio pacspull4 baseline4)"
  fi
  rm -rf "$data"
  unset T
done

if [ "$RSS_COUNT" -gt 0 ]; then
  echo
  echo "== receiver RSS over $RSS_COUNT instances (64x64, 4 associations) =="
  data=$WORK/data-rss
  $PY bench/make_bench_instances.py "$data" --count "$RSS_COUNT" --parts 4 --size small
  start_receiver "${RSS_RECEIVER:-}"
  stored() {
    curl -fsS "http://127.0.0.1:$RX_METRICS/metrics" 2>/dev/null |
      awk '/^pacspull_receiver_instances_stored_total/ {print int($2)}' | head -1
  }
  rss() { awk '/^VmRSS/ {print $2}' "/proc/$RX_PID/status"; }
  echo "  at start: RSS $(rss) kB"
  t0=$(now)
  senders=()
  for k in 0 1 2 3; do
    storescu -aet BENCH -aec PACSPULL -to 10 -ta 30 -td 120 +sd +r 127.0.0.1 "$RX_PORT" "$data/p$k" >"$WORK/rss-$k.log" 2>&1 &
    senders+=($!)
  done
  marks=(1000 10000 100000)
  i=0
  while [ $i -lt ${#marks[@]} ] && [ "${marks[$i]}" -le "$RSS_COUNT" ]; do
    n=$(stored); n=${n:-0}
    if [ "$n" -ge "${marks[$i]}" ]; then
      echo "  $n instances stored: RSS $(rss) kB  ($(elapsed "$t0" "$(now)") s)"
      i=$((i + 1))
      continue
    fi
    alive=0; for p in "${senders[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ $alive = 1 ] || { echo "  senders finished at $n instances: RSS $(rss) kB"; break; }
    sleep 0.2  # sampling interval of a measurement, not synchronisation
  done
  for p in "${senders[@]}"; do wait "$p" || true; done
  echo "  done: $(stored) stored, RSS $(rss) kB, peak $(awk '/^VmHWM/ {print $2}' "/proc/$RX_PID/status") kB"
  stop_receiver
fi
