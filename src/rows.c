/*-------------------------------------------------------------------------
 *
 * rows.c
 *	  Direct access to the extension's own tables where a statement per
 *	  row would cost more than the row: looking rows up by key (the
 *	  stored unlocks, members, usage, grants), appending rows to
 *	  unlock_rows and the ledger, and updating the counters of grant_left
 *	  and usage.
 *
 * Everything here runs under the org's lock (SPEC section 7), so nobody
 * else writes the org's rows meanwhile.  Reads use the transaction
 * snapshot as a statement would (a fresh one at READ COMMITTED), and the
 * access methods take the predicate locks SERIALIZABLE needs.
 *
 * Rows are appended as COPY appends them: heap tuples in batches, then
 * the entries of every index of the table (a unique index still checks
 * its key).  Counters are updated as UPDATE would: the table's
 * constraints checked, index entries added unless the update is HOT.  No
 * statement runs, so triggers and rules on these tables do not fire; the
 * extension's own insert triggers on unlock_rows act only on rows
 * inserted through the view credits.unlocks, which these are not, and
 * its update triggers only refuse changes made outside the extension.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relscan.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/transam.h"
#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_am.h"
#include "catalog/pg_enum.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "commands/sequence.h"
#include "commands/trigger.h"
#include "common/int.h"
#include "executor/executor.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "nodes/execnodes.h"
#include "storage/bufmgr.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "rows.h"

/*
 * Opens one of the extension's tables by name.  (Looked up, then locked:
 * a table dropped in between makes table_open fail, which is an error
 * either way; RangeVarGetRelidExtended would also check the schema's
 * rights on every call, on the hot path.)
 */
Relation
credits_table_open(const char *name, LOCKMODE mode)
{
	Oid			relid = get_relname_relid(name, get_namespace_oid("credits", false));

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("table \"credits.%s\" of the credits extension does not exist", name),
				 errdetail("The extension reads and writes this table directly."),
				 errhint("Give the table its name back.")));
	return table_open(relid, mode);
}

/*
 * What the code relies on in each table, as the extension's scripts
 * create it: the columns by position, with their types (InvalidOid: one
 * of the extension's enums) and, for keys, byte-for-byte collation.
 */
typedef struct ColumnShape
{
	const char *name;
	Oid			type;
	bool		c_collation;
	bool		optional;		/* may be missing, with all after it */
} ColumnShape;

#define KEY(name)			{name, TEXTOID, true, false}
#define COL(name, type)		{name, type, false, false}
#define ENUM(name)			{name, InvalidOid, false, false}
#define LATER(name, type)	{name, type, false, true}
#define END					{NULL, InvalidOid, false, false}

static const ColumnShape unlock_rows_shape[] = {
	KEY("org"), KEY("prospect"), KEY("member"),
	COL("unlocked_at", TIMESTAMPTZOID), COL("usage_start", TIMESTAMPTZOID),
	COL("debit_id", INT8OID), ENUM("via"), END
};
static const ColumnShape ledger_shape[] = {
	COL("id", INT8OID), KEY("org"), COL("at", TIMESTAMPTZOID),
	COL("recorded_at", TIMESTAMPTZOID), COL("actor", TEXTOID), ENUM("kind"),
	COL("amount", INT8OID), COL("grant_id", INT8OID), KEY("member"),
	KEY("prospect"), KEY("ref"), COL("note", TEXTOID), END
};
static const ColumnShape members_shape[] = {
	KEY("org"), KEY("member"), COL("period_limit", INT8OID),
	COL("active", BOOLOID), END
};
static const ColumnShape usage_shape[] = {
	KEY("org"), KEY("member"), COL("period_start", TIMESTAMPTZOID),
	COL("used", INT8OID), END
};
static const ColumnShape grant_rows_shape[] = {
	COL("id", INT8OID), KEY("org"), ENUM("kind"),
	COL("starts_at", TIMESTAMPTZOID), COL("expires_at", TIMESTAMPTZOID),
	KEY("ref"), COL("created_at", TIMESTAMPTZOID), END
};
/* cut_seq and spent_below came with 1.1; the library also serves 1.0's tables */
static const ColumnShape org_state_shape[] = {
	KEY("org"), COL("armed", BOOLOID), COL("cycle_cut", TIMESTAMPTZOID),
	LATER("cut_seq", INT8OID), LATER("spent_below", INT8OID), END
};
static const ColumnShape grant_left_shape[] = {
	COL("grant_id", INT8OID), COL("amount", INT8OID),
	COL("remaining", INT8OID), END
};

/* How rows.c uses a table: what a change to it could make it skip */
typedef enum TableUse
{
	USE_READ = 1,
	USE_INSERT = 2,
	USE_UPDATE = 4
} TableUse;

/*
 * The tables checked since their last relcache invalidation (any ALTER,
 * CREATE INDEX or CREATE TRIGGER sends one), with the uses checked.
 */
#define CHECKED_MAX 16
static Oid	checked_rel[CHECKED_MAX];
static int	checked_uses[CHECKED_MAX];
static int	nchecked = 0;
static bool callback_registered = false;

static void
forget_checked(Datum arg, Oid relid)
{
	for (int i = 0; i < nchecked; i++)
	{
		if (!OidIsValid(relid) || checked_rel[i] == relid)
			checked_uses[i] = 0;
	}
}

static void
table_changed(Relation rel, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("table credits.%s is not as the credits extension created it",
					RelationGetRelationName(rel)),
			 errdetail("%s", detail),
			 errhint("The extension reads and writes its tables below the executor; undo the change.")));
}

/*
 * Refuses (55000) a table changed so that rows.c would read it wrongly or
 * skip something a statement would do: other columns or types, row-level
 * security forced on its owner, rules, or a trigger of someone else's
 * that a write would fire.  Constraints and indexes need no check here:
 * writes check the former and maintain the latter.
 */
static void
check_table(Relation rel, const ColumnShape *shape, TableUse use)
{
	TupleDesc	desc = RelationGetDescr(rel);
	Oid			relid = RelationGetRelid(rel);
	int			slot;
	int			natts = 0;

	for (slot = 0; slot < nchecked; slot++)
	{
		if (checked_rel[slot] == relid)
			break;
	}
	if (slot < nchecked && (checked_uses[slot] & use) == use)
		return;

	/* the extension's columns first, then only columns dropped since */
	for (; natts < desc->natts && shape[natts].name != NULL; natts++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, natts);
		const ColumnShape *c = &shape[natts];

		if (att->attisdropped && c->optional)
			break;
		if (att->attisdropped || strcmp(NameStr(att->attname), c->name) != 0)
			table_changed(rel, "Its columns are not the extension's.");
		if (OidIsValid(c->type) ? att->atttypid != c->type
			: !type_is_enum(att->atttypid))
			table_changed(rel, psprintf("Column \"%s\" has another type.", c->name));
		if (c->c_collation && att->attcollation != C_COLLATION_OID)
			table_changed(rel, psprintf("Column \"%s\" has another collation.", c->name));
	}
	if (shape[natts].name != NULL && !shape[natts].optional)
		table_changed(rel, "Its columns are not the extension's.");
	for (; natts < desc->natts; natts++)
	{
		if (!TupleDescAttr(desc, natts)->attisdropped)
			table_changed(rel, "Its columns are not the extension's.");
	}
	if (rel->rd_rel->relrowsecurity && rel->rd_rel->relforcerowsecurity)
		table_changed(rel, "Row-level security is forced on its owner.");
	if (use != USE_READ && rel->rd_rel->relhasrules)
		table_changed(rel, "It has rules.");
	if (use != USE_READ && rel->trigdesc != NULL)
	{
		Oid			extension = get_extension_oid("credits", false);

		for (int i = 0; i < rel->trigdesc->numtriggers; i++)
		{
			Trigger    *t = &rel->trigdesc->triggers[i];

			/* the extension's own trigger functions: it knows them */
			if (t->tgenabled == TRIGGER_DISABLED ||
				getExtensionOfObject(ProcedureRelationId, t->tgfoid) == extension)
				continue;
			if (((use & USE_INSERT) && TRIGGER_FOR_INSERT(t->tgtype)) ||
				((use & USE_UPDATE) && TRIGGER_FOR_UPDATE(t->tgtype)))
				table_changed(rel, psprintf("Trigger \"%s\" would not fire for the extension's writes.",
											t->tgname));
		}
	}

	if (!callback_registered)
	{
		CacheRegisterRelcacheCallback(forget_checked, (Datum) 0);
		callback_registered = true;
	}
	if (slot == nchecked)
	{
		/* a free place: a table forgotten since (dropped, say), or a new one */
		for (slot = 0; slot < nchecked && checked_uses[slot] != 0; slot++)
			;
		if (slot == CHECKED_MAX)
			return;
		if (slot == nchecked)
			nchecked++;
		checked_rel[slot] = relid;
		checked_uses[slot] = 0;
	}
	checked_uses[slot] |= use;
}

/*
 * Opens table for a use, checked, with the executor state a write needs.
 * (Uniqueness checked at commit, which needs a statement's end, comes
 * with a trigger, which check_table refuses.)  Everything is allocated in
 * the state's memory, freed by FreeExecutorState.
 */
static EState *
open_for_write(const char *table, const ColumnShape *shape, TableUse use,
			   Relation *rel, ResultRelInfo **rri)
{
	EState	   *estate = CreateExecutorState();
	MemoryContext old = MemoryContextSwitchTo(estate->es_query_cxt);

	*rel = credits_table_open(table, RowExclusiveLock);
	check_table(*rel, shape, use);
	/* what INSERT or UPDATE refuses for a published table */
	CheckCmdReplicaIdentity(*rel, use == USE_UPDATE ? CMD_UPDATE : CMD_INSERT);
	*rri = makeNode(ResultRelInfo);
	InitResultRelInfo(*rri, *rel, 0, NULL, 0);
	ExecOpenIndices(*rri, false);
	MemoryContextSwitchTo(old);
	return estate;
}

/* The indexes looked up, their leading columns and equality functions */
typedef struct KeyIndex
{
	const char *table;
	const ColumnShape *shape;
	const char *index;
	int			nkeys;
	AttrNumber	attnums[3];
	Oid			procs[3];
} KeyIndex;

static const KeyIndex key_indexes[] = {
	[KEY_UNLOCK] = {"unlock_rows", unlock_rows_shape, "unlock_rows_pkey", 2,
		{UNLOCK_ROWS_ORG, UNLOCK_ROWS_PROSPECT}, {F_TEXTEQ, F_TEXTEQ}},
	[KEY_MEMBER] = {"members", members_shape, "members_pkey", 2,
		{MEMBERS_ORG, MEMBERS_MEMBER}, {F_TEXTEQ, F_TEXTEQ}},
	[KEY_ORG_MEMBERS] = {"members", members_shape, "members_pkey", 1,
		{MEMBERS_ORG}, {F_TEXTEQ}},
	[KEY_USAGE] = {"usage", usage_shape, "usage_key", 3,
		{USAGE_ORG, USAGE_MEMBER, USAGE_PERIOD_START},
	{F_TEXTEQ, F_TEXTEQ, F_TIMESTAMPTZ_EQ}},
	[KEY_ORG_GRANTS] = {"grant_rows", grant_rows_shape, "grant_rows_org_expiry", 2,
		{GRANT_ROWS_ORG, GRANT_ROWS_EXPIRES_AT}, {F_TEXTEQ, F_TIMESTAMPTZ_GT}},
	[KEY_GRANT_LEFT] = {"grant_left", grant_left_shape, "grant_left_grant", 1,
		{GRANT_LEFT_GRANT_ID}, {F_INT8EQ}},
	[KEY_ORG_STATE] = {"org_state", org_state_shape, "org_state_pkey", 1,
		{ORG_STATE_ORG}, {F_TEXTEQ}},
};

/*
 * The snapshot reads under the org lock use, as a statement would take
 * it: our own earlier writes visible, and at READ COMMITTED everything
 * committed.  Release it with UnregisterSnapshot.
 */
Snapshot
rows_snapshot(void)
{
	CommandCounterIncrement();
	return RegisterSnapshot(GetTransactionSnapshot());
}

/*
 * Starts lookups of rows by key through one index (see KeyLookup), seen
 * in snapshot, or with NULL in a rows_snapshot() of its own.
 */
KeyScan *
keyscan_begin(KeyLookup which, Snapshot snapshot)
{
	const KeyIndex *k = &key_indexes[which];
	KeyScan    *ks = palloc0(sizeof(KeyScan));
	Oid			nsp = get_namespace_oid("credits", false);
	Oid			indexid = get_relname_relid(k->index, nsp);

	ks->heap = credits_table_open(k->table, AccessShareLock);
	check_table(ks->heap, k->shape, USE_READ);
	if (!OidIsValid(indexid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("index \"credits.%s\" of the credits extension does not exist", k->index),
				 errdetail("The extension looks rows of \"credits.%s\" up through this index.",
						   k->table),
				 errhint("Give the index its name back.")));
	ks->index = index_open(indexid, AccessShareLock);
	if (ks->index->rd_index->indrelid != RelationGetRelid(ks->heap) ||
		ks->index->rd_rel->relam != BTREE_AM_OID ||
		!ks->index->rd_index->indisvalid ||
		RelationGetIndexPredicate(ks->index) != NIL ||
		IndexRelationGetNumberOfKeyAttributes(ks->index) < k->nkeys)
		table_changed(ks->heap, psprintf("Index \"%s\" is not the extension's.",
										 k->index));
	for (int i = 0; i < k->nkeys; i++)
	{
		StrategyNumber strategy = k->procs[i] == F_TIMESTAMPTZ_GT ?
			BTGreaterStrategyNumber : BTEqualStrategyNumber;
		Oid			type = TupleDescAttr(RelationGetDescr(ks->heap),
										 k->attnums[i] - 1)->atttypid;
		Oid			op = get_opfamily_member(ks->index->rd_opfamily[i],
											 type, type, strategy);

		/* the key column, compared byte for byte, by the usual operator */
		if (ks->index->rd_index->indkey.values[i] != k->attnums[i] ||
			(k->procs[i] == F_TEXTEQ &&
			 ks->index->rd_indcollation[i] != C_COLLATION_OID) ||
			!OidIsValid(op) || get_opcode(op) != k->procs[i])
			table_changed(ks->heap, psprintf("Index \"%s\" is not the extension's.",
											 k->index));
		/* text columns are COLLATE "C", which ScanKeyInit gives */
		ScanKeyInit(&ks->keys[i], i + 1, strategy, k->procs[i], (Datum) 0);
	}
	ks->nkeys = k->nkeys;

	/*
	 * Since 1.1 the index of an org's grants ends with the grant id, so
	 * that the grants that never expire are read from a given id on (1.0's
	 * index has no such column: they are all read)
	 */
	if (which == KEY_ORG_GRANTS &&
		IndexRelationGetNumberOfKeyAttributes(ks->index) >= 3 &&
		ks->index->rd_index->indkey.values[2] == GRANT_ROWS_ID)
	{
		Oid			op = get_opfamily_member(ks->index->rd_opfamily[2],
											 INT8OID, INT8OID,
											 BTGreaterEqualStrategyNumber);

		if (OidIsValid(op) && get_opcode(op) == F_INT8GE)
		{
			ScanKeyInit(&ks->keys[2], 3, BTGreaterEqualStrategyNumber,
						F_INT8GE, Int64GetDatum(PG_INT64_MIN));
			ks->nkeys = 3;
		}
	}
	if (snapshot == NULL)
		snapshot = ks->own_snapshot = rows_snapshot();
	ks->slot = table_slot_create(ks->heap, NULL);
	ks->scan = index_beginscan(ks->heap, ks->index, snapshot, ks->nkeys, 0);
	return ks;
}

/*
 * The first row whose key columns equal values, or NULL; its columns are
 * read with slot_getattr, its ctid is slot->tts_tid.
 */
TupleTableSlot *
keyscan_first(KeyScan *ks, const Datum *values)
{
	for (int i = 0; i < ks->nkeys; i++)
	{
		Assert(ks->keys[i].sk_strategy == BTEqualStrategyNumber);
		ks->keys[i].sk_argument = values[i];
	}
	index_rescan(ks->scan, ks->keys, ks->nkeys, NULL, 0);
	return keyscan_next(ks);
}

/*
 * The first grant of org (a KEY_ORG_GRANTS scan) that expires after now,
 * or with never_expiring, that never expires and whose id is min_id or
 * more (where the index allows: otherwise all of them); keyscan_next
 * gives the rest.  Expired grants, however many an org collects, are not
 * read, and neither are used-up grants that never expire below min_id.
 */
TupleTableSlot *
keyscan_unexpired(KeyScan *ks, Datum org, TimestampTz now,
				  bool never_expiring, int64 min_id)
{
	Assert(ks->nkeys == 2 || ks->nkeys == 3);
	ks->keys[0].sk_argument = org;
	if (ks->nkeys == 3)
		ks->keys[2].sk_argument = Int64GetDatum(never_expiring ? min_id :
												PG_INT64_MIN);
	if (never_expiring)
		ScanKeyEntryInitialize(&ks->keys[1], SK_ISNULL | SK_SEARCHNULL, 2,
							   InvalidStrategy, InvalidOid, InvalidOid,
							   InvalidOid, (Datum) 0);
	else
		ScanKeyInit(&ks->keys[1], 2, BTGreaterStrategyNumber,
					F_TIMESTAMPTZ_GT, TimestampTzGetDatum(now));
	index_rescan(ks->scan, ks->keys, ks->nkeys, NULL, 0);
	return keyscan_next(ks);
}

/* The next row with the same key, or NULL */
TupleTableSlot *
keyscan_next(KeyScan *ks)
{
	CHECK_FOR_INTERRUPTS();
	if (index_getnext_slot(ks->scan, ForwardScanDirection, ks->slot))
		return ks->slot;
	return NULL;
}

/*
 * Ends a lookup.  The locks on the table and index are kept to commit, as
 * a statement keeps them: what was read stays cached in the org cache, so
 * a rewrite of the table (VACUUM FULL, TRUNCATE) must wait.
 */
void
keyscan_end(KeyScan *ks)
{
	index_endscan(ks->scan);
	ExecDropSingleTupleTableSlot(ks->slot);
	if (ks->own_snapshot != NULL)
		UnregisterSnapshot(ks->own_snapshot);
	index_close(ks->index, NoLock);
	table_close(ks->heap, NoLock);
	pfree(ks);
}

/*
 * Probes of unlock_rows' primary key, all seen in one snapshot taken now,
 * as a statement would take it.  (unlock_many probes its prospects this
 * way: a join of its array with the table would let the planner read all
 * of the org's unlocks instead, a cost that grows with the org.)  End them
 * with keyscan_end.
 */
KeyScan *
unlock_probe_begin(void)
{
	return keyscan_begin(KEY_UNLOCK, NULL);
}

/*
 * Whether an unlock row of prospect for org is visible in the probes'
 * snapshot; settled_only: and no transaction is deleting it (see
 * unlock_settled)
 */
bool
unlock_probe(KeyScan *ks, Datum org, Datum prospect, bool settled_only)
{
	Datum		key[2];
	TupleTableSlot *slot;
	BufferHeapTupleTableSlot *bslot;
	HeapTupleHeader tup;
	uint16		infomask;
	TransactionId xmax;

	key[0] = org;
	key[1] = prospect;
	slot = keyscan_first(ks, key);
	if (slot == NULL)
		return false;
	if (!settled_only)
		return true;
	if (!TTS_IS_BUFFERTUPLE(slot))
		elog(ERROR, "unexpected slot type for credits.unlock_rows");
	bslot = (BufferHeapTupleTableSlot *) slot;
	LockBuffer(bslot->buffer, BUFFER_LOCK_SHARE);
	tup = bslot->base.tuple->t_data;
	infomask = tup->t_infomask;
	xmax = HeapTupleHeaderGetRawXmax(tup);
	LockBuffer(bslot->buffer, BUFFER_LOCK_UNLOCK);
	return (infomask & HEAP_XMAX_INVALID) != 0 ||
		HEAP_XMAX_IS_LOCKED_ONLY(infomask) ||
		((infomask & HEAP_XMAX_IS_MULTI) == 0 &&
		 TransactionIdDidAbort(xmax));
}

/* One probe */
static bool
unlock_lookup(Datum org, Datum prospect, bool settled_only)
{
	KeyScan    *ks = unlock_probe_begin();
	bool		found = unlock_probe(ks, org, prospect, settled_only);

	keyscan_end(ks);
	return found;
}

/* Whether prospect is unlocked for org, as a statement would see it now */
bool
unlock_exists(Datum org, Datum prospect)
{
	return unlock_lookup(org, prospect, false);
}

/*
 * Whether prospect is unlocked for org by a row that no transaction is
 * deleting: one a refund in progress is deleting (or one committed after
 * this statement's snapshot deleted) does not count, since whether a
 * prospect is unlocked is decided under the org lock, which that refund
 * holds.  A row only locked (SELECT ... FOR SHARE) counts.
 */
bool
unlock_settled(Datum org, Datum prospect)
{
	return unlock_lookup(org, prospect, true);
}

/* ---------------------------------------------------------------------
 * Appending rows
 * ---------------------------------------------------------------------
 */

/* Opens table for appending up to batch_size rows at a time */
static RowBatch *
rows_begin(const char *table, const ColumnShape *shape, int batch_size)
{
	Relation	rel;
	ResultRelInfo *rri;
	EState	   *estate = open_for_write(table, shape, USE_INSERT, &rel, &rri);
	RowBatch   *b = MemoryContextAllocZero(estate->es_query_cxt, sizeof(RowBatch));

	b->rel = rel;
	b->rri = rri;
	b->estate = estate;
	b->size = Max(batch_size, 1);
	b->slots = MemoryContextAllocZero(estate->es_query_cxt,
									  sizeof(TupleTableSlot *) * b->size);
	b->cid = GetCurrentCommandId(true);
	return b;
}

RowBatch *
unlock_rows_begin(int batch_size)
{
	return rows_begin("unlock_rows", unlock_rows_shape, batch_size);
}

RowBatch *
ledger_begin(int batch_size)
{
	return rows_begin("ledger", ledger_shape, batch_size);
}

/*
 * The slot for the next row: fill tts_values and tts_isnull for every
 * column, then call rows_add.
 */
TupleTableSlot *
rows_slot(RowBatch *b)
{
	TupleTableSlot *slot;

	if (b->slots[b->n] == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(b->estate->es_query_cxt);

		b->slots[b->n] = table_slot_create(b->rel, NULL);
		MemoryContextSwitchTo(old);
	}
	slot = b->slots[b->n];
	ExecClearTuple(slot);
	/* columns dropped since the extension created the table stay NULL */
	memset(slot->tts_isnull, true,
		   sizeof(bool) * slot->tts_tupleDescriptor->natts);
	return slot;
}

/* Writes the rows collected so far: heap tuples, then index entries */
static void
rows_flush(RowBatch *b)
{
	MemoryContext old;

	if (b->n == 0)
		return;
	/* its work space (toasted copies, say) goes with the next reset */
	old = MemoryContextSwitchTo(GetPerTupleMemoryContext(b->estate));
	table_multi_insert(b->rel, b->slots, b->n, b->cid, 0, NULL);
	MemoryContextSwitchTo(old);
	for (int i = 0; i < b->n; i++)
	{
		/* no deferred checks: check_table refuses their triggers */
		list_free(ExecInsertIndexTuples(b->rri, b->slots[i], b->estate,
										false, false, NULL, NIL));
		ResetPerTupleExprContext(b->estate);
		ExecClearTuple(b->slots[i]);
	}
	b->n = 0;
}

/* Adds the row filled in rows_slot's slot, checking the constraints */
void
rows_add(RowBatch *b)
{
	ExecStoreVirtualTuple(b->slots[b->n]);
	if (RelationGetDescr(b->rel)->constr != NULL)
	{
		ExecConstraints(b->rri, b->slots[b->n], b->estate);
		ResetPerTupleExprContext(b->estate);
	}
	if (++b->n == b->size)
		rows_flush(b);
}

/* Writes what is left and closes the table (its lock is kept) */
void
rows_end(RowBatch *b)
{
	Relation	rel = b->rel;

	rows_flush(b);
	for (int i = 0; i < b->size; i++)
	{
		if (b->slots[i] != NULL)
			ExecDropSingleTupleTableSlot(b->slots[i]);
	}
	ExecCloseIndices(b->rri);
	FreeExecutorState(b->estate);	/* b too */
	table_close(rel, NoLock);
}

/*
 * The value of enum label in the type of column attnum of b's table; the
 * batch remembers the last one asked for.
 */
Datum
rows_enum(RowBatch *b, int attnum, const char *label)
{
	Oid			typid;
	Oid			value;

	if (b->enum_label == label && b->enum_attnum == attnum)
		return b->enum_value;
	typid = TupleDescAttr(RelationGetDescr(b->rel), attnum - 1)->atttypid;
	value = GetSysCacheOid2(ENUMTYPOIDNAME, Anum_pg_enum_oid,
							ObjectIdGetDatum(typid), CStringGetDatum(label));
	if (!OidIsValid(value))
		elog(ERROR, "\"%s\" is not a value of the type of column %d of credits.%s",
			 label, attnum, RelationGetRelationName(b->rel));
	b->enum_label = label;
	b->enum_attnum = attnum;
	b->enum_value = ObjectIdGetDatum(value);
	return b->enum_value;
}

/* The sequence of the ledger's ids */
Oid
ledger_id_seq(void)
{
	Oid			nsp = get_namespace_oid("credits", false);
	Oid			seq = get_relname_relid("ledger_id_seq", nsp);

	if (!OidIsValid(seq))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("sequence \"credits.ledger_id_seq\" of the credits extension does not exist"),
				 errdetail("Ledger ids come from this sequence."),
				 errhint("Give the sequence its name back.")));
	return seq;
}

/* A new ledger id, as the ledger's identity column would give */
int64
ledger_next_id(void)
{
	return nextval_internal(ledger_id_seq(), false);
}

/* ---------------------------------------------------------------------
 * Updating counters
 * ---------------------------------------------------------------------
 */

/*
 * Starts an update of one row of grant_left, usage or org_state
 * (KEY_GRANT_LEFT, KEY_USAGE, KEY_ORG_STATE), below the executor.  The
 * caller holds the org's lock (or is taking it: org_state_touch).
 */
RowUpdate *
rows_update_begin(KeyLookup which)
{
	const KeyIndex *k = &key_indexes[which];
	Relation	rel;
	ResultRelInfo *rri;
	EState	   *estate = open_for_write(k->table, k->shape, USE_UPDATE, &rel, &rri);
	MemoryContext old = MemoryContextSwitchTo(estate->es_query_cxt);
	RowUpdate  *ru = palloc0(sizeof(RowUpdate));

	Assert(which == KEY_GRANT_LEFT || which == KEY_USAGE ||
		   which == KEY_ORG_STATE);
	ru->rel = rel;
	ru->rri = rri;
	ru->estate = estate;
	ru->snapshot = rows_snapshot();
	ru->oldslot = table_slot_create(rel, NULL);
	ru->newslot = table_slot_create(rel, NULL);
	MemoryContextSwitchTo(old);
	return ru;
}

/*
 * The row at *tid, if it is the version this transaction sees (else NULL:
 * the caller finds the row by its key instead).  Its columns are read
 * with slot_getattr.
 */
TupleTableSlot *
rows_update_fetch(RowUpdate *ru, ItemPointer tid)
{
	if (!ItemPointerIsValid(tid) ||
		!table_tuple_fetch_row_version(ru->rel, tid, ru->snapshot, ru->oldslot))
		return NULL;
	slot_getallattrs(ru->oldslot);
	return ru->oldslot;
}

/* Stores a copy of row's columns in ru->newslot, to be changed and written */
static void
copy_to_new(RowUpdate *ru, TupleTableSlot *row)
{
	int			natts = RelationGetDescr(ru->rel)->natts;

	slot_getallattrs(row);
	ExecClearTuple(ru->newslot);
	memcpy(ru->newslot->tts_values, row->tts_values, sizeof(Datum) * natts);
	memcpy(ru->newslot->tts_isnull, row->tts_isnull, sizeof(bool) * natts);
}

/*
 * Writes ru->newslot as the new version of the row at *tid, as UPDATE
 * would: the table's constraints checked, index entries added unless the
 * update is HOT.  On success *tid is the new version.
 */
static TM_Result
write_version(RowUpdate *ru, ItemPointer tid)
{
	TM_FailureData tmfd;
	LockTupleMode lockmode;
	bool		update_indexes;
	TM_Result	result;

	if (RelationGetDescr(ru->rel)->constr != NULL)
		ExecConstraints(ru->rri, ru->newslot, ru->estate);
	result = table_tuple_update(ru->rel, tid, ru->newslot,
								GetCurrentCommandId(true), ru->snapshot,
								InvalidSnapshot, true, &tmfd, &lockmode,
								&update_indexes);
	if (result == TM_Ok)
	{
		if (update_indexes)
			list_free(ExecInsertIndexTuples(ru->rri, ru->newslot, ru->estate,
											true, false, NULL, NIL));
		*tid = ru->newslot->tts_tid;
	}
	ResetPerTupleExprContext(ru->estate);
	return result;
}

/*
 * Adds delta to bigint column attnum of the fetched row, as UPDATE would:
 * the table's constraints checked, index entries added unless the update
 * is HOT.  Returns false, changing nothing, if a concurrent transaction
 * changed the row (the caller then updates it with a statement).  On
 * success the new version's ctid is in *tid and its value in *value.
 */
bool
rows_update_add(RowUpdate *ru, ItemPointer tid, int attnum, int64 delta,
				int64 *value)
{
	int64		sum;

	Assert(!TTS_EMPTY(ru->oldslot));
	if (pg_add_s64_overflow(DatumGetInt64(ru->oldslot->tts_values[attnum - 1]),
							delta, &sum))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("bigint out of range"),
				 errdetail("Adding " INT64_FORMAT " to a counter of \"%s\" overflows.",
						   delta, RelationGetRelationName(ru->rel)),
				 errhint("Run credits.verify() to look for damage.")));

	copy_to_new(ru, ru->oldslot);
	ru->newslot->tts_values[attnum - 1] = Int64GetDatum(sum);
	ru->newslot->tts_isnull[attnum - 1] = false;
	ExecStoreVirtualTuple(ru->newslot);
	if (write_version(ru, tid) != TM_Ok)
		return false;
	*value = sum;
	return true;
}

void
rows_update_end(RowUpdate *ru)
{
	Relation	rel = ru->rel;

	ExecDropSingleTupleTableSlot(ru->oldslot);
	ExecDropSingleTupleTableSlot(ru->newslot);
	UnregisterSnapshot(ru->snapshot);
	ExecCloseIndices(ru->rri);
	FreeExecutorState(ru->estate);	/* ru too */
	table_close(rel, NoLock);
}

/* Whether a table has a column that came later (org_state's, since 1.1) */
static bool
has_column(TupleDesc desc, AttrNumber attnum)
{
	return desc->natts >= attnum && !TupleDescAttr(desc, attnum - 1)->attisdropped;
}

/*
 * The second half of the org lock (SPEC section 7): writes the org's
 * state row without changing it, now that the orgs row is locked, and
 * reads it.  At REPEATABLE READ and SERIALIZABLE a row that a concurrent
 * transaction wrote after the snapshot raises 40001, as UPDATE would.
 * Returns false if the org has no state row yet, or if (at READ
 * COMMITTED) the row changed under us; the caller then writes it with a
 * statement.  cut_seq is -1 where the table lacks the column (1.0), and
 * so is spent_below (0 where the row has none yet).
 */
bool
org_state_touch(Datum org, bool *armed, TimestampTz *cycle_cut,
				int64 *cut_seq, int64 *spent_below)
{
	RowUpdate  *ru = rows_update_begin(KEY_ORG_STATE);
	KeyScan    *ks = keyscan_begin(KEY_ORG_STATE, ru->snapshot);
	TupleTableSlot *row = keyscan_first(ks, &org);
	TupleDesc	desc = RelationGetDescr(ru->rel);
	ItemPointerData tid;
	TM_Result	result = TM_Invisible;

	if (row != NULL)
	{
		tid = row->tts_tid;
		copy_to_new(ru, row);
		ExecStoreVirtualTuple(ru->newslot);
		result = write_version(ru, &tid);
		if ((result == TM_Updated || result == TM_Deleted) &&
			IsolationUsesXactSnapshot())
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("could not serialize access due to concurrent update"),
					 errdetail("Another transaction changed the organization after this one began."),
					 errhint("Retry the transaction.")));
	}
	if (result == TM_Ok)
	{
		Datum	   *values = ru->newslot->tts_values;
		bool	   *nulls = ru->newslot->tts_isnull;

		*armed = DatumGetBool(values[ORG_STATE_ARMED - 1]);
		*cycle_cut = nulls[ORG_STATE_CYCLE_CUT - 1] ? DT_NOBEGIN :
			DatumGetTimestampTz(values[ORG_STATE_CYCLE_CUT - 1]);
		*cut_seq = (!has_column(desc, ORG_STATE_CUT_SEQ) ||
					nulls[ORG_STATE_CUT_SEQ - 1]) ? -1 :
			DatumGetInt64(values[ORG_STATE_CUT_SEQ - 1]);
		if (!has_column(desc, ORG_STATE_SPENT_BELOW))
			*spent_below = -1;
		else
			*spent_below = nulls[ORG_STATE_SPENT_BELOW - 1] ? 0 :
				DatumGetInt64(values[ORG_STATE_SPENT_BELOW - 1]);
	}
	keyscan_end(ks);
	rows_update_end(ru);
	return result == TM_Ok;
}

/*
 * Whether org_state has a column that came with 1.1 (cut_seq,
 * spent_below): this library also serves 1.0's table
 */
bool
org_state_has_column(const char *name)
{
	Oid			nsp = get_namespace_oid("credits", false);
	Oid			rel = get_relname_relid("org_state", nsp);

	return OidIsValid(rel) && get_attnum(rel, name) != InvalidAttrNumber;
}

/* The ctids of org's members rows seen in snapshot, in index order */
static List *
member_versions(Datum org, Snapshot snapshot)
{
	KeyScan    *ks = keyscan_begin(KEY_ORG_MEMBERS, snapshot);
	List	   *tids = NIL;

	for (TupleTableSlot *row = keyscan_first(ks, &org); row != NULL;
		 row = keyscan_next(ks))
	{
		ItemPointer tid = palloc(sizeof(ItemPointerData));

		*tid = row->tts_tid;
		tids = lappend(tids, tid);
	}
	keyscan_end(ks);
	return tids;
}

/*
 * Whether a member of org was added, changed or deleted by a transaction
 * that committed after this transaction's snapshot: the org lock of a
 * member change writes nothing for an org that has no state row yet, so
 * the first lock of such an org at REPEATABLE READ or SERIALIZABLE asks
 * this instead.
 */
bool
org_members_changed(Datum org)
{
	Snapshot	mine = rows_snapshot();
	Snapshot	latest = RegisterSnapshot(GetLatestSnapshot());
	List	   *a = member_versions(org, mine);
	List	   *b = member_versions(org, latest);
	bool		changed = list_length(a) != list_length(b);

	for (int i = 0; !changed && i < list_length(a); i++)
		changed = !ItemPointerEquals(list_nth(a, i), list_nth(b, i));
	list_free_deep(a);
	list_free_deep(b);
	UnregisterSnapshot(latest);
	UnregisterSnapshot(mine);
	return changed;
}

/*
 * Whether org has a state row committed now, whatever this transaction's
 * snapshot shows: a member change at REPEATABLE READ whose snapshot
 * predates the row asks this, having found nothing to write.
 */
bool
org_state_exists_now(Datum org)
{
	Snapshot	latest;
	KeyScan    *ks;
	bool		found;

	CommandCounterIncrement();
	latest = RegisterSnapshot(GetLatestSnapshot());
	ks = keyscan_begin(KEY_ORG_STATE, latest);
	found = keyscan_first(ks, &org) != NULL;
	keyscan_end(ks);
	UnregisterSnapshot(latest);
	return found;
}
