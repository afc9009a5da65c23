#!/bin/bash
# tests/fs/t-concurrency.sh — several processes creating, renaming, linking,
# unlinking, exchanging, writing and reading in shared directories (stress)
# for 15 s * SLATEFS_TEST_SCALE; then every file must verify and every link
# count match its names, on the live mount and after a remount; and the
# unmounted image must pass fsck.slatefs -n (the store's full verify plus
# the filesystem cross-checks: nlink vs dirents, orphans, chunks without
# inodes).
test_description='concurrent namespace and data operations, then fsck'
. "$SLATEFS_SOURCE_DIR/tests/lib/mount-lib.sh"

STRESS=$HELPERS/stress
SECS=$((15 * SCALE))

fs_mkfs || exit 1

test_expect_success 'mount' '
	fs_mount &&
	mkdir "$MNT/a" "$MNT/b"
'

test_expect_success "6 processes for $SECS s in shared directories" '
	"$STRESS" -p 6 -t "$SECS" "$MNT/a"
'

test_expect_success 'everything left verifies on the live mount' '
	"$STRESS" -c "$MNT/a"
'

# As root, dropping the kernel's dentry and inode caches makes it FORGET
# inodes and look them up again while the workload runs.
drop_caches() {
	while :; do
		sleep 0.3
		echo 2 >/proc/sys/vm/drop_caches 2>/dev/null
	done
}

test_expect_success 'a second round with 3 processes while the first tree is listed and the kernel forgets inodes' '
	ml_bg sh -c "while :; do ls -lR \"$MNT/a\" >/dev/null 2>&1; done" &&
	lister=$ml_bg_pid &&
	{ ! test -w /proc/sys/vm/drop_caches || { ml_bg drop_caches && dropper=$ml_bg_pid; }; } &&
	"$STRESS" -p 3 -t "$((SECS / 3 + 1))" "$MNT/b" &&
	kill "$lister" ${dropper:-} &&
	"$STRESS" -c "$MNT/b" &&
	"$STRESS" -c "$MNT/a"
'

test_expect_success 'unmount, fsck, remount: the same tree, still verifying' '
	fs_snapshot "$MNT" >before &&
	fs_umount &&
	fs_fsck &&
	fs_mount &&
	fs_snapshot "$MNT" >after &&
	diff before after &&
	"$STRESS" -c "$MNT/a" &&
	"$STRESS" -c "$MNT/b"
'

test_expect_success 'removing everything leaves an empty, consistent filesystem' '
	rm -rf "$MNT/a" "$MNT/b" &&
	test -z "$(ls -A "$MNT")" &&
	fs_umount &&
	fs_fsck
'

test_done
