/*
 * alloc.c — free space of the image: which pages are in use, lowest address
 * first.
 *
 * On disk the state is a two-level structure, copy-on-write like the trees
 * and committed with every transaction [I5]:
 *     slot ── index pages (≤ MAX_INDEX) ── bitmap pages ── one bit per page
 * An index entry holds a bitmap page's location, checksum, used-page count
 * and its longest/leading/trailing runs of free bits, so that allocation and
 * statistics skip full bitmaps without reading them, and opening an image
 * reads only the index pages (one per ~16 GiB with 4 KiB pages) [I7].
 *
 * In memory (struct alloc, owned by the single writer) each bitmap has its
 * committed location, the open txn's dirty copy, and an overlay of PENDING
 * pages: pages a committed txn freed that the last durable commit or a live
 * snapshot may still reach. A pending page is free on disk (a crash makes it
 * free at once, since no snapshot survives a crash) but is never handed out
 * until it is safe [I2]. Pages freed by the open txn that it allocated
 * itself are reused at once.
 *
 * A bitmap or index page is copied (given a new home) the first time the txn
 * changes it; that allocation may recurse into another bitmap, which always
 * terminates because a page already dirty is never copied again.
 */
#include "store_int.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
	       "bitmap words are stored as host words: little-endian hosts only");

static const uint8_t *zero_page;

uint64_t alloc_bits_per_page(const store *s)
{
	return (uint64_t)(s->page_size - PAGE_HDR) * 8;
}

static inline uint64_t cov(const struct alloc *a, uint32_t b)
{
	uint64_t lo = (uint64_t)b * a->bpb;
	if (lo >= a->file_pages)
		return 0;
	uint64_t hi = lo + a->bpb;
	return (hi > a->file_pages ? a->file_pages : hi) - lo;
}

static inline bool bit_get(const uint64_t *w, uint64_t i)
{
	return (w[i / 64] >> (i % 64)) & 1;
}
static inline void bit_set(uint64_t *w, uint64_t i)
{
	w[i / 64] |= 1ull << (i % 64);
}
static inline void bit_clr(uint64_t *w, uint64_t i)
{
	w[i / 64] &= ~(1ull << (i % 64));
}

/* Words of bitmap b as this write txn sees it. */
static int bm_words(store_txn *txn, uint32_t b, const uint64_t **out)
{
	store *s = txn->s;
	struct bmstate *m = &s->alloc.bm[b];
	if (m->dirty) {
		*out = (const uint64_t *)(m->dirty + PAGE_HDR);
		return 0;
	}
	if (m->pgno == 0) {
		*out = (const uint64_t *)(zero_page + PAGE_HDR);
		return 0;
	}
	const uint8_t *p;
	int r = page_get(txn, m->pgno, m->csum, PT_BITMAP, 0, &p);
	if (r < 0)
		return r;
	*out = (const uint64_t *)(p + PAGE_HDR);
	return 0;
}

static int grow_arrays(struct alloc *a, uint32_t nbm)
{
	if (nbm <= a->bmcap)
		return 0;
	uint32_t ncap = a->bmcap ? a->bmcap : 16;
	while (ncap < nbm)
		ncap *= 2;
	struct bmstate *n = realloc(a->bm, ncap * sizeof(*n));
	if (!n)
		return -ENOMEM;
	memset(n + a->bmcap, 0, (ncap - a->bmcap) * sizeof(*n));
	a->bm = n;
	a->bmcap = ncap;
	return 0;
}

static void bm_init_missing(struct alloc *a, uint32_t b)
{
	struct bmstate *m = &a->bm[b];
	uint64_t *pend = m->pend;
	uint32_t npend = m->npend;
	memset(m, 0, sizeof(*m));
	m->pend = pend;
	m->npend = npend;
	m->maxrun = m->lead = m->trail = a->bpb;
}

/* Make room for bitmaps [0, nbm); new ones are "missing" (all free). */
static int ensure_nbm(struct alloc *a, uint32_t nbm)
{
	int r = grow_arrays(a, nbm);
	if (r < 0)
		return r;
	for (uint32_t b = a->nbm; b < nbm; b++)
		bm_init_missing(a, b);
	if (nbm > a->nbm)
		a->nbm = nbm;
	return 0;
}

static uint32_t nbm_for(const struct alloc *a, uint64_t pages)
{
	return (uint32_t)((pages + a->bpb - 1) / a->bpb);
}

static uint64_t format_limit_pages(const struct alloc *a)
{
	return (uint64_t)MAX_INDEX * a->epi * a->bpb;
}

/* Runs of free bits in a bitmap (all bpb bits; bits past the file are 0). */
static void summarize(const struct alloc *a, const uint64_t *w, uint32_t *maxrun, uint32_t *lead,
		      uint32_t *trail)
{
	uint32_t best = 0, run = 0, ld = 0;
	bool in_lead = true;
	uint32_t nw = a->bpb / 64;
	for (uint32_t k = 0; k < nw; k++) {
		uint64_t x = w[k];
		if (x == 0) {
			run += 64;
			continue;
		}
		if (x == ~0ull) {
			if (in_lead) {
				ld = run;
				in_lead = false;
			}
			if (run > best)
				best = run;
			run = 0;
			continue;
		}
		for (int i = 0; i < 64; i++) {
			if ((x >> i) & 1) {
				if (in_lead) {
					ld = run;
					in_lead = false;
				}
				if (run > best)
					best = run;
				run = 0;
			} else {
				run++;
			}
		}
	}
	if (in_lead)
		ld = run;
	if (run > best)
		best = run;
	*maxrun = best;
	*lead = ld;
	*trail = run;
}

static int refresh_summary(store_txn *txn, uint32_t b)
{
	struct alloc *a = &txn->s->alloc;
	struct bmstate *m = &a->bm[b];
	if (!m->stale)
		return 0;
	const uint64_t *w;
	int r = bm_words(txn, b, &w);
	if (r < 0)
		return r;
	summarize(a, w, &m->maxrun, &m->lead, &m->trail);
	m->stale = false;
	return 0;
}

/* ---- open / create ------------------------------------------------------- */

int alloc_init(store *s, const struct meta *m)
{
	struct alloc *a = &s->alloc;
	if (!zero_page) {
		static uint8_t zeros[STORE_MAX_PAGE_SIZE] __attribute__((aligned(64)));
		zero_page = zeros;
	}
	a->bpb = (uint32_t)alloc_bits_per_page(s);
	a->epi = (s->page_size - PAGE_HDR) / IDX_ENTRY;
	if (m->file_pages > format_limit_pages(a) || m->used_pages > m->file_pages) {
		store_logf(s, STORE_LOG_ERR, "commit slot describes an impossible size (%llu pages)",
			   (unsigned long long)m->file_pages);
		return -EIO;
	}
	a->file_pages = m->file_pages;
	a->used_pages = m->used_pages;
	a->alloc_pages = m->alloc_pages;
	a->hint = s->first_pg;
	a->nidx = m->nindex;
	uint32_t nbm = nbm_for(a, a->file_pages);
	if ((uint64_t)a->nidx * a->epi > nbm)
		nbm = a->nidx * a->epi;
	int r = ensure_nbm(a, nbm);
	if (r < 0)
		return r;
	for (uint32_t i = 0; i < a->nidx; i++) {
		a->idx[i].pgno = m->index_pgno[i];
		a->idx[i].csum = m->index_csum[i];
		if (!a->idx[i].pgno)
			continue;
		uint64_t pg = a->idx[i].pgno;
		if (pg < s->first_pg || pg >= atomic_load(&s->file_pages)) {
			store_logf(s, STORE_LOG_ERR, "allocator index page %llu is outside the image",
				   (unsigned long long)pg);
			return -EIO;
		}
		const uint8_t *p = s->map + (pg << s->page_shift);
		if (page_csum(s, p) != a->idx[i].csum || p[PH_TYPE] != PT_INDEX ||
		    get64(p + PH_PGNO) != pg || get32(p + PH_OWNER) != i) {
			store_logf(s, STORE_LOG_ERR, "allocator index page %llu is damaged",
				   (unsigned long long)pg);
			return -EIO;
		}
		pager_set_verified(s, pg, true);
		for (uint32_t j = 0; j < a->epi; j++) {
			const uint8_t *e = p + PAGE_HDR + j * IDX_ENTRY;
			struct bmstate *bm = &a->bm[i * a->epi + j];
			bm->pgno = get64(e + IE_PGNO);
			bm->csum = get64(e + IE_CSUM);
			if (!bm->pgno) {
				bm_init_missing(a, i * a->epi + j);
				continue;
			}
			bm->used = get32(e + IE_FREE); /* on disk: used count */
			bm->maxrun = get32(e + IE_MAXRUN);
			bm->lead = get32(e + IE_LEAD);
			bm->trail = get32(e + IE_TRAIL);
			if (bm->pgno < s->first_pg || bm->pgno >= a->file_pages ||
			    bm->used > a->bpb || bm->maxrun > a->bpb ||
			    bm->lead > a->bpb || bm->trail > a->bpb) {
				store_logf(s, STORE_LOG_ERR, "allocator index page %llu is damaged",
					   (unsigned long long)pg);
				return -EIO;
			}
		}
	}
	return 0;
}

/* A bitmap's used count is what the index records: unlike its free count it
 * does not change when the file grows. */
#define USED(m) ((m)->used)

void alloc_destroy(store *s)
{
	struct alloc *a = &s->alloc;
	for (uint32_t b = 0; b < a->bmcap; b++)
		free(a->bm[b].pend);
	free(a->bm);
	free(a->pend);
	free(a->tfree);
	free(a->punched);
	free(a->undo);
	memset(a, 0, sizeof(*a));
}

/* ---- undo log (abort) ---------------------------------------------------- */

static int undo_push(struct alloc *a, uint32_t kind, uint32_t i)
{
	if (a->nundo == a->undocap) {
		size_t ncap = a->undocap ? a->undocap * 2 : 32;
		struct alloc_undo *n = realloc(a->undo, ncap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		a->undo = n;
		a->undocap = ncap;
	}
	struct alloc_undo *u = &a->undo[a->nundo++];
	memset(u, 0, sizeof(*u));
	u->kind = kind;
	u->i = i;
	if (kind == 0) {
		struct bmstate *m = &a->bm[i];
		u->pgno = m->pgno;
		u->csum = m->csum;
		u->used = m->used;
		u->maxrun = m->maxrun;
		u->lead = m->lead;
		u->trail = m->trail;
		u->stale = m->stale;
	} else {
		u->pgno = a->idx[i].pgno;
		u->csum = a->idx[i].csum;
	}
	return 0;
}

void alloc_txn_begin(store_txn *txn)
{
	struct alloc *a = &txn->s->alloc;
	a->nundo = 0;
	a->ntfree = 0;
	a->undo_file_pages = a->file_pages;
	a->undo_used_pages = a->used_pages;
	a->undo_alloc_pages = a->alloc_pages;
	a->undo_hint = a->hint;
	a->undo_nbm = a->nbm;
	a->undo_nidx = a->nidx;
	alloc_release(txn->s);
}

/* ---- pending overlay ----------------------------------------------------- */

static int pend_mark(struct alloc *a, uint64_t p, bool on)
{
	uint32_t b = (uint32_t)(p / a->bpb);
	struct bmstate *m = &a->bm[b];
	if (!m->pend) {
		if (!on)
			return 0;
		m->pend = calloc(a->bpb / 64, 8);
		if (!m->pend)
			return -ENOMEM;
	}
	uint64_t i = p % a->bpb;
	if (bit_get(m->pend, i) == on)
		return 0;
	if (on) {
		bit_set(m->pend, i);
		m->npend++;
		a->pending_pages++;
	} else {
		bit_clr(m->pend, i);
		m->npend--;
		a->pending_pages--;
	}
	return 0;
}

static bool is_pending(const struct alloc *a, uint64_t p)
{
	const struct bmstate *m = &a->bm[p / a->bpb];
	return m->pend && bit_get(m->pend, p % a->bpb);
}

static int list_push(struct pend_ext **v, size_t *n, size_t *cap, uint64_t txnid, uint64_t pgno,
		     uint64_t cnt, bool blob)
{
	if (*n && (*v)[*n - 1].txnid == txnid && (*v)[*n - 1].pgno + (*v)[*n - 1].n == pgno &&
	    (*v)[*n - 1].blob == blob) {
		(*v)[*n - 1].n += cnt;
		return 0;
	}
	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 64;
		struct pend_ext *x = realloc(*v, ncap * sizeof(*x));
		if (!x)
			return -ENOMEM;
		*v = x;
		*cap = ncap;
	}
	(*v)[(*n)++] = (struct pend_ext){txnid, pgno, cnt, blob};
	return 0;
}

/* [I2] pages freed by commit T become reusable once T is durable and no
 * reader holds a snapshot older than T. */
void alloc_release(store *s)
{
	struct alloc *a = &s->alloc;
	if (!a->npend)
		return;
	uint64_t durable = atomic_load(&s->durable_txnid);
	uint64_t nr;
	uint64_t oldest = readers_oldest(s, &nr);
	size_t k = 0;
	while (k < a->npend) {
		struct pend_ext *e = &a->pend[k];
		if (e->txnid > durable || e->txnid > oldest)
			break;
		for (uint64_t i = 0; i < e->n; i++)
			pend_mark(a, e->pgno + i, false);
		if (e->blob)
			a->pending_blob_pages -= e->n;
		if (e->pgno < a->hint)
			a->hint = e->pgno;
		k++;
	}
	if (k) {
		memmove(a->pend, a->pend + k, (a->npend - k) * sizeof(*a->pend));
		a->npend -= k;
		alloc_publish(s);
	}
}

static int cmp_ext(const void *x, const void *y)
{
	uint64_t a = ((const struct extent *)x)->pgno, b = ((const struct extent *)y)->pgno;
	return a < b ? -1 : a > b;
}

/* Publish what is pending for readers' statistics and space maps. */
void alloc_publish(store *s)
{
	struct alloc *a = &s->alloc;
	struct extent *v = malloc((a->npend + 1) * sizeof(*v));
	size_t n = 0;
	uint64_t pages = 0, blob_pages = 0;
	for (size_t i = 0; i < a->npend; i++) {
		/* committed frees only: the open txn's are its own business */
		pages += a->pend[i].n;
		if (a->pend[i].blob)
			blob_pages += a->pend[i].n;
		if (v)
			v[n++] = (struct extent){a->pend[i].pgno, a->pend[i].n};
	}
	if (v)
		qsort(v, n, sizeof(*v), cmp_ext);
	pthread_mutex_lock(&s->pub_lock);
	free(s->pub_pend);
	s->pub_pend = v;
	s->npub_pend = n;
	atomic_store(&s->pub_pending_pages, pages);
	atomic_store(&s->pub_pending_blob_pages, blob_pages);
	pthread_mutex_unlock(&s->pub_lock);
}

/* Does page p lie in one of the n sorted, disjoint runs v? */
static bool in_runs(const struct extent *v, size_t n, uint64_t p)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (v[mid].pgno + v[mid].n <= p)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && v[lo].pgno <= p;
}

bool alloc_pub_pending(store *s, uint64_t pgno)
{
	pthread_mutex_lock(&s->pub_lock);
	bool hit = in_runs(s->pub_pend, s->npub_pend, pgno);
	pthread_mutex_unlock(&s->pub_lock);
	return hit;
}

/* ---- copying allocator pages on first change ----------------------------- */

/* Fence [p, p+n) off (or lift the fence): the allocator skips pending pages,
 * so copies of bitmap pages made meanwhile cannot land in the run. */
static int fence(struct alloc *a, uint64_t p, uint64_t n, bool on)
{
	for (uint64_t q = p; q < p + n; q++) {
		int r = pend_mark(a, q, on);
		if (r < 0)
			return r;
	}
	return 0;
}

static int alloc_page_inner(store_txn *txn, uint64_t *pgno);

static int idx_touch(store_txn *txn, uint32_t i)
{
	store *s = txn->s;
	struct alloc *a = &s->alloc;
	if (i >= MAX_INDEX) {
		store_logf(s, STORE_LOG_ERR, "image reached the format's size limit");
		return -ENOSPC;
	}
	while (a->nidx <= i) {
		a->idx[a->nidx] = (struct idxstate){0};
		a->nidx++;
	}
	if (a->idx[i].dirty)
		return 0;
	int r = undo_push(a, 1, i);
	if (r < 0)
		return r;
	uint8_t *buf = page_alloc_buf(s);
	if (!buf)
		return -ENOMEM;
	memset(buf, 0, s->page_size);
	buf[PH_TYPE] = PT_INDEX; /* its kind from the start (pager checks it) */
	a->idx[i].dirty = buf;
	uint64_t pg;
	r = alloc_page_inner(txn, &pg);
	if (r < 0) {
		a->idx[i].dirty = NULL;
		page_free_buf(s, buf);
		return r;
	}
	a->idx[i].dpgno = pg;
	r = dirty_add(txn, pg, buf);
	if (r < 0)
		return r;
	a->alloc_pages++;
	if (a->idx[i].pgno) {
		r = alloc_free(txn, a->idx[i].pgno, 1, false);
		if (r < 0)
			return r;
		a->alloc_pages--;
	}
	return 0;
}

static int bm_touch(store_txn *txn, uint32_t b)
{
	store *s = txn->s;
	struct alloc *a = &s->alloc;
	struct bmstate *m = &a->bm[b];
	if (m->dirty)
		return 0;
	int r = idx_touch(txn, b / a->epi);
	if (r < 0)
		return r;
	m = &a->bm[b];
	if (m->dirty) /* the index touch may have recursed here */
		return 0;
	const uint64_t *w;
	r = bm_words(txn, b, &w);
	if (r < 0)
		return r;
	r = undo_push(a, 0, b);
	if (r < 0)
		return r;
	uint8_t *buf = page_alloc_buf(s);
	if (!buf)
		return -ENOMEM;
	memset(buf, 0, PAGE_HDR);
	buf[PH_TYPE] = PT_BITMAP; /* its kind from the start (pager checks it) */
	memcpy(buf + PAGE_HDR, w, s->page_size - PAGE_HDR);
	m->dirty = buf;
	uint64_t pg;
	r = alloc_page_inner(txn, &pg);
	if (r < 0) {
		m->dirty = NULL;
		page_free_buf(s, buf);
		return r;
	}
	m = &a->bm[b];
	m->dpgno = pg;
	r = dirty_add(txn, pg, buf);
	if (r < 0)
		return r;
	a->alloc_pages++;
	if (m->pgno) {
		r = alloc_free(txn, m->pgno, 1, false);
		if (r < 0)
			return r;
		a->alloc_pages--;
	}
	return 0;
}

/* ---- growth -------------------------------------------------------------- */

static int grow(store_txn *txn, uint64_t need)
{
	store *s = txn->s;
	struct alloc *a = &s->alloc;
	uint64_t step = a->file_pages / 8;
	uint64_t min_step = (1u << 20) >> s->page_shift; /* 1 MiB */
	uint64_t max_step = (64u << 20) >> s->page_shift;
	if (step < min_step)
		step = min_step;
	if (step > max_step)
		step = max_step;
	uint64_t add = need > step ? need : step;
	uint64_t limit = format_limit_pages(a);
	uint64_t map_pages = s->map_size >> s->page_shift;
	if (map_pages < limit)
		limit = map_pages;
	if (s->max_size) {
		uint64_t mp = s->max_size >> s->page_shift;
		if (mp < limit)
			limit = mp;
	}
	if (a->file_pages + need > limit) {
		store_logf(s, STORE_LOG_DEBUG, "image full: %llu more pages would pass the limit",
			   (unsigned long long)need);
		return -ENOSPC;
	}
	if (a->file_pages + add > limit)
		add = limit - a->file_pages;
	uint64_t off = a->file_pages << s->page_shift;
	int r = io_allocate(s, off, add << s->page_shift);
	if (r == -ENOSPC && add > need) {
		add = need;
		r = io_allocate(s, off, add << s->page_shift);
	}
	if (r < 0)
		return r;
	uint64_t nfp = a->file_pages + add;
	r = ensure_nbm(a, nbm_for(a, nfp));
	if (r < 0)
		return r;
	a->file_pages = nfp;
	if (atomic_load(&s->file_pages) < nfp)
		atomic_store(&s->file_pages, nfp);
	return 0;
}

/* ---- searching ------------------------------------------------------------ */

static uint64_t free_in(const struct alloc *a, uint32_t b)
{
	uint64_t c = cov(a, b);
	uint64_t u = USED(&a->bm[b]) + a->bm[b].npend;
	return c > u ? c - u : 0;
}

/*
 * Lowest run of n free, non-pending pages starting at or after `from` and
 * starting below `below`. Returns 0 and *out, or -ENOSPC.
 */
static int find_run(store_txn *txn, uint64_t from, uint64_t n, uint64_t below, uint64_t *out)
{
	struct alloc *a = &txn->s->alloc;
	uint64_t run_start = 0, run = 0;
	if (from < txn->s->first_pg)
		from = txn->s->first_pg;
	for (uint32_t b = (uint32_t)(from / a->bpb); b < a->nbm; b++) {
		uint64_t base = (uint64_t)b * a->bpb;
		uint64_t c = cov(a, b);
		if (c == 0)
			break;
		if (run == 0 && base >= below)
			break;
		struct bmstate *m = &a->bm[b];
		if (free_in(a, b) == 0 || (base + c <= from)) {
			run = 0;
			continue;
		}
		if (USED(m) == 0 && m->npend == 0 && from <= base) {
			/* nothing used here: the whole covered range is free */
			if (run == 0)
				run_start = base;
			run += c;
			if (run >= n) {
				*out = run_start;
				return 0;
			}
			continue;
		}
		if (m->npend == 0 && from <= base) {
			int r = refresh_summary(txn, b);
			if (r < 0)
				return r;
			m = &a->bm[b];
			if (m->maxrun < n && run + m->lead < n) {
				/* no run completes here; only the trailing one carries on
				 * (bits past the end of the file do not count) */
				uint64_t t = m->trail, beyond = a->bpb - c;
				t = t > beyond ? t - beyond : 0;
				run = t;
				run_start = base + c - t;
				if (run && run_start >= below)
					break;
				continue;
			}
		}
		const uint64_t *w;
		int r = bm_words(txn, b, &w);
		if (r < 0)
			return r;
		const uint64_t *pw = m->pend;
		uint64_t i = (from > base) ? from - base : 0;
		if (from > base)
			run = 0;
		while (i < c) {
			uint64_t k = i / 64;
			uint64_t x = w[k] | (pw ? pw[k] : 0);
			if ((i % 64) == 0 && x == 0 && i + 64 <= c) {
				if (run == 0) {
					if (base + i >= below)
						return -ENOSPC;
					run_start = base + i;
				}
				run += 64;
				if (run >= n) {
					*out = run_start;
					return 0;
				}
				i += 64;
				continue;
			}
			if ((i % 64) == 0 && x == ~0ull) {
				run = 0;
				i += 64;
				continue;
			}
			if ((x >> (i % 64)) & 1) {
				run = 0;
			} else {
				if (run == 0) {
					if (base + i >= below)
						return -ENOSPC;
					run_start = base + i;
				}
				if (++run >= n) {
					*out = run_start;
					return 0;
				}
			}
			i++;
		}
		from = base + a->bpb;
	}
	return -ENOSPC;
}

static bool page_free(store_txn *txn, uint64_t p)
{
	struct alloc *a = &txn->s->alloc;
	if (p >= a->file_pages || p < txn->s->first_pg)
		return false;
	if (is_pending(a, p))
		return false;
	const uint64_t *w;
	if (bm_words(txn, (uint32_t)(p / a->bpb), &w) < 0)
		return false;
	return !bit_get(w, p % a->bpb);
}

static int punched_refill(store_txn *txn, uint64_t pgno, uint64_t n);

/* Mark [p, p+n) used; the bitmaps covering it must already be dirty. */
static void mark_used(store_txn *txn, uint64_t p, uint64_t n)
{
	struct alloc *a = &txn->s->alloc;
	for (uint64_t q = p; q < p + n; q++) {
		struct bmstate *m = &a->bm[q / a->bpb];
		bit_set((uint64_t *)(m->dirty + PAGE_HDR), q % a->bpb);
		USED(m)++;
		m->stale = true;
		/* [I4] the page will hold new content */
		pager_set_verified(txn->s, q, false);
	}
	a->used_pages += n;
}

static int touch_range(store_txn *txn, uint64_t p, uint64_t n)
{
	struct alloc *a = &txn->s->alloc;
	for (uint32_t b = (uint32_t)(p / a->bpb); b <= (p + n - 1) / a->bpb; b++) {
		int r = bm_touch(txn, b);
		if (r < 0)
			return r;
	}
	return 0;
}

static bool range_free(store_txn *txn, uint64_t p, uint64_t n)
{
	for (uint64_t q = p; q < p + n; q++)
		if (!page_free(txn, q))
			return false;
	return true;
}

static int alloc_page_inner(store_txn *txn, uint64_t *pgno)
{
	struct alloc *a = &txn->s->alloc;
	for (int tries = 0; tries < 64; tries++) {
		uint64_t p;
		int r = find_run(txn, a->hint, 1, UINT64_MAX, &p);
		if (r == -ENOSPC) {
			alloc_release(txn->s);
			r = find_run(txn, a->hint, 1, UINT64_MAX, &p);
		}
		if (r == -ENOSPC) {
			r = grow(txn, 1);
			if (r < 0)
				return r;
			continue;
		}
		if (r < 0)
			return r;
		if (p > a->hint)
			a->hint = p; /* nothing free below p */
		r = bm_touch(txn, (uint32_t)(p / a->bpb));
		if (r < 0)
			return r;
		if (!page_free(txn, p))
			continue; /* the touch took it */
		r = punched_refill(txn, p, 1);
		if (r < 0)
			return r;
		mark_used(txn, p, 1);
		if (a->hint == p)
			a->hint = p + 1;
		*pgno = p;
		return 0;
	}
	store_logf(txn->s, STORE_LOG_ERR, "allocator: no progress finding a free page");
	return -EIO;
}

int alloc_page(store_txn *txn, uint64_t *pgno)
{
	return alloc_page_inner(txn, pgno);
}

int alloc_find_run(store_txn *txn, uint64_t n, uint64_t below, uint64_t *pgno)
{
	if (n == 0)
		return -EINVAL;
	return find_run(txn, txn->s->alloc.hint, n, below, pgno);
}

int alloc_run(store_txn *txn, uint64_t n, uint64_t below, uint64_t *pgno)
{
	struct alloc *a = &txn->s->alloc;
	if (n == 0)
		return -EINVAL;
	for (int tries = 0; tries < 64; tries++) {
		uint64_t p;
		int r = find_run(txn, a->hint, n, below, &p);
		if (r == -ENOSPC && below == UINT64_MAX) {
			alloc_release(txn->s);
			r = find_run(txn, a->hint, n, below, &p);
			if (r == -ENOSPC) {
				/* grow enough that a run fits at the end (it may join the
				 * free tail) */
				r = grow(txn, n);
				if (r < 0)
					return r;
				continue;
			}
		}
		if (r < 0)
			return r;
		r = fence(a, p, n, true);
		if (r == 0)
			r = touch_range(txn, p, n);
		fence(a, p, n, false);
		if (r < 0)
			return r;
		if (!range_free(txn, p, n))
			continue;
		r = punched_refill(txn, p, n);
		if (r < 0)
			return r;
		mark_used(txn, p, n);
		*pgno = p;
		return 0;
	}
	return -ENOSPC;
}

int alloc_at(store_txn *txn, uint64_t pgno, uint64_t n)
{
	struct alloc *a = &txn->s->alloc;
	if (n == 0)
		return -EINVAL;
	if (!range_free(txn, pgno, n))
		return -EBUSY;
	int r = fence(a, pgno, n, true);
	if (r == 0)
		r = touch_range(txn, pgno, n);
	fence(a, pgno, n, false);
	if (r < 0)
		return r;
	if (!range_free(txn, pgno, n))
		return -EBUSY;
	r = punched_refill(txn, pgno, n);
	if (r < 0)
		return r;
	mark_used(txn, pgno, n);
	return 0;
}

static int free_run(store_txn *txn, uint64_t pgno, uint64_t n, bool fresh, bool blob);

int alloc_free(store_txn *txn, uint64_t pgno, uint64_t n, bool fresh)
{
	return free_run(txn, pgno, n, fresh, false);
}

int alloc_free_blob(store_txn *txn, uint64_t pgno, uint64_t n)
{
	return free_run(txn, pgno, n, false, true);
}

static int free_run(store_txn *txn, uint64_t pgno, uint64_t n, bool fresh, bool blob)
{
	struct alloc *a = &txn->s->alloc;
	if (n == 0)
		return 0;
	if (pgno < txn->s->first_pg || pgno >= a->file_pages || n > a->file_pages - pgno) {
		store_logf(txn->s, STORE_LOG_ERR, "freeing pages %llu+%llu outside the image",
			   (unsigned long long)pgno, (unsigned long long)n);
		return -EIO;
	}
	int r = touch_range(txn, pgno, n);
	if (r < 0)
		return r;
	for (uint64_t q = pgno; q < pgno + n; q++) {
		struct bmstate *m = &a->bm[q / a->bpb];
		uint64_t *w = (uint64_t *)(m->dirty + PAGE_HDR);
		if (!bit_get(w, q % a->bpb)) {
			store_logf(txn->s, STORE_LOG_ERR, "page %llu freed twice",
				   (unsigned long long)q);
			return -EIO;
		}
		bit_clr(w, q % a->bpb);
		USED(m)--;
		m->stale = true;
		if (!fresh) {
			r = pend_mark(a, q, true);
			if (r < 0)
				return r;
		}
	}
	a->used_pages -= n;
	if (fresh) {
		if (pgno < a->hint)
			a->hint = pgno;
		return 0;
	}
	if (blob)
		a->pending_blob_pages += n;
	return list_push(&a->tfree, &a->ntfree, &a->tfreecap, UINT64_MAX, pgno, n, blob);
}

/* ---- reservations and punched space -------------------------------------- */

static int punched_add(struct alloc *a, uint64_t p, uint64_t n)
{
	/* insert keeping order, merging neighbours */
	size_t i = 0;
	while (i < a->npunched && a->punched[i].pgno + a->punched[i].n < p)
		i++;
	if (i < a->npunched && a->punched[i].pgno <= p + n) {
		uint64_t lo = a->punched[i].pgno < p ? a->punched[i].pgno : p;
		uint64_t hi = a->punched[i].pgno + a->punched[i].n;
		if (p + n > hi)
			hi = p + n;
		a->punched[i].pgno = lo;
		a->punched[i].n = hi - lo;
		while (i + 1 < a->npunched && a->punched[i + 1].pgno <= hi) {
			uint64_t h2 = a->punched[i + 1].pgno + a->punched[i + 1].n;
			if (h2 > hi)
				hi = h2;
			a->punched[i].n = hi - lo;
			memmove(&a->punched[i + 1], &a->punched[i + 2],
				(a->npunched - i - 2) * sizeof(*a->punched));
			a->npunched--;
		}
		return 0;
	}
	if (a->npunched == a->punchcap) {
		size_t ncap = a->punchcap ? a->punchcap * 2 : 16;
		struct extent *x = realloc(a->punched, ncap * sizeof(*x));
		if (!x)
			return -ENOMEM;
		a->punched = x;
		a->punchcap = ncap;
	}
	memmove(&a->punched[i + 1], &a->punched[i], (a->npunched - i) * sizeof(*a->punched));
	a->punched[i] = (struct extent){p, n};
	a->npunched++;
	return 0;
}

/* Give back disk blocks to the punched extents overlapping [p, p+n). */
static int punched_refill(store_txn *txn, uint64_t p, uint64_t n)
{
	struct alloc *a = &txn->s->alloc;
	for (size_t i = 0; i < a->npunched;) {
		struct extent *e = &a->punched[i];
		if (e->pgno >= p + n)
			break;
		if (e->pgno + e->n <= p) {
			i++;
			continue;
		}
		int r = io_allocate(txn->s, e->pgno << txn->s->page_shift,
				    e->n << txn->s->page_shift);
		if (r < 0)
			return r;
		memmove(e, e + 1, (a->npunched - i - 1) * sizeof(*e));
		a->npunched--;
	}
	return 0;
}

static int reserve_pages(store_txn *txn, uint64_t npages, bool freeing);

/*
 * The page just past the n-th free, non-pending page at or after `from`
 * (the file's end if there are fewer): a word at a time.
 */
static int nth_free(store_txn *txn, uint64_t from, uint64_t n, uint64_t *end)
{
	struct alloc *a = &txn->s->alloc;
	uint64_t p = from < txn->s->first_pg ? txn->s->first_pg : from;
	while (n > 0 && p < a->file_pages) {
		uint32_t b = (uint32_t)(p / a->bpb);
		uint64_t base = (uint64_t)b * a->bpb, c = cov(a, b);
		if (p == base && free_in(a, b) < n && a->bm[b].npend == 0) {
			n -= free_in(a, b);
			p = base + c;
			continue;
		}
		const uint64_t *w;
		int r = bm_words(txn, b, &w);
		if (r < 0)
			return r;
		const uint64_t *pw = a->bm[b].pend;
		while (n > 0 && p < base + c) {
			uint64_t i = p - base, k = i / 64;
			uint64_t x = ~(w[k] | (pw ? pw[k] : 0)) >> (i % 64); /* free bits from i */
			uint64_t span = 64 - i % 64;
			if (i + span > c) {
				span = c - i;
				x &= span == 64 ? ~0ull : (1ull << span) - 1;
			}
			uint64_t f = (uint64_t)__builtin_popcountll(x);
			if (f < n) {
				n -= f;
				p += span;
				continue;
			}
			/* the n-th free bit is in this word */
			while (n > 1) {
				x &= x - 1;
				n--;
			}
			p += (uint64_t)__builtin_ctzll(x) + 1;
			n = 0;
		}
	}
	*end = p;
	return 0;
}

int alloc_reserve(store_txn *txn, uint64_t npages)
{
	return reserve_pages(txn, npages, false);
}

int alloc_reserve_free(store_txn *txn, uint64_t npages)
{
	return reserve_pages(txn, npages, true);
}

/*
 * Pages only operations that free space may use: deletes copy their path
 * too, so an image filled to its limit by puts could not be emptied.
 */
static uint64_t free_reserve(const store *s)
{
	uint64_t p = (512u << 10) >> s->page_shift;
	return p < 32 ? 32 : p;
}

static int reserve_pages(store_txn *txn, uint64_t npages, bool freeing)
{
	store *s = txn->s;
	struct alloc *a = &s->alloc;
	uint64_t need = npages + 8 + 2 * (npages / a->bpb + 1);
	if (!freeing)
		need += free_reserve(s);
	uint64_t avail = a->file_pages - a->used_pages - a->pending_pages;
	if (avail < need) {
		alloc_release(s);
		avail = a->file_pages - a->used_pages - a->pending_pages;
	}
	if (avail < need) {
		int r = grow(txn, need - avail);
		if (r < 0)
			return r;
	}
	if (!a->npunched)
		return 0;
	/* refill punched space among the lowest `need` free pages, which the
	 * next single-page allocations take */
	uint64_t end;
	int r = nth_free(txn, a->hint, need, &end);
	if (r < 0)
		return r;
	return punched_refill(txn, s->first_pg, end - s->first_pg);
}

int alloc_open_punched(store *s)
{
	struct alloc *a = &s->alloc;
	uint64_t size = a->file_pages << s->page_shift;
	off_t off = (off_t)(s->first_pg << s->page_shift);
	while ((uint64_t)off < size) {
		off_t h = lseek(s->fd, off, SEEK_HOLE);
		if (h < 0 || (uint64_t)h >= size)
			break;
		off_t d = lseek(s->fd, h, SEEK_DATA);
		if (d < 0 || (uint64_t)d > size)
			d = (off_t)size;
		uint64_t p0 = ((uint64_t)h + s->page_size - 1) >> s->page_shift;
		uint64_t p1 = (uint64_t)d >> s->page_shift;
		if (p1 > p0) {
			int r = punched_add(a, p0, p1 - p0);
			if (r < 0)
				return r;
		}
		off = d;
	}
	return 0;
}

/* ---- commit / abort ------------------------------------------------------ */

int alloc_txn_finalize(store_txn *txn)
{
	store *s = txn->s;
	struct alloc *a = &s->alloc;
	struct meta *m = txn->meta;
	for (uint32_t b = 0; b < a->nbm; b++) {
		struct bmstate *bm = &a->bm[b];
		if (!bm->dirty)
			continue;
		uint8_t *p = bm->dirty;
		summarize(a, (const uint64_t *)(p + PAGE_HDR), &bm->maxrun, &bm->lead, &bm->trail);
		bm->stale = false;
		memset(p, 0, PAGE_HDR);
		p[PH_TYPE] = PT_BITMAP;
		put32(p + PH_OWNER, b);
		put64(p + PH_PGNO, bm->dpgno);
		put64(p + PH_TXNID, m->txnid);
		bm->pgno = bm->dpgno;
		bm->csum = page_csum(s, p);
		bm->dirty = NULL; /* the buffer now belongs to the dirty map */
	}
	for (uint32_t i = 0; i < a->nidx; i++) {
		struct idxstate *ix = &a->idx[i];
		if (!ix->dirty)
			continue;
		uint8_t *p = ix->dirty;
		memset(p, 0, s->page_size);
		p[PH_TYPE] = PT_INDEX;
		put32(p + PH_OWNER, i);
		put64(p + PH_PGNO, ix->dpgno);
		put64(p + PH_TXNID, m->txnid);
		for (uint32_t j = 0; j < a->epi; j++) {
			uint32_t b = i * a->epi + j;
			if (b >= a->nbm)
				break;
			struct bmstate *bm = &a->bm[b];
			if (!bm->pgno)
				continue;
			if (bm->stale) {
				int r = refresh_summary(txn, b);
				if (r < 0)
					return r;
			}
			uint8_t *e = p + PAGE_HDR + j * IDX_ENTRY;
			put64(e + IE_PGNO, bm->pgno);
			put64(e + IE_CSUM, bm->csum);
			put32(e + IE_FREE, USED(bm));
			put32(e + IE_MAXRUN, bm->maxrun);
			put32(e + IE_LEAD, bm->lead);
			put32(e + IE_TRAIL, bm->trail);
		}
		ix->pgno = ix->dpgno;
		ix->csum = page_csum(s, p);
		ix->dirty = NULL;
	}
	/* trailing index pages that hold no bitmap are not recorded */
	uint32_t nidx = a->nidx;
	while (nidx > 0 && a->idx[nidx - 1].pgno == 0)
		nidx--;
	m->nindex = nidx;
	for (uint32_t i = 0; i < nidx; i++) {
		m->index_pgno[i] = a->idx[i].pgno;
		m->index_csum[i] = a->idx[i].csum;
	}
	m->file_pages = a->file_pages;
	m->used_pages = a->used_pages;
	m->alloc_pages = a->alloc_pages;
	return 0;
}

void alloc_txn_committed(store_txn *txn)
{
	struct alloc *a = &txn->s->alloc;
	for (size_t i = 0; i < a->ntfree; i++)
		list_push(&a->pend, &a->npend, &a->pendcap, txn->meta->txnid, a->tfree[i].pgno,
			  a->tfree[i].n, a->tfree[i].blob);
	a->ntfree = 0;
	a->nundo = 0;
}

void alloc_txn_abort(store_txn *txn)
{
	struct alloc *a = &txn->s->alloc;
	/* pages this txn freed are in use again */
	for (size_t i = 0; i < a->ntfree; i++) {
		for (uint64_t q = 0; q < a->tfree[i].n; q++)
			pend_mark(a, a->tfree[i].pgno + q, false);
		if (a->tfree[i].blob)
			a->pending_blob_pages -= a->tfree[i].n;
	}
	a->ntfree = 0;
	for (size_t k = a->nundo; k-- > 0;) {
		struct alloc_undo *u = &a->undo[k];
		if (u->kind == 0) {
			struct bmstate *m = &a->bm[u->i];
			m->dirty = NULL; /* freed with the dirty map */
			m->pgno = u->pgno;
			m->csum = u->csum;
			m->used = u->used;
			m->maxrun = u->maxrun;
			m->lead = u->lead;
			m->trail = u->trail;
			m->stale = u->stale;
		} else {
			a->idx[u->i].dirty = NULL;
			a->idx[u->i].pgno = u->pgno;
			a->idx[u->i].csum = u->csum;
		}
	}
	a->nundo = 0;
	/* growth stays (the new pages are free); a shrink stays too */
	if (a->file_pages > a->undo_file_pages) {
		/* nothing: the larger file simply has more free pages */
	}
	a->used_pages = a->undo_used_pages;
	a->alloc_pages = a->undo_alloc_pages;
	if (a->nbm < a->undo_nbm)
		a->nbm = a->undo_nbm;
	if (a->nidx < a->undo_nidx)
		a->nidx = a->undo_nidx;
	a->hint = txn->s->first_pg;
}

/* ---- queries ------------------------------------------------------------- */

static bool is_punched(const struct alloc *a, uint64_t p)
{
	return in_runs(a->punched, a->npunched, p);
}

bool alloc_is_alloc_page(store_txn *txn, uint64_t pgno)
{
	struct alloc *a = &txn->s->alloc;
	for (uint32_t i = 0; i < a->nidx; i++) {
		uint64_t cur = a->idx[i].dirty ? a->idx[i].dpgno : a->idx[i].pgno;
		if (cur == pgno && cur)
			return true;
	}
	for (uint32_t b = 0; b < a->nbm; b++) {
		uint64_t cur = a->bm[b].dirty ? a->bm[b].dpgno : a->bm[b].pgno;
		if (cur == pgno && cur)
			return true;
	}
	return false;
}

int alloc_state_of(store_txn *txn, uint64_t pgno, enum store_extent_kind *kind, uint64_t *start,
		   uint64_t *n)
{
	struct alloc *a = &txn->s->alloc;
	if (pgno >= a->file_pages)
		return -ERANGE;
	const uint64_t *w;
	int r = bm_words(txn, (uint32_t)(pgno / a->bpb), &w);
	if (r < 0)
		return r;
	if (bit_get(w, pgno % a->bpb)) {
		*kind = STORE_EXT_TREE; /* used: the caller finds out by what */
		*start = pgno;
		*n = 1;
		return 0;
	}
	bool pend = is_pending(a, pgno);
	bool punched = is_punched(a, pgno);
	*kind = pend ? STORE_EXT_PENDING : punched ? STORE_EXT_PUNCHED : STORE_EXT_FREE;
	/* extend the run both ways while the state stays the same */
	uint64_t lo = pgno, hi = pgno + 1;
	while (lo > txn->s->first_pg) {
		uint64_t q = lo - 1;
		const uint64_t *ww;
		if (bm_words(txn, (uint32_t)(q / a->bpb), &ww) < 0 || bit_get(ww, q % a->bpb) ||
		    is_pending(a, q) != pend || is_punched(a, q) != punched)
			break;
		lo = q;
	}
	while (hi < a->file_pages) {
		const uint64_t *ww;
		if (bm_words(txn, (uint32_t)(hi / a->bpb), &ww) < 0 || bit_get(ww, hi % a->bpb) ||
		    is_pending(a, hi) != pend || is_punched(a, hi) != punched)
			break;
		hi++;
	}
	*start = lo;
	*n = hi - lo;
	return 0;
}

/* Highest page that is used, or pending if `with_pending`. */
static int highest(store_txn *txn, bool with_pending, uint64_t *out)
{
	struct alloc *a = &txn->s->alloc;
	for (uint32_t b = a->nbm; b-- > 0;) {
		struct bmstate *m = &a->bm[b];
		if (USED(m) == 0 && !(with_pending && m->npend))
			continue;
		const uint64_t *w;
		int r = bm_words(txn, b, &w);
		if (r < 0)
			return r;
		for (uint32_t k = a->bpb / 64; k-- > 0;) {
			uint64_t x = w[k] | ((with_pending && m->pend) ? m->pend[k] : 0);
			if (x) {
				*out = (uint64_t)b * a->bpb + k * 64 + 63 - (uint64_t)__builtin_clzll(x);
				return 0;
			}
		}
	}
	*out = 0;
	return -ENOENT;
}

int alloc_highest_used(store_txn *txn, uint64_t *pgno)
{
	return highest(txn, false, pgno);
}

int alloc_relocate_self(store_txn *txn, uint64_t pgno, uint64_t *newpgno)
{
	store *s = txn->s;
	struct alloc *a = &s->alloc;
	for (int kind = 0; kind < 2; kind++) {
		uint32_t count = kind ? a->nidx : a->nbm;
		for (uint32_t i = 0; i < count; i++) {
			uint8_t *dirty = kind ? a->idx[i].dirty : a->bm[i].dirty;
			uint64_t cur = dirty ? (kind ? a->idx[i].dpgno : a->bm[i].dpgno)
					     : (kind ? a->idx[i].pgno : a->bm[i].pgno);
			if (cur != pgno || !cur)
				continue;
			if (!dirty) {
				/* the first change gives it the lowest free home */
				int r = kind ? idx_touch(txn, i) : bm_touch(txn, i);
				if (r < 0)
					return r;
				*newpgno = kind ? a->idx[i].dpgno : a->bm[i].dpgno;
				return *newpgno < pgno ? 0 : -ENOSPC;
			}
			uint64_t np;
			int r = find_run(txn, a->hint, 1, pgno, &np);
			if (r < 0)
				return r;
			r = alloc_at(txn, np, 1);
			if (r < 0)
				return r;
			/* the dirty copy may have moved while allocating */
			dirty = kind ? a->idx[i].dirty : a->bm[i].dirty;
			cur = kind ? a->idx[i].dpgno : a->bm[i].dpgno;
			dirty_remove(txn, cur);
			r = dirty_add(txn, np, dirty);
			if (r < 0)
				return r;
			if (kind)
				a->idx[i].dpgno = np;
			else
				a->bm[i].dpgno = np;
			r = alloc_free(txn, cur, 1, true);
			if (r < 0)
				return r;
			*newpgno = np;
			return 0;
		}
	}
	return -ENOENT;
}

int alloc_shrink(store_txn *txn, uint64_t *reclaimed)
{
	store *s = txn->s;
	struct alloc *a = &s->alloc;
	*reclaimed = 0;
	alloc_release(s);
	uint64_t top;
	int r = highest(txn, true, &top);
	if (r == -ENOENT)
		top = s->first_pg - 1;
	else if (r < 0)
		return r;
	uint64_t end = top + 1;
	/* drop bitmap pages that would only describe pages past the new end */
	for (uint32_t b = a->nbm; b-- > 0;) {
		if ((uint64_t)b * a->bpb < end)
			break;
		struct bmstate *m = &a->bm[b];
		uint64_t cur = m->dirty ? m->dpgno : m->pgno;
		if (!cur)
			continue;
		r = idx_touch(txn, b / a->epi);
		if (r < 0)
			return r;
		r = undo_push(a, 0, b);
		if (r < 0)
			return r;
		if (m->dirty) {
			dirty_remove(txn, m->dpgno);
			page_free_buf(s, m->dirty);
			m->dirty = NULL;
			r = alloc_free(txn, cur, 1, true);
		} else {
			r = alloc_free(txn, cur, 1, false);
		}
		if (r < 0)
			return r;
		a->alloc_pages--;
		bm_init_missing(a, b);
	}
	r = highest(txn, true, &top);
	if (r == -ENOENT)
		top = s->first_pg - 1;
	else if (r < 0)
		return r;
	end = top + 1;
	if (end >= a->file_pages)
		return 0;
	uint64_t old = a->file_pages;
	atomic_store(&s->file_pages, end);
	r = io_truncate(s, end << s->page_shift);
	if (r < 0) {
		atomic_store(&s->file_pages, old);
		return r;
	}
	a->file_pages = end;
	uint32_t nbm = nbm_for(a, end);
	for (uint32_t b = nbm; b < a->nbm; b++)
		if (a->bm[b].pgno || a->bm[b].dirty)
			nbm = b + 1;
	a->nbm = nbm;
	while (a->npunched && a->punched[a->npunched - 1].pgno >= end)
		a->npunched--;
	if (a->npunched && a->punched[a->npunched - 1].pgno + a->punched[a->npunched - 1].n > end)
		a->punched[a->npunched - 1].n = end - a->punched[a->npunched - 1].pgno;
	if (a->hint > end)
		a->hint = end;
	*reclaimed = (old - end) << s->page_shift;
	return 0;
}

int alloc_punch(store_txn *txn, uint64_t min_pages, uint64_t *punched)
{
	store *s = txn->s;
	struct alloc *a = &s->alloc;
	*punched = 0;
	alloc_release(s);
	if (min_pages == 0)
		min_pages = 1;
	uint64_t p = s->first_pg;
	while (p < a->file_pages) {
		uint64_t start;
		int r = find_run(txn, p, min_pages, UINT64_MAX, &start);
		if (r == -ENOSPC)
			break;
		if (r < 0)
			return r;
		uint64_t end = start + min_pages;
		while (end < a->file_pages && page_free(txn, end))
			end++;
		/* skip what is already punched */
		uint64_t q = start;
		while (q < end) {
			bool in = false;
			uint64_t next = end;
			for (size_t i = 0; i < a->npunched; i++) {
				struct extent *e = &a->punched[i];
				if (q >= e->pgno && q < e->pgno + e->n) {
					in = true;
					next = e->pgno + e->n;
					break;
				}
				if (e->pgno > q && e->pgno < next)
					next = e->pgno;
			}
			if (next > end)
				next = end;
			if (!in) {
				r = io_punch(s, q << s->page_shift, (next - q) << s->page_shift);
				if (r < 0)
					return r;
				r = punched_add(a, q, next - q);
				if (r < 0)
					return r;
				*punched += (next - q) << s->page_shift;
			}
			q = next;
		}
		p = end;
	}
	return 0;
}

/* ---- read-side views (any txn) -------------------------------------------- */

/*
 * Bitmap b of the state txn sees. Write txns use the allocator; read txns
 * read the snapshot's index and bitmap pages.
 */
int alloc_bitmap_get(store_txn *txn, uint32_t b, const uint8_t **bits, uint64_t *pgno)
{
	store *s = txn->s;
	if (txn->write) {
		struct alloc *a = &s->alloc;
		if (b >= a->nbm)
			return -ENOENT;
		const uint64_t *w;
		int r = bm_words(txn, b, &w);
		if (r < 0)
			return r;
		*bits = (const uint8_t *)w;
		*pgno = a->bm[b].dirty ? a->bm[b].dpgno : a->bm[b].pgno;
		return 0;
	}
	uint32_t epi = (s->page_size - PAGE_HDR) / IDX_ENTRY;
	uint32_t i = b / epi;
	if (i >= txn->meta->nindex)
		goto missing;
	if (!txn->meta->index_pgno[i])
		goto missing;
	const uint8_t *ip;
	int r = page_get(txn, txn->meta->index_pgno[i], txn->meta->index_csum[i], PT_INDEX, 0, &ip);
	if (r < 0)
		return r;
	const uint8_t *e = ip + PAGE_HDR + (b % epi) * IDX_ENTRY;
	uint64_t bp = get64(e + IE_PGNO);
	if (!bp)
		goto missing;
	const uint8_t *bmp;
	r = page_get(txn, bp, get64(e + IE_CSUM), PT_BITMAP, 0, &bmp);
	if (r < 0)
		return r;
	*bits = bmp + PAGE_HDR;
	*pgno = bp;
	return 0;
missing:
	if (!zero_page) {
		static uint8_t zeros[STORE_MAX_PAGE_SIZE] __attribute__((aligned(64)));
		zero_page = zeros;
	}
	*bits = zero_page + PAGE_HDR;
	*pgno = 0;
	return 0;
}

/* Runs of free (0) bits of one word's first `n` bits, into the running
 * figures: the open run carries over from the previous word. */
static void runs_of_word(uint64_t used, unsigned n, uint64_t *run, uint64_t *extents,
			 uint64_t *largest)
{
	unsigned i = 0;
	while (i < n) {
		uint64_t x = used >> i;
		unsigned f = x ? (unsigned)__builtin_ctzll(x) : 64 - i; /* free bits from i */
		if (f > n - i)
			f = n - i;
		*run += f;
		i += f;
		if (i >= n)
			break;
		/* a used bit ends the run */
		if (*run) {
			(*extents)++;
			if (*run > *largest)
				*largest = *run;
			*run = 0;
		}
		uint64_t y = ~(used >> i);
		unsigned u = y ? (unsigned)__builtin_ctzll(y) : 64 - i; /* used bits from i */
		i += u > n - i ? n - i : u;
	}
}

int alloc_summary(store_txn *txn, struct store_stats *st)
{
	store *s = txn->s;
	uint64_t bpb = alloc_bits_per_page(s);
	uint64_t fp = txn->write ? s->alloc.file_pages : txn->meta->file_pages;
	uint64_t filep = atomic_load(&s->file_pages);
	if (!txn->write && filep < fp)
		fp = filep;
	uint64_t nbm = (fp + bpb - 1) / bpb;
	uint64_t free = 0, extents = 0, largest = 0, run = 0, tail_start = s->first_pg;
	for (uint64_t b = 0; b < nbm; b++) {
		const uint8_t *bits;
		uint64_t pg;
		int r = alloc_bitmap_get(txn, (uint32_t)b, &bits, &pg);
		if (r < 0)
			return r;
		const uint64_t *w = (const uint64_t *)bits;
		uint64_t base = b * bpb;
		for (uint64_t k = 0; k * 64 < bpb && base + k * 64 < fp; k++) {
			uint64_t p0 = base + k * 64;
			unsigned n = fp - p0 >= 64 ? 64 : (unsigned)(fp - p0);
			uint64_t used = w[k];
			if (p0 < s->first_pg) /* the slots count as used */
				used |= s->first_pg - p0 >= 64 ? ~0ull
							       : (1ull << (s->first_pg - p0)) - 1;
			uint64_t mask = n == 64 ? ~0ull : (1ull << n) - 1;
			used &= mask;
			free += (uint64_t)__builtin_popcountll(~used & mask);
			if (used)
				tail_start = p0 + 64 - (uint64_t)__builtin_clzll(used);
			if (used == 0) {
				run += n;
				continue;
			}
			runs_of_word(used, n, &run, &extents, &largest);
		}
	}
	if (run) {
		extents++;
		if (run > largest)
			largest = run;
	}
	uint64_t ps = s->page_size;
	st->free_bytes = free * ps;
	st->free_extents = extents;
	st->largest_free_extent = largest * ps;
	st->tail_free_bytes = (fp > tail_start ? fp - tail_start : 0) * ps;
	st->pending_bytes = (txn->write ? s->alloc.pending_pages
				       : atomic_load(&s->pub_pending_pages)) * ps;
	return 0;
}

/*
 * Make the bitmaps say exactly what `reach` (one bit per page) says. Pages
 * that are reachable but marked free are first fenced off in the pending
 * overlay, so that the allocations this repair itself makes (copies of
 * bitmap pages) cannot land on them.
 */
int alloc_repair(store_txn *txn, const uint64_t *reach, uint64_t *fixed)
{
	store *s = txn->s;
	struct alloc *a = &s->alloc;
	*fixed = 0;
	uint64_t nfence = 0;
	for (uint64_t p = s->first_pg; p < a->file_pages; p++) {
		if (!((reach[p / 64] >> (p % 64)) & 1) || is_pending(a, p))
			continue;
		const uint64_t *w;
		int r = bm_words(txn, (uint32_t)(p / a->bpb), &w);
		if (r < 0)
			return r;
		if (!bit_get(w, p % a->bpb)) {
			r = pend_mark(a, p, true);
			if (r < 0)
				return r;
			nfence++;
		}
	}
	for (uint64_t p = s->first_pg; p < a->file_pages && nfence; p++) {
		if (!((reach[p / 64] >> (p % 64)) & 1) || !is_pending(a, p))
			continue;
		const uint64_t *w;
		int r = bm_words(txn, (uint32_t)(p / a->bpb), &w);
		if (r < 0)
			return r;
		if (bit_get(w, p % a->bpb))
			continue;
		r = touch_range(txn, p, 1);
		if (r < 0)
			return r;
		pend_mark(a, p, false);
		mark_used(txn, p, 1);
		nfence--;
		(*fixed)++;
	}
	for (uint64_t p = s->first_pg; p < a->file_pages; p++) {
		if ((reach[p / 64] >> (p % 64)) & 1)
			continue;
		const uint64_t *w;
		int r = bm_words(txn, (uint32_t)(p / a->bpb), &w);
		if (r < 0)
			return r;
		if (!bit_get(w, p % a->bpb) || alloc_is_alloc_page(txn, p))
			continue;
		r = alloc_free(txn, p, 1, true);
		if (r < 0)
			return r;
		(*fixed)++;
	}
	return 0;
}

/* A new image: the pages holding the commit slots are in use for good. */
int alloc_create(store_txn *txn)
{
	store *s = txn->s;
	int r = bm_touch(txn, 0);
	if (r < 0)
		return r;
	struct bmstate *m = &s->alloc.bm[0];
	for (uint64_t p = 0; p < s->first_pg; p++) {
		if (bit_get((uint64_t *)(m->dirty + PAGE_HDR), p))
			continue;
		bit_set((uint64_t *)(m->dirty + PAGE_HDR), p);
		m->used++;
		s->alloc.used_pages++;
	}
	m->stale = true;
	return 0;
}
