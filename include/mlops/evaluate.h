/*
 * evaluate.h — scoring versions on the rows of a source as evaluate() does
 * (evaluate.c): the source's inputs, categories and classes are mapped to each
 * version's by name, category text and class value, and each row is scored as
 * predict() would score it. The report's test-split section uses it.
 *
 * Usage (inside SPI_connect()/SPI_finish()):
 *
 *     EvalModel  *e;
 *     Dataset    *ds = EvalPrepare(&ref, 1, source, NULL, test_fraction, seed, NULL, cxt, &e);
 *     ... for each row i of each batch b of a scan of ds:
 *         EvalModelScoreRow(e, ds, b, i, scores, &label);
 */
#ifndef MLOPS_EVALUATE_H
#define MLOPS_EVALUATE_H

#include "postgres.h"

#include "mlops/dataset.h"

typedef struct EvalModel EvalModel;

/*
 * Resolves the model references refs into models[] and reads source for them
 * (the target, task and split of the first; every version's features), mapped
 * to each version; what they need is kept in cxt. target (or NULL): the
 * target column of versions imported without one. no_value_hint (or NULL):
 * the hint of the error for a feature without a value in the rows.
 */
extern Dataset *EvalPrepare(const char *const *refs, int nrefs, const char *source, const char *target,
							double test_fraction, int seed, const char *no_value_hint, MemoryContext cxt,
							EvalModel **models);

/* How many scores a row gets: the number of classes, or 1 for regression. */
extern int	EvalModelWidth(const EvalModel *e);

/*
 * Scores row i of a batch: EvalModelWidth() scores, and for classification
 * the row's class as the version's index into *label.
 */
extern void EvalModelScoreRow(EvalModel *e, const Dataset *ds, const DatasetBatch *b, int i,
							  double *scores, int *label);

#endif
