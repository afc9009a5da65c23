/*
 * store.c — opening, creating and closing an image, and the commit slots.
 *
 * The file starts with two 4096-byte commit slots (at offsets 0 and 4096);
 * data pages follow (from page 8192 / page_size, at least 1). A slot is the
 * on-disk form of a committed state ("meta"): format version, page size,
 * uuid, txn id, the roots of the catalog and the two blob indexes, the
 * allocator's index pages, counters, and an XXH3 of the slot itself.
 * Opening picks the valid slot with the highest txn id [I6]; nothing else is
 * read at open but the index pages of the allocator (one per ~16 GiB) and
 * the roots of the system trees [I7].
 */
#include "store_int.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

/* slot field offsets */
#define S_MAGIC 0
#define S_VERSION 8
#define S_PAGESIZE 12
#define S_INCOMPAT 16
#define S_COMPAT 24
#define S_UUID 32
#define S_TXNID 48
#define S_FILEPAGES 56
#define S_USED 64
#define S_NEXTBLOB 72
#define S_NEXTTABLE 80
#define S_NINDEX 84
#define S_BLOBCOUNT 88
#define S_BLOBLOGICAL 96
#define S_BLOBSTORED 104
#define S_TREEPAGES 112
#define S_ALLOCPAGES 120
#define S_SYS 128 /* 3 x 40 bytes */
#define S_RESERVATIONS 248
#define SYS_SIZE 40

void slot_encode(const store *s, const struct meta *m, uint8_t *slot)
{
	memset(slot, 0, SLOT_SIZE);
	memcpy(slot + S_MAGIC, SLOT_MAGIC, 8);
	put32(slot + S_VERSION, STORE_FORMAT_VERSION);
	put32(slot + S_PAGESIZE, s->page_size);
	memcpy(slot + S_UUID, s->uuid, 16);
	put64(slot + S_TXNID, m->txnid);
	put64(slot + S_FILEPAGES, m->file_pages);
	put64(slot + S_USED, m->used_pages);
	put64(slot + S_NEXTBLOB, m->next_blob_id);
	put32(slot + S_NEXTTABLE, m->next_table_id);
	put32(slot + S_NINDEX, m->nindex);
	put64(slot + S_BLOBCOUNT, m->blob_count);
	put64(slot + S_BLOBLOGICAL, m->blob_logical);
	put64(slot + S_BLOBSTORED, m->blob_stored);
	put64(slot + S_TREEPAGES, m->tree_pages);
	put64(slot + S_ALLOCPAGES, m->alloc_pages);
	put64(slot + S_RESERVATIONS, m->reservations);
	for (int i = 0; i < NSYS; i++) {
		uint8_t *e = slot + S_SYS + i * SYS_SIZE;
		put64(e, m->sys[i].pgno);
		put64(e + 8, m->sys[i].csum);
		put64(e + 16, m->sys[i].entries);
		put64(e + 24, m->sys[i].pages);
		put32(e + 32, m->sys[i].depth);
	}
	for (uint32_t i = 0; i < m->nindex; i++) {
		put64(slot + SLOT_HDR + 16 * i, m->index_pgno[i]);
		put64(slot + SLOT_HDR + 16 * i + 8, m->index_csum[i]);
	}
	put64(slot + SLOT_SIZE - 8, XXH3_64bits(slot, SLOT_SIZE - 8));
}

/*
 * Decode a slot. Returns 0, -EINVAL (not a slot: bad magic), -EIO (damaged),
 * or -EPROTONOSUPPORT (a newer format); `why` says which.
 */
int slot_decode(const uint8_t *slot, struct meta *m, uint32_t *page_size, uint8_t uuid[16],
		char *why, size_t whylen)
{
	if (memcmp(slot + S_MAGIC, SLOT_MAGIC, 8) != 0) {
		snprintf(why, whylen, "no slatefs signature");
		return -EINVAL;
	}
	if (get64(slot + SLOT_SIZE - 8) != XXH3_64bits(slot, SLOT_SIZE - 8)) {
		snprintf(why, whylen, "checksum mismatch");
		return -EIO;
	}
	uint32_t ver = get32(slot + S_VERSION);
	if (ver > STORE_FORMAT_VERSION || get64(slot + S_INCOMPAT) != 0) {
		if (ver > STORE_FORMAT_VERSION)
			snprintf(why, whylen, "format version %u (this program reads up to %u)", ver,
				 STORE_FORMAT_VERSION);
		else
			snprintf(why, whylen, "unknown incompatible features %#llx",
				 (unsigned long long)get64(slot + S_INCOMPAT));
		memset(m, 0, sizeof(*m));
		m->txnid = get64(slot + S_TXNID); /* the slot is intact: its age is known */
		return -EPROTONOSUPPORT;
	}
	uint32_t ps = get32(slot + S_PAGESIZE);
	if (ps < STORE_MIN_PAGE_SIZE || ps > STORE_MAX_PAGE_SIZE || (ps & (ps - 1))) {
		snprintf(why, whylen, "impossible page size %u", ps);
		return -EIO;
	}
	memset(m, 0, sizeof(*m));
	m->txnid = get64(slot + S_TXNID);
	m->file_pages = get64(slot + S_FILEPAGES);
	m->used_pages = get64(slot + S_USED);
	m->next_blob_id = get64(slot + S_NEXTBLOB);
	m->next_table_id = get32(slot + S_NEXTTABLE);
	m->nindex = get32(slot + S_NINDEX);
	m->blob_count = get64(slot + S_BLOBCOUNT);
	m->blob_logical = get64(slot + S_BLOBLOGICAL);
	m->blob_stored = get64(slot + S_BLOBSTORED);
	m->tree_pages = get64(slot + S_TREEPAGES);
	m->alloc_pages = get64(slot + S_ALLOCPAGES);
	m->reservations = get64(slot + S_RESERVATIONS);
	for (int i = 0; i < NSYS; i++) {
		const uint8_t *e = slot + S_SYS + i * SYS_SIZE;
		m->sys[i].pgno = get64(e);
		m->sys[i].csum = get64(e + 8);
		m->sys[i].entries = get64(e + 16);
		m->sys[i].pages = get64(e + 24);
		m->sys[i].depth = get32(e + 32);
		if (m->sys[i].depth > MAX_DEPTH || (m->sys[i].depth == 0) != (m->sys[i].pgno == 0)) {
			snprintf(why, whylen, "malformed tree root");
			return -EIO;
		}
	}
	if (m->nindex > MAX_INDEX || m->next_table_id < TID_FIRST_USER ||
	    m->next_table_id > MAX_TABLE_ID) {
		snprintf(why, whylen, "malformed allocator root");
		return -EIO;
	}
	for (uint32_t i = 0; i < m->nindex; i++) {
		m->index_pgno[i] = get64(slot + SLOT_HDR + 16 * i);
		m->index_csum[i] = get64(slot + SLOT_HDR + 16 * i + 8);
	}
	*page_size = ps;
	memcpy(uuid, slot + S_UUID, 16);
	return 0;
}

static void default_log(void *ctx, int level, const char *msg)
{
	(void)ctx;
	if (level >= STORE_LOG_DEBUG)
		return; /* routine conditions the caller reports itself (ENOSPC) */
	fprintf(stderr, "slatefs store: %s\n", msg);
}

static void store_free(store *s)
{
	if (!s)
		return;
	alloc_destroy(s);
	page_pool_free(s);
	pager_unmap(s);
	if (s->fd >= 0)
		close(s->fd);
	meta_put(s->latest);
	for (uint32_t i = 0; i < s->nnames; i++)
		free(s->names[i]);
	free(s->names);
	pthread_mutex_destroy(&s->write_lock);
	pthread_mutex_destroy(&s->meta_lock);
	pthread_mutex_destroy(&s->sync_lock);
	pthread_mutex_destroy(&s->names_lock);
	pthread_mutex_destroy(&s->pub_lock);
	free(s->pub_pend);
	free(s->path);
	free(s);
}

static void set_page_size(store *s, uint32_t ps)
{
	s->page_size = ps;
	s->page_shift = (uint32_t)__builtin_ctz(ps);
	s->first_pg = (2 * SLOT_SIZE + ps - 1) / ps;
}

static int create_image(store *s, const struct store_options *opt)
{
	uint32_t ps = opt && opt->page_size ? opt->page_size : STORE_DEFAULT_PAGE_SIZE;
	if (ps < STORE_MIN_PAGE_SIZE || ps > STORE_MAX_PAGE_SIZE || (ps & (ps - 1))) {
		store_logf(s, STORE_LOG_ERR, "page size %u: must be a power of two from %u to %u",
			   ps, STORE_MIN_PAGE_SIZE, STORE_MAX_PAGE_SIZE);
		return -EINVAL;
	}
	set_page_size(s, ps);
	if (getrandom(s->uuid, sizeof(s->uuid), 0) != (ssize_t)sizeof(s->uuid))
		return -errno;
	s->uuid[6] = (uint8_t)((s->uuid[6] & 0x0f) | 0x40); /* version 4 */
	s->uuid[8] = (uint8_t)((s->uuid[8] & 0x3f) | 0x80);
	int r = io_truncate(s, 0);
	if (r == 0)
		r = io_allocate(s, 0, s->first_pg << s->page_shift);
	if (r < 0)
		return r;
	/* both slots invalid until the first commit */
	uint8_t zero[SLOT_SIZE];
	memset(zero, 0, sizeof(zero));
	r = io_pwrite(s, zero, SLOT_SIZE, SLOT_OFF(0));
	if (r == 0)
		r = io_pwrite(s, zero, SLOT_SIZE, SLOT_OFF(1));
	if (r < 0)
		return r;
	atomic_store(&s->file_pages, s->first_pg);
	r = pager_map(s);
	if (r < 0)
		return r;
	struct meta *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	atomic_store(&m->refs, 1);
	m->file_pages = s->first_pg;
	m->next_blob_id = 1;
	m->next_table_id = TID_FIRST_USER;
	s->latest = m;
	s->slot_cur = 1; /* the first commit goes to slot 0 */
	r = alloc_init(s, m);
	if (r < 0)
		return r;
	store_txn *txn;
	r = store_txn_begin(s, STORE_TXN_WRITE, &txn);
	if (r < 0)
		return r;
	r = alloc_create(txn);
	if (r < 0) {
		store_txn_abort(txn);
		return r;
	}
	txn_touch(txn);
	return store_txn_commit(txn, STORE_COMMIT_DURABLE, NULL);
}

/*
 * The file ends at page `actual` but the state covers up to `covered`: a
 * shrink that was not committed before a crash. That is fine as long as no
 * page past the end is in use; otherwise the image was truncated.
 */
static int check_tail_unused(store *s, uint64_t actual, uint64_t covered)
{
	store_txn *txn;
	int r = store_txn_begin(s, STORE_TXN_READ, &txn);
	if (r < 0)
		return r;
	uint64_t bpb = alloc_bits_per_page(s);
	/* only bitmaps that exist can mark anything used: a word at a time */
	for (uint64_t b = actual / bpb; r == 0 && b * bpb < covered; b++) {
		const uint8_t *bits;
		uint64_t pg;
		r = alloc_bitmap_get(txn, (uint32_t)b, &bits, &pg);
		if (r < 0 || !pg)
			continue;
		const uint64_t *w = (const uint64_t *)bits;
		for (uint64_t k = 0; k < bpb / 64 && r == 0; k++) {
			uint64_t p0 = b * bpb + k * 64, x = w[k];
			if (p0 + 64 <= actual || !x)
				continue;
			if (p0 < actual)
				x &= ~((1ull << (actual - p0)) - 1);
			if (x) {
				store_logf(s, STORE_LOG_ERR,
					   "%s: image is truncated: page %llu is in use but the file "
					   "ends at page %llu",
					   s->path, (unsigned long long)(p0 + (uint64_t)__builtin_ctzll(x)),
					   (unsigned long long)actual);
				r = -EIO;
			}
		}
	}
	store_txn_abort(txn);
	return r;
}

static int open_image(store *s)
{
	struct stat st;
	if (fstat(s->fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
		store_logf(s, STORE_LOG_ERR, "%s: not a regular file", s->path);
		return -EINVAL;
	}
	if ((uint64_t)st.st_size < 2 * SLOT_SIZE) {
		store_logf(s, STORE_LOG_ERR,
			   "%s: not a slatefs image (%lld bytes: too small to hold one)", s->path,
			   (long long)st.st_size);
		return st.st_size == 0 ? -EINVAL : -EINVAL;
	}
	uint8_t slot[2][SLOT_SIZE];
	struct meta m[2];
	uint32_t ps[2];
	uint8_t uuid[2][16];
	char why[2][96];
	int res[2];
	for (int i = 0; i < 2; i++) {
		int r = io_pread(s, slot[i], SLOT_SIZE, SLOT_OFF(i));
		if (r < 0)
			return r;
		res[i] = slot_decode(slot[i], &m[i], &ps[i], uuid[i], why[i], sizeof(why[i]));
	}
	int pick = -1;
	for (int i = 0; i < 2; i++)
		if (res[i] == 0 && (pick < 0 || m[i].txnid > m[pick].txnid))
			pick = i;
	/* a newer program wrote the newest state: going back to an older one
	 * (and then overwriting) would lose its work */
	for (int i = 0; i < 2; i++)
		if (res[i] == -EPROTONOSUPPORT && (pick < 0 || m[i].txnid > m[pick].txnid)) {
			store_logf(s, STORE_LOG_ERR, "%s: %s", s->path, why[i]);
			return -EPROTONOSUPPORT;
		}
	if (pick < 0) {
		if (res[0] == -EINVAL && res[1] == -EINVAL) {
			store_logf(s, STORE_LOG_ERR, "%s: not a slatefs image (no signature)",
				   s->path);
			return -EINVAL;
		}
		if (res[0] == -EPROTONOSUPPORT || res[1] == -EPROTONOSUPPORT) {
			store_logf(s, STORE_LOG_ERR, "%s: %s", s->path,
				   res[0] == -EPROTONOSUPPORT ? why[0] : why[1]);
			return -EPROTONOSUPPORT;
		}
		store_logf(s, STORE_LOG_ERR,
			   "%s: both commit slots are damaged (slot 0: %s; slot 1: %s)", s->path,
			   why[0], why[1]);
		return -EIO;
	}
	int other = 1 - pick;
	if (res[other] != 0 && !(res[other] == -EINVAL && m[pick].txnid <= 1))
		store_logf(s, STORE_LOG_WARNING, "%s: commit slot %d is not usable (%s); using slot %d",
			   s->path, other, why[other], pick);
	set_page_size(s, ps[pick]);
	memcpy(s->uuid, uuid[pick], 16);
	s->slot_csum[0] = get64(slot[0] + SLOT_SIZE - 8);
	s->slot_csum[1] = get64(slot[1] + SLOT_SIZE - 8);
	uint64_t actual = (uint64_t)st.st_size >> s->page_shift;
	atomic_store(&s->file_pages, actual);
	int r = pager_map(s);
	if (r < 0)
		return r;
	struct meta *mm = malloc(sizeof(*mm));
	if (!mm)
		return -ENOMEM;
	*mm = m[pick];
	atomic_store(&mm->refs, 1);
	s->latest = mm;
	s->slot_cur = pick;
	atomic_store(&s->durable_txnid, mm->txnid);
	if (mm->file_pages < s->first_pg) {
		store_logf(s, STORE_LOG_ERR, "%s: commit slot describes an impossible size", s->path);
		return -EIO;
	}
	r = alloc_init(s, mm);
	if (r < 0)
		return r;
	/* the file may be shorter than the state says (a shrink that was not
	 * yet committed when it crashed) only if nothing used lies past its end */
	if (actual < mm->file_pages) {
		r = check_tail_unused(s, actual, mm->file_pages);
		if (r < 0)
			return r;
		mm->file_pages = actual;
		s->alloc.file_pages = actual;
	} else if (actual > mm->file_pages) {
		/* grown but not committed: the extra pages are free */
		s->alloc.file_pages = actual;
	}
	if (!(s->flags & STORE_RDONLY)) {
		r = alloc_open_punched(s);
		if (r < 0)
			return r;
	}
	/* check the roots now, so a damaged image fails at open */
	store_txn *txn;
	r = store_txn_begin(s, STORE_TXN_READ, &txn);
	if (r < 0)
		return r;
	for (int i = 0; i < NSYS && r == 0; i++) {
		const struct tree_root *tr = &mm->sys[i];
		if (!tr->depth)
			continue;
		const uint8_t *p;
		r = page_get(txn, tr->pgno, tr->csum, tr->depth > 1 ? PT_BRANCH : PT_LEAF,
			     (int)tr->depth - 1, &p);
	}
	store_txn_abort(txn);
	if (r < 0) {
		store_logf(s, STORE_LOG_ERR, "%s: the root of a system tree is damaged", s->path);
		return r;
	}
	return 0;
}

int store_open(const char *path, unsigned flags, const struct store_options *opt, store **out)
{
	*out = NULL;
	store *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->fd = -1;
	s->flags = flags;
	s->path = strdup(path);
	s->log = opt && opt->log ? opt->log : default_log;
	s->log_ctx = opt ? opt->log_ctx : NULL;
	s->io_hook = opt ? opt->io_hook : NULL;
	s->io_hook_ctx = opt ? opt->io_hook_ctx : NULL;
	s->max_size = opt ? opt->max_size : 0;
	s->readers.next = s->readers.prev = &s->readers;
	pthread_mutex_init(&s->write_lock, NULL);
	pthread_mutex_init(&s->meta_lock, NULL);
	pthread_mutex_init(&s->sync_lock, NULL);
	pthread_mutex_init(&s->names_lock, NULL);
	pthread_mutex_init(&s->pub_lock, NULL);
	if (!s->path) {
		store_free(s);
		return -ENOMEM;
	}
	bool create = flags & STORE_CREATE;
	if (create && (flags & STORE_RDONLY)) {
		store_free(s);
		return -EINVAL;
	}
	int oflags = (flags & STORE_RDONLY) ? O_RDONLY : O_RDWR;
	if (create)
		oflags |= O_CREAT | ((flags & STORE_OVERWRITE) ? 0 : O_EXCL);
	s->fd = open(path, oflags | O_CLOEXEC, 0644);
	if (s->fd < 0) {
		int r = -errno;
		if (r == -EEXIST)
			store_logf(s, STORE_LOG_ERR, "%s: already exists", path);
		else
			store_logf(s, STORE_LOG_ERR, "%s: cannot open: %s", path, strerror(errno));
		store_free(s);
		return r;
	}
	if (!(flags & STORE_NOLOCK)) {
		int how = (flags & STORE_RDONLY) ? LOCK_SH : LOCK_EX;
		if (flock(s->fd, how | LOCK_NB) < 0) {
			int r = errno == EWOULDBLOCK ? -EBUSY : -errno;
			store_logf(s, STORE_LOG_ERR,
				   "%s: the image is in use by another process (is it mounted?)",
				   path);
			store_free(s);
			return r;
		}
	}
	int r = create ? create_image(s, opt) : open_image(s);
	if (r < 0) {
		store_free(s);
		return r;
	}
	*out = s;
	return 0;
}

int store_close(store *s)
{
	if (!s)
		return 0;
	if (s->writer)
		store_txn_abort(s->writer);
	int r = 0;
	if (!(s->flags & STORE_RDONLY) && !atomic_load(&s->error) &&
	    atomic_load(&s->durable_txnid) < s->latest->txnid)
		r = store_sync(s, 0);
	store_free(s);
	return r;
}

uint32_t store_page_size(const store *s)
{
	return s->page_size;
}

size_t store_inline_max(const store *s, size_t klen)
{
	return bt_inline_max(s, klen);
}

void store_uuid(const store *s, uint8_t uuid[16])
{
	memcpy(uuid, s->uuid, 16);
}

void store_set_max_size(store *s, uint64_t max_size)
{
	__atomic_store_n(&s->max_size, max_size, __ATOMIC_RELAXED);
}

int store_slots(store *s, struct store_slot_info slots[2])
{
	for (int i = 0; i < 2; i++) {
		uint8_t slot[SLOT_SIZE];
		int r = io_pread(s, slot, SLOT_SIZE, SLOT_OFF(i));
		if (r < 0)
			return r;
		struct meta m;
		uint32_t ps = 0;
		uint8_t uuid[16];
		char why[96];
		memset(&slots[i], 0, sizeof(slots[i]));
		slots[i].valid = slot_decode(slot, &m, &ps, uuid, why, sizeof(why)) == 0;
		slots[i].current = i == s->slot_cur;
		slots[i].format_version = get32(slot + S_VERSION);
		slots[i].page_size = get32(slot + S_PAGESIZE);
		slots[i].checksum = get64(slot + SLOT_SIZE - 8);
		if (slots[i].valid) {
			slots[i].txnid = m.txnid;
			slots[i].file_pages = m.file_pages;
			slots[i].used_pages = m.used_pages;
			slots[i].blob_count = m.blob_count;
		}
	}
	return 0;
}
