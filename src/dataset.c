/*
 * dataset.c — a training set read from a source: schema checks, classes,
 * categories, imputation values, the deterministic stratified split and the
 * data fingerprint, and batches of input vectors for the algorithms.
 *
 * The split does not depend on the order in which rows arrive: every row gets
 * a 64-bit key, a hash of its content mixed with the seed, and a row is a test
 * row when its key is below its class's cut. For classification the cut makes
 * the test rows of a class exactly the round(test_fraction × rows of the
 * class) rows with the smallest keys (at least one row of each class stays in
 * training): stratified, and found by a first pass over the keys. For
 * regression the cut is test_fraction × 2^64, so each row independently is a
 * test row with probability test_fraction: no pass is needed to know it, and a
 * consumer that streams (DatasetPrepare's one_pass) reads a regression over
 * numeric inputs only once. Identical rows share a key and fall on one side.
 * Training stores the classification cuts with the version (DatasetSpecJson),
 * and evaluation reuses them (DatasetPrepareSplit), so that a row keeps its
 * side when rows are added to or removed from the source.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "mlops/dataset.h"
#include "mlops/float_text.h"
#include "mlops/mix64.h"
#include "mlops/profile.h"
#include "mlops/progress.h"
#include "mlops/settings.h"
#include "mlops/source.h"

/*
 * The bytes a distinct category of an evaluation takes besides its text (its
 * hash entry and its places in the sorted arrays), counted against
 * mlops.max_training_memory.
 */
#define DATASET_CATEGORY_BYTES 64

/* The keys of one class's rows (first pass), to find its cut. */
typedef struct KeyArray
{
	uint64	   *keys;
	int64		n;
	int64		cap;
} KeyArray;

/* A category seen in the training rows, in a hash table keyed by its text's hash. */
typedef struct CategoryEntry
{
	uint64		hash;			/* key */
	char	   *text;
	int64		count;
} CategoryEntry;

/* A class seen in the first pass, keyed by its value. */
typedef struct ClassEntry
{
	double		value;			/* key */
	int			index;			/* order of discovery */
} ClassEntry;

/* One row of the source, decoded. */
typedef struct RowValues
{
	bool		target_null;
	double		y;
	bool	   *null;			/* per input */
	double	   *num;			/* numeric inputs */
	char	  **text;			/* categorical inputs */
} RowValues;

struct DatasetPrivate
{
	char	   *select_list;	/* the target and the inputs, in the source's column order */
	int			target_att;		/* the target's position in the select list */
	int		   *input_att;		/* ... and each input's */
	int			split_inputs;	/* the row key hashes the target and the first this many inputs */
	bool		training;		/* an infinite input is an error, a single class too */
	const char *no_value_hint;	/* the hint of the error for a feature without a value */
	FmgrInfo   *out_funcs;		/* categorical inputs: output functions */
	RowValues	row;
	uint64	   *cut;			/* per class (or [0] for regression): test iff key < cut */
	const DatasetClassCuts *stored_cuts;	/* evaluation: the training's cuts, or NULL */
	HTAB	  **category_tables;	/* per categorical input, while discovering */
	double	   *sums;			/* per numeric input: sum and count of training values */
	int64	   *counts;
	double	   *firsts;			/* ... its first training value */
	bool	   *constant;		/* ... and whether every one equals it */
	MemoryContext context;		/* where the dataset lives */
	bool		collecting;		/* a scan that only gathers the statistics (StatsPass) */
	bool		stats_pending;	/* numeric means still to be taken in the first scan */
	bool		lazy;			/* no first pass: the first scan counts the rows */
	bool		scanned;		/* a complete scan has finished */
	List	   *test_cache;		/* the test rows (DatasetBatch *), kept by the first scan */
	bool		test_cache_ok;	/* ... complete: test scans need not read the source */
	bool		no_test_cache;	/* DatasetForgoTestCache: the consumer keeps what it needs */
	Size		test_cache_bytes;
	Size		reserved;		/* bytes counted against mlops.max_training_memory */
	Size		profile_reserved;	/* ... of them, the profile builder's (row sample, categories) */
	bool		want_profile;	/* the first complete scan profiles the inputs */
	ProfileBuilder *profile;	/* ... fed every row of the source, in its own context */
	Jsonb	   *frozen_profile; /* ... its result, once that scan is over */
	Progress	progress;		/* of the work on the dataset, from its preparation */
	int			passes;			/* over the source so far */
};

struct DatasetScan
{
	Dataset    *ds;
	SourceReader *reader;
	MemoryContext row_context;	/* conversions of one batch */
	DatasetBatch batch;
	bool		first;			/* the first complete scan: finish the statistics */
	bool		test_only;		/* yield the test rows only */
	ListCell   *cached;			/* a test scan served from the cache: the next batch */
	uint64		fingerprint_sum;
	int64		fingerprint_rows;
	bool		done;			/* the source has no more rows */
	bool		batch_has_null;	/* an input of the current batch is NULL */
	int			pass;			/* which pass over the source it is */
	int64		rows_fetched;	/* the rows it has read */
};

/* The bits of a float8, with -0 and every NaN made canonical, for hashing. */
static inline uint64
DoubleBits(double v)
{
	uint64		bits;

	if (v == 0.0)
		return 0;
	if (isnan(v))
		return UINT64CONST(0x7ff8000000000000);
	memcpy(&bits, &v, sizeof(bits));
	return bits;
}

/*
 * The content hash of a decoded row (target and inputs), independent of the
 * seed: the target starts it, each input takes a ContentHashStep (mix64.h).
 */
static uint64
RowHash(const Dataset *ds, const RowValues *row)
{
	uint64		h = ContentHashStep(CONTENT_HASH_SEED, DoubleBits(row->y));

	for (int j = 0; j < ds->priv->split_inputs; j++)
	{
		uint64		v;

		if (row->null[j])
			v = CONTENT_HASH_NULL;
		else if (ds->inputs[j].kind == INPUT_NUMERIC)
			v = DoubleBits(row->num[j]);
		else
			v = hash_bytes_extended((const unsigned char *) row->text[j], strlen(row->text[j]), j);
		h = ContentHashStep(h, v);
	}
	return Mix64(h);
}

/* The split key of a row: its content hash mixed with the seed. */
static inline uint64
SplitKey(const Dataset *ds, uint64 content_hash)
{
	return Mix64(content_hash ^ Mix64((uint64) (uint32) ds->seed + UINT64CONST(0xa4093822299f31d0)));
}

/*
 * Frees the test rows the first scan kept (test scans then read the source
 * again) and stops keeping more.
 */
static void
DropTestCache(struct DatasetPrivate *p)
{
	list_free_deep(p->test_cache);
	p->test_cache = NIL;
	p->reserved -= p->test_cache_bytes;
	p->test_cache_bytes = 0;
	p->test_cache_ok = false;
}

/* The progress clock of the work on the dataset, started when it was prepared. */
Progress *
DatasetProgress(Dataset *ds)
{
	return &ds->priv->progress;
}

/*
 * Counts bytes against mlops.max_training_memory, or raises 53200 (as
 * training's or, for DatasetPrepareSplit, evaluation's). The test rows kept
 * in memory are only a shortcut: they are dropped before what is needed is
 * refused. Not to be called while a test scan reads them.
 */
void
DatasetReserveMemory(Dataset *ds, Size bytes, const char *what)
{
	struct DatasetPrivate *p = ds->priv;

	p->reserved += bytes;
	if (p->reserved > (Size) mlops_max_training_memory * 1024 && p->test_cache_bytes > 0)
		DropTestCache(p);
	MlopsRequireMemory(p->reserved, p->training ? "training" : "evaluation", what,
					   p->training ? "train on fewer rows or features" : "evaluate on fewer rows");
}

/*
 * Sets what the version's drift profile holds now (bytes, in all) — the
 * profile builder's row sample, up to 200,000 rows of every numeric input,
 * and its categories (as its ProfileMemoryHook), then the building of its
 * jsonb, then the jsonb — counted against mlops.max_training_memory like the
 * rows an algorithm holds.
 */
static void
ChargeProfileMemory(void *arg, Size bytes)
{
	Dataset    *ds = arg;
	struct DatasetPrivate *p = ds->priv;

	p->reserved -= p->profile_reserved;
	p->profile_reserved = bytes;
	DatasetReserveMemory(ds, bytes, "the drift profile");
}

/*
 * Finds a column of the source by name, or raises 42703; 42701 when the
 * source has more than one column of that name (which one is meant?).
 */
static SourceColumn *
FindColumn(List *columns, const char *name, const char *source, const char *what)
{
	SourceColumn *col = SourceColumnNamed(columns, name);
	int			named = SourceColumnsNamed(columns, name);

	if (col == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("%s column \"%s\" does not exist in source \"%s\"", what, name, source)));
	if (named > 1)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_COLUMN),
				 errmsg("source \"%s\" has %d columns named \"%s\"", source, named, name),
				 errhint("Give the columns distinct names (AS) in a query source.")));
	return col;
}

/*
 * Resolves the target and the inputs against the source's columns, checks
 * their types, and makes the select list the scans read.
 */
static void
ResolveColumns(Dataset *ds, List *features)
{
	struct DatasetPrivate *p = ds->priv;
	List	   *columns = SourceColumns(ds->source);
	SourceColumn *target = FindColumn(columns, ds->target, ds->source, "target");
	List	   *names = NIL;
	ListCell   *lc;
	int			j = 0;

	if (!TypeIsNumeric(target->type))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("target column \"%s\" must be numeric, not %s", ds->target, format_type_be(target->type)),
				 errdetail("A target is an integer, float, numeric or boolean column; class labels are its values."),
				 errhint("Cast the column in a query source, e.g. SELECT ..., (label = 'yes')::int AS %s.", quote_identifier(ds->target))));
	ds->target_type = target->type;

	if (features == NIL)
	{
		foreach(lc, columns)
		{
			SourceColumn *col = lfirst(lc);

			if (strcmp(col->name, ds->target) != 0)
				features = lappend(features, col->name);
		}
		if (features == NIL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("source \"%s\" has no column besides the target", ds->source)));
	}
	ds->ninputs = list_length(features);
	ds->inputs = palloc0(sizeof(DatasetInput) * ds->ninputs);
	foreach(lc, features)
	{
		const char *name = lfirst(lc);
		SourceColumn *col;
		DatasetInput *in = &ds->inputs[j++];

		if (strcmp(name, ds->target) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the target \"%s\" cannot also be a feature", name)));
		col = FindColumn(columns, name, ds->source, "feature");
		if (list_member(names, makeString((char *) name)))
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_COLUMN),
					 errmsg("feature \"%s\" is given more than once", name)));
		names = lappend(names, makeString((char *) name));
		in->name = pstrdup(name);
		in->type = col->type;
		in->mode = -1;
		in->mean = NAN;
		if (TypeIsNumeric(col->type))
			in->kind = INPUT_NUMERIC;
		else if (TypeIsCategorical(col->type))
			in->kind = INPUT_CATEGORICAL;
		else
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("feature \"%s\" has unsupported type %s", name, format_type_be(col->type)),
					 errhint("Features are integer, float, numeric or boolean columns, or text, varchar, char or enum columns (categories).")));
	}

	/*
	 * The select list: the columns used, in the source's order, so that
	 * reading every column of a table takes the scan's tuples as they are
	 * (no projection of each row).
	 */
	names = NIL;
	p->input_att = palloc(sizeof(int) * Max(ds->ninputs, 1));
	foreach(lc, columns)
	{
		SourceColumn *col = lfirst(lc);
		int			at = list_length(names);

		if (list_member(names, makeString(col->name)))
			continue;			/* a second column of the same name */
		if (strcmp(col->name, ds->target) == 0)
			p->target_att = at;
		else
		{
			for (j = 0; j < ds->ninputs; j++)
				if (strcmp(col->name, ds->inputs[j].name) == 0)
					break;
			if (j == ds->ninputs)
				continue;
			p->input_att[j] = at;
		}
		names = lappend(names, makeString(col->name));
	}
	{
		List	   *strings = NIL;

		foreach(lc, names)
			strings = lappend(strings, strVal(lfirst(lc)));
		p->select_list = QuoteColumnList(strings);
	}
}

/*
 * Raises 22003 for an infinite value (or a numeric too large for a float8) of
 * the target or of input j (-1: the target) in a row with a target (the
 * others are skipped): no algorithm can use it (least squares turns it into
 * NaN coefficients, XGBoost refuses it), no metric measures against an
 * infinite target (evaluation refuses it too), and a NULL or NaN already
 * means a missing value.
 */
static void
RefuseInfinite(const Dataset *ds, int j, double v)
{
	ereport(ERROR,
			(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
			 errmsg("%s \"%s\" of source \"%s\" has the value %s", j < 0 ? "target" : "feature",
					j < 0 ? ds->target : ds->inputs[j].name, ds->source, v > 0 ? "Infinity" : "-Infinity"),
			 j < 0 ? errdetail("Training and evaluation need finite targets; a row whose target is NULL or NaN is skipped.")
			 : errdetail("Training needs finite values; NULL or NaN is a missing value."),
			 errhint("Leave such rows out, or turn the value into NULL, in a query source.")));
}

/* Decodes one row of the source (the select list's) into ds->priv->row. */
static void
DecodeRow(Dataset *ds, TupleTableSlot *slot)
{
	struct DatasetPrivate *p = ds->priv;
	RowValues  *row = &p->row;
	Datum	   *values;
	bool	   *isnull;

	/* in locals: the bool stores below would make the compiler reload them */
	const DatasetInput *inputs = ds->inputs;
	const int  *att = p->input_att;
	int			ninputs = ds->ninputs;
	bool	   *nulls = row->null;
	double	   *num = row->num;

	slot_getallattrs(slot);
	values = slot->tts_values;
	isnull = slot->tts_isnull;
	row->target_null = isnull[p->target_att];
	if (!row->target_null)
	{
		row->y = DatumGetNumericFloat8(values[p->target_att], ds->target_type);
		row->target_null = isnan(row->y);
		if (unlikely(isinf(row->y)))
			RefuseInfinite(ds, -1, row->y);
	}
	for (int j = 0; j < ninputs; j++)
	{
		bool		null = isnull[att[j]];

		if (!null && inputs[j].kind == INPUT_NUMERIC)
		{
			num[j] = DatumGetNumericFloat8(values[att[j]], inputs[j].type);
			null = isnan(num[j]);
			if (unlikely(isinf(num[j])) && p->training && !row->target_null)
				RefuseInfinite(ds, j, num[j]);
		}
		else if (!null)
		{
			row->text[j] = OutputFunctionCall(&p->out_funcs[j], values[att[j]]);
			row->text[j][CategoryTextLength(inputs[j].type, row->text[j], strlen(row->text[j]))] = '\0';
		}
		nulls[j] = null;
	}
}

/* Adds the decoded row, a training row, to the inputs' statistics. */
static void
AccumulateStats(Dataset *ds)
{
	struct DatasetPrivate *p = ds->priv;
	RowValues  *row = &p->row;

	/* in locals: the stores below would make the compiler reload them */
	DatasetInput *inputs = ds->inputs;
	int			ninputs = ds->ninputs;
	const bool *nulls = row->null;
	const double *num = row->num;
	double	   *sums = p->sums;
	int64	   *counts = p->counts;

	for (int j = 0; j < ninputs; j++)
	{
		if (nulls[j])
		{
			inputs[j].nulls++;
			continue;
		}
		if (inputs[j].kind == INPUT_NUMERIC)
		{
			if (counts[j] == 0)
			{
				p->firsts[j] = num[j];
				p->constant[j] = true;
			}
			else if (num[j] != p->firsts[j])
				p->constant[j] = false;
			sums[j] += num[j];
			counts[j]++;
		}
		else
		{
			uint64		h = hash_bytes_extended((const unsigned char *) row->text[j], strlen(row->text[j]), 0);
			bool		found;
			CategoryEntry *e = hash_search(p->category_tables[j], &h, HASH_ENTER, &found);

			if (!found)
			{
				/*
				 * The limit is on what a model learns; evaluation scores any
				 * number of categories, as predict does (those its models
				 * never saw are missing), within the memory setting.
				 */
				if (!p->training)
					DatasetReserveMemory(ds, DATASET_CATEGORY_BYTES + strlen(row->text[j]) + 1,
										 "the categories of the rows");
				else if (hash_get_num_entries(p->category_tables[j]) > DATASET_MAX_CATEGORIES)
					ereport(ERROR,
							(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
							 errmsg("feature \"%s\" has more than %d categories", ds->inputs[j].name,
									DATASET_MAX_CATEGORIES),
							 errhint("Leave out identifier-like text columns, or group rare categories in a query source.")));
				e->text = MemoryContextStrdup(p->context, row->text[j]);
				e->count = 0;
			}
			else if (strcmp(e->text, row->text[j]) != 0)
				elog(ERROR, "64-bit hash collision between categories \"%s\" and \"%s\"", e->text, row->text[j]);
			e->count++;
		}
	}
}

/* qsort comparator of category entries (pointers) by text, in C collation. */
static int
CompareCategoryEntries(const void *a, const void *b)
{
	return strcmp((*(CategoryEntry *const *) a)->text, (*(CategoryEntry *const *) b)->text);
}

/* Turns the accumulated statistics into categories, modes and means; checks every input has a value. */
static void
FinishStats(Dataset *ds)
{
	struct DatasetPrivate *p = ds->priv;

	for (int j = 0; j < ds->ninputs; j++)
	{
		DatasetInput *in = &ds->inputs[j];
		HASH_SEQ_STATUS status;
		CategoryEntry *e;
		CategoryEntry **entries;
		int			n = 0;
		int64		best = -1;
		int64		values = in->kind == INPUT_NUMERIC ? p->counts[j] : hash_get_num_entries(p->category_tables[j]);

		/* evaluation's hint is its caller's: a version's features are not its to leave out */
		if (values == 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 p->training ?
					 errmsg("feature \"%s\" has no value in the training rows", in->name) :
					 errmsg("feature \"%s\" has no value in the rows to evaluate on", in->name),
					 in->kind == INPUT_NUMERIC ?
					 errdetail_plural("Its %lld %svalue is NULL or NaN.",
									  "Every one of its %lld %svalues is NULL or NaN.",
									  (unsigned long) Min(in->nulls, ULONG_MAX), (long long) in->nulls,
									  p->training ? "training " : "") :
					 errdetail_plural("Its %lld %svalue is NULL.",
									  "Every one of its %lld %svalues is NULL.",
									  (unsigned long) Min(in->nulls, ULONG_MAX), (long long) in->nulls,
									  p->training ? "training " : ""),
					 p->no_value_hint ? errhint("%s", p->no_value_hint) : 0));
		/*
		 * a column constant but for its NULLs stays constant once imputed:
		 * the sum's rounding (78 × 0.1 / 78 is 0.09999999999999985) would give
		 * it a variance that linear fits as an indicator of the NULLs, with a
		 * coefficient of 1e16
		 */
		if (in->kind == INPUT_NUMERIC)
		{
			in->mean = p->constant[j] ? p->firsts[j] : p->sums[j] / p->counts[j];
			continue;
		}

		/* the categories in sorted order, with their counts */
		in->ncategories = values;
		entries = palloc(sizeof(CategoryEntry *) * in->ncategories);
		hash_seq_init(&status, p->category_tables[j]);
		while ((e = hash_seq_search(&status)) != NULL)
			entries[n++] = e;
		qsort(entries, n, sizeof(CategoryEntry *), CompareCategoryEntries);
		in->categories = palloc(sizeof(char *) * n);
		for (int c = 0; c < n; c++)
		{
			in->categories[c] = entries[c]->text;
			/* the mode: the most frequent category, the first in sorted order on ties */
			if (entries[c]->count > best)
			{
				best = entries[c]->count;
				in->mode = c;
			}
		}
		pfree(entries);
		hash_destroy(p->category_tables[j]);
		p->category_tables[j] = NULL;
	}
}

/* Creates the category hash tables of the categorical inputs. */
static void
StartStats(Dataset *ds)
{
	struct DatasetPrivate *p = ds->priv;

	for (int j = 0; j < ds->ninputs; j++)
	{
		HASHCTL		ctl;

		p->sums[j] = 0;
		p->counts[j] = 0;
		ds->inputs[j].nulls = 0;
		if (ds->inputs[j].kind != INPUT_CATEGORICAL)
			continue;
		ctl.keysize = sizeof(uint64);
		ctl.entrysize = sizeof(CategoryEntry);
		ctl.hcxt = CurrentMemoryContext;
		p->category_tables[j] = hash_create("mlops categories", 64, &ctl,
											HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
}

/* The k-th smallest (0-based) of n keys, reordering them (quickselect). */
static uint64
SelectKey(uint64 *a, int64 n, int64 k)
{
	int64		lo = 0,
				hi = n - 1;

	while (lo < hi)
	{
		uint64		pivot = a[lo + (hi - lo) / 2];
		int64		i = lo,
					j = hi;

		CHECK_FOR_INTERRUPTS();
		while (i <= j)
		{
			while (a[i] < pivot)
				i++;
			while (a[j] > pivot)
				j--;
			if (i <= j)
			{
				uint64		t = a[i];

				a[i] = a[j];
				a[j] = t;
				i++;
				j--;
			}
		}
		if (k <= j)
			hi = j;
		else if (k >= i)
			lo = i;
		else
			return a[k];
	}
	return a[k];
}

/* The index of a class value (classes sorted), or -1. */
static int
ClassIndex(const Dataset *ds, double y)
{
	int			lo = 0,
				hi = ds->nclasses - 1;

	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;

		if (ds->classes[mid] == y)
			return mid;
		if (ds->classes[mid] < y)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
}

/* Raises 22000 when no row of the source has a target value. */
static void
CheckNotEmpty(const Dataset *ds)
{
	if (ds->rows_read == ds->skipped_rows)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("source \"%s\" has no row with a target value", ds->source),
				 errdetail_plural("It has %lld row; rows whose target \"%s\" is NULL or NaN are skipped.",
								  "It has %lld rows; rows whose target \"%s\" is NULL or NaN are skipped.",
								  (unsigned long) Min(ds->rows_read, ULONG_MAX),
								  (long long) ds->rows_read, ds->target)));
}

/*
 * Raises 22000 when the split leaves a training without a training row (a
 * regression on very few rows); an evaluation scores its test rows however
 * few other rows there are.
 */
static void
CheckTrainRows(const Dataset *ds)
{
	if (ds->train_rows == 0 && ds->priv->training)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("the split of source \"%s\" leaves no training row", ds->source),
				 errdetail_plural("Its %lld row with a target is a test row.",
								  "All %lld rows with a target are test rows.",
								  (unsigned long) Min(ds->test_rows, ULONG_MAX),
								  (long long) ds->test_rows),
				 errhint("Lower test_fraction, or give more rows.")));
}

/*
 * Raises 55000 for a source whose rows differ between two passes over it
 * (detail: what differed, a full sentence): the split, the classes and the
 * statistics of the first pass would not describe the rows read.
 */
void
DatasetRefuseChangedSource(const Dataset *ds, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("source \"%s\" changed while it was read", ds->source),
			 errdetail_internal("%s", detail),
			 errhint("A query source must return the same rows each time it runs (no random() or volatile functions).")));
}

/* "1 training row", "2 training rows": a count of rows in a detail built in pieces. */
char *
DatasetRowCount(long long n, const char *kind)
{
	return psprintf(n == 1 ? "%lld %s row" : "%lld %s rows", n, kind);
}

/* The regression cut: keys below test_fraction × 2^64 are test rows. */
static uint64
RegressionCut(double test_fraction)
{
	double		cut = ldexp(test_fraction, 64);

	return cut >= 18446744073709549568.0 ? PG_UINT64_MAX : (uint64) cut;
}

/*
 * The stored cut of class value y (DatasetClassCuts); a class the training
 * did not have is all test rows.
 */
static uint64
StoredCut(const DatasetClassCuts *cuts, double y)
{
	for (int k = 0; k < cuts->nclasses; k++)
		if (cuts->classes[k] == y)
			return cuts->cuts[k];
	return PG_UINT64_MAX;
}

/* What the first pass gathers. */
typedef struct FirstPassState
{
	Dataset    *ds;
	MemoryContext row_context;
	bool	   *has_nulls;		/* per input */
	bool		split;
	KeyArray   *keys;			/* per class in order of discovery (regression: [0]) */
	HTAB	   *class_table;
	int			nfound;
	double	   *found_values;
} FirstPassState;

/* One row of the first pass (a SourceRowFn). */
static void
FirstPassRow(TupleTableSlot *slot, void *arg)
{
	FirstPassState *st = arg;
	Dataset    *ds = st->ds;
	struct DatasetPrivate *p = ds->priv;
	MemoryContext old = MemoryContextSwitchTo(st->row_context);
	int			c = 0;

	DecodeRow(ds, slot);
	ds->rows_read++;
	if (p->row.target_null)
	{
		ds->skipped_rows++;
		MemoryContextSwitchTo(old);
		return;
	}
	for (int j = 0; j < ds->ninputs; j++)
		st->has_nulls[j] |= p->row.null[j];
	if (ds->classification)
	{
		bool		found;
		double		v = p->row.y == 0.0 ? 0.0 : p->row.y;
		ClassEntry *e = hash_search(st->class_table, &v, HASH_ENTER, &found);

		if (!found)
		{
			if (st->nfound >= DATASET_MAX_CATEGORIES)
				ereport(ERROR,
						(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						 errmsg("target \"%s\" has more than %d classes", ds->target, DATASET_MAX_CATEGORIES),
						 errhint("A continuous target calls for task => 'regression'.")));
			e->index = st->nfound;
			st->found_values[st->nfound++] = v;
		}
		c = e->index;
	}
	if (st->split && !ds->classification)
		ds->test_rows += SplitKey(ds, RowHash(ds, &p->row)) < p->cut[0];
	else if (st->split)
	{
		KeyArray   *ka = &st->keys[c];

		if (ka->n == ka->cap)
		{
			int64		grow = Max(1024, ka->cap);

			DatasetReserveMemory(ds, grow * sizeof(uint64), "the split keys");
			MemoryContextSwitchTo(p->context);
			ka->keys = ka->keys ? repalloc_huge(ka->keys, (ka->cap + grow) * sizeof(uint64))
				: palloc_extended(grow * sizeof(uint64), MCXT_ALLOC_HUGE);
			MemoryContextSwitchTo(st->row_context);
			ka->cap += grow;
		}
		ka->keys[ka->n++] = SplitKey(ds, RowHash(ds, &p->row));
	}
	else
		AccumulateStats(ds);
	MemoryContextSwitchTo(old);
}

/*
 * Tells the session, when a progress NOTICE is due, how far pass `pass` over
 * the source has come: a pass over a large source takes minutes.
 */
static void
ReportPass(Dataset *ds, int pass, int64 rows)
{
	double		elapsed;

	if (ProgressDue(&ds->priv->progress, &elapsed))
		ereport(NOTICE,
				(errmsg_plural("pass %d over the source: %lld row read, %.1f s elapsed",
							   "pass %d over the source: %lld rows read, %.1f s elapsed",
							   (unsigned long) Min(rows, ULONG_MAX), pass, (long long) rows, elapsed)));
}

/*
 * The first pass: counts the rows, discovers the classes, collects the split
 * keys per class and computes the cuts; with test_fraction 0 (every row is a
 * training row) it also gathers the statistics of the inputs.
 */
static void
FirstPass(Dataset *ds, bool *has_nulls)
{
	struct DatasetPrivate *p = ds->priv;
	SourceReader *reader = SourceOpen(ds->source, p->select_list);
	FirstPassState st;
	KeyArray   *keys;
	bool		split = ds->test_fraction > 0;
	uint64		fetched;
	int64		rows = 0;

	memset(&st, 0, sizeof(st));
	st.ds = ds;
	st.has_nulls = has_nulls;
	st.split = split;
	st.row_context = AllocSetContextCreate(CurrentMemoryContext, "mlops dataset rows",
										   ALLOCSET_DEFAULT_SIZES);
	if (ds->classification)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(double);
		ctl.entrysize = sizeof(ClassEntry);
		ctl.hcxt = CurrentMemoryContext;
		st.class_table = hash_create("mlops classes", 16, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		st.found_values = palloc(sizeof(double) * (DATASET_MAX_CATEGORIES + 1));
	}
	st.keys = palloc0(sizeof(KeyArray) * (ds->classification ? DATASET_MAX_CATEGORIES + 1 : 1));
	if (!split)
		StartStats(ds);
	p->passes++;
	while ((fetched = SourceFetch(reader, FirstPassRow, &st)) > 0)
	{
		MemoryContextReset(st.row_context);
		rows += fetched;
		ReportPass(ds, p->passes, rows);
	}
	SourceClose(reader);
	MemoryContextDelete(st.row_context);
	keys = st.keys;

	CheckNotEmpty(ds);

	/* classes in ascending order, and the key arrays in the same order */
	if (ds->classification)
	{
		KeyArray   *sorted_keys = palloc0(sizeof(KeyArray) * st.nfound);

		if (st.nfound < 2 && p->training)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("target \"%s\" has a single class", ds->target),
					 errdetail("Every row with a target has the value %s.", Float8ExactText(st.found_values[0])),
					 errhint("Classification needs at least two distinct target values.")));
		ds->nclasses = st.nfound;
		ds->classes = palloc(sizeof(double) * st.nfound);
		memcpy(ds->classes, st.found_values, sizeof(double) * st.nfound);
		SortDoubles(ds->classes, st.nfound);
		for (int c = 0; c < st.nfound; c++)
			sorted_keys[ClassIndex(ds, st.found_values[c])] = keys[c];
		keys = sorted_keys;
		hash_destroy(st.class_table);
	}

	/* the cut of each class: the key of its first training row (or the training's) */
	if (ds->classification)
		p->cut = palloc0(sizeof(uint64) * ds->nclasses);
	for (int c = 0; c < ds->nclasses; c++)
	{
		KeyArray   *ka = &keys[c];
		int64		ntest;

		if (!split)
		{
			p->cut[c] = 0;
			continue;
		}
		if (p->stored_cuts)
			p->cut[c] = StoredCut(p->stored_cuts, ds->classes[c]);
		else
		{
			ntest = Min((int64) floor(ds->test_fraction * ka->n + 0.5), ka->n - 1);
			p->cut[c] = ntest > 0 ? SelectKey(ka->keys, ka->n, ntest) : 0;
		}
		for (int64 i = 0; i < ka->n; i++)
			ds->test_rows += ka->keys[i] < p->cut[c];
		if (ka->keys)
			pfree(ka->keys);
		p->reserved -= ka->cap * sizeof(uint64);
	}
	ds->train_rows = ds->rows_read - ds->skipped_rows - ds->test_rows;
	CheckTrainRows(ds);
	if (!split)
		FinishStats(ds);
}

/*
 * A second pass for the categories and means: of the training rows for
 * training, of every row for evaluation (see ScanRow).
 */
static void
StatsPass(Dataset *ds)
{
	DatasetScan *scan;

	StartStats(ds);
	ds->priv->collecting = true;
	scan = DatasetBeginScan(ds);
	while (DatasetNextBatch(scan) != NULL)
		;
	DatasetEndScan(scan);
	ds->priv->collecting = false;
	FinishStats(ds);
}

static Dataset *Prepare(const char *source, const char *target, List *features, int split_inputs,
						bool classification, double test_fraction, int seed, bool one_pass,
						bool training, const DatasetClassCuts *cuts, const char *no_value_hint);

/* Reads a training set: the source's schema and the first pass(es) over its rows. */
Dataset *
DatasetPrepare(const char *source, const char *target, List *features,
			   bool classification, double test_fraction, int seed, bool one_pass)
{
	return Prepare(source, target, features, -1, classification, test_fraction, seed, one_pass, true, NULL,
				   "Leave the column out of the features.");
}

/*
 * For evaluation: DatasetPrepare, the split decided by the first split_inputs
 * features only (-1: all) and by the training's cuts when given, and
 * infinite features kept (scoring takes them); no_value_hint (or NULL) is the
 * hint of the error for a feature without a value.
 */
Dataset *
DatasetPrepareSplit(const char *source, const char *target, List *features, int split_inputs,
					bool classification, double test_fraction, int seed, bool one_pass,
					const DatasetClassCuts *cuts, const char *no_value_hint)
{
	return Prepare(source, target, features, split_inputs, classification, test_fraction, seed, one_pass,
				   false, cuts, no_value_hint);
}

/*
 * DatasetPrepare and DatasetPrepareSplit; training: an infinite input is an
 * error (an infinite target always is), and so is a classification target of
 * a single class, which evaluation takes (a batch of positives only).
 */
static Dataset *
Prepare(const char *source, const char *target, List *features, int split_inputs,
		bool classification, double test_fraction, int seed, bool one_pass, bool training,
		const DatasetClassCuts *cuts, const char *no_value_hint)
{
	Dataset    *ds = palloc0(sizeof(Dataset));
	struct DatasetPrivate *p = palloc0(sizeof(struct DatasetPrivate));
	bool	   *has_nulls;
	bool		need_stats = false;

	ds->priv = p;
	ProgressStart(&p->progress);
	p->training = training;
	p->no_value_hint = no_value_hint;
	p->stored_cuts = classification ? cuts : NULL;
	p->context = CurrentMemoryContext;
	ds->source = pstrdup(source);
	ds->target = pstrdup(target);
	ds->classification = classification;
	ds->test_fraction = test_fraction;
	ds->seed = seed;
	ResolveColumns(ds, features);
	p->split_inputs = split_inputs < 0 ? ds->ninputs : Min(split_inputs, ds->ninputs);
	p->row.null = palloc0(sizeof(bool) * ds->ninputs);
	p->row.num = palloc0(sizeof(double) * ds->ninputs);
	p->row.text = palloc0(sizeof(char *) * ds->ninputs);
	p->out_funcs = palloc0(sizeof(FmgrInfo) * ds->ninputs);
	p->category_tables = palloc0(sizeof(HTAB *) * ds->ninputs);
	p->sums = palloc0(sizeof(double) * ds->ninputs);
	p->counts = palloc0(sizeof(int64) * ds->ninputs);
	p->firsts = palloc0(sizeof(double) * ds->ninputs);
	p->constant = palloc0(sizeof(bool) * ds->ninputs);
	for (int j = 0; j < ds->ninputs; j++)
	{
		if (ds->inputs[j].kind == INPUT_CATEGORICAL)
		{
			Oid			func;
			bool		varlena;

			getTypeOutputInfo(ds->inputs[j].type, &func, &varlena);
			fmgr_info(func, &p->out_funcs[j]);
		}
	}
	has_nulls = palloc0(sizeof(bool) * ds->ninputs);
	if (!classification)
	{
		p->cut = palloc(sizeof(uint64));
		p->cut[0] = test_fraction > 0 ? RegressionCut(test_fraction) : 0;
	}

	/*
	 * A streaming consumer of a regression over numeric inputs needs nothing
	 * from a first pass: its first scan counts the rows and takes the means,
	 * and imputation values are computed (by a pass of their own) only if a
	 * NULL turns up, before the batch holding it is handed over.
	 */
	if (one_pass && !classification)
	{
		bool		numeric = true;

		for (int j = 0; j < ds->ninputs; j++)
			numeric &= ds->inputs[j].kind == INPUT_NUMERIC;
		if (numeric)
		{
			p->lazy = true;
			StartStats(ds);
			p->stats_pending = true;
			return ds;
		}
	}

	FirstPass(ds, has_nulls);

	/*
	 * With a split, the training rows' categories and the means of inputs
	 * with NULLs (needed to impute them) take a pass of their own; the means
	 * of inputs without NULLs are taken by the consumer's first scan.
	 */
	if (test_fraction > 0)
	{
		for (int j = 0; j < ds->ninputs; j++)
			need_stats |= has_nulls[j] || ds->inputs[j].kind == INPUT_CATEGORICAL;
		if (need_stats)
			StatsPass(ds);
		else
		{
			StartStats(ds);
			p->stats_pending = true;
		}
	}
	return ds;
}

/*
 * Keeps the test rows of a batch of the first scan in memory, so that scoring
 * them needs no further pass over the source. The cache stays within
 * mlops.max_training_memory: when it would not, it is dropped (test scans then
 * read the source again) rather than raising an error.
 */
static void
CacheTestRows(Dataset *ds, const DatasetBatch *b)
{
	struct DatasetPrivate *p = ds->priv;
	DatasetBatch *copy;
	int			n = 0;
	Size		bytes;
	MemoryContext old;

	if (!p->test_cache_ok)
		return;
	for (int i = 0; i < b->nrows; i++)
		n += b->is_test[i];
	if (n == 0)
		return;
	bytes = (Size) n * (sizeof(double) * (ds->ninputs + 1) + sizeof(int) + sizeof(bool));
	if (p->reserved + bytes > (Size) mlops_max_training_memory * 1024)
	{
		DropTestCache(p);
		return;
	}
	p->reserved += bytes;
	p->test_cache_bytes += bytes;
	old = MemoryContextSwitchTo(p->context);
	copy = palloc(sizeof(DatasetBatch));
	copy->x = palloc(sizeof(double) * n * Max(ds->ninputs, 1));
	copy->y = palloc(sizeof(double) * n);
	copy->label = palloc(sizeof(int) * n);
	copy->is_test = palloc(sizeof(bool) * n);
	copy->nrows = 0;
	for (int i = 0; i < b->nrows; i++)
	{
		if (!b->is_test[i])
			continue;
		memcpy(copy->x + (Size) copy->nrows * ds->ninputs, b->x + (Size) i * ds->ninputs,
			   sizeof(double) * ds->ninputs);
		copy->y[copy->nrows] = b->y[i];
		copy->label[copy->nrows] = b->label[i];
		copy->is_test[copy->nrows] = true;
		copy->nrows++;
	}
	p->test_cache = lappend(p->test_cache, copy);
	MemoryContextSwitchTo(old);
}

/*
 * The first scan is not to keep the test rows in memory: the consumer keeps
 * what it needs of them (a test scan then reads the source again).
 */
void
DatasetForgoTestCache(Dataset *ds)
{
	ds->priv->no_test_cache = true;
}

/*
 * Starts a scan reading the source: over every row, or over the test rows
 * only. The first complete scan (neither a test scan nor the statistics pass)
 * also finishes what only it can (fingerprint, training means, the profile)
 * and decides whether the test rows are kept in memory; a test scan, seeing
 * only the test rows, leaves that to a later full scan.
 */
static DatasetScan *
BeginSourceScan(Dataset *ds, bool test_only)
{
	DatasetScan *scan = palloc0(sizeof(DatasetScan));
	int			cap = SOURCE_BATCH_ROWS;

	scan->ds = ds;
	scan->test_only = test_only;
	scan->first = !test_only && !ds->priv->scanned && !ds->priv->collecting;
	if (scan->first)
		ds->priv->test_cache_ok = ds->test_fraction > 0 && !ds->priv->no_test_cache;
	scan->reader = SourceOpen(ds->source, ds->priv->select_list);
	scan->pass = ++ds->priv->passes;
	if (scan->first && ds->priv->want_profile && ds->priv->profile == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(AllocSetContextCreate(ds->priv->context, "mlops dataset profile",
																		ALLOCSET_DEFAULT_SIZES));
		List	   *names = NIL;

		for (int j = 0; j < ds->ninputs; j++)
			names = lappend(names, ds->inputs[j].name);
		ds->priv->profile = ProfileBuilderCreate(scan->reader->tupdesc, names, PROFILE_EXACT_ROWS);
		ProfileBuilderSetMemoryHook(ds->priv->profile, ChargeProfileMemory, ds);
		MemoryContextSwitchTo(old);
	}
	scan->row_context = AllocSetContextCreate(CurrentMemoryContext, "mlops dataset rows",
											  ALLOCSET_DEFAULT_SIZES);
	scan->batch.x = palloc(sizeof(double) * cap * Max(ds->ninputs, 1));
	scan->batch.y = palloc(sizeof(double) * cap);
	scan->batch.label = palloc(sizeof(int) * cap);
	scan->batch.is_test = palloc(sizeof(bool) * cap);
	return scan;
}

/* Starts a scan over the test rows only: from memory when the first scan kept them. */
DatasetScan *
DatasetBeginTestScan(Dataset *ds)
{
	DatasetScan *scan;

	if (ds->priv->scanned && ds->priv->test_cache_ok)
	{
		scan = palloc0(sizeof(DatasetScan));
		scan->ds = ds;
		scan->test_only = true;
		scan->cached = list_head(ds->priv->test_cache);
		return scan;
	}
	return BeginSourceScan(ds, true);
}

/* Starts a scan over the source's rows (target not NULL nor NaN), in batches. */
DatasetScan *
DatasetBeginScan(Dataset *ds)
{
	return BeginSourceScan(ds, false);
}

/* The index of a category among an input's training categories, or -1. */
static int
CategoryIndex(const DatasetInput *in, const char *text)
{
	int			lo = 0,
				hi = in->ncategories - 1;

	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;
		int			cmp = strcmp(in->categories[mid], text);

		if (cmp == 0)
			return mid;
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
}

/* One row of a scan (a SourceRowFn): appended to the batch, or only counted. */
static void
ScanRow(TupleTableSlot *slot, void *arg)
{
	DatasetScan *scan = arg;
	Dataset    *ds = scan->ds;
	struct DatasetPrivate *p = ds->priv;
	DatasetBatch *b = &scan->batch;
	MemoryContext old = MemoryContextSwitchTo(scan->row_context);
	uint64		h;
	bool		is_test = false;
	int			label = -1;
	double	   *x;

	if (scan->first && p->profile)
		ProfileBuilderAddSlot(slot, p->profile);
	DecodeRow(ds, slot);
	if (scan->first && p->lazy)
		ds->rows_read++;
	if (p->row.target_null)
	{
		if (scan->first && p->lazy)
			ds->skipped_rows++;
		goto done;
	}
	if (ds->classification)
	{
		label = ClassIndex(ds, p->row.y);
		if (label < 0)
			DatasetRefuseChangedSource(ds, psprintf("Target value %s was not in the first pass over the rows.", Float8ExactText(p->row.y)));
	}
	h = RowHash(ds, &p->row);
	if (ds->test_fraction > 0)
		is_test = SplitKey(ds, h) < p->cut[Max(label, 0)];
	if (p->collecting)
	{
		/*
		 * Training learns its categories from its training rows; evaluation's
		 * categories are only the rows' encoding, mapped by text to each
		 * model's (EvalModelMap), so they are those of every row it scores: a
		 * category an incumbent knows is its own there too, as in predict.
		 */
		if (!is_test || !p->training)
			AccumulateStats(ds);
		goto done;
	}
	if (scan->test_only && !is_test)
		goto done;
	if (!is_test)
	{
		scan->fingerprint_sum += h;
		scan->fingerprint_rows++;
		if (scan->first && p->stats_pending)
			AccumulateStats(ds);
	}
	if (scan->first && p->lazy)
		ds->test_rows += is_test;
	x = b->x + (Size) b->nrows * ds->ninputs;
	{
		/* in locals: the stores below would make the compiler reload them */
		const DatasetInput *inputs = ds->inputs;
		const bool *nulls = p->row.null;
		const double *num = p->row.num;
		int			ninputs = ds->ninputs;
		bool		has_null = false;

		for (int j = 0; j < ninputs; j++)
		{
			if (nulls[j])
			{
				x[j] = NAN;
				has_null = true;
			}
			else if (inputs[j].kind == INPUT_NUMERIC)
				x[j] = num[j];
			else
			{
				int			c = CategoryIndex(&inputs[j], p->row.text[j]);

				x[j] = c >= 0 ? (double) c : NAN;
			}
		}
		scan->batch_has_null |= has_null;
	}
	b->y[b->nrows] = p->row.y;
	b->label[b->nrows] = label;
	b->is_test[b->nrows] = is_test;
	b->nrows++;
done:
	MemoryContextSwitchTo(old);
}

/* The next batch (valid until the next call), or NULL at the end. */
DatasetBatch *
DatasetNextBatch(DatasetScan *scan)
{
	Dataset    *ds = scan->ds;
	struct DatasetPrivate *p = ds->priv;
	DatasetBatch *b = &scan->batch;

	if (scan->cached != NULL || (scan->test_only && scan->reader == NULL))
	{
		DatasetBatch *cached = scan->cached ? lfirst(scan->cached) : NULL;

		if (cached)
			scan->cached = lnext(p->test_cache, scan->cached);
		return cached;
	}
	/* a fetch brings at most SOURCE_BATCH_ROWS rows, the batch's capacity */
	b->nrows = 0;
	scan->batch_has_null = false;
	while (b->nrows == 0 && !scan->done)
	{
		uint64		fetched;

		MemoryContextReset(scan->row_context);
		fetched = SourceFetch(scan->reader, ScanRow, scan);
		scan->done = fetched == 0;
		scan->rows_fetched += fetched;
		if (fetched > 0)
			ReportPass(ds, scan->pass, scan->rows_fetched);
	}
	/* the imputation values, before the first batch that needs them */
	if (scan->batch_has_null && p->stats_pending)
	{
		StatsPass(ds);
		p->stats_pending = false;
	}
	if (scan->first && b->nrows > 0)
		CacheTestRows(ds, b);
	return b->nrows > 0 ? b : NULL;
}

/*
 * Turns the first scan's profile builder into the profile's jsonb and frees
 * the builder (its row sample can be tens of MB) and what building the jsonb
 * took (about ten times the jsonb) before the consumer goes on to build what
 * it needs from the rows (XGBoost's matrix): only the jsonb is kept.
 */
static void
FreezeProfile(Dataset *ds)
{
	MemoryContext builder_context = GetMemoryChunkContext(ds->priv->profile);
	MemoryContext old = MemoryContextSwitchTo(builder_context);
	List	   *profiles = ProfileBuilderFinish(ds->priv->profile, PROFILE_SAMPLE_SIZE);
	Jsonb	   *profile;

	/* building the document takes far more than the summaries (its row sample is freed) */
	ChargeProfileMemory(ds, ProfileJsonbBytes(profiles));
	profile = ProfileToJsonb(profiles);
	ds->priv->frozen_profile = MemoryContextAlloc(ds->priv->context, VARSIZE(profile));
	memcpy(ds->priv->frozen_profile, profile, VARSIZE(profile));
	MemoryContextSwitchTo(old);
	MemoryContextDelete(builder_context);
	ds->priv->profile = NULL;
	ChargeProfileMemory(ds, VARSIZE(ds->priv->frozen_profile));
}

/*
 * Raises 55000 when a later full scan, read to its end, did not read the
 * training rows of the first (their count and the sum of their content
 * hashes, the fingerprint): a consumer reading the rows again (the scoring
 * scan, linear's refinement) would otherwise mix rows of two versions of a
 * source whose rows changed but not their number (a random() target).
 */
static void
CheckSameRows(const DatasetScan *scan)
{
	Dataset    *ds = scan->ds;
	char	   *fingerprint;

	if (scan->test_only || !scan->done || ds->priv->collecting || ds->fingerprint == NULL)
		return;
	fingerprint = psprintf("%lld:%016llx", (long long) scan->fingerprint_rows,
						   (unsigned long long) scan->fingerprint_sum);
	if (scan->fingerprint_rows != ds->train_rows)
		DatasetRefuseChangedSource(ds, psprintf("The first pass saw %s, pass %d %lld.",
												DatasetRowCount(ds->train_rows, "training"), scan->pass,
												(long long) scan->fingerprint_rows));
	if (strcmp(fingerprint, ds->fingerprint) != 0)
		DatasetRefuseChangedSource(ds, psprintf("The first pass and pass %d saw %s, not the same ones (fingerprints %s and %s).",
												scan->pass, DatasetRowCount(ds->train_rows, "training"), ds->fingerprint,
												fingerprint));
	pfree(fingerprint);
}

/* Ends a scan; the first complete one finishes the fingerprint and pending means. */
void
DatasetEndScan(DatasetScan *scan)
{
	Dataset    *ds = scan->ds;

	if (scan->reader == NULL)
		return;					/* a test scan served from memory */
	SourceClose(scan->reader);
	MemoryContextDelete(scan->row_context);
	if (!scan->first)
	{
		CheckSameRows(scan);
		return;
	}
	if (ds->priv->lazy)
	{
		CheckNotEmpty(ds);
		ds->train_rows = scan->fingerprint_rows;
		CheckTrainRows(ds);
	}
	if (scan->fingerprint_rows != ds->train_rows)
		DatasetRefuseChangedSource(ds, psprintf("The first pass saw %s, the last one %lld.",
										 DatasetRowCount(ds->train_rows, "training"), (long long) scan->fingerprint_rows));
	ds->fingerprint = psprintf("%lld:%016llx", (long long) scan->fingerprint_rows,
							   (unsigned long long) scan->fingerprint_sum);
	if (ds->priv->stats_pending)
	{
		FinishStats(ds);
		ds->priv->stats_pending = false;
	}
	if (ds->priv->profile)
		FreezeProfile(ds);
	ds->priv->scanned = true;
}

/* Asks the first complete scan (not begun yet) to profile the inputs over every row. */
void
DatasetCollectProfile(Dataset *ds)
{
	if (ds->priv->scanned)
		elog(ERROR, "the dataset's first scan is over");
	ds->priv->want_profile = true;
}

/* The profile of the inputs, as mlops.profile(source, features) gives it; after the first scan. */
Jsonb *
DatasetProfile(Dataset *ds)
{
	if (ds->priv->frozen_profile == NULL)
		elog(ERROR, "the dataset was not profiled");
	return ds->priv->frozen_profile;
}

/* The value NULL of input j is replaced by (mean, or mode index), for linear models. */
double
DatasetImputeValue(const Dataset *ds, int j)
{
	const DatasetInput *in = &ds->inputs[j];

	return in->kind == INPUT_NUMERIC ? in->mean : (double) in->mode;
}

/* The version's spec (docs/model-format.md) as JSON text; with_impute for linear models. */
void
DatasetSpecJson(const Dataset *ds, bool with_impute, StringInfo out)
{
	appendStringInfoString(out, "{\"inputs\": [");
	for (int j = 0; j < ds->ninputs; j++)
	{
		const DatasetInput *in = &ds->inputs[j];

		if (j > 0)
			appendStringInfoString(out, ", ");
		appendStringInfoString(out, "{\"name\": ");
		escape_json(out, in->name);
		if (in->kind == INPUT_NUMERIC)
		{
			appendStringInfoString(out, ", \"kind\": \"numeric\"");
			if (with_impute)
			{
				appendStringInfoString(out, ", \"impute\": ");
				AppendJsonFloat8(out, in->mean);
			}
		}
		else
		{
			appendStringInfoString(out, ", \"kind\": \"categorical\", \"categories\": [");
			for (int c = 0; c < in->ncategories; c++)
			{
				if (c > 0)
					appendStringInfoString(out, ", ");
				escape_json(out, in->categories[c]);
			}
			appendStringInfoChar(out, ']');
			if (with_impute)
			{
				appendStringInfoString(out, ", \"impute\": ");
				escape_json(out, in->categories[in->mode]);
			}
		}
		appendStringInfoChar(out, '}');
	}
	appendStringInfoChar(out, ']');
	/* the cuts, as decimal strings (a JSON number may not keep 64 bits) */
	if (ds->classification && ds->test_fraction > 0)
	{
		appendStringInfo(out, ", \"split\": {\"test_fraction\": %s, \"seed\": %d, \"cuts\": [",
						 Float8ExactText(ds->test_fraction), ds->seed);
		for (int c = 0; c < ds->nclasses; c++)
			appendStringInfo(out, "%s\"" UINT64_FORMAT "\"", c ? ", " : "", ds->priv->cut[c]);
		appendStringInfoString(out, "]}");
	}
	appendStringInfoChar(out, '}');
}

/* The input names as a text[] datum, in order (the version's features). */
Datum
DatasetFeaturesArray(const Dataset *ds)
{
	Datum	   *elems = palloc(sizeof(Datum) * ds->ninputs);

	for (int j = 0; j < ds->ninputs; j++)
		elems[j] = CStringGetTextDatum(ds->inputs[j].name);
	return PointerGetDatum(construct_array(elems, ds->ninputs, TEXTOID, -1, false, TYPALIGN_INT));
}
