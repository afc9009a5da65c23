/*
 * acl.c — POSIX ACLs in their xattr form (with -o acl). The kernel enforces
 * them (FUSE_CAP_POSIX_ACL) and hands the daemon what only a filesystem can
 * do: keep the mode in step with the access ACL (and the ACL with a chmod),
 * and give a new inode its ACLs from its directory's default ACL, applying
 * the umask itself when there is none (FUSE_CAP_DONT_MASK).
 *
 * Format (linux/posix_acl_xattr.h): le32 version 2, then entries of
 * le16 tag, le16 perm, le32 id.
 */
#include <stdlib.h>

#include "sfs.h"

enum {
	ACL_VERSION = 2,
	T_USER_OBJ = 0x01,
	T_USER = 0x02,
	T_GROUP_OBJ = 0x04,
	T_GROUP = 0x08,
	T_MASK = 0x10,
	T_OTHER = 0x20,
	ENTRY = 8,
	HDR = 4,
};

static size_t nentries(size_t len)
{
	return (len - HDR) / ENTRY;
}

static uint16_t tag_at(const uint8_t *v, size_t k)
{
	return sfs_get_le16(v + HDR + k * ENTRY);
}

static uint16_t perm_at(const uint8_t *v, size_t k)
{
	return sfs_get_le16(v + HDR + k * ENTRY + 2);
}

static void set_perm(uint8_t *v, size_t k, uint16_t p)
{
	sfs_put_le16(v + HDR + k * ENTRY + 2, p);
}

int sfs_acl_valid(const void *val, size_t len)
{
	const uint8_t *v = val;
	unsigned seen = 0, named = 0;

	if (len < HDR + ENTRY || (len - HDR) % ENTRY || sfs_get_le32(v) != ACL_VERSION)
		return -EINVAL;
	for (size_t k = 0; k < nentries(len); k++) {
		uint16_t t = tag_at(v, k);
		if (perm_at(v, k) & ~7u)
			return -EINVAL;
		switch (t) {
		case T_USER_OBJ:
		case T_GROUP_OBJ:
		case T_MASK:
		case T_OTHER:
			if (seen & t)
				return -EINVAL;
			seen |= t;
			break;
		case T_USER:
		case T_GROUP:
			named++;
			break;
		default:
			return -EINVAL;
		}
	}
	if ((seen & (T_USER_OBJ | T_GROUP_OBJ | T_OTHER)) != (T_USER_OBJ | T_GROUP_OBJ | T_OTHER))
		return -EINVAL;
	if (named && !(seen & T_MASK))
		return -EINVAL;
	return 0;
}

int sfs_acl_to_mode(const void *val, size_t len, mode_t *mode)
{
	const uint8_t *v = val;
	unsigned u = 0, g = 0, o = 0, m = 0;
	bool has_mask = false, named = false;

	for (size_t k = 0; k < nentries(len); k++) {
		unsigned p = perm_at(v, k) & 7;
		switch (tag_at(v, k)) {
		case T_USER_OBJ: u = p; break;
		case T_GROUP_OBJ: g = p; break;
		case T_OTHER: o = p; break;
		case T_MASK: m = p; has_mask = true; break;
		default: named = true;
		}
	}
	*mode = (mode_t)((u << 6) | ((has_mask ? m : g) << 3) | o);
	return !named && !has_mask ? 1 : 0;
}

int sfs_acl_chmod(void *val, size_t len, mode_t mode)
{
	uint8_t *v = val;
	bool has_mask = false;

	if (sfs_acl_valid(val, len) < 0)
		return -EIO;
	for (size_t k = 0; k < nentries(len); k++)
		if (tag_at(v, k) == T_MASK)
			has_mask = true;
	for (size_t k = 0; k < nentries(len); k++) {
		switch (tag_at(v, k)) {
		case T_USER_OBJ: set_perm(v, k, (mode >> 6) & 7); break;
		case T_GROUP_OBJ: if (!has_mask) set_perm(v, k, (mode >> 3) & 7); break;
		case T_MASK: set_perm(v, k, (mode >> 3) & 7); break;
		case T_OTHER: set_perm(v, k, mode & 7); break;
		}
	}
	return 0;
}

int sfs_acl_inherit_prepare(struct sfs *sfs, struct sfs_inode *parent, mode_t *mode,
			    mode_t umask, void **access, size_t *alen, void **dflt, size_t *dlen)
{
	uint8_t *d = NULL, *acc;
	size_t len = 0;
	uint8_t probe[4];
	bool has_mask = false;
	unsigned u = 0, g = 0, o = 0;
	int r;

	*access = *dflt = NULL;
	*alen = *dlen = 0;
	r = sfs_xattr_get_row(sfs, parent->ino, "system.posix_acl_default", probe, 0, &len);
	if (r == -ENOENT) {
		*mode &= ~(umask & 0777);
		return 0;
	}
	if (r < 0)
		return r;
	d = malloc(len);
	if (!d)
		return -ENOMEM;
	r = sfs_xattr_get_row(sfs, parent->ino, "system.posix_acl_default", d, len, &len);
	if (r == 0 && sfs_acl_valid(d, len) < 0)
		r = -EIO;
	if (r < 0) {
		free(d);
		return r;
	}
	acc = malloc(len);
	if (!acc) {
		free(d);
		return -ENOMEM;
	}
	memcpy(acc, d, len);

	/* posix_acl_create_masq: the new access ACL is the default ACL masked
	   by the mode asked for, and the mode follows it */
	for (size_t k = 0; k < nentries(len); k++)
		if (tag_at(acc, k) == T_MASK)
			has_mask = true;
	for (size_t k = 0; k < nentries(len); k++) {
		unsigned p = perm_at(acc, k);
		switch (tag_at(acc, k)) {
		case T_USER_OBJ:
			p &= (*mode >> 6) & 7;
			u = p;
			break;
		case T_GROUP_OBJ:
			if (!has_mask) {
				p &= (*mode >> 3) & 7;
				g = p;
			}
			break;
		case T_MASK:
			p &= (*mode >> 3) & 7;
			g = p;
			break;
		case T_OTHER:
			p &= *mode & 7;
			o = p;
			break;
		}
		set_perm(acc, k, (uint16_t)p);
	}
	*mode = (*mode & ~(mode_t)0777) | (mode_t)((u << 6) | (g << 3) | o);

	mode_t m;
	if (sfs_acl_to_mode(acc, len, &m) == 1) {
		free(acc); /* equivalent to the mode: not stored */
	} else {
		*access = acc;
		*alen = len;
	}
	if (S_ISDIR(*mode)) {
		*dflt = d;
		*dlen = len;
	} else {
		free(d);
	}
	return 0;
}
