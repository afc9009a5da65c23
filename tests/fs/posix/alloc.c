/*
 * alloc.c — checks of space and range operations: fallocate (default,
 * KEEP_SIZE, PUNCH_HOLE, ZERO_RANGE; other modes EOPNOTSUPP), lseek
 * SEEK_DATA/SEEK_HOLE, and copy_file_range (content, unaligned and large
 * ranges, short copies at EOF, overlap and fd errors, and that source and
 * destination stay independent afterwards, as shared blobs must).
 *
 * With the FUSE writeback cache the kernel does not flush dirty pages before
 * SEEK_DATA/SEEK_HOLE, so those checks fsync first.
 */
#include "pc.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

enum { MiB = 1024 * 1024 };

static void t_fallocate(void)
{
	int fd = PC_OK(open("f", O_CREAT | O_RDWR, 0644));
	struct stat st;

	/* Default mode extends the size; the new range reads as zeros. */
	PC_OK(pc_write_pattern(fd, 0, 1000, 1));
	PC_OK(fallocate(fd, 0, 0, 300000));
	PC_OK(fstat(fd, &st));
	PC_EQ(st.st_size, 300000);
	PC_RANGE_IS(fd, 0, 1000, 1, 0);
	PC_RANGE_IS(fd, 1000, 299000, 0, 0);
	/* Inside the file it changes nothing. */
	PC_OK(fallocate(fd, 0, 100, 200));
	PC_RANGE_IS(fd, 0, 1000, 1, 0);
	/* KEEP_SIZE past EOF: size unchanged, data unchanged. */
	PC_OK(fallocate(fd, FALLOC_FL_KEEP_SIZE, 200000, 1 * MiB));
	PC_OK(fstat(fd, &st));
	PC_EQ(st.st_size, 300000);
	PC_RANGE_IS(fd, 0, 1000, 1, 0);
	/* Writes after it land normally. */
	PC_OK(pc_write_pattern(fd, 250000, 500000, 2));
	PC_RANGE_IS(fd, 250000, 500000, 2, 0);
	PC_OK(fstat(fd, &st));
	PC_EQ(st.st_size, 750000);
	PC_ERR(fallocate(fd, 0, -1, 10), EINVAL);
	PC_ERR(fallocate(fd, 0, 0, 0), EINVAL);
	close(fd);
	fd = PC_OK(open("f", O_RDONLY));
	PC_ERR(fallocate(fd, 0, 0, 10), EBADF);
	close(fd);
}

static void t_punch(void)
{
	int fd = PC_OK(open("f", O_CREAT | O_RDWR, 0644));
	struct stat st;

	PC_OK(pc_write_pattern(fd, 0, 3 * MiB, 3));
	/* Unaligned, inside one chunk, across chunks, whole chunks. */
	static const struct {
		off_t off, len;
	} p[] = {{100, 50}, {65000, 1000}, {200000, 300000}, {1 * MiB, 1 * MiB}, {3 * MiB - 7, 7}};
	for (size_t i = 0; i < sizeof(p) / sizeof(p[0]); i++)
		PC_OK(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, p[i].off, p[i].len));
	PC_OK(fstat(fd, &st));
	PC_EQ(st.st_size, 3 * MiB);
	off_t at = 0;
	for (size_t i = 0; i < sizeof(p) / sizeof(p[0]); i++) {
		PC_RANGE_IS(fd, (uint64_t)at, (size_t)(p[i].off - at), 3, 0);
		PC_RANGE_IS(fd, (uint64_t)p[i].off, (size_t)p[i].len, 0, 0);
		at = p[i].off + p[i].len;
	}
	/* Punch past EOF: nothing changes. */
	PC_OK(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 4 * MiB, MiB));
	PC_OK(fstat(fd, &st));
	PC_EQ(st.st_size, 3 * MiB);
	/* The punched whole MiB is a hole. */
	PC_OK(fsync(fd));
	PC_EQ(lseek(fd, 1 * MiB, SEEK_DATA), 2 * MiB);
	off_t h = lseek(fd, 500000, SEEK_HOLE);
	PC_CHECKF(h <= 1 * MiB && h >= 500000, "SEEK_HOLE(500000) = %lld", (long long)h);
	/* Punch without KEEP_SIZE is refused. */
	PC_ERR(fallocate(fd, FALLOC_FL_PUNCH_HOLE, 0, 10), EOPNOTSUPP);
	/* A small (inline) file can be punched too. */
	int g = PC_OK(open("small", O_CREAT | O_RDWR, 0644));
	PC_OK(pc_write_pattern(g, 0, 500, 4));
	PC_OK(fallocate(g, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 10, 20));
	PC_RANGE_IS(g, 0, 10, 4, 0);
	PC_RANGE_IS(g, 10, 20, 0, 0);
	PC_RANGE_IS(g, 30, 470, 4, 0);
	close(g);
	close(fd);
}

static void t_zero_range(void)
{
	int fd = PC_OK(open("f", O_CREAT | O_RDWR, 0644));
	struct stat st;

	PC_OK(pc_write_pattern(fd, 0, 1 * MiB, 5));
	PC_OK(fallocate(fd, FALLOC_FL_ZERO_RANGE, 1000, 200000));
	PC_RANGE_IS(fd, 0, 1000, 5, 0);
	PC_RANGE_IS(fd, 1000, 200000, 0, 0);
	PC_RANGE_IS(fd, 201000, 1 * MiB - 201000, 5, 0);
	PC_OK(fstat(fd, &st));
	PC_EQ(st.st_size, 1 * MiB);
	/* Past EOF without KEEP_SIZE extends; with it, does not. */
	PC_OK(fallocate(fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, MiB - 10, 100));
	PC_OK(fstat(fd, &st));
	PC_EQ(st.st_size, 1 * MiB);
	PC_RANGE_IS(fd, MiB - 10, 10, 0, 0);
	PC_OK(fallocate(fd, FALLOC_FL_ZERO_RANGE, MiB - 10, 100000));
	PC_OK(fstat(fd, &st));
	PC_EQ(st.st_size, MiB + 100000 - 10);
	PC_RANGE_IS(fd, MiB - 10, 100000, 0, 0);
	close(fd);
}

static void t_other_modes(void)
{
	int fd = PC_OK(open("f", O_CREAT | O_RDWR, 0644));

	PC_OK(pc_write_pattern(fd, 0, 1 * MiB, 6));
	PC_ERR(fallocate(fd, FALLOC_FL_COLLAPSE_RANGE, 65536, 65536), EOPNOTSUPP);
	PC_ERR(fallocate(fd, FALLOC_FL_INSERT_RANGE, 65536, 65536), EOPNOTSUPP);
	PC_ERR(fallocate(fd, FALLOC_FL_UNSHARE_RANGE, 0, 65536), EOPNOTSUPP);
	PC_RANGE_IS(fd, 0, 1 * MiB, 6, 0);
	close(fd);
}

static void t_seek_data_hole(void)
{
	int fd = PC_OK(open("f", O_CREAT | O_RDWR, 0644));
	struct stat st;

	/* Empty file: no data anywhere. */
	PC_ERR(lseek(fd, 0, SEEK_DATA), ENXIO);
	PC_ERR(lseek(fd, 0, SEEK_HOLE), ENXIO);
	/* Data at [0, 64K) and [2M, 2M+100K), size 4M. */
	PC_OK(pc_write_pattern(fd, 0, 65536, 7));
	PC_OK(pc_write_pattern(fd, 2 * MiB, 100000, 7));
	PC_OK(ftruncate(fd, 4 * MiB));
	PC_OK(fsync(fd));
	PC_EQ(lseek(fd, 0, SEEK_DATA), 0);
	off_t h = lseek(fd, 0, SEEK_HOLE);
	PC_CHECKF(h >= 65536 && h <= MiB, "SEEK_HOLE(0) = %lld", (long long)h);
	off_t d = lseek(fd, 1 * MiB, SEEK_DATA);
	PC_CHECKF(d >= MiB && d <= 2 * MiB, "SEEK_DATA(1M) = %lld", (long long)d);
	PC_EQ(lseek(fd, 2 * MiB + 10, SEEK_DATA), 2 * MiB + 10);
	h = lseek(fd, 2 * MiB, SEEK_HOLE);
	PC_CHECKF(h >= 2 * MiB + 100000 && h <= 3 * MiB, "SEEK_HOLE(2M) = %lld", (long long)h);
	/* The tail past the last data is a hole up to EOF; past EOF is ENXIO. */
	PC_ERR(lseek(fd, 3 * MiB + 1, SEEK_DATA), ENXIO);
	PC_EQ(lseek(fd, 4 * MiB - 1, SEEK_HOLE), 4 * MiB - 1);
	PC_ERR(lseek(fd, 4 * MiB, SEEK_HOLE), ENXIO);
	PC_ERR(lseek(fd, 5 * MiB, SEEK_DATA), ENXIO);
	PC_ERR2(lseek(fd, -1, SEEK_DATA), ENXIO, EINVAL);
	/* Walking data extents covers every byte written. */
	uint64_t covered = 0;
	for (off_t at = 0;;) {
		off_t ds = lseek(fd, at, SEEK_DATA);
		if (ds < 0)
			break;
		off_t he = lseek(fd, ds, SEEK_HOLE);
		if (he <= ds) {
			PC_CHECKF(0, "SEEK_HOLE(%lld) = %lld", (long long)ds, (long long)he);
			break;
		}
		if (ds <= 0 && he >= 65536)
			covered |= 1;
		if (ds <= 2 * MiB && he >= 2 * MiB + 100000)
			covered |= 2;
		at = he;
	}
	PC_EQ(covered, 3);
	/* A fully written file: one data extent up to EOF. */
	int g = PC_OK(open("full", O_CREAT | O_RDWR, 0644));
	PC_OK(pc_write_pattern(g, 0, 300001, 8));
	PC_OK(fsync(g));
	PC_EQ(lseek(g, 0, SEEK_DATA), 0);
	PC_EQ(lseek(g, 0, SEEK_HOLE), 300001);
	PC_EQ(lseek(g, 300000, SEEK_DATA), 300000);
	/* A small (inline) file. */
	int s = PC_OK(open("small", O_CREAT | O_RDWR, 0644));
	PC_OK(pc_write_pattern(s, 0, 100, 8));
	PC_OK(fsync(s));
	PC_EQ(lseek(s, 0, SEEK_DATA), 0);
	PC_EQ(lseek(s, 0, SEEK_HOLE), 100);
	PC_OK(fstat(fd, &st));
	close(s);
	close(g);
	close(fd);
}

static ssize_t cfr(int in, off_t *ioff, int out, off_t *ooff, size_t len)
{
	return copy_file_range(in, ioff, out, ooff, len, 0);
}

/* Copy all of len from in@ioff to out@ooff, looping over short copies. */
static int cfr_all(int in, off_t ioff, int out, off_t ooff, size_t len)
{
	while (len > 0) {
		ssize_t n = cfr(in, &ioff, out, &ooff, len);
		if (n < 0)
			return -1;
		if (n == 0) {
			errno = EIO;
			return -1;
		}
		len -= (size_t)n;
	}
	return 0;
}

static void t_copy_file_range(void)
{
	const size_t big = 20 * MiB + 12345;
	int src = PC_OK(open("src", O_CREAT | O_RDWR, 0644));
	int dst = PC_OK(open("dst", O_CREAT | O_RDWR, 0644));
	struct stat st;

	PC_OK(pc_write_pattern(src, 0, big, 9));
	/* The whole file, chunk aligned (the blobs can be shared). */
	PC_OK(cfr_all(src, 0, dst, 0, big));
	PC_OK(fstat(dst, &st));
	PC_EQ(st.st_size, big);
	PC_RANGE_IS(dst, 0, big, 9, 0);
	/* Changing the source afterwards must not change the copy, and back. */
	PC_OK(pc_write_pattern(src, 65536, 65536, 10));
	PC_OK(fsync(src));
	PC_RANGE_IS(dst, 0, big, 9, 0);
	PC_OK(pc_write_pattern(dst, 2 * 65536, 100, 11));
	PC_RANGE_IS(src, 2 * 65536, 100, 9, 0);
	PC_OK(fallocate(src, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 4 * 65536, 65536));
	PC_RANGE_IS(dst, 4 * 65536, 65536, 9, 0);
	PC_OK(ftruncate(src, 0));
	PC_RANGE_IS(dst, 3 * 65536, big - 3 * 65536, 9, 0);
	/* Unaligned ranges, into the middle of an existing file. */
	PC_OK(pc_write_pattern(src, 0, 3 * MiB, 12));
	PC_OK(ftruncate(dst, 0));
	PC_OK(pc_write_pattern(dst, 0, 2 * MiB, 13));
	PC_OK(cfr_all(src, 12345, dst, 777, 1000000));
	PC_RANGE_IS(dst, 0, 777, 13, 0);
	PC_RANGE_IS(dst, 777, 1000000, 12, 12345 - 777);
	PC_RANGE_IS(dst, 777 + 1000000, 2 * MiB - 777 - 1000000, 13, 0);
	/* Past the destination's EOF: a hole in between, size grows. */
	PC_OK(cfr_all(src, 65536, dst, 5 * MiB, 65536));
	PC_OK(fstat(dst, &st));
	PC_EQ(st.st_size, 5 * MiB + 65536);
	PC_RANGE_IS(dst, 2 * MiB, 3 * MiB, 0, 0);
	PC_RANGE_IS(dst, 5 * MiB, 65536, 12, 65536 - 5 * MiB);
	/* At the source's EOF: a short copy, then 0. */
	off_t io = 3 * MiB - 100, oo = 0;
	int d2 = PC_OK(open("dst2", O_CREAT | O_RDWR, 0644));
	PC_EQ(cfr(src, &io, d2, &oo, 1000), 100);
	PC_EQ(io, 3 * MiB);
	PC_EQ(cfr(src, &io, d2, &oo, 1000), 0);
	/* Using and advancing the file offsets. */
	PC_OK(lseek(src, 10, SEEK_SET));
	PC_OK(lseek(d2, 0, SEEK_SET));
	PC_EQ(copy_file_range(src, NULL, d2, NULL, 50, 0), 50);
	PC_EQ(lseek(src, 0, SEEK_CUR), 60);
	PC_EQ(lseek(d2, 0, SEEK_CUR), 50);
	PC_RANGE_IS(d2, 0, 50, 12, 10);
	/* Within one file: overlapping is EINVAL, disjoint is fine. */
	io = 0;
	oo = 1000;
	PC_ERR(cfr(src, &io, src, &oo, 5000), EINVAL);
	PC_OK(cfr_all(src, 0, src, 4 * MiB, 65536 * 2));
	PC_RANGE_IS(src, 4 * MiB, 65536 * 2, 12, (uint64_t)-(4 * MiB));
	/* fd errors. */
	int ro = PC_OK(open("dst2", O_RDONLY));
	io = 0;
	oo = 0;
	PC_ERR(cfr(src, &io, ro, &oo, 10), EBADF);
	int ap = PC_OK(open("dst2", O_WRONLY | O_APPEND));
	PC_ERR(cfr(src, &io, ap, &oo, 10), EBADF);
	PC_OK(mkdir("d", 0755));
	int dd = PC_OK(open("d", O_RDONLY));
	PC_ERR(cfr(dd, &io, d2, &oo, 10), EISDIR);
	close(dd);
	close(ap);
	close(ro);
	close(d2);
	close(src);
	close(dst);
}

const struct pc_test pc_alloc_tests[] = {
	{"alloc/fallocate", t_fallocate, 0},
	{"alloc/punch", t_punch, 0},
	{"alloc/zero_range", t_zero_range, 0},
	{"alloc/other_modes", t_other_modes, PC_FUSE},
	{"alloc/seek_data_hole", t_seek_data_hole, 0},
	{"alloc/copy_file_range", t_copy_file_range, 0},
	{NULL, NULL, 0},
};
