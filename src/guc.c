/*-------------------------------------------------------------------------
 *
 * guc.c
 *	  The clock of the credits extension: credits.clock and
 *	  credits.clock_writes.
 *
 * Every decision that depends on time reads credits_now(): the transaction
 * timestamp, unless credits.clock holds an instant.  credits.clock is a
 * superuser setting, parsed once when set, independent of TimeZone and
 * DateStyle; it takes an ISO 8601 timestamp with an explicit Z or UTC
 * offset.  Writes under an overridden clock are allowed only when the
 * server-wide credits.clock_writes is on (test clusters).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "credits.h"
#include "cycle_core.h"

static char *clock_setting = NULL;
static bool clock_writes = false;

/* The instant credits.clock holds, valid when clock_overridden */
static bool clock_overridden = false;
static TimestampTz clock_value = 0;

/* Reads exactly n ASCII digits at *p */
static bool
read_digits(const char **p, int n, int *value)
{
	int			v = 0;

	for (int i = 0; i < n; i++)
	{
		char		c = (*p)[i];

		if (c < '0' || c > '9')
			return false;
		v = v * 10 + (c - '0');
	}
	*p += n;
	*value = v;
	return true;
}

static bool
is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/*
 * Parses YYYY-MM-DD(T| )hh:mm[:ss[.f...]](Z|+hh[:mm]|-hh[:mm]).  Returns
 * false, with a detail sentence, on anything else.
 */
static bool
parse_instant(const char *s, TimestampTz *result, const char **detail)
{
	CycleLocal	l;
	int64		usecs;
	int64		frac = 0;
	int			frac_digits = 0;
	int			offset_minutes = 0;
	const char *p = s;

	memset(&l, 0, sizeof(l));
	*detail = "The value must be an ISO 8601 timestamp with a UTC offset, such as 2026-03-01T00:00:00Z or 2026-03-01T01:00:00+01:00.";

	while (is_blank(*p))
		p++;
	if (!read_digits(&p, 4, &l.year) || *p++ != '-' ||
		!read_digits(&p, 2, &l.month) || *p++ != '-' ||
		!read_digits(&p, 2, &l.day) || (*p != 'T' && *p != ' '))
		return false;
	p++;
	if (!read_digits(&p, 2, &l.hour) || *p++ != ':' ||
		!read_digits(&p, 2, &l.minute))
		return false;
	if (*p == ':')
	{
		p++;
		if (!read_digits(&p, 2, &l.second))
			return false;
		if (*p == '.')
		{
			p++;
			while (*p >= '0' && *p <= '9')
			{
				if (frac_digits == 6)
				{
					*detail = "The seconds have more than six fractional digits; timestamps hold microseconds.";
					return false;
				}
				frac = frac * 10 + (*p - '0');
				frac_digits++;
				p++;
			}
			if (frac_digits == 0)
				return false;
			while (frac_digits < 6)
			{
				frac *= 10;
				frac_digits++;
			}
		}
	}
	if (*p == 'Z')
		p++;
	else if (*p == '+' || *p == '-')
	{
		int			sign = (*p == '-') ? -1 : 1;
		int			oh;
		int			om = 0;

		p++;
		if (!read_digits(&p, 2, &oh))
			return false;
		if (*p == ':')
		{
			p++;
			if (!read_digits(&p, 2, &om))
				return false;
		}
		else if (*p >= '0' && *p <= '9' && !read_digits(&p, 2, &om))
			return false;
		if (oh > 15 || om > 59)
			return false;
		offset_minutes = sign * (oh * 60 + om);
	}
	else
	{
		if (*p == '\0')
			*detail = "The value has no UTC offset: end it with Z or an offset such as +01:00.";
		return false;
	}
	while (is_blank(*p))
		p++;
	if (*p != '\0')
		return false;

	if (l.year < 1 || l.month < 1 || l.month > 12 || l.day < 1 ||
		l.day > cycle_days_in_month(l.year, l.month) ||
		l.hour > 23 || l.minute > 59 || l.second > 59)
	{
		*detail = "A field of the timestamp is out of range.";
		return false;
	}
	usecs = cycle_local_to_usecs(&l) + frac -
		(int64) offset_minutes * 60 * USECS_PER_SEC;
	if (!IS_VALID_TIMESTAMP(usecs))
	{
		*detail = "The instant is outside the timestamp range.";
		return false;
	}
	/* SHOW prints it in UTC, in a form this function must read back */
	cycle_usecs_to_local(usecs, &l);
	if (l.year < 1 || l.year > 9999)
	{
		*detail = "The instant lies outside the years 0001 to 9999 in UTC.";
		return false;
	}
	*result = usecs;
	return true;
}

static bool
check_clock(char **newval, void **extra, GucSource source)
{
	TimestampTz value;
	const char *detail;
	TimestampTz *stored;

	if (*newval == NULL || (*newval)[0] == '\0')
	{
		*extra = NULL;
		return true;
	}
	if (!parse_instant(*newval, &value, &detail))
	{
		GUC_check_errcode(ERRCODE_INVALID_DATETIME_FORMAT);
		GUC_check_errdetail("%s", detail);
		GUC_check_errhint("Use RESET credits.clock to return to the transaction timestamp.");
		return false;
	}
	/* GUC frees "extra" with free(), so it must come from malloc() */
	stored = (TimestampTz *) malloc(sizeof(TimestampTz));
	if (stored == NULL)
	{
		GUC_check_errcode(ERRCODE_OUT_OF_MEMORY);
		GUC_check_errmsg("out of memory");
		return false;
	}
	*stored = value;
	*extra = stored;
	return true;
}

static void
assign_clock(const char *newval, void *extra)
{
	clock_overridden = (extra != NULL);
	clock_value = extra ? *(TimestampTz *) extra : 0;
}

/* SHOW prints the UTC form, whatever form was set */
static const char *
show_clock(void)
{
	static char buf[64];
	CycleLocal	l;
	int64		frac;

	if (!clock_overridden)
		return "";
	cycle_usecs_to_local(clock_value, &l);
	frac = clock_value - cycle_local_to_usecs(&l);
	if (frac != 0)
	{
		int			digits = 6;

		/* as many fractional digits as it takes, like PostgreSQL's output */
		while (frac % 10 == 0)
		{
			frac /= 10;
			digits--;
		}
		snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%0*dZ",
				 l.year, l.month, l.day, l.hour, l.minute, l.second,
				 digits, (int) frac);
	}
	else
		snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02dZ",
				 l.year, l.month, l.day, l.hour, l.minute, l.second);
	return buf;
}

void
credits_guc_init(void)
{
	DefineCustomStringVariable("credits.clock",
							   "Sets the instant the credits extension decides by, instead of the transaction timestamp.",
							   "An ISO 8601 timestamp with Z or a UTC offset; empty means the transaction timestamp.",
							   &clock_setting,
							   "",
							   PGC_SUSET,
							   0,
							   check_clock,
							   assign_clock,
							   show_clock);

	DefineCustomBoolVariable("credits.clock_writes",
							 "Allows the credits extension to write while credits.clock is set.",
							 "Meant for test clusters that replay period boundaries.",
							 &clock_writes,
							 false,
							 PGC_SIGHUP,
							 0,
							 NULL, NULL, NULL);

	MarkGUCPrefixReserved("credits");
}

/* The clock: credits.clock if set, else the transaction timestamp */
TimestampTz
credits_now(void)
{
	return clock_overridden ? clock_value : GetCurrentTransactionStartTimestamp();
}

/* Whether credits.clock is set */
bool
credits_clock_overridden(void)
{
	return clock_overridden;
}

/* Refuses a write while the clock is overridden, unless allowed */
void
credits_require_clock_writes(void)
{
	if (clock_overridden && !clock_writes)
		ereport(ERROR,
				(errcode(ERRCODE_CREDITS_CLOCK_WRITES),
				 errmsg("cannot change credits while credits.clock is set"),
				 errdetail("credits.clock is %s and credits.clock_writes is off.",
						   show_clock()),
				 errhint("RESET credits.clock, or turn on credits.clock_writes in postgresql.conf or with ALTER SYSTEM on a test cluster.")));
}

PG_FUNCTION_INFO_V1(credits_clock);
Datum
credits_clock(PG_FUNCTION_ARGS)
{
	PG_RETURN_TIMESTAMPTZ(credits_now());
}
