/*
 * compaction_host.c — what the filesystem lends the compactor (compaction/):
 * steps inside the batch under the tree lock, durable commits, and the
 * layout of a file's data (its chunk rows, in offset order). Also starting
 * and stopping the compactor with the mount, and the figures GET_STATS
 * reports. The daemon serves one mount, so the compactor is a file static
 * [protected by its own lock; set at mount, cleared at unmount].
 */
#include <stdlib.h>
#include <syslog.h>

#include "compact.h"
#include "control.h"
#include "sfs.h"

static struct compact *the_compactor;

/* Compaction never grows the image (it moves into free space below), so its
 * steps are "operations that free space": they may use the reserve kept
 * for deletes, and still work on a full image. */
static int host_step_begin(void *ctx, uint64_t bytes, store_txn **txn)
{
	struct sfs *sfs = ctx;
	uint64_t rows = 1 + bytes / (6ull * store_page_size(sfs->s));
	int r = sfs_tx_begin_free(sfs, rows > 64 ? 64 : (unsigned)rows);
	if (r < 0)
		return r;
	*txn = sfs->txn;
	return 0;
}

static void host_step_end(void *ctx, int err)
{
	struct sfs *sfs = ctx;
	if (err < 0)
		sfs->op_changes++; /* a change failed half-way: sfs_tx_end breaks the batch */
	else
		sfs->txn_dirty = true; /* compaction changes rows behind sfs_put's back */
	sfs_tx_end(sfs, err);
}

static int host_sync(void *ctx)
{
	return sfs_sync(ctx, 0);
}

/* Blob ids of the chunk rows of ino, in index order (tree lock shared). */
static int host_file_blobs(void *ctx, uint64_t ino, uint64_t **ids, size_t *n)
{
	struct sfs *sfs = ctx;
	size_t cap = 16, k = 0;
	uint64_t *v = malloc(cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	int r = sfs_rd_begin(sfs);
	if (r < 0) {
		free(v);
		return r;
	}
	store_cursor *c = NULL;
	r = store_cursor_open(sfs->txn, sfs->t.chunk, &c);
	uint8_t key[16];
	sfs_key_ino2(key, ino, 0);
	if (r == 0)
		r = store_cursor_seek(c, STORE_SEEK_GE, key, 16);
	while (r == 0) {
		const void *kk, *vv;
		size_t kl, vl;
		r = store_cursor_get(c, &kk, &kl, &vv, &vl);
		if (r < 0 || kl != 16 || sfs_get_be64(kk) != ino)
			break;
		if (vl >= 8) {
			if (k == cap) {
				uint64_t *x = realloc(v, 2 * cap * sizeof(*v));
				if (!x) {
					r = -ENOMEM;
					break;
				}
				v = x;
				cap *= 2;
			}
			v[k++] = sfs_get_le64(vv);
		}
		r = store_cursor_next(c);
	}
	if (c)
		store_cursor_close(c);
	sfs_rd_end(sfs);
	if (r < 0 && r != -ENOENT) {
		free(v);
		return r;
	}
	*ids = v;
	*n = k;
	return 0;
}

/* Every inode that has chunk rows: collected under the lock, then visited. */
static int host_each_file(void *ctx, int (*cb)(void *cbctx, uint64_t ino), void *cbctx)
{
	struct sfs *sfs = ctx;
	size_t cap = 256, n = 0;
	uint64_t *inos = malloc(cap * sizeof(*inos));
	if (!inos)
		return -ENOMEM;
	int r = sfs_rd_begin(sfs);
	if (r < 0) {
		free(inos);
		return r;
	}
	store_cursor *c = NULL;
	r = store_cursor_open(sfs->txn, sfs->t.chunk, &c);
	if (r == 0)
		r = store_cursor_seek(c, STORE_SEEK_FIRST, NULL, 0);
	while (r == 0) {
		const void *kk;
		size_t kl;
		r = store_cursor_get(c, &kk, &kl, NULL, NULL);
		if (r < 0 || kl != 16)
			break;
		uint64_t ino = sfs_get_be64(kk);
		if (n == cap) {
			uint64_t *x = realloc(inos, 2 * cap * sizeof(*inos));
			if (!x) {
				r = -ENOMEM;
				break;
			}
			inos = x;
			cap *= 2;
		}
		inos[n++] = ino;
		/* skip the rest of this file's chunks */
		uint8_t key[16];
		sfs_key_ino2(key, ino, UINT64_MAX);
		r = store_cursor_seek(c, STORE_SEEK_GT, key, 16);
	}
	if (c)
		store_cursor_close(c);
	sfs_rd_end(sfs);
	if (r == -ENOENT)
		r = 0;
	for (size_t i = 0; r == 0 && i < n; i++)
		r = cb(cbctx, inos[i]);
	free(inos);
	return r;
}

int sfs_compaction_start(struct sfs *sfs)
{
	struct compact_host h = {
		.ctx = sfs,
		.s = sfs->s,
		.step_begin = host_step_begin,
		.step_end = host_step_end,
		.sync = host_sync,
		.file_blobs = host_file_blobs,
		.each_file = host_each_file,
	};
	struct compact_config cfg;
	compact_config_default(&cfg);
	cfg.autocompact = sfs->opt.autocompact;
	if (sfs->opt.compact_threshold)
		cfg.threshold_pct = sfs->opt.compact_threshold;
	cfg.rate = sfs->opt.compact_rate;
	int r = compact_start(&h, &cfg, &the_compactor);
	if (r < 0)
		sfs_log(LOG_ERR, "cannot start the compaction thread: %s", strerror(-r));
	return r;
}

void sfs_compaction_stop(struct sfs *sfs)
{
	(void)sfs;
	compact_stop(the_compactor);
	the_compactor = NULL;
}

struct compact *sfs_compactor(struct sfs *sfs)
{
	(void)sfs;
	return the_compactor;
}
