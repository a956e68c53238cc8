#!/usr/bin/python3
"""Backup and restore with pg_dump: a database with trained models, a logged
run, a monitor's results, logged predictions and an outcome is dumped
(pg_dump -Fc) and restored into an empty database (pg_restore). The restored
registry, runs and monitoring tables hold the same rows, the restored models
predict the same on every row, ids and version numbers continue where they
stopped, and the restored database's own audit chain verifies. A parallel
restore (pg_restore -j) by the README's recipe restores the same rows. Audited
user tables, one of them partitioned, restore without an error with
--exit-on-error, --single-transaction and --clean, audited as before."""
import os
import subprocess
import tempfile

from mlops_test import BINDIR, check, connect, finish, fresh_database, query

DB = "test_dump"
RESTORED = "test_dump_restored"

conn = fresh_database(DB)
query(conn, "SELECT mlops.train('dump_lin', 'diabetes', 'target', 'linear')")
query(conn, "SELECT mlops.train('dump_xgb', 'breast_cancer', 'target', 'xgboost', hyperparams => '{\"n_estimators\": 20}')")
query(conn, "SELECT mlops.train('dump_xgb', 'breast_cancer', 'target', 'xgboost', hyperparams => '{\"n_estimators\": 10}')")
query(conn, "SELECT mlops.promote('dump_xgb', 2, force => true)")
run = query(conn, "SELECT mlops.start_run('dump_exp', 'by hand')")[0][0]
query(conn, "SELECT mlops.log_params(%s, '{\"lr\": \"0.1\", \"depth\": \"3\"}')", (run,))
query(conn, "SELECT mlops.log_metric(%s, 'loss', 1.0 / s, s) FROM generate_series(1, 5) s", (run,))
query(conn, "SELECT mlops.set_tag(%s, 'owner', 'dump test')", (run,))
query(conn, "SELECT mlops.end_run(%s)", (run,))
query(conn, "CREATE VIEW diabetes_now AS SELECT age, sex, bmi * 2 AS bmi, bp, s1, s2, s3, s4, s5, s6 FROM diabetes")
query(conn, "SELECT mlops.create_monitor('dump_mon', 'dump_lin', 'diabetes_now')")
query(conn, "SELECT mlops.run_monitor('dump_mon')")
query(conn, "SELECT mlops.predict_logged('dump_lin', k::text, d) FROM (SELECT row_number() OVER () AS k, d FROM diabetes d LIMIT 20) s")
query(conn, "SELECT mlops.record_outcome('dump_lin', '3', 150)")
query(conn, "SELECT mlops.record_outcome('dump_lin', '4', 90)")
query(conn, "CREATE TABLE acct (id int PRIMARY KEY, balance numeric)")
query(conn, "SELECT mlops.enable_audit('acct')")
query(conn, "INSERT INTO acct VALUES (1, 10), (2, 20)")
query(conn, "CREATE TABLE ledger (region text, amount int) PARTITION BY LIST (region)")
query(conn, "CREATE TABLE ledger_eu PARTITION OF ledger FOR VALUES IN ('eu')")
query(conn, "CREATE TABLE ledger_us PARTITION OF ledger FOR VALUES IN ('us')")
query(conn, "SELECT mlops.enable_audit('ledger')")
query(conn, "INSERT INTO ledger VALUES ('eu', 1), ('us', 2)")

# What the restored database must hold, each in a stable order.
COMPARED = {
    "runs": "SELECT * FROM mlops.run ORDER BY id",
    "params": "SELECT * FROM mlops.run_param ORDER BY run_id, key",
    "tags": "SELECT * FROM mlops.run_tag ORDER BY run_id, key",
    "metric_history": "SELECT * FROM mlops.metric_history ORDER BY run_id, key, step",
    "experiments": "SELECT * FROM mlops.experiment ORDER BY id",
    "models": "SELECT * FROM mlops.models ORDER BY name",
    "model_versions": "SELECT model_id, version, artifact_sha256, metrics, profile, created_xid::text "
                      "FROM mlops.model_version ORDER BY model_id, version",
    "aliases": "SELECT * FROM mlops.alias ORDER BY model_id, alias",
    "deployments": "SELECT * FROM mlops.deployments ORDER BY id",
    "monitors": "SELECT * FROM mlops.monitor ORDER BY id",
    "drift_results": "SELECT * FROM mlops.drift_results ORDER BY run_id, feature",
    "alerts": "SELECT * FROM mlops.alerts ORDER BY id",
    "prediction_log": "SELECT * FROM mlops.prediction_log ORDER BY id",
    "outcomes": "SELECT * FROM mlops.outcome ORDER BY model_id, key",
    "live_metrics": "SELECT * FROM mlops.live_metrics ORDER BY 1, 2, 3",
    "audited user table": "SELECT * FROM acct ORDER BY id",
    "audited partitioned table": "SELECT * FROM ledger ORDER BY region",
    "audited tables": "SELECT table_name::text FROM mlops.audited_tables ORDER BY 1",
    "audit triggers": "SELECT tgrelid::regclass::text, tgname, tgenabled, tgparentid <> 0, tgfoid::regproc::text "
                      "FROM pg_trigger WHERE tgname LIKE 'mlops\\_audit%' "
                      "AND tgrelid::regclass::text NOT LIKE 'mlops.%' ORDER BY 1, 2",
}
PREDICTIONS = {
    "dump_lin": "SELECT mlops.predict('dump_lin', d) FROM diabetes d ORDER BY d::text",
    "dump_xgb": "SELECT mlops.predict('dump_xgb', b) FROM breast_cancer b ORDER BY b::text",
    "dump_xgb probabilities": "SELECT mlops.predict_proba('dump_xgb', b) FROM breast_cancer b ORDER BY b::text",
}
before = {name: query(conn, sql) for name, sql in COMPARED.items()}
predicted = {name: query(conn, sql) for name, sql in PREDICTIONS.items()}
check(all(before[t] for t in ("runs", "params", "tags", "metric_history", "model_versions", "deployments",
                              "drift_results", "alerts", "prediction_log", "outcomes", "live_metrics")),
      "the source database has rows in every compared table")

dump = subprocess.run([f"{BINDIR}/pg_dump", "-Fc", "-d", DB], check=True, capture_output=True).stdout
admin = connect("postgres")
query(admin, f'DROP DATABASE IF EXISTS "{RESTORED}" WITH (FORCE)')
query(admin, f'CREATE DATABASE "{RESTORED}"')
restore = subprocess.run([f"{BINDIR}/pg_restore", "--exit-on-error", "-d", RESTORED], input=dump, capture_output=True)
check(restore.returncode == 0, f"pg_restore into an empty database succeeds ({restore.stderr.decode()[:300]})")

new = connect(RESTORED)
for name, sql in COMPARED.items():
    after = query(new, sql)
    check(after == before[name], f"{name}: the same {len(after)} rows after the restore")
check(len(before["audit triggers"]) == 8 and all(r[2] == "A" for r in before["audit triggers"]),
      "the source's audited tables have their row and TRUNCATE triggers, enabled ALWAYS")


def check_audited(db, how):
    """The audited user tables of database db, restored by how, are audited
    as in the source: same triggers, a TRUNCATE of a partition logged, and
    the chain verifies."""
    c = connect(db)
    check(query(c, COMPARED["audit triggers"]) == before["audit triggers"], f"{how}: the audit triggers are as before")
    check(query(c, COMPARED["audited partitioned table"]) == before["audited partitioned table"],
          f"{how}: the audited partitioned table's rows are restored")
    c.autocommit = False
    query(c, "TRUNCATE ledger_us")
    logged = query(c, "SELECT count(*) FROM mlops.audit_log WHERE op = 'TRUNCATE' AND table_name = 'public.ledger_us'")
    c.rollback()
    check(logged == [(1,)], f"{how}: a TRUNCATE of a partition is logged ({logged})")
    # auditing began with the restore's CREATE TRIGGER, after the rows it loaded: logged as ENABLE
    events = query(c, "SELECT DISTINCT ON (table_name) table_name, op, new_row FROM mlops.audit_log "
                      "WHERE op IN ('ENABLE', 'DISABLE', 'DROP') AND table_name IN ('public.acct', 'public.ledger') "
                      "ORDER BY table_name, id DESC")
    check(events == [("public.acct", "ENABLE", {"ignore_columns": []}), ("public.ledger", "ENABLE", {"ignore_columns": []})],
          f"{how}: the audited tables' last audit event is an ENABLE row ({events})")
    check(query(c, "SELECT (mlops.verify_audit()).ok")[0][0], f"{how}: the audit chain verifies")
    c.rollback()
    c.close()


check_audited(RESTORED, "pg_restore --exit-on-error")
# --single-transaction, and --clean into the restored database: the dump's
# TRUNCATE triggers replace those auditing made when it enabled a row
# trigger, and --clean's drops of the TRUNCATE triggers before the row
# triggers succeed; each restore exits 0.
SINGLE = "test_dump_single"
query(admin, f'DROP DATABASE IF EXISTS "{SINGLE}" WITH (FORCE)')
query(admin, f'CREATE DATABASE "{SINGLE}"')


def restore_again(db, *options):
    """pg_restore --exit-on-error of the dump into db with options exits 0,
    and leaves db's user tables audited as in the source."""
    how = " ".join(["pg_restore", *options])
    again = subprocess.run([f"{BINDIR}/pg_restore", "--exit-on-error", *options, "-d", db], input=dump, capture_output=True)
    check(again.returncode == 0, f"{how} succeeds ({again.stderr.decode()[:300]})")
    check_audited(db, how)


restore_again(SINGLE, "--single-transaction")
restore_again(SINGLE, "--clean", "--single-transaction")
query(admin, f'DROP DATABASE "{SINGLE}" WITH (FORCE)')

# A parallel restore loads mlops's tables side by side, whatever their foreign
# keys: the README's recipe skips those checks (the dump is consistent), while
# the audit and immutability triggers, enabled ALWAYS, still fire.
PARALLEL = "test_dump_parallel"
with tempfile.TemporaryDirectory() as tmp:
    subprocess.run([f"{BINDIR}/pg_dump", "-Fd", "-f", f"{tmp}/dump", "-d", DB], check=True, capture_output=True)
    query(admin, f'DROP DATABASE IF EXISTS "{PARALLEL}" WITH (FORCE)')
    query(admin, f'CREATE DATABASE "{PARALLEL}"')
    parallel = subprocess.run([f"{BINDIR}/pg_restore", "--exit-on-error", "-j", "4", "-d", PARALLEL, f"{tmp}/dump"],
                              capture_output=True, env=dict(os.environ, PGOPTIONS="-c session_replication_role=replica"))
check(parallel.returncode == 0, f"pg_restore -j 4 with session_replication_role=replica succeeds ({parallel.stderr.decode()[:300]})")
par = connect(PARALLEL)
check(all(query(par, sql) == before[name] for name, sql in COMPARED.items()), "and restores the same rows")
check(query(par, "SELECT (mlops.verify_audit()).ok")[0][0], "and its audit chain verifies")
par.close()
query(admin, f'DROP DATABASE "{PARALLEL}" WITH (FORCE)')
for name, sql in PREDICTIONS.items():
    check(query(new, sql) == predicted[name], f"{name}: the same predictions on every row after the restore")

check([r[0] for r in query(new, "SELECT last_value FROM mlops.deployment_id_seq")] == [len(before["deployments"])],
      "the identity sequences are restored")
ok, checked, bad = query(new, "SELECT * FROM mlops.verify_audit()")[0]
check(ok and bad is None, f"the restored database's audit chain verifies ({checked} rows)")
restored_inserts = query(new, """SELECT count(*) FROM mlops.audit_log
                                   WHERE op = 'INSERT' AND table_name = 'mlops.model_version'""")[0][0]
check(restored_inserts == 3, f"the restored versions are logged as inserted by the restore ({restored_inserts})")

version, run_id = query(new, "SELECT version, run_id FROM mlops.train('dump_xgb', 'breast_cancer', 'target', 'xgboost', "
                             "hyperparams => '{\"n_estimators\": 5}')")[0]
check(version == 3, f"a new version of a restored model gets the next number ({version})")
check(run_id > max(r[0] for r in before["runs"]), "a new run gets a new id")
new_run = query(new, "SELECT mlops.start_run('dump_exp')")[0][0]
check(new_run > run_id, "start_run continues the run ids")
query(new, "SELECT mlops.log_metric(%s, 'loss', 0.5)", (new_run,))
query(new, "SELECT mlops.train('dump_new', 'diabetes', 'target', 'linear')")
check(query(new, "SELECT id > 2 FROM mlops.model WHERE name = 'dump_new'")[0][0], "a new model gets a new id")
query(new, "SELECT mlops.promote('dump_xgb', 3, force => true)")
deployments = [r[0] for r in query(new, "SELECT id FROM mlops.deployment ORDER BY id")]
check(len(deployments) > len(before["deployments"]) and deployments == list(range(1, len(deployments) + 1)),
      f"new alias moves continue the deployment ids ({deployments})")
query(new, "SELECT mlops.run_monitor('dump_mon')")
query(new, "SELECT mlops.predict_logged('dump_lin', 'new', d) FROM diabetes d LIMIT 1")
check(query(new, "SELECT count(*) FROM mlops.prediction_log")[0][0] == len(before["prediction_log"]) + 1,
      "predictions are logged after the restore")
query(new, "UPDATE acct SET balance = 15 WHERE id = 1")
check(query(new, "SELECT count(*) FROM mlops.audit_log WHERE table_name = 'public.acct' AND op = 'UPDATE'")[0][0] == 1,
      "a user table audited before the dump is audited after the restore")
check(query(new, "SELECT (mlops.verify_audit()).ok")[0][0], "the audit chain still verifies after new changes")

new.close()
restore_again(RESTORED, "--clean")
conn.close()
query(admin, f'DROP DATABASE "{RESTORED}" WITH (FORCE)')
admin.close()
finish()
