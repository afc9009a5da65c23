/*
 * bench_util.c — helpers shared by the store benchmark's engines: the clock,
 * deterministic values and blobs, page-cache eviction, sizes and errors.
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void bench_result_init(struct bench_result *r)
{
	r->insert_ops = -1;
	r->lookup_ops = -1;
	r->scan_ops = -1;
	r->blob_write_mbs = -1;
	r->blob_read_mbs = -1;
	r->open_ms = -1;
	r->open_cold_ms = -1;
	r->disk_mib = -1;
}

double bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void bench_value(const uint8_t *key, uint8_t *val)
{
	for (size_t i = 0; i < BENCH_VAL_LEN; i++)
		val[i] = (uint8_t)(key[i % BENCH_KEY_LEN] ^ (i * 37u));
}

/* Blob i is the pattern with i written over its first and middle 8 bytes,
 * so that every blob differs and a blob read from the wrong place is seen. */
void bench_blob_make(const struct bench_cfg *cfg, uint64_t i, uint8_t *buf)
{
	memcpy(buf, cfg->blob_pattern, BENCH_BLOB_LEN);
	memcpy(buf, &i, sizeof(i));
	memcpy(buf + BENCH_BLOB_LEN / 2, &i, sizeof(i));
}

bool bench_blob_ok(const struct bench_cfg *cfg, uint64_t i, const uint8_t *buf)
{
	const size_t half = BENCH_BLOB_LEN / 2, s = sizeof(i);

	return memcmp(buf, &i, s) == 0 && memcmp(buf + half, &i, s) == 0 &&
	       memcmp(buf + s, cfg->blob_pattern + s, half - s) == 0 &&
	       memcmp(buf + half + s, cfg->blob_pattern + half + s, half - s) == 0;
}

void bench_scan_row(const char *engine, uint8_t *prev, const void *key, size_t klen, size_t vlen,
		    uint64_t row)
{
	if (klen != BENCH_KEY_LEN || vlen != BENCH_VAL_LEN ||
	    (row > 0 && memcmp(prev, key, BENCH_KEY_LEN) >= 0))
		bench_die("%s: scan row %llu out of order or of the wrong size", engine,
			  (unsigned long long)row);
	memcpy(prev, key, BENCH_KEY_LEN);
}

void bench_scan_done(const char *engine, const struct bench_cfg *cfg, uint64_t rows)
{
	if (rows != cfg->n)
		bench_die("%s: scan saw %llu rows, expected %llu", engine, (unsigned long long)rows,
			  (unsigned long long)cfg->n);
}

void bench_time_opens(const struct bench_cfg *cfg, const char *path,
		      double (*once)(const struct bench_cfg *cfg, const char *path),
		      struct bench_result *r)
{
	double sum = 0;

	bench_evict(path);
	r->open_cold_ms = once(cfg, path);
	for (unsigned k = 0; k < cfg->opens; k++)
		sum += once(cfg, path);
	r->open_ms = sum / cfg->opens;
}

void bench_be64(uint64_t i, uint8_t *out)
{
	for (int b = 7; b >= 0; b--) {
		out[b] = (uint8_t)i;
		i >>= 8;
	}
}

void bench_path(const struct bench_cfg *cfg, const char *name, char *out, size_t cap)
{
	int n = snprintf(out, cap, "%s/%s", cfg->dir, name);

	if (n < 0 || (size_t)n >= cap)
		bench_die("path too long: %s/%s", cfg->dir, name);
}

void bench_evict(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return;
	/* Dirty pages cannot be dropped: make them clean first. */
	fdatasync(fd);
	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	close(fd);
}

/* Dirty + Writeback from /proc/meminfo, in KiB (0 if unreadable). */
static unsigned long long dirty_kib(void)
{
	FILE *f = fopen("/proc/meminfo", "re");
	unsigned long long sum = 0, v;
	char line[128];

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Dirty: %llu kB", &v) == 1 || sscanf(line, "Writeback: %llu kB", &v) == 1)
			sum += v;
	fclose(f);
	return sum;
}

void bench_settle(void)
{
	double until = bench_now() + 30;

	sync();
	while (dirty_kib() > 32 * 1024 && bench_now() < until) {
		struct timespec ts = {0, 100 * 1000 * 1000};

		nanosleep(&ts, NULL);
	}
}

double bench_disk_mib(const char *path)
{
	struct stat st;

	if (stat(path, &st) != 0)
		return 0;
	return (double)st.st_blocks * 512.0 / (1024.0 * 1024.0);
}

void bench_die(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("bench-store: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

void bench_check(int rc, const char *what)
{
	if (rc < 0)
		bench_die("%s: %s", what, strerror(-rc));
}

void *bench_alloc(size_t len)
{
	void *p = malloc(len);

	if (!p)
		bench_die("out of memory (%zu bytes)", len);
	return p;
}
