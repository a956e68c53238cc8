/*
 * metrics.h — model quality metrics with scikit-learn's definitions, from
 * targets and predictions held in arrays. Used by train() on the test split,
 * evaluate() (promote's gate included), live_metrics (live.c) and the
 * report's curves (BinaryCurves).
 *
 * regression: r2, rmse, mse, mae (r2_score, mean_squared_error, ...);
 * binary: accuracy, precision, recall, f1 (positive class = the greater label,
 * predicted when its probability is > 0.5, as LogisticRegression.predict),
 * roc_auc, log_loss; multiclass: accuracy, f1_macro, log_loss.
 * A metric that is undefined on the given rows (roc_auc with one class
 * present, r2 of a single row, any metric that would be NaN: a NaN
 * prediction or probability) is left out.
 */
#ifndef MLOPS_METRICS_H
#define MLOPS_METRICS_H

#include "postgres.h"

#include <float.h>

#include "lib/stringinfo.h"

#define METRICS_MAX 8

/*
 * Probabilities are clipped to [eps, 1 - eps] in log_loss: float8's machine
 * epsilon, scikit-learn's default since 1.2 (eps="auto"; 1e-15 before).
 */
#define LOG_LOSS_EPS DBL_EPSILON

typedef struct Metric
{
	const char *name;
	double		value;
} Metric;

/* Regression metrics of predictions pred of targets y (n rows); returns how many were written. */
extern int	RegressionMetrics(const double *y, const double *pred, int64 n, Metric *out);

/*
 * The class that probabilities proba (k of them) predict: the most probable,
 * the first on ties (numpy's argmax); for two classes the second exactly when
 * its probability is above 0.5.
 */
extern int	PredictedClass(const double *proba, int k);

/*
 * Classification metrics: label[i] the true class index (0..k-1), proba the
 * n × k class probabilities (row-major); k == 2 gives the binary metrics.
 */
extern int	ClassificationMetrics(const int *label, const double *proba, int64 n, int k, Metric *out);

/*
 * The ROC curve (fpr, tpr) and precision-recall curve (recall, precision) of
 * scores for a binary outcome, one point per distinct score from the highest
 * after a first point (0, 0) / (0, 1); arrays of n + 1. Returns the number of
 * points, 0 when only one outcome is present.
 */
extern int	BinaryCurves(const double *score, const bool *positive, int64 n,
						 double *fpr, double *tpr, double *precision, double *recall);

/* Appends the metrics as a JSON object ({"name": value, ...}; NaN/infinities as strings). */
extern void MetricsJson(const Metric *metrics, int n, StringInfo out);

#endif
