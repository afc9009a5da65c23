/*
 * rows.c — encoding and decoding of the rows the tools and the daemon share:
 * the inode row (fixed attributes + inline data) and the super row; the
 * table names, and opening the tables of an image. Layouts: fs/README.md.
 */
#include "schema.h"

/* ---- the inode row --------------------------------------------------------------- */

static void put_ts(uint8_t *p, const struct timespec *t)
{
	sfs_put_le64(p, (uint64_t)t->tv_sec);
	sfs_put_le32(p + 8, (uint32_t)t->tv_nsec);
}

static void get_ts(const uint8_t *p, struct timespec *t)
{
	t->tv_sec = (time_t)sfs_get_le64(p);
	t->tv_nsec = (long)sfs_get_le32(p + 8);
}

void sfs_attr_encode(const struct sfs_attr *a, uint8_t *row)
{
	sfs_put_le32(row + 0, SFS_INODE_ROW_VERSION);
	sfs_put_le32(row + 4, a->flags);
	sfs_put_le32(row + 8, a->mode);
	sfs_put_le32(row + 12, a->uid);
	sfs_put_le32(row + 16, a->gid);
	sfs_put_le32(row + 20, a->nlink);
	sfs_put_le64(row + 24, a->rdev);
	sfs_put_le64(row + 32, a->size);
	sfs_put_le64(row + 40, a->blocks);
	sfs_put_le64(row + 48, a->generation);
	sfs_put_le64(row + 56, a->parent);
	sfs_put_le64(row + 64, a->next_cookie);
	put_ts(row + 72, &a->atime);
	put_ts(row + 84, &a->mtime);
	put_ts(row + 96, &a->ctime);
	put_ts(row + 108, &a->btime);
	sfs_put_le32(row + 120, a->inline_len);
}

int sfs_attr_decode(const uint8_t *row, size_t len, struct sfs_attr *a)
{
	if (len < SFS_INODE_ROW_FIXED || sfs_get_le32(row) != SFS_INODE_ROW_VERSION)
		return -EIO;
	a->flags = sfs_get_le32(row + 4);
	a->mode = sfs_get_le32(row + 8);
	a->uid = sfs_get_le32(row + 12);
	a->gid = sfs_get_le32(row + 16);
	a->nlink = sfs_get_le32(row + 20);
	a->rdev = sfs_get_le64(row + 24);
	a->size = sfs_get_le64(row + 32);
	a->blocks = sfs_get_le64(row + 40);
	a->generation = sfs_get_le64(row + 48);
	a->parent = sfs_get_le64(row + 56);
	a->next_cookie = sfs_get_le64(row + 64);
	get_ts(row + 72, &a->atime);
	get_ts(row + 84, &a->mtime);
	get_ts(row + 96, &a->ctime);
	get_ts(row + 108, &a->btime);
	a->inline_len = sfs_get_le32(row + 120);
	if (a->mode == 0)
		return -EIO;
	return 0;
}

/* ---- the super row and the tables ---------------------------------------------- */

const char *const sfs_table_names[SFS_NTABLES] = {
	"super", "inode", "dirent", "dircookie", "xattr", "chunk", "orphan",
};

static const char super_magic[8] = {'S', 'L', 'A', 'T', 'E', 'F', 'S', '1'};
static const uint8_t super_key[] = "super";

int sfs_super_encode(const struct sfs_super *sb, uint8_t *row)
{
	size_t ll = strnlen(sb->label, sizeof(sb->label));

	if (ll > SFS_LABEL_MAX)
		return -EINVAL;
	memset(row, 0, SFS_SUPER_ROW);
	memcpy(row, super_magic, 8);
	sfs_put_le32(row + 8, sb->version);
	sfs_put_le32(row + 12, sb->chunk_size);
	sfs_put_le32(row + 16, sb->compress);
	sfs_put_le32(row + 20, sb->flags);
	sfs_put_le64(row + 24, sb->next_ino);
	sfs_put_le64(row + 32, (uint64_t)sb->created);
	row[40] = (uint8_t)ll;
	memcpy(row + 41, sb->label, ll);
	return 0;
}

int sfs_super_decode(const uint8_t *row, size_t len, struct sfs_super *sb)
{
	if (len < SFS_SUPER_ROW || memcmp(row, super_magic, 8) != 0)
		return -EINVAL;
	memset(sb, 0, sizeof(*sb));
	sb->version = sfs_get_le32(row + 8);
	sb->chunk_size = sfs_get_le32(row + 12);
	sb->compress = sfs_get_le32(row + 16);
	sb->flags = sfs_get_le32(row + 20);
	sb->next_ino = sfs_get_le64(row + 24);
	sb->created = (int64_t)sfs_get_le64(row + 32);
	if (row[40] > SFS_LABEL_MAX)
		return -EINVAL;
	memcpy(sb->label, row + 41, row[40]);
	sb->label[row[40]] = 0;
	if (sb->version != SFS_FS_VERSION)
		return -EPROTONOSUPPORT;
	if (sb->chunk_size < SFS_MIN_CHUNK || sb->chunk_size > SFS_MAX_CHUNK ||
	    (sb->chunk_size & (sb->chunk_size - 1)) != 0)
		return -EINVAL;
	if (sb->compress > SFS_COMPRESS_LZ4 || sb->next_ino <= SFS_ROOT_INO)
		return -EINVAL;
	return 0;
}

int sfs_tables_open(store_txn *txn, struct sfs_tables *t)
{
	store_table *slot[SFS_NTABLES] = {&t->super,     &t->inode, &t->dirent, &t->dircookie,
					  &t->xattr,     &t->chunk, &t->orphan};
	for (int k = 0; k < SFS_NTABLES; k++) {
		int r = store_table_open(txn, sfs_table_names[k], slot[k]);
		if (r < 0)
			return r;
	}
	return 0;
}

int sfs_super_read(store_txn *txn, const struct sfs_tables *t, struct sfs_super *sb)
{
	uint8_t row[SFS_SUPER_ROW];
	size_t len = 0;
	int r = store_get(txn, t->super, super_key, sizeof(super_key) - 1, row, sizeof(row), &len);

	if (r < 0)
		return r == -ENOENT ? -EINVAL : r;
	return sfs_super_decode(row, len < sizeof(row) ? len : sizeof(row), sb);
}
