/*
 * model_cache.h — ready-to-score models, kept per backend.
 *
 * A ScoringModel is one model version decoded for scoring: its inputs and how
 * they are encoded, and either a compiled tree model (trees.h), an XGBoost
 * booster for what the compiler does not cover, or linear coefficients.
 * Versions are immutable, so a cached model never goes stale: the cache is a
 * plain LRU keyed by (registry, model_id, version), holding at most
 * mlops.model_cache_size models that no running statement uses. The one
 * exception is a version written by this backend's own transaction: when that
 * transaction (or any subtransaction) rolls back, its number is given again to
 * the next version trained, so such a "provisional" model is forgotten at
 * every rollback (marked stale: callers holding it load the version again).
 *
 * A caller holds the model it gets with a pin (ModelPin) that lives as long
 * as a memory context (typically the statement's), so eviction never frees a
 * model in use; a pin holds one model at a time, so a caller that moves from
 * version to version (one per row) holds only the one it uses.
 */
#ifndef MLOPS_MODEL_CACHE_H
#define MLOPS_MODEL_CACHE_H

#include "postgres.h"

#include "lib/ilist.h"

#include "mlops/trees.h"
#include "mlops/xgb.h"

/* One input of a model, as its spec describes it. */
typedef struct ScoringInput
{
	char	   *name;
	bool		categorical;
	int			ncategories;
	char	  **categories;		/* in spec order: index i is category i */
	int		   *sorted;			/* category indexes sorted by strcmp of their text */
	double		impute;			/* linear models: the value (or category index) for NULL; NaN if none */
} ScoringInput;

typedef enum ScoringKind
{
	SCORING_TREES,				/* compiled XGBoost gbtree model */
	SCORING_BOOSTER,			/* XGBoost model scored by libxgboost */
	SCORING_LINEAR				/* linear-json coefficients */
} ScoringKind;

typedef struct ScoringModel
{
	/* identity */
	Oid			registry;		/* OID of mlops.model_version: a re-created registry never hits */
	int64		model_id;
	int32		version;
	char	   *name;			/* model name, for messages */

	ScoringKind kind;
	bool		classification;
	int			ninputs;
	ScoringInput *inputs;
	int			nclasses;		/* classification: labels in order */
	double	   *classes;
	int			noutputs;		/* margins per row: 1 (regression, binary), or one per class */

	/* xgboost */
	TreeModel  *trees;			/* compiled (for explain only unless SCORING_TREES), or NULL */
	BoosterHandle booster;		/* always loaded for xgboost models (explain, fallback) */
	bool		gblinear;		/* its booster is gblinear: no in-place prediction */

	/* linear: margin[o] = intercept[o] + Σ coef[o * nterms + t] · term t */
	int			nterms;
	char	  **terms;
	int		   *term_input;		/* input of each term */
	int		   *term_category;	/* indicator terms: the category; -1 for numeric terms */
	double	   *intercept;
	double	   *coef;
	bytea	   *artifact;		/* the stored linear-json document, for export */

	/* cache bookkeeping */
	MemoryContext context;		/* holds everything above */
	int			pins;
	bool		cached;			/* still in the LRU (false once evicted) */
	dlist_node	lru;
	bool		provisional;	/* written by our transaction, not committed yet */
	dlist_node	provisional_node;	/* in the list of provisional models, while provisional */
	bool		stale;			/* rolled back: its number may now mean another version */
} ScoringModel;

/* What holds a model in use (see ModelPinCreate). */
typedef struct ModelPin ModelPin;

/* A pin holding no model yet, released when `holder` is reset or deleted. */
extern ModelPin *ModelPinCreate(MemoryContext holder);

/* The OID of mlops.model_version, the registry of ModelCacheGet. */
extern Oid	ModelRegistryOid(void);

/*
 * The model version (model_id, version) of the registry whose model_version
 * table is `registry`, loaded on first use through mlops._model_artifact and
 * held by `pin` in place of the model it held before.
 */
extern ScoringModel *ModelCacheGet(ModelPin *pin, Oid registry, int64 model_id, int32 version,
								   const char *name);

#endif
