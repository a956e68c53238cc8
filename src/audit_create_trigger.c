/*
 * audit_create_trigger.c — CREATE TRIGGER under the name of an existing audit
 * trigger.
 *
 * A dump's audit TRUNCATE triggers restore over the ones auditing already
 * made. pg_dump carries every audit trigger: the row trigger of an audited
 * table (with its ENABLE ALWAYS) and the TRUNCATE trigger of the table and of
 * each of its partitions. Restored in that order, enabling the row trigger of
 * a partitioned table makes the schema-change handling (mlops._audit_ddl)
 * give every partition its TRUNCATE trigger at once, so that none of them is
 * ever truncated unlogged; pg_restore's own CREATE TRIGGER
 * mlops_audit_truncate then finds the trigger there. So, at
 * ddl_command_start, the existing trigger is dropped when the command would
 * create the very same one (AFTER TRUNCATE FOR EACH STATEMENT EXECUTE
 * FUNCTION mlops._audit_trigger(), nothing else) for the table's owner: the
 * command replaces it within its own transaction, under the lock it holds,
 * and the table is never without it. The sql_drop handling (mlops._audit_drop)
 * enables the new one ALWAYS.
 *
 * CREATE OR REPLACE TRIGGER of an existing audit trigger is refused: it would
 * change the trigger (the ignored columns, its ENABLE ALWAYS) unlogged, which
 * the schema-change handling, at ddl_command_end, cannot tell from a CREATE.
 * So is ALTER TRIGGER ... RENAME TO an audit trigger's name, which that
 * handling cannot tell from ALTER TRIGGER ... DEPENDS ON EXTENSION: a trigger
 * of the audit function so renamed (with a WHEN condition, on some events
 * only) would become the table's audit trigger without the checks and the
 * ENABLE row of a CREATE TRIGGER.
 *
 * ALTER SCHEMA mlops RENAME TO is refused too: mlops names its schema in its
 * queries (this event trigger and the schema-change handling among them), so
 * every later DDL statement of the database would fail. The extension is not
 * relocatable, and PostgreSQL refuses ALTER EXTENSION mlops SET SCHEMA alike.
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
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "mlops/audit.h"

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

/*
 * Refuses CREATE OR REPLACE TRIGGER of an existing audit trigger (by name:
 * no other trigger takes the names).
 */
static void
CheckNotReplacingAuditTrigger(CreateTrigStmt *stmt)
{
	Oid			relid;

	if (!stmt->replace ||
		(strcmp(stmt->trigname, AUDIT_TRUNCATE_TRIGGER) != 0 && strcmp(stmt->trigname, AUDIT_ROW_TRIGGER) != 0))
		return;
	relid = RangeVarGetRelid(stmt->relation, NoLock, true);
	if (OidIsValid(relid) && OidIsValid(get_trigger_oid(relid, stmt->trigname, true)))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot replace audit trigger %s of table %s", stmt->trigname,
						quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)), get_rel_name(relid))),
				 errdetail("Its ignored columns and its ENABLE ALWAYS would change unlogged."),
				 errhint("mlops.enable_audit() replaces the audit triggers of a table, and logs that it did.")));
}

/* Refuses ALTER TRIGGER ... RENAME TO the name of an audit trigger, whatever its function. */
static void
CheckNotTakingAuditTriggerName(RenameStmt *stmt)
{
	if (stmt->renameType == OBJECT_TRIGGER && stmt->newname != NULL &&
		(strcmp(stmt->newname, AUDIT_ROW_TRIGGER) == 0 || strcmp(stmt->newname, AUDIT_TRUNCATE_TRIGGER) == 0))
		ereport(ERROR,
				(errcode(ERRCODE_RESERVED_NAME),
				 errmsg("trigger name \"%s\" is reserved for auditing", stmt->newname),
				 errhint("mlops.enable_audit() installs the audit triggers of a table.")));
}

/* Refuses ALTER SCHEMA mlops RENAME TO: mlops finds its objects by the schema's name. */
static void
CheckNotRenamingSchema(RenameStmt *stmt)
{
	if (stmt->renameType == OBJECT_SCHEMA && stmt->subname != NULL && strcmp(stmt->subname, "mlops") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("schema \"mlops\" of extension \"mlops\" cannot be renamed"),
				 errdetail("mlops finds its objects in the schema by its name.")));
}

PG_FUNCTION_INFO_V1(audit_create_trigger);

/*
 * mlops._audit_create_trigger() — event trigger at ddl_command_start of
 * CREATE TRIGGER, ALTER TRIGGER and ALTER SCHEMA: refuses to replace an audit
 * trigger with OR REPLACE, to rename a trigger to an audit trigger's name, or
 * to rename schema mlops, and drops the
 * table's audit TRUNCATE trigger that the command is about to create again,
 * for the table's owner only (others keep the "already exists" error).
 */
Datum
audit_create_trigger(PG_FUNCTION_ARGS)
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
				 errmsg("function %s must be fired by an event trigger", "mlops._audit_create_trigger")));
	data = (EventTriggerData *) fcinfo->context;
	if (IsA(data->parsetree, RenameStmt))
	{
		CheckNotTakingAuditTriggerName((RenameStmt *) data->parsetree);
		CheckNotRenamingSchema((RenameStmt *) data->parsetree);
	}
	if (!IsA(data->parsetree, CreateTrigStmt))
		PG_RETURN_VOID();
	stmt = (CreateTrigStmt *) data->parsetree;
	CheckNotReplacingAuditTrigger(stmt);
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
