/*
 * mkseed.h — what the seed generator's two files share: mkseed.c (the seed
 * corpus: valid images and damaged variants) and craft.c (crafted inputs of
 * the bugs found and fixed).
 */
#ifndef SLATEFS_MKSEED_H
#define SLATEFS_MKSEED_H

#include <stddef.h>
#include <stdint.h>

/* Print "fuzz-mkseed: what: strerror" and exit 1. */
void seed_die(const char *what, int r) __attribute__((noreturn));
#define CHECK(expr)                             \
	do {                                    \
		int r_ = (expr);                \
		if (r_ < 0)                     \
			seed_die(#expr, r_);    \
	} while (0)

/* The store's log: errors only. */
void seed_log(void *ctx, int level, const char *msg);

/* DIR/name (a static buffer). */
char *seed_path(const char *name);

/* The whole file DIR/name (malloc'ed), and writing a file at path. */
uint8_t *seed_slurp(const char *name, size_t *len);
void seed_write(const char *path, const uint8_t *b, size_t len);

/* craft.c: write the crafted inputs of the fixed bugs into dir, from the
   seeds already there. */
void craft_fixed(const char *dir);

#endif /* SLATEFS_MKSEED_H */
