#!/usr/bin/env bash
# Static checks of deploy/systemd (called from tests/static/check_deploy.sh):
# - install.sh --root stages binaries, units and a site file that the services accept
#   (pacspull-finder --check-config is not assumed: the staged site.yaml is parsed as YAML
#   and its ledger/bus URLs checked);
# - every unit passes `systemd-analyze verify` (Debian package systemd); the only message
#   tolerated is that /usr/local/bin/pacspull-* and nats-start do not exist on this machine;
# - each service unit loads only its own secrets (LoadCredential) and logs in as its own role
#   and NATS user; the bus starts through start-with-secrets.sh with every NATS user's secret;
# - each service unit restarts always, runs as `pacspull`, and is sandboxed
#   (`systemd-analyze security --offline` exposure at most 3.0 of 10, i.e. --threshold=30);
# - pacspull.target pulls in all six services and the bus.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DIR="$ROOT/deploy/systemd"
SERVICES=(finder mover receiver filter checker dispatcher)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fails=0
bad() { echo "check_systemd: FAIL: $*" >&2; fails=$((fails + 1)); }

# 1. Staged install from stub binaries.
mkdir -p "$TMP/build/bin"
for b in "${SERVICES[@]/#/pacspull-}" pullctl; do printf '#!/bin/sh\nexit 0\n' >"$TMP/build/bin/$b"; chmod +x "$TMP/build/bin/$b"; done
bash "$DIR/install.sh" --build-dir "$TMP/build" --root "$TMP/root" >"$TMP/install.log" 2>&1 ||
  { cat "$TMP/install.log"; bad "install.sh --root failed"; }
for f in usr/local/bin/pullctl usr/local/lib/pacspull/nats-start etc/pacspull/nats-server.conf etc/pacspull/site.yaml etc/systemd/system/pacspull.target "${SERVICES[@]/#/etc/systemd/system/pacspull-}"; do
  [ -e "$TMP/root/$f" ] || [ -e "$TMP/root/$f.service" ] || bad "install.sh did not stage $f"
done
python3 - "$TMP/root/etc/pacspull/site.yaml" <<'PY' || bad "the staged site.yaml"
import sys, yaml
site = yaml.safe_load(open(sys.argv[1]))
assert site["ledger"]["url"] == "postgresql://127.0.0.1:5432/pacspull", site["ledger"]
assert site["bus"]["url"] == "nats://127.0.0.1:4223", site["bus"]
assert site["local"]["storage_root"].startswith("/var/lib/pacspull/"), site["local"]
PY

# 2. systemd's own checks.
units=("$DIR/pacspull.target" "$DIR"/pacspull-*.service)
if command -v systemd-analyze >/dev/null; then
  for u in "${units[@]}"; do
    out=$(systemd-analyze verify --man=no "$u" 2>&1 | grep -v -e 'Command /usr/local/bin/pacspull-[a-z]* is not executable' -e 'Command /usr/local/lib/pacspull/nats-start is not executable' || true)
    [ -z "$out" ] || bad "systemd-analyze verify $(basename "$u"): $out"
  done
  for u in "$DIR"/pacspull-*.service; do
    systemd-analyze security --offline=yes --threshold=30 --no-pager "$u" >"$TMP/security.log" 2>&1 ||
      bad "$(basename "$u"): $(grep 'Overall exposure' "$TMP/security.log")"
  done
else
  echo "check_systemd: systemd-analyze not installed (Debian package systemd): unit syntax not verified" >&2
fi

# 3. Our own rules.
for s in "${SERVICES[@]}" nats; do
  u="$DIR/pacspull-$s.service"
  [ -f "$u" ] || { bad "no unit for $s"; continue; }
  for line in "Restart=always" "User=pacspull" "ProtectSystem=strict" "NoNewPrivileges=yes" "PrivateTmp=yes" \
    "ProtectHome=yes" "ReadWritePaths=/var/lib/pacspull" "WantedBy=pacspull.target" "PartOf=pacspull.target"; do
    grep -qx "$line" "$u" || bad "$(basename "$u") lacks $line"
  done
  grep -q "pacspull-$s.service" "$DIR/pacspull.target" || bad "pacspull.target does not pull in pacspull-$s.service"
done
for s in "${SERVICES[@]}"; do
  grep -qx "ExecStart=/usr/local/bin/pacspull-$s --config /etc/pacspull/site.yaml" "$DIR/pacspull-$s.service" ||
    bad "pacspull-$s.service does not run /usr/local/bin/pacspull-$s with /etc/pacspull/site.yaml"
done

# Least privilege: each service gets only its own secrets (systemd credentials) and logs in as
# its own PostgreSQL role and NATS user; the bus starts through the placeholder-refusing script.
for s in "${SERVICES[@]}"; do
  u="$DIR/pacspull-$s.service"
  for line in "LoadCredential=pg-password:/etc/pacspull/secrets/pg-$s" \
    "LoadCredential=nats-password:/etc/pacspull/secrets/nats-$s" \
    "LoadCredential=grpc-tokens:/etc/pacspull/secrets/grpc-tokens" \
    "Environment=PACSPULL_LEDGER_USER=pacspull_$s PACSPULL_LEDGER_PASSWORD_FILE=%d/pg-password PACSPULL_LEDGER_MIGRATE=off" \
    "Environment=PACSPULL_BUS_USER=$s PACSPULL_BUS_PASSWORD_FILE=%d/nats-password PACSPULL_GRPC_TOKEN_FILE=%d/grpc-tokens"; do
    grep -qxF "$line" "$u" || bad "$(basename "$u") lacks $line"
  done
  other=$(grep -o 'secrets/[a-z_-]*' "$u" | grep -v -e "secrets/pg-$s\$" -e "secrets/nats-$s\$" -e 'secrets/grpc-tokens$' || true)
  [ -z "$other" ] || bad "$(basename "$u") loads another's secret: $other"
done
n="$DIR/pacspull-nats.service"
grep -q '^ExecStart=/usr/local/lib/pacspull/nats-start -c /etc/pacspull/nats-server.conf ' "$n" ||
  bad "pacspull-nats.service does not start through nats-start with /etc/pacspull/nats-server.conf"
while read -r u; do
  grep -qx "LoadCredential=nats-$u:/etc/pacspull/secrets/nats-$u" "$n" || bad "pacspull-nats.service lacks the secret of NATS user $u"
done < <(grep -o 'user: [a-z_]*' "$ROOT/deploy/nats/nats-server.conf" | cut -d' ' -f2)
cmp -s "$ROOT/deploy/nats/start-with-secrets.sh" "$TMP/root/usr/local/lib/pacspull/nats-start" || bad "nats-start is not deploy/nats/start-with-secrets.sh"

[ "$fails" = 0 ] || exit 1
echo "check_systemd: ok (${#units[@]} units verified, install.sh staged)"
