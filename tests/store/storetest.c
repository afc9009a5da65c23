/*
 * storetest.c — helpers shared by the store tests (see storetest.h).
 */
#include "storetest.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/stat.h>

uint64_t st_log_lines;

int st_try_open(const char *path, unsigned flags, uint32_t page_size, store_io_hook hook,
                void *hook_ctx, store **out)
{
	struct store_options o;

	memset(&o, 0, sizeof(o));
	o.page_size = page_size;
	o.log = tu_log_quiet;
	o.log_ctx = &st_log_lines;
	o.io_hook = hook;
	o.io_hook_ctx = hook_ctx;
	*out = NULL;
	return store_open(path, flags, &o, out);
}

store *st_open(const char *path, unsigned flags, uint32_t page_size)
{
	store *s = NULL;
	int rc = st_try_open(path, flags, page_size, NULL, NULL, &s);

	CHECKF(rc == 0 && s, "store_open(%s, flags %#x, page size %u) = %d (%s)", path, flags,
	       page_size, rc, strerror(-rc));
	return s;
}

store_txn *st_read(store *s)
{
	store_txn *t = NULL;

	CHECK_OK(store_txn_begin(s, STORE_TXN_READ, &t));
	CHECK(t != NULL);
	return t;
}

store_txn *st_write(store *s)
{
	store_txn *t = NULL;

	CHECK_OK(store_txn_begin(s, STORE_TXN_WRITE, &t));
	CHECK(t != NULL);
	CHECK(store_txn_is_write(t));
	return t;
}

uint64_t st_commit(store_txn *w, bool durable)
{
	uint64_t id = 0;

	CHECK_OK(store_txn_commit(w, durable ? STORE_COMMIT_DURABLE : 0, &id));
	return id;
}

struct verify_ctx {
	unsigned shown;
};

static void verify_problem(void *ctx, const char *msg)
{
	struct verify_ctx *v = ctx;

	if (v->shown++ < 20)
		fprintf(stderr, "  verify: %s\n", msg);
}

void st_verify_clean(store_txn *txn, enum store_verify_level level, const char *what)
{
	struct store_verify_report rep;
	struct verify_ctx v = {0};
	int rc;

	memset(&rep, 0, sizeof(rep));
	rc = store_verify(txn, level, verify_problem, NULL, &v, &rep);
	CHECKF(rc == 0, "store_verify(level %d) %s: could not run: %d (%s)", level, what, rc,
	       strerror(-rc));
	CHECKF(rep.errors == 0 && rep.leaked_pages == 0,
	       "store_verify(level %d) %s: %" PRIu64 " errors, %" PRIu64 " leaked pages "
	       "(%" PRIu64 " pages, %" PRIu64 " blobs checked)",
	       level, what, rep.errors, rep.leaked_pages, rep.pages, rep.blobs);
}

static void verify_silent(void *ctx, const char *msg)
{
	(void)ctx;
	(void)msg;
}

uint64_t st_verify_count(store_txn *txn, enum store_verify_level level)
{
	struct store_verify_report rep;
	int rc;

	memset(&rep, 0, sizeof(rep));
	rc = store_verify(txn, level, verify_silent, NULL, NULL, &rep);
	if (rc != 0)
		return 1;
	return rep.errors + rep.leaked_pages;
}

void st_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

uint64_t st_get_be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

const char *st_hex(const void *buf, size_t len)
{
	static char out[4][160];
	static int which;
	char *o = out[which++ & 3];
	const uint8_t *p = buf;
	size_t n = len < 48 ? len : 48, at;

	at = (size_t)snprintf(o, 160, "[%zu]", len);
	for (size_t i = 0; i < n && at + 3 < 160; i++)
		at += (size_t)snprintf(o + at, 160 - at, "%02x", p[i]);
	if (n < len && at + 4 < 160)
		snprintf(o + at, 160 - at, "...");
	return o;
}

uint64_t st_file_size(const char *path)
{
	struct stat st;

	CHECKF(stat(path, &st) == 0, "stat(%s): %s", path, strerror(errno));
	return (uint64_t)st.st_size;
}
