/*
 * space.c — how much room is left, for statfs and for the early ENOSPC
 * checks of write and fallocate. Room = free pages inside the image (the
 * store's free_bytes, including space freed by commits not yet durable,
 * which a forced commit makes reusable) + what the file may still grow:
 * the host filesystem's free space, capped by max_size — minus the file
 * data still buffered in memory.
 *
 * A reserve (1 MiB + 1/128 of the filesystem, at most 64 MiB) is kept for
 * operations that free space: copy-on-write needs new pages even to delete,
 * so a full image must still have room for rm (as ext4 keeps blocks for
 * root). Writes, creates and other operations that take space fail with
 * ENOSPC once only the reserve is left.
 *
 * [L6] sfs->smu guards the cached figures; it is a leaf lock. The figures
 * are refreshed at most every 100 ms, or at once when a check would fail.
 */
#include <libgen.h>
#include <stdlib.h>
#include <sys/statvfs.h>

#include "sfs.h"

static uint64_t ms_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Recompute the figures; the tree lock must not be held. */
static int space_compute(struct sfs *sfs, struct sfs_space *sp)
{
	struct store_stats st;
	struct store_table_info ti;
	struct statvfs hv;
	uint64_t host, growth;
	int r = sfs_rd_begin(sfs);

	if (r < 0)
		return r;
	r = store_stats(sfs->txn, &st);
	if (r == 0)
		r = store_table_stat(sfs->txn, sfs->t.inode, &ti);
	sfs_rd_end(sfs);
	if (r < 0)
		return r;
	host = statvfs(sfs->opt.image, &hv) == 0 ? (uint64_t)hv.f_bavail * hv.f_frsize : 0;
	growth = host;
	if (sfs->opt.max_size) {
		uint64_t lim = sfs->opt.max_size > st.file_size ? sfs->opt.max_size - st.file_size : 0;
		if (lim < growth)
			growth = lim;
	}
	sp->avail = st.free_bytes + growth;
	sp->used = st.used_bytes;
	sp->files = ti.entries;
	sp->dirty_at = sfs->dirty_bytes;
	sp->when_ms = ms_now();
	return 0;
}

static uint64_t avail_now(const struct sfs_space *sp, uint64_t dirty)
{
	return sp->avail > dirty ? sp->avail - dirty : 0;
}

static uint64_t reserve(const struct sfs_space *sp)
{
	uint64_t m = (UINT64_C(1) << 20) + (sp->used + sp->avail) / 128;
	return m < (UINT64_C(64) << 20) ? m : (UINT64_C(64) << 20);
}

int sfs_space_check(struct sfs *sfs, uint64_t bytes)
{
	struct sfs_space sp;
	int r = 0;

	pthread_mutex_lock(&sfs->smu);
	sp = sfs->space;
	pthread_mutex_unlock(&sfs->smu);
	if (sp.when_ms && ms_now() - sp.when_ms < 100 &&
	    bytes + reserve(&sp) + sfs->chunk_size <= avail_now(&sp, sfs->dirty_bytes))
		return 0;
	r = space_compute(sfs, &sp);
	if (r < 0)
		return r;
	pthread_mutex_lock(&sfs->smu);
	sfs->space = sp;
	pthread_mutex_unlock(&sfs->smu);
	return bytes + reserve(&sp) <= avail_now(&sp, sfs->dirty_bytes) ? 0 : -ENOSPC;
}

void sfs_op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct sfs *sfs = sfs_of(req);
	struct sfs_space sp;
	struct statvfs v;
	uint64_t bs = store_page_size(sfs->s), avail;
	int r;

	(void)ino;
	r = space_compute(sfs, &sp);
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	pthread_mutex_lock(&sfs->smu);
	sfs->space = sp;
	pthread_mutex_unlock(&sfs->smu);
	avail = avail_now(&sp, sfs->dirty_bytes);
	memset(&v, 0, sizeof(v));
	v.f_bsize = bs;
	v.f_frsize = bs;
	v.f_blocks = (sp.used + sfs->dirty_bytes + avail) / bs;
	v.f_bfree = avail / bs;
	v.f_bavail = avail > reserve(&sp) ? (avail - reserve(&sp)) / bs : 0;
	v.f_ffree = avail / 512;
	v.f_favail = v.f_ffree;
	v.f_files = sp.files + v.f_ffree;
	v.f_namemax = SFS_NAME_MAX;
	v.f_flag = sfs->opt.ro ? ST_RDONLY : 0;
	fuse_reply_statfs(req, &v);
}
