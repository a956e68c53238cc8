#!/usr/bin/python3
"""Live quality benchmarks: what logging costs. Batch: predict_logged over
5000 rows × 20 float features (binary XGBoost model, 50 trees of depth 6, so
probabilities are logged too) vs predict, and vs the hand-written INSERT ...
SELECT predict(), predict_proba() into a plain table; online: pgbench, 4
clients, predict_logged vs predict on one row and vs the hand-written INSERT
(which pays the same commit); live_metrics over 100k logged
predictions with outcomes vs psycopg2 fetch + scikit-learn."""
import statistics

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, log_loss, precision_score, recall_score, roc_auc_score

import mlops_bench
from mlops_bench import import_binary_xgboost, median_seconds, random_feature_tables, report
from mlops_test import fresh_database, query

ROWS, F, BATCH, LOGGED = 100_000, 20, 5_000, 100_000
conn = fresh_database("bench_live", datasets=False)
cols, X, y = random_feature_tables(conn, ROWS, F)
booster = import_binary_xgboost(conn, cols, X, y, 20_000, 50)
query(conn, "CREATE TABLE my_log (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, key text, features jsonb, "
            "prediction float8, probabilities float8[], at timestamptz DEFAULT clock_timestamp(), by name DEFAULT current_user)")
query(conn, "CREATE INDEX ON my_log (key)")
query(conn, "SET max_parallel_workers_per_gather = 0")

batch = {
    "logged": f"SELECT count(mlops.predict_logged('m', id::text, f)) FROM b_arr WHERE id <= {BATCH}",
    "predict": f"SELECT count(mlops.predict('m', f)) FROM b_arr WHERE id <= {BATCH}",
    "insert": f"INSERT INTO my_log (key, features, prediction, probabilities) SELECT id::text, to_jsonb(f), "
              f"mlops.predict('m', f), mlops.predict_proba('m', f) FROM b_arr WHERE id <= {BATCH}",
}
times = {k: median_seconds(lambda s=s: query(conn, s), repeat=3) for k, s in batch.items()}
report(f"batch {BATCH} rows: predict_logged vs predict (rows/s)", BATCH / times["logged"], BATCH / times["predict"],
       "", unit="rows/s")
report(f"batch {BATCH} rows: predict_logged vs INSERT .. SELECT predict, predict_proba", times["logged"],
       times["insert"], "")


def pgbench(sql, seconds):
    """Average latency (ms) of pgbench on this benchmark's database, :id over b_row."""
    return mlops_bench.pgbench("bench_live", sql, seconds, ROWS)


online = {"logged": "SELECT mlops.predict_logged('m', :id::text, t) FROM b_row t WHERE id = :id",
          "predict": "SELECT mlops.predict('m', t) FROM b_row t WHERE id = :id",
          "insert": "INSERT INTO my_log (key, features, prediction, probabilities) SELECT :id::text, to_jsonb(t), "
                    "mlops.predict('m', t), mlops.predict_proba('m', t) FROM b_row t WHERE id = :id RETURNING prediction"}
pgbench(online["logged"], 2)  # warm-up
lat = {k: [] for k in online}
for _ in range(3):  # interleaved, so that all share the machine's load
    for k, sql in online.items():
        lat[k].append(pgbench(sql, 4))
report("online, pgbench 4 clients: predict_logged(row) vs predict(row)", statistics.median(lat["logged"]),
       statistics.median(lat["predict"]), "", unit="ms")
report("online, pgbench 4 clients: predict_logged(row) vs INSERT .. SELECT predict, predict_proba",
       statistics.median(lat["logged"]), statistics.median(lat["insert"]), "", unit="ms")

# live_metrics over LOGGED predictions, every one with an outcome, in one day
query(conn, "TRUNCATE mlops.prediction_log")
query(conn, f"INSERT INTO mlops.prediction_log (model_id, version, key, features, prediction, probabilities, scored_by) "
            f"SELECT 1, 1, id::text, '{{}}', mlops.predict('m', f), mlops.predict_proba('m', f), current_user "
            f"FROM b_arr WHERE id <= {LOGGED}")
query(conn, "INSERT INTO mlops.outcome (model_id, key, actual, recorded_by) "
            "SELECT 1, id::text, t, current_user FROM unnest(%s::int[]) WITH ORDINALITY AS u(t, id)",
      ([int(v) for v in y[:LOGGED]],))
query(conn, "VACUUM ANALYZE mlops.prediction_log")
query(conn, "VACUUM ANALYZE mlops.outcome")
ours = median_seconds(lambda: query(conn, "SELECT * FROM mlops.live_metrics"), repeat=3)


def peer():
    rows = query(conn, "SELECT o.actual, l.prediction, l.probabilities[2] FROM mlops.prediction_log l "
                       "JOIN mlops.outcome o ON o.model_id = l.model_id AND o.key = l.key")
    a = np.array(rows)
    actual, pred, p = a[:, 0], a[:, 1], a[:, 2]
    return (accuracy_score(actual, pred), precision_score(actual, pred), recall_score(actual, pred),
            f1_score(actual, pred), roc_auc_score(actual, p), log_loss(actual, np.c_[1 - p, p]))


report(f"live_metrics, {LOGGED // 1000}k logged predictions with outcomes vs psycopg2 fetch + sklearn",
       ours, median_seconds(peer, repeat=3), "")
