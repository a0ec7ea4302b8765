/*-------------------------------------------------------------------------
 *
 * triggers.c
 *	  Triggers on the extension's tables: the history they protect, and
 *	  what INSERT, UPDATE and DELETE of organizations and members do.
 *
 * credits.protect(mode) refuses UPDATE, DELETE and TRUNCATE with ZC006:
 * on the ledger always ('always'), on grants and stored unlocks unless the
 * extension itself is writing ('internal'), and on the tables of records
 * the ledger does not repeat (usage, plan history, idempotency keys)
 * outside the extension's operations ('operations'; TRUNCATE always).
 * TRUNCATE of the views credits.grants and credits.unlocks fires no
 * trigger: a utility hook refuses it with the same error, in sessions that
 * have loaded the library.
 *
 * Row triggers on credits.orgs and credits.members lock the org first
 * (SPEC section 7).  An UPDATE of an org applies plan changes (upgrades at
 * once, other changes from the next period), cycle changes (the plan
 * restarts at the clock) and threshold changes (the signal re-arms).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/plannodes.h"
#include "parser/parsetree.h"
#include "tcop/pquery.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "org.h"

static void report_history(const char *what, const char *detail,
						   const char *hint) pg_attribute_noreturn();

static CreditsQuery q_has_history = {
	"SELECT EXISTS (SELECT 1 FROM credits.ledger WHERE org = $1)"
	"    OR EXISTS (SELECT 1 FROM credits.grant_rows WHERE org = $1)"
	"    OR EXISTS (SELECT 1 FROM credits.unlock_rows WHERE org = $1)",
	1, {TEXTOID}, NULL
};

static CreditsQuery q_any_history = {
	"SELECT EXISTS (SELECT 1 FROM credits.ledger)"
	"    OR EXISTS (SELECT 1 FROM credits.grant_rows)"
	"    OR EXISTS (SELECT 1 FROM credits.unlock_rows)",
	0, {InvalidOid}, NULL
};

static CreditsQuery q_forget_org = {
	"WITH s AS (DELETE FROM credits.org_state WHERE org = $1),"
	"     u AS (DELETE FROM credits.usage WHERE org = $1)"
	"DELETE FROM credits.plan_changes WHERE org = $1",
	1, {TEXTOID}, NULL
};

static CreditsQuery q_forget_all = {
	"WITH s AS (DELETE FROM credits.org_state),"
	"     u AS (DELETE FROM credits.usage)"
	"DELETE FROM credits.plan_changes",
	0, {InvalidOid}, NULL
};

/*
 * The instant an org change takes effect: the clock, or the org's latest
 * recorded instant if that is later.  A transaction that started before
 * another one charged the org, but got the org's lock after it, must not
 * date a plan change or a cycle cut before what is already committed.
 * The plan history's first row is the value before any change, not a
 * change (1.0 dated it at created_at, which may lie ahead).
 */
static CreditsQuery q_latest_instant = {
	"SELECT greatest($2,"
	"  (SELECT max(at) FROM credits.ledger WHERE org = $1),"
	"  (SELECT max(at) FROM credits.plan_changes WHERE org = $1"
	"      AND id > (SELECT min(id) FROM credits.plan_changes WHERE org = $1)),"
	"  (SELECT cycle_cut FROM credits.org_state WHERE org = $1))",
	2, {TEXTOID, TIMESTAMPTZOID}, NULL
};

static CreditsQuery q_history_count = {
	"SELECT count(*) FROM credits.plan_changes WHERE org = $1",
	1, {TEXTOID}, NULL
};

static CreditsQuery q_history_add = {
	"INSERT INTO credits.plan_changes (org, at, plan_credits) VALUES ($1, $2, $3)",
	3, {TEXTOID, TIMESTAMPTZOID, INT8OID}, NULL
};

static CreditsQuery q_top_up = {
	"UPDATE credits.grant_left SET amount = amount + $2, remaining = remaining + $2"
	" WHERE grant_id = $1",
	2, {INT8OID, INT8OID}, NULL
};

static CreditsQuery q_end_grant = {
	"WITH l AS (UPDATE credits.grant_left SET remaining = 0 WHERE grant_id = $1)"
	"UPDATE credits.grant_rows SET expires_at = $2 WHERE id = $1",
	2, {INT8OID, TIMESTAMPTZOID}, NULL
};

static CreditsQuery q_set_cut = {
	"UPDATE credits.org_state SET cycle_cut = $2, armed = armed WHERE org = $1",
	2, {TEXTOID, TIMESTAMPTZOID}, NULL
};

/*
 * The plan history up to a restart, including a change made with it.
 * Only where org_state has the column (extension 1.1 on).
 */
static CreditsQuery q_set_cut_seq = {
	"UPDATE credits.org_state SET cut_seq ="
	"  (SELECT coalesce(max(id), 0) FROM credits.plan_changes WHERE org = $1)"
	" WHERE org = $1",
	1, {TEXTOID}, NULL
};

/*
 * Charges dated at the instant of a plan restart belong to the usage
 * period the restart starts (SPEC: a charge counts in the period that
 * contains its unlocked_at): moves them there from the period they were
 * counted in.  Nothing is dated after the restart, which is never dated
 * before the org's latest entry.
 */
static CreditsQuery q_move_cut_usage = {
	"WITH moved AS ("
	"  SELECT u.member, u.usage_start, count(*) AS n"
	"    FROM credits.ledger l"
	"    JOIN credits.unlock_rows u ON u.org = l.org AND u.prospect = l.prospect"
	"     AND u.debit_id = l.id"
	"   WHERE l.org = $1 AND l.at = $2 AND l.kind = 'debit' AND u.usage_start < $2"
	"   GROUP BY u.member, u.usage_start"
	"), per_member AS ("
	"  SELECT member, sum(n)::bigint AS n FROM moved GROUP BY member"
	"), taken AS ("
	"  UPDATE credits.usage s SET used = s.used - m.n FROM moved m"
	"   WHERE s.org = $1 AND s.member = m.member AND s.period_start = m.usage_start"
	"), added AS ("
	"  UPDATE credits.usage s SET used = s.used + p.n FROM per_member p"
	"   WHERE s.org = $1 AND s.member = p.member AND s.period_start = $2"
	"  RETURNING s.member"
	"), inserted AS ("
	"  INSERT INTO credits.usage (org, member, period_start, used)"
	"  SELECT $1, p.member, $2, p.n FROM per_member p"
	"   WHERE p.member NOT IN (SELECT member FROM added)"
	")"
	"UPDATE credits.unlock_rows u SET usage_start = $2"
	"  FROM credits.ledger l"
	" WHERE l.org = $1 AND l.at = $2 AND l.kind = 'debit' AND u.org = $1"
	"   AND u.prospect = l.prospect AND u.debit_id = l.id AND u.usage_start < $2",
	2, {TEXTOID, TIMESTAMPTZOID}, NULL
};

static CreditsQuery q_rearm = {
	"UPDATE credits.org_state SET armed = true WHERE org = $1",
	1, {TEXTOID}, NULL
};

static TriggerData *
trigger_data(FunctionCallInfo fcinfo, const char *name)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" was not called by trigger manager", name),
				 errdetail("It is a trigger function of the credits extension."),
				 errhint("Do not call it directly.")));
	return (TriggerData *) fcinfo->context;
}

static Datum
attr(TriggerData *td, HeapTuple tuple, const char *name, bool *isnull)
{
	TupleDesc	desc = RelationGetDescr(td->tg_relation);
	int			attnum = SPI_fnumber(desc, name);

	if (attnum <= 0)
		elog(ERROR, "column \"%s\" is missing from \"%s\"",
			 name, RelationGetRelationName(td->tg_relation));
	return heap_getattr(tuple, attnum, desc, isnull);
}

static bool
text_changed(TriggerData *td, const char *name)
{
	bool		n1;
	bool		n2;
	Datum		a = attr(td, td->tg_trigtuple, name, &n1);
	Datum		b = attr(td, td->tg_newtuple, name, &n2);

	if (n1 || n2)
		return n1 != n2;
	return !DatumGetBool(DirectFunctionCall2Coll(texteq, C_COLLATION_OID, a, b));
}

static void
report_history(const char *what, const char *detail, const char *hint)
{
	ereport(ERROR,
			(errcode(ERRCODE_CREDITS_HISTORY),
			 errmsg("%s", what),
			 errdetail("%s", detail),
			 errhint("%s", hint)));
}

/* ---------------------------------------------------------------------
 * credits.protect
 * ---------------------------------------------------------------------
 */

typedef enum ProtectedAction
{
	PROTECT_UPDATE,
	PROTECT_DELETE,
	PROTECT_TRUNCATE
} ProtectedAction;

/*
 * ZC006 for an action on one of the extension's tables, named as the
 * public sees it; each message whole, with the table as its parameter
 */
static void
report_protected(const char *table, ProtectedAction action)
{
	const char *name;
	const char *detail;
	const char *hint;

	if (strcmp(table, "ledger") == 0)
	{
		name = "credits.ledger";
		detail = gettext_noop("The ledger is append-only: it is the history of every credit.");
		hint = gettext_noop("Record a correction with credits.adjust() or credits.revoke_grant().");
	}
	else if (strcmp(table, "unlock_rows") == 0 || strcmp(table, "unlocks") == 0)
	{
		name = "credits.unlocks";
		detail = gettext_noop("Unlocks change only through the extension's functions.");
		hint = gettext_noop("Use credits.refund() to undo an unlock.");
	}
	else if (strcmp(table, "usage") == 0 || strcmp(table, "org_state") == 0 ||
			 strcmp(table, "plan_changes") == 0 ||
			 strcmp(table, "requests") == 0)
	{
		/* tables of records: changed only by the extension's operations */
		name = psprintf("credits.%s", table);
		detail = gettext_noop("The table holds the extension's own records (usage, plan history, idempotency keys), which its functions keep in step with the ledger.");
		if (action == PROTECT_TRUNCATE)
			hint = gettext_noop("Delete an organization without history with credits.delete_org().");
		else
			hint = gettext_noop("Change organizations and members in credits.orgs and credits.members, and credits with the extension's functions.");
	}
	else
	{
		name = "credits.grants";
		detail = gettext_noop("Grants change only through the extension's functions, so that the ledger explains every credit.");
		hint = gettext_noop("Use credits.adjust() or credits.revoke_grant().");
	}

	switch (action)
	{
		case PROTECT_UPDATE:
			ereport(ERROR,
					(errcode(ERRCODE_CREDITS_HISTORY),
					 errmsg("cannot update %s", name),
					 errdetail_internal("%s", _(detail)),
					 errhint("%s", _(hint))));
			break;
		case PROTECT_DELETE:
			ereport(ERROR,
					(errcode(ERRCODE_CREDITS_HISTORY),
					 errmsg("cannot delete from %s", name),
					 errdetail_internal("%s", _(detail)),
					 errhint("%s", _(hint))));
			break;
		case PROTECT_TRUNCATE:
			ereport(ERROR,
					(errcode(ERRCODE_CREDITS_HISTORY),
					 errmsg("cannot truncate %s", name),
					 errdetail_internal("%s", _(detail)),
					 errhint("%s", _(hint))));
			break;
	}
}

PG_FUNCTION_INFO_V1(credits_protect);
Datum
credits_protect(PG_FUNCTION_ARGS)
{
	TriggerData *td = trigger_data(fcinfo, "credits_protect");
	const char *mode = td->tg_trigger->tgnargs > 0 ?
		td->tg_trigger->tgargs[0] : "internal";
	bool		allowed;

	if (strcmp(mode, "always") == 0)
		allowed = false;
	else if (strcmp(mode, "operations") == 0)
		allowed = credits_in_operation() || credits_protected_writes_allowed();
	else
		allowed = credits_protected_writes_allowed();

	if (allowed && !TRIGGER_FIRED_BY_TRUNCATE(td->tg_event))
		return PointerGetDatum(TRIGGER_FIRED_BY_UPDATE(td->tg_event) ?
							   td->tg_newtuple : td->tg_trigtuple);

	report_protected(RelationGetRelationName(td->tg_relation),
					 TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? PROTECT_UPDATE :
					 TRIGGER_FIRED_BY_DELETE(td->tg_event) ? PROTECT_DELETE :
					 PROTECT_TRUNCATE);
	return PointerGetDatum(NULL);	/* keep compiler quiet */
}

static ProcessUtility_hook_type prev_process_utility = NULL;

/* Refuses TRUNCATE of credits.orgs if orgs have history (ZC006) */
static void
check_orgs_truncate(Oid relid)
{
	HeapTuple	tp = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner;
	CreditsIdentity saved;
	bool		history;

	if (!HeapTupleIsValid(tp))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tp))->relowner;
	ReleaseSysCache(tp);

	credits_run_as(owner, SECURITY_RESTRICTED_OPERATION, &saved);
	credits_begin();
	credits_run(&q_any_history, NULL, NULL, false, 1);
	history = DatumGetBool(credits_get_notnull(0, 1));
	credits_end();
	credits_run_as_end(&saved);
	if (history)
		report_history("cannot truncate credits.orgs",
					   "Organizations have credits history, which is kept.",
					   "Freeze organizations, or end their contracts, instead.");
}

/*
 * TRUNCATE names credits.grants or credits.unlocks: PostgreSQL would say
 * they are not tables (42809); SPEC promises ZC006.  Or it names
 * credits.orgs alone while orgs have history: PostgreSQL would refuse it
 * for the foreign key of credits.members (0A000) before the orgs table's
 * own trigger could say why it is refused (ZC006).  Only relations that
 * belong to the extension count.
 */
static void
check_truncate(TruncateStmt *stmt)
{
	Oid			ext = InvalidOid;
	ListCell   *lc;

	/* PostgreSQL refuses it first in a read-only transaction (25006) */
	if (XactReadOnly)
		return;

	foreach(lc, stmt->relations)
	{
		RangeVar   *rv = lfirst_node(RangeVar, lc);
		Oid			relid = RangeVarGetRelid(rv, NoLock, true);
		char		relkind;
		const char *name;

		if (!OidIsValid(relid))
			continue;
		relkind = get_rel_relkind(relid);
		name = get_rel_name(relid);
		if (name == NULL ||
			(!(relkind == RELKIND_VIEW &&
			   (strcmp(name, "grants") == 0 || strcmp(name, "unlocks") == 0)) &&
			 !(relkind == RELKIND_RELATION && strcmp(name, "orgs") == 0)))
			continue;
		if (!OidIsValid(ext))
			ext = get_extension_oid("credits", true);
		if (!OidIsValid(ext) ||
			getExtensionOfObject(RelationRelationId, relid) != ext)
			continue;
		if (relkind == RELKIND_VIEW)
			report_protected(name, PROTECT_TRUNCATE);

		/*
		 * credits.orgs, for a role that may truncate it, read with the
		 * rights of the table's owner, as its trigger reads
		 */
		if (pg_class_aclcheck(relid, GetUserId(), ACL_TRUNCATE) == ACLCHECK_OK)
			check_orgs_truncate(relid);
	}
}

static void
credits_process_utility(PlannedStmt *pstmt, const char *queryString,
						bool readOnlyTree, ProcessUtilityContext context,
						ParamListInfo params, QueryEnvironment *queryEnv,
						DestReceiver *dest, QueryCompletion *qc)
{
	if (IsA(pstmt->utilityStmt, TruncateStmt))
		check_truncate((TruncateStmt *) pstmt->utilityStmt);
	if (prev_process_utility)
		prev_process_utility(pstmt, queryString, readOnlyTree, context,
							 params, queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);
}

static ExecutorStart_hook_type prev_executor_start = NULL;

/* Whether plan is an INSERT ... ON CONFLICT DO UPDATE into unlock_rows */
static bool
updates_unlock_rows(Plan *plan, List *rtable)
{
	ModifyTable *mt;
	ListCell   *lc;

	if (plan == NULL || !IsA(plan, ModifyTable))
		return false;
	mt = (ModifyTable *) plan;
	if (mt->operation != CMD_INSERT || mt->onConflictAction != ONCONFLICT_UPDATE)
		return false;
	foreach(lc, mt->resultRelations)
	{
		RangeTblEntry *rte = rt_fetch(lfirst_int(lc), rtable);
		char	   *name = get_rel_name(rte->relid);
		Oid			nsp = get_rel_namespace(rte->relid);

		if (name != NULL && strcmp(name, "unlock_rows") == 0 &&
			nsp == get_namespace_oid("credits", true))
			return true;
	}
	return false;
}

/*
 * INSERT INTO credits.unlocks ... ON CONFLICT DO UPDATE is refused before
 * any row (SPEC: ZC006).  The BEFORE UPDATE trigger refuses only rows
 * that conflict, and a row trigger cannot see the clause, so the rows
 * that do not would be charged.  A session that has not loaded the
 * library has no hook yet: there only the conflicting rows are refused.
 */
static void
credits_executor_start(QueryDesc *queryDesc, int eflags)
{
	PlannedStmt *stmt = queryDesc->plannedstmt;

	if ((eflags & EXEC_FLAG_EXPLAIN_ONLY) == 0 &&
		(stmt->commandType == CMD_INSERT || stmt->hasModifyingCTE))
	{
		ListCell   *lc;

		if (updates_unlock_rows(stmt->planTree, stmt->rtable))
			report_protected("unlocks", PROTECT_UPDATE);
		foreach(lc, stmt->subplans)
		{
			if (updates_unlock_rows(lfirst(lc), stmt->rtable))
				report_protected("unlocks", PROTECT_UPDATE);
		}
	}
	if (prev_executor_start)
		prev_executor_start(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);
}

/*
 * The depth of statements whose end (ExecutorFinish, where their AFTER
 * triggers fire) is running: signals of charges made by row triggers wait
 * for it (org_signal_at_statement_end).
 */
static ExecutorFinish_hook_type prev_executor_finish = NULL;
static int	statement_depth = 0;

int
credits_statement_depth(void)
{
	return statement_depth;
}

static void
credits_executor_finish(QueryDesc *queryDesc)
{
	statement_depth++;
	PG_TRY();
	{
		if (prev_executor_finish)
			prev_executor_finish(queryDesc);
		else
			standard_ExecutorFinish(queryDesc);
		org_send_statement_signals(statement_depth);
	}
	PG_CATCH();
	{
		org_drop_statement_signals(statement_depth);
		statement_depth--;
		PG_RE_THROW();
	}
	PG_END_TRY();
	statement_depth--;
}

void
credits_triggers_init(void)
{
	prev_executor_finish = ExecutorFinish_hook;
	ExecutorFinish_hook = credits_executor_finish;
	prev_process_utility = ProcessUtility_hook;
	ProcessUtility_hook = credits_process_utility;
	prev_executor_start = ExecutorStart_hook;
	ExecutorStart_hook = credits_executor_start;
}

/* ---------------------------------------------------------------------
 * credits.orgs
 * ---------------------------------------------------------------------
 */

static void
check_org_row(TriggerData *td, HeapTuple tuple)
{
	bool		isnull;
	Datum		d;

	d = attr(td, tuple, "org", &isnull);
	credits_check_key(d, isnull, "organization");
	(void) attr(td, tuple, "cycle", &isnull);
	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("cycle cannot be null"),
				 errdetail("Every organization has a billing cycle."),
				 errhint("Give the organization its billing cycle, for example credits.cycle_from(now(), '1 month').")));
	d = attr(td, tuple, "plan_credits", &isnull);
	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("plan_credits cannot be null"),
				 errdetail("plan_credits is the number of credits each plan period grants."),
				 errhint("Use 0 for an organization without a plan.")));
	if (!isnull)
	{
		int64		v = DatumGetInt64(d);

		if (v < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("plan_credits cannot be negative"),
					 errdetail("plan_credits is " INT64_FORMAT ".", v),
					 errhint("Use 0 for an organization without a plan.")));
		if (v > CREDITS_AMOUNT_MAX)
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("plan_credits is out of range"),
					 errdetail("plan_credits is " INT64_FORMAT "; at most " INT64_FORMAT " credits are allowed per period.",
							   v, CREDITS_AMOUNT_MAX),
					 errhint("Grant more with credits.grant_one_time() or credits.adjust().")));
	}
	d = attr(td, tuple, "low_balance_threshold", &isnull);
	if (!isnull && DatumGetInt64(d) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("low_balance_threshold cannot be negative"),
				 errdetail("low_balance_threshold is " INT64_FORMAT ".", DatumGetInt64(d)),
				 errhint("Set it to NULL to turn the low-balance signal off.")));
}

/*
 * Whether the statement running is a COPY into rel: it loads stored rows
 * (pg_restore loads credits.orgs so), not new orgs
 */
static bool
copy_into(Relation rel)
{
	PlannedStmt *stmt;
	CopyStmt   *copy;

	if (ActivePortal == NULL || ActivePortal->commandTag != CMDTAG_COPY ||
		list_length(ActivePortal->stmts) != 1)
		return false;
	stmt = linitial_node(PlannedStmt, ActivePortal->stmts);
	if (stmt->utilityStmt == NULL || !IsA(stmt->utilityStmt, CopyStmt))
		return false;
	copy = (CopyStmt *) stmt->utilityStmt;
	return copy->is_from && copy->relation != NULL &&
		RangeVarGetRelid(copy->relation, NoLock, true) == RelationGetRelid(rel);
}

/* BEFORE INSERT OR UPDATE OR DELETE ON credits.orgs, FOR EACH ROW */
PG_FUNCTION_INFO_V1(credits_orgs_before);
Datum
credits_orgs_before(PG_FUNCTION_ARGS)
{
	TriggerData *td = trigger_data(fcinfo, "credits_orgs_before");
	bool		isnull;
	Datum		org;
	Datum		args[1];

	if (TRIGGER_FIRED_BY_INSERT(td->tg_event))
	{
		/* an INSERT writes nothing else: plan grants come lazily */
		check_org_row(td, td->tg_trigtuple);
		credits_require_clock_writes();
		return PointerGetDatum(td->tg_trigtuple);
	}

	org = attr(td, td->tg_trigtuple, "org", &isnull);
	if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
	{
		if (text_changed(td, "org"))
			report_history("cannot change the key of an organization",
						   "Its history is recorded under the key it has.",
						   "Create a new organization instead.");
		check_org_row(td, td->tg_newtuple);
		credits_require_clock_writes();
		credits_begin();
		org_lock(org, false);
		org_begin_change(org, &td->tg_trigtuple->t_self);
		credits_end();
		return PointerGetDatum(td->tg_newtuple);
	}

	/* DELETE: only without history; its internal rows go with it */
	credits_require_clock_writes();
	credits_begin();
	org_lock(org, false);
	args[0] = org;
	credits_run(&q_has_history, args, NULL, false, 1);
	if (DatumGetBool(credits_get_notnull(0, 1)))
		report_history(psprintf("cannot delete organization \"%s\"",
								TextDatumGetCString(org)),
					   "The organization has credits history, which is kept.",
					   "Freeze the organization, or give its cycle a period count to end its contract.");
	credits_run(&q_forget_org, args, NULL, false, 0);
	org_forget(TextDatumGetCString(org));
	credits_end();
	return PointerGetDatum(td->tg_trigtuple);
}

/* BEFORE TRUNCATE ON credits.orgs */
PG_FUNCTION_INFO_V1(credits_orgs_truncate);
Datum
credits_orgs_truncate(PG_FUNCTION_ARGS)
{
	trigger_data(fcinfo, "credits_orgs_truncate");
	credits_require_clock_writes();
	credits_begin();
	credits_run(&q_any_history, NULL, NULL, false, 1);
	if (DatumGetBool(credits_get_notnull(0, 1)))
		report_history("cannot truncate credits.orgs",
					   "Organizations have credits history, which is kept.",
					   "Freeze organizations, or end their contracts, instead.");
	credits_run(&q_forget_all, NULL, NULL, false, 0);
	credits_end();
	org_forget_all();
	org_end_all_changes();
	return PointerGetDatum(NULL);
}

/*
 * BEFORE TRUNCATE ON credits.members, FOR EACH STATEMENT: members cached
 * by this transaction are gone.
 */
PG_FUNCTION_INFO_V1(credits_members_truncate);
Datum
credits_members_truncate(PG_FUNCTION_ARGS)
{
	trigger_data(fcinfo, "credits_members_truncate");
	credits_check_not_nested();
	credits_require_clock_writes();
	org_forget_all();
	return PointerGetDatum(NULL);
}

/*
 * Plan credits changed from old to new at now.  Upgrades above the
 * current period's entitlement top up its plan grant at once; everything
 * else applies from the next period start.  restarted: the plan restarted
 * in this UPDATE, and the new value is simply its first entitlement.
 */
static void
plan_changed(OrgEntry *o, Datum org, int64 old_value, int64 new_value,
			 TimestampTz now, bool restarted)
{
	Datum		args[3];
	TimestampTz start;
	TimestampTz end;

	/* history starts with the value in force before any change */
	args[0] = org;
	credits_run(&q_history_count, args, NULL, false, 1);
	if (DatumGetInt64(credits_get_notnull(0, 1)) == 0)
	{
		args[1] = TimestampTzGetDatum(DT_NOBEGIN);
		args[2] = Int64GetDatum(old_value);
		credits_run(&q_history_add, args, NULL, false, 0);
	}

	if (!restarted && org_plan_period(&o->info, now, &start, &end))
	{
		int64		at_start;
		int64		entitlement;

		/* o->info still has the old plan_credits: values before this change */
		org_plan_values(org, &o->info, true, start, now, &at_start,
						&entitlement);

		/*
		 * Never below what the period was granted: the two agree for every
		 * history 1.1 writes, but one written by 1.0 may read lower.
		 */
		org_load_grants(o, now);
		{
			GrantSlot  *pg = org_find_plan_grant(o, start);

			if (pg != NULL && pg->amount > entitlement)
				entitlement = pg->amount;
		}
		if (new_value > entitlement)
		{
			int64		delta = new_value - entitlement;
			GrantSlot  *g;
			Datum		targs[2];

			org_check_total(o, now, delta);
			g = org_ensure_plan_grant(o, now);
			if (g == NULL)
			{
				/* a period that started with no plan credits: its grant */
				if (org_add_grant(o, "plan", delta, start, end, (Datum) 0,
								  true, now, now,
								  CStringGetTextDatum("plan upgrade"),
								  false) == NULL)
					elog(ERROR, "plan grant collided although the org is locked");
			}
			else
			{
				targs[0] = Int64GetDatum(g->id);
				targs[1] = Int64GetDatum(delta);
				credits_allow_protected_writes(true);
				credits_run(&q_top_up, targs, NULL, false, 0);
				credits_allow_protected_writes(false);
				ledger_append(org, 0, now, LEDGER_GRANT, delta, g->id,
							  (Datum) 0, true, (Datum) 0, true,
							  (Datum) 0, true,
							  CStringGetTextDatum("plan upgrade"), false);
			}
		}
	}

	/*
	 * With a plan restart the new value is the first entitlement of the
	 * period cut to start now: the caller then records the history up to
	 * this row as in force at the cut.
	 */
	args[1] = TimestampTzGetDatum(now);
	args[2] = Int64GetDatum(new_value);
	credits_run(&q_history_add, args, NULL, false, 0);
}

/*
 * The cycle changed at now.  If the plan and usage periods at now are
 * the same ranges as before, nothing else happens; otherwise the plan
 * restarts: the current plan grant ends now (its credits expire) and the
 * new cycle's periods are cut to start now.  Returns true on a restart.
 */
static bool
cycle_changed(OrgEntry *o, Datum org, Cycle *new_cycle, TimestampTz now)
{
	OrgInfo		new_info = o->info;
	TimestampTz ps_old = 0,
				pe_old = 0,
				ps_new = 0,
				pe_new = 0;
	TimestampTz us_old,
				ue_old,
				us_new,
				ue_new;
	bool		p_old;
	bool		p_new;
	Datum		args[2];

	new_info.cycle = new_cycle;
	p_old = org_plan_period(&o->info, now, &ps_old, &pe_old);
	p_new = org_plan_period(&new_info, now, &ps_new, &pe_new);
	org_usage_period(&o->info, now, &us_old, &ue_old);
	org_usage_period(&new_info, now, &us_new, &ue_new);
	if (p_old == p_new && (!p_old || (ps_old == ps_new && pe_old == pe_new)) &&
		us_old == us_new && ue_old == ue_new)
		return false;

	if (p_old)
	{
		GrantSlot  *g;

		org_load_grants(o, now);
		g = org_find_plan_grant(o, ps_old);
		if (g != NULL)
		{
			int64		left = g->remaining;
			Datum		gargs[2];

			gargs[0] = Int64GetDatum(g->id);
			gargs[1] = TimestampTzGetDatum(now);
			credits_allow_protected_writes(true);
			credits_run(&q_end_grant, gargs, NULL, false, 0);
			credits_allow_protected_writes(false);
			if (left > 0)
				ledger_append(org, 0, now, LEDGER_EXPIRE, -left, g->id,
							  (Datum) 0, true, (Datum) 0, true,
							  (Datum) 0, true,
							  CStringGetTextDatum("cycle change"), false);
		}
	}
	args[0] = org;
	args[1] = TimestampTzGetDatum(now);
	credits_run(&q_set_cut, args, NULL, false, 0);
	credits_allow_protected_writes(true);
	credits_run(&q_move_cut_usage, args, NULL, false, 0);
	credits_allow_protected_writes(false);
	return true;
}

/*
 * The low-balance signal of a new org (SPEC section 6a: the INSERT of an
 * org is an operation too), from its AFTER INSERT trigger, so only for a
 * row that went in, with its final values.  The INSERT writes nothing else
 * (SPEC section 3): the org's first state row, made at its first lock,
 * starts disarmed by the same rule (org_signalled_at_creation), even when
 * a write of the same statement (a WITH query) makes it before this runs.
 * Rows a COPY into credits.orgs loads are stored rows, as a restore loads
 * them: not evaluated.
 */
static void
org_inserted(TriggerData *td)
{
	HeapTuple	row = td->tg_trigtuple;
	bool		isnull;
	Datum		threshold;
	OrgInfo		info;
	int64		left;

	threshold = attr(td, row, "low_balance_threshold", &isnull);
	if (isnull || copy_into(td->tg_relation))
		return;
	memset(&info, 0, sizeof(info));
	info.cycle = DatumGetCycleP(attr(td, row, "cycle", &isnull));
	info.plan_credits = DatumGetInt64(attr(td, row, "plan_credits", &isnull));
	info.cycle_cut = DT_NOBEGIN;
	info.cut_seq = -1;
	left = org_new_spendable(&info, credits_now());
	if (left <= DatumGetInt64(threshold))
		org_notify_low_balance(TextDatumGetCString(attr(td, row, "org", &isnull)),
							   left, DatumGetInt64(threshold));
}

/*
 * AFTER UPDATE ON credits.orgs, FOR EACH ROW; and AFTER INSERT of an org
 * with a low-balance threshold (since 1.1)
 */
PG_FUNCTION_INFO_V1(credits_orgs_after);
Datum
credits_orgs_after(PG_FUNCTION_ARGS)
{
	TriggerData *td = trigger_data(fcinfo, "credits_orgs_after");
	bool		isnull;
	bool		n1;
	bool		n2;
	Datum		org;
	Cycle	   *old_cycle;
	Cycle	   *new_cycle;
	int64		old_plan;
	int64		new_plan;
	Datum		t1;
	Datum		t2;
	OrgEntry   *o;
	TimestampTz now = credits_now();
	TimestampTz at;
	bool		restarted = false;
	Datum		args[2];
	Cycle	   *cached_cycle;
	int64		cached_plan;

	if (TRIGGER_FIRED_BY_INSERT(td->tg_event))
	{
		org_inserted(td);
		return PointerGetDatum(NULL);
	}

	org = attr(td, td->tg_newtuple, "org", &isnull);
	old_cycle = DatumGetCycleP(attr(td, td->tg_trigtuple, "cycle", &isnull));
	new_cycle = DatumGetCycleP(attr(td, td->tg_newtuple, "cycle", &isnull));
	old_plan = DatumGetInt64(attr(td, td->tg_trigtuple, "plan_credits", &isnull));
	new_plan = DatumGetInt64(attr(td, td->tg_newtuple, "plan_credits", &isnull));
	t1 = attr(td, td->tg_trigtuple, "low_balance_threshold", &n1);
	t2 = attr(td, td->tg_newtuple, "low_balance_threshold", &n2);

	credits_begin();
	org_end_change(org, &td->tg_trigtuple->t_self);
	o = org_lock(org, false);
	args[0] = org;
	args[1] = TimestampTzGetDatum(now);
	credits_run(&q_latest_instant, args, NULL, false, 1);
	at = DatumGetTimestampTz(credits_get_notnull(0, 1));

	/*
	 * The org as it was before the UPDATE comes from the trigger's old row:
	 * the cache may have been emptied since the BEFORE trigger (a long
	 * statement, a rolled-back subtransaction), and the org lock would then
	 * have read the new row
	 */
	cached_cycle = o->info.cycle;
	cached_plan = o->info.plan_credits;
	o->info.cycle = old_cycle;
	o->info.plan_credits = old_plan;
	if (!cycle_equal(old_cycle, new_cycle))
		restarted = cycle_changed(o, org, new_cycle, at);
	if (old_plan != new_plan)
	{
		/* the new value is the first entitlement under the new cycle */
		if (restarted)
			o->info.cycle = new_cycle;
		plan_changed(o, org, old_plan, new_plan, at, restarted);
	}
	o->info.cycle = cached_cycle;
	o->info.plan_credits = cached_plan;
	args[0] = org;
	if (restarted && org_state_has_column("cut_seq"))
		credits_run(&q_set_cut_seq, args, NULL, false, 0);
	if (n1 != n2 || (!n1 && DatumGetInt64(t1) != DatumGetInt64(t2)))
		credits_run(&q_rearm, args, NULL, false, 0);

	/* the org row, state and grants changed outside the cache: re-read */
	org_reload(o);
	org_signal(o, now);
	credits_end();
	return PointerGetDatum(NULL);
}

/* ---------------------------------------------------------------------
 * credits.members
 * ---------------------------------------------------------------------
 */

/* BEFORE INSERT OR UPDATE OR DELETE ON credits.members, FOR EACH ROW */
PG_FUNCTION_INFO_V1(credits_members_before);
Datum
credits_members_before(PG_FUNCTION_ARGS)
{
	TriggerData *td = trigger_data(fcinfo, "credits_members_before");
	HeapTuple	row = TRIGGER_FIRED_BY_UPDATE(td->tg_event) ?
		td->tg_newtuple : td->tg_trigtuple;
	bool		isnull;
	Datum		org = attr(td, td->tg_trigtuple, "org", &isnull);
	Datum		d;

	if (TRIGGER_FIRED_BY_UPDATE(td->tg_event) &&
		(text_changed(td, "org") || text_changed(td, "member")))
		report_history("cannot change the key of a member",
					   "The member's history is recorded under the key it has.",
					   "Deactivate the member and add a new one instead.");
	if (!TRIGGER_FIRED_BY_DELETE(td->tg_event))
	{
		credits_check_key(org, isnull, "organization");
		d = attr(td, row, "member", &isnull);
		credits_check_key(d, isnull, "member");
		d = attr(td, row, "period_limit", &isnull);
		if (!isnull && DatumGetInt64(d) < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("period_limit cannot be negative"),
					 errdetail("period_limit is " INT64_FORMAT ".", DatumGetInt64(d)),
					 errhint("Set it to NULL for no limit.")));
	}
	credits_require_clock_writes();

	credits_begin();
	/* a cascade from a deleted org finds the org gone, which is fine */
	if (!org_lock_for_member(org, attr(td, td->tg_trigtuple, "member", &isnull)) &&
		!TRIGGER_FIRED_BY_DELETE(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_CREDITS_UNKNOWN_ORG),
				 errmsg("organization \"%s\" does not exist", TextDatumGetCString(org)),
				 errdetail("No row of credits.orgs has this key."),
				 errhint("Add the organization to credits.orgs first.")));
	credits_end();
	return PointerGetDatum(row);
}
