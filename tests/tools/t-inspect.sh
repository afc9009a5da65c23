#!/bin/bash
# tests/tools/t-inspect.sh — slatefs-inspect on a real image: made by mkfs,
# filled and partly emptied through a mount, then inspected unmounted. The
# text output names every table of the filesystem; the JSON map covers the
# image from byte 0 to its last byte, and its totals equal the file size;
# the inode count and the files with data are those the test made; a hole
# the test punches in a copy shows up as punched space; the SVG parses as XML
# and has one element per run of the map; compaction's effect shows in the
# figures; a mounted image, a non-image, a directory and a missing file are
# refused clearly with a non-zero exit.
test_description='slatefs-inspect on a real image'
. "$SLATEFS_SOURCE_DIR/tests/lib/mount-lib.sh"

INSPECT=$SLATEFS_BUILD_DIR/tools/slatefs-inspect
CTL=$SLATEFS_BUILD_DIR/tools/slatectl
# The filesystem's tables, as fs/README.md lists them.
TABLES="super inode dirent dircookie xattr chunk orphan"
NBIG=$((24 * SCALE))

# py SCRIPT ARGS...: run a python3 check (exit status is the verdict).
py() {
	python3 -c "$@"
}

# status CMD...: print the exit status of CMD (its stderr goes to ./err).
status() {
	"$@" 2>err && echo 0 || echo $?
}

fs_mkfs || exit 1

test_expect_success 'fill an image through a mount, delete two files of three' '
	fs_mount -o autocompact=off &&
	mkdir "$MNT/d1" "$MNT/d2" &&
	i=0 &&
	while [ "$i" -lt "$NBIG" ]; do
		if [ $((i % 2)) = 0 ]; then
			yes "slatefs inspect $i" | head -c 204800 >"$MNT/d1/big$i"
		else
			head -c 204800 /dev/urandom >"$MNT/d1/big$i"
		fi || exit 1
		i=$((i + 1))
	done &&
	for j in 1 2 3 4 5; do echo "small file $j" >"$MNT/d2/small$j"; done &&
	"$CTL" sync "$MNT" &&
	i=0 &&
	while [ "$i" -lt "$NBIG" ]; do
		[ $((i % 3)) = 0 ] || rm "$MNT/d1/big$i" || exit 1
		i=$((i + 1))
	done &&
	fs_umount &&
	fs_fsck
'

test_expect_success 'text output: slots, every table, space, compression, map' '
	"$INSPECT" "$IMG" >text.out &&
	cat text.out &&
	grep -q "^slot 0 " text.out && grep -q "^slot 1 " text.out &&
	grep -q "<- current" text.out &&
	for t in $TABLES; do
		grep -Eq "^ +. $t +[0-9]+ " text.out || { echo "table $t missing"; exit 1; }
	done &&
	grep -q "^compression .* lz4" text.out &&
	grep -q "^map " text.out && grep -q "^legend " text.out &&
	size=$(stat -c %s "$IMG") &&
	grep -Eq "^ +sum +$size bytes = the file size" text.out
'

test_expect_success 'JSON: the map covers the file from 0 to its end; totals = file size' '
	"$INSPECT" --json "$IMG" >before.json &&
	py "
import json, sys
m = json.load(open(\"before.json\"))
size = int(sys.argv[1])
runs = m[\"map\"][\"runs\"]
assert m[\"file_size\"] == size, (m[\"file_size\"], size)
assert sum(m[\"map\"][\"totals\"].values()) == size, m[\"map\"][\"totals\"]
assert m[\"map\"][\"total_bytes\"] == size
pos = 0
for r in runs:
    assert r[\"offset\"] == pos, (r, pos)
    assert r[\"bytes\"] > 0, r
    pos += r[\"bytes\"]
assert pos == size, (pos, size)
assert runs[0][\"kind\"] == \"header\"
kinds = {r[\"kind\"] for r in runs}
assert {\"header\", \"tree\", \"blob\", \"alloc\"} <= kinds, kinds
" "$(stat -c %s "$IMG")"
'

test_expect_success 'JSON: tables, inodes, files and compression are those made' '
	py "
import json, sys
m = json.load(open(\"before.json\"))
nbig = int(sys.argv[1])
names = {t[\"name\"] for t in m[\"tables\"]}
for t in sys.argv[2].split():
    assert t in names, (t, names)
kept = len([i for i in range(nbig) if i % 3 == 0])
fs = m[\"filesystem\"]
# root + 2 directories + the kept big files + 5 small ones
assert fs[\"inodes\"] == 1 + 2 + kept + 5, fs
inode = [t for t in m[\"tables\"] if t[\"name\"] == \"inode\"][0]
assert inode[\"entries\"] == fs[\"inodes\"]
assert fs[\"files\"] == kept, fs
assert fs[\"chunks\"] >= kept * 3, fs  # 200 KiB = 4 chunks of 64 KiB
c = m[\"compression\"]
assert c[\"lz4_blobs\"] > 0 and c[\"logical_bytes\"] > c[\"stored_bytes\"], c
tree = sum(r[\"bytes\"] for r in m[\"map\"][\"runs\"] if r[\"kind\"] == \"tree\")
assert tree == sum(t[\"map_bytes\"] for t in m[\"tables\"]), tree
assert m[\"map\"][\"totals\"][\"blob\"] >= c[\"stored_bytes\"]
" "$NBIG" "$TABLES"
'

test_expect_success 'the SVG is well-formed XML with one group per run, each with a title' '
	"$INSPECT" --json --svg before.svg "$IMG" >svg.json &&
	py "
import json, xml.etree.ElementTree as ET
ns = \"{http://www.w3.org/2000/svg}\"
root = ET.parse(\"before.svg\").getroot()
assert root.tag == ns + \"svg\", root.tag
m = json.load(open(\"svg.json\"))
runs = [g for g in root.iter(ns + \"g\") if \"run\" in g.get(\"class\", \"\").split()]
assert len(runs) == len(m[\"map\"][\"runs\"]), (len(runs), len(m[\"map\"][\"runs\"]))
for g, r in zip(runs, m[\"map\"][\"runs\"]):
    assert r[\"kind\"] in g.get(\"class\").split(), (g.get(\"class\"), r)
    t = g.find(ns + \"title\")
    assert t is not None and str(r[\"bytes\"]) + \" bytes\" in t.text, t.text
    assert len(g.findall(ns + \"rect\")) >= 1
text = \" \".join(\"\".join(e.itertext()) for e in root.iter(ns + \"text\"))
assert str(m[\"file_size\"]) + \" bytes\" in text
for t in m[\"tables\"]:
    assert t[\"name\"] in text, t[\"name\"]
"
'

test_expect_success 'a hole punched in a copy shows as punched space' '
	cp --sparse=never "$IMG" copy.slate &&
	"$INSPECT" --json copy.slate >copy.json &&
	hole=$(py "
import json
m = json.load(open(\"copy.json\"))
free = [r for r in m[\"map\"][\"runs\"] if r[\"kind\"] == \"free\" and r[\"bytes\"] >= 4096]
assert free, \"no free run to punch\"
print(free[0][\"offset\"], 4096)
") &&
	set -- $hole &&
	fallocate --punch-hole --offset "$1" --length "$2" copy.slate &&
	"$INSPECT" --json copy.slate >punched.json &&
	py "
import json, sys
a = json.load(open(\"copy.json\"))[\"map\"]
b = json.load(open(\"punched.json\"))[\"map\"]
off, n = int(sys.argv[1]), int(sys.argv[2])
assert b[\"totals\"][\"punched\"] == a[\"totals\"][\"punched\"] + n, (a[\"totals\"], b[\"totals\"])
assert b[\"totals\"][\"free\"] == a[\"totals\"][\"free\"] - n
assert any(r[\"kind\"] == \"punched\" and r[\"offset\"] <= off and
           off + n <= r[\"offset\"] + r[\"bytes\"] for r in b[\"runs\"])
" "$1" "$2"
'

test_expect_success 'compaction shows: a smaller image, fewer free runs inside it' '
	fs_mount -o autocompact=off &&
	"$CTL" compact --wait "$MNT" &&
	fs_umount &&
	"$INSPECT" --json --svg after.svg "$IMG" >after.json &&
	"$INSPECT" --color=never "$IMG" | tail -n 20 &&
	py "
import json
a = json.load(open(\"before.json\"))
b = json.load(open(\"after.json\"))
print(\"before\", a[\"file_size\"], a[\"space\"][\"interior_free_runs\"],
      \"after\", b[\"file_size\"], b[\"space\"][\"interior_free_runs\"])
assert a[\"space\"][\"interior_free_runs\"] > 0
assert b[\"file_size\"] < a[\"file_size\"]
assert b[\"space\"][\"interior_free_runs\"] < a[\"space\"][\"interior_free_runs\"]
assert b[\"filesystem\"][\"inodes\"] == a[\"filesystem\"][\"inodes\"]
"
'

test_expect_success 'colour only when asked or on a terminal' '
	"$INSPECT" --color=always "$IMG" | grep -q "$(printf "\033")\[" &&
	! "$INSPECT" "$IMG" | grep -q "$(printf "\033")" &&
	! "$INSPECT" --color=never "$IMG" | grep -q "$(printf "\033")"
'

test_expect_success 'a mounted image is refused: use slatectl stats' '
	fs_mount &&
	! "$INSPECT" "$IMG" >out 2>err &&
	cat err &&
	grep -q "mounted" err && grep -q "slatectl stats" err &&
	test ! -s out &&
	fs_umount
'

test_expect_success 'not an image, a directory, a missing file: clear errors, exit 1' '
	head -c 65536 /dev/urandom >junk &&
	test "$(status "$INSPECT" junk)" = 1 && cat err &&
	grep -q "junk is not a slatefs image" err &&
	: >empty &&
	test "$(status "$INSPECT" empty)" = 1 && cat err &&
	grep -Eq "empty (is not a slatefs image|is damaged)" err &&
	test "$(status "$INSPECT" "$ML_TMP")" = 1 && cat err &&
	grep -q "not a regular file" err &&
	test "$(status "$INSPECT" nosuch.slate)" = 1 && cat err &&
	grep -q "nosuch.slate: No such file" err &&
	test "$(status "$INSPECT")" = 2 &&
	test "$(status "$INSPECT" --color=sometimes "$IMG")" = 2
'

test_expect_success 'damaged images: what can be read is shown, never a crash' '
	"$SLATEFS_BUILD_DIR/tests/fuzz/fuzz-mkseed" seeds known &&
	n=0 && partial=0 && refused=0 &&
	for f in seeds/*; do
		rc=0
		timeout 60 "$INSPECT" --json "$f" >out.json 2>err || rc=$?
		case $rc in
		0)
			py "
import json, os, sys
m = json.load(open(\"out.json\"))
assert m[\"map\"][\"total_bytes\"] == os.path.getsize(sys.argv[1]), sys.argv[1]
assert not m[\"errors\"]
" "$f" ;;
		1)
			grep -q "$f" err && grep -Eq "fsck.slatefs|not a slatefs image" err || {
				cat err; exit 1; }
			if [ -s out.json ]; then # opened, partly unreadable
				py "
import json
m = json.load(open(\"out.json\"))
assert m[\"errors\"] and m[\"slots\"], m.get(\"errors\")
" && partial=$((partial + 1))
			else
				refused=$((refused + 1))
			fi ;;
		*)
			echo "$f: exit $rc"; cat err; exit 1 ;;
		esac
		n=$((n + 1))
	done &&
	echo "$n images: $partial shown in part, $refused refused, the rest whole" &&
	test "$n" -ge 100 && test "$partial" -ge 1 && test "$refused" -ge 1
'

test_expect_success 'a map with overlapping blobs: cut, reported, still the file size' '
	test -f seeds/blobloc-overlap &&
	rc=0 && "$INSPECT" --json seeds/blobloc-overlap >out.json 2>err || rc=$? &&
	cat err && test "$rc" = 1 && grep -q "claimed twice" err &&
	py "
import json, os
m = json.load(open(\"out.json\"))
size = os.path.getsize(\"seeds/blobloc-overlap\")
assert m[\"map\"][\"total_bytes\"] == size, (m[\"map\"][\"total_bytes\"], size)
pos = 0
for r in m[\"map\"][\"runs\"]:
    assert r[\"offset\"] == pos, r
    pos += r[\"bytes\"]
assert pos == size and m[\"errors\"]
"
'

test_done
