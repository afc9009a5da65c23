/*
 * test_concurrency.c — snapshot readers against a committing writer.
 *
 * Part 1: reader threads each hold a read txn and re-read it many times
 * (cursor scans and point gets) while a writer thread commits continuously
 * and a sync thread calls store_sync: every re-read must equal the first
 * read of that snapshot, and every snapshot must be one the writer
 * committed as a whole (a check row holds the count and an XOR over all
 * rows of the commit; every value names its key and generation).
 *
 * Part 2: one old snapshot is held while durable commits delete and rewrite
 * every row and blob many times: the old snapshot still reads its data byte
 * for byte (also through store_blob_read_at with locations taken at the
 * start), store_stats shows the pending bytes and the reader, another
 * process cannot open the image (-EBUSY); after the reader ends the freed
 * space becomes reusable and the file stops growing.
 */
#include "storetest.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- part 1 ---- */

#define NKEYS     300
#define NREADERS  3
#define CHECK_KEY "~check" /* sorts after every 8-byte key starting below 0x7e */

static store *s1;
static store_table t1;
static atomic_bool writer_done;
static atomic_ullong snapshots_checked, rereads_done, syncs_done;

static uint64_t row_hash(uint64_t key, uint64_t gen)
{
	return tu_mix64(key * 0x100000001b3ULL ^ gen);
}

static size_t value_len(uint64_t key, uint64_t gen)
{
	uint64_t h = row_hash(key, gen) % 100;

	return h < 80 ? 16 + h * 5 : 16 + h * 90; /* up to ~9 KiB: some overflow */
}

/* value = key (be64), gen (be64), pattern bytes */
static void make_value(uint8_t *v, uint64_t key, uint64_t gen, size_t len)
{
	st_be64(v, key);
	st_be64(v + 8, gen);
	tu_pattern(v + 16, len - 16, row_hash(key, gen), 0);
}

struct seen {
	uint64_t key, gen, len;
};

/* Scan the snapshot; check each value names its row, and the check row. */
static size_t scan_snapshot(store_txn *rt, struct seen *out, const char *who)
{
	store_cursor *c = NULL;
	size_t n = 0;
	uint64_t xor = 0;
	bool have_check = false;
	int rc;

	CHECK_OK(store_cursor_open(rt, t1, &c));
	for (rc = store_cursor_seek(c, STORE_SEEK_FIRST, NULL, 0); rc == 0;
	     rc = store_cursor_next(c)) {
		const uint8_t *k, *v;
		size_t kl, vl;

		CHECK_OK(store_cursor_get(c, (const void **)&k, &kl, (const void **)&v, &vl));
		if (kl == sizeof(CHECK_KEY) - 1 && memcmp(k, CHECK_KEY, kl) == 0) {
			CHECKF(vl == 16, "%s: check row of %zu bytes", who, vl);
			CHECKF(st_get_be64(v) == n && st_get_be64(v + 8) == xor,
			       "%s: snapshot %" PRIu64
			       " is not a whole commit: %zu rows (check row "
			       "says %" PRIu64 "), xor %016" PRIx64 " (check row %016" PRIx64 ")",
			       who, store_txn_id(rt), n, st_get_be64(v), xor, st_get_be64(v + 8));
			have_check = true;
			continue;
		}
		CHECKF(kl == 8 && vl >= 16 && st_get_be64(v) == st_get_be64(k),
		       "%s: row %s holds %s", who, st_hex(k, kl), st_hex(v, vl));
		out[n].key = st_get_be64(k);
		out[n].gen = st_get_be64(v + 8);
		out[n].len = vl;
		CHECKF(vl == value_len(out[n].key, out[n].gen) &&
		               tu_pattern_diff(v + 16, vl - 16, row_hash(out[n].key, out[n].gen),
		                               0) < 0,
		       "%s: key %" PRIu64 " gen %" PRIu64
		       ": value of %zu bytes is not what the writer "
		       "wrote",
		       who, out[n].key, out[n].gen, vl);
		xor ^= row_hash(out[n].key, out[n].gen);
		n++;
	}
	CHECKF(rc == -ENOENT, "%s: scan ended with %d", who, rc);
	CHECKF(have_check, "%s: no check row in snapshot %" PRIu64, who, store_txn_id(rt));
	store_cursor_close(c);
	return n;
}

static void *reader_main(void *arg)
{
	struct tu_rng g;
	struct seen *first = malloc(NKEYS * sizeof(*first)),
	            *again = malloc(NKEYS * sizeof(*again));
	uint8_t *buf = malloc(16384);
	char who[64];

	CHECK(first && again && buf);
	tu_rng_seed(&g, tu_seed() ^ (uintptr_t)arg);
	snprintf(who, sizeof(who), "reader %d", (int)(uintptr_t)arg);
	while (!atomic_load(&writer_done)) {
		store_txn *rt = st_read(s1);
		uint64_t id = store_txn_id(rt);
		size_t n = scan_snapshot(rt, first, who);
		unsigned rounds = (unsigned)tu_rng_range(&g, 2, 12);

		for (unsigned r = 0; r < rounds; r++) {
			size_t m;
			sched_yield();
			CHECK_EQ(store_txn_id(rt), id);
			m = scan_snapshot(rt, again, who);
			CHECKF(m == n && memcmp(first, again, n * sizeof(*first)) == 0,
			       "%s: snapshot %" PRIu64
			       " changed between reads (%zu rows, then %zu)",
			       who, id, n, m);
			/* point gets, present and absent keys */
			for (int i = 0; i < 20; i++) {
				uint8_t k[8];
				uint64_t key = tu_rng_below(&g, NKEYS);
				size_t vl = 0, j;
				int rc;
				st_be64(k, key);
				rc = store_get(rt, t1, k, 8, buf, 16384, &vl);
				for (j = 0; j < n && first[j].key != key; j++)
					;
				if (j == n) {
					CHECKF(rc == -ENOENT,
					       "%s: key %" PRIu64 " absent from snapshot %" PRIu64
					       " but get returned %d",
					       who, key, id, rc);
					continue;
				}
				CHECKF(rc == 0 && vl == first[j].len &&
				               st_get_be64(buf + 8) == first[j].gen,
				       "%s: get of key %" PRIu64 " in snapshot %" PRIu64
				       " returned %d, %zu bytes, gen %" PRIu64
				       "; the scan saw gen %" PRIu64,
				       who, key, id, rc, vl, rc == 0 ? st_get_be64(buf + 8) : 0,
				       first[j].gen);
			}
			atomic_fetch_add(&rereads_done, 1);
		}
		store_txn_abort(rt);
		atomic_fetch_add(&snapshots_checked, 1);
	}
	free(first);
	free(again);
	free(buf);
	return NULL;
}

static void *syncer_main(void *arg)
{
	uint64_t last_durable = 0;

	(void)arg;
	while (!atomic_load(&writer_done)) {
		uint64_t want = store_last_txnid(s1), d;
		CHECK_OK(store_sync(s1, 0));
		d = store_durable_txnid(s1);
		CHECKF(d >= want, "store_sync returned but durable txnid %" PRIu64 " < %" PRIu64, d,
		       want);
		CHECKF(d >= last_durable, "durable txnid went back from %" PRIu64 " to %" PRIu64,
		       last_durable, d);
		last_durable = d;
		atomic_fetch_add(&syncs_done, 1);
		usleep(2000);
	}
	return NULL;
}

static void part1(void)
{
	char path[PATH_MAX];
	pthread_t rd[NREADERS], sy;
	struct tu_rng g;
	uint64_t gens[NKEYS] = {0}, committed[NKEYS] = {0}; /* generation, 0 = absent */
	uint8_t *v = malloc(16384), k[8], cv[16];
	unsigned commits = 1000 * tu_scale();
	double t0 = tu_now();

	CHECK(v != NULL);
	tu_rng_seed(&g, tu_seed());
	s1 = st_open(tu_path(path, "concurrent.img"), STORE_CREATE, 0);
	{
		store_txn *w = st_write(s1);
		CHECK_OK(store_table_create(w, "c", &t1));
		memset(cv, 0, sizeof(cv));
		CHECK_OK(store_put(w, t1, CHECK_KEY, sizeof(CHECK_KEY) - 1, cv, 16, 0));
		st_commit(w, true);
	}
	for (uintptr_t i = 0; i < NREADERS; i++)
		CHECK(pthread_create(&rd[i], NULL, reader_main, (void *)i) == 0);
	CHECK(pthread_create(&sy, NULL, syncer_main, NULL) == 0);

	for (unsigned c = 1; c <= commits; c++) {
		store_txn *w = st_write(s1);
		unsigned n = (unsigned)tu_rng_range(&g, 1, 30);
		uint64_t count = 0, xor = 0;

		tu_context("writer commit %u", c);
		for (unsigned i = 0; i < n; i++) {
			uint64_t key = tu_rng_below(&g, NKEYS);
			st_be64(k, key);
			if (gens[key] && tu_rng_chance(&g, 1, 3)) {
				CHECK_OK(store_del(w, t1, k, 8));
				gens[key] = 0;
			} else {
				size_t len = value_len(key, c);
				make_value(v, key, c, len);
				CHECK_OK(store_put(w, t1, k, 8, v, len, 0));
				gens[key] = c;
			}
		}
		for (uint64_t key = 0; key < NKEYS; key++)
			if (gens[key]) {
				count++;
				xor ^= row_hash(key, gens[key]);
			}
		st_be64(cv, count);
		st_be64(cv + 8, xor);
		CHECK_OK(store_put(w, t1, CHECK_KEY, sizeof(CHECK_KEY) - 1, cv, 16, 0));
		if (tu_rng_chance(&g, 1, 10)) {
			store_txn_abort(w); /* readers must never see it */
			memcpy(gens, committed, sizeof(gens));
		} else {
			st_commit(w, tu_rng_chance(&g, 1, 5));
			memcpy(committed, gens, sizeof(gens));
		}
	}
	atomic_store(&writer_done, true);
	for (int i = 0; i < NREADERS; i++)
		pthread_join(rd[i], NULL);
	pthread_join(sy, NULL);
	{
		store_txn *rt = st_read(s1);
		st_verify_clean(rt, STORE_VERIFY_FULL, "after the concurrent run");
		store_txn_abort(rt);
	}
	CHECK_OK(store_close(s1));
	free(v);
	printf("part 1: %u writer txns, %llu snapshots checked, %llu re-reads, %llu store_sync "
	       "calls, %.1f s\n",
	       commits, (unsigned long long)atomic_load(&snapshots_checked),
	       (unsigned long long)atomic_load(&rereads_done),
	       (unsigned long long)atomic_load(&syncs_done), tu_now() - t0);
	CHECK(atomic_load(&snapshots_checked) > 0);
}

/* ---- part 2 ---- */

#define NROWS      48
#define ROW_BYTES  16000
#define NBLOBS     8
#define BLOB_BYTES 65536

static uint64_t gen_seed(uint64_t gen, uint64_t i)
{
	return tu_mix64(gen * 1000003 + i);
}

/* Delete generation gen-1 (if any) and write generation gen. */
static void rewrite(store *s, store_table t, uint64_t gen, uint64_t *blob_ids, uint8_t *buf)
{
	store_txn *w = st_write(s);

	for (uint64_t i = 0; i < NROWS; i++) {
		uint8_t k[8];
		st_be64(k, i);
		if (gen > 0)
			CHECK_OK(store_del(w, t, k, 8));
	}
	for (uint64_t i = 0; i < NBLOBS; i++)
		if (gen > 0)
			CHECK_OK(store_blob_delete(w, blob_ids[i]));
	for (uint64_t i = 0; i < NROWS; i++) {
		uint8_t k[8];
		st_be64(k, i);
		tu_pattern(buf, ROW_BYTES, gen_seed(gen, i), 0);
		CHECK_OK(store_put(w, t, k, 8, buf, ROW_BYTES, STORE_NOOVERWRITE));
	}
	for (uint64_t i = 0; i < NBLOBS; i++) {
		tu_pattern(buf, BLOB_BYTES, gen_seed(gen, 1000 + i), 0);
		CHECK_OK(store_blob_put(w, buf, BLOB_BYTES, 0, &blob_ids[i]));
	}
	st_commit(w, true);
}

static void check_gen(store *s, store_txn *rt, store_table t, uint64_t gen,
                      const uint64_t *blob_ids, const struct store_blob_info *locs, uint8_t *buf)
{
	for (uint64_t i = 0; i < NROWS; i++) {
		uint8_t k[8];
		size_t vl = 0;
		st_be64(k, i);
		CHECK_OK(store_get(rt, t, k, 8, buf, ROW_BYTES, &vl));
		CHECK_EQ(vl, ROW_BYTES);
		CHECKF(tu_pattern_diff(buf, vl, gen_seed(gen, i), 0) < 0,
		       "old snapshot: row %" PRIu64 " of generation %" PRIu64 " changed", i, gen);
	}
	for (uint64_t i = 0; i < NBLOBS; i++) {
		size_t got = 0;
		CHECK_OK(store_blob_read(rt, blob_ids[i], 0, buf, BLOB_BYTES, &got));
		CHECK_EQ(got, BLOB_BYTES);
		CHECKF(tu_pattern_diff(buf, got, gen_seed(gen, 1000 + i), 0) < 0,
		       "old snapshot: blob %" PRIu64 " of generation %" PRIu64 " changed",
		       blob_ids[i], gen);
		if (locs) {
			got = 0;
			CHECK_OK(store_blob_read_at(s, &locs[i], 0, buf, BLOB_BYTES, &got));
			CHECK_EQ(got, BLOB_BYTES);
			CHECKF(tu_pattern_diff(buf, got, gen_seed(gen, 1000 + i), 0) < 0,
			       "old snapshot: store_blob_read_at of blob %" PRIu64 " (page %" PRIu64
			       ") read other bytes: its pages were reused",
			       blob_ids[i], locs[i].pgno);
		}
	}
}

static struct store_stats stats_now(store *s)
{
	struct store_stats st;
	store_txn *rt = st_read(s);

	CHECK_OK(store_stats(rt, &st));
	store_txn_abort(rt);
	return st;
}

static void part2(void)
{
	char path[PATH_MAX];
	store *s;
	store_table t;
	store_txn *old, *w;
	uint64_t ids0[NBLOBS], ids[NBLOBS], gen, s0, size_held, size_after, L;
	struct store_blob_info locs[NBLOBS];
	struct store_stats st;
	uint8_t *buf = malloc(BLOB_BYTES > ROW_BYTES ? BLOB_BYTES : ROW_BYTES);
	unsigned m = 12 * tu_scale();
	double t0 = tu_now();
	pid_t pid;
	int status;

	CHECK(buf != NULL);
	tu_context("part 2: old snapshot");
	tu_path(path, "held.img");
	s = st_open(path, STORE_CREATE, 0);
	w = st_write(s);
	CHECK_OK(store_table_create(w, "b", &t));
	st_commit(w, true);
	rewrite(s, t, 0, ids, buf);
	memcpy(ids0, ids, sizeof(ids));
	L = (uint64_t)NROWS * ROW_BYTES + (uint64_t)NBLOBS * BLOB_BYTES;

	old = st_read(s);
	s0 = store_txn_id(old);
	for (int i = 0; i < NBLOBS; i++)
		CHECK_OK(store_blob_stat(old, ids0[i], &locs[i]));
	check_gen(s, old, t, 0, ids0, locs, buf);

	/* another process cannot open the image while we have it */
	fflush(NULL);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		store *s2 = NULL;
		int rc = st_try_open(path, 0, 0, NULL, NULL, &s2);
		CHECKF(rc == -EBUSY, "a second process opened a locked image: %d, expected -EBUSY",
		       rc);
		_exit(0);
	}
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the second-open child failed");

	for (gen = 1; gen <= m; gen++) {
		rewrite(s, t, gen, ids, buf);
		check_gen(s, old, t, 0, ids0, locs, buf);
	}
	st = stats_now(s);
	size_held = st.file_size;
	printf("part 2: snapshot %" PRIu64 " held over %u rewrites of %" PRIu64
	       " bytes: file %" PRIu64 ", free %" PRIu64 ", pending %" PRIu64 ", readers %" PRIu64
	       ", oldest reader %" PRIu64 "\n",
	       s0, m, L, st.file_size, st.free_bytes, st.pending_bytes, st.readers,
	       st.oldest_reader_txnid);
	CHECKF(st.pending_bytes >= L,
	       "pending bytes %" PRIu64 " while a reader holds %" PRIu64 " bytes that were freed",
	       st.pending_bytes, L);
	CHECKF(st.readers >= 1 && st.oldest_reader_txnid == s0,
	       "stats: %" PRIu64 " readers, oldest %" PRIu64 ", expected the snapshot %" PRIu64,
	       st.readers, st.oldest_reader_txnid, s0);
	CHECK(st.free_bytes >= st.pending_bytes);
	/* the space map agrees with the stats (read txns: part 3) */
	w = st_write(s);
	st_check_space_map(w, "write txn while an old snapshot is held");
	store_txn_abort(w);
	/* a new snapshot sees the last generation */
	{
		store_txn *rt = st_read(s);
		check_gen(s, rt, t, m, ids, NULL, buf);
		store_txn_abort(rt);
	}
	store_txn_abort(old);

	/* after the reader: two durable commits make the freed space reusable */
	rewrite(s, t, ++gen, ids, buf);
	rewrite(s, t, ++gen, ids, buf);
	st = stats_now(s);
	CHECKF(st.free_bytes - st.pending_bytes >= L,
	       "after the reader ended and two durable commits, only %" PRIu64
	       " bytes are reusable (free %" PRIu64 ", pending %" PRIu64
	       "), a generation is %" PRIu64,
	       st.free_bytes - st.pending_bytes, st.free_bytes, st.pending_bytes, L);
	size_after = st.file_size;
	for (unsigned i = 0; i < m; i++)
		rewrite(s, t, ++gen, ids, buf);
	st = stats_now(s);
	printf("part 2: after the reader ended: file %" PRIu64 " (%" PRIu64
	       " while held), then %" PRIu64 " after %u more rewrites; pending %" PRIu64
	       ", %.1f s\n",
	       size_after, size_held, st.file_size, m, st.pending_bytes, tu_now() - t0);
	CHECKF(st.file_size <= size_after,
	       "the file grew from %" PRIu64 " to %" PRIu64 " with plenty of reusable space",
	       size_after, st.file_size);
	CHECK_EQ(st.readers, 1); /* stats_now's own */
	{
		store_txn *rt = st_read(s);
		check_gen(s, rt, t, gen, ids, NULL, buf);
		st_verify_clean(rt, STORE_VERIFY_FULL, "after the held-snapshot run");
		store_txn_abort(rt);
	}
	CHECK_OK(store_close(s));
	free(buf);
}

/* Part 3: while an old snapshot is held, a read txn's space map shows the
 * pages it pins as PENDING, as its store_stats does. */
static void part3(void)
{
	char path[PATH_MAX];
	store *s;
	store_table t;
	store_txn *old, *w, *rt;
	uint64_t ids[NBLOBS];
	uint8_t *buf = malloc(BLOB_BYTES);

	CHECK(buf != NULL);
	tu_context("part 3: space map of a read txn");
	s = st_open(tu_path(path, "map.img"), STORE_CREATE, 0);
	w = st_write(s);
	CHECK_OK(store_table_create(w, "b", &t));
	st_commit(w, true);
	rewrite(s, t, 0, ids, buf);
	old = st_read(s);
	rewrite(s, t, 1, ids, buf);
	rt = st_read(s);
	st_check_space_map(rt, "read txn while an old snapshot is held");
	store_txn_abort(rt);
	store_txn_abort(old);
	CHECK_OK(store_close(s));
	free(buf);
	printf("part 3: space map of a read txn agrees with its stats\n");
}

/*
 * Part 4: a write txn read by several threads at once (the caller holds a
 * rwlock: nobody modifies it meanwhile). Each thread scans and gets through
 * the txn's own uncommitted rows, large values included.
 */
struct p4 {
	store_txn *w;
	store_table t;
	int no;
	uint64_t gen;
	unsigned rounds;
};

static void *p4_reader(void *arg)
{
	struct p4 *a = arg;
	struct tu_rng g;
	uint8_t *buf = malloc(16384);
	char who[64];

	CHECK(buf != NULL);
	tu_rng_seed(&g, tu_seed() ^ (uint64_t)a->no * 77);
	snprintf(who, sizeof(who), "write-txn reader %d", a->no);
	for (unsigned r = 0; r < a->rounds; r++) {
		store_cursor *c = NULL;
		uint64_t n = 0;
		int rc;

		CHECK_OK(store_cursor_open(a->w, a->t, &c));
		for (rc = store_cursor_seek(c, STORE_SEEK_FIRST, NULL, 0); rc == 0;
		     rc = store_cursor_next(c), n++) {
			const uint8_t *k, *v;
			size_t kl, vl;
			CHECK_OK(store_cursor_get(c, (const void **)&k, &kl, (const void **)&v,
			                          &vl));
			CHECKF(kl == 8 && st_get_be64(k) == n && vl == value_len(n, a->gen) &&
			               st_get_be64(v) == n && st_get_be64(v + 8) == a->gen &&
			               tu_pattern_diff(v + 16, vl - 16, row_hash(n, a->gen), 0) < 0,
			       "%s: row %" PRIu64 " of the write txn reads wrong", who, n);
		}
		CHECKF(rc == -ENOENT && n == NKEYS,
		       "%s: scan of the write txn: %d after %" PRIu64 " rows", who, rc, n);
		store_cursor_close(c);
		for (int i = 0; i < 50; i++) {
			uint8_t k[8];
			uint64_t key = tu_rng_below(&g, NKEYS);
			size_t vl = 0;
			st_be64(k, key);
			CHECK_OK(store_get(a->w, a->t, k, 8, buf, 16384, &vl));
			CHECKF(vl == value_len(key, a->gen) && st_get_be64(buf + 8) == a->gen,
			       "%s: get of key %" PRIu64 " in the write txn reads wrong", who, key);
		}
	}
	free(buf);
	return NULL;
}

static void part4(void)
{
	char path[PATH_MAX];
	store *s;
	struct p4 a[NREADERS];
	pthread_t th[NREADERS];
	store_txn *w;
	store_table t;
	uint8_t *v = malloc(16384);
	unsigned rounds = 20 * tu_scale();

	CHECK(v != NULL);
	tu_context("part 4: a write txn read by several threads");
	s = st_open(tu_path(path, "shared-write.img"), STORE_CREATE, 0);
	for (uint64_t gen = 1; gen <= 3; gen++) {
		w = st_write(s);
		if (gen == 1)
			CHECK_OK(store_table_create(w, "c", &t));
		for (uint64_t key = 0; key < NKEYS; key++) {
			uint8_t k[8];
			st_be64(k, key);
			make_value(v, key, gen, value_len(key, gen));
			CHECK_OK(store_put(w, t, k, 8, v, value_len(key, gen), 0));
		}
		/* a fresh txn (gen 1), and ones over committed trees (2, 3) */
		for (int i = 0; i < NREADERS; i++) {
			a[i] = (struct p4){.w = w, .t = t, .no = i, .gen = gen, .rounds = rounds};
			CHECK(pthread_create(&th[i], NULL, p4_reader, &a[i]) == 0);
		}
		for (int i = 0; i < NREADERS; i++)
			pthread_join(th[i], NULL);
		st_commit(w, gen == 3);
	}
	w = st_read(s);
	st_verify_clean(w, STORE_VERIFY_FULL, "after a shared write txn");
	store_txn_abort(w);
	CHECK_OK(store_close(s));
	free(v);
	printf("part 4: 3 write txns each read by %d threads at once, %u rounds each\n", NREADERS,
	       rounds);
}

static int run(void)
{
	part1();
	part2();
	part4();
	part3();
	return 0;
}

int main(int argc, char **argv)
{
	return tu_main(argc, argv, run);
}
