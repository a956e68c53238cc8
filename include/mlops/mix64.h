/*
 * mix64.h — the 64-bit mixing of the content hashes of rows (the loader's
 * split and fingerprint, the profile's row sample): a start value, one
 * ContentHashStep per column, then Mix64.
 */
#ifndef MLOPS_MIX64_H
#define MLOPS_MIX64_H

#include "postgres.h"

/* SplitMix64's finaliser: a fast, well-mixing bijection of 64-bit values. */
static inline uint64
Mix64(uint64 x)
{
	x ^= x >> 30;
	x *= UINT64CONST(0xbf58476d1ce4e5b9);
	x ^= x >> 27;
	x *= UINT64CONST(0x94d049bb133111eb);
	x ^= x >> 31;
	return x;
}

/* The start of a row's content hash, and the 64 bits a NULL column adds to it. */
#define CONTENT_HASH_SEED	UINT64CONST(0x243f6a8885a308d3)
#define CONTENT_HASH_NULL	UINT64CONST(0x13198a2e03707344)

/*
 * Adds a column's 64 bits to a content hash (a multiply-xorshift step: the
 * order of columns matters); Mix64 finishes the hash.
 */
static inline uint64
ContentHashStep(uint64 h, uint64 v)
{
	h = (h ^ v) * UINT64CONST(0x9e3779b97f4a7c15);
	return h ^ (h >> 29);
}

#endif
