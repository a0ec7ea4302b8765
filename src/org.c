/*-------------------------------------------------------------------------
 *
 * org.c
 *	  The org lock, the per-transaction org cache, usage and plan periods,
 *	  plan grants, grant changes and the ledger.
 *
 * Lock order (SPEC section 7): an operation first locks the org's row in
 * credits.orgs FOR NO KEY UPDATE and then writes the org's row in
 * credits.org_state; only then does it decide anything.  The write is what
 * makes a REPEATABLE READ or SERIALIZABLE transaction fail with 40001
 * when a concurrent transaction changed the org after its snapshot.
 *
 * Once locked, an org stays in this transaction's cache (OrgEntry) with its
 * grants and the members it has touched.  Nobody else can change them
 * before we commit, and every change this transaction makes goes through
 * this file, which keeps the cache in step or drops it.  Rows are updated
 * by ctid, so the thousandth debit of a grant in one transaction costs what
 * the first did.  A subtransaction abort drops the whole cache: a lock
 * taken inside the subtransaction is gone, and the cache may hold values
 * that were rolled back.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_enum.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "org.h"
#include "rows.h"

/* Locked orgs of the current transaction, in cache_context */
static MemoryContext cache_context = NULL;
static HTAB *org_cache = NULL;

/*
 * The tables the cache holds rows of.  A relcache invalidation of one of
 * them (DROP EXTENSION and CREATE EXTENSION in one transaction, an ALTER
 * TABLE) marks the cache stale, and the next operation starts over from
 * the tables.  Their OIDs are kept across transactions, and looked up
 * again after an invalidation of any of them.
 */
static const char *const cache_table_names[] = {
	"orgs", "members", "org_state", "grant_rows", "grant_left", "usage",
	"plan_changes"
};
#define CACHE_TABLES ((int) lengthof(cache_table_names))
static Oid	cache_tables[CACHE_TABLES];
static bool cache_tables_valid = false;
static bool cache_stale = false;

static void skip_spent_grants(OrgEntry *o);
static void set_spent_below(OrgEntry *o, int64 spent_below);
static void member_remove(OrgEntry *o, const char *key);
static void members_free(OrgEntry *o);
static void changing_reset(void);
static void changing_commit_sub(SubTransactionId mySubid,
								SubTransactionId parentSubid);
static void changing_abort_sub(SubTransactionId mySubid);
static void refuse_if_changing(const char *key);

/* Set while the extension itself updates or deletes protected rows */
static bool protected_writes = false;

/*
 * Operations in progress (credits_begin .. credits_end), innermost last,
 * each with the subtransaction it began in.  An operation never begins
 * inside another (only renew_due and expire_due nest a level per org,
 * credits_begin_nested).  Code an operation runs (a DBA's CHECK
 * constraint, say) may roll a subtransaction of its own back while the
 * operation holds pointers into the org cache: the cache is then kept,
 * not freed.  It is dropped only if the rolled-back subtransaction used it
 * (cache_subid, the newest subtransaction an operation began in), and if
 * an operation that holds pointers into it is still in progress, that
 * operation fails at its end (cache_lost).
 */
/* Orgs cached at most; about 2 kB each */
#define ORG_CACHE_MAX 16384

static SubTransactionId *op_subids = NULL;
static int	op_depth = 0;
static int	op_max = 0;
static SubTransactionId cache_subid = InvalidSubTransactionId;
static bool cache_lost = false;

/*
 * The whole org lock in one statement: the orgs row FOR NO KEY UPDATE
 * first (the INSERT reads it before writing), then the state row written,
 * created if the org has none yet.  Returns no row for an unknown org.
 * org_lock uses it for an org without a state row; org_reload to re-read.
 *
 * org_state.cut_seq is read by name from the row's JSON form: extension
 * 1.0's table lacks the column, and this library also serves databases
 * that have not yet run ALTER EXTENSION UPDATE (see CREDITS_CUT_SEQ_SQL).
 */
static CreditsQuery q_lock_org = {
	"WITH o AS MATERIALIZED ("
	"  SELECT org, cycle, plan_credits, frozen, low_balance_threshold"
	"    FROM credits.orgs WHERE org = $1 FOR NO KEY UPDATE)"
	"INSERT INTO credits.org_state AS s (org, armed)"
	"  SELECT o.org, $2 FROM o"
	"  ON CONFLICT (org) DO UPDATE SET armed = s.armed"
	"  RETURNING (SELECT cycle FROM o), (SELECT plan_credits FROM o),"
	"            (SELECT frozen FROM o), (SELECT low_balance_threshold FROM o),"
	"            " CREDITS_CUT_SEQ_SQL("s") ", s.cycle_cut, s.armed,"
	"            " CREDITS_SPENT_BELOW_SQL("s"),
	2, {TEXTOID, BOOLOID}, NULL
};

/*
 * The instant an org was created, for its first state row; and whether the
 * database is past 1.0 (org_state has cut_seq): orgs 1.0 inserted were not
 * signalled at their INSERT, and the update to 1.1 gave each a state row
 */
static CreditsQuery q_created_at = {
	"SELECT created_at, EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a"
	"  JOIN pg_catalog.pg_class c ON c.oid = a.attrelid"
	"  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
	"  WHERE n.nspname = 'credits' AND c.relname = 'org_state'"
	"    AND a.attname = 'cut_seq' AND NOT a.attisdropped)"
	"  FROM credits.orgs WHERE org = $1",
	1, {TEXTOID}, NULL
};

/*
 * The first half of the lock alone: org_lock then writes the state row
 * itself (org_state_touch, rows.c), and falls back to the statement above
 * for an org without one.
 */
#define LOCK_ORGS_ROW_SQL(skip) \
	"SELECT cycle, plan_credits, frozen, low_balance_threshold" \
	"  FROM credits.orgs WHERE org = $1 FOR NO KEY UPDATE " skip

static CreditsQuery q_lock_orgs_row = {
	LOCK_ORGS_ROW_SQL(""),
	1, {TEXTOID}, NULL
};

static CreditsQuery q_lock_orgs_row_skip = {
	LOCK_ORGS_ROW_SQL("SKIP LOCKED"),
	1, {TEXTOID}, NULL
};

static CreditsQuery q_lock_org_row = {
	"SELECT 1 FROM credits.orgs WHERE org = $1 FOR NO KEY UPDATE",
	1, {TEXTOID}, NULL
};

/* A write that changes nothing, for orgs that have a state row */
static CreditsQuery q_touch_state = {
	"UPDATE credits.org_state SET armed = armed WHERE org = $1",
	1, {TEXTOID}, NULL
};

/*
 * Every grant of the org that never expires and whose id is below
 * spent_below has no credits left: the grants an org's operations read
 * start there, however many used-up purchases and referrals it has.
 */
static CreditsQuery q_set_spent_below = {
	"UPDATE credits.org_state SET spent_below = $2 WHERE org = $1",
	2, {TEXTOID, INT8OID}, NULL
};

static CreditsQuery q_load_grant = {
	"SELECT l.ctid, g.id, g.kind::text, l.amount, l.remaining, g.starts_at, g.expires_at"
	"  FROM credits.grant_rows g JOIN credits.grant_left l ON l.grant_id = g.id"
	" WHERE g.org = $1 AND g.id = $2",
	2, {TEXTOID, INT8OID}, NULL
};

/*
 * The plan credits in force when a period starts, and the largest value
 * set from its start until now.  The history's first row holds the value
 * before the first change, dated -infinity (a database not yet updated
 * from 1.0 may still date it at the org's creation: then the first row is
 * the value before it).  Without history the value is orgs.plan_credits
 * ($4).  A change dated exactly at the start is a change during the
 * period: an upgrade then counts at once, a downgrade from the next period.
 */
static CreditsQuery q_plan_values = {
	"SELECT coalesce("
	"    (SELECT plan_credits FROM credits.plan_changes"
	"      WHERE org = $1 AND at < $2 ORDER BY at DESC, id DESC LIMIT 1),"
	"    (SELECT plan_credits FROM credits.plan_changes"
	"      WHERE org = $1 ORDER BY at, id LIMIT 1),"
	"    $4),"
	"  (SELECT max(plan_credits) FROM credits.plan_changes"
	"    WHERE org = $1 AND at >= $2 AND at <= $3)",
	4, {TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID, INT8OID}, NULL
};

/*
 * The same for the period a plan restart cut at $2: it starts with the
 * history up to and including the restart (ids up to $5, in statement
 * order whatever instant they share with it); later ids are changes
 * during it.  Without $5 (a database not yet updated from 1.0, which
 * wrote no cut_seq) the restart is the last change dated at or before the
 * cut, as 1.0 read it.
 */
static CreditsQuery q_plan_values_cut = {
	"WITH c AS (SELECT coalesce($5,"
	"    (SELECT max(id) FROM credits.plan_changes WHERE org = $1 AND at <= $2),"
	"    0) AS seq)"
	"SELECT coalesce("
	"    (SELECT plan_credits FROM credits.plan_changes, c"
	"      WHERE org = $1 AND id <= c.seq ORDER BY id DESC LIMIT 1),"
	"    (SELECT plan_credits FROM credits.plan_changes"
	"      WHERE org = $1 ORDER BY at, id LIMIT 1),"
	"    $4),"
	"  (SELECT max(plan_credits) FROM credits.plan_changes, c"
	"    WHERE org = $1 AND id > c.seq AND at <= $3)",
	5, {TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID, INT8OID, INT8OID}, NULL
};

static CreditsQuery q_insert_grant = {
	"WITH g AS ("
	"  INSERT INTO credits.grant_rows"
	"    (org, kind, starts_at, expires_at, ref, created_at)"
	"    VALUES ($1, $2::credits.grant_kind, $4, $5, $6, $7)"
	"    ON CONFLICT DO NOTHING RETURNING id)"
	"INSERT INTO credits.grant_left (grant_id, amount, remaining)"
	"  SELECT id, $3, $3 FROM g RETURNING grant_id, ctid",
	7, {TEXTOID, TEXTOID, INT8OID, TIMESTAMPTZOID, TIMESTAMPTZOID, TEXTOID,
	TIMESTAMPTZOID}, NULL
};

static CreditsQuery q_grant_add_id = {
	"UPDATE credits.grant_left SET remaining = remaining + $2"
	" WHERE grant_id = $1 RETURNING ctid, remaining, grant_id",
	2, {INT8OID, INT8OID}, NULL
};

static CreditsQuery q_usage_insert = {
	"INSERT INTO credits.usage (org, member, period_start, used)"
	"  VALUES ($1, $2, $3, $4) RETURNING ctid, used",
	4, {TEXTOID, TEXTOID, TIMESTAMPTZOID, INT8OID}, NULL
};

static CreditsQuery q_usage_add_key = {
	"UPDATE credits.usage SET used = used + $4"
	" WHERE org = $1 AND member = $2 AND period_start = $3"
	" RETURNING ctid, used",
	4, {TEXTOID, TEXTOID, TIMESTAMPTZOID, INT8OID}, NULL
};

/* ---------------------------------------------------------------------
 * Transaction hooks
 * ---------------------------------------------------------------------
 */

/*
 * Drops everything cached about every org; the next operation on an org
 * locks and reads it again.  For a rollback, and for a TRUNCATE of orgs
 * or members, which changes rows without row triggers.
 */
void
org_forget_all(void)
{
	if (cache_context != NULL)
		MemoryContextDelete(cache_context);
	cache_context = NULL;
	org_cache = NULL;
	cache_stale = false;
}

/*
 * Relcache callback.  It may run in the middle of an operation, which
 * holds pointers into the cache, so it only marks the cache; credits_begin
 * drops it.  An invalidation that only refreshes a table's statistics
 * (VACUUM, ANALYZE) marks it too: the orgs the transaction uses next are
 * locked again (they are held already) and read again, and nothing else
 * changes.
 */
static void
org_relcache_callback(Datum arg, Oid relid)
{
	if (!cache_tables_valid)
		return;
	for (int i = 0; i < CACHE_TABLES; i++)
	{
		if (!OidIsValid(relid) || cache_tables[i] == relid)
		{
			cache_tables_valid = false;
			cache_stale = (org_cache != NULL);
			return;
		}
	}
}

static void
org_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			/* the memory goes with TopTransactionContext */
			cache_context = NULL;
			org_cache = NULL;
			cache_stale = false;
			protected_writes = false;
			op_depth = 0;
			cache_subid = InvalidSubTransactionId;
			cache_lost = false;
			changing_reset();
			break;
		default:
			break;
	}
}

static void
org_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					 SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_COMMIT_SUB)
	{
		changing_commit_sub(mySubid, parentSubid);
		return;
	}
	if (event != SUBXACT_EVENT_ABORT_SUB)
		return;

	/* operations begun inside the rolled-back subtransaction are gone */
	while (op_depth > 0 && op_subids[op_depth - 1] >= mySubid)
		op_depth--;
	changing_abort_sub(mySubid);

	if (cache_subid != InvalidSubTransactionId && cache_subid >= mySubid)
	{
		/*
		 * Its locks and writes are undone: what the cache says is not so.
		 * An operation still in progress points into it (it cannot happen
		 * while nested calls are refused, but would be a money bug): the
		 * cache stays as it is, and the operation fails at its end, which
		 * rolls back what it did and drops the cache then.
		 */
		if (op_depth > 0)
			cache_lost = true;
		else
		{
			org_forget_all();
			cache_subid = InvalidSubTransactionId;
		}
	}
	if (op_depth == 0)
	{
		protected_writes = false;
		cache_lost = false;
	}
}

/*
 * Refuses a call of the extension from code that runs inside one of its
 * operations (a constraint or index expression of its tables): the outer
 * operation has decided on what it read, and holds it cached.
 */
void
credits_check_not_nested(void)
{
	if (op_depth > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot call the credits extension while one of its operations runs"),
				 errdetail("Code run by a credits function, such as a constraint or an index expression of the extension's tables, called the extension again."),
				 errhint("Do not call credits functions from constraints, index expressions or triggers of the extension's tables.")));
}

/*
 * Begins an operation that uses the org cache: connects to SPI.  Every
 * credits_begin is paired with credits_end, unless an error ends both.
 */
void
credits_begin(void)
{
	credits_check_not_nested();

	/*
	 * Nothing points into the cache between operations: a transaction that
	 * charges very many orgs starts over rather than keep them all (their
	 * locks are kept to commit all the same)
	 */
	if (org_cache != NULL &&
		(cache_stale || hash_get_num_entries(org_cache) >= ORG_CACHE_MAX))
		org_forget_all();
	credits_begin_nested();
}

/* credits_begin for a level inside an operation of the extension's own */
void
credits_begin_nested(void)
{
	SubTransactionId subid = GetCurrentSubTransactionId();

	if (op_depth == op_max)
	{
		int			n = op_max == 0 ? 8 : op_max * 2;

		op_subids = op_subids == NULL ?
			MemoryContextAlloc(TopMemoryContext, n * sizeof(SubTransactionId)) :
			repalloc(op_subids, n * sizeof(SubTransactionId));
		op_max = n;
	}
	op_subids[op_depth++] = subid;
	if (cache_subid == InvalidSubTransactionId || subid > cache_subid)
		cache_subid = subid;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "could not connect to SPI");
}

/*
 * Ends an operation.  If code it ran rolled back a subtransaction that had
 * used the org cache (a credits call nested in a constraint that caught
 * its error), the operation may have decided on undone state: it fails.
 */
void
credits_end(void)
{
	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "could not disconnect from SPI");
	if (cache_lost)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("a credits operation was undone while another one was using its results"),
				 errdetail("Code run by a credits function called the extension again and rolled that call back."),
				 errhint("Do not call credits functions from constraints, index expressions or triggers of the extension's tables.")));
	Assert(op_depth > 0);
	op_depth--;
}

void
credits_org_init(void)
{
	RegisterXactCallback(org_xact_callback, NULL);
	RegisterSubXactCallback(org_subxact_callback, NULL);
	CacheRegisterRelcacheCallback(org_relcache_callback, (Datum) 0);
}

void
credits_allow_protected_writes(bool allow)
{
	protected_writes = allow;
}

bool
credits_protected_writes_allowed(void)
{
	return protected_writes;
}

/* Whether one of the extension's operations is running */
bool
credits_in_operation(void)
{
	return op_depth > 0;
}

/* ---------------------------------------------------------------------
 * Helpers
 * ---------------------------------------------------------------------
 */

TimestampTz
timestamptz_or_noend(Datum d, bool isnull)
{
	return isnull ? DT_NOEND : DatumGetTimestampTz(d);
}

static Datum
tz_datum_or_null(TimestampTz t, char *null)
{
	*null = TIMESTAMP_IS_NOEND(t) ? 'n' : ' ';
	return TimestampTzGetDatum(t);
}

static void
key_to_buf(Datum key, char *buf)
{
	text	   *t = DatumGetTextPP(key);
	int			len = VARSIZE_ANY_EXHDR(t);

	if (len > CREDITS_KEY_MAXLEN)
		len = CREDITS_KEY_MAXLEN;
	memcpy(buf, VARDATA_ANY(t), len);
	buf[len] = '\0';
}

/*
 * Reads an org's OrgInfo from the first row of the last statement, whose
 * columns are cycle, plan_credits, frozen, low_balance_threshold, then
 * (if the statement read the state row) cut_seq and cycle_cut
 * (CREDITS_CUT_SEQ_SQL); the cycle is copied into cxt.
 */
void
org_read_info(OrgInfo *info, MemoryContext cxt)
{
	bool		isnull;
	Datum		d;
	MemoryContext old;

	d = credits_get_notnull(0, 1);
	old = MemoryContextSwitchTo(cxt);
	info->cycle = (Cycle *) PG_DETOAST_DATUM_COPY(d);
	MemoryContextSwitchTo(old);
	info->plan_credits = DatumGetInt64(credits_get_notnull(0, 2));
	info->frozen = DatumGetBool(credits_get_notnull(0, 3));
	d = credits_get(0, 4, &isnull);
	info->has_threshold = !isnull;
	info->threshold = isnull ? 0 : DatumGetInt64(d);
	info->cut_seq = -1;
	info->cycle_cut = DT_NOBEGIN;
	if (SPI_tuptable->tupdesc->natts < 6)
		return;
	d = credits_get(0, 5, &isnull);
	info->cut_seq = isnull ? -1 : DatumGetInt64(d);
	d = credits_get(0, 6, &isnull);
	info->cycle_cut = isnull ? DT_NOBEGIN : DatumGetTimestampTz(d);
}

/*
 * Runs what follows as userid, with the search_path the extension's
 * SECURITY DEFINER functions set (pg_catalog, pg_temp), as fmgr does for
 * them: for code that acts with the owner's rights outside such a
 * function (hooks), so that the caller's search_path cannot put its
 * operators into plans run with those rights.  sec_flags adds to
 * SECURITY_LOCAL_USERID_CHANGE.  An error restores both, as it ends the
 * (sub)transaction; otherwise credits_run_as_end does.
 */
void
credits_run_as(Oid userid, int sec_flags, CreditsIdentity *saved)
{
	GetUserIdAndSecContext(&saved->userid, &saved->sec_context);
	saved->nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	SetUserIdAndSecContext(userid, saved->sec_context |
						   SECURITY_LOCAL_USERID_CHANGE | sec_flags);
}

void
credits_run_as_end(const CreditsIdentity *saved)
{
	SetUserIdAndSecContext(saved->userid, saved->sec_context);
	AtEOXact_GUC(true, saved->nestlevel);
}

/* ---------------------------------------------------------------------
 * The org lock
 * ---------------------------------------------------------------------
 */

/*
 * Locks an org for the rest of the transaction (SPEC section 7, step 1)
 * and returns its cache entry.  Raises ZC003 for an unknown org.  With
 * skip_locked, returns NULL instead of waiting for an org another
 * transaction holds.  The caller is connected to SPI.
 */
OrgEntry *
org_lock(Datum org, bool skip_locked)
{
	return org_lock_mode(org, skip_locked ? ORG_LOCK_SKIP : ORG_LOCK_WAIT);
}

/*
 * The org lock is a write, the first of every operation that writes: a
 * read-only transaction (or a standby) is refused here, so that a call
 * that needs no lock (an unlock() of an unlocked prospect) still answers.
 */
static void
org_require_writable(void)
{
	if (XactReadOnly)
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot change credits in a read-only transaction"),
				 errdetail("Charges, grants and the tables' triggers write; status and balances only read."),
				 errhint("Run the call in a read-write transaction on the primary server.")));
}

/*
 * org_lock with a choice of what to do about a locked or missing org:
 * ORG_LOCK_WAIT waits and raises ZC003 if the org is missing,
 * ORG_LOCK_SKIP returns NULL rather than wait (or if missing),
 * ORG_LOCK_IF_EXISTS waits, and returns NULL if the org is missing.
 */
OrgEntry *
org_lock_mode(Datum org, OrgLockMode mode)
{
	bool		skip_locked = (mode == ORG_LOCK_SKIP);
	char		key[CREDITS_KEY_MAXLEN + 1];
	OrgEntry   *o;
	bool		found;
	bool		armed;
	int64		spent_below;
	Datum		args[2];
	OrgInfo		info;

	key_to_buf(org, key);
	refuse_if_changing(key);
	org_require_writable();
	if (org_cache != NULL)
	{
		o = hash_search(org_cache, key, HASH_FIND, NULL);
		if (o != NULL)
			return o;
	}

	args[0] = org;
	if (credits_run(skip_locked ? &q_lock_orgs_row_skip : &q_lock_orgs_row,
					args, NULL, false, 1) == 0)
	{
		if (mode != ORG_LOCK_WAIT)
			return NULL;
		ereport(ERROR,
				(errcode(ERRCODE_CREDITS_UNKNOWN_ORG),
				 errmsg("organization \"%s\" does not exist", key),
				 errdetail("No row of credits.orgs has this key."),
				 errhint("Add the organization to credits.orgs first.")));
	}

	if (cache_context == NULL)
	{
		HASHCTL		ctl;

		cache_context = AllocSetContextCreate(TopTransactionContext,
											  "credits org cache",
											  ALLOCSET_DEFAULT_SIZES);
		ctl.keysize = CREDITS_KEY_MAXLEN + 1;
		ctl.entrysize = sizeof(OrgEntry);
		ctl.hcxt = cache_context;
		org_cache = hash_create("credits locked orgs", 16, &ctl,
								HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
		if (!cache_tables_valid)
		{
			Oid			nsp = get_namespace_oid("credits", false);

			for (int i = 0; i < CACHE_TABLES; i++)
				cache_tables[i] = get_relname_relid(cache_table_names[i], nsp);
			cache_tables_valid = true;
		}
	}
	org_read_info(&info, cache_context);
	if (!org_state_touch(org, &armed, &info.cycle_cut, &info.cut_seq,
						 &spent_below))
	{
		/*
		 * No state row yet: the whole lock in one statement, the row armed
		 * unless the org's INSERT signalled (org_signalled_at_creation)
		 */
		if (credits_run(&q_created_at, args, NULL, false, 1) == 0)
			elog(ERROR, "organization \"%s\" disappeared", key);
		args[1] = BoolGetDatum(!(DatumGetBool(credits_get_notnull(0, 2)) &&
								 org_signalled_at_creation(&info,
														   DatumGetTimestampTz(credits_get_notnull(0, 1)))));
		if (credits_run(&q_lock_org, args, NULL, false, 1) == 0)
			elog(ERROR, "organization \"%s\" disappeared", key);
		pfree(info.cycle);
		org_read_info(&info, cache_context);
		armed = DatumGetBool(credits_get_notnull(0, 7));
		{
			bool		isnull;
			Datum		d = credits_get(0, 8, &isnull);

			/* none yet, or no such column (1.0) */
			if (isnull)
				spent_below = org_state_has_column("spent_below") ? 0 : -1;
			else
				spent_below = DatumGetInt64(d);
		}

		/*
		 * A member change writes no state row that is not there, so the
		 * write above cannot tell a REPEATABLE READ snapshot that one
		 * happened since: look.
		 */
		if (IsolationUsesXactSnapshot() && org_members_changed(org))
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("could not serialize access due to concurrent update"),
					 errdetail("A member of organization \"%s\" changed after this transaction began.",
							   key),
					 errhint("Retry the transaction.")));
	}

	o = hash_search(org_cache, key, HASH_ENTER, &found);
	Assert(!found);
	o->info = info;
	o->armed = armed;
	o->spent_below = spent_below;
	o->grants_loaded = false;
	o->ngrants = 0;
	o->maxgrants = 0;
	o->grants = NULL;
	o->uncreated_start = DT_NOBEGIN;
	o->uncreated_amount = 0;
	o->nfew = 0;
	o->few = NULL;
	o->many = NULL;
	return o;
}

/*
 * The org lock for a change of one of its members: the orgs row, then a
 * write to the state row if the org has one.  Unlike org_lock() it never
 * creates the state row, so that pg_restore loading credits.members writes
 * nothing (an org without a state row has never been charged).  Returns
 * false if the org does not exist.  The member's cached row is dropped.
 */
bool
org_lock_for_member(Datum org, Datum member)
{
	char		key[CREDITS_KEY_MAXLEN + 1];
	OrgEntry   *o = NULL;
	Datum		args[1];

	key_to_buf(org, key);
	if (org_cache != NULL)
		o = hash_search(org_cache, key, HASH_FIND, NULL);
	if (o == NULL)
	{
		org_require_writable();
		args[0] = org;
		if (credits_run(&q_lock_org_row, args, NULL, false, 1) == 0)
			return false;

		/*
		 * No state row in a REPEATABLE READ snapshot, but one committed
		 * since (the org was charged): nothing here to write, so that a
		 * transaction deciding on this member later would not see the
		 * change conflict.  Refuse it instead.
		 */
		if (credits_run(&q_touch_state, args, NULL, false, 0) == 0 &&
			IsolationUsesXactSnapshot() && org_state_exists_now(org))
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("could not serialize access due to concurrent update"),
					 errdetail("Organization \"%s\" was charged after this transaction began.",
							   key),
					 errhint("Retry the transaction.")));
	}
	else
	{
		key_to_buf(member, key);
		member_remove(o, key);
	}
	return true;
}

/*
 * Drops an org from the cache, with the memory it holds; the lock itself
 * is kept to commit, and the org's next use reads it again.
 */
void
org_forget(const char *org)
{
	OrgEntry   *o;

	if (org_cache == NULL ||
		(o = hash_search(org_cache, org, HASH_FIND, NULL)) == NULL)
		return;
	if (o->grants != NULL)
		pfree(o->grants);
	members_free(o);
	if (o->info.cycle != NULL)
		pfree(o->info.cycle);
	hash_search(org_cache, org, HASH_REMOVE, NULL);
}

/* org_forget for a key given as text */
void
org_forget_key(Datum org)
{
	char		key[CREDITS_KEY_MAXLEN + 1];

	key_to_buf(org, key);
	org_forget(key);
}

/*
 * Re-reads everything about a locked org after a change that did not go
 * through the cache (an UPDATE of credits.orgs or credits.members).
 */
void
org_reload(OrgEntry *o)
{
	Datum		args[2];

	/* the state row is there: the lock keeps its flag */
	args[0] = CStringGetTextDatum(o->org);
	args[1] = BoolGetDatum(true);
	if (credits_run(&q_lock_org, args, NULL, false, 1) == 0)
		elog(ERROR, "organization \"%s\" disappeared", o->org);
	if (o->info.cycle != NULL)
		pfree(o->info.cycle);
	org_read_info(&o->info, cache_context);
	o->armed = DatumGetBool(credits_get_notnull(0, 7));
	o->grants_loaded = false;
	o->uncreated_start = DT_NOBEGIN;
	members_free(o);
}

/*
 * The clock for an operation that writes to a locked org.  A transaction
 * whose clock (its start, SPEC section 8) lies before the org's last plan
 * restart would act in a period the restart replaced: the periods before
 * a restart are not kept, and the new cycle's would give it a plan grant
 * and a usage count of their own.  At READ COMMITTED the restart committed
 * before this operation took the org, and the clock is behind only
 * because the transaction began first: the operation takes effect at the
 * restart.  REPEATABLE READ and SERIALIZABLE get 40001 (their snapshot
 * predates the restart).  A credits.clock set before the restart, or a
 * restart dated in the future (made under a clock set ahead), is 22023.
 */
TimestampTz
org_clock(OrgEntry *o)
{
	TimestampTz now = credits_now();

	if (org_clock_ok(o, now))
		return now;

	/*
	 * A restart that committed before this operation cannot lie in the
	 * future unless a credits.clock set ahead made it (on a test cluster)
	 */
	if (credits_clock_overridden())
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot write to organization \"%s\" at a clock before the restart of its plan",
						o->org),
				 errdetail("credits.clock is %s; the plan restarted at %s.",
						   pstrdup(timestamptz_to_str(now)),
						   pstrdup(timestamptz_to_str(o->info.cycle_cut))),
				 errhint("Set credits.clock at or after the restart, or RESET it.")));
	if (o->info.cycle_cut > GetCurrentTimestamp())
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot write to organization \"%s\" before the restart of its plan",
						o->org),
				 errdetail("The plan restarted at %s, ahead of the server's clock, %s: the restart was made under a credits.clock set ahead, or the server's clock has stepped back.",
						   pstrdup(timestamptz_to_str(o->info.cycle_cut)),
						   pstrdup(timestamptz_to_str(GetCurrentTimestamp()))),
				 errhint("Write at or after the restart: set credits.clock to it on a test cluster, or retry once the server's clock has passed it.")));
	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("could not serialize access due to a concurrent plan restart"),
				 errdetail("The clock of this transaction, %s, is before the restart of the plan of organization \"%s\" at %s.",
						   pstrdup(timestamptz_to_str(now)), o->org,
						   pstrdup(timestamptz_to_str(o->info.cycle_cut))),
				 errhint("Retry the transaction.")));
	return o->info.cycle_cut;
}

/* Whether an operation at now may write to the org (see org_clock) */
bool
org_clock_ok(OrgEntry *o, TimestampTz now)
{
	return TIMESTAMP_IS_NOBEGIN(o->info.cycle_cut) || now >= o->info.cycle_cut;
}

/*
 * Orgs whose credits.orgs row an UPDATE of this transaction is changing:
 * once the row is updated and until its AFTER row trigger has applied the
 * change, the org is not what the cache (or its row) says, and an
 * operation on it is refused.  Kept apart from the org cache, which may be
 * emptied meanwhile.  Each entry holds the row version its BEFORE trigger
 * saw: the window is open while that version has been updated by this
 * transaction.  An update that another BEFORE trigger cancels never
 * updates it, and before the update the org is still what it was, so
 * neither is refused; no statement boundaries are needed.
 */
typedef struct ChangeMark
{
	ItemPointerData old_tid;	/* the row version the BEFORE trigger saw */
	SubTransactionId subid;
} ChangeMark;

typedef struct ChangingOrg
{
	char		org[CREDITS_KEY_MAXLEN + 1];	/* hash key */
	int			nmarks;			/* one per BEFORE trigger not yet ended */
	int			maxmarks;
	ChangeMark *marks;
} ChangingOrg;

static HTAB *changing_orgs = NULL;	/* in TopTransactionContext */

/*
 * Marks an AFTER trigger removed inside a subtransaction: if that rolls
 * back, so does the removal (an UPDATE of the same row nested in another
 * trigger of an outer UPDATE, then rolled back, leaves the outer one's)
 */
typedef struct RemovedMark
{
	char		org[CREDITS_KEY_MAXLEN + 1];
	ChangeMark	mark;
	SubTransactionId removed_in;
} RemovedMark;

static List *removed_marks = NIL;	/* in TopTransactionContext */

static void add_mark(const char *key, const ChangeMark *mark);

static void
changing_reset(void)
{
	changing_orgs = NULL;
	removed_marks = NIL;
}

/*
 * Whether this transaction has updated (not deleted) the version of org's
 * orgs row at tid.  A version that is not org's row (the table was
 * truncated or rewritten since) does not count.
 */
static bool
orgs_row_updated(const char *org, ItemPointer tid)
{
	Relation	rel = credits_table_open("orgs", AccessShareLock);
	HeapTupleData tuple;
	Buffer		buf;
	bool		updated = false;

	tuple.t_self = *tid;
	if (heap_fetch(rel, SnapshotAny, &tuple, &buf, false))
	{
		HeapTupleHeader t;
		bool		isnull;
		Datum		key;

		LockBuffer(buf, BUFFER_LOCK_SHARE);
		t = tuple.t_data;
		updated = !(t->t_infomask & HEAP_XMAX_INVALID) &&
			!HEAP_XMAX_IS_LOCKED_ONLY(t->t_infomask) &&
			TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetUpdateXid(t)) &&
			!ItemPointerEquals(&t->t_ctid, tid);
		LockBuffer(buf, BUFFER_LOCK_UNLOCK);
		if (updated)
		{
			key = heap_getattr(&tuple, 1, RelationGetDescr(rel), &isnull);
			updated = !isnull && strcmp(TextDatumGetCString(key), org) == 0;
		}
		ReleaseBuffer(buf);
	}
	table_close(rel, NoLock);
	return updated;
}

static void
refuse_if_changing(const char *key)
{
	ChangingOrg *c;

	if (changing_orgs == NULL ||
		(c = hash_search(changing_orgs, key, HASH_FIND, NULL)) == NULL)
		return;
	for (int i = 0; i < c->nmarks; i++)
	{
		if (orgs_row_updated(key, &c->marks[i].old_tid))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("organization \"%s\" is being changed by this statement", key),
					 errdetail("An UPDATE of its credits.orgs row in the same statement has not finished."),
					 errhint("Charge the organization in a statement of its own.")));
	}
}

/* BEFORE UPDATE ON credits.orgs FOR EACH ROW, once the org is locked */
void
org_begin_change(Datum org, ItemPointer old_tid)
{
	char		key[CREDITS_KEY_MAXLEN + 1];
	ChangeMark	mark;

	key_to_buf(org, key);
	mark.old_tid = *old_tid;
	mark.subid = GetCurrentSubTransactionId();
	add_mark(key, &mark);
}

static void
add_mark(const char *key, const ChangeMark *mark)
{
	ChangingOrg *c;
	bool		found;

	if (changing_orgs == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = CREDITS_KEY_MAXLEN + 1;
		ctl.entrysize = sizeof(ChangingOrg);
		ctl.hcxt = TopTransactionContext;
		changing_orgs = hash_create("credits orgs being changed", 16, &ctl,
									HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	}
	c = hash_search(changing_orgs, key, HASH_ENTER, &found);
	if (found)
	{
		/* the same BEFORE trigger again (no-op updates another cancels) */
		for (int i = 0; i < c->nmarks; i++)
		{
			if (ItemPointerEquals(&c->marks[i].old_tid, (ItemPointer) &mark->old_tid) &&
				c->marks[i].subid == mark->subid)
				return;
		}
	}
	else
	{
		c->nmarks = 0;
		c->maxmarks = 4;
		c->marks = MemoryContextAlloc(TopTransactionContext,
									  c->maxmarks * sizeof(ChangeMark));
	}
	if (c->nmarks == c->maxmarks)
	{
		c->maxmarks *= 2;
		c->marks = repalloc(c->marks, c->maxmarks * sizeof(ChangeMark));
	}
	c->marks[c->nmarks++] = *mark;
}

/*
 * The AFTER row trigger of that UPDATE, with the old version: the change
 * is applied.  (A DELETE needs nothing: a deleted version does not count.)
 */
void
org_end_change(Datum org, ItemPointer old_tid)
{
	char		key[CREDITS_KEY_MAXLEN + 1];
	ChangingOrg *c;

	if (changing_orgs == NULL)
		return;
	key_to_buf(org, key);
	if ((c = hash_search(changing_orgs, key, HASH_FIND, NULL)) == NULL)
		return;
	/* a BEFORE trigger on the same version whose update was cancelled too */
	for (int i = c->nmarks - 1; i >= 0; i--)
	{
		if (ItemPointerEquals(&c->marks[i].old_tid, old_tid))
		{
			/*
			 * Only a mark begun outside the current subtransaction could
			 * be restored by its rollback; one begun inside it goes with it
			 */
			if (c->marks[i].subid < GetCurrentSubTransactionId())
			{
				MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);
				RemovedMark *r = palloc(sizeof(RemovedMark));

				strlcpy(r->org, key, sizeof(r->org));
				r->mark = c->marks[i];
				r->removed_in = GetCurrentSubTransactionId();
				removed_marks = lappend(removed_marks, r);
				MemoryContextSwitchTo(old);
			}
			c->marks[i] = c->marks[--c->nmarks];
		}
	}
	if (c->nmarks == 0)
	{
		pfree(c->marks);
		hash_search(changing_orgs, key, HASH_REMOVE, NULL);
	}
}

/* TRUNCATE of credits.orgs: no row is being changed */
void
org_end_all_changes(void)
{
	if (changing_orgs != NULL)
		hash_destroy(changing_orgs);
	changing_reset();
}

/*
 * A subtransaction committed: its removals now belong to its parent, and
 * those of marks begun inside the parent can no longer be restored
 */
static void
changing_commit_sub(SubTransactionId mySubid, SubTransactionId parentSubid)
{
	ListCell   *lc;

	foreach(lc, removed_marks)
	{
		RemovedMark *r = (RemovedMark *) lfirst(lc);

		if (r->removed_in < mySubid)
			continue;
		if (r->mark.subid >= parentSubid)
		{
			removed_marks = foreach_delete_current(removed_marks, lc);
			pfree(r);
		}
		else
			r->removed_in = parentSubid;
	}
}

/* A subtransaction rolled back: so are the UPDATEs it began */
static void
changing_abort_sub(SubTransactionId mySubid)
{
	HASH_SEQ_STATUS seq;
	ChangingOrg *c;
	ListCell   *lc;
	List	   *restore = NIL;

	/* removals made inside the rolled-back subtransaction are undone */
	foreach(lc, removed_marks)
	{
		RemovedMark *r = (RemovedMark *) lfirst(lc);

		if (r->removed_in >= mySubid)
		{
			if (r->mark.subid < mySubid)
				restore = lappend(restore, r);
			else
				pfree(r);
			removed_marks = foreach_delete_current(removed_marks, lc);
		}
	}
	foreach(lc, restore)
	{
		RemovedMark *r = (RemovedMark *) lfirst(lc);

		add_mark(r->org, &r->mark);
		pfree(r);
	}
	list_free(restore);

	if (changing_orgs == NULL)
		return;
	hash_seq_init(&seq, changing_orgs);
	while ((c = hash_seq_search(&seq)) != NULL)
	{
		int			kept = 0;

		for (int i = 0; i < c->nmarks; i++)
		{
			if (c->marks[i].subid < mySubid)
				c->marks[kept++] = c->marks[i];
		}
		c->nmarks = kept;
		if (kept == 0)
		{
			pfree(c->marks);
			hash_search(changing_orgs, c->org, HASH_REMOVE, NULL);
		}
	}
}

/* ---------------------------------------------------------------------
 * Periods and plan values
 * ---------------------------------------------------------------------
 */

/*
 * The usage period containing t: the cycle's period (extended before the
 * anchor and past the contract), split at the last plan restart.
 */
void
org_usage_period(const OrgInfo *info, TimestampTz t,
				 TimestampTz *start, TimestampTz *end)
{
	pg_tz	   *tz = cycle_tz(info->cycle);
	int64		k = cycle_index_at(info->cycle, tz, t);
	TimestampTz cut = info->cycle_cut;

	*start = cycle_period_start(info->cycle, tz, k);
	*end = cycle_period_start(info->cycle, tz, k + 1);
	if (!TIMESTAMP_IS_NOBEGIN(cut))
	{
		if (t >= cut && *start < cut)
			*start = cut;
		else if (t < cut && *end > cut)
			*end = cut;
	}
}

/*
 * The plan period containing t, cut to start at the last plan restart;
 * false outside the contract.
 */
bool
org_plan_period(const OrgInfo *info, TimestampTz t,
				TimestampTz *start, TimestampTz *end)
{
	pg_tz	   *tz = cycle_tz(info->cycle);
	Cycle	   *c = info->cycle;
	TimestampTz first = cycle_period_start(c, tz, 0);
	TimestampTz cut = info->cycle_cut;
	int64		k;

	if (t < first)
		return false;
	k = cycle_index_at(c, tz, t);
	if (c->periods > 0 && k >= c->periods)
		return false;
	*start = cycle_period_start(c, tz, k);
	*end = cycle_period_start(c, tz, k + 1);
	if (!TIMESTAMP_IS_NOBEGIN(cut))
	{
		if (t >= cut && *start < cut)
			*start = cut;
		else if (t < cut && *end > cut)
			*end = cut;
	}
	return true;
}

/*
 * Plan credits in force at the start of a plan period, and the period's
 * entitlement: the largest value in force from then until now.  A caller
 * that holds the org lock reads the history as committed now (at READ
 * COMMITTED, changes committed while it waited for the lock); the status
 * functions read it in their statement's snapshot.
 */
void
org_plan_values(Datum org, const OrgInfo *info, bool locked,
				TimestampTz period_start, TimestampTz now,
				int64 *at_start, int64 *entitlement)
{
	Datum		args[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};
	bool		isnull;
	Datum		d;

	args[0] = org;
	args[1] = TimestampTzGetDatum(period_start);
	args[2] = TimestampTzGetDatum(now);
	args[3] = Int64GetDatum(info->plan_credits);
	if (period_start == info->cycle_cut)
	{
		args[4] = Int64GetDatum(info->cut_seq);
		if (info->cut_seq < 0)
			nulls[4] = 'n';
		credits_run(&q_plan_values_cut, args, nulls, !locked, 1);
	}
	else
		credits_run(&q_plan_values, args, NULL, !locked, 1);
	*at_start = DatumGetInt64(credits_get_notnull(0, 1));
	d = credits_get(0, 2, &isnull);
	*entitlement = *at_start;
	if (!isnull && DatumGetInt64(d) > *entitlement)
		*entitlement = DatumGetInt64(d);
}

/* ---------------------------------------------------------------------
 * Grants
 * ---------------------------------------------------------------------
 */

/* Consumption order: soonest expiry, never-expiring last, starts_at, id */
static int
grant_order(const void *a, const void *b)
{
	const GrantSlot *x = (const GrantSlot *) a;
	const GrantSlot *y = (const GrantSlot *) b;

	if (x->expires_at != y->expires_at)
		return x->expires_at < y->expires_at ? -1 : 1;
	if (x->starts_at != y->starts_at)
		return x->starts_at < y->starts_at ? -1 : 1;
	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return 0;
}

static char
kind_code(const char *kind)
{
	switch (kind[0])
	{
		case 'p':
			return 'p';
		case 'r':
			return 'r';
		case 'o':
			return 'o';
		default:
			return 'a';
	}
}

/* The code of a credits.grant_kind value */
static char
kind_of(Datum kind)
{
	HeapTuple	tuple = SearchSysCache1(ENUMOID, kind);
	char		code;

	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for enum value %u",
			 DatumGetObjectId(kind));
	code = kind_code(NameStr(((Form_pg_enum) GETSTRUCT(tuple))->enumlabel));
	ReleaseSysCache(tuple);
	return code;
}

static GrantSlot *
append_slot(OrgEntry *o)
{
	if (o->ngrants == o->maxgrants)
	{
		int			newmax = o->maxgrants < 8 ? 8 : o->maxgrants * 2;

		if (o->grants == NULL)
			o->grants = MemoryContextAlloc(cache_context,
										   newmax * sizeof(GrantSlot));
		else
			o->grants = repalloc(o->grants, newmax * sizeof(GrantSlot));
		o->maxgrants = newmax;
	}
	return &o->grants[o->ngrants++];
}

/*
 * Puts a grant into the org's cache in consumption order, without sorting
 * the rest again; returns its place (valid until the cache changes)
 */
static GrantSlot *
insert_slot(OrgEntry *o, const GrantSlot *slot)
{
	int			lo = 0;
	int			hi = o->ngrants;

	/* the first grant that comes after it */
	while (lo < hi)
	{
		int			mid = lo + (hi - lo) / 2;

		if (grant_order(&o->grants[mid], slot) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	(void) append_slot(o);
	memmove(&o->grants[lo + 1], &o->grants[lo],
			(o->ngrants - 1 - lo) * sizeof(GrantSlot));
	o->grants[lo] = *slot;
	return &o->grants[lo];
}

/* Adds the grant in row (of grant_rows) with its credits left */
static void
load_grant(OrgEntry *o, TupleTableSlot *row, KeyScan *left)
{
	GrantSlot  *g;
	TupleTableSlot *l;
	bool		isnull;
	Datum		d;
	int64		id;

	id = DatumGetInt64(slot_getattr(row, GRANT_ROWS_ID, &isnull));
	d = Int64GetDatum(id);
	l = keyscan_first(left, &d);
	if (l == NULL)
		return;					/* damage verify() reports */

	g = append_slot(o);
	g->id = id;
	g->kind = kind_of(slot_getattr(row, GRANT_ROWS_KIND, &isnull));
	g->starts_at = DatumGetTimestampTz(slot_getattr(row, GRANT_ROWS_STARTS_AT,
													&isnull));
	d = slot_getattr(row, GRANT_ROWS_EXPIRES_AT, &isnull);
	g->expires_at = timestamptz_or_noend(d, isnull);
	g->amount = DatumGetInt64(slot_getattr(l, GRANT_LEFT_AMOUNT, &isnull));
	g->remaining = DatumGetInt64(slot_getattr(l, GRANT_LEFT_REMAINING,
											  &isnull));
	g->tid = l->tts_tid;
}

/* Loads the grants that have not expired at the clock */
void
org_load_grants(OrgEntry *o, TimestampTz now)
{
	Snapshot	snapshot;
	KeyScan    *grants;
	KeyScan    *left;
	Datum		key;

	/* a clock moved backwards can make expired grants live again */
	if (o->grants_loaded && now >= o->grants_clock)
		return;

	snapshot = rows_snapshot();
	grants = keyscan_begin(KEY_ORG_GRANTS, snapshot);
	left = keyscan_begin(KEY_GRANT_LEFT, snapshot);
	key = CStringGetTextDatum(o->org);
	o->ngrants = 0;
	/* those expiring later, then those never expiring, from spent_below on */
	for (int never = 0; never <= 1; never++)
	{
		for (TupleTableSlot *row = keyscan_unexpired(grants, key, now, never,
													 o->spent_below);
			 row != NULL; row = keyscan_next(grants))
			load_grant(o, row, left);
	}
	keyscan_end(left);
	keyscan_end(grants);
	UnregisterSnapshot(snapshot);
	qsort(o->grants, o->ngrants, sizeof(GrantSlot), grant_order);
	o->grants_loaded = true;
	o->grants_clock = now;
	skip_spent_grants(o);
}

/*
 * Moves spent_below past the used-up grants that never expire at the
 * start of those just loaded (all from spent_below on), so that the next
 * transaction does not read them: up to the lowest id that has credits
 * left, whatever order they are spent in.  Spending uses such grants up in
 * the order they were given (starts_at, then id), so the used-up ones
 * gather at the start.
 */
static void
skip_spent_grants(OrgEntry *o)
{
	int64		first_left = -1;
	int64		last = -1;

	if (o->spent_below < 0)
		return;
	for (int i = 0; i < o->ngrants; i++)
	{
		const GrantSlot *g = &o->grants[i];

		if (!TIMESTAMP_IS_NOEND(g->expires_at))
			continue;
		if (g->remaining > 0 && (first_left < 0 || g->id < first_left))
			first_left = g->id;
		last = Max(last, g->id);
	}
	if (first_left < 0 && last >= 0)
		first_left = last + 1;	/* all used up */
	if (first_left > o->spent_below)
		set_spent_below(o, first_left);
}

/*
 * Records a new spent_below for the org.  It is written in the middle of
 * other work: the result of the caller's last statement stays current.
 */
static void
set_spent_below(OrgEntry *o, int64 spent_below)
{
	SPITupleTable *result = SPI_tuptable;
	uint64		processed = SPI_processed;
	Datum		args[2];

	Assert(o->spent_below >= 0);
	args[0] = CStringGetTextDatum(o->org);
	args[1] = Int64GetDatum(spent_below);
	if (credits_run(&q_set_spent_below, args, NULL, false, 0) != 1)
		elog(ERROR, "state row of organization \"%s\" disappeared", o->org);
	SPI_tuptable = result;
	SPI_processed = processed;
	o->spent_below = spent_below;
}

bool
grant_spendable(const GrantSlot *g, TimestampTz now)
{
	if (g->remaining <= 0)
		return false;
	if (!TIMESTAMP_IS_NOEND(g->expires_at) && now >= g->expires_at)
		return false;
	/* plan grants from their period start; others whenever visible */
	if (g->kind == 'p' && now < g->starts_at)
		return false;
	return true;
}

/*
 * The plan grant of the plan period starting at start.  A plan grant a
 * cycle change ended at its own start is empty and not the period's.
 */
GrantSlot *
org_find_plan_grant(OrgEntry *o, TimestampTz start)
{
	for (int i = 0; i < o->ngrants; i++)
	{
		GrantSlot  *g = &o->grants[i];

		if (g->kind == 'p' && g->starts_at == start && g->expires_at > start)
			return g;
	}
	return NULL;
}

/* Amount the uncreated plan grant of the period starting at start has */
static int64
uncreated_amount(OrgEntry *o, TimestampTz start, TimestampTz now)
{
	if (o->uncreated_start != start)
	{
		int64		at_start;
		int64		entitlement;

		org_plan_values(CStringGetTextDatum(o->org), &o->info, true, start,
						now, &at_start, &entitlement);
		o->uncreated_start = start;
		o->uncreated_amount = at_start;
	}
	return o->uncreated_amount;
}

/*
 * A grant of the org by id, loading it into the cache even if it has
 * expired; NULL if the org has no such grant.
 */
GrantSlot *
org_find_grant(OrgEntry *o, int64 id, TimestampTz now)
{
	Datum		args[2];
	GrantSlot	slot;
	bool		isnull;
	Datum		d;

	org_load_grants(o, now);
	for (int i = 0; i < o->ngrants; i++)
	{
		if (o->grants[i].id == id)
			return &o->grants[i];
	}
	args[0] = CStringGetTextDatum(o->org);
	args[1] = Int64GetDatum(id);
	if (credits_run(&q_load_grant, args, NULL, false, 1) != 1)
		return NULL;
	slot.tid = *(ItemPointer) DatumGetPointer(credits_get_notnull(0, 1));
	slot.id = DatumGetInt64(credits_get_notnull(0, 2));
	slot.kind = kind_code(TextDatumGetCString(credits_get_notnull(0, 3)));
	slot.amount = DatumGetInt64(credits_get_notnull(0, 4));
	slot.remaining = DatumGetInt64(credits_get_notnull(0, 5));
	slot.starts_at = DatumGetTimestampTz(credits_get_notnull(0, 6));
	d = credits_get(0, 7, &isnull);
	slot.expires_at = timestamptz_or_noend(d, isnull);
	return insert_slot(o, &slot);
}

/* Makes the next use re-read the org's grants */
void
org_invalidate_grants(OrgEntry *o)
{
	o->grants_loaded = false;
	o->uncreated_start = DT_NOBEGIN;
}

/*
 * Credits spendable now, including the current plan period's grant if it
 * has not been created yet.
 */
int64
org_spendable(OrgEntry *o, TimestampTz now)
{
	int64		total = 0;
	TimestampTz start;
	TimestampTz end;

	org_load_grants(o, now);
	for (int i = 0; i < o->ngrants; i++)
	{
		if (grant_spendable(&o->grants[i], now))
			total += o->grants[i].remaining;
	}
	if (org_plan_period(&o->info, now, &start, &end) &&
		org_find_plan_grant(o, start) == NULL)
		total += uncreated_amount(o, start, now);
	return total;
}

/*
 * Creates a grant with its "grant" ledger entry and adds it to the cache.
 * ledger_at is when the grant took effect.  Returns NULL if a unique
 * index refused it (only a referral of another org can collide, since
 * this org is locked).
 */
GrantSlot *
org_add_grant(OrgEntry *o, const char *kind, int64 amount,
			  TimestampTz starts_at, TimestampTz expires_at,
			  Datum ref, bool ref_null, TimestampTz now, TimestampTz ledger_at,
			  Datum note, bool note_null)
{
	Datum		args[7];
	char		nulls[7] = "       ";
	Datum		org = CStringGetTextDatum(o->org);
	GrantSlot  *g;
	GrantSlot	slot;

	org_load_grants(o, now);
	args[0] = org;
	args[1] = CStringGetTextDatum(kind);
	args[2] = Int64GetDatum(amount);
	args[3] = TimestampTzGetDatum(starts_at);
	args[4] = tz_datum_or_null(expires_at, &nulls[4]);
	args[5] = ref;
	nulls[5] = ref_null ? 'n' : ' ';
	args[6] = TimestampTzGetDatum(now);
	if (credits_run(&q_insert_grant, args, nulls, false, 1) != 1)
		return NULL;

	slot.id = DatumGetInt64(credits_get_notnull(0, 1));
	slot.tid = *(ItemPointer) DatumGetPointer(credits_get_notnull(0, 2));
	slot.kind = kind_code(kind);
	slot.amount = amount;
	slot.remaining = amount;
	slot.starts_at = starts_at;
	slot.expires_at = expires_at;

	ledger_append(org, 0, ledger_at, LEDGER_GRANT, amount, slot.id,
				  (Datum) 0, true, (Datum) 0, true, ref, ref_null,
				  note, note_null);

	g = insert_slot(o, &slot);

	/*
	 * New credits may lift the org above its low-balance threshold: re-arm
	 * now, so that a spend later in the same operation that falls below it
	 * again is signalled (a renewal and a big unlock_many, say).  Whether
	 * to notify is decided only at the end of the operation, on its
	 * result.  Re-arming only reads the grants, so g stays valid.
	 */
	org_rearm(o, now);
	return g;
}

/*
 * Creates the plan grant of the plan period containing now, if missing;
 * returns it, or NULL if there is no plan period now or the period starts
 * with no plan credits (a grant holds 1 credit or more: a plan of 0
 * credits makes no grants, unless it is upgraded during the period).
 */
GrantSlot *
org_ensure_plan_grant(OrgEntry *o, TimestampTz now)
{
	TimestampTz start;
	TimestampTz end;
	GrantSlot  *g;
	int64		amount;

	if (!org_plan_period(&o->info, now, &start, &end))
		return NULL;
	org_load_grants(o, now);
	g = org_find_plan_grant(o, start);
	if (g != NULL)
		return g;
	amount = uncreated_amount(o, start, now);
	if (amount == 0)
		return NULL;
	return org_add_grant(o, "plan", amount, start, end, (Datum) 0, true,
						 now, start, (Datum) 0, true);
}

/*
 * Adds delta (negative: takes) to a grant's remaining credits.  The
 * caller writes the ledger entry.
 */
void
org_change_grant(OrgEntry *o, GrantSlot *g, int64 delta)
{
	RowUpdate  *ru;
	TupleTableSlot *row;
	Datum		args[3];

	/* credits back in a used-up grant below spent_below: it is read again */
	if (delta > 0 && TIMESTAMP_IS_NOEND(g->expires_at) &&
		o->spent_below > g->id)
		set_spent_below(o, g->id);

	ru = rows_update_begin(KEY_GRANT_LEFT);
	row = rows_update_fetch(ru, &g->tid);

	if (row != NULL &&
		DatumGetInt64(row->tts_values[GRANT_LEFT_GRANT_ID - 1]) != g->id)
		elog(ERROR, "credits of grant " INT64_FORMAT " were not where the cache said",
			 g->id);
	if (row != NULL &&
		rows_update_add(ru, &g->tid, GRANT_LEFT_REMAINING, delta, &g->remaining))
	{
		rows_update_end(ru);
		return;
	}
	rows_update_end(ru);

	/* the cached ctid is stale: find the row by its key */
	args[0] = Int64GetDatum(g->id);
	args[1] = Int64GetDatum(delta);
	credits_allow_protected_writes(true);
	if (credits_run(&q_grant_add_id, args, NULL, false, 1) != 1)
		elog(ERROR, "grant " INT64_FORMAT " disappeared", g->id);
	credits_allow_protected_writes(false);
	g->tid = *(ItemPointer) DatumGetPointer(credits_get_notnull(0, 1));
	g->remaining = DatumGetInt64(credits_get_notnull(0, 2));
	credits_free_result();
}

/* ---------------------------------------------------------------------
 * Members and usage
 * ---------------------------------------------------------------------
 */

/*
 * The members an org's operations looked up.  Most transactions touch a
 * few members of each org they charge, and some charge a great many orgs:
 * a few members live in an array, and only an org with more gets a hash
 * table (each has a memory context of its own, some 24 kB).  Slots are
 * allocated one by one, so that pointers to them stay valid.
 */
#define FEW_MEMBERS 8

typedef struct MemberRef
{
	char		member[CREDITS_KEY_MAXLEN + 1];	/* hash key */
	MemberSlot *slot;
} MemberRef;

static MemberSlot *
member_find(OrgEntry *o, const char *key)
{
	if (o->many != NULL)
	{
		MemberRef  *ref = hash_search(o->many, key, HASH_FIND, NULL);

		return ref != NULL ? ref->slot : NULL;
	}
	for (int i = 0; i < o->nfew; i++)
	{
		if (strcmp(o->few[i]->member, key) == 0)
			return o->few[i];
	}
	return NULL;
}

static MemberSlot *
member_add(OrgEntry *o, const char *key)
{
	MemberSlot *m = MemoryContextAllocZero(cache_context, sizeof(MemberSlot));
	MemberRef  *ref;

	strlcpy(m->member, key, sizeof(m->member));
	if (o->many == NULL && o->nfew < FEW_MEMBERS)
	{
		if (o->few == NULL)
			o->few = MemoryContextAlloc(cache_context,
										FEW_MEMBERS * sizeof(MemberSlot *));
		o->few[o->nfew++] = m;
		return m;
	}
	if (o->many == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = CREDITS_KEY_MAXLEN + 1;
		ctl.entrysize = sizeof(MemberRef);
		ctl.hcxt = cache_context;
		o->many = hash_create("credits members", 4 * FEW_MEMBERS, &ctl,
							  HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
		for (int i = 0; i < o->nfew; i++)
		{
			ref = hash_search(o->many, o->few[i]->member, HASH_ENTER, NULL);
			ref->slot = o->few[i];
		}
		pfree(o->few);
		o->few = NULL;
		o->nfew = 0;
	}
	ref = hash_search(o->many, key, HASH_ENTER, NULL);
	ref->slot = m;
	return m;
}

static void
member_remove(OrgEntry *o, const char *key)
{
	if (o->many != NULL)
	{
		MemberRef  *ref = hash_search(o->many, key, HASH_FIND, NULL);

		if (ref != NULL)
		{
			pfree(ref->slot);
			hash_search(o->many, key, HASH_REMOVE, NULL);
		}
		return;
	}
	for (int i = 0; i < o->nfew; i++)
	{
		if (strcmp(o->few[i]->member, key) == 0)
		{
			pfree(o->few[i]);
			o->few[i] = o->few[--o->nfew];
			return;
		}
	}
}

static void
members_free(OrgEntry *o)
{
	if (o->many != NULL)
	{
		HASH_SEQ_STATUS seq;
		MemberRef  *ref;

		hash_seq_init(&seq, o->many);
		while ((ref = hash_seq_search(&seq)) != NULL)
			pfree(ref->slot);
		hash_destroy(o->many);
		o->many = NULL;
	}
	for (int i = 0; i < o->nfew; i++)
		pfree(o->few[i]);
	if (o->few != NULL)
		pfree(o->few);
	o->few = NULL;
	o->nfew = 0;
}

/*
 * A member of a locked org (exists = false if unknown), with its usage in
 * the usage period starting at usage_start loaded by the same query.
 */
MemberSlot *
org_member(OrgEntry *o, Datum member, TimestampTz usage_start)
{
	char		key[CREDITS_KEY_MAXLEN + 1];
	MemberSlot *m;

	key_to_buf(member, key);
	m = member_find(o, key);
	if (m == NULL)
	{
		KeyScan    *ks = keyscan_begin(KEY_MEMBER, NULL);
		TupleTableSlot *row;
		Datum		keys[2];

		keys[0] = CStringGetTextDatum(o->org);
		keys[1] = member;
		row = keyscan_first(ks, keys);
		m = member_add(o, key);
		m->usage_loaded = false;
		m->exists = row != NULL;
		if (row != NULL)
		{
			bool		isnull;
			Datum		d;

			m->active = DatumGetBool(slot_getattr(row, MEMBERS_ACTIVE, &isnull));
			d = slot_getattr(row, MEMBERS_PERIOD_LIMIT, &isnull);
			m->has_limit = !isnull;
			m->period_limit = isnull ? 0 : DatumGetInt64(d);
		}
		else
		{
			m->active = false;
			m->has_limit = false;
			m->period_limit = 0;
		}
		keyscan_end(ks);
		if (m->exists)
			org_member_usage(o, m, usage_start);
	}
	return m;
}

/* Loads the member's usage in the usage period starting at start */
void
org_member_usage(OrgEntry *o, MemberSlot *m, TimestampTz start)
{
	KeyScan    *ks;
	TupleTableSlot *row;
	Datum		key[3];

	if (m->usage_loaded && m->usage_start == start)
		return;
	ks = keyscan_begin(KEY_USAGE, NULL);
	key[0] = CStringGetTextDatum(o->org);
	key[1] = CStringGetTextDatum(m->member);
	key[2] = TimestampTzGetDatum(start);
	row = keyscan_first(ks, key);
	m->usage_start = start;
	m->usage_loaded = true;
	m->usage_row = row != NULL;
	if (row != NULL)
	{
		bool		isnull;

		m->usage_tid = row->tts_tid;
		m->used = DatumGetInt64(slot_getattr(row, USAGE_USED, &isnull));
	}
	else
		m->used = 0;
	keyscan_end(ks);
}

/* Adds delta to the member's usage in the loaded usage period */
void
org_member_add_usage(OrgEntry *o, MemberSlot *m, Datum member, int64 delta)
{
	Datum		args[4];
	Datum		org = CStringGetTextDatum(o->org);

	Assert(m->usage_loaded);
	if (m->usage_row)
	{
		RowUpdate  *ru = rows_update_begin(KEY_USAGE);
		TupleTableSlot *row = rows_update_fetch(ru, &m->usage_tid);
		bool		done = false;

		if (row != NULL &&
			(strcmp(TextDatumGetCString(row->tts_values[USAGE_ORG - 1]), o->org) != 0 ||
			 strcmp(TextDatumGetCString(row->tts_values[USAGE_MEMBER - 1]), m->member) != 0 ||
			 DatumGetTimestampTz(row->tts_values[USAGE_PERIOD_START - 1]) != m->usage_start))
			elog(ERROR, "usage of member \"%s\" was not where the cache said",
				 m->member);
		if (row != NULL)
			done = rows_update_add(ru, &m->usage_tid, USAGE_USED, delta, &m->used);
		rows_update_end(ru);
		if (done)
			return;
	}

	/* no row yet, or a stale ctid: by key, else a new row (org is locked) */
	args[0] = org;
	args[1] = member;
	args[2] = TimestampTzGetDatum(m->usage_start);
	args[3] = Int64GetDatum(delta);
	if (credits_run(&q_usage_add_key, args, NULL, false, 0) == 0 &&
		credits_run(&q_usage_insert, args, NULL, false, 0) != 1)
		elog(ERROR, "could not record usage");
	if (SPI_processed != 1)
		elog(ERROR, "member \"%s\" has " UINT64_FORMAT " usage rows for one period",
			 m->member, SPI_processed);
	m->usage_row = true;
	m->usage_tid = *(ItemPointer) DatumGetPointer(credits_get_notnull(0, 1));
	m->used = DatumGetInt64(credits_get_notnull(0, 2));
	credits_free_result();
}

/* ---------------------------------------------------------------------
 * Ledger
 * ---------------------------------------------------------------------
 */

/*
 * Adds one entry to a batch of ledger rows (rows.h); id 0 takes a new id.
 * The Datums must live until the batch is written.  Returns the id.
 */
int64
ledger_add(RowBatch *b, Datum org, int64 id, TimestampTz at,
		   const char *kind, int64 amount, int64 grant_id,
		   Datum member, bool member_null,
		   Datum prospect, bool prospect_null,
		   Datum ref, bool ref_null,
		   Datum note, bool note_null)
{
	TupleTableSlot *slot = rows_slot(b);
	Datum	   *values = slot->tts_values;
	bool	   *nulls = slot->tts_isnull;

	if (id == 0)
		id = ledger_next_id();
	if (b->actor == (Datum) 0)
		b->actor = CStringGetTextDatum(GetUserNameFromId(GetSessionUserId(),
														 false));
	memset(nulls, false, sizeof(bool) * LEDGER_NOTE);
	values[LEDGER_ID - 1] = Int64GetDatum(id);
	values[LEDGER_ORG - 1] = org;
	values[LEDGER_AT - 1] = TimestampTzGetDatum(at);
	values[LEDGER_RECORDED_AT - 1] =
		TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	values[LEDGER_ACTOR - 1] = b->actor;
	values[LEDGER_KIND - 1] = rows_enum(b, LEDGER_KIND, kind);
	values[LEDGER_AMOUNT - 1] = Int64GetDatum(amount);
	values[LEDGER_GRANT_ID - 1] = Int64GetDatum(grant_id);
	values[LEDGER_MEMBER - 1] = member;
	nulls[LEDGER_MEMBER - 1] = member_null;
	values[LEDGER_PROSPECT - 1] = prospect;
	nulls[LEDGER_PROSPECT - 1] = prospect_null;
	values[LEDGER_REF - 1] = ref;
	nulls[LEDGER_REF - 1] = ref_null;
	values[LEDGER_NOTE - 1] = note;
	nulls[LEDGER_NOTE - 1] = note_null;
	rows_add(b);
	return id;
}

/* Appends one entry to the ledger; id 0 takes a new id.  Returns the id. */
int64
ledger_append(Datum org, int64 id, TimestampTz at, const char *kind,
			  int64 amount, int64 grant_id,
			  Datum member, bool member_null,
			  Datum prospect, bool prospect_null,
			  Datum ref, bool ref_null,
			  Datum note, bool note_null)
{
	RowBatch   *b = ledger_begin(1);

	id = ledger_add(b, org, id, at, kind, amount, grant_id,
					member, member_null, prospect, prospect_null,
					ref, ref_null, note, note_null);
	rows_end(b);
	return id;
}

/* ---------------------------------------------------------------------
 * Limits
 * ---------------------------------------------------------------------
 */

/* Refuses to raise an org's spendable credits above 10^15 (22003) */
void
org_check_total(OrgEntry *o, TimestampTz now, int64 adding)
{
	int64		left = org_spendable(o, now);

	if (left + adding > CREDITS_TOTAL_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("organization \"%s\" would hold too many credits", o->org),
				 errdetail("Spendable credits: " INT64_FORMAT "; adding " INT64_FORMAT " would pass the limit of " INT64_FORMAT ".",
						   left, adding, CREDITS_TOTAL_MAX),
				 errhint("Add the credits once the organization has spent some.")));
}

/* ZC001, with the next renewal in the hint when there is one */
void
org_report_no_credits(OrgEntry *o, TimestampTz now, int64 left, int64 needed)
{
	TimestampTz start;
	TimestampTz end;
	bool		renews = false;

	if (org_plan_period(&o->info, now, &start, &end))
	{
		TimestampTz next_start;
		TimestampTz next_end;

		renews = !TIMESTAMP_NOT_FINITE(end) &&
			org_plan_period(&o->info, end, &next_start, &next_end);
	}
	else
	{
		/* before the contract starts, the first period is the renewal */
		TimestampTz first = cycle_period_start(o->info.cycle,
											   cycle_tz(o->info.cycle), 0);

		if (now < first)
		{
			end = first;
			renews = true;
		}
	}

	ereport(ERROR,
			(errcode(ERRCODE_CREDITS_NO_CREDITS),
			 errmsg("organization \"%s\" does not have enough credits", o->org),
			 errdetail("Spendable credits: " INT64_FORMAT "; needed: " INT64_FORMAT ".",
					   left, needed),
			 renews ?
			 errhint("The plan renews at %s; buy one-time credits to go on before then.",
					 timestamptz_to_str(end)) :
			 errhint("The plan has no further period: buy one-time credits or renew the contract.")));
}
