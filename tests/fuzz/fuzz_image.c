/*
 * fuzz_image.c — the libFuzzer target: arbitrary bytes as a slatefs image.
 *
 * Each input is written to an in-memory file (memfd) and opened with the
 * store, read-only and without the lock; then everything a tool or a mount
 * does on an untrusted image is run on it, with bounded work:
 *   - both commit slots (store_slots), stats, the space map, the owner of a
 *     few pages, the highest used page;
 *   - store_verify at each level (header, pages, full);
 *   - every table: stat, a full forward scan, a partial backward scan,
 *     seeks and point reads with keys found in the table;
 *   - every blob the space map names: stat and a read (whole or in parts,
 *     through a txn and through store_blob_read_at);
 *   - the filesystem check (sfs_check);
 *   - then, opened read-write (as a mount or fsck repair would): a write
 *     txn that puts, deletes, writes a blob, repairs the free map, commits,
 *     then compaction primitives (relocate the highest page, shrink).
 * Every result is ignored: the store must answer damage with an error code,
 * never with a crash, a sanitizer report, a hang or an assertion.
 *
 * Built as a libFuzzer target (-Dfuzz=true, clang) and, without libFuzzer,
 * as a replayer (replay.c supplies main()). Linked with nocrc.c, every XXH3
 * is 0, so that mutated images keep valid checksums and the fuzzer reaches
 * the structural checks behind them (see README.md).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "slatefs.h"
#include "store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum {
	MAX_TABLES = 32,
	MAX_ROWS = 4096,       /* rows scanned per table */
	MAX_BLOBS = 64,        /* blobs read per input */
	MAX_BLOB_READ = 1 << 20, /* bytes read per blob */
	READ_PIECE = 65536,
};

static void quiet_log(void *ctx, int level, const char *msg)
{
	(void)ctx;
	(void)level;
	(void)msg;
}

static void quiet_problem(void *ctx, const char *msg)
{
	(void)ctx;
	(void)msg;
}

struct tables {
	char names[MAX_TABLES][STORE_MAX_TABLE_NAME + 1];
	int n;
};

static int table_cb(void *ctx, const struct store_table_info *info)
{
	struct tables *t = ctx;
	if (t->n == MAX_TABLES)
		return 1;
	/* the name must be a C string within its buffer */
	if (memchr(info->name, 0, sizeof(info->name)) == NULL) {
		fprintf(stderr, "fuzz: store_table_list: a table name without its NUL\n");
		abort();
	}
	snprintf(t->names[t->n++], sizeof(t->names[0]), "%s", info->name);
	return 0;
}

struct extents {
	uint64_t blobs[MAX_BLOBS];
	int nblobs;
	uint64_t next_pgno; /* where the next extent must start */
	uint64_t pages[4];  /* a few pages to ask store_page_owner about */
	int npages;
	int bad_order;
	struct store_extent bad; /* the first extent out of place */
	uint64_t bad_expected;
};

static int extent_cb(void *ctx, const struct store_extent *e)
{
	struct extents *x = ctx;
	/* the map runs from page 0 in address order, without overlaps */
	if (e->pgno != x->next_pgno && !x->bad_order) {
		x->bad_order = 1;
		x->bad = *e;
		x->bad_expected = x->next_pgno;
	}
	x->next_pgno = e->pgno + e->npages;
	if (e->kind == STORE_EXT_BLOB && x->nblobs < MAX_BLOBS)
		x->blobs[x->nblobs++] = e->blob_id;
	if (x->npages < 4)
		x->pages[x->npages++] = e->pgno;
	return 0;
}

static void scan_table(store_txn *txn, store_table t)
{
	struct store_table_info ti;
	store_cursor *c = NULL;
	uint8_t first[STORE_MAX_KEY], last[STORE_MAX_KEY];
	size_t firstlen = 0, lastlen = 0;
	int r;

	(void)store_table_stat(txn, t, &ti);
	if (store_cursor_open(txn, t, &c) < 0)
		return;
	r = store_cursor_seek(c, STORE_SEEK_FIRST, NULL, 0);
	for (int n = 0; r == 0 && n < MAX_ROWS; n++) {
		const void *k, *v;
		size_t kl, vl;
		if (store_cursor_get(c, &k, &kl, &v, &vl) == 0) {
			if (kl > STORE_MAX_KEY) {
				fprintf(stderr, "fuzz: store_cursor_get: a key of %zu bytes\n", kl);
				abort(); /* the store promised at most STORE_MAX_KEY */
			}
			volatile uint8_t sink = 0;
			if (kl)
				sink ^= ((const uint8_t *)k)[kl - 1];
			if (vl)
				sink ^= ((const uint8_t *)v)[vl - 1];
			(void)sink;
			if (n == 0) {
				memcpy(first, k, kl);
				firstlen = kl;
			}
			memcpy(last, k, kl);
			lastlen = kl;
		}
		r = store_cursor_next(c);
	}
	r = store_cursor_seek(c, STORE_SEEK_LAST, NULL, 0);
	for (int n = 0; r == 0 && n < 64; n++) {
		(void)store_cursor_get(c, NULL, NULL, NULL, NULL);
		r = store_cursor_prev(c);
	}
	static const enum store_seek how[] = {STORE_SEEK_EQ, STORE_SEEK_GE, STORE_SEEK_GT,
					      STORE_SEEK_LE, STORE_SEEK_LT};
	for (size_t i = 0; i < sizeof(how) / sizeof(how[0]); i++) {
		if (store_cursor_seek(c, how[i], first, firstlen) == 0)
			(void)store_cursor_next(c);
		if (store_cursor_seek(c, how[i], last, lastlen) == 0)
			(void)store_cursor_prev(c);
	}
	store_cursor_close(c);

	uint8_t val[256];
	size_t vlen;
	(void)store_get(txn, t, first, firstlen, val, sizeof(val), &vlen);
	(void)store_get(txn, t, last, lastlen, val, sizeof(val), &vlen);
}

static void read_blob(store *s, store_txn *txn, uint64_t id, uint8_t *buf)
{
	struct store_blob_info bi;
	size_t got;

	if (store_blob_stat(txn, id, &bi) < 0)
		return;
	uint64_t len = bi.length < MAX_BLOB_READ ? bi.length : MAX_BLOB_READ;
	for (uint64_t off = 0; off < len; off += READ_PIECE) {
		if (store_blob_read(txn, id, off, buf, READ_PIECE, &got) < 0)
			break;
		if (got > READ_PIECE) {
			fprintf(stderr, "fuzz: store_blob_read: %zu bytes into %d\n", got, READ_PIECE);
			abort();
		}
	}
	/* a piece that straddles segments, and one past the end */
	(void)store_blob_read(txn, id, bi.length / 2 + 1, buf, 4097, &got);
	(void)store_blob_read(txn, id, bi.length + 7, buf, 16, &got);
	(void)store_blob_read_at(s, &bi, 0, buf, 4096, &got);
}

static void read_side(store *s, int full)
{
	struct store_slot_info slots[2];
	struct store_stats st;
	struct store_verify_report vr;
	struct sfs_check_report cr;
	struct tables tabs = {.n = 0};
	struct extents ext = {.nblobs = 0};
	store_txn *txn = NULL;
	uint64_t pg;

	(void)store_slots(s, slots);
	(void)store_page_size(s);
	(void)store_inline_max(s, 8);
	if (store_txn_begin(s, STORE_TXN_READ, &txn) < 0)
		return;
	(void)store_stats(txn, &st);
	for (int level = STORE_VERIFY_HEADER; level <= (full ? STORE_VERIFY_FULL : STORE_VERIFY_PAGES);
	     level++)
		(void)store_verify(txn, level, quiet_problem, NULL, NULL, &vr);
	(void)store_table_list(txn, table_cb, &tabs);
	for (int i = 0; i < tabs.n; i++) {
		store_table t;
		if (store_table_open(txn, tabs.names[i], &t) == 0)
			scan_table(txn, t);
	}
	if (store_space_map(txn, extent_cb, &ext) == 0 && ext.bad_order) {
		fprintf(stderr, "fuzz: store_space_map: an extent of kind %d (%llu pages) starts at "
				"page %llu, where the map had reached page %llu: out of order or "
				"overlapping\n",
			(int)ext.bad.kind, (unsigned long long)ext.bad.npages,
			(unsigned long long)ext.bad.pgno, (unsigned long long)ext.bad_expected);
		abort();
	}
	for (int i = 0; i < ext.npages; i++) {
		struct store_extent e;
		(void)store_page_owner(txn, ext.pages[i], &e);
	}
	(void)store_highest_used(txn, &pg);
	uint8_t *buf = malloc(READ_PIECE + 4097);
	if (buf) {
		for (int i = 0; i < ext.nblobs; i++)
			read_blob(s, txn, ext.blobs[i], buf);
		free(buf);
	}
	(void)sfs_check(txn, quiet_problem, NULL, &cr);
	store_txn_abort(txn);
}

/* What a mount, an fsck repair and compaction do to an image: change it. */
static void write_side(store *s)
{
	store_txn *txn = NULL;
	struct tables tabs = {.n = 0};
	uint64_t id = 0, fixed, pg, newpg, reclaimed;

	if (store_txn_begin(s, STORE_TXN_WRITE, &txn) < 0)
		return;
	(void)store_table_list(txn, table_cb, &tabs);
	for (int i = 0; i < tabs.n && i < 8; i++) {
		store_table t;
		store_cursor *c = NULL;
		if (store_table_open(txn, tabs.names[i], &t) < 0)
			continue;
		(void)store_put(txn, t, "fuzz", 4, "value", 5, 0);
		if (store_cursor_open(txn, t, &c) == 0) {
			const void *k;
			size_t kl;
			uint8_t key[STORE_MAX_KEY];
			if (store_cursor_seek(c, STORE_SEEK_FIRST, NULL, 0) == 0 &&
			    store_cursor_get(c, &k, &kl, NULL, NULL) == 0) {
				memcpy(key, k, kl);
				(void)store_del(txn, t, key, kl);
			}
			store_cursor_close(c);
		}
	}
	static const char blob[9000] = {1};
	(void)store_blob_put(txn, blob, sizeof(blob), STORE_BLOB_LZ4, &id);
	(void)store_repair_free_map(txn, &fixed);
	if (store_txn_commit(txn, 0, NULL) < 0)
		return;
	if (store_txn_begin(s, STORE_TXN_WRITE, &txn) < 0)
		return;
	if (store_highest_used(txn, &pg) == 0)
		(void)store_relocate(txn, pg, &newpg);
	(void)store_shrink(txn, &reclaimed);
	(void)store_txn_commit(txn, STORE_COMMIT_DURABLE, NULL);
}

static int image_fd = -1;
static char image_path[64];

static int load(const uint8_t *data, size_t size)
{
	if (image_fd < 0) {
		image_fd = memfd_create("slatefs-fuzz", MFD_CLOEXEC);
		if (image_fd < 0) {
			perror("memfd_create");
			abort();
		}
		snprintf(image_path, sizeof(image_path), "/proc/self/fd/%d", image_fd);
	}
	if (ftruncate(image_fd, 0) < 0)
		return -errno;
	for (size_t off = 0; off < size;) {
		ssize_t w = pwrite(image_fd, data + off, size - off, (off_t)off);
		if (w <= 0)
			return -EIO;
		off += (size_t)w;
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct store_options so = {.log = quiet_log};
	store *s = NULL;

	if (load(data, size) < 0)
		return 0;
	if (store_open(image_path, STORE_RDONLY | STORE_NOLOCK, &so, &s) == 0) {
		read_side(s, 1);
		store_close(s);
	}
	if (store_open(image_path, STORE_NOLOCK, &so, &s) == 0) {
		write_side(s);
		read_side(s, 0);
		store_close(s);
	}
	return 0;
}
