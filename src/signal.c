/*-------------------------------------------------------------------------
 *
 * signal.c
 *	  The low-balance signal (SPEC section 6a): NOTIFY credits_low_balance
 *	  when an org's spendable credits fall to its threshold, once until
 *	  they rise above it again.
 *
 * Whether an org is armed lives in its credits.org_state row, written
 * under the org lock.  Functions and the orgs triggers signal at the end
 * of their operation; row triggers (the app's, and INSERT into
 * credits.unlocks) at the end of their statement, on what it leaves.
 *
 * The notifications themselves are queued here and handed to NOTIFY just
 * before the commit.  PostgreSQL refuses to prepare a transaction that
 * has sent a NOTIFY (two-phase commit): a transaction that is prepared
 * re-arms the orgs it would have signalled instead, so that their next
 * write after the commit signals, if they are still at or below their
 * threshold.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "miscadmin.h"
#include "nodes/pg_list.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "org.h"

static void low_balance(OrgEntry *o, TimestampTz now, bool notify);

static CreditsQuery q_set_armed = {
	"UPDATE credits.org_state SET armed = $2 WHERE org = $1",
	2, {TEXTOID, BOOLOID}, NULL
};

/* An org's state row armed, made if the org has none yet (and exists) */
static CreditsQuery q_arm = {
	"INSERT INTO credits.org_state AS s (org, armed)"
	"  SELECT o.org, true FROM credits.orgs o WHERE o.org = $1"
	"  ON CONFLICT (org) DO UPDATE SET armed = true",
	1, {TEXTOID}, NULL
};

/*
 * The transaction's notifications not yet handed to NOTIFY, oldest first,
 * in TopTransactionContext
 */
typedef struct QueuedNotify
{
	char	   *org;
	int64		left;
	int64		threshold;
	Oid			userid;			/* who signalled: may write the state row */
	int			level;			/* the (sub)transaction nesting level */
} QueuedNotify;

static List *queued_notifies = NIL;

/*
 * NOTIFY credits_low_balance, with only the org, credits left, threshold:
 * queued, and sent if the transaction commits
 */
void
org_notify_low_balance(const char *org, int64 left, int64 threshold)
{
	MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);
	QueuedNotify *n = palloc(sizeof(QueuedNotify));

	n->org = pstrdup(org);
	n->left = left;
	n->threshold = threshold;
	n->userid = GetUserId();
	n->level = GetCurrentTransactionNestLevel();
	queued_notifies = lappend(queued_notifies, n);
	MemoryContextSwitchTo(old);
}

/* Hands the queued notifications to NOTIFY, before the commit */
static void
send_queued_notifies(void)
{
	ListCell   *lc;
	StringInfoData payload;

	initStringInfo(&payload);
	foreach(lc, queued_notifies)
	{
		QueuedNotify *n = (QueuedNotify *) lfirst(lc);

		resetStringInfo(&payload);
		appendStringInfoString(&payload, "{\"org\": ");
		escape_json(&payload, n->org);
		appendStringInfo(&payload, ", \"credits_left\": " INT64_FORMAT
						 ", \"threshold\": " INT64_FORMAT "}",
						 n->left, n->threshold);
		Async_Notify("credits_low_balance", payload.data);
	}
	pfree(payload.data);
	queued_notifies = NIL;
}

/*
 * Before PREPARE TRANSACTION, which refuses NOTIFY: the orgs the queued
 * notifications are for are armed again (their state rows are written
 * with the rights of whoever signalled them), and the notifications
 * dropped.  Each org holds its lock to the commit, so nothing comes
 * between.
 */
static void
arm_queued_orgs(void)
{
	List	   *pending = queued_notifies;
	ListCell   *lc;

	if (pending == NIL)
		return;
	queued_notifies = NIL;

	/*
	 * The extension dropped in this transaction: nothing to arm.  Created
	 * again since, an org of the new tables with one of these keys is
	 * armed, and signals at its next write if at or below its threshold:
	 * once, as the commit would have signalled the old one.  A transaction
	 * made read-only after its charges cannot write the state rows, and
	 * the signal must not be lost.
	 */
	if (!OidIsValid(get_relname_relid("org_state",
									  get_namespace_oid("credits", true))))
		return;
	if (XactReadOnly)
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot prepare a read-only transaction that took an organization to its low-balance threshold"),
				 errdetail("A prepared transaction cannot notify, so it re-arms the signal of organization \"%s\", which needs a write.",
						   ((QueuedNotify *) linitial(pending))->org),
				 errhint("Prepare the transaction before making it read-only, or commit it.")));

	/* portals are closed by now: the writes need a snapshot of their own */
	PushActiveSnapshot(GetTransactionSnapshot());
	credits_begin();
	foreach(lc, pending)
	{
		QueuedNotify *n = (QueuedNotify *) lfirst(lc);
		CreditsIdentity saved;
		Datum		args[1];

		args[0] = CStringGetTextDatum(n->org);
		credits_run_as(n->userid, 0, &saved);
		credits_run(&q_arm, args, NULL, false, 0);
		credits_run_as_end(&saved);
	}
	credits_end();
	PopActiveSnapshot();
}

static void
signal_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
			send_queued_notifies();
			break;
		case XACT_EVENT_PRE_PREPARE:
			arm_queued_orgs();
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			/* the memory goes with TopTransactionContext */
			queued_notifies = NIL;
			break;
		default:
			break;
	}
}

/*
 * A subtransaction's notifications go with it if it rolls back, as its
 * writes do (the state rows it disarmed), and pass to its parent if it
 * commits
 */
static void
signal_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						SubTransactionId parentSubid, void *arg)
{
	int			level = GetCurrentTransactionNestLevel();
	int			keep = list_length(queued_notifies);

	if (event != SUBXACT_EVENT_ABORT_SUB && event != SUBXACT_EVENT_COMMIT_SUB)
		return;

	/*
	 * Levels never decrease along the list (an entry is queued at the
	 * current level, and every deeper level has ended before), so this
	 * subtransaction's entries are its tail: only they are visited
	 */
	while (keep > 0)
	{
		QueuedNotify *n = (QueuedNotify *) list_nth(queued_notifies, keep - 1);

		if (n->level < level)
			break;
		Assert(n->level == level);
		n->level = level - 1;
		keep--;
	}
	if (event == SUBXACT_EVENT_ABORT_SUB)
		queued_notifies = list_truncate(queued_notifies, keep);
}

void
credits_signal_init(void)
{
	RegisterXactCallback(signal_xact_callback, NULL);
	RegisterSubXactCallback(signal_subxact_callback, NULL);
}

/*
 * What a new org can spend: the plan credits of the plan period at t (it
 * has no grants, no plan history, no plan restart yet)
 */
int64
org_new_spendable(const OrgInfo *info, TimestampTz t)
{
	TimestampTz start;
	TimestampTz end;

	return org_plan_period(info, t, &start, &end) ? info->plan_credits : 0;
}

/*
 * Whether the INSERT of an org signalled low balance, decided again from
 * the row when the org gets its first state row: the INSERT wrote nothing
 * (SPEC section 3), so its disarming is recorded there.  It is read at
 * created_at, the clock of a plain INSERT; an org a COPY loaded, a
 * restore's, was signalled (or not) where it was created.
 */
bool
org_signalled_at_creation(const OrgInfo *info, TimestampTz created_at)
{
	return info->has_threshold &&
		org_new_spendable(info, created_at) <= info->threshold;
}

/*
 * The low-balance signal (SPEC section 6a), after a write to the org:
 * NOTIFY once when the credits left fall to the threshold, re-arm when
 * they rise above it.
 */
void
org_signal(OrgEntry *o, TimestampTz now)
{
	low_balance(o, now, true);
}

/*
 * Re-arms the signal if new credits lifted the org above its threshold,
 * in the middle of an operation: whether to notify is decided at its end,
 * on its result
 */
void
org_rearm(OrgEntry *o, TimestampTz now)
{
	low_balance(o, now, false);
}

/*
 * Charges made by row triggers (the app's, and INSERT into credits.unlocks)
 * are signalled at the end of their statement, on its result: a statement
 * that charges several rows is one operation, and its signal carries what
 * the statement leaves.  Each org is noted with the depth of the statement
 * whose AFTER triggers charged it (credits_statement_depth(), counted by
 * an ExecutorFinish hook); that statement's end sends the signals, or, if
 * it fails, drops them.  Outside any statement's end (a COPY, deferred
 * triggers at commit) the signal goes at once.
 */
typedef struct DeferredKey
{
	char		org[CREDITS_KEY_MAXLEN + 1];
	int			depth;
} DeferredKey;

typedef struct DeferredSignal
{
	DeferredKey key;			/* hash key */
	Oid			userid;			/* the rights it was charged with */
} DeferredSignal;

static HTAB *deferred_signals = NULL;
static int	deferred_max_depth = 0;	/* no entry is deeper */

void
org_signal_at_statement_end(OrgEntry *o, TimestampTz now)
{
	DeferredKey key;
	DeferredSignal *d;
	int			depth = credits_statement_depth();

	if (depth == 0)
	{
		org_signal(o, now);
		return;
	}
	if (!o->info.has_threshold)
		return;
	if (deferred_signals == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(DeferredKey);
		ctl.entrysize = sizeof(DeferredSignal);
		ctl.hcxt = TopMemoryContext;
		deferred_signals = hash_create("credits deferred signals", 64, &ctl,
									   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	memset(&key, 0, sizeof(key));
	strlcpy(key.org, o->org, sizeof(key.org));
	key.depth = depth;
	d = hash_search(deferred_signals, &key, HASH_ENTER, NULL);
	d->userid = GetUserId();
	deferred_max_depth = Max(deferred_max_depth, depth);
}

static int
deferred_order(const void *a, const void *b)
{
	return strcmp(((const DeferredSignal *) a)->key.org,
				  ((const DeferredSignal *) b)->key.org);
}

/*
 * Takes the orgs noted at depth or deeper out of the table, sorted by key;
 * returns how many.
 */
static int
deferred_take(int depth, DeferredSignal **result)
{
	HASH_SEQ_STATUS seq;
	DeferredSignal *d;
	DeferredSignal *taken;
	int			n = 0;

	*result = NULL;

	/*
	 * Every statement the extension runs itself ends here too, deeper than
	 * any entry: it must cost nothing, however many orgs are noted
	 */
	if (deferred_signals == NULL || depth > deferred_max_depth)
		return 0;
	taken = palloc(sizeof(DeferredSignal) * hash_get_num_entries(deferred_signals));
	hash_seq_init(&seq, deferred_signals);
	while ((d = hash_seq_search(&seq)) != NULL)
	{
		if (d->key.depth >= depth)
			taken[n++] = *d;
	}
	for (int i = 0; i < n; i++)
		hash_search(deferred_signals, &taken[i].key, HASH_REMOVE, NULL);
	deferred_max_depth = depth - 1;

	/* a statement that noted many orgs leaves no large table behind */
	if (hash_get_num_entries(deferred_signals) == 0)
	{
		hash_destroy(deferred_signals);
		deferred_signals = NULL;
		deferred_max_depth = 0;
	}
	if (n == 0)
	{
		pfree(taken);
		return 0;
	}
	qsort(taken, n, sizeof(DeferredSignal), deferred_order);
	*result = taken;
	return n;
}

/*
 * At the end of a statement at depth: the signals its row triggers noted,
 * sent as the triggers charged, as their SECURITY DEFINER functions run:
 * with the rights of the user they ran as (the statement's user may not
 * write the state rows) and search_path = pg_catalog, pg_temp (the
 * statement's search_path could put an operator of the caller's in the
 * plans that run with those rights)
 */
void
org_send_statement_signals(int depth)
{
	DeferredSignal *taken;
	int			n = deferred_take(depth, &taken);

	if (n == 0)
		return;
	credits_begin();
	for (int i = 0; i < n; i++)
	{
		CreditsIdentity saved;
		OrgEntry   *o;

		credits_run_as(taken[i].userid, 0, &saved);
		o = org_lock(CStringGetTextDatum(taken[i].key.org), false);
		org_signal(o, org_clock(o));
		credits_run_as_end(&saved);
	}
	credits_end();
	pfree(taken);
}

/* A statement at depth failed: its row triggers' signals are not sent */
void
org_drop_statement_signals(int depth)
{
	DeferredSignal *taken;

	if (deferred_take(depth, &taken) > 0)
		pfree(taken);
}

/* org_signal, or only its re-arming part (!notify) in mid-operation */
static void
low_balance(OrgEntry *o, TimestampTz now, bool notify)
{
	int64		left;
	Datum		args[2];

	if (!o->info.has_threshold)
		return;
	left = org_spendable(o, now);
	if (notify && left <= o->info.threshold && o->armed)
	{
		org_notify_low_balance(o->org, left, o->info.threshold);
		o->armed = false;
	}
	else if (left > o->info.threshold && !o->armed)
		o->armed = true;
	else
		return;

	args[0] = CStringGetTextDatum(o->org);
	args[1] = BoolGetDatum(o->armed);
	credits_run(&q_set_armed, args, NULL, false, 1);
}
