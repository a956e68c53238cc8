-- ---------------------------------------------------------------------------
-- Reports: self-contained HTML pages (inline CSS and SVG, no script, nothing
-- fetched) built in C from the experiment and registry views. They read the
-- views with the caller's privileges (not SECURITY DEFINER), so they are
-- granted to mlops_trainer, who may read those views. mlops.report() also
-- reads the featured version's source and its monitors' sources (mean |SHAP|,
-- current drift histograms), with the caller's privileges too.
-- ---------------------------------------------------------------------------

-- The reference profiles (model_version.profile is not readable by trainers).
CREATE VIEW mlops.model_profiles AS
SELECT m.name, v.version, v.profile
  FROM mlops.model_version v JOIN mlops.model m ON m.id = v.model_id;
COMMENT ON VIEW mlops.model_profiles IS
    'the reference profile frozen with every model version (NULL for imported versions), as mlops.profile() returns it';
GRANT SELECT ON mlops.model_profiles TO mlops_trainer;
CREATE FUNCTION mlops.report_experiment(experiment text, metric text DEFAULT NULL) RETURNS text
    AS 'MODULE_PATHNAME', 'report_experiment'
    LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION mlops.report_experiment(text, text) IS
    'an HTML page comparing the runs of an experiment: params, latest metrics, the best run by metric (default: the first of r2, roc_auc, f1_macro, accuracy, rmse, mse, mae, log_loss logged), metric history plots';

CREATE FUNCTION mlops.report(model text) RETURNS text
    AS 'MODULE_PATHNAME', 'report_model'
    LANGUAGE C STABLE PARALLEL UNSAFE;
COMMENT ON FUNCTION mlops.report(text) IS
    'an HTML page about a model (''name'', ''name@alias'' or ''name:version''): versions and their metrics, the learning curve, feature importance (gain or scaled |coef|, mean |SHAP|) of the featured version, drift histograms of the latest monitor run, the deployment timeline';

GRANT EXECUTE ON FUNCTION mlops.report_experiment(text, text), mlops.report(text) TO mlops_trainer;
