#!/bin/bash
# tests/compaction/t-load.sh — compaction online, under load. Three fsx
# verifiers (tests/fs/fsx: two buffered, one O_DIRECT; random reads,
# writes, truncates, fallocates, mmap, copies, each checked byte for byte
# against a model) and a writer that creates files of known content and
# checks each one (O_DIRECT) before deleting it, run while compaction passes
# run back to back: first `slatectl compact --wait --rate unlimited` in a
# loop, then the background scheduler alone (autocompact on, a low
# threshold). No fsx or writer error, every byte verified, passes complete,
# the image shrinks overall (after the load, the bound of the seed scenario
# holds), the scheduler leaves the settled image alone, fsck clean.
test_description='compaction passes while fsx and a writer work on the mount'
. "$SLATEFS_SOURCE_DIR/tests/lib/mount-lib.sh"
. "$SLATEFS_SOURCE_DIR/tests/compaction/compact-lib.sh"

OPS=$((15000 * SCALE))
FSX_LEN=4194304
STOP=$ML_TMP/stop

fs_mkfs || exit 1

# writer DIR SEED0: create files of 4 KiB .. 4 MiB (sizes in whole pages, for
# the O_DIRECT check), up to 24 at a time, then check 16 of them and delete
# them (free runs appear all over the image); at $STOP, check what is left.
# Every file that was written was read back in full before it went.
writer() {
	local dir=$1 seed0=$2 n=0 files=0 bytes=0 size i
	local -a live=() sizes=()
	mkdir -p "$dir" || return 1
	while [ ! -e "$STOP" ]; do
		n=$((n + 1))
		size=$(( ($(ml_random 1024) + 1) * 4096 ))
		"$PATTERN" write -n "$dir/w$n" "$size" $((seed0 + n)) || return 1
		live+=("$n")
		sizes+=("$size")
		files=$((files + 1))
		bytes=$((bytes + size))
		if [ "${#live[@]}" -ge 24 ]; then
			for i in $(seq 0 15); do
				"$PATTERN" check -d "$dir/w${live[$i]}" "${sizes[$i]}" \
					$((seed0 + live[i])) || return 1
				rm "$dir/w${live[$i]}" || return 1
			done
			live=("${live[@]:16}")
			sizes=("${sizes[@]:16}")
		fi
	done
	for i in "${!live[@]}"; do
		"$PATTERN" check -d "$dir/w${live[$i]}" "${sizes[$i]}" \
			$((seed0 + live[i])) || return 1
	done
	echo "writer: $files files, $bytes bytes written and verified"
}

# start_load TAG: three fsx and the writer in the background; pids in $ML_TMP/TAG.pids
start_load() {
	rm -f "$STOP" "$ML_TMP/$1.pids"
	for k in 1 2 3; do
		mode=
		[ "$k" = 3 ] && mode=-d
		ml_bg "$FSX" $mode -N "$OPS" -l "$FSX_LEN" -s "$ML_TMP/$1.fsx$k.model" \
			"$MNT/$1.fsx$k" >"$ML_TMP/$1.fsx$k.out" 2>&1
		echo "$ml_bg_pid fsx$k" >>"$ML_TMP/$1.pids"
	done
	ml_bg writer "$MNT/$1.w" $((${#1} * 1000000)) >"$ML_TMP/$1.writer.out" 2>&1
	echo "$ml_bg_pid writer" >>"$ML_TMP/$1.pids"
}

# wait_load TAG: wait for the fsx runs, then stop the writer; all must exit 0
wait_load() {
	local rc=0 pid what
	while read -r pid what; do
		[ "$what" = writer ] && touch "$STOP"
		if ! wait "$pid"; then
			echo "$what failed:"
			rc=1
		fi
		tail -n 3 "$ML_TMP/$1.$what.out"
	done <"$ML_TMP/$1.pids"
	return $rc
}

# Bytes the files of the mount hold (apparent sizes): the live data.
live_bytes() {
	find "$MNT" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }'
}

test_expect_success 'mount with autocompact off' '
	fs_mount -o autocompact=off
'

test_expect_success "passes back to back (compact --wait --rate unlimited) under fsx × 3 + writer (at least 25 s)" '
	start_load a &&
	passes=0 && peak=0 &&
	t0=$(cx_now) && start=$(date +%s) &&
	while kill -0 $(awk "\$2 != \"writer\" { print \$1 }" a.pids) 2>/dev/null ||
		[ $(( $(date +%s) - start )) -lt $((25 * SCALE)) ]; do
		size=$(cx_image_size)
		[ "$size" -gt "$peak" ] && peak=$size
		"$CTL" compact --wait --rate unlimited "$MNT" >last.status ||
			{ cat last.status; echo "compact --wait failed"; exit 1; }
		passes=$((passes + 1))
	done &&
	secs=$(cx_secs "$t0") &&
	wait_load a &&
	cat last.status &&
	test "$(cx_status failures)" = 0 &&
	test "$(cx_status passes)" = "$passes" &&
	echo "$passes passes in $secs s under load; peak image $peak bytes" &&
	echo "$peak" >peak.a &&
	test "$passes" -ge 2
'

test_expect_success 'the fsx files equal their models; after the load the image shrinks to the bound' '
	for k in 1 2 3; do cmp "$ML_TMP/a.fsx$k.model" "$MNT/a.fsx$k" || exit 1; done &&
	"$CTL" compact --wait --rate unlimited "$MNT" >/dev/null &&
	echo "peak image under load $(cat peak.a) bytes, now $(cx_image_size)" &&
	test "$(cx_image_size)" -lt "$(cat peak.a)" &&
	cx_check_bound "$(live_bytes)"
'

test_expect_success 'unmount, fsck clean, the files survive a remount' '
	fs_umount &&
	fs_fsck &&
	fs_mount -o autocompact=off &&
	for k in 1 2 3; do cmp "$ML_TMP/a.fsx$k.model" "$MNT/a.fsx$k" || exit 1; done &&
	fs_umount
'

test_expect_success 'mount with autocompact on, compact_threshold=10' '
	fs_mount -o autocompact=on,compact_threshold=10
'

test_expect_success "the scheduler runs passes by itself under fsx × 3 + writer (at least 25 s)" '
	start_load b &&
	peak=0 &&
	t0=$(cx_now) && start=$(date +%s) &&
	while kill -0 $(awk "\$2 != \"writer\" { print \$1 }" b.pids) 2>/dev/null ||
		[ $(( $(date +%s) - start )) -lt $((25 * SCALE)) ]; do
		size=$(cx_image_size)
		[ "$size" -gt "$peak" ] && peak=$size
		sleep 0.5
	done &&
	secs=$(cx_secs "$t0") &&
	wait_load b &&
	"$CTL" status "$MNT" &&
	passes=$(cx_status passes) &&
	echo "$passes automatic passes in $secs s; peak image $peak bytes" &&
	echo "$peak" >peak.b &&
	test "$(cx_status failures)" = 0 &&
	test "$passes" -ge 1
'

test_expect_success 'the files equal their models; the image shrinks to the bound' '
	for k in 1 2 3; do
		cmp "$ML_TMP/a.fsx$k.model" "$MNT/a.fsx$k" &&
		cmp "$ML_TMP/b.fsx$k.model" "$MNT/b.fsx$k" || exit 1
	done &&
	cx_wait_status state idle 120 &&
	"$CTL" compact --wait --rate unlimited "$MNT" >/dev/null &&
	echo "peak image under load $(cat peak.b) bytes, now $(cx_image_size)" &&
	test "$(cx_image_size)" -lt "$(cat peak.b)" &&
	cx_check_bound "$(live_bytes)"
'

test_expect_success 'a settled image is not compacted again (12 s idle, two scheduler checks)' '
	passes=$(cx_status passes) &&
	sleep 12 &&
	test "$(cx_status passes)" = "$passes" &&
	test "$(cx_status state)" = idle
'

test_expect_success 'unmount, fsck clean' '
	fs_umount &&
	fs_fsck
'

cx_done
