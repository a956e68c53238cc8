/*
 * dataset.c — a training set read from a source: schema checks, classes,
 * categories, imputation values, the deterministic stratified split and the
 * data fingerprint, and batches of input vectors for the algorithms.
 *
 * The split does not depend on the order in which rows arrive: every row gets
 * a 64-bit key, a hash of its content mixed with the seed, and the test rows of
 * a class are the round(test_fraction × rows of the class) rows with the
 * smallest keys (at least one row of each class stays in training). A later
 * pass recognises a test row from its content alone: its key is below its
 * class's cut. Identical rows share a key and so fall on the same side.
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/hsearch.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "mlops/dataset.h"
#include "mlops/settings.h"
#include "mlops/source.h"

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
	char	   *select_list;	/* target, then the inputs */
	FmgrInfo   *out_funcs;		/* categorical inputs: output functions */
	Datum	   *values;			/* heap_deform_tuple buffers */
	bool	   *isnull;
	RowValues	row;
	uint64	   *cut;			/* per class (or [0] for regression): test iff key < cut */
	HTAB	  **category_tables;	/* per categorical input, while discovering */
	double	   *sums;			/* per numeric input: sum and count of training values */
	int64	   *counts;
	MemoryContext context;		/* where the dataset lives */
	bool		collecting;		/* a scan that only gathers the training rows' statistics */
	bool		stats_pending;	/* numeric means still to be taken in the first scan */
	bool		scanned;		/* a complete scan has finished */
	Size		reserved;		/* bytes counted against mlops.max_training_memory */
};

struct DatasetScan
{
	Dataset    *ds;
	SourceReader *reader;
	MemoryContext row_context;	/* conversions of one batch */
	DatasetBatch batch;
	bool		first;			/* the first complete scan: finish the statistics */
	uint64		fingerprint_sum;
	int64		fingerprint_rows;
	SPITupleTable *tuptable;	/* the cursor's current batch */
	uint64		ntuples;
	uint64		next_tuple;		/* position in it */
};

/* SplitMix64's finaliser: a fast, well-mixing bijection of 64-bit values. */
static inline uint64
Mix64(uint64 x)
{
	x ^= x >> 30;
	x *= UINT64CONST(0xbf58476d1ce4e5b9);
	x ^= x >> 27;
	x *= UINT64CONST(0x94d049bb133111eb);
	x ^= x >> 31;
	return x;
}

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

/* The content hash of a decoded row (target and inputs), independent of the seed. */
static uint64
RowHash(const Dataset *ds, const RowValues *row)
{
	uint64		h = Mix64(DoubleBits(row->y) ^ UINT64CONST(0x243f6a8885a308d3));

	for (int j = 0; j < ds->ninputs; j++)
	{
		uint64		v;

		if (row->null[j])
			v = UINT64CONST(0x13198a2e03707344);
		else if (ds->inputs[j].kind == INPUT_NUMERIC)
			v = DoubleBits(row->num[j]);
		else
			v = hash_bytes_extended((const unsigned char *) row->text[j], strlen(row->text[j]), j);
		h = Mix64(h ^ (v + UINT64CONST(0x9e3779b97f4a7c15) * (uint64) (j + 1)));
	}
	return h;
}

/* The split key of a row: its content hash mixed with the seed. */
static inline uint64
SplitKey(const Dataset *ds, uint64 content_hash)
{
	return Mix64(content_hash ^ Mix64((uint64) (uint32) ds->seed + UINT64CONST(0xa4093822299f31d0)));
}

/* Counts bytes against mlops.max_training_memory, or raises 53200. */
void
DatasetReserveMemory(Dataset *ds, Size bytes, const char *what)
{
	Size		limit = (Size) mlops_max_training_memory * 1024;

	ds->priv->reserved += bytes;
	if (ds->priv->reserved > limit)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("training needs more memory than mlops.max_training_memory allows"),
				 errdetail("Holding %s needs %zu kB in all; the limit is %d kB.",
						   what, ds->priv->reserved / 1024, mlops_max_training_memory),
				 errhint("Raise mlops.max_training_memory, or train on fewer rows or features.")));
}

/* Finds a column of the source by name, or raises 42703. */
static SourceColumn *
FindColumn(List *columns, const char *name, const char *source, const char *what)
{
	ListCell   *lc;

	foreach(lc, columns)
	{
		SourceColumn *col = lfirst(lc);

		if (strcmp(col->name, name) == 0)
			return col;
	}
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_COLUMN),
			 errmsg("%s column \"%s\" does not exist in source \"%s\"", what, name, source)));
	return NULL;				/* keep the compiler quiet */
}

/* Resolves the target and the inputs against the source's columns and checks their types. */
static void
ResolveColumns(Dataset *ds, List *features)
{
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
				 errhint("Cast the column in a query source, e.g. SELECT ..., (label = 'yes')::int AS %s.", ds->target)));
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
		if (list_member(names, makeString((char *) name)))
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_COLUMN),
					 errmsg("feature \"%s\" is given more than once", name)));
		names = lappend(names, makeString((char *) name));
		col = FindColumn(columns, name, ds->source, "feature");
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
}

/* Decodes one tuple of the source (target first, then the inputs) into ds->priv->row. */
static void
DecodeRow(Dataset *ds, HeapTuple tuple, TupleDesc tupdesc)
{
	struct DatasetPrivate *p = ds->priv;
	RowValues  *row = &p->row;

	heap_deform_tuple(tuple, tupdesc, p->values, p->isnull);
	row->target_null = p->isnull[0];
	if (!row->target_null)
	{
		row->y = DatumGetNumericFloat8(p->values[0], ds->target_type);
		row->target_null = isnan(row->y);
	}
	for (int j = 0; j < ds->ninputs; j++)
	{
		DatasetInput *in = &ds->inputs[j];

		row->null[j] = p->isnull[j + 1];
		if (row->null[j])
			continue;
		if (in->kind == INPUT_NUMERIC)
		{
			row->num[j] = DatumGetNumericFloat8(p->values[j + 1], in->type);
			row->null[j] = isnan(row->num[j]);
		}
		else
			row->text[j] = OutputFunctionCall(&p->out_funcs[j], p->values[j + 1]);
	}
}

/* Adds the decoded row, a training row, to the inputs' statistics. */
static void
AccumulateStats(Dataset *ds)
{
	struct DatasetPrivate *p = ds->priv;
	RowValues  *row = &p->row;

	for (int j = 0; j < ds->ninputs; j++)
	{
		if (row->null[j])
		{
			ds->inputs[j].nulls++;
			continue;
		}
		if (ds->inputs[j].kind == INPUT_NUMERIC)
		{
			p->sums[j] += row->num[j];
			p->counts[j]++;
		}
		else
		{
			uint64		h = hash_bytes_extended((const unsigned char *) row->text[j], strlen(row->text[j]), 0);
			bool		found;
			CategoryEntry *e = hash_search(p->category_tables[j], &h, HASH_ENTER, &found);

			if (!found)
			{
				if (hash_get_num_entries(p->category_tables[j]) > DATASET_MAX_CATEGORIES)
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

/* qsort comparator of C strings (C collation). */
static int
CompareStrings(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/* qsort comparator of doubles. */
static int
CompareDoubles(const void *a, const void *b)
{
	double		x = *(const double *) a,
				y = *(const double *) b;

	return (x > y) - (x < y);
}

/* Turns the accumulated statistics into categories, modes and means; checks every input has a value. */
static void
FinishStats(Dataset *ds, bool numeric_too)
{
	struct DatasetPrivate *p = ds->priv;

	for (int j = 0; j < ds->ninputs; j++)
	{
		DatasetInput *in = &ds->inputs[j];

		if (in->kind == INPUT_NUMERIC)
		{
			if (!numeric_too)
				continue;
			if (p->counts[j] == 0)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_EXCEPTION),
						 errmsg("feature \"%s\" has no value in the training rows", in->name),
						 errdetail("Every one of its %lld training values is NULL.", (long long) in->nulls),
						 errhint("Leave the column out of the features.")));
			in->mean = p->sums[j] / p->counts[j];
		}
		else
		{
			HASH_SEQ_STATUS status;
			CategoryEntry *e;
			int			n = 0;
			int64		best = -1;

			in->ncategories = hash_get_num_entries(p->category_tables[j]);
			if (in->ncategories == 0)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_EXCEPTION),
						 errmsg("feature \"%s\" has no value in the training rows", in->name),
						 errdetail("Every one of its %lld training values is NULL.", (long long) in->nulls),
						 errhint("Leave the column out of the features.")));
			in->categories = palloc(sizeof(char *) * in->ncategories);
			hash_seq_init(&status, p->category_tables[j]);
			while ((e = hash_seq_search(&status)) != NULL)
				in->categories[n++] = e->text;
			qsort(in->categories, n, sizeof(char *), CompareStrings);
			/* the mode: the most frequent category, the first in sorted order on ties */
			for (int c = 0; c < n; c++)
			{
				uint64		h = hash_bytes_extended((const unsigned char *) in->categories[c],
													strlen(in->categories[c]), 0);
				CategoryEntry *ce = hash_search(p->category_tables[j], &h, HASH_FIND, NULL);

				if (ce->count > best)
				{
					best = ce->count;
					in->mode = c;
				}
			}
			hash_destroy(p->category_tables[j]);
			p->category_tables[j] = NULL;
		}
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
	MemoryContext row_context = AllocSetContextCreate(CurrentMemoryContext, "mlops dataset rows",
													  ALLOCSET_DEFAULT_SIZES);
	KeyArray   *keys = NULL;
	HTAB	   *class_table = NULL;
	int			nfound = 0;
	double	   *found_values = NULL;
	bool		split = ds->test_fraction > 0;

	if (ds->classification)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(double);
		ctl.entrysize = sizeof(ClassEntry);
		ctl.hcxt = CurrentMemoryContext;
		class_table = hash_create("mlops classes", 16, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		found_values = palloc(sizeof(double) * (DATASET_MAX_CATEGORIES + 1));
	}
	keys = palloc0(sizeof(KeyArray) * (ds->classification ? DATASET_MAX_CATEGORIES + 1 : 1));
	if (!split)
		StartStats(ds);

	while (SourceNextBatch(reader))
	{
		MemoryContext old = MemoryContextSwitchTo(row_context);

		for (uint64 i = 0; i < SPI_processed; i++)
		{
			int			c = 0;

			if ((i & 1023) == 0)
				CHECK_FOR_INTERRUPTS();
			DecodeRow(ds, SPI_tuptable->vals[i], SPI_tuptable->tupdesc);
			ds->rows_read++;
			if (p->row.target_null)
			{
				ds->skipped_rows++;
				continue;
			}
			for (int j = 0; j < ds->ninputs; j++)
				has_nulls[j] |= p->row.null[j];
			if (ds->classification)
			{
				bool		found;
				double		v = p->row.y == 0.0 ? 0.0 : p->row.y;
				ClassEntry *e = hash_search(class_table, &v, HASH_ENTER, &found);

				if (!found)
				{
					if (nfound >= DATASET_MAX_CATEGORIES)
						ereport(ERROR,
								(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
								 errmsg("target \"%s\" has more than %d classes", ds->target, DATASET_MAX_CATEGORIES),
								 errhint("A continuous target calls for task => 'regression'.")));
					e->index = nfound;
					found_values[nfound++] = v;
				}
				c = e->index;
			}
			if (split)
			{
				KeyArray   *ka = &keys[c];

				if (ka->n == ka->cap)
				{
					int64		grow = Max(1024, ka->cap);

					DatasetReserveMemory(ds, grow * sizeof(uint64), "the split keys");
					MemoryContextSwitchTo(old);
					ka->keys = ka->keys ? repalloc_huge(ka->keys, (ka->cap + grow) * sizeof(uint64))
						: palloc_extended(grow * sizeof(uint64), MCXT_ALLOC_HUGE);
					MemoryContextSwitchTo(row_context);
					ka->cap += grow;
				}
				ka->keys[ka->n++] = SplitKey(ds, RowHash(ds, &p->row));
			}
			else
				AccumulateStats(ds);
		}
		MemoryContextSwitchTo(old);
		MemoryContextReset(row_context);
	}
	SourceClose(reader);
	MemoryContextDelete(row_context);

	if (ds->rows_read == ds->skipped_rows)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("source \"%s\" has no row with a target value", ds->source),
				 errdetail("It has %lld rows; rows whose target \"%s\" is NULL are skipped.",
						   (long long) ds->rows_read, ds->target)));

	/* classes in ascending order, and the key arrays in the same order */
	if (ds->classification)
	{
		KeyArray   *sorted_keys = palloc0(sizeof(KeyArray) * nfound);

		if (nfound < 2)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("target \"%s\" has a single class", ds->target),
					 errdetail("Every row with a target has the value %g.", found_values[0]),
					 errhint("Classification needs at least two distinct target values.")));
		ds->nclasses = nfound;
		ds->classes = palloc(sizeof(double) * nfound);
		memcpy(ds->classes, found_values, sizeof(double) * nfound);
		qsort(ds->classes, nfound, sizeof(double), CompareDoubles);
		for (int c = 0; c < nfound; c++)
			sorted_keys[ClassIndex(ds, found_values[c])] = keys[c];
		keys = sorted_keys;
		hash_destroy(class_table);
	}

	/* the cut of each class: the key of its first training row */
	p->cut = palloc0(sizeof(uint64) * Max(ds->nclasses, 1));
	for (int c = 0; c < Max(ds->nclasses, 1); c++)
	{
		KeyArray   *ka = &keys[c];
		int64		ntest;

		if (!split)
		{
			p->cut[c] = 0;
			continue;
		}
		ntest = Min((int64) floor(ds->test_fraction * ka->n + 0.5), ka->n - 1);
		p->cut[c] = ntest > 0 ? SelectKey(ka->keys, ka->n, ntest) : 0;
		for (int64 i = 0; i < ka->n; i++)
			ds->test_rows += ka->keys[i] < p->cut[c];
		if (ka->keys)
			pfree(ka->keys);
		p->reserved -= ka->cap * sizeof(uint64);
	}
	ds->train_rows = ds->rows_read - ds->skipped_rows - ds->test_rows;
	if (!split)
		FinishStats(ds, true);
}

/* A second pass over the training rows for their categories and means. */
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
	FinishStats(ds, true);
}

/* Reads the source's schema and makes the first pass(es) over its rows. */
Dataset *
DatasetPrepare(const char *source, const char *target, List *features,
			   bool classification, double test_fraction, int seed)
{
	Dataset    *ds = palloc0(sizeof(Dataset));
	struct DatasetPrivate *p = palloc0(sizeof(struct DatasetPrivate));
	List	   *names = list_make1((char *) target);
	bool	   *has_nulls;
	bool		need_stats = false;

	ds->priv = p;
	p->context = CurrentMemoryContext;
	ds->source = pstrdup(source);
	ds->target = pstrdup(target);
	ds->classification = classification;
	ds->test_fraction = test_fraction;
	ds->seed = seed;
	ResolveColumns(ds, features);

	for (int j = 0; j < ds->ninputs; j++)
		names = lappend(names, ds->inputs[j].name);
	p->select_list = QuoteColumnList(names);
	p->values = palloc(sizeof(Datum) * (ds->ninputs + 1));
	p->isnull = palloc(sizeof(bool) * (ds->ninputs + 1));
	p->row.null = palloc0(sizeof(bool) * ds->ninputs);
	p->row.num = palloc0(sizeof(double) * ds->ninputs);
	p->row.text = palloc0(sizeof(char *) * ds->ninputs);
	p->out_funcs = palloc0(sizeof(FmgrInfo) * ds->ninputs);
	p->category_tables = palloc0(sizeof(HTAB *) * ds->ninputs);
	p->sums = palloc0(sizeof(double) * ds->ninputs);
	p->counts = palloc0(sizeof(int64) * ds->ninputs);
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

/* Starts a scan over the source's rows (target not NULL), in batches. */
DatasetScan *
DatasetBeginScan(Dataset *ds)
{
	DatasetScan *scan = palloc0(sizeof(DatasetScan));
	int			cap = SOURCE_BATCH_ROWS;

	scan->ds = ds;
	scan->first = !ds->priv->scanned && !ds->priv->collecting;
	scan->reader = SourceOpen(ds->source, ds->priv->select_list);
	scan->row_context = AllocSetContextCreate(CurrentMemoryContext, "mlops dataset rows",
											  ALLOCSET_DEFAULT_SIZES);
	scan->batch.x = palloc(sizeof(double) * cap * Max(ds->ninputs, 1));
	scan->batch.y = palloc(sizeof(double) * cap);
	scan->batch.label = palloc(sizeof(int) * cap);
	scan->batch.is_test = palloc(sizeof(bool) * cap);
	scan->next_tuple = 0;
	return scan;
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

/* The next batch (valid until the next call), or NULL at the end. */
DatasetBatch *
DatasetNextBatch(DatasetScan *scan)
{
	Dataset    *ds = scan->ds;
	struct DatasetPrivate *p = ds->priv;
	DatasetBatch *b = &scan->batch;
	bool		split = ds->test_fraction > 0;
	bool		collecting = p->collecting;
	int			n = 0;
	MemoryContext old;

	b->nrows = 0;
	MemoryContextReset(scan->row_context);
	old = MemoryContextSwitchTo(scan->row_context);
	while (n < SOURCE_BATCH_ROWS)
	{
		HeapTuple	tuple;
		uint64		h;
		bool		is_test = false;
		int			label = -1;
		double	   *x;

		if (scan->next_tuple >= scan->ntuples)
		{
			bool		more;

			MemoryContextSwitchTo(old);
			more = SourceNextBatch(scan->reader);
			MemoryContextSwitchTo(scan->row_context);
			if (!more)
				break;
			scan->tuptable = SPI_tuptable;
			scan->ntuples = SPI_processed;
			scan->next_tuple = 0;
		}
		if ((scan->next_tuple & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
		tuple = scan->tuptable->vals[scan->next_tuple++];
		DecodeRow(ds, tuple, scan->tuptable->tupdesc);
		if (p->row.target_null)
			continue;
		if (ds->classification)
		{
			label = ClassIndex(ds, p->row.y);
			if (label < 0)
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("source \"%s\" changed while it was read", ds->source),
						 errdetail("Target value %g was not in the first pass over the rows.", p->row.y),
						 errhint("A query source must return the same rows each time it runs (no random() or volatile functions).")));
		}
		h = RowHash(ds, &p->row);
		if (split)
			is_test = SplitKey(ds, h) < p->cut[Max(label, 0)];
		if (collecting)
		{
			if (!is_test)
				AccumulateStats(ds);
			continue;
		}
		if (scan->first && !is_test)
		{
			scan->fingerprint_sum += h;
			scan->fingerprint_rows++;
			if (p->stats_pending)
				AccumulateStats(ds);
		}
		x = b->x + (Size) n * ds->ninputs;
		for (int j = 0; j < ds->ninputs; j++)
		{
			const DatasetInput *in = &ds->inputs[j];

			if (p->row.null[j])
				x[j] = NAN;
			else if (in->kind == INPUT_NUMERIC)
				x[j] = p->row.num[j];
			else
			{
				int			c = CategoryIndex(in, p->row.text[j]);

				x[j] = c >= 0 ? (double) c : NAN;
			}
		}
		b->y[n] = p->row.y;
		b->label[n] = label;
		b->is_test[n] = is_test;
		n++;
	}
	MemoryContextSwitchTo(old);
	b->nrows = n;
	return n > 0 ? b : NULL;
}

/* Ends a scan; the first complete one finishes the fingerprint and pending means. */
void
DatasetEndScan(DatasetScan *scan)
{
	Dataset    *ds = scan->ds;

	SourceClose(scan->reader);
	MemoryContextDelete(scan->row_context);
	if (!scan->first)
		return;
	if (scan->fingerprint_rows != ds->train_rows)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("source \"%s\" changed while it was read", ds->source),
				 errdetail("The first pass saw %lld training rows, the last one %lld.",
						   (long long) ds->train_rows, (long long) scan->fingerprint_rows),
				 errhint("A query source must return the same rows each time it runs (no random() or volatile functions).")));
	ds->fingerprint = psprintf("%lld:%016llx", (long long) scan->fingerprint_rows,
							   (unsigned long long) scan->fingerprint_sum);
	if (ds->priv->stats_pending)
	{
		FinishStats(ds, true);
		ds->priv->stats_pending = false;
	}
	ds->priv->scanned = true;
}

/* The value NULL of input j is replaced by (mean, or mode index), for linear models. */
double
DatasetImputeValue(const Dataset *ds, int j)
{
	const DatasetInput *in = &ds->inputs[j];

	return in->kind == INPUT_NUMERIC ? in->mean : (double) in->mode;
}

/* Appends a float8 as a JSON number (shortest exact form). */
static void
AppendJsonDouble(StringInfo out, double v)
{
	appendStringInfoString(out, float8out_internal(v));
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
				AppendJsonDouble(out, in->mean);
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
	appendStringInfoString(out, "]}");
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
