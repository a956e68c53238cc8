-- ---------------------------------------------------------------------------
-- Scaling out: merging linear_stats values computed elsewhere (per shard,
-- through postgres_fdw), and publishing a model version to another server's
-- registry under the same version number, so that predict_version(m, v, ...)
-- shipped to any shard means the same model.
-- ---------------------------------------------------------------------------

CREATE FUNCTION mlops.linear_stats_merge_accum(internal, stats bytea) RETURNS internal
    AS 'MODULE_PATHNAME', 'linear_stats_merge_accum'
    LANGUAGE C IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION mlops.linear_stats_merge_accum(internal, bytea) IS
    'internal: linear_stats_merge transition (NULL values are skipped)';

-- The merge of finished linear_stats values is itself a linear_stats value:
-- linear_fit(linear_stats_merge(s)) over per-shard values equals linear_fit of
-- linear_stats over the union of the shards' rows.
CREATE AGGREGATE mlops.linear_stats_merge(stats bytea) (
    SFUNC = mlops.linear_stats_merge_accum,
    STYPE = internal,
    FINALFUNC = mlops.linear_stats_serialize,
    FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = mlops.linear_stats_combine,
    SERIALFUNC = mlops.linear_stats_serialize,
    DESERIALFUNC = mlops.linear_stats_deserialize,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE mlops.linear_stats_merge(bytea) IS
    'merges linear_stats values (e.g. one per shard) into the linear_stats value of all their rows';

GRANT EXECUTE ON FUNCTION mlops.linear_stats_merge_accum(internal, bytea),
                          mlops.linear_stats_merge(bytea) TO mlops_trainer;

-- Installs a model version published by another server under the number it has
-- there. Idempotent for the same artifact; refuses a number this registry
-- holds with another artifact, or one it has already passed (a version that
-- was deleted or skipped here: numbers are never reused). Aliases are not
-- touched: shards are addressed by version number (predict_version). Features
-- are refused as train() refuses them: NULL names 22004, a name given twice
-- 42701 (scoring reads each input by its name).
CREATE FUNCTION mlops._install_version(
        model text, version int, algorithm text, task text, features text[], target text,
        classes float8[], hyperparams jsonb, metrics jsonb, spec jsonb, profile jsonb, source text,
        train_rows bigint, test_rows bigint, skipped_rows bigint, data_fingerprint text,
        artifact bytea, artifact_format text, artifact_sha256 text) RETURNS int
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
    SET search_path = pg_catalog, mlops, pg_temp
AS $$
DECLARE
    mid bigint;
    last int;
    held text;
    twice text;
BEGIN
    PERFORM mlops._require(model, 'model');
    PERFORM mlops._require(version, 'version');
    IF version < 1 THEN
        RAISE EXCEPTION 'version must be positive, not %', version USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF array_position(features, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'features must not contain NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT f INTO twice FROM unnest(features) WITH ORDINALITY u(f, i) GROUP BY f HAVING count(*) > 1
     ORDER BY min(i) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'feature "%" is given more than once', twice USING ERRCODE = 'duplicate_column';
    END IF;
    IF encode(sha256(artifact), 'hex') IS DISTINCT FROM artifact_sha256 THEN
        RAISE EXCEPTION 'the artifact of version % of model "%" does not match its sha256', version, model
            USING ERRCODE = 'data_corrupted',
                  DETAIL = 'The artifact was altered on its way from the publishing server.';
    END IF;
    PERFORM mlops._check_model_name(model);
    PERFORM mlops._lock_registry();
    INSERT INTO mlops.model (name, created_by) VALUES (model, mlops.invoker()) ON CONFLICT (name) DO NOTHING;
    SELECT m.id, m.last_version INTO STRICT mid, last FROM mlops.model m
     WHERE m.name = _install_version.model FOR UPDATE;
    SELECT v.artifact_sha256 INTO held FROM mlops.model_version v
     WHERE v.model_id = mid AND v.version = _install_version.version;
    IF FOUND THEN
        IF held = artifact_sha256 THEN
            RETURN version;
        END IF;
        RAISE EXCEPTION 'version % of model "%" already exists here with another artifact', version, model
            USING ERRCODE = 'duplicate_object',
                  DETAIL = pg_catalog.format('Its artifact has sha256 %s, the published one %s.', held, artifact_sha256),
                  HINT = 'This server registered its own versions of the model; publish under another model name.';
    END IF;
    IF version <= last THEN
        RAISE EXCEPTION 'version % of model "%" cannot be installed here', version, model
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = pg_catalog.format('This registry has already numbered versions up to %s and never reuses a number.', last),
                  HINT = 'Publish the versions of a model in increasing order.';
    END IF;
    INSERT INTO mlops.model_version (model_id, version, algorithm, task, features, target, classes,
                                     hyperparams, metrics, spec, profile, source, train_rows, test_rows,
                                     skipped_rows, data_fingerprint, artifact, artifact_format, created_by)
        VALUES (mid, version, algorithm, task, features, target, classes,
                coalesce(hyperparams, '{}'), coalesce(metrics, '{}'), coalesce(spec, '{}'), profile, source,
                train_rows, test_rows, skipped_rows, data_fingerprint, artifact, artifact_format,
                mlops.invoker());
    UPDATE mlops.model m SET last_version = _install_version.version WHERE m.id = mid;
    RETURN version;
END
$$;
COMMENT ON FUNCTION mlops._install_version(text, int, text, text, text[], text, float8[], jsonb, jsonb, jsonb,
                                           jsonb, text, bigint, bigint, bigint, text, bytea, text, text) IS
    'internal: installs a version published by another server under its number (idempotent; never reuses a number)';

-- The statement that installs a version on another server: a call of
-- _install_version with every column as a literal. SECURITY DEFINER so that
-- publish_model reads the registry while it connects with the caller's own
-- user mapping. extra_float_digits is pinned so that the classes travel
-- exact, bytea_output so that the statement is the same for every caller
-- (escape would spell a binary artifact up to twice as long as hex).
CREATE FUNCTION mlops._install_statement(model_id bigint, version int) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE SECURITY DEFINER
    SET search_path = pg_catalog, mlops, pg_temp
    SET extra_float_digits = 1
    SET bytea_output = hex
BEGIN ATOMIC
    SELECT pg_catalog.format(
               'SELECT mlops._install_version(%L, %s, %L, %L, %L::text[], %L, %L::float8[], %L::jsonb, '
               '%L::jsonb, %L::jsonb, %L::jsonb, %L, %L::bigint, %L::bigint, %L::bigint, %L, %L::bytea, %L, %L)',
               m.name, v.version, v.algorithm, v.task, v.features, v.target, v.classes, v.hyperparams,
               v.metrics, v.spec, v.profile, v.source, v.train_rows, v.test_rows, v.skipped_rows,
               v.data_fingerprint, v.artifact, v.artifact_format, v.artifact_sha256)
      FROM mlops.model_version v JOIN mlops.model m ON m.id = v.model_id
     WHERE v.model_id = _install_statement.model_id AND v.version = _install_statement.version;
END;
COMMENT ON FUNCTION mlops._install_statement(bigint, int) IS
    'internal: the SQL that installs a model version on another server (publish_model)';

CREATE FUNCTION mlops._raise_remote_error(server name, sqlstate text, message text, detail text, hint text,
                                          context text) RETURNS void
    AS 'MODULE_PATHNAME', 'raise_remote_error'
    LANGUAGE C VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION mlops._raise_remote_error(name, text, text, text, text, text) IS
    'internal: raises an error a foreign server answered (its SQLSTATE, message, detail, hint, context), naming the server';

-- Not SECURITY DEFINER: dblink connects with the caller's user mapping for the
-- server, so the caller needs USAGE on it and a role allowed to install there.
-- The server's name and the statement are passed to dblink's functions as
-- text, the type they take exactly: given as name, a dblink_connect(name,
-- text) that anyone who may create in dblink's schema (public, often) made
-- there would match better, and run as the caller. The statement is sent
-- asynchronously and its answer awaited in pg_sleep, which a cancel or
-- statement_timeout interrupts: dblink() waits for the shard without
-- noticing either (a shard whose registry a transaction holds kept the
-- caller waiting, then installed after the caller had been told of the
-- cancel). On any error the shard's statement is cancelled too, and the
-- connection closed. An error of the shard's (or of connecting to it) is
-- raised again with its SQLSTATE and a context line naming the server:
-- dblink's own names only the connection, the same for every shard.
CREATE FUNCTION mlops.publish_model(model text, server name) RETURNS int
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ref record;
    dblink_schema name;
    installed int;
    done boolean;
    conn text := 'mlops_publish_model';
    state text;
    msg text;
    detail text;
    hint text;
    ctx text;
    remote int;
BEGIN
    PERFORM mlops._require(server, 'server');
    ref := mlops.resolve_model(model);
    SELECT n.nspname INTO dblink_schema
      FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'dblink';
    IF NOT FOUND THEN
        RAISE EXCEPTION 'publish_model needs the dblink extension'
            USING ERRCODE = 'undefined_function',
                  HINT = 'Run CREATE EXTENSION dblink (a contrib module shipped with PostgreSQL).';
    END IF;
    PERFORM FROM pg_foreign_server s WHERE s.srvname = server;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'server "%" does not exist', server
            USING ERRCODE = 'undefined_object',
                  HINT = 'Create it with CREATE SERVER ... FOREIGN DATA WRAPPER postgres_fdw and a user mapping.';
    END IF;
    -- one left open by a session that ended a call abnormally is closed first
    EXECUTE format('SELECT %I.dblink_disconnect($1) FROM pg_catalog.unnest(%I.dblink_get_connections()) c '
                   'WHERE c = $1', dblink_schema, dblink_schema) USING conn;
    BEGIN
        EXECUTE format('SELECT %I.dblink_connect($1, $2)', dblink_schema) USING conn, server::text;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL,
                                hint = PG_EXCEPTION_HINT;
        PERFORM mlops._raise_remote_error(server, state, msg, detail, hint, NULL::text);
    END;
    BEGIN
        EXECUTE format('SELECT %I.dblink_send_query($1, $2) = 1', dblink_schema)
           INTO STRICT done USING conn, mlops._install_statement(ref.model_id, ref.version);
        IF NOT done THEN
            RAISE EXCEPTION 'could not send version % of model "%" to server "%"', ref.version, ref.model, server
                USING ERRCODE = 'connection_failure';
        END IF;
        LOOP
            EXECUTE format('SELECT %I.dblink_is_busy($1) = 0', dblink_schema) INTO STRICT done USING conn;
            EXIT WHEN done;
            PERFORM pg_sleep(0.001);
        END LOOP;
        EXECUTE format('SELECT v FROM %I.dblink_get_result($1) AS t(v int)', dblink_schema)
           INTO STRICT installed USING conn;
    EXCEPTION WHEN OTHERS OR query_canceled THEN
        GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL,
                                hint = PG_EXCEPTION_HINT, ctx = PG_EXCEPTION_CONTEXT;
        EXECUTE format('SELECT %I.dblink_cancel_query($1), %I.dblink_disconnect($1)', dblink_schema, dblink_schema)
          USING conn;
        -- the shard's answer, its own context lines above dblink's (an error
        -- whose dblink line is in another language than English, under
        -- another lc_messages, is passed on as it came)
        remote := strpos(ctx, format('while executing query on dblink connection named "%s"', conn));
        IF remote > 0 THEN
            ctx := nullif(rtrim(left(ctx, remote - 1), E'\n'), '');
            PERFORM mlops._raise_remote_error(server, state, msg, detail, hint, ctx);
        END IF;
        RAISE;
    END;
    EXECUTE format('SELECT %I.dblink_disconnect($1)', dblink_schema) USING conn;
    RETURN installed;
END
$$;
COMMENT ON FUNCTION mlops.publish_model(text, name) IS
    'copies the version a model reference means to the registry of a foreign server under the same number; returns it';

GRANT EXECUTE ON FUNCTION mlops._install_version(text, int, text, text, text[], text, float8[], jsonb, jsonb,
                                                 jsonb, jsonb, text, bigint, bigint, bigint, text, bytea,
                                                 text, text),
                          mlops._install_statement(bigint, int),
                          mlops._raise_remote_error(name, text, text, text, text, text),
                          mlops.publish_model(text, name) TO mlops_admin;
