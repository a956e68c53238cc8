/*
 * linear.h — what the linear algorithms (linear.c, logistic.c) share: the
 * design matrix of a dataset (one-hot reference coding, imputation) and the
 * trained model handed to train() (linear-json artifact, predictions). The
 * least-squares machinery (the mergeable state, its solution) is linear.c's.
 */
#ifndef MLOPS_LINEAR_H
#define MLOPS_LINEAR_H

#include "postgres.h"

#include "mlops/dataset.h"
#include "mlops/train.h"

/* A least-squares fit and, for OLS, its statistics (defined in linear.c). */
typedef struct LinearFit LinearFit;

/* The number of columns of the design of a dataset (numeric inputs + one-hot indicators). */
extern int	LinearDesignWidth(const Dataset *ds);

/* The names of the design's columns ("name" or "name=category"), palloc'd. */
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

/*
 * Rows of a block of a BLAS product costing per_row multiply-adds a row: at
 * most LINEAR_BLOCK_FLOPS (~0.1 s) a call, between which a cancel is
 * honoured, so that a block of wide rows (many one-hot terms) holds fewer;
 * at least 1 and at most max_rows.
 */
extern int64 LinearBlockRows(double per_row, double max_rows);

#endif
