#!/usr/bin/python3
"""promote() and its validation gate: candidate and incumbent scored on the
same rows (the candidate's test split, reproduced, or gate.source); a worse
candidate refused and recorded, a better one promoted, force overriding and
saying so, rollback walking back; transactional across sessions with
predict(); each role's allowed and refused promotions; bad input with
SQLSTATEs and nothing changed."""
import json
import threading
import time

import psycopg2

from mlops_test import check, close, connect, expect_error, finish, fresh_database, query

DB = "test_promote"
conn = fresh_database(DB)

# y depends linearly on x1: a linear model fits it, a one-split stump does not
query(conn, """CREATE TABLE lin AS
               SELECT i, (i % 97) / 10.0 AS x1, ((i * 31) % 53) / 10.0 AS x2,
                      3 * (i % 97) / 10.0 - ((i * 31) % 53) / 20.0 + ((i * 7919) % 101) / 200.0 AS target
                 FROM generate_series(1, 600) i""")
STUMP = json.dumps({"n_estimators": 1, "max_depth": 1, "nthread": 1})


def train(model, algorithm, hyper="{}", table="lin", features="{x1,x2}", **kw):
    extra = "".join(f", {k} => {v}" for k, v in kw.items())
    return query(conn, f"SELECT version FROM mlops.train(%s, %s, 'target', %s, features => %s, "
                       f"hyperparams => %s::jsonb{extra})", (model, table, algorithm, features, hyper))[0][0]


def aliases(model):
    return query(conn, "SELECT aliases FROM mlops.models WHERE name = %s", (model,))[0][0]


def history(model):
    return query(conn, """SELECT action, from_version, to_version, reason, gate FROM mlops.deployments
                           WHERE model = %s ORDER BY id""", (model,))


def stored_metric(model, version, metric):
    return query(conn, "SELECT (metrics->>%s)::float8 FROM mlops.model_versions WHERE name = %s AND version = %s",
                 (metric, model, version))[0][0]


def promote(*args, **kw):
    named = "".join(f", {k} => %s" for k in kw)
    return query(conn, f"SELECT mlops.promote(%s{', %s' * (len(args) - 1)}{named})", (*args, *kw.values()))[0][0]


# --- the gate on the candidate's test split ---------------------------------------------
check(train("m", "xgboost", STUMP) == 1, "version 1 (a stump) is production")
check(train("m", "linear") == 2, "version 2 (linear) trained")
out = promote("m")
check(out["promoted"] is True and out["metric"] == "rmse" and out["candidate_version"] == 2
      and out["incumbent_version"] == 1 and out["forced"] is False, f"a better candidate is promoted ({out})")
check(close(out["candidate"], stored_metric("m", 2, "rmse")),
      "the gate's candidate rmse is the one train() measured: the test split is reproduced")
check(out["incumbent"] > out["candidate"], "the incumbent is worse on the same rows")
check(aliases("m") == {"production": 2}, "production points at version 2")
check(history("m")[-1][:3] == ("promote", 1, 2) and history("m")[-1][4] == out,
      "the promotion is recorded with its gate outcome")

check(train("m", "xgboost", STUMP) == 3, "version 3 (a stump again) trained")
before = len(history("m"))
out = promote("m")
check(out["promoted"] is False and out["candidate_version"] == 3 and out["incumbent_version"] == 2
      and out["candidate"] > out["incumbent"], f"a worse candidate is refused ({out})")
check(aliases("m") == {"production": 2}, "the alias did not move")
h = history("m")
check(len(h) == before + 1 and h[-1][:3] == ("refused", 2, 3) and h[-1][4]["promoted"] is False
      and "min_delta" in h[-1][3], "the refusal is recorded, with its reason")

out = promote("m", 3, force=True)
check(out["promoted"] is True and out["forced"] is True and out["reason"].startswith("forced"),
      "force overrides the refusal and says so")
h = history("m")
check(h[-1][:3] == ("promote", 2, 3) and h[-1][4]["forced"] is True and h[-1][3].startswith("forced"),
      "the forced promotion is recorded as forced")
check(query(conn, "SELECT mlops.rollback('m')")[0][0] == 2, "rollback after promote goes back to version 2")
check(query(conn, "SELECT mlops.rollback('m')")[0][0] == 1, "a second rollback walks back to version 1 (refusals are no moves)")
check(aliases("m") == {"production": 1}, "production is at version 1")

# min_delta: the improvement must be at least min_delta
out = promote("m", 2, gate=json.dumps({"min_delta": 1e6}))
check(out["promoted"] is False and out["min_delta"] == 1e6, "an improvement below min_delta is refused")
out = promote("m", 2, gate=json.dumps({"metric": "r2", "min_delta": 0.01}))
check(out["promoted"] is True and out["metric"] == "r2" and out["candidate"] > out["incumbent"],
      "a higher-is-better gate metric (r2) promotes the better candidate")

# gate.source: the given rows, for both versions
out = promote("m", 3, alias="staging", gate=json.dumps({"source": "SELECT * FROM lin WHERE i <= 300"}))
check(out["promoted"] is True and out["incumbent_version"] is None and "no version" in out["reason"],
      "an alias pointing nowhere is promoted to, saying so")
ev = query(conn, "SELECT mlops.evaluate('m:3', 'SELECT * FROM lin WHERE i <= 300')")[0][0]
check(close(out["candidate"], ev["rmse"]) and out["rows"] == 300, "gate.source rows are evaluated as evaluate() does")
out = promote("m", 2, alias="staging", gate=json.dumps({"source": "SELECT * FROM lin WHERE i > 300", "metric": "mae"}))
ev2 = query(conn, "SELECT mlops.evaluate('m:2', 'SELECT * FROM lin WHERE i > 300'), "
                  "mlops.evaluate('m:3', 'SELECT * FROM lin WHERE i > 300')")[0]
check(out["promoted"] is True and close(out["candidate"], ev2[0]["mae"]) and close(out["incumbent"], ev2[1]["mae"]),
      "candidate and incumbent are both scored on gate.source")

# --- classification defaults -------------------------------------------------------------
train("bc", "xgboost", STUMP, table="breast_cancer", features="{mean_radius}")
train("bc", "logistic", table="breast_cancer", features="{mean_radius,mean_texture,worst_area}")
out = promote("bc")
check(out["metric"] == "roc_auc" and out["promoted"] is True and close(out["candidate"], stored_metric("bc", 2, "roc_auc")),
      f"binary: roc_auc by default, on the candidate's split ({out['metric']})")
train("w", "logistic", table="wine", features="{alcohol}")
train("w", "logistic", table="wine", features=None)
out = promote("w")
check(out["metric"] == "f1_macro" and out["promoted"] is True, "multiclass: f1_macro by default")
msg = None
try:
    promote("bc", 2, alias="staging", gate=json.dumps({"source": "SELECT * FROM breast_cancer", "metric": "log_loss"}))
    out = promote("bc", 1, alias="staging", gate=json.dumps({"source": "SELECT * FROM breast_cancer", "metric": "log_loss"}))
    check(out["promoted"] is False and out["candidate"] > out["incumbent"], "log_loss is lower-is-better")
except psycopg2.Error as e:
    check(False, f"log_loss gate: {e}")

# a version without a test split (test_fraction 0) needs gate.source
train("m", "linear", test_fraction=0)
before = (aliases("m"), len(history("m")))
msg = expect_error(conn, "SELECT mlops.promote('m', 4)", "22023")
check(msg is not None and "gate.source" in msg, "without a test split the error asks for gate.source")
check(promote("m", 4, gate=json.dumps({"source": "lin"}))["rows"] == 600, "with gate.source it is evaluated")

# --- bad input: clear errors, nothing changed --------------------------------------------
train("other", "linear")
state = (aliases("m"), len(history("m")))
for sql, state_code in [
    ("SELECT mlops.promote('m', 2, gate => '{\"threshold\": 1}')", "22023"),
    ("SELECT mlops.promote('m', 2, gate => '{\"metric\": \"roc_auc\"}')", "22023"),
    ("SELECT mlops.promote('m', 2, gate => '{\"metric\": \"f1_macro\"}')", "22023"),
    ("SELECT mlops.promote('m', 2, gate => '{\"min_delta\": \"big\"}')", "22023"),
    ("SELECT mlops.promote('m', 2, gate => '[1]')", "22023"),
    ("SELECT mlops.promote('m', 2, gate => '{\"source\": \"SELECT x1, x2 FROM lin\"}')", "42703"),
    ("SELECT mlops.promote('m', 2, gate => '{\"source\": \"SELECT x1, target FROM lin\"}')", "42703"),
    ("SELECT mlops.promote('m', 2, gate => '{\"source\": \"no_such_table\"}')", "42P01"),
    ("SELECT mlops.promote('m', 9)", "42704"),
    ("SELECT mlops.promote('nosuch', 1)", "42704"),
    ("SELECT mlops.promote('other', 4)", "42704"),
    ("SELECT mlops.promote('m', 2, 'my alias')", "42602"),
    ("SELECT mlops.promote('m', 2, 'it''s')", "42602"),
    ("SELECT mlops.promote('m', 2, '\"staging\"')", "42602"),
    ("SELECT mlops.promote('m', 2, NULL)", "22004"),
    ("SELECT mlops.promote(NULL, 2)", "22004"),
    ("SELECT mlops.promote('m', 4)", "55000"),
]:
    expect_error(conn, sql, state_code)
# a min_delta beyond float8 is named, not spelt out in its 400 digits by float8in
msg = expect_error(conn, "SELECT mlops.promote('m', 2, gate => '{\"min_delta\": 1e400}')", "22003")
check(msg is not None and "min_delta" in msg and len(msg) < 200, "an out-of-range min_delta is named (%r)" % msg)
check((aliases("m"), len(history("m"))) == state, "none of the refused calls changed an alias or the history")

# --- transactional across sessions, seen through predict() -------------------------------
train("t", "xgboost", STUMP)
train("t", "linear")
mover = connect(DB)
reader = connect(DB)
ROW = "SELECT mlops.predict('t', l) FROM lin l WHERE i = 10"
v1, v2 = query(reader, "SELECT mlops.predict_version('t', 1, ARRAY[x1, x2]), mlops.predict_version('t', 2, ARRAY[x1, x2]) "
                       "FROM lin WHERE i = 10")[0]
check(v1 != v2, "the two versions predict differently")
n = len(history("t"))
mover.autocommit = False
out = query(mover, "SELECT mlops.promote('t')")[0][0]
check(out["promoted"] is True, "promote in an open transaction")
check(query(mover, ROW)[0][0] == v2, "the promoting session scores with the new version at once")
check(query(reader, ROW)[0][0] == v1, "another session still scores with the old version")
check(len(history("t")) == n, "the uncommitted promotion is not in another session's history")
mover.commit()
check(query(reader, ROW)[0][0] == v2, "after COMMIT the other session scores with the new version")
check(len(history("t")) == n + 1, "the committed promotion is in the history")

query(mover, "SELECT mlops.promote('t', 1, force => true)")
check(query(reader, ROW)[0][0] == v2, "a second uncommitted promotion is invisible")
mover.rollback()
check(query(reader, ROW)[0][0] == v2 and query(mover, ROW)[0][0] == v2, "after ROLLBACK nothing changed for anyone")
check(len(history("t")) == n + 1, "the rolled-back promotion left no history row")
mover.commit()
mover.autocommit = True

# an alias moved by another transaction while promote evaluated: 40001, nothing recorded by promote
query(conn, "SELECT mlops.set_alias('t', 'staging', 1)")
blocker = connect(DB)
blocker.autocommit = False
query(blocker, "SELECT mlops.set_alias('t', 'staging', 2)")
n = len(history("t"))
result = {}


def promote_staging():
    c = connect(DB)
    try:
        query(c, "SELECT mlops.promote('t', 2, 'staging')")
        result["code"] = None
    except psycopg2.Error as e:
        result["code"] = e.pgcode
    c.close()


th = threading.Thread(target=promote_staging)
th.start()
for _ in range(300):  # promote evaluates (staging is at 1 for it), then waits for the blocker's row lock
    if query(conn, """SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'
                       AND query LIKE '%%mlops.promote(''t'', 2, ''staging'')%%'""")[0][0]:
        break
    time.sleep(0.1)
blocker.commit()
th.join()
check(result.get("code") == "40001", f"promote raises 40001 when the alias moved meanwhile (got {result.get('code')})")
check(aliases("t").get("staging") == 2 and len(history("t")) == n + 1,
      "only the other transaction's move is recorded")

# --- privileges ---------------------------------------------------------------------------
train("p", "xgboost", STUMP)
train("p", "linear")
query(conn, "DROP ROLE IF EXISTS pr_scorer, pr_trainer, pr_admin")  # roles outlive a database
for role, parent in [("pr_scorer", "mlops_scorer"), ("pr_trainer", "mlops_trainer"), ("pr_admin", "mlops_admin")]:
    query(conn, f"CREATE ROLE {role} IN ROLE {parent}")
    query(conn, f"GRANT SELECT ON lin TO {role}")
query(conn, "SET ROLE pr_scorer")
expect_error(conn, "SELECT mlops.promote('p', 2, 'staging')", "42501")
query(conn, "RESET ROLE")
query(conn, "SET ROLE pr_trainer")
msg = expect_error(conn, "SELECT mlops.promote('p', 2)", "42501")
check(msg is not None and "production" in msg, "a trainer cannot promote to production")
check(query(conn, "SELECT mlops.promote('p', 2, 'staging')->>'promoted'")[0][0] == "true",
      "a trainer promotes to staging")
query(conn, "RESET ROLE")
query(conn, "SET ROLE pr_admin")
check(query(conn, "SELECT mlops.promote('p', 2)->>'promoted'")[0][0] == "true", "an admin promotes to production")
query(conn, "RESET ROLE")
check(query(conn, "SELECT by FROM mlops.deployments WHERE model = 'p' ORDER BY id DESC LIMIT 1")[0][0] == "pr_admin",
      "the history records who promoted")
query(conn, "REVOKE SELECT ON lin FROM pr_admin")
query(conn, "SET ROLE pr_admin")
expect_error(conn, "SELECT mlops.promote('p', 1, force => true)", "42501")
query(conn, "RESET ROLE")
check(aliases("p") == {"production": 2, "staging": 2}, "the gate reads the source with the caller's privileges")
finish()
