/*
 * arrays.h — one-dimensional text[] and float8[] values (read from the
 * registry or returned by a query) as plain C arrays.
 */
#ifndef MLOPS_ARRAYS_H
#define MLOPS_ARRAYS_H

#include "postgres.h"

/* The elements of a text[] datum as palloc'd C strings (NULL elements: NULL); sets *n. */
extern char **TextArrayElements(Datum d, int *n);

/* The elements of a float8[] datum as a palloc'd array (NULL elements: NaN); sets *n. */
extern double *Float8ArrayElements(Datum d, int *n);

#endif
