/*-------------------------------------------------------------------------
 *
 * credits.h
 *	  Declarations shared by the C files of the credits extension.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CREDITS_H
#define CREDITS_H

#include "fmgr.h"
#include "pgtime.h"
#include "datatype/timestamp.h"

/*
 * SQLSTATEs of the product (class ZC, "credits").  The standard codes it
 * uses (22004, 22023, 22001, 22003, 22007, 22008, 40001) are PostgreSQL's.
 */
#define ERRCODE_CREDITS_NO_CREDITS		MAKE_SQLSTATE('Z','C','0','0','1')
#define ERRCODE_CREDITS_LIMIT			MAKE_SQLSTATE('Z','C','0','0','2')
#define ERRCODE_CREDITS_UNKNOWN_ORG		MAKE_SQLSTATE('Z','C','0','0','3')
#define ERRCODE_CREDITS_UNKNOWN_MEMBER	MAKE_SQLSTATE('Z','C','0','0','4')
#define ERRCODE_CREDITS_KEY_REUSED		MAKE_SQLSTATE('Z','C','0','0','5')
#define ERRCODE_CREDITS_HISTORY			MAKE_SQLSTATE('Z','C','0','0','6')
#define ERRCODE_CREDITS_CLOCK_WRITES	MAKE_SQLSTATE('Z','C','0','0','7')
#define ERRCODE_CREDITS_FROZEN			MAKE_SQLSTATE('Z','C','0','0','8')

/*
 * On-disk and in-memory form of credits.cycle.  The fields follow the
 * varlena header without padding, so the bytes from "months" on are the
 * whole value (hashing relies on this).
 */
typedef struct Cycle
{
	int32		vl_len_;		/* varlena header (do not touch directly!) */
	int32		months;			/* months per period, >= 1 */
	Timestamp	anchor;			/* local wall-clock anchor, whole seconds */
	int32		periods;		/* periods in the contract; 0 = open-ended */
	char		zone[FLEXIBLE_ARRAY_MEMBER];	/* canonical zone name, NUL
												 * terminated */
} Cycle;

#define DatumGetCycleP(X)		((Cycle *) PG_DETOAST_DATUM(X))
#define PG_GETARG_CYCLE_P(n)	DatumGetCycleP(PG_GETARG_DATUM(n))
#define PG_GETARG_CYCLE_P_COPY(n)	((Cycle *) PG_DETOAST_DATUM_COPY(PG_GETARG_DATUM(n)))
#define PG_RETURN_CYCLE_P(x)	PG_RETURN_POINTER(x)

/* Keys (org, member, prospect, ref, referred) are 1 to 256 bytes */
#define CREDITS_KEY_MAXLEN		256

/* Amounts: 1 .. 10^12 per grant or call; an org's spendable total <= 10^15 */
#define CREDITS_AMOUNT_MAX		INT64CONST(1000000000000)
#define CREDITS_TOTAL_MAX		INT64CONST(1000000000000000)

/*
 * A statement the extension runs through SPI: prepared on first use, kept
 * for the life of the backend (query.c).
 */
typedef struct CreditsQuery
{
	const char *sql;
	int			nargs;
	Oid			argtypes[12];
	struct _SPI_plan *plan;
} CreditsQuery;

/* query.c */
extern uint64 credits_run(CreditsQuery *q, Datum *values, const char *nulls,
						  bool read_only, long count);
extern void credits_free_result(void);
extern Datum credits_get(int row, int col, bool *isnull);
extern Datum credits_get_notnull(int row, int col);
extern void credits_check_key(Datum key, bool isnull, const char *what);
extern void credits_check_amount(int64 amount, const char *what);

/* guc.c */
extern void credits_guc_init(void);
extern TimestampTz credits_now(void);
extern bool credits_clock_overridden(void);
extern void credits_require_clock_writes(void);

/* cycle.c */
extern pg_tz *cycle_tz(const Cycle *c);
extern TimestampTz cycle_period_start(const Cycle *c, pg_tz *tz, int64 k);
extern int64 cycle_index_at(const Cycle *c, pg_tz *tz, TimestampTz t);
extern bool cycle_equal(const Cycle *a, const Cycle *b);

#endif							/* CREDITS_H */
