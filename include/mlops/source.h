/*
 * source.h — reading a "source": a table or view name (schema-qualified or
 * not) or a SELECT/WITH/VALUES/TABLE query, through an SPI cursor in batches,
 * with the privileges of the current user (never the extension's: callers must
 * not be SECURITY DEFINER).
 *
 * Usage (inside SPI_connect()/SPI_finish()):
 *
 *     SourceReader *r = SourceOpen(source, "a, b, c");
 *     while (SourceFetch(r, fn, arg) > 0)      -- fn(slot, arg) once per row
 *         ;
 *     SourceClose(r);
 */
#ifndef MLOPS_SOURCE_H
#define MLOPS_SOURCE_H

#include "postgres.h"

#include "access/tupdesc.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "nodes/pg_list.h"

/* Rows fetched from the cursor at a time. */
#define SOURCE_BATCH_ROWS 10000

typedef struct SourceReader
{
	Portal		portal;
	TupleDesc	tupdesc;		/* of the rows SourceFetch hands out */
} SourceReader;

/* One column of a source, as SourceColumns reports it. */
typedef struct SourceColumn
{
	char	   *name;
	Oid			type;			/* base type (domains resolved) */
} SourceColumn;

/* The SQL text "SELECT <select_list> FROM <source> AS source" (select_list NULL = *). */
extern char *SourceSelect(const char *source, const char *select_list);

/* The columns of a source, in order (a List of SourceColumn *). */
extern List *SourceColumns(const char *source);

/* The column of columns (SourceColumns's list) named name, or NULL. */
extern SourceColumn *SourceColumnNamed(List *columns, const char *name);

/* How many columns of columns are named name. */
extern int	SourceColumnsNamed(List *columns, const char *name);

/* Opens a cursor over SourceSelect(source, select_list). */
extern SourceReader *SourceOpen(const char *source, const char *select_list);

/*
 * Receives one row of SourceFetch (the executor's slot: read it, do not keep
 * it). It need not check for interrupts: the executor does between rows, and
 * SourceFetch before each batch.
 */
typedef void (*SourceRowFn) (TupleTableSlot *slot, void *arg);

/*
 * Pins, until AtEOXact_GUC(true, the level returned), the settings that
 * decide in what order a source's rows come: no synchronized sequential scan
 * (a large table's scan would start wherever another running scan of it is),
 * no parallel plan, and no asynchronous Append (foreign partitions' rows
 * would come as each server answers). The same rows then come in the same
 * order, so that sums of floats, and what "the first rows" are, do not
 * change from run to run. Planning and fetching both take them.
 */
extern int	SourceScanOrderBegin(void);

/*
 * Fetches up to SOURCE_BATCH_ROWS rows, handing each to fn without copying
 * it; returns how many came, 0 at the end. fn runs in the executor's memory
 * context. Scans read in a fixed order (SourceScanOrderBegin).
 */
extern uint64 SourceFetch(SourceReader *reader, SourceRowFn fn, void *arg);

/* Closes the cursor. */
extern void SourceClose(SourceReader *reader);

/* True when values of the type convert to float8 (integers, floats, numeric, boolean). */
extern bool TypeIsNumeric(Oid type);

/* True when values of the type are categories (text, varchar, char, name, enums). */
extern bool TypeIsCategorical(Oid type);

/*
 * The length of category text s (len bytes) of a column of base type `type`:
 * char(n)'s padding is no part of its value.
 */
extern int	CategoryTextLength(Oid type, const char *s, int len);

/* A non-NULL datum of a TypeIsNumeric base type other than float8 as float8. */
extern double DatumGetOtherNumericFloat8(Datum value, Oid type);

/* A non-NULL datum of a TypeIsNumeric base type as float8 (inline for float8: once per value read). */
static inline double
DatumGetNumericFloat8(Datum value, Oid type)
{
	return type == FLOAT8OID ? DatumGetFloat8(value) : DatumGetOtherNumericFloat8(value, type);
}

/* The quoted, comma-separated list of column names, for a select list. */
extern char *QuoteColumnList(List *names);

/*
 * A column name in UTF-8, for the JSON of an artifact, and back; in a
 * SQL_ASCII database, whose bytes have no known encoding, kept as it is.
 */
extern char *ColumnNameToUtf8(const char *name);
extern char *ColumnNameFromUtf8(const char *name);

#endif
