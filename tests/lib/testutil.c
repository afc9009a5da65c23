/*
 * testutil.c — shared helpers for slatefs C tests (see testutil.h): the
 * forking test runner with its temp dir, the RNG, byte patterns, failure
 * reporting and small file utilities.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* nftw, strsignal */
#endif
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char tu_dir[1024];
static char tu_ctx[512];
static uint64_t tu_base_seed;
static const char *tu_name = "test";
static volatile sig_atomic_t tu_child_pid;

unsigned tu_scale(void)
{
	const char *s = getenv("SLATEFS_TEST_SCALE");
	long v = s ? strtol(s, NULL, 10) : 1;
	return v >= 1 ? (unsigned)v : 1;
}

unsigned tu_shrink(void)
{
	const char *s = getenv("SLATEFS_TEST_SHRINK");
	long v = s ? strtol(s, NULL, 10) : 1;
	return v >= 1 ? (unsigned)v : 1;
}

uint64_t tu_seed(void)
{
	return tu_base_seed;
}

const char *tu_tmpdir(void)
{
	return tu_dir;
}

char *tu_path(char *buf, const char *fmt, ...)
{
	char name[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(name, sizeof(name), fmt, ap);
	va_end(ap);
	snprintf(buf, PATH_MAX, "%s/%s", tu_dir, name);
	return buf;
}

void tu_context(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(tu_ctx, sizeof(tu_ctx), fmt, ap);
	va_end(ap);
}

void tu_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "FAIL %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	if (tu_ctx[0])
		fprintf(stderr, "  context: %s\n", tu_ctx);
	fprintf(stderr, "  %s: rerun with SLATEFS_TEST_SEED=%" PRIu64 " SLATEFS_TEST_SCALE=%u\n",
	        tu_name, tu_base_seed, tu_scale());
	fflush(NULL);
	/* _exit: no leak report noise, and a forked case never cleans up the
	 * parent's temp dir. */
	_exit(1);
}

double tu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void tu_log_quiet(void *ctx, int level, const char *msg)
{
	static int verbose = -1;

	if (ctx)
		(*(uint64_t *)ctx)++;
	if (verbose < 0)
		verbose = getenv("SLATEFS_TEST_VERBOSE") != NULL;
	if (verbose)
		fprintf(stderr, "store log (%d): %s\n", level, msg);
}

/* ---- RNG ---- */

uint64_t tu_mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

void tu_rng_seed(struct tu_rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++) {
		seed = tu_mix64(seed);
		r->s[i] = seed | (i == 0); /* never all zero */
	}
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t tu_rng_next(struct tu_rng *r)
{
	uint64_t *s = r->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

uint64_t tu_rng_below(struct tu_rng *r, uint64_t n)
{
	uint64_t limit = UINT64_MAX - UINT64_MAX % n;
	uint64_t x;

	do {
		x = tu_rng_next(r);
	} while (x >= limit);
	return x % n;
}

uint64_t tu_rng_range(struct tu_rng *r, uint64_t lo, uint64_t hi)
{
	if (hi - lo == UINT64_MAX)
		return tu_rng_next(r);
	return lo + tu_rng_below(r, hi - lo + 1);
}

bool tu_rng_chance(struct tu_rng *r, unsigned num, unsigned den)
{
	return tu_rng_below(r, den) < num;
}

void tu_rng_fill(struct tu_rng *r, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len >= 8) {
		uint64_t x = tu_rng_next(r);
		memcpy(p, &x, 8);
		p += 8;
		len -= 8;
	}
	if (len) {
		uint64_t x = tu_rng_next(r);
		memcpy(p, &x, len);
	}
}

/* ---- patterns ---- */

/* Word w of the stream named by seed: cheap (two multiplies), and different
 * seeds give unrelated streams. Byte p is byte p % 8 (little-endian) of
 * word p / 8. */
static inline uint64_t pattern_word(uint64_t seed, uint64_t w)
{
	uint64_t h = (seed ^ (w * 0x9e3779b97f4a7c15ULL)) * 0xd6e8feb86659fd93ULL;

	h ^= h >> 32;
	h *= 0xd6e8feb86659fd93ULL;
	return h ^ (h >> 29);
}

static inline void put_le64(uint8_t *p, uint64_t x)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	memcpy(p, &x, 8);
#else
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(x >> (i * 8));
#endif
}

void tu_pattern(void *buf, size_t len, uint64_t seed, uint64_t off)
{
	uint8_t *p = buf;

	seed = tu_mix64(seed);
	while (len && (off & 7)) {
		*p++ = (uint8_t)(pattern_word(seed, off >> 3) >> ((off & 7) * 8));
		off++;
		len--;
	}
	while (len >= 8) {
		put_le64(p, pattern_word(seed, off >> 3));
		p += 8;
		off += 8;
		len -= 8;
	}
	while (len) {
		*p++ = (uint8_t)(pattern_word(seed, off >> 3) >> ((off & 7) * 8));
		off++;
		len--;
	}
}

long long tu_pattern_diff(const void *buf, size_t len, uint64_t seed, uint64_t off)
{
	const uint8_t *p = buf;
	uint8_t tmp[8];
	size_t done = 0;
	uint64_t mixed = tu_mix64(seed);

	/* head and tail bytes one by one, aligned words in between */
	while (done < len && ((off + done) & 7)) {
		tu_pattern(tmp, 1, seed, off + done);
		if (p[done] != tmp[0])
			return (long long)done;
		done++;
	}
	while (len - done >= 8) {
		put_le64(tmp, pattern_word(mixed, (off + done) >> 3));
		if (memcmp(p + done, tmp, 8) != 0)
			for (int i = 0; i < 8; i++)
				if (p[done + (size_t)i] != tmp[i])
					return (long long)done + i;
		done += 8;
	}
	while (done < len) {
		tu_pattern(tmp, 1, seed, off + done);
		if (p[done] != tmp[0])
			return (long long)done;
		done++;
	}
	return -1;
}

long long tu_memdiff(const void *a, const void *b, size_t len)
{
	const uint8_t *x = a, *y = b;

	if (len == 0 || memcmp(a, b, len) == 0)
		return -1;
	for (size_t i = 0; i < len; i++)
		if (x[i] != y[i])
			return (long long)i;
	return -1;
}

/* ---- files ---- */

int tu_read_file(const char *path, uint8_t **buf, size_t *len)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	uint8_t *b;
	size_t got = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	b = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!b) {
		close(fd);
		return -ENOMEM;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = pread(fd, b + got, (size_t)st.st_size - got, (off_t)got);
		if (n <= 0) {
			int e = n < 0 ? -errno : -EIO;
			free(b);
			close(fd);
			return e;
		}
		got += (size_t)n;
	}
	close(fd);
	*buf = b;
	*len = got;
	return 0;
}

int tu_write_file(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	size_t done = 0;

	if (fd < 0)
		return -errno;
	while (done < len) {
		ssize_t n = pwrite(fd, (const uint8_t *)buf + done, len - done, (off_t)done);
		if (n <= 0) {
			int e = n < 0 ? -errno : -EIO;
			close(fd);
			return e;
		}
		done += (size_t)n;
	}
	return close(fd) < 0 ? -errno : 0;
}

int tu_copy_file(const char *from, const char *to)
{
	uint8_t *buf;
	size_t len;
	int rc = tu_read_file(from, &buf, &len);

	if (rc)
		return rc;
	rc = tu_write_file(to, buf, len);
	free(buf);
	return rc;
}

/* ---- runner ---- */

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void forward_signal(int sig)
{
	if (tu_child_pid > 0)
		kill((pid_t)tu_child_pid, sig);
}

int tu_main(int argc, char **argv, int (*fn)(void))
{
	const char *s = getenv("SLATEFS_TEST_SEED");
	struct sigaction sa;
	pid_t pid;
	int status, code;

	(void)argc;
	if (argv && argv[0]) {
		const char *slash = strrchr(argv[0], '/');
		tu_name = slash ? slash + 1 : argv[0];
	}
	if (s && *s) {
		tu_base_seed = strtoull(s, NULL, 0);
	} else if (getrandom(&tu_base_seed, sizeof(tu_base_seed), 0) != sizeof(tu_base_seed)) {
		tu_base_seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	}
	printf("%s: seed %" PRIu64 " (SLATEFS_TEST_SEED), scale %u (SLATEFS_TEST_SCALE)\n", tu_name,
	       tu_base_seed, tu_scale());
	snprintf(tu_dir, sizeof(tu_dir), "/tmp/slatefs-%s-XXXXXX", tu_name);
	if (!mkdtemp(tu_dir)) {
		perror("mkdtemp");
		return 1;
	}
	fflush(NULL);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = forward_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);

	pid = fork();
	if (pid < 0) {
		perror("fork");
		nftw(tu_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
		return 1;
	}
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		code = fn();
		fflush(NULL);
		exit(code);
	}
	tu_child_pid = pid;
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			perror("waitpid");
			status = 1 << 8;
			break;
		}
	}
	tu_child_pid = 0;
	nftw(tu_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	if (WIFSIGNALED(status)) {
		fprintf(stderr,
		        "FAIL %s: killed by signal %d (%s); rerun with SLATEFS_TEST_SEED=%" PRIu64
		        "\n",
		        tu_name, WTERMSIG(status), strsignal(WTERMSIG(status)), tu_base_seed);
		return 1;
	}
	code = WEXITSTATUS(status);
	if (code == 0)
		printf("%s: PASS\n", tu_name);
	else if (code == TU_EXIT_SKIP)
		printf("%s: SKIP\n", tu_name);
	return code;
}
