/*
 * schema.h — the filesystem's on-image format, shared by the daemon and the
 * tools (mkfs, fsck): limits, the tables, key and row encodings. Needs only
 * the store, not libfuse. The schema is described in fs/README.md.
 */
#ifndef SLATEFS_SCHEMA_H
#define SLATEFS_SCHEMA_H

#include <endian.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "slatefs.h"
#include "store.h"

/* ---- limits ----------------------------------------------------------------- */

enum {
	SFS_NAME_MAX = 255,         /* bytes in one name */
	SFS_SYMLINK_MAX = 4095,     /* bytes in a symlink target */
	SFS_XATTR_NAME_MAX = 255,   /* bytes in an xattr name */
	SFS_XATTR_SIZE_MAX = 65536, /* bytes in an xattr value */
	SFS_LINK_MAX = 65000,       /* hard links to one file */
	SFS_INLINE_LIMIT = 2048,    /* upper bound of inline file data */
	SFS_ROOT_INO = 1,           /* FUSE_ROOT_ID */
};

/* Largest file size: the kernel's own limit for FUSE (MAX_LFS_FILESIZE), so
   that the kernel, not a delayed write-back, refuses writes past it. */
#define SFS_MAX_FILE_SIZE ((uint64_t)INT64_MAX)

/* ---- integer encodings: keys big-endian (they sort), values little-endian --- */

static inline void sfs_put_be64(void *p, uint64_t v)
{
	v = htobe64(v);
	memcpy(p, &v, 8);
}
static inline uint64_t sfs_get_be64(const void *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return be64toh(v);
}
static inline void sfs_put_le16(void *p, uint16_t v)
{
	v = htole16(v);
	memcpy(p, &v, 2);
}
static inline uint16_t sfs_get_le16(const void *p)
{
	uint16_t v;
	memcpy(&v, p, 2);
	return le16toh(v);
}
static inline void sfs_put_le32(void *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, 4);
}
static inline uint32_t sfs_get_le32(const void *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return le32toh(v);
}
static inline void sfs_put_le64(void *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, 8);
}
static inline uint64_t sfs_get_le64(const void *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return le64toh(v);
}

/* ---- rows (fs/rows.c) ------------------------------------------------------ */

/* inode row flags */
enum {
	SFS_IF_INLINE = 1 << 0, /* regular file whose data lives in the row */
};

/* Attributes of an inode, as kept in its row and in the inode cache. */
struct sfs_attr {
	uint32_t flags; /* SFS_IF_* */
	uint32_t mode;
	uint32_t uid;
	uint32_t gid;
	uint32_t nlink;
	uint64_t rdev;
	uint64_t size;        /* regular: bytes; symlink: target length;
	                         directory: number of entries */
	uint64_t blocks;      /* bytes stored for the data (st_blocks * 512) */
	uint64_t generation;  /* always 0: inode numbers are never reused */
	uint64_t parent;      /* directories: the parent directory */
	uint64_t next_cookie; /* directories: next readdir cookie */
	struct timespec atime, mtime, ctime, btime;
	uint32_t inline_len; /* bytes of inline data (file data or target) */
};

enum { SFS_INODE_ROW_FIXED = 124, SFS_INODE_ROW_VERSION = 1 };

void sfs_attr_encode(const struct sfs_attr *a, uint8_t *row);
int sfs_attr_decode(const uint8_t *row, size_t len, struct sfs_attr *a);

/* dirent value: le64 ino, u8 type, le64 cookie */
enum { SFS_DIRENT_VAL = 17, SFS_KEY_INO = 8, SFS_KEY_INO2 = 16 };
/* first cookie handed out: offsets 1 and 2 are "." and ".." */
enum { SFS_COOKIE_FIRST = 3 };

static inline size_t sfs_key_ino(uint8_t *k, uint64_t ino)
{
	sfs_put_be64(k, ino);
	return 8;
}
static inline size_t sfs_key_ino2(uint8_t *k, uint64_t ino, uint64_t n)
{
	sfs_put_be64(k, ino);
	sfs_put_be64(k + 8, n);
	return 16;
}
static inline size_t sfs_key_name(uint8_t *k, uint64_t ino, const char *name, size_t len)
{
	sfs_put_be64(k, ino);
	memcpy(k + 8, name, len);
	return 8 + len;
}

static inline unsigned sfs_dtype(uint32_t mode)
{
	return (mode & S_IFMT) >> 12;
}

/* ---- the superblock row and the tables (fs/rows.c) --------------------------------- */

struct sfs_super {
	uint32_t version;
	uint32_t chunk_size;
	uint32_t compress;
	uint32_t flags;
	uint64_t next_ino; /* every inode number in use is below it */
	int64_t created;   /* seconds since the epoch */
	char label[SFS_LABEL_MAX + 1];
};

enum { SFS_SUPER_ROW = 104, SFS_FS_VERSION = 1 };
extern const char *const sfs_table_names[SFS_NTABLES];

int sfs_super_encode(const struct sfs_super *sb, uint8_t *row);
int sfs_super_decode(const uint8_t *row, size_t len, struct sfs_super *sb);
int sfs_tables_open(store_txn *txn, struct sfs_tables *t);
int sfs_super_read(store_txn *txn, const struct sfs_tables *t, struct sfs_super *sb);

#endif /* SLATEFS_SCHEMA_H */
