-- ---------------------------------------------------------------------------
-- Experiments and runs (MLflow-like, in tables). Written only through the
-- SECURITY DEFINER functions below; read through the views.
-- ---------------------------------------------------------------------------
CREATE TABLE mlops.experiment (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL UNIQUE CHECK (name <> '' AND length(name) <= 250),
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),  -- as every time mlops keeps
    created_by  name NOT NULL
);
COMMENT ON TABLE mlops.experiment IS 'experiments: named groups of runs';

CREATE TABLE mlops.run (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    experiment_id bigint NOT NULL REFERENCES mlops.experiment,
    run_name      text CHECK (run_name <> '' AND length(run_name) <= 250),
    status        text NOT NULL DEFAULT 'running'
                  CHECK (status IN ('running', 'finished', 'failed', 'killed')),
    started_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    ended_at      timestamptz CHECK ((status = 'running') = (ended_at IS NULL)),
    created_by    name NOT NULL,
    cron_job_id   bigint,
    cron_run_id   bigint
);
CREATE INDEX ON mlops.run (experiment_id);
COMMENT ON TABLE mlops.run IS 'runs: one training or evaluation attempt, with its params, tags and metrics';

CREATE TABLE mlops.run_param (
    run_id  bigint NOT NULL REFERENCES mlops.run ON DELETE CASCADE,
    key     text NOT NULL,
    value   text NOT NULL,
    PRIMARY KEY (run_id, key)
);
COMMENT ON TABLE mlops.run_param IS 'run parameters: write-once key/value pairs';

CREATE TABLE mlops.run_tag (
    run_id  bigint NOT NULL REFERENCES mlops.run ON DELETE CASCADE,
    key     text NOT NULL,
    value   text NOT NULL,
    PRIMARY KEY (run_id, key)
);
COMMENT ON TABLE mlops.run_tag IS 'run tags: key/value annotations, the last value set wins';

CREATE TABLE mlops.run_metric (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id     bigint NOT NULL REFERENCES mlops.run ON DELETE CASCADE,
    key        text NOT NULL,
    step       bigint NOT NULL,
    value      float8 NOT NULL,
    logged_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX ON mlops.run_metric (run_id, key, step);
COMMENT ON TABLE mlops.run_metric IS 'run metrics: one row per logged point of each time series';

-- Returns the run, locked against a concurrent end_run, or raises an error when
-- it does not exist (42704), was started by a role the caller may not act for
-- (42501, see _check_creator) or, with must_be_running, has ended (55000).
CREATE FUNCTION mlops._lock_run(run_id bigint, must_be_running boolean) RETURNS mlops.run
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
    SET search_path = pg_catalog, mlops, pg_temp
AS $$
DECLARE
    r mlops.run;
BEGIN
    PERFORM mlops._require(run_id, 'run_id');
    SELECT * INTO r FROM mlops.run WHERE id = _lock_run.run_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'run % does not exist', run_id USING ERRCODE = 'undefined_object';
    END IF;
    PERFORM mlops._check_creator(r.created_by, pg_catalog.format('run %s', run_id));
    IF must_be_running AND r.status <> 'running' THEN
        RAISE EXCEPTION 'run % has ended', run_id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = pg_catalog.format('The run ended with status "%s".', r.status),
                  HINT = 'Start a new run with mlops.start_run().';
    END IF;
    RETURN r;
END
$$;
COMMENT ON FUNCTION mlops._lock_run(bigint, boolean) IS
    'internal: locks and returns a run, raising 42704 if unknown, 42501 if another role''s and 55000 if ended when it must be running';

CREATE FUNCTION mlops.log_param(run_id bigint, key text, value text) RETURNS void
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
    SET search_path = pg_catalog, mlops, pg_temp
AS $$
DECLARE
    old text;
BEGIN
    PERFORM mlops._lock_run(run_id, true);
    PERFORM mlops._check_key(key, 'param key');
    PERFORM mlops._require(value, 'value');
    -- ON CONFLICT: at REPEATABLE READ a param committed after our snapshot is
    -- invisible to a SELECT; the insert then fails with 40001, not with the
    -- primary key's 23505
    INSERT INTO mlops.run_param VALUES (run_id, key, value) ON CONFLICT ON CONSTRAINT run_param_pkey DO NOTHING;
    IF FOUND THEN
        RETURN;
    END IF;
    SELECT p.value INTO old FROM mlops.run_param p WHERE p.run_id = log_param.run_id AND p.key = log_param.key;
    IF old IS DISTINCT FROM value THEN
        RAISE EXCEPTION 'param "%" of run % is already set to a different value', key, run_id
            USING ERRCODE = 'unique_violation',
                  DETAIL = pg_catalog.format('The logged value is %L; the new value is %L.',
                                             pg_catalog.left(old, 200), pg_catalog.left(value, 200)),
                  HINT = 'Params are write-once: log the new value in a new run.';
    END IF;
END
$$;
COMMENT ON FUNCTION mlops.log_param(bigint, text, text) IS
    'logs a write-once param of a running run: the same value again is a no-op, a different one an error';

CREATE FUNCTION mlops.log_params(run_id bigint, params jsonb) RETURNS void
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
    SET search_path = pg_catalog, mlops, pg_temp
AS $$
DECLARE
    kv record;
BEGIN
    PERFORM mlops._lock_run(run_id, true);
    IF jsonb_typeof(mlops._require(params, 'params')) <> 'object' THEN
        RAISE EXCEPTION 'params must be a jsonb object' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOR kv IN SELECT * FROM jsonb_each(params) ORDER BY 1 LOOP
        PERFORM mlops.log_param(run_id, kv.key,
                                CASE jsonb_typeof(kv.value) WHEN 'string' THEN kv.value #>> '{}'
                                                            WHEN 'null' THEN NULL
                                                            ELSE kv.value::text END);
    END LOOP;
END
$$;
COMMENT ON FUNCTION mlops.log_params(bigint, jsonb) IS
    'logs every key of a jsonb object as a param (strings as they are, other values as JSON text)';

CREATE FUNCTION mlops.log_metric(run_id bigint, key text, value float8, step bigint DEFAULT 0) RETURNS void
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
    SET search_path = pg_catalog, mlops, pg_temp
AS $$
BEGIN
    PERFORM mlops._lock_run(run_id, true);
    PERFORM mlops._check_key(key, 'metric key');
    PERFORM mlops._require(value, 'value');
    PERFORM mlops._require(step, 'step');
    INSERT INTO mlops.run_metric (run_id, key, step, value) VALUES (run_id, key, step, value);
END
$$;
COMMENT ON FUNCTION mlops.log_metric(bigint, text, float8, bigint) IS
    'appends one point (step, value, time) to a metric series of a running run; NaN and infinities are stored as given';

CREATE FUNCTION mlops.log_metrics(run_id bigint, metrics jsonb, step bigint DEFAULT 0) RETURNS void
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
    SET search_path = pg_catalog, mlops, pg_temp
AS $$
DECLARE
    kv record;
BEGIN
    PERFORM mlops._lock_run(run_id, true);
    PERFORM mlops._require(step, 'step');   -- here too: an empty object calls no log_metric
    IF jsonb_typeof(mlops._require(metrics, 'metrics')) <> 'object' THEN
        RAISE EXCEPTION 'metrics must be a jsonb object' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOR kv IN SELECT * FROM jsonb_each(metrics) ORDER BY 1 LOOP
        -- JSON has no NaN or infinities: they arrive as the strings "NaN", "Infinity", "-Infinity".
        IF jsonb_typeof(kv.value) NOT IN ('number', 'string') THEN
            RAISE EXCEPTION 'metric "%" is not a number', kv.key USING ERRCODE = 'invalid_parameter_value';
        END IF;
        BEGIN
            PERFORM mlops.log_metric(run_id, kv.key, (kv.value #>> '{}')::float8, step);
        EXCEPTION WHEN invalid_text_representation THEN
            RAISE EXCEPTION 'metric "%" is not a number', kv.key USING ERRCODE = 'invalid_parameter_value',
                DETAIL = pg_catalog.format('The value is %s.', pg_catalog.left(kv.value::text, 200));
        WHEN numeric_value_out_of_range THEN
            -- a JSON number beyond float8 (1e400, or 1e-400 that would round to 0)
            RAISE EXCEPTION 'metric "%" is out of range for type double precision', kv.key
                USING ERRCODE = 'numeric_value_out_of_range';
        END;
    END LOOP;
END
$$;
COMMENT ON FUNCTION mlops.log_metrics(bigint, jsonb, bigint) IS
    'logs every key of a jsonb object as a metric point at the given step ("NaN" and "Infinity" strings allowed)';

CREATE FUNCTION mlops.set_tag(run_id bigint, key text, value text) RETURNS void
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
    SET search_path = pg_catalog, mlops, pg_temp
AS $$
BEGIN
    PERFORM mlops._lock_run(run_id, false);
    PERFORM mlops._check_key(key, 'tag key');
    PERFORM mlops._require(value, 'value');
    INSERT INTO mlops.run_tag VALUES (run_id, key, value)
        ON CONFLICT ON CONSTRAINT run_tag_pkey DO UPDATE SET value = excluded.value;
END
$$;
COMMENT ON FUNCTION mlops.set_tag(bigint, text, text) IS
    'sets a tag of a run, replacing its previous value; allowed on ended runs too (tags annotate, they do not record the run)';

CREATE FUNCTION mlops.start_run(experiment text, run_name text DEFAULT NULL,
                                params jsonb DEFAULT '{}', tags jsonb DEFAULT '{}') RETURNS bigint
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
    SET search_path = pg_catalog, mlops, pg_temp
AS $$
DECLARE
    exp_id bigint;
    new_run bigint;
    kv record;
BEGIN
    PERFORM mlops._check_key(experiment, 'experiment name');
    IF run_name IS NOT NULL THEN
        PERFORM mlops._check_key(run_name, 'run name');
    END IF;
    IF jsonb_typeof(mlops._require(tags, 'tags')) <> 'object' THEN
        RAISE EXCEPTION 'tags must be a jsonb object' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO mlops.experiment (name, created_by) VALUES (experiment, mlops.invoker())
        ON CONFLICT (name) DO NOTHING;
    SELECT id INTO STRICT exp_id FROM mlops.experiment e WHERE e.name = start_run.experiment;
    INSERT INTO mlops.run (experiment_id, run_name, created_by)
        VALUES (exp_id, run_name, mlops.invoker()) RETURNING id INTO new_run;
    PERFORM mlops.log_params(new_run, params);
    FOR kv IN SELECT * FROM jsonb_each_text(tags) LOOP
        PERFORM mlops.set_tag(new_run, kv.key, kv.value);
    END LOOP;
    RETURN new_run;
END
$$;
COMMENT ON FUNCTION mlops.start_run(text, text, jsonb, jsonb) IS
    'starts a run (status running) in an experiment, creating the experiment if needed; returns the run id; run_name NULL or 1 to 250 characters';

CREATE FUNCTION mlops.end_run(run_id bigint, status text DEFAULT 'finished') RETURNS void
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
    SET search_path = pg_catalog, mlops, pg_temp
AS $$
BEGIN
    PERFORM mlops._lock_run(run_id, true);
    IF mlops._require(status, 'status') NOT IN ('finished', 'failed', 'killed') THEN
        RAISE EXCEPTION 'invalid run status "%"', status
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'A run ends as "finished", "failed" or "killed".';
    END IF;
    UPDATE mlops.run r SET status = end_run.status, ended_at = clock_timestamp() WHERE r.id = end_run.run_id;
END
$$;
COMMENT ON FUNCTION mlops.end_run(bigint, text) IS
    'ends a running run as finished, failed or killed; nothing can be logged to it afterwards';

CREATE VIEW mlops.experiments AS
SELECT e.id AS experiment_id, e.name, e.created_at, e.created_by,
       count(r.id) AS runs, max(r.started_at) AS last_run_at
  FROM mlops.experiment e LEFT JOIN mlops.run r ON r.experiment_id = e.id
 GROUP BY e.id;
COMMENT ON VIEW mlops.experiments IS 'experiments with their number of runs and the start of the latest';

CREATE VIEW mlops.runs AS
SELECT r.id AS run_id, e.name AS experiment, r.run_name, r.status, r.started_at, r.ended_at,
       coalesce(r.ended_at, clock_timestamp()) - r.started_at AS duration,
       coalesce((SELECT jsonb_object_agg(p.key, p.value) FROM mlops.run_param p WHERE p.run_id = r.id), '{}') AS params,
       coalesce((SELECT jsonb_object_agg(m.key, mlops._to_jsonb_canonical(m.value))
                   FROM (SELECT DISTINCT ON (key) key, value FROM mlops.run_metric
                          WHERE run_id = r.id ORDER BY key, step DESC, id DESC) m), '{}') AS metrics,
       coalesce((SELECT jsonb_object_agg(t.key, t.value) FROM mlops.run_tag t WHERE t.run_id = r.id), '{}') AS tags,
       r.created_by, r.cron_job_id, r.cron_run_id
  FROM mlops.run r JOIN mlops.experiment e ON e.id = r.experiment_id;
COMMENT ON VIEW mlops.runs IS
    'runs with params, tags and the latest value of each metric (highest step, then latest logged) as jsonb';

CREATE VIEW mlops.metric_history AS
SELECT m.run_id, e.name AS experiment, m.key, m.step, m.value, m.logged_at
  FROM mlops.run_metric m JOIN mlops.run r ON r.id = m.run_id JOIN mlops.experiment e ON e.id = r.experiment_id;
COMMENT ON VIEW mlops.metric_history IS 'every logged metric point of every run';

GRANT EXECUTE ON FUNCTION mlops.start_run(text, text, jsonb, jsonb), mlops.end_run(bigint, text),
    mlops.log_param(bigint, text, text), mlops.log_params(bigint, jsonb),
    mlops.log_metric(bigint, text, float8, bigint), mlops.log_metrics(bigint, jsonb, bigint),
    mlops.set_tag(bigint, text, text)
    TO mlops_trainer;
GRANT SELECT ON mlops.experiments, mlops.runs, mlops.metric_history TO mlops_trainer;
