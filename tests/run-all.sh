#!/usr/bin/env bash
# tests/run-all.sh — install the dependencies, build twice (plain, and with
# AddressSanitizer + UndefinedBehaviorSanitizer) and run every test in both.
# The last line printed is the summary "N passed, N failed".
#   SLATEFS_TEST_SCALE  size of the long tests (default 1 = the CI size)
#   SLATEFS_NO_ASAN=1   skip the sanitizer build (quicker local runs)
set -u
cd "$(dirname "$0")/.."
contrib/install-deps.sh || { echo "dependency install failed"; echo "0 passed, 1 failed"; exit 1; }
export SLATEFS_TEST_SCALE=${SLATEFS_TEST_SCALE:-1}
builds=("build-test:--buildtype=release")
[ "${SLATEFS_NO_ASAN:-0}" = 1 ] || builds+=("build-test-asan:-Db_sanitize=address,undefined -Db_lundef=false")
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
logs=()
status=0
for b in "${builds[@]}"; do
  dir=${b%%:*}
  opts=${b#*:}
  echo "=== $dir ${opts:-(plain)}"
  if [ ! -d "$dir" ]; then
    # shellcheck disable=SC2086
    meson setup "$dir" $opts >"/tmp/slatefs-setup-$$.log" 2>&1 || { cat "/tmp/slatefs-setup-$$.log"; status=1; continue; }
  fi
  if ! ninja -C "$dir" >"/tmp/slatefs-build-$$.log" 2>&1; then
    tail -50 "/tmp/slatefs-build-$$.log"; status=1; continue
  fi
  rm -f "$dir/meson-logs/testlog.json"
  # under the sanitizers the longest CPU-bound tests run at half size, and
  # the benchmarks' smoke runs (which measure nothing) are left to the plain build
  shrink=1; suites=()
  case "$opts" in *sanitize*) shrink=2; suites=(--no-suite bench-smoke) ;; esac
  SLATEFS_TEST_SHRINK=$shrink meson test -C "$dir" --print-errorlogs --num-processes 2 "${suites[@]}" || true
  logs+=("$dir/meson-logs/testlog.json")
done
rm -f "/tmp/slatefs-setup-$$.log" "/tmp/slatefs-build-$$.log"
python3 - "$status" "${logs[@]}" <<'PY'
import json, sys
status = int(sys.argv[1])
passed = failed = skipped = 0
for path in sys.argv[2:]:
    try:
        lines = open(path).read().splitlines()
    except OSError:
        failed += 1
        continue
    for line in lines:
        t = json.loads(line)
        res = t.get("result")
        if res in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif res == "SKIP":
            skipped += 1
            print("skipped:", t.get("name"))
        else:
            failed += 1
            print("failed:", t.get("name"), res)
if status:
    failed += 1  # a build that did not even compile
if skipped:
    print(f"{skipped} skipped (not counted as passed)")
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
PY
