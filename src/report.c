/*
 * report.c — the HTML reports: mlops.report_experiment(experiment, metric)
 * compares the runs of an experiment, mlops.report(model) shows a model's
 * versions, the learning curve of its featured version and its deployment
 * timeline.
 *
 * A report is one self-contained page: inline CSS and inline SVG (svg.c), no
 * script and nothing fetched (a Content-Security-Policy says so to the
 * browser). It is XHTML-compatible markup, so any XML parser reads it, and
 * every string from the database goes through MarkupEscape. Data is read
 * through mlops's views with the caller's privileges (the functions are not
 * SECURITY DEFINER), so whoever may read the views may build the reports.
 * Where there is no data for a plot, the page says so in its place.
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
#include "utils/timestamp.h"

#include "mlops/report.h"
#include "mlops/settings.h"
#include "mlops/svg.h"

/* Runs shown side by side in an experiment report: the best and the most recent others. */
#define REPORT_MAX_RUNS		50
/* Runs plotted in the metric history charts: the best and the most recent others. */
#define REPORT_MAX_SERIES	10

/* How a run is named in headers, legends and bar labels. */
#define RUN_LABEL_SQL(alias) \
	"CASE WHEN " alias ".run_name IS NULL THEN 'run #' || " alias ".run_id " \
	"ELSE " alias ".run_name || ' (#' || " alias ".run_id || ')' END"

/* Text cells longer than this many characters are clipped (params may be of any size). */
#define REPORT_MAX_CELL		200

/* How timestamps are shown. */
#define TIME_FORMAT "'YYYY-MM-DD HH24:MI:SS TZ'"

/* Metrics that pick the best run when the caller names none, in order of preference. */
#define DEFAULT_METRICS "{r2,roc_auc,f1_macro,accuracy,rmse,mse,mae,log_loss}"

/*
 * The stylesheet: readable from a 375px phone to a wide screen (charts in a
 * grid of columns at least 320px wide, SVG scaled to its column, wide tables
 * scrolled inside their box). No < or & in it, so it is valid XML text.
 */
static const char report_css[] =
"body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1b1b1b;"
"background:#fff;margin:0 auto;max-width:1200px;padding:12px}"
"h1{font-size:1.5em;margin:.3em 0;overflow-wrap:anywhere}h2{font-size:1.2em;margin:.2em 0 .5em}"
"section{border-top:2px solid #d8d8d8;margin-top:22px;padding-top:8px}"
".meta{color:#444;overflow-wrap:anywhere}.note{color:#555;font-style:italic}"
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

/* Runs a read-only query with arguments (none NULL) and returns its rows. */
static SPITupleTable *
RunQuery(const char *sql, int nargs, Oid *types, Datum *values)
{
	int			rc = SPI_execute_with_args(sql, nargs, types, values, NULL, true, 0);

	if (rc != SPI_OK_SELECT)
		elog(ERROR, "report query failed: %s", SPI_result_code_string(rc));
	return SPI_tuptable;
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
 * a finite number is shown with 6 significant digits.
 */
static void
AppendCell(StringInfo out, const char *text, bool numeric, const char *class)
{
	char	   *end;
	double		v = text && numeric ? strtod(text, &end) : 0;

	if (text && numeric && end != text && *end == '\0' && isfinite(v))
		appendStringInfo(out, "<td class=\"num%s%s\">%.6g</td>", class ? " " : "", class ? class : "", v);
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
void
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
void
ReportEnd(StringInfo out)
{
	appendStringInfoString(out, "<footer>Generated by mlops at ");
	MarkupEscape(out, timestamptz_to_str(GetCurrentStatementStartTimestamp()), 0);
	appendStringInfoString(out, ".</footer></body></html>\n");
}

/* Opens a section of the page with its heading. */
void
ReportSectionBegin(StringInfo out, const char *id, const char *heading)
{
	appendStringInfo(out, "<section id=\"%s\"><h2>", id);
	MarkupEscape(out, heading, 0);
	appendStringInfoString(out, "</h2>");
}

/* Closes a section. */
void
ReportSectionEnd(StringInfo out)
{
	appendStringInfoString(out, "</section>\n");
}

/* Says why there is no plot or table where one would be. */
void
ReportNote(StringInfo out, const char *text)
{
	appendStringInfoString(out, "<p class=\"note\">");
	MarkupEscape(out, text, 0);
	appendStringInfoString(out, "</p>");
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

/* Draws one line chart per chart key of a query's rows (see report.h); returns how many. */
int
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
			appendStringInfoString(out, "<figure><figcaption>");
			MarkupEscape(out, chart, 0);
			appendStringInfoString(out, "</figcaption>");
			chart_axes.title = chart;
			if (chart_axes.y_label == NULL)
				chart_axes.y_label = chart;
			SvgLineChart(out, &chart_axes, series, nseries);
			appendStringInfoString(out, "</figure>");
		}
		start = row;
	}
	if (charts > 0)
		appendStringInfoString(out, "</div>");
	return charts;
}

/*
 * True when a smaller value of the metric is better: its name ends with
 * "loss", "error", "mse" or "mae" (log_loss, logloss, merror, rmse, test-mae, ...).
 */
static bool
MetricLowerIsBetter(const char *metric)
{
	static const char *const suffixes[] = {"loss", "error", "mse", "mae"};
	size_t		len = strlen(metric);

	for (int i = 0; i < lengthof(suffixes); i++)
	{
		size_t		slen = strlen(suffixes[i]);

		if (len >= slen && pg_strcasecmp(metric + len - slen, suffixes[i]) == 0)
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
 * tags) of mlops.runs, one cell per run; returns how many.
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
						  "    JOIN mlops.runs v USING (run_id))"
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

		axes.title = psprintf("%s by run", metric);
		axes.x_label = metric;
		appendStringInfoString(out, "<div class=\"charts\"><figure><figcaption>");
		MarkupEscape(out, axes.title, 0);
		appendStringInfoString(out, "</figcaption>");
		SvgBarChart(out, &axes, (const char *const *) runs->labels, runs->n, &bars, 1, runs->best);
		appendStringInfoString(out, "</figure></div>");
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

/* Appends one chart per metric key logged at more than one step: one series per run. */
static void
AppendHistorySection(StringInfo out, const ReportRuns *runs)
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
	/* the best run and the most recent others, in run order */
	for (int i = runs->n - 1; i >= 0; i--)
		if (i == runs->best || nplotted < REPORT_MAX_SERIES - (runs->best > i ? 1 : 0))
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
					 " k AS (SELECT DISTINCT key FROM h GROUP BY key, run_id HAVING count(*) > 1)"
					 "SELECT h.key, " RUN_LABEL_SQL("r") ", h.step::float8, h.value, h.run_id = $2, 'line'"
					 "  FROM h JOIN k USING (key) JOIN p USING (run_id) JOIN mlops.runs r ON r.run_id = h.run_id"
					 " ORDER BY h.key, p.ord, h.step, h.logged_at",
					 2, types, values, &axes) == 0)
		ReportNote(out, "No run logged a metric at more than one step: there is no history to plot.");
	else if (nplotted < runs->n)
		ReportNote(out, psprintf("Plotted: the best run and the most recent ones, %d of %d.", nplotted, runs->n));
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
	AppendHistorySection(out, &runs);
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

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("experiment must not be null")));
	/* allocated before SPI_connect, so that the page outlives SPI_finish */
	initStringInfo(&out);
	SPI_connect();
	AppendExperimentReport(&out, text_to_cstring(PG_GETARG_TEXT_PP(0)),
						   PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1)));
	SPI_finish();
	PG_RETURN_TEXT_P(cstring_to_text_with_len(out.data, out.len));
}

/* Appends the table of versions (aliases, lineage, metrics) and one chart per metric across versions. */
static void
AppendVersionsSection(StringInfo out, const char *model, int featured)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(model)};
	SPITupleTable *versions;
	SPITupleTable *metrics;
	uint64		nversions;
	uint64		nkeys;
	SvgAxes		axes = {0};

	ReportSectionBegin(out, "versions", "Versions");
	versions = RunQuery("SELECT version, to_char(created_at, " TIME_FORMAT "), created_by::text, algorithm, task,"
					 "       array_to_string(aliases, ', '), run_id::text, train_rows::text, test_rows::text"
					 "  FROM mlops.model_versions WHERE name = $1 ORDER BY version", 1, types, values);
	nversions = SPI_processed;
	if (nversions == 0)
	{
		ReportNote(out, "This model has no versions left.");
		ReportSectionEnd(out);
		return;
	}
	metrics = RunQuery("SELECT k.key, v.metrics ->> k.key"
					"  FROM mlops.model_versions v"
					" CROSS JOIN (SELECT DISTINCT jsonb_object_keys(metrics) AS key"
					"               FROM mlops.model_versions WHERE name = $1) k"
					" WHERE v.name = $1 ORDER BY v.version, k.key", 1, types, values);
	nkeys = SPI_processed / nversions;

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
						 "SELECT k.key, k.key, v.version::float8,"
						 "       CASE WHEN jsonb_typeof(v.metrics -> k.key) = 'number'"
						 "            THEN (v.metrics ->> k.key)::float8 END, false, 'line'"
						 "  FROM mlops.model_versions v"
						 " CROSS JOIN (SELECT DISTINCT jsonb_object_keys(metrics) AS key"
						 "               FROM mlops.model_versions WHERE name = $1) k"
						 " WHERE v.name = $1 ORDER BY k.key, v.version",
						 1, types, values, &axes) == 0)
			ReportNote(out, "No version has a numeric metric.");
	}
	ReportSectionEnd(out);
}

/*
 * Appends the learning curve of the featured version: its run's metrics
 * logged at more than one step, one chart per metric, one series per data
 * split. Keys follow XGBoost's "split-metric" naming ("train-rmse",
 * "test-rmse" share the chart "rmse"); a key without "-" is its own chart.
 */
static void
AppendLearningCurveSection(StringInfo out, const char *model, int featured, const char *featured_ref)
{
	Oid			types[2] = {TEXTOID, INT4OID};
	Datum		values[2] = {CStringGetTextDatum(model), Int32GetDatum(featured)};
	SPITupleTable *rows;
	SvgAxes		axes = {0};

	ReportSectionBegin(out, "learning-curve", "Learning curve");
	if (featured == 0)
	{
		ReportNote(out, psprintf("No version is behind alias \"%s\", so there is no learning curve to show.",
								 mlops_default_alias ? mlops_default_alias : "production"));
		ReportSectionEnd(out);
		return;
	}
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
					 " k AS (SELECT key FROM h GROUP BY key HAVING count(*) > 1)"
					 "SELECT CASE WHEN strpos(key, '-') > 0 THEN substr(key, strpos(key, '-') + 1) ELSE key END,"
					 "       CASE WHEN strpos(key, '-') > 0 THEN left(key, strpos(key, '-') - 1) ELSE key END,"
					 "       step::float8, value, false, 'line'"
					 "  FROM h JOIN k USING (key) ORDER BY 1, 2, step, logged_at",
					 2, types, values, &axes) == 0)
		ReportNote(out, psprintf("Run " INT64_FORMAT " logged no per-iteration metrics (none at more than one step).",
								 DatumGetInt64(values[1])));
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
 * with the gate outcomes.
 */
static void
AppendDeploymentsSection(StringInfo out, const char *model)
{
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		values[2] = {CStringGetTextDatum(model),
	CStringGetTextDatum(mlops_default_alias ? mlops_default_alias : "production")};
	SPITupleTable *rows;
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
					 "         alias = $2 AS emphasis, 'step' AS style FROM moves"
					 "  UNION ALL"		/* each alias holds its last version to the last event */
					 "  (SELECT DISTINCT ON (alias) 0, 'alias ' || alias, (SELECT max(n) FROM d), to_version::float8,"
					 "          alias = $2, 'step' FROM moves ORDER BY alias, n DESC)"
					 "  UNION ALL"
					 "  SELECT 1, 'refused promotion', n, coalesce(to_version, from_version)::float8, false, 'points'"
					 "    FROM d WHERE refused) u"
					 " ORDER BY kind, NOT emphasis, series, n",
					 2, types, values, &axes) == 0)
	{
		ReportNote(out, "No alias of this model has ever been set.");
		ReportSectionEnd(out);
		return;
	}
	rows = RunQuery("SELECT row_number() OVER (ORDER BY id), to_char(at, " TIME_FORMAT "), alias, action,"
				 "       coalesce('v' || from_version, '-'), coalesce('v' || to_version, '-'),"
				 "       gate ->> 'promoted', gate ->> 'metric', gate ->> 'candidate', gate ->> 'incumbent',"
				 "       reason, by::text"
				 "  FROM mlops.deployments WHERE model = $1 ORDER BY id", 1, types, values);
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
	const char *alias = mlops_default_alias ? mlops_default_alias : "production";
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
	AppendDeploymentsSection(out, model);
	ReportEnd(out);
}

PG_FUNCTION_INFO_V1(report_model);

/*
 * report(model text) — a model's versions and their metrics, the learning
 * curve of its featured version and its deployment timeline, as one HTML page.
 */
Datum
report_model(PG_FUNCTION_ARGS)
{
	StringInfoData out;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("model must not be null")));
	/* allocated before SPI_connect, so that the page outlives SPI_finish */
	initStringInfo(&out);
	SPI_connect();
	AppendModelReport(&out, text_to_cstring(PG_GETARG_TEXT_PP(0)));
	SPI_finish();
	PG_RETURN_TEXT_P(cstring_to_text_with_len(out.data, out.len));
}
