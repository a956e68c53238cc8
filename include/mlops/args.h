/*
 * args.h — checks on the arguments of SQL-callable C functions that are not
 * STRICT, so that a NULL argument gets one message and one SQLSTATE
 * everywhere.
 */
#ifndef MLOPS_ARGS_H
#define MLOPS_ARGS_H

#include "postgres.h"
#include "fmgr.h"
#include "nodes/pg_list.h"

/* Raises 22004 "NAME must not be null" when argument arg is NULL. */
extern void RequireArg(FunctionCallInfo fcinfo, int arg, const char *name);

/* The text argument arg as a C string, or RequireArg's error when it is NULL. */
extern char *RequireTextArg(FunctionCallInfo fcinfo, int arg, const char *name);

/*
 * The column names of text[] argument arg (NIL when it is NULL: every
 * column); a multi-dimensional or empty array is 22023, a NULL name 22004.
 */
extern List *NameListArg(FunctionCallInfo fcinfo, int arg, const char *name);

/* Raises 42602 unless name is a valid model name (of a model to create). */
extern void CheckModelName(const char *name);

#endif
