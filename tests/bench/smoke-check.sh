#!/bin/bash
# smoke-check.sh — runs a benchmark at a tiny size and checks that it worked:
# it must exit 0 and print, for every NAME given, a line "BENCH NAME <number> ..."
# with a positive number. Speed is never judged here (suite bench-smoke).
#
# Usage: smoke-check.sh NAME... -- COMMAND [ARGS...]
#   NAME is matched as an extended regex against the words after BENCH, e.g.
#   'store_insert' or 'native seq_write'.
set -u -o pipefail
names=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do
	names+=("$1")
	shift
done
if [ $# -lt 2 ] || [ ${#names[@]} -eq 0 ]; then
	echo "usage: smoke-check.sh NAME... -- COMMAND [ARGS...]" >&2
	exit 2
fi
shift
out=$(mktemp "${TMPDIR:-/tmp}/slatefs-smoke.XXXXXX") || exit 1
trap 'rm -f "$out"' EXIT
"$@" >"$out" 2>&1
rc=$?
cat "$out"
bad=0
if [ "$rc" -ne 0 ]; then
	echo "smoke-check: '$*' exited with $rc"
	bad=1
fi
for n in "${names[@]}"; do
	# the value is the word before the unit: BENCH <name...> <value> <unit>
	v=$(grep -E "^BENCH $n [0-9.]+ [^ ]+$" "$out" | head -n 1 | awk '{ print $(NF - 1) }')
	if ! awk -v v="$v" 'BEGIN { exit !(v + 0 > 0) }'; then
		echo "smoke-check: no positive figure 'BENCH $n <value> <unit>' in the output"
		bad=1
	fi
done
exit $bad
