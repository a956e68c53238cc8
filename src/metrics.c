/*
 * metrics.c — model quality metrics with scikit-learn's definitions (see
 * metrics.h), computed in one pass over the rows (plus CentredSumSquares'
 * two over the targets for r2, and a sort for roc_auc).
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/json.h"

#include "mlops/dataset.h"
#include "mlops/float_text.h"
#include "mlops/metrics.h"
#include "mlops/profile.h"

/*
 * Appends a metric to out[*m], unless its value is NaN: a metric undefined on
 * the rows (a NaN prediction or probability, roc_auc with one class) is left
 * out rather than reported, so that no caller compares a NaN (PostgreSQL
 * orders NaN above every number: promote's gate took it for an improvement).
 */
static void
AddMetric(Metric *out, int *m, const char *name, double value)
{
	if (!isnan(value))
		out[(*m)++] = (Metric) {name, value};
}

/*
 * Regression metrics: r2 (1 when the targets are constant and matched, 0
 * when constant and not; left out for a single row, where r2_score is NaN,
 * and, as every metric, when a prediction is NaN), rmse, mse, mae. The
 * targets' sum of squares comes from CentredSumSquares, so that constant
 * targets are told exactly and targets far from 0 keep their spread.
 */
int
RegressionMetrics(const double *y, const double *pred, int64 n, Metric *out)
{
	double		mean,
				ss_res = 0,
				ss_tot = CentredSumSquares(y, n, &mean),
				abs_err = 0;
	int			m = 0;

	for (int64 i = 0; i < n; i++)
	{
		double		e = y[i] - pred[i];

		if ((i & 65535) == 0)
			CHECK_FOR_INTERRUPTS();
		ss_res += e * e;
		abs_err += fabs(e);
	}
	/*
	 * r2_score's force_finite: a constant target gives 1 when predicted
	 * exactly, else 0; but one row is no variance at all (r2_score: NaN), and
	 * a NaN prediction is no prediction (ss_res NaN: not "otherwise than
	 * exactly")
	 */
	if (n >= 2 && !isnan(ss_res))
		AddMetric(out, &m, "r2", ss_tot > 0 ? 1.0 - ss_res / ss_tot : (ss_res == 0 ? 1.0 : 0.0));
	AddMetric(out, &m, "rmse", sqrt(ss_res / n));
	AddMetric(out, &m, "mse", ss_res / n);
	AddMetric(out, &m, "mae", abs_err / n);
	return m;
}

/*
 * The area under the ROC curve of scores for a binary label (the
 * Mann-Whitney statistic with tied scores counted one half, which equals
 * roc_auc_score's trapezoidal area); NaN when only one class is present, or
 * when a score is NaN (it has no rank: a NaN equals no score, not even its
 * own, so the tie loop below would never move past it).
 */
static double
RocAuc(const int *label, const double *proba, int64 n)
{
	double	   *score = palloc_extended(sizeof(double) * Max(n, 1), MCXT_ALLOC_HUGE);
	int64	   *positive = palloc_extended(sizeof(int64) * Max(n, 1), MCXT_ALLOC_HUGE);
	double		rank_sum = 0;
	int64		npos = 0;
	int64		i = 0;
	bool		unranked = false;

	for (int64 r = 0; r < n; r++)
	{
		score[r] = proba[2 * r + 1];
		positive[r] = label[r] == 1;
		npos += positive[r];
		unranked |= isnan(score[r]);
	}
	if (npos == 0 || npos == n || unranked)
	{
		pfree(score);
		pfree(positive);
		return NAN;
	}
	SortDoublesWithPayload(score, positive, n);
	while (i < n)
	{
		int64		j = i;
		int64		pos_in_tie = 0;

		CHECK_FOR_INTERRUPTS();
		while (j < n && score[j] == score[i])
			pos_in_tie += positive[j++];
		/* ranks i+1 .. j share their average rank */
		rank_sum += pos_in_tie * ((double) (i + 1) + (double) j) / 2.0;
		i = j;
	}
	pfree(score);
	pfree(positive);
	return (rank_sum - (double) npos * (npos + 1) / 2.0) / ((double) npos * (double) (n - npos));
}

/*
 * The ROC and precision-recall curves of scores for a binary outcome: one
 * point per distinct score, from the highest (every row with a score >= it
 * predicted positive), after a first point (fpr 0, tpr 0; recall 0,
 * precision 1) — roc_curve's and precision_recall_curve's points without
 * their dropping of collinear ones. Rows whose score is NaN are left out (a
 * NaN equals no threshold, not even its own: the tie loop below would never
 * move past it). The arrays hold n + 1 values; returns the number of points,
 * 0 when only one outcome is present.
 */
int
BinaryCurves(const double *score, const bool *positive, int64 n,
			 double *fpr, double *tpr, double *precision, double *recall)
{
	double	   *sorted = palloc_extended(sizeof(double) * (n + 1), MCXT_ALLOC_HUGE);
	int64	   *is_positive = palloc_extended(sizeof(int64) * (n + 1), MCXT_ALLOC_HUGE);
	int64		npos = 0;
	int64		tp = 0,
				fp = 0;
	int64		i;
	int			points = 1;
	int64		scored = 0;

	for (int64 r = 0; r < n; r++)
	{
		if (isnan(score[r]))
			continue;
		sorted[scored] = score[r];
		is_positive[scored] = positive[r];
		npos += positive[r];
		scored++;
	}
	n = scored;
	if (npos == 0 || npos == n)
	{
		pfree(sorted);
		pfree(is_positive);
		return 0;
	}
	SortDoublesWithPayload(sorted, is_positive, n);
	fpr[0] = tpr[0] = recall[0] = 0;
	precision[0] = 1;
	for (i = n - 1; i >= 0;)
	{
		double		threshold = sorted[i];

		CHECK_FOR_INTERRUPTS();
		for (; i >= 0 && sorted[i] == threshold; i--)
		{
			tp += is_positive[i];
			fp += !is_positive[i];
		}
		fpr[points] = (double) fp / (n - npos);
		tpr[points] = recall[points] = (double) tp / npos;
		precision[points] = (double) tp / (tp + fp);
		points++;
	}
	pfree(sorted);
	pfree(is_positive);
	return points;
}

/*
 * A probability clipped to [eps, 1 - eps] for log_loss; NaN stays NaN (Min
 * and Max would turn it into eps, a made-up loss for a row without a
 * probability).
 */
static double
ClipProbability(double p)
{
	return isnan(p) ? p : Min(Max(p, LOG_LOSS_EPS), 1.0 - LOG_LOSS_EPS);
}

/*
 * The class that k probabilities predict: the most probable, the first on
 * ties (as numpy's argmax in XGBClassifier.predict); for two classes the
 * positive one exactly when its probability is above 0.5.
 */
int
PredictedClass(const double *proba, int k)
{
	int			best = 0;

	if (k == 2)
		return proba[1] > 0.5 ? 1 : 0;
	for (int c = 1; c < k; c++)
		if (proba[c] > proba[best])
			best = c;
	return best;
}

/* Classification metrics, of the class PredictedClass gives for each row. */
int
ClassificationMetrics(const int *label, const double *proba, int64 n, int k, Metric *out)
{
	int64	   *tp = palloc0(sizeof(int64) * k);
	int64	   *pred_count = palloc0(sizeof(int64) * k);
	int64	   *true_count = palloc0(sizeof(int64) * k);
	int64		correct = 0;
	double		loss = 0;
	int			m = 0;

	for (int64 i = 0; i < n; i++)
	{
		const double *p = proba + (Size) i * k;
		int			best = PredictedClass(p, k);
		double		sum = 0;

		if ((i & 65535) == 0)
			CHECK_FOR_INTERRUPTS();
		pred_count[best]++;
		true_count[label[i]]++;
		if (best == label[i])
		{
			correct++;
			tp[best]++;
		}
		/* log_loss: clip, renormalise the row, take the true class's probability */
		for (int c = 0; c < k; c++)
			sum += ClipProbability(p[c]);
		loss -= log(ClipProbability(p[label[i]]) / sum);
	}
	AddMetric(out, &m, "accuracy", (double) correct / n);
	if (k == 2)
	{
		int64		fp = pred_count[1] - tp[1],
					fn = true_count[1] - tp[1];

		/* zero_division=0: an empty denominator gives 0 */
		AddMetric(out, &m, "precision", pred_count[1] > 0 ? (double) tp[1] / pred_count[1] : 0.0);
		AddMetric(out, &m, "recall", true_count[1] > 0 ? (double) tp[1] / true_count[1] : 0.0);
		AddMetric(out, &m, "f1", (2 * tp[1] + fp + fn) > 0 ? 2.0 * tp[1] / (2 * tp[1] + fp + fn) : 0.0);
		AddMetric(out, &m, "roc_auc", RocAuc(label, proba, n));
	}
	else
	{
		/* the mean F1 over the labels present in the targets or the predictions */
		double		f1_sum = 0;
		int			present = 0;

		for (int c = 0; c < k; c++)
		{
			int64		denom = pred_count[c] + true_count[c];

			if (denom == 0)
				continue;
			present++;
			f1_sum += 2.0 * tp[c] / denom;
		}
		AddMetric(out, &m, "f1_macro", f1_sum / present);
	}
	/* NaN when a probability is NaN (sklearn refuses it): left out */
	AddMetric(out, &m, "log_loss", loss / n);
	pfree(tp);
	pfree(pred_count);
	pfree(true_count);
	return m;
}

/* Appends the metrics as a JSON object ({"name": value, ...}; NaN/infinities as strings). */
void
MetricsJson(const Metric *metrics, int n, StringInfo out)
{
	appendStringInfoChar(out, '{');
	for (int i = 0; i < n; i++)
	{
		double		v = metrics[i].value;

		if (i > 0)
			appendStringInfoString(out, ", ");
		escape_json(out, metrics[i].name);
		appendStringInfoString(out, ": ");
		AppendJsonFloat8(out, v);
	}
	appendStringInfoChar(out, '}');
}
