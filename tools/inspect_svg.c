/*
 * inspect_svg.c — slatefs-inspect --svg: the space map as a self-contained
 * SVG picture (no scripts, no external files) that a browser opens. The
 * image's pages are laid out left to right in rows, like the text map; each
 * run of the map is one <g class="run ..."> with a <title> (the tooltip:
 * what it is, where, how big) and one <rect> per row it covers. A header
 * gives the figures, a legend the colours and the byte totals.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "inspect.h"

enum {
	MAP_W = 1024,    /* px of a row */
	MIN_ROW_PAGES = 64,
	ROW_H = 14,
	ROW_GAP = 3,
	LEFT = 90,       /* room for the offsets */
	TOP = 92,
	MAX_ROWS = 160,
};

static const char *const kind_fill[INSP_NKINDS] = {
	"#4d4d4d", "#2ca02c", "#1f77b4", "#9467bd", "#e6e6e6", "url(#punched)", "#d62728",
	"#f3e3a6", "#ff00ff",
};
static const char *const table_fill[] = {
	"#2ca02c", "#ff7f0e", "#17becf", "#bcbd22", "#8c564b", "#e377c2", "#98df8a", "#ffbb78",
};
#define NTFILL (sizeof(table_fill) / sizeof(table_fill[0]))

static const char *fill_of(const struct insp *m, const struct insp_run *r)
{
	(void)m;
	if (r->kind != INSP_TREE || r->table < 0)
		return kind_fill[r->kind];
	return r->table == 0 ? "#a0a0a0" : table_fill[(r->table - 1) % NTFILL];
}

static void title_of(FILE *f, const struct insp *m, const struct insp_run *r)
{
	char b1[32];
	uint64_t ps = m->page_size;
	fputs("<title>", f);
	if (r->kind == INSP_TREE) {
		fputs("B+tree pages of table ", f);
		insp_xml_str(f, insp_run_name(m, r));
	} else if (r->kind == INSP_BLOB) {
		fprintf(f, "%" PRIu64 " blob(s), id %" PRIu64, r->nblobs, r->first_blob);
		if (r->last_blob != r->first_blob)
			fprintf(f, " .. %" PRIu64, r->last_blob);
	} else {
		insp_xml_str(f, insp_kind_labels[r->kind]);
	}
	fprintf(f, ": %s (%" PRIu64 " bytes), pages %" PRIu64 "..%" PRIu64 ", bytes %" PRIu64
		   "..%" PRIu64 "</title>",
		insp_human(r->len, b1, sizeof(b1)), r->len, r->off / ps,
		(r->off + r->len + ps - 1) / ps - 1, r->off, r->off + r->len - 1);
}

int insp_write_svg(const char *path, const struct insp *m)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -errno;
	uint64_t ps = m->page_size;
	uint64_t pages = (m->file_size + ps - 1) / ps;
	/* pages per row: at most MAX_ROWS rows; a small image fills one row */
	uint64_t rp = (pages + MAX_ROWS - 1) / MAX_ROWS;
	uint64_t rmin = pages < MIN_ROW_PAGES ? pages : MIN_ROW_PAGES;
	if (rp < rmin)
		rp = rmin;
	if (!rp)
		rp = 1;
	double row_pages = (double)rp, px = (double)MAP_W / row_pages;
	uint64_t nrows = (pages + rp - 1) / rp;
	if (!nrows)
		nrows = 1;
	int nlegend = 0;
	for (int k = 0; k < INSP_NKINDS; k++)
		nlegend += k != INSP_TREE && m->kind_bytes[k];
	nlegend += m->ntables;
	int width = LEFT + MAP_W + 30;
	uint64_t map_h = nrows * (ROW_H + ROW_GAP);
	uint64_t height = TOP + map_h + 40 + (uint64_t)((nlegend + 1) / 2) * 20 + 20;
	char b1[32], b2[32], b3[32], b4[32];

	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		   "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%" PRIu64
		   "\" viewBox=\"0 0 %d %" PRIu64 "\" font-family=\"sans-serif\" font-size=\"12\">\n",
		width, height, width, height);
	fputs("<title>slatefs image map: ", f);
	insp_xml_str(f, m->path);
	fputs("</title>\n<defs><pattern id=\"punched\" width=\"4\" height=\"4\" "
	      "patternUnits=\"userSpaceOnUse\"><rect width=\"4\" height=\"4\" fill=\"#ffffff\"/>"
	      "<path d=\"M0,4 L4,0\" stroke=\"#9ab\" stroke-width=\"1\"/></pattern></defs>\n"
	      "<style>.run rect{stroke:none} .run:hover rect{stroke:#000;stroke-width:1}"
	      " .off{fill:#555;font-size:10px;text-anchor:end}</style>\n"
	      "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n",
	      f);

	/* the header */
	fputs("<text x=\"10\" y=\"22\" font-size=\"16\" font-weight=\"bold\">slatefs image ", f);
	insp_xml_str(f, m->path);
	fputs("</text>\n", f);
	fprintf(f, "<text x=\"10\" y=\"42\">size %s (%" PRIu64 " bytes), %" PRIu64
		   " pages of %s; on disk %s; used %s (%.1f%%)</text>\n",
		insp_human(m->file_size, b1, sizeof(b1)), m->file_size, pages,
		insp_human(ps, b2, sizeof(b2)), insp_human(m->disk_bytes, b3, sizeof(b3)),
		insp_human(m->st.used_bytes, b4, sizeof(b4)),
		m->file_size ? 100.0 * (double)m->st.used_bytes / (double)m->file_size : 0.0);
	fprintf(f, "<text x=\"10\" y=\"60\">free %s in %" PRIu64 " run(s) (%" PRIu64
		   " between used pages), tail free %s, punched %s</text>\n",
		insp_human(m->st.free_bytes, b1, sizeof(b1)), m->st.free_extents,
		m->interior_free_runs, insp_human(m->st.tail_free_bytes, b2, sizeof(b2)),
		insp_human(m->kind_bytes[INSP_PUNCHED], b3, sizeof(b3)));
	fprintf(f, "<text x=\"10\" y=\"78\">one row = %" PRIu64 " pages (%s); txn %" PRIu64, rp,
		insp_human(rp * ps, b1, sizeof(b1)), m->st.txnid);
	if (m->fs.present)
		fprintf(f, "; %" PRIu64 " files with data, %" PRIu64 " fragmented", m->fs.files,
			m->fs.fragmented_files);
	fputs("</text>\n", f);

	/* row offsets */
	for (uint64_t row = 0; row < nrows; row++)
		fprintf(f, "<text class=\"off\" x=\"%d\" y=\"%" PRIu64 "\">%s</text>\n", LEFT - 6,
			TOP + row * (ROW_H + ROW_GAP) + ROW_H - 3,
			insp_human(row * rp * ps, b1, sizeof(b1)));

	/* the runs: one group each, a rect per row it covers */
	fputs("<g id=\"map\">\n", f);
	for (size_t i = 0; i < m->nruns; i++) {
		const struct insp_run *r = &m->runs[i];
		fprintf(f, "<g class=\"run %s\" fill=\"%s\">", insp_kind_names[r->kind],
			fill_of(m, r));
		title_of(f, m, r);
		double a = (double)r->off / (double)ps, b = (double)(r->off + r->len) / (double)ps;
		while (a < b) {
			uint64_t row = (uint64_t)(a / row_pages);
			double row_end = (double)(row + 1) * row_pages;
			double e = b < row_end ? b : row_end;
			double x = LEFT + (a - (double)row * row_pages) * px;
			double w = (e - a) * px;
			fprintf(f, "<rect x=\"%.3f\" y=\"%" PRIu64 "\" width=\"%.3f\" height=\"%d\"/>", x,
				TOP + row * (ROW_H + ROW_GAP), w, ROW_H);
			a = e;
		}
		fputs("</g>\n", f);
	}
	fputs("</g>\n", f);

	/* the legend, two columns */
	uint64_t ly = TOP + map_h + 24;
	int n = 0;
	fputs("<g id=\"legend\">\n", f);
	for (int cls = 0; cls < INSP_NKINDS + m->ntables; cls++) {
		const char *fill, *label;
		uint64_t bytes;
		struct insp_run probe = {.kind = INSP_TREE, .table = cls - INSP_NKINDS};
		if (cls == INSP_TREE)
			continue;
		if (cls < INSP_NKINDS) {
			if (!m->kind_bytes[cls])
				continue;
			probe.kind = (enum insp_kind)cls;
			probe.table = -1;
			label = insp_kind_labels[cls];
			bytes = m->kind_bytes[cls];
		} else {
			label = m->tables[cls - INSP_NKINDS].info.name;
			bytes = m->tables[cls - INSP_NKINDS].map_bytes;
		}
		fill = fill_of(m, &probe);
		int x = 10 + (n % 2) * 520;
		uint64_t y = ly + (uint64_t)(n / 2) * 20;
		fprintf(f, "<rect x=\"%d\" y=\"%" PRIu64 "\" width=\"14\" height=\"14\" fill=\"%s\" "
			   "stroke=\"#666\"/><text x=\"%d\" y=\"%" PRIu64 "\">%s",
			x, y, fill, x + 20, y + 11, cls >= INSP_NKINDS ? "table " : "");
		insp_xml_str(f, label);
		fprintf(f, ": %s</text>\n", insp_human(bytes, b1, sizeof(b1)));
		n++;
	}
	fputs("</g>\n</svg>\n", f);
	if (ferror(f)) {
		fclose(f);
		return -EIO;
	}
	if (fclose(f) != 0)
		return -errno;
	return 0;
}
