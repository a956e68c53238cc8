-- ---------------------------------------------------------------------------
-- Scoring: predict, predict_proba, predict_version, explain; import_model and
-- export_model. Models are resolved once per statement and kept compiled in a
-- per-backend cache (src/predict.c, src/model_cache.c).
-- ---------------------------------------------------------------------------

-- Everything scoring needs of one version, with the spec decomposed per input
-- (in the order of features) and a linear-json artifact decomposed into arrays.
-- SECURITY DEFINER because mlops_trainer cannot read the registry tables; the
-- scoring code calls it as the registry's owner, so that a scorer, who may not
-- export models, cannot call it for the artifact. row_xmin is the transaction
-- that wrote the version: the model cache forgets a version written by the
-- scoring backend's own transaction if that transaction rolls back, since its
-- number is then given again to the next version trained.
CREATE FUNCTION mlops._model_artifact(model_id bigint, version int,
        OUT name text, OUT algorithm text, OUT task text, OUT features text[], OUT classes float8[],
        OUT kinds text[], OUT impute text[], OUT categories text[], OUT category_counts int[],
        OUT artifact bytea, OUT artifact_format text,
        OUT terms text[], OUT intercept float8[], OUT coef float8[], OUT row_xmin xid)
    LANGUAGE sql STABLE SECURITY DEFINER PARALLEL SAFE
    SET search_path = pg_catalog, mlops, pg_temp
AS $$
WITH v AS (
    SELECT m.name, v.algorithm, v.task, v.features, v.classes, v.spec, v.artifact, v.artifact_format,
           v.xmin AS row_xmin,
           -- the document is UTF-8, but in a SQL_ASCII database (ColumnNameToUtf8)
           CASE WHEN v.artifact_format = 'linear-json'
                THEN convert_from(v.artifact, CASE pg_catalog.getdatabaseencoding()
                                              WHEN 'SQL_ASCII' THEN 'SQL_ASCII' ELSE 'UTF8' END)::jsonb
           END AS linear
      FROM mlops.model_version v JOIN mlops.model m ON m.id = v.model_id
     WHERE v.model_id = _model_artifact.model_id AND v.version = _model_artifact.version
), docs AS (
    -- the first input document of each name, matched to the features in one
    -- join (a lookup per feature would read the spec once per feature: seconds
    -- for thousands of features)
    SELECT DISTINCT ON (e->>'name') e->>'name' AS name, e AS doc
      FROM v, jsonb_array_elements(coalesce(v.spec->'inputs', '[]')) WITH ORDINALITY AS x(e, k)
     ORDER BY e->>'name', k
), inputs AS (
    SELECT f.n, coalesce(i.doc->>'kind', 'numeric') AS kind, i.doc->>'impute' AS impute,
           coalesce((SELECT array_agg(c.c ORDER BY c.k)
                       FROM jsonb_array_elements_text(i.doc->'categories') WITH ORDINALITY AS c(c, k)),
                    '{}') AS categories
      FROM v, unnest(v.features) WITH ORDINALITY AS f(name, n)
      LEFT JOIN docs i ON i.name = f.name
)
SELECT v.name, v.algorithm, v.task, v.features, v.classes,
       (SELECT array_agg(kind ORDER BY n) FROM inputs),
       (SELECT array_agg(impute ORDER BY n) FROM inputs),
       (SELECT coalesce(array_agg(c ORDER BY n, k), '{}')
          FROM inputs, unnest(inputs.categories) WITH ORDINALITY AS u(c, k)),
       (SELECT array_agg(cardinality(inputs.categories) ORDER BY n) FROM inputs),
       v.artifact, v.artifact_format,
       -- no terms (every input a single category: an intercept-only model) is
       -- '{}', not the NULL of array_agg over no rows, which means "lacks terms"
       CASE WHEN jsonb_typeof(v.linear->'terms') = 'array' THEN
       coalesce((SELECT array_agg(t ORDER BY k) FROM jsonb_array_elements_text(v.linear->'terms') WITH ORDINALITY AS t(t, k)),
                '{}') END,
       (SELECT array_agg(x::float8 ORDER BY k) FROM jsonb_array_elements_text(v.linear->'intercept') WITH ORDINALITY AS i(x, k)),
       CASE WHEN jsonb_typeof(v.linear->'coef') = 'array' THEN
       coalesce((SELECT array_agg(x::float8 ORDER BY r, k)
                   FROM jsonb_array_elements(v.linear->'coef') WITH ORDINALITY AS row(coefs, r),
                        jsonb_array_elements_text(row.coefs) WITH ORDINALITY AS c(x, k)),
                '{}') END,
       v.row_xmin
  FROM v
$$;
COMMENT ON FUNCTION mlops._model_artifact(bigint, int) IS
    'internal: what scoring needs of a model version (spec decomposed per input, linear coefficients as arrays, the row''s xmin)';
GRANT EXECUTE ON FUNCTION mlops._model_artifact(bigint, int) TO mlops_trainer;

CREATE FUNCTION mlops.predict(model text, features float8[]) RETURNS float8
    AS 'MODULE_PATHNAME', 'predict_array'
    LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION mlops.predict(text, float8[]) IS
    'the prediction of a model for one feature vector (in the order of the version''s features): value, or class label';

CREATE FUNCTION mlops.predict(model text, "row" record) RETURNS float8
    AS 'MODULE_PATHNAME', 'predict_row'
    LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION mlops.predict(text, record) IS
    'the prediction of a model for a row, its features taken from the row''s columns by name';

CREATE FUNCTION mlops.predict_proba(model text, features float8[]) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'predict_proba_array'
    LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION mlops.predict_proba(text, float8[]) IS
    'the class probabilities of a classification model for one feature vector, in label order';

CREATE FUNCTION mlops.predict_proba(model text, features record) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'predict_proba_row'
    LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION mlops.predict_proba(text, record) IS
    'the class probabilities of a classification model for a row (features by column name), in label order';

-- STABLE, not IMMUTABLE, although a version never changes: the function reads
-- the registry, whose (model, version) may stop meaning that version. The
-- planner folds an IMMUTABLE call of constant arguments into a value that a
-- prepared statement or a PL/pgSQL plan keeps, and no change of the registry
-- invalidates it: such a plan went on scoring a rolled-back version after its
-- number was given to the next one, and a deleted version instead of 42704.
-- Nothing is lost in scoring: a call with a column argument is evaluated per
-- row either way, still PARALLEL SAFE (in the workers), and a call of
-- constant arguments costs one cached resolution per call, not a plan-time
-- evaluation. What IMMUTABLE allowed and must not (an index, a generated
-- column storing scores of a version that may be deleted) is refused.
CREATE FUNCTION mlops.predict_version(model text, version int, features float8[]) RETURNS float8
    AS 'MODULE_PATHNAME', 'predict_version'
    LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION mlops.predict_version(text, int, float8[]) IS
    'the prediction of one pinned model version, whatever the aliases say (STABLE: it reads the registry)';

CREATE FUNCTION mlops.explain(model text, features float8[]) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'explain_array'
    LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION mlops.explain(text, float8[]) IS
    'per-feature contributions to the raw margin ({"bias", "contributions"}): TreeSHAP for xgboost, coef*x for linear models';

CREATE FUNCTION mlops.explain(model text, features record) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'explain_row'
    LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION mlops.explain(text, record) IS
    'per-feature contributions to the raw margin for a row (features by column name)';

GRANT EXECUTE ON FUNCTION mlops.predict(text, float8[]), mlops.predict(text, record),
    mlops.predict_proba(text, float8[]), mlops.predict_proba(text, record),
    mlops.predict_version(text, int, float8[]),
    mlops.explain(text, float8[]), mlops.explain(text, record) TO mlops_scorer;

CREATE FUNCTION mlops.import_model(model text, artifact bytea, format text, features text[], task text,
                                   target text DEFAULT NULL) RETURNS int
    AS 'MODULE_PATHNAME', 'import_model'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION mlops.import_model(text, bytea, text, text[], text, text) IS
    'registers an XGBoost model written by Python (format xgboost-json or xgboost-ubj) as a new version; returns its number';

CREATE FUNCTION mlops.export_model(model text) RETURNS bytea
    AS 'MODULE_PATHNAME', 'export_model'
    LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION mlops.export_model(text) IS
    'the model as XGBoost JSON (xgboost models, loadable by Python xgboost.Booster) or its linear-json document';

GRANT EXECUTE ON FUNCTION mlops.import_model(text, bytea, text, text[], text, text),
    mlops.export_model(text) TO mlops_trainer;
