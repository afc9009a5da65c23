/*
 * rofs.c — checks of a read-only mount: "rofs/setup" makes a few objects
 * on the writable mount, "rofs/check" (after a remount with -o ro) reads
 * them back intact and gets EROFS from every call that would change
 * anything.
 */
#include "pc.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

static void t_setup(void)
{
	PC_OK(mkdir("ro", 0755));
	PC_OK(pc_make_file("ro/f", 200000, 1));
	PC_OK(pc_make_file("ro/small", 10, 2));
	PC_OK(mkdir("ro/d", 0755));
	PC_OK(mkdir("ro/d/empty", 0755));
	PC_OK(symlink("f", "ro/l"));
	PC_OK(setxattr("ro/f", "user.k", "v", 1, 0));
	PC_OK(mkfifo("ro/p", 0644));
}

static void t_check(void)
{
	struct timespec ts[2] = {{1, 0}, {2, 0}};
	char buf[16];

	/* Reading works. */
	PC_FILE_IS("ro/f", 200000, 1);
	PC_FILE_IS("ro/small", 10, 2);
	PC_EQ(readlink("ro/l", buf, sizeof(buf)), 1);
	PC_EQ(getxattr("ro/f", "user.k", buf, sizeof(buf)), 1);
	PC_EQ(listxattr("ro/f", buf, sizeof(buf)) > 0, 1);
	PC_EQ(pc_count_entries("ro", "f"), 1);
	/* Changing does not. */
	PC_ERR(open("ro/f", O_WRONLY), EROFS);
	PC_ERR(open("ro/f", O_RDWR), EROFS);
	PC_ERR(open("ro/f", O_RDONLY | O_TRUNC), EROFS);
	PC_ERR(open("ro/new", O_CREAT | O_WRONLY, 0644), EROFS);
	PC_ERR(mkdir("ro/newdir", 0755), EROFS);
	PC_ERR(mknod("ro/fifo", S_IFIFO | 0644, 0), EROFS);
	PC_ERR(symlink("x", "ro/sym"), EROFS);
	PC_ERR(link("ro/f", "ro/hard"), EROFS);
	PC_ERR(unlink("ro/small"), EROFS);
	PC_ERR(rmdir("ro/d/empty"), EROFS);
	PC_ERR(rename("ro/small", "ro/small2"), EROFS);
	PC_ERR(chmod("ro/f", 0600), EROFS);
	PC_ERR(chown("ro/f", 1, 1), EROFS);
	PC_ERR(truncate("ro/f", 0), EROFS);
	PC_ERR(utimensat(AT_FDCWD, "ro/f", ts, 0), EROFS);
	PC_ERR(utimensat(AT_FDCWD, "ro/f", NULL, 0), EROFS);
	PC_ERR(setxattr("ro/f", "user.k2", "v", 1, 0), EROFS);
	PC_ERR(removexattr("ro/f", "user.k"), EROFS);
	int fd = PC_OK(open("ro/f", O_RDONLY));
	PC_ERR(fallocate(fd, 0, 0, 10), EBADF);
	PC_ERR(ftruncate(fd, 0), EINVAL);
	close(fd);
	/* Nothing changed. */
	PC_FILE_IS("ro/f", 200000, 1);
	PC_FILE_IS("ro/small", 10, 2);
	PC_EQ(getxattr("ro/f", "user.k", buf, sizeof(buf)), 1);
	PC_CHECK(pc_absent("ro/new"));
}

const struct pc_test pc_rofs_tests[] = {
	{"rofs/setup", t_setup, PC_EXPLICIT | PC_INPLACE},
	{"rofs/check", t_check, PC_EXPLICIT | PC_INPLACE},
	{NULL, NULL, 0},
};
