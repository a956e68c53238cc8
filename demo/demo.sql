-- mlops demo on the embedded diabetes dataset (442 patients, 10 features).
\pset footer off
\set SHOW_CONTEXT never

-- 1. An experiment with two runs: a one-feature baseline fitted with SQL's own
--    regression aggregates, logged as params and metrics like any run.
SELECT mlops.start_run('diabetes', 'bmi-baseline', '{"feature": "bmi", "method": "least squares"}',
                       '{"dataset": "diabetes"}') AS run \gset
SELECT mlops.log_metrics(:run, jsonb_build_object(
           'r2', regr_r2(target, bmi),
           'slope', regr_slope(target, bmi),
           'intercept', regr_intercept(target, bmi),
           'rows', regr_count(target, bmi)))
  FROM diabetes;
SELECT mlops.end_run(:run);

-- 2. A second run that logs a learning curve: r2 as more rows are seen (step = rows).
SELECT mlops.start_run('diabetes', 'bmi+bp-curve', '{"feature": "bmi,bp"}') AS run2 \gset
SELECT mlops.log_metric(:run2, 'r2_bmi', regr_r2(target, bmi), n)
  FROM generate_series(50, 442, 98) AS n,
       LATERAL (SELECT target, bmi FROM diabetes LIMIT n) AS seen
 GROUP BY n ORDER BY n;
SELECT mlops.log_metric(:run2, 'r2', regr_r2(target, bmi + bp / 10), 442) FROM diabetes;
SELECT mlops.end_run(:run2);

-- 3. Compare the runs: params, latest metrics, duration.
SELECT run_id, run_name, status, params, metrics FROM mlops.runs ORDER BY run_id;
SELECT key, step, round(value::numeric, 4) AS value FROM mlops.metric_history
 WHERE run_id = :run2 ORDER BY key, step;

-- 4. Params are write-once, and a finished run takes no more metrics (two errors, on purpose).
\set ON_ERROR_STOP 0
SELECT mlops.log_param(:run, 'feature', 'age');
SELECT mlops.log_metric(:run, 'r2', 1.0);
\set ON_ERROR_STOP 1

-- 5. What this server's mlops was built with.
SELECT mlops.build_info();
