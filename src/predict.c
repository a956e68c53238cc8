/*
 * predict.c — the SQL entry points of scoring (predict, predict_proba,
 * predict_version, explain) and export_model, which hands a model out as
 * scoring reads it (import_model.c brings models in).
 *
 * A model reference is resolved through mlops.resolve_model under the
 * statement's snapshot, so a statement scores with one version from start to
 * end whatever other sessions commit meanwhile, and sees a committed alias
 * move from its next statement on. Resolutions are remembered per call site
 * (fn_extra) and per backend, keyed by what the snapshot they were made under
 * can see: while later snapshots see exactly the same transactions (no commit
 * or abort since, no write or rollback of our own), the registry cannot look
 * different, so the answer is reused without asking again. This is what keeps
 * online scoring (one short statement after another) cheap.
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "nodes/primnodes.h"
#include "storage/proc.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/typcache.h"

#include "mlops/args.h"
#include "mlops/float_text.h"
#include "mlops/metrics.h"
#include "mlops/model_cache.h"
#include "mlops/scoring.h"
#include "mlops/settings.h"
#include "mlops/source.h"
#include "mlops/spi_plan.h"
#include "mlops/trees.h"
#include "mlops/xgb.h"

/*
 * Identifies what a snapshot can see. Two MVCC snapshots with the same xmin,
 * xmax and in-progress transactions (and subtransactions, or both overflowed)
 * see the same committed transactions; with the same own transaction and
 * command id, and no rollback of ours in between, they see the same own
 * changes too. The in-progress xids are kept whatever their number: xmin and
 * xmax alone do not tell, as the commit of an xid older than the newest
 * completed one leaves both as they were. Rollbacks are counted because
 * undoing our own writes changes none of the rest: the command id goes on,
 * and the xmax need not move (a newer xid may have completed first).
 * At SERIALIZABLE the transaction counts too: resolve_model's reads are what
 * tells the serializable transaction that it depends on the alias (its
 * predicate locks), so a transaction that reused another's resolution would
 * go unseen by a move of the alias and could commit a write skew.
 */
typedef struct SnapKey
{
	bool		comparable;		/* false: no MVCC snapshot */
	LocalTransactionId lxid;	/* the transaction it was taken in */
	TransactionId xmin;
	TransactionId xmax;
	TransactionId own_xid;
	CommandId	curcid;
	uint64		rollbacks;		/* of this backend's (sub)transactions, so far */
	bool		suboverflowed;
	bool		recovery;		/* takenDuringRecovery: the xids are in subxip */
	uint32		xcnt;
	int32		subxcnt;		/* of subxids kept (0 when overflowed) */
	TransactionId *xids;		/* xip then subxip, or NULL */
} SnapKey;

/* A resolved model reference. */
typedef struct Resolution
{
	char	   *ref;
	char	   *default_alias;	/* mlops.default_alias when resolved */
	SnapKey		key;
	Oid			registry;
	int64		model_id;
	int32		version;
	char	   *name;
} Resolution;

/* How a row's column becomes an input value. */
typedef enum ColumnKind
{
	COL_FLOAT8, COL_FLOAT4, COL_INT2, COL_INT4, COL_INT8, COL_BOOL, COL_NUMERIC,
	COL_TEXT, COL_CHAR, COL_NAME, COL_ENUM
} ColumnKind;

/* Per call site state, in fn_extra. */
typedef struct CallSite
{
	MemoryContext mcxt;			/* fn_mcxt: lives as long as the call site */
	Resolution	res;			/* the last resolution (ref NULL: none yet) */
	bool		ref_is_constant;	/* the model argument is a constant: the same at every call */
	ModelPin   *pin;			/* holds model until another replaces it or mcxt goes away */
	ScoringModel *model;
	double	   *x;				/* the input vector being built */
	float	   *xf;
	float	   *out;			/* margins, probabilities, contributions */
	int			capacity;		/* of x, xf (inputs) */
	Size		out_capacity;
	/* row form: the mapping from the row type to the model's inputs */
	Oid			row_type;
	int32		row_typmod;
	TypeCacheEntry *row_typentry;	/* a named row type's, whose columns ALTER may change; else NULL */
	uint64		row_tupdesc_id; /* the row_typentry->tupDesc_identifier mapped */
	ScoringModel *row_model;
	TupleDesc	row_desc;
	int		   *row_attr;		/* per input: the column's index */
	ColumnKind *row_kind;
	Datum	   *values;
	bool	   *nulls;
} CallSite;

#define BACKEND_RESOLUTIONS 8

static Resolution backend_res[BACKEND_RESOLUTIONS];
static int	backend_res_next = 0;

static uint64 rollbacks = 0;	/* of this backend's transactions and subtransactions */
static bool counting_rollbacks = false;

/* Transaction callback: counts the rollbacks of transactions. */
static void
CountRollback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
		rollbacks++;
}

/* Subtransaction callback: counts the rollbacks of subtransactions. */
static void
CountSubRollback(SubXactEvent event, SubTransactionId mySubid, SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		rollbacks++;
}

/*
 * How many subxids of a snapshot tell what it sees: none when it overflowed
 * (an in-progress subtransaction is then looked up in pg_subtrans, whose
 * top-level xid is in xip), except in recovery, where every xid is in subxip.
 */
static int32
KeptSubxids(Snapshot snap)
{
	return snap->suboverflowed && !snap->takenDuringRecovery ? 0 : Max(snap->subxcnt, 0);
}

/* The key of the active snapshot, its xids allocated in `cxt` (not comparable when there is none). */
static void
CurrentSnapKey(SnapKey *key, MemoryContext cxt)
{
	Snapshot	snap = ActiveSnapshotSet() ? GetActiveSnapshot() : NULL;

	memset(key, 0, sizeof(SnapKey));
	if (snap == NULL || snap->snapshot_type != SNAPSHOT_MVCC)
		return;
	if (!counting_rollbacks)
	{
		RegisterXactCallback(CountRollback, NULL);
		RegisterSubXactCallback(CountSubRollback, NULL);
		counting_rollbacks = true;
	}
	key->comparable = true;
	key->lxid = MyProc->lxid;
	key->rollbacks = rollbacks;
	key->xmin = snap->xmin;
	key->xmax = snap->xmax;
	key->own_xid = GetCurrentTransactionIdIfAny();
	key->curcid = snap->curcid;
	key->suboverflowed = snap->suboverflowed;
	key->recovery = snap->takenDuringRecovery;
	key->xcnt = snap->xcnt;
	key->subxcnt = KeptSubxids(snap);
	if (key->xcnt + key->subxcnt > 0)
	{
		key->xids = MemoryContextAlloc(cxt, (key->xcnt + key->subxcnt) * sizeof(TransactionId));
		memcpy(key->xids, snap->xip, key->xcnt * sizeof(TransactionId));
		memcpy(key->xids + key->xcnt, snap->subxip, key->subxcnt * sizeof(TransactionId));
	}
}

/* A copy of `key` with its xids in `cxt`. */
static SnapKey
CopySnapKey(const SnapKey *key, MemoryContext cxt)
{
	SnapKey		copy = *key;

	if (key->xids)
	{
		copy.xids = MemoryContextAlloc(cxt, (key->xcnt + key->subxcnt) * sizeof(TransactionId));
		memcpy(copy.xids, key->xids, (key->xcnt + key->subxcnt) * sizeof(TransactionId));
	}
	return copy;
}

/* Frees the xids of a key. */
static void
FreeSnapKey(SnapKey *key)
{
	if (key->xids)
		pfree(key->xids);
	key->xids = NULL;
}

/* Whether the active snapshot sees what the snapshot of `key` saw. */
static bool
SnapKeyHolds(const SnapKey *key)
{
	Snapshot	snap;
	int32		subxcnt;

	if (!key->comparable || !ActiveSnapshotSet())
		return false;
	snap = GetActiveSnapshot();
	subxcnt = KeptSubxids(snap);
	return snap->snapshot_type == SNAPSHOT_MVCC &&
		(!IsolationIsSerializable() || MyProc->lxid == key->lxid) &&
		snap->xmin == key->xmin && snap->xmax == key->xmax && snap->curcid == key->curcid &&
		GetCurrentTransactionIdIfAny() == key->own_xid && rollbacks == key->rollbacks &&
		snap->suboverflowed == key->suboverflowed && snap->takenDuringRecovery == key->recovery &&
		snap->xcnt == key->xcnt && subxcnt == key->subxcnt &&
		(key->xcnt == 0 || memcmp(snap->xip, key->xids, key->xcnt * sizeof(TransactionId)) == 0) &&
		(subxcnt == 0 || memcmp(snap->subxip, key->xids + key->xcnt, subxcnt * sizeof(TransactionId)) == 0);
}

/* Resolves a reference through mlops.resolve_model (SPI, under the active snapshot). */
static void
ResolveThroughSpi(const char *ref, Resolution *res)
{
	static SPIPlanPtr plan = NULL;
	Oid			type = TEXTOID;
	Datum		arg = CStringGetTextDatum(ref);
	bool		isnull;
	MemoryContext caller = CurrentMemoryContext;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	SpiKeptPlan(&plan, "SELECT model, version, model_id FROM mlops.resolve_model($1)", 1, &type);
	if (SPI_execute_plan(plan, &arg, NULL, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "mlops.resolve_model returned no row");
	res->name = MemoryContextStrdup(TopMemoryContext,
									TextDatumGetCString(SPI_getbinval(SPI_tuptable->vals[0],
																	  SPI_tuptable->tupdesc, 1, &isnull)));
	res->version = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	res->model_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
	res->registry = ModelRegistryOid();
	SPI_finish();
	MemoryContextSwitchTo(caller);
}

/*
 * The resolution of `ref` under the active snapshot: from the backend's
 * remembered resolutions when one was made under the same registry contents,
 * else through resolve_model (remembered for next time).
 */
static Resolution *
Resolve(const char *ref)
{
	Resolution *res;

	for (int i = 0; i < BACKEND_RESOLUTIONS; i++)
	{
		res = &backend_res[i];
		if (res->ref && strcmp(res->ref, ref) == 0 &&
			strcmp(res->default_alias, mlops_default_alias) == 0 && SnapKeyHolds(&res->key))
			return res;
	}
	res = &backend_res[backend_res_next];
	backend_res_next = (backend_res_next + 1) % BACKEND_RESOLUTIONS;
	if (res->ref)
	{
		pfree(res->ref);
		pfree(res->default_alias);
		pfree(res->name);
		FreeSnapKey(&res->key);
	}
	memset(res, 0, sizeof(Resolution));
	ResolveThroughSpi(ref, res);	/* may fail: res stays empty */
	res->ref = MemoryContextStrdup(TopMemoryContext, ref);
	res->default_alias = MemoryContextStrdup(TopMemoryContext, mlops_default_alias);
	CurrentSnapKey(&res->key, TopMemoryContext);
	return res;
}

/* The call site's state, created on first call. */
static CallSite *
GetCallSite(FunctionCallInfo fcinfo)
{
	CallSite   *cs = fcinfo->flinfo->fn_extra;

	if (cs == NULL)
	{
		cs = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(CallSite));
		cs->mcxt = fcinfo->flinfo->fn_mcxt;
		cs->pin = ModelPinCreate(cs->mcxt);
		fcinfo->flinfo->fn_extra = cs;
	}
	return cs;
}

/*
 * Makes the call site's buffers big enough for model m: its inputs and, for
 * XGBoost models, a row's margins or explain's contributions, (inputs + 1)
 * per output (linear models score into the caller's buffers). XgbLoad
 * refused a model of more than XGB_MAX_ROW_VALUES such values, and a
 * version's classes are its outputs (model_cache.c), so the size fits.
 */
static void
SizeBuffers(CallSite *cs, ScoringModel *m)
{
	Size		out = m->kind == SCORING_LINEAR ? 0
		: ((Size) m->ninputs + 1) * Max(m->noutputs, m->nclasses) + 1;

	if (cs->capacity < m->ninputs)
	{
		cs->capacity = m->ninputs;
		cs->x = MemoryContextAlloc(cs->mcxt, m->ninputs * sizeof(double));
		cs->xf = MemoryContextAlloc(cs->mcxt, m->ninputs * sizeof(float));
	}
	if (cs->out_capacity < out)
	{
		cs->out_capacity = out;
		cs->out = MemoryContextAlloc(cs->mcxt, out * sizeof(float));
	}
}

/*
 * Pins a resolved version for the call site (in place of its previous one)
 * and makes it the current model. The previous resolution goes first, so
 * that a failure (a model too large to score) leaves none to reuse.
 */
static ScoringModel *
UseResolution(CallSite *cs, const Resolution *res, const char *ref)
{
	if (cs->res.ref)
	{
		pfree(cs->res.ref);
		pfree(cs->res.default_alias);
		FreeSnapKey(&cs->res.key);
		memset(&cs->res, 0, sizeof(Resolution));	/* no ref, a key that holds for nothing */
	}
	if (cs->model == NULL || cs->model->stale || cs->model->model_id != res->model_id ||
		cs->model->version != res->version || cs->model->registry != res->registry)
	{
		cs->model = ModelCacheGet(cs->pin, res->registry, res->model_id, res->version, res->name);
		/* the model the row mapping was made for may be freed, and its address reused */
		cs->row_model = NULL;
	}
	SizeBuffers(cs, cs->model);
	/* own copies: the backend's entry may be recycled while the call site lives */
	cs->res = *res;
	cs->res.ref = MemoryContextStrdup(cs->mcxt, ref);
	cs->res.default_alias = MemoryContextStrdup(cs->mcxt, res->default_alias);
	cs->res.name = NULL;
	cs->res.key = CopySnapKey(&res->key, cs->mcxt);
	return cs->model;
}

/*
 * Whether argument `arg` of the call is a constant. Not get_fn_expr_arg_stable,
 * which counts a parameter as stable too: PL/pgSQL passes its variables as
 * parameters and evaluates a simple expression again and again through the
 * same call site, with the variable's new value each time.
 */
static bool
ArgIsConstant(FunctionCallInfo fcinfo, int arg)
{
	Node	   *expr = fcinfo->flinfo->fn_expr;
	List	   *args = expr != NULL && IsA(expr, FuncExpr) ? ((FuncExpr *) expr)->args : NIL;

	return arg < list_length(args) && IsA(list_nth(args, arg), Const);
}

/* The model argument `arg` means for this call (fast when nothing changed). */
static ScoringModel *
CallSiteModel(FunctionCallInfo fcinfo, CallSite *cs, int arg)
{
	text	   *ref_text;
	char	   *ref;
	bool		current;		/* the last resolution holds for what it resolved */

	RequireArg(fcinfo, arg, "model");
	current = cs->res.ref && !cs->model->stale && SnapKeyHolds(&cs->res.key) &&
		strcmp(cs->res.default_alias, mlops_default_alias) == 0;
	/* a constant reference needs no comparing once resolved */
	if (current && cs->ref_is_constant)
		return cs->model;
	ref_text = PG_GETARG_TEXT_PP(arg);
	if (current && strlen(cs->res.ref) == VARSIZE_ANY_EXHDR(ref_text) &&
		memcmp(cs->res.ref, VARDATA_ANY(ref_text), VARSIZE_ANY_EXHDR(ref_text)) == 0)
		return cs->model;
	ref = text_to_cstring(ref_text);
	cs->ref_is_constant = ArgIsConstant(fcinfo, arg);
	return UseResolution(cs, Resolve(ref), ref);
}

/* The names of a model's inputs, for messages. */
static char *
InputList(ScoringModel *m)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int i = 0; i < m->ninputs; i++)
		appendStringInfo(&buf, "%s%s", i ? ", " : "", m->inputs[i].name);
	return buf.data;
}

/* Reads a float8[] argument into cs->x (NULL elements as NaN). */
static void
ArrayInputs(FunctionCallInfo fcinfo, CallSite *cs, ScoringModel *m, int arg)
{
	ArrayType  *a;
	int			n;
	bits8	   *bitmap;
	char	   *p;

	RequireArg(fcinfo, arg, "features");
	a = PG_GETARG_ARRAYTYPE_P(arg);
	if (ARR_NDIM(a) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("features must be a one-dimensional array")));
	n = ARR_NDIM(a) == 0 ? 0 : ARR_DIMS(a)[0];
	if (n != m->ninputs)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model \"%s\" version %d takes %d features, not %d", m->name, m->version, m->ninputs, n),
				 errdetail("The features are, in order: %s.", InputList(m))));
	bitmap = ARR_NULLBITMAP(a);
	p = ARR_DATA_PTR(a);
	if (bitmap == NULL)
		memcpy(cs->x, p, n * sizeof(double));
	else
		for (int i = 0; i < n; i++)
		{
			if (bitmap[i / 8] & (1 << (i % 8)))
			{
				memcpy(&cs->x[i], p, sizeof(double));
				p += sizeof(double);
			}
			else
				cs->x[i] = NAN;
		}
}

/* How values of a column of base type `type` become input values, for input `in`. */
static ColumnKind
ColumnKindOf(ScoringModel *m, ScoringInput *in, Oid type)
{
	if (in->categorical)
	{
		if (type_is_enum(type))
			return COL_ENUM;
		if (type == TEXTOID || type == VARCHAROID)
			return COL_TEXT;
		if (type == BPCHAROID)
			return COL_CHAR;	/* text without its padding */
		if (type == NAMEOID)
			return COL_NAME;	/* fixed-length, not a varlena */
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("column \"%s\" must be text or an enum for model \"%s\"", in->name, m->name),
				 errdetail("Input \"%s\" is categorical, the column is of type %s.",
						   in->name, format_type_be(type))));
	}
	switch (type)
	{
		case FLOAT8OID:
			return COL_FLOAT8;
		case FLOAT4OID:
			return COL_FLOAT4;
		case INT2OID:
			return COL_INT2;
		case INT4OID:
			return COL_INT4;
		case INT8OID:
			return COL_INT8;
		case BOOLOID:
			return COL_BOOL;
		case NUMERICOID:
			return COL_NUMERIC;
		default:
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("column \"%s\" must be numeric for model \"%s\"", in->name, m->name),
					 errdetail("Input \"%s\" is numeric, the column is of type %s.",
							   in->name, format_type_be(type)),
					 errhint("Cast it in the query, or pass a float8[] in the model's feature order.")));
	}
	return COL_FLOAT8;			/* keep the compiler quiet */
}

/*
 * Maps the columns of a row type to the model's inputs, by name (again when
 * the type changed). A feature two columns of the row carry is ambiguous
 * (42702), as a reference to it would be in SQL: neither is taken silently.
 */
static void
MapRowType(CallSite *cs, ScoringModel *m, Oid type, int32 typmod)
{
	TupleDesc	desc;
	MemoryContext old;

	/*
	 * A registered record type (typmod >= 0) never changes; a named one does
	 * with ALTER TABLE or ALTER TYPE. Its identifier is taken before its
	 * columns are read: a change in between is then seen at the next row.
	 */
	cs->row_typentry = typmod < 0 ? lookup_type_cache(type, TYPECACHE_TUPDESC) : NULL;
	cs->row_tupdesc_id = cs->row_typentry ? cs->row_typentry->tupDesc_identifier : 0;
	desc = lookup_rowtype_tupdesc(type, typmod);
	old = MemoryContextSwitchTo(cs->mcxt);
	cs->row_model = NULL;
	if (cs->row_desc != NULL)
	{
		/* the previous mapping's: a call site may map once per row (models alternating) */
		FreeTupleDesc(cs->row_desc);
		pfree(cs->row_attr);
		pfree(cs->row_kind);
		pfree(cs->values);
		pfree(cs->nulls);
	}
	cs->row_desc = CreateTupleDescCopy(desc);
	ReleaseTupleDesc(desc);
	cs->row_attr = palloc(Max(m->ninputs, 1) * sizeof(int));
	cs->row_kind = palloc(Max(m->ninputs, 1) * sizeof(ColumnKind));
	cs->values = palloc(Max(cs->row_desc->natts, 1) * sizeof(Datum));
	cs->nulls = palloc(Max(cs->row_desc->natts, 1) * sizeof(bool));
	MemoryContextSwitchTo(old);
	for (int i = 0; i < m->ninputs; i++)
	{
		int			found = -1;
		int			found_position = 0;
		int			position = 0;	/* among the columns not dropped, as users count them */

		for (int a = 0; a < cs->row_desc->natts; a++)
		{
			Form_pg_attribute att = TupleDescAttr(cs->row_desc, a);

			if (att->attisdropped)
				continue;
			position++;
			if (strcmp(NameStr(att->attname), m->inputs[i].name) != 0)
				continue;
			if (found >= 0)
				ereport(ERROR,
						(errcode(ERRCODE_AMBIGUOUS_COLUMN),
						 errmsg("row has more than one column \"%s\", a feature of model \"%s\"",
								m->inputs[i].name, m->name),
						 errdetail("Columns %d and %d of the row are both named so.", found_position, position),
						 errhint("Give the columns of the row distinct names.")));
			found = a;
			found_position = position;
		}
		if (found < 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("row has no column \"%s\", a feature of model \"%s\"", m->inputs[i].name, m->name),
					 errdetail("Version %d of the model takes: %s.", m->version, InputList(m))));
		cs->row_attr[i] = found;
		cs->row_kind[i] = ColumnKindOf(m, &m->inputs[i],
									   getBaseType(TupleDescAttr(cs->row_desc, found)->atttypid));
	}
	cs->row_type = type;
	cs->row_typmod = typmod;
	cs->row_model = m;
}

/*
 * Reads a row argument into cs->x, its columns matched to the inputs by name;
 * argname is the argument's SQL name, for the error a NULL row gets.
 */
static void
RowInputs(FunctionCallInfo fcinfo, CallSite *cs, ScoringModel *m, int arg, const char *argname)
{
	HeapTupleHeader td;
	HeapTupleData tuple;

	RequireArg(fcinfo, arg, argname);
	td = PG_GETARG_HEAPTUPLEHEADER(arg);
	if (cs->row_model != m || cs->row_type != HeapTupleHeaderGetTypeId(td) ||
		cs->row_typmod != HeapTupleHeaderGetTypMod(td) ||
		(cs->row_typentry && cs->row_typentry->tupDesc_identifier != cs->row_tupdesc_id))
		MapRowType(cs, m, HeapTupleHeaderGetTypeId(td), HeapTupleHeaderGetTypMod(td));
	tuple.t_len = HeapTupleHeaderGetDatumLength(td);
	ItemPointerSetInvalid(&tuple.t_self);
	tuple.t_tableOid = InvalidOid;
	tuple.t_data = td;
	heap_deform_tuple(&tuple, cs->row_desc, cs->values, cs->nulls);

	for (int i = 0; i < m->ninputs; i++)
	{
		int			a = cs->row_attr[i];
		Datum		v = cs->values[a];
		double		x;

		if (cs->nulls[a])
		{
			cs->x[i] = NAN;
			continue;
		}
		switch (cs->row_kind[i])
		{
			case COL_FLOAT8:
				x = DatumGetFloat8(v);
				break;
			case COL_FLOAT4:
				x = DatumGetFloat4(v);
				break;
			case COL_INT2:
				x = DatumGetInt16(v);
				break;
			case COL_INT4:
				x = DatumGetInt32(v);
				break;
			case COL_INT8:
				x = (double) DatumGetInt64(v);
				break;
			case COL_BOOL:
				x = DatumGetBool(v) ? 1.0 : 0.0;
				break;
			case COL_NUMERIC:
				x = DatumGetNumericFloat8(v, NUMERICOID);
				break;
			case COL_TEXT:
			case COL_CHAR:
				{
					text	   *t = DatumGetTextPP(v);
					int			len = VARSIZE_ANY_EXHDR(t);
					char	   *s = VARDATA_ANY(t);

					if (cs->row_kind[i] == COL_CHAR)
						len = CategoryTextLength(BPCHAROID, s, len);
					x = ScoringCategoryIndex(&m->inputs[i], s, len);
					break;
				}
			case COL_NAME:
				{
					const char *s = NameStr(*DatumGetName(v));

					x = ScoringCategoryIndex(&m->inputs[i], s, strlen(s));
					break;
				}
			case COL_ENUM:
				{
					char	   *label = OidOutputFunctionCall(F_ENUM_OUT, v);

					x = ScoringCategoryIndex(&m->inputs[i], label, strlen(label));
					break;
				}
			default:
				elog(ERROR, "unexpected column kind");
		}
		cs->x[i] = x;
	}
}

/* predict: the value, or the class label. */
static double
PredictOne(CallSite *cs, ScoringModel *m)
{
	double		out[2];			/* enough unless there are more than two classes */
	double	   *buf = out;

	if (m->classification && m->nclasses > 2)
		buf = palloc(m->nclasses * sizeof(double));
	ScoreVector(m, cs->x, cs->xf, cs->out, buf);
	return m->classification ? m->classes[PredictedClass(buf, m->nclasses)] : buf[0];
}

/* predict_proba: the class probabilities as a float8[]. */
static Datum
ProbaArray(CallSite *cs, ScoringModel *m)
{
	double	   *proba;
	Datum	   *elems;

	if (!m->classification)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("model \"%s\" version %d is a regression model", m->name, m->version),
				 errhint("predict_proba applies to classification models; use predict.")));
	proba = palloc(Max(m->nclasses, 2) * sizeof(double));
	ScoreVector(m, cs->x, cs->xf, cs->out, proba);
	elems = palloc(m->nclasses * sizeof(Datum));
	for (int c = 0; c < m->nclasses; c++)
		elems[c] = Float8GetDatum(proba[c]);
	return PointerGetDatum(construct_array(elems, m->nclasses, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/* Appends "key": number to a JSON object being built. */
static void
AppendJsonNumber(StringInfo buf, const char *key, double v)
{
	escape_json(buf, key);
	appendStringInfoString(buf, ": ");
	AppendJsonNumberOrNull(buf, v);
}

/*
 * explain: {"bias": b, "contributions": {input: c}} with bias + Σ c = the raw
 * margin; for multiclass models those of the predicted class, named in "class".
 */
static Datum
Explain(CallSite *cs, ScoringModel *m)
{
	StringInfoData buf;
	double	   *contrib = palloc0((m->ninputs + 1) * sizeof(double));
	double		bias;
	int			group = 0;

	/* the class predict returns (margins within exp's rounding tie: the first, not the greater margin's) */
	if (m->classification && m->noutputs > 1)
	{
		double	   *proba = palloc(m->nclasses * sizeof(double));

		ScoreVector(m, cs->x, cs->xf, cs->out, proba);
		group = PredictedClass(proba, m->nclasses);
	}
	if (m->kind == SCORING_LINEAR)
	{
		ScoringImputeLinear(m, cs->x);
		for (int t = 0; t < m->nterms; t++)
		{
			double		v = cs->x[m->term_input[t]];

			if (m->term_category[t] >= 0)
				v = (v == m->term_category[t]) ? 1.0 : 0.0;
			contrib[m->term_input[t]] += m->coef[(size_t) group * m->nterms + t] * v;
		}
		bias = m->intercept[group];
	}
	else
	{
		int			width = m->ninputs + 1;

		/* the compiled trees' TreeSHAP, libxgboost's bit for bit in less memory (treeshap.c) */
		bool		compiled = m->trees != NULL && m->trees->covers != NULL;

		for (int i = 0; i < m->ninputs; i++)
			cs->xf[i] = (float) cs->x[i];
		if (compiled)
			TreeModelContributions(m->trees, cs->xf, cs->out);
		else
			ScoringBoosterPredict(m, cs->xf, XGB_PREDICT_CONTRIBS, cs->out, (size_t) width * m->noutputs);
		for (int i = 0; i < m->ninputs; i++)
			contrib[i] = cs->out[group * width + i];
		bias = cs->out[group * width + m->ninputs];
	}

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	AppendJsonNumber(&buf, "bias", bias);
	if (m->classification && m->noutputs > 1)
	{
		appendStringInfoString(&buf, ", ");
		AppendJsonNumber(&buf, "class", m->classes[group]);
	}
	appendStringInfoString(&buf, ", \"contributions\": {");
	for (int i = 0; i < m->ninputs; i++)
	{
		if (i)
			appendStringInfoString(&buf, ", ");
		AppendJsonNumber(&buf, m->inputs[i].name, contrib[i]);
	}
	appendStringInfoString(&buf, "}}");
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data));
}

/*
 * The model of a scoring call (model text, features float8[] | row record),
 * resolved once per statement, with the call's inputs read into the call
 * site's buffers: what every predict/predict_proba/explain form starts with.
 * row_arg is the SQL name of the row form's argument ("row" for predict,
 * "features" for the others, as the SQL contract names them), NULL for the
 * array form.
 */
static ScoringModel *
ScoringCallInputs(FunctionCallInfo fcinfo, CallSite **cs, const char *row_arg)
{
	ScoringModel *m;

	*cs = GetCallSite(fcinfo);
	m = CallSiteModel(fcinfo, *cs, 0);
	if (row_arg)
		RowInputs(fcinfo, *cs, m, 1, row_arg);
	else
		ArrayInputs(fcinfo, *cs, m, 1);
	return m;
}

PG_FUNCTION_INFO_V1(predict_array);
/* predict(model text, features float8[]) */
Datum
predict_array(PG_FUNCTION_ARGS)
{
	CallSite   *cs;
	ScoringModel *m = ScoringCallInputs(fcinfo, &cs, NULL);

	PG_RETURN_FLOAT8(PredictOne(cs, m));
}

PG_FUNCTION_INFO_V1(predict_row);
/* predict(model text, row record) */
Datum
predict_row(PG_FUNCTION_ARGS)
{
	CallSite   *cs;
	ScoringModel *m = ScoringCallInputs(fcinfo, &cs, "row");

	PG_RETURN_FLOAT8(PredictOne(cs, m));
}

PG_FUNCTION_INFO_V1(predict_proba_array);
/* predict_proba(model text, features float8[]) */
Datum
predict_proba_array(PG_FUNCTION_ARGS)
{
	CallSite   *cs;
	ScoringModel *m = ScoringCallInputs(fcinfo, &cs, NULL);

	PG_RETURN_DATUM(ProbaArray(cs, m));
}

PG_FUNCTION_INFO_V1(predict_proba_row);
/* predict_proba(model text, features record) */
Datum
predict_proba_row(PG_FUNCTION_ARGS)
{
	CallSite   *cs;
	ScoringModel *m = ScoringCallInputs(fcinfo, &cs, "features");

	PG_RETURN_DATUM(ProbaArray(cs, m));
}

PG_FUNCTION_INFO_V1(explain_array);
/* explain(model text, features float8[]) */
Datum
explain_array(PG_FUNCTION_ARGS)
{
	CallSite   *cs;
	ScoringModel *m = ScoringCallInputs(fcinfo, &cs, NULL);

	PG_RETURN_DATUM(Explain(cs, m));
}

PG_FUNCTION_INFO_V1(explain_row);
/* explain(model text, features record) */
Datum
explain_row(PG_FUNCTION_ARGS)
{
	CallSite   *cs;
	ScoringModel *m = ScoringCallInputs(fcinfo, &cs, "features");

	PG_RETURN_DATUM(Explain(cs, m));
}

PG_FUNCTION_INFO_V1(predict_version);
/*
 * predict_version(model text, version int, features float8[]): a pinned
 * version, whatever the aliases say. STABLE, as the other forms: it reads the
 * registry (40_scoring.sql says why not IMMUTABLE).
 */
Datum
predict_version(PG_FUNCTION_ARGS)
{
	CallSite   *cs = GetCallSite(fcinfo);
	ScoringModel *m = cs->model;
	char	   *name;
	int32		version;

	name = RequireTextArg(fcinfo, 0, "model");
	RequireArg(fcinfo, 1, "version");
	version = PG_GETARG_INT32(1);
	/* the last call's version, unless the registry may have deleted it since */
	if (m == NULL || m->stale || m->version != version || strcmp(m->name, name) != 0 ||
		!SnapKeyHolds(&cs->res.key))
	{
		char	   *ref;

		if (strpbrk(name, "@:") != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("predict_version takes a model name, not \"%s\"", name),
					 errhint("The version is given by the second argument.")));
		/*
		 * An empty name or a negative version, which "name:version" cannot
		 * spell (resolve_model would call it malformed, 22023), names no
		 * model or no version (42704), as it does for the registry functions.
		 */
		if (*name == '\0')
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("model \"%s\" does not exist", name)));
		if (version < 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("version %d of model \"%s\" does not exist", version, name)));
		ref = psprintf("%s:%d", name, version);
		m = UseResolution(cs, Resolve(ref), ref);
	}
	ArrayInputs(fcinfo, cs, m, 2);
	PG_RETURN_FLOAT8(PredictOne(cs, m));
}

PG_FUNCTION_INFO_V1(export_model);
/*
 * export_model(model): XGBoost JSON for xgboost models (what Python's
 * xgboost.Booster loads), the linear-json document for linear ones. JSON is
 * UTF-8: in a SQL_ASCII database, whose names (and categories) are kept as
 * the bytes they were written in, a document holding bytes that are not
 * UTF-8 is refused rather than handed out as JSON no parser reads.
 */
Datum
export_model(PG_FUNCTION_ARGS)
{
	CallSite   *cs = GetCallSite(fcinfo);
	ScoringModel *m = CallSiteModel(fcinfo, cs, 0);
	bytea	   *doc;

	doc = m->kind == SCORING_LINEAR ? m->artifact : XgbSave(m->booster, "json");
	if (GetDatabaseEncoding() == PG_SQL_ASCII &&
		!pg_verify_mbstr(PG_UTF8, VARDATA_ANY(doc), VARSIZE_ANY_EXHDR(doc), true))
		ereport(ERROR,
				(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
				 errmsg("version %d of model \"%s\" cannot be exported as JSON", m->version, m->name),
				 errdetail("Its document holds bytes that are not UTF-8 (a feature name, the target's name or a category, kept as written in this SQL_ASCII database), and JSON is UTF-8."),
				 errhint("Train the model on columns and categories spelled in UTF-8, or import it with feature names in UTF-8.")));
	PG_RETURN_BYTEA_P(doc);
}
