/*
 * statemodel.c — the whole-state model of the store tests (see
 * statemodel.h): rows and blobs, snapshots by txn id, the random workload,
 * and the comparison of a txn's view with a snapshot.
 */
#include "statemodel.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

/* ---- rows ---- */

static int row_cmp(uint32_t ta, uint64_t ka, uint32_t tb, uint64_t kb)
{
	if (ta != tb)
		return ta < tb ? -1 : 1;
	return ka < kb ? -1 : ka > kb;
}

static size_t row_find(const struct sm *m, uint32_t t, uint64_t k, bool *found)
{
	size_t lo = 0, hi = m->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (row_cmp(m->rows[mid].table, m->rows[mid].key, t, k) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = lo < m->n && m->rows[lo].table == t && m->rows[lo].key == k;
	return lo;
}

static void row_set(struct sm *m, const struct sm_row *r)
{
	bool found;
	size_t i = row_find(m, r->table, r->key, &found);

	if (!found) {
		if (m->n == m->cap) {
			m->cap = m->cap ? m->cap * 2 : 512;
			m->rows = realloc(m->rows, m->cap * sizeof(*m->rows));
			CHECK(m->rows != NULL);
		}
		memmove(&m->rows[i + 1], &m->rows[i], (m->n - i) * sizeof(*m->rows));
		m->n++;
	}
	m->rows[i] = *r;
}

static void row_del_at(struct sm *m, size_t i)
{
	memmove(&m->rows[i], &m->rows[i + 1], (m->n - i - 1) * sizeof(*m->rows));
	m->n--;
}

/* Rows of table t in a sorted array: *first and the count. */
static size_t rows_of(const struct sm_row *rows, size_t n, uint32_t t, size_t *first)
{
	size_t a = 0, b;

	while (a < n && rows[a].table < t)
		a++;
	b = a;
	while (b < n && rows[b].table == t)
		b++;
	*first = a;
	return b - a;
}

void sm_free(struct sm *m)
{
	for (size_t i = 0; i < m->nsnaps; i++)
		free(m->snaps[i].rows);
	free(m->snaps);
	free(m->rows);
	memset(m, 0, sizeof(*m));
}

struct sm_snap *sm_snap_find(struct sm *m, uint64_t txnid)
{
	for (size_t i = m->nsnaps; i-- > 0;)
		if (m->snaps[i].txnid == txnid)
			return &m->snaps[i];
	return NULL;
}

void sm_snap_take(struct sm *m, uint64_t txnid)
{
	struct sm_snap *s = sm_snap_find(m, txnid);

	if (!s) {
		if (m->nsnaps == m->capsnaps) {
			m->capsnaps = m->capsnaps ? m->capsnaps * 2 : 256;
			m->snaps = realloc(m->snaps, m->capsnaps * sizeof(*m->snaps));
			CHECK(m->snaps != NULL);
		}
		s = &m->snaps[m->nsnaps++];
		s->rows = NULL;
	}
	free(s->rows);
	s->txnid = txnid;
	s->tables = m->tables;
	s->n = m->n;
	s->rows = malloc((m->n ? m->n : 1) * sizeof(*m->rows));
	CHECK(s->rows != NULL);
	if (m->n)
		memcpy(s->rows, m->rows, m->n * sizeof(*m->rows));
}

void sm_restore(struct sm *m, const struct sm_snap *sn)
{
	m->n = 0;
	for (size_t i = 0; i < sn->n; i++)
		row_set(m, &sn->rows[i]);
	m->tables = sn->tables;
	m->blob_bytes = 0;
	for (size_t i = 0; i < m->n; i++)
		if (m->rows[i].table == SM_BLOBT)
			m->blob_bytes += m->rows[i].vlen;
}

/* ---- keys and values ---- */

static size_t data_key(uint64_t k, uint8_t *out)
{
	size_t tail = k % 23;

	st_be64(out, k);
	tu_pattern(out + 8, tail, k, 0);
	return 8 + tail;
}

static uint64_t vpat(uint32_t vseed)
{
	return tu_mix64(0xc4a5ULL ^ vseed);
}

/* Blob bytes: odd seeds give compressible data (runs of 64 equal bytes). */
static void blob_fill(uint8_t *buf, uint64_t len, uint32_t seed)
{
	if (!(seed & 1)) {
		tu_pattern(buf, len, vpat(seed), 0);
		return;
	}
	for (uint64_t i = 0; i < len; i += 64) {
		uint8_t b;
		tu_pattern(&b, 1, vpat(seed), i / 64);
		memset(buf + i, b, len - i < 64 ? len - i : 64);
	}
}

static void blob_row_value(const struct sm_row *r, uint8_t v[16])
{
	st_be64(v, r->vlen);
	st_be64(v + 8, ((uint64_t)r->vseed << 32) | r->refs);
}

static void table_name(uint32_t t, char *name)
{
	if (t == SM_BLOBT)
		strcpy(name, "blobs");
	else
		snprintf(name, 32, "data-%u", t);
}

/* ---- checking a state against a snapshot ---- */

struct list_ctx {
	char names[SM_NDATA + 2][STORE_MAX_TABLE_NAME + 1];
	int n;
};

static int list_cb(void *ctx, const struct store_table_info *info)
{
	struct list_ctx *l = ctx;

	if (l->n < SM_NDATA + 2)
		snprintf(l->names[l->n], sizeof(l->names[0]), "%s", info->name);
	l->n++;
	return 0;
}

static uint8_t *cbuf, *cwant; /* blob read back, and expected */

/* An error from the store: -EIO is a detection when tolerant, anything
 * else (and -EIO when not tolerant) fails. Returns true to skip on. */
static bool store_error(int rc, bool tolerant, unsigned *eio, const char *what, const char *op)
{
	if (rc == 0)
		return false;
	CHECKF(tolerant && rc == -EIO, "%s: %s returned %d (%s)", what, op, rc, strerror(-rc));
	(*eio)++;
	return true;
}

static void check_blob(store_txn *txn, const struct sm_snap *sn, const struct sm_row *r,
                       bool tolerant, unsigned *eio, const char *what)
{
	struct store_blob_info bi;
	size_t got = 0;
	int rc = store_blob_stat(txn, r->key, &bi);

	if (store_error(rc, tolerant, eio, what, "store_blob_stat"))
		return;
	CHECKF(bi.id == r->key && bi.length == r->vlen && bi.refs == r->refs,
	       "%s: txn %" PRIu64 ": blob %" PRIu64 " has id %" PRIu64 " length %" PRIu64
	       " refs %u, snapshot: length %u refs %u",
	       what, sn->txnid, r->key, bi.id, bi.length, bi.refs, r->vlen, r->refs);
	rc = store_blob_read(txn, r->key, 0, cbuf, SM_BUF_SIZE, &got);
	if (store_error(rc, tolerant, eio, what, "store_blob_read"))
		return;
	CHECKF(got == r->vlen, "%s: txn %" PRIu64 ": read of blob %" PRIu64 " gave %zu bytes of %u",
	       what, sn->txnid, r->key, got, r->vlen);
	blob_fill(cwant, r->vlen, r->vseed);
	CHECKF(tu_memdiff(cbuf, cwant, got) < 0,
	       "%s: txn %" PRIu64 ": blob %" PRIu64 " (%u bytes) differs at byte %lld", what,
	       sn->txnid, r->key, r->vlen, tu_memdiff(cbuf, cwant, got));
}

static void check_row(store_txn *txn, const struct sm_snap *sn, uint32_t t, const char *tname,
                      size_t j, const struct sm_row *r, const void *k, size_t kl, const void *v,
                      size_t vl, const char *what)
{
	uint8_t wk[40], wv[16];
	size_t wkl;

	(void)txn;
	if (t == SM_BLOBT) {
		st_be64(wk, r->key);
		wkl = 8;
	} else {
		wkl = data_key(r->key, wk);
	}
	CHECKF(kl == wkl && memcmp(k, wk, kl) == 0,
	       "%s: txn %" PRIu64 ": table %s row %zu: key %s, snapshot %s", what, sn->txnid, tname,
	       j, st_hex(k, kl), st_hex(wk, wkl));
	if (t == SM_BLOBT) {
		blob_row_value(r, wv);
		CHECKF(vl == 16 && memcmp(v, wv, 16) == 0,
		       "%s: txn %" PRIu64 ": blob row %" PRIu64 " holds %s, snapshot %s", what,
		       sn->txnid, r->key, st_hex(v, vl), st_hex(wv, 16));
	} else {
		long long d;
		CHECKF(vl == r->vlen,
		       "%s: txn %" PRIu64 ": %s key %" PRIu64 " value is %zu bytes, snapshot %u",
		       what, sn->txnid, tname, r->key, vl, r->vlen);
		d = tu_pattern_diff(v, vl, vpat(r->vseed), 0);
		CHECKF(d < 0, "%s: txn %" PRIu64 ": %s key %" PRIu64 " value differs at byte %lld",
		       what, sn->txnid, tname, r->key, d);
	}
}

static void check_table(store_txn *txn, const struct sm_snap *sn, uint32_t t, const char *tname,
                        bool tolerant, unsigned *eio, const char *what)
{
	store_table h;
	store_cursor *c = NULL;
	size_t first, cnt = rows_of(sn->rows, sn->n, t, &first), j = 0;
	int rc = store_table_open(txn, tname, &h);

	if (store_error(rc, tolerant, eio, what, "store_table_open"))
		return;
	CHECK_OK(store_cursor_open(txn, h, &c));
	rc = store_cursor_seek(c, STORE_SEEK_FIRST, NULL, 0);
	for (; rc == 0; rc = store_cursor_next(c), j++) {
		const void *k, *v;
		size_t kl, vl;

		CHECKF(j < cnt, "%s: txn %" PRIu64 ": table %s has more than %zu rows", what,
		       sn->txnid, tname, cnt);
		rc = store_cursor_get(c, &k, &kl, &v, &vl);
		if (rc)
			break;
		check_row(txn, sn, t, tname, j, &sn->rows[first + j], k, kl, v, vl, what);
	}
	store_cursor_close(c);
	if (rc == -ENOENT) {
		CHECKF(j == cnt, "%s: txn %" PRIu64 ": table %s has %zu rows, snapshot %zu", what,
		       sn->txnid, tname, j, cnt);
	} else {
		store_error(rc, tolerant, eio, what, "a cursor scan");
		return;
	}
	if (t == SM_BLOBT)
		for (size_t i = 0; i < cnt; i++)
			check_blob(txn, sn, &sn->rows[first + i], tolerant, eio, what);
	/* point gets find what the scan found */
	for (size_t i = 0; i < cnt; i += 1 + cnt / 8) {
		const struct sm_row *r = &sn->rows[first + i];
		uint8_t k[40];
		size_t kl, vl = 0;

		if (t == SM_BLOBT) {
			st_be64(k, r->key);
			kl = 8;
		} else {
			kl = data_key(r->key, k);
		}
		rc = store_get(txn, h, k, kl, cbuf, SM_BUF_SIZE, &vl);
		if (store_error(rc, tolerant, eio, what, "store_get"))
			continue;
		check_row(txn, sn, t, tname, i, r, k, kl, cbuf, vl, what);
	}
}

unsigned sm_check(store_txn *txn, const struct sm_snap *sn, bool tolerant, const char *what)
{
	struct list_ctx l;
	char want[SM_NDATA + 2][32];
	uint32_t tno[SM_NDATA + 2];
	int nwant = 0, rc;
	unsigned eio = 0;

	if (!cbuf) {
		cbuf = malloc(SM_BUF_SIZE);
		cwant = malloc(SM_BUF_SIZE);
		CHECK(cbuf && cwant);
	}
	/* table list, in name order ("blobs" < "data-0" < ...) */
	tno[nwant] = SM_BLOBT;
	table_name(SM_BLOBT, want[nwant++]);
	for (uint32_t t = 0; t < SM_NDATA; t++)
		if (sn->tables & (1u << t)) {
			tno[nwant] = t;
			table_name(t, want[nwant++]);
		}
	memset(&l, 0, sizeof(l));
	rc = store_table_list(txn, list_cb, &l);
	if (!store_error(rc, tolerant, &eio, what, "store_table_list")) {
		CHECKF(l.n == nwant, "%s: txn %" PRIu64 " has %d tables, snapshot %d", what,
		       sn->txnid, l.n, nwant);
		for (int i = 0; i < nwant; i++)
			CHECKF(strcmp(l.names[i], want[i]) == 0,
			       "%s: table %d is %s, snapshot has %s", what, i, l.names[i], want[i]);
	}
	for (int i = 0; i < nwant; i++)
		check_table(txn, sn, tno[i], want[i], tolerant, &eio, what);
	return eio;
}

/* ---- the workload ---- */

void sm_wl_init_tables(struct sm_wl *w)
{
	CHECK_OK(store_table_create(w->w, "blobs", &w->h[SM_BLOBT]));
	CHECK_OK(store_table_create(w->w, "data-0", &w->h[0]));
	w->m->tables = 1;
}

void sm_wl_handles(struct sm_wl *w, store_txn *txn)
{
	char name[32];

	for (uint32_t t = 0; t < 16; t++) {
		if (t != SM_BLOBT && (t >= SM_NDATA || !(w->m->tables & (1u << t))))
			continue;
		table_name(t, name);
		CHECK_OK(store_table_open(txn, name, &w->h[t]));
	}
}

static void wl_put_row(struct sm_wl *w)
{
	struct tu_rng *g = &w->rng;
	struct sm *m = w->m;
	struct sm_row r;
	uint8_t k[40];
	size_t kl, first, cnt;
	uint64_t x = tu_rng_below(g, 100);
	uint32_t t;

	do
		t = (uint32_t)tu_rng_below(g, SM_NDATA);
	while (!(m->tables & (1u << t)));
	cnt = rows_of(m->rows, m->n, t, &first);
	r.table = t;
	r.key = cnt && tu_rng_chance(g, 1, 3) ? m->rows[first + tu_rng_below(g, cnt)].key
	                                      : w->next_key++;
	r.vlen = (uint32_t)(x < 70   ? tu_rng_below(g, 300)
	                    : x < 92 ? tu_rng_range(g, 300, 3000)
	                             : tu_rng_range(g, 3000, w->lim.max_value));
	r.vseed = w->next_seed++;
	r.refs = 0;
	kl = data_key(r.key, k);
	tu_pattern(w->buf, r.vlen, vpat(r.vseed), 0);
	CHECK_OK(store_put(w->w, w->h[t], k, kl, w->buf, r.vlen, 0));
	row_set(m, &r);
}

void sm_wl_fill(struct sm_wl *w, uint32_t t, unsigned n, uint32_t vlen)
{
	struct sm_row r;
	uint8_t k[40];

	CHECK(w->m->tables & (1u << t));
	for (unsigned i = 0; i < n; i++) {
		r.table = t;
		r.key = w->next_key++;
		r.vlen = vlen;
		r.vseed = w->next_seed++;
		r.refs = 0;
		tu_pattern(w->buf, r.vlen, vpat(r.vseed), 0);
		CHECK_OK(store_put(w->w, w->h[t], k, data_key(r.key, k), w->buf, r.vlen, 0));
		row_set(w->m, &r);
	}
}

static void wl_del_row(struct sm_wl *w)
{
	struct sm *m = w->m;
	size_t first, cnt, i;
	uint8_t k[40];
	uint32_t t = (uint32_t)tu_rng_below(&w->rng, SM_NDATA);

	if (!(m->tables & (1u << t)))
		return;
	cnt = rows_of(m->rows, m->n, t, &first);
	if (!cnt)
		return;
	i = first + tu_rng_below(&w->rng, cnt);
	CHECK_OK(store_del(w->w, w->h[t], k, data_key(m->rows[i].key, k)));
	row_del_at(m, i);
}

static void wl_blob_row(struct sm_wl *w, const struct sm_row *r)
{
	uint8_t k[8], v[16];

	st_be64(k, r->key);
	blob_row_value(r, v);
	CHECK_OK(store_put(w->w, w->h[SM_BLOBT], k, 8, v, 16, 0));
	row_set(w->m, r);
}

static void wl_blob_put(struct sm_wl *w)
{
	struct tu_rng *g = &w->rng;
	struct sm_row r;
	uint64_t x = tu_rng_below(g, 100), id = 0;
	unsigned flags = tu_rng_chance(g, 1, 2) ? STORE_BLOB_LZ4 : 0;
	int how = (int)tu_rng_below(g, 4);

	r.table = SM_BLOBT;
	r.vlen = (uint32_t)(x < 35   ? tu_rng_below(g, 2000)
	                    : x < 92 ? tu_rng_range(g, 2000, 65536)
	                             : tu_rng_range(g, 65536, w->lim.max_blob));
	r.vseed = w->next_seed++;
	r.refs = 1;
	blob_fill(w->buf, r.vlen, r.vseed);
	if (how <= 1) {
		CHECK_OK(store_blob_put(w->w, w->buf, r.vlen, flags, &id));
	} else if (how == 2) {
		store_blob_prep *p = NULL;
		CHECK_OK(store_blob_prepare(w->s, w->buf, r.vlen, flags, &p));
		CHECK_OK(store_blob_put_prepared(w->w, p, &id));
		store_blob_prep_free(p);
	} else {
		/* the writer, in pieces written back to front */
		store_blob_writer *bw = NULL;
		uint64_t piece = tu_rng_range(g, 1000, 40000), off = r.vlen;
		CHECK_OK(store_blob_writer_open(w->w, r.vlen, flags, &bw));
		while (off > 0) {
			uint64_t start = off > piece ? off - piece : 0;
			CHECK_OK(store_blob_writer_write(bw, start, w->buf + start, off - start));
			off = start;
		}
		CHECK_OK(store_blob_writer_finish(bw, &id));
	}
	r.key = id;
	wl_blob_row(w, &r);
	w->m->blob_bytes += r.vlen;
	w->blobs_put++;
}

static void wl_blob_ref(struct sm_wl *w, bool share)
{
	struct sm *m = w->m;
	size_t first, cnt = rows_of(m->rows, m->n, SM_BLOBT, &first), i;
	struct sm_row r;

	if (!cnt)
		return;
	i = first + tu_rng_below(&w->rng, cnt);
	r = m->rows[i];
	if (share) {
		CHECK_OK(store_blob_share(w->w, r.key));
		r.refs++;
		wl_blob_row(w, &r);
		return;
	}
	CHECK_OK(store_blob_delete(w->w, r.key));
	if (--r.refs > 0) {
		wl_blob_row(w, &r);
	} else {
		uint8_t k[8];
		st_be64(k, r.key);
		CHECK_OK(store_del(w->w, w->h[SM_BLOBT], k, 8));
		row_del_at(m, i);
		m->blob_bytes -= r.vlen;
	}
}

static void wl_table_change(struct sm_wl *w)
{
	struct sm *m = w->m;
	uint32_t t = (uint32_t)tu_rng_below(&w->rng, SM_NDATA);
	char name[32];

	table_name(t, name);
	if (m->tables & (1u << t)) {
		size_t first, cnt;
		if (__builtin_popcount(m->tables) < 2 || (t == 0 && w->lim.keep_data0))
			return;
		CHECK_OK(store_table_drop(w->w, name));
		m->tables &= ~(1u << t);
		cnt = rows_of(m->rows, m->n, t, &first);
		while (cnt--)
			row_del_at(m, first);
		w->drops++;
	} else {
		CHECK_OK(store_table_create(w->w, name, &w->h[t]));
		m->tables |= 1u << t;
		w->creates++;
	}
}

void sm_wl_random_op(struct sm_wl *w)
{
	uint64_t x = tu_rng_below(&w->rng, 100);
	struct sm *m = w->m;

	if (x < 42 && m->n <= w->lim.max_rows)
		wl_put_row(w);
	else if (x < 62)
		wl_del_row(w);
	else if (x < 74 && m->blob_bytes <= w->lim.max_blob_bytes)
		wl_blob_put(w);
	else if (x < 74)
		wl_blob_ref(w, false);
	else if (x < 79)
		wl_blob_ref(w, true);
	else if (x < 90)
		wl_blob_ref(w, false);
	else if (x < 92)
		wl_table_change(w);
	else if (m->n <= w->lim.max_rows)
		wl_put_row(w);
	else
		wl_del_row(w);
}
