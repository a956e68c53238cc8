-- ---------------------------------------------------------------------------
-- Automation: retraining a model with the spec of the version behind its
-- default alias (production unless mlops.default_alias says otherwise), and
-- pg_cron jobs that retrain models or run monitors on a schedule. pg_cron is a
-- soft dependency: it is looked up when a job is scheduled, never at install.
-- Jobs run as the role that scheduled them, so the scheduling functions are
-- SECURITY INVOKER (pg_cron records current_user as the job's user); the
-- functions that read a model's source keep the caller's search_path, against
-- which the source was given at training (their bodies are proof against it:
-- see 00_base.sql).
-- ---------------------------------------------------------------------------

-- Raises 42704 (undefined_object) unless pg_cron is installed in this
-- database, and 42501 unless the calling role may use its schema (saying how).
CREATE FUNCTION mlops._require_pg_cron() RETURNS void
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cron_database text;
BEGIN
    IF NOT EXISTS (SELECT FROM pg_extension WHERE extname = 'pg_cron') THEN
        -- pg_cron serves one database: when it is loaded for another one, say
        -- which, to a role that may read the setting (it is superuser-only)
        IF pg_has_role('pg_read_all_settings', 'USAGE') OR (SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = current_user) THEN
            cron_database := current_setting('cron.database_name', true);
        END IF;
        IF cron_database <> current_database() THEN
            RAISE EXCEPTION 'pg_cron is not installed in this database'
                USING ERRCODE = 'undefined_object',
                      DETAIL = format('pg_cron runs the jobs of database "%s" (cron.database_name) only.', cron_database),
                      HINT = 'Schedule mlops jobs in that database, or set cron.database_name to this one, restart, and run CREATE EXTENSION pg_cron here.';
        END IF;
        -- loaded for this database, and only the extension is missing (not created yet, or dropped)
        IF cron_database = current_database() THEN
            RAISE EXCEPTION 'pg_cron is not installed in this database'
                USING ERRCODE = 'undefined_object',
                      HINT = 'Run CREATE EXTENSION pg_cron.';
        END IF;
        RAISE EXCEPTION 'pg_cron is not installed in this database'
            USING ERRCODE = 'undefined_object',
                  HINT = 'Add pg_cron to shared_preload_libraries, set cron.database_name to this database, restart, and run CREATE EXTENSION pg_cron.';
    END IF;
    IF NOT has_schema_privilege('cron', 'USAGE') THEN
        RAISE EXCEPTION 'permission denied for schema cron'
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'mlops jobs are pg_cron jobs of the role that schedules them.',
                  HINT = format('Ask a superuser to run GRANT USAGE ON SCHEMA cron TO %I.', current_user);
    END IF;
END
$$;
COMMENT ON FUNCTION mlops._require_pg_cron() IS
    'internal: raises 42704, saying how to install it, unless pg_cron is installed in this database, and 42501 unless the caller may use it';

-- The pg_cron job and run this backend is executing, or NULLs outside one.
-- Only pg_cron's own table is read: _link_run_to_cron calls this as mlops's
-- owner, and a cron.job_run_details that a role with CREATE on the database
-- made itself (while pg_cron is not installed) could be a view calling that
-- role's functions, which would then run as the owner, a superuser.
-- PARALLEL UNSAFE: its EXCEPTION block opens a subtransaction, which
-- PostgreSQL refuses in parallel mode (the leader's too).
CREATE FUNCTION mlops._current_cron_run(OUT job_id bigint, OUT run_id bigint)
    LANGUAGE plpgsql STABLE PARALLEL UNSAFE
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
                    WHERE d.classid = 'pg_class'::regclass AND d.objid = to_regclass('cron.job_run_details')
                      AND d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
                      AND e.extname = 'pg_cron') THEN
        RETURN;
    END IF;
    EXECUTE 'SELECT jobid, runid FROM cron.job_run_details
              WHERE job_pid = pg_backend_pid() AND status = ''running''
              ORDER BY runid DESC LIMIT 1' INTO job_id, run_id;
EXCEPTION WHEN insufficient_privilege THEN
    RETURN;
END
$$;
COMMENT ON FUNCTION mlops._current_cron_run() IS
    'internal: the pg_cron job id and run id this backend is executing (NULLs when not in a pg_cron job)';

-- Links a run to the pg_cron job run executing it, if any. Only a run the
-- caller may write (_lock_run): a job must not claim another role's run.
CREATE FUNCTION mlops._link_run_to_cron(run_id bigint) RETURNS void
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
    SET search_path = pg_catalog, mlops, pg_temp
AS $$
DECLARE
    cron record;
BEGIN
    PERFORM mlops._lock_run(run_id, false);
    SELECT * INTO cron FROM mlops._current_cron_run();
    IF cron.job_id IS NOT NULL THEN
        UPDATE mlops.run r SET cron_job_id = cron.job_id, cron_run_id = cron.run_id WHERE r.id = _link_run_to_cron.run_id;
    END IF;
END
$$;
COMMENT ON FUNCTION mlops._link_run_to_cron(bigint) IS
    'internal: records in a run the pg_cron job and job run that executed it, when one did';

-- The spec retrain() trains with: that of the version behind the default alias
-- of a model (given by name), which must have been trained by train(); the
-- new run goes to the experiment of that version's run.
CREATE FUNCTION mlops._retrain_spec(model text, OUT model_name text, OUT version int, OUT source text,
                                    OUT target text, OUT features text[], OUT algorithm text, OUT task text,
                                    OUT hyperparams jsonb, OUT test_fraction float8, OUT seed int,
                                    OUT experiment text)
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, mlops, pg_temp
AS $$
DECLARE
    training_run bigint;
    params jsonb;
BEGIN
    IF mlops._require(model, 'model') ~ '[@:]' THEN
        RAISE EXCEPTION 'retraining takes a model name, not "%"', model
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'The new version is trained with the spec of the version behind the default alias.';
    END IF;
    -- the empty name is one no model has, 42704 as for every function taking
    -- a name (resolve_model, taking references, calls it an invalid one)
    IF model = '' THEN
        RAISE EXCEPTION 'model "" does not exist' USING ERRCODE = 'undefined_object';
    END IF;
    SELECT r.model, r.version INTO model_name, version FROM mlops.resolve_model(model) r;
    SELECT v.source, v.target, v.features, v.algorithm, v.task, v.hyperparams, v.run_id
      INTO source, target, features, algorithm, task, hyperparams, training_run
      FROM mlops.model_versions v WHERE v.name = model_name AND v.version = _retrain_spec.version;
    IF source IS NULL OR training_run IS NULL THEN
        RAISE EXCEPTION 'version % of model "%" was not trained by mlops.train()', version, model_name
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'An imported version has no training source to retrain from.',
                  HINT = 'Train a version with mlops.train() and promote it first.';
    END IF;
    SELECT r.params, r.experiment INTO params, experiment FROM mlops.runs r WHERE r.run_id = training_run;
    SELECT coalesce(p.test_fraction, 0.2), coalesce(p.seed, 42) INTO test_fraction, seed
      FROM mlops._run_split(params) p;
END
$$;
COMMENT ON FUNCTION mlops._retrain_spec(text) IS
    'internal: the training spec of the version behind a model''s default alias (55000 unless train() made it)';

CREATE FUNCTION mlops.retrain(model text) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
AS $$
DECLARE
    spec record;
    trained record;
    test_rows bigint;
    outcome jsonb;
BEGIN
    SELECT * INTO spec FROM mlops._retrain_spec(model);
    SELECT * INTO trained
      FROM mlops.train(spec.model_name, spec.source, spec.target, spec.algorithm, spec.task, spec.features,
                       spec.hyperparams, spec.test_fraction, spec.seed, spec.experiment);
    PERFORM mlops._link_run_to_cron(trained.run_id);
    -- to the default alias (the spec's), through the gate: on the new version's
    -- test split, or on every row when the model trains on every row or its
    -- split held no test row (too few rows: promote() would refuse it, 22023)
    SELECT v.test_rows INTO test_rows FROM mlops.model_versions v
     WHERE v.name::text = spec.model_name AND v.version = trained.version;
    outcome := mlops.promote(spec.model_name, trained.version, mlops._default_alias(),
                             gate => CASE WHEN spec.test_fraction = 0::float8 OR test_rows = 0::bigint
                                          THEN pg_catalog.jsonb_build_object('source', spec.source)
                                          ELSE '{}' END);
    RETURN outcome || pg_catalog.jsonb_build_object('model', spec.model_name, 'version', trained.version,
                                         'run_id', trained.run_id, 'retrained_from', spec.version);
END
$$;
COMMENT ON FUNCTION mlops.retrain(text) IS
    'trains a new version with the spec of the version behind the default alias (source, target, features, algorithm, hyperparams, split) on today''s data, then promotes it to that alias through the gate; returns the gate outcome';

-- Records an unattended retraining that did not promote: a failure as a failed
-- run (in the experiment a retraining would have logged to, or one named after
-- the model when there is no spec to tell), and either as an alert, leaving
-- production as it was. monitor_run: the monitor run whose drift made the
-- retraining (NULL for a pg_cron job's), which names the alert's monitor.
CREATE FUNCTION mlops._record_retrain_outcome(model text, outcome jsonb, message text, reason text,
                                              monitor_run bigint DEFAULT NULL) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
    SET search_path = pg_catalog, mlops, pg_temp
AS $$
DECLARE
    run bigint := (outcome->>'run_id')::bigint;
    experiment text;
BEGIN
    IF outcome IS NULL THEN
        BEGIN
            SELECT s.experiment INTO experiment FROM mlops._retrain_spec(model) s;
        EXCEPTION WHEN OTHERS THEN
            NULL;       -- no production version, or not trained by train()
        END;
        run := mlops.start_run(coalesce(experiment, model), 'retrain', jsonb_build_object('reason', reason));
        PERFORM mlops.set_tag(run, 'error', message);
        PERFORM mlops._link_run_to_cron(run);
        PERFORM mlops.end_run(run, 'failed');
    END IF;
    INSERT INTO mlops.alert (run_id, kind, action, model, version, training_run, message)
        VALUES (monitor_run, 'retrain', 'retrain', model, (outcome->>'version')::int, run, message);
    RETURN coalesce(outcome, jsonb_build_object('promoted', false, 'model', model, 'run_id', run))
           || jsonb_build_object('alert', message);
END
$$;
COMMENT ON FUNCTION mlops._record_retrain_outcome(text, jsonb, text, text, bigint) IS
    'internal: records an unattended retraining that failed (as a failed run) or was refused by the gate, with an alert';

-- Retrains for a caller no one watches (a pg_cron job, a monitor): never
-- fails; a failure or a refusal by the gate is recorded where people look
-- (monitor_run: the monitor run whose drift retrains, for its alert).
CREATE FUNCTION mlops._retrain_unattended(model text, reason text, monitor_run bigint DEFAULT NULL) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
AS $$
DECLARE
    outcome jsonb;
    message text;
    state text;
BEGIN
    BEGIN
        outcome := mlops.retrain(model);
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS message = MESSAGE_TEXT, state = RETURNED_SQLSTATE;
        RETURN mlops._record_retrain_outcome(model, NULL,
                                             pg_catalog.format('retraining "%s" failed (%s): %s', model, state, message), reason,
                                             monitor_run);
    END;
    -- the version the gate kept is the incumbent it judged: another retraining
    -- may have moved the alias since this one read the version it retrains
    IF NOT (outcome->>'promoted')::boolean THEN
        RETURN mlops._record_retrain_outcome(model, outcome,
                                             pg_catalog.format('the gate kept version %s of "%s" in %s: %s',
                                                    outcome->>'incumbent_version', model, mlops._default_alias(),
                                                    outcome->>'reason'), reason, monitor_run);
    END IF;
    RETURN outcome;
END
$$;
COMMENT ON FUNCTION mlops._retrain_unattended(text, text, bigint) IS
    'internal: retrain() for pg_cron jobs and monitors: failures and gate refusals become alerts instead of errors';

-- True when the latest run of a monitor of the model, against its production
-- version, flagged drift: the data has moved away from what production learned,
-- and still has. A run against another version (a monitor pinned to it) says
-- nothing of production, and a drift that a later run no longer finds is over.
-- The model is resolved first, so that no version behind the alias is 42704
-- whatever the monitors' runs (a join with them may skip the resolution when
-- no run flagged drift).
CREATE FUNCTION mlops._production_drifting(model text) RETURNS boolean
    LANGUAGE sql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, mlops, pg_temp
AS $$
    SELECT EXISTS (SELECT FROM mlops.drift_status s
                    WHERE s.model = p.model AND s.version = p.version AND s.drifted)
      FROM mlops.resolve_model(model) p
$$;
COMMENT ON FUNCTION mlops._production_drifting(text) IS
    'internal: whether the latest run of a monitor of the model against its production version flagged drift; 42704 when no version is behind the alias';

-- Removes the pg_cron job running this backend (its model or monitor is gone).
CREATE FUNCTION mlops._unschedule_current_job(why text) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
    SET search_path = pg_catalog, mlops, pg_temp
AS $$
DECLARE
    job bigint := (mlops._current_cron_run()).job_id;
BEGIN
    IF job IS NOT NULL THEN
        EXECUTE 'SELECT cron.unschedule($1)' USING job;
    END IF;
    RETURN jsonb_build_object('unscheduled', job IS NOT NULL, 'reason', why);
END
$$;
COMMENT ON FUNCTION mlops._unschedule_current_job(text) IS
    'internal: removes the pg_cron job this backend runs, when what it works on no longer exists';

-- What a retraining job runs. pg_cron runs it with the server's settings, so
-- the job carries the default alias it was scheduled under (the version it
-- retrains and the alias it promotes to), in effect for this call only. It
-- also carries its model's creation time: pg_cron keeps the job through DROP
-- EXTENSION, and a model of the same name made after CREATE EXTENSION again
-- is another one, not retrained by it (a restored registry keeps the time).
CREATE FUNCTION mlops._scheduled_retrain(model text, only_on_drift boolean, alias text, created timestamptz)
    RETURNS jsonb
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
AS $$
DECLARE
    caller_alias text := mlops._default_alias();
    retrain boolean := true;    -- false only when only_on_drift finds no drift
    outcome jsonb;
BEGIN
    IF NOT EXISTS (SELECT FROM mlops.models m
                    WHERE m.name::text = _scheduled_retrain.model AND m.created_at = created) THEN
        RETURN mlops._unschedule_current_job(pg_catalog.format('model "%s" no longer exists', model));
    END IF;
    PERFORM pg_catalog.set_config('mlops.default_alias', alias, true);
    IF only_on_drift THEN
        BEGIN
            retrain := mlops._production_drifting(model);
        EXCEPTION WHEN undefined_object THEN
            -- no version behind the alias: the retraining fails the same way
            -- and records it (a failed run, an alert), as without only_on_drift
            retrain := true;
        END;
    END IF;
    IF NOT retrain THEN
        outcome := pg_catalog.jsonb_build_object('retrained', false,
                                                 'reason', 'no monitor''s latest run flags drift against the production version');
    ELSE
        outcome := mlops._retrain_unattended(model, CASE WHEN only_on_drift THEN 'drift' ELSE 'schedule' END);
    END IF;
    PERFORM pg_catalog.set_config('mlops.default_alias', caller_alias, true);
    RETURN outcome;
END
$$;
COMMENT ON FUNCTION mlops._scheduled_retrain(text, boolean, text, timestamptz) IS
    'internal: the command of a mlops:retrain job: retrain unattended under the default alias it was scheduled with, optionally only after drift, or remove the job once the model created then is gone';

-- What a monitoring job runs: as run_monitors() does, a failing monitor is
-- recorded with an error alert (no one reads cron.job_run_details). Only the
-- monitor created when the job was scheduled, as _scheduled_retrain's model.
CREATE FUNCTION mlops._scheduled_monitor(name text, created timestamptz) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM mlops.monitors m WHERE m.name = _scheduled_monitor.name AND m.created_at = created) THEN
        RETURN mlops._unschedule_current_job(pg_catalog.format('monitor "%s" no longer exists', name));
    END IF;
    RETURN mlops._run_monitor_recorded(name);
END
$$;
COMMENT ON FUNCTION mlops._scheduled_monitor(text, timestamptz) IS
    'internal: the command of a mlops:monitor job: runs the monitor (a failure becomes an error alert), or removes the job once the monitor is dropped';

-- The name pg_cron keeps for an mlops job: pg_cron stores job names as type
-- name (63 bytes), which would cut a long one short and give models or
-- monitors sharing their first characters one job between them. A name
-- longer than that keeps its first characters (at most 46 bytes), "~" and the
-- first 16 hex digits of its SHA-256, so it stays distinct; a name that fits
-- is kept as it is (hence a shortened name maps to itself). STABLE, as
-- convert_to is.
CREATE FUNCTION mlops._cron_job_name(job_name text) RETURNS text
    LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    kept text := left(job_name, 46);
BEGIN
    IF octet_length(job_name) <= 63 THEN
        RETURN job_name;
    END IF;
    WHILE octet_length(kept) > 46 LOOP
        kept := left(kept, -1);
    END LOOP;
    RETURN kept || '~' || left(encode(sha256(convert_to(job_name, 'UTF8')), 'hex'), 16);
END
$$;
COMMENT ON FUNCTION mlops._cron_job_name(text) IS
    'internal: the pg_cron job name of an mlops job: the name itself within 63 bytes, else a prefix, "~" and a hash of it';

-- The command of an mlops pg_cron job (job_name: the name pg_cron keeps): it
-- performs call while the function `needs` exists, and removes the job once
-- it does not (mlops dropped): pg_cron has no hook for DROP EXTENSION. It
-- runs under reading_path, the search_path of the session that scheduled it
-- (pg_cron's session has the role's default), so that it finds the sources
-- its model or monitor names as they were found then. The DO block's body is
-- dollar-quoted with a tag that does not occur in it (a monitor's name,
-- quoted as a literal inside, may contain "$job$"). The search_path is set
-- once the function is found (by its signature's built-in types, which that
-- path could hide).
CREATE FUNCTION mlops._cron_job_command(job_name text, call text, needs text, reading_path text) RETURNS text
    LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    body text := format(' BEGIN IF pg_catalog.to_regprocedure(%L) IS NULL THEN PERFORM cron.unschedule(%L); '
                        'ELSE PERFORM pg_catalog.set_config(''search_path'', %L, true); PERFORM %s; END IF; END ',
                        needs, job_name, reading_path, call);
    tag text := '$job$';
    n int := 0;
BEGIN
    WHILE strpos(body, tag) > 0 LOOP
        n := n + 1;
        tag := '$job' || n || '$';
    END LOOP;
    RETURN 'DO ' || tag || body || tag;
END
$$;
COMMENT ON FUNCTION mlops._cron_job_command(text, text, text, text) IS
    'internal: the command of an mlops pg_cron job: call under a search_path while mlops is there, else the job''s removal';

-- The search_path a command made by _cron_job_command runs under, NULL for
-- a command it did not make: with it, the command can be made again and
-- compared. Its literal (E'' when it holds a backslash, which is doubled, as
-- quotes are) is the first set_config of the search_path: the literals
-- before it, the function and the job name, have their quotes doubled, so
-- none holds that call.
CREATE FUNCTION mlops._cron_job_reading_path(command text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    RETURN (SELECT CASE WHEN lit[1] = 'E' THEN replace(replace(lit[2], '''''', ''''), E'\\\\', E'\\')
                        ELSE replace(lit[2], '''''', '''') END
              FROM regexp_match(command, $re$ PERFORM pg_catalog\.set_config\('search_path', (E?)'((?:[^']|'')*)', true\); PERFORM $re$)
                   AS m(lit));
COMMENT ON FUNCTION mlops._cron_job_reading_path(text) IS
    'internal: the search_path of an mlops pg_cron job''s command (NULL for another command)';

-- Schedules (or reschedules, active again) a pg_cron job, named job_name in
-- pg_cron (_cron_job_name), that runs command (_cron_job_command), as the
-- calling role; returns its id.
CREATE FUNCTION mlops._cron_schedule(job_name text, schedule text, command text)
    RETURNS bigint
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
    SET search_path = pg_catalog, mlops, pg_temp
AS $$
DECLARE
    job bigint;
    active boolean;
BEGIN
    PERFORM mlops._require(schedule, 'schedule');
    PERFORM mlops._require_pg_cron();
    -- pg_cron connects as current_user to run the job: a role that cannot
    -- log in (one taken with SET ROLE) would fail at every run
    IF NOT (SELECT r.rolcanlogin FROM pg_roles r WHERE r.rolname = current_user) THEN
        RAISE EXCEPTION 'role "%" cannot log in, so pg_cron could not run its job', current_user
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'pg_cron runs a job as the role that scheduled it.',
                  HINT = 'Schedule as a role with LOGIN (RESET ROLE), or give this role LOGIN.';
    END IF;
    EXECUTE 'SELECT cron.schedule($1, $2, $3)' INTO job USING job_name, schedule, command;
    -- a job of that name paused with cron.alter_job keeps active = false
    -- through cron.schedule: replaced, it runs again (alter_job is only for
    -- the roles pg_cron lets pause a job, hence called only then)
    EXECUTE 'SELECT j.active FROM cron.job j WHERE j.jobid = $1' INTO active USING job;
    IF NOT active THEN
        EXECUTE 'SELECT cron.alter_job($1, active => true)' USING job;
    END IF;
    RETURN job;
END
$$;
COMMENT ON FUNCTION mlops._cron_schedule(text, text, text) IS
    'internal: schedules (or reschedules, active again) a pg_cron job as the calling role, which must be able to log in, with a clear error when pg_cron is missing or not usable';

-- schedule_retrain() and schedule_monitor() hand the caller's search_path
-- to the job; their own SQL, which that search_path must not change, is in
-- these two (with a search_path of their own) and in the callers' bodies,
-- bound when they are created.
CREATE FUNCTION mlops._schedule_retrain(model text, schedule text, only_on_drift boolean, reading_path text)
    RETURNS bigint
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
    SET search_path = pg_catalog, mlops, pg_temp
AS $$
DECLARE
    spec record;
    created timestamptz;
    job_name text;
BEGIN
    SELECT * INTO spec FROM mlops._retrain_spec(model);
    SELECT m.created_at INTO created FROM mlops.models m WHERE m.name::text = spec.model_name;
    -- the creation time in ISO 8601 (as jsonb has it), which reads the same
    -- under the job session's DateStyle and TimeZone
    job_name := mlops._cron_job_name('mlops:retrain:' || spec.model_name);
    RETURN mlops._cron_schedule(job_name, schedule,
                                mlops._cron_job_command(job_name,
                                    format('mlops._scheduled_retrain(%L, %L, %L, %L)', spec.model_name,
                                           mlops._require(only_on_drift, 'only_on_drift'), mlops._default_alias(),
                                           mlops._to_jsonb_canonical(created) #>> '{}'),
                                    'mlops._scheduled_retrain(text,boolean,text,timestamptz)', reading_path));
END
$$;
COMMENT ON FUNCTION mlops._schedule_retrain(text, text, boolean, text) IS
    'internal: schedule_retrain() under the search_path the job is to read its source with';

-- Schedules a model's retraining under the caller's search_path (a body bound
-- at creation: nothing in it is looked up in that path).
CREATE FUNCTION mlops.schedule_retrain(model text, schedule text, only_on_drift boolean DEFAULT false) RETURNS bigint
    LANGUAGE sql VOLATILE PARALLEL UNSAFE
    RETURN mlops._schedule_retrain(model, schedule, only_on_drift, pg_catalog.current_setting('search_path'));
COMMENT ON FUNCTION mlops.schedule_retrain(text, text, boolean) IS
    'creates or replaces the pg_cron job mlops:retrain:<model>, run as the calling role under the default alias and the search_path in effect now, that retrains the model (only after drift, if asked); returns the job id';

-- The pg_cron job of a monitor (the one created at `created`): its name in
-- pg_cron and its command under reading_path. drop_monitor makes it again to
-- find the monitor's jobs among those of the same name (made by hand, or for
-- another monitor whose long name gives the same one).
CREATE FUNCTION mlops._monitor_job(name text, created timestamptz, reading_path text,
                                   OUT job_name text, OUT command text)
    LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, mlops, pg_temp
AS $$
BEGIN
    job_name := mlops._cron_job_name('mlops:monitor:' || name);
    -- the creation time as _schedule_retrain writes it
    command := mlops._cron_job_command(job_name,
                   format('mlops._scheduled_monitor(%L, %L)', name, mlops._to_jsonb_canonical(created) #>> '{}'),
                   'mlops._scheduled_monitor(text,timestamptz)', reading_path);
END
$$;
COMMENT ON FUNCTION mlops._monitor_job(text, timestamptz, text) IS
    'internal: the pg_cron job name and command of a monitor, under a search_path';

-- The creation time of a monitor, which is locked (KEY SHARE) until the
-- transaction ends, so that a drop_monitor waits for a transaction scheduling
-- its job and then finds that job to remove, rather than leaving it behind;
-- 42704 when there is no such monitor (one dropped meanwhile included).
-- SECURITY DEFINER: a trainer cannot lock mlops's tables.
CREATE FUNCTION mlops._lock_monitor(name text) RETURNS timestamptz
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
    SET search_path = pg_catalog, mlops, pg_temp
AS $$
DECLARE
    created timestamptz;
BEGIN
    SELECT m.created_at INTO created FROM mlops.monitor m WHERE m.name = mlops._require(_lock_monitor.name, 'name')
       FOR KEY SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'monitor "%" does not exist', name USING ERRCODE = 'undefined_object';
    END IF;
    RETURN created;
END
$$;
COMMENT ON FUNCTION mlops._lock_monitor(text) IS
    'internal: the creation time of a monitor, locked against drop_monitor until the transaction ends (42704 when there is none)';

CREATE FUNCTION mlops._schedule_monitor(name text, schedule text, reading_path text) RETURNS bigint
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
    SET search_path = pg_catalog, mlops, pg_temp
AS $$
DECLARE
    job record;
BEGIN
    SELECT * INTO job FROM mlops._monitor_job(name, mlops._lock_monitor(name), reading_path);
    RETURN mlops._cron_schedule(job.job_name, schedule, job.command);
END
$$;
COMMENT ON FUNCTION mlops._schedule_monitor(text, text, text) IS
    'internal: schedule_monitor() under the search_path the job is to read its source with';

-- Schedules a monitor's runs under the caller's search_path (as schedule_retrain).
CREATE FUNCTION mlops.schedule_monitor(name text, schedule text) RETURNS bigint
    LANGUAGE sql VOLATILE PARALLEL UNSAFE
    RETURN mlops._schedule_monitor(name, schedule, pg_catalog.current_setting('search_path'));
COMMENT ON FUNCTION mlops.schedule_monitor(text, text) IS
    'creates or replaces the pg_cron job mlops:monitor:<name>, run as the calling role under the search_path in effect now, that runs the monitor; returns the job id';

CREATE FUNCTION mlops.unschedule(job_name text) RETURNS boolean
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
    SET search_path = pg_catalog, mlops, pg_temp
AS $$
DECLARE
    removed boolean;
BEGIN
    IF mlops._require(job_name, 'job_name') NOT LIKE 'mlops:%' THEN
        RAISE EXCEPTION '"%" is not an mlops job', job_name
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'mlops jobs are named mlops:retrain:<model> and mlops:monitor:<name>; use cron.unschedule() for others.';
    END IF;
    PERFORM mlops._require_pg_cron();
    BEGIN
        EXECUTE 'SELECT cron.unschedule($1)' INTO removed USING mlops._cron_job_name(job_name);
    EXCEPTION WHEN internal_error THEN
        -- pg_cron reports an unknown job name with a plain ERROR
        RAISE EXCEPTION 'job "%" does not exist', job_name USING ERRCODE = 'undefined_object';
    END;
    RETURN removed;
END
$$;
COMMENT ON FUNCTION mlops.unschedule(text) IS 'removes an mlops pg_cron job (of the calling role) by name';

-- A trainer's monitor with action retrain runs the unattended retraining,
-- which records its failure (retrain and production are for mlops_admin).
GRANT EXECUTE ON FUNCTION mlops.schedule_monitor(text, text), mlops._schedule_monitor(text, text, text),
    mlops.unschedule(text), mlops._require_pg_cron(),
    mlops._cron_schedule(text, text, text), mlops._cron_job_command(text, text, text, text),
    mlops._monitor_job(text, timestamptz, text), mlops._lock_monitor(text), mlops._cron_job_name(text), mlops._default_alias(),
    mlops._scheduled_monitor(text, timestamptz), mlops._unschedule_current_job(text), mlops._current_cron_run(),
    mlops._retrain_spec(text),
    mlops._link_run_to_cron(bigint), mlops._retrain_unattended(text, text, bigint),
    mlops._record_retrain_outcome(text, jsonb, text, text, bigint), mlops._production_drifting(text)
    TO mlops_trainer;
GRANT EXECUTE ON FUNCTION mlops.retrain(text), mlops.schedule_retrain(text, text, boolean),
    mlops._schedule_retrain(text, text, boolean, text), mlops._scheduled_retrain(text, boolean, text, timestamptz) TO mlops_admin;
