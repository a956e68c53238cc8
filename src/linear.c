/*
 * linear.c — least squares in one pass without holding the rows: centred
 * cross products accumulated in blocks with BLAS (dgemv for the block means,
 * dsyrk for the block's cross products), merged with Chan's formulas, solved
 * with LAPACK (Cholesky of the unit-diagonal scaled system; eigenvalues for
 * the rank test and the condition number). Also the design encoding and the
 * trained model (linear-json artifact, predictions) shared by the linear
 * algorithms, and the SQL aggregate mlops.linear_stats() with its
 * combine/serialise functions for parallel query.
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/pg_list.h"
#include "nodes/primnodes.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"

#include <cblas.h>

#include "mlops/args.h"
#include "mlops/compensated_sum.h"
#include "mlops/float_text.h"
#include "mlops/linear.h"
#include "mlops/scoring.h"
#include "mlops/source.h"
#include "mlops/train.h"

/* LAPACK last: <complex.h>, which it includes, defines "I". */
#include <lapack.h>

/* Reciprocal condition below which the scaled system is treated as singular. */
#define LINEAR_RCOND 1e-12

/*
 * Reciprocal condition below which train() refines the solution with passes
 * over the training rows: the normal equations lose about 1e-16 / rcond of
 * the coefficients' precision (relative), 1e-8 at this threshold.
 */
#define LINEAR_REFINE_RCOND 1e-8

/*
 * Magnitude (about the square root of DBL_MIN) below which a column's values
 * have squares outside float8's normal range: a column whose sum of squares
 * came out 0 with a mean below it may differ in values that underflowed.
 */
#define LINEAR_TINY 1.5e-154

/* At most this many refinement passes (each one reads the source). */
#define LINEAR_REFINE_PASSES 4

/*
 * Multiply-adds of one BLAS call over a block of rows (~0.1 s): interrupts
 * are checked between blocks (LinearBlockRows).
 */
#define LINEAR_BLOCK_FLOPS 1e9

/*
 * Centred sufficient statistics of rows z = (x_1..x_k, y): the count, the mean
 * of every column and the centred cross-product matrix Σ (z - mean)(z - mean)'
 * (upper triangle, row-major, (k+1)²). Blocks and states merge exactly with
 * Chan's pairwise formulas, so workers and shards can each accumulate a part.
 */
typedef struct LinearState
{
	int			k;				/* inputs; the matrices have k + 1 columns */
	double		n;
	double	   *mean;			/* k + 1 */
	double	   *m;				/* (k + 1) × (k + 1), upper triangle */
} LinearState;

/* A fitted linear model (one output) with, for OLS, the MADlib-style statistics. */
struct LinearFit
{
	int			k;
	double		intercept;
	double	   *coef;
	bool		has_stats;
	double	   *std_err;		/* k + 1, intercept first */
	double	   *t_stat;
	double	   *p_value;
	double		r2;
	double		adj_r2;
	double		condition_number;
};

/*
 * Computes from the training rows, at the coefficients coef (k values), the
 * gradient g = Xc'(yc - Xc·coef) of the centred least-squares problem (Xc,
 * yc: the design and target centred on their means), accurately enough to
 * refine a solution of the normal equations (see RefineSolution).
 */
typedef void (*LinearGradientFn) (void *arg, const double *coef, double *g);

/* P(T > t) for Student's t distribution (below, with the incomplete beta function it needs). */
static double StudentTSurvival(double t, double df);

/* A new, empty state for k inputs. */
static LinearState *
LinearStateCreate(int k)
{
	LinearState *s = palloc0(sizeof(LinearState));

	s->k = k;
	s->mean = palloc0(sizeof(double) * (k + 1));
	s->m = palloc_extended(sizeof(double) * (k + 1) * (k + 1), MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	return s;
}

/*
 * Merges a group (count nb, mean mb, centred cross products already added to
 * s->m) into the state: the cross products gain na·nb/n (mb - ma)(mb - ma)'
 * and the mean moves towards mb by nb/n.
 */
static void
MergeMeans(LinearState *s, double nb, const double *mb)
{
	int			d = s->k + 1;
	double		n = s->n + nb;
	double	   *delta = palloc(sizeof(double) * d);

	for (int i = 0; i < d; i++)
		delta[i] = mb[i] - s->mean[i];
	if (s->n > 0)
		cblas_dsyr(CblasRowMajor, CblasUpper, d, s->n * nb / n, delta, 1, s->m, d);
	for (int i = 0; i < d; i++)
		s->mean[i] += delta[i] * (nb / n);
	s->n = n;
	pfree(delta);
}

/*
 * Adds a block of rows (rows × (k + 1), row-major, y last); the block is
 * overwritten. The rows are first shifted by the block's first row, so that
 * a column constant in the block has a mean of exactly that constant and
 * centred values of exactly 0 (a mean of the raw values, rounded, would leave
 * it a variance of rounding noise, which the solve would fit as a feature),
 * and so that large offsets cancel before any rounding.
 */
static void
LinearStateAddBlock(LinearState *s, double *block, int rows)
{
	int			d = s->k + 1;
	double	   *ones,
			   *shift,
			   *bmean;

	if (rows <= 0)
		return;
	ones = palloc(sizeof(double) * rows);
	shift = palloc(sizeof(double) * d);
	bmean = palloc(sizeof(double) * d);
	for (int i = 0; i < rows; i++)
		ones[i] = 1.0;
	memcpy(shift, block, sizeof(double) * d);
	for (int r = 0; r < rows; r++)
		for (int i = 0; i < d; i++)
			block[(Size) r * d + i] -= shift[i];
	cblas_dgemv(CblasRowMajor, CblasTrans, rows, d, 1.0 / rows, block, d, ones, 1, 0.0, bmean, 1);
	for (int r = 0; r < rows; r++)
		for (int i = 0; i < d; i++)
			block[(Size) r * d + i] -= bmean[i];
	cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, d, rows, 1.0, block, d, 1.0, s->m, d);
	for (int i = 0; i < d; i++)
		bmean[i] += shift[i];
	MergeMeans(s, rows, bmean);
	pfree(ones);
	pfree(shift);
	pfree(bmean);
}

/* Merges state b into state a. */
static void
LinearStateMerge(LinearState *a, const LinearState *b)
{
	int			d = a->k + 1;

	if (b->n == 0)
		return;
	for (int i = 0; i < d; i++)
		for (int j = i; j < d; j++)
			a->m[i * d + j] += b->m[i * d + j];
	MergeMeans(a, b->n, b->mean);
}

/* Eigenvalues (ascending) of a symmetric k × k matrix given by its upper triangle (row-major); vectors optional. */
static double *
SymmetricEigen(const double *a, int k, double **vectors)
{
	double	   *w = palloc(sizeof(double) * k);
	double	   *copy = palloc_extended(sizeof(double) * k * k, MCXT_ALLOC_HUGE);
	char		jobz = vectors ? 'V' : 'N',
				uplo = 'L';		/* row-major upper = column-major lower */
	lapack_int	n = k,
				lwork = -1,
				liwork = -1,
				info,
				iwork_size;
	double		work_size;
	double	   *work;
	lapack_int *iwork;

	memcpy(copy, a, sizeof(double) * k * k);
	LAPACK_dsyevd(&jobz, &uplo, &n, copy, &n, w, &work_size, &lwork, &iwork_size, &liwork, &info);
	lwork = (lapack_int) work_size;
	liwork = iwork_size;
	work = palloc_extended(sizeof(double) * Max(lwork, 1), MCXT_ALLOC_HUGE);
	iwork = palloc_extended(sizeof(lapack_int) * Max(liwork, 1), MCXT_ALLOC_HUGE);
	LAPACK_dsyevd(&jobz, &uplo, &n, copy, &n, w, work, &lwork, iwork, &liwork, &info);
	if (info != 0)
		elog(ERROR, "dsyevd failed: info %d", (int) info);
	if (vectors)
		*vectors = copy;		/* column-major: vector j is copy[j*k .. j*k+k-1] */
	return w;
}

/*
 * Raises 22000 naming the terms of the design that are (nearly) linearly
 * dependent; with a ridge penalty (alpha > 0) too small to make them
 * independent, the hint is to raise it.
 */
static void
ReportCollinear(const double *scaled, int k, char **terms, double alpha, const char *why)
{
	double	   *vectors;
	StringInfoData names;
	double		biggest = 0;

	(void) SymmetricEigen(scaled, k, &vectors);
	for (int i = 0; i < k; i++)
		biggest = Max(biggest, fabs(vectors[i]));
	initStringInfo(&names);
	for (int i = 0; i < k; i++)
	{
		if (fabs(vectors[i]) < 0.1 * biggest)
			continue;
		appendStringInfo(&names, "%s\"%s\"", names.len > 0 ? ", " : "", terms[i]);
	}
	ereport(ERROR,
			(errcode(ERRCODE_DATA_EXCEPTION),
			 errmsg("features are collinear"),
			 errdetail("%s Terms involved: %s.", why, names.data),
			 alpha > 0 ? errhint("Leave out one of the dependent features, or raise alpha.")
			 : errhint("Leave out one of the dependent features, or regularise: alpha > 0 (train()'s algorithm 'ridge', or linear_fit's alpha).")));
}

/*
 * Raises 22003 when the statistics are not finite: a term or the target had
 * an infinite value (linear_stats takes them; train() refuses them when it
 * reads the rows), or values so large that their centred squares overflow.
 * Without it the solution would be NaN, or the term reported as constant.
 * It names the term (or the target) whose own mean or sum of squares is not
 * finite: an infinite column makes every cross product with it NaN, so the
 * first row of the matrix that is not finite may belong to an earlier term.
 * Only when every one is finite does it name the first term of a cross
 * product that overflowed.
 */
static void
CheckFinite(const LinearState *s, char **terms)
{
	int			d = s->k + 1;
	int			bad = -1;

	for (int i = 0; i < d && bad < 0; i++)
		if (!isfinite(s->mean[i]) || !isfinite(s->m[i * d + i]))
			bad = i;
	for (int i = 0; i < d && bad < 0; i++)
		for (int j = i + 1; j < d && bad < 0; j++)
			if (!isfinite(s->m[i * d + j]))
				bad = i;
	if (bad >= 0)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("the least-squares statistics of %s%s%s are not finite",
						bad < s->k ? "term \"" : "the target", bad < s->k ? terms[bad] : "",
						bad < s->k ? "\"" : ""),
				 errdetail("A value is infinite, or values are too large for the sum of their squares to be a float8."),
				 errhint("Leave such rows out, or rescale the column.")));
}

/*
 * The condition number of X'X with the intercept column, as MADlib reports
 * it. X'X = M + n·μμ' (μ = (1, means)) is built divided by 4^e, e the binary
 * exponent of the largest mean: the eigenvalues' ratio is the same, and n·μμ'
 * stays finite when the means are near the float8 range (a column of values
 * around 1e155 made it infinite, and the eigensolver fail).
 */
static double
ConditionNumber(const LinearState *s)
{
	int			d = s->k + 1;
	double	   *g = palloc_extended(sizeof(double) * d * d, MCXT_ALLOC_HUGE);
	double	   *mu = palloc(sizeof(double) * d);
	double		biggest = 1.0;
	double	   *w;
	int			e;

	for (int i = 0; i < s->k; i++)
		biggest = Max(biggest, fabs(s->mean[i]));
	e = ilogb(biggest);
	mu[0] = ldexp(1.0, -e);
	for (int i = 1; i < d; i++)
		mu[i] = ldexp(s->mean[i - 1], -e);
	for (int i = 0; i < d; i++)
		for (int j = i; j < d; j++)
			g[i * d + j] = (i == 0 ? 0.0 : ldexp(s->m[(i - 1) * d + (j - 1)], -2 * e)) + s->n * mu[i] * mu[j];
	w = SymmetricEigen(g, d, NULL);
	return w[0] > 0 ? w[d - 1] / w[0] : INFINITY;
}

/*
 * Iterative refinement of the solution b of the scaled system (Cholesky
 * factor in factor): the normal equations square the condition number, so
 * nearly collinear features lose digits that the residuals of the rows, read
 * again, give back. Each pass computes the gradient at the current
 * coefficients (less alpha·coef for ridge), solves for the correction with
 * the same factor and adds it; it stops once the correction is negligible or
 * no longer shrinking (a correction larger than the previous one is undone).
 */
static void
RefineSolution(const double *factor, double *b, const double *scale, int k, double alpha,
			   LinearGradientFn gradient, void *arg)
{
	double	   *coef = palloc(sizeof(double) * k);
	double	   *g = palloc(sizeof(double) * k);
	double		last = INFINITY;
	lapack_int	n = k,
				one = 1,
				info;
	char		uplo = 'L';

	for (int pass = 0; pass < LINEAR_REFINE_PASSES; pass++)
	{
		double		step = 0,
					size = 0;

		for (int i = 0; i < k; i++)
			coef[i] = b[i] / scale[i];
		gradient(arg, coef, g);
		for (int i = 0; i < k; i++)
			g[i] = (g[i] - alpha * coef[i]) / scale[i];
		LAPACK_dpotrs(&uplo, &n, &one, factor, &n, g, &n, &info);
		if (info != 0)
			elog(ERROR, "dpotrs failed: info %d", (int) info);
		for (int i = 0; i < k; i++)
		{
			step = Max(step, fabs(g[i]));
			size = Max(size, fabs(b[i] + g[i]));
		}
		if (!(step <= last))
			break;
		for (int i = 0; i < k; i++)
			b[i] += g[i];
		if (step <= 4 * DBL_EPSILON * size || step > 0.5 * last)
			break;
		last = step;
	}
	pfree(coef);
	pfree(g);
}

/*
 * Solves for the coefficients: OLS (alpha 0, with statistics) or ridge (alpha
 * > 0, intercept not penalised), on the centred system, scaled to a unit
 * diagonal for the Cholesky factorisation. With a gradient function (train(),
 * which can read its rows again), an ill-conditioned system's solution is
 * refined (RefineSolution).
 */
static LinearFit *
LinearStateSolve(const LinearState *s, double alpha, char **terms, LinearGradientFn gradient,
				 void *gradient_arg)
{
	int			k = s->k,
				d = k + 1;
	LinearFit  *fit = palloc0(sizeof(LinearFit));
	double	   *a = palloc_extended(sizeof(double) * Max((Size) k * k, 1), MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	double	   *b = palloc(sizeof(double) * Max(k, 1));
	double	   *scale = palloc(sizeof(double) * Max(k, 1));
	double		syy = s->m[k * d + k];
	double		sse;
	lapack_int	n = k,
				one = 1,
				info;
	char		uplo = 'L';

	fit->k = k;
	fit->coef = palloc0(sizeof(double) * Max(k, 1));
	CheckFinite(s, terms);
	if (alpha == 0 && s->n < k + 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("more features than rows"),
				 errdetail_plural("The design has %d columns with its intercept, and only %.0f training row.",
								  "The design has %d columns with its intercept, and only %.0f training rows.",
								  (unsigned long) s->n, k + 1, s->n),
				 errhint("Use fewer features, more rows, or alpha > 0 (train()'s algorithm 'ridge', or linear_fit's alpha).")));
	for (int i = 0; i < k; i++)
	{
		double		diag = s->m[i * d + i] + alpha;

		/* values so near 0 that the squares of their spread underflow read as constant: said so */
		if (!(diag > 0) && s->mean[i] != 0 && fabs(s->mean[i]) < LINEAR_TINY)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("feature \"%s\" is constant in the training rows", terms[i]),
					 errdetail("Its values are within about 1e-154 of 0, where the squares of their differences are below float8's range: it reads as constant whether or not it is."),
					 errhint("Rescale the column, or leave the feature out.")));
		if (!(diag > 0))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("feature \"%s\" is constant in the training rows", terms[i]),
					 errdetail("Its coefficient is not determined: it is collinear with the intercept."),
					 errhint("Leave the feature out, or regularise: alpha > 0 (train()'s algorithm 'ridge', or linear_fit's alpha).")));
		scale[i] = sqrt(diag);
	}
	for (int i = 0; i < k; i++)
	{
		for (int j = i; j < k; j++)
			a[i * k + j] = (s->m[i * d + j] + (i == j ? alpha : 0.0)) / (scale[i] * scale[j]);
		b[i] = s->m[i * d + k] / scale[i];
	}
	if (k > 0)
	{
		double	   *w = SymmetricEigen(a, k, NULL);

		if (w[0] <= LINEAR_RCOND * w[k - 1])
			ReportCollinear(a, k, terms, alpha, "The scaled normal equations are singular to working precision.");
		LAPACK_dpotrf(&uplo, &n, a, &n, &info);
		if (info != 0)
			ReportCollinear(a, k, terms, alpha, "The Cholesky factorisation of the normal equations failed.");
		LAPACK_dpotrs(&uplo, &n, &one, a, &n, b, &n, &info);
		if (info != 0)
			elog(ERROR, "dpotrs failed: info %d", (int) info);
		if (gradient != NULL && w[0] < LINEAR_REFINE_RCOND * w[k - 1])
			RefineSolution(a, b, scale, k, alpha, gradient, gradient_arg);
	}
	fit->intercept = s->mean[k];
	sse = syy;
	for (int i = 0; i < k; i++)
	{
		fit->coef[i] = b[i] / scale[i];
		fit->intercept -= fit->coef[i] * s->mean[i];
		sse -= fit->coef[i] * s->m[i * d + k];
	}
	/* the difference of two sums of squares: rounding can take an exact fit's below 0 (and r2 above 1) */
	sse = Max(sse, 0.0);
	if (alpha != 0)
		return fit;

	/* OLS statistics: covariance sigma² (X'X)⁻¹, from the inverse of the centred system */
	{
		double		df = s->n - k - 1;
		double		sigma2 = sse / df;
		double		var_intercept = 1.0 / s->n;

		fit->has_stats = true;
		fit->std_err = palloc(sizeof(double) * d);
		fit->t_stat = palloc(sizeof(double) * d);
		fit->p_value = palloc(sizeof(double) * d);
		if (k > 0)
		{
			LAPACK_dpotri(&uplo, &n, a, &n, &info);
			if (info != 0)
				elog(ERROR, "dpotri failed: info %d", (int) info);
		}
		/* a now holds the inverse of the scaled system in its upper triangle (row-major) */
		for (int i = 0; i < k; i++)
			for (int j = 0; j < k; j++)
			{
				double		inv = (i <= j ? a[i * k + j] : a[j * k + i]) / (scale[i] * scale[j]);

				var_intercept += s->mean[i] * inv * s->mean[j];
				if (i == j)
					fit->std_err[i + 1] = sqrt(sigma2 * inv);
			}
		fit->std_err[0] = sqrt(sigma2 * var_intercept);
		for (int i = 0; i < d; i++)
		{
			double		est = i == 0 ? fit->intercept : fit->coef[i - 1];

			fit->t_stat[i] = est / fit->std_err[i];
			fit->p_value[i] = df > 0 ? 2.0 * StudentTSurvival(fabs(fit->t_stat[i]), df) : NAN;
		}
		fit->r2 = syy > 0 ? 1.0 - sse / syy : NAN;
		fit->adj_r2 = df > 0 ? 1.0 - (1.0 - fit->r2) * (s->n - 1) / df : NAN;
		fit->condition_number = ConditionNumber(s);
	}
	return fit;
}

/*
 * The continued fraction of the regularised incomplete beta function
 * (modified Lentz's method), valid for x < (a + 1) / (a + b + 2).
 */
static double
BetaContinuedFraction(double a, double b, double x)
{
	const double tiny = 1e-300;
	double		c = 1.0,
				d = 1.0 - (a + b) * x / (a + 1.0),
				h;

	if (fabs(d) < tiny)
		d = tiny;
	d = 1.0 / d;
	h = d;
	for (int m = 1; m <= 10000; m++)
	{
		double		m2 = 2.0 * m;
		double		num = m * (b - m) * x / ((a + m2 - 1.0) * (a + m2));
		double		delta;

		d = 1.0 + num * d;
		d = fabs(d) < tiny ? tiny : d;
		c = 1.0 + num / c;
		c = fabs(c) < tiny ? tiny : c;
		d = 1.0 / d;
		h *= d * c;
		num = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1.0));
		d = 1.0 + num * d;
		d = fabs(d) < tiny ? tiny : d;
		c = 1.0 + num / c;
		c = fabs(c) < tiny ? tiny : c;
		d = 1.0 / d;
		delta = d * c;
		h *= delta;
		if (fabs(delta - 1.0) < 1e-16)
			break;
	}
	return h;
}

/* The regularised incomplete beta function I_x(a, b). */
static double
IncompleteBeta(double a, double b, double x)
{
	double		front;

	if (x <= 0)
		return 0;
	if (x >= 1)
		return 1;
	front = exp(lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x));
	if (x < (a + 1.0) / (a + b + 2.0))
		return front * BetaContinuedFraction(a, b, x) / a;
	return 1.0 - front * BetaContinuedFraction(b, a, 1.0 - x) / b;
}

/* The survival function of Student's t distribution, P(T > t), df degrees of freedom. */
static double
StudentTSurvival(double t, double df)
{
	double		tail;

	if (isnan(t))
		return NAN;
	tail = 0.5 * IncompleteBeta(df / 2.0, 0.5, df / (df + t * t));
	return t >= 0 ? tail : 1.0 - tail;
}

/* The number of columns of the design of a dataset (numeric inputs + one-hot indicators). */
int
LinearDesignWidth(const Dataset *ds)
{
	int			width = 0;

	for (int j = 0; j < ds->ninputs; j++)
		width += ds->inputs[j].kind == INPUT_NUMERIC ? 1 : ds->inputs[j].ncategories - 1;
	return width;
}

/* The names of the design's columns ("name" or "name=category"). */
char	  **
LinearDesignTerms(const Dataset *ds)
{
	char	  **terms = palloc(sizeof(char *) * Max(LinearDesignWidth(ds), 1));
	int			t = 0;

	for (int j = 0; j < ds->ninputs; j++)
	{
		const DatasetInput *in = &ds->inputs[j];

		if (in->kind == INPUT_NUMERIC)
			terms[t++] = in->name;
		else
			for (int c = 1; c < in->ncategories; c++)
				terms[t++] = psprintf("%s=%s", in->name, in->categories[c]);
	}
	return terms;
}

/* Encodes one input vector (as DatasetBatch gives it) into a design row, imputing NULLs. */
void
LinearEncode(const Dataset *ds, const double *x, double *out)
{
	int			t = 0;

	/* in locals: the stores below would make the compiler reload them */
	const DatasetInput *inputs = ds->inputs;
	int			ninputs = ds->ninputs;

	for (int j = 0; j < ninputs; j++)
	{
		const DatasetInput *in = &inputs[j];
		double		v = isnan(x[j]) ? DatasetImputeValue(ds, j) : x[j];

		if (in->kind == INPUT_NUMERIC)
			out[t++] = v;
		else
			for (int c = 1; c < in->ncategories; c++)
				out[t++] = (int) v == c ? 1.0 : 0.0;
	}
}

/* Appends a JSON array of n float8s. */
static void
AppendJsonNumbers(StringInfo out, const double *v, int n)
{
	appendStringInfoChar(out, '[');
	for (int i = 0; i < n; i++)
	{
		if (i > 0)
			appendStringInfoString(out, ", ");
		AppendJsonFloat8(out, v[i]);
	}
	appendStringInfoChar(out, ']');
}

/* Appends the OLS statistics as JSON members (std_err .. condition_number). */
static void
AppendFitStats(StringInfo out, const LinearFit *fit)
{
	int			d = fit->k + 1;

	appendStringInfoString(out, "\"std_err\": ");
	AppendJsonNumbers(out, fit->std_err, d);
	appendStringInfoString(out, ", \"t_stat\": ");
	AppendJsonNumbers(out, fit->t_stat, d);
	appendStringInfoString(out, ", \"p_value\": ");
	AppendJsonNumbers(out, fit->p_value, d);
	appendStringInfoString(out, ", \"r2\": ");
	AppendJsonFloat8(out, fit->r2);
	appendStringInfoString(out, ", \"adj_r2\": ");
	AppendJsonFloat8(out, fit->adj_r2);
	appendStringInfoString(out, ", \"condition_number\": ");
	AppendJsonFloat8(out, fit->condition_number);
}

/*
 * Writes the linear-json artifact (docs/model-format.md): nout outputs,
 * intercept[nout], coef[nout × width] row-major, stats may be NULL.
 */
static void
LinearArtifactJson(const Dataset *ds, const char *algorithm, int nout,
				   const double *intercept, const double *coef,
				   const LinearFit *stats, StringInfo out)
{
	int			width = LinearDesignWidth(ds);
	char	  **terms = LinearDesignTerms(ds);

	appendStringInfoString(out, "{\"format\": \"mlops-linear\", \"algorithm\": ");
	escape_json(out, algorithm);
	appendStringInfo(out, ", \"task\": \"%s\", \"terms\": [",
					 ds->classification ? "classification" : "regression");
	/* JSON is UTF-8 (convert_from reads it back so), whatever the database's encoding */
	for (int t = 0; t < width; t++)
	{
		if (t > 0)
			appendStringInfoString(out, ", ");
		escape_json(out, ColumnNameToUtf8(terms[t]));
	}
	appendStringInfoString(out, "], \"intercept\": ");
	AppendJsonNumbers(out, intercept, nout);
	appendStringInfoString(out, ", \"coef\": [");
	for (int o = 0; o < nout; o++)
	{
		if (o > 0)
			appendStringInfoString(out, ", ");
		AppendJsonNumbers(out, coef + (Size) o * width, width);
	}
	appendStringInfoChar(out, ']');
	if (ds->classification)
	{
		appendStringInfoString(out, ", \"classes\": ");
		AppendJsonNumbers(out, ds->classes, ds->nclasses);
	}
	if (stats && stats->has_stats)
	{
		appendStringInfoString(out, ", \"stats\": {");
		AppendFitStats(out, stats);
		appendStringInfoChar(out, '}');
	}
	appendStringInfoChar(out, '}');
}

/* ------------------------------------------------------------------------
 * The SQL aggregate mlops.linear_stats(y float8, x float8[]) → bytea and
 * mlops.linear_fit(stats bytea, alpha float8) → jsonb.
 * ------------------------------------------------------------------------ */

/* Rows buffered by the aggregate before a dsyrk (fewer for wide rows: LinearBlockRows). */
#define AGG_BLOCK_ROWS 256

/*
 * At most this many inputs in linear_stats: its value, (k+2)(k+1)/2 + k + 2
 * float8s, must fit in a bytea (1 GB), and its state holds (k+1)² of them.
 */
#define LINEAR_STATS_MAX_INPUTS 10000

/* The aggregate's transition state: the statistics and a block of buffered rows. */
typedef struct LinearAggState
{
	LinearState *stats;
	double	   *block;
	int			rows;
	int			capacity;		/* rows the block holds */
} LinearAggState;

/* See linear.h. */
int64
LinearBlockRows(double per_row, double max_rows)
{
	double		rows = LINEAR_BLOCK_FLOPS / Max(per_row, 1.0);

	return (int64) Max(1.0, Min(rows, max_rows));
}

/* Rows of d values folded into the cross products in one dsyrk (d² multiply-adds a row). */
static int
BlockRows(int d, int max_rows)
{
	return (int) LinearBlockRows((double) d * d, max_rows);
}

/* A new aggregate state for k inputs, in the current (aggregate) memory context. */
static LinearAggState *
AggStateCreate(int k)
{
	LinearAggState *st = palloc0(sizeof(LinearAggState));

	st->stats = LinearStateCreate(k);
	st->capacity = BlockRows(k + 1, AGG_BLOCK_ROWS);
	st->block = palloc(sizeof(double) * st->capacity * (k + 1));
	return st;
}

/* Folds the buffered rows into the statistics. */
static void
AggFlush(LinearAggState *st)
{
	LinearStateAddBlock(st->stats, st->block, st->rows);
	st->rows = 0;
}

/* The aggregate's memory context, or an error when called outside an aggregate. */
static MemoryContext
AggContext(FunctionCallInfo fcinfo)
{
	MemoryContext agg;

	if (!AggCheckCallContext(fcinfo, &agg))
		elog(ERROR, "linear_stats support function called in non-aggregate context");
	return agg;
}

/*
 * Raises 2202E when rows (or linear_stats values, merged) of k inputs meet a
 * state of k_state: every row of an aggregate has one width.
 */
static void
CheckWidth(int k, int k_state, bool values)
{
	if (k != k_state)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 values ? errmsg_plural("linear_stats value of %d input, previous values had %d",
										"linear_stats value of %d inputs, previous values had %d", k, k, k_state)
				 : errmsg_plural("x has %d element, previous rows had %d",
								 "x has %d elements, previous rows had %d", k, k, k_state)));
}

PG_FUNCTION_INFO_V1(linear_stats_accum);

/*
 * linear_stats_accum(state, y, x) — adds one row; rows with a NULL or NaN
 * target or input are skipped (as NULL targets are in train()), and the
 * state stays SQL NULL until a row is kept: linear_stats of skipped rows
 * only is NULL, as of no rows.
 */
Datum
linear_stats_accum(PG_FUNCTION_ARGS)
{
	MemoryContext agg = AggContext(fcinfo);
	LinearAggState *st = PG_ARGISNULL(0) ? NULL : (LinearAggState *) PG_GETARG_POINTER(0);
	ArrayType  *arr;
	double		y;
	Datum	   *elems;
	bool	   *nulls;
	int			k;
	bool		skip;
	double	   *row;

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
	{
		if (st == NULL)			/* no row yet: the state stays SQL NULL */
			PG_RETURN_NULL();
		PG_RETURN_POINTER(st);
	}
	y = PG_GETARG_FLOAT8(1);
	arr = PG_GETARG_ARRAYTYPE_P(2);
	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("x must be a one-dimensional array")));
	deconstruct_array(arr, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &elems, &nulls, &k);
	if (k > LINEAR_STATS_MAX_INPUTS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("x has %d elements, more than linear_stats allows (%d)", k, LINEAR_STATS_MAX_INPUTS)));
	skip = isnan(y);
	for (int i = 0; i < k && !skip; i++)
		skip = nulls[i] || isnan(DatumGetFloat8(elems[i]));
	if (st == NULL)
	{
		MemoryContext old;

		if (skip)				/* no row kept yet: NULL, as for NULL targets */
			PG_RETURN_NULL();
		old = MemoryContextSwitchTo(agg);
		st = AggStateCreate(k);
		MemoryContextSwitchTo(old);
	}
	else
		CheckWidth(k, st->stats->k, false);
	if (skip)
		PG_RETURN_POINTER(st);
	row = st->block + (Size) st->rows * (k + 1);
	for (int i = 0; i < k; i++)
		row[i] = DatumGetFloat8(elems[i]);
	row[k] = y;
	if (++st->rows == st->capacity)
		AggFlush(st);
	PG_RETURN_POINTER(st);
}

PG_FUNCTION_INFO_V1(linear_stats_combine);

/*
 * linear_stats_combine(a, b) — merges two partial states (parallel workers,
 * partitionwise aggregation), of linear_stats or of linear_stats_merge: a
 * width that differs is told as the serial plan tells it, in terms of rows
 * of x or of linear_stats values (linear_stats_merge's one argument, bytea).
 */
Datum
linear_stats_combine(PG_FUNCTION_ARGS)
{
	MemoryContext agg = AggContext(fcinfo);
	LinearAggState *a = PG_ARGISNULL(0) ? NULL : (LinearAggState *) PG_GETARG_POINTER(0);
	LinearAggState *b = PG_ARGISNULL(1) ? NULL : (LinearAggState *) PG_GETARG_POINTER(1);
	Aggref	   *aggref = AggGetAggref(fcinfo);
	bool		values = aggref && linitial_oid(aggref->aggargtypes) == BYTEAOID;

	if (b == NULL)
	{
		if (a == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(a);
	}
	AggFlush(b);
	if (a == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(agg);

		a = AggStateCreate(b->stats->k);
		MemoryContextSwitchTo(old);
	}
	else
		CheckWidth(b->stats->k, a->stats->k, values);
	AggFlush(a);
	LinearStateMerge(a->stats, b->stats);
	PG_RETURN_POINTER(a);
}

/* Header of the serialised state; then mean[k+1] and the upper triangle row by row. */
typedef struct LinearStateWire
{
	int32		vl_len_;
	int32		k;
	double		n;
} LinearStateWire;

PG_FUNCTION_INFO_V1(linear_stats_serialize);

/*
 * linear_stats_serialize(state) — the state as bytea (also the aggregate's
 * final value, the input of linear_fit and of a shard-level merge).
 */
Datum
linear_stats_serialize(PG_FUNCTION_ARGS)
{
	LinearAggState *st = (LinearAggState *) PG_GETARG_POINTER(0);
	int			d = st->stats->k + 1;
	Size		len = sizeof(LinearStateWire) + sizeof(double) * (d + (Size) d * (d + 1) / 2);
	LinearStateWire *w;
	double	   *p;

	AggFlush(st);
	w = palloc(len);
	SET_VARSIZE(w, len);
	w->k = st->stats->k;
	w->n = st->stats->n;
	p = (double *) (w + 1);
	memcpy(p, st->stats->mean, sizeof(double) * d);
	p += d;
	for (int i = 0; i < d; i++)
		for (int j = i; j < d; j++)
			*p++ = st->stats->m[i * d + j];
	PG_RETURN_BYTEA_P(w);
}

/* Raises 22P03: a bytea that is not a linear_stats value. */
static void
InvalidState(const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
			 errmsg("invalid linear_stats state"),
			 errdetail("%s", why)));
}

/*
 * Reads a serialised state back, checking what any aggregate's value
 * satisfies: its size, its row count (a whole number, at least 0), sums of
 * squares that are not negative, all zeros for no rows, and cross products
 * within the Cauchy–Schwarz bound sqrt(s_ii·s_jj) (with a factor 2 for
 * rounding, and squares that underflowed read as DBL_MIN): beyond it the
 * scaled system the solver factors overflows. Raises 22P03 otherwise, rather
 * than merging a hand-made or damaged value into others. Non-finite numbers
 * pass: an infinite input gives them, and linear_fit reports them (22003).
 */
static LinearState *
StateFromBytea(bytea *b)
{
	LinearStateWire *w = (LinearStateWire *) b;
	LinearState *s;
	const double *p;
	int			d;

	if (VARSIZE(b) < sizeof(LinearStateWire) || w->k < 0 || w->k > LINEAR_STATS_MAX_INPUTS ||
		VARSIZE(b) != sizeof(LinearStateWire) +
		sizeof(double) * ((w->k + 1) + (Size) (w->k + 1) * (w->k + 2) / 2))
		InvalidState("Its size is not that of the statistics of any number of inputs.");
	if (!(w->n >= 0 && w->n <= 9007199254740992.0 && w->n == floor(w->n)))
		InvalidState("Its row count is not a whole number of at least 0.");
	s = LinearStateCreate(w->k);
	d = w->k + 1;
	s->n = w->n;
	p = (const double *) (w + 1);
	for (int i = 0; i < d; i++)
	{
		s->mean[i] = *p++;
		if (s->n == 0 && s->mean[i] != 0)
			InvalidState("It has no rows but means that are not 0.");
	}
	for (int i = 0; i < d; i++)
		for (int j = i; j < d; j++)
		{
			double		v = *p++;

			if (i == j && v < 0)
				InvalidState("A sum of squares is negative.");
			if (s->n == 0 && v != 0)
				InvalidState("It has no rows but sums of squares or products that are not 0.");
			s->m[i * d + j] = v;
		}
	for (int i = 0; i < d; i++)
		for (int j = i + 1; j < d; j++)
		{
			double		mij = s->m[i * d + j],
						mii = s->m[i * d + i],
						mjj = s->m[j * d + j];

			/* non-finite ones are linear_fit's to report */
			if (isfinite(mij) && isfinite(mii) && isfinite(mjj) &&
				fabs(mij) > 2.0 * sqrt(Max(mii, DBL_MIN)) * sqrt(Max(mjj, DBL_MIN)))
				InvalidState("A cross product is larger than the sums of squares of its two columns allow.");
		}
	return s;
}

PG_FUNCTION_INFO_V1(linear_stats_deserialize);

/* linear_stats_deserialize(bytea, internal) — a state from its serialised form. */
Datum
linear_stats_deserialize(PG_FUNCTION_ARGS)
{
	MemoryContext agg = AggContext(fcinfo);
	MemoryContext old = MemoryContextSwitchTo(agg);
	bytea	   *b = PG_GETARG_BYTEA_P(0);
	LinearState *s = StateFromBytea(b);
	LinearAggState *st = palloc0(sizeof(LinearAggState));

	st->stats = s;
	st->capacity = BlockRows(s->k + 1, AGG_BLOCK_ROWS);
	st->block = palloc(sizeof(double) * st->capacity * (s->k + 1));
	MemoryContextSwitchTo(old);
	PG_RETURN_POINTER(st);
}

PG_FUNCTION_INFO_V1(linear_stats_merge_accum);

/*
 * linear_stats_merge_accum(state, stats bytea) — folds a finished linear_stats
 * value (e.g. one shard's, fetched through postgres_fdw) into the state: the
 * transition of mlops.linear_stats_merge, whose final value is again a
 * linear_stats value. NULL inputs (a shard without rows) are skipped.
 */
Datum
linear_stats_merge_accum(PG_FUNCTION_ARGS)
{
	MemoryContext agg = AggContext(fcinfo);
	LinearAggState *st = PG_ARGISNULL(0) ? NULL : (LinearAggState *) PG_GETARG_POINTER(0);
	LinearState *part;
	MemoryContext old;

	if (PG_ARGISNULL(1))
	{
		if (st == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(st);
	}
	part = StateFromBytea(PG_GETARG_BYTEA_P(1));
	if (st == NULL)
	{
		old = MemoryContextSwitchTo(agg);
		st = AggStateCreate(part->k);
		MemoryContextSwitchTo(old);
	}
	else
		CheckWidth(part->k, st->stats->k, true);
	LinearStateMerge(st->stats, part);
	PG_RETURN_POINTER(st);
}

PG_FUNCTION_INFO_V1(linear_fit);

/*
 * linear_fit(stats bytea, alpha float8) — solves the least-squares problem of
 * an aggregated state: {"n", "intercept", "coef"} and, for alpha 0, "stats".
 * Terms are named x[1]..x[k] in errors. Not STRICT: a NULL alpha is refused
 * (22004) like every NULL option, rather than turning the fit into NULL; a
 * NULL state, linear_stats of no rows, gives NULL, and so does a value of no
 * rows.
 */
Datum
linear_fit(PG_FUNCTION_ARGS)
{
	LinearState *s;
	double		alpha;
	char	  **terms;
	LinearFit  *fit;
	StringInfoData out;

	RequireArg(fcinfo, 1, "alpha");
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	s = StateFromBytea(PG_GETARG_BYTEA_P(0));
	alpha = PG_GETARG_FLOAT8(1);
	terms = palloc(sizeof(char *) * Max(s->k, 1));
	if (!(alpha >= 0) || isinf(alpha))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("alpha must be a finite number >= 0")));
	if (s->n == 0)
		PG_RETURN_NULL();		/* the statistics of no rows (linear_stats_merge of such values) */
	for (int i = 0; i < s->k; i++)
		terms[i] = psprintf("x[%d]", i + 1);
	fit = LinearStateSolve(s, alpha, terms, NULL, NULL);
	initStringInfo(&out);
	appendStringInfo(&out, "{\"n\": %.0f, \"intercept\": ", s->n);
	AppendJsonFloat8(&out, fit->intercept);
	appendStringInfoString(&out, ", \"coef\": ");
	AppendJsonNumbers(&out, fit->coef, s->k);
	if (fit->has_stats)
	{
		appendStringInfoString(&out, ", ");
		AppendFitStats(&out, fit);
	}
	appendStringInfoChar(&out, '}');
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(out.data)));
}

/* ------------------------------------------------------------------------
 * The algorithms 'linear' and 'ridge' for train().
 * ------------------------------------------------------------------------ */

/* 'linear' has no hyperparameters; 'ridge' has alpha (sklearn's default 1.0). */
const HyperParamDef linear_params[] = {{NULL}};
const HyperParamDef ridge_params[] = {
	{"alpha", 1.0, 0.0, false, INFINITY, false},
	{NULL}
};

/* A fitted linear model (nout outputs), for train()'s predictions. */
typedef struct LinearModel
{
	int			width;
	int			nout;
	const double *intercept;	/* nout */
	const double *coef;			/* nout × width */
	double	   *row;			/* a design row buffer */
} LinearModel;

/*
 * Scores a batch: margin o = intercept[o] + coef[o] · design row, summed term
 * by term from the intercept as scoring sums it (not by BLAS, whose order
 * differs), so that train()'s metrics are evaluate()'s to the last bit; for
 * classification turned into class probabilities as scoring does.
 */
static void
LinearPredict(const TrainedModel *model, const Dataset *ds, const DatasetBatch *b, double *out)
{
	const LinearModel *lm = model->state;
	int			k = ds->classification ? ds->nclasses : 1;

	for (int i = 0; i < b->nrows; i++)
	{
		double	   *p = out + (Size) i * k;

		LinearEncode(ds, b->x + (Size) i * ds->ninputs, lm->row);
		for (int o = 0; o < lm->nout; o++)
		{
			const double *coef = lm->coef + (Size) o * lm->width;
			double		sum = lm->intercept[o];

			for (int t = 0; t < lm->width; t++)
				sum += coef[t] * lm->row[t];
			p[o] = sum;
		}
		if (ds->classification)
			ScoringLinearProba(p, lm->nout);
	}
}

/*
 * Fills in what a linear algorithm hands train(): the linear-json artifact of
 * nout outputs (intercept[nout], coef[nout × width]; stats may be NULL), and
 * a predict function over these arrays, which must outlive the training.
 */
void
LinearTrainedModel(const Dataset *ds, const char *algorithm, int nout, const double *intercept,
				   const double *coef, const LinearFit *stats, TrainedModel *out)
{
	LinearModel *lm = palloc0(sizeof(LinearModel));
	StringInfoData artifact;

	lm->width = LinearDesignWidth(ds);
	lm->nout = nout;
	lm->intercept = intercept;
	lm->coef = coef;
	lm->row = palloc(sizeof(double) * Max(lm->width, 1));
	/* the JSON written after room for a varlena header: the buffer becomes the bytea */
	initStringInfo(&artifact);
	appendStringInfoSpaces(&artifact, VARHDRSZ);
	LinearArtifactJson(ds, algorithm, nout, intercept, coef, stats, &artifact);
	SET_VARSIZE(artifact.data, artifact.len);
	out->artifact = (bytea *) artifact.data;
	out->artifact_format = "linear-json";
	out->spec_impute = true;
	out->predict = LinearPredict;
	out->state = lm;
}

/* What TrainGradient needs: the dataset and the means of the design's columns and the target. */
typedef struct TrainGradientArg
{
	Dataset    *ds;
	int			width;
	const double *mean;			/* width + 1, the target's last */
	double	   *row;			/* width + 1 */
	CompensatedSum *sums;		/* 2 × width + 1 */
} TrainGradientArg;

/*
 * A LinearGradientFn over train()'s training rows: one more pass over the
 * source (reported as the passes before it, interruptible between batches).
 * Each row's residual r = yc - xc·coef and the sums of xc·r, xc and r are
 * computed in twice the working precision (compensated sums), and the
 * gradient is Σ xc·r - Σ xc · Σ r / n: exact for the centred columns whatever
 * the rounding of their means. A pass that does not read the first scan's
 * training rows raises 55000 (DatasetEndScan compares their fingerprints).
 */
static void
TrainGradient(void *arg, const double *coef, double *g)
{
	TrainGradientArg *ga = arg;
	Dataset    *ds = ga->ds;
	int			k = ga->width;
	CompensatedSum *sxr,
			   *sx,
			   *sr;
	double	   *row = ga->row;
	int64		rows = 0;
	DatasetScan *scan;
	DatasetBatch *b;

	if (ga->sums == NULL)
	{
		DatasetReserveMemory(ds, sizeof(CompensatedSum) * (2 * (Size) k + 1), "the refinement of the coefficients");
		ga->sums = palloc(sizeof(CompensatedSum) * (2 * (Size) k + 1));
	}
	sxr = ga->sums;
	sx = ga->sums + k;
	sr = ga->sums + 2 * k;
	memset(ga->sums, 0, sizeof(CompensatedSum) * (2 * k + 1));
	scan = DatasetBeginScan(ds);
	while ((b = DatasetNextBatch(scan)) != NULL)
	{
		CHECK_FOR_INTERRUPTS();
		for (int i = 0; i < b->nrows; i++)
		{
			CompensatedSum rs = {0, 0};
			double		r;

			if (b->is_test[i])
				continue;
			rows++;
			LinearEncode(ds, b->x + (Size) i * ds->ninputs, row);
			CompensatedAdd(&rs, b->y[i]);
			CompensatedAdd(&rs, -ga->mean[k]);
			for (int j = 0; j < k; j++)
			{
				row[j] -= ga->mean[j];
				CompensatedAddProduct(&rs, -row[j], coef[j]);
			}
			r = rs.hi + rs.lo;
			for (int j = 0; j < k; j++)
			{
				CompensatedAddProduct(&sxr[j], row[j], r);
				CompensatedAdd(&sx[j], row[j]);
			}
			CompensatedAdd(sr, r);
		}
	}
	DatasetEndScan(scan);		/* 55000 unless it read the first scan's training rows */
	for (int j = 0; j < k; j++)
		g[j] = (sxr[j].hi + sxr[j].lo) - (sx[j].hi + sx[j].lo) * (sr->hi + sr->lo) / rows;
}

/*
 * Trains 'linear' (OLS) or 'ridge': one scan of the training rows, encoded
 * into blocks of design rows and folded into a LinearState, then solved; an
 * ill-conditioned system's solution is refined by further passes over the
 * rows (TrainGradient).
 */
void
TrainLinear(Dataset *ds, TrainRequest *req, TrainedModel *out)
{
	double		alpha = strcmp(req->algorithm, "ridge") == 0 ? req->params[0] : 0.0;
	int			width = LinearDesignWidth(ds);
	int			d = width + 1;
	LinearState *state = LinearStateCreate(width);
	Size		block_rows = BlockRows(d, SOURCE_BATCH_ROWS);
	double	   *block;
	int			rows = 0;
	DatasetScan *scan;
	DatasetBatch *b;
	LinearFit  *fit;
	TrainGradientArg garg;

	DatasetReserveMemory(ds, sizeof(double) * ((Size) d * d + block_rows * d), "the normal equations");
	block = palloc_extended(sizeof(double) * block_rows * d, MCXT_ALLOC_HUGE);
	scan = DatasetBeginScan(ds);
	while ((b = DatasetNextBatch(scan)) != NULL)
	{
		for (int i = 0; i < b->nrows; i++)
		{
			double	   *row = block + (Size) rows * d;

			if (b->is_test[i])
				continue;
			LinearEncode(ds, b->x + (Size) i * ds->ninputs, row);
			row[width] = b->y[i];
			if (++rows == block_rows)
			{
				CHECK_FOR_INTERRUPTS();
				LinearStateAddBlock(state, block, rows);
				rows = 0;
			}
		}
	}
	LinearStateAddBlock(state, block, rows);
	DatasetEndScan(scan);

	garg.ds = ds;
	garg.width = width;
	garg.mean = state->mean;
	garg.row = palloc(sizeof(double) * d);
	garg.sums = NULL;
	fit = LinearStateSolve(state, alpha, LinearDesignTerms(ds), TrainGradient, &garg);
	LinearTrainedModel(ds, req->algorithm, 1, &fit->intercept, fit->coef, fit, out);
}
