/*
 * audit.c — the tamper-evident audit log.
 *
 * mlops._audit_trigger(), a row-level AFTER trigger (and a TRUNCATE statement
 * trigger), turns each changed row into jsonb and appends one row to
 * mlops.audit_log. Every log row carries prev_hash (the hash of the row before
 * it) and hash = sha256 of its own canonical text, prev_hash included, so that
 * altering, inserting or removing a row breaks the chain (verify_audit()).
 *
 * Concurrency: the first audited write of a transaction locks
 * mlops.audit_chain (EXCLUSIVE, until the transaction ends) and reads the head
 * of the chain (the last log row, or the anchor left by archive_audit()) with
 * SnapshotSelf: every writer before us has committed or aborted, so ids are
 * consecutive and the chain order is the commit order. The head is then kept
 * in backend memory for the rest of the transaction (re-read after a
 * subtransaction aborts, whose log rows vanish with it).
 *
 * Log rows are written directly (table_multi_insert + ExecInsertIndexTuples
 * on every index of the log, as the log's owner), so that writers need no
 * privilege on the log and pay no executor start-up per row, in batches
 * (see LogWriter): a statement's rows are written together when its triggers
 * are done, and at the latest before anything reads the log.
 */
#include "postgres.h"

#include <openssl/evp.h>

#include "access/detoast.h"
#include "access/genam.h"
#include "access/heapam.h"
#include "access/hio.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "datatype/timestamp.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "tcop/utility.h"
#include "storage/proc.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/inet.h"
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/xid8.h"

#include "mlops/args.h"
#include "mlops/canonical_output.h"
#include "mlops/float_text.h"

#define AUDIT_HASH_LEN 32		/* sha256 */

/* Columns of mlops.audit_log, in table (and hash) order. */
typedef enum AuditColumn
{
	AUDIT_ID,
	AUDIT_AT,
	AUDIT_TXID,
	AUDIT_TABLE_OID,
	AUDIT_TABLE_NAME,
	AUDIT_OP,
	AUDIT_OLD_ROW,
	AUDIT_NEW_ROW,
	AUDIT_CHANGED_COLUMNS,
	AUDIT_SESSION_USER,
	AUDIT_CURRENT_USER,
	AUDIT_APPLICATION_NAME,
	AUDIT_CLIENT_ADDR,
	AUDIT_PREV_HASH,
	AUDIT_HASH,
	AUDIT_NCOLUMNS
} AuditColumn;

/* How a column's values become jsonb (the same values to_jsonb() gives). */
typedef enum JsonKind
{
	JSON_BOOL,
	JSON_INT,					/* int2, int4, int8 */
	JSON_NUMERIC,
	JSON_FLOAT,					/* float4, float8: their shortest exact text */
	JSON_TEXT,					/* text, varchar, bpchar */
	JSON_JSONB,
	JSON_DATETIME,				/* date, timestamp(tz): ISO 8601 strings, timestamptz in UTC */
	JSON_OTHER					/* anything else: to_jsonb() of the value */
} JsonKind;

/* What the trigger knows of one column of an audited table. */
typedef struct AuditAttr
{
	bool		skip;			/* dropped or ignored */
	JsonKind	kind;
	int16		typlen;
	bool		typbyval;
	Oid			basetype;
	JsonbValue	key;			/* the column name */
	char	   *key_text;		/* the name as a JSON string, then ": " */
	int			key_text_len;
	FmgrInfo	convert;		/* JSON_OTHER: to_jsonb */
	/* JSON_DATETIME: the last value seen and its text (rows often share one, e.g. now()) */
	bool		have_last;
	Datum		last;
	char		last_text[MAXDATELEN + 1];
} AuditAttr;

/*
 * The audited columns an UPDATE changed: which ones (one flag per column of
 * the table), their names as the text[] the log stores, and its text (for the
 * hash).
 */
typedef struct ChangedNames
{
	bool	   *changed;
	ArrayType  *array;			/* NULL: none computed yet */
	StringInfoData text;
} ChangedNames;

/* What the trigger knows of an audited table, kept in fn_extra per statement. */
typedef struct AuditTable
{
	Oid			trigger_oid;
	Oid			relid;
	TupleDesc	tupdesc;
	MemoryContext cxt;			/* where this lives: the statement's */
	text	   *name;			/* schema-qualified, quoted as needed */
	int			nkeys;			/* audited columns */
	int			output_settings;	/* the settings their text depends on (OUTPUT_* flags) */
	int		   *keys;			/* their indexes in attrs, in jsonb's order of keys */
	/* the changed columns of the last UPDATE logged: the rows of a statement mostly change the same ones */
	ChangedNames last_changed;
	bool	   *changed;		/* scratch: the columns the row at hand changed */
	Datum	   *old_values;		/* scratch: the row at hand, deformed */
	bool	   *old_nulls;
	Datum	   *new_values;
	bool	   *new_nulls;
	int			natts;
	AuditAttr	attrs[FLEXIBLE_ARRAY_MEMBER];
} AuditTable;

/*
 * A row as the log holds it: its audited columns as a jsonb object, and the
 * text of that object (what jsonb's output function gives), built together
 * so that hashing needs no second pass. The text of the value of pairs[k] is
 * text.data[start[k]] up to text.data[end[k]], so that an UPDATE's new row
 * can reuse the unchanged values of the old one.
 */
typedef struct RowImage
{
	Jsonb	   *jsonb;
	StringInfoData text;
	JsonbPair  *pairs;
	int		   *start;
	int		   *end;
} RowImage;

/* The head of the chain as this transaction knows it. */
typedef struct AuditChain
{
	LocalTransactionId lxid;	/* the transaction it is known for (InvalidLocalTransactionId: none) */
	Oid			log_oid;
	Oid			chain_oid;
	int64		last_id;
	uint8		last_hash[AUDIT_HASH_LEN];
} AuditChain;

static AuditChain chain;

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

/* True only while archive_audit() removes rows: the guard lets them go. */
static bool archiving = false;

static void InstallCallbacks(void);
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
 * one are dropped (and the head of the chain must be read again). The rows
 * written early under a committed subtransaction are now written under its
 * parent (and forgotten once that is the one they belong to); those written
 * early under an aborted one are gone from the log, and pending again.
 */
static void
AuditSubXactCallback(SubXactEvent event, SubTransactionId mySubid,
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
		chain.lxid = InvalidLocalTransactionId;
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

/*
 * Forgets the head of the chain when the log or its anchor table may have
 * changed, as when the extension is dropped and created again in this very
 * transaction (the head would name a log that is gone): the next log row
 * reads it again, as after a subtransaction's abort.
 */
static void
ChainForget(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == chain.log_oid || relid == chain.chain_oid)
		chain.lxid = InvalidLocalTransactionId;
}

/* Copies a stored hash (bytea) into out, refusing one of the wrong length. */
static void
CopyHash(Datum value, uint8 *out, const char *what)
{
	bytea	   *b = DatumGetByteaPP(value);

	if (VARSIZE_ANY_EXHDR(b) != AUDIT_HASH_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the audit chain's %s is not a sha256 hash", what),
				 errdetail("It is %d bytes long instead of %d.", (int) VARSIZE_ANY_EXHDR(b), AUDIT_HASH_LEN),
				 errhint("Run mlops.verify_audit() to find where the log was altered.")));
	memcpy(out, VARDATA_ANY(b), AUDIT_HASH_LEN);
}

/* Makes the log row held in slot the head of the chain. */
static void
ChainHeadFromLogRow(TupleTableSlot *slot)
{
	bool		isnull;

	chain.last_id = DatumGetInt64(slot_getattr(slot, AUDIT_ID + 1, &isnull));
	CopyHash(slot_getattr(slot, AUDIT_HASH + 1, &isnull), chain.last_hash, "last hash");
}

/* Raises the error for an audit_chain without its one row. */
static void
pg_attribute_noreturn()
MissingAnchor(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("the audit chain has no anchor"),
			 errdetail("mlops.audit_chain must hold exactly one row.")));
}

/*
 * Takes the chain lock for this transaction (once) and reads the head of the
 * chain: the last log row, or the anchor when the log is empty.
 */
static void
AuditChainLock(void)
{
	Oid			nsp;
	Relation	logrel;
	Relation	index;
	TupleTableSlot *slot;
	IndexScanDesc scan;
	bool		isnull;

	if (chain.lxid == MyProc->lxid)
		return;
	InstallCallbacks();
	nsp = get_namespace_oid("mlops", false);
	chain.log_oid = get_relname_relid("audit_log", nsp);
	chain.chain_oid = get_relname_relid("audit_chain", nsp);
	if (!OidIsValid(chain.log_oid) || !OidIsValid(chain.chain_oid))
		elog(ERROR, "mlops.audit_log or mlops.audit_chain is missing");

	/* Held until the transaction ends: audited transactions commit one by one. */
	LockRelationOid(chain.chain_oid, ExclusiveLock);

	logrel = table_open(chain.log_oid, AccessShareLock);
	if (RelationGetDescr(logrel)->natts != AUDIT_NCOLUMNS)
		elog(ERROR, "mlops.audit_log has %d columns instead of %d", RelationGetDescr(logrel)->natts, AUDIT_NCOLUMNS);
	index = index_open(RelationGetPrimaryKeyIndex(logrel), AccessShareLock);
	slot = table_slot_create(logrel, NULL);
	scan = index_beginscan(logrel, index, SnapshotSelf, 0, 0);
	index_rescan(scan, NULL, 0, NULL, 0);
	if (index_getnext_slot(scan, BackwardScanDirection, slot))
		ChainHeadFromLogRow(slot);
	else
	{
		Relation	chainrel = table_open(chain.chain_oid, AccessShareLock);
		TupleTableSlot *cslot = table_slot_create(chainrel, NULL);
		TableScanDesc cscan = table_beginscan(chainrel, SnapshotSelf, 0, NULL);

		if (!table_scan_getnextslot(cscan, ForwardScanDirection, cslot))
			MissingAnchor();
		chain.last_id = DatumGetInt64(slot_getattr(cslot, 2, &isnull));
		CopyHash(slot_getattr(cslot, 3, &isnull), chain.last_hash, "anchor");
		table_endscan(cscan);
		ExecDropSingleTupleTableSlot(cslot);
		table_close(chainrel, AccessShareLock);
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	index_close(index, AccessShareLock);
	table_close(logrel, AccessShareLock);
	/* this transaction's rows not written yet, when the last of them is newer */
	if (writer.npending > 0)
	{
		slot = writer.slots[writer.npending - 1];
		if (DatumGetInt64(slot_getattr(slot, AUDIT_ID + 1, &isnull)) > chain.last_id)
			ChainHeadFromLogRow(slot);
	}
	chain.lxid = MyProc->lxid;
}

/* Appends one non-NULL field of the canonical text: "<length in bytes>:<text>". */
static void
AppendField(StringInfo buf, const char *text, int len)
{
	char		prefix[16];
	int			n = pg_ultoa_n((uint32) len, prefix);

	prefix[n++] = ':';
	appendBinaryStringInfo(buf, prefix, n);
	appendBinaryStringInfo(buf, text, len);
}

/* Appends the lower-case hex of a bytea as a field. */
static void
AppendHexField(StringInfo buf, Datum value)
{
	bytea	   *b = DatumGetByteaPP(value);
	int			len = VARSIZE_ANY_EXHDR(b);
	char	   *hex = palloc(len * 2 + 1);

	hex[hex_encode(VARDATA_ANY(b), len, hex)] = '\0';
	AppendField(buf, hex, len * 2);
}

/*
 * The sha256 of data. One OpenSSL digest context is kept for the backend's
 * life: setting one up for each row (as pg_cryptohash does) costs more than
 * hashing the row. OpenSSL is the server's own (PostgreSQL links it).
 */
static void
Sha256(const char *data, size_t len, uint8 *hash)
{
	static EVP_MD *md = NULL;
	static EVP_MD_CTX *ctx = NULL;
	unsigned int hash_len;

	if (md == NULL)
		md = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (ctx == NULL)
		ctx = EVP_MD_CTX_new();
	if (md == NULL || ctx == NULL ||
		EVP_DigestInit_ex(ctx, md, NULL) != 1 ||
		EVP_DigestUpdate(ctx, data, len) != 1 ||
		EVP_DigestFinal_ex(ctx, hash, &hash_len) != 1 || hash_len != AUDIT_HASH_LEN)
		elog(ERROR, "could not compute a sha256 hash with OpenSSL");
}

/*
 * The hash of a log row: sha256 of the concatenated fields of every column but
 * hash, in table order, each as "<length in bytes>:<text>" or "~" when NULL.
 * The text of a column is its PostgreSQL text output, except: at is the
 * integer number of microseconds since 1970-01-01 00:00 UTC, and prev_hash is
 * lower-case hex (no "\x"), so that no setting (DateStyle, TimeZone,
 * bytea_output) changes it. known (NULL, or one entry per column) holds the
 * text of the columns whose text the caller has already (a row's jsonb, the
 * changed columns, the client's address): those are not printed again.
 */
static void
AuditRowHash(const Datum *values, const bool *nulls, const StringInfoData *const *known, uint8 *hash)
{
	StringInfoData buf;
	char		num[32];
	int			col;

	initStringInfo(&buf);
	for (col = 0; col < AUDIT_HASH; col++)
	{
		Datum		v = values[col];
		char	   *s;

		if (nulls[col])
		{
			appendStringInfoChar(&buf, '~');
			continue;
		}
		if (known != NULL && known[col] != NULL)
		{
			AppendField(&buf, known[col]->data, known[col]->len);
			continue;
		}
		switch ((AuditColumn) col)
		{
			case AUDIT_ID:
				AppendField(&buf, num, pg_lltoa(DatumGetInt64(v), num));
				break;
			case AUDIT_AT:
				AppendField(&buf, num,
							pg_lltoa(DatumGetTimestampTz(v) + (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY, num));
				break;
			case AUDIT_TXID:
				AppendField(&buf, num, pg_ulltoa_n(U64FromFullTransactionId(DatumGetFullTransactionId(v)), num));
				break;
			case AUDIT_TABLE_OID:
				AppendField(&buf, num, pg_ultoa_n(DatumGetObjectId(v), num));
				break;
			case AUDIT_TABLE_NAME:
			case AUDIT_OP:
			case AUDIT_SESSION_USER:
			case AUDIT_CURRENT_USER:
			case AUDIT_APPLICATION_NAME:
				{
					text	   *t = DatumGetTextPP(v);

					AppendField(&buf, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
					break;
				}
			case AUDIT_OLD_ROW:
			case AUDIT_NEW_ROW:
				{
					Jsonb	   *j = DatumGetJsonbP(v);

					s = JsonbToCString(NULL, &j->root, VARSIZE(j));
					AppendField(&buf, s, strlen(s));
					break;
				}
			case AUDIT_CHANGED_COLUMNS:
				s = OidOutputFunctionCall(F_ARRAY_OUT, v);
				AppendField(&buf, s, strlen(s));
				break;
			case AUDIT_CLIENT_ADDR:
				s = DatumGetCString(DirectFunctionCall1(inet_out, v));
				AppendField(&buf, s, strlen(s));
				break;
			case AUDIT_PREV_HASH:
				AppendHexField(&buf, v);
				break;
			default:
				elog(ERROR, "unexpected audit column %d", col);
		}
	}
	Sha256(buf.data, buf.len, hash);
	pfree(buf.data);
}

/*
 * The client's address (NULL for a Unix socket) and its text (for the hash),
 * computed once per backend.
 */
static Datum
ClientAddr(bool *isnull, const StringInfoData **text)
{
	static bool known = false;
	static bool addr_null;
	static Datum addr;
	static StringInfoData addr_text;

	if (!known)
	{
		LOCAL_FCINFO(fcinfo, 0);
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		InitFunctionCallInfoData(*fcinfo, NULL, 0, InvalidOid, NULL, NULL);
		addr = inet_client_addr(fcinfo);
		addr_null = fcinfo->isnull;
		initStringInfo(&addr_text);
		if (!addr_null)
			appendStringInfoString(&addr_text, DatumGetCString(DirectFunctionCall1(inet_out, addr)));
		MemoryContextSwitchTo(old);
		known = true;
	}
	*isnull = addr_null;
	*text = addr_null ? NULL : &addr_text;
	return addr;
}

/*
 * The schema-qualified name of a table as the log names it, quoted only where
 * needed whatever quote_all_identifiers says, so that a table is logged under
 * one name by every session.
 */
static char *
AuditTableName(Oid relid, const char *name)
{
	char	   *schema = get_namespace_name(get_rel_namespace(relid));
	bool		quote_all = quote_all_identifiers;
	char	   *result;

	quote_all_identifiers = false;
	PG_TRY();
	{
		result = quote_qualified_identifier(schema, name);
	}
	PG_FINALLY();
	{
		quote_all_identifiers = quote_all;
	}
	PG_END_TRY();
	return result;
}

/* A bytea Datum holding a hash. */
static Datum
HashDatum(const uint8 *hash)
{
	bytea	   *b = palloc(VARHDRSZ + AUDIT_HASH_LEN);

	SET_VARSIZE(b, VARHDRSZ + AUDIT_HASH_LEN);
	memcpy(VARDATA(b), hash, AUDIT_HASH_LEN);
	return PointerGetDatum(b);
}

/*
 * The names of the two roles a log row names (session and current user), as
 * text Datums kept in TopMemoryContext until a role changes (RoleNamesForget):
 * looking them up costs a syscache lookup per row.
 */
static Oid	role_oid[2];
static Datum role_name[2];

/* Forgets the remembered role names: a role was renamed (or dropped), in this session or another. */
static void
RoleNamesForget(Datum arg, int cacheid, uint32 hashvalue)
{
	role_oid[0] = role_oid[1] = InvalidOid;
}

/* The name of a role as a text Datum (which: 0 for the session user, 1 for the current user). */
static Datum
RoleNameDatum(Oid role, int which)
{
	if (role_oid[which] != role)
	{
		char	   *name = GetUserNameFromId(role, false);
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
		Datum		fresh = PointerGetDatum(cstring_to_text(name));

		MemoryContextSwitchTo(old);
		/* the old name is freed only once the new one is in (an error above keeps it) */
		if (role_name[which] != (Datum) 0)
			pfree(DatumGetPointer(role_name[which]));
		role_name[which] = fresh;
		role_oid[which] = role;
	}
	return role_name[which];
}


static ExecutorStart_hook_type prev_ExecutorStart = NULL;
static ExecutorEnd_hook_type prev_ExecutorEnd = NULL;
static ProcessUtility_hook_type prev_ProcessUtility = NULL;

static void FlushLogRows(bool enclosing);
static void CloseLogWriter(void);

/*
 * Writes the pending log rows, those of enclosing subtransactions included,
 * before a query that reads the log starts (its scans must find them).
 */
static void
AuditExecutorStart(QueryDesc *queryDesc, int eflags)
{
	if (writer.npending > 0 && list_member_oid(queryDesc->plannedstmt->relationOids, chain.log_oid))
		FlushLogRows(true);
	if (prev_ExecutorStart)
		prev_ExecutorStart(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);
}

/* Writes the pending log rows and closes the log writer when an executor run ends. */
static void
AuditExecutorEnd(QueryDesc *queryDesc)
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
AuditProcessUtility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
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

/* Opens the log writer for this transaction. */
static void
OpenLogWriter(void)
{
	ResourceOwner saved_owner = CurrentResourceOwner;
	MemoryContext old;

	writer.cxt = AllocSetContextCreate(TopTransactionContext, "mlops audit log writer", ALLOCSET_DEFAULT_SIZES);
	writer.flush_cxt = AllocSetContextCreate(writer.cxt, "mlops audit log batch", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(writer.cxt);
	CurrentResourceOwner = TopTransactionResourceOwner;
	PG_TRY();
	{
		Relation	rel = table_open(chain.log_oid, RowExclusiveLock);

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
static void
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
AuditXactCallback(XactEvent event, void *arg)
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
 * Installs, once per backend (when it first takes the chain lock), the
 * (sub)transaction callbacks that keep the chain's head and the pending log
 * rows in step with (sub)transactions, the executor and utility hooks that
 * write the pending rows in time, the role cache callback that keeps the
 * role names of the log rows up to date, and the relation cache callback that
 * forgets the head of a log that changed.
 */
static void
InstallCallbacks(void)
{
	static bool installed = false;

	if (installed)
		return;
	RegisterSubXactCallback(AuditSubXactCallback, NULL);
	RegisterXactCallback(AuditXactCallback, NULL);
	CacheRegisterSyscacheCallback(AUTHOID, RoleNamesForget, (Datum) 0);
	CacheRegisterRelcacheCallback(ChainForget, (Datum) 0);
	prev_ExecutorStart = ExecutorStart_hook;
	ExecutorStart_hook = AuditExecutorStart;
	prev_ExecutorEnd = ExecutorEnd_hook;
	ExecutorEnd_hook = AuditExecutorEnd;
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = AuditProcessUtility;
	installed = true;
}

/*
 * Writes the pending log rows of the current subtransaction into
 * mlops.audit_log and its indexes, as the log's owner and in a restricted
 * security context (index expressions, if anyone adds some, run as the
 * owner, not as the writer). Those of enclosing subtransactions wait until it
 * ends (written now, they would go if it aborts), unless enclosing: then
 * they are written too, and kept as EarlyRows.
 */
static void
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
		table_multi_insert(writer.rel, &writer.batch[start], i - start, writer.batch_cid[start], 0, writer.bistate);
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
static void
AddLogRow(Datum *values, bool *nulls)
{
	MemoryContext old;
	HeapTuple	tuple;

	if (writer.rel == NULL || writer.lxid != MyProc->lxid)
		OpenLogWriter();
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
 * Appends one row to the log: the change op of table relid (old_row, new_row
 * and changed may be NULL), chained to the head, which it becomes. A row
 * trigger keeps the log open for the next row of its statement.
 */
static void
AuditAppend(Oid relid, text *relname, const char *op, RowImage *old_row, RowImage *new_row,
			const ChangedNames *changed, bool keep_open)
{
	Datum		values[AUDIT_NCOLUMNS];
	bool		nulls[AUDIT_NCOLUMNS];
	const StringInfoData *known[AUDIT_NCOLUMNS] = {NULL};
	uint8		hash[AUDIT_HASH_LEN];

	AuditChainLock();
	memset(nulls, false, sizeof(nulls));
	values[AUDIT_ID] = Int64GetDatum(chain.last_id + 1);
	values[AUDIT_AT] = TimestampTzGetDatum(GetCurrentTimestamp());
	values[AUDIT_TXID] = FullTransactionIdGetDatum(GetTopFullTransactionId());
	values[AUDIT_TABLE_OID] = ObjectIdGetDatum(relid);
	values[AUDIT_TABLE_NAME] = PointerGetDatum(relname);
	values[AUDIT_OP] = CStringGetTextDatum(op);
	values[AUDIT_OLD_ROW] = old_row ? PointerGetDatum(old_row->jsonb) : (Datum) 0;
	nulls[AUDIT_OLD_ROW] = old_row == NULL;
	values[AUDIT_NEW_ROW] = new_row ? PointerGetDatum(new_row->jsonb) : (Datum) 0;
	nulls[AUDIT_NEW_ROW] = new_row == NULL;
	values[AUDIT_CHANGED_COLUMNS] = changed ? PointerGetDatum(changed->array) : (Datum) 0;
	nulls[AUDIT_CHANGED_COLUMNS] = changed == NULL;
	values[AUDIT_SESSION_USER] = RoleNameDatum(GetSessionUserId(), 0);
	values[AUDIT_CURRENT_USER] = RoleNameDatum(GetUserId(), 1);
	nulls[AUDIT_APPLICATION_NAME] = application_name == NULL || application_name[0] == '\0';
	values[AUDIT_APPLICATION_NAME] = nulls[AUDIT_APPLICATION_NAME] ? (Datum) 0 : CStringGetTextDatum(application_name);
	values[AUDIT_CLIENT_ADDR] = ClientAddr(&nulls[AUDIT_CLIENT_ADDR], &known[AUDIT_CLIENT_ADDR]);
	values[AUDIT_PREV_HASH] = HashDatum(chain.last_hash);
	known[AUDIT_OLD_ROW] = old_row ? &old_row->text : NULL;
	known[AUDIT_NEW_ROW] = new_row ? &new_row->text : NULL;
	known[AUDIT_CHANGED_COLUMNS] = changed ? &changed->text : NULL;
	AuditRowHash(values, nulls, known, hash);
	values[AUDIT_HASH] = HashDatum(hash);

	AddLogRow(values, nulls);
	if (!keep_open)
	{
		FlushLogRows(false);
		CloseLogWriter();
	}
	chain.last_id++;
	memcpy(chain.last_hash, hash, AUDIT_HASH_LEN);
}

/*
 * Appends an event about a table (ENABLE, DISABLE, DROP, ARCHIVE, TRUNCATE) to
 * the log, with an optional jsonb detail (as new_row); relname NULL: looked up.
 */
static void
AuditAppendEvent(Oid relid, const char *relname, const char *op, Jsonb *detail)
{
	RowImage	row;

	if (relname == NULL)
	{
		char	   *name = get_rel_name(relid);

		if (name == NULL)
			ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE), errmsg("relation with OID %u does not exist", relid)));
		relname = AuditTableName(relid, name);
	}
	if (detail != NULL)
	{
		row.jsonb = detail;
		initStringInfo(&row.text);
		JsonbToCString(&row.text, &detail->root, VARSIZE(detail));
	}
	AuditAppend(relid, cstring_to_text(relname), op, NULL, detail ? &row : NULL, NULL, false);
}

/* True when name is one of the trigger's arguments (the ignored columns). */
static bool
IsIgnored(Trigger *trigger, const char *name)
{
	int			i;

	for (i = 0; i < trigger->tgnargs; i++)
		if (strcmp(trigger->tgargs[i], name) == 0)
			return true;
	return false;
}

/* jsonb's order of object keys (shorter first, then byte order), for qsort_arg over indexes in attrs. */
static int
KeyOrder(const void *x, const void *y, void *arg)
{
	const AuditAttr *attrs = (const AuditAttr *) arg;
	const JsonbValue *a = &attrs[*(const int *) x].key;
	const JsonbValue *b = &attrs[*(const int *) y].key;

	if (a->val.string.len != b->val.string.len)
		return a->val.string.len > b->val.string.len ? 1 : -1;
	return memcmp(a->val.string.val, b->val.string.val, a->val.string.len);
}

/*
 * What the trigger needs to know of the table it fires on, built once per
 * statement (per trigger and table) in fn_extra.
 */
static AuditTable *
AuditTableGet(FmgrInfo *flinfo, TriggerData *td)
{
	AuditTable *t = (AuditTable *) flinfo->fn_extra;
	Relation	rel = td->tg_relation;
	TupleDesc	desc = RelationGetDescr(rel);
	MemoryContext old;
	int			i;

	if (t != NULL && t->trigger_oid == td->tg_trigger->tgoid &&
		t->relid == RelationGetRelid(rel) && t->tupdesc == desc)
		return t;

	old = MemoryContextSwitchTo(flinfo->fn_mcxt);
	t = palloc0(offsetof(AuditTable, attrs) + sizeof(AuditAttr) * desc->natts);
	t->trigger_oid = td->tg_trigger->tgoid;
	t->relid = RelationGetRelid(rel);
	t->tupdesc = desc;
	t->cxt = flinfo->fn_mcxt;
	t->name = cstring_to_text(AuditTableName(RelationGetRelid(rel), RelationGetRelationName(rel)));
	t->natts = desc->natts;
	t->keys = palloc(sizeof(int) * desc->natts);
	t->last_changed.changed = palloc(sizeof(bool) * desc->natts);
	t->changed = palloc(sizeof(bool) * desc->natts);
	t->old_values = palloc(sizeof(Datum) * desc->natts);
	t->old_nulls = palloc(sizeof(bool) * desc->natts);
	t->new_values = palloc(sizeof(Datum) * desc->natts);
	t->new_nulls = palloc(sizeof(bool) * desc->natts);
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		AuditAttr  *a = &t->attrs[i];
		StringInfoData key_text;

		a->skip = att->attisdropped || IsIgnored(td->tg_trigger, NameStr(att->attname));
		if (a->skip)
			continue;
		a->key.type = jbvString;
		a->key.val.string.val = pstrdup(NameStr(att->attname));
		a->key.val.string.len = strlen(a->key.val.string.val);
		initStringInfo(&key_text);
		escape_json(&key_text, a->key.val.string.val);
		appendStringInfoString(&key_text, ": ");
		a->key_text = key_text.data;
		a->key_text_len = key_text.len;
		t->keys[t->nkeys++] = i;
		a->typlen = att->attlen;
		a->typbyval = att->attbyval;
		a->basetype = getBaseType(att->atttypid);
		switch (a->basetype)
		{
			case BOOLOID:
				a->kind = JSON_BOOL;
				break;
			case INT2OID:
			case INT4OID:
			case INT8OID:
				a->kind = JSON_INT;
				break;
			case NUMERICOID:
				a->kind = JSON_NUMERIC;
				break;
			case FLOAT4OID:
			case FLOAT8OID:
				a->kind = JSON_FLOAT;
				break;
			case TEXTOID:
			case VARCHAROID:
			case BPCHAROID:
				a->kind = JSON_TEXT;
				break;
			case JSONBOID:
				a->kind = JSON_JSONB;
				break;
			case DATEOID:
			case TIMESTAMPOID:
			case TIMESTAMPTZOID:
				a->kind = JSON_DATETIME;
				break;
			default:
				/* to_jsonb() finds the type of its argument in fn_expr */
				a->kind = JSON_OTHER;
				t->output_settings |= TypeOutputSettings(att->atttypid);
				fmgr_info_cxt(F_TO_JSONB, &a->convert, flinfo->fn_mcxt);
				a->convert.fn_expr = (Node *) makeFuncExpr(F_TO_JSONB, JSONBOID,
														   list_make1(makeNullConst(att->atttypid, att->atttypmod,
																					att->attcollation)),
														   InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL);
				break;
		}
	}
	qsort_arg(t->keys, t->nkeys, sizeof(int), KeyOrder, t->attrs);
	MemoryContextSwitchTo(old);
	flinfo->fn_extra = t;
	return t;
}

/* Sets v to a jsonb value: the scalar itself, or the container (jbvBinary). */
static void
JsonbToValue(Jsonb *j, JsonbValue *v)
{
	if (JB_ROOT_IS_SCALAR(j))
		JsonbExtractScalar(&j->root, v);
	else
		JsonbToJsonbValue(j, v);
}

/*
 * Replaces a container (jbvBinary) by the tree of its values: a jsonb object
 * built directly (JsonbValueToJsonb) nests trees, not containers.
 */
static void
ExpandContainer(JsonbValue *v)
{
	JsonbParseState *state = NULL;
	JsonbIterator *it = JsonbIteratorInit(v->val.binary.data);
	JsonbIteratorToken token;
	JsonbValue	item;
	JsonbValue *tree = NULL;

	while ((token = JsonbIteratorNext(&it, &item, false)) != WJB_DONE)
		tree = pushJsonbValue(&state, token, token < WJB_BEGIN_ARRAY ? &item : NULL);
	*v = *tree;
}

/* Sets v to a string or a number parsed from the text of a number. */
static void
NumberTextToValue(char *s, JsonbValue *v)
{
	/* NaN and infinities are no JSON numbers: to_jsonb() makes them strings */
	if (strpbrk(s, "Nn") != NULL)
	{
		v->type = jbvString;
		v->val.string.val = s;
		v->val.string.len = strlen(s);
	}
	else
	{
		v->type = jbvNumeric;
		v->val.numeric = DatumGetNumeric(DirectFunctionCall3(numeric_in, CStringGetDatum(s),
															 ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)));
	}
}

/*
 * Appends a string as a JSON string, as escape_json() does, but copying a
 * string that needs no escape (most do not) in one go.
 */
static void
AppendJsonString(StringInfo out, const char *s, int len)
{
	int			i;

	for (i = 0; i < len; i++)
		if ((unsigned char) s[i] < ' ' || s[i] == '"' || s[i] == '\\')
		{
			escape_json(out, pnstrdup(s, len));
			return;
		}
	enlargeStringInfo(out, len + 2);
	out->data[out->len++] = '"';
	memcpy(out->data + out->len, s, len);
	out->len += len;
	out->data[out->len++] = '"';
	out->data[out->len] = '\0';
}

/* Appends the text jsonb's output function gives for a value. */
static void
AppendValueText(StringInfo out, JsonbValue *v)
{
	switch (v->type)
	{
		case jbvNull:
			appendBinaryStringInfo(out, "null", 4);
			break;
		case jbvBool:
			appendStringInfoString(out, v->val.boolean ? "true" : "false");
			break;
		case jbvNumeric:
			appendStringInfoString(out, DatumGetCString(DirectFunctionCall1(numeric_out,
																			NumericGetDatum(v->val.numeric))));
			break;
		case jbvString:
			AppendJsonString(out, v->val.string.val, v->val.string.len);
			break;
		case jbvBinary:
			JsonbToCString(out, v->val.binary.data, v->val.binary.len);
			break;
		default:
			elog(ERROR, "unexpected jsonb value type %d", (int) v->type);
	}
}

/*
 * Sets v to the jsonb form of a non-NULL column value (the value to_jsonb()
 * gives) and appends its text to out.
 */
static void
RenderValue(AuditAttr *a, Datum value, JsonbValue *v, StringInfo out)
{
	switch (a->kind)
	{
		case JSON_BOOL:
			v->type = jbvBool;
			v->val.boolean = DatumGetBool(value);
			break;
		case JSON_INT:
			{
				int64		i = a->typlen == 2 ? DatumGetInt16(value) :
					a->typlen == 4 ? DatumGetInt32(value) : DatumGetInt64(value);
				char		num[MAXINT8LEN + 1];

				v->type = jbvNumeric;
				v->val.numeric = int64_to_numeric(i);
				appendBinaryStringInfo(out, num, pg_lltoa(i, num));	/* numeric_out's text */
				return;
			}
		case JSON_NUMERIC:
			{
				Numeric		n = DatumGetNumeric(value);

				if (numeric_is_nan(n) || numeric_is_inf(n))
					NumberTextToValue(DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(n))), v);
				else
				{
					v->type = jbvNumeric;
					v->val.numeric = n;
				}
				break;
			}
		case JSON_FLOAT:
			/* exact whatever the writer's extra_float_digits */
			NumberTextToValue(a->basetype == FLOAT4OID ? Float4ExactText(DatumGetFloat4(value))
							  : Float8ExactText(DatumGetFloat8(value)), v);
			break;
		case JSON_TEXT:
			{
				text	   *t = DatumGetTextPP(value);

				v->type = jbvString;
				v->val.string.val = VARDATA_ANY(t);
				v->val.string.len = VARSIZE_ANY_EXHDR(t);
				break;
			}
		case JSON_JSONB:
			JsonbToValue(DatumGetJsonbP(value), v);
			break;
		case JSON_DATETIME:
			if (!a->have_last || a->last != value)
			{
				/* a timestamptz in UTC, whatever the writer's TimeZone */
				static const int utc = 0;

				JsonEncodeDateTime(a->last_text, value, a->basetype, &utc);
				a->last = value;
				a->have_last = true;
			}
			v->type = jbvString;
			v->val.string.val = a->last_text;
			v->val.string.len = strlen(a->last_text);
			break;
		case JSON_OTHER:
			JsonbToValue(DatumGetJsonbP(FunctionCall1(&a->convert, value)), v);
			break;
	}
	AppendValueText(out, v);
	if (v->type == jbvBinary)
		ExpandContainer(v);
}

/* The column RenderRow is at (-1: none), for the context of an error (RenderRowContext). */
typedef struct RenderPosition
{
	AuditTable *table;
	int			attr;
} RenderPosition;

/*
 * Says, in the context of an error raised while a row is turned into jsonb
 * (a json value that jsonb cannot hold, a row too large), that the change
 * failed because it could not be logged, and which column could not be.
 */
static void
RenderRowContext(void *arg)
{
	RenderPosition *pos = (RenderPosition *) arg;

	if (pos->attr < 0)
		errcontext("logging a row of table %s to mlops.audit_log", text_to_cstring(pos->table->name));
	else
		errcontext("logging column %s of table %s to mlops.audit_log",
				   quote_identifier(pos->table->attrs[pos->attr].key.val.string.val),
				   text_to_cstring(pos->table->name));
}

/*
 * Renders the audited columns of a deformed row into row. For an UPDATE's new
 * row, like is the old row and changed says which columns changed: the others
 * are taken from like as they are.
 */
static void
RenderRow(AuditTable *t, Datum *values, bool *nulls, const RowImage *like, const bool *changed, RowImage *row)
{
	JsonbValue	object;
	RenderPosition pos = {t, -1};
	ErrorContextCallback context = {error_context_stack, RenderRowContext, &pos};
	int			k;

	error_context_stack = &context;

	row->pairs = palloc(sizeof(JsonbPair) * Max(t->nkeys, 1));
	row->start = palloc(sizeof(int) * Max(t->nkeys, 1));
	row->end = palloc(sizeof(int) * Max(t->nkeys, 1));
	initStringInfo(&row->text);
	appendStringInfoChar(&row->text, '{');
	for (k = 0; k < t->nkeys; k++)
	{
		int			i = t->keys[k];
		AuditAttr  *a = &t->attrs[i];
		JsonbPair  *pair = &row->pairs[k];

		if (k > 0)
			appendBinaryStringInfo(&row->text, ", ", 2);
		appendBinaryStringInfo(&row->text, a->key_text, a->key_text_len);
		pair->key = a->key;
		pair->order = k;
		row->start[k] = row->text.len;
		if (like != NULL && !changed[i])
		{
			pair->value = like->pairs[k].value;
			appendBinaryStringInfo(&row->text, like->text.data + like->start[k], like->end[k] - like->start[k]);
		}
		else if (nulls[i])
		{
			pair->value.type = jbvNull;
			AppendValueText(&row->text, &pair->value);
		}
		else
		{
			pos.attr = i;
			RenderValue(a, values[i], &pair->value, &row->text);
			pos.attr = -1;
		}
		row->end[k] = row->text.len;
	}
	appendStringInfoChar(&row->text, '}');
	/* the pairs are in jsonb's key order already: no pushJsonbValue, no sort */
	object.type = jbvObject;
	object.val.object.nPairs = t->nkeys;
	object.val.object.pairs = row->pairs;
	row->jsonb = JsonbValueToJsonb(&object);
	error_context_stack = context.previous;
}

/* True when two non-NULL values of a column are the same (same bytes). */
static bool
SameValue(AuditAttr *a, Datum x, Datum y)
{
	/* an unchanged TOASTed value keeps its pointer: no need to fetch it */
	if (a->typlen == -1 &&
		VARATT_IS_EXTERNAL_ONDISK(DatumGetPointer(x)) && VARATT_IS_EXTERNAL_ONDISK(DatumGetPointer(y)))
	{
		struct varatt_external px,
					py;

		VARATT_EXTERNAL_GET_POINTER(px, DatumGetPointer(x));
		VARATT_EXTERNAL_GET_POINTER(py, DatumGetPointer(y));
		if (px.va_valueid == py.va_valueid && px.va_toastrelid == py.va_toastrelid)
			return true;
	}
	return datum_image_eq(x, y, a->typbyval, a->typlen);
}

/*
 * The audited columns an UPDATE changed, or NULL when none. Kept in t until a
 * row changes other columns, so that the rows of a statement that all change
 * the same columns share one array and its text.
 */
static const ChangedNames *
ChangedColumns(AuditTable *t, Datum *old_values, bool *old_nulls, Datum *new_values, bool *new_nulls)
{
	ChangedNames *last = &t->last_changed;
	Datum	   *names;
	ArrayType  *array;
	char	   *text;
	MemoryContext old;
	int			n = 0;
	int			i;

	for (i = 0; i < t->natts; i++)
	{
		AuditAttr  *a = &t->attrs[i];

		t->changed[i] = !a->skip &&
			(old_nulls[i] != new_nulls[i] || (!old_nulls[i] && !SameValue(a, old_values[i], new_values[i])));
		n += t->changed[i];
	}
	if (n == 0)
		return NULL;
	if (last->array != NULL && memcmp(last->changed, t->changed, sizeof(bool) * t->natts) == 0)
		return last;

	names = palloc(sizeof(Datum) * n);
	n = 0;
	for (i = 0; i < t->natts; i++)
		if (t->changed[i])
			names[n++] = PointerGetDatum(cstring_to_text_with_len(t->attrs[i].key.val.string.val,
																  t->attrs[i].key.val.string.len));
	array = construct_array(names, n, TEXTOID, -1, false, TYPALIGN_INT);
	text = OidOutputFunctionCall(F_ARRAY_OUT, PointerGetDatum(array));
	old = MemoryContextSwitchTo(t->cxt);
	if (last->array != NULL)
	{
		pfree(last->array);
		pfree(last->text.data);
	}
	memcpy(last->changed, t->changed, sizeof(bool) * t->natts);
	last->array = palloc(VARSIZE(array));
	memcpy(last->array, array, VARSIZE(array));
	initStringInfo(&last->text);
	appendStringInfoString(&last->text, text);
	MemoryContextSwitchTo(old);
	return last;
}

PG_FUNCTION_INFO_V1(audit_trigger);

/*
 * mlops._audit_trigger() — AFTER INSERT/UPDATE/DELETE FOR EACH ROW and AFTER
 * TRUNCATE FOR EACH STATEMENT: appends the change to the log. An UPDATE that
 * changes no audited column (arguments: the ignored columns) is not logged.
 */
Datum
audit_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	AuditTable *t;
	TupleDesc	desc;
	Datum	   *old_values = NULL,
			   *new_values = NULL;
	bool	   *old_nulls = NULL,
			   *new_nulls = NULL;
	const ChangedNames *changed = NULL;
	RowImage	old_row,
				new_row;
	const char *op;
	int			level;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("mlops._audit_trigger() must be fired AFTER a change")));
	if (TRIGGER_FIRED_BY_TRUNCATE(td->tg_event))
	{
		AuditAppendEvent(RelationGetRelid(td->tg_relation), NULL, "TRUNCATE", NULL);
		return PointerGetDatum(NULL);
	}
	if (!TRIGGER_FIRED_FOR_ROW(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("mlops._audit_trigger() must be fired FOR EACH ROW for INSERT, UPDATE and DELETE")));

	t = AuditTableGet(fcinfo->flinfo, td);
	desc = t->tupdesc;
	if (!TRIGGER_FIRED_BY_INSERT(td->tg_event))
	{
		old_values = t->old_values;
		old_nulls = t->old_nulls;
		heap_deform_tuple(td->tg_trigtuple, desc, old_values, old_nulls);
	}
	if (TRIGGER_FIRED_BY_INSERT(td->tg_event) || TRIGGER_FIRED_BY_UPDATE(td->tg_event))
	{
		HeapTuple	tuple = TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple : td->tg_trigtuple;

		new_values = t->new_values;
		new_nulls = t->new_nulls;
		heap_deform_tuple(tuple, desc, new_values, new_nulls);
	}
	if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
	{
		changed = ChangedColumns(t, old_values, old_nulls, new_values, new_nulls);
		if (changed == NULL)
			return PointerGetDatum(NULL);
		op = "UPDATE";
	}
	else
		op = TRIGGER_FIRED_BY_INSERT(td->tg_event) ? "INSERT" : "DELETE";

	/* the row's text must not depend on the writer's settings (the log is compared, and hashed, as text) */
	level = CanonicalOutputBegin(t->output_settings);
	if (old_values)
		RenderRow(t, old_values, old_nulls, NULL, NULL, &old_row);
	if (new_values)
		RenderRow(t, new_values, new_nulls, old_values ? &old_row : NULL, changed ? changed->changed : NULL,
				  &new_row);
	CanonicalOutputEnd(level);
	AuditAppend(t->relid, t->name, op, old_values ? &old_row : NULL, new_values ? &new_row : NULL, changed, true);
	return PointerGetDatum(NULL);
}

PG_FUNCTION_INFO_V1(audit_guard);

/*
 * mlops._audit_guard() — BEFORE trigger of the log and its anchor: refuses
 * every change (INSERT of the anchor, UPDATE, DELETE, TRUNCATE) for every role,
 * except what archive_audit() does while it runs.
 */
Datum
audit_guard(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	const char *op;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BEFORE(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("mlops._audit_guard() must be fired BEFORE a change")));
	if (archiving && TRIGGER_FIRED_FOR_ROW(td->tg_event))
	{
		if (TRIGGER_FIRED_BY_DELETE(td->tg_event))
			return PointerGetDatum(td->tg_trigtuple);
		if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
			return PointerGetDatum(td->tg_newtuple);
	}
	op = TRIGGER_FIRED_BY_INSERT(td->tg_event) ? "INSERT" :
		TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? "UPDATE" :
		TRIGGER_FIRED_BY_DELETE(td->tg_event) ? "DELETE" : "TRUNCATE";
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("%s of table \"%s\" is not allowed", op, RelationGetRelationName(td->tg_relation)),
			 errdetail("The audit log is append-only and written only by the audit trigger."),
			 errhint("A superuser may remove old rows with mlops.archive_audit().")));
	PG_RETURN_NULL();			/* not reached */
}

PG_FUNCTION_INFO_V1(audit_event);

/*
 * mlops._audit_event(tbl, op, detail, table_name) — logs an event about a
 * table (its name looked up when table_name is NULL).
 */
Datum
audit_event(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		elog(ERROR, "mlops._audit_event needs a table and an operation");
	AuditAppendEvent(PG_GETARG_OID(0), PG_ARGISNULL(3) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(3)),
					 text_to_cstring(PG_GETARG_TEXT_PP(1)), PG_ARGISNULL(2) ? NULL : PG_GETARG_JSONB_P(2));
	PG_RETURN_VOID();
}

/*
 * Reads the anchor of the chain through SPI: returns its id and copies its
 * hash into hash (unless NULL). read_only: with the caller's snapshot, else
 * with a new one (at READ COMMITTED, one that sees every commit so far).
 */
static int64
ReadAnchor(bool read_only, uint8 *hash)
{
	bool		isnull;

	if (SPI_execute("SELECT anchor_id, anchor_hash FROM mlops.audit_chain", read_only, 0) != SPI_OK_SELECT ||
		SPI_processed != 1)
		MissingAnchor();
	if (hash != NULL)
		CopyHash(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull), hash, "anchor");
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/* True when the bytea value holds exactly the given hash. */
static bool
HashEquals(Datum value, const uint8 *hash)
{
	bytea	   *b = DatumGetByteaPP(value);

	return VARSIZE_ANY_EXHDR(b) == AUDIT_HASH_LEN && memcmp(VARDATA_ANY(b), hash, AUDIT_HASH_LEN) == 0;
}

/*
 * True when this transaction holds the chain lock (it has written the log, or
 * is archiving it). A subtransaction that took the lock and aborted has let
 * it go.
 */
static bool
ChainLockHeld(void)
{
	LOCKTAG		tag;
	Oid			chain_oid = get_relname_relid("audit_chain", get_namespace_oid("mlops", false));

	if (!OidIsValid(chain_oid))
		return false;
	SET_LOCKTAG_RELATION(tag, MyDatabaseId, chain_oid);
	return LockHeldByMe(&tag, ExclusiveLock);
}

PG_FUNCTION_INFO_V1(verify_audit);

/*
 * verify_audit() — walks the log in id order from the anchor, as one snapshot
 * sees it, and checks that ids are consecutive, that each row's prev_hash is
 * the previous row's hash and that each hash is the hash of its row. Returns
 * ok, the number of rows verified and the id of the first bad row.
 */
Datum
verify_audit(PG_FUNCTION_ARGS)
{
	TupleDesc	result_desc;
	Datum		result[3];
	bool		result_nulls[3] = {false, false, true};
	int64		checked = 0;
	int64		expected_id;
	uint8		prev[AUDIT_HASH_LEN];
	Portal		portal;
	SPIPlanPtr	plan;
	MemoryContext row_cxt;
	bool		bad = false;
	bool		fresh_snapshot;

	if (get_call_result_type(fcinfo, NULL, &result_desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "verify_audit must return a composite type");

	/*
	 * A REPEATABLE READ or SERIALIZABLE transaction that has written the log
	 * chained its rows to rows committed after its snapshot was taken, which
	 * that snapshot does not see (a gap, not tampering): it verifies with a
	 * new snapshot, which, taken under the chain lock, sees the whole chain.
	 */
	fresh_snapshot = IsolationUsesXactSnapshot() && ChainLockHeld();
	if (fresh_snapshot)
		PushActiveSnapshot(GetLatestSnapshot());
	SPI_connect();
	/* read only: the anchor and the rows are read with the same snapshot */
	expected_id = ReadAnchor(true, prev) + 1;

	plan = SPI_prepare("SELECT id, at, txid, table_oid, table_name, op, old_row, new_row, changed_columns, "
					   "session_user_name, current_user_name, application_name, client_addr, prev_hash, hash "
					   "FROM mlops.audit_log ORDER BY id", 0, NULL);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	portal = SPI_cursor_open(NULL, plan, NULL, NULL, true);
	row_cxt = AllocSetContextCreate(CurrentMemoryContext, "verify_audit row", ALLOCSET_DEFAULT_SIZES);
	while (!bad)
	{
		uint64		i;

		SPI_cursor_fetch(portal, true, 1000);
		if (SPI_processed == 0)
			break;
		for (i = 0; i < SPI_processed; i++)
		{
			Datum		values[AUDIT_NCOLUMNS];
			bool		nulls[AUDIT_NCOLUMNS];
			uint8		hash[AUDIT_HASH_LEN];
			MemoryContext old = MemoryContextSwitchTo(row_cxt);

			CHECK_FOR_INTERRUPTS();
			heap_deform_tuple(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, values, nulls);
			if (DatumGetInt64(values[AUDIT_ID]) != expected_id || nulls[AUDIT_PREV_HASH] ||
				nulls[AUDIT_HASH] || !HashEquals(values[AUDIT_PREV_HASH], prev))
				bad = true;
			else
			{
				AuditRowHash(values, nulls, NULL, hash);
				bad = !HashEquals(values[AUDIT_HASH], hash);
			}
			MemoryContextSwitchTo(old);
			MemoryContextReset(row_cxt);
			if (bad)
			{
				result[2] = values[AUDIT_ID];
				result_nulls[2] = false;
				break;
			}
			memcpy(prev, hash, AUDIT_HASH_LEN);
			expected_id++;
			checked++;
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	SPI_finish();
	if (fresh_snapshot)
		PopActiveSnapshot();
	result[0] = BoolGetDatum(!bad);
	result[1] = Int64GetDatum(checked);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(result_desc, result, result_nulls)));
}

PG_FUNCTION_INFO_V1(archive_audit);

/*
 * archive_audit(before_id) — superuser only: removes the log rows with ids
 * below before_id and makes the last removed row's id and hash the anchor of
 * the chain, so that the rest still verifies; the archiving is itself logged.
 * Returns the number of rows removed. Copy them out first to keep them.
 */
Datum
archive_audit(PG_FUNCTION_ARGS)
{
	int64		before_id;
	int64		anchor_id;
	Datum		args[2];
	Oid			argtypes[2] = {INT8OID, BYTEAOID};
	bool		isnull;
	uint8		anchor_hash[AUDIT_HASH_LEN];
	uint64		removed;
	StringInfoData detail;
	char	   *hex;

	if (!superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be superuser to archive the audit log"),
				 errdetail("Archiving removes rows from the audit log.")));
	/* before the chain lock, which a hot standby refuses with a less telling 55000 */
	PreventCommandIfReadOnly("archive_audit()");
	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_STATE),
				 errmsg("archive_audit() must run at isolation level READ COMMITTED"),
				 errdetail("It must see every log row committed before it took the chain lock.")));
	RequireArg(fcinfo, 0, "before_id");
	before_id = PG_GETARG_INT64(0);
	AuditChainLock();
	SPI_connect();
	/* not read only: a new snapshot, taken under the chain lock */
	anchor_id = ReadAnchor(false, NULL);
	if (before_id <= anchor_id + 1 || before_id > chain.last_id + 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("before_id must be between " INT64_FORMAT " and " INT64_FORMAT, anchor_id + 2, chain.last_id + 1),
				 errdetail("The log holds the rows " INT64_FORMAT " to " INT64_FORMAT ".", anchor_id + 1, chain.last_id)));
	args[0] = Int64GetDatum(before_id - 1);
	if (SPI_execute_with_args("SELECT hash FROM mlops.audit_log WHERE id = $1", 1, argtypes, args, NULL, false, 0) != SPI_OK_SELECT ||
		SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("audit log row " INT64_FORMAT " is missing", before_id - 1),
				 errhint("Run mlops.verify_audit() to find where the log was altered.")));
	CopyHash(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull), anchor_hash, "hash");

	args[0] = Int64GetDatum(before_id);
	args[1] = HashDatum(anchor_hash);
	archiving = true;
	PG_TRY();
	{
		SPI_execute_with_args("DELETE FROM mlops.audit_log WHERE id < $1", 1, argtypes, args, NULL, false, 0);
		removed = SPI_processed;
		SPI_execute_with_args("UPDATE mlops.audit_chain SET anchor_id = $1 - 1, anchor_hash = $2",
							  2, argtypes, args, NULL, false, 0);
	}
	PG_FINALLY();
	{
		archiving = false;
	}
	PG_END_TRY();
	SPI_finish();

	hex = palloc(AUDIT_HASH_LEN * 2 + 1);
	hex[hex_encode((char *) anchor_hash, AUDIT_HASH_LEN, hex)] = '\0';
	initStringInfo(&detail);
	appendStringInfo(&detail, "{\"archived_through\": " INT64_FORMAT ", \"rows\": " UINT64_FORMAT ", \"anchor_hash\": \"%s\"}",
					 before_id - 1, removed, hex);
	AuditAppendEvent(chain.log_oid, NULL, "ARCHIVE",
					 DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(detail.data))));
	PG_RETURN_INT64((int64) removed);
}
