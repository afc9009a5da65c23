/*
 * measure.c — the figures compaction decides on and users read: the store's
 * space statistics of the latest commit, and, on request, the layout of file
 * data (files, chunks, and how many files are not laid out in one run).
 */
#include "compact_int.h"

#include <stdlib.h>

struct layout_ctx {
	struct compact *c;
	store_txn *txn;
	struct compact_measure *m;
};

static int one_file(void *ctx, uint64_t ino)
{
	struct layout_ctx *l = ctx;
	uint64_t *ids;
	size_t n;
	int r = l->c->h.file_blobs(l->c->h.ctx, ino, &ids, &n);
	if (r == -ENOENT)
		return 0; /* deleted meanwhile */
	if (r < 0)
		return r;
	uint64_t end = 0, runs = 0, chunks = 0;
	for (size_t i = 0; i < n; i++) {
		struct store_blob_info b;
		if (store_blob_stat(l->txn, ids[i], &b) < 0 || !b.npages)
			continue; /* empty, or not committed yet */
		chunks++;
		if (b.pgno != end)
			runs++;
		end = b.pgno + b.npages;
	}
	free(ids);
	if (chunks) {
		l->m->files++;
		l->m->chunks += chunks;
		l->m->runs += runs;
		if (runs > 1)
			l->m->fragmented_files++;
	}
	return 0;
}

int compact_measure(struct compact *c, bool layout, struct compact_measure *m)
{
	memset(m, 0, sizeof(*m));
	store_txn *txn;
	int r = store_txn_begin(c->h.s, STORE_TXN_READ, &txn);
	if (r < 0)
		return r;
	r = store_stats(txn, &m->st);
	if (r == 0 && layout && c->h.each_file && c->h.file_blobs) {
		struct layout_ctx l = {.c = c, .txn = txn, .m = m};
		r = c->h.each_file(c->h.ctx, one_file, &l);
	}
	store_txn_abort(txn);
	return r;
}
