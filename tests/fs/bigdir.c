/*
 * bigdir.c — one big directory read while it changes.
 *
 * usage: bigdir [-n N] [-S SEED] DIR
 *
 * Creates N entries (default 100,000 * SLATEFS_TEST_SCALE) in DIR, then
 * reads the directory with readdir while entries are unlinked: a child
 * process unlinks a fixed set (every 7th entry) concurrently, and the
 * reader itself, after every 1,000 entries it reads, unlinks 300 random
 * entries and creates 50 new ones. Checks: every entry that was never
 * unlinked is seen exactly once; no name is seen twice; no unknown name
 * appears; "." and ".." once each. Then a second full read must list
 * exactly the survivors and the new entries, and stat must agree.
 */
#include "../lib/testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *dir;
static unsigned n;
static int problems;

#define PROBLEM(...)                                                                   \
	do {                                                                           \
		if (problems++ < 20)                                                   \
			fprintf(stderr, "bigdir: " __VA_ARGS__);                        \
	} while (0)

static void name_of(char *buf, size_t cap, char kind, unsigned i)
{
	snprintf(buf, cap, "%s/%c%07u", dir, kind, i);
}

static bool in_child_set(unsigned i)
{
	return i % 7 == 3;
}

int main(int argc, char **argv)
{
	uint64_t seed = 0;
	bool have_seed = false;
	char path[4096];
	int opt;

	n = 100000 * tu_scale();
	while ((opt = getopt(argc, argv, "n:S:")) != -1) {
		if (opt == 'n') {
			n = (unsigned)strtoul(optarg, NULL, 0);
		} else if (opt == 'S') {
			seed = strtoull(optarg, NULL, 0);
			have_seed = true;
		} else {
			fprintf(stderr, "usage: bigdir [-n N] [-S SEED] DIR\n");
			return 2;
		}
	}
	if (optind + 1 != argc || n < 1000 || n > 9999999) {
		fprintf(stderr, "bigdir: one DIR expected, 1000 <= N <= 9999999\n");
		return 2;
	}
	dir = argv[optind];
	if (!have_seed && getrandom(&seed, sizeof(seed), 0) != sizeof(seed))
		seed = (uint64_t)getpid();
	printf("bigdir: seed %" PRIu64 ", %u entries in %s\n", seed, n, dir);
	fflush(stdout);
	struct tu_rng rng;
	tu_rng_seed(&rng, seed);

	double t0 = tu_now();
	for (unsigned i = 0; i < n; i++) {
		name_of(path, sizeof(path), 'e', i);
		if (mknod(path, S_IFREG | 0644, 0) < 0) {
			fprintf(stderr, "bigdir: mknod %s: %s\n", path, strerror(errno));
			return 1;
		}
	}
	printf("bigdir: created %u entries in %.1f s\n", n, tu_now() - t0);

	uint8_t *seen = calloc(n, 1), *removed = calloc(n, 1);
	unsigned nadd_max = n / 1000 * 50 + 50, nadd = 0;
	uint8_t *seen_add = calloc(nadd_max, 1);
	if (!seen || !removed || !seen_add)
		return 1;

	DIR *d = opendir(dir);
	if (!d) {
		fprintf(stderr, "bigdir: opendir: %s\n", strerror(errno));
		return 1;
	}
	/* The concurrent unlinker. */
	fflush(stdout);
	pid_t child = fork();
	if (child == 0) {
		for (unsigned i = 0; i < n; i++) {
			if (!in_child_set(i))
				continue;
			name_of(path, sizeof(path), 'e', i);
			if (unlink(path) < 0 && errno != ENOENT) {
				fprintf(stderr, "bigdir: child unlink %s: %s\n", path, strerror(errno));
				_exit(1);
			}
		}
		_exit(0);
	}
	if (child < 0)
		return 1;

	struct dirent *de;
	unsigned nread = 0, dots = 0, unlinked = 0;
	t0 = tu_now();
	while ((errno = 0, de = readdir(d))) {
		char kind;
		unsigned i;
		char extra;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) {
			dots++;
			continue;
		}
		if (sscanf(de->d_name, "%c%7u%c", &kind, &i, &extra) != 2 ||
		    strlen(de->d_name) != 8) {
			PROBLEM("unknown entry \"%s\"\n", de->d_name);
			continue;
		}
		if (kind == 'e' && i < n) {
			if (seen[i]++)
				PROBLEM("%s seen twice\n", de->d_name);
		} else if (kind == 'a' && i < nadd) {
			if (seen_add[i]++)
				PROBLEM("%s seen twice\n", de->d_name);
		} else {
			PROBLEM("unknown entry \"%s\"\n", de->d_name);
			continue;
		}
		if (++nread % 1000 == 0) {
			for (int k = 0; k < 300; k++) {
				unsigned j = (unsigned)tu_rng_below(&rng, n);
				if (removed[j])
					continue;
				name_of(path, sizeof(path), 'e', j);
				if (unlink(path) < 0 && errno != ENOENT) {
					PROBLEM("unlink %s: %s\n", path, strerror(errno));
					continue;
				}
				removed[j] = 1;
				unlinked++;
			}
			for (int k = 0; k < 50 && nadd < nadd_max; k++) {
				name_of(path, sizeof(path), 'a', nadd++);
				if (mknod(path, S_IFREG | 0644, 0) < 0)
					PROBLEM("mknod %s: %s\n", path, strerror(errno));
			}
		}
	}
	if (errno)
		PROBLEM("readdir: %s\n", strerror(errno));
	closedir(d);
	int status;
	waitpid(child, &status, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		PROBLEM("the unlinking child failed\n");
	if (dots != 2)
		PROBLEM(". and .. seen %u times\n", dots);
	unsigned survivors = 0;
	for (unsigned i = 0; i < n; i++) {
		if (in_child_set(i))
			removed[i] = 1;
		if (!removed[i]) {
			survivors++;
			if (seen[i] != 1)
				PROBLEM("e%07u was never unlinked but seen %u times\n", i, seen[i]);
		}
	}
	printf("bigdir: read %u entries in %.1f s while %u were unlinked by the reader and "
	       "every 7th by a child; %u new entries\n",
	       nread, tu_now() - t0, unlinked, nadd);

	/* A second full read lists exactly what is left. */
	memset(seen, 0, n);
	memset(seen_add, 0, nadd_max);
	unsigned total = 0;
	d = opendir(dir);
	while (d && (errno = 0, de = readdir(d))) {
		char kind;
		unsigned i;
		if (de->d_name[0] == '.')
			continue;
		total++;
		if (sscanf(de->d_name, "%c%7u", &kind, &i) == 2 && kind == 'e' && i < n)
			seen[i]++;
		else if (sscanf(de->d_name, "%c%7u", &kind, &i) == 2 && kind == 'a' && i < nadd)
			seen_add[i]++;
		else
			PROBLEM("unknown entry \"%s\" in the second read\n", de->d_name);
	}
	if (d)
		closedir(d);
	for (unsigned i = 0; i < n; i++)
		if (seen[i] != !removed[i])
			PROBLEM("second read: e%07u seen %u times, expected %u\n", i, seen[i],
				!removed[i]);
	for (unsigned i = 0; i < nadd; i++)
		if (seen_add[i] != 1)
			PROBLEM("second read: a%07u seen %u times\n", i, seen_add[i]);
	if (total != survivors + nadd)
		PROBLEM("second read: %u entries, expected %u\n", total, survivors + nadd);
	/* Lookups agree with the listing. */
	for (unsigned i = 0; i < n; i += 97) {
		struct stat st;
		name_of(path, sizeof(path), 'e', i);
		int rc = lstat(path, &st);
		if ((rc == 0) != !removed[i])
			PROBLEM("lstat %s: %s, but it was %s\n", path, rc ? strerror(errno) : "found",
				removed[i] ? "removed" : "never removed");
	}
	printf("bigdir: %u survivors + %u new entries, %d problems\n", survivors, nadd, problems);
	free(seen);
	free(removed);
	free(seen_add);
	return problems ? 1 : 0;
}
