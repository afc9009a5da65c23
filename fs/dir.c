/*
 * dir.c — directories: dirent and dircookie rows, lookup, creating nodes
 * (mknod, mkdir, symlink, create), link, unlink, rmdir, rename (with
 * RENAME_NOREPLACE and RENAME_EXCHANGE), readlink, readdir and readdirplus.
 *
 * Every entry has two rows: dirent (parent, name) -> (ino, type, cookie) for
 * lookups, and dircookie (parent, cookie) -> (ino, type, name) for readdir.
 * A directory hands out cookies from next_cookie in its row, never reusing
 * one, so a readdir offset (the cookie of the last entry returned) stays
 * valid however the directory changes: the next call seeks past it.
 * Offsets 1 and 2 are "." and "..". A directory's size is its number of
 * entries; its nlink is 2 + its subdirectories; its row keeps its parent.
 *
 * All changes run under the tree lock held exclusively, one section per
 * operation [D1]; lookup and readdir hold it shared.
 */
#include <linux/fs.h>
#include <stdlib.h>
#include <syslog.h>

#include "sfs.h"

int sfs_name_check(const char *name)
{
	size_t n = strlen(name);
	if (n == 0)
		return -ENOENT;
	if (n > SFS_NAME_MAX)
		return -ENAMETOOLONG;
	return 0;
}

int sfs_dirent_get(struct sfs *sfs, uint64_t parent, const char *name, uint64_t *ino,
		   unsigned *type, uint64_t *cookie)
{
	uint8_t key[8 + SFS_NAME_MAX], val[SFS_DIRENT_VAL];
	size_t n = strlen(name), vl = 0;
	int r = store_get(sfs->txn, sfs->t.dirent, key, sfs_key_name(key, parent, name, n), val,
			  sizeof(val), &vl);

	if (r < 0)
		return r;
	if (vl != SFS_DIRENT_VAL) {
		sfs_log(LOG_ERR, "directory %llu: malformed entry '%s'", (unsigned long long)parent,
			name);
		return -EIO;
	}
	*ino = sfs_get_le64(val);
	if (type)
		*type = val[8];
	if (cookie)
		*cookie = sfs_get_le64(val + 9);
	return 0;
}

/* Both rows of entry (parent, name) -> ino of type, with this cookie. */
static int entry_put(struct sfs *sfs, uint64_t parent, const char *name, uint64_t ino,
		     unsigned type, uint64_t cookie, unsigned flags)
{
	size_t n = strlen(name);
	uint8_t key[8 + SFS_NAME_MAX], ckey[16], val[SFS_DIRENT_VAL], cval[9 + SFS_NAME_MAX];
	int r;

	sfs_put_le64(val, ino);
	val[8] = (uint8_t)type;
	sfs_put_le64(val + 9, cookie);
	r = sfs_put(sfs, sfs->t.dirent, key, sfs_key_name(key, parent, name, n), val, sizeof(val),
		    flags);
	if (r < 0)
		return r;
	sfs_put_le64(cval, ino);
	cval[8] = (uint8_t)type;
	memcpy(cval + 9, name, n);
	return sfs_put(sfs, sfs->t.dircookie, ckey, sfs_key_ino2(ckey, parent, cookie), cval, 9 + n,
		       0);
}

/* Add entry name -> child in directory p (rows and p's attributes). */
static int dirent_add(struct sfs *sfs, struct sfs_inode *p, const char *name,
		      struct sfs_inode *child, const struct timespec *now)
{
	uint64_t cookie;
	bool isdir = S_ISDIR(child->a.mode);
	int r;

	pthread_mutex_lock(&p->attr_mu);
	cookie = p->a.next_cookie;
	pthread_mutex_unlock(&p->attr_mu);
	r = entry_put(sfs, p->ino, name, child->ino, sfs_dtype(child->a.mode), cookie,
		      STORE_NOOVERWRITE);
	if (r < 0)
		return r;
	pthread_mutex_lock(&p->attr_mu);
	p->a.next_cookie = cookie + 1;
	p->a.size++;
	if (isdir)
		p->a.nlink++;
	p->a.mtime = p->a.ctime = *now;
	pthread_mutex_unlock(&p->attr_mu);
	return sfs_inode_write(sfs, p, NULL, 0);
}

/* Remove entry name (with its cookie) from directory p. */
static int dirent_remove(struct sfs *sfs, struct sfs_inode *p, const char *name, uint64_t cookie,
			 bool isdir, const struct timespec *now)
{
	uint8_t key[8 + SFS_NAME_MAX], ckey[16];
	int r = sfs_del(sfs, sfs->t.dirent, key, sfs_key_name(key, p->ino, name, strlen(name)));

	if (r == 0)
		r = sfs_del(sfs, sfs->t.dircookie, ckey, sfs_key_ino2(ckey, p->ino, cookie));
	if (r < 0)
		return r;
	pthread_mutex_lock(&p->attr_mu);
	if (p->a.size)
		p->a.size--;
	if (isdir && p->a.nlink > 2)
		p->a.nlink--;
	p->a.mtime = p->a.ctime = *now;
	pthread_mutex_unlock(&p->attr_mu);
	return sfs_inode_write(sfs, p, NULL, 0);
}

/* The directory ino, referenced; -ENOTDIR if it is not one, -ENOENT if it
   was removed. Tree lock held. */
static int get_dir(struct sfs *sfs, uint64_t ino, struct sfs_inode **out)
{
	int r = sfs_inode_get(sfs, ino, out);
	if (r < 0)
		return r;
	if (!S_ISDIR((*out)->a.mode))
		r = -ENOTDIR;
	else if ((*out)->a.nlink == 0)
		r = -ENOENT;
	if (r < 0) {
		sfs_inode_put(sfs, *out);
		*out = NULL;
	}
	return r;
}

/* The inode a dirent names; a missing one is damage. Tree lock held. */
static int get_child(struct sfs *sfs, uint64_t parent, const char *name, uint64_t ino,
		     struct sfs_inode **out)
{
	int r = sfs_inode_get(sfs, ino, out);
	if (r == -ENOENT) {
		sfs_log(LOG_ERR, "directory %llu: entry '%s' names missing inode %llu",
			(unsigned long long)parent, name, (unsigned long long)ino);
		r = -EIO;
	}
	return r;
}

/* ---- lookup ----------------------------------------------------------------- */

static bool is_dot(const char *name)
{
	return name[0] == '.' && (name[1] == 0 || (name[1] == '.' && name[2] == 0));
}

/*
 * Export support (FUSE_CAP_EXPORT_SUPPORT): the kernel turns a file handle
 * back into an inode it has forgotten by looking up "." in the handle's node
 * id (any type of inode), and a directory's parent by looking up "..". The
 * node id is the inode number, never reused (generation 0), so "." loads the
 * inode by number — gone: ENOENT, which the kernel reports as ESTALE — and
 * ".." is the directory row's parent (the root's is itself). Each answer
 * counts as a lookup like any other. Caller holds the tree lock shared, which
 * keeps a directory's parent field still (only rename changes it, exclusive).
 */
static int lookup_dot(struct sfs *sfs, uint64_t ino, const char *name, struct sfs_inode **out)
{
	struct sfs_inode *i = NULL;
	uint64_t up;
	int r = sfs_inode_get(sfs, ino, &i);

	if (r < 0 || name[1] == 0) {
		*out = i;
		return r;
	}
	if (!S_ISDIR(i->a.mode)) {
		sfs_inode_put(sfs, i);
		return -ENOTDIR;
	}
	up = i->a.parent && ino != SFS_ROOT_INO ? i->a.parent : SFS_ROOT_INO;
	sfs_inode_put(sfs, i);
	if (up == ino) {
		return sfs_inode_get(sfs, ino, out);
	}
	r = sfs_inode_get(sfs, up, out);
	if (r == -ENOENT) {
		sfs_log(LOG_ERR, "directory %llu: its parent %llu is missing",
			(unsigned long long)ino, (unsigned long long)up);
		r = -EIO;
	}
	return r;
}

void sfs_op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct sfs *sfs = sfs_of(req);
	struct fuse_entry_param e;
	struct sfs_inode *i = NULL;
	uint64_t ino;
	int r = sfs_name_check(name);

	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	r = sfs_rd_begin(sfs);
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	if (is_dot(name))
		r = lookup_dot(sfs, parent, name, &i);
	else if ((r = sfs_dirent_get(sfs, parent, name, &ino, NULL, NULL)) == 0)
		r = get_child(sfs, parent, name, ino, &i);
	if (r == 0)
		sfs_inode_entry(sfs, i, &e);
	sfs_rd_end(sfs);
	sfs_inode_put(sfs, i);
	if (r == -ENOENT) {
		/* a negative entry: the kernel caches the miss */
		memset(&e, 0, sizeof(e));
		e.entry_timeout = sfs->entry_timeout;
		fuse_reply_entry(req, &e);
	} else if (r < 0) {
		fuse_reply_err(req, -r);
	} else {
		fuse_reply_entry(req, &e);
	}
}

/* ---- creating nodes ------------------------------------------------------------ */

int sfs_node_make(struct sfs *sfs, fuse_req_t req, uint64_t parent, const char *name,
		  mode_t mode, dev_t rdev, const char *target, struct sfs_inode **out)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct sfs_inode *p = NULL, *n = NULL;
	struct sfs_attr a;
	struct timespec now;
	void *acc = NULL, *dfl = NULL;
	size_t alen = 0, dlen = 0, tlen = target ? strlen(target) : 0;
	uint64_t ino;
	int r = sfs_name_check(name);

	*out = NULL;
	if (r < 0)
		return r;
	if (target && tlen > SFS_SYMLINK_MAX)
		return -ENAMETOOLONG;
	r = sfs_tx_begin(sfs, 8, tlen);
	if (r < 0)
		return r;
	r = get_dir(sfs, parent, &p);
	if (r < 0)
		goto out;
	r = sfs_dirent_get(sfs, parent, name, &ino, NULL, NULL);
	if (r != -ENOENT) {
		if (r == 0)
			r = -EEXIST;
		goto out;
	}
	r = 0;
	if (S_ISDIR(mode) && p->a.nlink >= UINT32_MAX - 1) {
		r = -EMLINK;
		goto out;
	}

	sfs_now(&now);
	memset(&a, 0, sizeof(a));
	a.uid = ctx->uid;
	a.gid = ctx->gid;
	if (p->a.mode & S_ISGID) {
		a.gid = p->a.gid;
		if (S_ISDIR(mode))
			mode |= S_ISGID;
	}
	if (sfs->opt.acl && !target) {
		r = sfs_acl_inherit_prepare(sfs, p, &mode, ctx->umask, &acc, &alen, &dfl, &dlen);
		if (r < 0)
			goto out;
	}
	a.mode = mode;
	a.rdev = S_ISCHR(mode) || S_ISBLK(mode) ? rdev : 0;
	a.nlink = S_ISDIR(mode) ? 2 : 1;
	a.size = tlen;
	a.blocks = tlen;
	a.atime = a.mtime = a.ctime = a.btime = now;
	if (S_ISDIR(mode)) {
		a.parent = parent;
		a.next_cookie = SFS_COOKIE_FIRST;
	}
	if (S_ISREG(mode))
		a.flags = SFS_IF_INLINE;

	r = sfs_inode_new(sfs, &a, &n);
	if (r < 0)
		goto out;
	r = sfs_inode_write(sfs, n, target ? target : "", tlen);
	if (r == 0 && acc)
		r = sfs_xattr_put_row(sfs, n->ino, "system.posix_acl_access", acc, alen);
	if (r == 0 && dfl && S_ISDIR(mode))
		r = sfs_xattr_put_row(sfs, n->ino, "system.posix_acl_default", dfl, dlen);
	if (r == 0)
		r = dirent_add(sfs, p, name, n, &now);
out:
	sfs_tx_end(sfs, r);
	free(acc);
	free(dfl);
	sfs_inode_put(sfs, p);
	if (r < 0) {
		sfs_inode_put(sfs, n);
		return r;
	}
	*out = n;
	return 0;
}

static void reply_made(fuse_req_t req, struct sfs *sfs, int r, struct sfs_inode *n)
{
	struct fuse_entry_param e;

	if (r == 0)
		r = sfs_sync_op(sfs, n->last_txn);
	if (r < 0) {
		sfs_inode_put(sfs, n);
		fuse_reply_err(req, -r);
		return;
	}
	sfs_inode_entry(sfs, n, &e);
	sfs_inode_put(sfs, n);
	fuse_reply_entry(req, &e);
}

void sfs_op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	struct sfs *sfs = sfs_of(req);
	struct sfs_inode *n = NULL;
	int r = 0;

	switch (mode & S_IFMT) {
	case S_IFREG:
	case S_IFIFO:
	case S_IFSOCK:
	case S_IFCHR:
	case S_IFBLK:
		break;
	case 0:
		mode |= S_IFREG;
		break;
	default:
		r = -EINVAL;
	}
	if (r == 0)
		r = sfs_node_make(sfs, req, parent, name, mode, rdev, NULL, &n);
	reply_made(req, sfs, r, n);
}

void sfs_op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct sfs *sfs = sfs_of(req);
	struct sfs_inode *n = NULL;
	int r = sfs_node_make(sfs, req, parent, name, S_IFDIR | (mode & 07777), 0, NULL, &n);
	reply_made(req, sfs, r, n);
}

void sfs_op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	struct sfs *sfs = sfs_of(req);
	struct sfs_inode *n = NULL;
	int r = sfs_node_make(sfs, req, parent, name, S_IFLNK | 0777, 0, link, &n);
	reply_made(req, sfs, r, n);
}

void sfs_op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		   struct fuse_file_info *fi)
{
	struct sfs *sfs = sfs_of(req);
	struct fuse_entry_param e;
	struct sfs_inode *n = NULL;
	int r = sfs_node_make(sfs, req, parent, name, S_IFREG | (mode & 07777), 0, NULL, &n);

	if (r == 0)
		r = sfs_sync_op(sfs, n->last_txn);
	if (r < 0) {
		sfs_inode_put(sfs, n);
		fuse_reply_err(req, -r);
		return;
	}
	sfs_inode_open_inc(sfs, n);
	fi->fh = 0;
	fi->keep_cache = 1;
	sfs_inode_entry(sfs, n, &e);
	sfs_inode_put(sfs, n);
	fuse_reply_create(req, &e, fi);
}

void sfs_op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	struct sfs *sfs = sfs_of(req);
	struct sfs_inode *i = NULL, *p = NULL;
	struct timespec now;
	uint64_t x;
	int r = sfs_name_check(newname);

	if (r == 0)
		r = sfs_tx_begin(sfs, 6, 0);
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	r = sfs_inode_get(sfs, ino, &i);
	if (r == 0 && S_ISDIR(i->a.mode))
		r = -EPERM;
	else if (r == 0 && i->a.nlink == 0)
		r = -ENOENT;
	else if (r == 0 && i->a.nlink >= SFS_LINK_MAX)
		r = -EMLINK;
	if (r == 0)
		r = get_dir(sfs, newparent, &p);
	if (r == 0) {
		r = sfs_dirent_get(sfs, newparent, newname, &x, NULL, NULL);
		r = r == 0 ? -EEXIST : (r == -ENOENT ? 0 : r);
	}
	if (r == 0) {
		sfs_now(&now);
		r = dirent_add(sfs, p, newname, i, &now);
		if (r == 0) {
			pthread_mutex_lock(&i->attr_mu);
			i->a.nlink++;
			i->a.ctime = now;
			pthread_mutex_unlock(&i->attr_mu);
			r = sfs_inode_write(sfs, i, NULL, 0);
		}
	}
	sfs_tx_end(sfs, r);
	sfs_inode_put(sfs, p);
	reply_made(req, sfs, r, i);
}

/* ---- removing ------------------------------------------------------------------- */

static void do_remove(fuse_req_t req, fuse_ino_t parent, const char *name, bool dir)
{
	struct sfs *sfs = sfs_of(req);
	struct sfs_inode *p = NULL, *i = NULL;
	struct timespec now;
	uint64_t ino, cookie, txid = 0;
	int r = sfs_name_check(name);

	if (r == 0)
		r = sfs_tx_begin_free(sfs, 6);
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	r = get_dir(sfs, parent, &p);
	if (r == 0)
		r = sfs_dirent_get(sfs, parent, name, &ino, NULL, &cookie);
	if (r == 0)
		r = get_child(sfs, parent, name, ino, &i);
	if (r == 0) {
		if (dir && !S_ISDIR(i->a.mode))
			r = -ENOTDIR;
		else if (!dir && S_ISDIR(i->a.mode))
			r = -EISDIR;
		else if (dir && i->a.size != 0)
			r = -ENOTEMPTY;
	}
	if (r == 0) {
		sfs_now(&now);
		r = dirent_remove(sfs, p, name, cookie, dir, &now);
		if (r == 0)
			r = sfs_inode_unlink(sfs, i, &now);
		txid = sfs_txid(sfs);
	}
	sfs_tx_end(sfs, r);
	sfs_inode_put(sfs, i);
	sfs_inode_put(sfs, p);
	if (r == 0)
		r = sfs_sync_op(sfs, txid);
	sfs_reclaim_run(sfs);
	fuse_reply_err(req, -r);
}

void sfs_op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	do_remove(req, parent, name, false);
}

void sfs_op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	do_remove(req, parent, name, true);
}

/* ---- rename ----------------------------------------------------------------- */

/* Is directory anc an ancestor of (or equal to) directory ino? */
static int is_ancestor(struct sfs *sfs, uint64_t anc, uint64_t ino)
{
	for (unsigned depth = 0; depth < (1u << 20); depth++) {
		struct sfs_inode *d;
		uint64_t up;
		int r;

		if (ino == anc)
			return 1;
		if (ino == SFS_ROOT_INO)
			return 0;
		r = sfs_inode_get(sfs, ino, &d);
		if (r < 0)
			return r == -ENOENT ? -EIO : r;
		up = d->a.parent;
		sfs_inode_put(sfs, d);
		if (up == ino || up == 0)
			return -EIO;
		ino = up;
	}
	return -EIO;
}

struct side {
	struct sfs_inode *dir, *node;
	const char *name;
	uint64_t cookie;
};

/* RENAME_EXCHANGE: swap what two entries name. */
static int rename_exchange(struct sfs *sfs, struct side *s, struct side *d,
			   const struct timespec *now)
{
	bool sdir = S_ISDIR(s->node->a.mode), ddir = S_ISDIR(d->node->a.mode);
	int r;

	if (s->dir != d->dir) {
		if (sdir) {
			r = is_ancestor(sfs, s->node->ino, d->dir->ino);
			if (r != 0)
				return r > 0 ? -EINVAL : r;
		}
		if (ddir) {
			r = is_ancestor(sfs, d->node->ino, s->dir->ino);
			if (r != 0)
				return r > 0 ? -EINVAL : r;
		}
	}
	r = entry_put(sfs, s->dir->ino, s->name, d->node->ino, sfs_dtype(d->node->a.mode),
		      s->cookie, 0);
	if (r == 0)
		r = entry_put(sfs, d->dir->ino, d->name, s->node->ino, sfs_dtype(s->node->a.mode),
			      d->cookie, 0);
	if (r < 0)
		return r;
	pthread_mutex_lock(&s->dir->attr_mu);
	if (s->dir != d->dir && sdir != ddir)
		s->dir->a.nlink += ddir ? 1 : -1;
	s->dir->a.mtime = s->dir->a.ctime = *now;
	pthread_mutex_unlock(&s->dir->attr_mu);
	if (s->dir != d->dir) {
		pthread_mutex_lock(&d->dir->attr_mu);
		if (sdir != ddir)
			d->dir->a.nlink += sdir ? 1 : -1;
		d->dir->a.mtime = d->dir->a.ctime = *now;
		pthread_mutex_unlock(&d->dir->attr_mu);
	}
	pthread_mutex_lock(&s->node->attr_mu);
	s->node->a.ctime = *now;
	if (sdir)
		s->node->a.parent = d->dir->ino;
	pthread_mutex_unlock(&s->node->attr_mu);
	pthread_mutex_lock(&d->node->attr_mu);
	d->node->a.ctime = *now;
	if (ddir)
		d->node->a.parent = s->dir->ino;
	pthread_mutex_unlock(&d->node->attr_mu);
	r = sfs_inode_write(sfs, s->dir, NULL, 0);
	if (r == 0 && d->dir != s->dir)
		r = sfs_inode_write(sfs, d->dir, NULL, 0);
	if (r == 0)
		r = sfs_inode_write(sfs, s->node, NULL, 0);
	if (r == 0)
		r = sfs_inode_write(sfs, d->node, NULL, 0);
	return r;
}

void sfs_op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		   const char *newname, unsigned int flags)
{
	struct sfs *sfs = sfs_of(req);
	struct side s = {.name = name}, d = {.name = newname};
	struct timespec now;
	uint64_t sino = 0, dino = 0, txid = 0;
	int r, rd;

	if (flags & ~(unsigned)(RENAME_NOREPLACE | RENAME_EXCHANGE)) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	r = sfs_name_check(name);
	if (r == 0)
		r = sfs_name_check(newname);
	if (r == 0)
		r = sfs_tx_begin_free(sfs, 14);
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	r = get_dir(sfs, parent, &s.dir);
	if (r == 0)
		r = get_dir(sfs, newparent, &d.dir);
	if (r == 0)
		r = sfs_dirent_get(sfs, parent, name, &sino, NULL, &s.cookie);
	if (r == 0)
		r = get_child(sfs, parent, name, sino, &s.node);
	if (r < 0)
		goto out;
	rd = sfs_dirent_get(sfs, newparent, newname, &dino, NULL, &d.cookie);
	if (rd < 0 && rd != -ENOENT) {
		r = rd;
		goto out;
	}
	if (rd == 0)
		r = get_child(sfs, newparent, newname, dino, &d.node);
	if (r < 0)
		goto out;
	sfs_now(&now);

	if (flags & RENAME_EXCHANGE) {
		if (!d.node)
			r = -ENOENT;
		else if (sino != dino)
			r = rename_exchange(sfs, &s, &d, &now);
		goto out;
	}
	if (d.node) {
		if (flags & RENAME_NOREPLACE) {
			r = -EEXIST;
			goto out;
		}
		if (sino == dino)
			goto out; /* two names of one file: nothing to do */
		if (S_ISDIR(s.node->a.mode) && !S_ISDIR(d.node->a.mode))
			r = -ENOTDIR;
		else if (!S_ISDIR(s.node->a.mode) && S_ISDIR(d.node->a.mode))
			r = -EISDIR;
		else if (S_ISDIR(d.node->a.mode) && d.node->a.size != 0)
			r = -ENOTEMPTY;
		if (r < 0)
			goto out;
	}
	if (S_ISDIR(s.node->a.mode) && s.dir != d.dir) {
		r = is_ancestor(sfs, sino, d.dir->ino);
		if (r != 0) {
			r = r > 0 ? -EINVAL : r;
			goto out;
		}
	}
	if (d.node) {
		r = dirent_remove(sfs, d.dir, newname, d.cookie, S_ISDIR(d.node->a.mode), &now);
		if (r == 0)
			r = sfs_inode_unlink(sfs, d.node, &now);
		if (r < 0)
			goto out;
	}
	r = dirent_remove(sfs, s.dir, name, s.cookie, S_ISDIR(s.node->a.mode), &now);
	if (r == 0)
		r = dirent_add(sfs, d.dir, newname, s.node, &now);
	if (r == 0) {
		pthread_mutex_lock(&s.node->attr_mu);
		s.node->a.ctime = now;
		if (S_ISDIR(s.node->a.mode))
			s.node->a.parent = d.dir->ino;
		pthread_mutex_unlock(&s.node->attr_mu);
		r = sfs_inode_write(sfs, s.node, NULL, 0);
	}
out:
	if (r == 0)
		txid = sfs_txid(sfs);
	sfs_tx_end(sfs, r);
	sfs_inode_put(sfs, s.node);
	sfs_inode_put(sfs, d.node);
	sfs_inode_put(sfs, s.dir);
	sfs_inode_put(sfs, d.dir);
	if (r == 0)
		r = sfs_sync_op(sfs, txid);
	sfs_reclaim_run(sfs);
	fuse_reply_err(req, -r);
}

/* ---- readlink --------------------------------------------------------------------- */

void sfs_op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct sfs *sfs = sfs_of(req);
	char buf[SFS_SYMLINK_MAX + 1];
	size_t n = 0;
	int r = sfs_rd_begin(sfs);

	if (r == 0) {
		struct sfs_inode *i;
		r = sfs_inode_get(sfs, ino, &i);
		if (r == 0) {
			if (!S_ISLNK(i->a.mode))
				r = -EINVAL;
			else
				r = sfs_inode_read_inline(sfs, ino, buf, SFS_SYMLINK_MAX, &n);
			sfs_inode_put(sfs, i);
		}
		sfs_rd_end(sfs);
	}
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	buf[n] = 0;
	fuse_reply_readlink(req, buf);
}

/* ---- readdir ------------------------------------------------------------------------ */

/* A directory handle carries no state (offsets are cookies): where the
   kernel can open directories itself, ENOSYS says so once and saves two
   round trips per directory opened (FUSE_CAP_NO_OPENDIR_SUPPORT). */
void sfs_op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	if (sfs_of(req)->no_opendir) {
		fuse_reply_err(req, ENOSYS);
		return;
	}
	fi->fh = 0;
	fuse_reply_open(req, fi);
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, bool plus)
{
	struct sfs *sfs = sfs_of(req);
	struct sfs_inode *dir = NULL;
	store_cursor *c = NULL;
	char *buf = malloc(size ? size : 1);
	size_t pos = 0;
	int r;

	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	r = sfs_rd_begin(sfs);
	if (r < 0) {
		free(buf);
		fuse_reply_err(req, -r);
		return;
	}
	r = sfs_inode_get(sfs, ino, &dir);
	if (r == 0 && !S_ISDIR(dir->a.mode))
		r = -ENOTDIR;
	if (r < 0)
		goto out;

	/* "." and ".." at offsets 1 and 2; they count no lookups */
	for (off_t k = off; k < 2; k++) {
		struct fuse_entry_param e;
		const char *nm = k == 0 ? "." : "..";
		size_t need;

		memset(&e, 0, sizeof(e));
		e.attr.st_ino = k == 0 ? ino : dir->a.parent;
		e.attr.st_mode = S_IFDIR;
		if (plus)
			need = fuse_add_direntry_plus(req, buf + pos, size - pos, nm, &e, k + 1);
		else
			need = fuse_add_direntry(req, buf + pos, size - pos, nm, &e.attr, k + 1);
		if (need > size - pos)
			goto out;
		pos += need;
	}

	r = store_cursor_open(sfs->txn, sfs->t.dircookie, &c);
	if (r == 0) {
		uint8_t key[16];
		uint64_t from = off < SFS_COOKIE_FIRST ? SFS_COOKIE_FIRST : (uint64_t)off + 1;
		r = store_cursor_seek(c, STORE_SEEK_GE, key, sfs_key_ino2(key, ino, from));
	}
	while (r == 0) {
		const void *k, *v;
		size_t kl, vl, need;
		char name[SFS_NAME_MAX + 1];
		struct fuse_entry_param e;
		uint64_t cookie, child;

		r = store_cursor_get(c, &k, &kl, &v, &vl);
		if (r < 0)
			break;
		if (kl != 16 || sfs_get_be64(k) != ino)
			break;
		if (vl < 10 || vl > 9 + SFS_NAME_MAX) {
			r = -EIO;
			break;
		}
		cookie = sfs_get_be64((const uint8_t *)k + 8);
		child = sfs_get_le64(v);
		memcpy(name, (const uint8_t *)v + 9, vl - 9);
		name[vl - 9] = 0;
		memset(&e, 0, sizeof(e));
		if (plus) {
			struct sfs_inode *ci;
			need = fuse_add_direntry_plus(req, NULL, 0, name, NULL, 0);
			if (need > size - pos)
				break;
			r = get_child(sfs, ino, name, child, &ci);
			if (r < 0)
				break;
			sfs_inode_entry(sfs, ci, &e);
			sfs_inode_put(sfs, ci);
			pos += fuse_add_direntry_plus(req, buf + pos, size - pos, name, &e,
						      (off_t)cookie);
		} else {
			e.attr.st_ino = child;
			e.attr.st_mode = (mode_t)((const uint8_t *)v)[8] << 12;
			need = fuse_add_direntry(req, buf + pos, size - pos, name, &e.attr,
						 (off_t)cookie);
			if (need > size - pos)
				break;
			pos += need;
		}
		r = store_cursor_next(c);
	}
	if (r == -ENOENT)
		r = 0;
out:
	if (c)
		store_cursor_close(c);
	sfs_inode_put(sfs, dir);
	sfs_rd_end(sfs);
	if (r < 0 && pos == 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_buf(req, buf, pos);
	free(buf);
}

void sfs_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	(void)fi;
	do_readdir(req, ino, size, off, false);
}

void sfs_op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			struct fuse_file_info *fi)
{
	(void)fi;
	do_readdir(req, ino, size, off, true);
}
