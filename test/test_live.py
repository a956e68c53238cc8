#!/usr/bin/python3
"""Oracle and end-to-end tests of live quality: predict_logged logs exactly what
predict returns with the version that scored it, record_outcome keeps one
outcome per key (last write wins), and live_metrics equals scikit-learn on the
same (actual, prediction) pairs per version and day; privileges; bad input."""
import json

import numpy as np
from sklearn.metrics import (accuracy_score, f1_score, log_loss, mean_absolute_error,
                             mean_squared_error, precision_score, r2_score, recall_score,
                             roc_auc_score)

from mlops_test import check, close, expect_error, finish, fresh_database, query

conn = fresh_database("test_live")
ROLES = ("live_test_scorer", "live_test_trainer", "live_test_admin")
for role, granted in zip(ROLES, ("mlops_scorer", "mlops_trainer", "mlops_admin")):
    query(conn, f"DROP ROLE IF EXISTS {role}")
    query(conn, f"CREATE ROLE {role}; GRANT {granted} TO {role}")
for table in ("diabetes", "breast_cancer", "wine"):
    query(conn, f"ALTER TABLE {table} ADD COLUMN id serial")
    query(conn, f"GRANT SELECT ON {table} TO mlops_scorer")

# regression (linear), binary (logistic, then xgboost as version 2), multiclass (xgboost)
query(conn, "SELECT mlops.train('prog', 'SELECT * FROM diabetes', 'target', 'linear', features => "
            "(SELECT array_agg(attname) FROM pg_attribute WHERE attrelid = 'diabetes'::regclass "
            "AND attnum > 0 AND attname NOT IN ('target', 'id')))")
feature_sql = ("(SELECT array_agg(attname ORDER BY attnum) FROM pg_attribute WHERE attrelid = '{t}'::regclass "
               "AND attnum > 0 AND NOT attisdropped AND attname NOT IN ('target', 'id'))")
query(conn, f"SELECT mlops.train('benign', 'breast_cancer', 'target', 'logistic', features => {feature_sql.format(t='breast_cancer')})")
query(conn, f"SELECT mlops.train('benign', 'breast_cancer', 'target', 'xgboost', features => {feature_sql.format(t='breast_cancer')}, "
            "hyperparams => '{\"n_estimators\": 20, \"max_depth\": 3}')")
query(conn, f"SELECT mlops.train('cultivar', 'wine', 'target', 'xgboost', features => {feature_sql.format(t='wine')}, "
            "hyperparams => '{\"n_estimators\": 20, \"max_depth\": 3}')")

# --- predict_logged logs exactly what predict returns --------------------------
# prog: row form; cultivar: float8[] form; benign: row form with the alias moved
# to version 2 half-way (each row records the version that scored it).
query(conn, "SELECT mlops.predict_logged('prog', 'p' || id, d) FROM diabetes d ORDER BY id")
features_wine = query(conn, "SELECT " + feature_sql.format(t='wine'))[0][0]
wine_array = "ARRAY[" + ", ".join(f"w.{f}" for f in features_wine) + "]"
logged_wine = query(conn, f"SELECT id, mlops.predict_logged('cultivar', 'w' || id, {wine_array}) FROM wine w ORDER BY id")
half = query(conn, "SELECT count(*) / 2 FROM breast_cancer")[0][0]
query(conn, f"SELECT mlops.predict_logged('benign', 'b' || id, b) FROM breast_cancer b WHERE id <= {half} ORDER BY id")
query(conn, "SELECT mlops.set_alias('benign', 'production', 2)")
query(conn, f"SELECT mlops.predict_logged('benign', 'b' || id, b) FROM breast_cancer b WHERE id > {half} ORDER BY id")

for model, table, prefix in (("prog", "diabetes", "p"), ("benign", "breast_cancer", "b"), ("cultivar", "wine", "w")):
    rows = query(conn, f"""
        SELECT l.version, l.prediction, mlops.predict('{model}:' || l.version, t),
               l.probabilities, CASE WHEN l.probabilities IS NOT NULL THEN mlops.predict_proba('{model}:' || l.version, t) END,
               l.scored_by, l.features
          FROM mlops.prediction_log l JOIN mlops.model m ON m.id = l.model_id
          JOIN {table} t ON l.key = '{prefix}' || t.id
         WHERE m.name = '{model}' ORDER BY l.id""")
    n = query(conn, f"SELECT count(*) FROM {table}")[0][0]
    check(len(rows) == n, f"{model}: one logged prediction per scored row ({len(rows)} of {n})")
    check(all(r[1] == r[2] for r in rows), f"{model}: the logged prediction is predict() of the logged version")
    check(all(r[3] == r[4] for r in rows), f"{model}: the logged probabilities are predict_proba() of the logged version")
    check(all(r[5] == "postgres" for r in rows), f"{model}: scored_by is the caller")
    if model == "benign":
        versions = [r[0] for r in rows]
        check(versions == [1] * half + [2] * (n - half),
              "benign: rows scored before the alias move record version 1, after it version 2")
        v1 = [r[0] for r in query(conn, "SELECT mlops.predict_proba('benign:1', b) FROM breast_cancer b ORDER BY id")]
        check(any(r[3] != p for r, p in zip(rows, v1)),
              "benign: the two versions score differently (so the versions check means something)")
    if model == "prog":
        check(all(isinstance(r[6], dict) and "bmi" in r[6] for r in rows), "prog: the row form logs the row as a JSON object")
    if model == "cultivar":
        check(all(isinstance(r[6], list) and len(r[6]) == len(features_wine) for r in rows),
              "cultivar: the array form logs the features as a JSON array")
        check(all(r[3] is not None and len(r[3]) == 3 for r in rows), "cultivar: three probabilities logged per row")
check([r[1] for r in logged_wine] == [r[0] for r in query(conn, f"SELECT mlops.predict('cultivar', {wine_array}) FROM wine w ORDER BY id")],
      "predict_logged returns what predict returns")

# --- outcomes --------------------------------------------------------------
# every row but one in four gets its outcome; the rest stay unknown
for table, model, prefix in (("diabetes", "prog", "p"), ("breast_cancer", "benign", "b"), ("wine", "cultivar", "w")):
    query(conn, f"SELECT mlops.record_outcome('{model}', '{prefix}' || id, target) FROM {table} WHERE id % 4 <> 0")
# a late correction: last write wins
query(conn, "SELECT mlops.record_outcome('prog', 'p1', 0)")
check(query(conn, "SELECT actual FROM mlops.outcome o JOIN mlops.model m ON m.id = o.model_id "
                  "WHERE m.name = 'prog' AND key = 'p1'") == [(0.0,)], "a corrected outcome replaces the earlier one")
# a key scored twice (by two versions) is counted in both versions' rows
query(conn, "SELECT mlops.predict_logged('benign:1', 'b2', b) FROM breast_cancer b WHERE id = 2")
check(query(conn, "SELECT mlops.record_outcome('benign', 'b2', target) FROM breast_cancer WHERE id = 2") == [(2,)],
      "record_outcome returns how many logged predictions it applies to (a key scored twice: 2)")
check(query(conn, "SELECT mlops.record_outcome('benign', 'never-scored', 1)") == [(0,)],
      "an outcome for a key not scored yet is kept (0 predictions)")
# spread the log over two days to see the per-day grouping
query(conn, "UPDATE mlops.prediction_log SET scored_at = scored_at - interval '1 day' WHERE id % 3 = 0")


def sklearn_metrics(task, classes, actual, pred, proba):
    """The metrics of API.md by scikit-learn on the same pairs."""
    actual, pred = np.array(actual), np.array(pred)
    if task == "regression":
        return {"r2": r2_score(actual, pred), "mse": mean_squared_error(actual, pred),
                "rmse": mean_squared_error(actual, pred) ** 0.5, "mae": mean_absolute_error(actual, pred)}
    proba = np.array(proba)
    out = {"accuracy": accuracy_score(actual, pred), "log_loss": log_loss(actual, proba, labels=classes)}
    if len(classes) == 2:
        out.update(precision=precision_score(actual, pred, pos_label=classes[1], zero_division=0),
                   recall=recall_score(actual, pred, pos_label=classes[1], zero_division=0),
                   f1=f1_score(actual, pred, pos_label=classes[1], zero_division=0),
                   roc_auc=roc_auc_score(actual == classes[1], proba[:, 1]))
    else:
        out["f1_macro"] = f1_score(actual, pred, average="macro")
    return out


live = query(conn, "SELECT model, version, day, scored, with_outcome, metrics FROM mlops.live_metrics ORDER BY 1, 2, 3")
check(sorted({(r[0], r[1]) for r in live}) == [("benign", 1), ("benign", 2), ("cultivar", 1), ("prog", 1)],
      "live_metrics has a row per model version (and day)")
check(all(len([r for r in live if r[:2] == mv]) == 2 for mv in {(r[0], r[1]) for r in live}),
      "every version's rows are split over the two days")
for model, version, day, scored, with_outcome, metrics in live:
    rows = query(conn, """
        SELECT v.task, v.classes, o.actual, l.prediction, l.probabilities
          FROM mlops.prediction_log l JOIN mlops.model m ON m.id = l.model_id
          JOIN mlops.model_version v ON v.model_id = l.model_id AND v.version = l.version
          LEFT JOIN mlops.outcome o ON o.model_id = l.model_id AND o.key = l.key
         WHERE m.name = %s AND l.version = %s AND (l.scored_at AT TIME ZONE 'UTC')::date = %s""",
                 (model, version, day))
    known = [r for r in rows if r[2] is not None]
    check(scored == len(rows) and with_outcome == len(known) and 0 < with_outcome < scored,
          f"{model}:{version} {day}: counts {scored} scored, {with_outcome} with outcome")
    expected = sklearn_metrics(rows[0][0], rows[0][1], [r[2] for r in known], [r[3] for r in known],
                               [r[4] for r in known])
    check(set(metrics) == set(expected) and all(close(metrics[k], expected[k]) for k in expected),
          f"{model}:{version} {day}: metrics equal scikit-learn's (1e-9): {json.dumps(metrics)[:120]}")

# --- privileges ------------------------------------------------------------
query(conn, "SET ROLE live_test_scorer")
check(query(conn, "SELECT mlops.predict_logged('prog', 'scorer-1', d) FROM diabetes d WHERE id = 1") ==
      query(conn, "SELECT mlops.predict('prog', d) FROM diabetes d WHERE id = 1"), "mlops_scorer can call predict_logged")
check(query(conn, "SELECT mlops.record_outcome('prog', 'scorer-1', 150)") == [(1,)], "mlops_scorer can record an outcome")
expect_error(conn, "SELECT * FROM mlops.prediction_log", "42501")
expect_error(conn, "INSERT INTO mlops.prediction_log (model_id, version, key, features, prediction, scored_by) "
                   "VALUES (1, 1, 'x', '{}', 0, 'x')", "42501")
expect_error(conn, "DELETE FROM mlops.prediction_log", "42501")
expect_error(conn, "SELECT * FROM mlops.outcome", "42501")
expect_error(conn, "UPDATE mlops.outcome SET actual = 0", "42501")
expect_error(conn, "SELECT * FROM mlops.live_metrics", "42501")
expect_error(conn, "SELECT mlops.purge_predictions(now())", "42501")
query(conn, "RESET ROLE")
check(query(conn, "SELECT scored_by FROM mlops.prediction_log WHERE key = 'scorer-1'") == [("live_test_scorer",)],
      "scored_by records the scorer, not the extension's owner")
check(query(conn, "SELECT recorded_by FROM mlops.outcome WHERE key = 'scorer-1'") == [("live_test_scorer",)],
      "recorded_by records the scorer")
query(conn, "SET ROLE live_test_trainer")
check(len(query(conn, "SELECT * FROM mlops.live_metrics")) == len(live), "mlops_trainer reads live_metrics")
expect_error(conn, "SELECT mlops.purge_predictions(now())", "42501")
query(conn, "RESET ROLE")

# --- bad input: an error with its SQLSTATE, nothing logged, session usable ----
before = query(conn, "SELECT count(*) FROM mlops.prediction_log")[0][0]
expect_error(conn, "SELECT mlops.predict_logged('nope', 'k', ARRAY[1.0])", "42704")
expect_error(conn, "SELECT mlops.predict_logged('prog@staging', 'k', d) FROM diabetes d WHERE id = 1", "42704")
expect_error(conn, "SELECT mlops.predict_logged(NULL, 'k', ARRAY[1.0])", "22004")
expect_error(conn, "SELECT mlops.predict_logged('prog', NULL, d) FROM diabetes d WHERE id = 1", "22004")
expect_error(conn, "SELECT mlops.predict_logged('prog', '', d) FROM diabetes d WHERE id = 1", "22023")
expect_error(conn, "SELECT mlops.predict_logged('prog', 'k', NULL::float8[])", "22004")
expect_error(conn, "SELECT mlops.predict_logged('prog', 'k', ARRAY[1, 2.5])", "22023")
expect_error(conn, "SELECT mlops.predict_logged('prog', 'k', r) FROM (SELECT age, sex FROM diabetes LIMIT 1) r", "42703")
check(query(conn, "SELECT count(*) FROM mlops.prediction_log")[0][0] == before, "nothing was logged by the failed calls")
expect_error(conn, "SELECT mlops.record_outcome('nope', 'k', 1)", "42704")
expect_error(conn, "SELECT mlops.record_outcome(NULL, 'k', 1)", "22004")
expect_error(conn, "SELECT mlops.record_outcome('prog', NULL, 1)", "22004")
expect_error(conn, "SELECT mlops.record_outcome('prog', 'p2', NULL)", "22004")
expect_error(conn, "SELECT mlops.record_outcome('prog', 'p2', 'NaN')", "22023")
expect_error(conn, "SELECT mlops.record_outcome('prog', 'p2', 'Infinity')", "22023")
expect_error(conn, "SELECT mlops.record_outcome('benign', 'b3', 7)", "22023")
expect_error(conn, "SELECT mlops.purge_predictions(NULL)", "22004")

# --- retention ---------------------------------------------------------------
old = query(conn, "SELECT count(*) FROM mlops.prediction_log WHERE scored_at < now() - interval '12 hours'")[0][0]
query(conn, "UPDATE mlops.outcome SET recorded_at = recorded_at - interval '1 day'")
kept = query(conn, "SELECT count(*) FROM mlops.outcome o WHERE EXISTS (SELECT FROM mlops.prediction_log l "
                   "WHERE l.model_id = o.model_id AND l.key = o.key AND l.scored_at >= now() - interval '12 hours')")[0][0]
query(conn, "SET ROLE live_test_admin")
check(query(conn, "SELECT mlops.purge_predictions(now() - interval '12 hours')") == [(old,)],
      f"purge_predictions deletes the {old} predictions older than the time given")
query(conn, "RESET ROLE")
check(query(conn, "SELECT count(*) FROM mlops.prediction_log WHERE scored_at < now() - interval '12 hours'") == [(0,)],
      "no older prediction is left")
check(query(conn, "SELECT count(*) FROM mlops.outcome o WHERE NOT EXISTS (SELECT FROM mlops.prediction_log l "
                  "WHERE l.model_id = o.model_id AND l.key = o.key)") == [(0,)],
      "older outcomes left without any prediction are purged with them")
check(query(conn, "SELECT count(*) FROM mlops.outcome") == [(kept,)], f"the {kept} outcomes of remaining predictions are kept")
check(query(conn, "SELECT count(DISTINCT day) FROM mlops.live_metrics") == [(1,)], "live_metrics shows only today's rows")
# delete_version takes its log with it
query(conn, "SELECT mlops.delete_version('benign', 1)")
check(query(conn, "SELECT count(*) FROM mlops.prediction_log l JOIN mlops.model m ON m.id = l.model_id "
                  "WHERE m.name = 'benign' AND l.version = 1") == [(0,)], "delete_version deletes the version's logged predictions")

for role in ROLES:
    query(conn, f"DROP OWNED BY {role}; DROP ROLE {role}")
finish()
