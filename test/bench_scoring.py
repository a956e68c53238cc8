#!/usr/bin/python3
"""Scoring benchmarks: batch scoring of 200k rows × 20 float features with a
binary model of 100 trees of depth 6 (SQL vs Python xgboost inplace_predict,
one thread each), and online scoring with pgbench (4 clients)."""
import os
import re
import statistics
import subprocess
import tempfile
import time

import numpy as np
import psycopg2
import xgboost as xgb

from mlops_bench import report
from mlops_test import fresh_database, query

ROWS, F = 200_000, 20
conn = fresh_database("bench_scoring", datasets=False)
cols = [f"f{i}" for i in range(1, F + 1)]
query(conn, "SELECT setseed(0.42)")
query(conn, f"CREATE TABLE b_row AS SELECT i AS id, {', '.join(f'random() AS {c}' for c in cols)} "
      f"FROM generate_series(1, {ROWS}) i")
query(conn, "ALTER TABLE b_row ADD PRIMARY KEY (id)")
query(conn, f"CREATE TABLE b_arr AS SELECT id, ARRAY[{', '.join(cols)}] AS f FROM b_row")
query(conn, "VACUUM ANALYZE b_row")
query(conn, "VACUUM ANALYZE b_arr")
X = np.array(query(conn, f"SELECT {', '.join(cols)} FROM b_row ORDER BY id"), dtype=np.float32)
y = (X[:, 0] + X[:, 1] * X[:, 2] - X[:, 3] ** 2 + 0.1 * np.random.default_rng(1).normal(size=ROWS) > 0.4).astype(int)
booster = xgb.train({"objective": "binary:logistic", "max_depth": 6, "nthread": 1, "tree_method": "hist"},
                    xgb.DMatrix(X[:50_000], label=y[:50_000]), 100)
query(conn, "SELECT mlops.import_model('m', %s, 'xgboost-ubj', %s, 'classification')",
      (psycopg2.Binary(bytes(booster.save_raw("ubj"))), cols))
booster.set_param({"nthread": 1})
query(conn, "SET max_parallel_workers_per_gather = 0")

pid = query(conn, "SELECT pg_backend_pid()")[0][0]
TICK = os.sysconf("SC_CLK_TCK")


def backend_cpu():
    """CPU seconds the server backend has used (the machine is shared: CPU time is steadier than wall time)."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


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
    """Average latency (ms) of pgbench, 4 clients, prepared statements."""
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
        f.write(f"\\set id random(1, {ROWS})\n{sql};\n")
    try:
        out = subprocess.run(["/usr/lib/postgresql/15/bin/pgbench", "-n", "-M", "prepared", "-c", "4", "-j", "2",
                              "-T", str(seconds), "-f", f.name, "bench_scoring"],
                             check=True, capture_output=True, text=True).stdout
    finally:
        os.unlink(f.name)
    return float(re.search(r"latency average = ([0-9.]+) ms", out).group(1))


pgbench("SELECT mlops.predict('m', t) FROM b_row t WHERE id = :id", 3)  # warm-up
plain, scored = [], []
for _ in range(3):  # interleaved, as above
    plain.append(pgbench("SELECT t FROM b_row t WHERE id = :id", 5))
    scored.append(pgbench("SELECT mlops.predict('m', t) FROM b_row t WHERE id = :id", 5))
plain, scored = statistics.median(plain), statistics.median(scored)
report("online, pgbench 4 clients: predict(row) vs the same SELECT", scored, plain, "<= 1.25", unit="ms")
