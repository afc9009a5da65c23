/*
 * testutil.h — shared helpers for slatefs C tests: a temp dir removed even
 * when the test crashes, a seeded deterministic RNG whose seed is printed on
 * failure, deterministic byte patterns, and CHECK macros that print
 * file:line and fail the test.
 *
 * A test's main() calls tu_main(argc, argv, run): run() executes in a child
 * process while the parent waits, so the temp dir is removed and a signal is
 * reported even if run() crashes. Exit codes: 0 pass, 1 fail, 77 skip.
 */
#ifndef SLATEFS_TESTUTIL_H
#define SLATEFS_TESTUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define TU_EXIT_SKIP 77

/** Run fn in a child with a fresh temp dir; returns the exit code for main. */
int tu_main(int argc, char **argv, int (*fn)(void));

/** SLATEFS_TEST_SCALE (default 1, at least 1). */
unsigned tu_scale(void);
/* SLATEFS_TEST_SHRINK (default 1): the sanitizer run divides the longest
   CPU-bound tests by it; the plain run keeps their full size. */
unsigned tu_shrink(void);

/** The test's base seed: SLATEFS_TEST_SEED or a fresh random one (printed). */
uint64_t tu_seed(void);

/** The temp dir of this test (created by tu_main). */
const char *tu_tmpdir(void);

/** Write "<tmpdir>/<name>" into buf (PATH_MAX bytes) and return buf. */
char *tu_path(char *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** Set a line printed with any failure (e.g. "seed 5, op 1234"). */
void tu_context(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/** Print a failure (with context and seed) and exit the process with 1. */
_Noreturn void tu_fail(const char *file, int line, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/** Seconds on the monotonic clock. */
double tu_now(void);

/** A quiet log callback for store_options.log: counts lines, prints them only
 *  when SLATEFS_TEST_VERBOSE is set. ctx may be NULL or a uint64_t counter. */
void tu_log_quiet(void *ctx, int level, const char *msg);

/* ---- deterministic RNG (xoshiro256**) ---- */
struct tu_rng {
	uint64_t s[4];
};

void tu_rng_seed(struct tu_rng *r, uint64_t seed);
uint64_t tu_rng_next(struct tu_rng *r);
/** Uniform in [0, n); n > 0. */
uint64_t tu_rng_below(struct tu_rng *r, uint64_t n);
/** Uniform in [lo, hi]. */
uint64_t tu_rng_range(struct tu_rng *r, uint64_t lo, uint64_t hi);
/** True with probability num/den. */
bool tu_rng_chance(struct tu_rng *r, unsigned num, unsigned den);
void tu_rng_fill(struct tu_rng *r, void *buf, size_t len);

/** A 64-bit mixer (splitmix64 finaliser). */
uint64_t tu_mix64(uint64_t x);

/**
 * Deterministic bytes: byte p of the stream named by seed is a fixed function
 * of (seed, p). Fills buf with bytes [off, off + len) of that stream.
 */
void tu_pattern(void *buf, size_t len, uint64_t seed, uint64_t off);
/** Offset of the first byte of buf differing from the pattern, or -1. */
long long tu_pattern_diff(const void *buf, size_t len, uint64_t seed, uint64_t off);

/** Index of the first differing byte of a and b, or -1. */
long long tu_memdiff(const void *a, const void *b, size_t len);

/** Read a whole file into a malloc'd buffer; returns 0 or -errno. */
int tu_read_file(const char *path, uint8_t **buf, size_t *len);
/** Create/replace a file with len bytes of buf; returns 0 or -errno. */
int tu_write_file(const char *path, const void *buf, size_t len);
/** Copy a file; returns 0 or -errno. */
int tu_copy_file(const char *from, const char *to);

/* ---- CHECK macros: on failure print file:line and what was expected ---- */
#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond))                                                                       \
			tu_fail(__FILE__, __LINE__, "CHECK(%s) failed", #cond);                    \
	} while (0)

#define CHECKF(cond, ...)                                                                          \
	do {                                                                                       \
		if (!(cond))                                                                       \
			tu_fail(__FILE__, __LINE__, __VA_ARGS__);                                  \
	} while (0)

/** expr must return want (an int, e.g. 0 or -ENOENT). */
#define CHECK_RC(expr, want)                                                                       \
	do {                                                                                       \
		int tu_rc_ = (expr);                                                               \
		int tu_want_ = (want);                                                             \
		if (tu_rc_ != tu_want_)                                                            \
			tu_fail(__FILE__, __LINE__, "%s returned %d (%s), expected %d (%s)",       \
			        #expr, tu_rc_, strerror(tu_rc_ < 0 ? -tu_rc_ : tu_rc_), tu_want_,  \
			        strerror(tu_want_ < 0 ? -tu_want_ : tu_want_));                    \
	} while (0)

#define CHECK_OK(expr) CHECK_RC(expr, 0)

/** Two unsigned integers must be equal. */
#define CHECK_EQ(a, b)                                                                             \
	do {                                                                                       \
		unsigned long long tu_a_ = (unsigned long long)(a);                                \
		unsigned long long tu_b_ = (unsigned long long)(b);                                \
		if (tu_a_ != tu_b_)                                                                \
			tu_fail(__FILE__, __LINE__, "%s == %s failed: %llu != %llu", #a, #b,       \
			        tu_a_, tu_b_);                                                     \
	} while (0)

/** Two buffers of n bytes must be equal. */
#define CHECK_MEM(a, b, n)                                                                         \
	do {                                                                                       \
		long long tu_d_ = tu_memdiff((a), (b), (n));                                       \
		if (tu_d_ >= 0)                                                                    \
			tu_fail(__FILE__, __LINE__, "%s and %s differ at byte %lld of %zu", #a,    \
			        #b, tu_d_, (size_t)(n));                                           \
	} while (0)

#endif /* SLATEFS_TESTUTIL_H */
