/*
 * check.c — filesystem cross-checks of an image's tables, for fsck.slatefs
 * and the tests (the store's own structure is checked by store_verify).
 * Passes, each over one table:
 *   1 inode rows: decode, inline data against size and type, numbers below
 *     the super row's mark;
 *   2 dirents: parent is a directory, name is valid, child exists with the
 *     type the entry says, the dircookie row agrees, cookie below the
 *     parent's next_cookie; counts links, subdirectories and entries;
 *   3 dircookies: each has its dirent;
 *   4 counts: nlink against dirents (2 + subdirectories for directories),
 *     directory size against entries, one parent per directory, no
 *     unreachable inode, unlinked inodes only with an orphan row;
 *   5 orphans: the inode exists (reclaimed at the next mount);
 *   6 chunks: a chunked regular inode, within EOF (unless a truncate is in
 *     progress: orphan row), blob present and no longer than the chunk's
 *     live part; blob reference counts and per-inode stored bytes;
 *   7 xattrs: the inode exists, the name is valid.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "schema.h"

struct ent {
	uint64_t ino;
	struct sfs_attr a;
	uint64_t links, subdirs, entries, dirlinks, parent_seen, stored;
	bool orphan;
};

struct ck {
	store_txn *txn;
	struct sfs_tables t;
	struct sfs_super sb;
	void (*problem)(void *ctx, const char *msg);
	void *ctx;
	struct sfs_check_report *rep;
	struct ent *ents;
	size_t nents, cap;
	/* open addressing: ino -> index + 1 into ents */
	uint64_t *slots;
	size_t nslots;
	/* blob id -> chunk references */
	uint64_t *bkeys, *bvals;
	size_t nb, bslots;
};

static void bad(struct ck *ck, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bad(struct ck *ck, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ck->rep->errors++;
	if (ck->problem)
		ck->problem(ck->ctx, msg);
}

static size_t hslot(uint64_t key, size_t n)
{
	return (size_t)((key * UINT64_C(0x9E3779B97F4A7C15)) >> 17) & (n - 1);
}

static struct ent *find(struct ck *ck, uint64_t ino)
{
	for (size_t s = hslot(ino, ck->nslots);; s = (s + 1) & (ck->nslots - 1)) {
		uint64_t v = ck->slots[s];
		if (!v)
			return NULL;
		if (ck->ents[v - 1].ino == ino)
			return &ck->ents[v - 1];
	}
}

static int index_ents(struct ck *ck)
{
	ck->nslots = 16;
	while (ck->nslots < ck->nents * 2 + 2)
		ck->nslots *= 2;
	ck->slots = calloc(ck->nslots, sizeof(*ck->slots));
	if (!ck->slots)
		return -ENOMEM;
	for (size_t k = 0; k < ck->nents; k++) {
		size_t s = hslot(ck->ents[k].ino, ck->nslots);
		while (ck->slots[s])
			s = (s + 1) & (ck->nslots - 1);
		ck->slots[s] = k + 1;
	}
	return 0;
}

static int blob_count(struct ck *ck, uint64_t id)
{
	if (ck->nb * 2 + 2 > ck->bslots) {
		size_t ns = ck->bslots ? ck->bslots * 2 : 1024;
		uint64_t *nk = calloc(ns, sizeof(*nk)), *nv = calloc(ns, sizeof(*nv));
		if (!nk || !nv) {
			free(nk);
			free(nv);
			return -ENOMEM;
		}
		for (size_t s = 0; s < ck->bslots; s++) {
			if (!ck->bkeys[s])
				continue;
			size_t d = hslot(ck->bkeys[s], ns);
			while (nk[d])
				d = (d + 1) & (ns - 1);
			nk[d] = ck->bkeys[s];
			nv[d] = ck->bvals[s];
		}
		free(ck->bkeys);
		free(ck->bvals);
		ck->bkeys = nk;
		ck->bvals = nv;
		ck->bslots = ns;
	}
	size_t s = hslot(id, ck->bslots);
	while (ck->bkeys[s] && ck->bkeys[s] != id)
		s = (s + 1) & (ck->bslots - 1);
	if (!ck->bkeys[s]) {
		ck->bkeys[s] = id;
		ck->nb++;
	}
	ck->bvals[s]++;
	return 0;
}

/* Walk a whole table: cb(key, value) for every row. */
static int walk(struct ck *ck, store_table t, int (*cb)(struct ck *, const uint8_t *, size_t,
							 const uint8_t *, size_t))
{
	store_cursor *c = NULL;
	int r = store_cursor_open(ck->txn, t, &c);

	if (r == 0)
		r = store_cursor_seek(c, STORE_SEEK_FIRST, NULL, 0);
	while (r == 0) {
		const void *k, *v;
		size_t kl, vl;
		r = store_cursor_get(c, &k, &kl, &v, &vl);
		if (r == 0)
			r = cb(ck, k, kl, v, vl);
		if (r == 0)
			r = store_cursor_next(c);
	}
	if (c)
		store_cursor_close(c);
	return r == -ENOENT ? 0 : r;
}

/* ---- pass 1: inodes ------------------------------------------------------------- */

static int p_inode(struct ck *ck, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
	struct sfs_attr a;
	uint64_t ino;

	if (kl != 8) {
		bad(ck, "inode table: key of %zu bytes", kl);
		return 0;
	}
	ino = sfs_get_be64(k);
	if (sfs_attr_decode(v, vl, &a) < 0) {
		bad(ck, "inode %llu: row does not decode", (unsigned long long)ino);
		return 0;
	}
	ck->rep->inodes++;
	if (ino >= ck->sb.next_ino)
		bad(ck, "inode %llu: at or above the super row's next inode number %llu",
		    (unsigned long long)ino, (unsigned long long)ck->sb.next_ino);
	if (vl != SFS_INODE_ROW_FIXED + a.inline_len)
		bad(ck, "inode %llu: row of %zu bytes for %u bytes of inline data",
		    (unsigned long long)ino, vl, a.inline_len);
	if (S_ISREG(a.mode)) {
		if ((a.flags & SFS_IF_INLINE) && a.inline_len > a.size)
			bad(ck, "inode %llu: %u bytes of inline data past its size %llu",
			    (unsigned long long)ino, a.inline_len, (unsigned long long)a.size);
		if (!(a.flags & SFS_IF_INLINE) && a.inline_len)
			bad(ck, "inode %llu: chunked file with inline data", (unsigned long long)ino);
		if (a.size > SFS_MAX_FILE_SIZE)
			bad(ck, "inode %llu: size %llu past the limit", (unsigned long long)ino,
			    (unsigned long long)a.size);
	} else if (S_ISLNK(a.mode)) {
		if (a.inline_len != a.size || a.size == 0 || a.size > SFS_SYMLINK_MAX)
			bad(ck, "inode %llu: symlink of size %llu with a %u-byte target",
			    (unsigned long long)ino, (unsigned long long)a.size, a.inline_len);
	} else if (S_ISDIR(a.mode)) {
		ck->rep->dirs++;
		if (a.inline_len)
			bad(ck, "directory %llu: has inline data", (unsigned long long)ino);
		if (a.next_cookie < SFS_COOKIE_FIRST)
			bad(ck, "directory %llu: next cookie %llu", (unsigned long long)ino,
			    (unsigned long long)a.next_cookie);
	} else if (!S_ISCHR(a.mode) && !S_ISBLK(a.mode) && !S_ISFIFO(a.mode) &&
		   !S_ISSOCK(a.mode)) {
		bad(ck, "inode %llu: unknown file type in mode %o", (unsigned long long)ino, a.mode);
	}
	if (ck->nents == ck->cap) {
		size_t nc = ck->cap ? ck->cap * 2 : 1024;
		struct ent *ne = realloc(ck->ents, nc * sizeof(*ne));
		if (!ne)
			return -ENOMEM;
		ck->ents = ne;
		ck->cap = nc;
	}
	struct ent *e = &ck->ents[ck->nents++];
	memset(e, 0, sizeof(*e));
	e->ino = ino;
	e->a = a;
	return 0;
}

/* ---- passes 2 and 3: directory entries ----------------------------------------------- */

static int p_dirent(struct ck *ck, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
	char name[SFS_NAME_MAX + 1];
	uint64_t parent, child, cookie;
	struct ent *pe, *ce;
	size_t nl;

	ck->rep->dirents++;
	if (kl < 9 || kl > 8 + SFS_NAME_MAX || vl != SFS_DIRENT_VAL) {
		bad(ck, "dirent table: malformed row (key %zu, value %zu bytes)", kl, vl);
		return 0;
	}
	parent = sfs_get_be64(k);
	nl = kl - 8;
	memcpy(name, k + 8, nl);
	name[nl] = 0;
	child = sfs_get_le64(v);
	cookie = sfs_get_le64(v + 9);
	if (strlen(name) != nl || memchr(name, '/', nl) || strcmp(name, ".") == 0 ||
	    strcmp(name, "..") == 0)
		bad(ck, "directory %llu: invalid entry name '%s'", (unsigned long long)parent, name);
	pe = find(ck, parent);
	if (!pe)
		bad(ck, "entry '%s' in missing directory %llu", name, (unsigned long long)parent);
	else if (!S_ISDIR(pe->a.mode))
		bad(ck, "entry '%s' in inode %llu, which is not a directory", name,
		    (unsigned long long)parent);
	else {
		pe->entries++;
		if (cookie < SFS_COOKIE_FIRST || cookie >= pe->a.next_cookie)
			bad(ck, "directory %llu: entry '%s' has cookie %llu outside [%d, %llu)",
			    (unsigned long long)parent, name, (unsigned long long)cookie,
			    SFS_COOKIE_FIRST, (unsigned long long)pe->a.next_cookie);
	}
	ce = find(ck, child);
	if (!ce) {
		bad(ck, "directory %llu: entry '%s' names missing inode %llu",
		    (unsigned long long)parent, name, (unsigned long long)child);
	} else {
		ce->links++;
		if (v[8] != sfs_dtype(ce->a.mode))
			bad(ck, "directory %llu: entry '%s' says type %u, inode %llu has mode %o",
			    (unsigned long long)parent, name, v[8], (unsigned long long)child,
			    ce->a.mode);
		if (S_ISDIR(ce->a.mode)) {
			ce->dirlinks++;
			ce->parent_seen = parent;
			if (pe)
				pe->subdirs++;
		}
	}

	/* its dircookie row must agree */
	uint8_t key[16], cv[9 + SFS_NAME_MAX];
	size_t cl = 0;
	int r = store_get(ck->txn, ck->t.dircookie, key, sfs_key_ino2(key, parent, cookie), cv,
			  sizeof(cv), &cl);
	if (r == -ENOENT)
		bad(ck, "directory %llu: entry '%s' has no cookie row %llu",
		    (unsigned long long)parent, name, (unsigned long long)cookie);
	else if (r < 0)
		return r;
	else if (cl != 9 + nl || sfs_get_le64(cv) != child || cv[8] != v[8] ||
		 memcmp(cv + 9, name, nl) != 0)
		bad(ck, "directory %llu: cookie row %llu disagrees with entry '%s'",
		    (unsigned long long)parent, (unsigned long long)cookie, name);
	return 0;
}

static int p_dircookie(struct ck *ck, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
	uint8_t key[8 + SFS_NAME_MAX], dv[SFS_DIRENT_VAL];
	size_t dl = 0;
	int r;

	if (kl != 16 || vl < 10 || vl > 9 + SFS_NAME_MAX) {
		bad(ck, "dircookie table: malformed row (key %zu, value %zu bytes)", kl, vl);
		return 0;
	}
	uint64_t parent = sfs_get_be64(k), cookie = sfs_get_be64(k + 8);
	memcpy(key, k, 8);
	memcpy(key + 8, v + 9, vl - 9);
	r = store_get(ck->txn, ck->t.dirent, key, 8 + vl - 9, dv, sizeof(dv), &dl);
	if (r == -ENOENT || (r == 0 && (dl != SFS_DIRENT_VAL || sfs_get_le64(dv + 9) != cookie)))
		bad(ck, "directory %llu: cookie row %llu has no matching entry",
		    (unsigned long long)parent, (unsigned long long)cookie);
	else if (r < 0)
		return r;
	return 0;
}

/* ---- passes 5..7 ------------------------------------------------------------------- */

static int p_orphan(struct ck *ck, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
	(void)v;
	(void)vl;
	if (kl != 8) {
		bad(ck, "orphan table: key of %zu bytes", kl);
		return 0;
	}
	struct ent *e = find(ck, sfs_get_be64(k));
	ck->rep->orphans++;
	if (!e)
		bad(ck, "orphan row for missing inode %llu", (unsigned long long)sfs_get_be64(k));
	else
		e->orphan = true;
	return 0;
}

static int p_chunk(struct ck *ck, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
	struct store_blob_info bi;
	uint64_t ino, idx, id, cs = ck->sb.chunk_size;
	struct ent *e;
	int r;

	ck->rep->chunks++;
	if (kl != 16 || vl != 8) {
		bad(ck, "chunk table: malformed row (key %zu, value %zu bytes)", kl, vl);
		return 0;
	}
	ino = sfs_get_be64(k);
	idx = sfs_get_be64(k + 8);
	id = sfs_get_le64(v);
	e = find(ck, ino);
	if (!e) {
		bad(ck, "chunk %llu of missing inode %llu", (unsigned long long)idx,
		    (unsigned long long)ino);
	} else if (!S_ISREG(e->a.mode)) {
		bad(ck, "chunk %llu of inode %llu, which is not a regular file",
		    (unsigned long long)idx, (unsigned long long)ino);
	} else if (e->a.flags & SFS_IF_INLINE) {
		bad(ck, "chunk %llu of inode %llu, whose data is inline", (unsigned long long)idx,
		    (unsigned long long)ino);
	}
	r = store_blob_stat(ck->txn, id, &bi);
	if (r == -ENOENT) {
		bad(ck, "inode %llu chunk %llu: blob %llu is missing", (unsigned long long)ino,
		    (unsigned long long)idx, (unsigned long long)id);
		return 0;
	}
	if (r < 0)
		return r;
	ck->rep->data_bytes += bi.length;
	if (e) {
		e->stored += bi.stored;
		uint64_t start = idx * cs;
		uint64_t live = e->a.size > start ? e->a.size - start : 0;
		if (live > cs)
			live = cs;
		if (bi.length > live && !e->orphan)
			bad(ck, "inode %llu chunk %llu: %llu bytes stored past its size %llu",
			    (unsigned long long)ino, (unsigned long long)idx,
			    (unsigned long long)bi.length, (unsigned long long)e->a.size);
	}
	return blob_count(ck, id);
}

static int p_xattr(struct ck *ck, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
	(void)v;
	ck->rep->xattrs++;
	if (kl <= 8 || kl > 8 + SFS_XATTR_NAME_MAX || vl > SFS_XATTR_SIZE_MAX) {
		bad(ck, "xattr table: malformed row (key %zu, value %zu bytes)", kl, vl);
		return 0;
	}
	if (memchr(k + 8, 0, kl - 8))
		bad(ck, "inode %llu: xattr name with a NUL byte", (unsigned long long)sfs_get_be64(k));
	if (!find(ck, sfs_get_be64(k)))
		bad(ck, "xattr of missing inode %llu", (unsigned long long)sfs_get_be64(k));
	return 0;
}

/* ---- pass 4: counts ------------------------------------------------------------------- */

static void check_counts(struct ck *ck)
{
	bool root = false;

	for (size_t k = 0; k < ck->nents; k++) {
		struct ent *e = &ck->ents[k];
		unsigned long long ino = (unsigned long long)e->ino;

		if (e->ino == SFS_ROOT_INO) {
			root = true;
			if (!S_ISDIR(e->a.mode))
				bad(ck, "the root inode is not a directory");
			if (e->dirlinks)
				bad(ck, "the root directory has %llu entries naming it",
				    (unsigned long long)e->dirlinks);
		}
		if (S_ISDIR(e->a.mode)) {
			if (e->a.nlink == 0) {
				if (!e->orphan)
					bad(ck, "removed directory %llu has no orphan row", ino);
			} else {
				if (e->ino != SFS_ROOT_INO && e->dirlinks != 1)
					bad(ck, "directory %llu is named by %llu entries", ino,
					    (unsigned long long)e->dirlinks);
				if (e->a.nlink != 2 + e->subdirs)
					bad(ck, "directory %llu: nlink %u, but it has %llu "
						"subdirectories",
					    ino, e->a.nlink, (unsigned long long)e->subdirs);
				if (e->a.size != e->entries)
					bad(ck, "directory %llu: size %llu, but it has %llu entries",
					    ino, (unsigned long long)e->a.size,
					    (unsigned long long)e->entries);
				if (e->ino != SFS_ROOT_INO && e->dirlinks == 1 &&
				    e->a.parent != e->parent_seen)
					bad(ck, "directory %llu: parent %llu, but it is in %llu", ino,
					    (unsigned long long)e->a.parent,
					    (unsigned long long)e->parent_seen);
			}
		} else if (e->a.nlink == 0 && e->links == 0) {
			if (!e->orphan)
				bad(ck, "unlinked inode %llu has no orphan row (leaked)", ino);
		} else if (e->a.nlink != e->links) {
			bad(ck, "inode %llu: nlink %u, but %llu entries name it", ino, e->a.nlink,
			    (unsigned long long)e->links);
		}
		if (S_ISREG(e->a.mode) && !e->orphan) {
			uint64_t want = (e->a.flags & SFS_IF_INLINE) ? e->a.inline_len : e->stored;
			if (e->a.blocks != want)
				bad(ck, "inode %llu: %llu bytes stored, its row says %llu", ino,
				    (unsigned long long)want, (unsigned long long)e->a.blocks);
		}
	}
	if (!root)
		bad(ck, "the root directory (inode 1) is missing");
}

static int check_blob_refs(struct ck *ck)
{
	for (size_t s = 0; s < ck->bslots; s++) {
		struct store_blob_info bi;
		if (!ck->bkeys[s])
			continue;
		int r = store_blob_stat(ck->txn, ck->bkeys[s], &bi);
		if (r == -ENOENT)
			continue; /* reported with its chunk */
		if (r < 0)
			return r;
		if (bi.refs != ck->bvals[s])
			bad(ck, "blob %llu: reference count %u, but %llu chunks use it",
			    (unsigned long long)ck->bkeys[s], bi.refs,
			    (unsigned long long)ck->bvals[s]);
	}
	return 0;
}

int sfs_check(store_txn *txn, void (*problem)(void *ctx, const char *msg), void *ctx,
	      struct sfs_check_report *rep)
{
	struct ck ck = {.txn = txn, .problem = problem, .ctx = ctx, .rep = rep};
	int r;

	memset(rep, 0, sizeof(*rep));
	r = sfs_tables_open(txn, &ck.t);
	if (r == -ENOENT) {
		bad(&ck, "the image holds no slatefs filesystem (a table is missing)");
		return 0;
	}
	if (r < 0)
		return r;
	r = sfs_super_read(txn, &ck.t, &ck.sb);
	if (r < 0) {
		bad(&ck, "the super row is missing or damaged (%s)", strerror(-r));
		return 0;
	}
	r = walk(&ck, ck.t.inode, p_inode);
	if (r == 0)
		r = index_ents(&ck);
	if (r == 0)
		r = walk(&ck, ck.t.dirent, p_dirent);
	if (r == 0)
		r = walk(&ck, ck.t.dircookie, p_dircookie);
	if (r == 0)
		r = walk(&ck, ck.t.orphan, p_orphan);
	if (r == 0)
		r = walk(&ck, ck.t.chunk, p_chunk);
	if (r == 0)
		r = walk(&ck, ck.t.xattr, p_xattr);
	if (r == 0) {
		check_counts(&ck);
		r = check_blob_refs(&ck);
	}
	free(ck.ents);
	free(ck.slots);
	free(ck.bkeys);
	free(ck.bvals);
	return r;
}
