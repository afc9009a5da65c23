/*
 * fsx.c — a random-operation file verifier in the spirit of fsx: a long
 * random sequence of read, write, truncate, fallocate (default, keep-size,
 * punch-hole, zero-range), mmap read and write, copy_file_range, fsync,
 * cache drops and reopens on one file, each checked byte for byte against
 * an in-memory model of what the file must hold.
 *
 * usage: fsx [-d] [-N OPS] [-S SEED] [-l MAXLEN] [-s SAVE] FILE
 *   -d       O_DIRECT mode: reads and writes go through an O_DIRECT fd, at
 *            offsets and lengths aligned to 4096 (other operations are not;
 *            copies go through a second, buffered fd)
 *   -N OPS   number of operations (default 100000 * SLATEFS_TEST_SCALE)
 *   -S SEED  seed (default: random; always printed)
 *   -l LEN   largest file size (default 1 MiB + 12345)
 *   -s SAVE  at the end write the model's bytes to SAVE (to compare the
 *            file with after an unmount and remount)
 *   -x KINDS leave out these operations (comma-separated names as printed,
 *            e.g. -x punch,zero,zero-keep), to narrow a failure down
 * On a mismatch it prints the seed, the operation, the first differing
 * offset with bytes around it, the operation that last wrote there, and the
 * log of the last operations; exit 1.
 */
#include "../lib/testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/falloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

enum op_kind {
	OP_READ,
	OP_WRITE,
	OP_TRUNCATE,
	OP_FALLOC,
	OP_FALLOC_KEEP,
	OP_PUNCH,
	OP_ZERO,
	OP_ZERO_KEEP,
	OP_MAPREAD,
	OP_MAPWRITE,
	OP_COPY,
	OP_FSYNC,
	OP_DROP,
	OP_REOPEN,
	OP_COUNT
};

static const char *const op_names[OP_COUNT] = {
	"read", "write", "truncate", "falloc", "falloc-keep", "punch", "zero", "zero-keep",
	"mapread", "mapwrite", "copy", "fsync", "drop-cache", "reopen",
};

/* Relative weights of the operations (-x sets some to 0). */
static unsigned op_weight[OP_COUNT] = {
	[OP_READ] = 20,    [OP_WRITE] = 25,    [OP_TRUNCATE] = 5, [OP_FALLOC] = 3,
	[OP_FALLOC_KEEP] = 3, [OP_PUNCH] = 6,   [OP_ZERO] = 4,     [OP_ZERO_KEEP] = 3,
	[OP_MAPREAD] = 8,  [OP_MAPWRITE] = 8,  [OP_COPY] = 8,     [OP_FSYNC] = 1,
	[OP_DROP] = 3,     [OP_REOPEN] = 1,
};

struct logent {
	uint64_t n;
	enum op_kind kind;
	uint64_t off, len, off2; /* off2: copy destination */
	uint64_t size_after;
};

enum { LOGLEN = 64, BLK = 512, ALIGN = 4096 };

static struct logent oplog[LOGLEN];
static uint64_t opnum;
static uint64_t seed;
static const char *path;
static bool direct;
static int fd = -1;
static int fd_copy = -1; /* O_DIRECT mode: a buffered fd for copy_file_range */
static uint8_t *model;   /* what the file must hold */
static uint64_t msize;   /* its size */
static uint64_t maxlen;
static uint32_t *writer; /* per BLK block: the op that last changed it */
static uint8_t *buf;
static struct tu_rng rng;

static void log_op(enum op_kind k, uint64_t off, uint64_t len, uint64_t off2)
{
	struct logent *e = &oplog[opnum % LOGLEN];

	e->n = opnum;
	e->kind = k;
	e->off = off;
	e->len = len;
	e->off2 = off2;
	e->size_after = msize;
}

static void dump_log(void)
{
	uint64_t first = opnum >= LOGLEN ? opnum - LOGLEN + 1 : 0;

	fprintf(stderr, "last operations (op: kind off len [dest] -> size):\n");
	for (uint64_t i = first; i <= opnum; i++) {
		struct logent *e = &oplog[i % LOGLEN];
		if (e->n != i)
			continue;
		fprintf(stderr, "  %8" PRIu64 ": %-11s 0x%" PRIx64 " +0x%" PRIx64, e->n,
			op_names[e->kind], e->off, e->len);
		if (e->kind == OP_COPY)
			fprintf(stderr, " -> 0x%" PRIx64, e->off2);
		fprintf(stderr, "  size 0x%" PRIx64 "\n", e->size_after);
	}
}

static _Noreturn void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static _Noreturn void die(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "fsx: FAIL at op %" PRIu64 " (seed %" PRIu64 ", %s mode): ", opnum, seed,
		direct ? "O_DIRECT" : "buffered");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	dump_log();
	fprintf(stderr, "rerun: fsx %s-S %" PRIu64 " -N %" PRIu64 " -l %" PRIu64 " FILE\n",
		direct ? "-d " : "", seed, opnum + 1, maxlen);
	exit(1);
}

/* Mark [off, off+len) as last changed by the current op. */
static void mark(uint64_t off, uint64_t len)
{
	for (uint64_t b = off / BLK; len && b <= (off + len - 1) / BLK; b++)
		writer[b] = (uint32_t)opnum;
}

/* got (len bytes read at off) must equal the model. */
static void compare(const uint8_t *got, uint64_t off, uint64_t len, const char *what)
{
	long long d = tu_memdiff(got, model + off, len);

	if (d < 0)
		return;
	uint64_t at = off + (uint64_t)d;
	fprintf(stderr, "%s: mismatch at offset 0x%" PRIx64 " (%" PRIu64 "), file size 0x%" PRIx64
			"; block last changed by op %u\n",
		what, at, at, msize, writer[at / BLK]);
	uint64_t from = at >= 8 ? at - 8 : 0, to = at + 24 < off + len ? at + 24 : off + len;
	fprintf(stderr, "  offset            got  expected\n");
	for (uint64_t i = from; i < to; i++) {
		if (i < off)
			continue;
		fprintf(stderr, "  0x%-14" PRIx64 "  %02x   %02x%s\n", i, got[i - off], model[i],
			got[i - off] != model[i] ? "  <" : "");
	}
	die("%s: data differs from the model", what);
}

static void check_size(const char *what)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		die("fstat: %s", strerror(errno));
	if ((uint64_t)st.st_size != msize)
		die("%s: file size 0x%llx, model 0x%" PRIx64, what, (unsigned long long)st.st_size,
		    msize);
}

static void do_open(void)
{
	fd = open(path, O_RDWR | O_CREAT | (direct ? O_DIRECT : 0), 0644);
	if (fd < 0)
		die("open %s: %s", path, strerror(errno));
	/* Unaligned copies through an O_DIRECT fd are EINVAL on some filesystems. */
	if (fd_copy >= 0)
		close(fd_copy);
	fd_copy = direct ? open(path, O_RDWR) : dup(fd);
	if (fd_copy < 0)
		die("open %s: %s", path, strerror(errno));
}

/* pread exactly len bytes (fewer only at EOF); returns the count. */
static uint64_t read_all(uint8_t *dst, uint64_t off, uint64_t len)
{
	uint64_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, dst + done, len - done, (off_t)(off + done));
		if (n < 0)
			die("pread 0x%" PRIx64 " +0x%" PRIx64 ": %s", off + done, len - done,
			    strerror(errno));
		if (n == 0)
			break;
		done += (uint64_t)n;
	}
	return done;
}

static void check_all(const char *what)
{
	uint64_t got;

	check_size(what);
	if (direct) {
		/* Whole aligned blocks; the tail of the last one is short. */
		uint64_t len = (msize + ALIGN - 1) / ALIGN * ALIGN;
		got = read_all(buf, 0, len);
	} else {
		got = read_all(buf, 0, msize);
	}
	if (got != msize)
		die("%s: read 0x%" PRIx64 " bytes of a 0x%" PRIx64 "-byte file", what, got, msize);
	compare(buf, 0, msize, what);
}

/* A random length: often tiny, mostly up to 64 KiB, sometimes larger. */
static uint64_t rand_len(void)
{
	unsigned r = (unsigned)tu_rng_below(&rng, 100);

	if (r < 25)
		return tu_rng_range(&rng, 1, 200);
	if (r < 85)
		return tu_rng_range(&rng, 1, 65536);
	return tu_rng_range(&rng, 1, 300000);
}

/* A random [off, off+len) inside [0, limit): limit > 0. */
static void rand_range(uint64_t limit, uint64_t *off, uint64_t *len, bool aligned)
{
	uint64_t l = rand_len();

	if (aligned) {
		uint64_t blocks = limit / ALIGN;
		limit = blocks * ALIGN;
		if (blocks == 0) {
			*off = 0;
			*len = 0;
			return;
		}
		*off = tu_rng_below(&rng, blocks) * ALIGN;
		l = (l + ALIGN - 1) / ALIGN * ALIGN;
	} else {
		*off = tu_rng_below(&rng, limit);
	}
	if (l > limit - *off)
		l = limit - *off;
	*len = l;
}

static void op_read(void)
{
	uint64_t off, len;

	if (msize == 0) {
		if (read_all(buf, 0, direct ? ALIGN : 16) != 0)
			die("read of an empty file returned data");
		log_op(OP_READ, 0, 0, 0);
		return;
	}
	rand_range(direct ? (msize + ALIGN - 1) / ALIGN * ALIGN : msize, &off, &len, direct);
	log_op(OP_READ, off, len, 0);
	uint64_t got = read_all(buf, off, len);
	uint64_t want = off + len > msize ? msize - off : len;
	if (off >= msize)
		want = 0;
	if (got != want)
		die("read 0x%" PRIx64 " +0x%" PRIx64 ": got 0x%" PRIx64 " bytes, expected 0x%" PRIx64,
		    off, len, got, want);
	compare(buf, off, got, "read");
}

static void op_write(void)
{
	uint64_t off, len;

	rand_range(maxlen, &off, &len, direct);
	if (len == 0)
		return;
	tu_pattern(buf, len, seed ^ (opnum * 0x9e3779b97f4a7c15ULL), off);
	uint64_t done = 0;
	while (done < len) {
		ssize_t n = pwrite(fd, buf + done, len - done, (off_t)(off + done));
		if (n <= 0)
			die("pwrite 0x%" PRIx64 " +0x%" PRIx64 ": %s", off + done, len - done,
			    n < 0 ? strerror(errno) : "wrote nothing");
		done += (uint64_t)n;
	}
	memcpy(model + off, buf, len);
	mark(off, len);
	if (off + len > msize)
		msize = off + len;
	log_op(OP_WRITE, off, len, 0);
}

/* Grow or shrink the model (the bytes past its size are always zero). */
static void set_size(uint64_t size)
{
	if (size > msize)
		mark(msize, size - msize);
	msize = size;
}

static void op_truncate(void)
{
	uint64_t size = tu_rng_chance(&rng, 1, 5) ? tu_rng_below(&rng, 3000)
						  : tu_rng_below(&rng, maxlen + 1);

	if (ftruncate(fd, (off_t)size) < 0)
		die("ftruncate 0x%" PRIx64 ": %s", size, strerror(errno));
	if (size < msize) {
		/* Keep the model zero past its size: a later extension reads zeros. */
		memset(model + size, 0, msize - size);
		mark(size, msize - size);
	}
	set_size(size);
	log_op(OP_TRUNCATE, size, 0, 0);
}

static void op_fallocate(enum op_kind k)
{
	static const int modes[OP_COUNT] = {
		[OP_FALLOC] = 0,
		[OP_FALLOC_KEEP] = FALLOC_FL_KEEP_SIZE,
		[OP_PUNCH] = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		[OP_ZERO] = FALLOC_FL_ZERO_RANGE,
		[OP_ZERO_KEEP] = FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
	};
	uint64_t off, len;

	rand_range(maxlen, &off, &len, false);
	if (len == 0)
		return;
	if (fallocate(fd, modes[k], (off_t)off, (off_t)len) < 0)
		die("fallocate(%s) 0x%" PRIx64 " +0x%" PRIx64 ": %s", op_names[k], off, len,
		    strerror(errno));
	uint64_t end = off + len;
	switch (k) {
	case OP_FALLOC:
		if (end > msize)
			set_size(end);
		break;
	case OP_FALLOC_KEEP:
		break;
	case OP_PUNCH:
	case OP_ZERO_KEEP:
		if (off < msize) {
			uint64_t e = end < msize ? end : msize;
			memset(model + off, 0, e - off);
			mark(off, e - off);
		}
		break;
	case OP_ZERO:
		if (end > msize)
			set_size(end);
		memset(model + off, 0, len);
		mark(off, len);
		break;
	default:
		break;
	}
	log_op(k, off, len, 0);
}

static void op_mapread(void)
{
	uint64_t off, len;

	if (msize == 0)
		return;
	rand_range(msize, &off, &len, false);
	uint64_t pg = off / 4096 * 4096;
	size_t mlen = (size_t)(off + len - pg);
	uint8_t *m = mmap(NULL, mlen, PROT_READ, MAP_SHARED, fd, (off_t)pg);
	if (m == MAP_FAILED)
		die("mmap read 0x%" PRIx64 " +0x%zx: %s", pg, mlen, strerror(errno));
	log_op(OP_MAPREAD, off, len, 0);
	memcpy(buf, m + (off - pg), len);
	munmap(m, mlen);
	compare(buf, off, len, "mapread");
}

static void op_mapwrite(void)
{
	uint64_t off, len;

	rand_range(maxlen, &off, &len, false);
	if (len == 0)
		return;
	/* A map cannot extend the file: grow it first, as fsx does. */
	if (off + len > msize) {
		if (ftruncate(fd, (off_t)(off + len)) < 0)
			die("ftruncate before mapwrite: %s", strerror(errno));
		set_size(off + len);
	}
	uint64_t pg = off / 4096 * 4096;
	size_t mlen = (size_t)(off + len - pg);
	uint8_t *m = mmap(NULL, mlen, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)pg);
	if (m == MAP_FAILED)
		die("mmap write 0x%" PRIx64 " +0x%zx: %s", pg, mlen, strerror(errno));
	tu_pattern(m + (off - pg), len, seed ^ (opnum * 0x9e3779b97f4a7c15ULL), off);
	if (tu_rng_chance(&rng, 1, 2) && msync(m, mlen, MS_SYNC) < 0)
		die("msync: %s", strerror(errno));
	memcpy(model + off, m + (off - pg), len);
	munmap(m, mlen);
	mark(off, len);
	log_op(OP_MAPWRITE, off, len, 0);
}

static void op_copy(void)
{
	uint64_t src, len, dst;

	if (msize == 0)
		return;
	rand_range(msize, &src, &len, false);
	/* Sometimes whole aligned chunks (blob sharing), sometimes anything. */
	if (tu_rng_chance(&rng, 1, 3)) {
		src = src / 65536 * 65536;
		len = (len + 65535) / 65536 * 65536;
	}
	dst = tu_rng_below(&rng, maxlen);
	if (tu_rng_chance(&rng, 1, 3))
		dst = dst / 65536 * 65536;
	if (dst + len > maxlen)
		len = maxlen - dst;
	if (len == 0)
		return;
	/* The source and destination ranges of one file must not overlap. */
	if (dst < src + len && src < dst + len)
		return;
	uint64_t want = src >= msize ? 0 : (src + len > msize ? msize - src : len);
	off_t in = (off_t)src, out = (off_t)dst;
	uint64_t done = 0;
	while (done < want) {
		ssize_t n = copy_file_range(fd_copy, &in, fd_copy, &out, len - done, 0);
		if (n < 0)
			die("copy_file_range 0x%" PRIx64 " +0x%" PRIx64 " -> 0x%" PRIx64 ": %s", src,
			    len, dst, strerror(errno));
		if (n == 0)
			die("copy_file_range 0x%" PRIx64 " -> 0x%" PRIx64 ": copied 0x%" PRIx64
			    " of 0x%" PRIx64 " bytes",
			    src, dst, done, want);
		done += (uint64_t)n;
	}
	if (dst + want > msize)
		set_size(dst + want);
	memmove(model + dst, model + src, want);
	mark(dst, want);
	log_op(OP_COPY, src, want, dst);
}

static void op_misc(enum op_kind k)
{
	switch (k) {
	case OP_FSYNC:
		if ((tu_rng_chance(&rng, 1, 2) ? fsync(fd) : fdatasync(fd)) < 0)
			die("fsync: %s", strerror(errno));
		break;
	case OP_DROP:
		/* Write dirty pages back (no fsync: no durable commit) and drop
		 * them: the next reads come from the daemon. */
		if (sync_file_range(fd, 0, 0,
				    SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
					    SYNC_FILE_RANGE_WAIT_AFTER) < 0)
			die("sync_file_range: %s", strerror(errno));
		if (posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) != 0)
			die("posix_fadvise: %s", strerror(errno));
		break;
	case OP_REOPEN:
		if (close(fd) < 0)
			die("close: %s", strerror(errno));
		do_open();
		check_size("reopen");
		break;
	default:
		break;
	}
	log_op(k, 0, 0, 0);
}

static enum op_kind pick(void)
{
	unsigned total = 0, r;

	for (int k = 0; k < OP_COUNT; k++)
		total += op_weight[k];
	r = (unsigned)tu_rng_below(&rng, total);
	for (int k = 0; k < OP_COUNT; k++) {
		if (r < op_weight[k])
			return (enum op_kind)k;
		r -= op_weight[k];
	}
	return OP_READ;
}

int main(int argc, char **argv)
{
	uint64_t nops = 100000ULL * tu_scale(), counts[OP_COUNT] = {0};
	const char *save = NULL;
	bool have_seed = false;
	int opt;

	maxlen = 1024 * 1024 + 12345;
	while ((opt = getopt(argc, argv, "dN:S:l:s:x:")) != -1) {
		switch (opt) {
		case 'd':
			direct = true;
			break;
		case 'N':
			nops = strtoull(optarg, NULL, 0);
			break;
		case 'S':
			seed = strtoull(optarg, NULL, 0);
			have_seed = true;
			break;
		case 'l':
			maxlen = strtoull(optarg, NULL, 0);
			break;
		case 's':
			save = optarg;
			break;
		case 'x':
			for (char *t = strtok(optarg, ","); t; t = strtok(NULL, ",")) {
				int k = 0;
				while (k < OP_COUNT && strcmp(op_names[k], t) != 0)
					k++;
				if (k == OP_COUNT || k == OP_READ) {
					fprintf(stderr, "fsx: cannot leave out \"%s\"\n", t);
					return 2;
				}
				op_weight[k] = 0;
			}
			break;
		default:
			fprintf(stderr, "usage: fsx [-d] [-N OPS] [-S SEED] [-l MAXLEN] [-s SAVE] "
					"[-x KINDS] FILE\n");
			return 2;
		}
	}
	if (optind + 1 != argc || maxlen < 2 * ALIGN) {
		fprintf(stderr, "fsx: one FILE expected (and MAXLEN >= 8192)\n");
		return 2;
	}
	path = argv[optind];
	if (!have_seed && getrandom(&seed, sizeof(seed), 0) != sizeof(seed))
		seed = (uint64_t)getpid() * 2654435761u;
	printf("fsx: seed %" PRIu64 ", %" PRIu64 " ops, max length %" PRIu64 ", %s mode, %s\n",
	       seed, nops, maxlen, direct ? "O_DIRECT" : "buffered", path);
	fflush(stdout);
	tu_rng_seed(&rng, seed);
	/* Room for the largest op past the largest size. */
	size_t cap = (size_t)maxlen + 2 * ALIGN;
	model = calloc(1, cap);
	writer = calloc(cap / BLK + 1, sizeof(*writer));
	if (posix_memalign((void **)&buf, ALIGN, cap) || !model || !writer) {
		fprintf(stderr, "fsx: out of memory\n");
		return 1;
	}
	unlink(path);
	do_open();
	double start = tu_now();
	for (opnum = 0; opnum < nops; opnum++) {
		enum op_kind k = pick();
		counts[k]++;
		switch (k) {
		case OP_READ:
			op_read();
			break;
		case OP_WRITE:
			op_write();
			break;
		case OP_TRUNCATE:
			op_truncate();
			break;
		case OP_FALLOC:
		case OP_FALLOC_KEEP:
		case OP_PUNCH:
		case OP_ZERO:
		case OP_ZERO_KEEP:
			op_fallocate(k);
			break;
		case OP_MAPREAD:
			op_mapread();
			break;
		case OP_MAPWRITE:
			op_mapwrite();
			break;
		case OP_COPY:
			op_copy();
			break;
		default:
			op_misc(k);
			break;
		}
		if (opnum % 1000 == 999)
			check_all("periodic check");
	}
	check_all("final check");
	if (fsync(fd) < 0 || close(fd) < 0)
		die("fsync/close at the end: %s", strerror(errno));
	fd = -1;
	do_open();
	check_all("after reopen");
	close(fd);
	close(fd_copy);
	if (save && tu_write_file(save, model, msize) < 0) {
		fprintf(stderr, "fsx: cannot write %s\n", save);
		return 1;
	}
	printf("fsx: %" PRIu64 " ops passed in %.1f s, final size %" PRIu64 "; ops:", nops,
	       tu_now() - start, msize);
	for (int k = 0; k < OP_COUNT; k++)
		printf(" %s %" PRIu64, op_names[k], counts[k]);
	printf("\n");
	free(model);
	free(writer);
	free(buf);
	return 0;
}
