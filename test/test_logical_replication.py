#!/usr/bin/python3
"""Logical replication between two throwaway servers, mlops installed on both:
a publication FOR ALL TABLES of the publisher's database (mlops's own tables,
the audit log and its anchor included) and a subscription of the subscriber.
Every table, the audit log and its anchor included, finishes its initial
copy; the publisher's log rows and anchor are not applied to the
subscriber's log, whose chain, its own rows included, stays valid, an
archive_audit() on the publisher included. The changes the subscription
applies to the subscriber's audited tables are logged there (the same rows
as on the publisher, a table without a primary key under REPLICA IDENTITY
FULL and a TRUNCATE included), in the subscription owner's name; the apply
waits for a local audited transaction. The replicated registry
scores on the subscriber: each alias move is scored by the same session's
next statement once applied, a deleted version is gone; the subscriber
refuses to change the replicated registry (55000)."""
import time

from mlops_test import check, expect_error, finish, psql, query, server_connection, start_server, stop_server

DIABETES = "ARRAY[age, sex, bmi, bp, s1, s2, s3, s4, s5, s6]"

# the tables of the application, created alike on both servers
TABLES = ("CREATE TABLE orders (id int PRIMARY KEY, item text, qty int)",
          "CREATE TABLE events (k int, v text)",
          "ALTER TABLE events REPLICA IDENTITY FULL",
          "SELECT mlops.enable_audit('orders')",
          "SELECT mlops.enable_audit('events')")


def wait_for_apply(pub, sub_name):
    """Waits until the subscription has applied everything the publisher wrote so far."""
    (lsn,), = query(pub, "SELECT pg_current_wal_insert_lsn()")
    deadline = time.time() + 30
    while not query(pub, "SELECT coalesce(bool_or(replay_lsn >= %s::pg_lsn), false) FROM pg_stat_replication "
                         "WHERE application_name = %s", (lsn, sub_name))[0][0]:
        if time.time() > deadline:
            raise RuntimeError(f"the subscription did not apply up to {lsn} in 30 s")
        time.sleep(0.02)


def wait_for_sync(sub):
    """Waits (30 s at most) until every table of the subscription has finished
    its initial copy; returns those that have not."""
    deadline = time.time() + 30
    while True:
        behind = query(sub, "SELECT srrelid::regclass::text FROM pg_subscription_rel WHERE srsubstate <> 'r' ORDER BY 1")
        if not behind or time.time() > deadline:
            return [name for name, in behind]
        time.sleep(0.1)


def logged(conn, table):
    """What the log says of the changes to table: operation, old and new row, changed columns."""
    return query(conn, "SELECT op, old_row, new_row, changed_columns FROM mlops.audit_log "
                       "WHERE table_name = %s AND op IN ('INSERT', 'UPDATE', 'DELETE') ORDER BY id", (table,))


def chain_valid(conn, what):
    """Checks the chain of a server's log; returns how many rows it holds."""
    (ok, rows, bad), = query(conn, "SELECT * FROM mlops.verify_audit()")
    check(ok and bad is None, f"{what}: the audit chain is valid ({rows} rows, first bad {bad})")
    return rows


def audit(pub, sub):
    """The subscriber logs what the subscription applies to its audited tables,
    as the publisher logged it, in its own chain."""
    query(pub, "INSERT INTO orders SELECT g, 'item' || g, g FROM generate_series(11, 20) g")
    query(pub, "UPDATE orders SET qty = qty * 10 WHERE id IN (1, 12)")
    query(pub, "DELETE FROM orders WHERE id IN (2, 13)")
    # an incompressible value, stored out of line: sent unchanged ("u") with the update that leaves it
    query(pub, "INSERT INTO events VALUES (1, 'a'), (1, 'a'), "
               "(2, (SELECT string_agg(md5(g::text), '') FROM generate_series(1, 300) g))")
    query(pub, "UPDATE events SET k = 3 WHERE ctid = (SELECT min(ctid) FROM events WHERE v = 'a')")
    query(pub, "UPDATE events SET k = 4 WHERE k = 2")
    query(pub, "DELETE FROM events WHERE k = 1")
    wait_for_apply(pub, "sub")
    for table in ("orders", "events"):
        check(query(pub, f"SELECT * FROM {table} ORDER BY 1, 2") == query(sub, f"SELECT * FROM {table} ORDER BY 1, 2"),
              f"{table} is replicated")
    mine = logged(pub, "public.orders")
    theirs = logged(sub, "public.orders")
    check(len(mine) == 24 and theirs == mine,
          f"the subscriber logs the changes to orders, the initial copy's included, as the publisher ({len(theirs)})")
    mine = logged(pub, "public.events")
    theirs = logged(sub, "public.events")
    check(len(mine) == 6 and theirs == mine,
          f"the subscriber logs the changes to events (no primary key, REPLICA IDENTITY FULL) as the publisher "
          f"({[op for op, *_ in theirs]})")
    who = query(sub, "SELECT DISTINCT session_user_name, current_user_name, application_name, client_addr "
                     "FROM mlops.audit_log WHERE table_name IN ('public.orders', 'public.events') "
                     "AND op IN ('INSERT', 'UPDATE', 'DELETE')")
    check(who == [("postgres", "postgres", None, None)],
          f"the applied changes are logged in the subscription owner's name, without application or address ({who})")
    query(pub, "TRUNCATE events")
    wait_for_apply(pub, "sub")
    last = query(sub, "SELECT op FROM mlops.audit_log WHERE table_name = 'public.events' ORDER BY id DESC LIMIT 1")
    check(last == [("TRUNCATE",)], f"an applied TRUNCATE is logged ({last})")
    chain_valid(sub, "subscriber")


def archive(pub, sub):
    """An archive_audit() on the publisher (deleted log rows, a new anchor)
    leaves the subscriber's log as it was, and the subscription going."""
    before = query(sub, "SELECT id, hash FROM mlops.audit_log ORDER BY id")
    anchor = query(sub, "SELECT * FROM mlops.audit_chain")
    (head,), = query(pub, "SELECT max(id) FROM mlops.audit_log")
    query(pub, "SELECT mlops.archive_audit(%s)", (head,))
    query(pub, "INSERT INTO orders VALUES (100, 'after archive', 1)")
    wait_for_apply(pub, "sub")
    check(query(sub, "SELECT item FROM orders WHERE id = 100") == [("after archive",)],
          "the subscription applies the changes after an archive_audit() on the publisher")
    after = query(sub, "SELECT id, hash FROM mlops.audit_log ORDER BY id")
    check(after[:len(before)] == before and len(after) == len(before) + 1,
          f"the subscriber's log keeps its rows and logs the new one ({len(before)} rows, then {len(after)})")
    check(query(sub, "SELECT * FROM mlops.audit_chain") == anchor, "the subscriber's anchor is unchanged")
    chain_valid(sub, "subscriber after the publisher archived")


def local_writer(pub, sub, sub_dir):
    """A local audited transaction on the subscriber holds the chain lock: the
    apply of an audited change waits for its commit, then goes on."""
    local = server_connection(sub_dir)
    local.autocommit = False
    query(local, "INSERT INTO notes VALUES (2, 'local, in a transaction')")
    query(pub, "INSERT INTO orders VALUES (200, 'while the subscriber writes', 1)")
    deadline = time.time() + 30
    waiting = False
    while not waiting and time.time() < deadline:
        time.sleep(0.05)
        waiting = query(sub, """SELECT EXISTS (SELECT FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
                                  WHERE NOT l.granted AND l.relation = 'mlops.audit_chain'::regclass
                                    AND a.backend_type = 'logical replication worker')""")[0][0]
    check(waiting and query(sub, "SELECT count(*) FROM orders WHERE id = 200") == [(0,)],
          "the apply waits on the chain lock for the subscriber's audited transaction")
    local.commit()
    local.close()
    wait_for_apply(pub, "sub")
    check(query(sub, "SELECT count(*) FROM orders WHERE id = 200") == [(1,)], "then it applies the change")
    order = query(sub, "SELECT table_name FROM mlops.audit_log ORDER BY id DESC LIMIT 2")
    check(order == [("public.orders",), ("public.notes",)], f"the log has the local row first ({order})")
    chain_valid(sub, "subscriber after a local writer")


def registry(pub, sub):
    """The subscriber scores the replicated registry; each alias move is seen
    by the same session's next statement once applied."""
    score = f"SELECT mlops.predict('lin', {DIABETES}), (SELECT version FROM mlops.resolve_model('lin')) " \
            "FROM diabetes LIMIT 1"
    pinned = {v: query(sub, f"SELECT mlops.predict('lin:{v}', {DIABETES}) FROM diabetes LIMIT 1")[0][0]
              for v in (1, 2)}
    check(pinned == {v: query(pub, f"SELECT mlops.predict('lin:{v}', {DIABETES}) FROM diabetes LIMIT 1")[0][0]
                     for v in (1, 2)} and pinned[1] != pinned[2],
          "the subscriber scores the replicated versions as the publisher")
    seen = []
    for i in range(6):
        version = 2 - i % 2
        query(pub, "SELECT mlops.set_alias('lin', 'production', %s)", (version,))
        wait_for_apply(pub, "sub")
        seen.append(query(sub, score)[0] == (pinned[version], version))
    check(all(seen), f"each alias move is scored by the subscriber's next statement ({seen})")
    for sql in ("SELECT mlops.set_alias('lin', 'staging', 1)",
                "SELECT mlops.promote('lin', 2, force => true)",
                # refused before its gate reads anything (a source the subscriber lacks)
                "SELECT mlops.promote('lin', 2, gate => '{\"source\": \"not_on_the_subscriber\"}')",
                "SELECT mlops.rollback('lin')",
                "SELECT mlops.delete_version('lin', 2)"):
        message = expect_error(sub, sql, "55000")
        check(message is not None and 'subscription "sub"' in message,
              f"{sql[:40]}... on the subscriber: the registry is replicated ({(message or '').partition(chr(10))[0]})")
    (trained,), = query(pub, "SELECT version FROM mlops.train('lin', 'diabetes', 'target', 'ridge')")
    wait_for_apply(pub, "sub")
    sql = f"SELECT mlops.predict('lin:{trained}', {DIABETES}) FROM diabetes LIMIT 1"
    check(query(sub, sql) == query(pub, sql), f"a version trained on the publisher (lin:{trained}) scores")
    query(pub, "SELECT mlops.delete_version('lin', %s)", (trained,))
    wait_for_apply(pub, "sub")
    expect_error(sub, sql, "42704")
    mine = logged(pub, "mlops.alias")     # since the publisher archived its log
    theirs = logged(sub, "mlops.alias")
    check(len(mine) == 6 and theirs[-6:] == mine, f"the subscriber logs the replicated alias moves ({len(theirs)} rows)")
    chain_valid(sub, "subscriber after the registry changes")


def main():
    pub_dir = start_server("wal_level = logical")
    sub_dir = None
    try:
        sub_dir = start_server("wal_level = logical")
        pub = server_connection(pub_dir)
        sub = server_connection(sub_dir)
        for conn, directory in ((pub, pub_dir), (sub, sub_dir)):
            query(conn, "CREATE EXTENSION mlops")
            psql("mlops", "-h", directory, "-p", "5432", "-f", "test/data/load.sql")
            for sql in TABLES:
                query(conn, sql)
        query(sub, "TRUNCATE breast_cancer, wine, diabetes")   # the subscription copies the publisher's
        query(sub, "CREATE TABLE notes (id int PRIMARY KEY, note text)")
        query(sub, "SELECT mlops.enable_audit('notes')")
        query(sub, "INSERT INTO notes VALUES (1, 'the subscriber''s own')")
        query(pub, "SET mlops.progress_interval = -1")
        query(pub, "SELECT mlops.train('lin', 'diabetes', 'target', 'linear')")
        query(pub, "SELECT mlops.train('lin', 'diabetes', 'target', 'ridge')")
        query(pub, "INSERT INTO orders SELECT g, 'item' || g, g FROM generate_series(1, 10) g")
        own = query(sub, "SELECT id, hash FROM mlops.audit_log ORDER BY id")

        query(pub, "CREATE PUBLICATION everything FOR ALL TABLES")
        published = {t for t, in query(pub, "SELECT schemaname || '.' || tablename FROM pg_publication_tables")}
        check({"mlops.audit_log", "mlops.audit_chain", "mlops.model_version"} <= published,
              "FOR ALL TABLES publishes mlops's tables, the audit log and its anchor included")
        query(sub, f"CREATE SUBSCRIPTION sub CONNECTION 'host={pub_dir} port=5432 dbname=mlops user=postgres' "
                   "PUBLICATION everything")
        behind = wait_for_sync(sub)
        check(behind == [], f"every table finishes its initial copy (not yet: {behind})")
        wait_for_apply(pub, "sub")
        check(query(sub, "SELECT count(*) FROM diabetes") == [(442,)], "the datasets are copied")
        check(query(sub, "SELECT id, hash FROM mlops.audit_log ORDER BY id")[:len(own)] == own,
              "the subscriber's log keeps its own rows: the publisher's are not copied into it")
        check(query(sub, "SELECT count(*) FROM mlops.audit_log WHERE table_name = 'public.notes'") == [(2,)],
              "the subscriber's log has its own table's rows")
        chain_valid(sub, "subscriber after the initial copy")

        audit(pub, sub)
        archive(pub, sub)
        local_writer(pub, sub, sub_dir)
        registry(pub, sub)
        chain_valid(pub, "publisher")
        query(sub, "DROP SUBSCRIPTION sub")
    finally:
        if sub_dir:
            stop_server(sub_dir)
        stop_server(pub_dir)


main()
finish()
