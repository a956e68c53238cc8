/*
 * audit_row.c — a changed row as the audit log holds it.
 *
 * The audit trigger turns each row it logs into the jsonb object to_jsonb()
 * would give (minus ignored and dropped columns; of an UPDATE's new row, only
 * the columns it changed), written as under the default output settings with
 * TimeZone UTC whatever the session says, and into that object's text, built
 * together so that hashing the log row needs no second pass. What it needs
 * to know of a table (which columns, how each becomes jsonb) is computed once
 * per statement.
 */
#include "postgres.h"

#include "access/detoast.h"
#include "access/genam.h"
#include "access/table.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "nodes/makefuncs.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/rel.h"

#include "mlops/audit_row.h"
#include "mlops/canonical_output.h"
#include "mlops/float_text.h"

/*
 * The schema-qualified name of a table as the log names it, quoted only where
 * needed whatever quote_all_identifiers says, so that a table is logged under
 * one name by every session.
 */
char *
AuditTableName(Oid relid, const char *name)
{
	char	   *schema = get_namespace_name(get_rel_namespace(relid));
	bool		quote_all = quote_all_identifiers;
	char	   *result;

	quote_all_identifiers = false;
	PG_TRY();
	{
		result = quote_qualified_identifier(schema, name);
	}
	PG_FINALLY();
	{
		quote_all_identifiers = quote_all;
	}
	PG_END_TRY();
	return result;
}

/* Whether the trigger names the column among its ignored ones (its arguments). */
static bool
IsIgnored(Trigger *trigger, const char *name)
{
	int			i;

	for (i = 0; i < trigger->tgnargs; i++)
		if (strcmp(trigger->tgargs[i], name) == 0)
			return true;
	return false;
}

/* jsonb's order of object keys (shorter first, then byte order), for qsort_arg over indexes in attrs. */
static int
KeyOrder(const void *x, const void *y, void *arg)
{
	const AuditAttr *attrs = (const AuditAttr *) arg;
	const JsonbValue *a = &attrs[*(const int *) x].key;
	const JsonbValue *b = &attrs[*(const int *) y].key;

	if (a->val.string.len != b->val.string.len)
		return a->val.string.len > b->val.string.len ? 1 : -1;
	return memcmp(a->val.string.val, b->val.string.val, a->val.string.len);
}

/*
 * The audited table a row trigger belongs to: the table itself, or, for a
 * partition's trigger (a clone of its partitioned table's, at any depth), the
 * partitioned table that enable_audit made the original on. Followed through
 * pg_trigger's tgparentid, which the relcache's Trigger does not keep.
 */
static Oid
AuditedTable(Oid relid, Trigger *trigger)
{
	Relation	pg_trigger;
	Oid			trigger_oid = trigger->tgoid;

	if (!trigger->tgisclone)
		return relid;
	pg_trigger = table_open(TriggerRelationId, AccessShareLock);
	while (OidIsValid(trigger_oid))
	{
		ScanKeyData key;
		SysScanDesc scan;
		HeapTuple	tuple;

		ScanKeyInit(&key, Anum_pg_trigger_oid, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(trigger_oid));
		scan = systable_beginscan(pg_trigger, TriggerOidIndexId, true, NULL, 1, &key);
		tuple = systable_getnext(scan);
		if (!HeapTupleIsValid(tuple))
			elog(ERROR, "could not find trigger %u", trigger_oid);
		relid = ((Form_pg_trigger) GETSTRUCT(tuple))->tgrelid;
		trigger_oid = ((Form_pg_trigger) GETSTRUCT(tuple))->tgparentid;
		systable_endscan(scan);
	}
	table_close(pg_trigger, AccessShareLock);
	return relid;
}

/* Column order of the audited table, for qsort_arg over indexes in attrs. */
static int
AuditedColumnOrder(const void *x, const void *y, void *arg)
{
	const AuditAttr *attrs = (const AuditAttr *) arg;

	return (int) attrs[*(const int *) x].audited_attnum - (int) attrs[*(const int *) y].audited_attnum;
}

/*
 * Sets t->ordered to the audited columns in the audited table's column order,
 * which changed_columns follows, so that an UPDATE lists its columns alike
 * whatever partition holds the row: a partition of an audited partitioned
 * table may hold the same columns in another order (attached, or with
 * columns dropped). A partition has the columns of its partitioned table.
 */
static void
OrderAsAudited(AuditTable *t, Trigger *trigger)
{
	Oid			audited = AuditedTable(t->relid, trigger);
	int			k;

	for (k = 0; k < t->nkeys; k++)
	{
		int			i = t->keys[k];
		AuditAttr  *a = &t->attrs[i];

		t->ordered[k] = i;
		a->audited_attnum = audited == t->relid ? i + 1 : get_attnum(audited, a->key.val.string.val);
		if (a->audited_attnum == InvalidAttrNumber)
			elog(ERROR, "column \"%s\" of partition %u not found in its audited table %u",
				 a->key.val.string.val, t->relid, audited);
	}
	qsort_arg(t->ordered, t->nkeys, sizeof(int), AuditedColumnOrder, t->attrs);
}

/*
 * What the trigger needs to know of the table it fires on, built once per
 * statement (per trigger and table) in fn_extra.
 */
AuditTable *
AuditTableGet(FmgrInfo *flinfo, TriggerData *td)
{
	AuditTable *t = (AuditTable *) flinfo->fn_extra;
	Relation	rel = td->tg_relation;
	TupleDesc	desc = RelationGetDescr(rel);
	MemoryContext old;
	int			i;

	if (t != NULL && t->trigger_oid == td->tg_trigger->tgoid &&
		t->relid == RelationGetRelid(rel) && t->tupdesc == desc)
		return t;

	old = MemoryContextSwitchTo(flinfo->fn_mcxt);
	t = palloc0(offsetof(AuditTable, attrs) + sizeof(AuditAttr) * desc->natts);
	t->trigger_oid = td->tg_trigger->tgoid;
	t->relid = RelationGetRelid(rel);
	t->tupdesc = desc;
	t->cxt = flinfo->fn_mcxt;
	t->name = cstring_to_text(AuditTableName(RelationGetRelid(rel), RelationGetRelationName(rel)));
	t->natts = desc->natts;
	t->keys = palloc(sizeof(int) * desc->natts);
	t->ordered = palloc(sizeof(int) * desc->natts);
	t->last_changed.changed = palloc(sizeof(bool) * desc->natts);
	t->changed = palloc(sizeof(bool) * desc->natts);
	t->old_values = palloc(sizeof(Datum) * desc->natts);
	t->old_nulls = palloc(sizeof(bool) * desc->natts);
	t->new_values = palloc(sizeof(Datum) * desc->natts);
	t->new_nulls = palloc(sizeof(bool) * desc->natts);
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		AuditAttr  *a = &t->attrs[i];
		StringInfoData key_text;
		int			settings;

		a->skip = att->attisdropped || IsIgnored(td->tg_trigger, NameStr(att->attname));
		if (a->skip)
			continue;
		a->key.type = jbvString;
		a->key.val.string.val = pstrdup(NameStr(att->attname));
		a->key.val.string.len = strlen(a->key.val.string.val);
		initStringInfo(&key_text);
		escape_json(&key_text, a->key.val.string.val);
		appendStringInfoString(&key_text, ": ");
		a->key_text = key_text.data;
		a->key_text_len = key_text.len;
		t->keys[t->nkeys++] = i;
		a->typlen = att->attlen;
		a->typbyval = att->attbyval;
		a->basetype = getBaseType(att->atttypid);
		switch (a->basetype)
		{
			case BOOLOID:
				a->kind = JSON_BOOL;
				break;
			case INT2OID:
			case INT4OID:
			case INT8OID:
				a->kind = JSON_INT;
				break;
			case NUMERICOID:
				a->kind = JSON_NUMERIC;
				break;
			case FLOAT4OID:
			case FLOAT8OID:
				a->kind = JSON_FLOAT;
				break;
			case TEXTOID:
			case VARCHAROID:
			case BPCHAROID:
				a->kind = JSON_TEXT;
				break;
			case JSONBOID:
				a->kind = JSON_JSONB;
				break;
			case DATEOID:
			case TIMESTAMPOID:
			case TIMESTAMPTZOID:
				a->kind = JSON_DATETIME;
				break;
			default:
				/* to_jsonb() finds the type of its argument in fn_expr */
				a->kind = JSON_OTHER;
				/*
				 * the search_path that reg* values are named under is
				 * set for their column only (RenderValue): the other
				 * columns' casts to json and output functions may find
				 * their objects through the writer's
				 */
				settings = TypeOutputSettings(att->atttypid);
				t->output_settings |= settings & ~OUTPUT_NAMES;
				a->names = (settings & OUTPUT_NAMES) != 0;
				fmgr_info_cxt(F_TO_JSONB, &a->convert, flinfo->fn_mcxt);
				a->convert.fn_expr = (Node *) makeFuncExpr(F_TO_JSONB, JSONBOID,
														   list_make1(makeNullConst(att->atttypid, att->atttypmod,
																					att->attcollation)),
														   InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL);
				break;
		}
	}
	OrderAsAudited(t, td->tg_trigger);
	qsort_arg(t->keys, t->nkeys, sizeof(int), KeyOrder, t->attrs);
	MemoryContextSwitchTo(old);
	flinfo->fn_extra = t;
	return t;
}

/* Sets v to a jsonb value: the scalar itself, or the container (jbvBinary). */
static void
JsonbToValue(Jsonb *j, JsonbValue *v)
{
	if (JB_ROOT_IS_SCALAR(j))
		JsonbExtractScalar(&j->root, v);
	else
		JsonbToJsonbValue(j, v);
}

/*
 * Replaces a container (jbvBinary) by the tree of its values: a jsonb object
 * built directly (JsonbValueToJsonb) nests trees, not containers.
 */
static void
ExpandContainer(JsonbValue *v)
{
	JsonbParseState *state = NULL;
	JsonbIterator *it = JsonbIteratorInit(v->val.binary.data);
	JsonbIteratorToken token;
	JsonbValue	item;
	JsonbValue *tree = NULL;

	while ((token = JsonbIteratorNext(&it, &item, false)) != WJB_DONE)
		tree = pushJsonbValue(&state, token, token < WJB_BEGIN_ARRAY ? &item : NULL);
	*v = *tree;
}

/* Sets v to a string or a number parsed from the text of a number. */
static void
NumberTextToValue(char *s, JsonbValue *v)
{
	/* NaN and infinities are no JSON numbers: to_jsonb() makes them strings */
	if (strpbrk(s, "Nn") != NULL)
	{
		v->type = jbvString;
		v->val.string.val = s;
		v->val.string.len = strlen(s);
	}
	else
	{
		v->type = jbvNumeric;
		v->val.numeric = DatumGetNumeric(DirectFunctionCall3(numeric_in, CStringGetDatum(s),
															 ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)));
	}
}

/*
 * True when one of the 8 bytes of x is one that JSON escapes: a control
 * character (below 0x20), '"' or '\\'. Each test sets the high bit of a
 * byte that matches ((v - 1) & ~v for a zero byte of v, (v - 0x20) & ~v for
 * one below 0x20), so that 8 bytes are looked at in a few instructions.
 */
static inline bool
EscapeIn8(uint64 x)
{
	const uint64 ones = UINT64CONST(0x0101010101010101);
	const uint64 quote = x ^ (ones * '"');
	const uint64 backslash = x ^ (ones * '\\');

	return (((x - ones * 0x20) & ~x) | ((quote - ones) & ~quote) | ((backslash - ones) & ~backslash)) &
		UINT64CONST(0x8080808080808080);
}

/*
 * Appends a string as a JSON string, as escape_json() does, but copying a
 * string that needs no escape (most do not) in one go, after looking at it
 * 8 bytes at a time.
 */
static void
AppendJsonString(StringInfo out, const char *s, int len)
{
	int			i = 0;
	bool		escape = false;

	for (; i + 8 <= len && !escape; i += 8)
	{
		uint64		x;

		memcpy(&x, s + i, 8);
		escape = EscapeIn8(x);
	}
	for (; i < len && !escape; i++)
		escape = (unsigned char) s[i] < ' ' || s[i] == '"' || s[i] == '\\';
	if (escape)
	{
		escape_json(out, pnstrdup(s, len));
		return;
	}
	enlargeStringInfo(out, len + 2);
	out->data[out->len++] = '"';
	memcpy(out->data + out->len, s, len);
	out->len += len;
	out->data[out->len++] = '"';
	out->data[out->len] = '\0';
}

/* Appends the text jsonb's output function gives for a value. */
static void
AppendValueText(StringInfo out, JsonbValue *v)
{
	switch (v->type)
	{
		case jbvNull:
			appendBinaryStringInfo(out, "null", 4);
			break;
		case jbvBool:
			appendStringInfoString(out, v->val.boolean ? "true" : "false");
			break;
		case jbvNumeric:
			appendStringInfoString(out, DatumGetCString(DirectFunctionCall1(numeric_out,
																			NumericGetDatum(v->val.numeric))));
			break;
		case jbvString:
			AppendJsonString(out, v->val.string.val, v->val.string.len);
			break;
		case jbvBinary:
			JsonbToCString(out, v->val.binary.data, v->val.binary.len);
			break;
		default:
			elog(ERROR, "unexpected jsonb value type %d", (int) v->type);
	}
}

/*
 * Sets v to the jsonb form of a non-NULL column value (the value to_jsonb()
 * gives) and appends its text to out.
 */
static void
RenderValue(AuditAttr *a, Datum value, JsonbValue *v, StringInfo out)
{
	switch (a->kind)
	{
		case JSON_BOOL:
			v->type = jbvBool;
			v->val.boolean = DatumGetBool(value);
			break;
		case JSON_INT:
			{
				int64		i = a->typlen == 2 ? DatumGetInt16(value) :
					a->typlen == 4 ? DatumGetInt32(value) : DatumGetInt64(value);
				char		num[MAXINT8LEN + 1];

				v->type = jbvNumeric;
				v->val.numeric = int64_to_numeric(i);
				appendBinaryStringInfo(out, num, pg_lltoa(i, num));	/* numeric_out's text */
				return;
			}
		case JSON_NUMERIC:
			{
				Numeric		n = DatumGetNumeric(value);

				if (numeric_is_nan(n) || numeric_is_inf(n))
					NumberTextToValue(DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(n))), v);
				else
				{
					v->type = jbvNumeric;
					v->val.numeric = n;
				}
				break;
			}
		case JSON_FLOAT:
			/* exact whatever the writer's extra_float_digits */
			NumberTextToValue(a->basetype == FLOAT4OID ? Float4ExactText(DatumGetFloat4(value))
							  : Float8ExactText(DatumGetFloat8(value)), v);
			break;
		case JSON_TEXT:
			{
				text	   *t = DatumGetTextPP(value);

				v->type = jbvString;
				v->val.string.val = VARDATA_ANY(t);
				v->val.string.len = VARSIZE_ANY_EXHDR(t);
				break;
			}
		case JSON_JSONB:
			JsonbToValue(DatumGetJsonbP(value), v);
			break;
		case JSON_DATETIME:
			if (!a->have_last || a->last != value)
			{
				/* a timestamptz in UTC, whatever the writer's TimeZone */
				static const int utc = 0;

				JsonEncodeDateTime(a->last_text, value, a->basetype, &utc);
				a->last = value;
				a->have_last = true;
			}
			v->type = jbvString;
			v->val.string.val = a->last_text;
			v->val.string.len = strlen(a->last_text);
			break;
		case JSON_OTHER:
			{
				int			level = a->names ? CanonicalOutputBegin(OUTPUT_NAMES) : -1;
				Jsonb	   *j = DatumGetJsonbP(FunctionCall1(&a->convert, value));

				CanonicalOutputEnd(level);
				JsonbToValue(j, v);
				break;
			}
	}
	AppendValueText(out, v);
	if (v->type == jbvBinary)
		ExpandContainer(v);
}

/* The column RenderRow is at (-1: none), for the context of an error (RenderRowContext). */
typedef struct RenderPosition
{
	AuditTable *table;
	int			attr;
} RenderPosition;

/*
 * Says, in the context of an error raised while a row is turned into jsonb
 * (a json value that jsonb cannot hold, a row too large), that the change
 * failed because it could not be logged, and which column could not be.
 */
static void
RenderRowContext(void *arg)
{
	RenderPosition *pos = (RenderPosition *) arg;

	if (pos->attr < 0)
		errcontext("logging a row of table %s to mlops.audit_log", text_to_cstring(pos->table->name));
	else
		errcontext("logging column %s of table %s to mlops.audit_log",
				   quote_identifier(pos->table->attrs[pos->attr].key.val.string.val),
				   text_to_cstring(pos->table->name));
}

/*
 * Renders the audited columns of a deformed row into row: all of them, or,
 * when changed is given (an UPDATE's new row; indexed by attribute), only
 * those it says changed.
 */
void
RenderRow(AuditTable *t, Datum *values, bool *nulls, const bool *changed, RowImage *row)
{
	JsonbValue	object;
	RenderPosition pos = {t, -1};
	ErrorContextCallback context = {error_context_stack, RenderRowContext, &pos};
	int			n = 0;
	int			k;

	error_context_stack = &context;

	row->pairs = palloc(sizeof(JsonbPair) * Max(t->nkeys, 1));
	initStringInfo(&row->text);
	appendStringInfoChar(&row->text, '{');
	for (k = 0; k < t->nkeys; k++)
	{
		int			i = t->keys[k];
		AuditAttr  *a = &t->attrs[i];
		JsonbPair  *pair = &row->pairs[n];

		if (changed != NULL && !changed[i])
			continue;
		if (n > 0)
			appendBinaryStringInfo(&row->text, ", ", 2);
		appendBinaryStringInfo(&row->text, a->key_text, a->key_text_len);
		pair->key = a->key;
		pair->order = n++;
		if (nulls[i])
		{
			pair->value.type = jbvNull;
			AppendValueText(&row->text, &pair->value);
		}
		else
		{
			pos.attr = i;
			RenderValue(a, values[i], &pair->value, &row->text);
			pos.attr = -1;
		}
	}
	appendStringInfoChar(&row->text, '}');
	/* the pairs are in jsonb's key order already: no pushJsonbValue, no sort */
	object.type = jbvObject;
	object.val.object.nPairs = n;
	object.val.object.pairs = row->pairs;
	row->jsonb = JsonbValueToJsonb(&object);
	error_context_stack = context.previous;
}

/* True when two non-NULL values of a column are the same (same bytes). */
static bool
SameValue(AuditAttr *a, Datum x, Datum y)
{
	/* an unchanged TOASTed value keeps its pointer: no need to fetch it */
	if (a->typlen == -1 &&
		VARATT_IS_EXTERNAL_ONDISK(DatumGetPointer(x)) && VARATT_IS_EXTERNAL_ONDISK(DatumGetPointer(y)))
	{
		struct varatt_external px,
					py;

		VARATT_EXTERNAL_GET_POINTER(px, DatumGetPointer(x));
		VARATT_EXTERNAL_GET_POINTER(py, DatumGetPointer(y));
		if (px.va_valueid == py.va_valueid && px.va_toastrelid == py.va_toastrelid)
			return true;
	}
	return datum_image_eq(x, y, a->typbyval, a->typlen);
}

/*
 * The audited columns an UPDATE changed, or NULL when none. Kept in t until a
 * row changes other columns, so that the rows of a statement that all change
 * the same columns share one array and its text.
 */
const ChangedNames *
ChangedColumns(AuditTable *t, Datum *old_values, bool *old_nulls, Datum *new_values, bool *new_nulls)
{
	ChangedNames *last = &t->last_changed;
	Datum	   *names;
	ArrayType  *array;
	char	   *text;
	MemoryContext old;
	int			n = 0;
	int			i;
	int			k;

	for (i = 0; i < t->natts; i++)
	{
		AuditAttr  *a = &t->attrs[i];

		t->changed[i] = !a->skip &&
			(old_nulls[i] != new_nulls[i] || (!old_nulls[i] && !SameValue(a, old_values[i], new_values[i])));
		n += t->changed[i];
	}
	if (n == 0)
		return NULL;
	if (last->array != NULL && memcmp(last->changed, t->changed, sizeof(bool) * t->natts) == 0)
		return last;

	names = palloc(sizeof(Datum) * n);
	n = 0;
	for (k = 0; k < t->nkeys; k++)
	{
		AuditAttr  *a = &t->attrs[t->ordered[k]];

		if (t->changed[t->ordered[k]])
			names[n++] = PointerGetDatum(cstring_to_text_with_len(a->key.val.string.val, a->key.val.string.len));
	}
	array = construct_array(names, n, TEXTOID, -1, false, TYPALIGN_INT);
	text = OidOutputFunctionCall(F_ARRAY_OUT, PointerGetDatum(array));
	old = MemoryContextSwitchTo(t->cxt);
	if (last->array != NULL)
	{
		pfree(last->array);
		pfree(last->text.data);
	}
	memcpy(last->changed, t->changed, sizeof(bool) * t->natts);
	last->array = palloc(VARSIZE(array));
	memcpy(last->array, array, VARSIZE(array));
	initStringInfo(&last->text);
	appendStringInfoString(&last->text, text);
	MemoryContextSwitchTo(old);
	return last;
}
