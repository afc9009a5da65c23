#!/bin/bash
# compact-bench.sh — the compaction benchmark: how fast and how well a mounted
# slatefs gives space back after deletes, what a pass costs the foreground,
# and fuse2fs (ext4 over FUSE) as the anchor for the same workload. Prints
#
#     BENCH <target> <figure> <value> <unit>
#     BENCH ratio slatefs/<peer> <figure> <x> x     (> 1: slatefs did better)
#     TARGET ...                                    (the project's goals; not asserted)
#
# Parts (sizes × BENCH_SCALE):
#   reclaim  1 GiB in 1 MiB files of incompressible data, every 10th kept (90 %
#            deleted, spread across the image); a plain `cp` of the image on the
#            same disk, then `slatectl compact --wait --rate unlimited`, each with
#            caches dropped before and a sync after: bytes moved per second and
#            bytes reclaimed (image shrink) per second against cp's bytes per
#            second; the image after the pass against the live data.
#   bulk     context for the copy rate: 2 GiB in 1 MiB files, the first half
#            deleted, so that the pass moves 1 GiB: the same figures against cp.
#   latency  fio 4 KiB random reads and writes (O_DIRECT, psync, queue depth 1)
#            on a file of the mount, idle and while a pass runs at the mount's
#            default rate on an image with enough to move to outlast fio; p99 of
#            the completion latency, during / idle. Then, as the pass goes on,
#            short windows with the pass paused and running in turn: the same
#            ratio with both sides taken in the same minutes.
#   stall    the reclaim workload again, with 4 KiB O_DIRECT random reads of a
#            kept file running across its unlimited pass: the longest wait.
#   fuse2fs  the same workload as reclaim on an ext4 image mounted with
#            fuse2fs: `fstrim MOUNTPOINT` (it fails), then the offline path —
#            unmount, e2fsck -f -y -E discard, resize2fs -M, e2fsck again —
#            its time and the image it leaves.
#
# Usage: tests/bench/compact-bench.sh [--build DIR] [--parts LIST] [--require LIST]
#   --build DIR     where to find slatefs, mkfs.slatefs, slatectl and the
#                   compaction tests' `pattern` helper (default ./build)
#   --parts LIST    comma-separated subset of reclaim,bulk,latency,stall,fuse2fs
#   --require LIST  parts that must run: skipping one of them is a failure
# Environment: BENCH_SCALE (default 1, about 3 minutes; 0.01 gives a run of
# about 15 s); BENCH_COMPACT_RATE (MiB/s: mount with compact_rate= this,
# instead of the default rate)
# scales every size; TMPDIR picks the parent of the work dir (a real disk).
# Exit status: 0 if every part that ran succeeded, 1 if any failed, 2 on bad usage.
set -u -o pipefail

BUILD=./build
PARTS=reclaim,bulk,latency,stall,fuse2fs
REQUIRE=
while [ $# -gt 0 ]; do
	case "$1" in
	--build) BUILD=${2:?--build needs a directory}; shift 2 ;;
	--build=*) BUILD=${1#--build=}; shift ;;
	--parts) PARTS=${2:?--parts needs a list}; shift 2 ;;
	--parts=*) PARTS=${1#--parts=}; shift ;;
	--require) REQUIRE=${2:?--require needs a list}; shift 2 ;;
	--require=*) REQUIRE=${1#--require=}; shift ;;
	-h|--help) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "compact-bench.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
	esac
done
for p in ${PARTS//,/ } ${REQUIRE//,/ }; do
	case "$p" in
	reclaim | bulk | latency | stall | fuse2fs) ;;
	*) echo "compact-bench.sh: unknown part $p" >&2; exit 2 ;;
	esac
done

MIB=1048576
SCALE=${BENCH_SCALE:-1}
# shared helpers: scaled, find_bin, is_mounted, wait_pid, now, since,
# drop_caches, settle
. "$(dirname "$0")/bench-lib.sh"
RECLAIM_FILES=$(scaled 1024 20) # files of 1 MiB; every 10th is kept
BULK_FILES=$(scaled 2048 40)    # files of 1 MiB; the second half is kept
LAT_MS=$(scaled 20000 1000)     # the idle and the during fio runs
WIN_MS=$(scaled 4000 500)       # each interleaved window (paused / running)
WINS=3                          # pairs of interleaved windows
LAT_FILE_MIB=$(scaled 256 16)   # the file fio reads and writes
STALL_MS=$(scaled 5000 1500)    # the stall part's fio runs
DEFAULT_RATE_MIB=64             # the daemon's default compact_rate (MB/s = MiB/s)
# BENCH_COMPACT_RATE=N: mount with compact_rate=N instead (the latency part
# at another rate than the default; the default is what the targets are about)
RATE_OPT=autocompact=off
if [ -n "${BENCH_COMPACT_RATE:-}" ]; then
	DEFAULT_RATE_MIB=$BENCH_COMPACT_RATE
	RATE_OPT+=",compact_rate=$BENCH_COMPACT_RATE"
fi
# The latency image: files of 1 MiB, the first half deleted, so that the pass
# moves the second half down: enough to run at the default rate through the
# during run and the running windows (each with half a second for fio to
# start) plus a second, with a quarter to spare.
LAT_FILES=$(awk -v ms="$LAT_MS" -v w="$WIN_MS" -v k="$WINS" -v r="$DEFAULT_RATE_MIB" \
	'BEGIN { print 2 * int(r * (ms / 1000 + k * (w / 1000 + 0.5) + 1) * 1.25 + 0.5) }')


SLATEFS=$(find_bin slatefs)
MKFS=$(find_bin mkfs.slatefs)
CTL=$(find_bin slatectl)
PATTERN=$(find_bin pattern)
if [ -z "$SLATEFS" ] || [ -z "$MKFS" ] || [ -z "$CTL" ] || [ -z "$PATTERN" ]; then
	echo "compact-bench.sh: slatefs, mkfs.slatefs, slatectl or tests/compaction/pattern" \
		"not found under $BUILD: build first (ninja -C $BUILD)" >&2
	exit 2
fi
for tool in fio cp mountpoint fusermount3; do
	command -v "$tool" >/dev/null || { echo "compact-bench.sh: $tool is needed" >&2; exit 2; }
done
if [ ! -c /dev/fuse ]; then
	echo "compact-bench.sh: /dev/fuse is missing" >&2
	exit 2
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/slatefs-compactbench.XXXXXX") && WORK=$(realpath "$WORK") || exit 1
FAILS=0
MOUNTS=()       # mount points we mounted and have not unmounted yet
declare -A DPID # mount point -> pid of the FUSE daemon we started for it
POLLER=    # pid of the status poller, while one runs



# unmount MNT: unmount one of our mounts and wait for its daemon to end.
unmount() {
	local m=$1 p rest=()
	if is_mounted "$m"; then
		fusermount3 -u "$m" 2>/dev/null || umount "$m" 2>/dev/null || umount -l "$m"
	fi
	for p in "${MOUNTS[@]}"; do [ "$p" = "$m" ] || rest+=("$p"); done
	MOUNTS=("${rest[@]}")
	if [ -n "${DPID[$m]:-}" ]; then
		wait_pid "${DPID[$m]}" 60
		unset "DPID[$m]"
	fi
}

cleanup() {
	local m
	[ -n "$POLLER" ] && kill "$POLLER" 2>/dev/null && wait "$POLLER" 2>/dev/null
	for m in "${MOUNTS[@]}"; do unmount "$m"; done
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# mount_fuse MNT LOG CMD...: run a FUSE daemon (in the foreground mode) in the
# background, wait until MNT is mounted.
mount_fuse() {
	local mnt=$1 log=$2 pid n
	shift 2
	mkdir -p "$mnt"
	"$@" >"$log" 2>&1 &
	pid=$!
	DPID[$mnt]=$pid
	for ((n = 0; n < 200; n++)); do
		if mountpoint -q "$mnt"; then
			MOUNTS+=("$mnt")
			return 0
		fi
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	echo "NOTE mounting $mnt failed: $(tail -n 3 "$log" | tr '\n' ' ')"
	MOUNTS+=("$mnt")
	unmount "$mnt"
	return 1
}

now() { date +%s.%N; }
calc() { awk "BEGIN { printf \"$1\", $2 }"; } # calc FORMAT EXPR
mib() { calc %.2f "$1 / $MIB"; }
size_of() { stat -c %s "$1"; }
disk_of() { echo $(($(stat -c %b "$1") * $(stat -c %B "$1"))); }

record() { echo "BENCH $*"; }
fail() { # PART MESSAGE...
	local p=$1
	shift
	echo "FAIL $p: $*"
	FAILS=$((FAILS + 1))
}

CAN_DROP=0
if [ -w /proc/sys/vm/drop_caches ] && (echo 3 >/proc/sys/vm/drop_caches) 2>/dev/null; then
	CAN_DROP=1
fi


# jget KEY: the value of KEY in slatectl's flat --json object on stdin.
jget() { sed -n 's/.*[{,]"'"$1"'":"\{0,1\}\([^",}]*\)"\{0,1\}[,}].*/\1/p' | head -n 1; }
status_of() { "$CTL" --json status "$1"; } # MNT
stats_of() { "$CTL" --json stats "$1"; }   # MNT

# write_files DIR FIRST LAST: DIR/fI for I in FIRST..LAST, 1 MiB each of the
# pattern of seed I (incompressible), no fsync.
write_files() {
	local i
	for ((i = $2; i <= $3; i++)); do
		"$PATTERN" write -n "$1/f$i" "$MIB" "$i" || return 1
	done
}

# check_files DIR I...: DIR/fI holds the pattern of seed I.
check_files() {
	local d=$1 i
	shift
	for i in "$@"; do
		"$PATTERN" check "$d/f$i" "$MIB" "$i" || return 1
	done
}

# remove_files DIR FIRST LAST STEP: remove DIR/fI for I in FIRST..LAST except
# every STEP-th (STEP 0: remove all).
remove_files() {
	awk -v d="$1" -v a="$2" -v b="$3" -v k="$4" \
		'BEGIN { for (i = a; i <= b; i++) if (k == 0 || i % k) printf "%s/f%d\n", d, i }' |
		xargs -d '\n' rm --
}

# fill_and_delete PART DIR FILES KEEP SYNC...: write FILES files of 1 MiB in
# DIR, then delete either all but every 10th (KEEP 10: 90 % deleted, spread
# across the image) or the first half (KEEP half); SYNC... after each step.
fill_and_delete() {
	local part=$1 d=$2 files=$3 keep=$4 t0 tw
	shift 4
	t0=$(now)
	write_files "$d" 1 "$files" && "$@" >/dev/null || { fail "$part" "writing the files failed"; return 1; }
	tw=$(since "$t0")
	t0=$(now)
	if [ "$keep" = 10 ]; then
		remove_files "$d" 1 "$files" 10
	else
		remove_files "$d" 1 $((files / 2)) 0
	fi && "$@" >/dev/null || { fail "$part" "deleting failed"; return 1; }
	echo "NOTE $part: wrote $files MiB in files of 1 MiB in $tw s; deleted" \
		"$([ "$keep" = 10 ] && echo "all but every 10th" || echo "the first half") in $(since "$t0") s"
}

KEPT=$((RECLAIM_FILES / 10))
LIVE=$((KEPT * MIB))
KEPT_SAMPLE=$(awk -v n="$KEPT" 'BEGIN { print 10, 10 * int((n + 1) / 2), 10 * n }')

# ---- status poller ----------------------------------------------------------
# While a pass runs, poll its status every 50 ms into a file, to tell the
# phases apart afterwards: lines "SECONDS STATE PHASE BYTES_MOVED".

poll_start() { # MNT FILE
	(
		while :; do
			s=$(status_of "$1") || exit 0
			ph=$(jget phase <<<"$s" | tr ' ' _)
			printf '%s %s %s %s\n' "$(now)" "$(jget state <<<"$s")" "${ph:-starting}" \
				"$(jget bytes_moved <<<"$s")"
			sleep 0.05
		done >"$2"
	) &
	POLLER=$!
}

poll_stop() {
	[ -n "$POLLER" ] || return 0
	kill "$POLLER" 2>/dev/null
	wait "$POLLER" 2>/dev/null
	POLLER=
}

# phases FILE T0 PART: a NOTE with the seconds spent in each phase of the pass
# (the first sample of each phase after T0, to the 50 ms of the polling; the
# status request itself waits while the pass punches), and the rate of the
# bulk of the moves: from the first sample of the move phase to the last one
# at which bytes_moved grew.
phases() {
	awk -v t0="$2" -v part="$3" '
	{ t = $1 - t0; ph = $3 }
	$2 == "running" && !(ph in first) { first[ph] = t; order[++n] = ph }
	$2 == "running" { last = t }
	ph == "moving" && !m0set { m0set = 1; mt0 = t; mb0 = $4 }
	ph == "moving" && $4 > mb1 { mt1 = t; mb1 = $4 }
	END {
		line = (n ? "" : " none seen (the pass was shorter than the polling)")
		for (i = 1; i <= n; i++) {
			end = (i < n ? first[order[i + 1]] : last)
			line = line sprintf("%s %s %.2f s", (i > 1 ? "," : ""), order[i],
				end - first[order[i]])
		}
		if (mt1 > mt0)
			line = line sprintf("; bulk of the moves %.1f MiB/s (%.1f MiB in %.2f s)",
				(mb1 - mb0) / 1048576 / (mt1 - mt0), (mb1 - mb0) / 1048576, mt1 - mt0)
		printf "NOTE %s: pass phases (from 50 ms polling):%s\n", part, line
	}' "$1"
}

# slatefs_scenario PART DIR FILES KEEP [HOOK...]: mkfs and mount a fresh
# image DIR/slatefs.img on DIR/mnt (no autocompact: only our passes run), run
# HOOK if given (e.g. lay out fio's file first), then fill_and_delete.
slatefs_scenario() {
	local part=$1 r=$2 files=$3 keep=$4
	shift 4
	mkdir -p "$r"
	"$MKFS" "$r/slatefs.img" >"$r/mkfs.log" 2>&1 ||
		{ fail "$part" "mkfs.slatefs: $(tail -n 1 "$r/mkfs.log")"; return 1; }
	mount_fuse "$r/mnt" "$r/daemon.log" "$SLATEFS" "$r/slatefs.img" "$r/mnt" -f \
		-o "$RATE_OPT" || { fail "$part" "could not mount slatefs"; return 1; }
	[ $# -eq 0 ] || "$@" || return 1
	fill_and_delete "$part" "$r/mnt" "$files" "$keep" "$CTL" sync "$r/mnt"
}

# ---- a pass against cp -------------------------------------------------------

# cp_then_pass PART CPNAME PASSNAME IMG MNT: a cp of the whole image as it
# is, on the same disk, then `compact --wait --rate unlimited`, each with
# caches dropped before and a sync after; records the figures (cp CPNAME_*,
# slatefs PASSNAME_*) and sets PASS (slatectl's final status), PASS_S,
# CP_RATE, MOVED_RATE, SIZE0 (the image before the pass).
PASS="" PASS_S="" CP_RATE="" MOVED_RATE="" SIZE0=""
cp_then_pass() {
	local part=$1 cpn=$2 pn=$3 img=$4 mnt=$5 t0 cp_s moved reclaimed rec_rate pass_ms
	SIZE0=$(size_of "$img")
	echo "NOTE $part: before the pass the image is $(mib "$SIZE0") MiB" \
		"($(mib "$(disk_of "$img")") MiB on disk)"
	settle
	drop_caches
	t0=$(now)
	cp "$img" "$img.copy" && sync || { fail "$part" "cp of the image failed"; return 1; }
	cp_s=$(since "$t0")
	rm -f "$img.copy"
	CP_RATE=$(calc %.1f "$SIZE0 / $MIB / $cp_s")
	record cp "${cpn}_time" "$cp_s" s
	record cp "${cpn}_rate" "$CP_RATE" MiB/s

	settle
	drop_caches
	poll_start "$mnt" "$WORK/poll"
	t0=$(now)
	PASS=$("$CTL" --json compact --wait --rate unlimited "$mnt" 2>&1) && sync ||
		{ poll_stop; fail "$part" "compact --wait failed: $PASS"; return 1; }
	PASS_S=$(since "$t0")
	poll_stop
	if [ "$(jget passes <<<"$PASS")" != 1 ] || [ "$(jget failures <<<"$PASS")" != 0 ] ||
		[ "$(jget last_error <<<"$PASS")" != 0 ]; then
		fail "$part" "the pass did not complete cleanly: $PASS"
		return 1
	fi
	phases "$WORK/poll" "$t0" "$part"
	moved=$(jget bytes_moved <<<"$PASS")
	reclaimed=$((SIZE0 - $(size_of "$img")))
	MOVED_RATE=$(calc %.1f "$moved / $MIB / $PASS_S")
	rec_rate=$(calc %.1f "$reclaimed / $MIB / $PASS_S")
	pass_ms=$(jget last_ms <<<"$PASS")
	[ "$pass_ms" -gt 0 ] || pass_ms=1
	echo "NOTE $part: the daemon timed the pass at $(calc %.3f "$pass_ms / 1000") s" \
		"(compact --wait polls every 200 ms; the rates below use the wall time);" \
		"it reports $(mib "$(jget bytes_reclaimed <<<"$PASS")") MiB reclaimed," \
		"$(mib "$(jget bytes_punched <<<"$PASS")") MiB punched"
	record slatefs "${pn}_time" "$PASS_S" s
	record slatefs "${pn}_moved" "$(mib "$moved")" MiB
	record slatefs "${pn}_reclaimed" "$(mib "$reclaimed")" MiB
	record slatefs "${pn}_moved_rate" "$MOVED_RATE" MiB/s
	record slatefs "${pn}_reclaimed_rate" "$rec_rate" MiB/s
	record ratio slatefs/cp "${pn}_moved_rate" "$(calc %.3f "$MOVED_RATE / $CP_RATE")" x
	record ratio slatefs/cp "${pn}_reclaimed_rate" "$(calc %.3f "$rec_rate / $CP_RATE")" x
	# context: the same over the pass's own time, without slatectl's polling
	record slatefs "${pn}_moved_rate_daemon" "$(calc %.1f "$moved / $MIB / $pass_ms * 1000")" MiB/s
}

# ---- reclaim: compaction against cp, space amplification --------------------

SF_TIME="" SF_SIZE="" SF_DISK="" # slatefs pass time and the image after, for the anchor

part_reclaim() {
	local r=$WORK/reclaim img mnt size1 disk1 used bound
	img=$r/slatefs.img
	mnt=$r/mnt
	slatefs_scenario reclaim "$r" "$RECLAIM_FILES" 10 || return
	echo "NOTE reclaim: live data (the kept files) $(mib "$LIVE") MiB"
	cp_then_pass reclaim image_copy compact "$img" "$mnt" || return

	# space amplification, while still mounted
	size1=$(size_of "$img")
	disk1=$(disk_of "$img")
	used=$(stats_of "$mnt" | jget used_bytes)
	record slatefs image_after "$(mib "$size1")" MiB
	record slatefs disk_after "$(mib "$disk1")" MiB
	record slatefs live_data "$(mib "$LIVE")" MiB
	record slatefs space_amp "$(calc %.4f "$size1 / $LIVE")" x
	record slatefs image_per_used "$(calc %.4f "$size1 / $used")" x
	SF_TIME=$PASS_S SF_SIZE=$size1 SF_DISK=$disk1
	bound=$(calc %.0f "1.05 * $LIVE + $MIB")
	TARGETS+=("TARGET slatefs/cp compact_moved_rate $(calc %.3f "$MOVED_RATE / $CP_RATE") >= 0.5 $(
		calc %s "($MOVED_RATE >= 0.5 * $CP_RATE) ? \"met\" : \"MISSED\"")")
	TARGETS+=("TARGET slatefs image_after $(mib "$size1") MiB <= 1.05 x live + 1 MiB = $(mib "$bound") MiB $(
		[ "$size1" -le "$bound" ] && echo met || echo MISSED)")

	check_files "$mnt" $KEPT_SAMPLE || fail reclaim "a kept file lost its bytes"
	unmount "$mnt"
	rm -rf "$r"
}

# ---- bulk: the same with much to move (context for the copy rate) -----------

part_bulk() {
	local r=$WORK/bulk
	slatefs_scenario bulk "$r" "$BULK_FILES" half || return
	cp_then_pass bulk bulk_image_copy bulk "$r/slatefs.img" "$r/mnt" || return
	check_files "$r/mnt" "$BULK_FILES" $((BULK_FILES * 3 / 4)) ||
		fail bulk "a kept file lost its bytes"
	unmount "$r/mnt"
	rm -rf "$r"
}

# ---- latency: fio idle and during a pass at the default rate ---------------

# lat_fio FILE MS [FIO-ARGS...]: 4 KiB random reads and writes for MS; sets LAT to
# "r50 r99 r99.9 w50 w99 w99.9 riops wiops rmean wmean rmax wmax"
# (completion latency in µs).
LAT=
lat_fio() {
	if ! fio --name=lat --filename="$1" --rw=randrw --rwmixread=50 --bs=4k --direct=1 \
		--ioengine=psync --size="${LAT_FILE_MIB}M" --time_based --runtime="$2ms" \
		--percentile_list=50:99:99.9 --output-format=terse --terse-version=3 "${@:3}" \
		>"$WORK/fio.out" 2>"$WORK/fio.err"; then
		LAT=
		echo "NOTE fio failed: $(grep -v '^$' "$WORK/fio.err" | tail -n 1)"
		return 1
	fi
	# terse v3: fields 8 and 49 read and write IOPS, 16 and 57 their mean
	# clat, 15 and 56 the longest; the clat percentiles are "P%=USEC"
	# fields, the read ones before the write ones (unused: 0%=0).
	LAT=$(awk -F';' '$1 == 3 {
		for (i = 1; i <= NF; i++)
			if ($i ~ /^[0-9.]+%=/ && $i !~ /^0%/) { split($i, kv, "%="); out = out kv[2] " " }
		printf "%s%s %s %.0f %.0f %s %s\n", out, $8, $49, $16, $57, $15, $56; exit }' "$WORK/fio.out")
	[ "$(wc -w <<<"$LAT")" = 12 ] || { echo "NOTE fio output not understood: $LAT"; LAT=; return 1; }
}

lat_record() { # WHEN
	local v
	read -r -a v <<<"$LAT"
	record slatefs "p50_read_$1" "${v[0]}" us
	record slatefs "p99_read_$1" "${v[1]}" us
	record slatefs "p999_read_$1" "${v[2]}" us
	record slatefs "p50_write_$1" "${v[3]}" us
	record slatefs "p99_write_$1" "${v[4]}" us
	record slatefs "p999_write_$1" "${v[5]}" us
	record slatefs "iops_read_$1" "${v[6]}" IOPS
	record slatefs "iops_write_$1" "${v[7]}" IOPS
	record slatefs "mean_read_$1" "${v[8]}" us
	record slatefs "mean_write_$1" "${v[9]}" us
	record slatefs "max_read_$1" "${v[10]}" us
	record slatefs "max_write_$1" "${v[11]}" us
}

lat_layout() { # FILE
	fio --name=layout --filename="$1" --rw=write --bs=1M --size="${LAT_FILE_MIB}M" \
		--end_fsync=1 --fallocate=none --output-format=terse >/dev/null 2>"$WORK/fio.err" ||
		{ fail latency "fio layout: $(tail -n 1 "$WORK/fio.err")"; return 1; }
}

# pooled_p99 DDIR LOG...: the 99th percentile (µs) of the completion
# latencies of direction DDIR (0 read, 1 write) in fio lat logs (ns).
pooled_p99() {
	local d=$1
	shift
	awk -F', ' -v d="$d" '$3 == d { print $2 }' "$@" | sort -n |
		awk '{ v[NR] = $1 } END { i = int(NR * 0.99); if (i < NR * 0.99) i++; printf "%.0f", (NR ? v[i] / 1000 : 0) }'
}

# interleave MNT DIR: WINS pairs of fio windows of WIN_MS while the pass is
# paused, then running, so that idle and during share the same minutes of a
# shared machine; every completion is logged (DIR/paused*, DIR/running*).
# Returns 1 if the pass ended before the last running window did.
interleave() {
	local mnt=$1 d=$2 k s m0 m1 still=0
	for ((k = 1; k <= WINS; k++)); do
		"$CTL" pause "$mnt" >/dev/null || { echo "NOTE latency: pause failed"; return 1; }
		m0=$(status_of "$mnt" | jget bytes_moved)
		lat_fio "$mnt/fio.dat" "$WIN_MS" --write_lat_log="$d/paused$k" || return 1
		s=$(status_of "$mnt")
		m1=$(jget bytes_moved <<<"$s")
		[ "$(jget state <<<"$s")" = paused ] && [ "$m1" = "$m0" ] ||
			echo "NOTE latency: window $k was not paused throughout: $s"
		"$CTL" resume "$mnt" >/dev/null || { echo "NOTE latency: resume failed"; return 1; }
		lat_fio "$mnt/fio.dat" "$WIN_MS" --write_lat_log="$d/running$k" || return 1
		s=$(status_of "$mnt")
		still=$((still + $(jget bytes_moved <<<"$s") - m1))
		if [ "$(jget state <<<"$s")" != running ]; then
			echo "NOTE latency: the pass ended in running window $k: more to move next time"
			return 1
		fi
	done
	echo "NOTE latency: $WINS pairs of $(calc %.1f "$WIN_MS / 1000") s windows, paused then" \
		"running; the pass moved $(mib "$still") MiB in the running ones"
}

interleave_record() { # DIR
	local d=$1 pr pw rr rw
	pr=$(pooled_p99 0 "$d"/paused*_clat.*.log)
	pw=$(pooled_p99 1 "$d"/paused*_clat.*.log)
	rr=$(pooled_p99 0 "$d"/running*_clat.*.log)
	rw=$(pooled_p99 1 "$d"/running*_clat.*.log)
	record slatefs p99_read_paused "$pr" us
	record slatefs p99_write_paused "$pw" us
	record slatefs p99_read_running "$rr" us
	record slatefs p99_write_running "$rw" us
	record ratio slatefs/paused p99_read_running "$(calc %.3f "$rr / $pr")" x
	record ratio slatefs/paused p99_write_running "$(calc %.3f "$rw / $pw")" x
}

# lat_attempt FILES: one try; returns 0 done, 1 failed, 3 the pass ended
# before fio did (the caller retries with more to move).
lat_attempt() {
	local files=$1 r=$WORK/latency img mnt s t0 m1 st1 idle during
	img=$r/slatefs.img
	mnt=$r/mnt
	# fio's file first (low in the image), then the files the pass moves
	slatefs_scenario latency "$r" "$files" half lat_layout "$mnt/fio.dat" || return 1
	echo "NOTE latency: fio file $LAT_FILE_MIB MiB under the files; image" \
		"$(mib "$(size_of "$img")") MiB; fio runs of $(calc %.1f "$LAT_MS / 1000") s"

	settle
	lat_fio "$mnt/fio.dat" "$LAT_MS" || { fail latency "fio (idle) failed"; return 1; }
	idle=$LAT

	# The pass, then fio at once: the window holds the pass's start (durable
	# commit, punching) and then its moves. No status call in between: it
	# would wait for the punching.
	settle
	s=$(status_of "$mnt")
	if [ "$(jget state <<<"$s")" != idle ] || [ "$(jget passes <<<"$s")" != 0 ]; then
		fail latency "a pass ran before ours: $s"
		return 1
	fi
	s=$("$CTL" --json compact "$mnt" 2>&1) || { fail latency "compact: $s"; return 1; }
	t0=$(now)
	lat_fio "$mnt/fio.dat" "$LAT_MS" || { fail latency "fio (during the pass) failed"; return 1; }
	during=$LAT
	s=$(status_of "$mnt")
	st1=$(jget state <<<"$s")
	m1=$(jget bytes_moved <<<"$s")
	if [ "$st1" != running ]; then
		echo "NOTE latency: the pass ended before fio did (state $st1 after fio," \
			"moved $(mib "$m1") MiB): the run did not overlap; more to move next time"
		"$CTL" --json status --watch "$mnt" >/dev/null 2>&1
		unmount "$mnt"
		rm -rf "$r"
		return 3
	fi
	echo "NOTE latency: pass at the default rate $(calc %.0f "$(jget rate <<<"$s") / $MIB") MiB/s," \
		"$(mib "$(jget bytes_to_move <<<"$s")") MiB to move: still running after fio" \
		"(phase $(jget phase <<<"$s")); it moved $(mib "$m1") MiB during fio's $(since "$t0") s"

	if ! interleave "$mnt" "$r"; then
		"$CTL" resume "$mnt" >/dev/null 2>&1
		"$CTL" --json status --watch "$mnt" >/dev/null 2>&1
		unmount "$mnt"
		rm -rf "$r"
		return 3
	fi
	s=$("$CTL" --json status --watch "$mnt" 2>&1) # waits for the running pass
	echo "NOTE latency: the pass took $(calc %.1f "$(jget last_ms <<<"$s") / 1000") s, moved" \
		"$(mib "$(jget bytes_moved <<<"$s")") MiB; image now $(mib "$(size_of "$img")") MiB"

	LAT=$idle lat_record idle
	LAT=$during lat_record during
	local ri wi rd wd
	read -r _ ri _ _ wi _ <<<"$idle"
	read -r _ rd _ _ wd _ <<<"$during"
	record ratio slatefs/idle p99_read_during "$(calc %.3f "$rd / $ri")" x
	record ratio slatefs/idle p99_write_during "$(calc %.3f "$wd / $wi")" x
	interleave_record "$r"
	TARGETS+=("TARGET slatefs p99_read during/idle $(calc %.3f "$rd / $ri") <= 1.5 $(
		calc %s "($rd <= 1.5 * $ri) ? \"met\" : \"MISSED\"")")
	TARGETS+=("TARGET slatefs p99_write during/idle $(calc %.3f "$wd / $wi") <= 1.5 $(
		calc %s "($wd <= 1.5 * $wi) ? \"met\" : \"MISSED\"")")
	unmount "$mnt"
	rm -rf "$r"
}

part_latency() {
	local files=$LAT_FILES rc
	for _ in 1 2 3; do
		lat_attempt "$files"
		rc=$?
		[ "$rc" = 3 ] || return 0
		files=$((files * 2))
	done
	fail latency "the pass never outlasted fio"
}

# ---- stall: how long a foreground read waits while an unlimited pass runs ---

# stall_fio FILE MS OUT: 4 KiB O_DIRECT random reads of FILE at queue depth 1
# for MS ms; writes "p99 max IOPS" (µs) to OUT.
stall_fio() {
	fio --name=stall --filename="$1" --rw=randread --bs=4k --direct=1 --ioengine=psync \
		--size="$MIB" --time_based --runtime="$2ms" --percentile_list=99 \
		--output-format=terse --terse-version=3 >"$3.fio" 2>"$3.err" || return 1
	awk -F';' '$1 == 3 {
		for (i = 1; i <= NF; i++) if ($i ~ /^99\.0*%=/) { split($i, kv, "%="); break }
		print kv[2], $15, $8; exit }' "$3.fio" >"$3"
	[ "$(wc -w <"$3")" = 3 ]
}

part_stall() {
	local r=$WORK/stall mnt pid s idle during
	mnt=$r/mnt
	slatefs_scenario stall "$r" "$RECLAIM_FILES" 10 || return
	settle
	stall_fio "$mnt/f10" "$STALL_MS" "$r/idle" || { fail stall "fio (idle) failed"; return; }
	settle
	drop_caches
	stall_fio "$mnt/f10" "$STALL_MS" "$r/during" &
	pid=$!
	sleep 0.5
	s=$("$CTL" --json compact --wait --rate unlimited "$mnt" 2>&1) ||
		{ wait "$pid"; fail stall "compact --wait failed: $s"; return; }
	kill -0 "$pid" 2>/dev/null ||
		echo "NOTE stall: fio ended before the pass did: the pass's end was not covered"
	wait "$pid" || { fail stall "fio (during the pass) failed: $(tail -n 1 "$r/during.err")"; return; }
	read -r -a idle <"$r/idle"
	read -r -a during <"$r/during"
	echo "NOTE stall: 4 KiB O_DIRECT random reads of a kept file at queue depth 1, for" \
		"$(calc %.1f "$STALL_MS / 1000") s idle, then for as long while the pass of the" \
		"reclaim workload runs ($(calc %.2f "$(jget last_ms <<<"$s") / 1000") s, from 0.5 s in)"
	record slatefs stall_read_p99_idle "${idle[0]}" us
	record slatefs stall_read_max_idle "${idle[1]}" us
	record slatefs stall_read_p99_during "${during[0]}" us
	record slatefs stall_read_max_during "${during[1]}" us
	record slatefs stall_read_iops_idle "${idle[2]}" IOPS
	record slatefs stall_read_iops_during "${during[2]}" IOPS
	check_files "$mnt" $KEPT_SAMPLE || fail stall "a kept file lost its bytes"
	unmount "$mnt"
	rm -rf "$r"
}

# ---- fuse2fs: the anchor -----------------------------------------------------

# e2fsck_step IMG LOG: e2fsck -f -y -E discard. When it changes anything
# (exit 1, or exit 0 with "FILE SYSTEM WAS MODIFIED", e.g. when it indexes
# the directory fuse2fs left unindexed), e2fsck skips the discard, so it
# runs once more.
e2fsck_step() {
	local rc
	e2fsck -f -y -E discard "$1" >"$2.last" 2>&1
	rc=$?
	cat "$2.last" >>"$2"
	if [ "$rc" = 1 ] || grep -q "WAS MODIFIED" "$2.last"; then
		echo "NOTE fuse2fs: e2fsck changed the file system (exit $rc), so it did not" \
			"discard: once more"
		e2fsck -f -y -E discard "$1" >>"$2" 2>&1
		rc=$?
	fi
	[ "$rc" -le 1 ]
}

# off_step FIGURE CMD...: one timed step of the offline path; records
# fuse2fs FIGURE_time and adds it to OFF_T.
OFF_T=0
off_step() {
	local t0 el
	t0=$(now)
	"${@:2}" || return 1
	el=$(since "$t0")
	OFF_T=$(calc %.3f "$OFF_T + $el")
	record fuse2fs "$1_time" "$el" s
}

logged() { # LOG CMD...: CMD with its output appended to LOG
	"${@:2}" >>"$1" 2>&1
}

part_fuse2fs() {
	local r=$WORK/fuse2fs img mnt size0 disk0 disk_t rc out t0 t_all size1 disk1 pid
	img=$r/ext4.img
	mnt=$r/mnt
	mkdir -p "$r"
	truncate -s $((RECLAIM_FILES * 5 / 4 + 64))M "$img" &&
		mkfs.ext4 -q -F "$img" >"$r/mkfs.log" 2>&1 ||
		{ fail fuse2fs "mkfs.ext4: $(tail -n 1 "$r/mkfs.log")"; return; }
	mount_fuse "$mnt" "$r/daemon.log" fuse2fs -f "$img" "$mnt" ||
		{ fail fuse2fs "could not mount fuse2fs"; return; }
	fill_and_delete fuse2fs "$mnt" "$RECLAIM_FILES" 10 sync || return
	size0=$(size_of "$img")
	disk0=$(disk_of "$img")
	record fuse2fs image_before "$(mib "$size0")" MiB
	record fuse2fs disk_before "$(mib "$disk0")" MiB

	# online: what fstrim gets (it cannot shrink the file in any case)
	out=$(fstrim -v "$mnt" 2>&1)
	rc=$?
	disk_t=$(disk_of "$img")
	echo "NOTE fuse2fs: fstrim -v MOUNTPOINT: exit $rc: ${out//$mnt/MOUNTPOINT}"
	record fuse2fs online_disk_freed "$(mib $((disk0 - disk_t)))" MiB
	record fuse2fs online_image_shrink "$(mib $((size0 - $(size_of "$img"))))" MiB

	# offline: unmount (until the daemon has exited), e2fsck, resize2fs -M, e2fsck
	pid=${DPID[$mnt]}
	OFF_T=0
	off_step unmount unmount "$mnt" || return
	kill -0 "$pid" 2>/dev/null && { fail fuse2fs "fuse2fs still runs after unmount"; return; }
	off_step e2fsck_discard e2fsck_step "$img" "$r/fsck.log" ||
		{ fail fuse2fs "e2fsck: $(tail -n 2 "$r/fsck.log")"; return; }
	echo "NOTE fuse2fs: after e2fsck -E discard the image occupies $(mib "$(disk_of "$img")") MiB" \
		"on disk (before: $(mib "$disk_t") MiB)"
	off_step resize2fs logged "$r/resize.log" resize2fs -M "$img" ||
		{ fail fuse2fs "resize2fs: $(tail -n 2 "$r/resize.log")"; return; }
	off_step final_e2fsck e2fsck_step "$img" "$r/fsck.log" ||
		{ fail fuse2fs "e2fsck after resize2fs: $(tail -n 2 "$r/fsck.log")"; return; }
	t_all=$OFF_T
	size1=$(size_of "$img")
	disk1=$(disk_of "$img")
	record fuse2fs offline_reclaim_time "$t_all" s
	record fuse2fs image_after "$(mib "$size1")" MiB
	record fuse2fs disk_after "$(mib "$disk1")" MiB
	record fuse2fs space_amp "$(calc %.4f "$size1 / $LIVE")" x

	t0=$(now)
	mount_fuse "$mnt" "$r/daemon.log" fuse2fs -f "$img" "$mnt" ||
		{ fail fuse2fs "could not mount the shrunk image"; return; }
	echo "NOTE fuse2fs: remounted in $(since "$t0") s (not counted in offline_reclaim_time)"
	check_files "$mnt" $KEPT_SAMPLE || fail fuse2fs "a kept file lost its bytes"
	unmount "$mnt"
	rm -rf "$r"

	if [ -n "$SF_TIME" ]; then
		record ratio slatefs/fuse2fs reclaim_time "$(calc %.2f "$t_all / $SF_TIME")" x
		record ratio slatefs/fuse2fs image_after "$(calc %.3f "$size1 / $SF_SIZE")" x
		record ratio slatefs/fuse2fs disk_after "$(calc %.3f "$disk1 / $SF_DISK")" x
	fi
}

# ---- the run ----------------------------------------------------------------

loadavg() { # WHEN
	echo "NOTE load average $1: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs: above ~1," \
		"other work competes with this run)"
}

echo "NOTE scale=$SCALE reclaim_files=$RECLAIM_FILES latency_files=$LAT_FILES" \
	"latency_ms=$LAT_MS fio_file=${LAT_FILE_MIB}MiB work=$WORK"
loadavg "at start"
[ "$CAN_DROP" = 1 ] || echo "NOTE cannot write /proc/sys/vm/drop_caches (not root?): caches are not dropped"
case "$(stat -f -c %T "$WORK")" in
tmpfs | ramfs) echo "NOTE $WORK is on tmpfs: set TMPDIR to a real disk for meaningful figures" ;;
esac

TARGETS=()
for p in ${PARTS//,/ }; do
	if [ "$p" = fuse2fs ]; then
		missing=
		for tool in fuse2fs mkfs.ext4 e2fsck resize2fs fstrim; do
			command -v "$tool" >/dev/null || missing="$missing $tool"
		done
		if [ -n "$missing" ]; then
			echo "SKIP fuse2fs: not installed:$missing (apt-get install fuse2fs e2fsprogs util-linux)"
			case ",$REQUIRE," in *",$p,"*) fail "$p" "required part cannot run" ;; esac
			continue
		fi
	fi
	echo "NOTE running $p"
	"part_$p"
	for m in "${MOUNTS[@]}"; do unmount "$m"; done # what a failed part left
done

loadavg "at end"
printf '%s\n' "${TARGETS[@]}"
if [ "$FAILS" -gt 0 ]; then
	echo "compact-bench.sh: $FAILS part(s) failed" >&2
	exit 1
fi
exit 0
