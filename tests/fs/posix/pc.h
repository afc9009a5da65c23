/*
 * pc.h — the POSIX behaviour checker's small framework: the test table,
 * errno-aware CHECK macros that count failures without stopping the test,
 * and file helpers shared by the test groups (the other files of tests/fs/posix/).
 *
 * Each test runs in a forked child, in a fresh directory of its own under
 * the directory given on the command line, with umask 022. A check that
 * fails prints file:line, the expression, and what came back; the test
 * fails if any check failed.
 */
#ifndef SLATEFS_TESTS_PC_H
#define SLATEFS_TESTS_PC_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

/** What a test needs to run. */
enum pc_flags {
	PC_ROOT = 1 << 0,    /**< must run as root */
	PC_NONROOT = 1 << 1, /**< must run as an unprivileged user */
	PC_XUSER = 1 << 2,   /**< root, and switches to the test users itself */
	PC_FUSE = 1 << 3,    /**< behaviour that only a FUSE mount has */
	PC_SLATEFS = 1 << 4, /**< behaviour of slatefs itself (not of ext4) */
	PC_EXPLICIT = 1 << 5, /**< only when named on the command line */
	PC_INPLACE = 1 << 6,  /**< runs in DIR itself, not in a new subdirectory */
	PC_BIGXATTR = 1 << 7, /**< xattrs past 4 KiB per inode (not on ext4, nor
	                           bindfs over it) */
};

struct pc_test {
	const char *name;
	void (*fn)(void);
	unsigned flags;
};

/** The groups' tables, each ended by a {NULL} entry. */
extern const struct pc_test pc_files_tests[];
extern const struct pc_test pc_attrs_tests[];
extern const struct pc_test pc_dirs_tests[];
extern const struct pc_test pc_links_tests[];
extern const struct pc_test pc_rename_tests[];
extern const struct pc_test pc_special_tests[];
extern const struct pc_test pc_xattr_tests[];
extern const struct pc_test pc_alloc_tests[];
extern const struct pc_test pc_locks_tests[];
extern const struct pc_test pc_misc_tests[];
extern const struct pc_test pc_names_tests[];
extern const struct pc_test pc_perm_tests[];
extern const struct pc_test pc_rofs_tests[];
extern const struct pc_test pc_big_tests[];

/** Ids of the two unprivileged users (-u), for PC_XUSER tests. */
extern uid_t pc_uid, pc_uid2;
extern gid_t pc_gid, pc_gid2;
/** Target name given with -t (slatefs, bindfs, native = ext4, tmpfs). */
extern const char *pc_target;
/** Failed checks in this test so far. */
extern int pc_failures;

void pc_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

long long pc_ok_(long long rc, const char *expr, const char *file, int line);
bool pc_err_(long long rc, int e1, int e2, const char *expr, const char *file, int line);

/** expr (a system call returning -1 + errno on error) must succeed; yields its value. */
#define PC_OK(expr) pc_ok_((long long)(expr), #expr, __FILE__, __LINE__)
/** expr must fail with errno e. */
#define PC_ERR(expr, e) pc_err_((errno = 0, (long long)(expr)), (e), (e), #expr, __FILE__, __LINE__)
/** expr must fail with errno e1 or e2. */
#define PC_ERR2(expr, e1, e2)                                                                  \
	pc_err_((errno = 0, (long long)(expr)), (e1), (e2), #expr, __FILE__, __LINE__)
/** cond must hold. */
#define PC_CHECK(cond)                                                                         \
	do {                                                                                   \
		if (!(cond))                                                                   \
			pc_fail(__FILE__, __LINE__, "CHECK(%s)", #cond);                       \
	} while (0)
#define PC_CHECKF(cond, ...)                                                                   \
	do {                                                                                   \
		if (!(cond))                                                                   \
			pc_fail(__FILE__, __LINE__, __VA_ARGS__);                              \
	} while (0)
/** Two integers must be equal. */
#define PC_EQ(a, b)                                                                            \
	do {                                                                                   \
		long long pc_a_ = (long long)(a), pc_b_ = (long long)(b);                      \
		if (pc_a_ != pc_b_)                                                            \
			pc_fail(__FILE__, __LINE__, "%s == %s: %lld != %lld", #a, #b, pc_a_,   \
				pc_b_);                                                        \
	} while (0)

/** Fill buf with bytes [off, off+len) of the pattern stream seed. */
void pc_pattern(void *buf, size_t len, uint64_t seed, uint64_t off);
/** Create (or replace) name with len bytes of pattern seed; 0 or -errno. */
int pc_make_file(const char *name, size_t len, uint64_t seed);
/** name holds exactly len bytes of pattern seed (a failed check otherwise). */
#define PC_FILE_IS(name, len, seed) pc_file_is_((name), (len), (seed), __FILE__, __LINE__)
bool pc_file_is_(const char *name, size_t len, uint64_t seed, const char *file, int line);
/** Bytes [off, off+len) of fd hold pattern seed at off+shift (seed 0: zeros). */
#define PC_RANGE_IS(fd, off, len, seed, shift)                                                 \
	pc_range_is_((fd), (off), (len), (seed), (shift), __FILE__, __LINE__)
bool pc_range_is_(int fd, uint64_t off, size_t len, uint64_t seed, uint64_t shift,
		  const char *file, int line);
/** pwrite all of buf at off; -1 + errno on error. */
ssize_t pc_pwrite_all(int fd, const void *buf, size_t len, off_t off);
/** Write len bytes of pattern seed at off (pattern offset off). */
ssize_t pc_write_pattern(int fd, off_t off, size_t len, uint64_t seed);
/** A name of len bytes (len <= 1100) made of c, in a static buffer of 4. */
const char *pc_name(size_t len, char c);
/** Mode, size, nlink of path by lstat (or -1 members if it fails). */
struct stat pc_lstat(const char *path);
/** Is path absent (lstat fails with ENOENT)? */
bool pc_absent(const char *path);
/**
 * Run fn in a child as uid:gid with no supplementary groups and umask 022;
 * returns the child's failed-check count (a crash counts as one).
 */
int pc_as(uid_t uid, gid_t gid, void (*fn)(void *), void *arg);
/** Number of entries named name in directory dir (readdir). */
int pc_count_entries(const char *dir, const char *name);

#endif /* SLATEFS_TESTS_PC_H */
