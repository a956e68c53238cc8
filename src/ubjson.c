/*
 * ubjson.c — the UBJSON reader (see ubjson.h): XGBoost's binary model format
 * reported to PostgreSQL's JSON semantic actions.
 */
#include "postgres.h"

#include <math.h>

#include "mb/pg_wchar.h"
#include "miscadmin.h"

#include "mlops/ubjson.h"

/* Containers deeper than this are refused (XGBoost's models nest about 8 deep). */
#define UBJ_MAX_DEPTH 256

/* The state of one parse. */
typedef struct UbjParser
{
	const uint8 *data;
	size_t		len;
	size_t		pos;			/* the next byte to read */
	int			depth;
	JsonSemAction *sem;
	char	   *error;			/* what is wrong, once something is */
} UbjParser;

/* Records what is wrong at the current position; returns false for the caller to return. */
static bool
UbjFail(UbjParser *p, const char *what)
{
	p->error = psprintf("%s at byte %zu of %zu.", what, p->pos, p->len);
	return false;
}

/* Skips no-op markers (N). */
static void
UbjSkipNoops(UbjParser *p)
{
	while (p->pos < p->len && p->data[p->pos] == 'N')
		p->pos++;
}

/* Takes the next n bytes into *bytes; false if the document ends before them. */
static bool
UbjTake(UbjParser *p, size_t n, const uint8 **bytes)
{
	if (n > p->len - p->pos)
		return UbjFail(p, "The document ends inside a value");
	*bytes = p->data + p->pos;
	p->pos += n;
	return true;
}

/* The size of a number of type `marker`, or 0 if the marker is not a number. */
static size_t
UbjNumberSize(uint8 marker)
{
	switch (marker)
	{
		case 'i':
		case 'U':
			return 1;
		case 'I':
			return 2;
		case 'l':
		case 'd':
			return 4;
		case 'L':
		case 'D':
			return 8;
		default:
			return 0;
	}
}

/* The big-endian unsigned integer of n (1, 2, 4 or 8) bytes. */
static uint64
UbjBigEndian(const uint8 *b, size_t n)
{
	uint64		v = 0;

	for (size_t i = 0; i < n; i++)
		v = (v << 8) | b[i];
	return v;
}

/* The value of an integer of type `marker` (i U I l L) from its bytes. */
static int64
UbjIntegerValue(uint8 marker, const uint8 *b)
{
	switch (marker)
	{
		case 'i':
			return (int8) b[0];
		case 'U':
			return b[0];
		case 'I':
			return (int16) UbjBigEndian(b, 2);
		case 'l':
			return (int32) UbjBigEndian(b, 4);
		default:
			return (int64) UbjBigEndian(b, 8);
	}
}

/* A non-finite number as JSON writers spell it (and strtof reads it), or NULL. */
static const char *
UbjNonFiniteText(double v)
{
	if (isnan(v))
		return "NaN";
	if (isinf(v))
		return v > 0 ? "Infinity" : "-Infinity";
	return NULL;
}

/* The text of a number of type `marker` from its bytes, palloc'd. */
static char *
UbjNumberText(uint8 marker, const uint8 *b)
{
	if (marker == 'd')
	{
		uint32		bits = (uint32) UbjBigEndian(b, 4);
		float		f;

		memcpy(&f, &bits, sizeof(f));
		if (UbjNonFiniteText(f))
			return pstrdup(UbjNonFiniteText(f));
		return psprintf("%.9g", (double) f);	/* 9 digits read back as the same float32 */
	}
	if (marker == 'D')
	{
		uint64		bits = UbjBigEndian(b, 8);
		double		d;

		memcpy(&d, &bits, sizeof(d));
		if (UbjNonFiniteText(d))
			return pstrdup(UbjNonFiniteText(d));
		return psprintf("%.17g", d);
	}
	return psprintf(INT64_FORMAT, UbjIntegerValue(marker, b));
}

/*
 * Reads an integer-typed length or count (a marker i U I l L and its value),
 * which must be at least 0 and, since each counted item takes at least
 * `unit` bytes, fit in what is left of the document.
 */
static bool
UbjReadCount(UbjParser *p, size_t unit, size_t *count)
{
	const uint8 *b;
	uint8		marker;
	int64		v;

	if (!UbjTake(p, 1, &b))
		return false;
	marker = b[0];
	if (marker == 'd' || marker == 'D' || UbjNumberSize(marker) == 0)
		return UbjFail(p, "A length is not an integer");
	if (!UbjTake(p, UbjNumberSize(marker), &b))
		return false;
	v = UbjIntegerValue(marker, b);
	if (v < 0 || (uint64) v > (p->len - p->pos) / unit)
		return UbjFail(p, "A length is negative or goes beyond the end of the document");
	*count = (size_t) v;
	return true;
}

/*
 * Takes a string of n bytes into a palloc'd C string. A zero byte is refused,
 * as in a JSON document: the C string would end there, and the reader see a
 * shorter key than libxgboost does ("num_trees\0" as num_trees). So are bytes
 * that are not UTF-8, as in a JSON document: libxgboost keeps them (in a
 * feature name, say), and writes them into the JSON that export_model
 * returns, which then is not UTF-8. But in a SQL_ASCII database, whose names
 * are bytes: the models train stores there carry its column names as they
 * are (ColumnNameToUtf8), and export_model hands them out so.
 */
static bool
UbjTakeString(UbjParser *p, size_t n, char **out)
{
	const uint8 *b;

	if (!UbjTake(p, n, &b))
		return false;
	if (memchr(b, '\0', n) != NULL)
		return UbjFail(p, "A string holds a zero byte");
	if (GetDatabaseEncoding() != PG_SQL_ASCII && !pg_verify_mbstr(PG_UTF8, (const char *) b, (int) n, true))
		return UbjFail(p, "A string is not valid UTF-8");
	*out = pnstrdup((const char *) b, n);
	return true;
}

/* Reads a length-prefixed string (a key, or the payload of S) into a palloc'd C string. */
static bool
UbjReadString(UbjParser *p, char **out)
{
	size_t		n;

	return UbjReadCount(p, 1, &n) && UbjTakeString(p, n, out);
}

/* Whether the next value (after no-ops) is null (Z), as the element and field actions are told. */
static bool
UbjNextIsNull(UbjParser *p)
{
	UbjSkipNoops(p);
	return p->pos < p->len && p->data[p->pos] == 'Z';
}

static bool UbjParseValue(UbjParser *p);

/* Reports one scalar token (palloc'd) to the scalar action, which then owns it. */
static void
UbjScalar(UbjParser *p, char *token, JsonTokenType type)
{
	if (p->sem->scalar)
		p->sem->scalar(p->sem->semstate, token, type);
	else
		pfree(token);
}

/*
 * Parses the elements of a typed array ([$<type>#<count>, read up to the
 * count): raw big-endian numbers, each reported as an element and a scalar.
 */
static bool
UbjParseTypedArray(UbjParser *p)
{
	const uint8 *b;
	uint8		type;
	size_t		size;
	size_t		count;

	if (!UbjTake(p, 1, &b))
		return false;
	type = b[0];
	size = UbjNumberSize(type);
	if (size == 0)
		return UbjFail(p, "A typed array's element type is not a number");
	if (!UbjTake(p, 1, &b))
		return false;
	if (b[0] != '#')
		return UbjFail(p, "A typed array has no count");
	if (!UbjReadCount(p, size, &count))
		return false;
	for (size_t i = 0; i < count; i++)
	{
		CHECK_FOR_INTERRUPTS();
		if (!UbjTake(p, size, &b))	/* cannot fail: the count was checked */
			return false;
		if (p->sem->array_element_start)
			p->sem->array_element_start(p->sem->semstate, false);
		if (p->sem->scalar)
			p->sem->scalar(p->sem->semstate, UbjNumberText(type, b), JSON_TOKEN_NUMBER);
		if (p->sem->array_element_end)
			p->sem->array_element_end(p->sem->semstate, false);
	}
	return true;
}

/* Parses one element of an untyped array, with its element actions. */
static bool
UbjParseElement(UbjParser *p)
{
	bool		isnull = UbjNextIsNull(p);

	if (p->sem->array_element_start)
		p->sem->array_element_start(p->sem->semstate, isnull);
	if (!UbjParseValue(p))
		return false;
	if (p->sem->array_element_end)
		p->sem->array_element_end(p->sem->semstate, isnull);
	return true;
}

/* Parses an array after its [: typed, counted, or up to its ]. */
static bool
UbjParseArray(UbjParser *p)
{
	if (p->sem->array_start)
		p->sem->array_start(p->sem->semstate);
	if (p->pos < p->len && p->data[p->pos] == '$')
	{
		p->pos++;
		if (!UbjParseTypedArray(p))
			return false;
	}
	else if (p->pos < p->len && p->data[p->pos] == '#')
	{
		size_t		count;

		p->pos++;
		if (!UbjReadCount(p, 1, &count))
			return false;
		for (size_t i = 0; i < count; i++)
		{
			CHECK_FOR_INTERRUPTS();
			if (!UbjParseElement(p))
				return false;
		}
	}
	else
	{
		for (;;)
		{
			CHECK_FOR_INTERRUPTS();
			UbjSkipNoops(p);
			if (p->pos == p->len)
				return UbjFail(p, "The document ends inside an array");
			if (p->data[p->pos] == ']')
				break;
			if (!UbjParseElement(p))
				return false;
		}
		p->pos++;
	}
	if (p->sem->array_end)
		p->sem->array_end(p->sem->semstate);
	return true;
}

/* Parses an object after its {: keys (length-prefixed, no S) and values up to its }. */
static bool
UbjParseObject(UbjParser *p)
{
	if (p->sem->object_start)
		p->sem->object_start(p->sem->semstate);
	if (p->pos < p->len && (p->data[p->pos] == '$' || p->data[p->pos] == '#'))
		return UbjFail(p, "Optimized (typed or counted) objects are not supported");
	for (;;)
	{
		char	   *key;
		bool		isnull;

		CHECK_FOR_INTERRUPTS();
		UbjSkipNoops(p);
		if (p->pos == p->len)
			return UbjFail(p, "The document ends inside an object");
		if (p->data[p->pos] == '}')
			break;
		if (!UbjReadString(p, &key))
			return false;
		isnull = UbjNextIsNull(p);
		if (p->sem->object_field_start)
			p->sem->object_field_start(p->sem->semstate, key, isnull);
		if (!UbjParseValue(p))
			return false;
		if (p->sem->object_field_end)
			p->sem->object_field_end(p->sem->semstate, key, isnull);
		if (!p->sem->object_field_start && !p->sem->object_field_end)
			pfree(key);
	}
	p->pos++;
	if (p->sem->object_end)
		p->sem->object_end(p->sem->semstate);
	return true;
}

/* Parses one value (after any no-ops) and reports it. */
static bool
UbjParseValue(UbjParser *p)
{
	const uint8 *b;
	uint8		marker;
	bool		ok;

	UbjSkipNoops(p);
	if (!UbjTake(p, 1, &b))
		return false;
	marker = b[0];
	switch (marker)
	{
		case '{':
		case '[':
			check_stack_depth();
			if (++p->depth > UBJ_MAX_DEPTH)
				return UbjFail(p, "The document is nested too deeply");
			ok = marker == '{' ? UbjParseObject(p) : UbjParseArray(p);
			p->depth--;
			return ok;
		case 'S':
			{
				char	   *s;

				if (!UbjReadString(p, &s))
					return false;
				UbjScalar(p, s, JSON_TOKEN_STRING);
				return true;
			}
		case 'C':
			{
				char	   *c;

				if (!UbjTakeString(p, 1, &c))
					return false;
				UbjScalar(p, c, JSON_TOKEN_STRING);
				return true;
			}
		case 'T':
			UbjScalar(p, pstrdup("true"), JSON_TOKEN_TRUE);
			return true;
		case 'F':
			UbjScalar(p, pstrdup("false"), JSON_TOKEN_FALSE);
			return true;
		case 'Z':
			UbjScalar(p, pstrdup("null"), JSON_TOKEN_NULL);
			return true;
		default:
			if (UbjNumberSize(marker) == 0)
			{
				p->pos--;
				return UbjFail(p, "An unknown marker");
			}
			if (!UbjTake(p, UbjNumberSize(marker), &b))
				return false;
			UbjScalar(p, UbjNumberText(marker, b), JSON_TOKEN_NUMBER);
			return true;
	}
}

/* Parses a whole document (see ubjson.h). */
char *
UbjsonParse(const char *data, size_t len, JsonSemAction *sem)
{
	UbjParser	p = {0};

	p.data = (const uint8 *) data;
	p.len = len;
	p.sem = sem;
	if (!UbjParseValue(&p))
		return p.error;
	UbjSkipNoops(&p);
	if (p.pos != p.len)
	{
		UbjFail(&p, "Bytes follow the document's value");
		return p.error;
	}
	return NULL;
}
