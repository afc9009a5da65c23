/*
 * store_int.h — internals shared by the store's modules (never included from
 * outside store/). Holds the on-disk layout constants, the in-memory state of
 * an open image, of a transaction and of the allocator, and the prototypes
 * each module exports to the others. The rules these structures uphold are
 * numbered in store/README.md ("Invariants") and cited as [I1]..[In].
 */
#ifndef SLATEFS_STORE_INT_H
#define SLATEFS_STORE_INT_H

#include "store.h"

#include <endian.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

/* ---- on-disk layout ------------------------------------------------------ */

#define SLOT_SIZE 4096u        /* each commit slot is 4096 bytes ... */
#define SLOT_OFF(i) ((uint64_t)(i) * SLOT_SIZE) /* ... at offsets 0 and 4096 */
#define SLOT_MAGIC "SLATEIMG"
#define SLOT_HDR 256u          /* fixed fields; index page list follows */
#define MAX_INDEX ((SLOT_SIZE - SLOT_HDR - 8) / 16) /* index pages in a slot */

#define PAGE_HDR 32u           /* header of every tree and allocator page */
enum page_type { PT_LEAF = 1, PT_BRANCH = 2, PT_BITMAP = 3, PT_INDEX = 4 };

/* page header field offsets */
#define PH_TYPE 0     /* u8 */
#define PH_LEVEL 1    /* u8: 0 = leaf */
#define PH_NKEYS 2    /* u16 */
#define PH_OWNER 4    /* u32: table id (tree), bitmap/index number (alloc) */
#define PH_PGNO 8     /* u64: where the page was written (misdirected writes) */
#define PH_TXNID 16   /* u64: commit that wrote it */
#define PH_UPPER 24   /* u32: start of the cell area */
#define PH_GARBAGE 28 /* u16: bytes of dead cells in the cell area */
#define PH_SPARE 30   /* u16 */

/* index page entry: one per bitmap page */
#define IDX_ENTRY 32u
#define IE_PGNO 0
#define IE_CSUM 8
#define IE_FREE 16
#define IE_MAXRUN 20
#define IE_LEAD 24
#define IE_TRAIL 28

/* leaf cell: u16 klen, u16 vinfo, key, value; vinfo bit 15 = value in a blob */
#define LEAF_CELL_HDR 4u
#define VINFO_OVERFLOW 0x8000u
#define OVERFLOW_REF 16u /* u64 blob id + u64 value length */
/* branch cell: u16 klen, u16 0, u64 child, u64 child checksum, key */
#define BRANCH_CELL_HDR 20u

#define MAX_DEPTH 32
#define BLOB_SEG 65536u /* blobs are checksummed/compressed per 64 KiB segment */

/* system trees, whose roots live in the slot itself */
enum { TID_CATALOG = 0, TID_BLOBS = 1, TID_BLOBLOC = 2, NSYS = 3, TID_FIRST_USER = 16 };
#define MAX_TABLE_ID (1u << 24) /* table ids index an array: bounded */

/* ---- little-endian field access ------------------------------------------ */

static inline uint16_t get16(const void *p)
{
	uint16_t v;
	memcpy(&v, p, 2);
	return le16toh(v);
}
static inline uint32_t get32(const void *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return le32toh(v);
}
static inline uint64_t get64(const void *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return le64toh(v);
}
static inline void put16(void *p, uint16_t v)
{
	v = htole16(v);
	memcpy(p, &v, 2);
}
static inline void put32(void *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, 4);
}
static inline void put64(void *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, 8);
}
static inline void put_be64(void *p, uint64_t v)
{
	v = htobe64(v);
	memcpy(p, &v, 8);
}
static inline uint64_t get_be64(const void *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return be64toh(v);
}

/* ---- committed state ("meta": the in-memory form of a slot) -------------- */

struct tree_root {
	uint64_t pgno;  /* 0 = empty tree */
	uint64_t csum;
	uint32_t depth; /* 0 = empty */
	uint64_t entries;
	uint64_t pages;
	uint64_t overflow; /* bytes of values kept in blobs (user tables) */
};

struct meta {
	atomic_int refs;
	uint64_t txnid;
	uint64_t file_pages;  /* pages the allocator covers */
	uint64_t used_pages;  /* used bits in the bitmaps */
	uint64_t next_blob_id;
	uint32_t next_table_id;
	uint64_t blob_count, blob_logical, blob_stored;
	uint64_t tree_pages;  /* pages of all trees (system and user) */
	uint64_t alloc_pages; /* bitmap + index pages */
	uint64_t reservations; /* blob move reservations not yet ended */
	struct tree_root sys[NSYS];
	uint32_t nindex;
	uint64_t index_pgno[MAX_INDEX];
	uint64_t index_csum[MAX_INDEX];
};

/* ---- the allocator (owned by the writer; see alloc.c) -------------------- */

struct bmstate {
	uint64_t pgno;   /* committed location (0 = no page yet: all free) */
	uint64_t csum;
	uint8_t *dirty;  /* this txn's copy, or NULL */
	uint64_t dpgno;  /* where the dirty copy will be written */
	uint32_t used;   /* used bits (the on-disk count) */
	uint32_t maxrun, lead, trail; /* runs of free bits (valid unless stale) */
	uint32_t npend;  /* pending bits in this bitmap's range */
	bool stale;
	uint64_t *pend;  /* pending-page overlay bits, or NULL */
};

struct idxstate {
	uint64_t pgno, csum;
	uint8_t *dirty;
	uint64_t dpgno;
};

struct pend_ext {
	uint64_t txnid; /* commit that freed it (UINT64_MAX: the open txn) */
	uint64_t pgno, n;
	bool blob;      /* pages of a blob (for the dead-blob figure) */
};

struct extent {
	uint64_t pgno, n;
};

struct alloc_undo {
	uint32_t kind; /* 0 bitmap, 1 index */
	uint32_t i;
	uint64_t pgno, csum;
	uint32_t used, maxrun, lead, trail;
	bool stale;
};

struct alloc {
	uint32_t bpb;   /* pages per bitmap page */
	uint32_t epi;   /* bitmap entries per index page */
	uint32_t nbm, bmcap;
	struct bmstate *bm;
	uint32_t nidx;
	struct idxstate idx[MAX_INDEX];
	uint64_t file_pages;
	uint64_t used_pages;
	uint64_t alloc_pages;
	uint64_t hint;          /* no free page below this */
	uint64_t pending_pages; /* pages in the pending lists */
	uint64_t pending_blob_pages;
	struct pend_ext *pend;  /* freed by committed txns, oldest first */
	size_t npend, pendcap;
	struct pend_ext *tfree; /* freed by the open txn */
	size_t ntfree, tfreecap;
	struct extent *punched; /* sorted, released disk blocks */
	size_t npunched, punchcap;
	struct alloc_undo *undo; /* to roll back on abort */
	size_t nundo, undocap;
	uint64_t undo_file_pages;
	uint64_t undo_used_pages, undo_alloc_pages, undo_hint;
	uint32_t undo_nbm, undo_nidx;
};

/* ---- the open image ------------------------------------------------------ */

struct reader {
	struct reader *prev, *next;
	uint64_t txnid;
};

struct store {
	int fd;
	char *path;
	unsigned flags;
	uint32_t page_size;
	uint32_t page_shift;
	uint64_t first_pg; /* first page after the slots */
	uint8_t uuid[16];
	uint64_t max_size;
	uint64_t map_size;
	uint8_t *map;             /* read-only mapping of the whole file */
	_Atomic uint64_t file_pages; /* pages that exist in the file */
	_Atomic uint64_t *verified;  /* one bit per page: checksum checked */
	size_t verified_bytes;
	void (*log)(void *ctx, int level, const char *msg);
	void *log_ctx;
	store_io_hook io_hook;
	void *io_hook_ctx;

	pthread_mutex_t write_lock; /* held by the open write txn */
	pthread_mutex_t meta_lock;  /* latest, readers */
	pthread_mutex_t sync_lock;  /* one sync at a time */
	struct meta *latest;        /* latest commit (published) */
	struct reader readers;      /* list head */
	uint64_t nreaders;
	_Atomic uint64_t durable_txnid;
	int slot_cur;               /* slot holding the durable state */
	uint64_t slot_csum[2];
	_Atomic int error;          /* error state: write txns refused */
	_Atomic uint64_t pub_pending_pages, pub_pending_blob_pages; /* for readers' stats */
	pthread_mutex_t pub_lock;   /* pub_pend */
	struct extent *pub_pend;    /* pending runs, as of the last commit/release */
	size_t npub_pend;
	store_txn *writer;          /* the open write txn */

	struct alloc alloc;         /* writer-owned */
	uint8_t **pool;             /* writer-owned: spare page buffers */
	size_t npool, poolcap;

	pthread_mutex_t names_lock;
	char **names;               /* table id -> name (for handles) */
	uint32_t nnames;
};

/* ---- transactions -------------------------------------------------------- */

struct dpage {
	uint64_t pgno;
	uint8_t *buf;
};

struct tstate {
	store_table id;
	bool loaded, dirty, dropped;
	struct tree_root r;
	uint64_t overflow_bytes;
	char name[STORE_MAX_TABLE_NAME + 1];
};

struct store_txn {
	store *s;
	bool write;
	struct meta *meta; /* read: snapshot; write: the state being built */
	struct reader rd;  /* read txns: registration */
	/* write txns only: */
	struct dpage *dp;  /* hash table of dirty pages, open addressing */
	size_t dpcap, ndp;
	struct tstate **tabs; /* user tables touched (stable pointers) */
	size_t ntabs, tabcap;
	pthread_mutex_t tabs_lock; /* concurrent readers of a write txn load tables */
	struct tstate sys[NSYS];
	uint64_t modcount;  /* bumped by every change: cursors re-seek */
	uint64_t reserved;  /* pages known allocatable without growth */
	int nwriters;       /* open blob writers */
	bool failed;        /* an operation failed half-way: commit refused */
};

/* ---- pager.c: I/O, mapping, page access ---------------------------------- */

void store_logf(store *s, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
uint64_t page_csum(const store *s, const void *page);
int io_pwrite(store *s, const void *buf, size_t len, uint64_t off);
int io_pwrite_durable(store *s, const void *buf, size_t len, uint64_t off);
int io_pread(store *s, void *buf, size_t len, uint64_t off);
int io_sync(store *s);
int io_truncate(store *s, uint64_t size);
int io_allocate(store *s, uint64_t off, uint64_t len);
int io_punch(store *s, uint64_t off, uint64_t len);
int pager_map(store *s);
void pager_unmap(store *s);
void pager_set_verified(store *s, uint64_t pgno, bool on);
bool pager_is_verified(store *s, uint64_t pgno);
/* A page of the state txn sees, checked against csum (and its type, level
 * and owner, when >= 0) the first time it is read from the file [I3]. */
int page_get(store_txn *txn, uint64_t pgno, uint64_t csum, int type, int level,
	     const uint8_t **out);
int page_check_layout(store *s, const uint8_t *p, uint64_t pgno);
uint8_t *dirty_find(store_txn *txn, uint64_t pgno);
int dirty_add(store_txn *txn, uint64_t pgno, uint8_t *buf);
void dirty_remove(store_txn *txn, uint64_t pgno);
uint8_t *page_alloc_buf(store *s);
void page_free_buf(store *s, uint8_t *buf); /* back to the writer's pool */
void page_pool_free(store *s);

/* ---- alloc.c: free-space bitmap, lowest address first -------------------- */

int alloc_init(store *s, const struct meta *m);
void alloc_destroy(store *s);
int alloc_create(store_txn *txn); /* fresh image: header pages in use */
void alloc_txn_begin(store_txn *txn);
void alloc_txn_abort(store_txn *txn);
int alloc_txn_finalize(store_txn *txn);    /* checksums into meta */
void alloc_txn_committed(store_txn *txn);  /* freed pages become pending */
void alloc_release(store *s);               /* pending -> free when safe */
void alloc_publish(store *s);               /* pending figures for readers */
bool alloc_pub_pending(store *s, uint64_t pgno); /* pending, as published */
int alloc_reserve(store_txn *txn, uint64_t npages);
/* The same for an operation that frees space: it may use the reserve. */
int alloc_reserve_free(store_txn *txn, uint64_t npages);
int alloc_page(store_txn *txn, uint64_t *pgno);
int alloc_run(store_txn *txn, uint64_t n, uint64_t below, uint64_t *pgno);
int alloc_at(store_txn *txn, uint64_t pgno, uint64_t n);
/* Free a run. `fresh` = allocated by this txn and never visible to anyone
 * else, so reusable at once; otherwise it is pending [I2]. */
int alloc_free(store_txn *txn, uint64_t pgno, uint64_t n, bool fresh);
int alloc_free_blob(store_txn *txn, uint64_t pgno, uint64_t n); /* pending */
int alloc_find_run(store_txn *txn, uint64_t n, uint64_t below, uint64_t *pgno);
int alloc_state_of(store_txn *txn, uint64_t pgno, enum store_extent_kind *kind,
		   uint64_t *start, uint64_t *n);
int alloc_highest_used(store_txn *txn, uint64_t *pgno);
int alloc_relocate_self(store_txn *txn, uint64_t pgno, uint64_t *newpgno);
bool alloc_is_alloc_page(store_txn *txn, uint64_t pgno);
int alloc_shrink(store_txn *txn, uint64_t *reclaimed);
int alloc_punch(store_txn *txn, uint64_t min_pages, uint64_t *punched);
int alloc_open_punched(store *s);
/* Read-side helpers that work on any txn (read txns read index pages). */
int alloc_bitmap_get(store_txn *txn, uint32_t b, const uint8_t **bits, uint64_t *pgno);
int alloc_summary(store_txn *txn, struct store_stats *st);
uint64_t alloc_bits_per_page(const store *s);
int alloc_repair(store_txn *txn, const uint64_t *reach, uint64_t *fixed);

/* ---- btree.c: copy-on-write B+tree --------------------------------------- */

int bt_get(store_txn *txn, struct tstate *t, const void *key, size_t klen, void *val,
	   size_t cap, size_t *vlen);
int bt_put(store_txn *txn, struct tstate *t, const void *key, size_t klen, const void *val,
	   size_t vlen, unsigned flags);
int bt_del(store_txn *txn, struct tstate *t, const void *key, size_t klen);
int bt_finalize(store_txn *txn, struct tstate *t);
int bt_free_all(store_txn *txn, struct tstate *t);
/* Insert a row whose value already lives in blob `id` (copies). */
int bt_put_overflow_ref(store_txn *txn, struct tstate *t, const void *key, size_t klen,
			uint64_t id, uint64_t vlen);
int bt_relocate(store_txn *txn, struct tstate *t, uint64_t pgno, int level,
		const uint8_t *first_key, size_t first_klen, uint64_t *newpgno);
size_t bt_inline_max(const store *s, size_t klen);
size_t bt_max_cell(const store *s);
/* cursor internals used by the catalog and the blob index */
struct bt_cursor;
int bt_cursor_init(store_txn *txn, struct tstate *t, struct bt_cursor **out);
/* for walkers (verify, space map): visit every page of a tree */
struct bt_visit {
	int (*page)(void *ctx, uint64_t pgno, const uint8_t *p, int level);
	int (*overflow)(void *ctx, uint64_t blob_id, uint64_t len);
	void *ctx;
	bool check; /* verify order, levels and links; problems via ->problem */
	void (*problem)(void *ctx, const char *msg);
	uint64_t errors, entries, pages;
};
int bt_walk(store_txn *txn, struct tstate *t, struct bt_visit *v);
/* leaf/branch cell accessors */
uint16_t pg_nkeys(const uint8_t *p);
const uint8_t *pg_cell(const uint8_t *p, unsigned i);
void leaf_kv(const uint8_t *cell, const uint8_t **k, size_t *klen, const uint8_t **v,
	     size_t *vlen, bool *overflow);
void branch_k(const uint8_t *cell, const uint8_t **k, size_t *klen, uint64_t *child,
	      uint64_t *csum);

/* ---- catalog.c: tables --------------------------------------------------- */

int tab_get(store_txn *txn, store_table id, struct tstate **out);
struct tstate *tab_sys(store_txn *txn, int which);
int tab_finalize_all(store_txn *txn);
void tab_txn_free(store_txn *txn);
int tab_for_each(store_txn *txn, int (*cb)(void *ctx, struct tstate *t), void *ctx);
int tab_by_id(store_txn *txn, store_table id, struct tstate **out);

/* ---- blob.c -------------------------------------------------------------- */

int blob_put_value(store_txn *txn, const void *data, size_t len, uint64_t *id);
int blob_read_all(store_txn *txn, uint64_t id, void *buf, size_t len);
int blob_locate_page(store_txn *txn, uint64_t pgno, struct store_blob_info *out);
int blob_move(store_txn *txn, uint64_t id, uint64_t target, uint64_t *newpgno);
int blob_check(store *s, const struct store_blob_info *b, void (*problem)(void *, const char *),
	       void *ctx);
int blob_decode_row(const uint8_t *v, size_t vlen, uint64_t id, struct store_blob_info *b);
bool blob_is_reservation(const struct store_blob_info *b);
int blob_index_as(store_txn *txn, struct store_blob_info *b);

/* ---- txn.c --------------------------------------------------------------- */

struct meta *meta_get(store *s);
void meta_put(struct meta *m);
uint64_t readers_oldest(store *s, uint64_t *count);
void txn_touch(store_txn *txn);
int txn_check_write(store_txn *txn);

/* ---- store.c ------------------------------------------------------------- */

void slot_encode(const store *s, const struct meta *m, uint8_t *slot);
int slot_decode(const uint8_t *slot, struct meta *m, uint32_t *page_size, uint8_t uuid[16],
		char *why, size_t whylen);

#endif /* SLATEFS_STORE_INT_H */
