/*
 * evaluate.h — scoring a version on the rows of a dataset as evaluate() does
 * (evaluate.c): the dataset's inputs, categories and classes are mapped to the
 * version's by name, category text and class value, and each row is scored as
 * predict() would score it. The report's test-split section uses it.
 *
 * Usage (inside SPI_connect()/SPI_finish()):
 *
 *     EvalModel  *e = EvalModelOpen("model:3", cxt);
 *     Dataset    *ds = DatasetPrepare(source, target, ...);
 *     EvalModelMap(e, ds, version, cxt);
 *     ... for each row i of each batch b of a scan of ds:
 *         EvalModelScoreRow(e, ds, b, i, scores, &label);
 */
#ifndef MLOPS_EVALUATE_H
#define MLOPS_EVALUATE_H

#include "postgres.h"

#include "mlops/dataset.h"

typedef struct EvalModel EvalModel;

/* Resolves a model reference: the version, its target and scoring model, kept in cxt. */
extern EvalModel *EvalModelOpen(const char *ref, MemoryContext cxt);

/* How many scores a row gets: the number of classes, or 1 for regression. */
extern int	EvalModelWidth(const EvalModel *e);

/*
 * Maps the dataset's inputs, categories and classes to the version's (errors
 * name version first_version as the dataset's); the mapping lives in cxt.
 */
extern void EvalModelMap(EvalModel *e, const Dataset *ds, int32 first_version, MemoryContext cxt);

/* Scores row i of a batch: EvalModelWidth() scores, and the row's class as the version's index. */
extern void EvalModelScoreRow(EvalModel *e, const Dataset *ds, const DatasetBatch *b, int i,
							  double *scores, int *label);

#endif
