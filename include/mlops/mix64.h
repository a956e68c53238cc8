/*
 * mix64.h — the 64-bit mixing step of the content hashes (the loader's split
 * and fingerprint, the profile's row sample).
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

#endif
