/*
 * catalog.c — named tables. The catalog is a B+tree (its root in the slot)
 * mapping a table's name to its id and root:
 *     key: name            value: u32 id, u32 depth, u64 root, u64 root
 *                          checksum, u64 entries, u64 pages, u64 overflow
 *                          bytes
 * Handles (store_table) are table ids; the store remembers id -> name so a
 * handle opened once stays usable in later txns. A txn loads a table's root
 * from the catalog the first time it uses the table, and writes it back at
 * commit if the table changed. The system trees (catalog, blob index by id,
 * blob index by location) have fixed ids below TID_FIRST_USER and live in
 * the slot itself.
 */
#include "store_int.h"

#include <stdio.h>
#include <stdlib.h>

#define CAT_VAL 48

static void cat_encode(const struct tstate *t, uint8_t *v)
{
	put32(v, t->id);
	put32(v + 4, t->r.depth);
	put64(v + 8, t->r.pgno);
	put64(v + 16, t->r.csum);
	put64(v + 24, t->r.entries);
	put64(v + 32, t->r.pages);
	put64(v + 40, t->r.overflow);
}

static int cat_decode(store *s, const uint8_t *v, size_t vlen, struct tstate *t)
{
	if (vlen != CAT_VAL) {
		store_logf(s, STORE_LOG_ERR, "catalog row for a table is malformed");
		return -EIO;
	}
	t->id = get32(v);
	t->r.depth = get32(v + 4);
	t->r.pgno = get64(v + 8);
	t->r.csum = get64(v + 16);
	t->r.entries = get64(v + 24);
	t->r.pages = get64(v + 32);
	t->r.overflow = get64(v + 40);
	if (t->r.depth > MAX_DEPTH || t->id < TID_FIRST_USER || t->id >= MAX_TABLE_ID) {
		store_logf(s, STORE_LOG_ERR, "catalog row for a table is malformed");
		return -EIO;
	}
	return 0;
}

struct tstate *tab_sys(store_txn *txn, int which)
{
	return &txn->sys[which];
}

static int names_set(store *s, store_table id, const char *name)
{
	pthread_mutex_lock(&s->names_lock);
	if (id >= s->nnames) {
		uint32_t n = s->nnames ? s->nnames : 32;
		while (n <= id)
			n *= 2;
		char **x = realloc(s->names, n * sizeof(*x));
		if (!x) {
			pthread_mutex_unlock(&s->names_lock);
			return -ENOMEM;
		}
		memset(x + s->nnames, 0, (n - s->nnames) * sizeof(*x));
		s->names = x;
		s->nnames = n;
	}
	/* an id handed out by a txn that aborted may be handed out again */
	if (!s->names[id] || strcmp(s->names[id], name) != 0) {
		free(s->names[id]);
		s->names[id] = strdup(name);
	}
	int r = s->names[id] ? 0 : -ENOMEM;
	pthread_mutex_unlock(&s->names_lock);
	return r;
}

static int names_get(store *s, store_table id, char *out)
{
	int r = -ENOENT;
	pthread_mutex_lock(&s->names_lock);
	if (id < s->nnames && s->names[id]) {
		strcpy(out, s->names[id]);
		r = 0;
	}
	pthread_mutex_unlock(&s->names_lock);
	return r;
}

/* Call fn for every catalog row, in name order: the table's name and its
 * row decoded. fn returns non-zero to stop (returned). */
static int cat_each(store_txn *txn, int (*fn)(void *ctx, const char *name, struct tstate *row),
		    void *ctx)
{
	store_cursor *c;
	int r = store_cursor_open(txn, TID_CATALOG, &c);
	if (r < 0)
		return r;
	r = store_cursor_seek(c, STORE_SEEK_FIRST, NULL, 0);
	while (r == 0) {
		const void *k, *v;
		size_t kl, vl;
		r = store_cursor_get(c, &k, &kl, &v, &vl);
		if (r < 0)
			break;
		struct tstate row;
		memset(&row, 0, sizeof(row));
		if (kl > STORE_MAX_TABLE_NAME || cat_decode(txn->s, v, vl, &row) < 0) {
			r = -EIO;
			break;
		}
		memcpy(row.name, k, kl);
		row.name[kl] = 0;
		r = fn(ctx, row.name, &row);
		if (r)
			break;
		r = store_cursor_next(c);
	}
	store_cursor_close(c);
	return r == -ENOENT ? 0 : r;
}

static int learn_name(void *ctx, const char *name, struct tstate *row)
{
	store_txn *txn = ctx;
	return names_set(txn->s, row->id, name);
}

/* Register the name of every table in the catalog. */
static int names_load(store_txn *txn)
{
	return cat_each(txn, learn_name, txn);
}

/* A new table state for this txn; call with tabs_lock held. */
static struct tstate *tab_slot(store_txn *txn)
{
	if (txn->ntabs == txn->tabcap) {
		size_t n = txn->tabcap ? txn->tabcap * 2 : 8;
		struct tstate **x = realloc(txn->tabs, n * sizeof(*x));
		if (!x)
			return NULL;
		txn->tabs = x;
		txn->tabcap = n;
	}
	struct tstate *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	txn->tabs[txn->ntabs++] = t;
	return t;
}

static struct tstate *tab_find(store_txn *txn, store_table id)
{
	for (size_t i = 0; i < txn->ntabs; i++)
		if (txn->tabs[i]->id == id)
			return txn->tabs[i];
	return NULL;
}

static struct tstate *tab_find_name(store_txn *txn, const char *name)
{
	for (size_t i = 0; i < txn->ntabs; i++)
		if (!txn->tabs[i]->dropped && strcmp(txn->tabs[i]->name, name) == 0)
			return txn->tabs[i];
	return NULL;
}

/* Add a loaded state unless another thread added the same table first. */
static int tab_add(store_txn *txn, const struct tstate *tmp, struct tstate **out)
{
	pthread_mutex_lock(&txn->tabs_lock);
	struct tstate *t = tab_find(txn, tmp->id);
	if (!t) {
		t = tab_slot(txn);
		if (t)
			*t = *tmp;
	}
	pthread_mutex_unlock(&txn->tabs_lock);
	if (!t)
		return -ENOMEM;
	if (t->dropped)
		return -ENOENT;
	*out = t;
	return 0;
}

static int name_ok(const char *name)
{
	size_t n = strlen(name);
	if (n == 0)
		return -EINVAL;
	if (n > STORE_MAX_TABLE_NAME)
		return -ENAMETOOLONG;
	return 0;
}

/* Look the table up by name in the catalog. */
static int cat_lookup(store_txn *txn, const char *name, struct tstate *out)
{
	uint8_t v[CAT_VAL];
	size_t vlen;
	int r = bt_get(txn, &txn->sys[TID_CATALOG], name, strlen(name), v, sizeof(v), &vlen);
	if (r < 0)
		return r;
	r = cat_decode(txn->s, v, vlen, out);
	if (r < 0)
		return r;
	snprintf(out->name, sizeof(out->name), "%s", name);
	out->loaded = true;
	return 0;
}

int tab_get(store_txn *txn, store_table id, struct tstate **out)
{
	if (id < NSYS) {
		*out = &txn->sys[id];
		return 0;
	}
	if (id < TID_FIRST_USER)
		return -ENOENT;
	/* a read txn has one user at a time: only a write txn read by several
	 * threads needs the lock */
	if (txn->write)
		pthread_mutex_lock(&txn->tabs_lock);
	struct tstate *found = tab_find(txn, id);
	if (txn->write)
		pthread_mutex_unlock(&txn->tabs_lock);
	if (found) {
		if (found->dropped)
			return -ENOENT;
		*out = found;
		return 0;
	}
	char name[STORE_MAX_TABLE_NAME + 1];
	int r = names_get(txn->s, id, name);
	if (r == -ENOENT) {
		/* a handle from another open of this image: learn the names */
		r = names_load(txn);
		if (r == 0)
			r = names_get(txn->s, id, name);
	}
	if (r < 0)
		return r;
	struct tstate tmp;
	memset(&tmp, 0, sizeof(tmp));
	r = cat_lookup(txn, name, &tmp);
	if (r < 0)
		return r;
	if (tmp.id != id)
		return -ENOENT; /* dropped, and the name reused */
	return tab_add(txn, &tmp, out);
}

int tab_by_id(store_txn *txn, store_table id, struct tstate **out)
{
	return tab_get(txn, id, out);
}

int store_table_open(store_txn *txn, const char *name, store_table *out)
{
	int r = name_ok(name);
	if (r < 0)
		return r;
	pthread_mutex_lock(&txn->tabs_lock);
	struct tstate *found = tab_find_name(txn, name);
	pthread_mutex_unlock(&txn->tabs_lock);
	if (found) {
		*out = found->id;
		return 0;
	}
	struct tstate tmp;
	memset(&tmp, 0, sizeof(tmp));
	r = cat_lookup(txn, name, &tmp);
	if (r < 0)
		return r;
	r = names_set(txn->s, tmp.id, name);
	if (r < 0)
		return r;
	struct tstate *t;
	r = tab_add(txn, &tmp, &t);
	if (r < 0)
		return r;
	*out = t->id;
	return 0;
}

int store_table_create(store_txn *txn, const char *name, store_table *out)
{
	int r = txn_check_write(txn);
	if (r < 0)
		return r;
	r = name_ok(name);
	if (r < 0)
		return r;
	if (tab_find_name(txn, name))
		return -EEXIST;
	r = bt_get(txn, &txn->sys[TID_CATALOG], name, strlen(name), NULL, 0, NULL);
	if (r == 0)
		return -EEXIST;
	if (r != -ENOENT)
		return r;
	if (txn->meta->next_table_id >= MAX_TABLE_ID)
		return -ENOSPC; /* 16 million tables, dropped ones included */
	store_table id = txn->meta->next_table_id++;
	r = names_set(txn->s, id, name);
	if (r < 0)
		return r;
	pthread_mutex_lock(&txn->tabs_lock);
	struct tstate *t = tab_slot(txn);
	pthread_mutex_unlock(&txn->tabs_lock);
	if (!t)
		return -ENOMEM;
	t->id = id;
	t->loaded = true;
	t->dirty = true;
	snprintf(t->name, sizeof(t->name), "%s", name);
	uint8_t v[CAT_VAL];
	cat_encode(t, v);
	r = bt_put(txn, &txn->sys[TID_CATALOG], name, strlen(name), v, sizeof(v), 0);
	if (r < 0) {
		t->dropped = true;
		return r;
	}
	txn_touch(txn);
	*out = id;
	return 0;
}

int store_table_drop(store_txn *txn, const char *name)
{
	int r = txn_check_write(txn);
	if (r < 0)
		return r;
	store_table id;
	r = store_table_open(txn, name, &id);
	if (r < 0)
		return r;
	struct tstate *t;
	r = tab_get(txn, id, &t);
	if (r < 0)
		return r;
	r = bt_free_all(txn, t);
	if (r < 0)
		return r;
	r = bt_del(txn, &txn->sys[TID_CATALOG], name, strlen(name));
	if (r < 0)
		return r;
	t->dropped = true;
	t->dirty = false;
	txn_touch(txn);
	return 0;
}

static void fill_info(const struct tstate *t, struct store_table_info *info)
{
	memset(info, 0, sizeof(*info));
	snprintf(info->name, sizeof(info->name), "%s", t->name);
	info->id = t->id;
	info->depth = t->r.depth;
	info->entries = t->r.entries;
	info->pages = t->r.pages;
	info->overflow_bytes = t->r.overflow;
}

int store_table_stat(store_txn *txn, store_table id, struct store_table_info *out)
{
	struct tstate *t;
	int r = tab_get(txn, id, &t);
	if (r < 0)
		return r;
	fill_info(t, out);
	if (id == TID_CATALOG)
		snprintf(out->name, sizeof(out->name), "(catalog)");
	else if (id == TID_BLOBS)
		snprintf(out->name, sizeof(out->name), "(blobs)");
	else if (id == TID_BLOBLOC)
		snprintf(out->name, sizeof(out->name), "(blob locations)");
	return 0;
}

struct list_ctx {
	store_txn *txn;
	int (*cb)(void *ctx, const struct store_table_info *info);
	void *ctx;
};

static int list_one(void *ctx, const char *name, struct tstate *row)
{
	struct list_ctx *l = ctx;
	(void)name;
	/* a table this txn changed has newer figures than its row */
	struct tstate *t = row;
	for (size_t i = 0; i < l->txn->ntabs; i++)
		if (l->txn->tabs[i]->id == row->id && !l->txn->tabs[i]->dropped)
			t = l->txn->tabs[i];
	struct store_table_info info;
	fill_info(t, &info);
	return l->cb(l->ctx, &info);
}

int store_table_list(store_txn *txn, int (*cb)(void *ctx, const struct store_table_info *info),
		     void *ctx)
{
	struct list_ctx l = {txn, cb, ctx};
	return cat_each(txn, list_one, &l);
}

struct ids_ctx {
	store_txn *txn;
	store_table *ids;
	size_t n, cap;
};

static int collect_id(void *ctx, const char *name, struct tstate *row)
{
	struct ids_ctx *l = ctx;
	int r = names_set(l->txn->s, row->id, name);
	if (r < 0)
		return r;
	if (l->n == l->cap) {
		size_t nc = l->cap ? l->cap * 2 : 16;
		store_table *x = realloc(l->ids, nc * sizeof(*x));
		if (!x)
			return -ENOMEM;
		l->ids = x;
		l->cap = nc;
	}
	l->ids[l->n++] = row->id;
	return 0;
}

int tab_for_each(store_txn *txn, int (*cb)(void *ctx, struct tstate *t), void *ctx)
{
	for (int i = 0; i < NSYS; i++) {
		int r = cb(ctx, &txn->sys[i]);
		if (r)
			return r;
	}
	/* every user table, loaded through the catalog (after the walk: cb may
	 * change the txn) */
	struct ids_ctx l = {.txn = txn};
	int r = cat_each(txn, collect_id, &l);
	for (size_t i = 0; i < l.n && r == 0; i++) {
		struct tstate *t;
		r = tab_get(txn, l.ids[i], &t);
		if (r == 0)
			r = cb(ctx, t);
	}
	free(l.ids);
	return r;
}

int tab_finalize_all(store_txn *txn)
{
	int r;
	for (size_t i = 0; i < txn->ntabs; i++) {
		struct tstate *t = txn->tabs[i];
		if (!t->dirty || t->dropped)
			continue;
		r = bt_finalize(txn, t);
		if (r < 0)
			return r;
		uint8_t v[CAT_VAL];
		cat_encode(t, v);
		r = bt_put(txn, &txn->sys[TID_CATALOG], t->name, strlen(t->name), v, sizeof(v), 0);
		if (r < 0)
			return r;
		t->dirty = false;
	}
	/* the blob indexes never change while the catalog is written */
	for (int i = NSYS - 1; i >= 0; i--) {
		r = bt_finalize(txn, &txn->sys[i]);
		if (r < 0)
			return r;
		txn->meta->sys[i] = txn->sys[i].r;
	}
	return 0;
}

void tab_txn_free(store_txn *txn)
{
	for (size_t i = 0; i < txn->ntabs; i++)
		free(txn->tabs[i]);
	free(txn->tabs);
	txn->tabs = NULL;
	txn->ntabs = txn->tabcap = 0;
}

/* ---- rows: resolve the handle, then the tree does the work ----------------- */

int store_get(store_txn *txn, store_table t, const void *key, size_t klen, void *val, size_t cap,
	      size_t *vlen)
{
	struct tstate *ts;
	int r = tab_get(txn, t, &ts);
	if (r < 0)
		return r;
	return bt_get(txn, ts, key, klen, val, cap, vlen);
}

int store_put(store_txn *txn, store_table t, const void *key, size_t klen, const void *val,
	      size_t vlen, unsigned flags)
{
	int r = txn_check_write(txn);
	if (r < 0)
		return r;
	if (t < TID_FIRST_USER)
		return -EPERM; /* the store's own trees are not for callers */
	struct tstate *ts;
	r = tab_get(txn, t, &ts);
	if (r < 0)
		return r;
	return bt_put(txn, ts, key, klen, val, vlen, flags);
}

int store_del(store_txn *txn, store_table t, const void *key, size_t klen)
{
	int r = txn_check_write(txn);
	if (r < 0)
		return r;
	if (t < TID_FIRST_USER)
		return -EPERM;
	struct tstate *ts;
	r = tab_get(txn, t, &ts);
	if (r < 0)
		return r;
	return bt_del(txn, ts, key, klen);
}
