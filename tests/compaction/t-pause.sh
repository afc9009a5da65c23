#!/bin/bash
# tests/compaction/t-pause.sh — pause, resume and cancel in the middle of a
# slow pass (--rate 1 MB/s, 32 MiB × SLATEFS_TEST_SCALE to move): paused,
# the status says so and bytes_moved stops growing; resumed, it grows again;
# cancelled, the state goes idle and passes_cancelled counts it; a pass
# cancelled while paused too. Requests that make no sense are refused (a
# second pass while one runs: EBUSY; resume when not paused), and neither
# they nor a pause let the pass go faster than its rate. Unmounting in the
# middle of a pass, running or paused, ends the daemon cleanly. Then the
# data is intact, fsck is clean, and a later pass completes and reaches the
# bound.
test_description='pause, resume and cancel of a running pass'
. "$SLATEFS_SOURCE_DIR/tests/lib/mount-lib.sh"
. "$SLATEFS_SOURCE_DIR/tests/compaction/compact-lib.sh"

MOVE=$((32 * SCALE)) # MiB of data above the hole

fs_mkfs || exit 1

# hole_and_data TAG: $MOVE MiB of files TAG.dN (pattern N) above a hole of
# $MOVE MiB (written, then deleted): a pass has that much to move down.
hole_and_data() {
	for hd_i in $(seq 1 "$MOVE"); do
		"$PATTERN" write -n "$MNT/hole$hd_i" "$MIB" 0 || return 1
	done
	for hd_i in $(seq 1 "$MOVE"); do
		"$PATTERN" write -n "$MNT/$1.d$hd_i" "$MIB" "$hd_i" || return 1
	done
	"$CTL" sync "$MNT" && rm "$MNT"/hole* && "$CTL" sync "$MNT" && echo "$1" >>tags
}

check_data() {
	for cd_t in $(cat tags); do
		for cd_i in $(seq 1 "$MOVE"); do
			"$PATTERN" check -d "$MNT/$cd_t.d$cd_i" "$MIB" "$cd_i" || return 1
		done
	done
}

cancel_pass() {
	"$CTL" cancel "$MNT" && cx_wait_status state idle 10
}

# start_slow_pass: a pass at 1 MB/s, seen moving data
start_slow_pass() {
	"$CTL" compact --rate 1 "$MNT" >/dev/null && cx_wait_status phase moving 20 || return 1
	sp_n=0
	while [ "$(cx_status bytes_moved)" = 0 ]; do
		[ "$sp_n" -ge 100 ] && { echo "nothing moved in 10 s"; return 1; }
		sleep 0.1
		sp_n=$((sp_n + 1))
	done
}

test_expect_success "a $MOVE MiB hole low in the image, $MOVE MiB of data above it" '
	fs_mount -o autocompact=off &&
	: >tags &&
	hole_and_data a
'

test_expect_success 'a pass at 1 MB/s: pause stops it, resume goes on, cancel ends it' '
	start_slow_pass &&
	! "$CTL" compact "$MNT" 2>busy.err &&
	cat busy.err && grep -q "already running" busy.err &&
	! "$CTL" resume "$MNT" &&

	"$CTL" pause "$MNT" &&
	cx_wait_status state paused 10 &&
	"$CTL" status "$MNT" &&
	m1=$(cx_status bytes_moved) &&
	sleep 2 &&
	m2=$(cx_status bytes_moved) &&
	echo "paused: bytes_moved $m1, 2 s later $m2" &&
	test "$m1" = "$m2" &&
	test "$(cx_status state)" = paused &&
	! "$CTL" pause "$MNT" &&

	"$CTL" resume "$MNT" &&
	n=0 &&
	while [ "$(cx_status bytes_moved)" -le "$m2" ]; do
		[ "$n" -ge 100 ] && { echo "resumed, but nothing moved in 10 s"; exit 1; }
		sleep 0.1; n=$((n + 1))
	done &&
	test "$(cx_status state)" = running &&
	echo "resumed: bytes_moved $(cx_status bytes_moved)" &&

	"$CTL" cancel "$MNT" &&
	cx_wait_status state idle 10 &&
	"$CTL" status "$MNT" &&
	test "$(cx_status passes_cancelled)" = 1 &&
	test "$(cx_status passes)" = 0 &&
	test "$(cx_status failures)" = 0 &&
	test "$(cx_status bytes_moved)" -lt $((MOVE * MIB)) &&
	! "$CTL" cancel "$MNT"
'

test_expect_success 'a pass cancelled while paused' '
	start_slow_pass &&
	"$CTL" pause "$MNT" &&
	cx_wait_status state paused 10 &&
	"$CTL" cancel "$MNT" &&
	cx_wait_status state idle 10 &&
	test "$(cx_status passes_cancelled)" = 2 &&
	test "$(cx_status passes)" = 0
'

test_expect_success 'the rate limit holds while refused requests arrive (resume: not paused)' '
	hole_and_data b &&
	start_slow_pass &&
	m0=$(cx_status bytes_moved) &&
	for i in $(seq 1 60); do "$CTL" resume "$MNT" 2>/dev/null; sleep 0.05; done &&
	m1=$(cx_status bytes_moved) &&
	cancel_pass &&
	echo "at 1 MB/s, $((m1 - m0)) bytes moved in the 3+ s of 60 refused resumes" &&
	test $((m1 - m0)) -le $((5 * MIB))
'

test_expect_success 'the rate limit holds after a pause (no catching up on the paused time)' '
	hole_and_data c &&
	start_slow_pass &&
	"$CTL" pause "$MNT" &&
	cx_wait_status state paused 10 &&
	sleep 6 &&
	m0=$(cx_status bytes_moved) &&
	"$CTL" resume "$MNT" &&
	sleep 1 &&
	m1=$(cx_status bytes_moved) &&
	cancel_pass &&
	echo "at 1 MB/s, $((m1 - m0)) bytes moved in the 1 s after a 6 s pause" &&
	test $((m1 - m0)) -le $((3 * MIB))
'

test_expect_success 'unmount while a pass runs, and while one is paused: the daemon exits 0, fsck clean' '
	hole_and_data d &&
	start_slow_pass &&
	t0=$(cx_now) &&
	fs_umount &&
	echo "unmounted in the middle of a pass in $(cx_secs "$t0") s" &&
	fs_fsck &&
	fs_mount -o autocompact=off &&
	check_data &&
	start_slow_pass &&
	"$CTL" pause "$MNT" &&
	cx_wait_status state paused 10 &&
	t0=$(cx_now) &&
	fs_umount &&
	echo "unmounted with a paused pass in $(cx_secs "$t0") s" &&
	fs_fsck &&
	fs_mount -o autocompact=off
'

test_expect_success 'the data is intact; unmount, fsck clean' '
	check_data &&
	fs_umount &&
	fs_fsck
'

test_expect_success 'a later pass completes and reaches the bound' '
	fs_mount -o autocompact=off &&
	"$CTL" compact --wait --rate unlimited "$MNT" &&
	cx_passes_ok 1 &&
	cx_check_bound $(( $(wc -l <tags) * MOVE * MIB )) &&
	check_data &&
	fs_umount &&
	fs_fsck
'

cx_done
