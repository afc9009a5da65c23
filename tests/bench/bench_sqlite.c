/*
 * bench_sqlite.c — the store benchmark's workloads run on SQLite.
 *
 * Rows go in `CREATE TABLE kv(k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT
 * ROWID`: a clustered B-tree keyed by the blob, the closest SQLite has to a
 * key/value B+tree (a rowid table would add a second index). Journal mode
 * WAL; the synchronous level is a parameter. With synchronous=NORMAL in WAL
 * mode a commit does NOT fsync (only checkpoints do): it is atomic but not
 * durable, so the benchmark also runs inserts with synchronous=FULL, which
 * fsyncs the WAL at every commit like our store and LMDB do.
 * Blobs (1 MiB each) go in `blobs(id INTEGER PRIMARY KEY, data BLOB)` and
 * are always committed with synchronous=FULL so the figure is durable.
 */
#include "bench.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void sq_check(sqlite3 *db, int rc, const char *what)
{
	if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW)
		bench_die("sqlite: %s: %s", what, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
}

static void sq_exec(sqlite3 *db, const char *sql)
{
	char *err = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
		bench_die("sqlite: %s: %s", sql, err ? err : "?");
}

static sqlite3_stmt *sq_prepare(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;

	sq_check(db, sqlite3_prepare_v2(db, sql, -1, &st, NULL), sql);
	return st;
}

static sqlite3 *sq_open(const char *path, const char *synchronous)
{
	char sql[64];
	sqlite3 *db;

	sq_check(NULL, sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL),
		 path);
	sq_exec(db, "PRAGMA journal_mode=WAL");
	snprintf(sql, sizeof(sql), "PRAGMA synchronous=%s", synchronous);
	sq_exec(db, sql);
	return db;
}

static void sq_insert(const struct bench_cfg *cfg, sqlite3 *db, struct bench_result *r)
{
	uint8_t val[BENCH_VAL_LEN];

	sq_exec(db, "CREATE TABLE kv(k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID");
	sqlite3_stmt *ins = sq_prepare(db, "INSERT INTO kv(k, v) VALUES(?1, ?2)");

	double t0 = bench_now();
	for (uint64_t i = 0; i < cfg->n;) {
		sq_exec(db, "BEGIN");
		for (uint32_t b = 0; b < cfg->batch && i < cfg->n; b++, i++) {
			const uint8_t *key = cfg->keys + i * BENCH_KEY_LEN;

			bench_value(key, val);
			sqlite3_bind_blob(ins, 1, key, BENCH_KEY_LEN, SQLITE_STATIC);
			sqlite3_bind_blob(ins, 2, val, BENCH_VAL_LEN, SQLITE_STATIC);
			sq_check(db, sqlite3_step(ins), "insert");
			sqlite3_reset(ins);
		}
		sq_exec(db, "COMMIT");
	}
	r->insert_ops = (double)cfg->n / (bench_now() - t0);
	sqlite3_finalize(ins);
}

static void sq_lookup(const struct bench_cfg *cfg, sqlite3 *db, struct bench_result *r)
{
	uint8_t want[BENCH_VAL_LEN], got[BENCH_VAL_LEN];
	sqlite3_stmt *sel = sq_prepare(db, "SELECT v FROM kv WHERE k = ?1");

	double t0 = bench_now();
	for (uint64_t i = 0; i < cfg->n;) {
		sq_exec(db, "BEGIN");
		for (uint32_t b = 0; b < cfg->batch && i < cfg->n; b++, i++) {
			const uint8_t *key = cfg->keys + (uint64_t)cfg->lookup_order[i] * BENCH_KEY_LEN;

			sqlite3_bind_blob(sel, 1, key, BENCH_KEY_LEN, SQLITE_STATIC);
			if (sqlite3_step(sel) != SQLITE_ROW)
				bench_die("sqlite: lookup %llu found nothing", (unsigned long long)i);
			int len = sqlite3_column_bytes(sel, 0);
			memcpy(got, sqlite3_column_blob(sel, 0),
			       (size_t)len < sizeof(got) ? (size_t)len : sizeof(got));
			bench_value(key, want);
			if (len != BENCH_VAL_LEN || memcmp(got, want, BENCH_VAL_LEN) != 0)
				bench_die("sqlite: wrong value for lookup %llu", (unsigned long long)i);
			sqlite3_reset(sel);
		}
		sq_exec(db, "COMMIT");
	}
	r->lookup_ops = (double)cfg->n / (bench_now() - t0);
	sqlite3_finalize(sel);
}

static void sq_scan(const struct bench_cfg *cfg, sqlite3 *db, struct bench_result *r)
{
	uint8_t prev[BENCH_KEY_LEN] = {0};
	uint64_t rows = 0;
	int rc;

	double t0 = bench_now();
	sqlite3_stmt *st = sq_prepare(db, "SELECT k, v FROM kv ORDER BY k");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const void *k = sqlite3_column_blob(st, 0);

		(void)sqlite3_column_blob(st, 1); /* fetch the value, as the others do */
		bench_scan_row("sqlite", prev, k, (size_t)sqlite3_column_bytes(st, 0),
			       (size_t)sqlite3_column_bytes(st, 1), rows++);
	}
	sq_check(db, rc, "scan");
	sqlite3_finalize(st);
	r->scan_ops = (double)rows / (bench_now() - t0);
	bench_scan_done("sqlite", cfg, rows);
}

static void sq_blob_write(const struct bench_cfg *cfg, sqlite3 *db, uint8_t *buf,
			  struct bench_result *r)
{
	sq_exec(db, "PRAGMA synchronous=FULL");
	sq_exec(db, "CREATE TABLE blobs(id INTEGER PRIMARY KEY, data BLOB NOT NULL)");
	sqlite3_stmt *ins = sq_prepare(db, "INSERT INTO blobs(id, data) VALUES(?1, ?2)");

	double t0 = bench_now();
	sq_exec(db, "BEGIN");
	for (uint64_t i = 0; i < cfg->blob_mib; i++) {
		bench_blob_make(cfg, i, buf);
		sqlite3_bind_int64(ins, 1, (sqlite3_int64)i);
		sqlite3_bind_blob(ins, 2, buf, BENCH_BLOB_LEN, SQLITE_STATIC);
		sq_check(db, sqlite3_step(ins), "insert blob");
		sqlite3_reset(ins);
	}
	sq_exec(db, "COMMIT");
	r->blob_write_mbs = (double)cfg->blob_mib / (bench_now() - t0);
	sqlite3_finalize(ins);
}

static void sq_blob_read(const struct bench_cfg *cfg, const char *path, uint8_t *buf,
			 struct bench_result *r)
{
	sqlite3 *db;

	bench_evict(path);
	double t0 = bench_now();
	sq_check(NULL, sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), path);
	sqlite3_stmt *sel = sq_prepare(db, "SELECT data FROM blobs WHERE id = ?1");
	sq_exec(db, "BEGIN");
	for (uint64_t i = 0; i < cfg->blob_mib; i++) {
		sqlite3_bind_int64(sel, 1, (sqlite3_int64)i);
		if (sqlite3_step(sel) != SQLITE_ROW || sqlite3_column_bytes(sel, 0) != BENCH_BLOB_LEN)
			bench_die("sqlite: blob %llu missing or wrong size", (unsigned long long)i);
		memcpy(buf, sqlite3_column_blob(sel, 0), BENCH_BLOB_LEN);
		if (!bench_blob_ok(cfg, i, buf))
			bench_die("sqlite: blob %llu reads back wrong", (unsigned long long)i);
		sqlite3_reset(sel);
	}
	sq_exec(db, "COMMIT");
	r->blob_read_mbs = (double)cfg->blob_mib / (bench_now() - t0);
	sqlite3_finalize(sel);
	sqlite3_close(db);
}

static double sq_open_once(const struct bench_cfg *cfg, const char *path)
{
	sqlite3 *db;

	double t0 = bench_now();
	sq_check(NULL, sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), path);
	sqlite3_stmt *sel = sq_prepare(db, "SELECT v FROM kv WHERE k = ?1");
	sqlite3_bind_blob(sel, 1, cfg->keys, BENCH_KEY_LEN, SQLITE_STATIC);
	if (sqlite3_step(sel) != SQLITE_ROW)
		bench_die("sqlite: first key not found after reopen");
	double ms = (bench_now() - t0) * 1e3;
	sqlite3_finalize(sel);
	sqlite3_close(db);
	return ms;
}

static void sq_remove(const char *path)
{
	char side[4096 + 8];

	unlink(path);
	snprintf(side, sizeof(side), "%s-wal", path);
	unlink(side);
	snprintf(side, sizeof(side), "%s-shm", path);
	unlink(side);
}

void bench_sqlite_run(const struct bench_cfg *cfg, const char *synchronous, bool inserts_only,
		      struct bench_result *r)
{
	char path[4096], name[64];

	snprintf(name, sizeof(name), "sqlite-%s.db", synchronous);
	bench_path(cfg, name, path, sizeof(path));
	sq_remove(path);
	sqlite3 *db = sq_open(path, synchronous);
	sq_insert(cfg, db, r);
	if (inserts_only) {
		sq_check(db, sqlite3_close(db), "close");
		sq_remove(path);
		return;
	}
	sq_lookup(cfg, db, r);
	sq_scan(cfg, db, r);

	uint8_t *buf = bench_alloc(BENCH_BLOB_LEN);
	sq_blob_write(cfg, db, buf, r);
	/* Closing the last connection checkpoints the WAL into the database
	 * and removes it, so the reads below see one file. */
	sq_check(db, sqlite3_close(db), "close");

	sq_blob_read(cfg, path, buf, r);

	bench_time_opens(cfg, path, sq_open_once, r);

	r->disk_mib = bench_disk_mib(path);
	sq_remove(path);
	free(buf);
}
