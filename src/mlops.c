/*
 * mlops.c — module magic, configuration parameters and the memory check
 * they set (MlopsRequireMemory), build information, and the role that called
 * into mlops (invoker).
 *
 * Nothing heavy happens at load time: no thread pool is started here, so that a
 * library preloaded into the postmaster never forks with threads running.
 */
#include "postgres.h"

#include <limits.h>
#include <unistd.h>

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/jsonb.h"

#include <cblas.h>
#include <xgboost/c_api.h>

#include "mlops/settings.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

int			mlops_threads = 0;
int			mlops_max_training_memory = 1024 * 1024;	/* 1GB in kB */
int			mlops_model_cache_size = 16;
char	   *mlops_default_alias = NULL;
int			mlops_progress_interval = 5000;	/* 5 s in ms */

/*
 * Checks that mlops.default_alias is a valid alias name, by the rule of the
 * domain mlops.alias_name (a lower-case letter or "_", then lower-case
 * letters, digits, "_" or "-", at most 63 characters): the first version of a
 * new model is given this alias, which the registry stores in that domain.
 */
static bool
check_default_alias(char **newval, void **extra, GucSource source)
{
	const char *p;

	if (**newval == '\0')
	{
		GUC_check_errdetail("The default alias must not be empty.");
		return false;
	}
	for (p = *newval; *p; p++)
	{
		if (!((*p >= 'a' && *p <= 'z') || *p == '_' ||
			  (p > *newval && ((*p >= '0' && *p <= '9') || *p == '-'))))
		{
			GUC_check_errdetail("An alias name is a lower-case letter or \"_\", then lower-case letters, digits, \"_\" or \"-\".");
			return false;
		}
	}
	if (p - *newval > 63)
	{
		GUC_check_errdetail("An alias name is at most 63 characters long.");
		return false;
	}
	return true;
}

/* Defines the mlops.* parameters and reserves the prefix. */
void
_PG_init(void)
{
	DefineCustomIntVariable("mlops.threads",
							"Number of threads a training may use (0 = every core).",
							NULL, &mlops_threads, 0, 0, MLOPS_MAX_THREADS,
							PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("mlops.max_training_memory",
							"Largest amount of memory a training, an evaluation or a reading of a source in full may hold its rows in.",
							"Beyond it the call stops with an error instead of exhausting the server's memory; live_metrics holds each group within it.",
							&mlops_max_training_memory, 1024 * 1024, 1024, INT_MAX,
							PGC_USERSET, GUC_UNIT_KB, NULL, NULL, NULL);
	DefineCustomIntVariable("mlops.model_cache_size",
							"Number of compiled models each backend keeps ready for scoring.",
							NULL, &mlops_model_cache_size, 16, 0, 10000,
							PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("mlops.default_alias",
							   "Alias that a bare model name resolves to.",
							   NULL, &mlops_default_alias, "production",
							   PGC_USERSET, 0, check_default_alias, NULL, NULL);
	DefineCustomIntVariable("mlops.progress_interval",
							"Time between the progress notices of a long training (-1 = none).",
							"The first comes once that much time has passed; 0 reports every step.",
							&mlops_progress_interval, 5000, -1, INT_MAX,
							PGC_USERSET, GUC_UNIT_MS, NULL, NULL, NULL);
	MarkGUCPrefixReserved("mlops");
}

PG_FUNCTION_INFO_V1(default_alias);

/*
 * _default_alias() — mlops.default_alias, the alias a bare model name means,
 * for the PL/pgSQL functions that resolve references (resolve_model, retrain,
 * the scheduled jobs). In C so that calling it loads this library: a value SET
 * before the load is a placeholder holding any text, which _PG_init checks
 * (an invalid one is warned about and replaced by the default), so the
 * PL/pgSQL functions and the scoring functions in C resolve alike.
 */
Datum
default_alias(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(mlops_default_alias));
}

/* The number of training threads to use: mlops.threads, or every core for 0. */
int
MlopsTrainingThreads(void)
{
	long		cores;

	if (mlops_threads > 0)
		return mlops_threads;
	cores = sysconf(_SC_NPROCESSORS_ONLN);
	return cores > 0 ? (int) cores : 1;
}

/*
 * Raises 53200 when `held` bytes, in all, exceed mlops.max_training_memory:
 * the one check of what grows with the rows read — a training's data, an
 * evaluation's scores, a reading of a source in full (compare, drift,
 * profiles), a live_metrics group — which would otherwise exhaust the
 * server's memory. `work` names the work in the message ("training"), `what`
 * what it holds, `fewer` what to do short of raising the limit.
 */
void
MlopsRequireMemory(Size held, const char *work, const char *what, const char *fewer)
{
	if (held <= (Size) mlops_max_training_memory * 1024)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_OUT_OF_MEMORY),
			 errmsg("%s needs more memory than mlops.max_training_memory allows", work),
			 errdetail("Holding %s needs %zu kB in all; the limit is %d kB.",
					   what, (held + 1023) / 1024, mlops_max_training_memory),
			 errhint("Raise mlops.max_training_memory, or %s.", fewer)));
}

PG_FUNCTION_INFO_V1(build_info);

/*
 * build_info() — the versions of the libraries this module was linked with,
 * as jsonb, so that a user can check which XGBoost and OpenBLAS score for them.
 */
Datum
build_info(PG_FUNCTION_ARGS)
{
	int			major,
				minor,
				patch;
	StringInfoData buf;

	XGBoostVersion(&major, &minor, &patch);
	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"xgboost\": \"%d.%d.%d\", \"openblas\": ", major, minor, patch);
	escape_json(&buf, openblas_get_config());
	appendStringInfo(&buf, ", \"openblas_threads\": %d, \"training_threads\": %d}",
					 openblas_get_num_threads(), MlopsTrainingThreads());
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
}

PG_FUNCTION_INFO_V1(invoker);

/*
 * invoker() — the role that called into mlops, as seen outside any SECURITY
 * DEFINER function: the registry's SECURITY DEFINER functions record it as
 * "who" (current_user inside them is the extension's owner) and decide by it
 * who may move the alias production.
 *
 * Within a security-restricted operation (ANALYZE and VACUUM, autovacuum's
 * included, CREATE INDEX, REINDEX, CLUSTER, materialized views) PostgreSQL
 * runs a table owner's functions (index expressions, the view's query) as
 * that owner, while the outer role stays the one that ran the command — a
 * superuser, or autovacuum's. Taking the outer role there would let a
 * trainer's index expression move production on the next ANALYZE, recorded
 * as done by the superuser; the calling role cannot be told, so it is an
 * error (42501).
 */
Datum
invoker(PG_FUNCTION_ARGS)
{
	if (InSecurityRestrictedOperation())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("mlops cannot identify the calling role within a security-restricted operation"),
				 errdetail("Maintenance commands (ANALYZE, VACUUM, CREATE INDEX, REFRESH MATERIALIZED VIEW) run a table owner's functions as that owner, "
						   "while mlops records and authorizes changes by the role that ran the command."),
				 errhint("Do not call mlops functions that write from index expressions or materialized views.")));
	PG_RETURN_DATUM(DirectFunctionCall1(namein,
										CStringGetDatum(GetUserNameFromId(GetOuterUserId(), false))));
}
