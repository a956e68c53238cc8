/*
 * train.c — mlops.train(): checks the arguments, prepares the dataset, opens
 * a run, hands the rows to the algorithm, scores the evaluation rows, logs
 * params and metrics, and registers the version — all in the caller's
 * transaction, so that a failure leaves no run and no version behind.
 *
 * Not SECURITY DEFINER: the source is read with the caller's privileges; the
 * registry is written through the SECURITY DEFINER functions of the
 * experiments and registry SQL files, called through SPI.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "mlops/args.h"
#include "mlops/dataset.h"
#include "mlops/float_text.h"
#include "mlops/metrics.h"
#include "mlops/source.h"
#include "mlops/train.h"
#include "mlops/xgb_train.h"

/* The algorithms of this build. */
static const TrainAlgorithm algorithms[] = {
	{"linear", true, false, linear_params, true, TrainLinear, NULL},
	{"ridge", true, false, ridge_params, true, TrainLinear, NULL},
	{"logistic", false, true, logistic_params, false, TrainLogistic, NULL},
	{"xgboost", true, true, NULL, true, TrainXgboost, XgbCheckHyperParams},
};

/* The names of the algorithms of this build, comma-separated. */
static char *
AlgorithmNames(void)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int i = 0; i < lengthof(algorithms); i++)
		appendStringInfo(&buf, "%s%s", i > 0 ? ", " : "", algorithms[i].name);
	return buf.data;
}

/* The algorithm called name, or an error listing the algorithms. */
static const TrainAlgorithm *
FindAlgorithm(const char *name)
{
	for (int i = 0; i < lengthof(algorithms); i++)
		if (strcmp(algorithms[i].name, name) == 0)
			return &algorithms[i];
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown algorithm \"%s\"", name),
			 errdetail("The algorithms are: %s.", AlgorithmNames())));
	return NULL;				/* keep the compiler quiet */
}

/* The names of an algorithm's hyperparameters, comma-separated. */
static char *
ParamNames(const HyperParamDef *defs)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (const HyperParamDef *d = defs; d->name; d++)
		appendStringInfo(&buf, "%s%s", buf.len > 0 ? ", " : "", d->name);
	return buf.len > 0 ? buf.data : "none";
}

/*
 * Checks hyperparams against an algorithm's definitions and returns their
 * values (defaults filled in). An unknown key, a value that is not a number
 * (or not an integer where one is needed) or out of range: 22023.
 */
static double *
ParseHyperParams(const TrainAlgorithm *alg, Jsonb *hyperparams)
{
	int			ndefs = 0;
	double	   *values;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;

	while (alg->params[ndefs].name)
		ndefs++;
	values = palloc(sizeof(double) * Max(ndefs, 1));
	for (int i = 0; i < ndefs; i++)
		values[i] = alg->params[i].default_value;
	it = JsonbIteratorInit(&hyperparams->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		char	   *key;
		const HyperParamDef *def = NULL;
		int			i;
		double		x;

		if (tok != WJB_KEY)
			continue;
		key = pnstrdup(v.val.string.val, v.val.string.len);
		for (i = 0; i < ndefs; i++)
			if (strcmp(alg->params[i].name, key) == 0)
			{
				def = &alg->params[i];
				break;
			}
		if (def == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown hyperparameter \"%s\" for algorithm \"%s\"", key, alg->name),
					 errdetail("The hyperparameters of \"%s\" are: %s.", alg->name, ParamNames(alg->params))));
		tok = JsonbIteratorNext(&it, &v, true);
		if (v.type != jbvNumeric)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("hyperparameter \"%s\" must be a number", key)));
		/* beyond float8's range: ±Infinity, reported as out of range below */
		x = DatumGetFloat8(DirectFunctionCall1(numeric_float8_no_overflow, NumericGetDatum(v.val.numeric)));
		if (def->integer && x != floor(x))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("hyperparameter \"%s\" must be an integer", key)));
		if (isnan(x) || isinf(x) || x < def->min || (def->min_exclusive && x == def->min) || x > def->max)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("hyperparameter \"%s\" is out of range", key),
					 errdetail("It must be a finite number %s %g%s%s.", def->min_exclusive ? ">" : ">=", def->min,
							   isinf(def->max) ? "" : " and <= ",
							   isinf(def->max) ? "" : psprintf("%g", def->max))));
		values[i] = x;
	}
	return values;
}

/* The effective hyperparameters (given or default) as a JSON object. */
static char *
HyperParamsJson(const TrainAlgorithm *alg, const double *values)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	for (int i = 0; alg->params[i].name; i++)
	{
		appendStringInfoString(&buf, i > 0 ? ", " : "");
		escape_json(&buf, alg->params[i].name);
		appendStringInfo(&buf, ": %s", Float8ExactText(values[i]));
	}
	appendStringInfoChar(&buf, '}');
	return buf.data;
}

/*
 * The task: the one given (checked against the algorithm), or the one the
 * algorithm supports, or — for an algorithm doing both — classification for
 * a boolean or integer target and regression for the others.
 */
static bool
ResolveTask(const TrainAlgorithm *alg, const char *task, const char *source, const char *target)
{
	bool		classification;

	if (task != NULL)
	{
		if (strcmp(task, "regression") != 0 && strcmp(task, "classification") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid task \"%s\"", task),
					 errhint("A task is 'regression' or 'classification', or NULL to infer it.")));
		classification = strcmp(task, "classification") == 0;
		if (classification ? !alg->classification : !alg->regression)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("algorithm \"%s\" does not do %s", alg->name, task)));
		return classification;
	}
	if (alg->regression != alg->classification)
		return alg->classification;
	{
		SourceColumn *col = SourceColumnNamed(SourceColumns(source), target);

		/* an unknown target is reported by DatasetPrepare */
		return col != NULL && (col->type == BOOLOID || col->type == INT2OID ||
							   col->type == INT4OID || col->type == INT8OID);
	}
}

/* Runs a statement through SPI with text arguments (NULL for SQL NULL); returns its first value. */
static Datum
SpiRun(const char *sql, int nargs, const char **args, bool *isnull)
{
	Oid		   *types = palloc(sizeof(Oid) * Max(nargs, 1));
	Datum	   *values = palloc(sizeof(Datum) * Max(nargs, 1));
	char	   *nulls = palloc(Max(nargs, 1));
	int			rc;

	for (int i = 0; i < nargs; i++)
	{
		types[i] = TEXTOID;
		values[i] = args[i] ? CStringGetTextDatum(args[i]) : (Datum) 0;
		nulls[i] = args[i] ? ' ' : 'n';
	}
	rc = SPI_execute_with_args(sql, nargs, types, values, nulls, false, 1);
	if (rc < 0)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(rc));
	if (SPI_processed == 0 || SPI_tuptable == NULL)
	{
		*isnull = true;
		return (Datum) 0;
	}
	return SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, isnull);
}

/* Logs one point of a metric series into the training's run (step = iteration). */
void
TrainLogMetric(TrainRequest *req, const char *key, double value, int64 step)
{
	const char *args[] = {psprintf(INT64_FORMAT, req->run_id), key,
	Float8ExactText(value), psprintf(INT64_FORMAT, step)};
	bool		isnull;

	SpiRun("SELECT mlops.log_metric($1::bigint, $2, $3::float8, $4::bigint)", 4, args, &isnull);
}

/* Logs a param of the training's run that the algorithm chose (e.g. a default it filled in). */
void
TrainLogParam(TrainRequest *req, const char *key, const char *value)
{
	const char *args[] = {psprintf(INT64_FORMAT, req->run_id), key, value};
	bool		isnull;

	SpiRun("SELECT mlops.log_param($1::bigint, $2, $3)", 3, args, &isnull);
}

/*
 * Counts train()'s scoring of the evaluation rows (their predictions and
 * targets) against mlops.max_training_memory, once: an algorithm whose
 * training is long calls it as soon as the row counts are known, so that a
 * training the limit cannot finish is refused before it runs, not after.
 */
void
TrainReserveEvaluation(Dataset *ds, TrainedModel *model)
{
	int64		n = ds->test_rows == 0 ? ds->train_rows : ds->test_rows;
	int			nout = ds->classification ? ds->nclasses : 1;

	if (model->eval_reserved)
		return;
	DatasetReserveMemory(ds, sizeof(double) * n * (nout + 1), "the evaluation rows' predictions");
	model->eval_reserved = true;
}

/*
 * Scores the evaluation rows — the test rows, or every training row when
 * there are none — and computes the task's metrics; from the predictions the
 * algorithm already has, when it has them.
 */
static int
Evaluate(Dataset *ds, TrainedModel *model, Metric *metrics)
{
	bool		all = ds->test_rows == 0;
	int64		n = all ? ds->train_rows : ds->test_rows;
	int			nout = ds->classification ? ds->nclasses : 1;
	double	   *y = NULL,
			   *pred;
	int		   *label = NULL;
	DatasetScan *scan;
	DatasetBatch *b;
	int64		m = 0;

	if (model->eval_pred != NULL)
	{
		if (model->eval_rows != n)
			elog(ERROR, "algorithm predicted " INT64_FORMAT " evaluation rows of " INT64_FORMAT,
				 model->eval_rows, n);
		return ds->classification ? ClassificationMetrics(model->eval_label, model->eval_pred, n, nout, metrics)
			: RegressionMetrics(model->eval_y, model->eval_pred, n, metrics);
	}
	TrainReserveEvaluation(ds, model);
	pred = palloc_extended(sizeof(double) * n * nout, MCXT_ALLOC_HUGE);
	if (ds->classification)
		label = palloc_extended(sizeof(int) * n, MCXT_ALLOC_HUGE);
	else
		y = palloc_extended(sizeof(double) * n, MCXT_ALLOC_HUGE);

	/*
	 * A test scan yields test rows only, and a full scan without test rows
	 * training rows only: any other row means the source changed.
	 */
	scan = all ? DatasetBeginScan(ds) : DatasetBeginTestScan(ds);
	while ((b = DatasetNextBatch(scan)) != NULL)
	{
		bool		changed = m + b->nrows > n;

		for (int i = 0; i < b->nrows; i++)
			changed |= b->is_test[i] == all;
		if (changed)
			DatasetRefuseChangedSource(ds, psprintf("The evaluation pass read rows other than the %s the first pass saw.",
													DatasetRowCount(n, all ? "training" : "test")));
		model->predict(model, ds, b, pred + m * nout);
		for (int i = 0; i < b->nrows; i++)
		{
			if (ds->classification)
				label[m + i] = b->label[i];
			else
				y[m + i] = b->y[i];
		}
		m += b->nrows;
	}
	DatasetEndScan(scan);
	if (m != n)
		DatasetRefuseChangedSource(ds, psprintf("The first pass saw %s, the evaluation pass %lld.",
												DatasetRowCount(n, all ? "training" : "test"), (long long) m));
	return ds->classification ? ClassificationMetrics(label, pred, n, nout, metrics)
		: RegressionMetrics(y, pred, n, metrics);
}

PG_FUNCTION_INFO_V1(train);

/*
 * train(model, source, target, algorithm, task, features, hyperparams,
 * test_fraction, seed, experiment) — trains, evaluates and registers a new
 * version of model; returns (model, version, run_id, metrics).
 */
Datum
train(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *model_name = RequireTextArg(fcinfo, 0, "model");
	char	   *source = RequireTextArg(fcinfo, 1, "source");
	char	   *target = RequireTextArg(fcinfo, 2, "target");
	char	   *algorithm = RequireTextArg(fcinfo, 3, "algorithm");
	char	   *task = PG_ARGISNULL(4) ? NULL : TextDatumGetCString(PG_GETARG_DATUM(4));
	List	   *features;
	Jsonb	   *hyperparams;
	double		test_fraction;
	int			seed;
	char	   *experiment = PG_ARGISNULL(9) ? model_name : TextDatumGetCString(PG_GETARG_DATUM(9));
	const TrainAlgorithm *alg;
	bool		classification;
	double	   *params;
	char	   *params_json;
	TrainRequest req;
	TrainedModel model;
	Dataset    *ds;
	Metric		metrics[METRICS_MAX];
	int			nmetrics;
	StringInfoData buf;
	StringInfoData spec;
	char	   *metrics_json;
	TimestampTz started = GetCurrentTimestamp();
	long		secs;
	int			usecs;
	int			version;
	bool		isnull;
	MemoryContext outer = CurrentMemoryContext;
	Datum		result[4];
	bool		result_nulls[4] = {false, false, false, false};

	CheckModelName(model_name);
	alg = FindAlgorithm(algorithm);
	features = NameListArg(fcinfo, 5, "features");
	RequireArg(fcinfo, 6, "hyperparams");
	RequireArg(fcinfo, 7, "test_fraction");
	RequireArg(fcinfo, 8, "seed");
	hyperparams = PG_GETARG_JSONB_P(6);
	test_fraction = PG_GETARG_FLOAT8(7);
	seed = PG_GETARG_INT32(8);
	if (!(test_fraction >= 0 && test_fraction < 1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("test_fraction must be at least 0 and less than 1, not %s", Float8ExactText(test_fraction)),
				 errhint("0 trains on every row (the metrics are then on the training rows).")));
	if (!JB_ROOT_IS_OBJECT(hyperparams) || JB_ROOT_IS_SCALAR(hyperparams))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("hyperparams must be a jsonb object")));
	params = alg->params ? ParseHyperParams(alg, hyperparams) : NULL;
	if (alg->check_params)
		alg->check_params(hyperparams);

	InitMaterializedSRF(fcinfo, 0);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	classification = ResolveTask(alg, task, source, target);
	params_json = alg->params ? HyperParamsJson(alg, params)
		: JsonbToCString(NULL, &hyperparams->root, VARSIZE(hyperparams));

	/*
	 * the run, with the training's params: hyperparams, then train()'s own,
	 * which win over a hyperparameter of the same name (XGBoost's "seed"),
	 * since promote, retrain and report draw the test split again with the
	 * run's test_fraction and seed
	 */
	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"algorithm\": ");
	escape_json(&buf, alg->name);
	appendStringInfo(&buf, ", \"task\": \"%s\", \"source\": ", classification ? "classification" : "regression");
	escape_json(&buf, source);
	appendStringInfoString(&buf, ", \"target\": ");
	escape_json(&buf, target);
	appendStringInfo(&buf, ", \"test_fraction\": %s, \"seed\": %d}", Float8ExactText(test_fraction), seed);
	{
		const char *args[] = {experiment, buf.data, params_json};

		req.run_id = DatumGetInt64(SpiRun("SELECT mlops.start_run($1, NULL, $3::jsonb || $2::jsonb)",
										  3, args, &isnull));
	}
	req.algorithm = alg->name;
	req.hyperparams = hyperparams;
	req.params = params;

	ds = DatasetPrepare(source, target, features, classification, test_fraction, seed, alg->streams);
	/* the reference profile drift() compares with: every row of the source, read by the training scan */
	DatasetCollectProfile(ds);
	memset(&model, 0, sizeof(model));
	alg->train(ds, &req, &model);
	if (ds->fingerprint == NULL)
		elog(ERROR, "algorithm \"%s\" did not scan its training rows", alg->name);
	nmetrics = Evaluate(ds, &model, metrics);

	/* metrics, row counts, duration and fingerprint into the run */
	initStringInfo(&buf);
	MetricsJson(metrics, nmetrics, &buf);
	metrics_json = buf.data;
	TimestampDifference(started, GetCurrentTimestamp(), &secs, &usecs);
	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"train_rows\": " INT64_FORMAT ", \"test_rows\": " INT64_FORMAT
					 ", \"skipped_rows\": " INT64_FORMAT ", \"training_seconds\": %.6f}",
					 ds->train_rows, ds->test_rows, ds->skipped_rows, secs + usecs / 1e6);
	{
		const char *args[] = {psprintf(INT64_FORMAT, req.run_id), metrics_json, buf.data, ds->fingerprint};

		SpiRun("SELECT mlops.log_metrics($1::bigint, $2::jsonb || $3::jsonb), "
			   "mlops.set_tag($1::bigint, 'data_fingerprint', $4)", 4, args, &isnull);
	}

	/* the version */
	initStringInfo(&spec);
	DatasetSpecJson(ds, model.spec_impute, &spec);
	{
		Oid			types[18] = {TEXTOID, TEXTOID, TEXTOID, TEXTARRAYOID, TEXTOID, FLOAT8ARRAYOID,
			JSONBOID, JSONBOID, JSONBOID, JSONBOID, INT8OID, TEXTOID,
		INT8OID, INT8OID, INT8OID, TEXTOID, BYTEAOID, TEXTOID};
		Datum		values[18];
		char		nulls[18];
		int			rc;

		memset(nulls, ' ', sizeof(nulls));
		values[0] = CStringGetTextDatum(model_name);
		values[1] = CStringGetTextDatum(alg->name);
		values[2] = CStringGetTextDatum(classification ? "classification" : "regression");
		values[3] = DatasetFeaturesArray(ds);
		values[4] = CStringGetTextDatum(target);
		if (classification)
		{
			Datum	   *cls = palloc(sizeof(Datum) * ds->nclasses);

			for (int c = 0; c < ds->nclasses; c++)
				cls[c] = Float8GetDatum(ds->classes[c]);
			values[5] = PointerGetDatum(construct_array(cls, ds->nclasses, FLOAT8OID, 8,
														FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		}
		else
			nulls[5] = 'n';
		values[6] = DirectFunctionCall1(jsonb_in, CStringGetDatum(params_json));
		values[7] = DirectFunctionCall1(jsonb_in, CStringGetDatum(metrics_json));
		values[8] = DirectFunctionCall1(jsonb_in, CStringGetDatum(spec.data));
		values[9] = JsonbPGetDatum(DatasetProfile(ds));
		values[10] = Int64GetDatum(req.run_id);
		values[11] = CStringGetTextDatum(source);
		values[12] = Int64GetDatum(ds->train_rows);
		values[13] = Int64GetDatum(ds->test_rows);
		values[14] = Int64GetDatum(ds->skipped_rows);
		values[15] = CStringGetTextDatum(ds->fingerprint);
		values[16] = PointerGetDatum(model.artifact);
		values[17] = CStringGetTextDatum(model.artifact_format);
		rc = SPI_execute_with_args("SELECT mlops._register_version($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, "
								   "$11, $12, $13, $14, $15, $16, $17, $18)",
								   18, types, values, nulls, false, 1);
		if (rc != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "registering the version failed: %s", SPI_result_code_string(rc));
		version = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}
	{
		const char *args[] = {psprintf(INT64_FORMAT, req.run_id)};

		SpiRun("SELECT mlops.end_run($1::bigint)", 1, args, &isnull);
	}

	/* the result row, built outside SPI's memory */
	MemoryContextSwitchTo(outer);
	metrics_json = pstrdup(metrics_json);
	SPI_finish();
	result[0] = CStringGetTextDatum(model_name);
	result[1] = Int32GetDatum(version);
	result[2] = Int64GetDatum(req.run_id);
	result[3] = DirectFunctionCall1(jsonb_in, CStringGetDatum(metrics_json));
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, result, result_nulls);
	return (Datum) 0;
}
