#!/bin/bash
# pacspull-healthcheck GRPC_PORT [HOST]
# Asks the service's grpc.health.v1.Health/Check (empty service name = the
# whole server) and exits 0 only for SERVING. There is no grpc_health_probe in
# Debian, so the call is made by hand with curl over HTTP/2 cleartext:
#   request  = gRPC frame of an empty HealthCheckRequest: 00 00000000
#   SERVING  = gRPC frame of HealthCheckResponse{status=1}: 00 00000002 08 01
# NOT_SERVING (08 02), an error status (no body) or no listener all fail.
# Kubernetes uses its native gRPC probe instead; this is for docker compose.
set -u

port=${1:?usage: pacspull-healthcheck GRPC_PORT [HOST]}
host=${2:-127.0.0.1}
timeout=${PACSPULL_HEALTHCHECK_TIMEOUT:-3}

reply=$(printf '\0\0\0\0\0' |
  curl --silent --show-error --max-time "$timeout" --http2-prior-knowledge \
    -H 'content-type: application/grpc' -H 'te: trailers' \
    --data-binary @- --output - \
    "http://${host}:${port}/grpc.health.v1.Health/Check" |
  od -An -tx1 | tr -d ' \n')

if [ "$reply" = "00000000020801" ]; then
  exit 0
fi
echo "pacspull-healthcheck: ${host}:${port} not SERVING (reply '${reply}')" >&2
exit 1
