/*
 * repair.c — the repairs of fsck.slatefs: each cures one kind of finding of
 * the filesystem check (fs/check.c, fs/repair.h), inside the caller's write
 * txn. A repair re-reads the rows it changes and does nothing if they are
 * no longer as the check saw them (counted as failed; the next check tells).
 *
 * Rules the repairs keep:
 *   R1 Nothing reachable is thrown away: an inode no entry names goes to
 *      /lost+found as "#INO", never deleted; a directory cycle is broken by
 *      unhooking one directory, which then goes to /lost+found too.
 *   R2 Only rows that cannot mean anything are removed: entries naming a
 *      missing inode, chunks of no file or past its end, cookie, xattr and
 *      orphan rows of nothing.
 *   R3 Counts (nlink, sizes, stored bytes, blob references) are set to what
 *      the rows say, never the rows to what the counts say.
 *   R4 A blob is deleted only when the check found that nothing references
 *      it; a chunk row's removal leaves its blob to the reference count
 *      repair (stage 3), so a blob shared with another chunk stays.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "repair.h"

enum { ROW_MAX = SFS_INODE_ROW_FIXED + SFS_SYMLINK_MAX + 1 };

struct rp {
	store_txn *txn;
	struct sfs_tables t;
	struct sfs_super sb;
	bool sb_dirty;
	uint64_t lf; /* inode of /lost+found, once known */
	bool lf_failed;
	void (*log)(void *ctx, const char *msg);
	void *ctx;
	struct sfs_repair_report *rep;
};

static void say(struct rp *rp, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct rp *rp, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (!rp->log)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	rp->log(rp->ctx, msg);
}

int sfs_fix_stage(enum sfs_fix fix)
{
	if (fix == SFS_FIX_NONE || fix >= SFS_FIX_COUNT)
		return 0;
	if (fix < SFS_FIX_LOST)
		return 1;
	if (fix == SFS_FIX_LOST)
		return 2;
	if (fix < SFS_FIX_FREE_MAP)
		return 3;
	return 4;
}

const char *sfs_fix_what(enum sfs_fix fix)
{
	static const char *const what[SFS_FIX_COUNT] = {
		[SFS_FIX_NONE] = "nothing (cannot be repaired)",
		[SFS_FIX_ENTRY] = "remove directory entries that name no inode or one too many",
		[SFS_FIX_ENTRY_TYPE] = "set directory entries' types to their inodes' types",
		[SFS_FIX_COOKIE] = "give directory entries the readdir cookie rows they lack",
		[SFS_FIX_COOKIE_ROW] = "remove readdir cookie rows no entry owns",
		[SFS_FIX_NEXT_COOKIE] = "raise directories' next readdir cookie past those in use",
		[SFS_FIX_CHUNK] = "remove chunk rows of no file, past the end of file, or of lost blobs",
		[SFS_FIX_CHUNK_TRIM] = "cut the bytes chunks hold past the end of their file",
		[SFS_FIX_XATTR] = "remove extended attributes of missing inodes",
		[SFS_FIX_ORPHAN] = "remove orphan rows of missing inodes",
		[SFS_FIX_NEXT_INO] = "raise the next inode number past those in use",
		[SFS_FIX_CYCLE] = "break directory cycles the root does not reach",
		[SFS_FIX_LOST] = "link lost inodes into /lost+found",
		[SFS_FIX_NLINK] = "set link counts to the entries that name each inode",
		[SFS_FIX_DIR_SIZE] = "set directory sizes to their number of entries",
		[SFS_FIX_DIR_PARENT] = "set directories' parents to the directory holding them",
		[SFS_FIX_BLOCKS] = "set files' stored bytes to their chunks'",
		[SFS_FIX_BLOB_REFS] = "set blob reference counts to the chunks using them",
		[SFS_FIX_BLOB_LEAK] = "delete blobs nothing references (leaked space)",
		[SFS_FIX_FREE_MAP] = "rebuild the free-space map from the reachable pages",
		[SFS_FIX_SLOT] = "rewrite the damaged commit slot",
	};
	return fix < SFS_FIX_COUNT && what[fix] ? what[fix] : "?";
}

/* ---- inode rows --------------------------------------------------------------------- */

struct irow {
	uint64_t ino;
	struct sfs_attr a;
	uint8_t row[ROW_MAX];
	size_t len;
};

static int irow_get(struct rp *rp, uint64_t ino, struct irow *ir)
{
	uint8_t key[8];
	int r = store_get(rp->txn, rp->t.inode, key, sfs_key_ino(key, ino), ir->row,
			  sizeof(ir->row), &ir->len);
	if (r < 0)
		return r;
	if (ir->len > sizeof(ir->row))
		return -EFBIG;
	ir->ino = ino;
	return sfs_attr_decode(ir->row, ir->len, &ir->a);
}

static int irow_put(struct rp *rp, struct irow *ir)
{
	uint8_t key[8];
	sfs_attr_encode(&ir->a, ir->row);
	return store_put(rp->txn, rp->t.inode, key, sfs_key_ino(key, ir->ino), ir->row, ir->len,
			 STORE_MUSTEXIST);
}

static int super_put(struct rp *rp)
{
	uint8_t row[SFS_SUPER_ROW];
	int r = sfs_super_encode(&rp->sb, row);
	if (r == 0)
		r = store_put(rp->txn, rp->t.super, "super", 5, row, sizeof(row), 0);
	return r;
}

/* ---- entries -------------------------------------------------------------------------- */

static int del_if(struct rp *rp, store_table t, const void *k, size_t kl)
{
	int r = store_del(rp->txn, t, k, kl);
	return r == -ENOENT ? 0 : r;
}

/* Remove the cookie row (dir, cookie) if it belongs to the entry `name`. */
static int drop_cookie_of(struct rp *rp, uint64_t dir, uint64_t cookie, const void *name,
			  size_t nl)
{
	uint8_t key[16], cv[9 + SFS_NAME_MAX];
	size_t cl = 0;
	int r = store_get(rp->txn, rp->t.dircookie, key, sfs_key_ino2(key, dir, cookie), cv,
			  sizeof(cv), &cl);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	if (cl == 9 + nl && memcmp(cv + 9, name, nl) == 0)
		return del_if(rp, rp->t.dircookie, key, 16);
	return 0;
}

/* Remove the entry with key k, and its cookie row. -ENOENT if gone already. */
static int drop_entry(struct rp *rp, const uint8_t *k, size_t kl)
{
	uint8_t v[SFS_DIRENT_VAL];
	size_t vl = 0;
	int r = store_get(rp->txn, rp->t.dirent, k, kl, v, sizeof(v), &vl);
	if (r < 0)
		return r;
	if (vl == SFS_DIRENT_VAL && kl > 8) {
		r = drop_cookie_of(rp, sfs_get_be64(k), sfs_get_le64(v + 9), k + 8, kl - 8);
		if (r < 0)
			return r;
	}
	return store_del(rp->txn, rp->t.dirent, k, kl);
}

/* A new cookie of directory dir (its row's next_cookie, moved up). */
static int new_cookie(struct rp *rp, uint64_t dir, uint64_t *cookie)
{
	struct irow *ir = malloc(sizeof(*ir));
	if (!ir)
		return -ENOMEM;
	int r = irow_get(rp, dir, ir);
	if (r == 0 && !S_ISDIR(ir->a.mode))
		r = -ENOTDIR;
	if (r == 0) {
		if (ir->a.next_cookie < SFS_COOKIE_FIRST)
			ir->a.next_cookie = SFS_COOKIE_FIRST;
		*cookie = ir->a.next_cookie++;
		r = irow_put(rp, ir);
	}
	free(ir);
	return r;
}

static int put_cookie_row(struct rp *rp, uint64_t dir, uint64_t cookie, uint64_t child,
			  unsigned type, const void *name, size_t nl)
{
	uint8_t key[16], cv[9 + SFS_NAME_MAX];
	sfs_put_le64(cv, child);
	cv[8] = (uint8_t)type;
	memcpy(cv + 9, name, nl);
	return store_put(rp->txn, rp->t.dircookie, key, sfs_key_ino2(key, dir, cookie), cv, 9 + nl,
			 0);
}

/* SFS_FIX_COOKIE: the entry's own cookie row, or a new cookie if another
   entry owns the row at its cookie. */
static int fix_cookie(struct rp *rp, const struct sfs_finding *f)
{
	uint8_t v[SFS_DIRENT_VAL], key[16], cv[9 + SFS_NAME_MAX];
	size_t vl = 0, cl = 0;
	const uint8_t *name = f->key + 8;
	size_t nl = f->klen - 8;
	int r = store_get(rp->txn, rp->t.dirent, f->key, f->klen, v, sizeof(v), &vl);
	if (r < 0)
		return r;
	if (vl != SFS_DIRENT_VAL || f->klen <= 8)
		return -EINVAL;
	uint64_t dir = sfs_get_be64(f->key), cookie = sfs_get_le64(v + 9);
	bool fresh = cookie < SFS_COOKIE_FIRST;
	if (!fresh) {
		r = store_get(rp->txn, rp->t.dircookie, key, sfs_key_ino2(key, dir, cookie), cv,
			      sizeof(cv), &cl);
		if (r < 0 && r != -ENOENT)
			return r;
		/* a row of another entry's name stays that entry's */
		fresh = r == 0 && !(cl == 9 + nl && memcmp(cv + 9, name, nl) == 0);
	}
	if (fresh) {
		r = new_cookie(rp, dir, &cookie);
		if (r < 0)
			return r;
		sfs_put_le64(v + 9, cookie);
		r = store_put(rp->txn, rp->t.dirent, f->key, f->klen, v, vl, STORE_MUSTEXIST);
		if (r < 0)
			return r;
	}
	r = put_cookie_row(rp, dir, cookie, sfs_get_le64(v), v[8], name, nl);
	if (r == 0)
		say(rp, "directory %llu: entry '%.*s' has cookie row %llu", (unsigned long long)dir,
		    (int)nl, (const char *)name, (unsigned long long)cookie);
	return r;
}

static int fix_entry_type(struct rp *rp, const struct sfs_finding *f)
{
	uint8_t v[SFS_DIRENT_VAL], key[16], cv[9 + SFS_NAME_MAX];
	size_t vl = 0, cl = 0;
	int r = store_get(rp->txn, rp->t.dirent, f->key, f->klen, v, sizeof(v), &vl);
	if (r < 0)
		return r;
	if (vl != SFS_DIRENT_VAL || f->klen <= 8)
		return -EINVAL;
	v[8] = (uint8_t)f->val;
	r = store_put(rp->txn, rp->t.dirent, f->key, f->klen, v, vl, STORE_MUSTEXIST);
	if (r < 0)
		return r;
	uint64_t dir = sfs_get_be64(f->key), cookie = sfs_get_le64(v + 9);
	size_t nl = f->klen - 8;
	r = store_get(rp->txn, rp->t.dircookie, key, sfs_key_ino2(key, dir, cookie), cv,
		      sizeof(cv), &cl);
	if (r == 0 && cl == 9 + nl && memcmp(cv + 9, f->key + 8, nl) == 0) {
		cv[8] = (uint8_t)f->val;
		r = store_put(rp->txn, rp->t.dircookie, key, 16, cv, cl, 0);
	} else if (r == -ENOENT || r == 0) {
		r = 0;
	}
	if (r == 0)
		say(rp, "directory %llu: entry '%.*s' now says type %u", (unsigned long long)dir,
		    (int)nl, (const char *)f->key + 8, (unsigned)f->val);
	return r;
}

/* SFS_FIX_CYCLE: remove the entry in f->dir that names f->ino. */
static int fix_cycle(struct rp *rp, const struct sfs_finding *f)
{
	uint8_t key[8 + SFS_NAME_MAX];
	size_t kl = 0;
	store_cursor *c = NULL;
	uint8_t start[8];
	int r = store_cursor_open(rp->txn, rp->t.dirent, &c);

	sfs_put_be64(start, f->dir);
	if (r == 0)
		r = store_cursor_seek(c, STORE_SEEK_GE, start, 8);
	while (r == 0) {
		const void *k, *v;
		size_t l, vl;
		r = store_cursor_get(c, &k, &l, &v, &vl);
		if (r < 0 || l < 8 || sfs_get_be64(k) != f->dir) {
			r = -ENOENT;
			break;
		}
		if (vl == SFS_DIRENT_VAL && sfs_get_le64(v) == f->ino && l <= sizeof(key)) {
			memcpy(key, k, l);
			kl = l;
			break;
		}
		r = store_cursor_next(c);
	}
	if (c)
		store_cursor_close(c);
	if (r < 0)
		return r;
	r = drop_entry(rp, key, kl);
	if (r == 0)
		say(rp, "directory %llu: removed entry '%.*s' of directory %llu (a cycle)",
		    (unsigned long long)f->dir, (int)(kl - 8), (const char *)key + 8,
		    (unsigned long long)f->ino);
	return r;
}

/* ---- /lost+found ------------------------------------------------------------------------- */

/* Add entry (dir, name) -> child with a new cookie; the directory's size
   (and nlink, for a subdirectory) move with it. -EEXIST if the name is taken. */
static int link_entry(struct rp *rp, uint64_t dir, const char *name, uint64_t child,
		      uint32_t mode)
{
	uint8_t key[8 + SFS_NAME_MAX], v[SFS_DIRENT_VAL];
	size_t nl = strlen(name), kl = sfs_key_name(key, dir, name, nl);
	struct irow *ir = malloc(sizeof(*ir));
	if (!ir)
		return -ENOMEM;
	int r = store_get(rp->txn, rp->t.dirent, key, kl, NULL, 0, NULL);
	if (r == 0)
		r = -EEXIST;
	else if (r == -ENOENT)
		r = irow_get(rp, dir, ir);
	if (r == 0 && !S_ISDIR(ir->a.mode))
		r = -ENOTDIR;
	if (r == 0) {
		if (ir->a.next_cookie < SFS_COOKIE_FIRST)
			ir->a.next_cookie = SFS_COOKIE_FIRST;
		uint64_t cookie = ir->a.next_cookie++;
		ir->a.size++;
		if (S_ISDIR(mode))
			ir->a.nlink++;
		r = irow_put(rp, ir);
		sfs_put_le64(v, child);
		v[8] = (uint8_t)sfs_dtype(mode);
		sfs_put_le64(v + 9, cookie);
		if (r == 0)
			r = store_put(rp->txn, rp->t.dirent, key, kl, v, sizeof(v), STORE_NOOVERWRITE);
		if (r == 0)
			r = put_cookie_row(rp, dir, cookie, child, v[8], name, nl);
	}
	free(ir);
	return r;
}

/* /lost+found: the directory of that name in the root, or a new one. */
static int lost_found(struct rp *rp, uint64_t *out)
{
	static const char name[] = "lost+found";
	uint8_t key[8 + sizeof(name)], v[SFS_DIRENT_VAL];
	size_t vl = 0;
	int r;

	if (rp->lf) {
		*out = rp->lf;
		return 0;
	}
	if (rp->lf_failed)
		return -EEXIST;
	r = store_get(rp->txn, rp->t.dirent, key, sfs_key_name(key, SFS_ROOT_INO, name, 10), v,
		      sizeof(v), &vl);
	if (r == 0) {
		struct irow *ir = malloc(sizeof(*ir));
		if (!ir)
			return -ENOMEM;
		r = vl == SFS_DIRENT_VAL ? irow_get(rp, sfs_get_le64(v), ir) : -EINVAL;
		if (r == 0 && S_ISDIR(ir->a.mode))
			rp->lf = ir->ino;
		free(ir);
		if (!rp->lf) {
			rp->lf_failed = true;
			say(rp, "/lost+found exists and is not a directory: lost inodes stay lost");
			return -EEXIST;
		}
		*out = rp->lf;
		return 0;
	}
	if (r != -ENOENT)
		return r;

	struct irow *root = malloc(sizeof(*root));
	if (!root)
		return -ENOMEM;
	r = irow_get(rp, SFS_ROOT_INO, root);
	if (r < 0) {
		free(root);
		return r;
	}
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	uint64_t ino = rp->sb.next_ino;
	struct sfs_attr a = {.mode = S_IFDIR | 0700, .uid = root->a.uid, .gid = root->a.gid,
			     .nlink = 2, .parent = SFS_ROOT_INO,
			     .next_cookie = SFS_COOKIE_FIRST, .atime = now, .mtime = now,
			     .ctime = now, .btime = now};
	uint8_t row[SFS_INODE_ROW_FIXED], ikey[8];
	free(root);
	sfs_attr_encode(&a, row);
	rp->sb.next_ino = ino + 1;
	rp->sb_dirty = true;
	r = store_put(rp->txn, rp->t.inode, ikey, sfs_key_ino(ikey, ino), row, sizeof(row),
		      STORE_NOOVERWRITE);
	if (r == 0)
		r = link_entry(rp, SFS_ROOT_INO, name, ino, a.mode);
	if (r < 0)
		return r;
	say(rp, "created /lost+found (inode %llu)", (unsigned long long)ino);
	rp->lf = ino;
	rp->rep->lost_found = ino;
	*out = ino;
	return 0;
}

static int fix_lost(struct rp *rp, const struct sfs_finding *f)
{
	uint64_t lf = 0;
	char name[40];
	int r = lost_found(rp, &lf);
	if (r < 0)
		return r;
	if (f->ino == lf)
		return -EINVAL;
	struct irow *ir = malloc(sizeof(*ir));
	if (!ir)
		return -ENOMEM;
	r = irow_get(rp, f->ino, ir);
	for (int k = 0; r == 0 && k < 100; k++) {
		if (k == 0)
			snprintf(name, sizeof(name), "#%llu", (unsigned long long)f->ino);
		else
			snprintf(name, sizeof(name), "#%llu.%d", (unsigned long long)f->ino, k);
		r = link_entry(rp, lf, name, f->ino, ir->a.mode);
		if (r != -EEXIST)
			break;
		r = 0;
	}
	if (r == 0) {
		if (S_ISDIR(ir->a.mode)) {
			ir->a.parent = lf;
			if (ir->a.nlink < 2)
				ir->a.nlink = 2;
		} else {
			ir->a.nlink = 1;
		}
		r = irow_put(rp, ir);
	}
	if (r == 0)
		say(rp, "inode %llu is now /lost+found/%s", (unsigned long long)f->ino, name);
	free(ir);
	return r;
}

/* ---- counts --------------------------------------------------------------------------- */

static int fix_count(struct rp *rp, const struct sfs_finding *f)
{
	static const char *const what[SFS_FIX_COUNT] = {
		[SFS_FIX_NLINK] = "nlink",
		[SFS_FIX_DIR_SIZE] = "size",
		[SFS_FIX_DIR_PARENT] = "parent",
		[SFS_FIX_BLOCKS] = "stored bytes",
		[SFS_FIX_NEXT_COOKIE] = "next cookie",
	};
	struct irow *ir = malloc(sizeof(*ir));
	if (!ir)
		return -ENOMEM;
	int r = irow_get(rp, f->ino, ir);
	uint64_t old = 0;
	if (r == 0) {
		switch (f->fix) {
		case SFS_FIX_NLINK:
			old = ir->a.nlink;
			ir->a.nlink = (uint32_t)f->val;
			break;
		case SFS_FIX_DIR_SIZE:
			old = ir->a.size;
			ir->a.size = f->val;
			break;
		case SFS_FIX_DIR_PARENT:
			old = ir->a.parent;
			ir->a.parent = f->val;
			break;
		case SFS_FIX_BLOCKS:
			old = ir->a.blocks;
			ir->a.blocks = f->val;
			break;
		case SFS_FIX_NEXT_COOKIE:
			old = ir->a.next_cookie;
			if (ir->a.next_cookie < f->val)
				ir->a.next_cookie = f->val;
			break;
		default:
			r = -EINVAL;
		}
	}
	if (r == 0)
		r = irow_put(rp, ir);
	if (r == 0)
		say(rp, "inode %llu: %s %llu -> %llu", (unsigned long long)f->ino, what[f->fix],
		    (unsigned long long)old, (unsigned long long)f->val);
	free(ir);
	return r;
}

/* ---- chunks and blobs ---------------------------------------------------------------- */

/* SFS_FIX_CHUNK_TRIM: keep the chunk's first f->val bytes (trailing zeros
   trimmed, as the daemon stores them) in a new blob. */
static int fix_chunk_trim(struct rp *rp, const struct sfs_finding *f)
{
	uint8_t v[8];
	size_t vl = 0, got = 0;
	int r = store_get(rp->txn, rp->t.chunk, f->key, f->klen, v, sizeof(v), &vl);
	if (r < 0)
		return r;
	if (vl != 8)
		return -EINVAL;
	uint64_t old = sfs_get_le64(v), id = 0;
	uint8_t *buf = malloc(f->val ? f->val : 1);
	if (!buf)
		return -ENOMEM;
	r = store_blob_read(rp->txn, old, 0, buf, f->val, &got);
	if (r == -EIO)
		r = -EINVAL; /* a damaged blob: left as it is, the check says so */
	while (r == 0 && got > 0 && buf[got - 1] == 0)
		got--;
	if (r == 0 && got == 0) {
		r = store_del(rp->txn, rp->t.chunk, f->key, f->klen); /* all zeros: a hole */
	} else if (r == 0) {
		r = store_blob_put(rp->txn, buf, got,
				   rp->sb.compress == SFS_COMPRESS_LZ4 ? STORE_BLOB_LZ4 : 0, &id);
		sfs_put_le64(v, id);
		if (r == 0)
			r = store_put(rp->txn, rp->t.chunk, f->key, f->klen, v, 8, STORE_MUSTEXIST);
	}
	if (r == 0)
		r = store_blob_delete(rp->txn, old);
	free(buf);
	if (r == 0)
		say(rp, "inode %llu chunk %llu: cut to %zu bytes", (unsigned long long)f->ino,
		    (unsigned long long)f->n, got);
	return r;
}

static int fix_blob(struct rp *rp, const struct sfs_finding *f)
{
	struct store_blob_info bi;
	int r = store_blob_stat(rp->txn, f->n, &bi);
	if (r < 0)
		return r;
	uint32_t old = bi.refs;
	if (f->fix == SFS_FIX_BLOB_LEAK) {
		uint64_t pages = bi.npages;
		for (uint32_t k = 0; k < old && r == 0; k++)
			r = store_blob_delete(rp->txn, f->n);
		if (r == 0)
			r = store_blob_stat(rp->txn, f->n, &bi) == -ENOENT ? 0 : -EIO;
		if (r == 0)
			say(rp, "blob %llu deleted (%llu pages freed)", (unsigned long long)f->n,
			    (unsigned long long)pages);
		return r;
	}
	if (f->val == 0)
		return -EINVAL; /* a leak is SFS_FIX_BLOB_LEAK's */
	for (uint64_t k = old; k < f->val && r == 0; k++)
		r = store_blob_share(rp->txn, f->n);
	for (uint64_t k = f->val; k < old && r == 0; k++)
		r = store_blob_delete(rp->txn, f->n);
	if (r == 0)
		say(rp, "blob %llu: reference count %u -> %llu", (unsigned long long)f->n, old,
		    (unsigned long long)f->val);
	return r;
}

/* ---- one finding ----------------------------------------------------------------------- */

static int fix_one(struct rp *rp, const struct sfs_finding *f, bool *free_map, bool *slot)
{
	int r;
	switch (f->fix) {
	case SFS_FIX_ENTRY:
		r = drop_entry(rp, f->key, f->klen);
		if (r == 0)
			say(rp, "directory %llu: removed entry '%.*s'", (unsigned long long)f->dir,
			    f->klen > 8 ? (int)(f->klen - 8) : 0, (const char *)f->key + 8);
		return r;
	case SFS_FIX_ENTRY_TYPE:
		return fix_entry_type(rp, f);
	case SFS_FIX_COOKIE:
		return fix_cookie(rp, f);
	case SFS_FIX_COOKIE_ROW:
	case SFS_FIX_CHUNK:
	case SFS_FIX_XATTR:
	case SFS_FIX_ORPHAN:
		r = store_del(rp->txn, f->table, f->key, f->klen);
		if (r < 0)
			return r;
		if (f->fix == SFS_FIX_COOKIE_ROW)
			say(rp, "directory %llu: removed cookie row %llu", (unsigned long long)f->dir,
			    (unsigned long long)f->n);
		else if (f->fix == SFS_FIX_CHUNK)
			say(rp, "inode %llu: removed chunk %llu", (unsigned long long)f->ino,
			    (unsigned long long)f->n);
		else if (f->fix == SFS_FIX_XATTR)
			say(rp, "inode %llu: removed xattr '%.*s'", (unsigned long long)f->ino,
			    f->klen > 8 ? (int)(f->klen - 8) : 0, (const char *)f->key + 8);
		else
			say(rp, "removed the orphan row of inode %llu", (unsigned long long)f->ino);
		return 0;
	case SFS_FIX_NEXT_COOKIE:
	case SFS_FIX_NLINK:
	case SFS_FIX_DIR_SIZE:
	case SFS_FIX_DIR_PARENT:
	case SFS_FIX_BLOCKS:
		return fix_count(rp, f);
	case SFS_FIX_CHUNK_TRIM:
		return fix_chunk_trim(rp, f);
	case SFS_FIX_NEXT_INO:
		if (rp->sb.next_ino < f->val) {
			rp->sb.next_ino = f->val;
			rp->sb_dirty = true;
		}
		return 0;
	case SFS_FIX_CYCLE:
		return fix_cycle(rp, f);
	case SFS_FIX_LOST:
		return fix_lost(rp, f);
	case SFS_FIX_BLOB_REFS:
	case SFS_FIX_BLOB_LEAK:
		return fix_blob(rp, f);
	case SFS_FIX_FREE_MAP:
		*free_map = true;
		return 0;
	case SFS_FIX_SLOT:
		*slot = true;
		return 0;
	default:
		return -EINVAL;
	}
}

int sfs_repair(store_txn *txn, const struct sfs_finding *f, size_t n, int stage,
	       const bool enabled[SFS_FIX_COUNT], void (*log)(void *ctx, const char *msg),
	       void *ctx, struct sfs_repair_report *rep)
{
	struct rp rp = {.txn = txn, .log = log, .ctx = ctx, .rep = rep};
	bool free_map = false, slot = false;
	int r;

	memset(rep, 0, sizeof(*rep));
	r = sfs_tables_open(txn, &rp.t);
	if (r == 0)
		r = sfs_super_read(txn, &rp.t, &rp.sb);
	if (r < 0)
		return r;
	for (size_t k = 0; k < n; k++) {
		if (sfs_fix_stage(f[k].fix) != stage || !enabled[f[k].fix])
			continue;
		r = fix_one(&rp, &f[k], &free_map, &slot);
		if (r == -ENOENT || r == -EINVAL || r == -EEXIST || r == -ENOTDIR) {
			rep->failed++; /* the rows changed since the check */
			continue;
		}
		if (r < 0)
			return r;
		rep->applied++;
	}
	if (rp.sb_dirty || slot) {
		/* a slot is rewritten by the commit, which needs a change to make */
		r = super_put(&rp);
		if (r < 0)
			return r;
		if (rp.sb_dirty)
			say(&rp, "next inode number: %llu", (unsigned long long)rp.sb.next_ino);
	}
	if (free_map) {
		uint64_t fixed = 0;
		r = store_repair_free_map(txn, &fixed);
		if (r < 0)
			return r;
		say(&rp, "free-space map rebuilt: %llu pages changed state",
		    (unsigned long long)fixed);
	}
	return 0;
}
