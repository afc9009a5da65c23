/*
 * special.c — POSIX checks of special files made with mknod: fifos (and
 * data through one), unix sockets (bind, connect, send), character and
 * block devices with their rdev (root only; EPERM for a user), and mknod of
 * a regular file.
 */
#include "pc.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static void t_fifo(void)
{
	struct stat st;
	char buf[16] = {0};

	PC_OK(mkfifo("p", 0640));
	st = pc_lstat("p");
	PC_CHECK(S_ISFIFO(st.st_mode));
	PC_EQ(st.st_mode & 07777, 0640);
	PC_EQ(st.st_size, 0);
	PC_ERR(mkfifo("p", 0644), EEXIST);
	int r = PC_OK(open("p", O_RDONLY | O_NONBLOCK));
	int w = PC_OK(open("p", O_WRONLY | O_NONBLOCK));
	PC_EQ(write(w, "hello", 5), 5);
	PC_EQ(read(r, buf, sizeof(buf)), 5);
	PC_CHECK(memcmp(buf, "hello", 5) == 0);
	close(w);
	close(r);
	PC_OK(mknod("p2", S_IFIFO | 0600, 0));
	PC_CHECK(S_ISFIFO(pc_lstat("p2").st_mode));
	PC_OK(unlink("p"));
	PC_CHECK(pc_absent("p"));
}

static void t_socket(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char buf[8] = {0};
	int s, c, a;

	strcpy(sa.sun_path, "sock");
	s = PC_OK(socket(AF_UNIX, SOCK_STREAM, 0));
	PC_OK(bind(s, (struct sockaddr *)&sa, sizeof(sa)));
	PC_OK(listen(s, 1));
	PC_CHECK(S_ISSOCK(pc_lstat("sock").st_mode));
	c = PC_OK(socket(AF_UNIX, SOCK_STREAM, 0));
	PC_OK(connect(c, (struct sockaddr *)&sa, sizeof(sa)));
	a = PC_OK(accept(s, NULL, NULL));
	PC_EQ(write(c, "ping", 4), 4);
	PC_EQ(read(a, buf, 4), 4);
	PC_CHECK(memcmp(buf, "ping", 4) == 0);
	close(a);
	close(c);
	close(s);
	/* Binding to an existing name fails. */
	s = PC_OK(socket(AF_UNIX, SOCK_STREAM, 0));
	PC_ERR(bind(s, (struct sockaddr *)&sa, sizeof(sa)), EADDRINUSE);
	close(s);
	PC_OK(mknod("sock2", S_IFSOCK | 0644, 0));
	PC_CHECK(S_ISSOCK(pc_lstat("sock2").st_mode));
	PC_OK(unlink("sock"));
}

static void t_devices(void)
{
	struct stat st;

	PC_OK(mknod("null", S_IFCHR | 0666, makedev(1, 3)));
	st = pc_lstat("null");
	PC_CHECK(S_ISCHR(st.st_mode));
	PC_EQ(st.st_mode & 07777, 0644); /* umask 022 */
	PC_EQ(major(st.st_rdev), 1);
	PC_EQ(minor(st.st_rdev), 3);
	PC_OK(mknod("blk", S_IFBLK | 0600, makedev(7, 0)));
	st = pc_lstat("blk");
	PC_CHECK(S_ISBLK(st.st_mode));
	PC_EQ(major(st.st_rdev), 7);
	PC_EQ(minor(st.st_rdev), 0);
	/* Large major/minor numbers survive. */
	PC_OK(mknod("big", S_IFCHR | 0600, makedev(4000, 1000000)));
	st = pc_lstat("big");
	PC_EQ(major(st.st_rdev), 4000);
	PC_EQ(minor(st.st_rdev), 1000000);
	PC_ERR(mknod("null", S_IFCHR | 0666, makedev(1, 3)), EEXIST);
	/* Devices can be linked and renamed like anything else. */
	PC_OK(link("null", "null2"));
	PC_OK(rename("null2", "null3"));
	PC_EQ(pc_lstat("null3").st_rdev, makedev(1, 3));
	PC_EQ(pc_lstat("null").st_nlink, 2);
}

static void t_devices_user(void)
{
	PC_ERR(mknod("null", S_IFCHR | 0666, makedev(1, 3)), EPERM);
	PC_ERR(mknod("blk", S_IFBLK | 0666, makedev(7, 0)), EPERM);
	PC_CHECK(pc_absent("null"));
}

static void t_mknod_reg(void)
{
	PC_OK(mknod("r", S_IFREG | 0604, 0));
	struct stat st = pc_lstat("r");
	PC_CHECK(S_ISREG(st.st_mode));
	PC_EQ(st.st_mode & 07777, 0604);
	PC_EQ(st.st_size, 0);
	PC_OK(mknod("r0", 0644, 0)); /* type 0 means a regular file */
	PC_CHECK(S_ISREG(pc_lstat("r0").st_mode));
	PC_ERR(mknod("bad", S_IFDIR | 0755, 0), EPERM);
}

const struct pc_test pc_special_tests[] = {
	{"special/fifo", t_fifo, 0},
	{"special/socket", t_socket, 0},
	{"special/devices", t_devices, PC_ROOT},
	{"special/devices_user", t_devices_user, PC_NONROOT},
	{"special/mknod_reg", t_mknod_reg, 0},
	{NULL, NULL, 0},
};
