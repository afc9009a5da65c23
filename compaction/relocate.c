/*
 * relocate.c — the move phase of a pass: take the highest page or blob of
 * the image and move it into the lowest free space that fits, step after
 * step, until nothing above can go lower.
 *
 * A step is one short hold of the filesystem's write lock (host step_begin /
 * step_end): at most STEP_ITEMS pages or one group of blobs, and at most
 * STEP_NS of work. Tree and allocator pages move inside the step (a copy of
 * one page and of its path). Blobs move in three steps (store.h): the target
 * run is reserved inside the step, the data is copied after the step with no
 * lock held — a read txn begun inside the step keeps the source from being
 * reused if a file is deleted meanwhile — and the blob is switched to its new
 * home in a later step (or the copy dropped, if the blob changed).
 *
 * Neighbouring blobs move together when a free run fits them all, so a
 * file whose chunks were laid out in order stays in order.
 */
#include "compact_int.h"

#include <stdlib.h>

enum {
	STEP_ITEMS = 32,          /* pages moved per step */
	GROUP_MAX = 16,           /* blobs moved together */
	GROUP_PAGES = 512,        /* at most this many pages in a group */
};
#define STEP_NS 1000000ull /* 1 ms of work per step */

struct moves {
	struct store_blob_move *mv;
	int *err;
	size_t n;
	store_txn *pin;
};

enum { END_PER_STEP = 64 };

/*
 * Copy with no lock held, then switch (or drop) each blob, END_PER_STEP per
 * step. Ends the pin. Returns how many moved, or an error.
 */
static int finish_moves(struct compact *c, struct moves *m, uint64_t *bytes)
{
	store *s = c->h.s;
	for (size_t i = 0; i < m->n; i++)
		m->err[i] = store_blob_move_copy(s, &m->mv[i]);
	int fail = 0, moved = 0;
	for (size_t i = 0; i < m->n && !fail;) {
		store_txn *txn;
		int r = compact_step_begin(c, 64u << 10, &txn);
		if (r < 0) {
			/* the reservations stay committed; the next pass clears them */
			fail = r;
			break;
		}
		for (size_t k = 0; i < m->n && k < END_PER_STEP; i++, k++) {
			int e = store_blob_move_end(txn, &m->mv[i], m->err[i] == 0);
			if (e == 0 && m->err[i] == 0) {
				moved++;
				*bytes += m->mv[i].src.npages * store_page_size(s);
			} else if (e < 0 && e != -ESTALE) {
				fail = e;
				break;
			}
		}
		c->h.step_end(c->h.ctx, fail);
	}
	store_txn_abort(m->pin);
	m->pin = NULL;
	m->n = 0;
	return fail < 0 ? fail : moved;
}

/*
 * Blobs adjacent to (and below) the blob `top`, themselves adjacent, up to
 * GROUP_MAX / GROUP_PAGES: their ids in address order, and where they start.
 */
static size_t collect_group(store_txn *txn, const struct store_extent *top, uint64_t *ids,
			    uint64_t *start, uint64_t *pages)
{
	uint64_t tmp[GROUP_MAX];
	size_t n = 0;
	tmp[n++] = top->blob_id;
	*start = top->pgno;
	*pages = top->npages;
	while (n < GROUP_MAX && *start > 0) {
		uint64_t q;
		if (store_prev_used(txn, *start, &q) < 0 || q + 1 != *start)
			break;
		struct store_extent e;
		if (store_page_owner(txn, q, &e) < 0 || e.kind != STORE_EXT_BLOB ||
		    e.pgno + e.npages != *start || *pages + e.npages > GROUP_PAGES)
			break;
		tmp[n++] = e.blob_id;
		*start = e.pgno;
		*pages += e.npages;
	}
	for (size_t i = 0; i < n; i++)
		ids[i] = tmp[n - 1 - i];
	return n;
}

static bool target_reached(struct compact *c, store_txn *txn, const struct pass *p)
{
	if (!p->target)
		return false;
	struct store_stats st;
	if (store_stats(txn, &st) < 0)
		return false;
	/* what the file would be after the move and a shrink */
	uint64_t top;
	if (store_highest_used(txn, &top) < 0)
		return true;
	(void)c;
	return (top + 1) * p->page_size <= p->target;
}

int compact_move(struct compact *c, struct pass *p, bool *moved_any)
{
	store *s = c->h.s;
	uint64_t cursor = UINT64_MAX; /* look below this page */
	*moved_any = false;
	for (;;) {
		int r = compact_gate(c);
		if (r < 0)
			return r;
		store_txn *txn;
		r = compact_step_begin(c, 256u << 10, &txn);
		if (r == -ENOSPC)
			return 0; /* a full image: no room to work, nothing half-done */
		if (r < 0)
			return r;
		uint64_t t0 = compact_now_ns(), bytes = 0;
		unsigned items = 0;
		struct store_blob_move mvs[GROUP_MAX];
		int errs[GROUP_MAX];
		struct moves m = {.mv = mvs, .err = errs, .n = 0};
		bool done = false;
		int err = 0;
		while (items < STEP_ITEMS && compact_now_ns() - t0 < STEP_NS && m.n == 0) {
			if (target_reached(c, txn, p)) {
				done = true;
				break;
			}
			uint64_t h, low;
			r = store_prev_used(txn, cursor, &h);
			if (r == -ENOENT) {
				done = true;
				break;
			}
			if (r < 0) {
				err = r;
				break;
			}
			/* nothing free below: nothing at or under h can move */
			if (store_find_free(txn, 1, h, &low) < 0) {
				done = true;
				break;
			}
			struct store_extent e;
			r = store_page_owner(txn, h, &e);
			if (r < 0) {
				err = r;
				break;
			}
			cursor = e.pgno;
			if (e.kind == STORE_EXT_HEADER) {
				done = true;
				break;
			}
			if (e.kind == STORE_EXT_TREE || e.kind == STORE_EXT_ALLOC) {
				if (!(p->mode & COMPACT_PAGES))
					continue;
				uint64_t np;
				r = store_relocate(txn, h, &np);
				if (r == 0) {
					bytes += p->page_size;
					items++;
				} else if (r != -ENOSPC && r != -ENOENT) {
					err = r;
					break;
				}
				continue;
			}
			if (e.kind != STORE_EXT_BLOB || !(p->mode & COMPACT_BLOBS))
				continue;
			uint64_t ids[GROUP_MAX], start, pages;
			size_t n = collect_group(txn, &e, ids, &start, &pages);
			if (n > 1 &&
			    store_blob_move_begin_run(txn, ids, n, UINT64_MAX, start, m.mv) == 0) {
				m.n = n;
				cursor = start;
				break;
			}
			r = store_blob_move_begin(txn, e.blob_id, UINT64_MAX, &m.mv[0]);
			if (r == 0) {
				m.n = 1;
				break;
			}
			if (r != -ENOSPC && r != -ENOENT) {
				err = r;
				break;
			}
		}
		if (m.n) {
			int pr = store_txn_begin(s, STORE_TXN_READ, &m.pin);
			if (pr < 0) {
				for (size_t i = 0; i < m.n; i++)
					store_blob_move_end(txn, &m.mv[i], false);
				m.n = 0;
				err = pr;
			}
		}
		c->h.step_end(c->h.ctx, err);
		if (err < 0)
			return err;
		if (m.n) {
			r = finish_moves(c, &m, &bytes);
			if (r < 0)
				return r;
		}
		if (bytes)
			*moved_any = true;
		compact_progress(c, p, bytes);
		if (done)
			return 0;
	}
}

int compact_move_blobs(struct compact *c, const uint64_t *ids, size_t n, uint64_t run,
		       uint64_t *bytes)
{
	store *s = c->h.s;
	struct moves m = {.n = 0};
	m.mv = calloc(n ? n : 1, sizeof(*m.mv));
	m.err = calloc(n ? n : 1, sizeof(*m.err));
	if (!m.mv || !m.err) {
		free(m.mv);
		free(m.err);
		return -ENOMEM;
	}
	store_txn *txn;
	int r = compact_step_begin(c, 64u << 10, &txn);
	if (r < 0)
		goto out;
	uint64_t below = 0; /* with run = UINT64_MAX: the run starts below this */
	if (run == UINT64_MAX) {
		/* the lowest run inside the image that holds them all ... */
		uint64_t total = 0;
		for (size_t i = 0; i < n && r == 0; i++) {
			struct store_blob_info b;
			r = store_blob_stat(txn, ids[i], &b);
			total += b.npages;
		}
		if (r == 0)
			r = store_find_free(txn, total ? total : 1, UINT64_MAX, &run);
		/* ... or, if none does, one at the end: the image grows within
		 * max_size and the disk's free space (else -ENOSPC, nothing
		 * moved); a later pass gives the old homes back */
		if (r == -ENOSPC) {
			r = 0;
			run = UINT64_MAX;
			below = UINT64_MAX;
		}
	}
	/* the whole run is taken at once, so the blobs end up contiguous */
	if (r == 0)
		r = store_blob_move_begin_run(txn, ids, n, run, below, m.mv);
	if (r == 0) {
		m.n = n;
		r = store_txn_begin(s, STORE_TXN_READ, &m.pin);
		if (r < 0)
			for (size_t i = 0; i < n; i++)
				store_blob_move_end(txn, &m.mv[i], false);
	}
	c->h.step_end(c->h.ctx, 0);
	if (r == 0)
		r = finish_moves(c, &m, bytes);
out:
	free(m.mv);
	free(m.err);
	return r;
}
