/*-------------------------------------------------------------------------
 *
 * admin.c
 *	  Adding and removing credits: credits.grant_one_time,
 *	  credits.grant_referral, credits.adjust, credits.revoke_grant,
 *	  credits.renew_due and credits.expire_due.
 *
 * Each call is idempotent by its key (a ref, or the referred customer): a
 * repeat with the same values returns the first result, other values raise
 * ZC005.  The key is looked up after the org is locked, so two concurrent
 * repeats cannot both act.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "org.h"

static void report_key_reused(const char *what, const char *key,
							  const char *detail) pg_attribute_noreturn();

/* Orgs read per page by renew_due and expire_due */
#define ORG_PAGE	500

static CreditsQuery q_find_one_time = {
	"SELECT id, amount, expires_at FROM credits.grants"
	" WHERE org = $1 AND kind = 'one_time' AND ref = $2",
	2, {TEXTOID, TEXTOID}, NULL
};

static CreditsQuery q_find_referral = {
	"SELECT id, org, amount, expires_at FROM credits.grants"
	" WHERE kind = 'referral' AND ref = $1",
	1, {TEXTOID}, NULL
};

static CreditsQuery q_find_request = {
	"SELECT amount, grant_id, note, result FROM credits.requests"
	" WHERE op = $1 AND org = $2 AND ref = $3",
	3, {TEXTOID, TEXTOID, TEXTOID}, NULL
};

static CreditsQuery q_find_revoke = {
	"SELECT amount, grant_id, note, result FROM credits.requests"
	" WHERE op = 'revoke' AND ref = $1",
	1, {TEXTOID}, NULL
};

static CreditsQuery q_insert_request = {
	"INSERT INTO credits.requests (op, org, ref, amount, grant_id, note, result)"
	"  VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
	7, {TEXTOID, TEXTOID, TEXTOID, INT8OID, INT8OID, TEXTOID, INT8OID}, NULL
};

static CreditsQuery q_grant_org = {
	"SELECT org FROM credits.grant_rows WHERE id = $1",
	1, {INT8OID}, NULL
};

static CreditsQuery q_orgs_page = {
	"SELECT o.org, o.cycle, o.plan_credits, " CREDITS_CUT_SEQ_SQL("s") ", s.cycle_cut"
	"  FROM credits.orgs o LEFT JOIN credits.org_state s ON s.org = o.org"
	" WHERE o.org > $1 ORDER BY o.org LIMIT 500",
	2, {TEXTOID, TIMESTAMPTZOID}, NULL
};

static CreditsQuery q_has_plan_grant = {
	"SELECT 1 FROM credits.grant_rows"
	" WHERE org = $1 AND kind = 'plan' AND starts_at = $2"
	"   AND (expires_at IS NULL OR expires_at > starts_at)",
	2, {TEXTOID, TIMESTAMPTZOID}, NULL
};

static CreditsQuery q_expiring_orgs = {
	"SELECT DISTINCT org FROM credits.grants"
	" WHERE org > $1 AND expires_at <= $2 AND remaining > 0"
	" ORDER BY org LIMIT 500",
	2, {TEXTOID, TIMESTAMPTZOID}, NULL
};

static CreditsQuery q_expiring_grants = {
	"SELECT id, remaining, expires_at FROM credits.grants"
	" WHERE org = $1 AND expires_at <= $2 AND remaining > 0 ORDER BY id",
	2, {TEXTOID, TIMESTAMPTZOID}, NULL
};

static CreditsQuery q_expire_grant = {
	"UPDATE credits.grant_left SET remaining = 0 WHERE grant_id = $1",
	1, {INT8OID}, NULL
};

static void
require_not_null(FunctionCallInfo fcinfo, int argno, const char *what)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s cannot be null", what),
				 errdetail("Argument %d, %s, is required; null was given.",
						   argno + 1, what),
				 errhint("Pass a value for %s.", what)));
}

/* An expiry given for new credits must lie ahead of the clock */
static void
check_expiry(TimestampTz expires_at, TimestampTz now)
{
	if (TIMESTAMP_NOT_FINITE(expires_at) || expires_at <= now)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("expires_at must be a finite instant after the clock"),
				 errdetail("expires_at is %s and the clock is %s.",
						   pstrdup(timestamptz_to_str(expires_at)),
						   pstrdup(timestamptz_to_str(now))),
				 errhint("Pass NULL for credits that never expire.")));
}

static void
report_key_reused(const char *what, const char *key, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_CREDITS_KEY_REUSED),
			 errmsg("%s \"%s\" was already used with other values", what, key),
			 errdetail("%s", detail),
			 errhint("Repeat a call with exactly its first values, or use a new key.")));
}

static bool
same_expiry(Datum d, bool isnull, TimestampTz expires_at)
{
	return timestamptz_or_noend(d, isnull) == expires_at;
}

/* ---------------------------------------------------------------------
 * credits.grant_one_time
 * ---------------------------------------------------------------------
 */

PG_FUNCTION_INFO_V1(credits_grant_one_time);
Datum
credits_grant_one_time(PG_FUNCTION_ARGS)
{
	Datum		org = PG_GETARG_DATUM(0);
	Datum		ref = PG_GETARG_DATUM(1);
	int64		amount;
	TimestampTz expires_at;
	TimestampTz now;
	OrgEntry   *o;
	Datum		args[2];
	GrantSlot  *g;
	int64		id;

	credits_check_key(org, PG_ARGISNULL(0), "organization");
	credits_check_key(ref, PG_ARGISNULL(1), "ref");
	require_not_null(fcinfo, 2, "amount");
	amount = PG_GETARG_INT64(2);
	credits_check_amount(amount, "amount");
	expires_at = PG_ARGISNULL(3) ? DT_NOEND : PG_GETARG_TIMESTAMPTZ(3);
	credits_require_clock_writes();

	credits_begin();
	o = org_lock(org, false);
	now = org_clock(o);

	args[0] = org;
	args[1] = ref;
	if (credits_run(&q_find_one_time, args, NULL, false, 1) == 1)
	{
		bool		isnull;
		Datum		d = credits_get(0, 3, &isnull);

		id = DatumGetInt64(credits_get_notnull(0, 1));
		if (DatumGetInt64(credits_get_notnull(0, 2)) != amount ||
			!same_expiry(d, isnull, expires_at))
			report_key_reused("ref", TextDatumGetCString(ref),
							  "A one-time grant with this ref has another amount or expiry.");
		credits_end();
		PG_RETURN_INT64(id);
	}

	if (!TIMESTAMP_IS_NOEND(expires_at))
		check_expiry(expires_at, now);
	org_check_total(o, now, amount);
	g = org_add_grant(o, "one_time", amount, now, expires_at, ref, false,
					  now, now, (Datum) 0, true);
	if (g == NULL)
		elog(ERROR, "one-time grant collided although the org is locked");
	id = g->id;
	org_signal(o, now);
	credits_end();
	PG_RETURN_INT64(id);
}

/* ---------------------------------------------------------------------
 * credits.grant_referral
 * ---------------------------------------------------------------------
 */

/*
 * The referral bonus of referred, if one exists: returns its id, or
 * raises ZC005 if it was given with other values.  Returns 0 if none.
 */
static int64
existing_referral(Datum org, Datum referred, int64 amount,
				  TimestampTz expires_at)
{
	Datum		args[1];
	bool		isnull;
	Datum		d;
	char	   *their_org;

	args[0] = referred;
	if (credits_run(&q_find_referral, args, NULL, false, 1) == 0)
		return 0;
	their_org = TextDatumGetCString(credits_get_notnull(0, 2));
	d = credits_get(0, 4, &isnull);
	if (strcmp(their_org, TextDatumGetCString(org)) != 0)
		report_key_reused("referred customer", TextDatumGetCString(referred),
						  "The referral bonus for this customer went to another organization.");
	if (DatumGetInt64(credits_get_notnull(0, 3)) != amount ||
		!same_expiry(d, isnull, expires_at))
		report_key_reused("referred customer", TextDatumGetCString(referred),
						  "The referral bonus for this customer has another amount or expiry.");
	return DatumGetInt64(credits_get_notnull(0, 1));
}

PG_FUNCTION_INFO_V1(credits_grant_referral);
Datum
credits_grant_referral(PG_FUNCTION_ARGS)
{
	Datum		org = PG_GETARG_DATUM(0);
	Datum		referred = PG_GETARG_DATUM(1);
	int64		amount;
	TimestampTz expires_at;
	TimestampTz now;
	OrgEntry   *o;
	GrantSlot  *g;
	int64		id;

	credits_check_key(org, PG_ARGISNULL(0), "organization");
	credits_check_key(referred, PG_ARGISNULL(1), "referred");
	require_not_null(fcinfo, 2, "amount");
	amount = PG_GETARG_INT64(2);
	credits_check_amount(amount, "amount");
	expires_at = PG_ARGISNULL(3) ? DT_NOEND : PG_GETARG_TIMESTAMPTZ(3);
	if (DatumGetBool(DirectFunctionCall2Coll(texteq, C_COLLATION_OID, org, referred)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("organization \"%s\" cannot refer itself",
						TextDatumGetCString(org)),
				 errdetail("The arguments referred and org are the same key."),
				 errhint("referred is the key of the new customer who signed up through the link.")));
	credits_require_clock_writes();

	credits_begin();
	o = org_lock(org, false);
	now = org_clock(o);

	id = existing_referral(org, referred, amount, expires_at);
	if (id == 0)
	{
		if (!TIMESTAMP_IS_NOEND(expires_at))
			check_expiry(expires_at, now);
		org_check_total(o, now, amount);
		g = org_add_grant(o, "referral", amount, now, expires_at, referred,
						  false, now, now, (Datum) 0, true);
		if (g != NULL)
		{
			id = g->id;
			org_signal(o, now);
		}
		else
		{
			/* another org's transaction took this customer meanwhile */
			id = existing_referral(org, referred, amount, expires_at);
			if (id == 0)
				elog(ERROR, "referral collided with an invisible grant");
		}
	}
	credits_end();
	PG_RETURN_INT64(id);
}

/* ---------------------------------------------------------------------
 * credits.adjust and credits.revoke_grant
 * ---------------------------------------------------------------------
 */

/*
 * Removes up to amount spendable credits in consumption order, with an
 * "adjust" ledger entry per grant touched.  Returns how many it removed.
 */
static int64
remove_credits(OrgEntry *o, TimestampTz now, int64 amount, Datum ref,
			   Datum note, bool note_null)
{
	int64		removed = 0;

	org_ensure_plan_grant(o, now);
	for (int i = 0; i < o->ngrants && removed < amount; i++)
	{
		GrantSlot  *g = &o->grants[i];
		int64		take;

		if (!grant_spendable(g, now))
			continue;
		take = Min(g->remaining, amount - removed);
		org_change_grant(o, g, -take);
		ledger_append(CStringGetTextDatum(o->org), 0, now, LEDGER_ADJUST,
					  -take, g->id, (Datum) 0, true, (Datum) 0, true,
					  ref, false, note, note_null);
		removed += take;
	}
	return removed;
}

static void
record_request(const char *op, Datum org, Datum ref, int64 amount,
			   bool amount_null, int64 grant_id, bool grant_null,
			   Datum note, bool note_null, int64 result)
{
	Datum		args[7];
	char		nulls[7] = "       ";

	args[0] = CStringGetTextDatum(op);
	args[1] = org;
	args[2] = ref;
	args[3] = Int64GetDatum(amount);
	nulls[3] = amount_null ? 'n' : ' ';
	args[4] = Int64GetDatum(grant_id);
	nulls[4] = grant_null ? 'n' : ' ';
	args[5] = note;
	nulls[5] = note_null ? 'n' : ' ';
	args[6] = Int64GetDatum(result);
	if (credits_run(&q_insert_request, args, nulls, false, 0) != 1)
		report_key_reused("ref", TextDatumGetCString(ref),
						  "Another call recorded this ref at the same time.");
}

/* Finds an earlier request with this key; true with its row loaded */
static bool
find_request(const char *op, Datum org, Datum ref)
{
	Datum		args[3];

	args[0] = CStringGetTextDatum(op);
	args[1] = org;
	args[2] = ref;
	return credits_run(&q_find_request, args, NULL, false, 1) == 1;
}

static bool
same_note(Datum note, bool note_null)
{
	bool		isnull;
	Datum		d = credits_get(0, 3, &isnull);

	if (isnull || note_null)
		return isnull == note_null;
	return DatumGetBool(DirectFunctionCall2Coll(texteq, C_COLLATION_OID, d, note));
}

/* Whether a ref has the form of the refs refund() gives its grants */
static bool
ref_is_refunds(Datum ref)
{
	text	   *t = DatumGetTextPP(ref);
	static const char prefix[] = "refund:";

	return VARSIZE_ANY_EXHDR(t) >= sizeof(prefix) - 1 &&
		memcmp(VARDATA_ANY(t), prefix, sizeof(prefix) - 1) == 0;
}

PG_FUNCTION_INFO_V1(credits_adjust);
Datum
credits_adjust(PG_FUNCTION_ARGS)
{
	Datum		org = PG_GETARG_DATUM(0);
	Datum		ref = PG_GETARG_DATUM(1);
	int64		amount;
	Datum		note = PG_GETARG_DATUM(3);
	OrgEntry   *o;
	TimestampTz now;
	int64		result;

	credits_check_key(org, PG_ARGISNULL(0), "organization");
	credits_check_key(ref, PG_ARGISNULL(1), "ref");
	require_not_null(fcinfo, 2, "amount");
	require_not_null(fcinfo, 3, "note");
	amount = PG_GETARG_INT64(2);
	if (amount == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("amount cannot be zero"),
				 errdetail("An adjustment adds or removes 1 to " INT64_FORMAT " credits.",
						   CREDITS_AMOUNT_MAX),
				 errhint("A positive amount adds credits, a negative one removes them.")));
	if (amount < -CREDITS_AMOUNT_MAX || amount > CREDITS_AMOUNT_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("amount is out of range"),
				 errdetail("The amount is " INT64_FORMAT "; at most " INT64_FORMAT " credits are allowed per call.",
						   amount, CREDITS_AMOUNT_MAX),
				 errhint("Split a larger adjustment over several calls, each with its own ref.")));
	credits_require_clock_writes();

	credits_begin();
	o = org_lock(org, false);
	now = org_clock(o);

	if (find_request("adjust", org, ref))
	{
		if (DatumGetInt64(credits_get_notnull(0, 1)) != amount ||
			!same_note(note, false))
			report_key_reused("ref", TextDatumGetCString(ref),
							  "An adjustment with this ref has another amount or note.");
		result = DatumGetInt64(credits_get_notnull(0, 4));
		credits_end();
		PG_RETURN_INT64(result);
	}

	/*
	 * refund() names the adjustment grants it makes "refund:<debit id>";
	 * an adjust() with such a ref would be a second adjustment of that
	 * key, or take the key of a refund to come
	 */
	if (ref_is_refunds(ref))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("ref \"%s\" is reserved for refunds", TextDatumGetCString(ref)),
				 errdetail("credits.refund names the grants it makes \"refund:\" and the id of the debit it undoes."),
				 errhint("Use a ref that does not begin with \"refund:\".")));

	if (amount > 0)
	{
		org_check_total(o, now, amount);
		if (org_add_grant(o, "adjustment", amount, now, DT_NOEND, ref, false,
						  now, now, note, false) == NULL)
			elog(ERROR, "adjustment grant collided although the org is locked");
	}
	else
	{
		int64		left = org_spendable(o, now);

		if (left < -amount)
			org_report_no_credits(o, now, left, -amount);
		if (remove_credits(o, now, -amount, ref, note, false) != -amount)
			elog(ERROR, "removed fewer credits than were counted");
	}
	result = amount;
	record_request("adjust", org, ref, amount, false, 0, true, note, false,
				   result);
	org_signal(o, now);
	credits_end();
	PG_RETURN_INT64(result);
}

PG_FUNCTION_INFO_V1(credits_revoke_grant);
Datum
credits_revoke_grant(PG_FUNCTION_ARGS)
{
	int64		grant_id;
	Datum		ref = PG_GETARG_DATUM(1);
	Datum		note = PG_GETARG_DATUM(2);
	Datum		args[1];
	Datum		org;
	OrgEntry   *o;
	TimestampTz now;
	GrantSlot  *g;
	int64		removed = 0;

	require_not_null(fcinfo, 0, "grant_id");
	credits_check_key(ref, PG_ARGISNULL(1), "ref");
	require_not_null(fcinfo, 2, "note");
	grant_id = PG_GETARG_INT64(0);
	credits_require_clock_writes();

	credits_begin();
	args[0] = Int64GetDatum(grant_id);
	if (credits_run(&q_grant_org, args, NULL, false, 1) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("grant " INT64_FORMAT " does not exist", grant_id),
				 errdetail("No row of credits.grants has id " INT64_FORMAT ".", grant_id),
				 errhint("Look the grant up in credits.grants.")));
	org = PointerGetDatum(DatumGetTextPCopy(credits_get_notnull(0, 1)));
	o = org_lock(org, false);
	now = org_clock(o);

	args[0] = ref;
	if (credits_run(&q_find_revoke, args, NULL, false, 1) == 1)
	{
		bool		isnull;
		Datum		d = credits_get(0, 2, &isnull);

		if (isnull || DatumGetInt64(d) != grant_id || !same_note(note, false))
			report_key_reused("ref", TextDatumGetCString(ref),
							  "A revocation with this ref names another grant or note.");
		removed = DatumGetInt64(credits_get_notnull(0, 4));
		credits_end();
		PG_RETURN_INT64(removed);
	}

	g = org_find_grant(o, grant_id, now);
	if (g == NULL)
		elog(ERROR, "grant " INT64_FORMAT " vanished", grant_id);
	if (g->remaining > 0 && g->expires_at <= now)
	{
		/*
		 * Its credits expired at its expires_at, whether or not expire_due
		 * has written that yet: the expire entry goes in now, dated then,
		 * as expire_due would write it, and nothing is left to revoke
		 */
		int64		expired = g->remaining;

		org_change_grant(o, g, -expired);
		ledger_append(org, 0, g->expires_at, LEDGER_EXPIRE, -expired, grant_id,
					  (Datum) 0, true, (Datum) 0, true, (Datum) 0, true,
					  (Datum) 0, true);
	}
	else if (g->remaining > 0)
	{
		removed = g->remaining;
		org_change_grant(o, g, -removed);
		ledger_append(org, 0, now, LEDGER_ADJUST, -removed, grant_id,
					  (Datum) 0, true, (Datum) 0, true, ref, false,
					  note, false);
	}
	record_request("revoke", org, ref, 0, true, grant_id, false, note, false,
				   removed);
	org_signal(o, now);
	credits_end();
	PG_RETURN_INT64(removed);
}

/* ---------------------------------------------------------------------
 * credits.renew_due and credits.expire_due
 * ---------------------------------------------------------------------
 */

static int64
max_orgs_arg(FunctionCallInfo fcinfo)
{
	int32		max_orgs;

	if (PG_ARGISNULL(0))
		return PG_INT64_MAX;
	max_orgs = PG_GETARG_INT32(0);
	if (max_orgs < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_orgs cannot be negative"),
				 errdetail("max_orgs is %d.", max_orgs),
				 errhint("Pass NULL for no limit.")));
	return max_orgs;
}

/*
 * Called for each org of a page; returns true when the org counts toward
 * max_orgs.
 */
typedef bool (*OrgVisitor) (SPITupleTable *page, uint64 row, Datum org,
							TimestampTz now, void *state);

/*
 * Walks the orgs page_query returns ($1: the last org of the previous page,
 * $2: the clock), in key order and a page at a time so that memory stays
 * flat, until max_orgs of them have counted.  Returns how many counted.
 */
static int64
visit_orgs(CreditsQuery *page_query, TimestampTz now, int64 max_orgs,
		   OrgVisitor visit, void *state)
{
	Datum		after = CStringGetTextDatum("");
	int64		counted = 0;
	bool		more = true;

	while (more && counted < max_orgs)
	{
		Datum		args[2];
		SPITupleTable *page;
		uint64		n;
		bool		isnull;

		args[0] = after;
		args[1] = TimestampTzGetDatum(now);
		n = credits_run(page_query, args, NULL, false, 0);
		page = SPI_tuptable;
		SPI_tuptable = NULL;
		more = (n == ORG_PAGE);
		for (uint64 i = 0; i < n && counted < max_orgs; i++)
		{
			Datum		org = SPI_getbinval(page->vals[i], page->tupdesc, 1, &isnull);
			bool		counts;

			/*
			 * An SPI level of its own, and the org out of the cache after,
			 * so that memory stays flat however many orgs are visited
			 */
			credits_begin_nested();
			counts = visit(page, i, org, now, state);
			credits_end();
			org_forget_key(org);
			if (counts)
				counted++;
		}
		if (n > 0)
			after = PointerGetDatum(DatumGetTextPCopy(SPI_getbinval(page->vals[n - 1],
																	page->tupdesc,
																	1, &isnull)));
		SPI_freetuptable(page);
	}
	return counted;
}

/* renew_due: creates the org's missing plan grant; counts if it did */
static bool
renew_org(SPITupleTable *page, uint64 row, Datum org, TimestampTz now,
		  void *state)
{
	HeapTuple	tup = page->vals[row];
	TupleDesc	desc = page->tupdesc;
	bool		isnull;
	OrgInfo		info;
	TimestampTz start;
	TimestampTz end;
	Datum		cut;
	Datum		args[2];
	uint64		found;
	OrgEntry   *o;

	memset(&info, 0, sizeof(info));
	info.cycle = (Cycle *) PG_DETOAST_DATUM(SPI_getbinval(tup, desc, 2, &isnull));
	info.plan_credits = DatumGetInt64(SPI_getbinval(tup, desc, 3, &isnull));
	cut = SPI_getbinval(tup, desc, 4, &isnull);
	info.cut_seq = isnull ? -1 : DatumGetInt64(cut);
	cut = SPI_getbinval(tup, desc, 5, &isnull);
	info.cycle_cut = isnull ? DT_NOBEGIN : DatumGetTimestampTz(cut);
	if (!org_plan_period(&info, now, &start, &end))
		return false;
	args[0] = org;
	args[1] = TimestampTzGetDatum(start);
	found = credits_run(&q_has_plan_grant, args, NULL, false, 1);
	credits_free_result();
	if (found > 0)
		return false;

	/* a period that starts with no plan credits has no grant to make */
	{
		int64		at_start;
		int64		entitlement;

		org_plan_values(org, &info, false, start, now, &at_start,
						&entitlement);
		if (at_start == 0)
			return false;
	}

	/*
	 * Lock it, or leave it to renew lazily if someone holds it (or if its
	 * plan restarted after this transaction's clock)
	 */
	o = org_lock(org, true);
	if (o == NULL || !org_clock_ok(o, now))
		return false;
	org_load_grants(o, now);
	if (!org_plan_period(&o->info, now, &start, &end) ||
		org_find_plan_grant(o, start) != NULL ||
		org_ensure_plan_grant(o, now) == NULL)
		return false;
	org_signal(o, now);
	return true;
}

PG_FUNCTION_INFO_V1(credits_renew_due);
Datum
credits_renew_due(PG_FUNCTION_ARGS)
{
	int64		max_orgs = max_orgs_arg(fcinfo);
	int64		created;

	credits_require_clock_writes();
	credits_begin();
	created = visit_orgs(&q_orgs_page, credits_now(), max_orgs, renew_org, NULL);
	credits_end();
	PG_RETURN_INT64(created);
}

/* expire_due: writes the expire entries of one org; counts if locked */
static bool
expire_org(SPITupleTable *page, uint64 row, Datum org, TimestampTz now,
		   void *state)
{
	int64	   *written = (int64 *) state;
	OrgEntry   *o;
	Datum		args[2];
	SPITupleTable *grants;
	uint64		ng;
	bool		isnull;

	o = org_lock(org, true);
	if (o == NULL || !org_clock_ok(o, now))
		return false;

	args[0] = org;
	args[1] = TimestampTzGetDatum(now);
	ng = credits_run(&q_expiring_grants, args, NULL, false, 0);
	grants = SPI_tuptable;
	SPI_tuptable = NULL;
	for (uint64 j = 0; j < ng; j++)
	{
		HeapTuple	tup = grants->vals[j];
		int64		id = DatumGetInt64(SPI_getbinval(tup, grants->tupdesc, 1, &isnull));
		int64		remaining = DatumGetInt64(SPI_getbinval(tup, grants->tupdesc, 2, &isnull));
		TimestampTz expires_at = DatumGetTimestampTz(SPI_getbinval(tup, grants->tupdesc, 3, &isnull));
		Datum		gargs[1];

		gargs[0] = Int64GetDatum(id);
		credits_allow_protected_writes(true);
		credits_run(&q_expire_grant, gargs, NULL, false, 0);
		credits_allow_protected_writes(false);
		ledger_append(org, 0, expires_at, LEDGER_EXPIRE, -remaining, id,
					  (Datum) 0, true, (Datum) 0, true,
					  (Datum) 0, true, (Datum) 0, true);
		(*written)++;
	}
	SPI_freetuptable(grants);
	org_invalidate_grants(o);
	org_signal(o, now);
	return true;
}

PG_FUNCTION_INFO_V1(credits_expire_due);
Datum
credits_expire_due(PG_FUNCTION_ARGS)
{
	int64		max_orgs = max_orgs_arg(fcinfo);
	int64		written = 0;

	credits_require_clock_writes();
	credits_begin();
	visit_orgs(&q_expiring_orgs, credits_now(), max_orgs, expire_org, &written);
	credits_end();
	PG_RETURN_INT64(written);
}
