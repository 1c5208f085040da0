#!/usr/bin/env bash
# Installs pacspull as system services on one Debian 12 host (systemd), for a site that
# runs it for real. Run as root from a checkout whose binaries are built:
#   deploy/systemd/install.sh [--site FILE] [--build-dir DIR] [--root DIR]
# 1. a system user `pacspull` (no login shell, home /var/lib/pacspull);
# 2. the six services and pullctl into /usr/local/bin, the units into /etc/systemd/system;
# 3. /etc/pacspull/site.yaml: --site FILE, else deploy/site.example.yaml with the ledger on
#    the local PostgreSQL through its socket (peer authentication as `pacspull`) and the bus
#    on pacspull-nats.service (127.0.0.1:4223); an existing site.yaml is never overwritten;
# 4. with a local PostgreSQL running: the role and database `pacspull`;
# 5. systemctl daemon-reload and enable pacspull.target (not started: edit the site file,
#    then `systemctl start pacspull.target`).
# --root DIR stages the files under DIR only (no user, PostgreSQL or systemctl): for
# packaging and for tests/static/check_systemd.sh. Idempotent: run it again to upgrade.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT_SRC=$(cd "$HERE/../.." && pwd)
SITE_IN=""
BUILD=${PACSPULL_BUILD_DIR:-$ROOT_SRC/build}
DEST=""
while [ $# -gt 0 ]; do
  case "$1" in
    --site) SITE_IN=$(realpath "$2"); shift 2 ;;
    --build-dir) BUILD=$(realpath "$2"); shift 2 ;;
    --root) DEST=$(realpath -m "$2"); shift 2 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "install: unknown option $1" >&2; exit 2 ;;
  esac
done
SERVICES=(finder mover receiver filter checker dispatcher)
BINARIES=("${SERVICES[@]/#/pacspull-}" pullctl)
say() { echo "install: $*"; }

[ -n "$DEST" ] || [ "$(id -u)" = 0 ] || { echo "install: run as root (or with --root DIR to stage)" >&2; exit 1; }
for b in "${BINARIES[@]}"; do
  [ -x "$BUILD/bin/$b" ] || { echo "install: $BUILD/bin/$b is missing: build first (deploy/run.sh builds)" >&2; exit 1; }
done

# 1. The user.
if [ -z "$DEST" ] && ! getent passwd pacspull >/dev/null; then
  useradd --system --user-group --home-dir /var/lib/pacspull --no-create-home --shell /usr/sbin/nologin \
    --comment "pacspull services" pacspull
  say "created the system user pacspull"
fi

# 2. Binaries, units and the README.
install -d "$DEST/usr/local/bin" "$DEST/etc/systemd/system" "$DEST/usr/local/share/doc/pacspull"
for b in "${BINARIES[@]}"; do install -m 0755 "$BUILD/bin/$b" "$DEST/usr/local/bin/$b"; done
install -m 0644 "$HERE"/pacspull.target "$HERE"/pacspull-*.service "$DEST/etc/systemd/system/"
install -m 0644 "$ROOT_SRC/README.md" "$DEST/usr/local/share/doc/pacspull/README.md"
say "installed ${BINARIES[*]} into $DEST/usr/local/bin and the units into $DEST/etc/systemd/system"

# 3. The site file (readable by the services, not by everyone: it may hold passwords).
install -d -m 0750 "$DEST/etc/pacspull"
SITE="$DEST/etc/pacspull/site.yaml"
if [ -e "$SITE" ]; then
  say "kept the existing $SITE"
else
  if [ -n "$SITE_IN" ]; then
    install -m 0640 "$SITE_IN" "$SITE"
  else
    sed -e 's|^  url: postgresql://.*|  url: "postgresql://pacspull@/pacspull?host=/var/run/postgresql"|' \
      -e 's|^  url: nats://.*|  url: nats://127.0.0.1:4223   # pacspull-nats.service|' \
      "$ROOT_SRC/deploy/site.example.yaml" >"$SITE"
    chmod 0640 "$SITE"
  fi
  say "wrote $SITE: set the PACS, the AI node and our AE title there before starting"
fi
if [ -z "$DEST" ]; then chgrp pacspull "$DEST/etc/pacspull" "$SITE"; fi

[ -z "$DEST" ] || { say "staged under $DEST"; exit 0; }

# 4. The ledger on the local PostgreSQL, if one runs (else: point ledger.url elsewhere).
if runuser -u postgres -- psql -qAtc "SELECT 1" postgres >/dev/null 2>&1; then
  runuser -u postgres -- psql -qAtc "SELECT 1 FROM pg_roles WHERE rolname = 'pacspull'" postgres | grep -q 1 ||
    runuser -u postgres -- createuser pacspull
  runuser -u postgres -- psql -qAtc "SELECT 1 FROM pg_database WHERE datname = 'pacspull'" postgres | grep -q 1 ||
    runuser -u postgres -- createdb -O pacspull pacspull
  say "PostgreSQL: role and database pacspull ready (peer authentication over the socket)"
else
  say "no local PostgreSQL answers: create a database for pacspull and set ledger.url in $SITE"
fi

# 5. systemd.
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  systemctl enable pacspull.target pacspull-nats.service "${SERVICES[@]/#/pacspull-}"
  say "enabled pacspull.target; start it with: systemctl start pacspull.target"
else
  say "systemd is not running here: units installed, nothing enabled"
fi
