/*
 * slatectl.c — the control tool of a mounted slatefs: figures, compaction
 * (start, watch, pause, resume, cancel), defragmenting files, and a durable
 * sync, through the ioctls of fs/slatefs_ioctl.h. Human output by default,
 * --json for machines; a progress bar on a terminal while a pass runs.
 *
 *   slatectl [--json] stats   [PATH]
 *   slatectl [--json] compact [--wait] [--rate R] [--mode pages|blobs|all]
 *                             [--target SIZE] [PATH]
 *   slatectl [--json] status  [--watch] [PATH]
 *   slatectl pause|resume|cancel|sync [PATH]
 *   slatectl [--json] defrag FILE...
 *   slatectl [--json] backup [--compact] [--force] MOUNTPOINT DEST
 * PATH is the mountpoint or any file on the mount (default: .).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libgen.h>
#include <limits.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "slatefs_ioctl.h"

#define FUSE_SUPER_MAGIC 0x65735546

static bool json;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: slatectl [--json] COMMAND [OPTIONS] [PATH]\n"
		"commands:\n"
		"  stats                 space figures of the mounted image\n"
		"  compact [--wait] [--rate R] [--mode pages|blobs|all] [--target SIZE]\n"
		"                        start a compaction pass (R in MB/s, or 'unlimited')\n"
		"  status [--watch]      progress of the current or last pass\n"
		"  pause | resume | cancel\n"
		"                        control the running pass\n"
		"  defrag FILE...        lay each file's data out in order\n"
		"  sync                  commit everything, durably\n"
		"  backup [--compact] [--force] MOUNTPOINT DEST\n"
		"                        write a consistent copy of the mounted image to DEST\n"
		"  inspect IMAGE [--svg FILE]\n"
		"                        a picture of an unmounted image or a backup\n"
		"                        write a consistent copy of the mounted image to DEST\n"
		"PATH: the mountpoint or any file on it (default: the current directory)\n");
}

static const char *human(uint64_t b, char *buf, size_t len)
{
	const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
	double v = (double)b;
	int i = 0;
	while (v >= 1024 && i < 5) {
		v /= 1024;
		i++;
	}
	snprintf(buf, len, i ? "%.1f %s" : "%.0f %s", v, u[i]);
	return buf;
}

/* Open path on a slatefs mount, or say clearly why not. */
static int open_mount(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		fprintf(stderr, "slatectl: %s: %s\n", path, strerror(errno));
		return -1;
	}
	struct statfs sf;
	if (fstatfs(fd, &sf) == 0 && sf.f_type != FUSE_SUPER_MAGIC) {
		fprintf(stderr, "slatectl: %s is not on a slatefs mount\n", path);
		close(fd);
		return -1;
	}
	return fd;
}

/* An ioctl's error, spelled out for what a user can do about it. */
static void report(const char *path, int e)
{
	switch (e) {
	case ENOTTY:
	case ENOSYS:
		fprintf(stderr, "slatectl: %s is not on a slatefs mount\n", path);
		break;
	case EPERM:
		fprintf(stderr, "slatectl: %s: only root or the user who mounted may do this\n",
			path);
		break;
	case EINVAL:
		fprintf(stderr,
			"slatectl: %s: the mounted slatefs does not understand this request "
			"(another version?)\n",
			path);
		break;
	case EROFS:
		fprintf(stderr, "slatectl: %s: mounted read-only\n", path);
		break;
	default:
		fprintf(stderr, "slatectl: %s: %s\n", path, strerror(e));
	}
}

static int ctl(int fd, const char *path, unsigned long cmd, void *arg)
{
	if (ioctl(fd, cmd, arg) == 0)
		return 0;
	int e = errno;
	report(path, e);
	errno = e;
	return -1;
}

static int cmd_stats(const char *path)
{
	int fd = open_mount(path);
	if (fd < 0)
		return 1;
	struct slatefs_stats s;
	memset(&s, 0, sizeof(s));
	int r = ctl(fd, path, SLATEFS_IOC_GET_STATS, &s);
	close(fd);
	if (r < 0)
		return 1;
	if (json) {
		printf("{\"image_size\":%" PRIu64 ",\"disk_bytes\":%" PRIu64
		       ",\"used_bytes\":%" PRIu64 ",\"free_bytes\":%" PRIu64
		       ",\"pending_bytes\":%" PRIu64 ",\"tail_free_bytes\":%" PRIu64
		       ",\"largest_free_extent\":%" PRIu64 ",\"free_extents\":%" PRIu64
		       ",\"tree_bytes\":%" PRIu64 ",\"blob_count\":%" PRIu64
		       ",\"blob_logical_bytes\":%" PRIu64 ",\"blob_stored_bytes\":%" PRIu64
		       ",\"blob_dead_bytes\":%" PRIu64 ",\"files\":%" PRIu64 ",\"chunks\":%" PRIu64
		       ",\"fragmented_files\":%" PRIu64 ",\"page_size\":%u,\"txnid\":%" PRIu64
		       ",\"durable_txnid\":%" PRIu64 ",\"readers\":%" PRIu64 "}\n",
		       s.image_size, s.disk_bytes, s.used_bytes, s.free_bytes, s.pending_bytes,
		       s.tail_free_bytes, s.largest_free_extent, s.free_extents, s.tree_bytes,
		       s.blob_count, s.blob_logical_bytes, s.blob_stored_bytes, s.blob_dead_bytes,
		       s.files, s.chunks, s.fragmented_files, s.page_size, s.txnid,
		       s.durable_txnid, s.readers);
		return 0;
	}
	char a[32], b[32];
	double pct = s.image_size ? 100.0 * (double)s.free_bytes / (double)s.image_size : 0;
	printf("image size        %s (%s on disk)\n", human(s.image_size, a, sizeof a),
	       human(s.disk_bytes, b, sizeof b));
	printf("used              %s\n", human(s.used_bytes, a, sizeof a));
	printf("free              %s (%.1f%%), %s not yet reusable\n",
	       human(s.free_bytes, a, sizeof a), pct, human(s.pending_bytes, b, sizeof b));
	printf("free at the end   %s\n", human(s.tail_free_bytes, a, sizeof a));
	printf("free runs         %" PRIu64 ", largest %s\n", s.free_extents,
	       human(s.largest_free_extent, a, sizeof a));
	printf("metadata          %s in B+tree pages\n", human(s.tree_bytes, a, sizeof a));
	printf("file data         %s stored for %s written, %" PRIu64 " blobs\n",
	       human(s.blob_stored_bytes, a, sizeof a), human(s.blob_logical_bytes, b, sizeof b),
	       s.blob_count);
	printf("dead file data    %s (freed, awaiting reuse)\n",
	       human(s.blob_dead_bytes, a, sizeof a));
	printf("files with data   %" PRIu64 ", %" PRIu64 " chunks (%.1f per file), %" PRIu64
	       " not in order\n",
	       s.files, s.chunks, s.files ? (double)s.chunks / (double)s.files : 0.0,
	       s.fragmented_files);
	printf("commits           %" PRIu64 " (durable: %" PRIu64 "), %" PRIu64 " open snapshots\n",
	       s.txnid, s.durable_txnid, s.readers);
	return 0;
}

static const char *state_name(uint32_t st)
{
	switch (st) {
	case SLATEFS_COMPACT_RUNNING:
		return "running";
	case SLATEFS_COMPACT_PAUSED:
		return "paused";
	case SLATEFS_COMPACT_CANCELLING:
		return "cancelling";
	default:
		return "idle";
	}
}

static const char *phase_name(uint32_t ph)
{
	switch (ph) {
	case SLATEFS_PHASE_PUNCH:
		return "punching free space";
	case SLATEFS_PHASE_MOVE:
		return "moving";
	case SLATEFS_PHASE_SHRINK:
		return "shrinking";
	default:
		return "";
	}
}

static const char *mode_name(uint32_t m)
{
	return m == SLATEFS_COMPACT_PAGES ? "pages" : m == SLATEFS_COMPACT_BLOBS ? "blobs" : "all";
}

static void print_status_json(const struct slatefs_compact_status *s)
{
	printf("{\"state\":\"%s\",\"phase\":\"%s\",\"mode\":\"%s\",\"percent\":%u,\"pass\":%" PRIu64
	       ",\"bytes_to_move\":%" PRIu64 ",\"bytes_moved\":%" PRIu64
	       ",\"bytes_reclaimed\":%" PRIu64 ",\"bytes_punched\":%" PRIu64 ",\"eta_ms\":%" PRIu64
	       ",\"elapsed_ms\":%" PRIu64 ",\"rate\":%" PRIu64 ",\"image_size\":%" PRIu64
	       ",\"passes\":%" PRIu64 ",\"passes_cancelled\":%" PRIu64 ",\"failures\":%" PRIu64
	       ",\"last_error\":%d,\"total_moved\":%" PRIu64 ",\"total_reclaimed\":%" PRIu64
	       ",\"total_ms\":%" PRIu64 ",\"last_ms\":%" PRIu64 ",\"autocompact\":%s}\n",
	       state_name(s->state), phase_name(s->phase), mode_name(s->mode), s->percent,
	       s->pass, s->bytes_to_move, s->bytes_moved, s->bytes_reclaimed, s->bytes_punched,
	       s->eta_ms, s->elapsed_ms, s->rate, s->image_size, s->passes, s->passes_cancelled,
	       s->failures, s->last_error, s->total_moved, s->total_reclaimed, s->total_ms,
	       s->last_ms, s->autocompact ? "true" : "false");
}

static void print_status(const struct slatefs_compact_status *s)
{
	char a[32], b[32], c[32];
	printf("state             %s%s%s\n", state_name(s->state), s->phase ? ", " : "",
	       phase_name(s->phase));
	if (s->pass) {
		printf("pass %-12" PRIu64 " mode %s, %u%%, moved %s of ~%s, reclaimed %s, punched %s\n",
		       s->pass, mode_name(s->mode), s->percent, human(s->bytes_moved, a, sizeof a),
		       human(s->bytes_to_move, b, sizeof b), human(s->bytes_reclaimed, c, sizeof c),
		       human(s->bytes_punched, a, sizeof a));
		printf("time              %.1f s elapsed%s", (double)s->elapsed_ms / 1000,
		       s->eta_ms ? ", " : "\n");
		if (s->eta_ms)
			printf("about %.0f s left\n", (double)s->eta_ms / 1000);
	}
	printf("rate limit        %s/s%s\n", s->rate ? human(s->rate, a, sizeof a) : "unlimited",
	       s->autocompact ? ", autocompact on" : ", autocompact off");
	printf("image size        %s\n", human(s->image_size, a, sizeof a));
	printf("since mount       %" PRIu64 " passes (%" PRIu64 " cancelled, %" PRIu64
	       " failed), %s moved, %s reclaimed, %.1f s average\n",
	       s->passes, s->passes_cancelled, s->failures, human(s->total_moved, a, sizeof a),
	       human(s->total_reclaimed, b, sizeof b),
	       s->passes ? (double)s->total_ms / 1000 / (double)s->passes : 0.0);
	if (s->last_error)
		printf("last failure      %s\n", strerror(s->last_error));
}

static void progress_bar(const struct slatefs_compact_status *s)
{
	char a[32], b[32];
	int width = 30, fill = (int)(s->percent * (unsigned)width / 100);
	fprintf(stderr, "\r[%.*s%*s] %3u%% %-20s %s moved, %s reclaimed   ", fill,
		"##############################", width - fill, "", s->percent, phase_name(s->phase),
		human(s->bytes_moved, a, sizeof a), human(s->bytes_reclaimed, b, sizeof b));
	fflush(stderr);
}

static int get_status(int fd, const char *path, struct slatefs_compact_status *s)
{
	memset(s, 0, sizeof(*s));
	return ctl(fd, path, SLATEFS_IOC_COMPACT_STATUS, s);
}

/* Wait for the pass numbered after `before` to end; a bar on a terminal. */
static int watch(int fd, const char *path, uint64_t before, bool bar)
{
	struct slatefs_compact_status s;
	for (;;) {
		if (get_status(fd, path, &s) < 0)
			return 1;
		bool done = s.state == SLATEFS_COMPACT_IDLE && s.pass > before;
		if (bar)
			progress_bar(&s);
		if (done || (s.state == SLATEFS_COMPACT_IDLE && before == UINT64_MAX))
			break;
		struct timespec ts = {0, 200 * 1000000L};
		nanosleep(&ts, NULL);
	}
	if (bar)
		fputc('\n', stderr);
	if (json)
		print_status_json(&s);
	else
		print_status(&s);
	return s.last_error && s.passes == 0 ? 1 : 0;
}

static int parse_rate(const char *v, uint64_t *out)
{
	if (strcmp(v, "unlimited") == 0 || strcmp(v, "0") == 0) {
		*out = UINT64_MAX;
		return 0;
	}
	char *end;
	double x = strtod(v, &end);
	if (end == v || x <= 0 || (*end && strcmp(end, "M") != 0 && strcmp(end, "MB") != 0))
		return -1;
	*out = (uint64_t)(x * 1048576.0);
	return 0;
}

static int parse_size(const char *v, uint64_t *out)
{
	char *end;
	double x = strtod(v, &end);
	if (end == v || x < 0)
		return -1;
	double mul = 1;
	switch (*end) {
	case 'k': case 'K': mul = 1024.0; end++; break;
	case 'm': case 'M': mul = 1048576.0; end++; break;
	case 'g': case 'G': mul = 1073741824.0; end++; break;
	case 't': case 'T': mul = 1099511627776.0; end++; break;
	}
	if (*end == 'i' && end[1] == 'B')
		end += 2;
	else if (*end == 'B')
		end++;
	if (*end)
		return -1;
	*out = (uint64_t)(x * mul);
	return 0;
}

static int cmd_compact(int argc, char **argv)
{
	static const struct option lo[] = {{"wait", no_argument, 0, 'w'},
					   {"rate", required_argument, 0, 'r'},
					   {"mode", required_argument, 0, 'm'},
					   {"target", required_argument, 0, 't'},
					   {0, 0, 0, 0}};
	struct slatefs_compact_args a;
	memset(&a, 0, sizeof(a));
	a.mode = SLATEFS_COMPACT_ALL;
	bool wait = false;
	int o;
	optind = 1;
	while ((o = getopt_long(argc, argv, "wr:m:t:", lo, NULL)) != -1) {
		switch (o) {
		case 'w':
			wait = true;
			break;
		case 'r':
			if (parse_rate(optarg, &a.rate) < 0) {
				fprintf(stderr, "slatectl: --rate %s: give MB/s, or 'unlimited'\n",
					optarg);
				return 2;
			}
			break;
		case 'm':
			if (strcmp(optarg, "pages") == 0)
				a.mode = SLATEFS_COMPACT_PAGES;
			else if (strcmp(optarg, "blobs") == 0)
				a.mode = SLATEFS_COMPACT_BLOBS;
			else if (strcmp(optarg, "all") == 0)
				a.mode = SLATEFS_COMPACT_ALL;
			else {
				fprintf(stderr, "slatectl: --mode %s: pages, blobs or all\n", optarg);
				return 2;
			}
			break;
		case 't':
			if (parse_size(optarg, &a.target_size) < 0) {
				fprintf(stderr, "slatectl: --target %s: a size such as 10G\n", optarg);
				return 2;
			}
			break;
		default:
			usage(stderr);
			return 2;
		}
	}
	const char *path = optind < argc ? argv[optind] : ".";
	int fd = open_mount(path);
	if (fd < 0)
		return 1;
	struct slatefs_compact_status before;
	if (get_status(fd, path, &before) < 0) {
		close(fd);
		return 1;
	}
	if (ctl(fd, path, SLATEFS_IOC_COMPACT, &a) < 0) {
		if (errno == EBUSY)
			fprintf(stderr, "slatectl: a pass is already running (slatectl status)\n");
		close(fd);
		return 1;
	}
	int r = 0;
	if (wait)
		r = watch(fd, path, before.pass, isatty(2) && !json);
	else if (!json)
		printf("compaction pass started (slatectl status shows its progress)\n");
	else
		printf("{\"started\":true}\n");
	close(fd);
	return r;
}

static int cmd_status(int argc, char **argv)
{
	bool w = false;
	int i = 1;
	if (i < argc && strcmp(argv[i], "--watch") == 0) {
		w = true;
		i++;
	}
	const char *path = i < argc ? argv[i] : ".";
	int fd = open_mount(path);
	if (fd < 0)
		return 1;
	struct slatefs_compact_status s;
	int r = get_status(fd, path, &s);
	if (r == 0 && s.state != SLATEFS_COMPACT_IDLE && (w || (isatty(2) && !json)))
		r = watch(fd, path, s.pass - 1, isatty(2) && !json);
	else if (r == 0)
		json ? print_status_json(&s) : print_status(&s);
	close(fd);
	return r ? 1 : 0;
}

static int cmd_simple(const char *name, unsigned long cmd, int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : ".";
	int fd = open_mount(path);
	if (fd < 0)
		return 1;
	/* sync: the kernel's cached writes first, then the daemon's commit */
	if (cmd == SLATEFS_IOC_SYNC && syncfs(fd) < 0)
		fprintf(stderr, "slatectl: %s: syncfs: %s\n", path, strerror(errno));
	int r = ctl(fd, path, cmd, NULL);
	int e = errno;
	close(fd);
	if (r < 0) {
		(void)e;
		return 1;
	}
	if (json)
		printf("{\"%s\":true}\n", name);
	return 0;
}

static int cmd_defrag(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "slatectl: defrag: name the files\n");
		return 2;
	}
	int rc = 0;
	if (json)
		printf("[");
	for (int i = 1; i < argc; i++) {
		int fd = open_mount(argv[i]);
		if (fd < 0) {
			rc = 1;
			continue;
		}
		struct slatefs_defrag_args a;
		memset(&a, 0, sizeof(a));
		if (ioctl(fd, SLATEFS_IOC_DEFRAG, &a) < 0) {
			if (errno == ENOSPC)
				fprintf(stderr, "slatectl: %s: no room to lay it out in order (the "
						"image is at max_size or the disk is full)\n",
					argv[i]);
			else
				report(argv[i], errno);
			rc = 1;
		} else if (json) {
			printf("%s{\"file\":\"%s\",\"chunks\":%" PRIu64 ",\"runs_before\":%" PRIu64
			       ",\"runs_after\":%" PRIu64 ",\"bytes_moved\":%" PRIu64 "}",
			       i > 1 ? "," : "", argv[i], a.chunks, a.runs_before, a.runs_after,
			       a.bytes_moved);
		} else {
			char b[32];
			printf("%s: %" PRIu64 " chunks, %" PRIu64 " -> %" PRIu64 " runs, %s moved\n",
			       argv[i], a.chunks, a.runs_before, a.runs_after,
			       human(a.bytes_moved, b, sizeof b));
		}
		close(fd);
	}
	if (json)
		printf("]\n");
	return rc;
}

static void backup_bar(const struct slatefs_backup_status *b)
{
	char x[32], y[32];
	unsigned pct = b->total ? (unsigned)(b->done * 100 / b->total) : 0;
	if (pct > 100)
		pct = 100;
	int width = 30, fill = (int)(pct * (unsigned)width / 100);
	fprintf(stderr, "\r[%.*s%*s] %3u%% %s of %s   ", fill, "##############################",
		width - fill, "", pct, human(b->done, x, sizeof x), human(b->total, y, sizeof y));
	fflush(stderr);
}

static int cmd_backup(int argc, char **argv)
{
	bool compact = false, force = false;
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--compact") == 0)
			compact = true;
		else if (strcmp(argv[i], "--force") == 0)
			force = true;
		else {
			fprintf(stderr, "slatectl: backup: unknown option %s\n", argv[i]);
			return 2;
		}
	}
	if (argc - i != 2) {
		fprintf(stderr, "usage: slatectl backup [--compact] [--force] MOUNTPOINT DEST\n");
		return 2;
	}
	const char *mnt = argv[i], *dest = argv[i + 1];
	struct slatefs_backup_args a;
	memset(&a, 0, sizeof(a));
	a.flags = compact ? SLATEFS_BACKUP_COMPACT : 0;
	/* the daemon writes the file: give it an absolute path */
	char d1[PATH_MAX], d2[PATH_MAX], dir[PATH_MAX];
	snprintf(d1, sizeof d1, "%s", dest);
	snprintf(d2, sizeof d2, "%s", dest);
	if (!realpath(dirname(d1), dir)) {
		fprintf(stderr, "slatectl: %s: %s\n", dest, strerror(errno));
		return 1;
	}
	const char *base = basename(d2);
	if ((size_t)snprintf(a.dest, sizeof a.dest, "%s/%s", dir, base) >= sizeof a.dest) {
		fprintf(stderr, "slatectl: %s: path too long\n", dest);
		return 1;
	}
	struct stat st;
	if (!force && stat(a.dest, &st) == 0) {
		fprintf(stderr, "slatectl: %s exists (--force replaces it)\n", dest);
		return 1;
	}
	int fd = open_mount(mnt);
	if (fd < 0)
		return 1;
	struct slatefs_backup_status b0, b;
	memset(&b0, 0, sizeof b0);
	if (ctl(fd, mnt, SLATEFS_IOC_BACKUP_STATUS, &b0) < 0) {
		close(fd);
		return 1;
	}
	if (syncfs(fd) < 0) /* what the kernel caches goes into the copy too */
		fprintf(stderr, "slatectl: %s: syncfs: %s\n", mnt, strerror(errno));
	if (ctl(fd, mnt, SLATEFS_IOC_BACKUP, &a) < 0) {
		if (errno == EBUSY)
			fprintf(stderr, "slatectl: a backup is already running on %s\n", mnt);
		close(fd);
		return 1;
	}
	bool bar = isatty(2) && !json;
	for (;;) {
		memset(&b, 0, sizeof b);
		if (ctl(fd, mnt, SLATEFS_IOC_BACKUP_STATUS, &b) < 0) {
			close(fd);
			return 1;
		}
		if (bar)
			backup_bar(&b);
		if (b.state == SLATEFS_BACKUP_IDLE)
			break;
		struct timespec ts = {0, 200 * 1000000L};
		nanosleep(&ts, NULL);
	}
	close(fd);
	if (bar)
		fputc('\n', stderr);
	if (b.backups == b0.backups) {
		int e = b.last_error ? b.last_error : EIO;
		if (e == ENOSPC || e == EDQUOT)
			fprintf(stderr, "slatectl: backup failed: the destination is full (%s); no "
					"file was left at %s\n",
				strerror(e), dest);
		else
			fprintf(stderr, "slatectl: backup to %s failed: %s\n", dest, strerror(e));
		return 1;
	}
	struct stat out;
	uint64_t size = 0, disk = 0;
	if (stat(a.dest, &out) == 0) {
		size = (uint64_t)out.st_size;
		disk = (uint64_t)out.st_blocks * 512;
	}
	if (json) {
		printf("{\"dest\":\"%s\",\"compact\":%s,\"txnid\":%" PRIu64 ",\"size\":%" PRIu64
		       ",\"disk_bytes\":%" PRIu64 ",\"bytes_copied\":%" PRIu64 ",\"ms\":%" PRIu64 "}\n",
		       a.dest, compact ? "true" : "false", b.txnid, size, disk, b.done, b.elapsed_ms);
	} else {
		char x[32], y[32];
		printf("backup of commit %" PRIu64 " written to %s: %s (%s on disk) in %.1f s\n",
		       b.txnid, a.dest, human(size, x, sizeof x), human(disk, y, sizeof y),
		       (double)b.elapsed_ms / 1000);
	}
	return 0;
}

/* inspect is its own program (slatefs-inspect), found beside slatectl or in PATH */
static int cmd_inspect(int argc, char **argv)
{
	char self[PATH_MAX], prog[PATH_MAX + 32];
	char **av = calloc((size_t)argc + 2, sizeof(*av));
	if (!av)
		return 1;
	int k = 0;
	av[k++] = "slatefs-inspect";
	if (json)
		av[k++] = "--json";
	for (int i = 1; i < argc; i++)
		av[k++] = argv[i];
	av[k] = NULL;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = 0;
		snprintf(prog, sizeof prog, "%s/slatefs-inspect", dirname(self));
		execv(prog, av);
	}
	execvp("slatefs-inspect", av);
	fprintf(stderr, "slatectl: cannot run slatefs-inspect: %s\n", strerror(errno));
	free(av);
	return 1;
}

int main(int argc, char **argv)
{
	int i = 1;
	while (i < argc && argv[i][0] == '-') {
		if (strcmp(argv[i], "--json") == 0) {
			json = true;
		} else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(argv[i], "--version") == 0) {
			printf("slatectl %s\n", SLATEFS_VERSION);
			return 0;
		} else {
			fprintf(stderr, "slatectl: unknown option %s\n", argv[i]);
			usage(stderr);
			return 2;
		}
		i++;
	}
	if (i >= argc) {
		usage(stderr);
		return 2;
	}
	const char *cmd = argv[i];
	int sub_argc = argc - i;
	char **sub_argv = argv + i;
	if (strcmp(cmd, "stats") == 0)
		return cmd_stats(sub_argc > 1 ? sub_argv[1] : ".");
	if (strcmp(cmd, "compact") == 0)
		return cmd_compact(sub_argc, sub_argv);
	if (strcmp(cmd, "status") == 0)
		return cmd_status(sub_argc, sub_argv);
	if (strcmp(cmd, "pause") == 0)
		return cmd_simple("paused", SLATEFS_IOC_COMPACT_PAUSE, sub_argc, sub_argv);
	if (strcmp(cmd, "resume") == 0)
		return cmd_simple("resumed", SLATEFS_IOC_COMPACT_RESUME, sub_argc, sub_argv);
	if (strcmp(cmd, "cancel") == 0)
		return cmd_simple("cancelled", SLATEFS_IOC_COMPACT_CANCEL, sub_argc, sub_argv);
	if (strcmp(cmd, "sync") == 0)
		return cmd_simple("synced", SLATEFS_IOC_SYNC, sub_argc, sub_argv);
	if (strcmp(cmd, "defrag") == 0)
		return cmd_defrag(sub_argc, sub_argv);
	if (strcmp(cmd, "backup") == 0)
		return cmd_backup(sub_argc, sub_argv);
	if (strcmp(cmd, "inspect") == 0)
		return cmd_inspect(sub_argc, sub_argv);
	fprintf(stderr, "slatectl: unknown command '%s'\n", cmd);
	usage(stderr);
	return 2;
}
