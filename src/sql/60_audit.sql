-- ---------------------------------------------------------------------------
-- Audit: a C row-level AFTER trigger appends every change of an audited table
-- to mlops.audit_log, a sha256 hash chain that verify_audit() checks. The log
-- is append-only; archive_audit() is the one sanctioned way to shorten it.
-- ---------------------------------------------------------------------------

-- The names of the audit triggers are reserved from install on (mlops._audit_ddl
-- refuses them to other triggers): a trigger that already has one would be
-- taken for an audit trigger, its table's every ALTER TABLE refused (it is not
-- enabled ALWAYS), its drop logged as DISABLE, and enable_audit would drop it.
DO $$
DECLARE
    taken record;
BEGIN
    SELECT t.tgname, t.tgrelid::pg_catalog.regclass AS tbl INTO taken FROM pg_catalog.pg_trigger t
     WHERE t.tgname IN ('mlops_audit', 'mlops_audit_truncate') AND t.tgparentid = 0
     ORDER BY t.tgrelid LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'trigger name "%" is reserved for auditing', taken.tgname
            USING ERRCODE = 'reserved_name',
                  DETAIL = pg_catalog.format('Table %s has a trigger of that name.', taken.tbl),
                  HINT = 'Rename or drop that trigger before CREATE EXTENSION mlops.';
    END IF;
END
$$;

-- The log. Written only by the C trigger (which inserts directly, so writers
-- need no privilege on it); its column order is the canonical order of the
-- hash (see README, "Audit"), which audit.c assumes (it checks the number of
-- columns and that none is dropped; mlops._audit_ddl refuses changing them).
-- It has no index: the trigger finds the last row on its last page, as rows
-- are only appended at its end, and a btree on id would cost every audited
-- write a fifth of its time (README, "Audit", "Indexes").
CREATE TABLE mlops.audit_log (
    id                bigint NOT NULL,     -- consecutive, in commit order (assigned under the chain lock)
    at                timestamptz NOT NULL,
    txid              xid8 NOT NULL,
    table_oid         oid NOT NULL,
    table_name        text NOT NULL,
    op                text NOT NULL,       -- INSERT UPDATE DELETE TRUNCATE ENABLE DISABLE DROP ARCHIVE
    old_row           jsonb,               -- UPDATE, DELETE: the row before
    new_row           jsonb,               -- INSERT: the row; UPDATE: its changed columns (old_row || new_row: the row after)
    changed_columns   text[],
    session_user_name text NOT NULL,
    current_user_name text NOT NULL,
    application_name  text,
    client_addr       inet,
    prev_hash         bytea NOT NULL,
    hash              bytea NOT NULL
);
COMMENT ON TABLE mlops.audit_log IS
    'append-only, hash-chained log of every change to an audited table';

-- The anchor of the chain: the id and hash of the last row removed by
-- archive_audit() (0 and 32 zero bytes before any). Its one row is also the
-- lock that serialises audited writers until they commit. The zero bytes are
-- decoded, not written '\x00...': with standard_conforming_strings off in the
-- installer's session, that literal is an escape of a zero byte (22021).
CREATE TABLE mlops.audit_chain (
    one          boolean PRIMARY KEY DEFAULT true CHECK (one),
    anchor_id    bigint NOT NULL,
    anchor_hash  bytea NOT NULL
);
COMMENT ON TABLE mlops.audit_chain IS
    'anchor of the audit hash chain (last archived id and hash); locked by every audited transaction';
INSERT INTO mlops.audit_chain (anchor_id, anchor_hash) VALUES (0, decode(repeat('00', 32), 'hex'));

-- The audit trigger: one row per changed row (INSERT, UPDATE, DELETE), one per
-- TRUNCATE statement. Trigger arguments: the names of the ignored columns.
CREATE FUNCTION mlops._audit_trigger() RETURNS trigger
    AS 'MODULE_PATHNAME', 'audit_trigger'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION mlops._audit_trigger() IS
    'internal trigger: appends the change of an audited row (or a TRUNCATE) to the audit log';

-- Refuses INSERT, UPDATE, DELETE and TRUNCATE of the log and its anchor,
-- except what archive_audit() does; skips the rows a logical replication
-- worker applies to them (another database's log: see audit_guard).
CREATE FUNCTION mlops._audit_guard() RETURNS trigger
    AS 'MODULE_PATHNAME', 'audit_guard'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION mlops._audit_guard() IS
    'internal trigger: keeps the audit log append-only (archive_audit() is the only exception; rows applied by logical replication are skipped)';

CREATE TRIGGER audit_log_append_only BEFORE INSERT OR UPDATE OR DELETE ON mlops.audit_log
    FOR EACH ROW EXECUTE FUNCTION mlops._audit_guard();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON mlops.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION mlops._audit_guard();
CREATE TRIGGER audit_chain_guarded BEFORE INSERT OR UPDATE OR DELETE ON mlops.audit_chain
    FOR EACH ROW EXECUTE FUNCTION mlops._audit_guard();
CREATE TRIGGER audit_chain_no_truncate BEFORE TRUNCATE ON mlops.audit_chain
    FOR EACH STATEMENT EXECUTE FUNCTION mlops._audit_guard();
-- ALWAYS: they hold under session_replication_role = replica too.
ALTER TABLE mlops.audit_log ENABLE ALWAYS TRIGGER audit_log_append_only;
ALTER TABLE mlops.audit_log ENABLE ALWAYS TRIGGER audit_log_no_truncate;
ALTER TABLE mlops.audit_chain ENABLE ALWAYS TRIGGER audit_chain_guarded;
ALTER TABLE mlops.audit_chain ENABLE ALWAYS TRIGGER audit_chain_no_truncate;

-- Appends an event about a table (ENABLE, DISABLE, DROP) to the log; the name
-- is looked up unless given (a dropped table has none left to look up).
CREATE FUNCTION mlops._audit_event(tbl oid, op text, detail jsonb, table_name text DEFAULT NULL) RETURNS void
    AS 'MODULE_PATHNAME', 'audit_event'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION mlops._audit_event(oid, text, jsonb, text) IS
    'internal: appends an event about an audited table (ENABLE, DISABLE, DROP) to the audit log';

-- Raises 42501 unless the calling role owns tbl or is an mlops_admin; 42P01
-- when tbl names no relation (a regclass given as an oid is not checked: a
-- table dropped since, or any number, which the DDL run with it would take
-- for a syntax error).
CREATE FUNCTION mlops._audit_check_owner(tbl regclass) RETURNS void
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    owner_name name;
BEGIN
    SELECT r.rolname INTO owner_name FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner WHERE c.oid = tbl;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'relation with OID % does not exist', tbl::oid USING ERRCODE = 'undefined_table';
    END IF;
    IF NOT mlops._acts_for(owner_name) THEN
        RAISE EXCEPTION 'must be the owner of table % or a member of mlops_admin to change its auditing', tbl
            USING ERRCODE = 'insufficient_privilege';
    END IF;
END
$$;
COMMENT ON FUNCTION mlops._audit_check_owner(regclass) IS
    'internal: raises 42501 unless the calling role owns the table or is an mlops_admin (42P01 when there is no such table)';

-- Raises 42501 unless the calling role may start auditing tbl: it owns it (or
-- is an mlops_admin) and may read it, since auditing logs its rows. For
-- enable_audit and for a CREATE TRIGGER mlops_audit (mlops._audit_ddl) alike,
-- which a role with the TRIGGER privilege on a table it does not own may run.
-- Reading it means reading all of it, through its schema (a table is also
-- named by its oid, which takes no USAGE on the schema): the log keeps every
-- row whatever the table's policies, so an mlops_admin whom row-level
-- security restricts on the table (one not its owner, nor a superuser, nor
-- BYPASSRLS) cannot audit it, which would give it, and every mlops_admin,
-- the rows the policies hide.
CREATE FUNCTION mlops._audit_check_may_enable(tbl regclass) RETURNS void
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    caller name := mlops.invoker();
BEGIN
    PERFORM mlops._audit_check_owner(tbl);
    IF NOT has_table_privilege(caller, tbl, 'SELECT')
       OR NOT has_schema_privilege(caller, (SELECT c.relnamespace FROM pg_class c WHERE c.oid = tbl), 'USAGE') THEN
        RAISE EXCEPTION 'permission denied for table %', tbl
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'Auditing a table logs its rows: it takes the right to read them.';
    END IF;
    IF EXISTS (SELECT FROM pg_class c, pg_roles r
                WHERE c.oid = tbl AND c.relrowsecurity AND r.rolname = caller
                  AND NOT r.rolsuper AND NOT r.rolbypassrls
                  AND NOT pg_has_role(caller, c.relowner, 'USAGE')) THEN
        RAISE EXCEPTION 'permission denied for table %', tbl
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'Auditing a table logs all its rows, and row-level security hides some of them from you.',
                  HINT = 'Its owner may audit it.';
    END IF;
END
$$;
COMMENT ON FUNCTION mlops._audit_check_may_enable(regclass) IS
    'internal: raises 42501 unless the calling role owns the table (or is an mlops_admin) and may read all of it';

-- Raises 55000 when tbl is a partition audited through its partitioned parent.
CREATE FUNCTION mlops._audit_check_not_inherited(tbl regclass) RETURNS void
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    parent regclass;
BEGIN
    SELECT p.tgrelid INTO parent FROM pg_trigger t JOIN pg_trigger p ON p.oid = t.tgparentid
     WHERE t.tgrelid = tbl AND t.tgname = 'mlops_audit';
    IF parent IS NOT NULL THEN
        RAISE EXCEPTION 'table % is audited through its parent %', tbl, parent
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Enable or disable auditing on the partitioned table.';
    END IF;
END
$$;
COMMENT ON FUNCTION mlops._audit_check_not_inherited(regclass) IS
    'internal: raises 55000 when the table is a partition audited through its parent';

-- Creates the TRUNCATE audit trigger of a table (not yet enabled ALWAYS).
CREATE FUNCTION mlops._audit_add_truncate(tbl regclass) RETURNS void
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
    SET search_path = pg_catalog, mlops, pg_temp
AS $$
BEGIN
    EXECUTE format('CREATE TRIGGER mlops_audit_truncate AFTER TRUNCATE ON %s '
                   'FOR EACH STATEMENT EXECUTE FUNCTION mlops._audit_trigger()', tbl);
END
$$;
COMMENT ON FUNCTION mlops._audit_add_truncate(regclass) IS
    'internal: creates the TRUNCATE audit trigger of a table';

-- Completes the auditing of a table that has its audit row trigger: gives it
-- the TRUNCATE trigger and enables both ALWAYS, in one command, so that the
-- DDL guard never sees one of them not enabled ALWAYS (its handling of that
-- ALTER TABLE gives each partition its TRUNCATE trigger); nothing when that
-- is done already.
CREATE FUNCTION mlops._audit_complete(tbl regclass) RETURNS void
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
    SET search_path = pg_catalog, mlops, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_trigger WHERE tgrelid = tbl AND tgname = 'mlops_audit_truncate') THEN
        PERFORM mlops._audit_add_truncate(tbl);
    END IF;
    IF EXISTS (SELECT FROM pg_trigger WHERE tgrelid = tbl AND tgname IN ('mlops_audit', 'mlops_audit_truncate')
                                        AND tgenabled <> 'A') THEN
        EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER mlops_audit, ENABLE ALWAYS TRIGGER mlops_audit_truncate', tbl);
    END IF;
END
$$;
COMMENT ON FUNCTION mlops._audit_complete(regclass) IS
    'internal: gives a table with the audit row trigger its TRUNCATE trigger and enables both ALWAYS';

-- The audit row trigger of a table in the catalog as it is now (NULL: none):
-- at REPEATABLE READ or SERIALIZABLE, one created, dropped or replaced by a
-- transaction that committed after the snapshot was taken is seen so.
CREATE FUNCTION mlops._audit_row_trigger_now(tbl regclass) RETURNS oid
    AS 'MODULE_PATHNAME', 'audit_row_trigger_now'
    LANGUAGE C VOLATILE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION mlops._audit_row_trigger_now(regclass) IS
    'internal: the oid of the audit row trigger of a table in the catalog as it is now, whatever the snapshot';

-- Raises 40001 when the audit row trigger of table tbl that this
-- transaction's snapshot sees is not the one in the catalog now: at
-- REPEATABLE READ or SERIALIZABLE, another transaction that committed after
-- the snapshot was taken audited the table, stopped auditing it or audited it
-- anew, which this one cannot see (it would drop or create triggers that are
-- not there, or drop only half of them). Called with the table locked, as
-- enable_audit and disable_audit lock it; at READ COMMITTED the two agree.
CREATE FUNCTION mlops._audit_check_no_concurrent_change(tbl regclass) RETURNS void
    LANGUAGE plpgsql VOLATILE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF (SELECT oid FROM pg_trigger WHERE tgrelid = tbl AND tgname = 'mlops_audit' AND NOT tgisinternal)
       IS DISTINCT FROM mlops._audit_row_trigger_now(tbl) THEN
        RAISE EXCEPTION 'could not serialize access due to concurrent change of the auditing of table %', tbl
            USING ERRCODE = 'serialization_failure',
                  DETAIL = 'Another transaction enabled or disabled the auditing of the table after this transaction''s snapshot was taken.',
                  HINT = 'The transaction might succeed if retried.';
    END IF;
END
$$;
COMMENT ON FUNCTION mlops._audit_check_no_concurrent_change(regclass) IS
    'internal: raises 40001 when another transaction changed the audit triggers of a table after this one''s snapshot';

-- Installs (or replaces) the audit triggers of a table with the given ignored
-- columns, which must be columns of the table; the creation of the row
-- trigger is logged as ENABLE (mlops._audit_ddl). The caller has checked the
-- arguments and the caller's rights. The table is locked first, so that the
-- triggers another transaction was installing, committed while this one
-- waited, are found and replaced (not created twice: 42710); at once in
-- ACCESS EXCLUSIVE mode (what dropping a trigger takes) when it has them.
CREATE FUNCTION mlops._audit_install(tbl regclass, ignore_columns text[]) RETURNS void
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
    SET search_path = pg_catalog, mlops, pg_temp
AS $$
DECLARE
    args text;
BEGIN
    ignore_columns := ARRAY(SELECT DISTINCT c FROM unnest(ignore_columns) c ORDER BY c);
    SELECT string_agg(quote_literal(c), ', ') INTO args FROM unnest(ignore_columns) c;
    EXECUTE format('LOCK TABLE %s IN %s MODE', tbl,
                   CASE WHEN EXISTS (SELECT FROM pg_trigger WHERE tgrelid = tbl AND tgname = 'mlops_audit')
                        THEN 'ACCESS EXCLUSIVE' ELSE 'SHARE ROW EXCLUSIVE' END);
    PERFORM mlops._audit_check_no_concurrent_change(tbl);
    -- audited again: the triggers are replaced (with the new ignore_columns)
    IF EXISTS (SELECT FROM pg_trigger WHERE tgrelid = tbl AND tgname = 'mlops_audit') THEN
        EXECUTE format('DROP TRIGGER mlops_audit ON %s', tbl);
    END IF;
    IF EXISTS (SELECT FROM pg_trigger WHERE tgrelid = tbl AND tgname = 'mlops_audit_truncate') THEN
        EXECUTE format('DROP TRIGGER mlops_audit_truncate ON %s', tbl);
    END IF;
    EXECUTE format('CREATE TRIGGER mlops_audit AFTER INSERT OR UPDATE OR DELETE ON %s '
                   'FOR EACH ROW EXECUTE FUNCTION mlops._audit_trigger(%s)', tbl, coalesce(args, ''));
    -- done already by the handling of that CREATE TRIGGER, unless a superuser disabled it
    PERFORM mlops._audit_complete(tbl);
END
$$;
COMMENT ON FUNCTION mlops._audit_install(regclass, text[]) IS
    'internal: installs or replaces the audit triggers of a table (the event trigger logs their creation as ENABLE)';

-- The ignored columns of an audit row trigger: its arguments.
CREATE FUNCTION mlops._audit_ignored_columns(trigger oid) RETURNS text[]
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    args bytea;
    nargs int;
    pos int := 1;
    len int;
    names text[] := '{}';
BEGIN
    SELECT tgargs, tgnargs INTO args, nargs FROM pg_trigger WHERE oid = trigger;
    FOR i IN 1 .. coalesce(nargs, 0) LOOP
        -- each argument is followed by a zero byte (decoded: this body is
        -- compiled under the session's standard_conforming_strings, with
        -- which off '\x00' is an escape of a zero byte, 22021)
        len := position(decode('00', 'hex') IN substring(args FROM pos)) - 1;
        names := names || convert_from(substring(args FROM pos FOR len), current_setting('server_encoding'));
        pos := pos + len + 1;
    END LOOP;
    RETURN names;
END
$$;
COMMENT ON FUNCTION mlops._audit_ignored_columns(oid) IS
    'internal: the ignored columns of an audit trigger (its arguments)';

-- Drops the TRUNCATE triggers left on tables that no longer have the row
-- trigger (a partition detached, or auditing of its table or parent stopped);
-- returns those tables, in oid order.
CREATE FUNCTION mlops._audit_drop_truncate_leftovers() RETURNS SETOF regclass
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
    SET search_path = pg_catalog, mlops, pg_temp
AS $$
DECLARE
    tbl regclass;
BEGIN
    FOR tbl IN SELECT t.tgrelid::regclass FROM pg_trigger t
                WHERE t.tgname = 'mlops_audit_truncate'
                  AND NOT EXISTS (SELECT FROM pg_trigger r WHERE r.tgrelid = t.tgrelid AND r.tgname = 'mlops_audit')
                ORDER BY t.tgrelid LOOP
        EXECUTE format('DROP TRIGGER mlops_audit_truncate ON %s', tbl);
        RETURN NEXT tbl;
    END LOOP;
END
$$;
COMMENT ON FUNCTION mlops._audit_drop_truncate_leftovers() IS
    'internal: drops the TRUNCATE audit triggers of tables without the row audit trigger, and returns those tables';

-- Refuses a table that auditing cannot cover: a view, a foreign table or
-- another relation that is no ordinary or partitioned table, and a temporary
-- table, whose rows go without any trigger firing. For enable_audit and for a
-- CREATE TRIGGER mlops_audit (mlops._audit_ddl) alike.
CREATE FUNCTION mlops._audit_check_auditable(tbl regclass) RETURNS void
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, mlops, pg_temp
AS $$
DECLARE
    kind "char";
    persistence "char";
BEGIN
    SELECT relkind, relpersistence INTO kind, persistence FROM pg_class WHERE oid = tbl;
    IF kind NOT IN ('r', 'p') THEN
        RAISE EXCEPTION '% is not a table', tbl
            USING ERRCODE = 'wrong_object_type',
                  DETAIL = 'Only ordinary and partitioned tables can be audited.';
    END IF;
    IF persistence = 't' THEN
        RAISE EXCEPTION 'cannot audit temporary table %', tbl
            USING ERRCODE = 'feature_not_supported',
                  DETAIL = 'A temporary table''s rows are removed at commit (ON COMMIT DELETE ROWS or DROP) or with the session without firing any trigger.';
    END IF;
END
$$;
COMMENT ON FUNCTION mlops._audit_check_auditable(regclass) IS
    'internal: refuses a relation that is not an ordinary or partitioned table, or a temporary one';

-- Refuses mlops's own tables: a dump keeps the rows of an extension's tables
-- but none of their triggers, and CREATE EXTENSION audits the registry's, so
-- auditing that enable_audit or disable_audit changed there (another table
-- audited, the registry's stopped, other ignored columns) would be undone by
-- a restore without a word.
CREATE FUNCTION mlops._audit_check_not_mlops(tbl regclass) RETURNS void
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF (SELECT c.relnamespace FROM pg_class c WHERE c.oid = tbl) = 'mlops'::regnamespace THEN
        RAISE EXCEPTION 'cannot change the auditing of mlops''s table %', tbl
            USING ERRCODE = 'feature_not_supported',
                  DETAIL = 'A dump keeps no trigger of an extension''s tables: a restored database audits mlops''s tables as CREATE EXTENSION does.',
                  HINT = 'mlops audits its registry tables (model, model_version, alias, deployment) from install.';
    END IF;
END
$$;
COMMENT ON FUNCTION mlops._audit_check_not_mlops(regclass) IS
    'internal: raises 0A000 for mlops''s own tables, whose auditing a dump would not keep';

-- Installs (or, on an audited table, replaces) the audit triggers of a table.
CREATE FUNCTION mlops.enable_audit(tbl regclass, ignore_columns text[] DEFAULT '{}') RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER PARALLEL UNSAFE
    SET search_path = pg_catalog, mlops, pg_temp
AS $$
DECLARE
    missing text;
    own regclass;
BEGIN
    PERFORM mlops._require(tbl, 'tbl');
    PERFORM mlops._require(ignore_columns, 'ignore_columns');
    PERFORM mlops._audit_check_auditable(tbl);
    IF tbl IN ('mlops.audit_log'::regclass, 'mlops.audit_chain'::regclass) THEN
        RAISE EXCEPTION 'the audit log cannot audit itself' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM mlops._audit_check_not_mlops(tbl);
    PERFORM mlops._audit_check_may_enable(tbl);
    PERFORM mlops._audit_check_not_inherited(tbl);
    -- the row trigger it gives a partitioned table goes to every partition,
    -- which one audited on its own has already
    SELECT p.relid INTO own FROM mlops._audit_tree(tbl) p(relid)
      JOIN pg_class c ON c.oid = p.relid AND c.relispartition
      JOIN pg_trigger t ON t.tgrelid = p.relid AND t.tgname = 'mlops_audit' AND t.tgparentid = 0
     ORDER BY p.relid LIMIT 1;
    IF own IS NOT NULL THEN
        RAISE EXCEPTION 'partition % of table % is audited on its own', own, tbl
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Stop auditing the partition with mlops.disable_audit() first: the partitioned table''s auditing covers it.';
    END IF;
    IF array_position(ignore_columns, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'ignore_columns must not contain nulls' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT string_agg('"' || replace(c, '"', '""') || '"', ', ' ORDER BY c) INTO missing
      FROM unnest(ignore_columns) c
     WHERE NOT EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = tbl AND a.attname = c
                                                    AND a.attnum > 0 AND NOT a.attisdropped);
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'table % has no column %', tbl, missing
            USING ERRCODE = 'undefined_column',
                  HINT = 'ignore_columns lists names of columns of the audited table.';
    END IF;
    PERFORM mlops._audit_install(tbl, ignore_columns);
END
$$;
COMMENT ON FUNCTION mlops.enable_audit(regclass, text[]) IS
    'audits a table: every INSERT, UPDATE, DELETE and TRUNCATE is appended to mlops.audit_log (again: replaces ignore_columns)';

-- Removes the audit triggers of a table (the removal is itself logged).
CREATE FUNCTION mlops.disable_audit(tbl regclass) RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER PARALLEL UNSAFE
    SET search_path = pg_catalog, mlops, pg_temp
AS $$
BEGIN
    PERFORM mlops._require(tbl, 'tbl');
    PERFORM mlops._audit_check_not_mlops(tbl);
    PERFORM mlops._audit_check_owner(tbl);
    PERFORM mlops._audit_check_not_inherited(tbl);
    -- locked before the look (as dropping the trigger locks it): a
    -- disable_audit or enable_audit of the table that another transaction
    -- commits meanwhile is seen
    EXECUTE format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE', tbl);
    PERFORM mlops._audit_check_no_concurrent_change(tbl);
    IF NOT EXISTS (SELECT FROM pg_trigger WHERE tgrelid = tbl AND tgname = 'mlops_audit' AND NOT tgisinternal) THEN
        RAISE EXCEPTION 'table % is not audited', tbl USING ERRCODE = 'undefined_object';
    END IF;
    EXECUTE format('DROP TRIGGER mlops_audit ON %s', tbl);      -- logged by mlops._audit_drop()
    -- the TRUNCATE triggers of the table and its partitions (_audit_drop drops
    -- them too, unless a superuser disabled it)
    PERFORM mlops._audit_drop_truncate_leftovers();
END
$$;
COMMENT ON FUNCTION mlops.disable_audit(regclass) IS
    'stops auditing a table (the log keeps its rows; the change is logged)';

-- A table and the tables inheriting from it (its partitions), at any depth,
-- read from the catalog without locking them: pg_partition_tree() would take
-- a lock on every partition, and the schema-change handling of two partitions
-- of one tree, each holding its own (pg_restore -j), would wait on each other.
CREATE FUNCTION mlops._audit_tree(tbl regclass) RETURNS SETOF regclass
    LANGUAGE sql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
    WITH RECURSIVE tree(relid) AS (
        SELECT tbl::oid
        UNION SELECT i.inhrelid FROM pg_inherits i JOIN tree ON i.inhparent = tree.relid)
    SELECT relid::regclass FROM tree
$$;
COMMENT ON FUNCTION mlops._audit_tree(regclass) IS
    'internal: a table and the tables inheriting from it, at any depth, without locking them';

-- Keeps the ignored columns of the audit row triggers of a table, and of the
-- tables inheriting from it (a rename or drop recurses to them), in step with
-- their columns: a column dropped, by ALTER TABLE or by a cascade (DROP TYPE,
-- DROP EXTENSION ... CASCADE), is forgotten, so that no column a later
-- command adds under its name goes unlogged; the column of table tbl whose
-- attnum is renamed (NULL: none) stays ignored under its new name. Triggers
-- are replaced (logged as DISABLE and ENABLE) only where an ignored name is gone.
CREATE FUNCTION mlops._audit_follow_columns(tbl regclass, renamed int) RETURNS void
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
    SET search_path = pg_catalog, mlops, pg_temp
AS $$
DECLARE
    aud record;
    ignored text[];
    kept text[];
BEGIN
    FOR aud IN SELECT t.oid, t.tgrelid::regclass AS tbl
                 FROM mlops._audit_tree(_audit_follow_columns.tbl) tree(relid)
                 JOIN pg_trigger t ON t.tgrelid = tree.relid AND t.tgname = 'mlops_audit'
                WHERE t.tgparentid = 0 AND t.tgnargs > 0 AND t.tgfoid = 'mlops._audit_trigger'::regproc LOOP
        ignored := mlops._audit_ignored_columns(aud.oid);
        kept := ARRAY(SELECT c FROM unnest(ignored) c
                       WHERE EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = aud.tbl AND a.attname = c
                                                                  AND a.attnum > 0 AND NOT a.attisdropped));
        CONTINUE WHEN cardinality(kept) = cardinality(ignored);
        -- a column renamed: the one ignored name gone is its old name
        IF renamed IS NOT NULL AND cardinality(ignored) = cardinality(kept) + 1 THEN
            kept := kept || (SELECT a.attname::text FROM pg_attribute a
                              WHERE a.attrelid = _audit_follow_columns.tbl AND a.attnum = renamed);
        END IF;
        PERFORM mlops._audit_install(aud.tbl, kept);
    END LOOP;
END
$$;
COMMENT ON FUNCTION mlops._audit_follow_columns(regclass, int) IS
    'internal: makes the ignored columns of the audit triggers of a table and its inheritors forget dropped columns and follow a renamed one';

-- Raises 42501 unless the calling role is a superuser: the log and its anchor
-- (tbl), their triggers included, are altered by superusers only, whoever
-- owns them, so that an owner who is not one cannot switch their protection
-- off (by ALTER TABLE, or by dropping or replacing a guard trigger).
CREATE FUNCTION mlops._audit_require_superuser(tbl regclass) RETURNS void
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = mlops.invoker()) THEN
        RAISE EXCEPTION 'only a superuser may alter %', tbl
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'The audit log is append-only and protected by its triggers.';
    END IF;
END
$$;
COMMENT ON FUNCTION mlops._audit_require_superuser(regclass) IS
    'internal: raises 42501 unless the calling role is a superuser (for changes of the audit log, its anchor and their triggers)';

-- After DDL: the creation of an audit row trigger is logged as ENABLE of its
-- table with its ignored columns, whoever creates it (enable_audit, the
-- schema-change handling below, or pg_restore's CREATE TRIGGER, for which
-- nothing else would log that auditing began after the rows it loaded), as
-- its drop is logged as DISABLE (mlops._audit_drop), and audits the table as
-- enable_audit does (TRUNCATE trigger, ENABLE ALWAYS), for a role that
-- enable_audit would let audit it; an audit trigger
-- created otherwise than auditing defines it is refused, as is one of the
-- audit function under another name (it would log each change again); only superusers may
-- alter the log or create or alter its triggers, and none its name or columns; an audit trigger is not
-- disabled or renamed behind disable_audit()'s back; the ignored columns
-- follow a column renamed, by ALTER TABLE or, in a typed table, by ALTER TYPE ... RENAME
-- ATTRIBUTE ... CASCADE (one dropped is forgotten by mlops._audit_drop), so that a renamed ignored
-- column stays out of the log and no other column comes to be ignored by
-- taking its name (the triggers are replaced: logged as DISABLE and ENABLE);
-- a partition detached from an audited table is no longer audited (logged as
-- DISABLE, its TRUNCATE trigger removed); and every partition of an audited
-- partitioned table, but a foreign one, gets the TRUNCATE trigger (statement
-- triggers are not inherited, and a partition can be truncated on its own).
-- It checks the tables a command reports, foreign ones included (a foreign
-- partition's row trigger audits the changes made through it), so it fires for
-- ALTER TABLE and ALTER FOREIGN TABLE (triggers enabled or
-- disabled, columns renamed or dropped, ATTACH and DETACH PARTITION), ALTER
-- TYPE (an attribute renamed in the typed tables of its type), CREATE
-- TABLE (PARTITION OF) and CREATE SCHEMA (whose CREATE TABLE may be a
-- PARTITION OF), and the triggers ALTER TRIGGER and CREATE TRIGGER report
-- (the audit triggers' names are reserved to them: the DDL run here as
-- mlops's owner rebuilds only triggers of mlops._audit_trigger, and one of
-- another function under that name would let a role outside mlops have its
-- table audited); CREATE TABLE AS reports a new table with no trigger and no
-- parent.
CREATE FUNCTION mlops._audit_ddl() RETURNS event_trigger
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
    SET search_path = pg_catalog, mlops, pg_temp
AS $$
DECLARE
    cmd record;
    trig record;
    root regclass;
    parts regclass[];
    part regclass;
    guarded text;
BEGIN
    -- the audit triggers keep their names (ALTER TRIGGER), which no other
    -- trigger takes (ALTER or CREATE TRIGGER)
    FOR trig IN SELECT t.oid, t.tgname, t.tgrelid::regclass AS tbl, t.tgparentid,
                       t.tgfoid = 'mlops._audit_trigger'::regproc AS is_audit,
                       -- defined as auditing defines it: AFTER INSERT OR UPDATE OR DELETE FOR EACH
                       -- ROW (tgtype 29), or AFTER TRUNCATE FOR EACH STATEMENT (32) without
                       -- arguments; no WHEN, no column list, no transition table, no constraint
                       CASE t.tgname WHEN 'mlops_audit' THEN t.tgtype = 29
                                     ELSE t.tgtype = 32 AND t.tgnargs = 0 END
                       AND t.tgqual IS NULL AND cardinality(t.tgattr::int2[]) = 0 AND t.tgconstraint = 0
                       AND t.tgoldtable IS NULL AND t.tgnewtable IS NULL AS as_auditing
                  FROM pg_event_trigger_ddl_commands() c JOIN pg_trigger t ON t.oid = c.objid
                 WHERE c.classid = 'pg_trigger'::regclass LOOP
        -- the log's guard triggers are not replaced, renamed or joined by another but by a superuser
        IF trig.tbl IN (to_regclass('mlops.audit_log'), to_regclass('mlops.audit_chain')) THEN
            PERFORM mlops._audit_require_superuser(trig.tbl);
        END IF;
        IF trig.is_audit AND trig.tgname NOT IN ('mlops_audit', 'mlops_audit_truncate') AND TG_TAG = 'ALTER TRIGGER' THEN
            RAISE EXCEPTION 'cannot rename an audit trigger of table %', trig.tbl
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = 'Auditing finds its triggers by their names.',
                      HINT = 'mlops.disable_audit() stops auditing a table, and logs that it did.';
        ELSIF trig.is_audit AND trig.tgname NOT IN ('mlops_audit', 'mlops_audit_truncate') THEN
            -- one more trigger of the audit function would log the table's
            -- changes a second time, and disable_audit would leave it there
            RAISE EXCEPTION 'trigger % of table % cannot execute mlops._audit_trigger()', trig.tgname, trig.tbl
                USING ERRCODE = 'invalid_object_definition',
                      DETAIL = 'Only the audit triggers mlops_audit and mlops_audit_truncate execute it.',
                      HINT = 'mlops.enable_audit() installs the audit triggers of a table.';
        ELSIF NOT trig.is_audit AND trig.tgname IN ('mlops_audit', 'mlops_audit_truncate') THEN
            RAISE EXCEPTION 'trigger name "%" is reserved for auditing', trig.tgname
                USING ERRCODE = 'reserved_name';
        ELSIF trig.is_audit AND trig.tgname IN ('mlops_audit', 'mlops_audit_truncate') AND TG_TAG = 'CREATE TRIGGER' THEN
            -- a table logged as audited (ENABLE, audited_tables) whose trigger
            -- skips some of its changes would have them missing unseen
            IF NOT trig.as_auditing THEN
                RAISE EXCEPTION 'trigger % of table % is not defined as auditing defines it', trig.tgname, trig.tbl
                    USING ERRCODE = 'invalid_object_definition',
                          DETAIL = CASE trig.tgname
                                   WHEN 'mlops_audit' THEN 'The audit row trigger is AFTER INSERT OR UPDATE OR DELETE FOR EACH ROW, with no condition, column list or transition table; its arguments are the ignored columns.'
                                   ELSE 'The audit TRUNCATE trigger is AFTER TRUNCATE FOR EACH STATEMENT, with no argument or condition.' END,
                          HINT = 'mlops.enable_audit() installs the audit triggers of a table.';
            END IF;
            -- as enable_audit: a partition's clone (a foreign one's too) is
            -- audited through its table, which was checked
            IF trig.tgparentid = 0 THEN
                PERFORM mlops._audit_check_auditable(trig.tbl);
            END IF;
            IF trig.tgname = 'mlops_audit' AND trig.tgparentid = 0 THEN
                -- the rights enable_audit takes: the TRIGGER privilege alone
                -- would let a role that does not own the table audit it
                PERFORM mlops._audit_check_may_enable(trig.tbl);
                PERFORM mlops._audit_event(trig.tbl, 'ENABLE', pg_catalog.jsonb_build_object('ignore_columns',
                                           pg_catalog.to_jsonb(mlops._audit_ignored_columns(trig.oid))));
                -- audited from now on as enable_audit audits it: with the TRUNCATE
                -- trigger, both ENABLE ALWAYS (changes applied under
                -- session_replication_role = replica, a subscription's, are logged too)
                PERFORM mlops._audit_complete(trig.tbl);
            END IF;
        END IF;
    END LOOP;
    FOR cmd IN SELECT c.objid::regclass AS tbl, c.object_type, c.objsubid FROM pg_event_trigger_ddl_commands() c
                WHERE c.classid = 'pg_class'::regclass AND c.object_type IN ('table', 'table column', 'foreign table')
               UNION
               -- an attribute renamed (ALTER TYPE ... RENAME ATTRIBUTE ... CASCADE)
               -- renamed the column of each typed table of its type, under its own number
               SELECT t.oid::regclass, 'table column', a.attnum
                 FROM pg_event_trigger_ddl_commands() c
                 JOIN pg_class ct ON ct.oid = c.objid
                 JOIN pg_attribute ca ON ca.attrelid = ct.oid AND ca.attnum = c.objsubid
                 JOIN pg_class t ON t.reloftype = ct.reltype
                 JOIN pg_attribute a ON a.attrelid = t.oid AND a.attname = ca.attname AND NOT a.attisdropped
                WHERE c.classid = 'pg_class'::regclass AND c.object_type = 'composite type column' LOOP
        -- the log and its anchor, known by their guard triggers (a rename
        -- keeps them)
        SELECT CASE t.tgname WHEN 'audit_log_append_only' THEN 'mlops.audit_log' ELSE 'mlops.audit_chain' END
          INTO guarded FROM pg_trigger t
         WHERE t.tgrelid = cmd.tbl AND t.tgname IN ('audit_log_append_only', 'audit_chain_guarded')
           AND t.tgfoid = 'mlops._audit_guard'::regproc;
        IF guarded IS NOT NULL THEN
            PERFORM mlops._audit_require_superuser(cmd.tbl);
        END IF;
        -- their names and columns are what the audit trigger writes and reads
        -- (by number: a dropped column, even, would make every audited write
        -- fail) and what verify_audit() hashes: kept, for superusers too
        IF guarded IS NOT NULL AND
           (SELECT format('%I.%I (%s)', n.nspname, c.relname,
                          string_agg(format('%I %s', a.attname, format_type(a.atttypid, a.atttypmod)), ', '
                                     ORDER BY a.attnum))
              FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0
             WHERE c.oid = cmd.tbl GROUP BY n.nspname, c.relname)
           IS DISTINCT FROM (CASE guarded
               WHEN 'mlops.audit_log' THEN 'mlops.audit_log (id bigint, at timestamp with time zone, txid xid8, '
                   || 'table_oid oid, table_name text, op text, old_row jsonb, new_row jsonb, changed_columns text[], '
                   || 'session_user_name text, current_user_name text, application_name text, client_addr inet, '
                   || 'prev_hash bytea, hash bytea)'
               ELSE 'mlops.audit_chain (one boolean, anchor_id bigint, anchor_hash bytea)' END) THEN
            RAISE EXCEPTION 'cannot change the name or the columns of %', guarded
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = 'The audit trigger writes, and mlops.verify_audit() hashes, the columns the table was created with, under its name.';
        END IF;
        IF EXISTS (SELECT FROM pg_trigger WHERE tgrelid = cmd.tbl AND tgname IN ('mlops_audit', 'mlops_audit_truncate')
                                            AND tgenabled <> 'A') THEN
            RAISE EXCEPTION 'the audit triggers of % must stay enabled ALWAYS', cmd.tbl
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      HINT = 'mlops.disable_audit() stops auditing a table, and logs that it did.';
        END IF;
        -- ignored columns renamed (or dropped: mlops._audit_drop has seen them)
        PERFORM mlops._audit_follow_columns(cmd.tbl, CASE WHEN cmd.object_type = 'table column' THEN cmd.objsubid END);
        -- a partition detached from an audited table lost its row trigger
        IF (SELECT relkind FROM pg_class WHERE oid = cmd.tbl) = 'p' THEN
            FOR part IN SELECT mlops._audit_drop_truncate_leftovers() LOOP
                PERFORM mlops._audit_event(part, 'DISABLE', NULL);
            END LOOP;
        END IF;
        SELECT a.relid INTO root FROM pg_partition_ancestors(cmd.tbl) a
          JOIN pg_trigger t ON t.tgrelid = a.relid AND t.tgname = 'mlops_audit' AND t.tgparentid = 0
         LIMIT 1;
        CONTINUE WHEN root IS NULL;
        -- every missing trigger first, then each one's ENABLE ALWAYS: that
        -- ALTER TABLE runs this function again, which must find none missing.
        -- A foreign partition cannot have a TRUNCATE trigger: the row trigger
        -- covers it, and the TRUNCATE row of its partitioned table.
        parts := ARRAY(SELECT p.relid FROM mlops._audit_tree(root) p(relid) JOIN pg_class c ON c.oid = p.relid
                        WHERE c.relkind <> 'f'
                          AND NOT EXISTS (SELECT FROM pg_trigger t WHERE t.tgrelid = p.relid
                                                                     AND t.tgname = 'mlops_audit_truncate'));
        FOREACH part IN ARRAY parts LOOP
            PERFORM mlops._audit_add_truncate(part);
        END LOOP;
        FOREACH part IN ARRAY parts LOOP
            EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER mlops_audit_truncate', part);
        END LOOP;
    END LOOP;
END
$$;
COMMENT ON FUNCTION mlops._audit_ddl() IS
    'internal event trigger: protects the audit log and audit triggers from DDL, keeps ignored columns and partitions in step';
CREATE EVENT TRIGGER mlops_audit_ddl ON ddl_command_end
    WHEN TAG IN ('ALTER TABLE', 'ALTER FOREIGN TABLE', 'ALTER TYPE', 'CREATE TABLE', 'CREATE SCHEMA', 'ALTER TRIGGER',
                 'CREATE TRIGGER')
    EXECUTE FUNCTION mlops._audit_ddl();
ALTER EVENT TRIGGER mlops_audit_ddl ENABLE ALWAYS;

-- After the TRUNCATE audit trigger of a table is dropped on its own: while the
-- table keeps its row trigger, it gets the TRUNCATE trigger back, enabled like
-- the row trigger (ALWAYS), so that its TRUNCATEs are never unlogged. The
-- drop, a statement of its own, cannot be refused: pg_restore --clean drops
-- the TRUNCATE triggers before the row triggers, one statement each. A
-- CREATE TRIGGER that replaced it (mlops._audit_create_trigger)
-- made the new one, which is enabled ALWAYS here.
CREATE FUNCTION mlops._audit_keep_truncate(tbl regclass) RETURNS void
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
    SET search_path = pg_catalog, mlops, pg_temp
AS $$
DECLARE
    row_enabled "char";
BEGIN
    SELECT tgenabled INTO row_enabled FROM pg_trigger WHERE tgrelid = tbl AND tgname = 'mlops_audit';
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_trigger WHERE tgrelid = tbl AND tgname = 'mlops_audit_truncate') THEN
        PERFORM mlops._audit_add_truncate(tbl);
        RAISE NOTICE 'trigger mlops_audit_truncate of audited table % recreated', tbl
            USING DETAIL = 'The TRUNCATE statements of an audited table are logged.',
                  HINT = 'mlops.disable_audit() stops auditing a table, and logs that it did.';
    END IF;
    IF row_enabled = 'A' AND EXISTS (SELECT FROM pg_trigger WHERE tgrelid = tbl AND tgname = 'mlops_audit_truncate'
                                                              AND tgenabled <> 'A') THEN
        EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER mlops_audit_truncate', tbl);
    END IF;
END
$$;
COMMENT ON FUNCTION mlops._audit_keep_truncate(regclass) IS
    'internal: gives an audited table whose TRUNCATE audit trigger was dropped or replaced an enabled one';

-- Before CREATE TRIGGER: a dump's audit TRUNCATE trigger replaces the one that
-- auditing gave the table already; CREATE OR REPLACE TRIGGER of an audit
-- trigger is refused, and before ALTER TRIGGER, a rename to an audit
-- trigger's name; before ALTER SCHEMA, a rename of schema mlops (see
-- src/audit_create_trigger.c).
CREATE FUNCTION mlops._audit_create_trigger() RETURNS event_trigger
    AS 'MODULE_PATHNAME', 'audit_create_trigger'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION mlops._audit_create_trigger() IS
    'internal event trigger: lets CREATE TRIGGER of the audit TRUNCATE trigger replace the identical existing one, refuses OR REPLACE of an audit trigger, a rename to an audit trigger''s name and a rename of schema mlops';
CREATE EVENT TRIGGER mlops_audit_create_trigger ON ddl_command_start
    WHEN TAG IN ('CREATE TRIGGER', 'ALTER TRIGGER', 'ALTER SCHEMA')
    EXECUTE FUNCTION mlops._audit_create_trigger();
ALTER EVENT TRIGGER mlops_audit_create_trigger ENABLE ALWAYS;

-- In a sql_drop event trigger: the audited columns (of tables that stay, but
-- ignored ones) whose values the command took something from, each with the
-- column dropped (dropped, of relation rel): that column itself, or a column
-- whose type holds rows of rel (a composite type that lost an attribute
-- (ALTER TYPE ... DROP ATTRIBUTE), or a table whose row type is used as a
-- column type) at any depth (arrays, domains, ranges, composites). The
-- audited table the command named comes first.
CREATE FUNCTION mlops._audit_dropped_values(OUT rel regclass, OUT dropped text, OUT tbl regclass, OUT col text)
    RETURNS SETOF record
    LANGUAGE sql STABLE PARALLEL UNSAFE
    SET search_path = pg_catalog, mlops, pg_temp
AS $$
    WITH RECURSIVE lost AS (
        SELECT c.objid AS rel, c.address_names[3] AS dropped
          FROM pg_event_trigger_dropped_objects() c
         WHERE c.object_type IN ('table column', 'composite type column')
           AND NOT EXISTS (SELECT FROM pg_event_trigger_dropped_objects() d
                            WHERE d.classid = 'pg_class'::regclass AND d.objid = c.objid AND d.objsubid = 0)),
    -- each column of an audited table, with every type its values hold, at
    -- any depth: walked down from the audited columns through the catalogs'
    -- indexes, so that a drop costs as much whatever else the database holds
    holds(tbl, col, type) AS (
        SELECT a.attrelid, a.attname::text, a.atttypid
          FROM pg_trigger t JOIN pg_attribute a ON a.attrelid = t.tgrelid AND a.attnum > 0 AND NOT a.attisdropped
         WHERE t.tgname = 'mlops_audit' AND t.tgfoid = 'mlops._audit_trigger'::regproc
        UNION
        SELECT h.tbl, h.col, p.part
          FROM holds h CROSS JOIN LATERAL (
                SELECT ty.typelem FROM pg_type ty
                 WHERE ty.oid = h.type AND ty.typsubscript = 'array_subscript_handler'::regproc
                UNION ALL SELECT ty.typbasetype FROM pg_type ty WHERE ty.oid = h.type AND ty.typtype = 'd'
                UNION ALL SELECT r.rngsubtype FROM pg_range r WHERE r.rngtypid = h.type
                UNION ALL SELECT r.rngtypid FROM pg_range r WHERE r.rngmultitypid = h.type
                UNION ALL SELECT a.atttypid FROM pg_type ty
                            JOIN pg_attribute a ON a.attrelid = ty.typrelid AND a.attnum > 0 AND NOT a.attisdropped
                           WHERE ty.oid = h.type AND ty.typtype = 'c') p(part)),
    affected(rel, dropped, tbl, col) AS (
        SELECT l.rel, l.dropped, l.rel, l.dropped FROM lost l
        UNION ALL SELECT l.rel, l.dropped, h.tbl, h.col
          FROM lost l JOIN pg_class r ON r.oid = l.rel AND r.reltype <> 0 JOIN holds h ON h.type = r.reltype)
    SELECT x.rel::regclass, x.dropped, x.tbl::regclass, x.col
      FROM affected x
      JOIN pg_trigger t ON t.tgrelid = x.tbl AND t.tgname = 'mlops_audit' AND t.tgfoid = 'mlops._audit_trigger'::regproc
     WHERE x.col <> ALL (mlops._audit_ignored_columns(t.oid))
     ORDER BY x.tbl = x.rel DESC, t.tgparentid <> 0, x.tbl, x.col
$$;
COMMENT ON FUNCTION mlops._audit_dropped_values() IS
    'internal (sql_drop): the audited columns whose values the dropping of columns takes away, directly or through a type that holds them';

-- After a DROP: an audit trigger dropped, by disable_audit() or directly, is
-- logged as DISABLE of its table (and the TRUNCATE triggers it leaves, the
-- table's and its partitions', are removed); an audited table dropped, as
-- DROP. The TRUNCATE trigger of a table that is still audited, dropped on its
-- own, comes back (mlops._audit_keep_truncate). A column dropped from a table
-- that stays, whatever dropped it, leaves its ignored columns if it was one;
-- dropping an audited column, or what its values hold (an attribute of its
-- composite type), is refused, as is a guard trigger of the log or its
-- anchor dropped by a role that is not a superuser. quote_all_identifiers is
-- pinned: the log names a table alike whatever the session says.
CREATE FUNCTION mlops._audit_drop() RETURNS event_trigger
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
    SET search_path = pg_catalog, mlops, pg_temp
    SET quote_all_identifiers = off
AS $$
DECLARE
    obj record;
    lost record;
    disabled boolean := false;
BEGIN
    IF EXISTS (SELECT FROM pg_event_trigger_dropped_objects() d
                WHERE d.object_type = 'table' AND d.address_names = '{mlops,audit_log}') THEN
        RETURN;                             -- the extension itself is being dropped
    END IF;
    -- nor are the log's guard triggers dropped but by a superuser
    PERFORM mlops._audit_require_superuser(format('%I.%I', t.address_names[1], t.address_names[2])::regclass)
       FROM pg_event_trigger_dropped_objects() t
      WHERE t.object_type = 'trigger' AND t.address_names[1:2] IN (ARRAY['mlops', 'audit_log'], ARRAY['mlops', 'audit_chain']);
    FOR obj IN SELECT t.address_names AS names, d.objid AS dropped_table
                 FROM pg_event_trigger_dropped_objects() t
                 LEFT JOIN pg_event_trigger_dropped_objects() d
                        ON d.object_type IN ('table', 'foreign table') AND d.address_names = t.address_names[1:2]
                WHERE t.object_type = 'trigger' AND t.address_names[3] IN ('mlops_audit', 'mlops_audit_truncate') LOOP
        IF obj.dropped_table IS NOT NULL THEN
            IF obj.names[3] = 'mlops_audit' THEN
                PERFORM mlops._audit_event(obj.dropped_table, 'DROP', NULL, format('%I.%I', obj.names[1], obj.names[2]));
            END IF;
        ELSIF obj.names[3] = 'mlops_audit' THEN
            -- a partition's trigger that went with its partitioned table's
            -- (disable_audit, or the triggers replaced): that table's DISABLE
            -- row covers the partition, as its ENABLE row did
            CONTINUE WHEN EXISTS (
                SELECT FROM pg_partition_ancestors(format('%I.%I', obj.names[1], obj.names[2])::regclass) a
                  JOIN pg_class c ON c.oid = a.relid
                  JOIN pg_namespace n ON n.oid = c.relnamespace
                  JOIN pg_event_trigger_dropped_objects() p
                    ON p.object_type = 'trigger' AND p.address_names = ARRAY[n.nspname::text, c.relname::text, 'mlops_audit']
                 WHERE c.relname <> obj.names[2] OR n.nspname <> obj.names[1]);
            PERFORM mlops._audit_event(format('%I.%I', obj.names[1], obj.names[2])::regclass, 'DISABLE', NULL);
            disabled := true;
        ELSE
            PERFORM mlops._audit_keep_truncate(format('%I.%I', obj.names[1], obj.names[2])::regclass);
        END IF;
    END LOOP;
    IF disabled THEN
        PERFORM mlops._audit_drop_truncate_leftovers();
    END IF;
    -- an audited column that a drop takes values from loses them in every row
    -- unlogged (and one added back under its name, with a volatile default,
    -- sets them anew): refused, as converting them is (_audit_rewrite)
    IF EXISTS (SELECT FROM pg_event_trigger_dropped_objects() c
                WHERE c.object_type IN ('table column', 'composite type column')) THEN
        SELECT * INTO lost FROM mlops._audit_dropped_values() LIMIT 1;
        IF FOUND AND lost.tbl = lost.rel AND lost.col = lost.dropped THEN
            RAISE EXCEPTION 'cannot drop column "%" of audited table %', lost.col, lost.tbl
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = 'Dropping an audited column removes its values from every row without logging the change.',
                      HINT = 'Stop auditing the table around the change: mlops.disable_audit() and mlops.enable_audit() are logged.';
        ELSIF FOUND THEN
            RAISE EXCEPTION 'cannot drop column "%" of %', lost.dropped, lost.rel
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = pg_catalog.format('Column "%s" of audited table %s holds its values, which would leave every row without logging the change.',
                                                 lost.col, lost.tbl),
                      HINT = 'Stop auditing the table around the change: mlops.disable_audit() and mlops.enable_audit() are logged.';
        END IF;
    END IF;
    -- columns dropped from tables that stay: the ignored columns forget them
    FOR obj IN SELECT DISTINCT c.objid::regclass AS tbl FROM pg_event_trigger_dropped_objects() c
                WHERE c.object_type = 'table column'
                  AND NOT EXISTS (SELECT FROM pg_event_trigger_dropped_objects() d
                                   WHERE d.objid = c.objid AND d.object_type IN ('table', 'foreign table')) LOOP
        PERFORM mlops._audit_follow_columns(obj.tbl, NULL);
    END LOOP;
END
$$;
COMMENT ON FUNCTION mlops._audit_drop() IS
    'internal event trigger: logs audit triggers dropped (DISABLE) and audited tables dropped (DROP), refuses dropping an audited column';
CREATE EVENT TRIGGER mlops_audit_drop ON sql_drop
    EXECUTE FUNCTION mlops._audit_drop();
ALTER EVENT TRIGGER mlops_audit_drop ENABLE ALWAYS;

-- After ALTER TABLE ... ATTACH PARTITION: the attached table, and every table
-- under it, that the command made audited (with the rows they hold, which no
-- trigger logged) is logged as ENABLE, as a partition detached is logged as
-- DISABLE (see src/audit_attach.c).
CREATE FUNCTION mlops._audit_attach() RETURNS event_trigger
    AS 'MODULE_PATHNAME', 'audit_attach'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION mlops._audit_attach() IS
    'internal event trigger: logs ENABLE for the tables an ATTACH PARTITION makes audited';
CREATE EVENT TRIGGER mlops_audit_attach ON ddl_command_end
    WHEN TAG IN ('ALTER TABLE')
    EXECUTE FUNCTION mlops._audit_attach();
ALTER EVENT TRIGGER mlops_audit_attach ENABLE ALWAYS;

-- Before a table is rewritten: ALTER TABLE ... ALTER COLUMN ... TYPE that
-- converts the stored values (a USING expression, or a type whose values are
-- not the same bytes) changes every row without firing any trigger, and USING
-- may set them to anything, so an audited table's rows (a partition's, of an
-- audited partitioned table) would change unlogged: refused, for every role.
-- Which columns are converted is not known here, so an ignored one is refused
-- too. The other rewrites (SET LOGGED or UNLOGGED, SET ACCESS METHOD, a column
-- added with a volatile default) keep the values the table had. Reason bit 4
-- is PostgreSQL's AT_REWRITE_COLUMN_REWRITE (catalog/event_trigger.h).
-- SECURITY DEFINER: it fires for every role's tables, and naming mlops's
-- trigger function takes USAGE on schema mlops.
CREATE FUNCTION mlops._audit_rewrite() RETURNS event_trigger
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
    SET search_path = pg_catalog, mlops, pg_temp
AS $$
DECLARE
    tbl oid := pg_event_trigger_table_rewrite_oid();
BEGIN
    IF pg_event_trigger_table_rewrite_reason() & 4 <> 0
       AND EXISTS (SELECT FROM pg_trigger WHERE tgrelid = tbl AND tgname = 'mlops_audit'
                                            AND tgfoid = 'mlops._audit_trigger'::regproc) THEN
        RAISE EXCEPTION 'cannot convert the stored values of audited table %', tbl::regclass
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'Converting a column''s type rewrites every row without logging the change.',
                  HINT = 'Stop auditing the table around the change: mlops.disable_audit() and mlops.enable_audit() are logged.';
    END IF;
END
$$;
COMMENT ON FUNCTION mlops._audit_rewrite() IS
    'internal event trigger: refuses ALTER TABLE ... TYPE that converts the stored values of an audited table (no trigger would log it)';
CREATE EVENT TRIGGER mlops_audit_rewrite ON table_rewrite
    EXECUTE FUNCTION mlops._audit_rewrite();
ALTER EVENT TRIGGER mlops_audit_rewrite ENABLE ALWAYS;

CREATE FUNCTION mlops.verify_audit(OUT ok boolean, OUT rows_checked bigint, OUT first_bad_id bigint)
    AS 'MODULE_PATHNAME', 'verify_audit'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION mlops.verify_audit() IS
    'checks the audit hash chain from its anchor: ok, rows verified, and the id of the first altered, inserted or missing row';

-- STABLE: it reads the log as the statement's snapshot sees it. Not STRICT
-- for want of arguments; PARALLEL RESTRICTED: a transaction that has written
-- the log answers from the head it keeps in its leader's memory.
CREATE FUNCTION mlops.audit_head(OUT id bigint, OUT hash bytea)
    AS 'MODULE_PATHNAME', 'audit_head'
    LANGUAGE C STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION mlops.audit_head() IS
    'the head of the audit chain (the last log row''s id and hash, or the anchor''s), read from the end of the log: the value to publish elsewhere';

CREATE FUNCTION mlops.archive_audit(before_id bigint) RETURNS bigint
    AS 'MODULE_PATHNAME', 'archive_audit'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;  -- not STRICT: a NULL before_id is 22004, not a silent NULL
COMMENT ON FUNCTION mlops.archive_audit(bigint) IS
    'superuser only: removes the log rows before before_id, keeping the last removed hash as the anchor of the chain';

CREATE VIEW mlops.audited_tables AS
SELECT t.tgrelid::regclass AS table_name
  FROM pg_trigger t
 WHERE t.tgname = 'mlops_audit' AND t.tgfoid = 'mlops._audit_trigger'::regproc AND t.tgparentid = 0;
COMMENT ON VIEW mlops.audited_tables IS 'tables audited with enable_audit() (partitions of an audited table are covered by it)';

-- The registry's own tables are audited from install; the artifact and the
-- drift profile of a model version (up to megabytes each) are left out of the
-- log: their sha256 digests are columns of the row, logged in their place.
-- (enable_audit refuses mlops's tables: this is the auditing they keep.)
SELECT mlops._audit_install('mlops.model', '{}');
SELECT mlops._audit_install('mlops.model_version', '{artifact,profile}');
SELECT mlops._audit_install('mlops.alias', '{}');
SELECT mlops._audit_install('mlops.deployment', '{}');

GRANT SELECT ON mlops.audit_log, mlops.audit_chain, mlops.audited_tables TO mlops_admin;
GRANT EXECUTE ON FUNCTION mlops.verify_audit(), mlops.audit_head() TO mlops_admin;
-- table owners among the trainers may audit their tables (checked inside), and
-- add partitions to them: PostgreSQL copies the row trigger onto a new or
-- attached partition only for a role that may execute its function (which can
-- only ever run as a trigger). An owner outside mlops's roles, whose table an
-- mlops_admin audits, needs a superuser to add partitions.
GRANT EXECUTE ON FUNCTION mlops.enable_audit(regclass, text[]), mlops.disable_audit(regclass),
    mlops._audit_trigger() TO mlops_trainer;
