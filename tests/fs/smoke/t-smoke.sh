#!/bin/bash
# tests/fs/smoke/t-smoke.sh — quick checks of the daemon's own machinery that
# the behaviour suites do not cover: mkfs options, going to the background,
# mounting through mount.fuse3 (the fstab path), -o sync and fsync across
# kill -9, orphans and long truncates finished by the next mount, blob
# sharing by copy_file_range, and option errors. Every image must pass fsck.
test_description='slatefs daemon smoke checks'
. "$SLATEFS_SOURCE_DIR/tests/lib/mount-lib.sh"

[ "$ML_TARGET" = slatefs ] || { say "1..0 # SKIP slatefs only"; exit 77; }

# Wait until the daemon holding $IMG has exited: it keeps the image locked.
wait_released() {
	flock -w 60 "$IMG" true
}

# The number after "$2" in the fsck summary line of kind $1.
fsck_count() {
	"$FSCK" -n "$IMG" | sed -n "s/.*$1: .* \([0-9]*\) $2.*/\1/p" | head -n 1
}

test_expect_success 'mkfs options: page size, chunk size, no compression, label' '
	fs_mkfs --page-size 8192 --chunk-size 16k --compress none --label smoke &&
	fs_mount &&
	head -c 200000 /dev/urandom >data &&
	cp data "$MNT/f" &&
	cmp data "$MNT/f" &&
	fs_umount &&
	fs_fsck &&
	test "$(fsck_count filesystem chunks)" -ge 12
'

test_expect_success 'mkfs refuses bad options' '
	! "$MKFS" --page-size 1000 x.img &&
	! "$MKFS" --chunk-size 3000 y.img &&
	! "$MKFS" --compress zstd z.img &&
	! "$MKFS" --label "$(printf "%070d" 0)" w.img &&
	test ! -e x.img && test ! -e y.img && test ! -e z.img && test ! -e w.img
'

test_expect_success 'in the background: exits 0 with the mount up; unmount ends it' '
	fs_mkfs &&
	"$SLATEFS" "$IMG" "$MNT" &&
	ml_record_mount - "$MNT" &&
	mountpoint -q "$MNT" &&
	echo hello >"$MNT/x" &&
	fusermount3 -u "$MNT" &&
	ml_forget_mount "$MNT" &&
	wait_released &&
	fs_fsck
'

test_expect_success 'a bad option or a second mount fails in the foreground with exit 1' '
	fs_mount &&
	{ "$SLATEFS" "$IMG" "$ML_TMP/m2" 2>err; test $? = 1; } &&
	mkdir -p "$ML_TMP/m2" &&
	{ "$SLATEFS" "$IMG" "$ML_TMP/m2" 2>err; test $? = 1; } &&
	grep -q "in use" err &&
	fs_umount &&
	{ "$SLATEFS" "$IMG" "$MNT" -o nodefault_permissions 2>err; test $? = 1; } &&
	{ "$SLATEFS" "$IMG" "$MNT" -o commit=soon 2>err; test $? = 1; } &&
	grep -q commit err &&
	{ "$SLATEFS" "$IMG" "$MNT" -o cache=lots 2>err; test $? = 1; } &&
	! mountpoint -q "$MNT"
'

test_expect_success ROOT 'through mount.fuse3, as fstab does' '
	mount -t fuse "$SLATEFS#$IMG" "$MNT" -o defaults,noatime,commit=2,_netdev &&
	ml_record_mount - "$MNT" &&
	grep -q "^$IMG $MNT fuse.slatefs " /proc/self/mounts &&
	cat "$MNT/x" | grep -q hello &&
	umount "$MNT" &&
	ml_forget_mount "$MNT" &&
	wait_released &&
	fs_fsck
'

test_expect_success '-o sync: a write is durable without fsync' '
	fs_mount -o sync,commit=3600 &&
	printf "durable\n" >"$MNT/s" &&
	mkdir "$MNT/sd" &&
	fs_kill9 &&
	fs_fsck &&
	fs_mount &&
	test "$(cat "$MNT/s")" = durable &&
	test -d "$MNT/sd" &&
	fs_umount
'

test_expect_success 'fsync: written data survives kill -9' '
	fs_mount -o commit=3600 &&
	dd if=data of="$MNT/synced" bs=64k conv=fsync 2>/dev/null &&
	fs_kill9 &&
	fs_fsck &&
	fs_mount &&
	cmp data "$MNT/synced" &&
	fs_umount
'

test_expect_success 'an unlinked open file is reclaimed by the next mount after kill -9' '
	fs_mount -o commit=3600 &&
	cp data "$MNT/gone" &&
	exec 7<"$MNT/gone" &&
	rm "$MNT/gone" &&
	cmp data /proc/self/fd/7 &&
	python3 -c "import os; os.fsync(7)" &&
	fs_kill9 &&
	exec 7<&- &&
	test "$(fsck_count filesystem orphan)" = 1 &&
	fs_mount &&
	fs_umount &&
	test "$(fsck_count filesystem orphan)" = 0 &&
	fs_fsck --no-orphans
'

test_expect_success 'a truncate of many chunks finishes, and frees them' '
	fs_mkfs --chunk-size 4k &&
	fs_mount &&
	head -c 3000000 /dev/urandom >"$MNT/long" &&
	sync "$MNT/long" &&
	truncate -s 5000 "$MNT/long" &&
	test "$(stat -c %s "$MNT/long")" = 5000 &&
	truncate -s 100000 "$MNT/long" &&
	test "$(dd if="$MNT/long" bs=1 skip=5000 count=95000 2>/dev/null | tr -d "\\000" | wc -c)" = 0 &&
	fs_umount &&
	fs_fsck --no-orphans &&
	test "$(fsck_count filesystem chunks)" -le 2
'

test_expect_success 'copy_file_range shares whole chunks instead of copying them' '
	fs_mkfs &&
	fs_mount &&
	head -c 8388608 /dev/urandom >big &&
	cp big "$MNT/src" &&
	python3 -c "
import os, sys
a = os.open(sys.argv[1], os.O_RDONLY)
b = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT, 0o644)
n = 0
while True:
    k = os.copy_file_range(a, b, 1 << 24)
    if k == 0:
        break
    n += k
assert n == 8388608, n
" "$MNT/src" "$MNT/dst" &&
	cmp big "$MNT/dst" &&
	fs_umount &&
	fs_fsck --no-orphans &&
	"$FSCK" -n "$IMG" >sum &&
	grep -q "store: .* 128 blobs" sum &&
	grep -q " 256 chunks" sum
'

test_done
