/*
 * audit.h — appending to the audit log what is not a row's change (see audit.c).
 */
#ifndef MLOPS_AUDIT_H
#define MLOPS_AUDIT_H

#include "postgres.h"

#include "utils/jsonb.h"

/* The names of a table's audit triggers, which no other trigger may take (mlops._audit_ddl). */
#define AUDIT_ROW_TRIGGER "mlops_audit"
#define AUDIT_TRUNCATE_TRIGGER "mlops_audit_truncate"

/*
 * Appends an event about a table (ENABLE, DISABLE, DROP, ARCHIVE, TRUNCATE) to
 * the log, with an optional jsonb detail (as new_row); relname NULL: looked up.
 */
extern void AuditAppendEvent(Oid relid, const char *relname, const char *op, Jsonb *detail);

#endif							/* MLOPS_AUDIT_H */
