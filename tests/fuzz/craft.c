/*
 * craft.c — the crafted inputs of the bugs the fuzzer found (K1-K6 in
 * README.md), written by `fuzz-mkseed DIR` among the ordinary seeds of DIR:
 * each bug is fixed, and its input is a regression test. Each starts from a
 * valid seed of DIR, changes the field the bug needs, and recomputes the
 * checksums above it as an attacker would, so it reproduces with real
 * checksums — in the plain replayer, fsck.slatefs, slatefs-inspect and the
 * daemon — and in the nocrc build alike.
 *
 * Checksums are found by value, so that no offset inside a page is assumed:
 * after page P changed, its old XXH3 is looked for in every other page and
 * in the slots, replaced by the new one, and each page changed that way is
 * resealed in turn, up to the slots, whose own XXH3 (of their first 4088
 * bytes, in their last 8: store/README.md) comes last. An 8-byte checksum
 * appearing by chance elsewhere is not a concern at these sizes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "mkseed.h"
#include "store.h"

enum { SLOT = 4096, SLOT_SUM = 4088, PS = 4096 };

static void reseal_slots(uint8_t *b)
{
	for (int slot = 0; slot < 2; slot++) {
		uint64_t c = XXH3_64bits(b + slot * SLOT, SLOT_SUM);
		memcpy(b + slot * SLOT + SLOT_SUM, &c, 8);
	}
}

/* Replace old by now wherever it stands in [p, p + n); true if found. */
static int replace64(uint8_t *p, size_t n, uint64_t old, uint64_t now)
{
	int hit = 0;
	for (size_t i = 0; i + 8 <= n; i++) {
		if (memcmp(p + i, &old, 8) == 0) {
			memcpy(p + i, &now, 8);
			hit = 1;
		}
	}
	return hit;
}

/* Page pg changed; its XXH3 was old. True if the chain reached a slot. */
static int reseal_page(uint8_t *b, size_t len, size_t pg, uint64_t old, int depth)
{
	uint64_t now = XXH3_64bits(b + pg * PS, PS);
	if (old == now)
		return 1; /* nocrc.c: every checksum is 0 */
	if (depth > 16)
		seed_die("craft: checksums chain deeper than 16 pages", ELOOP);
	int found = 0;
	for (size_t p = 2 * SLOT / PS; p < len / PS; p++) {
		if (p == pg)
			continue;
		uint8_t *q = b + p * PS;
		uint64_t qold = XXH3_64bits(q, PS);
		if (replace64(q, PS, old, now))
			found |= reseal_page(b, len, p, qold, depth + 1);
	}
	for (int slot = 0; slot < 2; slot++)
		found |= replace64(b + slot * SLOT, SLOT_SUM, old, now);
	return found;
}

/* Reseal the slots of b, write it to dir/name, free it. */
static void craft_write(const char *dir, const char *name, uint8_t *b, size_t len)
{
	reseal_slots(b);
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	seed_write(path, b, len);
	free(b);
}

/*
 * In a copy of seed `from`, find every occurrence of pattern (outside the
 * slots), write n bytes of val at off from its start, reseal, and write the
 * result to dir/name. An occurrence in a page nothing references (an old
 * copy a commit left behind) is left as it was.
 */
static void craft_patch(const char *from, const char *dir, const char *name,
			const void *pattern, size_t plen, size_t off, const void *val, size_t n)
{
	size_t len, hits = 0;
	uint8_t *b = seed_slurp(from, &len);
	for (size_t i = 2 * SLOT; i + plen <= len; i++) {
		if (memcmp(b + i, pattern, plen) != 0 || i + off + n > len)
			continue;
		size_t pg = i / PS;
		uint64_t old = XXH3_64bits(b + pg * PS, PS);
		uint8_t was[32];
		if (n > sizeof(was))
			seed_die("craft: a patch of more than 32 bytes", EINVAL);
		memcpy(was, b + i + off, n);
		memcpy(b + i + off, val, n);
		if (reseal_page(b, len, pg, old, 0))
			hits++;
		else
			memcpy(b + i + off, was, n); /* unreferenced: nothing else changed */
	}
	if (!hits) {
		fprintf(stderr, "fuzz-mkseed: craft %s: the pattern was not found in %s (the format "
				"changed? update tests/fuzz/craft.c)\n",
			name, from);
		exit(1);
	}
	craft_write(dir, name, b, len);
}

/* A slot field: both slots, at off (offsets from store/README.md's list). */
static void craft_slot_u64(const char *from, const char *dir, const char *name, size_t off,
			   uint64_t v)
{
	size_t len;
	uint8_t *b = seed_slurp(from, &len);
	for (int slot = 0; slot < 2; slot++)
		memcpy(b + slot * SLOT + off, &v, 8);
	craft_write(dir, name, b, len);
}

/* The catalog row of table "super": a leaf cell (u16 key length 5, u16 value
   length 48, the key), whose value starts with the table id (u32). */
static void craft_table_id(const char *dir, const char *name, uint32_t id)
{
	static const uint8_t cell[] = {5, 0, 48, 0, 's', 'u', 'p', 'e', 'r'};
	craft_patch("fs-empty", dir, name, cell, sizeof(cell), sizeof(cell), &id, 4);
}

/* Two blobs of 2 pages side by side (in a store made here): the first's
   blobloc row (a leaf cell: u16 key length 8, u16 value length 16, the
   first page big-endian, then the blob id and its pages) is made one page
   longer, over the second's first page. */
static void craft_blob_overlap(const char *dir, const char *name)
{
	struct store_options so = {.log = seed_log};
	static const char base[] = "two-blobs.tmp";
	static uint8_t data[5000];
	struct store_blob_info bi[6], a = {0};
	store *s;
	store_txn *txn;
	store_table t;
	uint64_t id;
	int found = 0;

	CHECK(store_open(seed_path(base), STORE_CREATE | STORE_OVERWRITE, &so, &s));
	CHECK(store_txn_begin(s, STORE_TXN_WRITE, &txn));
	CHECK(store_table_create(txn, "t", &t));
	CHECK(store_put(txn, t, "k", 1, "v", 1, 0));
	memset(data, 0x5a, sizeof(data));
	for (int i = 0; i < 6; i++) {
		CHECK(store_blob_put(txn, data, sizeof(data), 0, &id));
		CHECK(store_blob_stat(txn, id, &bi[i]));
	}
	CHECK(store_txn_commit(txn, STORE_COMMIT_DURABLE, NULL));
	CHECK(store_close(s));
	for (int i = 0; i < 6 && !found; i++)
		for (int j = 0; j < 6 && !found; j++)
			if (bi[j].pgno == bi[i].pgno + bi[i].npages && bi[j].npages >= 2) {
				a = bi[i];
				found = 1;
			}
	if (!found)
		seed_die("craft: no two blobs side by side", EINVAL);
	uint8_t cell[28] = {8, 0, 16, 0};
	for (int i = 0; i < 8; i++)
		cell[4 + i] = (uint8_t)(a.pgno >> (56 - 8 * i));
	memcpy(cell + 12, &a.id, 8);
	memcpy(cell + 20, &a.npages, 8);
	uint64_t longer = a.npages + 1;
	craft_patch(base, dir, name, cell, sizeof(cell), 20, &longer, 8);
	unlink(seed_path(base));
}

struct find_ctx {
	store_table table;
	uint64_t branch, first_free, end;
};

static int find_cb(void *ctx, const struct store_extent *e)
{
	struct find_ctx *f = ctx;
	if (e->kind == STORE_EXT_TREE && e->table == f->table)
		for (uint64_t p = e->pgno; p < e->pgno + e->npages; p++)
			if (!f->branch)
				f->branch = p; /* a candidate: checked below */
	if ((e->kind == STORE_EXT_FREE || e->kind == STORE_EXT_PENDING) && !f->first_free)
		f->first_free = e->pgno;
	f->end = e->pgno + e->npages;
	return 0;
}

/* A branch whose last child is the lowest free page (or, with none, the
   first page past the end): the next write txn puts its copy of the
   allocator's bitmap there, and the commit's checksum pass (btree.c
   fin_page) takes that buffer for the child and writes past it. The branch
   (u8 type 2, u8 level, u16 key count, u32 owner = the table id; u16 cell
   offsets after the 32-byte header; a cell: u16 key length, u16 0, u64
   child ...) is the root of table "rows" of seed store-rows (300 rows:
   depth 2), found among the table's pages by its type. */
static void craft_branch_child(const char *dir, const char *name)
{
	struct store_options so = {.log = seed_log};
	struct find_ctx f = {0};
	store *s;
	store_txn *txn;

	CHECK(store_open(seed_path("store-rows"), STORE_RDONLY, &so, &s));
	CHECK(store_txn_begin(s, STORE_TXN_READ, &txn));
	CHECK(store_table_open(txn, "rows", &f.table));
	CHECK(store_space_map(txn, find_cb, &f));
	store_txn_abort(txn);
	CHECK(store_close(s));
	uint64_t target = f.first_free ? f.first_free : f.end;

	size_t len;
	uint8_t *b = seed_slurp("store-rows", &len);
	uint8_t *pg = NULL;
	uint16_t n = 0, off;
	for (uint64_t p = 2 * SLOT / PS; p < len / PS && !pg; p++) {
		uint32_t owner;
		memcpy(&owner, b + p * PS + 4, 4);
		memcpy(&n, b + p * PS + 2, 2);
		if (b[p * PS] == 2 && owner == f.table && n >= 2) {
			pg = b + p * PS;
			f.branch = p;
		}
	}
	if (!pg)
		seed_die("craft: no branch of table rows in store-rows (the format changed? "
			 "update craft.c)", ENOENT);
	memcpy(&off, pg + 32 + 2 * (n - 1), 2);
	uint64_t old = XXH3_64bits(pg, PS);
	memcpy(pg + off + 4, &target, 8);
	if (!reseal_page(b, len, f.branch, old, 0))
		seed_die("craft: the branch's checksum is held nowhere", EINVAL);
	craft_write(dir, name, b, len);
}

/* Entry e of the allocator index page pg: its bitmap's page number (the
   entry's first 8 bytes, after the 32-byte page header; entries of 32 bytes)
   set to v, resealed. */
static void craft_index_bitmap(const char *from, const char *dir, const char *name, size_t pg,
			       unsigned e, uint64_t v)
{
	size_t len;
	uint8_t *b = seed_slurp(from, &len);
	if ((pg + 1) * PS > len)
		seed_die("craft: the index page is past the seed's end", EINVAL);
	uint64_t old = XXH3_64bits(b + pg * PS, PS);
	memcpy(b + pg * PS + 32 + e * 32, &v, 8);
	if (!reseal_page(b, len, pg, old, 0)) {
		fprintf(stderr, "fuzz-mkseed: craft %s: page %zu of %s is referenced by nothing "
				"(the format changed? update tests/fuzz/craft.c)\n",
			name, pg, from);
		exit(1);
	}
	craft_write(dir, name, b, len);
}

void craft_fixed(const char *dir)
{
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		seed_die(dir, errno);

	/* store/catalog.c names_set() sizes an array by a table id read from
	   the image: 2^30 asks realloc for 16 GiB; from 2^31 on, its doubling
	   overflows to 0 and never ends */
	craft_table_id(dir, "catalog-table-id-2e30", 1u << 30);
	craft_table_id(dir, "catalog-table-id-2e31", 1u << 31);

	/* the slots' file size in pages (offset 56: after magic 8, version 4,
	   page size 4, feature flags 8 + 8, UUID 16, txn id 8) is not bounded:
	   alloc_init() sizes the allocator's arrays by it (2^62 pages: an 8 GiB
	   realloc), then check_tail_unused() walks the bitmaps bit by bit from
	   the file's end to it (2^34 pages: an open that takes hours) */
	craft_slot_u64("fs-empty", dir, "slot-file-pages-2e62", 56, 1ull << 62);
	craft_slot_u64("fs-empty", dir, "slot-file-pages-2e34", 56, 1ull << 34);

	/* an overflow value's length is taken from its leaf cell (u16 key
	   length 11, u16 0x8000: "in a blob", the key, then the blob id and the
	   length) and store_cursor_get() allocates it before any check: 2^60 */
	static const uint8_t ovf[] = {11, 0, 0, 0x80, 'k', 'e', 'y', '0', '0', '0',
				      '0', '7', '9', '1', '9'};
	uint64_t huge = 1ull << 60;
	craft_patch("store-rows", dir, "overflow-value-length-2e60", ovf, sizeof(ovf),
		    sizeof(ovf) + 8, &huge, 8);

	/* two blobs whose runs overlap: store_space_map() reports both, out of
	   address order (the target checks the order and aborts) */
	craft_blob_overlap(dir, "blobloc-overlap");

	/* a branch whose child is a free page: a heap buffer overflow when the
	   next write txn commits */
	craft_branch_child(dir, "branch-child-free-page");

	/* a store without tables: qsort(NULL, 0) in store_space_map, which
	   only UBSan saw */
	struct store_options so = {.log = seed_log};
	store *s;
	char path[4096];
	snprintf(path, sizeof(path), "%s/store-no-tables", dir);
	CHECK(store_open(path, STORE_CREATE | STORE_OVERWRITE, &so, &s));
	CHECK(store_close(s));

	/* K7: an allocator index entry whose bitmap page number is 2^64-1 (page
	   3, entry 12 of the store above): shrinking freed the bitmap without
	   reading it, and free_run()'s bound check wrapped around: a wild read */
	craft_index_bitmap("store-no-tables", dir, "index-bitmap-pgno-max", 3, 12, UINT64_MAX);
}
