/*
 * ubjson.h — a reader of UBJSON (the binary JSON XGBoost writes for
 * Booster.save_raw("ubj")) that reports the document to the same semantic
 * actions (JsonSemAction) as PostgreSQL's JSON parser, so that a consumer of
 * pg_parse_json's events reads either format without change.
 *
 * The dialect is XGBoost 1.7's, big-endian throughout: objects { ... } whose
 * keys are an integer-typed length and the key's bytes; arrays [ ... ], with a
 * count ([#L<count> then the values, no ]) or typed and counted
 * ([$<type>#L<count> then the raw elements: XGBoost writes float32 'd', int32
 * 'l', int64 'L' and uint8 'U' arrays); strings S and chars C (without a
 * zero byte, as in JSON); numbers i U I l L d D; T, F, Z; N (no-op) before
 * any value. Every read is bounds-checked: a truncated or hostile document is
 * an error, never a read outside it.
 */
#ifndef MLOPS_UBJSON_H
#define MLOPS_UBJSON_H

#include "postgres.h"

#include "common/jsonapi.h"

/*
 * Parses the UBJSON document data[0..len) (one value; what follows it must be
 * no-ops only) and calls sem's actions as pg_parse_json does: field names and
 * scalar tokens are palloc'd strings handed to the callbacks; numbers are
 * written as JSON numbers (float32 with 9 significant digits, which reads
 * back bit for bit; NaN, Infinity and -Infinity for the non-finite ones).
 * Returns NULL on success, or (palloc'd) what is wrong with the document.
 * Errors the callbacks raise propagate as usual.
 */
extern char *UbjsonParse(const char *data, size_t len, JsonSemAction *sem);

#endif
