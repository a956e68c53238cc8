/*
 * audit_row.h — a changed row as the audit log holds it: its audited columns
 * as jsonb and as text, and the columns an UPDATE changed (see audit_row.c).
 */
#ifndef MLOPS_AUDIT_ROW_H
#define MLOPS_AUDIT_ROW_H

#include "postgres.h"

#include "commands/trigger.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/datetime.h"
#include "utils/jsonb.h"

/* How a column's values become jsonb (the same values to_jsonb() gives). */
typedef enum JsonKind
{
	JSON_BOOL,
	JSON_INT,					/* int2, int4, int8 */
	JSON_NUMERIC,
	JSON_FLOAT,					/* float4, float8: their shortest exact text */
	JSON_TEXT,					/* text, varchar, bpchar */
	JSON_JSONB,
	JSON_DATETIME,				/* date, timestamp(tz): ISO 8601 strings, timestamptz in UTC */
	JSON_OTHER					/* anything else: to_jsonb() of the value */
} JsonKind;

/* What the trigger knows of one column of an audited table. */
typedef struct AuditAttr
{
	bool		skip;			/* dropped or ignored */
	AttrNumber	audited_attnum;	/* its number in the audited table (a partition's partitioned table) */
	JsonKind	kind;
	int16		typlen;
	bool		typbyval;
	Oid			basetype;
	JsonbValue	key;			/* the column name */
	char	   *key_text;		/* the name as a JSON string, then ": " */
	int			key_text_len;
	FmgrInfo	convert;		/* JSON_OTHER: to_jsonb */
	bool		names;			/* JSON_OTHER: its text names objects (reg* values: OUTPUT_NAMES) */
	/* JSON_DATETIME: the last value seen and its text (rows often share one, e.g. now()) */
	bool		have_last;
	Datum		last;
	char		last_text[MAXDATELEN + 1];
} AuditAttr;

/*
 * The audited columns an UPDATE changed: which ones (one flag per column of
 * the table), their names as the text[] the log stores, and its text (for the
 * hash).
 */
typedef struct ChangedNames
{
	bool	   *changed;
	ArrayType  *array;			/* NULL: none computed yet */
	StringInfoData text;
} ChangedNames;

/* What the trigger knows of an audited table, kept in fn_extra per statement. */
typedef struct AuditTable
{
	Oid			trigger_oid;
	Oid			relid;
	TupleDesc	tupdesc;
	MemoryContext cxt;			/* where this lives: the statement's */
	text	   *name;			/* schema-qualified, quoted as needed */
	int			nkeys;			/* audited columns */
	int			output_settings;	/* the settings their text depends on (OUTPUT_* flags), but OUTPUT_NAMES */
	int		   *keys;			/* their indexes in attrs, in jsonb's order of keys */
	int		   *ordered;		/* the same, in the audited table's column order (changed_columns') */
	/* the changed columns of the last UPDATE logged: the rows of a statement mostly change the same ones */
	ChangedNames last_changed;
	bool	   *changed;		/* scratch: the columns the row at hand changed */
	Datum	   *old_values;		/* scratch: the row at hand, deformed */
	bool	   *old_nulls;
	Datum	   *new_values;
	bool	   *new_nulls;
	int			natts;
	AuditAttr	attrs[FLEXIBLE_ARRAY_MEMBER];
} AuditTable;

/*
 * A row as the log holds it: its audited columns (an UPDATE's new row: the
 * changed ones) as a jsonb object, and the text of that object (what jsonb's
 * output function gives), built together so that hashing needs no second
 * pass.
 */
typedef struct RowImage
{
	Jsonb	   *jsonb;
	StringInfoData text;
	JsonbPair  *pairs;
} RowImage;

/*
 * The schema-qualified name of a table as the log names it, quoted only where
 * needed whatever quote_all_identifiers says.
 */
extern char *AuditTableName(Oid relid, const char *name);

/* What the trigger needs to know of the table it fires on, kept in flinfo's fn_extra. */
extern AuditTable *AuditTableGet(FmgrInfo *flinfo, TriggerData *td);

/*
 * Renders the audited columns of a deformed row into row (an UPDATE's new
 * row: only the changed ones).
 */
extern void RenderRow(AuditTable *t, Datum *values, bool *nulls, const bool *changed, RowImage *row);

/* The audited columns an UPDATE changed, or NULL when none. */
extern const ChangedNames *ChangedColumns(AuditTable *t, Datum *old_values, bool *old_nulls, Datum *new_values,
										  bool *new_nulls);

#endif							/* MLOPS_AUDIT_ROW_H */
