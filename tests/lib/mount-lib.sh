# tests/lib/mount-lib.sh — shared shell library for tests that mount a real
# filesystem (in the spirit of git's t/test-lib.sh).
#
# A test script sets test_description, sources this file, and then uses:
#
#   fs_mkfs [MKFS-ARGS...]     make a fresh filesystem at $IMG
#   fs_mount [DAEMON-ARGS...]  mount $IMG on $MNT (e.g. fs_mount -o acl,allow_other)
#   fs_umount                  unmount cleanly; fails if the daemon did not exit 0
#   fs_kill9                   kill -9 the daemon and tear the dead mount down
#   fs_fsck                    fsck.slatefs -n $IMG (slatefs only) must pass
#   ml_bg CMD...               run CMD in the background; killed at exit
#   test_expect_success [PREREQ,...] 'title' 'body'
#   test_expect_failure [PREREQ,...] 'title' 'body'   (a known breakage)
#   test_done                  print the summary and exit with the verdict
#
# Each body is eval'ed in a subshell with errexit on, so any failing command
# fails the test; its output is shown when it fails (always with
# SLATEFS_TEST_VERBOSE=1). Counters: passed, failed, skipped, known breakages.
# A skipped test (missing prerequisite) never counts as passed.
#
# SLATEFS_TEST_TARGET chooses what is mounted, so that the tests themselves can
# be validated where the behaviour is the same:
#   slatefs  (default) mkfs.slatefs + the slatefs daemon
#   native   a bind mount of a directory of the temp dir (ext4 here)
#   bindfs   bindfs of such a directory (FUSE passthrough)
# Prerequisites set here: SLATEFS (target is slatefs), FUSE (slatefs or
# bindfs), NATIVE, ROOT, ACL (the target enforces POSIX ACLs), BIGXATTR
# (xattr values up to 64 KiB: not ext4, nor bindfs over it).
#
# Everything lives in one temp dir under /tmp ($ML_TMP). An EXIT trap
# ALWAYS unmounts (fusermount3 -u, falling back to umount -l), kills every
# daemon and background helper started here, and removes the temp dir.
# Exit code 77 (skipped) only when /dev/fuse is missing.

ML_TARGET=${SLATEFS_TEST_TARGET:-slatefs}
SCALE=${SLATEFS_TEST_SCALE:-1}
case "$SCALE" in '' | *[!0-9]*) SCALE=1 ;; esac
[ "$SCALE" -ge 1 ] || SCALE=1
ML_VERBOSE=${SLATEFS_TEST_VERBOSE:-0}

if [ -z "${SLATEFS_BUILD_DIR:-}" ] || [ -z "${SLATEFS_SOURCE_DIR:-}" ]; then
	echo "mount-lib: SLATEFS_BUILD_DIR and SLATEFS_SOURCE_DIR must be set (run through meson test)" >&2
	exit 1
fi
SLATEFS=$SLATEFS_BUILD_DIR/fs/slatefs
MKFS=$SLATEFS_BUILD_DIR/tools/mkfs.slatefs
FSCK=$SLATEFS_BUILD_DIR/tools/fsck.slatefs
HELPERS=$SLATEFS_BUILD_DIR/tests/fs

ml_name=$(basename "$0" .sh)
ml_count=0
ml_passed=0
ml_failed=0
ml_skipped=0
ml_known=0
ml_fixed=0
ml_prereqs=" "

say() {
	printf '%s\n' "$*"
}

# --- setup and the cleanup trap ---------------------------------------------

if [ ! -c /dev/fuse ] && [ "$ML_TARGET" != native ]; then
	say "1..0 # SKIP $ml_name: /dev/fuse is missing"
	exit 77
fi

ML_TMP=$(mktemp -d /tmp/slatefs-"$ml_name".XXXXXX) || exit 1
# Other users (the unprivileged test users) must reach the mount point.
chmod 755 "$ML_TMP"
IMG=$ML_TMP/image.slate
MNT=$ML_TMP/mnt
ML_BACKING=$ML_TMP/backing
ML_MOUNTS=$ML_TMP/.mounts  # lines: "<daemon pid or -> <mount point>"
ML_BGPIDS=$ML_TMP/.bgpids
ML_DLOG=$ML_TMP/daemon.log
mkdir "$MNT"
: >"$ML_MOUNTS"
: >"$ML_BGPIDS"

# Is $1 mounted? (/proc/self/mounts also lists a mount whose daemon died,
# which mountpoint(1) cannot stat.)
ml_is_mounted() {
	awk -v m="$1" '$2 == m { f = 1 } END { exit !f }' /proc/self/mounts
}

# Unmount one mount point, whatever state its daemon is in.
ml_unmount_dir() {
	if ml_is_mounted "$1"; then
		fusermount3 -u "$1" 2>/dev/null || umount "$1" 2>/dev/null ||
			umount -l "$1" 2>/dev/null || fusermount3 -u -z "$1" 2>/dev/null
	fi
}

# Wait up to $2 tenths of a second for process $1 to be gone.
ml_wait_gone() {
	ml_w=0
	while kill -0 "$1" 2>/dev/null; do
		[ "$ml_w" -ge "$2" ] && return 1
		sleep 0.1
		ml_w=$((ml_w + 1))
	done
	return 0
}

ml_cleanup() {
	trap - EXIT INT TERM HUP
	set +e
	while read -r ml_p; do
		kill -9 "$ml_p" 2>/dev/null
	done <"$ML_BGPIDS"
	while read -r ml_p ml_m; do
		ml_unmount_dir "$ml_m"
		if [ "$ml_p" != - ] && kill -0 "$ml_p" 2>/dev/null; then
			kill -TERM "$ml_p" 2>/dev/null
			ml_wait_gone "$ml_p" 50 || kill -9 "$ml_p" 2>/dev/null
			ml_wait_gone "$ml_p" 50
		fi
		ml_unmount_dir "$ml_m"
	done <"$ML_MOUNTS"
	# what a test asked to undo at the end (ML_AT_EXIT: shell commands)
	[ -z "${ML_AT_EXIT:-}" ] || eval "$ML_AT_EXIT"
	# Never recurse into something still mounted.
	if grep -q " $ML_TMP/" /proc/self/mounts; then
		say "mount-lib: a mount under $ML_TMP is still there; not removing it" >&2
	else
		rm -rf --one-file-system "$ML_TMP"
	fi
}
trap ml_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# --- prerequisites ----------------------------------------------------------

test_set_prereq() {
	ml_prereqs="$ml_prereqs$1 "
}

test_have_prereq() {
	ml_ifs=$IFS
	IFS=,
	set -- $1
	IFS=$ml_ifs
	for ml_q; do
		case "$ml_q" in
		!*) case "$ml_prereqs" in *" ${ml_q#!} "*) return 1 ;; esac ;;
		*) case "$ml_prereqs" in *" $ml_q "*) ;; *) return 1 ;; esac ;;
		esac
	done
	return 0
}

case "$ML_TARGET" in
slatefs)
	test_set_prereq SLATEFS
	test_set_prereq FUSE
	test_set_prereq ACL
	test_set_prereq BIGXATTR
	;;
bindfs) test_set_prereq FUSE ;;
native) test_set_prereq NATIVE; test_set_prereq ACL ;;
*) say "mount-lib: unknown SLATEFS_TEST_TARGET '$ML_TARGET'" >&2; exit 1 ;;
esac
[ "$(id -u)" = 0 ] && test_set_prereq ROOT

# --- the filesystem under test ----------------------------------------------

# fs_mkfs [ARGS...]: a fresh, empty filesystem (any mount must be gone).
fs_mkfs() {
	case "$ML_TARGET" in
	slatefs)
		rm -f "$IMG"
		"$MKFS" "$@" "$IMG" >"$ML_TMP/mkfs.log" 2>&1 || {
			cat "$ML_TMP/mkfs.log" >&2
			say "mount-lib: mkfs.slatefs $* failed" >&2
			return 1
		}
		;;
	*)
		rm -rf --one-file-system "$ML_BACKING"
		mkdir "$ML_BACKING"
		;;
	esac
}

ml_record_mount() {
	printf '%s %s\n' "$1" "$2" >>"$ML_MOUNTS"
}

# Is the absolute path $1 a mount point in the mount table? (Without a stat:
# root may not stat another user's FUSE mount made without allow_other.)
ml_in_table() {
	awk -v m="$1" '$2 == m { f = 1 } END { exit !f }' /proc/self/mounts
}

# Wait until $1 is a mount point; $2 = daemon pid (or -) to watch.
ml_wait_mounted() {
	ml_w=0
	until mountpoint -q "$1" 2>/dev/null || ml_in_table "$1"; do
		if [ "$2" != - ] && ! kill -0 "$2" 2>/dev/null; then
			say "mount-lib: the daemon exited before mounting $1" >&2
			return 1
		fi
		if [ "$ml_w" -ge 300 ]; then
			say "mount-lib: $1 not mounted after 30 s" >&2
			return 1
		fi
		sleep 0.1
		ml_w=$((ml_w + 1))
	done
}

# The -o option list of "$@" (the value after -o, or of -oLIST), comma-joined.
ml_opts_of() {
	ml_o=
	while [ $# -gt 0 ]; do
		case "$1" in
		-o) ml_o="$ml_o,$2"; shift ;;
		-o*) ml_o="$ml_o,${1#-o}" ;;
		esac
		shift
	done
	printf '%s' "${ml_o#,}"
}

ml_has_opt() {
	case ",$1," in *",$2,"*) return 0 ;; esac
	return 1
}

# fs_mount_at MOUNTPOINT [ARGS...]: mount $IMG there; ARGS go to the daemon
# (slatefs), or are mapped onto the native/bindfs equivalents (ro,
# allow_other) and otherwise ignored there.
fs_mount_at() {
	ml_mnt=$1
	shift
	ml_opts=$(ml_opts_of "$@")
	case "$ML_TARGET" in
	slatefs)
		ml_n=$(wc -l <"$ML_MOUNTS")
		ml_pidf=$ML_TMP/.daemon.$ml_n.pid
		ml_rcf=$ML_TMP/.daemon.$ml_n.rc
		rm -f "$ml_pidf" "$ml_rcf"
		say "--- slatefs $IMG $ml_mnt -f $*" >>"$ML_DLOG"
		# The inner sh records its pid and becomes the daemon, so that kill -9
		# hits the daemon itself; the outer subshell records its exit code.
		(
			sh -c 'echo $$ >"$0"; exec "$@"' "$ml_pidf" "$SLATEFS" "$IMG" "$ml_mnt" -f "$@" \
				</dev/null >>"$ML_DLOG" 2>&1
			echo $? >"$ml_rcf.tmp" && mv "$ml_rcf.tmp" "$ml_rcf"
		) 2>>"$ML_DLOG" &
		ml_w=0
		while [ ! -s "$ml_pidf" ]; do
			sleep 0.02
			ml_w=$((ml_w + 1))
			[ "$ml_w" -ge 500 ] && { say "mount-lib: daemon did not start" >&2; return 1; }
		done
		ml_pid=$(cat "$ml_pidf")
		ml_record_mount "$ml_pid" "$ml_mnt"
		ml_wait_mounted "$ml_mnt" "$ml_pid" || {
			tail -n 20 "$ML_DLOG" >&2
			return 1
		}
		;;
	native)
		mount --bind "$ML_BACKING" "$ml_mnt" || return 1
		ml_record_mount - "$ml_mnt"
		if ml_has_opt "$ml_opts" ro; then
			mount -o remount,bind,ro "$ml_mnt" || return 1
		fi
		;;
	bindfs)
		ml_bo=
		ml_has_opt "$ml_opts" ro && ml_bo=-r
		ml_bg_pidf=$ML_TMP/.bindfs.pid
		(
			sh -c 'echo $$ >"$0"; exec "$@"' "$ml_bg_pidf" bindfs -f $ml_bo \
				-o allow_other,dev,suid "$ML_BACKING" "$ml_mnt" </dev/null >>"$ML_DLOG" 2>&1
		) &
		while [ ! -s "$ml_bg_pidf" ]; do sleep 0.02; done
		ml_pid=$(cat "$ml_bg_pidf")
		rm -f "$ml_bg_pidf"
		ml_record_mount "$ml_pid" "$ml_mnt"
		ml_wait_mounted "$ml_mnt" "$ml_pid" || return 1
		;;
	esac
}

fs_mount() {
	fs_mount_at "$MNT" "$@"
}

# Pid of the daemon serving mount point $1 (default $MNT), or nothing.
fs_daemon_pid() {
	awk -v m="${1:-$MNT}" '$2 == m { p = $1 } END { if (p != "" && p != "-") print p }' \
		"$ML_MOUNTS"
}

ml_forget_mount() {
	awk -v m="$1" '$2 != m' "$ML_MOUNTS" >"$ML_MOUNTS.new" && mv "$ML_MOUNTS.new" "$ML_MOUNTS"
}

# Exit code of the daemon of mount number $1, waiting for it to be written.
ml_daemon_rc() {
	ml_w=0
	while [ ! -f "$ML_TMP/.daemon.$1.rc" ]; do
		[ "$ml_w" -ge 300 ] && { echo timeout; return; }
		sleep 0.1
		ml_w=$((ml_w + 1))
	done
	cat "$ML_TMP/.daemon.$1.rc"
}

# fs_umount_at MOUNTPOINT: clean unmount; the daemon must exit, with status 0.
fs_umount_at() {
	ml_mnt=$1
	ml_pid=$(fs_daemon_pid "$ml_mnt")
	ml_n=$(awk -v m="$ml_mnt" '$2 == m { n = NR - 1 } END { print n }' "$ML_MOUNTS")
	if [ "$ML_TARGET" = native ]; then
		umount "$ml_mnt" || return 1
		ml_forget_mount "$ml_mnt"
		return 0
	fi
	ml_w=0
	until fusermount3 -u "$ml_mnt" 2>"$ML_TMP/.umount.err"; do
		# Busy for a moment after a helper exits: retry, then report.
		if [ "$ml_w" -ge 50 ]; then
			cat "$ML_TMP/.umount.err" >&2
			say "mount-lib: cannot unmount $ml_mnt" >&2
			return 1
		fi
		sleep 0.1
		ml_w=$((ml_w + 1))
	done
	if [ -n "$ml_pid" ] && ! ml_wait_gone "$ml_pid" 600; then
		say "mount-lib: daemon $ml_pid still running 60 s after unmount" >&2
		return 1
	fi
	ml_forget_mount "$ml_mnt"
	if [ "$ML_TARGET" = slatefs ]; then
		ml_rc=$(ml_daemon_rc "$ml_n")
		if [ "$ml_rc" != 0 ]; then
			tail -n 20 "$ML_DLOG" >&2
			say "mount-lib: the daemon exited with status $ml_rc after unmount" >&2
			return 1
		fi
	fi
}

fs_umount() {
	fs_umount_at "$MNT"
}

# fs_kill9 [MOUNTPOINT]: kill -9 the daemon, then remove the dead mount.
fs_kill9() {
	ml_mnt=${1:-$MNT}
	ml_pid=$(fs_daemon_pid "$ml_mnt")
	[ -n "$ml_pid" ] || { say "mount-lib: no daemon for $ml_mnt" >&2; return 1; }
	kill -9 "$ml_pid"
	ml_wait_gone "$ml_pid" 100 || return 1
	fusermount3 -u "$ml_mnt" 2>/dev/null || umount -l "$ml_mnt" || return 1
	ml_forget_mount "$ml_mnt"
}

# fs_fsck [ARGS...]: the offline check must pass (slatefs only).
fs_fsck() {
	[ "$ML_TARGET" = slatefs ] || return 0
	if ! "$FSCK" -n "$@" "$IMG" >"$ML_TMP/fsck.log" 2>&1; then
		cat "$ML_TMP/fsck.log" >&2
		say "mount-lib: fsck.slatefs -n failed" >&2
		return 1
	fi
	[ "$ML_VERBOSE" = 1 ] && cat "$ML_TMP/fsck.log"
	return 0
}

# fs_snapshot DIR: a listing of everything under DIR that must survive an
# unmount and remount unchanged: type, mode, owner, link count, size, mtime,
# symlink target, the content of every regular file and every xattr.
fs_snapshot() {
	(
		cd "$1" || exit 1
		find . -printf '%p %y %m %U %G %n %s %T@ %l\n' | LC_ALL=C sort
		find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r md5sum
		find . -print0 | LC_ALL=C sort -z |
			xargs -0 -r getfattr -h -d -m - -e hex 2>/dev/null
		exit 0
	)
}

# ml_bg CMD...: start CMD in the background; its pid is in $ml_bg_pid.
ml_bg() {
	"$@" &
	ml_bg_pid=$!
	echo "$ml_bg_pid" >>"$ML_BGPIDS"
}

# A random integer in [0, $1).
ml_random() {
	echo $(( ($(od -An -N4 -tu4 /dev/urandom) ) % $1 ))
}

# --- the unprivileged test users ---------------------------------------------
# Numeric ids with no passwd entry: setpriv needs none, and nothing outside
# the temp dir is changed. Override with SLATEFS_TEST_UID/GID.
TEST_UID=${SLATEFS_TEST_UID:-4242}
TEST_GID=${SLATEFS_TEST_GID:-4242}
TEST_UID2=${SLATEFS_TEST_UID2:-4243}
TEST_GID2=${SLATEFS_TEST_GID2:-4243}

# as_user CMD...: run CMD as TEST_UID:TEST_GID with no supplementary groups.
as_user() {
	setpriv --reuid="$TEST_UID" --regid="$TEST_GID" --clear-groups -- "$@"
}

as_user2() {
	setpriv --reuid="$TEST_UID2" --regid="$TEST_GID2" --clear-groups -- "$@"
}

# --- tests --------------------------------------------------------------------

ml_run() {
	ml_kind=$1
	shift
	if [ $# = 3 ]; then
		ml_req=$1
		shift
	else
		ml_req=
	fi
	ml_count=$((ml_count + 1))
	ml_title=$1
	if [ -n "$ml_req" ] && ! test_have_prereq "$ml_req"; then
		ml_skipped=$((ml_skipped + 1))
		say "ok $ml_count # skip $ml_title (missing $ml_req)"
		return 0
	fi
	ml_out=$ML_TMP/.out.$ml_count
	ml_start=$(date +%s.%N)
	(
		cd "$ML_TMP" && set -e && eval "$2"
	) >"$ml_out" 2>&1 </dev/null
	ml_rc=$?
	ml_secs=$(awk -v a="$ml_start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
	if [ "$ml_kind" = success ]; then
		if [ "$ml_rc" = 0 ]; then
			ml_passed=$((ml_passed + 1))
			say "ok $ml_count - $ml_title (${ml_secs}s)"
			[ "$ml_verbose" = 1 ] && sed 's/^/#   /' "$ml_out"
		else
			ml_failed=$((ml_failed + 1))
			say "not ok $ml_count - $ml_title (exit $ml_rc, ${ml_secs}s)"
			sed 's/^/#   /' "$ml_out"
		fi
	else
		if [ "$ml_rc" = 0 ]; then
			ml_fixed=$((ml_fixed + 1))
			say "ok $ml_count - $ml_title # TODO known breakage vanished"
		else
			ml_known=$((ml_known + 1))
			say "not ok $ml_count - $ml_title # TODO known breakage"
			[ "$ML_VERBOSE" = 1 ] && sed 's/^/#   /' "$ml_out"
		fi
	fi
	rm -f "$ml_out"
	return 0
}
ml_verbose=$ML_VERBOSE

test_expect_success() {
	ml_run success "$@"
}

test_expect_failure() {
	ml_run failure "$@"
}

test_done() {
	say "1..$ml_count"
	say "# $ml_name ($ML_TARGET, scale $SCALE): $ml_passed passed, $ml_failed failed," \
		"$ml_skipped skipped, $ml_known known breakage(s), $ml_fixed fixed"
	if [ "$ml_failed" -gt 0 ] && [ -s "$ML_DLOG" ]; then
		say "# last lines of the daemon log:"
		tail -n 30 "$ML_DLOG" | sed 's/^/#   /'
	fi
	if [ "$ml_failed" -gt 0 ]; then
		exit 1
	fi
	exit 0
}

say "# $ml_name: ${test_description:-} (target $ML_TARGET, scale $SCALE, temp $ML_TMP)"
