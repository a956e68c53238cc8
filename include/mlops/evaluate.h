/*
 * evaluate.h — the quality metrics (metrics.h) of model versions on the rows
 * of a source, scored exactly as predict scores them (scoring.h).
 *
 * The rows are read through the dataset loader (dataset.h) with the caller's
 * privileges: every row whose target is not NULL, or only the test rows of
 * the split (test_fraction, seed) — the split train() made, when the source
 * still holds the same rows. Several versions evaluated together are scored
 * on the same rows in one scan (promote's gate).
 *
 * Usage (not inside SPI):
 *
 *     const char *refs[] = {"churn:3", "churn:2"};
 *     char       *metrics[2];
 *     int64       rows = EvaluateSource(refs, 2, "customers", 0, 0, metrics);
 */
#ifndef MLOPS_EVALUATE_H
#define MLOPS_EVALUATE_H

#include "postgres.h"

/*
 * Evaluates the versions that the model references refs (resolved through
 * mlops.resolve_model) mean on source: metrics_json[i] receives the metrics
 * of refs[i] as a JSON object; returns the number of rows scored. The
 * target column is the first version's, and so is the split (decided by its
 * features alone); the other versions must share its task and target, and
 * every version's features must be columns of the source.
 */
extern int64 EvaluateSource(const char *const *refs, int nrefs, const char *source,
							double test_fraction, int seed, char **metrics_json);

#endif
