/*-------------------------------------------------------------------------
 *
 * query.c
 *	  Running the extension's own statements through SPI, and the argument
 *	  checks every entry point shares.
 *
 * Statements are prepared once per backend and kept (SPI_keepplan); the
 * plan cache replans them after DDL.  All statements name their tables
 * with the schema, and run inside SECURITY DEFINER functions whose
 * search_path is pg_catalog, pg_temp.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"

#include "credits.h"

/*
 * Runs a statement with the given parameters (nulls as for
 * SPI_execute_plan); returns the number of rows processed.  The caller
 * must be connected to SPI.  The caller's memory context is current again
 * afterwards (SPI leaves its own procedure context current), so that a
 * loop can keep its allocations in a context it resets.
 */
uint64
credits_run(CreditsQuery *q, Datum *values, const char *nulls,
			bool read_only, long count)
{
	MemoryContext caller = CurrentMemoryContext;
	int			rc;

	if (q->plan == NULL)
	{
		/*
		 * Generic plans from the start: every statement here looks rows up
		 * by key or ctid, where a custom plan per call would only add
		 * planning time.
		 */
		SPIPlanPtr	plan = SPI_prepare_cursor(q->sql, q->nargs, q->argtypes,
											  CURSOR_OPT_GENERIC_PLAN);

		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed for \"%s\": %s",
				 q->sql, SPI_result_code_string(SPI_result));
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "SPI_keepplan failed");
		q->plan = plan;
	}
	rc = SPI_execute_plan(q->plan, values, nulls, read_only, count);
	MemoryContextSwitchTo(caller);
	if (rc < 0)
		elog(ERROR, "SPI_execute_plan failed for \"%s\": %s",
			 q->sql, SPI_result_code_string(rc));
	return SPI_processed;
}

/* Frees the last result, for loops that run many statements */
void
credits_free_result(void)
{
	SPI_freetuptable(SPI_tuptable);
	SPI_tuptable = NULL;
}

/* Column col (from 1) of result row row (from 0) */
Datum
credits_get(int row, int col, bool *isnull)
{
	return SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc,
						 col, isnull);
}

Datum
credits_get_notnull(int row, int col)
{
	bool		isnull;
	Datum		d = credits_get(row, col, &isnull);

	if (isnull)
		elog(ERROR, "unexpected null in column %d of an internal query", col);
	return d;
}

/*
 * Checks an external key (org, member, prospect, ref, referred): not
 * NULL (22004), 1 to 256 bytes (22023 empty, 22001 longer).
 */
void
credits_check_key(Datum key, bool isnull, const char *what)
{
	text	   *t;
	int			len;

	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s cannot be null", what),
				 errdetail("The %s key is null; keys are 1 to %d bytes.",
						   what, CREDITS_KEY_MAXLEN),
				 errhint("Pass the %s's key as text.", what)));
	t = DatumGetTextPP(key);
	len = VARSIZE_ANY_EXHDR(t);
	if (len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s cannot be empty", what),
				 errdetail("The key is 0 bytes long; keys are 1 to %d bytes.",
						   CREDITS_KEY_MAXLEN),
				 errhint("Pass the %s's key as text.", what)));
	if (len > CREDITS_KEY_MAXLEN)
		ereport(ERROR,
				(errcode(ERRCODE_STRING_DATA_RIGHT_TRUNCATION),
				 errmsg("%s is too long", what),
				 errdetail("The key is %d bytes long; keys are at most %d bytes.",
						   len, CREDITS_KEY_MAXLEN),
				 errhint("Use opaque identifiers such as UUIDs or database keys as keys.")));
}

/* Checks an amount of credits: 1 .. 10^12 (22023 below, 22003 above) */
void
credits_check_amount(int64 amount, const char *what)
{
	if (amount <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be positive", what),
				 errdetail("The %s is " INT64_FORMAT ".", what, amount),
				 errhint("Give a whole number of credits from 1 to " INT64_FORMAT ".",
						 CREDITS_AMOUNT_MAX)));
	if (amount > CREDITS_AMOUNT_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("%s is out of range", what),
				 errdetail("The %s is " INT64_FORMAT "; at most " INT64_FORMAT " credits are allowed per grant or call.",
						   what, amount, CREDITS_AMOUNT_MAX),
				 errhint("Split a larger amount over several calls.")));
}
