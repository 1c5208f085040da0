#!/usr/bin/env bash
# Creates the secret files docker-compose.yml (and, as a Secret, k8s/) reads: random
# passwords, one per file, mode 600, never overwriting an existing one.
#   deploy/make-secrets.sh [DIR]        (default ./secrets beside docker-compose.yml)
#   pg-owner                 the ledger's owner (migrations only: the `migrate` one-shot)
#   pg-<service>             the PostgreSQL role pacspull_<service> (migration 009)
#   nats-<user>              the NATS user of deploy/nats/nats-server.conf
#   grpc-tokens              the gRPC bearer token (one line "operator:<secret>"): every
#                            service accepts it for state-changing calls (grpc.token_file),
#                            pullctl sends it (PACSPULL_GRPC_TOKEN_FILE in the containers)
# services: finder mover receiver filter checker dispatcher operator (pullctl);
# NATS users: the same plus ai_backend (the consumer of pacspull.dispatch.done).
# k8s: kubectl -n pacspull create secret generic pacspull-credentials --from-file=DIR
set -euo pipefail
dir=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/secrets}
mkdir -p "$dir"
chmod 700 "$dir"
umask 022  # files readable inside the containers (bind-mounted one by one); the directory is 700
made=0
for name in pg-owner pg-finder pg-mover pg-receiver pg-filter pg-checker pg-dispatcher pg-operator \
            nats-finder nats-mover nats-receiver nats-filter nats-checker nats-dispatcher nats-operator nats-ai_backend \
            grpc-tokens; do
  f="$dir/$name"
  [ -s "$f" ] && continue
  # 32 characters from [A-Za-z0-9]: no quoting trouble in URLs, YAML or nats config.
  # (tr is cut off by head: SIGPIPE is expected, hence `|| true` under pipefail.)
  value=$(LC_ALL=C tr -dc 'A-Za-z0-9' </dev/urandom | head -c 32 || true)
  [ ${#value} = 32 ] || { echo "make-secrets: could not read /dev/urandom" >&2; exit 1; }
  case $name in
    grpc-tokens) printf 'operator:%s\n' "$value" >"$f" ;;  # id:secret, the format of grpc.token_file
    *) printf '%s' "$value" >"$f" ;;
  esac
  made=$((made + 1))
done
echo "secrets in $dir: $made created, $(( $(find "$dir" -maxdepth 1 -type f | wc -l) - made )) kept"
