/*
 * audit_attach.c — a table attached as a partition of an audited table.
 *
 * ALTER TABLE ... ATTACH PARTITION gives the table the audit row trigger
 * (PostgreSQL clones it from the partitioned table) together with the rows it
 * already holds: they join the audited table without any trigger firing. As a
 * partition detached from an audited table is logged as its DISABLE
 * (mlops._audit_ddl), one attached to it is logged as its ENABLE, with its
 * ignored columns, and so is every table under it: the log says from when
 * their changes are in it. The schema-change handling in SQL cannot tell an
 * ATTACH from the other ALTER TABLE commands (pg_event_trigger_ddl_commands()
 * reports the partitioned table alone); the statement's parse tree can.
 */
#include "postgres.h"

#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_inherits.h"
#include "commands/event_trigger.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "mlops/audit.h"
#include "mlops/audit_row.h"

/*
 * Whether a trigger is the audit row trigger: mlops_audit, of
 * mlops._audit_trigger() (known from the catalog, not by looking the function
 * up by name, which a role without USAGE on schema mlops may not do).
 */
static bool
IsAuditRowTrigger(Trigger *t)
{
	char	   *fn;

	if (strcmp(t->tgname, AUDIT_ROW_TRIGGER) != 0)
		return false;
	fn = get_func_name(t->tgfoid);
	return fn != NULL && strcmp(fn, "_audit_trigger") == 0 &&
		get_func_namespace(t->tgfoid) == get_namespace_oid("mlops", false);
}

/* The audit row trigger of a table, or NULL when it has none. */
static Trigger *
AuditRowTrigger(Relation rel)
{
	for (int i = 0; rel->trigdesc != NULL && i < rel->trigdesc->numtriggers; i++)
		if (IsAuditRowTrigger(&rel->trigdesc->triggers[i]))
			return &rel->trigdesc->triggers[i];
	return NULL;
}

/*
 * Whether an attached table is audited through the partitioned table it was
 * attached to: its audit row trigger is a clone of that table's. One audited
 * on its own (attached to a table that is not audited) keeps its trigger, and
 * its auditing did not change.
 */
static bool
AuditedThroughParent(Oid relid)
{
	Relation	rel = table_open(relid, AccessShareLock);
	Trigger    *t = AuditRowTrigger(rel);
	bool		cloned = t != NULL && t->tgisclone;

	table_close(rel, AccessShareLock);
	return cloned;
}

/*
 * Logs ENABLE for a table that has the audit row trigger, with its ignored
 * columns (the trigger's arguments), as enable_audit's ENABLE rows give them;
 * nothing for a table without it.
 */
static void
LogEnabled(Oid relid)
{
	Relation	rel = table_open(relid, AccessShareLock);
	Trigger    *t = AuditRowTrigger(rel);

	if (t != NULL)
	{
		StringInfoData detail;

		initStringInfo(&detail);
		appendStringInfoString(&detail, "{\"ignore_columns\": [");
		for (int a = 0; a < t->tgnargs; a++)
		{
			if (a > 0)
				appendStringInfoString(&detail, ", ");
			escape_json(&detail, t->tgargs[a]);
		}
		appendStringInfoString(&detail, "]}");
		AuditAppendEvent(relid, AuditTableName(relid, RelationGetRelationName(rel)), "ENABLE",
						 DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(detail.data))));
	}
	table_close(rel, AccessShareLock);
}

PG_FUNCTION_INFO_V1(audit_attach);

/*
 * mlops._audit_attach() — event trigger at ddl_command_end of ALTER TABLE:
 * logs ENABLE for each table that an ATTACH PARTITION of the command made
 * audited (the attached table, and the tables under it).
 */
Datum
audit_attach(PG_FUNCTION_ARGS)
{
	EventTriggerData *data;
	AlterTableStmt *stmt;
	ListCell   *lc;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_EVENT_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function %s must be fired by an event trigger", "mlops._audit_attach")));
	data = (EventTriggerData *) fcinfo->context;
	if (!IsA(data->parsetree, AlterTableStmt))
		PG_RETURN_VOID();
	stmt = (AlterTableStmt *) data->parsetree;
	if (stmt->objtype != OBJECT_TABLE)
		PG_RETURN_VOID();
	foreach(lc, stmt->cmds)
	{
		AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);
		Oid			attached;
		ListCell   *t;

		if (cmd->subtype != AT_AttachPartition)
			continue;
		/* none when ALTER TABLE IF EXISTS found no table */
		attached = RangeVarGetRelid(((PartitionCmd *) cmd->def)->name, NoLock, true);
		if (!OidIsValid(attached) || !AuditedThroughParent(attached))
			continue;
		/* locked by the ATTACH, with the tables under it */
		foreach(t, find_all_inheritors(attached, NoLock, NULL))
			LogEnabled(lfirst_oid(t));
	}
	PG_RETURN_VOID();
}
