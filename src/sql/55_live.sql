-- ---------------------------------------------------------------------------
-- Live quality: predictions logged as they are served (predict_logged), the
-- outcomes that become known later (record_outcome), and the task's metrics
-- per model version and day over the predictions whose outcome is known
-- (live_metrics, computed by src/live.c with metrics.c's definitions).
-- ---------------------------------------------------------------------------

-- One row per logged prediction, written only by mlops._log_prediction. The
-- rows of a version go with it (delete_version): without its task and classes
-- they could not be evaluated.
CREATE TABLE mlops.prediction_log (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    model_id       bigint NOT NULL,
    version        int NOT NULL,
    key            text NOT NULL,
    features       jsonb NOT NULL,      -- the float8[] as a JSON array, or the row as a JSON object
    prediction     float8 NOT NULL,
    probabilities  float8[],            -- classification: one per class, in label order
    scored_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    scored_by      name NOT NULL,
    FOREIGN KEY (model_id, version) REFERENCES mlops.model_version ON DELETE CASCADE
);
CREATE INDEX ON mlops.prediction_log (model_id, key);
-- delete_version (and the foreign key's cascade) find the rows of a version
-- here instead of reading the whole log while it holds the registry's locks
CREATE INDEX ON mlops.prediction_log (model_id, version);
CREATE INDEX ON mlops.prediction_log (scored_at);
COMMENT ON TABLE mlops.prediction_log IS 'predictions served by predict_logged: version that scored, key, features, result, when, who';

-- The known outcome of a key of a model: one per (model, key), the last
-- recorded wins, whichever versions scored the key and whenever.
CREATE TABLE mlops.outcome (
    model_id     bigint NOT NULL REFERENCES mlops.model,
    key          text NOT NULL,
    actual       float8 NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    recorded_by  name NOT NULL,
    PRIMARY KEY (model_id, key)
);
COMMENT ON TABLE mlops.outcome IS 'the actual value of each key of a model, recorded by record_outcome (last write wins)';

-- What predict_logged needs, checked and resolved once: the key (22004 when
-- NULL, 22023 when empty or too long), the pinned 'name:version' reference
-- that scores, and whether the version classifies. The version is locked
-- (KEY SHARE) until the transaction ends, so a delete_version committing
-- between the resolution, the scoring and the log row's foreign key check
-- cannot turn a valid reference into a 42704 or a 23503: the deletion waits
-- instead. A version deleted between the resolution and the lock is resolved
-- again (at READ COMMITTED the next statement sees where the alias went; at
-- REPEATABLE READ the lock fails with 40001). The key's outcome, when there
-- is one, is locked too (KEY SHARE, which scorers and record_outcome's
-- update do not conflict with): purge_predictions leaves it alone while the
-- prediction is not committed. A read-only transaction (a hot standby) is
-- refused first, in predict_logged's words (25006), not with the lock's
-- "cannot execute SELECT FOR KEY SHARE". SECURITY DEFINER because
-- mlops_scorer cannot read the registry tables; VOLATILE and PARALLEL UNSAFE
-- for the locks.
CREATE FUNCTION mlops._resolve_logged(model text, key text, OUT ref text, OUT model_id bigint,
                                      OUT version int, OUT classification boolean)
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER PARALLEL UNSAFE
    SET search_path = pg_catalog, mlops, pg_temp
AS $$
BEGIN
    IF pg_catalog.current_setting('transaction_read_only')::boolean THEN
        RAISE EXCEPTION 'cannot execute predict_logged() in a read-only transaction'
            USING ERRCODE = 'read_only_sql_transaction',
                  DETAIL = 'predict_logged() appends to mlops.prediction_log.',
                  HINT = 'On a hot standby, score with predict() and log the predictions on the primary.';
    END IF;
    PERFORM mlops._check_key(key, 'key');
    LOOP
        SELECT r.model || ':' || r.version, r.model_id, r.version, v.task = 'classification'
          INTO ref, model_id, version, classification
          FROM mlops.resolve_model(_resolve_logged.model) r
          JOIN mlops.model_version v ON v.model_id = r.model_id AND v.version = r.version
           FOR KEY SHARE OF v;
        EXIT WHEN FOUND;
    END LOOP;
    PERFORM FROM mlops.outcome o
      WHERE o.model_id = _resolve_logged.model_id AND o.key = _resolve_logged.key
        FOR KEY SHARE;
END
$$;
COMMENT ON FUNCTION mlops._resolve_logged(text, text) IS
    'internal: checks the key and resolves a model reference for predict_logged (pinned reference, model id, version, task), locking the version against deletion';

-- Appends one prediction to the log. SECURITY DEFINER so that mlops_scorer
-- logs through predict_logged without any right on the table. Since a scorer
-- may also call it directly, it takes only what predict_logged logs (22023
-- otherwise): a key of 1 to 250 characters (_check_key, called only for one
-- that fails the test, as predict_logged has checked it already); for a
-- classification version one of its classes, with one probability per class,
-- each in [0, 1] or NaN; for a regression version any number (a model can
-- give +Infinity, -Infinity or NaN) and no probabilities. A malformed row would make the
-- live_metrics aggregate fail for every reader, a class the version does not
-- have would count in its metrics, an empty key is one no outcome can be
-- recorded for, and a key of thousands of characters failed on the log's
-- index (54000). Its errors name the model by the id given, and not its
-- classes: a scorer may read neither, and only a direct call meets them.
CREATE FUNCTION mlops._log_prediction(model_id bigint, version int, key text, features jsonb,
                                      prediction float8, probabilities float8[]) RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER PARALLEL UNSAFE
    SET search_path = pg_catalog, mlops, pg_temp
AS $$
DECLARE
    classes float8[];
BEGIN
    IF key IS NULL OR key = '' OR length(key) > 250 THEN
        PERFORM mlops._check_key(key, 'key');
    END IF;
    PERFORM mlops._require(features, 'features');
    SELECT CASE WHEN v.task = 'classification' THEN v.classes END INTO classes
      FROM mlops.model_version v
     WHERE v.model_id = _log_prediction.model_id AND v.version = _log_prediction.version;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'version % of model % does not exist', coalesce(version::text, 'NULL'), coalesce(model_id::text, 'NULL')
            USING ERRCODE = 'undefined_object';
    END IF;
    IF (CASE WHEN classes IS NULL THEN probabilities IS NOT NULL
                       ELSE probabilities IS NULL OR array_ndims(probabilities) IS DISTINCT FROM 1
                            OR cardinality(probabilities) <> cardinality(classes)
                            OR EXISTS (SELECT FROM unnest(probabilities) p
                                        WHERE p IS NULL OR NOT (p BETWEEN 0 AND 1 OR p = 'NaN'::float8)) END) THEN
        RAISE EXCEPTION 'invalid probabilities for version % of model %', version, model_id
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'A version logs the probabilities predict_logged gives: none for a regression, one in [0, 1] per class for a classification.';
    END IF;
    IF classes IS NULL AND prediction IS NULL THEN
        RAISE EXCEPTION 'prediction must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF classes IS NOT NULL AND (prediction IS NULL OR NOT prediction = ANY (classes)) THEN
        RAISE EXCEPTION 'prediction % is not a class of version % of model %', coalesce(prediction::text, 'NULL'), version, model_id
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO mlops.prediction_log (model_id, version, key, features, prediction, probabilities, scored_by)
    VALUES (model_id, version, key, features, prediction, probabilities, mlops.invoker());
END
$$;
COMMENT ON FUNCTION mlops._log_prediction(bigint, int, text, jsonb, float8, float8[]) IS
    'internal: appends one served prediction to prediction_log, refusing (22023) what predict_logged could not have logged: a key not of 1 to 250 characters, a class the version does not have, probabilities not one per class in [0, 1]; NULL features or regression prediction 22004, an unknown version 42704';

-- predict_logged: resolves the reference once, scores with that pinned
-- version (so the logged version is the one that scored), logs, returns the
-- prediction. Not SECURITY DEFINER: it scores with the caller's rights, like
-- predict; only the append goes through _log_prediction.
CREATE FUNCTION mlops.predict_logged(model text, key text, features float8[]) RETURNS float8
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
AS $$
DECLARE
    r record;
    p float8;
BEGIN
    SELECT * INTO STRICT r FROM mlops._resolve_logged(model, key);
    p := mlops.predict(r.ref, features);
    PERFORM mlops._log_prediction(r.model_id, r.version, key, mlops._to_jsonb_canonical(features), p,
                                  CASE WHEN r.classification THEN mlops.predict_proba(r.ref, features) END);
    RETURN p;
END
$$;
COMMENT ON FUNCTION mlops.predict_logged(text, text, float8[]) IS
    'predict() that also appends the prediction (version that scored, key, features, probabilities) to prediction_log';

CREATE FUNCTION mlops.predict_logged(model text, key text, features record) RETURNS float8
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
AS $$
DECLARE
    r record;
    p float8;
BEGIN
    SELECT * INTO STRICT r FROM mlops._resolve_logged(model, key);
    -- a NULL row is refused in this function's words (predict's would name
    -- its own argument, "row"); num_nulls, not IS NULL, which a row of NULLs
    -- (every input missing, which scores) satisfies too
    IF pg_catalog.num_nulls(features) = 1 THEN
        RAISE EXCEPTION 'features must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    p := mlops.predict(r.ref, features);
    PERFORM mlops._log_prediction(r.model_id, r.version, key, mlops._to_jsonb_canonical(features), p,
                                  CASE WHEN r.classification THEN mlops.predict_proba(r.ref, features) END);
    RETURN p;
END
$$;
COMMENT ON FUNCTION mlops.predict_logged(text, text, record) IS
    'predict() of a row (features by column name) that also appends the prediction and the row to prediction_log';

-- Records (or corrects) the actual value of a key. Returns how many logged
-- predictions of the model it applies to (0 for a key not scored yet: it is
-- kept, and counts once the key is scored).
CREATE FUNCTION mlops.record_outcome(model text, key text, actual float8) RETURNS bigint
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
    SET search_path = pg_catalog, mlops, pg_temp
AS $$
DECLARE
    mid bigint;
    foreign_versions text;
    matched bigint;
BEGIN
    PERFORM mlops._require(model, 'model');
    PERFORM mlops._check_key(key, 'key');
    PERFORM mlops._require(actual, 'actual');
    IF actual = 'NaN'::float8 OR actual IN ('Infinity'::float8, '-Infinity'::float8) THEN
        RAISE EXCEPTION 'actual must be a finite number'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = pg_catalog.format('The outcome given for key "%s" is %s.', key, actual);
    END IF;
    SELECT m.id INTO mid FROM mlops.model m WHERE m.name = record_outcome.model;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'model "%" does not exist', model
            USING ERRCODE = 'undefined_object',
                  HINT = 'Outcomes are recorded per model name, without alias or version.';
    END IF;
    -- a classification outcome must be a class of every version that scored the key;
    -- each version is looked up by its primary key in a subquery, since a join
    -- (planned generically once the function has run a few times) could scan
    -- every version of the model for each call
    SELECT string_agg(DISTINCT l.version::text, ', ') INTO foreign_versions
      FROM mlops.prediction_log l
     WHERE l.model_id = mid AND l.key = record_outcome.key
       AND (SELECT v.task = 'classification' AND NOT actual = ANY (v.classes)
              FROM mlops.model_version v WHERE v.model_id = l.model_id AND v.version = l.version);
    IF foreign_versions IS NOT NULL THEN
        RAISE EXCEPTION 'actual % is not a class of model "%"', actual, model
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = pg_catalog.format('Key "%s" was scored by version(s) %s, whose classes do not include it.',
                                             key, foreign_versions);
    END IF;
    INSERT INTO mlops.outcome AS o (model_id, key, actual, recorded_by)
        VALUES (mid, key, actual, mlops.invoker())
        ON CONFLICT ON CONSTRAINT outcome_pkey DO UPDATE
           SET actual = excluded.actual, recorded_at = excluded.recorded_at, recorded_by = excluded.recorded_by;
    SELECT count(*) INTO matched FROM mlops.prediction_log l WHERE l.model_id = mid AND l.key = record_outcome.key;
    RETURN matched;
END
$$;
COMMENT ON FUNCTION mlops.record_outcome(text, text, float8) IS
    'records the actual value of a key (last write wins); returns how many logged predictions it applies to';

-- Probe of prediction_log with the latest snapshot (src/live.c), for
-- purge_predictions only (no grant). VOLATILE: its answer changes within a
-- statement.
CREATE FUNCTION mlops._key_logged(model_id bigint, key text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'key_logged'
    LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION mlops._key_logged(bigint, text) IS
    'internal: whether prediction_log has a committed prediction of the key, by the latest snapshot (not the transaction''s)';

-- Deletes the predictions scored before a time, and the outcomes left without
-- any logged prediction that were recorded before it too. Returns the number
-- of predictions deleted. An outcome whose key a transaction in progress is
-- scoring (predict_logged holds a KEY SHARE lock on it) is skipped, kept for
-- a later purge; each other candidate is locked, so that a scorer coming
-- after waits for the purge, then deleted only if no prediction of its key
-- committed since the purge's snapshot (_key_logged: at REPEATABLE READ that
-- snapshot is older than the lock).
CREATE FUNCTION mlops.purge_predictions(before timestamptz) RETURNS bigint
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
    SET search_path = pg_catalog, mlops, pg_temp
AS $$
DECLARE
    deleted bigint;
BEGIN
    PERFORM mlops._require(before, 'before');
    DELETE FROM mlops.prediction_log l WHERE l.scored_at < before;
    GET DIAGNOSTICS deleted = ROW_COUNT;
    WITH unused AS (
        SELECT u.model_id, u.key FROM mlops.outcome u
         WHERE u.recorded_at < before
           AND NOT EXISTS (SELECT FROM mlops.prediction_log l WHERE l.model_id = u.model_id AND l.key = u.key)
           FOR UPDATE OF u SKIP LOCKED)
    DELETE FROM mlops.outcome o USING unused
     WHERE o.model_id = unused.model_id AND o.key = unused.key
       AND NOT mlops._key_logged(unused.model_id, unused.key);
    RETURN deleted;
END
$$;
COMMENT ON FUNCTION mlops.purge_predictions(timestamptz) IS
    'deletes logged predictions scored before a time (and outcomes older than it no longer matching any); returns how many predictions';

-- STABLE, not IMMUTABLE: the transition counts the rows it keeps against
-- mlops.max_training_memory, a setting (the final function reads none).
CREATE FUNCTION mlops._quality_agg_transfn(internal, float8[], float8, float8, float8[]) RETURNS internal
    AS 'MODULE_PATHNAME', 'quality_agg_transfn'
    LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION mlops._quality_agg_transfn(internal, float8[], float8, float8, float8[]) IS
    'internal: transition function of _quality_agg (keeps the rows with an outcome)';
CREATE FUNCTION mlops._quality_agg_finalfn(internal) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'quality_agg_finalfn'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION mlops._quality_agg_finalfn(internal) IS
    'internal: final function of _quality_agg (the metrics as jsonb)';

-- The task's metrics (metrics.c) over the rows of a group that have an
-- outcome: classes NULL = regression (actual vs prediction), else the
-- version's classes (actual vs probabilities). NULL when no row has one.
CREATE AGGREGATE mlops._quality_agg(classes float8[], actual float8, prediction float8, probabilities float8[]) (
    SFUNC = mlops._quality_agg_transfn,
    STYPE = internal,
    FINALFUNC = mlops._quality_agg_finalfn,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE mlops._quality_agg(float8[], float8, float8, float8[]) IS
    'internal: regression or classification metrics (scikit-learn definitions) of predictions with known outcomes';

CREATE VIEW mlops.live_metrics AS
SELECT m.name AS model, l.version, (l.scored_at AT TIME ZONE 'UTC')::date AS day,
       count(*) AS scored,
       -- the rows the metrics are over: for a classification, an outcome that
       -- is none of the version's classes (recorded before the key was scored)
       -- is left out of both, as _quality_agg skips it
       count(o.actual) FILTER (WHERE v.task <> 'classification' OR o.actual = ANY (v.classes)) AS with_outcome,
       mlops._quality_agg(CASE WHEN v.task = 'classification' THEN v.classes END,
                          o.actual, l.prediction, l.probabilities) AS metrics
  FROM mlops.prediction_log l
  JOIN mlops.model m ON m.id = l.model_id
  JOIN mlops.model_version v ON v.model_id = l.model_id AND v.version = l.version
  LEFT JOIN mlops.outcome o ON o.model_id = l.model_id AND o.key = l.key
 GROUP BY m.name, l.version, (l.scored_at AT TIME ZONE 'UTC')::date, v.task, v.classes;
COMMENT ON VIEW mlops.live_metrics IS
    'per model version and day (UTC): predictions logged, how many have an outcome, and the task''s metrics over those';

GRANT EXECUTE ON FUNCTION mlops._resolve_logged(text, text),
    mlops._log_prediction(bigint, int, text, jsonb, float8, float8[]),
    mlops.predict_logged(text, text, float8[]), mlops.predict_logged(text, text, record),
    mlops.record_outcome(text, text, float8) TO mlops_scorer;
-- The view's caller needs EXECUTE on the aggregate (function rights in a view
-- are the caller's); it computes metrics of whatever it is given, nothing more.
GRANT EXECUTE ON FUNCTION mlops._quality_agg(float8[], float8, float8, float8[]) TO mlops_trainer;
GRANT SELECT ON mlops.live_metrics TO mlops_trainer;
GRANT EXECUTE ON FUNCTION mlops.purge_predictions(timestamptz) TO mlops_admin;
