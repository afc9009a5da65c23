/*
 * bench.h — shared pieces of the store benchmark (bench-store): the workload
 * description every engine runs, the figures it reports, and small helpers
 * (clock, deterministic keys and values, cache eviction, errors).
 *
 * Each engine (our store, LMDB, SQLite, a plain file) lives in its own file
 * and fills one struct bench_result; bench_store.c prints them side by side.
 */
#ifndef SLATEFS_BENCH_H
#define SLATEFS_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
	BENCH_KEY_LEN = 16,
	BENCH_VAL_LEN = 100,
	BENCH_BLOB_LEN = 1 << 20, /* one blob value: 1 MiB */
};

/** The workload, identical for every engine. */
struct bench_cfg {
	uint64_t n;          /* rows inserted, and point lookups done */
	uint32_t batch;      /* rows per durable write txn, lookups per read txn */
	uint64_t blob_mib;   /* number of 1 MiB blobs written then read */
	unsigned opens;      /* opens averaged for the open time */
	const char *dir;     /* temp dir on a real disk; images live here */
	const uint8_t *keys; /* n random keys of BENCH_KEY_LEN bytes, insert order */
	const uint32_t *lookup_order; /* n indices into keys, random */
	const uint8_t *blob_pattern;  /* BENCH_BLOB_LEN random bytes */
};

/** Figures of one engine; a negative value means "not measured". */
struct bench_result {
	double insert_ops;     /* rows/s, durable txns of cfg->batch rows */
	double lookup_ops;     /* point lookups/s */
	double scan_ops;       /* rows/s over a full cursor scan */
	double blob_write_mbs; /* MiB/s, 1 MiB values, durable at the end */
	double blob_read_mbs;  /* MiB/s, after evicting the file from the page cache */
	double open_ms;        /* open + read txn + first lookup, warm cache, mean */
	double open_cold_ms;   /* the same once after evicting the file */
	double disk_mib;       /* disk space the image files occupy at the end */
};

void bench_result_init(struct bench_result *r);

/* ---- engines --------------------------------------------------------- */

/** Our store (store/store.h). */
void bench_slate_run(const struct bench_cfg *cfg, struct bench_result *r);
/** LMDB with its default durable commits. */
void bench_lmdb_run(const struct bench_cfg *cfg, struct bench_result *r);
/**
 * SQLite in WAL mode with the given synchronous level ("NORMAL" or "FULL").
 * With inserts_only, only the insert figure is measured.
 */
void bench_sqlite_run(const struct bench_cfg *cfg, const char *synchronous, bool inserts_only,
		      struct bench_result *r);
/** A plain file: 1 MiB write()s then fdatasync, and read() back. */
void bench_plainfile_run(const struct bench_cfg *cfg, struct bench_result *r);

/* ---- helpers (bench_util.c) ------------------------------------------ */

/** Monotonic clock in seconds. */
double bench_now(void);

/** The 100-byte value stored under key (a function of the key). */
void bench_value(const uint8_t *key, uint8_t *val);

/** Make blob i: the pattern with i stamped into it (buf holds BENCH_BLOB_LEN). */
void bench_blob_make(const struct bench_cfg *cfg, uint64_t i, uint8_t *buf);

/** Does buf hold exactly blob i? */
bool bench_blob_ok(const struct bench_cfg *cfg, uint64_t i, const uint8_t *buf);

/**
 * Check one row of a full scan (row = its index from 0): key and value sizes
 * and strictly ascending keys; prev holds the previous key and is updated.
 */
void bench_scan_row(const char *engine, uint8_t *prev, const void *key, size_t klen, size_t vlen,
		    uint64_t row);

/** A full scan must have seen exactly cfg->n rows. */
void bench_scan_done(const char *engine, const struct bench_cfg *cfg, uint64_t rows);

/**
 * Fill r->open_cold_ms (one open after evicting path) and r->open_ms (mean
 * of cfg->opens warm opens); once() opens, does the first lookup, closes,
 * and returns the milliseconds up to the lookup.
 */
void bench_time_opens(const struct bench_cfg *cfg, const char *path,
		      double (*once)(const struct bench_cfg *cfg, const char *path),
		      struct bench_result *r);

/** Big-endian encoding of i into 8 bytes (blob table keys). */
void bench_be64(uint64_t i, uint8_t *out);

/** Write "<cfg->dir>/<name>" into out (cap bytes). */
void bench_path(const struct bench_cfg *cfg, const char *name, char *out, size_t cap);

/**
 * Drop a file's pages from the page cache (posix_fadvise DONTNEED) so that
 * the next read comes from the disk. Missing files are ignored.
 */
void bench_evict(const char *path);

/**
 * Let the disk settle before an engine starts: sync(), then wait (at most
 * 30 s) until the kernel's dirty and writeback pages are below 32 MiB, so
 * that no engine pays for the previous one's writeback.
 */
void bench_settle(void);

/** Disk space a file occupies in MiB (st_blocks), 0 if it does not exist. */
double bench_disk_mib(const char *path);

/** Print a message and exit(1): a benchmark that goes wrong stops. */
void bench_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/** bench_die() with strerror(-rc) if rc < 0. */
void bench_check(int rc, const char *what);

/** malloc or die. */
void *bench_alloc(size_t len);

#endif /* SLATEFS_BENCH_H */
