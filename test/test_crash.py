#!/usr/bin/python3
"""A backend killed in the middle of work, on a server of its own (a SIGKILL
makes the server restart every backend). pg_terminate_backend during an
XGBoost training, whose OpenMP threads are running, ends that backend alone;
SIGKILL during a training, an audited update, a monitor's retraining and a
batch of predict_logged makes the server recover from the crash. Nothing of
the killed work remains (no run, no version, no log row, no drift result, no
logged prediction), the audit chain still verifies and grows, and training
and scoring work again. A prepared transaction that wrote an audited table
and the registry survives an immediate shutdown: other writers wait for it,
and after COMMIT PREPARED or ROLLBACK PREPARED the chain goes on from its rows
or from those before them. A client that goes away in the middle of a call
(its socket closed) ends it, and the lock its transaction held."""
import os
import signal
import subprocess
import threading
import time

import psycopg2

from mlops_test import check, crash_server, finish, query, server_connection, start_server, stop_server

# a source that takes far longer than the test to read, its rows coming one by
# one from the start (generate_series in FROM would first be stored whole)
SLOW = ("SELECT g::float8 AS x, (g % 7)::float8 AS z, (g % 2) AS y "
        "FROM (SELECT generate_series(1, 200000000) AS g) s")


def run_in_thread(conn, sql):
    """Starts `sql` on `conn` in a thread; returns the thread and a dict that
    receives the error it ended with."""
    outcome = {}

    def run():
        try:
            query(conn, sql)
            outcome["error"] = None
        except psycopg2.Error as e:
            outcome["error"] = e

    t = threading.Thread(target=run)
    t.start()
    return t, outcome


def still_running(admin, pid, seconds):
    """Waits `seconds`, then tells whether backend `pid` is still running its statement."""
    time.sleep(seconds)
    return query(admin, "SELECT state = 'active' FROM pg_stat_activity WHERE pid = %s", (pid,)) == [(True,)]


def sleeping(admin, pid):
    """Waits (30 s at most) until backend `pid` is in pg_sleep; tells whether it got there."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if query(admin, "SELECT wait_event FROM pg_stat_activity WHERE pid = %s", (pid,)) == [("PgSleep",)]:
            return True
        time.sleep(0.1)
    return False


def disconnected(conn):
    """Waits (10 s at most) until the server ends `conn`, as a crash restart does; tells whether it did."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            query(conn, "SELECT 1")
        except psycopg2.Error:
            return True
        time.sleep(0.1)
    return False


def reconnect(directory):
    """A connection to the server once it has recovered from a crash (60 s at most)."""
    deadline = time.monotonic() + 60
    while True:
        try:
            conn = server_connection(directory)
            query(conn, "SELECT 1")
            return conn
        except psycopg2.Error:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def state(conn):
    """What a killed operation must leave unchanged: runs, versions, log rows."""
    return query(conn, """SELECT (SELECT count(*) FROM mlops.runs), (SELECT count(*) FROM mlops.model_versions),
                                 (SELECT count(*) FROM mlops.audit_log)""")[0]


def killed_during(directory, admin, sql, ready):
    """Runs `sql` on a new connection, SIGKILLs its backend once ready(admin,
    pid) is true, and returns a connection to the recovered server."""
    worker = server_connection(directory)
    (pid,), = query(worker, "SELECT pg_backend_pid()")
    t, outcome = run_in_thread(worker, sql)
    deadline = time.monotonic() + 30
    while not ready(admin, pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    check(ready(admin, pid), f"{sql[:50]!r} reached the point where it is killed")
    os.kill(pid, signal.SIGKILL)
    t.join(30)
    check(disconnected(admin), "the server restarts every backend after a SIGKILL")
    return reconnect(directory)


def chain_ok(admin, what):
    """Checks that the audit chain verifies and that its ids are consecutive."""
    check(query(admin, """SELECT (SELECT ok FROM mlops.verify_audit()),
                                 count(*) = max(id) - min(id) + 1 FROM mlops.audit_log""") == [(True, True)],
          f"{what}: the audit chain verifies, its ids consecutive")


def log_tail(admin, after):
    """(txid, table, op) of the log rows after id `after`, in id order."""
    return query(admin, "SELECT txid::text, table_name, op FROM mlops.audit_log WHERE id > %s ORDER BY id", (after,))


def registry_consistent(admin, what):
    """Checks that every version holds its artifact and every alias points at a version."""
    check(query(admin, """SELECT (SELECT count(*) FROM mlops.model_version
                                   WHERE encode(sha256(artifact), 'hex') IS DISTINCT FROM artifact_sha256),
                                 (SELECT count(*) FROM mlops.alias a
                                   WHERE NOT EXISTS (SELECT FROM mlops.model_version v
                                                      WHERE v.model_id = a.model_id AND v.version = a.version)),
                                 (SELECT count(*) FROM mlops.runs WHERE status = 'running')""") == [(0, 0, 0)],
          f"{what}: every version holds its artifact, every alias a version, no run is left running")


def gone_client(directory, admin, sql, options):
    """Runs `sql` in a psql (with PGOPTIONS `options`) that is killed once the
    statement has run for 2 s, which closes its socket; returns the seconds
    the backend then took to end (None: still running after 20 s, then
    terminated)."""
    env = dict(os.environ, PGAPPNAME="gone_client", PGOPTIONS=options)
    client = subprocess.Popen(["psql", "-X", "-h", directory, "-U", "postgres", "-d", "mlops", "-c", sql],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if query(admin, """SELECT FROM pg_stat_activity WHERE application_name = 'gone_client'
                              AND state = 'active' AND now() - query_start > interval '2 s'"""):
            break
        time.sleep(0.05)
    client.kill()
    client.wait()
    gone = time.monotonic()
    while time.monotonic() < gone + 20:
        if not query(admin, "SELECT FROM pg_stat_activity WHERE application_name = 'gone_client'"):
            return time.monotonic() - gone
        time.sleep(0.1)
    query(admin, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'gone_client'")
    return None


def main(directory):
    admin = server_connection(directory)
    query(admin, "CREATE EXTENSION mlops")
    query(admin, """CREATE TABLE points AS
                    SELECT g, (g % 97)::float8 AS x, (g % 13)::float8 AS z, (g % 97) * 2.0 + (g % 13) AS y
                      FROM generate_series(1, 200000) g""")
    query(admin, "SELECT mlops.enable_audit('points')")
    worker = server_connection(directory)
    (pid,), = query(worker, "SELECT pg_backend_pid()")
    before = state(admin)

    # pg_terminate_backend while XGBoost's threads train: that backend ends, no other
    t, outcome = run_in_thread(worker, """SELECT * FROM mlops.train('trees', 'SELECT x, z, y FROM points', 'y',
                                          'xgboost', hyperparams => '{"n_estimators": 1000000, "max_depth": 8, "nthread": 2}')""")
    check(still_running(admin, pid, 2.0), "the xgboost training is still running after 2 s")
    query(admin, "SELECT pg_terminate_backend(%s)", (pid,))
    t.join(30)
    check(not t.is_alive() and outcome.get("error") is not None,
          f"pg_terminate_backend ends the training backend ({outcome.get('error')!r:.80})")
    check(query(admin, "SELECT 1") == [(1,)], "other sessions keep their connections (no crash restart)")
    check(state(admin) == before, "the terminated training left no run, no version, no log row")

    # SIGKILL during a training over a query: the server recovers
    worker = server_connection(directory)
    (pid,), = query(worker, "SELECT pg_backend_pid()")
    t, outcome = run_in_thread(worker, f"SELECT * FROM mlops.train('slow', $${SLOW}$$, 'y', 'linear')")
    check(still_running(admin, pid, 1.5), "the linear training is still running after 1.5 s")
    os.kill(pid, signal.SIGKILL)
    t.join(30)
    check(isinstance(outcome.get("error"), psycopg2.OperationalError), "the killed training's connection is lost")
    check(disconnected(admin), "the server restarts every backend after a SIGKILL")
    admin = reconnect(directory)
    check(state(admin) == before, "after the crash: no run, no version, no log row of the killed training")

    # SIGKILL in a transaction whose audited update of every row has written its log rows
    worker = server_connection(directory)
    (pid,), = query(worker, "SELECT pg_backend_pid()")
    t, outcome = run_in_thread(worker, "UPDATE points SET x = x + 1; SELECT pg_sleep(60)")
    check(sleeping(admin, pid), "the transaction's audited update is done, its pg_sleep started")
    os.kill(pid, signal.SIGKILL)
    t.join(30)
    check(disconnected(admin), "the server restarts every backend after a SIGKILL")
    admin = reconnect(directory)
    check(state(admin) == before, "after the crash: the killed update left no log row")
    check(query(admin, "SELECT ok, first_bad_id FROM mlops.verify_audit()") == [(True, None)],
          "the audit chain verifies after the crash")
    check(query(admin, "SELECT count(*) FROM points WHERE x <> (g % 97)") == [(0,)],
          "no row of the killed update is visible")

    # work goes on: an audited write chains on, a training registers version 1 and scores
    query(admin, "UPDATE points SET x = x + 1 WHERE g = 1")
    check(query(admin, "SELECT ok, rows_checked FROM mlops.verify_audit()") == [(True, before[2] + 1)],
          "a new audited write chains on the log the crash left")
    query(admin, "SELECT * FROM mlops.train('trees', 'SELECT x, z, y FROM points', 'y', 'xgboost', "
                 "hyperparams => '{\"n_estimators\": 5}')")
    check(query(admin, "SELECT version FROM mlops.model_versions WHERE name = 'trees'") == [(1,)],
          "a training after the crash registers version 1")
    (score,), = query(admin, "SELECT mlops.predict('trees', ARRAY[3, 4]::float8[])")
    check(score is not None and 0 < score < 400, f"the new version scores ({score})")
    return admin


def monitor_and_logged_scoring(directory, admin):
    """SIGKILL during a monitor's retraining and during predict_logged."""
    # a view whose reads sleep while slow_reads holds a row: the retraining's source
    query(admin, """CREATE TABLE slow_reads ();
                    CREATE FUNCTION read_slowly() RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
                    BEGIN
                        IF EXISTS (SELECT FROM slow_reads) THEN PERFORM pg_sleep(60); END IF;
                        RETURN true;
                    END $$;
                    CREATE VIEW slow_points AS SELECT x, z, y FROM points WHERE (SELECT read_slowly())""")
    query(admin, "SELECT * FROM mlops.train('watched', 'slow_points', 'y', 'linear')")
    query(admin, """SELECT mlops.create_monitor('shifted', 'watched', 'SELECT x + 50 AS x, z, y FROM points',
                                                action => 'retrain')""")
    query(admin, "INSERT INTO slow_reads DEFAULT VALUES")

    def watched():
        return query(admin, """SELECT (SELECT count(*) FROM mlops.runs), (SELECT count(*) FROM mlops.model_versions),
                                      (SELECT count(*) FROM mlops.audit_log), (SELECT count(*) FROM mlops.drift_results),
                                      (SELECT count(*) FROM mlops.alerts), (SELECT count(*) FROM mlops.prediction_log)""")[0]
    before = watched()

    def retraining(admin, pid):
        return query(admin, "SELECT wait_event = 'PgSleep' FROM pg_stat_activity WHERE pid = %s", (pid,)) == [(True,)]
    admin = killed_during(directory, admin, "SELECT mlops.run_monitor('shifted')", retraining)
    check(watched() == before, "after the crash: no drift result, alert, run, version or log row of the killed monitor")
    query(admin, "DELETE FROM slow_reads")
    outcome, = query(admin, "SELECT mlops.run_monitor('shifted')")[0]
    check(outcome["drifted"] == ["x"] and outcome["retrain"]["version"] == 2,
          f"the monitor runs again and retrains version 2 ({outcome.get('retrain', {}).get('version')})")
    before = watched()

    def scoring(admin, pid):
        return still_running(admin, pid, 0.5)
    admin = killed_during(directory, admin, "SELECT count(mlops.predict_logged('watched', g::text, ARRAY[x, z])) FROM points",
                          scoring)
    check(watched() == before, "after the crash: no logged prediction of the killed batch")
    query(admin, "SELECT mlops.predict_logged('watched', 'k1', ARRAY[1, 2]::float8[])")
    check(query(admin, "SELECT count(*), min(version) FROM mlops.prediction_log") == [(1, 2)],
          "predict_logged logs again, with the production version")
    chain_ok(admin, "after the killed monitor and batch")
    registry_consistent(admin, "after the killed monitor and batch")
    return admin


def prepared_across_shutdown(directory, admin):
    """A prepared transaction that wrote an audited table and the registry,
    held across an immediate shutdown, then committed or rolled back."""
    for finish_with, model in (("COMMIT PREPARED", "prepared"), ("ROLLBACK PREPARED", "rolled_back")):
        (last,), = query(admin, "SELECT max(id) FROM mlops.audit_log")
        prep = server_connection(directory)
        query(prep, "BEGIN")
        query(prep, "UPDATE points SET z = z + 1 WHERE g <= 3")
        query(prep, "SELECT * FROM mlops.train(%s, 'SELECT x, z, y FROM points WHERE g <= 1000', 'y', 'linear')",
              (model,))
        prepared_rows = log_tail(prep, last)
        query(prep, "PREPARE TRANSACTION 'crash_2pc'")
        crash_server(directory)
        admin = reconnect(directory)
        check(query(admin, "SELECT gid FROM pg_prepared_xacts") == [("crash_2pc",)],
              "the prepared transaction survives an immediate shutdown")
        check(query(admin, "SELECT max(id) FROM mlops.audit_log") == [(last,)] and
              query(admin, "SELECT count(*) FROM mlops.model_versions WHERE name = %s", (model,)) == [(0,)],
              "its log rows and its version stay invisible")
        chain_ok(admin, "while the transaction is prepared")
        waiter = server_connection(directory)
        try:
            query(waiter, "SET lock_timeout = '1s'; UPDATE points SET z = z + 1 WHERE g = 10")
            check(False, "another audited write waits for the prepared transaction (it did not)")
        except psycopg2.Error as e:
            check(e.pgcode == "55P03", f"another audited write waits for the prepared transaction ({e.pgcode})")
        query(waiter, "RESET lock_timeout")
        t, outcome = run_in_thread(waiter, "UPDATE points SET z = z + 1 WHERE g = 10")
        time.sleep(0.5)
        check(t.is_alive(), "it waits (no lock_timeout)")
        query(admin, f"{finish_with} 'crash_2pc'")
        t.join(30)
        check(not t.is_alive() and outcome.get("error") is None, f"after {finish_with} it proceeds")
        tail = log_tail(admin, last)
        kept = prepared_rows if finish_with == "COMMIT PREPARED" else []
        check(len(prepared_rows) > 3 and tail[:-1] == kept and tail[-1][1:] == ("public.points", "UPDATE")
              and tail[-1][0] not in {row[0] for row in kept},
              f"after {finish_with}: the log holds {'its' if kept else 'none of its'} rows, then the waiting write's")
        chain_ok(admin, f"after {finish_with}")
        versions = query(admin, "SELECT version FROM mlops.model_versions WHERE name = %s", (model,))
        check(versions == ([(1,)] if kept else []), f"after {finish_with}: its version is {'there' if kept else 'gone'}")
        registry_consistent(admin, f"after {finish_with}")
    (score,), = query(admin, "SELECT mlops.predict('prepared', ARRAY[3, 4]::float8[])")
    check(score is not None, "the committed version scores")
    return admin


def durable_head(directory, admin):
    """The README's recipe for publishing the head of the log under
    asynchronous commit: once the WAL is flushed past the insert position read
    with it, the head survives a crash."""
    writer = server_connection(directory)
    query(writer, "SET synchronous_commit = off")
    query(writer, "UPDATE points SET z = z + 1 WHERE g = 30")
    head, lsn = query(admin, """SELECT (SELECT (id, encode(hash, 'hex'))::text FROM mlops.audit_log
                                         ORDER BY id DESC LIMIT 1), pg_current_wal_insert_lsn()""")[0]
    deadline = time.monotonic() + 10
    while query(admin, "SELECT pg_current_wal_flush_lsn() < %s::pg_lsn", (lsn,)) == [(True,)] \
            and time.monotonic() < deadline:
        time.sleep(0.05)
    admin = killed_during(directory, admin, "SELECT pg_sleep(60)", sleeping)
    check(query(admin, "SELECT (id, encode(hash, 'hex'))::text FROM mlops.audit_log ORDER BY id DESC LIMIT 1")
          == [(head,)], "a head read under asynchronous commit survives a crash once the WAL is flushed past it")
    return admin


def gone_clients(directory, admin):
    """A client that goes away: its call ends, and the lock its transaction held."""
    (last,), = query(admin, "SELECT max(id) FROM mlops.audit_log")
    # progress NOTICEs (each second here) find the client gone: the transaction
    # holding the audit chain's lock ends with its evaluate
    took = gone_client(directory, admin,
                       "BEGIN; UPDATE points SET z = z + 1 WHERE g = 20; "
                       f"SELECT mlops.evaluate('trees', $${SLOW}$$)",
                       "-c mlops.progress_interval=1000")
    check(took is not None and took < 10, f"a gone client's evaluate ends at its next progress NOTICE ({took} s)")
    query(admin, "SET lock_timeout = '5s'; UPDATE points SET z = z + 1 WHERE g = 21; RESET lock_timeout")
    check([row[1:] for row in log_tail(admin, last)] == [("public.points", "UPDATE")],
          "the audit chain's lock is released: the next audited write proceeds, the gone transaction's is not logged")
    # without NOTICEs, client_connection_check_interval finds it gone
    took = gone_client(directory, admin,
                       f"SELECT * FROM mlops.train('gone', $${SLOW}$$, 'y', 'linear')",
                       "-c mlops.progress_interval=-1 -c client_connection_check_interval=1000")
    check(took is not None and took < 10,
          f"with progress NOTICEs off, client_connection_check_interval ends a gone client's training ({took} s)")
    check(query(admin, "SELECT count(*) FROM mlops.runs WHERE experiment = 'gone'") == [(0,)],
          "the gone client's training left no run")
    chain_ok(admin, "after the gone clients")


# unlike the other throwaway servers, this one commits synchronously: a commit
# must survive the crash that follows it
server = start_server("synchronous_commit = on")
try:
    admin = main(server)
    admin = monitor_and_logged_scoring(server, admin)
    admin = prepared_across_shutdown(server, admin)
    admin = durable_head(server, admin)
    gone_clients(server, admin)
finally:
    stop_server(server)
finish()
