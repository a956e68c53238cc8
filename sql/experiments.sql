-- Experiments and runs: the MLflow-like API and its bad input.
CREATE EXTENSION mlops;
\set SHOW_CONTEXT never
\i test/lib/sqlstate.sql

SELECT mlops.start_run('churn', 'baseline', '{"alpha": 0.5, "solver": "lbfgs"}', '{"owner": "ana"}') AS run1 \gset
SELECT mlops.start_run('churn') AS run2 \gset
SELECT name, runs FROM mlops.experiments ORDER BY name;
SELECT run_id = :run1 AS is_run1, experiment, run_name, status, params, tags, metrics FROM mlops.runs ORDER BY run_id;

-- params are write-once: the same value again is a no-op, a different one an error (23505)
SELECT mlops.log_param(:run1, 'depth', '6');
SELECT mlops.log_param(:run1, 'depth', '6');
SELECT pg_temp.sqlstate(format($$SELECT mlops.log_param(%s, 'depth', '7')$$, :run1), true, true);
SELECT mlops.log_params(:run1, '{"depth": 6, "eta": 0.1, "flags": [1, 2]}');
SELECT pg_temp.sqlstate(format($$SELECT mlops.log_params(%s, '{"eta": 0.2}')$$, :run1), true, true);
SELECT key, value FROM mlops.run_param WHERE run_id = :run1 ORDER BY key;

-- metrics are series; NaN and infinities are stored as given
SELECT mlops.log_metric(:run1, 'loss', 0.9, 0);
SELECT mlops.log_metric(:run1, 'loss', 0.5, 2);
SELECT mlops.log_metric(:run1, 'loss', 0.7, 1);
SELECT mlops.log_metric(:run1, 'weird', 'NaN');
SELECT mlops.log_metric(:run1, 'weird', 'Infinity', 1);
SELECT mlops.log_metric(:run1, 'low', '-Infinity');
SELECT mlops.log_metrics(:run1, '{"auc": 0.91, "f1": "NaN"}', 5);
SELECT key, step, value FROM mlops.metric_history WHERE run_id = :run1 ORDER BY key, step;
SELECT metrics FROM mlops.runs WHERE run_id = :run1;
SELECT pg_temp.sqlstate(format($$SELECT mlops.log_metrics(%s, '{"auc": "high"}')$$, :run1), false, true);
SELECT pg_temp.sqlstate(format($$SELECT mlops.log_metrics(%s, '{"auc": [1]}')$$, :run1));
SELECT pg_temp.sqlstate(format($$SELECT mlops.log_metrics(%s, '[1, 2]')$$, :run1));
-- a JSON number beyond float8: 22003 naming the metric
SELECT pg_temp.sqlstate(format($$SELECT mlops.log_metrics(%s, '{"auc": 1e400}')$$, :run1));
SELECT pg_temp.sqlstate(format($$SELECT mlops.log_metrics(%s, '{"auc": "-1e-400"}')$$, :run1));

-- tags: last value wins; huge values are stored whole
SELECT mlops.set_tag(:run1, 'owner', 'bo');
SELECT mlops.set_tag(:run1, 'blob', repeat('x', 1000000));
SELECT key, length(value) FROM mlops.run_tag WHERE run_id = :run1 ORDER BY key;

-- ending a run; logging to it afterwards is an error, a tag is still allowed
SELECT mlops.end_run(:run1);
SELECT status, ended_at IS NOT NULL AS ended, duration >= '0'::interval AS has_duration
  FROM mlops.runs WHERE run_id = :run1;
SELECT mlops.log_metric(:run1, 'loss', 0.1, 3);
SELECT mlops.log_param(:run1, 'new', '1');
SELECT mlops.end_run(:run1);
SELECT mlops.set_tag(:run1, 'reviewed', 'yes');
SELECT pg_temp.sqlstate(format($$SELECT mlops.end_run(%s, 'exploded')$$, :run2), true);
SELECT mlops.end_run(:run2, 'killed');
SELECT status FROM mlops.runs WHERE run_id = :run2;

-- unknown runs, ended runs and NULLs: each error with its SQLSTATE
SELECT mlops.start_run('churn') AS run3 \gset
SELECT q, pg_temp.sqlstate(format(q, :run1, :run3)) AS outcome FROM (VALUES
    ($$SELECT mlops.log_metric(999999, 'loss', 1)$$),
    ($$SELECT mlops.log_param(999999, 'a', 'b')$$),
    ($$SELECT mlops.end_run(999999)$$),
    ($$SELECT mlops.log_metric(%1$s, 'loss', 1)$$),
    ($$SELECT mlops.log_metrics(%1$s, '{"loss": 1}')$$),
    ($$SELECT mlops.log_params(%1$s, '{"x": 1}')$$),
    ($$SELECT mlops.log_metric(NULL, 'loss', 1)$$),
    ($$SELECT mlops.start_run(NULL)$$),
    ($$SELECT mlops.start_run('')$$),
    ($$SELECT mlops.start_run(repeat('e', 251))$$),
    ($$SELECT mlops.start_run('churn', '')$$),
    ($$SELECT mlops.start_run('churn', repeat('r', 251))$$),
    ($$SELECT mlops.log_param(%2$s, NULL, 'v')$$),
    ($$SELECT mlops.log_param(%2$s, 'k', NULL)$$),
    ($$SELECT mlops.log_metric(%2$s, NULL, 1)$$),
    ($$SELECT mlops.log_metric(%2$s, 'm', NULL)$$),
    ($$SELECT mlops.log_metric(%2$s, 'm', 1, NULL)$$),
    ($$SELECT mlops.log_metrics(%2$s, NULL)$$),
    ($$SELECT mlops.log_metrics(%2$s, '{}', NULL)$$),
    ($$SELECT mlops.set_tag(%2$s, '', 'v')$$),
    ($$SELECT mlops.set_tag(%2$s, 'k', NULL)$$),
    ($$SELECT mlops.end_run(%2$s, NULL)$$),
    ($$SELECT mlops.start_run('churn', NULL, '"not an object"')$$),
    ($$SELECT mlops.start_run('churn', NULL, '{}', NULL)$$),
    ($$SELECT mlops.start_run('churn', NULL, '{"p": null}')$$)
) AS cases(q);

-- a failed start_run leaves nothing behind
SELECT count(*) AS runs FROM mlops.run;

-- an experiment name is data, never SQL
SELECT mlops.start_run($$x'); DROP TABLE mlops.run; --$$) IS NOT NULL AS started;
SELECT name FROM mlops.experiments ORDER BY name;
SELECT count(*) > 0 AS run_table_still_there FROM mlops.run;

-- the session is still usable after all of the errors above
SELECT 1 AS still_usable;
