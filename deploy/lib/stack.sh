# shellcheck shell=bash
# Shell functions shared by deploy/run.sh (the main job) and tests/run.sh (the tests):
# a private PostgreSQL cluster and a nats-server with JetStream, in a run folder.
# Source it; every function logs what it does and fails loudly.
#
# Ports: a listener counts as ours only when the pid we started owns the listening socket
# (listener_is_ours), never because "something answers on the port": on a Debian host the
# packages' own nats-server (4222, no JetStream), PostgreSQL (5432) and Orthanc (4242,
# 8042) may be running.

# PostgreSQL's server binaries, looked up when first needed: deploy/run.sh sources this
# file before deploy/setup.sh has installed PostgreSQL on a fresh host (sourcing must not
# fail there: under `set -euo pipefail` a failed lookup here ended run.sh with exit 2 and
# no message).
_pg_bin() {
  [ -n "${PG_BIN:-}" ] || PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  [ -n "$PG_BIN" ] && return 0
  echo "stack: PostgreSQL's server binaries are not under /usr/lib/postgresql/*/bin (deploy/setup.sh installs them)" >&2
  return 1
}

# PostgreSQL refuses to run as root: as root, the cluster belongs to `postgres` (run from
# /, since postgres may not be allowed into the current folder).
_as_pg() {
  if [ "$(id -u)" = 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

# pg_data_dir DIR: where the cluster for DIR really lives. Normally DIR itself; as root,
# when the postgres user cannot reach DIR's folder (a checkout in /root, mode 700), a
# folder in postgres's home named after DIR's path (the same DIR always maps to the same
# place, so a restart finds its cluster). start_postgres leaves DIR as a symlink to it.
pg_data_dir() {
  local dir parent home
  dir=$(realpath -m -s "$1")
  parent=$(dirname "$dir")
  if [ "$(id -u)" = 0 ] && ! runuser -u postgres -- test -x "$parent" 2>/dev/null; then
    home=$(getent passwd postgres | cut -d: -f6)
    [ -n "$home" ] && [ -d "$home" ] || home=/tmp
    echo "$home/pacspull-$(printf '%s' "$dir" | sha256sum | cut -c1-16)"
  else
    echo "$dir"
  fi
}

# start_postgres DIR PORT: initdb (once) and start; exports PACSPULL_PG_ADMIN_URL.
# Fails when PORT is taken or the listener on PORT is not our postmaster.
start_postgres() {
  local dir port=$2 data
  _pg_bin || return 1
  dir=$(realpath -m -s "$1")
  mkdir -p "$(dirname "$dir")"
  data=$(pg_data_dir "$dir")
  mkdir -p "$data"
  if [ "$data" != "$dir" ]; then
    chmod 700 "$data"
    if [ ! -e "$dir" ] || [ -L "$dir" ]; then ln -sfn "$data" "$dir"; fi
  fi
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$data"
  if [ ! -f "$data/PG_VERSION" ]; then
    _as_pg "$PG_BIN/initdb" -D "$data" -A trust -U postgres -E UTF8 --locale=C.UTF-8 >"$data.initdb.log" 2>&1 ||
      { cat "$data.initdb.log"; return 1; }
  fi
  if ! _as_pg "$PG_BIN/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    if ! port_is_free "$port"; then
      echo "stack: port $port is taken by another program; PostgreSQL not started" >&2
      return 1
    fi
    # In its own session: a Ctrl-C for the caller must not shut it down behind its back.
    _as_pg setsid "$PG_BIN/pg_ctl" -D "$data" -l "$data/server.log" -w -t 60 \
      -o "-p $port -k $data -c listen_addresses=127.0.0.1 ${PG_EXTRA_OPTS:-}" start >/dev/null ||
      { tail -20 "$data/server.log"; return 1; }
  fi
  local pid
  pid=$(head -n 1 "$data/postmaster.pid" 2>/dev/null)
  wait_listener "$pid" "$port" 30 || { tail -20 "$data/server.log"; return 1; }
  export PACSPULL_PG_ADMIN_URL="postgresql://postgres@127.0.0.1:$port/postgres"
  echo "stack: PostgreSQL on 127.0.0.1:$port (pid $pid, $data)"
}

# stop_postgres DIR: fast shutdown; returns once the postmaster is gone.
stop_postgres() {
  local data pid
  data=$(pg_data_dir "$1")
  if [ -f "$data/postmaster.pid" ] && _pg_bin; then
    pid=$(head -n 1 "$data/postmaster.pid")
    _as_pg "$PG_BIN/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1 || true
    for _ in $(seq 1 300); do pid_runs "$pid" postgres || break; sleep 0.1; done
  fi
}

# ensure_database NAME PORT: creates the database if missing.
ensure_database() {
  local name=$1 port=$2
  if ! psql -h 127.0.0.1 -p "$port" -U postgres -Atc "SELECT 1 FROM pg_database WHERE datname = '$name'" postgres |
    grep -q 1; then
    psql -h 127.0.0.1 -p "$port" -U postgres -qc "CREATE DATABASE \"$name\"" postgres
  fi
}

# start_nats DIR PORT: nats-server with JetStream storing under DIR; pid in DIR/nats.pid.
# Succeeds only once the nats-server we started listens on PORT itself.
start_nats() {
  local dir=$1 port=$2 pid
  mkdir -p "$dir"
  if [ -f "$dir/nats.pid" ] && pid_runs "$(cat "$dir/nats.pid")" nats-server; then
    if listener_is_ours "$(cat "$dir/nats.pid")" "$port"; then
      echo "stack: nats-server already running on $port"
      return 0
    fi
    stop_pidfile "$dir/nats.pid"
  fi
  if ! port_is_free "$port"; then
    echo "stack: port $port is taken by another program; nats-server not started" >&2
    return 1
  fi
  # setsid (same pid): a Ctrl-C meant for the script that started it does not stop it
  # under the services' feet; that script stops it.
  # NATS_EXTRA_OPTS: e.g. "-c deploy/nats/nats-server.conf" (users; the flags below win).
  # shellcheck disable=SC2086
  setsid nats-server ${NATS_EXTRA_OPTS:-} -js -sd "$dir" -a 127.0.0.1 -p "$port" -l "$dir/nats.log" -P "$dir/nats.pid" </dev/null &
  pid=$!
  echo "$pid" >"$dir/nats.pid"
  wait_listener "$pid" "$port" 30 || { tail -20 "$dir/nats.log"; kill "$pid" 2>/dev/null; return 1; }
  echo "stack: nats-server (JetStream) on 127.0.0.1:$port (pid $pid, $dir)"
}

# stop_pidfile FILE [NAME]: SIGTERM the pid in FILE, wait up to 10 s, SIGKILL; removes FILE.
# With NAME, only a process whose command line contains NAME (not a recycled pid).
stop_pidfile() {
  local f=$1 name=${2:-}
  if [ -f "$f" ]; then
    local pid
    pid=$(cat "$f")
    if [ -n "$pid" ] && { [ -z "$name" ] || pid_runs "$pid" "$name"; }; then
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$f"
  fi
}

# pid_runs PID NAME: PID is alive and its command line contains NAME (not a recycled pid).
pid_runs() {
  [ -n "$1" ] && [ -r "/proc/$1/cmdline" ] && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -q -- "$2"
}

# _listen_inodes PORT: socket inodes of TCP listeners on PORT (any address, v4 and v6).
_listen_inodes() {
  local hex
  hex=$(printf ':%04X' "$1")
  awk -v p="$hex" '$4 == "0A" && substr($2, length($2) - 4) == p { print $10 }' /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# port_is_free PORT: nothing listens on PORT.
port_is_free() {
  [ -z "$(_listen_inodes "$1")" ]
}

# listener_is_ours PID PORT: the process PID owns a listening socket on PORT.
listener_is_ours() {
  local pid=$1 port=$2 ino fds
  [ -n "$pid" ] && [ -d "/proc/$pid/fd" ] || return 1
  fds=$(ls -l "/proc/$pid/fd" 2>/dev/null) || return 1
  for ino in $(_listen_inodes "$port"); do
    grep -q "socket:\[$ino\]" <<<"$fds" && return 0
  done
  return 1
}

# wait_listener PID PORT SECONDS: polls until the process PID listens on PORT; fails
# early when PID exits (a bind error) or when the deadline passes.
wait_listener() {
  local pid=$1 port=$2 secs=$3
  for _ in $(seq 1 $((secs * 10))); do
    listener_is_ours "$pid" "$port" && return 0
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "stack: pid $pid exited before listening on $port" >&2
      return 1
    fi
    sleep 0.1
  done
  echo "stack: pid $pid does not listen on $port after ${secs}s (another program: $(port_is_free "$port" && echo no || echo yes))" >&2
  return 1
}

# wait_port HOST PORT SECONDS: polls until something accepts connections. Says nothing
# about whose listener it is: prefer wait_listener for a process we started.
wait_port() {
  local host=$1 port=$2 secs=$3
  for _ in $(seq 1 $((secs * 10))); do
    (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "stack: nothing listens on $host:$port after ${secs}s" >&2
  return 1
}

# free_port: an unused TCP port on loopback.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# pick_port PREFERRED [TAKEN...]: PREFERRED when nothing listens there and it is not in
# TAKEN, else a free port (noted on stderr).
pick_port() {
  local want=$1 p
  shift
  p=$want
  while ! port_is_free "$p" || [[ " $* " == *" $p "* ]]; do
    p=$(free_port)
  done
  [ "$p" = "$want" ] || echo "stack: port $want is taken; using $p" >&2
  echo "$p"
}
