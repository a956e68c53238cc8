/*
 * evaluate.c — evaluate(model, source): the quality metrics (metrics.h) of a
 * model version on the rows of any table or query holding its target and
 * features, and the internal _evaluate_versions that promote's gate uses to
 * score a candidate and an incumbent on the same rows in one scan; and
 * (evaluate.h) that scoring of one version's rows, for the report's test split.
 *
 * Rows come from the dataset loader (dataset.h): every row whose target is
 * not NULL, or only the test rows of the split (test_fraction, seed) — the
 * very split train() made, when the source still holds the same rows, and
 * never a row it trained on when it does not (a classification version's
 * stored cuts decide each class's test rows). Their
 * encoding is the source's (its categories, its classes), mapped to each
 * model's by category text and class value. Scoring is ScoreVector's
 * (scoring.h), the same as predict's. Not SECURITY DEFINER: sources are read
 * with the caller's privileges.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "mlops/args.h"
#include "mlops/dataset.h"
#include "mlops/evaluate.h"
#include "mlops/float_text.h"
#include "mlops/metrics.h"
#include "mlops/model_cache.h"
#include "mlops/scoring.h"

/* One version being evaluated: how the dataset's rows become its inputs, and its scores. */
struct EvalModel
{
	char	   *name;
	int64		model_id;
	int32		version;
	char	   *target;
	ScoringModel *m;
	int		   *input;			/* per model input: the dataset input it comes from */
	double	  **category;		/* per model input: dataset category -> model category (NaN: unseen) */
	int		   *class_index;	/* per dataset class: the model's class index */
	double	   *x;
	float	   *xf;
	float	   *margins;
	double	   *scores;			/* evaluate(): per row, the prediction or nclasses probabilities */
	int		   *label;			/* evaluate(), classification: per row, the true class as the model's index */
};

/*
 * Resolves a model reference (inside SPI): the version it means, its target
 * column (target, or NULL, for a version imported without one) and its
 * scoring model, kept in cxt. The query runs with the caller's
 * search_path (sources are named against it), so the domain model_name is
 * compared as text: an operator = (mlops.model_name, text) created in a
 * schema on that path would otherwise be chosen over pg_catalog's. The
 * version's row is a subquery, looked up by model and version: a join with
 * the resolution may be planned as a scan of every version of the model.
 */
static EvalModel *
EvalModelOpen(const char *ref, const char *target, MemoryContext cxt)
{
	Oid			type = TEXTOID;
	Datum		arg = CStringGetTextDatum(ref);
	bool		isnull;
	HeapTuple	tup;
	TupleDesc	desc;
	EvalModel  *e;
	MemoryContext old;

	if (SPI_execute_with_args("SELECT r.model, r.version, r.model_id, "
							  "(SELECT v.target FROM mlops.model_versions v "
							  "  WHERE v.name::text = r.model AND v.version = r.version) "
							  "FROM mlops.resolve_model($1) r",
							  1, &type, &arg, NULL, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not resolve model reference \"%s\"", ref);
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	old = MemoryContextSwitchTo(cxt);
	e = palloc0(sizeof(EvalModel));
	e->name = TextDatumGetCString(SPI_getbinval(tup, desc, 1, &isnull));
	e->version = DatumGetInt32(SPI_getbinval(tup, desc, 2, &isnull));
	e->model_id = DatumGetInt64(SPI_getbinval(tup, desc, 3, &isnull));
	e->target = SPI_getvalue(tup, desc, 4);
	if (e->target == NULL && target != NULL)
		e->target = pstrdup(target);
	if (e->target == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model \"%s\" version %d has no target column", e->name, e->version),
				 errdetail("It was imported without naming its target."),
				 errhint("Import the artifact again with the target argument of import_model (a new version) to evaluate it.")));
	e->m = ModelCacheGet(ModelPinCreate(cxt), ModelRegistryOid(), e->model_id, e->version, e->name);
	MemoryContextSwitchTo(old);
	return e;
}

/* How many scores a row gets: the number of classes, or 1 for regression. */
int
EvalModelWidth(const EvalModel *e)
{
	return e->m->classification ? e->m->nclasses : 1;
}

/* The index of a dataset input by name, or -1. */
static int
DatasetInputIndex(const Dataset *ds, const char *name)
{
	for (int j = 0; j < ds->ninputs; j++)
		if (strcmp(ds->inputs[j].name, name) == 0)
			return j;
	return -1;
}

/*
 * Maps the dataset's inputs (read for version first_version), categories and
 * classes to those of the model being evaluated, so that its rows can be
 * scored (the mapping kept in cxt); raises a clear error where they cannot
 * correspond.
 */
static void
EvalModelMap(EvalModel *e, const Dataset *ds, int32 first_version, MemoryContext cxt)
{
	ScoringModel *m = e->m;
	MemoryContext old = MemoryContextSwitchTo(cxt);

	if (m->classification != ds->classification)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model \"%s\" version %d is a %s model, version %d a %s one",
						e->name, e->version, m->classification ? "classification" : "regression",
						first_version, ds->classification ? "classification" : "regression"),
				 errdetail("Versions are compared on the same task only.")));
	e->input = palloc(sizeof(int) * Max(m->ninputs, 1));
	e->category = palloc0(sizeof(double *) * Max(m->ninputs, 1));
	for (int i = 0; i < m->ninputs; i++)
	{
		ScoringInput *in = &m->inputs[i];
		int			j = DatasetInputIndex(ds, in->name);
		const DatasetInput *din;

		if (j < 0)
			elog(ERROR, "input \"%s\" was not read", in->name);
		din = &ds->inputs[j];
		e->input[i] = j;
		if (in->categorical != (din->kind == INPUT_CATEGORICAL))
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("column \"%s\" must be %s for model \"%s\"", in->name,
							in->categorical ? "text or an enum" : "numeric", e->name),
					 errdetail("Input \"%s\" of version %d is %s, the column is of type %s.", in->name,
							   e->version, in->categorical ? "categorical" : "numeric",
							   format_type_be(din->type))));
		if (!in->categorical)
			continue;
		e->category[i] = palloc(sizeof(double) * Max(din->ncategories, 1));
		for (int c = 0; c < din->ncategories; c++)
			e->category[i][c] = ScoringCategoryIndex(in, din->categories[c], strlen(din->categories[c]));
	}
	e->x = palloc(sizeof(double) * Max(m->ninputs, 1));
	e->xf = palloc(sizeof(float) * Max(m->ninputs, 1));
	e->margins = palloc(sizeof(float) * Max(m->noutputs, 1));
	if (m->classification)
		e->class_index = palloc(sizeof(int) * ds->nclasses);
	for (int c = 0; m->classification && c < ds->nclasses; c++)
	{
		int			k = -1;

		for (int mc = 0; mc < m->nclasses && k < 0; mc++)
			if (m->classes[mc] == ds->classes[c])
				k = mc;
		if (k < 0)
		{
			StringInfoData labels;

			initStringInfo(&labels);
			for (int mc = 0; mc < m->nclasses; mc++)
				appendStringInfo(&labels, "%s%s", mc ? ", " : "", Float8ExactText(m->classes[mc]));
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("target value %s is not a class of model \"%s\" version %d",
							Float8ExactText(ds->classes[c]), e->name, e->version),
					 errdetail("The model's classes are: %s.", labels.data),
					 errhint("Evaluate on rows whose target is one of the model's classes.")));
		}
		e->class_index[c] = k;
	}
	MemoryContextSwitchTo(old);
}

/*
 * The cuts of the split (test_fraction, seed) that train() stored with
 * classification version e (inside SPI, kept in cxt), or NULL for a version
 * that has none: stored before versions kept them, imported, or asked about
 * another split. Malformed cuts are XX001.
 */
static DatasetClassCuts *
EvalModelCuts(const EvalModel *e, double test_fraction, int seed, MemoryContext cxt)
{
	Oid			types[4] = {INT8OID, INT4OID, FLOAT8OID, INT4OID};
	Datum		args[4] = {Int64GetDatum(e->model_id), Int32GetDatum(e->version),
	Float8GetDatum(test_fraction), Int32GetDatum(seed)};
	bool		isnull;
	Datum		d;
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	DatasetClassCuts *cuts;
	uint64	   *values;
	bool		malformed;
	MemoryContext old;

	if (SPI_execute_with_args("SELECT mlops._split_cuts($1, $2, $3, $4)", 4, types, args, NULL, true, 1)
		!= SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read the split of model \"%s\" version %d", e->name, e->version);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		return NULL;
	deconstruct_array(DatumGetArrayTypeP(d), TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	old = MemoryContextSwitchTo(cxt);
	cuts = palloc(sizeof(DatasetClassCuts));
	values = palloc(sizeof(uint64) * Max(n, 1));
	malformed = n != e->m->nclasses;
	for (int k = 0; k < n && !malformed; k++)
	{
		char	   *digits = nulls[k] ? NULL : TextDatumGetCString(elems[k]);
		char	   *end = NULL;

		errno = 0;
		if (digits != NULL && *digits >= '0' && *digits <= '9')
			values[k] = strtou64(digits, &end, 10);
		malformed = end == NULL || *end != '\0' || errno != 0;
	}
	if (malformed)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("version %d of model \"%s\" has a malformed split", e->version, e->name),
				 errdetail("Its spec's split cuts are not one unsigned 64-bit integer per class.")));
	cuts->nclasses = n;
	cuts->classes = e->m->classes;
	cuts->cuts = values;
	MemoryContextSwitchTo(old);
	return cuts;
}

/*
 * Resolves the model references refs (inside SPI) into models[] and reads
 * source for them: the target column is the first version's, and so is the
 * split (decided by its features alone, and by the cuts train() stored with
 * it, so that no row it trained on is a test row); the other versions must
 * share its task and target, and every version's features must be columns of
 * the source. target (or NULL): the target column of versions imported
 * without one. no_value_hint: the hint for a feature without a value in the
 * rows (DatasetPrepareSplit). Returns the dataset, mapped to each version
 * (kept in cxt).
 */
Dataset *
EvalPrepare(const char *const *refs, int nrefs, const char *source, const char *target,
			double test_fraction, int seed, const char *no_value_hint, MemoryContext cxt, EvalModel **models)
{
	List	   *features = NIL;
	DatasetClassCuts *cuts = NULL;
	Dataset    *ds;

	for (int k = 0; k < nrefs; k++)
	{
		EvalModel  *e = models[k] = EvalModelOpen(refs[k], target, cxt);

		if (k > 0 && strcmp(e->target, models[0]->target) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("model \"%s\" version %d predicts \"%s\", version %d \"%s\"",
							e->name, e->version, e->target, models[0]->version, models[0]->target),
					 errdetail("Versions are compared on the same target only.")));
		for (int i = 0; i < e->m->ninputs; i++)
		{
			const char *name = e->m->inputs[i].name;
			bool		seen = false;
			ListCell   *lc;

			foreach(lc, features)
				seen |= strcmp(lfirst(lc), name) == 0;
			if (!seen)
				features = lappend(features, pstrdup(name));
		}
	}
	if (test_fraction > 0 && models[0]->m->classification)
		cuts = EvalModelCuts(models[0], test_fraction, seed, cxt);
	ds = DatasetPrepareSplit(source, models[0]->target, features, models[0]->m->ninputs,
							 models[0]->m->classification, test_fraction, seed, false, cuts, no_value_hint);
	for (int k = 0; k < nrefs; k++)
		EvalModelMap(models[k], ds, models[0]->version, cxt);
	return ds;
}

/*
 * Scores row i of a batch as predict() would: EvalModelWidth() scores into
 * scores and, for classification, the row's class as the model's index into
 * *label.
 */
void
EvalModelScoreRow(EvalModel *e, const Dataset *ds, const DatasetBatch *b, int i, double *scores, int *label)
{
	ScoringModel *m = e->m;
	const double *bx = b->x + (Size) i * ds->ninputs;

	for (int k = 0; k < m->ninputs; k++)
	{
		double		v = bx[e->input[k]];

		if (e->category[k] != NULL && !isnan(v))
			v = e->category[k][(int) v];
		e->x[k] = v;
	}
	ScoreVector(m, e->x, e->xf, e->margins, scores);
	if (m->classification)
		*label = e->class_index[b->label[i]];
}

/*
 * Makes room for `need` rows of targets and of every model's scores (and
 * classes), counted against mlops.max_training_memory: they are kept until
 * the metrics are computed, so that a large source would otherwise exhaust
 * the server's memory.
 */
static void
Grow(Dataset *ds, EvalModel **models, int nmodels, double **y, int64 *capacity, int64 need)
{
	int64		cap = Max(need, *capacity * 2);
	Size		row_bytes = sizeof(double);

	if (need <= *capacity)
		return;
	for (int k = 0; k < nmodels; k++)
		row_bytes += sizeof(double) * EvalModelWidth(models[k]) + (models[k]->m->classification ? sizeof(int) : 0);
	DatasetReserveMemory(ds, (Size) (cap - *capacity) * row_bytes, "the targets and scores of every row");
	*y = *y ? repalloc_huge(*y, sizeof(double) * cap) : palloc_extended(sizeof(double) * cap, MCXT_ALLOC_HUGE);
	for (int k = 0; k < nmodels; k++)
	{
		EvalModel  *e = models[k];
		Size		scores = sizeof(double) * EvalModelWidth(e) * cap;

		e->scores = e->scores ? repalloc_huge(e->scores, scores) : palloc_extended(scores, MCXT_ALLOC_HUGE);
		if (e->m->classification)
			e->label = e->label ? repalloc_huge(e->label, sizeof(int) * cap)
				: palloc_extended(sizeof(int) * cap, MCXT_ALLOC_HUGE);
	}
	*capacity = cap;
}

/*
 * Evaluates the versions that the model references refs (resolved through
 * mlops.resolve_model) mean on source (as EvalPrepare reads it):
 * metrics_json[i] receives the metrics of refs[i] as a JSON object; returns
 * the number of rows scored. target and no_value_hint as for EvalPrepare. Not
 * inside SPI.
 */
static int64
EvaluateSource(const char *const *refs, int nrefs, const char *source, const char *target,
			   double test_fraction, int seed, const char *no_value_hint, char **metrics_json)
{
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext cxt = AllocSetContextCreate(caller, "mlops evaluate", ALLOCSET_DEFAULT_SIZES);
	EvalModel **models;
	Dataset    *ds;
	DatasetScan *scan;
	DatasetBatch *b;
	double	   *y = NULL;
	int64		n = 0,
				capacity = 0;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	MemoryContextSwitchTo(cxt);
	models = palloc0(sizeof(EvalModel *) * nrefs);
	ds = EvalPrepare(refs, nrefs, source, target, test_fraction, seed, no_value_hint, cxt, models);
	/* room for the rows the first pass counted (more only if the source grows meanwhile) */
	Grow(ds, models, nrefs, &y, &capacity, test_fraction > 0 ? ds->test_rows : ds->train_rows);
	scan = test_fraction > 0 ? DatasetBeginTestScan(ds) : DatasetBeginScan(ds);
	while ((b = DatasetNextBatch(scan)) != NULL)
	{
		Grow(ds, models, nrefs, &y, &capacity, n + b->nrows);
		for (int i = 0; i < b->nrows; i++)
		{
			if ((i & 1023) == 0)
				CHECK_FOR_INTERRUPTS();
			y[n] = b->y[i];
			for (int k = 0; k < nrefs; k++)
			{
				EvalModel  *e = models[k];

				EvalModelScoreRow(e, ds, b, i, e->scores + n * EvalModelWidth(e), e->label ? e->label + n : NULL);
			}
			n++;
		}
	}
	DatasetEndScan(scan);
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("source \"%s\" has no row to evaluate on", source),
				 test_fraction > 0 ? errdetail("The split (test_fraction %g, seed %d) has no test row.",
											   test_fraction, seed) : 0));

	for (int k = 0; k < nrefs; k++)
	{
		ScoringModel *m = models[k]->m;
		Metric		metrics[METRICS_MAX];
		int			nmetrics;
		StringInfoData buf;

		if (m->classification)
			nmetrics = ClassificationMetrics(models[k]->label, models[k]->scores, n, m->nclasses, metrics);
		else
			nmetrics = RegressionMetrics(y, models[k]->scores, n, metrics);
		initStringInfo(&buf);
		MetricsJson(metrics, nmetrics, &buf);
		metrics_json[k] = MemoryContextStrdup(caller, buf.data);
	}
	SPI_finish();
	MemoryContextSwitchTo(caller);
	MemoryContextDelete(cxt);
	return n;
}

PG_FUNCTION_INFO_V1(evaluate);
/* evaluate(model text, source text): the metrics of the version model means, on every row of source. */
Datum
evaluate(PG_FUNCTION_ARGS)
{
	const char *ref = RequireTextArg(fcinfo, 0, "model");
	char	   *source = RequireTextArg(fcinfo, 1, "source");
	char	   *metrics;

	EvaluateSource(&ref, 1, source, NULL, 0, 0, "Evaluate on rows in which the column has values.", &metrics);
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(metrics)));
}

PG_FUNCTION_INFO_V1(evaluate_versions);
/*
 * _evaluate_versions(model text, versions int[], source text, test_fraction
 * float8, seed int, target text): {"rows": n, "metrics": [{...}, ...]}, the
 * versions scored on the same rows (only the test rows of the split when
 * test_fraction > 0); target (NULL: none) is the target column of versions
 * imported without one (promote's gate.target).
 */
Datum
evaluate_versions(PG_FUNCTION_ARGS)
{
	const char *argnames[] = {"model", "versions", "source", "test_fraction", "seed"};
	char	   *name;
	ArrayType  *arr;
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	const char **refs;
	char	  **metrics;
	int64		rows;
	StringInfoData buf;

	for (int i = 0; i < lengthof(argnames); i++)
		RequireArg(fcinfo, i, argnames[i]);
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	arr = PG_GETARG_ARRAYTYPE_P(1);
	deconstruct_array(arr, INT4OID, 4, true, TYPALIGN_INT, &elems, &nulls, &n);
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("versions must name at least one version")));
	refs = palloc(sizeof(char *) * n);
	metrics = palloc(sizeof(char *) * n);
	for (int k = 0; k < n; k++)
	{
		if (nulls[k])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("versions must not contain null")));
		refs[k] = psprintf("%s:%d", name, DatumGetInt32(elems[k]));
	}
	rows = EvaluateSource(refs, n, text_to_cstring(PG_GETARG_TEXT_PP(2)),
						  PG_ARGISNULL(5) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(5)),
						  PG_GETARG_FLOAT8(3), PG_GETARG_INT32(4),
						  "Give the gate rows in which the column has values, as gate.source.", metrics);
	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"rows\": " INT64_FORMAT ", \"metrics\": [", rows);
	for (int k = 0; k < n; k++)
		appendStringInfo(&buf, "%s%s", k ? ", " : "", metrics[k]);
	appendStringInfoString(&buf, "]}");
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
}
