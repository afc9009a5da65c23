/*
 * alloc_limit.c — for the replayers: every malloc, calloc, realloc and
 * posix_memalign of the program (linked with -Wl,--wrap=...) larger than a
 * limit aborts with a message, as libFuzzer's -malloc_limit_mb does for the
 * fuzz targets. An image must never make the store or the filesystem check
 * allocate without bound: a crafted count or id that asks for gigabytes is a
 * denial of service (or, without overcommit, an out-of-memory kill), so the
 * replay of such an input must fail, not quietly get ENOMEM on one machine
 * and exhaust memory on another.
 * Limit: SLATEFS_FUZZ_MALLOC_LIMIT_MB (default 1024).
 */
#include <stdio.h>
#include <stdlib.h>

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
int __real_posix_memalign(void **p, size_t align, size_t size);
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t size);
int __wrap_posix_memalign(void **p, size_t align, size_t size);

static void check(size_t size, const char *what)
{
	static size_t limit;
	if (!limit) {
		const char *e = getenv("SLATEFS_FUZZ_MALLOC_LIMIT_MB");
		long mb = e ? atol(e) : 0;
		limit = (size_t)(mb > 0 ? mb : 1024) << 20;
	}
	if (size > limit) {
		fprintf(stderr, "alloc_limit: %s(%zu bytes) is over the limit of %zu MiB: an image "
				"made the program allocate without bound\n",
			what, size, limit >> 20);
		abort();
	}
}

void *__wrap_malloc(size_t size)
{
	check(size, "malloc");
	return __real_malloc(size);
}

void *__wrap_calloc(size_t n, size_t size)
{
	if (size && n > (size_t)-1 / size)
		check((size_t)-1, "calloc");
	check(n * size, "calloc");
	return __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t size)
{
	check(size, "realloc");
	return __real_realloc(p, size);
}

int __wrap_posix_memalign(void **p, size_t align, size_t size)
{
	check(size, "posix_memalign");
	return __real_posix_memalign(p, align, size);
}
