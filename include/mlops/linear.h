/*
 * linear.h — linear models: the design matrix of a dataset (one-hot reference
 * coding, imputation), the mergeable least-squares state, its solution (OLS
 * with statistics, ridge), and the linear-json artifact.
 */
#ifndef MLOPS_LINEAR_H
#define MLOPS_LINEAR_H

#include "postgres.h"

#include "mlops/dataset.h"
#include "mlops/train.h"

/*
 * Centred sufficient statistics of rows z = (x_1..x_k, y): the count, the mean
 * of every column and the centred cross-product matrix Σ (z - mean)(z - mean)'
 * (upper triangle, row-major, (k+1)²). Blocks and states merge exactly with
 * Chan's pairwise formulas, so workers and shards can each accumulate a part.
 */
typedef struct LinearState
{
	int			k;				/* inputs; the matrices have k + 1 columns */
	double		n;
	double	   *mean;			/* k + 1 */
	double	   *m;				/* (k + 1) × (k + 1), upper triangle */
} LinearState;

/* A fitted linear model (one output) with, for OLS, the MADlib-style statistics. */
typedef struct LinearFit
{
	int			k;
	double		intercept;
	double	   *coef;
	bool		has_stats;
	double	   *std_err;		/* k + 1, intercept first */
	double	   *t_stat;
	double	   *p_value;
	double		r2;
	double		adj_r2;
	double		condition_number;
} LinearFit;

/* A new, empty state for k inputs. */
extern LinearState *LinearStateCreate(int k);

/* Adds a block of rows (rows × (k + 1), row-major, y last); the block is overwritten. */
extern void LinearStateAddBlock(LinearState *state, double *block, int rows);

/* Merges state b into state a. */
extern void LinearStateMerge(LinearState *a, const LinearState *b);

/*
 * Solves for the coefficients: OLS (alpha 0, with statistics) or ridge (alpha
 * > 0, intercept not penalised). terms name the inputs in error messages.
 * Raises 22000 for a constant input, collinear inputs or too few rows (OLS).
 */
extern LinearFit *LinearStateSolve(const LinearState *state, double alpha, char **terms);

/* The number of columns of the design of a dataset (numeric inputs + one-hot indicators). */
extern int	LinearDesignWidth(const Dataset *ds);

/* The names of the design's columns ("name" or "name=category"). */
extern char **LinearDesignTerms(const Dataset *ds);

/* Encodes one input vector (as DatasetBatch gives it) into a design row, imputing NULLs. */
extern void LinearEncode(const Dataset *ds, const double *x, double *out);

/*
 * Fills in what a linear algorithm hands train() (train.h): the linear-json
 * artifact (docs/model-format.md) of nout outputs, intercept[nout] and
 * coef[nout × width] row-major, with stats (NULL: none), and a predict
 * function over these arrays, which must outlive the training.
 */
extern void LinearTrainedModel(const Dataset *ds, const char *algorithm, int nout,
							   const double *intercept, const double *coef,
							   const LinearFit *stats, TrainedModel *out);

/* The survival function of Student's t distribution, P(T > t), df degrees of freedom. */
extern double StudentTSurvival(double t, double df);

#endif
