/*
 * blob.c — the blob region: large values as runs of pages from the same
 * allocator as the trees, addressed by a 64-bit id that stays the same when
 * compaction moves the blob.
 *
 * Two system trees index blobs:
 *     blobs    key: id (u64 BE)    value: u64 pgno, u64 npages, u64 length,
 *                                         u64 stored, u64 checksum,
 *                                         u32 flags, u32 refs
 *     blobloc  key: pgno (u64 BE)  value: u64 id, u64 npages
 * (blobloc answers "what lives at page p", which compaction asks of the
 * highest pages, and lets verify find overlapping runs.)
 *
 * Stored form. A blob of at most one segment (64 KiB) is stored as is, or
 * lz4-compressed when that saves at least 1/8; the row's checksum is the
 * XXH3 of the stored bytes. A longer blob starts with a header
 *     u32 magic "SBLB", u32 nseg, u64 length,
 *     nseg x { u64 offset of the segment in the blob, u32 stored length,
 *              u32 flags (1 = lz4), u64 XXH3 of the stored segment }
 * whose XXH3 is the row's checksum, followed by the segments. Reading part
 * of a blob reads, checks and decompresses only the segments it covers.
 *
 * Pages of a freed blob are always pending, even when this txn wrote the
 * blob [I2]: a reader may have located it under the caller's lock and be
 * reading it outside that lock.
 */
#include "store_int.h"

#include <fcntl.h>
#include <lz4.h>
#include <stdio.h>
#include <stdlib.h>
#include <xxhash.h>

#define BLOB_ROW 48
#define BLOB_MAGIC 0x424C4253u /* "SBLB" */
#define SEG_ENTRY 24u
#define BF_SEGMENTED 2u
#define BF_SINGLE_LZ4 4u
#define BF_RESERVED 8u /* a move's target run, not a blob */
#define SF_LZ4 1u

struct store_blob_prep {
	uint64_t len, stored, csum;
	uint32_t flags;
	const uint8_t *buf; /* stored bytes */
	uint8_t *own;       /* what prep allocated (NULL: buf is the caller's) */
};

static uint64_t nseg_of(uint64_t len)
{
	return (len + BLOB_SEG - 1) / BLOB_SEG;
}

static uint64_t hdr_size(uint64_t len)
{
	return 16 + SEG_ENTRY * nseg_of(len);
}

static void row_encode(const struct store_blob_info *b, uint8_t *v)
{
	put64(v, b->pgno);
	put64(v + 8, b->npages);
	put64(v + 16, b->length);
	put64(v + 24, b->stored);
	put64(v + 32, b->checksum);
	put32(v + 40, b->flags);
	put32(v + 44, b->refs);
}

bool blob_is_reservation(const struct store_blob_info *b)
{
	return b->flags & BF_RESERVED;
}

int blob_decode_row(const uint8_t *v, size_t vlen, uint64_t id, struct store_blob_info *b)
{
	if (vlen != BLOB_ROW)
		return -EIO;
	b->id = id;
	b->pgno = get64(v);
	b->npages = get64(v + 8);
	b->length = get64(v + 16);
	b->stored = get64(v + 24);
	b->checksum = get64(v + 32);
	b->flags = get32(v + 40);
	b->refs = get32(v + 44);
	return 0;
}

static int row_get(store_txn *txn, uint64_t id, struct store_blob_info *b)
{
	uint8_t k[8], v[BLOB_ROW];
	size_t vl;
	put_be64(k, id);
	int r = bt_get(txn, tab_sys(txn, TID_BLOBS), k, 8, v, sizeof(v), &vl);
	if (r < 0)
		return r;
	if (blob_decode_row(v, vl, id, b) < 0) {
		store_logf(txn->s, STORE_LOG_ERR, "blob %llu: malformed index row",
			   (unsigned long long)id);
		return -EIO;
	}
	return 0;
}

static int row_put(store_txn *txn, const struct store_blob_info *b)
{
	uint8_t k[8], v[BLOB_ROW];
	put_be64(k, b->id);
	row_encode(b, v);
	return bt_put(txn, tab_sys(txn, TID_BLOBS), k, 8, v, sizeof(v), 0);
}

static int loc_put(store_txn *txn, uint64_t pgno, uint64_t id, uint64_t npages)
{
	uint8_t k[8], v[16];
	put_be64(k, pgno);
	put64(v, id);
	put64(v + 8, npages);
	return bt_put(txn, tab_sys(txn, TID_BLOBLOC), k, 8, v, sizeof(v), 0);
}

static int loc_del(store_txn *txn, uint64_t pgno)
{
	uint8_t k[8];
	put_be64(k, pgno);
	return bt_del(txn, tab_sys(txn, TID_BLOBLOC), k, 8);
}

/* ---- preparing the stored form -------------------------------------------- */

/* Compress src into dst if that saves at least 1/8; returns stored length
 * and sets *lz4. dst must hold LZ4_compressBound(n). */
static size_t maybe_compress(const uint8_t *src, size_t n, uint8_t *dst, bool try_lz4, bool *lz4)
{
	*lz4 = false;
	if (try_lz4 && n >= 64) {
		int c = LZ4_compress_default((const char *)src, (char *)dst, (int)n,
					     LZ4_compressBound((int)n));
		if (c > 0 && (size_t)c <= n - n / 8) {
			*lz4 = true;
			return (size_t)c;
		}
	}
	memcpy(dst, src, n);
	return n;
}

int store_blob_prepare(store *s, const void *data, size_t len, unsigned flags,
		       store_blob_prep **out)
{
	(void)s;
	store_blob_prep *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->len = len;
	bool try_lz4 = flags & STORE_BLOB_LZ4;
	const uint8_t *src = data;
	if (len <= BLOB_SEG) {
		if ((flags & STORE_BLOB_BORROW) && !try_lz4) {
			/* stored as is: the caller's bytes, no copy */
			p->buf = src;
			p->stored = len;
			p->csum = XXH3_64bits(src, len);
			*out = p;
			return 0;
		}
		p->own = malloc((size_t)LZ4_compressBound(BLOB_SEG) + 1);
		if (!p->own) {
			free(p);
			return -ENOMEM;
		}
		bool lz4 = false;
		if (try_lz4 && len >= 64) {
			int c = LZ4_compress_default((const char *)src, (char *)p->own, (int)len,
						     LZ4_compressBound((int)len));
			lz4 = c > 0 && (size_t)c <= len - len / 8;
			if (lz4)
				p->stored = (size_t)c;
		}
		if (lz4) {
			p->flags |= STORE_BLOB_LZ4 | BF_SINGLE_LZ4;
			p->buf = p->own;
		} else if (flags & STORE_BLOB_BORROW) {
			free(p->own); /* no gain: the caller's bytes as they are */
			p->own = NULL;
			p->buf = src;
			p->stored = len;
		} else {
			memcpy(p->own, src, len);
			p->buf = p->own;
			p->stored = len;
		}
		p->csum = XXH3_64bits(p->buf, p->stored);
		*out = p;
		return 0;
	}
	uint64_t nseg = nseg_of(len), hdr = hdr_size(len);
	uint8_t *d = malloc(hdr + len);
	uint8_t *tmp = try_lz4 ? malloc((size_t)LZ4_compressBound(BLOB_SEG)) : NULL;
	if (!d || (try_lz4 && !tmp)) {
		free(tmp);
		free(d);
		free(p);
		return -ENOMEM;
	}
	p->own = d;
	p->buf = d;
	put32(d, BLOB_MAGIC);
	put32(d + 4, (uint32_t)nseg);
	put64(d + 8, len);
	uint64_t pos = hdr;
	p->flags = BF_SEGMENTED;
	for (uint64_t i = 0; i < nseg; i++) {
		size_t n = (size_t)(i + 1 < nseg ? BLOB_SEG : len - i * BLOB_SEG);
		const uint8_t *seg = src + i * BLOB_SEG;
		bool lz4 = false;
		size_t sl = n;
		if (tmp) {
			sl = maybe_compress(seg, n, tmp, true, &lz4);
			memcpy(d + pos, lz4 ? tmp : seg, sl);
		} else {
			memcpy(d + pos, seg, n);
		}
		uint8_t *e = d + 16 + i * SEG_ENTRY;
		put64(e, pos);
		put32(e + 8, (uint32_t)sl);
		put32(e + 12, lz4 ? SF_LZ4 : 0);
		put64(e + 16, XXH3_64bits(d + pos, sl));
		if (lz4)
			p->flags |= STORE_BLOB_LZ4;
		pos += sl;
	}
	free(tmp);
	p->stored = pos;
	p->csum = XXH3_64bits(d, hdr);
	*out = p;
	return 0;
}

void store_blob_prep_free(store_blob_prep *p)
{
	if (!p)
		return;
	free(p->own);
	free(p);
}

static uint64_t pages_for(const store *s, uint64_t bytes)
{
	return (bytes + s->page_size - 1) >> s->page_shift;
}

/* Index a blob whose bytes are already written at pgno. */
/* Index a blob whose bytes are in place: as b->id with b->refs (a copy), or
 * under a new id with one reference. */
int blob_index_as(store_txn *txn, struct store_blob_info *b)
{
	struct meta *m = txn->meta;
	int r = row_put(txn, b);
	if (r == 0 && b->npages)
		r = loc_put(txn, b->pgno, b->id, b->npages);
	if (r < 0)
		return r;
	if (b->id >= m->next_blob_id)
		m->next_blob_id = b->id + 1;
	m->blob_count++;
	m->blob_logical += b->length;
	m->blob_stored += b->npages << txn->s->page_shift;
	return 0;
}

static int blob_index(store_txn *txn, struct store_blob_info *b, uint64_t *id)
{
	struct meta *m = txn->meta;
	b->id = m->next_blob_id++;
	b->refs = 1;
	int r = row_put(txn, b);
	if (r == 0 && b->npages)
		r = loc_put(txn, b->pgno, b->id, b->npages);
	if (r < 0)
		return r;
	m->blob_count++;
	m->blob_logical += b->length;
	m->blob_stored += b->npages << txn->s->page_shift;
	*id = b->id;
	return 0;
}

int store_blob_put_prepared(store_txn *txn, const store_blob_prep *p, uint64_t *id)
{
	int r = txn_check_write(txn);
	if (r < 0)
		return r;
	store *s = txn->s;
	uint64_t npages = pages_for(s, p->stored);
	r = alloc_reserve(txn, npages + 24);
	if (r < 0)
		return r;
	txn_touch(txn);
	struct store_blob_info b = {.length = p->len,
				    .stored = p->stored,
				    .npages = npages,
				    .checksum = p->csum,
				    .flags = p->flags};
	if (npages) {
		r = alloc_run(txn, npages, UINT64_MAX, &b.pgno);
		if (r < 0)
			return r; /* nothing changed yet */
		r = io_pwrite(s, p->buf, p->stored, b.pgno << s->page_shift);
		if (r < 0) {
			alloc_free(txn, b.pgno, npages, true);
			return r;
		}
	}
	r = blob_index(txn, &b, id);
	if (r < 0)
		txn->failed = true;
	return r;
}

int store_blob_put(store_txn *txn, const void *data, size_t len, unsigned flags, uint64_t *id)
{
	int r = txn_check_write(txn);
	if (r < 0)
		return r;
	store_blob_prep *p;
	r = store_blob_prepare(txn->s, data, len, flags, &p);
	if (r < 0)
		return r;
	r = store_blob_put_prepared(txn, p, id);
	store_blob_prep_free(p);
	return r;
}

int blob_put_value(store_txn *txn, const void *data, size_t len, uint64_t *id)
{
	return store_blob_put(txn, data, len, 0, id);
}

/* ---- reading ------------------------------------------------------------- */

static int bad_blob(store *s, const struct store_blob_info *b, const char *what)
{
	store_logf(s, STORE_LOG_ERR, "blob %llu at page %llu: %s", (unsigned long long)b->id,
		   (unsigned long long)b->pgno, what);
	return -EIO;
}

static int check_row(store *s, const struct store_blob_info *b)
{
	uint64_t fp = atomic_load(&s->file_pages);
	if (b->flags & BF_RESERVED)
		return bad_blob(s, b, "is a move reservation, not a blob");
	if (b->npages != pages_for(s, b->stored))
		return bad_blob(s, b, "index row has an impossible size");
	if (b->npages && (b->pgno < s->first_pg || b->pgno + b->npages > fp ||
			  b->pgno + b->npages < b->pgno))
		return bad_blob(s, b, "lies outside the image");
	if ((b->flags & BF_SEGMENTED) ? (b->length <= BLOB_SEG || b->stored < hdr_size(b->length))
				      : (b->length > BLOB_SEG ||
					 b->stored > (uint64_t)LZ4_compressBound(BLOB_SEG)))
		return bad_blob(s, b, "index row is malformed");
	return 0;
}

/* Read and check a single-segment blob into out (length b->length). */
/*
 * Read and check a single-segment blob into out (length b->length). A blob
 * stored as is, once checked, has the check-once bit of its first page set
 * [I4] (cleared when the page is handed out again), so that later partial
 * reads of it read just what they need (store_blob_read_at).
 */
static int read_single(store *s, const struct store_blob_info *b, uint8_t *out)
{
	if (!(b->flags & BF_SINGLE_LZ4)) {
		if (b->stored != b->length)
			return bad_blob(s, b, "stored length differs from length");
		int r = b->stored ? io_pread(s, out, b->stored, b->pgno << s->page_shift) : 0;
		if (r == 0 && XXH3_64bits(out, b->stored) != b->checksum)
			r = bad_blob(s, b, "checksum mismatch");
		if (r == 0 && b->npages)
			pager_set_verified(s, b->pgno, true);
		return r;
	}
	uint8_t *st = malloc(b->stored ? b->stored : 1);
	if (!st)
		return -ENOMEM;
	int r = b->stored ? io_pread(s, st, b->stored, b->pgno << s->page_shift) : 0;
	if (r == 0 && XXH3_64bits(st, b->stored) != b->checksum)
		r = bad_blob(s, b, "checksum mismatch");
	if (r == 0) {
		if (b->flags & BF_SINGLE_LZ4) {
			int n = LZ4_decompress_safe((const char *)st, (char *)out, (int)b->stored,
						    (int)b->length);
			if (n < 0 || (uint64_t)n != b->length)
				r = bad_blob(s, b, "cannot decompress");
		} else if (b->stored != b->length) {
			r = bad_blob(s, b, "stored length differs from length");
		} else {
			memcpy(out, st, b->length);
		}
	}
	free(st);
	return r;
}

static int read_header(store *s, const struct store_blob_info *b, uint8_t **hdr)
{
	uint64_t hs = hdr_size(b->length);
	uint8_t *h = malloc(hs);
	if (!h)
		return -ENOMEM;
	int r = io_pread(s, h, hs, b->pgno << s->page_shift);
	if (r == 0 && XXH3_64bits(h, hs) != b->checksum)
		r = bad_blob(s, b, "header checksum mismatch");
	if (r == 0 && (get32(h) != BLOB_MAGIC || get32(h + 4) != nseg_of(b->length) ||
		       get64(h + 8) != b->length))
		r = bad_blob(s, b, "header is malformed");
	for (uint64_t i = 0; r == 0 && i < nseg_of(b->length); i++) {
		const uint8_t *e = h + 16 + i * SEG_ENTRY;
		uint64_t off = get64(e);
		uint32_t sl = get32(e + 8);
		if (off < hs || off + sl > b->stored || sl > (uint32_t)LZ4_compressBound(BLOB_SEG))
			r = bad_blob(s, b, "segment table is malformed");
	}
	if (r < 0) {
		free(h);
		return r;
	}
	*hdr = h;
	return 0;
}

/* Segment i of a segmented blob, checked and decompressed, into out. */
static int read_segment(store *s, const struct store_blob_info *b, const uint8_t *hdr, uint64_t i,
			uint8_t *out, uint8_t *tmp)
{
	const uint8_t *e = hdr + 16 + i * SEG_ENTRY;
	uint64_t off = get64(e);
	uint32_t sl = get32(e + 8), fl = get32(e + 12);
	size_t n = (size_t)(i + 1 < nseg_of(b->length) ? BLOB_SEG : b->length - i * BLOB_SEG);
	uint8_t *dst = (fl & SF_LZ4) ? tmp : out;
	if (!(fl & SF_LZ4) && sl != n)
		return bad_blob(s, b, "segment has the wrong length");
	int r = io_pread(s, dst, sl, (b->pgno << s->page_shift) + off);
	if (r < 0)
		return r;
	if (XXH3_64bits(dst, sl) != get64(e + 16))
		return bad_blob(s, b, "segment checksum mismatch");
	if (fl & SF_LZ4) {
		int d = LZ4_decompress_safe((const char *)tmp, (char *)out, (int)sl, (int)n);
		if (d < 0 || (size_t)d != n)
			return bad_blob(s, b, "cannot decompress a segment");
	}
	return 0;
}

/*
 * The common case of a large read: the segments it covers are stored
 * uncompressed, one after another, and the read covers them whole. Then one
 * pread straight into the caller's buffer, and a checksum of each segment in
 * place. -EAGAIN: not that case.
 */
static int read_direct(store *s, const struct store_blob_info *b, const uint8_t *hdr,
		       uint64_t off, uint8_t *buf, size_t n)
{
	uint64_t first = off / BLOB_SEG, last = (off + n - 1) / BLOB_SEG;
	uint64_t nseg = nseg_of(b->length);
	if (off % BLOB_SEG || ((off + n) % BLOB_SEG && off + n != b->length) || last >= nseg)
		return -EAGAIN;
	uint64_t start = get64(hdr + 16 + first * SEG_ENTRY), expect = start;
	for (uint64_t i = first; i <= last; i++) {
		const uint8_t *e = hdr + 16 + i * SEG_ENTRY;
		size_t sn = (size_t)(i + 1 < nseg ? BLOB_SEG : b->length - i * BLOB_SEG);
		if ((get32(e + 12) & SF_LZ4) || get64(e) != expect || get32(e + 8) != sn)
			return -EAGAIN;
		expect += sn;
	}
	int r = io_pread(s, buf, n, (b->pgno << s->page_shift) + start);
	for (uint64_t i = first; r == 0 && i <= last; i++) {
		const uint8_t *e = hdr + 16 + i * SEG_ENTRY;
		if (XXH3_64bits(buf + (i - first) * BLOB_SEG, get32(e + 8)) != get64(e + 16))
			r = bad_blob(s, b, "segment checksum mismatch");
	}
	return r;
}

int store_blob_read_at(store *s, const struct store_blob_info *b, uint64_t off, void *buf,
		       size_t len, size_t *nread)
{
	*nread = 0;
	int r = check_row(s, b);
	if (r < 0)
		return r;
	if (off >= b->length || len == 0)
		return 0;
	size_t n = (size_t)(b->length - off < len ? b->length - off : len);
	if (!(b->flags & (BF_SEGMENTED | BF_SINGLE_LZ4)) && b->npages &&
	    pager_is_verified(s, b->pgno)) {
		/* checked before, stored as is: just the bytes asked for */
		r = io_pread(s, buf, n, (b->pgno << s->page_shift) + off);
		if (r == 0)
			*nread = n;
		return r;
	}
	if (!(b->flags & BF_SEGMENTED)) {
		uint8_t *all = (off == 0 && n == b->length) ? buf : malloc(b->length);
		if (!all)
			return -ENOMEM;
		r = read_single(s, b, all);
		if (r == 0 && all != buf)
			memcpy(buf, all + off, n);
		if (all != buf)
			free(all);
		if (r == 0)
			*nread = n;
		return r;
	}
	if (n >= (256u << 10)) {
		/* a small header read, then the data: tell the kernel the whole
		 * range at once, or its readahead takes us for a random reader */
		uint64_t seg0 = off / BLOB_SEG * BLOB_SEG;
		posix_fadvise(s->fd, (off_t)(b->pgno << s->page_shift),
			      (off_t)(hdr_size(b->length) + (off + n - seg0) + BLOB_SEG),
			      POSIX_FADV_WILLNEED);
	}
	uint8_t *hdr;
	r = read_header(s, b, &hdr);
	if (r < 0)
		return r;
	r = read_direct(s, b, hdr, off, buf, n);
	if (r != -EAGAIN) {
		free(hdr);
		if (r == 0)
			*nread = n;
		return r;
	}
	r = 0;
	uint8_t *seg = malloc(BLOB_SEG), *tmp = malloc((size_t)LZ4_compressBound(BLOB_SEG));
	if (!seg || !tmp)
		r = -ENOMEM;
	uint8_t *o = buf;
	for (uint64_t i = off / BLOB_SEG; r == 0 && i * BLOB_SEG < off + n; i++) {
		uint64_t s0 = i * BLOB_SEG;
		uint64_t from = off > s0 ? off - s0 : 0;
		uint64_t to = (off + n) - s0 < BLOB_SEG ? (off + n) - s0 : BLOB_SEG;
		r = read_segment(s, b, hdr, i, seg, tmp);
		if (r == 0) {
			memcpy(o, seg + from, to - from);
			o += to - from;
		}
	}
	free(seg);
	free(tmp);
	free(hdr);
	if (r == 0)
		*nread = n;
	return r;
}

int store_blob_stat(store_txn *txn, uint64_t id, struct store_blob_info *out)
{
	int r = row_get(txn, id, out);
	if (r == 0 && (out->flags & BF_RESERVED))
		return -ENOENT;
	return r;
}

int store_blob_read(store_txn *txn, uint64_t id, uint64_t off, void *buf, size_t len,
		    size_t *nread)
{
	struct store_blob_info b;
	int r = store_blob_stat(txn, id, &b);
	if (r < 0)
		return r;
	return store_blob_read_at(txn->s, &b, off, buf, len, nread);
}

int blob_read_all(store_txn *txn, uint64_t id, void *buf, size_t len)
{
	size_t n;
	struct store_blob_info b;
	int r = store_blob_stat(txn, id, &b);
	if (r == 0 && b.length != len) {
		store_logf(txn->s, STORE_LOG_ERR, "a value of %zu bytes refers to blob %llu of %llu bytes",
			   len, (unsigned long long)id, (unsigned long long)b.length);
		return -EIO;
	}
	if (r == -ENOENT)
		return -EIO; /* a value's blob is missing */
	if (r < 0)
		return r;
	r = store_blob_read_at(txn->s, &b, 0, buf, len, &n);
	if (r == 0 && n != len) {
		store_logf(txn->s, STORE_LOG_ERR, "blob %llu is shorter than its row says",
			   (unsigned long long)id);
		r = -EIO;
	}
	return r;
}

/* Check every checksum of a blob (verify, relocation). */
int blob_check(store *s, const struct store_blob_info *b, void (*problem)(void *, const char *),
	       void *ctx)
{
	int r = check_row(s, b);
	if (r == 0) {
		if (!(b->flags & BF_SEGMENTED)) {
			uint8_t *all = malloc(b->length ? b->length : 1);
			r = all ? read_single(s, b, all) : -ENOMEM;
			free(all);
		} else {
			uint8_t *hdr;
			r = read_header(s, b, &hdr);
			if (r == 0) {
				uint8_t *seg = malloc(BLOB_SEG);
				uint8_t *tmp = malloc((size_t)LZ4_compressBound(BLOB_SEG));
				if (!seg || !tmp)
					r = -ENOMEM;
				for (uint64_t i = 0; r == 0 && i < nseg_of(b->length); i++)
					r = read_segment(s, b, hdr, i, seg, tmp);
				free(seg);
				free(tmp);
				free(hdr);
			}
		}
	}
	if (r < 0 && problem) {
		char msg[160];
		snprintf(msg, sizeof(msg), "blob %llu at page %llu (%llu bytes): unreadable (%s)",
			 (unsigned long long)b->id, (unsigned long long)b->pgno,
			 (unsigned long long)b->length, strerror(-r));
		problem(ctx, msg);
	}
	return r;
}

/* ---- references ------------------------------------------------------------ */

int store_blob_share(store_txn *txn, uint64_t id)
{
	int r = txn_check_write(txn);
	if (r < 0)
		return r;
	struct store_blob_info b;
	r = store_blob_stat(txn, id, &b);
	if (r < 0)
		return r;
	if (b.refs == UINT32_MAX)
		return -EMLINK;
	b.refs++;
	txn_touch(txn);
	return row_put(txn, &b);
}

int store_blob_delete(store_txn *txn, uint64_t id)
{
	int r = txn_check_write(txn);
	if (r < 0)
		return r;
	struct store_blob_info b;
	r = store_blob_stat(txn, id, &b);
	if (r < 0)
		return r;
	r = alloc_reserve_free(txn, 32);
	if (r < 0)
		return r;
	txn_touch(txn);
	if (b.refs > 1) {
		b.refs--;
		r = row_put(txn, &b);
		goto out;
	}
	uint8_t k[8];
	put_be64(k, id);
	r = bt_del(txn, tab_sys(txn, TID_BLOBS), k, 8);
	if (r == 0 && b.npages)
		r = loc_del(txn, b.pgno);
	if (r == 0 && b.npages)
		r = alloc_free_blob(txn, b.pgno, b.npages);
	if (r == 0) {
		struct meta *m = txn->meta;
		m->blob_count--;
		m->blob_logical -= b.length;
		m->blob_stored -= b.npages << txn->s->page_shift;
	}
out:
	if (r < 0)
		txn->failed = true;
	return r;
}

/* ---- the blob writer --------------------------------------------------------- */

struct store_blob_writer {
	store_txn *txn;
	uint64_t len;
	unsigned flags;
	bool single;
	uint8_t *whole;     /* single-segment blobs are assembled in memory */
	uint64_t pgno, npages, nseg, hdr, pos;
	uint8_t **seg;      /* partly written segments */
	uint32_t *fill;     /* bytes written per segment */
	uint8_t *entries;   /* segment table being built */
	bool *done;
	uint8_t *tmp;
};

int store_blob_writer_open(store_txn *txn, uint64_t len, unsigned flags, store_blob_writer **out)
{
	int r = txn_check_write(txn);
	if (r < 0)
		return r;
	store *s = txn->s;
	store_blob_writer *w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->txn = txn;
	w->len = len;
	w->flags = flags;
	if (len <= BLOB_SEG) {
		w->single = true;
		w->whole = calloc(1, len ? len : 1);
		if (!w->whole) {
			free(w);
			return -ENOMEM;
		}
		txn->nwriters++;
		*out = w;
		return 0;
	}
	w->nseg = nseg_of(len);
	w->hdr = hdr_size(len);
	w->npages = pages_for(s, w->hdr + len);
	w->seg = calloc(w->nseg, sizeof(*w->seg));
	w->fill = calloc(w->nseg, sizeof(*w->fill));
	w->done = calloc(w->nseg, sizeof(*w->done));
	w->entries = calloc(w->nseg, SEG_ENTRY);
	w->tmp = malloc((size_t)LZ4_compressBound(BLOB_SEG));
	if (!w->seg || !w->fill || !w->done || !w->entries || !w->tmp) {
		r = -ENOMEM;
		goto fail;
	}
	r = alloc_reserve(txn, w->npages + 24);
	if (r < 0)
		goto fail;
	r = alloc_run(txn, w->npages, UINT64_MAX, &w->pgno);
	if (r < 0)
		goto fail;
	txn_touch(txn);
	w->pos = w->hdr;
	txn->nwriters++;
	*out = w;
	return 0;
fail:
	free(w->seg);
	free(w->fill);
	free(w->done);
	free(w->entries);
	free(w->tmp);
	free(w);
	return r;
}

static size_t seg_len(const store_blob_writer *w, uint64_t i)
{
	return (size_t)(i + 1 < w->nseg ? BLOB_SEG : w->len - i * BLOB_SEG);
}

static int flush_segment(store_blob_writer *w, uint64_t i)
{
	store *s = w->txn->s;
	size_t n = seg_len(w, i);
	if (!w->seg[i]) {
		w->seg[i] = calloc(1, BLOB_SEG);
		if (!w->seg[i])
			return -ENOMEM;
	}
	bool lz4;
	size_t sl = maybe_compress(w->seg[i], n, w->tmp, w->flags & STORE_BLOB_LZ4, &lz4);
	int r = io_pwrite(s, w->tmp, sl, (w->pgno << s->page_shift) + w->pos);
	if (r < 0)
		return r;
	uint8_t *e = w->entries + i * SEG_ENTRY;
	put64(e, w->pos);
	put32(e + 8, (uint32_t)sl);
	put32(e + 12, lz4 ? SF_LZ4 : 0);
	put64(e + 16, XXH3_64bits(w->tmp, sl));
	if (lz4)
		w->flags |= BF_SINGLE_LZ4; /* marks "some segment compressed" */
	w->pos += sl;
	free(w->seg[i]);
	w->seg[i] = NULL;
	w->done[i] = true;
	return 0;
}

int store_blob_writer_write(store_blob_writer *w, uint64_t off, const void *data, size_t len)
{
	if (off > w->len || len > w->len - off)
		return -EINVAL;
	if (w->single) {
		memcpy(w->whole + off, data, len);
		return 0;
	}
	const uint8_t *src = data;
	while (len > 0) {
		uint64_t i = off / BLOB_SEG, so = off % BLOB_SEG;
		size_t n = seg_len(w, i) - (size_t)so;
		if (n > len)
			n = len;
		if (w->done[i])
			return -EINVAL; /* each byte is written once */
		if (!w->seg[i]) {
			w->seg[i] = calloc(1, BLOB_SEG);
			if (!w->seg[i])
				return -ENOMEM;
		}
		memcpy(w->seg[i] + so, src, n);
		w->fill[i] += (uint32_t)n;
		if (w->fill[i] >= seg_len(w, i)) {
			int r = flush_segment(w, i);
			if (r < 0)
				return r;
		}
		src += n;
		off += n;
		len -= n;
	}
	return 0;
}

static void writer_free(store_blob_writer *w)
{
	if (!w->single)
		for (uint64_t i = 0; i < w->nseg; i++)
			free(w->seg[i]);
	free(w->whole);
	free(w->seg);
	free(w->fill);
	free(w->done);
	free(w->entries);
	free(w->tmp);
	free(w);
}

int store_blob_writer_finish(store_blob_writer *w, uint64_t *id)
{
	store_txn *txn = w->txn;
	store *s = txn->s;
	txn->nwriters--;
	int r;
	if (w->single) {
		r = store_blob_put(txn, w->whole, w->len, w->flags, id);
		writer_free(w);
		return r;
	}
	r = 0;
	for (uint64_t i = 0; r == 0 && i < w->nseg; i++)
		if (!w->done[i])
			r = flush_segment(w, i);
	uint8_t *hdr = NULL;
	if (r == 0) {
		hdr = malloc(w->hdr);
		if (!hdr)
			r = -ENOMEM;
	}
	if (r == 0) {
		put32(hdr, BLOB_MAGIC);
		put32(hdr + 4, (uint32_t)w->nseg);
		put64(hdr + 8, w->len);
		memcpy(hdr + 16, w->entries, w->nseg * SEG_ENTRY);
		r = io_pwrite(s, hdr, w->hdr, w->pgno << s->page_shift);
	}
	if (r < 0) {
		free(hdr);
		alloc_free(txn, w->pgno, w->npages, true);
		writer_free(w);
		return r;
	}
	uint64_t used = pages_for(s, w->pos);
	if (used < w->npages)
		r = alloc_free(txn, w->pgno + used, w->npages - used, true);
	struct store_blob_info b = {.pgno = w->pgno,
				    .npages = used,
				    .length = w->len,
				    .stored = w->pos,
				    .checksum = XXH3_64bits(hdr, w->hdr),
				    .flags = BF_SEGMENTED |
					     ((w->flags & BF_SINGLE_LZ4) ? STORE_BLOB_LZ4 : 0)};
	free(hdr);
	if (r == 0)
		r = blob_index(txn, &b, id);
	if (r < 0)
		txn->failed = true;
	writer_free(w);
	return r;
}

void store_blob_writer_abort(store_blob_writer *w)
{
	if (!w)
		return;
	w->txn->nwriters--;
	if (!w->single && w->npages)
		alloc_free(w->txn, w->pgno, w->npages, true);
	writer_free(w);
}

/* ---- location queries and moves (compaction) --------------------------------- */

int blob_locate_page(store_txn *txn, uint64_t pgno, struct store_blob_info *out)
{
	store_cursor *c;
	int r = store_cursor_open(txn, TID_BLOBLOC, &c);
	if (r < 0)
		return r;
	uint8_t k[8];
	put_be64(k, pgno);
	r = store_cursor_seek(c, STORE_SEEK_LE, k, 8);
	const void *key, *val;
	size_t kl, vl;
	if (r == 0)
		r = store_cursor_get(c, &key, &kl, &val, &vl);
	if (r == 0 && (kl != 8 || vl != 16))
		r = -EIO;
	uint64_t start = 0, id = 0, n = 0;
	if (r == 0) {
		start = get_be64(key);
		id = get64(val);
		n = get64((const uint8_t *)val + 8);
	}
	store_cursor_close(c);
	if (r < 0)
		return r;
	if (pgno >= start + n)
		return -ENOENT;
	return row_get(txn, id, out);
}

/* Reservation rows for moves whose target runs are already marked used. */
static int reserve_rows(store_txn *txn, struct store_blob_move *mv, size_t n)
{
	struct meta *m = txn->meta;
	for (size_t i = 0; i < n; i++) {
		struct store_blob_info res = {.pgno = mv[i].to,
					      .npages = mv[i].src.npages,
					      .flags = BF_RESERVED,
					      .refs = 1};
		res.id = m->next_blob_id++;
		int r = row_put(txn, &res);
		if (r == 0)
			r = loc_put(txn, mv[i].to, res.id, res.npages);
		if (r < 0) {
			txn->failed = true;
			return r;
		}
		m->reservations++;
		mv[i].reservation = res.id;
	}
	return 0;
}

int store_blob_move_begin_run(store_txn *txn, const uint64_t *ids, size_t n, uint64_t target,
			      uint64_t below, struct store_blob_move *mv)
{
	int r = txn_check_write(txn);
	if (r < 0)
		return r;
	uint64_t total = 0;
	for (size_t i = 0; i < n; i++) {
		memset(&mv[i], 0, sizeof(mv[i]));
		r = store_blob_stat(txn, ids[i], &mv[i].src);
		if (r < 0)
			return r;
		if (!mv[i].src.npages)
			return -ENOENT; /* an empty blob occupies nothing */
		total += mv[i].src.npages;
	}
	if (!n)
		return 0;
	r = alloc_reserve_free(txn, 24 * n + 8); /* a move frees as much as it takes */
	if (r < 0)
		return r;
	if (target == UINT64_MAX) {
		r = alloc_run(txn, total, below, &target);
	} else {
		r = alloc_at(txn, target, total);
	}
	if (r < 0)
		return r; /* nothing changed */
	txn_touch(txn);
	uint64_t at = target;
	for (size_t i = 0; i < n; i++) {
		mv[i].to = at;
		at += mv[i].src.npages;
	}
	return reserve_rows(txn, mv, n);
}

int store_blob_move_begin(store_txn *txn, uint64_t id, uint64_t target, struct store_blob_move *mv)
{
	struct store_blob_info b;
	int r = store_blob_stat(txn, id, &b);
	if (r < 0)
		return r;
	/* the lowest run below the blob itself */
	return store_blob_move_begin_run(txn, &id, 1, target, b.pgno, mv);
}

/* Check a blob's stored bytes held in memory against its row. */
static int check_mem(store *s, const struct store_blob_info *b, const uint8_t *st)
{
	if (!(b->flags & BF_SEGMENTED))
		return XXH3_64bits(st, b->stored) == b->checksum ? 0
								  : bad_blob(s, b, "checksum mismatch");
	uint64_t hs = hdr_size(b->length), nseg = nseg_of(b->length);
	if (XXH3_64bits(st, hs) != b->checksum)
		return bad_blob(s, b, "header checksum mismatch");
	for (uint64_t i = 0; i < nseg; i++) {
		const uint8_t *e = st + 16 + i * SEG_ENTRY;
		uint64_t off = get64(e);
		uint32_t sl = get32(e + 8);
		if (off < hs || off + sl > b->stored)
			return bad_blob(s, b, "segment table is malformed");
		if (XXH3_64bits(st + off, sl) != get64(e + 16))
			return bad_blob(s, b, "segment checksum mismatch");
	}
	return 0;
}

int store_blob_move_copy(store *s, const struct store_blob_move *mv)
{
	const struct store_blob_info *b = &mv->src;
	int r = check_row(s, b);
	if (r < 0)
		return r;
	if (b->stored <= (16u << 20)) {
		/* read once, check the source in memory, write the copy */
		uint8_t *buf = malloc(b->stored ? b->stored : 1);
		if (!buf)
			return -ENOMEM;
		r = io_pread(s, buf, b->stored, b->pgno << s->page_shift);
		if (r == 0)
			r = check_mem(s, b, buf);
		if (r == 0)
			r = io_pwrite(s, buf, b->stored, mv->to << s->page_shift);
		free(buf);
		return r;
	}
	/* a big blob: copy a piece at a time, then check the copy */
	size_t chunk = 1u << 20;
	uint8_t *buf = malloc(chunk);
	if (!buf)
		return -ENOMEM;
	for (uint64_t off = 0; r == 0 && off < b->stored; off += chunk) {
		size_t n = (size_t)(b->stored - off < chunk ? b->stored - off : chunk);
		r = io_pread(s, buf, n, (b->pgno << s->page_shift) + off);
		if (r == 0)
			r = io_pwrite(s, buf, n, (mv->to << s->page_shift) + off);
	}
	free(buf);
	if (r == 0) {
		struct store_blob_info nb = *b;
		nb.pgno = mv->to;
		r = blob_check(s, &nb, NULL, NULL);
	}
	return r;
}

/* Remove a reservation row and give back its run. */
static int drop_reservation(store_txn *txn, const struct store_blob_move *mv, bool loc_too)
{
	uint8_t k[8];
	put_be64(k, mv->reservation);
	int r = bt_del(txn, tab_sys(txn, TID_BLOBS), k, 8);
	if (r == 0 && loc_too)
		r = loc_del(txn, mv->to);
	if (r == 0)
		r = alloc_free_blob(txn, mv->to, mv->src.npages);
	if (r == 0)
		txn->meta->reservations--;
	return r;
}

int store_blob_move_end(store_txn *txn, const struct store_blob_move *mv, bool apply)
{
	int r = txn_check_write(txn);
	if (r < 0)
		return r;
	struct store_blob_info res, cur;
	r = row_get(txn, mv->reservation, &res);
	if (r < 0)
		return r;
	if (!(res.flags & BF_RESERVED) || res.pgno != mv->to)
		return -EINVAL;
	r = alloc_reserve_free(txn, 32);
	if (r < 0)
		return r;
	txn_touch(txn);
	int stale = 0;
	if (apply) {
		int g = store_blob_stat(txn, mv->src.id, &cur);
		if (g == -ENOENT || (g == 0 && (cur.pgno != mv->src.pgno ||
						  cur.checksum != mv->src.checksum ||
						  cur.npages != mv->src.npages)))
			stale = -ESTALE;
		else if (g < 0)
			return g;
	}
	if (!apply || stale) {
		r = drop_reservation(txn, mv, true);
		if (r < 0)
			txn->failed = true;
		return r < 0 ? r : stale;
	}
	cur.pgno = mv->to;
	r = row_put(txn, &cur);
	if (r == 0)
		r = loc_del(txn, mv->src.pgno);
	if (r == 0)
		r = loc_put(txn, mv->to, cur.id, cur.npages); /* replaces the reservation's */
	if (r == 0) {
		uint8_t k[8];
		put_be64(k, mv->reservation);
		r = bt_del(txn, tab_sys(txn, TID_BLOBS), k, 8);
	}
	if (r == 0) {
		txn->meta->reservations--;
		r = alloc_free_blob(txn, mv->src.pgno, mv->src.npages);
	}
	if (r < 0)
		txn->failed = true;
	return r;
}

int store_blob_reservations_clear(store_txn *txn, uint64_t *dropped)
{
	int r = txn_check_write(txn);
	if (r < 0)
		return r;
	*dropped = 0;
	if (txn->meta->reservations == 0)
		return 0;
	/* rare (a crash in the middle of a move): find them by a scan */
	uint64_t *ids = NULL;
	size_t n = 0, cap = 0;
	store_cursor *c;
	r = store_cursor_open(txn, TID_BLOBS, &c);
	if (r < 0)
		return r;
	r = store_cursor_seek(c, STORE_SEEK_FIRST, NULL, 0);
	while (r == 0) {
		const void *k, *v;
		size_t kl, vl;
		struct store_blob_info b;
		r = store_cursor_get(c, &k, &kl, &v, &vl);
		if (r < 0)
			break;
		if (kl == 8 && blob_decode_row(v, vl, get_be64(k), &b) == 0 &&
		    (b.flags & BF_RESERVED)) {
			if (n == cap) {
				cap = cap ? 2 * cap : 8;
				uint64_t *x = realloc(ids, cap * sizeof(*x));
				if (!x) {
					r = -ENOMEM;
					break;
				}
				ids = x;
			}
			ids[n++] = b.id;
		}
		r = store_cursor_next(c);
	}
	store_cursor_close(c);
	if (r == -ENOENT)
		r = 0;
	for (size_t i = 0; r == 0 && i < n; i++) {
		struct store_blob_move mv;
		memset(&mv, 0, sizeof(mv));
		struct store_blob_info res;
		r = row_get(txn, ids[i], &res);
		if (r < 0)
			break;
		mv.reservation = res.id;
		mv.to = res.pgno;
		mv.src.npages = res.npages;
		r = drop_reservation(txn, &mv, true);
		if (r == 0)
			(*dropped)++;
	}
	free(ids);
	if (r < 0)
		txn->failed = true;
	return r;
}

/* A move in one txn (store_relocate, store_blob_move). */
int blob_move(store_txn *txn, uint64_t id, uint64_t target, uint64_t *newpgno)
{
	struct store_blob_move mv;
	int r = store_blob_move_begin(txn, id, target, &mv);
	if (r < 0)
		return r;
	r = store_blob_move_copy(txn->s, &mv);
	int e = store_blob_move_end(txn, &mv, r == 0);
	if (r == 0)
		r = e;
	if (r == 0)
		*newpgno = mv.to;
	return r;
}
