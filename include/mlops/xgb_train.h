/*
 * xgb_train.h — the 'xgboost' training algorithm of mlops.train(): gradient-
 * boosted trees trained by libxgboost on the loader's rows.
 *
 * Every XGBoost learning parameter in hyperparams is set on the booster as
 * text (an unknown one is an error); n_estimators (boosting rounds, default
 * 100) and early_stopping_rounds are mlops's own. The rows are copied once
 * into a float32 matrix charged against mlops.max_training_memory, handed to
 * XGBoost, then freed. Every libxgboost call that may run parallel code runs
 * with the backend's signals blocked, so that its OpenMP threads never take
 * PostgreSQL's signals; the handles are owned by the calling memory context.
 */
#ifndef MLOPS_XGB_TRAIN_H
#define MLOPS_XGB_TRAIN_H

#include "mlops/train.h"

/* Trains a booster on ds's training rows; the artifact is its UBJ model. */
extern void TrainXgboost(Dataset *ds, TrainRequest *req, TrainedModel *out);

/* Raises 22023 for hyperparams that are not XGBoost parameters in form (before any row is read). */
extern void XgbCheckHyperParams(Jsonb *hyperparams);

#endif
