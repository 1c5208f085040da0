#!/usr/bin/env bash
# Installs everything pacspull needs on a Debian 12 (bookworm) machine. Idempotent:
# a second run finds everything present and does nothing but check.
# prometheus-cpp is not in bookworm: Debian 13's binary packages are unpacked into
# $PACSPULL_PREFIX (default /opt/pacspull-deps) with trixie pinned to 100 so
# nothing else is ever taken from it.
set -euo pipefail
PREFIX=${PACSPULL_PREFIX:-/opt/pacspull-deps}
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo

PKGS=(build-essential cmake ninja-build pkg-config git
  libdcmtk-dev dcmtk dicom3tools libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libnats-dev nats-server libpqxx-dev libpq-dev catch2 postgresql orthanc python3-pydicom
  libyaml-cpp-dev nlohmann-json3-dev libspdlog-dev libcli11-dev civetweb libcivetweb-dev
  libssl-dev zlib1g-dev curl libcurl4-openssl-dev python3 python3-yaml clang libclang-rt-14-dev
  prometheus  # promtool for tests/static/check_deploy.sh, a real Prometheus for the metrics contract
  haproxy)  # deploy/haproxy: e2e_receivers_scaled and bench/haproxy_receivers.sh run it in front of receivers

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Orthanc's Debian package starts a system instance on 4242/8042; pacspull runs its
# own Orthanc on ports of its choosing, so the system one is stopped if it runs.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet orthanc 2>/dev/null; then
  $SUDO systemctl stop orthanc || true
fi

if [ ! -f "$PREFIX/usr/lib/x86_64-linux-gnu/cmake/prometheus-cpp/prometheus-cpp-config.cmake" ] &&
   [ ! -f "$PREFIX/.complete" ]; then
  echo "setup: fetching prometheus-cpp 1.0 from trixie into $PREFIX"
  if [ ! -f /etc/apt/sources.list.d/trixie.sources ]; then
    $SUDO tee /etc/apt/sources.list.d/trixie.sources >/dev/null <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    $SUDO tee /etc/apt/preferences.d/trixie-pin >/dev/null <<'PIN'
Package: *
Pin: release n=trixie
Pin-Priority: 100
PIN
  fi
  $SUDO apt-get update -qq
  tmp=$(mktemp -d)
  (cd "$tmp" && for p in prometheus-cpp-dev libprometheus-cpp-core1.0 libprometheus-cpp-pull1.0 libprometheus-cpp-push1.0; do
     apt-get download -qq "$p/trixie"; done)
  $SUDO mkdir -p "$PREFIX"
  for d in "$tmp"/*.deb; do $SUDO dpkg -x "$d" "$PREFIX"; done
  rm -rf "$tmp"
  $SUDO touch "$PREFIX/.complete"
fi
echo "setup: ok (prometheus-cpp prefix $PREFIX)"
