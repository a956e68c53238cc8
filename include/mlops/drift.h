/*
 * drift.h — drift metrics between a reference profile and current data
 * (API.md, "Drift and monitoring"): psi, js, ks (+ ks_pvalue), wasserstein,
 * linf and null_rate, each with its default threshold.
 */
#ifndef MLOPS_DRIFT_H
#define MLOPS_DRIFT_H

#include "postgres.h"

#include "nodes/pg_list.h"

#include "mlops/profile.h"

/* Default thresholds: drifted when value > threshold (ks: p-value < threshold). */
#define DRIFT_PSI_THRESHOLD			0.2
#define DRIFT_JS_THRESHOLD			0.15
#define DRIFT_KS_PVALUE_THRESHOLD	0.05
#define DRIFT_WASSERSTEIN_THRESHOLD	0.2
#define DRIFT_LINF_THRESHOLD		0.1
#define DRIFT_NULL_RATE_THRESHOLD	0.05

/* A bin fraction of zero counts as this much in psi. */
#define DRIFT_PSI_EPSILON			1e-4

/* Wasserstein is divided by max(reference std, this). */
#define DRIFT_MIN_STD				0.001

/* One metric of one feature; isnull when it is undefined (no values on a side). */
typedef struct DriftMetric
{
	const char *feature;
	const char *metric;
	double		value;
	double		threshold;
	bool		isnull;
	bool		drifted;
} DriftMetric;

/*
 * The metrics of one feature (a List of DriftMetric *): ref is a profile
 * (its sample may be quantile points), cur the full profile of the current
 * data (ProfileSource with max_rows and sample_size 0: its sample is every value).
 */
extern List *DriftMeasure(const FeatureProfile *ref, const FeatureProfile *cur);

/*
 * The fractions of cur's values in ref's quantile bins (ProfileBins(ref->nedges)
 * of them): the histograms psi and js compare. Both sides need values.
 */
extern void DriftBinFractions(const FeatureProfile *ref, const FeatureProfile *cur, double *fractions);

/*
 * The union of the categories of two categorical profiles, sorted, with their
 * fraction on each side (palloc'd arrays); returns how many. Both sides need values.
 */
extern int	DriftCategoryFractions(const FeatureProfile *ref, const FeatureProfile *cur,
								   const char ***names, double **ref_fractions, double **cur_fractions);

/*
 * P-value of the two-sided KS statistic d for the effective sample size
 * en = n·m/(n+m): the limiting Kolmogorov distribution at Vrbik's
 * finite-size corrected argument (within 1e-4 of scipy's for en >= 500).
 */
extern double KolmogorovPValue(double d, double en);

#endif
