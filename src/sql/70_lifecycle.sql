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

CREATE FUNCTION mlops.set_alias(model text, alias text, version int) RETURNS void
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
    SET search_path = pg_catalog, mlops, pg_temp
AS $$
DECLARE
    mid bigint := mlops._model_id(model);
BEGIN
    PERFORM mlops._check_alias_move(alias);
    PERFORM mlops._lock_version(mid, model, version);
    IF EXISTS (SELECT FROM mlops.alias a WHERE a.model_id = mid AND a.alias = set_alias.alias
                                          AND a.version = set_alias.version) THEN
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
    target int;
BEGIN
    PERFORM mlops._check_alias_move(alias);
    -- serialise with other moves of this alias, so the history we replay is the one we extend
    PERFORM FROM mlops.model m WHERE m.id = mid FOR UPDATE;
    stack := mlops._alias_stack(mid, alias);
    IF cardinality(stack) < 2 THEN
        RAISE EXCEPTION 'alias "%" of model "%" has no earlier version to roll back to', alias, model
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    target := stack[cardinality(stack) - 1];
    IF target IS NULL THEN
        RAISE EXCEPTION 'alias "%" of model "%" did not exist before its last move', alias, model
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Use mlops.delete_alias() to remove it.';
    END IF;
    PERFORM mlops._lock_version(mid, model, target);
    PERFORM mlops._move_alias(mid, alias, target, 'rollback');
    RETURN target;
END
$$;
COMMENT ON FUNCTION mlops.rollback(text, text) IS
    'moves an alias back to the version it pointed to before its last move; repeated, walks further back';

CREATE FUNCTION mlops.delete_version(model text, version int) RETURNS void
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
    SET search_path = pg_catalog, mlops, pg_temp
AS $$
DECLARE
    mid bigint := mlops._model_id(model);
    aliases text;
BEGIN
    PERFORM mlops._lock_version(mid, model, version);
    SELECT string_agg(a.alias, ', ' ORDER BY a.alias) INTO aliases
      FROM mlops.alias a WHERE a.model_id = mid AND a.version = delete_version.version;
    IF aliases IS NOT NULL THEN
        RAISE EXCEPTION 'version % of model "%" is aliased', version, model
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = pg_catalog.format('Aliases pointing at it: %s.', aliases),
                  HINT = 'Move or delete those aliases first.';
    END IF;
    DELETE FROM mlops.model_version v WHERE v.model_id = mid AND v.version = delete_version.version;
END
$$;
COMMENT ON FUNCTION mlops.delete_version(text, int) IS
    'deletes a model version that no alias points at (its number is never reused)';

GRANT EXECUTE ON FUNCTION mlops.set_alias(text, text, int), mlops.delete_alias(text, text),
    mlops.rollback(text, text), mlops.delete_version(text, int) TO mlops_trainer;
