#!/bin/bash
# Bytes pulled over bytes of the dispatch set on a generated day at --matrix N (default
# 512), with DCMTK's dcmqrscp as the PACS (no study-level modalities or counts): whole
# studies vs the finder's series-level filtering. Prints figures; not a test.
# Usage: bench/series_filter_bytes.sh [--matrix N] [--build DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
matrix=512
build=${PACSPULL_BUILD_DIR:-$here/../build}
while [ $# -gt 0 ]; do
  case $1 in
    --matrix) matrix=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
work=$(mktemp -d /tmp/pacspull-series-bytes.XXXXXX)
qr_pid=
cleanup() { [ -n "$qr_pid" ] && kill "$qr_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
/usr/bin/python3 "$here/../tests/fixtures/gen_day.py" --out "$work/day" --profile e2e >/dev/null
/usr/bin/python3 "$here/upscale_day.py" "$work/day" "$matrix"
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$work/qr/db"
cat > "$work/qr/dcmqrscp.cfg" <<CFG
NetworkTCPPort = $port
MaxPDUSize = 16384
MaxAssociations = 16
HostTable BEGIN
HostTable END
VendorTable BEGIN
VendorTable END
AETable BEGIN
QRSCP $work/qr/db RW (200, 4096mb) ANY
AETable END
CFG
dcmqrscp -c "$work/qr/dcmqrscp.cfg" >"$work/qr/dcmqrscp.log" 2>&1 &
qr_pid=$!
for _ in $(seq 1 100); do (echo >/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break; sleep 0.1; done
storescu -aec QRSCP +sd +r 127.0.0.1 "$port" "$work/day/initial" "$work/day/late" >"$work/qr/storescu.log" 2>&1
echo "generated day at ${matrix}x${matrix}: $(du -sh "$work/day" | cut -f1)"
"$build/bin/series_filter_bench" --day "$work/day" --port "$port"
