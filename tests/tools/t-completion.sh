#!/bin/bash
# tests/tools/t-completion.sh — contrib/bash-completion/slatectl: completes
# every command slatectl dispatches (read from tools/slatectl.c) plus backup
# and inspect, the options of compact, status, backup and inspect, the values
# of --mode and --color=, mount points as directories and files as files.
# Runs the completion functions in this bash, as readline would, without the
# bash-completion package.
set -u
src=${SLATEFS_SOURCE_DIR:?run through meson test}
tmp=$(mktemp -d /tmp/slatefs-t-completion.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT
. "$src/contrib/bash-completion/slatectl" || exit 1

n=0
failed=0

# expect 'LINE' WORD...: completing LINE (the last word is the one being
# completed; a trailing space means an empty word) offers exactly WORD...
expect() {
	local line=$1
	shift
	read -r -a COMP_WORDS <<<"$line"
	[[ $line == *" " ]] && COMP_WORDS+=("")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMPREPLY=()
	case ${COMP_WORDS[0]} in
	slatectl) _slatectl ;;
	slatefs-inspect) _slatefs_inspect ;;
	esac
	local got want
	got=$(printf '%s\n' "${COMPREPLY[@]}" | LC_ALL=C sort | tr '\n' ' ')
	want=$(printf '%s\n' "$@" | LC_ALL=C sort | tr '\n' ' ')
	n=$((n + 1))
	if [[ $got == "$want" ]]; then
		echo "ok $n - '$line'"
	else
		echo "not ok $n - '$line'"
		echo "#   want: $want"
		echo "#   got:  $got"
		failed=$((failed + 1))
	fi
}

cd "$tmp" || exit 1
mkdir -p mnt/sub imgdir
: >a.slate
: >imgdir/b.slate
: >imgdir/c.svg

commands=$(sed -n 's/.*strcmp(cmd, "\([a-z]*\)").*/\1/p' "$src/tools/slatectl.c")
[[ -n $commands ]] || { echo "no commands found in tools/slatectl.c"; exit 1; }
# backup and inspect once, whether slatectl.c dispatches them yet or not
expect "slatectl " $(printf '%s\n' $commands backup inspect | sort -u)
expect "slatectl --json st" stats status
expect "slatectl --" --json --help --version
expect "slatectl compact --mode " pages blobs all
expect "slatectl compact --" --wait --rate --mode --target
expect "slatectl compact --wait m" mnt
expect "slatectl status --" --watch
expect "slatectl stats m" mnt
expect "slatectl stats mnt/" mnt/sub
expect "slatectl stats mnt " # one path only
expect "slatectl defrag imgdir/" imgdir/b.slate imgdir/c.svg
expect "slatectl backup --" --compact --force
expect "slatectl backup --compact m" mnt
expect "slatectl backup m" mnt
expect "slatectl backup mnt imgdir/b" imgdir/b.slate
expect "slatectl backup mnt imgdir/b.slate " # nothing after the destination
expect "slatectl inspect imgdir/" imgdir/b.slate imgdir/c.svg
expect "slatectl --json inspect --svg imgdir/c" imgdir/c.svg
expect "slatectl inspect --color=a" --color=auto --color=always
expect "slatefs-inspect --j" --json
expect "slatefs-inspect a" a.slate

echo "1..$n"
echo "# t-completion: $((n - failed)) passed, $failed failed"
[[ $failed == 0 ]]
