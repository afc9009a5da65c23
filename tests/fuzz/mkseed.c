/*
 * mkseed.c — writes the seed corpus of the image fuzzer: small valid images
 * (a few KiB to a few tens of KiB) that reach every kind of page and row,
 * and damaged variants of each.
 *
 *   fuzz-mkseed DIR [KNOWN-DIR]
 *
 * Valid images: an empty filesystem; a filesystem with a directory, inline
 * files, a chunked file with a hole and a compressed chunk, a shared blob,
 * a symlink, a hard link, an xattr and an orphan (4 KiB and 8 KiB pages);
 * raw stores with a B+tree of depth 2+, values overflowing into blobs,
 * blobs of every stored form (plain, lz4, segmented, written in pieces,
 * shared), free space, punched space, and one compacted and shrunk.
 * Damaged variants: one slot, both slots, truncated, a byte flipped in a
 * few pages, the last page zeroed.
 *
 * Built twice: as is, and with nocrc.c (all checksums 0) for the -nocrc
 * fuzz target. The filesystem rows are written with the schema's encoders
 * (fs/schema.h) so that sfs_check() finds the filesystems clean.
 */
#include <errno.h>
#include <fcntl.h>
#include <xxhash.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mkseed.h"
#include "schema.h"

static const char *outdir;

void seed_die(const char *what, int r)
{
	fprintf(stderr, "fuzz-mkseed: %s: %s\n", what, strerror(r < 0 ? -r : r));
	exit(1);
}

void seed_log(void *ctx, int level, const char *msg)
{
	(void)ctx;
	if (level <= STORE_LOG_ERR)
		fprintf(stderr, "fuzz-mkseed: store: %s\n", msg);
}

char *seed_path(const char *name)
{
	static char buf[4096];
	snprintf(buf, sizeof(buf), "%s/%s", outdir, name);
	return buf;
}

/* Deterministic bytes: compressible (runs of text) or not (xorshift). */
static void fill(uint8_t *p, size_t n, int compressible, uint64_t seed)
{
	uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
	for (size_t i = 0; i < n; i++) {
		if (compressible) {
			p[i] = (uint8_t)("slatefs seed corpus "[(i / 3) % 20]);
		} else {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			p[i] = (uint8_t)x;
		}
	}
}

/* Cut the file after its highest used page: the store grows in large steps,
   and small seeds make a fast fuzzer. */
static void shrink(const char *name)
{
	struct store_options so = {.log = seed_log};
	store *s;
	store_txn *txn;
	uint64_t x;

	CHECK(store_open(seed_path(name), 0, &so, &s));
	CHECK(store_txn_begin(s, STORE_TXN_WRITE, &txn));
	CHECK(store_shrink(txn, &x));
	CHECK(store_txn_commit(txn, STORE_COMMIT_DURABLE, NULL));
	CHECK(store_close(s));
}

/* ---- filesystem images --------------------------------------------------- */

struct fsb {
	store_txn *txn;
	struct sfs_tables t;
	struct sfs_super sb;
	struct sfs_attr a[16]; /* by inode number */
	uint64_t next_ino;
};

static void put_inode(struct fsb *f, uint64_t ino, const void *inl, size_t inl_len)
{
	uint8_t row[SFS_INODE_ROW_FIXED + SFS_INLINE_LIMIT], key[8];
	f->a[ino].inline_len = (uint32_t)inl_len;
	sfs_attr_encode(&f->a[ino], row);
	if (inl_len)
		memcpy(row + SFS_INODE_ROW_FIXED, inl, inl_len);
	CHECK(store_put(f->txn, f->t.inode, key, sfs_key_ino(key, ino), row,
			SFS_INODE_ROW_FIXED + inl_len, 0));
}

static uint64_t new_inode(struct fsb *f, uint32_t mode)
{
	uint64_t ino = f->next_ino++;
	struct sfs_attr *a = &f->a[ino];
	memset(a, 0, sizeof(*a));
	a->mode = mode;
	a->atime.tv_sec = a->mtime.tv_sec = a->ctime.tv_sec = a->btime.tv_sec = 1700000000;
	if (S_ISDIR(mode)) {
		a->nlink = 2;
		a->next_cookie = SFS_COOKIE_FIRST;
	}
	return ino;
}

static void link_entry(struct fsb *f, uint64_t dir, const char *name, uint64_t ino)
{
	uint8_t key[8 + SFS_NAME_MAX], val[SFS_DIRENT_VAL], cval[9 + SFS_NAME_MAX];
	struct sfs_attr *d = &f->a[dir], *a = &f->a[ino];
	size_t nl = strlen(name);
	uint64_t cookie = d->next_cookie++;
	unsigned type = sfs_dtype(a->mode);

	sfs_put_le64(val, ino);
	val[8] = (uint8_t)type;
	sfs_put_le64(val + 9, cookie);
	CHECK(store_put(f->txn, f->t.dirent, key, sfs_key_name(key, dir, name, nl), val,
			sizeof(val), STORE_NOOVERWRITE));
	sfs_put_le64(cval, ino);
	cval[8] = (uint8_t)type;
	memcpy(cval + 9, name, nl);
	CHECK(store_put(f->txn, f->t.dircookie, key, sfs_key_ino2(key, dir, cookie), cval,
			9 + nl, STORE_NOOVERWRITE));
	d->size++;
	if (S_ISDIR(a->mode)) {
		d->nlink++;
		a->parent = dir;
	} else {
		a->nlink++;
	}
}

static void put_chunk(struct fsb *f, uint64_t ino, uint64_t idx, uint64_t blob)
{
	uint8_t key[16], val[8];
	struct store_blob_info bi;
	sfs_put_le64(val, blob);
	CHECK(store_put(f->txn, f->t.chunk, key, sfs_key_ino2(key, ino, idx), val, 8, 0));
	CHECK(store_blob_stat(f->txn, blob, &bi));
	f->a[ino].blocks += bi.stored;
}

static uint64_t put_blob(struct fsb *f, size_t len, int compressible, uint64_t seed)
{
	uint8_t *buf = malloc(len);
	uint64_t id;
	if (!buf)
		seed_die("malloc", ENOMEM);
	fill(buf, len, compressible, seed);
	CHECK(store_blob_put(f->txn, buf, len, compressible ? STORE_BLOB_LZ4 : 0, &id));
	free(buf);
	return id;
}

static void make_fs(const char *name, uint32_t page_size, int with_files)
{
	struct sfs_format_opts fo = {.page_size = page_size, .chunk_size = 4096,
				     .compress = SFS_COMPRESS_LZ4, .label = "seed", .force = true,
				     .log = seed_log};
	struct store_options so = {.log = seed_log};
	struct fsb f = {.next_ino = 2};
	store *s;
	uint8_t key[8 + 64];

	CHECK(sfs_format(seed_path(name), &fo));
	if (!with_files) {
		shrink(name);
		return;
	}
	CHECK(store_open(seed_path(name), 0, &so, &s));
	CHECK(store_txn_begin(s, STORE_TXN_WRITE, &f.txn));
	CHECK(sfs_tables_open(f.txn, &f.t));
	CHECK(sfs_super_read(f.txn, &f.t, &f.sb));
	/* the root as mkfs left it */
	uint8_t row[SFS_INODE_ROW_FIXED];
	size_t len;
	CHECK(store_get(f.txn, f.t.inode, key, sfs_key_ino(key, SFS_ROOT_INO), row, sizeof(row),
			&len));
	CHECK(sfs_attr_decode(row, len, &f.a[SFS_ROOT_INO]));

	uint64_t dir = new_inode(&f, S_IFDIR | 0755);
	link_entry(&f, SFS_ROOT_INO, "dir", dir);

	/* an inline file, hard-linked twice */
	uint64_t small = new_inode(&f, S_IFREG | 0644);
	static const char hello[] = "hello, slatefs\n";
	f.a[small].flags = SFS_IF_INLINE;
	f.a[small].size = sizeof(hello) - 1;
	f.a[small].blocks = sizeof(hello) - 1;
	link_entry(&f, dir, "hello.txt", small);
	link_entry(&f, SFS_ROOT_INO, "hello-link", small);
	put_inode(&f, small, hello, sizeof(hello) - 1);

	/* a chunked file: chunk 0 random, chunk 1 a hole, chunk 2 compressible,
	   chunk 3 shares chunk 0's blob, chunk 4 a short tail */
	uint64_t big = new_inode(&f, S_IFREG | 0600);
	f.a[big].size = 4 * 4096 + 1000;
	link_entry(&f, dir, "big.bin", big);
	uint64_t b0 = put_blob(&f, 4096, 0, 1);
	put_chunk(&f, big, 0, b0);
	put_chunk(&f, big, 2, put_blob(&f, 4096, 1, 2));
	CHECK(store_blob_share(f.txn, b0));
	put_chunk(&f, big, 3, b0);
	put_chunk(&f, big, 4, put_blob(&f, 1000, 0, 3));
	put_inode(&f, big, NULL, 0);

	/* a symlink */
	uint64_t sl = new_inode(&f, S_IFLNK | 0777);
	static const char target[] = "dir/hello.txt";
	f.a[sl].size = sizeof(target) - 1;
	link_entry(&f, SFS_ROOT_INO, "link", sl);
	put_inode(&f, sl, target, sizeof(target) - 1);

	/* an xattr on the directory */
	size_t kl = sfs_key_name(key, dir, "user.seed", 9);
	CHECK(store_put(f.txn, f.t.xattr, key, kl, "fuzz", 4, 0));

	/* an unlinked inode awaiting reclaim */
	uint64_t orphan = new_inode(&f, S_IFREG | 0644);
	f.a[orphan].size = 3000;
	put_chunk(&f, orphan, 0, put_blob(&f, 3000, 1, 4));
	put_inode(&f, orphan, NULL, 0);
	CHECK(store_put(f.txn, f.t.orphan, key, sfs_key_ino(key, orphan), NULL, 0, 0));

	put_inode(&f, dir, NULL, 0);
	put_inode(&f, SFS_ROOT_INO, NULL, 0);
	f.sb.next_ino = 1024;
	uint8_t srow[SFS_SUPER_ROW];
	CHECK(sfs_super_encode(&f.sb, srow));
	CHECK(store_put(f.txn, f.t.super, "super", 5, srow, sizeof(srow), 0));
	CHECK(store_txn_commit(f.txn, STORE_COMMIT_DURABLE, NULL));
	CHECK(store_close(s));
	shrink(name);
}

/* ---- raw store images ---------------------------------------------------- */

static void rows(store_txn *txn, store_table t, int from, int to, size_t vlen, int del)
{
	uint8_t key[16], *val = malloc(vlen + 1);
	if (!val)
		seed_die("malloc", ENOMEM);
	for (int i = from; i < to; i++) {
		snprintf((char *)key, sizeof(key), "key%08d", i * 7919 % 100000);
		if (del) {
			int r = store_del(txn, t, key, 11);
			if (r < 0 && r != -ENOENT)
				seed_die("store_del", r);
		} else {
			fill(val, vlen, i & 1, (uint64_t)i);
			CHECK(store_put(txn, t, key, 11, val, vlen, 0));
		}
	}
	free(val);
}

static void make_store(const char *name, uint32_t page_size, int variant)
{
	struct store_options so = {.page_size = page_size, .log = seed_log};
	store *s;
	store_txn *txn;
	store_table t, u;
	uint64_t id, shared, x;

	CHECK(store_open(seed_path(name), STORE_CREATE | STORE_OVERWRITE, &so, &s));
	CHECK(store_txn_begin(s, STORE_TXN_WRITE, &txn));
	CHECK(store_table_create(txn, "rows", &t));
	CHECK(store_table_create(txn, "more", &u));
	rows(txn, t, 0, 300, 24, 0);
	rows(txn, u, 0, 4, store_inline_max(s, 11) + 100, 0); /* overflow values */
	CHECK(store_txn_commit(txn, STORE_COMMIT_DURABLE, NULL));

	CHECK(store_txn_begin(s, STORE_TXN_WRITE, &txn));
	uint8_t *buf = malloc(80000);
	if (!buf)
		seed_die("malloc", ENOMEM);
	fill(buf, 80000, 1, 7);
	CHECK(store_blob_put(txn, buf, 80000, STORE_BLOB_LZ4, &id)); /* segmented, lz4 */
	fill(buf, 5000, 0, 8);
	CHECK(store_blob_put(txn, buf, 5000, 0, &shared)); /* plain */
	CHECK(store_blob_share(txn, shared));
	store_blob_writer *w;
	CHECK(store_blob_writer_open(txn, 70000, STORE_BLOB_LZ4, &w)); /* in pieces, a hole */
	fill(buf, 30000, 1, 9);
	CHECK(store_blob_writer_write(w, 40000, buf, 30000));
	CHECK(store_blob_writer_write(w, 0, buf, 20000));
	CHECK(store_blob_writer_finish(w, &x));
	CHECK(store_put(txn, u, "blobs", 5, &id, 8, 0));
	CHECK(store_txn_commit(txn, STORE_COMMIT_DURABLE, NULL));

	if (variant >= 1) { /* free space in the middle, some of it punched */
		CHECK(store_txn_begin(s, STORE_TXN_WRITE, &txn));
		rows(txn, t, 0, 200, 0, 1);
		CHECK(store_blob_delete(txn, id));
		CHECK(store_table_drop(txn, "more"));
		CHECK(store_txn_commit(txn, STORE_COMMIT_DURABLE, NULL));
		CHECK(store_txn_begin(s, STORE_TXN_WRITE, &txn));
		CHECK(store_punch_free(txn, page_size, &x));
		CHECK(store_txn_commit(txn, STORE_COMMIT_DURABLE, NULL));
	}
	if (variant >= 2) { /* compacted: move the highest pages down, shrink */
		for (int i = 0; i < 64; i++) {
			uint64_t pg, np;
			CHECK(store_txn_begin(s, STORE_TXN_WRITE, &txn));
			int r = store_highest_used(txn, &pg);
			if (r == 0)
				r = store_relocate(txn, pg, &np);
			if (r < 0) {
				store_txn_abort(txn);
				break;
			}
			CHECK(store_txn_commit(txn, STORE_COMMIT_DURABLE, NULL));
		}
		CHECK(store_txn_begin(s, STORE_TXN_WRITE, &txn));
		CHECK(store_shrink(txn, &x));
		CHECK(store_txn_commit(txn, STORE_COMMIT_DURABLE, NULL));
	}
	free(buf);
	CHECK(store_close(s));
	shrink(name);
}

/* ---- damaged variants ---------------------------------------------------- */

uint8_t *seed_slurp(const char *name, size_t *len)
{
	int fd = open(seed_path(name), O_RDONLY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		seed_die(name, errno);
	uint8_t *b = malloc((size_t)st.st_size);
	if (!b || pread(fd, b, (size_t)st.st_size, 0) != st.st_size)
		seed_die(name, EIO);
	close(fd);
	*len = (size_t)st.st_size;
	return b;
}

void seed_write(const char *path, const uint8_t *b, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, b, len) != (ssize_t)len || close(fd) < 0)
		seed_die(path, errno);
}

static void spit(const char *name, const char *suffix, const uint8_t *b, size_t len)
{
	char n[256];
	snprintf(n, sizeof(n), "%s.%s", name, suffix);
	seed_write(seed_path(n), b, len);
}

static void damage(const char *name, uint32_t ps)
{
	size_t len;
	uint8_t *b = seed_slurp(name, &len), *c = malloc(len);
	size_t npages = len / ps;
	if (!c)
		seed_die("malloc", ENOMEM);

	memcpy(c, b, len);
	c[64] ^= 0x5a; /* inside slot 0's fields */
	spit(name, "slot0", c, len);
	c[4096 + 64] ^= 0x5a;
	spit(name, "slots", c, len);
	spit(name, "trunc", b, len - len / 3);
	memcpy(c, b, len);
	memset(c + len - ps, 0, ps);
	spit(name, "zero-last", c, len);
	/* a flipped byte at several places of a few pages */
	size_t first = 8192 / ps ? 8192 / ps : 1;
	size_t pick[3] = {first, first + (npages - first) / 2, npages - 1};
	static const size_t at[] = {0, 8, 17, 40, 100, 2048};
	for (int i = 0; i < 3; i++) {
		for (size_t j = 0; j < sizeof(at) / sizeof(at[0]); j++) {
			char suffix[32];
			memcpy(c, b, len);
			c[pick[i] * ps + at[j]] ^= 0xa5;
			snprintf(suffix, sizeof(suffix), "page%zu-%zu", pick[i], at[j]);
			spit(name, suffix, c, len);
		}
	}
	free(b);
	free(c);
}

int main(int argc, char **argv)
{
	if (argc != 2 && argc != 3) {
		fprintf(stderr, "usage: fuzz-mkseed DIR [KNOWN-DIR]\n");
		return 2;
	}
	outdir = argv[1];
	if (mkdir(outdir, 0755) < 0 && errno != EEXIST)
		seed_die(outdir, errno);

	make_fs("fs-empty", 4096, 0);
	make_fs("fs-files", 4096, 1);
	make_fs("fs-files-8k", 8192, 1);
	make_store("store-rows", 4096, 0);
	make_store("store-freed", 4096, 1);
	make_store("store-compacted", 4096, 2);

	damage("fs-empty", 4096);
	damage("fs-files", 4096);
	damage("fs-files-8k", 8192);
	damage("store-rows", 4096);
	damage("store-freed", 4096);
	damage("store-compacted", 4096);

	/* the crafted inputs of the bugs found and fixed (README.md, Known
	   bugs): ordinary seeds now, each a regression test */
	craft_fixed(outdir);

	/* KNOWN-DIR: inputs of known bugs not yet fixed, apart (libFuzzer
	   reads a corpus directory with its subdirectories, and would stop at
	   the first); none today, so it stays empty */
	if (argc == 3 && mkdir(argv[2], 0755) < 0 && errno != EEXIST)
		seed_die(argv[2], errno);
	return 0;
}
