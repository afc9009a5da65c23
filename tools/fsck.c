/*
 * fsck.c — fsck.slatefs: check an unmounted image, read-only. Runs the
 * store's full verification (every checksum, the structure of every tree,
 * the free map against reachable pages), then the filesystem cross-checks
 * of sfs_check() (fs/check.c): nlink against dirents, dirents against
 * inodes and cookies, chunks against inodes and sizes, blob references,
 * xattr and orphan rows. Repair is not implemented yet.
 *
 *   fsck.slatefs [-n] [-f] [-v] [--no-orphans] IMAGE
 *
 * Exit status (as fsck(8)): 0 no problem, 4 problems found, 8 the check
 * could not run, 16 usage error.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "slatefs.h"

static int verbose;

static void log_store(void *ctx, int level, const char *msg)
{
	(void)ctx;
	if (level <= STORE_LOG_WARNING || verbose)
		fprintf(stderr, "fsck.slatefs: store: %s\n", msg);
}

static void problem(void *ctx, const char *msg)
{
	printf("%s: %s\n", (const char *)ctx, msg);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: fsck.slatefs [-n] [-f] [-v] [--no-orphans] IMAGE\n"
		   "  -n            check only, change nothing (the only mode so far)\n"
		   "  -f            accepted for fsck(8); the check is always complete\n"
		   "  -v            more output\n"
		   "  --no-orphans  count orphan inodes (normal after a crash, reclaimed at\n"
		   "                the next mount) as problems: for images unmounted cleanly\n");
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{"no-orphans", no_argument, NULL, 'O'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct store_options so = {.log = log_store};
	struct store_verify_report vr = {0};
	struct sfs_check_report cr = {0};
	store *s = NULL;
	store_txn *txn = NULL;
	int c, r, no_orphans = 0;

	while ((c = getopt_long(argc, argv, "nfvpayh", lo, NULL)) != -1) {
		switch (c) {
		case 'n':
		case 'f':
			break;
		case 'v':
			verbose = 1;
			break;
		case 'O':
			no_orphans = 1;
			break;
		case 'p':
		case 'a':
		case 'y':
			fprintf(stderr, "fsck.slatefs: repair is not implemented yet; run with -n\n");
			return 8;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 16;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return 16;
	}
	const char *img = argv[optind];
	r = store_open(img, STORE_RDONLY, &so, &s);
	if (r < 0) {
		if (r == -EBUSY)
			fprintf(stderr, "fsck.slatefs: %s is in use (mounted?); unmount it first\n",
				img);
		else if (r == -EINVAL)
			fprintf(stderr, "fsck.slatefs: %s is not a slatefs image\n", img);
		else
			fprintf(stderr, "fsck.slatefs: cannot open %s: %s\n", img, strerror(-r));
		return r == -EIO ? 4 : 8;
	}
	r = store_txn_begin(s, STORE_TXN_READ, &txn);
	if (r == 0)
		r = store_verify(txn, STORE_VERIFY_FULL, problem, NULL, (void *)img, &vr);
	if (r == 0)
		r = sfs_check(txn, problem, (void *)img, &cr);
	if (txn)
		store_txn_abort(txn);
	store_close(s);
	if (r < 0) {
		fprintf(stderr, "fsck.slatefs: the check of %s could not run: %s\n", img,
			strerror(-r));
		return 8;
	}
	uint64_t errors = vr.errors + cr.errors + (no_orphans ? cr.orphans : 0);
	printf("%s: store: %llu pages, %llu blobs (%llu bytes) checked, %llu problem(s)\n", img,
	       (unsigned long long)vr.pages, (unsigned long long)vr.blobs,
	       (unsigned long long)vr.blob_bytes, (unsigned long long)vr.errors);
	printf("%s: filesystem: %llu inodes, %llu directories, %llu entries, %llu chunks "
	       "(%llu bytes), %llu xattrs, %llu orphan(s), %llu problem(s)\n",
	       img, (unsigned long long)cr.inodes, (unsigned long long)cr.dirs,
	       (unsigned long long)cr.dirents, (unsigned long long)cr.chunks,
	       (unsigned long long)cr.data_bytes, (unsigned long long)cr.xattrs,
	       (unsigned long long)cr.orphans, (unsigned long long)cr.errors);
	if (cr.orphans)
		printf("%s: %llu orphan inode(s) will be reclaimed at the next mount\n", img,
		       (unsigned long long)cr.orphans);
	if (errors) {
		printf("%s: %llu problem(s) found\n", img, (unsigned long long)errors);
		return 4;
	}
	printf("%s: clean\n", img);
	return 0;
}
