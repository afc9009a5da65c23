/*
 * bench_plainfile.c — the baseline for the blob figures: the same bytes
 * written to a plain file on the same disk with 1 MiB write()s and one
 * fdatasync at the end, then read back with read() after eviction from the
 * page cache. No store can beat this by much; the ratio says how close it is.
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

static void plain_write_all(int fd, const uint8_t *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			bench_die("plain file: write: %s", n < 0 ? "error" : "short write");
		buf += n;
		len -= (size_t)n;
	}
}

static void plain_read_all(int fd, uint8_t *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = read(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			bench_die("plain file: read: %s", n < 0 ? "error" : "unexpected end");
		buf += n;
		len -= (size_t)n;
	}
}

void bench_plainfile_run(const struct bench_cfg *cfg, struct bench_result *r)
{
	uint8_t *buf = bench_alloc(BENCH_BLOB_LEN);
	char path[4096];

	bench_path(cfg, "plain.dat", path, sizeof(path));
	double t0 = bench_now();
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		bench_die("plain file: cannot create %s", path);
	for (uint64_t i = 0; i < cfg->blob_mib; i++) {
		bench_blob_make(cfg, i, buf);
		plain_write_all(fd, buf, BENCH_BLOB_LEN);
	}
	if (fdatasync(fd) != 0)
		bench_die("plain file: fdatasync failed");
	close(fd);
	r->blob_write_mbs = (double)cfg->blob_mib / (bench_now() - t0);

	bench_evict(path);
	t0 = bench_now();
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		bench_die("plain file: cannot open %s", path);
	for (uint64_t i = 0; i < cfg->blob_mib; i++) {
		plain_read_all(fd, buf, BENCH_BLOB_LEN);
		if (!bench_blob_ok(cfg, i, buf))
			bench_die("plain file: block %llu reads back wrong", (unsigned long long)i);
	}
	close(fd);
	r->blob_read_mbs = (double)cfg->blob_mib / (bench_now() - t0);

	r->disk_mib = bench_disk_mib(path);
	unlink(path);
	free(buf);
}
