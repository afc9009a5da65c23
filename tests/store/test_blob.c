/*
 * test_blob.c — the blob region: sizes from 0 bytes to 64 MiB (page-size
 * and segment edges included), lz4 on and off with compressible and random
 * data, reads at random offsets and lengths (through a txn and through
 * store_blob_read_at), prepared blobs, the piecewise writer with pieces out
 * of order and holes, writer abort, share/delete refcounts, aborted puts,
 * store_blob_move, and a corrupted byte in a blob's stored bytes caught
 * as -EIO.
 */
#include "storetest.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define MIB (1024u * 1024u)

static char path[PATH_MAX];
static struct tu_rng rng;
static uint8_t *src, *dst;
static size_t bufsize;

/* Compressible data: runs of 64 equal bytes; random otherwise. */
static void fill(uint8_t *buf, size_t len, uint64_t seed, bool compressible)
{
	if (!compressible) {
		tu_pattern(buf, len, seed, 0);
		return;
	}
	for (size_t i = 0; i < len; i += 64) {
		uint8_t b;
		tu_pattern(&b, 1, seed, i / 64);
		memset(buf + i, b, len - i < 64 ? len - i : 64);
	}
}

/* Read [off, off + len) of blob id and compare with src. */
static void check_range(store_txn *txn, uint64_t id, uint64_t blen, uint64_t off, size_t len,
                        const char *what)
{
	size_t got = SIZE_MAX, want = off >= blen ? 0 : (blen - off < len ? blen - off : len);
	int rc = store_blob_read(txn, id, off, dst, len, &got);

	CHECKF(rc == 0, "%s: read of %zu bytes at %" PRIu64 " returned %d", what, len, off, rc);
	CHECKF(got == want,
	       "%s: read of %zu bytes at %" PRIu64 " of a %" PRIu64
	       "-byte blob gave %zu bytes, expected %zu",
	       what, len, off, blen, got, want);
	CHECKF(tu_memdiff(dst, src + off, got) < 0, "%s: bytes at %" PRIu64 " differ at +%lld",
	       what, off, tu_memdiff(dst, src + off, got));
}

static void check_blob(store *s, store_txn *txn, uint64_t id, uint64_t len, const char *what)
{
	struct store_blob_info bi;
	size_t got = 0;

	CHECK_OK(store_blob_stat(txn, id, &bi));
	CHECK_EQ(bi.id, id);
	CHECK_EQ(bi.length, len);
	check_range(txn, id, len, 0, len, what);
	for (int i = 0; i < 40 && len; i++) {
		uint64_t off = tu_rng_below(&rng, len + 1);
		size_t n = (size_t)tu_rng_below(&rng, tu_rng_chance(&rng, 1, 2) ? 300 : 200000);
		check_range(txn, id, len, off, n, what);
	}
	/* reading at the end gives nothing */
	check_range(txn, id, len, len, 10, what);
	/* and through the location, without the txn's lookup */
	CHECK_OK(store_blob_read_at(s, &bi, 0, dst, len, &got));
	CHECK_EQ(got, len);
	CHECKF(tu_memdiff(dst, src, len) < 0, "%s: store_blob_read_at differs", what);
	if (len > 10) {
		uint64_t off = tu_rng_below(&rng, len - 10);
		CHECK_OK(store_blob_read_at(s, &bi, off, dst, 10, &got));
		CHECK_EQ(got, 10);
		CHECK(memcmp(dst, src + off, 10) == 0);
	}
}

static void sizes(store *s)
{
	uint32_t ps = store_page_size(s);
	const uint64_t all[] = {0,      1,          ps - 1,     ps,    ps + 1, 2 * ps - 1,
	                        2 * ps, 2 * ps + 1, 65535,      65536, 65537,  3 * 65536 + 7,
	                        MIB,    MIB + 1,    64ull * MIB};
	char what[128];
	unsigned n = 0;
	double t0 = tu_now();

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		for (int mode = 0; mode < 4; mode++) {
			bool lz4 = mode & 1, comp = mode & 2;
			uint64_t len = all[i], id = 0, seed = tu_rng_next(&rng);
			struct store_blob_info bi;
			store_txn *w;

			/* 64 MiB only as random/plain and compressible/lz4 */
			if (len == 64ull * MIB && (lz4 != comp))
				continue;
			snprintf(what, sizeof(what), "blob of %" PRIu64 " bytes, %s data, %s", len,
			         comp ? "compressible" : "random", lz4 ? "lz4" : "no compression");
			tu_context("%s", what);
			fill(src, len, seed, comp);
			w = st_write(s);
			CHECK_OK(store_blob_put(w, src, len, lz4 ? STORE_BLOB_LZ4 : 0, &id));
			CHECK_OK(store_blob_stat(w, id, &bi));
			CHECK_EQ(bi.length, len);
			CHECK_EQ(bi.refs, 1);
			CHECKF(bi.npages * ps >= bi.stored,
			       "%s: %" PRIu64 " pages hold %" PRIu64 " stored bytes", what,
			       bi.npages, bi.stored);
			if (!lz4 || !comp) {
				CHECKF(!(bi.flags & STORE_BLOB_LZ4), "%s: stored as lz4", what);
				CHECKF(bi.stored >= len,
				       "%s: stored %" PRIu64 " bytes < its length", what,
				       bi.stored);
			} else if (len >= 65536) {
				CHECKF((bi.flags & STORE_BLOB_LZ4) && bi.stored < len / 2,
				       "%s: not compressed (flags %#x, stored %" PRIu64 ")", what,
				       bi.flags, bi.stored);
			}
			check_blob(s, w, id, len, what);
			st_commit(w, tu_rng_chance(&rng, 1, 3));
			/* committed: a read txn, then delete it */
			{
				store_txn *rt = st_read(s);
				check_blob(s, rt, id, len, what);
				store_txn_abort(rt);
			}
			w = st_write(s);
			CHECK_OK(store_blob_delete(w, id));
			CHECK_RC(store_blob_stat(w, id, &bi), -ENOENT);
			st_commit(w, false);
			n++;
		}
	}
	printf("sizes: %u blobs written, read and deleted, %.1f s\n", n, tu_now() - t0);
}

static void prepared(store *s)
{
	store_blob_prep *p = NULL;
	store_txn *w;
	uint64_t id = 0, len = 300000;

	tu_context("prepared blob");
	fill(src, len, 77, true);
	CHECK_OK(store_blob_prepare(s, src, len, STORE_BLOB_LZ4, &p));
	w = st_write(s);
	CHECK_OK(store_blob_put_prepared(w, p, &id));
	store_blob_prep_free(p);
	check_blob(s, w, id, len, "prepared blob");
	st_commit(w, false);
	w = st_write(s);
	CHECK_OK(store_blob_delete(w, id));
	st_commit(w, false);
}

/* STORE_BLOB_BORROW: the prep points at the caller's bytes when it stores
 * them as is; the blob must hold exactly those bytes, whatever the caller
 * does with its buffer after the prep is freed. */
static void borrowed(store *s)
{
	static const struct {
		size_t len;
		bool compressible;
		unsigned flags;
	} cases[] = {
		{65536, false, STORE_BLOB_BORROW},
		{65536, true, STORE_BLOB_BORROW | STORE_BLOB_LZ4},
		{65536, false, STORE_BLOB_BORROW | STORE_BLOB_LZ4},
		{1000, false, STORE_BLOB_BORROW},
		{0, false, STORE_BLOB_BORROW},
		{200000, false, STORE_BLOB_BORROW}, /* segmented: copied anyway */
	};
	tu_context("borrowed prepared blobs");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		store_blob_prep *p = NULL;
		store_txn *w;
		uint64_t id = 0;
		uint8_t *mine = malloc(cases[i].len + 1);
		CHECK(mine != NULL);
		fill(src, cases[i].len, 500 + i, cases[i].compressible);
		memcpy(mine, src, cases[i].len);
		CHECK_OK(store_blob_prepare(s, mine, cases[i].len, cases[i].flags, &p));
		w = st_write(s);
		CHECK_OK(store_blob_put_prepared(w, p, &id));
		store_blob_prep_free(p);
		memset(mine, 0xAB, cases[i].len + 1); /* the caller reuses its buffer */
		free(mine);
		check_blob(s, w, id, cases[i].len, "borrowed prepared blob");
		st_commit(w, false);
		w = st_read(s);
		check_blob(s, w, id, cases[i].len, "borrowed prepared blob, committed");
		store_txn_abort(w);
	}
}

/* The writer: pieces in random order, some ranges never written (zeros). */
static void writer(store *s)
{
	const uint64_t lens[] = {1, 4096, 200000, MIB + 123, 3 * MIB};
	unsigned pieces_total = 0;

	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		for (int mode = 0; mode < 2; mode++) {
			uint64_t len = lens[i], id = 0, off;
			uint64_t cuts[64], ncut = 0;
			size_t order[64];
			store_blob_writer *bw = NULL;
			store_txn *w;
			char what[96];

			snprintf(what, sizeof(what), "writer blob of %" PRIu64 " bytes%s", len,
			         mode ? ", lz4" : "");
			tu_context("%s", what);
			fill(src, len, tu_rng_next(&rng), mode == 1);
			/* cut [0, len) into pieces at random points */
			cuts[ncut++] = 0;
			for (off = 0; ncut < 63;) {
				off += tu_rng_range(&rng, 1, len / 8 + 1);
				if (off >= len)
					break;
				cuts[ncut++] = off;
			}
			cuts[ncut] = len;
			for (size_t j = 0; j < ncut; j++)
				order[j] = j;
			for (size_t j = ncut; j > 1; j--) {
				size_t r = tu_rng_below(&rng, j), t = order[j - 1];
				order[j - 1] = order[r];
				order[r] = t;
			}
			w = st_write(s);
			CHECK_OK(store_blob_writer_open(w, len, mode ? STORE_BLOB_LZ4 : 0, &bw));
			for (size_t j = 0; j < ncut; j++) {
				size_t p = order[j];
				uint64_t a = cuts[p], b = cuts[p + 1];
				/* leave about one piece in six unwritten: it must read as zeros */
				if (ncut > 1 && tu_rng_chance(&rng, 1, 6)) {
					memset(src + a, 0, b - a);
					continue;
				}
				CHECK_OK(store_blob_writer_write(bw, a, src + a, b - a));
				pieces_total++;
			}
			CHECK_OK(store_blob_writer_finish(bw, &id));
			check_blob(s, w, id, len, what);
			st_commit(w, false);
			w = st_write(s);
			check_blob(s, w, id, len, what);
			CHECK_OK(store_blob_delete(w, id));
			st_commit(w, false);
		}
	}
	/* an aborted writer leaves nothing behind */
	{
		store_txn *w = st_write(s);
		store_blob_writer *bw = NULL;
		struct store_stats a, b;
		CHECK_OK(store_stats(w, &a));
		CHECK_OK(store_blob_writer_open(w, MIB, 0, &bw));
		CHECK_OK(store_blob_writer_write(bw, 0, src, 100000));
		store_blob_writer_abort(bw);
		CHECK_OK(store_stats(w, &b));
		CHECK_EQ(b.blob_count, a.blob_count);
		st_commit(w, true);
		w = st_read(s);
		st_verify_clean(w, STORE_VERIFY_FULL, "after an aborted blob writer");
		store_txn_abort(w);
	}
	printf("writer: %u pieces written out of order\n", pieces_total);
}

static void refcounts(store *s)
{
	store_txn *w, *rt;
	uint64_t id = 0, id2 = 0, len = 70000;
	struct store_blob_info bi;
	struct store_stats a, b;
	size_t got;

	tu_context("refcounts");
	fill(src, len, 5, false);
	rt = st_read(s);
	CHECK_OK(store_stats(rt, &a));
	store_txn_abort(rt);
	w = st_write(s);
	CHECK_OK(store_blob_put(w, src, len, 0, &id));
	CHECK_OK(store_blob_share(w, id));
	CHECK_OK(store_blob_share(w, id));
	CHECK_OK(store_blob_stat(w, id, &bi));
	CHECK_EQ(bi.refs, 3);
	st_commit(w, true);
	rt = st_read(s);
	CHECK_OK(store_stats(rt, &b));
	CHECK_EQ(b.blob_count, a.blob_count + 1);
	CHECK_EQ(b.blob_logical_bytes, a.blob_logical_bytes + len);
	store_txn_abort(rt);
	for (uint32_t left = 2; left > 0; left--) {
		w = st_write(s);
		CHECK_OK(store_blob_delete(w, id));
		CHECK_OK(store_blob_stat(w, id, &bi));
		CHECK_EQ(bi.refs, left);
		check_range(w, id, len, 0, len, "blob with references left");
		st_commit(w, false);
	}
	w = st_write(s);
	CHECK_OK(store_blob_delete(w, id));
	CHECK_RC(store_blob_stat(w, id, &bi), -ENOENT);
	CHECK_RC(store_blob_read(w, id, 0, dst, 10, &got), -ENOENT);
	CHECK_RC(store_blob_delete(w, id), -ENOENT);
	CHECK_RC(store_blob_share(w, id), -ENOENT);
	st_commit(w, true);
	rt = st_read(s);
	CHECK_RC(store_blob_stat(rt, id, &bi), -ENOENT);
	CHECK_OK(store_stats(rt, &b));
	CHECK_EQ(b.blob_count, a.blob_count);
	CHECK_EQ(b.blob_logical_bytes, a.blob_logical_bytes);
	store_txn_abort(rt);

	/* a put in an aborted txn never existed */
	w = st_write(s);
	CHECK_OK(store_blob_put(w, src, len, 0, &id2));
	store_txn_abort(w);
	rt = st_read(s);
	CHECK_RC(store_blob_stat(rt, id2, &bi), -ENOENT);
	st_verify_clean(rt, STORE_VERIFY_FULL, "after refcounts");
	store_txn_abort(rt);
}

static void move(store *s)
{
	store_txn *w;
	uint64_t x = 0, y = 0, target = 0, len = 3 * 65536;
	struct store_blob_info bi, moved;
	uint32_t ps = store_page_size(s);

	tu_context("store_blob_move");
	w = st_write(s);
	fill(src, len, 9, false);
	CHECK_OK(store_blob_put(w, src, len, 0, &x));
	CHECK_OK(store_blob_put(w, src, len, 0, &y));
	st_commit(w, true);
	w = st_write(s);
	CHECK_OK(store_blob_delete(w, x));
	st_commit(w, true);
	w = st_write(s);
	CHECK_OK(store_blob_stat(w, y, &bi));
	CHECK_OK(store_find_free(w, bi.npages, UINT64_MAX, &target));
	CHECK_OK(store_blob_move(w, y, target));
	CHECK_OK(store_blob_stat(w, y, &moved));
	CHECK_EQ(moved.pgno, target);
	CHECK_EQ(moved.length, len);
	check_range(w, y, len, 0, len, "moved blob");
	st_commit(w, true);
	(void)ps;
	w = st_write(s);
	check_range(w, y, len, 0, len, "moved blob, committed");
	CHECK_OK(store_blob_delete(w, y));
	st_commit(w, true);
}

/* A byte changed in a blob's stored bytes is caught with -EIO. */
static void corruption(void)
{
	store *s;
	store_txn *w;
	uint64_t ids[2], len = MIB;
	struct store_blob_info bi[2];
	uint32_t ps;
	unsigned cases = 0;
	int fd;

	for (int b = 0; b < 2; b++) {
		s = st_open(path, 0, 0);
		ps = store_page_size(s);
		w = st_write(s);
		fill(src, len, 100 + (uint64_t)b, b == 1);
		CHECK_OK(store_blob_put(w, src, len, b == 1 ? STORE_BLOB_LZ4 : 0, &ids[b]));
		CHECK_OK(store_blob_stat(w, ids[b], &bi[b]));
		st_commit(w, true);
		CHECK_OK(store_close(s));
	}
	fd = open(path, O_RDWR);
	CHECK(fd >= 0);
	for (int b = 0; b < 2; b++) {
		uint64_t offs[5] = {0, bi[b].stored - 1, bi[b].stored / 2,
		                    tu_rng_below(&rng, bi[b].stored),
		                    tu_rng_below(&rng, bi[b].stored)};
		for (int i = 0; i < 5; i++) {
			uint64_t at = bi[b].pgno * ps + offs[i];
			uint8_t orig, bad;
			store_txn *rt;
			size_t got = 0;
			int rc;

			tu_context("blob %d (%s) corrupted at stored byte %" PRIu64, b,
			           b ? "lz4" : "plain", offs[i]);
			CHECK(pread(fd, &orig, 1, (off_t)at) == 1);
			bad = orig ^ (uint8_t)(1u << tu_rng_below(&rng, 8));
			CHECK(pwrite(fd, &bad, 1, (off_t)at) == 1);
			s = st_open(path, STORE_RDONLY, 0);
			rt = st_read(s);
			rc = store_blob_read(rt, ids[b], 0, dst, len, &got);
			CHECKF(rc == -EIO,
			       "blob %" PRIu64 " with a bad byte at stored offset %" PRIu64
			       " of %" PRIu64 ": read returned %d, expected -EIO",
			       ids[b], offs[i], bi[b].stored, rc);
			CHECK(st_verify_count(rt, STORE_VERIFY_PAGES) > 0);
			/* the other blob is unaffected */
			fill(src, len, 100 + (uint64_t)(1 - b), b == 0);
			check_range(rt, ids[1 - b], len, 0, len, "the undamaged blob");
			store_txn_abort(rt);
			CHECK_OK(store_close(s));
			CHECK(pwrite(fd, &orig, 1, (off_t)at) == 1);
			cases++;
		}
	}
	close(fd);
	s = st_open(path, 0, 0);
	w = st_read(s);
	fill(src, len, 100, false);
	check_range(w, ids[0], len, 0, len, "blob restored");
	st_verify_clean(w, STORE_VERIFY_FULL, "blobs restored");
	store_txn_abort(w);
	CHECK_OK(store_close(s));
	printf("corruption: %u damaged blob bytes caught\n", cases);
}

static int run(void)
{
	store *s;
	store_txn *rt;
	double t0 = tu_now();

	tu_rng_seed(&rng, tu_seed());
	bufsize = 64 * MIB + 65536;
	src = malloc(bufsize);
	dst = malloc(bufsize);
	CHECK(src && dst);
	tu_path(path, "blob.img");
	s = st_open(path, STORE_CREATE, 0);
	sizes(s);
	prepared(s);
	borrowed(s);
	writer(s);
	refcounts(s);
	move(s);
	rt = st_read(s);
	st_verify_clean(rt, STORE_VERIFY_FULL, "after the blob tests");
	store_txn_abort(rt);
	CHECK_OK(store_close(s));
	corruption();
	free(src);
	free(dst);
	printf("blob tests: %.1f s\n", tu_now() - t0);
	return 0;
}

int main(int argc, char **argv)
{
	return tu_main(argc, argv, run);
}
