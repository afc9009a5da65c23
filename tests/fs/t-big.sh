#!/bin/bash
# tests/fs/t-big.sh — sizes and limits: sparse files with data past 4 GiB
# and 16 GiB (stat size, du small, SEEK_DATA/SEEK_HOLE, punch, truncate),
# 100,000 * SLATEFS_TEST_SCALE entries in one directory read while entries
# are unlinked, 255- and 256-byte names, 64 KiB xattrs, and max_size:
# ENOSPC (never EIO) with the image still consistent, then recovery after
# deletes. Every image must pass fsck afterwards.
test_description='big and sparse files, a huge directory, names, xattrs, max_size'
. "$SLATEFS_SOURCE_DIR/tests/lib/mount-lib.sh"

PC=$HELPERS/posix-check
PC_ARGS="-t $ML_TARGET"
NENT=$((100000 * SCALE))

fs_mkfs || exit 1

test_expect_success 'mount' '
	fs_mount
'

test_expect_success 'sparse files past 4 GiB: size, holes, SEEK_DATA/HOLE, punch, truncate' '
	mkdir "$MNT/big" &&
	"$PC" $PC_ARGS "$MNT/big" big/sparse &&
	f="$MNT/big/big-sparse/sparse" &&
	test "$(stat -c %s "$f")" = $((17 * 1024 * 1024 * 1024)) &&
	kib=$(du -k "$f" | cut -f1) &&
	echo "du: $kib KiB" &&
	test "$kib" -lt 32768
'

# same_regions A B: same size, and the same bytes around the data the
# sparse test leaves (reading all of two 5 GiB files would take too long).
same_regions() {
	test "$(stat -c %s "$1")" = "$(stat -c %s "$2")" &&
	for off in 0 $((4 * 1024 * 1024 * 1024 - 65536)) $((2 * 1024 * 1024 * 1024)); do
		cmp -i "$off" -n 1048576 "$1" "$2" || return 1
	done
}

test_expect_success 'a sparse file copied with cp --sparse stays sparse and equal' '
	f="$MNT/big/big-sparse/sparse" &&
	truncate -s 5G "$f" &&
	cp --sparse=always "$f" "$MNT/big/copy" &&
	same_regions "$f" "$MNT/big/copy" &&
	test "$(du -k "$MNT/big/copy" | cut -f1)" -lt 32768
'

test_expect_success "$NENT entries in one directory, read while entries are unlinked" '
	mkdir "$MNT/dir" &&
	"$HELPERS/bigdir" -n "$NENT" "$MNT/dir" &&
	ls -f "$MNT/dir" | LC_ALL=C sort >"$ML_TMP/dir.list" &&
	test "$(wc -l <"$ML_TMP/dir.list")" -gt $((NENT / 2))
'

test_expect_success '255-byte names work and 256-byte names fail everywhere' '
	mkdir "$MNT/names" &&
	"$PC" $PC_ARGS "$MNT/names" names/
'

test_expect_success 'xattrs up to 64 KiB, and E2BIG past it' '
	mkdir "$MNT/xattr" &&
	"$PC" $PC_ARGS "$MNT/xattr" xattr/sizes xattr/names
'

test_expect_success BIGXATTR 'a 64 KiB xattr through setfattr and getfattr' '
	head -c 65536 /dev/urandom >"$ML_TMP/xval" &&
	touch "$MNT/xattr/f" &&
	{
		echo "# file: $MNT/xattr/f" &&
		echo "user.big=0x$(od -An -tx1 -v "$ML_TMP/xval" | tr -d " \n")"
	} >"$ML_TMP/xdump" &&
	setfattr --restore="$ML_TMP/xdump" &&
	getfattr --only-values -n user.big "$MNT/xattr/f" >"$ML_TMP/xval.back" &&
	cmp "$ML_TMP/xval" "$ML_TMP/xval.back"
'

test_expect_success 'everything survives unmount, fsck and remount' '
	fs_umount &&
	fs_fsck &&
	fs_mount &&
	ls -f "$MNT/dir" | LC_ALL=C sort >"$ML_TMP/dir.list2" &&
	cmp "$ML_TMP/dir.list" "$ML_TMP/dir.list2" &&
	{
		! test_have_prereq BIGXATTR ||
		{ getfattr --only-values -n user.big "$MNT/xattr/f" >"$ML_TMP/xval.back2" &&
		cmp "$ML_TMP/xval" "$ML_TMP/xval.back2"; }
	} &&
	same_regions "$MNT/big/big-sparse/sparse" "$MNT/big/copy"
'

test_expect_success 'removing the huge directory leaves a consistent image' '
	rm -rf "$MNT/dir" &&
	test ! -e "$MNT/dir" &&
	fs_umount &&
	fs_fsck
'

# --- max_size -------------------------------------------------------------------

MAX=$((64 * 1024 * 1024))

# fill N: write 4 MiB files of random data fill.N, fill.N+1, ... until one
# fails; the checksums of those that completed go to sums. Succeeds only if
# the failure is ENOSPC.
fill() {
	k=$1
	while [ "$k" -lt $(($1 + 100)) ]; do
		if ! dd if="$ML_TMP/rand4m" of="$MNT/full/fill.$k" bs=1M conv=fsync \
			2>dd.err >/dev/null; then
			cat dd.err
			grep -q "No space left on device" dd.err
			return
		fi
		(cd "$MNT/full" && md5sum "fill.$k") >>sums
		k=$((k + 1))
	done
	echo "wrote 100 files of 4 MiB into a 64 MiB filesystem without ENOSPC"
	return 1
}

test_expect_success SLATEFS 'max_size: writes fail with ENOSPC, not EIO' '
	fs_mkfs &&
	fs_mount -o max_size=64M &&
	mkdir "$MNT/full" &&
	head -c 4194304 /dev/urandom >"$ML_TMP/rand4m" &&
	rm -f sums &&
	fill 0 &&
	test "$(stat -c %s "$IMG")" -le "$MAX" &&
	test -s sums &&
	(cd "$MNT/full" && md5sum -c --quiet "$ML_TMP/sums")
'

test_expect_success SLATEFS 'max_size: a full filesystem still reads, lists and stats' '
	ls -l "$MNT/full" >/dev/null &&
	stat "$MNT/full" >/dev/null &&
	df "$MNT" &&
	(cd "$MNT/full" && md5sum -c --quiet "$ML_TMP/sums")
'

test_expect_success SLATEFS 'max_size: after deletes, writes succeed again' '
	n=$(( $(wc -l <sums) / 2 + 1 )) &&
	awk -v n="$n" "NR <= n { print \$2 >\"gone\"; next } { print }" sums >sums.left &&
	while read -r f; do rm "$MNT/full/$f" || exit 1; done <gone &&
	sync "$MNT/full" &&
	{ test ! -s sums.left || (cd "$MNT/full" && md5sum -c --quiet "$ML_TMP/sums.left"); } &&
	dd if="$ML_TMP/rand4m" of="$MNT/full/again" bs=1M conv=fsync &&
	cmp "$ML_TMP/rand4m" "$MNT/full/again" &&
	test "$(stat -c %s "$IMG")" -le "$MAX"
'

test_expect_success SLATEFS 'max_size: fill again, unmount, fsck, remount: all intact' '
	rm -f sums &&
	fill 1000 &&
	cat sums.left >>sums &&
	fs_umount &&
	fs_fsck &&
	test "$(stat -c %s "$IMG")" -le "$MAX" &&
	fs_mount -o max_size=64M &&
	(cd "$MNT/full" && md5sum -c --quiet "$ML_TMP/sums") &&
	rm -rf "$MNT/full" &&
	mkdir "$MNT/after" &&
	dd if="$ML_TMP/rand4m" of="$MNT/after/f" bs=1M conv=fsync &&
	fs_umount &&
	fs_fsck
'

test_done
