-- Automation without pg_cron (this database has none): retrain() and its
-- unattended form, and the errors of the scheduling functions.
CREATE EXTENSION mlops;
\set SHOW_CONTEXT never
\i test/lib/sqlstate.sql
\i test/data/load.sql

SELECT model, version FROM mlops.train('cancer', 'breast_cancer', 'target', 'logistic');

-- retrain: a new version with the production version's spec, through the gate
SELECT r->>'promoted' AS promoted, r->>'metric' AS metric, r->>'version' AS version,
       r->>'retrained_from' AS retrained_from, r->>'reason' AS reason
  FROM mlops.retrain('cancer') r;
SELECT v.version, v.algorithm, v.source, v.target, v.train_rows, v.test_rows, r.params->>'seed' AS seed,
       r.params->>'test_fraction' AS test_fraction
  FROM mlops.model_versions v JOIN mlops.runs r USING (run_id) WHERE v.name = 'cancer' ORDER BY v.version;
SELECT alias, action, from_version, to_version FROM mlops.deployments WHERE model = 'cancer' ORDER BY id;

-- a source that lost its target column: retrain() fails clearly, production untouched
ALTER TABLE breast_cancer RENAME COLUMN target TO diagnosis;
SELECT pg_temp.sqlstate($$SELECT mlops.retrain('cancer')$$);
-- unattended (as a pg_cron job or a monitor runs it): recorded as a failed run and an alert, not raised
SELECT r->>'promoted' AS promoted, r->>'alert' AS alert FROM mlops._scheduled_retrain('cancer', false, 'production', (SELECT created_at FROM mlops.models WHERE name = 'cancer')) r;
SELECT status, tags->>'error' AS error FROM mlops.runs WHERE run_name = 'retrain';
SELECT kind, model, message, training_run IS NOT NULL AS has_run FROM mlops.alerts;
SELECT version FROM mlops.resolve_model('cancer');
ALTER TABLE breast_cancer RENAME COLUMN diagnosis TO target;

-- only_on_drift: nothing happens until a monitor flags drift
SELECT mlops._scheduled_retrain('cancer', true, 'production', (SELECT created_at FROM mlops.models WHERE name = 'cancer'));
-- a job made for a model that is gone (mlops dropped, then created again with
-- a model of the same name) leaves the model of today alone
SELECT mlops._scheduled_retrain('cancer', false, 'production', '2000-01-01T00:00:00+00:00');
SELECT count(*) AS versions FROM mlops.model_versions WHERE name = 'cancer';

-- under another default alias, retrain() retrains the version behind it and
-- promotes to it: production stays where it is
SET mlops.default_alias = 'live';
SELECT mlops.set_alias('cancer', 'live', 1);
SELECT r->>'version' AS version, r->>'retrained_from' AS retrained_from FROM mlops.retrain('cancer') r;
SELECT alias, action, from_version, to_version FROM mlops.deployments
 WHERE model = 'cancer' AND id > (SELECT max(id) - 2 FROM mlops.deployments) ORDER BY id;
RESET mlops.default_alias;

-- a dropped source
CREATE TABLE wine_copy AS SELECT * FROM wine;
SELECT version FROM mlops.train('grapes', 'wine_copy', 'target', 'logistic');
DROP TABLE wine_copy;
SELECT pg_temp.sqlstate($$SELECT mlops.retrain('grapes')$$);

-- bad input; pg_cron is not installed in this database
SELECT q, pg_temp.sqlstate(q) AS outcome FROM (VALUES
    ($$SELECT mlops.retrain('nope')$$),
    ($$SELECT mlops.retrain('cancer@staging')$$),
    ($$SELECT mlops.retrain(NULL)$$),
    ($$SELECT mlops.retrain('')$$),
    ($$SELECT mlops.schedule_retrain('', '* * * * *')$$),
    ($$SELECT mlops.schedule_retrain('cancer', '* * * * *')$$),
    ($$SELECT mlops.schedule_retrain('nope', '* * * * *')$$),
    ($$SELECT mlops.schedule_retrain('cancer', NULL)$$),
    ($$SELECT mlops.schedule_monitor('nope', '* * * * *')$$),
    ($$SELECT mlops.unschedule('my-other-job')$$),
    ($$SELECT mlops.unschedule('mlops:retrain:cancer')$$)
) AS cases(q);
\set VERBOSITY default
SELECT mlops.schedule_retrain('cancer', '* * * * *');

-- an imported or hand-registered version cannot be retrained
SELECT mlops._register_version('handmade', 'linear', 'regression', '{a}', 'y', NULL, '{}', '{}', '{}', NULL,
       NULL, NULL, 1, 0, 0, 'fp', '\x00', 'linear-json');
SELECT pg_temp.sqlstate($$SELECT mlops.retrain('handmade')$$);
-- a monitoring job whose monitor fails (its source dropped) records the failure
-- as run_monitors() does, with an error alert, rather than failing unseen
CREATE TABLE cancer_now AS SELECT * FROM breast_cancer;
SELECT mlops.create_monitor('cancer_now', 'cancer', 'cancer_now');
DROP TABLE cancer_now;
SELECT r->>'monitor' AS monitor, r->>'error' AS error, r->>'alert_id' IS NOT NULL AS alerted
  FROM mlops._scheduled_monitor('cancer_now', (SELECT created_at FROM mlops.monitors WHERE name = 'cancer_now')) r;
SELECT kind, monitor, message FROM mlops.alerts WHERE monitor = 'cancer_now';
SELECT mlops.drop_monitor('cancer_now');
-- a retraining, and an unattended one that fails, log their runs into the
-- experiment of the version they retrain
CREATE TABLE diabetes_lineage AS SELECT * FROM diabetes;
SELECT version FROM mlops.train('lineage', 'diabetes_lineage', 'target', 'linear', experiment => 'lineage_exp');
SELECT r->>'version' AS version FROM mlops.retrain('lineage') r;
ALTER TABLE diabetes_lineage RENAME COLUMN target TO y;
SELECT r->>'promoted' AS promoted FROM mlops._scheduled_retrain('lineage', false, 'production', (SELECT created_at FROM mlops.models WHERE name = 'lineage')) r;
SELECT r.experiment, r.status, v.version
  FROM mlops.runs r LEFT JOIN mlops.model_versions v ON v.run_id = r.run_id AND v.name = 'lineage'
 WHERE v.name IS NOT NULL OR r.tags->>'error' LIKE '%"lineage"%' ORDER BY r.run_id;
SELECT 1 AS session_usable;

-- only_on_drift after a monitor that retrains on drift: the monitor's run was
-- against the version before the one it made, so the job does not retrain
-- again; a drift flagged against that version does retrain
CREATE TABLE diabetes_fatter AS SELECT * FROM diabetes;
UPDATE diabetes_fatter SET bmi = bmi + 20;
SELECT version FROM mlops.train('fatter', 'diabetes', 'target', 'linear');
SELECT mlops.create_monitor('fatter_bmi', 'fatter', 'diabetes_fatter', action => 'retrain') IS NOT NULL AS created;
SELECT r->'drifted' AS drifted, r->'retrain'->>'version' AS retrained_to FROM mlops.run_monitor('fatter_bmi') r;
SELECT r->>'retrained' AS retrained, r->>'reason' AS reason FROM mlops._scheduled_retrain('fatter', true, 'production', (SELECT created_at FROM mlops.models WHERE name = 'fatter')) r;
SELECT mlops.create_monitor('fatter_bmi_alert', 'fatter', 'diabetes_fatter') IS NOT NULL AS created;
SELECT r->'drifted' AS drifted, r->>'version' AS version FROM mlops.run_monitor('fatter_bmi_alert') r;
SELECT r->>'version' AS version, r->>'retrained_from' AS retrained_from
  FROM mlops._scheduled_retrain('fatter', true, 'production', (SELECT created_at FROM mlops.models WHERE name = 'fatter')) r;
-- a drift flagged against another version than production's (a monitor
-- pinned to the first one) does not retrain production
SELECT mlops.create_monitor('fatter_v1', 'fatter:1', 'diabetes_fatter') IS NOT NULL AS created;
SELECT r->'drifted' AS drifted, r->>'version' AS version FROM mlops.run_monitor('fatter_v1') r;
SELECT r->>'retrained' AS retrained, r->>'reason' AS reason FROM mlops._scheduled_retrain('fatter', true, 'production', (SELECT created_at FROM mlops.models WHERE name = 'fatter')) r;
-- only drift flagged now counts: once the monitor's latest run against
-- production finds the data back to normal, the job does not retrain for the
-- drift it flagged before
SELECT r->'drifted' AS drifted, r->>'version' = (SELECT version::text FROM mlops.resolve_model('fatter')) AS against_production
  FROM mlops.run_monitor('fatter_bmi_alert') r;
UPDATE diabetes_fatter SET bmi = bmi - 20;
SELECT r->'drifted' AS drifted FROM mlops.run_monitor('fatter_bmi_alert') r;
SELECT r->>'retrained' AS retrained, r->>'reason' AS reason
  FROM mlops._scheduled_retrain('fatter', true, 'production', (SELECT created_at FROM mlops.models WHERE name = 'fatter')) r;
SELECT 1 AS session_usable_after_drift;
-- a monitor of another alias retrains under that alias: a drift flagged
-- against staging retrains staging's version and promotes to staging, and
-- production stays where it was
CREATE TABLE diabetes_heavier AS SELECT * FROM diabetes;
UPDATE diabetes_heavier SET bmi = bmi + 20;
SELECT version FROM mlops.train('staged', 'diabetes', 'target', 'linear');
SELECT version FROM mlops.train('staged', 'diabetes', 'target', 'linear', features => ARRAY['age', 'sex', 'bmi', 'bp']);
SELECT mlops.set_alias('staged', 'staging', 2);
SELECT mlops.create_monitor('staged_bmi', 'staged@staging', 'diabetes_heavier', action => 'retrain') IS NOT NULL AS created;
SELECT r->>'version' AS monitored, r->'retrain'->>'retrained_from' AS retrained_from, r->'retrain'->>'version' AS retrained_to,
       r->'retrain'->>'promoted' AS promoted
  FROM mlops.run_monitor('staged_bmi') r;
SELECT aliases FROM mlops.models WHERE name = 'staged';
SELECT current_setting('mlops.default_alias') AS default_alias_after;
-- only_on_drift when the default alias points nowhere (deleted): the job
-- records the retraining's failure (a failed run and an alert) as it does
-- without only_on_drift, rather than failing where no one looks
SELECT mlops.delete_alias('fatter', 'production');
SELECT r->>'promoted' AS promoted, r->>'alert' AS alert
  FROM mlops._scheduled_retrain('fatter', true, 'production', (SELECT created_at FROM mlops.models WHERE name = 'fatter')) r;
SELECT kind, model, message FROM mlops.alerts WHERE model = 'fatter' AND kind = 'retrain' ORDER BY at DESC LIMIT 1;
-- a version registered with a run whose test_fraction or seed is no number
-- has no recorded split: retrain() trains with the defaults, promote() asks
-- for gate.source (22023), where their casts failed with 22P02
SELECT version FROM mlops.train('oddsplit_src', 'diabetes', 'target', 'linear');
SELECT mlops.end_run(mlops.start_run('oddsplit', NULL, '{"test_fraction": "x", "seed": "abc"}'));
SELECT count(mlops._register_version('oddsplit', v.algorithm, v.task, v.features, v.target, v.classes, v.hyperparams, '{}',
       v.spec, NULL, (SELECT max(run_id) FROM mlops.runs WHERE experiment = 'oddsplit'), 'diabetes', 1, 1, 0, 'fp',
       v.artifact, v.artifact_format))
  FROM mlops.model_version v JOIN mlops.model m ON m.id = v.model_id, generate_series(1, 2)
 WHERE m.name = 'oddsplit_src';
SELECT r->>'promoted' AS promoted, r->>'version' AS version, r->'test_split' AS test_split FROM mlops.retrain('oddsplit') r;
SELECT pg_temp.sqlstate($$SELECT mlops.promote('oddsplit', 2)$$);
-- a retraining whose new split holds no test row (too few rows) is gated on
-- every row, as train() measured it: promote() refused it (22023) every time
CREATE TABLE diabetes_tiny AS SELECT * FROM diabetes LIMIT 3;
SELECT version FROM mlops.train('tiny', 'diabetes_tiny', 'target', 'ridge', features => ARRAY['age']);
SELECT r->>'promoted' AS promoted, r->>'version' AS version, r->'test_split' AS test_split, r->>'source' AS source
  FROM mlops.retrain('tiny') r;
SELECT version, test_rows FROM mlops.model_versions WHERE name = 'tiny' ORDER BY version;
