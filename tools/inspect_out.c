/*
 * inspect_out.c — slatefs-inspect's text and JSON output: the figures of
 * inspect.h's model, and the space map drawn in characters (one cell per N
 * pages, the character of what fills most of the cell, coloured on a
 * terminal), with a legend and the byte totals of each kind.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "inspect.h"

const char *const insp_kind_names[INSP_NKINDS] = {
	"header", "tree", "blob", "alloc", "free", "punched", "leaked", "slack", "unknown",
};

const char *const insp_kind_labels[INSP_NKINDS] = {
	"header (commit slots)",
	"B+tree pages",
	"blobs (file data, large values)",
	"allocator pages",
	"free",
	"punched (free, no disk blocks)",
	"leaked (used, reached by nothing)",
	"slack (past the committed end)",
	"unknown (missing from the map)",
};

static const char kind_glyph[INSP_NKINDS] = {'H', '?', '#', 'A', '.', '_', '!', '-', '?'};

/* ANSI colours: background (and foreground) of each kind; tables cycle. */
static const char *const kind_color[INSP_NKINDS] = {
	"\033[100;97m", "", "\033[44;97m", "\033[45;97m",
	"\033[2m",      "\033[2;36m", "\033[41;97m", "\033[2;33m", "\033[41;97m",
};
static const char *const table_color[] = {
	"\033[42;30m", "\033[43;30m", "\033[46;30m", "\033[102;30m", "\033[103;30m", "\033[106;30m",
};
#define NTCOLOR (sizeof(table_color) / sizeof(table_color[0]))
#define RESET "\033[0m"

const char *insp_human(uint64_t b, char *buf, size_t len)
{
	static const char *const u[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
	double v = (double)b;
	int i = 0;
	while (v >= 1024 && i < 6) {
		v /= 1024;
		i++;
	}
	snprintf(buf, len, i ? "%.1f %s" : "%.0f %s", v, u[i]);
	return buf;
}

const char *insp_run_name(const struct insp *m, const struct insp_run *r)
{
	if (r->kind == INSP_TREE && r->table >= 0)
		return m->tables[r->table].info.name;
	return insp_kind_names[r->kind];
}

void insp_json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

void insp_xml_str(FILE *f, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '&': fputs("&amp;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&apos;", f); break;
		default:
			/* XML 1.0 allows no control characters but tab and newline */
			fputc(*p < 0x20 && *p != '\t' && *p != '\n' ? '?' : *p, f);
		}
	}
}

static double ratio(uint64_t a, uint64_t b)
{
	return b ? (double)a / (double)b : 0.0;
}

/* ---- text ------------------------------------------------------------------- */

static void print_slot(FILE *f, int i, const struct store_slot_info *s)
{
	if (!s->valid) {
		fprintf(f, "slot %d      DAMAGED (format %" PRIu32 ", page size %" PRIu32
			   ", checksum %016" PRIx64 "): the other slot holds the state\n",
			i, s->format_version, s->page_size, s->checksum);
		return;
	}
	fprintf(f, "slot %d      valid, txn %" PRIu64 ", %" PRIu64 " pages, %" PRIu64
		   " used, %" PRIu64 " blobs, checksum %016" PRIx64 "%s\n",
		i, s->txnid, s->file_pages, s->used_pages, s->blob_count, s->checksum,
		s->current ? "  <- current" : "");
}

static void print_tables(FILE *f, const struct insp *m)
{
	char b1[32], b2[32];
	fprintf(f, "\ntables        %-20s %6s %10s %8s %6s %11s %11s\n", "name", "id",
		"entries", "pages", "depth", "overflow", "in map");
	for (int i = 0; i < m->ntables; i++) {
		const struct insp_table *t = &m->tables[i];
		if (i == 0) { /* the store's own trees: figures from the map */
			fprintf(f, "            %c %-20s %6s %10s %8" PRIu64 " %6s %11s %11s\n",
				t->glyph, t->info.name, "-", "-", t->map_bytes / m->page_size, "-",
				"-", insp_human(t->map_bytes, b2, sizeof(b2)));
			continue;
		}
		fprintf(f, "            %c %-20s %6" PRIu32 " %10" PRIu64 " %8" PRIu64 " %6" PRIu32
			   " %11s %11s\n",
			t->glyph, t->info.name, t->info.id, t->info.entries, t->info.pages,
			t->info.depth, insp_human(t->info.overflow_bytes, b1, sizeof(b1)),
			insp_human(t->map_bytes, b2, sizeof(b2)));
	}
}

static void print_space(FILE *f, const struct insp *m)
{
	const struct store_stats *st = &m->st;
	char b1[32], b2[32], b3[32];
	fprintf(f, "\nspace       used      %11s  (%.1f%% of the file)\n",
		insp_human(st->used_bytes, b1, sizeof(b1)),
		100.0 * ratio(st->used_bytes, m->file_size));
	fprintf(f, "            free      %11s  in %" PRIu64 " run(s), largest %s; %s not yet "
		   "reusable\n",
		insp_human(st->free_bytes, b1, sizeof(b1)), st->free_extents,
		insp_human(st->largest_free_extent, b2, sizeof(b2)),
		insp_human(st->pending_bytes, b3, sizeof(b3)));
	fprintf(f, "            tail free %11s  (after the last used page: a shrink cuts it)\n",
		insp_human(st->tail_free_bytes, b1, sizeof(b1)));
	fprintf(f, "            punched   %11s  (holes: free space without disk blocks)\n",
		insp_human(m->kind_bytes[INSP_PUNCHED], b1, sizeof(b1)));
	fprintf(f, "            on disk   %11s  (blocks the file occupies)\n",
		insp_human(m->disk_bytes, b1, sizeof(b1)));
	fprintf(f, "            pages     %" PRIu64 " B+tree, %" PRIu64 " allocator\n",
		st->tree_pages, st->alloc_pages);
	if (m->kind_bytes[INSP_LEAKED])
		fprintf(f, "            LEAKED    %11s  used but reached by nothing: fsck.slatefs "
			   "repairs it\n",
			insp_human(m->kind_bytes[INSP_LEAKED], b1, sizeof(b1)));
	if (m->sparse_used_bytes)
		fprintf(f, "            WARNING   %11s  of used pages are holes in the file (a "
			   "damaged or sparse copy?)\n",
			insp_human(m->sparse_used_bytes, b1, sizeof(b1)));
	fprintf(f, "compression %" PRIu64 " blob(s), %" PRIu64 " lz4: %s as written, %s stored",
		st->blob_count, m->lz4_blobs, insp_human(m->blob_length, b1, sizeof(b1)),
		insp_human(m->blob_stored, b2, sizeof(b2)));
	if (m->blob_stored)
		fprintf(f, " (ratio %.2f:1)", ratio(m->blob_length, m->blob_stored));
	fprintf(f, ", in %s of pages\n", insp_human(m->kind_bytes[INSP_BLOB], b3, sizeof(b3)));
}

static void print_fs(FILE *f, const struct insp *m)
{
	char b1[32], when[64] = "?";
	if (!m->fs.present) {
		fprintf(f, "filesystem  none: a bare store (no slatefs tables)\n");
		return;
	}
	time_t t = (time_t)m->fs.sb.created;
	struct tm tm;
	if (gmtime_r(&t, &tm))
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
	fprintf(f, "filesystem  label ");
	insp_json_str(f, m->fs.sb.label);
	fprintf(f, ", chunk size %s, compression %s, created %s, %" PRIu64 " inodes\n",
		insp_human(m->fs.sb.chunk_size, b1, sizeof(b1)),
		m->fs.sb.compress == SFS_COMPRESS_LZ4 ? "lz4" : "none", when, m->fs.inodes);
}

static void print_layout(FILE *f, const struct insp *m)
{
	if (m->fs.present)
		fprintf(f, "files       %" PRIu64 " with stored data, %" PRIu64 " chunks in %" PRIu64
			   " run(s); %" PRIu64 " fragmented (data not in one run)\n",
			m->fs.files, m->fs.chunks, m->fs.runs, m->fs.fragmented_files);
	fprintf(f, "fragments   %" PRIu64 " free run(s) between used pages", m->interior_free_runs);
	fprintf(f, m->interior_free_runs ? " (compaction moves data down to close them)\n"
					  : " (compact)\n");
}

/* The class of a run for the map: a kind, or a table (INSP_NKINDS + i). */
static int run_class(const struct insp_run *r)
{
	return r->kind == INSP_TREE && r->table >= 0 ? INSP_NKINDS + r->table : (int)r->kind;
}

static void class_look(const struct insp *m, int cls, char *g, const char **col)
{
	if (cls >= INSP_NKINDS) {
		int t = cls - INSP_NKINDS;
		*g = m->tables[t].glyph;
		*col = t == 0 ? "\033[47;30m" : table_color[(t - 1) % NTCOLOR];
	} else {
		*g = kind_glyph[cls];
		*col = kind_color[cls];
	}
}

static void print_map(FILE *f, const struct insp *m, int color, int cols, int rows)
{
	uint64_t ps = m->page_size;
	uint64_t pages = (m->file_size + ps - 1) / ps;
	uint64_t cell = (pages + (uint64_t)cols * rows - 1) / ((uint64_t)cols * rows);
	if (cell == 0)
		cell = 1;
	uint64_t ncells = (pages + cell - 1) / cell;
	int nclass = INSP_NKINDS + m->ntables;
	uint64_t *hist = calloc((size_t)nclass, sizeof(*hist));
	char b1[32];
	if (!hist)
		return;
	fprintf(f, "\nmap         1 cell = %" PRIu64 " page(s) (%s); %" PRIu64 " pages\n", cell,
		insp_human(cell * ps, b1, sizeof(b1)), pages);
	size_t ri = 0;
	for (uint64_t c = 0; c < ncells; c++) {
		uint64_t cs = c * cell * ps, ce = cs + cell * ps;
		if (ce > m->file_size)
			ce = m->file_size;
		if (c % (uint64_t)cols == 0)
			fprintf(f, "%s%11s ", c ? "\n" : "", insp_human(cs, b1, sizeof(b1)));
		memset(hist, 0, (size_t)nclass * sizeof(*hist));
		while (ri < m->nruns && m->runs[ri].off + m->runs[ri].len <= cs)
			ri++;
		for (size_t j = ri; j < m->nruns && m->runs[j].off < ce; j++) {
			uint64_t a = m->runs[j].off > cs ? m->runs[j].off : cs;
			uint64_t b = m->runs[j].off + m->runs[j].len;
			hist[run_class(&m->runs[j])] += (b < ce ? b : ce) - a;
		}
		int best = 0;
		for (int k = 1; k < nclass; k++)
			if (hist[k] > hist[best])
				best = k;
		char g;
		const char *col;
		class_look(m, best, &g, &col);
		if (color == INSP_COLOR_ALWAYS && *col)
			fprintf(f, "%s%c" RESET, col, g);
		else
			fputc(g, f);
	}
	fputc('\n', f);
	free(hist);

	/* legend: every table, and the kinds the map holds */
	fprintf(f, "\nlegend     ");
	int w = 11;
	for (int cls = 0; cls < nclass; cls++) {
		if (cls == INSP_TREE)
			continue;
		if (cls < INSP_NKINDS && !m->kind_bytes[cls])
			continue;
		char g, item[300];
		const char *col;
		class_look(m, cls, &g, &col);
		int n = snprintf(item, sizeof(item), " %s",
				 cls >= INSP_NKINDS ? m->tables[cls - INSP_NKINDS].info.name
						    : insp_kind_names[cls]);
		if (w + n + 2 > 78) {
			fprintf(f, "\n           ");
			w = 11;
		}
		if (color == INSP_COLOR_ALWAYS && *col)
			fprintf(f, " %s%c" RESET "%s", col, g, item);
		else
			fprintf(f, " %c%s", g, item);
		w += n + 2;
	}
	fputc('\n', f);
	uint64_t sum = 0;
	fprintf(f, "totals\n");
	for (int k = 0; k < INSP_NKINDS; k++) {
		sum += m->kind_bytes[k];
		if (m->kind_bytes[k])
			fprintf(f, "            %-34s %12" PRIu64 " bytes %11s\n", insp_kind_labels[k],
				m->kind_bytes[k], insp_human(m->kind_bytes[k], b1, sizeof(b1)));
	}
	fprintf(f, "            %-34s %12" PRIu64 " bytes %s\n", "sum", sum,
		sum == m->file_size ? "= the file size" : "!= the file size (a bug)");
}

void insp_print_text(FILE *f, const struct insp *m, int color, int cols, int rows)
{
	char b1[32], b2[32];
	fprintf(f, "image       %s\n", m->path);
	fprintf(f, "size        %s (%" PRIu64 " bytes), %" PRIu64 " pages of %s; on disk %s\n",
		insp_human(m->file_size, b1, sizeof(b1)), m->file_size,
		(m->file_size + m->page_size - 1) / m->page_size,
		insp_human(m->page_size, b2, sizeof(b2)),
		insp_human(m->disk_bytes, b1, sizeof(b1)));
	fprintf(f, "uuid        ");
	for (int i = 0; i < 16; i++)
		fprintf(f, "%02x%s", m->uuid[i], i == 3 || i == 5 || i == 7 || i == 9 ? "-" : "");
	fprintf(f, "\n");
	for (int i = 0; i < 2; i++)
		print_slot(f, i, &m->slots[i]);
	for (int i = 0; i < 2; i++)
		if (m->slots[i].current)
			fprintf(f, "state       txn %" PRIu64 " (the latest durable commit)\n",
				m->slots[i].txnid);
	print_fs(f, m);
	print_tables(f, m);
	if (m->stats_ok && m->map_ok) {
		print_space(f, m);
		print_layout(f, m);
	} else {
		fprintf(f, "\nspace       could not be read: the image is damaged (run fsck.slatefs)\n");
	}
	if (m->map_ok)
		print_map(f, m, color, cols, rows);
	else
		fprintf(f, "\nmap         could not be read: the image is damaged (run fsck.slatefs)\n");
}

/* ---- JSON ------------------------------------------------------------------- */

/* A small JSON writer: it places the commas. */
struct jw {
	FILE *f;
	bool first;
};

static void jkey(struct jw *w, const char *k)
{
	if (!w->first)
		fputc(',', w->f);
	w->first = false;
	if (k)
		fprintf(w->f, "\"%s\":", k);
}

static void jopen(struct jw *w, const char *k, char c)
{
	jkey(w, k);
	fputc(c, w->f);
	w->first = true;
}

static void jclose(struct jw *w, char c)
{
	fputc(c, w->f);
	w->first = false;
}

static void ju(struct jw *w, const char *k, uint64_t v)
{
	jkey(w, k);
	fprintf(w->f, "%" PRIu64, v);
}

static void js(struct jw *w, const char *k, const char *v)
{
	jkey(w, k);
	insp_json_str(w->f, v);
}

static void jb(struct jw *w, const char *k, bool v)
{
	jkey(w, k);
	fputs(v ? "true" : "false", w->f);
}

static void json_slots(struct jw *w, const struct insp *m)
{
	char hex[20];
	jopen(w, "slots", '[');
	for (int i = 0; i < 2; i++) {
		const struct store_slot_info *s = &m->slots[i];
		jopen(w, NULL, '{');
		ju(w, "slot", (uint64_t)i);
		jb(w, "valid", s->valid);
		jb(w, "current", s->current);
		ju(w, "txnid", s->txnid);
		ju(w, "format_version", s->format_version);
		ju(w, "page_size", s->page_size);
		ju(w, "file_pages", s->file_pages);
		ju(w, "used_pages", s->used_pages);
		ju(w, "blob_count", s->blob_count);
		snprintf(hex, sizeof(hex), "%016" PRIx64, s->checksum);
		js(w, "checksum", hex);
		jclose(w, '}');
	}
	jclose(w, ']');
}

static void json_fs(struct jw *w, const struct insp *m)
{
	if (!m->fs.present) {
		jkey(w, "filesystem");
		fputs("null", w->f);
		return;
	}
	jopen(w, "filesystem", '{');
	js(w, "label", m->fs.sb.label);
	ju(w, "chunk_size", m->fs.sb.chunk_size);
	js(w, "compression", m->fs.sb.compress == SFS_COMPRESS_LZ4 ? "lz4" : "none");
	jkey(w, "created");
	fprintf(w->f, "%" PRId64, m->fs.sb.created);
	ju(w, "inodes", m->fs.inodes);
	ju(w, "files", m->fs.files);
	ju(w, "chunks", m->fs.chunks);
	ju(w, "runs", m->fs.runs);
	ju(w, "fragmented_files", m->fs.fragmented_files);
	jclose(w, '}');
}

static void json_tables(struct jw *w, const struct insp *m)
{
	char g[2] = {0, 0};
	jopen(w, "tables", '[');
	for (int i = 0; i < m->ntables; i++) {
		const struct insp_table *t = &m->tables[i];
		jopen(w, NULL, '{');
		js(w, "name", t->info.name);
		g[0] = t->glyph;
		js(w, "glyph", g);
		jb(w, "system", i == 0);
		ju(w, "id", t->info.id);
		ju(w, "entries", t->info.entries);
		ju(w, "pages", i == 0 ? t->map_bytes / m->page_size : t->info.pages);
		ju(w, "depth", t->info.depth);
		ju(w, "overflow_bytes", t->info.overflow_bytes);
		ju(w, "map_bytes", t->map_bytes);
		jclose(w, '}');
	}
	jclose(w, ']');
}

static void json_space(struct jw *w, const struct insp *m)
{
	const struct store_stats *st = &m->st;
	jopen(w, "space", '{');
	ju(w, "txnid", st->txnid);
	ju(w, "durable_txnid", st->durable_txnid);
	ju(w, "used_bytes", st->used_bytes);
	ju(w, "free_bytes", st->free_bytes);
	ju(w, "pending_bytes", st->pending_bytes);
	ju(w, "tail_free_bytes", st->tail_free_bytes);
	ju(w, "largest_free_extent", st->largest_free_extent);
	ju(w, "free_extents", st->free_extents);
	ju(w, "interior_free_runs", m->interior_free_runs);
	ju(w, "punched_bytes", m->kind_bytes[INSP_PUNCHED]);
	ju(w, "leaked_bytes", m->kind_bytes[INSP_LEAKED]);
	ju(w, "sparse_used_bytes", m->sparse_used_bytes);
	ju(w, "tree_pages", st->tree_pages);
	ju(w, "alloc_pages", st->alloc_pages);
	jclose(w, '}');
	jopen(w, "compression", '{');
	ju(w, "blobs", st->blob_count);
	ju(w, "lz4_blobs", m->lz4_blobs);
	ju(w, "logical_bytes", m->blob_length);
	ju(w, "stored_bytes", m->blob_stored);
	ju(w, "page_bytes", m->kind_bytes[INSP_BLOB]);
	jkey(w, "ratio");
	fprintf(w->f, "%.4f", ratio(m->blob_length, m->blob_stored));
	jclose(w, '}');
}

static void json_map(struct jw *w, const struct insp *m)
{
	uint64_t sum = 0;
	jopen(w, "map", '{');
	jopen(w, "totals", '{');
	for (int k = 0; k < INSP_NKINDS; k++) {
		sum += m->kind_bytes[k];
		ju(w, insp_kind_names[k], m->kind_bytes[k]);
	}
	jclose(w, '}');
	ju(w, "total_bytes", sum);
	jopen(w, "runs", '[');
	for (size_t i = 0; i < m->nruns; i++) {
		const struct insp_run *r = &m->runs[i];
		jopen(w, NULL, '{');
		ju(w, "offset", r->off);
		ju(w, "bytes", r->len);
		js(w, "kind", insp_kind_names[r->kind]);
		if (r->kind == INSP_TREE)
			js(w, "table", insp_run_name(m, r));
		if (r->kind == INSP_BLOB) {
			ju(w, "blobs", r->nblobs);
			ju(w, "first_blob", r->first_blob);
			ju(w, "last_blob", r->last_blob);
		}
		jclose(w, '}');
	}
	jclose(w, ']');
	jclose(w, '}');
}

void insp_print_json(FILE *f, const struct insp *m)
{
	struct jw w = {.f = f, .first = true};
	char uuid[33];
	for (int i = 0; i < 16; i++)
		snprintf(uuid + 2 * i, 3, "%02x", m->uuid[i]);
	jopen(&w, NULL, '{');
	js(&w, "image", m->path);
	ju(&w, "file_size", m->file_size);
	ju(&w, "disk_bytes", m->disk_bytes);
	ju(&w, "page_size", m->page_size);
	js(&w, "uuid", uuid);
	json_slots(&w, m);
	json_fs(&w, m);
	json_tables(&w, m);
	if (m->stats_ok && m->map_ok) {
		json_space(&w, m);
	} else {
		jkey(&w, "space");
		fputs("null", f);
		jkey(&w, "compression");
		fputs("null", f);
	}
	if (m->map_ok) {
		json_map(&w, m);
	} else {
		jkey(&w, "map");
		fputs("null", f);
	}
	jopen(&w, "errors", '[');
	for (int i = 0; i < m->nerrors; i++)
		js(&w, NULL, m->errors[i]);
	jclose(&w, ']');
	jclose(&w, '}');
	fputc('\n', f);
}
