/*
 * canonical_output.c — values turned into text (and JSON) as they are under
 * the default output settings, whatever the session's.
 *
 * What mlops stores as text or jsonb (the audit log's rows, prediction_log's
 * features, run metrics as jsonb) must not depend on who wrote it: float8out
 * rounds at extra_float_digits <= 0, and DateStyle, IntervalStyle, TimeZone,
 * bytea_output and lc_monetary change how dates, intervals, bytea and money
 * are spelled, search_path and quote_all_identifiers how regclass and the
 * other reg* types name objects. The canonical settings are PostgreSQL's
 * defaults, with TimeZone UTC: extra_float_digits 1 (shortest exact),
 * DateStyle ISO, IntervalStyle postgres, bytea_output hex, lc_monetary C; and
 * search_path pg_catalog, pg_temp (names schema-qualified but pg_catalog's,
 * which a temporary table or type of the writer named like one cannot hide:
 * an empty search_path searches pg_temp first), without
 * quote_all_identifiers. They are set, for the length of one conversion, only
 * where the session's differ, and only those that the value's type depends
 * on, so that a session at the defaults pays nothing (but for reg* values).
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/transam.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgtime.h"
#include "utils/builtins.h"
#include "utils/bytea.h"
#include "utils/float.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/pg_locale.h"
#include "utils/typcache.h"

#include "mlops/canonical_output.h"

/* The search_path reg* values are named under: pg_temp last, not first. */
#define CANONICAL_SEARCH_PATH "pg_catalog, pg_temp"

static int	RowOutputSettings(Oid typid, int32 typmod);

/*
 * The settings the text of a value of type typid depends on: those of its
 * base type (a domain), its elements (an array), its subtype (a range or a
 * multirange) or its columns (a composite); every setting for an anonymous
 * record, whose columns are not known. A base type of another extension
 * counts as depending on extra_float_digits, the one setting of ours that
 * such types' output is known to read (cube's, through float8out); an enum
 * on none.
 */
int
TypeOutputSettings(Oid typid)
{
	Oid			inner;
	char		typtype;
	int			flags = 0;

	check_stack_depth();
	typid = getBaseType(typid);
	switch (typid)
	{
		case FLOAT4OID:
		case FLOAT8OID:
		case POINTOID:
		case LSEGOID:
		case PATHOID:
		case BOXOID:
		case POLYGONOID:
		case LINEOID:
		case CIRCLEOID:
			return OUTPUT_FLOAT;
		case DATEOID:
		case TIMESTAMPOID:
			return OUTPUT_DATESTYLE;
		case TIMESTAMPTZOID:
			return OUTPUT_DATESTYLE | OUTPUT_TIMEZONE;
		case INTERVALOID:
			return OUTPUT_INTERVALSTYLE;
		case BYTEAOID:
			return OUTPUT_BYTEA;
		case CASHOID:
			return OUTPUT_MONETARY;
		case REGCLASSOID:
		case REGCOLLATIONOID:
		case REGCONFIGOID:
		case REGDICTIONARYOID:
		case REGNAMESPACEOID:
		case REGOPERATOROID:
		case REGOPEROID:
		case REGPROCEDUREOID:
		case REGPROCOID:
		case REGROLEOID:
		case REGTYPEOID:
			return OUTPUT_NAMES;
		case RECORDOID:
			return OUTPUT_ALL;
	}
	if ((inner = get_element_type(typid)) != InvalidOid)
		return TypeOutputSettings(inner);
	if ((inner = get_range_subtype(typid)) != InvalidOid)
		return TypeOutputSettings(inner);
	if ((inner = get_multirange_range(typid)) != InvalidOid)
		return TypeOutputSettings(inner);
	typtype = get_typtype(typid);
	if (typtype == TYPTYPE_COMPOSITE)
		flags = RowOutputSettings(typid, -1);
	else if (typtype == TYPTYPE_BASE && typid >= FirstNormalObjectId)
		flags = OUTPUT_FLOAT;	/* a type of another extension */
	return flags;
}

/*
 * The settings the text of a row of type (typid, typmod) depends on: those of
 * its columns. typmod tells an anonymous record type (typid RECORDOID) apart.
 */
static int
RowOutputSettings(Oid typid, int32 typmod)
{
	TupleDesc	desc = lookup_rowtype_tupdesc(typid, typmod);
	int			flags = 0;

	for (int i = 0; i < desc->natts; i++)
		if (!TupleDescAttr(desc, i)->attisdropped)
			flags |= TypeOutputSettings(TupleDescAttr(desc, i)->atttypid);
	ReleaseTupleDesc(desc);
	return flags;
}

/* True when the session's time zone is UTC (a fixed offset of 0). */
static bool
TimeZoneIsUtc(void)
{
	long int	gmtoff;

	return pg_get_timezone_offset(session_timezone, &gmtoff) && gmtoff == 0;
}

/* The canonical value of each setting, under the flag of the types whose text it shapes. */
static const struct
{
	int			flag;
	const char *name;
	const char *value;
}			canonical[] =
{
	{OUTPUT_FLOAT, "extra_float_digits", "1"},
	{OUTPUT_DATESTYLE, "DateStyle", "ISO"},
	{OUTPUT_INTERVALSTYLE, "IntervalStyle", "postgres"},
	{OUTPUT_TIMEZONE, "TimeZone", "UTC"},
	{OUTPUT_BYTEA, "bytea_output", "hex"},
	{OUTPUT_MONETARY, "lc_monetary", "C"},
	{OUTPUT_NAMES, "search_path", CANONICAL_SEARCH_PATH},
	{OUTPUT_NAMES, "quote_all_identifiers", "off"},
};

/*
 * True when the session's settings of flag (one OUTPUT_* bit) already give
 * the canonical text: checked on the variables, which is cheap.
 */
static bool
IsCanonical(int flag)
{
	switch (flag)
	{
		case OUTPUT_FLOAT:
			return extra_float_digits > 0;
		case OUTPUT_DATESTYLE:
			return DateStyle == USE_ISO_DATES;
		case OUTPUT_INTERVALSTYLE:
			return IntervalStyle == INTSTYLE_POSTGRES;
		case OUTPUT_TIMEZONE:
			return TimeZoneIsUtc();
		case OUTPUT_BYTEA:
			return bytea_output == BYTEA_OUTPUT_HEX;
		case OUTPUT_MONETARY:
			return strcmp(locale_monetary, "C") == 0 || strncmp(locale_monetary, "C.", 2) == 0 ||
				strcmp(locale_monetary, "POSIX") == 0;
		case OUTPUT_NAMES:
			return strcmp(namespace_search_path, CANONICAL_SEARCH_PATH) == 0 && !quote_all_identifiers;
	}
	return true;
}

/*
 * Puts the settings of flags that differ from their canonical values to them,
 * at a new GUC nest level, until CanonicalOutputEnd; returns that level, or
 * -1 when every one of them was canonical already (the common case, which
 * costs a few comparisons). An error in between restores them as the
 * (sub)transaction aborts.
 */
int
CanonicalOutputBegin(int flags)
{
	int			differ = 0;
	int			level;

	for (int bit = 1; bit <= OUTPUT_ALL; bit <<= 1)
		if ((flags & bit) && !IsCanonical(bit))
			differ |= bit;
	if (differ == 0)
		return -1;
	level = NewGUCNestLevel();
	for (int i = 0; i < lengthof(canonical); i++)
		if (differ & canonical[i].flag)
			(void) set_config_option(canonical[i].name, canonical[i].value, PGC_USERSET, PGC_S_SESSION,
									 GUC_ACTION_SAVE, true, 0, false);
	return level;
}

/* Restores the settings CanonicalOutputBegin changed (none for level -1). */
void
CanonicalOutputEnd(int level)
{
	if (level >= 0)
		AtEOXact_GUC(true, level);
}

/* What mlops._to_jsonb_canonical keeps per call site. */
typedef struct ToJsonbCall
{
	Oid			type;			/* the argument's declared type */
	int			flags;			/* the settings it depends on; for a record, its last row type's */
	Oid			row_type;		/* a record: the row type flags are for (InvalidOid: none yet) */
	int32		row_typmod;		/* and its typmod (an anonymous row type's number) */
	FmgrInfo	to_jsonb;		/* to_jsonb(), finding that type in our call's expression */
} ToJsonbCall;

/*
 * The settings the text of value depends on: its declared type's, or for a
 * record (a PL/pgSQL record variable, a row of a subquery) those of the row
 * type it holds, so that a row of floats does not switch every setting.
 */
static int
ValueOutputSettings(ToJsonbCall *call, Datum value)
{
	HeapTupleHeader row;
	Oid			row_type;
	int32		typmod;

	if (call->type != RECORDOID)
		return call->flags;
	row = DatumGetHeapTupleHeader(value);
	row_type = HeapTupleHeaderGetTypeId(row);
	typmod = HeapTupleHeaderGetTypMod(row);
	if (row_type != call->row_type || typmod != call->row_typmod)
	{
		call->flags = RowOutputSettings(row_type, typmod);
		call->row_type = row_type;
		call->row_typmod = typmod;
	}
	return call->flags;
}

PG_FUNCTION_INFO_V1(to_jsonb_canonical);

/*
 * mlops._to_jsonb_canonical(anyelement) — to_jsonb() of the value as it is
 * under the canonical settings: what mlops stores as jsonb reads the same
 * whoever wrote it.
 */
Datum
to_jsonb_canonical(PG_FUNCTION_ARGS)
{
	ToJsonbCall *call = (ToJsonbCall *) fcinfo->flinfo->fn_extra;
	int			level;
	Datum		result;

	if (call == NULL)
	{
		call = MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, sizeof(ToJsonbCall));
		call->type = getBaseType(get_fn_expr_argtype(fcinfo->flinfo, 0));
		call->flags = TypeOutputSettings(call->type);
		call->row_type = InvalidOid;
		fmgr_info_cxt(F_TO_JSONB, &call->to_jsonb, fcinfo->flinfo->fn_mcxt);
		call->to_jsonb.fn_expr = fcinfo->flinfo->fn_expr;
		fcinfo->flinfo->fn_extra = call;
	}
	level = CanonicalOutputBegin(ValueOutputSettings(call, PG_GETARG_DATUM(0)));
	result = FunctionCall1(&call->to_jsonb, PG_GETARG_DATUM(0));
	CanonicalOutputEnd(level);
	PG_RETURN_DATUM(result);
}
