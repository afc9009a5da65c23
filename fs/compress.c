/*
 * compress.c — deciding whether a chunk is worth handing to the store's lz4.
 * The store keeps an lz4 segment only when it saves 1/8, but it pays for the
 * whole compression to find out; on incompressible data (media, archives,
 * encrypted or random bytes) that cost dominates a write. A probe compresses
 * two 4 KiB samples (the start and the middle); if neither saves 1/8, the
 * chunk is stored as is (the same test btrfs makes with its heuristic).
 */
#include <lz4.h>

#include "sfs.h"

enum { SAMPLE = 4096 };

static bool sample_compresses(const uint8_t *p, size_t n)
{
	char out[LZ4_COMPRESSBOUND(SAMPLE)];
	int c = LZ4_compress_default((const char *)p, out, (int)n, (int)sizeof(out));
	return c > 0 && (size_t)c <= n - n / 8;
}

bool sfs_worth_compressing(const void *data, size_t len)
{
	const uint8_t *p = data;

	if (len <= 2 * SAMPLE)
		return true; /* small: let the store try the whole of it */
	return sample_compresses(p, SAMPLE) || sample_compresses(p + len / 2, SAMPLE);
}
