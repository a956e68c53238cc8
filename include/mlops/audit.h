/*
 * audit.h — the tamper-evident audit log: a C trigger appends every change of
 * an audited table to mlops.audit_log, each row carrying the sha256 of its own
 * canonical text and of the previous row's hash.
 *
 * Other concepts may log an event of their own with AuditAppendEvent (it takes
 * the chain lock, held until the transaction ends).
 */
#ifndef MLOPS_AUDIT_H
#define MLOPS_AUDIT_H

#include "postgres.h"

#include "lib/stringinfo.h"
#include "utils/jsonb.h"

#define AUDIT_HASH_LEN 32		/* sha256 */

/* Columns of mlops.audit_log, in table (and hash) order. */
typedef enum AuditColumn
{
	AUDIT_ID,
	AUDIT_AT,
	AUDIT_TXID,
	AUDIT_TABLE_OID,
	AUDIT_TABLE_NAME,
	AUDIT_OP,
	AUDIT_OLD_ROW,
	AUDIT_NEW_ROW,
	AUDIT_CHANGED_COLUMNS,
	AUDIT_SESSION_USER,
	AUDIT_CURRENT_USER,
	AUDIT_APPLICATION_NAME,
	AUDIT_CLIENT_ADDR,
	AUDIT_PREV_HASH,
	AUDIT_HASH,
	AUDIT_NCOLUMNS
} AuditColumn;

/*
 * The hash of a log row given its column values (AUDIT_HASH is not read):
 * sha256 of the canonical text of every other column (see README, "Audit").
 * known: NULL, or for each column the text of its value when the caller has
 * it already (NULL where it does not).
 */
extern void AuditRowHash(const Datum *values, const bool *nulls, const StringInfoData *const *known,
						 uint8 *hash);

/*
 * Appends an event about table relid (op such as "ENABLE") with an optional
 * jsonb detail (as new_row) to the log; relname NULL: looked up.
 */
extern void AuditAppendEvent(Oid relid, const char *relname, const char *op, Jsonb *detail);

#endif
