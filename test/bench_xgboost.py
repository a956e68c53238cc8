#!/usr/bin/python3
"""XGBoost training: train(algorithm => 'xgboost') on a table of ROWS rows × 20
float8 features (100 rounds, depth 6, tree_method hist, the same threads for
training and for building the matrix — one by default: on this shared 2-core
machine two OpenMP threads on busy cores are several times slower than one,
which would measure the load, not the code; BENCH_XGB_THREADS=2 on an idle
machine) against Python's xgboost.train on the same rows held in a numpy
array (bare, and evaluating every round as train() does), and against fetching
the rows with psycopg2 then training in Python.
Also the peak memory of each: the backend's VmHWM growth during train() less
the shared buffers and library pages it mapped meanwhile (RssShmem and RssFile
growth: the table's pages and code, not the training's memory), and the VmHWM
growth of a fresh Python process doing the fetch and the training; and, for
scale, the VmHWM growth of a fresh Python process in which libxgboost alone
builds its QuantileDMatrix from a float32 array already in memory and trains
(the least any caller of this libxgboost can peak at). 500k rows
by default (BENCH_XGB_ROWS for fewer while iterating), a warm-up round and
three interleaved repetitions (BENCH_XGB_REPEAT)."""
import os
import subprocess
import sys
import time

import numpy as np
import xgboost as xgb

from mlops_bench import backend_cpu_seconds, interleaved_medians, report
from mlops_test import connect, fresh_database, query

ROWS = int(os.environ.get("BENCH_XGB_ROWS", 500_000))
FEATURES = 20
ROUNDS = 100
THREADS = int(os.environ.get("BENCH_XGB_THREADS", 1))
PARAMS = {"max_depth": 6, "tree_method": "hist", "nthread": THREADS}
DB = "bench_xgboost"
COLS = [f"f{j}" for j in range(FEATURES)]

conn = fresh_database(DB, datasets=False)
query(conn, f"""CREATE TABLE bench AS
                SELECT {', '.join(f'random() AS f{j}' for j in range(FEATURES))}, 0::float8 AS y
                  FROM generate_series(1, {ROWS})""")
query(conn, f"UPDATE bench SET y = {' + '.join(f'{j % 5 - 2} * f{j}' for j in range(FEATURES))} + random()")
query(conn, "VACUUM FREEZE ANALYZE bench")
SELECT = f"SELECT {', '.join(COLS)}, y FROM bench"
HYPER = '{"max_depth": 6, "tree_method": "hist", "n_estimators": %d}' % ROUNDS


def ours(c=conn):
    query(c, "SET mlops.threads = %s", (THREADS,))
    query(c, f"SELECT version FROM mlops.train('bench', 'bench', 'y', hyperparams => '{HYPER}', test_fraction => 0)")


def fetch():
    """The rows as float64 arrays, fetched with psycopg2 as a Python user would."""
    rows = query(conn, SELECT)
    data = np.array(rows, dtype=np.float64)
    return data[:, :FEATURES], data[:, FEATURES]


X, y = fetch()


def in_memory():
    xgb.train(PARAMS, xgb.DMatrix(X, label=y, nthread=THREADS), ROUNDS)


def in_memory_evaluated():
    """The same with the metric of every round on the training rows, as train() logs it."""
    d = xgb.DMatrix(X, label=y, nthread=THREADS)
    xgb.train(PARAMS, d, ROUNDS, evals=[(d, "train")], verbose_eval=False)


def fetch_and_train():
    Xf, yf = fetch()
    xgb.train(PARAMS, xgb.DMatrix(Xf, label=yf, nthread=THREADS), ROUNDS)


def status_kb(pid, field):
    """A field of /proc/PID/status, in kB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field}")


def backend_peak_mb():
    """Peak private memory growth of a fresh backend during one train()."""
    c = connect(DB)
    pid = query(c, "SELECT pg_backend_pid()")[0][0]
    query(c, "SELECT mlops.build_info()")   # load the library first
    fields = ("VmHWM", "RssShmem", "RssFile")
    before = [status_kb(pid, f) for f in fields]
    ours(c)
    hwm, shm, lib = (status_kb(pid, f) - b for f, b in zip(fields, before))
    c.close()
    return (hwm - shm - lib) / 1024


def python_peak_mb(setup, work):
    """Peak memory growth (VmHWM, MB) of a fresh Python process while it runs
    the statements work, after the statements setup."""
    program = f"""
import numpy as np, psycopg2, xgboost as xgb
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
{setup}
before = hwm()
{work}
print((hwm() - before) / 1024)
"""
    out = subprocess.run([sys.executable, "-c", program], check=True, capture_output=True, text=True).stdout
    return float(out.split()[-1])


# The peer: fetching the rows with psycopg2 and training.
PEER = f"""
c = psycopg2.connect(dbname={DB!r}); cur = c.cursor(); cur.execute({SELECT!r})
data = np.array(cur.fetchall(), dtype=np.float64); cur.close(); c.close()
xgb.train({PARAMS!r}, xgb.DMatrix(data[:, :{FEATURES}], label=data[:, {FEATURES}], nthread={THREADS}), {ROUNDS})
"""
# libxgboost alone: its QuantileDMatrix of a float32 array already in memory, and training.
LIBRARY_SETUP = f"""
X = np.random.default_rng(0).random(({ROWS}, {FEATURES}), dtype=np.float32)
y = X.sum(axis=1)
"""
LIBRARY_ALONE = f"""
xgb.train({PARAMS!r}, xgb.QuantileDMatrix(X, label=y, nthread={THREADS}), {ROUNDS})
"""


# Interleaved rounds (ours, in-memory, fetch+train, ...) after a warm-up round,
# so that the load of this shared machine weighs on all alike. CPU time too,
# steadier than wall time here: the backend's for train(), this process's for
# the Python peers.
wall, cpu = interleaved_medians({"ours": (ours, backend_cpu_seconds(conn)),
                                 "in_memory": (in_memory, time.process_time),
                                 "in_memory_evaluated": (in_memory_evaluated, time.process_time),
                                 "fetch": (fetch_and_train, time.process_time)},
                                int(os.environ.get("BENCH_XGB_REPEAT", 3)))
t_ours, t_mem, t_fetch = wall["ours"], wall["in_memory"], wall["fetch"]
what = f"xgboost train, {ROWS // 1000}k x {FEATURES}, {ROUNDS} rounds depth 6, {THREADS} threads"
report(f"{what}: train() vs xgboost.train on numpy", t_ours, t_mem, "1.15")
report(f"{what}: train() vs psycopg2 fetch + xgboost.train", t_ours, t_fetch, "0.8")
report(f"{what}: CPU time, train()'s backend vs xgboost.train on numpy", cpu["ours"], cpu["in_memory"], "")
report(f"{what}: train() vs xgboost.train on numpy evaluating every round (as train() logs)",
       t_ours, wall["in_memory_evaluated"], "")
matrix_mb = ROWS * FEATURES * 4 / 2**20
ours_peak = backend_peak_mb()
library_peak = python_peak_mb(LIBRARY_SETUP, LIBRARY_ALONE)
report(f"peak memory growth, train() vs psycopg2 + xgboost.train (float32 matrix {matrix_mb:.0f} MB)",
       ours_peak, python_peak_mb("", PEER), "", unit="MB")
report("peak memory growth, train() vs the float32 matrix", ours_peak, matrix_mb, "1.5", unit="MB")
report("peak memory growth, libxgboost alone (QuantileDMatrix of a float32 array in memory, then "
       "xgboost.train) vs the float32 matrix", library_peak, matrix_mb, "", unit="MB")
