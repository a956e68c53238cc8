-- Configuration parameters: defaults, units, validation, reserved prefix.
CREATE EXTENSION mlops;
SHOW mlops.threads;
SHOW mlops.max_training_memory;
SHOW mlops.model_cache_size;
SHOW mlops.default_alias;
-- the defaults and ranges of the README's Settings table (as built in, whatever
-- the server's configuration says)
SELECT name, boot_val, unit, min_val, max_val, context FROM pg_settings WHERE name LIKE 'mlops.%' ORDER BY name;
SET mlops.max_training_memory = '64MB';
SHOW mlops.max_training_memory;
SET mlops.threads = -1;
SET mlops.default_alias = 'Has Space';
SET mlops.default_alias = '';
-- the rule of alias names (mlops.alias_name): the first version of a new model gets this alias
SET mlops.default_alias = '9live';
SET mlops.default_alias = '-live';
SET mlops.default_alias = 'a123456789012345678901234567890123456789012345678901234567890123';
SET mlops.default_alias = '_a12345678901234567890123456789012345678901234567890123456789-0';
SET mlops.default_alias = 'champion';
SHOW mlops.default_alias;
-- a typo in a parameter name is an error, not a silently created placeholder
SET mlops.thread = 2;
SELECT (mlops.build_info()->>'training_threads')::int > 0 AS threads_known,
       mlops.build_info()->>'xgboost' AS xgboost;
SET mlops.threads = 3;
SELECT mlops.build_info()->>'training_threads' AS training_threads;
-- the ranges and the error code the README's Settings table gives
\i test/lib/sqlstate.sql
SELECT pg_temp.sqlstate($$SET mlops.threads = 1025$$);
SELECT pg_temp.sqlstate($$SET mlops.threads = 'two'$$);
SELECT pg_temp.sqlstate($$SET mlops.max_training_memory = '1023kB'$$);
SELECT pg_temp.sqlstate($$SET mlops.max_training_memory = '1MB'$$);
SELECT pg_temp.sqlstate($$SET mlops.model_cache_size = -1$$);
SELECT pg_temp.sqlstate($$SET mlops.model_cache_size = 10001$$);
SELECT pg_temp.sqlstate($$SET mlops.model_cache_size = 0$$);
SELECT pg_temp.sqlstate($$SET mlops.default_alias = 'Champion'$$);
SHOW mlops.default_alias;
SELECT pg_temp.sqlstate($$SET mlops.max_training_memory = '2147483647kB'$$);
SELECT pg_temp.sqlstate($$SET mlops.max_training_memory = '2147483648kB'$$);
SELECT pg_temp.sqlstate($$SET mlops.progress_interval = -1$$);
SELECT pg_temp.sqlstate($$SET mlops.progress_interval = -2$$);
SELECT pg_temp.sqlstate($$SET mlops.progress_interval = '2147483647ms'$$);
SELECT pg_temp.sqlstate($$SET mlops.progress_interval = 'often'$$);
-- the units a value without one is read in: kB and ms
SET mlops.max_training_memory = 2048;
SHOW mlops.max_training_memory;
SET mlops.progress_interval = 1500;
SHOW mlops.progress_interval;
RESET mlops.max_training_memory;
RESET mlops.progress_interval;
-- A function that reads a setting is at most STABLE: PostgreSQL may evaluate
-- an IMMUTABLE call once, at plan time, under the setting of that moment.
-- These C functions read mlops.max_training_memory (or another mlops setting);
-- none may be IMMUTABLE.
SELECT count(*) AS readers,
       string_agg(p.oid::regprocedure::text, ', ') FILTER (WHERE p.provolatile = 'i') AS immutable_readers
  FROM pg_proc p
 WHERE p.pronamespace = 'mlops'::regnamespace
   AND p.prosrc IN ('quality_agg_transfn', 'train', 'evaluate', 'evaluate_versions', 'profile', 'compare',
                    'drift', 'report_model', 'default_alias', 'build_info');
-- Every IMMUTABLE function of mlops, each of which reads no setting; one added
-- here must be checked for that. (An aggregate's own entry is always
-- IMMUTABLE: its support functions say what it reads.)
SELECT p.oid::regprocedure AS immutable_function
  FROM pg_proc p
 WHERE p.pronamespace = 'mlops'::regnamespace AND p.provolatile = 'i'
 ORDER BY 1::text;
-- Before the library is loaded, a session's SET stores any text (a placeholder);
-- loading it warns about an invalid value and uses the default in its place.
-- The functions in PL/pgSQL (resolve_model, predict_logged, retrain, monitors)
-- resolve a bare name under that same default, not under the placeholder's text.
RESET mlops.default_alias;
CREATE TABLE line (x float8, y float8);
INSERT INTO line VALUES (1, 2), (2, 4), (3, 6), (4, 8);
SELECT version FROM mlops.train('line', 'line', 'y', 'linear', test_fraction => 0);
\c
SET mlops.default_alias = 'Staging';
SELECT version FROM mlops.resolve_model('line');
SHOW mlops.default_alias;
