#!/bin/bash
# tests/fsck/t-fsck.sh — fsck.slatefs on images damaged on purpose, one class
# of damage per test. A small tree is written through a real mount; each case
# copies that image, breaks one rule (fsck-damage: rows through the store
# API; dd: bytes of a page or a slot), and then:
#   - fsck -n finds it (exit 4, the problem named in a sentence) and leaves
#     the image unchanged byte for byte;
#   - where fsck promises a repair: fsck -y exits 1, a second fsck -n is
#     clean (exit 0), and the repaired image mounts with every surviving file
#     intact (content, symlink target, xattrs), lost files in /lost+found;
#   - damage fsck cannot repair (a checksum) gives exit 4 and a clear message,
#     and -y changes nothing; an image that cannot be opened gives exit 8.
# Also: exit 8 on a mounted image, a missing file, a non-image; what each
# --level finds; no terminal without -n/-y = -n; the questions on a terminal;
# -y on a clean image changes nothing; the progress bar.
test_description='fsck.slatefs on damaged images'
. "$SLATEFS_SOURCE_DIR/tests/lib/mount-lib.sh"

DAMAGE=$SLATEFS_BUILD_DIR/tests/fsck/fsck-damage
# In a sanitizer build, a UBSan report stops the program (as ASan does), so
# that it fails the test that caused it; the daemon log is checked at the end.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:abort_on_error=1:print_stacktrace=1}
BASE=$ML_TMP/base.img

if [ "$ML_TARGET" != slatefs ]; then
	say "1..0 # SKIP fsck tests need the slatefs target"
	exit 77
fi

# expect_fsck RC OUT ARGS...: fsck.slatefs ARGS, output in OUT, must exit RC.
expect_fsck() {
	ef_want=$1
	ef_out=$2
	shift 2
	ef_rc=0
	"$FSCK" "$@" >"$ef_out" 2>&1 </dev/null || ef_rc=$?
	cat "$ef_out"
	if [ "$ef_rc" != "$ef_want" ]; then
		echo "fsck.slatefs $* exited $ef_rc, expected $ef_want"
		return 1
	fi
	return 0
}

# manifest DIR: a line per file and symlink under DIR (lost+found aside):
# kind, md5 of the content (or target) and of the xattrs, path.
manifest() {
	(
		cd "$1" || exit 1
		find . -path ./lost+found -prune -o \( -type f -o -type l \) -print | LC_ALL=C sort |
			while read -r p; do
				x=$(getfattr -h -d -m - -e hex "$p" 2>/dev/null | grep -v '^#' | md5sum | cut -c1-8)
				if [ -L "$p" ]; then
					echo "L $(readlink "$p" | md5sum | cut -c1-32) $x $p"
				else
					echo "F $(md5sum <"$p" | cut -c1-32) $x $p" || exit 1
				fi
			done
	)
}

# intact [PATH...]: every file of the base tree but those PATHs (relative,
# e.g. d/big) is on the mount as it was.
intact() {
	awk -v ex="$*" 'BEGIN { n = split(ex, a, " "); for (i = 1; i <= n; i++) x["./" a[i]] = 1 }
		!($4 in x)' base.manifest | LC_ALL=C sort >want.manifest &&
	manifest "$MNT" | LC_ALL=C sort >now.manifest &&
	if [ -n "$(comm -23 want.manifest now.manifest)" ]; then
		echo "files changed or missing after the repair:"
		comm -23 want.manifest now.manifest
		return 1
	fi
}

# in_lost_found INO PATH: /lost+found/#INO holds what PATH held.
in_lost_found() {
	ilf_want=$(awk -v p="./$2" '$4 == p { print $2 }' base.manifest)
	ilf_got=$(md5sum <"$MNT/lost+found/#$1" | cut -c1-32)
	[ -n "$ilf_want" ] && [ "$ilf_want" = "$ilf_got" ] || {
		echo "lost+found/#$1: $ilf_got, expected $ilf_want (from $2)"
		return 1
	}
}

# on_mount FUNC ARGS...: mount $IMG, run FUNC, unmount (always); FUNC's verdict.
on_mount() {
	fs_mount || return 1
	om_rc=0
	"$@" || om_rc=$?
	fs_umount || return 1
	return $om_rc
}

# damaged CASE-ARGS...: a fresh copy of the base image at $IMG, damaged, with
# a copy of the damaged bytes in damaged.img.
damaged() {
	cp "$BASE" "$IMG" &&
	"$DAMAGE" "$IMG" "$@" >damage.out &&
	cp "$IMG" damaged.img
}

# detected REGEX: fsck -n exits 4, says REGEX, and changes nothing.
detected() {
	expect_fsck 4 n.out -n "$IMG" &&
	grep -E -- "$1" n.out >/dev/null || { echo "no problem matching '$1'"; return 1; }
	cmp "$IMG" damaged.img || { echo "fsck -n changed the image"; return 1; }
}

# repaired: fsck -y exits 1, then fsck -n exits 0.
repaired() {
	expect_fsck 1 y.out -y "$IMG" &&
	expect_fsck 0 n2.out -n "$IMG"
}

# flip FILE OFFSET: two bytes there changed.
flip() {
	printf '\377\356' | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

ino_of() {
	"$DAMAGE" "$BASE" ino "$1"
}

# ---------------------------------------------------------------------------

fs_mkfs || exit 1

# The tree every case starts from: directories, an inline file with a hard
# link and an xattr too big for a leaf, multi-chunk files, blobs shared by
# copy_file_range, a symlink too long for a leaf, a short one, a fifo.
write_tree() {
	mkdir -p "$MNT/d/sub" "$MNT/e" &&
	echo hello >"$MNT/d/a" &&
	ln "$MNT/d/a" "$MNT/d/hard" &&
	setfattr -n user.big -v "$(head -c 20000 /dev/zero | tr "\0" q)" "$MNT/d/a" &&
	setfattr -n user.small -v tiny "$MNT/d/sub" &&
	# no zero bytes: the daemon stores a chunk without its trailing zeros,
	# and the stored-bytes case expects every byte of d/big stored
	head -c 300000 /dev/urandom | tr "\0" "\1" >"$MNT/d/big" &&
	head -c 100000 /dev/urandom >"$MNT/e/tail" &&
	echo "in sub" >"$MNT/d/sub/f" &&
	ln -s "$(head -c 3000 /dev/zero | tr "\0" x)" "$MNT/longlink" &&
	ln -s d/a "$MNT/shortlink" &&
	mkfifo "$MNT/e/fifo" &&
	python3 -c "
import os, sys
s = os.open(sys.argv[1], os.O_RDONLY)
d = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT, 0o644)
n = 0
while n < 300000:
    c = os.copy_file_range(s, d, 300000 - n, n, n)
    assert c > 0
    n += c
" "$MNT/d/big" "$MNT/e/shared" &&
	cmp "$MNT/d/big" "$MNT/e/shared" &&
	manifest "$MNT" >base.manifest &&
	cat base.manifest &&
	test "$(wc -l <base.manifest)" = 8
}

test_expect_success 'a small tree written through a mount checks clean' '
	on_mount write_tree &&
	expect_fsck 0 n.out -n "$IMG" &&
	cp "$IMG" "$BASE"
'
[ -f "$BASE" ] || test_done

# --- logical damage that fsck repairs ------------------------------------------

test_expect_success 'an entry removed: the inode is lost, and goes to /lost+found' '
	ino=$(ino_of /d/big) &&
	damaged drop-entry /d/big &&
	detected "inode $ino is lost: nlink 1, but 0 entries name it" &&
	grep -q "directory $(ino_of /d) (/d): size 4, but it has 3 entries" n.out &&
	repaired &&
	grep -q "inode $ino is now /lost+found/#$ino" y.out &&
	on_mount eval "intact d/big && in_lost_found $ino d/big"
'

test_expect_success 'an unlinked inode without an orphan row goes to /lost+found' '
	ino=$(ino_of /e/tail) &&
	damaged unlink-quietly /e/tail &&
	detected "unlinked inode $ino has no orphan row" &&
	repaired &&
	on_mount eval "intact e/tail && in_lost_found $ino e/tail"
'

test_expect_success 'a wrong nlink of a file is set to its entries' '
	damaged set-nlink /d/a 5 &&
	detected "inode $(ino_of /d/a) \(/d/a\): nlink 5, but 2 entries name it" &&
	repaired &&
	on_mount eval "intact && test \$(stat -c %h \"\$MNT/d/a\") = 2"
'

test_expect_success 'a wrong nlink of a directory is set to 2 + its subdirectories' '
	damaged set-nlink /d 7 &&
	detected "directory $(ino_of /d) \(/d\): nlink 7, but it has 1 subdirectories" &&
	repaired &&
	on_mount eval "intact && test \$(stat -c %h \"\$MNT/d\") = 3"
'

test_expect_success 'a wrong directory size is set to its entries' '
	damaged set-size /d 40 &&
	detected "directory $(ino_of /d) \(/d\): size 40, but it has 4 entries" &&
	repaired &&
	on_mount intact
'

test_expect_success 'a wrong parent of a directory is set to the one holding it' '
	damaged set-parent /d/sub 1 &&
	detected "directory $(ino_of /d/sub) \(/d/sub\): parent 1, but it is in $(ino_of /d)" &&
	repaired &&
	on_mount intact
'

test_expect_success 'an entry whose type disagrees with its inode' '
	damaged set-type /d/a 4 &&
	detected "entry .a. says type 4, inode $(ino_of /d/a) has mode 100644" &&
	repaired &&
	on_mount eval "intact && test -f \"\$MNT/d/a\""
'

test_expect_success 'an entry without its readdir cookie row' '
	damaged drop-cookie /d/a &&
	detected "entry .a. has no cookie row" &&
	repaired &&
	on_mount eval "intact && ls \"\$MNT/d\" | grep -qx a"
'

test_expect_success 'a readdir cookie row no entry owns is removed' '
	damaged stray-cookie /d &&
	detected "directory $(ino_of /d): cookie row 999 has no matching entry" &&
	repaired &&
	on_mount eval "intact && test \$(ls \"\$MNT/d\" | wc -l) = 4"
'

test_expect_success 'a next readdir cookie below the cookies in use is raised' '
	damaged set-next-cookie /d 2 &&
	detected "directory $(ino_of /d) \(/d\): next cookie 2, but its entries use cookies up to [0-9]+" &&
	repaired &&
	on_mount eval "intact && touch \"\$MNT/d/newer\" && test \$(ls \"\$MNT/d\" | wc -l) = 5"
'

test_expect_success 'an inode row removed: its entry and chunks go, shared blobs stay' '
	ino=$(ino_of /d/big) &&
	damaged drop-inode /d/big &&
	detected "entry .big. names missing inode $ino" &&
	grep -q "chunk 0 of missing inode $ino" n.out &&
	repaired &&
	grep -q "reference count 2 -> 1" y.out &&
	on_mount eval "intact d/big && ! test -e \"\$MNT/d/big\""
'

test_expect_success 'an orphan row of a missing inode is removed' '
	damaged orphan-row 555 &&
	detected "orphan row for missing inode 555" &&
	repaired &&
	on_mount intact
'

test_expect_success 'an xattr row of a missing inode is removed' '
	damaged xattr-row 556 &&
	detected "xattr of missing inode 556" &&
	repaired &&
	on_mount intact
'

test_expect_success 'a chunk row of a missing inode is removed, its blob freed' '
	damaged chunk-for 557 &&
	detected "chunk 0 of missing inode 557" &&
	repaired &&
	grep -q "no chunk or row references it" y.out &&
	grep -q "blob [0-9]* deleted" y.out &&
	on_mount intact
'

test_expect_success 'a chunk row of a directory is removed' '
	damaged chunk-for "$(ino_of /d)" &&
	detected "chunk 0 of inode $(ino_of /d), which is not a regular file" &&
	repaired &&
	on_mount intact
'

test_expect_success 'a chunk past the end of file is removed' '
	damaged chunk-past-eof /e/tail &&
	detected "inode $(ino_of /e/tail) \(/e/tail\) chunk 4: past the end of file" &&
	repaired &&
	on_mount eval "intact && test \$(stat -c %s \"\$MNT/e/tail\") = 100000"
'

# After the cut, bytes past EOF are zeros again [D8]: growing the file shows them.
grown_tail_is_zero() {
	truncate -s 131072 "$MNT/e/tail" &&
	test "$(tail -c 31072 "$MNT/e/tail" | tr -d "\0" | wc -c)" = 0
}
test_expect_success 'a chunk holding bytes past the end of file is cut' '
	damaged chunk-tail /e/tail &&
	detected "inode $(ino_of /e/tail) \(/e/tail\) chunk 1: 65536 bytes stored past its size 100000" &&
	repaired &&
	on_mount eval "intact && grown_tail_is_zero"
'

# The first 64 KiB are intact, the rest of the file is a hole.
tail_is_holed() {
	test "$(stat -c %s "$MNT/e/tail")" = 100000 &&
	cmp -n 65536 "$MNT/e/tail" tail.orig &&
	test "$(tail -c +65537 "$MNT/e/tail" | tr -d "\0" | wc -c)" = 0
}
test_expect_success 'a chunk whose blob is missing becomes a hole' '
	fs_mount -o ro && cp "$MNT/e/tail" tail.orig && fs_umount &&
	cp "$BASE" "$IMG" &&
	damaged drop-blob /e/tail 1 &&
	detected "inode $(ino_of /e/tail) \(/e/tail\) chunk 1: blob [0-9]+ is missing" &&
	repaired &&
	on_mount eval "intact e/tail && tail_is_holed"
'

# The blob shared by copy_file_range must outlive the file it came from.
shared_outlives_big() {
	rm "$MNT/d/big" && intact d/big
}
test_expect_success 'a shared blob with a reference too few gets it back' '
	damaged blob-unref /e/shared 0 &&
	detected "reference count 1, but 2 chunks use it" &&
	repaired &&
	on_mount shared_outlives_big &&
	expect_fsck 0 n3.out -n "$IMG" &&
	on_mount intact d/big
'

test_expect_success 'a blob with a reference too many loses it (and is freed with its file)' '
	damaged blob-ref /e/tail 0 &&
	detected "reference count 2, but 1 chunks use it" &&
	repaired &&
	on_mount eval "intact && rm \"\$MNT/e/tail\"" &&
	expect_fsck 0 n3.out -n "$IMG"
'

test_expect_success 'a blob nothing references is deleted (leaked space)' '
	damaged leak-blob 100000 &&
	id=$(cat damage.out) &&
	detected "blob $id \(100000 bytes, pages [0-9]+\.\.[0-9]+\): no chunk or row references it" &&
	repaired &&
	on_mount intact
'

test_expect_success 'pages marked used that nothing reaches return to the free map' '
	damaged leak-pages 7 &&
	pg=$(cat damage.out) &&
	detected "page $pg: marked used but nothing refers to it" &&
	test "$(grep -c "marked used but nothing refers to it" n.out)" = 7 &&
	repaired &&
	grep -q "free-space map rebuilt: 7 pages" y.out &&
	on_mount intact
'

test_expect_success 'a directory cycle the root does not reach goes to /lost+found' '
	ino=$(ino_of /d) &&
	damaged cycle /d /d/sub &&
	detected "directory $ino is in a cycle of 2 directories the root does not reach" &&
	repaired &&
	on_mount eval "intact d/a d/hard d/big d/sub/f shortlink &&
		cmp \"\$MNT/lost+found/#$ino/big\" \"\$MNT/e/shared\" &&
		test \"\$(cat \"\$MNT/lost+found/#$ino/sub/f\")\" = \"in sub\" &&
		! test -e \"\$MNT/lost+found/#$ino/sub/loop\""
'

test_expect_success 'a directory with two names keeps the one in its parent' '
	damaged second-name /d/sub / again &&
	detected "directory $(ino_of /d/sub) is named by 2 entries: removing its entry .again." &&
	repaired &&
	on_mount eval "intact && ! test -e \"\$MNT/again\""
'

# New files get inode numbers above every one in use.
new_files_work() {
	for i in 1 2 3; do echo "new $i" >"$MNT/new$i" || return 1; done &&
	test "$(stat -c %i "$MNT/new1")" -gt "$(stat -c %i "$MNT/e/shared")" &&
	intact
}
test_expect_success 'a next inode number below those in use is raised' '
	damaged next-ino 3 &&
	detected "inode $(ino_of /d/a): at or above the super row.s next inode number 3" &&
	repaired &&
	on_mount new_files_work &&
	expect_fsck 0 n3.out -n "$IMG"
'

test_expect_success 'wrong stored bytes of a file are set to its chunks' '
	damaged set-blocks /d/big 4 &&
	detected "inode $(ino_of /d/big) \(/d/big\): 300000 bytes stored, its row says 4" &&
	repaired &&
	on_mount eval "intact && test \$(stat -c %b \"\$MNT/d/big\") -ge 586"
'

test_expect_success 'several kinds of damage at once are all repaired in one run' '
	cp "$BASE" "$IMG" &&
	"$DAMAGE" "$IMG" drop-entry /d/a &&
	"$DAMAGE" "$IMG" set-nlink /e/shared 9 &&
	"$DAMAGE" "$IMG" chunk-for 777 &&
	"$DAMAGE" "$IMG" leak-pages 3 >/dev/null &&
	cp "$IMG" damaged.img &&
	detected "nlink 9, but 1 entries name it" &&
	repaired &&
	on_mount eval "intact d/a && test \$(stat -c %h \"\$MNT/d/hard\") = 1"
'

# --- physical damage ---------------------------------------------------------------

test_expect_success 'a damaged older commit slot is rewritten by the repair' '
	cp "$BASE" "$IMG" &&
	cur=$("$DAMAGE" "$IMG" current-slot) &&
	old=$((1 - cur)) &&
	flip "$IMG" $((old * 4096 + 40)) &&
	cp "$IMG" damaged.img &&
	detected "commit slot $old is damaged: the image opened from slot $cur" &&
	repaired &&
	on_mount intact
'

test_expect_success 'a damaged current slot: the older state opens, the slot is rewritten' '
	cp "$BASE" "$IMG" &&
	cur=$("$DAMAGE" "$IMG" current-slot) &&
	flip "$IMG" $((cur * 4096 + 40)) &&
	cp "$IMG" damaged.img &&
	detected "commit slot $cur is damaged" &&
	repaired &&
	fs_mount && ls "$MNT" && fs_umount
'

test_expect_success 'both slots damaged: the image cannot be opened (exit 8)' '
	cp "$BASE" "$IMG" &&
	flip "$IMG" 40 && flip "$IMG" $((4096 + 40)) &&
	expect_fsck 8 n.out -n "$IMG" &&
	grep -q "cannot be opened: both commit slots are damaged" n.out &&
	expect_fsck 8 y.out -y "$IMG"
'

test_expect_success 'a damaged tree page: exit 4, named, and -y repairs nothing' '
	cp "$BASE" "$IMG" &&
	ps=$("$DAMAGE" "$IMG" page-size) &&
	pg=$("$DAMAGE" "$IMG" tree-page dirent) &&
	flip "$IMG" $((pg * ps + 300)) &&
	cp "$IMG" damaged.img &&
	detected "page $pg: unreadable" &&
	grep -q "the dirent table cannot be read" n.out &&
	expect_fsck 4 y.out -y "$IMG" &&
	grep -q "the store is damaged in a way fsck cannot repair" y.out &&
	cmp "$IMG" damaged.img
'

# The damaged blob fails with EIO; the other files read as before.
eio_on_tail() {
	! cat "$MNT/e/tail" >/dev/null 2>cat.err &&
	grep -q "Input/output error" cat.err &&
	intact e/tail
}
test_expect_success 'a damaged blob: exit 4, the file and bytes named; others repairable' '
	cp "$BASE" "$IMG" &&
	ps=$("$DAMAGE" "$IMG" page-size) &&
	pg=$("$DAMAGE" "$IMG" blob-page /e/tail 1) &&
	flip "$IMG" $((pg * ps + 100)) &&
	"$DAMAGE" "$IMG" set-nlink /d/a 3 &&
	cp "$IMG" damaged.img &&
	detected "blob [0-9]+ at page $pg .*unreadable" &&
	grep -q "inode $(ino_of /e/tail): bytes 65536\.\.131071 (chunk 1) are in damaged blob" n.out &&
	expect_fsck 4 y.out -y "$IMG" &&
	grep -q "nlink 3 -> 2" y.out &&
	grep -q "1 left" y.out &&
	on_mount eio_on_tail
'

test_expect_success 'a truncated image cannot be opened (exit 8)' '
	head -c 20000 "$BASE" >"$IMG" &&
	expect_fsck 8 n.out -n "$IMG" &&
	grep -q "not a slatefs image\|cannot be opened" n.out
'

# --- operational errors, levels, modes ---------------------------------------------

test_expect_success 'a mounted image: exit 8 with -n and -y' '
	cp "$BASE" "$IMG" &&
	fs_mount &&
	rc=0 &&
	expect_fsck 8 n.out -n "$IMG" || rc=1
	expect_fsck 8 y.out -y "$IMG" || rc=1
	fs_umount &&
	test $rc = 0 &&
	grep -q "is mounted (in use): unmount it first" n.out &&
	grep -q "is mounted (in use): unmount it first" y.out
'

test_expect_success 'a missing file, a text file, a directory: exit 8' '
	expect_fsck 8 a.out -n "$ML_TMP/no-such-image" &&
	grep -q "cannot open .*No such file" a.out &&
	echo "not an image" >text &&
	expect_fsck 8 b.out -n text &&
	grep -q "text is not a slatefs image" b.out &&
	expect_fsck 8 c.out -y "$ML_TMP/mnt" &&
	grep -q "is not a slatefs image\|cannot open .*Is a directory" c.out
'

test_expect_success 'usage errors: exit 16' '
	expect_fsck 16 u.out -n -y "$BASE" &&
	expect_fsck 16 u.out --level deep "$BASE" &&
	expect_fsck 16 u.out
'

test_expect_success '--level header and pages look only as far as they say' '
	damaged set-nlink /d/a 5 &&
	expect_fsck 0 h.out -n --level header "$IMG" &&
	expect_fsck 0 p.out -n --level pages "$IMG" &&
	expect_fsck 4 f.out -n --level full "$IMG" &&
	cp "$BASE" "$IMG" &&
	ps=$("$DAMAGE" "$IMG" page-size) &&
	pg=$("$DAMAGE" "$IMG" tree-page inode) &&
	flip "$IMG" $((pg * ps + 300)) &&
	expect_fsck 0 h.out -n --level header "$IMG" &&
	expect_fsck 4 p.out -n --level pages "$IMG" &&
	grep -q "page $pg: unreadable" p.out &&
	cp "$BASE" "$IMG" &&
	cur=$("$DAMAGE" "$IMG" current-slot) &&
	flip "$IMG" $(((1 - cur) * 4096 + 40)) &&
	expect_fsck 4 h.out -n --level header "$IMG" &&
	grep -q "commit slot [01] is damaged" h.out
'

test_expect_success 'no -n or -y and no terminal: a check only' '
	damaged set-nlink /d/a 5 &&
	expect_fsck 4 q.out "$IMG" &&
	grep -q "run fsck.slatefs -y" q.out &&
	cmp "$IMG" damaged.img
'

test_expect_success '-y on a clean image: exit 0, not a byte changed' '
	cp "$BASE" "$IMG" &&
	expect_fsck 0 y.out -y "$IMG" &&
	cmp "$IMG" "$BASE"
'

if command -v script >/dev/null 2>&1; then
	test_set_prereq SCRIPT
fi

# on_tty ANSWERS ARGS...: fsck.slatefs ARGS on a terminal (script(1)), its
# questions answered by the lines of ANSWERS; exit status in tty.rc.
on_tty() {
	printf "$1" | script -qec "\"$FSCK\" $2; echo \$? >tty.rc" /dev/null >tty.out 2>&1
	cat tty.out
}

test_expect_success SCRIPT 'on a terminal: a question per kind of problem; no changes nothing' '
	cp "$BASE" "$IMG" &&
	"$DAMAGE" "$IMG" set-nlink /d/a 5 &&
	"$DAMAGE" "$IMG" set-size /d 40 &&
	cp "$IMG" damaged.img &&
	on_tty "n\nn\n" "\"$IMG\"" &&
	test "$(cat tty.rc)" = 4 &&
	grep -q "set link counts to the entries that name each inode?" tty.out &&
	grep -q "set directory sizes to their number of entries?" tty.out &&
	cmp "$IMG" damaged.img &&
	on_tty "y\nn\n" "\"$IMG\"" &&
	test "$(cat tty.rc)" = 4 &&
	expect_fsck 4 n.out -n "$IMG" &&
	! grep -q "nlink 5" n.out && grep -q "size 40" n.out &&
	on_tty "y\n" "\"$IMG\"" &&
	test "$(cat tty.rc)" = 1 &&
	expect_fsck 0 n.out -n "$IMG"
'

test_expect_success 'a progress bar with --progress' '
	expect_fsck 0 p.out -n --progress "$BASE" &&
	grep -q "100%" p.out
'

test_expect_success 'no sanitizer report in the daemon log' '
	! grep -E -A 20 "runtime error|Sanitizer" "$ML_DLOG"
'

test_done
