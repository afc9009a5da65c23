#!/bin/bash
# tests/compaction/t-reader.sh — readers held across a pass. A user cannot
# hold a store snapshot through a mount except by a read in progress, so
# four O_DIRECT readers read a big file again and again (one with a single
# 64 MiB read() per pass, which the kernel splits into many requests in
# flight, others in 1 MiB and 128 KiB blocks, one pausing between blocks)
# and check every block against the file's pattern, while a pass moves that
# very file down the image (a filler below it was deleted). The pass must
# complete, every byte read must be right, the image must shrink, and once
# the readers stop, the next pass must bring it within the seed bound.
test_description='O_DIRECT readers of a file that a compaction pass moves'
. "$SLATEFS_SOURCE_DIR/tests/lib/mount-lib.sh"
. "$SLATEFS_SOURCE_DIR/tests/compaction/compact-lib.sh"

BIG=$((64 * MIB * SCALE))
SMALL=$((16 * MIB))
STOP=$ML_TMP/stop

fs_mkfs || exit 1

test_expect_success 'a filler, then the big file above it, then a small one; delete the filler' '
	fs_mount -o autocompact=off &&
	"$PATTERN" write "$MNT/filler" "$BIG" 1 &&
	"$PATTERN" write "$MNT/big" "$BIG" 2 &&
	"$PATTERN" write "$MNT/small" "$SMALL" 3 &&
	rm "$MNT/filler" &&
	"$CTL" sync "$MNT" &&
	echo "image $(cx_image_size) bytes with $((BIG + SMALL)) bytes of live data"
'

test_expect_success 'a pass completes while four readers check the moving file' '
	rm -f "$STOP" &&
	ml_bg "$PATTERN" loop -d -b 67108864 "$STOP" "$MNT/big" "$BIG" 2 >r1.out 2>&1 &&
	r1=$ml_bg_pid &&
	ml_bg "$PATTERN" loop -d -b 1048576 "$STOP" "$MNT/big" "$BIG" 2 >r2.out 2>&1 &&
	r2=$ml_bg_pid &&
	ml_bg "$PATTERN" loop -d -b 131072 -p 2 "$STOP" "$MNT/big" "$BIG" 2 >r3.out 2>&1 &&
	r3=$ml_bg_pid &&
	ml_bg "$PATTERN" loop -d -b 1048576 "$STOP" "$MNT/small" "$SMALL" 3 >r4.out 2>&1 &&
	r4=$ml_bg_pid &&
	sleep 0.5 &&
	before=$(cx_image_size) &&
	t0=$(cx_now) &&
	ml_bg "$CTL" compact --wait --rate 32 "$MNT" >pass.out 2>&1 &&
	pass=$ml_bg_pid &&
	max_readers=0 &&
	while kill -0 "$pass" 2>/dev/null; do
		r=$(cx_stat readers)
		[ -n "$r" ] && [ "$r" -gt "$max_readers" ] && max_readers=$r
		sleep 0.05
	done &&
	wait "$pass" &&
	secs=$(cx_secs "$t0") &&
	cat pass.out &&
	touch "$STOP" &&
	ok=1 &&
	for p in $r1 $r2 $r3 $r4; do wait "$p" || ok=0; done &&
	for f in r1 r2 r3 r4; do echo "reader $f: $(cat $f.out)"; done &&
	test "$ok" = 1 &&
	after=$(cx_image_size) &&
	echo "pass: $secs s, image $before -> $after bytes, up to $max_readers open snapshots seen" &&
	cx_passes_ok 1 &&
	test "$(cx_status bytes_moved)" -ge $((BIG / 2)) &&
	test "$after" -lt "$before" &&
	{ cx_check_bound $((BIG + SMALL)) || echo "(with the readers: not yet within the bound)"; }
'

test_expect_success 'after the readers: the next pass reaches the bound; data intact' '
	"$CTL" compact --wait --rate unlimited "$MNT" >/dev/null &&
	cx_check_bound $((BIG + SMALL)) &&
	"$PATTERN" check -d "$MNT/big" "$BIG" 2 &&
	"$PATTERN" check -d "$MNT/small" "$SMALL" 3
'

test_expect_success 'unmount, fsck clean' '
	fs_umount &&
	fs_fsck
'

cx_done
