/*-------------------------------------------------------------------------
 *
 * credits.c
 *	  Entry point of the credits extension's shared library.
 *
 * The SQL-callable functions are spread over one file per responsibility:
 * cycle.c (the credits.cycle type) and cycle_core.c (its server-independent
 * parser and calendar arithmetic).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"

#include "credits.h"

PG_MODULE_MAGIC;
