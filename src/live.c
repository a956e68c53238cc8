/*
 * live.c — live model quality: the aggregate mlops._quality_agg(classes
 * float8[], actual float8, prediction float8, probabilities float8[]) behind
 * the live_metrics view, the task's quality metrics over a group of logged
 * predictions whose outcome is known, with metrics.c's scikit-learn
 * definitions. Rows without an outcome are skipped; the rows of a group are
 * kept in memory (within mlops.max_training_memory) until the final function.
 * Also mlops._key_logged, the check purge_predictions makes before deleting
 * an outcome. The SQL side (prediction_log, outcome, predict_logged,
 * record_outcome, purge_predictions, live_metrics) is in src/sql/55_live.sql.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/snapmgr.h"

#include "mlops/metrics.h"
#include "mlops/settings.h"
#include "mlops/spi_plan.h"

PG_FUNCTION_INFO_V1(quality_agg_transfn);
PG_FUNCTION_INFO_V1(quality_agg_finalfn);
PG_FUNCTION_INFO_V1(key_logged);

/*
 * The rows of one group. Regression keeps (actual, prediction); classification
 * keeps the index of the actual class among the version's classes and the k
 * logged probabilities of the row.
 */
typedef struct QualityState
{
	int			k;				/* number of classes; 0 for regression */
	double	   *classes;		/* the version's class labels, in order */
	int64		n;				/* rows kept */
	int64		capacity;
	double	   *actual;			/* regression: targets */
	double	   *prediction;		/* regression: predictions */
	int		   *label;			/* classification: index of the actual class */
	double	   *proba;			/* classification: n × k probabilities */
} QualityState;

/*
 * The elements of argument name, a float8 array, which must be
 * one-dimensional and without NULLs (22023). _log_prediction logs no other,
 * but the aggregate is also callable on any values.
 */
static double *
Float8Elements(ArrayType *a, const char *name, int *count)
{
	if (ARR_NDIM(a) > 1 || ARR_HASNULL(a) || ARR_ELEMTYPE(a) != FLOAT8OID)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a one-dimensional float8 array without nulls", name)));
	*count = ArrayGetNItems(ARR_NDIM(a), ARR_DIMS(a));
	return (double *) ARR_DATA_PTR(a);
}

/* A new state in the aggregate's context: the task from classes (NULL = regression). */
static QualityState *
NewState(MemoryContext agg, FunctionCallInfo fcinfo)
{
	QualityState *state = MemoryContextAllocZero(agg, sizeof(QualityState));

	if (!PG_ARGISNULL(1))
	{
		int			k;
		double	   *classes = Float8Elements(PG_GETARG_ARRAYTYPE_P(1), "classes", &k);

		if (k < 2)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("classes must hold at least two class labels"),
					 errhint("Pass NULL classes for a regression.")));
		state->k = k;
		state->classes = MemoryContextAlloc(agg, sizeof(double) * k);
		memcpy(state->classes, classes, sizeof(double) * k);
	}
	return state;
}

/*
 * Makes room for one more row, doubling the arrays (in the aggregate's
 * context agg), whose bytes are counted against mlops.max_training_memory: a
 * group's rows are kept until the final function, so that a large log would
 * otherwise exhaust the server's memory. Nothing else of a row may be
 * allocated in agg: it would outlive the row, uncounted.
 */
static void
Grow(QualityState *state, MemoryContext agg)
{
	int64		cap;
	MemoryContext old;

	if (state->n < state->capacity)
		return;
	cap = state->capacity ? state->capacity * 2 : 64;
	MlopsRequireMemory((Size) cap * (state->k == 0 ? 2 * sizeof(double) : sizeof(int) + sizeof(double) * state->k),
					   "live_metrics", "the outcome rows of one model version and day",
					   "keep fewer predictions with purge_predictions");
	old = MemoryContextSwitchTo(agg);
	if (state->k == 0)
	{
		state->actual = state->actual ? repalloc_huge(state->actual, sizeof(double) * cap)
			: palloc_extended(sizeof(double) * cap, MCXT_ALLOC_HUGE);
		state->prediction = state->prediction ? repalloc_huge(state->prediction, sizeof(double) * cap)
			: palloc_extended(sizeof(double) * cap, MCXT_ALLOC_HUGE);
	}
	else
	{
		state->label = state->label ? repalloc_huge(state->label, sizeof(int) * cap)
			: palloc_extended(sizeof(int) * cap, MCXT_ALLOC_HUGE);
		state->proba = state->proba ? repalloc_huge(state->proba, sizeof(double) * cap * state->k)
			: palloc_extended(sizeof(double) * cap * state->k, MCXT_ALLOC_HUGE);
	}
	MemoryContextSwitchTo(old);
	state->capacity = cap;
}

/* The index of label among the classes, or -1 when it is none of them. */
static int
ClassIndex(const QualityState *state, double label)
{
	for (int c = 0; c < state->k; c++)
		if (state->classes[c] == label)
			return c;
	return -1;
}

/*
 * Transition: (state, classes, actual, prediction, probabilities). A row
 * without an outcome (actual NULL) is skipped, and so is, for classification,
 * an actual value that is none of the version's classes (possible only for an
 * outcome recorded before the key was scored: record_outcome checks otherwise).
 */
Datum
quality_agg_transfn(PG_FUNCTION_ARGS)
{
	MemoryContext agg;
	QualityState *state;

	if (!AggCheckCallContext(fcinfo, &agg))
		elog(ERROR, "quality_agg_transfn called in non-aggregate context");
	state = PG_ARGISNULL(0) ? NewState(agg, fcinfo) : (QualityState *) PG_GETARG_POINTER(0);
	if (PG_ARGISNULL(2) || PG_ARGISNULL(3))
		PG_RETURN_POINTER(state);

	/* in the per-row context: reading a short array copies it */
	if (state->k == 0)
	{
		Grow(state, agg);
		state->actual[state->n] = PG_GETARG_FLOAT8(2);
		state->prediction[state->n] = PG_GETARG_FLOAT8(3);
		state->n++;
	}
	else
	{
		int			label = ClassIndex(state, PG_GETARG_FLOAT8(2));
		int			k;
		double	   *proba;

		if (PG_ARGISNULL(4))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("probabilities must not be null for a classification")));
		proba = Float8Elements(PG_GETARG_ARRAYTYPE_P(4), "probabilities", &k);
		if (k != state->k)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("probabilities must hold one value per class"),
					 errdetail("There are %d classes and %d probabilities.", state->k, k)));
		if (label >= 0)
		{
			Grow(state, agg);
			state->label[state->n] = label;
			memcpy(state->proba + (Size) state->n * k, proba, sizeof(double) * k);
			state->n++;
		}
	}
	PG_RETURN_POINTER(state);
}

/* Final: the metrics as jsonb ({"r2": .., ...}), NULL when no row had an outcome. */
Datum
quality_agg_finalfn(PG_FUNCTION_ARGS)
{
	QualityState *state;
	Metric		metrics[METRICS_MAX];
	int			m;
	StringInfoData json;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	state = (QualityState *) PG_GETARG_POINTER(0);
	if (state->n == 0)
		PG_RETURN_NULL();
	if (state->k == 0)
		m = RegressionMetrics(state->actual, state->prediction, state->n, metrics);
	else
		m = ClassificationMetrics(state->label, state->proba, state->n, state->k, metrics);
	initStringInfo(&json);
	MetricsJson(metrics, m, &json);
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(json.data)));
}

/*
 * mlops._key_logged(model_id bigint, key text) → boolean: whether
 * prediction_log holds a prediction of the key committed by now, read with
 * the latest snapshot rather than the transaction's (as PostgreSQL's foreign
 * key checks do). purge_predictions asks it about each outcome it has locked
 * before deleting it: at REPEATABLE READ its snapshot predates the
 * predictions of the scorers that committed since, whose outcome it would
 * otherwise delete.
 */
Datum
key_logged(PG_FUNCTION_ARGS)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[2] = {INT8OID, TEXTOID};
	Datum		values[2] = {PG_GETARG_DATUM(0), PG_GETARG_DATUM(1)};
	bool		found;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	SpiKeptPlan(&plan, "SELECT FROM mlops.prediction_log l WHERE l.model_id = $1 AND l.key = $2", 2, types);
	if (SPI_execute_snapshot(plan, values, NULL, GetLatestSnapshot(), InvalidSnapshot, true, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "the prediction_log probe failed");
	found = SPI_processed > 0;
	SPI_finish();
	PG_RETURN_BOOL(found);
}
