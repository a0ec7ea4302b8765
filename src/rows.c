/*-------------------------------------------------------------------------
 *
 * rows.c
 *	  Direct access to the extension's own tables where a statement per
 *	  row would cost more than the row: probing unlock_rows' primary key,
 *	  and appending rows to unlock_rows and the ledger.
 *
 * Everything here runs under the org's lock (SPEC section 7), so nobody
 * else writes the org's rows meanwhile.  Reads use the transaction
 * snapshot as a statement would (a fresh one at READ COMMITTED), and the
 * access methods take the predicate locks SERIALIZABLE needs.
 *
 * Rows are appended as COPY appends them: heap tuples in batches, then
 * the entries of every index of the table (a unique index still checks
 * its key).  No statement runs, so triggers and rules on these tables do
 * not fire; the extension's own insert triggers on unlock_rows act only
 * on rows inserted through the view credits.unlocks, which these are not.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/relscan.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_enum.h"
#include "commands/sequence.h"
#include "executor/executor.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "nodes/execnodes.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "rows.h"

/* Opens one of the extension's tables by name */
Relation
credits_table_open(const char *name, LOCKMODE mode)
{
	Oid			nsp = get_namespace_oid("credits", false);
	Oid			relid = get_relname_relid(name, nsp);

	if (!OidIsValid(relid))
		elog(ERROR, "table credits.%s is missing", name);
	return table_open(relid, mode);
}

/*
 * Sets found[i] for each of the n prospects that is unlocked for org: one
 * probe of unlock_rows' primary key (org, prospect) per prospect.  The
 * caller holds the org's lock.  A join of the array with the table would
 * let the planner read all of the org's unlocks instead, a cost that
 * grows with the org; this one does not.
 */
void
unlock_rows_probe(Datum org, int n, const Datum *prospects, bool *found)
{
	Relation	heap;
	Relation	index;
	Oid			pkey;
	Snapshot	snapshot;
	ScanKeyData keys[2];
	IndexScanDesc scan;
	TupleTableSlot *slot;

	heap = credits_table_open("unlock_rows", AccessShareLock);
	pkey = RelationGetPrimaryKeyIndex(heap);
	if (!OidIsValid(pkey))
		elog(ERROR, "credits.unlock_rows has no primary key");
	index = index_open(pkey, AccessShareLock);
	if (IndexRelationGetNumberOfKeyAttributes(index) != 2 ||
		index->rd_index->indkey.values[0] != UNLOCK_ROWS_ORG ||
		index->rd_index->indkey.values[1] != UNLOCK_ROWS_PROSPECT)
		elog(ERROR, "the primary key of credits.unlock_rows is not (org, prospect)");

	/* see our own earlier writes, and at READ COMMITTED everything committed */
	CommandCounterIncrement();
	snapshot = RegisterSnapshot(GetTransactionSnapshot());

	/* the columns are COLLATE "C", which ScanKeyInit gives */
	ScanKeyInit(&keys[0], 1, BTEqualStrategyNumber, F_TEXTEQ, org);
	ScanKeyInit(&keys[1], 2, BTEqualStrategyNumber, F_TEXTEQ, (Datum) 0);
	slot = table_slot_create(heap, NULL);
	scan = index_beginscan(heap, index, snapshot, 2, 0);
	for (int i = 0; i < n; i++)
	{
		keys[1].sk_argument = prospects[i];
		index_rescan(scan, keys, 2, NULL, 0);
		found[i] = index_getnext_slot(scan, ForwardScanDirection, slot);
		CHECK_FOR_INTERRUPTS();
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	UnregisterSnapshot(snapshot);

	index_close(index, AccessShareLock);
	table_close(heap, AccessShareLock);
}

/* ---------------------------------------------------------------------
 * Appending rows
 * ---------------------------------------------------------------------
 */

/* The columns each table is written with, in table order */
static const char *const unlock_rows_columns[] = {
	"org", "prospect", "member", "unlocked_at", "usage_start", "debit_id",
	"via", NULL
};
static const char *const ledger_columns[] = {
	"id", "org", "at", "recorded_at", "actor", "kind", "amount", "grant_id",
	"member", "prospect", "ref", "note", NULL
};

/*
 * Opens table for appending up to batch_size rows at a time.  The table's
 * columns must be exactly the given ones, in order.
 */
static RowBatch *
rows_begin(const char *table, const char *const *columns, int batch_size)
{
	RowBatch   *b = palloc0(sizeof(RowBatch));
	TupleDesc	desc;
	int			natts = 0;

	b->rel = credits_table_open(table, RowExclusiveLock);
	desc = RelationGetDescr(b->rel);
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped)
			continue;
		if (columns[natts] == NULL ||
			strcmp(NameStr(att->attname), columns[natts]) != 0 ||
			att->attnum != natts + 1)
			elog(ERROR, "table credits.%s does not have the columns this library writes",
				 table);
		natts++;
	}
	if (columns[natts] != NULL)
		elog(ERROR, "table credits.%s does not have the columns this library writes",
			 table);

	b->estate = CreateExecutorState();
	b->rri = makeNode(ResultRelInfo);
	InitResultRelInfo(b->rri, b->rel, 1, NULL, 0);
	ExecOpenIndices(b->rri, false);
	b->size = Max(batch_size, 1);
	b->slots = palloc0(sizeof(TupleTableSlot *) * b->size);
	b->cid = GetCurrentCommandId(true);
	return b;
}

RowBatch *
unlock_rows_begin(int batch_size)
{
	return rows_begin("unlock_rows", unlock_rows_columns, batch_size);
}

RowBatch *
ledger_begin(int batch_size)
{
	return rows_begin("ledger", ledger_columns, batch_size);
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
		b->slots[b->n] = table_slot_create(b->rel, NULL);
	slot = b->slots[b->n];
	ExecClearTuple(slot);
	return slot;
}

/* Writes the rows collected so far: heap tuples, then index entries */
static void
rows_flush(RowBatch *b)
{
	if (b->n == 0)
		return;
	table_multi_insert(b->rel, b->slots, b->n, b->cid, 0, NULL);
	for (int i = 0; i < b->n; i++)
	{
		List	   *recheck;

		recheck = ExecInsertIndexTuples(b->rri, b->slots[i], b->estate,
										false, false, NULL, NIL);
		Assert(recheck == NIL);
		list_free(recheck);
		ResetPerTupleExprContext(b->estate);
		ExecClearTuple(b->slots[i]);
	}
	b->n = 0;
}

/* Adds the row filled in rows_slot's slot */
void
rows_add(RowBatch *b)
{
	ExecStoreVirtualTuple(b->slots[b->n]);
	if (++b->n == b->size)
		rows_flush(b);
}

/* Writes what is left and closes the table (its lock is kept) */
void
rows_end(RowBatch *b)
{
	rows_flush(b);
	for (int i = 0; i < b->size; i++)
	{
		if (b->slots[i] != NULL)
			ExecDropSingleTupleTableSlot(b->slots[i]);
	}
	ExecCloseIndices(b->rri);
	FreeExecutorState(b->estate);
	table_close(b->rel, NoLock);
	pfree(b->slots);
	pfree(b);
}

/* The value of enum label in the type of column attnum of b's table */
Datum
rows_enum(RowBatch *b, int attnum, const char *label)
{
	Oid			typid = TupleDescAttr(RelationGetDescr(b->rel), attnum - 1)->atttypid;
	Oid			value = GetSysCacheOid2(ENUMTYPOIDNAME, Anum_pg_enum_oid,
										ObjectIdGetDatum(typid),
										CStringGetDatum(label));

	if (!OidIsValid(value))
		elog(ERROR, "\"%s\" is not a value of the type of column %d of credits.%s",
			 label, attnum, RelationGetRelationName(b->rel));
	return ObjectIdGetDatum(value);
}

/* A new ledger id, as the ledger's identity column would give */
int64
ledger_next_id(void)
{
	Oid			nsp = get_namespace_oid("credits", false);
	Oid			seq = get_relname_relid("ledger_id_seq", nsp);

	if (!OidIsValid(seq))
		elog(ERROR, "sequence credits.ledger_id_seq is missing");
	return nextval_internal(seq, false);
}
