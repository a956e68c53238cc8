#!/usr/bin/python3
"""Cost of the audit trigger: a 100,000-row INSERT and a 100,000-row UPDATE of
an audited table, against the same statements on the same table unaudited, and
against the same table audited by a PL/pgSQL trigger that writes the same
columns as jsonb (the usual trigger-based audit: to_jsonb(OLD/NEW), of an
UPDATE's new row the changed columns alone, changed columns, who and from
where; it keeps no hash chain) into a table shaped as mlops.audit_log is (the
same columns, and no index). Wall time, and the CPU
time of the server backend (read from /proc: steadier on a shared machine).
Two more figures show what an audited UPDATE cannot do without: the same
UPDATE of a table audited with the updated column ignored (the trigger
fires and compares old and new rows, and logs nothing), and that plus
writing the log rows with no trigger (everything but rendering the rows
and hashing them)."""
import statistics
import time

import numpy as np

from mlops_bench import backend_cpu_seconds, report
from mlops_test import fresh_database, query

ROWS = 100000
conn = fresh_database("bench_audit", datasets=False)
query(conn, """
CREATE TABLE plpgsql_log (
    id bigserial, at timestamptz NOT NULL, txid xid8 NOT NULL, table_oid oid NOT NULL,
    table_name text NOT NULL, op text NOT NULL, old_row jsonb, new_row jsonb, changed_columns text[],
    session_user_name text NOT NULL, current_user_name text NOT NULL, application_name text,
    client_addr inet, prev_hash bytea, hash bytea);
CREATE FUNCTION plpgsql_audit() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    o jsonb := CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END;
    n jsonb := CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END;
    changed text[];
BEGIN
    IF TG_OP = 'UPDATE' THEN
        -- the new row: the changed columns alone, as mlops.audit_log has it
        SELECT array_agg(key ORDER BY key), jsonb_object_agg(key, value) INTO changed, n
          FROM jsonb_each(n) e WHERE e.value IS DISTINCT FROM o -> e.key;
        IF changed IS NULL THEN RETURN NULL; END IF;
    END IF;
    INSERT INTO plpgsql_log (at, txid, table_oid, table_name, op, old_row, new_row, changed_columns,
                             session_user_name, current_user_name, application_name, client_addr)
    VALUES (clock_timestamp(), pg_current_xact_id(), TG_RELID, TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME, TG_OP,
            o, n, changed, session_user, current_user, nullif(current_setting('application_name'), ''),
            inet_client_addr());
    RETURN NULL;
END
$$;
""")
for name in ("plain", "audited", "plpgsql"):
    query(conn, f"""CREATE TABLE {name} (id bigint PRIMARY KEY, customer text NOT NULL, qty int NOT NULL,
                                         price numeric(10,2), note text, created timestamptz DEFAULT now())""")
query(conn, "SELECT mlops.enable_audit('audited')")
# updated by the update rounds alone: filled once, before it is audited (its insert would log rows)
query(conn, """CREATE TABLE ignored (id bigint PRIMARY KEY, customer text NOT NULL, qty int NOT NULL,
                                     price numeric(10,2), note text, created timestamptz DEFAULT now())""")
query(conn, f"""INSERT INTO ignored (id, customer, qty, price, note)
                SELECT i, 'customer ' || (i % 1000), i % 7, (i % 10000) / 100.0, md5(i::text)
                  FROM generate_series(1, {ROWS}) i""")
query(conn, "SELECT mlops.enable_audit('ignored', ignore_columns => '{qty}')")
backend_cpu = backend_cpu_seconds(conn)

query(conn, "CREATE TABLE log_copy (LIKE mlops.audit_log INCLUDING INDEXES)")
query(conn, "CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON plpgsql FOR EACH ROW EXECUTE FUNCTION plpgsql_audit()")


def insert(table):
    query(conn, f"""INSERT INTO {table} (id, customer, qty, price, note)
                    SELECT i, 'customer ' || (i % 1000), i % 7, (i % 10000) / 100.0, md5(i::text)
                      FROM generate_series(1, {ROWS}) i""")


def update(table):
    query(conn, f"UPDATE {table} SET qty = qty + 1")


def write_log_rows(what):
    """The floor of any audit of the statement that keeps this log: its log
    rows, taken from the audited table's last such statement, inserted by
    themselves into an empty copy of the log (same columns and indexes),
    with no trigger."""
    query(conn, f"INSERT INTO log_copy SELECT * FROM {what}_log_rows")


def warm_memory():
    """Touches 256 MiB of memory (more than the new pages of one statement)
    and frees it, right before each timed statement. On a virtual machine, a
    page the guest has never touched, or one it gave back to its host after a
    while free, costs several times a warm one on first touch (1 GiB of 8 kB file writes:
    1.7 s cold, 0.33 s warm). The logs only grow, into new memory, while the
    unaudited tables reuse what TRUNCATE and VACUUM freed just before; the
    pages freed here are what the next statement's new pages are taken from,
    as on a server whose memory has all been in use for a while. One warm-up
    of 8 GiB before the rounds was not enough: the machine gives freed memory
    back within seconds, and the ratios still drifted by 50% between runs."""
    np.ones(256 << 20, dtype=np.uint8)


# The tables take turns in each round, so that the load of a shared
# machine falls on all of them alike; medians over the rounds. A CHECKPOINT
# before each statement starts every one from the same state: no checkpoint
# that the WAL of an earlier statement asked for runs during it, and the WAL
# segments it writes are recycled ones, as on a server in steady state, not
# new files that a fresh server must first fill with zeros.
ROUNDS = 5
times = {}
cpu = {}
for what, statement in (("insert", insert), ("update", update)):
    for round_ in range(ROUNDS + 1):
        for table in ("plain", "audited", "plpgsql") + (("ignored",) if what == "update" else ()):
            if what == "insert":
                query(conn, f"TRUNCATE {table}")
            query(conn, "CHECKPOINT")
            warm_memory()
            start, start_cpu = time.perf_counter(), backend_cpu()
            statement(table)
            if round_ > 0:          # the first round warms up
                times.setdefault((what, table), []).append(time.perf_counter() - start)
                cpu.setdefault((what, table), []).append(backend_cpu() - start_cpu)
        if round_ == 0:
            query(conn, f"""CREATE TABLE {what}_log_rows AS SELECT * FROM mlops.audit_log
                             WHERE table_name = 'public.audited' AND op = '{what.upper()}' ORDER BY id DESC LIMIT {ROWS}""")
        query(conn, "TRUNCATE log_copy")
        query(conn, "CHECKPOINT")
        warm_memory()
        start = time.perf_counter()
        write_log_rows(what)
        if round_ > 0:
            times.setdefault((what, "log rows"), []).append(time.perf_counter() - start)
        query(conn, "VACUUM")
times = {k: statistics.median(v) for k, v in times.items()}
cpu = {k: statistics.median(v) for k, v in cpu.items()}
for what in ("insert", "update"):
    report(f"audit, {ROWS // 1000}k-row {what}: audited vs unaudited", times[what, "audited"], times[what, "plain"], "<= 2.0")
    report(f"audit, {ROWS // 1000}k-row {what}: C trigger vs PL/pgSQL jsonb trigger", times[what, "audited"],
           times[what, "plpgsql"], "<= 0.4")
    report(f"audit, {ROWS // 1000}k-row {what}: floor ({what} + its log rows, no trigger) vs unaudited",
           times[what, "log rows"] + times[what, "plain"], times[what, "plain"], "")
report(f"audit, {ROWS // 1000}k-row update of an ignored column (trigger fires, logs nothing) vs unaudited",
       times["update", "ignored"], times["update", "plain"], "")
report(f"audit, {ROWS // 1000}k-row update: that plus its log rows (no rendering, no hashing) vs unaudited",
       times["update", "ignored"] + times["update", "log rows"], times["update", "plain"], "")
for what in ("insert", "update"):
    report(f"audit, {ROWS // 1000}k-row {what}, backend CPU: audited vs unaudited", cpu[what, "audited"],
           cpu[what, "plain"], "<= 2.0")
    report(f"audit, {ROWS // 1000}k-row {what}, backend CPU: C vs PL/pgSQL trigger", cpu[what, "audited"],
           cpu[what, "plpgsql"], "<= 0.4")
