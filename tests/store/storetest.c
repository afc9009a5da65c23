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

struct map_sum {
	uint64_t next, n, tree, alloc, free, pending, blob, header;
	uint64_t run, runs, largest, tail; /* free runs, counted from the map */
	const char *what;
};

static int map_sum_cb(void *ctx, const struct store_extent *e)
{
	struct map_sum *m = ctx;

	CHECKF(e->pgno == m->next && e->npages > 0,
	       "%s: space map extent %" PRIu64 " at page %" PRIu64 " (%" PRIu64
	       " pages), expected one at page %" PRIu64,
	       m->what, m->n, e->pgno, e->npages, m->next);
	m->next = e->pgno + e->npages;
	m->n++;
	bool is_free = e->kind == STORE_EXT_FREE || e->kind == STORE_EXT_PENDING ||
	               e->kind == STORE_EXT_PUNCHED;
	if (is_free) {
		m->run += e->npages; /* free kinds next to each other are one run */
		m->tail += e->npages;
	} else {
		if (m->run) {
			m->runs++;
			if (m->run > m->largest)
				m->largest = m->run;
		}
		m->run = 0;
		m->tail = 0;
	}
	switch (e->kind) {
	case STORE_EXT_HEADER:
		m->header += e->npages;
		break;
	case STORE_EXT_TREE:
		m->tree += e->npages;
		break;
	case STORE_EXT_ALLOC:
		m->alloc += e->npages;
		break;
	case STORE_EXT_BLOB:
		m->blob += e->npages;
		break;
	case STORE_EXT_PENDING:
		m->pending += e->npages;
		m->free += e->npages;
		break;
	case STORE_EXT_FREE:
	case STORE_EXT_PUNCHED:
		m->free += e->npages;
		break;
	default:
		tu_fail(__FILE__, __LINE__, "%s: space map extent of unknown kind %d", m->what,
		        (int)e->kind);
	}
	return 0;
}

void st_check_space_map(store_txn *txn, const char *what)
{
	struct store_stats st;
	struct map_sum m;
	uint64_t ps;

	memset(&m, 0, sizeof(m));
	m.what = what;
	CHECK_OK(store_stats(txn, &st));
	ps = st.page_size;
	CHECK_OK(store_space_map(txn, map_sum_cb, &m));
	CHECKF(m.next * ps == st.file_size,
	       "%s: the space map ends at page %" PRIu64 ", the file has %" PRIu64 " bytes", what,
	       m.next, st.file_size);
	CHECKF(m.header > 0, "%s: no header extent in the space map", what);
	CHECKF(m.tree == st.tree_pages && m.alloc == st.alloc_pages,
	       "%s: the space map has %" PRIu64 " tree and %" PRIu64
	       " allocator pages, store_stats %" PRIu64 " and %" PRIu64,
	       what, m.tree, m.alloc, st.tree_pages, st.alloc_pages);
	CHECKF(m.free * ps == st.free_bytes && m.pending * ps == st.pending_bytes,
	       "%s: the space map has %" PRIu64 " free pages (%" PRIu64
	       " pending), store_stats %" PRIu64 " free bytes (%" PRIu64 " pending)",
	       what, m.free, m.pending, st.free_bytes, st.pending_bytes);
	if (m.run) {
		m.runs++;
		if (m.run > m.largest)
			m.largest = m.run;
	}
	CHECKF(m.runs == st.free_extents && m.largest * ps == st.largest_free_extent &&
	               m.tail * ps == st.tail_free_bytes,
	       "%s: the space map has %" PRIu64 " free runs (largest %" PRIu64 " pages, %" PRIu64
	       " free at the end), store_stats %" PRIu64 " (%" PRIu64 " bytes, %" PRIu64 ")",
	       what, m.runs, m.largest, m.tail, st.free_extents, st.largest_free_extent,
	       st.tail_free_bytes);
	CHECKF(m.blob * ps >= st.blob_stored_bytes,
	       "%s: %" PRIu64 " blob pages cannot hold %" PRIu64 " stored blob bytes", what, m.blob,
	       st.blob_stored_bytes);
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
