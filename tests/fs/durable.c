/*
 * durable.c — the writer and the checker of the kill -9 durability test.
 *
 * usage: durable write DIR STATE     run until killed
 *        durable verify DIR STATE    check DIR against STATE, then adopt it
 *
 * The writer changes files DIR/d<j>/f<k> at random — create, overwrite in
 * place, append, truncate, replace by rename, unlink — and makes each change
 * durable with fsync or fdatasync of the file and fsync of its directory.
 * STATE is a directory outside the filesystem under test: before a change
 * the writer saves the content the file will have (STATE/shadow/<file>.<gen>)
 * and logs an intent ("I"); once the fsync calls have returned it logs that
 * the change is done ("D"). It also writes files it never syncs, as noise.
 *
 * After kill -9 of the daemon and a remount, verify checks each file:
 *   - last change done: the file is exactly its last done content (or is
 *     absent if that was an unlink): what fsync covered must be there;
 *   - a change was in flight: for a rename or unlink, exactly the old or the
 *     new state; for a change in place, a size between the old and the new
 *     one, and every byte from the old content, the new one, or zero.
 * Then it adopts what is there as the new starting state (a new log), so
 * the next round goes on from it. A writer error that happened before the
 * kill (STATE/writer.err) fails the check.
 */
#include "../lib/testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

enum {
	NDIRS = 4,
	NFILES = 24, /* per directory */
	NF = NDIRS * NFILES,
	MAXSIZE = 200000,        /* largest size of a new file */
	CAP = MAXSIZE + 20000,   /* largest size any file reaches */
	MAXAPPEND = 20000,
};

enum kind { K_CREATE, K_OVERWRITE, K_APPEND, K_TRUNCATE, K_REPLACE, K_UNLINK, K_NKINDS };
static const char kind_chars[K_NKINDS + 1] = "coatru";

/* What the log says about one file. */
struct fstate {
	uint64_t done;    /* generation of the last done change; 0 = absent */
	uint64_t pending; /* generation of a change in flight, or UINT64_MAX */
	enum kind pkind;  /* its kind */
};

static const char *dir, *state;
static struct fstate fs[NF];
static uint64_t maxgen;
static int logfd = -1;

static _Noreturn void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static _Noreturn void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "durable: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(1);
}

static void fpath(char *buf, size_t cap, int i)
{
	snprintf(buf, cap, "%s/d%d/f%d", dir, i / NFILES, i % NFILES);
}

static void spath(char *buf, size_t cap, int i, uint64_t gen)
{
	snprintf(buf, cap, "%s/shadow/%d.%" PRIu64, state, i, gen);
}

/* Read the log into fs[]. */
static void load_log(void)
{
	char path[4096], line[128];
	FILE *f;

	for (int i = 0; i < NF; i++) {
		fs[i].done = 0;
		fs[i].pending = UINT64_MAX;
	}
	snprintf(path, sizeof(path), "%s/log", state);
	f = fopen(path, "r");
	if (!f)
		return; /* first round: everything absent */
	while (fgets(line, sizeof(line), f)) {
		char t, k = 0;
		int i;
		uint64_t gen;
		if (sscanf(line, "%c %d %" SCNu64 " %c", &t, &i, &gen, &k) < 3 || i < 0 || i >= NF)
			die("bad log line: %s", line);
		if (gen > maxgen)
			maxgen = gen;
		if (t == 'I') {
			fs[i].pending = gen;
			const char *p = k ? strchr(kind_chars, k) : NULL;
			if (!p)
				die("bad kind in log line: %s", line);
			fs[i].pkind = (enum kind)(p - kind_chars);
		} else if (t == 'D') {
			fs[i].done = gen;
			fs[i].pending = UINT64_MAX;
		} else {
			die("bad log line: %s", line);
		}
	}
	fclose(f);
}

static void log_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void log_line(const char *fmt, ...)
{
	char line[128];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* One write(2) per line on an O_APPEND fd: lines are never torn by a kill. */
	if (write(logfd, line, (size_t)n) != n)
		die("writing the log: %s", strerror(errno));
}

/* Content of generation gen of file i (gen 0: absent, NULL). */
static uint8_t *load_shadow(int i, uint64_t gen, size_t *len)
{
	char path[4096];
	uint8_t *buf;

	*len = 0;
	if (gen == 0)
		return NULL;
	spath(path, sizeof(path), i, gen);
	if (tu_read_file(path, &buf, len) < 0)
		die("cannot read shadow %s", path);
	return buf;
}

/* ---- writer ---- */

static struct tu_rng rng;

/* An error: real unless the test has started killing the daemon. */
static _Noreturn void werr(const char *what, const char *path)
{
	char marker[4096], msg[8192];
	int e = errno;

	snprintf(marker, sizeof(marker), "%s/killed", state);
	if (access(marker, F_OK) != 0) {
		snprintf(marker, sizeof(marker), "%s/writer.err", state);
		snprintf(msg, sizeof(msg), "%s %s: %s", what, path, strerror(e));
		tu_write_file(marker, msg, strlen(msg));
		fprintf(stderr, "durable writer: %s\n", msg);
	}
	exit(3);
}

static void sync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY);

	if (fd < 0)
		werr("open dir", path);
	if (fsync(fd) < 0)
		werr("fsync dir", path);
	close(fd);
}

static void parent_of(char *out, size_t cap, int i)
{
	snprintf(out, cap, "%s/d%d", dir, i / NFILES);
}

static void write_all(int fd, const uint8_t *buf, size_t len, off_t off, const char *path)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pwrite(fd, buf + done, len - done, off + (off_t)done);
		if (n <= 0)
			werr("pwrite", path);
		done += (size_t)n;
	}
}

static void sync_file(int fd, const char *path)
{
	if ((tu_rng_chance(&rng, 1, 2) ? fsync(fd) : fdatasync(fd)) < 0)
		werr("fsync", path);
}

static size_t rand_size(void)
{
	return tu_rng_chance(&rng, 1, 3) ? (size_t)tu_rng_below(&rng, 3000)
					 : (size_t)tu_rng_below(&rng, MAXSIZE + 1);
}

static void one_change(uint8_t *newbuf)
{
	int i = (int)tu_rng_below(&rng, NF);
	char path[4096], pdir[4096], sp[4096], tmp[4200];
	size_t oldlen, newlen;
	uint8_t *old = load_shadow(i, fs[i].done, &oldlen);
	uint64_t gen = ++maxgen;
	enum kind k;
	int fd;
	off_t off = 0;
	size_t wlen = 0;

	fpath(path, sizeof(path), i);
	parent_of(pdir, sizeof(pdir), i);
	if (fs[i].done == 0) {
		k = K_CREATE;
	} else {
		static const enum kind ks[] = {K_OVERWRITE, K_OVERWRITE, K_APPEND, K_TRUNCATE,
					       K_REPLACE, K_REPLACE, K_UNLINK};
		k = ks[tu_rng_below(&rng, sizeof(ks) / sizeof(ks[0]))];
		if (k == K_APPEND && oldlen + MAXAPPEND > CAP)
			k = K_TRUNCATE;
	}
	/* The content the file will have. */
	switch (k) {
	case K_CREATE:
	case K_REPLACE:
		newlen = rand_size();
		tu_pattern(newbuf, newlen, gen, 0);
		break;
	case K_OVERWRITE:
		off = (off_t)tu_rng_below(&rng, oldlen + 1);
		wlen = (size_t)tu_rng_range(&rng, 1, 70000);
		if ((size_t)off + wlen > CAP)
			wlen = CAP - (size_t)off;
		if (wlen == 0) {
			off = 0;
			wlen = 1;
		}
		newlen = (size_t)off + wlen > oldlen ? (size_t)off + wlen : oldlen;
		memcpy(newbuf, old, oldlen);
		tu_pattern(newbuf + off, wlen, gen, 0);
		break;
	case K_APPEND:
		off = (off_t)oldlen;
		wlen = (size_t)tu_rng_range(&rng, 1, MAXAPPEND);
		newlen = oldlen + wlen;
		memcpy(newbuf, old, oldlen);
		tu_pattern(newbuf + off, wlen, gen, 0);
		break;
	case K_TRUNCATE:
		newlen = rand_size();
		memset(newbuf, 0, newlen);
		memcpy(newbuf, old, oldlen < newlen ? oldlen : newlen);
		break;
	default: /* K_UNLINK */
		newlen = 0;
		break;
	}
	if (k != K_UNLINK) {
		spath(sp, sizeof(sp), i, gen);
		if (tu_write_file(sp, newbuf, newlen) < 0)
			die("cannot write shadow %s", sp);
	}
	log_line("I %d %" PRIu64 " %c\n", i, k == K_UNLINK ? 0 : gen, kind_chars[k]);

	switch (k) {
	case K_CREATE:
		fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
		if (fd < 0)
			werr("create", path);
		write_all(fd, newbuf, newlen, 0, path);
		sync_file(fd, path);
		close(fd);
		sync_dir(pdir);
		break;
	case K_OVERWRITE:
		fd = open(path, O_WRONLY);
		if (fd < 0)
			werr("open", path);
		write_all(fd, newbuf + off, wlen, off, path);
		sync_file(fd, path);
		close(fd);
		break;
	case K_APPEND:
		fd = open(path, O_WRONLY | O_APPEND);
		if (fd < 0)
			werr("open", path);
		if (write(fd, newbuf + off, wlen) != (ssize_t)wlen)
			werr("append", path);
		sync_file(fd, path);
		close(fd);
		break;
	case K_TRUNCATE:
		fd = open(path, O_WRONLY);
		if (fd < 0)
			werr("open", path);
		if (ftruncate(fd, (off_t)newlen) < 0)
			werr("ftruncate", path);
		sync_file(fd, path);
		close(fd);
		break;
	case K_REPLACE:
		snprintf(tmp, sizeof(tmp), "%s/d%d/tmp%d", dir, i / NFILES, i % NFILES);
		fd = open(tmp, O_CREAT | O_WRONLY | O_TRUNC, 0644);
		if (fd < 0)
			werr("create", tmp);
		write_all(fd, newbuf, newlen, 0, tmp);
		sync_file(fd, tmp);
		close(fd);
		if (rename(tmp, path) < 0)
			werr("rename", tmp);
		sync_dir(pdir);
		break;
	default:
		if (unlink(path) < 0)
			werr("unlink", path);
		sync_dir(pdir);
		break;
	}
	log_line("D %d %" PRIu64 "\n", i, k == K_UNLINK ? 0 : gen);
	fs[i].done = k == K_UNLINK ? 0 : gen;
	free(old);
}

/* Data never synced: it may or may not survive, and must not disturb the rest. */
static void noise(uint8_t *buf)
{
	char path[4096];
	int fd;
	size_t len = (size_t)tu_rng_below(&rng, 100000);

	snprintf(path, sizeof(path), "%s/noise%u", dir, (unsigned)tu_rng_below(&rng, 4));
	fd = open(path, O_CREAT | O_WRONLY, 0644);
	if (fd < 0)
		werr("create", path);
	tu_rng_fill(&rng, buf, len);
	write_all(fd, buf, len, (off_t)tu_rng_below(&rng, 200000), path);
	if (tu_rng_chance(&rng, 1, 4) && ftruncate(fd, (off_t)tu_rng_below(&rng, 300000)) < 0)
		werr("ftruncate", path);
	close(fd);
}

static int do_write(void)
{
	char path[4096];
	uint64_t seed;
	uint8_t *buf = malloc(CAP + 4096);

	if (!buf)
		die("out of memory");
	if (getrandom(&seed, sizeof(seed), 0) != sizeof(seed))
		seed = (uint64_t)getpid();
	tu_rng_seed(&rng, seed);
	load_log();
	snprintf(path, sizeof(path), "%s/log", state);
	logfd = open(path, O_CREAT | O_WRONLY | O_APPEND, 0644);
	if (logfd < 0)
		die("open %s: %s", path, strerror(errno));
	for (int d = 0; d < NDIRS; d++) {
		snprintf(path, sizeof(path), "%s/d%d", dir, d);
		if (mkdir(path, 0755) < 0 && errno != EEXIST)
			werr("mkdir", path);
	}
	sync_dir(dir);
	for (;;) {
		if (tu_rng_chance(&rng, 1, 10))
			noise(buf);
		else
			one_change(buf);
	}
}

/* ---- verify ---- */

static int problems;

static void problem(int i, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void problem(int i, const char *fmt, ...)
{
	char path[4096];
	va_list ap;

	fpath(path, sizeof(path), i);
	fprintf(stderr, "durable verify: %s (done gen %" PRIu64 ", pending ", path, fs[i].done);
	if (fs[i].pending == UINT64_MAX)
		fprintf(stderr, "none): ");
	else
		fprintf(stderr, "gen %" PRIu64 " kind %c): ", fs[i].pending, kind_chars[fs[i].pkind]);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	problems++;
}

static bool same(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

/* Check file i; returns true if it exists (got/glen hold it). */
static void verify_one(int i, uint8_t **got, size_t *glen, bool *exists)
{
	char path[4096];
	size_t olen, nlen;
	uint8_t *old = load_shadow(i, fs[i].done, &olen), *nw = NULL;
	bool pending = fs[i].pending != UINT64_MAX;
	int rc;

	fpath(path, sizeof(path), i);
	rc = tu_read_file(path, got, glen);
	if (rc < 0 && rc != -ENOENT) {
		problem(i, "cannot read it: %s", strerror(-rc));
		*exists = false;
		free(old);
		return;
	}
	*exists = rc == 0;
	if (pending)
		nw = load_shadow(i, fs[i].pending, &nlen);
	else
		nlen = 0;
	bool was = fs[i].done != 0, will = pending && fs[i].pending != 0;

	if (!pending) {
		if (*exists != was)
			problem(i, "%s after a durable %s", *exists ? "exists" : "is missing",
				was ? "write" : "unlink");
		else if (was && !same(*got, *glen, old, olen))
			problem(i, "%zu bytes differ from the durable %zu bytes (first at %lld)", *glen,
				olen,
				*glen == olen ? tu_memdiff(*got, old, olen) : (long long)-1);
	} else if (fs[i].pkind == K_REPLACE || fs[i].pkind == K_UNLINK) {
		/* Atomic: exactly the old or the new state. */
		bool is_old = *exists == was && (!was || same(*got, *glen, old, olen));
		bool is_new = *exists == will && (!will || same(*got, *glen, nw, nlen));
		if (!is_old && !is_new)
			problem(i, "neither the old nor the new content after an interrupted %s",
				fs[i].pkind == K_REPLACE ? "rename" : "unlink");
	} else if (*exists) {
		/* In place: any mix of old, new and zero bytes, size in between. */
		size_t lo = olen < nlen ? olen : nlen, hi = olen < nlen ? nlen : olen;
		if (!was)
			lo = 0;
		if (*glen < lo || *glen > hi) {
			problem(i, "size %zu outside [%zu, %zu] after an interrupted change", *glen, lo,
				hi);
		} else {
			for (size_t b = 0; b < *glen; b++) {
				uint8_t c = (*got)[b];
				if (c == 0 || (b < olen && c == old[b]) || (b < nlen && c == nw[b]))
					continue;
				problem(i, "byte %zu (0x%02x) is neither old, new nor zero", b, c);
				break;
			}
		}
	} else if (was) {
		problem(i, "missing after an interrupted change in place");
	}
	free(old);
	free(nw);
}

static int do_verify(void)
{
	char path[4096], newlog[4096];
	int checked = 0, present = 0;
	uint8_t *buf;
	size_t len;

	snprintf(path, sizeof(path), "%s/writer.err", state);
	if (tu_read_file(path, &buf, &len) == 0) {
		fprintf(stderr, "durable verify: the writer failed before the kill: %.*s\n",
			(int)len, (const char *)buf);
		free(buf);
		problems++;
	}
	load_log();
	snprintf(newlog, sizeof(newlog), "%s/log.new", state);
	logfd = open(newlog, O_CREAT | O_WRONLY | O_TRUNC, 0644);
	if (logfd < 0)
		die("open %s: %s", newlog, strerror(errno));
	for (int i = 0; i < NF; i++) {
		uint8_t *got = NULL;
		size_t glen = 0;
		bool exists;

		verify_one(i, &got, &glen, &exists);
		checked++;
		/* Adopt what is there as the state the next round starts from. */
		if (exists) {
			uint64_t gen = ++maxgen;
			present++;
			spath(path, sizeof(path), i, gen);
			if (tu_write_file(path, got, glen) < 0)
				die("cannot write %s", path);
			log_line("D %d %" PRIu64 "\n", i, gen);
		} else {
			log_line("D %d 0\n", i);
		}
		free(got);
	}
	close(logfd);
	snprintf(path, sizeof(path), "%s/log", state);
	if (rename(newlog, path) < 0)
		die("rename %s: %s", newlog, strerror(errno));
	/* Drop shadows no longer named by the log. */
	load_log();
	snprintf(path, sizeof(path), "%s/shadow", state);
	DIR *d = opendir(path);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		int i;
		uint64_t gen;
		if (sscanf(de->d_name, "%d.%" SCNu64, &i, &gen) == 2 && i >= 0 && i < NF &&
		    fs[i].done != gen) {
			char sp[4096];
			spath(sp, sizeof(sp), i, gen);
			unlink(sp);
		}
	}
	if (d)
		closedir(d);
	printf("durable verify: %d files checked, %d present, %d problems\n", checked, present,
	       problems);
	return problems ? 1 : 0;
}

int main(int argc, char **argv)
{
	char path[4096];

	if (argc != 4) {
		fprintf(stderr, "usage: durable write|verify DIR STATE\n");
		return 2;
	}
	dir = argv[2];
	state = argv[3];
	snprintf(path, sizeof(path), "%s/shadow", state);
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		die("mkdir %s: %s", path, strerror(errno));
	if (!strcmp(argv[1], "write"))
		return do_write();
	if (!strcmp(argv[1], "verify"))
		return do_verify();
	fprintf(stderr, "durable: unknown command %s\n", argv[1]);
	return 2;
}
