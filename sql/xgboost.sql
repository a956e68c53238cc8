-- train(algorithm => 'xgboost'): tasks, per-round evaluation in the run, the
-- parameters mlops chooses, early stopping, categorical inputs, and bad input
-- (pinned SQLSTATEs, nothing registered, the session still usable).
CREATE EXTENSION mlops;
\i test/lib/sqlstate.sql
SET mlops.threads = 1;
CREATE TABLE pts AS
SELECT i AS id, (i % 17) / 4.0 AS a, ((i * 7) % 23)::float8 AS b,
       CASE WHEN i % 9 = 0 THEN NULL ELSE (i * 13) % 11 END::float8 AS c,
       (ARRAY['north', 'south', 'east'])[1 + i % 3] AS region,
       (i % 17) / 2.0 + ((i * 7) % 23) / 5.0 + (i % 3) AS value,
       (i % 17) > 8 AS flag,
       1 + ((i * 7) % 23) % 3 AS kind
  FROM generate_series(1, 300) i;

-- regression, default objective; the evaluation of every round is in the run
SELECT model, version, metrics ? 'rmse' AS has_rmse
  FROM mlops.train('reg', 'SELECT a, b, c, value FROM pts ORDER BY id', 'value',
                   hyperparams => '{"n_estimators": 7, "max_depth": 3}');
SELECT key, count(*) AS rounds, min(step), max(step)
  FROM mlops.metric_history WHERE experiment = 'reg' AND key LIKE '%-%' GROUP BY key ORDER BY key;
SELECT params->>'objective' AS objective, params->>'n_estimators' AS n_estimators,
       params->>'nthread' AS nthread, params->>'seed' AS seed
  FROM mlops.runs WHERE experiment = 'reg';
SELECT v.algorithm, v.task, v.artifact_format, v.features, v.spec, v.classes
  FROM mlops.model_version v JOIN mlops.model m ON m.id = v.model_id WHERE m.name = 'reg';

-- binary and multiclass: XGBoost's objective and its default metric
SELECT version, metrics ? 'roc_auc' AS has_roc_auc
  FROM mlops.train('bin', 'SELECT a, b, c, flag FROM pts ORDER BY id', 'flag',
                   hyperparams => '{"n_estimators": 3}');
SELECT version, metrics ? 'f1_macro' AS has_f1_macro
  FROM mlops.train('multi', 'SELECT a, b, c, kind FROM pts ORDER BY id', 'kind',
                   hyperparams => '{"n_estimators": 3, "eval_metric": ["merror", "mlogloss"]}');
SELECT experiment, params->>'objective' AS objective, params->>'num_class' AS num_class
  FROM mlops.runs WHERE experiment IN ('bin', 'multi') ORDER BY experiment;
SELECT DISTINCT key FROM mlops.metric_history
 WHERE experiment IN ('bin', 'multi') AND key LIKE '%-%' ORDER BY key;
SELECT v.classes FROM mlops.model_version v JOIN mlops.model m ON m.id = v.model_id WHERE m.name = 'multi';
-- num_class is a number: 3.0 and "3" are the 3 classes (XGBoost itself is given "3");
-- nthread is an integer up to 1024 (-1 and 0: every core)
SELECT version FROM mlops.train('multi3', 'SELECT a, b, c, kind FROM pts ORDER BY id', 'kind',
                                hyperparams => '{"n_estimators": 2, "num_class": 3.0, "nthread": 1.0}');
SELECT version FROM mlops.train('multi3', 'SELECT a, b, c, kind FROM pts ORDER BY id', 'kind',
                                hyperparams => '{"n_estimators": 2, "num_class": "3", "nthread": -1}');
-- random_state and n_jobs are XGBoost's aliases of seed and nthread, which win over them: the seed
-- and nthread mlops sets were set besides them, so random_state 5 trained train()'s seed's model
SELECT version FROM mlops.train('seed5', 'SELECT a, b, c, value FROM pts ORDER BY id', 'value',
                                hyperparams => '{"n_estimators": 3, "subsample": 0.5, "seed": 5}', test_fraction => 0);
SELECT version FROM mlops.train('random_state5', 'SELECT a, b, c, value FROM pts ORDER BY id', 'value',
                                hyperparams => '{"n_estimators": 3, "subsample": 0.5, "random_state": 5, "n_jobs": 1}',
                                test_fraction => 0);
SELECT version FROM mlops.train('seed42', 'SELECT a, b, c, value FROM pts ORDER BY id', 'value',
                                hyperparams => '{"n_estimators": 3, "subsample": 0.5}', test_fraction => 0);
SELECT mlops.export_model('random_state5') = mlops.export_model('seed5') AS random_state_is_seed,
       mlops.export_model('random_state5') <> mlops.export_model('seed42') AS not_the_default_seed;
SELECT params->>'random_state' AS random_state, params->>'n_jobs' AS n_jobs,
       params ? 'nthread' AS nthread_set, params->>'seed' AS run_seed
  FROM mlops.runs WHERE experiment = 'random_state5';

-- early stopping keeps the best round
SELECT version FROM mlops.train('early', 'SELECT a, b, c, value FROM pts ORDER BY id', 'value',
                                hyperparams => '{"n_estimators": 500, "eta": 0.5, "early_stopping_rounds": 3}');
SELECT (SELECT count(*) FROM mlops.metric_history WHERE experiment = 'early' AND key = 'test-rmse')
       = (SELECT value FROM mlops.metric_history WHERE experiment = 'early' AND key = 'best_iteration') + 4
       AS stopped_three_after_best;

-- a categorical input: native categorical feature, hist method by default
SELECT version FROM mlops.train('cat', 'SELECT region, a, value FROM pts ORDER BY id', 'value',
                                hyperparams => '{"n_estimators": 3}', test_fraction => 0);
SELECT r.params->>'tree_method' AS tree_method, v.spec
  FROM mlops.runs r JOIN mlops.model_version v ON v.run_id = r.run_id WHERE r.experiment = 'cat';
-- but for gblinear, which has no tree method (XGBoost refused the one mlops set as unknown) and
-- takes a category index as a number, as Python's does
SELECT version FROM mlops.train('cat_linear', 'SELECT region, a, value FROM pts ORDER BY id', 'value',
                                hyperparams => '{"n_estimators": 3, "booster": "gblinear"}', test_fraction => 0);
SELECT r.params->>'tree_method' AS tree_method, r.params->>'booster' AS booster
  FROM mlops.runs r WHERE r.experiment = 'cat_linear';

-- char(n): trailing spaces are no part of the value (as in its cast to text), in training as in
-- scoring, so a model trained on a char(n) column scores its rows as on text (its categories
-- kept the padding, which scoring drops: every row was an unseen category, i.e. missing)
CREATE TABLE pts_char AS SELECT id, region::char(8) AS region, a, value FROM pts;
SELECT version FROM mlops.train('cat_char', 'SELECT region, a, value FROM pts_char ORDER BY id', 'value',
                                hyperparams => '{"n_estimators": 3}', test_fraction => 0);
SELECT v.spec->'inputs'->0->'categories' AS categories
  FROM mlops.model_version v JOIN mlops.model m ON m.id = v.model_id WHERE m.name = 'cat_char';
SELECT count(*) FILTER (WHERE mlops.predict('cat_char', ch) = mlops.predict('cat', t)) AS scored_as_text, count(*)
  FROM pts_char ch JOIN pts t USING (id);
-- and its drift profile has the same categories as text's: no drift between the two
SELECT jsonb_path_query_array(p, '$.features[*].categories.keyvalue().key') AS profiled
  FROM mlops.profile('SELECT region FROM pts_char') p;
SELECT feature, metric, value FROM mlops.drift('cat_char', 'SELECT region, a FROM pts') WHERE feature = 'region' AND metric = 'psi';

-- import_model reads the stored UBJ (categorical splits) with mlops's own reader
-- before libxgboost: it imports and scores the same; truncated, it is refused
SELECT mlops.import_model('cat_copy', v.artifact, 'xgboost-ubj', '{region,a}', 'regression') AS version
  FROM mlops.model_version v JOIN mlops.model m ON m.id = v.model_id WHERE m.name = 'cat';
SELECT count(*) FILTER (WHERE mlops.predict('cat_copy', ARRAY[r, x]) = mlops.predict('cat', ARRAY[r, x])) AS same_scores
  FROM generate_series(0, 3) r, (VALUES (-1.0), (0.0), (0.5), (2.0)) x(x);
SELECT pg_temp.sqlstate($$SELECT mlops.import_model('bad', substring(v.artifact FROM 1 FOR length(v.artifact) / 2),
                                                    'xgboost-ubj', '{region,a}', 'regression')
                          FROM mlops.model_version v JOIN mlops.model m ON m.id = v.model_id WHERE m.name = 'cat'$$);
-- a root marked categorical that categories_nodes does not list: libxgboost 1.7
-- loads it, then aborts the backend writing it out; refused before (XX001)
SELECT pg_temp.sqlstate($$SELECT mlops.import_model('bad', convert_to(jsonb_set(jsonb_set(jsonb_set(jsonb_set(
           replace(convert_from(mlops.export_model('cat'), 'UTF8'), 'NaN', '0')::jsonb,
           '{learner,gradient_booster,model,trees,0,split_type,0}', '1'),
           '{learner,gradient_booster,model,trees,0,categories_nodes}', '[]'),
           '{learner,gradient_booster,model,trees,0,categories_segments}', '[]'),
           '{learner,gradient_booster,model,trees,0,categories_sizes}', '[]')::text, 'UTF8'),
         'xgboost-json', '{region,a}', 'regression')$$);

-- a number reaches XGBoost as the number it is, however it is written: jsonb spells an exponent
-- out (1e20 as a 1 and 20 zeros, 1e-20 with 20 digits after the point), which XGBoost's parser
-- misread (1e20 as 7.7662794E18, 1e-20 as 0: every leaf 0), so the model was not Python's
SELECT version FROM mlops.train('exponents', 'SELECT a, b, value FROM pts ORDER BY id', 'value',
                                hyperparams => '{"n_estimators": 1, "base_score": 1e20, "eta": 1e-20}',
                                test_fraction => 0);
SELECT d->'learner'->'learner_model_param'->>'base_score' AS base_score,
       (d->'learner'->'gradient_booster'->'model'->'trees'->0->'split_conditions'->>0)::float8 <> 0 AS leaf_not_zero
  FROM (SELECT convert_from(mlops.export_model('exponents'), 'UTF8')::jsonb AS d) x;

-- bad input
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'pts', 'value', features => '{a,b}',
                                                    hyperparams => '{"max_dept": 3}')$$);
-- verbosity 0 silenced XGBoost's warning of an unknown parameter, and stayed XGBoost's verbosity in
-- the backend: every later training of the session took unknown parameters
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'pts', 'value', features => '{a,b}',
                                                    hyperparams => '{"max_dept": 3, "verbosity": 0}')$$);
SELECT version FROM mlops.train('quiet', 'pts', 'value', features => '{a,b}',
                                hyperparams => '{"n_estimators": 2, "verbosity": 0}');
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'pts', 'value', features => '{a,b}',
                                                    hyperparams => '{"max_dept": 3}')$$);
-- so many unknown parameters that XGBoost's line naming them is cut where mlops stops keeping its
-- log: the cut line went unseen, and the training took them all
SELECT s ~ '^22023: unknown hyperparameter "unknown_parameter_1", .*", \.\.\. for algorithm "xgboost"$' AS refused_naming_those_kept
  FROM pg_temp.sqlstate(format($$SELECT * FROM mlops.train('bad', 'pts', 'value', features => '{a,b}', hyperparams => %L)$$,
                               (SELECT jsonb_object_agg('unknown_parameter_' || i, 1) FROM generate_series(1, 250) i))) s;
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'pts', 'value', features => '{a,b}',
                                                    hyperparams => '{"n_estimators": -1}')$$);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'pts', 'value', features => '{a,b}',
                                                    hyperparams => '{"n_estimators": 0}')$$);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'pts', 'value', features => '{a,b}',
                                                    hyperparams => '{"objective": "reg:nonsense"}')$$);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'pts', 'value', features => '{a,b}',
                                                    hyperparams => '{"objective": "multi:softprob"}')$$);
-- regression takes only the objectives that predict on the target's scale, as its metrics need
-- (the reg: family and count:poisson): rank: and survival:cox were trained and given the rmse and
-- r2 of their scores, and survival:aft failed in its first round over label bounds it never gets
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'pts', 'value', features => '{a,b}',
                                                    hyperparams => '{"objective": "rank:pairwise"}')$$, true, true);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'pts', 'value', features => '{a,b}',
                                                    hyperparams => '{"objective": "rank:ndcg"}')$$);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'pts', 'value', features => '{a,b}',
                                                    hyperparams => '{"objective": "survival:cox"}')$$);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'pts', 'value', features => '{a,b}',
                                                    hyperparams => '{"objective": "survival:aft"}')$$);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'pts', 'kind', features => '{a,b}',
                                                    hyperparams => '{"num_class": 2}')$$);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'pts', 'kind', features => '{a,b}',
                                                    hyperparams => '{"num_class": 3.5}')$$);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'pts', 'value', features => '{a,b}',
                                                    hyperparams => '{"nthread": 100000}')$$);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'pts', 'value', features => '{a,b}',
                                                    hyperparams => '{"nthread": "two"}')$$);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'pts', 'value', features => '{a,b}',
                                                    hyperparams => '{"n_jobs": 100000}')$$);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'pts', 'value', features => '{a,b}',
                                                    hyperparams => '{"nthread": 1e400}')$$);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'pts', 'flag', features => '{a,b}',
                                                    hyperparams => '{"objective": "binary:hinge"}')$$);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'pts', 'value', features => '{a,b}',
                                                    hyperparams => '{"max_depth": "deep"}')$$);
-- max_bin below XGBoost's bound of 2 (or not an integer): the hist matrix is built with it before the
-- booster checks its parameters, which failed there as 38000
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'pts', 'value', features => '{a,b}',
                                                    hyperparams => '{"tree_method": "hist", "max_bin": 0}')$$);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'pts', 'value', features => '{a,b}',
                                                    hyperparams => '{"tree_method": "hist", "max_bin": "many"}')$$);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'pts', 'value', features => '{a,b}',
                                                    hyperparams => '{"eta": null}')$$);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'pts', 'value', features => '{a,b}',
                                                    hyperparams => '{"eval_metric": [1]}')$$);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'pts', 'value', features => '{a,b}',
                                                    hyperparams => '{"n_estimators": 1e400}')$$);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'pts', 'value', features => '{a,b}',
                                                    hyperparams => '{"eta": 1e400}')$$);
-- a string spelling NaN or an infinity: XGBoost's parser takes it, and "eta": "NaN" trained a model
-- predicting NaN for every row (with no metric); other strings still reach XGBoost
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'pts', 'value', features => '{a,b}',
                                                    hyperparams => '{"n_estimators": 2, "eta": "NaN"}')$$);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'pts', 'value', features => '{a,b}',
                                                    hyperparams => '{"n_estimators": 2, "lambda": " -inf "}')$$);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('eta_text', 'pts', 'value', features => '{a,b}',
                                                    hyperparams => '{"n_estimators": 2, "eta": "0.3", "tree_method": "hist"}')$$);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'SELECT a, b, CASE WHEN id = 7 THEN ''Infinity'' ELSE value END AS value FROM pts',
                                                    'value', features => '{a,b}', hyperparams => '{"n_estimators": 2}')$$);
-- what XGBoost refuses only as it boosts or evaluates the first round: the hyperparameters against
-- each other or the targets, 22023 as the rest of bad input (it was 38000)
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'pts', 'value', features => '{a,b}',
                                                    hyperparams => '{"max_depth": 0, "tree_method": "exact"}')$$);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'SELECT a, b, -value AS value FROM pts', 'value',
                                                    hyperparams => '{"objective": "reg:gamma"}')$$);
-- a log-link objective's margin starts at log(base_score), which XGBoost does not check as it
-- checks a logistic one's: base_score 0 trained a model predicting 0 for every row, a negative
-- one a model predicting NaN, with no metric
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'pts', 'value', features => '{a,b}',
                                                    hyperparams => '{"objective": "count:poisson", "base_score": 0}')$$, false, true);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'pts', 'value', features => '{a,b}',
                                                    hyperparams => '{"objective": "reg:gamma", "base_score": -1}')$$);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'pts', 'value', features => '{a,b}',
                                                    hyperparams => '{"objective": "reg:tweedie", "base_score": "0"}')$$);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'pts', 'flag', features => '{a,b}',
                                                    hyperparams => '{"base_score": 1}')$$);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'pts', 'flag', features => '{a,b}',
                                                    hyperparams => '{"eval_metric": "mlogloss"}')$$);
-- finite in float8 but beyond float32, which XGBoost takes: out of range (22003), as an infinity
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'SELECT a * 1e39 AS a, b, value FROM pts',
                                                    'value', features => '{a,b}', hyperparams => '{"n_estimators": 2}')$$);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'SELECT a, b, value * 1e300 AS value FROM pts',
                                                    'value', features => '{a,b}', hyperparams => '{"n_estimators": 2}')$$);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'pts', 'value', features => '{a,b}',
                                                    hyperparams => '{"early_stopping_rounds": 2}',
                                                    test_fraction => 0)$$);
-- early stopping without a metric to follow (no eval_metric, the default one disabled): it never
-- stopped, and left no best_iteration; Python refuses it too
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'pts', 'value', features => '{a,b}',
                                                    hyperparams => '{"early_stopping_rounds": 2, "disable_default_eval_metric": true}')$$, true);
-- early stopping on a metric XGBoost evaluates as NaN (auc of a regression's targets): no round
-- improved on the first, and the model kept that round alone
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'pts', 'value', features => '{a,b}',
                                                    hyperparams => '{"early_stopping_rounds": 2, "eval_metric": "auc"}')$$, true, true);
-- one training row and no test row: the detail counts it as one row
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'SELECT 1.0::float8 AS y, 2.0::float8 AS x', 'y',
                                                    hyperparams => '{"early_stopping_rounds": 2}',
                                                    test_fraction => 0.01)$$, false, true);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'pts', 'value', features => '{a,b}',
                                                    hyperparams => '[1]')$$);
-- early stopping keeps the best round's model, which a gblinear model cannot be cut back to:
-- refused before training (it failed with 38000 after the last round)
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'pts', 'value', features => '{a,b}',
                                                    hyperparams => '{"booster": "gblinear", "early_stopping_rounds": 2}')$$);
SET mlops.max_training_memory = '1MB';
CREATE TABLE wide AS SELECT i AS id, random() AS a, random() AS b, random() AS c, random() AS d,
                            random() AS e, random() AS f, random() AS y
                       FROM generate_series(1, 40000) i;
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'wide', 'y')$$);
-- the histogram methods keep every feature's gradient histogram per tree node: deep trees take
-- far more than the matrices (here the backend grew by 16 MB at max_depth 4, 147 MB at 12, and
-- 305 MB growing lossguide to 4096 leaves)
SET mlops.max_training_memory = '32MB';
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'wide', 'y', hyperparams => '{"tree_method": "hist", "max_depth": 12}')$$);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'wide', 'y', hyperparams => '{"tree_method": "approx", "max_depth": 0, "grow_policy": "lossguide", "max_leaves": 4096}')$$);
RESET mlops.max_training_memory;
-- a source whose test rows change between the passes (a copy of test row 4,
-- the training rows as they were) is refused, with what differed and a hint
\i test/lib/pass_rows.sql
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'SELECT g::float8 AS x, (g % 3) AS y FROM pg_temp.pass_rows(''t.dup'', 300, 300, 4) g', 'y', 'xgboost')$$, true, true);
SELECT count(*) AS models_named_bad FROM mlops.model WHERE name = 'bad';
SELECT count(*) AS runs FROM mlops.runs;
