/*
 * super.c — handing out inode numbers (the super row's high-water mark).
 *
 * Inode numbers are never reused within an image. The super row holds a
 * high-water mark (next_ino) above every number in use; numbers are handed
 * out from memory and the mark is moved up 1024 at a time, in the same
 * operation as the inode that crosses it [D1], so a create rarely writes the
 * super row. Locking: sfs->ino_hw_used and sfs->sb are guarded by the tree
 * lock held exclusively [L1].
 */
#include "sfs.h"

static const uint8_t super_key[] = "super";

static int super_write(struct sfs *sfs)
{
	uint8_t row[SFS_SUPER_ROW];
	int r = sfs_super_encode(&sfs->sb, row);

	if (r < 0)
		return r;
	return sfs_put(sfs, sfs->t.super, super_key, sizeof(super_key) - 1, row, sizeof(row), 0);
}

int sfs_super_alloc_ino(struct sfs *sfs, uint64_t *ino)
{
	if (sfs->ino_hw_used >= sfs->sb.next_ino) {
		uint64_t old = sfs->sb.next_ino;
		int r;

		sfs->sb.next_ino = sfs->ino_hw_used + 1024;
		r = super_write(sfs);
		if (r < 0) {
			sfs->sb.next_ino = old;
			return r;
		}
	}
	*ino = sfs->ino_hw_used++;
	return 0;
}
