/*
 * slatefs.h — the filesystem layer's interface for the tools (mkfs, fsck,
 * and later the inspector): creating a filesystem in a new image, and
 * checking the filesystem tables of an image. The daemon's internals are in
 * fs/sfs.h; the schema is described in fs/README.md.
 */
#ifndef SLATEFS_SLATEFS_H
#define SLATEFS_SLATEFS_H

#include <stdbool.h>
#include <stdint.h>

#include "store.h"

enum {
	SFS_LABEL_MAX = 63,
	SFS_DEFAULT_CHUNK = 65536,
	SFS_MIN_CHUNK = 4096,
	SFS_MAX_CHUNK = 1048576,
};

enum sfs_compress {
	SFS_COMPRESS_NONE = 0,
	SFS_COMPRESS_LZ4 = 1,
};

/* The filesystem's tables, in the order of sfs_table_names. */
enum { SFS_NTABLES = 7 };
struct sfs_tables {
	store_table super, inode, dirent, dircookie, xattr, chunk, orphan;
};

/** What mkfs asks for; zero-initialise, then set. */
struct sfs_format_opts {
	uint32_t page_size;  /**< 0 = store default */
	uint32_t chunk_size; /**< 0 = SFS_DEFAULT_CHUNK; power of two */
	int compress;        /**< enum sfs_compress */
	const char *label;   /**< NULL = none; at most SFS_LABEL_MAX bytes */
	bool force;          /**< overwrite an existing file */
	uint32_t root_uid, root_gid; /**< owner of the root directory */
	void (*log)(void *ctx, int level, const char *msg); /**< store log */
	void *log_ctx;
};

/**
 * Create a new image at path holding an empty filesystem (a root directory
 * with mode 0755). Durable when it returns 0.
 * Errors: -EEXIST (file exists and !force), -EINVAL (bad option), or the
 * store's errors.
 */
int sfs_format(const char *path, const struct sfs_format_opts *o);

/** Counts of a filesystem check. */
struct sfs_check_report {
	uint64_t errors;   /**< inconsistencies found */
	uint64_t inodes;
	uint64_t dirs;
	uint64_t dirents;
	uint64_t chunks;
	uint64_t xattrs;
	uint64_t orphans;  /**< inodes awaiting reclaim (normal after a crash) */
	uint64_t data_bytes; /**< logical bytes of stored chunks */
};

/**
 * Cross-check the filesystem tables of the state txn sees: the superblock,
 * every inode row, nlink against dirents, dirents against inodes and
 * cookies, chunk rows against inodes, sizes and blobs, xattr and orphan rows.
 * Each problem goes to problem() as one sentence, and is counted.
 * @return 0 if the check ran (see rep->errors), or a negative errno.
 */
int sfs_check(store_txn *txn, void (*problem)(void *ctx, const char *msg), void *ctx,
	      struct sfs_check_report *rep);

#endif /* SLATEFS_SLATEFS_H */
