/*
 * compact.h — online compaction and blob defragmentation of a mounted image.
 *
 * Compaction moves the highest pages and blobs of the image into free space
 * lower down, in short steps that are ordinary changes of the filesystem's
 * open batch, then commits, waits until the freed space may be reused, and
 * truncates the file; it punches holes over large free runs first, so that
 * disk usage falls before anything moves. Blob data is copied outside every
 * lock (store_blob_move_begin/copy/end), so foreground operations wait only
 * for the short row changes of each step.
 *
 * The filesystem lends compaction what it needs through struct compact_host;
 * compaction uses the store only through store/store.h and knows nothing
 * else of the filesystem.
 */
#ifndef SLATEFS_COMPACT_H
#define SLATEFS_COMPACT_H

#include <stdbool.h>
#include <stdint.h>

#include "store.h"

/** What the filesystem lends compaction. */
struct compact_host {
	void *ctx;
	store *s;
	/**
	 * Begin a step: take the filesystem's write lock, reserve room for
	 * `bytes` of changes, and hand out the open write txn. Errors: -ENOSPC
	 * (no room: the step is skipped), -EROFS, -EIO.
	 */
	int (*step_begin)(void *ctx, uint64_t bytes, store_txn **txn);
	/** End a step. err < 0: a change failed half-way (the host stops writes). */
	void (*step_end)(void *ctx, int err);
	/** Commit everything so far and make it durable. */
	int (*sync)(void *ctx);
	/**
	 * Blob ids of one file's chunks, in offset order, into a malloc'ed array
	 * (caller frees). Errors: -ENOENT (no such file), -EISDIR.
	 */
	int (*file_blobs)(void *ctx, uint64_t ino, uint64_t **ids, size_t *n);
	/** Call cb(cbctx, ino) for every regular file that has stored chunks. */
	int (*each_file)(void *ctx, int (*cb)(void *cbctx, uint64_t ino), void *cbctx);
};

/** Settings (mount options). */
struct compact_config {
	bool autocompact;          /**< start passes by itself */
	unsigned threshold_pct;    /**< start when free space >= this % of the image */
	uint64_t min_free;         /**< ... and at least this many bytes are free */
	unsigned hysteresis_pct;   /**< then not again until free grew by this % of
	                                the image beyond what the last pass left */
	uint64_t rate;             /**< bytes moved per second (0 = unlimited) */
	uint64_t punch_min;        /**< punch free runs of at least this many bytes */
	unsigned check_interval_ms;/**< how often the scheduler looks */
};

/** Fill cfg with the defaults (autocompact on, 30 %, 16 MiB, 10 %, 64 MiB/s, 1 MiB). */
void compact_config_default(struct compact_config *cfg);

enum compact_mode {
	COMPACT_PAGES = 1, /**< B+tree and allocator pages */
	COMPACT_BLOBS = 2, /**< blobs (file data), keeping neighbours together */
	COMPACT_ALL = 3,   /**< both, punch and shrink */
};

enum compact_state { COMPACT_IDLE, COMPACT_RUNNING, COMPACT_PAUSED, COMPACT_CANCELLING };
enum compact_phase { COMPACT_PHASE_NONE, COMPACT_PHASE_PUNCH, COMPACT_PHASE_MOVE, COMPACT_PHASE_SHRINK };

/** Progress of the current or last pass, and totals since start. */
struct compact_status {
	enum compact_state state;
	enum compact_phase phase;
	enum compact_mode mode;
	unsigned percent;
	int last_error;
	uint64_t pass;
	uint64_t bytes_to_move, bytes_moved, bytes_reclaimed, bytes_punched;
	uint64_t eta_ms, elapsed_ms, rate, image_size;
	uint64_t passes, passes_cancelled, failures;
	uint64_t total_moved, total_reclaimed, total_ms, last_ms;
	bool autocompact;
};

/** Space figures for monitoring (store stats plus file layout). */
struct compact_measure {
	struct store_stats st;
	uint64_t files, chunks, fragmented_files, runs;
};

struct compact;

/** Start the scheduler thread. */
int compact_start(const struct compact_host *host, const struct compact_config *cfg,
		  struct compact **out);
/** Stop it (cancelling a running pass at its next step) and free it. */
void compact_stop(struct compact *c);

/**
 * Ask for a pass. rate: bytes/s (0 = configured, UINT64_MAX = unlimited);
 * target_size: stop once the image is that small (0 = as small as possible).
 * Errors: -EBUSY (a pass is running).
 */
int compact_request(struct compact *c, enum compact_mode mode, uint64_t rate,
		    uint64_t target_size);
int compact_pause(struct compact *c);  /**< -EALREADY if not running */
int compact_resume(struct compact *c); /**< -EALREADY if not paused */
int compact_cancel(struct compact *c); /**< -EALREADY if idle */
void compact_get_status(struct compact *c, struct compact_status *st);
/** Wait until no pass runs or is queued (for tests and --wait). */
void compact_wait_idle(struct compact *c);

/** Lay one file's chunks out contiguously in offset order (synchronous). */
int compact_defrag_file(struct compact *c, uint64_t ino, uint64_t *chunks,
			uint64_t *runs_before, uint64_t *runs_after, uint64_t *moved);

/** FITRIM: punch free runs of at least min_bytes now, and queue a pass. */
int compact_trim(struct compact *c, uint64_t min_bytes, uint64_t *punched);

/** Figures; with `layout`, also walk every file's chunks (O(files)). */
int compact_measure(struct compact *c, bool layout, struct compact_measure *m);

#endif /* SLATEFS_COMPACT_H */
