#!/usr/bin/python3
"""Linear training: train('linear') on N rows x 20 float features against
(a) fetching the rows with psycopg2 and fitting sklearn LinearRegression, and
(b) sklearn's fit alone on the rows already in a numpy array; and the
mlops.linear_stats aggregate's throughput with 0 and 2 parallel workers.
N = 2,000,000 unless MLOPS_BENCH_LINEAR_ROWS says otherwise."""
import os
import time

import numpy as np
import psycopg2
from sklearn.linear_model import LinearRegression

from mlops_bench import backend_cpu_seconds, interleaved_medians, median_seconds, report

N = int(os.environ.get("MLOPS_BENCH_LINEAR_ROWS", "2000000"))
K = 20
cols = [f"x{i}" for i in range(1, K + 1)]

admin = psycopg2.connect(dbname="postgres")
admin.autocommit = True
with admin.cursor() as cur:
    cur.execute("DROP DATABASE IF EXISTS bench_linear WITH (FORCE)")
    cur.execute("CREATE DATABASE bench_linear")
admin.close()
conn = psycopg2.connect(dbname="bench_linear")
conn.autocommit = True
cur = conn.cursor()
cur.execute("CREATE EXTENSION mlops")
start = time.perf_counter()
# y depends linearly on the features, with noise
terms = " + ".join(f"{(i % 7) - 3}.5 * {c}" for i, c in enumerate(cols))
cur.execute(f"""CREATE TABLE bench AS
                SELECT {', '.join(f'x{i}' for i in range(1, K + 1))}, {terms} + random() AS y
                  FROM (SELECT {', '.join(f'random() AS x{i}' for i in range(1, K + 1))}
                          FROM generate_series(1, {N})) s""")
cur.execute("VACUUM ANALYZE bench")
print(f"loaded {N} rows x {K} features in {time.perf_counter() - start:.1f} s")


def ours():
    cur.execute("SELECT * FROM mlops.train('bench', 'bench', 'y', 'linear')")
    cur.fetchall()


def fetch_and_fit():
    with conn.cursor() as c:
        c.execute(f"SELECT {', '.join(cols)}, y FROM bench")
        data = np.array(c.fetchall(), dtype=float)
    LinearRegression().fit(data[:, :K], data[:, K])
    return data


start = time.perf_counter()
data = fetch_and_fit()
t_fetch_fit = time.perf_counter() - start
X, y = np.ascontiguousarray(data[:, :K]), data[:, K].copy()
del data


# interleaved, so that both share the machine's load; the first round warms up.
# CPU time: the backend's for train(), the process's (all its BLAS threads) for sklearn
wall, cpu = interleaved_medians({"ours": (ours, backend_cpu_seconds(conn)),
                                 "fit": (lambda: LinearRegression().fit(X, y), time.process_time)}, 3)
report(f"train('linear') {N} rows x {K} vs psycopg2 fetch + sklearn fit", wall["ours"], t_fetch_fit, "<= 0.1")
report(f"train('linear') {N} rows x {K} vs sklearn fit on a numpy array", wall["ours"], wall["fit"], "<= 1.0")
report("  same, CPU time: train() backend vs sklearn fit process", cpu["ours"], cpu["fit"], "")

aggregate = f"SELECT mlops.linear_fit(mlops.linear_stats(y, ARRAY[{', '.join(cols)}])) FROM bench"
rates = {}
for workers in (0, 2):
    cur.execute(f"SET max_parallel_workers_per_gather = {workers}")
    cur.execute("EXPLAIN " + aggregate)
    plan = "\n".join(r[0] for r in cur.fetchall())
    rates[workers] = N / median_seconds(lambda: cur.execute(aggregate) or cur.fetchall(), repeat=3, warmup=1)
    print(f"linear_stats with max_parallel_workers_per_gather = {workers}: {rates[workers]:,.0f} rows/s"
          f" ({'Partial Aggregate' if 'Partial Aggregate' in plan else 'no partial aggregate'})")
report("linear_stats aggregate rows/s, 2 workers vs 0 (higher is better)", rates[2], rates[0], "", unit="rows/s")
conn.close()
