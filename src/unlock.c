/*-------------------------------------------------------------------------
 *
 * unlock.c
 *	  Unlocking prospects: credits.unlock, credits.unlock_many,
 *	  credits.is_unlocked, credits.refund, and the triggers that make
 *	  INSERT INTO credits.unlocks charge.
 *
 * An unlock costs one credit, once per (org, prospect).  Whether the
 * prospect is already unlocked is decided only after the org is locked,
 * so concurrent unlocks of one prospect charge exactly once.
 *
 * INSERT INTO credits.unlocks goes to credits.unlock_rows (the view is
 * auto-updatable, so ON CONFLICT works as on a table).  The BEFORE ROW
 * trigger locks the org and fills in the clock, the usage period and a
 * reserved ledger id; it fires even for rows ON CONFLICT then skips, so it
 * never charges.  The AFTER ROW trigger, which fires only for rows really
 * inserted, charges.  A row that arrives with its ledger id already set
 * (pg_restore's COPY) is stored as it is.  The functions here write their
 * rows below the executor (rows.c), where no trigger fires.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_attribute.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "org.h"
#include "rows.h"

static void report_frozen(OrgEntry *o) pg_attribute_noreturn();
static void report_member(OrgEntry *o, MemberSlot *m, bool member_null)
						  pg_attribute_noreturn();
static void report_limit(OrgEntry *o, MemberSlot *m, TimestampTz usage_end,
						 int64 needed) pg_attribute_noreturn();
static void report_refused(OrgEntry *o, MemberSlot *m, TimestampTz now,
						   TimestampTz uend, int64 left, int64 needed)
						   pg_attribute_noreturn();

/* Rows per heap write in unlock_many */
#define UNLOCK_BATCH	1000

/* Ledger ids reserved by the BEFORE trigger for rows still to be charged */
static HTAB *pending_charges = NULL;
static LocalTransactionId pending_lxid = InvalidLocalTransactionId;

static bool unlock_charge_pending(int64 debit_id);

static CreditsQuery q_is_unlocked = {
	"SELECT EXISTS (SELECT 1 FROM credits.orgs WHERE org = $1),"
	"       EXISTS (SELECT 1 FROM credits.unlock_rows"
	"                WHERE org = $1 AND prospect = $2)",
	2, {TEXTOID, TEXTOID}, NULL
};

static CreditsQuery q_unlock_for_refund = {
	"SELECT member, unlocked_at, usage_start, debit_id, ctid"
	"  FROM credits.unlock_rows WHERE org = $1 AND prospect = $2",
	2, {TEXTOID, TEXTOID}, NULL
};

static CreditsQuery q_debit_grant = {
	"SELECT grant_id FROM credits.ledger WHERE id = $1 AND kind = 'debit'",
	1, {INT8OID}, NULL
};

static CreditsQuery q_unlock_delete = {
	"DELETE FROM credits.unlock_rows WHERE ctid = $1 AND org = $2 AND prospect = $3",
	3, {TIDOID, TEXTOID, TEXTOID}, NULL
};

/* ---------------------------------------------------------------------
 * Charging
 * ---------------------------------------------------------------------
 */

static void
report_frozen(OrgEntry *o)
{
	ereport(ERROR,
			(errcode(ERRCODE_CREDITS_FROZEN),
			 errmsg("organization \"%s\" is frozen", o->org),
			 errdetail("Spending is stopped while the organization is frozen; its credits are kept."),
			 errhint("Set frozen = false in credits.orgs once the account is settled.")));
}

/*
 * ZC004.  A NULL member comes only from a row (SPEC section 6): the
 * functions refuse a NULL member argument with 22004 before anything.
 */
static void
report_member(OrgEntry *o, MemberSlot *m, bool member_null)
{
	if (member_null)
		ereport(ERROR,
				(errcode(ERRCODE_CREDITS_UNKNOWN_MEMBER),
				 errmsg("a member is required to unlock for organization \"%s\"", o->org),
				 errdetail("The member is NULL."),
				 errhint("Name the member who unlocks.")));
	if (!m->exists)
		ereport(ERROR,
				(errcode(ERRCODE_CREDITS_UNKNOWN_MEMBER),
				 errmsg("member \"%s\" of organization \"%s\" does not exist",
						m->member, o->org),
				 errdetail("No row of credits.members has this member for the organization."),
				 errhint("Add the member to credits.members first.")));
	ereport(ERROR,
			(errcode(ERRCODE_CREDITS_UNKNOWN_MEMBER),
			 errmsg("member \"%s\" of organization \"%s\" is not active",
					m->member, o->org),
			 errdetail("Only active members spend credits."),
			 errhint("Set active = true in credits.members to let the member spend again.")));
}

static void
report_limit(OrgEntry *o, MemberSlot *m, TimestampTz usage_end, int64 needed)
{
	ereport(ERROR,
			(errcode(ERRCODE_CREDITS_LIMIT),
			 errmsg("member \"%s\" of organization \"%s\" has reached the period limit",
					m->member, o->org),
			 errdetail("Period limit: " INT64_FORMAT "; used this period: " INT64_FORMAT "; needed: " INT64_FORMAT ".",
					   m->period_limit, m->used, needed),
			 errhint("An admin can raise period_limit in credits.members; the period ends at %s.",
					 timestamptz_to_str(usage_end))));
}

/*
 * The checks of a charge of n credits to member, in the order SPEC
 * section 5 gives (ZC003 was checked by the lock): frozen (ZC008), member
 * (ZC004); then returns how many of the n the limit and the credits
 * allow.  *by_limit tells which ran out first.  Loads the member's usage
 * for the usage period at now.
 */
static int64
charge_allowance(OrgEntry *o, MemberSlot **mp, Datum member, bool member_null,
				 TimestampTz now, TimestampTz ustart, int64 n,
				 bool *by_limit, int64 *left)
{
	MemberSlot *m = NULL;
	int64		allowed = n;

	if (o->info.frozen)
		report_frozen(o);
	if (!member_null)
	{
		/* the member's key matters only now that a charge is due */
		credits_check_key(member, false, "member");
		m = org_member(o, member, ustart);
	}
	if (member_null || !m->exists || !m->active)
		report_member(o, m, member_null);
	org_member_usage(o, m, ustart);
	*mp = m;

	*by_limit = false;
	if (m->has_limit)
	{
		int64		room = m->period_limit - m->used;

		if (room < 0)
			room = 0;
		if (room < allowed)
		{
			allowed = room;
			*by_limit = true;
		}
	}
	*left = org_spendable(o, now);
	if (*left < allowed)
	{
		allowed = *left;
		*by_limit = false;
	}
	return allowed;
}

/*
 * Takes one credit for an unlock whose row is written, in consumption
 * order; returns the grant it came from.
 */
static int64
take_credit(OrgEntry *o, TimestampTz now)
{
	org_ensure_plan_grant(o, now);
	for (int i = 0; i < o->ngrants; i++)
	{
		GrantSlot  *g = &o->grants[i];

		if (grant_spendable(g, now))
		{
			org_change_grant(o, g, -1);
			return g->id;
		}
	}
	elog(ERROR, "no spendable grant although credits were counted");
	return 0;					/* keep compiler quiet */
}

/*
 * Charges one unlock whose row already exists, with the ledger id the
 * row carries: usage, then the grant, then the ledger (lock order).
 */
static void
charge_unlock(OrgEntry *o, MemberSlot *m, Datum member, Datum prospect,
			  TimestampTz now, int64 debit_id)
{
	int64		grant_id;

	org_member_add_usage(o, m, member, 1);
	grant_id = take_credit(o, now);
	ledger_append(CStringGetTextDatum(o->org), debit_id, now, LEDGER_DEBIT,
				  -1, grant_id, member, false, prospect, false,
				  (Datum) 0, true, (Datum) 0, true);
}

/* Raises the error for a charge the allowance refused */
static void
report_refused(OrgEntry *o, MemberSlot *m, TimestampTz now, TimestampTz uend,
			   int64 left, int64 needed)
{
	/* SPEC's order: the member's limit (ZC002) before the credits (ZC001) */
	if (m->has_limit && m->period_limit - m->used < needed)
		report_limit(o, m, uend, needed);
	org_report_no_credits(o, now, left, needed);
}

/*
 * Adds the unlock row of prospect to batch b: unlocked now by member (who
 * may be NULL only in a statement that then fails), counting in the usage
 * period starting at ustart, paid by ledger entry debit_id.
 */
static void
unlock_row_add(RowBatch *b, Datum org, Datum prospect, Datum member,
			   bool member_null, TimestampTz now, TimestampTz ustart,
			   int64 debit_id, Datum via)
{
	TupleTableSlot *slot = rows_slot(b);
	Datum	   *values = slot->tts_values;
	bool	   *nulls = slot->tts_isnull;

	memset(nulls, false, sizeof(bool) * UNLOCK_ROWS_VIA);
	values[UNLOCK_ROWS_ORG - 1] = org;
	values[UNLOCK_ROWS_PROSPECT - 1] = prospect;
	values[UNLOCK_ROWS_MEMBER - 1] = member;
	nulls[UNLOCK_ROWS_MEMBER - 1] = member_null;
	values[UNLOCK_ROWS_UNLOCKED_AT - 1] = TimestampTzGetDatum(now);
	values[UNLOCK_ROWS_USAGE_START - 1] = TimestampTzGetDatum(ustart);
	values[UNLOCK_ROWS_DEBIT_ID - 1] = Int64GetDatum(debit_id);
	values[UNLOCK_ROWS_VIA - 1] = via;
	rows_add(b);
}

/* ---------------------------------------------------------------------
 * credits.unlock
 * ---------------------------------------------------------------------
 */

/*
 * Unlocks one prospect: true if this call charged, false if it was
 * unlocked already.  The caller has checked the keys and is connected to
 * SPI.  by_trigger: the app-table trigger unlocks (recorded in the row).
 */
bool
unlock_prospect(Datum org, Datum member, bool member_null, Datum prospect,
				bool by_trigger)
{
	OrgEntry   *o;
	MemberSlot *m;
	TimestampTz now;
	TimestampTz ustart;
	TimestampTz uend;
	bool		by_limit;
	int64		left;
	int64		debit_id;
	RowBatch   *b;

	/*
	 * At READ COMMITTED, an unlock this statement can see is committed (or
	 * ours), and if no refund is deleting it, only a refund that begins
	 * after this call can undo it: answer without taking the lock, so
	 * retries and re-unlocks write nothing.  Otherwise decide under the
	 * lock (a refund in progress holds it).  REPEATABLE READ and
	 * SERIALIZABLE always take the lock: their snapshot may predate a
	 * refund, and the lock turns that into a serialization failure.
	 */
	if (!IsolationUsesXactSnapshot() && unlock_settled(org, prospect))
		return false;

	/*
	 * Like a read-only transaction at the org lock (25006), an overridden
	 * clock refuses writes only here: an unlocked prospect is answered
	 * above, writing nothing
	 */
	credits_require_clock_writes();
	o = org_lock(org, false);

	/* under the lock, a row already there means unlocked: nothing to pay */
	if (unlock_exists(org, prospect))
		return false;

	now = org_clock(o);
	org_usage_period(&o->info, now, &ustart, &uend);

	/* a new period's plan grant first, so the ledger reads in order */
	org_ensure_plan_grant(o, now);

	/*
	 * The unlock row first (lock order); a check that fails after it
	 * raises an error, which takes the row back with it.
	 */
	debit_id = ledger_next_id();
	b = unlock_rows_begin(1);
	unlock_row_add(b, org, prospect, member, member_null, now, ustart,
				   debit_id,
				   rows_enum(b, UNLOCK_ROWS_VIA, by_trigger ? "trigger" : "unlock"));
	rows_end(b);

	if (charge_allowance(o, &m, member, member_null, now, ustart, 1,
						 &by_limit, &left) < 1)
		report_refused(o, m, now, uend, left, 1);
	charge_unlock(o, m, member, prospect, now, debit_id);
	if (by_trigger)
		org_signal_at_statement_end(o, now);
	else
		org_signal(o, now);
	return true;
}

PG_FUNCTION_INFO_V1(credits_unlock);
Datum
credits_unlock(PG_FUNCTION_ARGS)
{
	Datum		org = PG_GETARG_DATUM(0);
	Datum		member = PG_GETARG_DATUM(1);
	Datum		prospect = PG_GETARG_DATUM(2);
	bool		member_null = PG_ARGISNULL(1);
	bool		charged;

	credits_check_key(org, PG_ARGISNULL(0), "organization");
	credits_check_key(member, member_null, "member");
	credits_check_key(prospect, PG_ARGISNULL(2), "prospect");

	credits_begin();
	charged = unlock_prospect(org, member, member_null, prospect, false);
	credits_end();
	PG_RETURN_BOOL(charged);
}

/* ---------------------------------------------------------------------
 * credits.unlock_many
 * ---------------------------------------------------------------------
 */

/* One distinct input prospect and what happened to it */
typedef struct ManyItem
{
	text	   *prospect;
	int64		debit_id;		/* the charge's ledger id */
	bool		was_unlocked;	/* already unlocked before the call */
	bool		charged;
	char		refused;		/* 'l'imit or 'c'redits, if not unlocked */
} ManyItem;

/* Orders prospect positions by text, then position */
static int
prospect_order(const void *a, const void *b, void *arg)
{
	ManyItem   *items = (ManyItem *) arg;
	int			i = *(const int *) a;
	int			j = *(const int *) b;
	text	   *x = items[i].prospect;
	text	   *y = items[j].prospect;
	int			lx = VARSIZE_ANY_EXHDR(x);
	int			ly = VARSIZE_ANY_EXHDR(y);
	int			r = memcmp(VARDATA_ANY(x), VARDATA_ANY(y), Min(lx, ly));

	if (r != 0)
		return r;
	if (lx != ly)
		return lx < ly ? -1 : 1;
	return i < j ? -1 : (i > j);
}

/*
 * The distinct prospects of the input array, checked, in the order of
 * their first appearance.  Sorting positions rather than hashing keeps
 * memory at a few words per prospect for arrays of any size.
 */
static int
distinct_prospects(ArrayType *input, ManyItem **result)
{
	int			n = ArrayGetNItems(ARR_NDIM(input), ARR_DIMS(input));
	ManyItem   *items = palloc0(sizeof(ManyItem) * Max(n, 1));
	int		   *order = palloc(sizeof(int) * Max(n, 1));
	bool	   *dup = palloc0(sizeof(bool) * Max(n, 1));
	ArrayIterator it = array_create_iterator(input, 0, NULL);
	Datum		value;
	bool		isnull;
	int			count = 0;
	int			kept = 0;

	while (array_iterate(it, &value, &isnull))
	{
		credits_check_key(value, isnull, "prospect");
		items[count].prospect = DatumGetTextPP(value);
		order[count] = count;
		count++;
	}
	array_free_iterator(it);

	qsort_arg(order, count, sizeof(int), prospect_order, items);
	for (int k = 1; k < count; k++)
	{
		text	   *x = items[order[k - 1]].prospect;
		text	   *y = items[order[k]].prospect;

		if (VARSIZE_ANY_EXHDR(x) == VARSIZE_ANY_EXHDR(y) &&
			memcmp(VARDATA_ANY(x), VARDATA_ANY(y), VARSIZE_ANY_EXHDR(x)) == 0)
			dup[order[k]] = true;
	}
	for (int k = 0; k < count; k++)
	{
		if (!dup[k])
			items[kept++] = items[k];
	}
	pfree(order);
	pfree(dup);
	*result = items;
	return kept;
}

/*
 * Charges the n items marked charged, in input order: their unlock rows,
 * the member's usage, the grants in consumption order, then one debit per
 * unlock (lock order).
 */
static void
charge_items(OrgEntry *o, MemberSlot *m, Datum member, ManyItem *items,
			 int nitems, int64 n, TimestampTz now, TimestampTz ustart)
{
	Datum		org = CStringGetTextDatum(o->org);
	RowBatch   *b;
	Datum		via;
	int64	   *takes;
	int64		done = 0;
	int			g = 0;
	Oid			seq;

	if (n == 0)
		return;

	/* a new period's plan grant first, so the ledger reads in order */
	org_ensure_plan_grant(o, now);

	b = unlock_rows_begin(UNLOCK_BATCH);
	via = rows_enum(b, UNLOCK_ROWS_VIA, "unlock_many");
	seq = ledger_id_seq();
	for (int k = 0; k < nitems; k++)
	{
		CHECK_FOR_INTERRUPTS();
		if (!items[k].charged)
			continue;
		items[k].debit_id = nextval_internal(seq, false);
		unlock_row_add(b, org, PointerGetDatum(items[k].prospect), member,
					   false, now, ustart, items[k].debit_id, via);
	}
	rows_end(b);

	org_member_add_usage(o, m, member, n);

	/* the grants in consumption order: how much each gives */
	org_ensure_plan_grant(o, now);
	takes = palloc0(sizeof(int64) * Max(o->ngrants, 1));
	for (int k = 0; k < o->ngrants && done < n; k++)
	{
		GrantSlot  *slot = &o->grants[k];

		if (!grant_spendable(slot, now))
			continue;
		takes[k] = Min(slot->remaining, n - done);
		org_change_grant(o, slot, -takes[k]);
		done += takes[k];
	}
	if (done < n)
		elog(ERROR, "not enough spendable grants although credits were counted");

	/* one debit per unlock, from those grants in turn */
	b = ledger_begin(UNLOCK_BATCH);
	for (int k = 0; k < nitems; k++)
	{
		if (!items[k].charged)
			continue;
		while (takes[g] == 0)
			g++;
		takes[g]--;
		ledger_add(b, org, items[k].debit_id, now, LEDGER_DEBIT, -1,
				   o->grants[g].id, member, false,
				   PointerGetDatum(items[k].prospect), false,
				   (Datum) 0, true, (Datum) 0, true);
	}
	rows_end(b);
	pfree(takes);
}

/*
 * Whether there are prospects and every one is unlocked by a row no
 * refund is deleting (unlock_settled), all seen at one instant; the first
 * one decides at once for a call with new prospects
 */
static bool
all_settled(Datum org, const ManyItem *items, int nitems)
{
	KeyScan    *ks;
	bool		settled = nitems > 0;

	if (!settled)
		return false;
	ks = unlock_probe_begin();
	for (int i = 0; i < nitems && settled; i++)
		settled = unlock_probe(ks, org, PointerGetDatum(items[i].prospect),
							   true);
	keyscan_end(ks);
	return settled;
}

/* unlock_many's result: one row per distinct prospect, in input order */
static void
put_many_rows(ReturnSetInfo *rsinfo, const ManyItem *items, int nitems)
{
	for (int i = 0; i < nitems; i++)
	{
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};

		values[0] = PointerGetDatum(items[i].prospect);
		values[1] = BoolGetDatum(items[i].charged);
		values[2] = BoolGetDatum(items[i].was_unlocked || items[i].charged);
		if (items[i].refused)
			values[3] = CStringGetTextDatum(items[i].refused == 'l' ? "limit" : "credits");
		else
			nulls[3] = true;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
}

PG_FUNCTION_INFO_V1(credits_unlock_many);
Datum
credits_unlock_many(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Datum		org = PG_GETARG_DATUM(0);
	Datum		member = PG_GETARG_DATUM(1);
	bool		member_null = PG_ARGISNULL(1);
	ArrayType  *input;
	bool		partial;
	ManyItem   *items;
	int			nitems;
	OrgEntry   *o;
	MemberSlot *m = NULL;
	TimestampTz now;
	TimestampTz ustart;
	TimestampTz uend;
	int64		due = 0;
	int64		allowed = 0;
	bool		by_limit = false;
	int64		left = 0;

	credits_check_key(org, PG_ARGISNULL(0), "organization");
	credits_check_key(member, member_null, "member");
	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("prospects cannot be null"),
				 errdetail("Argument 3, prospects, is required; null was given."),
				 errhint("Pass an array of prospect keys; an empty array unlocks nothing.")));
	if (PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("partial cannot be null"),
				 errdetail("Argument 4, partial, is required; null was given."),
				 errhint("Pass false to pay for all new prospects or none, true to pay while credits last.")));
	input = PG_GETARG_ARRAYTYPE_P(2);
	partial = PG_GETARG_BOOL(3);
	if (ARR_NDIM(input) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("prospects must be a one-dimensional array"),
				 errdetail("The array has %d dimensions.", ARR_NDIM(input)),
				 errhint("Pass the prospects as a flat array of text.")));
	/*
	 * The result type is fixed: the descriptor the executor expects saves
	 * building it from the catalog, whose scratch memory would last until
	 * the end of the query (a call per row of a join)
	 */
	InitMaterializedSRF(fcinfo,
						rsinfo != NULL && IsA(rsinfo, ReturnSetInfo) &&
						rsinfo->expectedDesc != NULL ?
						MAT_SRF_USE_EXPECTED_DESC : 0);

	/* distinct prospects, in input order of first appearance */
	nitems = distinct_prospects(input, &items);

	/*
	 * As unlock() does: at READ COMMITTED, prospects all settled unlocked
	 * are answered without the lock, writing nothing
	 */
	credits_check_not_nested();
	if (!IsolationUsesXactSnapshot() && all_settled(org, items, nitems))
	{
		for (int i = 0; i < nitems; i++)
			items[i].was_unlocked = true;
		put_many_rows(rsinfo, items, nitems);
		return (Datum) 0;
	}

	credits_require_clock_writes();
	credits_begin();
	o = org_lock(org, false);

	/* which are unlocked already */
	{
		KeyScan    *ks = unlock_probe_begin();

		for (int i = 0; i < nitems; i++)
		{
			items[i].was_unlocked =
				unlock_probe(ks, org, PointerGetDatum(items[i].prospect), false);
			if (!items[i].was_unlocked)
				due++;
		}
		keyscan_end(ks);
	}

	now = due > 0 ? org_clock(o) : credits_now();
	org_usage_period(&o->info, now, &ustart, &uend);
	if (due > 0)
	{
		allowed = charge_allowance(o, &m, member, member_null, now, ustart,
								   due, &by_limit, &left);
		if (!partial && allowed < due)
			report_refused(o, m, now, uend, left, due);
	}

	/* decide in input order, then write */
	{
		int64		budget = allowed;

		for (int i = 0; i < nitems; i++)
		{
			if (items[i].was_unlocked)
				continue;
			if (budget > 0)
			{
				items[i].charged = true;
				budget--;
			}
			else
				items[i].refused = by_limit ? 'l' : 'c';
		}
	}
	charge_items(o, m, member, items, nitems, allowed, now, ustart);
	if (due > 0)
		org_signal(o, now);

	credits_end();

	put_many_rows(rsinfo, items, nitems);
	return (Datum) 0;
}

/* ---------------------------------------------------------------------
 * credits.is_unlocked
 * ---------------------------------------------------------------------
 */

PG_FUNCTION_INFO_V1(credits_is_unlocked);
Datum
credits_is_unlocked(PG_FUNCTION_ARGS)
{
	Datum		args[2];
	bool		org_exists;
	bool		unlocked;

	credits_check_key(PG_GETARG_DATUM(0), PG_ARGISNULL(0), "organization");
	credits_check_key(PG_GETARG_DATUM(1), PG_ARGISNULL(1), "prospect");
	args[0] = PG_GETARG_DATUM(0);
	args[1] = PG_GETARG_DATUM(1);

	credits_begin();
	credits_run(&q_is_unlocked, args, NULL, true, 1);
	org_exists = DatumGetBool(credits_get_notnull(0, 1));
	unlocked = DatumGetBool(credits_get_notnull(0, 2));
	credits_end();

	if (!org_exists)
		ereport(ERROR,
				(errcode(ERRCODE_CREDITS_UNKNOWN_ORG),
				 errmsg("organization \"%s\" does not exist",
						TextDatumGetCString(args[0])),
				 errdetail("No row of credits.orgs has this key."),
				 errhint("Add the organization to credits.orgs first.")));
	PG_RETURN_BOOL(unlocked);
}

/* ---------------------------------------------------------------------
 * credits.refund
 * ---------------------------------------------------------------------
 */

PG_FUNCTION_INFO_V1(credits_refund);
Datum
credits_refund(PG_FUNCTION_ARGS)
{
	Datum		org = PG_GETARG_DATUM(0);
	Datum		prospect = PG_GETARG_DATUM(1);
	Datum		note = PG_GETARG_DATUM(2);
	bool		note_null = PG_ARGISNULL(2);
	OrgEntry   *o;
	Datum		args[3];
	Datum		member;
	TimestampTz unlocked_at;
	TimestampTz usage_start;
	int64		debit_id;
	int64		grant_id;
	ItemPointerData tid;
	TimestampTz now;
	GrantSlot  *g = NULL;
	MemberSlot *m;

	credits_check_key(org, PG_ARGISNULL(0), "organization");
	credits_check_key(prospect, PG_ARGISNULL(1), "prospect");
	credits_require_clock_writes();

	credits_begin();
	o = org_lock(org, false);

	args[0] = org;
	args[1] = prospect;
	if (credits_run(&q_unlock_for_refund, args, NULL, false, 1) == 0)
	{
		credits_end();
		PG_RETURN_BOOL(false);
	}
	member = PointerGetDatum(DatumGetTextPCopy(credits_get_notnull(0, 1)));
	unlocked_at = DatumGetTimestampTz(credits_get_notnull(0, 2));
	usage_start = DatumGetTimestampTz(credits_get_notnull(0, 3));

	/*
	 * A refund dated before the unlock it undoes would judge the debit's
	 * grant at a time it did not count yet, and could give the credit to a
	 * grant that has already expired.  At READ COMMITTED the unlock
	 * committed before this refund took the org, and the clock is behind
	 * only because the transaction began first: the refund takes effect
	 * at the unlock.  REPEATABLE READ and SERIALIZABLE get 40001.  A
	 * credits.clock set before the unlock, or an unlock dated in the future
	 * (made under a clock set ahead), is 22023.
	 */
	now = org_clock(o);
	if (now < unlocked_at && credits_clock_overridden())
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot refund the unlock of prospect \"%s\" at a clock before it",
						TextDatumGetCString(prospect)),
				 errdetail("credits.clock is %s; the prospect was unlocked at %s.",
						   pstrdup(timestamptz_to_str(now)),
						   pstrdup(timestamptz_to_str(unlocked_at))),
				 errhint("Set credits.clock at or after the unlock, or RESET it.")));
	if (now < unlocked_at && unlocked_at > GetCurrentTimestamp())
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot refund the unlock of prospect \"%s\" before it",
						TextDatumGetCString(prospect)),
				 errdetail("The prospect was unlocked at %s, ahead of the server's clock, %s: the unlock was made under a credits.clock set ahead, or the server's clock has stepped back.",
						   pstrdup(timestamptz_to_str(unlocked_at)),
						   pstrdup(timestamptz_to_str(GetCurrentTimestamp()))),
				 errhint("Refund at or after the unlock: set credits.clock to it on a test cluster, or retry once the server's clock has passed it.")));
	if (now < unlocked_at && IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("could not serialize access due to a concurrent unlock"),
				 errdetail("The clock of this transaction, %s, is before the unlock of prospect \"%s\" at %s.",
						   pstrdup(timestamptz_to_str(now)), TextDatumGetCString(prospect),
						   pstrdup(timestamptz_to_str(unlocked_at))),
				 errhint("Retry the transaction.")));
	if (now < unlocked_at)
		now = unlocked_at;
	debit_id = DatumGetInt64(credits_get_notnull(0, 4));
	tid = *(ItemPointer) DatumGetPointer(credits_get_notnull(0, 5));

	/* the credit comes back: the org's total stays within its limit */
	org_check_total(o, now, 1);

	args[0] = Int64GetDatum(debit_id);
	if (credits_run(&q_debit_grant, args, NULL, false, 1) != 1)
	{
		/*
		 * An INSERT INTO credits.unlocks charges its rows at its end: a
		 * refund in the same statement (a WITH query) would delete a row
		 * about to be charged
		 */
		if (unlock_charge_pending(debit_id))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("cannot refund prospect \"%s\" in the statement that unlocks it",
							TextDatumGetCString(prospect)),
					 errdetail("The INSERT INTO credits.unlocks that unlocks it charges at the end of its statement."),
					 errhint("Refund it in a statement of its own.")));
		elog(ERROR, "debit " INT64_FORMAT " of the unlock is missing from the ledger",
			 debit_id);
	}
	grant_id = DatumGetInt64(credits_get_notnull(0, 1));

	/* the unlock row first, then usage, then grants (lock order) */
	args[0] = PointerGetDatum(&tid);
	args[1] = org;
	args[2] = prospect;
	credits_allow_protected_writes(true);
	if (credits_run(&q_unlock_delete, args, NULL, false, 0) != 1)
		elog(ERROR, "could not delete the unlock");
	credits_allow_protected_writes(false);

	m = org_member(o, member, usage_start);
	org_member_usage(o, m, usage_start);
	org_member_add_usage(o, m, member, -1);

	/*
	 * Back to the grant the debit came from, if it is spendable now.  It
	 * may be used up and not among the grants operations read (below the
	 * org's spent_below): org_find_grant reads it by id.
	 */
	g = org_find_grant(o, grant_id, now);
	if (g != NULL &&
		(TIMESTAMP_IS_NOEND(g->expires_at) || now < g->expires_at) &&
		(g->kind != 'p' || g->starts_at <= now))
	{
		org_change_grant(o, g, 1);
		ledger_append(org, 0, now, LEDGER_REFUND, 1, grant_id,
					  member, false, prospect, false,
					  (Datum) 0, true, note, note_null);
	}
	else
	{
		TimestampTz ustart;
		TimestampTz uend;
		char		ref[64];

		/* an expired grant is never credited: a new one for this period */
		org_usage_period(&o->info, now, &ustart, &uend);
		snprintf(ref, sizeof(ref), "refund:" INT64_FORMAT, debit_id);
		org_add_grant(o, "adjustment", 1, now, uend,
					  CStringGetTextDatum(ref), false, now, now,
					  note, note_null);
	}
	org_signal(o, now);

	credits_end();
	PG_RETURN_BOOL(true);
}

/* ---------------------------------------------------------------------
 * Triggers on credits.unlock_rows
 * ---------------------------------------------------------------------
 */

/* Whether pending_charges is this transaction's (it lives in its memory) */
static bool
pending_current(void)
{
	return pending_charges != NULL && pending_lxid == MyProc->lxid;
}

/*
 * Whether the BEFORE trigger reserved this ledger id for a row of this
 * transaction that its AFTER trigger has not charged yet.  Ids of rows a
 * rolled-back subtransaction inserted stay: ask only about an id the
 * ledger does not have.
 */
static bool
unlock_charge_pending(int64 debit_id)
{
	bool		found = false;

	if (pending_current())
		hash_search(pending_charges, &debit_id, HASH_FIND, &found);
	return found;
}

static void
pending_reset_if_stale(void)
{
	if (!pending_current())
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(int64);
		ctl.entrysize = sizeof(int64);
		ctl.hcxt = TopTransactionContext;
		pending_charges = hash_create("credits pending charges", 64, &ctl,
									  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		pending_lxid = MyProc->lxid;
	}
}

static void
check_trigger(FunctionCallInfo fcinfo, const char *name)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" was not called by trigger manager", name),
				 errdetail("It is a trigger function of the credits extension."),
				 errhint("Do not call it directly.")));
}

static int
column(Relation rel, const char *name)
{
	int			attnum = SPI_fnumber(RelationGetDescr(rel), name);

	if (attnum <= 0)
		elog(ERROR, "column \"%s\" is missing from \"%s\"",
			 name, RelationGetRelationName(rel));
	return attnum;
}

/*
 * The default of credits.unlocks.unlocked_at (since 1.1): -infinity, which
 * stands for the column left out.  It is IMMUTABLE, so the planner folds
 * it, and the INSERT loads the library while it is planned: a session's
 * first statement then passes through the executor hooks too, which
 * refuse ON CONFLICT DO UPDATE before any row and signal a low balance
 * once, at the statement's end.  (Loaded by the first row's trigger, the
 * library would come too late for both.)
 */
PG_FUNCTION_INFO_V1(credits_unlocked_at_unset);
Datum
credits_unlocked_at_unset(PG_FUNCTION_ARGS)
{
	TimestampTz result;

	TIMESTAMP_NOBEGIN(result);
	PG_RETURN_TIMESTAMPTZ(result);
}

/* Whether credits.unlocks gives unlocked_at a default (since 1.1) */
static bool
unlocked_at_has_default(void)
{
	Oid			view = get_relname_relid("unlocks",
										 get_namespace_oid("credits", false));
	HeapTuple	tp;
	bool		result = false;

	if (!OidIsValid(view))
		return false;
	tp = SearchSysCacheAttName(view, "unlocked_at");
	if (HeapTupleIsValid(tp))
	{
		result = ((Form_pg_attribute) GETSTRUCT(tp))->atthasdef;
		ReleaseSysCache(tp);
	}
	return result;
}

/*
 * BEFORE INSERT: an unlock requested through credits.unlocks.  Locks the
 * org, fills in the clock, the usage period and a reserved ledger id.
 */
PG_FUNCTION_INFO_V1(credits_unlock_rows_before);
Datum
credits_unlock_rows_before(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	Relation	rel;
	HeapTuple	tuple;
	TupleDesc	desc;
	bool		isnull;
	Datum		value;
	Datum		org;
	bool		org_null;
	Datum		prospect;
	bool		prospect_null;
	OrgEntry   *o;
	TimestampTz now;
	TimestampTz ustart;
	TimestampTz uend;
	int64		debit_id;
	int			cols[3];
	Datum		values[3];
	bool		nulls[3] = {false, false, false};

	check_trigger(fcinfo, "credits_unlock_rows_before");
	rel = trigdata->tg_relation;
	tuple = trigdata->tg_trigtuple;
	desc = RelationGetDescr(rel);

	/* a stored row arriving as it is (pg_restore's COPY) */
	heap_getattr(tuple, column(rel, "debit_id"), desc, &isnull);
	if (!isnull)
		return PointerGetDatum(tuple);

	org = heap_getattr(tuple, column(rel, "org"), desc, &org_null);
	prospect = heap_getattr(tuple, column(rel, "prospect"), desc, &prospect_null);
	credits_check_key(org, org_null, "organization");
	credits_check_key(prospect, prospect_null, "prospect");
	/*
	 * Since 1.1 the view's default for unlocked_at is -infinity, which
	 * stands for "left out"; anything else, NULL included, was given by
	 * the caller.  1.0's view has no default, so there NULL is left out.
	 */
	value = heap_getattr(tuple, column(rel, "unlocked_at"), desc, &isnull);
	if (isnull ? unlocked_at_has_default() :
		!TIMESTAMP_IS_NOBEGIN(DatumGetTimestampTz(value)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unlocked_at cannot be set"),
				 errdetail("The extension sets unlocked_at to the clock; %s was given.",
						   isnull ? "null" :
						   timestamptz_to_str(DatumGetTimestampTz(value))),
				 errhint("Insert only org, member and prospect.")));
	heap_getattr(tuple, column(rel, "usage_start"), desc, &isnull);
	if (!isnull)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("usage_start cannot be set"),
				 errdetail("The extension sets usage_start from the clock."),
				 errhint("Insert only org, member and prospect.")));
	credits_require_clock_writes();

	credits_begin();
	o = org_lock(org, false);
	if (unlock_exists(org, prospect))
	{
		/*
		 * Under the lock, the prospect is unlocked: ON CONFLICT skips the
		 * row, or the insert fails on the key.  Nothing is charged or
		 * written, as unlock() returning false writes nothing; the row
		 * only needs values for its NOT NULL columns.
		 */
		now = credits_now();
		org_usage_period(&o->info, now, &ustart, &uend);
		debit_id = 0;
		credits_end();
	}
	else
	{
		now = org_clock(o);
		org_usage_period(&o->info, now, &ustart, &uend);
		org_ensure_plan_grant(o, now);
		debit_id = ledger_next_id();
		credits_end();
		pending_reset_if_stale();
		hash_search(pending_charges, &debit_id, HASH_ENTER, NULL);
	}

	cols[0] = column(rel, "unlocked_at");
	cols[1] = column(rel, "usage_start");
	cols[2] = column(rel, "debit_id");
	values[0] = TimestampTzGetDatum(now);
	values[1] = TimestampTzGetDatum(ustart);
	values[2] = Int64GetDatum(debit_id);
	return PointerGetDatum(heap_modify_tuple_by_cols(tuple, desc, 3, cols,
													 values, nulls));
}

/* AFTER INSERT: charges a row the BEFORE trigger prepared */
PG_FUNCTION_INFO_V1(credits_unlock_rows_after);
Datum
credits_unlock_rows_after(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	Relation	rel;
	HeapTuple	tuple;
	TupleDesc	desc;
	bool		isnull;
	int64		debit_id;
	Datum		org;
	Datum		member;
	bool		member_null;
	Datum		prospect;
	TimestampTz now;
	TimestampTz ustart;
	TimestampTz ustart_now;
	TimestampTz uend;
	OrgEntry   *o;
	MemberSlot *m;
	bool		by_limit;
	int64		left;
	bool		found;

	check_trigger(fcinfo, "credits_unlock_rows_after");
	rel = trigdata->tg_relation;
	tuple = trigdata->tg_trigtuple;
	desc = RelationGetDescr(rel);

	debit_id = DatumGetInt64(heap_getattr(tuple, column(rel, "debit_id"),
										  desc, &isnull));
	pending_reset_if_stale();
	hash_search(pending_charges, &debit_id, HASH_REMOVE, &found);
	if (!found)
		return PointerGetDatum(NULL);

	org = heap_getattr(tuple, column(rel, "org"), desc, &isnull);
	member = heap_getattr(tuple, column(rel, "member"), desc, &member_null);
	prospect = heap_getattr(tuple, column(rel, "prospect"), desc, &isnull);
	now = DatumGetTimestampTz(heap_getattr(tuple, column(rel, "unlocked_at"),
										   desc, &isnull));
	ustart = DatumGetTimestampTz(heap_getattr(tuple, column(rel, "usage_start"),
											  desc, &isnull));

	credits_begin();
	o = org_lock(org, false);
	org_usage_period(&o->info, now, &ustart_now, &uend);
	if (charge_allowance(o, &m, member, member_null, now, ustart, 1,
						 &by_limit, &left) < 1)
		report_refused(o, m, now, uend, left, 1);
	charge_unlock(o, m, member, prospect, now, debit_id);
	org_signal_at_statement_end(o, now);
	credits_end();

	return PointerGetDatum(NULL);
}
