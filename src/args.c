/*
 * args.c — shared NULL-argument checks for the SQL-callable C functions.
 */
#include "postgres.h"

#include "utils/builtins.h"

#include "mlops/args.h"

/* Raises 22004 naming a NULL argument. */
void
RequireArg(FunctionCallInfo fcinfo, int arg, const char *name)
{
	if (PG_ARGISNULL(arg))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", name)));
}

/* The text of argument arg as a C string, after RequireArg. */
char *
RequireTextArg(FunctionCallInfo fcinfo, int arg, const char *name)
{
	RequireArg(fcinfo, arg, name);
	return text_to_cstring(PG_GETARG_TEXT_PP(arg));
}
