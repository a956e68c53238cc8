-- ---------------------------------------------------------------------------
-- Drift: feature profiles, drift metrics against the profile frozen with a
-- model version or between two sources, and monitors that record them.
-- Functions that read a user's source are not SECURITY DEFINER (sources are
-- read with the caller's privileges); they write mlops's tables through the
-- SECURITY DEFINER helpers below.
-- ---------------------------------------------------------------------------

-- profile, drift and compare run their sources, any queries: PARALLEL UNSAFE,
-- as evaluate() (a source may take sequence values or open subtransactions,
-- which parallel mode refuses even in the leader).
CREATE FUNCTION mlops.profile(source text, columns text[] DEFAULT NULL) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'profile'
    LANGUAGE C STABLE PARALLEL UNSAFE;
COMMENT ON FUNCTION mlops.profile(text, text[]) IS
    'feature statistics of a table, view or query (count, nulls, mean, std, min, max, 10-quantile bins, sample; category counts), as frozen with model versions';

-- The profile frozen with the version a model reference resolves to.
CREATE FUNCTION mlops._version_profile(model text) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER PARALLEL SAFE
    SET search_path = pg_catalog, mlops, pg_temp
AS $$
DECLARE
    r record;
    p jsonb;
BEGIN
    SELECT * INTO r FROM mlops.resolve_model(model);
    SELECT v.profile INTO p FROM mlops.model_version v WHERE v.model_id = r.model_id AND v.version = r.version;
    IF p IS NULL THEN
        RAISE EXCEPTION 'version % of model "%" has no profile', r.version, r.model
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'Drift is measured against the reference profile frozen with a version when it is trained; imported versions have none.',
                  HINT = 'Use mlops.compare() with the training data instead.';
    END IF;
    RETURN p;
END
$$;
COMMENT ON FUNCTION mlops._version_profile(text) IS
    'internal: the reference profile frozen with the version a model reference resolves to (55000 when it has none)';

CREATE FUNCTION mlops.drift(model text, source text)
    RETURNS TABLE(feature text, metric text, value float8, threshold float8, drifted boolean)
    AS 'MODULE_PATHNAME', 'drift'
    LANGUAGE C STABLE PARALLEL UNSAFE ROWS 60;
COMMENT ON FUNCTION mlops.drift(text, text) IS
    'drift metrics of a table, view or query against the reference profile frozen with a model version, at the default thresholds';

CREATE FUNCTION mlops.compare(reference text, current text, columns text[] DEFAULT NULL)
    RETURNS TABLE(feature text, metric text, value float8, threshold float8, drifted boolean)
    AS 'MODULE_PATHNAME', 'compare'
    LANGUAGE C STABLE PARALLEL UNSAFE ROWS 60;
COMMENT ON FUNCTION mlops.compare(text, text, text[]) IS
    'drift metrics between two tables, views or queries (NULL columns: every numeric or categorical column of the reference), at the default thresholds';

-- ---------------------------------------------------------------------------
-- Monitors.
-- ---------------------------------------------------------------------------
CREATE TABLE mlops.monitor (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    model       text NOT NULL,       -- a model reference, resolved at every run
    source      text NOT NULL,
    metric      text NOT NULL CHECK (metric IN ('psi', 'js', 'ks', 'wasserstein', 'linf', 'null_rate')),
    threshold   float8 NOT NULL CHECK (threshold >= 0 AND threshold < 'Infinity'),
    action      text NOT NULL CHECK (action IN ('alert', 'retrain')),
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),  -- as a model's (see mlops.model)
    created_by  name NOT NULL
);
COMMENT ON TABLE mlops.monitor IS 'drift monitors: a model reference, a source, a metric and its threshold, an action';

CREATE TABLE mlops.monitor_run (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    monitor_id  bigint NOT NULL REFERENCES mlops.monitor ON DELETE CASCADE,
    model       text,
    version     int,
    at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    by          name NOT NULL,
    features    int,                 -- features measured
    drifted     int,                 -- features drifted
    error       text                 -- the error that stopped the run, if any
);
CREATE INDEX ON mlops.monitor_run (monitor_id, id);
-- the monitors view's last_run_at (read by every run_monitor) without reading every run
CREATE INDEX ON mlops.monitor_run (monitor_id, at);
-- a model's latest monitor run (the drift section of its report) without reading every run
CREATE INDEX ON mlops.monitor_run (model, id);
COMMENT ON TABLE mlops.monitor_run IS 'every run of a monitor: the version it measured, or the error that stopped it';

CREATE TABLE mlops.drift_result (
    run_id      bigint NOT NULL REFERENCES mlops.monitor_run ON DELETE CASCADE,
    feature     text NOT NULL,
    metric      text NOT NULL,
    value       float8,
    p_value     float8,              -- ks: the p-value compared with the threshold (value is the statistic)
    threshold   float8 NOT NULL,
    drifted     boolean,
    PRIMARY KEY (run_id, feature)
);
COMMENT ON TABLE mlops.drift_result IS 'the value of a monitor''s metric for every feature at every run';

CREATE TABLE mlops.alert (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- drift and error alerts; a retrain alert of a monitor's retraining: the run that flagged drift
    run_id        bigint REFERENCES mlops.monitor_run ON DELETE CASCADE,
    kind          text NOT NULL CHECK (kind IN ('drift', 'error', 'retrain')),
    action        text NOT NULL,
    features      text[] NOT NULL DEFAULT '{}',
    message       text NOT NULL,
    model         text,              -- retrain alerts: the model, the version trained (if any)
    version       int,
    training_run  bigint REFERENCES mlops.run,  -- retrain alerts: the run of the (failed) retraining
    at            timestamptz NOT NULL DEFAULT clock_timestamp(),
    CHECK (kind = 'retrain' OR run_id IS NOT NULL)
);
-- drop_monitor (and the foreign key's cascade) delete the alerts of each of
-- the monitor's runs, which without it read the whole alert table once per run
CREATE INDEX ON mlops.alert (run_id);
COMMENT ON TABLE mlops.alert IS 'alerts: drift beyond a monitor''s threshold, a monitor run that failed, an unattended retraining that failed or was refused by the gate';

CREATE VIEW mlops.monitors AS
SELECT m.name, m.model, m.source, m.metric, m.threshold, m.action, m.created_at, m.created_by,
       (SELECT max(r.at) FROM mlops.monitor_run r WHERE r.monitor_id = m.id) AS last_run_at
  FROM mlops.monitor m;
COMMENT ON VIEW mlops.monitors IS 'drift monitors and when each last ran';

CREATE VIEW mlops.drift_results AS
SELECT r.id AS run_id, m.name AS monitor, r.model, r.version, r.at, d.feature, d.metric, d.value,
       d.p_value, d.threshold, d.drifted
  FROM mlops.drift_result d JOIN mlops.monitor_run r ON r.id = d.run_id JOIN mlops.monitor m ON m.id = r.monitor_id;
COMMENT ON VIEW mlops.drift_results IS 'every value recorded by every monitor run';

-- Only the latest measuring run counts: a feature the model's newer version
-- no longer has is not reported with the value an older run gave it.
CREATE VIEW mlops.drift_status AS
SELECT m.name AS monitor, r.model, r.version, d.feature, d.metric, d.value, d.p_value, d.threshold,
       d.drifted, r.at, r.id AS run_id
  FROM mlops.monitor m
  JOIN LATERAL (SELECT * FROM mlops.monitor_run r WHERE r.monitor_id = m.id AND r.error IS NULL
                 ORDER BY r.id DESC LIMIT 1) r ON true
  JOIN mlops.drift_result d ON d.run_id = r.id;
COMMENT ON VIEW mlops.drift_status IS 'every feature''s value at the latest run of each monitor that measured (failed runs are in alerts)';

CREATE VIEW mlops.alerts AS
SELECT a.id, a.at, m.name AS monitor,
       CASE WHEN a.kind = 'retrain' THEN a.model ELSE r.model END AS model,
       CASE WHEN a.kind = 'retrain' THEN a.version ELSE r.version END AS version,
       a.kind, a.action, a.features, a.message, a.training_run
  FROM mlops.alert a LEFT JOIN mlops.monitor_run r ON r.id = a.run_id LEFT JOIN mlops.monitor m ON m.id = r.monitor_id;
COMMENT ON VIEW mlops.alerts IS 'alerts (kind drift, error or retrain) with the monitor (of a retrain alert: the one whose drift retrained), model version (of a retrain alert: the one it trained) and, for retrain alerts, the training run';

-- Why a monitor's metric measures none of the features of a profile (ks and
-- wasserstein measure numeric features only, linf categorical ones only), or
-- NULL when it measures one at least: such a monitor could never alert.
CREATE FUNCTION mlops._metric_misfit(metric text, profile jsonb) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN metric IN ('ks', 'wasserstein')
                     AND NOT EXISTS (SELECT FROM jsonb_array_elements(profile->'features') f
                                      WHERE f->>'kind' = 'numeric')
                THEN pg_catalog.format('The metric %s measures numeric features, and every feature of the version is categorical.', metric)
                WHEN metric = 'linf'
                     AND NOT EXISTS (SELECT FROM jsonb_array_elements(profile->'features') f
                                      WHERE f->>'kind' = 'categorical')
                THEN 'The metric linf measures categorical features, and every feature of the version is numeric.' END
$$;
COMMENT ON FUNCTION mlops._metric_misfit(text, jsonb) IS
    'internal: why a drift metric measures no feature of a profile, or NULL when it measures one';

CREATE FUNCTION mlops.create_monitor(name text, model text, source text, metric text DEFAULT 'psi',
                                     threshold float8 DEFAULT NULL, action text DEFAULT 'alert') RETURNS bigint
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
    SET search_path = pg_catalog, mlops, pg_temp
AS $$
DECLARE
    new_id bigint;
    v record;
    misfit text;
BEGIN
    PERFORM mlops._check_key(name, 'monitor name');
    SELECT * INTO v FROM mlops.resolve_model(model);
    -- a source that no run could read is refused now, as a metric that measures nothing is below
    PERFORM mlops._check_source(mlops._require(source, 'source'));
    PERFORM mlops._require(metric, 'metric');
    PERFORM mlops._require(action, 'action');
    IF metric NOT IN ('psi', 'js', 'ks', 'wasserstein', 'linf', 'null_rate') THEN
        RAISE EXCEPTION 'unknown drift metric "%"', metric
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'The metrics are psi, js, ks, wasserstein, linf and null_rate.';
    END IF;
    -- a version with no profile (55000) or a metric that measures none of its
    -- features would never alert
    misfit := mlops._metric_misfit(metric, mlops._version_profile(v.model || ':' || v.version::text));
    IF misfit IS NOT NULL THEN
        RAISE EXCEPTION 'drift metric "%" measures no feature of version % of model "%"', metric, v.version, v.model
            USING ERRCODE = 'invalid_parameter_value', DETAIL = misfit,
                  HINT = 'The metrics psi, js and null_rate measure every feature.';
    END IF;
    IF action NOT IN ('alert', 'retrain') THEN
        RAISE EXCEPTION 'unknown monitor action "%"', action
            USING ERRCODE = 'invalid_parameter_value', HINT = 'The actions are alert and retrain.';
    END IF;
    threshold := coalesce(threshold, CASE metric WHEN 'psi' THEN 0.2 WHEN 'js' THEN 0.15 WHEN 'ks' THEN 0.05
                                                 WHEN 'wasserstein' THEN 0.2 WHEN 'linf' THEN 0.1
                                                 WHEN 'null_rate' THEN 0.05 END)
                 + 0::float8;   -- -0, which passes the checks below, becomes the 0 it is (IEEE: -0 + 0 = 0)
    IF NOT (threshold >= 0 AND threshold < 'Infinity') THEN
        RAISE EXCEPTION 'threshold must be a finite number >= 0' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- ks alerts on a p-value below its threshold: above 1, every run would alert
    IF metric = 'ks' AND threshold > 1 THEN
        RAISE EXCEPTION 'threshold of metric ks must be between 0 and 1'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'It is a p-value: the monitor alerts when the KS test''s p-value is below it.';
    END IF;
    -- ON CONFLICT, not a look first: a monitor of that name created by a
    -- concurrent transaction is found once it commits, not as a 23505
    INSERT INTO mlops.monitor AS mon (name, model, source, metric, threshold, action, created_by)
        VALUES (name, model, source, metric, threshold, action, mlops.invoker())
        ON CONFLICT ON CONSTRAINT monitor_name_key DO NOTHING
        RETURNING mon.id INTO new_id;
    IF new_id IS NULL THEN
        RAISE EXCEPTION 'monitor "%" already exists', name USING ERRCODE = 'duplicate_object';
    END IF;
    RETURN new_id;
END
$$;
COMMENT ON FUNCTION mlops.create_monitor(text, text, text, text, float8, text) IS
    'creates a drift monitor of a model reference over a source (threshold NULL: the metric''s default); action alert or retrain';

-- Only the monitor's creator (or a member of that role) and mlops_admin may
-- drop it: it takes the monitor's history with it.
CREATE FUNCTION mlops.drop_monitor(name text) RETURNS void
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
    SET search_path = pg_catalog, mlops, pg_temp
AS $$
DECLARE
    m mlops.monitor;
BEGIN
    SELECT * INTO m FROM mlops.monitor mon WHERE mon.name = mlops._require(drop_monitor.name, 'name') FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'monitor "%" does not exist', name USING ERRCODE = 'undefined_object';
    END IF;
    PERFORM mlops._check_creator(m.created_by, pg_catalog.format('monitor "%s"', name));
    -- its history is deleted here, not left to the foreign keys' cascades,
    -- which do not fire under session_replication_role = replica
    DELETE FROM mlops.alert a USING mlops.monitor_run r WHERE a.run_id = r.id AND r.monitor_id = m.id;
    DELETE FROM mlops.drift_result d USING mlops.monitor_run r WHERE d.run_id = r.id AND r.monitor_id = m.id;
    DELETE FROM mlops.monitor_run r WHERE r.monitor_id = m.id;
    DELETE FROM mlops.monitor mon WHERE mon.id = m.id;
    -- its pg_cron jobs (of any role) go with it: a monitor created again under
    -- its name is not run by them; pg_cron's own table (the extension is
    -- there). Only the jobs schedule_monitor made for it, each made again
    -- under its own search_path: a job of the same name may be another's
    -- (made by hand, or for another monitor whose long name gives the same).
    IF EXISTS (SELECT FROM pg_catalog.pg_extension e WHERE e.extname = 'pg_cron') THEN
        EXECUTE 'DELETE FROM cron.job j
                  WHERE (j.jobname::text, j.command)
                        = (SELECT mine.job_name, mine.command
                             FROM mlops._monitor_job($1, $2, mlops._cron_job_reading_path(j.command)) mine)'
            USING m.name, m.created_at;
    END IF;
END
$$;
COMMENT ON FUNCTION mlops.drop_monitor(text) IS
    'drops a monitor with its recorded runs, results and alerts, and its pg_cron jobs (its creator or mlops_admin)';

-- Records one run of a monitor (results: [{"feature", "value", "p_value", "drifted"}], or
-- error) and its alert; returns the run's summary, or NULL when the monitor
-- was dropped meanwhile. The monitor is the one of that name created at
-- `created` (the one the run read): a monitor dropped and created again under
-- its name while the run measured is another one, whose metric and threshold
-- the results were not measured with. It is locked (KEY SHARE) first: a drop
-- that has not committed is waited for and then finds nothing to record to,
-- rather than the run failing on the monitor's foreign key (23503), and a
-- later drop waits for this transaction. extra_float_digits is pinned for the
-- threshold in the summary and in the alert's message.
CREATE FUNCTION mlops._record_monitor_run(monitor text, created timestamptz, model text, version int,
                                          results jsonb, error text)
    RETURNS jsonb
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
    SET search_path = pg_catalog, mlops, pg_temp
    SET extra_float_digits = 1
AS $$
DECLARE
    m mlops.monitor;
    run bigint;
    bad text[];
    alert_id bigint;
    message text;
BEGIN
    SELECT * INTO m FROM mlops.monitor mon
     WHERE mon.name = _record_monitor_run.monitor AND mon.created_at = created FOR KEY SHARE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    SELECT coalesce(array_agg(e->>'feature' ORDER BY ord), '{}') INTO bad
      FROM jsonb_array_elements(coalesce(results, '[]')) WITH ORDINALITY AS x(e, ord)
     WHERE (e->>'drifted')::boolean;
    INSERT INTO mlops.monitor_run (monitor_id, model, version, by, features, drifted, error)
        VALUES (m.id, model, version, mlops.invoker(), jsonb_array_length(results), cardinality(bad), error)
        RETURNING id INTO run;
    INSERT INTO mlops.drift_result (run_id, feature, metric, value, p_value, threshold, drifted)
        SELECT run, e->>'feature', m.metric, (e->>'value')::float8, (e->>'p_value')::float8, m.threshold,
               (e->>'drifted')::boolean
          FROM jsonb_array_elements(coalesce(results, '[]')) e;
    IF error IS NOT NULL THEN
        message := format('monitor "%s" failed: %s', monitor, error);
        INSERT INTO mlops.alert (run_id, kind, action, message) VALUES (run, 'error', m.action, message)
            RETURNING id INTO alert_id;
    ELSIF cardinality(bad) > 0 THEN
        message := format('%s:%s drifted: %s %s %s for %s %s', model, version, m.metric,
                          CASE m.metric WHEN 'ks' THEN 'p-value below' ELSE 'above' END, m.threshold,
                          CASE WHEN cardinality(bad) = 1 THEN 'feature' ELSE 'features' END,
                          array_to_string(bad, ', '));
        INSERT INTO mlops.alert (run_id, kind, action, features, message) VALUES (run, 'drift', m.action, bad, message)
            RETURNING id INTO alert_id;
    END IF;
    RETURN jsonb_build_object('monitor', monitor, 'run_id', run, 'model', model, 'version', version,
                              'metric', m.metric, 'threshold', m.threshold,
                              'features', jsonb_array_length(coalesce(results, '[]')),
                              'drifted', to_jsonb(bad), 'alert_id', alert_id, 'error', error);
END
$$;
COMMENT ON FUNCTION mlops._record_monitor_run(text, timestamptz, text, int, jsonb, text) IS
    'internal: records a monitor run, its per-feature results and its alert; returns the run summary, or NULL when the monitor was dropped meanwhile';

-- Not SECURITY DEFINER: the monitor's source is read with the caller's privileges
-- and search_path (which its body is proof against: see 00_base.sql).
-- extra_float_digits is pinned: the values pass through jsonb on their way to
-- drift_results and must arrive exact whatever the caller's setting.
CREATE FUNCTION mlops.run_monitor(name text) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
    SET extra_float_digits = 1
AS $$
DECLARE
    m record;
    v record;
    misfit text;
    results jsonb;
    outcome jsonb;
    caller_alias text;
BEGIN
    PERFORM mlops._require(run_monitor.name, 'name');
    SELECT * INTO m FROM mlops.monitors WHERE monitors.name = run_monitor.name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'monitor "%" does not exist', run_monitor.name USING ERRCODE = 'undefined_object';
    END IF;
    SELECT * INTO v FROM mlops.resolve_model(m.model);
    -- the reference may now be a version whose features the metric does not measure
    misfit := mlops._metric_misfit(m.metric, mlops._version_profile(v.model || ':' || v.version::text));
    IF misfit IS NOT NULL THEN
        RAISE EXCEPTION 'drift metric "%" measures no feature of version % of model "%"', m.metric, v.version, v.model
            USING ERRCODE = 'object_not_in_prerequisite_state', DETAIL = misfit,
                  HINT = pg_catalog.format('Drop monitor "%s" and create one with psi, js or null_rate, which measure every feature.', m.name);
    END IF;
    -- the version is pinned so that the profile and the recorded version agree;
    -- ks compares its p-value with the threshold, recorded beside the statistic
    WITH d AS MATERIALIZED (SELECT * FROM mlops.drift(v.model || ':' || v.version::text, m.source))
    SELECT coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
               'feature', x.feature, 'value', x.value, 'p_value', p.value,
               'drifted', CASE WHEN m.metric = 'ks' THEN p.value < m.threshold
                               ELSE x.value > m.threshold END)), '[]')
      INTO results
      FROM d x LEFT JOIN LATERAL (SELECT y.value FROM d y
                                   WHERE m.metric = 'ks' AND y.feature = x.feature AND y.metric = 'ks_pvalue') p ON true
     WHERE x.metric = m.metric;
    outcome := mlops._record_monitor_run(m.name, m.created_at, v.model, v.version, results, NULL);
    IF outcome IS NULL THEN
        RAISE EXCEPTION 'monitor "%" does not exist', run_monitor.name USING ERRCODE = 'undefined_object',
            DETAIL = 'It was dropped while it ran.';
    END IF;
    -- action retrain: a drifted feature retrains the model through the gate,
    -- under the alias the monitor watches (m@staging: staging; a bare name or
    -- a pinned version: the default alias), in effect for this call only
    IF m.action = 'retrain' AND pg_catalog.jsonb_array_length(outcome->'drifted') > 0 THEN
        caller_alias := mlops._default_alias();
        PERFORM pg_catalog.set_config('mlops.default_alias',
                                      coalesce((pg_catalog.regexp_match(m.model, '@([^@:]+)$'))[1], caller_alias), true);
        outcome := outcome || pg_catalog.jsonb_build_object('retrain',
            mlops._retrain_unattended(v.model, pg_catalog.format('drift detected by monitor "%s"', m.name),
                                      (outcome->>'run_id')::bigint));
        PERFORM pg_catalog.set_config('mlops.default_alias', caller_alias, true);
    END IF;
    RETURN outcome;
END
$$;
COMMENT ON FUNCTION mlops.run_monitor(text) IS
    'runs a monitor: measures its metric per feature, appends to drift_results, raises an alert when a feature drifted; returns the run summary';

-- Runs a monitor for a caller no one watches (run_monitors, a pg_cron job):
-- a failure (a dropped source, a deleted alias) is recorded as a failed run
-- with an error alert instead of raised. NULL when the monitor was dropped
-- meanwhile. The failure is recorded against the monitor as this call found
-- it, not one created again under its name meanwhile. Keeps the caller's
-- search_path, as run_monitor does.
CREATE FUNCTION mlops._run_monitor_recorded(name text) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
AS $$
DECLARE
    m record;
    resolved_model text;
    resolved_version int;
BEGIN
    SELECT * INTO m FROM mlops.monitors WHERE monitors.name = _run_monitor_recorded.name;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    BEGIN
        RETURN mlops.run_monitor(name);
    EXCEPTION WHEN OTHERS THEN
        BEGIN
            SELECT r.model, r.version INTO resolved_model, resolved_version FROM mlops.resolve_model(m.model) r;
        EXCEPTION WHEN OTHERS THEN
            NULL;           -- the model reference itself is what failed
        END;
        RETURN mlops._record_monitor_run(m.name, m.created_at, resolved_model, resolved_version, '[]',
                                         SQLSTATE || ': ' || SQLERRM);
    END;
END
$$;
COMMENT ON FUNCTION mlops._run_monitor_recorded(text) IS
    'internal: runs a monitor, recording a failure as a failed run with an error alert instead of raising it (NULL: monitor dropped)';

CREATE FUNCTION mlops.run_monitors() RETURNS SETOF jsonb
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
AS $$
DECLARE
    name text;
    outcome jsonb;
BEGIN
    -- one failing monitor (a dropped source, a deleted alias) does not stop the others
    FOR name IN SELECT m.name FROM mlops.monitors m ORDER BY m.name LOOP
        outcome := mlops._run_monitor_recorded(name);
        IF outcome IS NOT NULL THEN  -- NULL: the monitor was dropped since the loop began
            RETURN NEXT outcome;
        END IF;
    END LOOP;
END
$$;
COMMENT ON FUNCTION mlops.run_monitors() IS
    'runs every monitor in name order; a monitor that fails is recorded with its error and an error alert, and the others still run';

GRANT SELECT ON mlops.monitors, mlops.drift_results, mlops.drift_status, mlops.alerts TO mlops_trainer;
GRANT EXECUTE ON FUNCTION mlops.profile(text, text[]), mlops._version_profile(text), mlops.drift(text, text),
                          mlops._metric_misfit(text, jsonb),
                          mlops.compare(text, text, text[]),
                          mlops.create_monitor(text, text, text, text, float8, text), mlops.drop_monitor(text),
                          mlops._record_monitor_run(text, timestamptz, text, int, jsonb, text),
                          mlops.run_monitor(text), mlops._run_monitor_recorded(text), mlops.run_monitors() TO mlops_trainer;
