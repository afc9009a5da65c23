/*
 * links.c — POSIX checks of names that point at inodes: link (nlink counts,
 * shared data, errors), unlink, symlink and readlink (lengths up to 4095,
 * truncation, errors, following), and a file that is unlinked while open
 * (still readable and writable until the last close).
 */
#include "pc.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static void t_link(void)
{
	struct stat a, b;

	PC_OK(pc_make_file("f", 5000, 1));
	PC_OK(link("f", "g"));
	PC_OK(mkdir("d", 0755));
	PC_OK(link("f", "d/h"));
	a = pc_lstat("f");
	b = pc_lstat("d/h");
	PC_EQ(a.st_ino, b.st_ino);
	PC_EQ(a.st_nlink, 3);
	PC_EQ(b.st_nlink, 3);
	/* Data written through one name is read through another. */
	int fd = PC_OK(open("g", O_WRONLY));
	PC_OK(pc_write_pattern(fd, 0, 5000, 2));
	close(fd);
	PC_FILE_IS("d/h", 5000, 2);
	PC_ERR(link("f", "g"), EEXIST);
	PC_ERR(link("missing", "x"), ENOENT);
	PC_ERR(link("f", "missing/x"), ENOENT);
	PC_ERR(link("d", "d2"), EPERM);
	PC_OK(unlink("f"));
	PC_EQ(pc_lstat("g").st_nlink, 2);
	PC_OK(unlink("d/h"));
	PC_EQ(pc_lstat("g").st_nlink, 1);
	PC_FILE_IS("g", 5000, 2);
	PC_ERR(unlink("f"), ENOENT);
	PC_ERR(unlink("missing/x"), ENOENT);
	PC_ERR(unlink("g/x"), ENOTDIR);
	/* Links to symlinks, fifos. */
	PC_OK(symlink("g", "s"));
	PC_OK(link("s", "s2"));
	PC_CHECK(S_ISLNK(pc_lstat("s2").st_mode));
	PC_EQ(pc_lstat("s").st_nlink, 2);
	PC_OK(mkfifo("p", 0644));
	PC_OK(link("p", "p2"));
	PC_EQ(pc_lstat("p").st_nlink, 2);
	/* Many links to one inode. */
	char name[32];
	for (int i = 0; i < 200; i++) {
		snprintf(name, sizeof(name), "m%d", i);
		PC_OK(link("g", name));
	}
	PC_EQ(pc_lstat("g").st_nlink, 201);
	for (int i = 0; i < 200; i += 2) {
		snprintf(name, sizeof(name), "m%d", i);
		PC_OK(unlink(name));
	}
	PC_EQ(pc_lstat("m1").st_nlink, 101);
	PC_FILE_IS("m199", 5000, 2);
}

static void t_symlink(void)
{
	static const size_t lens[] = {1, 2, 60, 100, 500, 2047, 2048, 2049, 4000, 4095};
	char target[4097], buf[5000];

	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		char name[32];
		size_t n = lens[i];
		for (size_t j = 0; j < n; j++)
			target[j] = (char)('a' + (j * 7 + i) % 26);
		for (size_t j = 10; j < n; j += 50)
			target[j] = '/';
		target[n] = 0;
		snprintf(name, sizeof(name), "l%zu", n);
		PC_OK(symlink(target, name));
		struct stat st = pc_lstat(name);
		PC_CHECK(S_ISLNK(st.st_mode));
		PC_EQ(st.st_size, n);
		memset(buf, 0, sizeof(buf));
		PC_EQ(readlink(name, buf, sizeof(buf)), (ssize_t)n);
		PC_CHECKF(memcmp(buf, target, n) == 0, "readlink %s: wrong target", name);
	}
	/* A too-small buffer truncates silently. */
	PC_EQ(readlink("l100", buf, 10), 10);
	memset(target, 'x', 4096);
	target[4096] = 0;
	PC_ERR(symlink(target, "toolong"), ENAMETOOLONG);
	PC_ERR(symlink("", "empty"), ENOENT);
	PC_OK(pc_make_file("f", 10, 3));
	PC_ERR(symlink("f", "f"), EEXIST);
	PC_ERR(symlink("f", "l1"), EEXIST);
	PC_ERR(readlink("f", buf, sizeof(buf)), EINVAL);
	PC_ERR(readlink("missing", buf, sizeof(buf)), ENOENT);
	/* Following: relative, absolute-in-dir, chains, loops, dangling. */
	PC_OK(symlink("f", "rel"));
	PC_FILE_IS("rel", 10, 3);
	char cwd[4096], abs[4200];
	PC_CHECK(getcwd(cwd, sizeof(cwd)) != NULL);
	snprintf(abs, sizeof(abs), "%s/f", cwd);
	PC_OK(symlink(abs, "abs"));
	PC_FILE_IS("abs", 10, 3);
	PC_OK(symlink("rel", "chain"));
	PC_FILE_IS("chain", 10, 3);
	PC_OK(symlink("loop2", "loop1"));
	PC_OK(symlink("loop1", "loop2"));
	PC_ERR(open("loop1", O_RDONLY), ELOOP);
	PC_OK(symlink("nothing", "dangling"));
	PC_ERR(open("dangling", O_RDONLY), ENOENT);
	PC_OK(mkdir("d", 0755));
	PC_OK(symlink("d", "dl"));
	PC_OK(pc_make_file("dl/inside", 4, 4));
	PC_FILE_IS("d/inside", 4, 4);
	/* A symlink's target is not changed by chmod through it. */
	PC_OK(chmod("rel", 0600));
	PC_EQ(pc_lstat("f").st_mode & 0777, 0600);
	PC_OK(unlink("rel"));
	PC_CHECK(!pc_absent("f"));
}

static void t_unlinked_open(void)
{
	int fd = PC_OK(open("f", O_CREAT | O_RDWR, 0644));
	struct stat st;

	PC_OK(pc_write_pattern(fd, 0, 300000, 5));
	PC_OK(unlink("f"));
	PC_CHECK(pc_absent("f"));
	PC_EQ(pc_count_entries(".", "f"), 0);
	PC_OK(fstat(fd, &st));
	PC_EQ(st.st_nlink, 0);
	PC_EQ(st.st_size, 300000);
	PC_RANGE_IS(fd, 0, 300000, 5, 0);
	/* Still writable, growable, truncatable. */
	PC_OK(pc_write_pattern(fd, 300000, 100000, 5));
	PC_OK(fsync(fd));
	PC_RANGE_IS(fd, 0, 400000, 5, 0);
	PC_OK(ftruncate(fd, 1000));
	PC_OK(fstat(fd, &st));
	PC_EQ(st.st_size, 1000);
	PC_RANGE_IS(fd, 0, 1000, 5, 0);
	PC_OK(fchmod(fd, 0600));
	/* A second open fd on it (through /proc) keeps it alive after the first closes. */
	char proc[64];
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	int fd2 = PC_OK(open(proc, O_RDWR));
	close(fd);
	PC_RANGE_IS(fd2, 0, 1000, 5, 0);
	PC_OK(pc_write_pattern(fd2, 1000, 70000, 5));
	PC_RANGE_IS(fd2, 0, 71000, 5, 0);
	close(fd2);
	/* A new file with the same name is a new inode. */
	PC_OK(pc_make_file("f", 3, 6));
	PC_FILE_IS("f", 3, 6);
	/* Unlink of one of two links while open: the other name keeps the data. */
	PC_OK(pc_make_file("a", 100, 7));
	PC_OK(link("a", "b"));
	fd = PC_OK(open("a", O_RDWR));
	PC_OK(unlink("a"));
	PC_OK(fstat(fd, &st));
	PC_EQ(st.st_nlink, 1);
	PC_OK(pc_write_pattern(fd, 0, 200, 8));
	close(fd);
	PC_FILE_IS("b", 200, 8);
	/* Rename over an open file: the old inode lives on in the fd. */
	PC_OK(pc_make_file("old", 5000, 9));
	PC_OK(pc_make_file("new", 10, 10));
	fd = PC_OK(open("old", O_RDONLY));
	PC_OK(rename("new", "old"));
	PC_RANGE_IS(fd, 0, 5000, 9, 0);
	close(fd);
	PC_FILE_IS("old", 10, 10);
}

const struct pc_test pc_links_tests[] = {
	{"links/link", t_link, 0},
	{"links/symlink", t_symlink, 0},
	{"links/unlinked_open", t_unlinked_open, 0},
	{NULL, NULL, 0},
};
