-- Audit: every change of an audited table is logged with its old and new row,
-- the log is append-only and hash-chained, verify_audit() finds tampering.
CREATE EXTENSION mlops;
\set SHOW_CONTEXT never
\i test/lib/sqlstate.sql
-- the columns that do not depend on time, ids of objects or who runs the suite
CREATE VIEW log AS
SELECT id, table_name, op, old_row, new_row, changed_columns FROM mlops.audit_log;

-- the registry's tables are audited from install
SELECT table_name FROM mlops.audited_tables ORDER BY table_name::text;
SELECT * FROM log ORDER BY id;
SELECT * FROM mlops.verify_audit();

-- every operation, with its old and new row and changed columns
CREATE TYPE pair AS (x int, y text);
CREATE DOMAIN positive AS int CHECK (VALUE > 0);
CREATE TABLE items (
    id      int PRIMARY KEY,
    name    text,
    qty     positive,
    price   numeric,
    ratio   float8,
    flags   bool[],
    doc     jsonb,
    raw     bytea,
    pt      pair,
    day     date,
    secret  text,
    total   numeric GENERATED ALWAYS AS (qty * price) STORED
);
SELECT mlops.enable_audit('items', '{secret}');
INSERT INTO items (id, name, qty, price, ratio, flags, doc, raw, pt, day, secret)
VALUES (1, 'bolt', 3, 0.25, 0.1, '{t,f}', '{"a": [1, {"b": null}]}', '\x00ff', (1, 'one'), '2024-02-29', 's1'),
       (2, 'nut "M6"', 10, 'NaN', '-Infinity', NULL, '"scalar"', '', NULL, NULL, 's2');
UPDATE items SET qty = 4, doc = doc || '{"c": 1}' WHERE id = 1;
UPDATE items SET secret = 'changed';          -- only an ignored column: not logged
UPDATE items SET name = name;                 -- nothing changed: not logged
DELETE FROM items WHERE id = 2;
TRUNCATE items;
SELECT * FROM log WHERE id > 5 ORDER BY id;
-- the logged rows are to_jsonb() of the rows, without the ignored columns
INSERT INTO items (id, name, qty, price, ratio, flags, doc, raw, pt, day, secret)
VALUES (3, 'washer', 1, 1e-20, 1.5e300, '{}', '[]', '\xdeadbeef', (NULL, 'x'), 'infinity', 's3');
SELECT new_row = to_jsonb(i) - 'secret' AS same_as_to_jsonb
  FROM log, items i WHERE log.id = (SELECT max(id) FROM log) AND i.id = 3;
-- every type, in and out of arrays and composites, as to_jsonb() has it under
-- the default output settings in UTC, whatever the writer's (this suite runs
-- with DateStyle Postgres, IntervalStyle postgres_verbose, TimeZone PST8PDT)
CREATE TYPE mood AS ENUM ('sad', 'ok');
CREATE TABLE kinds (
    i2 int2, i8 int8, f4 float4, f8 float8, n numeric(12, 4), m money, t text, vc varchar(10), c char(5),
    nm name, u uuid, ip inet, iv interval, tm time, ttz timetz, ts timestamp, tstz timestamptz, d date,
    b bytea, bo bool, j json, jb jsonb, x xml, ia int[], ta text[], tsa timestamptz[], p pair, pa pair[],
    dom positive, e mood, r int4range, pt point, bits bit(4), tsv tsvector, oid oid
);
SELECT mlops.enable_audit('kinds');
INSERT INTO kinds VALUES (-2, 9007199254740993, 1.1, 1e-310, 12345678.1234, 3.5, E'tab\there "q" é', 'v', 'c',
    'nm', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '10.1.2.3/8', '1 day 2 hours', '12:34:56.789', '12:34+02',
    '2024-01-02 03:04:05.678', '2024-01-02 03:04:05+05', '0044-03-15 BC', '\x0001', true, '{"b": 1, "a": [1, 2]}',
    '{"z": {"y": null}}', '<a>x</a>', '{{1,2},{3,NULL}}', '{"a,b",NULL}', '{infinity,2020-01-01}', (7, 'seven'),
    ARRAY[(1, 'a')::pair, NULL], 5, 'ok', '[1,5)', '(1.5,2)', B'1010', 'fat cat', 42);
INSERT INTO kinds DEFAULT VALUES;
SET TimeZone = 'UTC';
SET DateStyle = ISO;
SET IntervalStyle = postgres;
SELECT count(*) AS rows, count(*) FILTER (WHERE l.new_row = to_jsonb(k)) AS same_as_to_jsonb
  FROM kinds k JOIN log l ON l.table_name = 'public.kinds' AND l.op = 'INSERT'
   AND l.new_row -> 'i2' IS NOT DISTINCT FROM to_jsonb(k) -> 'i2';
RESET TimeZone;
RESET DateStyle;
RESET IntervalStyle;
SELECT key, value FROM log, jsonb_each(new_row)
 WHERE table_name = 'public.kinds' AND op = 'INSERT' AND new_row ->> 'i2' = '-2' AND key <> 'm' ORDER BY key;

-- who and how: the roles, the application, the client (NULL over a Unix socket), the transaction
BEGIN;
UPDATE items SET name = 'big washer' WHERE id = 3;
SELECT session_user_name = session_user AS session_ok, current_user_name = current_user AS current_ok,
       application_name, client_addr, txid = pg_current_xact_id() AS own_txid,
       table_oid = 'items'::regclass AS oid_ok
  FROM mlops.audit_log WHERE id = (SELECT max(id) FROM mlops.audit_log);
COMMIT;
-- an empty application_name is logged as NULL
BEGIN;
SET LOCAL application_name = '';
UPDATE items SET name = 'bigger washer' WHERE id = 3;
SELECT application_name IS NULL AS no_name, new_row FROM mlops.audit_log WHERE id = (SELECT max(id) FROM mlops.audit_log);
ROLLBACK;

-- auditing an audited table again replaces its ignore_columns; no duplicate triggers
SELECT mlops.enable_audit('items', '{secret,ratio}');
SELECT count(*) AS audit_triggers FROM pg_trigger WHERE tgrelid = 'items'::regclass;
UPDATE items SET ratio = 2;                   -- now ignored
UPDATE items SET qty = 2;
SELECT * FROM log WHERE id > (SELECT max(id) - 2 FROM log) ORDER BY id;
-- tables without a primary key, TOASTed values, wide rows
CREATE TABLE nokey (a int, big text);
SELECT mlops.enable_audit('nokey');
INSERT INTO nokey VALUES (1, repeat('x', 300000)), (1, repeat('x', 300000));
UPDATE nokey SET a = 2;                       -- the TOASTed value is unchanged
SELECT op, changed_columns, length(old_row ->> 'big') AS old_big, length(new_row ->> 'big') AS new_big,
       length((old_row || new_row) ->> 'big') AS whole_new_big
  FROM log WHERE table_name = 'public.nokey' ORDER BY id;
UPDATE nokey SET big = big || 'y' WHERE ctid = (SELECT min(ctid) FROM nokey);
SELECT changed_columns, right(new_row ->> 'big', 2) FROM log WHERE id = (SELECT max(id) FROM log);
\set ECHO none
SELECT format('CREATE TABLE wide (%s)', string_agg(format('c%s int DEFAULT %s', i, i), ', '))
  FROM generate_series(1, 1000) i \gexec
\set ECHO all
ALTER TABLE wide DROP COLUMN c500;
SELECT mlops.enable_audit('wide');
INSERT INTO wide DEFAULT VALUES;
SELECT (SELECT count(*) FROM jsonb_object_keys(new_row)) AS keys, new_row -> 'c1000' AS c1000, new_row ? 'c500' AS has_dropped
  FROM log WHERE id = (SELECT max(id) FROM log);

-- partitioned tables: the triggers on the parent cover every partition
CREATE TABLE measures (region text, v int) PARTITION BY LIST (region);
CREATE TABLE measures_eu PARTITION OF measures FOR VALUES IN ('eu');
SELECT mlops.enable_audit('measures');
CREATE TABLE measures_us PARTITION OF measures FOR VALUES IN ('us');
INSERT INTO measures VALUES ('eu', 1), ('us', 2);
UPDATE measures SET region = 'us' WHERE region = 'eu';   -- moves the row between partitions
TRUNCATE measures;
SELECT * FROM log WHERE table_name LIKE 'public.measures%' ORDER BY id;
SELECT table_name FROM mlops.audited_tables WHERE table_name::text LIKE 'measures%';
-- a partition truncated on its own is logged too (new partitions included)
CREATE TABLE measures_asia PARTITION OF measures FOR VALUES IN ('asia');
INSERT INTO measures VALUES ('asia', 3);
TRUNCATE measures_asia;
SELECT table_name, op, old_row FROM log WHERE id > (SELECT max(id) - 2 FROM log) ORDER BY id;
SELECT pg_temp.sqlstate($$SELECT mlops.enable_audit('measures_us')$$);
SELECT pg_temp.sqlstate($$SELECT mlops.disable_audit('measures_us')$$);

-- COPY is audited like INSERT
COPY nokey FROM stdin;
5	copied
\.
SELECT op, new_row FROM log WHERE id = (SELECT max(id) FROM log);

-- the triggers fire under session_replication_role = replica
SET session_replication_role = replica;
INSERT INTO nokey VALUES (9, 'replica');
RESET session_replication_role;
SELECT op, new_row FROM log WHERE id = (SELECT max(id) FROM log);

-- the audit triggers cannot be switched off behind disable_audit()'s back
SELECT pg_temp.sqlstate($$ALTER TABLE items DISABLE TRIGGER mlops_audit$$);
SELECT pg_temp.sqlstate($$ALTER TABLE items ENABLE TRIGGER mlops_audit_truncate$$);
SELECT pg_temp.sqlstate($$ALTER TABLE measures_eu DISABLE TRIGGER ALL$$);

-- bad input
SELECT pg_temp.sqlstate($$SELECT mlops.enable_audit(NULL)$$);
SELECT pg_temp.sqlstate($$SELECT mlops.enable_audit('items', NULL)$$);
SELECT pg_temp.sqlstate($$SELECT mlops.enable_audit('items', '{nope}')$$);
SELECT pg_temp.sqlstate($$SELECT mlops.enable_audit('items', '{NULL}')$$);
SELECT pg_temp.sqlstate($$SELECT mlops.enable_audit('no_such_table')$$);
-- a table given by an oid that names none (one dropped since) is unknown too
SELECT pg_temp.sqlstate($$SELECT mlops.enable_audit(0)$$);
SELECT pg_temp.sqlstate($$SELECT mlops.disable_audit(0)$$);
CREATE VIEW v AS SELECT 1 AS x;
SELECT pg_temp.sqlstate($$SELECT mlops.enable_audit('v')$$);
CREATE VIEW "My View" AS SELECT 1 AS x;                   -- named once, not quoted twice
SELECT pg_temp.sqlstate($$SELECT mlops.enable_audit('"My View"')$$);
-- a temporary table's rows go at commit or with the session, unlogged
CREATE TEMP TABLE scratch (x int) ON COMMIT DELETE ROWS;
SELECT pg_temp.sqlstate($$SELECT mlops.enable_audit('scratch')$$);
DROP TABLE scratch;
SELECT pg_temp.sqlstate($$SELECT mlops.enable_audit('mlops.audit_log')$$);
-- mlops's other tables are audited as CREATE EXTENSION audits them, which is
-- what a restore of a dump (that keeps none of their triggers) gives back
SELECT q, pg_temp.sqlstate(q, true) AS outcome FROM (VALUES
    ($$SELECT mlops.enable_audit('mlops.run')$$),
    ($$SELECT mlops.enable_audit('mlops.model_version')$$),
    ($$SELECT mlops.disable_audit('mlops.model')$$)) v(q);
SELECT table_name FROM mlops.audited_tables WHERE table_name::text LIKE 'mlops.%' ORDER BY table_name::text;
SELECT pg_temp.sqlstate($$SELECT mlops.disable_audit('v')$$);
SELECT pg_temp.sqlstate($$SELECT mlops.archive_audit(NULL)$$);  -- an error, as every NULL argument
SELECT pg_temp.sqlstate($$SELECT mlops.archive_audit(-5)$$);
SELECT pg_temp.sqlstate($$SELECT mlops.archive_audit(1000000)$$);
SELECT pg_temp.sqlstate($$SELECT mlops._audit_trigger()$$);

-- disabling is logged; disabling twice is an error
SELECT mlops.disable_audit('nokey');
SELECT count(*) AS audit_triggers FROM pg_trigger WHERE tgrelid = 'nokey'::regclass;
INSERT INTO nokey VALUES (10, 'not logged');
SELECT table_name, op FROM log WHERE id = (SELECT max(id) FROM log);
SELECT pg_temp.sqlstate($$SELECT mlops.disable_audit('nokey')$$);

-- dropping an audit trigger directly, or an audited table, is logged too
DROP TRIGGER mlops_audit ON kinds;
DROP TABLE wide;
SELECT table_name, op FROM log WHERE id > (SELECT max(id) - 2 FROM log) ORDER BY id;

-- the registry: the artifact and the profile are left out, their sha256 digests
-- are in (the profile's: of its text in UTF-8)
SELECT mlops._register_version('price', 'linear', 'regression', '{rooms}', 'price', NULL,
       '{}', '{}', '{}', '{"rows": 10, "name": "é"}', NULL, 'houses', 8, 2, 0, 'fp', '\x0102', 'linear-json');
SELECT table_name, op, changed_columns, new_row ? 'artifact' AS has_artifact, new_row ->> 'artifact_sha256' AS sha256,
       new_row ? 'profile' AS has_profile, new_row ->> 'profile_sha256' AS profile_sha256
  FROM log WHERE table_name LIKE 'mlops.%' AND op <> 'ENABLE' ORDER BY id;

-- the log is append-only, for its owner (a superuser here) too, and under replica
SELECT q, pg_temp.sqlstate(q) AS outcome FROM (VALUES
    ($$UPDATE mlops.audit_log SET op = 'DELETE' WHERE id = 6$$),
    ($$DELETE FROM mlops.audit_log WHERE id = 6$$),
    ($$TRUNCATE mlops.audit_log$$),
    ($$INSERT INTO mlops.audit_log SELECT * FROM mlops.audit_log WHERE id = 6$$),
    ($$UPDATE mlops.audit_chain SET anchor_id = 5$$)
) AS cases(q);
SET session_replication_role = replica;
SELECT pg_temp.sqlstate($$DELETE FROM mlops.audit_log WHERE id = 6$$, true, true);
RESET session_replication_role;
SELECT * FROM mlops.verify_audit();

-- privileges: a writer needs no right on the log; only mlops_admin reads it
CREATE ROLE regress_writer;
CREATE ROLE regress_trainer IN ROLE mlops_trainer;
CREATE ROLE regress_admin IN ROLE mlops_admin;
GRANT SELECT, INSERT, UPDATE, DELETE ON items TO regress_writer;
GRANT CREATE ON SCHEMA public TO regress_trainer;
SET ROLE regress_writer;
INSERT INTO items (id, name, qty) VALUES (7, 'by writer', 1);
SELECT pg_temp.sqlstate($$SELECT count(*) FROM mlops.audit_log$$);
SELECT pg_temp.sqlstate($$SELECT mlops.verify_audit()$$);
SELECT pg_temp.sqlstate($$SELECT mlops.audit_head()$$);
RESET ROLE;
SELECT current_user_name FROM mlops.audit_log WHERE id = (SELECT max(id) FROM mlops.audit_log);
SET ROLE regress_trainer;
SELECT pg_temp.sqlstate($$SELECT mlops.enable_audit('items')$$);     -- not the owner
SELECT pg_temp.sqlstate($$SELECT mlops.disable_audit('items')$$);
CREATE TABLE trainer_table (x int);
SELECT mlops.enable_audit('trainer_table');                          -- the owner may
INSERT INTO trainer_table VALUES (1);
-- and may add partitions to an audited partitioned table of theirs
CREATE TABLE trainer_parted (x int) PARTITION BY RANGE (x);
SELECT mlops.enable_audit('trainer_parted');
CREATE TABLE trainer_parted_1 PARTITION OF trainer_parted FOR VALUES FROM (0) TO (10);
CREATE TABLE trainer_parted_2 (x int);
ALTER TABLE trainer_parted ATTACH PARTITION trainer_parted_2 FOR VALUES FROM (10) TO (20);
INSERT INTO trainer_parted VALUES (1), (11);
SELECT pg_temp.sqlstate($$SELECT mlops._audit_trigger()$$);         -- only ever a trigger
SELECT pg_temp.sqlstate($$SELECT count(*) FROM mlops.audit_log$$);
RESET ROLE;
SET ROLE regress_admin;
SELECT ok FROM mlops.verify_audit();
SELECT table_name, op, new_row FROM mlops.audit_log WHERE id > (SELECT max(id) - 4 FROM mlops.audit_log) ORDER BY id;
SELECT pg_temp.sqlstate($$SELECT mlops.archive_audit(3)$$);         -- superusers only
RESET ROLE;
-- an mlops_admin audits only a table it may read (its rows go to the log)
CREATE TABLE secrets (x int);
SET ROLE regress_admin;
SELECT pg_temp.sqlstate($$SELECT mlops.enable_audit('secrets')$$);
RESET ROLE;
GRANT SELECT ON secrets TO regress_admin;
SET ROLE regress_admin;
SELECT mlops.enable_audit('secrets');
SELECT mlops.disable_audit('secrets');
RESET ROLE;
DROP TABLE secrets;
-- nor one whose rows row-level security hides from it in part: the log
-- would keep them all (nor by a trigger written by hand); its owner may audit it
CREATE TABLE secrets (x int, who name);
ALTER TABLE secrets OWNER TO regress_trainer;
GRANT SELECT, TRIGGER ON secrets TO regress_admin;
ALTER TABLE secrets ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_rows ON secrets USING (who = current_user);
SET ROLE regress_admin;
SELECT pg_temp.sqlstate($$SELECT mlops.enable_audit('secrets')$$, true, true);
SELECT pg_temp.sqlstate($$CREATE TRIGGER mlops_audit AFTER INSERT OR UPDATE OR DELETE ON secrets FOR EACH ROW EXECUTE FUNCTION mlops._audit_trigger()$$, false, true);
RESET ROLE;
SELECT count(*) AS triggers FROM pg_trigger WHERE tgrelid = 'secrets'::regclass;
SET ROLE regress_trainer;
SELECT mlops.enable_audit('secrets');
SELECT mlops.disable_audit('secrets');
RESET ROLE;
DROP TABLE secrets;
-- nor one of a schema it may not use, named by its oid
CREATE SCHEMA hidden;
CREATE TABLE hidden.secrets (x int);
GRANT SELECT ON hidden.secrets TO regress_admin;
SELECT 'hidden.secrets'::regclass::oid AS hidden_secrets \gset
SET ROLE regress_admin;
SELECT pg_temp.sqlstate(format('SELECT mlops.enable_audit(%s)', :hidden_secrets), false, true);
RESET ROLE;
DROP SCHEMA hidden CASCADE;
-- writing the audit row trigger by hand takes the same rights: the TRIGGER
-- privilege on a table is not the right to audit it (nor to read its rows)
CREATE TABLE not_theirs (x int);
GRANT TRIGGER ON not_theirs TO regress_trainer, regress_admin;
SET ROLE regress_trainer;
SELECT pg_temp.sqlstate($$CREATE TRIGGER mlops_audit AFTER INSERT OR UPDATE OR DELETE ON not_theirs FOR EACH ROW EXECUTE FUNCTION mlops._audit_trigger()$$);
RESET ROLE;
SET ROLE regress_admin;
SELECT pg_temp.sqlstate($$CREATE TRIGGER mlops_audit AFTER INSERT OR UPDATE OR DELETE ON not_theirs FOR EACH ROW EXECUTE FUNCTION mlops._audit_trigger()$$, false, true);
RESET ROLE;
SELECT count(*) AS triggers FROM pg_trigger WHERE tgrelid = 'not_theirs'::regclass;
SELECT count(*) AS logged FROM mlops.audit_log WHERE table_oid = 'not_theirs'::regclass;
DROP TABLE not_theirs;
-- a non-superuser owner of the log can neither change it nor switch its protection off
ALTER TABLE mlops.audit_log OWNER TO regress_admin;
SET ROLE regress_admin;
SELECT pg_temp.sqlstate($$UPDATE mlops.audit_log SET op = 'x'$$);
SELECT pg_temp.sqlstate($$DELETE FROM mlops.audit_log$$);
SELECT pg_temp.sqlstate($$TRUNCATE mlops.audit_log$$);
SELECT pg_temp.sqlstate($$ALTER TABLE mlops.audit_log DISABLE TRIGGER audit_log_append_only$$);
-- nor drop, rename or replace its guard triggers, nor add one
SELECT pg_temp.sqlstate($$DROP TRIGGER audit_log_append_only ON mlops.audit_log$$);
SELECT pg_temp.sqlstate($$ALTER TRIGGER audit_log_append_only ON mlops.audit_log RENAME TO unguarded$$);
SELECT pg_temp.sqlstate($$CREATE OR REPLACE TRIGGER audit_log_append_only BEFORE UPDATE ON mlops.audit_log
                           FOR EACH ROW EXECUTE FUNCTION suppress_redundant_updates_trigger()$$);
SELECT pg_temp.sqlstate($$CREATE TRIGGER more BEFORE UPDATE ON mlops.audit_log
                           FOR EACH ROW EXECUTE FUNCTION suppress_redundant_updates_trigger()$$);
SELECT pg_temp.sqlstate($$DELETE FROM mlops.audit_log$$);
RESET ROLE;
ALTER TABLE mlops.audit_log OWNER TO CURRENT_USER;
ALTER TABLE mlops.audit_chain OWNER TO regress_admin;
SET ROLE regress_admin;
SELECT pg_temp.sqlstate($$DROP TRIGGER audit_chain_guarded ON mlops.audit_chain$$);
RESET ROLE;
ALTER TABLE mlops.audit_chain OWNER TO CURRENT_USER;
SELECT tgrelid::regclass, tgname, tgfoid::regproc, tgenabled FROM pg_trigger
 WHERE tgrelid IN ('mlops.audit_log'::regclass, 'mlops.audit_chain'::regclass) ORDER BY 1::text, 2;
-- nor may a superuser change the name or the columns of the log or its anchor,
-- which the trigger writes by number and verify_audit() hashes (a column
-- added and dropped again would make every audited write fail); other
-- changes (storage, options, an index or a primary key) go through, and the
-- log is written as before (below)
SELECT pg_temp.sqlstate($$ALTER TABLE mlops.audit_log ADD COLUMN x int; ALTER TABLE mlops.audit_log DROP COLUMN x$$,
                        false, true);
SELECT pg_temp.sqlstate(q) FROM (VALUES
    ($$ALTER TABLE mlops.audit_log ADD COLUMN x int$$),
    ($$ALTER TABLE mlops.audit_log DROP COLUMN client_addr$$),
    ($$ALTER TABLE mlops.audit_log RENAME COLUMN op TO operation$$),
    ($$ALTER TABLE mlops.audit_log ALTER COLUMN session_user_name TYPE varchar$$),
    ($$ALTER TABLE mlops.audit_log RENAME TO old_log$$),
    ($$ALTER TABLE mlops.audit_log SET SCHEMA public$$),
    ($$ALTER TABLE mlops.audit_chain RENAME COLUMN anchor_id TO id$$),
    ($$ALTER TABLE mlops.audit_chain DROP COLUMN anchor_hash$$),
    ($$ALTER TABLE mlops.audit_log ADD PRIMARY KEY (id)$$),
    ($$ALTER TABLE mlops.audit_log DROP CONSTRAINT audit_log_pkey$$),
    ($$ALTER TABLE mlops.audit_log ALTER COLUMN old_row SET STORAGE EXTERNAL$$),
    ($$ALTER TABLE mlops.audit_log SET (fillfactor = 100)$$)) v(q);
ALTER TABLE mlops.audit_log ALTER COLUMN old_row SET STORAGE EXTENDED;
ALTER TABLE mlops.audit_log RESET (fillfactor);
-- changed with that guard disabled, the log is refused with a clear error
-- (not an internal one) by the next audited write
BEGIN;
ALTER EVENT TRIGGER mlops_audit_ddl DISABLE;
ALTER TABLE mlops.audit_log ADD COLUMN x int;
ALTER TABLE mlops.audit_log DROP COLUMN x;
SELECT pg_temp.sqlstate($$INSERT INTO items (id, name, qty) VALUES (99, 'refused', 1)$$, true);
ROLLBACK;
BEGIN;
ALTER EVENT TRIGGER mlops_audit_ddl DISABLE;
ALTER TABLE mlops.audit_chain ADD COLUMN x int;
SELECT pg_temp.sqlstate($$SELECT mlops.archive_audit(2)$$);
ROLLBACK;

-- indexes added to the log are maintained, expression indexes whose function
-- runs a query of its own included
CREATE FUNCTION op_length(text) RETURNS int LANGUAGE sql IMMUTABLE
    SET search_path = pg_catalog AS 'SELECT length($1)';
CREATE INDEX audit_log_op_length ON mlops.audit_log (op_length(op));
INSERT INTO items (id, name, qty) VALUES (8, 'indexed', 1), (9, 'indexed too', 1);
SET enable_seqscan = off;
SELECT count(*) AS found_by_index FROM mlops.audit_log WHERE op_length(op) = 6 AND new_row ->> 'name' LIKE 'indexed%';
RESET enable_seqscan;
DROP INDEX mlops.audit_log_op_length;
DROP FUNCTION op_length(text);

-- a subtransaction rolled back takes its log rows with it; the chain stays whole
BEGIN;
INSERT INTO items (id, name, qty) VALUES (20, 'kept', 1);
SAVEPOINT s;
INSERT INTO items (id, name, qty) VALUES (21, 'rolled back', 1);
ROLLBACK TO s;
INSERT INTO items (id, name, qty) VALUES (22, 'kept too', 1);
COMMIT;
SELECT new_row ->> 'name' AS name FROM mlops.audit_log WHERE id > (SELECT max(id) - 2 FROM mlops.audit_log) ORDER BY id;
SELECT ok FROM mlops.verify_audit();

-- the trigger writes its log rows in batches (up to 1000 rows), each under the
-- subtransaction it belongs to: the log holds exactly the changes that commit
CREATE TABLE parent (id int PRIMARY KEY, v int);
CREATE TABLE child (id int PRIMARY KEY, parent_id int REFERENCES parent ON DELETE CASCADE);
CREATE TABLE notes (id int PRIMARY KEY);
SELECT mlops.enable_audit('parent'), mlops.enable_audit('child'), mlops.enable_audit('notes');
-- more rows than a batch, read back in the same transaction
BEGIN;
INSERT INTO parent SELECT i, i FROM generate_series(1, 2500) i;
SELECT count(*) AS logged_before_commit FROM mlops.audit_log WHERE table_name = 'public.parent' AND op = 'INSERT';
COMMIT;
-- a statement that fails after a batch of its rows was written, inside a subtransaction
CREATE FUNCTION fail_at_1500() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.v = 1500 THEN RAISE EXCEPTION 'row 1500'; END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER zz_fail AFTER INSERT ON parent FOR EACH ROW EXECUTE FUNCTION fail_at_1500();
DO $$
BEGIN
    INSERT INTO parent SELECT i, i - 2500 FROM generate_series(2501, 4500) i;
EXCEPTION WHEN raise_exception THEN
    RAISE NOTICE 'rolled back at %', SQLERRM;
END $$;
BEGIN;
SAVEPOINT s;
INSERT INTO parent SELECT i, 0 FROM generate_series(5001, 6200) i;
ROLLBACK TO s;
INSERT INTO parent VALUES (6201, 0);
COMMIT;
-- one statement writing two audited tables, whose rows' other trigger writes a
-- third one in subtransactions, one in three of them rolled back
CREATE FUNCTION note() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    BEGIN
        INSERT INTO notes VALUES (NEW.id);
        IF NEW.id % 3 = 0 THEN RAISE EXCEPTION 'not this one'; END IF;
    EXCEPTION WHEN raise_exception THEN NULL;
    END;
    RETURN NULL;
END $$;
CREATE TRIGGER zz_note AFTER INSERT ON child FOR EACH ROW EXECUTE FUNCTION note();
WITH p AS (INSERT INTO parent SELECT i, 0 FROM generate_series(7001, 8200) i RETURNING id)
INSERT INTO child SELECT id, id FROM p;
-- a later trigger of the same statement finds each row's log row
CREATE TABLE seen (id int, logged bigint);
CREATE FUNCTION count_logged() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO seen SELECT NEW.id, count(*) FROM mlops.audit_log
     WHERE table_name = 'public.notes' AND (new_row ->> 'id')::int = NEW.id;
    RETURN NULL;
END $$;
CREATE TRIGGER zz_seen AFTER INSERT ON notes FOR EACH ROW EXECUTE FUNCTION count_logged();
INSERT INTO notes SELECT i FROM generate_series(200001, 200005) i;
SELECT count(*) AS rows, min(logged) AS each_logged_once, max(logged) FROM seen;
DROP TRIGGER zz_seen ON notes;
-- so does a query in a subtransaction that a later trigger opens (an EXCEPTION
-- block), and verify_audit() there finds the log whole; rolled back, that
-- subtransaction takes only its own log rows with it
CREATE TABLE side (id int);
SELECT mlops.enable_audit('side');
CREATE TABLE seen_in_block (id int, logged bigint, verified boolean);
CREATE FUNCTION check_in_block() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
    verified boolean;
BEGIN
    BEGIN
        INSERT INTO side VALUES (NEW.id);
        SELECT count(*) INTO n FROM mlops.audit_log
         WHERE table_name = 'public.notes' AND (new_row ->> 'id')::int = NEW.id;
        SELECT ok INTO verified FROM mlops.verify_audit();
        IF NEW.id % 2 = 0 THEN RAISE EXCEPTION 'undo'; END IF;
    EXCEPTION WHEN raise_exception THEN NULL;
    END;
    INSERT INTO seen_in_block VALUES (NEW.id, n, verified);
    RETURN NULL;
END $$;
CREATE TRIGGER zz_check AFTER INSERT ON notes FOR EACH ROW EXECUTE FUNCTION check_in_block();
INSERT INTO notes SELECT i FROM generate_series(200011, 200016) i;
SELECT count(*) AS rows, min(logged) AS each_logged_once, max(logged), bool_and(verified) AS verified FROM seen_in_block;
SELECT table_name, new_row ->> 'id' AS id FROM log WHERE id > (SELECT max(id) - 9 FROM log) ORDER BY log.id;
SELECT ok FROM mlops.verify_audit();
DROP TRIGGER zz_check ON notes;
DROP TABLE side, seen_in_block;
-- a cascade, a deferred trigger, COPY read back in its transaction
DELETE FROM parent WHERE id BETWEEN 7001 AND 7010;
CREATE FUNCTION note_later() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO notes VALUES (-NEW.id);
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER later AFTER INSERT ON parent DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION note_later();
BEGIN;
INSERT INTO parent VALUES (9001, 0), (9002, 0);
COPY notes FROM stdin;
100001
100002
\.
SELECT count(*) AS copied_and_logged FROM mlops.audit_log WHERE table_name = 'public.notes' AND (new_row ->> 'id')::int BETWEEN 100001 AND 100002;
COMMIT;
-- every row of the three tables is in the log once, nothing else is
CREATE VIEW net_logged AS
SELECT table_name, (coalesce(old_row, new_row) ->> 'id')::int AS id,
       sum(CASE op WHEN 'INSERT' THEN 1 WHEN 'DELETE' THEN -1 ELSE 0 END) AS n
  FROM mlops.audit_log WHERE table_name IN ('public.parent', 'public.child', 'public.notes')
 GROUP BY 1, 2 HAVING sum(CASE op WHEN 'INSERT' THEN 1 WHEN 'DELETE' THEN -1 ELSE 0 END) <> 0;
SELECT (SELECT count(*) FROM parent) AS parent, (SELECT count(*) FROM child) AS child, (SELECT count(*) FROM notes) AS notes;
WITH tables AS (SELECT 'public.parent' AS table_name, id FROM parent
                UNION ALL SELECT 'public.child', id FROM child
                UNION ALL SELECT 'public.notes', id FROM notes)
SELECT count(*) AS differences FROM tables t FULL JOIN net_logged l USING (table_name, id)
 WHERE t.id IS NULL OR l.id IS NULL OR l.n <> 1;
SELECT ok FROM mlops.verify_audit();
DROP TABLE child, parent, notes, seen CASCADE;
DROP VIEW net_logged;

-- a superuser who disables the protection and edits, removes or adds a row is found out
ALTER TABLE mlops.audit_log DISABLE TRIGGER audit_log_append_only;
UPDATE mlops.audit_log SET new_row = jsonb_set(new_row, '{qty}', '30') WHERE id = 6;
SELECT * FROM mlops.verify_audit();
-- archiving refuses such a log, and removes nothing: the altered row would go
-- out of sight with the prefix
SELECT pg_temp.sqlstate($$SELECT mlops.archive_audit(10)$$, true, true);
SELECT min(id) AS first_kept, (SELECT anchor_id FROM mlops.audit_chain) AS anchor_id FROM mlops.audit_log;
UPDATE mlops.audit_log SET new_row = jsonb_set(new_row, '{qty}', '3') WHERE id = 6;
SELECT ok FROM mlops.verify_audit();
CREATE TEMP TABLE saved AS SELECT * FROM mlops.audit_log WHERE id = 8;
DELETE FROM mlops.audit_log WHERE id = 8;
SELECT * FROM mlops.verify_audit();
INSERT INTO mlops.audit_log SELECT * FROM saved;
SELECT ok FROM mlops.verify_audit();
INSERT INTO mlops.audit_log SELECT id + 1, at, txid, table_oid, table_name, op, old_row, new_row, changed_columns,
       session_user_name, current_user_name, application_name, client_addr, hash, hash
  FROM mlops.audit_log WHERE id = (SELECT max(id) FROM mlops.audit_log);
SELECT ok, first_bad_id = (SELECT max(id) FROM mlops.audit_log) AS last_row_is_bad FROM mlops.verify_audit();
DELETE FROM mlops.audit_log WHERE id = (SELECT max(id) FROM mlops.audit_log);
-- so are the first rows removed with the anchor moved over them (as archiving
-- does, but not logged): before any archiving, the anchor is the zero one
BEGIN;
ALTER TABLE mlops.audit_chain DISABLE TRIGGER audit_chain_guarded;
DELETE FROM mlops.audit_log WHERE id <= 3;
UPDATE mlops.audit_chain SET anchor_id = 3, anchor_hash = (SELECT prev_hash FROM mlops.audit_log WHERE id = 4);
SELECT * FROM mlops.verify_audit();
ROLLBACK;
ALTER TABLE mlops.audit_log ENABLE ALWAYS TRIGGER audit_log_append_only;

-- archiving a prefix keeps the rest verifiable, and is itself logged
SELECT mlops.archive_audit(10) AS archived;
SELECT anchor_id FROM mlops.audit_chain;
SELECT min(id) FROM mlops.audit_log;
SELECT table_name, op, new_row - 'anchor_hash' AS detail FROM mlops.audit_log WHERE id = (SELECT max(id) FROM mlops.audit_log);
SELECT ok FROM mlops.verify_audit();
INSERT INTO items (id, name, qty) VALUES (30, 'after archive', 1);
SELECT ok FROM mlops.verify_audit();
-- the chain goes on from the rows that stay: not those of a savepoint rolled
-- back, nor those of a transaction rolled back, even once VACUUM has freed
-- their space (the log is only ever written at its end)
BEGIN;
INSERT INTO items (id, name, qty) VALUES (31, 'kept', 1);
SAVEPOINT s;
INSERT INTO items (id, name, qty) VALUES (32, 'rolled back', 1);
SAVEPOINT t;
INSERT INTO items (id, name, qty) VALUES (33, 'rolled back', 1);
ROLLBACK TO s;
INSERT INTO items (id, name, qty) VALUES (34, 'kept', 1);
COMMIT;
BEGIN;
INSERT INTO items (id, name, qty) SELECT i, 'rolled back', 1 FROM generate_series(35, 2034) i;
ROLLBACK;
SELECT (mlops.audit_head()).id = (SELECT max(id) FROM mlops.audit_log) AS head_before_rolled_back_rows;
INSERT INTO items (id, name, qty) VALUES (35, 'after', 1);
VACUUM mlops.audit_log;
INSERT INTO items (id, name, qty) VALUES (36, 'kept', 1);
INSERT INTO items (id, name, qty) VALUES (37, 'kept', 1);
SELECT id - lag(id) OVER (ORDER BY id) AS step, new_row ->> 'name' AS name, prev_hash = lag(hash) OVER (ORDER BY id) AS chained
  FROM mlops.audit_log WHERE id >= (SELECT max(id) - 3 FROM mlops.audit_log) ORDER BY id;
SELECT ok FROM mlops.verify_audit();
-- audit_head() reads the head from the end of the log: the last row's id
-- and hash, as the statement sees them, those of the writing transaction
-- included
SELECT h.id = l.id AS same_id, h.hash = l.hash AS same_hash
  FROM mlops.audit_head() h, (SELECT id, hash FROM mlops.audit_log ORDER BY id DESC LIMIT 1) l;
BEGIN;
INSERT INTO items (id, name, qty) VALUES (39, 'not yet committed', 1);
SELECT h.id = l.id AS same_id, h.hash = l.hash AS same_hash
  FROM mlops.audit_head() h, (SELECT id, hash FROM mlops.audit_log ORDER BY id DESC LIMIT 1) l;
ROLLBACK;
SELECT provolatile, proparallel FROM pg_proc WHERE oid = 'mlops.audit_head'::regproc;
-- VACUUM FULL gives that space back (or that of rows archive_audit removed),
-- keeping the rows in their order
SELECT pg_relation_size('mlops.audit_log') AS before \gset
VACUUM FULL mlops.audit_log;
SELECT pg_relation_size('mlops.audit_log') < :before AS smaller;
INSERT INTO items (id, name, qty) VALUES (38, 'kept', 1);
SELECT ok FROM mlops.verify_audit();
-- after it, the one the newest ARCHIVE row names
BEGIN;
ALTER TABLE mlops.audit_log DISABLE TRIGGER audit_log_append_only;
ALTER TABLE mlops.audit_chain DISABLE TRIGGER audit_chain_guarded;
DELETE FROM mlops.audit_log WHERE id <= 11;
UPDATE mlops.audit_chain SET anchor_id = 11, anchor_hash = (SELECT prev_hash FROM mlops.audit_log WHERE id = 12);
SELECT * FROM mlops.verify_audit();
ROLLBACK;
SELECT pg_temp.sqlstate($$SELECT mlops.archive_audit(10)$$);        -- already archived
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT pg_temp.sqlstate($$SELECT mlops.archive_audit(12)$$);
ROLLBACK;
BEGIN ISOLATION LEVEL SERIALIZABLE;
SELECT pg_temp.sqlstate($$SELECT mlops.archive_audit(12)$$);
ROLLBACK;
BEGIN READ ONLY;                                                     -- as on a hot standby
SELECT pg_temp.sqlstate($$SELECT mlops.archive_audit(12)$$);
ROLLBACK;
-- its queries take no operator from a schema the caller's search_path lists
-- before pg_catalog (which would run as the superuser that archives), and
-- leave that search_path as it was
BEGIN;
CREATE SCHEMA trap;
CREATE FUNCTION trap.lt(bigint, bigint) RETURNS boolean LANGUAGE plpgsql
    AS $$BEGIN RAISE EXCEPTION 'trap.< ran'; END$$;
CREATE OPERATOR trap.< (FUNCTION = trap.lt, LEFTARG = bigint, RIGHTARG = bigint);
SET LOCAL search_path = trap, pg_catalog, public;
SELECT mlops.archive_audit(12) AS archived;
SHOW search_path;
ROLLBACK;

-- the rows of one statement that change different columns: each lists its own
INSERT INTO items (id, name, qty, price) SELECT i, 'nut', 1, 1 FROM generate_series(50, 53) i;
UPDATE items SET name = CASE WHEN id IN (50, 53) THEN 'rivet' ELSE name END,
                 qty = CASE WHEN id IN (50, 51, 52) THEN 7 ELSE qty END
 WHERE id BETWEEN 50 AND 53;
SELECT old_row -> 'id' AS item, new_row, changed_columns FROM log WHERE id > (SELECT max(id) - 4 FROM log) ORDER BY 1;

-- an UPDATE's new_row holds the changed columns alone, with their new values
-- (keys in jsonb's order): the whole new row is old_row || new_row, without the
-- ignored columns, whatever changed (NULL to a value and back, a TOASTed value
-- or another column beside it, an ignored column with an audited one), in a
-- partition that keeps its columns in another order too; the text hashed is
-- new_row's own
CREATE TABLE diffed (id int, k text, "Q ""x""" jsonb, big text, secret int, n numeric) PARTITION BY LIST (id);
CREATE TABLE diffed_1 PARTITION OF diffed FOR VALUES IN (1);
CREATE TABLE diffed_2 (secret int, n numeric, big text, "Q ""x""" jsonb, k text, id int);
ALTER TABLE diffed ATTACH PARTITION diffed_2 FOR VALUES IN (2);
ALTER TABLE diffed ALTER COLUMN big SET STORAGE EXTERNAL;   -- stored out of line, uncompressed
SELECT mlops.enable_audit('diffed', '{secret}');
CREATE TABLE diffed_seen (log_id bigint, whole jsonb);
CREATE FUNCTION diffed_seen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO diffed_seen SELECT max(id), to_jsonb(NEW) - 'secret' FROM mlops.audit_log;
    RETURN NULL;
END $$;
CREATE TRIGGER zz_seen AFTER UPDATE ON diffed FOR EACH ROW EXECUTE FUNCTION diffed_seen();
INSERT INTO diffed VALUES (1, NULL, '{"a": [1]}', repeat('b', 300000), 0, 1.50), (2, 'two', NULL, repeat('c', 300000), 0, 2);
UPDATE diffed SET k = 'set';                                  -- NULL to a value, and a value changed
UPDATE diffed SET k = NULL WHERE id = 1;                      -- a value to NULL
UPDATE diffed SET n = 1.5 WHERE id = 1;                       -- 1.50 to 1.5 (other bytes): a change
UPDATE diffed SET "Q ""x""" = '{"b": "\u0001"}', n = 3;       -- the TOASTed value unchanged
UPDATE diffed SET big = big || 'z', k = 'é';                  -- the TOASTed value changed
UPDATE diffed SET secret = 5, n = NULL WHERE id = 2;          -- an ignored column with an audited one
SELECT l.table_name, l.changed_columns, l.new_row - 'big' AS new_row, length(l.new_row ->> 'big') AS new_big,
       l.old_row || l.new_row = s.whole AS whole_new_row
  FROM log l LEFT JOIN diffed_seen s ON s.log_id = l.id
 WHERE l.table_name LIKE 'public.diffed%' AND l.op = 'UPDATE' ORDER BY l.id;
-- every UPDATE logged by this suite: new_row's keys are changed_columns, each
-- value changed; verify_audit() hashes new_row's text as jsonb prints it
SELECT count(*) AS updates,
       count(*) FILTER (WHERE ARRAY(SELECT jsonb_object_keys(new_row) ORDER BY 1)
                               = ARRAY(SELECT unnest(changed_columns) ORDER BY 1)) AS keys_are_changed_columns,
       count(*) FILTER (WHERE NOT EXISTS (SELECT FROM jsonb_each(new_row) e
                                           WHERE (old_row -> e.key)::text IS NOT DISTINCT FROM e.value::text))
           AS every_value_changed
  FROM mlops.audit_log WHERE op = 'UPDATE';
SELECT ok FROM mlops.verify_audit();
DROP TABLE diffed, diffed_seen;
DROP FUNCTION diffed_seen();

-- every partition gets the TRUNCATE trigger: several at once (auditing a
-- table with partitions, attaching a partitioned one), and a partition created
-- by CREATE SCHEMA
CREATE TABLE parts (id int) PARTITION BY RANGE (id);
CREATE TABLE parts_a PARTITION OF parts FOR VALUES FROM (0) TO (10);
CREATE TABLE parts_b PARTITION OF parts FOR VALUES FROM (10) TO (20);
SELECT mlops.enable_audit('parts');
CREATE TABLE parts_c (id int) PARTITION BY RANGE (id);
CREATE TABLE parts_c1 PARTITION OF parts_c FOR VALUES FROM (20) TO (25);
CREATE TABLE parts_c2 PARTITION OF parts_c FOR VALUES FROM (25) TO (30);
ALTER TABLE parts ATTACH PARTITION parts_c FOR VALUES FROM (20) TO (30);
CREATE SCHEMA parts_more CREATE TABLE parts_d PARTITION OF public.parts FOR VALUES FROM (30) TO (40);
SELECT p.relid AS partition, t.tgenabled AS truncate_trigger
  FROM pg_partition_tree('parts') p
  LEFT JOIN pg_trigger t ON t.tgrelid = p.relid AND t.tgname = 'mlops_audit_truncate'
 ORDER BY p.relid::text;
INSERT INTO parts VALUES (35);
TRUNCATE parts_more.parts_d;
SELECT table_name, op FROM log WHERE id > (SELECT max(id) - 2 FROM log) ORDER BY id;
DROP TABLE parts;
DROP SCHEMA parts_more;

-- ignored columns follow a column renamed, and forget one dropped: a renamed
-- ignored column stays out of the log, no other column is hidden by taking its
-- name (each change of the ignored columns is logged as DISABLE and ENABLE)
CREATE TABLE staff (id int, salary int, note text);
SELECT mlops.enable_audit('staff', '{salary}');
ALTER TABLE staff RENAME COLUMN salary TO pay;
INSERT INTO staff VALUES (1, 100, 'a');
ALTER TABLE staff RENAME COLUMN note TO salary;
UPDATE staff SET salary = 'b', pay = 200;
ALTER TABLE staff DROP COLUMN pay;
ALTER TABLE staff ADD COLUMN pay int;
UPDATE staff SET pay = 300;
SELECT op, new_row, changed_columns FROM log WHERE table_name = 'public.staff' ORDER BY id;
-- in a partitioned table and a table that inherits the column too
CREATE TABLE staff_parted (id int, salary int) PARTITION BY RANGE (id);
CREATE TABLE staff_parted_1 PARTITION OF staff_parted FOR VALUES FROM (0) TO (10);
SELECT mlops.enable_audit('staff_parted', '{salary}');
CREATE TABLE staff_base (id int, salary int);
CREATE TABLE staff_child (extra int) INHERITS (staff_base);
SELECT mlops.enable_audit('staff_child', '{salary}');
ALTER TABLE staff_parted RENAME COLUMN salary TO pay;
ALTER TABLE staff_base RENAME COLUMN salary TO pay;
INSERT INTO staff_parted VALUES (1, 100);
INSERT INTO staff_child VALUES (1, 100, 1);
SELECT table_name, new_row FROM log WHERE id > (SELECT max(id) - 2 FROM log) ORDER BY id;
-- the triggers replaced: DISABLE and ENABLE of the partitioned table alone,
-- whose rows cover its partition's triggers too
SELECT table_name, op, new_row FROM log WHERE table_name LIKE 'public.staff_parted%' AND op IN ('ENABLE', 'DISABLE')
 ORDER BY id;
-- an ignored column that a cascade drops (DROP TYPE, or DROP EXTENSION of
-- the extension of its type) is forgotten too: a column added under its name is logged
CREATE TYPE wage AS (amount int);
CREATE TABLE payroll (id int, pay wage);
SELECT mlops.enable_audit('payroll', '{pay}');
DROP TYPE wage CASCADE;
ALTER TABLE payroll ADD COLUMN pay int;
INSERT INTO payroll VALUES (1, 300);
SELECT op, new_row FROM log WHERE table_name = 'public.payroll' ORDER BY id;

-- ALTER COLUMN ... TYPE that converts the stored values rewrites every row
-- without firing a trigger (USING may set them to anything): refused on an
-- audited table, a partitioned one included, whatever the column; a change
-- that keeps the stored bytes (no rewrite), and other rewrites, are not
CREATE TABLE accounts (id int, balance int, note varchar(10));
SELECT mlops.enable_audit('accounts');
INSERT INTO accounts VALUES (1, 100, 'a');
SELECT max(id) AS before_rewrite FROM mlops.audit_log \gset
SELECT pg_temp.sqlstate($$ALTER TABLE accounts ALTER COLUMN balance TYPE int USING 0$$);
SELECT pg_temp.sqlstate($$ALTER TABLE accounts ALTER COLUMN balance TYPE bigint$$);
SELECT pg_temp.sqlstate($$ALTER TABLE measures ALTER COLUMN v TYPE int USING v * 2$$);
SELECT pg_temp.sqlstate($$ALTER TABLE staff_parted ALTER COLUMN pay TYPE int USING 0$$);  -- even an ignored column
ALTER TABLE accounts ALTER COLUMN note TYPE varchar(20), ADD COLUMN added float8 DEFAULT random();
ALTER TABLE accounts SET UNLOGGED;
SELECT id, balance, note FROM accounts;
SELECT count(*) AS logged FROM mlops.audit_log WHERE id > :before_rewrite;
-- around disable_audit / enable_audit (both logged) it goes through
SELECT mlops.disable_audit('accounts');
ALTER TABLE accounts ALTER COLUMN balance TYPE int USING 0;
SELECT mlops.enable_audit('accounts');
SELECT table_name, op FROM log WHERE id > :before_rewrite ORDER BY id;

-- dropping an audited column takes its values out of every row unlogged, and
-- a column added back under its name with a volatile default sets them anew:
-- refused too, for a partitioned table and a cascade's drop (DROP DOMAIN) as
-- well; an ignored column is dropped (above)
CREATE DOMAIN cents AS int;
CREATE TABLE ledger (id int, amount cents, memo text);
SELECT mlops.enable_audit('ledger', '{memo}');
INSERT INTO ledger VALUES (1, 100, 'a');
SELECT max(id) AS before_drop FROM mlops.audit_log \gset
SELECT pg_temp.sqlstate($$ALTER TABLE ledger DROP COLUMN id, ADD COLUMN id int DEFAULT 7$$);
SELECT pg_temp.sqlstate($$ALTER TABLE measures DROP COLUMN v$$);
SELECT pg_temp.sqlstate($$DROP DOMAIN cents CASCADE$$);
ALTER TABLE ledger DROP COLUMN memo;
SELECT * FROM ledger;
-- around disable_audit / enable_audit (both logged) it goes through
SELECT mlops.disable_audit('ledger');
DROP DOMAIN cents CASCADE;
SELECT mlops.enable_audit('ledger');
SELECT table_name, op FROM log WHERE id > :before_drop ORDER BY id;
DROP TABLE ledger;
-- so is a drop that takes values from inside an audited column: an attribute
-- of its composite type (through an array or a domain too), or a column of
-- the table whose row type it is; unless only ignored columns hold them
CREATE TYPE point3 AS (x int, y int, z int);
CREATE DOMAIN point3_d AS point3;
CREATE TABLE point_rows (x int, y int);
CREATE TABLE shapes (id int, corners point3[], centre point3_d, tag point3, origin point_rows);
INSERT INTO shapes VALUES (1, ARRAY[ROW(1, 2, 3)::point3], ROW(4, 5, 6), ROW(7, 8, 9), ROW(0, 0));
SELECT mlops.enable_audit('shapes', '{tag}');
SELECT pg_temp.sqlstate($$ALTER TYPE point3 DROP ATTRIBUTE z$$);
SELECT pg_temp.sqlstate($$ALTER TABLE point_rows DROP COLUMN y$$);
SELECT mlops.enable_audit('shapes', '{corners,tag,origin}');
SELECT pg_temp.sqlstate($$ALTER TYPE point3 DROP ATTRIBUTE z$$);
SELECT mlops.enable_audit('shapes', '{corners,centre,tag,origin}');
ALTER TYPE point3 DROP ATTRIBUTE z;
ALTER TABLE point_rows DROP COLUMN y;
SELECT * FROM shapes;
DROP TABLE shapes, point_rows;
DROP DOMAIN point3_d;
DROP TYPE point3;

-- a partition detached from an audited table is not audited any more, which is
-- logged; it keeps no audit trigger (disable_audit has nothing to remove)
CREATE TABLE sales (region text, amount int) PARTITION BY LIST (region);
CREATE TABLE sales_eu PARTITION OF sales FOR VALUES IN ('eu');
CREATE TABLE sales_us PARTITION OF sales FOR VALUES IN ('us');
SELECT mlops.enable_audit('sales');
ALTER TABLE sales DETACH PARTITION sales_eu;
SELECT tgname FROM pg_trigger WHERE tgrelid = 'sales_eu'::regclass;
INSERT INTO sales_eu VALUES ('eu', 1);
TRUNCATE sales_eu;
SELECT table_name, op FROM log WHERE id > (SELECT max(id) - 2 FROM log) ORDER BY id;
SELECT pg_temp.sqlstate($$SELECT mlops.disable_audit('sales_eu')$$);
-- and a table attached to one is, with the rows it brings (no trigger logs
-- them), logged as ENABLE: itself and the tables under it
CREATE TABLE sales_af (region text, amount int);
INSERT INTO sales_af VALUES ('af', 2);
CREATE TABLE sales_asia (region text, amount int) PARTITION BY LIST (region);
CREATE TABLE sales_asia_jp PARTITION OF sales_asia FOR VALUES IN ('jp');
INSERT INTO sales_asia VALUES ('jp', 3);
SELECT max(id) AS before_attach FROM mlops.audit_log \gset
ALTER TABLE sales ATTACH PARTITION sales_af FOR VALUES IN ('af');
ALTER TABLE sales ATTACH PARTITION sales_asia FOR VALUES IN ('jp', 'cn');
CREATE TABLE staff_parted_2 (id int, pay int);
ALTER TABLE staff_parted ATTACH PARTITION staff_parted_2 FOR VALUES FROM (10) TO (20);   -- its ignored columns
-- an audited table attached to a partitioned table that is not audited stays
-- audited as it was: nothing to log
CREATE TABLE unaudited_parent (id int) PARTITION BY RANGE (id);
CREATE TABLE audited_child (id int);
SELECT mlops.enable_audit('audited_child');
SELECT max(id) AS before_own FROM mlops.audit_log \gset
ALTER TABLE unaudited_parent ATTACH PARTITION audited_child FOR VALUES FROM (0) TO (10);
SELECT count(*) AS logged FROM log WHERE id > :before_own;
SELECT table_name, op, new_row FROM log WHERE id > :before_attach AND id <= :before_own - 1 ORDER BY id;
DROP TABLE unaudited_parent;

-- the audit triggers keep their names (renamed, they would stop auditing
-- unlogged), and the TRUNCATE trigger goes with the row trigger only: dropped
-- on its own (as pg_restore --clean does first), it comes back enabled ALWAYS
CREATE TABLE guarded (x int);
SELECT mlops.enable_audit('guarded');
SELECT pg_temp.sqlstate($$ALTER TRIGGER mlops_audit ON guarded RENAME TO hidden$$);
SELECT pg_temp.sqlstate($$ALTER TRIGGER mlops_audit_truncate ON guarded RENAME TO hidden$$);
SELECT max(id) AS before_drops FROM mlops.audit_log \gset
DROP TRIGGER mlops_audit_truncate ON guarded;
SELECT pg_temp.sqlstate($$ALTER TRIGGER mlops_audit ON sales RENAME TO hidden$$);
DROP TRIGGER mlops_audit_truncate ON sales_us;
DROP TRIGGER mlops_audit_truncate ON sales;
SELECT tgrelid::regclass, tgname, tgenabled FROM pg_trigger
 WHERE tgrelid IN ('guarded'::regclass, 'sales'::regclass, 'sales_us'::regclass) ORDER BY 1, 2;
TRUNCATE guarded, sales_us;
SELECT table_name, op FROM log WHERE id > :before_drops ORDER BY id;
-- a dump's CREATE TRIGGER of the very TRUNCATE trigger auditing made replaces
-- it, for the table's owner (pg_restore of an audited partitioned table,
-- whose partitions get it as soon as the row trigger is enabled); any other
-- definition, or another role, still finds it there
CREATE TRIGGER mlops_audit_truncate AFTER TRUNCATE ON sales_us FOR EACH STATEMENT EXECUTE FUNCTION mlops._audit_trigger();
SELECT tgenabled FROM pg_trigger WHERE tgrelid = 'sales_us'::regclass AND tgname = 'mlops_audit_truncate';
SELECT pg_temp.sqlstate($$CREATE TRIGGER mlops_audit_truncate BEFORE TRUNCATE ON sales_us FOR EACH STATEMENT EXECUTE FUNCTION mlops._audit_trigger()$$);
SELECT pg_temp.sqlstate($$CREATE TRIGGER mlops_audit_truncate AFTER TRUNCATE ON sales_us FOR EACH STATEMENT EXECUTE FUNCTION mlops._audit_trigger('x')$$);
GRANT TRIGGER ON sales_us TO regress_trainer;
SET ROLE regress_trainer;
SELECT pg_temp.sqlstate($$CREATE TRIGGER mlops_audit_truncate AFTER TRUNCATE ON sales_us FOR EACH STATEMENT EXECUTE FUNCTION mlops._audit_trigger()$$);
RESET ROLE;
REVOKE TRIGGER ON sales_us FROM regress_trainer;
-- nor does CREATE OR REPLACE TRIGGER change an audit trigger unlogged (its
-- ignored columns, its ENABLE ALWAYS)
SELECT pg_temp.sqlstate($$CREATE OR REPLACE TRIGGER mlops_audit AFTER INSERT OR UPDATE OR DELETE ON guarded FOR EACH ROW EXECUTE FUNCTION mlops._audit_trigger('x')$$);
SELECT pg_temp.sqlstate($$CREATE OR REPLACE TRIGGER mlops_audit_truncate AFTER TRUNCATE ON guarded FOR EACH STATEMENT EXECUTE FUNCTION mlops._audit_trigger()$$);
SELECT tgname, tgenabled, tgnargs FROM pg_trigger WHERE tgrelid = 'guarded'::regclass ORDER BY 1;
-- a CREATE TRIGGER of the row trigger begins auditing (logged as ENABLE): one
-- defined otherwise than auditing defines it (a condition, some events or
-- columns only, deferred) would leave changes of a table the log calls
-- audited unlogged, and is refused, as is a TRUNCATE trigger with a
-- condition; the one auditing defines audits the table as enable_audit does
-- (its TRUNCATE trigger too, both enabled ALWAYS)
CREATE TABLE hand_made (id int, v text);
SELECT q, pg_temp.sqlstate(q) AS outcome FROM (VALUES
    ($$CREATE TRIGGER mlops_audit AFTER INSERT OR UPDATE OR DELETE ON hand_made FOR EACH ROW WHEN (false) EXECUTE FUNCTION mlops._audit_trigger()$$),
    ($$CREATE TRIGGER mlops_audit AFTER INSERT ON hand_made FOR EACH ROW EXECUTE FUNCTION mlops._audit_trigger()$$),
    ($$CREATE TRIGGER mlops_audit AFTER INSERT OR UPDATE OF v OR DELETE ON hand_made FOR EACH ROW EXECUTE FUNCTION mlops._audit_trigger()$$),
    ($$CREATE CONSTRAINT TRIGGER mlops_audit AFTER INSERT OR UPDATE OR DELETE ON hand_made DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION mlops._audit_trigger()$$),
    ($$CREATE TRIGGER mlops_audit_truncate AFTER TRUNCATE ON hand_made FOR EACH STATEMENT WHEN (false) EXECUTE FUNCTION mlops._audit_trigger()$$)) v(q);
CREATE TEMP TABLE hand_made_temp (id int);
SELECT pg_temp.sqlstate($$CREATE TRIGGER mlops_audit AFTER INSERT OR UPDATE OR DELETE ON hand_made_temp FOR EACH ROW EXECUTE FUNCTION mlops._audit_trigger()$$);
SELECT max(id) AS before_hand_made FROM mlops.audit_log \gset
CREATE TRIGGER mlops_audit AFTER INSERT OR UPDATE OR DELETE ON hand_made FOR EACH ROW EXECUTE FUNCTION mlops._audit_trigger('v');
SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid = 'hand_made'::regclass ORDER BY 1;
INSERT INTO hand_made VALUES (1, 'x');
TRUNCATE hand_made;
SELECT table_name, op, new_row FROM log WHERE id > :before_hand_made ORDER BY id;
DROP TABLE hand_made, hand_made_temp;
CREATE FUNCTION nothing() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NULL; END';
CREATE TRIGGER other AFTER INSERT ON sales_eu FOR EACH ROW EXECUTE FUNCTION nothing();
SELECT pg_temp.sqlstate($$ALTER TRIGGER other ON sales_eu RENAME TO mlops_audit$$);
SELECT pg_temp.sqlstate($$ALTER TRIGGER other ON sales_eu RENAME TO mlops_audit_truncate$$);
-- the audit function runs as the audit triggers only: under another name, a
-- trigger of it would log each change of an audited table a second time, or
-- audit a table behind disable_audit's back
CREATE TABLE audited_once (x int);
SELECT mlops.enable_audit('audited_once');
SELECT q, pg_temp.sqlstate(q, true, true) AS outcome FROM (VALUES
    ($$CREATE TRIGGER again AFTER INSERT OR UPDATE OR DELETE ON audited_once FOR EACH ROW EXECUTE FUNCTION mlops._audit_trigger()$$),
    ($$CREATE TRIGGER never AFTER INSERT OR UPDATE OR DELETE ON audited_once FOR EACH ROW WHEN (false) EXECUTE FUNCTION mlops._audit_trigger()$$),
    ($$CREATE TRIGGER never_truncate AFTER TRUNCATE ON audited_once FOR EACH STATEMENT EXECUTE FUNCTION mlops._audit_trigger()$$),
    ($$CREATE TRIGGER again AFTER INSERT ON sales_eu FOR EACH ROW EXECUTE FUNCTION mlops._audit_trigger()$$)) v(q);
SELECT max(id) AS before_once FROM mlops.audit_log \gset
INSERT INTO audited_once VALUES (1);
SELECT table_name, op, new_row FROM log WHERE id > :before_once ORDER BY id;
SELECT tgname FROM pg_trigger WHERE tgrelid IN ('audited_once'::regclass, 'sales_eu'::regclass) ORDER BY 1;
DROP TABLE audited_once;
DROP TRIGGER mlops_audit ON guarded;
SELECT tgname FROM pg_trigger WHERE tgrelid = 'guarded'::regclass;
SELECT table_name, op FROM log WHERE id = (SELECT max(id) FROM log);
DROP TABLE staff, staff_parted, staff_base, staff_child, sales, sales_eu, guarded;
DROP FUNCTION nothing();

-- a json value that jsonb cannot hold (\u0000, a number beyond numeric) cannot
-- be logged: the change fails, and its error says which column of which table
CREATE TABLE raw_json (id int, j json);
INSERT INTO raw_json VALUES (1, '{"a": "\u0000"}'), (2, '[1e200000]');
SELECT mlops.enable_audit('raw_json');
CREATE FUNCTION pg_temp.audit_context(query text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    ctx text;
BEGIN
    EXECUTE query;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS ctx = PG_EXCEPTION_CONTEXT;
    RETURN SQLSTATE || ': ' || SQLERRM || ' / ' ||
           coalesce((SELECT string_agg(l, ' / ') FROM regexp_split_to_table(ctx, E'\n') l WHERE l LIKE '%audit_log%'), 'no audit context');
END
$$;
SELECT pg_temp.audit_context($$UPDATE raw_json SET id = 3 WHERE id = 1$$);
SELECT pg_temp.audit_context($$DELETE FROM raw_json WHERE id = 2$$);
SELECT pg_temp.audit_context($$INSERT INTO raw_json VALUES (4, '"\u0000"')$$);
-- disabled around it, the rows can be changed (logged as DISABLE and ENABLE)
SELECT mlops.disable_audit('raw_json');
DELETE FROM raw_json;
SELECT mlops.enable_audit('raw_json');
DROP TABLE raw_json;

-- a partitioned table with foreign partitions (see "Scaling out") can be
-- audited: its foreign partitions (which cannot have a TRUNCATE trigger) are
-- covered by the row trigger only
CREATE EXTENSION postgres_fdw;
CREATE SERVER elsewhere FOREIGN DATA WRAPPER postgres_fdw OPTIONS (dbname 'nowhere');
CREATE TABLE sharded (id int, v text) PARTITION BY LIST (id);
CREATE TABLE sharded_local PARTITION OF sharded FOR VALUES IN (1);
CREATE FOREIGN TABLE sharded_remote PARTITION OF sharded FOR VALUES IN (2) SERVER elsewhere;
SELECT pg_temp.sqlstate($$SELECT mlops.enable_audit('sharded')$$);
-- whose row trigger, which logs the changes made through it, stays enabled
-- ALWAYS, by ALTER FOREIGN TABLE too
SELECT pg_temp.sqlstate($$ALTER FOREIGN TABLE sharded_remote DISABLE TRIGGER mlops_audit$$);
SELECT pg_temp.sqlstate($$ALTER TABLE sharded_remote ENABLE TRIGGER mlops_audit$$);
SELECT tgenabled FROM pg_trigger WHERE tgrelid = 'sharded_remote'::regclass AND tgname = 'mlops_audit';
-- a foreign table is audited only as a partition, by CREATE TRIGGER too
CREATE FOREIGN TABLE remote_alone (id int) SERVER elsewhere;
SELECT pg_temp.sqlstate($$CREATE TRIGGER mlops_audit AFTER INSERT OR UPDATE OR DELETE ON remote_alone FOR EACH ROW EXECUTE FUNCTION mlops._audit_trigger()$$);
DROP FOREIGN TABLE remote_alone;
CREATE FOREIGN TABLE sharded_remote2 (id int, v text) SERVER elsewhere;
SELECT pg_temp.sqlstate($$ALTER TABLE sharded ATTACH PARTITION sharded_remote2 FOR VALUES IN (3)$$);
SELECT c.relname, array_agg(t.tgname ORDER BY t.tgname) AS triggers
  FROM pg_partition_tree('sharded') p JOIN pg_class c ON c.oid = p.relid
  LEFT JOIN pg_trigger t ON t.tgrelid = p.relid AND t.tgname LIKE 'mlops_audit%'
 GROUP BY c.relname ORDER BY c.relname;
DROP TABLE sharded;
SELECT table_name, op FROM log WHERE id > (SELECT max(id) - 4 FROM log) ORDER BY id;
DROP SERVER elsewhere;
DROP EXTENSION postgres_fdw;

-- a timestamptz is written in UTC whatever the time zone of the moment, changed
-- by another trigger of the same statement included
SET TimeZone = 'UTC';
CREATE TABLE zoned (id int, at timestamptz);
SELECT mlops.enable_audit('zoned');
CREATE FUNCTION to_tokyo() RETURNS trigger LANGUAGE plpgsql
    AS $$BEGIN PERFORM set_config('TimeZone', 'Asia/Tokyo', false); RETURN NULL; END$$;
CREATE TRIGGER next_zone AFTER INSERT ON zoned FOR EACH ROW EXECUTE FUNCTION to_tokyo();
INSERT INTO zoned VALUES (1, '2024-01-01 00:00+00'), (2, '2024-01-01 00:00+00');
SELECT new_row FROM mlops.audit_log WHERE table_name = 'public.zoned' AND op = 'INSERT' ORDER BY id;
RESET TimeZone;
DROP TABLE zoned;
DROP FUNCTION to_tokyo();

-- the role names are those of the moment of the write, a role renamed
-- earlier in the same transaction included
CREATE ROLE regress_before_rename;
CREATE TABLE renamed_owner (id int);
ALTER TABLE renamed_owner OWNER TO regress_before_rename;
SELECT mlops.enable_audit('renamed_owner');
CREATE FUNCTION insert_as_owner(i int) RETURNS void LANGUAGE sql SECURITY DEFINER
    AS 'INSERT INTO renamed_owner VALUES (i)';
ALTER FUNCTION insert_as_owner(int) OWNER TO regress_before_rename;
BEGIN;
SELECT insert_as_owner(1);
ALTER ROLE regress_before_rename RENAME TO regress_after_rename;
SELECT insert_as_owner(2);
COMMIT;
SELECT new_row, current_user_name FROM mlops.audit_log
 WHERE table_name = 'public.renamed_owner' AND op = 'INSERT' ORDER BY id;
DROP TABLE renamed_owner;
DROP FUNCTION insert_as_owner(int);
DROP ROLE regress_after_rename;

-- an UPDATE lists its changed columns in the audited table's column order,
-- whatever order the partition that holds the row keeps them in (one
-- attached with its columns in another order, one partitioned in turn with a
-- dropped column, and its own partition)
CREATE TABLE readings (a int, b int, c int, site text) PARTITION BY LIST (site);
CREATE TABLE readings_1 PARTITION OF readings FOR VALUES IN ('one');
CREATE TABLE readings_2 (site text, c int, b int, a int);
ALTER TABLE readings ATTACH PARTITION readings_2 FOR VALUES IN ('two');
CREATE TABLE readings_3 (x int, c int, site text, b int, a int) PARTITION BY LIST (site);
ALTER TABLE readings_3 DROP COLUMN x;
CREATE TABLE readings_3a (b int, c int, site text, a int);
ALTER TABLE readings_3 ATTACH PARTITION readings_3a FOR VALUES IN ('three');
ALTER TABLE readings ATTACH PARTITION readings_3 FOR VALUES IN ('three');
SELECT mlops.enable_audit('readings');
INSERT INTO readings VALUES (1, 1, 1, 'one'), (1, 1, 1, 'two'), (1, 1, 1, 'three');
UPDATE readings SET c = c + 1, a = a + 1;
SELECT table_name, changed_columns FROM log WHERE op = 'UPDATE' AND table_name LIKE 'public.readings%' ORDER BY table_name;
-- the audited table's order: a partitioned partition audited on its own has its own
SELECT mlops.disable_audit('readings');
SELECT mlops.enable_audit('readings_3');
UPDATE readings SET c = c + 1, a = a + 1 WHERE site = 'three';
SELECT table_name, changed_columns FROM log WHERE id = (SELECT max(id) FROM log);
-- so its partitioned table cannot be audited until it is no longer
SELECT pg_temp.sqlstate($$SELECT mlops.enable_audit('readings')$$, true);
DROP TABLE readings;

-- the search_path that reg* values are named under is set for their
-- column alone: a cast to json that finds its table through search_path
-- works beside a regclass column, and logs alike without one
CREATE TYPE shade AS ENUM ('lt', 'dk');
CREATE TABLE shade_names (s shade PRIMARY KEY, name text);
INSERT INTO shade_names VALUES ('lt', 'light'), ('dk', 'dark');
CREATE FUNCTION shade_json(shade) RETURNS json LANGUAGE sql STABLE
    AS 'SELECT to_json(name) FROM shade_names WHERE s = $1';
CREATE CAST (shade AS json) WITH FUNCTION shade_json(shade);
CREATE TABLE painted (id int, s shade, tbl regclass);
CREATE TABLE painted_plain (id int, s shade);
SELECT mlops.enable_audit('painted'), mlops.enable_audit('painted_plain');
INSERT INTO painted VALUES (1, 'dk', 'painted');
INSERT INTO painted_plain VALUES (1, 'dk');
SELECT table_name, new_row FROM log WHERE table_name LIKE 'public.painted%' AND op = 'INSERT' ORDER BY id;
DROP TABLE painted, painted_plain, shade_names;
DROP TYPE shade CASCADE;
-- reg* values are named under search_path pg_catalog, pg_temp: a temporary
-- table (and its row type) named like an object of pg_catalog does not change
-- how that one is named
CREATE TABLE catalog_refs (id int, r regclass, t regtype, ts regtype[]);
SELECT mlops.enable_audit('catalog_refs');
INSERT INTO catalog_refs VALUES (1, 'pg_catalog.pg_class', 'pg_catalog.point', '{pg_catalog.point}');
CREATE TEMP TABLE pg_class (x int);
CREATE TEMP TABLE point (x int);
INSERT INTO catalog_refs VALUES (2, 'pg_catalog.pg_class', 'pg_catalog.point', '{pg_catalog.point}');
DROP TABLE pg_temp.pg_class, pg_temp.point;
SELECT new_row FROM log WHERE table_name = 'public.catalog_refs' AND op = 'INSERT' ORDER BY id;
DROP TABLE catalog_refs;

-- the ignored columns of a typed table follow an attribute of its type
-- renamed (ALTER TYPE ... RENAME ATTRIBUTE ... CASCADE renames its column):
-- the renamed column stays out of the log, and one added under the old name
-- is logged; also through a typed table created after an attribute was
-- dropped (other column numbers than its type's)
CREATE TYPE badge AS (id int, gone int, pin text, note text);
ALTER TYPE badge DROP ATTRIBUTE gone;
CREATE TABLE badges OF badge;
SELECT mlops.enable_audit('badges', '{pin}');
INSERT INTO badges VALUES (1, '1234', 'a');
ALTER TYPE badge RENAME ATTRIBUTE pin TO secret_pin CASCADE;
ALTER TYPE badge ADD ATTRIBUTE pin text CASCADE;
INSERT INTO badges VALUES (2, '5678', 'b', 'not secret');
SELECT op, new_row FROM log WHERE table_name = 'public.badges' ORDER BY id;
DROP TABLE badges;
DROP TYPE badge;

-- a change of type that keeps the stored bytes goes through, and shows in the
-- row's next log row only: 1259 (an int) is logged as "pg_class" (a regclass)
CREATE TABLE relabelled (id int, r int);
SELECT mlops.enable_audit('relabelled');
INSERT INTO relabelled VALUES (1, 1259);
ALTER TABLE relabelled ALTER COLUMN r TYPE regclass;
UPDATE relabelled SET id = 2;
SELECT op, old_row, new_row FROM log WHERE table_name = 'public.relabelled' AND op <> 'ENABLE' ORDER BY id;
DROP TABLE relabelled;

SELECT ok FROM mlops.verify_audit();

DROP OWNED BY regress_writer, regress_trainer, regress_admin;
DROP ROLE regress_writer, regress_trainer, regress_admin;

-- the extension goes with its log; audited tables keep their rows
DROP EXTENSION mlops CASCADE;
INSERT INTO items (id, name, qty) VALUES (40, 'unaudited', 1);
SELECT count(*) AS audit_triggers FROM pg_trigger WHERE tgname LIKE 'mlops_audit%';

-- dropped and created again in one transaction that had written the log: the
-- new log starts its own chain (the dropped log's head was kept, XX000)
CREATE TABLE reborn (id int PRIMARY KEY);
CREATE EXTENSION mlops;
SELECT mlops.enable_audit('reborn');
BEGIN;
INSERT INTO reborn VALUES (1);
DROP EXTENSION mlops CASCADE;
CREATE EXTENSION mlops;
SELECT mlops.enable_audit('reborn');
INSERT INTO reborn VALUES (2);
COMMIT;
SELECT id, op, new_row FROM mlops.audit_log WHERE table_name = 'public.reborn' ORDER BY id;
SELECT * FROM mlops.verify_audit();
DROP TABLE reborn;

-- dropped in a transaction that had written the log: it commits (the head it
-- kept belonged to the log dropped with it), and a new log starts afresh
CREATE TABLE gone (id int);
SELECT mlops.enable_audit('gone');
BEGIN;
INSERT INTO gone VALUES (1);
DROP EXTENSION mlops CASCADE;
COMMIT;
CREATE EXTENSION mlops;
SELECT * FROM mlops.verify_audit();
DROP TABLE gone;

-- strings that JSON escapes, the escaped character anywhere in them (the
-- trigger looks at 8 bytes at a time), among ones that it does not escape
CREATE TABLE escapes (id int PRIMARY KEY, s text);
SELECT mlops.enable_audit('escapes');
INSERT INTO escapes VALUES
    (1, 'abcdefg"'), (2, 'abcdefgh\'), (3, E'abcdefghijklmn\x1f'), (4, 'ééééééé"é'),
    (5, E'\tabcdefgh'), (6, 'abcdefghéééééééé'), (7, 'ab'), (8, ''), (9, E'abcdefgh\x7fijklmnop'),
    (10, 'abcdefghijklmnop"');
SELECT l.new_row = to_jsonb(e) AS same_as_to_jsonb, count(*)
  FROM mlops.audit_log l JOIN escapes e ON l.new_row ->> 'id' = e.id::text
 WHERE l.table_name = 'public.escapes' AND l.op = 'INSERT' GROUP BY 1;
SELECT ok FROM mlops.verify_audit();
DROP TABLE escapes;
