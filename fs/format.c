/*
 * format.c — creating a filesystem: a new image with the filesystem's tables,
 * the super row and an empty root directory, committed durably. mkfs.slatefs
 * is a thin program over sfs_format().
 */
#include <sys/stat.h>

#include "schema.h"

int sfs_format(const char *path, const struct sfs_format_opts *o)
{
	uint32_t cs = o->chunk_size ? o->chunk_size : SFS_DEFAULT_CHUNK;
	struct store_options so = {.page_size = o->page_size, .log = o->log, .log_ctx = o->log_ctx};
	struct sfs_super sb = {.version = SFS_FS_VERSION, .chunk_size = cs, .next_ino = 2};
	store_table tabs[SFS_NTABLES];
	uint8_t srow[SFS_SUPER_ROW], irow[SFS_INODE_ROW_FIXED], key[8];
	struct sfs_attr root = {0};
	struct timespec now;
	store *s = NULL;
	store_txn *txn = NULL;
	int r;

	if (cs < SFS_MIN_CHUNK || cs > SFS_MAX_CHUNK || (cs & (cs - 1)) != 0)
		return -EINVAL;
	if (o->compress != SFS_COMPRESS_NONE && o->compress != SFS_COMPRESS_LZ4)
		return -EINVAL;
	if (o->label && strlen(o->label) > SFS_LABEL_MAX)
		return -ENAMETOOLONG;
	sb.compress = (uint32_t)o->compress;
	if (o->label)
		strcpy(sb.label, o->label);
	clock_gettime(CLOCK_REALTIME, &now);
	sb.created = now.tv_sec;

	r = store_open(path, STORE_CREATE | (o->force ? STORE_OVERWRITE : 0), &so, &s);
	if (r < 0)
		return r;
	r = store_txn_begin(s, STORE_TXN_WRITE, &txn);
	if (r < 0)
		goto out;
	for (int k = 0; k < SFS_NTABLES && r == 0; k++)
		r = store_table_create(txn, sfs_table_names[k], &tabs[k]);
	if (r < 0)
		goto out;

	r = sfs_super_encode(&sb, srow);
	if (r == 0)
		r = store_put(txn, tabs[0], "super", 5, srow, sizeof(srow), STORE_NOOVERWRITE);
	if (r < 0)
		goto out;

	root.mode = S_IFDIR | 0755;
	root.uid = o->root_uid;
	root.gid = o->root_gid;
	root.nlink = 2;
	root.parent = SFS_ROOT_INO;
	root.next_cookie = SFS_COOKIE_FIRST;
	root.atime = root.mtime = root.ctime = root.btime = now;
	sfs_attr_encode(&root, irow);
	r = store_put(txn, tabs[1], key, sfs_key_ino(key, SFS_ROOT_INO), irow, sizeof(irow),
		      STORE_NOOVERWRITE);
	if (r < 0)
		goto out;
	r = store_txn_commit(txn, STORE_COMMIT_DURABLE, NULL);
	txn = NULL;
out:
	if (txn)
		store_txn_abort(txn);
	int rc = store_close(s);
	return r < 0 ? r : rc;
}
