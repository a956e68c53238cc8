/*
 * xgb_train.c — the 'xgboost' algorithm of mlops.train(): every libxgboost
 * call made while training (matrices, booster parameters, boosting rounds,
 * evaluation, early stopping, slicing).
 *
 * Threads: XGBoost's OpenMP threads inherit the signal mask of the thread
 * that starts them, so every call that may run parallel code runs with all
 * signals blocked and restores the mask before anything can raise an error;
 * PostgreSQL's signals (cancel, timeout, termination) stay pending until then
 * and are acted on by CHECK_FOR_INTERRUPTS between boosting rounds. No
 * PostgreSQL function runs on XGBoost's threads: the log callback below runs
 * on the backend's own thread, and only copies text into a static buffer (or
 * writes it to stderr, the server's log).
 */
#include "postgres.h"

#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>

#include <xgboost/c_api.h>

#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "mlops/float_text.h"
#include "mlops/progress.h"
#include "mlops/settings.h"
#include "mlops/source.h"
#include "mlops/trees.h"
#include "mlops/xgb.h"
#include "mlops/xgb_train.h"

#define XGB_DEFAULT_ROUNDS 100
#define XGB_MAX_ROUNDS 1000000

/*
 * Bytes XGBoost holds per matrix value, estimated for mlops.max_training_memory:
 * with tree_method hist the quantised matrix (a 1-byte bin index with max_bin
 * <= 256, row- and column-wise); otherwise its sparse copy (a 4-byte feature
 * index and a 4-byte value per entry) and a 1-byte bin index for approx.
 */
#define XGB_HIST_BYTES_PER_VALUE 2
#define XGB_BYTES_PER_VALUE 9

/* The libxgboost handles of one training, freed when their memory context goes. */
typedef struct XgbHandles
{
	BoosterHandle booster;
	DMatrixHandle dtrain;
	DMatrixHandle dtest;		/* NULL without test rows */
	DMatrixHandle proxy;		/* while a quantised matrix is built */
	char	   *global_config;	/* XGBoost's global configuration before */
} XgbHandles;

/* A trained model, for train()'s predictions: its booster, and its compiled trees when covered. */
typedef struct XgbTrained
{
	XgbHandles *handles;
	TreeModel  *trees;			/* NULL when trees.h does not cover the model */
} XgbTrained;

/*
 * The one batch a quantised matrix is built from, handed to XGBoost by the
 * iterator callbacks below (which run inside libxgboost, on the backend's
 * thread, and call no PostgreSQL function).
 */
typedef struct XgbBatchIter
{
	DMatrixHandle proxy;
	const float *x;
	const float *y;
	int64		rows;
	int			ncols;
	const char **names;
	const char **types;
	bool		done;			/* the batch was handed over */
	bool		failed;			/* a setter failed: XGBGetLastError() says why */
} XgbBatchIter;

/* hyperparams, split into mlops's own settings and the parameters for XGBoost. */
typedef struct XgbParams
{
	int			n_estimators;
	bool		n_estimators_given;
	int			early_stopping_rounds;	/* 0 = none */
	List	   *keys;			/* XGBoost parameters, in order, as text */
	List	   *values;
} XgbParams;

/* XGBoost's log lines, captured while parameters are checked. */
static bool log_capture = false;
static char log_text[4096];
static size_t log_len = 0;

/*
 * Receives XGBoost's log lines (on the backend's thread, the one that
 * registered it): kept while capturing, else written to the server's log as
 * XGBoost itself would. No PostgreSQL call: it runs inside libxgboost.
 */
static void
XgbLogCallback(const char *msg)
{
	size_t		len = strlen(msg);

	if (!log_capture)
	{
		fprintf(stderr, "%s\n", msg);
		return;
	}
	len = Min(len, sizeof(log_text) - 1 - log_len);
	memcpy(log_text + log_len, msg, len);
	log_len += len;
	log_text[log_len] = '\0';
}

/*
 * Memory-context callback: frees the handles still held, and the memory
 * libxgboost freed; and sets XGBoost's global configuration back, which a
 * booster's verbosity changes for the whole backend (verbosity 0 silenced the
 * unknown-parameter check of every later training in the session).
 */
static void
XgbHandlesFree(void *arg)
{
	XgbHandles *h = arg;

	if (h->dtrain)
		XGDMatrixFree(h->dtrain);
	if (h->dtest)
		XGDMatrixFree(h->dtest);
	if (h->proxy)
		XGDMatrixFree(h->proxy);
	if (h->booster)
		XGBoosterFree(h->booster);
	h->dtrain = h->dtest = h->proxy = h->booster = NULL;
	XgbReleaseFreedMemory();
	if (h->global_config)
		(void) XGBSetGlobalConfig(h->global_config);
	h->global_config = NULL;
}

/* Handles owned by the current memory context: freed when it is reset or deleted. */
static XgbHandles *
XgbHandlesCreate(void)
{
	XgbHandles *h = palloc0(sizeof(XgbHandles));
	MemoryContextCallback *cb = palloc(sizeof(MemoryContextCallback));
	const char *config;

	XgbCheck(XGBGetGlobalConfig(&config), "read its global configuration");
	h->global_config = pstrdup(config);

	cb->func = XgbHandlesFree;
	cb->arg = h;
	MemoryContextRegisterResetCallback(CurrentMemoryContext, cb);
	return h;
}

/* A number of rounds in hyperparams: an integer from 1 to XGB_MAX_ROUNDS, or 22023. */
static int
RoundsParam(const char *key, const JsonbValue *v)
{
	double		x = NAN;

	if (v->type == jbvNumeric)			/* beyond float8's range: ±Infinity, refused below */
		x = DatumGetFloat8(DirectFunctionCall1(numeric_float8_no_overflow, NumericGetDatum(v->val.numeric)));
	if (!(x >= 1 && x <= XGB_MAX_ROUNDS && x == floor(x)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("hyperparameter \"%s\" must be an integer from 1 to %d", key, XGB_MAX_ROUNDS)));
	return (int) x;
}

/*
 * The text of a JSON number for XGBoost: as written, unless XGBoost's float
 * parser would misread it. jsonb keeps a number as a numeric, whose text
 * spells an exponent out (1e-20 is 0.00000000000000000001, 1e20 a 1 and 20
 * zeros), and that parser keeps only 19 digits after the point (1e-20 read
 * as 0) and sums the digits before it in 64 bits (1e20 read as 7.8e18), so
 * that the booster silently got another value than Python gives it. Such a
 * number goes in its shortest float8 form (1e-20, 1e+20), as Python writes
 * a float; an integer of up to 19 digits keeps its text (seed: exactly).
 * Beyond float8's range: 22023.
 */
static char *
NumberText(const char *key, Numeric n)
{
	char	   *text = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(n)));
	const char *digits = text + (*text == '-');
	const char *point = strchr(digits, '.');
	size_t		whole = point ? (size_t) (point - digits) : strlen(digits);
	double		x;

	if (whole <= 19 && (point == NULL || strlen(point + 1) <= 19))
		return text;
	x = DatumGetFloat8(DirectFunctionCall1(numeric_float8_no_overflow, NumericGetDatum(n)));
	if (isinf(x))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("hyperparameter \"%s\" is beyond the range of float8", key)));
	return Float8ExactText(x);
}

/*
 * A string hyperparameter as XGBoost gets it. XGBoost's float parser takes
 * "nan" and "inf" (in any case) and trains with them: "eta": "NaN" gave a
 * model predicting NaN for every row, and no metric. A string that is
 * entirely such a value is 22023, as a JSON number beyond float8's range is.
 */
static char *
StringText(const char *key, const JsonbValue *v)
{
	char	   *text = pnstrdup(v->val.string.val, v->val.string.len);
	char	   *end;
	double		x = strtod(text, &end);

	while (isspace((unsigned char) *end))
		end++;
	if (end != text && *end == '\0' && !isfinite(x))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("hyperparameter \"%s\" must be finite, not \"%s\"", key, text)));
	return text;
}

/* A scalar hyperparameter as the text XGBoost parses (booleans as 1/0). */
static char *
ScalarText(const char *key, const JsonbValue *v)
{
	switch (v->type)
	{
		case jbvString:
			return StringText(key, v);
		case jbvNumeric:
			return NumberText(key, v->val.numeric);
		case jbvBool:
			return pstrdup(v->val.boolean ? "1" : "0");
		default:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("hyperparameter \"%s\" must be a number, a string or a boolean", key),
					 errhint("Only eval_metric takes an array (of metric names).")));
	}
	return NULL;				/* keep the compiler quiet */
}

/* Appends one XGBoost parameter. */
static void
AddParam(XgbParams *p, const char *key, const char *value)
{
	p->keys = lappend(p->keys, pstrdup(key));
	p->values = lappend(p->values, pstrdup(value));
}

/* Replaces the value of every occurrence of an XGBoost parameter. */
static void
SetParam(XgbParams *p, const char *key, const char *value)
{
	ListCell   *k,
			   *v;

	forboth(k, p->keys, v, p->values)
		if (strcmp(lfirst(k), key) == 0)
		lfirst(v) = pstrdup(value);
}

/*
 * Whether a parameter's text is a whole number from min to max ("3", "3.0",
 * 3e0: JSON numbers keep the form they were written in), stored in *out.
 */
static bool
WholeNumberText(const char *text, double min, double max, int *out)
{
	char	   *end;
	double		x;

	errno = 0;
	x = strtod(text, &end);
	while (isspace((unsigned char) *end))
		end++;
	if (end == text || *end != '\0' || errno == ERANGE || !(x >= min && x <= max) || x != floor(x))
		return false;
	*out = (int) x;
	return true;
}

/* The last value given for an XGBoost parameter, or NULL. */
static const char *
ParamValue(const XgbParams *p, const char *key)
{
	const char *value = NULL;
	ListCell   *k,
			   *v;

	forboth(k, p->keys, v, p->values)
		if (strcmp(lfirst(k), key) == 0)
		value = lfirst(v);
	return value;
}

/*
 * Splits hyperparams into n_estimators, early_stopping_rounds and XGBoost's
 * parameters (eval_metric may be an array: one parameter per name, as Python
 * sets them).
 */
static void
ParseParams(Jsonb *hyperparams, XgbParams *p)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;

	p->n_estimators = XGB_DEFAULT_ROUNDS;
	p->n_estimators_given = false;
	p->early_stopping_rounds = 0;
	p->keys = p->values = NIL;
	Assert(JB_ROOT_IS_OBJECT(hyperparams));	/* train() checked it */
	it = JsonbIteratorInit(&hyperparams->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		char	   *key;

		if (tok != WJB_KEY)
			continue;
		key = pnstrdup(v.val.string.val, v.val.string.len);
		JsonbIteratorNext(&it, &v, true);
		if (strcmp(key, "n_estimators") == 0)
		{
			p->n_estimators = RoundsParam(key, &v);
			p->n_estimators_given = true;
		}
		else if (strcmp(key, "early_stopping_rounds") == 0)
			p->early_stopping_rounds = RoundsParam(key, &v);
		else if (strcmp(key, "eval_metric") == 0 && v.type == jbvBinary &&
				 JsonContainerIsArray(v.val.binary.data))
		{
			JsonbIterator *ai = JsonbIteratorInit(v.val.binary.data);
			JsonbValue	e;

			while ((tok = JsonbIteratorNext(&ai, &e, true)) != WJB_DONE)
				if (tok == WJB_ELEM)
				{
					if (e.type != jbvString)
						ereport(ERROR,
								(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
								 errmsg("hyperparameter \"eval_metric\" must be a metric name or an array of them")));
					AddParam(p, key, pnstrdup(e.val.string.val, e.val.string.len));
				}
		}
		else
			AddParam(p, key, ScalarText(key, &v));
	}
}

/*
 * Checks the form of hyperparams as ParseParams reads them (a number of
 * rounds, scalars, eval_metric's names), before train() opens its run: a
 * JSON null would otherwise first reach the run's params. Early stopping
 * with the gblinear booster is refused here too, before any row is read:
 * its model cannot be cut back to the best round (XGBoosterSlice refuses
 * it), which the training only found out after its last round (38000).
 */
void
XgbCheckHyperParams(Jsonb *hyperparams)
{
	XgbParams	p;
	const char *booster;

	ParseParams(hyperparams, &p);
	booster = ParamValue(&p, "booster");
	if (p.early_stopping_rounds > 0 && booster != NULL && strcmp(booster, "gblinear") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("early_stopping_rounds is not available with booster \"gblinear\""),
				 errdetail("Early stopping keeps the model of the best round, and a gblinear model cannot be cut back to an earlier round."),
				 errhint("Leave early_stopping_rounds out, or use booster \"gbtree\" or \"dart\".")));
	list_free_deep(p.keys);
	list_free_deep(p.values);
}

/*
 * Whether an XGBoost objective predicts on the target's scale, as the
 * regression metrics need: the reg: family and count:poisson, not rank:
 * (scores to order rows by) nor survival: (hazard ratios, or times that need
 * bounds on the labels).
 */
static bool
TargetScaleObjective(const char *objective)
{
	return strncmp(objective, "reg:", 4) == 0 || strcmp(objective, "count:poisson") == 0;
}

/*
 * The key of the number of threads given: nthread, or else n_jobs, XGBoost's
 * alias of it (nthread wins when both are given); NULL when neither is.
 */
static const char *
ThreadsKey(const XgbParams *p)
{
	if (ParamValue(p, "nthread") != NULL)
		return "nthread";
	return ParamValue(p, "n_jobs") != NULL ? "n_jobs" : NULL;
}

/* Whether an XGBoost objective predicts the exponential of its margin. */
static bool
LogLinkObjective(const char *objective)
{
	return strcmp(objective, "count:poisson") == 0 || strcmp(objective, "reg:gamma") == 0 ||
		strcmp(objective, "reg:tweedie") == 0;
}

/*
 * Adds the parameters the task fixes or defaults, and checks those given
 * against it: the objective (classification needs class probabilities,
 * regression predictions on the target's scale), base_score against a
 * log-link objective, the number of classes, threads, max_bin, seed,
 * validation of parameter names, and the histogram method when there are
 * categorical inputs.
 */
static void
TaskParams(const Dataset *ds, XgbParams *p)
{
	const char *objective = ParamValue(p, "objective");
	const char *num_class = ParamValue(p, "num_class");
	const char *base_score = ParamValue(p, "base_score");
	const char *threads = ThreadsKey(p);
	bool		multiclass = ds->classification && ds->nclasses > 2;

	if (ds->classification)
	{
		const char *want = multiclass ? "multi:softprob" : "binary:logistic";

		if (objective != NULL && strcmp(objective, want) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("objective \"%s\" is not available for this classification", objective),
					 errdetail("The target has %d classes; train() needs class probabilities, which objective \"%s\" gives.",
							   ds->nclasses, want)));
		if (objective == NULL)
			AddParam(p, "objective", want);
	}
	else if (objective != NULL && (strncmp(objective, "binary:", 7) == 0 || strncmp(objective, "multi:", 6) == 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("objective \"%s\" is for classification", objective),
				 errhint("Give task => 'classification' to train a classifier.")));
	else if (objective != NULL && !TargetScaleObjective(objective))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("objective \"%s\" is not available for regression", objective),
				 errdetail("A regression's metrics compare its predictions with the target, and objective \"%s\" does not predict on the target's scale.",
						   objective),
				 errhint("Regression objectives: reg:squarederror (the default), reg:squaredlogerror, reg:pseudohubererror, reg:absoluteerror, reg:logistic, reg:gamma, reg:tweedie, count:poisson.")));
	else if (objective == NULL)
		AddParam(p, "objective", "reg:squarederror");

	/*
	 * XGBoost starts the margin of a log-link objective at log(base_score)
	 * and does not check it (as it checks a logistic one's): base_score 0
	 * trained a model predicting 0 for every row, which no round changed, and
	 * a negative one a model predicting NaN, with no metric
	 */
	objective = ParamValue(p, "objective");
	if (base_score != NULL && LogLinkObjective(objective))
	{
		char	   *end;
		double		x = strtod(base_score, &end);

		while (isspace((unsigned char) *end))
			end++;
		if (end != base_score && *end == '\0' && !(x > 0))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("hyperparameter \"base_score\" must be positive for objective \"%s\"", objective),
					 errdetail("Objective \"%s\" predicts the exponential of a margin that starts at the logarithm of base_score.",
							   objective)));
	}

	/* compared as a number (3.0 is 3), and handed to XGBoost as the integer it parses */
	if (num_class != NULL)
	{
		int			given;

		if (!(multiclass && WholeNumberText(num_class, ds->nclasses, ds->nclasses, &given)))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("hyperparameter \"num_class\" does not match the target"),
					 multiclass ? errdetail("The target has %d classes; XGBoost is trained on their indexes 0 to %d.",
											ds->nclasses, ds->nclasses - 1)
					 : errdetail("num_class is for multiclass classification only.")));
		SetParam(p, "num_class", psprintf("%d", given));
	}
	if (multiclass && num_class == NULL)
		AddParam(p, "num_class", psprintf("%d", ds->nclasses));

	/*
	 * XGBoost starts as many threads as it is told to: bounded as mlops.threads
	 * is, under either name (an nthread set besides n_jobs overrode it)
	 */
	if (threads != NULL)
	{
		int			nthread;

		if (!WholeNumberText(ParamValue(p, threads), -1, MLOPS_MAX_THREADS, &nthread))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("hyperparameter \"%s\" must be an integer from -1 to %d", threads, MLOPS_MAX_THREADS),
					 errhint("0 or -1 uses every core; without nthread, training uses mlops.threads.")));
		SetParam(p, threads, psprintf("%d", nthread));
	}
	else
		AddParam(p, "nthread", psprintf("%d", MlopsTrainingThreads()));
	/*
	 * XGBoost's own bound, checked here because the quantised matrix of
	 * tree_method hist is built with max_bin before the booster checks its
	 * parameters: libxgboost then failed with no message a user could act on
	 * (38000), and the histograms' estimate took a negative size
	 */
	if (ParamValue(p, "max_bin") != NULL)
	{
		int			max_bin;

		if (!WholeNumberText(ParamValue(p, "max_bin"), 2, INT_MAX, &max_bin))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("hyperparameter \"max_bin\" must be an integer of at least 2")));
		SetParam(p, "max_bin", psprintf("%d", max_bin));
	}
	/* nor besides random_state, XGBoost's alias of seed, whose value seed would override */
	if (ParamValue(p, "seed") == NULL && ParamValue(p, "random_state") == NULL)
		AddParam(p, "seed", psprintf("%d", ds->seed));
	if (ParamValue(p, "validate_parameters") == NULL)
		AddParam(p, "validate_parameters", "1");
	/* gblinear has no tree method: validate_parameters would refuse one as unknown */
	if (ParamValue(p, "tree_method") == NULL &&
		(ParamValue(p, "booster") == NULL || strcmp(ParamValue(p, "booster"), "gblinear") != 0))
		for (int j = 0; j < ds->ninputs; j++)
			if (ds->inputs[j].kind == INPUT_CATEGORICAL)
			{
				AddParam(p, "tree_method", "hist");
				break;
			}
}

/*
 * Records in the run what the user did not give: n_estimators when
 * defaulted, and the parameters TaskParams added (those from index `given` on), so that the run
 * says exactly how the model was trained.
 */
static void
LogChosenParams(TrainRequest *req, const XgbParams *p, int given)
{
	ListCell   *k,
			   *v;
	int			i = 0;

	if (!p->n_estimators_given)
		TrainLogParam(req, "n_estimators", psprintf("%d", p->n_estimators));
	forboth(k, p->keys, v, p->values)
		if (i++ >= given)
		TrainLogParam(req, lfirst(k), lfirst(v));
}

/*
 * Rows as XGBoost takes them: a row-major float32 matrix and its labels,
 * grown as rows arrive; and, for the rows train() evaluates on, their targets
 * as float8 (the value, or the class index).
 */
typedef struct RowBuffer
{
	float	   *x;
	float	   *y;
	double	   *target;			/* when keep_target */
	bool		keep_target;
	int64		rows;
	int64		cap;
} RowBuffer;

/*
 * Makes room for n more rows, by half again of the capacity: large buffers
 * are grown by the kernel remapping their pages (realloc of a mapped block),
 * not copied, and the capacity not yet written to holds no memory.
 */
static void
RowBufferReserve(RowBuffer *buf, int ncols, int64 n)
{
	int64		cap;

	if (buf->rows + n <= buf->cap || n == 0)
		return;
	cap = Max(buf->rows + n, buf->cap + buf->cap / 2);
	if (buf->x == NULL)
	{
		buf->x = palloc_extended(sizeof(float) * cap * ncols, MCXT_ALLOC_HUGE);
		buf->y = palloc_extended(sizeof(float) * cap, MCXT_ALLOC_HUGE);
		if (buf->keep_target)
			buf->target = palloc_extended(sizeof(double) * cap, MCXT_ALLOC_HUGE);
	}
	else
	{
		buf->x = repalloc_huge(buf->x, sizeof(float) * cap * ncols);
		buf->y = repalloc_huge(buf->y, sizeof(float) * cap);
		if (buf->keep_target)
			buf->target = repalloc_huge(buf->target, sizeof(double) * cap);
	}
	buf->cap = cap;
}

/* Frees a buffer's matrix and labels (XGBoost has its own copy); the targets stay. */
static void
RowBufferFree(RowBuffer *buf)
{
	if (buf->x)
	{
		pfree(buf->x);
		pfree(buf->y);
	}
	buf->x = buf->y = NULL;
}

/*
 * Bytes of the quantile sketch XGBoost builds of each feature for tree_method
 * hist (alive until the quantised matrix is complete): as XGBoost sizes it,
 * nlevel summaries of `limit` 16-byte entries and as much again of queue and
 * scratch, where limit = nlevel × 8 × max_bin is the smallest size that
 * covers the feature's n values with 2^nlevel of them.
 */
static Size
SketchBytes(int64 n, int max_bin)
{
	int64		nlevel = 1;
	int64		limit;

	for (;;)
	{
		limit = Min(n, nlevel * 8 * Max(max_bin, 2) + 1);
		if ((limit << nlevel) >= n)
			break;
		nlevel++;
	}
	return (Size) limit * 16 * (nlevel + 2);
}

#define XGB_HIST_BYTES_PER_BIN 24	/* 16 per histogram entry, and half as much again */

/*
 * Bytes of the gradient histograms XGBoost keeps while it grows a tree with
 * a histogram method (hist, approx, and auto from 4M training rows on, where
 * XGBoost 1.7 picks approx): a pair of doubles per bin of every feature —
 * max_bin for a numeric one, one per category for a categorical one — for
 * every node it may split. A tree has at most 2^max_depth leaves (max_depth
 * 6 by default), max_leaves, and one per training row. Measured with
 * libxgboost 1.7 (6 features, 40000 rows: 16 MB at max_depth 4, 147 MB at
 * 12, 305 MB growing lossguide to 4096 leaves), it holds about one and a half
 * histograms per leaf growing depthwise and three growing lossguide (every
 * node's, and per-node scratch). Nothing without a histogram method or with
 * gblinear.
 */
static Size
HistogramBytes(const Dataset *ds, const XgbParams *p, int bins)
{
	const char *tree_method = ParamValue(p, "tree_method");
	const char *booster = ParamValue(p, "booster");
	const char *policy = ParamValue(p, "grow_policy");
	const char *text;
	int			depth = 6;
	int			max_leaves = 0;
	double		leaves;
	double		row_bytes = 0;

	if (booster != NULL && strcmp(booster, "gblinear") == 0)
		return 0;
	if (!(tree_method != NULL && (strcmp(tree_method, "hist") == 0 || strcmp(tree_method, "approx") == 0)) &&
		!((tree_method == NULL || strcmp(tree_method, "auto") == 0) && ds->train_rows >= (INT64CONST(4) << 20)))
		return 0;
	/* a value XGBoost refuses leaves the default */
	if ((text = ParamValue(p, "max_depth")) != NULL)
		(void) WholeNumberText(text, 0, INT_MAX, &depth);
	if ((text = ParamValue(p, "max_leaves")) != NULL)
		(void) WholeNumberText(text, 0, INT_MAX, &max_leaves);
	leaves = depth > 0 ? ldexp(1.0, Min(depth, 62)) : (double) ds->train_rows;
	if (max_leaves > 0)
		leaves = Min(leaves, (double) max_leaves);
	leaves = Max(1.0, Min(leaves, (double) ds->train_rows));
	if (policy != NULL && (strcmp(policy, "lossguide") == 0 || strcmp(policy, "1") == 0))
		leaves *= 2;
	for (int j = 0; j < ds->ninputs; j++)
		row_bytes += (double) XGB_HIST_BYTES_PER_BIN * (ds->inputs[j].kind == INPUT_CATEGORICAL ? Max(ds->inputs[j].ncategories, 1) : bins);
	return (Size) Min(leaves * row_bytes, (double) (SIZE_MAX / 2));
}

/* What XGBoost holds of a matrix of rows × ncols values: values (or bins), row offsets, labels. */
static Size
XgbMatrixBytes(int64 rows, int ncols, bool hist)
{
	return (Size) rows * ncols * (hist ? XGB_HIST_BYTES_PER_VALUE : XGB_BYTES_PER_VALUE) +
		rows * (sizeof(uint64) + sizeof(float));
}

/*
 * Raises 22003 for a finite value of input j (-1: the target) beyond
 * float32's range, which the matrices XGBoost takes cannot hold: converted,
 * it would be an infinity that XGBoost refuses with an error of its own, as
 * Python's does (the loader already refuses infinities themselves).
 */
static void
RefuseBeyondFloat32(const Dataset *ds, int j, double v)
{
	ereport(ERROR,
			(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
			 j < 0 ? errmsg("target \"%s\" of source \"%s\" has the value %g, beyond the range of float32",
							ds->target, ds->source, v)
			 : errmsg("feature \"%s\" of source \"%s\" has the value %g, beyond the range of float32",
					  ds->inputs[j].name, ds->source, v),
			 errdetail("XGBoost takes its inputs and labels as float32, at most %g in magnitude.", (double) FLT_MAX),
			 errhint("Leave such rows out, or rescale the column, in a query source.")));
}

/*
 * Reads the rows in one scan into float32 matrices and label vectors (and
 * targets, where kept), the training rows into train and the test rows into
 * test, each batch counted against mlops.max_training_memory as it arrives.
 * The loader's row counts are final after the scan (a regression over
 * numeric inputs is counted by it); an error if the source changed since the
 * loader counted it.
 */
static void
LoadRows(Dataset *ds, RowBuffer *train, RowBuffer *test)
{
	int			k = ds->ninputs;
	DatasetScan *scan = DatasetBeginScan(ds);
	DatasetBatch *b;

	while ((b = DatasetNextBatch(scan)) != NULL)
	{
		int			ntest = 0;

		CHECK_FOR_INTERRUPTS();
		for (int i = 0; i < b->nrows; i++)
			ntest += b->is_test[i];
		DatasetReserveMemory(ds, sizeof(float) * (k + 1) * b->nrows +
							 sizeof(double) * (train->keep_target ? b->nrows - ntest : 0) +
							 sizeof(double) * (test->keep_target ? ntest : 0),
							 "the float32 training matrix");
		RowBufferReserve(train, k, b->nrows - ntest);
		RowBufferReserve(test, k, ntest);
		for (int i = 0; i < b->nrows; i++)
		{
			RowBuffer  *buf = b->is_test[i] ? test : train;
			float	   *x = buf->x + buf->rows * k;
			const double *src = b->x + (Size) i * k;
			double		target = ds->classification ? b->label[i] : b->y[i];

			for (int j = 0; j < k; j++)
			{
				x[j] = (float) src[j];
				if (unlikely(isinf(x[j])))
					RefuseBeyondFloat32(ds, j, src[j]);
			}
			if (buf->keep_target)
				buf->target[buf->rows] = target;
			buf->y[buf->rows] = (float) target;
			if (unlikely(isinf(buf->y[buf->rows])))
				RefuseBeyondFloat32(ds, -1, target);
			buf->rows++;
		}
	}
	DatasetEndScan(scan);
	if (train->rows != ds->train_rows || test->rows != ds->test_rows)
		DatasetRefuseChangedSource(ds, psprintf("The first pass saw %s and %s, the last one %lld and %lld.",
												DatasetRowCount(ds->train_rows, "training"),
												DatasetRowCount(ds->test_rows, "test"),
												(long long) train->rows, (long long) test->rows));
}

/*
 * The inputs' names in UTF-8, as XGBoost's JSON holds them (a model exported
 * from a LATIN1 database is read by Python), and XGBoost feature types ('c'
 * categorical, 'q' numeric), palloc'd.
 */
static void
FeatureInfo(const Dataset *ds, const char ***names, const char ***types)
{
	*names = palloc(sizeof(char *) * ds->ninputs);
	*types = palloc(sizeof(char *) * ds->ninputs);
	for (int j = 0; j < ds->ninputs; j++)
	{
		(*names)[j] = ColumnNameToUtf8(ds->inputs[j].name);
		(*types)[j] = ds->inputs[j].kind == INPUT_CATEGORICAL ? "c" : "q";
	}
}

/*
 * Hands a float32 matrix (rows × ninputs, NaN = missing) and its labels to
 * XGBoost, with the inputs' names and types ('c' for categorical: native
 * categorical splits on the category index). The handle goes to *slot as
 * soon as it exists, so that it is freed on every path.
 */
static void
CreateMatrix(const Dataset *ds, const float *x, const float *y, int64 rows, int nthread,
			 DMatrixHandle *slot)
{
	char		array[200];
	char		config[64];
	const char **names;
	const char **types;
	int			rc;

	XgbArrayInterface(array, sizeof(array), x, rows, ds->ninputs);
	snprintf(config, sizeof(config), "{\"missing\": NaN, \"nthread\": %d}", nthread);
	XGB_BLOCKED(rc, XGDMatrixCreateFromDense(array, config, slot));
	XgbCheck(rc, "build its training matrix");
	XgbCheck(XGDMatrixSetFloatInfo(*slot, "label", y, (bst_ulong) rows), "set the labels");
	FeatureInfo(ds, &names, &types);
	XgbCheck(XGDMatrixSetStrFeatureInfo(*slot, "feature_name", names, ds->ninputs), "set the feature names");
	XgbCheck(XGDMatrixSetStrFeatureInfo(*slot, "feature_type", types, ds->ninputs), "set the feature types");
}

/* Iterator callback: rewinds to the one batch. */
static void
XgbBatchReset(DataIterHandle handle)
{
	((XgbBatchIter *) handle)->done = false;
}

/*
 * Iterator callback: hands the batch (data, labels, feature names and types)
 * to the proxy and returns 1, or 0 once it was handed over or a setter failed.
 */
static int
XgbBatchNext(DataIterHandle handle)
{
	XgbBatchIter *it = handle;
	char		array[200];

	if (it->done)
		return 0;
	it->done = true;
	XgbArrayInterface(array, sizeof(array), it->x, it->rows, it->ncols);
	if (XGProxyDMatrixSetDataDense(it->proxy, array) != 0 ||
		XGDMatrixSetFloatInfo(it->proxy, "label", it->y, (bst_ulong) it->rows) != 0 ||
		XGDMatrixSetStrFeatureInfo(it->proxy, "feature_name", it->names, it->ncols) != 0 ||
		XGDMatrixSetStrFeatureInfo(it->proxy, "feature_type", it->types, it->ncols) != 0)
	{
		it->failed = true;
		return 0;
	}
	return 1;
}

/*
 * Hands a float32 matrix to XGBoost as a quantised matrix (QuantileDMatrix,
 * for tree_method hist): XGBoost keeps only each value's histogram bin, not a
 * copy of the values. One batch, as Python's QuantileDMatrix on an array, so
 * that the bins are those of a DMatrix.
 */
static void
CreateQuantileMatrix(const Dataset *ds, const float *x, const float *y, int64 rows, int nthread,
					 int max_bin, XgbHandles *h, DMatrixHandle *slot)
{
	XgbBatchIter it;
	char		config[128];
	int			rc;

	memset(&it, 0, sizeof(it));
	XgbCheck(XGProxyDMatrixCreate(&h->proxy), "create a proxy matrix");
	it.proxy = h->proxy;
	it.x = x;
	it.y = y;
	it.rows = rows;
	it.ncols = ds->ninputs;
	FeatureInfo(ds, &it.names, &it.types);
	snprintf(config, sizeof(config), "{\"missing\": NaN, \"nthread\": %d, \"max_bin\": %d}",
			 nthread, max_bin);
	XGB_BLOCKED(rc, XGQuantileDMatrixCreateFromCallback(&it, h->proxy, NULL, XgbBatchReset, XgbBatchNext,
														 config, slot));
	XGDMatrixFree(h->proxy);
	h->proxy = NULL;
	XgbCheck(rc != 0 || it.failed ? -1 : 0, "build its training matrix");
}

/*
 * Builds the training (and test) matrices: the rows are read once into
 * float32 buffers, handed to XGBoost (the training rows as a quantised matrix
 * for tree_method hist, else as a DMatrix, which copies the values; the test
 * rows always as a DMatrix: XGBoost predicts them every round, and predicting
 * from a quantised matrix recovers every value from its bin, which costs more
 * than the rounds themselves), and each buffer is freed as soon as XGBoost
 * has its matrix. What XGBoost builds is counted against
 * mlops.max_training_memory before it builds it. Returns the targets of the
 * rows train() evaluates on (the test rows, or the training rows when
 * test_fraction is 0), or NULL when the split left no test row.
 */
static double *
BuildMatrices(Dataset *ds, XgbHandles *h, const XgbParams *p, int nthread)
{
	const char *tree_method = ParamValue(p, "tree_method");
	const char *max_bin = ParamValue(p, "max_bin");
	bool		hist = tree_method != NULL && strcmp(tree_method, "hist") == 0;
	int			bins = max_bin ? atoi(max_bin) : 256;
	RowBuffer	train = {.keep_target = ds->test_fraction == 0};
	RowBuffer	test = {.keep_target = ds->test_fraction > 0};

	LoadRows(ds, &train, &test);
	DatasetReserveMemory(ds, XgbMatrixBytes(ds->train_rows, ds->ninputs, hist) +
						 XgbMatrixBytes(ds->test_rows, ds->ninputs, false) +
						 (hist ? ds->ninputs * SketchBytes(ds->train_rows, bins) : 0),
						 hist ? "the float32 training matrix and XGBoost's quantised copy of it"
						 : "the float32 training matrix and XGBoost's copy of it");
	DatasetReserveMemory(ds, HistogramBytes(ds, p, bins), "XGBoost's gradient histograms (every feature's bins, per tree node)");
	if (hist)
		CreateQuantileMatrix(ds, train.x, train.y, train.rows, nthread, bins, h, &h->dtrain);
	else
		CreateMatrix(ds, train.x, train.y, train.rows, nthread, &h->dtrain);
	RowBufferFree(&train);
	if (test.rows > 0)
		CreateMatrix(ds, test.x, test.y, test.rows, nthread, &h->dtest);
	RowBufferFree(&test);
	return test.rows > 0 ? test.target : train.target;
}

/*
 * Raises 22023 naming the parameters XGBoost reported as unused in its log
 * ("Parameters: { "max_dept" } are not used."): they are unknown to it. A
 * line cut where log_text is full (some 200 unknown names) names those it
 * holds: it was taken for no line, and the parameters for known.
 */
static void
ReportUnusedParams(const char *log)
{
	const char *start = strstr(log, "Parameters: {");
	const char *end;
	const char *more = "";

	if (start == NULL)
		return;
	start += strlen("Parameters: {");
	end = strstr(start, "} are not used");
	if (end == NULL)
	{
		end = start;
		for (const char *c = strstr(start, "\", "); c != NULL; c = strstr(c + 1, "\", "))
			end = c + 1;
		more = ", ...";
	}
	while (start < end && *start == ' ')
		start++;
	while (end > start && end[-1] == ' ')
		end--;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown hyperparameter %s%s for algorithm \"xgboost\"", pnstrdup(start, end - start), more),
			 errdetail("XGBoost does not use it with these settings."),
			 errhint("Every hyperparameter but n_estimators and early_stopping_rounds is an XGBoost learning parameter; see XGBoost's parameter documentation.")));
}

/* Sets one hyperparameter of a booster; a value XGBoost refuses is 22023. */
static void
SetBoosterParam(BoosterHandle booster, const char *key, const char *value)
{
	XgbCheckCode(XGBoosterSetParam(booster, key, value), ERRCODE_INVALID_PARAMETER_VALUE,
				 psprintf("set hyperparameter \"%s\"", key));
}

/*
 * Creates the booster with the matrices in its cache, the feature names and
 * types (saved with the model), sets the parameters, and has XGBoost
 * configure itself now, so that an unknown parameter, an invalid value or an
 * unknown objective is reported before any round. verbosity is set only
 * once the parameters are checked: XGBoost reports an unknown one in a
 * warning, which verbosity 0 silenced.
 */
static void
CreateBooster(const Dataset *ds, XgbHandles *h, const XgbParams *p)
{
	const char **names;
	const char **types;
	DMatrixHandle dmats[2] = {h->dtrain, h->dtest};
	ListCell   *k,
			   *v;
	bst_ulong	len;
	const char *config;
	int			rc;

	XgbCheck(XGBoosterCreate(dmats, h->dtest ? 2 : 1, &h->booster), "create a booster");
	FeatureInfo(ds, &names, &types);
	XgbCheck(XGBoosterSetStrFeatureInfo(h->booster, "feature_name", names, ds->ninputs), "set the feature names");
	XgbCheck(XGBoosterSetStrFeatureInfo(h->booster, "feature_type", types, ds->ninputs), "set the feature types");
	forboth(k, p->keys, v, p->values)
		if (strcmp(lfirst(k), "verbosity") != 0)
			SetBoosterParam(h->booster, lfirst(k), lfirst(v));
	XGBRegisterLogCallback(XgbLogCallback);
	log_len = 0;
	log_text[0] = '\0';
	log_capture = true;
	XGB_BLOCKED(rc, XGBoosterSaveJsonConfig(h->booster, &len, &config));
	log_capture = false;
	XgbCheckCode(rc, ERRCODE_INVALID_PARAMETER_VALUE, "use these hyperparameters");
	ReportUnusedParams(log_text);
	if (ParamValue(p, "verbosity") != NULL)
	{
		SetBoosterParam(h->booster, "verbosity", ParamValue(p, "verbosity"));
		XGB_BLOCKED(rc, XGBoosterSaveJsonConfig(h->booster, &len, &config));
		XgbCheckCode(rc, ERRCODE_INVALID_PARAMETER_VALUE, "use these hyperparameters");
	}
}

/* Whether a greater value of an evaluation metric is better (as Python's early stopping decides). */
static bool
MetricMaximized(const char *metric)
{
	static const char *const maximized[] = {"auc", "aucpr", "map", "ndcg", "auc@", "aucpr@", "map@", "ndcg@"};

	if (strcmp(metric, "mape") == 0)
		return false;
	for (int i = 0; i < lengthof(maximized); i++)
		if (strncmp(metric, maximized[i], strlen(maximized[i])) == 0)
			return true;
	return false;
}

/*
 * Logs every "set-metric:value" of XGBoost's evaluation line ("[3]\ttrain-
 * rmse:1.5\ttest-rmse:1.7") into the run at step iter; returns the last one
 * (name and value), which early stopping and progress follow.
 */
static double
LogEvaluation(TrainRequest *req, const char *line, int iter, char **last_name)
{
	char	   *copy = pstrdup(line);
	char	   *save = NULL;
	double		last = NAN;

	*last_name = NULL;
	strtok_r(copy, "\t", &save);	/* the "[iter]" */
	for (char *tok = strtok_r(NULL, "\t", &save); tok != NULL; tok = strtok_r(NULL, "\t", &save))
	{
		char	   *colon = strrchr(tok, ':');

		if (colon == NULL)
			elog(ERROR, "unexpected xgboost evaluation \"%s\"", line);
		*colon = '\0';
		last = strtod(colon + 1, NULL);
		*last_name = tok;
		TrainLogMetric(req, tok, last, iter);
	}
	return last;
}

/*
 * Boosts up to n_estimators rounds, logging each round's evaluation, with
 * early stopping on the test rows' last metric, and a progress NOTICE when
 * one is due; returns the number of rounds to keep. Cancellation is checked
 * between rounds.
 */
static int
Boost(TrainRequest *req, XgbHandles *h, const XgbParams *p, Progress *progress)
{
	DMatrixHandle dmats[2] = {h->dtrain, h->dtest};
	const char *names[2] = {"train", "test"};
	MemoryContext round_context = AllocSetContextCreate(CurrentMemoryContext, "xgboost round",
														ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(round_context);
	TimestampTz start = GetCurrentTimestamp();
	double		best = NAN;
	int			best_iter = -1;
	int			stagnant = 0;
	int			iter;

	for (iter = 0; iter < p->n_estimators; iter++)
	{
		const char *eval;
		char	   *metric;
		double		value;
		int			rc;
		double		elapsed;

		CHECK_FOR_INTERRUPTS();
		MemoryContextReset(round_context);
		/*
		 * XGBoost checks the hyperparameters against each other and the
		 * targets (max_depth 0 with exact, reg:gamma's positive labels, a
		 * metric of another task) only as it boosts and evaluates the first
		 * round: a refusal there is the user's input, 22023. Its errors carry
		 * no kind to tell them from its own failures (memory, say), which the
		 * first round reports as 22023 too, with libxgboost's message.
		 */
		XGB_BLOCKED(rc, XGBoosterUpdateOneIter(h->booster, iter, h->dtrain));
		XgbCheckCode(rc, iter == 0 ? ERRCODE_INVALID_PARAMETER_VALUE : ERRCODE_EXTERNAL_ROUTINE_EXCEPTION,
					 "boost a round");
		XGB_BLOCKED(rc, XGBoosterEvalOneIter(h->booster, iter, dmats, names, h->dtest ? 2 : 1, &eval));
		XgbCheckCode(rc, iter == 0 ? ERRCODE_INVALID_PARAMETER_VALUE : ERRCODE_EXTERNAL_ROUTINE_EXCEPTION,
					 "evaluate a round");
		value = LogEvaluation(req, eval, iter, &metric);
		if (p->early_stopping_rounds > 0 && metric == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("early_stopping_rounds needs an evaluation metric"),
					 errdetail("XGBoost evaluates no metric with disable_default_eval_metric and no eval_metric."),
					 errhint("Give an eval_metric, or leave early_stopping_rounds out.")));

		if (p->early_stopping_rounds > 0 && metric != NULL)
		{
			const char *dash = strchr(metric, '-');
			bool		maximize = MetricMaximized(dash ? dash + 1 : metric);

			/*
			 * no value beats NaN: the first round's would be kept, whatever
			 * the rounds after it (auc of a regression's targets is NaN)
			 */
			if (best_iter < 0 && isnan(value))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("early stopping cannot follow metric \"%s\"", metric),
						 errdetail("XGBoost evaluated it as NaN in the first round, which no later round can improve on: the first round's model would be kept."),
						 errhint("Make the last name of eval_metric a metric of this task and target.")));
			if (best_iter < 0 || (maximize ? value > best : value < best))
			{
				best = value;
				best_iter = iter;
				stagnant = 0;
			}
			else if (++stagnant >= p->early_stopping_rounds)
			{
				iter++;
				break;
			}
		}

		/* the rounds to come take what the rounds so far took, each */
		if (iter + 1 < p->n_estimators && ProgressDue(progress, &elapsed))
			ereport(NOTICE,
					(errmsg("xgboost round %d of %d: %s %g, %.1f s elapsed, about %.0f s remaining",
							iter + 1, p->n_estimators, metric ? metric : "no metric", value, elapsed,
							(GetCurrentTimestamp() - start) / 1e6 / (iter + 1) * (p->n_estimators - iter - 1))));
	}
	MemoryContextSwitchTo(old);
	MemoryContextDelete(round_context);
	if (best_iter >= 0)
	{
		TrainLogMetric(req, "best_iteration", best_iter, 0);
		return best_iter + 1;
	}
	return iter;
}

/*
 * Keeps the first `rounds` rounds of the booster (early stopping keeps the
 * best iteration's model), recording best_iteration as Python does.
 */
static void
TruncateBooster(XgbHandles *h, int rounds)
{
	BoosterHandle sliced;
	char		best[16];

	XgbCheck(XGBoosterSlice(h->booster, 0, rounds, 1, &sliced), "keep the best rounds");
	XGBoosterFree(h->booster);
	h->booster = sliced;
	snprintf(best, sizeof(best), "%d", rounds - 1);
	XgbCheck(XGBoosterSetAttr(h->booster, "best_iteration", best), "record the best iteration");
}

/* The values XGBoost predicts per row: one probability per class for multiclass, else one. */
static int
XgbOutputs(const Dataset *ds)
{
	return ds->classification && ds->nclasses > 2 ? ds->nclasses : 1;
}

/*
 * Copies XGBoost's predictions of n rows (the value, one probability for
 * binary, one per class for multiclass) into out as train() takes them: the
 * value, or one probability per class.
 */
static void
StorePredictions(const Dataset *ds, const float *res, int64 n, double *out)
{
	int			nout = XgbOutputs(ds);

	for (int64 i = 0; i < n; i++)
	{
		if (ds->classification && nout == 1)
		{
			out[2 * i] = 1.0f - res[i];	/* in float32, as predict_proba() and evaluate() */
			out[2 * i + 1] = res[i];
		}
		else
			for (int c = 0; c < nout; c++)
				out[i * nout + c] = res[i * nout + c];
	}
}

/*
 * Predicts a batch with the trained model (for train()'s metrics): values for
 * regression, one probability per class for classification. The compiled
 * trees (trees.h: XGBoost's own float32 arithmetic, without building an
 * XGBoost matrix per batch) when they cover the model, else the booster.
 */
static void
XgbTrainPredict(const TrainedModel *model, const Dataset *ds, const DatasetBatch *batch, double *out)
{
	XgbTrained *t = model->state;
	int			k = ds->ninputs;
	int			nout = XgbOutputs(ds);
	float	   *x = palloc(sizeof(float) * Max((Size) batch->nrows * k, 1));
	float	   *res = palloc(sizeof(float) * Max((Size) batch->nrows * nout, 1));

	for (Size i = 0; i < (Size) batch->nrows * k; i++)
		x[i] = (float) batch->x[i];
	if (t->trees)
		for (int i = 0; i < batch->nrows; i++)
		{
			CHECK_FOR_INTERRUPTS();
			TreeModelMargins(t->trees, x + (Size) i * k, res + (Size) i * nout);
			TreeModelTransform(t->trees, res + (Size) i * nout);
		}
	else
		XgbPredictDense(t->handles->booster, x, batch->nrows, k, XGB_PREDICT_VALUE, res,
						(size_t) batch->nrows * nout);
	StorePredictions(ds, res, batch->nrows, out);
	pfree(x);
	pfree(res);
}

/*
 * Counts the evaluation rows' predictions that EvalPredictions will hold
 * against mlops.max_training_memory, before the rounds rather than after
 * them: a training the limit cannot finish is refused before it runs.
 */
static void
ReserveEvalPredictions(Dataset *ds, TrainedModel *out)
{
	int64		n = ds->test_rows > 0 ? ds->test_rows : ds->train_rows;
	int			nout = XgbOutputs(ds);
	int			nprob = ds->classification ? ds->nclasses : 1;

	DatasetReserveMemory(ds, n * (sizeof(float) * nout + sizeof(double) * nprob + sizeof(int)),
						 "the evaluation rows' predictions");
	out->eval_reserved = true;
}

/*
 * The evaluation rows' predictions for train()'s metrics (those of the test
 * matrix, or of the training matrix without test rows), with their targets:
 * taken from the predictions XGBoost keeps of the matrices it trained and
 * evaluated on, which are bit for bit those of predicting the rows again,
 * without reading the rows again. For a gbtree model kept whole only (early
 * stopping truncates it; gblinear would predict from the quantised values).
 */
static void
EvalPredictions(Dataset *ds, XgbHandles *h, double *target, TrainedModel *out)
{
	int64		n = ds->test_rows > 0 ? ds->test_rows : ds->train_rows;
	int			nout = XgbOutputs(ds);
	int			nprob = ds->classification ? ds->nclasses : 1;
	float	   *res;

	res = palloc_extended(sizeof(float) * n * nout, MCXT_ALLOC_HUGE);
	XgbPredictMatrix(h->booster, h->dtest ? h->dtest : h->dtrain, XGB_PREDICT_VALUE, res, (size_t) n * nout);
	out->eval_pred = palloc_extended(sizeof(double) * n * nprob, MCXT_ALLOC_HUGE);
	StorePredictions(ds, res, n, out->eval_pred);
	pfree(res);
	out->eval_rows = n;
	if (ds->classification)
	{
		out->eval_label = palloc_extended(sizeof(int) * n, MCXT_ALLOC_HUGE);
		for (int64 i = 0; i < n; i++)
			out->eval_label[i] = (int) target[i];
	}
	else
		out->eval_y = target;
}

/*
 * The 'xgboost' algorithm: parameters checked, rows read once into XGBoost's
 * matrices, n_estimators rounds (or fewer, with early stopping), and the
 * model serialised as UBJ. The handles live until the calling memory context
 * goes (train() predicts with the booster after this returns).
 */
void
TrainXgboost(Dataset *ds, TrainRequest *req, TrainedModel *out)
{
	XgbParams	p;
	XgbHandles *h;
	const char *nthread;
	int			nfree;
	int			rounds;
	XgbTrained *trained;
	const char *booster;
	bool		predicts_eval;
	double	   *eval_target;

	ParseParams(req->hyperparams, &p);
	nfree = list_length(p.keys);
	TaskParams(ds, &p);
	nthread = ParamValue(&p, ThreadsKey(&p));
	LogChosenParams(req, &p, nfree);

	/* the evaluation rows' predictions will come from XGBoost: the loader need not keep the test rows */
	booster = ParamValue(&p, "booster");
	predicts_eval = p.early_stopping_rounds == 0 && (booster == NULL || strcmp(booster, "gbtree") == 0);
	if (predicts_eval)
		DatasetForgoTestCache(ds);

	h = XgbHandlesCreate();
	eval_target = BuildMatrices(ds, h, &p, Max(atoi(nthread), 0));
	if (predicts_eval && eval_target != NULL)
		ReserveEvalPredictions(ds, out);
	else
		TrainReserveEvaluation(ds, out);
	/* a test_fraction above 0 can still leave no test row (a few rows, each class's last kept) */
	if (p.early_stopping_rounds > 0 && ds->test_rows == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("early_stopping_rounds needs test rows"),
				 ds->test_fraction > 0 ?
				 errdetail_plural("The split of test_fraction %g left no test row beside its %lld training row.",
								  "The split of test_fraction %g left no test row among the %lld training rows.",
								  (unsigned long) Min(ds->train_rows, ULONG_MAX),
								  ds->test_fraction, (long long) ds->train_rows) : 0,
				 ds->test_fraction > 0 ?
				 errhint("Give a larger test_fraction, or more rows.") :
				 errhint("Give a test_fraction greater than 0.")));
	CreateBooster(ds, h, &p);
	rounds = Boost(req, h, &p, DatasetProgress(ds));
	if (predicts_eval && eval_target != NULL)
		EvalPredictions(ds, h, eval_target, out);
	XGDMatrixFree(h->dtrain);
	h->dtrain = NULL;
	if (h->dtest)
	{
		XGDMatrixFree(h->dtest);
		h->dtest = NULL;
	}
	if (p.early_stopping_rounds > 0)
		TruncateBooster(h, rounds);

	out->artifact = XgbSave(h->booster, "ubj");
	out->artifact_format = "xgboost-ubj";
	out->spec_impute = false;
	trained = palloc0(sizeof(XgbTrained));
	trained->handles = h;
	if (out->eval_pred == NULL)
	{
		/* train() scores the evaluation rows itself: with the compiled trees when they cover the model */
		bytea	   *json = XgbSave(h->booster, "json");

		trained->trees = TreeModelCompile(VARDATA(json), VARSIZE(json) - VARHDRSZ, false);
		pfree(json);
	}
	out->predict = XgbTrainPredict;
	out->state = trained;
}
