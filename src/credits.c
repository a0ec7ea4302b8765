/*-------------------------------------------------------------------------
 *
 * credits.c
 *	  Entry point of the credits extension's shared library.
 *
 * The SQL-callable functions are spread over one file per responsibility:
 * cycle.c (the credits.cycle type) and cycle_core.c (its server-independent
 * parser and calendar arithmetic), guc.c (the clock), org.c (the org lock,
 * grants and ledger), signal.c (the low-balance signal), unlock.c (unlocks
 * and refunds), admin.c (grants, adjustments, renewal and expiry), status.c
 * (balances and status), triggers.c (the tables' triggers and hooks),
 * apptrigger.c (the trigger for the app's tables), rows.c (direct reads
 * and appends of rows) and query.c (running statements through SPI).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"

#include "org.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/*
 * Defines the settings, registers the transaction callbacks and the
 * utility hook
 */
void
_PG_init(void)
{
	credits_guc_init();
	credits_org_init();
	credits_triggers_init();
	credits_signal_init();
}
