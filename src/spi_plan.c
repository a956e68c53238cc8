/*
 * spi_plan.c — the fixed queries mlops runs on every call (resolving a model
 * reference, loading a version, probing the prediction log), prepared once
 * per backend and kept, rather than planned at each call.
 */
#include "postgres.h"

#include "mlops/spi_plan.h"

/*
 * The plan of sql in *plan, prepared and kept (SPI_keepplan) at its first
 * use in the backend. *plan is set only once the plan is kept: a failure
 * leaves it NULL, so that the next call prepares it again rather than use a
 * plan freed with its SPI connection. PostgreSQL's plan cache replans a kept
 * plan when what it refers to changes (DROP and CREATE EXTENSION included).
 */
SPIPlanPtr
SpiKeptPlan(SPIPlanPtr *plan, const char *sql, int nargs, Oid *types)
{
	if (*plan == NULL)
	{
		SPIPlanPtr	prepared = SPI_prepare(sql, nargs, types);

		if (prepared == NULL || SPI_keepplan(prepared) != 0)
			elog(ERROR, "could not prepare \"%s\": %s", sql, SPI_result_code_string(SPI_result));
		*plan = prepared;
	}
	return *plan;
}
