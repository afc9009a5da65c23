/*
 * perm.c — permission checks between users (run as root; the checks run in
 * children switched to the unprivileged test users): EACCES and EPERM where
 * the kernel's default_permissions must refuse, and the cases that must
 * SUCCEED with no extra check in the daemon — the SETATTR that clears
 * setuid/setgid when another user writes, ftruncate through an fd opened
 * for writing, truncate and utimensat(UTIME_NOW) by a user who may write.
 */
#include "pc.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

/* Make a root-owned file with mode and len bytes. */
static void root_file(const char *name, mode_t mode, size_t len)
{
	PC_OK(pc_make_file(name, len, 1));
	PC_OK(chown(name, 0, 0));
	PC_OK(chmod(name, mode));
}

static void user_denied(void *arg)
{
	struct timespec ts[2] = {{1000, 0}, {2000, 0}};
	char buf[16];

	(void)arg;
	PC_ERR(open("secret", O_RDONLY), EACCES);
	PC_ERR(open("public", O_WRONLY), EACCES);
	PC_ERR(open("public", O_RDWR | O_TRUNC), EACCES);
	PC_ERR(truncate("public", 0), EACCES);
	PC_OK(open("public", O_RDONLY));
	PC_ERR(open("rootdir/new", O_CREAT | O_WRONLY, 0644), EACCES);
	PC_ERR(mkdir("rootdir/newdir", 0755), EACCES);
	PC_ERR(unlink("rootdir/file"), EACCES);
	PC_ERR(rename("rootdir/file", "rootdir/file2"), EACCES);
	PC_ERR(symlink("x", "rootdir/sym"), EACCES);
	/* EPERM when fs.protected_hardlinks refuses first. */
	PC_ERR2(link("public", "rootdir/hard"), EACCES, EPERM);
	PC_ERR(mknod("rootdir/fifo", S_IFIFO | 0644, 0), EACCES);
	PC_ERR(rmdir("rootdir/subdir"), EACCES);
	PC_ERR(chmod("public", 0777), EPERM);
	PC_ERR(chown("public", pc_uid, pc_gid), EPERM);
	PC_ERR(utimensat(AT_FDCWD, "public", ts, 0), EPERM);
	PC_ERR(utimensat(AT_FDCWD, "public", NULL, 0), EACCES);
	PC_ERR(setxattr("public", "user.x", "1", 1, 0), EACCES);
	PC_ERR(setxattr("public", "trusted.x", "1", 1, 0), EPERM);
	PC_ERR(getxattr("secret", "user.x", buf, sizeof(buf)), EACCES);
	/* No search permission: nothing inside can be reached. */
	PC_ERR(stat("closed/file", &(struct stat){0}), EACCES);
	PC_ERR(opendir("closed") ? 0 : -1, EACCES);
	/* Search but no read: known names work, listing does not. */
	PC_OK(stat("searchonly/file", &(struct stat){0}));
	PC_ERR(opendir("searchonly") ? 0 : -1, EACCES);
	/* Devices need privilege. */
	PC_ERR(mknod("mine/dev", S_IFCHR | 0600, makedev(1, 3)), EPERM);
	/* Group permissions with the primary group only. */
	PC_ERR(open("groupfile", O_WRONLY), EACCES);
}

static void user_allowed(void *arg)
{
	(void)arg;
	/* truncate and ftruncate on a file the user may write. */
	PC_OK(truncate("shared", 100));
	int fd = PC_OK(open("shared", O_WRONLY));
	PC_OK(ftruncate(fd, 50));
	PC_OK(pc_write_pattern(fd, 0, 10, 2));
	close(fd);
	/* ftruncate through an fd opened for writing, after the mode changed. */
	fd = PC_OK(open("shared2", O_RDWR));
	PC_OK(ftruncate(fd, 7));
	close(fd);
	/* utimensat(UTIME_NOW) by a user who may write, though not the owner. */
	PC_OK(utimensat(AT_FDCWD, "shared", NULL, 0));
	struct timespec now[2] = {{0, UTIME_NOW}, {0, UTIME_NOW}};
	PC_OK(utimensat(AT_FDCWD, "shared", now, 0));
	/* Writing another user's setuid/setgid file: the kernel clears the bits. */
	fd = PC_OK(open("suid", O_WRONLY));
	PC_EQ(write(fd, "x", 1), 1);
	close(fd);
	fd = PC_OK(open("suid2", O_RDWR));
	PC_OK(ftruncate(fd, 1));
	close(fd);
	/* Group read with the primary group. */
	fd = PC_OK(open("groupfile", O_RDONLY));
	close(fd);
	/* World-writable sticky directory: create, then unlink own files. */
	PC_OK(pc_make_file("sticky/mine", 3, 3));
	PC_OK(rename("sticky/mine", "sticky/mine2"));
	PC_OK(chmod("sticky/mine2", 0666));
	/* The user's own directory: everything is allowed. */
	PC_OK(pc_make_file("mine/f", 10, 4));
	PC_OK(chmod("mine/f", 04700));
	PC_OK(setxattr("mine/f", "user.x", "1", 1, 0));
	PC_OK(utimensat(AT_FDCWD, "mine/f", (struct timespec[2]){{5, 5}, {6, 6}}, 0));
	PC_EQ(pc_lstat("mine/f").st_mtim.tv_nsec, 6);
	PC_OK(unlink("mine/f"));
}

static void user2_sticky(void *arg)
{
	(void)arg;
	/* Another user may not remove or rename the first user's file. */
	PC_ERR(unlink("sticky/mine2"), EPERM);
	PC_ERR(rename("sticky/mine2", "sticky/stolen"), EPERM);
	/* ...but may write it (mode 0666). */
	int fd = PC_OK(open("sticky/mine2", O_WRONLY));
	close(fd);
	PC_OK(pc_make_file("sticky/theirs", 1, 5));
	PC_OK(unlink("sticky/theirs"));
}

static void t_cross_user(void)
{
	struct stat st;

	PC_OK(chmod(".", 0755));
	root_file("secret", 0600, 10);
	root_file("public", 0644, 10);
	root_file("shared", 0666, 1000);
	root_file("shared2", 0666, 1000);
	root_file("suid", 04777, 10);
	root_file("suid2", 06777, 10);
	root_file("groupfile", 0640, 10);
	PC_OK(chown("groupfile", 0, pc_gid));
	PC_OK(setxattr("secret", "user.x", "1", 1, 0));
	PC_OK(mkdir("rootdir", 0755));
	root_file("rootdir/file", 0666, 1);
	PC_OK(mkdir("rootdir/subdir", 0777));
	PC_OK(mkdir("closed", 0700));
	root_file("closed/file", 0644, 1);
	PC_OK(mkdir("searchonly", 0711));
	root_file("searchonly/file", 0644, 1);
	PC_OK(mkdir("sticky", 01777));
	PC_OK(chmod("sticky", 01777));
	PC_OK(mkdir("mine", 0755));
	PC_OK(chown("mine", pc_uid, pc_gid));

	pc_as(pc_uid, pc_gid, user_denied, NULL);
	pc_as(pc_uid, pc_gid, user_allowed, NULL);
	pc_as(pc_uid2, pc_gid2, user2_sticky, NULL);

	/* What the user changed, seen by root. */
	st = pc_lstat("shared");
	PC_EQ(st.st_size, 50);
	PC_EQ(st.st_uid, 0);
	PC_EQ(st.st_mode & 07777, 0666);
	PC_EQ(pc_lstat("shared2").st_size, 7);
	st = pc_lstat("suid");
	PC_CHECKF((st.st_mode & 07777) == 0777, "suid: mode %o after another user wrote",
		  st.st_mode & 07777);
	PC_EQ(st.st_size, 10);
	st = pc_lstat("suid2");
	PC_CHECKF((st.st_mode & 07777) == 0777, "suid2: mode %o after another user truncated",
		  st.st_mode & 07777);
	PC_EQ(st.st_size, 1);
	PC_EQ(pc_lstat("public").st_mode & 07777, 0644);
	PC_CHECK(!pc_absent("rootdir/file"));
	st = pc_lstat("sticky/mine2");
	PC_EQ(st.st_uid, pc_uid);
	PC_EQ(st.st_gid, pc_gid);
	/* Root writing a setuid file keeps the bit (CAP_FSETID). */
	root_file("rootsuid", 04755, 10);
	int fd = PC_OK(open("rootsuid", O_WRONLY));
	PC_EQ(write(fd, "y", 1), 1);
	close(fd);
	PC_EQ(pc_lstat("rootsuid").st_mode & 07777, 04755);
}

/* A user writing their own setuid file loses the bit as well. */
static void own_suid(void *arg)
{
	(void)arg;
	PC_OK(pc_make_file("mine/s", 5, 1));
	PC_OK(chmod("mine/s", 04755));
	PC_EQ(pc_lstat("mine/s").st_mode & 07777, 04755);
	int fd = PC_OK(open("mine/s", O_WRONLY));
	PC_EQ(write(fd, "z", 1), 1);
	close(fd);
	PC_EQ(pc_lstat("mine/s").st_mode & 07777, 0755);
	/* chmod g+s on a file of the user's own group is kept. */
	PC_OK(pc_make_file("mine/g", 1, 1));
	PC_OK(chmod("mine/g", 02755));
	PC_EQ(pc_lstat("mine/g").st_mode & 07777, 02755);
}

static void t_own_suid(void)
{
	PC_OK(mkdir("mine", 0755));
	PC_OK(chown("mine", pc_uid, pc_gid));
	pc_as(pc_uid, pc_gid, own_suid, NULL);
}

const struct pc_test pc_perm_tests[] = {
	{"perm/cross_user", t_cross_user, PC_XUSER},
	{"perm/own_suid", t_own_suid, PC_XUSER},
	{NULL, NULL, 0},
};
