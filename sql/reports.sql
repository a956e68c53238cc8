-- Reports: the deterministic parts of mlops.report_experiment() and
-- mlops.report(): well-formedness, sections, what is said where data is
-- missing, which run is best, escaping, errors and privileges. The browser
-- renders them in test/test_report_browser.py.
CREATE EXTENSION mlops;
\set SHOW_CONTEXT never
\i test/lib/sqlstate.sql

-- helpers: the ids of a page's sections, its notes, its best-run line
CREATE FUNCTION pg_temp.sections(html text) RETURNS text LANGUAGE sql
    RETURN (SELECT string_agg(m[1], ' ') FROM regexp_matches(html, '<section id="([a-z-]+)">', 'g') m);
CREATE FUNCTION pg_temp.notes(html text) RETURNS SETOF text LANGUAGE sql
    AS $$SELECT m[1] FROM regexp_matches(html, '<p class="note">([^<]*)</p>', 'g') m$$;
CREATE FUNCTION pg_temp.best(html text) RETURNS text LANGUAGE sql
    RETURN substring(html FROM '<p>Best run by (.*?)</p>');
-- the points a path's d attribute visits (one row per command, at the point it ends at: the first M
-- is absolute, the rest relative), and its markers' path: one zero-length subpath "m dx dy h0" per dot
CREATE FUNCTION pg_temp.path_points(d text) RETURNS TABLE (command text, x numeric, y numeric) LANGUAGE sql
    AS $$SELECT c, sum(dx) OVER w, sum(dy) OVER w
           FROM (SELECT m[1] AS c, n, CASE m[1] WHEN 'v' THEN 0 ELSE m[2]::numeric END AS dx,
                        CASE m[1] WHEN 'h' THEN 0 WHEN 'v' THEN m[2]::numeric ELSE m[3]::numeric END AS dy
                   FROM regexp_matches(d, '([MmlhvLHV])(-?[0-9]*\.?[0-9]+) ?(-?[0-9]*\.?[0-9]+)?', 'g')
                        WITH ORDINALITY AS t(m, n)) s
         WINDOW w AS (ORDER BY n)$$;
CREATE FUNCTION pg_temp.markers(html text) RETURNS text LANGUAGE sql
    RETURN substring(html FROM '<path class="series markers"[^>]* d="([^"]*)"');
CREATE FUNCTION pg_temp.charts(html text, section text) RETURNS int LANGUAGE sql
    RETURN (SELECT count(*) FROM regexp_matches(
                substring(html FROM '<section id="' || section || '">.*?</section>'), '<svg ', 'g'));

-- an experiment of four runs: per-iteration rmse for three, a failed one with the best r2
SELECT mlops.start_run('exp', 'depth-' || d, jsonb_build_object('max_depth', d)) AS run_id
  FROM generate_series(3, 5) d;
SELECT count(mlops.log_metric(r.run_id, 'train-rmse', 50 - i - r.run_id, i)),
       count(mlops.log_metric(r.run_id, 'test-rmse', 60 - i, i))
  FROM mlops.runs r, generate_series(0, 9) i WHERE r.experiment = 'exp';
SELECT count(mlops.log_metrics(run_id, jsonb_build_object('r2', 0.5 + run_id / 100.0, 'rmse', 40 - run_id % 2,
                                                          'accuracy', 0.9), 10)),
       count(mlops.end_run(run_id))
  FROM mlops.runs WHERE experiment = 'exp';
SELECT mlops.start_run('exp', 'broken', '{"max_depth": 9}') AS failed \gset
SELECT mlops.log_metric(:failed, 'r2', 0.99), mlops.end_run(:failed, 'failed');
SELECT mlops.report_experiment('exp') AS page \gset
SELECT xml_is_well_formed_document(:'page') AS well_formed, pg_temp.sections(:'page'),
       pg_temp.charts(:'page', 'best-run') AS bar_charts, pg_temp.charts(:'page', 'metric-history') AS history_charts;
-- default metric: r2 (first of the default list present), higher better, among finished runs only
SELECT pg_temp.best(:'page');
-- a metric whose name says lower is better; ties go to the earliest run
SELECT pg_temp.best(mlops.report_experiment('exp', 'rmse'));
SELECT pg_temp.best(mlops.report_experiment('exp', 'accuracy'));
-- a metric no finished run has: no run highlighted, said in place
SELECT pg_temp.notes(mlops.report_experiment('exp', 'no_such_metric'));
-- nothing but the page: no script, nothing fetched
SELECT :'page' ~* '<script|<link|<img|<iframe|https?://(?!www\.w3\.org/)' AS has_script_or_fetch,
       :'page' LIKE '%Content-Security-Policy" content="default-src ''none''; style-src ''unsafe-inline''"%' AS has_csp;

-- a run with no per-iteration metrics, and runs without any default metric
SELECT mlops.start_run('flat', 'once') AS flat \gset
SELECT mlops.log_metric(:flat, 'lift', 1.5), mlops.log_param(:flat, 'long', repeat('x', 1000)), mlops.end_run(:flat);
-- a long value is clipped in its cell
SELECT substring(p FROM '<th>long</th><td[^>]*>([^<]*)</td>') = repeat('x', 200) || '&#x2026;' AS clipped
  FROM mlops.report_experiment('flat') p;
SELECT xml_is_well_formed_document(p), pg_temp.notes(p) FROM mlops.report_experiment('flat') p;
SELECT pg_temp.best(mlops.report_experiment('flat', 'lift'));

-- a long series is thinned to the extremes of each unit-wide column of the plot (402 of them):
-- the same picture, its peaks included, in a bounded page
SELECT mlops.start_run('long', 'noisy') AS long \gset
SELECT count(mlops.log_metric(:long, 'loss', CASE WHEN i = 3001 THEN 9 ELSE sin(i) END, i))
  FROM generate_series(1, 5000) i;
SELECT mlops.end_run(:long);
SELECT length(p) < 60000 AS bounded,
       count(*) FILTER (WHERE command IN ('l', 'h', 'v')) AS segments,
       min(y) AS peak_y  -- 9 on [-2, 10]: 220 - 11/12 * 210
  FROM mlops.report_experiment('long') p,
       pg_temp.path_points(substring(p FROM '<path class="series"[^>]* d="([^"]*)"')) GROUP BY p;

-- an experiment without runs (only a direct insert makes one)
INSERT INTO mlops.experiment (name, created_by) VALUES ('empty', 'nobody');
SELECT xml_is_well_formed_document(p), pg_temp.sections(p), pg_temp.notes(p) FROM mlops.report_experiment('empty') p;

-- a model of three versions trained in runs, aliases moved and rolled back
SELECT mlops._register_version('churn', 'xgboost', 'regression', '{a,b}', 'y', NULL, '{}',
           jsonb_build_object('r2', 0.4 + v / 20.0, 'rmse', 50 - v), '{}', NULL, r.run_id, 't', 80, 20, 0, 'fp',
           convert_to('v' || v, 'UTF8'), 'linear-json')
  FROM generate_series(1, 3) v JOIN mlops.runs r ON r.run_name = 'depth-' || (v + 2) ORDER BY v;
SELECT mlops.set_alias('churn', 'production', 2), mlops.set_alias('churn', 'staging', 3);
SELECT mlops.set_alias('churn', 'production', 3);
SELECT mlops.rollback('churn');
SELECT mlops.report('churn') AS page \gset
SELECT xml_is_well_formed_document(:'page') AS well_formed, pg_temp.sections(:'page'),
       pg_temp.charts(:'page', 'versions') AS version_charts, pg_temp.charts(:'page', 'learning-curve') AS curves,
       pg_temp.charts(:'page', 'deployments') AS timelines;
SELECT substring(:'page' FROM 'This report features [^<]*') AS featured,
       substring(:'page' FROM 'aliases: [^;]*') AS aliases,
       (SELECT count(*) FROM regexp_matches(:'page', '<td class="num">[0-9]+</td><td>[^<]*</td><td>(production|staging)</td><td>(set|rollback)</td>', 'g')) AS timeline_rows,
       (SELECT count(*) FROM regexp_matches(:'page', '<tr class="featured"><td class="num">2</td>', 'g')) AS featured_rows;
-- references: an alias or a pinned version features that version
SELECT substring(mlops.report('churn@staging') FROM 'This report features [^<]*');
SELECT substring(mlops.report('churn:1') FROM 'This report features [^<]*');
-- a learning curve charts "train-rmse" and "test-rmse" together as "rmse"
SELECT substring(:'page' FROM '<section id="learning-curve">.*?<figcaption>([^<]*)</figcaption>') AS curve,
       :'page' ~ '<section id="learning-curve">.*<text[^>]*>test</text>.*<text[^>]*>train</text>.*</section>' AS split_legend;

-- a model with one version and no run, never monitored: each section says so
SELECT mlops._register_version('solo', 'linear', 'regression', '{a}', 'y', NULL, '{}', '{"r2": 0.5}', '{}', NULL,
                               NULL, 't', 1, 0, 0, 'fp', '\x00', 'linear-json');
SELECT xml_is_well_formed_document(p), pg_temp.sections(p), pg_temp.notes(p) FROM mlops.report('solo') p;
-- a version trained in a run that logged no per-iteration metrics
SELECT mlops._register_version('solo', 'linear', 'regression', '{a}', 'y', NULL, '{}', '{"r2": 0.6}', '{}', NULL,
                               :flat, 't', 1, 0, 0, 'fp', '\x01', 'linear-json');
SELECT pg_temp.notes(mlops.report('solo:2'));
-- no version behind production
SELECT mlops.delete_alias('solo', 'production');
SELECT pg_temp.notes(p), substring(p FROM 'No version is behind alias [^<]*') FROM mlops.report('solo') p;

-- every user-supplied string is escaped: experiment, run, param, metric and tag names and values
SELECT mlops.start_run('<script>alert(1)</script>', '<script>alert(1)</script>',
                       '{"<script>alert(1)</script>": "<script>alert(1)</script>"}',
                       '{"t&g": "\"quoted\" & ''single''"}') AS evil \gset
SELECT count(mlops.log_metric(:evil, '<script>alert(1)</script>', CASE WHEN i = 2 THEN 'NaN'::float8 ELSE i END, i))
  FROM generate_series(1, 4) i;
SELECT mlops.log_metric(:evil, 'r2', 0.1), mlops.log_param(:evil, 'ctl', E'bell\x07 and é ✓'), mlops.end_run(:evil);
SELECT mlops.report_experiment('<script>alert(1)</script>', '<script>alert(1)</script>') AS page \gset
SELECT xml_is_well_formed_document(:'page') AS well_formed,
       :'page' ~* '<script' AS raw_script,
       (SELECT count(*) FROM regexp_matches(:'page', '&lt;script&gt;alert\(1\)&lt;/script&gt;', 'g')) AS escaped,
       :'page' LIKE '%&quot;quoted&quot; &amp; &#39;single&#39;%' AS quotes_escaped,
       :'page' LIKE '%bell&#xFFFD; and &#xE9; &#x2713;%' AS controls_and_unicode,
       :'page' ~ '[^\x01-\x7e]' AS non_ascii;
-- a model cannot be named "<script>" (model names are identifiers), but features, target, metric keys
-- and the description are shown escaped
SELECT mlops._register_version('evil', 'linear', 'regression', '{"<script>alert(1)</script>", b}', '<i>y</i>', NULL,
                               '{}', '{"<b>": 1}', '{}', NULL, NULL, 't', 1, 0, 0, 'fp', '\x00', 'linear-json');
SELECT mlops.set_model_description('evil', 'about <script>alert(2)</script>');
SELECT xml_is_well_formed_document(p), p ~* '<script|<b>|<i>' AS raw,
       substring(p FROM '<p class="meta">about ([^<]*)<br/>') AS description,
       substring(p FROM 'This report features [^<]*') AS featured, p LIKE '%<th>&lt;b&gt;</th>%' AS metric_key
  FROM mlops.report('evil') p;

-- errors: NULL arguments, unknown names, malformed references
SELECT pg_temp.sqlstate($$SELECT mlops.report_experiment(NULL)$$);
SELECT pg_temp.sqlstate($$SELECT mlops.report(NULL)$$);
SELECT pg_temp.sqlstate($$SELECT mlops.report_experiment('nope')$$);
SELECT pg_temp.sqlstate($$SELECT mlops.report('nope')$$);
SELECT pg_temp.sqlstate($$SELECT mlops.report('churn@canary')$$);
SELECT pg_temp.sqlstate($$SELECT mlops.report('churn:9')$$);
SELECT pg_temp.sqlstate($$SELECT mlops.report('churn@@x')$$);

-- declared STABLE, not SECURITY DEFINER; trainers may build reports, scorers may not
SELECT p.oid::regprocedure, p.provolatile, p.prosecdef, p.proparallel FROM pg_proc p
 WHERE p.proname IN ('report', 'report_experiment') ORDER BY p.oid::regprocedure::text;
CREATE ROLE regress_report_trainer IN ROLE mlops_trainer;
CREATE ROLE regress_report_scorer IN ROLE mlops_scorer;
SET ROLE regress_report_trainer;
SELECT length(mlops.report('churn')) > 0 AS trainer_model, length(mlops.report_experiment('exp')) > 0 AS trainer_experiment;
SET ROLE regress_report_scorer;
SELECT pg_temp.sqlstate($$SELECT mlops.report('churn')$$);
RESET ROLE;
DROP ROLE regress_report_trainer, regress_report_scorer;

-- models trained by train(): test split, feature importance and drift
\set ECHO none
\i test/data/load.sql
\set ECHO all
SELECT model, version FROM mlops.train('diab', 'diabetes', 'target', 'linear');
SELECT model, version FROM mlops.train('cancer', 'breast_cancer', 'target', 'xgboost',
                                       hyperparams => '{"n_estimators": 10, "max_depth": 3}');
CREATE TABLE diabetes_shifted AS SELECT age + 15 AS age, sex, bmi * 1.2 AS bmi, bp, s1, s2, s3, s4, s5, s6, target
  FROM diabetes;
SELECT mlops.create_monitor('diab-drift', 'diab', 'diabetes_shifted') > 0 AS monitor;
SELECT r->'drifted' AS drifted FROM mlops.run_monitor('diab-drift') r;
CREATE FUNCTION pg_temp.section(html text, section text) RETURNS text LANGUAGE sql
    RETURN substring(html FROM '<section id="' || section || '">.*?</section>');
-- a bar's tooltip: "category[, series]: value"
CREATE FUNCTION pg_temp.bars(html text) RETURNS SETOF text LANGUAGE sql
    AS $$SELECT m[1] FROM regexp_matches(html, '<rect class="bar"[^>]*><title>([^<]*)</title>', 'g') m$$;
SELECT mlops.report('diab') AS page \gset
SELECT xml_is_well_formed_document(:'page') AS well_formed, pg_temp.sections(:'page'),
       pg_temp.charts(:'page', 'test-split') AS residual_plots, pg_temp.charts(:'page', 'importance') AS importance,
       pg_temp.charts(:'page', 'drift') AS histograms;
-- the test split drawn again is the one train() drew: as many rows as the version records
SELECT substring(pg_temp.section(:'page', 'test-split') FROM '<p class="meta">([^<]*)') AS split,
       test_rows FROM mlops.model_versions WHERE name = 'diab';
SELECT pg_temp.notes(pg_temp.section(:'page', 'test-split')) AS test_split_notes;
SELECT substring(pg_temp.section(:'page', 'importance') FROM '<figcaption>([^<]*)') AS first_chart,
       (SELECT count(*) FROM regexp_matches(pg_temp.section(:'page', 'importance'), '<figcaption>', 'g')) AS charts;
-- the age histogram: reference and current fractions per reference decile, two bars per bin
SELECT b FROM pg_temp.bars(substring(pg_temp.section(:'page', 'drift')
                                     FROM '<figcaption>age \(reference deciles\)</figcaption>.*?</svg>')) b;
-- the monitor's latest metric per feature, drifted ones first
SELECT m[1] AS feature, m[2] AS metric, m[3] AS drifted
  FROM regexp_matches(pg_temp.section(:'page', 'drift'),
                      '<tr><td>([^<]*)</td><td>([^<]*)</td><td[^>]*>[^<]*</td><td[^>]*>[^<]*</td><td[^>]*>([^<]*)</td></tr>',
                      'g') m;
-- a ks monitor's threshold is a p-value: the table shows the statistic, then
-- the p-value beside the threshold it is compared with
SELECT mlops.create_monitor('diab-ks', 'diab', 'diabetes_shifted', 'ks') > 0 AS monitor;
SELECT r->'drifted' AS drifted FROM mlops.run_monitor('diab-ks') r;
SELECT substring(pg_temp.section(p, 'drift') FROM '<thead>(.*?)</thead>') AS header,
       (SELECT m[1] FROM regexp_matches(pg_temp.section(p, 'drift'), '<tr><td>(age</td>.*?)</tr>') m) AS age
  FROM mlops.report('diab') p;
SELECT feature, round(value::numeric, 6) AS statistic, p_value < threshold AS p_value_below, threshold, drifted
  FROM mlops.drift_status WHERE monitor = 'diab-ks' AND feature = 'age';
SELECT mlops.drop_monitor('diab-ks');
-- times (versions, monitor run, deployments, footer) are in the session's time
-- zone, spelled with its UTC offset, not an abbreviation (IST is India's,
-- Ireland's and Israel's)
SET TimeZone = 'Asia/Kolkata';
SELECT m[1] AS zone_shown, count(*) > 1 AS several
  FROM regexp_matches(mlops.report('diab'), '\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)? ?([^ .<,]+)', 'g') m
 GROUP BY 1 ORDER BY 1;
-- the footer's time too, to the second, whatever DateStyle says
SET DateStyle = 'SQL, DMY';
SELECT substring(mlops.report('diab') FROM 'Generated by mlops at ([^<]*)\.</footer>')
       ~ '^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+05:30$' AS footer_time_iso;
RESET DateStyle;
RESET TimeZone;
-- an XGBoost classifier: ROC and precision-recall curves, total gain and mean |SHAP|; never monitored
SELECT mlops.report('cancer') AS page \gset
SELECT xml_is_well_formed_document(:'page') AS well_formed,
       pg_temp.charts(:'page', 'test-split') AS curves, pg_temp.charts(:'page', 'importance') AS importance,
       pg_temp.charts(:'page', 'drift') AS histograms;
SELECT m[1] AS figure FROM regexp_matches(pg_temp.section(:'page', 'test-split') || pg_temp.section(:'page', 'importance'),
                                          '<figcaption>([^<]*)', 'g') m;
SELECT pg_temp.notes(pg_temp.section(:'page', 'drift')) AS drift_note;
-- the source gone: said in place of the plots that need it
ALTER TABLE diabetes_shifted RENAME TO diabetes_moved;
SELECT pg_temp.notes(p) FROM mlops.report('diab') p;
ALTER TABLE diabetes_moved RENAME TO diabetes_shifted;
-- a trainer reads sources with their own privileges: no SELECT on the sources, notes in place
CREATE ROLE regress_report_trainer IN ROLE mlops_trainer;
SET ROLE regress_report_trainer;
SELECT xml_is_well_formed_document(p), pg_temp.charts(p, 'importance') AS importance, pg_temp.notes(p)
  FROM mlops.report('diab') p;
RESET ROLE;
GRANT SELECT ON diabetes, diabetes_shifted TO regress_report_trainer;
SET ROLE regress_report_trainer;
SELECT pg_temp.charts(p, 'test-split') AS residual_plots, pg_temp.charts(p, 'importance') AS importance,
       pg_temp.charts(p, 'drift') AS histograms
  FROM mlops.report('diab') p;
RESET ROLE;
REVOKE SELECT ON diabetes, diabetes_shifted FROM regress_report_trainer;
DROP ROLE regress_report_trainer;
-- the test split is scored as evaluate() scores it: the source's categories
-- are the version's by text, whatever their positions now (a new colour
-- 'green' sorts between 'blue' and 'red'). The version fits blue and red
-- rows exactly: their residuals are 0; green, unseen, is imputed as the
-- training rows' most frequent colour, blue (two rows in three, whatever the
-- split), whose y is x: its residual is +5
CREATE TABLE shop AS
SELECT (ARRAY['blue', 'blue', 'red'])[1 + i % 3] AS colour, (i % 17)::float8 AS x,
       (i % 17) + CASE WHEN i % 3 = 2 THEN 10 ELSE 0 END AS y
  FROM generate_series(1, 200) i;
SELECT version FROM mlops.train('shop', 'shop', 'y', 'linear');
INSERT INTO shop SELECT 'green', (i % 17)::float8, (i % 17) + 5 FROM generate_series(1, 50) i;
SELECT pg_temp.section(mlops.report('shop'), 'test-split') AS split \gset
SELECT string_agg(m[1], ' ') AS residual_ticks
  FROM regexp_matches(:'split', '<text x="59" y="[^"]*" text-anchor="end">([^<]*)</text>', 'g') m;
SELECT count(DISTINCT y) AS residual_levels FROM pg_temp.path_points(pg_temp.markers(:'split')) WHERE command IN ('M', 'm');

-- a residual plot of 10000 test rows is one path of dots, each "m dx dy h0" stroked round as wide as a
-- marker, and dots at the same printed position are one: 20 predictions by 7 residuals (y = x + i % 7,
-- plus a part in 1e12 that makes every row distinct, so each of the 140 pairs has test rows) are 140
-- dots; scattered rows stay a page of about 100 kB (10000 dots, a few bytes each)
CREATE TABLE grid AS SELECT (i % 20)::float8 AS x, (i % 20) + (i % 7) + (i / 140) * 1e-12::float8 AS y
  FROM generate_series(1, 60000) i;
CREATE TABLE cloud AS SELECT a, b, a + b * b + c AS y
  FROM (SELECT (i * 7919 % 10007) / 10007.0 AS a, (i * 104729 % 10009) / 10009.0 AS b,
               (i * 15485863 % 10037) / 10037.0 AS c FROM generate_series(1::bigint, 60000) i) s;
SELECT count(*) FROM unnest(ARRAY['grid', 'cloud']) t, mlops.train(t, t, 'y', 'linear');
SELECT t AS model, substring(p FROM '<path class="series markers"[^>]*? d=') AS markers,
       (SELECT count(*) FROM pg_temp.path_points(pg_temp.markers(p)) WHERE command IN ('M', 'm')) AS dots,
       (SELECT count(*) FROM (SELECT DISTINCT x, y
                                FROM pg_temp.path_points(pg_temp.markers(p))) d) AS positions,
       (SELECT count(*) FROM regexp_matches(pg_temp.markers(p), 'h0', 'g')) AS zero_length,
       p !~ '<circle class="series"' AS no_circles, length(p) < 150000 AS bounded
  FROM unnest(ARRAY['grid', 'cloud']) t, mlops.report(t) p;

-- history charts plot the best run and the 9 most recent others: 10 series whether the best is the
-- oldest run or among the most recent
SELECT count(mlops.start_run('dozen', 'r' || i)) FROM generate_series(1, 12) i;
SELECT count(mlops.log_metric(r.run_id, 'loss', r.run_id + s, s)) FROM mlops.runs r, generate_series(0, 1) s
 WHERE r.experiment = 'dozen';
SELECT count(mlops.end_run(run_id)) FROM mlops.runs WHERE experiment = 'dozen';
SELECT m AS metric, (SELECT count(*) FROM regexp_matches(pg_temp.section(p, 'metric-history'), '<path class="series"', 'g')) AS series,
       substring(p FROM 'Plotted: [^<]*') AS note
  FROM unnest(ARRAY['loss', 'no_such_metric']) m, mlops.report_experiment('dozen', m) p;
SELECT mlops.start_run('dozen', 'best') AS best \gset
SELECT mlops.log_metric(:best, 'loss', 0, 0), mlops.log_metric(:best, 'loss', 0, 1), mlops.end_run(:best);
SELECT (SELECT count(*) FROM regexp_matches(pg_temp.section(p, 'metric-history'), '<path class="series"', 'g')) AS series,
       substring(p FROM 'Plotted: [^<]*') AS note
  FROM mlops.report_experiment('dozen', 'loss') p;

-- values at the limits of float8: every coordinate and tick is finite, the scale spans the values
-- (a domain from -1e308 to 1e308, or DBL_MAX padded, overflowed to NaN and Infinity)
CREATE FUNCTION pg_temp.ticks(html text) RETURNS text LANGUAGE sql
    RETURN (SELECT string_agg(m[1], ' ') FROM regexp_matches(html, '<text x="[^"]*" y="[^"]*" text-anchor="(?:end|middle)">([^<]*)</text>', 'g') m);
CREATE FUNCTION pg_temp.finite(html text) RETURNS boolean LANGUAGE sql
    RETURN html !~* '="[^"]*\y(nan|inf)|>-?(nan|inf)';
SELECT mlops.start_run('huge', 'wide') AS huge \gset
SELECT mlops.log_metric(:huge, 'r2', -1e308, 0), mlops.log_metric(:huge, 'r2', 1e308, 1), mlops.end_run(:huge);
SELECT mlops.start_run('huge', 'max') AS huge \gset
SELECT mlops.log_metric(:huge, 'top', 1.7976931348623157e308, 0), mlops.log_metric(:huge, 'top', 1.7976931348623157e308, 1),
       mlops.log_metric(:huge, 'r2', -1.7976931348623157e308), mlops.end_run(:huge);
SELECT xml_is_well_formed_document(p) AS well_formed, pg_temp.finite(p) AS finite,
       pg_temp.ticks(pg_temp.section(p, 'best-run')) AS bar_ticks,
       pg_temp.ticks(pg_temp.section(p, 'metric-history')) AS history_ticks
  FROM mlops.report_experiment('huge') p;

-- tick labels tell neighbouring ticks apart: large steps, large values, values equal but for rounding
SELECT mlops.start_run('ticks', 'close') AS close \gset
SELECT mlops.log_metric(:close, 'big', 1000001, 12345), mlops.log_metric(:close, 'big', 1000009, 12346),
       mlops.log_metric(:close, 'noise', 0.9, 0), mlops.log_metric(:close, 'noise', 0.9 + 1e-16, 1),
       mlops.end_run(:close);
SELECT substring(f FROM '^<figcaption>([^<]*)') AS chart, pg_temp.ticks(f) AS ticks
  FROM mlops.report_experiment('ticks') p, regexp_split_to_table(pg_temp.section(p, 'metric-history'), '<figure>') f
 WHERE f LIKE '<figcaption>%';

-- points logged at the same steps: one chart when at two steps or more, its markers thinned as
-- its line is (each point had a marker: 3000 circles), one per printed position; the same step
-- again is no history
SELECT mlops.start_run('repeats', 'two-steps') AS repeats \gset
SELECT count(mlops.log_metric(:repeats, 'loss', i % 10, i / 1500)) FROM generate_series(0, 2999) i;
SELECT mlops.log_metric(:repeats, 'once', 1), mlops.log_metric(:repeats, 'once', 2), mlops.end_run(:repeats);
SELECT string_agg(m[1], ' ') AS charts,
       (SELECT count(*) FROM pg_temp.path_points(pg_temp.markers(pg_temp.section(p, 'metric-history')))
         WHERE command IN ('M', 'm')) AS markers,
       length(p) < 10000 AS bounded
  FROM mlops.report_experiment('repeats') p,
       regexp_matches(pg_temp.section(p, 'metric-history'), '<figcaption>([^<]*)</figcaption>', 'g') m GROUP BY p;
SELECT mlops.start_run('repeats', 'one-step') AS once \gset
SELECT mlops.log_metric(:once, 'loss', 1, 5), mlops.log_metric(:once, 'loss', 2, 5), mlops.end_run(:once);
SELECT mlops._register_version('once', 'linear', 'regression', '{a}', 'y', NULL, '{}', '{}', '{}', NULL,
                               :once, 't', 1, 0, 0, 'fp', '\x00', 'linear-json');
SELECT pg_temp.notes(pg_temp.section(p, 'learning-curve')) FROM mlops.report('once') p;

-- bidi embedding, override and isolate controls would reorder the rest of the line ("with 0.5."
-- shown as ".5.0 htiw"): they become U+FFFD like control characters
SELECT mlops.start_run('bidi', E'run \u202Eevil', tags => jsonb_build_object('note', E'\u2067x')) AS bidi \gset
SELECT mlops.log_metric(:bidi, 'r2', 0.5), mlops.end_run(:bidi);
SELECT pg_temp.best(p), p ~ '&#x(202[A-E]|206[6-9]);' AS bidi_controls
  FROM mlops.report_experiment('bidi') p;
-- non-characters (a reference to one is an HTML parse error) become U+FFFD too
SELECT mlops.set_tag(:bidi, 'nonchar', E'a\uFDD0b\uFFFEc\U0001FFFFd');
SELECT substring(p FROM '<th>nonchar</th><td[^>]*>([^<]*)</td>') AS nonchar
  FROM mlops.report_experiment('bidi') p;

-- a "seed" hyperparameter is XGBoost's: the run keeps train()'s seed, the one the test split is drawn
-- again with (the hyperparameter took its place: a seed beyond int failed the page with 22003, another
-- one drew other rows)
SELECT version FROM mlops.train('seeded', 'diabetes', 'target', 'xgboost',
                                hyperparams => '{"seed": 99999999999, "n_estimators": 3}');
SELECT r.params ->> 'seed' AS run_seed, v.hyperparams ->> 'seed' AS xgboost_seed, v.test_rows,
       substring(pg_temp.section(mlops.report('seeded'), 'test-split') FROM '<p class="meta">([^<]*)') AS split
  FROM mlops.model_versions v JOIN mlops.runs r USING (run_id) WHERE v.name = 'seeded';

-- whole numbers in table cells are shown in full (1234567 train rows read "1.23457e+06"), other
-- numbers with 6 significant digits
SELECT mlops._register_version('counts', 'linear', 'regression', '{a}', 'y', NULL, '{}',
                               '{"n": 2500001, "r2": 0.123456789}', '{}', NULL, NULL, 't', 1234567, 7654321, 0, 'fp',
                               '\x00', 'linear-json');
SELECT string_agg(m[1], ' ') AS cells
  FROM mlops.report('counts') p, regexp_matches(pg_temp.section(p, 'versions'), '<td class="num">([^<]*)</td>', 'g') m;
-- a version without an alias shows "-" in its aliases cell, as other cells without a value do (it was empty)
SELECT mlops._register_version('counts', 'linear', 'regression', '{a}', 'y', NULL, '{}', '{}', '{}', NULL, NULL,
                               't', 1, 1, 0, 'fp', '\x00', 'linear-json') AS unaliased;
SELECT m[1] AS version, m[2] AS aliases
  FROM regexp_matches(pg_temp.section(mlops.report('counts'), 'versions'),
                      '<td class="num">([0-9]+)</td>(?:<td>[^<]*</td>){4}<td>([^<]*)</td>', 'g') m;

-- a linear model's probability is NaN for a row whose terms are +Infinity and -Infinity: such rows
-- are left out of the ROC and precision-recall curves (the curves' tie loop never moved past a NaN
-- score: it wrote past its arrays and crashed the server), and roc_auc, which has no ranking to
-- measure, is left out of evaluate() (its tie loop spun forever), as log_loss is (NaN)
CREATE TABLE spiky AS
SELECT (i % 13)::float8 - 6 AS a, (i % 7)::float8 - 3 AS b, i::float8 AS c,
       ((i % 13) - 6 + (i % 7) - 3 + (i % 5) - 2 > 0)::int AS y
  FROM generate_series(1, 400) i;
SELECT version FROM mlops.train('spiky', 'spiky', 'y', 'logistic');
INSERT INTO spiky SELECT 'Infinity', '-Infinity', 1000 + i, i % 2 FROM generate_series(1, 100) i;
SELECT mlops.predict_proba('spiky', s) FROM spiky s WHERE c = 1001;
SET statement_timeout = '20s';
SELECT xml_is_well_formed_document(p) AS well_formed, pg_temp.charts(p, 'test-split') AS curves,
       pg_temp.notes(pg_temp.section(p, 'test-split')) AS notes
  FROM mlops.report('spiky') p;
SELECT jsonb_object_keys(mlops.evaluate('spiky', 'SELECT * FROM spiky WHERE c > 1000 OR c < 20')) AS metric;
RESET statement_timeout;

-- the history note counts every run of an experiment, as the runs table's note does, not only
-- the runs that table shows (the best and the 50 most recent)
SELECT count(mlops.start_run('dozen', 'later' || i)) FROM generate_series(1, 50) i;
SELECT substring(p FROM 'Plotted: [^<]*') AS plotted, substring(p FROM 'Showing [^<]*') AS shown
  FROM mlops.report_experiment('dozen', 'loss') p;

-- a model retrained for years: the versions table lists the featured version and the 50 most
-- recent ones, the deployments table the 50 most recent events (numbered in the whole history),
-- each saying so; the charts still cover every version and event (a page of 20,000 versions was
-- 9.5 MB of table rows)
SELECT count(mlops._register_version('yearly', 'linear', 'regression', '{a}', 'y', NULL, '{}',
                                     jsonb_build_object('r2', i / 100.0), '{}', NULL, NULL, 't', 1, 1, 0, 'fp',
                                     '\x00', 'linear-json')) AS versions
  FROM generate_series(1, 70) i;
SELECT count(mlops.set_alias('yearly', 'staging', i)) AS moves FROM generate_series(2, 70) i;
SELECT mlops.set_alias('yearly', 'production', 3);
SELECT (SELECT count(*) FROM regexp_matches(pg_temp.section(p, 'versions'), '<tr[ >]', 'g')) - 1 AS version_rows,
       (SELECT string_agg(m[1], ' ') FROM regexp_matches(pg_temp.section(p, 'versions'),
                                                        '<tr[^>]*><td class="num">([0-9]+)</td>', 'g') m) AS listed,
       (SELECT count(*) FROM regexp_matches(pg_temp.section(p, 'deployments'), '<tr[ >]', 'g')) - 1 AS event_rows,
       substring(pg_temp.section(p, 'deployments') FROM '<tbody><tr><td class="num">([0-9]+)</td>') AS first_event,
       pg_temp.charts(p, 'versions') AS version_charts
  FROM mlops.report('yearly') p;
SELECT pg_temp.notes(pg_temp.section(p, 'versions')) AS versions_note FROM mlops.report('yearly') p;
SELECT pg_temp.notes(pg_temp.section(p, 'deployments')) AS deployments_note FROM mlops.report('yearly') p;

-- a deleted alias held its version up to the event that deleted it: its step runs to that event,
-- then stops (its line ended at the event that set it, a lone dot for an alias set once, and the
-- axis stopped short of the deletions)
SELECT count(mlops._register_version('dropped', 'linear', 'regression', '{a}', 'y', NULL, '{}', '{}', '{}', NULL,
                                     NULL, 't', 1, 1, 0, 'fp', '\x00', 'linear-json')) FROM generate_series(1, 2);
SELECT mlops.set_alias('dropped', 'staging', 2), mlops.set_alias('dropped', 'production', 2);
SELECT mlops.delete_alias('dropped', 'staging');
-- the lines in series order: production (the default alias, first), then staging
SELECT s.n AS line, pts.points
  FROM mlops.report('dropped') p,
       regexp_matches(pg_temp.section(p, 'deployments'), '<path class="series" fill="none" d="([^"]*)"', 'g')
           WITH ORDINALITY AS s(d, n),
       LATERAL (SELECT string_agg(command || ' ' || x || ' ' || y, ', ') AS points FROM pg_temp.path_points(s.d[1])) pts;

-- a linear model's |coef| x std: each term scaled by the std of its own input, found by
-- position as the loader finds it, not by its name, which cannot tell a numeric feature
-- named "a=b" from the indicator of category "b" of a feature "a" (the numeric term was
-- given the indicator's std, 0.47 for its 316)
CREATE TABLE term_names AS SELECT (i % 7) * 1.0 + (i % 3) * 0.5 AS y, (ARRAY['a0', 'b', 'c'])[i % 3 + 1] AS a,
                                  (i % 11) * 100.0 AS "a=b"
  FROM generate_series(1, 200) i;
SELECT version FROM mlops.train('term_names', 'term_names', 'y', 'linear');
WITH v AS (SELECT convert_from(v.artifact, 'UTF8')::jsonb AS doc, v.profile AS p
             FROM mlops.model_version v JOIN mlops.model m ON m.id = v.model_id WHERE m.name = 'term_names'),
     f AS (SELECT (SELECT f FROM jsonb_array_elements(p->'features') f WHERE f->>'name' = 'a') AS a,
                  (SELECT f FROM jsonb_array_elements(p->'features') f WHERE f->>'name' = 'a=b') AS ab FROM v),
     expected AS (SELECT abs((doc->'coef'->0->>0)::float8)
                         * sqrt((f.a->'categories'->>'b')::float8 / (f.a->>'count')::float8
                                * (1 - (f.a->'categories'->>'b')::float8 / (f.a->>'count')::float8)) AS indicator,
                         abs((doc->'coef'->0->>2)::float8) * (f.ab->>'std')::float8 AS numeric
                    FROM v, f),
     bars AS (SELECT split_part(b, ': ', 1) AS term, split_part(b, ': ', 2)::float8 AS value
                FROM mlops.report('term_names') p,
                     pg_temp.bars(substring(pg_temp.section(p, 'importance')
                                            FROM '<figcaption>\|coef\| x std of the term</figcaption>.*?</svg>')) b)
SELECT count(*) FILTER (WHERE abs(value / indicator - 1) < 1e-5) AS indicator_bars,
       count(*) FILTER (WHERE abs(value / numeric - 1) < 1e-5) AS numeric_bars
  FROM bars, expected WHERE term = 'a=b';

-- run names too long for a legend (30 characters) or a bar label (20) are clipped there, which cuts off
-- their "(#id)": the whole name is the entry's tooltip, so two runs of one long name stay told apart
SELECT count(mlops.start_run('twins', repeat('r', 40))) FROM generate_series(1, 2);
SELECT count(mlops.log_metric(run_id, 'r2', i / 10.0, i)) FROM mlops.runs, generate_series(1, 2) i
 WHERE experiment = 'twins';
SELECT count(mlops.end_run(run_id)) FROM mlops.runs WHERE experiment = 'twins';
SELECT (SELECT array_agg(m[1] ORDER BY m[1]) FROM regexp_matches(p, '<text[^>]*><title>([^<]*)</title>r{30}&#x2026;</text>', 'g') m)
       = (SELECT array_agg(repeat('r', 40) || ' (#' || run_id || ')' ORDER BY run_id) FROM mlops.runs
           WHERE experiment = 'twins') AS legend_tooltips,
       (SELECT array_agg(m[1] ORDER BY m[1]) FROM regexp_matches(p, '<text[^>]*><title>([^<]*)</title>r{20}&#x2026;</text>', 'g') m)
       = (SELECT array_agg(repeat('r', 40) || ' (#' || run_id || ')' ORDER BY run_id) FROM mlops.runs
           WHERE experiment = 'twins') AS bar_label_tooltips,
       xml_is_well_formed_document(p)
  FROM mlops.report_experiment('twins') p;

-- drift bin labels tell neighbouring edges apart: a feature of epoch seconds has deciles
-- 1700000000 + a few hundred, which four significant digits all spell 1.7e+09
CREATE TABLE epochs AS SELECT 1700000000 + i * 10.0 AS ts, i % 7 AS y FROM generate_series(1, 1000) i;
SELECT version FROM mlops.train('epochs', 'epochs', 'y', 'linear');
SELECT mlops.create_monitor('epochs-drift', 'epochs', 'epochs') > 0 AS monitor, mlops.run_monitor('epochs-drift') IS NOT NULL AS ran;
SELECT split_part(b, ', reference', 1) AS bin
  FROM mlops.report('epochs') p,
       pg_temp.bars(substring(p FROM '<figcaption>ts \(reference deciles\)</figcaption>.*?</svg>')) b
 WHERE b LIKE '%, reference%';

-- a key with "-" first or last is not "split-metric": its own chart, its legend its whole key
SELECT mlops.start_run('dashes', 'dashes') AS dashes \gset
SELECT count(mlops.log_metric(:dashes, k, i, i)), mlops.end_run(:dashes)
  FROM unnest('{-loss,loss-}'::text[]) k, generate_series(0, 1) i;
SELECT mlops._register_version('dashes', 'linear', 'regression', '{a}', 'y', NULL, '{}', '{}', '{}', NULL,
                               :dashes, 't', 1, 0, 0, 'fp', '\x00', 'linear-json');
SELECT array_agg(m[1] ORDER BY m[1]) AS charts,
       (SELECT array_agg(l[1] ORDER BY l[1])
          FROM regexp_matches(pg_temp.section(p, 'learning-curve'), '<text x="[0-9]+" y="[0-9]+">([^<]*)</text>', 'g') l)
       AS legend
  FROM mlops.report('dashes') p,
       regexp_matches(pg_temp.section(p, 'learning-curve'), '<figcaption>([^<]*)</figcaption>', 'g') m GROUP BY p;

-- the version the latest monitor run measured deleted since (production moved
-- on): the page is still built, the drift section says so and keeps the
-- monitor's latest metrics
SELECT model, version FROM mlops.train('diab-gone', 'diabetes', 'target', 'linear');
SELECT mlops.create_monitor('diab-gone-drift', 'diab-gone', 'diabetes_shifted') > 0 AS monitor;
SELECT r->'version' AS measured FROM mlops.run_monitor('diab-gone-drift') r;
SELECT model, version FROM mlops.train('diab-gone', 'diabetes', 'target', 'linear');
SELECT mlops.set_alias('diab-gone', 'production', 2);
SELECT mlops.delete_version('diab-gone', 1);
SELECT xml_is_well_formed_document(p) AS well_formed, pg_temp.charts(p, 'drift') AS histograms,
       pg_temp.notes(pg_temp.section(p, 'drift')) AS drift_note,
       (SELECT count(*) FROM regexp_matches(pg_temp.section(p, 'drift'), '<tr><td>', 'g')) AS metric_rows
  FROM mlops.report('diab-gone') p;
SELECT mlops.drop_monitor('diab-gone-drift');

-- a classifier's curves are named by class labels told apart: 1000001, 1000002 and 1000003 were
-- each "class 1e+06" (6 significant digits), three legend entries alike
CREATE TABLE segments AS SELECT (i % 7)::float8 AS a, ((i * 13) % 11)::float8 AS b, 1000001 + i % 3 AS y
  FROM generate_series(1, 600) i;
SELECT version FROM mlops.train('segments', 'segments', 'y', 'logistic', task => 'classification');
SELECT m[1] AS legend, count(*) AS charts
  FROM mlops.report('segments') p,
       regexp_matches(pg_temp.section(p, 'test-split'), '<text x="[0-9]+" y="[0-9]+">(class [^<]*)</text>', 'g') m
 GROUP BY 1 ORDER BY 1;

-- XGBoost's other metrics that are better lower: rmsle, mape, mphe, the negative log-likelihoods
-- (poisson-nloglik, ...), gamma-deviance and error at a threshold (error@0.6); the run with the
-- highest of them was the best. ndcg@3 and map@5 are better higher
SELECT mlops.start_run('xgb-metrics', 'low') AS low \gset
SELECT mlops.start_run('xgb-metrics', 'high') AS high \gset
SELECT count(mlops.log_metric(r, k, CASE WHEN r = :low THEN 0.1 ELSE 0.9 END))
  FROM unnest(ARRAY[:low, :high]) r,
       unnest('{test-rmsle,test-mape,test-mphe,test-poisson-nloglik,test-gamma-deviance,test-error@0.6,test-merror@0.5,test-ndcg@3,test-map@5}'::text[]) k;
SELECT mlops.end_run(:low), mlops.end_run(:high);
SELECT k AS metric, pg_temp.best(mlops.report_experiment('xgb-metrics', k))
  FROM unnest('{test-rmsle,test-mape,test-mphe,test-poisson-nloglik,test-gamma-deviance,test-error@0.6,test-merror@0.5,test-ndcg@3,test-map@5}'::text[]) k;

-- a version's metric that float8 cannot hold (a JSON number such as 1e400 or 1e-400, which
-- _register_version records as given) is not plotted, one too small for it is 0 (three dots of four
-- versions), and the page is built: it failed with 22003
SELECT count(mlops._register_version('outsized', 'linear', 'regression', '{a}', 'y', NULL, '{}', m::jsonb, '{}',
                                     NULL, NULL, 't', 1, 0, 0, 'fp', '\x00', 'linear-json'))
  FROM unnest('{"{\"r2\": 1e400}","{\"r2\": 0.5}","{\"r2\": 1e-400}","{\"r2\": 0.25}"}'::text[]) m;
SELECT xml_is_well_formed_document(p) AS well_formed, pg_temp.charts(p, 'versions') AS version_charts,
       (SELECT count(*) FROM pg_temp.path_points(substring(pg_temp.section(p, 'versions')
                                                           FROM '<path class="series markers"[^>]* d="([^"]*)"'))
         WHERE command IN ('M', 'm')) AS dots
  FROM mlops.report('outsized') p;

-- a y axis of long tick labels moves the plot right, so that each label (about 8 units a
-- character, right-aligned 5 units left of the plot) starts right of the y axis label (x 13, about
-- 19 with its glyphs): "-123456.789" ran off the chart's left edge, read ":3456.789"
SELECT mlops.start_run('long-ticks', 'w') AS wide \gset
SELECT count(mlops.log_metric(:wide, 'neg', -123456.789 - i * 0.001, i)),
       count(mlops.log_metric(:wide, 'short', i, i)) FROM generate_series(0, 4) i;
SELECT mlops.end_run(:wide);
SELECT substring(f FROM '^<figcaption>([^<]*)') AS chart,
       min(m[1]::numeric - 8 * length(m[2])) >= 19 AS labels_clear, string_agg(m[2], ' ') AS ticks
  FROM mlops.report_experiment('long-ticks') p,
       regexp_split_to_table(pg_temp.section(p, 'metric-history'), '<figure>') f,
       regexp_matches(f, '<text x="([0-9.]+)" y="[^"]*" text-anchor="end">([^<]*)</text>', 'g') m
 WHERE f LIKE '<figcaption>%' GROUP BY 1 ORDER BY 1;

-- a label that would not fit its room (a bar label 140 units left of its bar, a legend entry 200,
-- the y axis label the plot's 210), estimated at its characters' widths, is squeezed into it:
-- right-aligned, "20240115-0930-base-x" in bold and twenty capitals ran off the chart's left edge
SELECT count(mlops.log_metric(mlops.start_run('label-widths', n), 'r2', 0.5))
  FROM unnest(ARRAY['20240115-0930-base-x', 'MMMMMMMMMMWWWWWWWWWW', 'short', repeat('i', 25)]) n;
SELECT count(mlops.end_run(run_id)) FROM mlops.runs WHERE experiment = 'label-widths';
SELECT coalesce(m[1], '-') AS squeezed_to, m[2] AS label
  FROM mlops.report_experiment('label-widths') p,
       regexp_matches(pg_temp.section(p, 'best-run'),
                      '<text x="144" y="[0-9]+" text-anchor="end"(?: font-weight="bold")?(?: textLength="([0-9]+)" lengthAdjust="spacingAndGlyphs")?>(?:<title>[^<]*</title>)?([^<]*)</text>', 'g') m;

-- a version registered with a run whose test_fraction or seed is no number (or out of range) has no
-- recorded split, which the test-split section says: the casts failed the page with 22P02 or 22003
SELECT count(mlops.end_run(mlops.start_run('odd-split', NULL, p::jsonb)))
  FROM unnest('{"{\"test_fraction\": \"0.2\", \"seed\": \"abc\"}","{\"test_fraction\": \"x\", \"seed\": \"1\"}","{\"test_fraction\": \"0.2\", \"seed\": \"99999999999\"}","{\"test_fraction\": \"1e400\", \"seed\": \"1\"}"}'::text[]) p;
SELECT count(mlops._register_version('odd-split', 'linear', 'regression', '{age}', 'target', NULL, '{}', '{}', '{}',
                                     NULL, run_id, 'diabetes', 1, 0, 0, 'fp', '\x00', 'linear-json'))
  FROM (SELECT run_id FROM mlops.runs WHERE experiment = 'odd-split' ORDER BY run_id) r;
SELECT v AS version, pg_temp.notes(pg_temp.section(mlops.report('odd-split:' || v), 'test-split')) AS note
  FROM generate_series(1, 4) v;
-- one whose digits numeric cannot hold (past 131072 before the point, 16383 after) is no number
-- either: its cast failed the page with 22003
SELECT count(mlops.end_run(mlops.start_run('odd-split', NULL, jsonb_build_object('test_fraction', f, 'seed', '1'))))
  FROM unnest(ARRAY['1e999999', '1e-999999', '0.' || repeat('0', 20000) || '1', repeat('9', 200000)]) f;
SELECT count(mlops._register_version('odd-split', 'linear', 'regression', '{age}', 'target', NULL, '{}', '{}', '{}',
                                     NULL, run_id, 'diabetes', 1, 0, 0, 'fp', '\x00', 'linear-json'))
  FROM (SELECT run_id FROM mlops.runs WHERE experiment = 'odd-split' ORDER BY run_id OFFSET 4) r;
SELECT v AS version, pg_temp.notes(pg_temp.section(mlops.report('odd-split:' || v), 'test-split')) AS note
  FROM generate_series(5, 8) v;

-- a version whose metrics are no jsonb object (_register_version stores any jsonb) has no metric
-- columns or points: jsonb_object_keys failed the whole page with 22023
SELECT count(mlops._register_version('odd-metrics', 'linear', 'regression', '{a}', 'y', NULL, '{}', m::jsonb, '{}',
                                     NULL, NULL, 't', 1, 1, 0, 'fp', '\x00', 'linear-json'))
  FROM unnest('{"{\"r2\": 0.5}","[1, 2]","\"text\"","{\"r2\": 0.7}"}'::text[]) m;
SELECT xml_is_well_formed_document(p) AS well_formed,
       (SELECT string_agg(m[1], ' ') FROM regexp_matches(pg_temp.section(p, 'versions'),
                                                        '<td class="num">[0-9]+</td>(?:<td[^>]*>[^<]*</td>){8}<td[^>]*>([^<]*)</td>', 'g') m) AS r2,
       pg_temp.charts(p, 'versions') AS version_charts
  FROM mlops.report('odd-metrics') p;

-- a version whose features include a NULL is refused: its report (the importance's feature
-- names), like its predict, crashed the backend, and with it the server
SELECT pg_temp.sqlstate(format($$SELECT mlops._register_version('null-feature', %L, %L, %L, %L, %L, %L, %L, %L, %L,
                                  NULL, %L, 1, 1, 0, 'fp', %L, %L)$$,
                               algorithm, task, array_prepend(NULL::text, features[2:]), target, classes, hyperparams,
                               metrics, spec, profile, source, artifact, artifact_format))
  FROM mlops.model_version WHERE model_id = mlops._model_id('cancer') AND version = 1;
SELECT pg_temp.sqlstate($$SELECT length(mlops.report('null-feature')) > 0$$);

-- a monitor run recorded with results but no version (a trainer calling _record_monitor_run) is
-- no measure of a version: the drift section draws the latest run that names one; the version
-- was read as a number whatever it was, and its NULL crashed the backend, and with it the server
SELECT mlops.create_monitor('null-version', 'diab-gone', 'diabetes_shifted') > 0 AS monitor;
SELECT r->'version' AS measured FROM mlops.run_monitor('null-version') r;
SELECT mlops._record_monitor_run('null-version', created_at, 'diab-gone', NULL,
                                 '[{"feature": "age", "value": 0.5, "drifted": true}]', NULL) ->> 'features' AS recorded
  FROM mlops.monitor WHERE name = 'null-version';
SELECT xml_is_well_formed_document(p) AS well_formed, pg_temp.charts(p, 'drift') AS histograms,
       substring(pg_temp.section(p, 'drift') FROM ', against version [0-9]+') AS measured
  FROM mlops.report('diab-gone') p;

-- a version whose profile is no profile (_register_version stores any jsonb), measured by a run
-- recorded for it: the drift section says so in place of the histograms; the profile's error
-- (22023) failed the whole page
SELECT mlops._register_version('diab-gone', algorithm, task, features, target, classes, hyperparams, metrics, spec,
                               '[1]', NULL, source, 1, 1, 0, 'fp', artifact, artifact_format) AS version
  FROM mlops.model_version WHERE model_id = mlops._model_id('diab-gone') AND version = 2;
SELECT mlops._record_monitor_run('null-version', created_at, 'diab-gone', 3,
                                 '[{"feature": "age", "value": 0.5, "drifted": true}]', NULL) ->> 'features' AS recorded
  FROM mlops.monitor WHERE name = 'null-version';
SELECT xml_is_well_formed_document(p) AS well_formed, pg_temp.charts(p, 'drift') AS histograms,
       pg_temp.notes(pg_temp.section(p, 'drift')) AS drift_note
  FROM mlops.report('diab-gone') p;
