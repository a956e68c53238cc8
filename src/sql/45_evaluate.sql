-- ---------------------------------------------------------------------------
-- Evaluation: the metrics of a model version on any table or query holding its
-- target and features, scored as predict scores (src/evaluate.c). Sources are
-- read with the caller's privileges (not SECURITY DEFINER).
-- ---------------------------------------------------------------------------

-- STABLE, as every function resolving a model reference: the statement's
-- snapshot decides the version and the rows (its queries run read-only).
-- PARALLEL UNSAFE, as drift(): the source is any query, which may read
-- temporary tables, take sequence values or open subtransactions (a PL/pgSQL
-- EXCEPTION block), and parallel mode refuses the last two in the leader too:
-- RESTRICTED would let a parallel scan elsewhere in the statement break it.
CREATE FUNCTION mlops.evaluate(model text, source text) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'evaluate'
    LANGUAGE C STABLE PARALLEL UNSAFE;
COMMENT ON FUNCTION mlops.evaluate(text, text) IS
    'the metrics of the version a model reference means on the rows of a table or query holding its target and features';

-- The versions of one model scored on the same rows: every row of source, or
-- only the test rows of the split (test_fraction, seed) that train() made.
CREATE FUNCTION mlops._evaluate_versions(model text, versions int[], source text,
                                         test_fraction float8, seed int) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'evaluate_versions'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION mlops._evaluate_versions(text, int[], text, float8, int) IS
    'internal: {"rows": n, "metrics": [...]} of versions of a model scored on the same rows (a source, or its test split)';

GRANT EXECUTE ON FUNCTION mlops.evaluate(text, text),
    mlops._evaluate_versions(text, int[], text, float8, int) TO mlops_trainer;
