/*
 * pager.c — the store's I/O layer: every write-side system call on the image
 * (each one offered to the I/O hook first), the read-only mapping through
 * which committed pages are read, the check of a page against the checksum
 * its parent holds [I3], and the write txn's map of dirty pages.
 *
 * Reads: committed pages are read through one MAP_SHARED, PROT_READ mapping
 * of the whole file (reserved up to the format's size limit, so the file can
 * grow without remapping). A page is checked against its expected checksum
 * and its layout the first time it is read; a bit per page remembers that,
 * and is cleared whenever the page number is handed out again [I4].
 * Writes: pwrite(2) only; the mapping sees them through the page cache.
 */
#include "store_int.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <xxhash.h>

void store_logf(store *s, int level, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (s && s->log)
		s->log(s->log_ctx, level, msg);
	else
		fprintf(stderr, "slatefs store: %s\n", msg);
}

uint64_t page_csum(const store *s, const void *page)
{
	return XXH3_64bits(page, s->page_size);
}

static int hook(store *s, enum store_io_op op, uint64_t off, const void *buf, uint64_t len)
{
	if (!s->io_hook)
		return 0;
	return s->io_hook(s->io_hook_ctx, op, off, buf, len);
}

int io_pwrite(store *s, const void *buf, size_t len, uint64_t off)
{
	int r = hook(s, STORE_IO_WRITE, off, buf, len);
	if (r < 0)
		return r;
	const uint8_t *p = buf;
	while (len > 0) {
		ssize_t n = pwrite(s->fd, p, len, (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			store_logf(s, STORE_LOG_ERR, "write of %zu bytes at %llu failed: %s", len,
				   (unsigned long long)off, strerror(errno));
			return r;
		}
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

/*
 * Write and make just that write durable (the commit slot, [I6]): one
 * pwritev2(RWF_DSYNC) where the kernel and filesystem support it, which is
 * cheaper than write + fdatasync; the hook sees a write, then a sync.
 */
int io_pwrite_durable(store *s, const void *buf, size_t len, uint64_t off)
{
	int r = hook(s, STORE_IO_WRITE, off, buf, len);
	if (r < 0)
		return r;
	r = hook(s, STORE_IO_SYNC, 0, NULL, 0);
	if (r < 0)
		return r;
	struct iovec v = {(void *)buf, len};
	ssize_t n;
	do
		n = pwritev2(s->fd, &v, 1, (off_t)off, RWF_DSYNC);
	while (n < 0 && errno == EINTR);
	if (n == (ssize_t)len)
		return 0;
	if (n >= 0 || (errno != EOPNOTSUPP && errno != EINVAL && errno != ENOSYS)) {
		r = n < 0 ? -errno : -EIO;
		store_logf(s, STORE_LOG_ERR, "durable write of %zu bytes at %llu failed: %s", len,
			   (unsigned long long)off, strerror(-r));
		return r;
	}
	/* no RWF_DSYNC here: write, then fdatasync (hooks already told) */
	const uint8_t *q = buf;
	while (len > 0) {
		n = pwrite(s->fd, q, len, (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		q += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return fdatasync(s->fd) < 0 ? -errno : 0;
}

int io_pread(store *s, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;
	while (len > 0) {
		ssize_t n = pread(s->fd, p, len, (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int r = -errno;
			store_logf(s, STORE_LOG_ERR, "read of %zu bytes at %llu failed: %s", len,
				   (unsigned long long)off, strerror(errno));
			return r;
		}
		if (n == 0) {
			store_logf(s, STORE_LOG_ERR, "read at %llu is past the end of the image",
				   (unsigned long long)off);
			return -EIO;
		}
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

int io_sync(store *s)
{
	int r = hook(s, STORE_IO_SYNC, 0, NULL, 0);
	if (r < 0)
		return r;
	if (fdatasync(s->fd) < 0) {
		r = -errno;
		store_logf(s, STORE_LOG_ERR, "fdatasync failed: %s", strerror(errno));
		return r;
	}
	return 0;
}

int io_truncate(store *s, uint64_t size)
{
	int r = hook(s, STORE_IO_TRUNCATE, size, NULL, 0);
	if (r < 0)
		return r;
	if (ftruncate(s->fd, (off_t)size) < 0) {
		r = -errno;
		store_logf(s, STORE_LOG_ERR, "truncate to %llu failed: %s",
			   (unsigned long long)size, strerror(errno));
		return r;
	}
	return 0;
}

int io_allocate(store *s, uint64_t off, uint64_t len)
{
	int r = hook(s, STORE_IO_ALLOCATE, off, NULL, len);
	if (r < 0)
		return r;
	if (fallocate(s->fd, 0, (off_t)off, (off_t)len) == 0)
		return 0;
	if (errno != EOPNOTSUPP && errno != ENOSYS)
		return -errno;
	/* no fallocate here (e.g. some network filesystems): grow sparsely */
	struct stat st;
	if (fstat(s->fd, &st) < 0)
		return -errno;
	if ((uint64_t)st.st_size < off + len && ftruncate(s->fd, (off_t)(off + len)) < 0)
		return -errno;
	return 0;
}

int io_punch(store *s, uint64_t off, uint64_t len)
{
	int r = hook(s, STORE_IO_PUNCH, off, NULL, len);
	if (r < 0)
		return r;
	if (fallocate(s->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off,
		      (off_t)len) < 0)
		return -errno;
	return 0;
}

int pager_map(store *s)
{
	/* Reserve address space for the largest image the format allows (so the
	 * file grows under a fixed mapping), capped at 4 TiB. */
	uint64_t bpb = alloc_bits_per_page(s);
	uint64_t epi = (s->page_size - PAGE_HDR) / IDX_ENTRY;
	uint64_t limit_pages = (uint64_t)MAX_INDEX * epi * bpb;
	uint64_t cap = 4ull << 40;
	uint64_t size = limit_pages << s->page_shift;
	if (size > cap || size >> s->page_shift != limit_pages)
		size = cap;
	/* where less address space is allowed (valgrind, ulimit -v), take what
	 * is: the image then cannot grow past it (-ENOSPC) */
	uint64_t floor = (atomic_load(&s->file_pages) << s->page_shift) * 2;
	if (floor < (64ull << 20))
		floor = 64ull << 20;
	void *m = MAP_FAILED;
	for (;;) {
		m = mmap(NULL, size, PROT_READ, MAP_SHARED | MAP_NORESERVE, s->fd, 0);
		if (m != MAP_FAILED || size / 2 < floor)
			break;
		size /= 2;
	}
	if (m == MAP_FAILED) {
		int r = -errno;
		store_logf(s, STORE_LOG_ERR, "cannot map the image: %s", strerror(errno));
		return r;
	}
	s->map_size = size;
	s->map = m;
	uint64_t pages = size >> s->page_shift;
	s->verified_bytes = (size_t)((pages + 63) / 64 * 8);
	void *v = mmap(NULL, s->verified_bytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (v == MAP_FAILED) {
		int r = -errno;
		munmap(s->map, s->map_size);
		s->map = NULL;
		return r;
	}
	s->verified = v;
	return 0;
}

void pager_unmap(store *s)
{
	if (s->map)
		munmap(s->map, s->map_size);
	if (s->verified)
		munmap((void *)s->verified, s->verified_bytes);
	s->map = NULL;
	s->verified = NULL;
}

bool pager_is_verified(store *s, uint64_t pgno)
{
	uint64_t w = atomic_load_explicit(&s->verified[pgno / 64], memory_order_acquire);
	return (w >> (pgno % 64)) & 1;
}

void pager_set_verified(store *s, uint64_t pgno, bool on)
{
	if (pgno >= (s->map_size >> s->page_shift))
		return;
	uint64_t bit = 1ull << (pgno % 64);
	if (on)
		atomic_fetch_or_explicit(&s->verified[pgno / 64], bit, memory_order_release);
	else
		atomic_fetch_and_explicit(&s->verified[pgno / 64], ~bit, memory_order_release);
}

/*
 * Check that a tree page's header and cells lie inside the page, so that
 * code walking it can never read out of bounds — even for a page whose
 * checksum matches but whose content was crafted.
 */
int page_check_layout(store *s, const uint8_t *p, uint64_t pgno)
{
	uint32_t ps = s->page_size;
	int type = p[PH_TYPE];
	if (type == PT_BITMAP || type == PT_INDEX)
		return 0;
	if (type != PT_LEAF && type != PT_BRANCH)
		goto bad;
	unsigned n = get16(p + PH_NKEYS);
	uint32_t upper = get32(p + PH_UPPER);
	if ((type == PT_LEAF) != (p[PH_LEVEL] == 0) || p[PH_LEVEL] >= MAX_DEPTH)
		goto bad;
	if (PAGE_HDR + 2ull * n > upper || upper > ps)
		goto bad;
	if (type == PT_BRANCH && n == 0)
		goto bad;
	/* the cell area [upper, ps) holds the cells and the dead bytes the
	 * header counts (PH_GARBAGE): an insert trusts that count when it
	 * compacts, so more than is there would overwrite live cells */
	uint64_t cells = get16(p + PH_GARBAGE);
	for (unsigned i = 0; i < n; i++) {
		uint32_t off = get16(p + PAGE_HDR + 2 * i);
		if (off < upper || off + 4 > ps)
			goto bad;
		uint32_t klen = get16(p + off);
		if (klen > STORE_MAX_KEY)
			goto bad;
		uint64_t end;
		if (type == PT_LEAF) {
			uint32_t vi = get16(p + off + 2);
			uint32_t vlen = (vi & VINFO_OVERFLOW) ? OVERFLOW_REF : vi;
			end = (uint64_t)off + LEAF_CELL_HDR + klen + vlen;
		} else {
			end = (uint64_t)off + BRANCH_CELL_HDR + klen;
		}
		if (end > ps)
			goto bad;
		cells += end - off;
	}
	if (cells > ps - upper)
		goto bad;
	return 0;
bad:
	store_logf(s, STORE_LOG_ERR, "page %llu: malformed page layout", (unsigned long long)pgno);
	return -EIO;
}

int page_get(store_txn *txn, uint64_t pgno, uint64_t csum, int type, int level,
	     const uint8_t **out)
{
	store *s = txn->s;
	const uint8_t *p = NULL;
	if (txn->write) {
		p = dirty_find(txn, pgno);
		if (p) {
			/* a page this txn wrote must be what the reference expects:
			 * a damaged free map can hand a live page out again */
			if ((type >= 0 && p[PH_TYPE] != type) || (level >= 0 && p[PH_LEVEL] != level)) {
				store_logf(s, STORE_LOG_ERR,
					   "page %llu: referenced as a type %d page but this txn made "
					   "it a type %d page (the free map gave out a page in use)",
					   (unsigned long long)pgno, type, p[PH_TYPE]);
				return -EIO;
			}
			*out = p;
			return 0;
		}
	}
	if (pgno < s->first_pg || pgno >= atomic_load(&s->file_pages)) {
		store_logf(s, STORE_LOG_ERR, "page %llu is outside the image (%llu pages)",
			   (unsigned long long)pgno, (unsigned long long)atomic_load(&s->file_pages));
		return -EIO;
	}
	p = s->map + (pgno << s->page_shift);
	if (!pager_is_verified(s, pgno)) {
		/* [I3] a page is used only once its content matches what its
		 * parent (or the slot) says was written there. */
		uint64_t c = page_csum(s, p);
		if (c != csum) {
			store_logf(s, STORE_LOG_ERR,
				   "page %llu: checksum mismatch (expected %016llx, found %016llx)",
				   (unsigned long long)pgno, (unsigned long long)csum,
				   (unsigned long long)c);
			return -EIO;
		}
		if (get64(p + PH_PGNO) != pgno) {
			store_logf(s, STORE_LOG_ERR, "page %llu: holds page %llu (misdirected write)",
				   (unsigned long long)pgno, (unsigned long long)get64(p + PH_PGNO));
			return -EIO;
		}
		if (page_check_layout(s, p, pgno) < 0)
			return -EIO;
		pager_set_verified(s, pgno, true);
	}
	if ((type >= 0 && p[PH_TYPE] != type) || (level >= 0 && p[PH_LEVEL] != level)) {
		store_logf(s, STORE_LOG_ERR,
			   "page %llu: is a type %d level %d page, expected type %d level %d",
			   (unsigned long long)pgno, p[PH_TYPE], p[PH_LEVEL], type, level);
		return -EIO;
	}
	*out = p;
	return 0;
}

/* Page buffers for dirty pages: the writer's alone, kept for reuse. */
enum { POOL_MAX = 4096 };

uint8_t *page_alloc_buf(store *s)
{
	if (s->npool)
		return s->pool[--s->npool];
	void *p = NULL;
	if (posix_memalign(&p, 4096, s->page_size) != 0)
		return NULL;
	return p;
}

void page_free_buf(store *s, uint8_t *buf)
{
	if (!buf)
		return;
	if (s->npool < POOL_MAX) {
		if (s->npool == s->poolcap) {
			size_t n = s->poolcap ? s->poolcap * 2 : 256;
			uint8_t **x = realloc(s->pool, n * sizeof(*x));
			if (x) {
				s->pool = x;
				s->poolcap = n;
			}
		}
		if (s->npool < s->poolcap) {
			s->pool[s->npool++] = buf;
			return;
		}
	}
	free(buf);
}

void page_pool_free(store *s)
{
	while (s->npool)
		free(s->pool[--s->npool]);
	free(s->pool);
	s->pool = NULL;
	s->poolcap = 0;
}

/* ---- dirty pages of the write txn: open addressing on the page number ---- */

static size_t dp_slot(uint64_t pgno, size_t cap)
{
	return (size_t)((pgno * 0x9E3779B97F4A7C15ull) >> 20) & (cap - 1);
}

uint8_t *dirty_find(store_txn *txn, uint64_t pgno)
{
	if (!txn->dpcap)
		return NULL;
	size_t mask = txn->dpcap - 1;
	for (size_t i = dp_slot(pgno, txn->dpcap);; i = (i + 1) & mask) {
		if (txn->dp[i].pgno == pgno)
			return txn->dp[i].buf;
		if (txn->dp[i].pgno == 0)
			return NULL;
	}
}

static void dp_insert(struct dpage *tab, size_t cap, uint64_t pgno, uint8_t *buf)
{
	size_t mask = cap - 1;
	size_t i = dp_slot(pgno, cap);
	while (tab[i].pgno != 0)
		i = (i + 1) & mask;
	tab[i].pgno = pgno;
	tab[i].buf = buf;
}

int dirty_add(store_txn *txn, uint64_t pgno, uint8_t *buf)
{
	if ((txn->ndp + 1) * 4 > txn->dpcap * 3) {
		size_t ncap = txn->dpcap ? txn->dpcap * 2 : 256;
		struct dpage *n = calloc(ncap, sizeof(*n));
		if (!n)
			return -ENOMEM;
		for (size_t i = 0; i < txn->dpcap; i++)
			if (txn->dp[i].pgno)
				dp_insert(n, ncap, txn->dp[i].pgno, txn->dp[i].buf);
		free(txn->dp);
		txn->dp = n;
		txn->dpcap = ncap;
	}
	dp_insert(txn->dp, txn->dpcap, pgno, buf);
	txn->ndp++;
	/* [I4] the number now names new content */
	pager_set_verified(txn->s, pgno, false);
	return 0;
}

/* Remove an entry (its buffer stays with the caller); backward-shift delete. */
void dirty_remove(store_txn *txn, uint64_t pgno)
{
	size_t mask = txn->dpcap - 1;
	size_t i = dp_slot(pgno, txn->dpcap);
	while (txn->dp[i].pgno != pgno) {
		if (txn->dp[i].pgno == 0)
			return;
		i = (i + 1) & mask;
	}
	txn->dp[i].pgno = 0;
	txn->dp[i].buf = NULL;
	txn->ndp--;
	for (size_t j = (i + 1) & mask; txn->dp[j].pgno != 0; j = (j + 1) & mask) {
		size_t home = dp_slot(txn->dp[j].pgno, txn->dpcap);
		/* move j into the hole i if its home is not in (i, j] */
		bool in_range = (i <= j) ? (home > i && home <= j) : (home > i || home <= j);
		if (!in_range) {
			txn->dp[i] = txn->dp[j];
			txn->dp[j].pgno = 0;
			txn->dp[j].buf = NULL;
			i = j;
		}
	}
}
