-- Parallel query: linear_stats runs as a Partial Aggregate in workers, and
-- predict/predict_version are evaluated in workers below a Gather, with the
-- same results as the serial plan; linear_stats_merge merges finished values.
CREATE EXTENSION mlops;
\set SHOW_CONTEXT never
\i test/lib/sqlstate.sql

-- y = 1 + 2·x1 − 3·x2 + a deterministic wobble, 20000 rows
CREATE TABLE obs AS
SELECT i AS id, sin(i)::float8 AS x1, cos(i * 0.7)::float8 AS x2,
       (1 + 2 * sin(i) - 3 * cos(i * 0.7) + 0.1 * sin(i * 13.1))::float8 AS y
  FROM generate_series(1, 20000) i;
ANALYZE obs;
SELECT version FROM mlops.train('m', 'obs', 'y', 'linear', features => '{x1,x2}', test_fraction => 0);

-- The most workers any node of a query's plan launched (EXPLAIN ANALYZE).
CREATE FUNCTION pg_temp.workers_launched(query text) RETURNS int LANGUAGE plpgsql AS $$
DECLARE plan jsonb;
BEGIN
    EXECUTE 'EXPLAIN (ANALYZE, FORMAT JSON) ' || query INTO plan;
    RETURN (SELECT max((n->>'Workers Launched')::int) FROM jsonb_path_query(plan, 'strict $.**') n
             WHERE jsonb_typeof(n) = 'object' AND n ? 'Workers Launched');
END $$;

-- Whether two linear_fit results have the same n and coefficients within 1e-9 relative.
CREATE FUNCTION pg_temp.same_fit(a jsonb, b jsonb) RETURNS bool LANGUAGE sql AS $$
    SELECT a->'n' = b->'n'
       AND jsonb_array_length(a->'coef') = jsonb_array_length(b->'coef')
       AND abs((a->>'intercept')::float8 - (b->>'intercept')::float8) <= 1e-9 * abs((b->>'intercept')::float8)
       AND (SELECT bool_and(abs(ca::float8 - cb::float8) <= 1e-9 * abs(cb::float8))
              FROM jsonb_array_elements_text(a->'coef') WITH ORDINALITY x(ca, i)
              JOIN jsonb_array_elements_text(b->'coef') WITH ORDINALITY y(cb, j) ON i = j)
$$;

-- serial results first
SET max_parallel_workers_per_gather = 0;
CREATE TEMP TABLE serial_fit AS
SELECT mlops.linear_fit(mlops.linear_stats(y, ARRAY[x1, x2])) AS fit FROM obs;
CREATE TEMP TABLE serial_scores AS
SELECT id, mlops.predict('m', ARRAY[x1, x2]) AS p, mlops.predict_version('m', 1, ARRAY[x1, x2]) AS pv FROM obs;

-- then forced parallelism (the leader only gathers, so every row goes through a worker)
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SET parallel_leader_participation = off;

-- training statistics: Partial Aggregate in the workers, combined by the leader
EXPLAIN (COSTS OFF, VERBOSE)
SELECT mlops.linear_fit(mlops.linear_stats(y, ARRAY[x1, x2])) FROM obs;
SELECT pg_temp.workers_launched('SELECT mlops.linear_stats(y, ARRAY[x1, x2]) FROM obs') > 0 AS in_workers;
SELECT pg_temp.same_fit(p.fit, s.fit) AS same_as_serial
  FROM serial_fit s, (SELECT mlops.linear_fit(mlops.linear_stats(y, ARRAY[x1, x2])) AS fit FROM obs) p;

-- scoring: the predict calls are in the Parallel Seq Scan's output, below the Gather
EXPLAIN (COSTS OFF, VERBOSE)
SELECT id, mlops.predict('m', ARRAY[x1, x2]), mlops.predict_version('m', 1, ARRAY[x1, x2]) FROM obs;
SELECT pg_temp.workers_launched(
    'SELECT id, mlops.predict(''m'', ARRAY[x1, x2]), mlops.predict_version(''m'', 1, ARRAY[x1, x2]) FROM obs') > 0
    AS in_workers;
SELECT count(*) AS rows, count(*) FILTER (WHERE s.p = q.p AND s.pv = q.pv) AS identical
  FROM serial_scores s
  JOIN (SELECT id, mlops.predict('m', ARRAY[x1, x2]) AS p, mlops.predict_version('m', 1, ARRAY[x1, x2]) AS pv
          FROM obs) q USING (id);

-- linear_stats_merge over per-part values (here: two halves, aggregated by
-- separate workers under a Parallel Append) gives the statistics of all the
-- rows; NULL parts are skipped
EXPLAIN (COSTS OFF)
SELECT mlops.linear_stats_merge(s) FROM (
    SELECT mlops.linear_stats(y, ARRAY[x1, x2]) s FROM obs WHERE id % 2 = 0
    UNION ALL SELECT mlops.linear_stats(y, ARRAY[x1, x2]) FROM obs WHERE id % 2 = 1
    UNION ALL SELECT NULL) parts;
SELECT pg_temp.same_fit(mlops.linear_fit(mlops.linear_stats_merge(s)), (SELECT fit FROM serial_fit))
       AS merged_same_as_serial
  FROM (SELECT mlops.linear_stats(y, ARRAY[x1, x2]) s FROM obs WHERE id % 2 = 0
        UNION ALL SELECT mlops.linear_stats(y, ARRAY[x1, x2]) FROM obs WHERE id % 2 = 1
        UNION ALL SELECT NULL) parts;
-- and the same as the coefficients train() registered
SELECT pg_temp.same_fit(fit, jsonb_build_object('n', fit->'n', 'intercept', a->'intercept'->0, 'coef', a->'coef'->0))
       AS same_as_train
  FROM serial_fit, (SELECT convert_from(mlops.export_model('m'), 'UTF8')::jsonb a) e;
RESET ALL;

-- bad input
SELECT pg_temp.sqlstate($$SELECT mlops.linear_stats_merge(s) FROM (VALUES ('\x00'::bytea)) v(s)$$);
SELECT pg_temp.sqlstate($$SELECT mlops.linear_stats_merge(s) FROM (
    SELECT mlops.linear_stats(y, ARRAY[x1, x2]) FROM obs UNION ALL SELECT mlops.linear_stats(y, ARRAY[x1]) FROM obs) v(s)$$);
SELECT mlops.linear_stats_merge(s) IS NULL AS no_rows FROM (SELECT NULL::bytea) v(s);
-- values of different widths combined as partial states (partitionwise, or
-- from parallel workers) are told as linear_stats values, as when merged serially
CREATE TABLE shard_stats (shard int, s bytea) PARTITION BY LIST (shard);
CREATE TABLE shard_stats_1 PARTITION OF shard_stats FOR VALUES IN (1);
CREATE TABLE shard_stats_2 PARTITION OF shard_stats FOR VALUES IN (2);
INSERT INTO shard_stats SELECT 1, mlops.linear_stats(y, ARRAY[x1, x2]) FROM obs;
INSERT INTO shard_stats SELECT 2, mlops.linear_stats(y, ARRAY[x1]) FROM obs;
SET enable_partitionwise_aggregate = on;
EXPLAIN (COSTS OFF) SELECT mlops.linear_stats_merge(s) FROM shard_stats;
SELECT pg_temp.sqlstate($$SELECT mlops.linear_stats_merge(s) FROM shard_stats$$);
RESET enable_partitionwise_aggregate;
DROP TABLE shard_stats;
-- a row count that is no count (here -1) is a malformed value; an infinite
-- input, or squares beyond float8, a clear error rather than NaN
-- coefficients; too many inputs for a linear_stats value to fit in a bytea
SELECT pg_temp.sqlstate($$SELECT mlops.linear_fit(overlay(mlops.linear_stats(y, ARRAY[x1]) PLACING '\x000000000000f0bf' FROM 5)) FROM obs$$);
SELECT pg_temp.sqlstate($$SELECT mlops.linear_fit(mlops.linear_stats(y, ARRAY[CASE WHEN x1 > 0 THEN 'Infinity' ELSE x1 END])) FROM obs$$);
-- the error names the column that is not finite, not an earlier term whose cross products with it are
SELECT pg_temp.sqlstate($$SELECT mlops.linear_fit(mlops.linear_stats(y, ARRAY[x1, CASE WHEN x1 > 0 THEN 'Infinity' ELSE x2 END])) FROM obs$$);
SELECT pg_temp.sqlstate($$SELECT mlops.linear_fit(mlops.linear_stats(CASE WHEN x1 > 0 THEN 'Infinity' ELSE y END, ARRAY[x1, x2])) FROM obs$$);
SELECT pg_temp.sqlstate($$SELECT mlops.linear_fit(mlops.linear_stats_merge(s)) FROM (
    SELECT mlops.linear_stats(y * 1e200, ARRAY[x1]) FROM obs UNION ALL SELECT mlops.linear_stats(y, ARRAY[x1]) FROM obs) v(s)$$);
SELECT pg_temp.sqlstate($$SELECT mlops.linear_stats(1, array_fill(1::float8, ARRAY[10001]))$$);
SELECT mlops.linear_stats(y, x) IS NULL AS no_rows FROM (VALUES (NULL::float8, NULL::float8[])) v(y, x);
-- a value that no aggregate can produce is malformed too, even when merged
-- with valid ones: a negative sum of squares (here x1's, set to -1), and a
-- value of no rows with means that are not 0
SELECT pg_temp.sqlstate($$SELECT mlops.linear_fit(mlops.linear_stats_merge(s)) FROM (
    SELECT overlay(mlops.linear_stats(y, ARRAY[x1]) PLACING '\x000000000000f0bf' FROM 29) FROM obs
    UNION ALL SELECT mlops.linear_stats(y, ARRAY[x1]) FROM obs) v(s)$$);
SELECT pg_temp.sqlstate($$SELECT mlops.linear_fit(mlops.linear_stats_merge(s)) FROM (
    SELECT overlay(mlops.linear_stats(y, ARRAY[x1]) PLACING '\x0000000000000000' FROM 5) FROM obs
    UNION ALL SELECT mlops.linear_stats(y, ARRAY[x1]) FROM obs) v(s)$$);
-- and a cross product beyond what the two sums of squares allow (here
-- 1e200 for x1 with a constant 0), which made the solver's scaled system
-- infinite at a small alpha: "collinear", or an internal error (XX000) of
-- the eigensolver
SELECT pg_temp.sqlstate($$SELECT mlops.linear_fit(overlay(mlops.linear_stats(y, ARRAY[x1, 0]) PLACING '\x5a62d7d718e77469' FROM 45), 1e-300) FROM obs$$);
-- a constant column is reported as such (22000), whether its value sums
-- exactly or not (0.1, 1e150), serially, merged per part and in parallel,
-- never fitted to the rounding noise of its mean
SELECT pg_temp.sqlstate($$SELECT mlops.linear_fit(mlops.linear_stats(y, ARRAY[x1, x2, 0.1])) FROM obs$$);
-- the hints name linear_fit's way out (alpha) as well as train()'s
SELECT pg_temp.sqlstate($$SELECT mlops.linear_fit(mlops.linear_stats(y, ARRAY[x1, 0.1])) FROM obs$$, true);
SELECT pg_temp.sqlstate($$SELECT mlops.linear_fit(mlops.linear_stats(y, ARRAY[x1, 2 * x1])) FROM obs$$, true);
SELECT pg_temp.sqlstate($$SELECT mlops.linear_fit(mlops.linear_stats_merge(s)) FROM (
    SELECT mlops.linear_stats(y, ARRAY[x1, 1e150, x2]) FROM obs WHERE id % 3 = 0
    UNION ALL SELECT mlops.linear_stats(y, ARRAY[x1, 1e150, x2]) FROM obs WHERE id % 3 > 0) v(s)$$);
-- a column whose mean is near the float8 range (here 2e154) is fitted: the
-- condition number of X'X, which n·mean² takes beyond float8, is Infinity
-- rather than an internal error of the eigensolver
SELECT round((f->'coef'->>1)::numeric, 2) AS x2_coef, f->'condition_number' AS condition_number
  FROM (SELECT mlops.linear_fit(mlops.linear_stats(y, ARRAY[2e154 * (1 + 1e-6 * x1), x2, cos(id)])) AS f FROM obs) v;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SELECT pg_temp.sqlstate($$SELECT mlops.linear_fit(mlops.linear_stats(y, ARRAY[1.0 / 3, x1, x2])) FROM obs$$);
RESET ALL;

-- publish_model needs dblink (not installed here) and a server; the shard side
-- checks what it is given before it touches the registry
SELECT pg_temp.sqlstate($$SELECT mlops.publish_model('m', 'shard1')$$);
SELECT pg_temp.sqlstate($$SELECT mlops.publish_model('m', NULL)$$);
SELECT pg_temp.sqlstate($$SELECT mlops.publish_model('nope', 'shard1')$$);
SELECT pg_temp.sqlstate($$SELECT mlops._install_version('n', 1, 'linear', 'regression', '{a}', NULL, NULL, NULL,
    NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '\x00', 'linear-json', 'ff')$$);
SELECT pg_temp.sqlstate($$SELECT mlops._install_version('bad name', 1, 'linear', 'regression', '{a}', NULL, NULL,
    NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '\x00', 'linear-json', encode(sha256('\x00'), 'hex'))$$);
SELECT pg_temp.sqlstate($$SELECT mlops._install_version('n', 0, 'linear', 'regression', '{a}', NULL, NULL, NULL,
    NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '\x00', 'linear-json', encode(sha256('\x00'), 'hex'))$$);
SELECT pg_temp.sqlstate($$SELECT mlops._install_version('n', 1, 'linear', 'regression', '{a,b,a}', NULL, NULL, NULL,
    NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '\x00', 'linear-json', encode(sha256('\x00'), 'hex'))$$);
SELECT pg_temp.sqlstate($$SELECT mlops._install_version('n', 1, 'linear', 'regression', '{a,NULL}', NULL, NULL, NULL,
    NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '\x00', 'linear-json', encode(sha256('\x00'), 'hex'))$$);
SELECT count(*) AS models_left FROM mlops.model WHERE name IN ('n', 'bad name');
