/*
 * slatefs_ioctl.h — the control interface of a mounted slatefs (public;
 * installed as <slatefs/slatefs_ioctl.h>, as linux/btrfs.h is for btrfs).
 *
 * Issue the commands on the mount's root directory or on any file of the
 * mount: fd = open(MOUNTPOINT, O_RDONLY | O_DIRECTORY); ioctl(fd, CMD, &arg).
 * FUSE passes ioctls of ordinary mounts "restricted": the kernel copies
 * _IOC_SIZE(cmd) bytes in and/or out according to _IOR/_IOW, so every
 * argument is one fixed-size struct without pointers.
 *
 * Everyone may read (GET_STATS, COMPACT_STATUS); only root or the user who
 * mounted may change anything (others: EPERM). A command whose size does
 * not match this header gets EINVAL; an unknown command ENOTTY. Structs
 * only grow at the end, with `version` telling which fields are filled.
 */
#ifndef SLATEFS_IOCTL_H
#define SLATEFS_IOCTL_H

#include <linux/ioctl.h>
#include <stdint.h>

#define SLATEFS_IOC_MAGIC 0xD5 /* unused in Documentation/.../ioctl-number.rst */
#define SLATEFS_IOCTL_VERSION 1

/** Figures of the image and the filesystem (GET_STATS). Bytes unless said. */
struct slatefs_stats {
	uint32_t version;        /**< SLATEFS_IOCTL_VERSION */
	uint32_t page_size;
	uint64_t image_size;     /**< size of the image file */
	uint64_t disk_bytes;     /**< blocks the image file occupies */
	uint64_t used_bytes;     /**< pages in use (data and metadata) */
	uint64_t free_bytes;     /**< free pages inside the file */
	uint64_t pending_bytes;  /**< free but not yet reusable (old snapshots) */
	uint64_t tail_free_bytes;/**< free after the highest used page */
	uint64_t largest_free_extent;
	uint64_t free_extents;   /**< free runs inside the file */
	uint64_t tree_bytes;     /**< B+tree pages */
	uint64_t blob_count;
	uint64_t blob_logical_bytes; /**< file data as written (before lz4) */
	uint64_t blob_stored_bytes;  /**< file data as stored */
	uint64_t blob_dead_bytes;    /**< freed file data not yet reusable */
	uint64_t files;          /**< regular files with stored chunks */
	uint64_t chunks;         /**< stored chunks */
	uint64_t fragmented_files; /**< files whose chunks are not laid out in order */
	uint64_t txnid;          /**< latest commit */
	uint64_t durable_txnid;  /**< latest durable commit */
	uint64_t readers;        /**< open snapshots */
	uint64_t reserved[12];
};

enum slatefs_compact_mode {
	SLATEFS_COMPACT_PAGES = 1, /**< move B+tree and allocator pages down */
	SLATEFS_COMPACT_BLOBS = 2, /**< move file data down, keeping files in order */
	SLATEFS_COMPACT_ALL = 3,   /**< both, then shrink the file */
};

/** Start a compaction pass (COMPACT). */
struct slatefs_compact_args {
	uint32_t mode;        /**< enum slatefs_compact_mode (0 = ALL) */
	uint32_t flags;       /**< 0 */
	uint64_t rate;        /**< bytes moved per second (0 = mount's compact_rate,
	                           UINT64_MAX = unlimited) */
	uint64_t target_size; /**< stop once the image is this small (0 = as small
	                           as it gets) */
	uint64_t reserved[5];
};

enum slatefs_compact_state {
	SLATEFS_COMPACT_IDLE = 0,
	SLATEFS_COMPACT_RUNNING = 1,
	SLATEFS_COMPACT_PAUSED = 2,
	SLATEFS_COMPACT_CANCELLING = 3,
};

enum slatefs_compact_phase {
	SLATEFS_PHASE_NONE = 0,
	SLATEFS_PHASE_PUNCH = 1,   /**< releasing blocks of free runs */
	SLATEFS_PHASE_MOVE = 2,    /**< moving pages and blobs down */
	SLATEFS_PHASE_SHRINK = 3,  /**< committing and truncating */
};

/** Progress of the current or last pass, and totals (COMPACT_STATUS). */
struct slatefs_compact_status {
	uint32_t version;
	uint32_t state;          /**< enum slatefs_compact_state */
	uint32_t phase;          /**< enum slatefs_compact_phase */
	uint32_t mode;           /**< of the current or last pass */
	uint32_t percent;        /**< 0..100 of the current pass */
	int32_t last_error;      /**< errno of the last failed pass, or 0 */
	uint64_t pass;           /**< number of the current or last pass */
	uint64_t bytes_to_move;  /**< estimate for the current pass */
	uint64_t bytes_moved;
	uint64_t bytes_reclaimed;/**< the image got this much smaller (this pass) */
	uint64_t bytes_punched;  /**< blocks released inside the file (this pass) */
	uint64_t eta_ms;         /**< estimate, 0 if unknown */
	uint64_t elapsed_ms;
	uint64_t rate;           /**< bytes per second limit in force */
	uint64_t image_size;     /**< now */
	uint64_t passes;         /**< completed passes since mount */
	uint64_t passes_cancelled;
	uint64_t failures;
	uint64_t total_moved;
	uint64_t total_reclaimed;
	uint64_t total_ms;       /**< time spent in passes */
	uint64_t last_ms;        /**< duration of the last pass */
	uint64_t autocompact;    /**< 1 if the background scheduler is on */
	uint64_t reserved[9];
};

/** Lay one file's data out contiguously, in offset order (DEFRAG, on the file). */
struct slatefs_defrag_args {
	uint64_t flags;          /**< in: 0 */
	uint64_t chunks;         /**< out: chunks of the file */
	uint64_t runs_before;    /**< out: contiguous runs before */
	uint64_t runs_after;     /**< out: after */
	uint64_t bytes_moved;    /**< out */
	uint64_t reserved[3];
};

/** Write a consistent copy of the mounted image to a new file (BACKUP). */
enum { SLATEFS_BACKUP_COMPACT = 1 }; /**< only live data: as small as a compaction */
struct slatefs_backup_args {
	uint32_t flags;          /**< SLATEFS_BACKUP_* */
	uint32_t reserved0;
	uint64_t reserved[3];
	char dest[4064];         /**< absolute path of the new file, NUL-terminated;
	                              written as NAME.partial-PID, renamed when done */
};

enum slatefs_backup_state { SLATEFS_BACKUP_IDLE = 0, SLATEFS_BACKUP_RUNNING = 1 };

/** Progress of the current or last backup (BACKUP_STATUS). */
struct slatefs_backup_status {
	uint32_t version;
	uint32_t state;          /**< enum slatefs_backup_state */
	int32_t last_error;      /**< errno of the last backup, 0 if it succeeded */
	uint32_t flags;          /**< of the current or last backup */
	uint64_t done;           /**< bytes copied */
	uint64_t total;          /**< bytes to copy (estimate) */
	uint64_t elapsed_ms;
	uint64_t txnid;          /**< the commit the copy holds */
	uint64_t backups;        /**< completed since mount */
	uint64_t reserved[9];
};

#define SLATEFS_IOC_GET_STATS _IOR(SLATEFS_IOC_MAGIC, 1, struct slatefs_stats)
#define SLATEFS_IOC_COMPACT _IOW(SLATEFS_IOC_MAGIC, 2, struct slatefs_compact_args)
#define SLATEFS_IOC_COMPACT_STATUS _IOR(SLATEFS_IOC_MAGIC, 3, struct slatefs_compact_status)
#define SLATEFS_IOC_COMPACT_PAUSE _IO(SLATEFS_IOC_MAGIC, 4)
#define SLATEFS_IOC_COMPACT_RESUME _IO(SLATEFS_IOC_MAGIC, 5)
#define SLATEFS_IOC_COMPACT_CANCEL _IO(SLATEFS_IOC_MAGIC, 6)
#define SLATEFS_IOC_DEFRAG _IOWR(SLATEFS_IOC_MAGIC, 7, struct slatefs_defrag_args)
#define SLATEFS_IOC_SYNC _IO(SLATEFS_IOC_MAGIC, 8) /**< commit now, durably */
#define SLATEFS_IOC_BACKUP _IOW(SLATEFS_IOC_MAGIC, 9, struct slatefs_backup_args)
#define SLATEFS_IOC_BACKUP_STATUS _IOR(SLATEFS_IOC_MAGIC, 10, struct slatefs_backup_status)

#endif /* SLATEFS_IOCTL_H */
