#!/usr/bin/python3
"""Bad input to scoring and import: clear errors with SQLSTATEs, the session
still usable; and statement consistency while another session moves the alias."""
import threading

import numpy as np
import psycopg2
import xgboost as xgb

from mlops_test import check, connect, expect_error, finish, fresh_database, query

conn = fresh_database("test_scoring_errors", datasets=False)
rng = np.random.default_rng(3)
X = rng.normal(size=(500, 3)).astype(np.float32)
reg = xgb.train({"objective": "reg:squarederror", "max_depth": 3, "nthread": 1}, xgb.DMatrix(X, label=X[:, 0]), 5)
reg2 = xgb.train({"objective": "reg:squarederror", "max_depth": 3, "nthread": 1}, xgb.DMatrix(X, label=-X[:, 0] + 10), 5)
ubj = bytes(reg.save_raw("ubj"))
js = bytes(reg.save_raw("json"))
feats = ["a", "b", "c"]


def imp(name, raw, fmt, features=feats, task="regression"):
    return query(conn, "SELECT mlops.import_model(%s, %s, %s, %s, %s)", (name, psycopg2.Binary(raw), fmt, features, task))


imp("m", ubj, "xgboost-ubj")
imp("m", bytes(reg2.save_raw("ubj")), "xgboost-ubj")
query(conn, "SELECT mlops._move_alias(id, 'staging', 2, 'set') FROM mlops.model WHERE name = 'm'")

# import_model refuses what is not a usable model, registering nothing
expect_error(conn, "SELECT mlops.import_model('bad', %s, 'xgboost-ubj', %s, 'regression')", "22023", (psycopg2.Binary(ubj[:len(ubj) // 2]), feats))
expect_error(conn, "SELECT mlops.import_model('bad', %s, 'xgboost-json', %s, 'regression')", "22023", (psycopg2.Binary(js[:-20]), feats))
expect_error(conn, "SELECT mlops.import_model('bad', convert_to('{\"hello\": 1}', 'UTF8'), 'xgboost-json', %s, 'regression')", "22023", (feats,))
expect_error(conn, "SELECT mlops.import_model('bad', %s, 'xgboost-json', %s, 'regression')", "22023", (psycopg2.Binary(ubj), feats))
expect_error(conn, "SELECT mlops.import_model('bad', %s, 'xgboost-ubj', %s, 'regression')", "22023", (psycopg2.Binary(ubj), ["a", "b"]))
expect_error(conn, "SELECT mlops.import_model('bad', %s, 'xgboost-ubj', %s, 'classification')", "22023", (psycopg2.Binary(ubj), feats))
expect_error(conn, "SELECT mlops.import_model('bad', %s, 'onnx', %s, 'regression')", "22023", (psycopg2.Binary(ubj), feats))
expect_error(conn, "SELECT mlops.import_model('bad', %s, 'xgboost-ubj', %s, 'regression')", "22023", (psycopg2.Binary(ubj), ["a", "a", "b"]))
expect_error(conn, "SELECT mlops.import_model('bad', %s, 'xgboost-json', %s, 'regression')", "22023",
             (psycopg2.Binary(js.replace(b'"reg:squarederror"', b'"reg:nonsense"')), feats))
expect_error(conn, "SELECT mlops.import_model('bad', NULL, 'xgboost-ubj', %s, 'regression')", "22004", (feats,))
check(query(conn, "SELECT count(*) FROM mlops.model WHERE name = 'bad'") == [(0,)], "nothing registered by failed imports")
check(query(conn, "SELECT count(*) FROM mlops.runs WHERE experiment = 'm'")[0][0] == 2, "each import records a run")

# scoring bad input
expect_error(conn, "SELECT mlops.predict('m', ARRAY[1, 2])", "22023")
expect_error(conn, "SELECT mlops.predict('m', ARRAY[[1, 2, 3]])", "22023")
expect_error(conn, "SELECT mlops.predict('m', NULL::float8[])", "22004")
expect_error(conn, "SELECT mlops.predict(NULL, ARRAY[1, 2, 3])", "22004")
expect_error(conn, "SELECT mlops.predict('nope', ARRAY[1, 2, 3])", "42704")
expect_error(conn, "SELECT mlops.predict('m@nope', ARRAY[1, 2, 3])", "42704")
expect_error(conn, "SELECT mlops.predict('m:9', ARRAY[1, 2, 3])", "42704")
expect_error(conn, "SELECT mlops.predict_proba('m', ARRAY[1, 2, 3])", "42809")
expect_error(conn, "SELECT mlops.predict('m', ROW(1.0, 2.0)::record)", "42703")
query(conn, "CREATE TABLE t (id int, c float8, b int, a text)")
query(conn, "INSERT INTO t VALUES (1, 1, 2, 'x')")
expect_error(conn, "SELECT mlops.predict('m', t) FROM t", "42804")
expect_error(conn, "SELECT mlops.predict_version('m@production', 1, ARRAY[1, 2, 3])", "22023")
check(query(conn, "SELECT mlops.predict('m', ARRAY[1, NULL, 'NaN'::float8])")[0][0] ==
      float(reg.inplace_predict(np.array([[1, np.nan, np.nan]], dtype=np.float32))[0]), "NULL and NaN elements are XGBoost's missing value")
check(query(conn, "SELECT mlops.predict('m:2', ARRAY[1,2,3]) = mlops.predict('m@staging', ARRAY[1,2,3]) "
                  "AND mlops.predict('m', ARRAY[1,2,3]) = mlops.predict_version('m', 1, ARRAY[1,2,3])")[0][0],
      "name, name@alias, name:version and predict_version resolve as documented")

# mlops_scorer scores without reading the registry itself; import and export need mlops_trainer
query(conn, "DROP ROLE IF EXISTS scoring_test_scorer")
query(conn, "CREATE ROLE scoring_test_scorer; GRANT mlops_scorer TO scoring_test_scorer")
query(conn, "GRANT SELECT ON t TO scoring_test_scorer")
query(conn, "SET ROLE scoring_test_scorer")
check(query(conn, "SELECT mlops.predict('m', ARRAY[1, 2, 3]) IS NOT NULL AND mlops.explain('m:2', ARRAY[1, 2, 3]) IS NOT NULL")[0][0],
      "a mlops_scorer member scores and explains")
expect_error(conn, "SELECT * FROM mlops.model_version", "42501")
expect_error(conn, "SELECT mlops.export_model('m')", "42501")
expect_error(conn, "SELECT mlops.import_model('x', %s, 'xgboost-ubj', %s, 'regression')", "42501", (psycopg2.Binary(ubj), feats))
query(conn, "RESET ROLE")
query(conn, "DROP OWNED BY scoring_test_scorer")
query(conn, "DROP ROLE scoring_test_scorer")

# a reference that varies per row (more of them than the backend remembers at once)
for k in range(10):
    query(conn, "SELECT mlops._move_alias(id, %s, %s, 'set') FROM mlops.model WHERE name = 'm'", (f"a{k}", 1 + k % 2))
got = query(conn, "SELECT sum(mlops.predict('m@a' || (i % 10), ARRAY[i % 7, 1, 2])) FROM generate_series(1, 2000) i")[0][0]
want = query(conn, "SELECT sum(mlops.predict('m:' || (1 + (i % 10) % 2), ARRAY[i % 7, 1, 2])) FROM generate_series(1, 2000) i")[0][0]
check(got == want, "a model reference varying per row resolves each row right (10 aliases)")

# consistency: scoring in a loop while another session moves the alias and commits
query(conn, "CREATE TABLE many AS SELECT i, ARRAY[i % 7, i % 5, i % 3]::float8[] AS f FROM generate_series(1, 20000) i")
v1 = query(conn, "SELECT sum(mlops.predict('m:1', f)) FROM many")[0][0]
v2 = query(conn, "SELECT sum(mlops.predict('m:2', f)) FROM many")[0][0]
stop = threading.Event()
errors = []


def mover():
    c = connect("test_scoring_errors")
    try:
        v = 1
        while not stop.is_set():
            v = 3 - v
            query(c, "SELECT mlops._move_alias(id, 'production', %s, 'set') FROM mlops.model WHERE name = 'm'", (v,))
    except Exception as e:
        errors.append(e)
    c.close()


th = threading.Thread(target=mover)
th.start()
sums = []
try:
    for _ in range(25):
        sums.append(query(conn, "SELECT sum(mlops.predict('m', f)) FROM many")[0][0])
finally:
    stop.set()
    th.join()
check(not errors and all(s in (v1, v2) for s in sums),
      f"while the alias moves and commits, each statement scores every row with one version ({len(sums)} statements)")
check(len(set(sums)) == 2, "a committed alias move is seen from the next statement")
other = connect("test_scoring_errors")
other.autocommit = False
query(other, "SELECT mlops._move_alias(id, 'production', 2, 'set') FROM mlops.model WHERE name = 'm'")
before = query(conn, "SELECT mlops.predict('m', ARRAY[1,2,3])")[0][0]
query(other, "SELECT mlops._move_alias(id, 'production', 1, 'set') FROM mlops.model WHERE name = 'm'")
check(query(conn, "SELECT mlops.predict('m', ARRAY[1,2,3])")[0][0] == before, "an uncommitted alias move is not seen")
other.rollback()
other.close()

# a re-created registry reuses model ids: the backend's cache must not serve the old model
before = query(conn, "SELECT mlops.predict('m:1', ARRAY[1, 2, 3])")[0][0]
query(conn, "DROP EXTENSION mlops CASCADE")
query(conn, "CREATE EXTENSION mlops")
imp("m", bytes(reg2.save_raw("ubj")), "xgboost-ubj")
after = query(conn, "SELECT mlops.predict('m:1', ARRAY[1, 2, 3])")[0][0]
check(after == float(reg2.inplace_predict(np.array([[1, 2, 3]], dtype=np.float32))[0]) and after != before,
      "after DROP/CREATE EXTENSION the same session scores the new model 1, not the cached old one")
finish()
