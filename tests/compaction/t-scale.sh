#!/bin/bash
# tests/compaction/t-scale.sh — the seed scenario's bound at scale: 1 GiB ×
# SLATEFS_TEST_SCALE of incompressible data in files of 1 MiB, 90% deleted
# spread across the image (every 10th file kept), `slatectl compact --wait`
# → while still mounted the image is at most (live data + metadata) × 1.1 +
# 1 MiB, the kept files hold their exact bytes, fsck is clean. Prints the
# sizes before and after and the seconds each step took.
test_description='1 GiB in 1 MiB files, 90% deleted across the image, compact'
. "$SLATEFS_SOURCE_DIR/tests/lib/mount-lib.sh"
. "$SLATEFS_SOURCE_DIR/tests/compaction/compact-lib.sh"

FILES=$((1024 * SCALE))
FSIZE=$MIB
KEPT=$((FILES / 10))

# Every kept file (each 10th) holds the pattern of its number.
check_kept() {
	ck_i=10
	while [ "$ck_i" -le "$FILES" ]; do
		"$PATTERN" check "$MNT/f$ck_i" "$FSIZE" "$ck_i" || return 1
		ck_i=$((ck_i + 10))
	done
}

fs_mkfs || exit 1

test_expect_success 'mount (autocompact off: only our pass runs)' '
	fs_mount -o autocompact=off
'

test_expect_success "write $FILES files of 1 MiB (incompressible)" '
	t0=$(cx_now) &&
	i=1 &&
	while [ "$i" -le "$FILES" ]; do
		"$PATTERN" write -n "$MNT/f$i" "$FSIZE" "$i" || exit 1
		i=$((i + 1))
	done &&
	"$CTL" sync "$MNT" &&
	echo "wrote $((FILES * FSIZE)) bytes in $(cx_secs "$t0") s; image $(cx_image_size) bytes" &&
	"$CTL" stats "$MNT"
'

test_expect_success "delete 90% (keep every 10th file)" '
	t0=$(cx_now) &&
	i=1 &&
	while [ "$i" -le "$FILES" ]; do
		[ $((i % 10)) = 0 ] || echo "$MNT/f$i"
		i=$((i + 1))
	done | xargs rm &&
	test "$(ls "$MNT" | wc -l)" = "$KEPT" &&
	"$CTL" sync "$MNT" &&
	echo "$(cx_stat fragmented_files) files not laid out in one run" &&
	echo "deleted in $(cx_secs "$t0") s; image $(cx_image_size) bytes," \
		"$(cx_disk_bytes) on disk"
'

test_expect_success 'compact --wait: the image is within (live + metadata) × 1.1 + 1 MiB' '
	before=$(cx_image_size) &&
	t0=$(cx_now) &&
	"$CTL" compact --wait "$MNT" &&
	secs=$(cx_secs "$t0") &&
	cx_passes_ok 1 &&
	moved=$(cx_status bytes_moved) &&
	echo "compact --wait: $secs s, image $before -> $(cx_image_size) bytes," \
		"$moved bytes moved ($(cx_mibps "$moved" "$secs") MiB/s)," \
		"$(cx_stat fragmented_files) files not in order" &&
	cx_check_bound $((KEPT * FSIZE))
'

test_expect_success 'the kept files hold their exact bytes' '
	t0=$(cx_now) &&
	check_kept &&
	echo "verified $KEPT files in $(cx_secs "$t0") s"
'

test_expect_success 'fsck is clean after unmount; the kept files survive a remount' '
	fs_umount &&
	t0=$(cx_now) &&
	fs_fsck &&
	echo "fsck: $(cx_secs "$t0") s" &&
	fs_mount -o autocompact=off &&
	for i in 10 $((FILES / 2 / 10 * 10)) $((FILES / 10 * 10)); do
		"$PATTERN" check -d "$MNT/f$i" "$FSIZE" "$i" || exit 1
	done &&
	fs_umount
'

cx_done
