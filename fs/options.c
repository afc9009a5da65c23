/*
 * options.c — the command line of the daemon: `slatefs IMAGE MOUNTPOINT
 * [-o OPTIONS] [-f] [-d] [-s]`. Our options are bound with a fuse_opt table;
 * the standard FUSE ones (allow_other, ro, fsname, max_read, ...) are passed
 * on to libfuse, which rejects what it does not know. A malformed value is an
 * error with a sentence saying which option, never a silent default.
 */
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "sfs.h"

struct raw {
	char *commit, *compress, *cache, *max_size;
	char *autocompact, *compact_threshold, *compact_rate;
	int help, version, nodp, nargs, have_fsname, have_subtype;
	struct sfs_options *opt;
};

enum {
	KEY_RO,
	KEY_RW,
	KEY_SYNC,
	KEY_ASYNC,
	KEY_ACL,
	KEY_NOACL,
	KEY_DP,
	KEY_NODP,
	KEY_ALLOW_OTHER,
	KEY_HELP,
	KEY_VERSION,
};

#define RAW(t, f) {t, offsetof(struct raw, f), 0}

static const struct fuse_opt table[] = {
	RAW("commit=%s", commit),
	RAW("compress=%s", compress),
	RAW("cache=%s", cache),
	RAW("max_size=%s", max_size),
	RAW("autocompact=%s", autocompact),
	RAW("compact_threshold=%s", compact_threshold),
	RAW("compact_rate=%s", compact_rate),
	FUSE_OPT_KEY("ro", KEY_RO),
	FUSE_OPT_KEY("rw", KEY_RW),
	FUSE_OPT_KEY("sync", KEY_SYNC),
	FUSE_OPT_KEY("async", KEY_ASYNC),
	FUSE_OPT_KEY("acl", KEY_ACL),
	FUSE_OPT_KEY("noacl", KEY_NOACL),
	FUSE_OPT_KEY("default_permissions", KEY_DP),
	FUSE_OPT_KEY("nodefault_permissions", KEY_NODP),
	FUSE_OPT_KEY("allow_other", KEY_ALLOW_OTHER),
	FUSE_OPT_KEY("-h", KEY_HELP),
	FUSE_OPT_KEY("--help", KEY_HELP),
	FUSE_OPT_KEY("-V", KEY_VERSION),
	FUSE_OPT_KEY("--version", KEY_VERSION),
	FUSE_OPT_END,
};

static int proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	struct raw *raw = data;
	struct sfs_options *opt = raw->opt;

	(void)outargs;
	switch (key) {
	case FUSE_OPT_KEY_NONOPT:
		raw->nargs++;
		if (raw->nargs == 1) {
			opt->image = strdup(arg);
			return 0;
		}
		if (raw->nargs == 2)
			return 1; /* the mount point, for fuse_parse_cmdline */
		fprintf(stderr, "slatefs: unexpected argument '%s'\n", arg);
		return -1;
	case FUSE_OPT_KEY_OPT:
		if (strncmp(arg, "fsname=", 7) == 0)
			raw->have_fsname = 1;
		if (strncmp(arg, "subtype=", 8) == 0)
			raw->have_subtype = 1;
		return 1; /* standard options: libfuse judges them */
	case KEY_RO:
		opt->ro = true;
		return 1;
	case KEY_RW:
		opt->ro = false;
		return 1;
	case KEY_SYNC:
		opt->sync = true;
		return 1;
	case KEY_ASYNC:
		opt->sync = false;
		return 1;
	case KEY_ACL:
		opt->acl = true;
		return 0;
	case KEY_NOACL:
		opt->acl = false;
		return 0;
	case KEY_DP:
		return 0; /* always on: added below */
	case KEY_NODP:
		raw->nodp = 1;
		return 0;
	case KEY_ALLOW_OTHER:
		opt->allow_other = true;
		return 1;
	case KEY_HELP:
		raw->help = 1;
		return 0;
	case KEY_VERSION:
		raw->version = 1;
		return 0;
	}
	return 1;
}

/* "64M", "1g", "4096", "2GiB" -> bytes (binary multiples). */
static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	unsigned shift = 0;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	switch (*end) {
	case 0:
		break;
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case 't': case 'T': shift = 40; end++; break;
	default:
		return -EINVAL;
	}
	if (shift && (strcmp(end, "iB") == 0 || strcmp(end, "B") == 0))
		end += strlen(end);
	if (*end)
		return -EINVAL;
	if (shift && v > (UINT64_MAX >> shift))
		return -ERANGE;
	*out = (uint64_t)v << shift;
	return 0;
}

static int parse_uint(const char *s, unsigned long long max, unsigned long long *out)
{
	char *end;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	*out = strtoull(s, &end, 10);
	if (errno || *end || *out > max)
		return -EINVAL;
	return 0;
}

static int bad(const char *name, const char *val, const char *want)
{
	fprintf(stderr, "slatefs: bad value '%s' for option %s (expected %s)\n", val, name, want);
	return -EINVAL;
}

static int convert(struct raw *raw, struct sfs_options *opt)
{
	unsigned long long v;

	if (raw->commit) {
		if (parse_uint(raw->commit, 86400, &v) < 0)
			return bad("commit", raw->commit, "seconds, 0..86400");
		opt->commit_s = v ? (unsigned)v : 5;
	}
	if (raw->compress) {
		if (strcmp(raw->compress, "lz4") == 0)
			opt->compress = SFS_COMPRESS_LZ4;
		else if (strcmp(raw->compress, "none") == 0)
			opt->compress = SFS_COMPRESS_NONE;
		else
			return bad("compress", raw->compress, "lz4 or none");
	}
	if (raw->cache) {
		if (parse_size(raw->cache, &opt->cache) < 0 || opt->cache < (1u << 20))
			return bad("cache", raw->cache, "a size of at least 1M, e.g. 64M");
	}
	if (raw->max_size) {
		if (parse_size(raw->max_size, &opt->max_size) < 0)
			return bad("max_size", raw->max_size, "a size such as 10G, or 0 for none");
		if (opt->max_size && opt->max_size < (1u << 20))
			return bad("max_size", raw->max_size, "at least 1M");
	}
	if (raw->autocompact) {
		if (strcmp(raw->autocompact, "on") == 0)
			opt->autocompact = true;
		else if (strcmp(raw->autocompact, "off") == 0)
			opt->autocompact = false;
		else
			return bad("autocompact", raw->autocompact, "on or off");
	}
	if (raw->compact_threshold) {
		char buf[32];
		size_t n = strlen(raw->compact_threshold);
		if (n == 0 || n >= sizeof(buf))
			return bad("compact_threshold", raw->compact_threshold, "a percentage 1..99");
		strcpy(buf, raw->compact_threshold);
		if (buf[n - 1] == '%')
			buf[n - 1] = 0;
		if (parse_uint(buf, 99, &v) < 0 || v < 1)
			return bad("compact_threshold", raw->compact_threshold,
				   "a percentage 1..99");
		opt->compact_threshold = (unsigned)v;
	}
	if (raw->compact_rate) {
		if (parse_uint(raw->compact_rate, 1000000, &v) < 0)
			return bad("compact_rate", raw->compact_rate, "MB/s, 0 for unlimited");
		opt->compact_rate = (uint64_t)v << 20;
	}
	return 0;
}

static void usage(const char *prog)
{
	printf("usage: %s IMAGE MOUNTPOINT [-o OPTIONS] [-f] [-d] [-s]\n"
	       "\n"
	       "Mount the slatefs filesystem kept in IMAGE (made by mkfs.slatefs).\n"
	       "\n"
	       "slatefs options:\n"
	       "    -o ro                  read-only\n"
	       "    -o sync                every operation is durable when it returns\n"
	       "    -o commit=SECONDS      commit interval (default 5)\n"
	       "    -o compress=lz4|none   compression of new data (default: as formatted)\n"
	       "    -o cache=SIZE          buffered dirty file data (default 64M)\n"
	       "    -o max_size=SIZE       limit of the image file size (default none)\n"
	       "    -o acl                 POSIX ACLs (system.posix_acl_* xattrs)\n"
	       "    -o allow_other         let other users in (needs user_allow_other)\n"
	       "    -o autocompact=on|off  background compaction (default on)\n"
	       "    -o compact_threshold=P start compaction at P%% free space (default 30)\n"
	       "    -o compact_rate=MB/s   compaction rate limit (default 64, 0 = unlimited)\n"
	       "    default_permissions is always on: the kernel checks permissions.\n"
	       "\n"
	       "    -f                     stay in the foreground, log to stderr\n"
	       "    -d                     debug output (implies -f)\n"
	       "    -s                     single-threaded\n"
	       "\n"
	       "FUSE options:\n",
	       prog);
	fuse_lowlevel_help();
}

int sfs_options_parse(int argc, char **argv, struct sfs_options *opt, struct fuse_args *args)
{
	struct raw raw = {.opt = opt};
	struct fuse_cmdline_opts cmd = {0};
	int r = -EINVAL;

	memset(opt, 0, sizeof(*opt));
	opt->commit_s = 5;
	opt->compress = -1;
	opt->cache = 64u << 20;
	opt->autocompact = true;
	opt->compact_threshold = 30;
	opt->compact_rate = 64ull << 20; /* MB/s; 0 = unlimited */
	*args = (struct fuse_args)FUSE_ARGS_INIT(argc, argv);

	if (fuse_opt_parse(args, &raw, table, proc) != 0)
		goto out;
	if (raw.help) {
		usage(argv[0]);
		r = 1;
		goto out;
	}
	if (raw.version) {
		printf("slatefs %s (libfuse %s)\n", SLATEFS_VERSION, fuse_pkgversion());
		r = 1;
		goto out;
	}
	if (raw.nodp) {
		fprintf(stderr, "slatefs: nodefault_permissions is not supported: the daemon "
				"leaves permission checks to the kernel\n");
		goto out;
	}
	if (convert(&raw, opt) < 0)
		goto out;
	if (fuse_parse_cmdline(args, &cmd) != 0)
		goto out;
	if (cmd.show_help || cmd.show_version) {
		usage(argv[0]);
		r = 1;
		goto out;
	}
	if (!opt->image || !cmd.mountpoint) {
		fprintf(stderr, "usage: %s IMAGE MOUNTPOINT [-o OPTIONS] [-f] [-d] (try --help)\n",
			argv[0]);
		goto out;
	}
	opt->mountpoint = cmd.mountpoint;
	cmd.mountpoint = NULL;
	opt->foreground = cmd.foreground || cmd.debug;
	opt->debug = cmd.debug;
	opt->singlethread = cmd.singlethread;
	opt->clone_fd = cmd.clone_fd;
	opt->max_idle_threads = cmd.max_idle_threads;
	opt->max_threads = cmd.max_threads;

	char *abs = realpath(opt->image, NULL);
	if (!abs) {
		fprintf(stderr, "slatefs: cannot open image %s: %s\n", opt->image, strerror(errno));
		goto out;
	}
	free(opt->image);
	opt->image = abs;

	if (fuse_opt_add_arg(args, "-odefault_permissions") != 0)
		goto out;
	if (!raw.have_subtype && fuse_opt_add_arg(args, "-osubtype=slatefs") != 0)
		goto out;
	if (!raw.have_fsname) {
		char *o = NULL;
		if (fuse_opt_add_opt_escaped(&o, abs) != 0)
			goto out;
		size_t n = strlen(o) + 16;
		char *a = malloc(n);
		if (!a) {
			free(o);
			goto out;
		}
		snprintf(a, n, "-ofsname=%s", o);
		free(o);
		r = fuse_opt_add_arg(args, a);
		free(a);
		if (r != 0) {
			r = -EINVAL;
			goto out;
		}
	}
	r = 0;
out:
	free(raw.commit);
	free(raw.compress);
	free(raw.cache);
	free(raw.max_size);
	free(raw.autocompact);
	free(raw.compact_threshold);
	free(raw.compact_rate);
	free(cmd.mountpoint);
	return r;
}

void sfs_options_free(struct sfs_options *opt)
{
	free(opt->image);
	free(opt->mountpoint);
	opt->image = opt->mountpoint = NULL;
}
