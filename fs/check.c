/*
 * check.c — filesystem cross-checks of an image's tables, for fsck.slatefs
 * and the tests (the store's own structure is checked by store_verify).
 * Each problem is a finding: one sentence, and the fix that cures it
 * (fs/repair.h). Counts are those of the rows as they are — a check never
 * assumes that another repair will be made — so that any subset of the
 * repairs leaves rows that agree with each other; the problems a repair
 * uncovers show up in the next check. Passes, each over one table:
 *   1 inode rows: decode, inline data against size and type, numbers below
 *     the super row's mark;
 *   2 dirents: parent is a directory, name is valid, child exists with the
 *     type the entry says, the dircookie row agrees, cookie below the
 *     parent's next_cookie; counts links, subdirectories and entries;
 *   3 dircookies: each has its dirent;
 *   4 orphans: the inode exists (reclaimed at the next mount);
 *   5 chunks: a chunked regular inode, within EOF (unless a truncate is in
 *     progress: orphan row), blob present and no longer than the chunk's
 *     live part;
 *   6 xattrs: the inode exists, the name is valid;
 *   7 counts: nlink against dirents (2 + subdirectories for directories),
 *     directory size against entries, one name and the right parent per
 *     directory, lost inodes (no entry, no orphan row), directories the root
 *     does not reach (cycles), stored bytes per file;
 *   8 blobs: reference counts against chunk users; blobs that no chunk and
 *     no row references (leaked space).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "repair.h"

struct ent {
	uint64_t ino;
	struct sfs_attr a;
	uint64_t links, subdirs, entries, dirlinks, parent_seen, stored, max_cookie;
	uint64_t name_dir, name_cookie; /* an entry naming it, for its path */
	bool orphan;
	bool in_parent; /* directories: an entry in a.parent names it */
	bool kept;      /* directories named twice: the entry kept was seen */
	uint8_t state;  /* reachability walk: 0 unknown, 1 on the path, 2 done */
};

struct ck {
	store_txn *txn;
	struct sfs_tables t;
	struct sfs_super sb;
	const struct sfs_check_cb *cb;
	struct sfs_check_report *rep;
	struct ent *ents;
	size_t nents, cap;
	/* open addressing: ino -> index + 1 into ents */
	uint64_t *slots;
	size_t nslots;
	/* blob id -> chunk references */
	uint64_t *bkeys, *bvals;
	size_t nb, bslots;
	uint64_t done, total, last_tick;
	bool multi_named;      /* some directory has more than one entry */
	uint64_t chunk_blob_bytes; /* length of the blobs chunks use, each once */
	const char *table;     /* name of the table being walked */
};

/* A finding with no repair, or one of the given kind. */
static struct sfs_finding fx(enum sfs_fix fix)
{
	struct sfs_finding f;
	memset(&f, 0, sizeof(f));
	f.fix = fix;
	return f;
}

/* A finding that removes row k of table t. */
static struct sfs_finding fx_row(enum sfs_fix fix, store_table t, const uint8_t *k, size_t kl)
{
	struct sfs_finding f = fx(fix);
	f.table = t;
	f.klen = (uint16_t)(kl < sizeof(f.key) ? kl : sizeof(f.key));
	memcpy(f.key, k, f.klen);
	return f;
}

static void bad(struct ck *ck, const struct sfs_finding *f, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void bad(struct ck *ck, const struct sfs_finding *f, const char *fmt, ...)
{
	static const struct sfs_finding none = {.fix = SFS_FIX_NONE};
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ck->rep->errors++;
	if (ck->cb && ck->cb->found)
		ck->cb->found(ck->cb->ctx, f ? f : &none, msg);
}

static void tick(struct ck *ck)
{
	ck->done++;
	if (ck->cb && ck->cb->progress && ck->done - ck->last_tick >= 1024) {
		ck->last_tick = ck->done;
		ck->cb->progress(ck->cb->ctx, ck->done, ck->total);
	}
}

static struct ent *find(struct ck *ck, uint64_t ino);

/*
 * " (/a/b)", the path of inode ino for a sentence, from the first entry
 * naming each inode on the way up (its cookie row holds the name); "" if it
 * has none, or the way up does not reach the root. One result at a time.
 */
static const char *where(struct ck *ck, uint64_t ino)
{
	static char out[SFS_NAME_MAX * 4 + 8];
	char path[sizeof(out) - 4];
	size_t len = 0;
	struct ent *e = find(ck, ino);

	if (ino == SFS_ROOT_INO)
		return " (/)";
	path[0] = 0;
	for (int depth = 0; e && e->ino != SFS_ROOT_INO; depth++) {
		uint8_t key[16], cv[9 + SFS_NAME_MAX];
		size_t cl = 0;
		if (!e->name_dir || depth == 64 ||
		    store_get(ck->txn, ck->t.dircookie, key,
			      sfs_key_ino2(key, e->name_dir, e->name_cookie), cv, sizeof(cv),
			      &cl) < 0 ||
		    cl < 10 || cl > sizeof(cv) || sfs_get_le64(cv) != e->ino)
			return "";
		size_t nl = cl - 9;
		if (len + nl + 1 >= sizeof(path))
			return "";
		memmove(path + nl + 1, path, len + 1);
		path[0] = '/';
		memcpy(path + 1, cv + 9, nl);
		len += nl + 1;
		e = find(ck, e->name_dir);
	}
	if (!e)
		return "";
	snprintf(out, sizeof(out), " (%s)", path);
	return out;
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

/* The chunk-user count of blob id (NULL: none), optionally adding one. */
static uint64_t *blob_users(struct ck *ck, uint64_t id)
{
	if (!ck->bslots)
		return NULL;
	size_t s = hslot(id, ck->bslots);
	while (ck->bkeys[s] && ck->bkeys[s] != id)
		s = (s + 1) & (ck->bslots - 1);
	return ck->bkeys[s] ? &ck->bvals[s] : NULL;
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
	bool first = !ck->bkeys[s];
	if (first) {
		ck->bkeys[s] = id;
		ck->nb++;
	}
	ck->bvals[s]++;
	return first;
}

/* Walk a whole table: cb(key, value) for every row. */
static int walk(struct ck *ck, store_table t, const char *name,
		int (*cb)(struct ck *, const uint8_t *, size_t, const uint8_t *, size_t))
{
	store_cursor *c = NULL;
	int r = store_cursor_open(ck->txn, t, &c);

	ck->table = name;
	if (r == 0)
		r = store_cursor_seek(c, STORE_SEEK_FIRST, NULL, 0);
	while (r == 0) {
		const void *k, *v;
		size_t kl, vl;
		r = store_cursor_get(c, &k, &kl, &v, &vl);
		if (r == 0)
			r = cb(ck, k, kl, v, vl);
		tick(ck);
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
		bad(ck, NULL, "inode table: key of %zu bytes", kl);
		return 0;
	}
	ino = sfs_get_be64(k);
	if (sfs_attr_decode(v, vl, &a) < 0) {
		bad(ck, NULL, "inode %llu: row does not decode", (unsigned long long)ino);
		return 0;
	}
	ck->rep->inodes++;
	if (ino >= ck->sb.next_ino) {
		struct sfs_finding f = fx(SFS_FIX_NEXT_INO);
		f.ino = ino;
		f.val = ino + 1;
		bad(ck, &f, "inode %llu: at or above the super row's next inode number %llu",
		    (unsigned long long)ino, (unsigned long long)ck->sb.next_ino);
	}
	if (vl != SFS_INODE_ROW_FIXED + a.inline_len)
		bad(ck, NULL, "inode %llu: row of %zu bytes for %u bytes of inline data",
		    (unsigned long long)ino, vl, a.inline_len);
	if (S_ISREG(a.mode)) {
		if ((a.flags & SFS_IF_INLINE) && a.inline_len > a.size)
			bad(ck, NULL, "inode %llu: %u bytes of inline data past its size %llu",
			    (unsigned long long)ino, a.inline_len, (unsigned long long)a.size);
		if (!(a.flags & SFS_IF_INLINE) && a.inline_len)
			bad(ck, NULL, "inode %llu: chunked file with inline data",
			    (unsigned long long)ino);
		if (a.size > SFS_MAX_FILE_SIZE)
			bad(ck, NULL, "inode %llu: size %llu past the limit", (unsigned long long)ino,
			    (unsigned long long)a.size);
	} else if (S_ISLNK(a.mode)) {
		if (a.inline_len != a.size || a.size == 0 || a.size > SFS_SYMLINK_MAX)
			bad(ck, NULL, "inode %llu: symlink of size %llu with a %u-byte target",
			    (unsigned long long)ino, (unsigned long long)a.size, a.inline_len);
	} else if (S_ISDIR(a.mode)) {
		ck->rep->dirs++;
		if (a.inline_len)
			bad(ck, NULL, "directory %llu: has inline data", (unsigned long long)ino);
	} else if (!S_ISCHR(a.mode) && !S_ISBLK(a.mode) && !S_ISFIFO(a.mode) &&
		   !S_ISSOCK(a.mode)) {
		bad(ck, NULL, "inode %llu: unknown file type in mode %o", (unsigned long long)ino,
		    a.mode);
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
	struct sfs_finding drop = fx_row(SFS_FIX_ENTRY, ck->t.dirent, k, kl);

	ck->rep->dirents++;
	if (kl < 9 || kl > 8 + SFS_NAME_MAX || vl != SFS_DIRENT_VAL) {
		if (kl >= 8)
			drop.dir = sfs_get_be64(k);
		bad(ck, &drop, "dirent table: malformed row (key %zu, value %zu bytes)", kl, vl);
		return 0;
	}
	parent = sfs_get_be64(k);
	nl = kl - 8;
	memcpy(name, k + 8, nl);
	name[nl] = 0;
	child = sfs_get_le64(v);
	cookie = sfs_get_le64(v + 9);
	drop.dir = parent;
	drop.ino = child;
	drop.n = cookie;
	if (strlen(name) != nl || memchr(name, '/', nl) || strcmp(name, ".") == 0 ||
	    strcmp(name, "..") == 0) {
		bad(ck, &drop, "directory %llu: invalid entry name '%s'", (unsigned long long)parent,
		    name);
		return 0;
	}
	pe = find(ck, parent);
	if (!pe) {
		bad(ck, &drop, "entry '%s' in missing directory %llu", name,
		    (unsigned long long)parent);
		return 0;
	}
	if (!S_ISDIR(pe->a.mode)) {
		bad(ck, &drop, "entry '%s' in inode %llu, which is not a directory", name,
		    (unsigned long long)parent);
		return 0;
	}
	pe->entries++;
	if (cookie > pe->max_cookie)
		pe->max_cookie = cookie;
	if (cookie < SFS_COOKIE_FIRST) {
		struct sfs_finding f = fx_row(SFS_FIX_COOKIE, ck->t.dirent, k, kl);
		f.dir = parent;
		f.ino = child;
		f.n = cookie;
		bad(ck, &f, "directory %llu: entry '%s' has cookie %llu, below %d",
		    (unsigned long long)parent, name, (unsigned long long)cookie, SFS_COOKIE_FIRST);
	}
	ce = find(ck, child);
	if (!ce) {
		bad(ck, &drop, "directory %llu: entry '%s' names missing inode %llu",
		    (unsigned long long)parent, name, (unsigned long long)child);
	} else if (child == SFS_ROOT_INO) {
		bad(ck, &drop, "directory %llu: entry '%s' names the root directory",
		    (unsigned long long)parent, name);
	} else {
		ce->links++;
		if (!ce->name_dir) {
			ce->name_dir = parent;
			ce->name_cookie = cookie;
		}
		if (v[8] != sfs_dtype(ce->a.mode)) {
			struct sfs_finding f = fx_row(SFS_FIX_ENTRY_TYPE, ck->t.dirent, k, kl);
			f.dir = parent;
			f.ino = child;
			f.n = cookie;
			f.val = sfs_dtype(ce->a.mode);
			bad(ck, &f, "directory %llu: entry '%s' says type %u, inode %llu has mode %o",
			    (unsigned long long)parent, name, v[8], (unsigned long long)child,
			    ce->a.mode);
		}
		if (S_ISDIR(ce->a.mode)) {
			ce->dirlinks++;
			ce->parent_seen = parent;
			if (parent == ce->a.parent)
				ce->in_parent = true;
			if (ce->dirlinks > 1)
				ck->multi_named = true;
			pe->subdirs++;
		}
	}

	/* its dircookie row must agree */
	uint8_t key[16], cv[9 + SFS_NAME_MAX];
	size_t cl = 0;
	int r = store_get(ck->txn, ck->t.dircookie, key, sfs_key_ino2(key, parent, cookie), cv,
			  sizeof(cv), &cl);
	if (r < 0 && r != -ENOENT)
		return r;
	if (cookie >= SFS_COOKIE_FIRST) {
		struct sfs_finding f = fx_row(SFS_FIX_COOKIE, ck->t.dirent, k, kl);
		f.dir = parent;
		f.ino = child;
		f.n = cookie;
		if (r == -ENOENT)
			bad(ck, &f, "directory %llu: entry '%s' has no cookie row %llu",
			    (unsigned long long)parent, name, (unsigned long long)cookie);
		else if (cl != 9 + nl || sfs_get_le64(cv) != child || cv[8] != v[8] ||
			 memcmp(cv + 9, name, nl) != 0)
			bad(ck, &f, "directory %llu: cookie row %llu disagrees with entry '%s'",
			    (unsigned long long)parent, (unsigned long long)cookie, name);
	}
	return 0;
}

static int p_dircookie(struct ck *ck, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
	uint8_t key[8 + SFS_NAME_MAX], dv[SFS_DIRENT_VAL];
	size_t dl = 0;
	int r;
	struct sfs_finding f = fx_row(SFS_FIX_COOKIE_ROW, ck->t.dircookie, k, kl);

	if (kl != 16 || vl < 10 || vl > 9 + SFS_NAME_MAX) {
		bad(ck, &f, "dircookie table: malformed row (key %zu, value %zu bytes)", kl, vl);
		return 0;
	}
	uint64_t parent = sfs_get_be64(k), cookie = sfs_get_be64(k + 8);
	f.dir = parent;
	f.n = cookie;
	memcpy(key, k, 8);
	memcpy(key + 8, v + 9, vl - 9);
	r = store_get(ck->txn, ck->t.dirent, key, 8 + vl - 9, dv, sizeof(dv), &dl);
	if (r == -ENOENT || (r == 0 && (dl != SFS_DIRENT_VAL || sfs_get_le64(dv + 9) != cookie)))
		bad(ck, &f, "directory %llu: cookie row %llu has no matching entry",
		    (unsigned long long)parent, (unsigned long long)cookie);
	else if (r < 0)
		return r;
	return 0;
}

/* Directories named more than once: every name but one goes. The one kept is
   the entry in the directory's recorded parent, or else the first one. */
static int p_dirent_extra(struct ck *ck, const uint8_t *k, size_t kl, const uint8_t *v,
			  size_t vl)
{
	if (kl < 9 || kl > 8 + SFS_NAME_MAX || vl != SFS_DIRENT_VAL)
		return 0;
	uint64_t parent = sfs_get_be64(k), child = sfs_get_le64(v);
	struct ent *ce = find(ck, child), *pe = find(ck, parent);
	if (!ce || !pe || !S_ISDIR(ce->a.mode) || !S_ISDIR(pe->a.mode) || ce->dirlinks < 2 ||
	    child == SFS_ROOT_INO)
		return 0;
	bool keep = ce->in_parent ? parent == ce->a.parent : true;
	if (keep && !ce->kept) {
		ce->kept = true;
		return 0;
	}
	struct sfs_finding f = fx_row(SFS_FIX_ENTRY, ck->t.dirent, k, kl);
	f.dir = parent;
	f.ino = child;
	f.n = sfs_get_le64(v + 9);
	bad(ck, &f, "directory %llu is named by %llu entries: removing its entry '%.*s' in "
		    "directory %llu",
	    (unsigned long long)child, (unsigned long long)ce->dirlinks, (int)(kl - 8),
	    (const char *)k + 8, (unsigned long long)parent);
	return 0;
}

/* ---- passes 4..6 ------------------------------------------------------------------- */

static int p_orphan(struct ck *ck, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
	(void)v;
	(void)vl;
	struct sfs_finding f = fx_row(SFS_FIX_ORPHAN, ck->t.orphan, k, kl);
	if (kl != 8) {
		bad(ck, &f, "orphan table: key of %zu bytes", kl);
		return 0;
	}
	f.ino = sfs_get_be64(k);
	struct ent *e = find(ck, f.ino);
	if (!e) {
		bad(ck, &f, "orphan row for missing inode %llu", (unsigned long long)f.ino);
	} else {
		ck->rep->orphans++;
		e->orphan = true;
	}
	return 0;
}

static int p_chunk(struct ck *ck, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
	struct store_blob_info bi;
	uint64_t ino, idx, id, cs = ck->sb.chunk_size;
	struct ent *e;
	int r;
	struct sfs_finding f = fx_row(SFS_FIX_CHUNK, ck->t.chunk, k, kl);

	ck->rep->chunks++;
	if (kl != 16 || vl != 8) {
		bad(ck, &f, "chunk table: malformed row (key %zu, value %zu bytes)", kl, vl);
		return 0;
	}
	ino = sfs_get_be64(k);
	idx = sfs_get_be64(k + 8);
	id = sfs_get_le64(v);
	f.ino = ino;
	f.n = idx;
	e = find(ck, ino);
	r = store_blob_stat(ck->txn, id, &bi);
	if (r < 0 && r != -ENOENT)
		return r;
	if (r == 0) {
		ck->rep->data_bytes += bi.length;
		int br = blob_count(ck, id);
		if (br < 0)
			return br;
		if (br)
			ck->chunk_blob_bytes += bi.length;
	}
	if (!e) {
		bad(ck, &f, "chunk %llu of missing inode %llu", (unsigned long long)idx,
		    (unsigned long long)ino);
		return 0;
	}
	if (!S_ISREG(e->a.mode)) {
		bad(ck, &f, "chunk %llu of inode %llu, which is not a regular file",
		    (unsigned long long)idx, (unsigned long long)ino);
		return 0;
	}
	if (e->a.flags & SFS_IF_INLINE) {
		bad(ck, &f, "chunk %llu of inode %llu, whose data is inline", (unsigned long long)idx,
		    (unsigned long long)ino);
		return 0;
	}
	if (r == -ENOENT) {
		bad(ck, &f, "inode %llu%s chunk %llu: blob %llu is missing (its data is lost: "
			    "the chunk becomes a hole)",
		    (unsigned long long)ino, where(ck, ino), (unsigned long long)idx,
		    (unsigned long long)id);
		return 0;
	}
	e->stored += bi.stored;
	if (e->orphan)
		return 0; /* a truncate in progress: chunks past EOF are allowed */
	uint64_t start = idx * cs;
	uint64_t live = e->a.size > start ? e->a.size - start : 0;
	if (live > cs)
		live = cs;
	if (live == 0) {
		bad(ck, &f, "inode %llu%s chunk %llu: past the end of file (size %llu), %llu bytes "
			    "stored past its size",
		    (unsigned long long)ino, where(ck, ino), (unsigned long long)idx,
		    (unsigned long long)e->a.size, (unsigned long long)bi.length);
	} else if (bi.length > live) {
		f.fix = SFS_FIX_CHUNK_TRIM;
		f.val = live;
		bad(ck, &f, "inode %llu%s chunk %llu: %llu bytes stored past its size %llu",
		    (unsigned long long)ino, where(ck, ino), (unsigned long long)idx,
		    (unsigned long long)bi.length, (unsigned long long)e->a.size);
	}
	return 0;
}

static int p_xattr(struct ck *ck, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
	(void)v;
	struct sfs_finding f = fx_row(SFS_FIX_XATTR, ck->t.xattr, k, kl);
	ck->rep->xattrs++;
	if (kl <= 8 || kl > 8 + SFS_XATTR_NAME_MAX || vl > SFS_XATTR_SIZE_MAX) {
		bad(ck, &f, "xattr table: malformed row (key %zu, value %zu bytes)", kl, vl);
		return 0;
	}
	f.ino = sfs_get_be64(k);
	if (memchr(k + 8, 0, kl - 8))
		bad(ck, &f, "inode %llu: xattr name with a NUL byte", (unsigned long long)f.ino);
	else if (!find(ck, f.ino))
		bad(ck, &f, "xattr of missing inode %llu ('%.*s')", (unsigned long long)f.ino,
		    (int)(kl - 8), (const char *)k + 8);
	return 0;
}

/* ---- pass 7: counts ------------------------------------------------------------------- */

static struct sfs_finding fx_set(enum sfs_fix fix, uint64_t ino, uint64_t val)
{
	struct sfs_finding f = fx(fix);
	f.ino = ino;
	f.val = val;
	return f;
}

/* An inode no entry names: fine only when unlinked and awaiting reclaim. */
static void check_lost(struct ck *ck, struct ent *e)
{
	unsigned long long ino = (unsigned long long)e->ino;
	struct sfs_finding f = fx_set(SFS_FIX_LOST, e->ino, 0);
	bool dir = S_ISDIR(e->a.mode);

	if (e->a.nlink == 0) {
		if (!e->orphan)
			bad(ck, &f, "%s %llu has no orphan row (lost: no entry names it)",
			    dir ? "removed directory" : "unlinked inode", ino);
	} else if (dir) {
		bad(ck, &f, "directory %llu is lost: nlink %u, but no entry names it", ino,
		    e->a.nlink);
	} else {
		bad(ck, &f, "inode %llu is lost: nlink %u, but 0 entries name it", ino, e->a.nlink);
	}
}

static void check_dir(struct ck *ck, struct ent *e)
{
	unsigned long long ino = (unsigned long long)e->ino;
	struct sfs_finding f;

	if (e->ino != SFS_ROOT_INO && e->dirlinks == 0) {
		check_lost(ck, e);
		return;
	}
	if (e->a.nlink == 0 && e->ino != SFS_ROOT_INO) {
		f = fx_set(SFS_FIX_NLINK, e->ino, 2 + e->subdirs);
		bad(ck, &f, "directory %llu%s: nlink 0, but an entry names it", ino,
		    where(ck, e->ino));
	} else if (e->a.nlink != 2 + e->subdirs) {
		f = fx_set(SFS_FIX_NLINK, e->ino, 2 + e->subdirs);
		bad(ck, &f, "directory %llu%s: nlink %u, but it has %llu subdirectories", ino,
		    where(ck, e->ino), e->a.nlink, (unsigned long long)e->subdirs);
	}
	if (e->a.size != e->entries) {
		f = fx_set(SFS_FIX_DIR_SIZE, e->ino, e->entries);
		bad(ck, &f, "directory %llu%s: size %llu, but it has %llu entries", ino,
		    where(ck, e->ino), (unsigned long long)e->a.size,
		    (unsigned long long)e->entries);
	}
	uint64_t want_parent = e->ino == SFS_ROOT_INO ? SFS_ROOT_INO : e->parent_seen;
	if (e->dirlinks <= 1 && e->a.parent != want_parent) {
		f = fx_set(SFS_FIX_DIR_PARENT, e->ino, want_parent);
		bad(ck, &f, "directory %llu%s: parent %llu, but it is in %llu", ino,
		    where(ck, e->ino), (unsigned long long)e->a.parent,
		    (unsigned long long)want_parent);
	}
	if (e->a.next_cookie < SFS_COOKIE_FIRST || e->a.next_cookie <= e->max_cookie) {
		uint64_t want = e->max_cookie >= SFS_COOKIE_FIRST ? e->max_cookie + 1
								  : SFS_COOKIE_FIRST;
		f = fx_set(SFS_FIX_NEXT_COOKIE, e->ino, want);
		bad(ck, &f,
		    "directory %llu%s: next cookie %llu, but its entries use cookies up to %llu",
		    ino, where(ck, e->ino), (unsigned long long)e->a.next_cookie,
		    (unsigned long long)e->max_cookie);
	}
}

/*
 * Directories the root does not reach although each has one entry: their
 * entries form a cycle (a directory inside its own subtree). The walk
 * follows each directory's entry up; a path that comes back to itself is a
 * cycle, reported once, at its lowest inode, whose entry is then removed
 * (it is lost next, and goes to /lost+found with the subtree under it).
 */
static void check_reach(struct ck *ck)
{
	for (size_t k = 0; k < ck->nents; k++) {
		struct ent *e = &ck->ents[k];
		if (!S_ISDIR(e->a.mode) || e->state)
			continue;
		struct ent *p = e;
		/* climb while the path is new and each step is one plain entry */
		while (p && p->state == 0 && p->ino != SFS_ROOT_INO && p->dirlinks == 1) {
			p->state = 1;
			p = find(ck, p->parent_seen);
			if (p && !S_ISDIR(p->a.mode))
				p = NULL;
		}
		if (p && p->state == 1) {
			/* p is on the path just walked: the cycle is p .. back to p */
			struct ent *lo = p, *q = find(ck, p->parent_seen);
			uint64_t len = 1;
			while (q && q != p) {
				if (q->ino < lo->ino)
					lo = q;
				q = find(ck, q->parent_seen);
				len++;
			}
			struct sfs_finding f = fx_set(SFS_FIX_CYCLE, lo->ino, 0);
			f.dir = lo->parent_seen;
			bad(ck, &f, "directory %llu is in a cycle of %llu directories the root "
				    "does not reach (its entry is in directory %llu)",
			    (unsigned long long)lo->ino, (unsigned long long)len,
			    (unsigned long long)lo->parent_seen);
		}
		/* everything on this path is now settled */
		for (p = e; p && p->state == 1; p = find(ck, p->parent_seen))
			p->state = 2;
	}
}

static void check_counts(struct ck *ck)
{
	bool root = false;

	for (size_t k = 0; k < ck->nents; k++) {
		struct ent *e = &ck->ents[k];
		unsigned long long ino = (unsigned long long)e->ino;
		struct sfs_finding f;

		if (e->ino == SFS_ROOT_INO) {
			root = true;
			if (!S_ISDIR(e->a.mode))
				bad(ck, NULL, "the root inode is not a directory");
		}
		if (S_ISDIR(e->a.mode)) {
			if (e->a.nlink == 0 && e->orphan && e->dirlinks == 0)
				continue; /* removed, awaiting reclaim */
			check_dir(ck, e);
		} else if (e->links == 0) {
			if (e->a.nlink != 0 || !e->orphan)
				check_lost(ck, e);
		} else if (e->a.nlink != e->links) {
			f = fx_set(SFS_FIX_NLINK, e->ino, e->links);
			bad(ck, &f, "inode %llu%s: nlink %u, but %llu entries name it", ino,
			    where(ck, e->ino), e->a.nlink, (unsigned long long)e->links);
		}
		if (S_ISREG(e->a.mode) && !e->orphan) {
			uint64_t want = (e->a.flags & SFS_IF_INLINE) ? e->a.inline_len : e->stored;
			if (e->a.blocks != want) {
				f = fx_set(SFS_FIX_BLOCKS, e->ino, want);
				bad(ck, &f, "inode %llu%s: %llu bytes stored, its row says %llu", ino,
				    where(ck, e->ino), (unsigned long long)want,
				    (unsigned long long)e->a.blocks);
			}
		}
	}
	if (!root)
		bad(ck, NULL, "the root directory (inode 1) is missing");
}

/* ---- pass 8: blobs ----------------------------------------------------------------- */

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
		if (bi.refs != ck->bvals[s]) {
			struct sfs_finding f = fx(SFS_FIX_BLOB_REFS);
			f.n = ck->bkeys[s];
			f.val = ck->bvals[s];
			bad(ck, &f, "blob %llu: reference count %u, but %llu chunks use it",
			    (unsigned long long)ck->bkeys[s], bi.refs,
			    (unsigned long long)ck->bvals[s]);
		}
	}
	return 0;
}

/*
 * Leaked blobs: those no chunk row uses (looked for only when the store's
 * byte counts say some blob is neither a chunk's nor a row's value, since the
 * walk of the space map is O(image)). Values too long for a leaf live in
 * blobs too (a long symlink target, a big xattr); the store does not say
 * which blob a row holds, so a blob counts as a row's when some row's value
 * has its length and its bytes. A leaked blob identical to a row's value is
 * therefore missed — never the other way round: a row's blob is never taken
 * for a leaked one.
 */
struct cand {
	uint64_t id, length, pgno, npages;
	bool is_value;
};

struct leak {
	struct ck *ck;
	struct cand *c;
	size_t n, cap;
	uint8_t *buf;
	size_t bufcap;
	int err;
};

static int leak_extent(void *ctx, const struct store_extent *e)
{
	struct leak *l = ctx;
	struct store_blob_info bi;

	if (e->kind != STORE_EXT_BLOB || blob_users(l->ck, e->blob_id))
		return 0;
	int r = store_blob_stat(l->ck->txn, e->blob_id, &bi);
	if (r == -ENOENT)
		return 0; /* a blob move's reservation, not a blob */
	if (r < 0)
		return r;
	if (l->n == l->cap) {
		size_t nc = l->cap ? l->cap * 2 : 64;
		struct cand *t = realloc(l->c, nc * sizeof(*t));
		if (!t)
			return -ENOMEM;
		l->c = t;
		l->cap = nc;
	}
	l->c[l->n++] = (struct cand){.id = bi.id, .length = bi.length, .pgno = bi.pgno,
				     .npages = bi.npages};
	return 0;
}

static int cand_cmp(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;
	return x->length < y->length ? -1 : x->length > y->length;
}

/* Mark the candidates a row's value is the content of. */
static int leak_match(struct leak *l, const void *v, size_t vl)
{
	size_t lo = 0, hi = l->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (l->c[mid].length < vl)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t k = lo; k < l->n && l->c[k].length == vl; k++) {
		if (l->c[k].is_value)
			continue;
		if (l->bufcap < vl) {
			uint8_t *nb = realloc(l->buf, vl);
			if (!nb)
				return -ENOMEM;
			l->buf = nb;
			l->bufcap = vl;
		}
		size_t got = 0;
		int r = store_blob_read(l->ck->txn, l->c[k].id, 0, l->buf, vl, &got);
		if (r == -EIO)
			continue; /* damaged: the store's verify says so */
		if (r < 0)
			return r;
		if (got == vl && memcmp(l->buf, v, vl) == 0)
			l->c[k].is_value = true;
	}
	return 0;
}

static int leak_table(void *ctx, const struct store_table_info *ti)
{
	struct leak *l = ctx;
	store_cursor *c = NULL;

	if (ti->overflow_bytes == 0)
		return 0;
	int r = store_cursor_open(l->ck->txn, ti->id, &c);
	if (r == 0)
		r = store_cursor_seek(c, STORE_SEEK_FIRST, NULL, 0);
	while (r == 0) {
		const void *v;
		size_t vl;
		r = store_cursor_get(c, NULL, NULL, &v, &vl);
		if (r == 0 && vl > 0)
			r = leak_match(l, v, vl);
		if (r == 0)
			r = store_cursor_next(c);
	}
	if (c)
		store_cursor_close(c);
	return r == -ENOENT ? 0 : r;
}

static int sum_overflow(void *ctx, const struct store_table_info *ti)
{
	*(uint64_t *)ctx += ti->overflow_bytes;
	return 0;
}

/*
 * Whether some blob may be leaked, from the store's counters: the bytes of
 * all blobs, less those chunks use and those of long row values. Leaked
 * blobs of no bytes hold no pages and are not looked for.
 */
static int maybe_leaked(struct ck *ck, bool *maybe)
{
	struct store_stats st;
	uint64_t values = 0;
	int r = store_stats(ck->txn, &st);
	if (r == 0)
		r = store_table_list(ck->txn, sum_overflow, &values);
	*maybe = r < 0 || st.blob_logical_bytes != ck->chunk_blob_bytes + values;
	return r;
}

static int check_leaked_blobs(struct ck *ck)
{
	struct leak l = {.ck = ck};
	bool maybe = true;
	int r = maybe_leaked(ck, &maybe);
	if (r < 0 || !maybe)
		return r;
	r = store_space_map(ck->txn, leak_extent, &l);

	if (r == 0 && l.n) {
		qsort(l.c, l.n, sizeof(*l.c), cand_cmp);
		r = store_table_list(ck->txn, leak_table, &l);
	}
	for (size_t k = 0; r == 0 && k < l.n; k++) {
		if (l.c[k].is_value)
			continue;
		struct sfs_finding f = fx(SFS_FIX_BLOB_LEAK);
		f.n = l.c[k].id;
		bad(ck, &f, "blob %llu (%llu bytes, pages %llu..%llu): no chunk or row "
			    "references it (leaked space)",
		    (unsigned long long)l.c[k].id, (unsigned long long)l.c[k].length,
		    (unsigned long long)l.c[k].pgno,
		    (unsigned long long)(l.c[k].pgno + l.c[k].npages - 1));
	}
	free(l.c);
	free(l.buf);
	return r;
}

/* ---- the check ------------------------------------------------------------------------ */

static int count_rows(struct ck *ck)
{
	const store_table ts[] = {ck->t.inode, ck->t.dirent, ck->t.dircookie, ck->t.orphan,
				  ck->t.chunk, ck->t.xattr};
	for (size_t k = 0; k < sizeof(ts) / sizeof(ts[0]); k++) {
		struct store_table_info ti;
		int r = store_table_stat(ck->txn, ts[k], &ti);
		if (r < 0)
			return r;
		ck->total += ti.entries;
	}
	return 0;
}

static int run(struct ck *ck)
{
	int r = walk(ck, ck->t.inode, "inode", p_inode);
	if (r == 0)
		r = index_ents(ck);
	if (r == 0)
		r = walk(ck, ck->t.dirent, "dirent", p_dirent);
	if (r == 0)
		r = walk(ck, ck->t.dircookie, "dircookie", p_dircookie);
	if (r == 0)
		r = walk(ck, ck->t.orphan, "orphan", p_orphan);
	if (r == 0)
		r = walk(ck, ck->t.chunk, "chunk", p_chunk);
	if (r == 0)
		r = walk(ck, ck->t.xattr, "xattr", p_xattr);
	if (r == 0 && ck->multi_named)
		r = walk(ck, ck->t.dirent, "dirent", p_dirent_extra);
	if (r == 0) {
		check_counts(ck);
		check_reach(ck);
		ck->table = "blob";
		r = check_blob_refs(ck);
	}
	if (r == 0)
		r = check_leaked_blobs(ck);
	return r;
}

int sfs_check_findings(store_txn *txn, const struct sfs_check_cb *cb,
		       struct sfs_check_report *rep)
{
	struct ck ck = {.txn = txn, .cb = cb, .rep = rep};
	int r;

	memset(rep, 0, sizeof(*rep));
	r = sfs_tables_open(txn, &ck.t);
	if (r == -ENOENT) {
		bad(&ck, NULL, "the image holds no slatefs filesystem (a table is missing)");
		return 0;
	}
	if (r < 0)
		return r;
	r = sfs_super_read(txn, &ck.t, &ck.sb);
	if (r < 0) {
		bad(&ck, NULL, "the super row is missing or damaged (%s)", strerror(-r));
		return r == -ENOMEM ? r : 0;
	}
	r = count_rows(&ck);
	if (r == 0)
		r = run(&ck);
	if (r == -EIO) {
		bad(&ck, NULL, "the %s table cannot be read (a damaged page: I/O error); the "
			       "filesystem checks stop there",
		    ck.table ? ck.table : "filesystem's");
		r = 0;
	}
	if (cb && cb->progress)
		cb->progress(cb->ctx, ck.total, ck.total);
	free(ck.ents);
	free(ck.slots);
	free(ck.bkeys);
	free(ck.bvals);
	return r;
}

/* ---- the plain form (slatefs.h) -------------------------------------------------------- */

struct plain {
	void (*problem)(void *ctx, const char *msg);
	void *ctx;
};

static void plain_found(void *ctx, const struct sfs_finding *f, const char *msg)
{
	struct plain *p = ctx;
	(void)f;
	if (p->problem)
		p->problem(p->ctx, msg);
}

int sfs_check(store_txn *txn, void (*problem)(void *ctx, const char *msg), void *ctx,
	      struct sfs_check_report *rep)
{
	struct plain p = {.problem = problem, .ctx = ctx};
	struct sfs_check_cb cb = {.found = plain_found, .ctx = &p};
	return sfs_check_findings(txn, &cb, rep);
}
