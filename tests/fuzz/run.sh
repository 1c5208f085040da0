#!/usr/bin/env bash
# Builds the libFuzzer targets with clang in their own build directory and runs
# rules_fuzz for a bounded time over a seed corpus it writes.
# Exit status: 0 when the run finished clean; non-zero on a crash, timeout, leak or build failure.
# Env: FUZZ_SECONDS (default 60), FUZZ_BUILD_DIR (default <repo>/build-fuzz), FUZZ_JOBS (default 1).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${FUZZ_BUILD_DIR:-$repo/build-fuzz}"
seconds="${FUZZ_SECONDS:-60}"
jobs="${FUZZ_JOBS:-1}"
flags="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -g -O1"

# From the root once it adds tests/fuzz (PACSPULL_FUZZ); standalone until then.
if grep -q 'tests/fuzz' "$repo/CMakeLists.txt"; then
  source_dir="$repo"
else
  source_dir="$repo/tests/fuzz"
fi
mkdir -p "$build"
CC=clang CXX=clang++ cmake -S "$source_dir" -B "$build" -G Ninja -DPACSPULL_PURE_ONLY=ON -DPACSPULL_FUZZ=ON \
  -DCMAKE_BUILD_TYPE=Debug "-DCMAKE_CXX_FLAGS=$flags" "-DCMAKE_C_FLAGS=$flags" >"$build/configure.log" 2>&1 \
  || { cat "$build/configure.log"; exit 2; }
cmake --build "$build" --target rules_fuzz -j2

corpus="$build/corpus/rules"
mkdir -p "$corpus"
# Seeds: the field's byte stories (GBK 胸, mojibake, win1251, ISO 2022 escapes, DICOM-ish values).
printf 'CHEST'                                  >"$corpus/ascii"
printf '\xD0\xD8\xB2\xBF'                       >"$corpus/gbk_chest"
printf '\xC3\x90\xC3\x98'                       >"$corpus/mojibake"
printf '\xE8\x83\xB8\xE9\x83\xA8'               >"$corpus/utf8_chest"
printf '\xC3\xD0\xD3\xC4\xDC'                   >"$corpus/win1251"
printf '\x1b$B;3ED\x1b(B^\x1b$)C\xb1\xe8'       >"$corpus/iso2022"
printf '\x81\x30\x81\x30\x90\x30\x81\x30'       >"$corpus/gb18030_4byte"
printf '\x01CT\x00ORIGINAL\\PRIMARY\\AXIAL\x001.25\x00280\x00B70f' >"$corpus/dicomish"

cd "$build"
set +e
parallel=()
if [ "$jobs" -gt 1 ]; then parallel=(-jobs="$jobs" -workers="$jobs"); fi
# The fuzzer's progress goes to a log; its final stats and any failure are printed.
"$build/bin/rules_fuzz" "$corpus" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 "${parallel[@]}" \
  -print_final_stats=1 -artifact_prefix="$build/" >"$build/fuzz.log" 2>&1
rc=$?
grep -E "^stat::|Done [0-9]+ runs" "$build/fuzz.log" || true
[ "$rc" -ne 0 ] && tail -n 60 "$build/fuzz.log" >&2
set -e
if [ "$rc" -ne 0 ]; then
  echo "rules_fuzz failed (exit $rc); reproducer(s):" >&2
  ls -1 "$build"/crash-* "$build"/timeout-* "$build"/leak-* "$build"/oom-* 2>/dev/null >&2 || true
fi
exit "$rc"
