/*
 * pc.c — the POSIX behaviour checker's runner and shared helpers (see pc.h).
 *
 * usage: posix-check [-t TARGET] [-u UID:GID:UID2:GID2] [-l] DIR [TEST...]
 * Runs every test whose name starts with one of the TEST prefixes (all tests
 * but the PC_EXPLICIT ones when none is given) in DIR. Prints one TAP-like
 * line per test and exits 1 if any failed.
 */
#include "pc.h"
#include "../../lib/testutil.h"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

uid_t pc_uid = 4242, pc_uid2 = 4243;
gid_t pc_gid = 4242, pc_gid2 = 4243;
const char *pc_target = "slatefs";
int pc_failures;

void pc_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stdout, "#   FAIL %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stdout, fmt, ap);
	va_end(ap);
	fprintf(stdout, "\n");
	fflush(stdout);
	pc_failures++;
}

long long pc_ok_(long long rc, const char *expr, const char *file, int line)
{
	if (rc < 0)
		pc_fail(file, line, "%s failed: %s", expr, strerror(errno));
	return rc;
}

bool pc_err_(long long rc, int e1, int e2, const char *expr, const char *file, int line)
{
	int e = errno;

	if (rc >= 0) {
		pc_fail(file, line, "%s succeeded (returned %lld), expected %s", expr, rc,
			strerror(e1));
		return false;
	}
	if (e != e1 && e != e2) {
		pc_fail(file, line, "%s failed with %s (%d), expected %s (%d)", expr, strerror(e),
			e, strerror(e1), e1);
		return false;
	}
	return true;
}

void pc_pattern(void *buf, size_t len, uint64_t seed, uint64_t off)
{
	if (seed == 0)
		memset(buf, 0, len);
	else
		tu_pattern(buf, len, seed, off);
}

ssize_t pc_pwrite_all(int fd, const void *buf, size_t len, off_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pwrite(fd, (const char *)buf + done, len - done, off + (off_t)done);
		if (n < 0)
			return -1;
		if (n == 0) {
			errno = EIO;
			return -1;
		}
		done += (size_t)n;
	}
	return (ssize_t)done;
}

ssize_t pc_write_pattern(int fd, off_t off, size_t len, uint64_t seed)
{
	char *buf = malloc(len ? len : 1);
	ssize_t rc;

	if (!buf)
		abort();
	pc_pattern(buf, len, seed, (uint64_t)off);
	rc = pc_pwrite_all(fd, buf, len, off);
	free(buf);
	return rc;
}

int pc_make_file(const char *name, size_t len, uint64_t seed)
{
	int fd = open(name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	int rc = 0;

	if (fd < 0)
		return -errno;
	if (pc_write_pattern(fd, 0, len, seed) < 0)
		rc = -errno;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	return rc;
}

bool pc_range_is_(int fd, uint64_t off, size_t len, uint64_t seed, uint64_t shift,
		  const char *file, int line)
{
	char *got = malloc(len ? len : 1), *want = malloc(len ? len : 1);
	size_t done = 0;
	bool ok = true;

	if (!got || !want)
		abort();
	while (done < len) {
		ssize_t n = pread(fd, got + done, len - done, (off_t)(off + done));
		if (n < 0) {
			pc_fail(file, line, "pread at %llu: %s", (unsigned long long)(off + done),
				strerror(errno));
			ok = false;
			goto out;
		}
		if (n == 0) {
			pc_fail(file, line, "short read: %zu of %zu bytes at %llu", done, len,
				(unsigned long long)off);
			ok = false;
			goto out;
		}
		done += (size_t)n;
	}
	pc_pattern(want, len, seed, off + shift);
	long long d = tu_memdiff(got, want, len);
	if (d >= 0) {
		pc_fail(file, line, "byte %llu differs: 0x%02x, expected 0x%02x",
			(unsigned long long)(off + (uint64_t)d), (unsigned char)got[d],
			(unsigned char)want[d]);
		ok = false;
	}
out:
	free(got);
	free(want);
	return ok;
}

bool pc_file_is_(const char *name, size_t len, uint64_t seed, const char *file, int line)
{
	struct stat st;
	int fd = open(name, O_RDONLY);
	bool ok;
	char c;

	if (fd < 0) {
		pc_fail(file, line, "open %s: %s", name, strerror(errno));
		return false;
	}
	if (fstat(fd, &st) < 0 || (size_t)st.st_size != len) {
		pc_fail(file, line, "%s: size %lld, expected %zu", name, (long long)st.st_size, len);
		close(fd);
		return false;
	}
	ok = pc_range_is_(fd, 0, len, seed, 0, file, line);
	if (ok && pread(fd, &c, 1, (off_t)len) != 0) {
		pc_fail(file, line, "%s: read at EOF did not return 0", name);
		ok = false;
	}
	close(fd);
	return ok;
}

const char *pc_name(size_t len, char c)
{
	static char bufs[4][1101];
	static int next;
	char *b = bufs[next++ & 3];

	if (len > 1100)
		len = 1100;
	memset(b, c, len);
	b[len] = 0;
	return b;
}

struct stat pc_lstat(const char *path)
{
	struct stat st;

	if (lstat(path, &st) < 0) {
		memset(&st, 0xff, sizeof(st));
	}
	return st;
}

bool pc_absent(const char *path)
{
	struct stat st;

	return lstat(path, &st) < 0 && errno == ENOENT;
}

/* End a test child: its exit code is the number of failed checks. */
static _Noreturn void exit_with_failures(void)
{
	fflush(stdout);
	_exit(pc_failures > 100 ? 100 : pc_failures);
}

/* Wait for a test child: its exit code, or minus the signal that killed it. */
static int wait_child(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return 1;
	}
	if (WIFSIGNALED(status))
		return -WTERMSIG(status);
	return WEXITSTATUS(status);
}

int pc_as(uid_t uid, gid_t gid, void (*fn)(void *), void *arg)
{
	pid_t pid;
	int status;

	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		pc_fail(__FILE__, __LINE__, "fork: %s", strerror(errno));
		return 1;
	}
	if (pid == 0) {
		umask(022);
		if ((uid != geteuid() || gid != getegid()) &&
		    (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 ||
		     setresuid(uid, uid, uid) < 0)) {
			printf("#   cannot become %u:%u: %s\n", (unsigned)uid, (unsigned)gid,
			       strerror(errno));
			_exit(1);
		}
		pc_failures = 0;
		fn(arg);
		exit_with_failures();
	}
	status = wait_child(pid);
	if (status < 0) {
		pc_fail(__FILE__, __LINE__, "child as %u died of signal %d", (unsigned)uid, -status);
		return 1;
	}
	pc_failures += status;
	return status;
}

int pc_count_entries(const char *dir, const char *name)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, name) == 0)
			n++;
	closedir(d);
	return n;
}

/* ---- the runner ---- */

static const struct pc_test *const groups[] = {
	pc_files_tests, pc_attrs_tests,  pc_dirs_tests, pc_links_tests, pc_rename_tests,
	pc_special_tests, pc_xattr_tests, pc_alloc_tests, pc_locks_tests, pc_misc_tests,
	pc_names_tests, pc_perm_tests,   pc_rofs_tests, pc_big_tests,
};

static bool selected(const struct pc_test *t, int nsel, char **sel)
{
	if (nsel == 0)
		return !(t->flags & PC_EXPLICIT);
	for (int i = 0; i < nsel; i++)
		if (strncmp(t->name, sel[i], strlen(sel[i])) == 0)
			return true;
	return false;
}

static const char *skip_reason(const struct pc_test *t)
{
	bool root = geteuid() == 0;
	bool fuse = strcmp(pc_target, "native") != 0 && strcmp(pc_target, "tmpfs") != 0;

	if ((t->flags & (PC_ROOT | PC_XUSER)) && !root)
		return "needs root";
	if ((t->flags & PC_NONROOT) && root)
		return "needs an unprivileged user";
	if ((t->flags & PC_FUSE) && !fuse)
		return "FUSE behaviour";
	if ((t->flags & PC_SLATEFS) && strcmp(pc_target, "slatefs") != 0)
		return "slatefs behaviour";
	if ((t->flags & PC_BIGXATTR) &&
	    (strcmp(pc_target, "native") == 0 || strcmp(pc_target, "bindfs") == 0))
		return "ext4 keeps an inode's xattrs in one block";
	return NULL;
}

/* Run one test in a child, in DIR/<name>; returns 0 pass, 1 fail. */
static int run_one(const char *dir, const struct pc_test *t)
{
	char sub[4096];
	pid_t pid;
	int status;

	snprintf(sub, sizeof(sub), "%s/%s", dir, t->name);
	for (char *p = sub + strlen(dir) + 1; *p; p++)
		if (*p == '/')
			*p = '-';
	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		perror("fork");
		return 1;
	}
	if (pid == 0) {
		umask(022);
		if (t->flags & PC_INPLACE) {
			if (chdir(dir) < 0) {
				printf("#   cannot enter %s: %s\n", dir, strerror(errno));
				_exit(1);
			}
		} else if (mkdir(sub, 0755) < 0 || chdir(sub) < 0) {
			printf("#   cannot make %s: %s\n", sub, strerror(errno));
			_exit(1);
		}
		alarm(120);
		pc_failures = 0;
		t->fn();
		exit_with_failures();
	}
	status = wait_child(pid);
	if (status < 0) {
		printf("#   died of signal %d (%s)\n", -status, strsignal(-status));
		return 1;
	}
	return status != 0;
}

int main(int argc, char **argv)
{
	int opt, n = 0, failed = 0, skipped = 0, passed = 0;
	bool list = false;
	const char *dir;

	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((opt = getopt(argc, argv, "t:u:l")) != -1) {
		switch (opt) {
		case 't':
			pc_target = optarg;
			break;
		case 'u': {
			unsigned a, b, c, d;
			if (sscanf(optarg, "%u:%u:%u:%u", &a, &b, &c, &d) != 4) {
				fprintf(stderr, "posix-check: -u UID:GID:UID2:GID2\n");
				return 2;
			}
			pc_uid = a;
			pc_gid = b;
			pc_uid2 = c;
			pc_gid2 = d;
			break;
		}
		case 'l':
			list = true;
			break;
		default:
			fprintf(stderr, "usage: posix-check [-t TARGET] [-u UID:GID:UID2:GID2] [-l] DIR "
					"[TEST...]\n");
			return 2;
		}
	}
	if (!list && optind >= argc) {
		fprintf(stderr, "posix-check: no directory given\n");
		return 2;
	}
	dir = list ? "" : argv[optind++];
	for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++) {
		for (const struct pc_test *t = groups[g]; t->name; t++) {
			const char *why;

			if (!selected(t, argc - optind, argv + optind))
				continue;
			n++;
			if (list) {
				printf("%s\n", t->name);
				continue;
			}
			why = skip_reason(t);
			if (why) {
				skipped++;
				printf("ok %d # skip %s (%s)\n", n, t->name, why);
				continue;
			}
			if (run_one(dir, t)) {
				failed++;
				printf("not ok %d - %s\n", n, t->name);
			} else {
				passed++;
				printf("ok %d - %s\n", n, t->name);
			}
		}
	}
	if (list)
		return 0;
	printf("# posix-check as uid %u: %d passed, %d failed, %d skipped\n", (unsigned)geteuid(),
	       passed, failed, skipped);
	if (n == 0) {
		fprintf(stderr, "posix-check: no test matched\n");
		return 2;
	}
	return failed ? 1 : 0;
}
