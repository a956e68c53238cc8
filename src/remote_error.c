/*
 * remote_error.c
 *	  Errors that another server raised, passed on with the name of that
 *	  server: publish_model reaches shards through dblink, whose errors name
 *	  only the dblink connection, the same for every shard.
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(raise_remote_error);

/*
 * _raise_remote_error(server, sqlstate, message, detail, hint, context):
 * raises the error a foreign server answered (its SQLSTATE, message, detail,
 * hint and context lines, any of the last four NULL) with a context line
 * naming that server.
 */
Datum
raise_remote_error(PG_FUNCTION_ARGS)
{
	const char *server = PG_ARGISNULL(0) ? "?" : NameStr(*PG_GETARG_NAME(0));
	const char *state = PG_ARGISNULL(1) ? "" : text_to_cstring(PG_GETARG_TEXT_PP(1));
	char	   *message = PG_ARGISNULL(2) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(2));
	char	   *detail = PG_ARGISNULL(3) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(3));
	char	   *hint = PG_ARGISNULL(4) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(4));
	char	   *context = PG_ARGISNULL(5) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(5));
	int			code = ERRCODE_INTERNAL_ERROR;

	if (strlen(state) == 5 && strspn(state, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ") == 5)
		code = MAKE_SQLSTATE(state[0], state[1], state[2], state[3], state[4]);
	ereport(ERROR,
			(errcode(code),
			 errmsg_internal("%s", message ? message : "unknown error"),
			 detail && *detail ? errdetail_internal("%s", detail) : 0,
			 hint && *hint ? errhint("%s", hint) : 0,
			 context && *context ? errcontext("%s", context) : 0,
			 errcontext("on foreign server \"%s\"", server)));
	PG_RETURN_VOID();
}
