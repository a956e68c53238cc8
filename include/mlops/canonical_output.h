/*
 * canonical_output.h — values turned into text (and JSON) as they are under
 * the default output settings, whatever the session's (see canonical_output.c).
 */
#ifndef MLOPS_CANONICAL_OUTPUT_H
#define MLOPS_CANONICAL_OUTPUT_H

#include "postgres.h"

/* The session settings a type's text output depends on (bit flags). */
#define OUTPUT_FLOAT			0x01	/* extra_float_digits */
#define OUTPUT_DATESTYLE		0x02
#define OUTPUT_INTERVALSTYLE	0x04
#define OUTPUT_TIMEZONE			0x08
#define OUTPUT_BYTEA			0x10	/* bytea_output */
#define OUTPUT_MONETARY			0x20	/* lc_monetary */
#define OUTPUT_NAMES			0x40	/* search_path, quote_all_identifiers (reg* types) */
#define OUTPUT_ALL				0x7f

/* The settings the text of a value of type typid depends on (OUTPUT_* flags). */
extern int	TypeOutputSettings(Oid typid);

/*
 * Puts the settings of flags that differ from their canonical values to them,
 * until CanonicalOutputEnd; returns what to give it (-1: nothing was changed).
 */
extern int	CanonicalOutputBegin(int flags);

/* Restores the settings CanonicalOutputBegin changed. */
extern void CanonicalOutputEnd(int level);

#endif
