#!/usr/bin/python3
"""What mlops stores and shows does not depend on the session's output
settings: the same action under the defaults and under odd DateStyle,
IntervalStyle, TimeZone, extra_float_digits, bytea_output and client_encoding
stores the same numbers and text (run metrics, prediction_log, the promotion
gate's outcome, monitor runs, audit_log rows), and a log written under one
setting verifies under another."""
import re

from mlops_test import check, connect, finish, fresh_database, query

DB = "test_settings"
conn = fresh_database(DB)
ODD = {
    "rounding": ["SET extra_float_digits = -15", "SET DateStyle = 'SQL, DMY'", "SET IntervalStyle = sql_standard",
                 "SET TimeZone = 'America/St_Johns'", "SET bytea_output = escape"],
    "german": ["SET extra_float_digits = 0", "SET DateStyle = 'German'", "SET IntervalStyle = iso_8601",
               "SET TimeZone = '+14'", "SET bytea_output = escape", "SET standard_conforming_strings = off",
               "SET client_encoding = 'LATIN1'"],
    "verbose": ["SET extra_float_digits = 3", "SET DateStyle = 'Postgres, DMY'",
                "SET IntervalStyle = postgres_verbose", "SET TimeZone = 'Pacific/Chatham'",
                "SET quote_all_identifiers = on"],
}


def session(name=None):
    """A new connection, under the odd settings `name` (None: the defaults)."""
    c = connect(DB)
    for s in ODD.get(name, []):
        query(c, s)
    return c


default = session()
odd = {name: session(name) for name in ODD}
FEATURES = "ARRAY[0.1::float8 + 0.2, 1/3.0::float8, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 2/3.0::float8]"

# --- run metrics (mlops.runs and the experiment report read them) ---------
run = query(default, "SELECT mlops.start_run('metrics')")[0][0]
query(default, "SELECT mlops.log_metric(%s, 'third', 1/3.0::float8)", (run,))
query(default, "SELECT mlops.log_metric(%s, 'roc_auc', 0.99362843729)", (run,))
query(default, "SELECT mlops.log_metric(%s, 'nan', 'NaN')", (run,))
query(default, "SELECT mlops.end_run(%s)", (run,))
want = query(default, "SELECT metrics::text FROM mlops.runs WHERE run_id = %s", (run,))[0][0]
check('"third": 0.3333333333333333' in want, f"runs shows a metric exactly under the defaults ({want})")
for name, c in odd.items():
    got = query(c, "SELECT metrics::text FROM mlops.runs WHERE run_id = %s", (run,))[0][0]
    check(got == want, f"runs shows the same metrics under {name} settings ({got})")


def page(c, sql):
    """A report page without its times (shown in the session's time zone, as they should)."""
    return re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[^<]*", "", query(c, sql)[0][0])


want = page(default, "SELECT mlops.report_experiment('metrics', 'roc_auc')")
check("0.993628" in want, "the experiment report shows the best run's roc_auc")
for name, c in odd.items():
    check(page(c, "SELECT mlops.report_experiment('metrics', 'roc_auc')") == want,
          f"the experiment report is the same page under {name} settings")

# --- prediction_log --------------------------------------------------------
query(default, "CREATE TABLE rows_in (k text, age float8, sex float8, bmi float8, bp float8, s1 float8, s2 float8, "
               "s3 float8, s4 float8, s5 float8, s6 float8, seen timestamptz, wait interval)")
query(default, "SELECT * FROM mlops.train('d', 'diabetes', 'target', 'linear')")


def logged(c, key):
    """Scores the same features (array and row) with predict_logged under c's settings; returns what the log holds."""
    query(c, f"SELECT mlops.predict_logged('d', %s, {FEATURES})", (key + "-array",))
    query(c, f"SELECT mlops.predict_logged('d', %s, r) FROM (SELECT 'x' AS k, v[1] AS age, v[2] AS sex, v[3] AS bmi, "
             "v[4] AS bp, v[5] AS s1, v[6] AS s2, v[7] AS s3, v[8] AS s4, v[9] AS s5, v[10] AS s6, "
             "'2026-01-02 03:04:05.25+00'::timestamptz AS seen, '1 day 02:03:04.5'::interval AS wait "
             f"FROM (SELECT {FEATURES} AS v) f) r", (key + "-row",))
    return query(default, "SELECT features::text, prediction FROM mlops.prediction_log "
                          "WHERE key LIKE %s ORDER BY key", (key + "-%",))


want = logged(default, "default")
check("0.30000000000000004" in want[0][0], f"predict_logged logs the features exactly under the defaults ({want[0][0]})")
for name, c in odd.items():
    check(logged(c, name) == want, f"predict_logged logs the same features under {name} settings")

# --- the promotion gate's outcome and the deployments it records -----------
query(default, "SELECT * FROM mlops.train('d', 'diabetes', 'target', 'linear', features => '{age,sex,bmi}')")
GATE = "SELECT mlops.promote('d', 2, gate => '{\"min_delta\": 1000.123456789012}')::text"
want = query(default, GATE)[0][0]
check(re.search(r'"candidate": \d+\.\d{10,}', want) is not None, f"the gate's outcome is exact under the defaults ({want})")
for name, c in odd.items():
    check(query(c, GATE)[0][0] == want, f"the gate's outcome is the same under {name} settings")
reasons = query(default, "SELECT DISTINCT reason FROM mlops.deployments WHERE model = 'd' AND NOT (gate->>'promoted')::boolean")
check(len(reasons) == 1, f"deployments records the same reason under every setting ({reasons})")

# --- the statement that publishes a version to another server ------------------
query(default, "SELECT * FROM mlops.train('thirds', 'SELECT g::float8 AS x, CASE WHEN g % 2 = 0 THEN 1/3.0::float8 "
               "ELSE 2/3.0::float8 END AS y FROM generate_series(1, 40) g', 'y', 'logistic', 'classification')")
PUBLISH = ("SELECT mlops._install_statement(model_id, version) FROM mlops.model_version "
           "WHERE model_id = (SELECT id FROM mlops.model WHERE name = 'thirds')")
want = query(default, PUBLISH)[0][0]
check("0.3333333333333333" in want, "the statement publishing a version holds its classes exactly")
for name, c in odd.items():
    check(query(c, PUBLISH)[0][0] == want, f"the statement publishing a version is the same under {name} settings")

# --- monitor runs ----------------------------------------------------------
query(default, "SELECT mlops.create_monitor('mon', 'd:1', 'SELECT * FROM diabetes WHERE age > 0', 'psi', 0.123456789012345)")


def monitored(c):
    """Runs the monitor under c's settings; returns its recorded results and its alert's message."""
    out = query(c, "SELECT mlops.run_monitor('mon')::text")[0][0]
    run_id = int(re.search(r'"run_id": (\d+)', out).group(1))
    rows = query(default, "SELECT feature, value, threshold, drifted FROM mlops.drift_result "
                          "WHERE run_id = %s ORDER BY feature", (run_id,))
    alert = query(default, "SELECT message FROM mlops.alert WHERE run_id = %s", (run_id,))
    return re.sub(r'"(run_id|alert_id)": \d+', "", out), rows, alert


want = monitored(default)
check(len(want[1]) == 10, "a monitor run records one result per feature")
for name, c in odd.items():
    check(monitored(c) == want, f"a monitor run records the same values, threshold and message under {name} settings")
query(default, "SELECT * FROM mlops.train('c', 'breast_cancer', 'target', hyperparams => '{\"n_estimators\": 5}')")
for model in ["d:1", "c"]:
    want = page(default, f"SELECT mlops.report('{model}')")
    for name, c in odd.items():
        check(page(c, f"SELECT mlops.report('{model}')") == want,
              f"the report of {model} is the same page under {name} settings")

# --- under session_replication_role = replica ------------------------------
# (a superuser's setting, in which foreign-key actions do not fire): deleting a
# version or dropping a monitor still takes what belongs to it
query(default, "SELECT * FROM mlops.train('gone', 'diabetes', 'target', 'linear', features => '{age,sex}')")
query(default, "SELECT * FROM mlops.train('gone', 'diabetes', 'target', 'linear', features => '{age,bmi}')")
query(default, "SELECT mlops.predict_logged('gone:2', 'k', ARRAY[0.1, 0.2])")
query(default, "SELECT mlops.create_monitor('gone_mon', 'gone:2', 'diabetes', 'psi', 0)")
query(default, "SELECT mlops.run_monitor('gone_mon')")
replica = session()
query(replica, "SET session_replication_role = replica")
query(replica, "SELECT mlops.drop_monitor('gone_mon')")
query(replica, "SELECT mlops.delete_version('gone', 2)")
left = query(default, """SELECT (SELECT count(*) FROM mlops.prediction_log l JOIN mlops.model m ON m.id = l.model_id
                                  WHERE m.name = 'gone'),
                                (SELECT count(*) FROM mlops.monitor_run r WHERE r.model = 'gone'),
                                (SELECT count(*) FROM mlops.drift_result d
                                  WHERE NOT EXISTS (SELECT FROM mlops.monitor_run r WHERE r.id = d.run_id)),
                                (SELECT count(*) FROM mlops.alert a WHERE a.run_id IS NOT NULL
                                    AND NOT EXISTS (SELECT FROM mlops.monitor_run r WHERE r.id = a.run_id))""")[0]
check(left == (0, 0, 0, 0), f"delete_version and drop_monitor leave no logged prediction, monitor run, result or alert "
                            f"behind under session_replication_role = replica ({left})")

# --- audit_log rows ----------------------------------------------------------
query(default, "CREATE TYPE pair AS (f float8, at timestamptz)")
query(default, "CREATE TABLE audited (id int PRIMARY KEY, f float8, r real, fa float8[], iv interval, b bytea, "
               "ts timestamptz, t timestamp, d date, tr tstzrange, dr daterange, p point, c pair, ta timestamptz[], "
               "nr numrange, ia interval[])")
query(default, "SELECT mlops.enable_audit('audited')")
ROW = ("0.1::float8 + 0.2, 0.1::real, ARRAY[1/3.0::float8, 'NaN'], '1 year 2 mons -3 days 04:05:06.5', decode('00ff41', 'hex'), "
       "'2026-01-02 03:04:05.25+00', '2026-01-02 03:04:05.25', '2026-01-02', "
       "'[2026-01-02 03:04:05+00, 2026-02-03 00:00+00)', '[2026-01-02, 2026-02-03)', point(0.1::float8 + 0.2, 1), "
       "ROW(1/3.0::float8, '2026-01-02 03:04:05+00')::pair, ARRAY['2026-01-02 03:04:05+00'::timestamptz], "
       "'[1.5, 2)', ARRAY['1 day'::interval]")


def audited(c, id):
    """Inserts the same row (as id) under c's settings, then updates its float to one float8out rounds alike at
    extra_float_digits <= 0; returns the log rows."""
    query(c, f"INSERT INTO audited VALUES ({id}, {ROW})")
    query(c, "UPDATE audited SET f = 0.3 WHERE id = %s", (id,))
    return query(default, "SELECT op, old_row - 'id', new_row - 'id', changed_columns FROM mlops.audit_log "
                          "WHERE table_name = 'public.audited' AND coalesce(old_row, new_row)->'id' = %s::text::jsonb "
                          "ORDER BY id", (id,))


want = audited(default, 0)
check(want[0][2]["f"] == 0.30000000000000004 and want[0][2]["ts"] == "2026-01-02T03:04:05.25+00:00",
      f"the log holds a float exactly and a timestamptz in UTC under the defaults ({want[0][2]})")
check(want[1][1]["f"] != want[1][2]["f"], "an update of 0.30000000000000004 to 0.3 logs both values apart")
for i, (name, c) in enumerate(odd.items(), 1):
    got = audited(c, i)
    check(got == want, f"the log holds the same rows under {name} settings"
          + ("" if got == want else f" ({got[0][2] if got else 'none found'})"))
# reg* values name objects as search_path and quote_all_identifiers have it, and an extension's type (cube) may
# print floats through float8out: a table with only those columns is logged alike too
query(default, "CREATE EXTENSION cube")
query(default, "CREATE SCHEMA s2")
query(default, "CREATE TABLE s2.tgt (id int)")
query(default, "CREATE TABLE named (id int PRIMARY KEY, rc regclass, rt regtype[], cu cube)")
query(default, "SELECT mlops.enable_audit('named')")
NAMED = "'s2.tgt'::regclass, ARRAY['s2.tgt'::regtype], cube(ARRAY[0.1::float8 + 0.2, 1/3.0::float8])"


def named(c, id):
    """Inserts the same reg* and cube values (as id) under c's settings with s2 on its search_path; the log row."""
    query(c, "SET search_path = s2, public")
    query(c, f"INSERT INTO named VALUES ({id}, {NAMED})")
    query(c, "RESET search_path")
    return query(default, "SELECT new_row - 'id' FROM mlops.audit_log WHERE table_name = 'public.named' "
                          "AND new_row->'id' = %s::text::jsonb", (id,))


want = named(default, 0)
check(want == [({"rc": "s2.tgt", "rt": ["s2.tgt"], "cu": "(0.30000000000000004, 0.3333333333333333)"},)],
      f"the log holds reg* names schema-qualified and an extension's floats exact under the defaults ({want})")
for i, (name, c) in enumerate(odd.items(), 1):
    got = named(c, i)
    check(got == want, f"the log holds the same reg* names and cube under {name} settings ({got})")

query(odd["verbose"], "CREATE TABLE dropped (id int)")
query(odd["verbose"], "SELECT mlops.enable_audit('dropped')")
query(odd["verbose"], "DROP TABLE dropped")
names = query(default, "SELECT op, table_name FROM mlops.audit_log WHERE table_name LIKE '%dropped%' ORDER BY id")
check(names == [("ENABLE", "public.dropped"), ("DROP", "public.dropped")],
      f"the log names a table alike whatever quote_all_identifiers says ({names})")
for name, c in [("default", default)] + list(odd.items()):
    check(query(c, "SELECT ok FROM mlops.verify_audit()")[0][0], f"verify_audit accepts the log under {name} settings")

finish()
