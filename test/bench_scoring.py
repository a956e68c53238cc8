#!/usr/bin/python3
"""Scoring benchmarks: batch scoring of 200k rows × 20 float features with a
binary model of 100 trees of depth 6 (SQL vs Python xgboost inplace_predict,
one thread each), and online scoring with pgbench (4 clients)."""
import statistics
import time

import mlops_bench
from mlops_bench import (backend_cpu_seconds, import_binary_xgboost, interleaved_medians, random_feature_tables,
                         report)
from mlops_test import fresh_database, query

ROWS, F = 200_000, 20
conn = fresh_database("bench_scoring", datasets=False)
cols, X, y = random_feature_tables(conn, ROWS, F)
booster = import_binary_xgboost(conn, cols, X, y, 50_000, 100)
booster.set_param({"nthread": 1})
query(conn, "SET max_parallel_workers_per_gather = 0")

backend_cpu = backend_cpu_seconds(conn)


# interleaved, so that all three share the machine's load; the first round warms up
wall, cpu = interleaved_medians({"peer": (lambda: booster.inplace_predict(X), time.process_time),
        "array": (lambda: query(conn, "SELECT sum(mlops.predict('m', f)) FROM b_arr"), backend_cpu),
        "row": (lambda: query(conn, "SELECT sum(mlops.predict('m', t)) FROM b_row t"), backend_cpu)}, 5)
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
