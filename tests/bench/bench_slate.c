/*
 * bench_slate.c — the store benchmark's workloads run on our own store,
 * through store/store.h only: durable batched inserts, point lookups, a
 * full cursor scan, 1 MiB blobs written and read back cold, and open time.
 *
 * One image holds two tables: "kv" (16-byte keys, 100-byte values) and
 * "blobs" (8-byte big-endian index -> 8-byte blob id), the way fs/ maps
 * file chunks to blobs.
 */
#include "bench.h"
#include "store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void slate_log(void *ctx, int level, const char *msg)
{
	if (level <= STORE_LOG_WARNING)
		fprintf(stderr, "store: %s\n", msg);
}

static store *slate_open(const char *path, unsigned flags)
{
	struct store_options opt = {.log = slate_log};
	store *s = NULL;

	bench_check(store_open(path, flags, &opt, &s), "store_open");
	return s;
}

static void slate_insert(const struct bench_cfg *cfg, store *s, struct bench_result *r)
{
	uint8_t val[BENCH_VAL_LEN];
	store_txn *txn;
	store_table t;

	bench_check(store_txn_begin(s, STORE_TXN_WRITE, &txn), "store_txn_begin");
	bench_check(store_table_create(txn, "kv", &t), "store_table_create kv");
	bench_check(store_txn_commit(txn, STORE_COMMIT_DURABLE, NULL), "store_txn_commit");

	double t0 = bench_now();
	for (uint64_t i = 0; i < cfg->n;) {
		bench_check(store_txn_begin(s, STORE_TXN_WRITE, &txn), "store_txn_begin");
		for (uint32_t b = 0; b < cfg->batch && i < cfg->n; b++, i++) {
			const uint8_t *key = cfg->keys + i * BENCH_KEY_LEN;

			bench_value(key, val);
			bench_check(store_put(txn, t, key, BENCH_KEY_LEN, val, BENCH_VAL_LEN, 0),
				    "store_put");
		}
		bench_check(store_txn_commit(txn, STORE_COMMIT_DURABLE, NULL), "store_txn_commit");
	}
	r->insert_ops = (double)cfg->n / (bench_now() - t0);
}

static void slate_lookup(const struct bench_cfg *cfg, store *s, struct bench_result *r)
{
	uint8_t want[BENCH_VAL_LEN], got[BENCH_VAL_LEN];
	store_txn *txn;
	store_table t;
	size_t vlen;

	double t0 = bench_now();
	for (uint64_t i = 0; i < cfg->n;) {
		bench_check(store_txn_begin(s, STORE_TXN_READ, &txn), "store_txn_begin read");
		bench_check(store_table_open(txn, "kv", &t), "store_table_open kv");
		for (uint32_t b = 0; b < cfg->batch && i < cfg->n; b++, i++) {
			const uint8_t *key = cfg->keys + (uint64_t)cfg->lookup_order[i] * BENCH_KEY_LEN;

			bench_check(store_get(txn, t, key, BENCH_KEY_LEN, got, sizeof(got), &vlen),
				    "store_get");
			bench_value(key, want);
			if (vlen != BENCH_VAL_LEN || memcmp(got, want, BENCH_VAL_LEN) != 0)
				bench_die("store: wrong value for lookup %llu", (unsigned long long)i);
		}
		store_txn_abort(txn);
	}
	r->lookup_ops = (double)cfg->n / (bench_now() - t0);
}

static void slate_scan(const struct bench_cfg *cfg, store *s, struct bench_result *r)
{
	uint8_t prev[BENCH_KEY_LEN] = {0};
	store_cursor *c;
	store_txn *txn;
	store_table t;
	uint64_t rows = 0;
	int rc;

	double t0 = bench_now();
	bench_check(store_txn_begin(s, STORE_TXN_READ, &txn), "store_txn_begin read");
	bench_check(store_table_open(txn, "kv", &t), "store_table_open kv");
	bench_check(store_cursor_open(txn, t, &c), "store_cursor_open");
	for (rc = store_cursor_seek(c, STORE_SEEK_FIRST, NULL, 0); rc == 0;
	     rc = store_cursor_next(c)) {
		const void *k, *v;
		size_t klen, vlen;

		bench_check(store_cursor_get(c, &k, &klen, &v, &vlen), "store_cursor_get");
		bench_scan_row("store", prev, k, klen, vlen, rows++);
	}
	if (rc != -ENOENT)
		bench_check(rc, "store_cursor_next");
	store_cursor_close(c);
	store_txn_abort(txn);
	r->scan_ops = (double)rows / (bench_now() - t0);
	bench_scan_done("store", cfg, rows);
}

static void slate_blob_write(const struct bench_cfg *cfg, store *s, uint8_t *buf,
			     struct bench_result *r)
{
	store_txn *txn;
	store_table t;

	double t0 = bench_now();
	bench_check(store_txn_begin(s, STORE_TXN_WRITE, &txn), "store_txn_begin");
	bench_check(store_table_create(txn, "blobs", &t), "store_table_create blobs");
	for (uint64_t i = 0; i < cfg->blob_mib; i++) {
		uint8_t key[8];
		uint64_t id;

		bench_blob_make(cfg, i, buf);
		bench_check(store_blob_put(txn, buf, BENCH_BLOB_LEN, 0, &id), "store_blob_put");
		bench_be64(i, key);
		bench_check(store_put(txn, t, key, sizeof(key), &id, sizeof(id), 0), "store_put");
	}
	bench_check(store_txn_commit(txn, STORE_COMMIT_DURABLE, NULL), "store_txn_commit");
	r->blob_write_mbs = (double)cfg->blob_mib / (bench_now() - t0);
}

static void slate_blob_read(const struct bench_cfg *cfg, const char *path, uint8_t *buf,
			    struct bench_result *r)
{
	store_txn *txn;
	store_table t;

	bench_evict(path);
	double t0 = bench_now();
	store *s = slate_open(path, 0);
	bench_check(store_txn_begin(s, STORE_TXN_READ, &txn), "store_txn_begin read");
	bench_check(store_table_open(txn, "blobs", &t), "store_table_open blobs");
	for (uint64_t i = 0; i < cfg->blob_mib; i++) {
		uint8_t key[8];
		uint64_t id;
		size_t vlen, nread;

		bench_be64(i, key);
		bench_check(store_get(txn, t, key, sizeof(key), &id, sizeof(id), &vlen),
			    "store_get blob id");
		bench_check(store_blob_read(txn, id, 0, buf, BENCH_BLOB_LEN, &nread),
			    "store_blob_read");
		if (nread != BENCH_BLOB_LEN || !bench_blob_ok(cfg, i, buf))
			bench_die("store: blob %llu reads back wrong", (unsigned long long)i);
	}
	store_txn_abort(txn);
	r->blob_read_mbs = (double)cfg->blob_mib / (bench_now() - t0);
	bench_check(store_close(s), "store_close");
}

/* Open, read txn, first lookup: what a mount pays before its first reply. */
static double slate_open_once(const struct bench_cfg *cfg, const char *path)
{
	uint8_t got[BENCH_VAL_LEN];
	store_txn *txn;
	store_table t;
	size_t vlen;

	double t0 = bench_now();
	store *s = slate_open(path, 0);
	bench_check(store_txn_begin(s, STORE_TXN_READ, &txn), "store_txn_begin read");
	bench_check(store_table_open(txn, "kv", &t), "store_table_open kv");
	bench_check(store_get(txn, t, cfg->keys, BENCH_KEY_LEN, got, sizeof(got), &vlen),
		    "store_get first key");
	double ms = (bench_now() - t0) * 1e3;
	store_txn_abort(txn);
	bench_check(store_close(s), "store_close");
	return ms;
}

void bench_slate_run(const struct bench_cfg *cfg, struct bench_result *r)
{
	uint8_t *buf = bench_alloc(BENCH_BLOB_LEN);
	char path[4096];

	bench_path(cfg, "slate.img", path, sizeof(path));
	store *s = slate_open(path, STORE_CREATE | STORE_OVERWRITE);
	slate_insert(cfg, s, r);
	slate_lookup(cfg, s, r);
	slate_scan(cfg, s, r);
	slate_blob_write(cfg, s, buf, r);
	bench_check(store_close(s), "store_close");

	slate_blob_read(cfg, path, buf, r);

	bench_time_opens(cfg, path, slate_open_once, r);

	r->disk_mib = bench_disk_mib(path);
	unlink(path);
	free(buf);
}
