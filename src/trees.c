/*
 * trees.c — the compiled tree evaluator (see trees.h): a streaming reader of
 * XGBoost's JSON (or UBJ) model that checks and flattens its trees, and the
 * per-row evaluation.
 */
#include "postgres.h"

#include <math.h>

#include "common/jsonapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/memutils.h"

#include "mlops/trees.h"
#include "mlops/ubjson.h"

/* A growable array of int32 or float. */
typedef struct Vec
{
	int			n;
	int			cap;
	union
	{
		int32	   *i;
		float	   *f;
		void	   *p;
	}			v;
} Vec;

/* Appends one 4-byte value to a Vec. */
static void
VecPush(Vec *vec, uint32 bits)
{
	if (vec->n == vec->cap)
	{
		vec->cap = vec->cap ? vec->cap * 2 : 64;
		vec->v.p = vec->v.p ? repalloc(vec->v.p, vec->cap * 4) : palloc(vec->cap * 4);
	}
	((uint32 *) vec->v.p)[vec->n++] = bits;
}

/* Frees a Vec's array. */
static void
VecFree(Vec *vec)
{
	if (vec->v.p != NULL)
		pfree(vec->v.p);
	vec->v.p = NULL;
	vec->n = vec->cap = 0;
}

/* What a JSON value is, given where it sits in the model document. */
typedef enum Place
{
	P_OTHER,					/* anything the evaluator does not need */
	P_ROOT,
	P_LEARNER,
	P_BOOSTER,					/* learner.gradient_booster */
	P_BOOSTER_NAME,
	P_WEIGHT_DROP,				/* dart's weight_drop */
	P_INNER_BOOSTER,			/* dart's learner.gradient_booster.gbtree */
	P_MODEL,					/* learner.gradient_booster(.gbtree).model */
	P_TREES,
	P_TREE,
	P_TREE_INFO,
	P_WEIGHTS,					/* gblinear's model.weights */
	P_BOOSTED_ROUNDS,			/* gblinear's model.boosted_rounds */
	P_GBTREE_PARAM,				/* model.gbtree_model_param */
	P_NUM_TREES,
	P_NUM_PARALLEL_TREE,
	P_PARAM,					/* learner.learner_model_param */
	P_BASE_SCORE,
	P_NUM_CLASS,
	P_NUM_FEATURE,
	P_NUM_TARGET,
	P_OBJECTIVE,
	P_OBJECTIVE_NAME,
	P_TREE_ID,
	/* arrays of a tree, in the order of the Tree's vectors below */
	P_LEFT,
	P_RIGHT,
	P_SPLIT_INDEX,
	P_SPLIT_COND,
	P_DEFAULT_LEFT,
	P_SPLIT_TYPE,
	P_CATEGORIES,
	P_CAT_NODES,
	P_CAT_SEGMENTS,
	P_CAT_SIZES,
	P_SUM_HESS,
	P_PARENTS
} Place;

#define TREE_ARRAYS (P_PARENTS - P_LEFT + 1)

StaticAssertDecl(P_PARENTS < 64, "a container's fields are noted in a uint64");

/*
 * XGBoost's largest category, 2^24 - 1 (common::InvalidCat): beyond, float32
 * does not hold every integer, and XGBoost sends such a value left.
 */
#define TREE_MAX_CATEGORY 16777215

/*
 * The most 32-bit words the category sets of a model's categorical splits may
 * take (256 MB): a set takes a bit per category up to its largest, so one
 * category near TREE_MAX_CATEGORY costs 2 MB, in libxgboost too.
 */
#define TREE_MAX_CAT_WORDS (1 << 26)

#define MAX_NESTING 32

/* The state of the streaming reader. */
typedef struct Reader
{
	Place		stack[MAX_NESTING]; /* the containers we are in */
	uint64		fields[MAX_NESTING];	/* per container: the places of its fields read so far */
	int			depth;
	Place		next;			/* what the next value is */
	Vec			tree[TREE_ARRAYS];	/* the arrays of the tree being read */
	/* what has been read */
	char	   *booster;
	char	   *objective;
	float		base_score;
	int			num_class;
	int			num_feature;
	int			num_target;
	int			num_weights;	/* gblinear's */
	int			boosted_rounds; /* gblinear's */
	Vec			weight_drop;	/* dart's, per tree */
	int			num_trees;		/* gbtree_model_param's, -1 if not given */
	int			num_parallel_tree;
	bool		has_split_type; /* the tree being read has a split_type array */
	bool		id_is_position; /* the tree being read has its place in trees as its id */
	Vec			tree_info;
	Vec			roots;
	Vec			depths;
	Vec			nodes;			/* 4 words per TreeNode */
	Vec			cat_start;		/* per node */
	Vec			cat_words;		/* per node */
	Vec			cat_bits;
	Vec			levels;			/* per node: its depth in its tree */
	Vec			covers;			/* per node: its sum_hessian (float32 bits) */
	bool		no_covers;		/* a tree without one sum_hessian per node */
	bool		has_categorical;
} Reader;

static const char *const tree_fields[TREE_ARRAYS] = {
	"left_children", "right_children", "split_indices", "split_conditions", "default_left",
	"split_type", "categories", "categories_nodes", "categories_segments", "categories_sizes", "sum_hessian",
	"parents"
};

/* Raises the error for a document that is not the XGBoost model it should be. */
static void
BadModel(const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("invalid xgboost model document"),
			 errdetail("%s", detail)));
}

/* Where the value of field `name` of a container at place `parent` belongs. */
static Place
FieldPlace(Place parent, const char *name)
{
	switch (parent)
	{
		case P_ROOT:
			return strcmp(name, "learner") == 0 ? P_LEARNER : P_OTHER;
		case P_LEARNER:
			if (strcmp(name, "gradient_booster") == 0)
				return P_BOOSTER;
			if (strcmp(name, "learner_model_param") == 0)
				return P_PARAM;
			if (strcmp(name, "objective") == 0)
				return P_OBJECTIVE;
			return P_OTHER;
		case P_BOOSTER:
			if (strcmp(name, "name") == 0)
				return P_BOOSTER_NAME;
			if (strcmp(name, "weight_drop") == 0)
				return P_WEIGHT_DROP;
			if (strcmp(name, "gbtree") == 0)
				return P_INNER_BOOSTER;
			return strcmp(name, "model") == 0 ? P_MODEL : P_OTHER;
		case P_INNER_BOOSTER:
			/* dart keeps its trees in a gbtree: they are read (and checked) too */
			return strcmp(name, "model") == 0 ? P_MODEL : P_OTHER;
		case P_MODEL:
			if (strcmp(name, "trees") == 0)
				return P_TREES;
			if (strcmp(name, "weights") == 0)
				return P_WEIGHTS;
			if (strcmp(name, "boosted_rounds") == 0)
				return P_BOOSTED_ROUNDS;
			if (strcmp(name, "gbtree_model_param") == 0)
				return P_GBTREE_PARAM;
			return strcmp(name, "tree_info") == 0 ? P_TREE_INFO : P_OTHER;
		case P_GBTREE_PARAM:
			if (strcmp(name, "num_trees") == 0)
				return P_NUM_TREES;
			return strcmp(name, "num_parallel_tree") == 0 ? P_NUM_PARALLEL_TREE : P_OTHER;
		case P_PARAM:
			if (strcmp(name, "base_score") == 0)
				return P_BASE_SCORE;
			if (strcmp(name, "num_class") == 0)
				return P_NUM_CLASS;
			if (strcmp(name, "num_target") == 0)
				return P_NUM_TARGET;
			return strcmp(name, "num_feature") == 0 ? P_NUM_FEATURE : P_OTHER;
		case P_OBJECTIVE:
			return strcmp(name, "name") == 0 ? P_OBJECTIVE_NAME : P_OTHER;
		case P_TREE:
			if (strcmp(name, "id") == 0)
				return P_TREE_ID;
			for (int i = 0; i < TREE_ARRAYS; i++)
				if (strcmp(name, tree_fields[i]) == 0)
					return (Place) (P_LEFT + i);
			return P_OTHER;
		default:
			return P_OTHER;
	}
}

/*
 * Notes where the value of an object field goes, by its name and its object.
 * A field read twice in one object is refused: the reader would take in both
 * values (two tree_info arrays as one), libxgboost only one of them (the last
 * in JSON, the first in UBJ), and so load what was never checked (an empty
 * tree_info then crashed the backend). So is a gradient booster with both a
 * model and a gbtree: the reader takes in the trees (tree_info, weights) of
 * both, libxgboost those of one (model for gbtree and gblinear, gbtree for
 * dart), whatever the name says; a tree_info cut short in the one it read
 * crashed the backend.
 */
static void
ReaderFieldStart(void *state, char *fname, bool isnull)
{
	Reader	   *r = state;
	uint64	   *fields = &r->fields[r->depth - 1];
	const uint64 both = (UINT64CONST(1) << P_MODEL) | (UINT64CONST(1) << P_INNER_BOOSTER);

	r->next = FieldPlace(r->stack[r->depth - 1], fname);
	if (r->next != P_OTHER)
	{
		if (*fields & (UINT64CONST(1) << r->next))
			BadModel(psprintf("An object has the field \"%s\" twice.", fname));
		*fields |= UINT64CONST(1) << r->next;
		if (r->stack[r->depth - 1] == P_BOOSTER && (*fields & both) == both)
			BadModel("The gradient booster has both a \"model\" and a \"gbtree\".");
	}
	if (r->next == P_SPLIT_TYPE)
		r->has_split_type = true;
	pfree(fname);
}

/* Notes where an array element goes, by its array. */
static void
ReaderElementStart(void *state, bool isnull)
{
	Reader	   *r = state;
	Place		array = r->stack[r->depth - 1];

	/* elements of the trees array are trees; of the other arrays, values */
	r->next = array == P_TREES ? P_TREE : array;
}

/* Enters an object or array. */
static void
ReaderPush(void *state)
{
	Reader	   *r = state;

	if (r->depth == MAX_NESTING)
		BadModel("The document is nested too deeply.");
	r->stack[r->depth] = r->depth == 0 ? P_ROOT : r->next;
	r->fields[r->depth] = 0;
	r->depth++;
	if (r->stack[r->depth - 1] == P_TREE)
	{
		for (int i = 0; i < TREE_ARRAYS; i++)
			r->tree[i].n = 0;
		r->has_split_type = false;
		r->id_is_position = false;
	}
	r->next = P_OTHER;
}

/*
 * Checks that the nodes of the tree just read (n of them) whose split_type is
 * categorical are exactly those categories_nodes lists, in ascending order, as
 * XGBoost writes them. libxgboost 1.7 loads a document in which they differ
 * (it matches categories_nodes to nodes in ascending order and skips what does
 * not match), but a categorical node left without categories then aborts the
 * process when the model is written out. A leaf may be categorical: XGBoost's
 * pruner leaves the type (and the categories) of a split it turns into a leaf.
 * Without split_type, XGBoost takes every node as numerical and ignores the
 * categories. A split_type is 0 (numerical) or 1 (categorical): libxgboost
 * keeps only its low byte, so 257 would be a categorical split that this
 * check took for a numerical one.
 */
static void
ReaderCheckCategoricalNodes(Reader *r, int n)
{
	Vec		   *types = &r->tree[P_SPLIT_TYPE - P_LEFT];
	Vec		   *listed = &r->tree[P_CAT_NODES - P_LEFT];
	int			k = 0;

	if (types->n == 0)
		return;
	for (int i = 0; i < n; i++)
	{
		if (types->v.i[i] != 0 && types->v.i[i] != 1)
			BadModel(psprintf("Node %d of a tree has split_type %d: XGBoost's are 0 (numerical) and 1 (categorical).",
							  i, types->v.i[i]));
		if (types->v.i[i] != 1)
			continue;
		if (k < listed->n && listed->v.i[k] < i)
			break;				/* the listed node is not categorical: said below */
		if (k == listed->n || listed->v.i[k] != i)
		{
			for (int j = k; j < listed->n; j++)
				if (listed->v.i[j] == i)
					BadModel("A tree's categories_nodes is not in ascending order.");
			BadModel(psprintf("Node %d of a tree is a categorical split that categories_nodes does not list.", i));
		}
		k++;
	}
	if (k < listed->n)
		BadModel(psprintf("categories_nodes lists node %d of a tree, which is not a categorical split "
						  "(or is out of order).", listed->v.i[k]));
}

/*
 * Checks the shape of the tree just read (n nodes) as XGBoost 1.7 relies on
 * it, which its loader does not check: a leaf has no children (-1, -1); a
 * split's children are allocated as a pair after it (right = left + 1: its
 * predictor steps to left + 1, not to right_children, for a numerical
 * split); each node's parent is a node of the tree (the loader reads that
 * node, a crash when it is out of range), the split whose child it is. So
 * every tree is a tree: no cycle, no node shared by two splits.
 */
static void
ReaderCheckShape(Reader *r, int n)
{
	const int32 *left = r->tree[P_LEFT - P_LEFT].v.i;
	const int32 *right = r->tree[P_RIGHT - P_LEFT].v.i;
	const int32 *parent = r->tree[P_PARENTS - P_LEFT].v.i;

	for (int i = 0; i < n; i++)
	{
		if (left[i] == -1 ? right[i] != -1 :
			left[i] <= i || left[i] >= n - 1 || right[i] != left[i] + 1)
			BadModel(psprintf("Node %d of a tree has children %d and %d: a leaf has -1 and -1, "
							  "a split two consecutive nodes after it.", i, left[i], right[i]));
		if (i > 0 && (parent[i] < 0 || parent[i] >= n))
			BadModel(psprintf("Node %d of a tree has parent %d, which is not a node of the tree.", i, parent[i]));
		if (left[i] != -1 && (parent[left[i]] != i || parent[right[i]] != i))
			BadModel(psprintf("The children of node %d of a tree do not have it as their parent.", i));
	}
}

/*
 * Flattens the tree just read into r->nodes: node ids are offset by the
 * tree's first index, a leaf's children are itself, and each tree's depth is
 * measured for the fixed-step evaluation.
 */
static void
ReaderFinishTree(Reader *r)
{
	Vec		   *t = r->tree;
	int			n = t[P_LEFT - P_LEFT].n;
	int32		base = r->nodes.n / 4;
	int32	   *level;
	int			depth = 0;

	CHECK_FOR_INTERRUPTS();		/* a big model has thousands of trees */
	if (n == 0 || t[P_RIGHT - P_LEFT].n != n || t[P_SPLIT_INDEX - P_LEFT].n != n ||
		t[P_SPLIT_COND - P_LEFT].n != n || t[P_DEFAULT_LEFT - P_LEFT].n != n ||
		t[P_PARENTS - P_LEFT].n != n || t[P_SPLIT_TYPE - P_LEFT].n != (r->has_split_type ? n : 0))
		BadModel("A tree's node arrays are missing or of different lengths.");
	/* libxgboost 1.7 puts each tree in the slot its id names: two trees of one id left a slot empty, which it then dereferenced */
	if (!r->id_is_position)
		BadModel(psprintf("Tree %d of the trees array does not have id %d.", r->roots.n, r->roots.n));
	ReaderCheckShape(r, n);

	level = palloc0(n * sizeof(int32));
	for (int i = 0; i < n; i++)
	{
		int32		left = t[P_LEFT - P_LEFT].v.i[i];
		int32		right = t[P_RIGHT - P_LEFT].v.i[i];
		uint32		feature = 0;
		TreeNode	node;
		bool		categorical = t[P_SPLIT_TYPE - P_LEFT].n != 0 && t[P_SPLIT_TYPE - P_LEFT].v.i[i] == 1;

		node.value = t[P_SPLIT_COND - P_LEFT].v.f[i];
		if (left < 0)
		{
			node.child[0] = node.child[1] = base + i;
		}
		else
		{
			int32		index = t[P_SPLIT_INDEX - P_LEFT].v.i[i];

			/* checked against num_feature once it is read (ReaderCheckModel) */
			if (index < 0 || index > (int32) TREE_FEATURE_MASK)
				BadModel("A tree's feature index is out of range.");
			feature = (uint32) index;
			if (t[P_DEFAULT_LEFT - P_LEFT].v.i[i])
				feature |= TREE_DEFAULT_LEFT;
			if (categorical)
				feature |= TREE_CATEGORICAL;
			node.child[0] = base + left;
			node.child[1] = base + right;
			/* children come after their parent in XGBoost's numbering */
			level[left] = level[right] = level[i] + 1;
			depth = Max(depth, level[i] + 1);
		}
		VecPush(&r->nodes, *(uint32 *) &node.value);
		VecPush(&r->nodes, feature);
		VecPush(&r->nodes, (uint32) node.child[0]);
		VecPush(&r->nodes, (uint32) node.child[1]);
		VecPush(&r->cat_start, 0);
		VecPush(&r->cat_words, 0);
		VecPush(&r->levels, (uint32) level[i]);
		/* TreeSHAP's weights (explain); a document without them is explained by libxgboost */
		VecPush(&r->covers, t[P_SUM_HESS - P_LEFT].n == n ? t[P_SUM_HESS - P_LEFT].v.i[i] : 0);
	}
	r->no_covers |= t[P_SUM_HESS - P_LEFT].n != n;
	pfree(level);

	ReaderCheckCategoricalNodes(r, n);

	/* category sets: a bit per category that goes right */
	if (t[P_CAT_NODES - P_LEFT].n > 0)
	{
		Vec		   *cats = &t[P_CATEGORIES - P_LEFT];

		if (t[P_CAT_SEGMENTS - P_LEFT].n != t[P_CAT_NODES - P_LEFT].n ||
			t[P_CAT_SIZES - P_LEFT].n != t[P_CAT_NODES - P_LEFT].n)
			BadModel("A tree's categorical split arrays are of different lengths.");
		r->has_categorical = true;
		for (int k = 0; k < t[P_CAT_NODES - P_LEFT].n; k++)
		{
			int32		node = t[P_CAT_NODES - P_LEFT].v.i[k];
			int32		seg = t[P_CAT_SEGMENTS - P_LEFT].v.i[k];
			int32		size = t[P_CAT_SIZES - P_LEFT].v.i[k];
			int32		max_cat = 0;
			int32		words;
			int32		start = r->cat_bits.n;

			if (node < 0 || node >= n || seg < 0 || size < 0 || (int64) seg + size > cats->n)
				BadModel("A tree's categorical split refers outside its arrays.");
			if (size == 0)
				BadModel("A tree's categorical split has no categories.");
			for (int j = seg; j < seg + size; j++)
			{
				if (cats->v.i[j] < 0 || cats->v.i[j] > TREE_MAX_CATEGORY)
					BadModel(psprintf("A categorical split holds category %d: XGBoost's categories are 0 to %d.",
									  cats->v.i[j], TREE_MAX_CATEGORY));
				max_cat = Max(max_cat, cats->v.i[j]);
			}
			words = max_cat / 32 + 1;
			if (words > TREE_MAX_CAT_WORDS - r->cat_bits.n)
				BadModel(psprintf("The category sets of the categorical splits take more than %d MB.",
								  TREE_MAX_CAT_WORDS / (1 << 18)));
			for (int j = 0; j < words; j++)
				VecPush(&r->cat_bits, 0);
			for (int j = seg; j < seg + size; j++)
				((uint32 *) r->cat_bits.v.p)[start + cats->v.i[j] / 32] |= 1u << (cats->v.i[j] % 32);
			r->cat_start.v.i[base + node] = start;
			r->cat_words.v.i[base + node] = words;
		}
	}
	VecPush(&r->roots, (uint32) base);
	VecPush(&r->depths, (uint32) depth);
}

/* How an objective turns base_score into a margin (XGBoost 1.7's ProbToMargin). */
typedef enum ObjectiveLink
{
	LINK_IDENTITY,
	LINK_LOGIT,					/* -log(1 / base_score - 1) */
	LINK_LOG					/* log(base_score) */
} ObjectiveLink;

/*
 * The objectives of XGBoost 1.7 tree models, with their link, and their
 * prediction transform when the compiled evaluator scores them (-1: scored
 * by libxgboost, explained over the compiled trees all the same, since
 * TreeSHAP is in margin space).
 */
static const struct
{
	const char *name;
	ObjectiveLink link;
	int			transform;
}			objectives[] = {
	{"reg:squarederror", LINK_IDENTITY, TREE_IDENTITY},
	{"reg:linear", LINK_IDENTITY, TREE_IDENTITY},
	{"reg:squaredlogerror", LINK_IDENTITY, TREE_IDENTITY},
	{"reg:pseudohubererror", LINK_IDENTITY, TREE_IDENTITY},
	{"reg:absoluteerror", LINK_IDENTITY, TREE_IDENTITY},
	/* its predictions are margins: base_score is one too */
	{"binary:logitraw", LINK_IDENTITY, TREE_IDENTITY},
	{"reg:logistic", LINK_LOGIT, TREE_LOGISTIC},
	{"binary:logistic", LINK_LOGIT, TREE_LOGISTIC},
	{"multi:softprob", LINK_IDENTITY, TREE_SOFTMAX},
	{"multi:softmax", LINK_IDENTITY, TREE_SOFTMAX},
	{"binary:hinge", LINK_IDENTITY, -1},
	{"rank:pairwise", LINK_IDENTITY, -1},
	{"rank:ndcg", LINK_IDENTITY, -1},
	{"rank:map", LINK_IDENTITY, -1},
	{"count:poisson", LINK_LOG, -1},
	{"reg:gamma", LINK_LOG, -1},
	{"reg:tweedie", LINK_LOG, -1},
	{"survival:cox", LINK_LOG, -1},
	{"survival:aft", LINK_LOG, -1}
};

/* The index of an objective in objectives[], or -1 for one not listed. */
static int
ObjectiveIndex(const char *objective)
{
	for (int i = 0; i < lengthof(objectives); i++)
		if (strcmp(objective, objectives[i].name) == 0)
			return i;
	return -1;
}

/* The prediction transform of an objective the evaluator scores; false for the others. */
static bool
ObjectiveTransform(const char *objective, TreeTransform *transform)
{
	int			i = ObjectiveIndex(objective);

	if (i < 0 || objectives[i].transform < 0)
		return false;
	*transform = (TreeTransform) objectives[i].transform;
	return true;
}

/*
 * Checks what ties the trees (or gblinear's weights) to the rest of the
 * document, once it is all read: libxgboost 1.7 loads a document in which
 * this does not hold, then reads or writes out of bounds when it predicts.
 * Every split's feature is below num_feature (when the document gives it);
 * tree_info gives each tree an output group below the model's number of
 * outputs (num_class, or num_target for a multi-output model); gblinear has a
 * weight per feature and output and a bias per output, and boosted_rounds
 * not negative (libxgboost takes it as the model's rounds). A tree booster's
 * num_trees is its number of trees (libxgboost reads that many), which is a
 * whole number of rounds of num_parallel_tree trees per output (XGBoost
 * predicts with whole rounds only, and would leave the rest out), a round
 * being at most 2^31 - 1 trees (libxgboost multiplies num_parallel_tree by
 * the outputs in 32 bits and divides by the product: 2^32 wrapped to 0, a
 * SIGFPE in it, in a model of no trees); dart has a weight_drop per tree.
 * The base_score of a logistic objective is a probability (libxgboost loads
 * another, then fails to write the model out).
 * num_target is not negative (libxgboost reads it as unsigned: 2^32 - 1
 * targets, and a multiclass model then fails to write out), nor above 1 in
 * a multiclass model (libxgboost loads it, then fails to write out its
 * configuration).
 */
static void
ReaderCheckModel(Reader *r)
{
	const TreeNode *nodes = (const TreeNode *) r->nodes.v.p;
	int			outputs = Max(Max(r->num_class, r->num_target), 1);
	TreeTransform transform;

	if (r->num_target < 0)
		BadModel(psprintf("num_target %d is negative.", r->num_target));
	if (r->num_class > 1 && r->num_target > 1)
		BadModel(psprintf("num_class %d and num_target %d: XGBoost has no multiclass multi-output model.",
						  r->num_class, r->num_target));

	if (r->objective != NULL && ObjectiveTransform(r->objective, &transform) && transform == TREE_LOGISTIC &&
		!(r->base_score > 0.0f && r->base_score < 1.0f))
		BadModel("base_score of a logistic objective must be between 0 and 1.");

	for (int i = 0; i < r->nodes.n / 4; i++)
		if (nodes[i].child[0] != i &&	/* a split */
			(nodes[i].feature & TREE_FEATURE_MASK) >= (uint32) r->num_feature)
			BadModel(psprintf("A split refers to feature %u; the model has num_feature %d.",
							  nodes[i].feature & TREE_FEATURE_MASK, r->num_feature));
	if (r->tree_info.n != r->roots.n)
		BadModel("tree_info does not have one entry per tree.");
	for (int t = 0; t < r->tree_info.n; t++)
		if (r->tree_info.v.i[t] < 0 || r->tree_info.v.i[t] >= outputs)
			BadModel(psprintf("tree_info gives a tree output group %d; the model has %d.",
							  r->tree_info.v.i[t], outputs));
	if (r->booster != NULL && strcmp(r->booster, "gblinear") == 0)
	{
		if ((int64) r->num_weights != ((int64) r->num_feature + 1) * outputs)
			BadModel(psprintf("gblinear has %d weights; num_feature %d and %d outputs take %lld.",
							  r->num_weights, r->num_feature, outputs,
							  (long long) (((int64) r->num_feature + 1) * outputs)));
		if (r->boosted_rounds < 0)
			BadModel(psprintf("gblinear's boosted_rounds %d is negative.", r->boosted_rounds));
		return;
	}
	if (r->booster == NULL || (strcmp(r->booster, "gbtree") != 0 && strcmp(r->booster, "dart") != 0))
		return;					/* libxgboost refuses it */
	if (r->num_trees != r->roots.n)
		BadModel(psprintf("gbtree_model_param gives num_trees %d; the model has %d trees.", r->num_trees, r->roots.n));
	if ((int64) r->num_parallel_tree * outputs > PG_INT32_MAX)
		BadModel(psprintf("num_parallel_tree %d times %d outputs is more than 2^31 - 1 trees per round.",
						  r->num_parallel_tree, outputs));
	if (r->num_parallel_tree < 1 || r->roots.n % ((int64) r->num_parallel_tree * outputs) != 0)
		BadModel(psprintf("The model's %d trees are not whole rounds of num_parallel_tree %d times %d outputs.",
						  r->roots.n, r->num_parallel_tree, outputs));
	if (strcmp(r->booster, "dart") == 0 && r->weight_drop.n != r->roots.n)
		BadModel(psprintf("dart has %d weight_drop values for %d trees.", r->weight_drop.n, r->roots.n));
}

/* Leaves an object or array. */
static void
ReaderPop(void *state)
{
	Reader	   *r = state;

	if (r->stack[r->depth - 1] == P_TREE)
		ReaderFinishTree(r);
	r->depth--;
}

/* Parses a JSON number or numeric string as a float32, as XGBoost does. */
static float
TokenFloat(const char *token)
{
	char	   *end;
	float		f;

	/* the stand-ins NonFiniteToStrings put in */
	if (strcmp(token, "N") == 0)
		return NAN;
	if (strcmp(token, "I") == 0)
		return INFINITY;
	if (strcmp(token, "-I") == 0)
		return -INFINITY;
	errno = 0;
	f = strtof(token, &end);
	if (end == token || *end != '\0')
		BadModel("A number in the model is not a number.");
	return f;
}

/* Parses a JSON number or numeric string (or boolean) as an int32. */
static int32
TokenInt(const char *token)
{
	char	   *end;
	long		v;

	if (strcmp(token, "true") == 0)
		return 1;
	if (strcmp(token, "false") == 0)
		return 0;
	v = strtol(token, &end, 10);
	if (end == token || *end != '\0' || v < PG_INT32_MIN || v > PG_INT32_MAX)
		BadModel("An integer in the model is not an integer.");
	return (int32) v;
}

/* Stores a scalar in the place its field or array gave it. */
static void
ReaderScalar(void *state, char *token, JsonTokenType type)
{
	Reader	   *r = state;
	float		f;

	switch (r->next)
	{
		case P_BOOSTER_NAME:
			r->booster = pstrdup(token);
			break;
		case P_OBJECTIVE_NAME:
			r->objective = pstrdup(token);
			break;
		case P_BASE_SCORE:
			r->base_score = TokenFloat(token);
			break;
		case P_NUM_CLASS:
			r->num_class = TokenInt(token);
			break;
		case P_NUM_FEATURE:
			r->num_feature = TokenInt(token);
			break;
		case P_NUM_TARGET:
			r->num_target = TokenInt(token);
			break;
		case P_WEIGHTS:
			r->num_weights++;
			break;
		case P_BOOSTED_ROUNDS:
			r->boosted_rounds = TokenInt(token);
			break;
		case P_WEIGHT_DROP:
			f = TokenFloat(token);
			VecPush(&r->weight_drop, *(uint32 *) &f);
			break;
		case P_NUM_TREES:
			r->num_trees = TokenInt(token);
			break;
		case P_NUM_PARALLEL_TREE:
			r->num_parallel_tree = TokenInt(token);
			break;
		case P_TREE_INFO:
			VecPush(&r->tree_info, (uint32) TokenInt(token));
			break;
		case P_TREE_ID:
			r->id_is_position = TokenInt(token) == r->roots.n;
			break;
		case P_SPLIT_COND:
		case P_SUM_HESS:
			f = TokenFloat(token);
			VecPush(&r->tree[r->next - P_LEFT], *(uint32 *) &f);
			break;
		default:
			if (r->next >= P_LEFT && r->next <= P_PARENTS)
				VecPush(&r->tree[r->next - P_LEFT], (uint32) TokenInt(token));
			break;
	}
	pfree(token);
}

/*
 * XGBoost writes non-finite numbers (e.g. the threshold of a categorical split)
 * as NaN, Infinity and -Infinity, which are not JSON: replaces them in place,
 * outside strings, by the strings "N", "I" and "-I" padded to the same length.
 */
static void
NonFiniteToStrings(char *json, size_t len)
{
	bool		in_string = false;

	for (size_t i = 0; i < len; i++)
	{
		char		c = json[i];

		if (in_string)
		{
			if (c == '\\')
				i++;
			else if (c == '"')
				in_string = false;
		}
		else if (c == '"')
			in_string = true;
		else if (c == 'N' && i + 3 <= len && memcmp(json + i, "NaN", 3) == 0)
		{
			memcpy(json + i, "\"N\"", 3);
			i += 2;
		}
		else if (c == 'I' && i + 8 <= len && memcmp(json + i, "Infinity", 8) == 0)
		{
			memcpy(json + i, "\"I\"     ", 8);
			i += 7;
		}
		else if (c == '-' && i + 9 <= len && memcmp(json + i, "-Infinity", 9) == 0)
		{
			memcpy(json + i, "\"-I\"     ", 9);
			i += 8;
		}
	}
}

/*
 * Lays the nodes of all trees out level by level (every root, then every
 * node of depth 1, ...): the top levels, which every row visits, then share a
 * few kilobytes that stay in the L1 cache while rows stream through. A
 * counting sort by level, in time linear in the nodes however deep the trees.
 */
static void
ReaderLayOutByLevel(Reader *r)
{
	int			n = r->nodes.n / 4;
	TreeNode   *old = (TreeNode *) r->nodes.v.p;
	TreeNode   *nodes = palloc(Max(n, 1) * sizeof(TreeNode));
	int32	   *where = palloc(Max(n, 1) * sizeof(int32));
	int32	   *start = r->cat_start.v.i;
	int32	   *words = r->cat_words.v.i;
	int32	   *new_start = palloc(Max(n, 1) * sizeof(int32));
	int32	   *new_words = palloc(Max(n, 1) * sizeof(int32));
	int32	   *covers = r->covers.v.i;
	int32	   *new_covers = palloc(Max(n, 1) * sizeof(int32));
	int32	   *first;			/* per level: where its next node goes */
	int			max_level = 0;

	for (int i = 0; i < n; i++)
		max_level = Max(max_level, r->levels.v.i[i]);
	first = palloc0((max_level + 2) * sizeof(int32));
	for (int i = 0; i < n; i++)
		first[r->levels.v.i[i] + 1]++;
	for (int level = 0; level < max_level; level++)
		first[level + 1] += first[level];
	for (int i = 0; i < n; i++)
		where[i] = first[r->levels.v.i[i]]++;
	for (int i = 0; i < n; i++)
	{
		nodes[where[i]] = old[i];
		nodes[where[i]].child[0] = where[old[i].child[0]];
		nodes[where[i]].child[1] = where[old[i].child[1]];
		new_start[where[i]] = start[i];
		new_words[where[i]] = words[i];
		new_covers[where[i]] = covers[i];
	}
	for (int t = 0; t < r->roots.n; t++)
		r->roots.v.i[t] = where[r->roots.v.i[t]];
	r->nodes.v.p = nodes;
	r->cat_start.v.i = new_start;
	r->cat_words.v.i = new_words;
	r->covers.v.i = new_covers;
	/* the old arrays would stay in the compiled model's context as long as it is cached */
	if (old != NULL)			/* a model of no trees (0 rounds) has no nodes */
	{
		pfree(old);
		pfree(start);
		pfree(words);
		pfree(covers);
	}
	VecFree(&r->levels);
	pfree(where);
	pfree(first);
}

/*
 * Reads an XGBoost model document, JSON (whose non-finite numbers are
 * overwritten in place) or UBJ, into a new Reader, checking its trees.
 * Returns NULL, or what makes the document unreadable as JSON or UBJSON.
 */
static const char *
ReaderRead(char *doc, size_t len, bool ubj, Reader **reader)
{
	Reader	   *r = palloc0(sizeof(Reader));
	JsonSemAction sem = {0};
	JsonLexContext *lex;
	JsonParseErrorType err;

	*reader = r;
	sem.semstate = r;
	sem.object_start = ReaderPush;
	sem.object_end = ReaderPop;
	sem.array_start = ReaderPush;
	sem.array_end = ReaderPop;
	sem.object_field_start = ReaderFieldStart;
	sem.array_element_start = ReaderElementStart;
	sem.scalar = ReaderScalar;
	r->base_score = 0.5f;
	r->num_trees = -1;
	r->num_parallel_tree = 1;

	/* the trees come before num_feature: feature indexes are checked at the end */
	r->num_feature = PG_INT32_MAX;
	if (ubj)
		return UbjsonParse(doc, len, &sem);
	NonFiniteToStrings(doc, len);
	lex = makeJsonLexContextCstringLen(doc, (int) len, PG_UTF8, true);
	err = pg_parse_json(lex, &sem);
	return err == JSON_SUCCESS ? NULL : json_errdetail(err, lex);
}

/*
 * Checks an XGBoost model document, JSON or UBJ, before libxgboost reads it:
 * 22023 when it is not readable JSON (UTF-8) or UBJSON, XX001 when its trees
 * are inconsistent, with each other or with the rest of the document (see
 * ReaderFinishTree, ReaderCheckModel), or deeper than max_depth (0: any). The
 * document is not modified.
 */
void
TreeModelCheck(const char *doc, size_t len, bool ubj, int max_depth)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "mlops model check",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	char	   *copy = (char *) doc;
	const char *error = NULL;
	Reader	   *r;

	if (!ubj)
	{
		copy = palloc(len + 1);
		memcpy(copy, doc, len);
		copy[len] = '\0';
		if (!pg_verify_mbstr(PG_UTF8, copy, (int) len, true))
			error = "The JSON document is not valid UTF-8 (or holds a zero byte).";
	}
	if (error == NULL)
		error = ReaderRead(copy, len, ubj, &r);
	if (error != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("artifact is not a valid xgboost model"),
				 errdetail("%s", error)));
	ReaderCheckModel(r);
	for (int t = 0; t < r->depths.n; t++)
		if (max_depth > 0 && r->depths.v.i[t] > max_depth)
			BadModel(psprintf("Tree %d is %d levels deep; the most taken is %d.", t, r->depths.v.i[t], max_depth));
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
}

/*
 * Frees what a Reader holds: all it read, for a model that is not compiled
 * (its trees, dart's included, were read and checked all the same), or the
 * rest of it once a compiled model has taken its arrays (set to NULL).
 */
static void
ReaderFree(Reader *r)
{
	Vec		   *vecs[] = {&r->tree_info, &r->roots, &r->depths, &r->nodes, &r->cat_start,
	&r->cat_words, &r->cat_bits, &r->levels, &r->covers, &r->weight_drop};

	for (int i = 0; i < TREE_ARRAYS; i++)
		VecFree(&r->tree[i]);
	for (int i = 0; i < lengthof(vecs); i++)
		VecFree(vecs[i]);
	if (r->booster)
		pfree(r->booster);
	if (r->objective)
		pfree(r->objective);
	pfree(r);
}

/*
 * Sets the model's covers (one per node of its n) and each tree's mean value:
 * its leaves' values weighted by their covers, XGBoost's FillNodeMeanValues
 * in float32 with the same operations (the left child's product, plus the
 * right's, over the node's cover), children before parents. Nodes are laid
 * out level by level, so the deepest come last: a walk from the end sees
 * every child before its parent, without recursion however deep the tree.
 * TreeSHAP needs the roots' means only.
 */
static void
TreeModelMeans(TreeModel *m, int n, float *covers)
{
	float	   *means = palloc(Max(n, 1) * sizeof(float));

	m->covers = covers;
	for (int i = n - 1; i >= 0; i--)
	{
		const TreeNode *node = &m->nodes[i];
		float		mean;

		if (node->child[0] == i)
			mean = node->value;
		else
		{
			mean = means[node->child[0]] * covers[node->child[0]];
			mean += means[node->child[1]] * covers[node->child[1]];
			mean /= covers[i];
		}
		means[i] = mean;
	}
	m->root_means = palloc(Max(m->num_trees, 1) * sizeof(float));
	for (int t = 0; t < m->num_trees; t++)
		m->root_means[t] = means[m->roots[t]];
	pfree(means);
}

/*
 * Compiles an XGBoost JSON model into a TreeModel, or returns NULL when its
 * booster, objective or number of targets is not covered (for explain only,
 * when explain is true).
 */
TreeModel *
TreeModelCompile(char *json, size_t len, bool explain)
{
	Reader	   *r;
	const char *error;
	TreeModel  *m;
	int			objective;
	bool		dart;

	error = ReaderRead(json, len, false, &r);
	if (error != NULL)
		BadModel(error);
	ReaderCheckModel(r);

	if (r->booster == NULL || r->objective == NULL)
		BadModel("The document has no learner.gradient_booster.name or learner.objective.name.");
	dart = strcmp(r->booster, "dart") == 0;
	if (strcmp(r->booster, "gbtree") != 0 && !(explain && dart))
	{
		ReaderFree(r);
		return NULL;
	}
	objective = ObjectiveIndex(r->objective);
	if (objective < 0 || (!explain && objectives[objective].transform < 0))
	{
		ReaderFree(r);
		return NULL;
	}
	if (r->num_feature <= 0 || r->num_feature == PG_INT32_MAX || r->num_class < 0)
		BadModel("The document has no valid num_feature or num_class.");
	if (r->num_target > 1)
	{
		/* its trees' output groups are targets: num_class margins would not hold them */
		ReaderFree(r);
		return NULL;
	}

	ReaderLayOutByLevel(r);
	m = palloc0(sizeof(TreeModel));
	m->num_feature = r->num_feature;
	m->num_group = r->num_class > 1 ? r->num_class : 1;
	m->num_trees = r->roots.n;
	m->scores = !dart && objectives[objective].transform >= 0;
	m->transform = m->scores ? (TreeTransform) objectives[objective].transform : TREE_IDENTITY;
	m->tree_weights = dart ? r->weight_drop.v.f : NULL;
	m->has_categorical = r->has_categorical;
	m->roots = r->roots.v.i;
	m->depths = r->depths.v.i;
	m->nodes = (TreeNode *) r->nodes.v.p;
	m->cat_start = r->cat_start.v.i;
	m->cat_words = r->cat_words.v.i;
	m->cat_bits = (uint32 *) r->cat_bits.v.p;
	m->groups = r->tree_info.v.i;
	if (!r->no_covers)
		TreeModelMeans(m, r->nodes.n / 4, (float *) r->covers.v.p);

	/* base_score is in the objective's prediction space: its margin, in float32 as XGBoost computes it */
	if (objectives[objective].link == LINK_LOGIT)
		m->base_margin = -logf(1.0f / r->base_score - 1.0f);	/* in (0, 1): ReaderCheckModel */
	else if (objectives[objective].link == LINK_LOG)
		m->base_margin = logf(r->base_score);
	else
		m->base_margin = r->base_score;

	/*
	 * The rest would stay in the model's context as long as it is cached:
	 * the last tree's arrays above all, sized by the largest tree (48 bytes a
	 * node, more than the compiled nodes)
	 */
	r->roots.v.p = r->depths.v.p = r->nodes.v.p = r->tree_info.v.p = NULL;
	r->cat_start.v.p = r->cat_words.v.p = r->cat_bits.v.p = NULL;
	if (m->covers != NULL)
		r->covers.v.p = NULL;
	if (m->tree_weights != NULL)
		r->weight_drop.v.p = NULL;
	ReaderFree(r);
	return m;
}

/*
 * Whether a categorical split sends value x (not NaN) left, by XGBoost 1.7's
 * rule (common::Decision): a category in the split's set goes right; any
 * other value goes left, a negative one or one beyond the set's bits too
 * (not the default direction, which is for missing values only).
 */
static inline bool
CategoryGoesLeft(const TreeModel *m, int32 node, float x)
{
	int32		words = m->cat_words[node];
	uint32		cat;

	if (x < 0.0f || x >= (float) (words * 32))
		return true;
	cat = (uint32) x;
	return (m->cat_bits[m->cat_start[node] + cat / 32] & (1u << (cat % 32))) == 0;
}

/*
 * The child split `node` sends a row to, through categorical splits too
 * (XGBoost's GetNextNode): the default one for a missing value.
 */
int32
TreeModelChild(const TreeModel *m, int32 node, const float *row)
{
	const TreeNode *n = &m->nodes[node];
	float		x = row[n->feature & TREE_FEATURE_MASK];
	bool		left;

	if (isnan(x))
		left = (n->feature & TREE_DEFAULT_LEFT) != 0;
	else if (n->feature & TREE_CATEGORICAL)
		left = CategoryGoesLeft(m, node, x);
	else
		left = x < n->value;
	return n->child[left ? 0 : 1];
}

/* The leaf one tree sends a row to, through categorical splits too. */
static int32
TreeLeafGeneral(const TreeModel *m, int32 node, const float *row)
{
	while (m->nodes[node].child[0] != node)
		node = TreeModelChild(m, node, row);
	return node;
}

#define TREE_LANES 8

/*
 * One step down from node i for a row: the default child for a missing value,
 * else right unless x < value, XGBoost's test (a NaN threshold sends every
 * value right).
 */
static inline int32
TreeStep(const TreeNode *nodes, const float *row, int32 i)
{
	const TreeNode *n = &nodes[i];
	float		x = row[n->feature & TREE_FEATURE_MASK];
	int			right;

	/* !(x < value) holds for a missing x, which then goes right unless the default is left */
	right = !(x < n->value) & !((x != x) & ((n->feature & TREE_DEFAULT_LEFT) != 0));
	return n->child[right];
}

/*
 * The raw margins of one row: base_margin plus each tree's leaf value, summed
 * in float32 in tree order as XGBoost does. Numerical models walk TREE_LANES
 * trees side by side for a fixed number of steps (leaves point to themselves),
 * so that the independent walks overlap in the CPU instead of waiting on each
 * other's loads; the lanes are unrolled so that their positions stay in
 * registers.
 */
void
TreeModelMargins(const TreeModel *m, const float *row, float *margins)
{
	const TreeNode *nodes = m->nodes;
	int			t0 = 0;

	for (int g = 0; g < m->num_group; g++)
		margins[g] = m->base_margin;

	if (m->has_categorical)
	{
		for (int t = 0; t < m->num_trees; t++)
			margins[m->groups[t]] += nodes[TreeLeafGeneral(m, m->roots[t], row)].value;
		return;
	}

	for (; t0 + TREE_LANES <= m->num_trees; t0 += TREE_LANES)
	{
		int32		node[TREE_LANES];
		int			steps = 0;

#pragma GCC unroll 8
		for (int k = 0; k < TREE_LANES; k++)
		{
			node[k] = m->roots[t0 + k];
			steps = Max(steps, m->depths[t0 + k]);
		}
		for (int s = 0; s < steps; s++)
		{
#pragma GCC unroll 8
			for (int k = 0; k < TREE_LANES; k++)
				node[k] = TreeStep(nodes, row, node[k]);
		}
		if (m->num_group == 1)
		{
			float		sum = margins[0];	/* in a register, in tree order */

#pragma GCC unroll 8
			for (int k = 0; k < TREE_LANES; k++)
				sum += nodes[node[k]].value;
			margins[0] = sum;
		}
		else
		{
#pragma GCC unroll 8
			for (int k = 0; k < TREE_LANES; k++)
				margins[m->groups[t0 + k]] += nodes[node[k]].value;
		}
	}
	for (; t0 < m->num_trees; t0++)
	{
		int32		node = m->roots[t0];

		for (int s = 0; s < m->depths[t0]; s++)
			node = TreeStep(nodes, row, node);
		margins[m->groups[t0]] += nodes[node].value;
	}
}

/*
 * XGBoost's logistic function (common::Sigmoid), in float32: its
 * std::min(-x, 88.7f) keeps a NaN margin NaN, so the comparison is written
 * in that order.
 */
float
TreeSigmoid(float x)
{
	float		e = expf(88.7f < -x ? 88.7f : -x);

	return 1.0f / (e + 1.0f + 1e-16f);
}

/* XGBoost's softmax (common::Softmax): float32 terms, a double sum. */
void
TreeSoftmax(float *x, int n)
{
	float		wmax = x[0];
	double		wsum = 0.0;

	for (int i = 1; i < n; i++)
		wmax = fmaxf(x[i], wmax);
	for (int i = 0; i < n; i++)
	{
		x[i] = expf(x[i] - wmax);
		wsum += x[i];
	}
	for (int i = 0; i < n; i++)
		x[i] /= (float) wsum;
}

/* Applies the objective's prediction transform to a row's margins. */
void
TreeModelTransform(const TreeModel *m, float *margins)
{
	switch (m->transform)
	{
		case TREE_IDENTITY:
			break;
		case TREE_LOGISTIC:
			for (int g = 0; g < m->num_group; g++)
				margins[g] = TreeSigmoid(margins[g]);
			break;
		case TREE_SOFTMAX:
			TreeSoftmax(margins, m->num_group);
			break;
	}
}
