/*
 * inode.c — inode rows and the inode cache: encoding of the `inode` row,
 * loading inodes into the cache, lookup counts and forget, open counts,
 * the dirty list (inodes with buffered data), and orphans — inodes whose
 * last link went while they were still in use, reclaimed when the last
 * reference goes, or at the next mount after a crash [D9].
 *
 * [L4] sfs->imu (the icache mutex) guards the hash table, the dirty list,
 * the reclaim queue and every inode's counts (nlookup, refs, opens, dead,
 * unlinked, on_dirty). It is a leaf lock: nothing else is taken while it is
 * held except sfs->cmu (to wake the commit thread).
 * [L2] inode->attr_mu guards inode->a for readers; a writer of a field also
 * holds the tree lock exclusively (metadata), or the inode's io lock (size
 * and times changed by buffered writes). It is a leaf lock.
 *
 * An inode stays cached while the kernel knows it (nlookup > 0), it is open,
 * an operation holds it, or it has buffered data; every change to its row
 * goes through the cached copy, and rows are only read under the tree lock,
 * so the cache is never stale. Inode numbers are never reused, so the
 * generation is always 0.
 */
#include <stdlib.h>
#include <syslog.h>

#include "sfs.h"

/* ---- the hash table [L4] ------------------------------------------------------ */

static size_t bucket(const struct sfs *sfs, uint64_t ino)
{
	uint64_t h = ino * UINT64_C(0x9E3779B97F4A7C15);
	return (size_t)(h >> 20) & (sfs->hsize - 1);
}

static struct sfs_inode *hfind(struct sfs *sfs, uint64_t ino)
{
	for (struct sfs_inode *i = sfs->htab[bucket(sfs, ino)]; i; i = i->hnext)
		if (i->ino == ino)
			return i;
	return NULL;
}

static void hgrow(struct sfs *sfs)
{
	size_t nsize = sfs->hsize * 2;
	struct sfs_inode **nt = calloc(nsize, sizeof(*nt));
	struct sfs_inode **old = sfs->htab;
	size_t osize = sfs->hsize;

	if (!nt)
		return; /* keep the longer chains */
	sfs->htab = nt;
	sfs->hsize = nsize;
	for (size_t b = 0; b < osize; b++) {
		struct sfs_inode *i = old[b], *n;
		for (; i; i = n) {
			n = i->hnext;
			size_t nb = bucket(sfs, i->ino);
			i->hnext = nt[nb];
			nt[nb] = i;
		}
	}
	free(old);
}

static void hinsert(struct sfs *sfs, struct sfs_inode *i)
{
	if (sfs->hcount >= sfs->hsize * 2)
		hgrow(sfs);
	size_t b = bucket(sfs, i->ino);
	i->hnext = sfs->htab[b];
	sfs->htab[b] = i;
	sfs->hcount++;
}

static void hremove(struct sfs *sfs, struct sfs_inode *i)
{
	struct sfs_inode **pp = &sfs->htab[bucket(sfs, i->ino)];
	for (; *pp; pp = &(*pp)->hnext) {
		if (*pp == i) {
			*pp = i->hnext;
			sfs->hcount--;
			return;
		}
	}
}

int sfs_icache_init(struct sfs *sfs)
{
	sfs->hsize = 4096;
	sfs->htab = calloc(sfs->hsize, sizeof(*sfs->htab));
	if (!sfs->htab)
		return -ENOMEM;
	pthread_mutex_init(&sfs->imu, NULL);
	sfs->dirty_head.dnext = sfs->dirty_head.dprev = &sfs->dirty_head;
	return 0;
}

static struct sfs_inode *inode_alloc(uint64_t ino, const struct sfs_attr *a)
{
	struct sfs_inode *i = calloc(1, sizeof(*i));
	pthread_rwlockattr_t ra;

	if (!i)
		return NULL;
	i->ino = ino;
	i->a = *a;
	i->size_flushed = a->size;
	pthread_mutex_init(&i->attr_mu, NULL);
	pthread_rwlockattr_init(&ra);
	pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&i->io, &ra);
	pthread_rwlockattr_destroy(&ra);
	return i;
}

static void inode_free(struct sfs *sfs, struct sfs_inode *i)
{
	if (i->nbufs)
		sfs_data_free_bufs(sfs, i);
	free(i->bufs);
	pthread_mutex_destroy(&i->attr_mu);
	pthread_rwlock_destroy(&i->io);
	free(i);
}

void sfs_icache_destroy(struct sfs *sfs)
{
	if (!sfs->htab)
		return;
	for (size_t b = 0; b < sfs->hsize; b++) {
		struct sfs_inode *i = sfs->htab[b], *n;
		for (; i; i = n) {
			n = i->hnext;
			inode_free(sfs, i);
		}
	}
	free(sfs->htab);
	sfs->htab = NULL;
	pthread_mutex_destroy(&sfs->imu);
}

static bool maybe_release(struct sfs *sfs, struct sfs_inode *i);

void sfs_icache_drop_kernel_refs(struct sfs *sfs)
{
	pthread_mutex_lock(&sfs->imu);
	for (size_t b = 0; b < sfs->hsize; b++) {
		struct sfs_inode *i = sfs->htab[b], *n;
		for (; i; i = n) {
			n = i->hnext;
			i->nlookup = 0;
			i->opens = 0;
			maybe_release(sfs, i);
		}
	}
	pthread_mutex_unlock(&sfs->imu);
}

/* Free i if nothing holds it any more, or queue it for reclaim [L4 held].
   True if it was queued: the caller runs sfs_reclaim_run() once it holds
   no lock, or wakes the commit thread to do it. */
static bool maybe_release(struct sfs *sfs, struct sfs_inode *i)
{
	if (i->refs || i->nlookup || i->opens || i->on_dirty || i->dead)
		return false;
	if (i->ino == SFS_ROOT_INO)
		return false; /* the kernel's reference on the root is never counted */
	if (i->unlinked) {
		i->dead = true;
		i->rnext = sfs->reclaim;
		sfs->reclaim = i;
		return true;
	}
	hremove(sfs, i);
	inode_free(sfs, i);
	return false;
}

/* ---- getting inodes ---------------------------------------------------------- */

static int load_attr(struct sfs *sfs, uint64_t ino, struct sfs_attr *a)
{
	uint8_t row[SFS_INODE_ROW_FIXED], key[8];
	size_t len = 0;
	int r = store_get(sfs->txn, sfs->t.inode, key, sfs_key_ino(key, ino), row, sizeof(row), &len);

	if (r < 0)
		return r;
	r = sfs_attr_decode(row, len, a);
	if (r < 0)
		sfs_log(LOG_ERR, "inode %llu: malformed row (%zu bytes)", (unsigned long long)ino,
			len);
	return r;
}

int sfs_inode_get(struct sfs *sfs, uint64_t ino, struct sfs_inode **out)
{
	struct sfs_inode *i, *n;
	struct sfs_attr a;
	int r;

	pthread_mutex_lock(&sfs->imu);
	i = hfind(sfs, ino);
	if (i) {
		if (i->dead) {
			pthread_mutex_unlock(&sfs->imu);
			return -ENOENT;
		}
		i->refs++;
		pthread_mutex_unlock(&sfs->imu);
		*out = i;
		return 0;
	}
	pthread_mutex_unlock(&sfs->imu);

	if (!sfs->txn)
		return -EIO;
	r = load_attr(sfs, ino, &a);
	if (r < 0)
		return r;
	n = inode_alloc(ino, &a);
	if (!n)
		return -ENOMEM;
	/* conservative: its last change may be in the open batch */
	n->last_txn = store_txn_id(sfs->txn);

	pthread_mutex_lock(&sfs->imu);
	i = hfind(sfs, ino);
	if (i) {
		/* loaded twice under the same tree lock: both copies agree */
		r = i->dead ? -ENOENT : 0;
		if (r == 0)
			i->refs++;
		pthread_mutex_unlock(&sfs->imu);
		inode_free(sfs, n);
		if (r == 0)
			*out = i;
		return r;
	}
	n->refs = 1;
	n->unlinked = a.nlink == 0;
	hinsert(sfs, n);
	pthread_mutex_unlock(&sfs->imu);
	*out = n;
	return 0;
}

int sfs_inode_grab(struct sfs *sfs, uint64_t ino, struct sfs_inode **out)
{
	struct sfs_inode *i;
	int r;

	pthread_mutex_lock(&sfs->imu);
	i = hfind(sfs, ino);
	if (i && !i->dead) {
		i->refs++;
		pthread_mutex_unlock(&sfs->imu);
		*out = i;
		return 0;
	}
	pthread_mutex_unlock(&sfs->imu);
	r = sfs_rd_begin(sfs);
	if (r < 0)
		return r;
	r = sfs_inode_get(sfs, ino, out);
	sfs_rd_end(sfs);
	return r;
}

struct sfs_inode *sfs_inode_grab_req(fuse_req_t req, uint64_t ino)
{
	struct sfs_inode *i = NULL;
	int r = sfs_inode_grab(sfs_of(req), ino, &i);

	if (r < 0) {
		fuse_reply_err(req, -r);
		return NULL;
	}
	return i;
}

void sfs_inode_put(struct sfs *sfs, struct sfs_inode *i)
{
	if (!i)
		return;
	pthread_mutex_lock(&sfs->imu);
	i->refs--;
	bool queued = maybe_release(sfs, i);
	pthread_mutex_unlock(&sfs->imu);
	if (queued)
		sfs_batch_kick(sfs);
}

int sfs_inode_new(struct sfs *sfs, const struct sfs_attr *a, struct sfs_inode **out)
{
	uint64_t ino;
	struct sfs_inode *n;
	int r = sfs_super_alloc_ino(sfs, &ino);

	if (r < 0)
		return r;
	n = inode_alloc(ino, a);
	if (!n)
		return -ENOMEM;
	n->refs = 1;
	n->last_txn = store_txn_id(sfs->txn);
	pthread_mutex_lock(&sfs->imu);
	hinsert(sfs, n);
	pthread_mutex_unlock(&sfs->imu);
	*out = n;
	return 0;
}

/* ---- counts ---------------------------------------------------------------- */

void sfs_inode_lookup_inc(struct sfs *sfs, struct sfs_inode *i)
{
	pthread_mutex_lock(&sfs->imu);
	i->nlookup++;
	pthread_mutex_unlock(&sfs->imu);
}

void sfs_inode_forget(struct sfs *sfs, uint64_t ino, uint64_t n)
{
	struct sfs_inode *i;

	if (ino == SFS_ROOT_INO)
		return; /* its lookups are not counted */
	pthread_mutex_lock(&sfs->imu);
	i = hfind(sfs, ino);
	if (i) {
		if (i->nlookup < n) {
			sfs_log(LOG_WARNING, "inode %llu: forget %llu > lookups %llu",
				(unsigned long long)ino, (unsigned long long)n,
				(unsigned long long)i->nlookup);
			i->nlookup = 0;
		} else {
			i->nlookup -= n;
		}
		maybe_release(sfs, i);
	}
	pthread_mutex_unlock(&sfs->imu);
}

void sfs_inode_open_inc(struct sfs *sfs, struct sfs_inode *i)
{
	pthread_mutex_lock(&sfs->imu);
	i->opens++;
	pthread_mutex_unlock(&sfs->imu);
}

void sfs_inode_open_dec(struct sfs *sfs, struct sfs_inode *i)
{
	pthread_mutex_lock(&sfs->imu);
	if (i->opens)
		i->opens--;
	maybe_release(sfs, i);
	pthread_mutex_unlock(&sfs->imu);
}

uint32_t sfs_inode_opens(struct sfs *sfs, struct sfs_inode *i)
{
	pthread_mutex_lock(&sfs->imu);
	uint32_t n = i->opens;
	pthread_mutex_unlock(&sfs->imu);
	return n;
}

void sfs_inode_mark_dirty(struct sfs *sfs, struct sfs_inode *i)
{
	pthread_mutex_lock(&sfs->imu);
	if (!i->on_dirty) {
		struct sfs_inode *h = &sfs->dirty_head;
		i->on_dirty = true;
		i->dnext = h;
		i->dprev = h->dprev;
		h->dprev->dnext = i;
		h->dprev = i;
	}
	pthread_mutex_unlock(&sfs->imu);
}

void sfs_inode_clear_dirty(struct sfs *sfs, struct sfs_inode *i)
{
	bool queued = false;

	pthread_mutex_lock(&sfs->imu);
	if (i->on_dirty) {
		i->on_dirty = false;
		i->dprev->dnext = i->dnext;
		i->dnext->dprev = i->dprev;
		i->dnext = i->dprev = NULL;
		queued = maybe_release(sfs, i);
	}
	pthread_mutex_unlock(&sfs->imu);
	if (queued)
		sfs_batch_kick(sfs);
}

size_t sfs_inode_dirty_list(struct sfs *sfs, struct sfs_inode ***arr)
{
	size_t n = 0, k = 0;
	struct sfs_inode *h = &sfs->dirty_head;

	*arr = NULL;
	pthread_mutex_lock(&sfs->imu);
	for (struct sfs_inode *i = h->dnext; i != h; i = i->dnext)
		n++;
	if (n)
		*arr = malloc(n * sizeof(**arr));
	if (*arr) {
		for (struct sfs_inode *i = h->dnext; i != h; i = i->dnext) {
			i->refs++;
			(*arr)[k++] = i;
		}
	}
	pthread_mutex_unlock(&sfs->imu);
	return k;
}

/* ---- attributes --------------------------------------------------------------- */

void sfs_inode_attr(struct sfs_inode *i, struct sfs_attr *a)
{
	pthread_mutex_lock(&i->attr_mu);
	*a = i->a;
	pthread_mutex_unlock(&i->attr_mu);
}

void sfs_inode_stat(struct sfs *sfs, struct sfs_inode *i, struct stat *st)
{
	struct sfs_attr a;
	uint64_t bytes;

	sfs_inode_attr(i, &a);
	memset(st, 0, sizeof(*st));
	st->st_ino = i->ino;
	st->st_mode = a.mode;
	st->st_nlink = a.nlink;
	st->st_uid = a.uid;
	st->st_gid = a.gid;
	st->st_rdev = a.rdev;
	st->st_size = (off_t)a.size;
	st->st_blksize = sfs->chunk_size;
	/* stored bytes, plus what is still buffered (an estimate) */
	bytes = a.blocks + (uint64_t)atomic_load(&i->nbufs_pub) * sfs->chunk_size;
	if (S_ISREG(a.mode) && bytes > a.size && a.blocks <= a.size)
		bytes = a.size;
	st->st_blocks = (blkcnt_t)((bytes + 511) / 512);
	st->st_atim = a.atime;
	st->st_mtim = a.mtime;
	st->st_ctim = a.ctime;
}

void sfs_inode_entry(struct sfs *sfs, struct sfs_inode *i, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = i->ino;
	e->generation = 0;
	sfs_inode_stat(sfs, i, &e->attr);
	e->attr_timeout = sfs->attr_timeout;
	e->entry_timeout = sfs->entry_timeout;
	sfs_inode_lookup_inc(sfs, i);
}

int sfs_inode_read_inline(struct sfs *sfs, uint64_t ino, void *buf, size_t cap, size_t *len)
{
	uint8_t key[8], *row;
	size_t vlen = 0, want = SFS_INODE_ROW_FIXED + cap;
	int r;

	row = malloc(want);
	if (!row)
		return -ENOMEM;
	r = store_get(sfs->txn, sfs->t.inode, key, sfs_key_ino(key, ino), row, want, &vlen);
	if (r == 0) {
		if (vlen < SFS_INODE_ROW_FIXED || vlen > want) {
			r = -EIO;
		} else {
			size_t n = sfs_get_le32(row + 120);
			if (n != vlen - SFS_INODE_ROW_FIXED)
				r = -EIO;
			else {
				memcpy(buf, row + SFS_INODE_ROW_FIXED, n);
				*len = n;
			}
		}
		if (r < 0)
			sfs_log(LOG_ERR, "inode %llu: inline data does not match its row",
				(unsigned long long)ino);
	}
	free(row);
	return r;
}

int sfs_inode_write(struct sfs *sfs, struct sfs_inode *i, const void *inl, size_t inl_len)
{
	struct sfs_attr a;
	uint8_t key[8], *row;
	size_t klen = sfs_key_ino(key, i->ino), rlen;
	int r = 0;

	pthread_mutex_lock(&i->attr_mu);
	if (inl)
		i->a.inline_len = (uint32_t)inl_len;
	a = i->a;
	pthread_mutex_unlock(&i->attr_mu);
	if (S_ISREG(a.mode))
		a.size = i->size_flushed; /* [D2] the row covers stored data only */
	rlen = SFS_INODE_ROW_FIXED + a.inline_len;
	row = malloc(rlen);
	if (!row)
		return -ENOMEM;
	if (inl) {
		memcpy(row + SFS_INODE_ROW_FIXED, inl, inl_len);
	} else if (a.inline_len) {
		size_t vlen = 0;
		r = store_get(sfs->txn, sfs->t.inode, key, klen, row, rlen, &vlen);
		if (r == 0 && vlen != rlen)
			r = -EIO;
	}
	if (r == 0) {
		sfs_attr_encode(&a, row);
		r = sfs_put(sfs, sfs->t.inode, key, klen, row, rlen, 0);
	}
	free(row);
	if (r == 0)
		sfs_touch(sfs, i);
	return r;
}

void sfs_inode_sub_blocks(struct sfs_inode *i, uint64_t freed)
{
	/* an inline file's count is its inline bytes: chunks still stored past
	   its EOF (a truncate in progress) were never part of it */
	if (i->a.flags & SFS_IF_INLINE)
		return;
	i->a.blocks = i->a.blocks > freed ? i->a.blocks - freed : 0;
}

int sfs_inode_write_ctime(struct sfs *sfs, struct sfs_inode *i)
{
	struct timespec now;

	sfs_now(&now);
	pthread_mutex_lock(&i->attr_mu);
	i->a.ctime = now;
	pthread_mutex_unlock(&i->attr_mu);
	return sfs_inode_write(sfs, i, NULL, 0);
}

/* ---- unlink, orphans and reclaim [D9] --------------------------------------------- */

int sfs_inode_unlink(struct sfs *sfs, struct sfs_inode *i, const struct timespec *now)
{
	uint8_t key[8];
	bool gone;
	int r;

	pthread_mutex_lock(&i->attr_mu);
	if (S_ISDIR(i->a.mode) || i->a.nlink <= 1)
		i->a.nlink = 0;
	else
		i->a.nlink--;
	i->a.ctime = *now;
	gone = i->a.nlink == 0;
	pthread_mutex_unlock(&i->attr_mu);
	if (gone) {
		r = sfs_put(sfs, sfs->t.orphan, key, sfs_key_ino(key, i->ino), "", 0, 0);
		if (r < 0)
			return r;
		pthread_mutex_lock(&sfs->imu);
		i->unlinked = true;
		pthread_mutex_unlock(&sfs->imu);
	}
	return sfs_inode_write(sfs, i, NULL, 0);
}

enum { RECLAIM_STEP = 256 };

int sfs_inode_reclaim(struct sfs *sfs, uint64_t ino, struct sfs_inode *i, bool trunc)
{
	uint8_t key[8], xkey[8];
	struct sfs_attr a;
	uint64_t from = 0, freed;
	bool done = false, keep_orphan = false;
	int r;

	/* the attributes: from the cache, or the row (mount-time recovery) */
	if (i) {
		sfs_inode_attr(i, &a);
		a.size = i->size_flushed;
	} else {
		r = sfs_rd_begin(sfs);
		if (r < 0)
			return r;
		r = load_attr(sfs, ino, &a);
		sfs_rd_end(sfs);
		if (r < 0 && r != -ENOENT)
			return r;
		if (r == -ENOENT) {
			a.mode = 0; /* the inode went already: only the orphan row is left */
			a.nlink = 0;
		}
	}
	if (a.nlink > 0)
		trunc = true;
	if (S_ISREG(a.mode) && !(a.flags & SFS_IF_INLINE))
		sfs_loop_handoff(); /* chunks to delete, maybe many */
	if (trunc)
		from = (a.size + sfs->chunk_size - 1) / sfs->chunk_size;

	/* chunks first, a bounded number per step: the orphan row keeps the
	   inode findable until the last step [D9]. On a full image a step may
	   stop early: what it deleted stands, and a durable commit makes that
	   space reusable for the next step. */
	for (int stuck = 0; !done && S_ISREG(a.mode);) {
		freed = 0;
		r = sfs_tx_begin_free(sfs, 4);
		if (r < 0)
			return r;
		r = sfs_chunks_delete(sfs, ino, from, UINT64_MAX, RECLAIM_STEP, &freed, &done);
		if (i && freed) {
			pthread_mutex_lock(&i->attr_mu);
			sfs_inode_sub_blocks(i, freed);
			pthread_mutex_unlock(&i->attr_mu);
		}
		sfs_tx_end(sfs, r == -ENOSPC ? 0 : r);
		if (r == -ENOSPC) {
			stuck = freed ? 0 : stuck + 1;
			if (stuck > 1)
				return r;
			r = sfs_sync(sfs, 0);
		}
		if (r < 0)
			return r;
	}

	r = sfs_tx_begin_free(sfs, 8);
	if (r < 0)
		return r;
	if (!trunc) {
		r = sfs_xattr_del_all(sfs, ino);
		if (r == 0 && a.mode) {
			r = sfs_del(sfs, sfs->t.inode, key, sfs_key_ino(key, ino));
			if (r == -ENOENT)
				r = 0;
		}
	} else if (i) {
		/* a finished truncate: the row's block count changed; an inode
		   unlinked meanwhile keeps its orphan row for its own reclaim */
		r = sfs_inode_write(sfs, i, NULL, 0);
		keep_orphan = i->a.nlink == 0;
	}
	if (r == 0 && !keep_orphan) {
		r = sfs_del(sfs, sfs->t.orphan, xkey, sfs_key_ino(xkey, ino));
		if (r == -ENOENT)
			r = 0;
	}
	sfs_tx_end(sfs, r);
	return r;
}

void sfs_reclaim_run(struct sfs *sfs)
{
	struct sfs_inode *list, *n;

	pthread_mutex_lock(&sfs->imu);
	list = sfs->reclaim;
	sfs->reclaim = NULL;
	pthread_mutex_unlock(&sfs->imu);

	for (struct sfs_inode *i = list; i; i = n) {
		n = i->rnext;
		sfs_rwlock_wr(&i->io);
		sfs_data_discard(sfs, i);
		pthread_rwlock_unlock(&i->io);
		int r = sfs_inode_reclaim(sfs, i->ino, i, false);
		if (r < 0)
			sfs_log(LOG_ERR, "inode %llu: reclaim failed (%s); it stays an orphan "
					 "until the next mount",
				(unsigned long long)i->ino, strerror(-r));
		pthread_mutex_lock(&sfs->imu);
		hremove(sfs, i);
		pthread_mutex_unlock(&sfs->imu);
		inode_free(sfs, i);
	}
}

int sfs_orphans_recover(struct sfs *sfs)
{
	uint64_t *inos = NULL;
	size_t n = 0, cap = 0;
	store_cursor *c = NULL;
	int r;

	r = sfs_rd_begin(sfs);
	if (r < 0)
		return r;
	r = store_cursor_open(sfs->txn, sfs->t.orphan, &c);
	if (r == 0)
		r = store_cursor_seek(c, STORE_SEEK_FIRST, NULL, 0);
	while (r == 0) {
		const void *k;
		size_t kl;
		r = store_cursor_get(c, &k, &kl, NULL, NULL);
		if (r < 0)
			break;
		if (kl == 8) {
			if (n == cap) {
				cap = cap ? cap * 2 : 64;
				uint64_t *t = realloc(inos, cap * sizeof(*inos));
				if (!t) {
					r = -ENOMEM;
					break;
				}
				inos = t;
			}
			inos[n++] = sfs_get_be64(k);
		}
		r = store_cursor_next(c);
	}
	if (c)
		store_cursor_close(c);
	sfs_rd_end(sfs);
	if (r == -ENOENT)
		r = 0;
	for (size_t k = 0; k < n && r == 0; k++) {
		struct sfs_inode *i = NULL;

		r = sfs_rd_begin(sfs);
		if (r < 0)
			break;
		r = sfs_inode_get(sfs, inos[k], &i);
		sfs_rd_end(sfs);
		if (r == -ENOENT) {
			r = sfs_inode_reclaim(sfs, inos[k], NULL, false);
		} else if (r == 0 && i->a.nlink > 0) {
			r = sfs_inode_reclaim(sfs, inos[k], i, true); /* a truncate */
			sfs_inode_put(sfs, i);
		} else if (r == 0) {
			pthread_mutex_lock(&sfs->imu);
			i->dead = true;
			pthread_mutex_unlock(&sfs->imu);
			sfs_rwlock_wr(&i->io);
			sfs_data_discard(sfs, i); /* off the dirty list too */
			pthread_rwlock_unlock(&i->io);
			r = sfs_inode_reclaim(sfs, inos[k], i, false);
			pthread_mutex_lock(&sfs->imu);
			hremove(sfs, i);
			pthread_mutex_unlock(&sfs->imu);
			inode_free(sfs, i);
		}
	}
	if (n)
		sfs_log(LOG_INFO, "reclaimed %zu orphan inode(s)", n);
	free(inos);
	return r;
}
