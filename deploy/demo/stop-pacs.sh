#!/usr/bin/env bash
# Stops the demo Orthanc started by start-pacs.sh RUN_DIR (its storage stays in RUN_DIR).
set -euo pipefail
RUN_DIR=${1:?usage: $0 RUN_DIR}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
exec "$HERE/stop-pid.sh" "$RUN_DIR/orthanc.pid" Orthanc
