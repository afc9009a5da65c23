#!/bin/bash
# tests/fs/t-posix.sh — the POSIX behaviour suite on a real mount: every
# operation and its error codes (posix-check, as root and as an
# unprivileged user, on an allow_other,default_permissions mount), POSIX
# ACLs with -o acl, a read-only mount, and the daemon's refusals: unknown
# or malformed options, a second mount of the same image, files that are
# not images. Everything written must survive an unmount and remount.
test_description='POSIX behaviour, permissions, ACLs, ro mounts, mount errors'
. "$SLATEFS_SOURCE_DIR/tests/lib/mount-lib.sh"

PC=$HELPERS/posix-check
PC_ARGS="-t $ML_TARGET -u $TEST_UID:$TEST_GID:$TEST_UID2:$TEST_GID2"

fs_mkfs || exit 1

test_expect_success 'mount with allow_other,default_permissions' '
	fs_mount -o allow_other,default_permissions &&
	chmod 755 "$MNT" &&
	mountpoint -q "$MNT"
'

test_expect_success 'the POSIX suite as root' '
	mkdir "$MNT/root" &&
	"$PC" $PC_ARGS "$MNT/root"
'

test_expect_success 'the POSIX suite as an unprivileged user' '
	mkdir "$MNT/user" &&
	chown "$TEST_UID:$TEST_GID" "$MNT/user" &&
	as_user "$PC" $PC_ARGS "$MNT/user"
'

test_expect_success 'a user cannot write the root-owned top directory' '
	! as_user touch "$MNT/nope" &&
	! as_user mkdir "$MNT/nope" &&
	test ! -e "$MNT/nope" &&
	as_user ls "$MNT" >/dev/null
'

test_expect_success 'everything survives an unmount and a remount' '
	fs_snapshot "$MNT" >before &&
	fs_umount &&
	fs_fsck &&
	fs_mount -o allow_other &&
	fs_snapshot "$MNT" >after &&
	diff before after
'

test_expect_success 'default_permissions is on by default (mounted without it)' '
	echo secret >"$MNT/private" &&
	chmod 600 "$MNT/private" &&
	! as_user cat "$MNT/private" &&
	! as_user sh -c "echo x >>\"$MNT/private\"" &&
	mkdir -m 700 "$MNT/closed" &&
	! as_user ls "$MNT/closed" &&
	chmod 644 "$MNT/private" &&
	as_user cat "$MNT/private" >/dev/null &&
	rm -r "$MNT/private" "$MNT/closed"
'

test_expect_success 'the suite runs again on the remounted filesystem' '
	mkdir "$MNT/again" &&
	"$PC" $PC_ARGS "$MNT/again" files/ dirs/ rename/ links/ &&
	fs_umount &&
	fs_fsck
'

# --- POSIX ACLs ---------------------------------------------------------------

test_expect_success ACL 'acl: mount with -o acl' '
	fs_mount -o acl,allow_other,default_permissions &&
	mkdir -m 755 "$MNT/acl"
'

test_expect_success ACL 'acl: a named user entry grants and limits access' '
	cd "$MNT/acl" &&
	echo secret >f &&
	chmod 600 f &&
	! as_user cat f &&
	setfacl -m "u:$TEST_UID:r" f &&
	getfacl -n f >acl.out &&
	grep -q "^user:$TEST_UID:r--" acl.out &&
	grep -q "^mask::r--" acl.out &&
	as_user cat f >/dev/null &&
	! as_user sh -c "echo more >>f" &&
	setfacl -m "u:$TEST_UID:rw" f &&
	as_user sh -c "echo more >>f" &&
	test "$(cat f)" = "secret
more" &&
	! as_user2 cat f
'

test_expect_success ACL 'acl: the mask limits named entries, and chmod sets the mask' '
	cd "$MNT/acl" &&
	echo data >m &&
	chmod 600 m &&
	setfacl -m "u:$TEST_UID:rw" m &&
	setfacl -m m::r m &&
	getfacl -n m | grep -q "^user:$TEST_UID:rw-.*#effective:r--" &&
	as_user cat m >/dev/null &&
	! as_user sh -c "echo x >>m" &&
	chmod 600 m &&
	getfacl -n m | grep -q "^mask::---" &&
	! as_user cat m &&
	chmod 660 m &&
	as_user sh -c "echo x >>m"
'

test_expect_success ACL 'acl: named group entries' '
	cd "$MNT/acl" &&
	echo g >g &&
	chmod 600 g &&
	setfacl -m "g:$TEST_GID2:r" g &&
	as_user2 cat g >/dev/null &&
	! as_user cat g
'

test_expect_success ACL 'acl: default ACLs are inherited by new files and directories' '
	cd "$MNT/acl" &&
	mkdir -m 700 d &&
	setfacl -m "u:$TEST_UID:rwx" d &&
	setfacl -d -m "u:$TEST_UID:rwx" d &&
	getfacl -n d | grep -q "^default:user:$TEST_UID:rwx" &&
	touch d/new &&
	mkdir d/sub &&
	getfacl -n d/new | grep -q "^user:$TEST_UID:rwx" &&
	getfacl -n d/sub | grep -q "^default:user:$TEST_UID:rwx" &&
	getfacl -n d/sub | grep -q "^user:$TEST_UID:rwx" &&
	as_user sh -c "echo hi >d/new" &&
	as_user touch d/sub/by-user &&
	as_user ls d >/dev/null &&
	! as_user2 ls d
'

test_expect_success ACL 'acl: a user sets an ACL on their own file for another user' '
	cd "$MNT/acl" &&
	mkdir -m 777 shared &&
	as_user sh -c "echo mine >shared/u && chmod 600 shared/u" &&
	! as_user2 cat shared/u &&
	as_user setfacl -m "u:$TEST_UID2:r" shared/u &&
	as_user2 cat shared/u >/dev/null &&
	! as_user2 setfacl -m "u:$TEST_UID2:rw" shared/u &&
	! as_user2 sh -c "echo x >>shared/u"
'

test_expect_success ACL 'acl: removing the ACL restores the mode bits' '
	cd "$MNT/acl" &&
	setfacl -b f &&
	! getfacl -n f | grep -q "^user:$TEST_UID" &&
	! as_user cat f &&
	test "$(stat -c %a f)" = 600
'

test_expect_success ACL 'acl: ACLs survive a remount and the image checks' '
	getfacl -n -R "$MNT/acl" >acl.before &&
	fs_umount &&
	fs_fsck &&
	fs_mount -o acl,allow_other &&
	getfacl -n -R "$MNT/acl" >acl.after &&
	diff acl.before acl.after &&
	as_user sh -c "echo again >>\"$MNT/acl/d/new\"" &&
	fs_umount
'

# --- read-only mounts -----------------------------------------------------------

test_expect_success 'ro: EROFS from every change, reads intact' '
	fs_mount &&
	"$PC" $PC_ARGS "$MNT" rofs/setup &&
	fs_umount &&
	fs_mount -o ro &&
	"$PC" $PC_ARGS "$MNT" rofs/check &&
	fs_umount
'

test_expect_success SLATEFS 'ro: the image is not modified by a read-only mount' '
	md5sum "$IMG" >img.before &&
	fs_mount -o ro &&
	cat "$MNT/ro/f" >/dev/null &&
	ls -lR "$MNT" >/dev/null &&
	fs_umount &&
	md5sum "$IMG" >img.after &&
	diff img.before img.after
'

# --- refusals -----------------------------------------------------------------

# try_mount MOUNTPOINT ARGS...: run the daemon in the foreground, expecting
# it to refuse: it must exit non-zero within 20 s and leave nothing mounted.
# Its output is in try.err.
try_mount() {
	mp=$1
	shift
	mkdir -p "$mp"
	if timeout 20 "$SLATEFS" "$@" "$mp" -f >try.out 2>try.err </dev/null; then
		echo "the daemon accepted: $*"
		fusermount3 -u "$mp" 2>/dev/null
		return 1
	fi
	cat try.out try.err >>try.err.all
	if mountpoint -q "$mp"; then
		echo "$mp was mounted despite the error"
		fusermount3 -u "$mp"
		return 1
	fi
	if ! test -s try.err; then
		echo "no error message for: $*"
		return 1
	fi
	cat try.err
}

test_expect_success SLATEFS 'an unknown mount option is a clear error' '
	try_mount "$ML_TMP/m2" "$IMG" -o no_such_option &&
	grep -q no_such_option try.err &&
	try_mount "$ML_TMP/m2" "$IMG" -o acl,bogus=3 &&
	grep -q bogus try.err
'

test_expect_success SLATEFS 'malformed option values are clear errors' '
	try_mount "$ML_TMP/m2" "$IMG" -o commit=abc &&
	grep -q commit try.err &&
	try_mount "$ML_TMP/m2" "$IMG" -o compress=zstd &&
	grep -q compress try.err &&
	try_mount "$ML_TMP/m2" "$IMG" -o max_size=lots &&
	grep -q max_size try.err &&
	try_mount "$ML_TMP/m2" "$IMG" -o cache=-5 &&
	grep -q cache try.err
'

test_expect_success SLATEFS 'a second mount of the same image is refused' '
	fs_mount &&
	echo first >"$MNT/first" &&
	try_mount "$ML_TMP/m3" "$IMG" &&
	test "$(cat "$MNT/first")" = first &&
	echo still >"$MNT/second" &&
	fs_umount &&
	fs_fsck
'

test_expect_success SLATEFS 'files that are not images are refused' '
	head -c 1048576 /dev/urandom >random.img &&
	try_mount "$ML_TMP/m2" random.img &&
	: >empty.img &&
	try_mount "$ML_TMP/m2" empty.img &&
	printf "hello\n" >text.img &&
	try_mount "$ML_TMP/m2" text.img &&
	try_mount "$ML_TMP/m2" "$ML_TMP/no-such-file" &&
	mkdir notafile &&
	try_mount "$ML_TMP/m2" notafile
'

test_expect_success SLATEFS 'a damaged image is refused, the intact one still mounts' '
	cp "$IMG" damaged.img &&
	dd if=/dev/urandom of=damaged.img bs=4096 count=4 conv=notrunc 2>/dev/null &&
	try_mount "$ML_TMP/m2" damaged.img &&
	fs_mount &&
	test "$(cat "$MNT/first")" = first &&
	fs_umount
'

test_expect_success SLATEFS 'mkfs refuses to overwrite an existing file without --force' '
	echo precious >precious &&
	! "$MKFS" precious 2>mkfs.err &&
	test -s mkfs.err &&
	test "$(cat precious)" = precious &&
	"$MKFS" --force precious &&
	"$FSCK" -n precious
'

test_expect_success SLATEFS 'the image passes fsck at the end' '
	fs_fsck
'

test_done
