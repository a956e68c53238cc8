-- ---------------------------------------------------------------------------
-- Model registry: models, immutable versions, aliases and the append-only
-- history of alias moves. Written only through mlops's functions; read through
-- the views.
-- ---------------------------------------------------------------------------

-- Model names may not contain "@" or ":", which separate aliases and versions
-- in a model reference; alias names are simple lower-case identifiers.
CREATE DOMAIN mlops.model_name AS text
    CHECK (VALUE ~ '^[A-Za-z_][A-Za-z0-9_.-]{0,127}$');
COMMENT ON DOMAIN mlops.model_name IS 'a model name: a letter or "_", then letters, digits, "_", "." or "-" (at most 128)';
CREATE DOMAIN mlops.alias_name AS text
    CHECK (VALUE ~ '^[a-z_][a-z0-9_-]{0,62}$');
COMMENT ON DOMAIN mlops.alias_name IS 'an alias name: a lower-case letter or "_", then lower-case letters, digits, "_" or "-" (at most 63)';

-- Raises 42602 (invalid_name) unless model is a valid model name (the domain
-- mlops.model_name), for the functions that create a model. STRICT: a NULL
-- name is not a name to check (the caller's _require or NOT NULL refuses it).
-- PARALLEL UNSAFE: its EXCEPTION block opens a subtransaction.
CREATE FUNCTION mlops._check_model_name(model text) RETURNS text
    LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL UNSAFE
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM model::mlops.model_name;
    RETURN model;
EXCEPTION WHEN check_violation THEN
    RAISE EXCEPTION 'invalid model name "%"', model
        USING ERRCODE = 'invalid_name',
              DETAIL = 'A model name starts with a letter or "_" and continues with letters, digits, "_", "." or "-" (at most 128 characters).';
END
$$;
COMMENT ON FUNCTION mlops._check_model_name(text) IS
    'internal: returns model, or raises 42602 unless it is a valid model name';

CREATE TABLE mlops.model (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name         mlops.model_name NOT NULL UNIQUE,
    description  text,
    last_version int NOT NULL DEFAULT 0,  -- versions are numbered from it, never reused
    -- the clock time, not the transaction's start: a pg_cron job knows its
    -- model by name and creation time, and a model dropped with mlops and made
    -- again in one transaction is another
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    created_by   name NOT NULL
);
COMMENT ON TABLE mlops.model IS 'registered models';

-- The digest of a jsonb document: sha256 of its text in UTF-8, whatever the
-- database's encoding, so that the same document has the same digest in every
-- database; in a SQL_ASCII database, whose text has no known encoding, of its
-- bytes as stored. IMMUTABLE although convert_to() is only STABLE: what it
-- depends on, the database's encoding, never changes. For generated columns.
CREATE FUNCTION mlops._jsonb_sha256(doc jsonb) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN encode(sha256(convert_to(doc::text, CASE getdatabaseencoding() WHEN 'SQL_ASCII' THEN 'SQL_ASCII'
                                                                         ELSE 'UTF8' END)), 'hex');
COMMENT ON FUNCTION mlops._jsonb_sha256(jsonb) IS
    'internal: sha256 (hex) of the UTF-8 text of a jsonb document (in a SQL_ASCII database, of its bytes as stored)';

CREATE TABLE mlops.model_version (
    model_id          bigint NOT NULL REFERENCES mlops.model,
    version           int NOT NULL CHECK (version > 0),
    algorithm         text NOT NULL CHECK (algorithm IN ('linear', 'ridge', 'logistic', 'xgboost')),
    task              text NOT NULL CHECK (task IN ('regression', 'classification')),
    features          text[] NOT NULL CHECK (cardinality(features) > 0),
    target            text,
    classes           float8[],          -- class labels in order (classification)
    hyperparams       jsonb NOT NULL DEFAULT '{}',
    metrics           jsonb NOT NULL DEFAULT '{}',
    spec              jsonb NOT NULL DEFAULT '{}', -- how to rebuild the feature vector: encodings, imputation
    profile           jsonb,             -- frozen reference profile of every feature (drift)
    profile_sha256    text GENERATED ALWAYS AS (mlops._jsonb_sha256(profile)) STORED,
    run_id            bigint REFERENCES mlops.run,
    source            text,
    train_rows        bigint,
    test_rows         bigint,
    skipped_rows      bigint,
    data_fingerprint  text,
    artifact          bytea NOT NULL,
    artifact_format   text NOT NULL CHECK (artifact_format IN ('xgboost-ubj', 'linear-json')),
    artifact_sha256   text NOT NULL GENERATED ALWAYS AS (encode(sha256(artifact), 'hex')) STORED,
    -- the clock time of the registration, not its transaction's start, as the
    -- times of alerts and monitor runs are: a drift alert that made a
    -- retraining is older than the version it made
    created_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    created_by        name NOT NULL,
    created_xid       xid8 NOT NULL DEFAULT pg_current_xact_id(),
    PRIMARY KEY (model_id, version)
);
CREATE INDEX ON mlops.model_version (run_id);
COMMENT ON TABLE mlops.model_version IS 'model versions: immutable once written';

CREATE TABLE mlops.alias (
    model_id  bigint NOT NULL,
    alias     mlops.alias_name NOT NULL,
    version   int NOT NULL,
    PRIMARY KEY (model_id, alias),
    FOREIGN KEY (model_id, version) REFERENCES mlops.model_version ON DELETE RESTRICT
);
COMMENT ON TABLE mlops.alias IS 'aliases: named pointers to model versions (a version cannot be deleted while aliased)';

CREATE TABLE mlops.deployment (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    model_id      bigint NOT NULL REFERENCES mlops.model,
    alias         mlops.alias_name NOT NULL,
    action        text NOT NULL CHECK (action IN ('set', 'delete', 'promote', 'rollback', 'refused')),
    from_version  int,
    to_version    int,
    reason        text,
    gate          jsonb,
    at            timestamptz NOT NULL DEFAULT clock_timestamp(),
    by            name NOT NULL,
    xid           xid8 NOT NULL DEFAULT pg_current_xact_id()
);
CREATE INDEX ON mlops.deployment (model_id, alias, id);
COMMENT ON TABLE mlops.deployment IS 'append-only history of alias moves, refused promotions included';

-- Refuses a change to a table that is written once and never changed.
CREATE FUNCTION mlops._refuse_change() RETURNS trigger
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION '% of table "%" is not allowed', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'object_not_in_prerequisite_state',
              DETAIL = TG_ARGV[0];
END
$$;
COMMENT ON FUNCTION mlops._refuse_change() IS 'internal trigger: refuses UPDATE/DELETE/TRUNCATE of write-once tables';

CREATE TRIGGER model_version_immutable BEFORE UPDATE ON mlops.model_version
    FOR EACH ROW EXECUTE FUNCTION mlops._refuse_change('Model versions are immutable once written.');
CREATE TRIGGER deployment_append_only BEFORE UPDATE OR DELETE ON mlops.deployment
    FOR EACH ROW EXECUTE FUNCTION mlops._refuse_change('The deployment history is append-only.');
CREATE TRIGGER deployment_no_truncate BEFORE TRUNCATE ON mlops.deployment
    FOR EACH STATEMENT EXECUTE FUNCTION mlops._refuse_change('The deployment history is append-only.');
-- Enabled ALWAYS so that they hold under session_replication_role = replica too.
ALTER TABLE mlops.model_version ENABLE ALWAYS TRIGGER model_version_immutable;
ALTER TABLE mlops.deployment ENABLE ALWAYS TRIGGER deployment_append_only;
ALTER TABLE mlops.deployment ENABLE ALWAYS TRIGGER deployment_no_truncate;

-- The alias a bare model name means: mlops.default_alias. In C, so that a
-- call loads the library, which checks a value set before it was loaded (a
-- placeholder, which holds any text): an invalid one is replaced by the
-- default, as the scoring functions in C take it, rather than resolved as it
-- is by the functions in PL/pgSQL.
CREATE FUNCTION mlops._default_alias() RETURNS text
    AS 'MODULE_PATHNAME', 'default_alias'
    LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION mlops._default_alias() IS 'internal: the value of mlops.default_alias (the library loaded, so that it is a checked one)';

-- The registry's tables, which its writers lock the audit log for and which a
-- subscription must not fill. STABLE: regclass constants, bound at creation.
CREATE FUNCTION mlops._registry_tables() RETURNS regclass[]
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN ARRAY['mlops.model'::regclass, 'mlops.model_version'::regclass,
                 'mlops.alias'::regclass, 'mlops.deployment'::regclass];
COMMENT ON FUNCTION mlops._registry_tables() IS 'internal: the tables of the model registry';

-- Refuses (55000) a change of the registry when one of its tables receives
-- its rows from a logical replication subscription: the ids and version
-- numbers written here would be the ones the publisher gives its next rows,
-- whose apply would then fail, stopping the subscription for every table, or
-- overwrite the local change. A registry writer that reads before it writes
-- (promote's gate) calls it first, so that the refusal is the error it shows.
CREATE FUNCTION mlops._refuse_replicated_registry() RETURNS void
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, mlops, pg_temp
AS $$
DECLARE
    replicated regclass;
    subscription name;
BEGIN
    SELECT r.srrelid, s.subname INTO replicated, subscription
      FROM pg_catalog.pg_subscription_rel r JOIN pg_catalog.pg_subscription s ON s.oid = r.srsubid
     WHERE r.srrelid = ANY (mlops._registry_tables())
     ORDER BY r.srrelid, s.subname LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'the model registry of this database is replicated from another one'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = pg_catalog.format('Table %s receives its rows through subscription "%s".',
                                             replicated, subscription),
                  HINT = 'Change the registry on the publisher.';
    END IF;
END
$$;
COMMENT ON FUNCTION mlops._refuse_replicated_registry() IS
    'internal: 55000 when a logical replication subscription fills a table of the registry';

-- Takes the audit log's lock (mlops.audit_chain, EXCLUSIVE, until the
-- transaction ends) when a registry table is audited, before a registry write
-- locks any row: the first audited write would take it anyway, and taking it
-- first gives every registry writer the same lock order (the audit log, then
-- the model, the version, the alias). Otherwise a move or training that locked
-- its model and then waited for the log would deadlock with a transaction that
-- holds the log (it wrote another model, or any audited table) and then turns
-- to that model.
-- Every registry writer passes here, so it is also where a write is refused
-- (55000) when a registry table receives its rows from a logical replication
-- subscription (_refuse_replicated_registry).
CREATE FUNCTION mlops._lock_registry() RETURNS void
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
    SET search_path = pg_catalog, mlops, pg_temp
AS $$
BEGIN
    IF EXISTS (SELECT FROM pg_catalog.pg_trigger t
                WHERE t.tgrelid = ANY (mlops._registry_tables()) AND t.tgname = 'mlops_audit') THEN
        LOCK TABLE mlops.audit_chain IN EXCLUSIVE MODE;
    END IF;
    PERFORM mlops._refuse_replicated_registry();
END
$$;
COMMENT ON FUNCTION mlops._lock_registry() IS
    'internal: takes the audit log''s lock before a registry write when the registry is audited (one lock order for all its writers); 55000 when a subscription replicates the registry';

-- Moves (or, with version NULL, removes) an alias and appends the move to the
-- deployment history, in the caller's transaction. Returns the previous version.
CREATE FUNCTION mlops._move_alias(model_id bigint, alias text, version int, action text,
                                  reason text DEFAULT NULL, gate jsonb DEFAULT NULL) RETURNS int
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
    SET search_path = pg_catalog, mlops, pg_temp
AS $$
DECLARE
    previous int;
BEGIN
    SELECT a.version INTO previous FROM mlops.alias a
     WHERE a.model_id = _move_alias.model_id AND a.alias = _move_alias.alias FOR UPDATE;
    IF version IS NULL THEN
        DELETE FROM mlops.alias a WHERE a.model_id = _move_alias.model_id AND a.alias = _move_alias.alias;
    ELSE
        INSERT INTO mlops.alias VALUES (model_id, alias, version)
            ON CONFLICT ON CONSTRAINT alias_pkey DO UPDATE SET version = excluded.version;
    END IF;
    INSERT INTO mlops.deployment (model_id, alias, action, from_version, to_version, reason, gate, by)
        VALUES (model_id, alias, action, previous, version, reason, gate, mlops.invoker());
    RETURN previous;
END
$$;
COMMENT ON FUNCTION mlops._move_alias(bigint, text, int, text, text, jsonb) IS
    'internal: moves or removes an alias and records the move in the deployment history';

-- Registers a new version of a model (creating the model on its first version,
-- which gets the default alias) and returns its number. Called by train() and
-- import_model(). Version numbers are never reused, even after delete_version.
-- The version's run must be one the caller may write (_lock_run): a version
-- cannot claim another role's run as its lineage. A spec giving an input a
-- kind scoring does not know (numeric and categorical; none is numeric) is
-- refused with the error scoring gives such a version (XX001): a trainer may
-- call this directly, and the version would fail at every predict.
CREATE FUNCTION mlops._register_version(
        model text, algorithm text, task text, features text[], target text, classes float8[],
        hyperparams jsonb, metrics jsonb, spec jsonb, profile jsonb, run_id bigint, source text,
        train_rows bigint, test_rows bigint, skipped_rows bigint, data_fingerprint text,
        artifact bytea, artifact_format text) RETURNS int
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
    SET search_path = pg_catalog, mlops, pg_temp
AS $$
DECLARE
    mid bigint;
    new_version int;
    odd jsonb;
BEGIN
    PERFORM mlops._check_model_name(model);
    -- scoring, explaining and reporting read each feature's name: a NULL one crashed the backend
    IF EXISTS (SELECT FROM unnest(features) f WHERE f IS NULL) THEN
        RAISE EXCEPTION 'a feature of the new version of model "%" is NULL', model
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT e INTO odd
      FROM jsonb_array_elements(CASE jsonb_typeof(spec->'inputs') WHEN 'array' THEN spec->'inputs' END) e
     WHERE coalesce(e->>'kind', 'numeric') NOT IN ('numeric', 'categorical')
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'input "%" of the new version of model "%" has unknown kind "%"', odd->>'name', model, odd->>'kind'
            USING ERRCODE = 'data_corrupted',
                  DETAIL = 'An input of a version''s spec is numeric or categorical.';
    END IF;
    PERFORM mlops._lock_registry();
    IF run_id IS NOT NULL THEN
        PERFORM mlops._lock_run(run_id, false);
    END IF;
    INSERT INTO mlops.model (name, created_by) VALUES (model, mlops.invoker()) ON CONFLICT (name) DO NOTHING;
    UPDATE mlops.model m SET last_version = m.last_version + 1 WHERE m.name = _register_version.model
        RETURNING m.id, m.last_version INTO STRICT mid, new_version;
    INSERT INTO mlops.model_version (model_id, version, algorithm, task, features, target, classes,
                                     hyperparams, metrics, spec, profile, run_id, source, train_rows,
                                     test_rows, skipped_rows, data_fingerprint, artifact, artifact_format,
                                     created_by)
        VALUES (mid, new_version, algorithm, task, features, target, classes,
                coalesce(hyperparams, '{}'), coalesce(metrics, '{}'), coalesce(spec, '{}'), profile, run_id,
                source, train_rows, test_rows, skipped_rows, data_fingerprint, artifact, artifact_format,
                mlops.invoker());
    IF new_version = 1 THEN
        PERFORM mlops._move_alias(mid, mlops._default_alias(), 1, 'set',
                                  'first version of a new model');
    END IF;
    RETURN new_version;
END
$$;
COMMENT ON FUNCTION mlops._register_version(text, text, text, text[], text, float8[], jsonb, jsonb, jsonb,
                                            jsonb, bigint, text, bigint, bigint, bigint, text, bytea, text) IS
    'internal: registers a new model version (the first one of a model gets the default alias) and returns its number';

-- Resolves a model reference: 'name' (the version behind mlops.default_alias),
-- 'name@alias' or 'name:version', to the model and version it means now.
CREATE FUNCTION mlops.resolve_model(ref text, OUT model text, OUT version int, OUT model_id bigint)
    LANGUAGE plpgsql STABLE SECURITY DEFINER PARALLEL SAFE
    SET search_path = pg_catalog, mlops, pg_temp
AS $$
DECLARE
    parts text[];
    wanted_alias text;
BEGIN
    PERFORM mlops._require(ref, 'model');
    parts := regexp_match(ref, '^([^@:]+)(?:@([^@:]+)|:([0-9]+))?$');
    IF parts IS NULL THEN
        RAISE EXCEPTION 'invalid model reference "%"', ref
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'A model reference is "name", "name@alias" or "name:version".';
    END IF;
    SELECT m.id, m.name INTO model_id, model FROM mlops.model m WHERE m.name = parts[1];
    IF NOT FOUND THEN
        RAISE EXCEPTION 'model "%" does not exist', parts[1] USING ERRCODE = 'undefined_object';
    END IF;
    IF parts[3] IS NOT NULL THEN
        -- a number beyond int names no version either (not 22003 from the cast)
        IF (CASE WHEN length(ltrim(parts[3], '0')) > 10 THEN true ELSE parts[3]::numeric > 2147483647 END) THEN
            RAISE EXCEPTION 'version % of model "%" does not exist', ltrim(parts[3], '0'), model
                USING ERRCODE = 'undefined_object';
        END IF;
        version := parts[3]::int;
        PERFORM FROM mlops.model_version v WHERE v.model_id = resolve_model.model_id AND v.version = resolve_model.version;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'version % of model "%" does not exist', version, model USING ERRCODE = 'undefined_object';
        END IF;
    ELSE
        wanted_alias := coalesce(parts[2], mlops._default_alias());
        SELECT a.version INTO version FROM mlops.alias a
         WHERE a.model_id = resolve_model.model_id AND a.alias = wanted_alias;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'model "%" has no alias "%"', model, wanted_alias USING ERRCODE = 'undefined_object';
        END IF;
        -- the alias's foreign key keeps its version, but not where it does
        -- not fire (session_replication_role = replica)
        PERFORM FROM mlops.model_version v WHERE v.model_id = resolve_model.model_id AND v.version = resolve_model.version;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'version % of model "%" does not exist', version, model
                USING ERRCODE = 'undefined_object',
                      DETAIL = pg_catalog.format('Alias "%s" points at it.', wanted_alias),
                      HINT = 'Move the alias with mlops.set_alias() or remove it with mlops.delete_alias().';
        END IF;
    END IF;
END
$$;
COMMENT ON FUNCTION mlops.resolve_model(text) IS
    'the model and version a reference (''name'', ''name@alias'' or ''name:version'') means now; 42704 when it names nothing';
GRANT EXECUTE ON FUNCTION mlops.resolve_model(text) TO mlops_scorer;

CREATE VIEW mlops.models AS
SELECT m.name, m.description,
       (SELECT max(v.version) FROM mlops.model_version v WHERE v.model_id = m.id) AS latest_version,
       coalesce((SELECT jsonb_object_agg(a.alias, a.version ORDER BY a.alias)
                   FROM mlops.alias a WHERE a.model_id = m.id), '{}') AS aliases,
       m.created_at, m.created_by
  FROM mlops.model m;
COMMENT ON VIEW mlops.models IS 'models with their latest version and their aliases ({"alias": version})';

CREATE VIEW mlops.model_versions AS
SELECT m.name, v.version, v.algorithm, v.task, v.features, v.target, v.classes, v.hyperparams, v.metrics,
       v.run_id, v.source, v.train_rows, v.test_rows, v.skipped_rows, v.data_fingerprint,
       octet_length(v.artifact) AS artifact_size, v.artifact_sha256, v.artifact_format, v.profile_sha256,
       coalesce((SELECT array_agg(a.alias ORDER BY a.alias) FROM mlops.alias a
                  WHERE a.model_id = v.model_id AND a.version = v.version), '{}') AS aliases,
       v.created_at, v.created_by, v.created_xid
  FROM mlops.model_version v JOIN mlops.model m ON m.id = v.model_id;
COMMENT ON VIEW mlops.model_versions IS 'every model version with its lineage (run, source, fingerprint, row counts) and aliases';

CREATE VIEW mlops.deployments AS
SELECT d.id, m.name AS model, d.alias, d.action, d.from_version, d.to_version, d.reason, d.gate,
       d.at, d.by, d.xid
  FROM mlops.deployment d JOIN mlops.model m ON m.id = d.model_id;
COMMENT ON VIEW mlops.deployments IS 'append-only history of alias moves: who, when, from, to, why, and the gate outcome';

CREATE VIEW mlops.lineage AS
SELECT m.name AS model, a.alias, v.version, v.algorithm, v.task, v.source, v.target, v.features,
       v.hyperparams, r.params AS run_params, v.data_fingerprint, v.train_rows, v.test_rows, v.skipped_rows,
       v.metrics, v.artifact_sha256, v.run_id, r.experiment, r.started_at AS trained_at, r.cron_job_id,
       v.created_by, v.created_xid
  FROM mlops.alias a
  JOIN mlops.model_version v ON v.model_id = a.model_id AND v.version = a.version
  JOIN mlops.model m ON m.id = a.model_id
  LEFT JOIN mlops.runs r ON r.run_id = v.run_id;
COMMENT ON VIEW mlops.lineage IS
    'for every alias, the version behind it and what produced it: source, target, features, algorithm, hyperparams, the run''s params (split, seed), data fingerprint, row counts, who and in which transaction';

GRANT SELECT ON mlops.models, mlops.model_versions, mlops.deployments, mlops.lineage TO mlops_trainer;
GRANT EXECUTE ON FUNCTION mlops._register_version(text, text, text, text[], text, float8[], jsonb, jsonb,
                                                  jsonb, jsonb, bigint, text, bigint, bigint, bigint, text,
                                                  bytea, text) TO mlops_trainer;
