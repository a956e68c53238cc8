/*
 * model_cache.c — the per-backend LRU of ready-to-score models (see
 * model_cache.h), and the decoding of a stored version into a ScoringModel.
 */
#include "postgres.h"

#include <math.h>

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "mlops/arrays.h"
#include "mlops/model_cache.h"
#include "mlops/settings.h"
#include "mlops/spi_plan.h"

static dlist_head cache = DLIST_STATIC_INIT(cache);	/* most recently used first */
static int	cache_count = 0;
static dlist_head provisional_models = DLIST_STATIC_INIT(provisional_models);
static bool watching_transactions = false;

/* What holds a model in use: one at a time, until a memory context goes away. */
struct ModelPin
{
	MemoryContextCallback cb;
	ScoringModel *model;		/* NULL: none yet */
};

/* Frees a model no longer cached nor pinned. */
static void
ModelFreeIfUnused(ScoringModel *m)
{
	if (m->pins == 0 && !m->cached)
	{
		if (m->provisional)
			dlist_delete(&m->provisional_node);
		MemoryContextDelete(m->context);	/* frees the booster too */
	}
}

/* Drops a model from the cache, freeing it unless it is pinned. */
static void
ModelUncache(ScoringModel *m)
{
	dlist_delete(&m->lru);
	cache_count--;
	m->cached = false;
	ModelFreeIfUnused(m);
}

/*
 * The transaction that wrote the provisional models ends: on commit they are
 * ordinary versions; on a rollback (of the transaction, of any subtransaction,
 * or a PREPARE, after which another session decides) they are dropped from
 * the cache and marked stale, so that no one scores a version number that
 * the registry may give again to another model.
 */
static void
ModelCacheEndProvisional(bool committed)
{
	dlist_mutable_iter it;

	dlist_foreach_modify(it, &provisional_models)
	{
		ScoringModel *m = dlist_container(ScoringModel, provisional_node, it.cur);

		dlist_delete(&m->provisional_node);
		m->provisional = false;
		if (committed)
			continue;
		m->stale = true;
		if (m->cached)
			ModelUncache(m);
		else
			ModelFreeIfUnused(m);
	}
}

/* Transaction callback: settles the provisional models at commit, rollback or PREPARE. */
static void
ModelCacheXactCallback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			ModelCacheEndProvisional(true);
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			ModelCacheEndProvisional(false);
			break;
		default:
			break;
	}
}

/* Subtransaction callback: a rolled-back subtransaction drops the provisional models. */
static void
ModelCacheSubXactCallback(SubXactEvent event, SubTransactionId mySubid,
						  SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		ModelCacheEndProvisional(false);
}

/* Evicts least recently used unpinned models beyond mlops.model_cache_size. */
static void
ModelCacheTrim(void)
{
	dlist_node *node = dlist_is_empty(&cache) ? NULL : dlist_tail_node(&cache);

	while (node != NULL && cache_count > mlops_model_cache_size)
	{
		ScoringModel *m = dlist_container(ScoringModel, lru, node);

		node = dlist_has_prev(&cache, node) ? dlist_prev_node(&cache, node) : NULL;
		if (m->pins > 0)
			continue;
		ModelUncache(m);
	}
}

/* Lets go of the model a pin holds, if any, freeing it when it is evicted and no one else holds it. */
static void
ModelPinRelease(ModelPin *pin)
{
	ScoringModel *m = pin->model;

	if (m == NULL)
		return;
	pin->model = NULL;
	m->pins--;
	ModelFreeIfUnused(m);
}

/* Memory-context callback: releases a pin, then evicts what the cache holds beyond its size. */
static void
ModelUnpin(void *arg)
{
	ModelPinRelease(arg);
	ModelCacheTrim();
}

/*
 * A pin holding no model yet, released when `holder` is reset or deleted.
 * ModelCacheGet moves it from model to model.
 */
ModelPin *
ModelPinCreate(MemoryContext holder)
{
	ModelPin   *pin = MemoryContextAllocZero(holder, sizeof(ModelPin));

	pin->cb.func = ModelUnpin;
	pin->cb.arg = pin;
	MemoryContextRegisterResetCallback(holder, &pin->cb);
	return pin;
}

/* The stored version is not what scoring expects: a can't-happen, reported clearly. */
static void
BadVersion(ScoringModel *m, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("version %d of model \"%s\" cannot be scored", m->version, m->name),
			 errdetail("%s", detail)));
}

static char **sort_base;		/* the categories CompareCategory sorts */

/* qsort comparator: category indexes by the strcmp order of their text. */
static int
CompareCategory(const void *a, const void *b)
{
	return strcmp(sort_base[*(const int *) a], sort_base[*(const int *) b]);
}

/* Decodes the inputs of a version (features, kinds, impute, categories). */
static void
DecodeInputs(ScoringModel *m, HeapTuple tup, TupleDesc desc)
{
	bool		isnull;
	int			n,
				nkinds,
				nimpute,
				ncats,
				ncounts;
	char	  **features = TextArrayElements(SPI_getbinval(tup, desc, 4, &isnull), &n);
	char	  **kinds = TextArrayElements(SPI_getbinval(tup, desc, 6, &isnull), &nkinds);
	char	  **impute = TextArrayElements(SPI_getbinval(tup, desc, 7, &isnull), &nimpute);
	char	  **cats = TextArrayElements(SPI_getbinval(tup, desc, 8, &isnull), &ncats);
	Datum		counts_datum = SPI_getbinval(tup, desc, 9, &isnull);
	Datum	   *counts;
	int			next = 0;

	deconstruct_array(DatumGetArrayTypeP(counts_datum), INT4OID, 4, true, TYPALIGN_INT,
					  &counts, NULL, &ncounts);
	if (nkinds != n || nimpute != n || ncounts != n)
		BadVersion(m, "Its spec does not describe every feature.");
	m->ninputs = n;
	m->inputs = palloc0(n * sizeof(ScoringInput));
	for (int i = 0; i < n; i++)
	{
		ScoringInput *in = &m->inputs[i];

		in->name = features[i];
		in->categorical = strcmp(kinds[i], "categorical") == 0;
		if (!in->categorical && strcmp(kinds[i], "numeric") != 0)
			BadVersion(m, psprintf("Its spec gives input \"%s\" the unknown kind \"%s\".",
								   in->name, kinds[i]));
		in->impute = NAN;
		in->ncategories = DatumGetInt32(counts[i]);
		if (next + in->ncategories > ncats)
			BadVersion(m, "Its spec's categories are inconsistent.");
		in->categories = cats + next;
		next += in->ncategories;
		if (in->categorical)
		{
			in->sorted = palloc(Max(in->ncategories, 1) * sizeof(int));
			for (int c = 0; c < in->ncategories; c++)
			{
				in->sorted[c] = c;
				if (in->categories[c] == NULL)
					BadVersion(m, "Its spec holds a null category.");
				if (impute[i] && strcmp(impute[i], in->categories[c]) == 0)
					in->impute = c;
			}
			sort_base = in->categories;
			qsort(in->sorted, in->ncategories, sizeof(int), CompareCategory);
		}
		else if (impute[i])
			in->impute = float8in_internal(impute[i], NULL, "double precision", impute[i]);
	}
}

/* Decodes a linear-json artifact's terms and coefficients. */
static void
DecodeLinear(ScoringModel *m, HeapTuple tup, TupleDesc desc)
{
	bool		isnull1,
				isnull2,
				isnull3;
	Datum		terms = SPI_getbinval(tup, desc, 12, &isnull1);
	Datum		intercept = SPI_getbinval(tup, desc, 13, &isnull2);
	Datum		coef = SPI_getbinval(tup, desc, 14, &isnull3);
	int			ncoef;
	int			t = 0;

	if (isnull1 || isnull2 || isnull3)
		BadVersion(m, "Its linear-json artifact lacks terms, intercept or coef.");
	m->kind = SCORING_LINEAR;
	m->terms = TextArrayElements(terms, &m->nterms);
	m->intercept = Float8ArrayElements(intercept, &m->noutputs);
	m->coef = Float8ArrayElements(coef, &ncoef);
	if (m->noutputs < 1 || ncoef != m->noutputs * m->nterms)
		BadVersion(m, "Its linear-json artifact has coef of the wrong shape.");

	/*
	 * The terms are the design's columns in input order (LinearDesignTerms):
	 * a numeric input's name ("age"), a categorical input's indicators of its
	 * categories but the first ("city=rome"). They are matched in that order,
	 * not looked up by name, which cannot tell them apart: a column's name
	 * may hold "=" itself, and a numeric input "a=v" has the term of the
	 * indicator of category "v" of an input "a".
	 */
	m->term_input = palloc(Max(m->nterms, 1) * sizeof(int));
	m->term_category = palloc(Max(m->nterms, 1) * sizeof(int));
	for (int i = 0; i < m->ninputs; i++)
	{
		const ScoringInput *in = &m->inputs[i];
		int			first = in->categorical ? 1 : -1;
		int			last = in->categorical ? in->ncategories - 1 : -1;

		for (int c = first; c <= last; c++, t++)
		{
			char	   *expected = c < 0 ? in->name : psprintf("%s=%s", in->name, in->categories[c]);

			if (t >= m->nterms || m->terms[t] == NULL || strcmp(m->terms[t], expected) != 0)
				BadVersion(m, psprintf("Term %d of its linear-json artifact is not \"%s\".", t + 1, expected));
			if (c >= 0)
				pfree(expected);	/* the model's context lives as long as it is cached */
			m->term_input[t] = i;
			m->term_category[t] = c;
		}
	}
	if (t != m->nterms)
		BadVersion(m, psprintf("Its linear-json artifact has %d terms, its inputs make %d.", m->nterms, t));
}

/*
 * Decodes an xgboost-ubj artifact: a booster, and its compiled trees if
 * covered, for scoring (SCORING_TREES) or for explain only (dart, the
 * objectives libxgboost scores).
 */
static void
DecodeXgboost(ScoringModel *m)
{
	bytea	   *json;

	/*
	 * checked as import_model's are (trees of any depth: train's may be
	 * deeper): a trainer may have registered these bytes itself
	 */
	m->booster = XgbLoad("xgboost-ubj", VARDATA_ANY(m->artifact), VARSIZE_ANY_EXHDR(m->artifact), 0, m->context);
	/* the booster holds the model now (export_model writes it out): no second copy while cached */
	pfree(m->artifact);
	m->artifact = NULL;
	json = XgbSave(m->booster, "json");
	m->trees = TreeModelCompile(VARDATA(json), VARSIZE(json) - VARHDRSZ, true);
	pfree(json);
	if (XgbNumFeatures(m->booster) != m->ninputs)
		BadVersion(m, "Its XGBoost model does not take one feature per input.");
	if (m->trees && m->trees->scores)
	{
		m->kind = SCORING_TREES;
		m->noutputs = m->trees->num_group;
	}
	else
	{
		Jsonb	   *config = XgbConfig(m->booster);
		const char *booster_path[] = {"learner", "gradient_booster", "name"};
		char	   *booster_name = XgbConfigValue(config, booster_path, 3);

		m->kind = SCORING_BOOSTER;
		/* a multiclass objective with num_class 2 gives two margins, not one */
		m->noutputs = XgbNumOutputs(config);
		m->gblinear = booster_name != NULL && strcmp(booster_name, "gblinear") == 0;
		pfree(config);			/* the jsonb goes; its text and the parser's leftovers (a few kB) stay */
	}
	XgbReleaseFreedMemory();	/* what parsing and compiling the model freed */
	if (m->classification ? !(m->noutputs == 1 && m->nclasses == 2) && m->noutputs != m->nclasses
		: m->noutputs != 1)
		BadVersion(m, "Its XGBoost model does not have one output, or one per class.");
}

/* The role that owns the registry table registry (and mlops's functions). */
static Oid
RegistryOwner(Oid registry)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(registry));
	Oid			owner;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", registry);
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	return owner;
}

/* Error context of ModelLoad's decoding: the version whose artifact failed. */
static void
ModelLoadContext(void *arg)
{
	ScoringModel *m = (ScoringModel *) arg;

	errcontext("loading version %d of model \"%s\"", m->version, m->name);
}

/*
 * Reads version (model_id, version) through mlops._model_artifact and decodes
 * it. The query runs as the registry's owner: whoever scores gets the model
 * compiled, while only trainers may call _model_artifact themselves (it hands
 * out the whole artifact, which is export_model's).
 */
static ScoringModel *
ModelLoad(Oid registry, int64 model_id, int32 version, const char *name)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[2] = {INT8OID, INT4OID};
	MemoryContext context;
	MemoryContext old;
	ScoringModel *m;
	Datum		args[2];
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	char	   *algorithm;
	char	   *format;
	Oid			caller;
	int			caller_context;
	int			rc;
	ErrorContextCallback load_context;

	context = AllocSetContextCreate(TopMemoryContext, "mlops scoring model", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(context);
	m = palloc0(sizeof(ScoringModel));
	m->context = context;
	m->registry = registry;
	m->model_id = model_id;
	m->version = version;
	m->name = pstrdup(name);

	GetUserIdAndSecContext(&caller, &caller_context);
	PG_TRY();
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		SpiKeptPlan(&plan, "SELECT * FROM mlops._model_artifact($1, $2)", 2, types);
		args[0] = Int64GetDatum(model_id);
		args[1] = Int32GetDatum(version);
		SetUserIdAndSecContext(RegistryOwner(registry),
							   caller_context | SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
		rc = SPI_execute_plan(plan, args, NULL, true, 1);
		SetUserIdAndSecContext(caller, caller_context);
		if (rc != SPI_OK_SELECT)
			elog(ERROR, "could not read the model version");
		/*
		 * A version that does not exist is a row of NULLs (the function
		 * returns one record): the alias that named it outlived it, which
		 * foreign keys that did not fire (session_replication_role =
		 * replica) let happen.
		 */
		if (SPI_processed == 1)
			(void) SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		if (SPI_processed != 1 || isnull)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("version %d of model \"%s\" does not exist", version, name)));
		tup = SPI_tuptable->vals[0];
		desc = SPI_tuptable->tupdesc;
		MemoryContextSwitchTo(context);
		/* an artifact's own errors (a trainer may have registered any bytes) name the version */
		load_context.callback = ModelLoadContext;
		load_context.arg = m;
		load_context.previous = error_context_stack;
		error_context_stack = &load_context;

		algorithm = TextDatumGetCString(SPI_getbinval(tup, desc, 2, &isnull));
		m->classification = strcmp(TextDatumGetCString(SPI_getbinval(tup, desc, 3, &isnull)),
								   "classification") == 0;
		DecodeInputs(m, tup, desc);
		if (m->classification)
		{
			Datum		classes = SPI_getbinval(tup, desc, 5, &isnull);

			if (isnull)
				BadVersion(m, "It is a classification model without classes.");
			m->classes = Float8ArrayElements(classes, &m->nclasses);
			if (m->nclasses < 2)
				BadVersion(m, "It is a classification model with fewer than two classes.");
		}
		m->artifact = DatumGetByteaPCopy(SPI_getbinval(tup, desc, 10, &isnull));
		format = TextDatumGetCString(SPI_getbinval(tup, desc, 11, &isnull));
		if (strcmp(format, "linear-json") == 0)
			DecodeLinear(m, tup, desc);
		else if (strcmp(format, "xgboost-ubj") == 0 && strcmp(algorithm, "xgboost") == 0)
			DecodeXgboost(m);
		else
			BadVersion(m, psprintf("Artifact format \"%s\" of algorithm \"%s\" is not known.",
								   format, algorithm));
		if (m->classification && m->kind == SCORING_LINEAR &&
			!(m->noutputs == 1 && m->nclasses == 2) && m->noutputs != m->nclasses)
			BadVersion(m, "Its coefficients have neither one row nor one row per class.");
		{
			Datum		xmin = SPI_getbinval(tup, desc, 15, &isnull);

			m->provisional = !isnull && TransactionIdIsCurrentTransactionId(DatumGetTransactionId(xmin));
		}
		error_context_stack = load_context.previous;
		MemoryContextSwitchTo(old);
		SPI_finish();
	}
	PG_CATCH();
	{
		SetUserIdAndSecContext(caller, caller_context);
		MemoryContextSwitchTo(old);
		MemoryContextDelete(context);
		PG_RE_THROW();
	}
	PG_END_TRY();
	return m;
}

/*
 * The OID of mlops.model_version, the registry ModelCacheGet's keys name: a
 * registry dropped and created again (DROP/CREATE EXTENSION) has another.
 */
Oid
ModelRegistryOid(void)
{
	return get_relname_relid("model_version", get_namespace_oid("mlops", false));
}

/*
 * The model version, from the cache or loaded into it, held by `pin` in place
 * of the model the pin held (which goes back to the cache): a caller that
 * moves from version to version keeps only the one it uses loaded. When the
 * version cannot be loaded, the pin keeps its model.
 */
ScoringModel *
ModelCacheGet(ModelPin *pin, Oid registry, int64 model_id, int32 version, const char *name)
{
	ScoringModel *found = NULL;
	dlist_iter	it;

	dlist_foreach(it, &cache)
	{
		ScoringModel *m = dlist_container(ScoringModel, lru, it.cur);

		if (m->model_id == model_id && m->version == version && m->registry == registry)
		{
			found = m;
			break;
		}
	}
	if (found)
		dlist_delete(&found->lru);
	else
	{
		found = ModelLoad(registry, model_id, version, name);
		found->cached = true;
		cache_count++;
		if (found->provisional)
		{
			if (!watching_transactions)
			{
				RegisterXactCallback(ModelCacheXactCallback, NULL);
				RegisterSubXactCallback(ModelCacheSubXactCallback, NULL);
				watching_transactions = true;
			}
			dlist_push_head(&provisional_models, &found->provisional_node);
		}
	}
	dlist_push_head(&cache, &found->lru);
	found->pins++;
	ModelPinRelease(pin);
	pin->model = found;
	ModelCacheTrim();
	return found;
}
