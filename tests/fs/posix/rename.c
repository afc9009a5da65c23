/*
 * rename.c — POSIX checks of rename and renameat2: over files, over empty
 * and non-empty directories, across directories (link counts and ".."),
 * into its own subtree (EINVAL), file/directory mismatches, hard links of
 * the same inode, RENAME_NOREPLACE (EEXIST) and RENAME_EXCHANGE.
 */
#include "pc.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static int rename2(const char *from, const char *to, unsigned flags)
{
	return (int)syscall(SYS_renameat2, AT_FDCWD, from, AT_FDCWD, to, flags);
}

static void t_rename_files(void)
{
	struct stat st;

	PC_OK(pc_make_file("a", 3000, 1));
	ino_t ino = pc_lstat("a").st_ino;
	PC_OK(rename("a", "b"));
	PC_CHECK(pc_absent("a"));
	PC_EQ(pc_lstat("b").st_ino, ino);
	PC_FILE_IS("b", 3000, 1);
	/* Over an existing file: the target's inode loses a link. */
	PC_OK(pc_make_file("c", 10, 2));
	PC_OK(link("c", "c2"));
	PC_OK(rename("b", "c"));
	PC_FILE_IS("c", 3000, 1);
	PC_EQ(pc_lstat("c").st_ino, ino);
	PC_EQ(pc_lstat("c2").st_nlink, 1);
	PC_FILE_IS("c2", 10, 2);
	/* Across directories. */
	PC_OK(mkdir("d", 0755));
	PC_OK(rename("c", "d/c"));
	PC_FILE_IS("d/c", 3000, 1);
	PC_EQ(pc_count_entries(".", "c"), 0);
	PC_EQ(pc_count_entries("d", "c"), 1);
	/* Two links of one inode: rename is a no-op, both names stay. */
	PC_OK(link("d/c", "d/c-link"));
	PC_OK(rename("d/c", "d/c-link"));
	PC_CHECK(!pc_absent("d/c"));
	PC_CHECK(!pc_absent("d/c-link"));
	PC_EQ(pc_lstat("d/c").st_nlink, 2);
	/* Rename to itself. */
	PC_OK(rename("d/c", "d/c"));
	/* Errors. */
	PC_ERR(rename("missing", "x"), ENOENT);
	PC_ERR(rename("c2", "missing/x"), ENOENT);
	PC_ERR(rename("c2", "c2/x"), ENOTDIR);
	PC_OK(mkdir("e", 0755));
	PC_ERR(rename("c2", "e"), EISDIR);
	PC_ERR(rename("e", "c2"), ENOTDIR);
	PC_ERR(rename(".", "x"), EBUSY);
	/* Symlinks are renamed, not followed. */
	PC_OK(symlink("c2", "s"));
	PC_OK(rename("s", "s2"));
	PC_CHECK(S_ISLNK(pc_lstat("s2").st_mode));
	st = pc_lstat("c2");
	PC_CHECK(S_ISREG(st.st_mode));
}

static void t_rename_dirs(void)
{
	PC_OK(mkdir("a", 0755));
	PC_OK(mkdir("a/sub", 0755));
	PC_OK(pc_make_file("a/sub/f", 10, 1));
	PC_OK(mkdir("b", 0755));
	ino_t aino = pc_lstat("a").st_ino;
	/* Into another directory: ".." follows, link counts move. */
	PC_OK(rename("a/sub", "b/sub"));
	PC_FILE_IS("b/sub/f", 10, 1);
	PC_EQ(pc_lstat("b/sub/..").st_ino, pc_lstat("b").st_ino);
	nlink_t na = pc_lstat("a").st_nlink, nb = pc_lstat("b").st_nlink;
	PC_CHECKF(na == 1 || na == 2, "a has nlink %lu", (unsigned long)na);
	PC_CHECKF(nb == 1 || nb == 3, "b has nlink %lu", (unsigned long)nb);
	/* Over an empty directory. */
	PC_OK(mkdir("empty", 0755));
	PC_OK(rename("b/sub", "empty"));
	PC_FILE_IS("empty/f", 10, 1);
	PC_CHECK(pc_absent("b/sub"));
	/* Over a non-empty directory. */
	PC_OK(mkdir("x", 0755));
	PC_ERR2(rename("a", "empty"), ENOTEMPTY, EEXIST);
	PC_EQ(pc_lstat("a").st_ino, aino);
	/* Into its own subtree. */
	PC_OK(mkdir("a/in", 0755));
	PC_OK(mkdir("a/in/deeper", 0755));
	PC_ERR(rename("a", "a/in/deeper/a"), EINVAL);
	PC_ERR(rename("a", "a/in/a"), EINVAL);
	PC_ERR(rename("a", "a/a"), EINVAL);
	PC_ERR(rename("a/in", "a/in/deeper/in"), EINVAL);
	PC_CHECK(!pc_absent("a/in/deeper"));
	/* Up the tree is fine. */
	PC_OK(rename("a/in/deeper", "deeper"));
	PC_CHECK(S_ISDIR(pc_lstat("deeper").st_mode));
	PC_EQ(pc_lstat("deeper/..").st_ino, pc_lstat(".").st_ino);
}

static void t_rename_noreplace(void)
{
	PC_OK(pc_make_file("a", 10, 1));
	PC_OK(pc_make_file("b", 20, 2));
	PC_ERR(rename2("a", "b", RENAME_NOREPLACE), EEXIST);
	PC_FILE_IS("a", 10, 1);
	PC_FILE_IS("b", 20, 2);
	PC_OK(mkdir("d", 0755));
	PC_ERR(rename2("a", "d", RENAME_NOREPLACE), EEXIST);
	PC_OK(symlink("nowhere", "dangling"));
	PC_ERR(rename2("a", "dangling", RENAME_NOREPLACE), EEXIST);
	PC_OK(rename2("a", "c", RENAME_NOREPLACE));
	PC_FILE_IS("c", 10, 1);
	PC_CHECK(pc_absent("a"));
	PC_OK(rename2("d", "d2", RENAME_NOREPLACE));
	PC_ERR(rename2("missing", "x", RENAME_NOREPLACE), ENOENT);
	PC_ERR(rename2("c", "b", RENAME_NOREPLACE | RENAME_EXCHANGE), EINVAL);
}

static void t_rename_exchange(void)
{
	PC_OK(pc_make_file("a", 10, 1));
	PC_OK(pc_make_file("b", 2000, 2));
	ino_t ia = pc_lstat("a").st_ino, ib = pc_lstat("b").st_ino;
	PC_OK(rename2("a", "b", RENAME_EXCHANGE));
	PC_FILE_IS("a", 2000, 2);
	PC_FILE_IS("b", 10, 1);
	PC_EQ(pc_lstat("a").st_ino, ib);
	PC_EQ(pc_lstat("b").st_ino, ia);
	/* A file and a directory, across directories: ".." is fixed up. */
	PC_OK(mkdir("d1", 0755));
	PC_OK(mkdir("d2", 0755));
	PC_OK(mkdir("d1/sub", 0755));
	PC_OK(pc_make_file("d1/sub/in", 5, 3));
	PC_OK(pc_make_file("d2/file", 7, 4));
	PC_OK(rename2("d1/sub", "d2/file", RENAME_EXCHANGE));
	PC_CHECK(S_ISDIR(pc_lstat("d2/file").st_mode));
	PC_CHECK(S_ISREG(pc_lstat("d1/sub").st_mode));
	PC_FILE_IS("d2/file/in", 5, 3);
	PC_FILE_IS("d1/sub", 7, 4);
	PC_EQ(pc_lstat("d2/file/..").st_ino, pc_lstat("d2").st_ino);
	nlink_t n1 = pc_lstat("d1").st_nlink, n2 = pc_lstat("d2").st_nlink;
	PC_CHECKF(n1 == 1 || n1 == 2, "d1 nlink %lu", (unsigned long)n1);
	PC_CHECKF(n2 == 1 || n2 == 3, "d2 nlink %lu", (unsigned long)n2);
	/* Both must exist. */
	PC_ERR(rename2("a", "missing", RENAME_EXCHANGE), ENOENT);
	PC_ERR(rename2("missing", "a", RENAME_EXCHANGE), ENOENT);
	/* Not into its own subtree. */
	PC_OK(mkdir("d2/file/deep", 0755));
	PC_ERR(rename2("d2/file", "d2/file/deep", RENAME_EXCHANGE), EINVAL);
	/* Exchanging two links of the same inode changes nothing. */
	PC_OK(link("a", "a2"));
	PC_OK(rename2("a", "a2", RENAME_EXCHANGE));
	PC_FILE_IS("a", 2000, 2);
	PC_FILE_IS("a2", 2000, 2);
}

const struct pc_test pc_rename_tests[] = {
	{"rename/files", t_rename_files, 0},
	{"rename/dirs", t_rename_dirs, 0},
	{"rename/noreplace", t_rename_noreplace, 0},
	{"rename/exchange", t_rename_exchange, 0},
	{NULL, NULL, 0},
};
