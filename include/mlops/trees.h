/*
 * trees.h — the compiled tree evaluator: an XGBoost gbtree model flattened
 * into one array of nodes, evaluated in C without libxgboost, with XGBoost's
 * own float32 arithmetic (the same comparisons, the same order of summation,
 * the same objective transforms), so that predictions are bit-identical.
 *
 * Covered: booster "gbtree" with numerical and categorical splits, and the
 * objectives whose prediction transform is the identity (reg:squarederror,
 * reg:linear, reg:squaredlogerror, reg:pseudohubererror, reg:absoluteerror,
 * binary:logitraw), the logistic function (reg:logistic, binary:logistic) or
 * the softmax (multi:softprob, multi:softmax). TreeModelCompile refuses
 * everything else (gblinear, dart, count:poisson, reg:gamma, reg:tweedie,
 * survival:*, rank:*, binary:hinge, ...), which callers score through
 * libxgboost instead; for explain (TreeSHAP, in margin space) it also
 * compiles dart and those objectives, but not gblinear.
 */
#ifndef MLOPS_TREES_H
#define MLOPS_TREES_H

#include "postgres.h"

/* The prediction transform of an objective. */
typedef enum TreeTransform
{
	TREE_IDENTITY,
	TREE_LOGISTIC,
	TREE_SOFTMAX
} TreeTransform;

/* One node: a split, or a leaf whose children are itself. */
typedef struct TreeNode
{
	float		value;			/* split threshold, or leaf value */
	uint32		feature;		/* split feature | TREE_DEFAULT_LEFT | TREE_CATEGORICAL */
	int32		child[2];		/* absolute indexes of the left and right children */
} TreeNode;

#define TREE_DEFAULT_LEFT	0x80000000u
#define TREE_CATEGORICAL	0x40000000u
#define TREE_FEATURE_MASK	0x3fffffffu

typedef struct TreeModel
{
	int			num_feature;
	int			num_group;		/* margins per row: 1, or the number of classes */
	int			num_trees;
	float		base_margin;	/* base_score in margin space */
	bool		scores;			/* predictions covered (else compiled for explain only) */
	TreeTransform transform;
	bool		has_categorical;
	int32	   *roots;			/* index of each tree's root in nodes */
	int32	   *groups;			/* output group of each tree */
	int32	   *depths;			/* steps from each tree's root to its deepest leaf */
	TreeNode   *nodes;
	int32	   *cat_start;		/* categorical nodes: first word of their set in cat_bits */
	int32	   *cat_words;		/* categorical nodes: words in their set */
	uint32	   *cat_bits;		/* category bit sets of categorical splits */
	float	   *covers;			/* per node: XGBoost's sum_hessian (NULL: the document has none) */
	float	   *root_means;		/* per tree: the cover-weighted mean of its leaves' values */
	float	   *tree_weights;	/* dart's weight_drop per tree; NULL for gbtree */
} TreeModel;

/*
 * Compiles the XGBoost JSON model `json` (as XGBoost's SaveModel writes it;
 * its NaN/Infinity tokens are overwritten in place) into a TreeModel allocated
 * in the current memory context. Returns NULL when the booster, objective or
 * number of targets is not covered; with explain, also dart and the
 * objectives scored by libxgboost, with scores false (TreeModelMargins and
 * TreeModelTransform are then not for it).
 */
extern TreeModel *TreeModelCompile(char *json, size_t len, bool explain);

/*
 * The deepest tree import_model takes: explain's TreeSHAP (treeshap.c) keeps
 * a path of up to min(level, features) + 2 elements of 16 bytes per level, 16
 * bytes × depth × features when features are few, about 8 bytes × depth²
 * when they are not: about 8 MB a call under this limit. (train grows trees
 * as deep as its hyperparameters say.)
 */
#define TREE_MAX_DEPTH 1024

/*
 * Checks an XGBoost model document (JSON, or UBJ when ubj is true) before
 * libxgboost reads it, with the compiler's own reader, the trees of every
 * booster included (dart's too): raises 22023 ("artifact is not a valid
 * xgboost model") when the bytes are not a readable JSON or UBJSON document,
 * XX001 ("invalid xgboost model document") when what libxgboost 1.7 loads
 * unchecked, then crashes, aborts or mis-scores on, does not hold: each tree
 * is a tree as XGBoost lays it out (arrays, children, parents, categorical
 * nodes that categories_nodes lists exactly, categories), at most max_depth
 * levels deep (0: any depth); splits, tree_info, num_trees, dart's
 * weight_drop and gblinear's weights agree with the model's num_feature and
 * outputs (see ReaderCheckShape, ReaderCheckModel). The document is not
 * modified.
 */
extern void TreeModelCheck(const char *doc, size_t len, bool ubj, int max_depth);

/* The child split `node` sends a row of num_feature floats to (NaN = missing). */
extern int32 TreeModelChild(const TreeModel *m, int32 node, const float *row);

/*
 * XGBoost's TreeSHAP (pred_contribs) of one row, bit for bit, into out:
 * num_group blocks of num_feature contributions and the bias (treeshap.c).
 * Needs the model's covers. Its memory is depth × min(depth, features) path elements.
 */
extern void TreeModelContributions(const TreeModel *m, const float *row, float *out);

/* The raw margins (num_group of them) of one row of num_feature floats (NaN = missing). */
extern void TreeModelMargins(const TreeModel *model, const float *row, float *margins);

/* Applies the model objective's transform to its margins, in place. */
extern void TreeModelTransform(const TreeModel *model, float *margins);

/* XGBoost's logistic function, in float32 as XGBoost computes it. */
extern float TreeSigmoid(float x);

/* XGBoost's softmax, in place, in float32 as XGBoost computes it. */
extern void TreeSoftmax(float *x, int n);

#endif
