#!/bin/bash
# tests/compaction/t-seed.sh — the seed scenario through a mounted
# filesystem: write 100 files of 100 KiB of random bytes, delete 90, run
# `slatectl compact --wait`; while still mounted the image file must be at
# most (live data + metadata) × 1.1 + 1 MiB, the 10 kept files must equal
# their checksums taken before, and fsck must be clean after unmount.
test_description='seed scenario: 100 files of 100 KiB, 90 deleted, compact'
. "$SLATEFS_SOURCE_DIR/tests/lib/mount-lib.sh"
. "$SLATEFS_SOURCE_DIR/tests/compaction/compact-lib.sh"

FILES=100
FSIZE=102400

fs_mkfs || exit 1

test_expect_success 'mount (autocompact off: only our pass runs)' '
	fs_mount -o autocompact=off
'

test_expect_success "write $FILES files of $FSIZE random bytes, delete 90" '
	mkdir src &&
	i=1 &&
	while [ "$i" -le "$FILES" ]; do
		head -c "$FSIZE" /dev/urandom >"src/f$i" &&
		cp "src/f$i" "$MNT/f$i" || exit 1
		i=$((i + 1))
	done &&
	(cd src && md5sum $(seq -f "f%g" 10 10 "$FILES")) >kept.md5 &&
	"$CTL" sync "$MNT" &&
	echo "image after writing: $(cx_image_size) bytes" &&
	i=1 &&
	while [ "$i" -le "$FILES" ]; do
		[ $((i % 10)) = 0 ] || rm "$MNT/f$i" || exit 1
		i=$((i + 1))
	done &&
	test "$(ls "$MNT" | wc -l)" = $((FILES / 10)) &&
	echo "image after deleting: $(cx_image_size) bytes"
'

test_expect_success 'compact --wait: the image is within (live + metadata) × 1.1 + 1 MiB' '
	before=$(cx_image_size) &&
	t0=$(cx_now) &&
	"$CTL" compact --wait "$MNT" &&
	echo "compact --wait took $(cx_secs "$t0") s; image $before -> $(cx_image_size) bytes" &&
	cx_passes_ok 1 &&
	cx_check_bound $((FILES / 10 * FSIZE))
'

test_expect_success 'the kept files equal their checksums, the others are gone' '
	(cd "$MNT" && md5sum -c --quiet "$ML_TMP/kept.md5") &&
	test "$(ls "$MNT" | wc -l)" = $((FILES / 10)) &&
	test ! -e "$MNT/f1" && test ! -e "$MNT/f99"
'

test_expect_success 'fsck is clean after unmount; the files survive a remount' '
	fs_umount &&
	fs_fsck &&
	fs_mount -o autocompact=off &&
	(cd "$MNT" && md5sum -c --quiet "$ML_TMP/kept.md5") &&
	fs_umount &&
	fs_fsck
'

cx_done
