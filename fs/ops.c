/*
 * ops.c — the table of FUSE low-level operations: which file handles what.
 * getlk/setlk/flock are deliberately absent: the kernel then keeps POSIX and
 * flock locks itself, which is right for a local, single-node filesystem.
 * releasedir is absent: a directory handle carries no state (readdir
 * offsets are cookies).
 */
#include "sfs.h"

const struct fuse_lowlevel_ops sfs_ops = {
	.init = sfs_op_init,
	.destroy = sfs_op_destroy,
	.lookup = sfs_op_lookup,
	.forget = sfs_op_forget,
	.forget_multi = sfs_op_forget_multi,
	.getattr = sfs_op_getattr,
	.setattr = sfs_op_setattr,
	.readlink = sfs_op_readlink,
	.mknod = sfs_op_mknod,
	.mkdir = sfs_op_mkdir,
	.unlink = sfs_op_unlink,
	.rmdir = sfs_op_rmdir,
	.symlink = sfs_op_symlink,
	.rename = sfs_op_rename,
	.link = sfs_op_link,
	.open = sfs_op_open,
	.read = sfs_op_read,
	.write = sfs_op_write,
	.flush = sfs_op_flush,
	.release = sfs_op_release,
	.fsync = sfs_op_fsync,
	.opendir = sfs_op_opendir,
	.readdir = sfs_op_readdir,
	.readdirplus = sfs_op_readdirplus,
	.fsyncdir = sfs_op_fsyncdir,
	.statfs = sfs_op_statfs,
	.setxattr = sfs_op_setxattr,
	.getxattr = sfs_op_getxattr,
	.listxattr = sfs_op_listxattr,
	.removexattr = sfs_op_removexattr,
	.access = sfs_op_access,
	.create = sfs_op_create,
	.ioctl = sfs_op_ioctl,
	.fallocate = sfs_op_fallocate,
	.copy_file_range = sfs_op_copy_file_range,
	.lseek = sfs_op_lseek,
};
