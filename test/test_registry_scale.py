#!/usr/bin/python3
"""A registry as it is after long use: one model with hundreds of versions
beside hundreds of models with one, and hundreds of runs with metrics. The
lookups of one version that mlops makes per call (record_outcome's class
check, the version evaluate and the report score, the reference profile a
report draws) must probe that version, not read every version of the model,
and an experiment report must read the metrics of its own runs, not of every
run: checked on the plans auto_explain reports for them (with ANALYZE, so
rows actually read), in generic plans too (a PL/pgSQL function's statements
are planned generically after five calls). And loading a wide model matches
its spec to its features in one pass, not a read of the spec per feature."""
import collections
import json

from mlops_test import check, finish, fresh_database, query

VERSIONS = 400

conn = fresh_database("test_registry_scale", datasets=False)
query(conn, """CREATE TABLE feat AS
    SELECT i AS id, sin(i)::float8 AS x1, cos(i * 0.7)::float8 AS x2,
           (1 + 2 * sin(i) - 3 * cos(i * 0.7))::float8 AS y
      FROM generate_series(1, 300) i""")
query(conn, "SELECT mlops.train('many', 'feat', 'y', 'linear', features => '{x1,x2}')")
# the other versions and models registered as train() registers them, with version 1's artifact and profile
register = """SELECT count(mlops._register_version({name}, v.algorithm, v.task, v.features, v.target, v.classes,
                     v.hyperparams, v.metrics, v.spec, v.profile, NULL, v.source, v.train_rows, v.test_rows,
                     v.skipped_rows, v.data_fingerprint, v.artifact, v.artifact_format))
                FROM mlops.model_version v, generate_series(1, {n}) g WHERE v.model_id = 1 AND v.version = 1"""
query(conn, register.format(name="'many'", n=VERSIONS - 1))
query(conn, register.format(name="'one_' || g", n=VERSIONS))
query(conn, "ANALYZE")
# the latest version in production (a scan of the model's versions in order reaches it last)
query(conn, f"SELECT mlops.set_alias('many', 'production', {VERSIONS})")
query(conn, f"SELECT mlops.predict_logged('many:' || (g * 37 % {VERSIONS} + 1), 'k' || g, ARRAY[x1, x2]) "
            "FROM feat, generate_series(1, 10) g WHERE id = g")
query(conn, f"""WITH runs AS MATERIALIZED (SELECT mlops.start_run('busy') AS id FROM generate_series(1, {VERSIONS}))
               SELECT count(mlops.log_metric(id, 'loss', 1.0 / s, s)) FROM runs, generate_series(1, 5) s""")
query(conn, "SELECT mlops.log_metric(mlops.start_run('small'), 'loss', 0.5)")
query(conn, "ANALYZE")
# a linear model of 1000 features
WIDE = 1000
query(conn, f"""SELECT mlops._register_version('wide', 'linear', 'regression', array_agg('f' || i ORDER BY i), 'y', NULL,
                   '{{}}', '{{}}', jsonb_build_object('inputs', jsonb_agg(jsonb_build_object('name', 'f' || i, 'kind', 'numeric',
                                                                                           'impute', i) ORDER BY i)),
                   NULL, NULL, NULL, NULL, NULL, NULL, NULL,
                   convert_to(jsonb_build_object('format', 'mlops-linear', 'algorithm', 'linear', 'task', 'regression',
                                                 'terms', jsonb_agg('f' || i ORDER BY i), 'intercept', jsonb_build_array(1),
                                                 'coef', jsonb_build_array(jsonb_agg(1 ORDER BY i)))::text, 'UTF8'),
                   'linear-json')
                FROM generate_series(1, {WIDE}) i""")
query(conn, "SELECT mlops.create_monitor('watch', 'many', 'feat')")
query(conn, "SELECT mlops.run_monitor('watch')")

notices = collections.deque()
conn.notices = notices
query(conn, "LOAD 'auto_explain'")
for setting, value in (("log_min_duration", "0"), ("log_nested_statements", "on"), ("log_analyze", "on"),
                       ("log_timing", "off"), ("log_format", "json"), ("log_level", "notice")):
    query(conn, f"SET auto_explain.{setting} = '{value}'")
for g in range(1, 11):
    query(conn, f"SELECT mlops.record_outcome('many', 'k{g}', {g})")
query(conn, f"SELECT mlops.evaluate('many:{VERSIONS}', 'feat')")
query(conn, "SELECT mlops.report('many')")
query(conn, "SELECT mlops.report_experiment('small')")
# NULL inputs are imputed with the spec's value: f_i with i, so the prediction is 1 + sum(i)
wide_prediction = query(conn, f"SELECT mlops.predict('wide', array_fill(NULL::float8, ARRAY[{WIDE}]))")[0][0]
query(conn, "RESET auto_explain.log_min_duration")


def nodes(plan):
    """Every node of a JSON plan."""
    yield plan
    for child in plan.get("Plans", []):
        yield from nodes(child)


def versions_read(plan):
    """The most rows of mlops.model_version any scan of the plan read per loop (kept or filtered out)."""
    return max([(n.get("Actual Rows", 0) + n.get("Rows Removed by Filter", 0)) / max(n.get("Actual Loops", 1), 1)
                for n in nodes(plan) if n.get("Relation Name") == "model_version"] or [0])


def plans_of(fragment):
    """The plans auto_explain reported for statements whose text holds fragment."""
    found = []
    for notice in notices:
        if "plan:" not in notice:
            continue
        doc = json.loads(notice.split("plan:", 1)[1])
        if fragment in doc["Query Text"]:
            found.append(doc["Plan"])
    return found


for what, fragment, least in (
        ("record_outcome's class check", "string_agg(DISTINCT l.version", 10),
        ("the version evaluate scores", "r.version, r.model_id", 1),
        ("the reference profile a report draws", "p.profile", 1)):
    plans = plans_of(fragment)
    check(len(plans) >= least, f"{what}: auto_explain reported its plan {least} times at least ({len(plans)})")
    worst = max([versions_read(p) for p in plans] or [0])
    check(worst <= 1, f"{what}: reads one version of a model of {VERSIONS}, not all of them (read {worst:g} per call)")

# the params, metrics and tags of the runs an experiment report shows: the runs whose metrics are read
plans = plans_of("WITH r AS MATERIALIZED")
check(len(plans) == 3, f"report_experiment: auto_explain reported the plans of its param, metric and tag rows ({len(plans)})")
read = max([n.get("Actual Loops", 0) for p in plans for n in nodes(p) if n.get("Relation Name") == "run_metric"] or [0])
check(read <= 1, f"report_experiment of a one-run experiment reads the metrics of that run, not of every run (of {read})")

# loading the wide model: its spec's input documents are read once, not once per feature
check(wide_prediction == 1 + WIDE * (WIDE + 1) / 2, f"the wide model imputes every feature from its spec ({wide_prediction})")
plans = plans_of("spec->'inputs'")
check(len(plans) >= 1, f"auto_explain reported the plans of _model_artifact, the wide model's among them ({len(plans)})")
loops = max([n.get("Actual Loops", 0) for p in plans for n in nodes(p)
             if n.get("Function Name") == "jsonb_array_elements"] or [0])
check(loops == 1, f"loading a model of {WIDE} features reads its spec's inputs once, not once per feature ({loops})")

finish()
