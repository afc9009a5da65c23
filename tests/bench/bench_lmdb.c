/*
 * bench_lmdb.c — the store benchmark's workloads run on LMDB, the peer our
 * store is modelled on. Default flags: every commit is durable (fdatasync of
 * the data, then of the meta page). Two named databases, "kv" and "blobs",
 * in one file (MDB_NOSUBDIR), mirroring the two tables of our image.
 */
#include "bench.h"

#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void lmdb_check(int rc, const char *what)
{
	if (rc != MDB_SUCCESS)
		bench_die("lmdb: %s: %s", what, mdb_strerror(rc));
}

static MDB_env *lmdb_open(const struct bench_cfg *cfg, const char *path)
{
	/* Room for the rows (generous per-row overhead), the blobs and slack;
	 * the file is sparse, so a large map costs nothing. */
	size_t map = (size_t)cfg->n * 512 + (size_t)cfg->blob_mib * 2 * BENCH_BLOB_LEN +
		     ((size_t)256 << 20);
	MDB_env *env;

	lmdb_check(mdb_env_create(&env), "mdb_env_create");
	lmdb_check(mdb_env_set_maxdbs(env, 4), "mdb_env_set_maxdbs");
	lmdb_check(mdb_env_set_mapsize(env, map), "mdb_env_set_mapsize");
	lmdb_check(mdb_env_open(env, path, MDB_NOSUBDIR, 0644), "mdb_env_open");
	return env;
}

static MDB_dbi lmdb_dbi(MDB_txn *txn, const char *name, unsigned flags)
{
	MDB_dbi dbi;

	lmdb_check(mdb_dbi_open(txn, name, flags, &dbi), "mdb_dbi_open");
	return dbi;
}

static void lmdb_insert(const struct bench_cfg *cfg, MDB_env *env, struct bench_result *r)
{
	uint8_t val[BENCH_VAL_LEN];
	MDB_txn *txn;

	lmdb_check(mdb_txn_begin(env, NULL, 0, &txn), "mdb_txn_begin");
	MDB_dbi dbi = lmdb_dbi(txn, "kv", MDB_CREATE);
	lmdb_check(mdb_txn_commit(txn), "mdb_txn_commit");

	double t0 = bench_now();
	for (uint64_t i = 0; i < cfg->n;) {
		lmdb_check(mdb_txn_begin(env, NULL, 0, &txn), "mdb_txn_begin");
		for (uint32_t b = 0; b < cfg->batch && i < cfg->n; b++, i++) {
			MDB_val k = {BENCH_KEY_LEN, (void *)(cfg->keys + i * BENCH_KEY_LEN)};
			MDB_val v = {BENCH_VAL_LEN, val};

			bench_value(k.mv_data, val);
			lmdb_check(mdb_put(txn, dbi, &k, &v, 0), "mdb_put");
		}
		lmdb_check(mdb_txn_commit(txn), "mdb_txn_commit");
	}
	r->insert_ops = (double)cfg->n / (bench_now() - t0);
}

static void lmdb_lookup(const struct bench_cfg *cfg, MDB_env *env, struct bench_result *r)
{
	uint8_t want[BENCH_VAL_LEN], got[BENCH_VAL_LEN];
	MDB_txn *txn;

	double t0 = bench_now();
	for (uint64_t i = 0; i < cfg->n;) {
		lmdb_check(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), "mdb_txn_begin read");
		MDB_dbi dbi = lmdb_dbi(txn, "kv", 0);
		for (uint32_t b = 0; b < cfg->batch && i < cfg->n; b++, i++) {
			const uint8_t *key = cfg->keys + (uint64_t)cfg->lookup_order[i] * BENCH_KEY_LEN;
			MDB_val k = {BENCH_KEY_LEN, (void *)key}, v;

			lmdb_check(mdb_get(txn, dbi, &k, &v), "mdb_get");
			/* Copy out, as store_get() does, so both pay for the bytes. */
			memcpy(got, v.mv_data, v.mv_size < sizeof(got) ? v.mv_size : sizeof(got));
			bench_value(key, want);
			if (v.mv_size != BENCH_VAL_LEN || memcmp(got, want, BENCH_VAL_LEN) != 0)
				bench_die("lmdb: wrong value for lookup %llu", (unsigned long long)i);
		}
		mdb_txn_abort(txn);
	}
	r->lookup_ops = (double)cfg->n / (bench_now() - t0);
}

static void lmdb_scan(const struct bench_cfg *cfg, MDB_env *env, struct bench_result *r)
{
	uint8_t prev[BENCH_KEY_LEN] = {0};
	MDB_cursor *c;
	MDB_txn *txn;
	MDB_val k, v;
	uint64_t rows = 0;
	int rc;

	double t0 = bench_now();
	lmdb_check(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), "mdb_txn_begin read");
	lmdb_check(mdb_cursor_open(txn, lmdb_dbi(txn, "kv", 0), &c), "mdb_cursor_open");
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == MDB_SUCCESS;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		bench_scan_row("lmdb", prev, k.mv_data, k.mv_size, v.mv_size, rows++);
	}
	if (rc != MDB_NOTFOUND)
		lmdb_check(rc, "mdb_cursor_get");
	mdb_cursor_close(c);
	mdb_txn_abort(txn);
	r->scan_ops = (double)rows / (bench_now() - t0);
	bench_scan_done("lmdb", cfg, rows);
}

static void lmdb_blob_write(const struct bench_cfg *cfg, MDB_env *env, uint8_t *buf,
			    struct bench_result *r)
{
	MDB_txn *txn;

	double t0 = bench_now();
	lmdb_check(mdb_txn_begin(env, NULL, 0, &txn), "mdb_txn_begin");
	MDB_dbi dbi = lmdb_dbi(txn, "blobs", MDB_CREATE);
	for (uint64_t i = 0; i < cfg->blob_mib; i++) {
		uint8_t key[8];
		MDB_val k = {sizeof(key), key}, v = {BENCH_BLOB_LEN, buf};

		bench_blob_make(cfg, i, buf);
		bench_be64(i, key);
		lmdb_check(mdb_put(txn, dbi, &k, &v, 0), "mdb_put blob");
	}
	lmdb_check(mdb_txn_commit(txn), "mdb_txn_commit");
	r->blob_write_mbs = (double)cfg->blob_mib / (bench_now() - t0);
}

static void lmdb_blob_read(const struct bench_cfg *cfg, const char *path, uint8_t *buf,
			   struct bench_result *r)
{
	MDB_txn *txn;

	bench_evict(path);
	double t0 = bench_now();
	MDB_env *env = lmdb_open(cfg, path);
	lmdb_check(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), "mdb_txn_begin read");
	MDB_dbi dbi = lmdb_dbi(txn, "blobs", 0);
	for (uint64_t i = 0; i < cfg->blob_mib; i++) {
		uint8_t key[8];
		MDB_val k = {sizeof(key), key}, v;

		bench_be64(i, key);
		lmdb_check(mdb_get(txn, dbi, &k, &v), "mdb_get blob");
		if (v.mv_size != BENCH_BLOB_LEN)
			bench_die("lmdb: blob %llu has the wrong size", (unsigned long long)i);
		memcpy(buf, v.mv_data, BENCH_BLOB_LEN);
		if (!bench_blob_ok(cfg, i, buf))
			bench_die("lmdb: blob %llu reads back wrong", (unsigned long long)i);
	}
	mdb_txn_abort(txn);
	r->blob_read_mbs = (double)cfg->blob_mib / (bench_now() - t0);
	mdb_env_close(env);
}

static double lmdb_open_once(const struct bench_cfg *cfg, const char *path)
{
	MDB_val k = {BENCH_KEY_LEN, (void *)cfg->keys}, v;
	MDB_txn *txn;

	double t0 = bench_now();
	MDB_env *env = lmdb_open(cfg, path);
	lmdb_check(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), "mdb_txn_begin read");
	lmdb_check(mdb_get(txn, lmdb_dbi(txn, "kv", 0), &k, &v), "mdb_get first key");
	double ms = (bench_now() - t0) * 1e3;
	mdb_txn_abort(txn);
	mdb_env_close(env);
	return ms;
}

void bench_lmdb_run(const struct bench_cfg *cfg, struct bench_result *r)
{
	uint8_t *buf = bench_alloc(BENCH_BLOB_LEN);
	char path[4096], lock[4096 + 8];

	bench_path(cfg, "lmdb.mdb", path, sizeof(path));
	snprintf(lock, sizeof(lock), "%s-lock", path);
	MDB_env *env = lmdb_open(cfg, path);
	lmdb_insert(cfg, env, r);
	lmdb_lookup(cfg, env, r);
	lmdb_scan(cfg, env, r);
	lmdb_blob_write(cfg, env, buf, r);
	mdb_env_close(env);

	lmdb_blob_read(cfg, path, buf, r);

	bench_time_opens(cfg, path, lmdb_open_once, r);

	r->disk_mib = bench_disk_mib(path);
	unlink(path);
	unlink(lock);
	free(buf);
}
