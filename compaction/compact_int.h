/*
 * compact_int.h — what the files of compaction/ share: the state of the
 * compactor (struct compact), the pass in progress, and the helpers each file
 * exports to the others. [mu] marks the fields compact.mu protects.
 */
#ifndef SLATEFS_COMPACT_INT_H
#define SLATEFS_COMPACT_INT_H

#include "compact.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

struct compact {
	struct compact_host h;
	struct compact_config cfg;
	pthread_mutex_t mu;
	pthread_cond_t cv;      /* wakes the thread, and waiters for idle */
	pthread_t thread;
	bool stop;              /* [mu] */
	bool requested;         /* [mu] a pass is queued */
	enum compact_mode req_mode;
	uint64_t req_rate, req_target;
	bool pause_req, cancel_req; /* [mu] */
	struct compact_status st;   /* [mu] */
	uint64_t settled_free;  /* free bytes the last pass could not reclaim */
	uint64_t paused_ns;     /* [mu] time the current pass spent paused */
};

/* One pass in progress (owned by the scheduler thread). */
struct pass {
	enum compact_mode mode;
	uint64_t rate;          /* bytes/s, 0 = unlimited */
	uint64_t target;        /* bytes, 0 = none */
	uint64_t t0;            /* ns */
	uint64_t moved;         /* bytes */
	uint64_t page_size;
};

uint64_t compact_now_ns(void);
/* Begin a step reserving `want` bytes, narrowing to less when the image is
 * full; -ENOSPC only if even the smallest step has no room (the caller then
 * stops what it was doing, leaving nothing half-done). */
int compact_step_begin(struct compact *c, uint64_t want, store_txn **txn);
/* Between steps: wait while paused; -ECANCELED if cancelled or stopping. */
int compact_gate(struct compact *c);
/* Account bytes moved, update progress, and sleep to keep to the rate. */
void compact_progress(struct compact *c, struct pass *p, uint64_t bytes);
/* The move phase: relocate the highest pages and blobs until nothing more
 * can go down (or the target size is reached). *moved_any tells if it did. */
int compact_move(struct compact *c, struct pass *p, bool *moved_any);
/* Move blobs ids[0..n) to one run starting at page `run` (UINT64_MAX: the
 * lowest free run that holds them all), in that order:
 * all targets reserved in one step, data copied with no lock (pinned by a
 * read txn), blobs switched in later steps. Returns how many moved. */
int compact_move_blobs(struct compact *c, const uint64_t *ids, size_t n, uint64_t run,
		       uint64_t *bytes);

#endif /* SLATEFS_COMPACT_INT_H */
