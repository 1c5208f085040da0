#!/usr/bin/env bash
# Static checks of the deployment artefacts: docker-compose.yml, deploy/docker,
# k8s/, deploy/prometheus, deploy/grafana, deploy/haproxy. No Docker engine and
# no cluster needed. Prints one line per check and ends with
#   static: N passed, M failed
# Exits non-zero when any check failed. Skipped checks (a tool is missing) are
# listed and counted separately; they never fail the run.
#
# usage: tests/static/check_deploy.sh [REPO_ROOT]
# Optional tools, used when found (PATH, or the variable given):
#   haproxy  (HAPROXY)   haproxy -c, and a live run of the DICOM health check
#   promtool (PROMTOOL)  check rules/config, unit tests in alerts_test.yml
#   kubectl  (KUBECTL)   kubectl kustomize k8s/
#   also: the ShellCheck linter; dcmtk (storescp, echoscu)
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "${1:-${PACSPULL_SOURCE_DIR:-$here/../..}}" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/pacspull-static.XXXXXX")
trap 'rm -rf "$work"' EXIT

passed=0
failed=0
skipped=0

pass() { passed=$((passed + 1)); echo "PASS $*"; }
fail() { failed=$((failed + 1)); echo "FAIL $*"; }
skip() { skipped=$((skipped + 1)); echo "SKIP $*"; }

# run NAME CMD...: one check = one command's exit status; its output is shown
# only on failure.
run() {
  local name=$1
  shift
  if "$@" >"$work/out" 2>&1; then
    pass "$name"
  else
    fail "$name: $(tail -n 20 "$work/out" | tr '\n' ' ')"
  fi
}

tool() { # tool NAME VAR: path of a tool from $VAR or PATH, empty if absent
  local v=${!2:-}
  if [ -n "$v" ] && [ -x "$v" ]; then echo "$v"; else command -v "$1" || true; fi
}

echo "static: checking deployment artefacts in $root"

# --- shell scripts -------------------------------------------------------------
run "sh -n deploy/docker/entrypoint.sh" sh -n "$root/deploy/docker/entrypoint.sh"
run "bash -n deploy/docker/healthcheck.sh" bash -n "$root/deploy/docker/healthcheck.sh"
run "bash -n tests/static/check_deploy.sh" bash -n "$root/tests/static/check_deploy.sh"
run "bash -n deploy/haproxy/render-local.sh" bash -n "$root/deploy/haproxy/render-local.sh"
if command -v shellcheck >/dev/null; then
  run "shellcheck deploy/docker/*.sh tests/static/*.sh" \
    shellcheck "$root"/deploy/docker/*.sh "$root"/tests/static/*.sh
else
  skip "shellcheck: not installed"
fi

# --- entrypoint dispatch, with stand-in binaries that print their argv ---------
bindir="$work/bin"
mkdir -p "$bindir"
for b in pacspull-finder pacspull-mover pacspull-receiver pacspull-filter \
         pacspull-checker pacspull-dispatcher pullctl; do
  printf '#!/bin/sh\necho "%s $*"\n' "$b" >"$bindir/$b"
  chmod +x "$bindir/$b"
done
echo "site: x" >"$work/site.yaml"
entry() { PACSPULL_BIN_DIR="$bindir" PACSPULL_CONFIG="$work/site.yaml" sh "$root/deploy/docker/entrypoint.sh" "$@"; }
expect_out() { # expect_out NAME EXPECTED CMD...
  local name=$1 want=$2 got
  shift 2
  got=$("$@" 2>&1)
  if [ "$got" = "$want" ]; then pass "$name"; else fail "$name: got '$got', want '$want'"; fi
}
for s in finder mover receiver filter checker dispatcher; do
  expect_out "entrypoint: $s runs pacspull-$s --config" \
    "pacspull-$s --config $work/site.yaml" entry "$s"
done
expect_out "entrypoint: completeness-checker is the checker" \
  "pacspull-checker --config $work/site.yaml --x" entry completeness-checker --x
expect_out "entrypoint: pullctl passes its arguments" "pullctl why 1.2.3" entry pullctl why 1.2.3
expect_out "entrypoint: other commands run as given" "hello" entry echo hello
if entry help | grep -q "usage:"; then pass "entrypoint: help prints usage"; else fail "entrypoint: help prints usage"; fi
PACSPULL_BIN_DIR="$bindir" PACSPULL_CONFIG="$work/missing.yaml" \
  sh "$root/deploy/docker/entrypoint.sh" finder >/dev/null 2>&1
rc=$?
if [ "$rc" = 2 ]; then pass "entrypoint: unreadable config exits 2 (bad config)"; else
  fail "entrypoint: unreadable config exits 2 (bad config): exit $rc"; fi

# --- credentials (issue 11 part 4): secrets from files, placeholders refused -------
run "sh -n deploy/nats/start-with-secrets.sh" sh -n "$root/deploy/nats/start-with-secrets.sh"
run "bash -n deploy/make-secrets.sh" bash -n "$root/deploy/make-secrets.sh"
secrets="$work/secrets"
if bash "$root/deploy/make-secrets.sh" "$secrets" >/dev/null 2>&1 && [ "$(find "$secrets" -type f | wc -l)" = 17 ] &&
   [ "$(stat -c %a "$secrets")" = 700 ] && ! grep -rqi 'changeme' "$secrets" &&
   [ "$(sort -u "$secrets"/* | wc -l)" = 17 ]; then
  pass "make-secrets.sh: 17 distinct random secrets in a mode-700 directory"
else
  fail "make-secrets.sh: 17 distinct random secrets in a mode-700 directory"
fi
# The gRPC token file in grpc.token_file's format: id:secret, 32 random characters after the id.
if grep -Eqx 'operator:[A-Za-z0-9]{32}' "$secrets/grpc-tokens" 2>/dev/null && [ "$(wc -l <"$secrets/grpc-tokens")" = 1 ]; then
  pass "make-secrets.sh: grpc-tokens is one 'operator:<32 random>' line"
else
  fail "make-secrets.sh: grpc-tokens is one 'operator:<32 random>' line: $(sed 's/:.*/:.../' "$secrets/grpc-tokens" 2>&1)"
fi
before=$(cat "$secrets/pg-owner" 2>/dev/null)
bash "$root/deploy/make-secrets.sh" "$secrets" >/dev/null 2>&1
if [ "$(cat "$secrets/pg-owner" 2>/dev/null)" = "$before" ]; then pass "make-secrets.sh: never overwrites a secret"; else
  fail "make-secrets.sh: never overwrites a secret"; fi
# nats-server stand-in: prints the finder's password it was given, and its arguments.
# shellcheck disable=SC2016 # the stand-in expands them, not this shell
printf '#!/bin/sh\necho "nats-server $PACSPULL_NATS_PASSWORD_FINDER $*"\n' >"$bindir/nats-server"
chmod +x "$bindir/nats-server"
natsstart() { PATH="$bindir:$PATH" PACSPULL_SECRETS_DIR="$1" sh "$root/deploy/nats/start-with-secrets.sh" -c x.conf; }
expect_out "nats start-with-secrets.sh: exports the passwords (quoted) and runs nats-server" \
  "nats-server \"$(cat "$secrets/nats-finder")\" -c x.conf" natsstart "$secrets"
printf 'CHANGE_ME\n' >"$secrets/nats-receiver"
natsstart "$secrets" >"$work/nats-ph" 2>&1
rc=$?
if [ "$rc" = 2 ] && grep -q "placeholder" "$work/nats-ph"; then pass "nats start-with-secrets.sh: refuses a placeholder secret"
else fail "nats start-with-secrets.sh: refuses a placeholder secret: exit $rc $(cat "$work/nats-ph")"; fi
rm -f "$secrets/nats-receiver"
natsstart "$secrets" >/dev/null 2>&1
rc=$?
if [ "$rc" = 2 ]; then pass "nats start-with-secrets.sh: refuses a missing secret"; else
  fail "nats start-with-secrets.sh: refuses a missing secret: exit $rc"; fi
# The k8s NATS StatefulSet runs the same script (a copy in k8s/config for the ConfigMap).
if cmp -s "$root/deploy/nats/start-with-secrets.sh" "$root/k8s/config/start-with-secrets.sh"; then
  pass "k8s/config/start-with-secrets.sh is a copy of deploy/nats/start-with-secrets.sh"
else
  fail "k8s/config/start-with-secrets.sh is a copy of deploy/nats/start-with-secrets.sh"
fi
# k8s/secret.yaml ships CHANGE_ME for every NATS password: the script refuses them.
k8sph="$work/k8s-placeholders"
mkdir -p "$k8sph"
for u in finder mover receiver filter checker dispatcher operator ai_backend; do printf 'CHANGE_ME' >"$k8sph/nats-$u"; done
natsstart "$k8sph" >"$work/nats-k8s-ph" 2>&1
rc=$?
if [ "$rc" = 2 ] && grep -q "placeholder" "$work/nats-k8s-ph"; then pass "k8s nats: the shipped CHANGE_ME passwords are refused"
else fail "k8s nats: the shipped CHANGE_ME passwords are refused: exit $rc $(cat "$work/nats-k8s-ph")"; fi
rm -f "$bindir/nats-server"
if command -v nats-server >/dev/null; then
  for u in FINDER MOVER RECEIVER FILTER CHECKER DISPATCHER OPERATOR AI_BACKEND; do export "PACSPULL_NATS_PASSWORD_$u=static-check-$u"; done
  run "nats-server -t deploy/nats/nats-server.conf" nats-server -t -c "$root/deploy/nats/nats-server.conf"
  # A random password that reads as a number with a unit (6T...) passes the real nats-server
  # through start-with-secrets.sh (which quotes it).
  digits="$work/digit-secrets"
  mkdir -p "$digits"
  for u in finder mover receiver filter checker dispatcher operator ai_backend; do printf '6TI748x9a%s' "$u" >"$digits/nats-$u"; done
  run "nats start-with-secrets.sh + nats-server -t: a password like 6TI748... is accepted" \
    env PACSPULL_SECRETS_DIR="$digits" sh "$root/deploy/nats/start-with-secrets.sh" -t -c "$root/deploy/nats/nats-server.conf"
else
  skip "nats-server -t: nats-server not installed"
fi

# --- healthcheck: a port with no gRPC server is not healthy ----------------------
closed_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null)
if command -v curl >/dev/null && [ -n "$closed_port" ]; then
  if PACSPULL_HEALTHCHECK_TIMEOUT=2 bash "$root/deploy/docker/healthcheck.sh" "$closed_port" >/dev/null 2>&1; then
    fail "healthcheck: nothing listening on $closed_port is unhealthy: exit 0"
  else
    pass "healthcheck: nothing listening is unhealthy"
  fi
else
  skip "healthcheck: curl or python3 missing"
fi

# --- HAProxy -------------------------------------------------------------------
haproxy=$(tool haproxy HAPROXY)
if [ -n "$haproxy" ]; then
  run "haproxy -c -f deploy/haproxy/haproxy.cfg" "$haproxy" -c -f "$root/deploy/haproxy/haproxy.cfg"
  # The local variant (e2e test, bench) is rendered from haproxy.cfg and must stay valid.
  render_local() {
    bash "$root/deploy/haproxy/render-local.sh" --bind 21112 --stats 28404 --check-inter 1s \
      --server 127.0.0.1:21113 --server 127.0.0.1:21114 --server 127.0.0.1:21115 >"$work/haproxy-local.cfg" &&
      "$haproxy" -c -f "$work/haproxy-local.cfg" &&
      [ "$(grep -c '^    server receiver[0-9] 127.0.0.1:2111[345]$' "$work/haproxy-local.cfg")" = 3 ]
  }
  run "deploy/haproxy/render-local.sh: 3 local receivers, haproxy -c" render_local
else
  skip "haproxy -c: haproxy not installed (Debian package haproxy)"
fi

# --- Prometheus ------------------------------------------------------------------
promtool=$(tool promtool PROMTOOL)
if [ -n "$promtool" ]; then
  run "promtool check rules deploy/prometheus/alerts.yml" "$promtool" check rules "$root/deploy/prometheus/alerts.yml"
  cp "$root/deploy/prometheus/alerts.yml" "$work/alerts.yml"
  for f in prometheus.yml prometheus-k8s.yml; do
    # rule_files point at the container path; check against the copy here.
    sed "s#/etc/prometheus/alerts.yml#$work/alerts.yml#" "$root/deploy/prometheus/$f" >"$work/$f"
    if "$promtool" check config "$work/$f" >"$work/out" 2>&1; then
      pass "promtool check config deploy/prometheus/$f"
    elif grep -q "kubernetes_sd_configs not found" "$work/out"; then
      skip "promtool check config deploy/prometheus/$f: this promtool is built without Kubernetes SD (Debian)"
    else
      fail "promtool check config deploy/prometheus/$f: $(tr '\n' ' ' <"$work/out")"
    fi
  done
  # rule_files in the test are relative to the test file's folder.
  promtool_test() { (cd "$root/tests/static" && "$promtool" test rules alerts_test.yml); }
  run "promtool test rules tests/static/alerts_test.yml" promtool_test
else
  skip "promtool: not installed (Debian package prometheus); alert unit tests not run"
fi

# --- Kubernetes: render the kustomization ---------------------------------------
kubectl=$(tool kubectl KUBECTL)
rendered=""
if [ -n "$kubectl" ]; then
  if "$kubectl" kustomize "$root/k8s" >"$work/rendered.yaml" 2>"$work/out"; then
    pass "kubectl kustomize k8s"
    rendered="$work/rendered.yaml"
  else
    fail "kubectl kustomize k8s: $(tr '\n' ' ' <"$work/out")"
  fi
else
  skip "kubectl kustomize k8s: kubectl not installed"
fi

run "deploy/systemd units and install.sh (tests/static/check_systemd.sh)" bash "$root/tests/static/check_systemd.sh"
# --- everything parsed and cross-checked in Python --------------------------------
if python3 -c 'import yaml' 2>/dev/null; then
  python3 "$root/tests/static/deploy_checks.py" "$root" "$rendered" "$haproxy" >"$work/py" 2>"$work/py.err"
  rc=$?
  while IFS= read -r line; do
    case "$line" in
      "PASS "*) passed=$((passed + 1)) ;;
      "FAIL "*) failed=$((failed + 1)) ;;
      "SKIP "*) skipped=$((skipped + 1)) ;;
    esac
    echo "$line"
  done <"$work/py"
  if [ "$rc" != 0 ]; then
    fail "deploy_checks.py crashed (exit $rc): $(tail -n 5 "$work/py.err" | tr '\n' ' ')"
  fi
else
  fail "python3 with the yaml module is required (Debian package python3-yaml)"
fi

echo "static: $skipped skipped"
echo "static: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
