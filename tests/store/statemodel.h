/*
 * statemodel.h — a model of a whole store state for the crash, corruption
 * and concurrency tests: rows of several tables and a table of blobs, with a
 * snapshot of the full contents per commit (by txn id), a random workload
 * that changes store and model together, and a check that compares what a
 * txn sees with a snapshot.
 *
 * Layout in the store: tables "data-0".."data-5" map a key number k to a
 * value of vlen pattern bytes (key = 8 bytes big-endian k + k % 23 pattern
 * bytes); table "blobs" maps a blob id (8 bytes big-endian) to 16 bytes
 * (length, seed and refcount of that blob).
 */
#ifndef SLATEFS_STATEMODEL_H
#define SLATEFS_STATEMODEL_H

#include "storetest.h"

#define SM_NDATA    6
#define SM_BLOBT    15           /* model table number of "blobs" */
#define SM_BUF_SIZE (512 * 1024) /* more than the largest value or blob */

struct sm_row {
	uint32_t table;
	uint32_t vlen; /* data: value length; blobs: blob length */
	uint64_t key;  /* data: key number; blobs: blob id */
	uint32_t vseed;
	uint32_t refs; /* blobs only */
};

struct sm_snap {
	uint64_t txnid;
	uint32_t tables; /* bit i: data-i exists */
	struct sm_row *rows;
	size_t n;
};

struct sm {
	struct sm_row *rows; /* sorted by (table, key) */
	size_t n, cap;
	uint32_t tables;
	uint64_t blob_bytes; /* logical bytes of live blobs */
	struct sm_snap *snaps;
	size_t nsnaps, capsnaps;
};

void sm_free(struct sm *m);
/** Record the model's contents as the snapshot of txnid (replacing one). */
void sm_snap_take(struct sm *m, uint64_t txnid);
struct sm_snap *sm_snap_find(struct sm *m, uint64_t txnid);
/** Make the working model equal to a snapshot (after an abort). */
void sm_restore(struct sm *m, const struct sm_snap *sn);

/** Limits the random workload keeps to (rows, blob bytes, largest blob). */
struct sm_limits {
	size_t max_rows;
	uint64_t max_blob_bytes;
	uint32_t max_blob;
	uint32_t max_value;
	bool keep_data0; /* never drop data-0 */
};

/** A workload writing through one write txn at a time. */
struct sm_wl {
	struct tu_rng rng;
	struct sm *m;
	struct sm_limits lim;
	store *s;
	store_txn *w;
	store_table h[16];
	uint64_t next_key;
	uint32_t next_seed;
	uint8_t *buf; /* SM_BUF_SIZE */
	unsigned creates, drops, blobs_put;
};

/** Create "blobs" and "data-0" in w->w (the model's first commit). */
void sm_wl_init_tables(struct sm_wl *w);
/** Open the handles of every table the model has, through txn. */
void sm_wl_handles(struct sm_wl *w, store_txn *txn);
/** Put n new rows of vlen bytes into data table t (which must exist). */
void sm_wl_fill(struct sm_wl *w, uint32_t t, unsigned n, uint32_t vlen);
/** One random change (row put/delete, blob put/share/delete, table create/drop). */
void sm_wl_random_op(struct sm_wl *w);

/**
 * Compare everything txn sees with snapshot sn: table list, every row, every
 * blob (stat and bytes). Wrong data always fails the test. With tolerant, an
 * -EIO from the store is counted (and that table or blob skipped) instead of
 * failing. @return the number of -EIO met.
 */
unsigned sm_check(store_txn *txn, const struct sm_snap *sn, bool tolerant, const char *what);

#endif /* SLATEFS_STATEMODEL_H */
