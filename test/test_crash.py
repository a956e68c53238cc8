#!/usr/bin/python3
"""A backend killed in the middle of work, on a server of its own (a SIGKILL
makes the server restart every backend). pg_terminate_backend during an
XGBoost training, whose OpenMP threads are running, ends that backend alone;
SIGKILL during a training and during an audited update makes the server
recover from the crash. Nothing of the killed work remains (no run, no
version, no log row), the audit chain still verifies and grows, and training
and scoring work again."""
import os
import signal
import threading
import time

import psycopg2

from mlops_test import check, finish, query, server_connection, start_server, stop_server

# a source that takes far longer than the test to read
SLOW = ("SELECT g::float8 AS x, (g % 7)::float8 AS z, (g % 2) AS y "
        "FROM generate_series(1, 200000000) g")


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


server = start_server()
try:
    main(server)
finally:
    stop_server(server)
finish()
