#!/usr/bin/env bash
# Installs pacspull as system services on one Debian 12 host (systemd), for a site that
# runs it for real. Run as root from a checkout whose binaries are built:
#   deploy/systemd/install.sh [--site FILE] [--build-dir DIR] [--root DIR]
# 1. a system user `pacspull` (no login shell, home /var/lib/pacspull);
# 2. the six services and pullctl into /usr/local/bin, the units into /etc/systemd/system;
# 3. /etc/pacspull/site.yaml: --site FILE, else deploy/site.example.yaml with the ledger on
#    the local PostgreSQL over 127.0.0.1 and the bus on pacspull-nats.service
#    (127.0.0.1:4223); an existing site.yaml is never overwritten; the bus's users
#    (deploy/nats/nats-server.conf) and its entrypoint that refuses placeholder passwords;
# 4. /etc/pacspull/secrets (root only, deploy/make-secrets.sh; existing ones kept): a password
#    per service for PostgreSQL and NATS and the gRPC token, handed to each unit as systemd
#    credentials (LoadCredential), so each service sees only its own;
# 5. with a local PostgreSQL running: the owner role and database `pacspull`, the schema
#    migrated as the owner (peer authentication over the socket) and the login of each
#    service role pacspull_<service> set from its secret: least privilege (migration 012);
# 6. systemctl daemon-reload and enable pacspull.target (not started: edit the site file,
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
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
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
install -d "$DEST/usr/local/lib/pacspull"
install -m 0755 "$ROOT_SRC/deploy/nats/start-with-secrets.sh" "$DEST/usr/local/lib/pacspull/nats-start"
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
    sed -e 's|^  url: postgresql://.*|  url: "postgresql://127.0.0.1:5432/pacspull"   # each unit logs in as its own role|' \
      -e 's|^  url: nats://.*|  url: nats://127.0.0.1:4223   # pacspull-nats.service|' \
      "$ROOT_SRC/deploy/site.example.yaml" >"$SITE"
    chmod 0640 "$SITE"
  fi
  say "wrote $SITE: set the PACS, the AI node and our AE title there before starting"
fi
install -m 0644 "$ROOT_SRC/deploy/nats/nats-server.conf" "$DEST/etc/pacspull/nats-server.conf"
if [ -z "$DEST" ]; then chgrp pacspull "$DEST/etc/pacspull" "$SITE" "$DEST/etc/pacspull/nats-server.conf"; fi

[ -z "$DEST" ] || { say "staged under $DEST"; exit 0; }

# 4. The secrets: root only; systemd hands each unit its own (LoadCredential).
SECRETS=/etc/pacspull/secrets
bash "$ROOT_SRC/deploy/make-secrets.sh" "$SECRETS" | sed 's/^/install: /'
chown -R root:root "$SECRETS"
chmod 0700 "$SECRETS"
chmod 0600 "$SECRETS"/*

# 5. The ledger on the local PostgreSQL, if one runs (else: point ledger.url elsewhere and run
#    do what the branch below does: roles with logins, then `pacspull-finder --migrate`).
if runuser -u postgres -- psql -qAtc "SELECT 1" postgres >/dev/null 2>&1; then
  runuser -u postgres -- psql -qAtc "SELECT 1 FROM pg_roles WHERE rolname = 'pacspull'" postgres | grep -q 1 ||
    runuser -u postgres -- createuser pacspull
  runuser -u postgres -- psql -qAtc "SELECT 1 FROM pg_database WHERE datname = 'pacspull'" postgres | grep -q 1 ||
    runuser -u postgres -- createdb -O pacspull pacspull
  # The service roles with their logins, made by the superuser (the owner may not create or
  # alter roles); the password reaches psql through its environment, never its command line.
  for s in finder mover receiver filter checker dispatcher operator; do
    INSTALL_PW="$(cat "$SECRETS/pg-$s")" runuser -u postgres --preserve-environment -- \
      psql -qAt -v ON_ERROR_STOP=1 -v role="pacspull_$s" postgres >/dev/null <<'SQL'
\getenv pw INSTALL_PW
SELECT format('CREATE ROLE %I', :'role') WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'role')
\gexec
SELECT format('ALTER ROLE %I LOGIN PASSWORD %L', :'role', :'pw')
\gexec
SQL
  done
  # The owner migrates (peer authentication as the system user pacspull over the socket):
  # migration 012 grants each role exactly its tables.
  if ! runuser -u pacspull -- env PACSPULL_LEDGER_URL="postgresql:///pacspull?host=/var/run/postgresql" \
      PACSPULL_LEDGER_USER=pacspull /usr/local/bin/pacspull-finder --config "$SITE" --migrate; then
    echo "install: the ledger migration failed (above); fix it and run install.sh again" >&2
    exit 1
  fi
  say "PostgreSQL: database pacspull migrated by its owner; roles pacspull_<service> log in with their own secret"
  say "pullctl as the operator: PACSPULL_LEDGER_USER=pacspull_operator PACSPULL_LEDGER_PASSWORD_FILE=$SECRETS/pg-operator \\"
  say "  PACSPULL_GRPC_TOKEN_FILE=$SECRETS/grpc-tokens pullctl --config $SITE ..."
else
  say "no local PostgreSQL answers: create a database for pacspull, set ledger.url in $SITE, create the roles"
  say "  pacspull_<service> with LOGIN and the password in $SECRETS/pg-<service>, and run"
  say "  pacspull-finder --config $SITE --migrate connected as the database's owner"
fi

# 6. systemd.
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  systemctl enable pacspull.target pacspull-nats.service "${SERVICES[@]/#/pacspull-}"
  say "enabled pacspull.target; start it with: systemctl start pacspull.target"
else
  say "systemd is not running here: units installed, nothing enabled"
fi
