/*
 * audit.c — the tamper-evident audit log: its trigger and its hash chain.
 *
 * mlops._audit_trigger(), a row-level AFTER trigger (and a TRUNCATE statement
 * trigger), turns each changed row into jsonb (audit_row.c) and appends one
 * row to mlops.audit_log (written in batches by audit_writer.c). Every log row
 * carries prev_hash (the hash of the row before it) and hash = sha256 of its
 * own canonical text, prev_hash included, so that altering, inserting or
 * removing a row breaks the chain (verify_audit()).
 *
 * Concurrency: the first audited write of a transaction locks
 * mlops.audit_chain (EXCLUSIVE, until the transaction ends) and reads the head
 * of the chain (the last log row, or the anchor left by archive_audit()) with
 * SnapshotSelf: every writer before us has committed or aborted, so ids are
 * consecutive and the chain order is the commit order. The head is then kept
 * in backend memory for the rest of the transaction (re-read after a
 * subtransaction aborts, whose log rows vanish with it).
 *
 * The log has no index: its rows are only ever appended at its end (the
 * writer never fills free space further back), so the last log row is on its
 * last page that holds a row this transaction can see.
 */
#include "postgres.h"

#include <openssl/evp.h>

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "datatype/timestamp.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "replication/logicalworker.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/inet.h"
#include "utils/inval.h"
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
#include "mlops/audit.h"
#include "mlops/audit_row.h"
#include "mlops/audit_writer.h"
#include "mlops/canonical_output.h"

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

/* Columns of mlops.audit_chain, in table order. */
typedef enum AuditChainColumn
{
	CHAIN_ONE,
	CHAIN_ANCHOR_ID,
	CHAIN_ANCHOR_HASH,
	CHAIN_NCOLUMNS
} AuditChainColumn;

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

static void InstallCallbacks(void);

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

/* Forgets the head of the chain when a subtransaction aborts: its log rows went with it. */
static void
ChainSubXactCallback(SubXactEvent event, SubTransactionId mySubid, SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
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

/* A bytea Datum holding a hash. */
static Datum
HashDatum(const uint8 *hash)
{
	bytea	   *b = palloc(VARHDRSZ + AUDIT_HASH_LEN);

	SET_VARSIZE(b, VARHDRSZ + AUDIT_HASH_LEN);
	memcpy(VARDATA(b), hash, AUDIT_HASH_LEN);
	return PointerGetDatum(b);
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
 * Refuses a log or chain table whose columns are not those it was created
 * with (changed while the DDL guard, mlops._audit_ddl, was disabled): the
 * trigger writes and reads their columns by number.
 */
static void
CheckColumns(Relation rel, int ncolumns)
{
	TupleDesc	desc = RelationGetDescr(rel);
	bool		intact = desc->natts == ncolumns;

	for (int i = 0; i < desc->natts; i++)
		intact &= !TupleDescAttr(desc, i)->attisdropped;
	if (!intact)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("mlops.%s is not as mlops created it", RelationGetRelationName(rel)),
				 errdetail("The audit trigger writes and reads its %d columns by number.", ncolumns),
				 errhint("Give it back the columns it was created with.")));
}

/*
 * Reads the one row of mlops.audit_chain as snapshot sees it into a slot of
 * chainrel (with SnapshotSelf: the last committed version, or this
 * transaction's own).
 */
static void
ReadChainRow(Relation chainrel, Snapshot snapshot, TupleTableSlot *slot)
{
	TableScanDesc scan = table_beginscan(chainrel, snapshot, 0, NULL);
	bool		found = table_scan_getnextslot(scan, ForwardScanDirection, slot);

	table_endscan(scan);
	if (!found)
		MissingAnchor();
	slot_getallattrs(slot);
}

/* Copies the id and hash of the log row held in slot into *id and hash. */
static void
LogRowIdHash(TupleTableSlot *slot, int64 *id, uint8 *hash)
{
	bool		isnull;

	*id = DatumGetInt64(slot_getattr(slot, AUDIT_ID + 1, &isnull));
	CopyHash(slot_getattr(slot, AUDIT_HASH + 1, &isnull), hash, "last hash");
}

/*
 * Finds the last log row that snapshot sees and copies its id and hash into
 * *id and hash; returns false when it sees none. Log rows are only ever
 * appended at the end of the log, in the chain's order (the writer never
 * fills free space further back: LogWriter), so the last row is on the last
 * page that holds a row this snapshot sees; the pages after it hold only
 * rows it does not see (of aborted transactions, or of one still running).
 */
static bool
ReadLogHead(Relation logrel, Snapshot snapshot, int64 *id, uint8 *hash)
{
	BlockNumber block = RelationGetNumberOfBlocks(logrel);
	TupleTableSlot *slot = table_slot_create(logrel, NULL);
	TableScanDesc scan = table_beginscan_strat(logrel, snapshot, 0, NULL, false, false);
	bool		found = false;
	bool		isnull;

	while (!found && block > 0)
	{
		CHECK_FOR_INTERRUPTS();
		heap_setscanlimits(scan, --block, 1);
		while (table_scan_getnextslot(scan, ForwardScanDirection, slot))
			if (!found || DatumGetInt64(slot_getattr(slot, AUDIT_ID + 1, &isnull)) > *id)
			{
				LogRowIdHash(slot, id, hash);
				found = true;
			}
		table_rescan(scan, NULL);
	}
	table_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	return found;
}

/*
 * Copies the head of the chain as snapshot sees it into *id and hash: the
 * last log row, or the anchor when the log holds no row it sees.
 */
static void
ReadChainHead(Oid log_oid, Oid chain_oid, Snapshot snapshot, int64 *id, uint8 *hash)
{
	Relation	rel = table_open(log_oid, AccessShareLock);
	bool		isnull;

	CheckColumns(rel, AUDIT_NCOLUMNS);
	if (!ReadLogHead(rel, snapshot, id, hash))
	{
		Relation	chainrel = table_open(chain_oid, AccessShareLock);
		TupleTableSlot *slot = table_slot_create(chainrel, NULL);

		CheckColumns(chainrel, CHAIN_NCOLUMNS);
		ReadChainRow(chainrel, snapshot, slot);
		*id = DatumGetInt64(slot_getattr(slot, CHAIN_ANCHOR_ID + 1, &isnull));
		CopyHash(slot_getattr(slot, CHAIN_ANCHOR_HASH + 1, &isnull), hash, "anchor");
		ExecDropSingleTupleTableSlot(slot);
		table_close(chainrel, AccessShareLock);
	}
	table_close(rel, AccessShareLock);
}

/* Looks up the OIDs of mlops.audit_log and mlops.audit_chain, which must exist. */
static void
LookupChainTables(Oid *log_oid, Oid *chain_oid)
{
	Oid			nsp = get_namespace_oid("mlops", false);

	*log_oid = get_relname_relid("audit_log", nsp);
	*chain_oid = get_relname_relid("audit_chain", nsp);
	if (!OidIsValid(*log_oid) || !OidIsValid(*chain_oid))
		elog(ERROR, "mlops.audit_log or mlops.audit_chain is missing");
}

/*
 * Takes the chain lock for this transaction (once) and reads the head of the
 * chain: the last log row, or the anchor when the log is empty.
 */
static void
AuditChainLock(void)
{
	TupleTableSlot *slot;
	bool		isnull;

	if (chain.lxid == MyProc->lxid)
		return;
	InstallCallbacks();
	LookupChainTables(&chain.log_oid, &chain.chain_oid);

	/* Held until the transaction ends: audited transactions commit one by one. */
	LockRelationOid(chain.chain_oid, ExclusiveLock);

	ReadChainHead(chain.log_oid, chain.chain_oid, SnapshotSelf, &chain.last_id, chain.last_hash);
	/* this transaction's rows not written yet, when the last of them is newer */
	slot = LastPendingLogRow();
	if (slot != NULL && DatumGetInt64(slot_getattr(slot, AUDIT_ID + 1, &isnull)) > chain.last_id)
		LogRowIdHash(slot, &chain.last_id, chain.last_hash);
	chain.lxid = MyProc->lxid;
}

/*
 * Moves the anchor of the chain in mlops.audit_chain (archive_audit()).
 * Written directly, as the log's rows are (the table's guard refuses every
 * other change); CatalogTupleUpdate keeps its one plain index in step when
 * the new version is not a HOT one.
 */
static void
SetAnchor(int64 id, const uint8 *hash)
{
	Relation	rel = table_open(chain.chain_oid, RowExclusiveLock);
	TupleTableSlot *slot = table_slot_create(rel, NULL);
	HeapTuple	old;
	HeapTuple	fresh;
	Datum		values[CHAIN_NCOLUMNS] = {0};
	bool		nulls[CHAIN_NCOLUMNS] = {false};
	bool		replace[CHAIN_NCOLUMNS] = {false};

	CheckColumns(rel, CHAIN_NCOLUMNS);
	ReadChainRow(rel, SnapshotSelf, slot);
	old = ExecFetchSlotHeapTuple(slot, false, NULL);
	values[CHAIN_ANCHOR_ID] = Int64GetDatum(id);
	values[CHAIN_ANCHOR_HASH] = HashDatum(hash);
	replace[CHAIN_ANCHOR_ID] = replace[CHAIN_ANCHOR_HASH] = true;
	fresh = heap_modify_tuple(old, RelationGetDescr(rel), values, nulls, replace);
	CatalogTupleUpdate(rel, &old->t_self, fresh);
	ExecDropSingleTupleTableSlot(slot);
	table_close(rel, NoLock);
	CommandCounterIncrement();
}

/*
 * Makes room for one non-NULL field of the canonical text, "<length in
 * bytes>:<text>", of a text len bytes long, and writes its prefix; returns
 * where the text goes. The caller writes it there, and adds len to buf->len.
 */
static char *
StartField(StringInfo buf, int len)
{
	enlargeStringInfo(buf, len + 12);
	buf->len += pg_ultoa_n((uint32) len, buf->data + buf->len);
	buf->data[buf->len++] = ':';
	return buf->data + buf->len;
}

/* Appends one non-NULL field of the canonical text. */
static void
AppendField(StringInfo buf, const char *text, int len)
{
	memcpy(StartField(buf, len), text, len);
	buf->len += len;
}

/* Appends the lower-case hex of a bytea as a field. */
static void
AppendHexField(StringInfo buf, Datum value)
{
	bytea	   *b = DatumGetByteaPP(value);
	int			len = VARSIZE_ANY_EXHDR(b);

	hex_encode(VARDATA_ANY(b), len, StartField(buf, len * 2));
	buf->len += len * 2;
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
	/* kept from row to row: a fresh buffer for each cost more than filling it */
	static StringInfoData buf;
	char		num[32];
	int			col;

	if (buf.data == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		initStringInfo(&buf);
		MemoryContextSwitchTo(old);
	}
	resetStringInfo(&buf);
	for (col = 0; col < AUDIT_HASH; col++)
	{
		Datum		v = values[col];
		char	   *s;

		if (nulls[col])
		{
			appendStringInfoCharMacro(&buf, '~');
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
	/* a very large row's buffer is not kept */
	if (buf.maxlen > 64 * 1024)
	{
		pfree(buf.data);
		buf.data = NULL;
	}
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

/*
 * Installs, once per backend (when it first takes the chain lock), the
 * subtransaction callback that forgets the chain's head when its rows go, the
 * relation cache callback that forgets the head of a log that changed, the
 * role cache callback that keeps the role names of the log rows up to date,
 * and the log writer's callbacks and hooks.
 */
static void
InstallCallbacks(void)
{
	static bool installed = false;

	if (installed)
		return;
	RegisterSubXactCallback(ChainSubXactCallback, NULL);
	CacheRegisterSyscacheCallback(AUTHOID, RoleNamesForget, (Datum) 0);
	CacheRegisterRelcacheCallback(ChainForget, (Datum) 0);
	LogWriterInstall();
	installed = true;
}

/*
 * Names, in the context of an error raised while a log row is hashed (an
 * UPDATE whose old and new rows as text pass 1 GB together), the table whose
 * change could not be logged.
 */
static void
AuditAppendContext(void *arg)
{
	errcontext("logging a row of table %s to mlops.audit_log", text_to_cstring((text *) arg));
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
	ErrorContextCallback context = {error_context_stack, AuditAppendContext, relname};

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
	error_context_stack = &context;
	AuditRowHash(values, nulls, known, hash);
	error_context_stack = context.previous;
	values[AUDIT_HASH] = HashDatum(hash);

	AddLogRow(chain.log_oid, values, nulls);
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
void
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

	/*
	 * the row's text must not depend on the writer's settings (the log is
	 * compared, and hashed, as text); search_path is set by RenderValue, for
	 * reg* columns alone
	 */
	level = CanonicalOutputBegin(t->output_settings);
	if (old_values)
		RenderRow(t, old_values, old_nulls, NULL, &old_row);
	if (new_values)
		RenderRow(t, new_values, new_nulls, changed ? changed->changed : NULL, &new_row);
	CanonicalOutputEnd(level);
	AuditAppend(t->relid, t->name, op, old_values ? &old_row : NULL, new_values ? &new_row : NULL, changed, true);
	return PointerGetDatum(NULL);
}

PG_FUNCTION_INFO_V1(audit_guard);

/*
 * mlops._audit_guard() — BEFORE trigger of the log and its anchor: refuses
 * every change (INSERT of the anchor, UPDATE, DELETE, TRUNCATE) for every role:
 * the trigger and archive_audit() write both tables directly. A row change that a logical
 * replication worker applies (a subscription to a publication that includes
 * another database's log, as FOR ALL TABLES does) is skipped instead: that
 * log chains that database's changes, not this one's, whose own chain must go
 * on unbroken, and refusing would make the subscription fail over and over.
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
	if (IsLogicalWorker() && TRIGGER_FIRED_FOR_ROW(td->tg_event))
		return PointerGetDatum(NULL);
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

/*
 * Whether an ARCHIVE log row names the given anchor (its detail's
 * archived_through and anchor_hash): the newest one must, as the anchor is
 * only ever set by archive_audit(), which logs that row right after.
 */
static bool
ArchiveRowNamesAnchor(Datum detail, int64 anchor_id, const uint8 *anchor_hash)
{
	Jsonb	   *j = DatumGetJsonbP(detail);
	JsonbValue *through;
	JsonbValue *hash;
	char		hex[AUDIT_HASH_LEN * 2];

	if (!JB_ROOT_IS_OBJECT(j) || JB_ROOT_IS_SCALAR(j))
		return false;
	through = getKeyJsonValueFromContainer(&j->root, "archived_through", 16, NULL);
	hash = getKeyJsonValueFromContainer(&j->root, "anchor_hash", 11, NULL);
	if (through == NULL || through->type != jbvNumeric || hash == NULL || hash->type != jbvString ||
		hash->val.string.len != AUDIT_HASH_LEN * 2)
		return false;
	hex_encode((const char *) anchor_hash, AUDIT_HASH_LEN, hex);
	return DatumGetBool(DirectFunctionCall2(numeric_eq, NumericGetDatum(through->val.numeric),
											NumericGetDatum(int64_to_numeric(anchor_id)))) &&
		memcmp(hash->val.string.val, hex, AUDIT_HASH_LEN * 2) == 0;
}

/*
 * Walks the log in id order from the anchor, as the caller's SPI snapshot(s)
 * see it (read_only: one snapshot for the anchor and every row), and checks
 * that ids are consecutive, that each row's prev_hash is the previous row's
 * hash and that each hash is the hash of its row, and that the anchor is the
 * one the newest ARCHIVE row names (none before any archiving): rows removed
 * from the start of the log with the anchor moved over them would otherwise
 * leave a chain that verifies. Returns whether the chain verifies; *checked
 * is the number of rows verified and *first_bad the id of the first bad row
 * (for an anchor that is not the archived one, the first row after it).
 */
static bool
WalkChain(bool read_only, int64 *checked, int64 *first_bad)
{
	int64		expected_id;
	uint8		prev[AUDIT_HASH_LEN];
	uint8		anchor_hash[AUDIT_HASH_LEN];
	int64		anchor_id;
	bool		anchor_archived;
	Portal		portal;
	SPIPlanPtr	plan;
	MemoryContext row_cxt;
	bool		bad = false;

	*checked = 0;
	anchor_id = ReadAnchor(read_only, prev);
	memcpy(anchor_hash, prev, AUDIT_HASH_LEN);
	expected_id = anchor_id + 1;
	/* until an ARCHIVE row says otherwise, the anchor must be the first one */
	anchor_archived = anchor_id == 0;
	for (int b = 0; b < AUDIT_HASH_LEN; b++)
		anchor_archived &= anchor_hash[b] == 0;

	plan = SPI_prepare("SELECT id, at, txid, table_oid, table_name, op, old_row, new_row, changed_columns, "
					   "session_user_name, current_user_name, application_name, client_addr, prev_hash, hash "
					   "FROM mlops.audit_log ORDER BY id", 0, NULL);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	portal = SPI_cursor_open(NULL, plan, NULL, NULL, read_only);
	row_cxt = AllocSetContextCreate(CurrentMemoryContext, "audit chain row", ALLOCSET_DEFAULT_SIZES);
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
				if (!bad && !nulls[AUDIT_OP] && !nulls[AUDIT_NEW_ROW] &&
					strcmp(TextDatumGetCString(values[AUDIT_OP]), "ARCHIVE") == 0)
					anchor_archived = ArchiveRowNamesAnchor(values[AUDIT_NEW_ROW], anchor_id, anchor_hash);
			}
			MemoryContextSwitchTo(old);
			MemoryContextReset(row_cxt);
			if (bad)
			{
				*first_bad = DatumGetInt64(values[AUDIT_ID]);
				break;
			}
			memcpy(prev, hash, AUDIT_HASH_LEN);
			expected_id++;
			(*checked)++;
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	MemoryContextDelete(row_cxt);
	if (!bad && !anchor_archived)
	{
		bad = true;
		*checked = 0;
		*first_bad = anchor_id + 1;
	}
	return !bad;
}

PG_FUNCTION_INFO_V1(verify_audit);

/*
 * verify_audit() — walks the log as one snapshot sees it (WalkChain).
 * Returns ok, the number of rows verified and the id of the first bad row.
 */
Datum
verify_audit(PG_FUNCTION_ARGS)
{
	TupleDesc	result_desc;
	Datum		result[3];
	bool		result_nulls[3] = {false, false, false};
	int64		checked;
	int64		first_bad;
	bool		ok;
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
	ok = WalkChain(true, &checked, &first_bad);
	SPI_finish();
	if (fresh_snapshot)
		PopActiveSnapshot();
	result[0] = BoolGetDatum(ok);
	result[1] = Int64GetDatum(checked);
	result[2] = Int64GetDatum(first_bad);
	result_nulls[2] = ok;
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(result_desc, result, result_nulls)));
}

/*
 * Removes the log rows with ids below before_id (the caller holds the chain
 * lock: no other writer has rows in flight), directly, as they were written:
 * the log's guard refuses every DELETE. The log has no key to identify its
 * rows by (no primary key), so a publication that includes it does not send
 * these deletes: a subscriber's copy of the log keeps the rows (the one in a
 * database with mlops skips them anyway). Copies the hash of the last row
 * removed (before_id - 1), the new anchor, into last_hash, in the same pass;
 * returns how many went.
 */
static uint64
RemoveLogRows(int64 before_id, uint8 *last_hash)
{
	Relation	rel = table_open(chain.log_oid, RowExclusiveLock);
	TupleTableSlot *slot = table_slot_create(rel, NULL);
	Snapshot	snapshot;
	TableScanDesc scan;
	uint64		removed = 0;
	bool		last_seen = false;
	bool		isnull;

	FlushLogRows(false);
	CommandCounterIncrement();
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	scan = table_beginscan(rel, snapshot, 0, NULL);
	while (table_scan_getnextslot(scan, ForwardScanDirection, slot))
	{
		int64		id = DatumGetInt64(slot_getattr(slot, AUDIT_ID + 1, &isnull));

		CHECK_FOR_INTERRUPTS();
		if (id >= before_id)
			continue;
		if (id == before_id - 1)
		{
			CopyHash(slot_getattr(slot, AUDIT_HASH + 1, &isnull), last_hash, "hash");
			last_seen = true;
		}
		simple_table_tuple_delete(rel, &slot->tts_tid, snapshot);
		removed++;
	}
	if (!last_seen)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("audit log row " INT64_FORMAT " is missing", before_id - 1),
				 errhint("Run mlops.verify_audit() to find where the log was altered.")));
	table_endscan(scan);
	UnregisterSnapshot(snapshot);
	ExecDropSingleTupleTableSlot(slot);
	table_close(rel, NoLock);
	return removed;
}

PG_FUNCTION_INFO_V1(audit_head);

/*
 * audit_head() — the head of the chain as the statement's snapshot sees it:
 * the id and hash of the last log row (the anchor's when the log holds no
 * row), read from the log's last page, without a scan of the whole log. A
 * transaction that has written the log gets the head it has made, its rows
 * not written yet included.
 */
Datum
audit_head(PG_FUNCTION_ARGS)
{
	TupleDesc	result_desc;
	Datum		result[2];
	bool		result_nulls[2] = {false, false};
	int64		id;
	uint8		hash[AUDIT_HASH_LEN];
	Oid			log_oid;
	Oid			chain_oid;

	if (get_call_result_type(fcinfo, NULL, &result_desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "audit_head must return a composite type");
	if (chain.lxid == MyProc->lxid)
	{
		id = chain.last_id;
		memcpy(hash, chain.last_hash, AUDIT_HASH_LEN);
	}
	else
	{
		LookupChainTables(&log_oid, &chain_oid);
		ReadChainHead(log_oid, chain_oid, GetActiveSnapshot(), &id, hash);
	}
	result[0] = Int64GetDatum(id);
	result[1] = HashDatum(hash);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(result_desc, result, result_nulls)));
}

PG_FUNCTION_INFO_V1(archive_audit);

/*
 * archive_audit(before_id) — superuser only: removes the log rows with ids
 * below before_id and makes the last removed row's id and hash the anchor of
 * the chain, so that the rest still verifies; the archiving is itself logged.
 * The whole log is verified first (a chain that does not verify is refused,
 * XX001). Returns the number of rows removed. Copy them out first to
 * keep them.
 */
Datum
archive_audit(PG_FUNCTION_ARGS)
{
	int64		before_id;
	int64		anchor_id;
	uint8		anchor_hash[AUDIT_HASH_LEN];
	uint64		removed;
	StringInfoData detail;
	char	   *hex;
	int			nest_level;
	int64		checked;
	int64		first_bad;

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

	/*
	 * its queries' operators are pg_catalog's whatever the caller's
	 * search_path lists before it: one that another role created there must
	 * not run as the superuser that archives
	 */
	nest_level = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, mlops, pg_temp", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	/*
	 * not read only: new snapshots, taken under the chain lock, which see
	 * every row; the rows are checked before any is removed, so that a prefix
	 * altered behind the log's triggers is not archived out of sight
	 */
	if (!WalkChain(false, &checked, &first_bad))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the audit log does not verify"),
				 errdetail("Row " INT64_FORMAT " is the first altered, inserted or missing one; nothing was archived.", first_bad),
				 errhint("Find out with mlops.verify_audit() what was altered before archiving.")));
	anchor_id = ReadAnchor(false, NULL);
	if (before_id <= anchor_id + 1 || before_id > chain.last_id + 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("before_id must be between " INT64_FORMAT " and " INT64_FORMAT, anchor_id + 2, chain.last_id + 1),
				 errdetail("The log holds the rows " INT64_FORMAT " to " INT64_FORMAT ".", anchor_id + 1, chain.last_id)));
	AtEOXact_GUC(true, nest_level);
	SPI_finish();
	removed = RemoveLogRows(before_id, anchor_hash);
	SetAnchor(before_id - 1, anchor_hash);

	hex = palloc(AUDIT_HASH_LEN * 2 + 1);
	hex[hex_encode((char *) anchor_hash, AUDIT_HASH_LEN, hex)] = '\0';
	initStringInfo(&detail);
	appendStringInfo(&detail, "{\"archived_through\": " INT64_FORMAT ", \"rows\": " UINT64_FORMAT ", \"anchor_hash\": \"%s\"}",
					 before_id - 1, removed, hex);
	AuditAppendEvent(chain.log_oid, NULL, "ARCHIVE",
					 DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(detail.data))));
	PG_RETURN_INT64((int64) removed);
}

/*
 * The audit row trigger of a table in the catalog as it is now, NULL when it
 * has none: not as the transaction's snapshot has it, at REPEATABLE READ or
 * SERIALIZABLE, when a transaction that committed after the snapshot was
 * taken created, dropped or replaced it (get_trigger_oid reads the catalog
 * with the catalog snapshot, which taking the table's lock renewed).
 */
PG_FUNCTION_INFO_V1(audit_row_trigger_now);
Datum
audit_row_trigger_now(PG_FUNCTION_ARGS)
{
	Oid			trigger = get_trigger_oid(PG_GETARG_OID(0), AUDIT_ROW_TRIGGER, true);

	if (!OidIsValid(trigger))
		PG_RETURN_NULL();
	PG_RETURN_OID(trigger);
}
