/*
 * report.h — building blocks of the HTML reports (mlops.report,
 * mlops.report_experiment): a self-contained page (inline CSS and SVG, no
 * script, nothing fetched), cut into <section id="..."> blocks, each filled
 * from the registry through SPI.
 *
 * A new section of the model report is a function that, inside the report's
 * SPI connection, appends
 *
 *     ReportSectionBegin(out, "drift", "Drift");
 *     if (no data)
 *         ReportNote(out, "This model has never been monitored.");
 *     else
 *         ReportCharts(out, sql, nargs, types, values, &axes) and/or SvgBarChart(...)
 *     ReportSectionEnd(out);
 *
 * and is called from report_model() in report.c in page order.
 */
#ifndef MLOPS_REPORT_H
#define MLOPS_REPORT_H

#include "postgres.h"

#include "lib/stringinfo.h"

#include "mlops/svg.h"

/* Opens the page: doctype, head (title, stylesheet, a policy forbidding scripts and fetches), <body>. */
extern void ReportBegin(StringInfo out, const char *title);

/* Closes the page, with a footer saying when it was generated. */
extern void ReportEnd(StringInfo out);

/* Opens <section id="id"> with its <h2> heading (id: a fixed ASCII name, not escaped). */
extern void ReportSectionBegin(StringInfo out, const char *id, const char *heading);

/* Closes a section. */
extern void ReportSectionEnd(StringInfo out);

/* Says, in place of a plot or table, why there is none. */
extern void ReportNote(StringInfo out, const char *text);

/*
 * Runs a read-only query returning rows (chart text, series text, x float8,
 * y float8, emphasis boolean, style text: 'line' | 'step' | 'points'), ordered
 * by chart, then series, then x, and appends one line chart per distinct chart
 * value, captioned with it (axes->y_label NULL: the chart value labels y).
 * NULL x or y break a line. Returns the number of charts drawn (0: the caller
 * says why there is none).
 */
extern int	ReportCharts(StringInfo out, const char *sql, int nargs, Oid *types, Datum *values,
						 const SvgAxes *axes);

#endif
