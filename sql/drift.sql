-- Drift: profiles, drift() against a frozen profile, compare(), monitors,
-- alerts (action retrain before retrain() exists), and bad input.
CREATE EXTENSION mlops;
\set SHOW_CONTEXT never
\i test/lib/sqlstate.sql

-- a reference with a numeric, a categorical and a constant column, and a
-- current set where x shifted, a new city appeared and NULLs grew
CREATE TABLE houses AS
SELECT i::float8 AS x, (ARRAY['lyon', 'paris', 'rome'])[1 + i % 3] AS city, 7 AS k, i % 2 = 0 AS garden
  FROM generate_series(1, 100) i;
CREATE TABLE houses_today AS
SELECT CASE WHEN i % 10 = 0 THEN NULL ELSE i + 40.0 END AS x,
       (ARRAY['lyon', 'paris', 'rome', 'oslo'])[1 + i % 4] AS city, 7 AS k, i % 2 = 0 AS garden
  FROM generate_series(1, 100) i;

-- the profile an analyst sees (the sample is every value here: 100 <= 4096)
SELECT f->>'name' AS name, f->>'kind' AS kind, f->'count' AS count, f->'nulls' AS nulls,
       f->'mean' AS mean, round((f->>'std')::numeric, 6) AS std, f->'min' AS min, f->'max' AS max,
       f->'edges' AS edges, f->'fractions' AS fractions, jsonb_array_length(f->'sample') AS sample,
       f->'categories' AS categories
  FROM jsonb_array_elements(mlops.profile('houses')->'features') f;
SELECT mlops.profile('select x from houses where x <= 3')->'rows' AS rows;

-- register a version the way train() does: profile => mlops.profile(source, features)
SELECT mlops._register_version('price', 'linear', 'regression', '{x,city,k,garden}', 'y', NULL, '{}', '{}', '{}',
       mlops.profile('houses', '{x,city,k,garden}'), NULL, 'houses', 100, 0, 0, NULL, '\x00', 'linear-json');
SELECT feature, metric, round(value::numeric, 6) AS value, threshold, drifted
  FROM mlops.drift('price', 'houses_today');
-- drift() against the frozen profile equals compare() against the training data
SELECT count(*) AS rows, bool_and(d.value IS NOT DISTINCT FROM c.value AND d.drifted IS NOT DISTINCT FROM c.drifted) AS same
  FROM mlops.drift('price:1', 'houses_today') d
  JOIN mlops.compare('houses', 'houses_today') c USING (feature, metric);
-- the data unchanged: nothing drifted
SELECT count(*) FILTER (WHERE drifted) AS drifted FROM mlops.drift('price', 'houses');

-- monitors
SELECT mlops.create_monitor('price_psi', 'price', 'houses_today') AS id \gset
SELECT mlops.create_monitor('price_ks', 'price@production', 'houses_today', 'ks', action => 'retrain') > :id AS created;
SELECT mlops.create_monitor('price_same', 'price:1', 'houses', 'wasserstein') > :id AS created;
SELECT name, model, source, metric, threshold, action, last_run_at IS NULL AS never_ran FROM mlops.monitors ORDER BY name;
SELECT r - 'run_id' - 'alert_id' AS run FROM mlops.run_monitor('price_psi') r;
SELECT r - 'run_id' - 'alert_id' AS run FROM mlops.run_monitors() r;
-- a ks monitor's threshold is a p-value: drift_status shows it beside the statistic
SELECT monitor, model, version, feature, metric, round(value::numeric, 6) AS value,
       round(p_value::numeric, 6) AS p_value, threshold, drifted
  FROM mlops.drift_status ORDER BY monitor, feature;
SELECT monitor, count(*) AS results FROM mlops.drift_results GROUP BY monitor ORDER BY monitor;
SELECT monitor, model, version, kind, action, features, message FROM mlops.alerts ORDER BY id;

-- a failing monitor is recorded with an error alert; the others still run
DROP TABLE houses_today;
SELECT r->>'monitor' AS monitor, r->'drifted' AS drifted, r->>'error' AS error FROM mlops.run_monitors() r;
SELECT monitor, kind, message FROM mlops.alerts WHERE kind = 'error' ORDER BY id;
SELECT pg_temp.sqlstate($$SELECT mlops.run_monitor('price_psi')$$);
SELECT mlops.drop_monitor('price_same');
SELECT name FROM mlops.monitors ORDER BY name;

-- bad input
SELECT pg_temp.sqlstate($$SELECT mlops.create_monitor('price_psi', 'price', 'houses')$$);
SELECT pg_temp.sqlstate($$SELECT mlops.create_monitor('m', 'nope', 'houses')$$);
SELECT pg_temp.sqlstate($$SELECT mlops.create_monitor('m', 'price', 'houses', 'auc')$$);
SELECT pg_temp.sqlstate($$SELECT mlops.create_monitor('m', 'price', 'houses', 'psi', -1)$$);
SELECT pg_temp.sqlstate($$SELECT mlops.create_monitor('m', 'price', 'houses', 'psi', 'NaN')$$);
SELECT pg_temp.sqlstate($$SELECT mlops.create_monitor('m', 'price', 'houses', 'ks', 1.5)$$);
SELECT pg_temp.sqlstate($$SELECT mlops.create_monitor('m', 'price', 'houses', 'psi', 0.2, 'page')$$);
SELECT pg_temp.sqlstate($$SELECT mlops.create_monitor('m', 'price', NULL)$$);
SELECT pg_temp.sqlstate($$SELECT mlops.create_monitor('', 'price', 'houses')$$);
-- a threshold of -0 is 0, as the monitor shows it and its alerts write it
SELECT mlops.create_monitor('minus_zero', 'price', 'SELECT x + 40 AS x, city, k, garden FROM houses', 'psi', '-0') > 0 AS created;
SELECT r->>'threshold' AS run_threshold, r->>'alert_id' AS alert_id FROM mlops.run_monitor('minus_zero') r \gset
SELECT m.threshold::text, :'run_threshold' AS as_run, a.message
  FROM mlops.monitors m, mlops.alerts a WHERE m.name = 'minus_zero' AND a.id = :alert_id;
SELECT mlops.drop_monitor('minus_zero');
-- a source that no run could read is refused when the monitor is made (it was accepted, and every run
-- failed); one naming a table not there yet is kept, resolved at each run
SELECT pg_temp.sqlstate($$SELECT mlops.create_monitor('m', 'price', 'DELETE FROM houses RETURNING *')$$);
SELECT pg_temp.sqlstate($$SELECT mlops.create_monitor('m', 'price', 'SELECT * FROM houses WHERE')$$);
SELECT pg_temp.sqlstate($$SELECT mlops.create_monitor('m', 'price', 'SELECT * INTO houses_copy FROM houses')$$);
SELECT pg_temp.sqlstate($$SELECT mlops.create_monitor('m', 'price', 'SELECT * FROM houses; SELECT 1')$$);
SELECT pg_temp.sqlstate($$SELECT mlops.create_monitor('m', 'price', 'TABLE houses FOR UPDATE')$$);
SELECT pg_temp.sqlstate($$SELECT mlops.create_monitor('m', 'price', ' -- nothing')$$);
-- in any SELECT of the query: a branch of a UNION, a WITH query, a subquery
SELECT pg_temp.sqlstate($$SELECT mlops.create_monitor('m', 'price', 'SELECT * INTO houses_copy FROM houses UNION ALL SELECT * FROM houses')$$);
SELECT pg_temp.sqlstate($$SELECT mlops.create_monitor('m', 'price', 'WITH d AS (DELETE FROM houses RETURNING *) SELECT * FROM d')$$);
SELECT pg_temp.sqlstate($$SELECT mlops.create_monitor('m', 'price', 'WITH x AS (SELECT * FROM houses FOR UPDATE) SELECT * FROM x')$$);
SELECT pg_temp.sqlstate($$SELECT mlops.create_monitor('m', 'price', 'SELECT * FROM (SELECT * FROM houses FOR SHARE) s')$$);
-- a parameter, which no run supplies (it was accepted, and every run failed with 42P02)
SELECT pg_temp.sqlstate($$SELECT mlops.create_monitor('m', 'price', 'SELECT * FROM houses WHERE x > $1')$$);
SELECT pg_temp.sqlstate($$SELECT mlops.create_monitor('m', 'price', 'SELECT * FROM houses WHERE x IN (SELECT $2)')$$);
-- a name that needs quoting is an invalid name, not a statement
SELECT pg_temp.sqlstate($$SELECT mlops.create_monitor('m', 'price', 'sales data')$$);
SELECT count(*) AS made FROM mlops.monitors WHERE name = 'm';
SELECT pg_temp.sqlstate($$SELECT mlops.create_monitor('later', 'price', 'houses_tomorrow')$$);
SELECT mlops.drop_monitor('later');
-- a metric that measures none of the version's features could never alert:
-- refused when the monitor is made, an error when its reference moves to such a version
SELECT mlops._register_version('rooms', 'linear', 'regression', '{x}', 'y', NULL, '{}', '{}', '{}',
       mlops.profile('houses', '{x}'), NULL, 'houses', 100, 0, 0, NULL, '\x00', 'linear-json');
SELECT pg_temp.sqlstate($$SELECT mlops.create_monitor('m', 'rooms', 'houses', 'linf')$$);
SELECT mlops.create_monitor('rooms_ks', 'rooms', 'houses', 'ks') > 0 AS created;
SELECT mlops._register_version('rooms', 'linear', 'regression', '{city}', 'y', NULL, '{}', '{}', '{}',
       mlops.profile('houses', '{city}'), NULL, 'houses', 100, 0, 0, NULL, '\x00', 'linear-json');
SELECT pg_temp.sqlstate($$SELECT mlops.create_monitor('m', 'rooms:2', 'houses', 'wasserstein')$$);
SELECT mlops.set_alias('rooms', 'production', 2);
SELECT pg_temp.sqlstate($$SELECT mlops.run_monitor('rooms_ks')$$);
SELECT mlops.drop_monitor('rooms_ks');
SELECT pg_temp.sqlstate($$SELECT mlops.run_monitor('nope')$$);
SELECT pg_temp.sqlstate($$SELECT mlops.run_monitor(NULL)$$);
SELECT pg_temp.sqlstate($$SELECT mlops.drop_monitor('nope')$$);
SELECT pg_temp.sqlstate($$SELECT mlops.profile(NULL)$$);
SELECT pg_temp.sqlstate($$SELECT mlops.profile('houses', '{x,x}')$$);
SELECT pg_temp.sqlstate($$SELECT mlops.profile('houses', '{x,NULL}')$$);
-- an empty name is a column the source lacks (42703), not a syntax error (42601)
SELECT pg_temp.sqlstate($$SELECT mlops.profile('houses', '{x,""}')$$);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.compare('houses', 'houses', '{""}')$$);
SELECT pg_temp.sqlstate($$SELECT mlops.profile('select now() as t')$$);
SELECT pg_temp.sqlstate($$SELECT mlops.profile('insert into houses values (1)')$$);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.drift(NULL, 'houses')$$);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.drift('price', NULL)$$);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.compare('houses', 'select x, city, k from houses')$$);
-- a column a source lacks is named with that source, not with the query that wraps it
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.drift('price', 'select x, city, k from houses')$$,
                        show_detail => true);
SELECT pg_temp.sqlstate($$SELECT mlops.profile('houses', '{x,Garden}')$$, show_detail => true);
-- a column that two columns of a source carry is 42701, as for evaluate and
-- train, named with the source, not 42702 of the query that wraps it
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.drift('price', 'select x, city, k, garden, x from houses')$$,
                        show_detail => true);
SELECT pg_temp.sqlstate($$SELECT mlops.profile('select x, 2 as x from houses', '{x}')$$, show_detail => true);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.compare('houses', 'select *, 1 as city from houses')$$);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.compare('houses', 'select * from houses where false')$$);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.compare('select * from houses where false', 'houses')$$);
-- an unseen category, an all-NULL current column, NaN and Infinity: values, not errors
SELECT feature, metric, round(value::numeric, 6) AS value, drifted
  FROM mlops.compare('houses', $$select case when x < 50 then 'NaN' when x < 60 then 'Infinity' end::float8 as x,
                                         'tokyo' as city from houses$$, '{x,city}');
-- shares exactly a threshold apart are not above it: 4 of 10 rows against 3
-- of 10 is a gap of 0.1 (linf) and of 0.1 in the NULL rate (the rounded shares'
-- difference was 0.10000000000000003, flagged by "> 0.1"), 3 of 20 against 4
-- of 20 a gap of 0.05 (null_rate's default threshold)
SELECT feature, metric, value, threshold, drifted
  FROM mlops.compare($$SELECT CASE WHEN i <= 4 THEN 'a' ELSE 'b' END AS c, CASE WHEN i > 3 THEN i END::float8 AS x
                         FROM generate_series(1, 10) i$$,
                     $$SELECT CASE WHEN i <= 3 THEN 'a' ELSE 'b' END AS c, CASE WHEN i > 4 THEN i END::float8 AS x
                         FROM generate_series(1, 10) i$$)
 WHERE metric IN ('linf', 'null_rate');
SELECT value, drifted
  FROM mlops.compare($$SELECT CASE WHEN i > 3 THEN i END::float8 AS x FROM generate_series(1, 20) i$$,
                     $$SELECT CASE WHEN i > 4 THEN i END::float8 AS x FROM generate_series(1, 20) i$$)
 WHERE metric = 'null_rate';
-- a stored profile whose feature kind is only a prefix of a known one ("num",
-- "", "cat") is refused as invalid (22023), not read as that kind
SELECT mlops._register_version('prefix', 'linear', 'regression', '{x}', 'y', NULL, '{}', '{}', '{}',
       jsonb_set(mlops.profile('houses', '{x}'), '{features,0,kind}', '"num"'), NULL, 'houses', 100, 0, 0,
       NULL, '\x00', 'linear-json');
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.drift('prefix', 'houses')$$);

-- privileges: a trainer measures drift and runs monitors over what it may
-- read; sources are read with the caller's privileges; a scorer may not
CREATE ROLE regress_drift_trainer IN ROLE mlops_trainer;
CREATE ROLE regress_drift_scorer IN ROLE mlops_scorer;
CREATE TABLE houses_today AS SELECT * FROM houses;
GRANT SELECT ON houses, houses_today TO regress_drift_trainer;
CREATE TABLE secret AS SELECT * FROM houses;
SET ROLE regress_drift_trainer;
SELECT count(*) FILTER (WHERE drifted) AS drifted FROM mlops.drift('price', 'houses_today');
SELECT mlops.create_monitor('trainer_psi', 'price', 'houses_today') > 0 AS created;
SELECT r->'drifted' AS drifted, r->'error' AS error FROM mlops.run_monitor('trainer_psi') r;
SELECT monitor, feature, drifted FROM mlops.drift_status WHERE monitor = 'trainer_psi' ORDER BY feature;
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.compare('houses', 'secret')$$);
SELECT pg_temp.sqlstate($$SELECT mlops.profile('secret')$$);
SELECT pg_temp.sqlstate($$INSERT INTO mlops.alert (run_id, kind, action, message) VALUES (1, 'drift', 'alert', 'forged')$$);
RESET ROLE;
SET ROLE regress_drift_scorer;
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.drift('price', 'houses')$$);
SELECT pg_temp.sqlstate($$SELECT * FROM mlops.alerts$$);
RESET ROLE;
DROP OWNED BY regress_drift_trainer, regress_drift_scorer;
DROP ROLE regress_drift_trainer, regress_drift_scorer;

-- drift_status shows each monitor's latest run that measured: a failed run
-- leaves it as it was, and a feature the newer version lacks drops out
SELECT mlops._register_version('price', 'linear', 'regression', '{x,city}', 'y', NULL, '{}', '{}', '{}',
       mlops.profile('houses', '{x,city}'), NULL, 'houses', 100, 0, 0, NULL, '\x00', 'linear-json') AS version \gset
SELECT mlops.set_alias('price', 'production', :version);
SELECT r->'version' AS version, r->'features' AS features FROM mlops.run_monitor('price_psi') r;
SELECT monitor, version, feature, drifted FROM mlops.drift_status WHERE monitor = 'price_psi' ORDER BY feature;
DROP TABLE houses_today;
SELECT r->>'error' AS error FROM mlops.run_monitors() r WHERE r->>'monitor' = 'price_psi';
SELECT monitor, version, feature, drifted FROM mlops.drift_status WHERE monitor = 'price_psi' ORDER BY feature;

-- values near the float8 limit: the quantile edges between -1e308 and 1e308
-- are numbers (the interpolation overflowed to Infinity, or NaN, written as
-- null: drift() then refused the frozen profile), the std is finite, and
-- Wasserstein of equal sides is 0 (a zero gap times an infinite step was NaN)
SELECT p->'features'->0->'edges' @? '$[*] ? (@ == null)' AS null_edge,
       (p->'features'->0->>'std')::float8 AS std
  FROM mlops.profile($$VALUES (1e308::float8), (-1e308), (1e308), (-1e308)$$) p;
SELECT metric, round(value::numeric, 6) AS value, drifted
  FROM mlops.compare($$VALUES (1e308::float8), (-1e308)$$, $$VALUES (-1e308::float8), (1e308)$$);
SELECT metric, round(value::numeric, 6) AS value, drifted
  FROM mlops.compare($$VALUES (1e308::float8), (-1e308), (1e308), (-1e308)$$, $$VALUES (0::float8), (1), (2)$$);
SELECT mlops._register_version('huge', 'linear', 'regression', '{x}', 'y', NULL, '{}', '{}', '{}',
       mlops.profile($$SELECT x FROM (VALUES (1e308::float8), (-1e308), (1e308), (-1e308)) t(x)$$),
       NULL, 'houses', 4, 0, 0, NULL, '\x00', 'linear-json') AS version \gset
SELECT metric, round(value::numeric, 6) AS value, drifted
  FROM mlops.drift('huge', $$SELECT x FROM (VALUES (0::float8), (1), (2)) t(x)$$);
-- beyond 100,000 distinct rows the running sums overflowed as well (std was null)
SELECT (p->'features'->0->>'std')::float8 > 9e307 AS std_near_1e308, p->'features'->0 ? 'sampled' AS sampled
  FROM mlops.profile($$SELECT CASE WHEN i % 2 = 0 THEN 1e308 ELSE -1e308 END * (1 - i / 1e7) AS x
                         FROM generate_series(1, 150000) i$$) p;

-- reading a source in full is bounded by mlops.max_training_memory (53200,
-- before the memory is taken): compare() and drift() keep every value, any
-- profile every category; within the limit the same calls succeed
SET mlops.max_training_memory = '1MB';
SELECT pg_temp.sqlstate($$SELECT count(*) FROM mlops.compare('SELECT i::float8 AS x FROM generate_series(1, 200000) i',
                                                              'houses', '{x}')$$);
SELECT pg_temp.sqlstate($$SELECT count(*) FROM mlops.drift('price', 'SELECT i::float8 AS x, ''c'' AS city
                                                                      FROM generate_series(1, 200000) i')$$);
SELECT pg_temp.sqlstate($$SELECT mlops.profile('SELECT ''c'' || i AS city FROM generate_series(1, 20000) i')$$);
SET mlops.max_training_memory = '8MB';
SELECT count(*) AS metrics FROM mlops.compare('SELECT i::float8 AS x FROM generate_series(1, 200000) i', 'houses', '{x}');
-- profile() counts the building of its jsonb document too (about 400 bytes a
-- category, as training counts it for a version's profile): 20,000 categories
-- (1.4 MB) need 10 MB, more than 8MB allows
SELECT pg_temp.sqlstate($$SELECT mlops.profile('SELECT ''c'' || i AS city FROM generate_series(1, 20000) i')$$);
SET mlops.max_training_memory = '12MB';
SELECT mlops.profile('SELECT ''c'' || i AS city FROM generate_series(1, 20000) i')->'features'->0->'categories' IS NOT NULL AS profiled;
-- sorting a side's values takes 16 bytes a value beside the 8 it holds (the
-- radix sort's keys and its buffer): 200,000 values (2 MB held as they grew)
-- need 5.2 MB, more than 4MB allows
SET mlops.max_training_memory = '4MB';
SELECT pg_temp.sqlstate($$SELECT count(*) FROM mlops.compare('SELECT i::float8 AS x FROM generate_series(1, 200000) i',
                                                              'houses', '{x}')$$);
-- summarising a side's categories takes 32 bytes a category beside the 70
-- or so it holds (their sorted copy, the profile's names and counts): 20,000
-- categories (1.4 MB held) need 2 MB, more than 1536kB allows
SET mlops.max_training_memory = '1536kB';
SELECT pg_temp.sqlstate($$SELECT count(*) FROM mlops.compare('SELECT ''c'' || i AS city FROM generate_series(1, 20000) i',
                                                              'houses', '{city}')$$);
-- compare() holds the reference's values while it reads the current side:
-- each side fits alone, both together do not
SET mlops.max_training_memory = '6MB';
SELECT count(*) AS metrics FROM mlops.compare('SELECT i::float8 AS x FROM generate_series(1, 200000) i', 'houses', '{x}');
SELECT pg_temp.sqlstate($$SELECT count(*) FROM mlops.compare('SELECT i::float8 AS x FROM generate_series(1, 200000) i',
                                                              'SELECT i::float8 AS x FROM generate_series(1, 200000) i')$$);
RESET mlops.max_training_memory;

-- drop_monitor's cascade from each of the monitor's runs to its alerts (the foreign key's
-- generic query) probes an index, not the whole alert table once per run (seq scans off: the
-- table is small here)
SET enable_seqscan = off;
SET plan_cache_mode = force_generic_plan;
PREPARE cascade(bigint) AS DELETE FROM ONLY mlops.alert WHERE $1 OPERATOR(pg_catalog.=) run_id;
EXPLAIN (COSTS OFF) EXECUTE cascade(1);
DEALLOCATE cascade;
RESET plan_cache_mode;
RESET enable_seqscan;

-- a monitor's last run (the monitors view, which run_monitor reads) is one index probe, not a
-- read of every run of the monitor
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT last_run_at FROM mlops.monitors WHERE name = 'x';
-- and so is the latest run that measured a model (its report's drift section), monitored or not
EXPLAIN (COSTS OFF) SELECT run_id FROM mlops.drift_results WHERE model = 'x' ORDER BY run_id DESC LIMIT 1;
RESET enable_seqscan;

-- a retrain alert of a monitor's retraining names the monitor, and goes with it as its other
-- alerts do; a retraining's failed run stays
SELECT kind, count(*) FROM mlops.alerts WHERE monitor = 'price_ks' GROUP BY kind ORDER BY kind;
SELECT mlops.drop_monitor('price_ks');
SELECT count(*) AS alerts_left FROM mlops.alert WHERE message LIKE 'retraining "price" failed%';
SELECT count(*) > 0 AS failed_runs_kept FROM mlops.runs WHERE run_name = 'retrain' AND status = 'failed';
