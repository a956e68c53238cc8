/*
 * xgb.c — the libxgboost calls shared by scoring, import, export, reports and
 * training (xgb.h). Sections: errors and signals (shared by every call),
 * boosters (load, save, inspect), prediction. Training's own calls are in
 * xgb_train.c.
 */
#include "postgres.h"

#include <ctype.h>
#include <malloc.h>
#include <math.h>
#include <signal.h>

#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "mlops/source.h"
#include "mlops/trees.h"
#include "mlops/xgb.h"

/* ---- errors and signals ------------------------------------------------- */

/*
 * XGBoost's last error message, palloc'd, without its "[hh:mm:ss] file:line: "
 * prefix and its stack trace, so that it reads the same on every run.
 */
static char *
XgbLastError(void)
{
	const char *msg = XGBGetLastError();
	const char *end = strstr(msg, "\nStack trace");

	if (msg[0] == '[' && strstr(msg, "] ") != NULL)
	{
		const char *body = strstr(strstr(msg, "] ") + 2, ": ");

		if (body != NULL && (end == NULL || body < end))
			msg = body + 2;
	}
	return end ? pnstrdup(msg, end - msg) : pstrdup(msg);
}

/* Raises sqlerrcode carrying XGBoost's last message unless rc is 0. */
void
XgbCheckCode(int rc, int sqlerrcode, const char *what)
{
	if (rc != 0)
		ereport(ERROR,
				(errcode(sqlerrcode),
				 errmsg("xgboost could not %s", what),
				 errdetail("XGBoost said: %s", XgbLastError())));
}

/*
 * Blocks every signal in the calling thread, saving the old mask. libxgboost
 * may start an OpenMP thread pool in any call; threads inherit the mask of the
 * thread that creates them, so with this around every call they never take
 * PostgreSQL's signals, which keep landing on the backend's own thread.
 */
void
XgbSignalsOff(sigset_t *saved)
{
	sigset_t	all;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, saved);
}

/* Restores the signal mask XgbSignalsOff saved. */
void
XgbSignalsOn(const sigset_t *saved)
{
	pthread_sigmask(SIG_SETMASK, saved, NULL);
}

/* ---- boosters: load, save, inspect -------------------------------------- */

/* Returns the heap's free memory to the operating system (see xgb.h). */
void
XgbReleaseFreedMemory(void)
{
#ifdef __GLIBC__
	malloc_trim(0);
#endif
}

/* Memory-context callback: frees the booster owned by the context, and the memory it held. */
static void
XgbFreeCallback(void *arg)
{
	XGBoosterFree((BoosterHandle) arg);
	XgbReleaseFreedMemory();
}

/*
 * Loads a model into a new one-thread booster owned by `owner`, unchecked:
 * only XgbLoad, after its checks, calls it. The handle is tied to the context
 * before anything can fail, so it is freed on every path.
 */
static BoosterHandle
LoadBuffer(const void *data, size_t len, MemoryContext owner)
{
	BoosterHandle booster;
	MemoryContextCallback *cb;
	sigset_t	saved;
	int			rc;

	cb = MemoryContextAlloc(owner, sizeof(MemoryContextCallback));
	XgbCheck(XGBoosterCreate(NULL, 0, &booster), "create a booster");
	cb->func = XgbFreeCallback;
	cb->arg = booster;
	MemoryContextRegisterResetCallback(owner, cb);

	XgbSignalsOff(&saved);
	rc = len == 0 ? -1 : XGBoosterLoadModelFromBuffer(booster, data, (bst_ulong) len);
	if (rc == 0)
		rc = XGBoosterSetParam(booster, "nthread", "1");
	XgbSignalsOn(&saved);
	if (rc != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("artifact is not a valid xgboost model"),
				 errdetail("XGBoost said: %s", len == 0 ? "empty buffer" : XgbLastError())));
	return booster;
}

/* Checks that the bytes look like the declared format before XGBoost parses them. */
static void
CheckArtifactFormat(const char *format, const unsigned char *p, size_t len)
{
	size_t		i = 0;
	bool		json;

	while (i < len && (p[i] == ' ' || p[i] == '\n' || p[i] == '\r' || p[i] == '\t'))
		i++;
	json = i + 1 < len && p[i] == '{';
	if (json)
	{
		size_t		j = i + 1;

		while (j < len && (p[j] == ' ' || p[j] == '\n' || p[j] == '\r' || p[j] == '\t'))
			j++;
		json = j < len && (p[j] == '"' || p[j] == '}');
	}
	if (strcmp(format, "xgboost-json") == 0 ? !json
		: !(len >= 2 && p[0] == '{' && p[1] != '"' && p[1] != ' ' && p[1] != '\n'))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("artifact is not in format \"%s\"", format),
				 errdetail(strcmp(format, "xgboost-json") == 0
						   ? "An XGBoost JSON model is a JSON object."
						   : "An XGBoost UBJ model is a UBJSON object."),
				 errhint("Booster.save_raw(\"json\") writes xgboost-json, Booster.save_raw(\"ubj\") xgboost-ubj.")));
}

/*
 * Loads an XGBoost model document, "xgboost-json" or "xgboost-ubj" (format),
 * refusing first what libxgboost 1.7 would load and then crash or abort the
 * backend on (see xgb.h). import_model runs it on what it is given, scoring
 * and reports on what the registry holds: a trainer may register a version's
 * bytes itself (_register_version).
 */
BoosterHandle
XgbLoad(const char *format, const void *data, size_t len, int max_depth, MemoryContext owner)
{
	BoosterHandle booster;
	MemoryContext scratch;
	MemoryContext old;
	int64		row_values;

	CheckArtifactFormat(format, data, len);
	/* JSON may start with white space, which libxgboost 1.7 cannot parse past */
	if (strcmp(format, "xgboost-json") == 0)
	{
		const char *p = data;

		for (; len > 0 && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'); len--)
			p++;
		data = p;
	}
	TreeModelCheck(data, len, strcmp(format, "xgboost-ubj") == 0, max_depth);
	booster = LoadBuffer(data, len, owner);

	/*
	 * Scoring sizes a row's buffers by (num_feature + 1) values per output
	 * (explain's contributions): outputs in the millions (a model of no trees
	 * can have any) would take gigabytes per row. The configuration is read
	 * in a context of its own: a cached model keeps nothing of it.
	 */
	scratch = AllocSetContextCreate(CurrentMemoryContext, "mlops model outputs", ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(scratch);
	row_values = (int64) (XgbNumFeatures(booster) + 1) * XgbNumOutputs(XgbConfig(booster));
	MemoryContextSwitchTo(old);
	MemoryContextDelete(scratch);
	if (row_values > XGB_MAX_ROW_VALUES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the model has too many outputs for its features"),
				 errdetail("Its (num_feature + 1) * outputs (num_class, or num_target) is %lld; the most taken is %d.",
						   (long long) row_values, XGB_MAX_ROW_VALUES)));
	return booster;
}

/* The model serialised as "json" or "ubj", copied into a palloc'd bytea. */
bytea *
XgbSave(BoosterHandle booster, const char *format)
{
	char		config[64];
	bst_ulong	len;
	const char *buf;
	bytea	   *result;
	int			rc;

	snprintf(config, sizeof(config), "{\"format\": \"%s\"}", format);
	XGB_BLOCKED(rc, XGBoosterSaveModelToBuffer(booster, config, &len, &buf));
	XgbCheck(rc, "serialise the model");
	result = palloc(VARHDRSZ + len);
	SET_VARSIZE(result, VARHDRSZ + len);
	memcpy(VARDATA(result), buf, len);
	return result;
}

/* The booster's JSON configuration, parsed into palloc'd jsonb. */
Jsonb *
XgbConfig(BoosterHandle booster)
{
	bst_ulong	len;
	const char *buf;

	XgbCheck(XGBoosterSaveJsonConfig(booster, &len, &buf), "save its configuration");
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(pnstrdup(buf, len))));
}

/*
 * The string at a path of keys in a booster's configuration (XGBoost writes
 * its parameters as strings), or a number there as text; NULL when the path
 * does not lead to one.
 */
char *
XgbConfigValue(Jsonb *config, const char *const *path, int depth)
{
	JsonbContainer *c = &config->root;
	JsonbValue	v;

	for (int i = 0; i < depth; i++)
	{
		if (!getKeyJsonValueFromContainer(c, path[i], strlen(path[i]), &v))
			return NULL;
		if (i < depth - 1)
		{
			if (v.type != jbvBinary)
				return NULL;
			c = v.val.binary.data;
		}
	}
	if (v.type == jbvString)
		return pnstrdup(v.val.string.val, v.val.string.len);
	if (v.type == jbvNumeric)
		return DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v.val.numeric)));
	return NULL;
}

/* The number of features the model was trained on. */
int
XgbNumFeatures(BoosterHandle booster)
{
	bst_ulong	n;

	XgbCheck(XGBoosterGetNumFeature(booster, &n), "count the model's features");
	return (int) n;
}

/*
 * The feature names the model carries (Python sets them from a DataFrame's
 * columns), copied out of XGBoost's thread-local buffer; *n is 0 when it
 * carries none.
 */
char	  **
XgbFeatureNames(BoosterHandle booster, int *n)
{
	bst_ulong	len;
	const char **names;
	char	  **copy;

	XgbCheck(XGBoosterGetStrFeatureInfo(booster, "feature_name", &len, &names), "read the feature names");
	copy = palloc(Max(len, 1) * sizeof(char *));
	for (bst_ulong i = 0; i < len; i++)
		copy[i] = pstrdup(names[i]);
	*n = (int) len;
	return copy;
}

/*
 * The number of margins the model gives per row (XGBoost's output groups):
 * num_class for a multiclass model, else num_target (1 but for a
 * multi-output model), read from the booster's configuration.
 */
int
XgbNumOutputs(Jsonb *config)
{
	const char *const num_class[] = {"learner", "learner_model_param", "num_class"};
	const char *const num_target[] = {"learner", "learner_model_param", "num_target"};
	const char *const *paths[] = {num_class, num_target};
	int			outputs = 1;

	for (int i = 0; i < lengthof(paths); i++)
	{
		char	   *value = XgbConfigValue(config, paths[i], 3);

		if (value != NULL)
			outputs = Max(outputs, atoi(value));
	}
	return outputs;
}

/* The number of boosting rounds in the model. */
int
XgbBoostedRounds(BoosterHandle booster)
{
	int			n;

	XgbCheck(XGBoosterBoostedRounds(booster, &n), "count the model's rounds");
	return n;
}

/*
 * The importance of every feature (XGBoosterFeatureScore, importance_type
 * "weight", "gain", "cover", "total_gain" or "total_cover") into out[0..n-1],
 * in the order of names: XGBoost names a feature by the name the booster was
 * trained with (UTF-8, as its JSON is), or "f<index>" when it has none;
 * names are in the database's encoding. A feature no split uses scores 0;
 * scores of several outputs (gblinear, multiclass) are summed.
 */
void
XgbFeatureScores(BoosterHandle booster, const char *importance_type, const char *const *names, int n, double *out)
{
	char		config[80];
	bst_ulong	nscored;
	const char **scored;
	bst_ulong	dim;
	const bst_ulong *shape;
	const float *scores;
	size_t		per_feature = 1;
	char	  **utf8_names = palloc(sizeof(char *) * Max(n, 1));

	for (int j = 0; j < n; j++)
		utf8_names[j] = ColumnNameToUtf8(names[j]);
	snprintf(config, sizeof(config), "{\"importance_type\": \"%s\"}", importance_type);
	XgbCheck(XGBoosterFeatureScore(booster, config, &nscored, &scored, &dim, &shape, &scores),
			 "compute feature importance");
	for (bst_ulong i = 1; i < dim; i++)
		per_feature *= shape[i];
	/* read the thread-local result before anything else calls libxgboost */
	memset(out, 0, sizeof(double) * n);
	for (bst_ulong i = 0; i < nscored; i++)
	{
		int			j;
		char	   *end;

		for (j = 0; j < n && strcmp(scored[i], utf8_names[j]) != 0; j++)
			;
		if (j == n && scored[i][0] == 'f' && isdigit((unsigned char) scored[i][1]))
		{
			long		index = strtol(scored[i] + 1, &end, 10);

			j = *end == '\0' && index < n ? (int) index : n;
		}
		if (j == n)
			continue;
		for (size_t k = 0; k < per_feature; k++)
			out[j] += scores[i * per_feature + k];
	}
	pfree(utf8_names);
}

/* ---- prediction --------------------------------------------------------- */

/* The __array_interface__ document of a row-major float32 matrix, into buf (see xgb.h). */
void
XgbArrayInterface(char *buf, size_t size, const float *x, int64 rows, int cols)
{
	snprintf(buf, size,
			 "{\"data\": [%lu, true], \"shape\": [%lld, %d], \"typestr\": \"<f4\", \"version\": 3}",
			 (unsigned long) (uintptr_t) x, (long long) rows, cols);
}

/*
 * XGBoost's prediction of `kind` on dmat, or in place on the dense matrix of
 * array interface `dense` when it is not NULL, copied into out (before any
 * other libxgboost call can overwrite its thread-local result) when it has
 * out_len values; *n gets the number it has. Returns XGBoost's return code and
 * raises nothing: callers run it with signals blocked.
 */
static int
PredictInto(BoosterHandle booster, DMatrixHandle dmat, const char *dense, XgbPredictKind kind, float *out,
			size_t out_len, size_t *n)
{
	char		config[200];
	const bst_ulong *shape;
	bst_ulong	dim;
	const float *result;
	int			rc;

	/* missing and cache_id are for the in-place call; a DMatrix's prediction ignores them */
	snprintf(config, sizeof(config),
			 "{\"type\": %d, \"training\": false, \"iteration_begin\": 0, \"iteration_end\": 0, "
			 "\"strict_shape\": false, \"missing\": NaN, \"cache_id\": 0}", (int) kind);
	if (dense)
		rc = XGBoosterPredictFromDense(booster, dense, config, NULL, &shape, &dim, &result);
	else
		rc = XGBoosterPredictFromDMatrix(booster, dmat, config, &shape, &dim, &result);
	*n = 1;
	if (rc == 0)
	{
		for (bst_ulong i = 0; i < dim; i++)
			*n *= shape[i];
		if (*n == out_len)
			memcpy(out, result, *n * sizeof(float));
	}
	return rc;
}

/* Raises the error of a failed prediction, or of one that gave n values where out_len were expected. */
static void
PredictCheck(int rc, size_t n, size_t out_len)
{
	XgbCheck(rc, "predict");
	if (n != out_len)
		elog(ERROR, "xgboost returned %zu prediction values where %zu were expected", n, out_len);
}

/*
 * Prediction on a dense float32 matrix through a DMatrix (in-place prediction
 * computes neither contributions nor gblinear models). The thread-local
 * result is copied to `out`.
 */
void
XgbPredictDense(BoosterHandle booster, const float *x, int nrow, int ncol,
				XgbPredictKind kind, float *out, size_t out_len)
{
	DMatrixHandle dmat;
	size_t		n = 0;
	int			rc;
	sigset_t	saved;

	XgbSignalsOff(&saved);
	rc = XGDMatrixCreateFromMat(x, nrow, ncol, NAN, &dmat);
	if (rc != 0)
	{
		XgbSignalsOn(&saved);
		XgbCheck(rc, "create a matrix");
	}
	rc = PredictInto(booster, dmat, NULL, kind, out, out_len, &n);
	XGDMatrixFree(dmat);
	XgbSignalsOn(&saved);
	PredictCheck(rc, n, out_len);
}

/*
 * Prediction on a matrix XGBoost holds: for the matrices a booster was
 * trained and evaluated on, the predictions it keeps of them, at no cost.
 */
void
XgbPredictMatrix(BoosterHandle booster, DMatrixHandle dmat, XgbPredictKind kind, float *out, size_t out_len)
{
	size_t		n = 0;
	int			rc;

	XGB_BLOCKED(rc, PredictInto(booster, dmat, NULL, kind, out, out_len, &n));
	PredictCheck(rc, n, out_len);
}

/*
 * XGBoost's in-place prediction (Booster.inplace_predict) of `kind` (a value
 * or a margin) on a dense float32 matrix, into out. A DMatrix refuses an
 * infinite value, which the in-place prediction of a tree booster scores (as
 * the compiled trees do); gblinear has none.
 */
void
XgbPredictInPlace(BoosterHandle booster, const float *x, int nrow, int ncol,
				  XgbPredictKind kind, float *out, size_t out_len)
{
	char		dense[160];
	size_t		n = 0;
	int			rc;

	Assert(kind != XGB_PREDICT_CONTRIBS);
	XgbArrayInterface(dense, sizeof(dense), x, nrow, ncol);
	XGB_BLOCKED(rc, PredictInto(booster, NULL, dense, kind, out, out_len, &n));
	PredictCheck(rc, n, out_len);
}
