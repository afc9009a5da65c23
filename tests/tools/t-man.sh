#!/bin/sh
# tests/tools/t-man.sh — the manual pages: each renders without a warning
# (groff -ww, and man --warnings where man-db is installed); every program
# `meson install` puts in a bin directory has a page installed into man8;
# slatefs(8) documents every mount option of fs/options.c's table as an item
# of its own; mkfs.slatefs(8), fsck.slatefs(8) and slatefs-inspect(8) every
# long option of their programs; slatectl(8) every command slatectl
# dispatches, plus backup and inspect. The option names are read from the
# sources, so a new option without a page fails here.
# Needs groff (Debian: groff-base); exit 77 (skipped) without it.
set -u
src=${SLATEFS_SOURCE_DIR:?run through meson test}
build=${SLATEFS_BUILD_DIR:?run through meson test}
man=$src/man
command -v groff >/dev/null || { echo "1..0 # SKIP groff is not installed"; exit 77; }
tmp=$(mktemp -d /tmp/slatefs-t-man.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT

n=0
failed=0
check() { # check 'title' COMMAND...: one test, failing if COMMAND fails
	title=$1
	shift
	n=$((n + 1))
	if "$@" >"$tmp/out" 2>&1; then
		echo "ok $n - $title"
	else
		echo "not ok $n - $title"
		sed 's/^/#   /' "$tmp/out"
		failed=$((failed + 1))
	fi
}

# renders PAGE: no warning from groff -ww (nor from man --warnings)
renders() {
	groff -man -ww -z "$1" 2>"$tmp/warn" || return 1
	if command -v man >/dev/null; then
		MANWIDTH=80 man --warnings -l "$1" 2>>"$tmp/warn" >/dev/null || return 1
	fi
	cat "$tmp/warn"
	test ! -s "$tmp/warn"
}

# The page rendered as plain text.
text_of() {
	groff -man -Tutf8 -P-cbou "$1" 2>/dev/null
}

# items PAGE WORD...: each WORD starts an indented item line of the page
# (".TP" tags render as a line that begins with the tag), e.g.
# "       commit=SECONDS", "       --rate R" or "       -f, --force".
items() {
	page=$1
	shift
	text_of "$page" >"$tmp/text" || return 1
	[ "$#" -gt 0 ] || { echo "no names to look for"; return 1; }
	rc=0
	for w; do
		if ! grep -Eq "^ +(-[A-Za-z], )?($w)(=|,| |\\[|\$)" "$tmp/text"; then
			echo "$(basename "$page"): no item for '$w'"
			rc=1
		fi
	done
	return $rc
}

for p in "$man"/*.8; do
	check "$(basename "$p") renders without warnings" renders "$p"
done

# fs/options.c: RAW("commit=%s", ...) and FUSE_OPT_KEY("ro", ...) entries
mount_opts=$(sed -n -e 's/^[[:space:]]*RAW("\([a-z_]*\)=%s".*/\1/p' \
	-e 's/^[[:space:]]*FUSE_OPT_KEY("\([a-z_]*\)".*/\1/p' "$src/fs/options.c")
check "slatefs(8) has an item for every mount option of fs/options.c" \
	items "$man/slatefs.8" $mount_opts
check "slatefs(8) gives a default for each slatefs mount option with a value" \
	sh -c 'n=$(grep -c "^Default:" "$0"); test "$n" -ge 12 || { echo "only $n defaults"; exit 1; }' \
	"$man/slatefs.8"

# the long options of a program's getopt_long table: {"name", ...
long_opts() {
	grep -o '{"[a-z][a-z-]*", *[a-z]*_argument' "$1" | sed 's/{"\([a-z-]*\)".*/--\1/'
}
check "mkfs.slatefs(8) has an item for every option of tools/mkfs.c" \
	items "$man/mkfs.slatefs.8" $(long_opts "$src/tools/mkfs.c")
check "fsck.slatefs(8) has an item for every option of tools/fsck.c, and -n, -y, --level, --progress" \
	items "$man/fsck.slatefs.8" $(long_opts "$src/tools/fsck.c") -n -y --level --progress
check "slatefs-inspect(8) has an item for every option of tools/inspect.c" \
	items "$man/slatefs-inspect.8" $(long_opts "$src/tools/inspect.c" | grep -v colour)

# slatectl.c: strcmp(cmd, "stats") == 0 ... and the options of compact/status
commands=$(sed -n 's/.*strcmp(cmd, "\([a-z]*\)").*/\1/p' "$src/tools/slatectl.c")
check "slatectl(8) has an item for every command of tools/slatectl.c, backup and inspect" \
	items "$man/slatectl.8" $commands backup inspect
check "slatectl(8) has an item for every option of compact and status, and --json" \
	items "$man/slatectl.8" $(long_opts "$src/tools/slatectl.c") --watch --json

# every program installed into a bin directory has a page installed in man8
check "every installed program has a man page installed in man8" python3 -c '
import json, os, subprocess, sys
inst = json.loads(subprocess.run(["meson", "introspect", "--installed", sys.argv[1]],
                                 check=True, capture_output=True, text=True).stdout)
dests = list(inst.values())
progs = [os.path.basename(d) for d in dests if os.path.basename(os.path.dirname(d)) in ("bin", "sbin")]
pages = {os.path.basename(d) for d in dests if os.path.basename(os.path.dirname(d)) == "man8"}
assert progs, "no installed program found"
missing = [p for p in progs if p + ".8" not in pages]
print("programs:", progs, "pages:", sorted(pages))
assert not missing, missing
' "$build"

echo "1..$n"
echo "# t-man: $((n - failed)) passed, $failed failed"
[ "$failed" = 0 ]
