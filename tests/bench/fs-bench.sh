#!/bin/bash
# fs-bench.sh — the file-system benchmark: the same workloads, in one run, on
# slatefs, fuse2fs (an ext4 image over FUSE), bindfs (a FUSE passthrough) and
# the native directory, printed as
#
#     BENCH <target> <workload> <value> <unit>
#     BENCH ratio slatefs/<peer> <workload> <x>      (> 1: slatefs did better)
#     TARGET ...                                     (the project's goals; not asserted)
#
# Workloads: sequential write then read (fio, 1 MiB blocks, fsync at the end,
# caches dropped in between); random 4 KiB read and write (fio, direct=1 and
# buffered); create, stat and unlink of many empty files in one directory;
# untar, find, du and rm -rf of a generated source-like tree. The metadata and
# tree workloads run a second time with the daemon and the workload pinned to
# one CPU (taskset -c 0), suffix _pin1.
#
# Usage: tests/bench/fs-bench.sh [--build DIR] [--targets LIST] [--require LIST] [--no-pin]
#   --build DIR     where to find slatefs, mkfs.slatefs, bench-fsops (default ./build)
#   --targets LIST  comma-separated subset of slatefs,fuse2fs,bindfs,native
#   --require LIST  targets that must run: skipping one of them is a failure
#   --no-pin        skip the pinned run
# Environment: BENCH_SCALE (default 1; 0.01 gives a run of seconds) scales every
# size; TMPDIR picks the parent of the work dir (must be a real disk).
# Exit status: 0 if every workload that ran succeeded (targets that cannot run
# here are skipped with a message), 1 if any failed, 2 on bad usage.
set -u -o pipefail

BUILD=./build
TARGETS=slatefs,fuse2fs,bindfs,native
REQUIRE=
PIN=1
while [ $# -gt 0 ]; do
	case "$1" in
	--build) BUILD=${2:?--build needs a directory}; shift 2 ;;
	--build=*) BUILD=${1#--build=}; shift ;;
	--targets) TARGETS=${2:?--targets needs a list}; shift 2 ;;
	--targets=*) TARGETS=${1#--targets=}; shift ;;
	--require) REQUIRE=${2:?--require needs a list}; shift 2 ;;
	--require=*) REQUIRE=${1#--require=}; shift ;;
	--no-pin) PIN=0; shift ;;
	-h|--help) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "fs-bench.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
	esac
done

SCALE=${BENCH_SCALE:-1}
# shared helpers: scaled, find_bin, is_mounted, wait_pid, now, since,
# drop_caches, settle
. "$(dirname "$0")/bench-lib.sh"
SEQ_MIB=$(scaled 1024 4)
RAND_MIB=$(scaled 256 4)
RAND_MS=$(scaled 10000 300)
NFILES=$(scaled 50000 100)
TREE_FILES=$(scaled 4000 50)

FSOPS=$(find_bin bench-fsops)
if [ -z "$FSOPS" ]; then
	echo "fs-bench.sh: bench-fsops not found under $BUILD: build first (ninja -C $BUILD)" >&2
	exit 2
fi
for tool in fio tar find du taskset mountpoint; do
	if ! command -v "$tool" >/dev/null; then
		echo "fs-bench.sh: $tool is needed" >&2
		exit 2
	fi
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/slatefs-fsbench.XXXXXX") && WORK=$(realpath "$WORK") || exit 1
RESULTS=$WORK/results
: >"$RESULTS"
FAILS=0
MOUNTED=()  # mount points still mounted
DAEMONS=()  # pids of the FUSE daemons we started

# Mounted, even if its daemon died (mountpoint(1) fails on a dead FUSE mount).

unmount_one() { # MNT
	fusermount3 -u "$1" 2>/dev/null || fusermount -u "$1" 2>/dev/null || umount -l "$1" 2>/dev/null
}


cleanup() {
	local m p
	for m in "${MOUNTED[@]}"; do
		is_mounted "$m" && unmount_one "$m"
	done
	for p in "${DAEMONS[@]}"; do
		wait_pid "$p" 60
	done
	MOUNTED=()
	DAEMONS=()
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

now() { date +%s.%N; }
per_sec() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.1f", (s > 0 ? n / s : 0) }'; }

record() { # TARGET WORKLOAD VALUE UNIT
	echo "BENCH $1 $2 $3 $4"
	echo "$1 $2 $3 $4" >>"$RESULTS"
}

fail() { # TARGET WORKLOAD MESSAGE...
	local t=$1 w=$2
	shift 2
	echo "FAIL $t $w: $*"
	FAILS=$((FAILS + 1))
}

CAN_DROP=0
if [ -w /proc/sys/vm/drop_caches ] && (echo 3 >/proc/sys/vm/drop_caches) 2>/dev/null; then
	CAN_DROP=1
fi


# ---- workloads ------------------------------------------------------------
# Each takes TARGET DIR [SUFFIX] [RUN-PREFIX...]; DIR is a directory on the target.

FIO_COMMON=(--ioengine=psync --fallocate=none --output-format=terse --terse-version=3)

# run_fio TARGET WORKLOAD FIELD: run fio with the remaining args; set FIO_VAL
# to the terse field FIELD (8 = read IOPS, 49 = write IOPS), or fail.
FIO_VAL=
run_fio() {
	local t=$1 w=$2 field=$3
	shift 3
	if ! fio "${FIO_COMMON[@]}" "$@" >"$WORK/fio.out" 2>"$WORK/fio.err"; then
		fail "$t" "$w" "fio: $(grep -v '^$' "$WORK/fio.err" | tail -n 1)"
		return 1
	fi
	FIO_VAL=$(awk -F';' -v f="$field" '$1 == 3 { print $f; exit }' "$WORK/fio.out")
}

wl_seq() { # TARGET DIR
	local t=$1 f=$2/seq.dat t0 el
	t0=$(now)
	run_fio "$t" seq_write 49 --name=seqwrite --filename="$f" --rw=write --bs=1M \
		--size="${SEQ_MIB}M" --end_fsync=1 || return
	el=$(since "$t0")
	record "$t" seq_write "$(per_sec "$SEQ_MIB" "$el")" MiB/s
	drop_caches
	t0=$(now)
	run_fio "$t" seq_read 8 --name=seqread --filename="$f" --rw=read --bs=1M \
		--size="${SEQ_MIB}M" || return
	el=$(since "$t0")
	record "$t" seq_read "$(per_sec "$SEQ_MIB" "$el")" MiB/s
	rm -f "$f"
}

wl_rand() { # TARGET DIR
	local t=$1 f=$2/rand.dat direct mode
	run_fio "$t" rand_layout 49 --name=layout --filename="$f" --rw=write --bs=1M \
		--size="${RAND_MIB}M" --end_fsync=1 || return
	for direct in 1 0; do
		mode=$([ "$direct" = 1 ] && echo direct || echo buffered)
		settle
		drop_caches
		run_fio "$t" "rand_read_4k_$mode" 8 --name=randread --filename="$f" \
			--rw=randread --bs=4k --size="${RAND_MIB}M" --direct="$direct" \
			--time_based --runtime="${RAND_MS}ms" &&
			record "$t" "rand_read_4k_$mode" "$FIO_VAL" IOPS
		run_fio "$t" "rand_write_4k_$mode" 49 --name=randwrite --filename="$f" \
			--rw=randwrite --bs=4k --size="${RAND_MIB}M" --direct="$direct" \
			--time_based --runtime="${RAND_MS}ms" --end_fsync=1 &&
			record "$t" "rand_write_4k_$mode" "$FIO_VAL" IOPS
	done
	rm -f "$f"
}

wl_meta() { # TARGET DIR SUFFIX PREFIX...
	local t=$1 d=$2/meta sfx=$3 op out
	shift 3
	mkdir "$d" || { fail "$t" "create$sfx" "mkdir $d failed"; return; }
	for op in create stat unlink; do
		sync
		if ! out=$("$@" "$FSOPS" "$op" "$d" "$NFILES" 2>"$WORK/fsops.err"); then
			fail "$t" "$op$sfx" "$(tail -n 1 "$WORK/fsops.err")"
			return
		fi
		record "$t" "$op$sfx" "$(per_sec $out)" ops/s
		drop_caches
	done
	rmdir "$d" || fail "$t" "unlink$sfx" "directory not empty after unlink"
}

wl_tree() { # TARGET DIR SUFFIX PREFIX...
	local t=$1 d=$2 sfx=$3 t0 n
	shift 3
	sync
	t0=$(now)
	"$@" tar -xf "$TREE_TAR" -C "$d" || { fail "$t" "untar$sfx" "tar failed"; return; }
	record "$t" "untar$sfx" "$(since "$t0")" s
	drop_caches
	t0=$(now)
	n=$("$@" find "$d/tree" | wc -l)
	record "$t" "find$sfx" "$(since "$t0")" s
	[ "$n" = "$TREE_ENTRIES" ] || fail "$t" "find$sfx" "saw $n entries, expected $TREE_ENTRIES"
	drop_caches
	t0=$(now)
	"$@" du -s "$d/tree" >/dev/null || fail "$t" "du$sfx" "du failed"
	record "$t" "du$sfx" "$(since "$t0")" s
	sync # start rm -rf with no writeback of the native disk in flight
	t0=$(now)
	"$@" rm -rf "$d/tree" || fail "$t" "rm_rf$sfx" "rm -rf failed"
	record "$t" "rm_rf$sfx" "$(since "$t0")" s
	[ ! -e "$d/tree" ] || fail "$t" "rm_rf$sfx" "tree still there"
}

# ---- targets --------------------------------------------------------------
# mount_TARGET ROOT PREFIX...: make ROOT/mnt ready (mounting as needed), with
# the daemon started under PREFIX (e.g. taskset -c 0). Returns 1 to skip.

wait_mounted() { # MNT PID LOG
	local i
	for ((i = 0; i < 100; i++)); do
		mountpoint -q "$1" && return 0
		kill -0 "$2" 2>/dev/null || break
		sleep 0.1
	done
	echo "NOTE mount on $1 failed: $(tail -n 3 "$3" | tr '\n' ' ')"
	return 1
}

start_daemon() { # MNT LOG CMD...: start a FUSE daemon in the foreground, in the background
	local mnt=$1 log=$2 pid
	shift 2
	"$@" >"$log" 2>&1 &
	pid=$!
	DAEMONS+=("$pid")
	if wait_mounted "$mnt" "$pid" "$log"; then
		MOUNTED+=("$mnt")
		return 0
	fi
	is_mounted "$mnt" && unmount_one "$mnt"
	wait_pid "$pid" 5
	return 1
}

mount_native() {
	mkdir -p "$1/mnt"
}

mount_bindfs() {
	local r=$1
	shift
	mkdir -p "$r/src" "$r/mnt"
	start_daemon "$r/mnt" "$r/log" "$@" bindfs -f -o big_writes "$r/src" "$r/mnt" && return 0
	echo "NOTE bindfs refused -o big_writes: mounting without it"
	start_daemon "$r/mnt" "$r/log" "$@" bindfs -f "$r/src" "$r/mnt"
}

mount_fuse2fs() {
	local r=$1 size_mib inodes opts=()
	shift
	mkdir -p "$r/mnt"
	if [ ! -f "$r/ext4.img" ]; then
		size_mib=$((SEQ_MIB + RAND_MIB + TREE_FILES / 10 + 512))
		inodes=$((NFILES + 4 * TREE_FILES + 4096))
		truncate -s "${size_mib}M" "$r/ext4.img" &&
			mkfs.ext4 -q -F -N "$inodes" "$r/ext4.img" >"$r/log" 2>&1 ||
			{ echo "NOTE mkfs.ext4 failed: $(tail -n 1 "$r/log")"; return 1; }
	fi
	[ "$(id -u)" = 0 ] || opts=(-o fakeroot)
	start_daemon "$r/mnt" "$r/log" "$@" fuse2fs -f "$r/ext4.img" "$r/mnt" "${opts[@]}"
}

mount_slatefs() {
	local r=$1
	shift
	mkdir -p "$r/mnt"
	if [ ! -f "$r/slatefs.img" ]; then
		"$MKFS_SLATEFS" "$r/slatefs.img" >"$r/log" 2>&1 ||
			{ echo "NOTE mkfs.slatefs failed: $(tail -n 1 "$r/log")"; return 1; }
	fi
	start_daemon "$r/mnt" "$r/log" "$@" "$SLATEFS" "$r/slatefs.img" "$r/mnt" -f
}

unmount_target() { # ROOT
	local m=$1/mnt p
	is_mounted "$m" || return 0
	unmount_one "$m"
	local keep=()
	for p in "${MOUNTED[@]}"; do [ "$p" = "$m" ] || keep+=("$p"); done
	MOUNTED=("${keep[@]}")
	for p in "${DAEMONS[@]}"; do wait_pid "$p" 60; done
	DAEMONS=()
}

target_available() { # TARGET: print why not, return 1 if it cannot run here
	case "$1" in
	native) return 0 ;;
	slatefs)
		SLATEFS=$(find_bin slatefs)
		MKFS_SLATEFS=$(find_bin mkfs.slatefs)
		if [ -z "$SLATEFS" ] || [ -z "$MKFS_SLATEFS" ]; then
			echo "SKIP slatefs: no slatefs and mkfs.slatefs binaries under $BUILD (not built yet?)"
			return 1
		fi ;;
	fuse2fs | bindfs)
		if ! command -v "$1" >/dev/null; then
			echo "SKIP $1: not installed (apt-get install $1)"
			return 1
		fi ;;
	*) echo "fs-bench.sh: unknown target $1" >&2; exit 2 ;;
	esac
	if [ ! -c /dev/fuse ]; then
		echo "SKIP $1: /dev/fuse is missing"
		return 1
	fi
}

# ---- the run --------------------------------------------------------------

echo "NOTE scale=$SCALE seq=${SEQ_MIB}MiB rand=${RAND_MIB}MiB/${RAND_MS}ms files=$NFILES" \
	"tree_files=$TREE_FILES work=$WORK"
loadavg() { # WHEN
	echo "NOTE load average $1: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs: above ~1," \
		"other work competes with this run)"
}
loadavg "at start"
[ "$CAN_DROP" = 1 ] || echo "NOTE cannot write /proc/sys/vm/drop_caches (not root?): caches are not dropped"
case "$(stat -f -c %T "$WORK")" in
tmpfs | ramfs) echo "NOTE $WORK is on tmpfs: set TMPDIR to a real disk for meaningful figures" ;;
esac

# The tree: generated once on the native disk, deterministic for a given size.
mkdir -p "$WORK/treesrc"
if ! tree_info=$("$FSOPS" gentree "$WORK/treesrc/tree" "$TREE_FILES"); then
	echo "fs-bench.sh: could not generate the source tree" >&2
	exit 1
fi
TREE_TAR=$WORK/tree.tar
tar -cf "$TREE_TAR" -C "$WORK/treesrc" tree || exit 1
TREE_ENTRIES=$(find "$WORK/treesrc/tree" | wc -l)
rm -rf "$WORK/treesrc"
read -r tf td tl tb <<<"$tree_info"
echo "NOTE tree: generated (bench-fsops gentree): $tf files, $td dirs, $tl symlinks," \
	"$((tb / 1048576)) MiB of text-like data"

RAN=()
for t in ${TARGETS//,/ }; do
	if ! target_available "$t"; then
		case ",$REQUIRE," in *",$t,"*) fail "$t" all "required target cannot run" ;; esac
		continue
	fi
	root=$WORK/$t
	mkdir -p "$root"
	if ! "mount_$t" "$root"; then
		fail "$t" mount "could not mount"
		continue
	fi
	RAN+=("$t")
	echo "NOTE running on $t"
	settle
	wl_seq "$t" "$root/mnt"
	wl_rand "$t" "$root/mnt"
	wl_meta "$t" "$root/mnt" "" env
	wl_tree "$t" "$root/mnt" "" env
	unmount_target "$root"
	if [ "$PIN" = 1 ]; then
		if ! "mount_$t" "$root" taskset -c 0; then
			fail "$t" mount_pin1 "could not mount pinned"
			continue
		fi
		wl_meta "$t" "$root/mnt" _pin1 taskset -c 0
		wl_tree "$t" "$root/mnt" _pin1 taskset -c 0
		unmount_target "$root"
	fi
	rm -rf "$root"
done

# ---- ratios and targets ---------------------------------------------------
loadavg "at end"
if printf '%s\n' "${RAN[@]}" | grep -qx slatefs; then
	awk '
	{ v[$1, $2] = $3; u[$2] = $4; if ($1 != "slatefs") peer[$1] = 1; w[$2] = 1 }
	END {
		for (p in peer) for (k in w) if (((p, k) in v) && (("slatefs", k) in v)) {
			a = v["slatefs", k]; b = v[p, k]
			if (a <= 0 || b <= 0) continue
			x = (u[k] == "s") ? b / a : a / b
			printf "BENCH ratio slatefs/%s %s %.2f\n", p, k, x
			r[p, k] = x
		}
		n = split("create:bindfs:1.5 stat:bindfs:1.5 unlink:bindfs:1.5 create:fuse2fs:10 " \
			  "stat:fuse2fs:10 unlink:fuse2fs:10 seq_write:fuse2fs:2 seq_write:native:0.6 " \
			  "seq_read:bindfs:0.8 rand_read_4k_direct:fuse2fs:1 " \
			  "rand_write_4k_direct:fuse2fs:1 rand_read_4k_buffered:fuse2fs:1 " \
			  "rand_write_4k_buffered:fuse2fs:1", goal, " ")
		for (i = 1; i <= n; i++) {
			split(goal[i], g, ":")
			if ((g[2], g[1]) in r)
				printf "TARGET slatefs/%s %s %.3f >= %s %s\n", g[2], g[1],
				       r[g[2], g[1]], g[3], (r[g[2], g[1]] >= g[3] ? "met" : "MISSED")
		}
	}' "$RESULTS" | sort
else
	echo "NOTE slatefs did not run: no ratios"
fi

if [ "$FAILS" -gt 0 ]; then
	echo "fs-bench.sh: $FAILS workload(s) failed" >&2
	exit 1
fi
exit 0
