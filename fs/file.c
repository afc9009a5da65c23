/*
 * file.c — open files: open (with O_TRUNC, FUSE_CAP_ATOMIC_O_TRUNC), flush
 * (close), release (last close: buffered data goes to the batch), fsync,
 * fdatasync and fsyncdir [D3][D4].
 *
 * No per-open state is kept (fi->fh is 0): the inode's open count keeps an
 * unlinked file alive until its last release. Locks (flock and POSIX) are
 * left to the kernel: a local, single-node filesystem that implements no
 * getlk/setlk/flock gets the kernel's own lock handling.
 */
#include <fcntl.h>
#include <syslog.h>

#include "sfs.h"

void sfs_op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct sfs *sfs = sfs_of(req);
	struct sfs_inode *i;
	int r = 0;

	i = sfs_inode_grab_req(req, ino);
	if (!i)
		return;
	if ((fi->flags & O_ACCMODE) != O_RDONLY && sfs->opt.ro) {
		r = -EROFS;
	} else if ((fi->flags & O_TRUNC) && (fi->flags & O_ACCMODE) != O_RDONLY &&
		   S_ISREG(i->a.mode)) {
		sfs_rwlock_wr(&i->io);
		r = sfs_data_truncate(sfs, i, 0);
		pthread_rwlock_unlock(&i->io);
		if (r == 0)
			r = sfs_sync_op(sfs, i->last_txn);
	}
	if (r == 0) {
		sfs_inode_open_inc(sfs, i);
		fi->fh = 0;
		/* we are the only writer: cached pages stay valid across opens */
		fi->keep_cache = 1;
	}
	sfs_inode_put(sfs, i);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_open(req, fi);
}

void sfs_op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct sfs *sfs = sfs_of(req);
	struct sfs_inode *i;
	int r = sfs_inode_grab(sfs, ino, &i);

	(void)fi;
	if (r == 0) {
		/* report, once, a write-back failure of buffered data */
		r = atomic_exchange(&i->wb_err, 0);
		sfs_inode_put(sfs, i);
	}
	fuse_reply_err(req, -r);
}

void sfs_op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct sfs *sfs = sfs_of(req);
	struct sfs_inode *i;
	int r = sfs_inode_grab(sfs, ino, &i);

	if (r == 0) {
		/* a read-only handle wrote nothing: no need to stop readers */
		if (!sfs->opt.ro && (fi->flags & O_ACCMODE) != O_RDONLY) {
			sfs_rwlock_wr(&i->io);
			r = sfs_data_flush(sfs, i);
			if (r < 0) {
				i->wb_err = r;
				sfs_log(LOG_WARNING, "inode %llu: writing data at close failed: %s",
					(unsigned long long)ino, strerror(-r));
			}
			pthread_rwlock_unlock(&i->io);
		}
		sfs_inode_open_dec(sfs, i);
		sfs_inode_put(sfs, i);
		sfs_reclaim_run(sfs);
	}
	fuse_reply_err(req, 0);
}

static void do_fsync(fuse_req_t req, fuse_ino_t ino)
{
	struct sfs *sfs = sfs_of(req);
	struct sfs_inode *i;
	int r = 0;

	i = sfs_inode_grab_req(req, ino);
	if (!i)
		return;
	if (!sfs->opt.ro) {
		sfs_rwlock_wr(&i->io);
		r = sfs_data_flush(sfs, i);
		if (r == 0 && i->wb_err) {
			r = i->wb_err;
			i->wb_err = 0;
		}
		pthread_rwlock_unlock(&i->io);
		if (r == 0)
			r = sfs_sync_inode(sfs, i); /* [D3] */
	}
	sfs_inode_put(sfs, i);
	fuse_reply_err(req, -r);
}

void sfs_op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	(void)datasync;
	(void)fi;
	do_fsync(req, ino);
}

void sfs_op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	(void)datasync;
	(void)fi;
	do_fsync(req, ino); /* [D4] a directory's last change is in last_txn too */
}
