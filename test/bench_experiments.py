#!/usr/bin/python3
"""Cost of experiment tracking: logging 5,000 metric points with log_metric (one
call per point, as a training loop does) and with one log_metrics call per step,
against the same points inserted into a plain table with no checks."""
from mlops_bench import median_seconds, report
from mlops_test import fresh_database, query

POINTS = 5000
conn = fresh_database("bench_experiments", datasets=False)
query(conn, "CREATE TABLE plain_metric (run_id bigint, key text, step bigint, value float8, logged_at timestamptz DEFAULT clock_timestamp())")
run = query(conn, "SELECT mlops.start_run('bench')")[0][0]


def plain():
    query(conn, "INSERT INTO plain_metric (run_id, key, step, value) SELECT %s, 'loss', s, 1.0 / s FROM generate_series(1, %s) s",
          (run, POINTS))


def log_metric():
    query(conn, "SELECT count(mlops.log_metric(%s, 'loss', 1.0 / s, s)) FROM generate_series(1, %s) s", (run, POINTS))


def log_metrics():
    query(conn, """SELECT count(mlops.log_metrics(%s, jsonb_build_object('loss', 1.0 / s, 'auc', 1 - 1.0 / s), s))
                     FROM generate_series(1, %s) s""", (run, POINTS // 2))


base = median_seconds(plain)
report(f"log_metric, {POINTS} points vs plain INSERT", median_seconds(log_metric), base)
report(f"log_metrics, {POINTS} points (2 per call) vs plain INSERT", median_seconds(log_metrics), base)
