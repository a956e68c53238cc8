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

#include "utils/jsonb.h"

/*
 * Appends an event about table relid (op such as "ENABLE") with an optional
 * jsonb detail (as new_row) to the log; relname NULL: looked up.
 */
extern void AuditAppendEvent(Oid relid, const char *relname, const char *op, Jsonb *detail);

#endif
