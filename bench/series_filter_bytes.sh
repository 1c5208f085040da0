#!/bin/bash
# Bytes pulled over bytes of the dispatch set on a generated day at --matrix N (default
# 512): whole studies vs the finder's series-level filtering, with DCMTK's dcmqrscp as the
# PACS (series level: Modality only; image level: the SOP list and InstanceNumber; C-GET with
# a role-selection profile, so the finder samples one instance header per CT series) and/or
# Orthanc (series level answers descriptions, counts and, read from one image, ImageType and
# SliceThickness: nothing to sample).
# Prints figures, per series what moved and why; not a test.
# Usage: bench/series_filter_bytes.sh [--matrix N] [--build DIR] [--pacs dcmqrscp|orthanc|both] [--quiet]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
matrix=512
pacs=both
quiet=0
build=${PACSPULL_BUILD_DIR:-$here/../build}
while [ $# -gt 0 ]; do
  case $1 in
    --matrix) matrix=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --pacs) pacs=$2; shift 2 ;;
    --quiet) quiet=1; shift ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
work=$(mktemp -d /tmp/pacspull-series-bytes.XXXXXX)
qr_pid=
orthanc_pid=
cleanup() {
  [ -n "$qr_pid" ] && kill "$qr_pid" 2>/dev/null
  [ -n "$orthanc_pid" ] && kill "$orthanc_pid" 2>/dev/null && wait "$orthanc_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
/usr/bin/python3 "$here/../tests/fixtures/gen_day.py" --out "$work/day" --profile e2e >/dev/null
/usr/bin/python3 "$here/upscale_day.py" "$work/day" "$matrix"
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 300); do (echo >/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
echo "generated day at ${matrix}x${matrix}: $(du -sh "$work/day" | cut -f1)"

if [ "$pacs" = dcmqrscp ] || [ "$pacs" = both ]; then
  port=$(free_port)
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
  # C-GET needs SCP/SCU role selection for the storage classes (dcmqrscp(1)); without it
  # dcmqrscp answers every C-GET "success, 0 sub-operations".
  # The storage classes of tests/support/dcmqrscp_peer.hpp.
  classes="ComputedRadiographyImageStorage DigitalXRayImageStorageForPresentation DigitalXRayImageStorageForProcessing
    CTImageStorage EnhancedCTImageStorage MRImageStorage EnhancedMRImageStorage UltrasoundImageStorage
    UltrasoundMultiframeImageStorage SecondaryCaptureImageStorage XRayAngiographicImageStorage
    XRayRadiofluoroscopicImageStorage NuclearMedicineImageStorage PositronEmissionTomographyImageStorage
    GrayscaleSoftcopyPresentationStateStorage BasicTextSRStorage EnhancedSRStorage ComprehensiveSRStorage
    DigitalMammographyXRayImageStorageForPresentation"
  {
    printf '[[TransferSyntaxes]]\n[Uncompressed]\nTransferSyntax1 = LocalEndianExplicit\n'
    printf 'TransferSyntax2 = OppositeEndianExplicit\nTransferSyntax3 = LittleEndianImplicit\n'
    printf '[[PresentationContexts]]\n[GetContexts]\n'
    i=0
    for c in $classes; do
      i=$((i + 1)); printf 'PresentationContext%d = %s\\Uncompressed\n' "$i" "$c"
    done
    printf '[[SCPSCURoleSelection]]\n[GetRoles]\n'
    i=0
    for c in $classes; do
      i=$((i + 1)); printf 'Role%d = %s\\BOTH\n' "$i" "$c"
    done
    printf '[[Profiles]]\n[Get]\nPresentationContexts = GetContexts\nSCPSCURoleSelection = GetRoles\n'
    printf '[Out]\nPresentationContexts = GetContexts\n'
  } > "$work/qr/get.cfg"
  dcmqrscp -c "$work/qr/dcmqrscp.cfg" -xf "$work/qr/get.cfg" Get Out >"$work/qr/dcmqrscp.log" 2>&1 &
  qr_pid=$!
  wait_port "$port"
  storescu -aec QRSCP +sd +r 127.0.0.1 "$port" "$work/day/initial" "$work/day/late" >"$work/qr/storescu.log" 2>&1
  "$build/bin/series_filter_bench" --day "$work/day" --port "$port" --ae QRSCP --label "dcmqrscp before" --quiet 1 --header 0
  "$build/bin/series_filter_bench" --day "$work/day" --port "$port" --ae QRSCP --label "dcmqrscp no samples" --quiet 1 --sample 0
  "$build/bin/series_filter_bench" --day "$work/day" --port "$port" --ae QRSCP --label dcmqrscp --quiet "$quiet"
fi

if [ "$pacs" = orthanc ] || [ "$pacs" = both ]; then
  port=$(free_port)
  http=$(free_port)
  mkdir -p "$work/orthanc/storage"
  cat > "$work/orthanc/orthanc.json" <<CFG
{"Name": "pacspull-bench", "StorageDirectory": "$work/orthanc/storage", "IndexDirectory": "$work/orthanc/storage",
 "StorageCompression": false, "Plugins": [], "LuaScripts": [], "HttpServerEnabled": true, "HttpPort": $http,
 "RemoteAccessAllowed": false, "AuthenticationEnabled": false, "OrthancExplorerEnabled": false,
 "DicomServerEnabled": true, "DicomAet": "ORTHANC", "DicomPort": $port, "DicomCheckCalledAet": false,
 "DicomAlwaysAllowEcho": true, "DicomAlwaysAllowStore": true, "DicomAlwaysAllowFind": true,
 "LimitFindResults": 0, "DicomModalities": {}}
CFG
  /usr/sbin/Orthanc "$work/orthanc/orthanc.json" >"$work/orthanc/orthanc.log" 2>&1 &
  orthanc_pid=$!
  wait_port "$port"
  storescu -aec ORTHANC +sd +r 127.0.0.1 "$port" "$work/day/initial" "$work/day/late" >"$work/orthanc/storescu.log" 2>&1
  "$build/bin/series_filter_bench" --day "$work/day" --port "$port" --ae ORTHANC --label "orthanc before" --quiet 1 --header 0
  "$build/bin/series_filter_bench" --day "$work/day" --port "$port" --ae ORTHANC --label orthanc --quiet "$quiet"
fi
