#!/usr/bin/python3
"""A long train() over a large query source is cancelled within a second
(pg_cancel_backend and statement_timeout), leaving no run and no version
behind, and the session usable."""
import threading
import time

import psycopg2

from mlops_test import check, connect, finish, fresh_database, query

conn = fresh_database("test_linear_cancel", datasets=False)
other = connect("test_linear_cancel")
(pid,), = query(conn, "SELECT pg_backend_pid()")

# a source that takes far longer than the test to read
slow = ("SELECT g::float8 AS x, (g % 7)::float8 AS z, (g % 2) AS y "
        "FROM generate_series(1, 200000000) g")


def cancel_after(delay):
    time.sleep(delay)
    start = time.perf_counter()
    query(other, "SELECT pg_cancel_backend(%s)", (pid,))
    return start


def cancelled_train(source, algorithm, delay, extra=""):
    """Runs a train() that pg_cancel_backend interrupts after `delay` seconds;
    returns its SQLSTATE and the seconds from the cancel to the error. A
    latency over a second is measured once more: on a loaded shared machine
    one slow wake-up is noise, a training that does not check for interrupts
    is slow every time."""
    for attempt in range(2):
        started = {}
        t = threading.Thread(target=lambda: started.setdefault("at", cancel_after(delay)))
        t.start()
        try:
            query(conn, f"SELECT * FROM mlops.train('slow', %s, 'y', %s{extra})", (source, algorithm))
            code = None
        except psycopg2.Error as e:
            code = e.pgcode
        t.join()
        latency = time.perf_counter() - started["at"]
        if code != "57014" or latency < 1.0:
            break
    return code, latency


for algorithm in ("linear", "logistic"):
    for delay in (0.3, 1.5):
        code, latency = cancelled_train(slow, algorithm, delay)
        check(code == "57014" and latency < 1.0,
              f"{algorithm}: pg_cancel_backend after {delay} s stops it in {latency:.3f} s (57014)")

# a wide design (4500 one-hot terms): each block of rows folded into the
# cross products is small enough to stop at (a block of 10000 rows was
# 2·10¹¹ multiply-adds, seconds in one BLAS call)
wide = ("SELECT 'c' || (g % 4501) AS c, (g % 7)::float8 AS y FROM generate_series(1, 20000) g")
code, latency = cancelled_train(wide, "linear", 1.5, ", test_fraction => 0")
check(code == "57014" and latency < 1.0,
      f"a wide linear design: pg_cancel_backend while it folds the rows stops it in {latency:.3f} s (57014)")

query(conn, "SET statement_timeout = '700ms'")
start = time.perf_counter()
try:
    query(conn, "SELECT * FROM mlops.train('slow', %s, 'y', 'ridge')", (slow,))
    check(False, "statement_timeout stops a training")
except psycopg2.Error as e:
    elapsed = time.perf_counter() - start
    check(e.pgcode == "57014" and elapsed < 1.7, f"statement_timeout 700 ms stops it after {elapsed:.3f} s (57014)")
query(conn, "RESET statement_timeout")

check(query(conn, "SELECT count(*) FROM mlops.model_version") == [(0,)], "no version registered")
check(query(conn, "SELECT count(*) FROM mlops.run") == [(0,)], "no run left behind")
check(query(conn, "SELECT 1") == [(1,)], "the session is usable")
finish()
