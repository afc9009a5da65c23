/*
 * defrag.c — blob defragmentation of one file: lay its chunks out one after
 * another in offset order, so that a sequential read of the file is a
 * sequential read of the image. The chunks move to the lowest free run that
 * holds them all (in segments of SEG_CHUNKS chunks for large files); when
 * the image has no such run, to a new run at its end — the image grows by
 * the file's size within max_size and the disk's free space (else ENOSPC,
 * nothing moved), and a later compaction pass gives the old homes back.
 */
#include "compact_int.h"

#include <stdlib.h>

enum { SEG_CHUNKS = 256 };

/* Layout of a file's blobs in the state txn sees: total pages, runs. Empty
 * blobs and blobs not (yet) committed are left out of ids. */
static int file_layout(store_txn *txn, uint64_t *ids, size_t *n, uint64_t *pages, uint64_t *runs)
{
	size_t k = 0;
	uint64_t end = 0;
	*pages = 0;
	*runs = 0;
	for (size_t i = 0; i < *n; i++) {
		struct store_blob_info b;
		int r = store_blob_stat(txn, ids[i], &b);
		if (r == -ENOENT)
			continue;
		if (r < 0)
			return r;
		if (!b.npages)
			continue;
		if (b.pgno != end)
			(*runs)++;
		end = b.pgno + b.npages;
		*pages += b.npages;
		ids[k++] = ids[i];
	}
	*n = k;
	return 0;
}

static int runs_of(struct compact *c, uint64_t ino, uint64_t *chunks, uint64_t *runs)
{
	uint64_t *ids;
	size_t n;
	int r = c->h.file_blobs(c->h.ctx, ino, &ids, &n);
	if (r < 0)
		return r;
	store_txn *txn;
	r = store_txn_begin(c->h.s, STORE_TXN_READ, &txn);
	uint64_t pages;
	if (r == 0) {
		r = file_layout(txn, ids, &n, &pages, runs);
		store_txn_abort(txn);
	}
	*chunks = n;
	free(ids);
	return r;
}

int compact_defrag_file(struct compact *c, uint64_t ino, uint64_t *chunks, uint64_t *runs_before,
			uint64_t *runs_after, uint64_t *moved)
{
	*moved = 0;
	int r = c->h.sync(c->h.ctx); /* the file's latest data, committed */
	if (r < 0)
		return r;
	r = runs_of(c, ino, chunks, runs_before);
	if (r < 0)
		return r;
	*runs_after = *runs_before;
	if (*runs_before <= 1)
		return 0;
	uint64_t *ids;
	size_t n;
	r = c->h.file_blobs(c->h.ctx, ino, &ids, &n);
	if (r < 0)
		return r;
	store_txn *rt;
	r = store_txn_begin(c->h.s, STORE_TXN_READ, &rt);
	uint64_t pages, runs;
	if (r == 0) {
		r = file_layout(rt, ids, &n, &pages, &runs);
		store_txn_abort(rt);
	}
	for (size_t i = 0; r == 0 && i < n; i += SEG_CHUNKS) {
		size_t cnt = n - i < SEG_CHUNKS ? n - i : SEG_CHUNKS;
		r = compact_move_blobs(c, ids + i, cnt, UINT64_MAX, moved);
		if (r > 0)
			r = 0;
	}
	free(ids);
	if (r < 0)
		return r;
	/* switched in the batch: commit, so that the new layout is what we read */
	r = c->h.sync(c->h.ctx);
	if (r == 0)
		r = runs_of(c, ino, chunks, runs_after);
	return r;
}
