/*
 * ioctl.c — the control interface of a mounted filesystem: the commands of
 * slatefs_ioctl.h, and FITRIM (what `fstrim MOUNTPOINT` sends), which punches
 * the free space of the image and starts a compaction pass.
 *
 * FUSE passes ioctls "restricted": in_buf/out_buf hold exactly
 * _IOC_SIZE(cmd) bytes. A command of ours whose size differs from this
 * header (another version) is EINVAL; anything unknown is ENOTTY, as the
 * kernel expects of a filesystem. FUSE_USE_VERSION 35 gives an unsigned cmd,
 * so FITRIM (0xC0185879) compares right. Reading is open to everyone;
 * changing anything takes root or the user who mounted (EPERM).
 */
#include <linux/fs.h>
#include <unistd.h>

#include "compact.h"
#include "control.h"
#include "sfs.h"
#include "slatefs_ioctl.h"

static bool may_change(fuse_req_t req)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	return ctx->uid == 0 || ctx->uid == getuid();
}

static void reply_value(fuse_req_t req, const void *v, size_t len)
{
	fuse_reply_ioctl(req, 0, v, len);
}

static void do_get_stats(fuse_req_t req, struct sfs *sfs)
{
	struct slatefs_stats out;
	struct compact_measure m;
	struct compact *c = sfs_compactor(sfs);
	int r;

	memset(&out, 0, sizeof(out));
	if (c) {
		r = compact_measure(c, true, &m);
	} else {
		/* read-only mount: the store figures only */
		store_txn *txn;
		memset(&m, 0, sizeof(m));
		r = store_txn_begin(sfs->s, STORE_TXN_READ, &txn);
		if (r == 0) {
			r = store_stats(txn, &m.st);
			store_txn_abort(txn);
		}
	}
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	out.version = SLATEFS_IOCTL_VERSION;
	out.page_size = m.st.page_size;
	out.image_size = m.st.file_size;
	out.disk_bytes = m.st.disk_bytes;
	out.used_bytes = m.st.used_bytes;
	out.free_bytes = m.st.free_bytes;
	out.pending_bytes = m.st.pending_bytes;
	out.tail_free_bytes = m.st.tail_free_bytes;
	out.largest_free_extent = m.st.largest_free_extent;
	out.free_extents = m.st.free_extents;
	out.tree_bytes = m.st.tree_pages * m.st.page_size;
	out.blob_count = m.st.blob_count;
	out.blob_logical_bytes = m.st.blob_logical_bytes;
	out.blob_stored_bytes = m.st.blob_stored_bytes;
	out.blob_dead_bytes = m.st.blob_dead_bytes;
	out.files = m.files;
	out.chunks = m.chunks;
	out.fragmented_files = m.fragmented_files;
	out.txnid = m.st.txnid;
	out.durable_txnid = m.st.durable_txnid;
	out.readers = m.st.readers;
	reply_value(req, &out, sizeof(out));
}

static void do_status(fuse_req_t req, struct sfs *sfs)
{
	struct slatefs_compact_status out;
	struct compact *c = sfs_compactor(sfs);

	memset(&out, 0, sizeof(out));
	out.version = SLATEFS_IOCTL_VERSION;
	if (c) {
		struct compact_status st;
		compact_get_status(c, &st);
		out.state = st.state;
		out.phase = st.phase;
		out.mode = st.mode;
		out.percent = st.percent;
		out.last_error = st.last_error;
		out.pass = st.pass;
		out.bytes_to_move = st.bytes_to_move;
		out.bytes_moved = st.bytes_moved;
		out.bytes_reclaimed = st.bytes_reclaimed;
		out.bytes_punched = st.bytes_punched;
		out.eta_ms = st.eta_ms;
		out.elapsed_ms = st.elapsed_ms;
		out.rate = st.rate;
		out.image_size = st.image_size;
		out.passes = st.passes;
		out.passes_cancelled = st.passes_cancelled;
		out.failures = st.failures;
		out.total_moved = st.total_moved;
		out.total_reclaimed = st.total_reclaimed;
		out.total_ms = st.total_ms;
		out.last_ms = st.last_ms;
		out.autocompact = st.autocompact;
	}
	reply_value(req, &out, sizeof(out));
}

static void do_compact(fuse_req_t req, struct compact *c, const void *in)
{
	struct slatefs_compact_args a;
	memcpy(&a, in, sizeof(a));
	unsigned mode = a.mode ? a.mode : SLATEFS_COMPACT_ALL;
	if (mode > SLATEFS_COMPACT_ALL || a.flags) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	int r = compact_request(c, (enum compact_mode)mode, a.rate, a.target_size);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_ioctl(req, 0, NULL, 0);
}

static void do_defrag(fuse_req_t req, struct sfs *sfs, struct compact *c, fuse_ino_t ino,
		      const void *in)
{
	struct slatefs_defrag_args a;
	struct sfs_inode *i;
	memcpy(&a, in, sizeof(a));
	if (a.flags) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	int r = sfs_inode_grab(sfs, ino, &i);
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	mode_t mode = i->a.mode;
	sfs_inode_put(sfs, i);
	if (!S_ISREG(mode)) {
		fuse_reply_err(req, S_ISDIR(mode) ? EISDIR : EINVAL);
		return;
	}
	/* the file's buffered data becomes chunks first */
	r = sfs_batch_sync_all(sfs);
	if (r == 0)
		r = compact_defrag_file(c, ino, &a.chunks, &a.runs_before, &a.runs_after,
					&a.bytes_moved);
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	reply_value(req, &a, sizeof(a));
}

static void do_fitrim(fuse_req_t req, struct compact *c, const void *in)
{
	struct fstrim_range range;
	uint64_t punched = 0;
	memcpy(&range, in, sizeof(range));
	int r = compact_trim(c, range.minlen, &punched);
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	range.len = punched;
	reply_value(req, &range, sizeof(range));
}

void sfs_op_ioctl(fuse_req_t req, fuse_ino_t ino, unsigned int cmd, void *arg,
		  struct fuse_file_info *fi, unsigned flags, const void *in_buf, size_t in_bufsz,
		  size_t out_bufsz)
{
	struct sfs *sfs = sfs_of(req);
	struct compact *c = sfs_compactor(sfs);
	(void)arg;
	(void)fi;
	if (flags & FUSE_IOCTL_COMPAT) {
		fuse_reply_err(req, ENOTTY); /* 32-bit callers: none of ours */
		return;
	}
	if (cmd == FITRIM) {
		if (!may_change(req)) {
			fuse_reply_err(req, EPERM);
			return;
		}
		if (!c) {
			fuse_reply_err(req, EROFS);
			return;
		}
		if (in_bufsz < sizeof(struct fstrim_range) || out_bufsz < sizeof(struct fstrim_range)) {
			fuse_reply_err(req, EINVAL);
			return;
		}
		do_fitrim(req, c, in_buf);
		return;
	}
	if (_IOC_TYPE(cmd) != SLATEFS_IOC_MAGIC) {
		fuse_reply_err(req, ENOTTY);
		return;
	}
	static const unsigned ours[] = {
		0,
		SLATEFS_IOC_GET_STATS,
		SLATEFS_IOC_COMPACT,
		SLATEFS_IOC_COMPACT_STATUS,
		SLATEFS_IOC_COMPACT_PAUSE,
		SLATEFS_IOC_COMPACT_RESUME,
		SLATEFS_IOC_COMPACT_CANCEL,
		SLATEFS_IOC_DEFRAG,
		SLATEFS_IOC_SYNC,
		SLATEFS_IOC_BACKUP,
		SLATEFS_IOC_BACKUP_STATUS,
	};
	unsigned nr = _IOC_NR(cmd);
	if (nr == 0 || nr >= sizeof(ours) / sizeof(ours[0])) {
		fuse_reply_err(req, ENOTTY);
		return;
	}
	if (cmd != ours[nr] || in_bufsz != ((_IOC_DIR(cmd) & _IOC_WRITE) ? _IOC_SIZE(cmd) : 0) ||
	    out_bufsz != ((_IOC_DIR(cmd) & _IOC_READ) ? _IOC_SIZE(cmd) : 0)) {
		fuse_reply_err(req, EINVAL); /* our command, another size: another version */
		return;
	}
	if (cmd == SLATEFS_IOC_GET_STATS) {
		do_get_stats(req, sfs);
		return;
	}
	if (cmd == SLATEFS_IOC_COMPACT_STATUS) {
		do_status(req, sfs);
		return;
	}
	if (cmd == SLATEFS_IOC_BACKUP_STATUS) {
		struct slatefs_backup_status bs;
		sfs_backup_status(&bs);
		reply_value(req, &bs, sizeof(bs));
		return;
	}
	if (!may_change(req)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	if (cmd == SLATEFS_IOC_BACKUP) {
		struct slatefs_backup_args a;
		memcpy(&a, in_buf, sizeof(a));
		int r = sfs_backup_start(sfs, &a);
		if (r < 0)
			fuse_reply_err(req, -r);
		else
			fuse_reply_ioctl(req, 0, NULL, 0);
		return;
	}
	if (cmd == SLATEFS_IOC_SYNC) {
		int r = sfs->opt.ro ? 0 : sfs_batch_sync_all(sfs);
		if (r < 0)
			fuse_reply_err(req, -r);
		else
			fuse_reply_ioctl(req, 0, NULL, 0);
		return;
	}
	if (!c) {
		fuse_reply_err(req, EROFS);
		return;
	}
	int r = 0;
	switch (cmd) {
	case SLATEFS_IOC_COMPACT:
		do_compact(req, c, in_buf);
		return;
	case SLATEFS_IOC_DEFRAG:
		do_defrag(req, sfs, c, ino, in_buf);
		return;
	case SLATEFS_IOC_COMPACT_PAUSE:
		r = compact_pause(c);
		break;
	case SLATEFS_IOC_COMPACT_RESUME:
		r = compact_resume(c);
		break;
	case SLATEFS_IOC_COMPACT_CANCEL:
		r = compact_cancel(c);
		break;
	}
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_ioctl(req, 0, NULL, 0);
}
