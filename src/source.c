/*
 * source.c — reading a source (table, view or query) through an SPI cursor in
 * batches, with the caller's privileges, and converting its values; checking
 * the form of one that is stored to be read later.
 */
#include "postgres.h"

#include <ctype.h>

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "common/keywords.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "parser/parser.h"
#include "parser/scansup.h"
#include "tcop/pquery.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/varlena.h"

#include "mlops/source.h"

/*
 * Skips white space and SQL comments (from "--" to the end of the line, and
 * C-style block comments, which nest), as the SQL scanner does between tokens.
 */
static const char *
SkipSpaceAndComments(const char *p)
{
	for (;;)
	{
		if (isspace((unsigned char) *p))
			p++;
		else if (p[0] == '-' && p[1] == '-')
		{
			while (*p != '\0' && *p != '\n' && *p != '\r')
				p++;
		}
		else if (p[0] == '/' && p[1] == '*')
		{
			int			depth = 1;

			p += 2;
			while (*p != '\0' && depth > 0)
			{
				if (p[0] == '/' && p[1] == '*')
					depth++, p += 2;
				else if (p[0] == '*' && p[1] == '/')
					depth--, p += 2;
				else
					p++;
			}
		}
		else
			return p;
	}
}

/*
 * True when text is a query rather than a relation name (comments may come
 * first): it starts with one of the keywords as a whole word, which the
 * scanner ends at any character that cannot continue an identifier
 * ("SELECT*FROM t", "SELECT'a'"). A "." after it makes it a name's first part
 * instead (a schema "table", as stringToQualifiedNameList reads it).
 */
static bool
SourceIsQuery(const char *source)
{
	static const char *const keywords[] = {"select", "with", "values", "table"};
	const char *p = SkipSpaceAndComments(source);

	while (*p == '(')
		p = SkipSpaceAndComments(p + 1);
	for (int i = 0; i < lengthof(keywords); i++)
	{
		size_t		n = strlen(keywords[i]);
		unsigned char next;

		if (pg_strncasecmp(p, keywords[i], n) != 0)
			continue;
		next = (unsigned char) p[n];
		if (!(isalnum(next) || next == '_' || next == '$' || next == '.' || IS_HIGHBIT_SET(next)))
			return true;
	}
	return false;
}

/*
 * Error context of the parse of a query source: a syntax error's position is
 * one in the source, so it is reported against the source's text (as SPI does
 * for its queries) rather than against the caller's statement, where it would
 * point at an unrelated character.
 */
static void
SourceParseErrorCallback(void *arg)
{
	int			position = geterrposition();

	if (position > 0)
	{
		errposition(0);
		internalerrposition(position);
		internalerrquery((const char *) arg);
	}
}

/*
 * Raises 42601 for a text that is neither a query (SELECT, WITH, VALUES,
 * TABLE) nor a relation name: most often a statement that changes data or a
 * utility statement, which a source, only ever read (and read again by every
 * retraining, monitor run and report), must not be.
 */
static void
RefuseNonQuery(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_SYNTAX_ERROR),
			 errmsg("source is neither a relation name nor a query"),
			 errdetail("A query source is a single SELECT, WITH, VALUES or TABLE query; "
					   "INSERT, UPDATE, DELETE, MERGE, SELECT ... INTO and utility statements are not sources."),
			 errhint("Give a table or view name, or a SELECT query.")));
}

/*
 * raw_expression_tree_walker callback: refuses, in every SELECT of a query
 * source (the query itself, the branches of a UNION, its WITH queries and
 * subqueries), what makes it no source: an INTO (RefuseNonQuery), a locking
 * clause (0A000; PostgreSQL's own refusal would blame a "non-volatile
 * function"), a WITH query that changes data (0A000), and a parameter ($1:
 * a source is run without any, so every reading would fail, 42P02, as
 * PostgreSQL reports it). context: unused.
 */
static bool
RefuseNonSourceNode(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, SelectStmt))
	{
		SelectStmt *select = (SelectStmt *) node;

		if (select->intoClause != NULL)
			RefuseNonQuery();
		if (select->lockingClause != NIL)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("source must not lock the rows it reads"),
					 errdetail("A source is only read: FOR UPDATE, FOR NO KEY UPDATE, FOR SHARE and FOR KEY SHARE are refused."),
					 errhint("Leave the locking clause out of the query.")));
	}
	else if (IsA(node, ParamRef))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_PARAMETER),
				 errmsg("there is no parameter $%d", ((ParamRef *) node)->number),
				 errdetail("A source is run without parameters."),
				 errhint("Write the value into the query.")));
	else if (IsA(node, CommonTableExpr) && !IsA(((CommonTableExpr *) node)->ctequery, SelectStmt))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("source must not change data"),
				 errdetail("A source is only read: a WITH query that inserts, updates or deletes is refused."),
				 errhint("Give a SELECT query.")));
	return raw_expression_tree_walker(node, RefuseNonSourceNode, context);
}

/*
 * Raises the error for a source that is no relation name: 42601 when it
 * starts with an SQL keyword (a statement that is not a query: DELETE, SHOW,
 * ONLY t), else 42602, as for a name that needs quoting ("sales data"). The
 * first word is read as PostgreSQL's lexer reads an identifier (digits, "$"
 * and non-ASCII bytes continue it), so that "select1 data" is a name, not the
 * keyword SELECT.
 */
static void
RefuseBadName(const char *source)
{
	const char *p = SkipSpaceAndComments(source);
	char		word[NAMEDATALEN];
	int			n = 0;

	while (n < NAMEDATALEN - 1 && (isalnum((unsigned char) p[n]) || p[n] == '_' || p[n] == '$' ||
								   IS_HIGHBIT_SET(p[n])))
	{
		word[n] = pg_ascii_tolower((unsigned char) p[n]);
		n++;
	}
	word[n] = '\0';
	if (n > 0 && ScanKeywordLookup(word, &ScanKeywords) >= 0)
		RefuseNonQuery();
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_NAME),
			 errmsg("source \"%s\" is not a valid relation name", source),
			 errhint("Quote a name that holds spaces or other special characters, or give a SELECT query.")));
}

/*
 * A relation name source without the semicolons (and white space) at its end,
 * which a query source may have too: "houses;" names houses, as it would end
 * a statement in SQL. A semicolon within a quoted name is kept: that name
 * ends with its closing quote.
 */
static char *
NameWithoutSemicolons(const char *source)
{
	char	   *name = pstrdup(source);
	size_t		len = strlen(name);

	while (len > 0 && (name[len - 1] == ';' || scanner_isspace(name[len - 1])))
		name[--len] = '\0';
	return name;
}

/*
 * Checks the form of a source without looking anything up, and returns the
 * text of a query source as PostgreSQL's parser delimits it (comments and
 * semicolons after it left out), or NULL for a relation name, whose parts go
 * to *names. An empty source, or one of white space and comments only, names
 * nothing, and so does one of semicolons besides (22023; a NULL one is
 * refused by the callers, 22004). A second
 * statement is refused (42601), as is a statement that is not a query (a
 * WITH before a DELETE: RefuseNonQuery) and what RefuseNonSourceNode and
 * RefuseBadName refuse. A name may end with semicolons, as a query may.
 */
static char *
SourceQueryText(const char *source, List **names)
{
	const char *rest = source ? SkipSpaceAndComments(source) : NULL;
	char	   *name;

	/* semicolons alone end empty statements, as they do after a query */
	while (rest != NULL && *rest == ';')
		rest = SkipSpaceAndComments(rest + 1);
	if (rest == NULL || *rest == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("source must not be empty"),
				 errhint("Give a table or view name, or a SELECT query.")));
	if (SourceIsQuery(source))
	{
		List	   *statements;
		RawStmt    *query;
		ErrorContextCallback errcallback;

		errcallback.callback = SourceParseErrorCallback;
		errcallback.arg = unconstify(char *, source);
		errcallback.previous = error_context_stack;
		error_context_stack = &errcallback;
		statements = raw_parser(source, RAW_PARSE_DEFAULT);
		error_context_stack = errcallback.previous;
		if (list_length(statements) != 1)
			ereport(ERROR,
					(errcode(ERRCODE_SYNTAX_ERROR),
					 errmsg("source must be a single query"),
					 errdetail("It holds %d statements.", list_length(statements))));
		query = linitial_node(RawStmt, statements);
		if (!IsA(query->stmt, SelectStmt))
			RefuseNonQuery();
		(void) RefuseNonSourceNode(query->stmt, NULL);
		/* stmt_len 0: the query runs to the end of the text */
		return pnstrdup(source + query->stmt_location,
						query->stmt_len > 0 ? query->stmt_len : strlen(source + query->stmt_location));
	}
	/* the check stringToQualifiedNameList makes, with an error of our own */
	name = NameWithoutSemicolons(source);
	if (!SplitIdentifierString(pstrdup(name), '.', names) || *names == NIL)
		RefuseBadName(source);
	*names = stringToQualifiedNameList(name);
	return NULL;
}

/*
 * The FROM item for a source: a query in parentheses (a "--" comment within
 * it is why a line break precedes the closing parenthesis), or the relation's
 * quoted, schema-qualified name. An unknown relation is reported here
 * (42P01), before any SQL is built from the name.
 */
static char *
SourceFromItem(const char *source)
{
	List	   *names;
	char	   *query = SourceQueryText(source, &names);
	RangeVar   *rv;
	Oid			relid;

	if (query != NULL)
		return psprintf("(%s\n)", query);
	rv = makeRangeVarFromNameList(names);
	relid = RangeVarGetRelid(rv, NoLock, true);
	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("source \"%s\" does not exist", source),
				 errhint("Give a table or view name, or a SELECT query.")));
	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
									  get_rel_name(relid));
}

/*
 * mlops._check_source(source): raises what a reading of the source would
 * raise for its form (SourceQueryText), reading and resolving nothing, for
 * what stores a source to read later (a monitor): a source that can never be
 * read is refused when it is given rather than at every run.
 */
PG_FUNCTION_INFO_V1(check_source);
Datum
check_source(PG_FUNCTION_ARGS)
{
	List	   *names;

	(void) SourceQueryText(text_to_cstring(PG_GETARG_TEXT_PP(0)), &names);
	PG_RETURN_VOID();
}

/* The SQL text "SELECT <select_list> FROM <source> AS source" (select_list NULL = *). */
char *
SourceSelect(const char *source, const char *select_list)
{
	return psprintf("SELECT %s FROM %s AS source",
					select_list ? select_list : "*", SourceFromItem(source));
}

/* The columns of a source, in order (a List of SourceColumn *). */
List *
SourceColumns(const char *source)
{
	SPIPlanPtr	plan;
	TupleDesc	tupdesc;
	List	   *columns = NIL;

	plan = SPI_prepare(psprintf("%s LIMIT 0", SourceSelect(source, NULL)), 0, NULL);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	if (SPI_execute_plan(plan, NULL, NULL, true, 0) != SPI_OK_SELECT)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("source must return rows"),
				 errdetail("The source is \"%s\".", source)));
	tupdesc = SPI_tuptable->tupdesc;
	for (int i = 0; i < tupdesc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(tupdesc, i);
		SourceColumn *col;

		if (att->attisdropped)
			continue;
		col = palloc(sizeof(SourceColumn));
		col->name = pstrdup(NameStr(att->attname));
		col->type = getBaseType(att->atttypid);
		columns = lappend(columns, col);
	}
	SPI_freetuptable(SPI_tuptable);
	SPI_freeplan(plan);
	return columns;
}

/* The column of columns (SourceColumns's list) named name, or NULL. */
SourceColumn *
SourceColumnNamed(List *columns, const char *name)
{
	ListCell   *lc;

	foreach(lc, columns)
	{
		SourceColumn *col = lfirst(lc);

		if (strcmp(col->name, name) == 0)
			return col;
	}
	return NULL;
}

/*
 * How many columns of columns (SourceColumns's list) are named name: more
 * than one leaves a reference to it ambiguous.
 */
int
SourceColumnsNamed(List *columns, const char *name)
{
	int			named = 0;
	ListCell   *lc;

	foreach(lc, columns)
		named += strcmp(((SourceColumn *) lfirst(lc))->name, name) == 0;
	return named;
}

/* Opens a cursor over SourceSelect(source, select_list). */
SourceReader *
SourceOpen(const char *source, const char *select_list)
{
	SourceReader *reader = palloc0(sizeof(SourceReader));
	SPIPlanPtr	plan;
	int			level = SourceScanOrderBegin();	/* the plan decides the order too */

	plan = SPI_prepare_cursor(SourceSelect(source, select_list), 0, NULL, CURSOR_OPT_NO_SCROLL);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare_cursor failed: %s", SPI_result_code_string(SPI_result));
	if (!SPI_is_cursor_plan(plan))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("source must be a single query that returns rows"),
				 errdetail("The source is \"%s\".", source)));
	reader->portal = SPI_cursor_open(NULL, plan, NULL, NULL, true);
	AtEOXact_GUC(true, level);
	reader->tupdesc = reader->portal->tupDesc;
	return reader;
}

/* A DestReceiver that hands each row to a SourceRowFn. */
typedef struct RowReceiver
{
	DestReceiver pub;
	SourceRowFn fn;
	void	   *arg;
} RowReceiver;

/* receiveSlot of RowReceiver. */
static bool
RowReceiverReceive(TupleTableSlot *slot, DestReceiver *self)
{
	RowReceiver *r = (RowReceiver *) self;

	r->fn(slot, r->arg);
	return true;
}

/* rStartup of RowReceiver: nothing to set up. */
static void
RowReceiverStartup(DestReceiver *self, int operation, TupleDesc typeinfo)
{
}

/* rShutdown and rDestroy of RowReceiver: nothing to release. */
static void
RowReceiverShutdown(DestReceiver *self)
{
}

/* Pins the settings that decide the order of a source's rows (see source.h). */
int
SourceScanOrderBegin(void)
{
	int			level = NewGUCNestLevel();

	(void) set_config_option("synchronize_seqscans", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("max_parallel_workers_per_gather", "0", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("enable_async_append", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return level;
}

/*
 * Fetches up to SOURCE_BATCH_ROWS rows and hands each to fn as the executor's
 * slot, without copying it into an SPI tuple table (which costs more than the
 * scan itself on wide sources); returns how many rows came. fn runs in the
 * executor's memory context: it must switch to its own for what it allocates.
 */
uint64
SourceFetch(SourceReader *reader, SourceRowFn fn, void *arg)
{
	RowReceiver receiver;
	int			level;
	uint64		fetched;

	CHECK_FOR_INTERRUPTS();
	memset(&receiver, 0, sizeof(receiver));
	receiver.pub.receiveSlot = RowReceiverReceive;
	receiver.pub.rStartup = RowReceiverStartup;
	receiver.pub.rShutdown = RowReceiverShutdown;
	receiver.pub.rDestroy = RowReceiverShutdown;
	receiver.pub.mydest = DestNone;
	receiver.fn = fn;
	receiver.arg = arg;
	/* a scan starts (or restarts) inside a fetch: where it starts is decided there */
	level = SourceScanOrderBegin();
	fetched = PortalRunFetch(reader->portal, FETCH_FORWARD, SOURCE_BATCH_ROWS, &receiver.pub);
	AtEOXact_GUC(true, level);
	return fetched;
}

/* Closes the cursor. */
void
SourceClose(SourceReader *reader)
{
	SPI_cursor_close(reader->portal);
}

/* True when values of the type convert to float8 (integers, floats, numeric, boolean). */
bool
TypeIsNumeric(Oid type)
{
	switch (getBaseType(type))
	{
		case INT2OID:
		case INT4OID:
		case INT8OID:
		case FLOAT4OID:
		case FLOAT8OID:
		case NUMERICOID:
		case BOOLOID:
			return true;
		default:
			return false;
	}
}

/* True when values of the type are categories (text, varchar, char, name, enums). */
bool
TypeIsCategorical(Oid type)
{
	Oid			base = getBaseType(type);

	return base == TEXTOID || base == VARCHAROID || base == BPCHAROID ||
		base == NAMEOID || type_is_enum(base);
}

/*
 * The length of category text s (len bytes) of a column of base type `type`:
 * char(n)'s trailing spaces are no part of its value (its cast to text drops
 * them), so that training, scoring and profiles see one category, whatever
 * text type a source gives it in.
 */
int
CategoryTextLength(Oid type, const char *s, int len)
{
	if (type == BPCHAROID)
		while (len > 0 && s[len - 1] == ' ')
			len--;
	return len;
}

/*
 * A non-NULL datum of a TypeIsNumeric base type other than float8 (inline in
 * source.h) as float8, recognised without a catalog lookup (this runs once
 * per value): callers pass the base type of a domain column.
 */
double
DatumGetOtherNumericFloat8(Datum value, Oid type)
{
	switch (type)
	{
		case INT2OID:
			return (double) DatumGetInt16(value);
		case INT4OID:
			return (double) DatumGetInt32(value);
		case INT8OID:
			return (double) DatumGetInt64(value);
		case FLOAT4OID:
			return (double) DatumGetFloat4(value);
		case NUMERICOID:
			return DatumGetFloat8(DirectFunctionCall1(numeric_float8_no_overflow, value));
		case BOOLOID:
			return DatumGetBool(value) ? 1.0 : 0.0;
		default:
			elog(ERROR, "type %u is not numeric", type);
	}
	return 0.0;					/* keep the compiler quiet */
}

/* The quoted, comma-separated list of column names, for a select list. */
char *
QuoteColumnList(List *names)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	foreach(lc, names)
	{
		if (buf.len > 0)
			appendStringInfoString(&buf, ", ");
		appendStringInfoString(&buf, quote_identifier((const char *) lfirst(lc)));
	}
	return buf.data;
}

/*
 * A column name in UTF-8 (see source.h): what XGBoost's JSON and the
 * linear-json artifact hold. Conversion from the server's encoding cannot
 * fail; pg_server_to_any would instead check a SQL_ASCII database's bytes as
 * UTF-8 and refuse the name.
 */
char *
ColumnNameToUtf8(const char *name)
{
	if (GetDatabaseEncoding() == PG_SQL_ASCII)
		return unconstify(char *, name);
	return pg_server_to_any(name, strlen(name), PG_UTF8);
}

/* A UTF-8 column name in the server's encoding, as ColumnNameToUtf8's inverse. */
char *
ColumnNameFromUtf8(const char *name)
{
	if (GetDatabaseEncoding() == PG_SQL_ASCII)
		return unconstify(char *, name);
	return pg_any_to_server(name, strlen(name), PG_UTF8);
}
