"""Helpers for the test scripts under test/: a fresh database per script with
mlops and the embedded datasets loaded, and checks that are counted and reported.

The server is the throwaway one started by scripts/run-tests (PGHOST, PGPORT,
PGUSER are in the environment)."""
import atexit
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
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


# The servers this script started and has not stopped: stopped at its exit,
# whichever way it ends (an exception, KeyboardInterrupt, or TERM and HUP,
# which end it as sys.exit does rather than at once).
_servers = []


def _stop_servers():
    """Stops the servers this script started and left running (a further
    TERM or HUP does not cut that short)."""
    for ignored in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(ignored, signal.SIG_IGN)
    for directory in list(_servers):
        stop_server(directory)


def _exit_on_signal(signum, frame):
    """Ends the script as sys.exit does (finally blocks and _stop_servers run)."""
    sys.exit(128 + signum)


atexit.register(_stop_servers)
for _signal in (signal.SIGTERM, signal.SIGHUP):
    if signal.getsignal(_signal) != signal.SIG_IGN:    # one ignored (nohup) stays ignored
        signal.signal(_signal, _exit_on_signal)


def _cluster(command, prefix, *args):
    """Runs scripts/cluster COMMAND in a new directory /tmp/PREFIX.XXXXXX (the
    staged build when MLOPS_PG_STAGE is set) and returns the directory (socket
    directory) and port of the server it started. The directory is recorded
    before the server starts, here and for scripts/run-tests
    (MLOPS_TEST_SERVERS), so that an interrupted start is stopped too; an
    interrupted scripts/cluster is told to stop (TERM: it removes what it made)
    and awaited, not killed while its server starts."""
    directory = tempfile.mkdtemp(prefix=f"{prefix}.", dir="/tmp")
    _servers.append(directory)
    if os.environ.get("MLOPS_TEST_SERVERS"):
        with open(os.environ["MLOPS_TEST_SERVERS"], "a") as f:
            f.write(directory + "\n")
    argv = [os.path.join(ROOT, "scripts", "cluster"), command]
    argv += [*args[:1], directory, *args[1:]] if command == "standby" else [directory, *args]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate()
    except BaseException:
        proc.terminate()
        proc.wait()
        raise
    if proc.returncode != 0:
        raise subprocess.CalledProcessError(proc.returncode, argv, out, err)
    return directory, int(re.search(r"PGPORT=(\d+);", out).group(1))


def start_server(*settings):
    """Starts a further throwaway server, with further postgresql.conf lines
    (settings), and returns its directory (its socket directory; it listens on
    port 5432, unless a setting "port = N" says otherwise)."""
    return _cluster("start", "mlops-cluster", *settings)[0]


def start_standby(primary):
    """Starts a hot standby of the start_server server in directory `primary`
    (streaming replication) and returns its directory and port."""
    return _cluster("standby", "mlops-standby", primary)


def crash_server(directory):
    """Stops the start_server server in `directory` at once (immediate
    shutdown: no checkpoint, every session ended) and starts it again, which
    recovers from its WAL as after a crash."""
    subprocess.run([os.path.join(ROOT, "scripts", "cluster"), "crash", directory], check=True)


def stop_server(directory):
    """Stops and removes a server start_server (or start_standby) started."""
    subprocess.run([os.path.join(ROOT, "scripts", "cluster"), "stop", directory], check=False)
    if directory in _servers:
        _servers.remove(directory)


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
