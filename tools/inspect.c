/*
 * inspect.c — slatefs-inspect (also `slatectl inspect`): a picture of an
 * UNMOUNTED image or a backup, opened read-only. It gathers the model of
 * inspect.h — both commit slots, the tables, the space figures, how file
 * data is laid out, and the space map: every byte of the file from the
 * first to the last, as header, B+tree pages (per table), blobs, allocator
 * pages, free space, punched space (holes in the file, found with
 * SEEK_HOLE/SEEK_DATA) and slack — then prints it as text with a map drawn
 * in characters, as JSON, and/or as an SVG file.
 *
 *   slatefs-inspect [--json] [--svg FILE] [--color[=WHEN]] [--width N]
 *                   [--rows N] [-v] IMAGE
 *
 * On a damaged image, what can be read is shown and what cannot is named.
 * Exit status: 0 shown, 1 the image could not be inspected, or not all of it
 * (mounted, not an image, damaged, I/O error), 2 usage error.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "inspect.h"
#include "schema.h"

static int verbose;
static char last_store_msg[512];

static void store_log(void *ctx, int level, const char *msg)
{
	(void)ctx;
	if (level <= STORE_LOG_WARNING)
		snprintf(last_store_msg, sizeof(last_store_msg), "%s", msg);
	if (verbose)
		fprintf(stderr, "slatefs-inspect: store: %s\n", msg);
}

static void *grow(void *v, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return v;
	size_t nc = *cap ? *cap * 2 : 64;
	void *x = realloc(v, nc * size);
	if (!x) {
		fprintf(stderr, "slatefs-inspect: out of memory\n");
		exit(1);
	}
	*cap = nc;
	return x;
}

/* ---- tables --------------------------------------------------------------- */

static size_t tabcap;

static int table_cb(void *ctx, const struct store_table_info *info)
{
	struct insp *m = ctx;
	m->tables = grow(m->tables, &tabcap, (size_t)m->ntables, sizeof(*m->tables));
	memset(&m->tables[m->ntables], 0, sizeof(m->tables[0]));
	m->tables[m->ntables++].info = *info;
	return 0;
}

static bool glyph_taken(const struct insp *m, char g)
{
	for (int i = 0; i < m->ntables; i++)
		if (m->tables[i].glyph == g)
			return true;
	return false;
}

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static bool glyph_ok(const struct insp *m, char c)
{
	return ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) && !glyph_taken(m, c);
}

/* A letter per table for the terminal map: its initial where that is free
   (first pass), else another letter of its name, else any free letter or
   digit; '?' once those run out. */
static void assign_glyphs(struct insp *m)
{
	static const char spare[] = "abcdefghijklmnopqrstuvwxyz0123456789";
	m->tables[0].glyph = 'S';
	for (int i = 1; i < m->ntables; i++) {
		char c = lower(m->tables[i].info.name[0]);
		m->tables[i].glyph = glyph_ok(m, c) ? c : 0;
	}
	for (int i = 1; i < m->ntables; i++) {
		if (m->tables[i].glyph)
			continue;
		char g = '?';
		for (const char *p = m->tables[i].info.name; *p && g == '?'; p++)
			if (glyph_ok(m, lower(*p)))
				g = lower(*p);
		for (const char *p = spare; *p && g == '?'; p++)
			if (glyph_ok(m, *p))
				g = *p;
		m->tables[i].glyph = g;
	}
}

static int table_index(const struct insp *m, store_table id)
{
	for (int i = 0; i < m->ntables; i++)
		if (m->tables[i].info.id == id)
			return i;
	return -1;
}

/* ---- the space map -------------------------------------------------------- */

struct exts {
	struct store_extent *v;
	size_t n, cap;
};

static int extent_cb(void *ctx, const struct store_extent *e)
{
	struct exts *x = ctx;
	x->v = grow(x->v, &x->cap, x->n, sizeof(*x->v));
	x->v[x->n++] = *e;
	return 0;
}

struct holes {
	uint64_t (*v)[2]; /* [start, end) in bytes */
	size_t n, cap;
};

/* The holes of the file: ranges with no disk blocks (punched, or never
   written). Without SEEK_HOLE support the file has none that we can see. */
static void find_holes(int fd, uint64_t size, struct holes *h)
{
	off_t off = 0;
	while ((uint64_t)off < size) {
		off_t hs = lseek(fd, off, SEEK_HOLE);
		if (hs < 0 || (uint64_t)hs >= size)
			break;
		off_t de = lseek(fd, hs, SEEK_DATA);
		if (de < 0 || (uint64_t)de > size)
			de = (off_t)size;
		h->v = grow(h->v, &h->cap, h->n, sizeof(*h->v));
		h->v[h->n][0] = (uint64_t)hs;
		h->v[h->n][1] = (uint64_t)de;
		h->n++;
		off = de;
	}
}

static void add_run(struct insp *m, const struct insp_run *r)
{
	struct insp_run *last = m->nruns ? &m->runs[m->nruns - 1] : NULL;
	m->kind_bytes[r->kind] += r->len;
	if (r->kind == INSP_TREE && r->table >= 0)
		m->tables[r->table].map_bytes += r->len;
	if (last && last->kind == r->kind && last->off + last->len == r->off &&
	    (r->kind != INSP_TREE || last->table == r->table)) {
		last->len += r->len;
		if (r->kind == INSP_BLOB) {
			last->nblobs += r->nblobs;
			last->last_blob = r->last_blob;
		}
		return;
	}
	m->runs = grow(m->runs, &m->runcap, m->nruns, sizeof(*m->runs));
	m->runs[m->nruns++] = *r;
}

/* Add [r->off, r->off + r->len) split where it meets holes: free space in
   a hole is punched; used space in a hole keeps its kind but is counted. */
static void add_split(struct insp *m, const struct holes *h, size_t *hi, struct insp_run r)
{
	uint64_t end = r.off + r.len;
	while (r.off < end) {
		while (*hi < h->n && h->v[*hi][1] <= r.off)
			(*hi)++;
		struct insp_run piece = r;
		bool in_hole = *hi < h->n && h->v[*hi][0] <= r.off;
		uint64_t stop = end;
		if (in_hole && h->v[*hi][1] < stop)
			stop = h->v[*hi][1];
		if (!in_hole && *hi < h->n && h->v[*hi][0] < stop)
			stop = h->v[*hi][0];
		piece.len = stop - r.off;
		if (in_hole) {
			if (r.kind == INSP_FREE || r.kind == INSP_SLACK)
				piece.kind = INSP_PUNCHED;
			else if (r.kind != INSP_PUNCHED && r.kind != INSP_HEADER)
				m->sparse_used_bytes += piece.len;
		}
		add_run(m, &piece);
		r.off = stop;
		if (r.kind == INSP_BLOB)
			r.nblobs = 0; /* counted once, with the first piece */
	}
}

static enum insp_kind kind_of(const struct store_extent *e)
{
	switch (e->kind) {
	case STORE_EXT_HEADER:
		return INSP_HEADER;
	case STORE_EXT_TREE:
		return e->table == UINT32_MAX ? INSP_LEAKED : INSP_TREE;
	case STORE_EXT_BLOB:
		return INSP_BLOB;
	case STORE_EXT_ALLOC:
		return INSP_ALLOC;
	case STORE_EXT_FREE:
	case STORE_EXT_PENDING:
		return INSP_FREE;
	case STORE_EXT_PUNCHED:
		return INSP_PUNCHED;
	}
	return INSP_LEAKED;
}

/* Something wrong with what could be read: said on stderr and in JSON. */
static void note(struct insp *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(struct insp *m, const char *fmt, ...)
{
	va_list ap;
	if (m->nerrors == INSP_MAX_ERRORS)
		return;
	va_start(ap, fmt);
	vsnprintf(m->errors[m->nerrors++], sizeof(m->errors[0]), fmt, ap);
	va_end(ap);
}

static int build_map(struct insp *m, store_txn *txn, int fd)
{
	struct exts x = {0};
	struct holes h = {0};
	size_t hi = 0;
	uint64_t ps = m->page_size, map_end = 0;

	int r = store_space_map(txn, extent_cb, &x);
	if (r < 0) {
		free(x.v);
		return r;
	}
	find_holes(fd, m->file_size, &h);
	for (size_t i = 0; i < x.n; i++) {
		const struct store_extent *e = &x.v[i];
		struct insp_run run = {.off = e->pgno * ps, .len = e->npages * ps,
				       .kind = kind_of(e), .table = -1};
		if (run.kind == INSP_TREE)
			run.table = table_index(m, e->table);
		if (run.kind == INSP_BLOB) {
			struct store_blob_info bi;
			run.nblobs = 1;
			run.first_blob = run.last_blob = e->blob_id;
			m->overlap_bytes += e->cut * ps; /* the store cut it */
			if (store_blob_stat(txn, e->blob_id, &bi) == 0) {
				m->lz4_blobs += (bi.flags & STORE_BLOB_LZ4) != 0;
				m->blob_length += bi.length;
				m->blob_stored += bi.stored;
			}
		}
		/* the committed state may reach past a file cut short: clip it */
		if (run.off >= m->file_size)
			continue;
		if (run.off + run.len > m->file_size)
			run.len = m->file_size - run.off;
		/* a damaged image: extents given twice are clipped, gaps shown */
		if (run.off < map_end) {
			uint64_t dup = map_end - run.off < run.len ? map_end - run.off : run.len;
			m->overlap_bytes += dup;
			run.off += dup;
			run.len -= dup;
			if (!run.len)
				continue;
		}
		if (run.off > map_end) {
			struct insp_run gap = {.off = map_end, .len = run.off - map_end,
					       .kind = INSP_UNKNOWN, .table = -1};
			add_split(m, &h, &hi, gap);
		}
		add_split(m, &h, &hi, run);
		map_end = run.off + run.len;
	}
	if (m->overlap_bytes)
		note(m, "the space map: %llu bytes are claimed twice (overlapping blobs?)",
		     (unsigned long long)m->overlap_bytes);
	if (m->kind_bytes[INSP_UNKNOWN])
		note(m, "the space map: %llu bytes are missing from it",
		     (unsigned long long)m->kind_bytes[INSP_UNKNOWN]);
	if (map_end < m->file_size) {
		struct insp_run run = {.off = map_end, .len = m->file_size - map_end,
				       .kind = INSP_SLACK, .table = -1};
		add_split(m, &h, &hi, run);
	}
	/* free runs below the last used byte: what compaction closes */
	uint64_t last_used = 0;
	for (size_t i = 0; i < m->nruns; i++) {
		enum insp_kind k = m->runs[i].kind;
		if (k != INSP_FREE && k != INSP_PUNCHED && k != INSP_SLACK)
			last_used = m->runs[i].off + m->runs[i].len;
	}
	for (size_t i = 0; i < m->nruns; i++) {
		enum insp_kind k = m->runs[i].kind;
		if ((k == INSP_FREE || k == INSP_PUNCHED) &&
		    m->runs[i].off + m->runs[i].len <= last_used &&
		    (i == 0 || (m->runs[i - 1].kind != INSP_FREE &&
				m->runs[i - 1].kind != INSP_PUNCHED)))
			m->interior_free_runs++;
	}
	free(x.v);
	free(h.v);
	return 0;
}

/* ---- the filesystem ------------------------------------------------------- */

/* Files, chunks and how many runs each file's data makes (as measure.c of
   compaction counts them, so that slatectl stats and inspect agree). */
static int fs_layout(struct insp *m, store_txn *txn)
{
	struct sfs_tables t;
	struct sfs_super sb;

	if (sfs_tables_open(txn, &t) < 0 || sfs_super_read(txn, &t, &sb) < 0)
		return 0; /* not a filesystem: a bare store */
	m->fs.present = true;
	snprintf(m->fs.sb.label, sizeof(m->fs.sb.label), "%s", sb.label);
	m->fs.sb.chunk_size = sb.chunk_size;
	m->fs.sb.compress = sb.compress;
	m->fs.sb.created = sb.created;
	struct store_table_info ti;
	if (store_table_stat(txn, t.inode, &ti) == 0)
		m->fs.inodes = ti.entries;

	store_cursor *c;
	int r = store_cursor_open(txn, t.chunk, &c);
	if (r < 0)
		return r;
	uint64_t cur = UINT64_MAX, end = 0, runs = 0, chunks = 0;
	r = store_cursor_seek(c, STORE_SEEK_FIRST, NULL, 0);
	for (;;) {
		const void *k, *v;
		size_t kl, vl;
		uint64_t ino = UINT64_MAX;
		struct store_blob_info bi = {0};
		bool have = false;
		if (r == 0 && (r = store_cursor_get(c, &k, &kl, &v, &vl)) == 0 && kl == 16 &&
		    vl == 8) {
			ino = sfs_get_be64(k);
			have = store_blob_stat(txn, sfs_get_le64(v), &bi) == 0 && bi.npages;
		}
		if (ino != cur || r < 0) { /* the previous file is complete */
			if (chunks) {
				m->fs.files++;
				m->fs.chunks += chunks;
				m->fs.runs += runs;
				if (runs > 1)
					m->fs.fragmented_files++;
			}
			cur = ino;
			end = runs = chunks = 0;
		}
		if (r < 0)
			break;
		if (have) {
			chunks++;
			if (bi.pgno != end)
				runs++;
			end = bi.pgno + bi.npages;
		}
		r = store_cursor_next(c);
	}
	store_cursor_close(c);
	return r == -ENOENT ? 0 : r;
}

/* ---- opening -------------------------------------------------------------- */

static int open_error(const char *img, int r)
{
	switch (-r) {
	case EBUSY:
		fprintf(stderr,
			"slatefs-inspect: %s is mounted (or open in another process): inspect "
			"reads unmounted images and backups only; for a mounted image use "
			"'slatectl stats MOUNTPOINT'\n",
			img);
		return 1;
	case EINVAL:
		fprintf(stderr, "slatefs-inspect: %s is not a slatefs image\n", img);
		break;
	case EPROTONOSUPPORT:
		fprintf(stderr,
			"slatefs-inspect: %s was made by a newer slatefs (format or features "
			"unknown to this one)\n",
			img);
		break;
	case EIO:
		fprintf(stderr,
			"slatefs-inspect: %s is damaged: it cannot be opened (run fsck.slatefs)\n",
			img);
		break;
	default:
		fprintf(stderr, "slatefs-inspect: cannot open %s: %s\n", img, strerror(-r));
		return 1;
	}
	if (last_store_msg[0] && !verbose)
		fprintf(stderr, "slatefs-inspect: (the store says: %s)\n", last_store_msg);
	return 1;
}

/* A part of the picture that could not be read (a damaged page): say what
   and why; the rest is still shown. */
static void lost(struct insp *m, const char *what, int r)
{
	note(m, "cannot read %s: %s%s%s%s", what, strerror(-r), last_store_msg[0] ? " (" : "",
	     last_store_msg, last_store_msg[0] ? ")" : "");
	last_store_msg[0] = 0;
}

static int gather(struct insp *m, store *s, int fd)
{
	store_txn *txn;
	int r;

	m->page_size = store_page_size(s);
	store_uuid(s, m->uuid);
	r = store_slots(s, m->slots);
	if (r == 0)
		r = store_txn_begin(s, STORE_TXN_READ, &txn);
	if (r < 0)
		return r;
	last_store_msg[0] = 0;
	r = store_stats(txn, &m->st);
	if (r < 0)
		lost(m, "the space figures", r);
	else
		m->stats_ok = true;
	/* the store's own trees (catalog, blob index) as table 0 */
	struct store_table_info sys = {.id = STORE_CATALOG};
	snprintf(sys.name, sizeof(sys.name), "(store)");
	table_cb(m, &sys);
	r = store_table_list(txn, table_cb, m);
	if (r < 0)
		lost(m, "the list of tables", r);
	assign_glyphs(m);
	r = build_map(m, txn, fd);
	if (r < 0)
		lost(m, "the space map", r);
	else
		m->map_ok = true;
	r = fs_layout(m, txn);
	if (r < 0)
		lost(m, "the filesystem's tables", r);
	store_txn_abort(txn);
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: slatefs-inspect [--json] [--svg FILE] [--color[=WHEN]] [--width N]\n"
		"                       [--rows N] [-v] IMAGE\n"
		"Show what an unmounted slatefs image (or a backup) holds: commit slots,\n"
		"tables, space, compression, file layout and a map of the image.\n"
		"  --json          machine-readable output on stdout\n"
		"  --svg FILE      also draw the map as an SVG picture in FILE\n"
		"  --color[=WHEN]  colour the map: auto (on a terminal), always, never\n"
		"  --width N       map cells per line (default: fits the terminal, <= 128)\n"
		"  --rows N        at most N lines of map (default 32)\n"
		"  -v              show the store's log lines\n");
}

static int parse_count(const char *s, int lo, int hi, int *out)
{
	char *end;
	long v = strtol(s, &end, 10);
	if (*s == 0 || *end || v < lo || v > hi)
		return -1;
	*out = (int)v;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{"json", no_argument, NULL, 'j'},
		{"svg", required_argument, NULL, 's'},
		{"color", optional_argument, NULL, 'c'},
		{"colour", optional_argument, NULL, 'c'},
		{"width", required_argument, NULL, 'w'},
		{"rows", required_argument, NULL, 'r'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	const char *svg = NULL, *color = "auto";
	int json = 0, cols = 0, rows = 32, c;

	while ((c = getopt_long(argc, argv, "vh", lo, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = 1;
			break;
		case 's':
			svg = optarg;
			break;
		case 'c':
			color = optarg ? optarg : "always";
			if (strcmp(color, "auto") && strcmp(color, "always") && strcmp(color, "never")) {
				fprintf(stderr, "slatefs-inspect: --color=%s: auto, always or never\n",
					color);
				return 2;
			}
			break;
		case 'w':
			if (parse_count(optarg, 8, 1024, &cols) < 0) {
				fprintf(stderr, "slatefs-inspect: --width %s: 8..1024\n", optarg);
				return 2;
			}
			break;
		case 'r':
			if (parse_count(optarg, 1, 100000, &rows) < 0) {
				fprintf(stderr, "slatefs-inspect: --rows %s: 1..100000\n", optarg);
				return 2;
			}
			break;
		case 'v':
			verbose = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("slatefs-inspect %s\n", SLATEFS_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return 2;
	}

	struct insp m = {.path = argv[optind]};
	int fd = open(m.path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		fprintf(stderr, "slatefs-inspect: cannot open %s: %s\n", m.path, strerror(errno));
		return 1;
	}
	if (!S_ISREG(st.st_mode)) {
		fprintf(stderr, "slatefs-inspect: %s is not a regular file (an image is one)\n",
			m.path);
		close(fd);
		return 1;
	}
	m.file_size = (uint64_t)st.st_size;
	m.disk_bytes = (uint64_t)st.st_blocks * 512;

	struct store_options so = {.log = store_log};
	store *s;
	int r = store_open(m.path, STORE_RDONLY, &so, &s);
	if (r < 0) {
		close(fd);
		return open_error(m.path, r);
	}
	r = gather(&m, s, fd);
	store_close(s);
	close(fd);
	if (r < 0) {
		fprintf(stderr, "slatefs-inspect: %s: cannot read the image: %s%s%s\n", m.path,
			strerror(-r), last_store_msg[0] ? " — " : "", last_store_msg);
		return 1;
	}

	/* damage: what could not be read is said, the rest shown, exit 1 */
	int rc = m.nerrors ? 1 : 0;
	for (int i = 0; i < m.nerrors; i++)
		fprintf(stderr, "slatefs-inspect: %s: damaged: %s; run fsck.slatefs\n", m.path,
			m.errors[i]);
	if (json) {
		insp_print_json(stdout, &m);
	} else {
		int use_color = strcmp(color, "always") == 0 ||
				(strcmp(color, "auto") == 0 && isatty(1) && !getenv("NO_COLOR"));
		if (!cols) {
			struct winsize ws;
			cols = 64;
			if (isatty(1) && ioctl(1, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20)
				cols = ws.ws_col - 12 > 128 ? 128 : ws.ws_col - 12;
		}
		insp_print_text(stdout, &m, use_color ? INSP_COLOR_ALWAYS : INSP_COLOR_NEVER, cols,
				rows);
	}
	if (svg && !(m.map_ok && m.stats_ok)) {
		fprintf(stderr, "slatefs-inspect: no SVG written: the space map could not be read\n");
		rc = 1;
	} else if (svg) {
		r = insp_write_svg(svg, &m);
		if (r < 0) {
			fprintf(stderr, "slatefs-inspect: cannot write %s: %s\n", svg, strerror(-r));
			rc = 1;
		} else if (!json) {
			printf("svg       written to %s\n", svg);
		}
	}
	free(m.tables);
	free(m.runs);
	return rc;
}
