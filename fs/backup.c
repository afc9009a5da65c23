/*
 * backup.c — online backup of the mounted image: a thread that commits the
 * batch, takes a read txn on that commit and copies it to a new file with
 * store_backup() (physical, or compact), while the filesystem stays in use.
 * One backup at a time; unmount stops a running one (the copy is removed).
 * State [protected by bk_mu].
 */
#include <stdlib.h>
#include <syslog.h>
#include <time.h>

#include "control.h"
#include "sfs.h"
#include "slatefs_ioctl.h"

static pthread_mutex_t bk_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_t bk_thread;
static bool bk_running, bk_joinable, bk_stop;
static struct slatefs_backup_status bk_st;
static char bk_dest[sizeof(((struct slatefs_backup_args *)0)->dest)];
static uint64_t bk_t0;

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int on_progress(void *ctx, uint64_t done, uint64_t total)
{
	(void)ctx;
	pthread_mutex_lock(&bk_mu);
	bk_st.done = done;
	bk_st.total = total;
	bk_st.elapsed_ms = now_ms() - bk_t0;
	bool stop = bk_stop;
	pthread_mutex_unlock(&bk_mu);
	return stop;
}

static void *run(void *arg)
{
	struct sfs *sfs = arg;
	store_txn *snap = NULL;
	/* everything written so far, committed; then hold that commit */
	int r = sfs_batch_sync_all(sfs);
	if (r == 0)
		r = store_txn_begin(sfs->s, STORE_TXN_READ, &snap);
	if (r == 0) {
		pthread_mutex_lock(&bk_mu);
		bk_st.txnid = store_txn_id(snap);
		pthread_mutex_unlock(&bk_mu);
		r = store_backup(snap, bk_dest,
				 (bk_st.flags & SLATEFS_BACKUP_COMPACT) ? STORE_BACKUP_COMPACT : 0,
				 on_progress, NULL);
		store_txn_abort(snap);
	}
	if (r == 0)
		sfs_log(LOG_INFO, "backup of commit %llu written to %s",
			(unsigned long long)bk_st.txnid, bk_dest);
	else
		sfs_log(LOG_ERR, "backup to %s failed: %s", bk_dest, strerror(-r));
	pthread_mutex_lock(&bk_mu);
	bk_st.state = SLATEFS_BACKUP_IDLE;
	bk_st.last_error = -r;
	bk_st.elapsed_ms = now_ms() - bk_t0;
	if (r == 0)
		bk_st.backups++;
	bk_running = false;
	pthread_mutex_unlock(&bk_mu);
	return NULL;
}

int sfs_backup_start(struct sfs *sfs, const struct slatefs_backup_args *a)
{
	if (a->flags & ~(uint32_t)SLATEFS_BACKUP_COMPACT)
		return -EINVAL;
	if (!memchr(a->dest, 0, sizeof(a->dest)) || a->dest[0] != '/')
		return -EINVAL; /* an absolute path, terminated */
	pthread_mutex_lock(&bk_mu);
	if (bk_running) {
		pthread_mutex_unlock(&bk_mu);
		return -EBUSY;
	}
	if (bk_joinable) {
		pthread_join(bk_thread, NULL);
		bk_joinable = false;
	}
	strcpy(bk_dest, a->dest);
	uint64_t backups = bk_st.backups;
	memset(&bk_st, 0, sizeof(bk_st));
	bk_st.version = SLATEFS_IOCTL_VERSION;
	bk_st.state = SLATEFS_BACKUP_RUNNING;
	bk_st.flags = a->flags;
	bk_st.backups = backups;
	bk_stop = false;
	bk_t0 = now_ms();
	int r = pthread_create(&bk_thread, NULL, run, sfs);
	if (r == 0) {
		bk_running = bk_joinable = true;
	} else {
		bk_st.state = SLATEFS_BACKUP_IDLE;
		r = -r;
	}
	pthread_mutex_unlock(&bk_mu);
	return r;
}

void sfs_backup_status(struct slatefs_backup_status *st)
{
	pthread_mutex_lock(&bk_mu);
	*st = bk_st;
	st->version = SLATEFS_IOCTL_VERSION;
	if (bk_running)
		st->elapsed_ms = now_ms() - bk_t0;
	pthread_mutex_unlock(&bk_mu);
}

void sfs_backup_stop(void)
{
	pthread_mutex_lock(&bk_mu);
	bk_stop = true;
	bool join = bk_joinable;
	bk_joinable = false;
	pthread_mutex_unlock(&bk_mu);
	if (join)
		pthread_join(bk_thread, NULL);
}
