/*
 * scoring.c — scoring one input vector with a ScoringModel: the compiled
 * trees, libxgboost for what they do not cover, or the linear coefficients;
 * and the helpers around it (category lookup, linear imputation, linear
 * models' probabilities; the class of probabilities is metrics.c's
 * PredictedClass). Shared by predict
 * (predict.c) and evaluate (evaluate.c), so that both score exactly alike, and
 * by train()'s linear algorithms, so that their metrics are scoring's.
 */
#include "postgres.h"

#include <math.h>

#include "mlops/scoring.h"
#include "mlops/trees.h"
#include "mlops/xgb.h"

/* The index of a category's text in input `in`, or NaN when unseen. */
double
ScoringCategoryIndex(const ScoringInput *in, const char *s, int len)
{
	int			lo = 0,
				hi = in->ncategories - 1;

	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;
		const char *c = in->categories[in->sorted[mid]];
		int			cmp = strncmp(c, s, len);

		if (cmp == 0 && c[len] != '\0')
			cmp = 1;
		if (cmp == 0)
			return in->sorted[mid];
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return NAN;
}

/*
 * Linear models: replaces missing values (NULL, NaN, an unseen or invalid
 * category index) by the version's imputation values, as training did.
 */
void
ScoringImputeLinear(ScoringModel *m, double *x)
{
	for (int i = 0; i < m->ninputs; i++)
	{
		ScoringInput *in = &m->inputs[i];
		bool		missing = isnan(x[i]);

		if (in->categorical && !missing &&
			(x[i] < 0 || x[i] >= in->ncategories || x[i] != floor(x[i])))
			missing = true;
		if (!missing)
			continue;
		if (isnan(in->impute))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("feature \"%s\" of model \"%s\" is missing and the model has no value to impute",
							in->name, m->name),
					 errdetail("NULL, NaN and unseen categories are replaced by the spec's \"impute\" value.")));
		x[i] = in->impute;
	}
}

/*
 * Linear models: the margins of one (imputed) row into out[noutputs], summed
 * from the intercept term by term. train()'s LinearPredict (linear.c) sums in
 * the same order, so that its metrics are evaluate()'s to the last bit.
 */
void
ScoringLinearMargins(const ScoringModel *m, const double *x, double *margins)
{
	for (int o = 0; o < m->noutputs; o++)
	{
		const double *coef = m->coef + (size_t) o * m->nterms;
		double		sum = m->intercept[o];

		for (int t = 0; t < m->nterms; t++)
		{
			double		v = x[m->term_input[t]];

			if (m->term_category[t] >= 0)
				v = (v == m->term_category[t]) ? 1.0 : 0.0;
			sum += coef[t] * v;
		}
		margins[o] = sum;
	}
}

/*
 * libxgboost's prediction of `kind` for the row xf of model m, whose compiled
 * trees do not score it (nor explain it, for contributions), into out.
 * XGBoost's DMatrix refuses an infinite value (a float8 beyond float32's
 * range becomes one): a tree booster's value or margin of such a row is its
 * in-place prediction, which Python's inplace_predict and the compiled trees
 * give too; XGBoost has no other prediction of it (gblinear, contributions):
 * 22003.
 */
void
ScoringBoosterPredict(const ScoringModel *m, const float *xf, XgbPredictKind kind, float *out, size_t out_len)
{
	int			inf = 0;

	while (inf < m->ninputs && !isinf(xf[inf]))
		inf++;
	if (inf == m->ninputs)
		XgbPredictDense(m->booster, xf, 1, m->ninputs, kind, out, out_len);
	else if (!m->gblinear && kind != XGB_PREDICT_CONTRIBS)
		XgbPredictInPlace(m->booster, xf, 1, m->ninputs, kind, out, out_len);
	else
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("input \"%s\" of model \"%s\" is infinite in float32", m->inputs[inf].name, m->name),
				 errdetail("XGBoost computes this %s only from a DMatrix, which refuses infinite values "
						   "(a float8 beyond float32's range is one).",
						   kind == XGB_PREDICT_CONTRIBS ? "explanation" : "prediction")));
}

/*
 * Scores the input vector x (the model's encoding, NaN = missing; imputed in
 * place for linear models): for classification the class probabilities
 * (nclasses of them), for regression the prediction (one), into out. xf
 * (ninputs floats) and margins (noutputs floats) are the caller's scratch, so
 * that scoring a row allocates nothing.
 */
void
ScoreVector(ScoringModel *m, double *x, float *xf, float *margins, double *out)
{
	if (m->kind == SCORING_LINEAR)
	{
		ScoringImputeLinear(m, x);
		ScoringLinearMargins(m, x, out);
		if (m->classification)
			ScoringLinearProba(out, m->noutputs);
		return;
	}

	for (int i = 0; i < m->ninputs; i++)
		xf[i] = (float) x[i];
	if (m->kind == SCORING_TREES)
	{
		TreeModelMargins(m->trees, xf, margins);
		if (!m->classification)
			TreeModelTransform(m->trees, margins);
	}
	else
		ScoringBoosterPredict(m, xf, m->classification ? XGB_PREDICT_MARGIN : XGB_PREDICT_VALUE,
							  margins, m->noutputs);

	if (!m->classification)
		out[0] = margins[0];
	else if (m->noutputs == 1)
	{
		float		p = TreeSigmoid(margins[0]);

		out[0] = 1.0f - p;		/* in float32, as XGBoost's scikit-learn wrapper */
		out[1] = p;
	}
	else
	{
		TreeSoftmax(margins, m->noutputs);
		for (int o = 0; o < m->noutputs; o++)
			out[o] = margins[o];
	}
}

/* Softmax of n margins in place; returns their log-sum-exp. */
double
ScoringSoftmax(double *x, int n)
{
	double		max = x[0],
				sum = 0;

	for (int o = 1; o < n; o++)
		max = Max(max, x[o]);
	for (int o = 0; o < n; o++)
		sum += (x[o] = exp(x[o] - max));
	for (int o = 0; o < n; o++)
		x[o] /= sum;
	return max + log(sum);
}

/* The logistic function of a margin, in float8. */
double
ScoringSigmoid(double z)
{
	return 1.0 / (1.0 + exp(-z));
}

/* Linear models' class probabilities from their margins, in place: [1 - p, p] for one margin, else softmax. */
void
ScoringLinearProba(double *x, int noutputs)
{
	if (noutputs == 1)
	{
		x[1] = ScoringSigmoid(x[0]);
		x[0] = 1.0 - x[1];
	}
	else
		ScoringSoftmax(x, noutputs);
}
