# Shell functions shared by deploy/run.sh (the main job) and tests/run.sh (the tests):
# a private PostgreSQL cluster and a nats-server with JetStream, in a run folder.
# Source it; every function logs what it does and fails loudly.

PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}

# PostgreSQL refuses to run as root: as root, the cluster belongs to `postgres`.
_as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# start_postgres DIR PORT: initdb (once) and start; exports PACSPULL_PG_ADMIN_URL.
start_postgres() {
  local dir=$1 port=$2
  mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$dir"
  if [ ! -f "$dir/PG_VERSION" ]; then
    _as_pg "$PG_BIN/initdb" -D "$dir" -A trust -U postgres -E UTF8 --locale=C.UTF-8 >"$dir.initdb.log" 2>&1 ||
      { cat "$dir.initdb.log"; return 1; }
  fi
  if ! _as_pg "$PG_BIN/pg_ctl" -D "$dir" status >/dev/null 2>&1; then
    _as_pg "$PG_BIN/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 ${PG_EXTRA_OPTS:-}" start >/dev/null ||
      { tail -20 "$dir/server.log"; return 1; }
  fi
  export PACSPULL_PG_ADMIN_URL="postgresql://postgres@127.0.0.1:$port/postgres"
  echo "stack: PostgreSQL on 127.0.0.1:$port ($dir)"
}

stop_postgres() {
  local dir=$1
  [ -f "$dir/postmaster.pid" ] && _as_pg "$PG_BIN/pg_ctl" -D "$dir" -m fast -w stop >/dev/null 2>&1 || true
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
start_nats() {
  local dir=$1 port=$2
  mkdir -p "$dir"
  if [ -f "$dir/nats.pid" ] && kill -0 "$(cat "$dir/nats.pid")" 2>/dev/null; then
    echo "stack: nats-server already running on $port"
    return 0
  fi
  nats-server -js -sd "$dir" -a 127.0.0.1 -p "$port" -l "$dir/nats.log" -P "$dir/nats.pid" &
  wait_port 127.0.0.1 "$port" 30 || { tail -20 "$dir/nats.log"; return 1; }
  echo "stack: nats-server (JetStream) on 127.0.0.1:$port ($dir)"
}

stop_pidfile() {
  local f=$1
  if [ -f "$f" ]; then
    local pid
    pid=$(cat "$f")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$f"
  fi
}

# wait_port HOST PORT SECONDS: polls until something accepts connections.
wait_port() {
  local host=$1 port=$2 secs=$3 i
  for i in $(seq 1 $((secs * 10))); do
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
