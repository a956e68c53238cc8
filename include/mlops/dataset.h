/*
 * dataset.h — a training set read from a source (table, view or query): its
 * inputs, their kinds and categories, the class labels, the deterministic
 * train/test split, the imputation values and the data fingerprint. Shared by
 * every training algorithm, and by evaluation and drift.
 *
 * Rows are never held in memory by the loader (but for the test rows, kept by
 * the first scan when they fit, see DatasetBeginTestScan): it reads the source
 * through an SPI cursor, once to discover the classes and the split (and, when
 * needed, once more for the categories and means of the training rows; not at
 * all for a one_pass regression over numeric inputs), then yields the rows in
 * batches to its consumer, as many times as it scans.
 *
 * The split: each row's key is a hash of its content and the seed. For
 * classification, exactly round(test_fraction × n) rows of each class (the
 * smallest keys; at least one training row per class) are test rows; for
 * regression, a row is a test row when its key < test_fraction × 2^64.
 *
 * Usage (inside SPI_connect()/SPI_finish()):
 *
 *     Dataset    *ds = DatasetPrepare(source, target, features, classification,
 *                                     test_fraction, seed, one_pass);
 *     DatasetScan *scan = DatasetBeginScan(ds);
 *     DatasetBatch *b;
 *     while ((b = DatasetNextBatch(scan)) != NULL)
 *         for (int i = 0; i < b->nrows; i++)
 *             ... b->x[i * ds->ninputs + j], b->y[i], b->label[i], b->is_test[i] ...
 *     DatasetEndScan(scan);
 *     ... ds->fingerprint, ds->train_rows, DatasetSpecJson(ds, true, &buf) ...
 *
 * An input value in a batch is the column's value as float8 for a numeric
 * input (booleans 0/1), the 0-based index into inputs[j].categories for a
 * categorical one, and NaN for NULL (and for a category the training rows
 * never had). The first complete scan also finishes the statistics that only
 * it can compute (fingerprint, means of inputs without NULLs): read them after
 * DatasetEndScan.
 */
#ifndef MLOPS_DATASET_H
#define MLOPS_DATASET_H

#include "postgres.h"

#include "lib/stringinfo.h"
#include "nodes/pg_list.h"
#include "utils/jsonb.h"

/* At most this many distinct values in a categorical input or a class target. */
#define DATASET_MAX_CATEGORIES 10000

typedef enum InputKind
{
	INPUT_NUMERIC,				/* integer, float, numeric, boolean */
	INPUT_CATEGORICAL			/* text, varchar, char, name, enum */
} InputKind;

typedef struct DatasetInput
{
	char	   *name;			/* the column, as the user names it */
	Oid			type;			/* its base type */
	InputKind	kind;
	int			ncategories;	/* categorical: the training rows' categories (evaluation: every row's), sorted (C collation) */
	char	  **categories;
	int64		nulls;			/* NULL (numeric: or NaN) values among the training rows */
	double		mean;			/* numeric: mean of the non-NULL training values (NaN if none) */
	int			mode;			/* categorical: index of the most frequent category (-1 if none) */
} DatasetInput;

typedef struct Dataset
{
	char	   *source;
	char	   *target;
	Oid			target_type;
	bool		classification;
	int			ninputs;
	DatasetInput *inputs;
	int			nclasses;		/* classification: distinct target values */
	double	   *classes;		/* ... ascending */
	double		test_fraction;
	int			seed;
	int64		rows_read;		/* rows of the source */
	int64		skipped_rows;	/* rows whose target is NULL or NaN (never used) */
	int64		train_rows;
	int64		test_rows;
	char	   *fingerprint;	/* "<train rows>:<hash>", after the first full scan */
	/* private to dataset.c */
	struct DatasetPrivate *priv;
} Dataset;

/* One batch of rows: arrays of nrows entries (x: nrows × ninputs, row-major). */
typedef struct DatasetBatch
{
	int			nrows;
	double	   *x;
	double	   *y;				/* the target as float8 */
	int		   *label;			/* classification: index into classes; else -1 */
	bool	   *is_test;
} DatasetBatch;

typedef struct DatasetScan DatasetScan;

/*
 * Reads the source's schema and makes a first pass over its rows. features
 * NULL means every column but the target. Raises a clear error for an unknown
 * column, an unsupported type, a non-numeric target, an empty source, an
 * input with no value in the training rows, a single-class target.
 *
 * one_pass: the consumer streams its rows and needs neither the row counts
 * (rows_read, skipped_rows, train_rows, test_rows) nor the means before its
 * first scan — they are final after DatasetEndScan of that scan. A regression
 * over numeric inputs is then read without a first pass (an empty source is
 * reported by DatasetEndScan). With one_pass false, everything is known on
 * return. An infinite target or numeric input value (or a numeric too large
 * for a float8) of a row with a target is an error (22003), wherever a scan
 * meets it.
 */
extern Dataset *DatasetPrepare(const char *source, const char *target, List *features,
							   bool classification, double test_fraction, int seed,
							   bool one_pass);

/*
 * The cuts of a classification split as training drew them (the version's
 * spec, docs/model-format.md): per class value, test iff key < cut.
 */
typedef struct DatasetClassCuts
{
	int			nclasses;
	const double *classes;
	const uint64 *cuts;
} DatasetClassCuts;

/*
 * For evaluation: DatasetPrepare where only the first split_inputs features
 * (and the target) decide the split: the rows of a split made over those
 * features, read with further columns (promote's gate scores an incumbent
 * with other features on the candidate's test split). -1 means all of them,
 * as DatasetPrepare. Infinite values are kept: scoring takes them as given;
 * so is a target of a single class. cuts (classification, or NULL): the
 * training's cuts, so that a row keeps the side it had in training whatever
 * rows were added or removed since; a row of a class they lack is a test
 * row. Without them each class's cut is drawn again from the rows read.
 * no_value_hint (or NULL): the hint of the error (22000) for a feature that
 * has no value in the rows, which fits the caller (evaluate, promote's gate).
 */
extern Dataset *DatasetPrepareSplit(const char *source, const char *target, List *features,
									int split_inputs, bool classification, double test_fraction,
									int seed, bool one_pass, const DatasetClassCuts *cuts,
									const char *no_value_hint);

/*
 * Asks the first complete scan (call before it begins) to build the drift
 * profile of the inputs (profile.h) from every row it reads — NULL targets
 * included — as mlops.profile(source, features) would: no extra pass.
 */
extern void DatasetCollectProfile(Dataset *ds);

/* That profile (a frozen profile's jsonb), after the first complete scan. */
extern Jsonb *DatasetProfile(Dataset *ds);

/* Starts a scan over the source's rows (target not NULL nor NaN), in batches. */
extern DatasetScan *DatasetBeginScan(Dataset *ds);

/*
 * Starts a scan over the test rows only. The first complete scan keeps them in
 * memory when they fit within mlops.max_training_memory, and then this scan
 * reads no more rows from the source.
 */
extern DatasetScan *DatasetBeginTestScan(Dataset *ds);

/*
 * Before the first scan: it is not to keep the test rows in memory, because
 * the consumer keeps what it needs of them (a test scan then reads the source).
 */
extern void DatasetForgoTestCache(Dataset *ds);

/* The next batch (valid until the next call), or NULL at the end. */
extern DatasetBatch *DatasetNextBatch(DatasetScan *scan);

/* Ends a scan; after the first complete one the fingerprint is known. */
extern void DatasetEndScan(DatasetScan *scan);

/*
 * Counts bytes a training (or, for DatasetPrepareSplit, an evaluation) is
 * about to hold against mlops.max_training_memory; raises 53200
 * (out_of_memory) with a hint when it would exceed it.
 */
extern void DatasetReserveMemory(Dataset *ds, Size bytes, const char *what);

/*
 * Raises 55000 for a source whose rows differ between two passes over it;
 * detail says what differed, a full sentence.
 */
extern void DatasetRefuseChangedSource(const Dataset *ds, const char *detail) pg_attribute_noreturn();

/* "1 training row", "2 training rows" (kind "training" or "test"), palloc'd, for such details. */
extern char *DatasetRowCount(long long n, const char *kind);

/* The progress clock of the work on the dataset (progress.h), started when it was prepared. */
extern struct Progress *DatasetProgress(Dataset *ds);

/* The value NULL of input j is replaced by (mean or mode index), for linear models. */
extern double DatasetImputeValue(const Dataset *ds, int j);

/*
 * The version's spec (docs/model-format.md) as JSON text; with_impute for
 * linear models. A classification split adds its cuts ("split").
 */
extern void DatasetSpecJson(const Dataset *ds, bool with_impute, StringInfo out);

/* The input names as a text[] datum, in order (the version's features). */
extern Datum DatasetFeaturesArray(const Dataset *ds);

#endif
