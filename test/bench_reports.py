#!/usr/bin/python3
"""Cost of the HTML reports: building report_experiment() over 10 runs with 2
metrics logged for 1,000 iterations each (20,000 points, thinned to the plot's
resolution), and report() over a model of 10 versions and 20 alias moves,
against fetching the same data into Python with psycopg2 (what any client-side
report generator has to do before it draws anything)."""
from mlops_bench import median_seconds, report
from mlops_test import fresh_database, query

RUNS, STEPS = 10, 1000
conn = fresh_database("bench_reports", datasets=False)
runs = []
for r in range(RUNS):
    run = query(conn, "SELECT mlops.start_run('bench', %s, %s)",
                (f"run-{r}", f'{{"max_depth": {r % 5 + 2}, "eta": 0.{r + 1}, "subsample": 0.8}}'))[0][0]
    query(conn, """SELECT count(mlops.log_metrics(%s, jsonb_build_object('train-rmse', 50 * exp(-i / 200.0) + %s,
                                                                       'test-rmse', 55 * exp(-i / 250.0) + %s), i))
                     FROM generate_series(0, %s) i""", (run, r, r + 3, STEPS - 1))
    query(conn, "SELECT mlops.log_metrics(%s, %s, %s), mlops.end_run(%s)",
          (run, f'{{"r2": {0.5 + r / 100}, "rmse": {40 - r}}}', STEPS, run))
    query(conn, """SELECT mlops._register_version('bench', 'xgboost', 'regression', '{a,b,c}', 'y', NULL, '{}', %s, '{}',
                   NULL, %s, 't', 1000, 250, 0, 'fp', %s, 'linear-json')""",
          (f'{{"r2": {0.5 + r / 100}, "rmse": {40 - r}}}', run, bytes([r])))
    runs.append(run)
for v in range(2, RUNS + 1):
    query(conn, "SELECT mlops.set_alias('bench', 'production', %s), mlops.set_alias('bench', 'staging', %s)",
          (v, v - 1))
query(conn, "SELECT mlops.set_alias('bench', 'production', 5)")


def experiment_report():
    query(conn, "SELECT mlops.report_experiment('bench')")


def experiment_fetch():
    query(conn, "SELECT * FROM mlops.runs WHERE experiment = 'bench'")
    query(conn, "SELECT run_id, key, step, value FROM mlops.metric_history WHERE experiment = 'bench'")


def model_report():
    query(conn, "SELECT mlops.report('bench')")


def model_fetch():
    run = query(conn, "SELECT run_id FROM mlops.model_versions WHERE name = 'bench' AND version = 5")[0][0]
    query(conn, "SELECT * FROM mlops.model_versions WHERE name = 'bench'")
    query(conn, "SELECT key, step, value FROM mlops.metric_history WHERE run_id = %s", (run,))
    query(conn, "SELECT * FROM mlops.deployments WHERE model = 'bench'")


size = len(query(conn, "SELECT mlops.report_experiment('bench')")[0][0])
print(f"report_experiment page: {size} bytes")
report(f"report_experiment, {RUNS} runs x {2 * STEPS} points vs psycopg2 fetch of its data",
       median_seconds(experiment_report), median_seconds(experiment_fetch))
report(f"report, {RUNS} versions, {2 * RUNS} moves vs psycopg2 fetch of its data",
       median_seconds(model_report), median_seconds(model_fetch))

# report() of a trained, monitored XGBoost model: the test split scored again (ROC, precision-recall),
# total gain, mean |SHAP| over 500 rows, 10 drift histograms of the monitor's source; against a client
# doing the same in Python: fetch the source and the monitor's data, score the test rows and explain
# 500 rows with xgboost, get_score, numpy histograms on the reference edges.
ROWS, FEATURES = 20000, 10
cols = ", ".join(f"random() * {j + 1} AS x{j}" for j in range(FEATURES))
query(conn, f"SELECT setseed(0.5); CREATE TABLE src AS SELECT {cols} FROM generate_series(1, {ROWS})")
query(conn, "ALTER TABLE src ADD COLUMN y int; UPDATE src SET y = (x0 + x1 * 0.5 + random() > 2)::int")
query(conn, "CREATE TABLE src_now AS SELECT * FROM src; UPDATE src_now SET x0 = x0 + 0.5")
query(conn, """SELECT mlops.train('trained', 'src', 'y', 'xgboost',
               hyperparams => '{"n_estimators": 50, "max_depth": 4, "nthread": 1}')""")
query(conn, "SELECT mlops.create_monitor('trained-drift', 'trained', 'src_now')")
query(conn, "SELECT mlops.run_monitor('trained-drift')")


def trained_report():
    query(conn, "SELECT mlops.report('trained')")


def trained_client():
    import numpy as np
    import xgboost as xgb
    names = [f"x{j}" for j in range(FEATURES)]
    booster = xgb.Booster(model_file=bytearray(bytes(query(conn, "SELECT mlops.export_model('trained')")[0][0])))
    data = np.array(query(conn, f"SELECT {', '.join(names)}, y FROM src"), dtype=np.float32)
    now = np.array(query(conn, f"SELECT {', '.join(names)} FROM src_now"), dtype=np.float64)
    profile = query(conn, "SELECT profile FROM mlops.model_profiles WHERE name = 'trained'")[0][0]
    booster.predict(xgb.DMatrix(data[: ROWS // 5, :-1], feature_names=booster.feature_names))
    booster.predict(xgb.DMatrix(data[:500, :-1], feature_names=booster.feature_names), pred_contribs=True)
    booster.get_score(importance_type="total_gain")
    for j, f in enumerate(profile["features"]):
        np.bincount(np.searchsorted(np.array(f["edges"][1:-1]), now[:, j]), minlength=len(f["edges"]))


report(f"report of a trained XGBoost model, {ROWS} rows x {FEATURES}, monitored, vs psycopg2 fetch + xgboost/numpy",
       median_seconds(trained_report), median_seconds(trained_client))
