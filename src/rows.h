/*-------------------------------------------------------------------------
 *
 * rows.h
 *	  Direct access to the extension's own tables (rows.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef CREDITS_ROWS_H
#define CREDITS_ROWS_H

#include "executor/tuptable.h"
#include "nodes/execnodes.h"
#include "storage/lockdefs.h"
#include "utils/relcache.h"

/* Columns of credits.unlock_rows */
#define UNLOCK_ROWS_ORG			1
#define UNLOCK_ROWS_PROSPECT	2
#define UNLOCK_ROWS_MEMBER		3
#define UNLOCK_ROWS_UNLOCKED_AT	4
#define UNLOCK_ROWS_USAGE_START	5
#define UNLOCK_ROWS_DEBIT_ID	6
#define UNLOCK_ROWS_VIA			7

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
} RowBatch;

extern Relation credits_table_open(const char *name, LOCKMODE mode);
extern void unlock_rows_probe(Datum org, int n, const Datum *prospects,
							  bool *found);

extern RowBatch *unlock_rows_begin(int batch_size);
extern RowBatch *ledger_begin(int batch_size);
extern TupleTableSlot *rows_slot(RowBatch *b);
extern void rows_add(RowBatch *b);
extern void rows_end(RowBatch *b);
extern Datum rows_enum(RowBatch *b, int attnum, const char *label);
extern int64 ledger_next_id(void);

#endif							/* CREDITS_ROWS_H */
