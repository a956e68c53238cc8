#!/usr/bin/python3
"""Audit log end to end: concurrent writers from several sessions keep one valid
chain (consecutive ids, no two rows with the same prev_hash, every committed
change logged once, nothing of a rolled-back one); the hashes are recomputed
here from the canonical form the README documents (an independent oracle);
REPEATABLE READ writers wait for the chain instead of failing; tampering by a
superuser is found by verify_audit()."""
import hashlib
import random
import socket
import threading

import psycopg2

from mlops_test import (check, connect, expect_error, finish, fresh_database, query, server_connection, start_server,
                        stop_server)

DB = "test_audit"
conn = fresh_database(DB, datasets=False)
query(conn, "CREATE TABLE acct (id int PRIMARY KEY, owner text NOT NULL, balance numeric NOT NULL, note text)")
query(conn, "SELECT mlops.enable_audit('acct', '{note}')")
start_id = query(conn, "SELECT max(id) FROM mlops.audit_log")[0][0]

WRITERS = 4
TRANSACTIONS = 40
expected = {}      # writer -> number of log rows its committed transactions wrote
errors = []


def writer(n):
    """Inserts, updates and deletes its own rows in small transactions; some
    transactions roll back, some roll back a savepoint; one writer runs at
    REPEATABLE READ."""
    rng = random.Random(n)
    c = psycopg2.connect(dbname=DB, application_name=f"writer {n}")
    if n == 0:
        c.set_session(isolation_level="REPEATABLE READ")
    logged = 0
    mine = []
    try:
        with c.cursor() as cur:
            for t in range(TRANSACTIONS):
                rows = 0
                key = n * 100000 + t * 10
                cur.execute("INSERT INTO acct VALUES (%s, %s, 100, 'x'), (%s, %s, 50, 'y')",
                            (key, f"w{n} café", key + 1, f"w{n} ☃"))
                rows += 2
                if mine:
                    cur.execute("UPDATE acct SET balance = balance + 1 WHERE id = %s", (rng.choice(mine),))
                    rows += 1
                    cur.execute("UPDATE acct SET note = 'ignored' WHERE id = %s", (rng.choice(mine),))
                if t % 5 == 1:
                    cur.execute("SAVEPOINT s")
                    cur.execute("INSERT INTO acct VALUES (%s, 'rolled back', 1, NULL)", (key + 2,))
                    cur.execute("ROLLBACK TO SAVEPOINT s")
                if t % 7 == 3:
                    cur.execute("DELETE FROM acct WHERE id = %s", (key + 1,))
                    rows += 1
                if t % 6 == 5:
                    c.rollback()
                    continue
                c.commit()
                logged += rows
                mine.append(key)
    except Exception as e:  # reported by the main thread
        errors.append(f"writer {n}: {e}")
    finally:
        c.close()
    expected[n] = logged


threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
for t in threads:
    t.start()
for t in threads:
    t.join()
check(errors == [], f"concurrent writers ran without error {errors[:2]}")

rows = query(conn, "SELECT id, prev_hash, hash, application_name FROM mlops.audit_log WHERE id > %s ORDER BY id",
             (start_id,))
ids = [r[0] for r in rows]
check(ids == list(range(start_id + 1, start_id + 1 + len(ids))), "ids are consecutive")
check(len({bytes(r[1]) for r in rows}) == len(rows), "no two log rows share a prev_hash")
check(all(bytes(rows[i][1]) == bytes(rows[i - 1][2]) for i in range(1, len(rows))),
      "each prev_hash is the previous row's hash")
switches = sum(1 for i in range(1, len(rows)) if rows[i][3] != rows[i - 1][3])
check(switches > WRITERS, f"the writers' transactions interleaved ({switches} switches)")
per_writer = {n: sum(1 for r in rows if r[3] == f"writer {n}") for n in range(WRITERS)}
check(per_writer == expected, f"every committed change logged once, nothing rolled back ({per_writer} vs {expected})")
check(query(conn, "SELECT count(*) FROM mlops.audit_log WHERE new_row ->> 'owner' = 'rolled back'") == [(0,)],
      "rolled-back savepoints left no log rows")
check(query(conn, "SELECT ok FROM mlops.verify_audit()") == [(True,)], "verify_audit() accepts the concurrent chain")
updates = query(conn, "SELECT old_row, new_row, changed_columns FROM mlops.audit_log WHERE id > %s AND op = 'UPDATE'",
               (start_id,))
check(updates and all(new == {"balance": old["balance"] + 1} and changed == ["balance"] for old, new, changed in updates),
      f"an UPDATE's new_row holds the changed column alone, with its new value ({updates[:1]})")


def canonical_hash(row):
    """The hash of a log row, recomputed from the README's definition."""
    out = b""
    for value in row:
        if value is None:
            out += b"~"
        else:
            data = value.encode("utf-8")
            out += str(len(data)).encode() + b":" + data
    return hashlib.sha256(out).digest()


def logged_rows(c):
    """The log of connection c's database as the canonical form's texts, in id order, each with its hash last."""
    return query(c, """SELECT id::text, (extract(epoch FROM at) * 1000000)::bigint::text, txid::text, table_oid::text,
                              table_name, op, old_row::text, new_row::text, changed_columns::text,
                              session_user_name, current_user_name, application_name, client_addr,
                              encode(prev_hash, 'hex'), hash
                         FROM mlops.audit_log ORDER BY id""")


log = logged_rows(conn)
check(all(canonical_hash(r[:-1]) == bytes(r[-1]) for r in log),
      f"all {len(log)} hashes match the documented canonical form")
check(log[0][13] == "00" * 32, "the first row chains to the zero anchor")

# A writer over TCP: its address is logged, and hashed in its text form. The
# sessions above use the Unix socket (no address), so a server listening on
# the loopback is started for it, on a port free now.
with socket.socket() as probe:
    probe.bind(("127.0.0.1", 0))
    tcp_port = probe.getsockname()[1]
tcp_dir = start_server("listen_addresses = '127.0.0.1'", f"port = {tcp_port}")
try:
    setup = server_connection(tcp_dir, tcp_port)
    query(setup, "CREATE EXTENSION mlops CASCADE")
    query(setup, "CREATE TABLE t (id int PRIMARY KEY, v text)")
    query(setup, "SELECT mlops.enable_audit('t')")
    remote = psycopg2.connect(host="127.0.0.1", port=tcp_port, user="postgres", dbname="mlops")
    remote.autocommit = True
    query(remote, "INSERT INTO t VALUES (1, 'over tcp')")
    remote.close()
    tcp_log = logged_rows(setup)
    check(tcp_log[-1][12] == "127.0.0.1", f"a TCP client's address is logged ({tcp_log[-1][12]})")
    check(all(canonical_hash(r[:-1]) == bytes(r[-1]) for r in tcp_log),
          "the hash of a row with a client address matches the documented canonical form")
    check(query(setup, "SELECT ok FROM mlops.verify_audit()") == [(True,)],
          "verify_audit() accepts a row with a client address")
    setup.close()
finally:
    stop_server(tcp_dir)

# audit_head() in another session sees the head as committed: not the rows of
# a writer still running (on the log's last page), then its last row once it
# commits.
a = connect(DB)
a.autocommit = False
head = "SELECT id, hash FROM mlops.audit_head()"
last = "SELECT id, hash FROM mlops.audit_log ORDER BY id DESC LIMIT 1"
before = query(conn, head)
query(a, "INSERT INTO acct SELECT -i, 'running', 1, NULL FROM generate_series(100, 139) i")
check(query(conn, head) == before == query(conn, last),
      "audit_head() skips the rows of a transaction still running")
a.commit()
check(query(conn, head) == query(conn, last) and query(conn, head)[0][0] == before[0][0] + 40,
      "audit_head() gives the committed writer's last row")
query(a, "DELETE FROM acct WHERE owner = 'running'")
a.commit()
a.close()

# A writer at REPEATABLE READ whose snapshot predates another writer's commit
# waits for the chain lock and chains after it, without a serialization error.
a = connect(DB)
b = connect(DB)
a.autocommit = b.autocommit = False
b.set_session(isolation_level="REPEATABLE READ")
query(b, "SELECT 1")                               # b's snapshot is taken now
query(a, "INSERT INTO acct VALUES (-1, 'a', 1, NULL)")
done = threading.Event()


def waits_for(a, work, what):
    """Runs work() in a thread, checks that it waits (what) while a's transaction
    is open, then commits a and waits for work() to end."""
    finished = threading.Event()
    t = threading.Thread(target=lambda: (work(), finished.set()))
    t.start()
    check(not finished.wait(0.5), what)
    a.commit()
    t.join()


waits_for(a, lambda: query(b, "INSERT INTO acct VALUES (-2, 'b', 1, NULL)"),
          "a second audited transaction waits for the first to end")
check(query(b, "SELECT count(*) FROM mlops.audit_log WHERE new_row ->> 'owner' = 'a'") == [(0,)],
      "the waiting writer's snapshot does not see the row it chained after")
check(query(b, "SELECT ok FROM mlops.verify_audit()") == [(True,)],
      "yet verify_audit() in that transaction finds the chain valid (it verifies with a snapshot taken under the lock)")
b.commit()
check(query(conn, "SELECT ok FROM mlops.verify_audit()") == [(True,)], "the chain is valid after the wait")
check(query(conn, "SELECT new_row ->> 'owner' FROM mlops.audit_log ORDER BY id DESC LIMIT 2") == [("b",), ("a",)],
      "the waiting writer chained after the committed one")

# A prepared transaction: its log rows, a deferred trigger's included, are
# written before PREPARE; it keeps the chain lock, so another writer waits;
# COMMIT PREPARED from a third session lets it chain after them; after
# ROLLBACK PREPARED the preparing session's next transaction chains from the
# rows before them.
query(conn, "CREATE TABLE later_note (id int)")
query(conn, "SELECT mlops.enable_audit('later_note')")
query(conn, """CREATE FUNCTION note_later() RETURNS trigger LANGUAGE plpgsql AS $$
               BEGIN INSERT INTO later_note VALUES (NEW.id); RETURN NULL; END $$""")
query(conn, """CREATE CONSTRAINT TRIGGER later AFTER INSERT ON acct DEFERRABLE INITIALLY DEFERRED
               FOR EACH ROW EXECUTE FUNCTION note_later()""")
a.autocommit = b.autocommit = True
head = query(conn, "SELECT max(id) FROM mlops.audit_log")[0][0]
query(a, "BEGIN")
query(a, "INSERT INTO acct VALUES (-3, 'prepared', 1, NULL)")
query(a, "PREPARE TRANSACTION 'audit_2pc'")
check(query(conn, "SELECT max(id), (mlops.verify_audit()).ok FROM mlops.audit_log") == [(head, True)],
      "while it is prepared, other sessions read and verify the log without its rows")
done.clear()
tb = threading.Thread(target=lambda: (query(b, "INSERT INTO acct VALUES (-4, 'after prepared', 1, NULL)"), done.set()))
tb.start()
check(not done.wait(0.5), "a writer waits for the prepared transaction")
query(conn, "COMMIT PREPARED 'audit_2pc'")
tb.join()
check(query(conn, "SELECT table_name, coalesce(new_row ->> 'owner', new_row ->> 'id') FROM mlops.audit_log "
                  "WHERE id > %s ORDER BY id", (head,)) ==
      [("public.acct", "prepared"), ("public.later_note", "-3"),
       ("public.acct", "after prepared"), ("public.later_note", "-4")],
      "the prepared rows, its deferred trigger's included, then the waiting writer's")
check(query(conn, "SELECT ok FROM mlops.verify_audit()") == [(True,)], "the chain is valid after COMMIT PREPARED")
query(a, "BEGIN")
query(a, "UPDATE acct SET balance = 2 WHERE id = -3")
query(a, "PREPARE TRANSACTION 'audit_2pc'")
query(conn, "ROLLBACK PREPARED 'audit_2pc'")
query(a, "UPDATE acct SET balance = 3 WHERE id = -3")
check(query(conn, "SELECT new_row ->> 'balance', prev_hash = (SELECT hash FROM mlops.audit_log WHERE id = %s) "
                  "FROM mlops.audit_log WHERE id = %s", (head + 4, head + 5)) == [("3", True)],
      "after ROLLBACK PREPARED the preparing session's next row chains from the rows before it")
check(query(conn, "SELECT ok FROM mlops.verify_audit()") == [(True,)], "the chain is valid after ROLLBACK PREPARED")
query(conn, "DROP TRIGGER later ON acct")
a.close()
b.close()

# Tampering: direct changes are refused even under replica; a superuser who
# disables the protection is found out by verify_audit().
victim = start_id + 5
expect_error(conn, "UPDATE mlops.audit_log SET op = 'INSERT' WHERE id = %s", "55000", (victim,))
query(conn, "SET session_replication_role = replica")
expect_error(conn, "DELETE FROM mlops.audit_log WHERE id = %s", "55000", (victim,))
query(conn, "RESET session_replication_role")
query(conn, "ALTER TABLE mlops.audit_log DISABLE TRIGGER audit_log_append_only")
for what, sql, bad in (
        ("an altered row", "UPDATE mlops.audit_log SET current_user_name = 'someone' WHERE id = %(v)s", "v"),
        ("an altered hash", "UPDATE mlops.audit_log SET hash = sha256('x') WHERE id = %(v)s", "v"),
        ("a removed row", "DELETE FROM mlops.audit_log WHERE id = %(v)s", "next"),
        ("a row inserted in place of a removed one",
         """DELETE FROM mlops.audit_log WHERE id = %(v)s;
            INSERT INTO mlops.audit_log SELECT %(v)s, at, txid, table_oid, table_name, op, old_row, new_row,
                   changed_columns, session_user_name, current_user_name, application_name, client_addr, prev_hash,
                   hash FROM mlops.audit_log WHERE id = %(v)s + 1""", "v")):
    query(conn, "BEGIN")
    query(conn, sql, {"v": victim})
    got = query(conn, "SELECT ok, first_bad_id FROM mlops.verify_audit()")[0]
    query(conn, "ROLLBACK")
    check(got == (False, victim if bad == "v" else victim + 1), f"verify_audit() finds {what} ({got})")
query(conn, "ALTER TABLE mlops.audit_log ENABLE ALWAYS TRIGGER audit_log_append_only")
check(query(conn, "SELECT ok FROM mlops.verify_audit()") == [(True,)], "the untouched chain still verifies")

# Two enable_audit of one table at once: the second waits for the first to
# commit, then replaces its triggers (with its own ignored columns) instead of
# failing on the trigger it did not see yet.
query(conn, "CREATE TABLE twice (id int, note text)")
a = connect(DB)
b = connect(DB)
a.autocommit = False
query(a, "SELECT mlops.enable_audit('twice')")
outcome = []


def b_enables():
    try:
        query(b, "SELECT mlops.enable_audit('twice', '{note}')")
        outcome.append("ok")
    except psycopg2.Error as e:
        outcome.append(f"{e.pgcode}: {e.pgerror.strip()[:120]}")


waits_for(a, b_enables, "a second enable_audit of the table waits for the first")
check(outcome == ["ok"], f"then replaces its triggers ({outcome})")
check(query(conn, "SELECT mlops._audit_ignored_columns(oid) FROM pg_trigger "
                  "WHERE tgrelid = 'twice'::regclass AND tgname = 'mlops_audit'") == [(["note"],)],
      "with its own ignored columns")
check(query(conn, "SELECT op, new_row FROM mlops.audit_log WHERE table_name = 'public.twice' ORDER BY id") ==
      [("ENABLE", {"ignore_columns": []}), ("DISABLE", None), ("ENABLE", {"ignore_columns": ["note"]})],
      "logged as ENABLE, DISABLE, ENABLE")
# Two disable_audit at once: the second finds the table no longer audited.
query(a, "SELECT mlops.disable_audit('twice')")
outcome.clear()
waits_for(a, lambda: outcome.append(expect_error(b, "SELECT mlops.disable_audit('twice')", "42704")),
          "a second disable_audit of the table waits for the first")
check(outcome and outcome[0] is not None and "table public.twice is not audited" in outcome[0],
      f"then says the table is not audited ({outcome})")
# At REPEATABLE READ and SERIALIZABLE the second one's snapshot cannot see the
# triggers the first created or dropped: it fails with 40001 and a hint to
# retry (not PostgreSQL's raw 42710 or 42704, nor "table is not audited" for a
# table the first audited, nor a disable_audit after the first replaced the
# triggers that drops the new row trigger and leaves the TRUNCATE one behind),
# and the first one's stands.
for level in ("REPEATABLE READ", "SERIALIZABLE"):
    b.set_session(isolation_level=level, autocommit=True)
    for first, second, audited in (("SELECT mlops.enable_audit('twice')", "SELECT mlops.enable_audit('twice', '{note}')", 1),
                                   ("SELECT mlops.disable_audit('twice')", "SELECT mlops.disable_audit('twice')", 0),
                                   ("SELECT mlops.enable_audit('twice')", "SELECT mlops.enable_audit('twice')", 1),
                                   ("SELECT mlops.disable_audit('twice')", "SELECT mlops.enable_audit('twice')", 0),
                                   ("SELECT mlops.enable_audit('twice')", "SELECT mlops.disable_audit('twice')", 1),
                                   ("SELECT mlops.enable_audit('twice', '{note}')", "SELECT mlops.disable_audit('twice')", 1)):
        query(a, first)
        outcome.clear()
        waits_for(a, lambda: outcome.append(expect_error(b, second, "40001")), f"{level}: {second} waits for {first}")
        check(outcome and outcome[0] is not None and "retried" in outcome[0],
              f"{level}: {second} after a concurrent {first} asks for a retry ({outcome})")
        check(query(conn, "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'twice'::regclass "
                          "AND tgname LIKE 'mlops_audit%%'") == [(2 * audited,)],
              f"{level}: {first} stands")
    query(conn, "SELECT mlops.disable_audit('twice')")
b.set_session(isolation_level="READ COMMITTED")
a.close()
b.close()
query(conn, "DROP TABLE twice")

# An UPDATE whose old and new rows as text pass 1 GB together (each one under
# it: 90 MB of control characters, each escaped as \u0001 in both rows) cannot
# be logged: it fails with 54000, its context naming the table. Stored before
# the table was audited, at the smallest size that fails. An UPDATE that leaves
# that value as it is logs it in the old row alone, and goes through.
query(conn, "CREATE TABLE huge (id int PRIMARY KEY, n int, v text)")
query(conn, "INSERT INTO huge VALUES (1, 0, repeat(chr(1), 90000000))")
query(conn, "SELECT mlops.enable_audit('huge')")
query(conn, "UPDATE huge SET n = 1")
huge_row = query(conn, "SELECT new_row, length(old_row ->> 'v') FROM mlops.audit_log "
                      "WHERE id = (SELECT max(id) FROM mlops.audit_log)")
check(huge_row == [({"n": 1}, 90000000)], f"an UPDATE leaving a huge value as it is logs it in the old row alone ({huge_row})")
message = expect_error(conn, "UPDATE huge SET n = 2, v = v || chr(1)", "54000")
check(message is not None and "logging a row of table public.huge to mlops.audit_log" in message,
      f"the error's context names the table whose change could not be logged ({message!r})")
query(conn, "DROP TABLE huge")

conn.close()
finish()
