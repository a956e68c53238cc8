#!/usr/bin/python3
"""Models in a LATIN1 database with non-ASCII column names: the documents
mlops writes are JSON, which is UTF-8 whatever the database's encoding. A
linear model's artifact held its terms in LATIN1, so that reading it back
(as UTF-8) failed every predict and explain with 22021; an XGBoost model
held its feature names in LATIN1, so that export_model gave Python a model
whose feature names are not UTF-8, import_model could not tell a
Python model's non-ASCII names given out of order, and the report's
importance found no gain for a non-ASCII name. In a SQL_ASCII database,
whose bytes have no known encoding, names that are not UTF-8 are kept as
they are, and both kinds of model train and score; export_model refuses
them (22021) rather than hand out JSON that is not UTF-8."""
import hashlib
import json
import re

import xgboost as xgb

from mlops_test import check, expect_error, finish, fresh_database, query

conn = fresh_database("test_model_encodings_latin1", datasets=False, encoding="LATIN1")
conn.set_client_encoding("UTF8")
query(conn, """CREATE TABLE "ventes é" AS
               SELECT g::float8 AS "prix é", (g % 3)::text || 'ü' AS "catégorie",
                      2 * g + (g % 3)::float8 AS "cible ÿ"
                 FROM generate_series(1, 100) g""")
for model, algorithm, hyperparams in (("lin", "linear", "{}"), ("xgb", "xgboost", '{"n_estimators": 3}')):
    query(conn, """SELECT * FROM mlops.train(%s, '"ventes é"', 'cible ÿ', %s, hyperparams => %s)""",
          (model, algorithm, hyperparams))
    explained = query(conn, """SELECT mlops.explain(%s, v) -> 'contributions'
                                 FROM "ventes é" v ORDER BY "prix é" LIMIT 1""", (model,))[0][0]
    check(sorted(explained) == ["catégorie", "prix é"], f"{algorithm}: explain by row names the inputs")
    exported = bytes(query(conn, "SELECT mlops.export_model(%s)", (model,))[0][0])
    try:
        document = json.loads(exported.decode("utf-8"))
    except UnicodeDecodeError as e:
        document = None
        check(False, f"{algorithm}: export_model is UTF-8 JSON ({e})")
    if algorithm == "linear" and document is not None:
        check(document["terms"] == ["prix é", "catégorie=1ü", "catégorie=2ü"],
              "linear: the artifact's terms are the design's, in UTF-8")
    if algorithm == "xgboost":
        booster = xgb.Booster()
        booster.load_model(bytearray(exported))
        try:
            names = booster.feature_names
        except UnicodeDecodeError:
            names = None
        check(names == ["prix é", "catégorie"], f"xgboost: Python reads the feature names ({names})")
        # the report's importance matches the booster's (UTF-8) names to the version's
        page = query(conn, "SELECT mlops.report(%s)", (model,))[0][0]
        gain = re.search(r"Total gain</figcaption>.*?<title>prix &#xE9;: ([0-9.e+-]+)</title>", page, re.S)
        check(gain is not None and float(gain.group(1)) > 0,
              f"xgboost: the report's total gain of the non-ASCII feature ({gain and gain.group(1)})")

# a version's profile is logged as its digest: of its text in UTF-8, whatever the database's encoding
text, digest = query(conn, "SELECT profile::text, profile_sha256 FROM mlops.model_version ORDER BY model_id LIMIT 1")[0]
check("prix é" in text and digest == hashlib.sha256(text.encode("utf-8")).hexdigest(),
      "LATIN1: profile_sha256 is the sha256 of the profile's text in UTF-8")

# a Python model's names are UTF-8: given in another order, they are refused
expect_error(conn, """SELECT mlops.import_model('xgb2', mlops.export_model('xgb'), 'xgboost-json',
                      ARRAY['catégorie', 'prix é'], 'regression')""", "22023")
check(query(conn, """SELECT mlops.import_model('xgb2', mlops.export_model('xgb'), 'xgboost-json',
                     ARRAY['prix é', 'catégorie'], 'regression')""")[0][0] == 1,
      "import_model takes the names in the model's order")
conn.close()

conn = fresh_database("test_model_encodings_sql_ascii", datasets=False, encoding="SQL_ASCII")
query(conn, r"""DO $$ BEGIN EXECUTE format('CREATE TABLE t AS SELECT g::float8 AS %I, (g %% 3)::text AS %I,
                                                2 * g + (g %% 3)::float8 AS y FROM generate_series(1, 100) g',
                                          E'prix\xe9', E'cat\xe9gorie\xff'); END $$""")
check(query(conn, r"""SELECT count(*) FROM pg_attribute WHERE attrelid = 't'::regclass
                       AND position('\xe9'::bytea IN convert_to(attname::text, 'SQL_ASCII')) > 0""")[0][0] == 2,
      "SQL_ASCII: the column names hold a byte that is not UTF-8")
for model, algorithm, hyperparams in (("lin", "linear", "{}"), ("xgb", "xgboost", '{"n_estimators": 3}')):
    query(conn, "SELECT * FROM mlops.train(%s, 't', 'y', %s, hyperparams => %s)", (model, algorithm, hyperparams))
    scored = query(conn, "SELECT count(mlops.predict(%s, t)) FROM t", (model,))[0][0]
    check(scored == 100, f"SQL_ASCII: a {algorithm} model of names that are not UTF-8 scores by row")
# its UBJ, whose names are the columns' bytes, passes import_model's checks there (as scoring loads it)
query(conn, """SELECT mlops.import_model('xgb_copy', v.artifact, 'xgboost-ubj', v.features, 'regression')
                 FROM mlops.model_version v JOIN mlops.model m ON m.id = v.model_id WHERE m.name = 'xgb'""")
check(query(conn, """SELECT count(DISTINCT v.artifact) = 1 FROM mlops.model_version v JOIN mlops.model m
                        ON m.id = v.model_id WHERE m.name IN ('xgb', 'xgb_copy')""")[0][0],
      "SQL_ASCII: the xgboost model's UBJ, names not UTF-8, imports as the same model")
# JSON is UTF-8: a model whose names are not is refused, not exported as a
# document no JSON parser reads; names written in UTF-8 export as they are
for model in ("lin", "xgb", "xgb_copy"):
    expect_error(conn, "SELECT mlops.export_model(%s)", "22021", (model,))
query(conn, r"""DO $$ BEGIN EXECUTE format('CREATE TABLE u AS SELECT g::float8 AS %I, (g %% 3)::text AS %I,
                                                2 * g + (g %% 3)::float8 AS y FROM generate_series(1, 100) g',
                                          E'prix\xc3\xa9', E'cat\xc3\xa9gorie'); END $$""")
for model, algorithm, hyperparams in (("lin_u", "linear", "{}"), ("xgb_u", "xgboost", '{"n_estimators": 3}')):
    query(conn, "SELECT * FROM mlops.train(%s, 'u', 'y', %s, hyperparams => %s)", (model, algorithm, hyperparams))
    exported = bytes(query(conn, "SELECT mlops.export_model(%s)", (model,))[0][0])
    try:
        document = json.loads(exported.decode("utf-8"))
        check("prixé" in json.dumps(document, ensure_ascii=False),
              f"SQL_ASCII: a {algorithm} model of names in UTF-8 exports as UTF-8 JSON holding them")
    except ValueError as e:
        check(False, f"SQL_ASCII: a {algorithm} model of names in UTF-8 exports as UTF-8 JSON ({e})")
stored, digest = query(conn, """SELECT convert_to(profile::text, 'SQL_ASCII'), profile_sha256
                                  FROM mlops.model_version ORDER BY model_id LIMIT 1""")[0]
check(b"prix\xe9" in bytes(stored) and digest == hashlib.sha256(bytes(stored)).hexdigest(),
      "SQL_ASCII: profile_sha256 is the sha256 of the profile's bytes as stored")
conn.close()

# WIN1252 has bytes Unicode lacks (0x81, 0x8D): a version's spec and artifact
# are UTF-8 JSON, so a feature's name or a category holding one is 22P05
# (as the README says), and nothing is recorded
conn = fresh_database("test_model_encodings_win1252", datasets=False, encoding="WIN1252")
query(conn, r"""CREATE TABLE cats AS SELECT g % 17 AS x, convert_from('\x8d', 'WIN1252') || (g % 3) AS c, g % 5 AS y
                 FROM generate_series(1, 300) g""")
query(conn, r"""DO $$ BEGIN EXECUTE format('CREATE TABLE names AS SELECT g %% 17 AS %I, g %% 5 AS y
                                                FROM generate_series(1, 300) g',
                                          'a' || convert_from('\x81', 'WIN1252')); END $$""")
for source, algorithm in (("cats", "linear"), ("cats", "xgboost"), ("names", "linear"), ("names", "xgboost")):
    expect_error(conn, "SELECT * FROM mlops.train('w', %s, 'y', %s)", "22P05", (source, algorithm))
check(query(conn, "SELECT (SELECT count(*) FROM mlops.model) + (SELECT count(*) FROM mlops.run)")[0][0] == 0,
      "WIN1252: a refused training records no model and no run")
conn.close()

finish()
