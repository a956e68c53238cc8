-- ---------------------------------------------------------------------------
-- Registry lifecycle: moving and removing aliases, rolling back, deleting
-- versions. Every move is appended to the deployment history in the caller's
-- transaction (mlops._move_alias), so it commits or rolls back with it.
-- Only mlops_admin moves the alias "production"; mlops_trainer moves the others.
-- ---------------------------------------------------------------------------

-- Returns the id of a model by name, or raises 42704.
CREATE FUNCTION mlops._model_id(model text) RETURNS bigint
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, mlops, pg_temp
AS $$
DECLARE
    mid bigint;
BEGIN
    SELECT m.id INTO mid FROM mlops.model m WHERE m.name = mlops._require(model, 'model');
    IF NOT FOUND THEN
        RAISE EXCEPTION 'model "%" does not exist', model USING ERRCODE = 'undefined_object';
    END IF;
    RETURN mid;
END
$$;
COMMENT ON FUNCTION mlops._model_id(text) IS 'internal: the id of a model by name; 42704 when there is none';

-- Locks a model's row against other alias moves until the transaction ends, so
-- that moves of its aliases (set_alias, delete_alias, rollback, promote) happen
-- one at a time: each reads the alias and its history as the previous move
-- left them. Taken before any other registry lock of the move but the audit
-- log's (_lock_registry; then the model, the version, the alias), the order
-- training follows too, so two moves never deadlock. FOR NO KEY UPDATE: the
-- foreign keys of versions and history rows inserted meanwhile (KEY SHARE) do
-- not wait for it.
CREATE FUNCTION mlops._lock_model(model_id bigint) RETURNS bigint
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
    SET search_path = pg_catalog, mlops, pg_temp
AS $$
BEGIN
    PERFORM mlops._lock_registry();
    PERFORM FROM mlops.model m WHERE m.id = _lock_model.model_id FOR NO KEY UPDATE;
    RETURN model_id;
END
$$;
COMMENT ON FUNCTION mlops._lock_model(bigint) IS
    'internal: locks a model against concurrent alias moves until the transaction ends';

-- Checks that alias is a valid alias name that the calling role may move:
-- "production" is reserved to mlops_admin.
CREATE FUNCTION mlops._check_alias_move(alias text) RETURNS text
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, mlops, pg_temp
AS $$
BEGIN
    PERFORM mlops._require(alias, 'alias');
    IF alias !~ '^[a-z_][a-z0-9_-]{0,62}$' THEN
        RAISE EXCEPTION 'invalid alias name "%"', alias
            USING ERRCODE = 'invalid_name',
                  DETAIL = 'An alias name is a lower-case letter or "_", then lower-case letters, digits, "_" or "-" (at most 63 characters).';
    END IF;
    IF alias = 'production' AND NOT pg_has_role(mlops.invoker(), 'mlops_admin', 'USAGE') THEN
        RAISE EXCEPTION 'permission denied to move alias "production"'
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'Only members of mlops_admin move the production alias.',
                  HINT = 'Move another alias (such as "staging"), or ask an mlops_admin to promote.';
    END IF;
    RETURN alias;
END
$$;
COMMENT ON FUNCTION mlops._check_alias_move(text) IS
    'internal: validates an alias name and that the calling role may move it ("production" is for mlops_admin)';

-- Returns the version, locked against deletion, or raises 42704.
CREATE FUNCTION mlops._lock_version(model_id bigint, model text, version int) RETURNS int
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
    SET search_path = pg_catalog, mlops, pg_temp
AS $$
BEGIN
    PERFORM FROM mlops.model_version v
      WHERE v.model_id = _lock_version.model_id AND v.version = mlops._require(_lock_version.version, 'version')
      FOR KEY SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'version % of model "%" does not exist', version, model USING ERRCODE = 'undefined_object';
    END IF;
    RETURN version;
END
$$;
COMMENT ON FUNCTION mlops._lock_version(bigint, text, int) IS
    'internal: checks that a version exists and locks it against deletion until the transaction ends';

-- Locks an alias of a model (by name) until the transaction ends and returns
-- the version it points at, NULL when the model has no such alias. A move
-- that decides on where the alias points (set_alias's "already there", the
-- refusals of rollback and promote) decides under this lock, not on its
-- snapshot: at REPEATABLE READ or SERIALIZABLE, an alias moved or deleted
-- after the snapshot was taken makes the lock fail with 40001, where the
-- snapshot's value would make the move do nothing or refuse it. Taken after
-- the model's and the version's locks (the registry's lock order).
-- SECURITY DEFINER for promote, which is not.
CREATE FUNCTION mlops._lock_alias(model text, alias text) RETURNS int
    LANGUAGE sql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
    SET search_path = pg_catalog, mlops, pg_temp
AS $$
    SELECT a.version
      FROM mlops.alias a JOIN mlops.model m ON m.id = a.model_id
     WHERE m.name::text = _lock_alias.model AND a.alias::text = _lock_alias.alias
       FOR UPDATE OF a;
$$;
COMMENT ON FUNCTION mlops._lock_alias(text, text) IS
    'internal: locks an alias of a model until the transaction ends and returns its version (40001 at REPEATABLE READ when it moved since the snapshot)';

CREATE FUNCTION mlops.set_alias(model text, alias text, version int) RETURNS void
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
    SET search_path = pg_catalog, mlops, pg_temp
AS $$
DECLARE
    mid bigint := mlops._model_id(model);
BEGIN
    PERFORM mlops._check_alias_move(alias);
    PERFORM mlops._lock_model(mid);
    PERFORM mlops._lock_version(mid, model, version);
    IF mlops._lock_alias(model, alias) = version THEN
        RETURN;  -- already there: not a move
    END IF;
    PERFORM mlops._move_alias(mid, alias, version, 'set');
END
$$;
COMMENT ON FUNCTION mlops.set_alias(text, text, int) IS
    'points an alias of a model at a version (recorded in deployments; "production" needs mlops_admin)';

CREATE FUNCTION mlops.delete_alias(model text, alias text) RETURNS void
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
    SET search_path = pg_catalog, mlops, pg_temp
AS $$
DECLARE
    mid bigint := mlops._model_id(model);
BEGIN
    PERFORM mlops._check_alias_move(alias);
    PERFORM mlops._lock_model(mid);
    IF NOT EXISTS (SELECT FROM mlops.alias a WHERE a.model_id = mid AND a.alias = delete_alias.alias) THEN
        RAISE EXCEPTION 'model "%" has no alias "%"', model, alias USING ERRCODE = 'undefined_object';
    END IF;
    PERFORM mlops._move_alias(mid, alias, NULL, 'delete');
END
$$;
COMMENT ON FUNCTION mlops.delete_alias(text, text) IS
    'removes an alias of a model (recorded in deployments; "production" needs mlops_admin)';

-- The versions an alias has pointed to, oldest first, as a stack replayed from
-- the deployment history: a move pushes its target, a rollback pops. The
-- element under the top is where a rollback goes.
CREATE FUNCTION mlops._alias_stack(model_id bigint, alias text) RETURNS int[]
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, mlops, pg_temp
AS $$
DECLARE
    stack int[] := '{}';
    d record;
BEGIN
    FOR d IN SELECT action, to_version FROM mlops.deployment
              WHERE deployment.model_id = _alias_stack.model_id AND deployment.alias = _alias_stack.alias
                AND action <> 'refused'
              ORDER BY id LOOP
        IF d.action = 'rollback' THEN
            stack := stack[1:cardinality(stack) - 1];
        ELSE
            stack := stack || d.to_version;  -- NULL for a deletion
        END IF;
    END LOOP;
    RETURN stack;
END
$$;
COMMENT ON FUNCTION mlops._alias_stack(bigint, text) IS
    'internal: the versions an alias pointed to, replayed from deployments (moves push, rollbacks pop)';

CREATE FUNCTION mlops.rollback(model text, alias text DEFAULT 'production') RETURNS int
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
    SET search_path = pg_catalog, mlops, pg_temp
AS $$
DECLARE
    mid bigint := mlops._model_id(model);
    stack int[];
    earlier int;
BEGIN
    PERFORM mlops._check_alias_move(alias);
    -- serialise with other moves of this alias, so the history we replay is the one we extend
    PERFORM mlops._lock_model(mid);
    stack := mlops._alias_stack(mid, alias);
    earlier := stack[cardinality(stack) - 1];   -- NULL without an earlier version
    IF earlier IS NULL OR NOT EXISTS (SELECT FROM mlops.model_version v WHERE v.model_id = mid AND v.version = earlier) THEN
        -- a refusal read from the snapshot's history: an alias moved since it
        -- was taken (REPEATABLE READ) is 40001 instead
        PERFORM mlops._lock_alias(model, alias);
        IF cardinality(stack) = 0 THEN
            RAISE EXCEPTION 'model "%" has no alias "%"', model, alias USING ERRCODE = 'undefined_object';
        END IF;
        IF cardinality(stack) < 2 THEN
            RAISE EXCEPTION 'alias "%" of model "%" has no earlier version to roll back to', alias, model
                USING ERRCODE = 'object_not_in_prerequisite_state';
        END IF;
        IF earlier IS NULL THEN
            RAISE EXCEPTION 'alias "%" of model "%" did not exist before its last move', alias, model
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      HINT = 'Use mlops.delete_alias() to remove it.';
        END IF;
        RAISE EXCEPTION 'version % of model "%", where alias "%" pointed before its last move, was deleted',
                        earlier, model, alias
            USING ERRCODE = 'undefined_object',
                  HINT = 'Use mlops.set_alias() to point the alias at a version that exists.';
    END IF;
    PERFORM mlops._lock_version(mid, model, earlier);
    PERFORM mlops._move_alias(mid, alias, earlier, 'rollback');
    RETURN earlier;
END
$$;
COMMENT ON FUNCTION mlops.rollback(text, text) IS
    'moves an alias back to the version it pointed to before its last move; repeated, walks further back';

-- The version is locked FOR UPDATE before its aliases are looked at: a
-- set_alias or promote to it that has not committed yet holds a KEY SHARE lock
-- on it, so this waits for that transaction and then sees its alias (55000)
-- rather than failing on the alias's foreign key (23503); at REPEATABLE READ,
-- whose snapshot does not show an alias committed since, the foreign key's
-- refusal is a serialization failure (40001), as is the lock of an alias
-- that the snapshot shows but that was moved or removed since. Only the
-- version's creator (or a member of that role) and mlops_admin may delete it.
-- The audit log's lock is taken first, as by every registry writer, but the
-- version is never waited for under it: a predict_logged of the version holds
-- a KEY SHARE lock on it until its transaction ends, and that transaction may
-- then write an audited table (the registry, or one of the application's),
-- which takes the audit log's lock: a deletion holding that lock while
-- waiting for the scorer would deadlock with it (40P01). So when another
-- transaction holds the version, both locks are let go (each attempt is a
-- subtransaction), its end is waited for holding neither, and they are taken
-- again.
CREATE FUNCTION mlops.delete_version(model text, version int) RETURNS void
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
    SET search_path = pg_catalog, mlops, pg_temp
AS $$
DECLARE
    mid bigint := mlops._model_id(model);
    creator name;
    aliases text;
    letting_go boolean;     -- the subtransaction is rolled back to let go of its locks
BEGIN
    PERFORM mlops._require(version, 'version');
    LOOP
        letting_go := false;
        BEGIN
            PERFORM mlops._lock_registry();
            SELECT v.created_by INTO creator FROM mlops.model_version v
             WHERE v.model_id = mid AND v.version = delete_version.version
               FOR UPDATE SKIP LOCKED;
            letting_go := NOT FOUND AND EXISTS (SELECT FROM mlops.model_version v
                                                 WHERE v.model_id = mid AND v.version = delete_version.version);
            IF letting_go THEN
                RAISE EXCEPTION USING ERRCODE = 'lock_not_available';
            END IF;
        EXCEPTION WHEN lock_not_available THEN
            IF NOT letting_go THEN
                RAISE;      -- lock_timeout
            END IF;
        END;
        EXIT WHEN NOT letting_go;
        -- wait for the transactions holding the version, with no lock held
        letting_go := false;
        BEGIN
            PERFORM FROM mlops.model_version v
             WHERE v.model_id = mid AND v.version = delete_version.version FOR UPDATE;
            letting_go := true;
            RAISE EXCEPTION USING ERRCODE = 'lock_not_available';
        EXCEPTION WHEN lock_not_available THEN
            IF NOT letting_go THEN
                RAISE;
            END IF;
        END;
    END LOOP;
    IF creator IS NULL THEN
        RAISE EXCEPTION 'version % of model "%" does not exist', version, model USING ERRCODE = 'undefined_object';
    END IF;
    PERFORM mlops._check_creator(creator, pg_catalog.format('version %s of model "%s"', version, model));
    -- its aliases under their locks (after the version's), not as the snapshot
    -- shows them: at REPEATABLE READ one moved or removed since is 40001
    SELECT string_agg(a.alias, ', ' ORDER BY a.alias) INTO aliases
      FROM (SELECT a.alias FROM mlops.alias a
             WHERE a.model_id = mid AND a.version = delete_version.version FOR UPDATE) a;
    IF aliases IS NOT NULL THEN
        RAISE EXCEPTION 'version % of model "%" is aliased', version, model
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = pg_catalog.format('Aliases pointing at it: %s.', aliases),
                  HINT = 'Move or delete those aliases first.';
    END IF;
    -- its logged predictions are deleted here, not left to the foreign key's
    -- cascade, which does not fire under session_replication_role = replica
    DELETE FROM mlops.prediction_log l WHERE l.model_id = mid AND l.version = delete_version.version;
    BEGIN
        DELETE FROM mlops.model_version v WHERE v.model_id = mid AND v.version = delete_version.version;
    EXCEPTION WHEN foreign_key_violation THEN
        -- at REPEATABLE READ the aliases were read in the transaction's
        -- snapshot, which does not show one committed since; the foreign key
        -- check does (at READ COMMITTED the lock above has waited for it)
        RAISE EXCEPTION 'version % of model "%" was aliased by a transaction that committed after this one took its snapshot',
                        version, model
            USING ERRCODE = 'serialization_failure',
                  HINT = 'Run the transaction again.';
    END;
END
$$;
COMMENT ON FUNCTION mlops.delete_version(text, int) IS
    'deletes a model version that no alias points at (its creator or mlops_admin; its number is never reused)';

-- Sets a model's description (NULL clears it), which the models view and the
-- model's report show. Models are shared: any trainer describes any model, as
-- it trains new versions of any; the audit log keeps every change.
CREATE FUNCTION mlops.set_model_description(model text, description text) RETURNS void
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
    SET search_path = pg_catalog, mlops, pg_temp
AS $$
DECLARE
    mid bigint := mlops._lock_model(mlops._model_id(model));
BEGIN
    UPDATE mlops.model m SET description = set_model_description.description WHERE m.id = mid;
END
$$;
COMMENT ON FUNCTION mlops.set_model_description(text, text) IS
    'sets the description of a model shown by the models view and its report (NULL clears it)';

GRANT EXECUTE ON FUNCTION mlops.set_alias(text, text, int), mlops.delete_alias(text, text),
    mlops.rollback(text, text), mlops.delete_version(text, int), mlops.set_model_description(text, text) TO mlops_trainer;

-- Records the outcome of promote's gate: moves the alias (action "promote") or
-- records the refusal (action "refused", the alias unchanged), in the caller's
-- transaction. SECURITY DEFINER because promote itself is not: it reads the
-- gate source with the caller's privileges. Raises 40001 when the alias moved
-- since promote read it, so a gate outcome is never recorded against another
-- incumbent than the one it measured.
CREATE FUNCTION mlops._record_promotion(model text, alias text, candidate int, incumbent int,
                                        promoted boolean, reason text, outcome jsonb) RETURNS void
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
    SET search_path = pg_catalog, mlops, pg_temp
AS $$
DECLARE
    mid bigint := mlops._model_id(model);
    current int;
BEGIN
    PERFORM mlops._check_alias_move(alias);
    -- serialise with the other moves of this model's aliases
    PERFORM mlops._lock_model(mid);
    PERFORM mlops._lock_version(mid, model, candidate);
    SELECT a.version INTO current FROM mlops.alias a
     WHERE a.model_id = mid AND a.alias = _record_promotion.alias FOR UPDATE;
    IF current IS DISTINCT FROM incumbent THEN
        RAISE EXCEPTION 'alias "%" of model "%" moved while the promotion was being evaluated', alias, model
            USING ERRCODE = 'serialization_failure',
                  DETAIL = pg_catalog.format('It pointed at version %s and now points at version %s.',
                                             coalesce(incumbent::text, 'none'), coalesce(current::text, 'none')),
                  HINT = 'Run promote again.';
    END IF;
    IF promoted THEN
        PERFORM mlops._move_alias(mid, alias, candidate, 'promote', reason, outcome);
    ELSE
        INSERT INTO mlops.deployment (model_id, alias, action, from_version, to_version, reason, gate, by)
            VALUES (mid, alias, 'refused', incumbent, candidate, reason, outcome, mlops.invoker());
    END IF;
END
$$;
COMMENT ON FUNCTION mlops._record_promotion(text, text, int, int, boolean, text, jsonb) IS
    'internal: records a gate outcome in deployments, moving the alias when promoted (40001 if it moved meanwhile)';

-- The metrics evaluate() reports for a version of a task (its classes NULL for a
-- regression), a classification's default gate metric first: what the gate may
-- compare the version on.
CREATE FUNCTION mlops._task_metrics(task text, classes float8[]) RETURNS text[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN task = 'regression' THEN '{r2,rmse,mse,mae}'::text[]
                WHEN cardinality(classes) = 2 THEN '{roc_auc,accuracy,precision,recall,f1,log_loss}'::text[]
                ELSE '{f1_macro,accuracy,log_loss}'::text[] END
$$;
COMMENT ON FUNCTION mlops._task_metrics(text, float8[]) IS
    'internal: the metrics of a version of a task, which the gate may compare it on';

-- The split a run recorded: its test_fraction and seed params as train()
-- writes them, else NULL (a run linked to a version by _register_version may
-- hold any text there, which a cast fails on with 22P02 or 22003); the digits
-- are bounded, as numeric overflows past 131072 digits before the point.
CREATE FUNCTION mlops._run_split(params jsonb, OUT test_fraction float8, OUT seed int)
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN f ~ '^[0-9]{1,255}([.][0-9]{1,255})?([eE][-+]?[0-9]{1,3})?$' THEN
                CASE WHEN f::numeric = 0 OR f::numeric BETWEEN 1e-300 AND 1 THEN f::float8 END END,
           CASE WHEN s ~ '^-?[0-9]{1,10}$' THEN
                CASE WHEN s::bigint BETWEEN -2147483648 AND 2147483647 THEN s::int END END
      FROM (SELECT params ->> 'test_fraction' AS f, params ->> 'seed' AS s) p
$$;
COMMENT ON FUNCTION mlops._run_split(jsonb) IS
    'internal: the test_fraction and seed a run''s params record, each NULL unless a number train() could have written';

-- The validation gate. Not SECURITY DEFINER: the rows are read with the
-- caller's privileges; the registry is written by _record_promotion. Nor does
-- it pin search_path: gate.source is named as the caller would name it. So
-- its body names nothing that a schema on that path could take (see
-- 00_base.sql): an admin promoting must not call a trainer's function.
-- extra_float_digits is pinned so that the metrics in the outcome and in its
-- reason, recorded in deployments, are exact whatever the caller's setting.
CREATE FUNCTION mlops.promote(model text, version int DEFAULT NULL, alias text DEFAULT 'production',
                              gate jsonb DEFAULT '{}', force boolean DEFAULT false) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
    SET extra_float_digits = 1
AS $$
DECLARE
    gate_key text;
    candidate record;
    incumbent int;
    incumbent_target text;      -- the incumbent's target column (NULL: imported without one)
    target text;                -- the target column of the gate's rows
    kind text;
    metric text;
    metrics text[];             -- the candidate's task's
    incumbent_metrics text[];   -- the incumbent's task's (NULL: no incumbent)
    lower_better boolean;
    min_delta float8 := 0;
    source text;
    params jsonb;
    test_fraction float8 := 0;
    seed int := 0;
    evaluation jsonb;
    candidate_value float8;
    incumbent_value float8;
    improvement float8;
    promoted boolean;
    forced boolean := false;
    reason text;
    outcome jsonb;
BEGIN
    PERFORM mlops._require(model, 'model');
    PERFORM mlops._require(alias, 'alias');
    PERFORM mlops._require(gate, 'gate');
    PERFORM mlops._require(force, 'force');
    -- an unknown model is 42704 before the alias is checked, as in set_alias
    IF NOT EXISTS (SELECT FROM mlops.models m WHERE m.name::text = promote.model) THEN
        RAISE EXCEPTION 'model "%" does not exist', model USING ERRCODE = 'undefined_object';
    END IF;
    PERFORM mlops._check_alias_move(alias);
    PERFORM mlops._refuse_replicated_registry();   -- before the gate reads the runs

    -- the gate
    IF pg_catalog.jsonb_typeof(gate) <> 'object' THEN
        RAISE EXCEPTION 'gate must be a jsonb object' USING ERRCODE = 'invalid_parameter_value',
            HINT = 'For example {"metric": "rmse", "min_delta": 0.01, "source": "holdout"}.';
    END IF;
    FOR gate_key IN SELECT pg_catalog.jsonb_object_keys(gate) LOOP
        IF gate_key NOT IN ('source', 'metric', 'min_delta', 'target') THEN
            RAISE EXCEPTION 'unknown gate key "%"', gate_key USING ERRCODE = 'invalid_parameter_value',
                HINT = 'The gate keys are source, metric, min_delta and target.';
        END IF;
    END LOOP;
    IF pg_catalog.jsonb_typeof(gate->'source') IS DISTINCT FROM 'string' AND gate ? 'source'
       OR pg_catalog.jsonb_typeof(gate->'metric') IS DISTINCT FROM 'string' AND gate ? 'metric'
       OR pg_catalog.jsonb_typeof(gate->'min_delta') IS DISTINCT FROM 'number' AND gate ? 'min_delta'
       OR pg_catalog.jsonb_typeof(gate->'target') IS DISTINCT FROM 'string' AND gate ? 'target' THEN
        RAISE EXCEPTION 'gate values have the wrong type' USING ERRCODE = 'invalid_parameter_value',
            DETAIL = 'gate.source, gate.metric and gate.target are strings, gate.min_delta is a number.';
    END IF;
    BEGIN
        min_delta := coalesce((gate->>'min_delta')::float8, 0);
    EXCEPTION WHEN numeric_value_out_of_range THEN
        -- a JSON number beyond float8 (1e400, or 1e-400 that would round to 0)
        RAISE EXCEPTION 'gate.min_delta is out of range for type double precision'
            USING ERRCODE = 'numeric_value_out_of_range';
    END;

    -- the candidate and the incumbent
    SELECT v.version, v.task, v.classes, v.source, v.run_id, v.test_rows, v.target INTO candidate
      FROM mlops.model_versions v
     WHERE v.name::text = promote.model
       AND v.version = coalesce(promote.version, (SELECT m.latest_version FROM mlops.models m
                                                   WHERE m.name::text = promote.model));
    IF NOT FOUND AND version IS NULL THEN
        -- every version of it was deleted: there is no latest one
        RAISE EXCEPTION 'model "%" has no version', model
            USING ERRCODE = 'undefined_object',
                  HINT = 'Train or import a version of it to promote.';
    END IF;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'version % of model "%" does not exist', version, model
            USING ERRCODE = 'undefined_object';
    END IF;
    SELECT (m.aliases->>promote.alias)::int INTO incumbent FROM mlops.models m WHERE m.name::text = promote.model;
    IF incumbent = candidate.version THEN
        -- read in the snapshot: an alias moved since it was taken (REPEATABLE READ) is 40001 instead
        PERFORM mlops._lock_alias(model, alias);
        RAISE EXCEPTION 'alias "%" of model "%" already points at version %', alias, model, incumbent
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;

    -- the metric
    kind := CASE WHEN candidate.task = 'regression' THEN 'regression'
                 WHEN pg_catalog.cardinality(candidate.classes) = 2 THEN 'binary' ELSE 'multiclass' END;
    metrics := mlops._task_metrics(candidate.task, candidate.classes);
    metric := coalesce(gate->>'metric', CASE kind WHEN 'regression' THEN 'rmse' ELSE metrics[1] END);
    IF NOT metric = ANY (metrics) THEN
        RAISE EXCEPTION 'metric "%" does not fit a % model', metric, kind
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = pg_catalog.format('The metrics of a %s model are: %s.', kind, pg_catalog.array_to_string(metrics, ', '));
    END IF;
    lower_better := metric IN ('rmse', 'mse', 'mae', 'log_loss');

    -- the target column of the rows: gate.target, else the candidate's, else the
    -- incumbent's (a version imported without a target is scored on it)
    IF incumbent IS NOT NULL THEN
        SELECT v.target, mlops._task_metrics(v.task, v.classes) INTO incumbent_target, incumbent_metrics
          FROM mlops.model_versions v WHERE v.name::text = promote.model AND v.version = incumbent;
    END IF;
    -- (truncated as an identifier is, as import_model truncates its target)
    target := coalesce((gate->>'target')::name::text, candidate.target, incumbent_target);
    IF gate ? 'target' AND (candidate.target <> target OR incumbent_target <> target) THEN
        RAISE EXCEPTION 'gate.target "%" is not the target of version % of model "%"', target,
                        CASE WHEN candidate.target <> target THEN candidate.version ELSE incumbent END, model
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = pg_catalog.format('It predicts "%s".', CASE WHEN candidate.target <> target THEN candidate.target
                                                                       ELSE incumbent_target END),
                  HINT = 'Leave gate.target out, or give the version''s target: gate.target names the target column of versions imported without one.';
    END IF;

    -- the rows: gate.source, else the candidate's test split (run params of train()),
    -- unless its split held no test row (train() then measured the training rows)
    IF gate ? 'source' THEN
        source := gate->>'source';
    ELSE
        SELECT r.params INTO params FROM mlops.runs r WHERE r.run_id = candidate.run_id;
        SELECT coalesce(p.test_fraction, 0), coalesce(p.seed, 0) INTO test_fraction, seed
          FROM mlops._run_split(params) p;
        IF candidate.source IS NOT NULL AND test_fraction > 0::float8 AND candidate.test_rows > 0 THEN
            source := candidate.source;
        ELSIF incumbent IS NOT NULL THEN
            RAISE EXCEPTION 'version % of model "%" has no test split to evaluate on', candidate.version, model
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = 'It was imported, trained with test_fraction 0, or its split held no test row.',
                      HINT = CASE WHEN target IS NULL
                                  THEN 'Give the rows to compare on as gate.source (a table or query holding the target and the features), and their target column as gate.target.'
                                  ELSE 'Give the rows to compare on as gate.source (a table or query holding the target and the features).' END;
        ELSE
            test_fraction := 0;     -- nothing evaluated: no test_split in the outcome
        END IF;
    END IF;
    IF source IS NOT NULL AND target IS NULL THEN
        RAISE EXCEPTION 'the gate has no target column to evaluate version % of model "%" on', candidate.version, model
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = CASE WHEN incumbent IS NULL THEN 'It was imported without naming its target.'
                                ELSE pg_catalog.format('It and version %s, which alias "%s" points at, were imported without naming their target.',
                                                       incumbent, alias) END,
                  HINT = 'Name the target column of gate.source as gate.target, or move the alias without the gate with mlops.set_alias().';
    END IF;
    -- a multiclass incumbent has no binary metric (a binary candidate's default roc_auc),
    -- whatever the rows: refused before they are read; a metric of its task that it
    -- lacks on them (a NaN left out) is undefined on the rows (below)
    IF source IS NOT NULL AND NOT metric = ANY (incumbent_metrics) THEN
        RAISE EXCEPTION 'version % of model "%" has no metric "%"', incumbent, model, metric
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = pg_catalog.format('Its metrics are: %s.',
                      (SELECT pg_catalog.string_agg(k, ', ' ORDER BY k) FROM pg_catalog.unnest(incumbent_metrics) k)),
                  HINT = 'Choose a metric of both versions as gate.metric.';
    END IF;
    IF source IS NOT NULL THEN
        evaluation := mlops._evaluate_versions(model,
            CASE WHEN incumbent IS NULL THEN ARRAY[candidate.version] ELSE ARRAY[candidate.version, incumbent] END,
            source, test_fraction, seed, target);
        candidate_value := (evaluation->'metrics'->0->>metric)::float8;
        incumbent_value := (evaluation->'metrics'->1->>metric)::float8;
        IF candidate_value IS NULL OR (incumbent IS NOT NULL AND incumbent_value IS NULL) THEN
            RAISE EXCEPTION 'metric "%" is undefined on the gate''s rows', metric
                USING ERRCODE = 'data_exception',
                      DETAIL = 'roc_auc needs rows of both classes, r2 two rows at least, and no metric is defined where a version scores NaN.',
                      HINT = 'Choose another gate.metric or another gate.source.';
        END IF;
    END IF;

    -- the decision
    IF incumbent IS NULL THEN
        promoted := true;
        reason := pg_catalog.format('alias "%s" pointed at no version: nothing to compare with', alias);
    ELSE
        improvement := CASE WHEN lower_better THEN incumbent_value - candidate_value
                            ELSE candidate_value - incumbent_value END;
        -- both infinite alike (an rmse past float8's range): Infinity - Infinity is
        -- NaN, which PostgreSQL orders above every min_delta
        IF improvement = 'NaN'::float8 THEN
            RAISE EXCEPTION 'metric "%" cannot tell versions % and % apart on the gate''s rows',
                            metric, candidate.version, incumbent
                USING ERRCODE = 'data_exception',
                      DETAIL = pg_catalog.format('Both versions score %s.', candidate_value),
                      HINT = 'Choose another gate.metric or another gate.source.';
        END IF;
        promoted := improvement >= min_delta;
        reason := pg_catalog.format('%s of version %s is %s, of version %s %s: improvement %s %s min_delta %s',
                                    metric, candidate.version, candidate_value, incumbent, incumbent_value,
                                    improvement, CASE WHEN promoted THEN '>=' ELSE '<' END, min_delta);
        IF NOT promoted AND force THEN
            promoted := true;
            forced := true;
            reason := 'forced despite the gate: ' || reason;
        END IF;
    END IF;
    outcome := pg_catalog.jsonb_build_object('promoted', promoted, 'metric', metric,
                                             'candidate', candidate_value, 'incumbent', incumbent_value,
                                             'reason', reason, 'candidate_version', candidate.version,
                                             'incumbent_version', incumbent, 'forced', forced, 'min_delta', min_delta,
                                             'rows', evaluation->'rows', 'source', source,
                                             'test_split', CASE WHEN test_fraction > 0::float8
                                                                THEN pg_catalog.jsonb_build_object('test_fraction', test_fraction, 'seed', seed) END);
    PERFORM mlops._record_promotion(model, alias, candidate.version, incumbent, promoted, reason, outcome);
    RETURN outcome;
END
$$;
COMMENT ON FUNCTION mlops.promote(text, int, text, jsonb, boolean) IS
    'moves an alias to a version if it beats the incumbent on the same rows (gate: source, metric, min_delta); records the outcome either way';

GRANT EXECUTE ON FUNCTION mlops.promote(text, int, text, jsonb, boolean),
    mlops._record_promotion(text, text, int, int, boolean, text, jsonb),
    mlops._check_alias_move(text), mlops._lock_alias(text, text), mlops._refuse_replicated_registry(), mlops._registry_tables(),
    mlops._require(anyelement, text), mlops._task_metrics(text, float8[]), mlops._run_split(jsonb) TO mlops_trainer;
