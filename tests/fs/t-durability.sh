#!/bin/bash
# tests/fs/t-durability.sh — what fsync, fdatasync and fsync of a directory
# cover survives kill -9 of the daemon. 50 * SLATEFS_TEST_SCALE rounds on one
# image: mount, run the durable writer (creates, overwrites, appends,
# truncations, renames, unlinks, each made durable, plus unsynced noise),
# kill -9 the daemon at a random moment, remount, check every file against
# the writer's log (durable changes byte for byte; interrupted ones old or
# new), unmount cleanly and fsck (the crashed image, before the remount, must
# pass fsck too). Also: data not fsync'ed is durable within commit= seconds,
# and an unlinked file still open at the kill is reclaimed at the next mount.
test_description='durability of fsync across kill -9 of the daemon'
. "$SLATEFS_SOURCE_DIR/tests/lib/mount-lib.sh"

DURABLE=$HELPERS/durable
ROUNDS=$((50 * SCALE))
STATE=$ML_TMP/state
mkdir "$STATE"

fs_mkfs || exit 1

# crash: kill -9 the daemon (on the native target, which has none, the
# writer itself), then stop the writer and tear the dead mount down.
crash() {
	touch "$STATE/killed"
	if test_have_prereq SLATEFS; then
		fs_kill9 || return 1
		kill -9 "$1" 2>/dev/null
		wait "$1" 2>/dev/null
	else
		kill -9 "$1" 2>/dev/null
		wait "$1" 2>/dev/null
		fs_umount_at "$MNT" || return 1
	fi
	while kill -0 "$1" 2>/dev/null; do sleep 0.05; done
}

test_expect_success "$ROUNDS rounds: durable writes, kill -9, remount, verify, fsck" '
	round=0 &&
	while [ "$round" -lt "$ROUNDS" ]; do
		fs_mount -o allow_other || { echo "round $round: mount failed"; exit 1; }
		rm -f "$STATE/killed" "$STATE/writer.err"
		ml_bg "$HELPERS/durable" write "$MNT" "$STATE"
		writer=$ml_bg_pid
		ms=$(( $(ml_random 950) + 50 ))
		sleep "$(printf "%d.%03d" $((ms / 1000)) $((ms % 1000)))"
		crash "$writer" || { echo "round $round: crash step failed"; exit 1; }
		fs_fsck || { echo "round $round: fsck of the crashed image failed"; exit 1; }
		fs_mount || { echo "round $round: remount after kill -9 failed"; exit 1; }
		"$DURABLE" verify "$MNT" "$STATE" >verify.out ||
			{ cat verify.out; echo "round $round (killed after $ms ms) failed"; exit 1; }
		fs_umount || { echo "round $round: unmount failed"; exit 1; }
		fs_fsck || { echo "round $round: fsck failed"; exit 1; }
		round=$((round + 1))
	done &&
	cat verify.out &&
	echo "$ROUNDS rounds passed"
'

test_expect_success 'a last clean mount sees the same files' '
	fs_mount &&
	"$DURABLE" verify "$MNT" "$STATE" &&
	fs_umount &&
	fs_fsck
'

test_expect_success SLATEFS 'without fsync, data is durable within commit= seconds' '
	head -c 300000 /dev/urandom >nosync.data &&
	fs_mount -o commit=1 &&
	mkdir "$MNT/nosync" &&
	cp nosync.data "$MNT/nosync/f" &&
	echo small >"$MNT/nosync/s" &&
	ln "$MNT/nosync/s" "$MNT/nosync/s2" &&
	sleep 3 &&
	fs_kill9 &&
	fs_fsck &&
	fs_mount &&
	cmp nosync.data "$MNT/nosync/f" &&
	test "$(cat "$MNT/nosync/s2")" = small &&
	test "$(stat -c %h "$MNT/nosync/s")" = 2 &&
	fs_umount
'

test_expect_success SLATEFS 'an unlinked file still open at kill -9 is reclaimed at the next mount' '
	fs_mount &&
	head -c 3000000 /dev/urandom >"$MNT/orphan" &&
	sync "$MNT/orphan" &&
	exec 3<"$MNT/orphan" &&
	rm "$MNT/orphan" &&
	sync "$MNT" &&
	head -c 100 <&3 >/dev/null &&
	fs_kill9 &&
	exec 3<&- &&
	"$FSCK" -n "$IMG" >fsck.crashed 2>&1 &&
	cat fsck.crashed &&
	grep -E "(^|[^0-9])[1-9][0-9]* orphan" fsck.crashed &&
	fs_mount &&
	test ! -e "$MNT/orphan" &&
	fs_umount &&
	fs_fsck &&
	cat "$ML_TMP/fsck.log" &&
	! grep -E "(^|[^0-9])[1-9][0-9]* orphan" "$ML_TMP/fsck.log"
'

test_done
