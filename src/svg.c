/*
 * svg.c — small SVG charts for the HTML reports: line/step/scatter charts and
 * horizontal grouped bar charts, on linear scales with "nice" ticks.
 *
 * Charts are drawn in a fixed coordinate system (the viewBox) and scaled by
 * the browser to the width of their container, so they stay readable from a
 * phone to a wide screen. Colours are the Okabe-Ito palette (distinguishable
 * with the common colour-vision deficiencies); beyond eight series the colours
 * repeat, lines dashed (markers and bars are not).
 */
#include "postgres.h"

#include <float.h>
#include <limits.h>
#include <math.h>

#include "catalog/namespace.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/memutils.h"

#include "mlops/svg.h"

/* Geometry of every chart, in viewBox units. */
#define SVG_WIDTH		480
#define PLOT_TOP		10
#define PLOT_RIGHT		(SVG_WIDTH - 14)
#define PLOT_HEIGHT		210
#define AXIS_SPACE		42		/* below the plot: tick labels and the x label */
#define LINE_LEFT		64		/* left edge of a line chart's plot area, at least (PlotLeft) */
#define BAR_LEFT		150		/* left edge of a bar chart's plot area (labels) */
#define BAR_HEIGHT		12
#define LEGEND_ROW		18
#define TARGET_TICKS	5
#define MAX_MARKED		40		/* series with at most this many points get markers */
#define MAX_DRAWN		1000	/* series with more points are thinned (KeptPoints) */

static const char *const palette[] = {
	"#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000", "#999999"
};
#define PALETTE_SIZE lengthof(palette)

/* A linear scale: the domain [lo, hi] rounded out to whole ticks. */
typedef struct SvgScale
{
	double		lo;
	double		hi;
	double		step;
	int			nticks;
} SvgScale;

/*
 * The first len bytes of text, in the database's encoding, converted to
 * UTF-8, a character that Unicode lacks (WIN1252's 0x81, EUC_JP's
 * user-defined area) as U+FFFD: converted whole, the first one would fail
 * the page with 22P05.
 */
static char *
ServerToUtf8(const char *text, int len)
{
	int			encoding = GetDatabaseEncoding();
	Oid			proc = FindDefaultConversionProc(encoding, PG_UTF8);
	char	   *buf = MemoryContextAllocHuge(CurrentMemoryContext, (Size) len * MAX_CONVERSION_GROWTH + 1);
	StringInfoData out;

	if (!OidIsValid(proc))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("default conversion function for encoding \"%s\" to \"%s\" does not exist",
						pg_encoding_to_char(encoding), pg_encoding_to_char(PG_UTF8))));
	initStringInfo(&out);
	while (len > 0)
	{
		/* converts up to the first character it cannot, and says how many bytes it took */
		int			done = DatumGetInt32(OidFunctionCall6(proc, Int32GetDatum(encoding), Int32GetDatum(PG_UTF8),
														  CStringGetDatum(text), CStringGetDatum(buf),
														  Int32GetDatum(len), BoolGetDatum(true)));

		appendStringInfoString(&out, buf);
		text += done;
		len -= done;
		if (len > 0)
		{
			int			skip = Min(pg_encoding_mblen(encoding, text), len);

			appendStringInfoString(&out, "\xEF\xBF\xBD");	/* U+FFFD */
			text += skip;
			len -= skip;
		}
	}
	pfree(buf);
	return out.data;
}

/* Escapes text for markup (see svg.h): the one way any text enters a report. */
bool
MarkupEscape(StringInfo out, const char *text, int max_chars)
{
	const unsigned char *s;
	const unsigned char *end;
	int			len = strlen(text);
	int			clipped = len;
	int			nchars = 0;
	const char *utf8;

	/*
	 * clipped before any conversion; in a SQL_ASCII database, whose bytes
	 * are read as UTF-8 below, the characters are counted there instead
	 * (SQL_ASCII's own clipping counts bytes)
	 */
	if (max_chars > 0 && GetDatabaseEncoding() != PG_SQL_ASCII)
		clipped = pg_mbcharcliplen(text, len, max_chars);
	/*
	 * A SQL_ASCII database's bytes have no known encoding: they are read as
	 * UTF-8 where they are, as U+FFFD where not (converting would instead
	 * raise an error for the first byte that is not UTF-8, failing the page)
	 */
	if (GetDatabaseEncoding() == PG_UTF8 || GetDatabaseEncoding() == PG_SQL_ASCII)
		utf8 = text;
	else
		utf8 = ServerToUtf8(text, clipped);
	if (utf8 != text)
		len = strlen(utf8);
	else
		len = clipped;

	end = (const unsigned char *) utf8 + len;
	for (s = (const unsigned char *) utf8; s < end; nchars++)
	{
		if (max_chars > 0 && nchars == max_chars)
			break;
		if (*s < 0x80)
		{
			switch (*s)
			{
				case '&':
					appendStringInfoString(out, "&amp;");
					break;
				case '<':
					appendStringInfoString(out, "&lt;");
					break;
				case '>':
					appendStringInfoString(out, "&gt;");
					break;
				case '"':
					appendStringInfoString(out, "&quot;");
					break;
				case '\'':
					appendStringInfoString(out, "&#39;");
					break;
				default:
					if ((*s < 0x20 && *s != '\t' && *s != '\n' && *s != '\r') || *s == 0x7f)
						appendStringInfoString(out, "&#xFFFD;");
					else
						appendStringInfoChar(out, (char) *s);
			}
			s++;
		}
		else
		{
			int			mblen = pg_utf_mblen(s);
			pg_wchar	cp = 0xfffd;

			/* bytes that are not UTF-8 (a SQL_ASCII database) become U+FFFD one by one */
			if (s + mblen > end || !pg_utf8_islegal(s, mblen))
				mblen = 1;
			else
				cp = utf8_to_unicode(s);
			/*
			 * C1 controls and the non-characters (U+FDD0..U+FDEF, the last two
			 * code points of every plane) are not text (a reference to one is
			 * an HTML parse error); the bidi embedding, override and isolate
			 * controls would reorder what follows the string up to the end of
			 * its paragraph (a run named "\u202Eevil" would show "with 0.5."
			 * as ".5.0 htiw")
			 */
			if ((cp >= 0x80 && cp <= 0x9f) || (cp >= 0xfdd0 && cp <= 0xfdef) || (cp & 0xfffe) == 0xfffe ||
				(cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069))
				cp = 0xfffd;
			appendStringInfo(out, "&#x%X;", (unsigned int) cp);
			s += mblen;
		}
	}
	if (s >= end && clipped == (int) strlen(text))
		return false;
	appendStringInfoString(out, "&#x2026;");
	return true;
}

/*
 * The width of escaped label text (MarkupEscape's: an entity is one
 * character) at font size 12, estimated by the kind of each character:
 * narrow punctuation, capitals and m or w, others, wide scripts (from
 * U+1100, CJK included) and the ellipsis; a tenth more in bold.
 */
static double
LabelWidth(const char *markup, bool bold)
{
	double		width = 0;

	for (const char *s = markup; *s; s++)
	{
		if (*s == '&')
		{
			unsigned long cp = strncmp(s, "&#x", 3) == 0 ? strtoul(s + 3, NULL, 16) : 0;

			width += cp >= 0x1100 || cp == 0x2026 ? 12 : 7.5;
			s = strchr(s, ';');
		}
		else if (strchr("ijlt.,:;|!'()[] ", *s))
			width += 4;
		else if ((*s >= 'A' && *s <= 'Z') || *s == 'm' || *s == 'w')
			width += 9.5;
		else
			width += 7;
	}
	return bold ? width * 1.1 : width;
}

/*
 * Closes the start tag of a <text> label and appends its text clipped to
 * max_chars characters and, when it is clipped, the whole text as its
 * tooltip (a <title> first child): two long run names differing only at
 * their end (their "(#id)") would otherwise read the same in a legend. Text
 * estimated wider than max_width units (LabelWidth) is squeezed into them
 * (textLength): right-aligned, it ran off the chart's left edge, and a
 * legend entry over the next one.
 */
static void
AppendLabel(StringInfo out, const char *text, int max_chars, int max_width, bool bold)
{
	StringInfoData label;
	bool		clipped;

	initStringInfo(&label);
	clipped = MarkupEscape(&label, text, max_chars);
	if (LabelWidth(label.data, bold) > max_width)
		appendStringInfo(out, " textLength=\"%d\" lengthAdjust=\"spacingAndGlyphs\"", max_width);
	appendStringInfoChar(out, '>');
	if (clipped)
	{
		appendStringInfoString(out, "<title>");
		MarkupEscape(out, text, 0);
		appendStringInfoString(out, "</title>");
	}
	appendBinaryStringInfo(out, label.data, label.len);
	pfree(label.data);
}

/*
 * Chooses a scale covering [lo, hi] with about TARGET_TICKS ticks at 1, 2 or
 * 5 × 10^k. A domain of one value, or of values that differ only in their last
 * digits (rounding noise a chart could not show), is widened around them; the
 * domain stays within float8 (DBL_MAX is never padded to infinity).
 */
static void
NiceScale(double lo, double hi, bool integer, SvgScale *scale)
{
	double		rough,
				magnitude,
				norm,
				step;

	if (!(hi - lo > (integer ? 0 : Max(fabs(lo), fabs(hi)) * 1e-9)))
	{
		double		pad = Max(fabs(lo), fabs(hi)) * 0.1;

		if (pad == 0 || (integer && pad < 1))
			pad = 1;
		lo = Max(lo - pad, -DBL_MAX);
		hi = Min(hi + pad, DBL_MAX);
	}
	rough = (hi - lo) / (TARGET_TICKS - 1);
	magnitude = pow(10, floor(log10(rough)));
	norm = rough / magnitude;
	step = (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * magnitude;
	if (integer && step < 1)
		step = 1;
	scale->lo = floor(lo / step) * step;
	scale->hi = ceil(hi / step) * step;
	scale->step = step;
	scale->nticks = (int) floor((scale->hi - scale->lo) / step + 0.5) + 1;
	/* values near the limits of float8 overflow the arithmetic: two ticks, at the ends */
	if (!isfinite(scale->hi - scale->lo) || !isfinite(step) || scale->nticks < 2 || scale->nticks > 100)
	{
		scale->lo = lo;
		scale->hi = hi;
		scale->step = hi - lo;
		scale->nticks = 2;
	}
}

/*
 * Maps a value of the scale's domain onto [from, to]. A domain wider than
 * float8 holds (-1e308 to 1e308) is measured in halves, which do not overflow.
 */
static double
ScalePosition(const SvgScale *scale, double value, double from, double to)
{
	double		span = scale->hi - scale->lo;

	if (isfinite(span))
		return from + (value - scale->lo) / span * (to - from);
	return from + (value / 2 - scale->lo / 2) / (scale->hi / 2 - scale->lo / 2) * (to - from);
}

/*
 * The value of tick i: the ends of the domain, multiples of the step between
 * them (computed only there: the step of a domain wider than float8 holds is
 * infinite).
 */
static double
TickValue(const SvgScale *scale, int i)
{
	double		value = i == 0 ? scale->lo : i == scale->nticks - 1 ? scale->hi : scale->lo + i * scale->step;

	/* -0, or a middle tick that is zero but for rounding */
	if (value == 0 || (scale->nticks > 2 && fabs(value) < fabs(scale->step) * 1e-9))
		value = 0;
	return value;
}

/*
 * The value of tick i, as short text: as many decimals as the tick step
 * needs, or, for large, tiny or arbitrary (two-tick) values, as many
 * significant digits as tell neighbouring ticks apart (at least 3).
 */
static void
AppendTick(StringInfo out, const SvgScale *scale, int i)
{
	double		value = TickValue(scale, i);
	double		largest = Max(fabs(scale->lo), fabs(scale->hi));

	if (fabs(value) >= 1e6 || fabs(scale->step) < 1e-5 || scale->nticks == 2)
	{
		int			digits = 3;

		if (isfinite(scale->step) && scale->step > 0 && largest > 0)
			digits = Max(3, Min(17, (int) floor(log10(largest)) - (int) floor(log10(scale->step)) + 1));
		appendStringInfo(out, "%.*g", digits, value);
	}
	else
		appendStringInfo(out, "%.*f", scale->step >= 1 ? 0 : (int) ceil(-log10(scale->step) - 1e-9), value);
}

/*
 * The left edge of a line chart's plot area: LINE_LEFT, or further right
 * when the y axis's tick labels are longer than five characters (about 8
 * units each at font size 12, right-aligned 5 units left of the plot), so
 * that none runs off the chart's left edge or over the y axis label at x 13
 * ("-123456.789" read ":3456.789").
 */
static int
PlotLeft(const SvgScale *sy)
{
	StringInfoData tick;
	int			longest = 0;

	initStringInfo(&tick);
	for (int i = 0; i < sy->nticks; i++)
	{
		resetStringInfo(&tick);
		AppendTick(&tick, sy, i);
		longest = Max(longest, tick.len);
	}
	pfree(tick.data);
	return Max(LINE_LEFT, 24 + 8 * longest);
}

/* Opens the <svg> element of a chart of the given height, with its accessible title. */
static void
SvgBegin(StringInfo out, const SvgAxes *axes, int height)
{
	appendStringInfo(out, "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" role=\"img\" "
					 "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"12\"><title>",
					 SVG_WIDTH, height);
	MarkupEscape(out, axes->title, 0);
	appendStringInfoString(out, "</title>");
}

/* The stroke attributes of series number i: its colour, and dashes once the palette is used up. */
static void
AppendStroke(StringInfo out, int i, bool emphasis)
{
	appendStringInfo(out, " stroke=\"%s\" stroke-width=\"%s\"", palette[i % PALETTE_SIZE],
					 emphasis ? "3.2" : "1.8");
	if (i >= (int) PALETTE_SIZE)
		appendStringInfo(out, " stroke-dasharray=\"%s\"", (i / PALETTE_SIZE) % 2 ? "6 3" : "2 3");
}

/*
 * The axes of a chart whose plot area spans [left, PLOT_RIGHT] × [PLOT_TOP,
 * bottom]: grid lines and labels at the ticks of the value scale (horizontal
 * lines on y for a line chart, vertical on x for a bar chart), the axis lines,
 * and the axis labels.
 */
static void
AppendValueAxis(StringInfo out, const SvgScale *scale, bool vertical, int left, int bottom)
{
	int			i;

	appendStringInfoString(out, "<path class=\"grid\" fill=\"none\" stroke=\"#e3e3e3\" d=\"");
	for (i = 0; i < scale->nticks; i++)
	{
		double		v = TickValue(scale, i);

		if (vertical)
			appendStringInfo(out, "M%d %.1fH%d", left, ScalePosition(scale, v, bottom, PLOT_TOP), PLOT_RIGHT);
		else
			appendStringInfo(out, "M%.1f %dV%d", ScalePosition(scale, v, left, PLOT_RIGHT), PLOT_TOP, bottom);
	}
	appendStringInfoString(out, "\"/>");
	for (i = 0; i < scale->nticks; i++)
	{
		double		v = TickValue(scale, i);

		if (vertical)
			appendStringInfo(out, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">",
							 left - 5, ScalePosition(scale, v, bottom, PLOT_TOP) + 4);
		else
			appendStringInfo(out, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">",
							 ScalePosition(scale, v, left, PLOT_RIGHT), bottom + 15);
		AppendTick(out, scale, i);
		appendStringInfoString(out, "</text>");
	}
}

/* The axis lines and the x and y axis labels (y_label NULL: none). */
static void
AppendAxisLabels(StringInfo out, const SvgAxes *axes, int left, int bottom)
{
	appendStringInfo(out, "<path class=\"axis\" fill=\"none\" stroke=\"#555\" d=\"M%d %dV%dH%d\"/>",
					 left, PLOT_TOP, bottom, PLOT_RIGHT);
	appendStringInfo(out, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\"",
					 (left + PLOT_RIGHT) / 2, bottom + 34);
	AppendLabel(out, axes->x_label, 60, PLOT_RIGHT - left, false);
	appendStringInfoString(out, "</text>");
	if (axes->y_label)
	{
		appendStringInfo(out, "<text transform=\"translate(13 %d) rotate(-90)\" text-anchor=\"middle\"",
						 (PLOT_TOP + bottom) / 2);
		AppendLabel(out, axes->y_label, 36, bottom - PLOT_TOP, false);
		appendStringInfoString(out, "</text>");
	}
}

/*
 * A legend of n entries in two columns starting at y = top: names[i] with a
 * swatch of series i as drawn (styles NULL: bars, else a line or a marker).
 */
static void
AppendLegend(StringInfo out, const char *const *names, const bool *emphasis, const SvgStyle *styles,
			 int n, int top)
{
	int			i;

	for (i = 0; i < n; i++)
	{
		int			x = 20 + (i % 2) * ((SVG_WIDTH - 20) / 2);
		int			y = top + (i / 2) * LEGEND_ROW + 12;
		bool		bold = emphasis && emphasis[i];

		if (styles == NULL)
			appendStringInfo(out, "<rect class=\"legend\" x=\"%d\" y=\"%d\" width=\"18\" height=\"10\" fill=\"%s\"/>",
							 x, y - 9, palette[i % PALETTE_SIZE]);
		else if (styles[i] == SVG_POINTS)
			appendStringInfo(out, "<circle class=\"legend\" cx=\"%d\" cy=\"%d\" r=\"4\" fill=\"%s\"/>",
							 x + 9, y - 4, palette[i % PALETTE_SIZE]);
		else
		{
			appendStringInfo(out, "<path class=\"legend\" fill=\"none\" d=\"M%d %dh18\"", x, y - 4);
			AppendStroke(out, i, bold);
			appendStringInfoString(out, "/>");
		}
		appendStringInfo(out, "<text x=\"%d\" y=\"%d\"%s", x + 24, y, bold ? " font-weight=\"bold\"" : "");
		AppendLabel(out, names[i], 30, (SVG_WIDTH - 20) / 2 - 30, bold);
		appendStringInfoString(out, "</text>");
	}
}

/* Height of a legend of n entries. */
static int
LegendHeight(int n)
{
	return ((n + 1) / 2) * LEGEND_ROW + 6;
}

/* Appends index i to keep[] unless it is already the last one there. */
static void
Keep(int *keep, int *nkeep, int i)
{
	if (i >= 0 && (*nkeep == 0 || keep[*nkeep - 1] < i))
		keep[(*nkeep)++] = i;
}

/*
 * Chooses the points of a series worth drawing into keep[] (indexes, in
 * order) and returns how many: all of them up to MAX_DRAWN, and all the points
 * of a scatter series; beyond, in each column of the plot one unit wide, only
 * the first, lowest, highest and last point of a line, which draws the same
 * picture (a thousand-round learning curve of many runs, or thousands of
 * points logged at a few steps, stays a small page). Non-finite points are
 * kept: they break lines.
 */
static int
KeptPoints(const SvgSeries *ser, const SvgScale *sx, int left, int *keep)
{
	int			nkeep = 0;
	int			column = INT_MIN;
	int			first = -1,
				low = -1,
				high = -1,
				last = -1;

	if (ser->n <= MAX_DRAWN || ser->style == SVG_POINTS)
	{
		for (int i = 0; i < ser->n; i++)
			keep[i] = i;
		return ser->n;
	}
	for (int i = 0; i <= ser->n; i++)
	{
		bool		finite = i < ser->n && isfinite(ser->x[i]) && isfinite(ser->y[i]);
		int			c = finite ? (int) floor(ScalePosition(sx, ser->x[i], left, PLOT_RIGHT)) : INT_MIN;

		if (first >= 0 && (!finite || c != column))
		{
			/* flush the column: its extremes in the order they came */
			Keep(keep, &nkeep, first);
			Keep(keep, &nkeep, Min(low, high));
			Keep(keep, &nkeep, Max(low, high));
			Keep(keep, &nkeep, last);
			first = -1;
		}
		if (i == ser->n)
			break;
		if (!finite)
		{
			keep[nkeep++] = i;
			continue;
		}
		if (first < 0)
		{
			first = low = high = i;
			column = c;
		}
		if (ser->y[i] < ser->y[low])
			low = i;
		if (ser->y[i] > ser->y[high])
			high = i;
		last = i;
	}
	return nkeep;
}

/* A point of a chart in tenths of a viewBox unit: the precision the page prints. */
typedef struct SvgDot
{
	int			x;
	int			y;
} SvgDot;

/*
 * A path's "d" attribute being written: coordinates relative to the previous
 * point (short numbers), each point rounded to tenths once, so the error
 * never accumulates: every point is within half a tenth of where it lies.
 */
typedef struct SvgPath
{
	StringInfoData d;
	bool		started;
	SvgDot		at;				/* the current point */
} SvgPath;

/* The printed position of a point of the plot (viewBox units), in tenths. */
static SvgDot
DotAt(double px, double py)
{
	SvgDot		dot = {(int) lround(px * 10), (int) lround(py * 10)};

	return dot;
}

/*
 * Appends a coordinate in tenths as short decimal text ("12", "1.5", ".3",
 * "-.3"); a space separates it from the number before unless it is negative
 * or the first of its command.
 */
static void
AppendTenths(StringInfo d, int v, bool separate)
{
	int			a = abs(v);

	if (v < 0)
		appendStringInfoChar(d, '-');
	else if (separate)
		appendStringInfoChar(d, ' ');
	if (a >= 10 || a == 0)
		appendStringInfo(d, "%d", a / 10);
	if (a % 10)
		appendStringInfo(d, ".%d", a % 10);
}

/* Starts a subpath at the dot: absolute first, relative to the current point after. */
static void
PathMove(SvgPath *p, SvgDot to)
{
	appendStringInfoChar(&p->d, p->started ? 'm' : 'M');
	AppendTenths(&p->d, p->started ? to.x - p->at.x : to.x, false);
	AppendTenths(&p->d, p->started ? to.y - p->at.y : to.y, true);
	p->started = true;
	p->at = to;
}

/*
 * Draws a segment to the dot: horizontal or vertical when it is, nothing when
 * it has no length (it would draw nothing).
 */
static void
PathLine(SvgPath *p, SvgDot to)
{
	if (to.y == p->at.y && to.x != p->at.x)
	{
		appendStringInfoChar(&p->d, 'h');
		AppendTenths(&p->d, to.x - p->at.x, false);
	}
	else if (to.x == p->at.x && to.y != p->at.y)
	{
		appendStringInfoChar(&p->d, 'v');
		AppendTenths(&p->d, to.y - p->at.y, false);
	}
	else if (to.x != p->at.x)
	{
		appendStringInfoChar(&p->d, 'l');
		AppendTenths(&p->d, to.x - p->at.x, false);
		AppendTenths(&p->d, to.y - p->at.y, true);
	}
	p->at = to;
}

/*
 * Appends the line (or steps) of series number s through its kept points
 * (KeptPoints), when at least two of them are finite; returns how many are.
 */
static int
AppendSeriesLine(StringInfo out, const SvgSeries *ser, int s, const int *keep, int nkeep,
				 const SvgScale *sx, const SvgScale *sy, int left, int bottom)
{
	SvgPath		path = {0};
	bool		pen_down = false;
	int			finite = 0;

	initStringInfo(&path.d);
	for (int k = 0; k < nkeep; k++)
	{
		int			i = keep[k];
		SvgDot		dot;

		CHECK_FOR_INTERRUPTS();
		if (!isfinite(ser->x[i]) || !isfinite(ser->y[i]))
		{
			pen_down = false;
			continue;
		}
		finite++;
		dot = DotAt(ScalePosition(sx, ser->x[i], left, PLOT_RIGHT),
					ScalePosition(sy, ser->y[i], bottom, PLOT_TOP));
		if (!pen_down)
			PathMove(&path, dot);
		else
		{
			if (ser->style == SVG_STEP)
			{
				SvgDot		corner = {dot.x, path.at.y};

				PathLine(&path, corner);
			}
			PathLine(&path, dot);
		}
		pen_down = true;
	}
	if (finite > 1)
	{
		appendStringInfo(out, "<path class=\"series\" fill=\"none\" d=\"%s\"", path.d.data);
		AppendStroke(out, s, ser->emphasis);
		appendStringInfoString(out, "/>");
	}
	pfree(path.d.data);
	return finite;
}

/*
 * Orders dots column by column (one viewBox unit wide), down one column and
 * up the next, so that each is near the one before (short relative moves)
 * and equal dots are neighbours.
 */
static int
CompareDots(const void *a, const void *b)
{
	const SvgDot *p = (const SvgDot *) a;
	const SvgDot *q = (const SvgDot *) b;
	int			column = p->x / 10;

	if (column != q->x / 10)
		return column < q->x / 10 ? -1 : 1;
	if (p->y != q->y)
		return (p->y < q->y) == (column % 2 == 0) ? -1 : 1;
	if (p->x != q->x)
		return p->x < q->x ? -1 : 1;
	return 0;
}

/*
 * Appends the markers of series number s, at its finite kept points, as one
 * path of zero-length subpaths ("h0") stroked with round caps as wide as a
 * marker: each is a dot of that diameter, in a few bytes instead of a
 * <circle> element's seventy (a scatter of 10000 test rows). Dots printed at
 * the same position (tenths of a unit) draw the same pixels: one is written.
 */
static void
AppendSeriesMarkers(StringInfo out, const SvgSeries *ser, int s, const int *keep, int nkeep,
					const SvgScale *sx, const SvgScale *sy, int left, int bottom)
{
	SvgDot	   *dots = palloc(sizeof(SvgDot) * Max(nkeep, 1));
	int			ndots = 0;
	SvgPath		path = {0};

	for (int k = 0; k < nkeep; k++)
	{
		int			i = keep[k];

		CHECK_FOR_INTERRUPTS();
		if (isfinite(ser->x[i]) && isfinite(ser->y[i]))
			dots[ndots++] = DotAt(ScalePosition(sx, ser->x[i], left, PLOT_RIGHT),
								  ScalePosition(sy, ser->y[i], bottom, PLOT_TOP));
	}
	qsort(dots, ndots, sizeof(SvgDot), CompareDots);
	initStringInfo(&path.d);
	for (int k = 0; k < ndots; k++)
	{
		CHECK_FOR_INTERRUPTS();
		if (k > 0 && CompareDots(&dots[k], &dots[k - 1]) == 0)
			continue;
		PathMove(&path, dots[k]);
		appendStringInfoString(&path.d, "h0");
	}
	if (ndots > 0)
		appendStringInfo(out, "<path class=\"series markers\" fill=\"none\" stroke=\"%s\" stroke-width=\"%s\" "
						 "stroke-linecap=\"round\" d=\"%s\"/>",
						 palette[s % PALETTE_SIZE], ser->emphasis ? "8" : "6", path.d.data);
	pfree(path.d.data);
	pfree(dots);
}

/* Appends a line, step or scatter chart: axes on nice ticks, the series, a legend. */
void
SvgLineChart(StringInfo out, const SvgAxes *axes, const SvgSeries *series, int nseries)
{
	double		xlo = INFINITY,
				xhi = -INFINITY,
				ylo = INFINITY,
				yhi = -INFINITY;
	SvgScale	sx,
				sy;
	int			bottom = PLOT_TOP + PLOT_HEIGHT;
	int			left;
	const char **names = palloc(sizeof(char *) * nseries);
	bool	   *emphasis = palloc(sizeof(bool) * nseries);
	SvgStyle   *styles = palloc(sizeof(SvgStyle) * nseries);
	int			s,
				i;

	for (s = 0; s < nseries; s++)
	{
		for (i = 0; i < series[s].n; i++)
		{
			if (!isfinite(series[s].x[i]) || !isfinite(series[s].y[i]))
				continue;
			xlo = Min(xlo, series[s].x[i]);
			xhi = Max(xhi, series[s].x[i]);
			ylo = Min(ylo, series[s].y[i]);
			yhi = Max(yhi, series[s].y[i]);
		}
		names[s] = series[s].name;
		emphasis[s] = series[s].emphasis;
		styles[s] = series[s].style;
	}
	if (xlo > xhi)
		elog(ERROR, "line chart without a finite point");
	NiceScale(xlo, xhi, axes->x_integer, &sx);
	NiceScale(ylo, yhi, axes->y_integer, &sy);

	left = PlotLeft(&sy);

	SvgBegin(out, axes, bottom + AXIS_SPACE + LegendHeight(nseries));
	AppendValueAxis(out, &sy, true, left, bottom);
	AppendValueAxis(out, &sx, false, left, bottom);
	AppendAxisLabels(out, axes, left, bottom);

	/* a scatter series is its markers; a line gets them too when it has few points */
	for (s = 0; s < nseries; s++)
	{
		int		   *keep = palloc(sizeof(int) * (series[s].n + 1));
		int			nkeep = KeptPoints(&series[s], &sx, left, keep);

		if (series[s].style == SVG_POINTS ||
			AppendSeriesLine(out, &series[s], s, keep, nkeep, &sx, &sy, left, bottom) <= MAX_MARKED)
			AppendSeriesMarkers(out, &series[s], s, keep, nkeep, &sx, &sy, left, bottom);
		pfree(keep);
	}
	AppendLegend(out, names, emphasis, styles, nseries, bottom + AXIS_SPACE);
	appendStringInfoString(out, "</svg>");
}

/* Appends a horizontal grouped bar chart: category labels left, values from zero. */
void
SvgBarChart(StringInfo out, const SvgAxes *axes, const char *const *categories, int ncategories,
			const SvgBars *bars, int nbars, int emphasis_category)
{
	double		lo = 0,
				hi = 0;
	SvgScale	sx;
	int			group = nbars * (BAR_HEIGHT + 2) + 8;
	int			bottom = PLOT_TOP + ncategories * group;
	int			legend = nbars > 1 ? LegendHeight(nbars) : 6;
	int			c,
				b;

	for (b = 0; b < nbars; b++)
		for (c = 0; c < ncategories; c++)
			if (isfinite(bars[b].values[c]))
			{
				lo = Min(lo, bars[b].values[c]);
				hi = Max(hi, bars[b].values[c]);
			}
	NiceScale(lo, hi, false, &sx);

	SvgBegin(out, axes, bottom + AXIS_SPACE + legend);
	AppendValueAxis(out, &sx, false, BAR_LEFT, bottom);
	AppendAxisLabels(out, axes, BAR_LEFT, bottom);
	for (c = 0; c < ncategories; c++)
	{
		int			top = PLOT_TOP + c * group + 4;

		appendStringInfo(out, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\"%s", BAR_LEFT - 6,
						 top + (group - 8) / 2 + 4, c == emphasis_category ? " font-weight=\"bold\"" : "");
		AppendLabel(out, categories[c], 20, BAR_LEFT - 10, c == emphasis_category);
		appendStringInfoString(out, "</text>");
		for (b = 0; b < nbars; b++)
		{
			double		zero = ScalePosition(&sx, 0, BAR_LEFT, PLOT_RIGHT);
			double		end;

			if (!isfinite(bars[b].values[c]))
				continue;
			end = ScalePosition(&sx, bars[b].values[c], BAR_LEFT, PLOT_RIGHT);
			appendStringInfo(out, "<rect class=\"bar\" x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\"%s>",
							 Min(zero, end), top + b * (BAR_HEIGHT + 2), Max(fabs(end - zero), 1.0),
							 BAR_HEIGHT, palette[b % PALETTE_SIZE],
							 c == emphasis_category ? " stroke=\"#000\" stroke-width=\"1.5\"" : "");
			/* the exact value as the bar's tooltip: "category, series: value" */
			appendStringInfoString(out, "<title>");
			MarkupEscape(out, categories[c], 0);
			if (nbars > 1)
			{
				appendStringInfoString(out, ", ");
				MarkupEscape(out, bars[b].name, 0);
			}
			appendStringInfo(out, ": %.6g</title></rect>", bars[b].values[c]);
		}
	}
	if (nbars > 1)
	{
		const char **names = palloc(sizeof(char *) * nbars);

		for (b = 0; b < nbars; b++)
			names[b] = bars[b].name;
		AppendLegend(out, names, NULL, NULL, nbars, bottom + AXIS_SPACE);
	}
	appendStringInfoString(out, "</svg>");
}
