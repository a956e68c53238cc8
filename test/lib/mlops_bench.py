"""Helpers for the benchmarks under test/ (run by scripts/bench, not by the tests):
medians of repeated timings and one output line per figure."""
import os
import re
import statistics
import subprocess
import tempfile
import time

import numpy as np
import psycopg2
import xgboost as xgb

from mlops_test import query


def median_seconds(fn, repeat=5, warmup=1):
    """Median wall time of fn() over `repeat` runs, after `warmup` untimed runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def interleaved_medians(runs, rounds):
    """Runs each of runs = {name: (fn, cpu_seconds)} in turn, `rounds` times
    after one untimed warm-up round (interleaved, so that all share the
    machine's load alike); returns the median wall and CPU seconds by name."""
    times = {k: [] for k in runs}
    for i in range(rounds + 1):
        for k, (fn, cpu) in runs.items():
            c0, t0 = cpu(), time.perf_counter()
            fn()
            if i:
                times[k].append((time.perf_counter() - t0, cpu() - c0))
    wall = {k: statistics.median(t[0] for t in v) for k, v in times.items()}
    cpu = {k: statistics.median(t[1] for t in v) for k, v in times.items()}
    return wall, cpu


def report(what, ours, peer, target="", unit="s"):
    """Prints one figure: ours vs peer (in `unit`) and their ratio, for scripts/bench."""
    ratio = ours / peer if peer else float("nan")
    print(f"BENCH\t{what}\t{ours:.4g} {unit}\t{peer:.4g} {unit}\t{ratio:.3f}\t{target}")


def random_feature_tables(conn, rows, nfeatures):
    """Creates b_row (id, f1..fN uniform in [0, 1), seeded) and b_arr (id, f as
    float8[]) with `rows` rows; returns the column names, the features as a
    float32 matrix in id order and a binary label (a noisy non-linear rule)."""
    cols = [f"f{i}" for i in range(1, nfeatures + 1)]
    query(conn, "SELECT setseed(0.42)")
    query(conn, f"CREATE TABLE b_row AS SELECT i AS id, {', '.join(f'random() AS {c}' for c in cols)} "
          f"FROM generate_series(1, {rows}) i")
    query(conn, "ALTER TABLE b_row ADD PRIMARY KEY (id)")
    query(conn, f"CREATE TABLE b_arr AS SELECT id, ARRAY[{', '.join(cols)}] AS f FROM b_row")
    query(conn, "VACUUM ANALYZE b_row")
    query(conn, "VACUUM ANALYZE b_arr")
    X = np.array(query(conn, f"SELECT {', '.join(cols)} FROM b_row ORDER BY id"), dtype=np.float32)
    y = (X[:, 0] + X[:, 1] * X[:, 2] - X[:, 3] ** 2 + 0.1 * np.random.default_rng(1).normal(size=rows) > 0.4).astype(int)
    return cols, X, y


def import_binary_xgboost(conn, cols, X, y, train_rows, rounds):
    """Trains a binary XGBoost model (depth 6, one thread) on the first
    train_rows rows and imports it as model 'm'; returns the booster."""
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 6, "nthread": 1, "tree_method": "hist"},
                        xgb.DMatrix(X[:train_rows], label=y[:train_rows]), rounds)
    query(conn, "SELECT mlops.import_model('m', %s, 'xgboost-ubj', %s, 'classification')",
          (psycopg2.Binary(bytes(booster.save_raw("ubj"))), cols))
    return booster


def pgbench(database, sql, seconds, id_max):
    """Average latency (ms) of pgbench running sql (with :id random in
    1..id_max) on database: 4 clients, 2 threads, prepared statements."""
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
        f.write(f"\\set id random(1, {id_max})\n{sql};\n")
    try:
        out = subprocess.run(["/usr/lib/postgresql/15/bin/pgbench", "-n", "-M", "prepared", "-c", "4", "-j", "2",
                              "-T", str(seconds), "-f", f.name, database],
                             check=True, capture_output=True, text=True).stdout
    finally:
        os.unlink(f.name)
    return float(re.search(r"latency average = ([0-9.]+) ms", out).group(1))


def backend_cpu_seconds(conn):
    """A function returning the user + system CPU seconds that conn's server
    backend has used so far (read from /proc: on a shared machine CPU time is
    steadier than wall time)."""
    path = f"/proc/{query(conn, 'SELECT pg_backend_pid()')[0][0]}/stat"
    tick = os.sysconf("SC_CLK_TCK")

    def seconds():
        with open(path) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / tick
    return seconds
