#!/bin/bash
# tests/compaction/t-maxsize.sh — max_size reached during a pass. Mount with
# max_size a little above the image's size, fill the filesystem until
# ENOSPC, delete every other file, start a slow pass, pause it in the middle
# of its move phase, write until ENOSPC, resume it; then again without the
# pause, writing for as long as the pass runs (ENOSPC must come while it
# runs). Each pass must end completed (no failure), the image must never
# pass max_size, every file whose write and fsync succeeded must hold its
# exact bytes, the only error any writer sees must be ENOSPC, fsck must be
# clean, and the filesystem must still work.
test_description='max_size reached while a compaction pass runs'
. "$SLATEFS_SOURCE_DIR/tests/lib/mount-lib.sh"
. "$SLATEFS_SOURCE_DIR/tests/compaction/compact-lib.sh"

ROOM=$((24 * MIB * SCALE))
FSIZE=$MIB
DONE=$ML_TMP/done.list # numbers of the files written in full (fsync'ed)
STOP=$ML_TMP/stop

fs_mkfs || exit 1

# fill FIRST LAST: write files FIRST.. until ENOSPC (or LAST); the error must
# be ENOSPC; the file that hit it is removed. Prints how many were written.
fill() {
	fl_n=$1
	while [ "$fl_n" -le "$2" ]; do
		if ! "$PATTERN" write "$MNT/f$fl_n" "$FSIZE" "$fl_n" 2>write.err; then
			cat write.err
			grep -q "^ENOSPC:" write.err || { echo "f$fl_n: not ENOSPC"; return 1; }
			rm -f "$MNT/f$fl_n" || { echo "cannot remove f$fl_n on a full fs"; return 1; }
			echo "$(( fl_n - $1 )) files written, then ENOSPC"
			return 0
		fi
		echo "$fl_n" >>"$DONE"
		fl_n=$((fl_n + 1))
	done
	echo "f$2 written and still no ENOSPC"
	return 1
}

# fill_while PID: write files while process PID (a pass) runs, each one
# either written in full or refused with ENOSPC; at least one must be refused
# while the pass still runs.
fill_while() {
	fw_n=$(next_file) fw_ok=0 fw_full=0
	while kill -0 "$1" 2>/dev/null; do
		if "$PATTERN" write "$MNT/f$fw_n" "$FSIZE" "$fw_n" 2>write.err; then
			echo "$fw_n" >>"$DONE"
			fw_ok=$((fw_ok + 1))
		else
			grep -q "^ENOSPC:" write.err || { cat write.err; echo "f$fw_n: not ENOSPC"; return 1; }
			rm -f "$MNT/f$fw_n" || { echo "cannot remove f$fw_n on a full fs"; return 1; }
			kill -0 "$1" 2>/dev/null && fw_full=$((fw_full + 1))
			sleep 0.05
		fi
		fw_n=$((fw_n + 1))
	done
	echo "while the pass ran: $fw_ok files written, $fw_full refused with ENOSPC"
	[ "$fw_full" -gt 0 ]
}

# Delete every other file written after the first 8 (holes all over); durable.
punch_holes() {
	for ph_n in $(cat "$DONE"); do
		if [ "$ph_n" -gt 8 ] && [ $((ph_n % 2)) = 1 ]; then
			rm "$MNT/f$ph_n" || return 1
		fi
	done
	awk '$1 <= 8 || $1 % 2 == 0' "$DONE" >"$DONE.new" && mv "$DONE.new" "$DONE" &&
	"$CTL" sync "$MNT"
}

next_file() {
	echo $(( $(sort -n "$DONE" | tail -n 1) + 1 ))
}

check_done() {
	while read -r cd_n; do
		"$PATTERN" check -d "$MNT/f$cd_n" "$FSIZE" "$cd_n" || return 1
	done <"$DONE"
}

# Sample the image size every 20 ms; record any size above max_size.
watch_size() {
	while [ ! -e "$STOP" ]; do
		ws=$(cx_image_size)
		[ "$ws" -gt "$MAX" ] && echo "$ws" >>"$ML_TMP/over"
		sleep 0.02
	done
}

test_expect_success 'an image with 8 MiB of data' '
	fs_mount -o autocompact=off &&
	: >"$DONE" &&
	for n in $(seq 1 8); do
		"$PATTERN" write "$MNT/f$n" "$FSIZE" "$n" && echo "$n" >>"$DONE" || exit 1
	done &&
	fs_umount &&
	echo "image $(cx_image_size) bytes; max_size will be $ROOM bytes more"
'

MAX=$(( $(stat -c %s "$IMG" 2>/dev/null || echo 0) + ROOM ))

test_expect_success "mount with max_size=$MAX; fill until ENOSPC" '
	fs_mount -o autocompact=off,max_size=$MAX &&
	: >"$ML_TMP/over" && rm -f "$STOP" &&
	ml_bg watch_size &&
	fill 9 $((9 + 4 * ROOM / FSIZE)) &&
	echo "image $(cx_image_size) of $MAX bytes" &&
	test "$(cx_image_size)" -le "$MAX"
'

test_expect_success 'delete every other file; a slow pass paused mid-move; write until ENOSPC; resume' '
	punch_holes &&
	ml_bg "$CTL" compact --wait --rate 1 "$MNT" >pass.out 2>&1 &&
	pass=$ml_bg_pid &&
	cx_wait_status phase moving 10 &&
	"$CTL" pause "$MNT" &&
	cx_wait_status state paused 10 &&
	fill "$(next_file)" $(( $(next_file) + 8 * ROOM / FSIZE )) &&
	test "$(cx_status state)" = paused &&
	"$CTL" resume "$MNT" &&
	wait "$pass" &&
	cat pass.out &&
	cx_passes_ok 1
'

test_expect_success 'again, not paused: writes go on until the pass ends, meeting ENOSPC while it runs' '
	punch_holes &&
	ml_bg "$CTL" compact --wait --rate 1 "$MNT" >pass.out 2>&1 &&
	pass=$ml_bg_pid &&
	cx_wait_status phase moving 10 &&
	fill_while "$pass" &&
	wait "$pass" &&
	cat pass.out &&
	cx_passes_ok 2
'

test_expect_success 'the image never passed max_size; every file written in full is intact' '
	touch "$STOP" &&
	sleep 0.1 &&
	if [ -s "$ML_TMP/over" ]; then
		echo "image sizes over max_size ($MAX) seen: $(sort -n "$ML_TMP/over" | tail -n 1)"
		exit 1
	fi &&
	check_done &&
	echo "$(wc -l <"$DONE") files verified" &&
	! grep -i "input/output error" "$ML_DLOG"
'

test_expect_success 'the full filesystem still works: delete, write, compact' '
	for n in $(head -n 4 "$DONE"); do rm "$MNT/f$n" || exit 1; done &&
	sed -i 1,4d "$DONE" &&
	"$PATTERN" write "$MNT/after" "$FSIZE" 4242 &&
	"$PATTERN" check -d "$MNT/after" "$FSIZE" 4242 &&
	"$CTL" compact --wait --rate unlimited "$MNT" >/dev/null &&
	test "$(cx_status last_error)" = 0 &&
	test "$(cx_image_size)" -le "$MAX"
'

test_expect_success 'unmount, fsck clean; the files survive a remount without max_size' '
	fs_umount &&
	fs_fsck &&
	fs_mount -o autocompact=off &&
	check_done &&
	"$PATTERN" check -d "$MNT/after" "$FSIZE" 4242 &&
	fs_umount &&
	fs_fsck
'

cx_done
