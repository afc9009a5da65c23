# tests/compaction/compact-lib.sh — what the compaction tests share, on top
# of tests/lib/mount-lib.sh (source that first): the control tool and the
# helpers' paths, reading slatectl's --json figures, the size bound of a
# compacted image, and waiting for a pass to reach a state.
#
#   cx_json KEY                 the value of KEY in the flat JSON object on stdin
#   cx_stat KEY / cx_status KEY one figure of `slatectl --json stats/status $MNT`
#   cx_image_size               size of $IMG in bytes (stat, not the daemon's word)
#   cx_disk_bytes               blocks $IMG occupies, in bytes (st_blocks * 512)
#   cx_check_bound LIVE         the image is at most (LIVE + metadata) × 1.1 + 1 MiB;
#                               prints the figures and the ratio image/live
#   cx_wait_status KEY VALUE S  poll status until KEY is VALUE (at most S seconds)
#   cx_passes_ok N              status: N passes completed since mount, none
#                               failed, the last one without error, idle
#   cx_done                     a last check that the daemon log holds no
#                               sanitizer report, then test_done
#
# In a sanitizer build, the daemon stops at the first UBSan report (as ASan
# does by default), so that a report fails the test that caused it.
#   cx_sleep_ms MS              sleep MS milliseconds
#   cx_now                      seconds since the epoch, with fractions
#   cx_secs T0                  seconds since T0 (from cx_now), one decimal
#   cx_mibps BYTES SECS         BYTES / SECS in MiB/s, one decimal

export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:abort_on_error=1:print_stacktrace=1}

CTL=$SLATEFS_BUILD_DIR/tools/slatectl
PATTERN=$SLATEFS_BUILD_DIR/tests/compaction/pattern
RAWIOCTL=$SLATEFS_BUILD_DIR/tests/compaction/rawioctl
FSX=$HELPERS/fsx
MIB=1048576

# slatectl prints one flat object per line: "key":number or "key":"string".
cx_json() {
	sed -n 's/.*[{,]"'"$1"'":"\{0,1\}\([^",}]*\)"\{0,1\}[,}].*/\1/p' | head -n 1
}

cx_stat() {
	"$CTL" --json stats "$MNT" | cx_json "$1"
}

cx_status() {
	"$CTL" --json status "$MNT" | cx_json "$1"
}

cx_image_size() {
	stat -c %s "$IMG"
}

cx_disk_bytes() {
	echo $(( $(stat -c %b "$IMG") * $(stat -c %B "$IMG") ))
}

cx_now() {
	date +%s.%N
}

cx_secs() {
	awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'
}

cx_mibps() {
	awk -v b="$1" -v s="$2" 'BEGIN { printf "%.1f", (s > 0 ? b / s / 1048576 : 0) }'
}

cx_sleep_ms() {
	sleep "$(printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)))"
}

# cx_check_bound LIVE: the bound of the issue, on the image as it is now
# (mounted), with metadata = the B+tree bytes the daemon reports.
cx_check_bound() {
	cx_live=$1
	cx_meta=$(cx_stat tree_bytes)
	[ -n "$cx_meta" ] || { say "cannot read tree_bytes from slatectl stats"; return 1; }
	cx_size=$(cx_image_size)
	cx_bound=$(( (cx_live + cx_meta) * 11 / 10 + MIB ))
	say "image $cx_size bytes, live data $cx_live, metadata $cx_meta," \
		"bound $cx_bound, image/live $(awk -v i="$cx_size" -v l="$cx_live" \
		'BEGIN { printf "%.3f", l ? i / l : 0 }')"
	if [ "$cx_size" -gt "$cx_bound" ]; then
		say "the image ($cx_size bytes) is over the bound ($cx_bound)"
		"$CTL" stats "$MNT"
		return 1
	fi
}

# cx_wait_status KEY VALUE SECONDS
cx_wait_status() {
	cx_n=0
	while [ "$(cx_status "$1")" != "$2" ]; do
		if [ "$cx_n" -ge $(($3 * 20)) ]; then
			say "status $1 did not become $2 within $3 s:"
			"$CTL" status "$MNT"
			return 1
		fi
		sleep 0.05
		cx_n=$((cx_n + 1))
	done
}

# cx_passes_ok N
cx_passes_ok() {
	"$CTL" --json status "$MNT" >"$ML_TMP/.status.json" || return 1
	for cx_kv in "passes $1" "failures 0" "last_error 0" "state idle"; do
		set -- $cx_kv
		if [ "$(cx_json "$1" <"$ML_TMP/.status.json")" != "$2" ]; then
			say "status: $1 is not $2"
			cat "$ML_TMP/.status.json"
			return 1
		fi
	done
}

cx_done() {
	test_expect_success 'no sanitizer report in the daemon log' '
		! grep -E -A 20 "runtime error|Sanitizer" "$ML_DLOG"
	'
	test_done
}
