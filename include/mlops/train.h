/*
 * train.h — the interface between mlops.train() and its algorithms.
 *
 * An algorithm is a TrainAlgorithm entry in the table of train.c: a name, the
 * tasks it supports, its hyperparameters (validated by train.c before any row
 * is read; NULL to validate them itself, e.g. to pass them through to a
 * library), and a train function. train.c prepares the Dataset, opens the run,
 * calls train, scores the evaluation rows with the model's predict, computes
 * the metrics, logs everything and registers the version. To add one:
 *
 *   1. write  void TrainFoo(Dataset *ds, TrainRequest *req, TrainedModel *out)
 *      that scans ds (DatasetBeginScan/NextBatch/EndScan; use the rows whose
 *      is_test is false, or all rows when ds->test_fraction is 0 — there are
 *      no test rows then), calls TrainLogMetric for per-iteration metrics,
 *      and fills *out: the artifact and its format, whether the spec carries
 *      imputation values, and a predict function (and, if it has them, the
 *      evaluation rows' predictions);
 *   2. add {"foo", regression?, classification?, params-or-NULL, streams?,
 *      TrainFoo, check-or-NULL} to the table in train.c (streams: see
 *      DatasetPrepare's one_pass; false when it needs ds->train_rows before
 *      its scan; check: with params NULL, a function that rejects malformed
 *      hyperparams before the run opens, so that they never reach the run's
 *      params).
 */
#ifndef MLOPS_TRAIN_H
#define MLOPS_TRAIN_H

#include "postgres.h"

#include "utils/jsonb.h"

#include "mlops/dataset.h"

/* A numeric hyperparameter: its default and the closed/open range it must lie in. */
typedef struct HyperParamDef
{
	const char *name;
	double		default_value;
	double		min;
	bool		min_exclusive;	/* value > min rather than >= min */
	double		max;
	bool		integer;
} HyperParamDef;

/* What an algorithm is asked to train. */
typedef struct TrainRequest
{
	const char *algorithm;
	int64		run_id;			/* the run train() logs into */
	Jsonb	   *hyperparams;	/* as the user gave them */
	const double *params;		/* the values of its HyperParamDefs, defaults filled in (NULL without) */
} TrainRequest;

typedef struct TrainedModel TrainedModel;

/*
 * Scores the rows of a batch: out[i * noutputs ..] gets the prediction of row
 * i (regression: the value; classification: one probability per class).
 */
typedef void (*PredictBatchFn) (const TrainedModel *model, const Dataset *ds,
								const DatasetBatch *batch, double *out);

struct TrainedModel
{
	bytea	   *artifact;		/* what model_version.artifact stores */
	const char *artifact_format;	/* "linear-json" or "xgboost-ubj" */
	bool		spec_impute;	/* the spec carries imputation values (linear models) */
	PredictBatchFn predict;
	void	   *state;			/* the algorithm's, for predict */

	/*
	 * Optional: the evaluation rows' predictions (as predict gives them) when
	 * the algorithm already has them, with their targets, so that train()
	 * need not read and score those rows again. eval_pred NULL: none.
	 */
	int64		eval_rows;
	double	   *eval_pred;		/* eval_rows × outputs */
	double	   *eval_y;			/* regression: the targets */
	int		   *eval_label;		/* classification: the class indexes */

	/*
	 * Set once the scoring of the evaluation rows has been counted against
	 * mlops.max_training_memory (TrainReserveEvaluation, or an algorithm that
	 * predicts them itself), so that train() does not count it again.
	 */
	bool		eval_reserved;
};

typedef void (*TrainFn) (Dataset *ds, TrainRequest *req, TrainedModel *out);

/* Raises 22023 for hyperparams an algorithm that validates its own cannot take. */
typedef void (*CheckParamsFn) (Jsonb *hyperparams);

typedef struct TrainAlgorithm
{
	const char *name;
	bool		regression;		/* tasks it supports */
	bool		classification;
	const HyperParamDef *params;	/* terminated by a NULL name; NULL = validated by train */
	bool		streams;		/* reads its rows in one scan, needing no row counts first
								 * (DatasetPrepare's one_pass) */
	TrainFn		train;
	CheckParamsFn check_params; /* params NULL: checks hyperparams before the
								 * run opens (train checks them again) */
} TrainAlgorithm;

/* Logs one point of a metric series into the training's run (step = iteration). */
extern void TrainLogMetric(TrainRequest *req, const char *key, double value, int64 step);

/* Logs a param of the training's run that the algorithm chose (write-once, as log_param). */
extern void TrainLogParam(TrainRequest *req, const char *key, const char *value);

/* Counts the scoring of the evaluation rows against mlops.max_training_memory, once (train.c). */
extern void TrainReserveEvaluation(Dataset *ds, TrainedModel *model);

/* The algorithms (linear.c, logistic.c). */
extern const HyperParamDef linear_params[];
extern const HyperParamDef ridge_params[];
extern const HyperParamDef logistic_params[];
extern void TrainLinear(Dataset *ds, TrainRequest *req, TrainedModel *out);
extern void TrainLogistic(Dataset *ds, TrainRequest *req, TrainedModel *out);

#endif
