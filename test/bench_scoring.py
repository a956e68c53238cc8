#!/usr/bin/python3
"""Scoring benchmarks: batch scoring of 200k rows × 20 float features with a
binary model of 100 trees of depth 6 (SQL vs Python xgboost inplace_predict,
one thread each), and online scoring with pgbench (4 clients)."""
import statistics
import time

import mlops_bench
from mlops_bench import backend_cpu_seconds, import_binary_xgboost, random_feature_tables, report
from mlops_test import fresh_database, query

ROWS, F = 200_000, 20
conn = fresh_database("bench_scoring", datasets=False)
cols, X, y = random_feature_tables(conn, ROWS, F)
booster = import_binary_xgboost(conn, cols, X, y, 50_000, 100)
booster.set_param({"nthread": 1})
query(conn, "SET max_parallel_workers_per_gather = 0")

backend_cpu = backend_cpu_seconds(conn)


def timed(fn, cpu):
    """Wall and CPU seconds of one run of fn()."""
    c0, t0 = cpu(), time.perf_counter()
    fn()
    return time.perf_counter() - t0, cpu() - c0


runs = {"peer": (lambda: booster.inplace_predict(X), time.process_time),
        "array": (lambda: query(conn, "SELECT sum(mlops.predict('m', f)) FROM b_arr"), backend_cpu),
        "row": (lambda: query(conn, "SELECT sum(mlops.predict('m', t)) FROM b_row t"), backend_cpu)}
times = {k: [] for k in runs}
for i in range(6):  # interleaved, so that all three share the machine's load; the first round warms up
    for k, (fn, cpu) in runs.items():
        if i:
            times[k].append(timed(fn, cpu))
        else:
            fn()
wall = {k: statistics.median(t[0] for t in v) for k, v in times.items()}
cpu = {k: statistics.median(t[1] for t in v) for k, v in times.items()}
report("batch 200k×20, 100 trees d6: predict(float8[]) vs inplace_predict", wall["array"], wall["peer"], "<= 1.0")
report("batch 200k×20, 100 trees d6: predict(row) vs inplace_predict", wall["row"], wall["peer"], "<= 1.3")
report("  same, CPU time: predict(float8[]) vs inplace_predict", cpu["array"], cpu["peer"], "<= 1.0")
report("  same, CPU time: predict(row) vs inplace_predict", cpu["row"], cpu["peer"], "<= 1.3")


def pgbench(sql, seconds=8):
    """Average latency (ms) of pgbench on this benchmark's database, :id over b_row."""
    return mlops_bench.pgbench("bench_scoring", sql, seconds, ROWS)


pgbench("SELECT mlops.predict('m', t) FROM b_row t WHERE id = :id", 3)  # warm-up
plain, scored = [], []
for _ in range(3):  # interleaved, as above
    plain.append(pgbench("SELECT t FROM b_row t WHERE id = :id", 5))
    scored.append(pgbench("SELECT mlops.predict('m', t) FROM b_row t WHERE id = :id", 5))
plain, scored = statistics.median(plain), statistics.median(scored)
report("online, pgbench 4 clients: predict(row) vs the same SELECT", scored, plain, "<= 1.25", unit="ms")
