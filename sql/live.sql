-- Live quality: predict_logged (both forms), record_outcome (last write wins,
-- keys scored several times or not yet), live_metrics, purge_predictions, and
-- bad input with its SQLSTATEs. Timestamps are left out of the output.
CREATE EXTENSION mlops;
\set SHOW_CONTEXT never
\i test/lib/sqlstate.sql

-- price = 10 + 2·rooms + 0.5·area (regression); spam: P(1) = logistic(x) (binary)
SELECT mlops._register_version('price', 'linear', 'regression', '{rooms,area}', 'price', NULL, '{}', '{}',
       '{"inputs": [{"name": "rooms", "kind": "numeric"}, {"name": "area", "kind": "numeric"}]}',
       NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       convert_to('{"format": "mlops-linear", "algorithm": "linear", "task": "regression",
                    "terms": ["rooms", "area"], "intercept": [10], "coef": [[2, 0.5]]}', 'UTF8'),
       'linear-json');
-- version 2 of price: price = 2·rooms + 0.5·area
SELECT mlops._register_version('price', 'linear', 'regression', '{rooms,area}', 'price', NULL, '{}', '{}',
       '{"inputs": [{"name": "rooms", "kind": "numeric"}, {"name": "area", "kind": "numeric"}]}',
       NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       convert_to('{"format": "mlops-linear", "algorithm": "linear", "task": "regression",
                    "terms": ["rooms", "area"], "intercept": [0], "coef": [[2, 0.5]]}', 'UTF8'),
       'linear-json');
SELECT mlops._register_version('spam', 'logistic', 'classification', '{x}', 'y', '{0,1}', '{}', '{}',
       '{"inputs": [{"name": "x", "kind": "numeric"}]}',
       NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       convert_to('{"format": "mlops-linear", "algorithm": "logistic", "task": "classification",
                    "terms": ["x"], "intercept": [0], "coef": [[1]], "classes": [0, 1]}', 'UTF8'),
       'linear-json');
CREATE TABLE houses (id int, area numeric, rooms int, note text);
INSERT INTO houses VALUES (1, 50, 2, 'a'), (2, 100, 4, 'b'), (3, 80, 3, 'c');

-- predict_logged returns what predict returns; the row form logs the whole row
SELECT id, mlops.predict_logged('price', 'h' || id, h), mlops.predict('price', h) FROM houses h ORDER BY id;
SELECT mlops.predict_logged('price', 'h4', ARRAY[1, 20.5]), mlops.predict_logged('price', 'h5', ARRAY[1, 2]);
-- named notation with the SQL contract's argument names (the row is features too); rolled back
BEGIN;
SELECT mlops.predict_logged(model => 'price', key => 'named', features => h),
       mlops.predict_logged(model => 'price', key => 'named', features => ARRAY[2, 50])
  FROM houses h WHERE id = 1;
ROLLBACK;
-- an explicit version, then the alias moved: each row records the version that scored it
SELECT mlops.predict_logged('price:2', 'h1', h) FROM houses h WHERE id = 1;
SELECT mlops.set_alias('price', 'production', 2);
SELECT mlops.predict_logged('price', 'h6', ARRAY[0, 10]);
SELECT l.version, l.key, l.features, l.prediction, l.probabilities, l.scored_by
  FROM mlops.prediction_log l ORDER BY l.id;
SELECT x, mlops.predict_logged('spam', 'm' || x, ARRAY[x]) FROM generate_series(-2, 2) x;
SELECT key, prediction, probabilities FROM mlops.prediction_log WHERE key LIKE 'm%' ORDER BY id;

-- outcomes: the count of logged predictions each applies to; h1 was scored twice
SELECT mlops.record_outcome('price', 'h1', 40), mlops.record_outcome('price', 'h2', 150),
       mlops.record_outcome('price', 'h6', 5), mlops.record_outcome('price', 'later', 1);
-- a correction: last write wins
SELECT mlops.record_outcome('price', 'h2', 100);
SELECT key, actual FROM mlops.outcome ORDER BY key;
SELECT mlops.record_outcome('spam', 'm' || x, CASE WHEN x >= 0 THEN 1 ELSE 0 END) FROM generate_series(-2, 1) x;
-- price v1: (h1 40 vs 39), (h2 100 vs 68), h3 h4 h5 unknown; v2: (h1 40 vs 29), (h6 5 vs 5)
-- spam: m-2..m1 known (m0: p = 0.5, predicted 0, actual 1), m2 unknown
SELECT model, version, scored, with_outcome, metrics FROM mlops.live_metrics ORDER BY 1, 2;
-- a version whose logged predictions have no outcome yet: metrics NULL
SELECT mlops.predict_logged('spam', 'z', ARRAY[3]);
UPDATE mlops.prediction_log SET scored_at = scored_at - interval '2 days' WHERE key = 'z';
SELECT model, version, scored, with_outcome, metrics FROM mlops.live_metrics
 WHERE day < (now() AT TIME ZONE 'UTC')::date;
-- day is the UTC date of scored_at whatever the session's time zone: 23:30 UTC
-- on 7 March is already 8 March in Chatham (+13:45)
UPDATE mlops.prediction_log SET scored_at = '2026-03-07 23:30+00' WHERE key = 'z';
SET TimeZone = 'Pacific/Chatham';
SELECT model, version, to_char(day, 'YYYY-MM-DD') AS day, scored FROM mlops.live_metrics WHERE day < (now() AT TIME ZONE 'UTC')::date;
RESET TimeZone;

-- an outcome recorded before its key was scored that is none of the scoring
-- version's classes (q2's 7) is left out of its metrics, and of with_outcome,
-- the count of the rows the metrics are over (q1's)
BEGIN;
SELECT mlops.record_outcome('spam', 'q1', 1), mlops.record_outcome('spam', 'q2', 7);
SELECT mlops.predict_logged('spam', 'q' || i, ARRAY[i]) FROM generate_series(1, 2) i;
UPDATE mlops.prediction_log SET scored_at = '2026-01-05 12:00+00' WHERE key IN ('q1', 'q2');
SELECT model, version, scored, with_outcome, metrics FROM mlops.live_metrics WHERE day = '2026-01-05';
ROLLBACK;
-- bad input: SQLSTATEs, nothing logged
SELECT pg_temp.sqlstate($$SELECT mlops.predict_logged('nope', 'k', ARRAY[1.0])$$);
SELECT pg_temp.sqlstate($$SELECT mlops.predict_logged('price:9', 'k', ARRAY[1.0, 2])$$);
SELECT pg_temp.sqlstate($$SELECT mlops.predict_logged('price', NULL, ARRAY[1.0, 2])$$);
SELECT pg_temp.sqlstate($$SELECT mlops.predict_logged('price', '', ARRAY[1.0, 2])$$);
SELECT pg_temp.sqlstate($$SELECT mlops.predict_logged('price', 'k', NULL::float8[])$$);
-- a NULL row is named as predict_logged names its argument (features), not as
-- predict does (row); a row of NULLs is no NULL row: it is scored, its inputs
-- missing (price has no values to impute)
SELECT pg_temp.sqlstate($$SELECT mlops.predict_logged('price', 'k', NULL::record)$$);
SELECT pg_temp.sqlstate($$SELECT mlops.predict_logged(model => 'price', key => 'k', features => NULL::houses)$$);
SELECT pg_temp.sqlstate($$SELECT mlops.predict_logged('price', 'k', r) FROM (SELECT NULL::numeric AS area, NULL::int AS rooms) r$$);
SELECT pg_temp.sqlstate($$SELECT mlops.predict_logged('price', 'k', ARRAY[1.0, 2, 3])$$);
SELECT pg_temp.sqlstate($$SELECT mlops.predict_logged('price', 'k', r) FROM (SELECT 1 AS rooms) r$$);
SELECT pg_temp.sqlstate($$SELECT mlops.record_outcome('nope', 'k', 1)$$);
SELECT pg_temp.sqlstate($$SELECT mlops.record_outcome('price@production', 'k', 1)$$);
SELECT pg_temp.sqlstate($$SELECT mlops.record_outcome('price', NULL, 1)$$);
SELECT pg_temp.sqlstate($$SELECT mlops.record_outcome('price', 'k', NULL)$$);
SELECT pg_temp.sqlstate($$SELECT mlops.record_outcome('price', 'k', 'NaN')$$);
SELECT pg_temp.sqlstate($$SELECT mlops.record_outcome('price', 'k', '-Infinity')$$);
SELECT pg_temp.sqlstate($$SELECT mlops.record_outcome('spam', 'm1', 0.5)$$);
SELECT pg_temp.sqlstate($$SELECT mlops.purge_predictions(NULL)$$);
-- the log helper (executable by mlops_scorer) takes only what predict_logged
-- would log: one of its classes with one probability in [0, 1] (or NaN) per
-- class for a classification version, no probabilities for a regression one;
-- a malformed row would otherwise make live_metrics fail for everyone, and a
-- made-up class would count in its metrics
SELECT pg_temp.sqlstate(format($$SELECT mlops._log_prediction(%s, 1, 'm1', '[]', 1, %L)$$, id, p))
  FROM mlops.model, (VALUES (NULL::float8[]), ('{0.5}'), ('{{0.5,0.5}}'), ('{0.5,NULL}'), ('{2,-1}'), ('{}')) v(p)
 WHERE name = 'spam';
SELECT pg_temp.sqlstate(format($$SELECT mlops._log_prediction(%s, 1, 'm1', '[]', %s, '{0.5,0.5}')$$, id, y))
  FROM mlops.model, (VALUES ('7'), ('0.5'), ('''NaN'''), ('NULL')) v(y)
 WHERE name = 'spam';
BEGIN;
SELECT pg_temp.sqlstate(format($$SELECT mlops._log_prediction(%s, 1, 'm1', '[]', %s, %L)$$, id, y, p))
  FROM mlops.model, (VALUES ('1', '{0.3,0.7}'), ('0', '{NaN,NaN}')) v(y, p)
 WHERE name = 'spam';
ROLLBACK;
SELECT pg_temp.sqlstate(format($$SELECT mlops._log_prediction(%s, 1, 'h1', '[]', 1, '{0.5,0.5}')$$, id))
  FROM mlops.model WHERE name = 'price';
-- and a key predict_logged would take (22004 NULL, 22023 empty or over 250
-- characters): an empty key is one no outcome can be recorded for, and one
-- of thousands of characters failed on the log's index (54000)
SELECT k IS NULL AS is_null, length(k), pg_temp.sqlstate(format($$SELECT mlops._log_prediction(%s, 1, %L, '[]', 1, NULL)$$, id, k))
  FROM mlops.model, (VALUES (NULL), (''), (repeat('x', 251)), ((SELECT string_agg(md5(g::text), '') FROM generate_series(1, 200) g))) v(k)
 WHERE name = 'price';
-- NULL features or a NULL regression prediction: 22004, an unknown version 42704 (they were the
-- log's own 23502, naming its internal table, and a raw foreign-key 23503)
SELECT pg_temp.sqlstate(format($$SELECT mlops._log_prediction(%s, %s, 'h2', %s, %s, NULL)$$, id, v, f, y))
  FROM mlops.model, (VALUES ('1', 'NULL', '1'), ('1', '''[]''', 'NULL'), ('99', '''[]''', '1')) t(v, f, y)
 WHERE name = 'price';
SELECT pg_temp.sqlstate($$SELECT count(metrics) FROM mlops.live_metrics$$);
SELECT count(*) FROM mlops.prediction_log;

-- retention: the two-day-old prediction goes; 'later' (never scored, recent) stays
SELECT mlops.purge_predictions(now() - interval '1 day');
SELECT count(*) FROM mlops.prediction_log;
SELECT key FROM mlops.outcome WHERE key IN ('z', 'later');

-- a regression group with a single outcome: r2 is left out (r2_score is NaN
-- on one row), the errors are there (3 predicted, 7 actual)
SELECT mlops.predict_logged('price', 'one', ARRAY[1, 2]);
UPDATE mlops.prediction_log SET scored_at = scored_at - interval '3 days' WHERE key = 'one';
SELECT mlops.record_outcome('price', 'one', 7);
SELECT model, version, scored, with_outcome, metrics FROM mlops.live_metrics
 WHERE day < (now() AT TIME ZONE 'UTC')::date;

-- delete_version's cascade to the log (the foreign key's generic query) probes the
-- rows of the version through an index, not the whole log (seq scans off: the
-- log is small here)
SET enable_seqscan = off;
SET plan_cache_mode = force_generic_plan;
PREPARE cascade(bigint, int) AS
    DELETE FROM ONLY mlops.prediction_log WHERE $1 OPERATOR(pg_catalog.=) model_id AND $2 OPERATOR(pg_catalog.=) version;
EXPLAIN (COSTS OFF) EXECUTE cascade(1, 1);
DEALLOCATE cascade;
RESET plan_cache_mode;
RESET enable_seqscan;

-- the objects: volatility, parallel safety, strictness, who may call them
SELECT p.proname, pg_get_function_identity_arguments(p.oid) AS arguments, p.provolatile, p.proparallel,
       p.proisstrict, p.prosecdef,
       has_function_privilege('mlops_scorer', p.oid, 'EXECUTE') AS scorer,
       has_function_privilege('mlops_trainer', p.oid, 'EXECUTE') AS trainer,
       has_function_privilege('mlops_admin', p.oid, 'EXECUTE') AS admin
  FROM pg_proc p WHERE p.pronamespace = 'mlops'::regnamespace
   AND p.proname IN ('predict_logged', 'record_outcome', 'purge_predictions', '_quality_agg',
                     '_resolve_logged', '_log_prediction')
 ORDER BY 1, 2;
SELECT c.relname, has_table_privilege('mlops_scorer', c.oid, 'SELECT') AS scorer_select,
       has_table_privilege('mlops_scorer', c.oid, 'INSERT') AS scorer_insert,
       has_table_privilege('mlops_trainer', c.oid, 'SELECT') AS trainer_select
  FROM pg_class c WHERE c.relnamespace = 'mlops'::regnamespace
   AND c.relname IN ('prediction_log', 'outcome', 'live_metrics') ORDER BY 1;

-- memory: the aggregate keeps a group's rows with an outcome (16 bytes a row for regression,
-- 4 + 8·classes for classification), counted against mlops.max_training_memory as its arrays
-- grow (they held any number of rows): 100,000 rows need more than 1MB, 30,000 fit
SET mlops.max_training_memory = '1MB';
SELECT pg_temp.sqlstate($$SELECT mlops._quality_agg(NULL, i, i + 1, NULL) FROM generate_series(1, 100000) i$$, true);
SELECT pg_temp.sqlstate($$SELECT mlops._quality_agg('{0,1}', i % 2, i % 2, '{0.5,0.5}') FROM generate_series(1, 100000) i$$, true);
SELECT mlops._quality_agg(NULL, i, i + 1, NULL)->>'mae' AS mae FROM generate_series(1, 30000) i;
-- and those arrays are all a group holds: the probabilities of a row read from a table (a short
-- array, which reading copies) were copied into the group's memory, outside the count, for every
-- row. The aggregate's memory, looked at once it has every row (the frame is the whole table),
-- stays within the limit that its arrays of 50,000 rows (1.3 MB) fit in.
CREATE TEMP TABLE quality_rows AS
SELECT i, (i % 2)::float8 AS actual, ARRAY[0.3, 0.7]::float8[] AS p FROM generate_series(1, 50000) i;
SET mlops.max_training_memory = '2MB';
SELECT bytes <= 2 * 1024 * 1024 AS within_limit
  FROM (SELECT i, (SELECT total_bytes FROM pg_backend_memory_contexts
                    WHERE name = 'WindowAgg Aggregates' AND x IS NOT NULL) AS bytes
          FROM (SELECT i, mlops._quality_agg('{0,1}', actual, actual, p)
                            OVER (ORDER BY i ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS x
                  FROM quality_rows) w) s
 WHERE i = 1;
DROP TABLE quality_rows;
RESET mlops.max_training_memory;
-- the aggregate is callable on any values, not only the log's: malformed ones are the caller's
-- error (22023, 22004), not an internal one (XX000)
SELECT pg_temp.sqlstate($$SELECT mlops._quality_agg('{{0},{1}}', 1, 1, '{0.5,0.5}')$$);
SELECT pg_temp.sqlstate($$SELECT mlops._quality_agg('{0,NULL}', 1, 1, '{0.5,0.5}')$$);
SELECT pg_temp.sqlstate($$SELECT mlops._quality_agg('{1}', 1, 1, '{1}')$$, true);
SELECT pg_temp.sqlstate($$SELECT mlops._quality_agg('{0,1}', 1, 1, NULL)$$);
SELECT pg_temp.sqlstate($$SELECT mlops._quality_agg('{0,1}', 1, 1, '{1}')$$);
SELECT pg_temp.sqlstate($$SELECT mlops._quality_agg('{0,1}', 1, 1, '{{0.5},{0.5}}')$$);
