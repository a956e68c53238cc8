/*
 * profile.h — feature profiles: the statistics of every column of a source
 * that drift is measured against (count, NULLs, mean, std, min, max, the
 * 10-quantile bin edges and bin fractions of numeric columns, category counts
 * of categorical ones, and a sorted sample of the numeric values for KS and
 * Wasserstein). docs/model-format.md ("profile") describes the jsonb layout.
 *
 * A frozen profile (a version's, or mlops.profile()'s) comes from a reader
 * of the rows (training's dataset scan, or mlops.profile()'s own) feeding a
 * builder every row:
 *
 *     ProfileBuilder *b = ProfileBuilderCreate(tupdesc, feature_names, PROFILE_EXACT_ROWS);
 *     SourceFetch(reader, ProfileBuilderAddSlot, b);   (or per row)
 *     Jsonb *profile = ProfileToJsonb(ProfileBuilderFinish(b, PROFILE_SAMPLE_SIZE));
 *
 * Frozen profiles are exact up to PROFILE_EXACT_ROWS distinct rows; beyond,
 * their edges, fractions and sample come from a sample of that many distinct
 * rows chosen by content hash (counts and moments stay exact).
 */
#ifndef MLOPS_PROFILE_H
#define MLOPS_PROFILE_H

#include "postgres.h"

#include <math.h>

#include "access/tupdesc.h"
#include "executor/tuptable.h"
#include "nodes/pg_list.h"
#include "utils/jsonb.h"

/* Version of the jsonb layout written by ProfileToJsonb. */
#define PROFILE_FORMAT_VERSION 1

/* Quantile bins of numeric features: edges at 0, 0.1, ..., 1. */
#define PROFILE_QUANTILES 10

/*
 * Numeric values kept in a frozen profile for KS and Wasserstein: all of them
 * when there are at most this many, else this many quantile points.
 */
#define PROFILE_SAMPLE_SIZE 4096

/*
 * A frozen profile keeps the numeric values of at most this many distinct
 * rows (those with the smallest content hashes, with their multiplicities)
 * for its edges, fractions and sample.
 */
#define PROFILE_EXACT_ROWS 100000

typedef enum FeatureKind
{
	FEATURE_NUMERIC,
	FEATURE_CATEGORICAL
} FeatureKind;

/* The profile of one feature. */
typedef struct FeatureProfile
{
	char	   *name;
	FeatureKind kind;
	int64		rows;			/* rows read */
	int64		nulls;			/* NULL values */
	int64		nonfinite;		/* NaN and ±Infinity (numeric only) */
	int64		count;			/* values used by the metrics: rows - nulls - nonfinite */

	/* numeric (count > 0) */
	double		mean;
	double		std;			/* population standard deviation */
	double		min;
	double		max;
	int			nedges;			/* 10-quantile edges, duplicates dropped */
	double	   *edges;
	double	   *fractions;		/* one per bin: ProfileBins(nedges) of them */
	int64		nsample;		/* sorted values: all of them, or quantile points */
	double	   *sample;
	double		sample_error;	/* Wasserstein-1 distance from the values to the sample */
	int64		sampled;		/* > 0: edges, fractions and sample come from a row
								 * sample of this effective size, not every value */

	/* categorical: categories sorted by strcmp, with their counts */
	int			ncategories;
	char	  **categories;
	int64	   *counts;
} FeatureProfile;

typedef struct ProfileBuilder ProfileBuilder;

/* Number of bins for nedges unique edges: the inner edges split the line. */
static inline int
ProfileBins(int nedges)
{
	return nedges > 2 ? nedges - 1 : 1;
}

/*
 * The fractions of m sorted values (weight NULL: each once, else weight[i]
 * times; at least one value) in the ProfileBins(nedges) bins of nedges unique
 * edges: bin i holds (edges[i], edges[i+1]], except that the first bin is
 * open below (every value <= edges[1]) and the last open above (every value
 * > edges[nedges-2]); the inner edges edges[1..nedges-2] split the line.
 */
extern void ProfileBinFractions(const double *edges, int nedges, const double *sorted,
								const int64 *weight, int64 m, double *fractions);

/*
 * The mean of n values (into *mean; NaN for none) and the sum of their squared
 * deviations from it, accurate for values far from 0 (corrected two-pass);
 * exactly 0 for identical values.
 */
extern double CentredSumSquares(const double *x, int64 n, double *mean);

/* Sorts doubles ascending (no NaN). */
extern void SortDoubles(double *values, size_t n);

/* Sorts doubles ascending (no NaN) with an int64 payload (NULL: none) moved along; interruptible. */
extern void SortDoublesWithPayload(double *values, int64 *payload, size_t n);

/*
 * The area gap · (hi - lo) under a step of two CDFs' difference (0 <= gap <= 1)
 * between sorted values lo and hi: finite even when hi - lo overflows (values
 * from -1e308 to 1e308), and 0 for a zero gap (0 · inf is NaN).
 */
static inline double
StepArea(double gap, double lo, double hi)
{
	double		area = gap * (hi - lo);

	return isfinite(area) ? area : (gap == 0.0 ? 0.0 : gap * hi - gap * lo);
}

/*
 * A builder for the named columns of rows described by tupdesc (names NIL =
 * every numeric or categorical column). max_rows 0 keeps every numeric value;
 * otherwise the values of at most max_rows distinct rows, those whose hash of
 * their numeric values is smallest, with their multiplicities (identical
 * rows are one entry), in at most 2 × max_rows × (16 + 8 × numeric columns)
 * bytes (and 2 × max_rows × 33 more while pruning). An unknown column is
 * 42703, a column of another type 42804.
 */
extern ProfileBuilder *ProfileBuilderCreate(TupleDesc tupdesc, List *names, int64 max_rows);

/*
 * Told the bytes the builder is about to hold in all, before it allocates
 * them: a bounded builder's row sample (with the scratch of pruning and
 * summarising it), an unbounded builder's values, and the categories.
 */
typedef void (*ProfileMemoryHook) (void *arg, Size bytes);

/* Sets the builder's memory hook (see ProfileMemoryHook). */
extern void ProfileBuilderSetMemoryHook(ProfileBuilder *b, ProfileMemoryHook hook, void *arg);

/* Adds one row, read from the executor's slot (a SourceRowFn for SourceFetch). */
extern void ProfileBuilderAddSlot(TupleTableSlot *slot, void *builder);

/*
 * The profiles (a List of FeatureProfile *), in column order. The numeric
 * sample keeps every value when there are at most sample_size of them
 * (sample_size 0: always every value), else sample_size quantile points.
 * A bounded builder's row sample is freed: call it once.
 */
extern List *ProfileBuilderFinish(ProfileBuilder *builder, int64 sample_size);

/*
 * Reads a source (SPI connected) into profiles, within
 * mlops.max_training_memory (else 53200) beside the `held` bytes the caller
 * holds already.
 */
extern List *ProfileSource(const char *source, List *names, int64 max_rows, int64 sample_size, Size held);

/* The bytes a list of profiles holds, as counted for mlops.max_training_memory. */
extern Size ProfilesBytes(List *profiles);

/* The bytes ProfileToJsonb takes while it builds the document of these profiles (an estimate). */
extern Size ProfileJsonbBytes(List *profiles);

/* The jsonb document of a list of profiles. */
extern Jsonb *ProfileToJsonb(List *profiles);

/* The profiles of a jsonb document written by ProfileToJsonb. */
extern List *ProfileFromJsonb(Jsonb *profile);

#endif
