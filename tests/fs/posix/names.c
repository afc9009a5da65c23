/*
 * names.c — checks of file names: 255 bytes work with every call that takes
 * a name, 256 (and longer, up to the kernel's own 1024 limit) give
 * ENAMETOOLONG from every one of them (lookup, create, mknod, mkdir,
 * symlink, link, rename both ways, unlink, rmdir, xattr and attribute calls
 * by path), and names made of every byte value but '/' and NUL.
 */
#include "pc.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

static int rename2(const char *from, const char *to, unsigned flags)
{
	return (int)syscall(SYS_renameat2, AT_FDCWD, from, AT_FDCWD, to, flags);
}

static void t_name_255(void)
{
	char f[256], d[256], l[256], h[256], r[256], p[256];
	char path[600], buf[300];

	snprintf(f, sizeof(f), "%s", pc_name(255, 'f'));
	snprintf(d, sizeof(d), "%s", pc_name(255, 'd'));
	snprintf(l, sizeof(l), "%s", pc_name(255, 'l'));
	snprintf(h, sizeof(h), "%s", pc_name(255, 'h'));
	snprintf(r, sizeof(r), "%s", pc_name(255, 'r'));
	snprintf(p, sizeof(p), "%s", pc_name(255, 'p'));

	PC_OK(pc_make_file(f, 100, 1));
	PC_FILE_IS(f, 100, 1);
	PC_OK(mkdir(d, 0755));
	snprintf(path, sizeof(path), "%s/%s", d, f);
	PC_OK(pc_make_file(path, 10, 2));
	PC_FILE_IS(path, 10, 2);
	PC_OK(symlink(f, l));
	PC_EQ(readlink(l, buf, sizeof(buf)), 255);
	PC_OK(link(f, h));
	PC_EQ(pc_lstat(h).st_nlink, 2);
	PC_OK(unlink(h));
	PC_OK(rename(f, r));
	PC_FILE_IS(r, 100, 1);
	PC_OK(rename(r, f));
	PC_OK(mknod(p, S_IFIFO | 0644, 0));
	PC_OK(setxattr(f, "user.x", "1", 1, 0));
	PC_OK(chmod(f, 0600));
	PC_OK(truncate(f, 5));
	PC_OK(access(f, F_OK));
	PC_EQ(pc_count_entries(".", f), 1);
	PC_EQ(pc_count_entries(".", d), 1);
	PC_OK(unlink(f));
	PC_OK(unlink(path));
	PC_OK(rmdir(d));
}

/* Every call that takes a name, with a name of len bytes, must fail with ENAMETOOLONG. */
static void too_long(size_t len)
{
	const char *n = pc_name(len, 'x');
	char path[1200], buf[16];
	struct stat st;

	PC_ERR(open(n, O_RDONLY), ENAMETOOLONG);
	PC_ERR(open(n, O_CREAT | O_WRONLY, 0644), ENAMETOOLONG);
	PC_ERR(open(n, O_CREAT | O_EXCL | O_WRONLY, 0644), ENAMETOOLONG);
	PC_ERR(stat(n, &st), ENAMETOOLONG);
	PC_ERR(lstat(n, &st), ENAMETOOLONG);
	PC_ERR(access(n, F_OK), ENAMETOOLONG);
	PC_ERR(mkdir(n, 0755), ENAMETOOLONG);
	PC_ERR(rmdir(n), ENAMETOOLONG);
	PC_ERR(unlink(n), ENAMETOOLONG);
	PC_ERR(mknod(n, S_IFIFO | 0644, 0), ENAMETOOLONG);
	PC_ERR(mknod(n, S_IFREG | 0644, 0), ENAMETOOLONG);
	PC_ERR(symlink("target", n), ENAMETOOLONG);
	PC_ERR(link("ok", n), ENAMETOOLONG);
	PC_ERR(link(n, "ok2"), ENAMETOOLONG);
	PC_ERR(rename("ok", n), ENAMETOOLONG);
	PC_ERR(rename(n, "ok2"), ENAMETOOLONG);
	PC_ERR(rename2("ok", n, RENAME_NOREPLACE), ENAMETOOLONG);
	PC_ERR(rename2("ok", n, RENAME_EXCHANGE), ENAMETOOLONG);
	PC_ERR(readlink(n, buf, sizeof(buf)), ENAMETOOLONG);
	PC_ERR(chmod(n, 0644), ENAMETOOLONG);
	PC_ERR(truncate(n, 0), ENAMETOOLONG);
	PC_ERR(utimensat(AT_FDCWD, n, NULL, 0), ENAMETOOLONG);
	PC_ERR(getxattr(n, "user.x", buf, sizeof(buf)), ENAMETOOLONG);
	PC_ERR(setxattr(n, "user.x", "1", 1, 0), ENAMETOOLONG);
	/* As a middle component of a path too. */
	snprintf(path, sizeof(path), "%s/f", n);
	PC_ERR(open(path, O_CREAT | O_WRONLY, 0644), ENAMETOOLONG);
	PC_ERR(stat(path, &st), ENAMETOOLONG);
	/* Inside a subdirectory (a non-root parent). */
	snprintf(path, sizeof(path), "sub/%s", n);
	PC_ERR(open(path, O_CREAT | O_WRONLY, 0644), ENAMETOOLONG);
	PC_ERR(mkdir(path, 0755), ENAMETOOLONG);
	PC_ERR(symlink("t", path), ENAMETOOLONG);
	PC_ERR(rename("ok", path), ENAMETOOLONG);
}

static void t_name_256(void)
{
	PC_OK(pc_make_file("ok", 1, 1));
	PC_OK(mkdir("sub", 0755));
	too_long(256);
	too_long(300);
	too_long(1024);
	/* Nothing was created, nothing was lost. */
	DIR *d = opendir(".");
	struct dirent *de;
	int n = 0;
	while (d && (de = readdir(d)))
		n++;
	if (d)
		closedir(d);
	PC_EQ(n, 4); /* ., .., ok, sub */
	PC_FILE_IS("ok", 1, 1);
}

static void t_name_bytes(void)
{
	char name[256];
	int k = 0;

	/* Every byte value except NUL and '/': 254 bytes. */
	for (int c = 1; c < 256; c++)
		if (c != '/')
			name[k++] = (char)c;
	name[k] = 0;
	PC_EQ(k, 254);
	PC_OK(pc_make_file(name, 7, 3));
	PC_FILE_IS(name, 7, 3);
	PC_EQ(pc_count_entries(".", name), 1);
	PC_OK(mkdir(&name[200], 0755));
	PC_EQ(pc_count_entries(".", &name[200]), 1);
	/* Names that differ only in case or by a trailing byte are distinct. */
	PC_OK(pc_make_file("Case", 1, 4));
	PC_OK(pc_make_file("case", 2, 5));
	PC_OK(pc_make_file("case ", 3, 6));
	PC_FILE_IS("Case", 1, 4);
	PC_FILE_IS("case", 2, 5);
	PC_FILE_IS("case ", 3, 6);
	/* A name that is a prefix of another, and the other way round. */
	PC_OK(pc_make_file("ab", 1, 7));
	PC_OK(pc_make_file("abc", 1, 8));
	PC_OK(unlink("ab"));
	PC_FILE_IS("abc", 1, 8);
	PC_CHECK(pc_absent("ab"));
}

const struct pc_test pc_names_tests[] = {
	{"names/255", t_name_255, 0},
	{"names/256", t_name_256, 0},
	{"names/bytes", t_name_bytes, 0},
	{NULL, NULL, 0},
};
