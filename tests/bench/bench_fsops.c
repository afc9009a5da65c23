/*
 * bench_fsops.c — bench-fsops, the file-system workloads of fs-bench.sh that a
 * shell cannot drive fast enough to measure the file system instead of fork():
 *
 *   bench-fsops create  DIR N     create N empty files DIR/f0000000.. (O_EXCL)
 *   bench-fsops stat    DIR N     stat them, checking each is an empty file
 *   bench-fsops unlink  DIR N     unlink them
 *   bench-fsops gentree DIR FILES write a deterministic source-like tree
 *
 * create/stat/unlink print "<ops> <seconds>"; gentree prints
 * "<files> <dirs> <symlinks> <bytes>". Any failing call is an error (exit 1).
 *
 * The tree: about 10 files per directory, directories nested up to 6 deep,
 * file sizes from 0 to 384 KiB skewed small (45% under 4 KiB, mean about
 * 19 KiB, like a C source tree), text-like content that compresses about as
 * well as source code, and 1% symlinks. The same FILES gives the same tree.
 */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_DEPTH 6

static void die(const char *what, const char *path)
{
	fprintf(stderr, "bench-fsops: %s %s: %s\n", what, path, strerror(errno));
	exit(1);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t rng_range(uint64_t *s, uint64_t lo, uint64_t hi)
{
	return lo + rng_next(s) % (hi - lo + 1);
}

static void file_name(char *out, size_t cap, const char *dir, unsigned long i)
{
	snprintf(out, cap, "%s/f%07lu", dir, i);
}

static int many_files(const char *op, const char *dir, unsigned long n)
{
	char path[4096];
	struct stat st;

	double t0 = now();
	for (unsigned long i = 0; i < n; i++) {
		file_name(path, sizeof(path), dir, i);
		if (strcmp(op, "create") == 0) {
			int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);

			if (fd < 0 || close(fd) != 0)
				die("create", path);
		} else if (strcmp(op, "stat") == 0) {
			if (stat(path, &st) != 0)
				die("stat", path);
			if (!S_ISREG(st.st_mode) || st.st_size != 0) {
				fprintf(stderr, "bench-fsops: %s is not an empty file\n", path);
				return 1;
			}
		} else if (unlink(path) != 0) {
			die("unlink", path);
		}
	}
	printf("%lu %.6f\n", n, now() - t0);
	return 0;
}

/* Write len bytes of text-like content: tokens and newlines, like code. */
static void write_text(int fd, const char *path, uint64_t *rng, size_t len)
{
	static const char *const tok[] = {
		"int ", "return ", "struct ", "static ", "if (", "} else {", "for (", "++) ",
		"const ", "char *", "uint64_t ", "size_t ", "NULL", " = ", " == ", ");\n",
		"{\n", "}\n", "\t", "\t\t", "/* ", " */\n", "error", "buf", "len", "off",
		"node", "page", "key", "val", "txn", "0", "1", "-EIO", "goto out;\n", ", ",
	};
	char buf[8192];
	size_t fill = 0;

	while (len > 0) {
		const char *t = tok[rng_next(rng) % (sizeof(tok) / sizeof(tok[0]))];
		size_t tl = strlen(t);

		if (tl > len)
			tl = len;
		if (fill + tl > sizeof(buf)) {
			if (write(fd, buf, fill) != (ssize_t)fill)
				die("write", path);
			fill = 0;
		}
		memcpy(buf + fill, t, tl);
		fill += tl;
		len -= tl;
	}
	if (fill > 0 && write(fd, buf, fill) != (ssize_t)fill)
		die("write", path);
}

static size_t file_size(uint64_t *rng)
{
	unsigned p = (unsigned)(rng_next(rng) % 100);

	if (p == 0)
		return 0;
	if (p < 45)
		return rng_range(rng, 100, 4096);
	if (p < 85)
		return rng_range(rng, 4096, 24576);
	if (p < 98)
		return rng_range(rng, 24576, 98304);
	return rng_range(rng, 98304, 393216);
}

static int gentree(const char *root, unsigned long nfiles)
{
	unsigned long ndirs_cap = nfiles / 4 + 2, ndirs = 1, nlinks = 0;
	char **dirs = calloc(ndirs_cap, sizeof(*dirs));
	unsigned *depth = calloc(ndirs_cap, sizeof(*depth));
	unsigned long long bytes = 0;
	uint64_t rng = 0x7ee5eedull;
	char path[4096], prev[64] = "";
	const char *prev_dir = NULL;

	if (!dirs || !depth || !(dirs[0] = strdup(root))) {
		fprintf(stderr, "bench-fsops: out of memory\n");
		return 1;
	}
	if (mkdir(root, 0755) != 0 && errno != EEXIST)
		die("mkdir", root);
	for (unsigned long i = 0; i < nfiles; i++) {
		/* Every ~10 files, a new directory under a random one: wide and
		 * shallow near the root, like a source tree. */
		if (rng_next(&rng) % 10 == 0 && ndirs < ndirs_cap) {
			unsigned long parent = rng_next(&rng) % ndirs;

			if (depth[parent] >= MAX_DEPTH)
				parent = 0;
			snprintf(path, sizeof(path), "%s/d%05lu", dirs[parent], ndirs);
			if (mkdir(path, 0755) != 0)
				die("mkdir", path);
			depth[ndirs] = depth[parent] + 1;
			if (!(dirs[ndirs++] = strdup(path))) {
				fprintf(stderr, "bench-fsops: out of memory\n");
				return 1;
			}
		}
		/* Files land in one of the last few directories: locality. */
		const char *dir = dirs[ndirs - 1 - rng_next(&rng) % (ndirs < 3 ? ndirs : 3)];
		/* A symlink points at the previous file when it is in the same
		 * directory, by a relative name, so it resolves wherever the tree
		 * is unpacked. */
		bool is_link = prev_dir == dir && rng_next(&rng) % 100 == 0;

		snprintf(path, sizeof(path), "%s/file%06lu.%c", dir, i, is_link ? 'l' : "ch"[i % 2]);
		if (is_link) {
			if (symlink(prev, path) != 0)
				die("symlink", path);
			nlinks++;
			continue;
		}
		size_t len = file_size(&rng);
		int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);

		if (fd < 0)
			die("create", path);
		write_text(fd, path, &rng, len);
		if (close(fd) != 0)
			die("close", path);
		bytes += len;
		prev_dir = dir;
		snprintf(prev, sizeof(prev), "file%06lu.%c", i, "ch"[i % 2]);
	}
	printf("%lu %lu %lu %llu\n", nfiles - nlinks, ndirs, nlinks, bytes);
	for (unsigned long d = 0; d < ndirs; d++)
		free(dirs[d]);
	free(dirs);
	free(depth);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fputs("usage: bench-fsops create|stat|unlink|gentree DIR N\n", stderr);
		return 2;
	}
	unsigned long n = strtoul(argv[3], NULL, 0);

	if (strcmp(argv[1], "gentree") == 0)
		return gentree(argv[2], n);
	if (strcmp(argv[1], "create") == 0 || strcmp(argv[1], "stat") == 0 ||
	    strcmp(argv[1], "unlink") == 0)
		return many_files(argv[1], argv[2], n);
	fprintf(stderr, "bench-fsops: unknown command %s\n", argv[1]);
	return 2;
}
