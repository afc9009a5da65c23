/*
 * test_btree_model.c — property test of the store's B+tree against an
 * independent reference model (a sorted array of keys with undo log).
 *
 * Each run (its own seed, page size and key distribution) performs random
 * operations in write txns: insert, overwrite (with NOOVERWRITE/MUSTEXIST),
 * delete, range delete, point get (also with a short buffer), cursor scans
 * forward, backward and zig-zag from every seek mode, cursors that keep
 * their place while the txn changes under them, table drop + re-create; the
 * txn then commits (durable or not) or aborts, and the store is sometimes
 * closed and reopened. The model follows every step; any difference fails
 * with the seed. Keys are 0..STORE_MAX_KEY bytes, values 0 bytes to several
 * KiB past store_inline_max() (so they overflow to blobs); distributions are
 * sequential, reverse, random and shared-prefix, growing and shrinking so
 * the tree deepens and collapses (splits and merges). store_verify FULL runs
 * now and then and at the end of every run.
 */
#include "storetest.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* ---- the reference model: a sorted array ---- */

/* An entry: key (2-byte length prefix + bytes, malloc'd) and a value
 * described by its length and the seed of its byte pattern. */
struct ent {
	uint8_t *k;
	uint32_t vlen;
	uint32_t vseed;
};

struct model {
	struct ent *e;
	size_t n, cap;
};

static size_t ent_klen(const struct ent *e)
{
	return (size_t)e->k[0] | ((size_t)e->k[1] << 8);
}

static const uint8_t *ent_key(const struct ent *e)
{
	return e->k + 2;
}

static uint8_t *key_dup(const uint8_t *k, size_t kl)
{
	uint8_t *p = malloc(kl + 2);

	CHECK(p != NULL);
	p[0] = (uint8_t)kl;
	p[1] = (uint8_t)(kl >> 8);
	if (kl)
		memcpy(p + 2, k, kl);
	return p;
}

static int key_cmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
	size_t n = al < bl ? al : bl;
	int c = n ? memcmp(a, b, n) : 0;

	if (c)
		return c;
	return al < bl ? -1 : al > bl;
}

/* First index whose key is >= k; *found if equal. */
static size_t model_lb(const struct model *m, const uint8_t *k, size_t kl, bool *found)
{
	size_t lo = 0, hi = m->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (key_cmp(ent_key(&m->e[mid]), ent_klen(&m->e[mid]), k, kl) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = lo < m->n && key_cmp(ent_key(&m->e[lo]), ent_klen(&m->e[lo]), k, kl) == 0;
	return lo;
}

static void model_set(struct model *m, const uint8_t *k, size_t kl, uint32_t vlen, uint32_t vseed)
{
	bool found;
	size_t i = model_lb(m, k, kl, &found);

	if (found) {
		m->e[i].vlen = vlen;
		m->e[i].vseed = vseed;
		return;
	}
	if (m->n == m->cap) {
		m->cap = m->cap ? m->cap * 2 : 1024;
		m->e = realloc(m->e, m->cap * sizeof(*m->e));
		CHECK(m->e != NULL);
	}
	memmove(&m->e[i + 1], &m->e[i], (m->n - i) * sizeof(*m->e));
	m->e[i].k = key_dup(k, kl);
	m->e[i].vlen = vlen;
	m->e[i].vseed = vseed;
	m->n++;
}

static void model_del_at(struct model *m, size_t i)
{
	free(m->e[i].k);
	memmove(&m->e[i], &m->e[i + 1], (m->n - i - 1) * sizeof(*m->e));
	m->n--;
}

static void model_clear(struct model *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->e[i].k);
	m->n = 0;
}

/* ---- one run ---- */

enum dist { D_SEQ, D_REV, D_RANDOM, D_PREFIX, D_MIXED };
static const char *const dist_name[] = {"sequential", "reverse", "random", "shared-prefix",
                                        "mixed"};

/* Undo record: how to put a key of one table back as it was at txn begin. */
struct undo {
	uint8_t *k; /* length-prefixed, owned */
	int table;
	bool existed;
	uint32_t vlen, vseed;
};

#define NTABLES   2
#define MAX_VALUE (256 * 1024)

struct tstate {
	char name[32];
	store_table h;
	struct model m;
	enum dist dist;
};

struct run {
	int no;
	uint64_t seed;
	struct tu_rng rng;
	uint32_t page_size;
	enum dist dist;
	uint64_t ops_target;
	size_t cap_entries;
	char path[PATH_MAX];
	store *s;
	store_txn *w;
	struct tstate t[NTABLES];
	struct undo *undo;
	size_t nundo, capundo;
	bool shrinking;
	uint64_t seq_next, rev_next;
	uint32_t next_vseed;
	uint8_t prefix[4][STORE_MAX_KEY];
	size_t prefix_len[4];
	size_t seq_pad; /* bytes of fixed prefix before the counter in SEQ/REV */
	uint8_t *vbuf, *vbuf2;
	/* figures */
	uint64_t ops, commits, durable, aborts, reopens, verifies, scans, max_depth, max_entries;
	uint64_t overflow_puts, last_txnid;
};

static uint64_t total_ops;

static void set_ctx(struct run *r, const char *what)
{
	tu_context("run %d (%s keys, page size %u, run seed %" PRIu64 "), op %" PRIu64
	           ", txn %" PRIu64 ": %s",
	           r->no, dist_name[r->dist], r->page_size, r->seed, r->ops, r->commits + r->aborts,
	           what);
}

static void undo_push(struct run *r, int table, const uint8_t *k, size_t kl)
{
	struct undo *u;
	bool found;
	struct model *m = &r->t[table].m;
	size_t i = model_lb(m, k, kl, &found);

	if (r->nundo == r->capundo) {
		r->capundo = r->capundo ? r->capundo * 2 : 256;
		r->undo = realloc(r->undo, r->capundo * sizeof(*r->undo));
		CHECK(r->undo != NULL);
	}
	u = &r->undo[r->nundo++];
	u->k = key_dup(k, kl);
	u->table = table;
	u->existed = found;
	u->vlen = found ? m->e[i].vlen : 0;
	u->vseed = found ? m->e[i].vseed : 0;
}

static void undo_forget(struct run *r)
{
	for (size_t i = 0; i < r->nundo; i++)
		free(r->undo[i].k);
	r->nundo = 0;
}

static void undo_apply(struct run *r)
{
	while (r->nundo) {
		struct undo *u = &r->undo[--r->nundo];
		struct model *m = &r->t[u->table].m;
		size_t kl = (size_t)u->k[0] | ((size_t)u->k[1] << 8);
		bool found;
		size_t i = model_lb(m, u->k + 2, kl, &found);

		if (u->existed)
			model_set(m, u->k + 2, kl, u->vlen, u->vseed);
		else if (found)
			model_del_at(m, i);
		free(u->k);
	}
}

/* ---- keys and values ---- */

static size_t gen_key(struct run *r, enum dist d, uint8_t *k)
{
	struct tu_rng *g = &r->rng;

	if (d == D_MIXED)
		d = (enum dist)tu_rng_below(g, 4);
	switch (d) {
	case D_SEQ:
	case D_REV: {
		/* A fixed pad (shared by all keys) then a big-endian counter;
		 * sometimes a short random tail. */
		uint64_t c = d == D_SEQ ? r->seq_next++ : r->rev_next--;
		size_t kl = r->seq_pad;
		memset(k, 'k', r->seq_pad);
		st_be64(k + kl, c);
		kl += 8;
		if (tu_rng_chance(g, 1, 8)) {
			size_t tail = tu_rng_below(g, 9);
			tu_rng_fill(g, k + kl, tail);
			kl += tail;
		}
		return kl;
	}
	case D_RANDOM: {
		size_t kl;
		uint64_t x = tu_rng_below(g, 100);
		if (x < 2)
			kl = 0;
		else if (x < 15)
			kl = tu_rng_range(g, 1, 3); /* collide often */
		else if (x < 85)
			kl = tu_rng_range(g, 4, 40);
		else if (x < 97)
			kl = tu_rng_range(g, 41, 300);
		else
			kl = tu_rng_range(g, 301, STORE_MAX_KEY);
		tu_rng_fill(g, k, kl);
		return kl;
	}
	case D_PREFIX:
	default: {
		int p = (int)tu_rng_below(g, 4);
		size_t pl = r->prefix_len[p], kl = pl, room = STORE_MAX_KEY - pl, tail;
		memcpy(k, r->prefix[p], pl);
		if (tu_rng_chance(g, 1, 20))
			tail = tu_rng_below(g, room + 1);
		else
			tail = tu_rng_below(g, (room < 12 ? room : 12) + 1);
		/* a small alphabet makes deeper shared prefixes */
		for (size_t i = 0; i < tail; i++)
			k[kl + i] = (uint8_t)('a' + tu_rng_below(g, 3));
		return kl + tail;
	}
	}
}

static uint32_t gen_vlen(struct run *r, size_t klen)
{
	struct tu_rng *g = &r->rng;
	size_t im = store_inline_max(r->s, klen);
	uint64_t x = tu_rng_below(g, 100);
	size_t v;

	if (x < 28)
		v = tu_rng_below(g, 17);
	else if (x < 52)
		v = tu_rng_range(g, 17, 200);
	else if (x < 70)
		v = tu_rng_below(g, im + 1);
	else if (x < 80)
		v = tu_rng_range(g, im > 3 ? im - 3 : 0, im + 3);
	else if (x < 93)
		v = tu_rng_range(g, im + 1, im + 2 * (size_t)r->page_size);
	else
		v = tu_rng_range(g, im + 1, im + 6 * 1024 + (size_t)r->page_size);
	if (v > MAX_VALUE)
		v = MAX_VALUE;
	return (uint32_t)v;
}

static uint64_t vpat(uint32_t vseed)
{
	return tu_mix64(0x5eedULL ^ vseed);
}

/* ---- checks of store output against the model ---- */

static void check_row(struct run *r, const struct ent *e, const void *k, size_t kl, const void *v,
                      size_t vl, const char *what)
{
	long long d;

	CHECKF(key_cmp(k, kl, ent_key(e), ent_klen(e)) == 0, "%s: key %s, model expects %s", what,
	       st_hex(k, kl), st_hex(ent_key(e), ent_klen(e)));
	CHECKF(vl == e->vlen, "%s: key %s has a value of %zu bytes, model expects %u", what,
	       st_hex(k, kl), vl, e->vlen);
	d = tu_pattern_diff(v, vl, vpat(e->vseed), 0);
	CHECKF(d < 0, "%s: key %s: value (%zu bytes) differs from the model at byte %lld", what,
	       st_hex(k, kl), vl, d);
	(void)r;
}

static void check_cursor_at(struct run *r, store_cursor *c, const struct model *m, size_t i,
                            const char *what)
{
	const void *k = NULL, *v = NULL;
	size_t kl = 0, vl = 0;

	CHECK_OK(store_cursor_get(c, &k, &kl, &v, &vl));
	check_row(r, &m->e[i], k, kl, v, vl, what);
}

/* Expected index for a seek, or -1 for -ENOENT. */
static long long model_seek(const struct model *m, enum store_seek how, const uint8_t *k, size_t kl)
{
	bool found;
	size_t lb;

	if (m->n == 0)
		return -1;
	switch (how) {
	case STORE_SEEK_FIRST:
		return 0;
	case STORE_SEEK_LAST:
		return (long long)m->n - 1;
	default:
		break;
	}
	lb = model_lb(m, k, kl, &found);
	switch (how) {
	case STORE_SEEK_EQ:
		return found ? (long long)lb : -1;
	case STORE_SEEK_GE:
		return lb < m->n ? (long long)lb : -1;
	case STORE_SEEK_GT: {
		size_t gt = lb + (found ? 1 : 0);
		return gt < m->n ? (long long)gt : -1;
	}
	case STORE_SEEK_LE:
		return found ? (long long)lb : (long long)lb - 1;
	case STORE_SEEK_LT:
	default:
		return (long long)lb - 1;
	}
}

static const char *const seek_name[] = {"FIRST", "LAST", "EQ", "GE", "GT", "LE", "LT"};

/* A key to seek to: existing, random, or a neighbour of an existing key. */
static size_t probe_key(struct run *r, struct tstate *t, uint8_t *k)
{
	struct tu_rng *g = &r->rng;
	uint64_t x = tu_rng_below(g, 10);
	const struct ent *e;
	size_t kl;

	if (t->m.n == 0 || x < 3)
		return gen_key(r, t->dist, k);
	e = &t->m.e[tu_rng_below(g, t->m.n)];
	kl = ent_klen(e);
	memcpy(k, ent_key(e), kl);
	if (x < 7)
		return kl;
	switch (tu_rng_below(g, 4)) {
	case 0: /* one byte longer */
		if (kl < STORE_MAX_KEY)
			k[kl++] = (uint8_t)tu_rng_below(g, 2) * 0xff;
		return kl;
	case 1: /* a prefix */
		return kl ? tu_rng_below(g, kl) : 0;
	case 2: /* last byte + 1 */
		if (kl && k[kl - 1] < 0xff)
			k[kl - 1]++;
		return kl;
	default: /* last byte - 1 */
		if (kl && k[kl - 1] > 0)
			k[kl - 1]--;
		return kl;
	}
}

static void op_scan(struct run *r, struct tstate *t)
{
	struct tu_rng *g = &r->rng;
	uint8_t k[STORE_MAX_KEY + 1];
	size_t kl = probe_key(r, t, k);
	enum store_seek how = (enum store_seek)tu_rng_below(g, 7);
	long long want = model_seek(&t->m, how, k, kl);
	store_cursor *c = NULL;
	int mode = (int)tu_rng_below(g, 3); /* 0 next, 1 prev, 2 zig-zag */
	/* sometimes walk to the end (one direction only: a zig-zag is a random walk) */
	uint64_t steps = mode < 2 && tu_rng_chance(g, 1, 40) ? UINT64_MAX : tu_rng_below(g, 40);
	char what[96];
	int rc;

	r->scans++;
	CHECK_OK(store_cursor_open(r->w, t->h, &c));
	rc = store_cursor_seek(c, how, k, kl);
	snprintf(what, sizeof(what), "seek %s to %s", seek_name[how], st_hex(k, kl));
	if (want < 0) {
		CHECKF(rc == -ENOENT,
		       "%s in table %s (%zu rows): returned %d, model expects -ENOENT", what,
		       t->name, t->m.n, rc);
		/* an unpositioned cursor has no row */
		CHECK_RC(store_cursor_get(c, NULL, NULL, NULL, NULL), -ENOENT);
		store_cursor_close(c);
		return;
	}
	CHECKF(rc == 0, "%s in table %s: returned %d, model expects row %lld of %zu", what, t->name,
	       rc, want, t->m.n);
	check_cursor_at(r, c, &t->m, (size_t)want, what);
	for (uint64_t i = 0; i < steps; i++) {
		bool fwd = mode == 0 || (mode == 2 && tu_rng_chance(g, 1, 2));
		long long next = fwd ? want + 1 : want - 1;

		rc = fwd ? store_cursor_next(c) : store_cursor_prev(c);
		if (next < 0 || next >= (long long)t->m.n) {
			CHECKF(rc == -ENOENT,
			       "%s then %s past the end: returned %d, expected -ENOENT", what,
			       fwd ? "next" : "prev", rc);
			break;
		}
		CHECKF(rc == 0, "%s, step %" PRIu64 " %s: returned %d, model has row %lld", what, i,
		       fwd ? "next" : "prev", rc, next);
		want = next;
		check_cursor_at(r, c, &t->m, (size_t)want, fwd ? "cursor next" : "cursor prev");
	}
	store_cursor_close(c);
}

static void do_put(struct run *r, int ti, const uint8_t *k, size_t kl, unsigned flags)
{
	struct tstate *t = &r->t[ti];
	bool found;
	uint32_t vlen = gen_vlen(r, kl), vseed = r->next_vseed++;
	int want, rc;

	model_lb(&t->m, k, kl, &found);
	want = (flags & STORE_NOOVERWRITE) && found  ? -EEXIST
	       : (flags & STORE_MUSTEXIST) && !found ? -ENOENT
	                                             : 0;
	tu_pattern(r->vbuf, vlen, vpat(vseed), 0);
	rc = store_put(r->w, t->h, k, kl, r->vbuf, vlen, flags);
	CHECKF(rc == want, "put %s (%u bytes, flags %#x) in %s: returned %d, model expects %d",
	       st_hex(k, kl), vlen, flags, t->name, rc, want);
	if (rc == 0) {
		undo_push(r, ti, k, kl);
		model_set(&t->m, k, kl, vlen, vseed);
		if (vlen > store_inline_max(r->s, kl))
			r->overflow_puts++;
	}
}

static void op_insert(struct run *r, int ti)
{
	uint8_t k[STORE_MAX_KEY];
	size_t kl = gen_key(r, r->t[ti].dist, k);
	unsigned flags = 0;
	uint64_t x = tu_rng_below(&r->rng, 4);

	if (x == 0)
		flags = STORE_NOOVERWRITE;
	else if (x == 1)
		flags = STORE_MUSTEXIST;
	do_put(r, ti, k, kl, flags);
}

static void op_overwrite(struct run *r, int ti)
{
	struct tstate *t = &r->t[ti];
	uint8_t k[STORE_MAX_KEY];
	const struct ent *e;
	size_t kl;
	uint64_t x = tu_rng_below(&r->rng, 3);

	if (t->m.n == 0) {
		op_insert(r, ti);
		return;
	}
	e = &t->m.e[tu_rng_below(&r->rng, t->m.n)];
	kl = ent_klen(e);
	memcpy(k, ent_key(e), kl);
	do_put(r, ti, k, kl, x == 0 ? 0 : x == 1 ? STORE_MUSTEXIST : STORE_NOOVERWRITE);
}

static void del_at(struct run *r, int ti, size_t i)
{
	struct tstate *t = &r->t[ti];
	uint8_t k[STORE_MAX_KEY];
	size_t kl = ent_klen(&t->m.e[i]);

	int rc;

	memcpy(k, ent_key(&t->m.e[i]), kl);
	rc = store_del(r->w, t->h, k, kl);
	CHECKF(rc == 0, "del %s (row %zu of %zu in %s) returned %d (%s)", st_hex(k, kl), i, t->m.n,
	       t->name, rc, strerror(-rc));
	undo_push(r, ti, k, kl);
	model_del_at(&t->m, i);
}

static void op_delete(struct run *r, int ti)
{
	struct tstate *t = &r->t[ti];

	if (t->m.n == 0 || tu_rng_chance(&r->rng, 1, 10)) {
		/* a key that (probably) does not exist */
		uint8_t k[STORE_MAX_KEY];
		size_t kl = gen_key(r, t->dist, k);
		bool found;
		size_t i = model_lb(&t->m, k, kl, &found);
		if (found) {
			del_at(r, ti, i);
		} else {
			int rc = store_del(r->w, t->h, k, kl);
			CHECKF(rc == -ENOENT,
			       "del of missing key %s in %s: returned %d, expected -ENOENT",
			       st_hex(k, kl), t->name, rc);
		}
		return;
	}
	del_at(r, ti, tu_rng_below(&r->rng, t->m.n));
}

static void op_range_delete(struct run *r, int ti)
{
	struct tstate *t = &r->t[ti];
	size_t i, count;

	if (t->m.n == 0)
		return;
	i = tu_rng_below(&r->rng, t->m.n);
	count = tu_rng_range(&r->rng, 1, r->shrinking ? 300 : 40);
	while (count-- && i < t->m.n) {
		del_at(r, ti, i);
		r->ops++;
	}
}

static void op_get(struct run *r, int ti, bool hit)
{
	struct tstate *t = &r->t[ti];
	uint8_t k[STORE_MAX_KEY];
	size_t kl, vl = SIZE_MAX, cap;
	bool found;
	size_t i;
	int rc;

	if (hit && t->m.n) {
		const struct ent *e = &t->m.e[tu_rng_below(&r->rng, t->m.n)];
		kl = ent_klen(e);
		memcpy(k, ent_key(e), kl);
	} else {
		kl = probe_key(r, t, k);
	}
	i = model_lb(&t->m, k, kl, &found);
	cap = tu_rng_chance(&r->rng, 1, 8) ? tu_rng_below(&r->rng, 64) : MAX_VALUE;
	rc = store_get(r->w, t->h, k, kl, r->vbuf, cap, &vl);
	if (!found) {
		CHECKF(rc == -ENOENT, "get of missing key %s in %s: returned %d, expected -ENOENT",
		       st_hex(k, kl), t->name, rc);
		return;
	}
	CHECKF(rc == 0, "get %s in %s: returned %d, model has it", st_hex(k, kl), t->name, rc);
	CHECKF(vl == t->m.e[i].vlen, "get %s: value length %zu, model expects %u", st_hex(k, kl),
	       vl, t->m.e[i].vlen);
	{
		size_t n = vl < cap ? vl : cap;
		long long d = tu_pattern_diff(r->vbuf, n, vpat(t->m.e[i].vseed), 0);
		CHECKF(d < 0, "get %s (cap %zu): value differs from the model at byte %lld",
		       st_hex(k, kl), cap, d);
	}
}

/*
 * A cursor kept open while the txn changes: it re-finds its place by key;
 * next/prev continue from that key even if its row was deleted.
 */
static void op_cursor_mutate(struct run *r, int ti)
{
	struct tstate *t = &r->t[ti];
	struct tu_rng *g = &r->rng;
	uint8_t pos[STORE_MAX_KEY];
	size_t pl;
	store_cursor *c = NULL;
	long long at;
	bool found;

	if (t->m.n == 0)
		return;
	CHECK_OK(store_cursor_open(r->w, t->h, &c));
	at = (long long)tu_rng_below(g, t->m.n);
	pl = ent_klen(&t->m.e[at]);
	memcpy(pos, ent_key(&t->m.e[at]), pl);
	CHECK_OK(store_cursor_seek(c, STORE_SEEK_EQ, pos, pl));
	for (int round = 0; round < 6; round++) {
		bool pos_alive = true, fwd;
		long long next;
		size_t lb;
		int rc;

		switch (tu_rng_below(g, 5)) {
		case 0: /* delete the cursor's own row */
			lb = model_lb(&t->m, pos, pl, &found);
			CHECK(found);
			del_at(r, ti, lb);
			pos_alive = false;
			break;
		case 1: /* delete a neighbour */
			lb = model_lb(&t->m, pos, pl, &found);
			if (tu_rng_chance(g, 1, 2) && lb + 1 < t->m.n)
				del_at(r, ti, lb + 1);
			else if (lb > 0)
				del_at(r, ti, lb - 1);
			break;
		case 2: /* overwrite the cursor's row */
			do_put(r, ti, pos, pl, 0);
			break;
		case 3: { /* insert right after the cursor's key */
			uint8_t k[STORE_MAX_KEY];
			size_t kl = pl;
			memcpy(k, pos, pl);
			if (kl == STORE_MAX_KEY)
				break;
			k[kl++] = (uint8_t)tu_rng_below(g, 3);
			do_put(r, ti, k, kl, 0);
			break;
		}
		default: /* insert anywhere */
			op_insert(r, ti);
			break;
		}
		r->ops++;
		if (pos_alive) {
			lb = model_lb(&t->m, pos, pl, &found);
			CHECK(found);
			check_cursor_at(r, c, &t->m, lb, "cursor after a change in its txn");
		}
		/* step from pos */
		fwd = tu_rng_chance(g, 1, 2);
		lb = model_lb(&t->m, pos, pl, &found);
		next = fwd ? (long long)lb + (found ? 1 : 0) : (long long)lb - 1;
		rc = fwd ? store_cursor_next(c) : store_cursor_prev(c);
		if (next < 0 || next >= (long long)t->m.n) {
			CHECKF(rc == -ENOENT,
			       "cursor at %s (%s), changed, then %s: returned %d, model expects "
			       "-ENOENT",
			       st_hex(pos, pl), pos_alive ? "row alive" : "row deleted",
			       fwd ? "next" : "prev", rc);
			break;
		}
		CHECKF(rc == 0, "cursor at %s (%s), changed, then %s: returned %d", st_hex(pos, pl),
		       pos_alive ? "row alive" : "row deleted", fwd ? "next" : "prev", rc);
		check_cursor_at(r, c, &t->m, (size_t)next, "cursor step after a change in its txn");
		pl = ent_klen(&t->m.e[next]);
		memcpy(pos, ent_key(&t->m.e[next]), pl);
	}
	store_cursor_close(c);
}

/* Compare a whole table with its model through txn (a full scan). */
static void check_table_full(struct run *r, store_txn *txn, struct tstate *t, const char *what)
{
	store_cursor *c = NULL;
	struct store_table_info info;
	size_t i = 0;
	int rc;

	CHECK_OK(store_cursor_open(txn, t->h, &c));
	rc = store_cursor_seek(c, STORE_SEEK_FIRST, NULL, 0);
	while (rc == 0) {
		CHECKF(i < t->m.n, "%s: table %s has more than the model's %zu rows", what, t->name,
		       t->m.n);
		check_cursor_at(r, c, &t->m, i, what);
		i++;
		rc = store_cursor_next(c);
	}
	CHECKF(rc == -ENOENT, "%s: scan of %s ended with %d", what, t->name, rc);
	CHECKF(i == t->m.n, "%s: table %s has %zu rows, model %zu", what, t->name, i, t->m.n);
	store_cursor_close(c);

	CHECK_OK(store_table_stat(txn, t->h, &info));
	CHECKF(info.entries == t->m.n, "%s: store_table_stat(%s).entries = %" PRIu64 ", model %zu",
	       what, t->name, info.entries, t->m.n);
	CHECKF((info.depth == 0) == (t->m.n == 0),
	       "%s: store_table_stat(%s).depth = %u with %zu rows (0 means empty)", what, t->name,
	       info.depth, t->m.n);
	CHECKF(strcmp(info.name, t->name) == 0, "%s: store_table_stat name %s, expected %s", what,
	       info.name, t->name);
	if (info.depth > r->max_depth)
		r->max_depth = info.depth;
}

static void open_store(struct run *r, bool create)
{
	r->s = st_open(r->path, create ? STORE_CREATE : 0, r->page_size);
	CHECK_EQ(store_page_size(r->s), r->page_size);
}

static void reopen(struct run *r)
{
	store_txn *rt;

	set_ctx(r, "close and reopen");
	CHECK_OK(store_close(r->s));
	open_store(r, false);
	rt = st_read(r->s);
	CHECKF(store_txn_id(rt) == r->last_txnid,
	       "after reopen the state is txn %" PRIu64 ", last commit was %" PRIu64,
	       store_txn_id(rt), r->last_txnid);
	for (int i = 0; i < NTABLES; i++) {
		store_table h;
		CHECK_OK(store_table_open(rt, r->t[i].name, &h));
		r->t[i].h = h;
		if (tu_rng_chance(&r->rng, 1, 2))
			check_table_full(r, rt, &r->t[i], "after reopen");
	}
	store_txn_abort(rt);
	r->reopens++;
}

static void verify(struct run *r, store_txn *txn)
{
	set_ctx(r, "store_verify FULL");
	st_verify_clean(txn, STORE_VERIFY_FULL, "in the B+tree model test");
	if (store_txn_is_write(txn)) /* read txns: see test_concurrency */
		st_check_space_map(txn, "in the B+tree model test");
	r->verifies++;
}

/* Drop table 1 and create it again, in one txn that commits. */
static void op_drop_recreate(struct run *r)
{
	store_table h, h2;
	int rc;

	set_ctx(r, "drop and re-create a table");
	CHECK_OK(store_table_drop(r->w, r->t[1].name));
	CHECK_RC(store_table_open(r->w, r->t[1].name, &h), -ENOENT);
	CHECK_RC(store_table_drop(r->w, r->t[1].name), -ENOENT);
	CHECK_OK(store_table_create(r->w, r->t[1].name, &h));
	rc = store_table_create(r->w, r->t[1].name, &h2);
	CHECK_RC(rc, -EEXIST);
	r->t[1].h = h;
	/* the undo log cannot undo a drop: commit now */
	model_clear(&r->t[1].m);
	undo_forget(r);
	r->last_txnid = st_commit(r->w, false);
	r->commits++;
	r->w = st_write(r->s);
}

static void end_txn(struct run *r)
{
	struct tu_rng *g = &r->rng;
	uint64_t x = tu_rng_below(g, 100), id;

	if (x < 15) {
		set_ctx(r, "abort");
		store_txn_abort(r->w);
		undo_apply(r);
		r->aborts++;
	} else {
		bool durable = x >= 90;
		uint64_t built = store_txn_id(r->w);
		set_ctx(r, durable ? "durable commit" : "commit");
		CHECKF(built > r->last_txnid,
		       "write txn id %" PRIu64 " not above the last commit %" PRIu64, built,
		       r->last_txnid);
		id = st_commit(r->w, durable);
		CHECKF(id == built, "commit returned txn id %" PRIu64 ", the txn said %" PRIu64, id,
		       built);
		CHECK_EQ(store_last_txnid(r->s), id);
		if (durable) {
			CHECKF(store_durable_txnid(r->s) >= id,
			       "durable commit %" PRIu64 " but store_durable_txnid() = %" PRIu64,
			       id, store_durable_txnid(r->s));
			r->durable++;
		}
		r->last_txnid = id;
		undo_forget(r);
		r->commits++;
	}
	r->w = NULL;

	/* sometimes look at the committed state through a read txn */
	if (tu_rng_chance(g, 1, 40)) {
		store_txn *rt = st_read(r->s);
		CHECK_EQ(store_txn_id(rt), r->last_txnid);
		CHECK(!store_txn_is_write(rt));
		CHECK_RC(store_put(rt, r->t[0].h, "x", 1, "y", 1, 0), -EBADF);
		check_table_full(r, rt, &r->t[tu_rng_below(g, NTABLES)],
		                 "committed state, read txn");
		if (tu_rng_chance(g, 1, 3))
			verify(r, rt);
		store_txn_abort(rt);
	}
	if (tu_rng_chance(g, 1, 60))
		reopen(r);
}

/* Contract details of store.h checked once, on the image of run 0. */
static void api_edges(struct run *r)
{
	store *s = NULL, *ro;
	store_txn *w = NULL, *w2 = NULL, *rt;
	uint8_t k[STORE_MAX_KEY + 1];
	int rc;

	set_ctx(r, "API edge cases");
	rc = st_try_open(r->path, STORE_CREATE, r->page_size, NULL, NULL, &s);
	CHECKF(rc == -EEXIST, "STORE_CREATE over an existing image returned %d, expected -EEXIST",
	       rc);

	ro = st_open(r->path, STORE_RDONLY, 0);
	CHECK_EQ(store_page_size(ro), r->page_size);
	rc = store_txn_begin(ro, STORE_TXN_WRITE, &w);
	CHECKF(rc == -EROFS, "write txn on a read-only store returned %d, expected -EROFS", rc);
	rt = st_read(ro);
	CHECK_EQ(store_txn_id(rt), r->last_txnid);
	check_table_full(r, rt, &r->t[0], "read-only open");
	store_txn_abort(rt);
	CHECK_OK(store_close(ro));

	s = st_open(r->path, 0, 0);
	w = st_write(s);
	rc = store_txn_begin(s, STORE_TXN_WRITE | STORE_TXN_TRYWRITE, &w2);
	CHECKF(rc == -EBUSY, "TRYWRITE while a write txn is open returned %d, expected -EBUSY", rc);
	memset(k, 'z', sizeof(k));
	CHECK_OK(store_put(w, r->t[0].h, k, STORE_MAX_KEY, "v", 1, 0));
	rc = store_put(w, r->t[0].h, k, STORE_MAX_KEY + 1, "v", 1, 0);
	CHECKF(rc == -EINVAL, "put of a %d-byte key returned %d, expected -EINVAL",
	       STORE_MAX_KEY + 1, rc);
	store_txn_abort(w);
	CHECK_OK(store_close(s));
}

static void one_run(struct run *r)
{
	struct tu_rng *g = &r->rng;
	uint64_t txn_ops = 0, txn_len = 0;
	double t0 = tu_now();

	tu_rng_seed(g, r->seed);
	tu_path(r->path, "model-%d.img", r->no);
	r->vbuf = malloc(MAX_VALUE + 64);
	CHECK(r->vbuf != NULL);
	r->seq_next = tu_rng_below(g, 1000);
	r->rev_next = UINT64_MAX / 2;
	/* long shared pads make few keys per page: deep trees (always for reverse) */
	r->seq_pad = r->dist != D_REV && tu_rng_chance(g, 1, 2) ? tu_rng_below(g, 8)
	                                                        : tu_rng_range(g, 100, 400);
	for (int p = 0; p < 4; p++) {
		static const size_t plen[4] = {0, 7, 120, 440};
		r->prefix_len[p] = plen[p];
		for (size_t i = 0; i < plen[p]; i++)
			r->prefix[p][i] = (uint8_t)('a' + (i * 7 + (size_t)p) % 3);
	}
	open_store(r, true);
	r->w = st_write(r->s);
	for (int i = 0; i < NTABLES; i++) {
		snprintf(r->t[i].name, sizeof(r->t[i].name), "table-%d", i);
		r->t[i].dist = i == 0 ? r->dist : D_MIXED;
		CHECK_OK(store_table_create(r->w, r->t[i].name, &r->t[i].h));
	}
	r->last_txnid = st_commit(r->w, true);
	r->w = st_write(r->s);

	while (r->ops < r->ops_target) {
		int ti = tu_rng_chance(g, 1, 7) ? 1 : 0;
		struct tstate *t = &r->t[ti];
		uint64_t x = tu_rng_below(g, 1000);

		if (txn_len == 0) {
			/* txn sizes: mostly small, some large */
			txn_len = tu_rng_chance(g, 1, 5) ? tu_rng_range(g, 200, 2000)
			                                 : tu_rng_range(g, 1, 120);
			txn_ops = 0;
		}
		if (!r->w)
			r->w = st_write(r->s);
		set_ctx(r, "operation");
		if (t->m.n >= r->cap_entries)
			r->shrinking = true;
		else if (t->m.n <= r->cap_entries / 25)
			r->shrinking = false;
		if (!r->shrinking) {
			if (x < 430)
				op_insert(r, ti);
			else if (x < 530)
				op_overwrite(r, ti);
			else if (x < 580)
				op_delete(r, ti);
			else if (x < 780)
				op_get(r, ti, x < 720);
			else if (x < 930)
				op_scan(r, t);
			else if (x < 960)
				op_cursor_mutate(r, ti);
			else if (x < 962)
				op_range_delete(r, ti);
			else
				op_get(r, ti, false);
		} else {
			if (x < 100)
				op_insert(r, ti);
			else if (x < 200)
				op_overwrite(r, ti);
			else if (x < 560)
				op_delete(r, ti);
			else if (x < 570)
				op_range_delete(r, ti);
			else if (x < 760)
				op_get(r, ti, x < 700);
			else if (x < 930)
				op_scan(r, t);
			else
				op_cursor_mutate(r, ti);
		}
		r->ops++;
		if (t->m.n > r->max_entries)
			r->max_entries = t->m.n;
		if (tu_rng_chance(g, 1, 4000))
			op_drop_recreate(r);
		if (++txn_ops >= txn_len) {
			if (tu_rng_chance(g, 1, 10))
				check_table_full(r, r->w, &r->t[tu_rng_below(g, NTABLES)],
				                 "inside a write txn");
			if (tu_rng_chance(g, 1, 150))
				verify(r, r->w);
			end_txn(r);
			txn_len = 0;
		}
	}
	if (r->w)
		end_txn(r);
	/* the end: everything matches, after a reopen too, and verifies */
	{
		store_txn *rt = st_read(r->s);
		for (int i = 0; i < NTABLES; i++)
			check_table_full(r, rt, &r->t[i], "end of run");
		verify(r, rt);
		store_txn_abort(rt);
	}
	reopen(r);
	{
		store_txn *rt = st_read(r->s);
		for (int i = 0; i < NTABLES; i++)
			check_table_full(r, rt, &r->t[i], "end of run, after reopen");
		verify(r, rt);
		store_txn_abort(rt);
	}
	CHECK_OK(store_close(r->s));
	if (r->no == 0)
		api_edges(r);
	unlink(r->path);
	total_ops += r->ops;
	printf("run %d: %s keys, page size %u: %" PRIu64 " ops, %" PRIu64 " commits (%" PRIu64
	       " durable), %" PRIu64 " aborts, %" PRIu64 " reopens, %" PRIu64 " scans, %" PRIu64
	       " overflow puts, %" PRIu64 " verifies, max %" PRIu64 " rows, max depth %" PRIu64
	       ", %.1f s\n",
	       r->no, dist_name[r->dist], r->page_size, r->ops, r->commits, r->durable, r->aborts,
	       r->reopens, r->scans, r->overflow_puts, r->verifies, r->max_entries, r->max_depth,
	       tu_now() - t0);
	fflush(stdout);
	for (int i = 0; i < NTABLES; i++) {
		model_clear(&r->t[i].m);
		free(r->t[i].m.e);
	}
	undo_forget(r);
	free(r->undo);
	free(r->vbuf);
}

static int run_all(void)
{
	static const struct {
		enum dist dist;
		uint32_t page_size;
		uint64_t ops;
		size_t cap;
	} plan[] = {
	        {D_SEQ, 4096, 170000, 12000},   {D_REV, 4096, 150000, 6000},
	        {D_RANDOM, 4096, 200000, 8000}, {D_PREFIX, 4096, 200000, 6000},
	        {D_MIXED, 8192, 150000, 8000},  {D_PREFIX, 16384, 100000, 5000},
	        {D_RANDOM, 65536, 30000, 4000},
	};
	unsigned scale = tu_scale();
	double t0 = tu_now();

	const char *only = getenv("SLATEFS_TEST_RUN"); /* reproduce one run */

	for (size_t i = 0; i < sizeof(plan) / sizeof(plan[0]); i++) {
		struct run r;

		if (only && strtoul(only, NULL, 10) != i)
			continue;
		memset(&r, 0, sizeof(r));
		r.no = (int)i;
		r.seed = tu_mix64(tu_seed() + i);
		r.dist = plan[i].dist;
		r.page_size = plan[i].page_size;
		r.ops_target = plan[i].ops * scale / tu_shrink();
		r.cap_entries = plan[i].cap;
		one_run(&r);
	}
	printf("B+tree model test: %" PRIu64 " operations in total, %.1f s\n", total_ops,
	       tu_now() - t0);
	CHECKF(only || total_ops >= 1000000ULL * scale / tu_shrink(), "only %" PRIu64 " operations ran",
	       total_ops);
	return 0;
}

int main(int argc, char **argv)
{
	return tu_main(argc, argv, run_all);
}
