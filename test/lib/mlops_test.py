"""Helpers for the test scripts under test/: a fresh database per script with
mlops and the embedded datasets loaded, and checks that are counted and reported.

The server is the throwaway one started by scripts/run-tests (PGHOST, PGPORT,
PGUSER are in the environment)."""
import math
import os
import re
import subprocess
import sys
import threading
import time

import psycopg2

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The server's programs (pg_dump, pg_restore...): those of the runner's server
# (scripts/run-tests exports its PG_BINDIR), else those scripts/lib.sh names
# (the stage's with MLOPS_PG_STAGE, as scripts/cluster takes them).
BINDIR = os.environ.get("PG_BINDIR") or subprocess.run(
    ["sh", "-c", '. scripts/lib.sh && printf %s "$PG_BINDIR"'], cwd=ROOT, check=True, capture_output=True,
    text=True).stdout
_failures = []
_passed = 0


def fresh_database(name, datasets=True, encoding=None):
    """Creates database `name` (dropping an old one) with mlops installed and,
    unless told otherwise, the embedded datasets loaded; returns an autocommit
    connection to it. `encoding` (e.g. "LATIN1", "SQL_ASCII") makes it a
    database of that encoding, with the C locale."""
    admin = psycopg2.connect(dbname="postgres")
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if encoding:
            cur.execute(f'CREATE DATABASE "{name}" ENCODING \'{encoding}\' LC_COLLATE \'C\' LC_CTYPE \'C\' '
                        'TEMPLATE template0')
        else:
            cur.execute(f'CREATE DATABASE "{name}"')
    admin.close()
    conn = connect(name)
    with conn.cursor() as cur:
        cur.execute("CREATE EXTENSION mlops")
    if datasets:
        psql(name, "-f", os.path.join("test", "data", "load.sql"))
    return conn


def connect(name):
    """An autocommit connection to database `name`."""
    conn = psycopg2.connect(dbname=name)
    conn.autocommit = True
    return conn


def _cluster(*args):
    """Runs scripts/cluster (the staged build when MLOPS_PG_STAGE is set) and
    returns the directory (socket directory) and port of the server it started."""
    out = subprocess.run([os.path.join(ROOT, "scripts", "cluster"), *args],
                         check=True, capture_output=True, text=True).stdout
    return re.search(r"MLOPS_CLUSTER=([^;]+);", out).group(1), int(re.search(r"PGPORT=(\d+);", out).group(1))


def start_server(*settings):
    """Starts a further throwaway server, with further postgresql.conf lines
    (settings), and returns its directory (its socket directory; it listens on
    port 5432, unless a setting "port = N" says otherwise)."""
    return _cluster("start", "", *settings)[0]


def start_standby(primary):
    """Starts a hot standby of the start_server server in directory `primary`
    (streaming replication) and returns its directory and port."""
    return _cluster("standby", primary)


def crash_server(directory):
    """Stops the start_server server in `directory` at once (immediate
    shutdown: no checkpoint, every session ended) and starts it again, which
    recovers from its WAL as after a crash."""
    subprocess.run([os.path.join(ROOT, "scripts", "cluster"), "crash", directory], check=True)


def stop_server(directory):
    """Stops and removes a server start_server started."""
    subprocess.run([os.path.join(ROOT, "scripts", "cluster"), "stop", directory], check=False)


def server_connection(directory, port=5432):
    """An autocommit connection to database mlops of a start_server (or start_standby) server."""
    conn = psycopg2.connect(host=directory, port=port, user="postgres", dbname="mlops")
    conn.autocommit = True
    return conn


def psql(dbname, *args):
    """Runs psql from the repository root (so relative \\copy paths work)."""
    subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dbname, *args],
                   cwd=ROOT, check=True, stdout=subprocess.DEVNULL)


def query(conn, sql, params=None):
    """All rows of a query ([] for a statement that returns none)."""
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall() if cur.description is not None else []


def check(condition, what):
    """Records one check and prints its outcome."""
    global _passed
    if condition:
        _passed += 1
        print(f"ok    {what}")
    else:
        _failures.append(what)
        print(f"FAIL  {what}")


def close(a, b, rel=1e-9, abs_=1e-12):
    """True when two floats (or equal-length sequences of floats) agree within rel/abs tolerance."""
    if isinstance(a, (list, tuple)) or hasattr(a, "__len__"):
        return len(a) == len(b) and all(close(x, y, rel, abs_) for x, y in zip(a, b))
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return math.isclose(a, b, rel_tol=rel, abs_tol=abs_)


def expect_error(conn, sql, sqlstate, params=None):
    """Checks that a statement fails with the given SQLSTATE and that the session
    is still usable afterwards; returns the error message."""
    try:
        query(conn, sql, params)
    except psycopg2.Error as e:
        check(e.pgcode == sqlstate, f"{sql[:70]!r} fails with {sqlstate} (got {e.pgcode}: {e.pgerror.strip()[:120] if e.pgerror else ''})")
        check(query(conn, "SELECT 1") == [(1,)], "the session is usable after the error")
        return e.pgerror
    check(False, f"{sql[:70]!r} fails with {sqlstate} (it succeeded)")
    return None


def cancelled(conn, other, sql, when_to_cancel, params=None):
    """Runs sql on conn, which connection other cancels (pg_cancel_backend)
    once when_to_cancel(running) returns true (running: an Event cleared when
    the statement has ended, for a wait that polls); returns the statement's
    SQLSTATE (None if it finished) and the seconds from the cancel to the
    error. A latency over a second is measured up to twice more: on a loaded
    shared machine a slow wake-up is noise, a stage that does not check for
    interrupts is slow every time."""
    (pid,), = query(conn, "SELECT pg_backend_pid()")
    for _ in range(3):
        sent = {}
        running = threading.Event()
        running.set()

        def cancel():
            if when_to_cancel(running):
                sent["at"] = time.perf_counter()
                query(other, "SELECT pg_cancel_backend(%s)", (pid,))

        t = threading.Thread(target=cancel)
        t.start()
        try:
            query(conn, sql, params)
            code = None
        except psycopg2.Error as e:
            code = e.pgcode
        end = time.perf_counter()
        running.clear()
        t.join()
        latency = end - sent.get("at", end)
        if code != "57014" or latency < 1.0:
            break
    return code, latency


def finish():
    """Prints the tally and exits non-zero if any check failed (or none ran)."""
    print(f"{_passed} checks passed, {len(_failures)} failed")
    if _failures:
        for f in _failures:
            print(f"  failed: {f}")
    sys.exit(1 if _failures or _passed == 0 else 0)
