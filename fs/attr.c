/*
 * attr.c — attribute operations: getattr (from the inode cache, no store
 * lookup), setattr (size, mode, owner, times with nanoseconds), access, and
 * forget.
 *
 * With default_permissions the kernel checks permissions and the daemon adds
 * none: a SETATTR the kernel sends is applied as sent (the suid/sgid clear
 * after another user's write, an ftruncate through a writable fd, a
 * utimensat(UTIME_NOW) by a writer), and the mode is stored exactly as the
 * kernel sends it. With -o acl a chmod rewrites the access ACL's owner,
 * mask (or group) and other entries to match.
 */
#include <stdlib.h>
#include <unistd.h>

#include "sfs.h"

void sfs_op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct sfs *sfs = sfs_of(req);
	struct sfs_inode *i;
	struct stat st;

	(void)fi;
	i = sfs_inode_grab_req(req, ino);
	if (!i)
		return;
	sfs_inode_stat(sfs, i, &st);
	sfs_inode_put(sfs, i);
	fuse_reply_attr(req, &st, sfs->attr_timeout);
}

/* Keep a stored access ACL in step with a new mode (tree lock exclusive). */
static int acl_follow_mode(struct sfs *sfs, uint64_t ino, mode_t mode)
{
	static const char name[] = "system.posix_acl_access";
	uint8_t buf[4 + 8 * 64];
	void *v = buf;
	size_t len = 0;
	int r = sfs_xattr_get_row(sfs, ino, name, buf, sizeof(buf), &len);

	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	if (len > sizeof(buf)) {
		v = malloc(len);
		if (!v)
			return -ENOMEM;
		r = sfs_xattr_get_row(sfs, ino, name, v, len, &len);
	}
	if (r == 0)
		r = sfs_acl_chmod(v, len, mode);
	if (r == 0)
		r = sfs_xattr_put_row(sfs, ino, name, v, len);
	if (v != buf)
		free(v);
	return r;
}

void sfs_op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		    struct fuse_file_info *fi)
{
	struct sfs *sfs = sfs_of(req);
	struct sfs_inode *i;
	struct timespec now;
	struct stat st;
	int r = 0;

	(void)fi;
	if (sfs->opt.ro) {
		fuse_reply_err(req, EROFS);
		return;
	}
	i = sfs_inode_grab_req(req, ino);
	if (!i)
		return;
	if (to_set & FUSE_SET_ATTR_SIZE) {
		if (S_ISDIR(i->a.mode))
			r = -EISDIR;
		else if (!S_ISREG(i->a.mode))
			r = -EINVAL;
		else if (attr->st_size < 0)
			r = -EINVAL;
		else if ((uint64_t)attr->st_size > SFS_MAX_FILE_SIZE)
			r = -EFBIG;
		if (r == 0) {
			sfs_rwlock_wr(&i->io);
			r = sfs_data_truncate(sfs, i, (uint64_t)attr->st_size);
			pthread_rwlock_unlock(&i->io);
		}
	}
	to_set &= FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID |
		  FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_ATIME_NOW |
		  FUSE_SET_ATTR_MTIME_NOW | FUSE_SET_ATTR_CTIME;
	if (r == 0 && to_set) {
		r = sfs_tx_begin_free(sfs, 3);
		if (r == 0) {
			sfs_now(&now);
			if ((to_set & FUSE_SET_ATTR_MODE) && sfs->opt.acl && !S_ISLNK(i->a.mode))
				r = acl_follow_mode(sfs, i->ino, attr->st_mode);
			if (r == 0) {
				pthread_mutex_lock(&i->attr_mu);
				struct sfs_attr *a = &i->a;
				if (to_set & FUSE_SET_ATTR_MODE)
					a->mode = (a->mode & S_IFMT) | (attr->st_mode & 07777);
				if (to_set & FUSE_SET_ATTR_UID)
					a->uid = attr->st_uid;
				if (to_set & FUSE_SET_ATTR_GID)
					a->gid = attr->st_gid;
				if (to_set & FUSE_SET_ATTR_ATIME_NOW)
					a->atime = now;
				else if (to_set & FUSE_SET_ATTR_ATIME)
					a->atime = attr->st_atim;
				if (to_set & FUSE_SET_ATTR_MTIME_NOW)
					a->mtime = now;
				else if (to_set & FUSE_SET_ATTR_MTIME)
					a->mtime = attr->st_mtim;
				a->ctime = (to_set & FUSE_SET_ATTR_CTIME) ? attr->st_ctim : now;
				pthread_mutex_unlock(&i->attr_mu);
				r = sfs_inode_write(sfs, i, NULL, 0);
			}
			sfs_tx_end(sfs, r);
		}
	}
	if (r == 0)
		r = sfs_sync_op(sfs, i->last_txn);
	if (r == 0)
		sfs_inode_stat(sfs, i, &st);
	sfs_inode_put(sfs, i);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_attr(req, &st, sfs->attr_timeout);
}

/* Only reached without default_permissions, which slatefs always sets; a
   plain owner/group/other check for completeness. */
void sfs_op_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	struct sfs *sfs = sfs_of(req);
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct sfs_inode *i;
	struct sfs_attr a;

	i = sfs_inode_grab_req(req, ino);
	if (!i)
		return;
	sfs_inode_attr(i, &a);
	sfs_inode_put(sfs, i);
	if (mask == F_OK) {
		fuse_reply_err(req, 0);
		return;
	}
	if ((mask & W_OK) && sfs->opt.ro) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if (ctx->uid == 0) {
		bool x = !(mask & X_OK) || S_ISDIR(a.mode) || (a.mode & 0111);
		fuse_reply_err(req, x ? 0 : EACCES);
		return;
	}
	unsigned perm = ctx->uid == a.uid ? (a.mode >> 6) : ctx->gid == a.gid ? (a.mode >> 3) : a.mode;
	fuse_reply_err(req, ((unsigned)mask & ~perm & 7) ? EACCES : 0);
}

void sfs_op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	struct sfs *sfs = sfs_of(req);

	sfs_inode_forget(sfs, ino, nlookup);
	sfs_reclaim_run(sfs);
	fuse_reply_none(req);
}

void sfs_op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	struct sfs *sfs = sfs_of(req);

	for (size_t k = 0; k < count; k++)
		sfs_inode_forget(sfs, forgets[k].ino, forgets[k].nlookup);
	sfs_reclaim_run(sfs);
	fuse_reply_none(req);
}
