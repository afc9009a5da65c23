/*
 * scheduler.c — the compaction thread: when to run a pass, the pass itself
 * (punch, move, shrink), pause / resume / cancel, rate limiting, progress and
 * metrics.
 *
 * Triggers: a request (slatectl compact, FITRIM), or — with autocompact —
 * free space reaching threshold_pct of the image and at least min_free bytes.
 * Hysteresis: after a pass, the next automatic one waits until free space has
 * grown by hysteresis_pct of the image beyond what that pass could not
 * reclaim, so a settled image is not compacted again and again.
 *
 * A pass:
 *   1. clear move reservations a crash left behind, and commit durably (what
 *      recent deletes freed becomes reusable only then);
 *   2. PUNCH: release the blocks of free runs >= punch_min (disk usage falls
 *      now, before anything moves);
 *   3. MOVE: relocate.c, in rounds: after a round, commit durably so that
 *      what it freed becomes reusable, and go again while rounds make
 *      progress;
 *   4. SHRINK: commit durably, truncate the free tail and punch the free
 *      runs inside (one step, so nothing grows the file after the cut);
 *      retry while old snapshots still hold freed pages (they delay reuse,
 *      never stop the pass: after a while it ends with what it got).
 * Every step is an ordinary change of the filesystem's batch: a crash at any
 * point leaves a consistent image, and the next pass starts from what the
 * image then is.
 */
#include "compact_int.h"

#include <stdio.h>
#include <stdlib.h>

enum { SHRINK_TRIES = 40, SHRINK_WAIT_MS = 250, MAX_ROUNDS = 4 };

void compact_config_default(struct compact_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->autocompact = true;
	cfg->threshold_pct = 30;
	cfg->min_free = 16ull << 20;
	cfg->hysteresis_pct = 10;
	cfg->rate = 64ull << 20;
	cfg->punch_min = 1ull << 20;
	cfg->check_interval_ms = 5000;
}

uint64_t compact_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void deadline_in(struct timespec *ts, uint64_t ns)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	uint64_t t = (uint64_t)ts->tv_nsec + ns;
	ts->tv_sec += (time_t)(t / 1000000000ull);
	ts->tv_nsec = (long)(t % 1000000000ull);
}

int compact_gate(struct compact *c)
{
	int r = 0;
	pthread_mutex_lock(&c->mu);
	uint64_t t0 = 0;
	while (c->pause_req && !c->cancel_req && !c->stop) {
		if (!t0)
			t0 = compact_now_ns();
		c->st.state = COMPACT_PAUSED;
		pthread_cond_broadcast(&c->cv);
		pthread_cond_wait(&c->cv, &c->mu);
	}
	if (t0)
		c->paused_ns += compact_now_ns() - t0; /* not counted against the rate */
	if (c->cancel_req || c->stop) {
		c->st.state = COMPACT_CANCELLING;
		r = -ECANCELED;
	} else {
		c->st.state = COMPACT_RUNNING;
	}
	pthread_mutex_unlock(&c->mu);
	return r;
}

/* Sleep ns, waking early only for pause, cancel or stop (other wake-ups,
 * such as a refused request, do not shorten it). */
static void nap(struct compact *c, uint64_t ns)
{
	struct timespec ts;
	deadline_in(&ts, ns);
	pthread_mutex_lock(&c->mu);
	while (!c->stop && !c->cancel_req && !c->pause_req)
		if (pthread_cond_timedwait(&c->cv, &c->mu, &ts) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&c->mu);
}

void compact_progress(struct compact *c, struct pass *p, uint64_t bytes)
{
	p->moved += bytes;
	pthread_mutex_lock(&c->mu);
	uint64_t now = compact_now_ns(), el = now - p->t0 - c->paused_ns;
	c->st.bytes_moved = p->moved;
	c->st.elapsed_ms = el / 1000000;
	if (c->st.bytes_to_move) {
		uint64_t pct = p->moved * 100 / c->st.bytes_to_move;
		c->st.percent = (unsigned)(pct > 99 ? 99 : pct);
		if (p->moved && p->moved < c->st.bytes_to_move)
			c->st.eta_ms = (uint64_t)((double)el / (double)p->moved *
						  (double)(c->st.bytes_to_move - p->moved) / 1e6);
		else
			c->st.eta_ms = 0;
	}
	pthread_mutex_unlock(&c->mu);
	if (p->rate && p->moved) {
		/* keep the average at or under the rate */
		uint64_t due = (uint64_t)((double)p->moved / (double)p->rate * 1e9);
		if (due > el)
			nap(c, due - el > 1000000000ull ? 1000000000ull : due - el);
	}
}

int compact_step_begin(struct compact *c, uint64_t want, store_txn **txn)
{
	const uint64_t tries[] = {want, 64u << 10, 16u << 10};
	int r = -ENOSPC;
	for (size_t i = 0; i < sizeof(tries) / sizeof(tries[0]) && r == -ENOSPC; i++)
		if (i == 0 || tries[i] < want)
			r = c->h.step_begin(c->h.ctx, tries[i], txn);
	return r;
}

/* One short step running fn(txn, arg). */
static int in_step(struct compact *c, int (*fn)(store_txn *, void *), void *arg)
{
	store_txn *txn;
	int r = compact_step_begin(c, 64u << 10, &txn);
	if (r < 0)
		return r;
	r = fn(txn, arg);
	c->h.step_end(c->h.ctx, r < 0 && r != -ENOSPC && r != -ENOENT ? r : 0);
	return r;
}

struct punch_arg {
	uint64_t min, punched;
};
static int do_punch(store_txn *txn, void *arg)
{
	struct punch_arg *a = arg;
	return store_punch_free(txn, a->min, &a->punched);
}

static int do_clear(store_txn *txn, void *arg)
{
	return store_blob_reservations_clear(txn, arg);
}

struct shrink_arg {
	uint64_t reclaimed, size;
	bool blocked; /* pending pages past the last used one kept the file long */
	uint64_t punch_min, punched; /* punch_min 0: no punching */
};
/* Truncate the free tail, then punch what is free inside: in one step, so
 * that nothing reserves (and grows) the file after the truncation. */
static int do_shrink(store_txn *txn, void *arg)
{
	struct shrink_arg *a = arg;
	int r = store_shrink(txn, &a->reclaimed);
	if (r == 0 && a->punch_min) {
		uint64_t p = 0;
		if (store_punch_free(txn, a->punch_min, &p) == 0)
			a->punched += p;
	}
	struct store_stats st;
	uint64_t top;
	if (r == 0 && store_stats(txn, &st) == 0) {
		a->size = st.file_size;
		if (store_highest_used(txn, &top) == 0)
			a->blocked = st.file_size > (top + 1) * st.page_size;
	}
	return r;
}

static int do_estimate(store_txn *txn, void *arg)
{
	uint64_t *to_move = arg, used, top, n;
	struct store_stats st;
	int r = store_stats(txn, &st);
	if (r < 0)
		return r;
	used = st.used_bytes / st.page_size;
	if (store_highest_used(txn, &top) < 0)
		top = used;
	r = store_count_used(txn, used, top + 1, &n);
	*to_move = r == 0 ? n * st.page_size : 0;
	return 0;
}

static uint64_t image_size(struct compact *c)
{
	store_txn *txn;
	struct store_stats st;
	uint64_t size = 0;
	if (store_txn_begin(c->h.s, STORE_TXN_READ, &txn) == 0) {
		if (store_stats(txn, &st) == 0)
			size = st.file_size;
		store_txn_abort(txn);
	}
	return size;
}

/* SHRINK: commit durably, truncate, and retry while snapshots hold pages. */
static int shrink_phase(struct compact *c, uint64_t punch_min, uint64_t *reclaimed,
			uint64_t *punched)
{
	for (int i = 0; i < SHRINK_TRIES; i++) {
		int r = c->h.sync(c->h.ctx);
		if (r < 0)
			return r;
		struct shrink_arg a = {.punch_min = punch_min};
		r = in_step(c, do_shrink, &a);
		if (r == -ENOSPC)
			return 0; /* no room even for a small step: end with what we have */
		if (r < 0)
			return r;
		*reclaimed += a.reclaimed;
		*punched += a.punched;
		if (!a.blocked)
			return 0; /* the file ends at its last used page */
		/* freed pages at the end wait for an old snapshot (or the commit
		 * just made); pages pending elsewhere do not matter here */
		if (compact_gate(c) < 0)
			return 0;
		nap(c, (uint64_t)SHRINK_WAIT_MS * 1000000ull);
	}
	return 0;
}

static void set_phase(struct compact *c, enum compact_phase ph)
{
	pthread_mutex_lock(&c->mu);
	c->st.phase = ph;
	pthread_mutex_unlock(&c->mu);
}

static int run_pass(struct compact *c, enum compact_mode mode, uint64_t rate, uint64_t target)
{
	struct pass p = {.mode = mode, .rate = rate, .target = target, .t0 = compact_now_ns()};
	p.page_size = store_page_size(c->h.s);
	pthread_mutex_lock(&c->mu);
	c->paused_ns = 0;
	pthread_mutex_unlock(&c->mu);
	uint64_t size0 = image_size(c), dropped = 0, to_move = 0;
	pthread_mutex_lock(&c->mu);
	c->st.pass++;
	c->st.mode = mode;
	c->st.percent = 0;
	c->st.bytes_moved = c->st.bytes_reclaimed = c->st.bytes_punched = 0;
	c->st.bytes_to_move = 0;
	c->st.eta_ms = c->st.elapsed_ms = 0;
	c->st.rate = rate;
	c->st.image_size = size0;
	pthread_mutex_unlock(&c->mu);

	int r = in_step(c, do_clear, &dropped);
	if (r < 0 && r != -ENOSPC)
		return r;
	/* what recent deletes freed becomes reusable once durable */
	r = c->h.sync(c->h.ctx);
	if (r < 0)
		return r;
	struct punch_arg pa = {.min = c->cfg.punch_min};
	if (mode == COMPACT_ALL) {
		set_phase(c, COMPACT_PHASE_PUNCH);
		r = in_step(c, do_punch, &pa);
		if (r < 0 && r != -EOPNOTSUPP && r != -ENOSPC)
			return r;
	}
	r = in_step(c, do_estimate, &to_move);
	if (r < 0 && r != -ENOSPC)
		return r;
	pthread_mutex_lock(&c->mu);
	c->st.bytes_to_move = to_move;
	c->st.bytes_punched = pa.punched;
	pthread_mutex_unlock(&c->mu);

	set_phase(c, COMPACT_PHASE_MOVE);
	bool cancelled = false;
	for (int round = 0; round < MAX_ROUNDS; round++) {
		bool moved_any;
		r = compact_move(c, &p, &moved_any);
		if (r == -ECANCELED) {
			cancelled = true;
			break;
		}
		if (r < 0)
			return r;
		if (!moved_any)
			break;
		/* what the round freed becomes reusable once durable */
		r = c->h.sync(c->h.ctx);
		if (r < 0)
			return r;
	}
	uint64_t reclaimed = 0;
	if (mode == COMPACT_ALL || !cancelled) {
		set_phase(c, COMPACT_PHASE_SHRINK);
		r = shrink_phase(c, mode == COMPACT_ALL ? c->cfg.punch_min : 0, &reclaimed,
				 &pa.punched);
		if (r < 0)
			return r;
	}
	uint64_t size1 = image_size(c);
	pthread_mutex_lock(&c->mu);
	c->st.bytes_reclaimed = size0 > size1 ? size0 - size1 : 0;
	c->st.bytes_punched = pa.punched;
	c->st.image_size = size1;
	c->st.percent = cancelled ? c->st.percent : 100;
	c->st.eta_ms = 0;
	pthread_mutex_unlock(&c->mu);
	return cancelled ? -ECANCELED : 0;
}

/* Should the scheduler start a pass by itself? */
static bool due(struct compact *c)
{
	if (!c->cfg.autocompact)
		return false;
	struct compact_measure m;
	if (compact_measure(c, false, &m) < 0 || !m.st.file_size)
		return false;
	uint64_t free = m.st.free_bytes, size = m.st.file_size;
	if (free * 100 < (uint64_t)c->cfg.threshold_pct * size || free < c->cfg.min_free)
		return false;
	return free >= c->settled_free + (uint64_t)c->cfg.hysteresis_pct * size / 100;
}

static void *thread_main(void *arg)
{
	struct compact *c = arg;
	pthread_mutex_lock(&c->mu);
	while (!c->stop) {
		if (!c->requested) {
			struct timespec ts;
			deadline_in(&ts, (uint64_t)c->cfg.check_interval_ms * 1000000ull);
			pthread_cond_timedwait(&c->cv, &c->mu, &ts);
			if (c->stop)
				break;
		}
		bool req = c->requested;
		enum compact_mode mode = req ? c->req_mode : COMPACT_ALL;
		uint64_t rate = req ? c->req_rate : c->cfg.rate;
		uint64_t target = req ? c->req_target : 0;
		pthread_mutex_unlock(&c->mu);
		bool go = req || due(c);
		pthread_mutex_lock(&c->mu);
		if (!go || c->stop)
			continue;
		c->requested = false;
		c->cancel_req = false;
		c->st.state = COMPACT_RUNNING;
		c->st.phase = COMPACT_PHASE_NONE;
		pthread_mutex_unlock(&c->mu);

		uint64_t t0 = compact_now_ns();
		int r = run_pass(c, mode, rate, target);
		uint64_t ms = (compact_now_ns() - t0) / 1000000;
		struct compact_measure m;
		bool measured = compact_measure(c, false, &m) == 0;

		pthread_mutex_lock(&c->mu);
		if (measured)
			c->settled_free = m.st.free_bytes;
		c->st.state = COMPACT_IDLE;
		c->st.phase = COMPACT_PHASE_NONE;
		c->st.last_ms = ms;
		c->st.total_ms += ms;
		c->st.total_moved += c->st.bytes_moved;
		c->st.total_reclaimed += c->st.bytes_reclaimed;
		if (r == 0) {
			c->st.passes++;
			c->st.last_error = 0;
		} else if (r == -ECANCELED) {
			c->st.passes_cancelled++;
		} else {
			c->st.failures++;
			c->st.last_error = -r;
		}
		c->pause_req = c->cancel_req = false;
		pthread_cond_broadcast(&c->cv);
	}
	c->st.state = COMPACT_IDLE;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

int compact_start(const struct compact_host *host, const struct compact_config *cfg,
		  struct compact **out)
{
	struct compact *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->h = *host;
	if (cfg)
		c->cfg = *cfg;
	else
		compact_config_default(&c->cfg);
	if (!c->cfg.check_interval_ms)
		c->cfg.check_interval_ms = 5000;
	c->st.autocompact = c->cfg.autocompact;
	c->st.rate = c->cfg.rate;
	pthread_mutex_init(&c->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->cv, &ca);
	pthread_condattr_destroy(&ca);
	int r = pthread_create(&c->thread, NULL, thread_main, c);
	if (r != 0) {
		free(c);
		return -r;
	}
	*out = c;
	return 0;
}

void compact_stop(struct compact *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->mu);
	c->stop = true;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
	pthread_join(c->thread, NULL);
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

int compact_request(struct compact *c, enum compact_mode mode, uint64_t rate, uint64_t target_size)
{
	if (mode < COMPACT_PAGES || mode > COMPACT_ALL)
		return -EINVAL;
	int r = 0;
	pthread_mutex_lock(&c->mu);
	if (c->st.state != COMPACT_IDLE || c->requested) {
		r = -EBUSY;
	} else {
		c->requested = true;
		c->req_mode = mode;
		c->req_rate = rate == 0 ? c->cfg.rate : rate == UINT64_MAX ? 0 : rate;
		c->req_target = target_size;
		c->pause_req = c->cancel_req = false;
		pthread_cond_broadcast(&c->cv);
	}
	pthread_mutex_unlock(&c->mu);
	return r;
}

int compact_pause(struct compact *c)
{
	int r = 0;
	pthread_mutex_lock(&c->mu);
	if ((c->st.state != COMPACT_RUNNING && !c->requested) || c->pause_req)
		r = -EALREADY;
	else
		c->pause_req = true;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
	return r;
}

int compact_resume(struct compact *c)
{
	int r = 0;
	pthread_mutex_lock(&c->mu);
	if (!c->pause_req)
		r = -EALREADY;
	c->pause_req = false;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
	return r;
}

int compact_cancel(struct compact *c)
{
	int r = 0;
	pthread_mutex_lock(&c->mu);
	if (c->st.state == COMPACT_IDLE && !c->requested)
		r = -EALREADY;
	c->requested = false;
	c->cancel_req = c->st.state != COMPACT_IDLE;
	c->pause_req = false;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
	return r;
}

void compact_get_status(struct compact *c, struct compact_status *st)
{
	pthread_mutex_lock(&c->mu);
	*st = c->st;
	if (c->requested && st->state == COMPACT_IDLE)
		st->state = COMPACT_RUNNING; /* queued: about to start */
	pthread_mutex_unlock(&c->mu);
}

void compact_wait_idle(struct compact *c)
{
	pthread_mutex_lock(&c->mu);
	while ((c->requested || c->st.state != COMPACT_IDLE) && !c->stop)
		pthread_cond_wait(&c->cv, &c->mu);
	pthread_mutex_unlock(&c->mu);
}

int compact_trim(struct compact *c, uint64_t min_bytes, uint64_t *punched)
{
	struct punch_arg a = {.min = min_bytes > c->cfg.punch_min ? min_bytes : c->cfg.punch_min};
	*punched = 0;
	/* what recent deletes freed can be punched once it is durable */
	int r = c->h.sync(c->h.ctx);
	if (r < 0)
		return r;
	r = in_step(c, do_punch, &a);
	*punched = a.punched;
	if (r < 0)
		return r;
	int q = compact_request(c, COMPACT_ALL, 0, 0);
	return q == -EBUSY ? 0 : q;
}
