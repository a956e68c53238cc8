/*
 * logistic.c — the algorithm 'logistic': L2-regularised logistic regression
 * with scikit-learn's LogisticRegression objective,
 *
 *     C · Σ_i loss_i + ½ Σ_outputs ‖w‖²      (intercepts not penalised)
 *
 * binary (one output: the margin of the greater class) or multinomial (one
 * output per class, softmax), minimised by Newton's method with a backtracking
 * line search. The objective is strictly convex in the weights, so its
 * minimum is unique and Newton reaches it to near machine precision in a few
 * iterations; the result is the one lbfgs approaches. The one flat direction
 * of the multinomial objective — adding a constant to every intercept — is
 * fixed by keeping the intercepts' sum at zero, where lbfgs also stays.
 *
 * The training rows are held in memory as a design matrix (counted against
 * mlops.max_training_memory).
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "miscadmin.h"

#include <cblas.h>

#include "mlops/linear.h"
#include "mlops/progress.h"
#include "mlops/scoring.h"
#include "mlops/train.h"

#include <lapack.h>

/* sklearn's defaults: C 1.0, max_iter 100, tol 1e-4. */
const HyperParamDef logistic_params[] = {
	{"C", 1.0, 0.0, true, INFINITY, false},
	{"max_iter", 100, 1, false, 1e6, true},
	{"tol", 1e-4, 0.0, true, INFINITY, false},
	{NULL}
};

/* Newton stops when the largest gradient component is below tol times this, relative to the start. */
#define NEWTON_TOL_FACTOR 1e-6

/* What Objective costs per row and output beyond the margin's d multiply-adds (exp, log). */
#define LOGISTIC_ROW_COST 20

/* The training rows and the current point's per-row quantities. */
typedef struct LogisticProblem
{
	int64		n;
	int			width;			/* design columns */
	int			d;				/* width + 1: the intercept's column of ones is last */
	int			nout;			/* 1 (binary) or the number of classes */
	double		C;
	double	   *X;				/* n × d */
	int		   *label;
	double	   *z;				/* n × nout margins */
	double	   *p;				/* n × nout probabilities (binary: of the greater class) */
} LogisticProblem;

/* log(1 + exp(z)) without overflow. */
static inline double
Log1pExp(double z)
{
	return z > 0 ? z + log1p(exp(-z)) : log1p(exp(z));
}

/*
 * The rows of a block of a product over the training rows (margins,
 * gradient, Hessian) costing per_row multiply-adds a row: one BLAS call over
 * every row of a wide design (hundreds of one-hot terms) would take seconds
 * without a cancel being honoured (LinearBlockRows).
 */
static int64
BlockRows(const LogisticProblem *lp, double per_row)
{
	return LinearBlockRows(per_row, (double) Max(lp->n, 1));
}

/* Computes the margins and probabilities at theta (nout × d) and returns the objective. */
static double
Objective(LogisticProblem *lp, const double *theta)
{
	double		loss = 0,
				penalty = 0;
	int64		block = BlockRows(lp, (double) lp->nout * (lp->d + LOGISTIC_ROW_COST));

	for (int64 start = 0; start < lp->n; start += block)
	{
		int64		end = Min(start + block, lp->n);

		CHECK_FOR_INTERRUPTS();
		cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, end - start, lp->nout, lp->d,
					1.0, lp->X + start * lp->d, lp->d, theta, lp->d, 0.0, lp->z + start * lp->nout, lp->nout);
		for (int64 i = start; i < end; i++)
		{
			double	   *z = lp->z + i * lp->nout;
			double	   *p = lp->p + i * lp->nout;

			if (lp->nout == 1)
			{
				loss += Log1pExp(z[0]) - (lp->label[i] == 1 ? z[0] : 0.0);
				p[0] = ScoringSigmoid(z[0]);
			}
			else
			{
				memcpy(p, z, sizeof(double) * lp->nout);
				loss += ScoringSoftmax(p, lp->nout) - z[lp->label[i]];
			}
		}
	}
	for (int o = 0; o < lp->nout; o++)
		for (int j = 0; j < lp->width; j++)
			penalty += theta[o * lp->d + j] * theta[o * lp->d + j];
	return lp->C * loss + 0.5 * penalty;
}

/* The gradient at the point Objective last saw (theta): C·(P - Y)'X plus the weights. */
static void
Gradient(LogisticProblem *lp, const double *theta, double *g, double *residual)
{
	int64		block = BlockRows(lp, (double) lp->nout * lp->d);

	for (int64 i = 0; i < lp->n; i++)
		for (int o = 0; o < lp->nout; o++)
		{
			bool		is_label = lp->nout == 1 ? lp->label[i] == 1 : lp->label[i] == o;

			residual[i * lp->nout + o] = lp->p[i * lp->nout + o] - (is_label ? 1.0 : 0.0);
		}
	for (int64 start = 0; start < lp->n; start += block)
	{
		int64		end = Min(start + block, lp->n);

		CHECK_FOR_INTERRUPTS();
		cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, lp->nout, lp->d, end - start,
					lp->C, residual + start * lp->nout, lp->nout, lp->X + start * lp->d, lp->d,
					start == 0 ? 0.0 : 1.0, g, lp->d);
	}
	for (int o = 0; o < lp->nout; o++)
		for (int j = 0; j < lp->width; j++)
			g[o * lp->d + j] += theta[o * lp->d + j];
}

/* Rows of the Hessian's workspace (HessianRows × d): one block of its product. */
static int64
HessianRows(const LogisticProblem *lp)
{
	return BlockRows(lp, (double) lp->d * lp->d);
}

/*
 * The Hessian (nout·d square) at the point Objective last saw; for the
 * multinomial, plus a rank-one term along the intercepts' common shift, which
 * leaves Newton steps unchanged (the gradient has no component along it) but
 * makes the matrix definite. tmp holds HessianRows × d values.
 */
static void
Hessian(LogisticProblem *lp, double *h, double *tmp)
{
	int			m = lp->nout * lp->d;
	double		shift_scale = 0;
	int64		rows = HessianRows(lp);

	for (int o = 0; o < lp->nout; o++)
		for (int q = o; q < lp->nout; q++)
		{
			double	   *block = palloc_extended(sizeof(double) * lp->d * lp->d, MCXT_ALLOC_HUGE);

			for (int64 start = 0; start < lp->n; start += rows)
			{
				int64		end = Min(start + rows, lp->n);

				CHECK_FOR_INTERRUPTS();
				for (int64 i = start; i < end; i++)
				{
					const double *p = lp->p + i * lp->nout;
					double		s = lp->nout == 1 ? p[0] * (1.0 - p[0]) : p[o] * ((o == q ? 1.0 : 0.0) - p[q]);

					for (int j = 0; j < lp->d; j++)
						tmp[(i - start) * lp->d + j] = s * lp->X[i * lp->d + j];
				}
				cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, lp->d, lp->d, end - start,
							lp->C, lp->X + start * lp->d, lp->d, tmp, lp->d, start == 0 ? 0.0 : 1.0,
							block, lp->d);
			}
			for (int a = 0; a < lp->d; a++)
				for (int b = 0; b < lp->d; b++)
				{
					h[(o * lp->d + a) * m + q * lp->d + b] = block[a * lp->d + b];
					h[(q * lp->d + b) * m + o * lp->d + a] = block[a * lp->d + b];
				}
			pfree(block);
		}
	for (int o = 0; o < lp->nout; o++)
	{
		for (int j = 0; j < lp->width; j++)
			h[(o * lp->d + j) * m + o * lp->d + j] += 1.0;
		shift_scale = Max(shift_scale, h[(o * lp->d + lp->width) * m + o * lp->d + lp->width]);
	}
	if (lp->nout > 1)
		for (int o = 0; o < lp->nout; o++)
			for (int q = 0; q < lp->nout; q++)
				h[(o * lp->d + lp->width) * m + q * lp->d + lp->width] += shift_scale / lp->nout;
}

/*
 * Solves H step = -g by Cholesky on the unit-diagonal scaled matrix, adding a
 * growing multiple of the identity if the factorisation fails (a numerically
 * semi-definite Hessian, e.g. on separable data).
 */
static void
NewtonStep(double *h, const double *g, double *step, int m)
{
	double	   *scale = palloc(sizeof(double) * m);
	double	   *a = palloc_extended(sizeof(double) * m * m, MCXT_ALLOC_HUGE);
	char		uplo = 'L';
	lapack_int	n = m,
				one = 1,
				info = 1;
	double		damping = 0;

	for (int i = 0; i < m; i++)
		scale[i] = h[i * m + i] > 0 ? sqrt(h[i * m + i]) : 1.0;
	for (int attempt = 0; info != 0; attempt++)
	{
		if (attempt > 20)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("logistic regression failed: the Hessian is not positive definite"),
					 errhint("Scale the features, or lower C.")));
		for (int i = 0; i < m; i++)
		{
			for (int j = 0; j < m; j++)
				a[i * m + j] = h[i * m + j] / (scale[i] * scale[j]);
			a[i * m + i] += damping;
			step[i] = -g[i] / scale[i];
		}
		LAPACK_dpotrf(&uplo, &n, a, &n, &info);
		damping = damping == 0 ? 1e-12 : damping * 10;
	}
	LAPACK_dpotrs(&uplo, &n, &one, a, &n, step, &n, &info);
	if (info != 0)
		elog(ERROR, "dpotrs failed: info %d", (int) info);
	for (int i = 0; i < m; i++)
		step[i] /= scale[i];
	pfree(scale);
	pfree(a);
}

/* The largest absolute component of a vector. */
static double
MaxAbs(const double *v, int n)
{
	double		m = 0;

	for (int i = 0; i < n; i++)
		m = Max(m, fabs(v[i]));
	return m;
}

/*
 * Raises 22003 when the objective f, a component of the gradient g or (h not
 * NULL) a diagonal entry of the Hessian h (its largest entries: it is
 * semi-definite) is not finite: values of a term so large that C times the
 * sum of their squares overflows, or a C so large that C times the losses
 * does. Newton's method cannot move from there: without it, train() would
 * register the all-zero model as if it were the optimum.
 */
static void
CheckFiniteNewton(const LogisticProblem *lp, const Dataset *ds, double f, const double *g, const double *h)
{
	int			m = lp->nout * lp->d;

	for (int i = -1; i < m; i++)
	{
		int			j = i % lp->d;

		if (i < 0 ? isfinite(f) : isfinite(g[i]) && (h == NULL || isfinite(h[(Size) i * m + i])))
			continue;
		if (i < 0 || j == lp->width)
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("the logistic regression objective is not finite"),
					 errdetail("C = %g times the sum of the losses of the training rows is beyond the range of float8.", lp->C),
					 errhint("Lower C.")));
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("the logistic regression statistics of term \"%s\" are not finite",
						LinearDesignTerms(ds)[j]),
				 errdetail("Its values are too large for C times the sum of their squares to be a float8."),
				 errhint("Rescale the column, or lower C.")));
	}
}

/* Holds the training rows as a design matrix with a column of ones. */
static void
LoadRows(Dataset *ds, LogisticProblem *lp)
{
	DatasetScan *scan;
	DatasetBatch *b;
	int64		i = 0;

	lp->n = ds->train_rows;
	DatasetReserveMemory(ds, (Size) lp->n * (sizeof(double) * (lp->d + 3 * lp->nout) + sizeof(int)),
						 "the training rows");
	lp->X = palloc_extended(sizeof(double) * lp->n * lp->d, MCXT_ALLOC_HUGE);
	lp->label = palloc_extended(sizeof(int) * lp->n, MCXT_ALLOC_HUGE);
	scan = DatasetBeginScan(ds);
	while ((b = DatasetNextBatch(scan)) != NULL)
		for (int r = 0; r < b->nrows; r++)
		{
			double	   *row = lp->X + i * lp->d;

			if (b->is_test[r])
				continue;
			if (i >= lp->n)
				break;			/* reported by DatasetEndScan as a changed source */
			LinearEncode(ds, b->x + (Size) r * ds->ninputs, row);
			row[lp->width] = 1.0;
			lp->label[i++] = b->label[r];
		}
	DatasetEndScan(scan);
}

/*
 * Centres the design's columns (not the intercept's): mean[j] is taken from
 * the first row's value plus the mean of the differences, so that a constant
 * column becomes exactly 0. The intercept is not penalised, so the optimal
 * coefficients are those of the raw columns, and the intercept is moved back
 * by coef · mean; but the raw columns of values far from 0 (1e9 + noise) are
 * nearly collinear with the intercept's ones, a Hessian Newton's method
 * could not factorise, and it stopped at the all-but-zero model.
 */
static void
CentreColumns(LogisticProblem *lp, double *mean)
{
	for (int j = 0; j < lp->width; j++)
		mean[j] = 0;
	if (lp->n == 0)
		return;
	for (int64 i = 0; i < lp->n; i++)
	{
		if ((i & 65535) == 0)
			CHECK_FOR_INTERRUPTS();
		for (int j = 0; j < lp->width; j++)
			mean[j] += lp->X[i * lp->d + j] - lp->X[j];
	}
	for (int j = 0; j < lp->width; j++)
		mean[j] = lp->X[j] + mean[j] / lp->n;
	for (int64 i = 0; i < lp->n; i++)
	{
		if ((i & 65535) == 0)
			CHECK_FOR_INTERRUPTS();
		for (int j = 0; j < lp->width; j++)
			lp->X[i * lp->d + j] -= mean[j];
	}
}

/* Trains 'logistic': Newton's method on the whole training set. */
void
TrainLogistic(Dataset *ds, TrainRequest *req, TrainedModel *out)
{
	LogisticProblem lp;
	int			max_iter = (int) req->params[1];
	double		tol = req->params[2];
	int			m;
	Size		workspace;	/* bytes of the Hessian's workspace */
	double	   *theta,
			   *trial,
			   *g,
			   *g_trial,
			   *h,
			   *step,
			   *residual,
			   *tmp;
	double		f,
				g0,
				gmax,
				elapsed;
	int			iter;
	double	   *intercept,
			   *coef,
			   *mean;

	memset(&lp, 0, sizeof(lp));
	lp.C = req->params[0];
	lp.width = LinearDesignWidth(ds);
	lp.d = lp.width + 1;
	lp.nout = ds->nclasses == 2 ? 1 : ds->nclasses;
	m = lp.nout * lp.d;
	DatasetReserveMemory(ds, sizeof(double) * (Size) m * m * 3, "the Hessian");
	LoadRows(ds, &lp);
	mean = palloc(sizeof(double) * Max(lp.width, 1));
	CentreColumns(&lp, mean);
	/* before the iterations, which may take long, rather than after them */
	TrainReserveEvaluation(ds, out);
	workspace = sizeof(double) * HessianRows(&lp) * lp.d;
	DatasetReserveMemory(ds, workspace, "the Hessian's workspace");
	lp.z = palloc_extended(sizeof(double) * lp.n * lp.nout, MCXT_ALLOC_HUGE);
	lp.p = palloc_extended(sizeof(double) * lp.n * lp.nout, MCXT_ALLOC_HUGE);
	residual = palloc_extended(sizeof(double) * lp.n * lp.nout, MCXT_ALLOC_HUGE);
	tmp = palloc_extended(workspace, MCXT_ALLOC_HUGE);
	theta = palloc0(sizeof(double) * m);
	trial = palloc(sizeof(double) * m);
	g = palloc(sizeof(double) * m);
	g_trial = palloc(sizeof(double) * m);
	step = palloc(sizeof(double) * m);
	h = palloc_extended(sizeof(double) * m * m, MCXT_ALLOC_HUGE);

	f = Objective(&lp, theta);
	Gradient(&lp, theta, g, residual);
	CheckFiniteNewton(&lp, ds, f, g, NULL);
	g0 = Max(MaxAbs(g, m), DBL_MIN);
	gmax = g0;
	for (iter = 1; iter <= max_iter && gmax > tol * NEWTON_TOL_FACTOR * g0; iter++)
	{
		double		slope = 0,
					t = 1.0,
					ft;
		bool		progress = false;

		CHECK_FOR_INTERRUPTS();
		Hessian(&lp, h, tmp);
		CheckFiniteNewton(&lp, ds, f, g, h);
		NewtonStep(h, g, step, m);
		for (int i = 0; i < m; i++)
			slope += g[i] * step[i];
		/*
		 * backtracking (Armijo) line search, unless the objective cannot
		 * decrease by more than about -slope / 2, which its rounding hides
		 */
		for (int ls = 0; ls < 60 && -slope > 1e-15 * fabs(f); ls++)
		{
			for (int i = 0; i < m; i++)
				trial[i] = theta[i] + t * step[i];
			ft = Objective(&lp, trial);
			if (ft <= f + 1e-4 * t * slope)
			{
				progress = ft < f || t == 1.0;
				break;
			}
			t *= 0.5;
		}
		if (!progress)
		{
			/*
			 * No decrease the objective (a sum of n rounded losses) can
			 * show: it is at its minimum to its rounding, but the
			 * coefficients may be 1e-7 short of it, the gradient far above
			 * tol's bound. The full Newton step is then judged by the
			 * gradient, which near the optimum it shrinks quadratically: it
			 * is taken when it lowers the largest component without raising
			 * the objective beyond its rounding (n · ε of it, a sum of n
			 * terms), and the iterations go on; otherwise they are over.
			 */
			for (int i = 0; i < m; i++)
				trial[i] = theta[i] + step[i];
			ft = Objective(&lp, trial);
		}
		Gradient(&lp, trial, g_trial, residual);
		if (!progress && !(MaxAbs(g_trial, m) < gmax && ft - f <= lp.n * DBL_EPSILON * fabs(f)))
			break;
		memcpy(theta, trial, sizeof(double) * m);
		memcpy(g, g_trial, sizeof(double) * m);
		f = ft;
		gmax = MaxAbs(g, m);
		TrainLogMetric(req, "train_objective", f, iter);
		if (ProgressDue(DatasetProgress(ds), &elapsed))
			ereport(NOTICE,
					(errmsg("logistic iteration %d of at most %d: objective %g, largest gradient %.3g of the first's, %.1f s elapsed",
							iter, max_iter, f, gmax / g0, elapsed)));
	}
	if (gmax > tol * g0 && iter > max_iter)
		ereport(WARNING,
				(errmsg_plural("logistic regression did not converge in %d iteration",
							   "logistic regression did not converge in %d iterations", max_iter, max_iter),
				 errdetail("The largest gradient component is %g.", gmax),
				 errhint("Raise max_iter, or scale the features.")));

	intercept = palloc(sizeof(double) * lp.nout);
	coef = palloc(sizeof(double) * Max(lp.nout * lp.width, 1));
	for (int o = 0; o < lp.nout; o++)
	{
		memcpy(coef + (Size) o * lp.width, theta + (Size) o * lp.d, sizeof(double) * lp.width);
		/* the intercept of the raw columns */
		intercept[o] = theta[o * lp.d + lp.width];
		for (int j = 0; j < lp.width; j++)
			intercept[o] -= theta[o * lp.d + j] * mean[j];
	}
	pfree(lp.X);
	pfree(tmp);
	pfree(h);
	LinearTrainedModel(ds, "logistic", lp.nout, intercept, coef, NULL, out);
}
