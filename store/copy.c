/*
 * copy.c — a consistent single-file copy of one committed state (online
 * backup), taken from a read txn while writers go on.
 *
 * Physical copy: every page the snapshot's bitmaps mark used is copied to the
 * same offset of a new file (free pages stay holes), then a commit slot
 * describing the snapshot is written. The snapshot's pages cannot change
 * while the read txn lives [I1][I2], so the copy is exactly that state.
 *
 * Compact copy: a new image is built from the snapshot's content — blobs
 * first, packed from the start and keeping their ids (tables refer to them),
 * then every table, rows inserted in key order (nearly full pages) — so it is
 * as small as a fresh compaction would make it.
 *
 * Either way the copy is written under a temporary name beside `dest`,
 * made durable, and renamed: no half-written file ever has the final name.
 */
#include "store_int.h"

#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

struct bk {
	store_txn *snap;
	int (*progress)(void *ctx, uint64_t done, uint64_t total);
	void *ctx;
	uint64_t done, total;
	uint64_t last_report;
};

/* Count progress; the caller's callback may stop the copy (-ECANCELED). */
static int bk_tick(struct bk *b, uint64_t n)
{
	b->done += n;
	if (b->progress && (b->done - b->last_report >= (4u << 20) || b->done >= b->total)) {
		b->last_report = b->done;
		if (b->progress(b->ctx, b->done, b->total))
			return -ECANCELED;
	}
	return 0;
}

static int write_all(int fd, const void *buf, size_t len, uint64_t off)
{
	const uint8_t *p = buf;
	while (len) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

/* Copy [off, off+len) of the image to the same offset of fd. */
static int copy_range(store *s, int fd, uint64_t off, uint64_t len, struct bk *b)
{
	static const size_t chunk = 1u << 20;
	uint8_t *buf = malloc(chunk);
	if (!buf)
		return -ENOMEM;
	int r = 0;
	while (len && r == 0) {
		size_t n = (size_t)(len < chunk ? len : chunk);
		r = io_pread(s, buf, n, off);
		if (r == 0)
			r = write_all(fd, buf, n, off);
		off += n;
		len -= n;
		if (r == 0)
			r = bk_tick(b, n);
	}
	free(buf);
	return r;
}

static int physical(struct bk *b, int fd)
{
	store_txn *snap = b->snap;
	store *s = snap->s;
	struct meta *m = snap->meta;
	uint64_t bpb = alloc_bits_per_page(s);
	b->total = m->used_pages << s->page_shift;
	if (ftruncate(fd, (off_t)(m->file_pages << s->page_shift)) < 0)
		return -errno;
	/* runs of used pages, as the snapshot's bitmaps say */
	uint64_t run = 0, start = 0;
	for (uint64_t p = s->first_pg; p <= m->file_pages; p++) {
		bool used = false;
		if (p < m->file_pages) {
			const uint8_t *bits;
			uint64_t pg;
			int r = alloc_bitmap_get(snap, (uint32_t)(p / bpb), &bits, &pg);
			if (r < 0)
				return r;
			uint64_t i = p % bpb;
			used = (bits[i / 8] >> (i % 8)) & 1;
		}
		if (used) {
			if (!run)
				start = p;
			run++;
			continue;
		}
		if (run) {
			int r = copy_range(s, fd, start << s->page_shift, run << s->page_shift, b);
			if (r < 0)
				return r;
			run = 0;
		}
	}
	/* both slots hold the state: the copy has no older commit */
	uint8_t slot[SLOT_SIZE];
	slot_encode(s, m, slot);
	int r = write_all(fd, slot, SLOT_SIZE, SLOT_OFF(0));
	if (r == 0)
		r = write_all(fd, slot, SLOT_SIZE, SLOT_OFF(1));
	return r;
}

/* ---- compact copy ------------------------------------------------------- */

struct cctx {
	struct bk *b;
	store *d;         /* the new image */
	store_txn *w;     /* its write txn */
	struct tstate *t; /* the table being copied (in w) */
	uint64_t since;   /* bytes since the last commit */
};

/* Commit the new image now and then, so that memory stays bounded. */
static int cc_flush(struct cctx *c, bool force)
{
	if (!force && c->since < (32u << 20))
		return 0;
	int r = store_txn_commit(c->w, 0, NULL);
	c->w = NULL;
	if (r == 0)
		r = store_txn_begin(c->d, STORE_TXN_WRITE, &c->w);
	c->since = 0;
	c->t = NULL;
	return r;
}

static int cc_blobs(struct cctx *c)
{
	store_txn *snap = c->b->snap;
	store *s = snap->s;
	store_cursor *cur;
	int r = store_cursor_open(snap, TID_BLOBS, &cur);
	if (r < 0)
		return r;
	uint8_t *buf = NULL;
	size_t cap = 0;
	r = store_cursor_seek(cur, STORE_SEEK_FIRST, NULL, 0);
	while (r == 0) {
		const void *k, *v;
		size_t kl, vl;
		struct store_blob_info bi;
		r = store_cursor_get(cur, &k, &kl, &v, &vl);
		if (r < 0)
			break;
		if (kl != 8 || blob_decode_row(v, vl, get_be64(k), &bi) < 0) {
			r = -EIO;
			break;
		}
		if (blob_is_reservation(&bi)) {
			r = store_cursor_next(cur); /* a move's target: not data */
			continue;
		}
		if (bi.stored > cap) {
			uint8_t *x = realloc(buf, bi.stored);
			if (!x) {
				r = -ENOMEM;
				break;
			}
			buf = x;
			cap = bi.stored;
		}
		struct store_blob_info nb = bi;
		r = bi.stored ? io_pread(s, buf, bi.stored, bi.pgno << s->page_shift) : 0;
		if (r == 0)
			r = alloc_reserve(c->w, bi.npages + 24);
		if (r == 0 && bi.npages)
			r = alloc_run(c->w, bi.npages, UINT64_MAX, &nb.pgno);
		if (r == 0 && bi.npages)
			r = io_pwrite(c->d, buf, bi.stored, nb.pgno << c->d->page_shift);
		if (r == 0) {
			txn_touch(c->w);
			r = blob_index_as(c->w, &nb);
		}
		if (r == 0)
			r = bk_tick(c->b, bi.stored);
		if (r < 0)
			break;
		c->since += bi.stored;
		r = cc_flush(c, false);
		if (r == 0)
			r = store_cursor_next(cur);
	}
	store_cursor_close(cur);
	free(buf);
	if (r == -ENOENT)
		r = 0;
	/* ids keep counting from where the source was */
	if (r == 0 && c->w->meta->next_blob_id < snap->meta->next_blob_id)
		c->w->meta->next_blob_id = snap->meta->next_blob_id;
	return r;
}

/* Rows of one leaf page, in order, into the table of the new image. */
static int cc_page(void *ctx, uint64_t pgno, const uint8_t *p, int level)
{
	struct cctx *c = ctx;
	(void)pgno;
	if (level != 0)
		return 0;
	for (unsigned i = 0; i < pg_nkeys(p); i++) {
		const uint8_t *k, *v;
		size_t kl, vl;
		bool ovf;
		leaf_kv(pg_cell(p, i), &k, &kl, &v, &vl, &ovf);
		int r;
		if (ovf)
			r = bt_put_overflow_ref(c->w, c->t, k, kl, get64(v), vl);
		else
			r = bt_put(c->w, c->t, k, kl, v, vl, 0);
		if (r < 0)
			return r;
		c->since += kl + (ovf ? 16 : vl) + 8;
		r = bk_tick(c->b, kl + (ovf ? 16 : vl));
		if (r < 0)
			return r;
	}
	return 0;
}

struct table_list {
	char (*names)[STORE_MAX_TABLE_NAME + 1];
	size_t n, cap;
};

static int collect_table(void *ctx, const struct store_table_info *info)
{
	struct table_list *l = ctx;
	if (l->n == l->cap) {
		size_t nc = l->cap ? 2 * l->cap : 16;
		void *x = realloc(l->names, nc * sizeof(*l->names));
		if (!x)
			return -ENOMEM;
		l->names = x;
		l->cap = nc;
	}
	snprintf(l->names[l->n++], STORE_MAX_TABLE_NAME + 1, "%s", info->name);
	return 0;
}

static int cc_tables(struct cctx *c)
{
	store_txn *snap = c->b->snap;
	struct table_list l = {0};
	int r = store_table_list(snap, collect_table, &l);
	for (size_t i = 0; r == 0 && i < l.n; i++) {
		store_table sid, did;
		r = store_table_open(snap, l.names[i], &sid);
		if (r == 0)
			r = store_table_create(c->w, l.names[i], &did);
		struct tstate *st = NULL;
		if (r == 0)
			r = tab_get(snap, sid, &st);
		if (r == 0)
			r = tab_get(c->w, did, &c->t);
		if (r < 0)
			break;
		struct bt_visit v = {.page = cc_page, .ctx = c};
		r = bt_walk(snap, st, &v);
		if (r == 0 && v.errors)
			r = -EIO;
		/* a table is copied within one txn (its rows stay in memory until
		 * then); commit between tables */
		if (r == 0)
			r = cc_flush(c, true);
	}
	free(l.names);
	return r;
}

static int compact_copy(struct bk *b, const char *tmp)
{
	store_txn *snap = b->snap;
	store *s = snap->s;
	b->total = snap->meta->blob_stored + (snap->meta->tree_pages << s->page_shift);
	struct store_options o = {.page_size = s->page_size, .log = s->log, .log_ctx = s->log_ctx};
	struct cctx c = {.b = b};
	int r = store_open(tmp, STORE_CREATE | STORE_OVERWRITE | STORE_NOLOCK, &o, &c.d);
	if (r < 0)
		return r;
	chmod(tmp, 0600); /* a copy of everything: readable by its owner only */
	memcpy(c.d->uuid, s->uuid, 16); /* the same filesystem */
	r = store_txn_begin(c.d, STORE_TXN_WRITE, &c.w);
	if (r == 0)
		r = cc_blobs(&c);
	if (r == 0)
		r = cc_tables(&c);
	if (r == 0) {
		/* what is left of the last growth step goes: as small as can be */
		r = store_txn_commit(c.w, STORE_COMMIT_DURABLE, NULL);
		c.w = NULL;
		uint64_t cut;
		if (r == 0)
			r = store_txn_begin(c.d, STORE_TXN_WRITE, &c.w);
		if (r == 0)
			r = store_shrink(c.w, &cut);
		if (r == 0) {
			r = store_txn_commit(c.w, STORE_COMMIT_DURABLE, NULL);
			c.w = NULL;
		}
	}
	if (c.w)
		store_txn_abort(c.w);
	int r2 = store_close(c.d);
	return r < 0 ? r : r2;
}

int store_backup(store_txn *snap, const char *dest, unsigned flags,
		 int (*progress)(void *ctx, uint64_t done, uint64_t total), void *ctx)
{
	if (snap->write)
		return -EINVAL; /* a snapshot: a read txn */
	store *s = snap->s;
	size_t dl = strlen(dest);
	char *tmp = malloc(dl + 32);
	char *dir = strdup(dest);
	if (!tmp || !dir) {
		free(tmp);
		free(dir);
		return -ENOMEM;
	}
	snprintf(tmp, dl + 32, "%s.partial-%d", dest, (int)getpid());
	struct bk b = {.snap = snap, .progress = progress, .ctx = ctx};
	int r = 0, fd = -1;
	if (flags & STORE_BACKUP_COMPACT) {
		r = compact_copy(&b, tmp);
	} else {
		fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0)
			r = -errno;
		if (r == 0)
			r = physical(&b, fd);
		if (r == 0 && fdatasync(fd) < 0)
			r = -errno;
		if (fd >= 0 && close(fd) < 0 && r == 0)
			r = -errno;
	}
	if (r == 0 && rename(tmp, dest) < 0)
		r = -errno;
	if (r == 0) {
		/* the new name too must survive a crash */
		int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			fsync(dfd);
			close(dfd);
		}
		if (progress)
			progress(ctx, b.total, b.total);
	} else {
		unlink(tmp);
		if (r != -ECANCELED)
			store_logf(s, STORE_LOG_ERR, "backup to %s failed: %s", dest, strerror(-r));
	}
	free(tmp);
	free(dir);
	return r;
}
