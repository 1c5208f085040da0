#!/usr/bin/env bash
# Prints a local variant of deploy/haproxy/haproxy.cfg on stdout: the same global,
# defaults, balance, health check and limits (haproxy.cfg stays the one source of truth),
# but receivers at fixed local addresses instead of found by DNS, and local ports.
#   render-local.sh --bind PORT --stats PORT [--check-inter 1s] --server HOST:PORT [--server ...]
# Used by the e2e test of several receivers (tests/e2e/receivers_scaled_test.cpp) and by
# bench/haproxy_receivers.sh; a bare-metal site with fixed receiver hosts can use it too.
# Checked by tests/static/check_deploy.sh (the rendered file passes haproxy -c).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
bind="" stats="" inter="" servers=()
while [ $# -gt 0 ]; do
  case "$1" in
    --bind) bind=$2; shift 2 ;;
    --stats) stats=$2; shift 2 ;;
    --check-inter) inter=$2; shift 2 ;;
    --server) servers+=("$2"); shift 2 ;;
    *) echo "render-local.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
if [ -z "$bind" ] || [ -z "$stats" ] || [ ${#servers[@]} -eq 0 ]; then
  echo "usage: render-local.sh --bind PORT --stats PORT [--check-inter 1s] --server HOST:PORT [--server ...]" >&2
  exit 2
fi
for s in "${servers[@]}"; do
  [[ "$s" =~ ^[A-Za-z0-9.-]+:[0-9]+$ ]] || { echo "render-local.sh: --server '$s' is not HOST:PORT" >&2; exit 2; }
done

server_lines=""
n=0
for s in "${servers[@]}"; do
  n=$((n + 1))
  server_lines+="    server receiver$n $s"$'\n'
done

# Each substitution must hit exactly once: a change of haproxy.cfg that moves one of these
# lines fails here loudly instead of rendering a config that silently differs.
awk -v bind="$bind" -v stats="$stats" -v inter="$inter" -v servers="$server_lines" '
  BEGIN { hits["bind"] = hits["stats"] = hits["default"] = hits["template"] = hits["resolvers"] = 0 }
  # The DNS resolvers section (compose/k8s service discovery) is not needed: skip to its end.
  /^resolvers sitedns/ { skip = 1; hits["resolvers"]++; next }
  skip && /^[^ \t#]/ { skip = 0 }
  skip { next }
  /^[ \t]*bind :11112[ \t]*$/ { print "    bind 127.0.0.1:" bind; hits["bind"]++; next }
  /^[ \t]*bind :8404[ \t]*$/ { print "    bind 127.0.0.1:" stats; hits["stats"]++; next }
  /^[ \t]*default-server / {
    line = $0
    sub(/ resolvers sitedns init-addr none/, "", line)
    if (inter != "") sub(/ inter [0-9]+[a-z]*/, " inter " inter, line)
    print line; hits["default"]++; next
  }
  /^[ \t]*server-template receiver / { printf "%s", servers; hits["template"]++; next }
  { print }
  END {
    for (k in hits) if (hits[k] != 1) {
      printf "render-local.sh: expected one \"%s\" line in haproxy.cfg, found %d\n", k, hits[k] > "/dev/stderr"
      bad = 1
    }
    exit bad
  }
' "$HERE/haproxy.cfg"
