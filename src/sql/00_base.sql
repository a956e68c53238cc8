-- mlops install script, assembled by the Makefile from src/sql/*.sql in name order.
-- ASCII only, comments included: PostgreSQL reads it in the database's
-- encoding, and a UTF-8 character is bytes that EUC_JP, EUC_KR, ... refuse.
\echo Use "CREATE EXTENSION mlops" to load this file. \quit

-- Everything lives in schema mlops, which belongs to the extension (DROP
-- EXTENSION removes it); the extension is not relocatable.
CREATE SCHEMA mlops;
COMMENT ON SCHEMA mlops IS 'in-database MLOps: experiments, training, model registry, scoring, drift, audit';

-- ---------------------------------------------------------------------------
-- Roles. They are cluster-wide, so an existing role is reused, never replaced:
-- one that a CREATE EXTENSION in another database creates at the same time
-- too (this CREATE ROLE waits for that transaction, then finds the name taken).
-- mlops_admin > mlops_trainer > mlops_scorer: each role holds the next one's
-- rights, and the grants of every function are in the file that defines it.
-- ---------------------------------------------------------------------------
DO $roles$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['mlops_scorer', 'mlops_trainer', 'mlops_admin'] LOOP
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = r) THEN
            BEGIN
                EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN', r);
            EXCEPTION WHEN unique_violation OR duplicate_object THEN
                NULL;
            END;
        END IF;
    END LOOP;
END
$roles$;
GRANT mlops_scorer TO mlops_trainer;
GRANT mlops_trainer TO mlops_admin;
GRANT USAGE ON SCHEMA mlops TO mlops_scorer;

-- Conventions of every file: functions that write are VOLATILE PARALLEL UNSAFE;
-- functions meant for users are not STRICT, so that a NULL argument is an error
-- naming it (22004) rather than a silent NULL result; SECURITY DEFINER functions
-- pin search_path; every function has a COMMENT and explicit GRANTs.
-- Functions that keep the caller's search_path, so that the sources they read
-- are named as the caller names them (promote, retrain, run_monitor and their
-- callers), name nothing in their bodies that a schema on that path could
-- take: every function is qualified (pg_catalog.format), and every operator
-- gets operands of built-in types that it takes exactly (a domain is cast to
-- its base type, 0::float8 rather than 0), since PostgreSQL prefers a function
-- or operator of any schema on the path that matches the argument types
-- better than pg_catalog's variadic, polymorphic or cross-type one.
-- Otherwise anyone who may create in such a schema (public, often) runs code
-- as whoever calls them: a trainer's as an admin who promotes.

-- ---------------------------------------------------------------------------
-- Helpers shared by every concept.
-- ---------------------------------------------------------------------------
CREATE FUNCTION mlops.build_info() RETURNS jsonb
    AS 'MODULE_PATHNAME', 'build_info'
    LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION mlops.build_info() IS
    'versions of XGBoost and OpenBLAS this module was linked with, and the training thread count';
GRANT EXECUTE ON FUNCTION mlops.build_info() TO mlops_scorer;

CREATE FUNCTION mlops.invoker() RETURNS name
    AS 'MODULE_PATHNAME', 'invoker'
    LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION mlops.invoker() IS
    'the role that called into mlops (current_user outside every SECURITY DEFINER function), recorded as "who"';
GRANT EXECUTE ON FUNCTION mlops.invoker() TO mlops_scorer;

-- The form of a source (a relation name, or one SELECT/WITH/VALUES/TABLE query
-- that locks nothing), checked without reading or resolving it, for what
-- stores a source to read later. STABLE: the parse depends on
-- standard_conforming_strings.
CREATE FUNCTION mlops._check_source(source text) RETURNS void
    AS 'MODULE_PATHNAME', 'check_source'
    LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION mlops._check_source(text) IS
    'internal: raises what reading the source would raise for its form (empty, not a name nor a query, two statements, a syntax error, a locking query), reading nothing';

-- What mlops stores as jsonb from a value (metrics, logged features) must not
-- depend on the writer's extra_float_digits, DateStyle, IntervalStyle,
-- TimeZone, bytea_output or lc_monetary, nor, for reg* values, on its
-- search_path and quote_all_identifiers (src/canonical_output.c). STABLE like
-- to_jsonb (a type's output function may read the catalog); it changes
-- settings only for the length of the conversion, at a GUC nest level, which
-- parallel workers allow.
CREATE FUNCTION mlops._to_jsonb_canonical(value anyelement) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'to_jsonb_canonical'
    LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION mlops._to_jsonb_canonical(anyelement) IS
    'internal: to_jsonb(value) as it is under the default output settings with TimeZone UTC (floats exact), whatever the session''s';
GRANT EXECUTE ON FUNCTION mlops._to_jsonb_canonical(anyelement) TO mlops_scorer;

-- Raises 22004 (null_value_not_allowed) when a required argument is NULL.
CREATE FUNCTION mlops._require(value anyelement, argument text) RETURNS anyelement
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF value IS NULL THEN
        RAISE EXCEPTION '% must not be null', argument
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    RETURN value;
END
$$;
COMMENT ON FUNCTION mlops._require(anyelement, text) IS
    'internal: returns value, or raises 22004 naming the argument when it is NULL';

-- Raises 22023 (invalid_parameter_value) unless key is a usable key name.
CREATE FUNCTION mlops._check_key(key text, what text) RETURNS text
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM mlops._require(key, what);
    IF key = '' OR length(key) > 250 THEN
        RAISE EXCEPTION '% must be between 1 and 250 characters long', what
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN key;
END
$$;
COMMENT ON FUNCTION mlops._check_key(text, text) IS
    'internal: returns key, or raises an error unless it is a non-empty name of at most 250 characters';

-- Whether the calling role may act for role: it is that role or a member of
-- it, or a member of mlops_admin. A role dropped since (an object's creator)
-- leaves only mlops_admin. STABLE: it reads the catalog and mlops.invoker().
CREATE FUNCTION mlops._acts_for(role name) RETURNS boolean
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    caller name := mlops.invoker();
BEGIN
    -- pg_has_role raises an error for a role that does not exist
    RETURN caller = role OR pg_has_role(caller, 'mlops_admin', 'USAGE')
        OR CASE WHEN EXISTS (SELECT FROM pg_roles WHERE rolname = role)
                THEN pg_has_role(caller, role, 'USAGE') ELSE false END;
END
$$;
COMMENT ON FUNCTION mlops._acts_for(name) IS
    'internal: whether the calling role is the role given, a member of it, or a member of mlops_admin';

-- Raises 42501 (insufficient_privilege) unless the calling role may change an
-- object that created_by created (_acts_for). The SECURITY DEFINER writers
-- call it, so that a trainer cannot end, log to, delete or drop what another
-- trainer made.
CREATE FUNCTION mlops._check_creator(created_by name, what text) RETURNS void
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT mlops._acts_for(created_by) THEN
        RAISE EXCEPTION 'permission denied for %', what
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = pg_catalog.format('It was created by role "%s".', created_by),
                  HINT = 'Only the role that created it, its members and members of mlops_admin may change it.';
    END IF;
END
$$;
COMMENT ON FUNCTION mlops._check_creator(name, text) IS
    'internal: raises 42501 unless the calling role is the creator given (or a member of it) or a member of mlops_admin';
