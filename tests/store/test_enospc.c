/*
 * test_enospc.c — a size limit is an error, never damage: with max_size set,
 * puts fail with -ENOSPC once the image is full, the failed put changes
 * nothing, the txn still commits, the image verifies clean and never grows
 * past the limit; store_txn_reserve refuses what cannot fit and guarantees
 * what it accepts; blobs too big fail cleanly; deleting makes room again
 * (after the freeing commit is durable); lifting the limit lets it grow.
 */
#include "storetest.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#define LIMIT  (4u * 1024 * 1024)
#define VBYTES (50 * 1024)

static uint64_t vseed(uint64_t k)
{
	return tu_mix64(k + 0xe0);
}

/* Put key k (a value of VBYTES pattern bytes); returns store_put's result. */
static int put(store_txn *w, store_table t, uint64_t k, uint8_t *buf)
{
	uint8_t key[8];

	st_be64(key, k);
	tu_pattern(buf, VBYTES, vseed(k), 0);
	return store_put(w, t, key, 8, buf, VBYTES, 0);
}

static void check_rows(store_txn *txn, store_table t, const bool *present, uint64_t n, uint8_t *buf,
                       const char *what)
{
	for (uint64_t k = 0; k < n; k++) {
		uint8_t key[8];
		size_t vl = 0;
		int rc;

		st_be64(key, k);
		rc = store_get(txn, t, key, 8, buf, VBYTES, &vl);
		if (!present[k]) {
			CHECKF(rc == -ENOENT, "%s: key %" PRIu64 " should be absent: %d", what, k,
			       rc);
			continue;
		}
		CHECKF(rc == 0 && vl == VBYTES && tu_pattern_diff(buf, vl, vseed(k), 0) < 0,
		       "%s: key %" PRIu64 ": get returned %d, %zu bytes, or other bytes", what, k,
		       rc, vl);
	}
}

static int run(void)
{
	char path[PATH_MAX];
	uint8_t *buf = malloc(2 * LIMIT);
	bool present[1000] = {false};
	store *s;
	store_txn *w, *rt;
	store_table t;
	struct store_stats st0, st1;
	uint64_t n = 0, fitted, refit = 0, id = 0, del_failed = 0, limit = LIMIT;
	int rc;

	CHECK(buf != NULL);
	s = st_open(tu_path(path, "limit.img"), STORE_CREATE, 0);
	store_set_max_size(s, LIMIT);
	w = st_write(s);
	CHECK_OK(store_table_create(w, "t", &t));
	st_commit(w, true);

	/* fill until -ENOSPC */
	tu_context("filling to the limit");
	w = st_write(s);
	while ((rc = put(w, t, n, buf)) == 0) {
		present[n++] = true;
		CHECKF(n < 1000, "%" PRIu64 " values of %d bytes fit under a %u-byte limit", n,
		       VBYTES, LIMIT);
	}
	CHECKF(rc == -ENOSPC, "put past the limit returned %d, expected -ENOSPC", rc);
	fitted = n;
	check_rows(w, t, present, n + 1, buf, "after -ENOSPC, in the txn");
	st_commit(w, true);
	CHECKF(st_file_size(path) <= LIMIT, "the image grew to %" PRIu64 " bytes, limit %u",
	       st_file_size(path), LIMIT);
	rt = st_read(s);
	check_rows(rt, t, present, n + 1, buf, "after -ENOSPC, committed");
	st_verify_clean(rt, STORE_VERIFY_FULL, "after filling to the limit");
	CHECK_OK(store_stats(rt, &st0));
	store_txn_abort(rt);

	/* what does not fit is refused, and refused cleanly */
	tu_context("refusals at the limit");
	w = st_write(s);
	CHECK_RC(store_txn_reserve(w, 2 * LIMIT), -ENOSPC);
	tu_pattern(buf, LIMIT, 3, 0);
	CHECK_RC(store_blob_put(w, buf, LIMIT, 0, &id), -ENOSPC);
	CHECK_OK(store_stats(w, &st1));
	CHECK_EQ(st1.blob_count, st0.blob_count);
	check_rows(w, t, present, n + 1, buf, "after refused reservations");
	st_commit(w, true);
	rt = st_read(s);
	st_verify_clean(rt, STORE_VERIFY_FULL, "after refused reservations");
	store_txn_abort(rt);

	/* deleting makes room: once the freeing commit is durable. A full image
	 * must still take deletes (a full filesystem must be able to rm). */
	tu_context("room after deletes");
	w = st_write(s);
	for (uint64_t k = 0; k < n; k += 2) {
		uint8_t key[8];
		st_be64(key, k);
		rc = store_del(w, t, key, 8);
		if (rc == -ENOSPC && !del_failed) {
			/* remember, and go on with a little more room so that
			 * the rest is tested; the test fails at the end */
			del_failed = k + 1;
			store_txn_abort(w);
			for (uint64_t j = 0; j < k; j += 2)
				present[j] = true;
			store_set_max_size(s, limit = LIMIT + 1024 * 1024);
			w = st_write(s);
			k = (uint64_t)-2;
			continue;
		}
		CHECKF(rc == 0, "store_del of key %" PRIu64 " returned %d", k, rc);
		present[k] = false;
	}
	st_commit(w, true);
	w = st_write(s);
	st_commit(w, true);
	w = st_write(s);
	/* a reservation that is accepted holds: the puts it covers succeed */
	CHECK_OK(store_txn_reserve(w, 4 * (VBYTES + 8192)));
	for (int i = 0; i < 4; i++, refit++) {
		CHECK_OK(put(w, t, n, buf));
		present[n++] = true;
	}
	while ((rc = put(w, t, n, buf)) == 0) {
		present[n++] = true;
		refit++;
		CHECK(n < 1000);
	}
	CHECK_RC(rc, -ENOSPC);
	st_commit(w, true);
	printf("%" PRIu64 " values fitted under the limit; %" PRIu64 " more after deleting half\n",
	       fitted, refit);
	CHECKF(refit >= fitted / 4, "only %" PRIu64 " values fitted in the room of %" PRIu64, refit,
	       (fitted + 1) / 2);
	CHECK(st_file_size(path) <= limit);
	rt = st_read(s);
	check_rows(rt, t, present, n + 1, buf, "refilled");
	st_verify_clean(rt, STORE_VERIFY_FULL, "refilled");
	store_txn_abort(rt);

	/* no limit: it grows again */
	tu_context("limit lifted");
	store_set_max_size(s, 0);
	w = st_write(s);
	for (int i = 0; i < 100; i++) {
		CHECK_OK(put(w, t, n, buf));
		present[n++] = true;
	}
	st_commit(w, true);
	CHECK(st_file_size(path) > limit);
	CHECK_OK(store_close(s));
	s = st_open(path, 0, 0);
	rt = st_read(s);
	CHECK_OK(store_table_open(rt, "t", &t));
	check_rows(rt, t, present, n + 1, buf, "after reopen");
	st_verify_clean(rt, STORE_VERIFY_FULL, "after reopen");
	store_txn_abort(rt);
	CHECK_OK(store_close(s));
	free(buf);
	CHECKF(!del_failed,
	       "store_del at the size limit failed with -ENOSPC (key %" PRIu64 ", after %" PRIu64
	       " values filled the image): a full image cannot be emptied",
	       del_failed - 1, fitted);
	return 0;
}

int main(int argc, char **argv)
{
	return tu_main(argc, argv, run);
}
