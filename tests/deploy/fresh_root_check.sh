#!/usr/bin/env bash
# The README's first command on a fresh Debian 12 root, as issue 8's "done when" asks:
# debootstrap a minimal bookworm into ROOTDIR (or reuse one), clone this checkout's
# HEAD into ROOTDIR/root/project (root's home, mode 700), and run `deploy/run.sh`
# there as root in a chroot: it installs everything itself, builds, pulls the demo day
# and must end with the demo summary (exit 0) and leave no process running inside the
# chroot. Not a CTest (it needs Debian's archive and ~30 min on 2 cores); run by hand:
#   sudo tests/deploy/fresh_root_check.sh /work/droot
# The chroot shares the host's network: ports the host already uses are "foreign
# listeners" for run.sh, which must pick free ones. Prints PASS or FAIL and why.
set -euo pipefail
ROOTDIR=${1:?usage: fresh_root_check.sh ROOTDIR}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
LOG=${FRESH_ROOT_LOG:-$ROOTDIR.log}

[ "$(id -u)" = 0 ] || { echo "fresh_root_check: run as root (debootstrap, chroot)"; exit 2; }
if [ ! -x "$ROOTDIR/bin/bash" ]; then
  command -v debootstrap >/dev/null || apt-get install -y debootstrap
  debootstrap --variant=minbase bookworm "$ROOTDIR" http://deb.debian.org/debian
fi
cp /etc/resolv.conf "$ROOTDIR/etc/resolv.conf"

mounted=()
cleanup() {
  # Anything still running inside the chroot is a failure of run.sh; kill it so the
  # host is left clean, then unmount.
  for p in /proc/[0-9]*; do
    [ "$(readlink "$p/root" 2>/dev/null)" = "$(readlink -f "$ROOTDIR")" ] && kill -9 "${p#/proc/}" 2>/dev/null || true
  done
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -l "${mounted[$i]}" 2>/dev/null || true; done
}
trap cleanup EXIT
for m in proc sys dev dev/pts; do
  mountpoint -q "$ROOTDIR/$m" || { mount --bind "/$m" "$ROOTDIR/$m"; mounted+=("$ROOTDIR/$m"); }
done

rm -rf "$ROOTDIR/root/project"
chmod 700 "$ROOTDIR/root"
git clone -q --no-hardlinks "$SRC" "$ROOTDIR/root/project"
rev=$(git -C "$ROOTDIR/root/project" rev-parse --short HEAD)
echo "fresh_root_check: $ROOTDIR, project at /root/project ($rev), log $LOG"

start=$(date +%s)
rc=0
chroot "$ROOTDIR" /usr/bin/env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin TERM=dumb LANG=C.UTF-8 \
  /bin/bash -c 'cd /root/project && bash deploy/run.sh' >"$LOG" 2>&1 || rc=$?
elapsed=$(( $(date +%s) - start ))

left=()
for p in /proc/[0-9]*; do
  if [ "$(readlink "$p/root" 2>/dev/null)" = "$(readlink -f "$ROOTDIR")" ]; then
    left+=("${p#/proc/} $(tr '\0' ' ' <"$p/cmdline" | cut -c1-80)")
  fi
done

echo "fresh_root_check: deploy/run.sh exit $rc after ${elapsed}s"
tail -n 25 "$LOG"
if [ "${#left[@]}" -gt 0 ]; then
  echo "fresh_root_check: FAIL: still running inside the chroot after run.sh ended:"
  printf '  %s\n' "${left[@]}"
  exit 1
fi
if [ "$rc" -ne 0 ] || ! grep -q "^check against the demo manifest:" "$LOG"; then
  echo "fresh_root_check: FAIL (exit $rc; see $LOG)"
  exit 1
fi
echo "fresh_root_check: PASS ($rev, ${elapsed}s, nothing left running)"
