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
-- only the test rows of the split (test_fraction, seed) that train() made;
-- target: the target column of versions imported without one.
CREATE FUNCTION mlops._evaluate_versions(model text, versions int[], source text,
                                         test_fraction float8, seed int, target text DEFAULT NULL) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'evaluate_versions'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION mlops._evaluate_versions(text, int[], text, float8, int, text) IS
    'internal: {"rows": n, "metrics": [...]} of versions of a model scored on the same rows (a source, or its test split)';

-- The cuts train() stored in a classification version's spec (one per class,
-- in the order of its classes: a row of the class is a test row iff its split
-- key is below it), when they are those of the split (test_fraction, seed);
-- else NULL (a version stored before versions kept them, or another split).
-- SECURITY DEFINER because mlops_trainer cannot read the registry tables.
-- The split is compared as jsonb, so that no stored value fails a cast;
-- extra_float_digits is pinned so that to_jsonb spells test_fraction exactly,
-- as train() stored it.
CREATE FUNCTION mlops._split_cuts(model_id bigint, version int, test_fraction float8, seed int)
    RETURNS text[]
    LANGUAGE sql STABLE SECURITY DEFINER PARALLEL SAFE
    SET search_path = pg_catalog, mlops, pg_temp
    SET extra_float_digits = 1
AS $$
SELECT ARRAY(SELECT jsonb_array_elements_text(v.spec->'split'->'cuts'))
  FROM mlops.model_version v
 WHERE v.model_id = _split_cuts.model_id AND v.version = _split_cuts.version
   AND jsonb_typeof(v.spec->'split'->'cuts') = 'array'
   AND v.spec->'split'->'test_fraction' = to_jsonb(_split_cuts.test_fraction)
   AND v.spec->'split'->'seed' = to_jsonb(_split_cuts.seed)
$$;
COMMENT ON FUNCTION mlops._split_cuts(bigint, int, float8, int) IS
    'internal: the per-class cuts of the split (test_fraction, seed) stored with a classification version, or NULL';

GRANT EXECUTE ON FUNCTION mlops.evaluate(text, text),
    mlops._evaluate_versions(text, int[], text, float8, int, text),
    mlops._split_cuts(bigint, int, float8, int) TO mlops_trainer;
