/*
 * compensated_sum.h — sums that keep the rounding error of each addition
 * (Ogita, Rump and Oishi's Sum2 and Dot2): the result is as if summed in
 * twice the working precision. Used where many terms of mixed sizes add up
 * (Wasserstein's integral, linear's refinement residuals).
 */
#ifndef MLOPS_COMPENSATED_SUM_H
#define MLOPS_COMPENSATED_SUM_H

#include <math.h>

/* A sum (hi) and the rounding errors of its additions (lo); the value is hi + lo. */
typedef struct CompensatedSum
{
	double		hi;
	double		lo;
} CompensatedSum;

/* Adds v to the sum, keeping the addition's exact rounding error (Knuth's TwoSum). */
static inline void
CompensatedAdd(CompensatedSum *s, double v)
{
	double		t = s->hi + v;
	double		z = t - s->hi;

	s->lo += (s->hi - (t - z)) + (v - z);
	s->hi = t;
}

/* Adds a·b to the sum, keeping the product's rounding error too (fma). */
static inline void
CompensatedAddProduct(CompensatedSum *s, double a, double b)
{
	double		p = a * b;

	CompensatedAdd(s, p);
	s->lo += fma(a, b, -p);
}

#endif							/* MLOPS_COMPENSATED_SUM_H */
