/*
 * args.c — shared argument checks for the SQL-callable C functions: NULL
 * arguments, the lists of column names, and model names.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "nodes/makefuncs.h"
#include "parser/parse_func.h"
#include "utils/array.h"
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

/*
 * The names in text[] argument arg as a List of C strings, NIL when the
 * argument is NULL (meaning every column): a one-dimensional array, not
 * empty (22023), without NULL elements (22004).
 */
List *
NameListArg(FunctionCallInfo fcinfo, int arg, const char *name)
{
	ArrayType  *array;
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	List	   *names = NIL;

	if (PG_ARGISNULL(arg))
		return NIL;
	array = PG_GETARG_ARRAYTYPE_P(arg);
	if (ARR_NDIM(array) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a one-dimensional array", name)));
	deconstruct_array(array, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be empty", name),
				 errhint("Pass NULL for all of them.")));
	for (int i = 0; i < n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not contain NULL", name)));
		names = lappend(names, TextDatumGetCString(elems[i]));
	}
	return names;
}

/*
 * Raises 42602 unless name is a valid model name, by the registry's own check
 * (mlops._check_model_name), called through fmgr, where no EXECUTE right is
 * asked. Registering a version checks it too, but only once a training is
 * done or an artifact read; and a model name is also the default experiment's,
 * which start_run refuses with a message about experiments.
 */
void
CheckModelName(const char *name)
{
	Oid			argtype = TEXTOID;
	Oid			check = LookupFuncName(list_make2(makeString("mlops"), makeString("_check_model_name")),
									   1, &argtype, false);

	(void) OidFunctionCall1(check, CStringGetTextDatum(name));
}
