/*
 * test_crash.c — crash injection: every state a power cut can leave must
 * open to a committed state that holds every durable commit.
 *
 * A workload (rows, overflow values, blobs put whole / prepared / by the
 * writer in pieces, shares, deletes, table creates and drops, durable and
 * non-durable commits, store_sync, aborts, relocation + shrink + punch
 * rounds, close and reopen) runs with store_options.io_hook recording every
 * write (with a copy of its bytes), sync, truncate, allocate and punch. The
 * model keeps a snapshot of the full contents for each commit, by txn id.
 *
 * Crash point k means: the first k recorded operations were issued. The
 * image is rebuilt from the log: everything up to the last SYNC before k is
 * applied in order; the operations after it (in flight) are dropped,
 * applied in a random order, and writes torn at 512-byte granularity,
 * in several variants per point. Each replay is opened (STORE_NOLOCK,
 * read-write or read-only) and must give a state whose txn id has a
 * snapshot, is >= the last commit known durable at k (a durable commit,
 * store_sync or store_close that had returned), and whose full contents —
 * table list, every row, every blob's length, refcount and bytes — equal
 * that snapshot; store_verify FULL must be clean. Some replays then take a
 * new durable commit and are reopened, to show the recovered image works.
 */
#include "statemodel.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* ---- the I/O log ---- */

struct rec {
	enum store_io_op op;
	uint64_t off, len;
	uint8_t *data; /* WRITE: a copy of the bytes */
};

struct mark {
	size_t at;      /* records issued when the durability was promised */
	uint64_t txnid; /* every commit up to it is durable */
};

static struct {
	pthread_mutex_t mu;
	struct rec *r;
	size_t n, cap;
	uint64_t bytes;
	struct mark *m;
	size_t nm, capm;
} lg = {.mu = PTHREAD_MUTEX_INITIALIZER};

static int io_hook(void *ctx, enum store_io_op op, uint64_t off, const void *buf, uint64_t len)
{
	struct rec *r;

	(void)ctx;
	pthread_mutex_lock(&lg.mu);
	if (lg.n == lg.cap) {
		lg.cap = lg.cap ? lg.cap * 2 : 4096;
		lg.r = realloc(lg.r, lg.cap * sizeof(*lg.r));
		CHECK(lg.r != NULL);
	}
	r = &lg.r[lg.n];
	r->op = op;
	r->off = off;
	r->len = len;
	r->data = NULL;
	if (op == STORE_IO_WRITE) {
		r->data = malloc(len ? len : 1);
		CHECK(r->data != NULL);
		memcpy(r->data, buf, len);
		lg.bytes += len;
	}
	lg.n++;
	pthread_mutex_unlock(&lg.mu);
	return 0;
}

static void mark_durable(uint64_t txnid)
{
	pthread_mutex_lock(&lg.mu);
	if (lg.nm == lg.capm) {
		lg.capm = lg.capm ? lg.capm * 2 : 256;
		lg.m = realloc(lg.m, lg.capm * sizeof(*lg.m));
		CHECK(lg.m != NULL);
	}
	lg.m[lg.nm].at = lg.n;
	lg.m[lg.nm].txnid = txnid;
	lg.nm++;
	pthread_mutex_unlock(&lg.mu);
}

/* ---- the workload ---- */

struct wl {
	struct sm_wl x;
	struct sm m;
	char path[PATH_MAX];
	uint32_t page_size;
	uint64_t last; /* last commit */
	unsigned commits, durable, aborts, syncs, compactions, reopens;
};

static store *wl_open(struct wl *w, unsigned flags)
{
	store *s = NULL;
	int rc = st_try_open(w->path, flags, w->page_size, io_hook, NULL, &s);

	CHECKF(rc == 0, "workload open: %d (%s)", rc, strerror(-rc));
	return s;
}

static void wl_compact(struct wl *w)
{
	uint64_t hi = 0, newpg = 0, got = 0;

	for (int i = 0; i < 40; i++) {
		int rc;
		CHECK_OK(store_highest_used(w->x.w, &hi));
		rc = store_relocate(w->x.w, hi, &newpg);
		if (rc == -ENOSPC)
			break;
		CHECKF(rc == 0, "store_relocate(%" PRIu64 ") = %d", hi, rc);
		CHECKF(newpg < hi, "store_relocate(%" PRIu64 ") moved it up to %" PRIu64, hi,
		       newpg);
	}
	CHECK_OK(store_shrink(w->x.w, &got));
	CHECK_OK(store_punch_free(w->x.w, 65536, &got));
	w->compactions++;
}

static void wl_commit(struct wl *w, bool force_durable)
{
	struct tu_rng *g = &w->x.rng;
	uint64_t x = tu_rng_below(g, 100), built = store_txn_id(w->x.w), id;

	if (x < 10 && !force_durable) {
		/* abort: the model goes back to the last commit */
		struct sm_snap *sn = sm_snap_find(&w->m, w->last);
		store_txn_abort(w->x.w);
		CHECK(sn != NULL);
		sm_restore(&w->m, sn);
		/* a table dropped and created again in the aborted txn left its
		   handle naming the aborted table: take the committed ones */
		store_txn *rt = st_read(w->x.s);
		sm_wl_handles(&w->x, rt);
		store_txn_abort(rt);
		w->aborts++;
	} else {
		bool durable = x >= 70 || force_durable;
		CHECKF(built > w->last,
		       "write txn id %" PRIu64 " not above the last commit %" PRIu64, built,
		       w->last);
		sm_snap_take(&w->m, built);
		id = st_commit(w->x.w, durable);
		CHECK_EQ(id, built);
		w->last = id;
		w->commits++;
		if (durable) {
			mark_durable(id);
			w->durable++;
		} else if (tu_rng_chance(g, 1, 6)) {
			CHECK_OK(store_sync(w->x.s, 0));
			CHECKF(store_durable_txnid(w->x.s) >= id,
			       "store_sync returned, durable txnid %" PRIu64 " < %" PRIu64,
			       store_durable_txnid(w->x.s), id);
			mark_durable(id);
			w->syncs++;
		}
	}
	w->x.w = NULL;
}

static void workload(struct wl *w, unsigned ncommits)
{
	struct tu_rng *g = &w->x.rng;

	w->x.s = wl_open(w, STORE_CREATE);
	w->x.w = st_write(w->x.s);
	sm_wl_init_tables(&w->x);
	wl_commit(w, true);

	for (unsigned c = 0; c < ncommits; c++) {
		tu_context("workload commit %u", c);
		w->x.w = st_write(w->x.s);
		if (c % 25 == 24) {
			wl_compact(w);
			wl_commit(w, true);
			continue;
		}
		for (unsigned i = 0, n = (unsigned)tu_rng_range(g, 1, 25); i < n; i++)
			sm_wl_random_op(&w->x);
		wl_commit(w, false);
		if (tu_rng_chance(g, 1, 60)) {
			store_txn *rt;
			CHECK_OK(store_close(w->x.s));
			mark_durable(w->last);
			w->x.s = wl_open(w, 0);
			rt = st_read(w->x.s);
			sm_wl_handles(&w->x, rt);
			store_txn_abort(rt);
			w->reopens++;
		}
	}
	CHECK_OK(store_close(w->x.s));
	mark_durable(w->last);
}

/* ---- rebuilding an image from the log ---- */

struct img {
	uint8_t *b;
	uint64_t size, cap;
};

static void img_size(struct img *m, uint64_t size)
{
	if (size > m->cap) {
		uint64_t nc = m->cap ? m->cap : 1 << 20;
		while (nc < size)
			nc *= 2;
		m->b = realloc(m->b, nc);
		CHECK(m->b != NULL);
		m->cap = nc;
	}
	if (size > m->size)
		memset(m->b + m->size, 0, size - m->size);
	m->size = size;
}

static void img_write(struct img *m, uint64_t off, const uint8_t *data, uint64_t len)
{
	if (!len)
		return;
	if (off + len > m->size)
		img_size(m, off + len);
	memcpy(m->b + off, data, len);
}

/* Apply one record; tear: NULL = whole, else a RNG deciding each sector. */
static void img_apply(struct img *m, const struct rec *r, struct tu_rng *tear)
{
	switch (r->op) {
	case STORE_IO_WRITE:
		if (!tear) {
			img_write(m, r->off, r->data, r->len);
			break;
		}
		for (uint64_t a = r->off; a < r->off + r->len;) {
			uint64_t end = (a / 512 + 1) * 512;
			if (end > r->off + r->len)
				end = r->off + r->len;
			if (tu_rng_chance(tear, 1, 2))
				img_write(m, a, r->data + (a - r->off), end - a);
			a = end;
		}
		break;
	case STORE_IO_TRUNCATE:
		img_size(m, r->off);
		break;
	case STORE_IO_ALLOCATE:
		if (r->off + r->len > m->size)
			img_size(m, r->off + r->len);
		break;
	case STORE_IO_PUNCH:
		if (r->off < m->size) {
			uint64_t end = r->off + r->len < m->size ? r->off + r->len : m->size;
			memset(m->b + r->off, 0, end - r->off);
		}
		break;
	case STORE_IO_SYNC:
		break;
	}
}

/*
 * The replay file is rewritten for every crash point; writing only the
 * 4 KiB blocks that differ from what it holds (disk) keeps the page cache
 * clean, so that the syncs of read-write opens stay cheap.
 */
static void replay_file_set(struct img *disk, const char *path, const struct img *want)
{
	int fd = open(path, O_RDWR | O_CREAT, 0644);

	CHECK(fd >= 0);
	for (uint64_t off = 0; off < want->size; off += 4096) {
		uint64_t n = want->size - off < 4096 ? want->size - off : 4096;
		if (off + n <= disk->size && memcmp(disk->b + off, want->b + off, n) == 0)
			continue;
		CHECK(pwrite(fd, want->b + off, n, (off_t)off) == (ssize_t)n);
	}
	CHECK(ftruncate(fd, (off_t)want->size) == 0);
	CHECK(close(fd) == 0);
	img_size(disk, 0);
	img_size(disk, want->size);
	if (want->size)
		memcpy(disk->b, want->b, want->size);
}

/* After a read-write open the store may have written: learn what it holds. */
static void replay_file_reread(struct img *disk, const char *path)
{
	uint8_t *b;
	size_t len;

	CHECK_OK(tu_read_file(path, &b, &len));
	img_size(disk, 0);
	img_size(disk, len);
	if (len)
		memcpy(disk->b, b, len);
	free(b);
}

static const char *const mode_name[] = {"in order", "dropped", "reordered+torn", "mixed"};

/* Build the image for crash point k from base (the log applied up to the
 * last sync before k, exclusive of what follows). */
static void build_replay(struct img *out, const struct img *base, size_t first_inflight, size_t k,
                         int mode, struct tu_rng *g)
{
	size_t n = k - first_inflight, *order = malloc((n ? n : 1) * sizeof(size_t));

	CHECK(order != NULL);
	img_size(out, 0);
	img_size(out, base->size);
	if (base->size)
		memcpy(out->b, base->b, base->size);
	for (size_t i = 0; i < n; i++)
		order[i] = first_inflight + i;
	if (mode >= 2) {
		for (size_t i = n; i > 1; i--) {
			size_t j = tu_rng_below(g, i), t = order[i - 1];
			order[i - 1] = order[j];
			order[j] = t;
		}
	}
	for (size_t i = 0; i < n; i++) {
		const struct rec *r = &lg.r[order[i]];
		uint64_t x = tu_rng_below(g, 3);
		switch (mode) {
		case 0:
			img_apply(out, r, NULL);
			break;
		case 1:
			if (tu_rng_chance(g, 1, 2))
				img_apply(out, r, NULL);
			break;
		case 2:
			img_apply(out, r, g);
			break;
		default:
			if (x == 1)
				img_apply(out, r, NULL);
			else if (x == 2)
				img_apply(out, r, g);
			break;
		}
	}
	free(order);
}

static unsigned checked, opened_newer, post_writes;

static const char *const op_name[] = {"WRITE", "SYNC", "TRUNCATE", "ALLOCATE", "PUNCH"};

/* With SLATEFS_CRASH_POINT=k only that point is checked, and the log around
 * it is printed: for reproducing a failure. */
static void dump_records(size_t from, size_t sync_end, size_t k, uint32_t ps)
{
	for (size_t i = from; i < k && i < lg.n; i++) {
		const struct rec *r = &lg.r[i];
		printf("  %s record %zu: %s off %" PRIu64 " (page %" PRIu64 ") len %" PRIu64 "\n",
		       i < sync_end ? "synced   " : "in flight", i, op_name[r->op], r->off,
		       r->off / ps, r->len);
	}
	for (size_t i = 0; i < lg.nm; i++)
		if (lg.m[i].at + 40 >= from && lg.m[i].at <= k)
			printf("  txn %" PRIu64 " known durable after record %zu\n", lg.m[i].txnid,
			       lg.m[i].at);
}

static void check_replay(struct sm *m, int no, const char *path, size_t k, int mode,
                         unsigned variant, uint64_t floor, bool rdonly, bool post)
{
	store *s = NULL;
	store_txn *rt;
	struct sm_snap *sn;
	uint64_t id;
	char what[160];
	int rc;

	snprintf(what, sizeof(what), "crash point %zu of %zu (%s, variant %u, %s open)", k, lg.n,
	         mode_name[mode], variant, rdonly ? "read-only" : "read-write");
	tu_context("%s", what);
	rc = st_try_open(path, STORE_NOLOCK | (rdonly ? STORE_RDONLY : 0), 0, NULL, NULL, &s);
	CHECKF(rc == 0, "%s: open failed: %d (%s); last durable commit %" PRIu64, what, rc,
	       strerror(-rc), floor);
	rt = st_read(s);
	id = store_txn_id(rt);
	CHECKF(id >= floor, "%s: opened txn %" PRIu64 ", but txn %" PRIu64 " was durable", what, id,
	       floor);
	sn = sm_snap_find(m, id);
	CHECKF(sn != NULL, "%s: opened txn %" PRIu64 ", which was never committed", what, id);
	if (id > floor)
		opened_newer++;
	sm_check(rt, sn, false, what);
	st_verify_clean(rt, STORE_VERIFY_FULL, what);
	store_txn_abort(rt);
	if (post && !rdonly) {
		/* the recovered image takes new commits */
		store_txn *w = st_write(s);
		store_table h;
		uint64_t nid;
		CHECK_OK(store_table_create(w, "post-crash", &h));
		CHECK_OK(store_put(w, h, "k", 1, "after", 5, 0));
		nid = st_commit(w, true);
		CHECK(nid > id);
		CHECK_OK(store_close(s));
		s = NULL;
		rc = st_try_open(path, STORE_NOLOCK, 0, NULL, NULL, &s);
		CHECKF(rc == 0, "%s: reopen after a post-crash commit failed: %d", what, rc);
		rt = st_read(s);
		CHECK_EQ(store_txn_id(rt), nid);
		{
			char v[8];
			size_t vl = 0;
			CHECK_OK(store_table_open(rt, "post-crash", &h));
			CHECK_OK(store_get(rt, h, "k", 1, v, sizeof(v), &vl));
			CHECK(vl == 5 && memcmp(v, "after", 5) == 0);
		}
		st_verify_clean(rt, STORE_VERIFY_FULL, "after a commit on a recovered image");
		store_txn_abort(rt);
		post_writes++;
	}
	CHECK_OK(store_close(s));
	checked++;
}

static void log_reset(void)
{
	for (size_t i = 0; i < lg.n; i++)
		free(lg.r[i].data);
	lg.n = 0;
	lg.nm = 0;
	lg.bytes = 0;
}

/* One workload at one page size, then its crash points. */
static void campaign(int no, uint32_t page_size, unsigned ncommits, unsigned target)
{
	struct wl w;
	struct img base = {0}, im = {0}, disk = {0};
	size_t k0, applied = 0, last_sync_end = 0, mi = 0, npoints, variants;
	uint64_t floor = 0;
	unsigned checked0 = checked;
	char path[PATH_MAX];
	const char *only = getenv("SLATEFS_CRASH_POINT");
	const char *only_c = getenv("SLATEFS_CRASH_CAMPAIGN");
	double t0 = tu_now();

	if (only_c && strtoul(only_c, NULL, 10) != (unsigned long)no)
		return;
	log_reset();
	memset(&w, 0, sizeof(w));
	tu_rng_seed(&w.x.rng, tu_seed() + (uint64_t)no);
	w.page_size = page_size;
	w.x.m = &w.m;
	w.x.lim.max_rows = 320;
	w.x.lim.max_blob_bytes = 1536 * 1024;
	w.x.lim.max_blob = 300000;
	w.x.lim.max_value = 20000;
	w.x.buf = malloc(SM_BUF_SIZE);
	CHECK(w.x.buf != NULL);
	tu_path(w.path, "crash-%d.img", no);
	tu_path(path, "replay.img");
	workload(&w, ncommits);
	printf("campaign %d, page size %u: %u commits (%u durable, %u store_sync), %u aborts, %u "
	       "compaction rounds, %u reopens, %u table creates, %u drops; %zu I/O records, %.1f "
	       "MiB written, %.1f s\n",
	       no, page_size, w.commits, w.durable, w.syncs, w.aborts, w.compactions, w.reopens,
	       w.x.creates, w.x.drops, lg.n, (double)lg.bytes / 1048576.0, tu_now() - t0);
	fflush(stdout);

	/* crash points start once the first durable commit had returned */
	k0 = lg.m[0].at;
	npoints = lg.n - k0 + 1;
	variants = target / npoints;
	if (variants < 1)
		variants = 1;
	for (size_t k = k0; k <= lg.n; k++) {
		size_t s = k; /* index of the last SYNC before k, + 1 */
		struct tu_rng g;

		while (s > 0 && lg.r[s - 1].op != STORE_IO_SYNC)
			s--;
		/* base = records [0, s) applied in order */
		while (applied < s)
			img_apply(&base, &lg.r[applied++], NULL);
		last_sync_end = s;
		while (mi < lg.nm && lg.m[mi].at <= k)
			floor = lg.m[mi++].txnid;
		if (only && strtoull(only, NULL, 10) != k)
			continue;
		if (only)
			dump_records(s > 30 ? s - 30 : 0, s, k, page_size);
		for (unsigned v = 0; v < variants; v++) {
			int mode = (int)((k + v) % 4);
			bool rdonly, post;

			if (k == last_sync_end && v > 0)
				break; /* nothing in flight: one variant says it all */
			tu_rng_seed(&g, tu_mix64(tu_seed() ^ ((uint64_t)k << 8) ^ v ^
			                         ((uint64_t)no << 40)));
			rdonly = tu_rng_chance(&g, 1, 2);
			post = tu_rng_chance(&g, 1, 10);
			build_replay(&im, &base, last_sync_end, k, mode, &g);
			replay_file_set(&disk, path, &im);
			check_replay(&w.m, no, path, k, mode, v, floor, rdonly, post);
			if (!rdonly)
				replay_file_reread(&disk, path);
		}
	}
	printf("campaign %d: %u crash points checked (%zu points x up to %zu variants), %.1f s\n",
	       no, checked - checked0, npoints, variants, tu_now() - t0);
	free(base.b);
	free(im.b);
	free(disk.b);
	unlink(path);
	free(w.x.buf);
	sm_free(&w.m);
}

static int run(void)
{
	unsigned scale = tu_scale();
	double t0 = tu_now();

	unsigned sh = tu_shrink();
	campaign(0, 4096, 240 * scale / sh, 3000 * scale / sh);
	campaign(1, 8192, 120 * scale / sh, 1500 * scale / sh);
	printf("crash points checked: %u (%u opened a state newer than the last durable commit; %u "
	       "took a new commit after recovery), %.1f s\n",
	       checked, opened_newer, post_writes, tu_now() - t0);
	CHECKF(checked >= 1000 / tu_shrink() || getenv("SLATEFS_CRASH_POINT") || getenv("SLATEFS_CRASH_CAMPAIGN"),
	       "only %u crash points were checked", checked);
	log_reset();
	free(lg.r);
	free(lg.m);
	return 0;
}

int main(int argc, char **argv)
{
	return tu_main(argc, argv, run);
}
