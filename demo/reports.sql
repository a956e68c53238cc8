-- The demo's HTML reports, written to demo/out/ (paths are relative to the
-- directory psql runs in: scripts/demo runs it from the repository root).
--   demo/out/experiment.html   mlops.report_experiment('cancer')
--   demo/out/model.html        mlops.report('cancer'), once the demo registers that model
-- Each is one self-contained page: open it in any browser.
\set reports_quiet :QUIET
\set QUIET on
\pset format unaligned
\pset tuples_only on
\! mkdir -p demo/out
\o demo/out/experiment.html
SELECT mlops.report_experiment('cancer');
\o
SELECT EXISTS (SELECT FROM mlops.models WHERE name = 'cancer') AS has_model \gset
\if :has_model
\o demo/out/model.html
SELECT mlops.report('cancer');
\o
\echo 'Reports written: demo/out/experiment.html and demo/out/model.html (open them in a browser).'
\else
\echo 'Report written: demo/out/experiment.html (open it in a browser); no model "cancer" to report on yet.'
\endif
\pset format aligned
\pset tuples_only off
\set QUIET :reports_quiet
