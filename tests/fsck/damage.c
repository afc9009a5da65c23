/*
 * damage.c — breaks an unmounted slatefs image on purpose, one rule at a
 * time, through the store API (tests/fsck/t-fsck.sh uses it), and answers
 * the questions the test needs to flip bytes itself (where a table's page
 * or a file's blob lies). Every change is one durable commit.
 *
 *   fsck-damage IMAGE COMMAND ARGS...
 *
 * Paths are inside the filesystem, from its root ("/d/f"). Logical damage:
 *   ino PATH                    print the inode number
 *   drop-entry PATH             delete the entry and its cookie row
 *   drop-cookie PATH            delete only the entry's cookie row
 *   set-type PATH T             the entry says type T
 *   set-nlink PATH N | set-size PATH N | set-blocks PATH N | set-parent PATH N
 *   set-next-cookie PATH N      a directory's next readdir cookie
 *   stray-cookie PATH           a cookie row (999) in directory PATH, no entry
 *   drop-inode PATH             delete the inode row only
 *   unlink-quietly PATH         delete the entry, nlink 0, no orphan row
 *   orphan-row INO              an orphan row for INO
 *   xattr-row INO               an xattr row for INO
 *   chunk-for INO               a chunk row (and its blob) for INO
 *   chunk-past-eof PATH         a chunk row (and blob) 3 chunks past EOF
 *   chunk-tail PATH             the last chunk's blob gets bytes past EOF
 *   drop-blob PATH IDX          delete the blob of chunk IDX, keep the row
 *   blob-unref PATH IDX         drop one reference of chunk IDX's blob
 *   blob-ref PATH IDX           add one reference to chunk IDX's blob
 *   leak-blob BYTES             a blob nothing references
 *   leak-pages N                mark N free pages used (the store's own
 *                               allocator call: no public API leaks space)
 *   cycle DIR SUB               DIR's entry moves into SUB, a subdirectory
 *                               of DIR (a cycle the root no longer reaches)
 *   second-name DIR PARENT NAME a second entry for directory DIR
 *   next-ino N                  the super row's next inode number
 * Questions (printed on stdout):
 *   page-size                   the image's page size
 *   tree-page TABLE             a leaf page of that table
 *   blob-page PATH IDX          first page of chunk IDX's blob
 *   current-slot                0 or 1
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema.h"

/* The store's allocator entry point: marks a free run used (store/alloc.c). */
int alloc_at(store_txn *txn, uint64_t pgno, uint64_t n);

static store *s;
static store_txn *txn;
static struct sfs_tables t;

static void die(const char *what, int r)
{
	fprintf(stderr, "fsck-damage: %s: %s\n", what, r < 0 ? strerror(-r) : "failed");
	exit(1);
}

static void ck(const char *what, int r)
{
	if (r < 0)
		die(what, r);
}

struct entry {
	uint64_t dir, ino, cookie;
	unsigned type;
	uint8_t key[8 + SFS_NAME_MAX];
	size_t klen;
};

/* The entry of path (its last component). "/" has none: ino 1. */
static void resolve(const char *path, struct entry *e)
{
	char buf[4096];
	uint64_t cur = SFS_ROOT_INO;
	snprintf(buf, sizeof(buf), "%s", path);
	memset(e, 0, sizeof(*e));
	e->ino = SFS_ROOT_INO;
	for (char *save = NULL, *c = strtok_r(buf, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		uint8_t v[SFS_DIRENT_VAL];
		size_t vl = 0;
		e->klen = sfs_key_name(e->key, cur, c, strlen(c));
		int r = store_get(txn, t.dirent, e->key, e->klen, v, sizeof(v), &vl);
		if (r < 0) {
			fprintf(stderr, "fsck-damage: %s: no entry '%s' in %" PRIu64 "\n", path, c, cur);
			exit(1);
		}
		e->dir = cur;
		e->ino = sfs_get_le64(v);
		e->type = v[8];
		e->cookie = sfs_get_le64(v + 9);
		cur = e->ino;
	}
}

static struct sfs_attr get_attr(uint64_t ino, uint8_t *row, size_t *len)
{
	uint8_t key[8];
	struct sfs_attr a;
	ck("inode row", store_get(txn, t.inode, key, sfs_key_ino(key, ino), row, 8192, len));
	ck("decode", sfs_attr_decode(row, *len, &a));
	return a;
}

static void put_attr(uint64_t ino, const struct sfs_attr *a, uint8_t *row, size_t len)
{
	uint8_t key[8];
	sfs_attr_encode(a, row);
	ck("put inode", store_put(txn, t.inode, key, sfs_key_ino(key, ino), row, len, 0));
}

static uint64_t chunk_blob(uint64_t ino, uint64_t idx)
{
	uint8_t key[16], v[8];
	size_t vl = 0;
	ck("chunk row", store_get(txn, t.chunk, key, sfs_key_ino2(key, ino, idx), v, 8, &vl));
	return sfs_get_le64(v);
}

static uint64_t new_blob(size_t len, int fill)
{
	uint8_t *b = malloc(len);
	uint64_t id;
	if (!b)
		die("malloc", -ENOMEM);
	for (size_t i = 0; i < len; i++)
		b[i] = (uint8_t)(fill + i * 7);
	ck("blob put", store_blob_put(txn, b, len, 0, &id));
	free(b);
	return id;
}

static void put_chunk(uint64_t ino, uint64_t idx, uint64_t id)
{
	uint8_t key[16], v[8];
	sfs_put_le64(v, id);
	ck("put chunk", store_put(txn, t.chunk, key, sfs_key_ino2(key, ino, idx), v, 8, 0));
}

static void drop_cookie(const struct entry *e)
{
	uint8_t key[16];
	ck("del cookie", store_del(txn, t.dircookie, key, sfs_key_ino2(key, e->dir, e->cookie)));
}

static void add_entry(uint64_t dir, const char *name, uint64_t ino, unsigned type)
{
	static uint8_t row[8192];
	size_t len = 0;
	struct sfs_attr a = get_attr(dir, row, &len);
	uint64_t cookie = a.next_cookie++;
	put_attr(dir, &a, row, len);
	uint8_t key[8 + SFS_NAME_MAX], v[SFS_DIRENT_VAL], ckey[16], cv[9 + SFS_NAME_MAX];
	size_t nl = strlen(name);
	sfs_put_le64(v, ino);
	v[8] = (uint8_t)type;
	sfs_put_le64(v + 9, cookie);
	ck("put entry", store_put(txn, t.dirent, key, sfs_key_name(key, dir, name, nl), v, sizeof(v),
				  STORE_NOOVERWRITE));
	memcpy(cv, v, 9);
	memcpy(cv + 9, name, nl);
	ck("put cookie", store_put(txn, t.dircookie, ckey, sfs_key_ino2(ckey, dir, cookie), cv, 9 + nl,
				   0));
}

struct tree_find {
	store_table table;
	uint64_t pgno;
};

static int find_leaf(void *ctx, const struct store_extent *e)
{
	struct tree_find *f = ctx;
	if (e->kind == STORE_EXT_TREE && e->table == f->table && e->level == 0 && !f->pgno)
		f->pgno = e->pgno;
	return 0;
}

static uint64_t num(const char *s_)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s_, &end, 0);
	if (errno || *end) {
		fprintf(stderr, "fsck-damage: not a number: %s\n", s_);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	static uint8_t row[8192];
	size_t len = 0;
	struct entry e;

	if (argc < 3) {
		fprintf(stderr, "usage: fsck-damage IMAGE COMMAND ARGS... (see damage.c)\n");
		return 2;
	}
	const char *cmd = argv[2];
	bool question = strcmp(cmd, "ino") == 0 || strcmp(cmd, "page-size") == 0 ||
			strcmp(cmd, "tree-page") == 0 || strcmp(cmd, "blob-page") == 0 ||
			strcmp(cmd, "current-slot") == 0;
	ck("open", store_open(argv[1], question ? STORE_RDONLY : 0, NULL, &s));
	ck("txn", store_txn_begin(s, question ? STORE_TXN_READ : STORE_TXN_WRITE, &txn));
	ck("tables", sfs_tables_open(txn, &t));
#define ARGS(n)                                                                    \
	do {                                                                       \
		if (argc != 3 + (n)) {                                             \
			fprintf(stderr, "fsck-damage: %s takes %d argument(s)\n", cmd, n); \
			return 2;                                                  \
		}                                                                  \
	} while (0)

	if (strcmp(cmd, "ino") == 0) {
		ARGS(1);
		resolve(argv[3], &e);
		printf("%" PRIu64 "\n", e.ino);
	} else if (strcmp(cmd, "page-size") == 0) {
		ARGS(0);
		printf("%u\n", store_page_size(s));
	} else if (strcmp(cmd, "current-slot") == 0) {
		struct store_slot_info sl[2];
		ARGS(0);
		ck("slots", store_slots(s, sl));
		printf("%d\n", sl[1].current ? 1 : 0);
	} else if (strcmp(cmd, "tree-page") == 0) {
		struct tree_find f = {0};
		ARGS(1);
		ck("table", store_table_open(txn, argv[3], &f.table));
		ck("space map", store_space_map(txn, find_leaf, &f));
		if (!f.pgno)
			die("no leaf page of that table", -ENOENT);
		printf("%" PRIu64 "\n", f.pgno);
	} else if (strcmp(cmd, "blob-page") == 0) {
		struct store_blob_info bi;
		ARGS(2);
		resolve(argv[3], &e);
		ck("blob stat", store_blob_stat(txn, chunk_blob(e.ino, num(argv[4])), &bi));
		printf("%" PRIu64 "\n", bi.pgno);
	} else if (strcmp(cmd, "drop-entry") == 0) {
		ARGS(1);
		resolve(argv[3], &e);
		drop_cookie(&e);
		ck("del entry", store_del(txn, t.dirent, e.key, e.klen));
	} else if (strcmp(cmd, "drop-cookie") == 0) {
		ARGS(1);
		resolve(argv[3], &e);
		drop_cookie(&e);
	} else if (strcmp(cmd, "set-type") == 0) {
		uint8_t v[SFS_DIRENT_VAL];
		ARGS(2);
		resolve(argv[3], &e);
		sfs_put_le64(v, e.ino);
		v[8] = (uint8_t)num(argv[4]);
		sfs_put_le64(v + 9, e.cookie);
		ck("put entry", store_put(txn, t.dirent, e.key, e.klen, v, sizeof(v), 0));
	} else if (strncmp(cmd, "set-", 4) == 0) {
		ARGS(2);
		resolve(argv[3], &e);
		struct sfs_attr a = get_attr(e.ino, row, &len);
		uint64_t v = num(argv[4]);
		if (strcmp(cmd, "set-nlink") == 0)
			a.nlink = (uint32_t)v;
		else if (strcmp(cmd, "set-size") == 0)
			a.size = v;
		else if (strcmp(cmd, "set-blocks") == 0)
			a.blocks = v;
		else if (strcmp(cmd, "set-parent") == 0)
			a.parent = v;
		else if (strcmp(cmd, "set-next-cookie") == 0)
			a.next_cookie = v;
		else
			die(cmd, -EINVAL);
		put_attr(e.ino, &a, row, len);
	} else if (strcmp(cmd, "drop-inode") == 0) {
		uint8_t key[8];
		ARGS(1);
		resolve(argv[3], &e);
		ck("del inode", store_del(txn, t.inode, key, sfs_key_ino(key, e.ino)));
	} else if (strcmp(cmd, "unlink-quietly") == 0) {
		ARGS(1);
		resolve(argv[3], &e);
		drop_cookie(&e);
		ck("del entry", store_del(txn, t.dirent, e.key, e.klen));
		struct sfs_attr a = get_attr(e.ino, row, &len);
		a.nlink = 0;
		put_attr(e.ino, &a, row, len);
		a = get_attr(e.dir, row, &len);
		a.size--;
		put_attr(e.dir, &a, row, len);
	} else if (strcmp(cmd, "stray-cookie") == 0) {
		uint8_t key[16], cv[9 + 5] = {0};
		ARGS(1);
		resolve(argv[3], &e);
		sfs_put_le64(cv, e.ino);
		cv[8] = DT_REG;
		memcpy(cv + 9, "ghost", 5);
		ck("put cookie", store_put(txn, t.dircookie, key, sfs_key_ino2(key, e.ino, 999), cv,
					   sizeof(cv), 0));
	} else if (strcmp(cmd, "orphan-row") == 0) {
		uint8_t key[8];
		ARGS(1);
		ck("put orphan", store_put(txn, t.orphan, key, sfs_key_ino(key, num(argv[3])), "", 0, 0));
	} else if (strcmp(cmd, "xattr-row") == 0) {
		uint8_t key[8 + 16];
		ARGS(1);
		ck("put xattr", store_put(txn, t.xattr, key, sfs_key_name(key, num(argv[3]), "user.lost", 9),
					  "value", 5, 0));
	} else if (strcmp(cmd, "chunk-for") == 0) {
		ARGS(1);
		put_chunk(num(argv[3]), 0, new_blob(5000, 1));
	} else if (strcmp(cmd, "chunk-past-eof") == 0) {
		struct sfs_super sb;
		ARGS(1);
		resolve(argv[3], &e);
		ck("super", sfs_super_read(txn, &t, &sb));
		struct sfs_attr a = get_attr(e.ino, row, &len);
		put_chunk(e.ino, a.size / sb.chunk_size + 3, new_blob(3000, 2));
	} else if (strcmp(cmd, "chunk-tail") == 0) {
		struct sfs_super sb;
		struct store_blob_info bi;
		ARGS(1);
		resolve(argv[3], &e);
		ck("super", sfs_super_read(txn, &t, &sb));
		struct sfs_attr a = get_attr(e.ino, row, &len);
		uint64_t last = (a.size - 1) / sb.chunk_size;
		if (a.size % sb.chunk_size == 0)
			die("chunk-tail: the file ends on a chunk boundary", -EINVAL);
		uint64_t old = chunk_blob(e.ino, last);
		ck("blob stat", store_blob_stat(txn, old, &bi));
		uint8_t *b = calloc(1, sb.chunk_size);
		size_t got = 0;
		if (!b)
			die("malloc", -ENOMEM);
		ck("blob read", store_blob_read(txn, old, 0, b, bi.length, &got));
		memset(b + a.size % sb.chunk_size, 0xAB, sb.chunk_size - a.size % sb.chunk_size);
		uint64_t id;
		ck("blob put", store_blob_put(txn, b, sb.chunk_size, 0, &id));
		free(b);
		put_chunk(e.ino, last, id);
		ck("blob delete", store_blob_delete(txn, old));
	} else if (strcmp(cmd, "drop-blob") == 0) {
		ARGS(2);
		resolve(argv[3], &e);
		uint64_t id = chunk_blob(e.ino, num(argv[4]));
		while (store_blob_delete(txn, id) == 0)
			;
	} else if (strcmp(cmd, "blob-unref") == 0) {
		ARGS(2);
		resolve(argv[3], &e);
		ck("blob delete", store_blob_delete(txn, chunk_blob(e.ino, num(argv[4]))));
	} else if (strcmp(cmd, "blob-ref") == 0) {
		ARGS(2);
		resolve(argv[3], &e);
		ck("blob share", store_blob_share(txn, chunk_blob(e.ino, num(argv[4]))));
	} else if (strcmp(cmd, "leak-blob") == 0) {
		ARGS(1);
		uint64_t id = new_blob(num(argv[3]), 3);
		printf("%" PRIu64 "\n", id);
	} else if (strcmp(cmd, "leak-pages") == 0) {
		uint64_t pg;
		ARGS(1);
		uint64_t n = num(argv[3]);
		ck("reserve", store_txn_reserve(txn, n * store_page_size(s)));
		ck("find free", store_find_free(txn, n, UINT64_MAX, &pg));
		ck("alloc", alloc_at(txn, pg, n));
		printf("%" PRIu64 "\n", pg);
	} else if (strcmp(cmd, "cycle") == 0) {
		struct entry sub;
		ARGS(2);
		resolve(argv[3], &e);
		resolve(argv[4], &sub);
		drop_cookie(&e);
		ck("del entry", store_del(txn, t.dirent, e.key, e.klen));
		add_entry(sub.ino, "loop", e.ino, DT_DIR);
	} else if (strcmp(cmd, "second-name") == 0) {
		struct entry p;
		ARGS(3);
		resolve(argv[3], &e);
		resolve(argv[4], &p);
		add_entry(p.ino, argv[5], e.ino, DT_DIR);
	} else if (strcmp(cmd, "next-ino") == 0) {
		struct sfs_super sb;
		uint8_t srow[SFS_SUPER_ROW];
		ARGS(1);
		ck("super", sfs_super_read(txn, &t, &sb));
		sb.next_ino = num(argv[3]);
		ck("encode", sfs_super_encode(&sb, srow));
		ck("put super", store_put(txn, t.super, "super", 5, srow, sizeof(srow), 0));
	} else {
		fprintf(stderr, "fsck-damage: unknown command %s\n", cmd);
		return 2;
	}
	if (question)
		store_txn_abort(txn);
	else
		ck("commit", store_txn_commit(txn, STORE_COMMIT_DURABLE, NULL));
	ck("close", store_close(s));
	return 0;
}
