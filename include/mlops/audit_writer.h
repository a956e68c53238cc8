/*
 * audit_writer.h — the audit log's rows written in batches, under the
 * (sub)transaction and command id that formed them (see audit_writer.c).
 */
#ifndef MLOPS_AUDIT_WRITER_H
#define MLOPS_AUDIT_WRITER_H

#include "postgres.h"

#include "executor/tuptable.h"

/*
 * Forms a log row of the log log_oid and adds it to the pending ones, under
 * the current subtransaction and command id; writes a full batch.
 */
extern void AddLogRow(Oid log_oid, Datum *values, bool *nulls);

/*
 * Writes the pending log rows of the current subtransaction (and, when
 * enclosing, those of the enclosing ones, kept to be written again if it
 * aborts).
 */
extern void FlushLogRows(bool enclosing);

/* Closes the log writer when nothing is pending or being written. */
extern void CloseLogWriter(void);

/* The last log row of this transaction not written yet, or NULL. */
extern TupleTableSlot *LastPendingLogRow(void);

/* Installs the writer's (sub)transaction callbacks and executor hooks, once per backend. */
extern void LogWriterInstall(void);

#endif							/* MLOPS_AUDIT_WRITER_H */
