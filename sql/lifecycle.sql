-- Registry lifecycle: set_alias, delete_alias, rollback, delete_version, and
-- who may move "production".
CREATE EXTENSION mlops;
\set SHOW_CONTEXT never
\i test/lib/sqlstate.sql

-- four versions of a model; the first one got "production" automatically
SELECT mlops._register_version('churn', 'logistic', 'classification', '{a,b}', 'y', '{0,1}',
       '{}', '{}', '{}', NULL, NULL, 't', 10, 0, 0, 'fp', convert_to('v' || i, 'UTF8'), 'linear-json')
  FROM generate_series(1, 4) i;
SELECT aliases FROM mlops.models;

-- moves are recorded; setting an alias where it already points is not a move
SELECT mlops.set_alias('churn', 'production', 2);
SELECT mlops.set_alias('churn', 'production', 3);
SELECT mlops.set_alias('churn', 'production', 3);
SELECT mlops.set_alias('churn', 'staging', 4);
SELECT alias, action, from_version, to_version FROM mlops.deployments ORDER BY id;

-- rollback twice walks back twice; then there is nothing earlier
SELECT mlops.rollback('churn');
SELECT mlops.rollback('churn');
SELECT version FROM mlops.resolve_model('churn');
SELECT pg_temp.sqlstate($$SELECT mlops.rollback('churn')$$);
-- a move after rollbacks starts a new branch of history
SELECT mlops.set_alias('churn', 'production', 4);
SELECT mlops.rollback('churn');
SELECT alias, action, from_version, to_version FROM mlops.deployments ORDER BY id;

-- delete_alias; a rollback undoes a deletion; an alias with one move has nothing to roll back to
SELECT mlops.delete_alias('churn', 'staging');
SELECT aliases FROM mlops.models;
SELECT pg_temp.sqlstate($$SELECT mlops.rollback('churn', 'staging')$$);
SELECT mlops.set_alias('churn', 'canary', 2);
SELECT pg_temp.sqlstate($$SELECT mlops.rollback('churn', 'canary')$$);

-- delete_version: refused while aliased, then allowed; the number is not reused
SELECT pg_temp.sqlstate($$SELECT mlops.delete_version('churn', 2)$$, true, true);
SELECT mlops.delete_alias('churn', 'canary');
SELECT mlops.delete_version('churn', 2);
SELECT version FROM mlops.model_versions ORDER BY version;
-- canary's deletion cannot be rolled back: the version it pointed to is gone
SELECT pg_temp.sqlstate($$SELECT mlops.rollback('churn', 'canary')$$);
SELECT mlops._register_version('churn', 'logistic', 'classification', '{a,b}', 'y', '{0,1}',
       '{}', '{}', '{}', NULL, NULL, 't', 10, 0, 0, 'fp', '\x05', 'linear-json') AS new_version;

-- bad input: each a clear error, nothing changed
SELECT q, pg_temp.sqlstate(q) AS outcome FROM (VALUES
    ($$SELECT mlops.set_alias('nope', 'staging', 1)$$),
    ($$SELECT mlops.set_alias('churn', 'staging', 99)$$),
    ($$SELECT mlops.set_alias('churn', 'has space', 1)$$),
    ($$SELECT mlops.set_alias('churn', 'it''s', 1)$$),
    ($$SELECT mlops.set_alias('churn', 'Staging', 1)$$),
    ($$SELECT mlops.set_alias('churn', NULL, 1)$$),
    ($$SELECT mlops.set_alias('churn', 'staging', NULL)$$),
    ($$SELECT mlops.delete_alias('churn', 'nope')$$),
    ($$SELECT mlops.delete_version('churn', 2)$$),
    ($$SELECT mlops.delete_version('churn', NULL)$$),
    ($$SELECT mlops.rollback('nope')$$),
    ($$SELECT mlops.rollback('churn', 'never_set')$$),
    ($$SELECT mlops.rollback(NULL)$$)
) AS cases(q);
SELECT count(*) AS deployments FROM mlops.deployments;

-- a rolled-back move leaves no trace
BEGIN;
SELECT mlops.set_alias('churn', 'production', 5);
ROLLBACK;
SELECT version FROM mlops.resolve_model('churn');
SELECT count(*) AS deployments FROM mlops.deployments;

-- roles: a trainer moves any alias but production; an admin moves production
CREATE ROLE regress_trainer IN ROLE mlops_trainer;
CREATE ROLE regress_admin IN ROLE mlops_admin;
SET ROLE regress_trainer;
SELECT mlops.set_alias('churn', 'staging', 5);
SELECT pg_temp.sqlstate($$SELECT mlops.set_alias('churn', 'production', 5)$$);
SELECT pg_temp.sqlstate($$SELECT mlops.rollback('churn')$$);
SELECT pg_temp.sqlstate($$SELECT mlops.delete_alias('churn', 'production')$$);
RESET ROLE;
SET ROLE regress_admin;
SELECT mlops.set_alias('churn', 'production', 5);
SELECT mlops.rollback('churn');
RESET ROLE;
SELECT alias, action, from_version, to_version, by FROM mlops.deployments ORDER BY id DESC LIMIT 3;

-- a description: any trainer sets it, NULL clears it, the audit log keeps each change
SET ROLE regress_trainer;
SELECT mlops.set_model_description('churn', 'Monthly churn, "v2" features & <tags>');
RESET ROLE;
SELECT name, description FROM mlops.models WHERE name = 'churn';
SELECT mlops.set_model_description('churn', NULL);
SELECT description IS NULL AS cleared FROM mlops.models WHERE name = 'churn';
SELECT op, old_row->>'description' AS old, new_row->>'description' AS new, changed_columns
  FROM mlops.audit_log WHERE table_name = 'mlops.model' AND op = 'UPDATE' AND 'description' = ANY (changed_columns)
 ORDER BY id;
SELECT pg_temp.sqlstate(q) FROM (VALUES
    ($$SELECT mlops.set_model_description('nope', 'x')$$),
    ($$SELECT mlops.set_model_description(NULL, 'x')$$)
) AS cases(q);
DROP ROLE regress_trainer, regress_admin;
