/*
 * verify.c — checking an image: the slots, every checksum, and the whole
 * structure — key order and bounds, levels, counts, the blob indexes, and the
 * free map against the set of pages actually reachable. Also the repair of
 * the free map from that same reachable set.
 */
#include "store_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

struct vctx {
	store_txn *txn;
	void (*problem)(void *, const struct store_problem *);
	void (*progress)(void *, uint64_t, uint64_t);
	void *ctx;
	struct store_verify_report *rep;
	uint64_t *reach; /* one bit per page */
	uint64_t npages;
	uint64_t done, total;
	bool full;
	struct tstate *t;
	uint64_t tpages, tentries;
	uint64_t overflow_refs;
};

static void problem_k(struct vctx *v, enum store_problem_kind kind, uint64_t pgno, uint64_t blob,
		      const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void problem_k(struct vctx *v, enum store_problem_kind kind, uint64_t pgno, uint64_t blob,
		      const char *fmt, ...)
{
	char msg[320];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	v->rep->errors++;
	if (v->problem) {
		struct store_problem p = {kind, pgno, blob, msg};
		v->problem(v->ctx, &p);
	}
}

/* Damage to a structure (the common case). */
#define damage(v, ...) problem_k(v, STORE_PROBLEM_STRUCTURE, 0, 0, __VA_ARGS__)

static void walk_problem_cb(void *ctx, const char *msg)
{
	struct vctx *v = ctx;
	if (v->problem) {
		struct store_problem p = {STORE_PROBLEM_STRUCTURE, 0, 0, msg};
		v->problem(v->ctx, &p);
	}
}

/* blob_check reports through a plain callback: these are blob data. */
struct blob_ctx {
	struct vctx *v;
	uint64_t id, pgno;
};
static void blob_problem_cb(void *ctx, const char *msg)
{
	struct blob_ctx *b = ctx;
	if (b->v->problem) {
		struct store_problem p = {STORE_PROBLEM_BLOB_DATA, b->pgno, b->id, msg};
		b->v->problem(b->v->ctx, &p);
	}
}

static void reach_mark(struct vctx *v, uint64_t p, uint64_t n, const char *what)
{
	if (!v->reach)
		return;
	for (uint64_t q = p; q < p + n; q++) {
		if (q >= v->npages) {
			damage(v, "%s: page %llu lies past the end of the image", what,
				(unsigned long long)q);
			return;
		}
		uint64_t bit = 1ull << (q % 64);
		if (v->reach[q / 64] & bit)
			damage(v, "%s: page %llu is used twice", what, (unsigned long long)q);
		v->reach[q / 64] |= bit;
	}
}

static void tick(struct vctx *v, uint64_t n)
{
	v->done += n;
	if (v->progress && (v->done % 1024 < n || v->done >= v->total))
		v->progress(v->ctx, v->done, v->total);
}

static int v_page(void *ctx, uint64_t pgno, const uint8_t *p, int level)
{
	struct vctx *v = ctx;
	v->rep->pages++;
	v->tpages++;
	char what[64];
	snprintf(what, sizeof(what), "table %u", v->t->id);
	reach_mark(v, pgno, 1, what);
	tick(v, 1);
	return 0;
}

static int v_overflow(void *ctx, uint64_t id, uint64_t len)
{
	struct vctx *v = ctx;
	v->overflow_refs++;
	if (!v->full)
		return 0;
	struct store_blob_info b;
	int r = store_blob_stat(v->txn, id, &b);
	if (r < 0)
		damage(v, "table %u: a value refers to blob %llu, which does not exist", v->t->id,
			(unsigned long long)id);
	else if (b.length != len)
		damage(v, "table %u: a value of %llu bytes refers to blob %llu of %llu bytes",
			v->t->id, (unsigned long long)len, (unsigned long long)id,
			(unsigned long long)b.length);
	return 0;
}

static int v_table(void *ctx, struct tstate *t)
{
	struct vctx *v = ctx;
	v->t = t;
	v->tpages = 0;
	struct bt_visit vis = {.page = v_page,
			       .overflow = v_overflow,
			       .ctx = v,
			       .check = v->full,
			       .problem = walk_problem_cb};
	/* walk problems are counted by the walker */
	int r = bt_walk(v->txn, t, &vis);
	if (r < 0)
		return r;
	v->rep->errors += vis.errors;
	if (v->full && vis.errors == 0) {
		if (vis.entries != t->r.entries)
			damage(v, "table %u: holds %llu entries, its root says %llu", t->id,
				(unsigned long long)vis.entries, (unsigned long long)t->r.entries);
		if (vis.pages != t->r.pages)
			damage(v, "table %u: has %llu pages, its root says %llu", t->id,
				(unsigned long long)vis.pages, (unsigned long long)t->r.pages);
	}
	return 0;
}

/* Blob indexes: rows agree with locations, runs do not overlap, counters add up. */
static int v_blobs(struct vctx *v, bool check_data)
{
	store_txn *txn = v->txn;
	store_cursor *c;
	int r = store_cursor_open(txn, TID_BLOBS, &c);
	if (r < 0)
		return r;
	uint64_t count = 0, logical = 0, stored = 0, reservations = 0;
	r = store_cursor_seek(c, STORE_SEEK_FIRST, NULL, 0);
	while (r == 0) {
		const void *k, *val;
		size_t kl, vl;
		r = store_cursor_get(c, &k, &kl, &val, &vl);
		if (r < 0)
			break;
		struct store_blob_info b;
		if (kl != 8 || blob_decode_row(val, vl, get_be64(k), &b) < 0) {
			damage(v, "blob index: malformed row");
			r = store_cursor_next(c);
			continue;
		}
		if (b.flags & 8u) { /* a move reservation: pages, no data */
			reservations++;
			if (b.npages)
				reach_mark(v, b.pgno, b.npages, "blob move reservation");
			r = store_cursor_next(c);
			continue;
		}
		count++;
		logical += b.length;
		stored += b.npages << txn->s->page_shift;
		v->rep->blobs++;
		if (b.npages)
			reach_mark(v, b.pgno, b.npages, "blob");
		if (check_data) {
			struct blob_ctx bc = {v, b.id, b.pgno};
			if (blob_check(txn->s, &b, blob_problem_cb, &bc) < 0)
				v->rep->errors++;
			v->rep->blob_bytes += b.stored;
		}
		if (v->full && b.npages) {
			struct store_blob_info at;
			int lr = blob_locate_page(txn, b.pgno, &at);
			if (lr < 0 || at.id != b.id || at.pgno != b.pgno)
				damage(v, "blob %llu: its location index entry is missing or wrong",
					(unsigned long long)b.id);
		}
		tick(v, b.npages);
		r = store_cursor_next(c);
	}
	store_cursor_close(c);
	if (r != -ENOENT)
		return r;
	if (v->full) {
		struct meta *m = txn->meta;
		if (count != m->blob_count || logical != m->blob_logical || stored != m->blob_stored)
			damage(v,
				"blob counters disagree: %llu blobs / %llu bytes / %llu stored "
				"found, the commit says %llu / %llu / %llu",
				(unsigned long long)count, (unsigned long long)logical,
				(unsigned long long)stored, (unsigned long long)m->blob_count,
				(unsigned long long)m->blob_logical, (unsigned long long)m->blob_stored);
		if (reservations != m->reservations)
			damage(v, "%llu blob move reservations found, the commit says %llu",
				(unsigned long long)reservations, (unsigned long long)m->reservations);
		/* the location index: sorted by page, runs must not overlap */
		r = store_cursor_open(txn, TID_BLOBLOC, &c);
		if (r < 0)
			return r;
		uint64_t end = 0, locs = 0;
		r = store_cursor_seek(c, STORE_SEEK_FIRST, NULL, 0);
		while (r == 0) {
			const void *k, *val;
			size_t kl, vl;
			r = store_cursor_get(c, &k, &kl, &val, &vl);
			if (r < 0)
				break;
			if (kl == 8 && vl == 16) {
				uint64_t st = get_be64(k);
				if (st < end)
					damage(v, "blobs overlap at page %llu",
						(unsigned long long)st);
				end = st + get64((const uint8_t *)val + 8);
				locs++;
			} else {
				damage(v, "blob location index: malformed row");
			}
			r = store_cursor_next(c);
		}
		store_cursor_close(c);
		if (r != -ENOENT)
			return r;
	}
	return 0;
}

/* The allocator's own pages, and its bitmaps against the reachable set. */
static int v_alloc(struct vctx *v)
{
	store_txn *txn = v->txn;
	store *s = txn->s;
	uint64_t bpb = alloc_bits_per_page(s);
	uint64_t fp = v->npages;
	uint32_t epi = (s->page_size - PAGE_HDR) / IDX_ENTRY;
	uint64_t nbm = (fp + bpb - 1) / bpb;
	if (txn->write && s->alloc.nbm > nbm)
		nbm = s->alloc.nbm;
	if (!txn->write && (uint64_t)txn->meta->nindex * epi > nbm)
		nbm = (uint64_t)txn->meta->nindex * epi;
	/* index pages */
	if (txn->write) {
		for (uint32_t i = 0; i < s->alloc.nidx; i++) {
			const struct idxstate *ix = &s->alloc.idx[i];
			uint64_t cur = ix->dirty ? ix->dpgno : ix->pgno;
			if (cur)
				reach_mark(v, cur, 1, "allocator index");
		}
	} else {
		for (uint32_t i = 0; i < txn->meta->nindex; i++)
			if (txn->meta->index_pgno[i])
				reach_mark(v, txn->meta->index_pgno[i], 1, "allocator index");
	}
	uint64_t used_total = 0;
	for (uint64_t b = 0; b < nbm; b++) {
		const uint8_t *bits;
		uint64_t pg;
		int r = alloc_bitmap_get(txn, (uint32_t)b, &bits, &pg);
		if (r == -ENOENT)
			break;
		if (r < 0) {
			problem_k(v, STORE_PROBLEM_STRUCTURE, 0, 0, "allocator bitmap %llu: unreadable",
				  (unsigned long long)b);
			continue;
		}
		v->rep->pages++;
		if (pg)
			reach_mark(v, pg, 1, "allocator bitmap");
	}
	if (!v->full)
		return 0;
	/* used bits against the reachable set, a word at a time (a bitmap
	 * covers a multiple of 64 pages, so its words line up with reach's) */
	for (uint64_t b = 0; b < nbm; b++) {
		const uint8_t *bits;
		uint64_t pg;
		if (alloc_bitmap_get(txn, (uint32_t)b, &bits, &pg) < 0)
			continue;
		if (!pg && b * bpb >= fp)
			continue; /* no page: nothing used */
		const uint64_t *w = (const uint64_t *)bits;
		uint64_t used_here = 0;
		for (uint64_t k = 0; k < bpb / 64; k++) {
			uint64_t p0 = b * bpb + k * 64, x = w[k];
			used_here += (uint64_t)__builtin_popcountll(x);
			uint64_t in = p0 >= fp ? 0 : fp - p0 >= 64 ? ~0ull : (1ull << (fp - p0)) - 1;
			uint64_t past = x & ~in;
			uint64_t reached = in ? v->reach[p0 / 64] & in : 0;
			uint64_t diff = ((x & in) ^ reached) | past;
			while (diff) {
				uint64_t j = (uint64_t)__builtin_ctzll(diff), p = p0 + j;
				diff &= diff - 1;
				if ((past >> j) & 1)
					problem_k(v, STORE_PROBLEM_FREE_MAP, p, 0,
						  "page %llu: marked used past the end of the image",
						  (unsigned long long)p);
				else if ((x >> j) & 1) {
					v->rep->leaked_pages++;
					problem_k(v, STORE_PROBLEM_FREE_MAP, p, 0,
						  "page %llu: marked used but nothing refers to it",
						  (unsigned long long)p);
				} else {
					problem_k(v, STORE_PROBLEM_FREE_MAP, p, 0,
						  "page %llu: in use but marked free",
						  (unsigned long long)p);
				}
			}
		}
		used_total += used_here;
		if (txn->write && b < s->alloc.nbm && s->alloc.bm[b].used != used_here)
			problem_k(v, STORE_PROBLEM_FREE_MAP, 0, 0,
				  "allocator bitmap %llu: counts %u used pages, holds %llu",
				(unsigned long long)b, s->alloc.bm[b].used,
				(unsigned long long)used_here);
	}
	uint64_t want = txn->write ? s->alloc.used_pages : txn->meta->used_pages;
	if (used_total != want)
		problem_k(v, STORE_PROBLEM_FREE_MAP, 0, 0,
			  "allocator: %llu pages marked used, the commit says %llu",
			(unsigned long long)used_total, (unsigned long long)want);
	return 0;
}

static int collect(struct vctx *v, bool check_blob_data)
{
	store *s = v->txn->s;
	reach_mark(v, 0, s->first_pg, "header");
	int r = tab_for_each(v->txn, v_table, v);
	if (r < 0)
		return r;
	r = v_blobs(v, check_blob_data);
	if (r < 0)
		return r;
	return v_alloc(v);
}

struct plain_ctx {
	void (*cb)(void *ctx, const char *msg);
	void *ctx;
};
static void plain_problem(void *ctx, const struct store_problem *p)
{
	struct plain_ctx *c = ctx;
	c->cb(c->ctx, p->msg);
}
struct plain_progress {
	struct plain_ctx pc;
	void (*progress)(void *ctx, uint64_t done, uint64_t total);
};
static void plain_progress_cb(void *ctx, uint64_t done, uint64_t total)
{
	struct plain_progress *c = ctx;
	c->progress(c->pc.ctx, done, total);
}

int store_verify(store_txn *txn, enum store_verify_level level,
		 void (*problem_cb)(void *ctx, const char *msg),
		 void (*progress)(void *ctx, uint64_t done, uint64_t total), void *ctx,
		 struct store_verify_report *report)
{
	struct plain_progress c = {{problem_cb, ctx}, progress};
	return store_verify_ex(txn, level, problem_cb ? plain_problem : NULL,
			       progress ? plain_progress_cb : NULL, &c, report);
}

int store_verify_ex(store_txn *txn, enum store_verify_level level,
		    void (*problem_cb)(void *ctx, const struct store_problem *p),
		    void (*progress)(void *ctx, uint64_t done, uint64_t total), void *ctx,
		    struct store_verify_report *report)
{
	store *s = txn->s;
	memset(report, 0, sizeof(*report));
	struct vctx v = {.txn = txn,
			 .problem = problem_cb,
			 .progress = progress,
			 .ctx = ctx,
			 .rep = report,
			 .full = level >= STORE_VERIFY_FULL};
	/* header: both slots, and the roots of the state */
	struct store_slot_info slots[2];
	int r = store_slots(s, slots);
	if (r < 0)
		return r;
	if (!slots[0].valid && !slots[1].valid)
		problem_k(&v, STORE_PROBLEM_SLOT, 0, 0, "both commit slots are damaged");
	/* a damaged older slot loses nothing: the next commit rewrites it */
	for (int i = 0; i < NSYS; i++) {
		const struct tree_root *tr = &txn->sys[i].r;
		if (!tr->depth)
			continue;
		const uint8_t *p;
		if (page_get(txn, tr->pgno, tr->csum, tr->depth > 1 ? PT_BRANCH : PT_LEAF,
			     (int)tr->depth - 1, &p) < 0)
			problem_k(&v, STORE_PROBLEM_SLOT, tr->pgno, 0,
				  "the root of system tree %d is damaged", i);
	}
	v.npages = txn->write ? s->alloc.file_pages : txn->meta->file_pages;
	/* a file shorter than its state (a shrink whose txn did not commit) is
	 * fine as long as nothing used lies past its end: v_alloc checks that */
	if (atomic_load(&s->file_pages) < v.npages)
		v.npages = atomic_load(&s->file_pages);
	if (level <= STORE_VERIFY_HEADER)
		return 0;
	/* every checksum: forget what was checked before, read everything */
	for (uint64_t p = 0; p < atomic_load(&s->file_pages); p++)
		if (!txn->write || !dirty_find(txn, p))
			pager_set_verified(s, p, false);
	v.total = txn->write ? s->alloc.used_pages : txn->meta->used_pages;
	if (v.full) {
		v.reach = calloc((v.npages + 63) / 64 + 1, 8);
		if (!v.reach)
			return -ENOMEM;
	}
	r = collect(&v, true);
	if (v.progress)
		v.progress(ctx, v.total, v.total);
	free(v.reach);
	return r;
}

int store_repair_free_map(store_txn *txn, uint64_t *fixed)
{
	int r = txn_check_write(txn);
	if (r < 0)
		return r;
	store *s = txn->s;
	struct store_verify_report rep;
	memset(&rep, 0, sizeof(rep));
	struct vctx v = {.txn = txn, .rep = &rep, .full = false};
	v.npages = s->alloc.file_pages;
	v.reach = calloc((v.npages + 63) / 64 + 1, 8);
	if (!v.reach)
		return -ENOMEM;
	r = collect(&v, false);
	if (r == 0) {
		txn_touch(txn);
		r = alloc_repair(txn, v.reach, fixed);
	}
	free(v.reach);
	return r;
}
