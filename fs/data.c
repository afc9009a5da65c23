/*
 * data.c — file data: chunks, inline data, dirty chunk buffers, and the
 * operations on them: read, write, flush, truncate, fallocate (keep-size,
 * punch-hole, zero-range), lseek SEEK_DATA/SEEK_HOLE and copy_file_range.
 *
 * A regular file is either INLINE (size <= sfs->inline_max: its bytes are
 * in the inode row) or chunked: chunk k holds bytes [k*cs, (k+1)*cs) as a
 * blob (chunk row (ino, k) -> blob id); a missing chunk is a hole. Stored
 * bytes are trimmed of trailing zeros, and an all-zero chunk is not stored.
 *
 * Writes land in per-inode chunk buffers (struct sfs_cbuf); a buffer stands
 * for a whole chunk (held densely, or sparsely in 4 KiB pages), valid in up
 * to CB_RANGES byte ranges until it is filled from the stored chunk ("full")
 * — which a write postpones until a flush needs it, so random writes do not
 * read the chunk they land in, and appends never do. The whole chunks of a
 * large write skip the buffers and are stored at once (write_whole).
 * Buffers go to the store on release, fsync, the commit interval,
 * truncate/punch, and when the inode or the mount passes its budget.
 *
 * [L3] inode->io guards the buffers, size_flushed and the stored data of
 * the inode: read/lseek hold it shared, everything that changes data
 * (write, flush, truncate, fallocate, copy_file_range, reclaim) holds it
 * exclusively. Taken before the tree lock; two inodes' io locks are taken in
 * ascending inode order.
 *
 * Rules this file upholds (fs/README.md):
 *   D2 a flush writes an inode's chunk rows and its row (size, blocks) in
 *      one exclusive section; the row's size is size_flushed, the size the
 *      stored data covers, so a committed size never covers unwritten data.
 *   D8 stored bytes past EOF are zero or absent: a truncate or punch that
 *      ends inside a chunk rewrites that chunk in the same section as the
 *      new size; chunks wholly past a new EOF are deleted in that section,
 *      or (many of them) in steps under an orphan row [D9].
 */
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdlib.h>
#include <syslog.h>
#include <unistd.h>

#include "sfs.h"

enum { CB_RANGES = 8, PG = 4096 };

/*
 * A chunk buffer is dense (data: the whole chunk) or sparse (pg[k]: page k
 * of the chunk, allocated when a write first touches it). Small writes
 * scattered over a large file start sparse, so that the mount's buffer
 * budget holds many of them and each chunk is rewritten once for many
 * writes; a buffer becomes dense when it is filled from the store, when
 * half its pages are written, or to be stored. Which bytes are valid is
 * said by full and the ranges, never by which pages exist.
 */
struct sfs_cbuf {
	uint64_t idx;
	bool full;       /* every byte valid */
	uint8_t nr;      /* valid ranges while !full: sorted, disjoint, */
	struct {         /* not adjacent */
		uint32_t lo, hi;
	} r[CB_RANGES];
	uint8_t *data;   /* dense: the chunk; NULL while sparse */
	uint32_t npg;    /* sparse: pages allocated */
	uint8_t *pg[];   /* sparse: page k holds bytes [k*PG, (k+1)*PG) */
};

/* Mark [lo, hi) valid; false if that needs more than CB_RANGES ranges. */
static bool range_add(struct sfs_cbuf *b, uint32_t lo, uint32_t hi)
{
	unsigned k = 0, e;

	while (k < b->nr && b->r[k].hi < lo)
		k++;
	/* ranges k..e-1 touch [lo, hi): merge them into one */
	for (e = k; e < b->nr && b->r[e].lo <= hi; e++) {
		if (b->r[e].lo < lo)
			lo = b->r[e].lo;
		if (b->r[e].hi > hi)
			hi = b->r[e].hi;
	}
	if (e == k) {
		if (b->nr == CB_RANGES)
			return false;
		memmove(&b->r[k + 1], &b->r[k], (b->nr - k) * sizeof(b->r[0]));
		b->nr++;
	} else if (e > k + 1) {
		memmove(&b->r[k + 1], &b->r[e], (b->nr - e) * sizeof(b->r[0]));
		b->nr -= (uint8_t)(e - k - 1);
	}
	b->r[k].lo = lo;
	b->r[k].hi = hi;
	return true;
}

/* Is [lo, hi) valid in b? */
static bool range_has(const struct sfs_cbuf *b, uint32_t lo, uint32_t hi)
{
	if (b->full)
		return true;
	for (unsigned k = 0; k < b->nr; k++)
		if (b->r[k].lo <= lo && hi <= b->r[k].hi)
			return true;
	return false;
}

/* chunks deleted in one section (truncate, punch, reclaim steps) */
enum { DEL_STEP = 256 };
/* an inode with more buffered data than this is flushed by its writer */
#define INODE_DIRTY_MAX (UINT64_C(16) << 20)

/*
 * A data change sets mtime and ctime — except with the kernel's writeback
 * cache, where the kernel owns the times of a regular file: it keeps its own
 * (ignoring ours while it caches the inode) and sends them in a SETATTR when
 * it changed them. Setting ours too would store a time the user never saw.
 * attr_mu held.
 */
static void data_times(struct sfs *sfs, struct sfs_inode *i, const struct timespec *now)
{
	if (!sfs->writeback)
		i->a.mtime = i->a.ctime = *now;
}

/* ---- buffers [L3] -------------------------------------------------------------- */

/* Freed chunk-sized blocks are kept for reuse (up to POOL_MAX): a fresh
   64 KiB allocation costs page faults on every write of a large file. The
   pool's mutex is a leaf lock. */
enum { POOL_MAX = 64 };
static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static uint8_t *pool[POOL_MAX];
static size_t pool_n;
static uint32_t pool_cs;

static uint8_t *block_alloc(uint32_t cs)
{
	uint8_t *b = NULL;

	pthread_mutex_lock(&pool_mu);
	if (pool_n && pool_cs == cs)
		b = pool[--pool_n];
	pthread_mutex_unlock(&pool_mu);
	return b ? b : malloc(cs);
}

static void block_free(uint8_t *b, uint32_t cs)
{
	if (!b)
		return;
	pthread_mutex_lock(&pool_mu);
	if (pool_n == 0)
		pool_cs = cs;
	if (pool_n < POOL_MAX && pool_cs == cs) {
		pool[pool_n++] = b;
		b = NULL;
	}
	pthread_mutex_unlock(&pool_mu);
	free(b);
}

static uint32_t pages_per_chunk(const struct sfs *sfs)
{
	return sfs->chunk_size / PG ? sfs->chunk_size / PG : 1;
}

/* Memory a buffer holds (the mount's budget counts it). */
static uint64_t buf_mem(const struct sfs *sfs, const struct sfs_cbuf *b)
{
	return b->data ? sfs->chunk_size : (uint64_t)b->npg * PG;
}

bool sfs_data_pressure(struct sfs *sfs)
{
	/* memory, and the space buffered chunks may need once stored (a
	   sparse buffer holds a few pages of a whole chunk) */
	return sfs->buf_mem > sfs->opt.cache || sfs->dirty_bytes > 4 * sfs->opt.cache;
}

static void buf_free_pages(struct sfs *sfs, struct sfs_cbuf *b)
{
	uint32_t np = pages_per_chunk(sfs);

	for (uint32_t k = 0; k < np && b->npg; k++) {
		if (b->pg[k]) {
			free(b->pg[k]);
			b->pg[k] = NULL;
			b->npg--;
		}
	}
}

/* Give b the dense block d (the caller filled what must be valid). */
static void buf_set_dense(struct sfs *sfs, struct sfs_inode *i, struct sfs_cbuf *b, uint8_t *d)
{
	sfs->buf_mem -= buf_mem(sfs, b);
	buf_free_pages(sfs, b);
	b->data = d;
	sfs->buf_mem += sfs->chunk_size;
	i->ndense++;
}

/* Bytes [off, off+len) of b (valid ones) into dst. */
static void buf_get(const struct sfs_cbuf *b, uint32_t off, uint8_t *dst, uint32_t len)
{
	if (b->data) {
		memcpy(dst, b->data + off, len);
		return;
	}
	while (len) {
		uint32_t k = off / PG, po = off % PG, n = PG - po < len ? PG - po : len;
		memcpy(dst, b->pg[k] + po, n); /* valid bytes lie in allocated pages */
		dst += n;
		off += n;
		len -= n;
	}
}

/* Make b dense, keeping its valid bytes. */
static int buf_dense(struct sfs *sfs, struct sfs_inode *i, struct sfs_cbuf *b)
{
	uint8_t *d;

	if (b->data)
		return 0;
	d = block_alloc(sfs->chunk_size);
	if (!d)
		return -ENOMEM;
	for (unsigned k = 0; k < b->nr; k++)
		buf_get(b, b->r[k].lo, d + b->r[k].lo, b->r[k].hi - b->r[k].lo);
	buf_set_dense(sfs, i, b, d);
	return 0;
}

/* A sparse b gets the pages [lo, hi) lands in. */
static int buf_pages(struct sfs *sfs, struct sfs_cbuf *b, uint32_t lo, uint32_t hi)
{
	for (uint32_t k = lo / PG; k * PG < hi; k++) {
		if (b->pg[k])
			continue;
		b->pg[k] = malloc(PG);
		if (!b->pg[k])
			return -ENOMEM;
		b->npg++;
		sfs->buf_mem += PG;
	}
	return 0;
}

/* src into bytes [off, off+len) of b (dense, or its pages allocated). */
static void buf_put(struct sfs_cbuf *b, uint32_t off, const uint8_t *src, uint32_t len)
{
	if (b->data) {
		memcpy(b->data + off, src, len);
		return;
	}
	while (len) {
		uint32_t k = off / PG, po = off % PG, n = PG - po < len ? PG - po : len;
		memcpy(b->pg[k] + po, src, n);
		src += n;
		off += n;
		len -= n;
	}
}

/* index of the first buffer with idx >= want */
static size_t buf_lower(const struct sfs_inode *i, uint64_t want)
{
	size_t lo = 0, hi = i->nbufs;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (i->bufs[mid]->idx < want)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static struct sfs_cbuf *buf_find(const struct sfs_inode *i, uint64_t idx)
{
	size_t p = buf_lower(i, idx);
	return p < i->nbufs && i->bufs[p]->idx == idx ? i->bufs[p] : NULL;
}

/* A new, empty buffer for chunk idx: dense, or sparse (no page yet). */
static int buf_new(struct sfs *sfs, struct sfs_inode *i, uint64_t idx, bool dense,
		   struct sfs_cbuf **out)
{
	size_t p = buf_lower(i, idx);
	uint32_t np = pages_per_chunk(sfs);
	struct sfs_cbuf *b;

	if (i->nbufs == i->capbufs) {
		size_t nc = i->capbufs ? i->capbufs * 2 : 8;
		struct sfs_cbuf **nb = realloc(i->bufs, nc * sizeof(*nb));
		if (!nb)
			return -ENOMEM;
		i->bufs = nb;
		i->capbufs = nc;
	}
	b = calloc(1, sizeof(*b) + np * sizeof(b->pg[0]));
	if (!b)
		return -ENOMEM;
	if (dense) {
		b->data = block_alloc(sfs->chunk_size);
		if (!b->data) {
			free(b);
			return -ENOMEM;
		}
		sfs->buf_mem += sfs->chunk_size;
		i->ndense++;
	}
	b->idx = idx;
	memmove(&i->bufs[p + 1], &i->bufs[p], (i->nbufs - p) * sizeof(*i->bufs));
	i->bufs[p] = b;
	i->nbufs++;
	i->nbufs_pub = i->nbufs;
	sfs->dirty_bytes += sfs->chunk_size;
	if (i->nbufs == 1)
		sfs_inode_mark_dirty(sfs, i);
	*out = b;
	return 0;
}

static void buf_drop(struct sfs *sfs, struct sfs_inode *i, size_t p)
{
	struct sfs_cbuf *b = i->bufs[p];

	sfs->buf_mem -= buf_mem(sfs, b);
	if (b->data)
		i->ndense--;
	buf_free_pages(sfs, b);
	block_free(b->data, sfs->chunk_size);
	free(b);
	memmove(&i->bufs[p], &i->bufs[p + 1], (i->nbufs - p - 1) * sizeof(*i->bufs));
	i->nbufs--;
	i->nbufs_pub = i->nbufs;
	sfs->dirty_bytes -= sfs->chunk_size;
}

void sfs_data_free_bufs(struct sfs *sfs, struct sfs_inode *i)
{
	while (i->nbufs)
		buf_drop(sfs, i, i->nbufs - 1);
}

void sfs_data_discard(struct sfs *sfs, struct sfs_inode *i)
{
	sfs_data_free_bufs(sfs, i);
	sfs_inode_clear_dirty(sfs, i);
}

bool sfs_data_accounts_ok(struct sfs *sfs)
{
	struct sfs_inode *h = &sfs->dirty_head;
	uint32_t np = pages_per_chunk(sfs);
	uint64_t mem = 0, chunks = 0;
	bool ok = true;

	pthread_mutex_lock(&sfs->imu);
	for (struct sfs_inode *i = h->dnext; i != h; i = i->dnext) {
		size_t nd = 0;
		for (size_t p = 0; p < i->nbufs; p++) {
			const struct sfs_cbuf *b = i->bufs[p];
			uint32_t pages = 0;
			for (uint32_t k = 0; k < np; k++)
				pages += b->pg[k] != NULL;
			ok &= pages == b->npg && (!b->data || pages == 0);
			nd += b->data != NULL;
			mem += buf_mem(sfs, b);
		}
		ok &= nd == i->ndense;
		chunks += i->nbufs;
	}
	pthread_mutex_unlock(&sfs->imu);
	if (!ok || mem != sfs->buf_mem || chunks * sfs->chunk_size != sfs->dirty_bytes) {
		sfs_log(LOG_ERR, "chunk buffer accounting is off: %llu bytes held, %llu counted; "
				 "%llu chunks buffered, %llu bytes counted%s",
			(unsigned long long)mem, (unsigned long long)sfs->buf_mem,
			(unsigned long long)chunks, (unsigned long long)sfs->dirty_bytes,
			ok ? "" : "; a buffer's pages or an inode's dense count disagree");
		return false;
	}
	return true;
}

/* ---- reading stored data ----------------------------------------------------------- */

/* Bytes [off, off+len) of blob id into dst; *n receives the bytes the blob
   holds there (it may end early: the rest reads as zeros). Tree lock held
   shared on entry, released on return: the blob is located under it, and
   read outside it while a read txn begun under it pins its pages (the store
   never reuses blob pages while an older snapshot lives, store [I2]). */
static int blob_read_unlock(struct sfs *sfs, uint64_t id, uint32_t off, uint32_t len, uint8_t *dst,
			    size_t *n)
{
	struct store_blob_info bi;
	store_txn *pin = NULL;
	int r = store_blob_stat(sfs->txn, id, &bi);

	if (r == 0)
		r = store_txn_begin(sfs->s, STORE_TXN_READ, &pin);
	sfs_rd_end(sfs);
	if (r == 0)
		r = store_blob_read_at(sfs->s, &bi, off, dst, len, n);
	if (pin)
		store_txn_abort(pin);
	return r;
}

/* Stored bytes [off, off+len) of chunk idx of a chunked file. */
static int chunk_read(struct sfs *sfs, uint64_t ino, uint64_t idx, uint32_t off, uint32_t len,
		      uint8_t *dst)
{
	uint8_t key[16], val[8];
	size_t vl = 0, n = 0;
	int r = sfs_rd_begin(sfs);

	if (r < 0)
		return r;
	r = store_get(sfs->txn, sfs->t.chunk, key, sfs_key_ino2(key, ino, idx), val, sizeof(val), &vl);
	if (r == -ENOENT || (r == 0 && vl != 8)) {
		sfs_rd_end(sfs);
		if (r == 0) {
			sfs_log(LOG_ERR, "inode %llu chunk %llu: malformed chunk row",
				(unsigned long long)ino, (unsigned long long)idx);
			return -EIO;
		}
		memset(dst, 0, len);
		return 0;
	}
	if (r < 0) {
		sfs_rd_end(sfs);
		return r;
	}
	r = blob_read_unlock(sfs, sfs_get_le64(val), off, len, dst, &n);
	if (r < 0)
		return r;
	if (n < len)
		memset(dst + n, 0, len - n);
	return 0;
}

/* Stored bytes [off, off+len) of chunk idx of i, inline or chunked. */
static int stored_read(struct sfs *sfs, struct sfs_inode *i, uint64_t idx, uint32_t off,
		       uint32_t len, uint8_t *dst)
{
	uint32_t flags, ilen;

	pthread_mutex_lock(&i->attr_mu);
	flags = i->a.flags;
	ilen = i->a.inline_len;
	pthread_mutex_unlock(&i->attr_mu);
	if (!(flags & SFS_IF_INLINE))
		return chunk_read(sfs, i->ino, idx, off, len, dst);

	memset(dst, 0, len);
	if (idx != 0 || off >= ilen)
		return 0;
	uint8_t *tmp = malloc(ilen);
	size_t n = 0;
	if (!tmp)
		return -ENOMEM;
	int r = sfs_rd_begin(sfs);
	if (r == 0) {
		r = sfs_inode_read_inline(sfs, i->ino, tmp, ilen, &n);
		sfs_rd_end(sfs);
	}
	if (r == 0 && n > off)
		memcpy(dst, tmp + off, n - off < len ? n - off : len);
	free(tmp);
	return r;
}

/* Make b full: the stored chunk under its valid ranges. */
static int buf_fill(struct sfs *sfs, struct sfs_inode *i, struct sfs_cbuf *b)
{
	uint32_t cs = sfs->chunk_size, valid = 0;
	uint8_t *d;
	int r;

	if (b->full)
		return 0;
	if (b->data && b->nr == 0) {
		r = stored_read(sfs, i, b->idx, 0, cs, b->data);
		goto out;
	}
	for (unsigned k = 0; k < b->nr; k++)
		valid += b->r[k].hi - b->r[k].lo;
	/* the stored chunk into a fresh block, then the fewer bytes copied:
	   b's valid ones over it, or (mostly written) its gaps into b */
	d = block_alloc(cs);
	if (!d)
		return -ENOMEM;
	r = stored_read(sfs, i, b->idx, 0, cs, d);
	if (r < 0) {
		block_free(d, cs);
		return r;
	}
	if (b->data && valid > cs / 2) {
		uint32_t at = 0;
		for (unsigned k = 0; k <= b->nr; k++) {
			uint32_t end = k < b->nr ? b->r[k].lo : cs;
			memcpy(b->data + at, d + at, end - at);
			if (k < b->nr)
				at = b->r[k].hi;
		}
		block_free(d, cs);
	} else {
		for (unsigned k = 0; k < b->nr; k++)
			buf_get(b, b->r[k].lo, d + b->r[k].lo, b->r[k].hi - b->r[k].lo);
		if (b->data) {
			block_free(b->data, cs);
			b->data = d;
		} else {
			buf_set_dense(sfs, i, b, d);
		}
	}
out:
	if (r == 0) {
		b->full = true;
		b->nr = 0;
	}
	return r;
}

/* The file's bytes [off, off+n): buffers over stored data. io lock held. */
static int data_read(struct sfs *sfs, struct sfs_inode *i, uint8_t *out, size_t n, uint64_t off)
{
	uint32_t cs = sfs->chunk_size;

	while (n) {
		uint64_t idx = off / cs;
		uint32_t coff = (uint32_t)(off % cs);
		uint32_t len = (uint32_t)(n < cs - coff ? n : cs - coff);
		struct sfs_cbuf *b = buf_find(i, idx);

		if (b && range_has(b, coff, coff + len)) {
			buf_get(b, coff, out, len);
		} else {
			int r = stored_read(sfs, i, idx, coff, len, out);
			if (r < 0)
				return r;
			for (unsigned k = 0; b && k < b->nr; k++) {
				uint32_t s = coff > b->r[k].lo ? coff : b->r[k].lo;
				uint32_t e = coff + len < b->r[k].hi ? coff + len : b->r[k].hi;
				if (s < e)
					buf_get(b, s, out + (s - coff), e - s);
			}
		}
		out += len;
		off += len;
		n -= len;
	}
	return 0;
}

/* ---- writing into buffers ------------------------------------------------------------ */

/* src into the file's bytes [off, off+n), through the buffers (the caller
   raises the size). io lock held exclusively. */
static int data_write(struct sfs *sfs, struct sfs_inode *i, const uint8_t *src, size_t n,
		      uint64_t off)
{
	uint32_t cs = sfs->chunk_size;
	uint64_t eof;

	pthread_mutex_lock(&i->attr_mu);
	eof = i->a.size;
	pthread_mutex_unlock(&i->attr_mu);
	while (n) {
		uint64_t idx = off / cs;
		uint32_t coff = (uint32_t)(off % cs);
		uint32_t len = (uint32_t)(n < cs - coff ? n : cs - coff);
		struct sfs_cbuf *b = buf_find(i, idx);
		int r = 0;

		if (!b) {
			/* appends and large writes dense; small scattered ones sparse */
			bool dense = off >= eof || len >= cs / 2 || pages_per_chunk(sfs) < 4;
			r = buf_new(sfs, i, idx, dense, &b);
			if (r < 0)
				return r;
		}
		if (!b->data) {
			uint32_t np = pages_per_chunk(sfs), more = 0;
			for (uint32_t k = coff / PG; k * PG < coff + len; k++)
				more += !b->pg[k];
			r = 2 * (b->npg + more) > np ? buf_dense(sfs, i, b)
						     : buf_pages(sfs, b, coff, coff + len);
			if (r < 0)
				return r;
		}
		if (!b->full && !range_add(b, coff, coff + len)) {
			r = buf_fill(sfs, i, b); /* too scattered: read it now */
			if (r < 0)
				return r;
		}
		buf_put(b, coff, src, len);
		if (!b->full && b->nr == 1 && b->r[0].lo == 0 && b->r[0].hi == cs)
			b->full = true;
		src += len;
		off += len;
		n -= len;
	}
	return 0;
}

/* ---- storing chunks ------------------------------------------------------------------- */

static size_t trimmed(const uint8_t *p, size_t len)
{
	while (len >= 8) {
		uint64_t w;
		memcpy(&w, p + len - 8, 8);
		if (w)
			break;
		len -= 8;
	}
	while (len && p[len - 1] == 0)
		len--;
	return len;
}

static int chunk_get(struct sfs *sfs, uint64_t ino, uint64_t idx, uint64_t *id)
{
	uint8_t key[16], val[8];
	size_t vl = 0;
	int r = store_get(sfs->txn, sfs->t.chunk, key, sfs_key_ino2(key, ino, idx), val, sizeof(val),
			  &vl);
	if (r == 0 && vl != 8)
		return -EIO;
	if (r == 0)
		*id = sfs_get_le64(val);
	return r;
}

static int64_t blob_stored(struct sfs *sfs, uint64_t id)
{
	struct store_blob_info bi;
	return store_blob_stat(sfs->txn, id, &bi) == 0 ? (int64_t)bi.stored : 0;
}

/* Point chunk (ino, idx) at blob id (0 = make it a hole), taking over one
   reference to id and dropping the old blob's. Tree lock exclusive. */
static int chunk_set(struct sfs *sfs, uint64_t ino, uint64_t idx, uint64_t id, int64_t *dblocks)
{
	uint8_t key[16], val[8];
	size_t kl = sfs_key_ino2(key, ino, idx);
	uint64_t old = 0;
	int r = chunk_get(sfs, ino, idx, &old);

	if (r < 0 && r != -ENOENT)
		return r;
	r = 0;
	if (id) {
		sfs_put_le64(val, id);
		r = sfs_put(sfs, sfs->t.chunk, key, kl, val, 8, 0);
		if (r < 0)
			return r;
		*dblocks += blob_stored(sfs, id);
	} else if (old) {
		r = sfs_del(sfs, sfs->t.chunk, key, kl);
		if (r < 0)
			return r;
	}
	if (old) {
		*dblocks -= blob_stored(sfs, old);
		r = sfs_blob_unref(sfs, old);
	}
	return r;
}

int sfs_chunks_delete(struct sfs *sfs, uint64_t ino, uint64_t from, uint64_t to, unsigned max,
		      uint64_t *freed, bool *done)
{
	store_cursor *c = NULL;
	unsigned n = 0;
	int r = store_cursor_open(sfs->txn, sfs->t.chunk, &c);

	*done = false;
	while (r == 0) {
		uint8_t key[16];
		const void *k, *v;
		size_t kl, vl;

		r = store_cursor_seek(c, STORE_SEEK_GE, key, sfs_key_ino2(key, ino, from));
		if (r == 0)
			r = store_cursor_get(c, &k, &kl, &v, &vl);
		if (r == -ENOENT || (r == 0 && (kl != 16 || sfs_get_be64(k) != ino ||
						sfs_get_be64((const uint8_t *)k + 8) >= to))) {
			*done = true;
			r = 0;
			break;
		}
		if (r < 0)
			break;
		if (n >= max)
			break;
		if (vl != 8) {
			r = -EIO;
			break;
		}
		/* the row and its blob go together, or neither; and the inode
		   row can still be written after them */
		r = sfs_tx_reserve(sfs, 6);
		if (r < 0)
			break;
		uint64_t idx = sfs_get_be64((const uint8_t *)k + 8), id = sfs_get_le64(v);
		*freed += (uint64_t)blob_stored(sfs, id);
		r = sfs_del(sfs, sfs->t.chunk, key, sfs_key_ino2(key, ino, idx));
		if (r == 0)
			r = sfs_blob_unref(sfs, id);
		from = idx + 1;
		n++;
	}
	if (c)
		store_cursor_close(c);
	return r;
}

/*
 * Whether to let the store try lz4 on a chunk of i. The probe (fs/compress.c)
 * costs about as much as copying the chunk on data that does not compress;
 * after a chunk failed it, the next lz4_skip chunks of the inode are stored
 * as they are without probing, the skip growing with each failure in a row
 * (up to LZ4_SKIP_MAX chunks), so an incompressible file pays for one probe
 * in 9 chunks and a compressible region is found again within 512 KiB
 * (64 KiB chunks). io lock held.
 */
enum { LZ4_SKIP_MAX = 8 };

static bool lz4_choice(struct sfs_inode *i, const uint8_t *data, size_t len)
{
	if (i->lz4_skip) {
		i->lz4_skip--;
		return false;
	}
	if (sfs_worth_compressing(data, len)) {
		i->lz4_fails = 0;
		return true;
	}
	if (i->lz4_fails < LZ4_SKIP_MAX)
		i->lz4_fails++;
	i->lz4_skip = i->lz4_fails;
	return false;
}

struct item {
	uint64_t idx;
	store_blob_prep *prep; /* NULL: the chunk becomes a hole */
};

/* Prepare (fill, trim, compress) the buffers [from, from+n) of i into items;
   *bytes receives the bytes to store. */
/* Prepare chunk idx of i from data (len bytes of it are the file's) into
   it; *bytes grows by the bytes to store. The blob stored as is points at
   data (no copy): data stays unchanged until the prep is freed. */
static int prep_chunk(struct sfs *sfs, struct sfs_inode *i, uint64_t idx, const uint8_t *data,
		      uint32_t len, struct item *it, uint64_t *bytes)
{
	unsigned fl = sfs->blob_flags;
	size_t t = trimmed(data, len);

	it->idx = idx;
	it->prep = NULL;
	if (!t)
		return 0;
	if (fl & STORE_BLOB_LZ4)
		fl = lz4_choice(i, data, t) ? fl : fl & ~(unsigned)STORE_BLOB_LZ4;
	*bytes += t;
	return store_blob_prepare(sfs->s, data, t, fl | STORE_BLOB_BORROW, &it->prep);
}

static int prepare(struct sfs *sfs, struct sfs_inode *i, uint64_t size, size_t from, size_t n,
		   struct item *items, uint64_t *bytes)
{
	uint32_t cs = sfs->chunk_size;

	*bytes = 0;
	for (size_t k = 0; k < n; k++)
		items[k].prep = NULL;
	for (size_t k = 0; k < n; k++) {
		struct sfs_cbuf *b = i->bufs[from + k];
		uint64_t start = b->idx * (uint64_t)cs;
		uint32_t len = (uint32_t)(size - start < cs ? size - start : cs);
		int r = range_has(b, 0, len) ? buf_dense(sfs, i, b) : buf_fill(sfs, i, b);

		if (r == 0)
			r = prep_chunk(sfs, i, b->idx, b->data, len, &items[k], bytes);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Put the prepared blobs of items as chunks of i (tree lock exclusive). */
static int put_items(struct sfs *sfs, struct sfs_inode *i, const struct item *items, size_t n,
		     int64_t *dblocks)
{
	int r = 0;

	for (size_t k = 0; r == 0 && k < n; k++) {
		uint64_t id = 0;
		if (items[k].prep)
			r = sfs_blob_put(sfs, items[k].prep, &id);
		if (r == 0)
			r = chunk_set(sfs, i->ino, items[k].idx, id, dblocks);
	}
	return r;
}

static void free_items(struct item *items, size_t n)
{
	for (size_t k = 0; k < n; k++)
		store_blob_prep_free(items[k].prep);
}

/* chunks stored per section of a flush: bounds how long the tree lock is
   held exclusively while their blobs are written */
enum { FLUSH_STEP = 16 };

/*
 * Write the buffers and the row of i into the batch [D2]: in sections of at
 * most FLUSH_STEP chunks, in ascending order, each raising the row's size
 * only over the chunks stored so far, so that every section stands on its
 * own. io lock held exclusively.
 */
int sfs_data_flush(struct sfs *sfs, struct sfs_inode *i)
{
	uint32_t cs = sfs->chunk_size;
	struct sfs_attr a;
	struct item items[FLUSH_STEP];
	uint8_t *inl = NULL;
	size_t inl_len = 0, total, done = 0;
	uint64_t size;
	bool was_inline, want_inline, first = true;
	int r = 0;

	sfs_inode_attr(i, &a);
	if (!S_ISREG(a.mode))
		return 0;
	size = a.size;
	was_inline = a.flags & SFS_IF_INLINE;
	want_inline = size <= sfs->inline_max;
	if (i->nbufs == 0 && size == i->size_flushed && was_inline == want_inline)
		return 0;
	if (a.nlink == 0 && sfs_inode_opens(sfs, i) == 0) {
		sfs_data_discard(sfs, i); /* nobody can read it again */
		return 0;
	}
	sfs_loop_handoff(); /* compression and blob writes */
	while (i->nbufs && i->bufs[i->nbufs - 1]->idx * (uint64_t)cs >= size)
		buf_drop(sfs, i, i->nbufs - 1);

	if (want_inline) {
		inl = malloc(size ? size : 1);
		if (!inl)
			return -ENOMEM;
		r = data_read(sfs, i, inl, size, 0);
		inl_len = trimmed(inl, size);
	} else if (was_inline && a.inline_len && !buf_find(i, 0)) {
		/* becoming chunked: the inline bytes go to chunk 0 */
		struct sfs_cbuf *b;
		r = buf_new(sfs, i, 0, true, &b);
		if (r == 0)
			r = buf_fill(sfs, i, b);
	}
	total = want_inline ? 0 : i->nbufs;

	while (r == 0) {
		size_t n = total - done < FLUSH_STEP ? total - done : FLUSH_STEP;
		bool last = done + n == total;
		uint64_t bytes = 0, newsize = size;
		int64_t dblocks = 0;

		/* compression and checksums outside the tree lock */
		r = prepare(sfs, i, size, done, n, items, &bytes);
		if (r == 0)
			r = sfs_tx_begin(sfs, (unsigned)(2 * n + 4), bytes);
		if (r < 0) {
			free_items(items, n);
			break;
		}
		if (!last) {
			newsize = (items[n - 1].idx + 1) * (uint64_t)cs;
			if (newsize > size)
				newsize = size;
			if (newsize < i->size_flushed)
				newsize = i->size_flushed;
		}
		if (first && want_inline && !was_inline)
			r = chunk_set(sfs, i->ino, 0, 0, &dblocks);
		if (r == 0)
			r = put_items(sfs, i, items, n, &dblocks);
		if (r == 0) {
			bool conv = first && was_inline && !want_inline;
			pthread_mutex_lock(&i->attr_mu);
			if (want_inline) {
				i->a.flags |= SFS_IF_INLINE;
				i->a.blocks = inl_len;
			} else {
				int64_t bl = (conv ? 0 : (int64_t)i->a.blocks) + dblocks;
				i->a.flags &= ~(uint32_t)SFS_IF_INLINE;
				i->a.blocks = bl > 0 ? (uint64_t)bl : 0;
			}
			pthread_mutex_unlock(&i->attr_mu);
			i->size_flushed = newsize;
			const void *nin = want_inline ? (const void *)inl : conv ? "" : NULL;
			r = sfs_inode_write(sfs, i, nin, want_inline ? inl_len : 0);
		}
		sfs_tx_end(sfs, r);
		free_items(items, n);
		if (r < 0)
			break;
		done += n;
		first = false;
		if (last)
			break;
	}
	/* what is stored leaves the buffers; after an error the rest stays
	   (inline data is stored all at once or not at all) */
	if (r == 0)
		done = i->nbufs;
	while (done > 0)
		buf_drop(sfs, i, --done);
	if (i->nbufs == 0)
		sfs_inode_clear_dirty(sfs, i);
	free(inl);
	return r;
}

int sfs_data_flush_all(struct sfs *sfs)
{
	struct sfs_inode **arr;
	size_t n = sfs_inode_dirty_list(sfs, &arr);
	int err = 0;

	for (size_t k = 0; k < n; k++) {
		struct sfs_inode *i = arr[k];
		sfs_rwlock_wr(&i->io);
		int r = sfs_data_flush(sfs, i);
		if (r < 0) {
			if (!i->wb_err)
				sfs_log(LOG_WARNING, "inode %llu: writing buffered data failed: %s",
					(unsigned long long)i->ino, strerror(-r));
			i->wb_err = r;
			err = r;
		}
		pthread_rwlock_unlock(&i->io);
		sfs_inode_put(sfs, i);
	}
	free(arr);
	return err;
}

/*
 * The whole chunks of a write, stored at once from the request's bytes
 * rather than copied into chunk buffers and flushed later: chunks [k, e)
 * that [off, off+len) covers, when the stored data reaches chunk k
 * (k*cs <= size_flushed), so that each section's row can cover them [D2]
 * — a sequential writer's case. An empty inline file becomes chunked in
 * the first section. Chunks [*k0, *k1) were stored (none if equal); their
 * buffers, older, are dropped. io lock held exclusively.
 */
static int write_whole(struct sfs *sfs, struct sfs_inode *i, const uint8_t *src, size_t len,
		       uint64_t off, uint64_t *k0, uint64_t *k1)
{
	uint32_t cs = sfs->chunk_size;
	uint64_t k = (off + cs - 1) / cs, e = (off + len) / cs;
	struct sfs_attr a;
	bool conv;
	int r = 0;

	*k0 = *k1 = k;
	if (e <= k || k * (uint64_t)cs > i->size_flushed)
		return 0;
	sfs_inode_attr(i, &a);
	conv = a.flags & SFS_IF_INLINE;
	if (!S_ISREG(a.mode) || (conv && (i->size_flushed || a.inline_len || i->nbufs)))
		return 0;
	src += k * cs - off;
	sfs_loop_handoff(); /* the next requests are read while these are stored */
	for (uint64_t c = k; c < e;) {
		size_t n = e - c < FLUSH_STEP ? (size_t)(e - c) : FLUSH_STEP;
		struct item items[FLUSH_STEP];
		uint64_t bytes = 0, end = (c + n) * cs;
		int64_t dblocks = 0;

		for (size_t j = 0; j < n; j++)
			items[j].prep = NULL;
		for (size_t j = 0; r == 0 && j < n; j++)
			r = prep_chunk(sfs, i, c + j, src + (c + j - k) * cs, cs, &items[j], &bytes);
		if (r == 0)
			r = sfs_tx_begin(sfs, (unsigned)(2 * n + 4), bytes);
		if (r < 0) {
			free_items(items, n);
			break;
		}
		r = put_items(sfs, i, items, n, &dblocks);
		if (r == 0) {
			pthread_mutex_lock(&i->attr_mu);
			if (end > i->a.size)
				i->a.size = end;
			int64_t bl = (conv ? 0 : (int64_t)i->a.blocks) + dblocks;
			i->a.blocks = bl > 0 ? (uint64_t)bl : 0;
			i->a.flags &= ~(uint32_t)SFS_IF_INLINE;
			pthread_mutex_unlock(&i->attr_mu);
			if (end > i->size_flushed)
				i->size_flushed = end;
			r = sfs_inode_write(sfs, i, conv ? "" : NULL, 0);
		}
		sfs_tx_end(sfs, r);
		free_items(items, n);
		if (r < 0)
			break;
		conv = false;
		for (size_t p = buf_lower(i, c); p < i->nbufs && i->bufs[p]->idx < c + n;)
			buf_drop(sfs, i, p);
		c += n;
		*k1 = c;
	}
	if (i->nbufs == 0)
		sfs_inode_clear_dirty(sfs, i);
	return r;
}

/* ---- truncate and punch --------------------------------------------------------- */

/* Chunk rows that may exist at or past chunk `first` of i (from the size the
   stored data covers). */
static uint64_t chunks_past(struct sfs *sfs, struct sfs_inode *i, uint64_t first)
{
	uint64_t last = (i->size_flushed + sfs->chunk_size - 1) / sfs->chunk_size;
	bool inl;

	pthread_mutex_lock(&i->attr_mu);
	inl = i->a.flags & SFS_IF_INLINE;
	pthread_mutex_unlock(&i->attr_mu);
	return inl || last <= first ? 0 : last - first;
}

/* Zero [zs, ze) of chunk idx through a full buffer. */
static int zero_in_chunk(struct sfs *sfs, struct sfs_inode *i, uint64_t idx, uint32_t zs,
			 uint32_t ze)
{
	struct sfs_cbuf *b = buf_find(i, idx);
	int r = 0;

	if (!b)
		r = buf_new(sfs, i, idx, true, &b);
	if (r == 0)
		r = buf_fill(sfs, i, b);
	if (r == 0)
		memset(b->data + zs, 0, ze - zs);
	return r;
}

int sfs_data_truncate(struct sfs *sfs, struct sfs_inode *i, uint64_t size)
{
	uint32_t cs = sfs->chunk_size;
	uint64_t old, first = (size + cs - 1) / cs, past;
	struct timespec now;
	int r = 0;

	if (size > SFS_MAX_FILE_SIZE)
		return -EFBIG;
	pthread_mutex_lock(&i->attr_mu);
	old = i->a.size;
	pthread_mutex_unlock(&i->attr_mu);
	past = chunks_past(sfs, i, first);
	if (size < old) {
		while (i->nbufs && i->bufs[i->nbufs - 1]->idx * (uint64_t)cs >= size)
			buf_drop(sfs, i, i->nbufs - 1);
		if (size % cs && (buf_find(i, size / cs) || i->size_flushed > size))
			r = zero_in_chunk(sfs, i, size / cs, (uint32_t)(size % cs), cs);
		if (r < 0)
			return r;
	}
	sfs_now(&now);
	pthread_mutex_lock(&i->attr_mu);
	i->a.size = size;
	data_times(sfs, i, &now);
	pthread_mutex_unlock(&i->attr_mu);

	if (past == 0)
		return sfs_data_flush(sfs, i); /* [D8]: the boundary chunk with it */

	/* chunks past the new EOF: an orphan row first, so that a crash leaves
	   them to the next mount's recovery; then the size; then the chunks,
	   in steps [D9] */
	uint8_t key[8];
	r = sfs_tx_begin_free(sfs, 1);
	if (r < 0)
		return r;
	r = sfs_put(sfs, sfs->t.orphan, key, sfs_key_ino(key, i->ino), "", 0, 0);
	sfs_tx_end(sfs, r);
	if (r == 0)
		r = sfs_data_flush(sfs, i);
	if (r == 0)
		r = sfs_inode_reclaim(sfs, i->ino, i, true);
	return r;
}

/* Zero [off, end) of i (end <= size): whole chunks become holes. */
static int data_punch(struct sfs *sfs, struct sfs_inode *i, uint64_t off, uint64_t end)
{
	uint32_t cs = sfs->chunk_size;
	uint64_t size, hf, ht, c0, c1;
	bool inl;
	int r = 0;

	pthread_mutex_lock(&i->attr_mu);
	size = i->a.size;
	inl = i->a.flags & SFS_IF_INLINE;
	pthread_mutex_unlock(&i->attr_mu);
	if (end > size)
		end = size;
	if (off >= end)
		return 0;
	if (inl && size > sfs->inline_max) {
		/* stored inline, grown in buffers: store it as chunks first */
		r = sfs_data_flush(sfs, i);
		if (r < 0)
			return r;
		inl = false;
	}
	c0 = off / cs;
	c1 = (end - 1) / cs;
	/* a chunk whose live part [c*cs, min((c+1)*cs, size)) lies wholly in
	   [off, end) becomes a hole; the others are zeroed in a buffer */
	bool c1_cov = end % cs == 0 || end == size;
	bool c0_cov = off % cs == 0 && (c0 < c1 || c1_cov);
	hf = c0_cov ? c0 : c0 + 1;
	ht = c1_cov ? c1 + 1 : c1;
	if (inl) {
		hf = ht = 0; /* inline data: rewrite it */
		r = zero_in_chunk(sfs, i, 0, (uint32_t)off, (uint32_t)end);
	} else {
		if (!c0_cov)
			r = zero_in_chunk(sfs, i, c0, (uint32_t)(off % cs),
					  c0 == c1 ? (uint32_t)(end - c0 * cs) : cs);
		if (r == 0 && !c1_cov && c1 != c0)
			r = zero_in_chunk(sfs, i, c1, 0, (uint32_t)(end - c1 * cs));
		for (size_t p = buf_lower(i, hf); r == 0 && p < i->nbufs && i->bufs[p]->idx < ht;)
			buf_drop(sfs, i, p);
	}
	if (r < 0)
		return r;
	/* the partial chunks, then the whole ones in steps: a crash in between
	   leaves a partly punched range, each step standing on its own */
	r = sfs_data_flush(sfs, i);
	for (bool done = hf >= ht; r == 0 && !done;) {
		uint64_t freed = 0;
		r = sfs_tx_begin_free(sfs, 4);
		if (r < 0)
			break;
		r = sfs_chunks_delete(sfs, i->ino, hf, ht, DEL_STEP, &freed, &done);
		if (freed) {
			pthread_mutex_lock(&i->attr_mu);
			sfs_inode_sub_blocks(i, freed);
			pthread_mutex_unlock(&i->attr_mu);
		}
		if (r == 0)
			r = sfs_inode_write(sfs, i, NULL, 0);
		sfs_tx_end(sfs, r == -ENOSPC ? 0 : r); /* each deleted chunk stands */
	}
	return r;
}

/* ---- operations ---------------------------------------------------------------- */

void sfs_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct sfs *sfs = sfs_of(req);
	struct sfs_inode *i;
	uint8_t *buf = NULL;
	uint64_t fsize;
	size_t n = 0;
	int r = 0;

	(void)fi;
	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	i = sfs_inode_grab_req(req, ino);
	if (!i)
		return;
	sfs_rwlock_rd(&i->io);
	pthread_mutex_lock(&i->attr_mu);
	fsize = i->a.size;
	pthread_mutex_unlock(&i->attr_mu);
	if ((uint64_t)off < fsize) {
		n = fsize - (uint64_t)off < size ? (size_t)(fsize - (uint64_t)off) : size;
		buf = malloc(n);
		r = buf ? data_read(sfs, i, buf, n, (uint64_t)off) : -ENOMEM;
	}
	pthread_rwlock_unlock(&i->io);
	sfs_inode_put(sfs, i);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_buf(req, (const char *)buf, n);
	free(buf);
}

void sfs_op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		  struct fuse_file_info *fi)
{
	struct sfs *sfs = sfs_of(req);
	struct sfs_inode *i;
	struct timespec now;
	uint64_t k0 = 0, k1 = 0;
	int r = 0;

	(void)fi;
	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if ((uint64_t)off >= SFS_MAX_FILE_SIZE) {
		fuse_reply_err(req, EFBIG);
		return;
	}
	if (size > SFS_MAX_FILE_SIZE - (uint64_t)off)
		size = (size_t)(SFS_MAX_FILE_SIZE - (uint64_t)off);
	if (sfs->opt.ro) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if (sfs->broken) {
		fuse_reply_err(req, EIO);
		return;
	}
	i = sfs_inode_grab_req(req, ino);
	if (!i)
		return;
	sfs_rwlock_wr(&i->io);
	r = sfs_space_check(sfs, size);
	if (r == 0)
		r = write_whole(sfs, i, (const uint8_t *)buf, size, (uint64_t)off, &k0, &k1);
	if (r == 0 && k1 > k0) {
		/* the head and tail that do not fill a chunk, buffered */
		uint64_t a = k0 * sfs->chunk_size, b = k1 * sfs->chunk_size;
		r = data_write(sfs, i, (const uint8_t *)buf, a - (uint64_t)off, (uint64_t)off);
		if (r == 0)
			r = data_write(sfs, i, (const uint8_t *)buf + (b - (uint64_t)off),
				       (uint64_t)off + size - b, b);
	} else if (r == 0) {
		r = data_write(sfs, i, (const uint8_t *)buf, size, (uint64_t)off);
	}
	if (r == 0) {
		sfs_now(&now);
		pthread_mutex_lock(&i->attr_mu);
		if ((uint64_t)off + size > i->a.size)
			i->a.size = (uint64_t)off + size;
		data_times(sfs, i, &now);
		pthread_mutex_unlock(&i->attr_mu);
		if (sfs->opt.sync || (uint64_t)i->ndense * sfs->chunk_size > INODE_DIRTY_MAX ||
		    sfs_data_pressure(sfs))
			r = sfs_data_flush(sfs, i);
	}
	pthread_rwlock_unlock(&i->io);
	if (r == 0 && sfs->opt.sync)
		r = sfs_sync_inode(sfs, i);
	if (sfs_data_pressure(sfs))
		sfs_batch_kick(sfs);
	sfs_inode_put(sfs, i);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_write(req, size);
}

void sfs_op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
		      struct fuse_file_info *fi)
{
	struct sfs *sfs = sfs_of(req);
	struct sfs_inode *i;
	uint64_t off = (uint64_t)offset, end, size;
	int r = 0;

	(void)fi;
	if (mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)) {
		fuse_reply_err(req, EOPNOTSUPP);
		return;
	}
	if ((mode & FALLOC_FL_PUNCH_HOLE) && (mode & FALLOC_FL_ZERO_RANGE)) {
		fuse_reply_err(req, EOPNOTSUPP);
		return;
	}
	if ((mode & FALLOC_FL_PUNCH_HOLE) && !(mode & FALLOC_FL_KEEP_SIZE)) {
		fuse_reply_err(req, EOPNOTSUPP);
		return;
	}
	if (offset < 0 || length <= 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	end = off + (uint64_t)length;
	if (end > SFS_MAX_FILE_SIZE || end < off) {
		fuse_reply_err(req, EFBIG);
		return;
	}
	if (sfs->opt.ro) {
		fuse_reply_err(req, EROFS);
		return;
	}
	i = sfs_inode_grab_req(req, ino);
	if (!i)
		return;
	if (!S_ISREG(i->a.mode)) {
		sfs_inode_put(sfs, i);
		fuse_reply_err(req, S_ISDIR(i->a.mode) ? EISDIR : ENODEV);
		return;
	}
	sfs_rwlock_wr(&i->io);
	pthread_mutex_lock(&i->attr_mu);
	size = i->a.size;
	pthread_mutex_unlock(&i->attr_mu);
	if (mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)) {
		r = 0;
		if (!(mode & FALLOC_FL_KEEP_SIZE) && end > size)
			r = sfs_data_truncate(sfs, i, end);
		if (r == 0)
			r = data_punch(sfs, i, off, end);
		if (r == 0) {
			struct timespec now;
			sfs_now(&now);
			pthread_mutex_lock(&i->attr_mu);
			data_times(sfs, i, &now);
			pthread_mutex_unlock(&i->attr_mu);
		}
	} else {
		/* a copy-on-write image cannot set space aside: check there is
		   room, and extend the size as asked */
		r = sfs_space_check(sfs, end > size ? end - (off > size ? off : size) : 0);
		if (r == 0 && !(mode & FALLOC_FL_KEEP_SIZE) && end > size)
			r = sfs_data_truncate(sfs, i, end);
	}
	if (r == 0 && sfs->opt.sync) {
		r = sfs_data_flush(sfs, i);
		pthread_rwlock_unlock(&i->io);
		if (r == 0)
			r = sfs_sync_inode(sfs, i);
	} else {
		pthread_rwlock_unlock(&i->io);
	}
	sfs_inode_put(sfs, i);
	fuse_reply_err(req, r < 0 ? -r : 0);
}

/* Is chunk idx of i data (a buffer or a stored chunk)? Tree lock shared. */
static int next_data_chunk(struct sfs *sfs, struct sfs_inode *i, uint64_t from, uint64_t *idx)
{
	size_t p = buf_lower(i, from);
	uint64_t best = p < i->nbufs ? i->bufs[p]->idx : UINT64_MAX;
	store_cursor *c = NULL;
	uint8_t key[16];
	const void *k;
	size_t kl;
	int r = store_cursor_open(sfs->txn, sfs->t.chunk, &c);

	if (r == 0)
		r = store_cursor_seek(c, STORE_SEEK_GE, key, sfs_key_ino2(key, i->ino, from));
	if (r == 0)
		r = store_cursor_get(c, &k, &kl, NULL, NULL);
	if (r == 0 && kl == 16 && sfs_get_be64(k) == i->ino) {
		uint64_t s = sfs_get_be64((const uint8_t *)k + 8);
		if (s < best)
			best = s;
	}
	if (c)
		store_cursor_close(c);
	if (r < 0 && r != -ENOENT)
		return r;
	*idx = best;
	return 0;
}

void sfs_op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence, struct fuse_file_info *fi)
{
	struct sfs *sfs = sfs_of(req);
	uint32_t cs = sfs->chunk_size;
	struct sfs_inode *i;
	struct sfs_attr a;
	uint64_t res = 0, o = (uint64_t)off;
	int r = 0;

	(void)fi;
	if (whence != SEEK_DATA && whence != SEEK_HOLE) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (off < 0) {
		fuse_reply_err(req, ENXIO);
		return;
	}
	i = sfs_inode_grab_req(req, ino);
	if (!i)
		return;
	sfs_rwlock_rd(&i->io);
	sfs_inode_attr(i, &a);
	if (o >= a.size) {
		r = -ENXIO;
	} else if (a.flags & SFS_IF_INLINE) {
		bool data = a.inline_len > 0 || i->nbufs > 0;
		if (whence == SEEK_DATA && data)
			res = o;
		else if (whence == SEEK_DATA)
			r = -ENXIO;
		else
			res = data ? a.size : o;
	} else {
		r = sfs_rd_begin(sfs);
		if (r == 0) {
			uint64_t c = o / cs, d = 0;
			if (whence == SEEK_DATA) {
				r = next_data_chunk(sfs, i, c, &d);
				if (r == 0 && (d == UINT64_MAX || d * (uint64_t)cs >= a.size))
					r = -ENXIO;
				if (r == 0)
					res = d * (uint64_t)cs > o ? d * (uint64_t)cs : o;
			} else {
				while (r == 0) {
					if (c * (uint64_t)cs >= a.size) {
						res = a.size;
						break;
					}
					r = next_data_chunk(sfs, i, c, &d);
					if (r == 0 && d != c) {
						res = c * (uint64_t)cs > o ? c * (uint64_t)cs : o;
						break;
					}
					c++;
				}
			}
			sfs_rd_end(sfs);
		}
	}
	pthread_rwlock_unlock(&i->io);
	sfs_inode_put(sfs, i);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_lseek(req, (off_t)res);
}

/* Share whole chunks [ci, ci+n) of in as [co, co+n) of out; out's size
   becomes at least end. Both io locks held, out has no buffers. */
static int share_chunks(struct sfs *sfs, struct sfs_inode *in, struct sfs_inode *out, uint64_t ci,
			uint64_t co, uint64_t n, uint64_t end)
{
	int64_t dblocks = 0;
	int r = sfs_tx_begin(sfs, (unsigned)(3 * n + 4), 0);

	if (r < 0)
		return r;
	for (uint64_t k = 0; r == 0 && k < n; k++) {
		uint64_t id = 0;
		r = chunk_get(sfs, in->ino, ci + k, &id);
		if (r == -ENOENT) {
			id = 0;
			r = 0;
		}
		if (r == 0 && id)
			r = sfs_blob_ref(sfs, id);
		if (r == 0)
			r = chunk_set(sfs, out->ino, co + k, id, &dblocks);
	}
	if (r == 0) {
		struct timespec now;
		sfs_now(&now);
		pthread_mutex_lock(&out->attr_mu);
		if (end > out->a.size)
			out->a.size = end;
		int64_t bl = (int64_t)out->a.blocks + dblocks;
		out->a.blocks = bl > 0 ? (uint64_t)bl : 0;
		data_times(sfs, out, &now);
		out->size_flushed = out->a.size;
		pthread_mutex_unlock(&out->attr_mu);
		r = sfs_inode_write(sfs, out, NULL, 0);
	}
	sfs_tx_end(sfs, r);
	return r;
}

/* copy_file_range: whole aligned chunks share their blob; the rest is copied */
static int copy_range(struct sfs *sfs, struct sfs_inode *in, uint64_t off_in,
		      struct sfs_inode *out, uint64_t off_out, uint64_t len, uint64_t *copied)
{
	uint32_t cs = sfs->chunk_size;
	uint64_t done = 0, size_in;
	uint8_t *tmp = NULL;
	int r;

	r = sfs_data_flush(sfs, in);
	if (r == 0 && out != in)
		r = sfs_data_flush(sfs, out);
	if (r < 0)
		return r;
	pthread_mutex_lock(&in->attr_mu);
	size_in = in->a.size;
	pthread_mutex_unlock(&in->attr_mu);
	if (off_in >= size_in)
		return 0;
	if (len > size_in - off_in)
		len = size_in - off_in;
	if (len > (UINT64_C(1) << 30))
		len = UINT64_C(1) << 30;
	if (off_out >= SFS_MAX_FILE_SIZE)
		return -EFBIG;
	if (len > SFS_MAX_FILE_SIZE - off_out)
		len = SFS_MAX_FILE_SIZE - off_out;

	/* an inline destination that will outgrow inline data becomes chunked */
	if (off_out % cs == 0 && off_in % cs == 0 && len >= cs &&
	    (out->a.flags & SFS_IF_INLINE) && off_out + len > sfs->inline_max) {
		pthread_mutex_lock(&out->attr_mu);
		if (off_out + len > out->a.size)
			out->a.size = off_out + len;
		pthread_mutex_unlock(&out->attr_mu);
		r = sfs_data_flush(sfs, out);
		if (r < 0)
			return r;
	}

	while (r == 0 && done < len) {
		uint64_t pin = off_in + done, pout = off_out + done, rem = len - done, osize;
		bool inl = (in->a.flags | out->a.flags) & SFS_IF_INLINE;

		pthread_mutex_lock(&out->attr_mu);
		osize = out->a.size;
		pthread_mutex_unlock(&out->attr_mu);
		if (!inl && pin % cs == 0 && pout % cs == 0 &&
		    (rem >= cs || (pin + rem == size_in && pout + rem >= osize))) {
			uint64_t n = rem >= cs ? rem / cs : 1;
			if (n > DEL_STEP)
				n = DEL_STEP;
			uint64_t bytes = rem >= cs ? n * cs : rem;
			if (out->nbufs)
				r = sfs_data_flush(sfs, out);
			if (r == 0)
				r = share_chunks(sfs, in, out, pin / cs, pout / cs, n, pout + bytes);
			if (r == 0)
				done += bytes;
			continue;
		}
		uint64_t piece = cs - pout % cs;
		if (piece > rem)
			piece = rem;
		if (!tmp && !(tmp = malloc(cs)))
			return -ENOMEM;
		r = data_read(sfs, in, tmp, piece, pin);
		if (r == 0)
			r = sfs_space_check(sfs, piece);
		if (r == 0)
			r = data_write(sfs, out, tmp, piece, pout);
		if (r == 0) {
			struct timespec now;
			sfs_now(&now);
			pthread_mutex_lock(&out->attr_mu);
			if (pout + piece > out->a.size)
				out->a.size = pout + piece;
			data_times(sfs, out, &now);
			pthread_mutex_unlock(&out->attr_mu);
			done += piece;
		}
	}
	free(tmp);
	if (r == 0 && out->nbufs)
		r = sfs_data_flush(sfs, out);
	*copied = done;
	return done ? 0 : r;
}

void sfs_op_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
			    struct fuse_file_info *fi_in, fuse_ino_t ino_out, off_t off_out,
			    struct fuse_file_info *fi_out, size_t len, int flags)
{
	struct sfs *sfs = sfs_of(req);
	struct sfs_inode *in = NULL, *out = NULL;
	uint64_t copied = 0;
	int r;

	(void)fi_in;
	(void)fi_out;
	if (flags != 0 || off_in < 0 || off_out < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (sfs->opt.ro) {
		fuse_reply_err(req, EROFS);
		return;
	}
	r = sfs_inode_grab(sfs, ino_in, &in);
	if (r == 0)
		r = sfs_inode_grab(sfs, ino_out, &out);
	if (r == 0 && (!S_ISREG(in->a.mode) || !S_ISREG(out->a.mode)))
		r = -EINVAL;
	if (r == 0) {
		struct sfs_inode *first = in->ino <= out->ino ? in : out;
		struct sfs_inode *second = first == in ? out : in;
		sfs_rwlock_wr(&first->io);
		if (second != first)
			sfs_rwlock_wr(&second->io);
		r = copy_range(sfs, in, (uint64_t)off_in, out, (uint64_t)off_out, len, &copied);
		if (second != first)
			pthread_rwlock_unlock(&second->io);
		pthread_rwlock_unlock(&first->io);
		if (r == 0 && sfs->opt.sync)
			r = sfs_sync_inode(sfs, out);
	}
	sfs_inode_put(sfs, in);
	sfs_inode_put(sfs, out);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_write(req, (size_t)copied);
}
