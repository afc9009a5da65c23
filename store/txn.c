/*
 * txn.c — transactions: the single writer, snapshot readers, commit and sync.
 *
 * Commit of a write txn (store_txn_commit), the order that makes it atomic:
 *
 *   1. tables:    checksums of dirty pages bottom-up; changed roots into the
 *                 catalog; the system trees' roots into the new meta   [I3]
 *   2. allocator: dirty bitmap and index pages finalised              [I5]
 *   3. write:     every dirty page, sorted and coalesced, with pwrite;
 *                 none of them overwrites a page that the durable commit
 *                 or a live snapshot can reach                        [I1][I2]
 *   4. publish:   the new meta becomes `latest`; new txns see it
 *   5. pending:   pages the txn freed wait for [I2] before reuse
 *   6. (DURABLE)  store_sync(): fdatasync, then write the slot that does NOT
 *                 hold the durable commit and make that write durable
 *                 (pwritev2 RWF_DSYNC, or write + fdatasync)           [I6]
 *
 * A non-durable commit stops after 5: it is atomic and visible, and a crash
 * returns to the last durable commit, whose slot is untouched. store_sync()
 * runs without the writer lock, so a new write txn proceeds while an older
 * commit is being made durable; syncs queue on sync_lock and a sync that
 * finds its commit already durable returns at once (group commit).
 *
 * After an I/O error while writing (3) or syncing (6) the store enters its
 * error state: the previous state stays committed, later write txns fail
 * with -EIO, readers go on. Close and reopen to recover.
 */
#include "store_int.h"

#include <stdio.h>
#include <stdlib.h>

static int sync_meta(store *s, struct meta *m);

struct meta *meta_get(store *s)
{
	pthread_mutex_lock(&s->meta_lock);
	struct meta *m = s->latest;
	atomic_fetch_add(&m->refs, 1);
	pthread_mutex_unlock(&s->meta_lock);
	return m;
}

void meta_put(struct meta *m)
{
	if (m && atomic_fetch_sub(&m->refs, 1) == 1)
		free(m);
}

uint64_t readers_oldest(store *s, uint64_t *count)
{
	uint64_t oldest = UINT64_MAX, n = 0;
	pthread_mutex_lock(&s->meta_lock);
	for (struct reader *r = s->readers.next; r != &s->readers; r = r->next) {
		if (r->txnid < oldest)
			oldest = r->txnid;
		n++;
	}
	pthread_mutex_unlock(&s->meta_lock);
	if (count)
		*count = n;
	return oldest;
}

void txn_touch(store_txn *txn)
{
	txn->modcount++;
}

int txn_check_write(store_txn *txn)
{
	if (!txn->write)
		return -EBADF;
	if (txn->failed)
		return -EIO;
	return 0;
}

int store_txn_begin(store *s, unsigned flags, store_txn **out)
{
	store_txn *txn = calloc(1, sizeof(*txn));
	if (!txn)
		return -ENOMEM;
	txn->s = s;
	pthread_mutex_init(&txn->tabs_lock, NULL);
	if (!(flags & STORE_TXN_WRITE)) {
		pthread_mutex_lock(&s->meta_lock);
		txn->meta = s->latest;
		atomic_fetch_add(&txn->meta->refs, 1);
		txn->rd.txnid = txn->meta->txnid;
		txn->rd.next = s->readers.next;
		txn->rd.prev = &s->readers;
		s->readers.next->prev = &txn->rd;
		s->readers.next = &txn->rd;
		s->nreaders++;
		pthread_mutex_unlock(&s->meta_lock);
		for (int i = 0; i < NSYS; i++) {
			txn->sys[i].id = (store_table)i;
			txn->sys[i].loaded = true;
			txn->sys[i].r = txn->meta->sys[i];
		}
		*out = txn;
		return 0;
	}
	if (s->flags & STORE_RDONLY) {
		free(txn);
		return -EROFS;
	}
	if (flags & STORE_TXN_TRYWRITE) {
		if (pthread_mutex_trylock(&s->write_lock) != 0) {
			free(txn);
			return -EBUSY;
		}
	} else {
		pthread_mutex_lock(&s->write_lock);
	}
	if (atomic_load(&s->error)) {
		pthread_mutex_unlock(&s->write_lock);
		free(txn);
		return -EIO;
	}
	txn->write = true;
	txn->meta = malloc(sizeof(*txn->meta));
	if (!txn->meta) {
		pthread_mutex_unlock(&s->write_lock);
		free(txn);
		return -ENOMEM;
	}
	pthread_mutex_lock(&s->meta_lock);
	*txn->meta = *s->latest;
	pthread_mutex_unlock(&s->meta_lock);
	atomic_store(&txn->meta->refs, 1);
	txn->meta->txnid++;
	for (int i = 0; i < NSYS; i++) {
		txn->sys[i].id = (store_table)i;
		txn->sys[i].loaded = true;
		txn->sys[i].r = txn->meta->sys[i];
	}
	s->writer = txn;
	alloc_txn_begin(txn);
	*out = txn;
	return 0;
}

bool store_txn_is_write(const store_txn *txn)
{
	return txn->write;
}

uint64_t store_txn_id(const store_txn *txn)
{
	return txn->meta->txnid;
}

static void end_read(store_txn *txn)
{
	store *s = txn->s;
	pthread_mutex_lock(&s->meta_lock);
	txn->rd.prev->next = txn->rd.next;
	txn->rd.next->prev = txn->rd.prev;
	s->nreaders--;
	pthread_mutex_unlock(&s->meta_lock);
	meta_put(txn->meta);
	tab_txn_free(txn);
	free(txn);
}

static void free_dirty(store_txn *txn)
{
	for (size_t i = 0; i < txn->dpcap; i++)
		if (txn->dp[i].pgno)
			page_free_buf(txn->s, txn->dp[i].buf);
	free(txn->dp);
	txn->dp = NULL;
	txn->dpcap = txn->ndp = 0;
}

static void end_write(store_txn *txn, bool committed)
{
	store *s = txn->s;
	if (!committed)
		alloc_txn_abort(txn);
	free_dirty(txn);
	tab_txn_free(txn);
	if (!committed)
		free(txn->meta);
	s->writer = NULL;
	pthread_mutex_unlock(&s->write_lock);
	free(txn);
}

void store_txn_abort(store_txn *txn)
{
	if (!txn)
		return;
	if (!txn->write)
		end_read(txn);
	else
		end_write(txn, false);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Step 3: write the dirty pages in address order, coalescing neighbours. */
static int write_dirty(store_txn *txn)
{
	store *s = txn->s;
	if (!txn->ndp)
		return 0;
	uint64_t *pg = malloc(txn->ndp * sizeof(*pg));
	if (!pg)
		return -ENOMEM;
	size_t n = 0;
	for (size_t i = 0; i < txn->dpcap; i++)
		if (txn->dp[i].pgno)
			pg[n++] = txn->dp[i].pgno;
	qsort(pg, n, sizeof(*pg), cmp_u64);
	const size_t max_run = 256;
	uint8_t *stage = NULL;
	int r = 0;
	for (size_t i = 0; i < n && r == 0;) {
		size_t j = i + 1;
		while (j < n && pg[j] == pg[j - 1] + 1 && j - i < max_run)
			j++;
		if (j - i == 1) {
			r = io_pwrite(s, dirty_find(txn, pg[i]), s->page_size,
				      pg[i] << s->page_shift);
		} else {
			if (!stage && !(stage = malloc(max_run * (size_t)s->page_size))) {
				r = -ENOMEM;
				break;
			}
			for (size_t k = i; k < j; k++)
				memcpy(stage + (k - i) * s->page_size, dirty_find(txn, pg[k]),
				       s->page_size);
			r = io_pwrite(s, stage, (j - i) * s->page_size, pg[i] << s->page_shift);
		}
		if (r == 0)
			for (size_t k = i; k < j; k++)
				pager_set_verified(s, pg[k], true);
		i = j;
	}
	free(stage);
	free(pg);
	return r;
}

int store_txn_commit(store_txn *txn, unsigned flags, uint64_t *txnid)
{
	if (!txn)
		return -EINVAL;
	if (!txn->write) {
		if (txnid)
			*txnid = txn->meta->txnid;
		end_read(txn);
		return 0;
	}
	store *s = txn->s;
	if (txn->failed || txn->nwriters) {
		store_logf(s, STORE_LOG_ERR,
			   txn->failed ? "commit refused: an operation failed half-way in this txn"
				       : "commit refused: a blob writer is still open");
		end_write(txn, false);
		return -EIO;
	}
	int r = tab_finalize_all(txn);
	if (r == 0)
		r = alloc_txn_finalize(txn);
	if (r == 0)
		r = write_dirty(txn);
	if (r < 0) {
		if (r == -EIO || r == -ENOSPC || r == -EDQUOT || r == -EROFS)
			atomic_store(&s->error, 1);
		store_logf(s, STORE_LOG_ERR, "commit %llu failed: %s",
			   (unsigned long long)txn->meta->txnid, strerror(-r));
		end_write(txn, false);
		return r;
	}
	struct meta *m = txn->meta;
	uint64_t id = m->txnid;
	if (flags & STORE_COMMIT_DURABLE) {
		/* durable before visible: a commit whose sync fails is never seen */
		pthread_mutex_lock(&s->sync_lock);
		r = sync_meta(s, m);
		pthread_mutex_unlock(&s->sync_lock);
		if (r < 0) {
			end_write(txn, false);
			return r;
		}
	}
	pthread_mutex_lock(&s->meta_lock);
	struct meta *old = s->latest;
	s->latest = m;
	pthread_mutex_unlock(&s->meta_lock);
	meta_put(old);
	alloc_txn_committed(txn);
	alloc_publish(s);
	end_write(txn, true);
	if (txnid)
		*txnid = id;
	return 0;
}

/*
 * [I6] Make state m durable: its pages (already written), then the slot that
 * does not hold the durable commit, each followed by fdatasync. Called with
 * sync_lock held.
 */
static int sync_meta(store *s, struct meta *m)
{
	if (atomic_load(&s->error))
		return -EIO;
	int r = io_sync(s);
	if (r < 0)
		goto fail;
	uint8_t slot[SLOT_SIZE];
	slot_encode(s, m, slot);
	int target = 1 - s->slot_cur;
	r = io_pwrite_durable(s, slot, SLOT_SIZE, SLOT_OFF(target));
	if (r < 0)
		goto fail;
	s->slot_cur = target;
	s->slot_csum[target] = get64(slot + SLOT_SIZE - 8);
	atomic_store(&s->durable_txnid, m->txnid);
	return 0;
fail:
	atomic_store(&s->error, 1);
	store_logf(s, STORE_LOG_ERR, "making commit %llu durable failed: %s",
		   (unsigned long long)m->txnid, strerror(-r));
	return r;
}

int store_sync(store *s, uint64_t txnid)
{
	if (s->flags & STORE_RDONLY)
		return 0;
	if (txnid && atomic_load(&s->durable_txnid) >= txnid)
		return 0;
	pthread_mutex_lock(&s->sync_lock);
	struct meta *m = meta_get(s);
	int r = 0;
	if (atomic_load(&s->durable_txnid) < (txnid ? txnid : m->txnid))
		r = sync_meta(s, m);
	pthread_mutex_unlock(&s->sync_lock);
	meta_put(m);
	return r;
}

uint64_t store_last_txnid(store *s)
{
	pthread_mutex_lock(&s->meta_lock);
	uint64_t id = s->latest->txnid;
	pthread_mutex_unlock(&s->meta_lock);
	return id;
}

uint64_t store_durable_txnid(store *s)
{
	return atomic_load(&s->durable_txnid);
}

int store_txn_reserve(store_txn *txn, uint64_t bytes)
{
	int r = txn_check_write(txn);
	if (r < 0)
		return r;
	uint64_t pages = (bytes + txn->s->page_size - 1) >> txn->s->page_shift;
	return alloc_reserve(txn, pages);
}

int store_txn_reserve_free(store_txn *txn, uint64_t bytes)
{
	int r = txn_check_write(txn);
	if (r < 0)
		return r;
	uint64_t pages = (bytes + txn->s->page_size - 1) >> txn->s->page_shift;
	return alloc_reserve_free(txn, pages);
}
