/*
 * repair.h — the filesystem check with what each problem needs to be
 * repaired (fs/check.c), and the repairs themselves (fs/repair.c), for
 * fsck.slatefs. sfs_check() in slatefs.h is the plain form of the check.
 *
 * A check reports each problem as a finding: a sentence, and a fix — the
 * kind of repair that cures it, with what that repair needs (rows, inode
 * numbers, values). Repairs happen in stages, because one repair changes
 * what later checks find: stage 1 removes or rewrites rows that are wrong
 * on their own (entries of missing inodes, stray chunk rows, ...), stage 2
 * links lost inodes into /lost+found, stage 3 sets the counts (nlink,
 * sizes, stored bytes, blob references) from the rows left, and stage 4
 * rebuilds the store's free-space map. fsck runs check → repair one stage
 * → check again, in one write txn, until nothing it may repair is left.
 */
#ifndef SLATEFS_REPAIR_H
#define SLATEFS_REPAIR_H

#include "schema.h"

/** What cures a problem. Order matters: see sfs_fix_stage(). */
enum sfs_fix {
	SFS_FIX_NONE = 0,      /**< nothing fsck can do (damaged data, bad rows) */
	/* stage 1: rows wrong on their own */
	SFS_FIX_ENTRY,         /**< remove a directory entry and its cookie row */
	SFS_FIX_ENTRY_TYPE,    /**< set an entry's type to its inode's */
	SFS_FIX_COOKIE,        /**< give an entry a cookie row of its own */
	SFS_FIX_COOKIE_ROW,    /**< remove a cookie row no entry owns */
	SFS_FIX_NEXT_COOKIE,   /**< raise a directory's next cookie past its cookies */
	SFS_FIX_CHUNK,         /**< remove a chunk row (its blob reference is recounted) */
	SFS_FIX_CHUNK_TRIM,    /**< cut the bytes a chunk holds past the end of file */
	SFS_FIX_XATTR,         /**< remove an xattr row */
	SFS_FIX_ORPHAN,        /**< remove an orphan row */
	SFS_FIX_NEXT_INO,      /**< raise the super row's next inode number */
	SFS_FIX_CYCLE,         /**< unhook a directory of a cycle the root does not reach */
	/* stage 2 */
	SFS_FIX_LOST,          /**< link an inode no entry names into /lost+found */
	/* stage 3: counts */
	SFS_FIX_NLINK,         /**< set nlink */
	SFS_FIX_DIR_SIZE,      /**< set a directory's size (its number of entries) */
	SFS_FIX_DIR_PARENT,    /**< set a directory's parent */
	SFS_FIX_BLOCKS,        /**< set a file's stored bytes */
	SFS_FIX_BLOB_REFS,     /**< set a blob's reference count to its chunk users */
	SFS_FIX_BLOB_LEAK,     /**< delete a blob nothing references */
	/* stage 4: the store */
	SFS_FIX_FREE_MAP,      /**< rebuild the free-space map from reachable pages */
	SFS_FIX_SLOT,          /**< rewrite a damaged commit slot (the next commit does) */
	SFS_FIX_COUNT
};

/** One problem, and what its repair needs. */
struct sfs_finding {
	enum sfs_fix fix;
	uint64_t ino;    /**< the inode concerned (entries: the child) */
	uint64_t dir;    /**< entries, cookies: the directory */
	uint64_t n;      /**< chunk index, cookie, or blob id */
	uint64_t val;    /**< the value to set (counts, next numbers) */
	store_table table; /**< row removals: the table ... */
	uint16_t klen;   /**< ... and the key of the row */
	uint8_t key[STORE_MAX_KEY];
};

/** Stage of a fix (1..4; 0 for SFS_FIX_NONE). */
int sfs_fix_stage(enum sfs_fix fix);

/** A short description of a kind of repair, for the question asked. */
const char *sfs_fix_what(enum sfs_fix fix);

/** How the check reports: every finding with its sentence; progress in rows. */
struct sfs_check_cb {
	void (*found)(void *ctx, const struct sfs_finding *f, const char *msg);
	void (*progress)(void *ctx, uint64_t done, uint64_t total);
	void *ctx;
};

/**
 * The filesystem cross-checks of sfs_check(), reporting findings. A table
 * that cannot be read (-EIO) stops the check with one finding saying so,
 * and the call still returns 0.
 * @return 0 if the check ran (rep->errors counts the findings), or a
 *         negative errno.
 */
int sfs_check_findings(store_txn *txn, const struct sfs_check_cb *cb,
		       struct sfs_check_report *rep);

/** What a round of repairs did. */
struct sfs_repair_report {
	uint64_t applied;  /**< findings repaired */
	uint64_t failed;   /**< findings whose repair could not be done */
	uint64_t lost_found; /**< inode of /lost+found, if used (0: not) */
};

/**
 * Repair, inside the write txn, every finding whose fix is enabled
 * (enabled[fix]) and of stage `stage`. A repair that finds the rows other
 * than the check said is skipped and counted in rep->failed (the next check
 * says what is left). log (if not NULL) gets one sentence per repair.
 * @return 0, or a negative errno (the txn must then be aborted).
 */
int sfs_repair(store_txn *txn, const struct sfs_finding *f, size_t n, int stage,
	       const bool enabled[SFS_FIX_COUNT],
	       void (*log)(void *ctx, const char *msg), void *ctx,
	       struct sfs_repair_report *rep);

#endif /* SLATEFS_REPAIR_H */
