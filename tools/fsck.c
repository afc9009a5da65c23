/*
 * fsck.c — fsck.slatefs: check an unmounted image, and repair it.
 *
 *   fsck.slatefs [-n | -y] [--level header|pages|full] [--progress]
 *                [-f] [-v] [--no-orphans] IMAGE
 *
 * The check: both commit slots; the store's verify at the chosen level
 * (header: the slots and the state's roots; pages: every page's and blob's
 * checksum; full: the structure of every tree, the blob indexes, overlapping
 * blobs and the free map against the reachable pages); and at full the
 * filesystem cross-checks of fs/check.c (nlink against entries, entries of
 * missing inodes, entries against cookie rows, lost inodes and orphan rows,
 * chunks of no file or past EOF or of missing blobs, blob references and
 * leaked blobs, sizes and stored bytes).
 *
 * The repair (-y, or a yes to the question asked per kind of problem on a
 * terminal) happens in ONE write txn of the store, committed durably at the
 * end: check, repair one stage (fs/repair.h), check again, until nothing
 * fsck may repair is left; an interrupted repair leaves the image as it was.
 * Damage to the store itself (a checksum, a tree's structure) is never
 * repaired: with it, fsck repairs nothing, since what it would read to
 * repair may be wrong.
 *
 * Exit status (as e2fsck): 0 no problem, 1 problems found and all repaired,
 * 4 problems left, 8 the check could not run (cannot open, mounted, I/O
 * error), 16 usage error.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "repair.h"
#include "slatefs.h"

enum { EXIT_CLEAN = 0, EXIT_FIXED = 1, EXIT_LEFT = 4, EXIT_OPER = 8, EXIT_USAGE = 16 };
enum { MAX_ROUNDS = 8 };

struct fsck {
	const char *img;
	enum store_verify_level level;
	bool repair;     /* a write txn: -y, or questions on a terminal */
	bool ask;        /* ask per kind of problem */
	bool bar;        /* draw a progress bar */
	bool no_orphans;
	store *s;
	store_txn *txn;
	/* the findings of the current round */
	struct sfs_finding *f;
	size_t n, cap;
	uint64_t store_damage; /* damage to the store's structure: no repair at all */
	uint64_t *bad_blobs;   /* blobs whose data is damaged (the rest can be repaired) */
	size_t nbad, capbad;
	uint64_t slot_bad;     /* damaged commit slots */
	bool slot_fixed;       /* the commit will rewrite them */
	/* every sentence printed so far (later rounds print only new ones) */
	char **seen;
	size_t nseen, capseen;
	size_t new_msgs; /* sentences first seen in the current round */
	int answer[SFS_FIX_COUNT]; /* 0 not asked, 1 yes, -1 no */
	bool yes_all;
	struct store_verify_report vr;
	struct sfs_check_report cr;
	/* progress bar */
	const char *phase;
	struct timespec last_draw;
	bool drawn;
};

static int verbose;
static bool opening;         /* while the image opens, the store's word ... */
static char open_why[256];   /* ... is kept to say why it did not */

static void log_store(void *ctx, int level, const char *msg)
{
	(void)ctx;
	if (opening && level <= STORE_LOG_WARNING && !verbose) {
		const char *p = strstr(msg, ": ");
		p = p ? p + 2 : msg;
		if (strncmp(p, "not a slatefs image (", 21) == 0) {
			snprintf(open_why, sizeof(open_why), "%s", p + 21);
			open_why[strcspn(open_why, ")")] = 0;
		} else {
			snprintf(open_why, sizeof(open_why), "%s", p);
		}
		return;
	}
	if (level <= STORE_LOG_WARNING || verbose)
		fprintf(stderr, "fsck.slatefs: store: %s\n", msg);
}

/* ---- progress bar ------------------------------------------------------------------ */

static void bar_clear(struct fsck *k)
{
	if (k->drawn) {
		if (isatty(2))
			fputs("\r\033[K", stderr);
		else
			fprintf(stderr, "\r%*s\r", 100, "");
		fflush(stderr);
		k->drawn = false;
	}
}

static void bar_draw(void *ctx, uint64_t done, uint64_t total)
{
	struct fsck *k = ctx;
	struct timespec now;

	if (!k->bar)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	double dt = (double)(now.tv_sec - k->last_draw.tv_sec) +
		    (double)(now.tv_nsec - k->last_draw.tv_nsec) / 1e9;
	if (k->drawn && dt < 0.1 && done < total)
		return;
	k->last_draw = now;
	unsigned pct = total ? (unsigned)(done > total ? 100 : done * 100 / total) : 100;
	int width = 40, fill = (int)(pct * (unsigned)width / 100);
	fprintf(stderr, "\r%-12s [%.*s%*s] %3u%% (%llu/%llu)", k->phase, fill,
		"########################################", width - fill, "", pct,
		(unsigned long long)done, (unsigned long long)total);
	fflush(stderr);
	k->drawn = true;
}

/* ---- findings --------------------------------------------------------------------- */

/* Every sentence printed: a hash set (open addressing), so that a damaged
   image with many problems is not checked in quadratic time. */
static uint64_t str_hash(const char *p)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (; *p; p++)
		h = (h ^ (uint8_t)*p) * 1099511628211ull;
	return h;
}

static bool seen_before(struct fsck *k, const char *msg)
{
	if (2 * (k->nseen + 1) > k->capseen) {
		size_t nc = k->capseen ? k->capseen * 2 : 256;
		char **t = calloc(nc, sizeof(*t));
		if (!t)
			return false;
		for (size_t i = 0; i < k->capseen; i++) {
			if (!k->seen[i])
				continue;
			size_t j = str_hash(k->seen[i]) & (nc - 1);
			while (t[j])
				j = (j + 1) & (nc - 1);
			t[j] = k->seen[i];
		}
		free(k->seen);
		k->seen = t;
		k->capseen = nc;
	}
	size_t j = str_hash(msg) & (k->capseen - 1);
	for (; k->seen[j]; j = (j + 1) & (k->capseen - 1))
		if (strcmp(k->seen[j], msg) == 0)
			return true;
	k->seen[j] = strdup(msg);
	if (k->seen[j])
		k->nseen++;
	k->new_msgs++;
	return false;
}

static void report(struct fsck *k, const char *msg)
{
	if (seen_before(k, msg))
		return;
	bar_clear(k);
	printf("%s: %s\n", k->img, msg);
	fflush(stdout);
}

static void add(struct fsck *k, const struct sfs_finding *f, const char *msg)
{
	if (k->n == k->cap) {
		size_t nc = k->cap ? k->cap * 2 : 64;
		struct sfs_finding *t = realloc(k->f, nc * sizeof(*t));
		if (!t) {
			fprintf(stderr, "fsck.slatefs: out of memory\n");
			exit(EXIT_OPER);
		}
		k->f = t;
		k->cap = nc;
	}
	k->f[k->n++] = *f;
	report(k, msg);
}

static void fs_found(void *ctx, const struct sfs_finding *f, const char *msg)
{
	add(ctx, f, msg);
}

/*
 * The store's problems, by kind (store_verify_ex): the free map's can be
 * rebuilt; a blob whose data is damaged is lost data but leaves every
 * structure sound, so other repairs may go on; any other damage to the store
 * stops every repair.
 */
static void store_problem(void *ctx, const struct store_problem *p)
{
	struct fsck *k = ctx;
	struct sfs_finding f;
	memset(&f, 0, sizeof(f));
	if (p->kind == STORE_PROBLEM_FREE_MAP) {
		f.fix = SFS_FIX_FREE_MAP;
	} else if (p->kind == STORE_PROBLEM_BLOB_DATA) {
		if (k->nbad == k->capbad) {
			size_t nc = k->capbad ? k->capbad * 2 : 16;
			uint64_t *t = realloc(k->bad_blobs, nc * sizeof(*t));
			if (t) {
				k->bad_blobs = t;
				k->capbad = nc;
			}
		}
		if (k->nbad < k->capbad)
			k->bad_blobs[k->nbad++] = p->blob_id;
	} else {
		k->store_damage++;
	}
	add(k, &f, p->msg);
}

/* Which files the damaged blobs hold data of, and where. */
static int tell_bad_blobs(struct fsck *k)
{
	struct sfs_tables t;
	struct sfs_super sb;
	store_cursor *c = NULL;
	int r = sfs_tables_open(k->txn, &t);
	if (r == 0)
		r = sfs_super_read(k->txn, &t, &sb);
	if (r == 0)
		r = store_cursor_open(k->txn, t.chunk, &c);
	if (r == 0)
		r = store_cursor_seek(c, STORE_SEEK_FIRST, NULL, 0);
	while (r == 0) {
		const void *key, *v;
		size_t kl, vl;
		r = store_cursor_get(c, &key, &kl, &v, &vl);
		if (r < 0)
			break;
		if (kl == 16 && vl == 8) {
			uint64_t id = sfs_get_le64(v), idx = sfs_get_be64((const uint8_t *)key + 8);
			for (size_t i = 0; i < k->nbad; i++) {
				char msg[256];
				if (k->bad_blobs[i] != id)
					continue;
				snprintf(msg, sizeof(msg),
					 "inode %llu: bytes %llu..%llu (chunk %llu) are in damaged "
					 "blob %llu: reading them fails with EIO; restore the file "
					 "from a backup",
					 (unsigned long long)sfs_get_be64(key),
					 (unsigned long long)(idx * sb.chunk_size),
					 (unsigned long long)((idx + 1) * sb.chunk_size - 1),
					 (unsigned long long)idx, (unsigned long long)id);
				report(k, msg);
			}
		}
		r = store_cursor_next(c);
	}
	if (c)
		store_cursor_close(c);
	return r == -ENOENT || r == -EIO ? 0 : r;
}

/* Both commit slots: a damaged one is rewritten by the next commit. */
static int check_slots(struct fsck *k)
{
	struct store_slot_info sl[2];
	int r = store_slots(k->s, sl);
	if (r < 0)
		return r;
	k->slot_bad = 0;
	for (int i = 0; i < 2; i++) {
		if (sl[i].valid || k->slot_fixed)
			continue;
		char msg[200];
		struct sfs_finding f;
		memset(&f, 0, sizeof(f));
		f.fix = SFS_FIX_SLOT;
		snprintf(msg, sizeof(msg),
			 "commit slot %d is damaged: the image opened from slot %d (txn %llu); "
			 "if the damaged slot held the later commit, that commit is lost",
			 i, 1 - i, (unsigned long long)sl[1 - i].txnid);
		k->slot_bad++;
		add(k, &f, msg);
	}
	return 0;
}

/* One check of the state k->txn sees; the findings replace the last round's. */
static int check(struct fsck *k)
{
	k->n = 0;
	k->store_damage = 0;
	k->nbad = 0;
	k->new_msgs = 0;
	memset(&k->cr, 0, sizeof(k->cr));
	int r = check_slots(k);
	if (r < 0)
		return r;
	k->phase = "store";
	r = store_verify_ex(k->txn, k->level, store_problem, k->bar ? bar_draw : NULL, k, &k->vr);
	if (r < 0 || k->level < STORE_VERIFY_FULL)
		return r;
	struct sfs_check_cb cb = {.found = fs_found, .progress = k->bar ? bar_draw : NULL, .ctx = k};
	k->phase = "filesystem";
	r = sfs_check_findings(k->txn, &cb, &k->cr);
	bar_clear(k);
	if (r == 0 && k->nbad)
		r = tell_bad_blobs(k);
	return r;
}

static uint64_t problems(const struct fsck *k)
{
	return k->vr.errors + k->cr.errors + k->slot_bad + (k->no_orphans ? k->cr.orphans : 0);
}

/* ---- questions and repairs ----------------------------------------------------------- */

static bool ask(struct fsck *k, enum sfs_fix fix, size_t count)
{
	if (!k->ask || k->yes_all)
		return true;
	char line[64];
	for (;;) {
		printf("%s: %zu problem(s): %s? [y]es [n]o [a]ll yes: ", k->img, count,
		       sfs_fix_what(fix));
		fflush(stdout);
		if (!fgets(line, sizeof(line), stdin)) {
			printf("\n");
			return false;
		}
		if (line[0] == 'y' || line[0] == 'Y')
			return true;
		if (line[0] == 'n' || line[0] == 'N')
			return false;
		if (line[0] == 'a' || line[0] == 'A') {
			k->yes_all = true;
			return true;
		}
	}
}

static void repair_log(void *ctx, const char *msg)
{
	struct fsck *k = ctx;
	bar_clear(k);
	printf("%s: repaired: %s\n", k->img, msg);
}

/*
 * The lowest stage holding a finding that may be repaired, asking first
 * about each kind of finding of that stage not asked about yet; 0 if none.
 */
static int next_stage(struct fsck *k, bool enabled[SFS_FIX_COUNT])
{
	for (int stage = 1; stage <= 4; stage++) {
		size_t count[SFS_FIX_COUNT] = {0};
		for (size_t i = 0; i < k->n; i++)
			if (sfs_fix_stage(k->f[i].fix) == stage)
				count[k->f[i].fix]++;
		bool any = false;
		for (int fix = 0; fix < SFS_FIX_COUNT; fix++) {
			enabled[fix] = false;
			if (!count[fix])
				continue;
			if (!k->answer[fix])
				k->answer[fix] = ask(k, (enum sfs_fix)fix, count[fix]) ? 1 : -1;
			enabled[fix] = k->answer[fix] > 0;
			any |= enabled[fix];
		}
		if (any)
			return stage;
	}
	return 0;
}

/* Check, repair a stage, check again, ... Returns the problems left, or <0. */
static int64_t check_and_repair(struct fsck *k, uint64_t *applied)
{
	size_t last_n = 0;
	*applied = 0;
	for (int round = 0;; round++) {
		int r = check(k);
		if (r < 0)
			return r;
		if (!k->repair)
			break;
		if (round > 0 && k->new_msgs == 0 && k->n == last_n)
			break; /* the last repairs changed nothing the check sees */
		last_n = k->n;
		if (k->store_damage && *applied) {
			/* the repairs must have gone wrong: keep none of them */
			fprintf(stderr, "fsck.slatefs: %s: the store reads as damaged after the "
					"repairs; nothing is changed\n",
				k->img);
			return -EIO;
		}
		if (k->store_damage) {
			printf("%s: the store is damaged in a way fsck cannot repair (%llu "
			       "problem(s)): nothing was repaired; restore from a backup, or copy "
			       "out what still reads (mount -o ro)\n",
			       k->img, (unsigned long long)k->store_damage);
			break;
		}
		bool enabled[SFS_FIX_COUNT];
		int stage = next_stage(k, enabled);
		if (stage == 0)
			break;
		if (round == MAX_ROUNDS) {
			printf("%s: repairs still find new problems after %d rounds: stopping\n",
			       k->img, MAX_ROUNDS);
			break;
		}
		struct sfs_repair_report rr;
		r = sfs_repair(k->txn, k->f, k->n, stage, enabled, repair_log, k, &rr);
		if (r < 0) {
			fprintf(stderr, "fsck.slatefs: %s: a repair failed: %s; nothing was changed\n",
				k->img, strerror(-r));
			return r;
		}
		if (enabled[SFS_FIX_SLOT])
			k->slot_fixed = true;
		*applied += rr.applied;
		if (rr.applied == 0)
			break; /* nothing changed: the next check would find the same */
	}
	return (int64_t)problems(k);
}

/* ---- main ------------------------------------------------------------------------------ */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: fsck.slatefs [-n | -y] [--level header|pages|full] [--progress]\n"
		"                    [-f] [-v] [--no-orphans] IMAGE\n"
		"  -n            check only: open read-only, change nothing\n"
		"  -y            repair every problem that can be repaired, without asking\n"
		"                (without -n or -y: ask on a terminal, else check only)\n"
		"  -p, -a        the same as -y (for fsck(8))\n"
		"  --level L     header: the commit slots and roots; pages: + every checksum;\n"
		"                full (default): + every tree's structure, the free-space map\n"
		"                and the filesystem cross-checks\n"
		"  --progress    a progress bar on standard error (default on a terminal)\n"
		"  -f            accepted for fsck(8); the check is always complete\n"
		"  -v            more output (the store's log)\n"
		"  --no-orphans  count orphan inodes (normal after a crash, reclaimed at\n"
		"                the next mount) as problems: for images unmounted cleanly\n"
		"exit status: 0 clean, 1 problems repaired, 4 problems left, 8 operational\n"
		"error (cannot open, mounted), 16 usage error\n");
}

static int open_image(struct fsck *k)
{
	struct store_options so = {.log = log_store};
	opening = true;
	int r = store_open(k->img, k->repair ? 0 : STORE_RDONLY, &so, &k->s);
	opening = false;
	if (r == 0) {
		if (open_why[0]) /* a warning, e.g. a damaged slot: say it */
			fprintf(stderr, "fsck.slatefs: store: %s\n", open_why);
		return 0;
	}
	bar_clear(k);
	switch (r) {
	case -EBUSY:
		fprintf(stderr, "fsck.slatefs: %s is mounted (in use): unmount it first\n", k->img);
		break;
	case -EINVAL:
		fprintf(stderr, "fsck.slatefs: %s is not a slatefs image%s%s%s\n", k->img,
			open_why[0] ? " (" : "", open_why, open_why[0] ? ")" : "");
		break;
	case -EIO:
		fprintf(stderr, "fsck.slatefs: %s cannot be opened: %s\n", k->img,
			open_why[0] ? open_why : "both commit slots are damaged, or it is truncated");
		break;
	case -EPROTONOSUPPORT:
		fprintf(stderr, "fsck.slatefs: %s uses a newer format than this fsck knows\n",
			k->img);
		break;
	default:
		fprintf(stderr, "fsck.slatefs: cannot open %s: %s\n", k->img, strerror(-r));
	}
	return r;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{"level", required_argument, NULL, 'L'},
		{"progress", no_argument, NULL, 'P'},
		{"no-orphans", no_argument, NULL, 'O'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct fsck k = {.level = STORE_VERIFY_FULL};
	bool opt_n = false, opt_y = false, opt_progress = false;
	int c;

	while ((c = getopt_long(argc, argv, "nfvpayh", lo, NULL)) != -1) {
		switch (c) {
		case 'n':
			opt_n = true;
			break;
		case 'p':
		case 'a':
		case 'y':
			opt_y = true;
			break;
		case 'f':
			break;
		case 'v':
			verbose = 1;
			break;
		case 'O':
			k.no_orphans = true;
			break;
		case 'P':
			opt_progress = true;
			break;
		case 'L':
			if (strcmp(optarg, "header") == 0)
				k.level = STORE_VERIFY_HEADER;
			else if (strcmp(optarg, "pages") == 0)
				k.level = STORE_VERIFY_PAGES;
			else if (strcmp(optarg, "full") == 0)
				k.level = STORE_VERIFY_FULL;
			else {
				fprintf(stderr, "fsck.slatefs: --level: header, pages or full, not '%s'\n",
					optarg);
				return EXIT_USAGE;
			}
			break;
		case 'h':
			usage(stdout);
			return EXIT_CLEAN;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (opt_n && opt_y) {
		fprintf(stderr, "fsck.slatefs: -n and -y exclude each other\n");
		return EXIT_USAGE;
	}
	k.img = argv[optind];
	k.repair = opt_y || (!opt_n && isatty(0));
	k.ask = k.repair && !opt_y;
	k.bar = opt_progress || isatty(2);
	if (open_image(&k) < 0)
		return EXIT_OPER;

	int r = store_txn_begin(k.s, k.repair ? STORE_TXN_WRITE : STORE_TXN_READ, &k.txn);
	uint64_t applied = 0;
	int64_t left = r;
	uint64_t txnid = 0;
	if (r == 0)
		left = check_and_repair(&k, &applied);
	if (left >= 0 && applied) {
		r = store_txn_commit(k.txn, STORE_COMMIT_DURABLE, &txnid);
		k.txn = NULL;
		if (r < 0)
			left = r;
		else if (k.slot_fixed) {
			/* the commit rewrote the damaged slot: say so only if it did */
			struct store_slot_info sl[2];
			if (store_slots(k.s, sl) == 0 && (!sl[0].valid || !sl[1].valid)) {
				printf("%s: a commit slot is still damaged after the repair\n", k.img);
				left++;
			}
		}
	}
	if (k.txn)
		store_txn_abort(k.txn);
	int cr = store_close(k.s);
	bar_clear(&k);
	if (left >= 0 && cr < 0 && applied)
		left = cr;
	for (size_t i = 0; i < k.capseen; i++)
		free(k.seen[i]);
	free(k.seen);
	free(k.bad_blobs);
	if (left < 0) {
		free(k.f);
		fprintf(stderr, "fsck.slatefs: the check of %s could not run: %s%s\n", k.img,
			strerror((int)-left), applied ? " (nothing was changed)" : "");
		return EXIT_OPER;
	}

	static const char *const lname[] = {"", "header", "pages", "full"};
	printf("%s: store: %llu pages, %llu blobs (%llu bytes) checked (level %s), %llu "
	       "problem(s)\n",
	       k.img, (unsigned long long)k.vr.pages, (unsigned long long)k.vr.blobs,
	       (unsigned long long)k.vr.blob_bytes, lname[k.level],
	       (unsigned long long)(k.vr.errors + k.slot_bad));
	if (k.level >= STORE_VERIFY_FULL) {
		printf("%s: filesystem: %llu inodes, %llu directories, %llu entries, %llu chunks "
		       "(%llu bytes), %llu xattrs, %llu orphan(s), %llu problem(s)\n",
		       k.img, (unsigned long long)k.cr.inodes, (unsigned long long)k.cr.dirs,
		       (unsigned long long)k.cr.dirents, (unsigned long long)k.cr.chunks,
		       (unsigned long long)k.cr.data_bytes, (unsigned long long)k.cr.xattrs,
		       (unsigned long long)k.cr.orphans, (unsigned long long)k.cr.errors);
		if (k.cr.orphans)
			printf("%s: %llu orphan inode(s) will be reclaimed at the next mount\n", k.img,
			       (unsigned long long)k.cr.orphans);
	}
	uint64_t found = k.nseen;
	if (applied) {
		uint64_t fixed = found > (uint64_t)left ? found - (uint64_t)left : 0;
		printf("%s: %llu problem(s) found, %llu repaired (%llu change(s), committed as "
		       "txn %llu), %llu left\n",
		       k.img, (unsigned long long)found, (unsigned long long)fixed,
		       (unsigned long long)applied, (unsigned long long)txnid,
		       (unsigned long long)left);
		free(k.f);
		return left ? EXIT_LEFT : EXIT_FIXED;
	}
	if (left) {
		size_t repairable = 0;
		for (size_t i = 0; i < k.n; i++)
			repairable += k.f[i].fix != SFS_FIX_NONE;
		free(k.f);
		if (k.store_damage)
			printf("%s: %llu problem(s) found; the store is damaged in a way fsck cannot "
			       "repair: restore from a backup, or copy out what still reads\n",
			       k.img, (unsigned long long)left);
		else if (k.repair || !repairable)
			printf("%s: %llu problem(s) found, none repaired%s\n", k.img,
			       (unsigned long long)left,
			       repairable ? "" : " (fsck cannot repair them)");
		else
			printf("%s: %llu problem(s) found, %zu of them repairable: run "
			       "fsck.slatefs -y\n",
			       k.img, (unsigned long long)left, repairable);
		return EXIT_LEFT;
	}
	free(k.f);
	printf("%s: clean\n", k.img);
	return EXIT_CLEAN;
}
