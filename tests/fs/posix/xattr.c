/*
 * xattr.c — checks of extended attributes: set/get/list/remove,
 * XATTR_CREATE/XATTR_REPLACE, ENODATA, ERANGE for short buffers and long
 * names, E2BIG past 64 KiB, values of every size up to 64 KiB read back
 * byte for byte, many attributes on one file, attributes on directories,
 * and that they follow the inode through link and rename.
 */
#include "pc.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

/* Is name (a NUL-terminated string) in the list of len bytes? Count it. */
static int list_count(const char *list, ssize_t len, const char *name)
{
	int n = 0;

	for (ssize_t off = 0; off < len; off += (ssize_t)strlen(list + off) + 1)
		if (strcmp(list + off, name) == 0)
			n++;
	return n;
}

static void t_basic(void)
{
	char buf[256], list[1024];

	PC_OK(pc_make_file("f", 10, 1));
	PC_ERR(getxattr("f", "user.a", buf, sizeof(buf)), ENODATA);
	PC_OK(setxattr("f", "user.a", "value-a", 7, 0));
	PC_EQ(getxattr("f", "user.a", buf, sizeof(buf)), 7);
	PC_CHECK(memcmp(buf, "value-a", 7) == 0);
	/* Size query and ERANGE. */
	PC_EQ(getxattr("f", "user.a", NULL, 0), 7);
	PC_ERR(getxattr("f", "user.a", buf, 6), ERANGE);
	/* CREATE and REPLACE. */
	PC_ERR(setxattr("f", "user.a", "x", 1, XATTR_CREATE), EEXIST);
	PC_ERR(setxattr("f", "user.b", "x", 1, XATTR_REPLACE), ENODATA);
	PC_OK(setxattr("f", "user.a", "longer value", 12, XATTR_REPLACE));
	PC_EQ(getxattr("f", "user.a", buf, sizeof(buf)), 12);
	PC_CHECK(memcmp(buf, "longer value", 12) == 0);
	PC_OK(setxattr("f", "user.b", "", 0, XATTR_CREATE));
	PC_EQ(getxattr("f", "user.b", buf, sizeof(buf)), 0);
	/* Values are bytes, NULs included. */
	PC_OK(setxattr("f", "user.bin", "a\0b\0\377", 5, 0));
	PC_EQ(getxattr("f", "user.bin", buf, sizeof(buf)), 5);
	PC_CHECK(memcmp(buf, "a\0b\0\377", 5) == 0);
	/* List. */
	ssize_t n = listxattr("f", list, sizeof(list));
	PC_CHECK(n > 0);
	PC_EQ(listxattr("f", NULL, 0), n);
	PC_EQ(list_count(list, n, "user.a"), 1);
	PC_EQ(list_count(list, n, "user.b"), 1);
	PC_EQ(list_count(list, n, "user.bin"), 1);
	PC_ERR(listxattr("f", list, 3), ERANGE);
	/* Remove. */
	PC_OK(removexattr("f", "user.a"));
	PC_ERR(getxattr("f", "user.a", buf, sizeof(buf)), ENODATA);
	PC_ERR(removexattr("f", "user.a"), ENODATA);
	n = listxattr("f", list, sizeof(list));
	PC_EQ(list_count(list, n, "user.a"), 0);
	PC_EQ(list_count(list, n, "user.b"), 1);
	/* fd versions, and errors. */
	int fd = PC_OK(open("f", O_RDONLY));
	PC_OK(fsetxattr(fd, "user.fd", "1", 1, 0));
	PC_EQ(fgetxattr(fd, "user.fd", buf, sizeof(buf)), 1);
	PC_OK(fremovexattr(fd, "user.fd"));
	close(fd);
	PC_ERR(getxattr("missing", "user.a", buf, sizeof(buf)), ENOENT);
	PC_ERR(setxattr("f", "", "x", 1, 0), ERANGE);
	/* Directories carry them too. */
	PC_OK(mkdir("d", 0755));
	PC_OK(setxattr("d", "user.dir", "yes", 3, 0));
	PC_EQ(getxattr("d", "user.dir", buf, sizeof(buf)), 3);
}

static void t_sizes(void)
{
	static const size_t sizes[] = {1, 100, 255, 256, 1000, 2000, 2047, 2048, 4000, 4096,
				       8192, 10000, 30000, 65535, 65536};
	char *val = malloc(65537), *got = malloc(65537);
	char name[64];

	if (!val || !got)
		abort();
	PC_OK(pc_make_file("f", 0, 1));
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		snprintf(name, sizeof(name), "user.s%zu", sizes[i]);
		pc_pattern(val, sizes[i], 20 + i, 0);
		PC_OK(setxattr("f", name, val, sizes[i], 0));
	}
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		snprintf(name, sizeof(name), "user.s%zu", sizes[i]);
		pc_pattern(val, sizes[i], 20 + i, 0);
		memset(got, 0, 65537);
		PC_EQ(getxattr("f", name, got, 65536), (ssize_t)sizes[i]);
		PC_CHECKF(memcmp(got, val, sizes[i]) == 0, "%s: value differs", name);
	}
	/* Past 64 KiB: E2BIG, and the old value stays. */
	PC_ERR(setxattr("f", "user.s100", val, 65537, 0), E2BIG);
	PC_EQ(getxattr("f", "user.s100", got, 65536), 100);
	/* Replace a big value by a small one and back. */
	PC_OK(setxattr("f", "user.s65536", "x", 1, XATTR_REPLACE));
	PC_EQ(getxattr("f", "user.s65536", got, 65536), 1);
	pc_pattern(val, 65536, 99, 0);
	PC_OK(setxattr("f", "user.s65536", val, 65536, XATTR_REPLACE));
	PC_EQ(getxattr("f", "user.s65536", got, 65536), 65536);
	PC_CHECK(memcmp(got, val, 65536) == 0);
	free(val);
	free(got);
}

static void t_names(void)
{
	char name[300], buf[16];

	PC_OK(pc_make_file("f", 0, 1));
	/* The whole name, "user." included, may be 255 bytes. */
	strcpy(name, "user.");
	memset(name + 5, 'n', 250);
	name[255] = 0;
	PC_OK(setxattr("f", name, "v", 1, 0));
	PC_EQ(getxattr("f", name, buf, sizeof(buf)), 1);
	char list[512];
	ssize_t n = listxattr("f", list, sizeof(list));
	PC_EQ(list_count(list, n, name), 1);
	name[255] = 'n';
	name[256] = 0;
	PC_ERR(setxattr("f", name, "v", 1, 0), ERANGE);
	PC_ERR(getxattr("f", name, buf, sizeof(buf)), ERANGE);
	/* Many attributes on one inode. */
	for (int i = 0; i < 60; i++) {
		snprintf(name, sizeof(name), "user.many.%04d", i);
		PC_OK(setxattr("f", name, name, strlen(name), XATTR_CREATE));
	}
	ssize_t need = listxattr("f", NULL, 0);
	char *big = malloc((size_t)need + 1);
	n = listxattr("f", big, (size_t)need);
	PC_EQ(n, need);
	for (int i = 0; i < 60; i++) {
		snprintf(name, sizeof(name), "user.many.%04d", i);
		PC_EQ(list_count(big, n, name), 1);
		char v[64] = {0};
		PC_EQ(getxattr("f", name, v, sizeof(v)), (ssize_t)strlen(name));
		PC_CHECK(strcmp(v, name) == 0);
	}
	free(big);
}

static void t_follow_inode(void)
{
	char buf[16];

	PC_OK(pc_make_file("f", 0, 1));
	PC_OK(setxattr("f", "user.k", "v1", 2, 0));
	PC_OK(link("f", "g"));
	PC_EQ(getxattr("g", "user.k", buf, sizeof(buf)), 2);
	PC_OK(rename("f", "h"));
	PC_EQ(getxattr("h", "user.k", buf, sizeof(buf)), 2);
	PC_OK(unlink("h"));
	PC_OK(unlink("g"));
	/* A new file with the old name has none. */
	PC_OK(pc_make_file("f", 0, 1));
	PC_ERR(getxattr("f", "user.k", buf, sizeof(buf)), ENODATA);
	PC_EQ(listxattr("f", buf, sizeof(buf)) >= 0, 1);
	/* user.* is not allowed on symlinks; lgetxattr does not follow. */
	PC_OK(symlink("f", "l"));
	PC_ERR(lsetxattr("l", "user.k", "v", 1, 0), EPERM);
	PC_OK(setxattr("l", "user.k", "via", 3, 0));
	PC_EQ(getxattr("f", "user.k", buf, sizeof(buf)), 3);
	PC_ERR(lgetxattr("l", "user.k", buf, sizeof(buf)), ENODATA);
}

static void t_trusted(void)
{
	char buf[16];

	PC_OK(pc_make_file("f", 0, 1));
	PC_OK(setxattr("f", "trusted.t", "tv", 2, 0));
	PC_EQ(getxattr("f", "trusted.t", buf, sizeof(buf)), 2);
	PC_OK(setxattr("f", "security.s", "sv", 2, 0));
	PC_EQ(getxattr("f", "security.s", buf, sizeof(buf)), 2);
	PC_OK(lsetxattr(".", "trusted.dir", "1", 1, 0));
}

const struct pc_test pc_xattr_tests[] = {
	{"xattr/basic", t_basic, 0},
	{"xattr/sizes", t_sizes, PC_BIGXATTR},
	{"xattr/names", t_names, 0},
	{"xattr/follow_inode", t_follow_inode, 0},
	{"xattr/trusted", t_trusted, PC_ROOT},
	{NULL, NULL, 0},
};
