/*
 * test_ioerror.c — I/O errors injected through store_options.io_hook.
 *
 * A transaction (rewrite 200 rows, put a 200 KiB blob, delete the old one,
 * commit durable) is run once to count its I/O operations; then, for each of
 * them, it runs again on a fresh copy of the image with that operation
 * failing (-EIO, or -ENOSPC for some writes and allocations). The error must
 * reach the caller; after a failed commit later write txns fail with -EIO
 * (the store's error state) and readers still see the previous commit; the
 * image, reopened without faults, holds the previous or (if only the last
 * sync failed) the new commit exactly, verifies clean and takes new commits.
 */
#include "storetest.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#define NROWS      200
#define BLOB_BYTES (200 * 1024)

static struct {
	bool armed;
	long count;   /* operations seen since armed */
	long fail_at; /* -1 = none */
	int err;
	enum store_io_op failed_op;
	bool failed;
	uint64_t failed_off, failed_len;
	bool retried_smaller; /* an ALLOCATE at the failed offset, shorter */
} hk;

static int hook(void *ctx, enum store_io_op op, uint64_t off, const void *buf, uint64_t len)
{
	(void)ctx;
	(void)buf;
	if (!hk.armed)
		return 0;
	if (hk.failed && hk.err == -ENOSPC && hk.failed_op == STORE_IO_ALLOCATE &&
	    op == STORE_IO_ALLOCATE && off == hk.failed_off && len < hk.failed_len)
		hk.retried_smaller = true;
	if (hk.count++ == hk.fail_at) {
		hk.failed = true;
		hk.failed_op = op;
		hk.failed_off = off;
		hk.failed_len = len;
		if (hk.err == -ENOSPC && op != STORE_IO_WRITE && op != STORE_IO_ALLOCATE)
			return -EIO;
		return hk.err;
	}
	return 0;
}

static size_t vlen(uint64_t gen, uint64_t k)
{
	uint64_t h = tu_mix64(gen * 7919 + k) % 100;

	return h < 90 ? 50 + h * 30 : 10000 + h;
}

static uint64_t vseed(uint64_t gen, uint64_t k)
{
	return tu_mix64(gen * 104729 + k + 1);
}

/* Put every row of generation gen and its blob (replacing the old blob). */
static int write_gen(store_txn *w, store_table t, uint64_t gen, uint8_t *buf)
{
	uint64_t id = 0, old = 0;
	size_t vl = 0;
	int rc;

	for (uint64_t k = 0; k < NROWS; k++) {
		uint8_t key[8];
		st_be64(key, k);
		tu_pattern(buf, vlen(gen, k), vseed(gen, k), 0);
		rc = store_put(w, t, key, 8, buf, vlen(gen, k), 0);
		if (rc)
			return rc;
	}
	tu_pattern(buf, BLOB_BYTES, vseed(gen, 999), 0);
	rc = store_blob_put(w, buf, BLOB_BYTES, 0, &id);
	if (rc)
		return rc;
	if (store_get(w, t, "blob", 4, &old, sizeof(old), &vl) == 0) {
		rc = store_blob_delete(w, old);
		if (rc)
			return rc;
	}
	return store_put(w, t, "blob", 4, &id, sizeof(id), 0);
}

/* Which generation does txn hold? Fails unless it is exactly one of them. */
static uint64_t check_gen(store_txn *txn, uint8_t *buf, const char *what)
{
	store_table t;
	uint64_t gen = 0, id = 0;
	size_t vl = 0, got = 0;

	CHECK_OK(store_table_open(txn, "t", &t));
	for (uint64_t k = 0; k < NROWS; k++) {
		uint8_t key[8];
		st_be64(key, k);
		CHECK_OK(store_get(txn, t, key, 8, buf, BLOB_BYTES, &vl));
		if (k == 0) {
			for (gen = 1; gen <= 2; gen++)
				if (vl == vlen(gen, 0) &&
				    tu_pattern_diff(buf, vl, vseed(gen, 0), 0) < 0)
					break;
			CHECKF(gen <= 2, "%s: row 0 is from neither generation", what);
		}
		CHECKF(vl == vlen(gen, k) && tu_pattern_diff(buf, vl, vseed(gen, k), 0) < 0,
		       "%s: row %" PRIu64 " is not from generation %" PRIu64 " like row 0", what, k,
		       gen);
	}
	CHECK_OK(store_get(txn, t, "blob", 4, &id, sizeof(id), &vl));
	CHECK_OK(store_blob_read(txn, id, 0, buf, BLOB_BYTES, &got));
	CHECKF(got == BLOB_BYTES && tu_pattern_diff(buf, got, vseed(gen, 999), 0) < 0,
	       "%s: the blob is not generation %" PRIu64 "'s", what, gen);
	return gen;
}

static const char *const op_name[] = {"write", "sync", "truncate", "allocate", "punch"};

static int run(void)
{
	char base[PATH_MAX], path[PATH_MAX];
	uint8_t *buf = malloc(BLOB_BYTES);
	store *s;
	store_txn *w;
	store_table t;
	long nops, cases = 0, in_commit = 0, gen2_after = 0, readers_refused = 0, retried = 0;
	double t0 = tu_now();

	CHECK(buf != NULL);
	tu_path(base, "base.img");
	tu_path(path, "fault.img");
	s = st_open(base, STORE_CREATE, 0);
	w = st_write(s);
	CHECK_OK(store_table_create(w, "t", &t));
	CHECK_OK(write_gen(w, t, 1, buf));
	st_commit(w, true);
	CHECK_OK(store_close(s));

	/* dry run: count the I/O of the transaction */
	CHECK_OK(tu_copy_file(base, path));
	memset(&hk, 0, sizeof(hk));
	hk.fail_at = -1;
	CHECK_OK(st_try_open(path, 0, 0, hook, NULL, &s));
	hk.armed = true;
	w = st_write(s);
	CHECK_OK(store_table_open(w, "t", &t));
	CHECK_OK(write_gen(w, t, 2, buf));
	st_commit(w, true);
	nops = hk.count;
	hk.armed = false;
	CHECK_OK(store_close(s));
	CHECKF(nops > 0, "a durable commit did no I/O");

	for (long f = 0; f < nops; f++) {
		uint64_t before, gen;
		store_txn *rt = NULL;
		bool commit_failed;
		int rc;
		char what[128];

		CHECK_OK(tu_copy_file(base, path));
		memset(&hk, 0, sizeof(hk));
		hk.fail_at = f;
		hk.err = f % 3 == 2 ? -ENOSPC : -EIO;
		CHECK_OK(st_try_open(path, 0, 0, hook, NULL, &s));
		before = store_last_txnid(s);
		hk.armed = true;
		w = st_write(s);
		CHECK_OK(store_table_open(w, "t", &t));
		rc = write_gen(w, t, 2, buf);
		commit_failed = false;
		if (rc == 0) {
			rc = store_txn_commit(w, STORE_COMMIT_DURABLE, NULL);
			commit_failed = rc != 0;
			in_commit++;
		} else {
			store_txn_abort(w);
		}
		snprintf(what, sizeof(what), "%s %ld of %ld failed with %s", op_name[hk.failed_op],
		         f, nops, hk.err == -EIO ? "EIO" : "ENOSPC");
		tu_context("%s", what);
		CHECKF(hk.failed, "operation %ld of %ld was never attempted", f, nops);
		hk.armed = false;
		if (rc == 0 && hk.retried_smaller) {
			/* growing by a step failed, growing by just what is needed
			 * worked: the commit stands */
			rt = st_read(s);
			CHECK_EQ(check_gen(rt, buf, what), 2);
			store_txn_abort(rt);
			CHECK_OK(store_close(s));
			retried++;
			cases++;
			continue;
		}
		CHECKF(rc < 0, "%s, but the transaction succeeded", what);
		/* readers still see the previous commit (or, in the error state,
		 * may be refused with -EIO) */
		rc = store_txn_begin(s, STORE_TXN_READ, &rt);
		CHECKF(rc == 0 || (rc == -EIO && commit_failed), "%s: read txn after it: %d", what,
		       rc);
		if (rc == 0) {
			CHECKF(store_txn_id(rt) == before,
			       "%s: readers see txn %" PRIu64 ", not %" PRIu64, what,
			       store_txn_id(rt), before);
			CHECK_EQ(check_gen(rt, buf, what), 1);
			store_txn_abort(rt);
		} else {
			readers_refused++;
		}
		if (commit_failed) {
			store_txn *w2 = NULL;
			rc = store_txn_begin(s, STORE_TXN_WRITE, &w2);
			if (rc == 0)
				store_txn_abort(w2);
			CHECKF(rc == -EIO,
			       "%s: a write txn after the failed commit returned %d, "
			       "expected -EIO (the error state)",
			       what, rc);
		}
		store_close(s); /* may report the error again */

		s = st_open(path, 0, 0);
		rt = st_read(s);
		gen = check_gen(rt, buf, what);
		if (gen == 2)
			gen2_after++;
		st_verify_clean(rt, STORE_VERIFY_FULL, what);
		store_txn_abort(rt);
		w = st_write(s);
		CHECK_OK(store_table_open(w, "t", &t));
		CHECK_OK(write_gen(w, t, 3 - gen, buf));
		st_commit(w, true);
		rt = st_read(s);
		CHECK_EQ(check_gen(rt, buf, "commit after recovery"), 3 - gen);
		st_verify_clean(rt, STORE_VERIFY_FULL, "commit after recovery");
		store_txn_abort(rt);
		CHECK_OK(store_close(s));
		cases++;
	}
	printf("I/O errors: %ld operations of a durable commit failed in turn (%ld in the commit "
	       "itself; %ld left the new commit on disk; %ld read txns refused in the error state; "
	       "%ld allocations retried smaller and succeeded), %.1f s\n",
	       cases, in_commit, gen2_after, readers_refused, retried, tu_now() - t0);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	return tu_main(argc, argv, run);
}
