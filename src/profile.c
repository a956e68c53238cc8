/*
 * profile.c — feature profiles: reading the columns of a source once,
 * summarising each (counts, moments, 10-quantile bins, a sorted sample or the
 * category counts), and the jsonb form frozen with a model version.
 *
 * A bounded builder (the frozen profiles of training and mlops.profile())
 * keeps the numeric values of at most max_rows distinct rows: the rows whose
 * content hash (of the profiled numeric values) is smallest, each with its
 * multiplicity. Which rows those are depends on the rows' content only, not on
 * their order, and a source with at most max_rows rows (or distinct rows) is
 * kept whole. Counts, NULLs, mean, std, min, max and category counts are
 * always taken over every row; the quantile edges, bin fractions and sample
 * come from the kept rows.
 */
#include "postgres.h"

#include <math.h>

#include "common/hashfn.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "mlops/args.h"
#include "mlops/float_text.h"
#include "mlops/mix64.h"
#include "mlops/profile.h"
#include "mlops/settings.h"
#include "mlops/source.h"

/* An ascending sort of doubles, specialised (no comparator calls). */
#define ST_SORT SortDoublesImpl
#define ST_ELEMENT_TYPE double
#define ST_COMPARE(a, b) (*(a) < *(b) ? -1 : *(a) > *(b) ? 1 : 0)
#define ST_SCOPE static
#define ST_DEFINE
#include "lib/sort_template.h"

/* A value of the row sample with its multiplicity. */
typedef struct WeightedValue
{
	double		value;
	int64		weight;
} WeightedValue;

#define ST_SORT SortWeightedValues
#define ST_ELEMENT_TYPE WeightedValue
#define ST_COMPARE(a, b) ((a)->value < (b)->value ? -1 : (a)->value > (b)->value ? 1 : 0)
#define ST_SCOPE static
#define ST_DEFINE
#include "lib/sort_template.h"

/* A category and its count, in the builder's hash table (key: the string). */
typedef struct CategoryEntry
{
	char	   *name;
	int64		count;
} CategoryEntry;

/*
 * Category entries ordered by name, interruptible: a text column of millions
 * of distinct values (an id) has millions of categories, seconds of sorting.
 */
#define ST_SORT SortCategoryEntries
#define ST_ELEMENT_TYPE CategoryEntry
#define ST_COMPARE(a, b) strcmp((a)->name, (b)->name)
#define ST_CHECK_FOR_INTERRUPTS
#define ST_SCOPE static
#define ST_DEFINE
#include "lib/sort_template.h"

/* What the builder accumulates for one column. */
typedef struct FeatureAccum
{
	char	   *name;
	int			attno;			/* 0-based position in the tuple descriptor */
	Oid			type;			/* base type */
	FeatureKind kind;
	int64		nulls;
	int64		nonfinite;
	double	   *values;			/* numeric, every value kept: the finite values */
	int64		nvalues;
	int64		capacity;
	int64		count;			/* numeric, bounded builder: finite values, and their */
	double		shift;			/* ... sums of x - shift (shift: the first value), */
	double		sum;			/* for exact moments without keeping the values */
	double		sumsq;
	double		min;
	double		max;
	HTAB	   *categories;		/* categorical: CategoryEntry by name */
	FmgrInfo	output;			/* categorical: the type's output function */
} FeatureAccum;

struct ProfileBuilder
{
	int			nfeatures;
	FeatureAccum *features;
	int64		rows;
	MemoryContext cxt;			/* where the builder lives */
	MemoryContext rowcxt;		/* per-row scratch (category strings) */

	/* bounded builder (max_rows > 0): the row sample of the numeric features */
	int64		max_rows;
	int			nnumeric;
	int64		nkept;			/* entries, at most 2 × max_rows between prunings */
	int64		capacity;
	uint64	   *keys;			/* per entry: the content hash, */
	int64	   *weights;		/* ... the rows it stands for, */
	double	   *kept;			/* ... its values (nnumeric each; NaN: missing) */
	uint64		threshold;		/* rows with a greater key are not in the sample */
	bool		merged;			/* identical rows were merged into one entry */
	bool		discarded;		/* rows were left out: the sample is not every row */

	/* what else grows with the rows: every value (unbounded), the categories */
	Size		value_bytes;
	Size		sample_bytes;	/* the row sample and its scratch, as last charged */

	/* told of the bytes the builder is about to hold (ProfileBuilderSetMemoryHook) */
	ProfileMemoryHook memory_hook;
	void	   *memory_hook_arg;
};

/* What a category's hash entry takes besides its name (entry, bucket, allocation headers). */
#define CATEGORY_ENTRY_BYTES 64

/*
 * Scratch bytes per row-sample entry while the sample is pruned (RadixSort's
 * keys and payload, the order, index and survivor flags) and while one
 * feature of it is summarised (its values and weights, sorted).
 */
#define PRUNE_BYTES_PER_ENTRY 33

/* What ProfileToJsonb takes per number (or category) of the document it builds; see ProfileJsonbBytes. */
#define JSONB_BYTES_PER_VALUE 200
#define SUMMARY_BYTES_PER_ENTRY 32

/* Bytes of a row sample of cap entries: key, weight and the numeric values. */
static Size
SampleBytes(const ProfileBuilder *b, int64 cap)
{
	return (Size) cap * (sizeof(uint64) + sizeof(int64) + sizeof(double) * b->nnumeric);
}

/*
 * Tells the memory hook, if any, that the row sample and its scratch are
 * about to take `bytes` in all, beside the values and categories held.
 */
static void
ChargeMemory(ProfileBuilder *b, Size bytes)
{
	b->sample_bytes = bytes;
	if (b->memory_hook)
		b->memory_hook(b->memory_hook_arg, b->sample_bytes + b->value_bytes);
}

/* Tells the memory hook, if any, that the builder is about to hold `more` bytes of values or categories. */
static void
ChargeValues(ProfileBuilder *b, Size more)
{
	b->value_bytes += more;
	ChargeMemory(b, b->sample_bytes);
}

/* The bits of a double as an unsigned key in the same order (no NaN). */
static inline uint64
DoubleKey(double x)
{
	uint64		bits;

	memcpy(&bits, &x, sizeof(bits));
	return (bits & UINT64CONST(0x8000000000000000)) ? ~bits : bits | UINT64CONST(0x8000000000000000);
}

/* The double of a DoubleKey. */
static inline double
KeyDouble(uint64 key)
{
	uint64		bits = (key & UINT64CONST(0x8000000000000000)) ? key & ~UINT64CONST(0x8000000000000000) : ~key;
	double		x;

	memcpy(&x, &bits, sizeof(x));
	return x;
}

/*
 * Sorts 64-bit keys ascending, moving payload (NULL: none) along: a
 * least-significant-byte radix sort, skipping the bytes all keys share
 * (several times faster than a comparison sort on large arrays).
 */
static void
RadixSort(uint64 *keys, int64 *payload, size_t n)
{
	size_t		(*counts)[256] = palloc0(sizeof(size_t) * 8 * 256);
	uint64	   *kfrom = keys,
			   *kto = palloc_extended(sizeof(uint64) * Max(n, 1), MCXT_ALLOC_HUGE),
			   *kbuffer = kto;
	int64	   *pfrom = payload,
			   *pto = payload ? palloc_extended(sizeof(int64) * Max(n, 1), MCXT_ALLOC_HUGE) : NULL,
			   *pbuffer = pto;

	for (size_t i = 0; i < n; i++)
		for (int b = 0; b < 8; b++)
			counts[b][(keys[i] >> (8 * b)) & 0xFF]++;
	for (int b = 0; b < 8; b++)
	{
		size_t		offset = 0;
		bool		trivial = false;

		CHECK_FOR_INTERRUPTS();
		for (int d = 0; d < 256; d++)
		{
			size_t		c = counts[b][d];

			if (c == n)
				trivial = true;
			counts[b][d] = offset;
			offset += c;
		}
		if (trivial)
			continue;			/* every key has this byte: the order stands */
		for (size_t i = 0; i < n; i++)
		{
			size_t		to = counts[b][(kfrom[i] >> (8 * b)) & 0xFF]++;

			kto[to] = kfrom[i];
			if (payload)
				pto[to] = pfrom[i];
		}
		{
			uint64	   *kt = kfrom;
			int64	   *pt = pfrom;

			kfrom = kto;
			kto = kt;
			pfrom = pto;
			pto = pt;
		}
	}
	if (kfrom != keys)
	{
		memcpy(keys, kfrom, sizeof(uint64) * n);
		if (payload)
			memcpy(payload, pfrom, sizeof(int64) * n);
	}
	pfree(kbuffer);
	if (pbuffer)
		pfree(pbuffer);
	pfree(counts);
}

/*
 * Sorts doubles ascending (no NaN): a radix sort of their order-preserving
 * keys for large arrays (a comparison sort dominated drift on a million
 * rows), a comparison sort for small ones.
 */
void
SortDoubles(double *values, size_t n)
{
	if (n < 4096)
		SortDoublesImpl(values, n);
	else
		SortDoublesWithPayload(values, NULL, n);
}

/*
 * Sorts doubles ascending (no NaN; -0 and 0 stay side by side), moving an
 * int64 payload (NULL: none) along: the radix sort, which checks for interrupts between
 * its passes, where a comparison sort of millions of values could not be
 * cancelled for seconds.
 */
void
SortDoublesWithPayload(double *values, int64 *payload, size_t n)
{
	uint64	   *keys = palloc_extended(sizeof(uint64) * Max(n, 1), MCXT_ALLOC_HUGE);

	for (size_t i = 0; i < n; i++)
		keys[i] = DoubleKey(values[i]);
	RadixSort(keys, payload, n);
	for (size_t i = 0; i < n; i++)
		values[i] = KeyDouble(keys[i]);
	pfree(keys);
}

/*
 * The fractions of sorted values (each once, or weight[i] times) in the bins
 * of nedges unique edges: bin i holds (edges[i], edges[i+1]], the first bin
 * open below and the last open above: bin i is numpy.searchsorted(side='left')
 * of a value among the inner edges edges[1..nedges-2]. The profile's own
 * fractions and drift's current ones both come from here, so that they are
 * binned alike.
 */
void
ProfileBinFractions(const double *edges, int nedges, const double *sorted, const int64 *weight,
					int64 m, double *fractions)
{
	int			nbins = ProfileBins(nedges);
	int			bin = 0;
	int64		n = 0;

	/* the counts, summed in the doubles: exact (below 2^53) */
	memset(fractions, 0, sizeof(double) * nbins);
	for (int64 i = 0; i < m; i++)
	{
		int64		w = weight ? weight[i] : 1;

		/* sorted values: the bin only moves forward */
		while (bin < nbins - 1 && sorted[i] > edges[bin + 1])
			bin++;
		fractions[bin] += w;
		n += w;
	}
	for (int i = 0; i < nbins; i++)
		fractions[i] /= n;
}

/* Hash and match of category strings (the key is a char *). */
static uint32
CategoryHash(const void *key, Size keysize)
{
	const char *s = *(char *const *) key;

	return hash_bytes((const unsigned char *) s, strlen(s));
}

/* strcmp-style match of two category keys, for the hash table. */
static int
CategoryMatch(const void *key1, const void *key2, Size keysize)
{
	return strcmp(*(char *const *) key1, *(char *const *) key2);
}

/*
 * A builder for the named columns of rows described by tupdesc (names NIL =
 * every numeric or categorical column). max_rows 0 keeps every numeric
 * value; otherwise the values of at most max_rows distinct rows (see the top
 * of this file). An unknown column is 42703, a column of another type 42804.
 */
ProfileBuilder *
ProfileBuilderCreate(TupleDesc tupdesc, List *names, int64 max_rows)
{
	ProfileBuilder *b = palloc0(sizeof(ProfileBuilder));
	ListCell   *lc;

	b->cxt = CurrentMemoryContext;
	b->features = palloc0(sizeof(FeatureAccum) * Max(1, tupdesc->natts));
	b->rowcxt = AllocSetContextCreate(CurrentMemoryContext, "mlops profile row",
									  ALLOCSET_SMALL_SIZES);
	if (names == NIL)
	{
		for (int i = 0; i < tupdesc->natts; i++)
		{
			Form_pg_attribute att = TupleDescAttr(tupdesc, i);

			if (!att->attisdropped &&
				(TypeIsNumeric(att->atttypid) || TypeIsCategorical(att->atttypid)))
				names = lappend(names, pstrdup(NameStr(att->attname)));
		}
	}
	foreach(lc, names)
	{
		const char *name = lfirst(lc);
		FeatureAccum *f = &b->features[b->nfeatures];
		int			attno = -1;
		Oid			type;

		for (int i = 0; i < tupdesc->natts; i++)
			if (!TupleDescAttr(tupdesc, i)->attisdropped &&
				strcmp(NameStr(TupleDescAttr(tupdesc, i)->attname), name) == 0)
				attno = i;
		if (attno < 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" does not exist in the source", name)));
		for (int i = 0; i < b->nfeatures; i++)
			if (strcmp(b->features[i].name, name) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_DUPLICATE_COLUMN),
						 errmsg("column \"%s\" is named more than once", name)));
		type = getBaseType(TupleDescAttr(tupdesc, attno)->atttypid);
		f->name = pstrdup(name);
		f->attno = attno;
		f->type = type;
		if (TypeIsNumeric(type))
		{
			f->kind = FEATURE_NUMERIC;
			if (max_rows == 0)
			{
				f->capacity = 1024;
				f->values = palloc(sizeof(double) * f->capacity);
				b->value_bytes += sizeof(double) * f->capacity;
			}
			b->nnumeric++;
		}
		else if (TypeIsCategorical(type))
		{
			HASHCTL		ctl;
			Oid			func;
			bool		varlena;

			f->kind = FEATURE_CATEGORICAL;
			ctl.keysize = sizeof(char *);
			ctl.entrysize = sizeof(CategoryEntry);
			ctl.hash = CategoryHash;
			ctl.match = CategoryMatch;
			ctl.hcxt = CurrentMemoryContext;
			f->categories = hash_create("mlops profile categories", 64, &ctl,
										HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);
			getTypeOutputInfo(type, &func, &varlena);
			fmgr_info(func, &f->output);
		}
		else
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("column \"%s\" has type %s, which cannot be profiled",
							name, format_type_be(type)),
					 errhint("Numeric, boolean, text and enum columns can be profiled.")));
		b->nfeatures++;
	}
	if (b->nfeatures == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the source has no column to profile"),
				 errhint("Numeric, boolean, text and enum columns can be profiled.")));
	b->max_rows = max_rows;
	b->threshold = PG_UINT64_MAX;
	return b;
}

/* Makes room for one more entry in the row sample: it grows by doubling up to 2 × max_rows. */
static void
GrowSample(ProfileBuilder *b)
{
	int64		cap = b->capacity == 0 ? Min(1024, 2 * b->max_rows) : Min(2 * b->capacity, 2 * b->max_rows);

	ChargeMemory(b, SampleBytes(b, cap));
	b->keys = b->keys ? repalloc_huge(b->keys, sizeof(uint64) * cap)
		: MemoryContextAllocHuge(b->cxt, sizeof(uint64) * cap);
	b->weights = b->weights ? repalloc_huge(b->weights, sizeof(int64) * cap)
		: MemoryContextAllocHuge(b->cxt, sizeof(int64) * cap);
	b->kept = b->kept ? repalloc_huge(b->kept, sizeof(double) * cap * b->nnumeric)
		: MemoryContextAllocHuge(b->cxt, sizeof(double) * cap * b->nnumeric);
	b->capacity = cap;
}

/*
 * Keeps the keep entries of the row sample with the smallest keys, after
 * merging the entries of identical rows (same key) into the first of them;
 * when more remain, the others are dropped and the threshold falls to the
 * greatest kept key. The kept entries stay in place, in arrival order.
 */
static void
PruneSample(ProfileBuilder *b, int64 keep)
{
	int			k = b->nnumeric;
	MemoryContext old;
	uint64	   *order;
	int64	   *index;
	bool	   *survives;
	int64		m = 0,
				last = -1,		/* the entry that stands for the last key kept */
				to = 0;

	ChargeMemory(b, SampleBytes(b, b->capacity) + (Size) b->nkept * PRUNE_BYTES_PER_ENTRY);
	old = MemoryContextSwitchTo(b->cxt);
	order = palloc_extended(sizeof(uint64) * b->nkept, MCXT_ALLOC_HUGE);
	index = palloc_extended(sizeof(int64) * b->nkept, MCXT_ALLOC_HUGE);
	survives = palloc_extended(sizeof(bool) * b->nkept, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);

	CHECK_FOR_INTERRUPTS();
	for (int64 i = 0; i < b->nkept; i++)
	{
		order[i] = b->keys[i];
		index[i] = i;
	}
	RadixSort(order, index, b->nkept);
	for (int64 i = 0; i < b->nkept; i++)
	{
		if (last >= 0 && order[i] == b->keys[last])
		{
			b->weights[last] += b->weights[index[i]];
			b->merged = true;
			continue;
		}
		if (m == keep)
		{
			b->discarded = true;
			b->threshold = b->keys[last];
			break;
		}
		last = index[i];
		survives[last] = true;
		m++;
	}
	for (int64 i = 0; i < b->nkept; i++)
	{
		if (!survives[i])
			continue;
		if (to != i)
		{
			b->keys[to] = b->keys[i];
			b->weights[to] = b->weights[i];
			memcpy(b->kept + to * k, b->kept + i * k, sizeof(double) * k);
		}
		to++;
	}
	b->nkept = m;
	pfree(order);
	pfree(index);
	pfree(survives);
	MemoryContextSwitchTo(old);
	ChargeMemory(b, SampleBytes(b, b->capacity));
}

/*
 * Adds a finite numeric value to feature f of builder b (of a bounded
 * builder: to its running sums; else to its values, charged as they grow).
 */
static inline void
AddNumeric(ProfileBuilder *b, FeatureAccum *f, bool bounded, double x)
{
	if (bounded)
	{
		double		d;

		if (f->count++ == 0)
			f->shift = f->min = f->max = x;
		d = x - f->shift;
		f->sum += d;
		f->sumsq += d * d;
		f->min = Min(f->min, x);
		f->max = Max(f->max, x);
		return;
	}
	if (f->nvalues == f->capacity)
	{
		ChargeValues(b, sizeof(double) * f->capacity);
		f->capacity *= 2;
		f->values = repalloc_huge(f->values, sizeof(double) * f->capacity);
	}
	f->values[f->nvalues++] = x;
}

/* Adds one row, read from the executor's slot (SourceFetch's callback). */
void
ProfileBuilderAddSlot(TupleTableSlot *slot, void *arg)
{
	ProfileBuilder *b = (ProfileBuilder *) arg;
	Datum	   *values;
	bool	   *isnull;
	uint64		h = CONTENT_HASH_SEED;
	int			k = 0;
	double	   *row = NULL;		/* the row's numeric values, in the sample's next entry */
	/* in locals: the stores below would make the compiler reload them */
	FeatureAccum *features = b->features;
	int			nfeatures = b->nfeatures;
	bool		bounded = b->max_rows > 0;

	slot_getallattrs(slot);
	values = slot->tts_values;
	isnull = slot->tts_isnull;
	b->rows++;
	if (bounded && b->nnumeric > 0)
	{
		if (b->nkept == 2 * b->max_rows)
			PruneSample(b, b->max_rows);
		else if (b->nkept == b->capacity)
			GrowSample(b);
		row = b->kept + b->nkept * b->nnumeric;
	}
	for (int i = 0; i < nfeatures; i++)
	{
		FeatureAccum *f = &features[i];

		if (f->kind == FEATURE_NUMERIC)
		{
			double		x = NAN;
			uint64		bits = CONTENT_HASH_NULL;

			if (isnull[f->attno])
				f->nulls++;
			else
			{
				x = DatumGetNumericFloat8(values[f->attno], f->type);
				if (!isfinite(x))
				{
					bits = isnan(x) ? UINT64CONST(0x7ff8000000000000) : DoubleKey(x);
					f->nonfinite++;
					x = NAN;
				}
				else
				{
					bits = DoubleKey(x == 0.0 ? 0.0 : x);
					AddNumeric(b, f, bounded, x);
				}
			}
			if (row)
			{
				row[k++] = x;
				h = ContentHashStep(h, bits);
			}
		}
		else if (isnull[f->attno])
			f->nulls++;
		else
		{
			MemoryContext old = MemoryContextSwitchTo(b->rowcxt);
			char	   *label = OutputFunctionCall(&f->output, values[f->attno]);
			CategoryEntry *entry;
			bool		found;

			MemoryContextSwitchTo(old);
			label[CategoryTextLength(f->type, label, strlen(label))] = '\0';
			entry = hash_search(f->categories, &label, HASH_ENTER, &found);
			if (!found)
			{
				ChargeValues(b, CATEGORY_ENTRY_BYTES + strlen(label) + 1);
				entry->name = MemoryContextStrdup(b->cxt, label);
				entry->count = 0;
			}
			entry->count++;
			MemoryContextReset(b->rowcxt);
		}
	}
	/* the row sample: the entry is kept when the row's key is at most the threshold */
	if (row && (h = Mix64(h)) <= b->threshold)
	{
		b->keys[b->nkept] = h;
		b->weights[b->nkept] = 1;
		b->nkept++;
	}
}

/*
 * Sorted values, each standing for weight[i] of the n values summarised
 * (weight NULL: once each), and their cumulative weights.
 */
typedef struct SortedValues
{
	const double *value;
	const int64 *cum;			/* cum[i]: the weights of values 0..i; NULL with weight NULL */
	int64		m;				/* entries */
	int64		n;				/* values they stand for */
} SortedValues;

/* The value of 0-based rank r among the n values. */
static double
RankValue(const SortedValues *s, int64 r)
{
	int64		lo = 0,
				hi = s->m - 1;

	if (s->cum == NULL)
		return s->value[r];
	/* the first entry whose cumulative weight exceeds r */
	while (lo < hi)
	{
		int64		mid = (lo + hi) / 2;

		if (s->cum[mid] > r)
			hi = mid;
		else
			lo = mid + 1;
	}
	return s->value[lo];
}

/* The cumulative weight of entries 0..i. */
static inline int64
CumWeight(const SortedValues *s, int64 i)
{
	return s->cum ? s->cum[i] : i + 1;
}

/* The value of numpy.quantile(values, q) with the default (linear) method. */
static double
LinearQuantile(const SortedValues *s, double q)
{
	int64		n = s->n;
	double		h = (double) (n - 1) * q;
	int64		lo = (int64) floor(h);
	double		gamma = h - floor(h);
	double		a,
				b,
				diff;

	if (h >= (double) (n - 1))
		a = b = RankValue(s, n - 1);
	else
	{
		a = RankValue(s, lo);
		b = RankValue(s, lo + 1);
	}
	diff = b - a;
	/*
	 * a span beyond float8 (-1e308 to 1e308): numpy's _lerp would give inf
	 * or, for gamma 0, inf · 0 = NaN, an edge no bin can use; the weighted
	 * mean stays between a and b
	 */
	if (!isfinite(diff))
		return a * (1 - gamma) + b * gamma;
	/* numpy's _lerp: from the nearer end, so that gamma 1 gives b exactly */
	return gamma >= 0.5 ? b - diff * (1 - gamma) : a + diff * gamma;
}

/*
 * The edges, fractions and sample of a profile from sorted values (weight
 * NULL: each once); p->count, mean, std, min and max are already set.
 */
static void
SummariseSorted(FeatureProfile *p, const double *sorted, const int64 *weight, int64 m,
				int64 sample_size)
{
	SortedValues s;
	int64	   *cum = NULL;
	int64		n;

	if (weight)
	{
		cum = palloc_extended(sizeof(int64) * Max(m, 1), MCXT_ALLOC_HUGE);
		for (int64 i = 0; i < m; i++)
			cum[i] = (i > 0 ? cum[i - 1] : 0) + weight[i];
	}
	s.value = sorted;
	s.cum = cum;
	s.m = m;
	s.n = n = m > 0 ? CumWeight(&s, m - 1) : 0;
	if (n == 0)
		return;

	/* edges at numpy.linspace(0, 1, 11), duplicates dropped; the ends are min and max */
	p->edges = palloc(sizeof(double) * (PROFILE_QUANTILES + 1));
	p->nedges = 0;
	for (int i = 0; i <= PROFILE_QUANTILES; i++)
	{
		double		e = i == 0 ? p->min : i == PROFILE_QUANTILES ? p->max
			: LinearQuantile(&s, i * (1.0 / PROFILE_QUANTILES));

		if (p->nedges == 0 || e != p->edges[p->nedges - 1])
			p->edges[p->nedges++] = e;
	}
	p->fractions = palloc(sizeof(double) * ProfileBins(p->nedges));
	ProfileBinFractions(p->edges, p->nedges, sorted, weight, m, p->fractions);

	if (sample_size <= 0 || n <= sample_size)
	{
		p->nsample = n;
		p->sample = (double *) sorted;
		if (weight)
		{
			p->sample = palloc(sizeof(double) * n);
			for (int64 r = 0; r < n; r++)
				p->sample[r] = RankValue(&s, r);
		}
		p->sample_error = 0.0;
	}
	else
	{
		/*
		 * Point k is the value of rank ceil((k+1)·n/S): the sample's CDF G
		 * then satisfies 0 <= F - G < 1/S everywhere, and its Wasserstein
		 * distance to the values, the integral of F - G, is computed exactly.
		 */
		double		err = 0.0;

		p->nsample = sample_size;
		p->sample = palloc(sizeof(double) * sample_size);
		for (int64 k = 0; k < sample_size; k++)
			p->sample[k] = RankValue(&s, ((k + 1) * n + sample_size - 1) / sample_size - 1);
		for (int64 j = 0; j + 1 < m; j++)
		{
			int64		c = CumWeight(&s, j);
			double		f = (double) c / n;
			double		g = (double) ((c * sample_size) / n) / sample_size;

			if ((j & 0xFFFF) == 0)
				CHECK_FOR_INTERRUPTS();
			err += StepArea(f - g, sorted[j], sorted[j + 1]);
		}
		p->sample_error = err;
	}
}

/*
 * The mean and population std of sorted values (each once, or weight[i]
 * times; m > 0) taken on the values divided by the greatest magnitude: for
 * values near the float8 limit (1e308), whose sums overflow, while mean and
 * std are finite (and Wasserstein is divided by the std).
 */
static void
ScaledMoments(const double *sorted, const int64 *weight, int64 m, double *mean, double *std)
{
	double		scale = Max(fabs(sorted[0]), fabs(sorted[m - 1]));
	double		sum = 0.0,
				ss = 0.0,
				n = 0.0,
				mu;

	for (int64 i = 0; i < m; i++)
	{
		double		w = weight ? weight[i] : 1;

		sum += w * (sorted[i] / scale);
		n += w;
	}
	mu = sum / n;
	for (int64 i = 0; i < m; i++)
	{
		double		d = sorted[i] / scale - mu;

		ss += (weight ? weight[i] : 1) * d * d;
	}
	*mean = mu * scale;
	*std = sqrt(ss / n) * scale;
}

/*
 * The mean of n values (into *mean; NaN for none) and the sum of their squared
 * deviations from it, by the corrected two-pass algorithm (Chan, Golub and
 * LeVeque): the deviations from the rounded mean sum to its error, which
 * corrects both. A plain sum of values far from 0 with a small spread
 * (1e9 + noise of 1e-4) loses the spread, and the squares around its mean
 * come out several percent off; identical values give their value and
 * exactly 0 (ten 0.1s sum to 0.9999999999999999). Not finite when the sum
 * overflows (values near 1e308).
 */
double
CentredSumSquares(const double *x, int64 n, double *mean)
{
	double		sum = 0.0,
				ss = 0.0,
				drift = 0.0;
	bool		constant = true;

	if (n <= 0)
	{
		*mean = NAN;
		return 0.0;
	}
	for (int64 i = 0; i < n; i++)
	{
		if ((i & 65535) == 0)
			CHECK_FOR_INTERRUPTS();
		sum += x[i];
		constant &= x[i] == x[0];
	}
	if (constant)
	{
		*mean = x[0];
		return 0.0;
	}
	*mean = sum / n;
	for (int64 i = 0; i < n; i++)
	{
		double		d = x[i] - *mean;

		if ((i & 65535) == 0)
			CHECK_FOR_INTERRUPTS();
		drift += d;
		ss += d * d;
	}
	if (!isfinite(drift))
		return ss;
	*mean += drift / n;
	return Max(ss - drift * (drift / n), 0.0);
}

/* Numeric summary of every value, sorted: moments, then bins and sample. */
static void
SummariseNumeric(FeatureProfile *p, double *sorted, int64 n, int64 sample_size)
{
	double		ss;

	p->count = n;
	if (n == 0)
		return;
	ss = CentredSumSquares(sorted, n, &p->mean);
	p->std = sqrt(ss / n);
	if (!isfinite(ss))
		ScaledMoments(sorted, NULL, n, &p->mean, &p->std);
	p->min = sorted[0];
	p->max = sorted[n - 1];
	SummariseSorted(p, sorted, NULL, n, sample_size);
}

/*
 * Numeric summary of feature k of a bounded builder's row sample: when it
 * holds every row once, exactly as SummariseNumeric; otherwise the moments
 * come from the running sums over every value and the edges, fractions and
 * sample from the (weighted) values of the kept rows.
 */
static void
SummariseSample(ProfileBuilder *b, FeatureAccum *f, int k, FeatureProfile *p, int64 sample_size)
{
	WeightedValue *wv;
	double	   *sorted = NULL;
	int64	   *weight;
	int64		m = 0;
	double		w1 = 0.0,
				w2 = 0.0;
	bool		overflow;

	if (!b->merged)
	{
		/* every entry is one row: the values alone */
		sorted = palloc_extended(sizeof(double) * Max(b->nkept, 1), MCXT_ALLOC_HUGE);
		for (int64 i = 0; i < b->nkept; i++)
			if (!isnan(b->kept[i * b->nnumeric + k]))
				sorted[m++] = b->kept[i * b->nnumeric + k];
		SortDoubles(sorted, m);
		if (!b->discarded)
		{
			SummariseNumeric(p, sorted, m, sample_size);
			return;
		}
	}
	p->count = f->count;
	if (f->count == 0)
		return;
	p->mean = f->shift + f->sum / f->count;
	p->std = sqrt(Max(f->sumsq / f->count - (f->sum / f->count) * (f->sum / f->count), 0.0));
	p->min = f->min;
	p->max = f->max;
	/* running sums that overflowed (values near 1e308): the moments of the kept rows */
	overflow = !isfinite(f->sum) || !isfinite(f->sumsq);
	if (!b->merged)
	{
		if (overflow && m > 0)
			ScaledMoments(sorted, NULL, m, &p->mean, &p->std);
		p->sampled = m;
		SummariseSorted(p, sorted, NULL, m, sample_size);
		return;
	}
	wv = palloc_extended(sizeof(WeightedValue) * Max(b->nkept, 1), MCXT_ALLOC_HUGE);
	for (int64 i = 0; i < b->nkept; i++)
		if (!isnan(b->kept[i * b->nnumeric + k]))
		{
			wv[m].value = b->kept[i * b->nnumeric + k];
			wv[m].weight = b->weights[i];
			w1 += wv[m].weight;
			w2 += (double) wv[m].weight * wv[m].weight;
			m++;
		}
	SortWeightedValues(wv, m);
	sorted = palloc_extended(sizeof(double) * Max(m, 1), MCXT_ALLOC_HUGE);
	weight = palloc_extended(sizeof(int64) * Max(m, 1), MCXT_ALLOC_HUGE);
	for (int64 i = 0; i < m; i++)
	{
		sorted[i] = wv[i].value;
		weight[i] = wv[i].weight;
	}
	pfree(wv);
	if (overflow && m > 0)
		ScaledMoments(sorted, weight, m, &p->mean, &p->std);
	/* the effective size of the weighted sample, when it is not every value */
	if (b->discarded && m > 0)
		p->sampled = (int64) floor(w1 * w1 / w2 + 0.5);
	SummariseSorted(p, sorted, weight, m, sample_size);
}

/* Sets a categorical profile's categories and their counts from n entries, sorting them by strcmp. */
static void
SetCategories(FeatureProfile *p, CategoryEntry *entries, int n)
{
	SortCategoryEntries(entries, n);
	p->ncategories = n;
	p->categories = palloc(sizeof(char *) * Max(1, n));
	p->counts = palloc(sizeof(int64) * Max(1, n));
	for (int k = 0; k < n; k++)
	{
		p->categories[k] = entries[k].name;
		p->counts[k] = entries[k].count;
	}
}

/* Copies n doubles (none: NULL) into the current memory context. */
static double *
CopyDoubles(const double *x, int64 n)
{
	double	   *copy;

	if (x == NULL)
		return NULL;
	copy = palloc_extended(sizeof(double) * Max(n, 1), MCXT_ALLOC_HUGE);
	memcpy(copy, x, sizeof(double) * n);
	return copy;
}

/*
 * The profiles (a List of FeatureProfile *), in column order. The numeric
 * sample keeps every value when there are at most sample_size of them
 * (sample_size 0: always every value), else sample_size quantile points.
 * A bounded builder summarises one feature at a time in scratch memory and
 * frees its row sample: the builder cannot take more rows afterwards.
 */
List *
ProfileBuilderFinish(ProfileBuilder *b, int64 sample_size)
{
	List	   *profiles = NIL;
	int			k = 0;
	MemoryContext scratch = AllocSetContextCreate(CurrentMemoryContext, "mlops profile summary",
												  ALLOCSET_DEFAULT_SIZES);

	if (b->nkept > b->max_rows)
		PruneSample(b, b->max_rows);
	if (b->max_rows > 0 && b->nnumeric > 0)
		ChargeMemory(b, SampleBytes(b, b->capacity) + (Size) b->nkept * SUMMARY_BYTES_PER_ENTRY);

	for (int i = 0; i < b->nfeatures; i++)
	{
		FeatureAccum *f = &b->features[i];
		FeatureProfile *p = palloc0(sizeof(FeatureProfile));

		CHECK_FOR_INTERRUPTS();
		p->name = f->name;
		p->kind = f->kind;
		p->rows = b->rows;
		p->nulls = f->nulls;
		p->nonfinite = f->nonfinite;
		if (f->kind == FEATURE_NUMERIC && b->max_rows > 0)
		{
			/* the sorted values are as many as the sample's rows: only the summary is kept */
			MemoryContext old = MemoryContextSwitchTo(scratch);

			SummariseSample(b, f, k++, p, sample_size);
			MemoryContextSwitchTo(old);
			p->edges = CopyDoubles(p->edges, p->nedges);
			p->fractions = CopyDoubles(p->fractions, ProfileBins(p->nedges));
			p->sample = CopyDoubles(p->sample, p->nsample);
			MemoryContextReset(scratch);
		}
		else if (f->kind == FEATURE_NUMERIC)
		{
			/* SortDoubles' keys, and RadixSort's buffer of as many */
			Size		scratch_bytes = 2 * sizeof(uint64) * f->nvalues;

			ChargeValues(b, scratch_bytes);
			SortDoubles(f->values, f->nvalues);
			b->value_bytes -= scratch_bytes;
			SummariseNumeric(p, f->values, f->nvalues, sample_size);
		}
		else
		{
			long		n = hash_get_num_entries(f->categories);
			Size		entries_bytes = sizeof(CategoryEntry) * n;	/* their copy, sorted */
			CategoryEntry *entries;
			CategoryEntry *e;
			HASH_SEQ_STATUS seq;
			int			c = 0;

			/* the copy, and the profile's names and counts it leaves */
			ChargeValues(b, entries_bytes + (sizeof(char *) + sizeof(int64)) * n);
			entries = palloc(sizeof(CategoryEntry) * Max(1, n));
			hash_seq_init(&seq, f->categories);
			while ((e = hash_seq_search(&seq)) != NULL)
			{
				entries[c++] = *e;
				p->count += e->count;
			}
			SetCategories(p, entries, n);
			pfree(entries);
			b->value_bytes -= entries_bytes;
		}
		profiles = lappend(profiles, p);
	}
	MemoryContextDelete(scratch);
	if (b->kept)
	{
		pfree(b->keys);
		pfree(b->weights);
		pfree(b->kept);
		b->keys = NULL;
		b->weights = NULL;
		b->kept = NULL;
		b->nkept = b->capacity = 0;
		ChargeMemory(b, 0);
	}
	return profiles;
}

/*
 * Has `hook` told, before the builder allocates, of the bytes it is about to
 * hold in all (its row sample with the scratch of pruning and summarising
 * it, an unbounded builder's values, the categories): training and
 * ProfileSource count them against mlops.max_training_memory. The hook may
 * raise an error.
 */
void
ProfileBuilderSetMemoryHook(ProfileBuilder *b, ProfileMemoryHook hook, void *arg)
{
	b->memory_hook = hook;
	b->memory_hook_arg = arg;
}

/*
 * Refuses (53200) to hold more than mlops.max_training_memory while reading
 * a source into profiles: compare() and drift() keep every value, and any
 * profile every category, so that a large source would otherwise exhaust the
 * server's memory.
 */
static void
LimitSourceMemory(void *arg, Size bytes)
{
	Size		held = *(const Size *) arg;

	MlopsRequireMemory(held + bytes, "reading the source", "the values, categories and row samples read",
					   "read fewer rows or columns");
}

/*
 * The bytes a list of profiles holds (their samples, edges, fractions and
 * categories), as counted for mlops.max_training_memory.
 */
Size
ProfilesBytes(List *profiles)
{
	Size		bytes = 0;
	ListCell   *lc;

	foreach(lc, profiles)
	{
		const FeatureProfile *p = lfirst(lc);

		bytes += sizeof(FeatureProfile) + sizeof(double) * (p->nsample + p->nedges + ProfileBins(p->nedges));
		for (int i = 0; i < p->ncategories; i++)
			bytes += CATEGORY_ENTRY_BYTES + strlen(p->categories[i]) + 1;
	}
	return bytes;
}

/*
 * Raises 42703, naming the source, for a column of names (a List of char *)
 * that the source lacks, and 42701 for one that two of its columns carry:
 * selected from it, the column would be an error of the query that wraps the
 * source (42702, ambiguous), shown with that query's text.
 */
static void
RequireSourceColumns(const char *source, List *names)
{
	List	   *columns = SourceColumns(source);
	ListCell   *lc;

	foreach(lc, names)
	{
		const char *name = lfirst(lc);
		int			named = SourceColumnsNamed(columns, name);

		if (named == 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" does not exist in the source", name),
					 errdetail("The source is \"%s\".", source)));
		if (named > 1)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_COLUMN),
					 errmsg("the source has %d columns named \"%s\"", named, name),
					 errdetail("The source is \"%s\".", source),
					 errhint("Give the columns distinct names (AS) in a query source.")));
	}
}

/*
 * Reads a source (SPI connected) into profiles, within
 * mlops.max_training_memory beside the `held` bytes the caller holds already
 * (the other side's profiles); see ProfileBuilderCreate and
 * ProfileBuilderFinish.
 */
List *
ProfileSource(const char *source, List *names, int64 max_rows, int64 sample_size, Size held)
{
	SourceReader *reader;
	ProfileBuilder *b = NULL;
	List	   *profiles;
	List	   *selected = NIL;
	ListCell   *lc;

	/* "" is no column name (nor an identifier to select): the builder reports it missing */
	foreach(lc, names)
		if (*(const char *) lfirst(lc) != '\0')
			selected = lappend(selected, lfirst(lc));
	if (selected != NIL)
		RequireSourceColumns(source, selected);
	reader = SourceOpen(source, names ? QuoteColumnList(selected) : NULL);
	b = ProfileBuilderCreate(reader->tupdesc, names, max_rows);
	ProfileBuilderSetMemoryHook(b, LimitSourceMemory, &held);
	while (SourceFetch(reader, ProfileBuilderAddSlot, b) > 0)
		;
	SourceClose(reader);
	profiles = ProfileBuilderFinish(b, sample_size);
	return profiles;
}

/* Appends a JSON array of doubles. */
static void
AppendNumbers(StringInfo buf, const double *x, int64 n)
{
	appendStringInfoChar(buf, '[');
	for (int64 i = 0; i < n; i++)
	{
		if (i > 0)
			appendStringInfoChar(buf, ',');
		AppendJsonNumberOrNull(buf, x[i]);
	}
	appendStringInfoChar(buf, ']');
}

/*
 * Bytes ProfileToJsonb takes while it builds the document of these profiles:
 * the text, jsonb_in's tree of values and the result, measured at about 180
 * bytes a number (a profile of 300 numeric features, 1.2 million numbers,
 * took 213 MB), and a few times each string.
 */
Size
ProfileJsonbBytes(List *profiles)
{
	Size		bytes = 1024;
	ListCell   *lc;

	foreach(lc, profiles)
	{
		FeatureProfile *p = lfirst(lc);

		bytes += JSONB_BYTES_PER_VALUE * 10 + 4 * strlen(p->name);
		if (p->kind == FEATURE_NUMERIC)
			bytes += JSONB_BYTES_PER_VALUE * (p->nedges + ProfileBins(p->nedges) + p->nsample);
		else
			for (int k = 0; k < p->ncategories; k++)
				bytes += JSONB_BYTES_PER_VALUE * 2 + 4 * strlen(p->categories[k]);
	}
	return bytes;
}

/* The jsonb document of a list of profiles. */
Jsonb *
ProfileToJsonb(List *profiles)
{
	StringInfoData buf;
	ListCell   *lc;
	int64		rows = 0;

	initStringInfo(&buf);
	if (profiles != NIL)
		rows = ((FeatureProfile *) linitial(profiles))->rows;
	appendStringInfo(&buf, "{\"format\": %d, \"rows\": " INT64_FORMAT ", \"features\": [",
					 PROFILE_FORMAT_VERSION, rows);
	foreach(lc, profiles)
	{
		FeatureProfile *p = lfirst(lc);

		CHECK_FOR_INTERRUPTS();
		if (foreach_current_index(lc) > 0)
			appendStringInfoString(&buf, ", ");
		appendStringInfoString(&buf, "{\"name\": ");
		escape_json(&buf, p->name);
		appendStringInfo(&buf, ", \"kind\": \"%s\", \"count\": " INT64_FORMAT
						 ", \"nulls\": " INT64_FORMAT,
						 p->kind == FEATURE_NUMERIC ? "numeric" : "categorical",
						 p->count, p->nulls);
		if (p->kind == FEATURE_NUMERIC)
		{
			bool		any = p->count > 0;

			appendStringInfo(&buf, ", \"nonfinite\": " INT64_FORMAT ", \"mean\": ", p->nonfinite);
			AppendJsonNumberOrNull(&buf, any ? p->mean : NAN);
			appendStringInfoString(&buf, ", \"std\": ");
			AppendJsonNumberOrNull(&buf, any ? p->std : NAN);
			appendStringInfoString(&buf, ", \"min\": ");
			AppendJsonNumberOrNull(&buf, any ? p->min : NAN);
			appendStringInfoString(&buf, ", \"max\": ");
			AppendJsonNumberOrNull(&buf, any ? p->max : NAN);
			appendStringInfoString(&buf, ", \"edges\": ");
			AppendNumbers(&buf, p->edges, p->nedges);
			appendStringInfoString(&buf, ", \"fractions\": ");
			AppendNumbers(&buf, p->fractions, any ? ProfileBins(p->nedges) : 0);
			appendStringInfoString(&buf, ", \"sample\": ");
			AppendNumbers(&buf, p->sample, p->nsample);
			appendStringInfoString(&buf, ", \"sample_error\": ");
			AppendJsonNumberOrNull(&buf, p->sample_error);
			if (p->sampled > 0)
				appendStringInfo(&buf, ", \"sampled\": " INT64_FORMAT, p->sampled);
		}
		else
		{
			appendStringInfoString(&buf, ", \"categories\": {");
			for (int k = 0; k < p->ncategories; k++)
			{
				if ((k & 0xFFFF) == 0)
					CHECK_FOR_INTERRUPTS();
				if (k > 0)
					appendStringInfoString(&buf, ", ");
				escape_json(&buf, p->categories[k]);
				appendStringInfo(&buf, ": " INT64_FORMAT, p->counts[k]);
			}
			appendStringInfoChar(&buf, '}');
		}
		appendStringInfoChar(&buf, '}');
	}
	appendStringInfoString(&buf, "]}");
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
}

/* Raises the error for a profile that is not what ProfileToJsonb writes. */
static void
BadProfile(const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid profile: %s", what),
			 errdetail("A profile is the jsonb document mlops.profile() returns.")));
}

/* The value of key in a jsonb object container (NULL when absent). */
static JsonbValue *
ProfileKey(JsonbContainer *obj, const char *key)
{
	return getKeyJsonValueFromContainer(obj, key, strlen(key), NULL);
}

/* A number under key (NaN for JSON null); missing or not a number: an error. */
static double
ProfileNumber(JsonbContainer *obj, const char *key)
{
	JsonbValue *v = ProfileKey(obj, key);

	if (v != NULL && v->type == jbvNull)
		return NAN;
	if (v == NULL || v->type != jbvNumeric)
		BadProfile(psprintf("\"%s\" is missing or not a number", key));
	return DatumGetFloat8(DirectFunctionCall1(numeric_float8, NumericGetDatum(v->val.numeric)));
}

/* An array of numbers under key, into *n values. */
static double *
ProfileNumbers(JsonbContainer *obj, const char *key, int64 *n)
{
	JsonbValue *v = ProfileKey(obj, key);
	double	   *out;

	if (v == NULL || v->type != jbvBinary || !JsonContainerIsArray(v->val.binary.data))
		BadProfile(psprintf("\"%s\" is missing or not an array", key));
	*n = JsonContainerSize(v->val.binary.data);
	out = palloc(sizeof(double) * Max(1, *n));
	for (int64 i = 0; i < *n; i++)
	{
		JsonbValue *e = getIthJsonbValueFromContainer(v->val.binary.data, i);

		if (e == NULL || e->type != jbvNumeric)
			BadProfile(psprintf("\"%s\" holds something other than numbers", key));
		out[i] = DatumGetFloat8(DirectFunctionCall1(numeric_float8, NumericGetDatum(e->val.numeric)));
	}
	return out;
}

/*
 * True when a jsonb string is exactly s (a prefix of s, "" among them, is
 * not: a strncmp over the value's length would take it).
 */
static bool
JsonbStringIs(const JsonbValue *v, const char *s)
{
	return v->val.string.len == strlen(s) && memcmp(v->val.string.val, s, v->val.string.len) == 0;
}

/* The profiles of a jsonb document written by ProfileToJsonb. */
List *
ProfileFromJsonb(Jsonb *profile)
{
	JsonbValue *features;
	List	   *profiles = NIL;
	int64		rows;
	int			n;

	if (!JB_ROOT_IS_OBJECT(profile))
		BadProfile("not an object");
	if (ProfileNumber(&profile->root, "format") != PROFILE_FORMAT_VERSION)
		BadProfile("unknown format");
	rows = (int64) ProfileNumber(&profile->root, "rows");
	features = ProfileKey(&profile->root, "features");
	if (features == NULL || features->type != jbvBinary || !JsonContainerIsArray(features->val.binary.data))
		BadProfile("\"features\" is missing or not an array");
	n = JsonContainerSize(features->val.binary.data);
	for (int i = 0; i < n; i++)
	{
		JsonbValue *fv = getIthJsonbValueFromContainer(features->val.binary.data, i);
		JsonbContainer *f;
		JsonbValue *name,
				   *kind;
		FeatureProfile *p = palloc0(sizeof(FeatureProfile));

		if (fv == NULL || fv->type != jbvBinary || !JsonContainerIsObject(fv->val.binary.data))
			BadProfile("a feature is not an object");
		f = fv->val.binary.data;
		name = ProfileKey(f, "name");
		kind = ProfileKey(f, "kind");
		if (name == NULL || name->type != jbvString || kind == NULL || kind->type != jbvString)
			BadProfile("a feature has no name or kind");
		p->name = pnstrdup(name->val.string.val, name->val.string.len);
		p->rows = rows;
		p->count = (int64) ProfileNumber(f, "count");
		p->nulls = (int64) ProfileNumber(f, "nulls");
		if (JsonbStringIs(kind, "numeric"))
		{
			int64		nedges,
						nfractions;

			p->kind = FEATURE_NUMERIC;
			p->nonfinite = (int64) ProfileNumber(f, "nonfinite");
			p->mean = ProfileNumber(f, "mean");
			p->std = ProfileNumber(f, "std");
			p->min = ProfileNumber(f, "min");
			p->max = ProfileNumber(f, "max");
			p->edges = ProfileNumbers(f, "edges", &nedges);
			p->nedges = nedges;
			p->fractions = ProfileNumbers(f, "fractions", &nfractions);
			p->sample = ProfileNumbers(f, "sample", &p->nsample);
			p->sample_error = ProfileNumber(f, "sample_error");
			if (ProfileKey(f, "sampled") != NULL)
				p->sampled = (int64) ProfileNumber(f, "sampled");
			if (p->count > 0 && (nedges < 1 || nfractions != ProfileBins(p->nedges) || p->nsample < 1))
				BadProfile(psprintf("the bins or sample of \"%s\" do not match", p->name));
		}
		else if (JsonbStringIs(kind, "categorical"))
		{
			JsonbValue *cats = ProfileKey(f, "categories");
			JsonbIterator *it;
			JsonbValue	v;
			JsonbIteratorToken tok;
			CategoryEntry *entries;
			int			k = 0;

			p->kind = FEATURE_CATEGORICAL;
			if (cats == NULL || cats->type != jbvBinary || !JsonContainerIsObject(cats->val.binary.data))
				BadProfile("\"categories\" is missing or not an object");
			entries = palloc(sizeof(CategoryEntry) * Max(1, JsonContainerSize(cats->val.binary.data)));
			it = JsonbIteratorInit(cats->val.binary.data);
			while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
			{
				if (tok == WJB_KEY)
					entries[k].name = pnstrdup(v.val.string.val, v.val.string.len);
				else if (tok == WJB_VALUE)
				{
					if (v.type != jbvNumeric)
						BadProfile("a category count is not a number");
					entries[k++].count = (int64) DatumGetFloat8(DirectFunctionCall1(numeric_float8,
																					 NumericGetDatum(v.val.numeric)));
				}
			}
			/* jsonb orders keys by length first: back to strcmp order */
			SetCategories(p, entries, k);
			pfree(entries);
		}
		else
			BadProfile("unknown feature kind");
		profiles = lappend(profiles, p);
	}
	return profiles;
}

/*
 * mlops.profile(source text, columns text[] DEFAULT NULL) RETURNS jsonb: the
 * profile of a source's columns (NULL: every numeric or categorical column),
 * as training freezes it. Building the document takes far more than the
 * profiles (ProfileJsonbBytes): it is counted against
 * mlops.max_training_memory beside them, as training counts it. The result is
 * copied out of SPI's memory.
 */
PG_FUNCTION_INFO_V1(profile);
Datum
profile(PG_FUNCTION_ARGS)
{
	char	   *source = RequireTextArg(fcinfo, 0, "source");
	List	   *names = NIL;
	MemoryContext caller = CurrentMemoryContext;
	List	   *profiles;
	Jsonb	   *built;
	Jsonb	   *result;

	names = NameListArg(fcinfo, 1, "columns");
	SPI_connect();
	profiles = ProfileSource(source, names, PROFILE_EXACT_ROWS, PROFILE_SAMPLE_SIZE, 0);
	MlopsRequireMemory(ProfilesBytes(profiles) + ProfileJsonbBytes(profiles), "reading the source",
					   "the profile and the building of its document", "read fewer rows or columns");
	built = ProfileToJsonb(profiles);
	result = MemoryContextAlloc(caller, VARSIZE(built));
	memcpy(result, built, VARSIZE(built));
	SPI_finish();
	PG_RETURN_JSONB_P(result);
}
