/*
 * store.h — public interface of the slatefs transactional store.
 *
 * The store keeps named tables of byte-string keys and values, plus a blob
 * region for large values, in ONE image file. It is a copy-on-write B+tree
 * with two commit slots (in the spirit of LMDB and redb): every commit is
 * atomic, a crash returns the image to the last durable commit, and every
 * page and blob is checksummed with XXH3 (a page's checksum is kept in its
 * parent, so the whole image is a Merkle tree).
 *
 * Concepts, in the order a newcomer meets them:
 *
 *   store        an open image file.                       store_open()
 *   txn          a transaction: one writer at a time,      store_txn_begin()
 *                any number of snapshot readers. Readers
 *                never block the writer and vice versa.
 *   table        a named B+tree inside the image.          store_table_open()
 *   cursor       an ordered walk over one table.           store_cursor_open()
 *   blob         a large value (0 bytes .. 1 TiB) stored   store_blob_put()
 *                as a run of pages, addressed by a 64-bit
 *                id that stays valid when the blob moves.
 *
 * Conventions:
 *   - Every function that can fail returns 0 or a negative errno value.
 *     -EIO means the image is damaged (a checksum failed) or the disk
 *     failed; the store has logged a line saying which page or blob.
 *   - Keys are compared with memcmp (shorter key first on a common prefix);
 *     encode integers big-endian so that they sort numerically.
 *   - A txn and the cursors on it are used by one thread at a time, except
 *     that a write txn may be READ by several threads at once provided the
 *     caller guarantees that no thread modifies it meanwhile (a rwlock).
 *   - Pointers returned by the store (keys and values from a cursor) stay
 *     valid until the cursor moves, or the txn is modified or ended.
 *
 * The on-disk format and the invariants that make commits atomic are
 * described in store/README.md.
 */
#ifndef SLATEFS_STORE_H
#define SLATEFS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct store store;
typedef struct store_txn store_txn;
typedef struct store_cursor store_cursor;
typedef struct store_blob_writer store_blob_writer;
typedef struct store_blob_prep store_blob_prep;

/** Handle of a table: its id in the image, the same in every open of the
 *  image, until the table is dropped. */
typedef uint32_t store_table;

enum {
	STORE_FORMAT_VERSION = 1,
	STORE_MIN_PAGE_SIZE = 4096,
	STORE_MAX_PAGE_SIZE = 65536,
	STORE_DEFAULT_PAGE_SIZE = 4096,
	STORE_MAX_KEY = 512,        /**< longest key, in bytes */
	STORE_MAX_TABLE_NAME = 200, /**< longest table name, in bytes */
};

/* ------------------------------------------------------------------------ */
/* Opening and closing                                                        */
/* ------------------------------------------------------------------------ */

/** Flags for store_open(). */
enum store_open_flags {
	STORE_CREATE = 1 << 0,   /**< create a new image; -EEXIST if the file exists */
	STORE_OVERWRITE = 1 << 1, /**< with STORE_CREATE: replace an existing file */
	STORE_RDONLY = 1 << 2,   /**< open read-only; write txns fail with -EROFS */
	STORE_NOLOCK = 1 << 3,   /**< do not take the image lock (tests, read-only
	                              inspection of a copy) */
};

/** Log levels passed to the log callback (syslog priorities). */
enum store_log_level {
	STORE_LOG_ERR = 3,
	STORE_LOG_WARNING = 4,
	STORE_LOG_INFO = 6,
	STORE_LOG_DEBUG = 7,
};

/** Kinds of I/O the store performs, reported to the I/O hook. */
enum store_io_op {
	STORE_IO_WRITE,    /**< pwrite(off, buf, len) */
	STORE_IO_SYNC,     /**< fdatasync() */
	STORE_IO_TRUNCATE, /**< ftruncate(off) */
	STORE_IO_ALLOCATE, /**< fallocate(0, off, len): grow or refill */
	STORE_IO_PUNCH,    /**< fallocate(PUNCH_HOLE|KEEP_SIZE, off, len) */
};

/**
 * Hook called before every write-side I/O the store does on the image file
 * (reads go through mmap/pread and are not reported). Used by tests to record
 * writes and syncs for crash replay, and to inject faults.
 * @return 0 to let the I/O happen, or a negative errno to fail it with that
 *         error without performing it.
 */
typedef int (*store_io_hook)(void *ctx, enum store_io_op op, uint64_t off,
			     const void *buf, uint64_t len);

/** Options for store_open(); zero-initialise and set what you need. */
struct store_options {
	uint32_t page_size;  /**< at create: power of two, 4096..65536 (0 = 4096) */
	uint64_t max_size;   /**< image size limit in bytes (0 = none); growth
	                          past it fails with -ENOSPC */
	void (*log)(void *ctx, int level, const char *msg); /**< NULL = stderr */
	void *log_ctx;
	store_io_hook io_hook; /**< NULL = none */
	void *io_hook_ctx;
};

/**
 * Open (or create) an image.
 * Errors: -EEXIST (create over an existing file without STORE_OVERWRITE),
 * -EBUSY (the image is open elsewhere: another process holds its lock),
 * -EINVAL (not a slatefs image, or bad options), -EPROTONOSUPPORT (the image
 * uses a newer format version or unknown incompatible features), -EIO (both
 * commit slots damaged, or the image is truncated), or an errno from open().
 * Every error is also logged with a sentence saying what was wrong.
 */
int store_open(const char *path, unsigned flags, const struct store_options *opt,
	       store **out);

/**
 * Close the image. Makes the latest commit durable first (unless read-only);
 * aborts a write txn still open. All read txns must have ended.
 * @return 0, or the error of the final sync (the image is still closed).
 */
int store_close(store *s);

/** Page size of the image in bytes. */
uint32_t store_page_size(const store *s);

/**
 * Largest value stored inline in a B+tree leaf for a key of klen bytes;
 * longer values are kept in the blob region transparently.
 */
size_t store_inline_max(const store *s, size_t klen);

/** The image's 16-byte UUID, set at create. */
void store_uuid(const store *s, uint8_t uuid[16]);

/**
 * Change the size limit at run time (bytes, 0 = none). Does not shrink the
 * file; later growth past the limit fails with -ENOSPC.
 */
void store_set_max_size(store *s, uint64_t max_size);

/* ------------------------------------------------------------------------ */
/* Transactions                                                               */
/* ------------------------------------------------------------------------ */

enum store_txn_flags {
	STORE_TXN_READ = 0,       /**< a snapshot of the latest commit */
	STORE_TXN_WRITE = 1 << 0, /**< the single writer; blocks until free */
	STORE_TXN_TRYWRITE = 1 << 1, /**< with WRITE: -EBUSY instead of waiting */
};

enum store_commit_flags {
	STORE_COMMIT_DURABLE = 1 << 0, /**< fdatasync before returning */
};

/**
 * Begin a transaction. A read txn sees the latest committed state (durable
 * or not) and keeps seeing it however many commits follow; while it lives,
 * no page it can reach is reused. Only one write txn exists at a time.
 * Errors: -EROFS (write on a read-only store), -EIO (the store is in its
 * error state after a failed commit: close and reopen), -ENOMEM, -EBUSY
 * (TRYWRITE while another write txn is open).
 */
int store_txn_begin(store *s, unsigned flags, store_txn **out);

/**
 * Commit a write txn, or end a read txn (same as store_txn_abort for those).
 * The txn is freed whatever the result.
 * Without STORE_COMMIT_DURABLE the commit is atomic and visible to new
 * txns at once, but a crash may return the image to the last durable commit;
 * store_sync() makes it durable later. With it, the call returns after the
 * commit is on stable storage.
 * @param txnid  if not NULL, receives the id of the new committed state.
 * Errors: an I/O error while writing leaves the previous state committed
 * and puts the store in its error state (-EIO for later write txns).
 */
int store_txn_commit(store_txn *txn, unsigned flags, uint64_t *txnid);

/** Abandon a write txn (nothing it did remains) or end a read txn. */
void store_txn_abort(store_txn *txn);

/** Is this a write txn? */
bool store_txn_is_write(const store_txn *txn);

/** Id of the committed state a read txn sees / the state a write txn builds. */
uint64_t store_txn_id(const store_txn *txn);

/**
 * Make every commit up to txnid durable (0 = the latest commit). Runs
 * without blocking the writer: a write txn may be open and commit meanwhile.
 * Concurrent callers share one sync (group commit).
 */
int store_sync(store *s, uint64_t txnid);

/** Id of the latest commit, and of the latest durable one. */
uint64_t store_last_txnid(store *s);
uint64_t store_durable_txnid(store *s);

/**
 * Guarantee that the next allocations of this write txn, up to `bytes` of
 * pages (plus the store's own bookkeeping), cannot fail with -ENOSPC: grows
 * the file (fallocate) or refills punched space as needed. Call it before a
 * group of changes that must all happen or none, e.g. every row of one
 * filesystem operation. store_put() and blob writes also reserve what they
 * need for themselves before changing anything.
 * Errors: -ENOSPC (disk full or max_size reached; nothing changed).
 */
int store_txn_reserve(store_txn *txn, uint64_t bytes);

/**
 * The same, for a group of changes that frees space (deleting a file):
 * it may use a small reserve (512 KiB) that store_txn_reserve() and every put
 * leave untouched, so that an image filled to its limit can still be
 * emptied. store_del() and store_blob_delete() use that reserve themselves.
 */
int store_txn_reserve_free(store_txn *txn, uint64_t bytes);

/* ------------------------------------------------------------------------ */
/* Tables                                                                     */
/* ------------------------------------------------------------------------ */

/** Per-table figures, for stats and the inspector. */
struct store_table_info {
	char name[STORE_MAX_TABLE_NAME + 1];
	store_table id;
	uint32_t depth;       /**< 0 = empty, 1 = a single leaf, ... */
	uint64_t entries;     /**< number of keys */
	uint64_t pages;       /**< B+tree pages (leaves and branches) */
	uint64_t overflow_bytes; /**< bytes of values kept in blobs */
};

/** Create a table. Errors: -EEXIST, -ENAMETOOLONG, -EINVAL (empty name). */
int store_table_create(store_txn *txn, const char *name, store_table *out);

/** Open an existing table. Errors: -ENOENT. */
int store_table_open(store_txn *txn, const char *name, store_table *out);

/** Drop a table and free every page and blob of it. Errors: -ENOENT. */
int store_table_drop(store_txn *txn, const char *name);

/**
 * Call cb for every table, in name order. cb returns 0 to go on; any other
 * value stops the walk and is returned.
 */
int store_table_list(store_txn *txn,
		     int (*cb)(void *ctx, const struct store_table_info *info),
		     void *ctx);

/** Figures for one table. */
int store_table_stat(store_txn *txn, store_table t, struct store_table_info *out);

/* ------------------------------------------------------------------------ */
/* Rows                                                                       */
/* ------------------------------------------------------------------------ */

enum store_put_flags {
	STORE_NOOVERWRITE = 1 << 0, /**< -EEXIST if the key exists */
	STORE_MUSTEXIST = 1 << 1,   /**< -ENOENT if the key does not exist */
};

/**
 * Look up key and copy its value into val (at most cap bytes).
 * @param vlen  receives the full length of the value (may exceed cap).
 * Errors: -ENOENT (no such key).
 */
int store_get(store_txn *txn, store_table t, const void *key, size_t klen,
	      void *val, size_t cap, size_t *vlen);

/**
 * Insert or replace a row (write txn). Values of any length are accepted:
 * those above store_inline_max() go to the blob region.
 * Errors: -EINVAL (key longer than STORE_MAX_KEY), -EEXIST / -ENOENT (flags),
 * -ENOSPC, -EBADF (read txn).
 */
int store_put(store_txn *txn, store_table t, const void *key, size_t klen,
	      const void *val, size_t vlen, unsigned flags);

/** Delete a row. Errors: -ENOENT (no such key). */
int store_del(store_txn *txn, store_table t, const void *key, size_t klen);

/* ------------------------------------------------------------------------ */
/* Cursors                                                                    */
/* ------------------------------------------------------------------------ */

enum store_seek {
	STORE_SEEK_FIRST, /**< the smallest key */
	STORE_SEEK_LAST,  /**< the largest key */
	STORE_SEEK_EQ,    /**< exactly key */
	STORE_SEEK_GE,    /**< the smallest key >= key */
	STORE_SEEK_GT,    /**< the smallest key > key */
	STORE_SEEK_LE,    /**< the largest key <= key */
	STORE_SEEK_LT,    /**< the largest key < key */
};

/**
 * Open a cursor on a table. A cursor on a write txn survives changes made
 * through the txn: after a put or del it re-finds its place by key (if its
 * current row was deleted, next/prev continue from where it was).
 */
int store_cursor_open(store_txn *txn, store_table t, store_cursor **out);
void store_cursor_close(store_cursor *c);

/** Position the cursor. Errors: -ENOENT (no such row; cursor unpositioned). */
int store_cursor_seek(store_cursor *c, enum store_seek how, const void *key,
		      size_t klen);

/** Move to the next / previous row. Errors: -ENOENT at the end. */
int store_cursor_next(store_cursor *c);
int store_cursor_prev(store_cursor *c);

/**
 * The current row. Pointers stay valid until the cursor moves or the txn is
 * changed or ended; a value kept in the blob region is read into a buffer
 * owned by the cursor. Either out-pointer pair may be NULL.
 * Errors: -ENOENT (cursor not on a row), -EIO.
 */
int store_cursor_get(store_cursor *c, const void **key, size_t *klen,
		     const void **val, size_t *vlen);

/* ------------------------------------------------------------------------ */
/* Blobs                                                                      */
/* ------------------------------------------------------------------------ */

enum store_blob_flags {
	STORE_BLOB_LZ4 = 1 << 0, /**< try lz4 per segment; kept only where it
	                              saves at least 1/8 */
	STORE_BLOB_BORROW = 1 << 1, /**< store_blob_prepare() of at most 64 KiB:
	                              keep a pointer to data instead of a copy
	                              when it is stored as is; data must stay
	                              unchanged until the prep is freed */
};

/** Where a blob lives and what it holds. */
struct store_blob_info {
	uint64_t id;
	uint64_t length;   /**< logical bytes */
	uint64_t stored;   /**< bytes on disk (compressed size plus headers) */
	uint64_t pgno;     /**< first page of its run */
	uint64_t npages;   /**< pages in its run */
	uint64_t checksum; /**< XXH3 of the stored bytes (or of its header) */
	uint32_t flags;    /**< STORE_BLOB_* as stored (LZ4 if any segment is) */
	uint32_t refs;     /**< reference count (store_blob_share) */
};

/** Store data as a new blob (write txn). Errors: -ENOSPC, -EIO. */
int store_blob_put(store_txn *txn, const void *data, size_t len, unsigned flags,
		   uint64_t *id);

/**
 * Build a blob without a txn: compress and checksum data now (thread-safe,
 * no lock needed), and put it later with store_blob_put_prepared() — so
 * that the CPU work happens outside the caller's write lock.
 */
int store_blob_prepare(store *s, const void *data, size_t len, unsigned flags,
		       store_blob_prep **out);
int store_blob_put_prepared(store_txn *txn, const store_blob_prep *p, uint64_t *id);
void store_blob_prep_free(store_blob_prep *p);

/**
 * Write a blob of known length in pieces, at any offsets, without holding
 * it in memory: open, write each byte exactly once, finish. Bytes never
 * written read as zeros. The writer belongs to its txn; abort or finish it
 * before the txn ends.
 */
int store_blob_writer_open(store_txn *txn, uint64_t len, unsigned flags,
			   store_blob_writer **out);
int store_blob_writer_write(store_blob_writer *w, uint64_t off, const void *data,
			    size_t len);
int store_blob_writer_finish(store_blob_writer *w, uint64_t *id);
void store_blob_writer_abort(store_blob_writer *w);

/**
 * Read len bytes at off of a blob into buf; only the segments that hold
 * that range are read, decompressed and checked.
 * @param nread  receives the bytes read (short at the end of the blob).
 * Errors: -ENOENT (no such blob), -EIO (checksum mismatch: logged).
 */
int store_blob_read(store_txn *txn, uint64_t id, uint64_t off, void *buf,
		    size_t len, size_t *nread);

/** Where a blob is and what it holds. Errors: -ENOENT. */
int store_blob_stat(store_txn *txn, uint64_t id, struct store_blob_info *out);

/**
 * Read a blob located earlier with store_blob_stat(), without a txn — for
 * callers that look blobs up under their own lock and read outside it. The
 * caller must keep the blob from being reused meanwhile, by holding a read
 * txn begun before the lock was released.
 */
int store_blob_read_at(store *s, const struct store_blob_info *loc, uint64_t off,
		       void *buf, size_t len, size_t *nread);

/** Add a reference to a blob (e.g. two file chunks share it). */
int store_blob_share(store_txn *txn, uint64_t id);

/** Drop a reference; the blob is freed when none is left. Errors: -ENOENT. */
int store_blob_delete(store_txn *txn, uint64_t id);

/* ------------------------------------------------------------------------ */
/* Space: stats, relocation and shrinking (for compaction)                    */
/* ------------------------------------------------------------------------ */

/** Figures for compaction and monitoring. All sizes in bytes. */
struct store_stats {
	uint32_t page_size;
	uint64_t txnid;              /**< state these figures describe */
	uint64_t durable_txnid;
	uint64_t file_size;          /**< size of the image file */
	uint64_t disk_bytes;         /**< blocks the file occupies (st_blocks) */
	uint64_t used_bytes;         /**< pages reachable from this state */
	uint64_t free_bytes;         /**< free pages inside the file */
	uint64_t pending_bytes;      /**< part of free_bytes not yet reusable
	                                  (old snapshots, not yet durable) */
	uint64_t tail_free_bytes;    /**< free bytes after the highest used page */
	uint64_t largest_free_extent;
	uint64_t free_extents;       /**< number of free runs inside the file */
	uint64_t tree_pages;         /**< B+tree pages of all tables */
	uint64_t alloc_pages;        /**< the allocator's own pages */
	uint64_t blob_count;
	uint64_t blob_logical_bytes; /**< sum of blob lengths */
	uint64_t blob_stored_bytes;  /**< sum of bytes blobs occupy on disk */
	uint64_t blob_dead_bytes;    /**< freed blob bytes not yet reusable */
	uint64_t readers;            /**< live read txns */
	uint64_t oldest_reader_txnid;/**< 0 if none */
};

/** Figures for the state txn sees (with a write txn: including its changes). */
int store_stats(store_txn *txn, struct store_stats *out);

/**
 * Bytes freed but not yet reusable, as txn sees them — cheap (no scan). They
 * become reusable once the commits that freed them are durable and older
 * snapshots end: a writer that sees this grow large should commit durably
 * rather than let the file grow.
 */
uint64_t store_pending_bytes(store_txn *txn);

/** What occupies a region of the image. */
enum store_extent_kind {
	STORE_EXT_HEADER,  /**< the commit slots */
	STORE_EXT_TREE,    /**< a B+tree page (table, level) */
	STORE_EXT_BLOB,    /**< a blob's run of pages (blob_id) */
	STORE_EXT_ALLOC,   /**< the allocator's bitmap and index pages */
	STORE_EXT_FREE,    /**< free and reusable */
	STORE_EXT_PENDING, /**< free, but an old snapshot or the last durable
	                        commit may still need it */
	STORE_EXT_PUNCHED, /**< free, and its disk blocks have been released */
};

struct store_extent {
	uint64_t pgno;
	uint64_t npages;
	enum store_extent_kind kind;
	store_table table;   /**< TREE: owning table (STORE_CATALOG for the catalog) */
	uint32_t level;      /**< TREE: 0 = leaf */
	uint64_t blob_id;    /**< BLOB */
	uint64_t cut;        /**< BLOB: pages at its start the run before already
				  claimed (a damaged index): the run is cut by them */
};

/** Table id reported for pages of the store's own tables. */
#define STORE_CATALOG ((store_table)0)

/**
 * What occupies page pgno, as one extent (a blob's whole run, a single tree
 * or allocator page, or the maximal free run around pgno).
 */
int store_page_owner(store_txn *txn, uint64_t pgno, struct store_extent *out);

/**
 * Call cb for every extent of the image from page 0 to the end of the file,
 * in address order, coalescing neighbours of the same kind (and table).
 * Walks every tree: O(image) — for the inspector and tests.
 */
int store_space_map(store_txn *txn,
		    int (*cb)(void *ctx, const struct store_extent *e), void *ctx);

/** Highest page in use (tree, blob or allocator) in this txn's view. */
int store_highest_used(store_txn *txn, uint64_t *pgno);

/**
 * Move whatever lives at pgno (a tree page, a blob, an allocator page) to the
 * lowest free space of the image, inside this write txn. Only moves down.
 * @param newpgno receives the new first page.
 * Errors: -ENOSPC (no free space below it big enough: nothing moved),
 * -ENOENT (pgno is free), -EINVAL (a header page).
 */
int store_relocate(store_txn *txn, uint64_t pgno, uint64_t *newpgno);

/**
 * Move a blob to exactly target (which must be free and reusable for the
 * whole run), e.g. to lay a file's chunks out in order. Errors: -EBUSY.
 */
int store_blob_move(store_txn *txn, uint64_t id, uint64_t target);

/**
 * A blob move in three steps, so that the data is copied with no lock held:
 *   1. store_blob_move_begin() (write txn) reserves the target run;
 *   2. store_blob_move_copy() (no txn) copies and checks the data — keep a
 *      read txn open from before step 1 ended, so the source cannot be reused
 *      if the blob is deleted meanwhile;
 *   3. store_blob_move_end() (a write txn, not necessarily the same) points
 *      the blob at its new home and frees the old one — or, if the blob was
 *      changed or deleted meanwhile (-ESTALE) or apply is false, drops the
 *      copy. The reservation is an ordinary committed row: a crash between
 *      the steps loses nothing, and store_blob_reservations_clear() frees it.
 */
struct store_blob_move {
	struct store_blob_info src; /**< the blob when the move began */
	uint64_t reservation;       /**< id of the row holding the target run */
	uint64_t to;                /**< first page of the target run */
};

/** Step 1. target = UINT64_MAX: the lowest free run below the blob
 *  (-ENOSPC if none); otherwise exactly there (-EBUSY if not free). */
int store_blob_move_begin(store_txn *txn, uint64_t id, uint64_t target,
			  struct store_blob_move *mv);
/**
 * Step 1 for several blobs laid out one after another, in the order given,
 * from `target` — or, with target = UINT64_MAX, in the lowest free run
 * starting below `below` that holds them all (-ENOSPC if none). The whole
 * run is taken before anything else is allocated, so the blobs end up
 * contiguous. All or nothing; mv[] gets one move per blob.
 */
int store_blob_move_begin_run(store_txn *txn, const uint64_t *ids, size_t n, uint64_t target,
			      uint64_t below, struct store_blob_move *mv);
/** Step 2. Errors: -EIO (the source is damaged: nothing is switched). */
int store_blob_move_copy(store *s, const struct store_blob_move *mv);
/** Step 3. Errors: -ESTALE (the blob changed; the copy was dropped). */
int store_blob_move_end(store_txn *txn, const struct store_blob_move *mv, bool apply);
/** Drop reservations left by moves that never ended (e.g. after a crash). */
int store_blob_reservations_clear(store_txn *txn, uint64_t *dropped);

/** Highest page in use below `before` (UINT64_MAX: anywhere). -ENOENT: none. */
int store_prev_used(store_txn *txn, uint64_t before, uint64_t *pgno);

/** Number of pages in use in [from, to). */
int store_count_used(store_txn *txn, uint64_t from, uint64_t to, uint64_t *n);

/**
 * Lowest free, reusable run of npages pages that starts below `below`
 * (UINT64_MAX = anywhere inside the file). Errors: -ENOSPC (none).
 */
int store_find_free(store_txn *txn, uint64_t npages, uint64_t below,
		    uint64_t *pgno);

/**
 * Truncate the file after the highest page that is used or may still be
 * needed (pending). Safe inside a write txn. @param reclaimed bytes cut.
 */
int store_shrink(store_txn *txn, uint64_t *reclaimed);

/**
 * Release the disk blocks of free, reusable runs of at least min_bytes
 * (fallocate PUNCH_HOLE); the file keeps its size. They are refilled
 * before reuse. @param punched bytes newly punched.
 */
int store_punch_free(store_txn *txn, uint64_t min_bytes, uint64_t *punched);

/* ------------------------------------------------------------------------ */
/* Verification                                                               */
/* ------------------------------------------------------------------------ */

enum store_verify_level {
	STORE_VERIFY_HEADER = 1, /**< both slots, the chosen state's roots */
	STORE_VERIFY_PAGES = 2,  /**< + every reachable page's and blob's checksum */
	STORE_VERIFY_FULL = 3,   /**< + key order, child links, depth, counts,
	                              blob index, free map == reachable pages */
};

struct store_verify_report {
	uint64_t errors;       /**< problems found */
	uint64_t pages;        /**< tree and allocator pages checked */
	uint64_t blobs;        /**< blobs checked */
	uint64_t blob_bytes;   /**< stored blob bytes read */
	uint64_t leaked_pages; /**< marked used but unreachable */
};

/**
 * Check the state txn sees. Each problem is reported through problem()
 * (if not NULL) with a sentence, and counted. progress() (if not NULL) is
 * called now and then with work done and total (in pages).
 * @return 0 if the check ran (see report->errors), or a negative errno if
 *         it could not run.
 */
int store_verify(store_txn *txn, enum store_verify_level level,
		 void (*problem)(void *ctx, const char *msg),
		 void (*progress)(void *ctx, uint64_t done, uint64_t total),
		 void *ctx, struct store_verify_report *report);

/** What kind of problem store_verify_ex() reports. */
enum store_problem_kind {
	STORE_PROBLEM_STRUCTURE = 1, /**< a tree, an index or a counter: damage */
	STORE_PROBLEM_FREE_MAP = 2,  /**< the free map disagrees with what is
	                                  reachable: store_repair_free_map() fixes it */
	STORE_PROBLEM_BLOB_DATA = 3, /**< a blob's data fails its checksum: that
	                                  data is lost, every structure is sound */
	STORE_PROBLEM_SLOT = 4,      /**< the commit slots or the roots they hold */
};

/** One problem found by store_verify_ex(). */
struct store_problem {
	enum store_problem_kind kind;
	uint64_t pgno;    /**< page concerned, or 0 */
	uint64_t blob_id; /**< BLOB_DATA: the blob, else 0 */
	const char *msg;  /**< one sentence */
};

/** store_verify() with problems told apart by kind (fsck decides on them). */
int store_verify_ex(store_txn *txn, enum store_verify_level level,
		    void (*problem)(void *ctx, const struct store_problem *p),
		    void (*progress)(void *ctx, uint64_t done, uint64_t total), void *ctx,
		    struct store_verify_report *report);

/**
 * Repair the allocator (write txn): mark free every page that no table, blob
 * or allocator structure reaches, and used every page that one does.
 * @param fixed receives the number of pages whose state changed.
 */
int store_repair_free_map(store_txn *txn, uint64_t *fixed);

/* ------------------------------------------------------------------------ */
/* Online backup                                                              */
/* ------------------------------------------------------------------------ */

enum store_backup_flags {
	STORE_BACKUP_COMPACT = 1 << 0, /**< only live data: as small as a fresh
	                                    compaction would make the image */
};

/**
 * Write a consistent copy of the state a read txn sees to a new image file
 * `dest`, while writers go on. The copy is written under a temporary name
 * beside dest and renamed when complete and durable, so dest is never half
 * written; on error the temporary file is removed. progress() (if not NULL)
 * gets bytes done and total now and then; returning non-zero stops the copy
 * (-ECANCELED).
 * Errors: -EINVAL (a write txn), -ENOSPC (destination full), -ECANCELED,
 * errno of the destination's filesystem.
 */
int store_backup(store_txn *snap, const char *dest, unsigned flags,
		 int (*progress)(void *ctx, uint64_t done, uint64_t total), void *ctx);

/* ------------------------------------------------------------------------ */
/* Header inspection                                                          */
/* ------------------------------------------------------------------------ */

/** One commit slot, as read from disk. */
struct store_slot_info {
	bool valid;          /**< magic, version and checksum all good */
	bool current;        /**< the slot the store opened */
	uint64_t txnid;
	uint32_t format_version;
	uint32_t page_size;
	uint64_t file_pages; /**< pages the state's allocator covers */
	uint64_t used_pages;
	uint64_t blob_count;
	uint64_t checksum;
};

/** Both commit slots (for inspect and fsck). */
int store_slots(store *s, struct store_slot_info slots[2]);

#ifdef __cplusplus
}
#endif
#endif /* SLATEFS_STORE_H */
