-- Roles: mlops_scorer cannot log runs nor touch the registry; mlops_trainer can
-- log runs and read the registry views, but cannot write registry tables.
CREATE EXTENSION mlops;
\set SHOW_CONTEXT never
\i test/lib/sqlstate.sql

SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname LIKE 'mlops\_%' ORDER BY rolname;
SELECT r.rolname AS role, m.rolname AS member_of
  FROM pg_auth_members a JOIN pg_roles r ON r.oid = a.member JOIN pg_roles m ON m.oid = a.roleid
 WHERE m.rolname LIKE 'mlops\_%' ORDER BY 1, 2;

-- no function is callable by PUBLIC
SELECT count(*) AS public_functions
  FROM pg_proc p, aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) acl
 WHERE p.pronamespace = 'mlops'::regnamespace AND acl.grantee = 0 AND acl.privilege_type = 'EXECUTE';
-- the rights of each role, as the README's Roles table gives them: the first
-- of the three that reaches each public function, view and table (each role
-- holds the rights of the one below it); superuser: none of them
WITH objs AS (
    SELECT 'function' AS kind, p.proname::text AS name,
           ARRAY[has_function_privilege('mlops_scorer', p.oid, 'EXECUTE'),
                 has_function_privilege('mlops_trainer', p.oid, 'EXECUTE'),
                 has_function_privilege('mlops_admin', p.oid, 'EXECUTE')] AS may
      FROM pg_proc p WHERE p.pronamespace = 'mlops'::regnamespace AND p.proname !~ '^_' AND p.prokind = 'f'
    UNION
    SELECT 'relation', c.relname::text,
           ARRAY[has_table_privilege('mlops_scorer', c.oid, 'SELECT'),
                 has_table_privilege('mlops_trainer', c.oid, 'SELECT'),
                 has_table_privilege('mlops_admin', c.oid, 'SELECT')]
      FROM pg_class c WHERE c.relnamespace = 'mlops'::regnamespace AND c.relkind IN ('r', 'v'))
SELECT DISTINCT CASE WHEN may[1] THEN 'mlops_scorer' WHEN may[2] THEN 'mlops_trainer'
                     WHEN may[3] THEN 'mlops_admin' ELSE 'superuser' END AS role, kind, name
  FROM objs ORDER BY 1, 2, 3;
-- every SECURITY DEFINER function pins its search_path
SELECT proname FROM pg_proc
 WHERE pronamespace = 'mlops'::regnamespace AND prosecdef
   AND NOT coalesce(proconfig, '{}') @> '{"search_path=pg_catalog, mlops, pg_temp"}';
-- every function and view is commented
SELECT p.oid::regprocedure AS uncommented FROM pg_proc p
 WHERE p.pronamespace = 'mlops'::regnamespace AND obj_description(p.oid, 'pg_proc') IS NULL;
SELECT c.relname AS uncommented FROM pg_class c
 WHERE c.relnamespace = 'mlops'::regnamespace AND c.relkind IN ('r', 'v') AND obj_description(c.oid, 'pg_class') IS NULL;

CREATE ROLE regress_scorer LOGIN IN ROLE mlops_scorer;
CREATE ROLE regress_trainer LOGIN IN ROLE mlops_trainer;
CREATE ROLE regress_nobody LOGIN;

-- a trainer logs runs and reads the views
SET ROLE regress_trainer;
SELECT mlops.start_run('roles') AS run \gset
SELECT mlops.log_metric(:run, 'm', 1);
SELECT mlops.end_run(:run);
SELECT experiment, status, created_by FROM mlops.runs;
SELECT count(*) FROM mlops.models;
-- but writes no table directly
INSERT INTO mlops.run (experiment_id, created_by) VALUES (1, 'x');
UPDATE mlops.run SET status = 'running';
DELETE FROM mlops.model_version;
INSERT INTO mlops.deployment (model_id, alias, action, by) VALUES (1, 'production', 'set', 'x');
SELECT count(*) FROM mlops.run_param;
RESET ROLE;

CREATE TABLE tiny AS SELECT i::float8 AS x, 2.0 * i + 1 AS y FROM generate_series(1, 20) i;
SELECT version FROM mlops.train('tiny', 'tiny', 'y', 'linear', test_fraction => 0);
-- a scorer neither logs runs nor reads or writes the registry
SET ROLE regress_scorer;
SELECT mlops.start_run('roles');
SELECT mlops.log_metric(:run, 'm', 2);
SELECT count(*) FROM mlops.runs;
SELECT count(*) FROM mlops.model_versions;
INSERT INTO mlops.model (name, created_by) VALUES ('m', 'x');
SELECT mlops._register_version('m', 'linear', 'regression', '{a}', 'y', NULL,
       '{}', '{}', '{}', NULL, NULL, 't', 1, 0, 0, 'fp', '\x00', 'linear-json');
SELECT mlops.build_info() ? 'xgboost' AS has_build_info;
-- it scores, but cannot take the artifact through scoring's helper (export is a trainer's)
SELECT round(mlops.predict('tiny', ARRAY[3.0]::float8[])::numeric, 6) AS prediction;
SELECT pg_temp.sqlstate($$SELECT artifact FROM mlops._model_artifact((SELECT model_id FROM mlops.resolve_model('tiny')), 1)$$);
SELECT pg_temp.sqlstate($$SELECT mlops.set_model_description('tiny', 'x')$$);
RESET ROLE;

-- a role outside mlops cannot even reach the schema
SET ROLE regress_nobody;
SELECT mlops.start_run('roles');
SELECT count(*) FROM mlops.runs;
RESET ROLE;

-- a function a role may call, running with the caller's rights, may call the
-- mlops functions it names (only retraining is left to mlops_admin: a trainer's
-- monitor with action retrain records the refusal)
WITH f AS (SELECT oid, proname, prosecdef, prosrc FROM pg_proc WHERE pronamespace = 'mlops'::regnamespace),
     calls AS (SELECT f.oid AS caller, f.proname, m[1] AS callee
                 FROM f, regexp_matches(f.prosrc, 'mlops\.([a-z_0-9]+)\s*\(', 'g') m WHERE NOT f.prosecdef)
SELECT DISTINCT r AS role, c.proname AS caller, c.callee
  FROM calls c, unnest(ARRAY['mlops_scorer', 'mlops_trainer', 'mlops_admin']) r
 WHERE has_function_privilege(r, c.caller, 'EXECUTE')
   AND EXISTS (SELECT FROM f WHERE f.proname = c.callee)
   AND NOT EXISTS (SELECT FROM f WHERE f.proname = c.callee AND has_function_privilege(r, f.oid, 'EXECUTE'))
 ORDER BY 1, 2, 3;

-- who: invoker() is the caller even inside SECURITY DEFINER functions
SELECT created_by FROM mlops.run WHERE id = :run;

-- a trainer's index expression that moves production does not move it when a
-- superuser (or autovacuum) runs ANALYZE: PostgreSQL runs it as the table's
-- owner, and mlops refuses to take the superuser for the caller
SELECT version FROM mlops.train('tiny', 'tiny', 'y', 'ridge', test_fraction => 0);
GRANT CREATE ON SCHEMA public TO regress_trainer;
SET ROLE regress_trainer;
CREATE TABLE trap (x int);
CREATE FUNCTION trap_key(int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $f$
BEGIN
    BEGIN
        PERFORM mlops.set_alias('tiny', 'production', 2);
    EXCEPTION WHEN insufficient_privilege THEN
        RAISE NOTICE '%', SQLERRM;
    END;
    RETURN $1;
END
$f$;
CREATE INDEX ON trap (trap_key(x));
INSERT INTO trap VALUES (1);
RESET ROLE;
ANALYZE trap;
SELECT aliases FROM mlops.models WHERE name = 'tiny';
SELECT count(*) AS production_moves FROM mlops.deployments WHERE model = 'tiny' AND alias = 'production';
DROP TABLE trap;
REVOKE CREATE ON SCHEMA public FROM regress_trainer;

-- a trainer writes its own runs, monitors and versions, not another trainer's:
-- those are their creator's and mlops_admin's
CREATE ROLE regress_trainer2 LOGIN IN ROLE mlops_trainer;
CREATE ROLE regress_admin LOGIN IN ROLE mlops_admin;
GRANT SELECT ON tiny TO regress_trainer;
SET ROLE regress_trainer;
SELECT mlops.start_run('roles', 'own') AS own_run \gset
SELECT version FROM mlops.train('own', 'tiny', 'y', 'linear', test_fraction => 0);
SELECT version, run_id AS own_version_run FROM mlops.train('own', 'tiny', 'y', 'ridge', test_fraction => 0) \gset
SELECT mlops.create_monitor('own_psi', 'own', 'tiny') > 0 AS created;
RESET ROLE;
SET ROLE regress_trainer2;
SELECT pg_temp.sqlstate('SELECT mlops.log_param(' || :own_run || ', ''p'', ''x'')');
SELECT pg_temp.sqlstate('SELECT mlops.log_params(' || :own_run || ', ''{"p": "x"}'')');
SELECT pg_temp.sqlstate('SELECT mlops.log_metric(' || :own_run || ', ''m'', 0)');
SELECT pg_temp.sqlstate('SELECT mlops.log_metrics(' || :own_run || ', ''{"m": 0}'')');
SELECT pg_temp.sqlstate('SELECT mlops.set_tag(' || :own_run || ', ''t'', ''x'')');
SELECT pg_temp.sqlstate('SELECT mlops.end_run(' || :own_run || ', ''killed'')');
SELECT pg_temp.sqlstate('SELECT mlops._link_run_to_cron(' || :own_run || ')');
SELECT pg_temp.sqlstate('SELECT mlops._register_version(''claimed'', ''linear'', ''regression'', ''{x}'', ''y'', NULL, '
                        '''{}'', ''{}'', ''{}'', NULL, ' || :own_version_run || ', ''tiny'', 1, 0, 0, ''fp'', '
                        '''{"terms": ["x"], "intercept": [0], "coef": [[1]]}'', ''linear-json'')');
SELECT pg_temp.sqlstate($$SELECT mlops.drop_monitor('own_psi')$$);
SELECT pg_temp.sqlstate($$SELECT mlops.delete_version('own', 2)$$);
-- an unknown model is 42704 whatever the alias, as for set_alias (promote said
-- 42501 for production); an existing model's production is still refused
SELECT pg_temp.sqlstate($$SELECT mlops.promote('nosuch')$$);
SELECT pg_temp.sqlstate($$SELECT mlops.set_alias('nosuch', 'production', 1)$$);
SELECT pg_temp.sqlstate($$SELECT mlops.promote('own')$$);
RESET ROLE;
SELECT status, params, metrics, tags FROM mlops.runs WHERE run_id = :own_run;
SELECT count(*) AS claimed FROM mlops.models WHERE name = 'claimed';
SELECT count(*) AS monitors FROM mlops.monitors WHERE name = 'own_psi';
SELECT version FROM mlops.model_versions WHERE name = 'own' ORDER BY version;
-- its creator and mlops_admin still do
SET ROLE regress_trainer;
SELECT mlops.log_metric(:own_run, 'm', 1);
SELECT mlops.end_run(:own_run);
RESET ROLE;
SET ROLE regress_admin;
SELECT mlops.set_tag(:own_run, 'reviewed', 'yes');
SELECT mlops.delete_version('own', 2);
SELECT mlops.drop_monitor('own_psi');
RESET ROLE;
SELECT status, metrics, tags FROM mlops.runs WHERE run_id = :own_run;
SELECT version FROM mlops.model_versions WHERE name = 'own' ORDER BY version;

-- a role with CREATE on the database (pg_cron is not installed here) cannot
-- have mlops read a cron.job_run_details of its making as mlops's owner
SELECT current_database() AS db \gset
GRANT CREATE ON DATABASE :"db" TO regress_trainer;
SET ROLE regress_trainer;
CREATE SCHEMA cron;
CREATE FUNCTION cron.escalate() RETURNS bigint LANGUAGE plpgsql AS $f$
BEGIN
    ALTER ROLE regress_trainer SUPERUSER;
    RETURN NULL;
EXCEPTION WHEN insufficient_privilege THEN
    RETURN NULL;
END
$f$;
CREATE VIEW cron.job_run_details AS
SELECT cron.escalate() AS jobid, NULL::bigint AS runid, pg_backend_pid() AS job_pid, 'running' AS status;
SELECT mlops._link_run_to_cron(:own_run);
RESET ROLE;
SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_trainer';
ALTER ROLE regress_trainer NOSUPERUSER;
DROP SCHEMA cron CASCADE;
REVOKE CREATE ON DATABASE :"db" FROM regress_trainer;

-- a role outside mlops cannot have its table audited by naming a trigger of
-- its own mlops_audit (the DDL guard rebuilds audit triggers as mlops's owner)
GRANT CREATE ON SCHEMA public TO regress_nobody;
SET ROLE regress_nobody;
CREATE TABLE own_table (a int, b int);
CREATE FUNCTION own_trigger() RETURNS trigger LANGUAGE plpgsql AS $f$BEGIN RETURN NULL; END$f$;
SELECT pg_temp.sqlstate($$CREATE TRIGGER mlops_audit AFTER INSERT ON own_table FOR EACH ROW EXECUTE FUNCTION own_trigger('b')$$);
SELECT pg_temp.sqlstate($$ALTER TABLE own_table ENABLE ALWAYS TRIGGER mlops_audit$$);
ALTER TABLE own_table DROP COLUMN b;
ALTER TABLE own_table ALTER COLUMN a TYPE bigint;                -- rewritten: not audited, and no right on mlops needed
RESET ROLE;
SELECT count(*) AS audited FROM mlops.audited_tables WHERE table_name = 'own_table'::regclass;
DROP TABLE own_table;
DROP FUNCTION own_trigger();
REVOKE CREATE ON SCHEMA public FROM regress_nobody;

-- the functions that keep the caller's search_path (sources are named against
-- it) take no function or operator from it: a trainer's in public that match
-- better than pg_catalog's do not run when an admin promotes, evaluates in the
-- gate or runs a monitor (each would move production as the admin)
GRANT CREATE ON SCHEMA public TO regress_trainer;
GRANT SELECT ON tiny TO regress_admin;
SET ROLE regress_trainer;
CREATE TABLE public.trapped (hook text);
GRANT INSERT ON public.trapped TO PUBLIC;
CREATE FUNCTION public.trap(hook text) RETURNS void LANGUAGE plpgsql AS $f$
BEGIN
    INSERT INTO public.trapped VALUES (hook);
    PERFORM mlops.set_alias('tiny', 'production', 2);
EXCEPTION WHEN insufficient_privilege THEN
    NULL;
END
$f$;
CREATE FUNCTION public.trap_eq(mlops.model_name, text) RETURNS boolean LANGUAGE plpgsql AS
    $f$BEGIN PERFORM public.trap('= (model_name, text)'); RETURN $1::text OPERATOR(pg_catalog.=) $2; END$f$;
CREATE OPERATOR public.= (LEFTARG = mlops.model_name, RIGHTARG = text, FUNCTION = public.trap_eq);
CREATE FUNCTION public.trap_gt(float8, int) RETURNS boolean LANGUAGE plpgsql AS
    $f$BEGIN PERFORM public.trap('> (float8, int)'); RETURN $1 OPERATOR(pg_catalog.>) $2::float8; END$f$;
CREATE OPERATOR public.> (LEFTARG = float8, RIGHTARG = int, FUNCTION = public.trap_gt);
CREATE FUNCTION public.trap_cat(text, int) RETURNS text LANGUAGE plpgsql AS
    $f$BEGIN PERFORM public.trap('|| (text, int)'); RETURN $1 OPERATOR(pg_catalog.||) $2::text; END$f$;
CREATE OPERATOR public.|| (LEFTARG = text, RIGHTARG = int, FUNCTION = public.trap_cat);
CREATE FUNCTION public.jsonb_agg(jsonb) RETURNS jsonb LANGUAGE plpgsql AS
    $f$BEGIN PERFORM public.trap('jsonb_agg(jsonb)'); RETURN NULL; END$f$;
RESET ROLE;
SET ROLE regress_admin;
SELECT mlops.promote('tiny', 2, 'staging')->>'promoted' AS promoted;
SELECT mlops.promote('tiny', 2, 'checked', gate => '{"source": "tiny"}')->>'promoted' AS promoted;
SELECT mlops.create_monitor('tiny_psi', 'tiny', 'tiny') > 0 AS created;
SELECT mlops.run_monitor('tiny_psi')->>'monitor' AS monitor;
SELECT length(mlops.report('tiny')) > 0 AS report, length(mlops.report_experiment('tiny')) > 0 AS experiment_report;
RESET ROLE;
DROP OPERATOR public.= (mlops.model_name, text), public.> (float8, int), public.|| (text, int);
DROP FUNCTION public.trap_eq, public.trap_gt, public.trap_cat, public.jsonb_agg(jsonb);
SELECT DISTINCT hook FROM public.trapped ORDER BY hook;
SELECT count(*) AS production_moves_by_admin FROM mlops.deployments
 WHERE model = 'tiny' AND alias = 'production' AND by = 'regress_admin';
DROP FUNCTION public.trap;
DROP TABLE public.trapped;
REVOKE CREATE ON SCHEMA public FROM regress_trainer;

DROP OWNED BY regress_scorer, regress_trainer, regress_trainer2, regress_admin, regress_nobody;
DROP ROLE regress_scorer, regress_trainer, regress_trainer2, regress_admin, regress_nobody;
