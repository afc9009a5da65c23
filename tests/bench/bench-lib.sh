# bench-lib.sh — shell helpers the benchmark scripts share (fs-bench.sh,
# compact-bench.sh); sourced, not run. Uses the caller's SCALE (sizes),
# BUILD (where the binaries are) and CAN_DROP (1: may drop the page cache).

# scaled BASE MIN: BASE * SCALE rounded, at least MIN
scaled() { awk -v s="$SCALE" -v b="$1" -v m="$2" 'BEGIN { v = int(b * s + 0.5); print (v < m ? m : v) }'; }

# find_bin NAME: the first executable NAME under $BUILD
find_bin() {
	find "$BUILD" -type f -name "$1" -perm -u+x 2>/dev/null | sort | head -n 1
}

# is_mounted MNT: is MNT in the mount table (even with its daemon dead)?
is_mounted() {
	awk -v m="$1" '$2 == m { found = 1 } END { exit !found }' /proc/self/mounts
}

# wait_pid PID SECONDS: wait for one of our daemons to end; kill it after SECONDS.
wait_pid() {
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		kill -0 "$1" 2>/dev/null || { wait "$1" 2>/dev/null; return 0; }
		sleep 0.1
	done
	echo "NOTE daemon $1 still runs $2 s after its unmount: killing it"
	kill "$1" 2>/dev/null
	sleep 1
	kill -9 "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }

drop_caches() {
	sync
	[ "$CAN_DROP" = 1 ] && echo 3 >/proc/sys/vm/drop_caches
	return 0
}

# Wait (at most 30 s) until the kernel's dirty and writeback pages are below
# 32 MiB, so that a measurement does not pay for an earlier one's writeback.
settle() {
	local i
	sync
	for ((i = 0; i < 300; i++)); do
		awk '/^(Dirty|Writeback):/ { kib += $2 } END { exit !(kib < 32768) }' /proc/meminfo &&
			return 0
		sleep 0.1
	done
}
