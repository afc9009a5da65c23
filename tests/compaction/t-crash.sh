#!/bin/bash
# tests/compaction/t-crash.sh — kill -9 of the daemon in the middle of
# compaction passes. 50 × SLATEFS_TEST_SCALE rounds on one image; each round:
# write new files (fsync'ed) and delete old ones (free runs low in the
# image, data high up to move down), make it durable (slatectl sync), take a
# snapshot of that tree (names, attributes, checksums), start a pass (rate
# unlimited or limited) — every other round with tests/fs's durable writer
# making fsync'ed changes in another directory meanwhile — and kill -9 the
# daemon at a chosen moment (a random 0–300 ms after the start, or as soon
# as the pass is seen punching, moving — plus up to 50 ms — or shrinking).
# Then: fsck -n of the crashed image is clean, the remount succeeds, the tree
# equals the snapshot and every file its pattern, what the durable writer
# had fsync'ed is there, and the next pass completes, leaves the image no
# larger than before the crash (in rounds without the writer) and within the
# bound of the seed scenario. Prints where the kills landed.
test_description='kill -9 of the daemon at random points of compaction passes'
. "$SLATEFS_SOURCE_DIR/tests/lib/mount-lib.sh"
. "$SLATEFS_SOURCE_DIR/tests/compaction/compact-lib.sh"

ROUNDS=$((50 * SCALE))
PASSKILL=$SLATEFS_BUILD_DIR/tests/compaction/passkill
LIVE=$ML_TMP/live.list # "number size" of every data file on the mount
DURABLE=$HELPERS/durable
STATE=$ML_TMP/durable # the durable writer's log (tests/fs/durable.c)

fs_mkfs || exit 1

# new_file N: write $MNT/d/fN of a random size (4 KiB .. 1 MiB), fsync'ed
new_file() {
	nf_size=$(( ($(ml_random 256) + 1) * 4096 ))
	"$PATTERN" write "$MNT/d/f$1" "$nf_size" "$1" || return 1
	echo "$1 $nf_size" >>"$LIVE"
}

# Every data file holds its pattern (O_DIRECT: what the daemon serves).
check_files() {
	while read -r cf_n cf_size; do
		"$PATTERN" check -d "$MNT/d/f$cf_n" "$cf_size" "$cf_n" || return 1
	done <"$LIVE"
}

# The live data: the data files, plus what the durable writer keeps in w/.
live_bytes() {
	{ awk '{ print $2 }' "$LIVE"; find "$MNT/w" -type f -printf '%s\n'; } |
		awk '{ s += $1 } END { print s + 0 }'
}

# The part of the tree no writer changes during a pass.
snapshot() {
	fs_snapshot "$MNT/d" && fs_snapshot "$MNT/s"
}

test_expect_success 'mount; 32 files and a directory of small files' '
	fs_mount -o autocompact=off &&
	mkdir "$MNT/d" "$MNT/s" "$MNT/w" "$STATE" &&
	: >"$LIVE" &&
	for n in $(seq 1 32); do new_file "$n" || exit 1; done &&
	echo 32 >next &&
	"$CTL" sync "$MNT"
'

test_expect_success "$ROUNDS rounds: churn, pass, kill -9, fsck, remount, verify, next pass" '
	n=$(cat next) &&
	round=0 &&
	: >kills.log &&
	while [ "$round" -lt "$ROUNDS" ]; do
		# churn: k new files at the top, the k oldest go (holes low down)
		k=$(( $(ml_random 9) + 2 ))
		for j in $(seq 1 "$k"); do
			n=$((n + 1))
			new_file "$n" || { echo "round $round: write failed"; exit 1; }
		done
		head -n "$k" "$LIVE" | while read -r num size; do rm "$MNT/d/f$num" || exit 1; done ||
			{ echo "round $round: rm failed"; exit 1; }
		sed -i "1,${k}d" "$LIVE" || exit 1
		# metadata churn: 50 small files in, 45 of the last round out
		for j in $(seq 1 50); do echo "$round.$j" >"$MNT/s/r$round.$j" || exit 1; done
		if [ "$round" -gt 0 ]; then rm "$MNT"/s/r$((round - 1)).[0-4]* || exit 1; fi
		"$CTL" sync "$MNT" || { echo "round $round: sync failed"; exit 1; }
		snapshot >before.snap || exit 1
		size_before=$(cx_image_size) || exit 1

		case $((round % 3)) in
		0) rate=unlimited ;;
		1) rate=16 ;;
		2) rate=4 ;;
		esac
		case $((round % 4)) in
		0) phase=any; delay=$(ml_random 301) ;;
		1) phase=punch; delay=0 ;;
		2) phase=move; delay=$(ml_random 51) ;;
		3) phase=shrink; delay=0 ;;
		esac
		pid=$(fs_daemon_pid) && [ -n "$pid" ] || exit 1
		# every other round, fsynced changes go on during the pass
		writer=
		if [ $((round % 2)) = 1 ]; then
			rm -f "$STATE/killed" "$STATE/writer.err"
			ml_bg "$DURABLE" write "$MNT/w" "$STATE" 2>>writer.log
			writer=$ml_bg_pid
			sleep 0.1
		fi
		"$CTL" compact --rate "$rate" "$MNT" >/dev/null ||
			{ echo "round $round: compact did not start"; exit 1; }
		[ -n "$writer" ] && touch "$STATE/killed"
		what=$("$PASSKILL" "$MNT" "$pid" "$phase" "$delay" 5000) ||
			{ echo "round $round: passkill failed"; exit 1; }
		echo "round $round: rate $rate, aim $phase+${delay}ms: $what" >>kills.log
		# passkill killed it: fs_kill9 tears the dead mount down
		fs_kill9 2>kill9.err ||
			{ cat kill9.err; echo "round $round: unmount of the dead mount failed"; exit 1; }
		if [ -n "$writer" ]; then
			kill -9 "$writer" 2>/dev/null
			wait "$writer" 2>/dev/null
		fi

		fs_fsck || { tail -n 1 kills.log; echo "round $round: fsck of the crashed image failed"; exit 1; }
		fs_mount -o autocompact=off ||
			{ tail -n 1 kills.log; echo "round $round: remount failed"; exit 1; }
		snapshot >after.snap || exit 1
		if ! cmp -s before.snap after.snap; then
			tail -n 1 kills.log
			diff before.snap after.snap | head -n 20
			echo "round $round: the tree changed across the crash"
			exit 1
		fi
		check_files || { tail -n 1 kills.log; echo "round $round: data lost"; exit 1; }
		"$DURABLE" verify "$MNT/w" "$STATE" >verify.out 2>&1 ||
			{ cat verify.out; tail -n 1 kills.log; echo "round $round: fsynced writes lost"; exit 1; }
		"$CTL" compact --wait --rate unlimited "$MNT" >pass.out ||
			{ cat pass.out; echo "round $round: the next pass failed"; exit 1; }
		cx_passes_ok 1 ||
			{ cat pass.out; echo "round $round: the next pass did not complete"; exit 1; }
		size_after=$(cx_image_size) || exit 1
		# (with the durable writer during the pass, the data may have grown)
		if [ -z "$writer" ] && [ "$size_after" -gt "$size_before" ]; then
			echo "round $round: image grew from $size_before to $size_after bytes"
			exit 1
		fi
		cx_check_bound "$(live_bytes)" >bound.out ||
			{ cat bound.out; tail -n 1 kills.log; echo "round $round"; exit 1; }
		round=$((round + 1))
	done &&
	echo "$n" >next &&
	cat kills.log &&
	echo "durable writer, last round: $(cat verify.out)" &&
	echo "$ROUNDS rounds survived; where the kills landed (state, phase):" &&
	sed -n "s/.*killed: \([a-z]* [a-z]*\),.*/\1/p" kills.log | sort | uniq -c &&
	cat bound.out
'

test_expect_success 'a clean unmount; fsck clean; the files survive a last remount' '
	fs_umount &&
	fs_fsck &&
	fs_mount -o autocompact=off &&
	check_files &&
	fs_umount &&
	fs_fsck
'

cx_done
