/*
 * attrs.c — POSIX checks of SETATTR and timestamps: chmod (every mode bit
 * kept exactly), chown (as root and as a user), truncate and ftruncate
 * (shrink, grow, zero fill), utimensat with nanoseconds, UTIME_NOW and
 * UTIME_OMIT, times before 1970 and after 2038, and which calls update
 * mtime and ctime.
 */
#include "pc.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static long long ts_ns(struct timespec t)
{
	return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static long long now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return ts_ns(t);
}

static void t_chmod(void)
{
	static const mode_t modes[] = {0, 0644, 0777, 04755, 02755, 01777, 07777, 0400, 0111};
	struct stat st;

	PC_OK(pc_make_file("f", 10, 1));
	PC_OK(mkdir("d", 0755));
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		PC_OK(chmod("f", modes[i]));
		st = pc_lstat("f");
		PC_CHECKF((st.st_mode & 07777) == modes[i], "file mode %o, expected %o",
			  st.st_mode & 07777, modes[i]);
		PC_CHECK(S_ISREG(st.st_mode));
		PC_OK(chmod("d", modes[i]));
		st = pc_lstat("d");
		PC_CHECKF((st.st_mode & 07777) == modes[i], "dir mode %o, expected %o",
			  st.st_mode & 07777, modes[i]);
		PC_CHECK(S_ISDIR(st.st_mode));
	}
	PC_OK(chmod("d", 0755));
	PC_OK(chmod("f", 0644));
	int fd = PC_OK(open("f", O_RDONLY));
	PC_OK(fchmod(fd, 0640));
	close(fd);
	PC_EQ(pc_lstat("f").st_mode & 07777, 0640);
	PC_ERR(chmod("missing", 0644), ENOENT);
}

static void t_chown_root(void)
{
	struct stat st;

	PC_OK(pc_make_file("f", 10, 1));
	PC_OK(chown("f", 1234, 5678));
	st = pc_lstat("f");
	PC_EQ(st.st_uid, 1234);
	PC_EQ(st.st_gid, 5678);
	PC_OK(chown("f", (uid_t)-1, 99));
	st = pc_lstat("f");
	PC_EQ(st.st_uid, 1234);
	PC_EQ(st.st_gid, 99);
	PC_OK(chown("f", 77, (gid_t)-1));
	st = pc_lstat("f");
	PC_EQ(st.st_uid, 77);
	PC_EQ(st.st_gid, 99);
	/* lchown changes the link, not its target. */
	PC_OK(symlink("f", "l"));
	PC_OK(lchown("l", 4000, 4001));
	PC_EQ(pc_lstat("l").st_uid, 4000);
	PC_EQ(pc_lstat("f").st_uid, 77);
	/* chown by root clears setuid/setgid of an executable file. */
	PC_OK(chmod("f", 06755));
	PC_OK(chown("f", 78, 79));
	st = pc_lstat("f");
	PC_CHECKF((st.st_mode & 06000) == 0, "mode %o after chown", st.st_mode & 07777);
	PC_EQ(st.st_mode & 0777, 0755);
	/* ...but not the setgid bit of a directory. */
	PC_OK(mkdir("d", 02755));
	PC_OK(chmod("d", 02755));
	PC_OK(chown("d", 78, 79));
	PC_EQ(pc_lstat("d").st_mode & 07777, 02755);
	/* Files created in a setgid directory take its group; subdirs inherit it. */
	PC_OK(pc_make_file("d/in", 1, 2));
	PC_EQ(pc_lstat("d/in").st_gid, 79);
	PC_OK(mkdir("d/sub", 0755));
	PC_EQ(pc_lstat("d/sub").st_gid, 79);
	PC_CHECK(pc_lstat("d/sub").st_mode & S_ISGID);
}

static void t_chown_user(void)
{
	PC_OK(pc_make_file("f", 10, 1));
	PC_OK(chown("f", geteuid(), getegid()));
	PC_OK(chown("f", (uid_t)-1, (gid_t)-1));
	PC_ERR(chown("f", geteuid() + 1, (gid_t)-1), EPERM);
	PC_ERR(chown("f", (uid_t)-1, getegid() + 1), EPERM);
	PC_ERR(chown("f", 0, 0), EPERM);
	PC_EQ(pc_lstat("f").st_uid, geteuid());
}

static void t_truncate(void)
{
	int fd;

	PC_OK(pc_make_file("f", 200000, 3));
	PC_OK(truncate("f", 100001));
	PC_EQ(pc_lstat("f").st_size, 100001);
	PC_OK(truncate("f", 300000));
	fd = PC_OK(open("f", O_RDONLY));
	PC_RANGE_IS(fd, 0, 100001, 3, 0);
	PC_RANGE_IS(fd, 100001, 300000 - 100001, 0, 0);
	close(fd);
	/* Shrink into the middle of a chunk, then grow: no stale bytes. */
	fd = PC_OK(open("f", O_RDWR));
	PC_OK(pc_write_pattern(fd, 0, 300000, 4));
	PC_OK(ftruncate(fd, 70000));
	PC_OK(ftruncate(fd, 140000));
	PC_RANGE_IS(fd, 0, 70000, 4, 0);
	PC_RANGE_IS(fd, 70000, 70000, 0, 0);
	/* Shrink to a few bytes (inline) and grow again. */
	PC_OK(ftruncate(fd, 5));
	PC_OK(ftruncate(fd, 5000));
	PC_RANGE_IS(fd, 0, 5, 4, 0);
	PC_RANGE_IS(fd, 5, 4995, 0, 0);
	PC_OK(ftruncate(fd, 0));
	PC_EQ(pc_lstat("f").st_size, 0);
	close(fd);
	/* truncate of a directory or a missing file. */
	PC_OK(mkdir("d", 0755));
	PC_ERR(truncate("d", 0), EISDIR);
	PC_ERR(truncate("missing", 0), ENOENT);
	PC_ERR(truncate("f", -1), EINVAL);
}

static void t_utimens_ns(void)
{
	struct timespec ts[2] = {{1234567890, 123456789}, {987654321, 999999999}};
	struct stat st;

	PC_OK(pc_make_file("f", 10, 1));
	PC_OK(utimensat(AT_FDCWD, "f", ts, 0));
	st = pc_lstat("f");
	PC_EQ(st.st_atim.tv_sec, 1234567890);
	PC_EQ(st.st_atim.tv_nsec, 123456789);
	PC_EQ(st.st_mtim.tv_sec, 987654321);
	PC_EQ(st.st_mtim.tv_nsec, 999999999);
	/* Before 1970 and after 2038. */
	struct timespec old[2] = {{-1000000000LL, 5}, {4102444800LL, 1}};
	PC_OK(utimensat(AT_FDCWD, "f", old, 0));
	st = pc_lstat("f");
	PC_EQ(st.st_atim.tv_sec, -1000000000LL);
	PC_EQ(st.st_atim.tv_nsec, 5);
	PC_EQ(st.st_mtim.tv_sec, 4102444800LL);
	PC_EQ(st.st_mtim.tv_nsec, 1);
	/* UTIME_OMIT leaves a time alone; UTIME_NOW sets it to now. */
	long long before = now_ns();
	struct timespec om[2] = {{0, UTIME_OMIT}, {0, UTIME_NOW}};
	PC_OK(utimensat(AT_FDCWD, "f", om, 0));
	long long after = now_ns();
	st = pc_lstat("f");
	PC_EQ(st.st_atim.tv_sec, -1000000000LL);
	PC_EQ(st.st_atim.tv_nsec, 5);
	PC_CHECKF(ts_ns(st.st_mtim) >= before - 1000000000LL && ts_ns(st.st_mtim) <= after + 1000000000LL,
		  "UTIME_NOW mtime %lld not in [%lld, %lld]", ts_ns(st.st_mtim), before, after);
	/* NULL sets both to now; ctime always moves to now. */
	PC_OK(utimensat(AT_FDCWD, "f", NULL, 0));
	st = pc_lstat("f");
	PC_CHECK(ts_ns(st.st_atim) >= before - 1000000000LL);
	PC_CHECK(ts_ns(st.st_ctim) >= before - 1000000000LL);
	/* futimens and the symlink itself (AT_SYMLINK_NOFOLLOW). */
	int fd = PC_OK(open("f", O_RDONLY));
	PC_OK(futimens(fd, ts));
	close(fd);
	PC_EQ(pc_lstat("f").st_mtim.tv_nsec, 999999999);
	PC_OK(symlink("f", "l"));
	struct timespec lt[2] = {{1000, 1}, {2000, 2}};
	PC_OK(utimensat(AT_FDCWD, "l", lt, AT_SYMLINK_NOFOLLOW));
	PC_EQ(pc_lstat("l").st_mtim.tv_sec, 2000);
	PC_EQ(pc_lstat("l").st_mtim.tv_nsec, 2);
	PC_EQ(pc_lstat("f").st_mtim.tv_sec, 987654321);
	/* Directories too. */
	PC_OK(mkdir("d", 0755));
	PC_OK(utimensat(AT_FDCWD, "d", ts, 0));
	PC_EQ(pc_lstat("d").st_mtim.tv_nsec, 999999999);
	struct timespec bad[2] = {{0, 1000000000}, {0, 0}};
	PC_ERR(utimensat(AT_FDCWD, "f", bad, 0), EINVAL);
}

/* Which operations move mtime and ctime (set far in the past first). */
static void t_time_updates(void)
{
	struct timespec past[2] = {{100000, 0}, {100000, 0}};
	long long before = now_ns() - 2000000000LL;
	struct stat st;
	int fd;

	PC_OK(pc_make_file("f", 10, 1));
	PC_OK(mkdir("d", 0755));
#define RESET(p) PC_OK(utimensat(AT_FDCWD, (p), past, AT_SYMLINK_NOFOLLOW))
#define MOVED(p, field) (ts_ns(pc_lstat(p).field) >= before)
	RESET("f");
	fd = PC_OK(open("f", O_WRONLY));
	PC_EQ(write(fd, "x", 1), 1);
	close(fd);
	PC_CHECKF(MOVED("f", st_mtim), "write did not update mtime");
	PC_CHECKF(MOVED("f", st_ctim), "write did not update ctime");
	RESET("f");
	PC_OK(truncate("f", 3));
	PC_CHECKF(MOVED("f", st_mtim), "truncate did not update mtime");
	RESET("f");
	st = pc_lstat("f");
	PC_OK(chmod("f", 0600));
	PC_CHECKF(MOVED("f", st_ctim), "chmod did not update ctime");
	PC_EQ(pc_lstat("f").st_mtim.tv_sec, 100000);
	/* Directory entries changing move the directory's mtime and ctime. */
	RESET("d");
	PC_OK(pc_make_file("d/new", 0, 1));
	PC_CHECKF(MOVED("d", st_mtim), "create did not update the parent's mtime");
	RESET("d");
	PC_OK(unlink("d/new"));
	PC_CHECKF(MOVED("d", st_mtim), "unlink did not update the parent's mtime");
	RESET("d");
	PC_OK(mkdir("d/sub", 0755));
	PC_CHECKF(MOVED("d", st_mtim), "mkdir did not update the parent's mtime");
	RESET("d");
	PC_OK(rename("d/sub", "d/sub2"));
	PC_CHECKF(MOVED("d", st_mtim), "rename did not update the parent's mtime");
	/* link changes the inode's ctime. */
	RESET("f");
	PC_OK(link("f", "f2"));
	PC_CHECKF(MOVED("f", st_ctim), "link did not update ctime");
	/* read moves atime only if the mount allows; never mtime. */
	RESET("f");
	fd = PC_OK(open("f", O_RDONLY));
	char buf[4];
	PC_OK(read(fd, buf, 3));
	close(fd);
	PC_EQ(pc_lstat("f").st_mtim.tv_sec, 100000);
	(void)st;
#undef RESET
#undef MOVED
}

/* stat fields that any filesystem must fill in. */
static void t_stat_fields(void)
{
	struct stat st, st2;

	PC_OK(pc_make_file("f", 123456, 1));
	PC_OK(stat("f", &st));
	PC_EQ(st.st_size, 123456);
	PC_CHECK(st.st_ino != 0);
	PC_CHECK(st.st_blksize > 0);
	PC_CHECKF((long long)st.st_blocks * 512 >= 123456 - 4096 * 2,
		  "st_blocks %lld too small for 123456 bytes", (long long)st.st_blocks);
	PC_OK(stat(".", &st2));
	PC_EQ(st.st_dev, st2.st_dev);
	PC_CHECK(st.st_ino != st2.st_ino);
	/* Inode numbers are stable across lookups. */
	PC_OK(stat("./f", &st2));
	PC_EQ(st.st_ino, st2.st_ino);
	int fd = PC_OK(open("f", O_RDONLY));
	PC_OK(fstat(fd, &st2));
	close(fd);
	PC_EQ(st.st_ino, st2.st_ino);
	PC_EQ(st.st_mode, st2.st_mode);
}

const struct pc_test pc_attrs_tests[] = {
	{"attrs/chmod", t_chmod, 0},
	{"attrs/chown_root", t_chown_root, PC_ROOT},
	{"attrs/chown_user", t_chown_user, PC_NONROOT},
	{"attrs/truncate", t_truncate, 0},
	{"attrs/utimens_ns", t_utimens_ns, 0},
	{"attrs/time_updates", t_time_updates, 0},
	{"attrs/stat_fields", t_stat_fields, 0},
	{NULL, NULL, 0},
};
