-- Scoring: model references, the two call forms and their overloads, linear and
-- XGBoost models, explain, import/export, and bad input with its SQLSTATEs.
CREATE EXTENSION mlops;
\set SHOW_CONTEXT never
\i test/lib/sqlstate.sql

-- a linear regression registered the way train() does: price = 10 + 2·rooms + 0.5·area + 3·[city=paris]
SELECT mlops._register_version('price', 'linear', 'regression', '{rooms,area,city}', 'price', NULL, '{}', '{}',
       '{"inputs": [{"name": "rooms", "kind": "numeric", "impute": 3},
                    {"name": "area", "kind": "numeric", "impute": 80},
                    {"name": "city", "kind": "categorical", "categories": ["lyon", "paris"], "impute": "lyon"}]}',
       NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       convert_to('{"format": "mlops-linear", "algorithm": "linear", "task": "regression",
                    "terms": ["rooms", "area", "city=paris"], "intercept": [10], "coef": [[2, 0.5, 3]]}', 'UTF8'),
       'linear-json');
CREATE TABLE houses (id int, city text, area numeric, rooms int);
INSERT INTO houses VALUES (1, 'paris', 50, 2), (2, 'lyon', 100, 4), (3, NULL, NULL, 1), (4, 'rome', 60, NULL);
-- the row form matches columns by name; NULL and unseen categories are imputed
SELECT id, mlops.predict('price', h) FROM houses h ORDER BY id;
-- every text type a categorical input takes, name (fixed-length, not a varlena, which was read as
-- one) included: paris scores 10 + 2·2 + 3 = 17; the long and the empty name are unseen (lyon, 14)
SELECT 'text' AS t, mlops.predict('price', c) FROM (SELECT 'paris'::text AS city, 0 AS area, 2 AS rooms) c
UNION ALL SELECT 'varchar', mlops.predict('price', c) FROM (SELECT 'paris'::varchar AS city, 0 AS area, 2 AS rooms) c
UNION ALL SELECT 'bpchar', mlops.predict('price', c) FROM (SELECT 'paris'::char(8) AS city, 0 AS area, 2 AS rooms) c
UNION ALL SELECT 'name', mlops.predict('price', c) FROM (SELECT 'paris'::name AS city, 0 AS area, 2 AS rooms) c
UNION ALL SELECT 'long name', mlops.predict('price', c) FROM (SELECT 'parisparisparis'::name AS city, 0 AS area, 2 AS rooms) c
UNION ALL SELECT 'empty name', mlops.predict('price', c) FROM (SELECT ''::name AS city, 0 AS area, 2 AS rooms) c;
-- the array form takes the categorical input as its index; integer and numeric arrays work
SELECT mlops.predict('price', ARRAY[2, 50, 1]), mlops.predict('price', ARRAY[2, 50.0, 1]),
       mlops.predict('price', ARRAY[2, 50, 1]::float8[]), mlops.predict('price', ARRAY[NULL, NULL, NULL]::float8[]);
SELECT mlops.explain('price', h) FROM houses h WHERE id = 1;
SELECT mlops.predict('price:1', ARRAY[1, 1, 0]), mlops.predict('price@production', ARRAY[1, 1, 0]),
       mlops.predict_version('price', 1, ARRAY[1, 1, 0]);
SELECT p.proname, pg_get_function_identity_arguments(p.oid) AS arguments, p.provolatile, p.proparallel, p.proisstrict
  FROM pg_proc p WHERE p.pronamespace = 'mlops'::regnamespace
   AND p.proname IN ('predict', 'predict_proba', 'predict_version', 'explain', 'import_model', 'export_model')
 ORDER BY 1, 2;

-- an input of a kind scoring does not know: the registration is refused with scoring's error for
-- a malformed version (XX001), and a version stored all the same (written into the registry's
-- table as a restore would) fails at scoring with it, rather than scoring the input as a number
SELECT pg_temp.sqlstate($$SELECT mlops._register_version('oddkind', 'linear', 'regression', '{rooms,city}', 'price',
       NULL, '{}', '{}', '{"inputs": [{"name": "rooms", "kind": "numeric"}, {"name": "city", "kind": "Categorical"}]}',
       NULL, NULL, NULL, NULL, NULL, NULL, NULL, '\x00', 'linear-json')$$, show_detail => true);
SELECT count(*) AS oddkind_models FROM mlops.models WHERE name = 'oddkind';
INSERT INTO mlops.model_version (model_id, version, algorithm, task, features, target, spec, artifact, artifact_format,
                                 created_by)
SELECT v.model_id, 1000, v.algorithm, v.task, v.features, v.target, jsonb_set(v.spec, '{inputs,0,kind}', '"count"'),
       v.artifact, v.artifact_format, v.created_by
  FROM mlops.model_version v JOIN mlops.model m ON m.id = v.model_id WHERE m.name = 'price' AND v.version = 1;
SELECT pg_temp.sqlstate($$SELECT mlops.predict('price:1000', ARRAY[2, 50, 1])$$, show_detail => true);
DELETE FROM mlops.model_version v USING mlops.model m WHERE m.id = v.model_id AND m.name = 'price' AND v.version = 1000;

-- an XGBoost model as Python writes it: 2 trees of one split on x, binary:logistic
SELECT mlops.import_model('clicks', convert_to($json${"learner":{"attributes":{},"feature_names":[],"feature_types":[],"gradient_booster":{"model":{"gbtree_model_param":{"num_parallel_tree":"1","num_trees":"2","size_leaf_vector":"0"},"tree_info":[0,0],"trees":[{"base_weights":[2.2222222E-1,-6.666667E-1,8.5714287E-1],"categories":[],"categories_nodes":[],"categories_segments":[],"categories_sizes":[],"default_left":[0,0,0],"id":0,"left_children":[1,-1,-1],"loss_changes":[1.8412697E0,0E0,0E0],"parents":[2147483647,0,0],"right_children":[2,-1,-1],"split_conditions":[1.5E0,-6.666667E-1,8.5714287E-1],"split_indices":[0,0,0],"split_type":[0,0,0],"sum_hessian":[1.25E0,5E-1,7.5E-1],"tree_param":{"num_deleted":"0","num_feature":"2","num_nodes":"3","size_leaf_vector":"0"}},{"base_weights":[1.0372873E-1,-4.684667E-1,5.4918826E-1],"categories":[],"categories_nodes":[],"categories_segments":[],"categories_sizes":[],"default_left":[0,0,0],"id":1,"left_children":[1,-1,-1],"loss_changes":[7.8638345E-1,0E0,0E0],"parents":[2147483647,0,0],"right_children":[2,-1,-1],"split_conditions":[1.5E0,-4.684667E-1,5.4918826E-1],"split_indices":[0,0,0],"split_type":[0,0,0],"sum_hessian":[1.075826E0,4.4831476E-1,6.2751126E-1],"tree_param":{"num_deleted":"0","num_feature":"2","num_nodes":"3","size_leaf_vector":"0"}}]},"name":"gbtree"},"learner_model_param":{"base_score":"5E-1","boost_from_average":"0","num_class":"0","num_feature":"2","num_target":"1"},"objective":{"name":"binary:logistic","reg_loss_param":{"scale_pos_weight":"1"}}},"version":[1,7,4]}$json$, 'UTF8'),
       'xgboost-json', '{x,y}', 'classification', 'clicked');
SELECT name, version, algorithm, task, features, target, classes, artifact_format, hyperparams
  FROM mlops.model_versions WHERE name = 'clicks';
SELECT experiment, run_name, status, params FROM mlops.runs WHERE experiment = 'clicks';
-- Python's own predictions for these rows: 0.243215, 0.8031866, 0.8031866 (missing x goes right)
SELECT x, y, mlops.predict_proba('clicks', ARRAY[x, y]) AS proba, mlops.predict('clicks', ARRAY[x, y]) AS label
  FROM (VALUES (0::float8, 0::float8), (3, 1), (NULL, 0)) v(x, y);
SELECT mlops.explain('clicks', ARRAY[0, 0]);
SELECT convert_from(mlops.export_model('clicks'), 'UTF8')::jsonb #> '{learner,objective,name}' AS exported_objective;
SELECT convert_from(mlops.export_model('price'), 'UTF8')::jsonb ->> 'format' AS exported_format;
-- named notation with the SQL contract's argument names: the row form of predict takes "row",
-- those of predict_proba and explain take the row as features, as their array forms do
SELECT mlops.predict(model => 'clicks', "row" => c), mlops.predict_proba(model => 'clicks', features => c),
       mlops.predict_proba(model => 'clicks', features => ARRAY[3, 1]), mlops.explain(model => 'clicks', features => c)
  FROM (SELECT 3::float8 AS x, 1::float8 AS y) c;
SELECT pg_temp.sqlstate($$SELECT mlops.predict_proba(model => 'clicks', features => NULL::record)$$);
SELECT pg_temp.sqlstate($$SELECT mlops.explain(model => 'clicks', features => NULL::record)$$);

-- bad input: clear errors, and the session goes on
SELECT pg_temp.sqlstate($$SELECT mlops.predict('nope', ARRAY[1, 2])$$);
SELECT pg_temp.sqlstate($$SELECT mlops.predict('clicks@staging', ARRAY[1, 2])$$);
SELECT pg_temp.sqlstate($$SELECT mlops.predict('clicks:7', ARRAY[1, 2])$$);
SELECT pg_temp.sqlstate($$SELECT mlops.predict('clicks', ARRAY[1, 2, 3])$$);
SELECT pg_temp.sqlstate($$SELECT mlops.predict('clicks', NULL::float8[])$$);
SELECT pg_temp.sqlstate($$SELECT mlops.predict('clicks', ARRAY[[1], [2]]::float8[])$$);
SELECT pg_temp.sqlstate($$SELECT mlops.predict_proba('price', ARRAY[1, 2, 0])$$);
SELECT pg_temp.sqlstate($$SELECT mlops.predict('price', ROW(1, 2)::record)$$);
-- a feature two columns of the row carry is ambiguous, as a reference to it would be
SELECT pg_temp.sqlstate($$SELECT mlops.predict('price', h) FROM (SELECT 3 AS rooms, 50 AS area, 'lyon' AS city, 4 AS rooms) h$$);
SELECT pg_temp.sqlstate($$SELECT mlops.predict('price', h) FROM (SELECT now() AS rooms, 1 AS area, 'lyon' AS city) h$$);
SELECT pg_temp.sqlstate($$SELECT mlops.predict('price', h) FROM (SELECT 'big'::text AS rooms, 1 AS area, 'lyon' AS city) h$$);
SELECT pg_temp.sqlstate($$SELECT mlops.import_model('bad', '\x7b226c6561726e6572', 'xgboost-json', '{x,y}', 'classification')$$);
-- a name that is no model name is refused as such before the artifact is read
SELECT pg_temp.sqlstate($$SELECT mlops.import_model('bad:3', '\x7b226c6561726e6572', 'xgboost-json', '{x,y}', 'classification')$$);
SELECT pg_temp.sqlstate($$SELECT mlops.import_model('bad', convert_to('{"a": 1}', 'UTF8'), 'xgboost-json', '{x,y}', 'classification')$$);
SELECT pg_temp.sqlstate($$SELECT mlops.import_model('bad', mlops.export_model('clicks'), 'xgboost-json', '{x}', 'classification')$$);
SELECT pg_temp.sqlstate($$SELECT mlops.import_model('bad', mlops.export_model('clicks'), 'xgboost-json', '{x,y}', 'regression')$$);
SELECT pg_temp.sqlstate($$SELECT mlops.import_model('bad', mlops.export_model('clicks'), 'xgboost-ubj', '{x,y}', 'classification')$$);
-- feature names longer than an identifier are truncated as PostgreSQL truncates identifiers (to 63
-- bytes, not within a character: here 62), so that the row forms find them among a row's columns,
-- whose names are truncated alike; two names that truncate alike are one name twice
SELECT pg_temp.sqlstate($$SELECT mlops.import_model('bad', mlops.export_model('clicks'), 'xgboost-json', ARRAY[repeat('x', 63) || 'a', repeat('x', 63) || 'b'], 'classification')$$);
SELECT mlops.import_model('long_names', mlops.export_model('clicks'), 'xgboost-json',
                          ARRAY[repeat('x', 62) || 'é and more', 'y'], 'classification');
SELECT octet_length(features[1]) AS bytes, features[1] = repeat('x', 62) AS truncated
  FROM mlops.model_versions WHERE name = 'long_names';
SELECT mlops.predict('long_names', c) = mlops.predict('clicks', ARRAY[3, 1]) AS row_form_scores
  FROM (SELECT 3::float8 AS "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxé and more", 1::float8 AS y) c;
-- the target names the column evaluate reads the actual values from: truncated as the features
-- are, and neither empty nor a feature (as train() refuses), which no source could be evaluated with
SELECT pg_temp.sqlstate($$SELECT mlops.import_model('bad', mlops.export_model('clicks'), 'xgboost-json', '{x,y}', 'classification', 'x')$$);
SELECT pg_temp.sqlstate($$SELECT mlops.import_model('bad', mlops.export_model('clicks'), 'xgboost-json', '{x,y}', 'classification', '')$$);
SELECT pg_temp.sqlstate($$SELECT mlops.import_model('bad', mlops.export_model('clicks'), 'xgboost-json', ARRAY['x', repeat('y', 63)], 'classification', repeat('y', 64))$$);
SELECT mlops.import_model('long_target', mlops.export_model('clicks'), 'xgboost-json', '{x,y}', 'classification',
                          repeat('t', 62) || 'é and more');
SELECT octet_length(target) AS bytes, target = repeat('t', 62) AS truncated
  FROM mlops.model_versions WHERE name = 'long_target';
SET client_min_messages = warning;   -- the source's column name is truncated at each of its parses
SELECT mlops.evaluate('long_target', format('SELECT 3 AS x, 1 AS y, 1 AS %I UNION ALL SELECT 0, 0, 0',
                                            repeat('t', 62) || 'é and more'))->'accuracy' AS evaluated;
RESET client_min_messages;
SELECT count(*) AS bad_models FROM mlops.models WHERE name = 'bad';
SELECT mlops.predict('clicks', ARRAY[3, 1]);

-- A model of no trees (Python's xgb.train(..., 0)) predicts its base_score, which
-- binary:logitraw adds to the margin as it is (sigmoid(0.25) = 0.562).
SELECT mlops.import_model('no_trees', convert_to($json${"learner":{"attributes":{},"feature_names":[],"feature_types":[],"gradient_booster":{"model":{"gbtree_model_param":{"num_parallel_tree":"1","num_trees":"0","size_leaf_vector":"0"},"tree_info":[],"trees":[]},"name":"gbtree"},"learner_model_param":{"base_score":"2.5E-1","boost_from_average":"0","num_class":"0","num_feature":"2","num_target":"1"},"objective":{"name":"binary:logitraw","reg_loss_param":{"scale_pos_weight":"1"}}},"version":[1,7,4]}$json$, 'UTF8'),
                          'xgboost-json', '{x,y}', 'classification');
SELECT mlops.predict_proba('no_trees', ARRAY[1, 2]) AS proba, mlops.explain('no_trees', ARRAY[1, 2]) AS explain;

-- A version number freed by a rollback is given again to the next version: a
-- backend that scored the rolled-back version must not keep scoring it from
-- its model cache (y = 2x + 1 rolled back, then y = 5x - 7 under the same number).
CREATE TABLE line_a AS SELECT i::float8 AS x, (2 * i + 1)::float8 AS y FROM generate_series(1, 50) i;
CREATE TABLE line_b AS SELECT i::float8 AS x, (5 * i - 7)::float8 AS y FROM generate_series(1, 50) i;
SELECT version FROM mlops.train('line', 'line_a', 'y', 'linear', test_fraction => 0);
BEGIN;
SELECT version FROM mlops.train('line', 'line_a', 'y', 'linear', test_fraction => 0);
SELECT round(mlops.predict('line:2', ARRAY[10])) AS rolled_back;
ROLLBACK;
SELECT version FROM mlops.train('line', 'line_b', 'y', 'linear', test_fraction => 0);
SELECT round(mlops.predict('line:2', ARRAY[10])) AS predict, round(mlops.predict_version('line', 2, ARRAY[10])) AS predict_version;
BEGIN;
SAVEPOINT before_training;
SELECT version FROM mlops.train('line', 'line_a', 'y', 'linear', test_fraction => 0);
SELECT round(mlops.predict('line:3', ARRAY[10])) AS rolled_back;
ROLLBACK TO before_training;
SELECT version FROM mlops.train('line', 'line_b', 'y', 'linear', test_fraction => 0);
SELECT round(mlops.predict('line:3', ARRAY[10])) AS predict, round((mlops.evaluate('line:3', 'line_b')->>'rmse')::numeric, 6) AS rmse;
COMMIT;
SELECT round(mlops.predict('line:3', ARRAY[10])) AS predict_after_commit;
-- one call site living across a rolled-back subtransaction (PL/pgSQL keeps its simple expressions)
DO $$
DECLARE
    v int;
BEGIN
    FOR i IN 1..2 LOOP
        BEGIN
            SELECT version INTO v FROM mlops.train('line', CASE i WHEN 1 THEN 'line_a' ELSE 'line_b' END, 'y', 'linear',
                                                   test_fraction => 0);
            RAISE NOTICE 'version %: %', v, round(mlops.predict('line:' || v, ARRAY[10]));
            IF i = 1 THEN
                RAISE EXCEPTION 'roll back';
            END IF;
        EXCEPTION WHEN raise_exception THEN
            NULL;
        END;
    END LOOP;
END
$$;
-- A call site that moves from version to version holds only the one it
-- scores with: the others go back to the cache, which keeps at most
-- mlops.model_cache_size of them, so that a statement scoring each row with
-- the model the row names (a model per customer) does not keep every model it
-- met loaded, nor grow with every change of model. Each loaded model is a
-- memory context of its own.
SET mlops.model_cache_size = 1;
CREATE FUNCTION pg_temp.models_loaded() RETURNS bigint
    LANGUAGE plpgsql AS $$
BEGIN
    RETURN (SELECT count(*) FROM pg_backend_memory_contexts WHERE name = 'mlops scoring model');
END
$$;
SELECT i, round(mlops.predict('line:' || (i - 1) % 4 + 1, ARRAY[10])) AS prediction, pg_temp.models_loaded()
  FROM generate_series(1, 8) i;
-- with no cache at all, the model a call site moves away from is freed at
-- once: the row form still scores each row with its own model's columns
SET mlops.model_cache_size = 0;
SELECT i, mlops.predict(CASE WHEN i % 2 = 1 THEN 'price' ELSE 'line:1' END, r) AS prediction
  FROM (SELECT i, 2 AS rooms, 50 AS area, 'paris' AS city, 10 AS x FROM generate_series(1, 4) i) r
 ORDER BY i;
RESET mlops.model_cache_size;
-- A cached XGBoost model holds its booster and compiled trees, not also a copy
-- of the stored artifact, which nothing reads once the booster is loaded
-- (export_model writes the booster out): its context, compiled trees and all,
-- takes less than the artifact
CREATE TABLE grid AS SELECT g AS id, (g % 97)::float8 AS a, (g % 89)::float8 AS b,
                            ((g % 97) * (g % 89) % 101)::float8 AS y
                       FROM generate_series(1, 3000) g;
SELECT version FROM mlops.train('grid', 'grid', 'y', 'xgboost', features => '{a,b}',
                                hyperparams => '{"n_estimators": 40, "max_depth": 6}');
SELECT mlops.predict('grid', ARRAY[1, 2]) IS NOT NULL AS scored;
SELECT max(c.used_bytes) < (SELECT artifact_size FROM mlops.model_versions WHERE name = 'grid') AS smaller_than_artifact
  FROM pg_backend_memory_contexts c WHERE c.name = 'mlops scoring model';
-- nor the compiler's scratch: the arrays of the last tree read, as large as
-- the largest tree, took more than the compiled nodes of a model of one big tree
CREATE TABLE onetree AS SELECT g AS id, (g::bigint * 7919 % 10007)::float8 AS a, (g::bigint * 104729 % 10009)::float8 AS b,
                               (g::bigint * 15485863 % 10037)::float8 AS c, (g::bigint * 32452843 % 10039)::float8 AS d,
                               (g % 1013)::float8 AS y
                          FROM generate_series(1, 30000) g;
SELECT version FROM mlops.train('onetree', 'onetree', 'y', 'xgboost', features => '{a,b,c,d}', test_fraction => 0,
                                hyperparams => '{"n_estimators": 1, "tree_method": "hist", "grow_policy": "lossguide",
                                                 "max_depth": 0, "max_leaves": 8192, "min_child_weight": 0, "lambda": 0}');
SET mlops.model_cache_size = 1;
SELECT mlops.predict('onetree', ARRAY[1, 2, 3, 4]) IS NOT NULL AS scored;
SELECT c.used_bytes < (SELECT artifact_size FROM mlops.model_versions WHERE name = 'onetree') AS smaller_than_artifact
  FROM pg_backend_memory_contexts c WHERE c.name = 'mlops scoring model';
RESET mlops.model_cache_size;
-- and the mapping of the row's columns, made again at each change of model,
-- replaces the previous one: memory does not grow with the query's rows
CREATE FUNCTION pg_temp.backend_memory() RETURNS numeric
    LANGUAGE sql AS $$
SELECT sum(total_bytes) FROM pg_backend_memory_contexts
$$;
SELECT max(memory) FILTER (WHERE i = 2000) - max(memory) FILTER (WHERE i = 200) < 100000 AS flat,
       count(prediction) AS scored
  FROM (SELECT i, mlops.predict(CASE WHEN i % 2 = 1 THEN 'price' ELSE 'line:1' END, r) AS prediction,
               pg_temp.backend_memory() AS memory
          FROM (SELECT i, 2 AS rooms, 50 AS area, 'paris' AS city, 10 AS x FROM generate_series(1, 2000) i) r) s;
-- An alias move rolled back is forgotten even when the snapshot looks the
-- same afterwards: here a later subtransaction's rollback has already carried
-- the snapshot's horizon past the move's transaction, so undoing the move
-- changes neither the snapshot nor its command id.
CREATE TABLE scratch (i int);
BEGIN;
SAVEPOINT alias_move;
SELECT mlops.set_alias('line', 'production', 2);
SAVEPOINT later_write;
INSERT INTO scratch VALUES (1);
ROLLBACK TO later_write;
SELECT round(mlops.predict('line', ARRAY[10])) AS moved;
ROLLBACK TO alias_move;
SELECT round(mlops.predict('line', ARRAY[10])) AS moved_back, (SELECT version FROM mlops.resolve_model('line')) AS resolves_to;
COMMIT;
-- predict_version of a version deleted since is 42704, as predict('line:4')
-- is, even from a call site that scored it before (PL/pgSQL keeps its
-- expressions, and the call sites in them, for the whole transaction)
CREATE FUNCTION pg_temp.line_version(v int) RETURNS float8
    LANGUAGE plpgsql AS $$
BEGIN
    RETURN round(mlops.predict_version('line', v, ARRAY[10]));
END
$$;
BEGIN;
SELECT pg_temp.line_version(4);
SELECT mlops.delete_version('line', 4);
SELECT pg_temp.sqlstate($$SELECT pg_temp.line_version(4)$$);
ROLLBACK;
-- predict_version is STABLE, not IMMUTABLE: it reads the registry, so a call
-- with constant arguments must not be folded into a plan kept for later
-- executions. A statement prepared while a version existed scores what the
-- registry holds when it runs: the version its number is given to again after
-- a rollback (y = 5x - 7, not the rolled-back y = 2x + 1), then 42704 once
-- that version is deleted.
BEGIN;
SELECT version AS pinned_version FROM mlops.train('line', 'line_a', 'y', 'linear', test_fraction => 0) \gset
PREPARE pinned AS SELECT round(mlops.predict_version('line', :pinned_version, ARRAY[10])) AS pinned;
EXECUTE pinned;
ROLLBACK;
SELECT version = :pinned_version AS same_number
  FROM mlops.train('line', 'line_b', 'y', 'linear', test_fraction => 0);
EXECUTE pinned;
SELECT mlops.delete_version('line', :pinned_version);
SELECT pg_temp.sqlstate('EXECUTE pinned');
DEALLOCATE pinned;
-- A PL/pgSQL variable as the model reference is a parameter, which PL/pgSQL
-- changes between evaluations of one expression (one call site): each call
-- scores the version the variable names then (line:1 is y = 2x + 1, line:2
-- y = 5x - 7). STABLE: every call under the same snapshot, where nothing else
-- tells the call site that the reference changed.
CREATE FUNCTION pg_temp.line_scores(refs text[]) RETURNS float8[]
    LANGUAGE plpgsql STABLE AS $$
DECLARE
    ref text;
    scores float8[] := '{}';
BEGIN
    FOREACH ref IN ARRAY refs LOOP
        scores := scores || round(mlops.predict(ref, ARRAY[10]));
    END LOOP;
    RETURN scores;
END
$$;
SELECT pg_temp.line_scores('{line:1,line:2,line:1}');
-- a negative version names no version either, and an empty name no model
-- (not invalid references "line:-1" and ":1", 22023)
SELECT pg_temp.sqlstate($$SELECT mlops.predict_version('line', -1, ARRAY[10])$$);
SELECT pg_temp.sqlstate($$SELECT mlops.predict_version('', 1, ARRAY[10])$$);
-- A row-form call site kept across an ALTER TABLE of the row's type maps the
-- columns again, by their new positions (PL/pgSQL keeps the call site for the
-- transaction, a procedure across its COMMITs)
CREATE TABLE flat (city text, area numeric, rooms int);
CREATE FUNCTION pg_temp.flat_price(f flat) RETURNS float8
    LANGUAGE plpgsql AS $$
BEGIN
    RETURN mlops.predict('price', f);
END
$$;
BEGIN;
SELECT pg_temp.flat_price(ROW('paris', 50, 2)::flat);
ALTER TABLE flat DROP COLUMN city, ADD COLUMN note text, ADD COLUMN city text;
SELECT pg_temp.flat_price(ROW(50, 2, 'two rooms', 'paris')::flat);
COMMIT;
