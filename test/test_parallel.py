#!/usr/bin/python3
"""Parallel query: scoring in parallel workers gives the serial plan's results
bit for bit, for every kind of model; the workers see the leader's transaction
(an alias moved, a version registered, deleted or rolled back in it) and its
settings; an error raised in a worker keeps its SQLSTATE; what cannot run in
parallel mode is not marked as if it could; and JIT-compiled expressions
(with mlops's bitcode inlined where LLVM may) score the same bits."""

import numpy as np
import psycopg2
import xgboost as xgb

from mlops_test import check, close, expect_error, finish, fresh_database, query

conn = fresh_database("test_parallel", datasets=False)
N = 200000

# 200k rows, deterministic: numeric features with NULLs, a categorical one, a
# regression target and a binary and a three-class label
query(conn, """
CREATE TABLE pt AS
SELECT id, sin(id * 0.7) * 3 AS a, cos(id * 1.3) * 2 AS b, (id::bigint * 7919 % 1000) / 100.0::float8 AS c,
       CASE WHEN id % 17 = 0 THEN NULL ELSE (id::bigint * 104729 % 977) / 97.0::float8 END AS d,
       (ARRAY['rome', 'oslo', 'lima', 'kiev'])[id % 4 + 1] AS city
  FROM generate_series(1, {N}) id""".format(N=N))
query(conn, """
ALTER TABLE pt ADD COLUMN y float8, ADD COLUMN label int, ADD COLUMN grade int;
UPDATE pt SET y = 2 * a - b + 0.5 * c + coalesce(d, 0) * 0.1 + (city = 'oslo')::int + sin(id * 13.1) * 0.3;
UPDATE pt SET label = (y > 1)::int, grade = CASE WHEN y < 0 THEN 0 WHEN y < 3 THEN 1 ELSE 2 END;
ANALYZE pt""")
TRAIN = "SELECT a, b, c, d, city, {t} FROM pt WHERE id <= 3000"


def train(model, target, algorithm, hyperparams="{}"):
    return query(conn, "SELECT version FROM mlops.train(%s, %s, %s, %s, hyperparams => %s)",
                 (model, TRAIN.format(t=target), target, algorithm, hyperparams))[0][0]


train("lin", "y", "linear")
train("logit", "label", "logistic")
train("multi", "grade", "logistic")
train("xgb", "y", "xgboost", '{"nthread": 1, "n_estimators": 30, "max_depth": 4}')
train("xgbc", "label", "xgboost", '{"nthread": 1, "n_estimators": 20, "max_depth": 4}')
train("xgbm", "grade", "xgboost", '{"nthread": 1, "n_estimators": 10, "max_depth": 3}')
# dart trees are scored by libxgboost itself, not by the compiled evaluator
rng = np.random.default_rng(5)
X = rng.normal(size=(2000, 4)).astype(np.float32)
dart = xgb.train({"booster": "dart", "rate_drop": 0.1, "nthread": 1, "max_depth": 3, "seed": 1},
                 xgb.DMatrix(X, label=X[:, 0] - X[:, 2]), 10)
query(conn, "SELECT mlops.import_model('dart', %s, 'xgboost-ubj', '{a,b,c,d}', 'regression')",
      (psycopg2.Binary(bytes(dart.save_raw("ubj"))),))
KINDS = ["lin", "logit", "multi", "xgb", "xgbc", "xgbm", "dart"]
NUMERIC_ONLY = {"dart"}


def features(model):
    return "ARRAY[a, b, c, d]" if model in NUMERIC_ONLY else "pt"


def serial(c=conn):
    query(c, "SET force_parallel_mode = off; SET max_parallel_workers_per_gather = 0")


def parallel(c=conn, leader=False):
    """Parallel plans whatever the cost; the leader only gathers unless `leader`,
    so that every row goes through a worker. force_parallel_mode is off: its
    regress setting would hide the CONTEXT line that tells a worker's error."""
    query(c, "SET force_parallel_mode = off; SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; "
             "SET min_parallel_table_scan_size = 0; SET max_parallel_workers_per_gather = 2; "
             "SET parallel_leader_participation = %s", (leader,))


def plan(sql, params=None, c=conn):
    """The executed plan (EXPLAIN ANALYZE VERBOSE, as JSON)."""
    return query(c, "EXPLAIN (ANALYZE, VERBOSE, FORMAT JSON) " + sql, params)[0][0][0]["Plan"]


def nodes(p):
    yield p
    for child in p.get("Plans", []):
        yield from nodes(child)


def in_workers(sql, params=None, c=conn):
    """True when the statement ran with parallel workers launched and its
    mlops calls evaluated in the Parallel Seq Scan (below the Gather)."""
    p = plan(sql, params, c)
    launched = sum(n.get("Workers Launched", 0) for n in nodes(p))
    scans = [n for n in nodes(p) if n["Node Type"] == "Seq Scan" and n.get("Parallel Aware")]
    return launched > 0 and any("mlops." in o for n in scans for o in n.get("Output", []))


def per_row(expr, where="true", c=conn):
    return query(c, f"SELECT id, {expr} FROM pt WHERE {where} ORDER BY id")


# --- every kind of model, both forms: identical to the serial plan, bit for bit ----------------
for m in KINDS:
    f = features(m)
    exprs = [f"mlops.predict('{m}', {f})"]
    if m in ("logit", "multi", "xgbc", "xgbm"):
        exprs.append(f"mlops.predict_proba('{m}', {f})")
    exprs.append(f"mlops.explain('{m}', {f})")
    if m not in NUMERIC_ONLY:
        exprs.append(f"mlops.predict('{m}', ARRAY[a, b, c, d, CASE city WHEN 'kiev' THEN 0 WHEN 'lima' THEN 1 "
                     f"WHEN 'oslo' THEN 2 ELSE 3 END])")
    for e in exprs:
        where = "true" if "explain" not in e else "id % 10 = 0"
        serial()
        s = per_row(e, where)
        s_sum = query(conn, f"SELECT sum(mlops.predict('{m}', {f})) FROM pt")[0][0]
        parallel()
        ok = in_workers(f"SELECT id, {e} FROM pt WHERE {where}")
        p = per_row(e, where)
        check(ok and len(p) == len(s) and p == s, f"{e[:60]}: scored in workers, identical to the serial plan per row")
    p_sum = query(conn, f"SELECT sum(mlops.predict('{m}', {f})) FROM pt")[0][0]
    agg = plan(f"SELECT sum(mlops.predict('{m}', {f})) FROM pt")
    check(any(n.get("Partial Mode") == "Partial" for n in nodes(agg)) and close(p_sum, s_sum, rel=1e-12),
          f"sum(predict('{m}', ...)) as a Partial Aggregate in workers: the serial sum (within summation order)")

# rows of an anonymous record type (a subquery's), whose type the workers learn from the leader
serial()
sub = "(SELECT id, a, b, c, d, city FROM pt WHERE id % 3 = 0) s"
s = query(conn, f"SELECT id, mlops.predict('lin', s), mlops.predict_proba('xgbm', s) FROM {sub} ORDER BY id")
parallel()
ok = in_workers(f"SELECT mlops.predict('lin', s) FROM {sub}")
check(ok and query(conn, f"SELECT id, mlops.predict('lin', s), mlops.predict_proba('xgbm', s) FROM {sub} ORDER BY id") == s,
      "rows of a subquery (an anonymous record type) score in workers as in the serial plan")
ok = in_workers("SELECT mlops.export_model('xgb') FROM pt WHERE id % 1000 = 0")
check(ok and query(conn, "SELECT DISTINCT mlops.export_model('xgb') = e FROM pt, "
                         "(SELECT mlops.export_model('xgb') e) x WHERE id % 1000 = 0") == [(True,)],
      "export_model in workers gives the leader's document")
serial()
query(conn, "RESET ALL")

# --- the workers see the leader's transaction -----------------------------------------------------
query(conn, "SELECT * FROM mlops.train('xgb', %s, 'y', hyperparams => %s)",
      (TRAIN.format(t="y"), '{"nthread": 1, "n_estimators": 5, "max_depth": 2}'))
v1 = per_row("mlops.predict('xgb:1', pt)", "id % 7 = 0")
v2 = per_row("mlops.predict('xgb:2', pt)", "id % 7 = 0")
check(v1 != v2, "versions 1 and 2 of xgb score differently")
for leader in (False, True):
    parallel(leader=leader)
    query(conn, "BEGIN")
    before = per_row("mlops.predict('xgb', pt)", "id % 7 = 0")
    query(conn, "SELECT mlops.set_alias('xgb', 'production', 2)")
    ok = in_workers("SELECT mlops.predict('xgb', pt) FROM pt WHERE id % 7 = 0")
    after = per_row("mlops.predict('xgb', pt)", "id % 7 = 0")
    query(conn, "ROLLBACK")
    again = per_row("mlops.predict('xgb', pt)", "id % 7 = 0")
    check(ok and before == v1 and after == v2 and again == v1,
          f"an alias moved earlier in the transaction is what the workers score with, and not once rolled back "
          f"(leader participating: {leader})")

    # a setting of the session (and SET LOCAL) reaches the workers
    query(conn, "SELECT mlops.set_alias('xgb', 'staging', 2)")
    query(conn, "SET mlops.default_alias = 'staging'")
    staged = per_row("mlops.predict('xgb', pt)", "id % 7 = 0")
    query(conn, "RESET mlops.default_alias")
    query(conn, "BEGIN; SET LOCAL mlops.default_alias = 'staging'")
    staged_local = per_row("mlops.predict('xgb', pt)", "id % 7 = 0")
    query(conn, "COMMIT")
    check(staged == v2 and staged_local == v2, f"mlops.default_alias set in the session reaches the workers "
                                               f"(leader participating: {leader})")

    # a version registered in the transaction, then rolled back: its number is given again
    query(conn, "BEGIN")
    v3 = query(conn, "SELECT version FROM mlops.train('xgb', %s, 'y', hyperparams => %s)",
               (TRAIN.format(t="y"), '{"nthread": 1, "n_estimators": 3, "max_depth": 1}'))[0][0]
    provisional = per_row("mlops.predict('xgb:%s', pt)" % v3, "id % 7 = 0")
    serial()
    provisional_serial = per_row("mlops.predict('xgb:%s', pt)" % v3, "id % 7 = 0")
    parallel(leader=leader)
    query(conn, "ROLLBACK")
    expect_error(conn, "SELECT mlops.predict('xgb:%s', pt) FROM pt" % v3, "42704")
    query(conn, "SELECT version FROM mlops.train('xgb', %s, 'y', hyperparams => %s)",
          (TRAIN.format(t="y"), '{"nthread": 1, "n_estimators": %d, "max_depth": 3}' % (8 + leader)))
    redone = per_row("mlops.predict('xgb:%s', pt)" % v3, "id % 7 = 0")
    serial()
    redone_serial = per_row("mlops.predict('xgb:%s', pt)" % v3, "id % 7 = 0")
    check(provisional == provisional_serial and redone == redone_serial and redone != provisional,
          f"a version registered in the transaction is scored by the workers; once rolled back, its number "
          f"means the next version (leader participating: {leader})")
    query(conn, "SELECT mlops.delete_alias('xgb', 'staging')")
    query(conn, "SELECT mlops.delete_version('xgb', %s)", (v3,))

# a version deleted in the transaction is gone for the workers too, with the serial SQLSTATE
parallel()
query(conn, "BEGIN")
query(conn, "SELECT mlops.delete_version('xgb', 2)")
try:
    query(conn, "SELECT sum(mlops.predict('xgb:2', pt)) FROM pt")
    check(False, "a version deleted in the transaction cannot be scored by the workers")
except psycopg2.Error as e:
    check(e.pgcode == "42704" and "parallel worker" in (e.diag.context or ""),
          f"a version deleted in the transaction: 42704 raised in a worker (got {e.pgcode}, {e.diag.context})")
query(conn, "ROLLBACK")

# --- errors raised in workers keep their SQLSTATE -------------------------------------------------
for sql, state in [
        ("SELECT sum(mlops.predict('lin', ARRAY[a, b])) FROM pt", "22023"),
        ("SELECT sum(mlops.predict('xgb', CASE WHEN id = 150000 THEN NULL ELSE ARRAY[a, b, c, d, 1] END)) FROM pt",
         "22004"),
        ("SELECT sum(mlops.predict('nope', ARRAY[a])) FROM pt", "42704"),
        ("SELECT sum((mlops.predict_proba('lin', pt))[1]) FROM pt", "42809")]:
    try:
        query(conn, sql)
        check(False, f"{sql[:70]!r} fails in a worker with {state} (it succeeded)")
    except psycopg2.Error as e:
        check(e.pgcode == state and "parallel worker" in (e.diag.context or ""),
              f"{sql[:70]!r} fails in a worker with {state} (got {e.pgcode}: {e.diag.context})")
    check(query(conn, "SELECT 1") == [(1,)], "the session is usable after the error")

# --- a mlops_scorer member scores in parallel, through the same SECURITY DEFINER reads -------------
query(conn, "DROP ROLE IF EXISTS parallel_test_scorer")
query(conn, "CREATE ROLE parallel_test_scorer; GRANT mlops_scorer TO parallel_test_scorer; "
            "GRANT SELECT ON pt TO parallel_test_scorer")
serial()
expected = per_row("mlops.predict('xgbc', pt)", "id % 3 = 0")
parallel()
query(conn, "SET ROLE parallel_test_scorer")
ok = in_workers("SELECT mlops.predict('xgbc', pt) FROM pt WHERE id % 3 = 0")
check(ok and per_row("mlops.predict('xgbc', pt)", "id % 3 = 0") == expected, "a mlops_scorer member scores in workers")
query(conn, "RESET ROLE")
query(conn, "DROP OWNED BY parallel_test_scorer; DROP ROLE parallel_test_scorer")

# --- what writes stays out of parallel plans -------------------------------------------------------
logged = plan("SELECT count(mlops.predict_logged('lin', id::text, pt)) FROM pt WHERE id <= 500")
check(not any(n.get("Workers Launched") or n.get("Parallel Aware") for n in nodes(logged)) and
      query(conn, "SELECT count(*) FROM mlops.prediction_log")[0][0] == 500,
      "predict_logged (it writes) runs in the leader alone, outside parallel mode")
query(conn, "RESET ALL")

# --- JIT: expressions compiled by LLVM, mlops's bitcode offered for inlining, score the same bits ----
serial()
exprs = ["mlops.predict('lin', pt)", "mlops.predict_proba('multi', pt)", "mlops.explain('xgbc', pt)",
         "mlops.predict_proba('xgbm', pt)", "mlops.predict('dart', ARRAY[a, b, c, d])"]
select = f"SELECT id, {', '.join(exprs)} FROM pt WHERE id % 4 = 0 ORDER BY id"
fit = "SELECT mlops.linear_fit(mlops.linear_stats(y, ARRAY[a, b, c, d])) FROM pt"
query(conn, "SET jit = off")
plain, plain_fit = query(conn, select), query(conn, fit)
query(conn, "SET jit = on; SET jit_above_cost = 0; SET jit_inline_above_cost = 0; SET jit_optimize_above_cost = 0")
jit = query(conn, "EXPLAIN (ANALYZE, FORMAT JSON) " + select)[0][0][0].get("JIT", {})
check(jit.get("Functions", 0) > 0 and jit.get("Options", {}).get("Inlining") is True and
      query(conn, select) == plain and query(conn, fit) == plain_fit,
      f"with every expression JIT-compiled and inlined, scoring and linear_stats give the same bits ({jit})")
query(conn, "RESET ALL")

# --- what runs a source query keeps its statement out of parallel mode ------------------------------
# A source is any query: here a view calling a function with an EXCEPTION block (a subtransaction)
# and taking sequence values, both refused in parallel mode, in the leader too. Beside a scan that
# the planner makes parallel (the table is large enough by default), they must still read it.
query(conn, """CREATE FUNCTION ratio(a float8, b float8) RETURNS float8 LANGUAGE plpgsql AS $$
               BEGIN RETURN a / b; EXCEPTION WHEN division_by_zero THEN RETURN NULL; END $$""")
query(conn, "CREATE SEQUENCE reads")
query(conn, "CREATE VIEW holdout AS SELECT a, b, c, d, city, y, ratio(a, b) AS r, nextval('reads') AS n "
            "FROM pt WHERE id > 199000")
for call in ["mlops.evaluate('lin', 'holdout')", "mlops.profile('holdout', '{a}')",
             "(SELECT count(*) FROM mlops.drift('lin', 'holdout'))",
             "(SELECT count(*) FROM mlops.compare('holdout', 'holdout', '{a, r}'))"]:
    try:
        got = query(conn, f"SELECT n, {call} IS NOT NULL FROM (SELECT count(*) n FROM pt) x")
    except psycopg2.Error as e:
        got = e.pgerror
    check(got == [(N, True)], f"{call} beside a parallel scan reads a source that parallel mode refuses (got {got})")

# --- markings: a PL/pgSQL EXCEPTION block opens a subtransaction, which parallel mode refuses,
# in the leader too (where a PARALLEL RESTRICTED function runs) ------------------------------------
with_blocks = [r[0] for r in query(conn, r"""
    SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
     WHERE l.lanname = 'plpgsql' AND p.pronamespace = 'mlops'::regnamespace AND p.proparallel <> 'u'
       AND p.prosrc ~* '(^|\n)\s*EXCEPTION\s*(\n|WHEN)'""")]
check(with_blocks == [], f"no function with an EXCEPTION block is marked PARALLEL SAFE or RESTRICTED ({with_blocks})")
query(conn, "SET force_parallel_mode = on")
try:
    outside_cron = query(conn, "SELECT job_id FROM mlops._current_cron_run()")
except psycopg2.Error as e:
    outside_cron = e.pgerror
check(outside_cron == [(None,)], f"_current_cron_run() runs under force_parallel_mode (got {outside_cron})")
query(conn, "RESET force_parallel_mode")

finish()
