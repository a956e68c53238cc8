/*
 * xgb.h — the libxgboost calls shared by scoring, import, export, reports and
 * training: errors, signals, boosters (load, save, inspect) and prediction.
 * Training's own calls (matrices, parameters, boosting rounds) are in
 * xgb_train.c, under the same rules.
 *
 * Boosters are owned by a memory context: XgbLoad registers a reset callback
 * that frees the handle when the context is reset or deleted, so that no error
 * path can leak one. libxgboost's output buffers are thread-local and die on
 * the next call: the functions below copy them into palloc'd memory.
 *
 * Scoring boosters are set to one thread (nthread = 1), so that prediction
 * never starts an OpenMP pool inside a backend.
 */
#ifndef MLOPS_XGB_H
#define MLOPS_XGB_H

#include "postgres.h"

#include <signal.h>

#include <xgboost/c_api.h>

#include "utils/jsonb.h"

/*
 * Raises sqlerrcode, "xgboost could not WHAT" with XGBoost's last message as
 * detail, unless rc (a libxgboost return code) is 0.
 */
extern void XgbCheckCode(int rc, int sqlerrcode, const char *what);

/* XgbCheckCode for a failure inside libxgboost: 38000 (external_routine_exception). */
static inline void
XgbCheck(int rc, const char *what)
{
	XgbCheckCode(rc, ERRCODE_EXTERNAL_ROUTINE_EXCEPTION, what);
}

/*
 * Blocks every signal of the calling thread, saving the old mask in *saved.
 * libxgboost may start OpenMP threads in any call and they inherit the mask:
 * wrap every call that may run parallel code, so PostgreSQL's signals keep
 * landing on the backend's own thread. Never raise an error in between.
 */
extern void XgbSignalsOff(sigset_t *saved);

/* Restores the signal mask XgbSignalsOff saved. */
extern void XgbSignalsOn(const sigset_t *saved);

/* Runs one libxgboost call (which never raises a PostgreSQL error) with signals blocked; its return code into rc. */
#define XGB_BLOCKED(rc, call) \
	do { \
		sigset_t	old_mask_; \
		XgbSignalsOff(&old_mask_); \
		(rc) = (call); \
		XgbSignalsOn(&old_mask_); \
	} while (0)

/* What XgbPredictDense computes (XGBoost's prediction "type"). */
typedef enum XgbPredictKind
{
	XGB_PREDICT_VALUE = 0,		/* transformed by the objective */
	XGB_PREDICT_MARGIN = 1,		/* raw margin */
	XGB_PREDICT_CONTRIBS = 2	/* TreeSHAP contributions, bias last */
} XgbPredictKind;

/*
 * The most values a row's explanation may have, (num_feature + 1) × outputs:
 * 64 MB of float32.
 */
#define XGB_MAX_ROW_VALUES (1 << 24)

/*
 * Loads a model document in format "xgboost-json" or "xgboost-ubj" into a new
 * one-thread booster freed when `owner` is reset or deleted, after the checks
 * that keep libxgboost from crashing or aborting the backend on it: the bytes
 * must be in that format (22023) and pass TreeModelCheck (trees.h: 22023 or
 * XX001; trees at most max_depth levels deep, 0: any). A model libxgboost
 * refuses raises 22023 with XGBoost's message; one that would give explain
 * more than XGB_MAX_ROW_VALUES values per row, 54000. Every document that
 * reaches libxgboost goes through it: import_model's (max_depth
 * TREE_MAX_DEPTH), and a stored version's (scoring, export, reports; max_depth
 * 0, since train grows trees as deep as it is told).
 */
extern BoosterHandle XgbLoad(const char *format, const void *data, size_t len, int max_depth,
							 MemoryContext owner);

/*
 * Returns the process heap's free memory to the operating system. Parsing a
 * model or training one, libxgboost mallocs and frees hundreds of MB; glibc
 * keeps what is freed (its trim threshold grows with the largest block freed),
 * so without this a session that imported a large model would hold that
 * memory until it disconnects. Called after boosters and training handles are
 * freed, and after a model is decoded for scoring.
 */
extern void XgbReleaseFreedMemory(void);

/* The model serialised as "json" or "ubj", as a palloc'd bytea. */
extern bytea *XgbSave(BoosterHandle booster, const char *format);

/* The booster's configuration (XGBoosterSaveJsonConfig) as palloc'd jsonb. */
extern Jsonb *XgbConfig(BoosterHandle booster);

/* The string (or number, as text) at a path of keys in a configuration, or NULL. */
extern char *XgbConfigValue(Jsonb *config, const char *const *path, int depth);

/* The number of features the model was trained on. */
extern int	XgbNumFeatures(BoosterHandle booster);

/* The feature names the model carries, palloc'd (*n = 0: none). */
extern char **XgbFeatureNames(BoosterHandle booster, int *n);

/* The number of margins the model gives per row: num_class (multiclass), else num_target. */
extern int	XgbNumOutputs(Jsonb *config);

/* The number of boosting rounds in the model. */
extern int	XgbBoostedRounds(BoosterHandle booster);

/*
 * The importance of every feature, of the type XGBoost computes ("gain",
 * "total_gain", "weight", ...), in the order of names (features no split
 * uses: 0).
 */
extern void XgbFeatureScores(BoosterHandle booster, const char *importance_type,
							 const char *const *names, int n, double *out);

/*
 * The __array_interface__ document (at most 160 bytes) by which XGBoost reads
 * a row-major float32 matrix in place, into buf.
 */
extern void XgbArrayInterface(char *buf, size_t size, const float *x, int64 rows, int cols);

/*
 * Prediction on a dense float32 matrix (nrow × ncol, row-major, NaN =
 * missing). Copies the result into `out`, which holds `out_len` floats: an
 * error unless XGBoost produced exactly that many.
 */
extern void XgbPredictDense(BoosterHandle booster, const float *x, int nrow, int ncol,
							XgbPredictKind kind, float *out, size_t out_len);

/*
 * The same, value or margin, predicted in place (Booster.inplace_predict):
 * for the rows a DMatrix refuses (an infinite value), which a tree booster
 * scores so; not for gblinear, which has no in-place prediction.
 */
extern void XgbPredictInPlace(BoosterHandle booster, const float *x, int nrow, int ncol,
							  XgbPredictKind kind, float *out, size_t out_len);

/*
 * Prediction on a matrix XGBoost already holds, copied into `out` as
 * XgbPredictDense does. On the matrices a booster was trained and evaluated
 * on it costs nothing: XGBoost keeps its predictions of them.
 */
extern void XgbPredictMatrix(BoosterHandle booster, DMatrixHandle dmat, XgbPredictKind kind,
							 float *out, size_t out_len);

#endif
