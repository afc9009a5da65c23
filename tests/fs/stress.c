/*
 * stress.c — concurrent namespace and data stress for a mounted filesystem.
 *
 * usage: stress [-p NPROC] [-t SECONDS] [-S SEED] DIR     run the workload
 *        stress -c DIR                                     check what is left
 *
 * Run: NPROC processes share DIR/s0..s3 and, for SECONDS, create files
 * (written under a private name, then renamed into the shared space),
 * rename, link, unlink, exchange, make, rename and remove directories,
 * symlink, set xattrs, list directories, read files back, and append to a
 * log of their own. Races give ENOENT, EEXIST or ENOTEMPTY; any other
 * error, and any file whose content does not verify, fails the run.
 *
 * Every published file is self-describing (a header with its size and the
 * seed of its bytes) and never changes after it is published, so a reader
 * can check any file it opens, whatever raced with it.
 *
 * Check: every file under DIR verifies, every log holds an unbroken
 * sequence of records, every regular file's link count equals the number
 * of names it has, every directory's is 1 or 2 + its subdirectories, and
 * no temporary file is left.
 */
#include "../lib/testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

enum {
	NSHARED = 4,      /* shared directories s0..s3 */
	NNAMES = 48,      /* file names n0..n47 in each */
	NDIRS = 6,        /* directory names d0..d5 in each */
	HDR = 32,         /* header of a published file */
	MAXDATA = 150000, /* data bytes after the header, at most */
	REC = 64,         /* one log record */
};

static const char magic[8] = "SFSSTRS1";
static const char *top;
static int worker_id;
static struct tu_rng rng;
static uint64_t nops, nerr_ok;

static _Noreturn void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static _Noreturn void fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "stress: worker %d: FAIL: ", worker_id);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(1);
}

/* A failed call is fine only for the errors that races cause. */
static void allow(int rc, const char *what, const char *path)
{
	if (rc >= 0)
		return;
	if (errno == ENOENT || errno == EEXIST || errno == ENOTEMPTY) {
		nerr_ok++;
		return;
	}
	fail("%s %s: %s", what, path, strerror(errno));
}

static void put64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

/* Build a published file's bytes: header + pattern. */
static size_t make_content(uint8_t *buf, uint64_t seed, size_t data)
{
	memcpy(buf, magic, 8);
	put64(buf + 8, HDR + data);
	put64(buf + 16, seed);
	put64(buf + 24, tu_mix64(seed ^ (HDR + data)));
	tu_pattern(buf + HDR, data, seed, 0);
	return HDR + data;
}

/* Does buf (len bytes, read from path) verify? Returns NULL or why not. */
static const char *verify_content(const uint8_t *buf, size_t len)
{
	if (len < HDR)
		return "shorter than its header";
	if (memcmp(buf, magic, 8) != 0)
		return "bad magic";
	uint64_t size = get64(buf + 8), seed = get64(buf + 16);
	if (get64(buf + 24) != tu_mix64(seed ^ size))
		return "bad header checksum";
	if (size != len)
		return "size differs from its header";
	if (tu_pattern_diff(buf + HDR, len - HDR, seed, 0) >= 0)
		return "data differs from its pattern";
	return NULL;
}

static uint8_t *rbuf;

/* Read and verify path if it exists. Returns 0, or -1 if it is gone. */
static int read_verify(const char *path)
{
	int fd = open(path, O_RDONLY);
	struct stat st;
	size_t got = 0;

	if (fd < 0) {
		allow(-1, "open", path);
		return -1;
	}
	if (fstat(fd, &st) < 0)
		fail("fstat %s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return 0;
	}
	if ((size_t)st.st_size > HDR + MAXDATA)
		fail("%s: size %lld, larger than any file written", path, (long long)st.st_size);
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, rbuf + got, (size_t)st.st_size - got);
		if (n < 0)
			fail("read %s: %s", path, strerror(errno));
		if (n == 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	const char *why = verify_content(rbuf, got);
	if (why)
		fail("%s (%zu bytes, ino %lu): %s", path, got, (unsigned long)st.st_ino, why);
	return 0;
}

static void rand_file(char *p, size_t cap)
{
	unsigned s = (unsigned)tu_rng_below(&rng, NSHARED);

	if (tu_rng_chance(&rng, 1, 4))
		snprintf(p, cap, "%s/s%u/d%u/n%u", top, s, (unsigned)tu_rng_below(&rng, NDIRS),
			 (unsigned)tu_rng_below(&rng, NNAMES / 4));
	else
		snprintf(p, cap, "%s/s%u/n%u", top, s, (unsigned)tu_rng_below(&rng, NNAMES));
}

static void rand_dir(char *p, size_t cap)
{
	snprintf(p, cap, "%s/s%u/d%u", top, (unsigned)tu_rng_below(&rng, NSHARED),
		 (unsigned)tu_rng_below(&rng, NDIRS));
}

static uint8_t *wbuf;
static uint64_t seq;

static void op_publish(void)
{
	char tmp[4096], dst[4096];
	uint64_t seed = tu_rng_next(&rng);
	size_t len = make_content(wbuf, seed, (size_t)tu_rng_below(&rng, MAXDATA + 1));
	int fd;

	snprintf(tmp, sizeof(tmp), "%s/tmp/w%d.%" PRIu64, top, worker_id, seq++);
	fd = open(tmp, O_CREAT | O_EXCL | O_WRONLY, 0644);
	if (fd < 0)
		fail("create %s: %s", tmp, strerror(errno));
	for (size_t done = 0; done < len;) {
		/* Write in pieces of varying size. */
		size_t n = (size_t)tu_rng_range(&rng, 1, 70000);
		if (n > len - done)
			n = len - done;
		ssize_t w = write(fd, wbuf + done, n);
		if (w <= 0)
			fail("write %s: %s", tmp, w < 0 ? strerror(errno) : "wrote nothing");
		done += (size_t)w;
	}
	if (tu_rng_chance(&rng, 1, 8) && fsync(fd) < 0)
		fail("fsync %s: %s", tmp, strerror(errno));
	if (close(fd) < 0)
		fail("close %s: %s", tmp, strerror(errno));
	rand_file(dst, sizeof(dst));
	if (rename(tmp, dst) < 0) {
		allow(-1, "rename", dst); /* its directory may have gone */
		if (unlink(tmp) < 0)
			fail("unlink %s: %s", tmp, strerror(errno));
	}
}

static void op_log(void)
{
	char path[4096];
	uint8_t rec[REC];

	snprintf(path, sizeof(path), "%s/s%d/log%d", top, worker_id % NSHARED, worker_id);
	put64(rec, (uint64_t)worker_id);
	put64(rec + 8, seq);
	tu_pattern(rec + 16, REC - 16, ((uint64_t)worker_id << 32) ^ seq, 0);
	int fd = open(path, O_CREAT | O_WRONLY | O_APPEND, 0644);
	if (fd < 0)
		fail("open %s: %s", path, strerror(errno));
	if (write(fd, rec, REC) != REC)
		fail("append %s: %s", path, strerror(errno));
	close(fd);
	seq++;
}

static int rename2(const char *a, const char *b, unsigned flags)
{
	return (int)syscall(SYS_renameat2, AT_FDCWD, a, AT_FDCWD, b, flags);
}

static void op_list(void)
{
	char path[4096], sub[4096 + 300];
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "%s/s%u", top, (unsigned)tu_rng_below(&rng, NSHARED));
	d = opendir(path);
	if (!d)
		fail("opendir %s: %s", path, strerror(errno));
	while ((errno = 0, de = readdir(d))) {
		struct stat st;
		snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
		allow(lstat(sub, &st), "lstat", sub);
	}
	if (errno)
		fail("readdir %s: %s", path, strerror(errno));
	closedir(d);
}

static void worker(int id, uint64_t seed, double deadline)
{
	char a[4096], b[4096];

	worker_id = id;
	tu_rng_seed(&rng, seed ^ tu_mix64((uint64_t)id + 1));
	rbuf = malloc(HDR + MAXDATA + 1);
	wbuf = malloc(HDR + MAXDATA + 1);
	if (!rbuf || !wbuf)
		fail("out of memory");
	while (tu_now() < deadline) {
		unsigned r = (unsigned)tu_rng_below(&rng, 100);
		nops++;
		if (r < 22) {
			op_publish();
		} else if (r < 40) {
			rand_file(a, sizeof(a));
			read_verify(a);
		} else if (r < 50) {
			rand_file(a, sizeof(a));
			rand_file(b, sizeof(b));
			allow(rename(a, b), "rename", a);
		} else if (r < 58) {
			rand_file(a, sizeof(a));
			rand_file(b, sizeof(b));
			allow(link(a, b), "link", a);
		} else if (r < 67) {
			rand_file(a, sizeof(a));
			allow(unlink(a), "unlink", a);
		} else if (r < 70) {
			rand_file(a, sizeof(a));
			rand_file(b, sizeof(b));
			allow(rename2(a, b, RENAME_EXCHANGE), "exchange", a);
		} else if (r < 72) {
			rand_file(a, sizeof(a));
			rand_file(b, sizeof(b));
			allow(rename2(a, b, RENAME_NOREPLACE), "rename noreplace", a);
		} else if (r < 76) {
			rand_dir(a, sizeof(a));
			allow(mkdir(a, 0755), "mkdir", a);
		} else if (r < 79) {
			rand_dir(a, sizeof(a));
			allow(rmdir(a), "rmdir", a);
		} else if (r < 82) {
			rand_dir(a, sizeof(a));
			rand_dir(b, sizeof(b));
			allow(rename(a, b), "rename dir", a);
		} else if (r < 85) {
			snprintf(a, sizeof(a), "%s/s%u/l%u", top, (unsigned)tu_rng_below(&rng, NSHARED),
				 (unsigned)tu_rng_below(&rng, 8));
			if (tu_rng_chance(&rng, 1, 2))
				allow(symlink("n1", a), "symlink", a);
			else
				allow(unlink(a), "unlink symlink", a);
		} else if (r < 88) {
			rand_file(a, sizeof(a));
			allow(setxattr(a, "user.stress", &id, sizeof(id), 0), "setxattr", a);
		} else if (r < 93) {
			op_list();
		} else {
			op_log();
		}
	}
	printf("stress: worker %d: %" PRIu64 " ops, %" PRIu64 " expected race errors\n", id, nops,
	       nerr_ok);
	exit(0);
}

/* ---- check ---- */

struct seen {
	ino_t ino;
	nlink_t nlink;
	unsigned names;
	char *path;
};

static struct seen *seen;
static size_t nseen, capseen;
static unsigned long nfiles, ndirs, nlogs, nrecs;
static int problems;

static void problem(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void problem(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "stress check: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	problems++;
}

static void note_file(const char *path, const struct stat *st)
{
	for (size_t i = 0; i < nseen; i++) {
		if (seen[i].ino == st->st_ino) {
			seen[i].names++;
			return;
		}
	}
	if (nseen == capseen) {
		capseen = capseen ? capseen * 2 : 256;
		seen = realloc(seen, capseen * sizeof(*seen));
		if (!seen)
			abort();
	}
	seen[nseen].ino = st->st_ino;
	seen[nseen].nlink = st->st_nlink;
	seen[nseen].names = 1;
	seen[nseen].path = strdup(path);
	if (!seen[nseen].path)
		abort();
	nseen++;
}

static void check_log(const char *path, const char *name)
{
	uint8_t *buf;
	size_t len;
	int id = atoi(name + 3);

	if (tu_read_file(path, &buf, &len) < 0) {
		problem("cannot read %s", path);
		return;
	}
	nlogs++;
	if (len % REC)
		problem("%s: %zu bytes, not whole records", path, len);
	uint64_t prev = 0;
	for (size_t off = 0; off + REC <= len; off += REC) {
		uint64_t s = get64(buf + off + 8);
		if (get64(buf + off) != (uint64_t)id ||
		    tu_pattern_diff(buf + off + 16, REC - 16, ((uint64_t)id << 32) ^ s, 0) >= 0) {
			problem("%s: record %zu is damaged", path, off / REC);
			break;
		}
		if (off && s <= prev) {
			problem("%s: record %zu out of order", path, off / REC);
			break;
		}
		prev = s;
		nrecs++;
	}
	free(buf);
}

static void walk(const char *dir, int depth)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int subdirs = 0;
	char path[4096];
	struct stat st;

	if (!d) {
		problem("opendir %s: %s", dir, strerror(errno));
		return;
	}
	ndirs++;
	while ((errno = 0, de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (lstat(path, &st) < 0) {
			problem("lstat %s: %s", path, strerror(errno));
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			subdirs++;
			if (depth < 3)
				walk(path, depth + 1);
			else
				problem("%s: deeper than the workload makes", path);
		} else if (S_ISREG(st.st_mode)) {
			note_file(path, &st);
			nfiles++;
			if (!strncmp(de->d_name, "log", 3))
				check_log(path, de->d_name);
			else if (depth == 0)
				problem("%s: a file at the top", path);
			else if (!strcmp(strrchr(dir, '/') + 1, "tmp"))
				problem("%s: a temporary file left behind", path);
			else
				read_verify(path);
		} else if (!S_ISLNK(st.st_mode)) {
			problem("%s: unexpected type %o", path, st.st_mode & S_IFMT);
		}
	}
	if (errno)
		problem("readdir %s: %s", dir, strerror(errno));
	closedir(d);
	if (stat(dir, &st) == 0 && st.st_nlink != 1 && st.st_nlink != (nlink_t)(2 + subdirs))
		problem("%s: nlink %lu with %d subdirectories", dir, (unsigned long)st.st_nlink,
			subdirs);
}

static int check(void)
{
	rbuf = malloc(HDR + MAXDATA + 1);
	if (!rbuf)
		abort();
	walk(top, 0);
	for (size_t i = 0; i < nseen; i++)
		if (seen[i].nlink != seen[i].names)
			problem("%s (ino %lu): nlink %lu but %u names", seen[i].path,
				(unsigned long)seen[i].ino, (unsigned long)seen[i].nlink,
				seen[i].names);
	printf("stress check: %lu dirs, %lu file names, %zu inodes, %lu logs with %lu records, "
	       "%d problems\n",
	       ndirs, nfiles, nseen, nlogs, nrecs, problems);
	return problems ? 1 : 0;
}

int main(int argc, char **argv)
{
	int nproc = 6, opt, failed = 0;
	double secs = 15.0 * tu_scale();
	uint64_t seed = 0;
	bool checking = false, have_seed = false;
	char path[4096];

	while ((opt = getopt(argc, argv, "p:t:S:c")) != -1) {
		switch (opt) {
		case 'p':
			nproc = atoi(optarg);
			break;
		case 't':
			secs = atof(optarg);
			break;
		case 'S':
			seed = strtoull(optarg, NULL, 0);
			have_seed = true;
			break;
		case 'c':
			checking = true;
			break;
		default:
			fprintf(stderr, "usage: stress [-p NPROC] [-t SECS] [-S SEED] DIR | -c DIR\n");
			return 2;
		}
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "stress: one DIR expected\n");
		return 2;
	}
	top = argv[optind];
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (checking)
		return check();
	if (!have_seed && getrandom(&seed, sizeof(seed), 0) != sizeof(seed))
		seed = (uint64_t)getpid();
	printf("stress: seed %" PRIu64 ", %d processes, %.0f s, %s\n", seed, nproc, secs, top);
	for (int s = 0; s < NSHARED; s++) {
		snprintf(path, sizeof(path), "%s/s%d", top, s);
		if (mkdir(path, 0755) < 0 && errno != EEXIST)
			fail("mkdir %s: %s", path, strerror(errno));
	}
	snprintf(path, sizeof(path), "%s/tmp", top);
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		fail("mkdir %s: %s", path, strerror(errno));
	double deadline = tu_now() + secs;
	for (int i = 0; i < nproc; i++) {
		pid_t pid = fork();
		if (pid < 0)
			fail("fork: %s", strerror(errno));
		if (pid == 0)
			worker(i, seed, deadline);
	}
	for (int i = 0; i < nproc; i++) {
		int status;
		if (wait(&status) < 0)
			break;
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			failed++;
	}
	if (failed)
		fprintf(stderr, "stress: %d workers failed (seed %" PRIu64 ")\n", failed, seed);
	return failed ? 1 : 0;
}
