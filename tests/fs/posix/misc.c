/*
 * misc.c — checks of the calls that fit no other group: statfs (sane
 * figures, name length 255), access (F_OK/R_OK/W_OK/X_OK, for root and for
 * a user), ioctl with an unknown command (ENOTTY), mmap reads and
 * writes seen by read/write and back, and file handles (what an NFS server
 * uses) that still open their file after the kernel forgot the inode.
 */
#include "pc.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <unistd.h>

static void t_statfs(void)
{
	struct statvfs sv;
	struct statfs sf;

	PC_OK(statvfs(".", &sv));
	PC_CHECK(sv.f_bsize > 0);
	PC_CHECK(sv.f_frsize > 0);
	PC_CHECK(sv.f_blocks > 0);
	PC_CHECKF(sv.f_bfree <= sv.f_blocks, "bfree %llu > blocks %llu",
		  (unsigned long long)sv.f_bfree, (unsigned long long)sv.f_blocks);
	PC_CHECK(sv.f_bavail <= sv.f_bfree);
	PC_CHECK(sv.f_ffree <= sv.f_files);
	PC_EQ(sv.f_namemax, 255);
	PC_OK(statfs(".", &sf));
	PC_EQ(sf.f_namelen, 255);
	int fd = PC_OK(open(".", O_RDONLY));
	PC_OK(fstatvfs(fd, &sv));
	close(fd);
	PC_OK(pc_make_file("f", 10, 1));
	PC_OK(statvfs("f", &sv));
}

static void t_access_root(void)
{
	PC_OK(pc_make_file("f", 10, 1));
	PC_OK(access("f", F_OK));
	PC_ERR(access("missing", F_OK), ENOENT);
	PC_OK(chmod("f", 0));
	/* Root may read and write anything, but execute only with some x bit. */
	PC_OK(access("f", R_OK | W_OK));
	PC_ERR(access("f", X_OK), EACCES);
	PC_OK(chmod("f", 0001));
	PC_OK(access("f", X_OK));
	PC_OK(mkdir("d", 0));
	PC_OK(access("d", R_OK | W_OK | X_OK));
}

static void t_access_user(void)
{
	PC_OK(pc_make_file("f", 10, 1));
	static const struct {
		mode_t mode;
		int ok, bad;
	} c[] = {
		{0400, R_OK, W_OK},     {0200, W_OK, R_OK}, {0100, X_OK, R_OK},
		{0600, R_OK | W_OK, X_OK}, {0000, F_OK, R_OK}, {0077, F_OK, R_OK},
	};
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		PC_OK(chmod("f", c[i].mode));
		PC_CHECKF(access("f", c[i].ok) == 0, "mode %o: access(%d) failed: %s", c[i].mode,
			  c[i].ok, strerror(errno));
		PC_CHECKF(access("f", c[i].bad) < 0 && errno == EACCES,
			  "mode %o: access(%d) did not fail with EACCES", c[i].mode, c[i].bad);
	}
	/* A directory without x cannot be searched. */
	PC_OK(mkdir("d", 0755));
	PC_OK(pc_make_file("d/in", 1, 1));
	PC_OK(chmod("d", 0644));
	PC_ERR(access("d/in", F_OK), EACCES);
	PC_ERR(open("d/in", O_RDONLY), EACCES);
	PC_OK(chmod("d", 0755));
	PC_OK(access("d/in", R_OK));
}

static void t_ioctl(void)
{
	PC_OK(pc_make_file("f", 10, 1));
	int fd = PC_OK(open("f", O_RDWR));
	int arg = 0;
	/* Commands nobody implements: every direction and size. */
	PC_ERR(ioctl(fd, _IO('z', 0x42)), ENOTTY);
	PC_ERR(ioctl(fd, _IOR('z', 0x43, int), &arg), ENOTTY);
	PC_ERR(ioctl(fd, _IOW('z', 0x44, int), &arg), ENOTTY);
	PC_ERR(ioctl(fd, _IOWR('z', 0x45, int), &arg), ENOTTY);
	/* A terminal ioctl on a regular file. */
	struct winsize ws;
	PC_ERR(ioctl(fd, TIOCGWINSZ, &ws), ENOTTY);
	close(fd);
	fd = PC_OK(open(".", O_RDONLY));
	PC_ERR(ioctl(fd, _IO('z', 0x42)), ENOTTY);
	close(fd);
}

static void t_mmap(void)
{
	const size_t len = 300000;
	int fd = PC_OK(open("f", O_CREAT | O_RDWR, 0644));

	PC_OK(pc_write_pattern(fd, 0, len, 2));
	char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	PC_CHECK(m != MAP_FAILED);
	if (m == MAP_FAILED)
		return;
	char *want = malloc(len);
	pc_pattern(want, len, 2, 0);
	PC_CHECK(memcmp(m, want, len) == 0);
	/* Stores through the map are seen by read, after msync and without. */
	pc_pattern(m + 70000, 100000, 3, 70000);
	PC_RANGE_IS(fd, 70000, 100000, 3, 0);
	PC_OK(msync(m, len, MS_SYNC));
	PC_RANGE_IS(fd, 70000, 100000, 3, 0);
	/* Writes are seen through the map. */
	PC_OK(pc_write_pattern(fd, 200000, 5000, 4));
	pc_pattern(want, 5000, 4, 200000);
	PC_CHECK(memcmp(m + 200000, want, 5000) == 0);
	munmap(m, len);
	close(fd);
	/* A private map does not write back. */
	fd = PC_OK(open("f", O_RDWR));
	m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	PC_CHECK(m != MAP_FAILED);
	if (m != MAP_FAILED) {
		memset(m, 0x5a, 4096);
		munmap(m, 4096);
	}
	PC_RANGE_IS(fd, 0, 4096, 2, 0);
	close(fd);
	/* After close and reopen the stores are there. */
	fd = PC_OK(open("f", O_RDONLY));
	PC_RANGE_IS(fd, 70000, 100000, 3, 0);
	PC_RANGE_IS(fd, 200000, 5000, 4, 0);
	close(fd);
	free(want);
}

/* name_to_handle_at for path, into a malloc'd handle */
static struct file_handle *handle_of(const char *path)
{
	struct file_handle *h = calloc(1, sizeof(*h) + MAX_HANDLE_SZ);
	int mnt;

	h->handle_bytes = MAX_HANDLE_SZ;
	PC_OK(name_to_handle_at(AT_FDCWD, path, h, &mnt, 0));
	return h;
}

/* Let the kernel forget every inode nobody holds (FORGET to the daemon). */
static void drop_caches(void)
{
	int fd = PC_OK(open("/proc/sys/vm/drop_caches", O_WRONLY));
	PC_OK(write(fd, "2", 1));
	close(fd);
}

/*
 * An NFS server hands out file handles and opens them later, after the
 * kernel may have forgotten the inode: the file, a directory and a file
 * inside it are reached again by handle (the daemon answers lookups of "."
 * and ".."), with their data and inode numbers; a deleted file's handle is
 * stale.
 */
static void t_file_handles(void)
{
	struct stat f0, d0, g0, here, st;

	PC_OK(pc_make_file("f", 100000, 7));
	PC_OK(mkdir("d", 0755));
	PC_OK(pc_make_file("d/g", 5000, 8));
	PC_OK(pc_make_file("gone", 10, 9));
	PC_OK(stat("f", &f0));
	PC_OK(stat("d", &d0));
	PC_OK(stat("d/g", &g0));
	struct file_handle *hf = handle_of("f"), *hd = handle_of("d"), *hg = handle_of("d/g"),
			   *hx = handle_of("gone");
	PC_OK(unlink("gone"));
	int mnt = PC_OK(open(".", O_RDONLY | O_DIRECTORY));
	for (int round = 0; round < 2; round++) {
		drop_caches();
		int fd = PC_OK(open_by_handle_at(mnt, hf, O_RDONLY));
		PC_OK(fstat(fd, &st));
		PC_EQ(st.st_ino, f0.st_ino);
		PC_RANGE_IS(fd, 0, 100000, 7, 0);
		close(fd);
		fd = PC_OK(open_by_handle_at(mnt, hg, O_RDONLY));
		PC_OK(fstat(fd, &st));
		PC_EQ(st.st_ino, g0.st_ino);
		PC_RANGE_IS(fd, 0, 5000, 8, 0);
		close(fd);
		drop_caches();
		/* a directory handle is connected to the tree through ".." */
		fd = PC_OK(open_by_handle_at(mnt, hd, O_RDONLY | O_DIRECTORY));
		PC_OK(fstat(fd, &st));
		PC_EQ(st.st_ino, d0.st_ino);
		PC_OK(fstatat(fd, "g", &st, 0));
		PC_EQ(st.st_ino, g0.st_ino);
		PC_OK(fstatat(fd, "..", &st, 0));
		PC_OK(fstat(mnt, &here));
		PC_EQ(st.st_ino, here.st_ino);
		close(fd);
		PC_ERR(open_by_handle_at(mnt, hx, O_RDONLY), ESTALE);
	}
	close(mnt);
	free(hf);
	free(hd);
	free(hg);
	free(hx);
}

const struct pc_test pc_misc_tests[] = {
	{"misc/statfs", t_statfs, 0},
	{"misc/access_root", t_access_root, PC_ROOT},
	{"misc/access_user", t_access_user, PC_NONROOT},
	{"misc/ioctl", t_ioctl, 0},
	{"misc/mmap", t_mmap, 0},
	{"misc/file_handles", t_file_handles, PC_ROOT | PC_SLATEFS},
	{NULL, NULL, 0},
};
