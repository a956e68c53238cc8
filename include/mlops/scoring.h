/*
 * scoring.h — scoring one input vector with a ready-to-score model
 * (model_cache.h), shared by predict and evaluate; its logistic and softmax
 * serve train()'s linear algorithms too.
 *
 * An input vector holds, per input of the model in order, the numeric value
 * as float8, or for a categorical input the index of its category in the
 * model's spec (ScoringCategoryIndex); NaN is missing (XGBoost's missing
 * value; imputed for linear models as in training).
 *
 *     float  *xf = palloc(m->ninputs * sizeof(float));
 *     float  *margins = palloc(m->noutputs * sizeof(float));
 *     double *out = palloc(Max(m->nclasses, 1) * sizeof(double));
 *     ScoreVector(m, x, xf, margins, out);    -- probabilities, or the value
 */
#ifndef MLOPS_SCORING_H
#define MLOPS_SCORING_H

#include "postgres.h"

#include "mlops/model_cache.h"

/*
 * Scores x (modified: linear models impute it in place): the nclasses class
 * probabilities of a classification model, or the one prediction of a
 * regression, into out. xf (ninputs) and margins (noutputs) are scratch.
 */
extern void ScoreVector(ScoringModel *m, double *x, float *xf, float *margins, double *out);

/*
 * libxgboost's prediction of `kind` (out_len floats) for one row of a model
 * the compiled trees do not score: through a DMatrix, or in place for a row
 * with an infinity (22003 when XGBoost cannot predict it so).
 */
extern void ScoringBoosterPredict(const ScoringModel *m, const float *xf, XgbPredictKind kind, float *out,
								  size_t out_len);

/* The index of a category's text (len bytes) in input `in`, or NaN when the model never saw it. */
extern double ScoringCategoryIndex(const ScoringInput *in, const char *s, int len);

/* Linear models: replaces missing values of x by the version's imputation values. */
extern void ScoringImputeLinear(ScoringModel *m, double *x);

/* Linear models: the noutputs margins of an imputed x. */
extern void ScoringLinearMargins(const ScoringModel *m, const double *x, double *margins);

/*
 * Turns n margins into class probabilities in place (softmax, shifted by the
 * largest margin so that exp cannot overflow); returns log Σ exp(margin), for
 * a log loss. Shared by scoring and logistic training.
 */
extern double ScoringSoftmax(double *x, int n);

/* The logistic function of a margin, in float8 (linear models; logistic training). */
extern double ScoringSigmoid(double z);

/*
 * Linear models: turns the noutputs margins in x into class probabilities in
 * place: one margin (binary) into [1 - p, p] (x holds two values), several
 * into their softmax. Shared by scoring and train()'s linear predictions.
 */
extern void ScoringLinearProba(double *x, int noutputs);

#endif
