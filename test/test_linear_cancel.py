#!/usr/bin/python3
"""A long train() over a large query source is cancelled within a second
(pg_cancel_backend and statement_timeout), leaving no run and no version
behind, and the session usable."""
import time

import psycopg2

from mlops_test import cancelled, check, connect, finish, fresh_database, query

conn = fresh_database("test_linear_cancel", datasets=False)
other = connect("test_linear_cancel")

# a source that takes far longer than the test to read
slow = ("SELECT g::float8 AS x, (g % 7)::float8 AS z, (g % 2) AS y "
        "FROM generate_series(1, 200000000) g")


def cancelled_train(source, algorithm, delay, extra=""):
    """Runs a train() that pg_cancel_backend interrupts after `delay` seconds;
    returns its SQLSTATE and the seconds from the cancel to the error."""
    return cancelled(conn, other, f"SELECT * FROM mlops.train('slow', %s, 'y', %s{extra})",
                     lambda running: time.sleep(delay) or True, (source, algorithm))


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

# a logistic design of 11,601 columns (two inputs of 5,801 categories): its
# Hessian's blocks (11,601² float8s, beyond palloc's 1 GB without the huge
# flag) failed with XX000 at the first Newton step; they are computed now, and
# a cancel stops it between blocks
query(conn, "SET mlops.max_training_memory = '6GB'")
widest = ("SELECT 'a' || g AS a, 'b' || g AS b, (g % 2) AS y FROM generate_series(1, 5801) g")
code, latency = cancelled_train(widest, "logistic", 4.0, ", test_fraction => 0")
check(code == "57014" and latency < 1.0,
      f"a logistic design of 11,601 columns: pg_cancel_backend while it builds the Hessian stops it "
      f"in {latency:.3f} s ({code}, 57014 expected)")
query(conn, "RESET mlops.max_training_memory")

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
