/*-------------------------------------------------------------------------
 *
 * cycle_core.c
 *	  Text parser, formatter, binary codec and calendar arithmetic of the
 *	  credits.cycle type, in plain C.
 *
 * The text form is an ISO 8601 repeating interval with an RFC 9557 zone
 * suffix:
 *
 *		R[n]/YYYY-MM-DD[Thh:mm[:ss]][Z|[Area/Location]]/P<n>M|P<n>Y
 *
 * This file checks the grammar and the calendar (month 13, February 30th,
 * hour 24 ...) and leaves the zone name as written: whether it names a
 * zone is decided by the server against pg_timezone_names.  It uses only
 * the C library, so that a fuzzer can drive cycle_parse() and
 * cycle_decode() without a server.
 *
 *-------------------------------------------------------------------------
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cycle_core.h"

#define CYCLE_MIN_ANCHOR_YEAR	1
#define CYCLE_MAX_ANCHOR_YEAR	9999

/* Days from 1970-01-01 to 2000-01-01, PostgreSQL's timestamp epoch */
#define UNIX_TO_PG_EPOCH_DAYS	INT64_C(10957)
#define USECS_PER_SECOND_	INT64_C(1000000)
#define USECS_PER_DAY_		INT64_C(86400000000)

/*
 * State of one parse: the input and where we are in it.  A wrong value in
 * text that is otherwise well formed (R0, P0M, a zone that is no zone
 * name, a count too large) is kept in "deferred" while the parse goes on:
 * malformed text is reported first (22007), then wrong values (22023),
 * then values out of range (22008).
 */
typedef struct CycleScan
{
	const char *p;				/* next unread character */
	const char *end;			/* one past the last non-blank character */
	char	   *detail;
	size_t		detail_size;
	CycleStatus deferred;
} CycleScan;

#if defined(__GNUC__) || defined(__clang__)
#define CYCLE_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define CYCLE_PRINTF(f, a)
#endif

static CycleStatus scan_fail(CycleScan *s, CycleStatus status,
							 const char *fmt,...) CYCLE_PRINTF(3, 4);

/* Writes the detail sentence and returns the status, for one-line returns */
static CycleStatus
scan_fail(CycleScan *s, CycleStatus status, const char *fmt,...)
{
	va_list		ap;

	if (s->detail != NULL && s->detail_size > 0)
	{
		va_start(ap, fmt);
		vsnprintf(s->detail, s->detail_size, fmt, ap);
		va_end(ap);
	}
	return status;
}

static void scan_defer(CycleScan *s, CycleStatus status,
					   const char *fmt,...) CYCLE_PRINTF(3, 4);

/*
 * Records a wrong value found in well-formed text, unless one that ranks
 * as high was found before (a wrong value before one out of range)
 */
static void
scan_defer(CycleScan *s, CycleStatus status, const char *fmt,...)
{
	va_list		ap;

	if (s->deferred != CYCLE_OK &&
		(s->deferred != CYCLE_OUT_OF_RANGE || status == CYCLE_OUT_OF_RANGE))
		return;
	s->deferred = status;
	if (s->detail != NULL && s->detail_size > 0)
	{
		va_start(ap, fmt);
		vsnprintf(s->detail, s->detail_size, fmt, ap);
		va_end(ap);
	}
}

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool
is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
		c == '\f' || c == '\v';
}

/* Reads exactly n digits; false if there are fewer */
static bool
scan_fixed_digits(CycleScan *s, int n, int32_t *value)
{
	int32_t		v = 0;

	for (int i = 0; i < n; i++)
	{
		if (s->p + i >= s->end || !is_digit(s->p[i]))
			return false;
		v = v * 10 + (s->p[i] - '0');
	}
	s->p += n;
	*value = v;
	return true;
}

/*
 * Reads a run of digits as a positive int32.  Returns false if there is no
 * digit; sets *overflow if the number does not fit.
 */
static bool
scan_number(CycleScan *s, int32_t *value, bool *overflow)
{
	int64_t		v = 0;
	bool		any = false;

	*overflow = false;
	while (s->p < s->end && is_digit(*s->p))
	{
		if (v <= INT32_MAX)
			v = v * 10 + (*s->p - '0');
		any = true;
		s->p++;
	}
	if (v > INT32_MAX)
		*overflow = true;
	*value = (int32_t) (*overflow ? INT32_MAX : v);
	return any;
}

static bool
scan_char(CycleScan *s, char c)
{
	if (s->p < s->end && *s->p == c)
	{
		s->p++;
		return true;
	}
	return false;
}

/* The anchor: date, optional time of day */
static CycleStatus
scan_anchor(CycleScan *s, CycleLocal *a)
{
	const char *form = "The anchor must be a date (YYYY-MM-DD) or a date and time (YYYY-MM-DDThh:mm or YYYY-MM-DDThh:mm:ss).";

	memset(a, 0, sizeof(*a));
	if (!scan_fixed_digits(s, 4, &a->year) || !scan_char(s, '-') ||
		!scan_fixed_digits(s, 2, &a->month) || !scan_char(s, '-') ||
		!scan_fixed_digits(s, 2, &a->day))
		return scan_fail(s, CYCLE_BAD_SYNTAX, "%s", form);

	if (scan_char(s, 'T'))
	{
		if (!scan_fixed_digits(s, 2, &a->hour) || !scan_char(s, ':') ||
			!scan_fixed_digits(s, 2, &a->minute))
			return scan_fail(s, CYCLE_BAD_SYNTAX, "%s", form);
		if (scan_char(s, ':') && !scan_fixed_digits(s, 2, &a->second))
			return scan_fail(s, CYCLE_BAD_SYNTAX, "%s", form);
		if (s->p < s->end && (*s->p == '.' || *s->p == ','))
			return scan_fail(s, CYCLE_BAD_SYNTAX,
							 "The anchor cannot have fractional seconds.");
	}

	if (a->month < 1 || a->month > 12)
		return scan_fail(s, CYCLE_BAD_SYNTAX,
						 "Month %02d does not exist: months run from 01 to 12.",
						 (int) a->month);
	if (a->day < 1 || a->day > cycle_days_in_month(a->year, a->month))
		return scan_fail(s, CYCLE_BAD_SYNTAX,
						 "Day %02d does not exist in %04d-%02d, which has %d days.",
						 (int) a->day, (int) a->year, (int) a->month,
						 cycle_days_in_month(a->year, a->month));
	if (a->hour > 23)
		return scan_fail(s, CYCLE_BAD_SYNTAX,
						 "Hour %02d does not exist: hours run from 00 to 23.",
						 (int) a->hour);
	if (a->minute > 59)
		return scan_fail(s, CYCLE_BAD_SYNTAX,
						 "Minute %02d does not exist: minutes run from 00 to 59.",
						 (int) a->minute);
	if (a->second > 59)
		return scan_fail(s, CYCLE_BAD_SYNTAX,
						 "Second %02d does not exist: seconds run from 00 to 59.",
						 (int) a->second);
	if (a->year < CYCLE_MIN_ANCHOR_YEAR)
		scan_defer(s, CYCLE_OUT_OF_RANGE,
				   "Year 0000 is before the first year an anchor may have, 0001.");
	return CYCLE_OK;
}

/* The optional zone suffix: Z, [Area/Location], or nothing (UTC) */
static CycleStatus
scan_zone(CycleScan *s, char *zone)
{
	strcpy(zone, "UTC");

	if (scan_char(s, 'Z'))
		return CYCLE_OK;

	if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
	{
		int32_t		hh;
		int32_t		mm;

		/* a well-formed offset, +hh, +hhmm or +hh:mm, is a wrong value */
		s->p++;
		if (!scan_fixed_digits(s, 2, &hh) ||
			(scan_char(s, ':') ? !scan_fixed_digits(s, 2, &mm) :
			 (s->p < s->end && is_digit(*s->p) && !scan_fixed_digits(s, 2, &mm))))
			return scan_fail(s, CYCLE_BAD_SYNTAX,
							 "A zone is Z or [Area/Location] after the anchor.");
		scan_defer(s, CYCLE_BAD_ZONE,
				   "Numeric UTC offsets are not accepted, because they do not follow daylight saving time.");
		return CYCLE_OK;
	}

	if (scan_char(s, '['))
	{
		const char *start = s->p;
		size_t		len;

		/* the name runs to the first ']' */
		while (s->p < s->end && *s->p != ']')
			s->p++;
		if (s->p >= s->end)
			return scan_fail(s, CYCLE_BAD_SYNTAX,
							 "The time zone name is missing its closing \"]\".");
		len = s->p - start;
		s->p++;					/* the ']' */
		if (len == 0)
		{
			scan_defer(s, CYCLE_BAD_ZONE, "The time zone name is empty.");
			return CYCLE_OK;
		}
		if (len > CYCLE_ZONE_MAXLEN)
		{
			scan_defer(s, CYCLE_BAD_ZONE,
					   "The time zone name is longer than %d bytes.",
					   CYCLE_ZONE_MAXLEN);
			return CYCLE_OK;
		}
		for (size_t i = 0; i < len; i++)
		{
			unsigned char c = (unsigned char) start[i];

			if (c <= ' ' || c >= 0x7f)
			{
				scan_defer(s, CYCLE_BAD_ZONE,
						   "The time zone name contains a character that no zone name has.");
				return CYCLE_OK;
			}
		}
		memcpy(zone, start, len);
		zone[len] = '\0';
	}
	return CYCLE_OK;
}

/* The step: P<n>M or P<n>Y */
static CycleStatus
scan_step(CycleScan *s, int32_t *months)
{
	const char *form = "The step must be P<n>M (months) or P<n>Y (years), with a whole number n and upper-case letters.";
	int32_t		n;
	bool		overflow;
	char		unit;

	if (!scan_char(s, 'P') || !scan_number(s, &n, &overflow) ||
		s->p >= s->end)
		return scan_fail(s, CYCLE_BAD_SYNTAX, "%s", form);

	unit = *s->p++;
	if (unit != 'M' && unit != 'Y')
	{
		if (unit == 'W' || unit == 'D' || unit == 'T' ||
			unit == 'H' || unit == 'S')
			return scan_fail(s, CYCLE_BAD_SYNTAX,
							 "A step counts whole months or years; weeks, days and times are not accepted.");
		return scan_fail(s, CYCLE_BAD_SYNTAX, "%s", form);
	}
	if (s->p < s->end)
	{
		if (unit == 'Y' && is_digit(*s->p))
			return scan_fail(s, CYCLE_BAD_SYNTAX,
							 "A step has a single unit, months or years: write P1Y6M as P18M, for example.");
		return scan_fail(s, CYCLE_BAD_SYNTAX,
						 "Unexpected text after the step.");
	}
	if (overflow || (unit == 'Y' && n > INT32_MAX / 12))
		scan_defer(s, CYCLE_OUT_OF_RANGE,
				   "The step is too long: its first period would end beyond the timestamp range.");
	else if (n == 0)
		scan_defer(s, CYCLE_BAD_VALUE,
				   "The step must be at least one month long.");
	else
		*months = unit == 'Y' ? n * 12 : n;
	return CYCLE_OK;
}

/*
 * Parses the text form of a cycle.  On failure returns the kind of error
 * and writes a sentence saying what is wrong into detail: malformed text
 * first, then a wrong value, then one out of range.  On CYCLE_OUT_OF_RANGE
 * the zone name is filled in, for the caller to check first.
 */
CycleStatus
cycle_parse(const char *str, CycleParts *out, char *detail, size_t detail_size)
{
	CycleScan	s;
	CycleStatus st;
	int32_t		periods = 0;
	bool		overflow = false;

	memset(out, 0, sizeof(*out));
	if (detail != NULL && detail_size > 0)
		detail[0] = '\0';

	s.p = str;
	s.end = str + strlen(str);
	s.detail = detail;
	s.detail_size = detail_size;
	s.deferred = CYCLE_OK;
	while (s.p < s.end && is_blank(*s.p))
		s.p++;
	while (s.end > s.p && is_blank(s.end[-1]))
		s.end--;

	if (!scan_char(&s, 'R'))
		return scan_fail(&s, CYCLE_BAD_SYNTAX,
						 "A cycle has the form R[n]/<anchor>/<step>, for example R12/2026-01-31/P1M.");
	if (s.p < s.end && is_digit(*s.p))
	{
		scan_number(&s, &periods, &overflow);
		if (overflow)
			scan_defer(&s, CYCLE_OUT_OF_RANGE,
					   "The number of periods is too large: the contract would end beyond the timestamp range.");
		else if (periods == 0)
			scan_defer(&s, CYCLE_BAD_VALUE,
					   "A contract has at least one period: write R1 or more, or R alone for an open-ended cycle.");
	}
	if (!scan_char(&s, '/'))
		return scan_fail(&s, CYCLE_BAD_SYNTAX,
						 "Expected \"/\" after the repeat count R[n].");

	st = scan_anchor(&s, &out->anchor);
	if (st != CYCLE_OK)
		return st;
	st = scan_zone(&s, out->zone);
	if (st != CYCLE_OK)
		return st;
	if (!scan_char(&s, '/'))
		return scan_fail(&s, CYCLE_BAD_SYNTAX,
						 "Expected \"/\" and the step after the anchor.");
	st = scan_step(&s, &out->months);
	if (st != CYCLE_OK)
		return st;

	out->periods = periods;
	return s.deferred;
}

/*
 * Writes the canonical text form; returns the length it has or would have
 * (snprintf semantics).
 */
size_t
cycle_format(const CycleParts *parts, char *buf, size_t size)
{
	char		count[16] = "";
	const CycleLocal *a = &parts->anchor;
	int			n;

	if (parts->periods > 0)
		snprintf(count, sizeof(count), "%d", (int) parts->periods);

	if (parts->months % 12 == 0)
		n = snprintf(buf, size, "R%s/%04d-%02d-%02dT%02d:%02d:%02d[%s]/P%dY",
					 count, (int) a->year, (int) a->month, (int) a->day,
					 (int) a->hour, (int) a->minute, (int) a->second,
					 parts->zone, (int) (parts->months / 12));
	else
		n = snprintf(buf, size, "R%s/%04d-%02d-%02dT%02d:%02d:%02d[%s]/P%dM",
					 count, (int) a->year, (int) a->month, (int) a->day,
					 (int) a->hour, (int) a->minute, (int) a->second,
					 parts->zone, (int) parts->months);
	return n < 0 ? 0 : (size_t) n;
}

static void
put_be(unsigned char *p, uint64_t v, int bytes)
{
	for (int i = bytes - 1; i >= 0; i--)
	{
		p[i] = (unsigned char) (v & 0xff);
		v >>= 8;
	}
}

static uint64_t
get_be(const unsigned char *p, int bytes)
{
	uint64_t	v = 0;

	for (int i = 0; i < bytes; i++)
		v = (v << 8) | p[i];
	return v;
}

/*
 * Binary format: version byte, anchor as int64 microseconds since
 * 2000-01-01 00:00:00 local time, int32 months per period, int32 periods
 * (0 = open-ended), then the zone name's bytes up to the end of the
 * message.  All integers in network byte order.  Returns the length the
 * encoding has; writes it only if it fits in size.
 */
size_t
cycle_encode(const CycleParts *parts, unsigned char *buf, size_t size)
{
	size_t		zlen = strlen(parts->zone);
	size_t		len = 1 + 8 + 4 + 4 + zlen;

	if (len > size)
		return len;
	buf[0] = CYCLE_BINARY_VERSION;
	put_be(buf + 1, (uint64_t) cycle_local_to_usecs(&parts->anchor), 8);
	put_be(buf + 9, (uint32_t) parts->months, 4);
	put_be(buf + 13, (uint32_t) parts->periods, 4);
	memcpy(buf + 17, parts->zone, zlen);
	return len;
}

/* Decodes and checks the binary format written by cycle_encode() */
CycleStatus
cycle_decode(const unsigned char *buf, size_t len, CycleParts *out,
			 char *detail, size_t detail_size)
{
	CycleScan	s = {NULL, NULL, detail, detail_size, CYCLE_OK};
	int64_t		usecs;
	int32_t		months;
	int32_t		periods;
	size_t		zlen;

	memset(out, 0, sizeof(*out));
	if (len < 17)
		return scan_fail(&s, CYCLE_BAD_SYNTAX,
						 "The binary cycle is %zu bytes long, shorter than the 17-byte header.",
						 len);
	if (buf[0] != CYCLE_BINARY_VERSION)
		return scan_fail(&s, CYCLE_BAD_SYNTAX,
						 "Binary format version %d is not supported.",
						 (int) buf[0]);
	usecs = (int64_t) get_be(buf + 1, 8);
	months = (int32_t) get_be(buf + 9, 4);
	periods = (int32_t) get_be(buf + 13, 4);
	zlen = len - 17;

	if (usecs % USECS_PER_SECOND_ != 0)
		return scan_fail(&s, CYCLE_BAD_SYNTAX,
						 "The anchor has fractional seconds.");
	/* reject anything outside year 0001..9999 before converting */
	if (usecs < INT64_C(-63082281600000000) ||
		usecs >= INT64_C(252455616000000000))
		return scan_fail(&s, CYCLE_BAD_SYNTAX,
						 "The anchor is outside the years 0001 to 9999.");
	cycle_usecs_to_local(usecs, &out->anchor);
	if (months < 1)
		return scan_fail(&s, CYCLE_BAD_SYNTAX,
						 "The step is %d months; it must be at least 1.",
						 (int) months);
	if (periods < 0)
		return scan_fail(&s, CYCLE_BAD_SYNTAX,
						 "The period count is %d; it must be 0 (open-ended) or more.",
						 (int) periods);
	if (zlen == 0 || zlen > CYCLE_ZONE_MAXLEN)
		return scan_fail(&s, CYCLE_BAD_SYNTAX,
						 "The time zone name is %zu bytes long; it must be 1 to %d.",
						 zlen, CYCLE_ZONE_MAXLEN);
	for (size_t i = 0; i < zlen; i++)
	{
		if (buf[17 + i] <= ' ' || buf[17 + i] >= 0x7f)
			return scan_fail(&s, CYCLE_BAD_SYNTAX,
							 "The time zone name contains a character that no zone name has.");
	}
	memcpy(out->zone, buf + 17, zlen);
	out->zone[zlen] = '\0';
	out->months = months;
	out->periods = periods;
	return CYCLE_OK;
}

bool
cycle_is_leap(int32_t year)
{
	return year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
}

int
cycle_days_in_month(int32_t year, int32_t month)
{
	static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	if (month == 2 && cycle_is_leap(year))
		return 29;
	return days[month - 1];
}

/* Floor division, for negative month and day counts */
int64_t
cycle_floor_div(int64_t a, int64_t b)
{
	int64_t		q = a / b;

	if ((a % b != 0) && ((a < 0) != (b < 0)))
		q--;
	return q;
}

/* Months since year 0, January: a linear month number */
int64_t
cycle_local_month_number(const CycleLocal *local)
{
	return (int64_t) local->year * 12 + (local->month - 1);
}

/*
 * base + months, keeping the time of day and clamping the day of month to
 * the length of the target month (Jan 31 + 1 month = Feb 28 or 29).  This
 * is what PostgreSQL's timestamp + interval does for whole months.  Returns
 * false if the result's year leaves the window the server can check.
 */
bool
cycle_local_add_months(const CycleLocal *base, int64_t months, CycleLocal *out)
{
	int64_t		m;
	int64_t		year;
	int			dim;

	if (months > INT64_C(4000000) || months < -INT64_C(4000000))
		return false;
	m = cycle_local_month_number(base) + months;
	year = cycle_floor_div(m, 12);
	if (year < CYCLE_CALENDAR_MIN_YEAR || year > CYCLE_CALENDAR_MAX_YEAR)
		return false;
	*out = *base;
	out->year = (int32_t) year;
	out->month = (int32_t) (m - year * 12) + 1;
	dim = cycle_days_in_month(out->year, out->month);
	if (out->day > dim)
		out->day = dim;
	return true;
}

/* Days since 1970-01-01 of a proleptic Gregorian date */
static int64_t
days_from_civil(int64_t y, int m, int d)
{
	int64_t		era;
	int64_t		yoe;
	int64_t		doy;
	int64_t		doe;

	y -= m <= 2;
	era = cycle_floor_div(y, 400);
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* Microseconds since 2000-01-01 00:00:00 of a wall-clock time */
int64_t
cycle_local_to_usecs(const CycleLocal *local)
{
	int64_t		days = days_from_civil(local->year, local->month, local->day) -
		UNIX_TO_PG_EPOCH_DAYS;
	int64_t		secs = (int64_t) local->hour * 3600 + local->minute * 60 +
		local->second;

	return days * USECS_PER_DAY_ + secs * USECS_PER_SECOND_;
}

/* Inverse of cycle_local_to_usecs(); sub-second parts are dropped */
void
cycle_usecs_to_local(int64_t usecs, CycleLocal *out)
{
	int64_t		days = cycle_floor_div(usecs, USECS_PER_DAY_);
	int64_t		secs = (usecs - days * USECS_PER_DAY_) / USECS_PER_SECOND_;
	int64_t		z = days + UNIX_TO_PG_EPOCH_DAYS + 719468;
	int64_t		era = cycle_floor_div(z, 146097);
	int64_t		doe = z - era * 146097;
	int64_t		yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t		doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t		mp = (5 * doy + 2) / 153;
	int64_t		d = doy - (153 * mp + 2) / 5 + 1;
	int64_t		m = mp < 10 ? mp + 3 : mp - 9;
	int64_t		y = yoe + era * 400 + (m <= 2);

	out->year = (int32_t) y;
	out->month = (int32_t) m;
	out->day = (int32_t) d;
	out->hour = (int32_t) (secs / 3600);
	out->minute = (int32_t) (secs / 60 % 60);
	out->second = (int32_t) (secs % 60);
}
