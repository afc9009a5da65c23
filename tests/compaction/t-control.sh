#!/bin/bash
# tests/compaction/t-control.sh — the control interface (fs/slatefs_ioctl.h)
# and slatectl: --json output parses and agrees with the image file; a path
# off any slatefs mount gets a clear error and exit 1; an unprivileged user
# may read (stats, status) but not change anything (EPERM) on a root mount
# with allow_other, while the user who mounted may; our magic with a wrong
# size or direction is EINVAL, an unknown command ENOTTY; SYNC makes what
# was written durable (kill -9 right after loses nothing); defrag lays a
# fragmented file out in one run.
test_description='control ioctls and slatectl'
. "$SLATEFS_SOURCE_DIR/tests/lib/mount-lib.sh"
. "$SLATEFS_SOURCE_DIR/tests/compaction/compact-lib.sh"

fs_mkfs || exit 1
# USERFUSE: an unprivileged user with a name (fusermount3 wants one; the
# test users are bare ids) may open /dev/fuse and so mount: nobody, whose
# mount fusermount3 makes with nobody's rights. Debian makes /dev/fuse 0666;
# some containers leave it 0600: in CI (root, CI=true) it is opened up for
# this test and its mode put back at the end.
MOUNT_UID=$(id -u nobody 2>/dev/null) && MOUNT_GID=$(id -g nobody 2>/dev/null)
as_mounter() {
	setpriv --reuid="$MOUNT_UID" --regid="$MOUNT_GID" --clear-groups -- "$@"
}
user_fuse() {
	[ -n "$MOUNT_UID" ] && as_mounter test -r /dev/fuse -a -w /dev/fuse
}
if [ -n "$MOUNT_UID" ] && ! user_fuse && [ "$(id -u)" = 0 ] && [ "${CI:-}" = true ] &&
	[ -c /dev/fuse ]; then
	fuse_mode=$(stat -c %a /dev/fuse) &&
		chmod 0666 /dev/fuse && ML_AT_EXIT="chmod $fuse_mode /dev/fuse" &&
		say "# /dev/fuse was $fuse_mode: 0666 for this test (CI=true)"
fi
user_fuse && test_set_prereq USERFUSE

# json FILE: python3 must parse it
json() {
	python3 -m json.tool "$1" >/dev/null || { cat "$1"; echo "not JSON"; return 1; }
}

test_expect_success 'mount as root with allow_other; some files' '
	fs_mount -o autocompact=off,allow_other,commit=60 &&
	for i in 1 2 3 4; do "$PATTERN" write "$MNT/f$i" $((3 * MIB)) "$i" || exit 1; done &&
	rm "$MNT/f2" &&
	mkdir "$MNT/dir"
'

test_expect_success 'stats and status --json parse, and agree with the image file' '
	"$CTL" --json stats "$MNT" >stats.json && json stats.json &&
	"$CTL" --json status "$MNT" >status.json && json status.json &&
	cat stats.json status.json &&
	test "$(cx_json image_size <stats.json)" = "$(cx_image_size)" &&
	test "$(cx_json disk_bytes <stats.json)" = "$(cx_disk_bytes)" &&
	test "$(cx_json state <status.json)" = idle &&
	test "$(cx_json autocompact <status.json)" = false &&
	for k in used_bytes free_bytes tree_bytes blob_count files chunks txnid; do
		test -n "$(cx_json $k <stats.json)" || { echo "no $k"; exit 1; }
	done &&
	"$CTL" --json stats "$MNT/f1" >stats2.json && json stats2.json &&
	"$CTL" stats "$MNT" && "$CTL" status "$MNT"
'

test_expect_success 'compact --json and sync --json parse too' '
	"$CTL" --json compact --wait --rate unlimited "$MNT" >c.json && json c.json &&
	test "$(cx_json passes <c.json)" = 1 &&
	"$CTL" --json sync "$MNT" >s.json && json s.json
'

test_expect_success 'off a slatefs mount: a clear error and exit 1' '
	mkdir plain
	for p in plain /proc "$ML_TMP/nonexistent"; do
		for c in stats status compact sync; do
			rc=0; "$CTL" $c "$p" 2>err || rc=$?
			test "$rc" = 1 || { cat err; echo "$c $p: exit $rc"; exit 1; }
			if [ "$p" = "$ML_TMP/nonexistent" ]; then
				grep -qi "no such file" err || { cat err; exit 1; }
			else
				grep -q "not on a slatefs mount" err || { cat err; exit 1; }
			fi
		done
	done
	cat err
'

test_expect_success 'on another FUSE filesystem (bindfs): a clear error and exit 1' '
	mkdir -p bsrc bmnt &&
	ml_bg bindfs -f bsrc bmnt &&
	ml_record_mount "$ml_bg_pid" "$ML_TMP/bmnt" &&
	ml_wait_mounted "$ML_TMP/bmnt" "$ml_bg_pid" &&
	for c in stats status sync pause; do
		rc=0; "$CTL" $c bmnt 2>err || rc=$?
		cat err
		test "$rc" = 1 && grep -q "not on a slatefs mount" err || { echo "$c: exit $rc"; exit 1; }
	done &&
	fusermount3 -u bmnt
'

test_expect_success 'bad usage: exit 2' '
	for args in "frobnicate $MNT" "compact --rate fast $MNT" "compact --mode some $MNT" \
		"compact --target big $MNT" "--nosuchoption stats $MNT" ""; do
		rc=0; "$CTL" $args 2>/dev/null || rc=$?
		test "$rc" = 2 || { echo "slatectl $args: exit $rc"; exit 1; }
	done
'

test_expect_success 'an unprivileged user reads stats and status' '
	as_user "$CTL" --json stats "$MNT" >u.json && json u.json &&
	as_user "$CTL" --json status "$MNT" >u.json && json u.json &&
	test "$(as_user "$RAWIOCTL" "$MNT" cmd GET_STATS)" = ok &&
	test "$(as_user "$RAWIOCTL" "$MNT" cmd COMPACT_STATUS)" = ok
'

test_expect_success 'an unprivileged user may change nothing: EPERM' '
	for c in "compact" "compact --wait" pause resume cancel sync; do
		rc=0; as_user "$CTL" $c "$MNT" 2>err || rc=$?
		test "$rc" = 1 && grep -q "only root or the user who mounted" err ||
			{ cat err; echo "$c: exit $rc"; exit 1; }
	done
	rc=0; as_user "$CTL" defrag "$MNT/f1" 2>err || rc=$?
	test "$rc" = 1
	grep -q "only root or the user who mounted" err
	for c in COMPACT COMPACT_PAUSE COMPACT_RESUME COMPACT_CANCEL SYNC; do
		r=$(as_user "$RAWIOCTL" "$MNT" cmd $c) &&
		test "$r" = EPERM || { echo "$c: $r"; exit 1; }
	done &&
	r=$(as_user "$RAWIOCTL" "$MNT/f1" cmd DEFRAG) && test "$r" = EPERM &&
	! as_user fstrim "$MNT" 2>err && cat err &&
	test "$(cx_status passes)" = 1 && test "$(cx_status state)" = idle
'

test_expect_success 'our magic with a wrong size or direction: EINVAL' '
	for c in GET_STATS COMPACT COMPACT_STATUS DEFRAG; do
		for d in -8 8 -1; do
			r=$("$RAWIOCTL" "$MNT" cmd $c $d) &&
			test "$r" = EINVAL || { echo "$c size $d: $r"; exit 1; }
		done
	done &&
	for c in COMPACT_PAUSE COMPACT_RESUME COMPACT_CANCEL SYNC; do
		r=$("$RAWIOCTL" "$MNT" cmd $c 8) &&
		test "$r" = EINVAL || { echo "$c with a size: $r"; exit 1; }
	done &&
	r=$("$RAWIOCTL" "$MNT" raw w 0xD5 1 256) && test "$r" = EINVAL &&
	r=$("$RAWIOCTL" "$MNT" raw r 0xD5 2 64) && test "$r" = EINVAL &&
	test "$("$RAWIOCTL" "$MNT" cmd GET_STATS)" = ok &&
	test "$("$RAWIOCTL" "$MNT/f1" cmd COMPACT_STATUS)" = ok
'

test_expect_success 'unknown commands: ENOTTY' '
	for spec in "none 0xD5 0 0" "none 0xD5 99 0" "r 0xD5 200 16" "rw 0xD5 255 8" \
		"none 0xD6 1 0" "r 0x12 1 8" "none 0 0 0"; do
		r=$("$RAWIOCTL" "$MNT" raw $spec) &&
		test "$r" = ENOTTY || { echo "$spec: $r"; exit 1; }
	done
'

test_expect_success 'sync: what was written is durable at once (kill -9 right after)' '
	head -c 300000 /dev/urandom >synced &&
	cp synced "$MNT/synced" &&
	"$CTL" sync "$MNT" &&
	"$CTL" --json stats "$MNT" >st.json &&
	test "$(cx_json txnid <st.json)" = "$(cx_json durable_txnid <st.json)" &&
	fs_kill9 &&
	fs_fsck &&
	fs_mount -o autocompact=off,allow_other,commit=60 &&
	cmp synced "$MNT/synced"
'

test_expect_success 'defrag lays a file written in interleaved pieces out in one run' '
	head -c $((1024 * 1024)) /dev/urandom >A && head -c $((1024 * 1024)) /dev/urandom >B &&
	"$PATTERN" write "$MNT/C" $((4 * MIB)) 9 &&
	for k in $(seq 0 15); do
		dd if=A of="$MNT/A" bs=64k skip=$k seek=$k count=1 conv=notrunc,fsync status=none &&
		dd if=B of="$MNT/B" bs=64k skip=$k seek=$k count=1 conv=notrunc,fsync status=none ||
			exit 1
	done &&
	rm "$MNT/B" "$MNT/C" &&
	"$CTL" sync "$MNT" &&
	"$CTL" --json defrag "$MNT/A" >d.json &&
	cat d.json && json d.json &&
	test "$(cx_json chunks <d.json)" = 16 &&
	test "$(cx_json runs_before <d.json)" -gt 1 &&
	test "$(cx_json runs_after <d.json)" = 1 &&
	cmp A "$MNT/A"
	rc=0; "$CTL" defrag "$MNT/dir" 2>err || rc=$?
	cat err
	test "$rc" = 1
'

# holes MODE: 64 files of 1 MiB in $MNT/MODE, 3 of 4 deleted; durable
holes() {
	mkdir "$MNT/$1" || return 1
	for ho_i in $(seq 1 64); do "$PATTERN" write -n "$MNT/$1/f$ho_i" "$MIB" "$ho_i" || return 1; done
	"$CTL" sync "$MNT" || return 1
	for ho_i in $(seq 1 64); do [ $((ho_i % 4)) = 0 ] || rm "$MNT/$1/f$ho_i" || return 1; done
	"$CTL" sync "$MNT"
}

check_holes() {
	for ch_i in $(seq 4 4 64); do "$PATTERN" check -d "$MNT/$1/f$ch_i" "$MIB" "$ch_i" || return 1; done
}

live_bytes() {
	find "$MNT" -type f -printf "%s\n" | awk "{ s += \$1 } END { print s + 0 }"
}

test_expect_success 'compact --mode pages, then --mode blobs (which reaches the bound)' '
	holes m &&
	before=$(cx_image_size) &&
	"$CTL" --json compact --wait --mode pages "$MNT" >p.json &&
	echo "pages: image $before -> $(cx_image_size), moved $(cx_json bytes_moved <p.json)" &&
	test "$(cx_json mode <p.json)" = pages &&
	test "$(cx_json last_error <p.json)" = 0 &&
	check_holes m &&
	"$CTL" --json compact --wait --mode blobs "$MNT" >b.json &&
	echo "blobs: image $(cx_image_size), moved $(cx_json bytes_moved <b.json)" &&
	test "$(cx_json mode <b.json)" = blobs &&
	test "$(cx_json last_error <b.json)" = 0 &&
	check_holes m &&
	cx_check_bound "$(live_bytes)"
'

test_expect_success 'compact --target SIZE stops at that size; a full pass then goes further' '
	holes t &&
	before=$(cx_image_size) &&
	target=$(( (before + $(live_bytes)) / 2 )) &&
	"$CTL" compact --wait --target "$target" "$MNT" >/dev/null &&
	at_target=$(cx_image_size) &&
	"$CTL" compact --wait "$MNT" >/dev/null &&
	full=$(cx_image_size) &&
	echo "image $before, target $target: $at_target; then a full pass: $full" &&
	test "$at_target" -le "$target" &&
	test "$full" -lt "$at_target" &&
	check_holes t &&
	cx_check_bound "$(live_bytes)"
'

test_expect_success 'defrag after mass deletes (a fresh image): every kept file ends in one run' '
	fs_umount &&
	fs_mkfs &&
	fs_mount -o autocompact=off &&
	mkdir "$MNT/many" &&
	for i in $(seq 1 100); do "$PATTERN" write -n "$MNT/many/f$i" "$MIB" "$i" || exit 1; done &&
	"$CTL" sync "$MNT" &&
	for i in $(seq 1 100); do [ $((i % 10)) = 0 ] || rm "$MNT/many/f$i" || exit 1; done &&
	"$CTL" sync "$MNT" &&
	echo "$(cx_stat fragmented_files) files not in one run" &&
	rc=0 &&
	"$CTL" --json defrag $(seq -f "$MNT/many/f%g" 10 10 100) >dm.json 2>dm.err || rc=$?
	cat dm.err
	tr "{" "\n" <dm.json | grep chunks
	test "$rc" = 0
	test "$(grep -o "\"runs_after\":[0-9]*" dm.json | grep -c ":1\$")" = 10
	test "$(cx_stat fragmented_files)" = 0
	for i in $(seq 10 10 100); do "$PATTERN" check -d "$MNT/many/f$i" "$MIB" "$i" || exit 1; done
'

test_expect_success 'unmount' '
	fs_umount
'

test_expect_success USERFUSE 'the user who mounted may change things (a mount by an unprivileged user)' '

	mkdir umnt && chown "$MOUNT_UID:$MOUNT_GID" umnt "$IMG" &&
	ml_bg as_mounter "$SLATEFS" "$IMG" "$ML_TMP/umnt" -f -o autocompact=off >>"$ML_DLOG" 2>&1 &&
	ml_record_mount "$ml_bg_pid" "$ML_TMP/umnt" &&
	ml_wait_mounted "$ML_TMP/umnt" "$ml_bg_pid" &&
	as_mounter "$CTL" sync umnt &&
	as_mounter "$CTL" compact --wait umnt &&
	as_mounter "$CTL" --json status umnt >us.json &&
	test "$(cx_json passes <us.json)" = 1 &&
	as_mounter fusermount3 -u umnt &&
	ml_wait_gone "$ml_bg_pid" 100 &&
	ml_forget_mount "$ML_TMP/umnt" &&
	chown 0:0 "$IMG"
'

test_expect_success 'fsck clean' '
	fs_fsck
'

cx_done
