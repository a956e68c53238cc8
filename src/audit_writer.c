/*
 * audit_writer.c — writing the audit log's rows, in batches.
 *
 * The audit trigger forms a log row for each change; the log writer keeps
 * them pending and writes them directly (table_multi_insert +
 * ExecInsertIndexTuples on every index of the log, as the log's owner), so
 * that writers need no privilege on the log and pay no executor start-up per
 * row: a statement's rows are written together when its triggers are done,
 * and at the latest before anything reads the log (see LogWriter). They are
 * only ever appended at the end of the log, never into free space further
 * back (of an aborted transaction's rows, which VACUUM frees), so that the
 * last row of the chain is on the log's last pages (audit.c finds it there).
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/hio.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/pg_list.h"
#include "storage/bufmgr.h"
#include "storage/proc.h"
#include "tcop/utility.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/resowner.h"

#include "mlops/audit_writer.h"

/*
 * The log rows of this transaction not yet written, and what writing them
 * needs: the log opened with its indexes and kept open (opening them for each
 * row costs as much as the insert). Rows are formed one by one as the trigger
 * fires and written in batches with table_multi_insert (one WAL record per
 * page instead of one per row), each with the command id it was formed under,
 * so that it is visible exactly when a row inserted at once would have been.
 * A row is written under the (sub)transaction it belongs to: when that one
 * aborts, the row goes with it, written or not. The one exception: a query
 * that reads the log inside a subtransaction (one that a later trigger of the
 * same statement opened) must find the rows of the enclosing ones too, so
 * they are written then, under it, and a copy of each is kept (EarlyRow)
 * until its own subtransaction owns the write: if the one that wrote them
 * aborts, they are pending again.
 *
 * Rows are written when the batch is full, before a query that reads the log
 * starts, when an executor run ends, around every utility statement, and
 * before commit. The writer is owned by the top transaction's resource owner,
 * so that it survives subtransactions; closed when an executor run or a
 * utility statement ends with nothing pending (so that DDL on the log later
 * in the transaction is not blocked) and before commit, forgotten on abort.
 */
#define LOG_BATCH_ROWS 1000
#define LOG_BATCH_BYTES (256 * 1024)

typedef struct LogWriter
{
	LocalTransactionId lxid;
	MemoryContext cxt;			/* everything below lives in it */
	MemoryContext flush_cxt;	/* reset after each batch */
	Relation	rel;			/* NULL when closed */
	ResultRelInfo *rri;
	EState	   *estate;
	BulkInsertState bistate;	/* keeps the log's last page pinned from one batch to the next */
	bool		busy;			/* writing: an index expression may run an executor */
	/* slots[0 .. npending - 1]: rows not yet written, in id order; then empty slots to reuse */
	TupleTableSlot **slots;
	SubTransactionId *subxact;	/* the subtransaction each pending row belongs to */
	CommandId  *cid;			/* and its command id */
	int			npending;
	int			nslots;
	Size		pending_bytes;
	TupleTableSlot **batch;		/* rows taken out to be written or dropped */
	CommandId  *batch_cid;
	int			size;			/* of the five arrays */
	List	   *early;			/* EarlyRows, in id order */
} LogWriter;

/*
 * A row of an enclosing subtransaction written early, under the current one
 * (see above), kept until the subtransaction it was written under commits
 * into the one it belongs to.
 */
typedef struct EarlyRow
{
	HeapTuple	tuple;			/* a copy, in writer.cxt */
	SubTransactionId owner;		/* the subtransaction the row belongs to */
	SubTransactionId written_in;	/* the one it was written under */
	CommandId	cid;
} EarlyRow;

static LogWriter writer;

static void AddPendingRow(HeapTuple tuple, SubTransactionId subxact, CommandId cid);

/*
 * Takes the pending log rows of subtransaction subxact (of every one when
 * InvalidSubTransactionId) out of the pending ones, in order, into
 * writer.batch (and their command ids into writer.batch_cid); returns how
 * many. Their slots are still full: the caller writes them or drops them,
 * then clears them.
 */
static int
TakePendingRows(SubTransactionId subxact)
{
	int			n = 0;
	int			kept = 0;
	int			i;

	writer.pending_bytes = 0;
	for (i = 0; i < writer.npending; i++)
	{
		if (subxact == InvalidSubTransactionId || writer.subxact[i] == subxact)
		{
			writer.batch[n] = writer.slots[i];
			writer.batch_cid[n++] = writer.cid[i];
			continue;
		}
		writer.slots[kept] = writer.slots[i];
		writer.subxact[kept] = writer.subxact[i];
		writer.cid[kept++] = writer.cid[i];
		writer.pending_bytes += ExecFetchSlotHeapTuple(writer.slots[i], false, NULL)->t_len;
	}
	/* the taken slots become free ones, reused once cleared */
	memcpy(&writer.slots[kept], writer.batch, sizeof(TupleTableSlot *) * n);
	writer.npending = kept;
	return n;
}

/*
 * Keeps the pending log rows with the subtransaction they belong to: those of
 * a committed subtransaction now belong to its parent, those of an aborted
 * one are dropped. The rows
 * written early under a committed subtransaction are now written under its
 * parent (and forgotten once that is the one they belong to); those written
 * early under an aborted one are gone from the log, and pending again.
 */
static void
LogWriterSubXactCallback(SubXactEvent event, SubTransactionId mySubid,
					 SubTransactionId parentSubid, void *arg)
{
	List	   *early;
	ListCell   *lc;
	int			n;
	int			i;

	if (event == SUBXACT_EVENT_COMMIT_SUB)
	{
		for (i = 0; i < writer.npending; i++)
			if (writer.subxact[i] == mySubid)
				writer.subxact[i] = parentSubid;
		foreach(lc, writer.early)
		{
			EarlyRow   *row = lfirst(lc);

			if (row->written_in != mySubid)
				continue;
			row->written_in = parentSubid;
			if (row->owner == parentSubid)
			{
				heap_freetuple(row->tuple);
				pfree(row);
				writer.early = foreach_delete_current(writer.early, lc);
			}
		}
	}
	else if (event == SUBXACT_EVENT_ABORT_SUB)
	{
		writer.busy = false;	/* a write that failed is over */
		if (writer.rel == NULL)
			return;
		n = TakePendingRows(mySubid);
		for (i = 0; i < n; i++)
			ExecClearTuple(writer.batch[i]);
		/*
		 * Appended after the rows still pending, which are none when this
		 * subtransaction wrote rows early: that took every row the enclosing
		 * ones had, and they form no more until it ends.
		 */
		early = writer.early;
		writer.early = NIL;
		foreach(lc, early)
		{
			EarlyRow   *row = lfirst(lc);

			if (row->written_in == mySubid)
			{
				AddPendingRow(row->tuple, row->owner, row->cid);
				pfree(row);
			}
			else
			{
				MemoryContext old = MemoryContextSwitchTo(writer.cxt);

				writer.early = lappend(writer.early, row);
				MemoryContextSwitchTo(old);
			}
		}
		list_free(early);
	}
}

static ExecutorStart_hook_type prev_ExecutorStart = NULL;
static ExecutorEnd_hook_type prev_ExecutorEnd = NULL;
static ProcessUtility_hook_type prev_ProcessUtility = NULL;

/*
 * Writes the pending log rows, those of enclosing subtransactions included,
 * before a query that reads the log starts (its scans must find them).
 */
static void
LogWriterExecutorStart(QueryDesc *queryDesc, int eflags)
{
	if (writer.npending > 0 && list_member_oid(queryDesc->plannedstmt->relationOids, RelationGetRelid(writer.rel)))
		FlushLogRows(true);
	if (prev_ExecutorStart)
		prev_ExecutorStart(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);
}

/* Writes the pending log rows and closes the log writer when an executor run ends. */
static void
LogWriterExecutorEnd(QueryDesc *queryDesc)
{
	if (prev_ExecutorEnd)
		prev_ExecutorEnd(queryDesc);
	else
		standard_ExecutorEnd(queryDesc);
	FlushLogRows(false);
	CloseLogWriter();
}

/*
 * Writes the pending log rows and closes the log writer before and after a
 * utility statement: before (those of enclosing subtransactions included),
 * for one that reads or alters the log; after, for
 * the rows it logged (COPY FROM, TRUNCATE, auditing events).
 */
static void
LogWriterProcessUtility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
					ProcessUtilityContext context, ParamListInfo params, QueryEnvironment *queryEnv,
					DestReceiver *dest, QueryCompletion *qc)
{
	FlushLogRows(true);
	CloseLogWriter();
	if (prev_ProcessUtility)
		prev_ProcessUtility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
	FlushLogRows(false);
	CloseLogWriter();
}

/* Opens the log writer for this transaction, on the log log_oid. */
static void
OpenLogWriter(Oid log_oid)
{
	ResourceOwner saved_owner = CurrentResourceOwner;
	MemoryContext old;

	writer.cxt = AllocSetContextCreate(TopTransactionContext, "mlops audit log writer", ALLOCSET_DEFAULT_SIZES);
	writer.flush_cxt = AllocSetContextCreate(writer.cxt, "mlops audit log batch", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(writer.cxt);
	CurrentResourceOwner = TopTransactionResourceOwner;
	PG_TRY();
	{
		Relation	rel = table_open(log_oid, RowExclusiveLock);

		/* from its last page on, whichever page this backend wrote last */
		RelationSetTargetBlock(rel, InvalidBlockNumber);

		writer.rri = makeNode(ResultRelInfo);
		InitResultRelInfo(writer.rri, rel, 1, NULL, 0);
		ExecOpenIndices(writer.rri, false);
		writer.estate = CreateExecutorState();
		/* the pinned page, without the ring of buffers of a bulk load (whose reuse makes the writer flush WAL) */
		writer.bistate = GetBulkInsertState();
		FreeAccessStrategy(writer.bistate->strategy);
		writer.bistate->strategy = NULL;
		writer.size = 64;
		writer.slots = palloc(sizeof(TupleTableSlot *) * writer.size);
		writer.subxact = palloc(sizeof(SubTransactionId) * writer.size);
		writer.cid = palloc(sizeof(CommandId) * writer.size);
		writer.batch = palloc(sizeof(TupleTableSlot *) * writer.size);
		writer.batch_cid = palloc(sizeof(CommandId) * writer.size);
		writer.early = NIL;
		writer.npending = writer.nslots = 0;
		writer.pending_bytes = 0;
		writer.lxid = MyProc->lxid;
		writer.rel = rel;		/* open only once everything is */
	}
	PG_FINALLY();
	{
		CurrentResourceOwner = saved_owner;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(old);
}

/*
 * Closes the log writer, unless it is closed, writing, or holds rows not
 * written yet or written early.
 */
void
CloseLogWriter(void)
{
	ResourceOwner saved_owner = CurrentResourceOwner;
	int			i;

	if (writer.rel == NULL || writer.busy || writer.npending > 0 || writer.early != NIL)
		return;
	CurrentResourceOwner = TopTransactionResourceOwner;
	for (i = 0; i < writer.nslots; i++)
		ExecDropSingleTupleTableSlot(writer.slots[i]);
	FreeBulkInsertState(writer.bistate);
	ExecCloseIndices(writer.rri);
	FreeExecutorState(writer.estate);
	table_close(writer.rel, NoLock);
	CurrentResourceOwner = saved_owner;
	MemoryContextDelete(writer.cxt);
	writer.rel = NULL;
}

/* Writes the pending log rows and closes the log writer before commit or prepare; forgets them on abort. */
static void
LogWriterXactCallback(XactEvent event, void *arg)
{
	if (writer.rel == NULL)
		return;
	if (event == XACT_EVENT_PRE_COMMIT || event == XACT_EVENT_PRE_PREPARE)
	{
		FlushLogRows(false);
		if (writer.npending > 0 || writer.early != NIL)
			elog(ERROR, "audit log rows of an ended subtransaction were not written");
		CloseLogWriter();
	}
	else if (event == XACT_EVENT_ABORT)
	{
		writer.rel = NULL;		/* released by the resource owner, freed with the transaction's memory */
		writer.busy = false;
		writer.npending = 0;
		writer.early = NIL;
	}
}

/*
 * Writes the pending log rows of the current subtransaction into
 * mlops.audit_log and its indexes, as the log's owner and in a restricted
 * security context (index expressions, if anyone adds some, run as the
 * owner, not as the writer). Those of enclosing subtransactions wait until it
 * ends (written now, they would go if it aborts), unless enclosing: then
 * they are written too, and kept as EarlyRows.
 */
void
FlushLogRows(bool enclosing)
{
	ResourceOwner saved_owner = CurrentResourceOwner;
	SubTransactionId current = GetCurrentSubTransactionId();
	MemoryContext old;
	Oid			saved_user;
	int			saved_context;
	int			n;
	int			start;
	int			i;

	if (writer.rel == NULL || writer.busy || writer.npending == 0)
		return;
	if (enclosing)
	{
		/* everything allocated before any row leaves the pending ones: none is lost on an error */
		List	   *early = NIL;
		List	   *all;

		old = MemoryContextSwitchTo(writer.cxt);
		for (i = 0; i < writer.npending; i++)
		{
			EarlyRow   *row;

			if (writer.subxact[i] == current)
				continue;
			row = palloc(sizeof(EarlyRow));
			row->tuple = heap_copytuple(ExecFetchSlotHeapTuple(writer.slots[i], false, NULL));
			row->owner = writer.subxact[i];
			row->written_in = current;
			row->cid = writer.cid[i];
			early = lappend(early, row);
		}
		all = list_concat_copy(writer.early, early);
		MemoryContextSwitchTo(old);
		list_free(writer.early);
		list_free(early);
		writer.early = all;
	}
	n = TakePendingRows(enclosing ? InvalidSubTransactionId : current);
	if (n == 0)
		return;
	GetUserIdAndSecContext(&saved_user, &saved_context);
	SetUserIdAndSecContext(writer.rel->rd_rel->relowner,
						   saved_context | SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
	writer.busy = true;
	old = MemoryContextSwitchTo(writer.flush_cxt);
	/* one multi-insert per run of rows formed under the same command id */
	for (start = 0; start < n; start = i)
	{
		for (i = start + 1; i < n && writer.batch_cid[i] == writer.batch_cid[start]; i++)
			;
		CurrentResourceOwner = TopTransactionResourceOwner;	/* bistate's pin outlives subtransactions */
		table_multi_insert(writer.rel, &writer.batch[start], i - start, writer.batch_cid[start],
						   HEAP_INSERT_SKIP_FSM, writer.bistate);
		CurrentResourceOwner = saved_owner;
	}
	for (i = 0; i < n; i++)
	{
		CHECK_FOR_INTERRUPTS();
		ExecInsertIndexTuples(writer.rri, writer.batch[i], writer.estate, false, false, NULL, NIL);
		ResetPerTupleExprContext(writer.estate);
		ExecClearTuple(writer.batch[i]);
	}
	MemoryContextSwitchTo(old);
	MemoryContextReset(writer.flush_cxt);
	writer.busy = false;
	SetUserIdAndSecContext(saved_user, saved_context);
}

/*
 * Adds a log row (allocated in writer.cxt, which the pending rows now own)
 * to the pending ones, after them, under subtransaction subxact and command
 * id cid.
 */
static void
AddPendingRow(HeapTuple tuple, SubTransactionId subxact, CommandId cid)
{
	MemoryContext old = MemoryContextSwitchTo(writer.cxt);

	if (writer.npending == writer.size)
	{
		writer.size *= 2;
		writer.slots = repalloc(writer.slots, sizeof(TupleTableSlot *) * writer.size);
		writer.subxact = repalloc(writer.subxact, sizeof(SubTransactionId) * writer.size);
		writer.cid = repalloc(writer.cid, sizeof(CommandId) * writer.size);
		writer.batch = repalloc(writer.batch, sizeof(TupleTableSlot *) * writer.size);
		writer.batch_cid = repalloc(writer.batch_cid, sizeof(CommandId) * writer.size);
	}
	if (writer.npending == writer.nslots)
	{
		ResourceOwner saved_owner = CurrentResourceOwner;

		CurrentResourceOwner = TopTransactionResourceOwner;	/* the slot pins the log's tuple descriptor */
		writer.slots[writer.nslots++] = MakeSingleTupleTableSlot(RelationGetDescr(writer.rel), &TTSOpsHeapTuple);
		CurrentResourceOwner = saved_owner;
	}
	MemoryContextSwitchTo(old);
	ExecStoreHeapTuple(tuple, writer.slots[writer.npending], true);
	writer.subxact[writer.npending] = subxact;
	writer.cid[writer.npending] = cid;
	writer.npending++;
	writer.pending_bytes += tuple->t_len;
}

/*
 * Forms a log row and adds it to the pending ones (written with the next
 * batch), under the current subtransaction and command id.
 */
void
AddLogRow(Oid log_oid, Datum *values, bool *nulls)
{
	MemoryContext old;
	HeapTuple	tuple;

	if (writer.rel == NULL || writer.lxid != MyProc->lxid)
		OpenLogWriter(log_oid);
	if (writer.busy)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("an index expression of mlops.audit_log changed an audited table"),
				 errdetail("The audit log cannot be written while it is being written.")));
	old = MemoryContextSwitchTo(writer.cxt);
	tuple = heap_form_tuple(RelationGetDescr(writer.rel), values, nulls);
	MemoryContextSwitchTo(old);
	AddPendingRow(tuple, GetCurrentSubTransactionId(), GetCurrentCommandId(true));
	if (writer.npending >= LOG_BATCH_ROWS || writer.pending_bytes >= LOG_BATCH_BYTES)
		FlushLogRows(false);
}

/*
 * The last log row of this transaction not written yet (NULL: none), whose id
 * and hash are the head of the chain when it is newer than the log's last row.
 */
TupleTableSlot *
LastPendingLogRow(void)
{
	return writer.npending > 0 ? writer.slots[writer.npending - 1] : NULL;
}

/*
 * Installs, once per backend, the (sub)transaction callbacks that keep the
 * pending log rows in step with (sub)transactions, and the executor and
 * utility hooks that write them in time.
 */
void
LogWriterInstall(void)
{
	static bool installed = false;

	if (installed)
		return;
	RegisterSubXactCallback(LogWriterSubXactCallback, NULL);
	RegisterXactCallback(LogWriterXactCallback, NULL);
	prev_ExecutorStart = ExecutorStart_hook;
	ExecutorStart_hook = LogWriterExecutorStart;
	prev_ExecutorEnd = ExecutorEnd_hook;
	ExecutorEnd_hook = LogWriterExecutorEnd;
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = LogWriterProcessUtility;
	installed = true;
}
