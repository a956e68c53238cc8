#!/usr/bin/python3
"""A training that mlops.max_training_memory cannot finish is refused (53200)
before its long part runs, not after: the memory for scoring the evaluation
rows is counted as soon as the row counts are known, before XGBoost's rounds
and logistic's Newton iterations (it was counted after them, so a training of
a thousand rounds ran to its end and then failed on that last step)."""
import re

import psycopg2

from mlops_test import check, finish, fresh_database, query

DB = "test_training_memory"
conn = fresh_database(DB, datasets=False)
query(conn, "CREATE TABLE rows AS SELECT (g::bigint * 7919 % 100003)::float8 AS a, "
      "(g::bigint * 7919 % 100003)::float8 / 100 + 10 * sin(g) AS y, g % 3 AS k FROM generate_series(1, 1000000) g")
query(conn, "SET mlops.progress_interval = 0")


def attempt(call, limit):
    """Runs call under mlops.max_training_memory = limit kB: None when it
    passes, else (the refusal's detail, the progress notices of the
    training's long part — XGBoost's rounds, logistic's iterations — before it)."""
    query(conn, f"SET mlops.max_training_memory = {limit}")
    del conn.notices[:]
    try:
        query(conn, call)
        return None
    except psycopg2.Error as e:
        if e.pgcode != "53200":
            raise
        return e.diag.message_detail, [n for n in conn.notices if re.search(r"xgboost round|logistic iteration", n)]


def refused_before_long_part(what, call):
    """Finds the largest limit that refuses the training (bisection from 1MB
    to 256MB, which passes): the refusal of the most the training holds at
    once. With 90% of the rows for evaluation, that is their predictions (or
    the later Hessian): it must come before the rounds or iterations."""
    lo, hi = 1024, 262144
    check(attempt(call, hi) is None, f"{what}: trains under 256MB")
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if attempt(call, mid) is None:
            hi = mid
        else:
            lo = mid
    detail, long_part = attempt(call, lo)
    check(not long_part, f"{what}: the largest limit that refuses it ({lo} kB: {detail}) refuses it before "
          f"the training's long part (notices before the refusal: {long_part[:2]})")


refused_before_long_part("xgboost", "SELECT * FROM mlops.train('x', 'SELECT a, y FROM rows', 'y', 'xgboost', "
                         "hyperparams => '{\"n_estimators\": 20, \"tree_method\": \"hist\"}', test_fraction => 0.9)")
refused_before_long_part("xgboost with early stopping", "SELECT * FROM mlops.train('x', 'SELECT a, y FROM rows', 'y', "
                         "'xgboost', hyperparams => '{\"n_estimators\": 20, \"early_stopping_rounds\": 5}', "
                         "test_fraction => 0.9)")
refused_before_long_part("logistic", "SELECT * FROM mlops.train('l', 'SELECT a, k FROM rows', 'k', 'logistic', "
                         "test_fraction => 0.9)")
finish()
