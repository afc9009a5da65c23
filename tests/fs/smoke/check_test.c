/*
 * check_test.c — the filesystem checks of fs/check.c must see what they are
 * for: each case makes a fresh filesystem, breaks one rule through the store
 * API (a dirent naming a missing inode, a wrong nlink, a chunk past EOF, ...),
 * and expects sfs_check() to count a problem with the right sentence; an
 * untouched filesystem and a consistent one built by hand must check clean.
 * The images live in a temporary directory under /tmp, removed at the end.
 */
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "schema.h"

static char dir[] = "/tmp/slatefs-check-XXXXXX";
static char img[sizeof(dir) + 32];
static int failures;

static void fail_setup(void);

struct seen {
	char text[8192];
};

static void collect(void *ctx, const char *msg)
{
	struct seen *s = ctx;
	size_t n = strlen(s->text);
	snprintf(s->text + n, sizeof(s->text) - n, "%s\n", msg);
}

/* A fresh filesystem, open for writing, with its tables. */
static store *fresh(store_txn **txn, struct sfs_tables *t)
{
	struct sfs_format_opts o = {.force = true, .compress = SFS_COMPRESS_NONE};
	store *s = NULL;

	struct sfs_super sb;
	uint8_t row[SFS_SUPER_ROW];

	if (sfs_format(img, &o) < 0 || store_open(img, 0, NULL, &s) < 0 ||
	    store_txn_begin(s, STORE_TXN_WRITE, txn) < 0 || sfs_tables_open(*txn, t) < 0 ||
	    sfs_super_read(*txn, t, &sb) < 0)
		fail_setup();
	/* room for the inode numbers the cases use */
	sb.next_ino = 1000;
	if (sfs_super_encode(&sb, row) < 0 ||
	    store_put(*txn, t->super, "super", 5, row, sizeof(row), 0) < 0)
		fail_setup();
	return s;
}

static void put(store_txn *txn, store_table t, const void *k, size_t kl, const void *v, size_t vl)
{
	if (store_put(txn, t, k, kl, v, vl, 0) < 0)
		fail_setup();
}

static void put_inode(store_txn *txn, const struct sfs_tables *t, uint64_t ino,
		      const struct sfs_attr *a)
{
	uint8_t row[SFS_INODE_ROW_FIXED], key[8];
	sfs_attr_encode(a, row);
	put(txn, t->inode, key, sfs_key_ino(key, ino), row, sizeof(row));
}

static void put_entry(store_txn *txn, const struct sfs_tables *t, uint64_t parent,
		      const char *name, uint64_t ino, unsigned type, uint64_t cookie, bool with_cookie)
{
	uint8_t key[8 + 256], val[SFS_DIRENT_VAL], ck[16], cv[9 + 256];
	size_t n = strlen(name);

	sfs_put_le64(val, ino);
	val[8] = (uint8_t)type;
	sfs_put_le64(val + 9, cookie);
	put(txn, t->dirent, key, sfs_key_name(key, parent, name, n), val, sizeof(val));
	if (with_cookie) {
		sfs_put_le64(cv, ino);
		cv[8] = (uint8_t)type;
		memcpy(cv + 9, name, n);
		put(txn, t->dircookie, ck, sfs_key_ino2(ck, parent, cookie), cv, 9 + n);
	}
}

static struct sfs_attr file_attr(uint32_t nlink)
{
	struct sfs_attr a = {.mode = S_IFREG | 0644, .nlink = nlink, .flags = SFS_IF_INLINE};
	return a;
}

/* The root directory with `entries` entries and `subdirs` subdirectories. */
static void set_root(store_txn *txn, const struct sfs_tables *t, uint64_t entries,
		     uint32_t subdirs, uint64_t next_cookie)
{
	struct sfs_attr a = {.mode = S_IFDIR | 0755, .nlink = 2 + subdirs, .size = entries,
			     .parent = SFS_ROOT_INO, .next_cookie = next_cookie};
	put_inode(txn, t, SFS_ROOT_INO, &a);
}

static void fail_setup(void)
{
	fprintf(stderr, "check-test: cannot build the case\n");
	unlink(img);
	rmdir(dir);
	exit(1);
}

/* Commit, check, and compare with what was expected. */
static void expect(const char *name, store *s, store_txn *txn, const char *want)
{
	struct sfs_check_report rep;
	struct seen seen = {{0}};
	store_txn *rt = NULL;
	int r = store_txn_commit(txn, 0, NULL);

	if (r == 0)
		r = store_txn_begin(s, STORE_TXN_READ, &rt);
	if (r == 0)
		r = sfs_check(rt, collect, &seen, &rep);
	if (rt)
		store_txn_abort(rt);
	store_close(s);
	if (r < 0) {
		printf("not ok - %s: the check could not run (%s)\n", name, strerror(-r));
		failures++;
	} else if (!want && rep.errors) {
		printf("not ok - %s: expected no problem, got:\n%s", name, seen.text);
		failures++;
	} else if (want && (!rep.errors || !strstr(seen.text, want))) {
		printf("not ok - %s: expected a problem saying \"%s\", got %llu:\n%s", name, want,
		       (unsigned long long)rep.errors, seen.text);
		failures++;
	} else {
		printf("ok - %s\n", name);
	}
}

int main(int argc, char **argv)
{
	struct sfs_tables t;
	store_txn *txn;
	store *s;
	uint8_t key[16], val[8];

	(void)argc;
	(void)argv;
	if (!mkdtemp(dir)) {
		perror("check-test: mkdtemp");
		return 1;
	}
	snprintf(img, sizeof(img), "%s/check.slate", dir);

	s = fresh(&txn, &t);
	expect("a new filesystem is clean", s, txn, NULL);

	/* a consistent file, hard link and subdirectory built by hand */
	s = fresh(&txn, &t);
	struct sfs_attr f = file_attr(2);
	put_inode(txn, &t, 2, &f);
	struct sfs_attr d = {.mode = S_IFDIR | 0755, .nlink = 2, .parent = 1,
			     .next_cookie = SFS_COOKIE_FIRST};
	put_inode(txn, &t, 3, &d);
	put_entry(txn, &t, 1, "f", 2, DT_REG, 3, true);
	put_entry(txn, &t, 1, "g", 2, DT_REG, 4, true);
	put_entry(txn, &t, 1, "d", 3, DT_DIR, 5, true);
	set_root(txn, &t, 3, 1, 6);
	expect("a consistent tree built by hand is clean", s, txn, NULL);

	s = fresh(&txn, &t);
	put_entry(txn, &t, 1, "ghost", 77, DT_REG, 3, true);
	set_root(txn, &t, 1, 0, 4);
	expect("an entry naming a missing inode", s, txn, "names missing inode 77");

	s = fresh(&txn, &t);
	f = file_attr(2);
	put_inode(txn, &t, 2, &f);
	put_entry(txn, &t, 1, "f", 2, DT_REG, 3, true);
	set_root(txn, &t, 1, 0, 4);
	expect("nlink against entries", s, txn, "nlink 2, but 1 entries name it");

	s = fresh(&txn, &t);
	f = file_attr(1);
	put_inode(txn, &t, 2, &f);
	put_entry(txn, &t, 1, "f", 2, DT_REG, 3, false);
	set_root(txn, &t, 1, 0, 4);
	expect("an entry without its cookie row", s, txn, "has no cookie row");

	s = fresh(&txn, &t);
	f = file_attr(1);
	put_inode(txn, &t, 2, &f);
	put_entry(txn, &t, 1, "f", 2, DT_DIR, 3, true);
	set_root(txn, &t, 1, 0, 4);
	expect("an entry with the wrong type", s, txn, "says type 4");

	s = fresh(&txn, &t);
	f = file_attr(1);
	put_inode(txn, &t, 2, &f);
	put_entry(txn, &t, 1, "f", 2, DT_REG, 3, true);
	set_root(txn, &t, 5, 0, 4);
	expect("a directory size against its entries", s, txn, "size 5, but it has 1 entries");

	s = fresh(&txn, &t);
	f = file_attr(0);
	put_inode(txn, &t, 2, &f);
	expect("an unlinked inode without an orphan row", s, txn, "has no orphan row");

	s = fresh(&txn, &t);
	f = file_attr(1);
	put_inode(txn, &t, 2, &f);
	expect("an inode no entry names", s, txn, "nlink 1, but 0 entries name it");

	s = fresh(&txn, &t);
	put(txn, t.orphan, key, sfs_key_ino(key, 99), "", 0);
	expect("an orphan row for a missing inode", s, txn, "orphan row for missing inode 99");

	s = fresh(&txn, &t);
	uint64_t id;
	static uint8_t data[4096] = {1};
	if (store_blob_put(txn, data, sizeof(data), 0, &id) < 0)
		fail_setup();
	sfs_put_le64(val, id);
	put(txn, t.chunk, key, sfs_key_ino2(key, 55, 0), val, 8);
	expect("a chunk of a missing inode", s, txn, "chunk 0 of missing inode 55");

	s = fresh(&txn, &t);
	f = (struct sfs_attr){.mode = S_IFREG | 0644, .nlink = 1, .size = 100, .blocks = 4096};
	put_inode(txn, &t, 2, &f);
	put_entry(txn, &t, 1, "f", 2, DT_REG, 3, true);
	set_root(txn, &t, 1, 0, 4);
	if (store_blob_put(txn, data, sizeof(data), 0, &id) < 0)
		fail_setup();
	sfs_put_le64(val, id);
	put(txn, t.chunk, key, sfs_key_ino2(key, 2, 0), val, 8);
	expect("stored bytes past EOF", s, txn, "4096 bytes stored past its size 100");

	s = fresh(&txn, &t);
	f = (struct sfs_attr){.mode = S_IFREG | 0644, .nlink = 1, .size = 1 << 20,
			      .blocks = 2 * 4096};
	put_inode(txn, &t, 2, &f);
	put_entry(txn, &t, 1, "f", 2, DT_REG, 3, true);
	set_root(txn, &t, 1, 0, 4);
	if (store_blob_put(txn, data, sizeof(data), 0, &id) < 0)
		fail_setup();
	sfs_put_le64(val, id);
	put(txn, t.chunk, key, sfs_key_ino2(key, 2, 0), val, 8);
	put(txn, t.chunk, key, sfs_key_ino2(key, 2, 1), val, 8); /* no store_blob_share */
	expect("a blob used by two chunks with one reference", s, txn,
	       "reference count 1, but 2 chunks use it");

	s = fresh(&txn, &t);
	f = file_attr(1);
	put_inode(txn, &t, 2000, &f);
	put_entry(txn, &t, 1, "f", 2000, DT_REG, 3, true);
	set_root(txn, &t, 1, 0, 4);
	expect("an inode number the super row could hand out again", s, txn,
	       "at or above the super row's next inode number");

	s = fresh(&txn, &t);
	uint8_t cv[10] = {2, 0, 0, 0, 0, 0, 0, 0, DT_REG, 'z'};
	put(txn, t.dircookie, key, sfs_key_ino2(key, 1, 3), cv, sizeof(cv));
	set_root(txn, &t, 0, 0, 4);
	expect("a cookie row without its entry", s, txn, "cookie row 3 has no matching entry");

	s = fresh(&txn, &t);
	put(txn, t.xattr, key, sfs_key_name(key, 42, "user.x", 6), "v", 1);
	expect("an xattr of a missing inode", s, txn, "xattr of missing inode 42");

	unlink(img);
	rmdir(dir);
	printf("%s\n", failures ? "check-test: FAILED" : "check-test: all passed");
	return failures ? 1 : 0;
}
