/*-------------------------------------------------------------------------
 *
 * status.c
 *	  Reading an org's credits without writing anything: credits.balance
 *	  and the function behind the status views.
 *
 * These run read-only in the caller's snapshot, take no row locks and
 * never create a plan grant: a plan grant the current period has not
 * created yet is counted as if it existed.  So they work on a hot standby
 * and in READ ONLY transactions.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/rangetypes.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"

#include "org.h"

static CreditsQuery q_org = {
	"SELECT o.cycle, o.plan_credits, o.frozen, o.low_balance_threshold,"
	"       " CREDITS_CUT_SEQ_SQL("s") ", s.cycle_cut,"
	"       " CREDITS_SPENT_BELOW_SQL("s")
	"  FROM credits.orgs o LEFT JOIN credits.org_state s ON s.org = o.org"
	" WHERE o.org = $1",
	1, {TEXTOID}, NULL
};

/*
 * The grants not expired at $2: those that expire later, and those that
 * never expire from the org's spent_below on ($3; 1.0's table has none),
 * each an index range
 */
static CreditsQuery q_grants = {
	"SELECT kind::text, remaining, starts_at, expires_at, amount FROM credits.grants"
	" WHERE org = $1 AND expires_at > $2"
	" UNION ALL "
	"SELECT kind::text, remaining, starts_at, expires_at, amount FROM credits.grants"
	" WHERE org = $1 AND expires_at IS NULL AND id >= $3",
	3, {TEXTOID, TIMESTAMPTZOID, INT8OID}, NULL
};

static CreditsQuery q_used = {
	"SELECT coalesce(sum(used), 0)::bigint FROM credits.usage"
	" WHERE org = $1 AND period_start = $2",
	2, {TEXTOID, TIMESTAMPTZOID}, NULL
};

static CreditsQuery q_active_members = {
	"SELECT count(*)::integer FROM credits.members WHERE org = $1 AND active",
	1, {TEXTOID}, NULL
};

/* What the status of an org is made of */
typedef struct OrgStatus
{
	TimestampTz usage_start;
	TimestampTz usage_end;
	bool		has_plan_period;
	TimestampTz plan_start;
	TimestampTz plan_end;
	int64		plan_credits;	/* entitlement of the plan period */
	int64		credits_left;
	bool		has_expiry;
	TimestampTz next_expiry;
	int64		next_expiry_credits;
} OrgStatus;

/* Adds credits expiring at t to the earliest-expiry tally */
static void
note_expiry(OrgStatus *st, TimestampTz t, int64 credits)
{
	if (credits <= 0 || TIMESTAMP_IS_NOEND(t))
		return;
	if (!st->has_expiry || t < st->next_expiry)
	{
		st->has_expiry = true;
		st->next_expiry = t;
		st->next_expiry_credits = credits;
	}
	else if (t == st->next_expiry)
		st->next_expiry_credits += credits;
}

/*
 * Computes an org's status at the clock; raises ZC003 for an unknown
 * org.  The caller is connected to SPI.
 */
static void
compute_status(Datum org, OrgStatus *st, OrgInfo *info)
{
	TimestampTz now = credits_now();
	Datum		args[3];
	bool		isnull;
	Datum		d;
	uint64		n;
	bool		plan_grant_exists = false;
	int64		plan_grant_amount = 0;

	memset(st, 0, sizeof(*st));
	memset(info, 0, sizeof(*info));
	args[0] = org;
	if (credits_run(&q_org, args, NULL, true, 1) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_CREDITS_UNKNOWN_ORG),
				 errmsg("organization \"%s\" does not exist",
						TextDatumGetCString(org)),
				 errdetail("No row of credits.orgs has this key."),
				 errhint("Add the organization to credits.orgs first.")));
	org_read_info(info, CurrentMemoryContext);
	d = credits_get(0, 7, &isnull);
	args[2] = Int64GetDatum(isnull ? 0 : DatumGetInt64(d));

	org_usage_period(info, now, &st->usage_start, &st->usage_end);
	st->has_plan_period = org_plan_period(info, now, &st->plan_start,
										  &st->plan_end);

	args[1] = TimestampTzGetDatum(now);
	n = credits_run(&q_grants, args, NULL, true, 0);
	for (uint64 i = 0; i < n; i++)
	{
		GrantSlot	g = {0};
		char	   *kind = TextDatumGetCString(credits_get_notnull(i, 1));

		g.kind = kind[0] == 'p' ? 'p' : 'x';
		g.remaining = DatumGetInt64(credits_get_notnull(i, 2));
		g.starts_at = DatumGetTimestampTz(credits_get_notnull(i, 3));
		d = credits_get(i, 4, &isnull);
		g.expires_at = timestamptz_or_noend(d, isnull);
		if (st->has_plan_period && g.kind == 'p' &&
			g.starts_at == st->plan_start && g.expires_at > g.starts_at)
		{
			plan_grant_exists = true;
			plan_grant_amount = DatumGetInt64(credits_get_notnull(i, 5));
		}
		if (grant_spendable(&g, now))
		{
			st->credits_left += g.remaining;
			note_expiry(st, g.expires_at, g.remaining);
		}
	}

	if (st->has_plan_period)
	{
		int64		at_start;

		org_plan_values(org, info, false, st->plan_start, now, &at_start,
						&st->plan_credits);
		/* never below what the period was granted (see plan_changed) */
		if (plan_grant_exists && plan_grant_amount > st->plan_credits)
			st->plan_credits = plan_grant_amount;
		if (!plan_grant_exists)
		{
			st->credits_left += at_start;
			note_expiry(st, st->plan_end, at_start);
		}
	}
}

PG_FUNCTION_INFO_V1(credits_balance);
Datum
credits_balance(PG_FUNCTION_ARGS)
{
	OrgStatus	st;
	OrgInfo		info;

	credits_check_key(PG_GETARG_DATUM(0), PG_ARGISNULL(0), "organization");
	credits_begin();
	compute_status(PG_GETARG_DATUM(0), &st, &info);
	credits_end();
	PG_RETURN_INT64(st.credits_left);
}

/*
 * credits.check_key(key, what): the checks of a key argument (22023 empty,
 * 22001 longer than 256 bytes) for the extension's SQL functions; what
 * names the key in the message ("organization", "member").
 */
PG_FUNCTION_INFO_V1(credits_check_key_sql);
Datum
credits_check_key_sql(PG_FUNCTION_ARGS)
{
	credits_check_key(PG_GETARG_DATUM(0), false,
					  text_to_cstring(PG_GETARG_TEXT_PP(1)));
	PG_RETURN_VOID();
}

static Datum
range_datum(TimestampTz lower, TimestampTz upper)
{
	TypeCacheEntry *typcache = lookup_type_cache(TSTZRANGEOID,
												 TYPECACHE_RANGE_INFO);
	RangeBound	lb;
	RangeBound	ub;

	lb.val = TimestampTzGetDatum(lower);
	lb.infinite = TIMESTAMP_IS_NOBEGIN(lower);
	lb.inclusive = true;
	lb.lower = true;
	ub.val = TimestampTzGetDatum(upper);
	ub.infinite = TIMESTAMP_IS_NOEND(upper);
	ub.inclusive = false;
	ub.lower = false;
	return RangeTypePGetDatum(make_range(typcache, &lb, &ub, false));
}

/*
 * The row behind credits.org_status: period, plan_period, plan_credits,
 * credits_left, used_this_period, active_members, next_expiry,
 * next_expiry_credits.  The view adds the org and the monthly goal.
 */
PG_FUNCTION_INFO_V1(credits_org_status_of);
Datum
credits_org_status_of(PG_FUNCTION_ARGS)
{
	Datum		org = PG_GETARG_DATUM(0);
	TupleDesc	desc;
	OrgStatus	st;
	OrgInfo		info;
	Datum		values[8];
	bool		nulls[8] = {false, false, false, false, false, false, false, false};
	Datum		args[2];
	HeapTuple	tuple;

	credits_check_key(org, false, "organization");
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	desc = BlessTupleDesc(desc);

	credits_begin();
	compute_status(org, &st, &info);

	values[0] = range_datum(st.usage_start, st.usage_end);
	if (st.has_plan_period)
		values[1] = range_datum(st.plan_start, st.plan_end);
	else
		nulls[1] = true;
	values[2] = Int64GetDatum(st.has_plan_period ? st.plan_credits : 0);
	values[3] = Int64GetDatum(st.credits_left);

	args[0] = org;
	args[1] = TimestampTzGetDatum(st.usage_start);
	credits_run(&q_used, args, NULL, true, 1);
	values[4] = credits_get_notnull(0, 1);
	credits_run(&q_active_members, args, NULL, true, 1);
	values[5] = credits_get_notnull(0, 1);
	if (st.has_expiry)
	{
		values[6] = TimestampTzGetDatum(st.next_expiry);
		values[7] = Int64GetDatum(st.next_expiry_credits);
	}
	else
	{
		nulls[6] = true;
		nulls[7] = true;
	}

	/* the range values live in SPI memory: form the tuple before finishing */
	tuple = heap_form_tuple(desc, values, nulls);
	tuple = SPI_copytuple(tuple);
	credits_end();
	PG_RETURN_DATUM(HeapTupleGetDatum(tuple));
}

/*
 * The usage period of an org containing an instant (the clock if NULL):
 * what member usage is counted per, for reports on past periods.
 */
PG_FUNCTION_INFO_V1(credits_usage_period);
Datum
credits_usage_period(PG_FUNCTION_ARGS)
{
	Datum		org = PG_GETARG_DATUM(0);
	TimestampTz at = PG_ARGISNULL(1) ? credits_now() : PG_GETARG_TIMESTAMPTZ(1);
	OrgStatus	st;
	OrgInfo		info;
	TimestampTz start;
	TimestampTz end;
	Datum		result;

	credits_check_key(org, PG_ARGISNULL(0), "organization");
	if (TIMESTAMP_NOT_FINITE(at))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the instant must be finite"),
				 errdetail("Usage periods are bounded; infinity has none."),
				 errhint("Pass a finite timestamp.")));
	credits_begin();
	compute_status(org, &st, &info);
	org_usage_period(&info, at, &start, &end);
	credits_end();
	if (TIMESTAMP_NOT_FINITE(start) || TIMESTAMP_NOT_FINITE(end))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_FIELD_OVERFLOW),
				 errmsg("the usage period containing that instant is out of range"),
				 errdetail("The period starts or ends beyond the timestamp range."),
				 errhint("Pass an instant nearer the organization's cycle anchor.")));
	result = range_datum(start, end);
	PG_RETURN_DATUM(result);
}
