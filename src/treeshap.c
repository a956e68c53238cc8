/*
 * treeshap.c — explain for XGBoost tree models (gbtree and dart, whatever
 * the objective: trees.h): XGBoost 1.7's exact TreeSHAP
 * (RegTree::CalculateContributions, pred_contribs) over the compiled trees,
 * with the same float32 operations in the same order, so that the
 * contributions are bit for bit libxgboost's.
 *
 * The difference is memory. libxgboost sizes each call's path buffer by the
 * square of the tree's depth (16 bytes × (depth + 2)(depth + 3)/2: 3 GB at
 * depth 20000), though a node's path holds only the distinct features above
 * it. The buffer here has the size the walk reaches: the same layout (each
 * node's path after its parent's), but a node's path bounded by the number
 * of features, so depth × min(depth, features) elements: linear in the depth
 * for a given number of features (a deep chain of few features, as
 * lossguide grows), and never more than libxgboost's. And the walk is a loop
 * over an explicit stack (XGBoost's is recursive), so no tree is too deep
 * for the server's stack.
 */
#include "postgres.h"

#include "miscadmin.h"

#include "mlops/trees.h"

/* One element of a decision path (XGBoost's PathElement). */
typedef struct PathElement
{
	int			feature;		/* -1 for the root's element */
	float		zero_fraction;
	float		one_fraction;
	float		pweight;
} PathElement;

/* Extends the path by a fraction of one and zero extensions (ExtendPath). */
static void
ExtendPath(PathElement *path, unsigned depth, float zero_fraction, float one_fraction, int feature)
{
	path[depth].feature = feature;
	path[depth].zero_fraction = zero_fraction;
	path[depth].one_fraction = one_fraction;
	path[depth].pweight = depth == 0 ? 1.0f : 0.0f;
	for (int i = (int) depth - 1; i >= 0; i--)
	{
		path[i + 1].pweight += one_fraction * path[i].pweight * (i + 1) / (float) (depth + 1);
		path[i].pweight = zero_fraction * path[i].pweight * (depth - i) / (float) (depth + 1);
	}
}

/* Undoes an earlier extension of the path, the one at path_index (UnwindPath). */
static void
UnwindPath(PathElement *path, unsigned depth, unsigned path_index)
{
	const float one_fraction = path[path_index].one_fraction;
	const float zero_fraction = path[path_index].zero_fraction;
	float		next_one_portion = path[depth].pweight;

	for (int i = (int) depth - 1; i >= 0; --i)
	{
		if (one_fraction != 0)
		{
			const float tmp = path[i].pweight;

			path[i].pweight = next_one_portion * (depth + 1) / (float) ((i + 1) * one_fraction);
			next_one_portion = tmp - path[i].pweight * zero_fraction * (depth - i) / (float) (depth + 1);
		}
		else
			path[i].pweight = (path[i].pweight * (depth + 1)) / (float) (zero_fraction * (depth - i));
	}
	for (unsigned i = path_index; i < depth; ++i)
	{
		path[i].feature = path[i + 1].feature;
		path[i].zero_fraction = path[i + 1].zero_fraction;
		path[i].one_fraction = path[i + 1].one_fraction;
	}
}

/* The total permutation weight were the extension at path_index undone (UnwoundPathSum). */
static float
UnwoundPathSum(const PathElement *path, unsigned depth, unsigned path_index)
{
	const float one_fraction = path[path_index].one_fraction;
	const float zero_fraction = path[path_index].zero_fraction;
	float		next_one_portion = path[depth].pweight;
	float		total = 0;

	for (int i = (int) depth - 1; i >= 0; --i)
	{
		if (one_fraction != 0)
		{
			const float tmp = next_one_portion * (depth + 1) / (float) ((i + 1) * one_fraction);

			total += tmp;
			next_one_portion = path[i].pweight - tmp * zero_fraction * ((depth - i) / (float) (depth + 1));
		}
		else if (zero_fraction != 0)
			total += (path[i].pweight / zero_fraction) / ((depth - i) / (float) (depth + 1));
	}
	return total;
}

/*
 * One visit of RegTree::TreeShap's recursion (with no conditioning), its
 * arguments: the node, the number of features on the path above it, the
 * parent's path (whose elements this node's path follows), and the split's
 * fractions and feature to extend the path with.
 */
typedef struct ShapVisit
{
	int32		node;
	unsigned	depth;
	PathElement *parent_path;
	float		zero_fraction;
	float		one_fraction;
	int			feature;
} ShapVisit;

/*
 * The contributions of the tree at `root` into phi: RegTree::TreeShap's
 * recursion as a loop, visiting the nodes in its order (a split's hot child
 * and its subtree, then its cold child), so that phi adds up the leaves'
 * shares in the same order. The stack holds the visits still to make: at
 * most one cold child per level above the current node, plus that node, so
 * levels + 2 of them. A split's path stays as it is while its children's
 * subtrees are walked (theirs come after it in the buffer).
 */
static void
TreeShap(const TreeModel *m, const float *row, float *phi, int32 root, PathElement *paths, ShapVisit *stack)
{
	int			top = 0;

	stack[top++] = (ShapVisit) {root, 0, paths, 1, 1, -1};
	while (top > 0)
	{
		const ShapVisit v = stack[--top];
		const TreeNode *n = &m->nodes[v.node];
		PathElement *path = v.parent_path + v.depth + 1;
		unsigned	depth = v.depth;

		CHECK_FOR_INTERRUPTS();	/* one deep tree's walk can take seconds */
		memcpy(path, v.parent_path, sizeof(PathElement) * (depth + 1));
		ExtendPath(path, depth, v.zero_fraction, v.one_fraction, v.feature);

		if (n->child[0] == v.node)
		{
			for (unsigned i = 1; i <= depth; ++i)
			{
				const float w = UnwoundPathSum(path, depth, i);
				const PathElement *el = &path[i];

				phi[el->feature] += w * (el->one_fraction - el->zero_fraction) * n->value * 1.0f;
			}
		}
		else
		{
			unsigned	split = n->feature & TREE_FEATURE_MASK;
			int32		hot = TreeModelChild(m, v.node, row);
			int32		cold = hot == n->child[0] ? n->child[1] : n->child[0];
			const float w = m->covers[v.node];
			const float hot_zero_fraction = m->covers[hot] / w;
			const float cold_zero_fraction = m->covers[cold] / w;
			float		incoming_zero_fraction = 1;
			float		incoming_one_fraction = 1;
			unsigned	path_index = 0;

			/* a feature already split on above: undo that split, to redo it here */
			for (; path_index <= depth; ++path_index)
				if ((unsigned) path[path_index].feature == split)
					break;
			if (path_index != depth + 1)
			{
				incoming_zero_fraction = path[path_index].zero_fraction;
				incoming_one_fraction = path[path_index].one_fraction;
				UnwindPath(path, depth, path_index);
				depth -= 1;
			}
			/* the cold child is visited after the hot one's subtree: pushed first */
			stack[top++] = (ShapVisit) {cold, depth + 1, path, cold_zero_fraction * incoming_zero_fraction,
				0, (int) split};
			stack[top++] = (ShapVisit) {hot, depth + 1, path, hot_zero_fraction * incoming_zero_fraction,
				incoming_one_fraction, (int) split};
		}
	}
}

/*
 * Elements of the path buffer a tree `levels` deep reaches, over num_feature
 * features: the root's path starts at element 1, and a node's path (one
 * element per distinct feature above it, plus the root's) starts one element
 * past its parent's; a node at level l has at most min(l, num_feature)
 * features above it.
 */
static Size
PathElements(int levels, int num_feature)
{
	Size		n = 2;

	for (int l = 0; l <= levels; l++)
		n += Min(l, num_feature) + 2;
	return n;
}

/*
 * TreeSHAP of one row over every tree, as XGBoost's PredictContribution adds
 * it up: per output group, each tree's contributions (its mean value as the
 * bias first) into a zeroed block, added to the group's times the tree's
 * weight (dart's weight_drop, 1 for gbtree); then the base margin to the
 * bias.
 */
void
TreeModelContributions(const TreeModel *m, const float *row, float *out)
{
	int			width = m->num_feature + 1;
	float	   *tree = palloc(sizeof(float) * width);
	int			deepest = 0;
	PathElement *paths;
	ShapVisit  *stack;

	Assert(m->covers != NULL);
	for (int t = 0; t < m->num_trees; t++)
		deepest = Max(deepest, m->depths[t]);
	paths = palloc_extended(sizeof(PathElement) * PathElements(deepest, m->num_feature), MCXT_ALLOC_HUGE);
	stack = palloc(sizeof(ShapVisit) * (deepest + 2));
	memset(out, 0, sizeof(float) * width * m->num_group);
	for (int g = 0; g < m->num_group; g++)
	{
		float	   *contribs = out + (Size) g * width;

		for (int t = 0; t < m->num_trees; t++)
		{
			if (m->groups[t] != g)
				continue;
			CHECK_FOR_INTERRUPTS();
			memset(tree, 0, sizeof(float) * width);
			tree[m->num_feature] += m->root_means[t];
			TreeShap(m, row, tree, m->roots[t], paths, stack);
			for (int c = 0; c < width; c++)
				contribs[c] += tree[c] * (m->tree_weights ? m->tree_weights[t] : 1.0f);
		}
		contribs[m->num_feature] += m->base_margin;
	}
	pfree(tree);
	pfree(paths);
	pfree(stack);
}
