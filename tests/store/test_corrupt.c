/*
 * test_corrupt.c — damaged images give errors, never crashes and never
 * wrong data.
 *
 * An image is built with two durable commits A (older) and B (newer), so
 * that the two commit slots hold A and B. Then each case damages a copy:
 * bits flipped in a used tree, allocator or blob page (within the blob's
 * stored bytes), a used page zeroed or overwritten by another page
 * (misdirected write), bits flipped in free pages, in the older slot, in the
 * newer slot, in both; a file that is not an image, a zero-length file,
 * truncations, a newer format version. Each case runs in a forked child that
 * opens the copy, reads every table, row and blob and runs store_verify
 * FULL: any value that differs from the model of the state it opened fails
 * the test (wrong data); a signal fails it (crash). Then:
 *   - a used page damaged: open fails, or some read gives -EIO, or verify
 *     reports problems;
 *   - a free page damaged, or the older slot: B opens exactly, clean;
 *   - the newer slot damaged: A (or, if the bits hit bytes the slot does not
 *     cover, B) opens exactly, clean;
 *   - both slots, not an image, zero length: open fails.
 */
#include "statemodel.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
#include <xxhash.h>

#define PS        4096u
#define SLOT_AREA 4096u

static struct sm model;
static uint64_t txn_a, txn_b;
static int newer_slot; /* the slot (0 or 1) holding B */
static uint8_t *orig;
static size_t orig_len;
static char case_path[PATH_MAX];
static unsigned cases_run;

/* ---- what B uses ---- */

struct used {
	uint64_t off, len; /* bytes whose damage must be detected */
	enum store_extent_kind kind;
};

static struct used *used;
static size_t nused;
static uint64_t *free_pages;
static size_t nfree;
static uint64_t used_end; /* end of the highest byte that must be detected */

static void add_used(uint64_t off, uint64_t len, enum store_extent_kind kind)
{
	used = realloc(used, (nused + 1) * sizeof(*used));
	CHECK(used != NULL);
	used[nused].off = off;
	used[nused].len = len;
	used[nused].kind = kind;
	nused++;
	if (off + len > used_end)
		used_end = off + len;
}

static int map_cb(void *ctx, const struct store_extent *e)
{
	store_txn *txn = ctx;

	switch (e->kind) {
	case STORE_EXT_TREE:
	case STORE_EXT_ALLOC:
		for (uint64_t p = e->pgno; p < e->pgno + e->npages; p++)
			add_used(p * PS, PS, e->kind);
		break;
	case STORE_EXT_BLOB: {
		struct store_blob_info bi;
		/* extents of neighbouring blobs may be coalesced: walk them */
		for (uint64_t p = e->pgno; p < e->pgno + e->npages;) {
			struct store_extent one;
			CHECK_OK(store_page_owner(txn, p, &one));
			CHECK(one.kind == STORE_EXT_BLOB);
			CHECK_OK(store_blob_stat(txn, one.blob_id, &bi));
			CHECKF(bi.pgno == one.pgno,
			       "blob %" PRIu64 ": stat says page %" PRIu64 ", page_owner %" PRIu64,
			       one.blob_id, bi.pgno, one.pgno);
			if (bi.stored)
				add_used(bi.pgno * PS, bi.stored, STORE_EXT_BLOB);
			p = one.pgno + (one.npages ? one.npages : 1);
		}
		break;
	}
	case STORE_EXT_FREE:
	case STORE_EXT_PENDING:
	case STORE_EXT_PUNCHED:
		for (uint64_t p = e->pgno; p < e->pgno + e->npages; p++) {
			free_pages = realloc(free_pages, (nfree + 1) * sizeof(*free_pages));
			CHECK(free_pages != NULL);
			free_pages[nfree++] = p;
		}
		break;
	case STORE_EXT_HEADER:
		break;
	}
	return 0;
}

/* ---- building the image ---- */

static void build(const char *path)
{
	struct sm_wl w;
	store *s;
	store_txn *rt;
	struct store_slot_info slots[2];

	memset(&w, 0, sizeof(w));
	tu_rng_seed(&w.rng, tu_seed());
	w.m = &model;
	w.lim.max_rows = 3500;
	w.lim.keep_data0 = true;
	w.lim.max_blob_bytes = 1024 * 1024;
	w.lim.max_blob = 200000;
	w.lim.max_value = 12000;
	w.buf = malloc(SM_BUF_SIZE);
	CHECK(w.buf != NULL);
	s = w.s = st_open(path, STORE_CREATE, PS);
	for (int c = 0; c < 6; c++) {
		uint64_t id;
		w.w = st_write(s);
		if (c == 0) {
			sm_wl_init_tables(&w);
			sm_wl_fill(&w, 0, 3000, 60); /* a tree of many pages */
		}
		for (int i = 0; i < (c < 4 ? 300 : 120); i++)
			sm_wl_random_op(&w);
		sm_snap_take(&model, store_txn_id(w.w));
		id = st_commit(w.w, true);
		txn_a = txn_b;
		txn_b = id;
	}
	CHECK_OK(store_close(s));
	free(w.buf);

	s = st_open(path, STORE_RDONLY | STORE_NOLOCK, 0);
	CHECK_OK(store_slots(s, slots));
	CHECKF(slots[0].valid && slots[1].valid,
	       "after two durable commits both slots must be valid");
	CHECKF((slots[0].txnid == txn_a && slots[1].txnid == txn_b) ||
	               (slots[0].txnid == txn_b && slots[1].txnid == txn_a),
	       "slots hold txns %" PRIu64 " and %" PRIu64 ", the last two commits were %" PRIu64
	       " and %" PRIu64,
	       slots[0].txnid, slots[1].txnid, txn_a, txn_b);
	newer_slot = slots[0].txnid == txn_b ? 0 : 1;
	CHECK(slots[newer_slot].current);
	CHECK(!slots[1 - newer_slot].current);
	CHECK_EQ(slots[0].format_version, STORE_FORMAT_VERSION);
	CHECK_EQ(slots[0].page_size, PS);
	rt = st_read(s);
	CHECK_EQ(store_txn_id(rt), txn_b);
	CHECK_OK(store_space_map(rt, map_cb, rt));
	store_txn_abort(rt);
	CHECK_OK(store_close(s));
	CHECK_OK(tu_read_file(path, &orig, &orig_len));
	{
		unsigned kinds[3] = {0};
		for (size_t i = 0; i < nused; i++)
			kinds[used[i].kind == STORE_EXT_TREE   ? 0
			      : used[i].kind == STORE_EXT_BLOB ? 1
			                                       : 2]++;
		printf("image: %zu bytes, txns A=%" PRIu64 " B=%" PRIu64
		       "; to damage: %u tree pages, "
		       "%u blobs, %u allocator pages (detection expected up to byte %" PRIu64
		       "), %zu free pages\n",
		       orig_len, txn_a, txn_b, kinds[0], kinds[1], kinds[2], used_end, nfree);
	}
	CHECK(nused > 0);
}

/* ---- one case in a child ---- */

struct result {
	int open_rc;
	uint64_t txnid;
	unsigned eio;
	uint64_t vprob;
};

static void probe(const char *what, bool rdonly, int fd)
{
	struct result res;
	store *s = NULL;

	memset(&res, 0, sizeof(res));
	res.open_rc = st_try_open(case_path, STORE_NOLOCK | (rdonly ? STORE_RDONLY : 0), 0, NULL,
	                          NULL, &s);
	if (res.open_rc == 0) {
		store_txn *rt = st_read(s);
		struct sm_snap *sn;
		res.txnid = store_txn_id(rt);
		sn = sm_snap_find(&model, res.txnid);
		CHECKF(sn && (res.txnid == txn_a || res.txnid == txn_b),
		       "%s: opened txn %" PRIu64 ", the slots held %" PRIu64 " and %" PRIu64, what,
		       res.txnid, txn_a, txn_b);
		res.eio = sm_check(rt, sn, true, what);
		res.vprob = st_verify_count(rt, STORE_VERIFY_FULL);
		store_txn_abort(rt);
		store_close(s);
	}
	CHECK(write(fd, &res, sizeof(res)) == (ssize_t)sizeof(res));
}

enum expect {
	DETECT,        /* open fails, or -EIO on read, or verify finds problems */
	INTACT_B,      /* B opens, reads exactly, verifies clean */
	A_OR_B,        /* A or B opens exactly, clean */
	OPEN_FAILS,    /* any error at open */
	NOT_AN_IMAGE,  /* -EINVAL at open */
	DETECT_OR_B,   /* open fails, or B exactly (verify may see the damage) */
	INTACT_A,      /* A opens, reads exactly, verifies clean */
	NEWER_VERSION, /* -EPROTONOSUPPORT at open */
};

static const char *const expect_name[] = {
        "detection", "state B intact",        "state A or B intact", "open to fail",
        "-EINVAL",   "detection or B intact", "state A intact",      "-EPROTONOSUPPORT"};

static void run_case(const uint8_t *img, size_t len, enum expect exp, const char *what)
{
	struct result res;
	int pfd[2], status;
	bool rdonly = tu_mix64(cases_run ^ tu_seed()) % 4 != 0, ok;
	pid_t pid;

	tu_context("case %u: %s", cases_run, what);
	CHECK_OK(tu_write_file(case_path, img, len));
	CHECK(pipe(pfd) == 0);
	fflush(NULL);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		close(pfd[0]);
		probe(what, rdonly, pfd[1]);
		fflush(NULL);
		_exit(0);
	}
	close(pfd[1]);
	memset(&res, 0, sizeof(res));
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECKF(!WIFSIGNALED(status), "case %u (%s): the reader died of signal %d (%s)", cases_run,
	       what, WTERMSIG(status), strsignal(WTERMSIG(status)));
	CHECKF(WEXITSTATUS(status) == 0, "case %u (%s): wrong data or a failed check (above)",
	       cases_run, what);
	CHECK(read(pfd[0], &res, sizeof(res)) == (ssize_t)sizeof(res));
	close(pfd[0]);

	switch (exp) {
	case DETECT:
		ok = res.open_rc < 0 || res.eio > 0 || res.vprob > 0;
		break;
	case INTACT_B:
		ok = res.open_rc == 0 && res.txnid == txn_b && !res.eio && !res.vprob;
		break;
	case A_OR_B:
		ok = res.open_rc == 0 && !res.eio && !res.vprob;
		break;
	case OPEN_FAILS:
		ok = res.open_rc < 0;
		break;
	case NOT_AN_IMAGE:
		ok = res.open_rc == -EINVAL;
		break;
	case NEWER_VERSION:
		ok = res.open_rc == -EPROTONOSUPPORT;
		break;
	case INTACT_A:
		ok = res.open_rc == 0 && res.txnid == txn_a && !res.eio && !res.vprob;
		break;
	case DETECT_OR_B:
	default:
		ok = res.open_rc < 0 || (res.txnid == txn_b && !res.eio);
		break;
	}
	CHECKF(ok,
	       "case %u (%s, %s open): expected %s, got: open %d (%s), txn %" PRIu64
	       ", %u EIO reads, %" PRIu64 " verify problems",
	       cases_run, what, rdonly ? "read-only" : "read-write", expect_name[exp], res.open_rc,
	       strerror(-res.open_rc), res.txnid, res.eio, res.vprob);
	cases_run++;
}

/* ---- cases ---- */

static uint8_t *work;

static void flip_bits(uint8_t *img, uint64_t off, uint64_t len, struct tu_rng *g)
{
	unsigned n = (unsigned)tu_rng_range(g, 1, 4);

	for (unsigned i = 0; i < n; i++) {
		uint64_t at = off + tu_rng_below(g, len);
		img[at] ^= (uint8_t)(1u << tu_rng_below(g, 8));
	}
}

static const char *kind_name(enum store_extent_kind k)
{
	switch (k) {
	case STORE_EXT_TREE:
		return "tree";
	case STORE_EXT_ALLOC:
		return "allocator";
	case STORE_EXT_BLOB:
		return "blob";
	default:
		return "other";
	}
}

static void used_page_flips(struct tu_rng *g, unsigned n)
{
	char what[128];

	for (unsigned i = 0; i < n; i++) {
		const struct used *u;
		/* alternate between pages of each kind so all are covered */
		enum store_extent_kind want = i % 3 == 0   ? STORE_EXT_TREE
		                              : i % 3 == 1 ? STORE_EXT_BLOB
		                                           : STORE_EXT_ALLOC;
		size_t tries = 0;
		do
			u = &used[tu_rng_below(g, nused)];
		while (u->kind != want && ++tries < 64);
		memcpy(work, orig, orig_len);
		flip_bits(work, u->off, u->len, g);
		snprintf(what, sizeof(what), "bits flipped in a %s page at byte %" PRIu64,
		         kind_name(u->kind), u->off);
		run_case(work, orig_len, DETECT, what);
	}
}

static void used_page_replaced(struct tu_rng *g, unsigned n)
{
	char what[128];

	for (unsigned i = 0; i < n; i++) {
		const struct used *u = &used[tu_rng_below(g, nused)], *v;
		if (u->kind == STORE_EXT_BLOB)
			continue;
		memcpy(work, orig, orig_len);
		if (i % 2) {
			memset(work + u->off, 0, PS);
			snprintf(what, sizeof(what), "%s page at byte %" PRIu64 " zeroed",
			         kind_name(u->kind), u->off);
		} else {
			size_t tries = 0;
			do
				v = &used[tu_rng_below(g, nused)];
			while ((v == u || v->kind == STORE_EXT_BLOB) && ++tries < 64);
			if (v == u || v->kind == STORE_EXT_BLOB)
				continue;
			memcpy(work + u->off, orig + v->off, PS);
			snprintf(what, sizeof(what),
			         "%s page at byte %" PRIu64
			         " overwritten by the %s page at %" PRIu64 " (misdirected write)",
			         kind_name(u->kind), u->off, kind_name(v->kind), v->off);
		}
		run_case(work, orig_len, DETECT, what);
	}
}

static void free_page_flips(struct tu_rng *g, unsigned n)
{
	char what[128];

	for (unsigned i = 0; i < n && nfree; i++) {
		uint64_t p = free_pages[tu_rng_below(g, nfree)];
		if ((p + 1) * PS > orig_len)
			continue;
		memcpy(work, orig, orig_len);
		flip_bits(work, p * PS, PS, g);
		snprintf(what, sizeof(what), "bits flipped in free page %" PRIu64, p);
		run_case(work, orig_len, INTACT_B, what);
	}
}

static void slot_flips(struct tu_rng *g, unsigned n)
{
	int newer = newer_slot, older = 1 - newer_slot;
	char what[128];

	for (unsigned i = 0; i < n; i++) {
		/* mostly the first 512 bytes (the slot's fields), sometimes anywhere */
		uint64_t span = tu_rng_chance(g, 3, 4) ? 512 : SLOT_AREA;

		memcpy(work, orig, orig_len);
		flip_bits(work, (uint64_t)older * SLOT_AREA, span, g);
		snprintf(what, sizeof(what), "bits flipped in the older slot (%d, txn %" PRIu64 ")",
		         older, txn_a);
		run_case(work, orig_len, INTACT_B, what);

		memcpy(work, orig, orig_len);
		flip_bits(work, (uint64_t)newer * SLOT_AREA, span, g);
		snprintf(what, sizeof(what), "bits flipped in the newer slot (%d, txn %" PRIu64 ")",
		         newer, txn_b);
		run_case(work, orig_len, A_OR_B, what);
	}
	/* a newer slot damaged for sure (its first bytes) must give exactly A */
	for (unsigned i = 0; i < n / 4 + 1; i++) {
		memcpy(work, orig, orig_len);
		flip_bits(work, (uint64_t)newer * SLOT_AREA, 32, g);
		run_case(work, orig_len, INTACT_A, "the newer slot's first 32 bytes damaged");
	}
	for (unsigned i = 0; i < n / 4 + 1; i++) {
		memcpy(work, orig, orig_len);
		flip_bits(work, 0, 32, g);
		flip_bits(work, SLOT_AREA, 32, g);
		run_case(work, orig_len, OPEN_FAILS, "both slots' first 32 bytes damaged");
	}
	/* a torn slot write: the newer slot half old bytes, half zeros */
	memcpy(work, orig, orig_len);
	memset(work + (uint64_t)newer * SLOT_AREA + 512, 0, SLOT_AREA - 512);
	run_case(work, orig_len, A_OR_B, "the newer slot torn after 512 bytes");
	memcpy(work, orig, orig_len);
	memset(work + (uint64_t)newer * SLOT_AREA, 0, 512);
	run_case(work, orig_len, INTACT_A, "the newer slot's first sector zeroed");
}

static void not_images(struct tu_rng *g)
{
	static const char text[] = "this is a plain text file, not a slatefs image\n";
	size_t n = 64 * 1024;

	tu_rng_fill(g, work, n);
	run_case(work, n, NOT_AN_IMAGE, "64 KiB of random bytes");
	memset(work, 0, n);
	run_case(work, n, NOT_AN_IMAGE, "64 KiB of zeros");
	run_case((const uint8_t *)text, sizeof(text) - 1, NOT_AN_IMAGE, "a short text file");
	run_case(work, 0, OPEN_FAILS, "a zero-length file");
}

static void truncations(struct tu_rng *g)
{
	uint64_t cuts[12];
	int n = 0;
	char what[128];

	cuts[n++] = 100;
	cuts[n++] = SLOT_AREA;
	cuts[n++] = SLOT_AREA + 100;
	cuts[n++] = 2 * SLOT_AREA;
	cuts[n++] = 2 * SLOT_AREA + PS;
	cuts[n++] = orig_len / 2;
	cuts[n++] = used_end - 1;
	cuts[n++] = (used_end - 1) / PS * PS;
	cuts[n++] = orig_len - 1;
	cuts[n++] = tu_rng_range(g, 2 * SLOT_AREA, orig_len - 1);
	for (int i = 0; i < n; i++) {
		uint64_t c = cuts[i];
		if (c >= orig_len)
			continue;
		snprintf(what, sizeof(what), "image truncated to %" PRIu64 " of %zu bytes", c,
		         orig_len);
		/* cutting used bytes must be noticed; cutting only free tail
		 * pages may go unnoticed, but then B must be intact */
		run_case(orig, c, c < used_end ? DETECT : DETECT_OR_B, what);
	}
}

/*
 * A newer format version. Slot layout from store/README.md: magic (8 bytes)
 * at 0, the format version (u32, little-endian) at 8, and in the last 8
 * bytes the XXH3-64 of the 4088 bytes before them.
 */
#define SLOT_VERSION_OFF 8
#define SLOT_SUM_OFF     (SLOT_AREA - 8)

static void set_version(uint8_t *img, int slot, uint32_t version, bool reseal)
{
	uint8_t *p = img + (uint64_t)slot * SLOT_AREA;

	for (int i = 0; i < 4; i++)
		p[SLOT_VERSION_OFF + i] = (uint8_t)(version >> (8 * i));
	if (reseal) {
		uint64_t sum = XXH3_64bits(p, SLOT_SUM_OFF);
		for (int i = 0; i < 8; i++)
			p[SLOT_SUM_OFF + i] = (uint8_t)(sum >> (8 * i));
	}
}

static void newer_version(void)
{
	uint32_t v = STORE_FORMAT_VERSION;

	/* the test's idea of the layout must hold for the real image */
	CHECKF(orig[SLOT_VERSION_OFF] == (uint8_t)v && orig[SLOT_VERSION_OFF + 1] == 0 &&
	               memcmp(orig, "SLATEIMG", 8) == 0,
	       "slot 0 does not start with SLATEIMG and version %u as store/README.md says", v);
	{
		uint8_t sum[8];
		uint64_t want = XXH3_64bits(orig, SLOT_SUM_OFF);
		for (int i = 0; i < 8; i++)
			sum[i] = (uint8_t)(want >> (8 * i));
		CHECKF(memcmp(orig + SLOT_SUM_OFF, sum, 8) == 0,
		       "slot 0 does not end with the XXH3-64 of its first 4088 bytes");
	}
	memcpy(work, orig, orig_len);
	set_version(work, 0, v + 1, true);
	set_version(work, 1, v + 1, true);
	run_case(work, orig_len, NEWER_VERSION, "both slots of format version + 1");
	memcpy(work, orig, orig_len);
	set_version(work, 0, v + 1, false);
	set_version(work, 1, v + 1, false);
	run_case(work, orig_len, OPEN_FAILS, "both slots' version patched, checksums not updated");
	memcpy(work, orig, orig_len);
	set_version(work, newer_slot, v + 1, true);
	/* the latest commit was written by a newer format: opening the older
	 * slot instead would silently roll back (and then overwrite) commits */
	run_case(work, orig_len, NEWER_VERSION,
	         "the current slot of format version + 1 (the older one is version 1)");
}

static int run(void)
{
	struct tu_rng g;
	unsigned scale = tu_scale();
	char path[PATH_MAX];
	double t0 = tu_now();

	tu_rng_seed(&g, tu_seed() ^ 0xc0ffee);
	tu_path(path, "orig.img");
	tu_path(case_path, "case.img");
	build(path);
	work = malloc(orig_len > 65536 ? orig_len : 65536);
	CHECK(work != NULL);

	/* the undamaged image is read exactly (the probe itself works) */
	run_case(orig, orig_len, INTACT_B, "undamaged image");
	used_page_flips(&g, 240 * scale);
	used_page_replaced(&g, 30 * scale);
	free_page_flips(&g, 40 * scale);
	slot_flips(&g, 30 * scale);
	not_images(&g);
	truncations(&g);
	newer_version();
	printf("corruption cases checked: %u, %.1f s\n", cases_run, tu_now() - t0);
	free(work);
	free(orig);
	free(used);
	free(free_pages);
	sm_free(&model);
	return 0;
}

int main(int argc, char **argv)
{
	return tu_main(argc, argv, run);
}
