/*
 * space.c — the store's space API for compaction, monitoring and the
 * inspector: statistics, what occupies a page, the space map, relocation of
 * pages and blobs to lower addresses, truncating the free tail and punching
 * free runs. Each operation here is an ordinary change inside a write txn,
 * so it is as crash-safe as any other commit.
 */
#include "store_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

int store_stats(store_txn *txn, struct store_stats *st)
{
	store *s = txn->s;
	memset(st, 0, sizeof(*st));
	struct meta *m = txn->meta;
	st->page_size = s->page_size;
	st->txnid = m->txnid;
	st->durable_txnid = atomic_load(&s->durable_txnid);
	struct stat fs;
	if (fstat(s->fd, &fs) == 0) {
		st->file_size = (uint64_t)fs.st_size;
		st->disk_bytes = (uint64_t)fs.st_blocks * 512;
	}
	uint64_t used = txn->write ? s->alloc.used_pages : m->used_pages;
	st->used_bytes = used << s->page_shift;
	int r = alloc_summary(txn, st);
	if (r < 0)
		return r;
	st->tree_pages = m->tree_pages;
	st->alloc_pages = txn->write ? s->alloc.alloc_pages : m->alloc_pages;
	st->blob_count = m->blob_count;
	st->blob_logical_bytes = m->blob_logical;
	st->blob_stored_bytes = m->blob_stored;
	st->blob_dead_bytes = (txn->write ? s->alloc.pending_blob_pages
					  : atomic_load(&s->pub_pending_blob_pages))
			      << s->page_shift;
	uint64_t n;
	uint64_t oldest = readers_oldest(s, &n);
	st->readers = n;
	st->oldest_reader_txnid = n ? oldest : 0;
	return 0;
}

uint64_t store_pending_bytes(store_txn *txn)
{
	store *s = txn->s;
	uint64_t pages = txn->write ? s->alloc.pending_pages : atomic_load(&s->pub_pending_pages);
	return pages << s->page_shift;
}

static bool bit_used(store_txn *txn, uint64_t p, int *err)
{
	uint64_t bpb = alloc_bits_per_page(txn->s);
	const uint8_t *bits;
	uint64_t pg;
	*err = alloc_bitmap_get(txn, (uint32_t)(p / bpb), &bits, &pg);
	if (*err < 0)
		return false;
	uint64_t i = p % bpb;
	return (bits[i / 8] >> (i % 8)) & 1;
}

static uint64_t txn_file_pages(store_txn *txn)
{
	uint64_t fp = txn->write ? txn->s->alloc.file_pages : txn->meta->file_pages;
	uint64_t real = atomic_load(&txn->s->file_pages);
	return fp < real ? fp : real;
}

/* Is pgno the home of one of the allocator's own pages in this view? */
static bool is_alloc_page(store_txn *txn, uint64_t pgno)
{
	if (txn->write)
		return alloc_is_alloc_page(txn, pgno);
	store *s = txn->s;
	uint32_t epi = (s->page_size - PAGE_HDR) / IDX_ENTRY;
	for (uint32_t i = 0; i < txn->meta->nindex; i++) {
		if (txn->meta->index_pgno[i] == pgno)
			return true;
		if (!txn->meta->index_pgno[i])
			continue;
		for (uint32_t j = 0; j < epi; j++) {
			const uint8_t *bits;
			uint64_t pg;
			if (alloc_bitmap_get(txn, i * epi + j, &bits, &pg) == 0 && pg == pgno)
				return true;
		}
	}
	return false;
}

/* The raw bytes of a used page in this view (not checked). */
static const uint8_t *raw_page(store_txn *txn, uint64_t pgno)
{
	if (txn->write) {
		const uint8_t *d = dirty_find(txn, pgno);
		if (d)
			return d;
	}
	if (pgno >= atomic_load(&txn->s->file_pages))
		return NULL;
	return txn->s->map + (pgno << txn->s->page_shift);
}

/* A key that a descent follows to reach tree page p (at its level). */
static int route_key(store_txn *txn, const uint8_t *p, uint8_t *key, size_t *klen)
{
	for (int guard = 0; guard < MAX_DEPTH; guard++) {
		unsigned n = pg_nkeys(p);
		if (n == 0)
			return -ENOENT;
		if (p[PH_TYPE] == PT_LEAF) {
			const uint8_t *k, *v;
			size_t kl, vl;
			bool ovf;
			leaf_kv(pg_cell(p, 0), &k, &kl, &v, &vl, &ovf);
			memcpy(key, k, kl);
			*klen = kl;
			return 0;
		}
		const uint8_t *k;
		size_t kl;
		uint64_t child, csum;
		if (n >= 2) {
			branch_k(pg_cell(p, 1), &k, &kl, &child, &csum);
			memcpy(key, k, kl);
			*klen = kl;
			return 0;
		}
		branch_k(pg_cell(p, 0), &k, &kl, &child, &csum);
		int lvl = p[PH_LEVEL] - 1;
		int r = page_get(txn, child, csum, lvl ? PT_BRANCH : PT_LEAF, lvl, &p);
		if (r < 0)
			return r;
	}
	return -EIO;
}

int store_page_owner(store_txn *txn, uint64_t pgno, struct store_extent *out)
{
	store *s = txn->s;
	memset(out, 0, sizeof(*out));
	uint64_t fp = txn_file_pages(txn);
	if (pgno < s->first_pg) {
		out->kind = STORE_EXT_HEADER;
		out->pgno = 0;
		out->npages = s->first_pg;
		return 0;
	}
	if (pgno >= fp)
		return -ERANGE;
	if (txn->write) {
		enum store_extent_kind k;
		uint64_t start, n;
		int r = alloc_state_of(txn, pgno, &k, &start, &n);
		if (r < 0)
			return r;
		if (k != STORE_EXT_TREE) {
			out->kind = k;
			out->pgno = start;
			out->npages = n;
			return 0;
		}
	} else {
		int err;
		if (!bit_used(txn, pgno, &err)) {
			if (err < 0)
				return err;
			uint64_t lo = pgno, hi = pgno + 1;
			while (lo > s->first_pg && !bit_used(txn, lo - 1, &err) && !err)
				lo--;
			while (hi < fp && !bit_used(txn, hi, &err) && !err)
				hi++;
			out->kind = STORE_EXT_FREE;
			out->pgno = lo;
			out->npages = hi - lo;
			return 0;
		}
	}
	struct store_blob_info b;
	int r = blob_locate_page(txn, pgno, &b);
	if (r == 0) {
		out->kind = STORE_EXT_BLOB;
		out->pgno = b.pgno;
		out->npages = b.npages;
		out->blob_id = b.id;
		return 0;
	}
	if (r != -ENOENT)
		return r;
	if (is_alloc_page(txn, pgno)) {
		out->kind = STORE_EXT_ALLOC;
		out->pgno = pgno;
		out->npages = 1;
		return 0;
	}
	const uint8_t *p = raw_page(txn, pgno);
	if (!p || (p[PH_TYPE] != PT_LEAF && p[PH_TYPE] != PT_BRANCH))
		return -EIO;
	out->kind = STORE_EXT_TREE;
	out->pgno = pgno;
	out->npages = 1;
	uint32_t owner = get32(p + PH_OWNER);
	out->table = owner < TID_FIRST_USER ? STORE_CATALOG : owner;
	if (owner == TID_BLOBS || owner == TID_BLOBLOC)
		out->table = STORE_CATALOG;
	out->level = p[PH_LEVEL];
	return 0;
}

int store_highest_used(store_txn *txn, uint64_t *pgno)
{
	if (txn->write)
		return alloc_highest_used(txn, pgno);
	uint64_t fp = txn_file_pages(txn);
	for (uint64_t p = fp; p-- > txn->s->first_pg;) {
		int err;
		if (bit_used(txn, p, &err)) {
			*pgno = p;
			return 0;
		}
		if (err < 0)
			return err;
	}
	return -ENOENT;
}

int store_relocate(store_txn *txn, uint64_t pgno, uint64_t *newpgno)
{
	int r = txn_check_write(txn);
	if (r < 0)
		return r;
	if (pgno < txn->s->first_pg)
		return -EINVAL;
	struct store_extent e;
	r = store_page_owner(txn, pgno, &e);
	if (r < 0)
		return r;
	switch (e.kind) {
	case STORE_EXT_BLOB:
		return blob_move(txn, e.blob_id, UINT64_MAX, newpgno);
	case STORE_EXT_ALLOC:
		return alloc_relocate_self(txn, pgno, newpgno);
	case STORE_EXT_TREE: {
		const uint8_t *p = raw_page(txn, pgno);
		uint32_t owner = get32(p + PH_OWNER);
		int level = p[PH_LEVEL];
		uint8_t key[STORE_MAX_KEY];
		size_t klen;
		r = route_key(txn, p, key, &klen);
		if (r < 0)
			return r;
		struct tstate *t;
		r = tab_get(txn, owner, &t);
		if (r < 0)
			return r;
		return bt_relocate(txn, t, pgno, level, key, klen, newpgno);
	}
	case STORE_EXT_HEADER:
		return -EINVAL;
	default:
		return -ENOENT;
	}
}

int store_blob_move(store_txn *txn, uint64_t id, uint64_t target)
{
	int r = txn_check_write(txn);
	if (r < 0)
		return r;
	uint64_t np;
	return blob_move(txn, id, target, &np);
}

/* Walk the bitmaps of this view, down from `before`, for a used page. */
int store_prev_used(store_txn *txn, uint64_t before, uint64_t *pgno)
{
	uint64_t fp = txn_file_pages(txn);
	if (before > fp)
		before = fp;
	uint64_t bpb = alloc_bits_per_page(txn->s);
	uint64_t p = before;
	while (p > txn->s->first_pg) {
		uint64_t q = p - 1;
		const uint8_t *bits;
		uint64_t pg;
		int r = alloc_bitmap_get(txn, (uint32_t)(q / bpb), &bits, &pg);
		if (r < 0)
			return r;
		uint64_t i = q % bpb;
		const uint64_t *w = (const uint64_t *)bits;
		/* whole words downward */
		for (;;) {
			uint64_t x = w[i / 64] & (~0ull >> (63 - i % 64));
			if (x) {
				uint64_t hit = (q - i) + (i / 64) * 64 + 63 - (uint64_t)__builtin_clzll(x);
				if (hit < txn->s->first_pg)
					return -ENOENT;
				*pgno = hit;
				return 0;
			}
			if (i < 64) {
				p = q - i;
				break;
			}
			i = (i / 64) * 64 - 1;
		}
	}
	return -ENOENT;
}

int store_count_used(store_txn *txn, uint64_t from, uint64_t to, uint64_t *n)
{
	uint64_t fp = txn_file_pages(txn);
	if (to > fp)
		to = fp;
	uint64_t bpb = alloc_bits_per_page(txn->s), cnt = 0;
	const uint8_t *bits = NULL;
	for (uint64_t p = from; p < to;) {
		uint64_t b = p / bpb, i = p % bpb;
		uint64_t pg;
		int r = alloc_bitmap_get(txn, (uint32_t)b, &bits, &pg);
		if (r < 0)
			return r;
		const uint64_t *w = (const uint64_t *)bits;
		if (i % 64 == 0 && p + 64 <= to && (i + 64) <= bpb) {
			cnt += (uint64_t)__builtin_popcountll(w[i / 64]);
			p += 64;
			continue;
		}
		cnt += (w[i / 64] >> (i % 64)) & 1;
		p++;
	}
	*n = cnt;
	return 0;
}

int store_find_free(store_txn *txn, uint64_t npages, uint64_t below, uint64_t *pgno)
{
	int r = txn_check_write(txn);
	if (r < 0)
		return r;
	return alloc_find_run(txn, npages, below, pgno);
}

int store_shrink(store_txn *txn, uint64_t *reclaimed)
{
	int r = txn_check_write(txn);
	if (r < 0)
		return r;
	txn_touch(txn);
	return alloc_shrink(txn, reclaimed);
}

int store_punch_free(store_txn *txn, uint64_t min_bytes, uint64_t *punched)
{
	int r = txn_check_write(txn);
	if (r < 0)
		return r;
	uint64_t minp = (min_bytes + txn->s->page_size - 1) >> txn->s->page_shift;
	return alloc_punch(txn, minp, punched);
}

/* ---- the space map ------------------------------------------------------- */

struct tp {
	uint64_t pgno;
	uint32_t table;
	uint32_t level;
};

struct mapctx {
	store_txn *txn;
	struct tstate *t;
	struct tp *v;
	size_t n, cap;
};

static int map_page(void *ctx, uint64_t pgno, const uint8_t *p, int level)
{
	struct mapctx *m = ctx;
	if (m->n == m->cap) {
		size_t nc = m->cap ? m->cap * 2 : 1024;
		struct tp *x = realloc(m->v, nc * sizeof(*x));
		if (!x)
			return -ENOMEM;
		m->v = x;
		m->cap = nc;
	}
	uint32_t tid = m->t->id < TID_FIRST_USER ? STORE_CATALOG : m->t->id;
	m->v[m->n++] = (struct tp){pgno, tid, (uint32_t)level};
	return 0;
}

static int map_table(void *ctx, struct tstate *t)
{
	struct mapctx *m = ctx;
	m->t = t;
	struct bt_visit v = {.page = map_page, .ctx = m};
	return bt_walk(m->txn, t, &v);
}

static int cmp_tp(const void *a, const void *b)
{
	uint64_t x = ((const struct tp *)a)->pgno, y = ((const struct tp *)b)->pgno;
	return x < y ? -1 : x > y;
}

struct emitter {
	int (*cb)(void *ctx, const struct store_extent *e);
	void *ctx;
	struct store_extent cur;
	bool have;
};

static int emit(struct emitter *em, const struct store_extent *e)
{
	if (em->have && em->cur.kind == e->kind && em->cur.pgno + em->cur.npages == e->pgno &&
	    em->cur.table == e->table && e->kind != STORE_EXT_BLOB) {
		em->cur.npages += e->npages;
		return 0;
	}
	if (em->have) {
		int r = em->cb(em->ctx, &em->cur);
		if (r)
			return r;
	}
	em->cur = *e;
	em->have = true;
	return 0;
}

int store_space_map(store_txn *txn, int (*cb)(void *ctx, const struct store_extent *e), void *ctx)
{
	store *s = txn->s;
	struct mapctx m = {.txn = txn};
	int r = tab_for_each(txn, map_table, &m);
	if (r < 0) {
		free(m.v);
		return r;
	}
	if (m.n)
		qsort(m.v, m.n, sizeof(*m.v), cmp_tp);
	store_cursor *c = NULL;
	r = store_cursor_open(txn, TID_BLOBLOC, &c);
	if (r < 0) {
		free(m.v);
		return r;
	}
	int cr = store_cursor_seek(c, STORE_SEEK_FIRST, NULL, 0);
	uint64_t bstart = UINT64_MAX, bn = 0, bid = 0;
	struct emitter em = {.cb = cb, .ctx = ctx};
	struct store_extent e = {.pgno = 0, .npages = s->first_pg, .kind = STORE_EXT_HEADER};
	r = emit(&em, &e);
	uint64_t fp = txn_file_pages(txn);
	size_t ti = 0;
	for (uint64_t p = s->first_pg; p < fp && r == 0;) {
		while (cr == 0 && (bstart == UINT64_MAX || bstart + bn <= p)) {
			const void *k, *v;
			size_t kl, vl;
			cr = store_cursor_get(c, &k, &kl, &v, &vl);
			if (cr < 0)
				break;
			bstart = get_be64(k);
			bid = get64(v);
			bn = get64((const uint8_t *)v + 8);
			if (bstart + bn <= p)
				cr = store_cursor_next(c);
			else
				break;
		}
		while (ti < m.n && m.v[ti].pgno < p)
			ti++;
		memset(&e, 0, sizeof(e));
		if (bstart != UINT64_MAX && p >= bstart && p < bstart + bn) {
			/* in address order, never overlapping: a run that overlaps the
			 * one before (a damaged index) is cut to what is left of it */
			e.kind = STORE_EXT_BLOB;
			e.pgno = p;
			e.npages = bstart + bn - p;
			e.blob_id = bid;
			e.cut = p - bstart;
			r = emit(&em, &e);
			p = bstart + bn;
			if (cr == 0)
				cr = store_cursor_next(c);
			continue;
		}
		if (ti < m.n && m.v[ti].pgno == p) {
			e.kind = STORE_EXT_TREE;
			e.table = m.v[ti].table;
			e.level = m.v[ti].level;
		} else {
			int err;
			bool used = bit_used(txn, p, &err);
			if (err < 0) {
				r = err;
				break;
			}
			if (used && is_alloc_page(txn, p)) {
				e.kind = STORE_EXT_ALLOC;
			} else if (used) {
				e.kind = STORE_EXT_TREE; /* used but reached by nothing: leaked */
				e.table = UINT32_MAX;
			} else if (txn->write) {
				/* the whole free run at once (its pages share a kind) */
				enum store_extent_kind k;
				uint64_t st, n;
				r = alloc_state_of(txn, p, &k, &st, &n);
				if (r < 0)
					break;
				e.kind = k;
				e.pgno = p;
				e.npages = st + n - p;
				r = emit(&em, &e);
				p = st + n;
				continue;
			} else {
				e.kind = alloc_pub_pending(s, p) ? STORE_EXT_PENDING : STORE_EXT_FREE;
			}
		}
		e.pgno = p;
		e.npages = 1;
		if (r == 0)
			r = emit(&em, &e);
		p++;
	}
	if (r == 0 && em.have)
		r = cb(ctx, &em.cur);
	store_cursor_close(c);
	free(m.v);
	return r;
}
