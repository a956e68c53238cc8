/*
 * arrays.c — text[] and float8[] datums as C arrays, shared by the model
 * cache and the reports.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "mlops/arrays.h"

/* The elements of a text[] datum as palloc'd C strings (NULL elements: NULL); sets *n. */
char **
TextArrayElements(Datum d, int *n)
{
	Datum	   *elems;
	bool	   *nulls;
	char	  **out;

	deconstruct_array(DatumGetArrayTypeP(d), TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, n);
	out = palloc(sizeof(char *) * (*n + 1));
	for (int i = 0; i < *n; i++)
		out[i] = nulls[i] ? NULL : TextDatumGetCString(elems[i]);
	return out;
}

/* The elements of a float8[] datum as a palloc'd array (NULL elements: NaN); sets *n. */
double *
Float8ArrayElements(Datum d, int *n)
{
	Datum	   *elems;
	bool	   *nulls;
	double	   *out;

	deconstruct_array(DatumGetArrayTypeP(d), FLOAT8OID, sizeof(float8), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
					  &elems, &nulls, n);
	out = palloc(sizeof(double) * (*n + 1));
	for (int i = 0; i < *n; i++)
		out[i] = nulls[i] ? NAN : DatumGetFloat8(elems[i]);
	return out;
}
