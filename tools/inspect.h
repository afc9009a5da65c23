/*
 * inspect.h — the model slatefs-inspect builds of one image (inspect.c) and
 * draws as text, JSON (inspect_out.c) and SVG (inspect_svg.c): the slots,
 * tables, space figures, file layout, and the space map as a list of runs
 * that covers the image file from its first byte to its last.
 */
#ifndef SLATEFS_INSPECT_H
#define SLATEFS_INSPECT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "slatefs.h"
#include "store.h"

/* What a run of the space map holds. */
enum insp_kind {
	INSP_HEADER,  /* the two commit slots */
	INSP_TREE,    /* B+tree pages of one table */
	INSP_BLOB,    /* blobs (file data, big values) */
	INSP_ALLOC,   /* the allocator's bitmap and index pages */
	INSP_FREE,    /* free pages with their disk blocks */
	INSP_PUNCHED, /* free pages whose blocks were released (a hole) */
	INSP_LEAKED,  /* marked used, reached by nothing (fsck repairs) */
	INSP_SLACK,   /* past the committed state's end: grown, never committed */
	INSP_UNKNOWN, /* a gap the store's map left (a damaged image) */
	INSP_NKINDS,
};

enum { INSP_MAX_ERRORS = 4 };

/* A table as shown: the store's own trees are one pseudo-table. */
struct insp_table {
	struct store_table_info info;
	char glyph;          /* its letter in the terminal map */
	uint64_t map_bytes;  /* bytes of its pages in the map */
};

struct insp_run {
	uint64_t off, len;   /* bytes */
	enum insp_kind kind;
	int table;           /* INSP_TREE: index into tables */
	uint64_t nblobs;     /* INSP_BLOB: blobs in the run */
	uint64_t first_blob, last_blob;
};

struct insp_fs {
	bool present;
	struct {
		char label[SFS_LABEL_MAX + 1];
		uint32_t chunk_size, compress;
		int64_t created;
	} sb;
	uint64_t inodes;
	uint64_t files, chunks, runs, fragmented_files; /* as slatectl stats */
};

struct insp {
	const char *path;
	uint64_t file_size, disk_bytes;
	uint32_t page_size;
	uint8_t uuid[16];
	struct store_slot_info slots[2];
	struct store_stats st;
	struct insp_table *tables;
	int ntables;
	struct insp_run *runs;
	size_t nruns, runcap;
	uint64_t kind_bytes[INSP_NKINDS];
	uint64_t sparse_used_bytes; /* used pages that read as a hole */
	uint64_t overlap_bytes;     /* extents the store's map gave twice (damage) */
	uint64_t interior_free_runs; /* free or punched runs below the last used page */
	bool stats_ok;               /* the space figures could be read */
	bool map_ok;                 /* the space map could be read */
	char errors[INSP_MAX_ERRORS][600]; /* parts that could not be read */
	int nerrors;
	uint64_t lz4_blobs;
	uint64_t blob_length, blob_stored; /* sums over the map's blobs (stat) */
	struct insp_fs fs;
};

/* Names of the kinds, for JSON, SVG classes and legends. */
extern const char *const insp_kind_names[INSP_NKINDS];
extern const char *const insp_kind_labels[INSP_NKINDS];

/* Name of a run's table (or of its kind when it has none). */
const char *insp_run_name(const struct insp *m, const struct insp_run *r);

/* "1.5 MiB" */
const char *insp_human(uint64_t bytes, char *buf, size_t len);

/* Write a string escaped for JSON (with quotes) / XML text. */
void insp_json_str(FILE *f, const char *s);
void insp_xml_str(FILE *f, const char *s);

enum { INSP_COLOR_NEVER, INSP_COLOR_ALWAYS };

/* inspect_out.c */
void insp_print_text(FILE *f, const struct insp *m, int color, int cols, int rows);
void insp_print_json(FILE *f, const struct insp *m);

/* inspect_svg.c: 0, or -errno */
int insp_write_svg(const char *path, const struct insp *m);

#endif /* SLATEFS_INSPECT_H */
