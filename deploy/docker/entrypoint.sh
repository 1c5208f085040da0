#!/bin/sh
# pacspull image entrypoint: the first argument names what to run.
#   finder|mover|receiver|filter|checker|dispatcher [args...]
#       exec pacspull-<name> --config "$PACSPULL_CONFIG" [args...]
#   pullctl [args...]      the operator CLI
#   help                   this text
#   anything else          exec'd as given (storescp, echoscu, bash, ...)
# The service replaces this shell (exec), so tini delivers SIGTERM straight to it
# and its exit code (2 bad config, 3 ledger, 4 bus, 5 DICOM bind) is the
# container's.
set -eu

config=${PACSPULL_CONFIG:-/etc/pacspull/site.yaml}
bindir=${PACSPULL_BIN_DIR:-/usr/local/bin}

usage() {
  cat <<'EOF'
usage: <image> SERVICE [ARGS...]
  SERVICE: finder | mover | receiver | filter | checker | dispatcher
           pullctl ARGS...   operator CLI
           any other command is run as given (e.g. storescp, echoscu)
environment:
  PACSPULL_CONFIG       site file (default /etc/pacspull/site.yaml)
  PACSPULL_<PATH>       overrides any scalar of the site file,
                        e.g. PACSPULL_LEDGER_URL, PACSPULL_BUS_URL
EOF
}

if [ $# -eq 0 ]; then
  usage
  exit 0
fi

service=$1
shift
case "$service" in
  completeness-checker)
    service=checker ;;
esac

case "$service" in
  finder|mover|receiver|filter|checker|dispatcher)
    if [ ! -r "$config" ]; then
      echo "pacspull-entrypoint: config $config is not readable" >&2
      exit 2
    fi
    exec "$bindir/pacspull-$service" --config "$config" "$@" ;;
  pullctl)
    exec "$bindir/pullctl" "$@" ;;
  help|-h|--help)
    usage ;;
  *)
    exec "$service" "$@" ;;
esac
