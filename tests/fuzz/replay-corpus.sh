#!/bin/sh
# replay-corpus.sh BUILD-DIR SOURCE-DIR — the fuzzer's short run for the test
# suite: generate the seed corpus (fuzz-mkseed, into a temp dir), then run the
# fuzz target once on every seed, every input of the committed corpus
# (corpus/min*/) and every committed regression input (corpus/regress*/),
# with real checksums and with the nocrc build; all must pass. Then each input of
# a known, not yet fixed bug (the generator's KNOWN-DIR) must still
# fail — crash, abort or hang (killed after $KNOWN_TIMEOUT s) — like a known
# breakage: when one passes, its bug was fixed, and this test fails saying
# to move it among the ordinary seeds (tests/fuzz/README.md). An input named
# *.ubsan shows its bug only under UndefinedBehaviorSanitizer: it is left out
# of builds without it.
set -eu
build=$1
src=$2
KNOWN_TIMEOUT=${KNOWN_TIMEOUT:-5}
tmp=$(mktemp -d /tmp/slatefs-fuzz-replay.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fixed=0

for v in "" -nocrc; do
	"$build/fuzz-mkseed$v" "$tmp/seeds$v" "$tmp/known$v"
	n=$(ls "$tmp/seeds$v" | wc -l)
	if [ "$n" -lt 20 ]; then
		echo "fuzz-mkseed$v made only $n seed(s)" >&2
		exit 1
	fi
	set -- "$tmp/seeds$v"
	for d in "$src/corpus/min$v" "$src/corpus/regress$v"; do
		[ -d "$d" ] && set -- "$@" "$d"
	done
	"$build/fuzz-replay$v" "$@" 2>"$tmp/log$v" || {
		tail -n 20 "$tmp/log$v" >&2
		exit 1
	}
	echo "fuzz-replay$v: $(grep -c '^replay:' "$tmp/log$v") inputs pass"
	ubsan=no
	grep -q __ubsan_handle "$build/fuzz-replay$v" && ubsan=yes
	for f in "$tmp/known$v"/*; do
		[ -f "$f" ] || continue
		case "$f" in *.ubsan) [ "$ubsan" = yes ] || continue ;; esac
		rc=0
		UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
			timeout -s KILL "$KNOWN_TIMEOUT" "$build/fuzz-replay$v" "$f" >"$tmp/known.log" 2>&1 || rc=$?
		if [ "$rc" = 0 ]; then
			echo "FIXED: fuzz-replay$v $(basename "$f") passes now: make mkseed.c write it" \
				"among the ordinary seeds (and note the fix in README.md)"
			fixed=$((fixed + 1))
		else
			case $rc in
			137) why="killed after $KNOWN_TIMEOUT s: a hang" ;;
			134) why="aborted" ;;
			*) [ "$rc" -gt 128 ] && why="signal $((rc - 128))" || why="exit $rc" ;;
			esac
			echo "known bug still there: fuzz-replay$v $(basename "$f"): $why;" \
				"$(grep -m1 -E 'alloc_limit|fuzz:|ERROR|Assertion|runtime error' "$tmp/known.log")"
		fi
	done
done
[ "$fixed" = 0 ]
