/*
 * bench_store.c — main of bench-store: runs the same workloads on our store,
 * LMDB, SQLite and a plain file in one run, and prints one line per figure
 *
 *     BENCH <name> <value> <unit>
 *
 * then ratio lines (BENCH ratio_<figure>_vs_<peer> <x> x, where > 1 always
 * means our store did better) and TARGET lines comparing the ratios with the
 * project's goals. Nothing here asserts speed; the program fails only if an
 * engine fails or returns wrong data. See tests/bench/README.md.
 */
#include "bench.h"

#include <dirent.h>
#include <getopt.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/vfs.h>
#include <unistd.h>

enum engine {
	ENG_STORE,
	ENG_LMDB,
	ENG_SQLITE,      /* WAL, synchronous=NORMAL: all workloads */
	ENG_SQLITE_FULL, /* WAL, synchronous=FULL: inserts only */
	ENG_PLAINFILE,
	ENG_COUNT,
};

static const char *const engine_name[ENG_COUNT] = {
	[ENG_STORE] = "store",   [ENG_LMDB] = "lmdb",           [ENG_SQLITE] = "sqlite",
	[ENG_SQLITE_FULL] = "sqlite_full", [ENG_PLAINFILE] = "plainfile",
};

static char bench_dir[4096];

/* Remove the temp dir and whatever an engine left in it (also on bench_die). */
static void remove_temp_dir(void)
{
	DIR *d;
	struct dirent *e;
	char path[4096 + 256];

	if (!bench_dir[0] || !(d = opendir(bench_dir)))
		return;
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", bench_dir, e->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(bench_dir);
	bench_dir[0] = '\0';
}

static uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t env_u64(const char *name, uint64_t dflt)
{
	const char *v = getenv(name);

	return v && *v ? strtoull(v, NULL, 0) : dflt;
}

static void usage(FILE *f)
{
	fputs("usage: bench-store [--n ROWS] [--batch ROWS] [--blob-mib MIB] [--opens K]\n"
	      "                   [--repeat R] [--dir PARENT]\n"
	      "                   [--only store,lmdb,sqlite,sqlite_full,plainfile]\n"
	      "  defaults: --n 1000000 --batch 1000 --blob-mib 1024 --opens 20 --repeat 1\n"
	      "            --dir $TMPDIR or /tmp\n"
	      "  --repeat R runs every engine R times, in turn, and keeps each figure's best\n"
	      "  environment: BENCH_N, BENCH_BLOB_MIB, BENCH_OPENS, BENCH_REPEAT (flags win)\n",
	      f);
}

static unsigned parse_only(const char *list)
{
	unsigned mask = 0;
	char *copy = strdup(list), *save = NULL;

	if (!copy)
		bench_die("out of memory");
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		int e;

		for (e = 0; e < ENG_COUNT; e++)
			if (strcmp(tok, engine_name[e]) == 0)
				break;
		if (e == ENG_COUNT)
			bench_die("--only: unknown engine '%s'", tok);
		mask |= 1u << e;
	}
	free(copy);
	return mask;
}

static void print_fig(const char *engine, const char *what, double v, const char *unit)
{
	if (v < 0)
		return;
	const char *fmt = v >= 100 ? "BENCH %s_%s %.0f %s\n"
			  : v >= 1 ? "BENCH %s_%s %.2f %s\n"
				   : "BENCH %s_%s %.4f %s\n";
	printf(fmt, engine, what, v, unit);
	fflush(stdout);
}

static void print_result(enum engine e, const struct bench_result *r)
{
	const char *n = engine_name[e];

	print_fig(n, "insert", r->insert_ops, "ops/s");
	print_fig(n, "lookup", r->lookup_ops, "ops/s");
	print_fig(n, "scan", r->scan_ops, "rows/s");
	print_fig(n, "blob_write", r->blob_write_mbs, "MiB/s");
	print_fig(n, "blob_read", r->blob_read_mbs, "MiB/s");
	print_fig(n, "open_ms", r->open_ms, "ms");
	print_fig(n, "open_cold_ms", r->open_cold_ms, "ms");
	print_fig(n, "disk", r->disk_mib, "MiB");
}

/* Keep the best of two runs: highest rate, lowest time; disk from the last. */
static double best_hi(double a, double b)
{
	return a > b ? a : b;
}

static double best_lo(double a, double b)
{
	return a < 0 ? b : b < 0 ? a : a < b ? a : b;
}

static void keep_best(struct bench_result *best, const struct bench_result *r)
{
	best->insert_ops = best_hi(best->insert_ops, r->insert_ops);
	best->lookup_ops = best_hi(best->lookup_ops, r->lookup_ops);
	best->scan_ops = best_hi(best->scan_ops, r->scan_ops);
	best->blob_write_mbs = best_hi(best->blob_write_mbs, r->blob_write_mbs);
	best->blob_read_mbs = best_hi(best->blob_read_mbs, r->blob_read_mbs);
	best->open_ms = best_lo(best->open_ms, r->open_ms);
	best->open_cold_ms = best_lo(best->open_cold_ms, r->open_cold_ms);
	best->disk_mib = r->disk_mib;
}

static void print_loadavg(const char *when)
{
	double l[3];

	if (getloadavg(l, 3) == 3)
		printf("NOTE load average %s: %.2f %.2f %.2f (2 cores: more than ~1 means other "
		       "work competes with this run)\n",
		       when, l[0], l[1], l[2]);
}

/* ours / peer for "higher is better" figures; 0 if either is missing. */
static double ratio(double ours, double peer)
{
	return ours > 0 && peer > 0 ? ours / peer : 0;
}

static void print_ratio(const char *what, const char *peer, double x)
{
	if (x > 0)
		printf("BENCH ratio_%s_vs_%s %.2f x\n", what, peer, x);
}

static void print_target(const char *what, double x, const char *op, double goal)
{
	if (x <= 0)
		return;
	bool met = op[0] == '>' ? x >= goal : x < goal;
	printf("TARGET %s %.3f %s %.2f %s\n", what, x, op, goal, met ? "met" : "MISSED");
}

static void print_ratios(const struct bench_result *r)
{
	const struct bench_result *s = &r[ENG_STORE];
	static const int peers[] = {ENG_LMDB, ENG_SQLITE, ENG_SQLITE_FULL, ENG_PLAINFILE};

	for (size_t i = 0; i < sizeof(peers) / sizeof(peers[0]); i++) {
		const struct bench_result *p = &r[peers[i]];
		const char *pn = engine_name[peers[i]];

		print_ratio("insert", pn, ratio(s->insert_ops, p->insert_ops));
		print_ratio("lookup", pn, ratio(s->lookup_ops, p->lookup_ops));
		print_ratio("scan", pn, ratio(s->scan_ops, p->scan_ops));
		print_ratio("blob_write", pn, ratio(s->blob_write_mbs, p->blob_write_mbs));
		print_ratio("blob_read", pn, ratio(s->blob_read_mbs, p->blob_read_mbs));
		/* times: lower is better, so peer / ours */
		print_ratio("open", pn, ratio(p->open_ms, s->open_ms));
	}
	print_target("lookup_vs_lmdb", ratio(s->lookup_ops, r[ENG_LMDB].lookup_ops), ">=", 0.7);
	print_target("insert_vs_lmdb", ratio(s->insert_ops, r[ENG_LMDB].insert_ops), ">=", 1.0);
	print_target("insert_vs_sqlite", ratio(s->insert_ops, r[ENG_SQLITE].insert_ops), ">=", 2.0);
	print_target("insert_vs_sqlite_full", ratio(s->insert_ops, r[ENG_SQLITE_FULL].insert_ops),
		     ">=", 2.0);
	print_target("blob_write_vs_plainfile",
		     ratio(s->blob_write_mbs, r[ENG_PLAINFILE].blob_write_mbs), ">=", 0.7);
	print_target("store_open_ms", s->open_ms, "<", 20.0);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"n", required_argument, NULL, 'n'},     {"batch", required_argument, NULL, 'b'},
		{"blob-mib", required_argument, NULL, 'm'}, {"opens", required_argument, NULL, 'o'},
		{"dir", required_argument, NULL, 'd'},   {"only", required_argument, NULL, 'O'},
		{"repeat", required_argument, NULL, 'r'}, {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct bench_cfg cfg = {
		.n = env_u64("BENCH_N", 1000000),
		.batch = 1000,
		.blob_mib = env_u64("BENCH_BLOB_MIB", 1024),
		.opens = (unsigned)env_u64("BENCH_OPENS", 20),
	};
	const char *parent = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	unsigned only = (1u << ENG_COUNT) - 1;
	unsigned repeat = (unsigned)env_u64("BENCH_REPEAT", 1);
	int opt;

	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'n': cfg.n = strtoull(optarg, NULL, 0); break;
		case 'b': cfg.batch = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'm': cfg.blob_mib = strtoull(optarg, NULL, 0); break;
		case 'o': cfg.opens = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'd': parent = optarg; break;
		case 'O': only = parse_only(optarg); break;
		case 'r': repeat = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc || cfg.n == 0 || cfg.n > UINT32_MAX || cfg.batch == 0 ||
	    cfg.blob_mib == 0 || cfg.opens == 0 || repeat == 0) {
		usage(stderr);
		return 2;
	}

	snprintf(bench_dir, sizeof(bench_dir), "%s/slatefs-bench.XXXXXX", parent);
	if (!mkdtemp(bench_dir))
		bench_die("cannot create a temp dir under %s", parent);
	atexit(remove_temp_dir);
	cfg.dir = bench_dir;

	struct statfs sf;
	if (statfs(bench_dir, &sf) == 0 && sf.f_type == TMPFS_MAGIC)
		printf("NOTE %s is on tmpfs: fsync costs nothing there; use --dir on a real disk\n",
		       parent);

	uint8_t *keys = bench_alloc(cfg.n * BENCH_KEY_LEN);
	uint32_t *order = bench_alloc(cfg.n * sizeof(*order));
	uint8_t *pattern = bench_alloc(BENCH_BLOB_LEN);
	uint64_t rng = 0x51a7ef5ull;
	for (uint64_t i = 0; i < cfg.n; i++) {
		uint64_t a = splitmix64(&rng), b = splitmix64(&rng);
		memcpy(keys + i * BENCH_KEY_LEN, &a, 8);
		memcpy(keys + i * BENCH_KEY_LEN + 8, &b, 8);
	}
	for (uint64_t i = 0; i < cfg.n; i++)
		order[i] = (uint32_t)(splitmix64(&rng) % cfg.n);
	for (size_t i = 0; i < BENCH_BLOB_LEN; i += 8) {
		uint64_t x = splitmix64(&rng);
		memcpy(pattern + i, &x, 8);
	}
	cfg.keys = keys;
	cfg.lookup_order = order;
	cfg.blob_pattern = pattern;

	printf("NOTE rows=%llu batch=%u blob_mib=%llu opens=%u repeat=%u dir=%s\n",
	       (unsigned long long)cfg.n, cfg.batch, (unsigned long long)cfg.blob_mib, cfg.opens,
	       repeat, parent);
	print_loadavg("at start");
	printf("NOTE keys %d B random, values %d B; every write txn is durable except "
	       "sqlite (WAL, synchronous=NORMAL), which does not fsync at commit: "
	       "sqlite_full (synchronous=FULL) is the durable SQLite figure\n",
	       BENCH_KEY_LEN, BENCH_VAL_LEN);
	printf("NOTE sqlite table: kv(k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID; "
	       "sqlite blobs committed with synchronous=FULL\n");
	printf("NOTE blobs: %d B random (incompressible), stored without lz4; "
	       "blob_read is cold (file evicted with posix_fadvise), open_ms is warm\n",
	       BENCH_BLOB_LEN);
	fflush(stdout);

	struct bench_result res[ENG_COUNT];
	for (int e = 0; e < ENG_COUNT; e++)
		bench_result_init(&res[e]);
	/* The plain file goes first, so that the writeback the engines leave
	 * behind (gigabytes of deleted images) never lands on the baseline;
	 * each repetition starts one engine later, and every engine starts on
	 * a settled disk. */
	static const int run_order[ENG_COUNT] = {ENG_PLAINFILE, ENG_STORE, ENG_LMDB, ENG_SQLITE,
						 ENG_SQLITE_FULL};
	for (unsigned rep = 0; rep < repeat; rep++) {
		for (int k = 0; k < ENG_COUNT; k++) {
			int e = run_order[(k + rep) % ENG_COUNT];
			struct bench_result r;

			if (!(only & (1u << e)))
				continue;
			bench_result_init(&r);
			bench_settle();
			switch (e) {
			case ENG_STORE: bench_slate_run(&cfg, &r); break;
			case ENG_LMDB: bench_lmdb_run(&cfg, &r); break;
			case ENG_SQLITE: bench_sqlite_run(&cfg, "NORMAL", false, &r); break;
			case ENG_SQLITE_FULL: bench_sqlite_run(&cfg, "FULL", true, &r); break;
			case ENG_PLAINFILE: bench_plainfile_run(&cfg, &r); break;
			}
			keep_best(&res[e], &r);
		}
	}
	for (int e = 0; e < ENG_COUNT; e++)
		print_result(e, &res[e]);
	print_loadavg("at end");
	print_ratios(res);

	free(keys);
	free(order);
	free(pattern);
	return 0;
}
