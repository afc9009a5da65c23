/*
 * sfs.h — internal interface shared by the files of the slatefs daemon (fs/).
 *
 * The daemon maps POSIX onto store tables (store/store.h only). This header
 * holds the in-memory state of a mounted filesystem (struct sfs), of a cached
 * inode (struct sfs_inode), the row encodings every file agrees on, and the
 * functions each file of fs/ exports to the others. The table schema, the
 * locking rules [L1]..[L6] and the durability rules [D1]..[D9] cited in the
 * code are written down in fs/README.md.
 *
 * Lock order (never take a lock to the left while holding one to its right):
 *   inode io lock (ascending ino)  ->  tree lock  ->  attr_mu / icache mu
 */
#ifndef SLATEFS_SFS_H
#define SLATEFS_SFS_H

/* 3.12 or later: the low-level ioctl takes an unsigned cmd (35+), and the
   session loop takes the 3.12 loop configuration (max_threads). */
#define FUSE_USE_VERSION 312

#include <endian.h>
#include <errno.h>
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "schema.h"

struct sfs;

/* ---- mount options (fs/options.c) -------------------------------------------- */

struct sfs_options {
	char *image;      /* absolute path */
	char *mountpoint; /* as given */
	bool ro;
	bool sync;
	bool acl;
	bool allow_other;
	bool foreground;
	bool debug;
	bool singlethread;
	unsigned commit_s;  /* commit interval, seconds */
	int compress;       /* -1 = as formatted, else SFS_COMPRESS_* */
	uint64_t cache;     /* dirty data budget, bytes */
	uint64_t max_size;  /* image size limit, bytes (0 = none) */
	bool autocompact;   /* kept for the compaction scheduler */
	unsigned compact_threshold; /* percent */
	uint64_t compact_rate;      /* bytes per second (0 = unlimited) */
	unsigned max_idle_threads;
	unsigned max_threads;
	bool clone_fd;
};

/*
 * Parse argv into opt and into args (what libfuse must see). Prints the
 * reason of any error. Returns 0, 1 if help/version was printed (exit 0), or
 * -EINVAL (exit 1).
 */
int sfs_options_parse(int argc, char **argv, struct sfs_options *opt, struct fuse_args *args);
void sfs_options_free(struct sfs_options *opt);

/* ---- logging (fs/log.c) ----------------------------------------------------- */

void sfs_log_to_syslog(void);
void sfs_log(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sfs_log_store(void *ctx, int level, const char *msg);

/* ---- the inode cache (fs/inode.c) ---------------------------------------------- */

struct sfs_cbuf; /* a dirty chunk buffer (fs/data.c) */

struct sfs_inode {
	uint64_t ino;
	struct sfs_inode *hnext; /* hash chain                      [icache mu] */

	/* reference counts                                           [icache mu] */
	uint64_t nlookup; /* kernel lookups not yet forgotten */
	uint32_t refs;    /* operations holding a pointer */
	uint32_t opens;   /* open file handles */
	bool dead;        /* being reclaimed: no new references */
	bool unlinked;    /* nlink reached 0: reclaim when unreferenced */
	bool on_dirty;    /* on the dirty list (holds no ref)  */
	struct sfs_inode *dprev, *dnext;
	struct sfs_inode *rnext; /* reclaim queue */

	pthread_mutex_t attr_mu;
	struct sfs_attr a; /* [attr_mu] for reads; writers also hold the tree
	                      lock exclusively, or the io lock for size/times
	                      changed by buffered writes */

	pthread_rwlock_t io; /* [L3] data of this inode */
	struct sfs_cbuf **bufs; /* dirty chunk buffers, sorted by index  [io] */
	size_t nbufs, capbufs;  /*                                        [io] */
	_Atomic size_t nbufs_pub; /* nbufs, for stat without the io lock */
	size_t ndense;          /* dense buffers (whole chunks in memory)  [io] */
	uint8_t lz4_fails, lz4_skip; /* lz4 probes failed in a row, chunks
	                               left to store without probing    [io] */
	uint64_t size_flushed;  /* size the stored data covers [io + tree excl] */
	_Atomic int wb_err;     /* deferred write-back error (set under io)   */

	_Atomic uint64_t last_txn; /* batch that last changed its rows */
};

/* Get a referenced inode; the caller holds the tree lock (either mode). */
int sfs_inode_get(struct sfs *sfs, uint64_t ino, struct sfs_inode **out);
/* Get a referenced inode without holding any lock. */
int sfs_inode_grab(struct sfs *sfs, uint64_t ino, struct sfs_inode **out);
/* grab, or reply the error to req and return NULL. */
struct sfs_inode *sfs_inode_grab_req(fuse_req_t req, uint64_t ino);
/* Drop a reference taken by get/grab/new. Never blocks on the tree lock. */
void sfs_inode_put(struct sfs *sfs, struct sfs_inode *i);
/* Create a new inode with attributes *a (tree lock exclusive); ino chosen. */
int sfs_inode_new(struct sfs *sfs, const struct sfs_attr *a, struct sfs_inode **out);
void sfs_inode_lookup_inc(struct sfs *sfs, struct sfs_inode *i);
void sfs_inode_forget(struct sfs *sfs, uint64_t ino, uint64_t n);
void sfs_inode_open_inc(struct sfs *sfs, struct sfs_inode *i);
void sfs_inode_open_dec(struct sfs *sfs, struct sfs_inode *i);
/* Put the inode on the dirty list (it has buffered data). */
void sfs_inode_mark_dirty(struct sfs *sfs, struct sfs_inode *i);
void sfs_inode_clear_dirty(struct sfs *sfs, struct sfs_inode *i);
/* Referenced inodes on the dirty list (caller puts them and frees arr). */
size_t sfs_inode_dirty_list(struct sfs *sfs, struct sfs_inode ***arr);
/* Snapshot of the attributes. */
void sfs_inode_attr(struct sfs_inode *i, struct sfs_attr *a);
void sfs_inode_stat(struct sfs *sfs, struct sfs_inode *i, struct stat *st);
/* Write the inode's row (tree lock exclusive). inl: new inline bytes, or
   NULL to keep the stored ones. */
int sfs_inode_write(struct sfs *sfs, struct sfs_inode *i, const void *inl, size_t inl_len);
/* Deleted chunks of freed stored bytes no longer count (attr_mu held). */
void sfs_inode_sub_blocks(struct sfs_inode *i, uint64_t freed);
/* Set ctime to now and write the row (tree lock exclusive). */
int sfs_inode_write_ctime(struct sfs *sfs, struct sfs_inode *i);
/* Read the inline bytes of a row (tree lock held) into buf (cap bytes). */
int sfs_inode_read_inline(struct sfs *sfs, uint64_t ino, void *buf, size_t cap, size_t *len);
/* Drop nlink by one (tree excl); at zero put an orphan row [D9]. */
int sfs_inode_unlink(struct sfs *sfs, struct sfs_inode *i, const struct timespec *now);
/* Reclaim the inodes whose last reference went; call with no lock held. */
void sfs_reclaim_run(struct sfs *sfs);
/* At mount: reclaim every orphan row (nothing references them). */
int sfs_orphans_recover(struct sfs *sfs);
/* Delete data past EOF of an orphan-listed inode, or all of an unlinked one. */
int sfs_inode_reclaim(struct sfs *sfs, uint64_t ino, struct sfs_inode *i, bool trunc);
uint32_t sfs_inode_opens(struct sfs *sfs, struct sfs_inode *i);
int sfs_icache_init(struct sfs *sfs);
void sfs_icache_destroy(struct sfs *sfs);
/* At unmount: the kernel's lookups and opens are gone. */
void sfs_icache_drop_kernel_refs(struct sfs *sfs);
/* Fill a fuse_entry_param for i (and count the lookup). */
void sfs_inode_entry(struct sfs *sfs, struct sfs_inode *i, struct fuse_entry_param *e);

/* ---- the batch, the tree lock, commits (fs/batch.c) -------------------------- */

int sfs_batch_init(struct sfs *sfs);
void sfs_batch_stop(struct sfs *sfs);
/* Take the tree lock exclusively for an operation that changes about nrows
   rows and bytes of blob data, and reserve the space [D1]. -ENOSPC when the
   image is down to the reserve kept for operations that free space. */
int sfs_tx_begin(struct sfs *sfs, unsigned nrows, uint64_t bytes);
/* The same for an operation that frees space (or takes none): it may use
   the reserve. */
int sfs_tx_begin_free(struct sfs *sfs, unsigned nrows);
/* Inside a section: guarantee the space of nrows more row changes. */
int sfs_tx_reserve(struct sfs *sfs, unsigned nrows);
/* End it; err != 0 after a row changed breaks the filesystem [D1]. */
void sfs_tx_end(struct sfs *sfs, int err);
int sfs_rd_begin(struct sfs *sfs);
void sfs_rd_end(struct sfs *sfs);
/* Id of the open batch (tree lock held). */
uint64_t sfs_txid(struct sfs *sfs);
/* Mark that inode i changed in the open batch (tree lock exclusive). */
void sfs_touch(struct sfs *sfs, struct sfs_inode *i);
/* Row changes, counted so that a half-done operation is detected. */
int sfs_put(struct sfs *sfs, store_table t, const void *k, size_t kl, const void *v, size_t vl,
	    unsigned flags);
int sfs_del(struct sfs *sfs, store_table t, const void *k, size_t kl);
int sfs_blob_put(struct sfs *sfs, const store_blob_prep *p, uint64_t *id);
int sfs_blob_unref(struct sfs *sfs, uint64_t id);
int sfs_blob_ref(struct sfs *sfs, uint64_t id);
int sfs_batch_start_thread(struct sfs *sfs);
/* Final durable commit at unmount. */
int sfs_batch_close(struct sfs *sfs);
/* Make every change up to batch txid durable (0 = everything so far). */
int sfs_sync(struct sfs *sfs, uint64_t txid);
/* Make inode i durable (its last change) [D3]. */
int sfs_sync_inode(struct sfs *sfs, struct sfs_inode *i);
/* -o sync: make the op's batch durable before replying [D6]. */
int sfs_sync_op(struct sfs *sfs, uint64_t txid);
/* Wake the commit thread (reclaim queue, memory pressure). */
void sfs_batch_kick(struct sfs *sfs);
/* Ask the commit thread for a durable commit now (tree lock held). */
void sfs_batch_commit_soon(struct sfs *sfs);
/* Flush everything and commit durably (unmount, SYNC). */
int sfs_batch_sync_all(struct sfs *sfs);

/* ---- the superblock (fs/super.c) ---------------------------------------------- */

/* Allocate an inode number (tree lock exclusive). */
int sfs_super_alloc_ino(struct sfs *sfs, uint64_t *ino);

/* ---- directories (fs/dir.c) ----------------------------------------------------- */

int sfs_name_check(const char *name);
int sfs_dirent_get(struct sfs *sfs, uint64_t parent, const char *name, uint64_t *ino,
		   unsigned *type, uint64_t *cookie);
/* Create a node; target != NULL for a symlink. Replies to req. */
int sfs_node_make(struct sfs *sfs, fuse_req_t req, uint64_t parent, const char *name,
		  mode_t mode, dev_t rdev, const char *target, struct sfs_inode **out);

/* ---- file data (fs/data.c) --------------------------------------------------- */

/* Write buffered data and the row of i into the batch [D2]; io lock held
   exclusively. */
int sfs_data_flush(struct sfs *sfs, struct sfs_inode *i);
/* Change the size (io lock held exclusively). */
int sfs_data_truncate(struct sfs *sfs, struct sfs_inode *i, uint64_t size);
/* Drop every buffer of i (reclaim). */
void sfs_data_discard(struct sfs *sfs, struct sfs_inode *i);
/* Free the buffers of an inode being freed (no list bookkeeping). */
void sfs_data_free_bufs(struct sfs *sfs, struct sfs_inode *i);
/* Is lz4 likely to save 1/8 of this chunk? (fs/compress.c) */
bool sfs_worth_compressing(const void *data, size_t len);
/* Do the chunk buffers pass the mount's budget (cache=)? */
bool sfs_data_pressure(struct sfs *sfs);
/* Do sfs->buf_mem and sfs->dirty_bytes match the buffers of the inodes on
   the dirty list (every inode with buffers)? Logs when not. Nothing else
   may run (unmount). */
bool sfs_data_accounts_ok(struct sfs *sfs);
/* Flush every dirty inode (commit interval, unmount). */
int sfs_data_flush_all(struct sfs *sfs);
/* Delete chunk rows [from, to) of ino and their blobs, at most max rows;
   *done set when none is left. Tree lock exclusive. */
int sfs_chunks_delete(struct sfs *sfs, uint64_t ino, uint64_t from, uint64_t to, unsigned max,
		      uint64_t *freed, bool *done);

/* ---- xattrs and ACLs (fs/xattr.c, fs/acl.c) ---------------------------------------- */

int sfs_xattr_get_row(struct sfs *sfs, uint64_t ino, const char *name, void *buf, size_t cap,
		      size_t *len);
int sfs_xattr_put_row(struct sfs *sfs, uint64_t ino, const char *name, const void *v, size_t len);
int sfs_xattr_del_all(struct sfs *sfs, uint64_t ino);
/* ACL inheritance for a new inode (tree excl): adjusts *mode, writes rows. */
int sfs_acl_inherit_prepare(struct sfs *sfs, struct sfs_inode *parent, mode_t *mode,
			    mode_t umask, void **access, size_t *alen, void **dflt, size_t *dlen);
/* Mode bits implied by an access ACL; 1 if the ACL is equivalent to a mode. */
int sfs_acl_to_mode(const void *v, size_t len, mode_t *mode);
int sfs_acl_valid(const void *v, size_t len);
/* Rewrite the permission entries of a stored access ACL after a chmod. */
int sfs_acl_chmod(void *v, size_t len, mode_t mode);

/* ---- free space (fs/space.c) ------------------------------------------------------- */

struct sfs_space {
	uint64_t avail;    /* bytes that may still be stored */
	uint64_t used;     /* bytes the image uses */
	uint64_t files;    /* inodes */
	uint64_t dirty_at; /* buffered bytes when computed */
	uint64_t when_ms;  /* monotonic time of the figures (0 = never) */
};

/* -ENOSPC if bytes more of data cannot be stored. */
int sfs_space_check(struct sfs *sfs, uint64_t bytes);
void sfs_op_statfs(fuse_req_t req, fuse_ino_t ino);

/* ---- the session loop (fs/loop.c) ------------------------------------------------ */

/* Run the session with up to max_threads workers, one reading at a time;
   returns when the session ends (0 or -errno). */
int sfs_loop_run(struct fuse_session *se, unsigned max_threads);
/* The calling thread is about to block (disk I/O, a sync, a busy lock): if
   it is the loop's reader, another thread takes over reading. */
void sfs_loop_handoff(void);
/* Take a rwlock; if it is busy, hand off first. */
void sfs_rwlock_wr(pthread_rwlock_t *l);
void sfs_rwlock_rd(pthread_rwlock_t *l);

/* ---- the mounted filesystem ------------------------------------------------------- */

struct sfs {
	store *s;
	struct sfs_options opt;
	struct sfs_tables t;
	struct sfs_super sb;
	struct fuse_session *se;
	uint32_t chunk_size;
	uint32_t inline_max;
	unsigned blob_flags; /* STORE_BLOB_LZ4 or 0 */
	double attr_timeout, entry_timeout;
	bool writeback;      /* kernel writeback cache: it owns c/mtime of writes */
	bool no_opendir;     /* the kernel opens directories without asking */

	/* [L1] the batch: one long write txn, or a read txn on ro mounts */
	pthread_rwlock_t tree;
	store_txn *txn;         /* [tree] */
	bool txn_dirty;         /* [tree excl] rows changed since begin */
	unsigned op_changes;    /* [tree excl] rows changed by the current op */
	_Atomic int broken;     /* 0, or the error that stopped writes */
	uint64_t ino_hw_used;   /* [tree excl] next inode number to hand out */

	/* [L5] commit thread */
	pthread_mutex_t cmu;
	pthread_cond_t ccv;
	bool cstop, ckick;
	bool cnow; /* commit durably at the next wake-up (freed space waits) */
	bool cthread_started;
	pthread_t cthread;

	/* [L4] inode cache */
	pthread_mutex_t imu;
	struct sfs_inode **htab;
	size_t hsize, hcount;
	struct sfs_inode dirty_head; /* circular list of inodes with buffers */
	struct sfs_inode *reclaim;   /* inodes to reclaim */

	_Atomic uint64_t dirty_bytes; /* chunks buffered (the space they may take) */
	_Atomic uint64_t buf_mem;     /* memory the chunk buffers hold */

	/* [L6] free space figures */
	pthread_mutex_t smu;
	struct sfs_space space;
	_Atomic uint64_t commits, syncs;

	bool mounted;     /* sfs_mount_open() succeeded */
	int unmount_err;  /* result of the unmount done by destroy */
};

/* ---- mounting (fs/mount.c) ----------------------------------------------------------- */

/* Open the image and bring the filesystem up; logs why it cannot. */
int sfs_mount_open(struct sfs *sfs);
/* Flush, reclaim, commit durably, close the image [D7]. */
int sfs_unmount(struct sfs *sfs);

/* ---- helpers ---------------------------------------------------------------- */

static inline struct sfs *sfs_of(fuse_req_t req)
{
	return (struct sfs *)fuse_req_userdata(req);
}

static inline void sfs_now(struct timespec *ts)
{
	clock_gettime(CLOCK_REALTIME, ts);
}

/* The operation table (fs/ops.c). */
extern const struct fuse_lowlevel_ops sfs_ops;

/* handlers exported by the files that own them */
void sfs_op_init(void *userdata, struct fuse_conn_info *conn);
void sfs_op_destroy(void *userdata);
void sfs_op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name);
void sfs_op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev);
void sfs_op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode);
void sfs_op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name);
void sfs_op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname);
void sfs_op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name);
void sfs_op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name);
void sfs_op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		   const char *newname, unsigned int flags);
void sfs_op_readlink(fuse_req_t req, fuse_ino_t ino);
void sfs_op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		   struct fuse_file_info *fi);
void sfs_op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void sfs_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi);
void sfs_op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			struct fuse_file_info *fi);

void sfs_op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void sfs_op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		    struct fuse_file_info *fi);
void sfs_op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup);
void sfs_op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets);
void sfs_op_access(fuse_req_t req, fuse_ino_t ino, int mask);

void sfs_op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void sfs_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		 struct fuse_file_info *fi);
void sfs_op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		  struct fuse_file_info *fi);
void sfs_op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void sfs_op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void sfs_op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);
void sfs_op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);
void sfs_op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
		      struct fuse_file_info *fi);
void sfs_op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
		  struct fuse_file_info *fi);
void sfs_op_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
			    struct fuse_file_info *fi_in, fuse_ino_t ino_out, off_t off_out,
			    struct fuse_file_info *fi_out, size_t len, int flags);

void sfs_op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
		     size_t size, int flags);
void sfs_op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size);
void sfs_op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
void sfs_op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name);

void sfs_op_ioctl(fuse_req_t req, fuse_ino_t ino, unsigned int cmd, void *arg,
		  struct fuse_file_info *fi, unsigned flags, const void *in_buf, size_t in_bufsz,
		  size_t out_bufsz);

#endif /* SLATEFS_SFS_H */
