/*-------------------------------------------------------------------------
 *
 * org.h
 *	  The org lock, the per-transaction org cache, periods, plan grants,
 *	  debits and the ledger (org.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef CREDITS_ORG_H
#define CREDITS_ORG_H

#include "storage/itemptr.h"
#include "utils/hsearch.h"

#include "credits.h"
#include "rows.h"

/*
 * A bigint column of org_state that came with 1.1, of the row alias a:
 * NULL where the column does not exist (a database still at extension
 * version 1.0)
 */
#define CREDITS_STATE_COLUMN_SQL(a, column) \
	"(to_jsonb(" a ") ->> '" column "')::bigint"
#define CREDITS_CUT_SEQ_SQL(a) CREDITS_STATE_COLUMN_SQL(a, "cut_seq")
#define CREDITS_SPENT_BELOW_SQL(a) CREDITS_STATE_COLUMN_SQL(a, "spent_below")

/* What the periods and plan of an org depend on */
typedef struct OrgInfo
{
	Cycle	   *cycle;
	int64		plan_credits;	/* orgs.plan_credits now */
	TimestampTz cycle_cut;		/* last plan restart; DT_NOBEGIN if none */
	int64		cut_seq;		/* last plan_changes id in force at the cut, or
								 * -1 if not recorded */
	bool		frozen;
	bool		has_threshold;
	int64		threshold;
} OrgInfo;

/* A grant as the spending code sees it */
typedef struct GrantSlot
{
	int64		id;
	char		kind;			/* 'p'lan, 'r'eferral, 'o'ne_time, 'a'djustment */
	int64		amount;
	int64		remaining;
	TimestampTz starts_at;
	TimestampTz expires_at;		/* DT_NOEND: never expires */
	ItemPointerData tid;		/* current version of the row */
} GrantSlot;

/* A member of a locked org, with its usage in one usage period */
typedef struct MemberSlot
{
	char		member[CREDITS_KEY_MAXLEN + 1];	/* hash key */
	bool		exists;
	bool		active;
	bool		has_limit;
	int64		period_limit;
	bool		usage_loaded;
	TimestampTz usage_start;	/* usage period that "used" counts */
	int64		used;
	bool		usage_row;		/* the usage row exists */
	ItemPointerData usage_tid;
} MemberSlot;

/*
 * An org whose lock this transaction holds.  While the lock is held nobody
 * else can change the org's rows, so they are cached here for the rest of
 * the transaction and updated through their ctid: repeated updates in one
 * transaction then never walk the growing chain of row versions.
 */
typedef struct OrgEntry
{
	char		org[CREDITS_KEY_MAXLEN + 1];	/* hash key */
	OrgInfo		info;
	bool		armed;
	bool		grants_loaded;
	TimestampTz grants_clock;	/* the clock when the grants were loaded */
	int64		spent_below;	/* org_state.spent_below, -1 if no such
								 * column (1.0) */
	int			ngrants;
	int			maxgrants;
	GrantSlot  *grants;			/* in consumption order */
	TimestampTz uncreated_start;	/* plan period whose value is cached */
	int64		uncreated_amount;
	/* members looked up: a few in an array, more in a hash table */
	int			nfew;
	MemberSlot **few;
	HTAB	   *many;
} OrgEntry;

/* Kinds of ledger entries */
#define LEDGER_GRANT	"grant"
#define LEDGER_DEBIT	"debit"
#define LEDGER_REFUND	"refund"
#define LEDGER_EXPIRE	"expire"
#define LEDGER_ADJUST	"adjust"

extern void credits_org_init(void);
extern void credits_begin(void);
extern void credits_begin_nested(void);
extern void credits_check_not_nested(void);
extern void credits_end(void);
extern void credits_triggers_init(void);
extern void credits_signal_init(void);
extern void credits_allow_protected_writes(bool allow);
extern bool credits_protected_writes_allowed(void);
extern bool credits_in_operation(void);

typedef enum OrgLockMode
{
	ORG_LOCK_WAIT,
	ORG_LOCK_SKIP,
	ORG_LOCK_IF_EXISTS
} OrgLockMode;

extern OrgEntry *org_lock(Datum org, bool skip_locked);
extern OrgEntry *org_lock_mode(Datum org, OrgLockMode mode);
extern bool org_lock_for_member(Datum org, Datum member);
extern void org_forget_all(void);
extern void org_forget(const char *org);
extern void org_forget_key(Datum org);
extern void org_reload(OrgEntry *o);
extern TimestampTz org_clock(OrgEntry *o);
extern bool org_clock_ok(OrgEntry *o, TimestampTz now);
extern void org_begin_change(Datum org, ItemPointer old_tid);
extern void org_end_change(Datum org, ItemPointer old_tid);
extern void org_end_all_changes(void);
extern void org_read_info(OrgInfo *info, MemoryContext cxt);

extern bool org_plan_period(const OrgInfo *info, TimestampTz t,
							TimestampTz *start, TimestampTz *end);
extern void org_usage_period(const OrgInfo *info, TimestampTz t,
							 TimestampTz *start, TimestampTz *end);
extern void org_plan_values(Datum org, const OrgInfo *info, bool locked,
							TimestampTz period_start, TimestampTz now,
							int64 *at_start, int64 *entitlement);

extern void org_load_grants(OrgEntry *o, TimestampTz now);
extern GrantSlot *org_find_plan_grant(OrgEntry *o, TimestampTz start);
extern GrantSlot *org_find_grant(OrgEntry *o, int64 id, TimestampTz now);
extern void org_invalidate_grants(OrgEntry *o);
extern GrantSlot *org_ensure_plan_grant(OrgEntry *o, TimestampTz now);
extern int64 org_spendable(OrgEntry *o, TimestampTz now);
extern bool grant_spendable(const GrantSlot *g, TimestampTz now);
extern GrantSlot *org_add_grant(OrgEntry *o, const char *kind, int64 amount,
								TimestampTz starts_at, TimestampTz expires_at,
								Datum ref, bool ref_null, TimestampTz now,
								TimestampTz ledger_at, Datum note, bool note_null);
extern void org_change_grant(OrgEntry *o, GrantSlot *g, int64 delta);

extern MemberSlot *org_member(OrgEntry *o, Datum member,
							  TimestampTz usage_start);
extern void org_member_usage(OrgEntry *o, MemberSlot *m, TimestampTz start);
extern void org_member_add_usage(OrgEntry *o, MemberSlot *m, Datum member,
								 int64 delta);

extern int64 ledger_append(Datum org, int64 id, TimestampTz at,
						   const char *kind, int64 amount, int64 grant_id,
						   Datum member, bool member_null,
						   Datum prospect, bool prospect_null,
						   Datum ref, bool ref_null,
						   Datum note, bool note_null);
extern int64 ledger_add(RowBatch *b, Datum org, int64 id,
						TimestampTz at, const char *kind, int64 amount,
						int64 grant_id, Datum member, bool member_null,
						Datum prospect, bool prospect_null,
						Datum ref, bool ref_null,
						Datum note, bool note_null);

extern void org_check_total(OrgEntry *o, TimestampTz now, int64 adding);
/* Who an operation runs as, saved by credits_run_as() */
typedef struct CreditsIdentity
{
	Oid			userid;
	int			sec_context;
	int			nestlevel;
} CreditsIdentity;

extern void credits_run_as(Oid userid, int sec_flags, CreditsIdentity *saved);
extern void credits_run_as_end(const CreditsIdentity *saved);
extern void org_report_no_credits(OrgEntry *o, TimestampTz now,
								  int64 left, int64 needed) pg_attribute_noreturn();
extern TimestampTz timestamptz_or_noend(Datum d, bool isnull);

/* signal.c */
extern void org_signal(OrgEntry *o, TimestampTz now);
extern void org_rearm(OrgEntry *o, TimestampTz now);
extern void org_signal_at_statement_end(OrgEntry *o, TimestampTz now);
extern void org_send_statement_signals(int depth);
extern void org_drop_statement_signals(int depth);
extern void org_notify_low_balance(const char *org, int64 left, int64 threshold);
extern int64 org_new_spendable(const OrgInfo *info, TimestampTz t);
extern bool org_signalled_at_creation(const OrgInfo *info, TimestampTz created_at);

/* triggers.c */
extern int	credits_statement_depth(void);

/* unlock.c */
extern bool unlock_prospect(Datum org, Datum member, bool member_null,
							Datum prospect, bool by_trigger);

#endif							/* CREDITS_ORG_H */
