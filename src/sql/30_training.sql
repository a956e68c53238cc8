-- ---------------------------------------------------------------------------
-- Training: mlops.train() (linear, ridge, logistic), and the mergeable
-- least-squares aggregate it is built on, usable on its own over a table, in
-- parallel workers or per shard.
-- ---------------------------------------------------------------------------

-- Not SECURITY DEFINER: the source is read with the caller's privileges; the
-- run and the version are written through the SECURITY DEFINER functions
-- start_run/log_*/end_run and _register_version.
CREATE FUNCTION mlops.train(model text, source text, target text,
                            algorithm text DEFAULT 'xgboost',
                            task text DEFAULT NULL,
                            features text[] DEFAULT NULL,
                            hyperparams jsonb DEFAULT '{}',
                            test_fraction float8 DEFAULT 0.2,
                            seed int DEFAULT 42,
                            experiment text DEFAULT NULL)
    RETURNS TABLE(model text, version int, run_id bigint, metrics jsonb)
    AS 'MODULE_PATHNAME', 'train'
    LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE;
COMMENT ON FUNCTION mlops.train(text, text, text, text, text, text[], jsonb, float8, int, text) IS
    'trains a model on a table, view or query, logs a run, registers a new version; returns its number, run and test metrics';
GRANT EXECUTE ON FUNCTION mlops.train(text, text, text, text, text, text[], jsonb, float8, int, text) TO mlops_trainer;

-- The aggregate's support functions. The state is internal: a block of
-- buffered rows and the centred cross products of (x, y).
CREATE FUNCTION mlops.linear_stats_accum(internal, y float8, x float8[]) RETURNS internal
    AS 'MODULE_PATHNAME', 'linear_stats_accum'
    LANGUAGE C IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION mlops.linear_stats_accum(internal, float8, float8[]) IS
    'internal: linear_stats transition (rows with a NULL or NaN are skipped)';

CREATE FUNCTION mlops.linear_stats_combine(internal, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'linear_stats_combine'
    LANGUAGE C IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION mlops.linear_stats_combine(internal, internal) IS
    'internal: merges two linear_stats states (Chan''s formulas)';

CREATE FUNCTION mlops.linear_stats_serialize(internal) RETURNS bytea
    AS 'MODULE_PATHNAME', 'linear_stats_serialize'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION mlops.linear_stats_serialize(internal) IS
    'internal: a linear_stats state as bytea (also the aggregate''s final value)';

CREATE FUNCTION mlops.linear_stats_deserialize(bytea, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'linear_stats_deserialize'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION mlops.linear_stats_deserialize(bytea, internal) IS
    'internal: a linear_stats state from its bytea form';

CREATE AGGREGATE mlops.linear_stats(y float8, x float8[]) (
    SFUNC = mlops.linear_stats_accum,
    STYPE = internal,
    FINALFUNC = mlops.linear_stats_serialize,
    FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = mlops.linear_stats_combine,
    SERIALFUNC = mlops.linear_stats_serialize,
    DESERIALFUNC = mlops.linear_stats_deserialize,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE mlops.linear_stats(float8, float8[]) IS
    'least-squares sufficient statistics of (y, x) rows (count, means, centred cross products) as bytea, for linear_fit';

-- Not STRICT: a NULL alpha is 22004, not a NULL fit; NULL stats (linear_stats
-- of no rows, or of rows all skipped) give NULL, as do stats of no rows.
CREATE FUNCTION mlops.linear_fit(stats bytea, alpha float8 DEFAULT 0) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'linear_fit'
    LANGUAGE C IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION mlops.linear_fit(bytea, float8) IS
    'solves the least squares of linear_stats: OLS with statistics (alpha 0) or ridge (alpha > 0, intercept not penalised); NULL for NULL stats or those of no rows, 22004 for a NULL alpha';

GRANT EXECUTE ON FUNCTION mlops.linear_stats_accum(internal, float8, float8[]),
                          mlops.linear_stats_combine(internal, internal),
                          mlops.linear_stats_serialize(internal),
                          mlops.linear_stats_deserialize(bytea, internal),
                          mlops.linear_stats(float8, float8[]),
                          mlops.linear_fit(bytea, float8) TO mlops_trainer;
