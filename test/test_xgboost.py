#!/usr/bin/python3
"""Oracle tests of train(algorithm => 'xgboost'): on the same rows, in the
order the loader reads them, with nthread 1 and the same parameters, the model
train() stores predicts exactly (float32 equality) what Python's xgboost.train
predicts, for regression, binary and multiclass; the evaluation logged at
every round is Python's; the version's metrics are scikit-learn's of those
predictions (on a test split, XGBoost's own evaluation of it); early stopping keeps the best round; categorical
inputs with NULLs train the model Python trains with native categorical
features, and SQL predict() of such a model scores every row exactly as
Python does; a training cancelled by
statement_timeout stops within a second and registers nothing; XGBoost's
worker threads block PostgreSQL's signals; failed and cancelled trainings
leak no XGBoost handle; bad hyperparameters are clear errors."""
import json
import time

import numpy as np
import psycopg2
import xgboost as xgb
from sklearn import metrics as skm

from mlops_test import check, close, connect, expect_error, finish, fresh_database, query

DB = "test_xgboost"
conn = fresh_database(DB)


def table_rows(table, target="target"):
    """The features (every column but the target, in table order) and the
    target of a table, in the order a sequential scan — the loader — reads them."""
    cols = [c for (c,) in query(conn, """SELECT attname FROM pg_attribute
                                          WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped
                                          ORDER BY attnum""", (table,)) if c != target]
    rows = query(conn, f"SELECT {', '.join(cols)}, {target} FROM {table}")
    X = np.array([[np.nan if v is None else float(v) for v in r[:-1]] for r in rows], dtype=np.float64)
    y = np.array([float(r[-1]) for r in rows])
    return cols, X, y


def stored_booster(model, version=None):
    """The stored artifact of a version (the latest by default), loaded by Python's XGBoost."""
    (artifact, fmt), = query(conn, """SELECT v.artifact, v.artifact_format FROM mlops.model_version v
                                        JOIN mlops.model m ON m.id = v.model_id
                                       WHERE m.name = %s ORDER BY v.version DESC LIMIT 1""", (model,))
    check(fmt == "xgboost-ubj", f"{model}: the artifact is xgboost-ubj")
    return xgb.Booster(model_file=bytearray(artifact))


def logged(run_id, key):
    """A metric series of a run, by step."""
    return [v for (v,) in query(conn, """SELECT value FROM mlops.metric_history
                                          WHERE run_id = %s AND key = %s ORDER BY step""", (run_id, key))]


# --- parity with xgboost.train on the embedded datasets --------------------
CASES = [
    ("diabetes", "regression", {"max_depth": 4, "eta": 0.3, "subsample": 0.8}, "rmse"),
    ("breast_cancer", "classification", {"max_depth": 3, "eta": 0.2, "colsample_bytree": 0.7}, "logloss"),
    ("wine", "classification", {"max_depth": 3, "eta": 0.3}, "mlogloss"),
    # tree_method hist: train() builds a quantised matrix (QuantileDMatrix), Python a DMatrix
    ("diabetes", "regression", {"max_depth": 5, "tree_method": "hist", "max_bin": 64, "lambda": 2}, "rmse"),
    ("wine", "classification", {"max_depth": 4, "tree_method": "hist"}, "mlogloss"),
]
for case, (table, task, params, metric) in enumerate(CASES):
    model = f"{table}_xgb{case}"
    rounds = 30
    hyper = dict(params, nthread=1, n_estimators=rounds)
    (version, run_id, metrics), = query(conn, """SELECT version, run_id, metrics FROM mlops.train(%s, %s, 'target',
                                                   'xgboost', %s, hyperparams => %s::jsonb, test_fraction => 0)""",
                                        (model, table, task, __import__("json").dumps(hyper)))
    cols, X, y = table_rows(table)
    py_params = dict(params, nthread=1, seed=42)
    if task == "classification":
        classes = np.unique(y)
        y = np.searchsorted(classes, y).astype(float)
        if len(classes) > 2:
            py_params.update(objective="multi:softprob", num_class=len(classes))
        else:
            py_params.update(objective="binary:logistic")
    dtrain = xgb.DMatrix(X, label=y)
    evals = {}
    ours = stored_booster(model)
    peer = xgb.train(py_params, dtrain, rounds, evals=[(dtrain, "train")], evals_result=evals, verbose_eval=False)
    p_ours = ours.predict(xgb.DMatrix(X, feature_names=cols))
    p_peer = peer.predict(xgb.DMatrix(X))
    check(p_ours.dtype == np.float32 and np.array_equal(p_ours, p_peer),
          f"{model}: the stored model predicts exactly what xgboost.train's does on all {len(y)} rows "
          f"(max diff {np.max(np.abs(p_ours - p_peer)):.3g})")
    check(ours.num_boosted_rounds() == rounds and ours.feature_names == cols,
          f"{model}: {rounds} rounds, feature names are the input columns")
    check(close(logged(run_id, f"train-{metric}"), evals["train"][metric], rel=1e-5),
          f"{model}: train-{metric} logged at every round equals Python's evaluation")
    # the version's metrics: scikit-learn's, of Python's predictions on every row
    if task == "regression":
        expect = {"rmse": skm.mean_squared_error(y, p_peer) ** 0.5, "r2": skm.r2_score(y, p_peer),
                  "mae": skm.mean_absolute_error(y, p_peer)}
    else:
        proba = p_peer.astype(np.float64) if p_peer.ndim == 2 else np.column_stack([1 - p_peer.astype(np.float64),
                                                                                     p_peer.astype(np.float64)])
        expect = {"accuracy": skm.accuracy_score(y, proba.argmax(axis=1)), "log_loss": skm.log_loss(y, proba)}
    check(all(close(metrics[k], v, rel=1e-7) for k, v in expect.items()),
          f"{model}: the version's metrics are scikit-learn's of xgboost.train's predictions ({metrics} vs {expect})")
    # SQL scoring of the trained model: float32 equality with XGBoost
    if task == "regression":
        sql = [v for (v,) in query(conn, f"SELECT mlops.predict(%s, t) FROM {table} t", (model,))]
        check(np.array_equal(np.array(sql, dtype=np.float32), p_peer),
              f"{model}: mlops.predict() in SQL equals xgboost's predictions (float32) on every row")
    else:
        sql = [v for (v,) in query(conn, f"SELECT mlops.predict_proba(%s, t) FROM {table} t", (model,))]
        expect = p_peer if p_peer.ndim == 2 else np.column_stack([1 - p_peer, p_peer])
        check(np.allclose(np.array(sql), expect, rtol=0, atol=1e-6) and
              np.array_equal(np.array(sql, dtype=np.float32)[:, -1], expect[:, -1].astype(np.float32)),
              f"{model}: mlops.predict_proba() in SQL equals xgboost's probabilities on every row")

# --- early stopping -------------------------------------------------------
(version, run_id), = query(conn, """SELECT version, run_id FROM mlops.train('es', 'diabetes', 'target', 'xgboost',
                                      hyperparams => '{"nthread": 1, "eta": 0.3, "n_estimators": 300,
                                                        "early_stopping_rounds": 5}', test_fraction => 0.25)""")
test_rmse = logged(run_id, "test-rmse")
best = int(np.argmin(test_rmse))
(best_logged,), = query(conn, "SELECT value FROM mlops.metric_history WHERE run_id = %s AND key = 'best_iteration'",
                        (run_id,))
check(len(test_rmse) < 300 and len(test_rmse) == best + 6 and best_logged == best,
      f"early stopping: stopped 5 rounds after the best test-rmse (round {best} of {len(test_rmse)} run)")
# the version's metrics on the test rows: XGBoost's own evaluation of them at the last round
(metrics, run_id), = query(conn, """SELECT metrics, run_id FROM mlops.train('split', 'diabetes', 'target', 'xgboost',
                                      hyperparams => '{"nthread": 1, "n_estimators": 20, "tree_method": "hist"}',
                                      test_fraction => 0.25)""")
check(close(metrics["rmse"], logged(run_id, "test-rmse")[-1], rel=1e-5),
      f"with test rows, the version's rmse is that of XGBoost's last test-rmse ({metrics['rmse']})")
es = stored_booster("es")
check(es.num_boosted_rounds() == best + 1 and es.attr("best_iteration") == str(best),
      "early stopping: the stored model is truncated to the best round")

# --- categorical inputs and NULLs -----------------------------------------
query(conn, """CREATE TABLE cats AS
               SELECT i AS id,
                      CASE WHEN i % 11 = 0 THEN NULL ELSE (ARRAY['red', 'green', 'blue', 'cyan', 'pink', 'gold'])[1 + (i * 7) % 6] END AS colour,
                      CASE WHEN i % 13 = 0 THEN NULL ELSE ((i * 37) % 101) / 10.0 END::float8 AS x,
                      ((i * 7) % 6) * 3.0 + ((i * 37) % 101) / 50.0 + (i % 5) AS y
                 FROM generate_series(1, 600) i""")
query(conn, """SELECT * FROM mlops.train('cat', 'SELECT colour, x, y FROM cats ORDER BY id', 'y', 'xgboost',
                  hyperparams => '{"nthread": 1, "max_depth": 3, "n_estimators": 15, "max_cat_to_onehot": 1}',
                  test_fraction => 0)""")
rows = query(conn, "SELECT colour, x, y FROM cats ORDER BY id")
categories = sorted({r[0] for r in rows if r[0] is not None})
Xc = np.array([[np.nan if c is None else categories.index(c), np.nan if x is None else x] for c, x, _ in rows])
yc = np.array([r[2] for r in rows], dtype=float)
dcat = xgb.DMatrix(Xc, label=yc, feature_names=["colour", "x"], feature_types=["c", "q"], enable_categorical=True)
peer = xgb.train({"nthread": 1, "max_depth": 3, "max_cat_to_onehot": 1, "tree_method": "hist", "seed": 42},
                 dcat, 15)
ours = stored_booster("cat")
check(ours.feature_types == ["c", "q"] and '"split_type"' in ours.save_raw("json").decode()
      and any(t != 0 for t in __import__("json").loads(ours.save_raw("json"))["learner"]["gradient_booster"]
              ["model"]["trees"][0]["split_type"]),
      "categorical: the input is XGBoost's native categorical feature, with categorical splits")
p_peer = peer.predict(dcat)
check(np.array_equal(ours.predict(dcat), p_peer),
      "categorical: the stored model predicts exactly what xgboost.train's does (NULLs as missing)")
sql = [v for (v,) in query(conn, "SELECT mlops.predict('cat', t) FROM (SELECT colour, x FROM cats ORDER BY id) t")]
check(np.array_equal(np.array(sql, dtype=np.float32), p_peer),
      "categorical: mlops.predict() in SQL follows the categorical splits as XGBoost does")
(spec,), = query(conn, """SELECT v.spec FROM mlops.model_version v JOIN mlops.model m ON m.id = v.model_id
                          WHERE m.name = 'cat'""")
check(spec["inputs"][0]["categories"] == categories and all("impute" not in i for i in spec["inputs"]),
      "categorical: the spec lists the categories and has no impute")

# --- quiet short training -------------------------------------------------
conn.notices.clear()
query(conn, """SELECT * FROM mlops.train('quiet', 'diabetes', 'target',
                  hyperparams => '{"nthread": 1, "n_estimators": 5}')""")
check(conn.notices == [], "a short training reports no progress")
(params,), = query(conn, "SELECT params FROM mlops.runs WHERE experiment = 'quiet'")
check({k: params.get(k) for k in ("n_estimators", "nthread", "objective", "seed", "validate_parameters")} ==
      {"n_estimators": "5", "nthread": "1", "objective": "reg:squarederror", "seed": "42", "validate_parameters": "1"}
      and "tree_method" not in params,
      "the run records the parameters given and those mlops chose")
(params,), = query(conn, "SELECT params FROM mlops.runs WHERE experiment = 'cat'")
check(params.get("tree_method") == "hist" and params.get("n_estimators") == "15",
      "with a categorical input the run records tree_method hist")

# --- cancellation ---------------------------------------------------------
query(conn, """CREATE TABLE big AS SELECT i AS id, random() AS a, random() AS b, random() AS c, random() AS d,
                      random() * 10 AS y FROM generate_series(1, 20000) i""")


def counts():
    return query(conn, """SELECT (SELECT count(*) FROM mlops.model_version), (SELECT count(*) FROM mlops.model),
                                 (SELECT count(*) FROM mlops.runs)""")[0]


before = counts()
query(conn, "SET statement_timeout = '1s'")
start = time.monotonic()
expect_error(conn, """SELECT * FROM mlops.train('slow', 'big', 'y',
                        hyperparams => '{"nthread": 1, "n_estimators": 1000000, "max_depth": 8}')""", "57014")
elapsed = time.monotonic() - start
query(conn, "RESET statement_timeout")
check(elapsed < 2.5, f"a training cancelled by a 1 s statement_timeout returns within a second ({elapsed:.2f} s)")
check(counts() == before, "the cancelled training left no model, version or run")

# --- XGBoost's threads never take PostgreSQL's signals ---------------------
# A training with nthread 2 leaves XGBoost's OpenMP pool (idle) in the
# backend; each of its threads must block SIGINT, SIGUSR1, SIGUSR2, SIGALRM and
# SIGTERM (they inherit the mask of the call that started them).
def blocked_signals(pid, tid):
    with open(f"/proc/{pid}/task/{tid}/status") as f:
        mask = next(int(line.split()[1], 16) for line in f if line.startswith("SigBlk:"))
    return {sig for sig in (2, 10, 12, 14, 15) if mask & (1 << (sig - 1))}


threads = connect(DB)
pid = query(threads, "SELECT pg_backend_pid()")[0][0]
query(threads, """SELECT * FROM mlops.train('threads', 'big', 'y', hyperparams => '{"nthread": 2, "n_estimators": 2}')""")
workers = [int(t) for t in __import__("os").listdir(f"/proc/{pid}/task") if int(t) != pid]
check(len(workers) >= 1 and all(blocked_signals(pid, t) == {2, 10, 12, 14, 15} for t in workers)
      and blocked_signals(pid, pid) == set(),
      f"XGBoost's {len(workers)} worker thread(s) block PostgreSQL's signals; the backend's own thread does not")
threads.close()

# --- handles freed on error paths -------------------------------------------
# A training that fails after XGBoost holds its matrix and booster (here: an
# unknown parameter, reported once the booster is configured), or that is
# cancelled mid-training, must free them: 20 of each in one backend would
# leave about 10 MB of XGBoost's copies of 'big' behind if they leaked.
def rss_anon_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("RssAnon:"))


leak = connect(DB)
pid = query(leak, "SELECT pg_backend_pid()")[0][0]


def failing_trainings(n):
    """Runs n pairs of trainings, one refused by XGBoost (22023), one cancelled
    by statement_timeout (57014); returns the SQLSTATEs they ended with ('ok'
    for one that succeeded), so that the memory check below is known to
    measure those failures."""
    codes = []
    for _ in range(n):
        for sql, timeout in (("""SELECT * FROM mlops.train('leak', 'big', 'y', hyperparams => '{"nthread": 1, "max_dept": 2}')""", None),
                             ("""SELECT * FROM mlops.train('leak', 'big', 'y', hyperparams => '{"nthread": 1, "n_estimators": 100000}')""", "200ms")):
            if timeout:
                query(leak, "SET statement_timeout = %s", (timeout,))
            try:
                query(leak, sql)
                codes.append("ok")
            except psycopg2.Error as e:
                codes.append(e.pgcode)
            query(leak, "RESET statement_timeout")
    return codes


codes = failing_trainings(3)    # warm-up: caches, malloc arenas
before_kb = rss_anon_kb(pid)
codes += failing_trainings(20)
growth_mb = (rss_anon_kb(pid) - before_kb) / 1024
check(codes == ["22023", "57014"] * 23,
      f"the trainings of the leak check fail as intended: XGBoost refuses max_dept (22023), the timeout cancels "
      f"(57014) (got {sorted(set(codes))})")
check(growth_mb < 4, f"40 failed or cancelled trainings leave no XGBoost handle behind (memory growth {growth_mb:.1f} MB)")
leak.close()

# --- explain on a deep tree of one feature: TreeSHAP in memory linear in the depth
# Alternating targets along x: growing lossguide without limits, every split cuts off one row, a
# chain of 2999 levels. libxgboost's TreeSHAP takes 16 bytes × (depth + 2)(depth + 3) / 2 a call
# (72 MB here, 3 GB at depth 20000); explain gives XGBoost's contributions bit for bit without it,
# for gbtree, dart (its trees weighted) and objectives libxgboost scores (count:poisson, whose
# base_score is a margin through the log), and on a stack far smaller than the walk's depth
# (the walk is a loop, not a recursion as deep as the tree).
query(conn, "CREATE TABLE chain AS SELECT g::float8 AS x, (g % 2 * 2)::float8 AS y FROM generate_series(1, 3000) g")
query(conn, "SET mlops.max_training_memory = '4GB'")
CHAIN = {"n_estimators": 1, "tree_method": "hist", "grow_policy": "lossguide", "max_depth": 0,
         "max_leaves": 0, "max_bin": 3000, "eta": 1, "lambda": 0}
for name, extra in [("chain", {"base_score": 1}), ("chain_dart", {"booster": "dart", "base_score": 1}),
                    ("chain_poisson", {"objective": "count:poisson", "base_score": 0.5, "max_delta_step": 0,
                                      "min_child_weight": 0})]:
    query(conn, "SELECT * FROM mlops.train(%s, 'chain', 'y', test_fraction => 0, hyperparams => %s)",
          (name, json.dumps({**CHAIN, **extra})))
    chain = stored_booster(name)
    tree = json.loads(chain.save_raw("json"))["learner"]["gradient_booster"]
    tree = (tree["gbtree"] if "gbtree" in tree else tree)["model"]["trees"][0]
    levels = [0] * len(tree["left_children"])
    for i, left in enumerate(tree["left_children"]):
        if left >= 0:
            levels[left] = levels[tree["right_children"][i]] = levels[i] + 1
    xs = [1.0, 2.0, 1500.0, 2999.5, 3000.0, None]
    X = np.array([[np.nan if x is None else x] for x in xs], dtype=np.float32)
    shap = chain.predict(xgb.DMatrix(X, feature_names=chain.feature_names), pred_contribs=True)
    scorer = connect(DB)
    spid = query(scorer, "SELECT pg_backend_pid()")[0][0]
    query(scorer, "SELECT mlops.predict(%s, ARRAY[1.0])", (name,))      # the model loaded and compiled
    query(scorer, "SET max_stack_depth = '100kB'")

    def peak_kb(pid):
        with open(f"/proc/{pid}/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))

    before_kb = peak_kb(spid)
    try:
        ours = [query(scorer, "SELECT mlops.explain(%s, ARRAY[%s]::float8[])", (name, x))[0][0] for x in xs]
    except psycopg2.Error as e:
        ours = [e.pgcode]
    growth_mb = (peak_kb(spid) - before_kb) / 1024
    scorer.close()
    check(max(levels) > 2000 and len(ours) == len(xs) and
          all(np.array_equal(np.float32([e["contributions"]["x"], e["bias"]]), shap[i]) for i, e in enumerate(ours)),
          f"{name}: explain of a tree {max(levels)} levels deep, with a 100 kB stack, equals XGBoost's "
          f"pred_contribs bit for bit (got {ours[0]})")
    check(growth_mb < 20, f"{name}: and takes no memory in the square of the depth (peak grew {growth_mb:.1f} MB)")
query(conn, "RESET mlops.max_training_memory")

# --- bad input --------------------------------------------------------------
before = counts()
BAD = [
    ('{"max_dept": 3}', "22023", "unknown parameter"),
    ('{"n_estimators": -5}', "22023", "negative n_estimators"),
    ('{"n_estimators": 0}', "22023", "zero n_estimators"),
    ('{"n_estimators": 2.5}', "22023", "fractional n_estimators"),
    ('{"objective": "reg:nonsense"}', "22023", "unknown objective"),
    ('{"objective": "binary:logistic"}', "22023", "classification objective for regression"),
    ('{"max_depth": "deep"}', "22023", "value XGBoost cannot parse"),
    ('{"eta": {"a": 1}}', "22023", "object value"),
    ('{"early_stopping_rounds": 3}', "22023", "early stopping without test rows"),
]
for hyper, state, what in BAD:
    msg = expect_error(conn, """SELECT * FROM mlops.train('bad', 'diabetes', 'target',
                                  hyperparams => %s::jsonb, test_fraction => 0)""", state, (hyper,))
    if what == "unknown parameter":
        check(msg is not None and "max_dept" in msg, "the error names the unknown parameter")
# a test_fraction above 0 whose split leaves no test row (each class keeps a
# training row): the hint must not ask for a test_fraction above 0
msg = expect_error(conn, """SELECT * FROM mlops.train('bad', 'SELECT 1.0 AS x, 0 AS y UNION ALL SELECT 2.0, 1', 'y',
                              hyperparams => '{"early_stopping_rounds": 2}', test_fraction => 0.9)""", "22023")
check(msg is not None and "no test row among the 2 training rows" in msg and "greater than 0" not in msg,
      "early stopping on a split without test rows says the split left none (not: a test_fraction above 0)")
expect_error(conn, """SELECT * FROM mlops.train('bad', 'wine', 'target', hyperparams => '{"num_class": 5}')""",
             "22023")
expect_error(conn, """SELECT * FROM mlops.train('bad', 'wine', 'target',
                        hyperparams => '{"objective": "multi:softmax"}')""", "22023")
query(conn, "SET mlops.max_training_memory = '1MB'")
expect_error(conn, "SELECT * FROM mlops.train('bad', 'big', 'y', hyperparams => '{\"nthread\": 1}')", "53200")
query(conn, "RESET mlops.max_training_memory")
check(counts() == before and query(conn, "SELECT count(*) FROM mlops.model WHERE name = 'bad'") == [(0,)],
      "failed trainings registered nothing")

conn.close()
finish()
