#!/usr/bin/env bash
# Stops the demo AI node started by start-ai-node.sh RUN_DIR (received files stay).
set -euo pipefail
RUN_DIR=${1:?usage: $0 RUN_DIR}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
exec "$HERE/stop-pid.sh" "$RUN_DIR/ai-node.pid" storescp
