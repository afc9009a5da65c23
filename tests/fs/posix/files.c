/*
 * files.c — POSIX checks of regular files: open and create flags (O_EXCL,
 * O_TRUNC, O_APPEND, O_DIRECTORY, O_NOFOLLOW), read/write at any offset
 * (holes read as zeros, chunk and inline boundaries), growth from inline to
 * chunked and back, fsync/fdatasync, and files past the maximum size.
 */
#include "pc.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static void t_create_excl(void)
{
	int fd = PC_OK(open("f", O_CREAT | O_EXCL | O_WRONLY, 0640));
	struct stat st;

	PC_OK(fstat(fd, &st));
	PC_CHECK(S_ISREG(st.st_mode));
	PC_EQ(st.st_mode & 07777, 0640);
	PC_EQ(st.st_size, 0);
	PC_EQ(st.st_nlink, 1);
	PC_EQ(st.st_uid, geteuid());
	PC_EQ(st.st_gid, getegid());
	close(fd);
	PC_ERR(open("f", O_CREAT | O_EXCL | O_WRONLY, 0644), EEXIST);
	/* O_EXCL does not follow a symlink, even a dangling one. */
	PC_OK(symlink("nowhere", "dangling"));
	PC_ERR(open("dangling", O_CREAT | O_EXCL | O_WRONLY, 0644), EEXIST);
	PC_CHECK(pc_absent("nowhere"));
	/* Without O_EXCL a dangling symlink is followed and its target created. */
	fd = PC_OK(open("dangling", O_CREAT | O_WRONLY, 0644));
	close(fd);
	PC_CHECK(!pc_absent("nowhere"));
	/* umask applies to the mode of a new file. */
	umask(027);
	fd = PC_OK(open("masked", O_CREAT | O_WRONLY, 0777));
	close(fd);
	PC_EQ(pc_lstat("masked").st_mode & 07777, 0750);
}

static void t_open_errors(void)
{
	PC_ERR(open("missing", O_RDONLY), ENOENT);
	PC_ERR(open("missing/x", O_RDONLY | O_CREAT, 0644), ENOENT);
	PC_OK(pc_make_file("f", 10, 1));
	PC_ERR(open("f/x", O_RDONLY), ENOTDIR);
	PC_ERR(open("f", O_RDONLY | O_DIRECTORY), ENOTDIR);
	PC_OK(mkdir("d", 0755));
	PC_ERR(open("d", O_WRONLY), EISDIR);
	PC_ERR(open("d", O_RDWR), EISDIR);
	PC_ERR(open("d", O_CREAT | O_WRONLY, 0644), EISDIR);
	int fd = PC_OK(open("d", O_RDONLY | O_DIRECTORY));
	close(fd);
	PC_OK(symlink("f", "l"));
	PC_ERR(open("l", O_RDONLY | O_NOFOLLOW), ELOOP);
	fd = PC_OK(open("l", O_RDONLY | O_PATH | O_NOFOLLOW));
	close(fd);
	/* A read-only fd refuses writes and a write-only fd refuses reads. */
	char c = 0;
	fd = PC_OK(open("f", O_RDONLY));
	PC_ERR(write(fd, &c, 1), EBADF);
	close(fd);
	fd = PC_OK(open("f", O_WRONLY));
	PC_ERR(read(fd, &c, 1), EBADF);
	close(fd);
}

static void t_trunc_flag(void)
{
	PC_OK(pc_make_file("small", 100, 2));
	PC_OK(pc_make_file("big", 300000, 3));
	int fd = PC_OK(open("small", O_WRONLY | O_TRUNC));
	close(fd);
	PC_EQ(pc_lstat("small").st_size, 0);
	fd = PC_OK(open("big", O_RDWR | O_TRUNC));
	PC_EQ(pc_lstat("big").st_size, 0);
	PC_OK(pc_write_pattern(fd, 100000, 10, 4));
	close(fd);
	/* The old bytes must not come back in the hole. */
	fd = PC_OK(open("big", O_RDONLY));
	PC_RANGE_IS(fd, 0, 100000, 0, 0);
	PC_RANGE_IS(fd, 100000, 10, 4, 0);
	close(fd);
	PC_EQ(pc_lstat("big").st_size, 100010);
}

static void t_append(void)
{
	int fd = PC_OK(open("f", O_CREAT | O_WRONLY | O_APPEND, 0644));
	char buf[1000];

	pc_pattern(buf, sizeof(buf), 5, 0);
	PC_EQ(write(fd, buf, 300), 300);
	PC_OK(lseek(fd, 0, SEEK_SET));
	PC_EQ(write(fd, buf + 300, 700), 700);
	int fd2 = PC_OK(open("f", O_WRONLY | O_APPEND));
	PC_EQ(lseek(fd2, 0, SEEK_CUR), 0);
	close(fd);
	PC_FILE_IS("f", 1000, 5);
	/* Two appenders interleave without overwriting each other. */
	fd = PC_OK(open("f", O_WRONLY | O_APPEND));
	for (int i = 0; i < 50; i++) {
		PC_EQ(write(i & 1 ? fd : fd2, "ab", 2), 2);
	}
	close(fd);
	close(fd2);
	PC_EQ(pc_lstat("f").st_size, 1100);
}

/* Writes at many offsets, checked against a model buffer. */
static void t_rw_offsets(void)
{
	enum { SIZE = 400 * 1024 };
	static const struct {
		off_t off;
		size_t len;
	} w[] = {
		{0, 1},           {1, 4095},        {5000, 100},      {65535, 2},
		{65536 - 700, 1400}, {131072, 65536}, {200000, 70000}, {SIZE - 10, 10},
		{3, 300000},      {65536 * 2 + 1, 1}, {1000, 0},
	};
	char *model = calloc(1, SIZE);
	char *buf = malloc(SIZE);
	size_t size = 0;
	int fd = PC_OK(open("f", O_CREAT | O_RDWR, 0644));

	for (size_t i = 0; i < sizeof(w) / sizeof(w[0]); i++) {
		pc_pattern(buf, w[i].len, 100 + i, 0);
		PC_EQ(pwrite(fd, buf, w[i].len, w[i].off), (ssize_t)w[i].len);
		memcpy(model + w[i].off, buf, w[i].len);
		if (w[i].len && (size_t)w[i].off + w[i].len > size)
			size = (size_t)w[i].off + w[i].len;
		PC_EQ(pc_lstat("f").st_size, size);
	}
	/* Read back in odd pieces. */
	for (size_t off = 0; off < size;) {
		size_t n = 1 + (off * 7919) % 9000;
		ssize_t got = pread(fd, buf, n, (off_t)off);
		if (got <= 0) {
			PC_CHECKF(0, "pread at %zu returned %zd", off, got);
			break;
		}
		PC_CHECKF(memcmp(buf, model + off, (size_t)got) == 0, "data differs at %zu", off);
		off += (size_t)got;
	}
	PC_EQ(pread(fd, buf, 100, (off_t)size), 0);
	PC_EQ(pread(fd, buf, 100, (off_t)size + 100000), 0);
	/* Sequential read/write through the file offset. */
	PC_OK(lseek(fd, 0, SEEK_SET));
	PC_EQ(read(fd, buf, 10), 10);
	PC_EQ(lseek(fd, 0, SEEK_CUR), 10);
	PC_EQ(lseek(fd, 0, SEEK_END), (off_t)size);
	PC_ERR(lseek(fd, -1, SEEK_SET), EINVAL);
	close(fd);
	free(model);
	free(buf);
}

/* A file that grows from a few bytes (inline) to many chunks and back. */
static void t_grow_shrink(void)
{
	static const size_t sizes[] = {1, 100, 2000, 2047, 2048, 2049, 3000, 4096, 65536,
				       65537, 1 << 20, 70000, 2500, 10, 0, 5000};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		int fd = PC_OK(open("f", O_CREAT | O_RDWR, 0644));
		struct stat st;

		PC_OK(ftruncate(fd, 0));
		PC_OK(pc_write_pattern(fd, 0, sizes[i], 7 + i));
		PC_OK(fstat(fd, &st));
		PC_EQ(st.st_size, sizes[i]);
		close(fd);
		PC_FILE_IS("f", sizes[i], 7 + i);
	}
	/* Extend a small file by writing far away: the gap is zeros. */
	PC_OK(pc_make_file("g", 50, 9));
	int fd = PC_OK(open("g", O_RDWR));
	PC_OK(pc_write_pattern(fd, 300000, 50, 9));
	PC_RANGE_IS(fd, 0, 50, 9, 0);
	PC_RANGE_IS(fd, 50, 300000 - 50, 0, 0);
	PC_RANGE_IS(fd, 300000, 50, 9, 0);
	close(fd);
}

static void t_fsync(void)
{
	int fd = PC_OK(open("f", O_CREAT | O_RDWR, 0644));
	PC_OK(pc_write_pattern(fd, 0, 200000, 11));
	PC_OK(fsync(fd));
	PC_OK(pc_write_pattern(fd, 1000, 10, 12));
	PC_OK(fdatasync(fd));
	PC_OK(fsync(fd));
	close(fd);
	fd = PC_OK(open(".", O_RDONLY | O_DIRECTORY));
	PC_OK(fsync(fd));
	PC_OK(fdatasync(fd));
	close(fd);
	fd = PC_OK(open("f", O_RDONLY));
	PC_OK(fsync(fd)); /* fsync on a read-only fd is allowed */
	close(fd);
	fd = PC_OK(open(".", O_RDONLY));
	PC_OK(syncfs(fd));
	close(fd);
	/* O_SYNC / O_DSYNC writes. */
	fd = PC_OK(open("s", O_CREAT | O_WRONLY | O_SYNC, 0644));
	PC_OK(pc_write_pattern(fd, 0, 5000, 13));
	close(fd);
	fd = PC_OK(open("s", O_WRONLY | O_DSYNC));
	PC_OK(pc_write_pattern(fd, 5000, 5000, 13));
	close(fd);
	PC_FILE_IS("s", 10000, 13);
}

static void t_efbig(void)
{
	int fd = PC_OK(open("f", O_CREAT | O_RDWR, 0644));
	char c = 'x';

	/* pos + count overflows: refused by the kernel. */
	PC_ERR2(pwrite(fd, &c, 1, LLONG_MAX), EINVAL, EFBIG);
	PC_ERR(ftruncate(fd, -1), EINVAL);
	/*
	 * At the largest offset: EFBIG if the filesystem cannot hold it. With a
	 * FUSE writeback cache the write may land in the page cache first; the
	 * error then comes from fsync, and must still be EFBIG, never EIO.
	 */
	if (pwrite(fd, &c, 1, LLONG_MAX - 1) < 0) {
		PC_CHECKF(errno == EFBIG, "pwrite at LLONG_MAX-1: %s", strerror(errno));
	} else if (fsync(fd) < 0) {
		PC_CHECKF(errno == EFBIG, "fsync after pwrite at LLONG_MAX-1: %s",
			  strerror(errno));
	}
	if (ftruncate(fd, LLONG_MAX - 4096) < 0)
		PC_CHECKF(errno == EFBIG || errno == EINVAL, "ftruncate(huge): %s",
			  strerror(errno));
	PC_OK(ftruncate(fd, 0));
	PC_OK(pc_write_pattern(fd, 0, 100, 1));
	PC_OK(fsync(fd));
	close(fd);
	PC_FILE_IS("f", 100, 1);
}

static void t_many_fds(void)
{
	/* Many fds on one file see each other's writes. */
	int fds[32];
	char buf[32];

	PC_OK(pc_make_file("f", 32, 14));
	for (int i = 0; i < 32; i++)
		fds[i] = PC_OK(open("f", O_RDWR));
	for (int i = 0; i < 32; i++)
		PC_EQ(pwrite(fds[i], "Z", 1, i), 1);
	for (int i = 0; i < 32; i++) {
		PC_EQ(pread(fds[31 - i], buf, 32, 0), 32);
		PC_CHECK(memcmp(buf, "ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ", 32) == 0);
	}
	for (int i = 0; i < 32; i++)
		close(fds[i]);
}

const struct pc_test pc_files_tests[] = {
	{"files/create_excl", t_create_excl, 0},
	{"files/open_errors", t_open_errors, 0},
	{"files/trunc_flag", t_trunc_flag, 0},
	{"files/append", t_append, 0},
	{"files/rw_offsets", t_rw_offsets, 0},
	{"files/grow_shrink", t_grow_shrink, 0},
	{"files/fsync", t_fsync, 0},
	{"files/efbig", t_efbig, 0},
	{"files/many_fds", t_many_fds, 0},
	{NULL, NULL, 0},
};
