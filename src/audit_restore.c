/*
 * audit_restore.c — a dump's audit TRUNCATE triggers restore over the ones
 * auditing already made.
 *
 * pg_dump carries every audit trigger: the row trigger of an audited table
 * (with its ENABLE ALWAYS) and the TRUNCATE trigger of the table and of each
 * of its partitions. Restored in that order, enabling the row trigger of a
 * partitioned table makes the schema-change handling (mlops._audit_ddl) give
 * every partition its TRUNCATE trigger at once, so that none of them is ever
 * truncated unlogged; pg_restore's own CREATE TRIGGER mlops_audit_truncate
 * then finds the trigger there. This event trigger, at ddl_command_start,
 * drops the existing trigger when the command would create the very same one
 * (AFTER TRUNCATE FOR EACH STATEMENT EXECUTE FUNCTION mlops._audit_trigger(),
 * nothing else), so that the command replaces it within its own transaction,
 * under the lock it holds: the table is never without it. The sql_drop
 * handling (mlops._audit_drop) enables the new one ALWAYS.
 */
#include "postgres.h"

#include "access/table.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/pg_trigger.h"
#include "commands/event_trigger.h"
#include "commands/trigger.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parse_func.h"
#include "utils/acl.h"
#include "utils/rel.h"

#define AUDIT_TRUNCATE_TRIGGER "mlops_audit_truncate"

/*
 * Whether stmt creates the audit TRUNCATE trigger (of function audit_fn)
 * exactly as auditing makes it: only then may it replace the existing one.
 */
static bool
IsAuditTruncateTrigger(CreateTrigStmt *stmt, Oid audit_fn)
{
	return strcmp(stmt->trigname, AUDIT_TRUNCATE_TRIGGER) == 0 &&
		!stmt->replace && !stmt->isconstraint && !stmt->row &&
		stmt->timing == TRIGGER_TYPE_AFTER && stmt->events == TRIGGER_TYPE_TRUNCATE &&
		stmt->args == NIL && stmt->columns == NIL && stmt->whenClause == NULL &&
		stmt->transitionRels == NIL &&
		LookupFuncName(stmt->funcname, 0, NULL, true) == audit_fn;
}

/*
 * The OID of the table's existing audit TRUNCATE trigger when it is the one
 * auditing makes (same function, AFTER TRUNCATE FOR EACH STATEMENT, no
 * argument, no condition), else InvalidOid. The table is locked as CREATE
 * TRIGGER locks it (dropping the trigger takes a stronger lock).
 */
static Oid
ExistingAuditTruncateTrigger(Oid relid, Oid audit_fn)
{
	Relation	rel = table_open(relid, ShareRowExclusiveLock);
	TriggerDesc *trigdesc = rel->trigdesc;
	Oid			found = InvalidOid;

	for (int i = 0; trigdesc != NULL && i < trigdesc->numtriggers; i++)
	{
		Trigger    *t = &trigdesc->triggers[i];

		if (strcmp(t->tgname, AUDIT_TRUNCATE_TRIGGER) == 0 && t->tgfoid == audit_fn &&
			t->tgtype == (TRIGGER_TYPE_AFTER | TRIGGER_TYPE_TRUNCATE) &&
			t->tgnargs == 0 && t->tgqual == NULL && t->tgnattr == 0)
			found = t->tgoid;
	}
	table_close(rel, NoLock);
	return found;
}

PG_FUNCTION_INFO_V1(audit_replace_truncate_trigger);

/*
 * mlops._audit_replace_truncate_trigger() — event trigger at
 * ddl_command_start of CREATE TRIGGER: drops the table's audit TRUNCATE
 * trigger that the command is about to create again, for the table's owner
 * only (others keep the "already exists" error).
 */
Datum
audit_replace_truncate_trigger(PG_FUNCTION_ARGS)
{
	EventTriggerData *data;
	CreateTrigStmt *stmt;
	Oid			audit_fn;
	Oid			relid;
	Oid			existing;
	ObjectAddress old;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_EVENT_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function %s must be fired by an event trigger", "mlops._audit_replace_truncate_trigger")));
	data = (EventTriggerData *) fcinfo->context;
	if (!IsA(data->parsetree, CreateTrigStmt))
		PG_RETURN_VOID();
	stmt = (CreateTrigStmt *) data->parsetree;
	if (strcmp(stmt->trigname, AUDIT_TRUNCATE_TRIGGER) != 0)
		PG_RETURN_VOID();
	audit_fn = LookupFuncName(list_make2(makeString("mlops"), makeString("_audit_trigger")), 0, NULL, false);
	if (!IsAuditTruncateTrigger(stmt, audit_fn))
		PG_RETURN_VOID();
	relid = RangeVarGetRelid(stmt->relation, NoLock, true);
	if (!OidIsValid(relid) || !pg_class_ownercheck(relid, GetUserId()))
		PG_RETURN_VOID();
	existing = ExistingAuditTruncateTrigger(relid, audit_fn);
	if (!OidIsValid(existing))
		PG_RETURN_VOID();
	ObjectAddressSet(old, TriggerRelationId, existing);
	performDeletion(&old, DROP_RESTRICT, 0);
	PG_RETURN_VOID();
}
