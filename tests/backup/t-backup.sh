#!/bin/bash
# tests/backup/t-backup.sh — `slatectl backup MOUNTPOINT DEST [--compact]`
# while a writer keeps changing the filesystem, and its refusals.
#
# How a copy is checked against "the state it claims" (one committed state):
# the writer makes every change of a generation G inside .tmp.G — creates
# files, overwrites some (truncating, and in place), renames one, deletes a
# victim — fsyncs the files, and only then publishes the generation with one
# atomic rename to gen.G; it retires gen.(G-KEEP) by renaming it to .del.N
# before removing it. Every file's content names its generation and file
# number. So any committed state shows whole generations only: in a copy,
# each gen.G must hold exactly the files of G with exactly their content, the
# generations must be a contiguous window of KEEP or KEEP+1, nothing else may
# be there but .tmp.(newest+1) and .del.N older than the window, and the
# newest must be at least the last one published (and the last one fsync'ed)
# before the backup started. Static files written before the writer started
# must be intact. Every copy mounts, and fsck.slatefs -n finds it clean.
#
# Then, on a quiet filesystem: a --compact copy is no larger than
# used_bytes x 1.1 + 1 MiB (slatectl --json stats) and holds the same tree as
# a plain copy taken right after it; restoring a copy (the unmounted image
# replaced by it) gives that tree back; a full destination is a clear error
# with nothing left behind; DEST is not replaced without --force; another
# user gets EPERM. Figures (sizes, ratios, generations per backup) are
# printed as "# figure" lines.
test_description='online backup under a concurrent writer'
. "$SLATEFS_SOURCE_DIR/tests/lib/mount-lib.sh"

CTL=$SLATEFS_BUILD_DIR/tools/slatectl
# In a sanitizer build, a UBSan report stops the program (as ASan does), so
# that it fails the test that caused it; the daemon log is checked at the end.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:abort_on_error=1:print_stacktrace=1}
W=$MNT/w
WLOG=$ML_TMP/writer.log
KEEP=6
NBACKUPS=$((4 * SCALE))
STATIC_FILES=$((12 * SCALE)) # 2 MiB each
COPY_MNT=$ML_TMP/copy
mkdir "$COPY_MNT"

if [ "$ML_TARGET" != slatefs ]; then
	say "1..0 # SKIP backup tests need the slatefs target"
	exit 77
fi

# figure TEXT: a measured figure, printed at the end of the run.
figure() {
	echo "$*" >>"$ML_TMP/figures"
}

# --- what the writer writes ---------------------------------------------------

gen_files() { # the number of files of generation $1
	echo $((3 + $1 % 4))
}
gen_size() { # the size of file $2 of generation $1: one inline, the rest 1..3 chunks
	if [ "$2" = 0 ]; then
		echo $((100 + $1 % 50))
	else
		echo $(((($1 * 7919 + $2 * 104729) % 180000) + 1000))
	fi
}
gen_content() {
	yes "gen=$1 file=$2" | head -c "$(gen_size "$1" "$2")"
}

# writer: generations in $W until stop.writer exists; one log line per step.
writer() {
	g=1
	while [ ! -e "$ML_TMP/stop.writer" ]; do
		t=$W/.tmp.$g
		n=$(gen_files $g)
		mkdir "$t" || return 1
		i=0
		while [ $i -lt "$n" ]; do
			case $((i % 3)) in
			0) # written stale, then overwritten with truncation
				gen_content $((g + 100000)) $i >"$t/f$i" &&
				gen_content $g $i >"$t/f$i" ;;
			1) # written under another name, then renamed
				gen_content $g $i >"$t/new$i" &&
				mv "$t/new$i" "$t/f$i" ;;
			2) # written as junk of its size, then overwritten in place
				head -c "$(gen_size $g $i)" /dev/urandom >"$t/f$i" &&
				gen_content $g $i | dd of="$t/f$i" conv=notrunc status=none ;;
			esac || return 1
			i=$((i + 1))
		done
		echo "victim of $g" >"$t/victim" && rm "$t/victim" &&
		sync "$t"/f* &&
		mv "$t" "$W/gen.$g" &&
		echo "published $g" >>"$WLOG" || return 1
		if [ $((g % 4)) = 0 ]; then
			sync "$W" && echo "synced $g" >>"$WLOG" || return 1
		fi
		if [ $g -gt $KEEP ]; then
			old=$((g - KEEP))
			mv "$W/gen.$old" "$W/.del.$old" && rm -rf "$W/.del.$old" || return 1
		fi
		g=$((g + 1))
	done
	echo "stopped $g" >>"$WLOG"
}

writer_logged() {
	writer 2>>"$ML_TMP/writer.err" || echo "writer failed" >>"$ML_TMP/writer.err"
}

last_logged() { # the last generation logged as $1 (published or synced)
	awk -v w="$1" '$1 == w { g = $2 } END { print g + 0 }' "$WLOG"
}

# check_gen DIR G: DIR holds exactly the files of generation G.
check_gen() {
	cg_n=$(gen_files "$2")
	cg_have=$(ls -A "$1" | wc -l)
	[ "$cg_have" = "$cg_n" ] || {
		echo "gen.$2: $cg_have entries, expected $cg_n:"; ls -la "$1"; return 1; }
	cg_i=0
	while [ $cg_i -lt "$cg_n" ]; do
		gen_content "$2" $cg_i | cmp - "$1/f$cg_i" || {
			echo "gen.$2/f$cg_i is not the content of generation $2"; return 1; }
		cg_i=$((cg_i + 1))
	done
}

# verify_copy ROOT PMIN PMAX: the writer's directory in a copy mounted at
# ROOT holds whole generations only, the newest in [PMIN, PMAX + 1].
verify_copy() {
	vc_w=$1/w
	vc_gens=$(ls -A "$vc_w" | sed -n 's/^gen\.\([0-9][0-9]*\)$/\1/p' | sort -n)
	[ -n "$vc_gens" ] || { echo "no generation in the copy"; return 1; }
	vc_lo=$(echo "$vc_gens" | head -n 1)
	vc_hi=$(echo "$vc_gens" | tail -n 1)
	vc_cnt=$(echo "$vc_gens" | wc -l)
	[ "$vc_hi" -ge "$2" ] || {
		echo "newest generation $vc_hi, but $2 was published before the backup"; return 1; }
	[ "$vc_hi" -le $(($3 + 1)) ] || {
		echo "newest generation $vc_hi, but only $3 were published when it ended"; return 1; }
	[ $((vc_hi - vc_lo + 1)) = "$vc_cnt" ] || {
		echo "generations $vc_lo..$vc_hi with holes: $vc_gens"; return 1; }
	if [ "$vc_hi" -gt $KEEP ]; then
		[ "$vc_cnt" = $KEEP ] || [ "$vc_cnt" = $((KEEP + 1)) ] || {
			echo "$vc_cnt generations ($vc_lo..$vc_hi), expected $KEEP or $((KEEP + 1))"
			return 1
		}
	fi
	for vc_e in $(ls -A "$vc_w" | grep -v '^gen\.'); do
		case $vc_e in
		.tmp.$((vc_hi + 1))) ;;
		.del.*) [ "${vc_e#.del.}" -lt "$vc_lo" ] || {
				echo "$vc_e beside generations $vc_lo..$vc_hi"; return 1; } ;;
		*) echo "unexpected $vc_e in the copy"; return 1 ;;
		esac
	done
	for vc_g in $vc_gens; do
		check_gen "$vc_w/gen.$vc_g" "$vc_g" || return 1
	done
	(cd "$1" && md5sum --quiet -c "$ML_TMP/static.md5") || {
		echo "static files differ in the copy"; return 1; }
	echo "copy holds generations $vc_lo..$vc_hi"
	VC_RANGE="$vc_lo..$vc_hi"
}

# with_copy COPY FUNC ARGS...: mount COPY read-only at $COPY_MNT, run FUNC
# with the mount point first, unmount (always); FUNC's verdict.
with_copy() {
	wc_img=$IMG
	IMG=$1
	fs_mount_at "$COPY_MNT" -o ro
	wc_rc=$?
	IMG=$wc_img
	[ $wc_rc = 0 ] || return 1
	shift
	wc_f=$1
	shift
	"$wc_f" "$COPY_MNT" "$@" || wc_rc=$?
	fs_umount_at "$COPY_MNT" || return 1
	return $wc_rc
}

# fsck_clean IMAGE: fsck.slatefs -n finds nothing.
fsck_clean() {
	"$FSCK" -n "$1" >fsck.out 2>&1 || { cat fsck.out; echo "fsck.slatefs -n $1 failed"; return 1; }
}

# nothing_but DIR FILE...: DIR holds those files and nothing else (no .partial).
nothing_but() {
	nb_dir=$1
	shift
	nb_have=$(ls -A "$nb_dir" | LC_ALL=C sort | tr '\n' ' ')
	nb_want=
	[ $# = 0 ] || nb_want=$(printf '%s\n' "$@" | LC_ALL=C sort | tr '\n' ' ')
	[ "$nb_have" = "$nb_want" ] || { echo "$nb_dir holds '$nb_have', expected '$nb_want'"; return 1; }
}

# ---------------------------------------------------------------------------

fs_mkfs || exit 1

test_expect_success 'mount, static files, and the writer starts' '
	fs_mount -o allow_other &&
	mkdir "$MNT/static" "$W" &&
	k=1 &&
	while [ $k -le $STATIC_FILES ]; do
		head -c 2097152 /dev/urandom >"$MNT/static/s$k" || exit 1
		k=$((k + 1))
	done &&
	(cd "$MNT" && md5sum static/*) >static.md5 &&
	: >"$WLOG" &&
	ml_bg writer_logged &&
	echo $ml_bg_pid >writer.pid &&
	n=0 &&
	while [ "$(last_logged synced)" -lt 4 ]; do
		sleep 0.2
		n=$((n + 1))
		[ $n -lt 300 ] || { echo "the writer published nothing in 60 s"; cat "$WLOG"; exit 1; }
	done
'

# backup_under_load N [--compact]: one backup while the writer runs, checked.
backup_under_load() {
	bl_copy=$ML_TMP/load$1.img
	bl_p=$(last_logged published)
	bl_s=$(last_logged synced)
	bl_t0=$(date +%s.%N)
	"$CTL" backup $2 "$MNT" "$bl_copy" >backup.out 2>&1 || {
		cat backup.out; echo "backup $1 failed"; return 1; }
	bl_t1=$(date +%s.%N)
	bl_pafter=$(last_logged published)
	cat backup.out
	kill -0 "$(cat writer.pid)" || {
		echo "the writer stopped"; tail "$WLOG" writer.err; return 1; }
	[ "$(stat -c %a "$bl_copy")" = 600 ] || { echo "the copy is readable by others"; return 1; }
	if ls -A "$ML_TMP" | grep partial; then echo "a partial copy was left"; return 1; fi
	fsck_clean "$bl_copy" &&
	with_copy "$bl_copy" verify_copy "$bl_p" "$bl_pafter" || return 1
	figure "backup $1 ${2:-plain} (last fsync-ed generation before: $bl_s): $(stat -c %s "$bl_copy") bytes ($(du -k "$bl_copy" | cut -f1) KiB on disk)," \
		"$(awk -v a="$bl_t0" -v b="$bl_t1" "BEGIN { printf \"%.2f\", b - a }") s," \
		"generations $VC_RANGE; published before $bl_p, after $bl_pafter"
	rm -f "$bl_copy"
}

i=1
while [ $i -le $NBACKUPS ]; do
	if [ $((i % 2)) = 0 ]; then
		test_expect_success "backup $i --compact under the writer: whole generations, fsck clean" \
			"backup_under_load $i --compact"
	else
		test_expect_success "backup $i under the writer: whole generations, fsck clean" \
			"backup_under_load $i"
	fi
	i=$((i + 1))
done

test_expect_success 'a backup during a compaction pass, under the writer' '
	"$CTL" compact "$MNT" >compact.out 2>&1 || { cat compact.out; true; } &&
	backup_under_load c
'

test_expect_success 'the writer stops; its generations were all whole on the mount' '
	touch stop.writer &&
	n=0 &&
	while kill -0 "$(cat writer.pid)" 2>/dev/null; do
		sleep 0.1
		n=$((n + 1))
		[ $n -lt 600 ] || { echo "the writer does not stop"; exit 1; }
	done &&
	grep -q "^stopped" "$WLOG" &&
	verify_copy "$MNT" "$(last_logged published)" "$(last_logged published)" &&
	figure "the writer published $(last_logged published) generations," \
		"fsync-ed the directory $(grep -c synced "$WLOG") times"
'

# compare_trees A B: the same listing (fs_snapshot: types, modes, owners,
# links, sizes, mtimes, targets, contents, xattrs).
snap_of() {
	fs_snapshot "$1" >"$2"
}

test_expect_success 'quiet: --compact is no larger than live data x 1.1 + 1 MiB, same tree as a plain copy' '
	for k in $(seq 1 2 $STATIC_FILES); do rm "$MNT/static/s$k" || exit 1; done &&
	rm -rf "$W"/gen.* &&
	"$CTL" sync "$MNT" &&
	"$CTL" --json stats "$MNT" >stats.json &&
	used=$(python3 -c "import json; print(json.load(open(\"stats.json\"))[\"used_bytes\"])") &&
	image=$(python3 -c "import json; print(json.load(open(\"stats.json\"))[\"image_size\"])") &&
	"$CTL" backup --compact "$MNT" compact.img &&
	"$CTL" backup "$MNT" plain.img &&
	snap_of "$MNT" live.snap &&
	csize=$(stat -c %s compact.img) &&
	psize=$(stat -c %s plain.img) &&
	limit=$((used * 11 / 10 + 1048576)) &&
	figure "quiet: image $image bytes, used_bytes $used, compact copy $csize bytes" \
		"($(awk -v c="$csize" -v u="$used" "BEGIN { printf \"%.3f\", c / u }") x used)," \
		"plain copy $psize bytes ($(du -k plain.img | cut -f1) KiB on disk), limit $limit" &&
	[ "$csize" -le "$limit" ] || { echo "compact copy $csize bytes > $limit"; exit 1; }
	fsck_clean compact.img &&
	fsck_clean plain.img &&
	with_copy compact.img snap_of compact.snap &&
	with_copy plain.img snap_of plain.snap &&
	sed "s|$COPY_MNT|X|" compact.snap >c.snap &&
	sed "s|$COPY_MNT|X|" plain.snap >p.snap &&
	sed "s|$MNT|X|" live.snap >l.snap &&
	diff c.snap p.snap &&
	diff c.snap l.snap &&
	grep -q "static/s2" c.snap
'

test_expect_success 'DEST exists: refused without --force, replaced with it' '
	echo precious >existing &&
	! "$CTL" backup "$MNT" existing 2>exists.err &&
	cat exists.err &&
	grep -q "exists (--force replaces it)" exists.err &&
	test "$(cat existing)" = precious &&
	"$CTL" backup --force "$MNT" existing &&
	fsck_clean existing
'

test_expect_success ROOT 'a full destination: a clear error, nothing left behind' '
	mkdir small &&
	mount -t tmpfs -o size=2m tmpfs small &&
	ml_record_mount - "$ML_TMP/small" &&
	rc=0 &&
	{ ! "$CTL" backup "$MNT" small/copy.img 2>full1.err || rc=1; } &&
	{ ! "$CTL" backup --compact "$MNT" small/copy.img 2>full2.err || rc=1; } &&
	cat full1.err full2.err &&
	umount "$ML_TMP/small" &&
	ml_forget_mount "$ML_TMP/small" &&
	test $rc = 0 &&
	grep -q "destination is full" full1.err &&
	grep -q "destination is full" full2.err &&
	nothing_but small
'

test_expect_success ROOT 'another user than root or the mounter: EPERM, no file' '
	mkdir -m 777 userdir &&
	! as_user "$CTL" backup "$MNT" "$ML_TMP/userdir/copy.img" 2>perm.err &&
	cat perm.err &&
	grep -q "only root or the user who mounted may do this" perm.err &&
	nothing_but userdir
'

test_expect_success 'not a slatefs mount, a missing mount: clear errors' '
	! "$CTL" backup "$ML_TMP" x.img 2>notfs.err &&
	grep -q "not on a slatefs mount" notfs.err &&
	! "$CTL" backup "$ML_TMP/nowhere" y.img 2>missing.err &&
	grep -q "No such file" missing.err &&
	! test -e x.img && ! test -e y.img
'

test_expect_success 'restore: the unmounted image replaced by a copy gives its tree back' '
	fs_umount &&
	cp --sparse=always compact.img "$IMG" &&
	fs_mount &&
	snap_of "$MNT" restored.snap &&
	fs_umount &&
	sed "s|$MNT|X|" restored.snap >r.snap &&
	diff r.snap c.snap &&
	fs_fsck
'

[ -f "$ML_TMP/figures" ] && sed 's/^/# figure: /' "$ML_TMP/figures"
test_expect_success 'no sanitizer report in the daemon log' '
	! grep -E -A 20 "runtime error|Sanitizer" "$ML_DLOG"
'

test_done
