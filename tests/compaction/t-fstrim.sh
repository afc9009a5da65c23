#!/bin/bash
# tests/compaction/t-fstrim.sh — `fstrim MOUNTPOINT` on slatefs: the kernel
# forwards FITRIM, the daemon punches the image's free space (disk usage —
# st_blocks of the image — drops at once, and fstrim -v reports the bytes)
# and starts a pass, which completes and brings the image within the seed
# bound. Deleting and trimming at once (the deletes not yet durable), and
# after a durable sync; fstrim -m (minlen) larger than every free run trims
# nothing.
test_description='fstrim: FITRIM punches free space and starts a pass'
. "$SLATEFS_SOURCE_DIR/tests/lib/mount-lib.sh"
. "$SLATEFS_SOURCE_DIR/tests/compaction/compact-lib.sh"

NFILES=$((40 * SCALE))
KEEP=4 # every 4th file stays

fs_mkfs || exit 1

# files TAG: NFILES files of 1 MiB, TAG.N holding pattern N; durable
files() {
	for fl_i in $(seq 1 "$NFILES"); do
		"$PATTERN" write -n "$MNT/$1.$fl_i" "$MIB" "$fl_i" || return 1
	done
	"$CTL" sync "$MNT"
}

# delete TAG: all but every KEEP-th file of TAG; prints the bytes deleted
delete() {
	dl_n=0
	for dl_i in $(seq 1 "$NFILES"); do
		if [ $((dl_i % KEEP)) != 0 ]; then
			rm "$MNT/$1.$dl_i" || return 1
			dl_n=$((dl_n + 1))
		fi
	done
	echo $((dl_n * MIB))
}

check_kept() {
	for ck_t in "$@"; do
		for ck_i in $(seq "$KEEP" "$KEEP" "$NFILES"); do
			"$PATTERN" check -d "$MNT/$ck_t.$ck_i" "$MIB" "$ck_i" || return 1
		done
	done
}

# trim DELETED [ARGS]: fstrim -v ARGS $MNT; it must report at least half the
# deleted bytes, and the image must occupy that much less disk at once;
# then the pass it started must complete.
trim() {
	tr_before=$(cx_disk_bytes)
	tr_passes=$(cx_status passes)
	fstrim -v "$MNT" >fstrim.out || { cat fstrim.out; echo "fstrim failed"; return 1; }
	tr_after=$(cx_disk_bytes)
	cat fstrim.out
	tr_bytes=$(sed -n "s/.*(\([0-9]*\) bytes) trimmed.*/\1/p" fstrim.out)
	echo "deleted $1 bytes; fstrim reports $tr_bytes trimmed; disk usage $tr_before -> $tr_after"
	[ -n "$tr_bytes" ] && [ "$tr_bytes" -ge $(($1 / 2)) ] &&
		[ $((tr_before - tr_after)) -ge $(($1 / 2)) ] || return 1
	cx_wait_status state idle 60 &&
	[ "$(cx_status passes)" = $((tr_passes + 1)) ] &&
	[ "$(cx_status last_error)" = 0 ] || { echo "the pass fstrim started did not complete"; return 1; }
}

test_expect_success "mount; $NFILES files of 1 MiB" '
	fs_mount -o autocompact=off &&
	files a
'

test_expect_success 'delete 3/4 of them and fstrim at once: punched, disk usage drops, a pass runs' '
	deleted=$(delete a) &&
	trim "$deleted" &&
	cx_check_bound $((NFILES / KEEP * MIB)) &&
	check_kept a
'

test_expect_success 'the same after a durable sync (slatectl sync) between the deletes and fstrim' '
	cx_wait_status state idle 60 &&
	files b &&
	deleted=$(delete b) &&
	"$CTL" sync "$MNT" &&
	trim "$deleted" &&
	cx_check_bound $((2 * NFILES / KEEP * MIB)) &&
	check_kept a b
'

test_expect_success 'fstrim -m (minlen) larger than every free run trims nothing' '
	files c &&
	delete c >/dev/null &&
	"$CTL" sync "$MNT" &&
	test "$(cx_stat largest_free_extent)" -lt $((64 * MIB)) &&
	fstrim -v -m 64M "$MNT" >fstrim.out &&
	cat fstrim.out &&
	grep -q "(0 bytes) trimmed" fstrim.out &&
	cx_wait_status state idle 60
'

test_expect_success 'unmount, fsck clean' '
	check_kept a b c &&
	fs_umount &&
	fs_fsck
'

cx_done
