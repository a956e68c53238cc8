/*
 * live.h — live model quality: the aggregate behind the live_metrics view,
 * which feeds logged predictions and their recorded outcomes to metrics.c.
 * The SQL side (prediction_log, outcome, predict_logged, record_outcome,
 * purge_predictions, live_metrics) is in src/sql/55_live.sql.
 */
#ifndef MLOPS_LIVE_H
#define MLOPS_LIVE_H

#include "postgres.h"

#include "fmgr.h"

/* mlops._quality_agg(classes float8[], actual float8, prediction float8, probabilities float8[]) */
extern Datum quality_agg_transfn(PG_FUNCTION_ARGS);
extern Datum quality_agg_finalfn(PG_FUNCTION_ARGS);

#endif
