/*
 * big.c — checks of big sparse files (run by t-big.sh, by name): writes at
 * offsets past 4 GiB and 16 GiB, the size stat reports, few blocks used
 * (du stays small), zeros in the holes, SEEK_DATA/SEEK_HOLE across them,
 * truncation down through them, and punching a hole up there.
 */
#include "pc.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#define GiB (1024LL * 1024 * 1024)
#define MiB (1024LL * 1024)

static void t_sparse(void)
{
	const off_t a = 4 * GiB + 123, b = 16 * GiB + 5 * MiB;
	int fd = PC_OK(open("sparse", O_CREAT | O_RDWR, 0644));
	struct stat st;

	PC_OK(pc_write_pattern(fd, 0, 1000, 1));
	PC_OK(pc_write_pattern(fd, a, 1 * MiB, 1));
	PC_OK(pc_write_pattern(fd, b, 100000, 1));
	PC_OK(fsync(fd));
	PC_OK(fstat(fd, &st));
	PC_EQ(st.st_size, b + 100000);
	PC_CHECKF((long long)st.st_blocks * 512 < 32 * MiB, "st_blocks %lld: holes take space",
		  (long long)st.st_blocks);
	/* Data where written (at the same pattern offsets), zeros between. */
	PC_RANGE_IS(fd, 0, 1000, 1, 0);
	PC_RANGE_IS(fd, (uint64_t)a, 1 * MiB, 1, 0);
	PC_RANGE_IS(fd, (uint64_t)b, 100000, 1, 0);
	PC_RANGE_IS(fd, 1000, 100000, 0, 0);
	PC_RANGE_IS(fd, (uint64_t)(a - 70000), 70000, 0, 0);
	PC_RANGE_IS(fd, 2 * GiB, 200000, 0, 0);
	PC_RANGE_IS(fd, (uint64_t)(a + MiB), 200000, 0, 0);
	PC_RANGE_IS(fd, (uint64_t)(b - 100000), 100000, 0, 0);
	/* SEEK_DATA/SEEK_HOLE across the 4 GiB boundary. */
	off_t d = lseek(fd, 1 * MiB, SEEK_DATA);
	PC_CHECKF(d > 1 * MiB && d <= a, "SEEK_DATA(1M) = %lld, expected in (1M, %lld]",
		  (long long)d, (long long)a);
	PC_CHECKF(d >= a - 1 * MiB, "SEEK_DATA(1M) = %lld, far before the data at %lld",
		  (long long)d, (long long)a);
	off_t h = lseek(fd, a, SEEK_HOLE);
	PC_CHECKF(h >= a + MiB && h <= a + 2 * MiB, "SEEK_HOLE(%lld) = %lld", (long long)a,
		  (long long)h);
	d = lseek(fd, h, SEEK_DATA);
	PC_CHECKF(d > h && d <= b && d >= b - MiB, "SEEK_DATA(%lld) = %lld", (long long)h,
		  (long long)d);
	PC_EQ(lseek(fd, b + 50, SEEK_DATA), b + 50);
	PC_EQ(lseek(fd, b, SEEK_HOLE), b + 100000);
	PC_ERR(lseek(fd, b + 100000, SEEK_DATA), ENXIO);
	/* Punch the data past 4 GiB: only zeros and holes remain there. */
	PC_OK(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 4 * GiB, 2 * MiB));
	PC_RANGE_IS(fd, (uint64_t)a, 1 * MiB, 0, 0);
	PC_OK(fsync(fd));
	d = lseek(fd, 1 * MiB, SEEK_DATA);
	PC_CHECKF(d >= b - MiB && d <= b, "after punch SEEK_DATA(1M) = %lld", (long long)d);
	/* Truncate down through the holes, then up again: zeros. */
	PC_OK(ftruncate(fd, 5 * GiB));
	PC_OK(fstat(fd, &st));
	PC_EQ(st.st_size, 5 * GiB);
	PC_OK(ftruncate(fd, 17 * GiB));
	PC_RANGE_IS(fd, (uint64_t)b, 100000, 0, 0);
	PC_RANGE_IS(fd, 0, 1000, 1, 0);
	/* A write straddling the 4 GiB boundary exactly. */
	PC_OK(pc_write_pattern(fd, 4 * GiB - 5000, 10000, 2));
	PC_RANGE_IS(fd, 4 * GiB - 5000, 10000, 2, 0);
	close(fd);
	PC_OK(stat("sparse", &st));
	PC_EQ(st.st_size, 17 * GiB);
	PC_CHECKF((long long)st.st_blocks * 512 < 32 * MiB, "st_blocks %lld after truncation",
		  (long long)st.st_blocks);
}

const struct pc_test pc_big_tests[] = {
	{"big/sparse", t_sparse, PC_EXPLICIT},
	{NULL, NULL, 0},
};
