/*
 * xattr.c — extended attributes: rows (ino, name) -> value in the `xattr`
 * table, and the four FUSE calls. Names up to 255 bytes (ERANGE past it, as
 * Linux does), values up to 64 KiB (the store keeps large values in blobs).
 *
 * The system.posix_acl_access / system.posix_acl_default names are POSIX
 * ACLs: accepted with -o acl only (EOPNOTSUPP otherwise), where the kernel
 * enforces them (FUSE_CAP_POSIX_ACL) and this file keeps the mode in step
 * with a new access ACL (an ACL equivalent to a mode is not stored, as ext4
 * does). Other system.* names are EOPNOTSUPP. Changing an xattr changes the
 * inode's ctime.
 */
#include <stdlib.h>
#include <sys/xattr.h>

#include "sfs.h"

static const char acl_access[] = "system.posix_acl_access";
static const char acl_default[] = "system.posix_acl_default";

static size_t xkey(uint8_t *k, uint64_t ino, const char *name)
{
	return sfs_key_name(k, ino, name, strlen(name));
}

int sfs_xattr_get_row(struct sfs *sfs, uint64_t ino, const char *name, void *buf, size_t cap,
		      size_t *len)
{
	uint8_t key[8 + SFS_XATTR_NAME_MAX];
	return store_get(sfs->txn, sfs->t.xattr, key, xkey(key, ino, name), buf, cap, len);
}

int sfs_xattr_put_row(struct sfs *sfs, uint64_t ino, const char *name, const void *v, size_t len)
{
	uint8_t key[8 + SFS_XATTR_NAME_MAX];
	return sfs_put(sfs, sfs->t.xattr, key, xkey(key, ino, name), v, len, 0);
}

int sfs_xattr_del_all(struct sfs *sfs, uint64_t ino)
{
	store_cursor *c = NULL;
	int r = store_cursor_open(sfs->txn, sfs->t.xattr, &c);

	while (r == 0) {
		uint8_t key[8 + SFS_XATTR_NAME_MAX];
		const void *k;
		size_t kl;

		r = store_cursor_seek(c, STORE_SEEK_GE, key, sfs_key_ino(key, ino));
		if (r == 0)
			r = store_cursor_get(c, &k, &kl, NULL, NULL);
		if (r < 0)
			break;
		if (kl < 8 || kl > sizeof(key) || sfs_get_be64(k) != ino)
			break;
		memcpy(key, k, kl);
		r = sfs_del(sfs, sfs->t.xattr, key, kl);
	}
	if (c)
		store_cursor_close(c);
	return r == -ENOENT ? 0 : r;
}

/* Reply len bytes of buf to a get/list call given size (0 = the length
   only); frees buf. */
static void reply_sized(fuse_req_t req, int r, char *buf, size_t len, size_t size)
{
	if (r < 0)
		fuse_reply_err(req, -r);
	else if (size == 0)
		fuse_reply_xattr(req, len);
	else if (len > size)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, buf, len);
	free(buf);
}

/* End an xattr change of i: the section, -o sync, the reply. */
static void end_change(fuse_req_t req, struct sfs *sfs, struct sfs_inode *i, int r)
{
	sfs_tx_end(sfs, r);
	if (r == 0)
		r = sfs_sync_op(sfs, i->last_txn);
	sfs_inode_put(sfs, i);
	fuse_reply_err(req, -r);
}

/* Can this name be used here? */
static int name_check(struct sfs *sfs, const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > SFS_XATTR_NAME_MAX)
		return -ERANGE;
	if (strncmp(name, "system.", 7) == 0) {
		if (strcmp(name, acl_access) != 0 && strcmp(name, acl_default) != 0)
			return -EOPNOTSUPP;
		if (!sfs->opt.acl)
			return -EOPNOTSUPP;
	}
	return 0;
}

void sfs_op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
		     size_t size, int flags)
{
	struct sfs *sfs = sfs_of(req);
	struct sfs_inode *i = NULL;
	size_t old = 0;
	bool store_it = true;
	mode_t mode = 0;
	int r = name_check(sfs, name);

	if (r == 0 && size > SFS_XATTR_SIZE_MAX)
		r = -E2BIG;
	if (r == 0 && (flags & ~(XATTR_CREATE | XATTR_REPLACE)))
		r = -EINVAL;
	if (r == 0 && (strcmp(name, acl_access) == 0 || strcmp(name, acl_default) == 0)) {
		r = sfs_acl_valid(value, size);
		if (r == 0 && strcmp(name, acl_access) == 0) {
			/* the mode follows the ACL; an ACL a mode expresses is not kept */
			r = sfs_acl_to_mode(value, size, &mode);
			if (r == 1)
				store_it = false;
			r = r < 0 ? r : 0;
		}
	}
	if (r == 0)
		r = sfs_tx_begin(sfs, 3, size);
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	r = sfs_inode_get(sfs, ino, &i);
	if (r == 0) {
		uint8_t none;
		r = sfs_xattr_get_row(sfs, ino, name, &none, 0, &old);
		if (r == 0 && (flags & XATTR_CREATE))
			r = -EEXIST;
		else if (r == -ENOENT)
			r = (flags & XATTR_REPLACE) ? -ENODATA : 0;
	}
	if (r == 0 && strcmp(name, acl_access) == 0) {
		pthread_mutex_lock(&i->attr_mu);
		i->a.mode = (i->a.mode & ~0777u) | (mode & 0777);
		pthread_mutex_unlock(&i->attr_mu);
	}
	if (r == 0) {
		if (store_it) {
			r = sfs_xattr_put_row(sfs, ino, name, value, size);
		} else {
			uint8_t key[8 + SFS_XATTR_NAME_MAX];
			r = sfs_del(sfs, sfs->t.xattr, key, xkey(key, ino, name));
			if (r == -ENOENT)
				r = 0;
		}
	}
	if (r == 0)
		r = sfs_inode_write_ctime(sfs, i);
	end_change(req, sfs, i, r);
}

void sfs_op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct sfs *sfs = sfs_of(req);
	size_t len = 0;
	char *buf = NULL;
	int r = name_check(sfs, name);

	if (r == 0)
		buf = malloc(size ? size : 1);
	if (r == 0 && !buf)
		r = -ENOMEM;
	if (r == 0)
		r = sfs_rd_begin(sfs);
	if (r == 0) {
		r = sfs_xattr_get_row(sfs, ino, name, buf, size, &len);
		sfs_rd_end(sfs);
	}
	if (r == -ENOENT)
		r = -ENODATA;
	reply_sized(req, r, buf, len, size);
}

void sfs_op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct sfs *sfs = sfs_of(req);
	store_cursor *c = NULL;
	char *buf = NULL;
	size_t len = 0, cap = 0;
	uint8_t key[8];
	int r = sfs_rd_begin(sfs);

	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	r = store_cursor_open(sfs->txn, sfs->t.xattr, &c);
	if (r == 0)
		r = store_cursor_seek(c, STORE_SEEK_GE, key, sfs_key_ino(key, ino));
	while (r == 0) {
		const void *k;
		size_t kl;
		r = store_cursor_get(c, &k, &kl, NULL, NULL);
		if (r < 0 || kl <= 8 || sfs_get_be64(k) != ino)
			break;
		size_t n = kl - 8;
		if (len + n + 1 > cap) {
			size_t nc = cap ? cap * 2 : 256;
			while (nc < len + n + 1)
				nc *= 2;
			char *nb = realloc(buf, nc);
			if (!nb) {
				r = -ENOMEM;
				break;
			}
			buf = nb;
			cap = nc;
		}
		memcpy(buf + len, (const uint8_t *)k + 8, n);
		buf[len + n] = 0;
		len += n + 1;
		r = store_cursor_next(c);
	}
	if (c)
		store_cursor_close(c);
	sfs_rd_end(sfs);
	if (r == -ENOENT)
		r = 0;
	reply_sized(req, r, buf, len, size);
}

void sfs_op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct sfs *sfs = sfs_of(req);
	struct sfs_inode *i = NULL;
	uint8_t key[8 + SFS_XATTR_NAME_MAX];
	int r = name_check(sfs, name);

	if (r == 0)
		r = sfs_tx_begin_free(sfs, 2);
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	r = sfs_inode_get(sfs, ino, &i);
	if (r == 0) {
		r = sfs_del(sfs, sfs->t.xattr, key, xkey(key, ino, name));
		if (r == -ENOENT)
			r = -ENODATA;
	}
	if (r == 0)
		r = sfs_inode_write_ctime(sfs, i);
	end_change(req, sfs, i, r);
}
