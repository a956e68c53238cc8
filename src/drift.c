/*
 * drift.c — drift metrics between a reference and current data, and the SQL
 * entry points mlops.drift(model, source) (against the profile frozen with a
 * model version) and mlops.compare(reference, current, columns) (between two
 * sources read in full). Definitions: API.md, "Drift and monitoring".
 */
#include "postgres.h"

#include <math.h>

#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/tuplestore.h"

#include "mlops/args.h"
#include "mlops/compensated_sum.h"
#include "mlops/drift.h"
#include "mlops/profile.h"

/* A new metric row. */
static DriftMetric *
NewMetric(List **metrics, const char *feature, const char *metric, double threshold)
{
	DriftMetric *m = palloc0(sizeof(DriftMetric));

	m->feature = feature;
	m->metric = metric;
	m->threshold = threshold;
	m->isnull = true;
	*metrics = lappend(*metrics, m);
	return m;
}

/* Sets a metric that is drifted when its value exceeds its threshold. */
static void
SetAbove(DriftMetric *m, double value)
{
	m->value = value;
	m->isnull = false;
	m->drifted = value > m->threshold;
}

/* Σ (c − r)·ln(c / r) over fractions, a zero fraction counting as 1e-4. */
static double
Psi(const double *r, const double *c, int n)
{
	double		psi = 0.0;

	for (int i = 0; i < n; i++)
	{
		double		ri = r[i] == 0.0 ? DRIFT_PSI_EPSILON : r[i];
		double		ci = c[i] == 0.0 ? DRIFT_PSI_EPSILON : c[i];

		psi += (ci - ri) * log(ci / ri);
	}
	return psi;
}

/* x·ln(x/y), 0 for x = 0 (scipy.special.rel_entr for y > 0). */
static double
RelEntr(double x, double y)
{
	return x == 0.0 ? 0.0 : x * log(x / y);
}

/* Jensen–Shannon distance, natural log (scipy.spatial.distance.jensenshannon). */
static double
JensenShannon(const double *p, const double *q, int n)
{
	double		sp = 0.0,
				sq = 0.0,
				left = 0.0,
				right = 0.0;

	for (int i = 0; i < n; i++)
	{
		sp += p[i];
		sq += q[i];
	}
	for (int i = 0; i < n; i++)
	{
		double		pi = p[i] / sp;
		double		qi = q[i] / sq;
		double		m = (pi + qi) / 2.0;

		left += RelEntr(pi, m);
		right += RelEntr(qi, m);
	}
	/* the sum is >= 0 but rounding may leave it at -1e-17 */
	return sqrt(Max(0.0, (left + right) / 2.0));
}

/* Kolmogorov's limiting survival function Q(x) = P(K > x). */
static double
KolmogorovQ(double x)
{
	double		sum = 0.0;

	if (x <= 0.0)
		return 1.0;
	if (x < 1.0)
	{
		/* 1 − √(2π)/x Σ exp(−(2k−1)²π²/(8x²)): converges fast for small x */
		for (int k = 1; k <= 20; k++)
			sum += exp(-(2 * k - 1) * (2 * k - 1) * M_PI * M_PI / (8 * x * x));
		return 1.0 - sqrt(2 * M_PI) / x * sum;
	}
	/* 2 Σ (−1)^(k−1) exp(−2k²x²) */
	for (int k = 1; k <= 100; k++)
	{
		double		term = exp(-2.0 * k * k * x * x);

		sum += (k % 2 == 1) ? term : -term;
		if (term < 1e-17)
			break;
	}
	return Min(1.0, Max(0.0, 2.0 * sum));
}

/*
 * P-value of the two-sided KS statistic d for the effective sample size
 * en = n·m/(n+m), as scipy's ks_2samp(method='asymp') defines it (the
 * one-sample distribution of D for N = round(en)), approximated by the
 * limiting Kolmogorov distribution at Vrbik's (2018) corrected argument
 * x + 1/(6√N) + (x − 1)/(4N), x = √N·d: within 1e-4 of scipy for N >= 500.
 * N is en rounded half to even, as numpy's round (rint in the default
 * rounding mode): n = m = 21 rows give en = 10.5 and N = 10, not 11.
 */
double
KolmogorovPValue(double d, double en)
{
	double		n = Max(1.0, rint(en));
	double		x = sqrt(n) * d;

	return KolmogorovQ(x + 1.0 / (6.0 * sqrt(n)) + (x - 1.0) / (4.0 * n));
}

/*
 * KS statistic and Wasserstein-1 distance between two sorted samples in one
 * merge: at each distinct value v, the CDFs are #{≤ v}/n; KS is their largest
 * gap, Wasserstein the integral of the gap (summed with compensation).
 */
static void
KsWasserstein(const double *a, int64 na, const double *b, int64 nb, double *ks, double *w)
{
	int64		i = 0,
				j = 0;
	double		d = 0.0;
	CompensatedSum area = {0, 0};

	while (i < na || j < nb)
	{
		double		v,
					gap,
					next;

		if ((i & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		v = (j >= nb || (i < na && a[i] <= b[j])) ? a[i] : b[j];
		while (i < na && a[i] == v)
			i++;
		while (j < nb && b[j] == v)
			j++;
		gap = fabs((double) i / na - (double) j / nb);
		d = Max(d, gap);
		if (i == na && j == nb)
			break;
		next = (j >= nb || (i < na && a[i] <= b[j])) ? a[i] : b[j];
		CompensatedAdd(&area, StepArea(gap, v, next));
	}
	*ks = d;
	*w = area.hi + area.lo;
}

/*
 * The fractions of the current values in the reference's bins (nbins =
 * ProfileBins(ref->nedges) of them); cur's sample is sorted and, for drift,
 * every value. Both sides need values (count > 0).
 */
void
DriftBinFractions(const FeatureProfile *ref, const FeatureProfile *cur, double *fractions)
{
	ProfileBinFractions(ref->edges, ref->nedges, cur->sample, NULL, cur->nsample, fractions);
}

/*
 * The union of the categories of two categorical profiles (both sorted by
 * strcmp), with the fraction of each on either side; returns how many. Both
 * sides need values (count > 0).
 */
int
DriftCategoryFractions(const FeatureProfile *ref, const FeatureProfile *cur,
					   const char ***names, double **ref_fractions, double **cur_fractions)
{
	int			size = Max(1, ref->ncategories + cur->ncategories);
	int			n = 0,
				i = 0,
				j = 0;

	*names = palloc(sizeof(char *) * size);
	*ref_fractions = palloc(sizeof(double) * size);
	*cur_fractions = palloc(sizeof(double) * size);
	while (i < ref->ncategories || j < cur->ncategories)
	{
		int			cmp = i >= ref->ncategories ? 1 : j >= cur->ncategories ? -1 :
			strcmp(ref->categories[i], cur->categories[j]);

		(*names)[n] = cmp <= 0 ? ref->categories[i] : cur->categories[j];
		(*ref_fractions)[n] = cmp <= 0 ? (double) ref->counts[i++] / ref->count : 0.0;
		(*cur_fractions)[n] = cmp >= 0 ? (double) cur->counts[j++] / cur->count : 0.0;
		n++;
	}
	return n;
}

/*
 * |a/n − b/m|, the gap between two shares, from their counts: the difference
 * of the cross products is exact (for n·m up to 2^53), so the quotient is
 * rounded once, and shares exactly a threshold apart (3 of 10 and 4 of 10 at
 * 0.1) give the threshold itself, not the 0.10000000000000003 that the
 * difference of the rounded shares gives, which a "> threshold" flags.
 */
static double
ShareGap(int64 a, int64 n, int64 b, int64 m)
{
	return fabs((double) a * m - (double) b * n) / ((double) n * m);
}

/* The metrics of a numeric feature with values on both sides. */
static void
MeasureNumeric(List **metrics, const FeatureProfile *ref, const FeatureProfile *cur)
{
	int			nbins = ProfileBins(ref->nedges);
	double	   *fractions = palloc(sizeof(double) * nbins);
	DriftMetric *psi = NewMetric(metrics, ref->name, "psi", DRIFT_PSI_THRESHOLD);
	DriftMetric *js = NewMetric(metrics, ref->name, "js", DRIFT_JS_THRESHOLD);
	DriftMetric *ks = NewMetric(metrics, ref->name, "ks", DRIFT_KS_PVALUE_THRESHOLD);
	DriftMetric *ksp = NewMetric(metrics, ref->name, "ks_pvalue", DRIFT_KS_PVALUE_THRESHOLD);
	DriftMetric *w = NewMetric(metrics, ref->name, "wasserstein", DRIFT_WASSERSTEIN_THRESHOLD);
	double		d,
				dist,
				p,
				nref;

	if (ref->count == 0 || cur->count == 0)
		return;

	DriftBinFractions(ref, cur, fractions);
	SetAbove(psi, Psi(ref->fractions, fractions, nbins));
	SetAbove(js, JensenShannon(ref->fractions, fractions, nbins));

	KsWasserstein(ref->sample, ref->nsample, cur->sample, cur->nsample, &d, &dist);
	/* a reference sampled from more rows weighs as the values it was taken from */
	nref = ref->sampled > 0 ? ref->sampled : ref->count;
	p = KolmogorovPValue(d, nref * cur->count / (nref + cur->count));
	ks->value = d;
	ks->isnull = false;
	ks->drifted = p < ks->threshold;
	ksp->value = p;
	ksp->isnull = false;
	ksp->drifted = ks->drifted;
	SetAbove(w, dist / Max(ref->std, DRIFT_MIN_STD));
}

/* The metrics of a categorical feature with values on both sides. */
static void
MeasureCategorical(List **metrics, const FeatureProfile *ref, const FeatureProfile *cur)
{
	int			n;
	const char **names;
	double	   *r;
	double	   *c;
	double		linf = 0.0;
	DriftMetric *psi = NewMetric(metrics, ref->name, "psi", DRIFT_PSI_THRESHOLD);
	DriftMetric *js = NewMetric(metrics, ref->name, "js", DRIFT_JS_THRESHOLD);
	DriftMetric *li = NewMetric(metrics, ref->name, "linf", DRIFT_LINF_THRESHOLD);

	if (ref->count == 0 || cur->count == 0)
		return;
	n = DriftCategoryFractions(ref, cur, &names, &r, &c);
	/* from the counts behind the shares (a share a/count times count rounds back to a) */
	for (int i = 0; i < n; i++)
		linf = Max(linf, ShareGap(llrint(r[i] * ref->count), ref->count,
								  llrint(c[i] * cur->count), cur->count));
	SetAbove(psi, Psi(r, c, n));
	SetAbove(js, JensenShannon(r, c, n));
	SetAbove(li, linf);
}

/*
 * The metrics of one feature (a List of DriftMetric *): ref is a profile
 * (its sample may be quantile points), cur the full profile of the current
 * data (ProfileSource with max_rows and sample_size 0: its sample is every value).
 */
List *
DriftMeasure(const FeatureProfile *ref, const FeatureProfile *cur)
{
	List	   *metrics = NIL;
	DriftMetric *nulls;

	if (ref->kind != cur->kind)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("column \"%s\" is %s in the reference but %s in the current data",
						ref->name,
						ref->kind == FEATURE_NUMERIC ? "numeric" : "categorical",
						cur->kind == FEATURE_NUMERIC ? "numeric" : "categorical")));
	if (ref->kind == FEATURE_NUMERIC)
		MeasureNumeric(&metrics, ref, cur);
	else
		MeasureCategorical(&metrics, ref, cur);
	nulls = NewMetric(&metrics, ref->name, "null_rate", DRIFT_NULL_RATE_THRESHOLD);
	SetAbove(nulls, ShareGap(cur->nulls + cur->nonfinite, cur->rows,
							 ref->nulls + ref->nonfinite, ref->rows));
	return metrics;
}

/* Refuses a side with no rows: no rate or distribution is defined on it. */
static void
RequireRows(const FeatureProfile *p, const char *side)
{
	if (p->rows == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the %s data has no rows", side),
				 errdetail("Drift is not defined against an empty set.")));
}

/*
 * Emits the metrics of every reference feature against the current source
 * into the function's result set (SPI connected).
 */
static void
EmitDrift(FunctionCallInfo fcinfo, List *ref, const char *current)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	List	   *names = NIL;
	List	   *cur;
	ListCell   *lr,
			   *lc;

	foreach(lr, ref)
	{
		RequireRows(lfirst(lr), "reference");
		names = lappend(names, ((FeatureProfile *) lfirst(lr))->name);
	}
	cur = ProfileSource(current, names, 0, 0, ProfilesBytes(ref));
	forboth(lr, ref, lc, cur)
	{
		ListCell   *lm;

		RequireRows(lfirst(lc), "current");
		foreach(lm, DriftMeasure(lfirst(lr), lfirst(lc)))
		{
			DriftMetric *m = lfirst(lm);
			Datum		values[5];
			bool		nulls[5] = {false, false, m->isnull, false, m->isnull};

			values[0] = CStringGetTextDatum(m->feature);
			values[1] = CStringGetTextDatum(m->metric);
			values[2] = Float8GetDatum(m->value);
			values[3] = Float8GetDatum(m->threshold);
			values[4] = BoolGetDatum(m->drifted);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
	}
}

/*
 * mlops.compare(reference text, current text, columns text[] DEFAULT NULL):
 * drift metrics between two sources, each read in full (KS and Wasserstein
 * on every value).
 */
PG_FUNCTION_INFO_V1(compare);
Datum
compare(PG_FUNCTION_ARGS)
{
	char	   *reference = RequireTextArg(fcinfo, 0, "reference");
	char	   *current = RequireTextArg(fcinfo, 1, "current");
	List	   *names = NameListArg(fcinfo, 2, "columns");

	InitMaterializedSRF(fcinfo, 0);
	SPI_connect();
	EmitDrift(fcinfo, ProfileSource(reference, names, 0, 0, 0), current);
	SPI_finish();
	return (Datum) 0;
}

/*
 * mlops.drift(model text, source text): drift metrics of a source against
 * the profile frozen with the model version the reference resolves to.
 */
PG_FUNCTION_INFO_V1(drift);
Datum
drift(PG_FUNCTION_ARGS)
{
	char	   *model = RequireTextArg(fcinfo, 0, "model");
	char	   *source = RequireTextArg(fcinfo, 1, "source");
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1] = {CStringGetTextDatum(model)};
	bool		isnull;
	Datum		profile;

	InitMaterializedSRF(fcinfo, 0);
	SPI_connect();
	if (SPI_execute_with_args("SELECT mlops._version_profile($1)", 1, argtypes, args, NULL,
							  true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "mlops._version_profile failed");
	profile = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		elog(ERROR, "mlops._version_profile returned null");
	EmitDrift(fcinfo, ProfileFromJsonb(DatumGetJsonbP(profile)), source);
	SPI_finish();
	return (Datum) 0;
}
