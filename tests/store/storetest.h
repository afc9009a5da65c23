/*
 * storetest.h — helpers shared by the store tests: opening images with a
 * quiet log, transactions that must succeed, store_verify that must come out
 * clean, big-endian keys and hex dumps for failure messages.
 */
#ifndef SLATEFS_STORETEST_H
#define SLATEFS_STORETEST_H

#include "store.h"
#include "testutil.h"

/** Open path with flags; page_size 0 = default; quiet log (lines counted in
 *  st_log_lines). Fails the test on error. */
store *st_open(const char *path, unsigned flags, uint32_t page_size);

/** Same, but returns the error instead of failing; hook may be NULL. */
int st_try_open(const char *path, unsigned flags, uint32_t page_size, store_io_hook hook,
                void *hook_ctx, store **out);

/** Lines the store logged through the quiet logger. */
extern uint64_t st_log_lines;

store_txn *st_read(store *s);
store_txn *st_write(store *s);
/** Commit; returns the new txn id. */
uint64_t st_commit(store_txn *w, bool durable);

/** Run store_verify(level) on txn: the check must run and find nothing
 *  (no errors, no leaked pages). what names the situation in the message. */
void st_verify_clean(store_txn *txn, enum store_verify_level level, const char *what);

/** Like st_verify_clean but returns the number of problems (errors + leaks,
 *  or 1 if the check could not run) instead of failing. */
uint64_t st_verify_count(store_txn *txn, enum store_verify_level level);

/**
 * Check store_space_map() against store_stats() for txn: extents in address
 * order, contiguous from page 0 to the end of the file, and the tree,
 * allocator, free and pending pages adding up to the figures of the stats.
 */
void st_check_space_map(store_txn *txn, const char *what);

/** Write v as 8 big-endian bytes. */
void st_be64(uint8_t *p, uint64_t v);
uint64_t st_get_be64(const uint8_t *p);

/** Hex of up to 48 bytes of buf (with the length), in a rotating static buffer. */
const char *st_hex(const void *buf, size_t len);

/** Size of a file in bytes (fails the test on error). */
uint64_t st_file_size(const char *path);

#endif /* SLATEFS_STORETEST_H */
