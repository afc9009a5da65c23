/*
 * ioctl.c — the ioctl dispatch point. The control interface (stats,
 * compaction, sync, backup: a public header of fixed-size commands) is its
 * own piece of work and plugs in here; every command not known is ENOTTY,
 * as the kernel expects of a filesystem (FITRIM, FS_IOC_GETFLAGS, ... then
 * report "not supported" to their callers). FUSE_USE_VERSION 35 gives an
 * unsigned cmd, so commands with the top bit set (e.g. FITRIM) compare right.
 */
#include "sfs.h"

void sfs_op_ioctl(fuse_req_t req, fuse_ino_t ino, unsigned int cmd, void *arg,
		  struct fuse_file_info *fi, unsigned flags, const void *in_buf, size_t in_bufsz,
		  size_t out_bufsz)
{
	(void)ino;
	(void)arg;
	(void)fi;
	(void)in_buf;
	(void)in_bufsz;
	(void)out_bufsz;
	if (flags & FUSE_IOCTL_COMPAT) {
		fuse_reply_err(req, ENOTTY); /* 32-bit callers: none of ours */
		return;
	}
	switch (cmd) {
	default:
		fuse_reply_err(req, ENOTTY);
		return;
	}
}
