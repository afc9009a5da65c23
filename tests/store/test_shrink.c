/*
 * test_shrink.c — the seed scenario at store level: 100 values of 100 KiB,
 * delete 90, commit durable; then rounds of relocation (store_highest_used +
 * store_relocate inside a write txn) and store_shrink, each committed
 * durable, must bring the image file down to at most
 * (live data + metadata) x 1.1 + 1 MiB, where live data is the 10 kept
 * values and metadata the tree and allocator pages of store_stats. The kept
 * values stay intact and store_verify FULL is clean, also after a reopen.
 *
 * A second pass punches the free space first (store_punch_free: disk usage
 * must drop) and holds a read txn across the first relocation round: that
 * snapshot keeps reading the kept values while they move.
 */
#include "storetest.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#define NVALUES     100
#define VALUE_BYTES (100 * 1024)
#define KEEP(i)     ((i) % 10 == 3) /* 10 kept values spread over the file */
#define MIB         (1024 * 1024)

static uint64_t vseed(int i)
{
	return tu_mix64(0x5ee0ULL + (uint64_t)i);
}

static void check_kept(store_txn *txn, store_table t, uint8_t *buf, const char *what)
{
	for (int i = 0; i < NVALUES; i++) {
		uint8_t k[8];
		size_t vl = 0;
		int rc;

		st_be64(k, (uint64_t)i);
		rc = store_get(txn, t, k, 8, buf, VALUE_BYTES, &vl);
		if (!KEEP(i)) {
			CHECKF(rc == -ENOENT, "%s: deleted value %d: get returned %d", what, i, rc);
			continue;
		}
		CHECKF(rc == 0 && vl == VALUE_BYTES,
		       "%s: kept value %d: get returned %d, %zu bytes", what, i, rc, vl);
		CHECKF(tu_pattern_diff(buf, vl, vseed(i), 0) < 0,
		       "%s: kept value %d differs at %lld", what, i,
		       tu_pattern_diff(buf, vl, vseed(i), 0));
	}
}

static uint64_t bound_of(const struct store_stats *st, uint64_t *meta)
{
	uint64_t live = 10ull * VALUE_BYTES;

	*meta = (st->tree_pages + st->alloc_pages) * st->page_size;
	return (live + *meta) * 11 / 10 + MIB;
}

static void scenario(bool punch)
{
	char path[PATH_MAX];
	store *s;
	store_txn *w, *held = NULL;
	store_table t;
	struct store_stats st;
	uint8_t *buf = malloc(VALUE_BYTES);
	uint64_t size_full, bound = 0, meta = 0, moves = 0;
	int round;
	double t0 = tu_now();

	CHECK(buf != NULL);
	tu_context("shrink scenario%s", punch ? " with punch" : "");
	s = st_open(tu_path(path, "shrink-%d.img", punch), STORE_CREATE, 0);
	w = st_write(s);
	CHECK_OK(store_table_create(w, "values", &t));
	for (int i = 0; i < NVALUES; i++) {
		uint8_t k[8];
		st_be64(k, (uint64_t)i);
		tu_pattern(buf, VALUE_BYTES, vseed(i), 0);
		CHECK_OK(store_put(w, t, k, 8, buf, VALUE_BYTES, 0));
	}
	st_commit(w, true);
	size_full = st_file_size(path);
	CHECKF(size_full >= (uint64_t)NVALUES * VALUE_BYTES,
	       "100 values of 100 KiB in a %" PRIu64 "-byte file", size_full);

	w = st_write(s);
	for (int i = 0; i < NVALUES; i++) {
		uint8_t k[8];
		st_be64(k, (uint64_t)i);
		if (!KEEP(i))
			CHECK_OK(store_del(w, t, k, 8));
	}
	st_commit(w, true);

	if (punch) {
		uint64_t punched = 0;
		struct store_stats before, after;
		w = st_write(s);
		CHECK_OK(store_stats(w, &before));
		CHECK_OK(store_punch_free(w, 65536, &punched));
		st_commit(w, true);
		w = st_read(s);
		CHECK_OK(store_stats(w, &after));
		store_txn_abort(w);
		printf("punch: %" PRIu64 " bytes punched; disk bytes %" PRIu64 " -> %" PRIu64 "\n",
		       punched, before.disk_bytes, after.disk_bytes);
		CHECKF(punched >= 80ull * VALUE_BYTES,
		       "only %" PRIu64 " bytes punched of 90 freed values", punched);
		CHECKF(after.disk_bytes + punched / 2 <= before.disk_bytes,
		       "punching %" PRIu64 " bytes took disk usage only from %" PRIu64
		       " to %" PRIu64,
		       punched, before.disk_bytes, after.disk_bytes);
		/* a snapshot from before the relocation */
		held = st_read(s);
		check_kept(held, t, buf, "held snapshot");
	}

	for (round = 1; round <= 6; round++) {
		uint64_t hi = 0, newpg = 0, reclaimed = 0, n = 0;
		int rc;

		w = st_write(s);
		for (;;) {
			CHECK_OK(store_highest_used(w, &hi));
			rc = store_relocate(w, hi, &newpg);
			if (rc == -ENOSPC)
				break;
			CHECKF(rc == 0, "round %d: store_relocate(%" PRIu64 ") = %d (%s)", round,
			       hi, rc, strerror(-rc));
			CHECKF(newpg < hi,
			       "round %d: store_relocate(%" PRIu64 ") moved it to %" PRIu64, round,
			       hi, newpg);
			CHECKF(++n < 100000, "round %d: relocation does not end", round);
		}
		moves += n;
		CHECK_OK(store_shrink(w, &reclaimed));
		check_kept(w, t, buf, "inside the relocation txn");
		st_commit(w, true);
		if (held) {
			check_kept(held, t, buf, "held snapshot after a relocation round");
			store_txn_abort(held);
			held = NULL;
		}
		w = st_read(s);
		CHECK_OK(store_stats(w, &st));
		store_txn_abort(w);
		bound = bound_of(&st, &meta);
		printf("round %d: %" PRIu64 " relocations, %" PRIu64 " bytes cut; file %" PRIu64
		       " bytes, bound %" PRIu64 " (tree %" PRIu64 " + allocator %" PRIu64
		       " pages), used %" PRIu64 ", pending %" PRIu64 "\n",
		       round, n, reclaimed, st.file_size, bound, st.tree_pages, st.alloc_pages,
		       st.used_bytes, st.pending_bytes);
		CHECK_EQ(st.file_size, st_file_size(path));
		if (st.file_size <= bound && round >= 2)
			break;
	}
	CHECKF(st.file_size <= bound,
	       "after %d rounds the file is %" PRIu64 " bytes, more than (10 x 100 KiB + %" PRIu64
	       " bytes of metadata) x 1.1 + 1 MiB = %" PRIu64 " (it held %" PRIu64 " bytes full)",
	       round - 1, st.file_size, meta, bound, size_full);
	w = st_read(s);
	check_kept(w, t, buf, "after shrinking");
	st_verify_clean(w, STORE_VERIFY_FULL, "after shrinking");
	store_txn_abort(w);
	CHECK_OK(store_close(s));

	s = st_open(path, 0, 0);
	w = st_read(s);
	CHECK_OK(store_table_open(w, "values", &t));
	check_kept(w, t, buf, "after shrinking and reopening");
	st_verify_clean(w, STORE_VERIFY_FULL, "after shrinking and reopening");
	CHECK_OK(store_stats(w, &st));
	store_txn_abort(w);
	CHECK_OK(store_close(s));
	CHECKF(st_file_size(path) <= bound,
	       "after reopen and close the file is %" PRIu64 " bytes, bound %" PRIu64,
	       st_file_size(path), bound);
	printf("shrink%s: %" PRIu64 " -> %" PRIu64 " bytes (bound %" PRIu64 "), %" PRIu64
	       " relocations, %.1f s\n",
	       punch ? " with punch" : "", size_full, st_file_size(path), bound, moves,
	       tu_now() - t0);
	free(buf);
}

/*
 * store_shrink in a write txn that is then aborted (or lost in a crash):
 * the committed state must still verify clean, before and after a reopen.
 */
static void shrink_then_abort(void)
{
	char path[PATH_MAX];
	uint8_t *buf = calloc(1, VALUE_BYTES);
	store *s;
	store_txn *w, *rt;
	store_table t;
	uint64_t cut = 0;

	CHECK(buf != NULL);
	tu_context("store_shrink in an aborted txn");
	s = st_open(tu_path(path, "shrink-abort.img"), STORE_CREATE, 0);
	w = st_write(s);
	CHECK_OK(store_table_create(w, "values", &t));
	for (int i = 0; i < 20; i++) {
		uint8_t k[8];
		st_be64(k, (uint64_t)i);
		CHECK_OK(store_put(w, t, k, 8, buf, VALUE_BYTES, 0));
	}
	st_commit(w, true);
	w = st_write(s);
	for (int i = 10; i < 20; i++) {
		uint8_t k[8];
		st_be64(k, (uint64_t)i);
		CHECK_OK(store_del(w, t, k, 8));
	}
	st_commit(w, true);
	w = st_write(s);
	st_commit(w, true); /* the freed tail is now reusable */
	w = st_write(s);
	CHECK_OK(store_shrink(w, &cut));
	store_txn_abort(w);
	rt = st_read(s);
	st_verify_clean(rt, STORE_VERIFY_FULL, "after store_shrink in an aborted txn");
	store_txn_abort(rt);
	CHECK_OK(store_close(s));
	s = st_open(path, 0, 0);
	rt = st_read(s);
	st_verify_clean(rt, STORE_VERIFY_FULL, "reopened after store_shrink in an aborted txn");
	store_txn_abort(rt);
	CHECK_OK(store_close(s));
	printf("shrink in an aborted txn: %" PRIu64 " bytes cut, state still clean\n", cut);
	free(buf);
}

static int run(void)
{
	scenario(false);
	scenario(true);
	shrink_then_abort();
	return 0;
}

int main(int argc, char **argv)
{
	return tu_main(argc, argv, run);
}
