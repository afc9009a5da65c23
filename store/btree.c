/*
 * btree.c — the copy-on-write B+tree: page layout, search, insert with
 * splits, delete with merges, cursors, the commit-time checksum pass, and a
 * walker for verify and the space map.
 *
 * Page layout (after the 32-byte header of store_int.h): an array of u16 cell
 * offsets sorted by key, growing up; cells packed from the end of the page
 * down to `upper`. Dead cells count as `garbage` until the page is compacted.
 *   leaf cell:   u16 klen, u16 vinfo, key, value   (vinfo bit 15: the value
 *                is in a blob; the cell holds u64 blob id + u64 length)
 *   branch cell: u16 klen, u16 0, u64 child, u64 child checksum, key
 * A branch's first key is empty and means "minus infinity": child i holds
 * the keys k with key[i] <= k < key[i+1]. Separators are cut to the
 * shortest prefix that still separates (suffix truncation).
 *
 * Copy-on-write [I1]: a page of the committed state is never changed; the
 * first change in a txn copies it to a newly allocated page (cow()), and its
 * parent's pointer is updated. A page already dirty in the txn is changed in
 * place, so a page touched many times in one txn is copied once. Checksums of
 * dirty pages are computed once, at commit, bottom-up (bt_finalize) [I3].
 */
#include "store_int.h"

#include <stdio.h>
#include <stdlib.h>

struct pathent {
	uint8_t *pg;    /* dirty buffer */
	uint64_t pgno;
	unsigned idx;   /* branch: child followed; leaf: position */
};

/* ---- page accessors ------------------------------------------------------ */

uint16_t pg_nkeys(const uint8_t *p)
{
	return get16(p + PH_NKEYS);
}

const uint8_t *pg_cell(const uint8_t *p, unsigned i)
{
	return p + get16(p + PAGE_HDR + 2 * i);
}

static inline uint8_t *pg_cell_w(uint8_t *p, unsigned i)
{
	return p + get16(p + PAGE_HDR + 2 * i);
}

void leaf_kv(const uint8_t *c, const uint8_t **k, size_t *klen, const uint8_t **v, size_t *vlen,
	     bool *overflow)
{
	size_t kl = get16(c);
	unsigned vi = get16(c + 2);
	*k = c + LEAF_CELL_HDR;
	*klen = kl;
	*v = c + LEAF_CELL_HDR + kl;
	if (vi & VINFO_OVERFLOW) {
		*overflow = true;
		*vlen = (size_t)get64(c + LEAF_CELL_HDR + kl + 8);
	} else {
		*overflow = false;
		*vlen = vi;
	}
}

void branch_k(const uint8_t *c, const uint8_t **k, size_t *klen, uint64_t *child, uint64_t *csum)
{
	*klen = get16(c);
	*k = c + BRANCH_CELL_HDR;
	*child = get64(c + 4);
	*csum = get64(c + 12);
}

static size_t cell_size(const uint8_t *p, const uint8_t *c)
{
	size_t kl = get16(c);
	if (p[PH_TYPE] == PT_BRANCH)
		return BRANCH_CELL_HDR + kl;
	unsigned vi = get16(c + 2);
	return LEAF_CELL_HDR + kl + ((vi & VINFO_OVERFLOW) ? OVERFLOW_REF : vi);
}

static inline int keycmp(const void *a, size_t al, const void *b, size_t bl)
{
	size_t n = al < bl ? al : bl;
	int c = n ? memcmp(a, b, n) : 0;
	if (c)
		return c;
	return al < bl ? -1 : al > bl ? 1 : 0;
}

static inline const uint8_t *cell_key(const uint8_t *p, const uint8_t *c, size_t *klen)
{
	*klen = get16(c);
	return c + (p[PH_TYPE] == PT_BRANCH ? BRANCH_CELL_HDR : LEAF_CELL_HDR);
}

static size_t usable(const store *s)
{
	return s->page_size - PAGE_HDR;
}

size_t bt_max_cell(const store *s)
{
	/* every leaf holds at least two cells of the largest size */
	return usable(s) / 2 - 2;
}

size_t bt_inline_max(const store *s, size_t klen)
{
	size_t mc = bt_max_cell(s);
	if (klen + LEAF_CELL_HDR >= mc)
		return 0;
	size_t v = mc - LEAF_CELL_HDR - klen;
	return v > 0x7fff ? 0x7fff : v;
}

static size_t page_free_bytes(const uint8_t *p)
{
	return get32(p + PH_UPPER) - (PAGE_HDR + 2u * pg_nkeys(p));
}

static size_t page_used_bytes(const store *s, const uint8_t *p)
{
	return usable(s) - page_free_bytes(p) - get16(p + PH_GARBAGE);
}

static void page_init(store *s, uint8_t *p, int type, int level, uint32_t owner)
{
	memset(p, 0, PAGE_HDR);
	p[PH_TYPE] = (uint8_t)type;
	p[PH_LEVEL] = (uint8_t)level;
	put32(p + PH_OWNER, owner);
	put32(p + PH_UPPER, s->page_size);
}

/* Lay out cells [0, n) afresh in p (which may be one of their sources only
 * if the caller copied it first). */
static void page_build(store *s, uint8_t *p, int type, int level, uint32_t owner,
		       const uint8_t *const *cells, const size_t *sizes, unsigned n)
{
	page_init(s, p, type, level, owner);
	uint32_t upper = s->page_size;
	for (unsigned i = 0; i < n; i++) {
		upper -= (uint32_t)sizes[i];
		memcpy(p + upper, cells[i], sizes[i]);
		put16(p + PAGE_HDR + 2 * i, (uint16_t)upper);
	}
	put16(p + PH_NKEYS, (uint16_t)n);
	put32(p + PH_UPPER, upper);
}

/* Working space for splits and merges (kept off the stack: they recurse). */
struct scratch {
	uint8_t *copy1, *copy2;
	const uint8_t **cells;
	size_t *sizes;
};

static struct scratch *scratch_new(store *s)
{
	size_t maxcells = s->page_size / 6 + 4;
	size_t sz = sizeof(struct scratch) + 2 * (size_t)s->page_size +
		    maxcells * (sizeof(uint8_t *) + sizeof(size_t));
	struct scratch *sc = malloc(sz);
	if (!sc)
		return NULL;
	uint8_t *base = (uint8_t *)(sc + 1);
	sc->cells = (const uint8_t **)base;
	sc->sizes = (size_t *)(base + maxcells * sizeof(uint8_t *));
	sc->copy1 = base + maxcells * (sizeof(uint8_t *) + sizeof(size_t));
	sc->copy2 = sc->copy1 + s->page_size;
	return sc;
}

static void page_compact(store *s, uint8_t *p)
{
	uint8_t tmp[STORE_MAX_PAGE_SIZE];
	memcpy(tmp, p, s->page_size);
	unsigned n = pg_nkeys(tmp);
	uint32_t upper = s->page_size;
	for (unsigned i = 0; i < n; i++) {
		const uint8_t *c = pg_cell(tmp, i);
		size_t sz = cell_size(tmp, c);
		upper -= (uint32_t)sz;
		memcpy(p + upper, c, sz);
		put16(p + PAGE_HDR + 2 * i, (uint16_t)upper);
	}
	put32(p + PH_UPPER, upper);
	put16(p + PH_GARBAGE, 0);
}

/* Insert a cell at position idx if it fits (compacting if that helps). */
static bool page_insert(store *s, uint8_t *p, unsigned idx, const uint8_t *cell, size_t clen)
{
	size_t fr = page_free_bytes(p);
	if (fr < clen + 2) {
		if (fr + get16(p + PH_GARBAGE) < clen + 2)
			return false;
		page_compact(s, p);
	}
	unsigned n = pg_nkeys(p);
	uint32_t upper = get32(p + PH_UPPER) - (uint32_t)clen;
	memcpy(p + upper, cell, clen);
	uint8_t *offs = p + PAGE_HDR;
	memmove(offs + 2 * (idx + 1), offs + 2 * idx, 2u * (n - idx));
	put16(offs + 2 * idx, (uint16_t)upper);
	put16(p + PH_NKEYS, (uint16_t)(n + 1));
	put32(p + PH_UPPER, upper);
	return true;
}

static void page_remove(uint8_t *p, unsigned idx)
{
	unsigned n = pg_nkeys(p);
	const uint8_t *c = pg_cell(p, idx);
	size_t sz = cell_size(p, c);
	uint32_t off = get16(p + PAGE_HDR + 2 * idx);
	uint8_t *offs = p + PAGE_HDR;
	memmove(offs + 2 * idx, offs + 2 * (idx + 1), 2u * (n - idx - 1));
	put16(p + PH_NKEYS, (uint16_t)(n - 1));
	if (off == get32(p + PH_UPPER))
		put32(p + PH_UPPER, off + (uint32_t)sz);
	else
		put16(p + PH_GARBAGE, (uint16_t)(get16(p + PH_GARBAGE) + sz));
}

/* ---- search -------------------------------------------------------------- */

/* Index of the child of branch p that covers key. */
static unsigned branch_search(const uint8_t *p, const void *key, size_t klen)
{
	unsigned lo = 1, hi = pg_nkeys(p); /* find the last i >= 1 with key[i] <= key */
	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;
		size_t kl;
		const uint8_t *k = cell_key(p, pg_cell(p, mid), &kl);
		if (keycmp(k, kl, key, klen) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo - 1;
}

/* First position in leaf p whose key is >= key; *found if equal. */
static unsigned leaf_search(const uint8_t *p, const void *key, size_t klen, bool *found)
{
	unsigned lo = 0, hi = pg_nkeys(p);
	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;
		size_t kl;
		const uint8_t *k = cell_key(p, pg_cell(p, mid), &kl);
		int c = keycmp(k, kl, key, klen);
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	if (lo < pg_nkeys(p)) {
		size_t kl;
		const uint8_t *k = cell_key(p, pg_cell(p, lo), &kl);
		*found = keycmp(k, kl, key, klen) == 0;
	}
	return lo;
}

static inline int child_type(int level)
{
	return level == 0 ? PT_LEAF : PT_BRANCH;
}

/* The leaf that would hold key, read-only. */
static int find_leaf(store_txn *txn, struct tstate *t, const void *key, size_t klen,
		     const uint8_t **leaf)
{
	uint64_t pg = t->r.pgno, cs = t->r.csum;
	for (int level = (int)t->r.depth - 1;; level--) {
		const uint8_t *p;
		int r = page_get(txn, pg, cs, child_type(level), level, &p);
		if (r < 0)
			return r;
		if (get32(p + PH_OWNER) != t->id) {
			store_logf(txn->s, STORE_LOG_ERR, "page %llu belongs to table %u, not %u",
				   (unsigned long long)pg, get32(p + PH_OWNER), t->id);
			return -EIO;
		}
		if (level == 0) {
			*leaf = p;
			return 0;
		}
		unsigned i = branch_search(p, key, klen);
		const uint8_t *c = pg_cell(p, i);
		pg = get64(c + 4);
		cs = get64(c + 12);
	}
}

int bt_get(store_txn *txn, struct tstate *t, const void *key, size_t klen, void *val, size_t cap,
	   size_t *vlen)
{
	if (klen > STORE_MAX_KEY)
		return -EINVAL;
	if (t->r.depth == 0)
		return -ENOENT;
	const uint8_t *leaf;
	int r = find_leaf(txn, t, key, klen, &leaf);
	if (r < 0)
		return r;
	bool found;
	unsigned i = leaf_search(leaf, key, klen, &found);
	if (!found)
		return -ENOENT;
	const uint8_t *k, *v;
	size_t kl, vl;
	bool ovf;
	leaf_kv(pg_cell(leaf, i), &k, &kl, &v, &vl, &ovf);
	if (vlen)
		*vlen = vl;
	if (!ovf) {
		if (val && cap)
			memcpy(val, v, vl < cap ? vl : cap);
		return 0;
	}
	if (!val || cap == 0)
		return 0;
	if (cap >= vl)
		return blob_read_all(txn, get64(v), val, vl); /* checks vl against the blob */
	/* caller wants a prefix of a value kept in a blob */
	size_t nread;
	return store_blob_read(txn, get64(v), 0, val, cap, &nread);
}

/* ---- copy-on-write ------------------------------------------------------- */

/* The dirty copy of page pgno (copying it on first change). */
static int cow(store_txn *txn, uint64_t pgno, uint64_t csum, int level, uint64_t *newpgno,
	       uint8_t **buf)
{
	uint8_t *d = dirty_find(txn, pgno);
	if (d) {
		*newpgno = pgno;
		*buf = d;
		return 0;
	}
	const uint8_t *p;
	int r = page_get(txn, pgno, csum, child_type(level), level, &p);
	if (r < 0)
		return r;
	uint8_t *nb = page_alloc_buf(txn->s);
	if (!nb)
		return -ENOMEM;
	uint64_t np;
	r = alloc_page(txn, &np);
	if (r < 0) {
		page_free_buf(txn->s, nb);
		return r;
	}
	memcpy(nb, p, txn->s->page_size);
	r = dirty_add(txn, np, nb);
	if (r < 0) {
		page_free_buf(txn->s, nb);
		return r;
	}
	/* [I1] the old copy stays as it is until no one can reach it [I2] */
	r = alloc_free(txn, pgno, 1, false);
	if (r < 0)
		return r;
	*newpgno = np;
	*buf = nb;
	return 0;
}

static int new_page(store_txn *txn, struct tstate *t, int type, int level, uint64_t *pgno,
		    uint8_t **buf)
{
	uint8_t *nb = page_alloc_buf(txn->s);
	if (!nb)
		return -ENOMEM;
	int r = alloc_page(txn, pgno);
	if (r < 0) {
		page_free_buf(txn->s, nb);
		return r;
	}
	page_init(txn->s, nb, type, level, t->id);
	r = dirty_add(txn, *pgno, nb);
	if (r < 0) {
		page_free_buf(txn->s, nb);
		return r;
	}
	*buf = nb;
	t->r.pages++;
	txn->meta->tree_pages++;
	return 0;
}

/* Drop a page from the tree: at once if this txn made it, else pending. */
static int drop_page(store_txn *txn, struct tstate *t, uint64_t pgno)
{
	uint8_t *d = dirty_find(txn, pgno);
	bool fresh = d != NULL;
	if (d) {
		dirty_remove(txn, pgno);
		page_free_buf(txn->s, d);
	}
	t->r.pages--;
	txn->meta->tree_pages--;
	return alloc_free(txn, pgno, 1, fresh);
}

static void set_child(uint8_t *branch, unsigned i, uint64_t child)
{
	put64(pg_cell_w(branch, i) + 4, child);
}

/*
 * Walk from the root to the leaf for key, making every page on the way
 * dirty. path[level] gets each page; depth levels, path[0] = leaf.
 */
static int descend_write(store_txn *txn, struct tstate *t, const void *key, size_t klen,
			 struct pathent *path)
{
	int level = (int)t->r.depth - 1;
	uint64_t np;
	uint8_t *buf;
	int r = cow(txn, t->r.pgno, t->r.csum, level, &np, &buf);
	if (r < 0)
		return r;
	t->r.pgno = np;
	t->dirty = true;
	for (;; level--) {
		path[level].pg = buf;
		path[level].pgno = np;
		if (get32(buf + PH_OWNER) != t->id) {
			store_logf(txn->s, STORE_LOG_ERR, "page %llu belongs to table %u, not %u",
				   (unsigned long long)np, get32(buf + PH_OWNER), t->id);
			return -EIO;
		}
		if (level == 0) {
			bool found;
			path[0].idx = leaf_search(buf, key, klen, &found);
			return 0;
		}
		unsigned i = branch_search(buf, key, klen);
		path[level].idx = i;
		const uint8_t *c = pg_cell(buf, i);
		uint64_t child = get64(c + 4), ccs = get64(c + 12);
		uint8_t *cb;
		uint64_t cnp;
		r = cow(txn, child, ccs, level - 1, &cnp, &cb);
		if (r < 0)
			return r;
		if (cnp != child)
			set_child(buf, i, cnp);
		buf = cb;
		np = cnp;
	}
}

/* ---- insert -------------------------------------------------------------- */

static size_t make_branch_cell(uint8_t *out, const void *key, size_t klen, uint64_t child,
			       uint64_t csum)
{
	put16(out, (uint16_t)klen);
	put16(out + 2, 0);
	put64(out + 4, child);
	put64(out + 12, csum);
	if (klen)
		memcpy(out + BRANCH_CELL_HDR, key, klen);
	return BRANCH_CELL_HDR + klen;
}

/*
 * Split page p (at path level `level`) while inserting cell at idx, then
 * insert the separator into the parent, splitting upward as needed.
 */
static int split_insert(store_txn *txn, struct tstate *t, struct pathent *path, int level,
			unsigned idx, const uint8_t *cell, size_t clen)
{
	store *s = txn->s;
	uint8_t *p = path[level].pg;
	int type = p[PH_TYPE];
	struct scratch *sc = scratch_new(s);
	if (!sc)
		return -ENOMEM;
	uint8_t *copy = sc->copy1;
	memcpy(copy, p, s->page_size);
	unsigned n = pg_nkeys(copy);
	const uint8_t **cells = sc->cells;
	size_t *sizes = sc->sizes;
	unsigned m = 0;
	for (unsigned i = 0; i <= n; i++) {
		if (i == idx) {
			cells[m] = cell;
			sizes[m++] = clen;
		}
		if (i < n) {
			cells[m] = pg_cell(copy, i);
			sizes[m] = cell_size(copy, cells[m]);
			m++;
		}
	}
	/* choose the split point k: left = [0,k), right = [k,m) */
	size_t total = 0;
	for (unsigned i = 0; i < m; i++)
		total += sizes[i] + 2;
	size_t cap = usable(s);
	unsigned k;
	if (idx == n && type == PT_LEAF && n > 0) {
		k = m - 1; /* appending: leave the left page full */
	} else {
		size_t left = 0, best = SIZE_MAX;
		k = 1;
		for (unsigned i = 1; i < m; i++) {
			left += sizes[i - 1] + 2;
			size_t right = total - left;
			if (left > cap || right > cap)
				continue;
			size_t diff = left > right ? left - right : right - left;
			if (diff < best) {
				best = diff;
				k = i;
			}
		}
	}
	/* separator: for leaves, the shortest prefix of the right's first key
	 * above the left's last key; for branches, the right's first key (its
	 * cell then becomes minus infinity) */
	uint8_t sep[STORE_MAX_KEY];
	size_t seplen;
	{
		size_t hdr = type == PT_BRANCH ? BRANCH_CELL_HDR : LEAF_CELL_HDR;
		size_t rkl = get16(cells[k]);
		const uint8_t *rk = cells[k] + hdr;
		if (type == PT_LEAF) {
			size_t lkl = get16(cells[k - 1]);
			const uint8_t *lk = cells[k - 1] + hdr;
			size_t j = 0;
			while (j < lkl && j < rkl && lk[j] == rk[j])
				j++;
			seplen = j + 1 <= rkl ? j + 1 : rkl;
		} else {
			seplen = rkl;
		}
		memcpy(sep, rk, seplen);
	}
	uint64_t rpg;
	uint8_t *rb;
	int r = new_page(txn, t, type, level, &rpg, &rb);
	if (r < 0) {
		free(sc);
		return r;
	}
	uint8_t first[BRANCH_CELL_HDR + STORE_MAX_KEY];
	if (type == PT_BRANCH) {
		/* the right page's first cell loses its key */
		make_branch_cell(first, NULL, 0, get64(cells[k] + 4), get64(cells[k] + 12));
		cells[k] = first;
		sizes[k] = BRANCH_CELL_HDR;
	}
	page_build(s, p, type, level, t->id, cells, sizes, k);
	page_build(s, rb, type, level, t->id, cells + k, sizes + k, m - k);
	free(sc);

	/* insert (sep -> right) into the parent */
	uint8_t pc[BRANCH_CELL_HDR + STORE_MAX_KEY];
	size_t pclen = make_branch_cell(pc, sep, seplen, rpg, 0); /* dirty: set at commit */
	if (level + 1 == (int)t->r.depth) {
		if (t->r.depth >= MAX_DEPTH)
			return -EIO;
		uint64_t root;
		uint8_t *rootb;
		r = new_page(txn, t, PT_BRANCH, level + 1, &root, &rootb);
		if (r < 0)
			return r;
		uint8_t c0[BRANCH_CELL_HDR];
		make_branch_cell(c0, NULL, 0, path[level].pgno, 0);
		page_insert(s, rootb, 0, c0, BRANCH_CELL_HDR);
		page_insert(s, rootb, 1, pc, pclen);
		t->r.pgno = root;
		t->r.depth++;
		return 0;
	}
	uint8_t *parent = path[level + 1].pg;
	unsigned pidx = path[level + 1].idx + 1;
	if (page_insert(s, parent, pidx, pc, pclen))
		return 0;
	return split_insert(txn, t, path, level + 1, pidx, pc, pclen);
}

static int free_overflow(store_txn *txn, struct tstate *t, const uint8_t *cell)
{
	const uint8_t *k, *v;
	size_t kl, vl;
	bool ovf;
	leaf_kv(cell, &k, &kl, &v, &vl, &ovf);
	if (!ovf)
		return 0;
	t->r.overflow -= vl;
	return store_blob_delete(txn, get64(v));
}

static int put_cell(store_txn *txn, struct tstate *t, const void *key, size_t klen,
		    const uint8_t *cell, size_t clen, uint64_t ovf_len);

int bt_put_overflow_ref(store_txn *txn, struct tstate *t, const void *key, size_t klen,
			uint64_t id, uint64_t vlen)
{
	if (klen > STORE_MAX_KEY)
		return -EINVAL;
	int r = alloc_reserve(txn, 2ull * t->r.depth + 4);
	if (r < 0)
		return r;
	uint8_t cell[LEAF_CELL_HDR + STORE_MAX_KEY + OVERFLOW_REF];
	put16(cell, (uint16_t)klen);
	memcpy(cell + LEAF_CELL_HDR, key, klen);
	put16(cell + 2, VINFO_OVERFLOW);
	put64(cell + LEAF_CELL_HDR + klen, id);
	put64(cell + LEAF_CELL_HDR + klen + 8, vlen);
	txn_touch(txn);
	return put_cell(txn, t, key, klen, cell, LEAF_CELL_HDR + klen + OVERFLOW_REF, vlen);
}

int bt_put(store_txn *txn, struct tstate *t, const void *key, size_t klen, const void *val,
	   size_t vlen, unsigned flags)
{
	store *s = txn->s;
	if (klen > STORE_MAX_KEY)
		return -EINVAL;
	if (flags & (STORE_NOOVERWRITE | STORE_MUSTEXIST)) {
		int r = bt_get(txn, t, key, klen, NULL, 0, NULL);
		if (r < 0 && r != -ENOENT)
			return r;
		if (r == 0 && (flags & STORE_NOOVERWRITE))
			return -EEXIST;
		if (r == -ENOENT && (flags & STORE_MUSTEXIST))
			return -ENOENT;
	}
	bool ovf = vlen > bt_inline_max(s, klen);
	uint64_t blob_pages = ovf ? (vlen + (vlen / BLOB_SEG + 2) * 24) / s->page_size + 2 : 0;
	int r = alloc_reserve(txn, 2ull * t->r.depth + 4 + blob_pages + (ovf ? 16 : 0));
	if (r < 0)
		return r;
	uint8_t cell[STORE_MAX_PAGE_SIZE];
	size_t clen;
	put16(cell, (uint16_t)klen);
	memcpy(cell + LEAF_CELL_HDR, key, klen);
	txn_touch(txn);
	if (ovf) {
		uint64_t id;
		r = blob_put_value(txn, val, vlen, &id);
		if (r < 0)
			return r;
		put16(cell + 2, VINFO_OVERFLOW);
		put64(cell + LEAF_CELL_HDR + klen, id);
		put64(cell + LEAF_CELL_HDR + klen + 8, vlen);
		clen = LEAF_CELL_HDR + klen + OVERFLOW_REF;
	} else {
		put16(cell + 2, (uint16_t)vlen);
		if (vlen)
			memcpy(cell + LEAF_CELL_HDR + klen, val, vlen);
		clen = LEAF_CELL_HDR + klen + vlen;
	}
	return put_cell(txn, t, key, klen, cell, clen, ovf ? vlen : 0);
}

/* Insert or replace with a ready leaf cell (ovf_len: its blob's length). */
static int put_cell(store_txn *txn, struct tstate *t, const void *key, size_t klen,
		    const uint8_t *cell, size_t clen, uint64_t ovf_len)
{
	store *s = txn->s;
	int r;
	if (t->r.depth == 0) {
		uint64_t pg;
		uint8_t *b;
		r = new_page(txn, t, PT_LEAF, 0, &pg, &b);
		if (r < 0)
			goto fail;
		page_insert(s, b, 0, cell, clen);
		t->r.pgno = pg;
		t->r.depth = 1;
		t->r.entries = 1;
		t->dirty = true;
		t->r.overflow += ovf_len;
		return 0;
	}
	struct pathent path[MAX_DEPTH];
	r = descend_write(txn, t, key, klen, path);
	if (r < 0)
		goto fail;
	uint8_t *leaf = path[0].pg;
	unsigned idx = path[0].idx;
	bool found = false;
	if (idx < pg_nkeys(leaf)) {
		size_t kl;
		const uint8_t *k = cell_key(leaf, pg_cell(leaf, idx), &kl);
		found = keycmp(k, kl, key, klen) == 0;
	}
	if (found) {
		r = free_overflow(txn, t, pg_cell(leaf, idx));
		if (r < 0)
			goto fail;
		page_remove(leaf, idx);
	} else {
		t->r.entries++;
	}
	t->r.overflow += ovf_len;
	if (page_insert(s, leaf, idx, cell, clen))
		return 0;
	r = split_insert(txn, t, path, 0, idx, cell, clen);
	if (r < 0)
		goto fail;
	return 0;
fail:
	txn->failed = true;
	return r;
}

/* ---- delete -------------------------------------------------------------- */

static void branch_cell_key(const uint8_t *p, unsigned i, const uint8_t **k, size_t *kl)
{
	*k = cell_key(p, pg_cell(p, i), kl);
}

/* Remove child i from a branch; a new first child's key becomes empty. */
static int remove_child(store *s, uint8_t *branch, unsigned i)
{
	page_remove(branch, i);
	if (i != 0 || pg_nkeys(branch) == 0)
		return 0;
	const uint8_t *c = pg_cell(branch, 0);
	if (get16(c) == 0)
		return 0;
	uint8_t cell[BRANCH_CELL_HDR];
	make_branch_cell(cell, NULL, 0, get64(c + 4), get64(c + 12));
	page_remove(branch, 0);
	if (!page_insert(s, branch, 0, cell, BRANCH_CELL_HDR))
		return -EIO; /* cannot happen: it got smaller */
	return 0;
}

/*
 * After a removal from path[level], merge the page with a sibling if it has
 * become small, and fix the parent; repeat upward; shrink the root.
 */
static int rebalance(store_txn *txn, struct tstate *t, struct pathent *path, int level)
{
	store *s = txn->s;
	for (; level + 1 < (int)t->r.depth; level++) {
		uint8_t *p = path[level].pg;
		if (pg_nkeys(p) > 0 && page_used_bytes(s, p) >= usable(s) / 4)
			return 0;
		uint8_t *parent = path[level + 1].pg;
		unsigned pi = path[level + 1].idx;
		unsigned pn = pg_nkeys(parent);
		if (pg_nkeys(p) == 0) {
			/* an empty page: drop it and its parent's cell */
			int r = drop_page(txn, t, path[level].pgno);
			if (r < 0)
				return r;
			r = remove_child(s, parent, pi);
			if (r < 0)
				return r;
			path[level + 1].idx = pi > 0 ? pi - 1 : 0;
			continue;
		}
		if (pn < 2)
			return 0; /* an only child: nothing to merge with */
		/* merge right into left: (li, ri) are parent positions */
		unsigned li = pi > 0 ? pi - 1 : pi, ri = li + 1;
		uint8_t *lb, *rb;
		uint64_t lpg, rpg;
		const uint8_t *lc = pg_cell(parent, li), *rc = pg_cell(parent, ri);
		int r;
		if (li == pi) {
			lb = p;
			lpg = path[level].pgno;
			r = cow(txn, get64(rc + 4), get64(rc + 12), level, &rpg, &rb);
			if (r < 0)
				return r;
			set_child(parent, ri, rpg);
		} else {
			rb = p;
			rpg = path[level].pgno;
			r = cow(txn, get64(lc + 4), get64(lc + 12), level, &lpg, &lb);
			if (r < 0)
				return r;
			set_child(parent, li, lpg);
		}
		size_t need = page_used_bytes(s, lb) + page_used_bytes(s, rb);
		const uint8_t *sk = NULL;
		size_t skl = 0;
		if (p[PH_TYPE] == PT_BRANCH) {
			branch_cell_key(parent, ri, &sk, &skl);
			need += skl; /* the right's first cell takes the separator */
		}
		if (need > usable(s))
			return 0; /* too full to merge: leave it small */
		struct scratch *sc = scratch_new(s);
		if (!sc)
			return -ENOMEM;
		uint8_t *lcopy = sc->copy1, *rcopy = sc->copy2;
		memcpy(lcopy, lb, s->page_size);
		memcpy(rcopy, rb, s->page_size);
		const uint8_t **cells = sc->cells;
		size_t *sizes = sc->sizes;
		unsigned m = 0, ln = pg_nkeys(lcopy), rn = pg_nkeys(rcopy);
		for (unsigned i = 0; i < ln; i++) {
			cells[m] = pg_cell(lcopy, i);
			sizes[m] = cell_size(lcopy, cells[m]);
			m++;
		}
		uint8_t first[BRANCH_CELL_HDR + STORE_MAX_KEY];
		for (unsigned i = 0; i < rn; i++) {
			cells[m] = pg_cell(rcopy, i);
			sizes[m] = cell_size(rcopy, cells[m]);
			if (i == 0 && rcopy[PH_TYPE] == PT_BRANCH) {
				sizes[m] = make_branch_cell(first, sk, skl, get64(cells[m] + 4),
							    get64(cells[m] + 12));
				cells[m] = first;
			}
			m++;
		}
		page_build(s, lb, lcopy[PH_TYPE], level, t->id, cells, sizes, m);
		free(sc);
		r = drop_page(txn, t, rpg);
		if (r < 0)
			return r;
		page_remove(parent, ri);
		/* the parent now points at lb via li; keep the path coherent */
		path[level].pg = lb;
		path[level].pgno = lpg;
		path[level + 1].idx = li;
	}
	/* an empty root: the tree is empty (single-child roots are collapsed
	 * by the caller) */
	uint8_t *root = path[t->r.depth - 1].pg;
	if (pg_nkeys(root) == 0) {
		int r = drop_page(txn, t, path[t->r.depth - 1].pgno);
		if (r < 0)
			return r;
		t->r.pgno = 0;
		t->r.csum = 0;
		t->r.depth = 0;
	}
	return 0;
}

int bt_del(store_txn *txn, struct tstate *t, const void *key, size_t klen)
{
	if (klen > STORE_MAX_KEY)
		return -EINVAL;
	int r = bt_get(txn, t, key, klen, NULL, 0, NULL);
	if (r < 0)
		return r;
	r = alloc_reserve_free(txn, 3ull * t->r.depth + 4);
	if (r < 0)
		return r;
	txn_touch(txn);
	struct pathent path[MAX_DEPTH];
	r = descend_write(txn, t, key, klen, path);
	if (r < 0)
		goto fail;
	uint8_t *leaf = path[0].pg;
	unsigned idx = path[0].idx;
	r = free_overflow(txn, t, pg_cell(leaf, idx));
	if (r < 0)
		goto fail;
	page_remove(leaf, idx);
	t->r.entries--;
	r = rebalance(txn, t, path, 0);
	if (r < 0)
		goto fail;
	/* collapse chains of single-child roots */
	while (t->r.depth > 1) {
		const uint8_t *rp;
		r = page_get(txn, t->r.pgno, t->r.csum, PT_BRANCH, (int)t->r.depth - 1, &rp);
		if (r < 0)
			goto fail;
		if (pg_nkeys(rp) != 1)
			break;
		uint64_t child = get64(pg_cell(rp, 0) + 4);
		uint64_t ccs = get64(pg_cell(rp, 0) + 12);
		r = drop_page(txn, t, t->r.pgno);
		if (r < 0)
			goto fail;
		t->r.pgno = child;
		t->r.csum = ccs;
		t->r.depth--;
	}
	return 0;
fail:
	txn->failed = true;
	return r;
}

/* ---- commit: checksums bottom-up ----------------------------------------- */

static int fin_page(store_txn *txn, uint8_t *p, uint64_t pgno, uint64_t *csum)
{
	if (p[PH_TYPE] == PT_BRANCH) {
		unsigned n = pg_nkeys(p);
		for (unsigned i = 0; i < n; i++) {
			uint8_t *c = pg_cell_w(p, i);
			uint64_t child = get64(c + 4);
			uint8_t *cp = dirty_find(txn, child);
			if (!cp)
				continue;
			/* this txn's copy of our child, not another page reusing its
			 * number (a damaged free map) */
			if (cp[PH_TYPE] != (p[PH_LEVEL] == 1 ? PT_LEAF : PT_BRANCH) ||
			    cp[PH_LEVEL] != p[PH_LEVEL] - 1 || get32(cp + PH_OWNER) != get32(p + PH_OWNER)) {
				store_logf(txn->s, STORE_LOG_ERR,
					   "page %llu: a branch's child is also another page of this txn "
					   "(the free map gave out a page in use)",
					   (unsigned long long)child);
				return -EIO;
			}
			uint64_t cc;
			int r = fin_page(txn, cp, child, &cc);
			if (r < 0)
				return r;
			put64(c + 12, cc);
		}
	}
	put64(p + PH_PGNO, pgno);
	put64(p + PH_TXNID, txn->meta->txnid);
	if (get16(p + PH_GARBAGE))
		page_compact(txn->s, p); /* deterministic, tidy pages on disk */
	uint32_t lo = PAGE_HDR + 2u * pg_nkeys(p), up = get32(p + PH_UPPER);
	if (up < lo || up > txn->s->page_size) {
		store_logf(txn->s, STORE_LOG_ERR, "page %llu: cell area out of bounds at commit",
			   (unsigned long long)pgno);
		return -EIO;
	}
	memset(p + lo, 0, up - lo);
	*csum = page_csum(txn->s, p);
	return 0;
}

int bt_finalize(store_txn *txn, struct tstate *t)
{
	if (t->r.depth == 0)
		return 0;
	uint8_t *p = dirty_find(txn, t->r.pgno);
	if (!p)
		return 0;
	/* this txn's copy of the root, not another page reusing its number (a
	 * damaged free map gave it out: K8 in tests/fuzz/README.md) */
	if (p[PH_TYPE] != (t->r.depth == 1 ? PT_LEAF : PT_BRANCH) ||
	    p[PH_LEVEL] != t->r.depth - 1 || get32(p + PH_OWNER) != t->id) {
		store_logf(txn->s, STORE_LOG_ERR,
			   "page %llu: a table's root is also another page of this txn "
			   "(the free map gave out a page in use)",
			   (unsigned long long)t->r.pgno);
		return -EIO;
	}
	return fin_page(txn, p, t->r.pgno, &t->r.csum);
}

/* ---- walking every page ---------------------------------------------------- */

struct walk_bounds {
	const uint8_t *lo;
	size_t lolen;
	bool has_lo;
	const uint8_t *hi;
	size_t hilen;
	bool has_hi;
};

static void walk_problem(struct bt_visit *v, store *s, const char *fmt, uint64_t pgno)
{
	char msg[256];
	snprintf(msg, sizeof(msg), fmt, (unsigned long long)pgno);
	v->errors++;
	if (v->problem)
		v->problem(v->ctx, msg);
	else
		store_logf(s, STORE_LOG_ERR, "%s", msg);
}

static int walk_page(store_txn *txn, struct tstate *t, struct bt_visit *v, uint64_t pgno,
		     uint64_t csum, int level, struct walk_bounds b)
{
	const uint8_t *p;
	int r = page_get(txn, pgno, csum, child_type(level), level, &p);
	if (r < 0) {
		walk_problem(v, txn->s, "page %llu: unreadable (checksum, layout or level)", pgno);
		return 0;
	}
	v->pages++;
	if (v->check && get32(p + PH_OWNER) != t->id)
		walk_problem(v, txn->s, "page %llu: belongs to another table", pgno);
	if (v->page) {
		r = v->page(v->ctx, pgno, p, level);
		if (r)
			return r;
	}
	unsigned n = pg_nkeys(p);
	const uint8_t *prev = NULL;
	size_t prevlen = 0;
	for (unsigned i = 0; i < n; i++) {
		const uint8_t *c = pg_cell(p, i);
		size_t kl;
		const uint8_t *k = cell_key(p, c, &kl);
		bool keyless = (level > 0 && i == 0);
		if (v->check && !keyless) {
			if (prev && keycmp(prev, prevlen, k, kl) >= 0)
				walk_problem(v, txn->s, "page %llu: keys out of order", pgno);
			if (b.has_lo && keycmp(k, kl, b.lo, b.lolen) < 0)
				walk_problem(v, txn->s, "page %llu: key below its parent's bound",
					     pgno);
			if (b.has_hi && keycmp(k, kl, b.hi, b.hilen) >= 0)
				walk_problem(v, txn->s, "page %llu: key above its parent's bound",
					     pgno);
			prev = k;
			prevlen = kl;
		}
		if (level == 0) {
			v->entries++;
			const uint8_t *kk, *vv;
			size_t kkl, vvl;
			bool ovf;
			leaf_kv(c, &kk, &kkl, &vv, &vvl, &ovf);
			if (ovf && v->overflow) {
				r = v->overflow(v->ctx, get64(vv), vvl);
				if (r)
					return r;
			}
			continue;
		}
		struct walk_bounds cb = b;
		if (!keyless) {
			cb.lo = k;
			cb.lolen = kl;
			cb.has_lo = true;
		}
		if (i + 1 < n) {
			size_t nkl;
			const uint8_t *nk = cell_key(p, pg_cell(p, i + 1), &nkl);
			cb.hi = nk;
			cb.hilen = nkl;
			cb.has_hi = true;
		} else {
			cb.hi = b.hi;
			cb.hilen = b.hilen;
			cb.has_hi = b.has_hi;
		}
		r = walk_page(txn, t, v, get64(c + 4), get64(c + 12), level - 1, cb);
		if (r)
			return r;
	}
	return 0;
}

int bt_walk(store_txn *txn, struct tstate *t, struct bt_visit *v)
{
	if (t->r.depth == 0)
		return 0;
	struct walk_bounds b = {0};
	return walk_page(txn, t, v, t->r.pgno, t->r.csum, (int)t->r.depth - 1, b);
}

struct freeall {
	store_txn *txn;
	struct tstate *t;
	uint64_t *pages;
	size_t n, cap;
	uint64_t *blobs;
	size_t nb, bcap;
};

static int fa_page(void *ctx, uint64_t pgno, const uint8_t *p, int level)
{
	struct freeall *f = ctx;
	if (f->n == f->cap) {
		size_t nc = f->cap ? f->cap * 2 : 64;
		uint64_t *x = realloc(f->pages, nc * sizeof(*x));
		if (!x)
			return -ENOMEM;
		f->pages = x;
		f->cap = nc;
	}
	f->pages[f->n++] = pgno;
	return 0;
}

static int fa_blob(void *ctx, uint64_t id, uint64_t len)
{
	struct freeall *f = ctx;
	if (f->nb == f->bcap) {
		size_t nc = f->bcap ? f->bcap * 2 : 64;
		uint64_t *x = realloc(f->blobs, nc * sizeof(*x));
		if (!x)
			return -ENOMEM;
		f->blobs = x;
		f->bcap = nc;
	}
	f->blobs[f->nb++] = id;
	return 0;
}

int bt_free_all(store_txn *txn, struct tstate *t)
{
	struct freeall f = {.txn = txn, .t = t};
	struct bt_visit v = {.page = fa_page, .overflow = fa_blob, .ctx = &f};
	int r = bt_walk(txn, t, &v);
	if (r == 0 && v.errors)
		r = -EIO;
	if (r == 0) {
		txn_touch(txn);
		for (size_t i = 0; i < f.nb && r == 0; i++)
			r = store_blob_delete(txn, f.blobs[i]);
		for (size_t i = 0; i < f.n && r == 0; i++)
			r = drop_page(txn, t, f.pages[i]);
		if (r < 0)
			txn->failed = true;
	}
	free(f.pages);
	free(f.blobs);
	if (r == 0) {
		t->r = (struct tree_root){0};
		t->dirty = true;
	}
	return r;
}

/* ---- relocation of one page (compaction) ----------------------------------- */

int bt_relocate(store_txn *txn, struct tstate *t, uint64_t pgno, int level,
		const uint8_t *route_key, size_t route_klen, uint64_t *newpgno)
{
	if (t->r.depth == 0 || level >= (int)t->r.depth)
		return -ENOENT;
	/* check read-only that the key leads to pgno at that level */
	uint64_t pg = t->r.pgno, cs = t->r.csum;
	for (int l = (int)t->r.depth - 1; l > level; l--) {
		const uint8_t *p;
		int r = page_get(txn, pg, cs, child_type(l), l, &p);
		if (r < 0)
			return r;
		const uint8_t *c = pg_cell(p, branch_search(p, route_key, route_klen));
		pg = get64(c + 4);
		cs = get64(c + 12);
	}
	if (pg != pgno)
		return -ENOENT;
	int r = alloc_reserve_free(txn, 2ull * t->r.depth + 4);
	if (r < 0)
		return r;
	txn_touch(txn);
	bool was_dirty = dirty_find(txn, pgno) != NULL;
	/* make the path down to the page's parent dirty, then the page */
	struct pathent path[MAX_DEPTH];
	int top = (int)t->r.depth - 1;
	uint64_t np;
	uint8_t *buf;
	r = cow(txn, t->r.pgno, t->r.csum, top, &np, &buf);
	if (r < 0)
		goto fail;
	t->r.pgno = np;
	t->dirty = true;
	path[top].pg = buf;
	path[top].pgno = np;
	for (int l = top; l > level; l--) {
		unsigned i = branch_search(path[l].pg, route_key, route_klen);
		path[l].idx = i;
		const uint8_t *c = pg_cell(path[l].pg, i);
		uint64_t child = get64(c + 4);
		r = cow(txn, child, get64(c + 12), l - 1, &np, &buf);
		if (r < 0)
			goto fail;
		if (np != child)
			set_child(path[l].pg, i, np);
		path[l - 1].pg = buf;
		path[l - 1].pgno = np;
	}
	if (!was_dirty) {
		*newpgno = path[level].pgno;
		return *newpgno < pgno ? 0 : -ENOSPC;
	}
	/* already dirty: move its buffer to a lower free page */
	uint64_t low;
	r = alloc_find_run(txn, 1, pgno, &low);
	if (r < 0)
		return r;
	r = alloc_at(txn, low, 1);
	if (r < 0)
		goto fail;
	uint8_t *d = dirty_find(txn, pgno);
	dirty_remove(txn, pgno);
	r = dirty_add(txn, low, d);
	if (r < 0)
		goto fail;
	if (level == top)
		t->r.pgno = low;
	else
		set_child(path[level + 1].pg, path[level + 1].idx, low);
	r = alloc_free(txn, pgno, 1, true);
	if (r < 0)
		goto fail;
	*newpgno = low;
	return 0;
fail:
	txn->failed = true;
	return r;
}

/* ---- cursors --------------------------------------------------------------- */

struct store_cursor {
	store_txn *txn;
	store_table table;
	struct tstate *t; /* the table's state in txn (stable: found again after
	                     a change of the txn, in case it was dropped) */
	uint64_t modcount;
	bool valid;
	int depth;
	struct {
		const uint8_t *pg;
		unsigned idx;
	} path[MAX_DEPTH];
	uint8_t key[STORE_MAX_KEY];
	size_t klen;
	uint8_t *vbuf; /* value of a row kept in a blob */
	size_t vcap;
};

int store_cursor_open(store_txn *txn, store_table t, store_cursor **out)
{
	struct tstate *ts;
	int r = tab_get(txn, t, &ts);
	if (r < 0)
		return r;
	store_cursor *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->txn = txn;
	c->table = t;
	c->t = ts;
	*out = c;
	return 0;
}

void store_cursor_close(store_cursor *c)
{
	if (!c)
		return;
	free(c->vbuf);
	free(c);
}

static void cur_save_key(store_cursor *c)
{
	const uint8_t *leaf = c->path[0].pg;
	size_t kl;
	const uint8_t *k = cell_key(leaf, pg_cell(leaf, c->path[0].idx), &kl);
	memcpy(c->key, k, kl);
	c->klen = kl;
	c->modcount = c->txn->modcount;
	c->valid = true;
}

/* Descend from path[level] to the leftmost (dir > 0) or rightmost leaf. */
static int cur_descend_edge(store_cursor *c, struct tstate *t, int level, int dir)
{
	while (level > 0) {
		const uint8_t *p = c->path[level].pg;
		const uint8_t *cell = pg_cell(p, c->path[level].idx);
		const uint8_t *ch;
		int r = page_get(c->txn, get64(cell + 4), get64(cell + 12), child_type(level - 1),
				 level - 1, &ch);
		if (r < 0)
			return r;
		level--;
		c->path[level].pg = ch;
		unsigned n = pg_nkeys(ch);
		c->path[level].idx = dir > 0 ? 0 : (n ? n - 1 : 0);
	}
	(void)t;
	return 0;
}

/* Step to the next (dir > 0) or previous leaf row, across leaves. */
static int cur_step(store_cursor *c, struct tstate *t, int dir)
{
	for (;;) {
		const uint8_t *leaf = c->path[0].pg;
		unsigned n = pg_nkeys(leaf);
		if (dir > 0 && c->path[0].idx + 1 < n) {
			c->path[0].idx++;
			return 0;
		}
		if (dir < 0 && c->path[0].idx > 0 && c->path[0].idx <= n) {
			c->path[0].idx--;
			return 0;
		}
		int l = 1;
		while (l < c->depth) {
			unsigned pn = pg_nkeys(c->path[l].pg);
			if (dir > 0 && c->path[l].idx + 1 < pn)
				break;
			if (dir < 0 && c->path[l].idx > 0)
				break;
			l++;
		}
		if (l >= c->depth)
			return -ENOENT;
		c->path[l].idx += dir > 0 ? 1 : -1;
		int r = cur_descend_edge(c, t, l, dir);
		if (r < 0)
			return r;
		if (pg_nkeys(c->path[0].pg) > 0) {
			if (dir < 0)
				c->path[0].idx = pg_nkeys(c->path[0].pg) - 1;
			return 0;
		}
		/* an empty leaf (should not exist): keep going */
		c->path[0].idx = dir > 0 ? 0 : 0;
	}
}

static int cur_seek(store_cursor *c, enum store_seek how, const void *key, size_t klen)
{
	struct tstate *t;
	int r = tab_get(c->txn, c->table, &t);
	if (r < 0)
		return r;
	c->t = t;
	c->valid = false;
	c->depth = (int)t->r.depth;
	if (t->r.depth == 0)
		return -ENOENT;
	uint64_t pg = t->r.pgno, cs = t->r.csum;
	for (int level = c->depth - 1; level >= 0; level--) {
		const uint8_t *p;
		r = page_get(c->txn, pg, cs, child_type(level), level, &p);
		if (r < 0)
			return r;
		c->path[level].pg = p;
		unsigned n = pg_nkeys(p);
		unsigned i;
		if (how == STORE_SEEK_FIRST)
			i = 0;
		else if (how == STORE_SEEK_LAST)
			i = n ? n - 1 : 0;
		else if (level > 0)
			i = branch_search(p, key, klen);
		else {
			bool found;
			i = leaf_search(p, key, klen, &found);
			c->path[0].idx = i;
			switch (how) {
			case STORE_SEEK_EQ:
				if (!found)
					return -ENOENT;
				break;
			case STORE_SEEK_GE:
				if (i >= n) {
					c->path[0].idx = n ? n - 1 : 0;
					r = n ? cur_step(c, t, 1) : -ENOENT;
					if (r < 0)
						return r;
				}
				break;
			case STORE_SEEK_GT:
				if (found)
					i++;
				c->path[0].idx = i;
				if (i >= n) {
					c->path[0].idx = n ? n - 1 : 0;
					r = n ? cur_step(c, t, 1) : -ENOENT;
					if (r < 0)
						return r;
				}
				break;
			case STORE_SEEK_LE:
				if (found)
					break;
				/* fall through */
			case STORE_SEEK_LT:
				if (i == 0) {
					c->path[0].idx = 0;
					r = cur_step(c, t, -1);
					if (r < 0)
						return r;
				} else {
					c->path[0].idx = i - 1;
				}
				break;
			default:
				break;
			}
			cur_save_key(c);
			return 0;
		}
		c->path[level].idx = i;
		if (level > 0) {
			const uint8_t *cell = pg_cell(p, i);
			pg = get64(cell + 4);
			cs = get64(cell + 12);
		}
	}
	if (pg_nkeys(c->path[0].pg) == 0)
		return -ENOENT;
	cur_save_key(c);
	return 0;
}

int store_cursor_seek(store_cursor *c, enum store_seek how, const void *key, size_t klen)
{
	if (how != STORE_SEEK_FIRST && how != STORE_SEEK_LAST && klen > STORE_MAX_KEY)
		return -EINVAL;
	return cur_seek(c, how, key, klen);
}

static int cur_move(store_cursor *c, int dir)
{
	if (!c->valid)
		return -ENOENT;
	if (c->modcount != c->txn->modcount) {
		/* the txn changed: find our place again by key */
		uint8_t k[STORE_MAX_KEY];
		size_t kl = c->klen;
		memcpy(k, c->key, kl);
		return cur_seek(c, dir > 0 ? STORE_SEEK_GT : STORE_SEEK_LT, k, kl);
	}
	int r = cur_step(c, c->t, dir);
	if (r < 0) {
		c->valid = false;
		return r;
	}
	cur_save_key(c);
	return 0;
}

int store_cursor_next(store_cursor *c)
{
	return cur_move(c, 1);
}

int store_cursor_prev(store_cursor *c)
{
	return cur_move(c, -1);
}

int store_cursor_get(store_cursor *c, const void **key, size_t *klen, const void **val,
		     size_t *vlen)
{
	if (!c->valid)
		return -ENOENT;
	if (c->modcount != c->txn->modcount) {
		uint8_t k[STORE_MAX_KEY];
		size_t kl = c->klen;
		memcpy(k, c->key, kl);
		int r = cur_seek(c, STORE_SEEK_EQ, k, kl);
		if (r < 0) {
			c->valid = false;
			return r;
		}
	}
	const uint8_t *leaf = c->path[0].pg;
	const uint8_t *k, *v;
	size_t kl, vl;
	bool ovf;
	leaf_kv(pg_cell(leaf, c->path[0].idx), &k, &kl, &v, &vl, &ovf);
	if (key)
		*key = k;
	if (klen)
		*klen = kl;
	if (val || vlen) {
		if (ovf && val) {
			/* the cell's length, checked against the blob before any
			 * allocation of that size */
			struct store_blob_info bi;
			int r = store_blob_stat(c->txn, get64(v), &bi);
			if (r == 0 && bi.length != vl) {
				store_logf(c->txn->s, STORE_LOG_ERR,
					   "a value of %zu bytes refers to blob %llu of %llu bytes", vl,
					   (unsigned long long)bi.id, (unsigned long long)bi.length);
				r = -EIO;
			}
			if (r < 0)
				return r == -ENOENT ? -EIO : r;
			if (c->vcap < vl || !c->vbuf) {
				uint8_t *nb = realloc(c->vbuf, vl ? vl : 1);
				if (!nb)
					return -ENOMEM;
				c->vbuf = nb;
				c->vcap = vl;
			}
			r = blob_read_all(c->txn, get64(v), c->vbuf, vl);
			if (r < 0)
				return r;
			v = c->vbuf;
		}
		if (val)
			*val = v;
		if (vlen)
			*vlen = vl;
	}
	return 0;
}
