/*
 * test_compact_engine.c — the compaction engine (compaction/) against a
 * store, with a small host of its own instead of the filesystem: "files" are
 * rows (ino, index) -> blob id in one table, the batch is one write txn
 * behind a mutex, as in fs/. Checks what is hard to reach through a mount:
 *   1. the seed scenario and its bound, with data and full verify;
 *   2. a snapshot reader held across a pass: the pass completes, the reader
 *      still reads every byte it saw, and the space comes back later;
 *   3. max_size reached by a writer during a pass: nothing half-done;
 *   4. pause, resume, cancel;
 *   5. crash: the process dies at a random write of a pass (fork; the I/O
 *      hook exits at the Nth write), then the image opens, verifies clean,
 *      keeps every file, and a new pass completes — N iterations.
 * SLATEFS_TEST_SCALE multiplies sizes and iterations.
 */
#include "compact.h"
#include "store.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHECK(c)                                                                           \
	do {                                                                               \
		if (!(c)) {                                                                \
			fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #c);       \
			exit(1);                                                           \
		}                                                                          \
	} while (0)
#define OK(x)                                                                              \
	do {                                                                               \
		int _r = (x);                                                              \
		if (_r < 0) {                                                              \
			fprintf(stderr, "FAIL %s:%d: %s = %d (%s)\n", __FILE__, __LINE__, #x, \
				_r, strerror(-_r));                                        \
			exit(1);                                                           \
		}                                                                          \
	} while (0)

enum { CHUNK = 65536 };

struct host {
	store *s;
	store_txn *txn;
	pthread_mutex_t mu;
	store_table files;
	bool broken;
};

static int h_begin(void *ctx, uint64_t bytes, store_txn **txn)
{
	struct host *h = ctx;
	pthread_mutex_lock(&h->mu);
	if (h->broken) {
		pthread_mutex_unlock(&h->mu);
		return -EIO;
	}
	int r = store_txn_reserve(h->txn, bytes);
	if (r < 0) {
		pthread_mutex_unlock(&h->mu);
		return r;
	}
	*txn = h->txn;
	return 0;
}

static void h_end(void *ctx, int err)
{
	struct host *h = ctx;
	if (err < 0)
		h->broken = true;
	pthread_mutex_unlock(&h->mu);
}

static int commit_locked(struct host *h)
{
	int r = store_txn_commit(h->txn, STORE_COMMIT_DURABLE, NULL);
	h->txn = NULL;
	if (r == 0)
		r = store_txn_begin(h->s, STORE_TXN_WRITE, &h->txn);
	if (r < 0)
		h->broken = true;
	return r;
}

static int h_sync(void *ctx)
{
	struct host *h = ctx;
	pthread_mutex_lock(&h->mu);
	int r = h->broken ? -EIO : commit_locked(h);
	pthread_mutex_unlock(&h->mu);
	return r;
}

static void key2(uint8_t *k, uint64_t ino, uint64_t idx)
{
	for (int i = 0; i < 8; i++) {
		k[i] = (uint8_t)(ino >> (56 - 8 * i));
		k[8 + i] = (uint8_t)(idx >> (56 - 8 * i));
	}
}

static uint64_t get_be(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

static int h_file_blobs(void *ctx, uint64_t ino, uint64_t **ids, size_t *n)
{
	struct host *h = ctx;
	size_t cap = 64, k = 0;
	uint64_t *v = malloc(cap * 8);
	pthread_mutex_lock(&h->mu);
	store_cursor *c;
	int r = store_cursor_open(h->txn, h->files, &c);
	uint8_t key[16];
	key2(key, ino, 0);
	if (r == 0)
		r = store_cursor_seek(c, STORE_SEEK_GE, key, 16);
	while (r == 0) {
		const void *kk, *vv;
		size_t kl, vl;
		r = store_cursor_get(c, &kk, &kl, &vv, &vl);
		if (r < 0 || get_be(kk) != ino)
			break;
		if (k == cap)
			v = realloc(v, (cap *= 2) * 8);
		memcpy(&v[k++], vv, 8);
		r = store_cursor_next(c);
	}
	store_cursor_close(c);
	pthread_mutex_unlock(&h->mu);
	*ids = v;
	*n = k;
	return 0;
}

static int h_each_file(void *ctx, int (*cb)(void *, uint64_t), void *cbctx)
{
	(void)ctx;
	(void)cb;
	(void)cbctx;
	return 0; /* layout figures are not tested here */
}

static const struct compact_host host_ops = {
	.step_begin = h_begin,
	.step_end = h_end,
	.sync = h_sync,
	.file_blobs = h_file_blobs,
	.each_file = h_each_file,
};

/* ---- the workload --------------------------------------------------------- */

static unsigned scale = 1;
static char dir[256];

static void fill(uint8_t *b, size_t n, uint64_t seed)
{
	uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		b[i] = (uint8_t)x;
	}
}

/* File f has nchunks chunks; chunk data is a function of (f, chunk). */
static void write_file(struct host *h, uint64_t f, unsigned nchunks)
{
	uint8_t *buf = malloc(CHUNK);
	for (unsigned i = 0; i < nchunks; i++) {
		fill(buf, CHUNK, f * 1000 + i);
		uint64_t id;
		pthread_mutex_lock(&h->mu);
		OK(store_blob_put(h->txn, buf, CHUNK, 0, &id));
		uint8_t k[16];
		key2(k, f, i);
		OK(store_put(h->txn, h->files, k, 16, &id, 8, 0));
		pthread_mutex_unlock(&h->mu);
	}
	free(buf);
}

static void delete_file(struct host *h, uint64_t f, unsigned nchunks)
{
	pthread_mutex_lock(&h->mu);
	for (unsigned i = 0; i < nchunks; i++) {
		uint8_t k[16];
		uint64_t id;
		size_t vl;
		key2(k, f, i);
		OK(store_get(h->txn, h->files, k, 16, &id, 8, &vl));
		OK(store_del(h->txn, h->files, k, 16));
		OK(store_blob_delete(h->txn, id));
	}
	pthread_mutex_unlock(&h->mu);
}

/* Every chunk of file f reads back right through txn. */
static void check_file(store_txn *txn, store_table files, uint64_t f, unsigned nchunks)
{
	uint8_t *want = malloc(CHUNK), *got = malloc(CHUNK);
	for (unsigned i = 0; i < nchunks; i++) {
		uint8_t k[16];
		uint64_t id;
		size_t vl, nr;
		key2(k, f, i);
		OK(store_get(txn, files, k, 16, &id, 8, &vl));
		OK(store_blob_read(txn, id, 0, got, CHUNK, &nr));
		CHECK(nr == CHUNK);
		fill(want, CHUNK, f * 1000 + i);
		CHECK(memcmp(want, got, CHUNK) == 0);
	}
	free(want);
	free(got);
}

static void problem(void *ctx, const char *msg)
{
	(void)ctx;
	fprintf(stderr, "verify: %s\n", msg);
}

static void verify_full(store *s)
{
	store_txn *t;
	struct store_verify_report rep;
	OK(store_txn_begin(s, STORE_TXN_READ, &t));
	OK(store_verify(t, STORE_VERIFY_FULL, problem, NULL, NULL, &rep));
	store_txn_abort(t);
	CHECK(rep.errors == 0);
}

static uint64_t file_size(const char *p)
{
	struct stat st;
	CHECK(stat(p, &st) == 0);
	return (uint64_t)st.st_size;
}

static void open_host(struct host *h, const char *path, bool create, uint64_t max_size,
		      store_io_hook hook)
{
	memset(h, 0, sizeof(*h));
	pthread_mutex_init(&h->mu, NULL);
	struct store_options o = {.max_size = max_size, .io_hook = hook};
	OK(store_open(path, create ? STORE_CREATE | STORE_OVERWRITE : 0, &o, &h->s));
	OK(store_txn_begin(h->s, STORE_TXN_WRITE, &h->txn));
	if (create)
		OK(store_table_create(h->txn, "files", &h->files));
	else
		OK(store_table_open(h->txn, "files", &h->files));
}

static void close_host(struct host *h)
{
	if (h->txn)
		OK(store_txn_commit(h->txn, STORE_COMMIT_DURABLE, NULL));
	OK(store_close(h->s));
}

static struct compact *start(struct host *h, uint64_t rate)
{
	struct compact_host ops = host_ops;
	ops.ctx = h;
	ops.s = h->s;
	struct compact_config cfg;
	compact_config_default(&cfg);
	cfg.autocompact = false;
	cfg.rate = rate;
	struct compact *c;
	OK(compact_start(&ops, &cfg, &c));
	return c;
}

static void run_pass(struct compact *c, struct compact_status *st)
{
	OK(compact_request(c, COMPACT_ALL, UINT64_MAX, 0));
	compact_wait_idle(c);
	compact_get_status(c, st);
}

/* n files of k chunks, every tenth kept. */
static void build(struct host *h, unsigned n, unsigned k)
{
	for (unsigned f = 1; f <= n; f++)
		write_file(h, f, k);
	OK(h_sync(h));
	for (unsigned f = 1; f <= n; f++)
		if (f % 10)
			delete_file(h, f, k);
	OK(h_sync(h));
}

static void check_kept(struct host *h, unsigned n, unsigned k)
{
	store_txn *t;
	OK(store_txn_begin(h->s, STORE_TXN_READ, &t));
	for (unsigned f = 10; f <= n; f += 10)
		check_file(t, h->files, f, k);
	store_txn_abort(t);
}

/* ---- 1. seed scenario -------------------------------------------------------- */

static void t_seed(void)
{
	char path[300];
	snprintf(path, sizeof(path), "%s/seed.img", dir);
	struct host h;
	open_host(&h, path, true, 0, NULL);
	unsigned n = 100 * scale, k = 2;
	build(&h, n, k);
	uint64_t before = file_size(path);
	struct compact *c = start(&h, 0);
	struct compact_status st;
	run_pass(c, &st);
	CHECK(st.passes == 1 && st.failures == 0);
	compact_stop(c);
	uint64_t after = file_size(path);
	struct store_stats ss;
	pthread_mutex_lock(&h.mu);
	OK(store_stats(h.txn, &ss));
	pthread_mutex_unlock(&h.mu);
	uint64_t live = (uint64_t)(n / 10) * k * CHUNK;
	uint64_t meta = (ss.tree_pages + ss.alloc_pages) * ss.page_size;
	uint64_t bound = (uint64_t)((double)(live + meta) * 1.1) + (1u << 20);
	printf("seed: %" PRIu64 " -> %" PRIu64 " bytes, live %" PRIu64 " + meta %" PRIu64
	       ", bound %" PRIu64 ", ratio %.3f, moved %" PRIu64 "\n",
	       before, after, live, meta, bound, (double)after / (double)(live + meta),
	       st.bytes_moved);
	CHECK(after <= bound);
	check_kept(&h, n, k);
	verify_full(h.s);
	close_host(&h);
}

/* ---- 2. a snapshot held across a pass ---------------------------------------- */

static void t_snapshot(void)
{
	char path[300];
	snprintf(path, sizeof(path), "%s/snap.img", dir);
	struct host h;
	open_host(&h, path, true, 0, NULL);
	unsigned n = 60 * scale, k = 2;
	for (unsigned f = 1; f <= n; f++)
		write_file(&h, f, k);
	OK(h_sync(&h));
	store_txn *old;
	OK(store_txn_begin(h.s, STORE_TXN_READ, &old)); /* sees every file */
	for (unsigned f = 1; f <= n; f++)
		if (f % 10)
			delete_file(&h, f, k);
	OK(h_sync(&h));
	uint64_t before = file_size(path);
	struct compact *c = start(&h, 0);
	struct compact_status st;
	run_pass(c, &st);
	CHECK(st.passes == 1 && st.failures == 0);
	uint64_t held = file_size(path);
	/* the old snapshot still reads every file, deleted ones included */
	for (unsigned f = 1; f <= n; f++)
		check_file(old, h.files, f, k);
	store_txn_abort(old);
	run_pass(c, &st);
	CHECK(st.passes == 2 && st.failures == 0);
	uint64_t after = file_size(path);
	printf("snapshot: %" PRIu64 " -> %" PRIu64 " while held (%.1f s), -> %" PRIu64
	       " after\n",
	       before, held, (double)st.last_ms / 1000, after);
	CHECK(after < held);
	compact_stop(c);
	check_kept(&h, n, k);
	verify_full(h.s);
	close_host(&h);
}

/* ---- 3. max_size reached during a pass --------------------------------------- */

struct writer_arg {
	struct host *h;
	int enospc;
	unsigned written;
	volatile bool stop;
};

static void *writer(void *p)
{
	struct writer_arg *w = p;
	uint8_t *buf = malloc(CHUNK);
	for (uint64_t f = 100000; !w->stop; f++) {
		fill(buf, CHUNK, f * 1000);
		uint64_t id;
		pthread_mutex_lock(&w->h->mu);
		int r = store_blob_put(w->h->txn, buf, CHUNK, 0, &id);
		if (r == 0) {
			uint8_t k[16];
			key2(k, f, 0);
			r = store_put(w->h->txn, w->h->files, k, 16, &id, 8, 0);
			CHECK(r == 0 || r == -ENOSPC);
			if (r < 0)
				OK(store_blob_delete(w->h->txn, id));
			else
				w->written++;
		}
		pthread_mutex_unlock(&w->h->mu);
		if (r == -ENOSPC) {
			w->enospc++;
			usleep(2000);
		} else {
			OK(r);
		}
	}
	free(buf);
	return NULL;
}

static void t_max_size(void)
{
	char path[300];
	snprintf(path, sizeof(path), "%s/max.img", dir);
	struct host h;
	unsigned n = 100 * scale, k = 2;
	uint64_t max = (uint64_t)n * k * CHUNK + (4u << 20);
	open_host(&h, path, true, max, NULL);
	build(&h, n, k);
	struct compact *c = start(&h, 0);
	struct writer_arg w = {.h = &h};
	pthread_t th;
	CHECK(pthread_create(&th, NULL, writer, &w) == 0);
	struct compact_status st;
	for (int i = 0; i < 3; i++)
		run_pass(c, &st);
	while (!w.enospc)
		usleep(10000);
	w.stop = true;
	pthread_join(th, NULL);
	printf("max_size: %u chunks written during passes, %d ENOSPC, image %" PRIu64
	       " of %" PRIu64 ", %" PRIu64 " passes, %" PRIu64 " failed\n",
	       w.written, w.enospc, file_size(path), max, st.passes, st.failures);
	CHECK(file_size(path) <= max);
	CHECK(st.passes == 3 && st.failures == 0); /* full: steps narrow or skip */
	compact_stop(c);
	OK(h_sync(&h));
	check_kept(&h, n, k);
	verify_full(h.s);
	close_host(&h);
}

/* ---- 4. pause, resume, cancel ------------------------------------------------- */

static void t_pause_cancel(void)
{
	char path[300];
	snprintf(path, sizeof(path), "%s/pause.img", dir);
	struct host h;
	open_host(&h, path, true, 0, NULL);
	unsigned n = 100 * scale, k = 4;
	build(&h, n, k);
	struct compact *c = start(&h, 0);
	OK(compact_request(c, COMPACT_ALL, 1u << 20, 0)); /* 1 MiB/s: slow */
	struct compact_status st;
	do {
		usleep(20000);
		compact_get_status(c, &st);
	} while (st.bytes_moved == 0);
	OK(compact_pause(c));
	do {
		usleep(20000);
		compact_get_status(c, &st);
	} while (st.state != COMPACT_PAUSED);
	uint64_t moved = st.bytes_moved;
	usleep(300000);
	compact_get_status(c, &st);
	CHECK(st.state == COMPACT_PAUSED && st.bytes_moved == moved);
	OK(compact_resume(c));
	usleep(300000);
	compact_get_status(c, &st);
	CHECK(st.bytes_moved > moved);
	OK(compact_cancel(c));
	compact_wait_idle(c);
	compact_get_status(c, &st);
	CHECK(st.passes_cancelled == 1 && st.passes == 0);
	printf("pause/cancel: paused at %" PRIu64 " bytes, cancelled at %" PRIu64 "\n", moved,
	       st.bytes_moved);
	run_pass(c, &st);
	CHECK(st.passes == 1);
	compact_stop(c);
	check_kept(&h, n, k);
	verify_full(h.s);
	close_host(&h);
}

/* ---- 5. crash in the middle of a pass ---------------------------------------- */

static long crash_at, writes;

static int crash_hook(void *ctx, enum store_io_op op, uint64_t off, const void *buf, uint64_t len)
{
	(void)ctx;
	(void)off;
	(void)buf;
	(void)len;
	if (op == STORE_IO_SYNC)
		return 0;
	if (++writes == crash_at)
		_exit(0); /* as kill -9: nothing more reaches the file */
	return 0;
}

static void copy_file(const char *from, const char *to)
{
	char cmd[700];
	snprintf(cmd, sizeof(cmd), "cp --sparse=always '%s' '%s'", from, to);
	CHECK(system(cmd) == 0);
}

static void t_crash(void)
{
	char base[300], path[300];
	snprintf(base, sizeof(base), "%s/crash-base.img", dir);
	snprintf(path, sizeof(path), "%s/crash.img", dir);
	unsigned n = 300, k = 2;
	struct host h;
	open_host(&h, base, true, 0, NULL);
	build(&h, n, k);
	close_host(&h);
	/* count the writes of a whole pass */
	copy_file(base, path);
	writes = 0;
	crash_at = -1;
	open_host(&h, path, false, 0, crash_hook);
	struct compact *c = start(&h, 0);
	struct compact_status st;
	run_pass(c, &st);
	compact_stop(c);
	close_host(&h);
	long total = writes;
	CHECK(total > 10);
	unsigned iters = 50 * scale, completed = 0;
	srand(12345);
	for (unsigned it = 0; it < iters; it++) {
		copy_file(base, path);
		long at = 1 + rand() % total;
		pid_t pid = fork();
		CHECK(pid >= 0);
		if (pid == 0) {
			writes = 0;
			crash_at = at;
			open_host(&h, path, false, 0, crash_hook);
			struct compact *cc = start(&h, 0);
			run_pass(cc, &st);
			compact_stop(cc);
			close_host(&h);
			_exit(3); /* finished before write number `at` */
		}
		int ws;
		CHECK(waitpid(pid, &ws, 0) == pid && WIFEXITED(ws));
		CHECK(WEXITSTATUS(ws) == 0 || WEXITSTATUS(ws) == 3);
		/* recovery: opens, verifies, keeps every file, and a pass completes */
		open_host(&h, path, false, 0, NULL);
		verify_full(h.s);
		check_kept(&h, n, k);
		c = start(&h, 0);
		run_pass(c, &st);
		CHECK(st.passes == 1 && st.failures == 0);
		compact_stop(c);
		verify_full(h.s);
		check_kept(&h, n, k);
		close_host(&h);
		completed++;
	}
	printf("crash: %u crash points (of %ld writes in a pass) recovered, verified, re-compacted\n",
	       completed, total);
}

int main(void)
{
	const char *sc = getenv("SLATEFS_TEST_SCALE");
	if (sc && atoi(sc) > 0)
		scale = (unsigned)atoi(sc);
	snprintf(dir, sizeof(dir), "/tmp/slatefs-engine.XXXXXX");
	CHECK(mkdtemp(dir));
	t_seed();
	t_snapshot();
	t_max_size();
	t_pause_cancel();
	t_crash();
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		return 1;
	printf("compaction engine: PASS\n");
	return 0;
}
