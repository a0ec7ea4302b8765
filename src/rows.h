/*-------------------------------------------------------------------------
 *
 * rows.h
 *	  Direct access to the extension's own tables (rows.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef CREDITS_ROWS_H
#define CREDITS_ROWS_H

#include "access/genam.h"
#include "access/skey.h"
#include "commands/sequence.h"
#include "executor/tuptable.h"
#include "nodes/execnodes.h"
#include "storage/lockdefs.h"
#include "utils/relcache.h"
#include "utils/snapshot.h"

/* Columns of credits.unlock_rows */
#define UNLOCK_ROWS_ORG			1
#define UNLOCK_ROWS_PROSPECT	2
#define UNLOCK_ROWS_MEMBER		3
#define UNLOCK_ROWS_UNLOCKED_AT	4
#define UNLOCK_ROWS_USAGE_START	5
#define UNLOCK_ROWS_DEBIT_ID	6
#define UNLOCK_ROWS_VIA			7

/* Columns of credits.members */
#define MEMBERS_ORG				1
#define MEMBERS_MEMBER			2
#define MEMBERS_PERIOD_LIMIT	3
#define MEMBERS_ACTIVE			4

/* Columns of credits.usage */
#define USAGE_ORG				1
#define USAGE_MEMBER			2
#define USAGE_PERIOD_START		3
#define USAGE_USED				4

/* Columns of credits.grant_rows */
#define GRANT_ROWS_ID			1
#define GRANT_ROWS_ORG			2
#define GRANT_ROWS_KIND			3
#define GRANT_ROWS_STARTS_AT	4
#define GRANT_ROWS_EXPIRES_AT	5

/* Columns of credits.grant_left */
#define GRANT_LEFT_GRANT_ID		1
#define GRANT_LEFT_AMOUNT		2
#define GRANT_LEFT_REMAINING	3

/* Columns of credits.org_state (cut_seq since 1.1) */
#define ORG_STATE_ORG			1
#define ORG_STATE_ARMED			2
#define ORG_STATE_CYCLE_CUT		3
#define ORG_STATE_CUT_SEQ		4
#define ORG_STATE_SPENT_BELOW	5

/* Columns of credits.ledger */
#define LEDGER_ID				1
#define LEDGER_ORG				2
#define LEDGER_AT				3
#define LEDGER_RECORDED_AT		4
#define LEDGER_ACTOR			5
#define LEDGER_KIND				6
#define LEDGER_AMOUNT			7
#define LEDGER_GRANT_ID			8
#define LEDGER_MEMBER			9
#define LEDGER_PROSPECT			10
#define LEDGER_REF				11
#define LEDGER_NOTE				12

/* Rows being appended to one of the extension's tables */
typedef struct RowBatch
{
	Relation	rel;
	EState	   *estate;
	ResultRelInfo *rri;
	TupleTableSlot **slots;
	int			size;			/* rows per heap write */
	int			n;				/* rows waiting */
	CommandId	cid;
	Datum		actor;			/* the ledger's actor, once known */
	const char *enum_label;		/* the last label rows_enum looked up */
	int			enum_attnum;
	Datum		enum_value;
} RowBatch;

/* Lookups by key: the index used, and the key columns given */
typedef enum KeyLookup
{
	KEY_UNLOCK,					/* unlock_rows (org, prospect) */
	KEY_MEMBER,					/* members (org, member) */
	KEY_ORG_MEMBERS,			/* members (org) */
	KEY_USAGE,					/* usage (org, member, period_start) */
	KEY_ORG_GRANTS,				/* grant_rows (org, expires_at[, id]): see
								 * keyscan_unexpired */
	KEY_GRANT_LEFT,				/* grant_left (grant_id) */
	KEY_ORG_STATE				/* org_state (org) */
} KeyLookup;

typedef struct KeyScan
{
	Relation	heap;
	Relation	index;
	IndexScanDesc scan;
	TupleTableSlot *slot;
	int			nkeys;
	ScanKeyData keys[3];
	Snapshot	own_snapshot;	/* taken by keyscan_begin, if any */
} KeyScan;

extern Relation credits_table_open(const char *name, LOCKMODE mode);
extern Snapshot rows_snapshot(void);
extern KeyScan *keyscan_begin(KeyLookup which, Snapshot snapshot);
extern TupleTableSlot *keyscan_first(KeyScan *ks, const Datum *values);
extern TupleTableSlot *keyscan_next(KeyScan *ks);
extern TupleTableSlot *keyscan_unexpired(KeyScan *ks, Datum org,
										 TimestampTz now, bool never_expiring,
										 int64 min_id);
extern void keyscan_end(KeyScan *ks);
extern KeyScan *unlock_probe_begin(void);
extern bool unlock_probe(KeyScan *ks, Datum org, Datum prospect,
						 bool settled_only);
extern bool unlock_exists(Datum org, Datum prospect);
extern bool unlock_settled(Datum org, Datum prospect);

/* An update of one row of grant_left or usage */
typedef struct RowUpdate
{
	Relation	rel;
	EState	   *estate;
	ResultRelInfo *rri;
	Snapshot	snapshot;
	TupleTableSlot *oldslot;
	TupleTableSlot *newslot;
} RowUpdate;

extern RowUpdate *rows_update_begin(KeyLookup which);
extern TupleTableSlot *rows_update_fetch(RowUpdate *ru, ItemPointer tid);
extern bool rows_update_add(RowUpdate *ru, ItemPointer tid, int attnum,
							int64 delta, int64 *value);
extern void rows_update_end(RowUpdate *ru);
extern bool org_members_changed(Datum org);
extern bool org_state_exists_now(Datum org);
extern bool org_state_touch(Datum org, bool *armed, TimestampTz *cycle_cut,
							int64 *cut_seq, int64 *spent_below);
extern bool org_state_has_column(const char *name);

extern RowBatch *unlock_rows_begin(int batch_size);
extern RowBatch *ledger_begin(int batch_size);
extern TupleTableSlot *rows_slot(RowBatch *b);
extern void rows_add(RowBatch *b);
extern void rows_end(RowBatch *b);
extern Datum rows_enum(RowBatch *b, int attnum, const char *label);
extern Oid	ledger_id_seq(void);
extern int64 ledger_next_id(void);

#endif							/* CREDITS_ROWS_H */
