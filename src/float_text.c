/*
 * float_text.c — float8 values as text and JSON in their shortest exact form,
 * whatever extra_float_digits says (float8out rounds them when it is <= 0), so
 * that what mlops stores or returns as text reads back bit for bit.
 */
#include "postgres.h"

#include <math.h>

#include "common/shortest_dec.h"
#include "utils/json.h"

#include "mlops/float_text.h"

/* "NaN", "Infinity" or "-Infinity" (palloc'd) for a value that is not finite, else NULL. */
static char *
NonFiniteText(double v)
{
	if (isnan(v))
		return pstrdup("NaN");
	if (isinf(v))
		return pstrdup(v > 0 ? "Infinity" : "-Infinity");
	return NULL;
}

/* A float8 as text in its shortest exact form (NaN, Infinity, -Infinity spelled out). */
char *
Float8ExactText(double v)
{
	char	   *buf = NonFiniteText(v);

	if (buf == NULL)
	{
		buf = palloc(DOUBLE_SHORTEST_DECIMAL_LEN);
		double_to_shortest_decimal_buf(v, buf);
	}
	return buf;
}

/* A float4 as text in its shortest exact form, as float4out writes it at extra_float_digits > 0. */
char *
Float4ExactText(float v)
{
	char	   *buf = NonFiniteText(v);

	if (buf == NULL)
	{
		buf = palloc(FLOAT_SHORTEST_DECIMAL_LEN);
		float_to_shortest_decimal_buf(v, buf);
	}
	return buf;
}

/* Appends a finite float8 as a JSON number in its shortest exact form, else null. */
void
AppendJsonNumberOrNull(StringInfo out, double v)
{
	char		text[DOUBLE_SHORTEST_DECIMAL_LEN];

	if (!isfinite(v))
	{
		appendStringInfoString(out, "null");
		return;
	}
	double_to_shortest_decimal_buf(v, text);
	appendStringInfoString(out, text);
}

/* Appends a float8 as JSON: an exact number, or the string "NaN"/"Infinity"/"-Infinity". */
void
AppendJsonFloat8(StringInfo out, double v)
{
	if (isfinite(v))
		AppendJsonNumberOrNull(out, v);
	else
		escape_json(out, Float8ExactText(v));
}
