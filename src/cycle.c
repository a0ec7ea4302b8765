/*-------------------------------------------------------------------------
 *
 * cycle.c
 *	  The credits.cycle type: an anchored recurring period, such as the
 *	  billing cycle of a plan.
 *
 * Parsing, formatting and month arithmetic live in cycle_core.c; this file
 * ties them to the server: zone names are resolved against the zones of
 * pg_timezone_names, wall-clock period starts become instants exactly as
 * PostgreSQL's (anchor + k * step) AT TIME ZONE zone does, and the
 * SQL-callable functions, operators and support functions are defined.
 *
 * Period k starts at anchor + k * step in the cycle's zone, the day of month
 * clamped to the target month's length, and ends where period k + 1 starts.
 * Instants before the anchor belong to periods with negative k; the public
 * functions only expose the contract's periods 0 .. n-1.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/hash.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "funcapi.h"
#include "libpq/pqformat.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/hsearch.h"
#include "utils/rangetypes.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"

#include "credits.h"
#include "cycle_core.h"

static void report_bad_input(const char *str, CycleStatus status,
							 const char *detail) pg_attribute_noreturn();
static void report_unknown_zone(const char *zone) pg_attribute_noreturn();
static void report_out_of_range(const CycleParts *parts)
								pg_attribute_noreturn();

/* One entry of the zone-name table: upper-cased name -> name as listed */
typedef struct ZoneName
{
	char		key[TZ_STRLEN_MAX + 1];
	char		name[TZ_STRLEN_MAX + 1];
} ZoneName;

/* Zone names of pg_timezone_names, loaded once per backend */
static HTAB *zone_names = NULL;

/* Range type cache entry of tstzrange; entries live as long as the backend */
static TypeCacheEntry *tstzrange_typcache = NULL;

/*
 * Reads the zone names the way pg_timezone_names does: every zone of the
 * time zone database, less those whose abbreviation is absurdly long (a
 * broken "Factory" zone), which that view leaves out too.
 */
static void
load_zone_names(void)
{
	HASHCTL		ctl;
	HTAB	   *htab;
	pg_tzenum  *tzenum;
	pg_tz	   *tz;

	ctl.keysize = TZ_STRLEN_MAX + 1;
	ctl.entrysize = sizeof(ZoneName);
	htab = hash_create("credits zone names", 2048, &ctl,
					   HASH_ELEM | HASH_STRINGS);

	tzenum = pg_tzenumerate_start();
	while ((tz = pg_tzenumerate_next(tzenum)) != NULL)
	{
		const char *name = pg_get_timezone_name(tz);
		pg_time_t	probe = 0;
		struct pg_tm *tm = pg_localtime(&probe, tz);
		char		key[TZ_STRLEN_MAX + 1];
		ZoneName   *entry;
		bool		found;
		int			i;

		if (tm == NULL || (tm->tm_zone && strlen(tm->tm_zone) > 31))
			continue;
		for (i = 0; i < TZ_STRLEN_MAX && name[i] != '\0'; i++)
			key[i] = pg_ascii_toupper((unsigned char) name[i]);
		key[i] = '\0';
		entry = hash_search(htab, key, HASH_ENTER, &found);
		if (!found)
			strlcpy(entry->name, name, sizeof(entry->name));
	}
	pg_tzenumerate_end(tzenum);

	zone_names = htab;
}

/*
 * Names pg_timezone_names lists that a cycle still refuses: CET, EET, MET
 * and WET are also time zone abbreviations, which AT TIME ZONE reads as
 * fixed offsets although the zones observe DST, so periods could not
 * equal PostgreSQL's own arithmetic; localtime follows the host's
 * configuration, posixrules and Factory are not places.
 */
static const char *const refused_zones[] = {
	"CET", "EET", "MET", "WET", "LOCALTIME", "POSIXRULES", "FACTORY"
};

/*
 * Why a name pg_timezone_names lists is refused, or NULL if it is not one
 * of those
 */
static const char *
zone_refusal(const char *name)
{
	if (pg_strcasecmp(name, "CET") == 0 || pg_strcasecmp(name, "EET") == 0 ||
		pg_strcasecmp(name, "MET") == 0 || pg_strcasecmp(name, "WET") == 0)
		return "it is also a time zone abbreviation, which PostgreSQL reads as a fixed offset although the zone observes daylight saving time";
	if (pg_strcasecmp(name, "localtime") == 0)
		return "it follows the server's own configuration";
	if (pg_strcasecmp(name, "posixrules") == 0 ||
		pg_strcasecmp(name, "Factory") == 0)
		return "it names no place";
	return NULL;
}

/* The detail of an error about a zone name a cycle does not accept */
static void
zone_detail(const char *name, char *buf, size_t size)
{
	const char *why = zone_refusal(name);

	if (why != NULL)
		snprintf(buf, size, "Time zone \"%s\" is not accepted: %s.", name, why);
	else
		snprintf(buf, size,
				 "Time zone \"%s\" is not accepted: a cycle needs a zone name of pg_timezone_names, not an abbreviation, POSIX time zone string or numeric offset.",
				 name);
}

/*
 * The spelling pg_timezone_names lists for a zone name matched without
 * regard to case, or NULL if the name is not listed (abbreviations such as
 * CEST, POSIX strings such as UTC+3, offsets, unknown names) or refused.
 */
static const char *
canonical_zone_name(const char *name)
{
	char		key[TZ_STRLEN_MAX + 1];
	ZoneName   *entry;
	int			i;

	if (strlen(name) > TZ_STRLEN_MAX)
		return NULL;
	if (zone_names == NULL)
		load_zone_names();
	for (i = 0; name[i] != '\0'; i++)
		key[i] = pg_ascii_toupper((unsigned char) name[i]);
	key[i] = '\0';
	for (i = 0; i < (int) lengthof(refused_zones); i++)
	{
		if (strcmp(key, refused_zones[i]) == 0)
			return NULL;
	}
	entry = hash_search(zone_names, key, HASH_FIND, NULL);
	return entry ? entry->name : NULL;
}

/* The time zone of a cycle, for period arithmetic */
pg_tz *
cycle_tz(const Cycle *c)
{
	pg_tz	   *tz = pg_tzset(c->zone);

	/* possible only if a tzdata update removed the zone */
	if (tz == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("time zone \"%s\" of a cycle is no longer known", c->zone),
				 errhint("The time zone database no longer has this zone; update the cycle to a current zone name.")));
	return tz;
}

/*
 * Instant at which period k starts: the wall-clock time anchor + k months
 * (times the step) in the cycle's zone, as PostgreSQL's AT TIME ZONE
 * interprets it, including in DST gaps and overlaps.  Returns -infinity or
 * +infinity when the start lies before or after the timestamp range.
 */
TimestampTz
cycle_period_start(const Cycle *c, pg_tz *tz, int64 k)
{
	CycleLocal	anchor;
	CycleLocal	local;
	struct pg_tm tm;
	int			tzoff;
	TimestampTz result;

	cycle_usecs_to_local(c->anchor, &anchor);
	if (k < PG_INT32_MIN || k > PG_INT32_MAX ||
		!cycle_local_add_months(&anchor, k * c->months, &local))
		return k < 0 ? DT_NOBEGIN : DT_NOEND;

	memset(&tm, 0, sizeof(tm));
	tm.tm_year = local.year;
	tm.tm_mon = local.month;
	tm.tm_mday = local.day;
	tm.tm_hour = local.hour;
	tm.tm_min = local.minute;
	tm.tm_sec = local.second;
	tzoff = DetermineTimeZoneOffset(&tm, tz);
	if (tm2timestamp(&tm, 0, &tzoff, &result) != 0)
		return k < 0 ? DT_NOBEGIN : DT_NOEND;
	return result;
}

/*
 * Index k of the period containing the finite instant t, without regard to
 * the contract: instants before the anchor give negative indexes.
 */
int64
cycle_index_at(const Cycle *c, pg_tz *tz, TimestampTz t)
{
	struct pg_tm tm;
	fsec_t		fsec;
	int			tzoff;
	CycleLocal	anchor;
	int64		k;

	if (TIMESTAMP_NOT_FINITE(t))
		elog(ERROR, "cannot place an infinite instant in a cycle period");
	if (timestamp2tm(t, &tzoff, &tm, &fsec, NULL, tz) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range")));

	/* estimate from the months between anchor and t, then step to it */
	cycle_usecs_to_local(c->anchor, &anchor);
	k = cycle_floor_div((int64) tm.tm_year * 12 + (tm.tm_mon - 1) -
						cycle_local_month_number(&anchor), c->months);
	while (cycle_period_start(c, tz, k) > t)
	{
		CHECK_FOR_INTERRUPTS();
		k--;
	}
	while (cycle_period_start(c, tz, k + 1) <= t)
	{
		CHECK_FOR_INTERRUPTS();
		k++;
	}
	return k;
}

/* Parts of a stored cycle, for formatting and sending */
static void
cycle_to_parts(const Cycle *c, CycleParts *parts)
{
	memset(parts, 0, sizeof(*parts));
	cycle_usecs_to_local(c->anchor, &parts->anchor);
	parts->months = c->months;
	parts->periods = c->periods;
	strlcpy(parts->zone, c->zone, sizeof(parts->zone));
}

static char *
cycle_to_cstring(const Cycle *c)
{
	CycleParts	parts;
	size_t		len;
	char	   *buf;

	cycle_to_parts(c, &parts);
	len = cycle_format(&parts, NULL, 0);
	buf = palloc(len + 1);
	cycle_format(&parts, buf, len + 1);
	return buf;
}

/*
 * Last instant the cycle must be able to reach: the end of its contract,
 * or for an open-ended cycle the end of its first period.
 */
static bool
cycle_in_range(const Cycle *c)
{
	pg_tz	   *tz = cycle_tz(c);
	TimestampTz first = cycle_period_start(c, tz, 0);
	TimestampTz last = cycle_period_start(c, tz, c->periods > 0 ? c->periods : 1);

	return !TIMESTAMP_NOT_FINITE(first) && !TIMESTAMP_NOT_FINITE(last);
}

/*
 * Builds a cycle value from checked parts whose zone is already canonical.
 * Returns NULL if the contract leaves the timestamp range.
 */
static Cycle *
cycle_from_parts(const CycleParts *parts, const char *zone)
{
	size_t		zlen = strlen(zone);
	Size		size = offsetof(Cycle, zone) + zlen + 1;
	Cycle	   *c = (Cycle *) palloc0(size);

	SET_VARSIZE(c, size);
	c->months = parts->months;
	c->anchor = cycle_local_to_usecs(&parts->anchor);
	c->periods = parts->periods;
	memcpy(c->zone, zone, zlen + 1);

	if (!cycle_in_range(c))
	{
		pfree(c);
		return NULL;
	}
	return c;
}

static int
status_errcode(CycleStatus status)
{
	switch (status)
	{
		case CYCLE_BAD_SYNTAX:
			return ERRCODE_INVALID_DATETIME_FORMAT;
		case CYCLE_BAD_VALUE:
		case CYCLE_BAD_ZONE:
			return ERRCODE_INVALID_PARAMETER_VALUE;
		case CYCLE_OUT_OF_RANGE:
			return ERRCODE_DATETIME_FIELD_OVERFLOW;
		case CYCLE_OK:
			break;
	}
	elog(ERROR, "unexpected cycle status %d", (int) status);
	return 0;					/* keep compiler quiet */
}

#define ZONE_HINT "Use a time zone name from pg_timezone_names in Area/Location form, such as \"Europe/Stockholm\"."

/* Reports a rejected text input */
static void
report_bad_input(const char *str, CycleStatus status, const char *detail)
{
	if (status == CYCLE_BAD_SYNTAX)
		ereport(ERROR,
				(errcode(status_errcode(status)),
				 errmsg("invalid input syntax for type %s: \"%s\"", "cycle", str),
				 errdetail("%s", detail)));
	else if (status == CYCLE_OUT_OF_RANGE)
		ereport(ERROR,
				(errcode(status_errcode(status)),
				 errmsg("cycle out of range: \"%s\"", str),
				 errdetail("%s", detail)));
	else
		ereport(ERROR,
				(errcode(status_errcode(status)),
				 errmsg("invalid input value for type %s: \"%s\"", "cycle", str),
				 errdetail("%s", detail),
				 status == CYCLE_BAD_ZONE ? errhint(ZONE_HINT) : 0));
}

static void
report_unknown_zone(const char *zone)
{
	char		detail[TZ_STRLEN_MAX + 256];

	zone_detail(zone, detail, sizeof(detail));
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("time zone \"%s\" is not recognized", zone),
			 errdetail("%s", detail),
			 errhint(ZONE_HINT)));
}

static void
report_out_of_range(const CycleParts *parts)
{
	char		buf[CYCLE_ZONE_MAXLEN + 64];

	cycle_format(parts, buf, sizeof(buf));
	ereport(ERROR,
			(errcode(ERRCODE_DATETIME_FIELD_OVERFLOW),
			 errmsg("cycle out of range: \"%s\"", buf),
			 errdetail(parts->periods > 0 ?
					   "The contract would end beyond the timestamp range." :
					   "The first period would end beyond the timestamp range.")));
}

/* ---------------------------------------------------------------------
 * Input and output
 * ---------------------------------------------------------------------
 */

PG_FUNCTION_INFO_V1(credits_cycle_in);
Datum
credits_cycle_in(PG_FUNCTION_ARGS)
{
	char	   *str = PG_GETARG_CSTRING(0);
	CycleParts	parts;
	char		detail[256];
	CycleStatus status;
	const char *zone;
	Cycle	   *c;

	status = cycle_parse(str, &parts, detail, sizeof(detail));
	if (status != CYCLE_OK && status != CYCLE_OUT_OF_RANGE)
		report_bad_input(str, status, detail);

	/* a zone that is no zone name is a wrong value, before any range */
	zone = canonical_zone_name(parts.zone);
	if (zone == NULL)
	{
		zone_detail(parts.zone, detail, sizeof(detail));
		report_bad_input(str, CYCLE_BAD_ZONE, detail);
	}
	if (status == CYCLE_OUT_OF_RANGE)
		report_bad_input(str, status, detail);

	c = cycle_from_parts(&parts, zone);
	if (c == NULL)
		report_bad_input(str, CYCLE_OUT_OF_RANGE,
						 parts.periods > 0 ?
						 "The contract would end beyond the timestamp range." :
						 "The first period would end beyond the timestamp range.");
	PG_RETURN_CYCLE_P(c);
}

PG_FUNCTION_INFO_V1(credits_cycle_out);
Datum
credits_cycle_out(PG_FUNCTION_ARGS)
{
	Cycle	   *c = PG_GETARG_CYCLE_P(0);

	PG_RETURN_CSTRING(cycle_to_cstring(c));
}

PG_FUNCTION_INFO_V1(credits_cycle_recv);
Datum
credits_cycle_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int			len = buf->len - buf->cursor;
	const char *bytes = pq_getmsgbytes(buf, len);
	CycleParts	parts;
	char		detail[256];
	const char *zone;
	Cycle	   *c;

	if (cycle_decode((const unsigned char *) bytes, len, &parts,
					 detail, sizeof(detail)) != CYCLE_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid external cycle value"),
				 errdetail("%s", detail)));

	zone = canonical_zone_name(parts.zone);
	if (zone == NULL)
	{
		zone_detail(parts.zone, detail, sizeof(detail));
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid external cycle value"),
				 errdetail("%s", detail)));
	}

	c = cycle_from_parts(&parts, zone);
	if (c == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid external cycle value"),
				 errdetail("The cycle leaves the timestamp range.")));
	PG_RETURN_CYCLE_P(c);
}

PG_FUNCTION_INFO_V1(credits_cycle_send);
Datum
credits_cycle_send(PG_FUNCTION_ARGS)
{
	Cycle	   *c = PG_GETARG_CYCLE_P(0);
	CycleParts	parts;
	unsigned char bytes[17 + CYCLE_ZONE_MAXLEN];
	size_t		len;
	StringInfoData buf;

	cycle_to_parts(c, &parts);
	len = cycle_encode(&parts, bytes, sizeof(bytes));
	Assert(len <= sizeof(bytes));
	pq_begintypsend(&buf);
	pq_sendbytes(&buf, (const char *) bytes, len);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/* ---------------------------------------------------------------------
 * Constructors
 * ---------------------------------------------------------------------
 */

/* Checks a step interval and returns its months */
static int32
step_months(Interval *step)
{
	if (step->day != 0 || step->time != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cycle step must be a whole number of months"),
				 errdetail("The step has days or a time of day."),
				 errhint("Use a step such as interval '1 month' or interval '1 year'.")));
	if (step->month < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cycle step must be at least one month"),
				 errdetail("The step is %d months.", step->month),
				 errhint("Use a step such as interval '1 month' or interval '1 year'.")));
	return step->month;
}

/*
 * Shared tail of the constructors: checks the anchor, count and zone,
 * then builds the value.
 */
static Cycle *
make_cycle(Timestamp anchor, Interval *step, bool periods_null, int32 periods,
		   text *zone_text)
{
	CycleParts	parts;
	char	   *zone_arg = text_to_cstring(zone_text);
	const char *zone;
	Cycle	   *c;

	memset(&parts, 0, sizeof(parts));
	if (TIMESTAMP_NOT_FINITE(anchor))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_FIELD_OVERFLOW),
				 errmsg("cycle anchor must be a finite timestamp"),
				 errdetail("The anchor is infinite."),
				 errhint("Anchor the cycle on the sign-up time.")));
	if (anchor % USECS_PER_SEC != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cycle anchor cannot have fractional seconds"),
				 errdetail("The anchor is %s.",
						   DatumGetCString(DirectFunctionCall1(timestamp_out,
															   TimestampGetDatum(anchor))))));
	cycle_usecs_to_local(anchor, &parts.anchor);
	if (parts.anchor.year < 1 || parts.anchor.year > 9999)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_FIELD_OVERFLOW),
				 errmsg("cycle anchor is out of range"),
				 errdetail("The anchor is %s; it must lie in the years 0001 to 9999.",
						   DatumGetCString(DirectFunctionCall1(timestamp_out,
															   TimestampGetDatum(anchor))))));
	parts.months = step_months(step);
	if (!periods_null && periods < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cycle must have at least one period"),
				 errdetail("The number of periods is %d.", periods),
				 errhint("Pass NULL for an open-ended cycle.")));
	parts.periods = periods_null ? 0 : periods;

	zone = canonical_zone_name(zone_arg);
	if (zone == NULL)
		report_unknown_zone(zone_arg);
	strlcpy(parts.zone, zone, sizeof(parts.zone));

	c = cycle_from_parts(&parts, zone);
	if (c == NULL)
		report_out_of_range(&parts);
	return c;
}

static void
require_arg(FunctionCallInfo fcinfo, int argno, const char *what)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("cycle %s cannot be null", what),
				 errdetail("Argument %d, %s, is required; null was given.",
						   argno + 1, what),
				 errhint("Only the number of periods may be null, for an open-ended cycle.")));
}

PG_FUNCTION_INFO_V1(credits_cycle_make);
Datum
credits_cycle_make(PG_FUNCTION_ARGS)
{
	require_arg(fcinfo, 0, "anchor");
	require_arg(fcinfo, 1, "step");
	require_arg(fcinfo, 3, "time zone");

	PG_RETURN_CYCLE_P(make_cycle(PG_GETARG_TIMESTAMP(0),
								 PG_GETARG_INTERVAL_P(1),
								 PG_ARGISNULL(2),
								 PG_ARGISNULL(2) ? 0 : PG_GETARG_INT32(2),
								 PG_GETARG_TEXT_PP(3)));
}

PG_FUNCTION_INFO_V1(credits_cycle_from);
Datum
credits_cycle_from(PG_FUNCTION_ARGS)
{
	TimestampTz start;
	char	   *zone_arg;
	const char *zone;
	struct pg_tm tm;
	fsec_t		fsec;
	int			tzoff;
	Timestamp	anchor;

	require_arg(fcinfo, 0, "start");
	require_arg(fcinfo, 1, "step");
	require_arg(fcinfo, 3, "time zone");

	start = PG_GETARG_TIMESTAMPTZ(0);
	if (TIMESTAMP_NOT_FINITE(start))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_FIELD_OVERFLOW),
				 errmsg("cycle start must be a finite timestamp"),
				 errdetail("The start is infinite."),
				 errhint("Start the cycle at the sign-up time.")));
	zone_arg = text_to_cstring(PG_GETARG_TEXT_PP(3));
	zone = canonical_zone_name(zone_arg);
	if (zone == NULL)
		report_unknown_zone(zone_arg);

	/* start AT TIME ZONE zone, seconds truncated (SPEC section 2) */
	if (timestamp2tm(start, &tzoff, &tm, &fsec, NULL, pg_tzset(zone)) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_FIELD_OVERFLOW),
				 errmsg("timestamp out of range"),
				 errdetail("The start has no wall-clock time in zone \"%s\".", zone),
				 errhint("Start the cycle at the sign-up time.")));
	tm.tm_sec = 0;
	if (tm2timestamp(&tm, 0, NULL, &anchor) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_FIELD_OVERFLOW),
				 errmsg("timestamp out of range"),
				 errdetail("The start has no wall-clock time in zone \"%s\".", zone),
				 errhint("Start the cycle at the sign-up time.")));

	PG_RETURN_CYCLE_P(make_cycle(anchor,
								 PG_GETARG_INTERVAL_P(1),
								 PG_ARGISNULL(2),
								 PG_ARGISNULL(2) ? 0 : PG_GETARG_INT32(2),
								 PG_GETARG_TEXT_PP(3)));
}

/* ---------------------------------------------------------------------
 * Periods
 * ---------------------------------------------------------------------
 */

static TypeCacheEntry *
tstzrange_cache(void)
{
	if (tstzrange_typcache == NULL)
		tstzrange_typcache = lookup_type_cache(TSTZRANGEOID,
											   TYPECACHE_RANGE_INFO);
	return tstzrange_typcache;
}

/* [lower, upper), or [lower, ) when upper is +infinity */
static RangeType *
make_period_range(TimestampTz lower, TimestampTz upper)
{
	RangeBound	lb;
	RangeBound	ub;

	lb.val = TimestampTzGetDatum(lower);
	lb.infinite = false;
	lb.inclusive = true;
	lb.lower = true;
	ub.val = TimestampTzGetDatum(upper);
	ub.infinite = TIMESTAMP_IS_NOEND(upper);
	ub.inclusive = false;
	ub.lower = false;
	return make_range(tstzrange_cache(), &lb, &ub, false);
}

/* Period k of the cycle as a range; 22008 if it leaves the timestamp range */
static RangeType *
period_range(const Cycle *c, pg_tz *tz, int64 k)
{
	TimestampTz start = cycle_period_start(c, tz, k);
	TimestampTz end = cycle_period_start(c, tz, k + 1);

	if (TIMESTAMP_NOT_FINITE(start) || TIMESTAMP_NOT_FINITE(end))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_FIELD_OVERFLOW),
				 errmsg("period " INT64_FORMAT " of cycle \"%s\" is out of range",
						k, cycle_to_cstring(c)),
				 errdetail("The period would end beyond the timestamp range.")));
	return make_period_range(start, end);
}

/*
 * Contract period containing t, or -1 if t lies outside the contract
 * (before the anchor, after an R<n> contract, or infinite).
 */
static int64
contract_index_at(const Cycle *c, pg_tz *tz, TimestampTz t)
{
	int64		k;

	if (TIMESTAMP_NOT_FINITE(t) || t < cycle_period_start(c, tz, 0))
		return -1;
	k = cycle_index_at(c, tz, t);
	if (c->periods > 0 && k >= c->periods)
		return -1;
	return k;
}

PG_FUNCTION_INFO_V1(credits_period_at);
Datum
credits_period_at(PG_FUNCTION_ARGS)
{
	Cycle	   *c = PG_GETARG_CYCLE_P(0);
	TimestampTz t = PG_GETARG_TIMESTAMPTZ(1);
	pg_tz	   *tz = cycle_tz(c);
	int64		k = contract_index_at(c, tz, t);

	if (k < 0)
		PG_RETURN_NULL();
	PG_RETURN_RANGE_P(period_range(c, tz, k));
}

PG_FUNCTION_INFO_V1(credits_period_index);
Datum
credits_period_index(PG_FUNCTION_ARGS)
{
	Cycle	   *c = PG_GETARG_CYCLE_P(0);
	TimestampTz t = PG_GETARG_TIMESTAMPTZ(1);
	int64		k = contract_index_at(c, cycle_tz(c), t);

	if (k < 0)
		PG_RETURN_NULL();
	PG_RETURN_INT32((int32) k);
}

PG_FUNCTION_INFO_V1(credits_period);
Datum
credits_period(PG_FUNCTION_ARGS)
{
	Cycle	   *c = PG_GETARG_CYCLE_P(0);
	int32		k = PG_GETARG_INT32(1);

	if (k < 0 || (c->periods > 0 && k >= c->periods))
		PG_RETURN_NULL();
	PG_RETURN_RANGE_P(period_range(c, cycle_tz(c), k));
}

/* State of a periods() scan */
typedef struct PeriodsScan
{
	Cycle	   *cycle;
	RangeType  *range;
	int64		next;			/* next index to try */
	int64		last;			/* last index that may overlap */
} PeriodsScan;

PG_FUNCTION_INFO_V1(credits_periods);
Datum
credits_periods(PG_FUNCTION_ARGS)
{
	FuncCallContext *funcctx;
	PeriodsScan *scan;
	pg_tz	   *tz;

	if (SRF_IS_FIRSTCALL())
	{
		MemoryContext oldcontext;
		TypeCacheEntry *typcache = tstzrange_cache();
		RangeBound	lower;
		RangeBound	upper;
		bool		empty;
		Cycle	   *c;

		funcctx = SRF_FIRSTCALL_INIT();
		oldcontext = MemoryContextSwitchTo(funcctx->multi_call_memory_ctx);
		scan = palloc0(sizeof(PeriodsScan));
		scan->cycle = c = PG_GETARG_CYCLE_P_COPY(0);
		scan->range = PG_GETARG_RANGE_P_COPY(1);
		MemoryContextSwitchTo(oldcontext);
		funcctx->user_fctx = scan;

		tz = cycle_tz(c);
		range_deserialize(typcache, scan->range, &lower, &upper, &empty);
		if (empty)
		{
			scan->next = 0;
			scan->last = -1;
		}
		else
		{
			TimestampTz lo = DatumGetTimestampTz(lower.val);
			TimestampTz hi = DatumGetTimestampTz(upper.val);
			bool		hi_unbounded = upper.infinite || TIMESTAMP_IS_NOEND(hi);

			if (!lower.infinite && TIMESTAMP_IS_NOEND(lo))
			{
				/* starts at +infinity: no period reaches it */
				scan->next = 0;
				scan->last = -1;
			}
			else
			{
				if (hi_unbounded && c->periods == 0)
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("range has no upper bound and cycle \"%s\" is open-ended",
									cycle_to_cstring(c)),
							 errdetail("The set of periods would be infinite."),
							 errhint("Give the range an upper bound.")));

				if (lower.infinite || TIMESTAMP_IS_NOBEGIN(lo) ||
					lo < cycle_period_start(c, tz, 0))
					scan->next = 0;
				else
					scan->next = cycle_index_at(c, tz, lo);

				if (hi_unbounded)
					scan->last = c->periods - 1;
				else if (TIMESTAMP_IS_NOBEGIN(hi))
					scan->last = -1;
				else
				{
					scan->last = cycle_index_at(c, tz, hi);
					if (c->periods > 0 && scan->last > c->periods - 1)
						scan->last = c->periods - 1;
				}
			}
		}
	}

	funcctx = SRF_PERCALL_SETUP();
	scan = funcctx->user_fctx;
	tz = cycle_tz(scan->cycle);
	while (scan->next <= scan->last)
	{
		RangeType  *period = period_range(scan->cycle, tz, scan->next++);

		/* the first and last candidates may only touch the range */
		if (range_overlaps_internal(tstzrange_cache(), period, scan->range))
			SRF_RETURN_NEXT(funcctx, RangeTypePGetDatum(period));
		pfree(period);
	}
	SRF_RETURN_DONE(funcctx);
}

/* ---------------------------------------------------------------------
 * Accessors
 * ---------------------------------------------------------------------
 */

PG_FUNCTION_INFO_V1(credits_cycle_anchor);
Datum
credits_cycle_anchor(PG_FUNCTION_ARGS)
{
	PG_RETURN_TIMESTAMP(PG_GETARG_CYCLE_P(0)->anchor);
}

PG_FUNCTION_INFO_V1(credits_cycle_zone);
Datum
credits_cycle_zone(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(PG_GETARG_CYCLE_P(0)->zone));
}

PG_FUNCTION_INFO_V1(credits_cycle_step);
Datum
credits_cycle_step(PG_FUNCTION_ARGS)
{
	Interval   *step = palloc0(sizeof(Interval));

	step->month = PG_GETARG_CYCLE_P(0)->months;
	PG_RETURN_INTERVAL_P(step);
}

PG_FUNCTION_INFO_V1(credits_cycle_period_count);
Datum
credits_cycle_period_count(PG_FUNCTION_ARGS)
{
	Cycle	   *c = PG_GETARG_CYCLE_P(0);

	if (c->periods == 0)
		PG_RETURN_NULL();
	PG_RETURN_INT32(c->periods);
}

PG_FUNCTION_INFO_V1(credits_cycle_months);
Datum
credits_cycle_months(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(PG_GETARG_CYCLE_P(0)->months);
}

PG_FUNCTION_INFO_V1(credits_cycle_contract);
Datum
credits_cycle_contract(PG_FUNCTION_ARGS)
{
	Cycle	   *c = PG_GETARG_CYCLE_P(0);
	pg_tz	   *tz = cycle_tz(c);

	/* both ends were checked to be in range when the value was made */
	PG_RETURN_RANGE_P(make_period_range(cycle_period_start(c, tz, 0),
										c->periods > 0 ?
										cycle_period_start(c, tz, c->periods) :
										DT_NOEND));
}

/* ---------------------------------------------------------------------
 * Comparison and hashing
 *
 * Order: local anchor, zone name (bytes), months per period, period count
 * with open-ended last.  Nothing here consults the time zone database, so
 * indexes stay valid across tzdata updates.
 * ---------------------------------------------------------------------
 */

static int
cycle_cmp_internal(const Cycle *a, const Cycle *b)
{
	int			r;
	int64		pa;
	int64		pb;

	if (a->anchor != b->anchor)
		return a->anchor < b->anchor ? -1 : 1;
	r = strcmp(a->zone, b->zone);
	if (r != 0)
		return r < 0 ? -1 : 1;
	if (a->months != b->months)
		return a->months < b->months ? -1 : 1;
	pa = a->periods > 0 ? a->periods : (int64) PG_INT32_MAX + 1;
	pb = b->periods > 0 ? b->periods : (int64) PG_INT32_MAX + 1;
	if (pa != pb)
		return pa < pb ? -1 : 1;
	return 0;
}

/* Equality of the type's = operator, for C callers */
bool
cycle_equal(const Cycle *a, const Cycle *b)
{
	return cycle_cmp_internal(a, b) == 0;
}

#define CYCLE_CMP_FUNCTION(name, test) \
PG_FUNCTION_INFO_V1(name); \
Datum \
name(PG_FUNCTION_ARGS) \
{ \
	Cycle	   *a = PG_GETARG_CYCLE_P(0); \
	Cycle	   *b = PG_GETARG_CYCLE_P(1); \
	int			r = cycle_cmp_internal(a, b); \
\
	PG_FREE_IF_COPY(a, 0); \
	PG_FREE_IF_COPY(b, 1); \
	PG_RETURN_BOOL(test); \
}

CYCLE_CMP_FUNCTION(credits_cycle_eq, r == 0)
CYCLE_CMP_FUNCTION(credits_cycle_ne, r != 0)
CYCLE_CMP_FUNCTION(credits_cycle_lt, r < 0)
CYCLE_CMP_FUNCTION(credits_cycle_le, r <= 0)
CYCLE_CMP_FUNCTION(credits_cycle_gt, r > 0)
CYCLE_CMP_FUNCTION(credits_cycle_ge, r >= 0)

PG_FUNCTION_INFO_V1(credits_cycle_cmp);
Datum
credits_cycle_cmp(PG_FUNCTION_ARGS)
{
	Cycle	   *a = PG_GETARG_CYCLE_P(0);
	Cycle	   *b = PG_GETARG_CYCLE_P(1);
	int			r = cycle_cmp_internal(a, b);

	PG_FREE_IF_COPY(a, 0);
	PG_FREE_IF_COPY(b, 1);
	PG_RETURN_INT32(r);
}

/*
 * Values are built with palloc0 and have no padding, so equal values have
 * equal bytes after the varlena header.
 */
PG_FUNCTION_INFO_V1(credits_cycle_hash);
Datum
credits_cycle_hash(PG_FUNCTION_ARGS)
{
	Cycle	   *c = PG_GETARG_CYCLE_P(0);
	const unsigned char *bytes = (const unsigned char *) &c->months;
	int			len = VARSIZE(c) - offsetof(Cycle, months);

	uint32		h = hash_bytes(bytes, len);

	PG_FREE_IF_COPY(c, 0);
	PG_RETURN_UINT32(h);
}

PG_FUNCTION_INFO_V1(credits_cycle_hash_extended);
Datum
credits_cycle_hash_extended(PG_FUNCTION_ARGS)
{
	Cycle	   *c = PG_GETARG_CYCLE_P(0);
	const unsigned char *bytes = (const unsigned char *) &c->months;
	int			len = VARSIZE(c) - offsetof(Cycle, months);

	uint64		h = hash_bytes_extended(bytes, len, PG_GETARG_INT64(1));

	PG_FREE_IF_COPY(c, 0);
	PG_RETURN_UINT64(h);
}
