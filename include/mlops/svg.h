/*
 * svg.h — small SVG charts for the HTML reports, written into a StringInfo.
 *
 * Every chart is an <svg> element sized by its viewBox only (CSS makes it as
 * wide as its container), with linear axes on "nice" ticks, axis labels and a
 * legend. The markup is XML-compatible, so a report is also well-formed XHTML.
 * Data elements carry class "series" (lines; "series markers" for a series'
 * markers, one path of dots) or "bar" (bars), which the browser test counts.
 * Every piece of text goes through MarkupEscape.
 */
#ifndef MLOPS_SVG_H
#define MLOPS_SVG_H

#include "postgres.h"

#include "lib/stringinfo.h"

/* How a series is drawn. */
typedef enum SvgStyle
{
	SVG_LINE,					/* straight segments between points */
	SVG_STEP,					/* horizontal then vertical: a value held until the next point */
	SVG_POINTS					/* markers only (scatter) */
} SvgStyle;

/* One series of a line chart; a non-finite y breaks the line there. */
typedef struct SvgSeries
{
	const char *name;			/* legend text */
	int			n;
	const double *x;
	const double *y;
	SvgStyle	style;
	bool		emphasis;		/* drawn heavier (e.g. the best run) */
} SvgSeries;

/* One series of a bar chart: one value per category (non-finite: no bar). */
typedef struct SvgBars
{
	const char *name;
	const double *values;
} SvgBars;

/* Axis labels (with units where there are any) of a chart. */
typedef struct SvgAxes
{
	const char *title;			/* accessible name of the chart (<title>) */
	const char *x_label;
	const char *y_label;
	bool		x_integer;		/* x counts something (steps, versions): integer ticks only */
	bool		y_integer;		/* y counts something: integer ticks only */
} SvgAxes;

/*
 * Appends text escaped for HTML/XML character data and attribute values: the
 * five markup characters as entities, every non-ASCII character as a numeric
 * reference (so the page is ASCII whatever the database and client encodings),
 * and control characters XML does not allow, non-characters, and the bidi
 * embedding, override and isolate controls (which would reorder the text
 * after the string), as U+FFFD. max_chars > 0 clips the text to that many
 * characters, with an ellipsis; returns whether it did.
 */
extern bool MarkupEscape(StringInfo out, const char *text, int max_chars);

/* Appends a line chart of the series (at least one finite point among them, else elog). */
extern void SvgLineChart(StringInfo out, const SvgAxes *axes, const SvgSeries *series, int nseries);

/*
 * Appends a horizontal bar chart: one group of bars per category (labels on
 * the left, value on the x axis), one bar per series in each group;
 * emphasis_category (or -1) is outlined. Each bar's <title> (its tooltip)
 * says "category[, series]: value" with 6 significant digits.
 */
extern void SvgBarChart(StringInfo out, const SvgAxes *axes,
						const char *const *categories, int ncategories,
						const SvgBars *bars, int nbars, int emphasis_category);

#endif
