/*
 * mkfs.c — mkfs.slatefs: create an image holding an empty slatefs
 * filesystem. A thin program over sfs_format() (fs/format.c).
 *
 *   mkfs.slatefs [--page-size N] [--chunk-size N] [--compress lz4|none]
 *                [--label L] [--force] IMAGE
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "slatefs.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: mkfs.slatefs [--page-size N] [--chunk-size N] [--compress lz4|none]\n"
		   "                    [--label L] [--force] IMAGE\n"
		   "\n"
		   "  --page-size N    page size of the image, a power of two in 4096..65536\n"
		   "                   (default 4096)\n"
		   "  --chunk-size N   file data chunk size, a power of two in 4K..1M (default 64K)\n"
		   "  --compress C     lz4 (default) or none: compression of file data\n"
		   "  --label L        a label of up to %d bytes\n"
		   "  --force          overwrite IMAGE if it exists\n",
		SFS_LABEL_MAX);
}

/* "4096", "64k", "1M" */
static int parse_size(const char *s, uint32_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -1;
	if (*end == 'k' || *end == 'K')
		v <<= 10, end++;
	else if (*end == 'm' || *end == 'M')
		v <<= 20, end++;
	if (*end || v > UINT32_MAX)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

static void log_store(void *ctx, int level, const char *msg)
{
	(void)ctx;
	(void)level;
	fprintf(stderr, "mkfs.slatefs: %s\n", msg);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{"page-size", required_argument, NULL, 'p'},
		{"chunk-size", required_argument, NULL, 'c'},
		{"compress", required_argument, NULL, 'z'},
		{"label", required_argument, NULL, 'L'},
		{"force", no_argument, NULL, 'f'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	struct sfs_format_opts o = {.compress = SFS_COMPRESS_LZ4, .log = log_store};
	int c, r;

	while ((c = getopt_long(argc, argv, "fhL:V", lo, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (parse_size(optarg, &o.page_size) < 0 || o.page_size < 4096 ||
			    o.page_size > 65536 || (o.page_size & (o.page_size - 1))) {
				fprintf(stderr, "mkfs.slatefs: bad page size '%s': a power of two "
						"in 4096..65536\n",
					optarg);
				return 1;
			}
			break;
		case 'c':
			if (parse_size(optarg, &o.chunk_size) < 0 ||
			    o.chunk_size < SFS_MIN_CHUNK || o.chunk_size > SFS_MAX_CHUNK ||
			    (o.chunk_size & (o.chunk_size - 1))) {
				fprintf(stderr, "mkfs.slatefs: bad chunk size '%s': a power of two "
						"in 4K..1M\n",
					optarg);
				return 1;
			}
			break;
		case 'z':
			if (strcmp(optarg, "lz4") == 0)
				o.compress = SFS_COMPRESS_LZ4;
			else if (strcmp(optarg, "none") == 0)
				o.compress = SFS_COMPRESS_NONE;
			else {
				fprintf(stderr, "mkfs.slatefs: bad compression '%s': lz4 or none\n",
					optarg);
				return 1;
			}
			break;
		case 'L':
			if (strlen(optarg) > SFS_LABEL_MAX) {
				fprintf(stderr, "mkfs.slatefs: label longer than %d bytes\n",
					SFS_LABEL_MAX);
				return 1;
			}
			o.label = optarg;
			break;
		case 'f':
			o.force = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("mkfs.slatefs %s\n", SLATEFS_VERSION);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return 1;
	}
	const char *img = argv[optind];
	if (!o.force && access(img, F_OK) == 0) {
		fprintf(stderr, "mkfs.slatefs: %s exists; use --force to overwrite it\n", img);
		return 1;
	}
	o.root_uid = getuid();
	o.root_gid = getgid();
	r = sfs_format(img, &o);
	if (r == -EEXIST) {
		fprintf(stderr, "mkfs.slatefs: %s exists; use --force to overwrite it\n", img);
		return 1;
	}
	if (r == -EBUSY) {
		fprintf(stderr, "mkfs.slatefs: %s is in use (mounted?)\n", img);
		return 1;
	}
	if (r < 0) {
		fprintf(stderr, "mkfs.slatefs: cannot create %s: %s\n", img, strerror(-r));
		return 1;
	}
	printf("made slatefs filesystem %s: page size %u, chunk size %u, compression %s%s%s\n",
	       img, o.page_size ? o.page_size : 4096,
	       o.chunk_size ? o.chunk_size : SFS_DEFAULT_CHUNK,
	       o.compress == SFS_COMPRESS_LZ4 ? "lz4" : "none", o.label ? ", label " : "",
	       o.label ? o.label : "");
	return 0;
}
