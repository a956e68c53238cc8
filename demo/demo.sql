-- mlops demo: the whole loop on the embedded breast cancer data
-- (569 patients, 30 features, target 1 = benign), inside PostgreSQL.
\pset footer off
\set SHOW_CONTEXT never

-- 1. Train two models in one experiment. The first version of a new model
--    becomes "production" by itself.
SELECT model, version, run_id, round((metrics->>'roc_auc')::numeric, 4) AS roc_auc,
       round((metrics->>'accuracy')::numeric, 4) AS accuracy
  FROM mlops.train('cancer', 'breast_cancer', 'target', 'logistic');
SELECT model, version, run_id, round((metrics->>'roc_auc')::numeric, 4) AS roc_auc,
       round((metrics->>'accuracy')::numeric, 4) AS accuracy
  FROM mlops.train('cancer', 'breast_cancer', 'target', 'xgboost',
                   hyperparams => '{"max_depth": 3, "eta": 0.1, "n_estimators": 60}');

-- 2. Compare their runs, and look at the boosting's learning curve.
SELECT run_id, params->>'algorithm' AS algorithm, round((metrics->>'roc_auc')::numeric, 4) AS roc_auc,
       round((metrics->>'log_loss')::numeric, 4) AS log_loss, round(extract(epoch FROM duration)::numeric, 2) AS seconds
  FROM mlops.runs WHERE experiment = 'cancer' ORDER BY run_id;
SELECT step, round(value::numeric, 4) AS "test-logloss"
  FROM mlops.metric_history WHERE experiment = 'cancer' AND key = 'test-logloss' AND step % 10 = 0 ORDER BY step;

-- 3. Promote version 2 through the validation gate: both versions are scored on
--    version 2's test split, and it must not be worse on roc_auc.
SELECT mlops.promote('cancer', 2);
SELECT model, alias, version, algorithm, source, data_fingerprint, train_rows, test_rows
  FROM mlops.lineage WHERE model = 'cancer';

-- 4. Score with a plain SELECT: columns are matched by name, in any order.
SELECT target AS actual, mlops.predict('cancer', b) AS predicted,
       round((mlops.predict_proba('cancer', b))[2]::numeric, 4) AS p_benign
  FROM breast_cancer b LIMIT 5;
SELECT mlops.evaluate('cancer', 'SELECT * FROM breast_cancer WHERE mean_radius > 15');

-- 5. Why did the model say so? TreeSHAP: bias + contributions = the margin.
SELECT key AS feature, round(value::numeric, 4) AS contribution
  FROM jsonb_each_text(mlops.explain('cancer', (SELECT b FROM breast_cancer b LIMIT 1))->'contributions')
 ORDER BY abs(value::float8) DESC LIMIT 5;

-- 6. Watch the data. A monitor compares the table with the reference profile
--    frozen with the production version, and retrains when it drifts.
SELECT mlops.create_monitor('cancer-psi', 'cancer', 'breast_cancer', 'psi', action => 'retrain');
SELECT r->'drifted' AS drifted FROM mlops.run_monitor('cancer-psi') r;
--    New data arrives from a recalibrated instrument: radii read 30% larger.
UPDATE breast_cancer SET mean_radius = mean_radius * 1.3, worst_radius = worst_radius * 1.3;
SELECT r->'drifted' AS drifted, r->'retrain'->>'promoted' AS retrained_and_promoted,
       r->'retrain'->>'version' AS new_version, r->'retrain'->>'reason' AS gate
  FROM mlops.run_monitor('cancer-psi') r;
SELECT feature, metric, round(value::numeric, 3) AS value, threshold, drifted
  FROM mlops.drift_status WHERE monitor = 'cancer-psi' AND drifted;
SELECT kind, model, version, message FROM mlops.alerts ORDER BY id;
SELECT alias, action, from_version, to_version, reason FROM mlops.deployments WHERE model = 'cancer' ORDER BY id;

-- 7. Every registry change is in the tamper-evident audit log (an UPDATE's
--    new_row holds the changed columns: old_row || new_row is the row after).
SELECT id, table_name, op, coalesce(old_row || new_row, new_row) AS row_after, current_user_name
  FROM mlops.audit_log WHERE table_name = 'mlops.alias' ORDER BY id;
SELECT * FROM mlops.verify_audit();

-- 8. Run the loop unattended: pg_cron retrains nightly, only after drift.
CREATE EXTENSION IF NOT EXISTS pg_cron;
SELECT mlops.schedule_retrain('cancer', '0 3 * * *', only_on_drift => true) > 0 AS scheduled;
SELECT jobname, schedule, command FROM cron.job;
SELECT mlops.unschedule('mlops:retrain:cancer');

-- 9. Runs you track yourself: params are write-once, metrics are series.
SELECT mlops.start_run('cancer', 'manual-check', '{"reviewer": "ana"}') AS run \gset
SELECT mlops.log_metric(:run, 'agreement', 0.97);
SELECT mlops.end_run(:run);
SELECT run_name, status, params, metrics FROM mlops.runs WHERE run_id = :run;
