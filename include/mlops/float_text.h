/*
 * float_text.h — float8 values as exact text and JSON (see float_text.c).
 */
#ifndef MLOPS_FLOAT_TEXT_H
#define MLOPS_FLOAT_TEXT_H

#include "postgres.h"
#include "lib/stringinfo.h"

/* A float8 as text in its shortest exact form (NaN, Infinity, -Infinity spelled out). */
extern char *Float8ExactText(double v);

/* A float4 as text in its shortest exact form, as float4out writes it at extra_float_digits > 0. */
extern char *Float4ExactText(float v);

/* Appends a float8 as JSON: an exact number, or the string "NaN"/"Infinity"/"-Infinity". */
extern void AppendJsonFloat8(StringInfo out, double v);

/* Appends a finite float8 as an exact JSON number, anything else as null. */
extern void AppendJsonNumberOrNull(StringInfo out, double v);

#endif
