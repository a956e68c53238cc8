-- train(): what a version and its run record, the deterministic stratified
-- split, the aggregate, and every bad input as a clear error with its SQLSTATE
-- that registers nothing and leaves the session usable.
CREATE EXTENSION mlops;
\set SHOW_CONTEXT never
\i test/lib/sqlstate.sql
\set ECHO none
\i test/data/load.sql
\set ECHO all

-- a regression with the default split (0.2, seed 42: each row a test row with probability 0.2)
SELECT model, version, run_id IS NOT NULL AS has_run, (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(metrics) k) AS metrics
  FROM mlops.train('diab', 'diabetes', 'target', 'linear');
SELECT name, version, algorithm, task, features, target, classes, hyperparams, train_rows, test_rows,
       skipped_rows, data_fingerprint ~ ('^' || train_rows || ':[0-9a-f]{16}$') AS fingerprint_ok, artifact_format, aliases
  FROM mlops.model_versions WHERE name = 'diab';
SELECT s->>'name' AS name, s->>'kind' AS kind, round((s->>'impute')::numeric, 6) AS impute
  FROM mlops.model_version v, jsonb_array_elements(v.spec->'inputs') s
 WHERE v.model_id = (SELECT id FROM mlops.model WHERE name = 'diab') LIMIT 3;
SELECT a->'terms' AS terms, jsonb_array_length(a->'coef'->0) AS ncoef, a->'stats' ? 'condition_number' AS has_stats
  FROM (SELECT convert_from(artifact, 'UTF8')::jsonb AS a FROM mlops.model_version
         WHERE model_id = (SELECT id FROM mlops.model WHERE name = 'diab')) x;
-- the run: finished, with params, metrics, row counts and the fingerprint
SELECT experiment, status, params, (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(metrics) k) AS metrics,
       metrics->'train_rows' AS train_rows, metrics->'test_rows' AS test_rows, tags ? 'data_fingerprint' AS fingerprint
  FROM mlops.runs;

-- the same rows and seed: the same split, fingerprint and metrics; in any physical order
CREATE TABLE diabetes_shuffled AS SELECT * FROM diabetes ORDER BY md5(s5::text || bmi::text);
CREATE FUNCTION pg_temp.rounded(m jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT jsonb_object_agg(key, round(value::numeric, 9)) FROM jsonb_each_text(m) $$;
SELECT (SELECT pg_temp.rounded(metrics) FROM mlops.train('diab', 'diabetes', 'target', 'linear')) =
       (SELECT pg_temp.rounded(metrics) FROM mlops.train('diab2', 'diabetes_shuffled', 'target', 'linear')) AS same_metrics;
SELECT count(DISTINCT data_fingerprint) AS fingerprints, count(DISTINCT pg_temp.rounded(metrics)) AS metrics
  FROM mlops.model_versions WHERE name IN ('diab', 'diab2');
-- another seed: another split
SELECT version FROM mlops.train('diab', 'diabetes', 'target', 'linear', seed => 7);
SELECT count(DISTINCT data_fingerprint) AS fingerprints FROM mlops.model_versions WHERE name = 'diab';

-- classification: task inferred from the algorithm; the split is stratified:
-- round(0.2 × 212) + round(0.2 × 357) = 42 + 71 test rows
SELECT model, version FROM mlops.train('bc', 'breast_cancer', 'target', 'logistic',
                                        hyperparams => '{"C": 0.5, "max_iter": 50}');
SELECT task, classes, hyperparams, train_rows, test_rows FROM mlops.model_versions WHERE name = 'bc';
-- a query source, chosen features, multinomial
SELECT model, version FROM mlops.train('w', 'SELECT * FROM wine WHERE alcohol > 0', 'target', 'logistic',
                                        features => '{alcohol, flavanoids, color_intensity}', test_fraction => 0.25);
SELECT v.features, v.classes, v.train_rows, v.test_rows,
       jsonb_array_length(convert_from(v.artifact, 'UTF8')::jsonb->'coef') AS outputs
  FROM mlops.model_versions m JOIN mlops.model_version v ON v.run_id = m.run_id WHERE m.name = 'w';
-- per-iteration objective logged with step = iteration
SELECT count(*) > 1 AS iterations_logged FROM mlops.metric_history h JOIN mlops.model_versions v USING (run_id)
 WHERE v.name = 'w' AND h.key = 'train_objective';
-- ridge keeps a constant feature (coefficient 0)
CREATE TABLE consts AS SELECT g::float8 AS x, 1.0::float8 AS c, (2 * g + 1)::float8 AS y FROM generate_series(1, 20) g;
SELECT version FROM mlops.train('rc', 'consts', 'y', 'ridge', test_fraction => 0);
SELECT round((convert_from(artifact, 'UTF8')::jsonb->'coef'->0->>1)::numeric, 9) AS coef_c
  FROM mlops.model_version v JOIN mlops.model m ON m.id = v.model_id WHERE m.name = 'rc';
-- a feature constant but for its NULLs is imputed with exactly its value, so it stays constant: the
-- sum's rounding (78 × 0.1 / 78 is 0.09999999999999985) made it vary, and linear fitted it as an
-- indicator of the NULLs, with a coefficient of -3e16
CREATE TABLE const_nulls AS SELECT g::float8 AS x, CASE WHEN g % 4 <> 0 THEN 0.1::float8 END AS c,
                                   (2 * g + 1 + (g % 4 = 0)::int * 5)::float8 AS y FROM generate_series(1, 103) g;
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'const_nulls', 'y', 'linear', test_fraction => 0)$$);
SELECT version FROM mlops.train('rcn', 'const_nulls', 'y', 'ridge', test_fraction => 0);
SELECT spec->'inputs'->1->'impute' AS impute_c FROM mlops.model_version v JOIN mlops.model m ON m.id = v.model_id
 WHERE m.name = 'rcn';

-- numbers are stored exactly whatever extra_float_digits says
SELECT version FROM mlops.train('exact', 'diabetes', 'target', 'linear', test_fraction => 0);
SET extra_float_digits = -3;
SELECT version FROM mlops.train('exact', 'diabetes', 'target', 'linear', test_fraction => 0);
RESET extra_float_digits;
SELECT count(DISTINCT v.artifact_sha256) AS artifacts, count(DISTINCT v.spec) AS specs
  FROM mlops.model_versions m JOIN mlops.model_version v ON v.run_id = m.run_id WHERE m.name = 'exact';

-- test rows that do not fit in mlops.max_training_memory are read again, not an error (13MB holds the
-- drift profile's 200,000-row sample while it prunes, 13.0 MB, but not the 1.1 MB of test rows beside it)
SELECT version FROM mlops.train('reread', 'SELECT g::float8 AS a, (g % 13)::float8 AS b, sqrt(g) AS y FROM generate_series(1, 200000) g', 'y', 'ridge');
SET mlops.max_training_memory = '13MB';
SELECT version FROM mlops.train('reread', 'SELECT g::float8 AS a, (g % 13)::float8 AS b, sqrt(g) AS y FROM generate_series(1, 200000) g', 'y', 'ridge');
RESET mlops.max_training_memory;
SELECT count(DISTINCT pg_temp.rounded(metrics)) AS metrics, count(DISTINCT data_fingerprint) AS fingerprints, min(test_rows) > 39000 AS test_rows
  FROM mlops.model_versions WHERE name = 'reread';
-- ... even when what the algorithm needs comes after them: logistic's Hessian workspace
-- (34648 kB with the 1190 kB of kept test rows, 33926 kB at the most without them)
SELECT $$SELECT (hashint4(g) % 3)::text AS c1, (hashint4(g + 1) % 3)::text AS c2, (hashint4(g + 2) % 3)::text AS c3,
                (hashint4(g + 3) % 3)::text AS c4, (hashint4(g + 4) % 3)::text AS c5, (hashint4(g + 5) % 3)::text AS c6,
                (hashint4(g) % 5 = 0)::int AS y FROM generate_series(1, 100000) g$$ AS cat_src \gset
SELECT version FROM mlops.train('reread_logistic', :'cat_src', 'y', 'logistic');
SET mlops.max_training_memory = '34500kB';
SELECT version FROM mlops.train('reread_logistic', :'cat_src', 'y', 'logistic');
RESET mlops.max_training_memory;
SELECT count(DISTINCT pg_temp.rounded(metrics)) AS metrics FROM mlops.model_versions WHERE name = 'reread_logistic';
-- logistic's Hessian is summed over blocks of rows (a cancel is honoured between them): its
-- workspace is one block (2777 rows of 600 terms, 13 MB, at most 1e9 multiply-adds), not a copy of
-- the design (8000 rows, 38 MB)
SET mlops.max_training_memory = '64MB';
SELECT version FROM mlops.train('wide_logistic', $$SELECT (abs(hashint4(g)) % 600)::text AS c,
    ((abs(hashint4(g)) % 600) % 3 = 0 OR hashint4(g * 3) % 4 = 0)::int AS y FROM generate_series(1, 10000) g$$, 'y', 'logistic');
RESET mlops.max_training_memory;
-- the version's drift profile counts against the limit: its row sample (every numeric input of up
-- to 200,000 rows) and the building of its jsonb take far more than linear's normal equations
-- (100 features, 20,000 rows: about 130 MB in all, the profile's jsonb alone 8 MB)
SELECT 'SELECT (g % 7)::float8 AS y, ' || string_agg(format('sin(g * %s.5) AS x%s', i, i), ', ') ||
       ' FROM generate_series(1, 20000) g' AS wide_src FROM generate_series(1, 100) i \gset
SET mlops.max_training_memory = '16MB';
SELECT pg_temp.sqlstate(format('SELECT * FROM mlops.train(%L, %L, %L, %L)', 'wide_profile', :'wide_src', 'y', 'linear'));
RESET mlops.max_training_memory;
SELECT count(*) AS versions FROM mlops.model_versions WHERE name = 'wide_profile';

-- a trainer reads sources with its own privileges (train() is not SECURITY DEFINER)
CREATE ROLE regress_train_ana;
GRANT mlops_trainer TO regress_train_ana;
CREATE TABLE secret AS SELECT * FROM diabetes;
GRANT SELECT ON diabetes TO regress_train_ana;
SET ROLE regress_train_ana;
SELECT model, version FROM mlops.train('ana', 'diabetes', 'target', 'ridge');
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('ana', 'secret', 'target', 'ridge')$$);
SELECT name, version, created_by FROM mlops.model_versions WHERE name = 'ana';
RESET ROLE;
DROP OWNED BY regress_train_ana;
DROP ROLE regress_train_ana;

-- the aggregate runs in parallel workers
SET max_parallel_workers_per_gather = 2;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
EXPLAIN (COSTS OFF) SELECT mlops.linear_fit(mlops.linear_stats(target, ARRAY[age, bmi, bp])) FROM diabetes;
SELECT round((f->>'intercept')::numeric, 6) AS intercept, round((f->'coef'->>1)::numeric, 6) AS bmi, f->'n' AS n
  FROM (SELECT mlops.linear_fit(mlops.linear_stats(target, ARRAY[age, bmi, bp])) AS f FROM diabetes) x;
RESET max_parallel_workers_per_gather;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
SELECT pg_temp.sqlstate($$SELECT mlops.linear_stats(y, (ARRAY[y, y])[1:(y::int % 2) + 1]) FROM generate_series(1, 3) y(y)$$);
SELECT pg_temp.sqlstate($$SELECT mlops.linear_fit('\x0102')$$);
SELECT pg_temp.sqlstate($$SELECT mlops.linear_fit(mlops.linear_stats(target, ARRAY[age])) FROM diabetes WHERE false$$);
-- rows all skipped are no rows: NULL whether their target is NULL or NaN, or an input NULL or NaN,
-- and a value of no rows (a merge of such values) fits to NULL too
SELECT v, mlops.linear_stats(y, x) IS NULL AS stats_null, mlops.linear_fit(mlops.linear_stats(y, x)) IS NULL AS fit_null
  FROM (VALUES ('NULL y', NULL::float8, '{1}'::float8[]), ('NaN y', 'NaN', '{1}'), ('NULL x', 1, NULL),
               ('NULL input', 1, '{NULL}'), ('NaN input', 1, '{NaN}')) v(v, y, x)
 GROUP BY v ORDER BY v;
SELECT mlops.linear_fit(('\x00000000' || repeat('00', 8 * 3))::bytea) IS NULL AS no_rows_fit_null;
SELECT pg_temp.sqlstate($$SELECT mlops.linear_fit(('\x00000000' || repeat('00', 8 * 3))::bytea, -1)$$);
-- a NULL alpha is refused, whether or not there are rows
SELECT pg_temp.sqlstate($$SELECT mlops.linear_fit(mlops.linear_stats(target, ARRAY[age]), NULL) FROM diabetes$$);
SELECT pg_temp.sqlstate($$SELECT mlops.linear_fit(NULL, NULL)$$);
-- an exact fit: its residual sum of squares, a difference of sums of squares, is never below 0, so r2 and adj_r2 never exceed 1
SELECT count(*) AS fits, max((f->>'r2')::float8) <= 1 AS r2_at_most_1, max((f->>'adj_r2')::float8) <= 1 AS adj_r2_at_most_1
  FROM (SELECT mlops.linear_fit(mlops.linear_stats(a * g + 1, ARRAY[g::float8])) AS f
          FROM generate_series(3, 12) n, (VALUES (0.1::float8), (0.3), (0.7), (1.1), (3.0)) v(a), generate_series(1, n) g
         GROUP BY n, a) s;

-- a logistic regression stopped after one iteration warns in the singular
\set VERBOSITY terse
SELECT version FROM mlops.train('one_iteration', 'SELECT g::float8 AS x, g % 2 AS y FROM generate_series(1, 50) g', 'y', 'logistic', hyperparams => '{"max_iter": 1}', test_fraction => 0);
\set VERBOSITY default
-- bad input: each a clear error, nothing registered, the session usable
SELECT count(*) AS versions FROM mlops.model_version \gset
SELECT count(*) AS runs FROM mlops.run \gset
CREATE TABLE empty (x float8, y float8);
CREATE TABLE nulls AS SELECT g::float8 AS x, NULL::float8 AS n, g::float8 AS y FROM generate_series(1, 10) g;
CREATE TABLE wide AS SELECT g::float8 AS a, (g * g)::float8 AS b, (g % 2)::float8 AS c, sqrt(g) AS d, g::float8 AS y
  FROM generate_series(1, 3) g;
CREATE TABLE collinear AS SELECT g::float8 AS x1, (2 * g + 3)::float8 AS x2, (g % 3)::float8 AS x3,
                                 (g + random())::float8 AS y FROM generate_series(1, 30) g;
CREATE TABLE typed AS SELECT g::float8 AS x, now()::date AS d, g::text AS label, g::float8 AS y FROM generate_series(1, 10) g;
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'empty', 'y', 'linear')$$);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'SELECT * FROM diabetes WHERE false', 'target', 'linear')$$);
-- a NaN target is skipped like a NULL one, and the error's detail says so
SELECT pg_temp.sqlstate($q$SELECT * FROM mlops.train('bad', $$SELECT 'NaN'::float8 AS y, g::float8 AS x FROM generate_series(1, 3) g$$, 'y', 'linear')$q$, false, true);
-- more than 10000 classes or categories is a program limit
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'SELECT g::int AS y, g::float8 AS x FROM generate_series(1, 10001) g', 'y', 'logistic')$$);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'SELECT g % 3 AS y, g::text AS c FROM generate_series(1, 10001) g', 'y', 'linear', test_fraction => 0)$$);
-- a source whose rows change between the first pass and the evaluation one is
-- refused, with what differed and a hint
\i test/lib/pass_rows.sql
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'SELECT g::float8 AS x, (g % 3)::float8 AS y FROM pg_temp.pass_rows(''t.grow'', 300, 301) g', 'y', 'linear', test_fraction => 0)$$, true, true);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'SELECT g::float8 AS x, (g % 3)::float8 AS y FROM pg_temp.pass_rows(''t.shrink'', 300, 299) g', 'y', 'linear', test_fraction => 0)$$, true, true);
-- a class the first pass did not see is told exactly
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'SELECT g::float8 AS x, CASE WHEN g > 300 THEN 1234567.5 ELSE g % 2 END AS y FROM pg_temp.pass_rows(''t.newclass'', 300, 300, 301) g', 'y', 'logistic', test_fraction => 0)$$, false, true);
-- one row reads as one row in those details
SELECT pg_temp.sqlstate($q$SELECT * FROM mlops.train('bad', $$SELECT 'NaN'::float8 AS y, 1::float8 AS x$$, 'y', 'linear')$q$, false, true);
SELECT pg_temp.sqlstate($q$SELECT * FROM mlops.train('bad', 'SELECT 1.0::float8 AS x, 2.0::float8 AS y', 'y', 'ridge', test_fraction => 0.99)$q$, false, true);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'SELECT g::float8 AS x, (g % 3)::float8 AS y FROM pg_temp.pass_rows(''t.one_grow'', 1, 2) g', 'y', 'ridge', test_fraction => 0)$$, false, true);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'SELECT g::float8 AS x, (g % 3)::float8 AS y FROM pg_temp.pass_rows(''t.one_gone'', 1, 0) g', 'y', 'ridge', test_fraction => 0)$$, false, true);
SELECT pg_temp.sqlstate($q$SELECT * FROM mlops.train('bad', $$SELECT 1.0::float8 AS y, NULL::float8 AS x$$, 'y', 'linear', test_fraction => 0)$q$, false, true);
SELECT pg_temp.sqlstate($q$SELECT * FROM mlops.train('bad', $$SELECT 1.0::float8 AS y, NULL::text AS x$$, 'y', 'linear', test_fraction => 0)$q$, false, true);
SELECT pg_temp.sqlstate($q$SELECT * FROM mlops.train('bad', $$SELECT 1.0::float8 AS y, 2.0::float8 AS x$$, 'y', 'linear', test_fraction => 0)$q$, false, true);
-- a feature of NaN values only has no value either, and the detail says so
SELECT pg_temp.sqlstate($q$SELECT * FROM mlops.train('bad', $$SELECT g::float8 AS y, 'NaN'::float8 AS x FROM generate_series(1, 3) g$$, 'y', 'linear')$q$, true, true);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'nulls', 'y', 'linear')$$);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'consts', 'y', 'linear')$$);
-- values within 1e-154 of 0 differ by less than float8's squares can hold: the detail says why they read as constant
SELECT pg_temp.sqlstate($q$SELECT * FROM mlops.train('bad', $$SELECT g * 1e-200 AS x, g::float8 AS y FROM generate_series(1, 20) g$$, 'y', 'linear')$q$, true, true);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'wide', 'y', 'linear', test_fraction => 0)$$);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'SELECT 1.0::float8 AS x, 2.0::float8 AS y', 'y', 'ridge', test_fraction => 0.99)$$);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'SELECT 1.0::float8 AS x, ''a''::text AS c, 2.0::float8 AS y', 'y', 'ridge', test_fraction => 0.99)$$);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'collinear', 'y', 'linear')$$);
-- a ridge penalty too small to make them independent: the hint is to raise it, not to use ridge
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'collinear', 'y', 'ridge', hyperparams => '{"alpha": 1e-300}')$$, true);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'SELECT x, 1 AS y FROM consts', 'y', 'logistic')$$);
-- the single class is told exactly (9.0072e+15 in 6 digits)
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'SELECT x, 9007199254740992 + (x > 0)::int AS y FROM consts', 'y', 'logistic')$$, false, true);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'typed', 'label', 'linear', features => '{x}')$$);
-- the hint's cast names the target as SQL must (quoted when it needs to be)
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'SELECT x, label AS "Label" FROM typed', 'Label', 'linear', features => '{x}')$$, true, true);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'typed', 'y', 'linear')$$);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'diabetes', 'nope', 'linear')$$);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'diabetes', 'target', 'linear', features => '{age, nope}')$$);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'diabetes', 'target', 'linear', features => '{age, age}')$$);
-- a source of two columns of one name: which one is meant is not guessed, whether named or taken by default
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'SELECT age, bmi AS age, target FROM diabetes', 'target', 'linear')$$, true);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'SELECT age, bmi AS target, target FROM diabetes', 'target', 'linear', features => '{age}')$$, true);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'diabetes', 'target', 'linear', features => '{age, target}')$$);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'diabetes', 'target', 'linear', features => '{}')$$);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'diabetes', 'target', 'linear', features => '{{age},{bmi}}')$$);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'no_such_table', 'target', 'linear')$$);
-- a name that needs quoting is an invalid name, also when its first word begins with a keyword's letters
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'select1 data', 'target', 'linear')$$);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'update$ data', 'target', 'linear')$$);
-- an empty source and one of white space only name nothing alike
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', '', 'target', 'linear')$$);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', E'  \t\n', 'target', 'linear')$$);
-- semicolons alone are empty statements: the source is still empty, not a relation named ";"
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', ';', 'target', 'linear')$$);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', E'/* none */ ;\n; -- nor here', 'target', 'linear')$$);
-- a name may end with semicolons, as a query may: 'diabetes;' is diabetes, not a relation named "diabetes;"
SELECT pg_temp.sqlstate($$SELECT mlops.compare('diabetes;', E'diabetes ;\n;')$$);
SELECT pg_temp.sqlstate($$SELECT mlops.compare('"diabetes;"', 'diabetes')$$);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'diabetes', 'target', 'ridge', hyperparams => '{"alpah": 1}')$$);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'diabetes', 'target', 'ridge', hyperparams => '{"alpha": "1"}')$$);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'diabetes', 'target', 'ridge', hyperparams => '{"alpha": -1}')$$);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'diabetes', 'target', 'ridge', hyperparams => '[1]')$$);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'diabetes', 'target', 'linear', hyperparams => '{"alpha": 1}')$$);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'breast_cancer', 'target', 'logistic', hyperparams => '{"max_iter": 1.5}')$$);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'breast_cancer', 'target', 'logistic', hyperparams => '{"C": 0}')$$);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'diabetes', 'target', 'linear', test_fraction => -0.1)$$);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'diabetes', 'target', 'linear', test_fraction => 1)$$);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'diabetes', 'target', 'linear', test_fraction => 'NaN')$$);
-- a value just above 1 is told exactly, not as the 1 it rounds to in 6 digits
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'diabetes', 'target', 'linear', test_fraction => 1.0000000000000002)$$);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'diabetes', 'target', 'forest')$$);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'diabetes', 'target', 'logistic', task => 'regression')$$);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'diabetes', 'target', 'linear', task => 'clustering')$$);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train(NULL, 'diabetes', 'target', 'linear')$$);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'diabetes', 'target', 'linear', seed => NULL)$$);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad name!', 'diabetes', 'target', 'linear')$$);
-- the model name is checked before anything else (it was at the registration, once trained, and an
-- empty one, also the default experiment's, was refused by start_run as an experiment name)
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad name!', 'no_such_table', 'target', 'linear')$$);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('', 'diabetes', 'target', 'linear')$$);
-- beyond float8: out of range (22023), not a float8 input error
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'diabetes', 'target', 'ridge', hyperparams => '{"alpha": 1e400}')$$);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'breast_cancer', 'target', 'logistic', hyperparams => '{"max_iter": 1e400}')$$);
-- an infinite target or feature (or a numeric beyond float8) is refused, not
-- trained into NaN coefficients or reported as a constant feature
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'SELECT x, CASE WHEN x = 3 THEN ''Infinity'' ELSE y END AS y FROM nulls', 'y', 'linear')$$);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'SELECT CASE WHEN x = 3 THEN ''-Infinity'' ELSE x END AS x, y FROM nulls', 'y', 'ridge', test_fraction => 0)$$);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'SELECT x::numeric * 1e400 AS x, y FROM nulls', 'y', 'linear')$$);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'SELECT x, (x > 5)::int AS y, CASE WHEN x = 3 THEN ''Infinity''::float8 END AS z FROM nulls', 'y', 'logistic')$$);
-- finite values whose squares overflow: an error, not NaN coefficients
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'SELECT x * 1e200 AS x, y FROM nulls', 'y', 'linear')$$);
-- and in logistic's Newton steps, or a C so large that the objective overflows: an error, not
-- the all-zero model Newton's method would leave
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'SELECT x * 1e155 AS x, (x > 5)::int AS y FROM nulls', 'y', 'logistic')$$);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'SELECT x, (x > 5)::int AS y FROM nulls', 'y', 'logistic', hyperparams => '{"C": 1e308}')$$);
SET mlops.max_training_memory = '1MB';
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'SELECT g::float8 AS x, g % 2 AS y FROM generate_series(1, 100000) g', 'y', 'logistic')$$);
RESET mlops.max_training_memory;
SELECT count(*) - :versions AS new_versions FROM mlops.model_version;
SELECT count(*) - :runs AS new_runs, count(*) FILTER (WHERE status = 'running') AS running FROM mlops.run;
SELECT 1 AS session_usable;
-- a row without a target is skipped, whatever its features hold
SELECT version > 0 AS trained FROM mlops.train('skips_inf',
    'SELECT CASE WHEN x = 3 THEN ''Infinity'' ELSE x END AS x, CASE WHEN x <> 3 THEN y END AS y FROM nulls',
    'y', 'linear', test_fraction => 0);
SELECT skipped_rows FROM mlops.model_versions WHERE name = 'skips_inf';
-- column names holding "=": the terms of a linear design are matched to the inputs in their order,
-- not by name, where a numeric "a=v" and the indicator of category v of a text "a" are one term
-- (predictions were silently off), and a text column "c=d" names no input before its "="
CREATE TABLE eq_names AS
SELECT (g % 7)::float8 AS "a=v", CASE WHEN g % 2 = 0 THEN 'u' ELSE 'v' END AS a,
       (g % 3)::text AS "c=d", (10 * (g % 7) + 100 * (g % 2) + 1000 * (g % 3))::float8 AS y
  FROM generate_series(1, 60) g;
SELECT version FROM mlops.train('eq_names', 'eq_names', 'y', 'linear', test_fraction => 0);
SELECT count(*) FILTER (WHERE round(mlops.predict('eq_names', e)) = y) AS correct, count(*) FROM eq_names e;
SELECT jsonb_object_keys(mlops.explain('eq_names', e) -> 'contributions') AS input FROM eq_names e LIMIT 3;
-- inputs that are all of a single category make no term: the version is an
-- intercept-only model, scored as such (it was registered, then every
-- predict, explain and evaluate of it failed with XX001 "lacks terms")
SELECT version FROM mlops.train('one_category', 'SELECT ''same''::text AS c, (g % 3)::float8 AS y FROM generate_series(1, 30) g',
                                'y', 'linear', test_fraction => 0);
SELECT mlops.predict('one_category', ARRAY[0]), mlops.explain('one_category', (SELECT r FROM (SELECT 'other'::text AS c) r)),
       mlops.evaluate('one_category', 'SELECT ''same''::text AS c, 1::float8 AS y')->'mae' AS mae;
-- a query source may start and end with comments and end in semicolons
SELECT round((mlops.evaluate('eq_names', E'-- every row\n/* a /* nested */ comment */ SELECT * FROM eq_names -- all of them\n;\n')->>'mae')::numeric, 6) AS mae;
SELECT pg_temp.sqlstate($$SELECT mlops.evaluate('eq_names', E'-- no query')$$);
-- comments after the semicolon too (the query is what the parser delimits); two statements are refused
SELECT round((mlops.evaluate('eq_names', E'SELECT * FROM eq_names; -- done')->>'mae')::numeric, 6) AS mae;
SELECT round((mlops.evaluate('eq_names', 'SELECT * FROM eq_names; /* done */ ;')->>'mae')::numeric, 6) AS mae;
SELECT pg_temp.sqlstate($$SELECT mlops.evaluate('eq_names', 'SELECT * FROM eq_names; SELECT 1')$$);
-- a keyword ends where an identifier cannot go on, as in SQL: SELECT*FROM is a query, not a name
SELECT round((mlops.evaluate('eq_names', 'SELECT*FROM eq_names')->>'mae')::numeric, 6) AS mae;
SELECT round((mlops.evaluate('eq_names', 'TABLE"eq_names"')->>'mae')::numeric, 6) AS mae;
-- a source is only read: a statement that changes data or a utility statement is refused as neither
-- a name nor a query (42601, not "invalid name syntax"), as is a WITH before a DELETE; a data-modifying
-- WITH and a locking query are refused too (0A000, not blamed on a "non-volatile function"), and no row went
SELECT pg_temp.sqlstate($$SELECT mlops.evaluate('eq_names', 'DELETE FROM eq_names RETURNING *')$$);
SELECT pg_temp.sqlstate($$SELECT mlops.evaluate('eq_names', 'SHOW work_mem')$$);
SELECT pg_temp.sqlstate($$SELECT mlops.evaluate('eq_names', 'WITH d AS (SELECT 1) DELETE FROM eq_names RETURNING *')$$);
SELECT pg_temp.sqlstate($$SELECT mlops.evaluate('eq_names', 'WITH d AS (DELETE FROM eq_names RETURNING *) SELECT * FROM d')$$);
SELECT pg_temp.sqlstate($$SELECT mlops.evaluate('eq_names', 'SELECT * FROM eq_names FOR UPDATE')$$);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.train('bad', 'TABLE eq_names FOR SHARE', 'y', 'linear')$$);
SELECT pg_temp.sqlstate($$SELECT mlops.evaluate('eq_names', 'WITH x AS (SELECT * FROM eq_names FOR UPDATE) SELECT * FROM x')$$);
SELECT count(*) AS rows_kept FROM eq_names;
-- a syntax error in a query source is shown in the source, where its position is
SELECT mlops.evaluate('eq_names', 'SELECT * FORM eq_names');
-- the split key hashes each column in turn: a feature equal to the target (or to twice it) does
-- not cancel the target out of it, which gave every row one key and put them all on one side
SELECT version > 0 AS trained FROM mlops.train('same_as_target',
    'SELECT g::float8 AS x, g::float8 AS y FROM generate_series(1, 100) g', 'y', 'ridge');
SELECT version > 0 AS trained FROM mlops.train('same_as_target',
    'SELECT g::float8 AS x, 2 * g::float8 AS y FROM generate_series(1, 100) g', 'y', 'ridge');
SELECT version, test_rows BETWEEN 10 AND 30 AS test_rows_near_20 FROM mlops.model_versions
 WHERE name = 'same_as_target' ORDER BY version;
