/*
 * report.c — the HTML reports: mlops.report_experiment(experiment, metric)
 * compares the runs of an experiment, mlops.report(model) shows a model's
 * versions, the learning curve, test split curves and feature importance of
 * its featured version, the drift histograms of its latest monitor run and
 * its deployment timeline.
 *
 * A report is one self-contained page: inline CSS and inline SVG (svg.c), no
 * script and nothing fetched (a Content-Security-Policy says so to the
 * browser). It is XHTML-compatible markup, so any XML parser reads it, and
 * every string from the database goes through MarkupEscape. Data is read
 * through mlops's views with the caller's privileges (the functions are not
 * SECURITY DEFINER), so whoever may read the views may build the reports.
 * Where there is no data for a plot, the page says so in its place.
 *
 * The page is cut into <section id="..."> blocks. A new section of the model
 * report is a function that, inside the report's SPI connection, appends
 *
 *     ReportSectionBegin(out, "drift", "Drift");
 *     if (no data)
 *         ReportNote(out, "This model has never been monitored.");
 *     else
 *         ReportCharts(out, sql, nargs, types, values, &axes) and/or AppendBarFigure(...)
 *     ReportSectionEnd(out);
 *
 * and is called from AppendModelReport() in page order.
 */
#include "postgres.h"

#include <math.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"

#include "mlops/args.h"
#include "mlops/arrays.h"
#include "mlops/canonical_output.h"
#include "mlops/dataset.h"
#include "mlops/drift.h"
#include "mlops/evaluate.h"
#include "mlops/float_text.h"
#include "mlops/metrics.h"
#include "mlops/model_cache.h"
#include "mlops/profile.h"
#include "mlops/settings.h"
#include "mlops/source.h"
#include "mlops/svg.h"
#include "mlops/xgb.h"

/* Runs shown side by side in an experiment report: the best and the most recent others. */
#define REPORT_MAX_RUNS		50
/* Runs plotted in the metric history charts: the best and the most recent others. */
#define REPORT_MAX_SERIES	10
/* Rows of a model report's tables of versions and of deployments: the most recent ones. */
#define REPORT_MAX_HISTORY	50

/* How a run is named in headers, legends and bar labels. */
#define RUN_LABEL_SQL(alias) \
	"CASE WHEN " alias ".run_name IS NULL THEN 'run #' || " alias ".run_id " \
	"ELSE " alias ".run_name || ' (#' || " alias ".run_id || ')' END"

/* Text cells longer than this many characters are clipped (params may be of any size). */
#define REPORT_MAX_CELL		200

/* Rows of the featured version's source explained for mean |SHAP|: the first ones read. */
#define REPORT_SHAP_ROWS	500

/* Test rows scored for the ROC, precision-recall and residual plots: the first ones of the split. */
#define REPORT_MAX_TEST_ROWS	10000

/* Bars in an importance chart (the largest), categories in a drift histogram, drift charts. */
#define REPORT_MAX_BARS		30
#define REPORT_MAX_DRIFT_CHARTS 40

/*
 * How timestamps are shown, the footer's included: in the session's time zone
 * with its UTC offset (an abbreviation can be ambiguous: IST, CST), whatever
 * DateStyle says. TIME_FORMAT: the pattern as an SQL literal, for to_char.
 */
#define TIME_PATTERN "YYYY-MM-DD HH24:MI:SS OF"
#define TIME_FORMAT "'" TIME_PATTERN "'"

/* Metrics that pick the best run when the caller names none, in order of preference. */
#define DEFAULT_METRICS "{r2,roc_auc,f1_macro,accuracy,rmse,mse,mae,log_loss}"

/*
 * The stylesheet: readable from a 375px phone to a wide screen (charts in a
 * grid of columns at least 320px wide, SVG scaled to its column, wide tables
 * scrolled inside their box, a long name without spaces broken anywhere in
 * a paragraph). No < or & in it, so it is valid XML text.
 */
static const char report_css[] =
"body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1b1b1b;"
"background:#fff;margin:0 auto;max-width:1200px;padding:12px}"
"h1{font-size:1.5em;margin:.3em 0;overflow-wrap:anywhere}h2{font-size:1.2em;margin:.2em 0 .5em}"
"section{border-top:2px solid #d8d8d8;margin-top:22px;padding-top:8px}"
"p{overflow-wrap:anywhere}.meta{color:#444}.note{color:#555;font-style:italic}"
".charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,320px),1fr));gap:14px 20px}"
"figure{margin:0;min-width:0}figcaption{font-weight:600;overflow-wrap:anywhere}"
"svg.chart{display:block;width:100%;max-width:100%;height:auto}"
".scroll{overflow-x:auto;max-width:100%}"
"table{border-collapse:collapse;font-size:13px;margin:4px 0}"
"th,td{border:1px solid #d8d8d8;padding:3px 7px;text-align:left;vertical-align:top;max-width:28em;overflow-wrap:break-word}"
"thead th{background:#f2f2f2}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}"
"tr.group th{background:#f7f7f7;font-style:italic}"
".best,.featured{background:#fff1c2}.refused{color:#b00020}.promoted{color:#00703c}"
"footer{margin-top:28px;color:#777;font-size:12px}";

/*
 * Runs a read-only query with arguments (none NULL) and returns its rows.
 * A query over a source (from SourceSelect) is named as the caller names it,
 * with the caller's search_path.
 */
static SPITupleTable *
RunSourceQuery(const char *sql, int nargs, Oid *types, Datum *values)
{
	int			rc = SPI_execute_with_args(sql, nargs, types, values, NULL, true, 0);

	if (rc != SPI_OK_SELECT)
		elog(ERROR, "report query failed: %s", SPI_result_code_string(rc));
	return SPI_tuptable;
}

/*
 * Runs a read-only query of mlops's own tables and views, with search_path
 * pinned to pg_catalog, mlops, pg_temp as in mlops's SECURITY DEFINER
 * functions: the report functions keep the caller's search_path for the
 * sources they read, and a function or operator that someone created in a
 * schema on it, matching better than pg_catalog's, must not run in a report
 * as whoever reads it. extra_float_digits is pinned too, so that the numbers
 * a query gives as text (value::text) are exact whatever the reader's setting.
 */
static SPITupleTable *
RunQuery(const char *sql, int nargs, Oid *types, Datum *values)
{
	int			nest_level = NewGUCNestLevel();
	int			exact;
	SPITupleTable *rows;

	(void) set_config_option("search_path", "pg_catalog, mlops, pg_temp", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	exact = CanonicalOutputBegin(OUTPUT_FLOAT);
	rows = RunSourceQuery(sql, nargs, types, values);
	CanonicalOutputEnd(exact);
	AtEOXact_GUC(true, nest_level);
	return rows;
}

/* Column col (from 1) of row as text; NULL for SQL NULL. */
static char *
TextAt(SPITupleTable *rows, uint64 row, int col)
{
	return SPI_getvalue(rows->vals[row], rows->tupdesc, col);
}

/* Column col of row (a float8) as a double; NaN for SQL NULL. */
static double
FloatAt(SPITupleTable *rows, uint64 row, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(rows->vals[row], rows->tupdesc, col, &isnull);

	return isnull ? NAN : DatumGetFloat8(d);
}

/* Column col of row (a bigint) as an int64; 0 for SQL NULL. */
static int64
Int8At(SPITupleTable *rows, uint64 row, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(rows->vals[row], rows->tupdesc, col, &isnull);

	return isnull ? 0 : DatumGetInt64(d);
}

/* Column col of row (a boolean); false for SQL NULL. */
static bool
BoolAt(SPITupleTable *rows, uint64 row, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(rows->vals[row], rows->tupdesc, col, &isnull);

	return !isnull && DatumGetBool(d);
}

/* Appends text escaped, or a dash for NULL. */
static void
AppendText(StringInfo out, const char *text)
{
	MarkupEscape(out, text ? text : "-", 0);
}

/*
 * Appends a table cell holding text (clipped to REPORT_MAX_CELL characters);
 * a whole number below 10^15 (a count of rows, a version) is shown in full,
 * any other finite number with 6 significant digits.
 */
static void
AppendCell(StringInfo out, const char *text, bool numeric, const char *class)
{
	char	   *end;
	double		v = text && numeric ? strtod(text, &end) : 0;

	if (text && numeric && end != text && *end == '\0' && isfinite(v))
		appendStringInfo(out, v == floor(v) && fabs(v) < 1e15 ? "<td class=\"num%s%s\">%.0f</td>"
						 : "<td class=\"num%s%s\">%.6g</td>", class ? " " : "", class ? class : "", v);
	else
	{
		if (class)
			appendStringInfo(out, "<td class=\"%s\">", class);
		else
			appendStringInfoString(out, "<td>");
		MarkupEscape(out, text ? text : "-", REPORT_MAX_CELL);
		appendStringInfoString(out, "</td>");
	}
}

/* Opens the page: the head with its stylesheet and policy, then the title as <h1>. */
static void
ReportBegin(StringInfo out, const char *title)
{
	appendStringInfoString(out,
						   "<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\"><head>"
						   "<meta charset=\"utf-8\"/>"
						   "<meta http-equiv=\"Content-Security-Policy\" "
						   "content=\"default-src 'none'; style-src 'unsafe-inline'\"/>"
						   "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/><title>");
	MarkupEscape(out, title, 0);
	appendStringInfo(out, "</title><style>%s</style></head>\n<body><h1>", report_css);
	MarkupEscape(out, title, 0);
	appendStringInfoString(out, "</h1>\n");
}

/* Closes the page with a footer saying when it was generated. */
static void
ReportEnd(StringInfo out)
{
	appendStringInfoString(out, "<footer>Generated by mlops at ");
	MarkupEscape(out, TextDatumGetCString(DirectFunctionCall2(timestamptz_to_char,
															  TimestampTzGetDatum(GetCurrentStatementStartTimestamp()),
															  CStringGetTextDatum(TIME_PATTERN))), 0);
	appendStringInfoString(out, ".</footer></body></html>\n");
}

/* Opens a section of the page with its heading (id: a fixed ASCII name, not escaped). */
static void
ReportSectionBegin(StringInfo out, const char *id, const char *heading)
{
	appendStringInfo(out, "<section id=\"%s\"><h2>", id);
	MarkupEscape(out, heading, 0);
	appendStringInfoString(out, "</h2>");
}

/* Closes a section. */
static void
ReportSectionEnd(StringInfo out)
{
	appendStringInfoString(out, "</section>\n");
}

/* A note under a section: why a plot or table is missing, or what a table leaves out. */
static void
ReportNote(StringInfo out, const char *text)
{
	appendStringInfoString(out, "<p class=\"note\">");
	MarkupEscape(out, text, 0);
	appendStringInfoString(out, "</p>");
}

/* Opens a figure with its caption, which is also the accessible title of its chart. */
static void
FigureBegin(StringInfo out, const char *caption, SvgAxes *axes)
{
	axes->title = caption;
	appendStringInfoString(out, "<figure><figcaption>");
	MarkupEscape(out, caption, 0);
	appendStringInfoString(out, "</figcaption>");
}

/* Appends a figure with a line chart of the series. */
static void
AppendLineFigure(StringInfo out, const char *caption, SvgAxes *axes, const SvgSeries *series, int nseries)
{
	FigureBegin(out, caption, axes);
	SvgLineChart(out, axes, series, nseries);
	appendStringInfoString(out, "</figure>");
}

/* Appends a figure with a bar chart (see SvgBarChart). */
static void
AppendBarFigure(StringInfo out, const char *caption, SvgAxes *axes, const char *const *categories,
				int ncategories, const SvgBars *bars, int nbars, int emphasis_category)
{
	FigureBegin(out, caption, axes);
	SvgBarChart(out, axes, categories, ncategories, bars, nbars, emphasis_category);
	appendStringInfoString(out, "</figure>");
}

/* The style a query of ReportCharts names. */
static SvgStyle
ParseStyle(const char *style)
{
	if (style && strcmp(style, "step") == 0)
		return SVG_STEP;
	if (style && strcmp(style, "points") == 0)
		return SVG_POINTS;
	return SVG_LINE;
}

/*
 * Runs a read-only query returning rows (chart text, series text, x float8,
 * y float8, emphasis boolean, style text: 'line' | 'step' | 'points'), ordered
 * by chart, then series, then x, and appends one line chart per distinct chart
 * value, captioned with it (axes->y_label NULL: the chart value labels y).
 * NULL x or y break a line. Returns the number of charts drawn (0: the caller
 * says why there is none).
 */
static int
ReportCharts(StringInfo out, const char *sql, int nargs, Oid *types, Datum *values, const SvgAxes *axes)
{
	SPITupleTable *rows = RunQuery(sql, nargs, types, values);
	uint64		n = SPI_processed;
	double	   *x = palloc(sizeof(double) * (n + 1));
	double	   *y = palloc(sizeof(double) * (n + 1));
	SvgSeries  *series = palloc(sizeof(SvgSeries) * (n + 1));
	uint64		start = 0;
	int			charts = 0;

	while (start < n)
	{
		char	   *chart = TextAt(rows, start, 1);
		uint64		row = start;
		int			nseries = 0;
		bool		finite = false;
		SvgAxes		chart_axes = *axes;

		chart = chart ? chart : "";
		for (; row < n; row++)
		{
			char	   *name = TextAt(rows, row, 2);
			char	   *this_chart = TextAt(rows, row, 1);

			CHECK_FOR_INTERRUPTS();
			if (strcmp(this_chart ? this_chart : "", chart) != 0)
				break;
			name = name ? name : "";
			if (nseries == 0 || strcmp(series[nseries - 1].name, name) != 0)
			{
				series[nseries].name = name;
				series[nseries].n = 0;
				series[nseries].x = x + row;
				series[nseries].y = y + row;
				series[nseries].emphasis = BoolAt(rows, row, 5);
				series[nseries].style = ParseStyle(TextAt(rows, row, 6));
				nseries++;
			}
			x[row] = FloatAt(rows, row, 3);
			y[row] = FloatAt(rows, row, 4);
			finite |= isfinite(x[row]) && isfinite(y[row]);
			series[nseries - 1].n++;
		}
		if (finite)
		{
			if (charts++ == 0)
				appendStringInfoString(out, "<div class=\"charts\">");
			if (chart_axes.y_label == NULL)
				chart_axes.y_label = chart;
			AppendLineFigure(out, chart, &chart_axes, series, nseries);
		}
		start = row;
	}
	if (charts > 0)
		appendStringInfoString(out, "</div>");
	return charts;
}

/*
 * True when a smaller value of the metric is better: its name ends with
 * "loss", "error", "mse" or "mae" (log_loss, logloss, merror, rmse,
 * test-mae, ...), or one of XGBoost's other such metrics, "rmsle", "mape",
 * "mphe", "nloglik" (poisson-nloglik, ...) or "deviance"; XGBoost's
 * threshold or cut-off ("error@0.6", "ndcg@3") is not part of the name.
 */
static bool
MetricLowerIsBetter(const char *metric)
{
	static const char *const suffixes[] = {"loss", "error", "mse", "mae", "rmsle", "mape", "mphe", "nloglik",
	"deviance"};
	const char *at = strrchr(metric, '@');
	size_t		len = strlen(metric);

	if (at && at[1] != '\0' && strspn(at + 1, "0123456789.-") == strlen(at + 1))
		len = at - metric;

	for (int i = 0; i < lengthof(suffixes); i++)
	{
		size_t		slen = strlen(suffixes[i]);

		if (len >= slen && pg_strncasecmp(metric + len - slen, suffixes[i], slen) == 0)
			return true;
	}
	return false;
}

/* An int8[] datum of the ids. */
static Datum
IdArray(const int64 *ids, int n)
{
	Datum	   *elems = palloc(sizeof(Datum) * (n + 1));

	for (int i = 0; i < n; i++)
		elems[i] = Int64GetDatum(ids[i]);
	return PointerGetDatum(construct_array(elems, n, INT8OID, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/* The runs an experiment report shows. */
typedef struct ReportRuns
{
	int			n;
	int64	   *ids;
	char	  **labels;
	char	  **status;
	char	  **started;
	char	  **duration;
	double	   *value;			/* of the metric that picks the best run (NaN: none) */
	int			best;			/* index of the best run, or -1 */
} ReportRuns;

/*
 * Appends table rows, one per key of the jsonb column (params, metrics or
 * tags) of mlops.runs, one cell per run; returns how many. The runs are
 * restricted by id on the view itself: joined to the ids only, the view may
 * be planned as a hash join that computes the latest metrics of every run in
 * the database first.
 */
static int
AppendKeyRows(StringInfo out, const char *column, const ReportRuns *runs, bool numeric)
{
	Oid			types[1] = {INT8ARRAYOID};
	Datum		values[1] = {IdArray(runs->ids, runs->n)};
	SPITupleTable *rows;
	uint64		n;

	rows = RunQuery(psprintf("WITH r AS MATERIALIZED ("
						  "  SELECT s.ord, v.%s AS kv"
						  "    FROM unnest($1::bigint[]) WITH ORDINALITY AS s(run_id, ord)"
						  "    JOIN mlops.runs v USING (run_id) WHERE v.run_id = ANY ($1))"
						  "SELECT k.key, r.kv ->> k.key"
						  "  FROM (SELECT DISTINCT jsonb_object_keys(kv) AS key FROM r) k CROSS JOIN r"
						  " ORDER BY k.key, r.ord", column),
				 1, types, values);
	n = SPI_processed;
	for (uint64 row = 0; row < n; row++)
	{
		int			col = row % runs->n;

		CHECK_FOR_INTERRUPTS();
		if (col == 0)
		{
			appendStringInfoString(out, "<tr><th>");
			AppendText(out, TextAt(rows, row, 1));
			appendStringInfoString(out, "</th>");
		}
		AppendCell(out, TextAt(rows, row, 2), numeric, col == runs->best ? "best" : NULL);
		if (col == runs->n - 1)
			appendStringInfoString(out, "</tr>");
	}
	return (int) (n / runs->n);
}

/* Appends a row of the runs table under a group heading, saying the group is empty when it is. */
static void
AppendKeyGroup(StringInfo out, const char *heading, const char *column, const ReportRuns *runs, bool numeric)
{
	appendStringInfo(out, "<tr class=\"group\"><th colspan=\"%d\">", runs->n + 1);
	MarkupEscape(out, heading, 0);
	appendStringInfoString(out, "</th></tr>");
	if (AppendKeyRows(out, column, runs, numeric) == 0)
		appendStringInfo(out, "<tr><td colspan=\"%d\" class=\"note\">none</td></tr>", runs->n + 1);
}

/* Appends the section naming the best run, with a bar chart of the metric across the runs. */
static void
AppendBestRunSection(StringInfo out, const ReportRuns *runs, const char *metric, bool lower)
{
	int			finite = 0;

	ReportSectionBegin(out, "best-run", "Best run");
	if (runs->n == 0)
	{
		ReportNote(out, "This experiment has no runs.");
		ReportSectionEnd(out);
		return;
	}
	if (metric == NULL)
	{
		ReportNote(out, "No run logged any of the metrics r2, roc_auc, f1_macro, accuracy, rmse, mse, mae "
				   "or log_loss, so no run is highlighted: pass the metric to compare runs on.");
		ReportSectionEnd(out);
		return;
	}
	if (runs->best < 0)
		ReportNote(out, psprintf("No finished run has a finite value of metric \"%s\", so no run is highlighted.",
								 metric));
	else
	{
		appendStringInfoString(out, "<p>Best run by <b>");
		MarkupEscape(out, metric, 0);
		appendStringInfo(out, "</b> (%s is better): <b class=\"best\">", lower ? "lower" : "higher");
		MarkupEscape(out, runs->labels[runs->best], 0);
		appendStringInfo(out, "</b> with %.6g.</p>", runs->value[runs->best]);
	}
	for (int i = 0; i < runs->n; i++)
		finite += isfinite(runs->value[i]);
	if (finite > 0)
	{
		SvgAxes		axes = {0};
		SvgBars		bars = {metric, runs->value};

		axes.x_label = metric;
		appendStringInfoString(out, "<div class=\"charts\">");
		AppendBarFigure(out, psprintf("%s by run", metric), &axes, (const char *const *) runs->labels, runs->n,
						&bars, 1, runs->best);
		appendStringInfoString(out, "</div>");
	}
	ReportSectionEnd(out);
}

/* Appends the runs side by side: one column per run, the best one highlighted. */
static void
AppendRunsSection(StringInfo out, const ReportRuns *runs, int64 total)
{
	ReportSectionBegin(out, "runs", "Runs side by side");
	if (runs->n == 0)
	{
		ReportNote(out, "This experiment has no runs.");
		ReportSectionEnd(out);
		return;
	}
	if (total > runs->n)
		ReportNote(out, psprintf("Showing the best run and the most recent ones: %d of " INT64_FORMAT " runs.",
								 runs->n, total));
	appendStringInfoString(out, "<div class=\"scroll\"><table><thead><tr><th>run</th>");
	for (int i = 0; i < runs->n; i++)
	{
		appendStringInfoString(out, i == runs->best ? "<th class=\"best\">" : "<th>");
		MarkupEscape(out, runs->labels[i], 0);
		if (i == runs->best)
			appendStringInfoString(out, " &#x2605; best");
		appendStringInfoString(out, "</th>");
	}
	appendStringInfoString(out, "</tr></thead><tbody>");
	appendStringInfoString(out, "<tr><th>status</th>");
	for (int i = 0; i < runs->n; i++)
		AppendCell(out, runs->status[i], false, i == runs->best ? "best" : NULL);
	appendStringInfoString(out, "</tr><tr><th>started</th>");
	for (int i = 0; i < runs->n; i++)
		AppendCell(out, runs->started[i], false, i == runs->best ? "best" : NULL);
	appendStringInfoString(out, "</tr><tr><th>duration</th>");
	for (int i = 0; i < runs->n; i++)
		AppendCell(out, runs->duration[i], false, i == runs->best ? "best" : NULL);
	appendStringInfoString(out, "</tr>");
	AppendKeyGroup(out, "params", "params", runs, false);
	AppendKeyGroup(out, "metrics (latest value)", "metrics", runs, true);
	AppendKeyGroup(out, "tags", "tags", runs, false);
	appendStringInfoString(out, "</tbody></table></div>");
	ReportSectionEnd(out);
}

/*
 * Appends one chart per metric key logged at more than one step: one series
 * per plotted run, out of the experiment's total runs.
 */
static void
AppendHistorySection(StringInfo out, const ReportRuns *runs, int64 total)
{
	int64	   *plotted = palloc(sizeof(int64) * (runs->n + 1));
	int			nplotted = 0;
	Oid			types[2] = {INT8ARRAYOID, INT8OID};
	Datum		values[2];
	SvgAxes		axes = {0};

	ReportSectionBegin(out, "metric-history", "Metric history");
	if (runs->n == 0)
	{
		ReportNote(out, "This experiment has no runs.");
		ReportSectionEnd(out);
		return;
	}
	/*
	 * the best run and the most recent others, in run order: walking from the
	 * most recent, a slot is kept for the best run while it is still ahead
	 */
	for (int i = runs->n - 1; i >= 0; i--)
		if (i == runs->best || nplotted < REPORT_MAX_SERIES - (runs->best >= 0 && runs->best < i ? 1 : 0))
			plotted[nplotted++] = runs->ids[i];
	for (int i = 0; i < nplotted / 2; i++)
	{
		int64		swap = plotted[i];

		plotted[i] = plotted[nplotted - 1 - i];
		plotted[nplotted - 1 - i] = swap;
	}
	values[0] = IdArray(plotted, nplotted);
	values[1] = Int64GetDatum(runs->best >= 0 ? runs->ids[runs->best] : 0);
	axes.x_label = "step (iteration)";
	axes.x_integer = true;
	if (ReportCharts(out,
					 "WITH p AS (SELECT * FROM unnest($1::bigint[]) WITH ORDINALITY AS p(run_id, ord)),"
					 " h AS MATERIALIZED (SELECT m.run_id, m.key, m.step, m.value, m.logged_at"
					 "                      FROM mlops.metric_history m WHERE m.run_id = ANY ($1)),"
					 " k AS (SELECT DISTINCT key FROM h GROUP BY key, run_id HAVING count(DISTINCT step) > 1)"
					 "SELECT h.key, " RUN_LABEL_SQL("r") ", h.step::float8, h.value, h.run_id = $2, 'line'"
					 "  FROM h JOIN k USING (key) JOIN p USING (run_id) JOIN mlops.runs r ON r.run_id = h.run_id"
					 " ORDER BY h.key, p.ord, h.step, h.logged_at",
					 2, types, values, &axes) == 0)
		ReportNote(out, "No run logged a metric at more than one step: there is no history to plot.");
	else if (nplotted < total)
		ReportNote(out, psprintf("Plotted: the best run and the most recent ones, %d of " INT64_FORMAT " runs.",
								 nplotted, total));
	ReportSectionEnd(out);
}

/* Builds the experiment report (inside SPI). */
static void
AppendExperimentReport(StringInfo out, const char *experiment, const char *metric)
{
	Oid			types[3] = {TEXTOID, TEXTOID, INT8OID};
	Datum		values[3];
	SPITupleTable *rows;
	int64		total;
	int64		best_id = 0;
	bool		lower = false;
	ReportRuns	runs;

	values[0] = CStringGetTextDatum(experiment);
	rows = RunQuery("SELECT runs, to_char(created_at, " TIME_FORMAT "), created_by::text"
				 "  FROM mlops.experiments WHERE name = $1", 1, types, values);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("experiment \"%s\" does not exist", experiment)));
	total = Int8At(rows, 0, 1);
	ReportBegin(out, psprintf("Experiment %s", experiment));
	appendStringInfo(out, "<p class=\"meta\">" INT64_FORMAT " run%s; created ", total, total == 1 ? "" : "s");
	AppendText(out, TextAt(rows, 0, 2));
	appendStringInfoString(out, " by ");
	AppendText(out, TextAt(rows, 0, 3));
	appendStringInfoString(out, ".</p>\n");

	if (metric == NULL)
	{
		values[1] = CStringGetTextDatum(DEFAULT_METRICS);
		rows = RunQuery("SELECT c.key FROM unnest($2::text[]) WITH ORDINALITY AS c(key, ord)"
					 " WHERE EXISTS (SELECT FROM mlops.runs r WHERE r.experiment = $1 AND r.metrics ? c.key)"
					 " ORDER BY c.ord LIMIT 1", 2, types, values);
		if (SPI_processed > 0)
			metric = TextAt(rows, 0, 1);
	}
	if (metric != NULL)
	{
		lower = MetricLowerIsBetter(metric);
		values[1] = CStringGetTextDatum(metric);
		rows = RunQuery(psprintf("SELECT run_id FROM mlops.runs"
							  " WHERE experiment = $1 AND status = 'finished' AND jsonb_typeof(metrics -> $2) = 'number'"
							  " ORDER BY (metrics ->> $2)::float8 %s, run_id LIMIT 1", lower ? "ASC" : "DESC"),
					 2, types, values);
		if (SPI_processed > 0)
			best_id = Int8At(rows, 0, 1);
	}
	else
		values[1] = CStringGetTextDatum("");	/* no run has a metric with an empty key */

	values[2] = Int64GetDatum(best_id);
	rows = RunQuery("SELECT r.run_id, " RUN_LABEL_SQL("r") ", r.status, to_char(r.started_at, " TIME_FORMAT "),"
				 "       round(extract(epoch FROM r.duration)::numeric, 1)::text || ' s',"
				 "       CASE WHEN jsonb_typeof(r.metrics -> $2) = 'number' THEN (r.metrics ->> $2)::float8 END"
				 "  FROM mlops.runs r"
				 " WHERE r.experiment = $1"
				 "   AND (r.run_id = $3 OR r.run_id IN (SELECT run_id FROM mlops.runs WHERE experiment = $1"
				 "                                        ORDER BY run_id DESC LIMIT " CppAsString2(REPORT_MAX_RUNS) "))"
				 " ORDER BY r.run_id", 3, types, values);
	runs.n = (int) SPI_processed;
	runs.ids = palloc(sizeof(int64) * (runs.n + 1));
	runs.labels = palloc(sizeof(char *) * (runs.n + 1));
	runs.status = palloc(sizeof(char *) * (runs.n + 1));
	runs.started = palloc(sizeof(char *) * (runs.n + 1));
	runs.duration = palloc(sizeof(char *) * (runs.n + 1));
	runs.value = palloc(sizeof(double) * (runs.n + 1));
	runs.best = -1;
	for (int i = 0; i < runs.n; i++)
	{
		runs.ids[i] = Int8At(rows, i, 1);
		runs.labels[i] = TextAt(rows, i, 2);
		runs.status[i] = TextAt(rows, i, 3);
		runs.started[i] = TextAt(rows, i, 4);
		runs.duration[i] = TextAt(rows, i, 5);
		runs.value[i] = FloatAt(rows, i, 6);
		if (runs.ids[i] == best_id)
			runs.best = i;
	}

	AppendBestRunSection(out, &runs, metric, lower);
	AppendRunsSection(out, &runs, total);
	AppendHistorySection(out, &runs, total);
	ReportEnd(out);
}

PG_FUNCTION_INFO_V1(report_experiment);

/*
 * report_experiment(experiment text, metric text DEFAULT NULL) — the runs of
 * an experiment side by side, the best one by the metric highlighted, and
 * their metric histories, as one HTML page.
 */
Datum
report_experiment(PG_FUNCTION_ARGS)
{
	StringInfoData out;

	RequireArg(fcinfo, 0, "experiment");
	/* allocated before SPI_connect, so that the page outlives SPI_finish */
	initStringInfo(&out);
	SPI_connect();
	AppendExperimentReport(&out, text_to_cstring(PG_GETARG_TEXT_PP(0)),
						   PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1)));
	SPI_finish();
	PG_RETURN_TEXT_P(cstring_to_text_with_len(out.data, out.len));
}

/* The versions a model report's table lists ($1 the model, $2 the featured version): it and the most recent ones. */
#define TABLE_VERSIONS_SQL(alias) \
	alias ".name = $1 AND (" alias ".version = $2 OR " alias ".version IN (" \
	"SELECT version FROM mlops.model_versions WHERE name = $1" \
	" ORDER BY version DESC LIMIT " CppAsString2(REPORT_MAX_HISTORY) "))"

/*
 * The names of a version's metrics: none when they are no jsonb object (a
 * trainer calling _register_version may store an array or a scalar, on which
 * jsonb_object_keys fails the page with 22023).
 */
#define METRIC_KEYS_SQL(metrics) \
	"jsonb_object_keys(CASE WHEN jsonb_typeof(" metrics ") = 'object' THEN " metrics " END)"

/*
 * Appends the table of versions (aliases, lineage, metrics) — the featured
 * version and the most recent others, so that the page of a model retrained
 * for years stays readable — and one chart per metric across every version.
 */
static void
AppendVersionsSection(StringInfo out, const char *model, int featured)
{
	Oid			types[2] = {TEXTOID, INT4OID};
	Datum		values[2] = {CStringGetTextDatum(model), Int32GetDatum(featured)};
	SPITupleTable *versions;
	SPITupleTable *metrics;
	int64		total;
	uint64		nversions;
	uint64		nkeys;
	SvgAxes		axes = {0};

	ReportSectionBegin(out, "versions", "Versions");
	total = Int8At(RunQuery("SELECT count(*) FROM mlops.model_versions WHERE name = $1", 1, types, values), 0, 1);
	/* version as bigint: Int8At reads it to find the featured row */
	versions = RunQuery("SELECT version::bigint, to_char(created_at, " TIME_FORMAT "), created_by::text, algorithm, task,"
					 "       nullif(array_to_string(aliases, ', '), ''), run_id::text, train_rows::text, test_rows::text"
					 "  FROM mlops.model_versions v WHERE " TABLE_VERSIONS_SQL("v") " ORDER BY version",
					 2, types, values);
	nversions = SPI_processed;
	if (nversions == 0)
	{
		ReportNote(out, "This model has no versions left.");
		ReportSectionEnd(out);
		return;
	}
	metrics = RunQuery("SELECT k.key, v.metrics ->> k.key"
					"  FROM mlops.model_versions v"
					" CROSS JOIN (SELECT DISTINCT " METRIC_KEYS_SQL("s.metrics") " AS key"
					"               FROM mlops.model_versions s WHERE " TABLE_VERSIONS_SQL("s") ") k"
					" WHERE " TABLE_VERSIONS_SQL("v") " ORDER BY v.version, k.key", 2, types, values);
	nkeys = SPI_processed / nversions;
	if (total > (int64) nversions)
		ReportNote(out, psprintf("The table shows the featured version and the most recent ones: " UINT64_FORMAT
								 " of " INT64_FORMAT " versions (the charts below show them all).",
								 nversions, total));

	appendStringInfoString(out, "<div class=\"scroll\"><table><thead><tr><th>version</th><th>created</th>"
						   "<th>by</th><th>algorithm</th><th>task</th><th>aliases</th><th>run</th>"
						   "<th>train rows</th><th>test rows</th>");
	for (uint64 k = 0; k < nkeys; k++)
	{
		appendStringInfoString(out, "<th>");
		AppendText(out, TextAt(metrics, k, 1));
		appendStringInfoString(out, "</th>");
	}
	appendStringInfoString(out, "</tr></thead><tbody>");
	for (uint64 v = 0; v < nversions; v++)
	{
		bool		is_featured = Int8At(versions, v, 1) == featured;

		CHECK_FOR_INTERRUPTS();
		appendStringInfoString(out, is_featured ? "<tr class=\"featured\">" : "<tr>");
		for (int col = 1; col <= 9; col++)
			AppendCell(out, TextAt(versions, v, col), col == 1 || col >= 8, NULL);
		for (uint64 k = 0; k < nkeys; k++)
			AppendCell(out, TextAt(metrics, v * nkeys + k, 2), true, NULL);
		appendStringInfoString(out, "</tr>");
	}
	appendStringInfoString(out, "</tbody></table></div>");

	appendStringInfoString(out, "<h3>Metrics across versions</h3>");
	if (nversions < 2)
		ReportNote(out, "This model has one version: metrics across versions need at least two.");
	else
	{
		axes.x_label = "version";
		axes.x_integer = true;
		if (ReportCharts(out,
						 /*
						  * a number float8 cannot hold (1e400) is not plotted; one
						  * too small for it (1e-400) is 0, as float8 would round it
						  */
						 "SELECT k.key, k.key, v.version::float8,"
						 "       CASE WHEN jsonb_typeof(v.metrics -> k.key) = 'number'"
						 "             AND abs((v.metrics ->> k.key)::numeric) <= 1.7976931348623157e308"
						 "            THEN round((v.metrics ->> k.key)::numeric, 320)::float8 END, false, 'line'"
						 "  FROM mlops.model_versions v"
						 " CROSS JOIN (SELECT DISTINCT " METRIC_KEYS_SQL("metrics") " AS key"
						 "               FROM mlops.model_versions WHERE name = $1) k"
						 " WHERE v.name = $1 ORDER BY k.key, v.version",
						 1, types, values, &axes) == 0)
			ReportNote(out, "No version has a numeric metric.");
	}
	ReportSectionEnd(out);
}

/*
 * When no version is featured (featured 0: none behind mlops.default_alias),
 * says so in place of `what` and closes the section; returns whether it did.
 */
static bool
NoFeaturedVersion(StringInfo out, int featured, const char *what)
{
	if (featured != 0)
		return false;
	ReportNote(out, psprintf("No version is behind alias \"%s\", so there is no %s to show.",
							 mlops_default_alias, what));
	ReportSectionEnd(out);
	return true;
}

/*
 * Appends the learning curve of the featured version: its run's metrics
 * logged at more than one step, one chart per metric, one series per data
 * split. Keys follow XGBoost's "split-metric" naming ("train-rmse",
 * "test-rmse" share the chart "rmse"); a key without a "-" between two
 * names ("rmse", "-loss") is its own chart, whole.
 */
static void
AppendLearningCurveSection(StringInfo out, const char *model, int featured, const char *featured_ref)
{
	Oid			types[2] = {TEXTOID, INT4OID};
	Datum		values[2] = {CStringGetTextDatum(model), Int32GetDatum(featured)};
	SPITupleTable *rows;
	SvgAxes		axes = {0};

	ReportSectionBegin(out, "learning-curve", "Learning curve");
	if (NoFeaturedVersion(out, featured, "learning curve"))
		return;
	rows = RunQuery("SELECT run_id FROM mlops.model_versions WHERE name = $1 AND version = $2", 2, types, values);
	if (SPI_processed == 0 || Int8At(rows, 0, 1) == 0)
	{
		ReportNote(out, psprintf("Version %d (%s) was not trained in a run (imported, or registered without one): "
								 "there are no per-iteration metrics.", featured, featured_ref));
		ReportSectionEnd(out);
		return;
	}
	types[1] = INT8OID;
	values[1] = Int64GetDatum(Int8At(rows, 0, 1));
	appendStringInfo(out, "<p class=\"meta\">Version %d (", featured);
	MarkupEscape(out, featured_ref, 0);
	appendStringInfo(out, "), run " INT64_FORMAT ".</p>", DatumGetInt64(values[1]));
	axes.x_label = "iteration (step)";
	axes.x_integer = true;
	if (ReportCharts(out,
					 "WITH h AS MATERIALIZED (SELECT key, step, value, logged_at FROM mlops.metric_history"
					 "                         WHERE run_id = $2),"
					 " k AS (SELECT key FROM h GROUP BY key HAVING count(DISTINCT step) > 1),"
					 " s AS (SELECT key, CASE WHEN strpos(key, '-') BETWEEN 2 AND length(key) - 1"
					 "                        THEN strpos(key, '-') END AS dash FROM k)"
					 "SELECT coalesce(substr(key, dash + 1), key), coalesce(left(key, dash - 1), key),"
					 "       step::float8, value, false, 'line'"
					 "  FROM h JOIN s USING (key) ORDER BY 1, 2, step, logged_at",
					 2, types, values, &axes) == 0)
		ReportNote(out, psprintf("Run " INT64_FORMAT " logged no per-iteration metrics (none at more than one step).",
								 DatumGetInt64(values[1])));
	ReportSectionEnd(out);
}

/*
 * Runs fn(arg) in a subtransaction and returns true, or, when it raises an
 * error (a source dropped or not readable by the caller, a corrupt artifact),
 * rolls it back and returns false with the error's message, so that the page
 * says it in place of the plot. A cancelled query is not caught.
 */
static bool
ReportTry(void (*fn) (void *), void *arg, char **message)
{
	MemoryContext oldcontext = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	volatile bool ok = true;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcontext);
	PG_TRY();
	{
		fn(arg);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcontext);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
		if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED)
			ReThrowError(edata);
		*message = edata->message;
		ok = false;
	}
	PG_END_TRY();
	return ok;
}

/* Sorting features by importance, largest first (ties by position). */
typedef struct RankedValue
{
	const char *name;
	double		value;
	int			position;
} RankedValue;

/* qsort order of ranked values: largest first, ties in their original order. */
static int
CompareRanked(const void *a, const void *b)
{
	const RankedValue *x = a;
	const RankedValue *y = b;

	if (x->value != y->value)
		return x->value > y->value ? -1 : 1;
	return x->position - y->position;
}

/*
 * Appends a figure: a bar chart of one value per feature, the largest
 * REPORT_MAX_BARS first (the caption says when some are left out).
 */
static void
AppendRankedBars(StringInfo out, const char *caption, const char *x_label,
				 const char *const *names, const double *values, int n)
{
	RankedValue *ranked = palloc(sizeof(RankedValue) * (n + 1));
	const char **labels = palloc(sizeof(char *) * (n + 1));
	double	   *sorted = palloc(sizeof(double) * (n + 1));
	int			shown = Min(n, REPORT_MAX_BARS);
	SvgAxes		axes = {0};
	SvgBars		bars;

	for (int i = 0; i < n; i++)
	{
		ranked[i].name = names[i];
		ranked[i].value = isfinite(values[i]) ? values[i] : 0;
		ranked[i].position = i;
	}
	qsort(ranked, n, sizeof(RankedValue), CompareRanked);
	for (int i = 0; i < shown; i++)
	{
		labels[i] = ranked[i].name;
		sorted[i] = ranked[i].value;
	}
	if (shown < n)
		caption = psprintf("%s (the %d largest of %d)", caption, shown, n);
	axes.x_label = x_label;
	bars.name = x_label;
	bars.values = sorted;
	AppendBarFigure(out, caption, &axes, labels, shown, &bars, 1, -1);
}

/* The elements of a text[] column as C strings, NULL for SQL NULL; sets *n. */
static char **
TextArrayAt(SPITupleTable *rows, uint64 row, int col, int *n)
{
	bool		isnull;
	Datum		d = SPI_getbinval(rows->vals[row], rows->tupdesc, col, &isnull);

	*n = 0;
	return isnull ? NULL : TextArrayElements(d, n);
}

/* The elements of a float8[] column as doubles (NULL elements: NaN), NULL for SQL NULL; sets *n. */
static double *
FloatArrayAt(SPITupleTable *rows, uint64 row, int col, int *n)
{
	bool		isnull;
	Datum		d = SPI_getbinval(rows->vals[row], rows->tupdesc, col, &isnull);

	*n = 0;
	return isnull ? NULL : Float8ArrayElements(d, n);
}

/*
 * The reference profile frozen with a version ('name:version'): a List of
 * FeatureProfile *, NIL when it has none. A subquery looks the version up by
 * model and version: a join with the resolution may be planned as a scan of
 * every version of the model.
 */
static List *
VersionProfile(const char *ref)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(ref)};
	SPITupleTable *rows = RunQuery("SELECT (SELECT p.profile FROM mlops.model_profiles p"
								   "         WHERE p.name = r.model AND p.version = r.version)"
								   "  FROM mlops.resolve_model($1) r",
								   1, types, values);
	bool		isnull = true;
	Datum		d = SPI_processed > 0 ? SPI_getbinval(rows->vals[0], rows->tupdesc, 1, &isnull) : (Datum) 0;

	return isnull ? NIL : ProfileFromJsonb(DatumGetJsonbP(d));
}

/*
 * The standard deviation in the reference profile of a linear model's term of
 * input `name`: the feature's for a numeric term (category NULL), sqrt(p(1-p))
 * of the indicator of `category` (p: its fraction); NaN when unknown. The
 * term's input is the loader's (ScoringModel's term_input), not read from the
 * term's name, which cannot tell a numeric feature "a=b" from the indicator
 * of category "b" of a feature "a".
 */
static double
TermStd(List *profile, const char *name, const char *category)
{
	ListCell   *lc;

	foreach(lc, profile)
	{
		FeatureProfile *f = lfirst(lc);

		if (strcmp(f->name, name) != 0)
			continue;
		if (f->count == 0 || (f->kind == FEATURE_NUMERIC) != (category == NULL))
			return NAN;
		if (category == NULL)
			return f->std;
		for (int c = 0; c < f->ncategories; c++)
			if (strcmp(category, f->categories[c]) == 0)
			{
				double		p = (double) f->counts[c] / f->count;

				return sqrt(p * (1 - p));
			}
		return 0;
	}
	return NAN;
}

/* What the model-based importance needs (the pinned version, its features) and yields. */
typedef struct ModelImportance
{
	const char *ref;			/* 'name:version' */
	char	  **features;
	int			nfeatures;
	bool		trees;			/* total gain of an XGBoost model (else scaled |coef|) */
	char	  **names;			/* what the values are of: features, or a linear model's terms */
	int			nnames;
	double	   *values;
	bool		scaled;			/* linear: |coef| scaled by the term's std */
} ModelImportance;

/*
 * Reads the version's artifact (mlops._model_artifact) and computes its
 * importance: total gain of an XGBoost booster (loaded into a context of its
 * own, freed at the end), or the linear terms' |coef| (see TermStd), a
 * ReportTry function: a corrupt artifact becomes a note.
 */
static void
ComputeModelImportance(void *arg)
{
	ModelImportance *m = arg;
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(m->ref)};
	SPITupleTable *art = RunQuery("SELECT a.artifact_format, a.artifact, r.model_id, r.version::bigint, r.model"
								  "  FROM mlops.resolve_model($1) r, mlops._model_artifact(r.model_id, r.version) a",
								  1, types, values);
	char	   *format = TextAt(art, 0, 1);

	m->trees = format && strncmp(format, "xgboost", 7) == 0;
	if (m->trees)
	{
		bool		isnull;
		bytea	   *artifact = DatumGetByteaPP(SPI_getbinval(art->vals[0], art->tupdesc, 2, &isnull));
		MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "report booster", ALLOCSET_SMALL_SIZES);
		BoosterHandle booster = XgbLoad(format, VARDATA_ANY(artifact), VARSIZE_ANY_EXHDR(artifact), 0, cxt);

		m->names = m->features;
		m->nnames = m->nfeatures;
		m->values = palloc(sizeof(double) * (m->nfeatures + 1));
		XgbFeatureScores(booster, "total_gain", (const char *const *) m->features, m->nfeatures, m->values);
		MemoryContextDelete(cxt);
	}
	else
	{
		/* decoded as scoring decodes it: each term's input and category known by position */
		ScoringModel *sm = ModelCacheGet(ModelPinCreate(CurrentMemoryContext), ModelRegistryOid(),
										 Int8At(art, 0, 3), (int32) Int8At(art, 0, 4), TextAt(art, 0, 5));
		List	   *profile;

		if (sm->kind != SCORING_LINEAR || sm->nterms == 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("the %s artifact has no coefficients", format ? format : "model's")));
		m->names = sm->terms;
		m->nnames = sm->nterms;
		m->values = palloc0(sizeof(double) * m->nnames);
		profile = VersionProfile(m->ref);
		m->scaled = profile != NIL;
		for (int t = 0; t < m->nnames; t++)
		{
			const ScoringInput *in = &sm->inputs[sm->term_input[t]];
			double		std = m->scaled ? TermStd(profile, in->name, sm->term_category[t] < 0 ? NULL
											  : in->categories[sm->term_category[t]]) : 1;

			for (int o = 0; o < sm->noutputs; o++)
				m->values[t] += fabs(sm->coef[(size_t) o * m->nnames + t]) * std;
		}
	}
}

/* What mean |SHAP| needs: the pinned version, its source and features; the result. */
typedef struct ShapImportance
{
	const char *ref;			/* 'name:version' */
	const char *source;
	Datum		features;		/* text[] */
	int			nfeatures;
	double	   *mean;
	int64		rows;
} ShapImportance;

/*
 * Explains the first REPORT_SHAP_ROWS rows of the version's source with
 * mlops.explain (read with the caller's privileges) and averages each
 * feature's |contribution| (a ReportTry function).
 */
static void
ComputeMeanShap(void *arg)
{
	ShapImportance *s = arg;
	Oid			types[2] = {TEXTOID, TEXTARRAYOID};
	Datum		values[2] = {CStringGetTextDatum(s->ref), s->features};
	SPITupleTable *rows;
	int			level = SourceScanOrderBegin();	/* the same first rows every time */

	rows = RunSourceQuery(psprintf("WITH e AS MATERIALIZED (%s LIMIT %d)"
								   "SELECT avg(abs((e.e -> 'contributions' ->> f.name)::float8)), count(e.e)"
								   "  FROM unnest($2::text[]) WITH ORDINALITY AS f(name, n) CROSS JOIN e"
								   " GROUP BY f.n ORDER BY f.n",
								   SourceSelect(s->source, "mlops.explain($1, source.*) AS e"), REPORT_SHAP_ROWS),
						  2, types, values);
	AtEOXact_GUC(true, level);
	s->rows = SPI_processed > 0 ? Int8At(rows, 0, 2) : 0;
	s->mean = palloc(sizeof(double) * (s->nfeatures + 1));
	for (int i = 0; i < s->nfeatures; i++)
		s->mean[i] = i < (int) SPI_processed ? FloatAt(rows, i, 1) : NAN;
}

/*
 * Appends the feature importance of the featured version: total gain for
 * XGBoost models, scaled |coef| for linear ones, and the mean |SHAP| value of
 * each feature over the first rows of the version's source.
 */
static void
AppendImportanceSection(StringInfo out, const char *model, int featured)
{
	Oid			types[2] = {TEXTOID, INT4OID};
	Datum		values[2] = {CStringGetTextDatum(model), Int32GetDatum(featured)};
	SPITupleTable *rows;
	char	   *source;
	char	   *message;
	ShapImportance shap = {0};
	ModelImportance imp = {0};
	bool		isnull;

	ReportSectionBegin(out, "importance", "Feature importance");
	if (NoFeaturedVersion(out, featured, "feature importance"))
		return;
	rows = RunQuery("SELECT source, features FROM mlops.model_versions WHERE name = $1 AND version = $2",
					2, types, values);
	source = TextAt(rows, 0, 1);
	imp.ref = psprintf("%s:%d", model, featured);
	imp.features = TextArrayAt(rows, 0, 2, &imp.nfeatures);
	appendStringInfo(out, "<p class=\"meta\">Version %d, %d features.</p><div class=\"charts\">",
					 featured, imp.nfeatures);

	if (!ReportTry(ComputeModelImportance, &imp, &message))
		ReportNote(out, psprintf("The importance could not be computed from the version's artifact: %s", message));
	else if (imp.trees)
		AppendRankedBars(out, "Total gain", "total gain (loss reduction over all splits)",
						 (const char *const *) imp.names, imp.values, imp.nnames);
	else
		AppendRankedBars(out, imp.scaled ? "|coef| x std of the term" : "|coef|",
						 imp.scaled ? "|coefficient| x standard deviation" : "|coefficient|",
						 (const char *const *) imp.names, imp.values, imp.nnames);

	if (source == NULL)
		ReportNote(out, psprintf("Version %d records no source (imported), so there are no rows to compute "
								 "mean |SHAP| values on.", featured));
	else
	{
		shap.ref = imp.ref;
		shap.source = source;
		shap.features = SPI_getbinval(rows->vals[0], rows->tupdesc, 2, &isnull);
		shap.nfeatures = imp.nfeatures;
		if (!ReportTry(ComputeMeanShap, &shap, &message))
			ReportNote(out, psprintf("The version's source \"%s\" could not be explained for mean |SHAP| values: %s",
									 source, message));
		else if (shap.rows == 0)
			ReportNote(out, psprintf("The version's source \"%s\" has no rows to compute mean |SHAP| values on.",
									 source));
		else
			AppendRankedBars(out, psprintf("Mean |SHAP| over the first " INT64_FORMAT " rows of the source",
										   shap.rows),
							 "mean |SHAP value| (margin units)", (const char *const *) imp.features, shap.mean,
							 imp.nfeatures);
	}
	appendStringInfoString(out, "</div>");
	ReportSectionEnd(out);
}

/* What scoring the featured version's test split needs, and what it yields. */
typedef struct TestSplit
{
	const char *ref;			/* 'name:version', the pinned version */
	const char *source;
	const char *target;
	bool		classification;
	int			nclasses;		/* the version's classes */
	double		test_fraction;
	int			seed;
	int64		n;				/* test rows scored */
	int64		total;			/* test rows in the split */
	double	   *y;				/* regression: the target */
	int		   *label;			/* classification: the version's class index */
	double	   *pred;			/* regression: the prediction; classification: n × nclasses probabilities */
	char	   *fingerprint;	/* of the source now */
} TestSplit;

/*
 * Reads the test split of the version's source as train() drew it (same
 * loader, test_fraction and seed) and scores its first REPORT_MAX_TEST_ROWS
 * rows with the pinned version as evaluate() does: the source's categories
 * and classes mapped to the version's by text and value, whatever they are
 * now (a ReportTry function).
 */
static void
ScoreTestSplit(void *arg)
{
	TestSplit  *t = arg;
	EvalModel  *e;
	Dataset    *ds = EvalPrepare(&t->ref, 1, t->source, NULL, t->test_fraction, t->seed, NULL, CurrentMemoryContext, &e);
	int64		cap = Min(ds->test_rows, REPORT_MAX_TEST_ROWS);
	int			width = EvalModelWidth(e);
	DatasetScan *scan;
	DatasetBatch *b;

	t->total = ds->test_rows;
	t->y = palloc(sizeof(double) * (cap + 1));
	t->label = palloc(sizeof(int) * (cap + 1));
	t->pred = palloc(sizeof(double) * (cap * width + 1));
	/*
	 * A full scan, keeping its test rows: a test-only scan cannot be the
	 * first one (it skips the training rows the fingerprint counts); no test
	 * scan follows, so the loader need not keep them too.
	 */
	DatasetForgoTestCache(ds);
	scan = DatasetBeginScan(ds);
	while ((b = DatasetNextBatch(scan)) != NULL)
	{
		for (int i = 0; i < b->nrows && t->n < cap; i++)
		{
			CHECK_FOR_INTERRUPTS();
			if (!b->is_test[i])
				continue;
			t->y[t->n] = b->y[i];
			EvalModelScoreRow(e, ds, b, i, t->pred + t->n * width, &t->label[t->n]);
			t->n++;
		}
	}
	DatasetEndScan(scan);
	t->fingerprint = ds->fingerprint;
}

/*
 * Appends the ROC and precision-recall curves of the scored test rows: of the
 * positive class (classes[1]) for a binary model, one-vs-rest per class for a
 * multiclass one; a diagonal line marks chance on the ROC chart.
 */
static void
AppendClassificationCurves(StringInfo out, const TestSplit *t, const double *classes)
{
	int			first = t->nclasses == 2 ? 1 : 0;
	int			ncurves = t->nclasses - first;
	SvgSeries  *roc = palloc0(sizeof(SvgSeries) * (ncurves + 1));
	SvgSeries  *pr = palloc0(sizeof(SvgSeries) * (ncurves + 1));
	double	   *score = palloc(sizeof(double) * (t->n + 1));
	bool	   *positive = palloc(sizeof(bool) * (t->n + 1));
	static const double diagonal[2] = {0, 1};
	int			drawn = 0;
	SvgAxes		axes = {0};

	for (int c = first; c < t->nclasses; c++)
	{
		double	   *fpr = palloc(sizeof(double) * (t->n + 1));
		double	   *tpr = palloc(sizeof(double) * (t->n + 1));
		double	   *precision = palloc(sizeof(double) * (t->n + 1));
		double	   *recall = palloc(sizeof(double) * (t->n + 1));
		int			points;

		for (int64 i = 0; i < t->n; i++)
		{
			score[i] = t->pred[i * t->nclasses + c];
			positive[i] = t->label[i] == c;
		}
		points = BinaryCurves(score, positive, t->n, fpr, tpr, precision, recall);
		if (points == 0)
			continue;
		/* the label in full: 6 significant digits spell 1000001 and 1000002 alike */
		roc[drawn].name = pr[drawn].name = psprintf("class %s", Float8ExactText(classes[c]));
		roc[drawn].n = pr[drawn].n = points;
		roc[drawn].x = fpr;
		roc[drawn].y = tpr;
		pr[drawn].x = recall;
		pr[drawn].y = precision;
		roc[drawn].emphasis = pr[drawn].emphasis = ncurves == 1;
		drawn++;
	}
	if (drawn == 0)
	{
		ReportNote(out, "The scored test rows hold one class only: ROC and precision-recall curves need both "
				   "positive and negative rows.");
		return;
	}
	roc[drawn].name = "chance";
	roc[drawn].n = 2;
	roc[drawn].x = diagonal;
	roc[drawn].y = diagonal;
	appendStringInfoString(out, "<div class=\"charts\">");
	axes.x_label = "false positive rate";
	axes.y_label = "true positive rate (recall)";
	AppendLineFigure(out, ncurves == 1 ? "ROC curve" : "ROC curves (one class vs the rest)", &axes, roc, drawn + 1);
	axes.x_label = "recall";
	axes.y_label = "precision";
	AppendLineFigure(out, ncurves == 1 ? "Precision-recall curve" : "Precision-recall curves (one class vs the rest)",
					 &axes, pr, drawn);
	appendStringInfoString(out, "</div>");
}

/* Appends the residual plot of the scored test rows: actual minus predicted against predicted, and zero. */
static void
AppendResidualPlot(StringInfo out, const TestSplit *t)
{
	double	   *residual = palloc(sizeof(double) * (t->n + 1));
	double		zero_x[2] = {INFINITY, -INFINITY};
	static const double zero_y[2] = {0, 0};
	SvgSeries	series[2] = {{0}};
	SvgAxes		axes = {0};

	for (int64 i = 0; i < t->n; i++)
	{
		residual[i] = t->y[i] - t->pred[i];
		if (isfinite(t->pred[i]))
		{
			zero_x[0] = Min(zero_x[0], t->pred[i]);
			zero_x[1] = Max(zero_x[1], t->pred[i]);
		}
	}
	if (!isfinite(zero_x[0]))
	{
		ReportNote(out, "No test row has a finite prediction.");
		return;
	}
	series[0].name = "test rows";
	series[0].n = (int) t->n;
	series[0].x = t->pred;
	series[0].y = residual;
	series[0].style = SVG_POINTS;
	series[1].name = "zero";
	series[1].n = 2;
	series[1].x = zero_x;
	series[1].y = zero_y;
	axes.x_label = psprintf("predicted %s", t->target);
	axes.y_label = "residual (actual - predicted)";
	appendStringInfoString(out, "<div class=\"charts\">");
	AppendLineFigure(out, "Residuals", &axes, series, 2);
	appendStringInfoString(out, "</div>");
}

/*
 * Appends the featured version's quality on its test split: ROC and
 * precision-recall curves for classification, a residual plot for
 * regression. The split is drawn again from the version's source with the
 * test_fraction and seed its run recorded (the loader's split is a hash of
 * each row's content: the same rows as in training while the source is
 * unchanged, which the data fingerprint tells), and scored with the pinned
 * version.
 */
static void
AppendTestSplitSection(StringInfo out, const char *model, int featured)
{
	Oid			types[2] = {TEXTOID, INT4OID};
	Datum		values[2] = {CStringGetTextDatum(model), Int32GetDatum(featured)};
	SPITupleTable *rows;
	TestSplit	t = {0};
	int			nclasses;
	double	   *classes;
	char	   *message;

	ReportSectionBegin(out, "test-split", "Test split");
	if (NoFeaturedVersion(out, featured, "test split"))
		return;
	/*
	 * the run's test_fraction and seed as train() writes them, else NULL
	 * (mlops._run_split: a run linked to a version by _register_version may
	 * hold any text there, which a cast would fail the page on)
	 */
	rows = RunQuery("SELECT v.source, v.target, v.task = 'classification', v.classes,"
					"       p.test_fraction, p.seed, v.data_fingerprint"
					"  FROM mlops.model_versions v LEFT JOIN mlops.runs r USING (run_id),"
					"       LATERAL mlops._run_split(r.params) p"
					" WHERE v.name = $1 AND v.version = $2", 2, types, values);
	t.source = TextAt(rows, 0, 1);
	t.target = TextAt(rows, 0, 2);
	t.classification = BoolAt(rows, 0, 3);
	t.test_fraction = FloatAt(rows, 0, 5);
	if (t.source == NULL || t.target == NULL || !isfinite(t.test_fraction) || TextAt(rows, 0, 6) == NULL)
	{
		ReportNote(out, psprintf("Version %d was not trained by mlops.train (imported, or registered without a "
								 "source and a run recording test_fraction and seed): there is no test split.",
								 featured));
		ReportSectionEnd(out);
		return;
	}
	if (t.test_fraction <= 0)
	{
		ReportNote(out, psprintf("Version %d was trained with test_fraction 0: there is no test split.", featured));
		ReportSectionEnd(out);
		return;
	}
	t.seed = pg_strtoint32(TextAt(rows, 0, 6));
	t.ref = psprintf("%s:%d", model, featured);
	classes = FloatArrayAt(rows, 0, 4, &nclasses);
	t.nclasses = nclasses;
	if (!ReportTry(ScoreTestSplit, &t, &message))
	{
		ReportNote(out, psprintf("The test split of the version's source \"%s\" could not be scored: %s",
								 t.source, message));
		ReportSectionEnd(out);
		return;
	}
	appendStringInfo(out, "<p class=\"meta\">Version %d on ", featured);
	MarkupEscape(out, t.source, 0);
	appendStringInfo(out, ": " INT64_FORMAT " test rows (test_fraction %g, seed %d)", t.total, t.test_fraction,
					 t.seed);
	if (t.n < t.total)
		appendStringInfo(out, ", the first " INT64_FORMAT " scored", t.n);
	appendStringInfoString(out, ".</p>");
	if (t.fingerprint && TextAt(rows, 0, 7) && strcmp(t.fingerprint, TextAt(rows, 0, 7)) != 0)
		ReportNote(out, "The source has changed since training (its data fingerprint differs): these are the "
				   "rows that fall in the test split now.");
	if (t.n == 0)
		ReportNote(out, "The test split has no rows.");
	else if (t.classification)
		AppendClassificationCurves(out, &t, classes);
	else
		AppendResidualPlot(out, &t);
	ReportSectionEnd(out);
}

/* What the current drift histograms need: the monitor's source, the reference; the current profiles. */
typedef struct CurrentProfiles
{
	const char *source;
	List	   *names;
	List	   *profiles;
} CurrentProfiles;

/* The reference profile of a version ('name:version') and what VersionProfile read. */
typedef struct ReferenceProfile
{
	const char *ref;
	List	   *profile;
} ReferenceProfile;

/*
 * Reads a version's reference profile (a ReportTry function): one that is no
 * profile (_register_version stores any jsonb) becomes a note.
 */
static void
ReadReferenceProfile(void *arg)
{
	ReferenceProfile *r = arg;

	r->profile = VersionProfile(r->ref);
}

/* Profiles the monitor's source now, every value kept (a ReportTry function). */
static void
ComputeCurrentProfiles(void *arg)
{
	CurrentProfiles *c = arg;

	c->profiles = ProfileSource(c->source, c->names, 0, 0, 0);
}

/*
 * Significant digits for the inner edges (the ones bin labels show): at
 * least 4, every digit of their integer part below 10^15, and as many as
 * tell neighbouring edges apart: a feature of epoch seconds has edges such
 * as 1700000000 and 1700000010, which 4 digits would both spell 1.7e+09.
 */
static int
EdgeDigits(const double *edges, int nedges)
{
	int			digits = 4;

	for (int i = 1; i + 1 < nedges; i++)
	{
		double		gap = i + 2 < nedges ? edges[i + 1] - edges[i] : 0;
		double		largest = fabs(edges[i]);

		if (largest >= 1 && largest < 1e15)
			digits = Max(digits, (int) floor(log10(largest)) + 1);
		largest = Max(largest, fabs(edges[i + 1]));
		if (gap > 0 && isfinite(gap) && largest > 0)
			digits = Max(digits, Min(17, (int) floor(log10(largest)) - (int) floor(log10(gap)) + 1));
	}
	return digits;
}

/*
 * The label of quantile bin i of nbins on the edges, with that many
 * significant digits: "<= e1", "e1 to e2", "> e8".
 */
static char *
BinLabel(const double *edges, int nedges, int i, int digits)
{
	int			nbins = ProfileBins(nedges);

	if (nbins == 1)
		return "all values";
	if (i == 0)
		return psprintf("<= %.*g", digits, edges[1]);
	if (i == nbins - 1)
		return psprintf("> %.*g", digits, edges[nedges - 2]);
	return psprintf("%.*g to %.*g", digits, edges[i], digits, edges[i + 1]);
}

/* Appends one feature's histogram: reference and current fractions, bin by bin (or category by category). */
static void
AppendDriftHistogram(StringInfo out, const FeatureProfile *ref, const FeatureProfile *cur, int version)
{
	const char **labels;
	double	   *r;
	double	   *c;
	int			n;
	SvgAxes		axes = {0};
	SvgBars		bars[2];
	char	   *caption;

	if (ref->kind == FEATURE_NUMERIC)
	{
		int			digits = EdgeDigits(ref->edges, ref->nedges);

		n = ProfileBins(ref->nedges);
		labels = palloc(sizeof(char *) * n);
		for (int i = 0; i < n; i++)
			labels[i] = BinLabel(ref->edges, ref->nedges, i, digits);
		r = ref->fractions;
		c = palloc(sizeof(double) * n);
		DriftBinFractions(ref, cur, c);
		caption = psprintf("%s (reference deciles)", ref->name);
	}
	else
	{
		n = DriftCategoryFractions(ref, cur, &labels, &r, &c);
		caption = n > REPORT_MAX_BARS ?
			psprintf("%s (the first %d of %d categories)", ref->name, REPORT_MAX_BARS, n) : ref->name;
		n = Min(n, REPORT_MAX_BARS);
	}
	bars[0].name = psprintf("reference (v%d)", version);
	bars[0].values = r;
	bars[1].name = "current";
	bars[1].values = c;
	axes.x_label = "fraction of rows";
	AppendBarFigure(out, caption, &axes, labels, n, bars, 2, -1);
}

/*
 * Appends the table of a monitor's latest metric per feature (mlops.drift_status),
 * drifted rows marked. A ks monitor's threshold is a p-value: its rows show
 * the statistic, then the p-value beside the threshold it is compared with.
 */
static void
AppendDriftTable(StringInfo out, const char *monitor)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(monitor)};
	SPITupleTable *rows = RunQuery("SELECT feature, metric, value::text, p_value::text, threshold::text,"
								   "       CASE WHEN drifted THEN 'drifted' WHEN NOT drifted THEN 'no' END"
								   "  FROM mlops.drift_status WHERE monitor = $1"
								   " ORDER BY drifted IS NOT TRUE, feature", 1, types, values);
	bool		ks = SPI_processed > 0 && strcmp(TextAt(rows, 0, 2), "ks") == 0;

	appendStringInfoString(out, "<div class=\"scroll\"><table><thead><tr><th>feature</th><th>metric</th>");
	appendStringInfoString(out, ks ? "<th>statistic</th><th>p-value</th><th>threshold (p-value below)</th>"
						   : "<th>value</th><th>threshold</th>");
	appendStringInfoString(out, "<th>drifted</th></tr></thead><tbody>");
	for (uint64 row = 0; row < SPI_processed; row++)
	{
		bool		drifted = TextAt(rows, row, 6) && strcmp(TextAt(rows, row, 6), "drifted") == 0;

		CHECK_FOR_INTERRUPTS();
		appendStringInfoString(out, "<tr>");
		for (int col = 1; col <= 6; col++)
			if (col != 4 || ks)
				AppendCell(out, TextAt(rows, row, col), col >= 3 && col <= 5, col == 6 && drifted ? "refused" : NULL);
		appendStringInfoString(out, "</tr>");
	}
	appendStringInfoString(out, "</tbody></table></div>");
}

/*
 * Appends the drift of the model's latest monitor run: per feature, the
 * reference histogram (the bins frozen in the measured version's profile)
 * beside the current one (the monitor's source read now and binned on the
 * reference's edges, as psi and js bin it), then the monitor's latest metric
 * per feature. Monitor runs store the metric values, not the histograms, so
 * the current histograms are of the source as it is when the page is built.
 */
static void
AppendDriftSection(StringInfo out, const char *model)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(model)};
	SPITupleTable *rows;
	char	   *monitor;
	int			version;
	List	   *reference;
	CurrentProfiles current = {0};
	ReferenceProfile stored = {0};
	char	   *message;
	bool		deleted;
	bool		readable;
	ListCell   *lr,
			   *lc;
	int			charts = 0;

	ReportSectionBegin(out, "drift", "Drift");
	rows = RunQuery("SELECT d.monitor, m.source, d.version, m.metric, to_char(d.at, " TIME_FORMAT "),"
					"       EXISTS (SELECT FROM mlops.model_profiles p"
					"                WHERE p.name = d.model AND p.version = d.version)"
					"  FROM mlops.drift_results d JOIN mlops.monitors m ON m.name = d.monitor"
					/* a run _record_monitor_run recorded without a version measured none */
					" WHERE d.model = $1 AND d.version IS NOT NULL ORDER BY d.run_id DESC LIMIT 1",
					1, types, values);
	if (SPI_processed == 0)
	{
		ReportNote(out, "This model has never been monitored: no monitor run recorded drift for it "
				   "(see mlops.create_monitor and mlops.run_monitor).");
		ReportSectionEnd(out);
		return;
	}
	monitor = TextAt(rows, 0, 1);
	current.source = TextAt(rows, 0, 2);
	version = pg_strtoint32(TextAt(rows, 0, 3));
	appendStringInfoString(out, "<p class=\"meta\">Latest run of monitor ");
	MarkupEscape(out, monitor, 0);
	appendStringInfoString(out, " (");
	MarkupEscape(out, TextAt(rows, 0, 4), 0);
	appendStringInfoString(out, ") at ");
	MarkupEscape(out, TextAt(rows, 0, 5), 0);
	appendStringInfo(out, ", against version %d; source ", version);
	MarkupEscape(out, current.source, 0);
	appendStringInfoString(out, ".</p>");

	/* the version the run measured may have been deleted since (its runs and results stay) */
	deleted = strcmp(TextAt(rows, 0, 6), "t") != 0;
	stored.ref = psprintf("%s:%d", model, version);
	readable = deleted || ReportTry(ReadReferenceProfile, &stored, &message);
	reference = stored.profile;
	foreach(lr, reference)
		current.names = lappend(current.names, ((FeatureProfile *) lfirst(lr))->name);
	if (deleted)
		ReportNote(out, psprintf("Version %d, which that run measured, has since been deleted: "
								 "no histograms to compare.", version));
	else if (!readable)
		ReportNote(out, psprintf("The reference profile of version %d could not be read: %s", version, message));
	else if (reference == NIL)
		ReportNote(out, psprintf("Version %d has no reference profile: no histograms to compare.", version));
	else if (!ReportTry(ComputeCurrentProfiles, &current, &message))
		ReportNote(out, psprintf("The monitor's source could not be read for the current histograms: %s", message));
	else
	{
		appendStringInfoString(out, "<div class=\"charts\">");
		forboth(lr, reference, lc, current.profiles)
		{
			FeatureProfile *ref = lfirst(lr);
			FeatureProfile *cur = lfirst(lc);

			CHECK_FOR_INTERRUPTS();
			if (ref->kind != cur->kind || ref->count == 0 || cur->count == 0 ||
				charts >= REPORT_MAX_DRIFT_CHARTS)
				continue;
			AppendDriftHistogram(out, ref, cur, version);
			charts++;
		}
		appendStringInfoString(out, "</div>");
		if (charts == 0)
			ReportNote(out, "No feature has values on both sides to draw.");
		else if (charts < list_length(reference))
			ReportNote(out, psprintf("Histograms of %d of %d features (the others have no values on a side, "
									 "changed kind, or are past the first %d).",
									 charts, list_length(reference), REPORT_MAX_DRIFT_CHARTS));
	}
	AppendDriftTable(out, monitor);
	ReportSectionEnd(out);
}

/* Appends the gate outcome of a deployment (promoted, metric, candidate, incumbent) as a cell. */
static void
AppendGateCell(StringInfo out, SPITupleTable *rows, uint64 row)
{
	char	   *promoted = TextAt(rows, row, 7);
	char	   *metric = TextAt(rows, row, 8);

	if (promoted == NULL)
	{
		appendStringInfoString(out, "<td>-</td>");
		return;
	}
	appendStringInfo(out, "<td class=\"%s\">%s", strcmp(promoted, "true") == 0 ? "promoted" : "refused",
					 strcmp(promoted, "true") == 0 ? "promoted" : "refused");
	if (metric)
	{
		appendStringInfoString(out, ": ");
		MarkupEscape(out, metric, 0);
		appendStringInfoString(out, " candidate ");
		AppendText(out, TextAt(rows, row, 9));
		appendStringInfoString(out, " vs incumbent ");
		AppendText(out, TextAt(rows, row, 10));
	}
	appendStringInfoString(out, "</td>");
}

/*
 * Appends the deployment timeline: a step chart of the version behind each
 * alias, event by event (refused promotions as points), and the history table
 * of the most recent events with the gate outcomes.
 */
static void
AppendDeploymentsSection(StringInfo out, const char *model)
{
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		values[2] = {CStringGetTextDatum(model), CStringGetTextDatum(mlops_default_alias)};
	SPITupleTable *rows;
	int64		total;
	SvgAxes		axes = {0};

	ReportSectionBegin(out, "deployments", "Deployment timeline");
	axes.x_label = "deployment event (#)";
	axes.y_label = "version";
	axes.x_integer = true;
	axes.y_integer = true;
	if (ReportCharts(out,
					 "WITH d AS (SELECT row_number() OVER (ORDER BY id)::float8 AS n, alias, action,"
					 "                  from_version, to_version,"
					 "                  coalesce(gate ->> 'promoted' = 'false', false) OR action = 'refused' AS refused"
					 "             FROM mlops.deployments WHERE model = $1),"
					 " moves AS (SELECT * FROM d WHERE NOT refused)"
					 "SELECT 'Versions behind each alias', series, n, version, emphasis, style FROM ("
					 "  SELECT 0 AS kind, 'alias ' || alias AS series, n, to_version::float8 AS version,"
					 "         alias = $2 AS emphasis, 'step' AS style, 1 AS sub FROM moves"
					 "  UNION ALL"		/* a deleted alias holds its version up to the delete, then breaks */
					 "  SELECT 0, 'alias ' || alias, n, from_version::float8, alias = $2, 'step', 0"
					 "    FROM moves WHERE action = 'delete'"
					 "  UNION ALL"		/* each alias holds its last version to the last event */
					 "  (SELECT DISTINCT ON (alias) 0, 'alias ' || alias, (SELECT max(n) FROM d), to_version::float8,"
					 "          alias = $2, 'step', 2 FROM moves ORDER BY alias, n DESC)"
					 "  UNION ALL"
					 "  SELECT 1, 'refused promotion', n, coalesce(to_version, from_version)::float8, false, 'points', 1"
					 "    FROM d WHERE refused) u"
					 " ORDER BY kind, NOT emphasis, series, n, sub",
					 2, types, values, &axes) == 0)
	{
		ReportNote(out, "No alias of this model has ever been set.");
		ReportSectionEnd(out);
		return;
	}
	total = Int8At(RunQuery("SELECT count(*) FROM mlops.deployments WHERE model = $1", 1, types, values), 0, 1);
	rows = RunQuery("SELECT * FROM ("
				 "SELECT row_number() OVER (ORDER BY id) AS n, to_char(at, " TIME_FORMAT "), alias, action,"
				 "       coalesce('v' || from_version, '-'), coalesce('v' || to_version, '-'),"
				 "       gate ->> 'promoted', gate ->> 'metric', gate ->> 'candidate', gate ->> 'incumbent',"
				 "       reason, by::text"
				 "  FROM mlops.deployments WHERE model = $1"
				 " ORDER BY id DESC LIMIT " CppAsString2(REPORT_MAX_HISTORY) ") d ORDER BY n", 1, types, values);
	if (total > (int64) SPI_processed)
		ReportNote(out, psprintf("The table shows the most recent events: " UINT64_FORMAT " of " INT64_FORMAT
								 " (the chart shows them all).", SPI_processed, total));
	appendStringInfoString(out, "<div class=\"scroll\"><table><thead><tr><th>#</th><th>when</th><th>alias</th>"
						   "<th>action</th><th>from</th><th>to</th><th>gate</th><th>reason</th><th>by</th>"
						   "</tr></thead><tbody>");
	for (uint64 row = 0; row < SPI_processed; row++)
	{
		CHECK_FOR_INTERRUPTS();
		appendStringInfoString(out, "<tr>");
		for (int col = 1; col <= 6; col++)
			AppendCell(out, TextAt(rows, row, col), col == 1, NULL);
		AppendGateCell(out, rows, row);
		AppendCell(out, TextAt(rows, row, 11), false, NULL);
		AppendCell(out, TextAt(rows, row, 12), false, NULL);
		appendStringInfoString(out, "</tr>");
	}
	appendStringInfoString(out, "</tbody></table></div>");
	ReportSectionEnd(out);
}

/*
 * Builds the model report (inside SPI). ref is a model name — the report then
 * features the version behind mlops.default_alias, if any — or a reference
 * 'name@alias' / 'name:version' featuring that version.
 */
static void
AppendModelReport(StringInfo out, const char *ref)
{
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		values[2];
	SPITupleTable *rows;
	char	   *model = (char *) ref;
	char	   *featured_ref;
	int			featured = 0;
	const char *alias = mlops_default_alias;
	const char *models_sql =
		"SELECT (aliases ->> $2)::int, description, latest_version::text,"
		"       (SELECT string_agg(key || ' (v' || value || ')', ', ' ORDER BY key) FROM jsonb_each_text(aliases)),"
		"       to_char(created_at, " TIME_FORMAT "), created_by::text"
		"  FROM mlops.models WHERE name = $1";

	values[0] = CStringGetTextDatum(ref);
	values[1] = CStringGetTextDatum(alias);
	rows = RunQuery(models_sql, 2, types, values);
	if (SPI_processed > 0)
	{
		char	   *v = TextAt(rows, 0, 1);

		featured = v ? pg_strtoint32(v) : 0;
		featured_ref = psprintf("%s@%s", model, alias);
	}
	else
	{
		/* not a model name: a reference with an alias or version (42704 when it names nothing) */
		rows = RunQuery("SELECT model, version FROM mlops.resolve_model($1)", 1, types, values);
		model = TextAt(rows, 0, 1);
		featured = pg_strtoint32(TextAt(rows, 0, 2));
		featured_ref = (char *) ref;
		values[0] = CStringGetTextDatum(model);
		rows = RunQuery(models_sql, 2, types, values);
	}

	ReportBegin(out, psprintf("Model %s", model));
	appendStringInfoString(out, "<p class=\"meta\">");
	if (TextAt(rows, 0, 2))
	{
		MarkupEscape(out, TextAt(rows, 0, 2), 0);
		appendStringInfoString(out, "<br/>");
	}
	appendStringInfoString(out, "Latest version ");
	AppendText(out, TextAt(rows, 0, 3));
	appendStringInfoString(out, "; aliases: ");
	AppendText(out, TextAt(rows, 0, 4) ? TextAt(rows, 0, 4) : "none");
	appendStringInfoString(out, "; created ");
	AppendText(out, TextAt(rows, 0, 5));
	appendStringInfoString(out, " by ");
	AppendText(out, TextAt(rows, 0, 6));
	appendStringInfoString(out, ".<br/>");
	if (featured > 0)
	{
		values[1] = Int32GetDatum(featured);
		types[1] = INT4OID;
		rows = RunQuery("SELECT algorithm, task, target, cardinality(features)::text, array_to_string(features, ', ')"
						"  FROM mlops.model_versions WHERE name = $1 AND version = $2", 2, types, values);
		/* an alias outlives its version where its foreign key does not fire (session_replication_role = replica) */
		if (SPI_processed == 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("version %d of model \"%s\" does not exist", featured, model),
					 errdetail("Alias \"%s\" points at it.", alias)));
		appendStringInfo(out, "This report features version %d (", featured);
		MarkupEscape(out, featured_ref, 0);
		appendStringInfoString(out, "): ");
		AppendText(out, TextAt(rows, 0, 1));
		appendStringInfoString(out, " ");
		AppendText(out, TextAt(rows, 0, 2));
		appendStringInfoString(out, " of ");
		AppendText(out, TextAt(rows, 0, 3));
		appendStringInfoString(out, " on ");
		AppendText(out, TextAt(rows, 0, 4));
		appendStringInfoString(out, " features (");
		AppendText(out, TextAt(rows, 0, 5));
		appendStringInfoString(out, ").");
	}
	else
	{
		appendStringInfoString(out, "No version is behind alias ");
		MarkupEscape(out, alias, 0);
		appendStringInfoString(out, ".");
	}
	appendStringInfoString(out, "</p>\n");

	AppendVersionsSection(out, model, featured);
	AppendLearningCurveSection(out, model, featured, featured_ref);
	AppendTestSplitSection(out, model, featured);
	AppendImportanceSection(out, model, featured);
	AppendDriftSection(out, model);
	AppendDeploymentsSection(out, model);
	ReportEnd(out);
}

PG_FUNCTION_INFO_V1(report_model);

/*
 * report(model text) — a model's versions and their metrics, the learning
 * curve, the test split's ROC and precision-recall curves or residuals and
 * the feature importance of its featured version, its drift and its
 * deployment timeline, as one HTML page.
 */
Datum
report_model(PG_FUNCTION_ARGS)
{
	StringInfoData out;

	RequireArg(fcinfo, 0, "model");
	/* allocated before SPI_connect, so that the page outlives SPI_finish */
	initStringInfo(&out);
	SPI_connect();
	AppendModelReport(&out, text_to_cstring(PG_GETARG_TEXT_PP(0)));
	SPI_finish();
	PG_RETURN_TEXT_P(cstring_to_text_with_len(out.data, out.len));
}
