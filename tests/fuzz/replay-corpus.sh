#!/bin/sh
# replay-corpus.sh BUILD-DIR SOURCE-DIR — the fuzzer's short run for the test
# suite: generate the seed corpus (fuzz-mkseed, into a temp dir), then run the
# fuzz target once on every seed and every committed regression input, with
# real checksums and with the nocrc build. Fails if a replayer crashes or
# reports an error, or if the generator makes no seeds.
set -eu
build=$1
src=$2
tmp=$(mktemp -d /tmp/slatefs-fuzz-replay.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

for v in "" -nocrc; do
	"$build/fuzz-mkseed$v" "$tmp/seeds$v"
	n=$(ls "$tmp/seeds$v" | wc -l)
	if [ "$n" -lt 20 ]; then
		echo "fuzz-mkseed$v made only $n seed(s)" >&2
		exit 1
	fi
	set -- "$tmp/seeds$v"
	for d in "$src/corpus/regress$v" "$src/corpus/seeds$v"; do
		[ -d "$d" ] && set -- "$@" "$d"
	done
	"$build/fuzz-replay$v" "$@" 2>"$tmp/log$v" || {
		tail -n 20 "$tmp/log$v" >&2
		exit 1
	}
	echo "fuzz-replay$v: $(grep -c '^replay:' "$tmp/log$v") inputs"
done
