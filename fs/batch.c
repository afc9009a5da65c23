/*
 * batch.c — the write batch, the tree lock and the commit path.
 *
 * All changes go into ONE long-lived store write transaction, "the batch".
 * [L1] sfs->tree, a writer-preferring rwlock, guards it: operations that only
 * read rows hold it shared (the store allows a write txn to be read by many
 * threads while nobody changes it); operations that change rows hold it
 * exclusively, for the rows of one operation only — never across file-data
 * I/O other than the blob writes of a flush, whose compression is done
 * before (store_blob_prepare). On a read-only mount the "batch" is a read
 * txn and writers get EROFS.
 *
 * Commit path. A commit ends the batch (store_txn_commit without DURABLE:
 * atomic, visible), begins the next one and drops the tree lock; the sync
 * (store_sync) then runs outside the lock, so operations go on while the
 * disk works. The commit thread ([L5] sfs->cmu guards its flags) commits
 * every commit= seconds after writing all buffered data [D5]; fsync,
 * fdatasync and fsyncdir commit at once if the batch still holds their
 * change, then wait in store_sync, which callers share: concurrent fsyncs
 * become one commit and one disk flush (group commit) [D3][D4].
 *
 * Durability rules, cited as [Dn] where the code relies on them (the full
 * list is in fs/README.md):
 *   D1 every operation writes its rows in one exclusive section, after
 *      store_txn_reserve() guaranteed the space: a committed state holds
 *      an operation wholly or not at all. If a row change fails half-way
 *      the batch is abandoned and the filesystem refuses further writes
 *      (EIO) rather than commit a half-done operation.
 *   D3 fsync returns 0 only when store_durable_txnid() covers the batch
 *      that holds the inode's last change (sfs_inode.last_txn).
 *   D5 buffered data and changes are durable within commit= seconds.
 *   D6 with -o sync every operation makes its batch durable before it
 *      replies.
 */
#include <stdlib.h>
#include <syslog.h>

#include "sfs.h"

/* pages a row change may copy or split: a path of a deep tree, twice */
enum { ROW_PAGES = 6, OP_PAGES = 4 };
#define PENDING_COMMIT (64ull << 20) /* freed bytes waiting that ask for a commit */

static void batch_break(struct sfs *sfs, int err, const char *what)
{
	if (sfs->broken == 0)
		sfs_log(LOG_ERR,
			"%s failed (%s): the filesystem refuses changes from now on; "
			"unmount and mount again to return to the last durable state",
			what, strerror(-err));
	sfs->broken = -EIO;
	if (sfs->txn) {
		store_txn_abort(sfs->txn);
		sfs->txn = NULL;
	}
	/* keep serving reads from the last commit */
	if (store_txn_begin(sfs->s, STORE_TXN_READ, &sfs->txn) < 0)
		sfs->txn = NULL;
	sfs->txn_dirty = false;
}

static int tx_begin(struct sfs *sfs, unsigned nrows, uint64_t bytes, bool grow)
{
	uint64_t need = ((uint64_t)nrows * ROW_PAGES + OP_PAGES) * store_page_size(sfs->s) + bytes;

	for (int attempt = 0;; attempt++) {
		int r = 0;

		if (sfs->opt.ro)
			return -EROFS;
		/* operations that take space leave the reserve to those that
		   free it: on a full image, rm must still work */
		if (grow)
			r = sfs_space_check(sfs, 0);
		if (r == 0) {
			sfs_rwlock_wr(&sfs->tree);
			if (sfs->broken || !sfs->txn) {
				pthread_rwlock_unlock(&sfs->tree);
				return -EIO;
			}
			sfs->op_changes = 0;
			/* deletes may use the store's reserve for them */
			r = grow ? store_txn_reserve(sfs->txn, need)
				 : store_txn_reserve_free(sfs->txn, need);
			if (r == 0) {
				/* space freed by this batch is reusable only once it is
				 * durable: under delete/write churn commit early rather
				 * than grow the image by commit= seconds of writes */
				if (store_pending_bytes(sfs->txn) > PENDING_COMMIT)
					sfs_batch_commit_soon(sfs);
				return 0;
			}
			pthread_rwlock_unlock(&sfs->tree);
		}
		if (r != -ENOSPC || attempt > 0)
			return r;
		/* space freed by this batch becomes reusable once it is durable */
		sfs_reclaim_run(sfs);
		r = sfs_sync(sfs, 0);
		if (r < 0)
			return r;
	}
}

int sfs_tx_begin(struct sfs *sfs, unsigned nrows, uint64_t bytes)
{
	return tx_begin(sfs, nrows, bytes, true);
}

int sfs_tx_begin_free(struct sfs *sfs, unsigned nrows)
{
	return tx_begin(sfs, nrows, 0, false);
}

int sfs_tx_reserve(struct sfs *sfs, unsigned nrows)
{
	return store_txn_reserve(sfs->txn, (uint64_t)nrows * ROW_PAGES * store_page_size(sfs->s));
}

void sfs_tx_end(struct sfs *sfs, int err)
{
	if (sfs->op_changes) {
		if (err < 0)
			batch_break(sfs, err, "an operation");
		else
			sfs->txn_dirty = true;
	}
	sfs->op_changes = 0;
	pthread_rwlock_unlock(&sfs->tree);
}

int sfs_rd_begin(struct sfs *sfs)
{
	sfs_rwlock_rd(&sfs->tree);
	if (!sfs->txn) {
		pthread_rwlock_unlock(&sfs->tree);
		return -EIO;
	}
	return 0;
}

void sfs_rd_end(struct sfs *sfs)
{
	pthread_rwlock_unlock(&sfs->tree);
}

uint64_t sfs_txid(struct sfs *sfs)
{
	return store_txn_id(sfs->txn);
}

void sfs_touch(struct sfs *sfs, struct sfs_inode *i)
{
	i->last_txn = store_txn_id(sfs->txn);
}

int sfs_put(struct sfs *sfs, store_table t, const void *k, size_t kl, const void *v, size_t vl,
	    unsigned flags)
{
	int r = store_put(sfs->txn, t, k, kl, v, vl, flags);
	if (r == 0)
		sfs->op_changes++;
	return r;
}

int sfs_del(struct sfs *sfs, store_table t, const void *k, size_t kl)
{
	int r = store_del(sfs->txn, t, k, kl);
	if (r == 0)
		sfs->op_changes++;
	return r;
}

int sfs_blob_put(struct sfs *sfs, const store_blob_prep *p, uint64_t *id)
{
	int r = store_blob_put_prepared(sfs->txn, p, id);
	if (r == 0)
		sfs->op_changes++;
	return r;
}

int sfs_blob_unref(struct sfs *sfs, uint64_t id)
{
	int r = store_blob_delete(sfs->txn, id);
	if (r == 0)
		sfs->op_changes++;
	return r;
}

int sfs_blob_ref(struct sfs *sfs, uint64_t id)
{
	int r = store_blob_share(sfs->txn, id);
	if (r == 0)
		sfs->op_changes++;
	return r;
}

/* ---- commits ----------------------------------------------------------------- */

/* Commit the batch and begin the next; tree lock held exclusively. */
static int commit_locked(struct sfs *sfs, uint64_t *id)
{
	int r = store_txn_commit(sfs->txn, 0, id);

	sfs->txn = NULL;
	sfs->commits++;
	if (r < 0) {
		batch_break(sfs, r, "a commit");
		return r;
	}
	sfs->txn_dirty = false;
	r = store_txn_begin(sfs->s, STORE_TXN_WRITE, &sfs->txn);
	if (r < 0) {
		sfs->txn = NULL;
		batch_break(sfs, r, "beginning a batch");
	}
	return 0;
}

int sfs_sync(struct sfs *sfs, uint64_t txid)
{
	uint64_t target;
	int r = 0;

	if (sfs->opt.ro)
		return 0;
	if (txid && txid <= store_durable_txnid(sfs->s))
		return 0;
	sfs_loop_handoff(); /* a commit and a disk flush */
	sfs_rwlock_wr(&sfs->tree);
	if (sfs->broken) {
		pthread_rwlock_unlock(&sfs->tree);
		return -EIO;
	}
	if (txid == 0 || txid >= store_txn_id(sfs->txn)) {
		if (sfs->txn_dirty)
			r = commit_locked(sfs, &target);
		else
			target = store_last_txnid(sfs->s);
	} else {
		target = txid;
	}
	pthread_rwlock_unlock(&sfs->tree);
	if (r < 0)
		return r;
	if (store_durable_txnid(sfs->s) >= target)
		return 0;
	r = store_sync(sfs->s, target);
	sfs->syncs++;
	if (r < 0) {
		sfs_log(LOG_ERR, "sync of commit %llu failed: %s", (unsigned long long)target,
			strerror(-r));
		sfs_rwlock_wr(&sfs->tree);
		batch_break(sfs, r, "a sync");
		pthread_rwlock_unlock(&sfs->tree);
		return -EIO;
	}
	return 0;
}

int sfs_sync_inode(struct sfs *sfs, struct sfs_inode *i)
{
	return sfs_sync(sfs, i->last_txn ? i->last_txn : 0);
}

int sfs_sync_op(struct sfs *sfs, uint64_t txid)
{
	if (!sfs->opt.sync)
		return 0;
	return sfs_sync(sfs, txid);
}

int sfs_batch_sync_all(struct sfs *sfs)
{
	int r = sfs_data_flush_all(sfs);
	int r2 = sfs_sync(sfs, 0);
	return r < 0 ? r : r2;
}

/* ---- the commit thread [L5] --------------------------------------------------- */

void sfs_batch_commit_soon(struct sfs *sfs)
{
	if (!sfs->cthread_started)
		return;
	pthread_mutex_lock(&sfs->cmu);
	if (!sfs->cnow) {
		sfs->cnow = true;
		sfs->ckick = true;
		pthread_cond_signal(&sfs->ccv);
	}
	pthread_mutex_unlock(&sfs->cmu);
}

void sfs_batch_kick(struct sfs *sfs)
{
	if (!sfs->cthread_started)
		return;
	pthread_mutex_lock(&sfs->cmu);
	sfs->ckick = true;
	pthread_cond_signal(&sfs->ccv);
	pthread_mutex_unlock(&sfs->cmu);
}

static void *committer(void *arg)
{
	struct sfs *sfs = arg;
	struct timespec next;

	clock_gettime(CLOCK_MONOTONIC, &next);
	next.tv_sec += sfs->opt.commit_s;
	pthread_mutex_lock(&sfs->cmu);
	while (!sfs->cstop) {
		struct timespec now;

		if (!sfs->ckick)
			pthread_cond_timedwait(&sfs->ccv, &sfs->cmu, &next);
		sfs->ckick = false;
		bool early = sfs->cnow;
		sfs->cnow = false;
		if (sfs->cstop)
			break;
		pthread_mutex_unlock(&sfs->cmu);

		sfs_reclaim_run(sfs);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (early) {
			sfs_sync(sfs, 0); /* what the batch freed becomes reusable */
		} else if (now.tv_sec > next.tv_sec ||
			   (now.tv_sec == next.tv_sec && now.tv_nsec >= next.tv_nsec)) {
			sfs_data_flush_all(sfs); /* [D5] */
			sfs_sync(sfs, 0);
			clock_gettime(CLOCK_MONOTONIC, &next);
			next.tv_sec += sfs->opt.commit_s;
		} else if (sfs_data_pressure(sfs)) {
			sfs_data_flush_all(sfs); /* memory pressure */
		}
		pthread_mutex_lock(&sfs->cmu);
	}
	pthread_mutex_unlock(&sfs->cmu);
	return NULL;
}

int sfs_batch_init(struct sfs *sfs)
{
	pthread_rwlockattr_t ra;
	pthread_condattr_t ca;
	int r;

	pthread_rwlockattr_init(&ra);
	pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&sfs->tree, &ra);
	pthread_rwlockattr_destroy(&ra);
	pthread_mutex_init(&sfs->cmu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&sfs->ccv, &ca);
	pthread_condattr_destroy(&ca);

	r = store_txn_begin(sfs->s, sfs->opt.ro ? STORE_TXN_READ : STORE_TXN_WRITE, &sfs->txn);
	if (r < 0)
		return r;
	return 0;
}

int sfs_batch_start_thread(struct sfs *sfs)
{
	if (sfs->opt.ro)
		return 0;
	int r = pthread_create(&sfs->cthread, NULL, committer, sfs);
	if (r != 0)
		return -r;
	sfs->cthread_started = true;
	return 0;
}

void sfs_batch_stop(struct sfs *sfs)
{
	if (sfs->cthread_started) {
		pthread_mutex_lock(&sfs->cmu);
		sfs->cstop = true;
		pthread_cond_signal(&sfs->ccv);
		pthread_mutex_unlock(&sfs->cmu);
		pthread_join(sfs->cthread, NULL);
		sfs->cthread_started = false;
	}
}

/* End the batch at unmount: commit what is left, durably. -EIO also when
   the chunk buffers' figures do not match the buffers left. */
int sfs_batch_close(struct sfs *sfs)
{
	int r = 0;
	bool acc = sfs_data_accounts_ok(sfs); /* every buffer is flushed or kept */

	sfs_rwlock_wr(&sfs->tree);
	if (sfs->txn) {
		if (!sfs->opt.ro && !sfs->broken && sfs->txn_dirty)
			r = store_txn_commit(sfs->txn, STORE_COMMIT_DURABLE, NULL);
		else
			store_txn_abort(sfs->txn);
		sfs->txn = NULL;
	}
	pthread_rwlock_unlock(&sfs->tree);
	if (r < 0)
		sfs_log(LOG_ERR, "final commit failed: %s", strerror(-r));
	return r < 0 ? r : (sfs->broken || !acc ? -EIO : 0);
}
