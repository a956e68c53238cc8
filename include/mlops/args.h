/*
 * args.h — checks on the arguments of SQL-callable C functions that are not
 * STRICT, so that a NULL argument gets one message and one SQLSTATE
 * everywhere.
 */
#ifndef MLOPS_ARGS_H
#define MLOPS_ARGS_H

#include "postgres.h"
#include "fmgr.h"

/* Raises 22004 "NAME must not be null" when argument arg is NULL. */
extern void RequireArg(FunctionCallInfo fcinfo, int arg, const char *name);

/* The text argument arg as a C string, or RequireArg's error when it is NULL. */
extern char *RequireTextArg(FunctionCallInfo fcinfo, int arg, const char *name);

#endif
