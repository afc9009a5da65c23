/*
 * mount.c — bringing a filesystem up and down. Up: open (and lock) the
 * image, check it holds a slatefs filesystem, load the super row, reclaim
 * orphans left by a crash [D9], begin the batch and the commit thread, and
 * tell the kernel what we support (init). Down (destroy, at unmount): stop
 * the commit thread, write every buffered byte, reclaim the inodes that were
 * unlinked while open, and commit durably before closing the image [D7].
 */
#include <stdlib.h>
#include <syslog.h>

#include "control.h"
#include "sfs.h"

static const char *open_error(int r)
{
	switch (r) {
	case -EBUSY:
		return "the image is in use (already mounted, or open in another program)";
	case -EINVAL:
		return "not a slatefs image";
	case -EPROTONOSUPPORT:
		return "the image was made by a newer version of slatefs";
	case -EIO:
		return "the image is damaged (see the messages above; try fsck.slatefs -n)";
	default:
		return strerror(-r);
	}
}

/* The next inode number: above the super row's mark and every inode row. */
static int ino_start(struct sfs *sfs)
{
	store_cursor *c = NULL;
	int r = store_cursor_open(sfs->txn, sfs->t.inode, &c);

	sfs->ino_hw_used = sfs->sb.next_ino;
	if (r == 0)
		r = store_cursor_seek(c, STORE_SEEK_LAST, NULL, 0);
	if (r == 0) {
		const void *k;
		size_t kl;
		r = store_cursor_get(c, &k, &kl, NULL, NULL);
		if (r == 0 && kl == 8 && sfs_get_be64(k) >= sfs->ino_hw_used)
			sfs->ino_hw_used = sfs_get_be64(k) + 1;
	}
	if (c)
		store_cursor_close(c);
	return r == -ENOENT ? 0 : r;
}

int sfs_mount_open(struct sfs *sfs)
{
	struct sfs_options *o = &sfs->opt;
	struct store_options so = {.max_size = o->max_size, .log = sfs_log_store};
	struct sfs_inode *root;
	store_txn *rt = NULL;
	int r;

	r = store_open(o->image, o->ro ? STORE_RDONLY : 0, &so, &sfs->s);
	if (r < 0) {
		sfs_log(LOG_ERR, "cannot mount %s: %s", o->image, open_error(r));
		return r;
	}
	r = store_txn_begin(sfs->s, STORE_TXN_READ, &rt);
	if (r == 0) {
		r = sfs_tables_open(rt, &sfs->t);
		if (r == -ENOENT) {
			sfs_log(LOG_ERR, "cannot mount %s: the image holds no slatefs filesystem "
					 "(no filesystem tables; was it made by mkfs.slatefs?)",
				o->image);
			r = -EINVAL;
		} else if (r == 0) {
			r = sfs_super_read(rt, &sfs->t, &sfs->sb);
			if (r == -EPROTONOSUPPORT)
				sfs_log(LOG_ERR, "cannot mount %s: filesystem version %u is not "
						 "supported",
					o->image, sfs->sb.version);
			else if (r < 0)
				sfs_log(LOG_ERR, "cannot mount %s: the superblock row is damaged "
						 "(%s)",
					o->image, strerror(-r));
		} else {
			sfs_log(LOG_ERR, "cannot mount %s: %s", o->image, open_error(r));
		}
		store_txn_abort(rt);
	}
	if (r < 0)
		goto fail;

	sfs->chunk_size = sfs->sb.chunk_size;
	{
		size_t im = store_inline_max(sfs->s, 8);
		im = im > SFS_INODE_ROW_FIXED ? im - SFS_INODE_ROW_FIXED : 0;
		sfs->inline_max = (uint32_t)(im < SFS_INLINE_LIMIT ? im : SFS_INLINE_LIMIT);
		if (sfs->inline_max >= sfs->chunk_size)
			sfs->inline_max = sfs->chunk_size / 2;
	}
	int comp = o->compress >= 0 ? o->compress : (int)sfs->sb.compress;
	sfs->blob_flags = comp == SFS_COMPRESS_LZ4 ? STORE_BLOB_LZ4 : 0;
	sfs->attr_timeout = 1.0;
	sfs->entry_timeout = 1.0;
	pthread_mutex_init(&sfs->smu, NULL);

	r = sfs_icache_init(sfs);
	if (r == 0)
		r = sfs_batch_init(sfs);
	if (r < 0) {
		sfs_log(LOG_ERR, "cannot mount %s: %s", o->image, strerror(-r));
		goto fail;
	}
	r = ino_start(sfs);
	if (r == 0)
		r = sfs_inode_grab(sfs, SFS_ROOT_INO, &root);
	if (r < 0) {
		sfs_log(LOG_ERR, "cannot mount %s: the root directory is %s", o->image,
			r == -ENOENT ? "missing" : "unreadable");
		goto fail;
	}
	if (!S_ISDIR(root->a.mode)) {
		sfs_log(LOG_ERR, "cannot mount %s: the root inode is not a directory", o->image);
		r = -EIO;
		goto fail;
	}
	/* the root stays cached for the life of the mount (never released) */
	if (!o->ro) {
		r = sfs_orphans_recover(sfs);
		if (r < 0) {
			sfs_log(LOG_ERR, "cannot mount %s: reclaiming orphan inodes failed: %s",
				o->image, strerror(-r));
			goto fail;
		}
		r = sfs_batch_start_thread(sfs);
		if (r < 0)
			goto fail;
		r = sfs_compaction_start(sfs);
		if (r < 0)
			goto fail;
	}
	sfs->mounted = true;
	return 0;
fail:
	sfs_unmount(sfs);
	return r < 0 ? r : -EIO;
}

int sfs_unmount(struct sfs *sfs)
{
	int r = 0, r2;

	if (!sfs->s)
		return 0;
	sfs_backup_stop();
	sfs_compaction_stop(sfs);
	sfs_batch_stop(sfs);
	if (sfs->mounted && !sfs->opt.ro && !sfs->broken) {
		/* data that cannot be written now (a full image) was reported
		   to its writer by fsync or close; it is lost, said in the log */
		r2 = sfs_data_flush_all(sfs);
		if (r2 < 0)
			sfs_log(LOG_ERR, "unmount: buffered data of some files could not be "
					 "written: %s",
				strerror(-r2));
		/* the kernel holds nothing any more: unlinked inodes go now */
		sfs_icache_drop_kernel_refs(sfs);
		sfs_reclaim_run(sfs);
		r = sfs_orphans_recover(sfs);
	}
	if (sfs->txn) {
		r2 = sfs_batch_close(sfs);
		if (r == 0)
			r = r2;
	}
	sfs_icache_destroy(sfs);
	r2 = store_close(sfs->s);
	sfs->s = NULL;
	if (r == 0)
		r = r2;
	if (r < 0)
		sfs_log(LOG_ERR, "unmount: %s", strerror(-r));
	sfs->mounted = false;
	return r;
}

static void want(struct fuse_conn_info *conn, unsigned cap)
{
	if (conn->capable & cap)
		conn->want |= cap;
}

void sfs_op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct sfs *sfs = userdata;

	want(conn, FUSE_CAP_ASYNC_READ);
	want(conn, FUSE_CAP_ATOMIC_O_TRUNC);
	want(conn, FUSE_CAP_IOCTL_DIR);
	want(conn, FUSE_CAP_READDIRPLUS);
	want(conn, FUSE_CAP_READDIRPLUS_AUTO);
	want(conn, FUSE_CAP_PARALLEL_DIROPS);
	want(conn, FUSE_CAP_CACHE_SYMLINKS);
	want(conn, FUSE_CAP_ASYNC_DIO);
	want(conn, FUSE_CAP_EXPORT_SUPPORT); /* "." and ".." lookups: fs/dir.c */
	if (!sfs->opt.sync)
		want(conn, FUSE_CAP_WRITEBACK_CACHE);
	else
		conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	if (sfs->opt.acl) {
		want(conn, FUSE_CAP_POSIX_ACL);
		want(conn, FUSE_CAP_DONT_MASK);
	}
	/* we are the only writer: cached pages stay valid when mtime moves */
	conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
	conn->want &= ~(FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE);
	conn->max_write = 1u << 20;
	conn->time_gran = 1;
	conn->max_background = 64;
	conn->congestion_threshold = 48;
	sfs->writeback = conn->want & FUSE_CAP_WRITEBACK_CACHE;
	/* a directory handle carries no state: the kernel may open and
	   release directories on its own (sfs_op_opendir answers ENOSYS) */
	sfs->no_opendir = conn->capable & FUSE_CAP_NO_OPENDIR_SUPPORT;
	if (sfs->opt.acl && !(conn->want & FUSE_CAP_POSIX_ACL))
		sfs_log(LOG_WARNING, "the kernel does not support POSIX ACLs over FUSE");
}

void sfs_op_destroy(void *userdata)
{
	struct sfs *sfs = userdata;
	sfs->unmount_err = sfs_unmount(sfs);
}
