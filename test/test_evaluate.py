#!/usr/bin/python3
"""Oracle tests of evaluate(): for models trained with train() (linear, ridge,
logistic, xgboost; regression, binary, multiclass, a categorical input), the
metrics evaluate() reports on a source equal scikit-learn's metrics of the
predictions predict() makes on the same rows (1e-9); bad input gives clear
errors with pinned SQLSTATEs."""
import json
from fractions import Fraction

import numpy as np
import psycopg2
import xgboost as xgb
from sklearn import metrics as skm

from mlops_test import check, close, expect_error, finish, fresh_database, query

conn = fresh_database("test_evaluate")


def oracle(model, source, task, classes=None):
    """scikit-learn's metrics of predict()/predict_proba() on the rows of source with a target."""
    if task == "regression":
        rows = query(conn, f"SELECT s.target, mlops.predict(%s, s) FROM ({source}) s WHERE s.target IS NOT NULL",
                     (model,))
        y = np.array([r[0] for r in rows], dtype=float)
        p = np.array([r[1] for r in rows], dtype=float)
        mse = skm.mean_squared_error(y, p)
        return {"r2": skm.r2_score(y, p), "rmse": np.sqrt(mse), "mse": mse, "mae": skm.mean_absolute_error(y, p)}
    rows = query(conn, f"SELECT s.target, mlops.predict_proba(%s, s) FROM ({source}) s WHERE s.target IS NOT NULL",
                 (model,))
    y = np.array([float(r[0]) for r in rows])
    proba = np.array([r[1] for r in rows], dtype=float)
    if len(classes) == 2:
        pred = np.where(proba[:, 1] > 0.5, classes[1], classes[0])
        return {"accuracy": skm.accuracy_score(y, pred),
                "precision": skm.precision_score(y, pred, pos_label=classes[1], zero_division=0),
                "recall": skm.recall_score(y, pred, pos_label=classes[1]),
                "f1": skm.f1_score(y, pred, pos_label=classes[1]),
                "roc_auc": skm.roc_auc_score(y == classes[1], proba[:, 1]),
                "log_loss": skm.log_loss(y, proba, labels=classes)}
    pred = np.array(classes)[proba.argmax(axis=1)]
    return {"accuracy": skm.accuracy_score(y, pred), "f1_macro": skm.f1_score(y, pred, average="macro"),
            "log_loss": skm.log_loss(y, proba, labels=classes)}


def compare(model, source, task, what):
    ours = query(conn, "SELECT mlops.evaluate(%s, %s)", (model, source))[0][0]
    classes = None
    if task == "classification":
        classes = query(conn, """SELECT classes FROM mlops.model_versions v, mlops.resolve_model(%s) r
                                  WHERE v.name = r.model AND v.version = r.version""", (model,))[0][0]
    theirs = oracle(model, source, task, classes)
    check(set(ours) == set(theirs), f"{what}: evaluate reports {sorted(theirs)} (got {sorted(ours)})")
    check(all(close(float(ours[k]), float(theirs[k]), rel=1e-9, abs_=1e-12) for k in theirs),
          f"{what}: evaluate equals scikit-learn within 1e-9 ({ours} vs {theirs})")
    return ours


XGB = json.dumps({"n_estimators": 15, "max_depth": 3, "nthread": 1})
CASES = [
    ("dia_linear", "diabetes", "linear", "regression", "{}"),
    ("dia_ridge", "diabetes", "ridge", "regression", '{"alpha": 2}'),
    ("dia_xgb", "diabetes", "xgboost", "regression", XGB),
    ("bc_logistic", "breast_cancer", "logistic", "classification", "{}"),
    ("bc_xgb", "breast_cancer", "xgboost", "classification", XGB),
    ("wine_logistic", "wine", "logistic", "classification", "{}"),
    ("wine_xgb", "wine", "xgboost", "classification", XGB),
]
for model, table, algorithm, task, hyper in CASES:
    query(conn, "SELECT mlops.train(%s, %s, 'target', %s, %s, hyperparams => %s::jsonb)",
          (model, table, algorithm, task, hyper))
    compare(model, f"SELECT * FROM {table}", task, f"{model} on every row")
    cols = [c for (c,) in query(conn, """SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass
                                          AND attnum > 0 AND attname <> 'target' ORDER BY attnum DESC""", (table,))]
    compare(model, f"SELECT {', '.join(cols)}, CASE WHEN mod(hashtext(t::text), 7) <> 3 THEN target END AS target "
                   f"FROM {table} t WHERE mod(hashtext(t::text), 5) <> 0",
            task, f"{model} on a query with other rows, columns in another order and NULL targets")

# train()'s metrics of its test split are those evaluate gives on the same rows, to the last digit
for model, table, *_ in CASES:
    logged = query(conn, "SELECT metrics FROM mlops.model_versions WHERE name = %s AND version = 1", (model,))[0][0]
    again = query(conn, "SELECT mlops._evaluate_versions(%s, '{1}', %s, 0.2, 42)", (model, table))[0][0]["metrics"][0]
    check(again == logged, f"{model}: train()'s test metrics equal evaluate's on its test split ({logged} vs {again})")

# a source holding only some of the classes: f1_macro over the labels present, log_loss over the model's
for model in ("wine_logistic", "wine_xgb"):
    compare(model, "SELECT * FROM wine WHERE target < 2", "classification", f"{model} on two of its three classes")

# --- an imported model (with its target named) ---------------------------------------
cols = [c for (c,) in query(conn, """SELECT attname FROM pg_attribute WHERE attrelid = 'breast_cancer'::regclass
                                      AND attnum > 0 AND attname <> 'target' ORDER BY attnum""")]
rows = query(conn, f"SELECT {', '.join(cols)}, target FROM breast_cancer")
X = np.array([r[:-1] for r in rows], dtype=float)
y = np.array([r[-1] for r in rows], dtype=float)
booster = xgb.train({"objective": "binary:logistic", "max_depth": 2, "nthread": 1}, xgb.DMatrix(X, label=y), 10)
raw = bytes(booster.save_raw("ubj"))
query(conn, "SELECT mlops.import_model('bc_imported', %s, 'xgboost-ubj', %s, 'classification', 'target')",
      (psycopg2.Binary(raw), cols))
ours = compare("bc_imported", "SELECT * FROM breast_cancer", "classification", "an imported xgboost model")
check(close(ours["roc_auc"], skm.roc_auc_score(y, booster.predict(xgb.DMatrix(X))), rel=1e-6),
      "its roc_auc equals scikit-learn's on Python xgboost's own predictions")
query(conn, "SELECT mlops.import_model('bc_untargeted', %s, 'xgboost-ubj', %s, 'classification')",
      (psycopg2.Binary(raw), cols))
msg = expect_error(conn, "SELECT mlops.evaluate('bc_untargeted', 'breast_cancer')", "22023")
check(msg is not None and "no target" in msg, "a model imported without its target cannot be evaluated, saying so")

# --- categorical inputs: the source's categories are mapped to the model's by text ----
query(conn, """CREATE TABLE shop AS
               SELECT i, (ARRAY['red', 'green', 'blue', 'plum'])[1 + i % 4] AS colour, (i % 13)::float8 AS size,
                      CASE i % 4 WHEN 0 THEN 1 WHEN 1 THEN 5 WHEN 2 THEN -2 ELSE 0 END + (i % 13) * 0.5
                        + ((i * 7919) % 101) / 100.0 AS target
                 FROM generate_series(1, 400) i""")
for algorithm in ("xgboost", "linear"):
    model = f"shop_{algorithm}"
    query(conn, "SELECT mlops.train(%s, 'shop', 'target', %s, features => '{colour,size}', "
                "hyperparams => %s::jsonb)", (model, algorithm, XGB if algorithm == "xgboost" else "{}"))
    compare(model, "SELECT * FROM shop", "regression", f"{model}: every category")
    compare(model, "SELECT * FROM shop WHERE colour IN ('plum', 'green')", "regression",
            f"{model}: a subset of the categories, in other positions")
    compare(model, "SELECT i, CASE WHEN colour = 'red' THEN 'mauve' ELSE colour END AS colour, size, target FROM shop",
            "regression", f"{model}: a category the model never saw (missing, as predict)")

# --- more rows than one batch of the loader (10000), with NULL features -----------------
query(conn, """CREATE TABLE big AS
               SELECT CASE WHEN i % 11 = 0 THEN NULL ELSE (i % 89) / 10.0 END AS a, ((i * 13) % 71)::float8 AS b,
                      (i % 89) / 5.0 - ((i * 13) % 71) / 7.0 + ((i * 7919) % 101) / 50.0 AS target,
                      (i % 3 = 0)::int AS label
                 FROM generate_series(1, 25000) i""")
query(conn, "SELECT mlops.train('big_linear', 'big', 'target', 'linear', features => '{a,b}')")
compare("big_linear", "SELECT * FROM big", "regression", "25000 rows (three batches), NULLs imputed")
query(conn, "SELECT mlops.train('big_xgb', 'SELECT a, b, label AS target FROM big', 'target', 'xgboost', "
            "hyperparams => %s::jsonb)", (XGB,))
compare("big_xgb", "SELECT a, b, label AS target FROM big", "classification", "25000 rows, binary xgboost")

# --- the metrics' arithmetic at its edges (metrics.c, which train, evaluate and live_metrics share,
# through the aggregate behind live_metrics) ---------------------------------------------------
def agg_metrics(y, pred=None, proba=None, classes=None):
    """The metrics of targets y and predictions pred (regression) or probabilities proba (classes)."""
    if classes is None:
        return query(conn, "SELECT mlops._quality_agg(NULL, y, p, NULL) FROM unnest(%s::float8[], %s::float8[]) t(y, p)",
                     ([float(v) for v in y], [float(v) for v in pred]))[0][0]
    return query(conn, "SELECT mlops._quality_agg(%s::float8[], y, 0, p::float8[]) "
                       "FROM unnest(%s::float8[], %s::text[]) t(y, p)",
                 (classes, [float(v) for v in y], ["{" + ",".join(repr(float(v)) for v in r) + "}" for r in proba]))[0][0]


def exact_r2(y, pred):
    """r2_score in exact rational arithmetic (force_finite: 1 or 0 for a constant target)."""
    y = [Fraction(float(v)) for v in y]
    pred = [Fraction(float(v)) for v in pred]
    mean = sum(y) / len(y)
    ss_res = sum((a - b) ** 2 for a, b in zip(y, pred))
    ss_tot = sum((a - mean) ** 2 for a in y)
    return float(1 - ss_res / ss_tot) if ss_tot else (1.0 if ss_res == 0 else 0.0)


# a constant target whose float mean is not the constant (ten 0.1s sum to 0.9999999999999999): r2 is
# r2_score's 1 when predicted exactly and 0 otherwise, not 1 - ss_res / (rounding error) = -5e31
for value in (0.1, 0.7, 1e-3):
    for pred in (value, 2 * value):
        r2 = agg_metrics([value] * 10, [pred] * 10)["r2"]
        check(r2 == exact_r2([value] * 10, [pred] * 10),
              f"r2 of ten targets {value} predicted as {pred} is {exact_r2([value] * 10, [pred] * 10)} (got {r2})")
# targets far from 0 with a small spread (their plain sum loses the spread): r2 equals the exact value
erng = np.random.default_rng(11)
for what, y, pred in (("1e15 + {0, 1, 2}", 1e15 + erng.integers(0, 3, 3000), 1e15 + erng.integers(0, 3, 3000)),
                      ("1e9 + N(0, 1e-4)", 1e9 + erng.normal(0, 1e-4, 3000), 1e9 + erng.normal(0, 1e-4, 3000))):
    r2 = agg_metrics(y, pred)["r2"]
    check(close(r2, exact_r2(y, pred), rel=1e-9), f"r2 of targets {what} is the exact {exact_r2(y, pred)} (got {r2})")
# log_loss of probabilities 0 and 1: clipped at float8's epsilon, as scikit-learn (1.2 on) clips them
for what, y, p in (("wrong and certain", [0, 1, 0, 1], [0.0, 1.0, 1.0, 0.0]),
                   ("right and certain", [0, 1, 0, 1], [0.0, 1.0, 0.0, 1.0]),
                   ("some certain", [0, 1, 1, 0, 1], [0.3, 1.0, 0.0, 1e-20, 0.9])):
    proba = [[1 - v, v] for v in p]
    ours = agg_metrics(y, proba=proba, classes=[0, 1])["log_loss"]
    check(close(ours, skm.log_loss(y, proba, labels=[0, 1]), rel=1e-12),
          f"log_loss of probabilities {what} equals scikit-learn's {skm.log_loss(y, proba, labels=[0, 1])} (got {ours})")
proba = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.2, 0.0, 0.8]]
ours = agg_metrics([0, 1, 2, 2], proba=proba, classes=[0, 1, 2])["log_loss"]
check(close(ours, skm.log_loss([0, 1, 2, 2], proba, labels=[0, 1, 2]), rel=1e-12),
      f"multiclass log_loss with probabilities 0 and 1 equals scikit-learn's (got {ours})")

# --- bad input ---------------------------------------------------------------------
expect_error(conn, "SELECT mlops.evaluate('dia_linear', 'SELECT age, sex FROM diabetes')", "42703")
msg = expect_error(conn, "SELECT mlops.evaluate('dia_linear', 'SELECT age, target FROM diabetes')", "42703")
check(msg is not None and '"sex"' in msg, "a missing feature is named")
msg = expect_error(conn, "SELECT mlops.evaluate('wine_logistic', 'SELECT target + 5 AS target, alcohol, malic_acid, "
                         "ash, alcalinity_of_ash, magnesium, total_phenols, flavanoids, nonflavanoid_phenols, "
                         "proanthocyanins, color_intensity, hue, od280_od315_of_diluted_wines, proline FROM wine')",
                   "22023")
check(msg is not None and "not a class" in msg, "a target value that is not a class is refused, saying so")
expect_error(conn, "SELECT mlops.evaluate('nosuch', 'diabetes')", "42704")
expect_error(conn, "SELECT mlops.evaluate('dia_linear:9', 'diabetes')", "42704")
expect_error(conn, "SELECT mlops.evaluate('dia_linear', 'no_such_table')", "42P01")
expect_error(conn, "SELECT mlops.evaluate('dia_linear', NULL)", "22004")
expect_error(conn, "SELECT mlops.evaluate('dia_linear', 'SELECT * FROM diabetes WHERE false')", "22000")
expect_error(conn, "SELECT mlops.evaluate('shop_linear', 'SELECT i AS colour, size, target FROM shop')", "42804")

# --- privileges: rows are read with the caller's privileges --------------------------
query(conn, "DROP ROLE IF EXISTS eval_trainer, eval_scorer")  # roles outlive a database
query(conn, "CREATE ROLE eval_trainer IN ROLE mlops_trainer")
query(conn, "CREATE ROLE eval_scorer IN ROLE mlops_scorer")
query(conn, "SET ROLE eval_trainer")
expect_error(conn, "SELECT mlops.evaluate('dia_linear', 'diabetes')", "42501")
query(conn, "RESET ROLE")
query(conn, "GRANT SELECT ON diabetes TO eval_trainer")
query(conn, "SET ROLE eval_trainer")
check(query(conn, "SELECT mlops.evaluate('dia_linear', 'diabetes') ? 'rmse'")[0][0],
      "a trainer evaluates a source it may read")
query(conn, "RESET ROLE")
query(conn, "SET ROLE eval_scorer")
expect_error(conn, "SELECT mlops.evaluate('dia_linear', 'diabetes')", "42501")
query(conn, "RESET ROLE")
finish()
