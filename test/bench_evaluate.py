#!/usr/bin/python3
"""evaluate() benchmark: the binary metrics of a 100-tree depth-6 model on
100k rows × 20 float features, vs the Python workflow doing the same job
(psycopg2 fetch, xgboost inplace_predict with one thread, scikit-learn's
metrics), and vs scoring the same rows with predict() alone."""
import numpy as np
import psycopg2
import xgboost as xgb
from sklearn import metrics as skm

from mlops_bench import median_seconds, report
from mlops_test import fresh_database, query

ROWS, F = 100_000, 20
conn = fresh_database("bench_evaluate", datasets=False)
cols = [f"f{i}" for i in range(1, F + 1)]
query(conn, "SELECT setseed(0.42)")
query(conn, f"CREATE TABLE b AS SELECT i AS id, {', '.join(f'random() AS {c}' for c in cols)} "
      f"FROM generate_series(1, {ROWS}) i")
query(conn, "ALTER TABLE b ADD COLUMN target int")
query(conn, "UPDATE b SET target = (f1 + f2 * f3 - f4 ^ 2 + 0.1 * (random() - 0.5) > 0.4)::int")
query(conn, "VACUUM ANALYZE b")
X = np.array(query(conn, f"SELECT {', '.join(cols)} FROM b ORDER BY id"), dtype=np.float32)
y = np.array(query(conn, "SELECT target FROM b ORDER BY id"), dtype=float).ravel()
booster = xgb.train({"objective": "binary:logistic", "max_depth": 6, "nthread": 1, "tree_method": "hist"},
                    xgb.DMatrix(X[:30_000], label=y[:30_000]), 100)
query(conn, "SELECT mlops.import_model('m', %s, 'xgboost-ubj', %s, 'classification', 'target')",
      (psycopg2.Binary(bytes(booster.save_raw("ubj"))), cols))
booster.set_param({"nthread": 1})
query(conn, "SET max_parallel_workers_per_gather = 0")


def peer():
    rows = np.array(query(conn, f"SELECT {', '.join(cols)}, target FROM b"), dtype=np.float64)
    p = booster.inplace_predict(rows[:, :-1].astype(np.float32))
    t, pred = rows[:, -1], (p > 0.5).astype(float)
    return (skm.accuracy_score(t, pred), skm.precision_score(t, pred), skm.recall_score(t, pred),
            skm.f1_score(t, pred), skm.roc_auc_score(t, p), skm.log_loss(t, p))


ours = median_seconds(lambda: query(conn, "SELECT mlops.evaluate('m', 'b')"), repeat=3)
theirs = median_seconds(peer, repeat=3)
scoring = median_seconds(lambda: query(conn, "SELECT sum(mlops.predict('m', t)) FROM b t"), repeat=3)
report("evaluate(), 100k rows × 20, 100 trees vs psycopg2 fetch + inplace_predict + sklearn metrics",
       ours, theirs)
report("evaluate(), 100k rows × 20, 100 trees vs sum(predict(row)) over the same rows", ours, scoring)
