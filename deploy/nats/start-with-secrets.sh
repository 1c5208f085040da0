#!/bin/sh
# nats-server entrypoint for compose/k8s: exports PACSPULL_NATS_PASSWORD_<USER> from the
# secret files in $PACSPULL_SECRETS_DIR (nats-<user>, e.g. /run/secrets/nats-finder) for
# deploy/nats/nats-server.conf, refuses missing, empty and placeholder secrets, then
# replaces itself with nats-server "$@".
set -eu
dir=${PACSPULL_SECRETS_DIR:-/run/secrets}
for user in finder mover receiver filter checker dispatcher operator ai_backend; do
  file="$dir/nats-$user"
  if [ ! -r "$file" ]; then
    echo "nats: secret $file is missing (deploy/make-secrets.sh creates them)" >&2
    exit 2
  fi
  value=$(cat "$file")
  case $(printf '%s' "$value" | tr -cd 'A-Za-z0-9' | tr 'A-Z' 'a-z') in
    ''|changeme|*changeme*|placeholder|*placeholder*|password|secret)
      echo "nats: secret $file is empty or a placeholder: set a real secret" >&2
      exit 2 ;;
  esac
  case $value in
    *'"'*|*'\'*)
      echo "nats: secret $file holds a quote or backslash: use letters and digits (deploy/make-secrets.sh)" >&2
      exit 2 ;;
  esac
  var=PACSPULL_NATS_PASSWORD_$(printf '%s' "$user" | tr 'a-z' 'A-Z')
  # Quoted: nats-server parses a variable's value as a config value, and a random password
  # such as 6T... reads as a number with a unit and stops it ("could not be parsed").
  export "$var=\"$value\""
done
exec nats-server "$@"
