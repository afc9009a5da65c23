/*
 * pattern.c — files of known, incompressible content for the compaction
 * tests: write one, check one, or keep reading one in a loop (the long-lived
 * reader held across a compaction pass). Byte p of a file made with SEED is
 * tu_pattern(SEED, p), so no copy of the data is needed to verify it.
 *
 * usage:
 *   pattern write [-d] [-n] FILE SIZE SEED
 *       create/replace FILE with SIZE bytes; fsync at the end unless -n
 *   pattern check [-d] FILE SIZE SEED
 *       FILE must be SIZE bytes of the pattern
 *   pattern loop [-d] [-p PAUSE_MS] [-b BLOCK] STOPFILE FILE SIZE SEED
 *       read FILE from start to end again and again, checking every block,
 *       until STOPFILE exists (at least one whole pass); prints the passes
 *       and bytes verified
 * -d: O_DIRECT (SIZE and BLOCK multiples of 4096). Exit 0 if all is well; 1 with a
 * sentence on stderr (the errno name first, e.g. "ENOSPC: ...") otherwise;
 * 2 on bad usage.
 */
#include "../lib/testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum { ALIGN = 4096, DEF_BLOCK = 1 << 20 };

static bool direct;
static size_t block = DEF_BLOCK;

static int usage(void)
{
	fprintf(stderr, "usage: pattern write [-d] [-n] FILE SIZE SEED\n"
			"       pattern check [-d] FILE SIZE SEED\n"
			"       pattern loop [-d] [-p PAUSE_MS] [-b BLOCK] STOPFILE FILE SIZE SEED\n");
	return 2;
}

static int fail_errno(const char *path, const char *what, uint64_t off)
{
	int e = errno;
	fprintf(stderr, "%s: %s: %s at %" PRIu64 ": %s\n", strerrorname_np(e), path, what, off,
		strerror(e));
	return 1;
}

static void *alloc_block(void)
{
	void *p = NULL;
	if (posix_memalign(&p, ALIGN, block) != 0) {
		fprintf(stderr, "ENOMEM: no buffer of %zu bytes\n", block);
		exit(1);
	}
	return p;
}

static int do_write(const char *path, uint64_t size, uint64_t seed, bool sync)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | (direct ? O_DIRECT : 0), 0644);
	if (fd < 0)
		return fail_errno(path, "open", 0);
	uint8_t *buf = alloc_block();
	int rc = 0;
	for (uint64_t off = 0; off < size && rc == 0;) {
		size_t n = size - off < block ? (size_t)(size - off) : block;
		tu_pattern(buf, n, seed, off);
		ssize_t w = pwrite(fd, buf, n, (off_t)off);
		if (w < 0)
			rc = fail_errno(path, "write", off);
		else if (w == 0) {
			fprintf(stderr, "EIO: %s: write at %" PRIu64 " wrote nothing\n", path, off);
			rc = 1;
		} else
			off += (uint64_t)w;
	}
	if (rc == 0 && sync && fsync(fd) < 0)
		rc = fail_errno(path, "fsync", size);
	if (close(fd) < 0 && rc == 0)
		rc = fail_errno(path, "close", size);
	free(buf);
	return rc;
}

/* One pass over the file; *bytes += what was verified. */
static int check_once(const char *path, uint64_t size, uint64_t seed, unsigned pause_ms,
		      uint8_t *buf, uint64_t *bytes)
{
	int fd = open(path, O_RDONLY | (direct ? O_DIRECT : 0));
	if (fd < 0)
		return fail_errno(path, "open", 0);
	struct stat st;
	if (fstat(fd, &st) < 0) {
		close(fd);
		return fail_errno(path, "stat", 0);
	}
	if ((uint64_t)st.st_size != size) {
		fprintf(stderr, "EBADMSG: %s: size %lld, expected %" PRIu64 "\n", path,
			(long long)st.st_size, size);
		close(fd);
		return 1;
	}
	int rc = 0;
	for (uint64_t off = 0; off < size && rc == 0;) {
		size_t want = block;
		ssize_t r = pread(fd, buf, want, (off_t)off);
		if (r < 0) {
			rc = fail_errno(path, "read", off);
			break;
		}
		size_t expect = size - off < want ? (size_t)(size - off) : want;
		if ((size_t)r != expect) {
			fprintf(stderr, "EBADMSG: %s: read at %" PRIu64 " gave %zd bytes, expected %zu\n",
				path, off, r, expect);
			rc = 1;
			break;
		}
		long long d = tu_pattern_diff(buf, (size_t)r, seed, off);
		if (d >= 0) {
			fprintf(stderr, "EBADMSG: %s: byte %" PRIu64 " differs from the pattern\n",
				path, off + (uint64_t)d);
			rc = 1;
			break;
		}
		off += (uint64_t)r;
		*bytes += (uint64_t)r;
		if (pause_ms) {
			struct timespec ts = {pause_ms / 1000, (long)(pause_ms % 1000) * 1000000L};
			nanosleep(&ts, NULL);
		}
	}
	close(fd);
	return rc;
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno || end == s || *end)
		return -1;
	*out = v;
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage();
	const char *cmd = argv[1];
	bool sync = true;
	unsigned pause_ms = 0;
	int o;
	optind = 2;
	while ((o = getopt(argc, argv, "dnp:b:")) != -1) {
		uint64_t v;
		switch (o) {
		case 'd':
			direct = true;
			break;
		case 'n':
			sync = false;
			break;
		case 'p':
			if (parse_u64(optarg, &v) < 0)
				return usage();
			pause_ms = (unsigned)v;
			break;
		case 'b':
			if (parse_u64(optarg, &v) < 0 || v < ALIGN || v % ALIGN || v > (64u << 20))
				return usage();
			block = (size_t)v;
			break;
		default:
			return usage();
		}
	}
	bool loop = strcmp(cmd, "loop") == 0;
	if (argc - optind != (loop ? 4 : 3))
		return usage();
	const char *stop = loop ? argv[optind++] : NULL;
	const char *path = argv[optind];
	uint64_t size, seed;
	if (parse_u64(argv[optind + 1], &size) < 0 || parse_u64(argv[optind + 2], &seed) < 0 ||
	    (direct && size % ALIGN))
		return usage();

	if (strcmp(cmd, "write") == 0)
		return do_write(path, size, seed, sync);
	uint8_t *buf = alloc_block();
	uint64_t bytes = 0, passes = 0;
	int rc;
	if (strcmp(cmd, "check") == 0) {
		rc = check_once(path, size, seed, 0, buf, &bytes);
	} else if (loop) {
		do {
			rc = check_once(path, size, seed, pause_ms, buf, &bytes);
			if (rc == 0)
				passes++;
		} while (rc == 0 && access(stop, F_OK) != 0);
		printf("%" PRIu64 " passes, %" PRIu64 " bytes verified\n", passes, bytes);
	} else {
		rc = usage();
	}
	free(buf);
	return rc;
}
