-- Registry schema: versions are immutable, the deployment history is
-- append-only, aliases protect their versions, names are validated.
CREATE EXTENSION mlops;
\set SHOW_CONTEXT never
\i test/lib/sqlstate.sql

-- register two versions the way train() and import_model() do
SELECT mlops.start_run('price') AS run \gset
SELECT mlops._register_version('price', 'linear', 'regression', '{rooms,area}', 'price', NULL,
       '{"alpha": 1}', '{"r2": 0.5}', '{}', NULL, :run, 'houses', 80, 20, 1, 'fp1', '\x0102', 'linear-json') AS v1;
SELECT mlops._register_version('price', 'ridge', 'regression', '{rooms,area}', 'price', NULL,
       '{"alpha": 2}', '{"r2": 0.6}', '{}', NULL, :run, 'houses', 80, 20, 1, 'fp2', '\x0304', 'linear-json') AS v2;
SELECT name, latest_version, aliases FROM mlops.models;
SELECT name, version, algorithm, task, features, target, train_rows, test_rows, skipped_rows,
       data_fingerprint, artifact_size, artifact_sha256, aliases, run_id = :run AS linked_to_run
  FROM mlops.model_versions ORDER BY version;
-- the first version of a new model gets the default alias, and the move is recorded
SELECT model, alias, action, from_version, to_version, reason FROM mlops.deployments;

-- versions are immutable, for their owner too
SELECT pg_temp.sqlstate($$UPDATE mlops.model_version SET artifact = '\xff'$$, false, true);
SELECT pg_temp.sqlstate($$UPDATE mlops.model_version SET metrics = '{"r2": 1}' WHERE version = 2$$, false, true);
SET session_replication_role = replica;
SELECT pg_temp.sqlstate($$UPDATE mlops.model_version SET metrics = '{"r2": 1}' WHERE version = 2$$, false, true);
RESET session_replication_role;
SELECT version, metrics FROM mlops.model_versions ORDER BY version;

-- the deployment history is append-only
SELECT pg_temp.sqlstate($$UPDATE mlops.deployment SET reason = 'rewritten'$$, false, true);
SELECT pg_temp.sqlstate($$DELETE FROM mlops.deployment$$, false, true);
SELECT pg_temp.sqlstate($$TRUNCATE mlops.deployment$$, false, true);
SELECT count(*) AS deployments FROM mlops.deployments;

-- an aliased version cannot be deleted; an unaliased one can
DELETE FROM mlops.model_version WHERE version = 1;
DELETE FROM mlops.model_version WHERE version = 2;
SELECT version FROM mlops.model_versions;

-- the lineage is enforced: a version's run must exist
SELECT mlops._register_version('price', 'linear', 'regression', '{rooms}', 'price', NULL,
       '{}', '{}', '{}', NULL, 424242, 'houses', 1, 0, 0, 'fp', '\x00', 'linear-json');
-- names and values are checked
SELECT mlops._register_version('bad@name', 'linear', 'regression', '{a}', 'y', NULL,
       '{}', '{}', '{}', NULL, NULL, 't', 1, 0, 0, 'fp', '\x00', 'linear-json');
SELECT mlops._register_version('churn:7', 'linear', 'regression', '{a}', 'y', NULL,
       '{}', '{}', '{}', NULL, NULL, 't', 1, 0, 0, 'fp', '\x00', 'linear-json');
SELECT pg_temp.sqlstate($$SELECT mlops._register_version('m', 'forest', 'regression', '{a}', 'y', NULL,
       '{}', '{}', '{}', NULL, NULL, 't', 1, 0, 0, 'fp', '\x00', 'linear-json')$$);
SELECT pg_temp.sqlstate($$SELECT mlops._register_version('m', 'linear', 'clustering', '{a}', 'y', NULL,
       '{}', '{}', '{}', NULL, NULL, 't', 1, 0, 0, 'fp', '\x00', 'linear-json')$$);
SELECT pg_temp.sqlstate($$SELECT mlops._register_version('m', 'linear', 'regression', '{}', 'y', NULL,
       '{}', '{}', '{}', NULL, NULL, 't', 1, 0, 0, 'fp', '\x00', 'linear-json')$$);
SELECT pg_temp.sqlstate($$SELECT mlops._register_version('m', 'linear', 'regression', '{a}', 'y', NULL,
       '{}', '{}', '{}', NULL, NULL, 't', 1, 0, 0, 'fp', NULL, 'linear-json')$$);
INSERT INTO mlops.alias VALUES ((SELECT id FROM mlops.model WHERE name = 'price'), 'has space', 1);
INSERT INTO mlops.alias VALUES ((SELECT id FROM mlops.model WHERE name = 'price'), 'staging', 99);
-- nothing half-written by the failures above
SELECT name FROM mlops.models ORDER BY name;

-- model references: name, name@alias, name:version (a deleted version's number is not reused)
SELECT mlops._register_version('price', 'ridge', 'regression', '{rooms,area}', 'price', NULL,
       '{}', '{}', '{}', NULL, :run, 'houses', 80, 20, 1, 'fp3', '\x05', 'linear-json') AS v3;
INSERT INTO mlops.alias SELECT id, 'staging', 3 FROM mlops.model WHERE name = 'price';
SELECT ref, (r).model, (r).version FROM (VALUES ('price'), ('price@staging'), ('price:3'), ('price@production')) v(ref),
       LATERAL (SELECT mlops.resolve_model(ref) AS r) s;
SET mlops.default_alias = 'staging';
SELECT version FROM mlops.resolve_model('price');
RESET mlops.default_alias;
SELECT ref, pg_temp.sqlstate(format('SELECT mlops.resolve_model(%L)', ref)) AS outcome
  FROM (VALUES ('nope'), ('nope@production'), ('price@canary'), ('price:2'), ('price:99'), ('price:99999999999'),
               ('price:x'), ('price@'), ('price@a@b'), (''), (NULL)) v(ref);

-- lineage: which data and parameters produced the version behind each alias
SELECT model, alias, version, algorithm, source, target, features, data_fingerprint, train_rows, test_rows,
       run_id = :run AS from_run
  FROM mlops.lineage ORDER BY model, alias;

-- DROP EXTENSION removes everything, schema included
DROP EXTENSION mlops;
SELECT count(*) AS mlops_schemas FROM pg_namespace WHERE nspname = 'mlops';
CREATE EXTENSION mlops;
SELECT count(*) AS models FROM mlops.models;
