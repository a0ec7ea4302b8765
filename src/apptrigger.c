/*-------------------------------------------------------------------------
 *
 * apptrigger.c
 *	  credits.unlock_trigger(): charges for prospects entering the app's
 *	  own tables (SPEC section 6).
 *
 * Attached AFTER INSERT OR UPDATE FOR EACH ROW to a table such as
 * campaign_prospects, with arguments naming the org, member and prospect
 * columns, and optionally a marker column and the value that marks free
 * uploads:
 *
 *		credits.unlock_trigger('org_id', 'added_by', 'prospect_id',
 *							   'source', 'upload')
 *
 * A row is charged like credits.unlock(org, member, prospect) when it is
 * inserted, or updated so that its org, prospect or marker changes, unless
 * it is a free upload.  Key columns are read through their text output, so
 * text, varchar, uuid and integer keys all work.  An AFTER trigger sees
 * only rows really written, and a refused charge fails the statement.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "org.h"

/* The columns one trigger reads, resolved for its table */
typedef struct TriggerColumns
{
	int			org;
	int			member;
	int			prospect;
	int			marker;			/* 0 without a marker */
	const char *free_value;
} TriggerColumns;

static void
misuse(TriggerData *td, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
			 errmsg("trigger \"%s\" on table \"%s\" must be %s",
					td->tg_trigger->tgname,
					RelationGetRelationName(td->tg_relation), what),
			 errdetail("credits.unlock_trigger() charges rows after they are written."),
			 errhint("Create it with credits.attach_unlock_trigger().")));
}

/* Resolves the argument argno (from 0), a column name, to its number */
static int
trigger_column(TriggerData *td, int argno, bool is_key)
{
	Relation	rel = td->tg_relation;
	const char *name = td->tg_trigger->tgargs[argno];
	int			attnum = SPI_fnumber(RelationGetDescr(rel), name);
	Oid			type;

	if (attnum <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of table \"%s\" does not exist",
						name, RelationGetRelationName(rel)),
				 errdetail("Argument %d of trigger \"%s\" names it.",
						   argno + 1, td->tg_trigger->tgname),
				 errhint("Recreate the trigger with credits.attach_unlock_trigger(), which checks the columns.")));
	if (!is_key)
		return attnum;

	type = getBaseType(SPI_gettypeid(RelationGetDescr(rel), attnum));
	if (type != TEXTOID && type != VARCHAROID && type != UUIDOID &&
		type != INT2OID && type != INT4OID && type != INT8OID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("column \"%s\" of table \"%s\" has type %s, which cannot hold a key",
						name, RelationGetRelationName(rel), format_type_be(type)),
				 errdetail("Argument %d of trigger \"%s\" names it.",
						   argno + 1, td->tg_trigger->tgname),
				 errhint("Keys are text, varchar, uuid, smallint, integer or bigint columns.")));
	return attnum;
}

/*
 * An UPDATE that changes the org, prospect or marker unlocks a prospect as
 * an INSERT does, and a refused charge must fail the statement that wrote
 * the row.  A trigger that does not fire on both, that fires only for
 * some rows (a WHEN condition) or some UPDATEs (UPDATE OF: PostgreSQL does
 * not fire it for a column only a BEFORE trigger changed), or that waits
 * for the commit (deferred) would leave prospects unpaid, or written
 * before their charge is refused.
 */
static void
check_definition(TriggerData *td)
{
	Trigger    *tg = td->tg_trigger;
	const char *trigger = tg->tgname;
	const char *table = RelationGetRelationName(td->tg_relation);
	const char *detail = gettext_noop("An INSERT or UPDATE that sets a row's org, prospect or marker can unlock a prospect, and a refused charge fails that statement.");
	const char *hint = gettext_noop("Create it with credits.attach_unlock_trigger().");

	/* each message whole, for translators (as report_protected does) */
	if (!TRIGGER_FOR_INSERT(tg->tgtype) || !TRIGGER_FOR_UPDATE(tg->tgtype) ||
		TRIGGER_FOR_DELETE(tg->tgtype) || TRIGGER_FOR_TRUNCATE(tg->tgtype))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("trigger \"%s\" on table \"%s\" must fire on INSERT and UPDATE only",
						trigger, table),
				 errdetail_internal("%s", _(detail)),
				 errhint("%s", _(hint))));
	if (tg->tgnattr > 0)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("trigger \"%s\" on table \"%s\" must fire on every UPDATE, not UPDATE OF some columns",
						trigger, table),
				 errdetail_internal("%s", _(detail)),
				 errhint("%s", _(hint))));
	if (tg->tgqual != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("trigger \"%s\" on table \"%s\" must fire for every row, without a WHEN condition",
						trigger, table),
				 errdetail_internal("%s", _(detail)),
				 errhint("%s", _(hint))));
	if (tg->tgdeferrable)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("trigger \"%s\" on table \"%s\" must not be deferrable",
						trigger, table),
				 errdetail_internal("%s", _(detail)),
				 errhint("%s", _(hint))));
}

static void
resolve_columns(TriggerData *td, TriggerColumns *cols)
{
	Trigger    *tg = td->tg_trigger;

	if (tg->tgnargs != 3 && tg->tgnargs != 5)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("trigger \"%s\" on table \"%s\" has %d arguments",
						tg->tgname, RelationGetRelationName(td->tg_relation),
						tg->tgnargs),
				 errdetail("credits.unlock_trigger() takes the org, member and prospect columns, and optionally a marker column and the value that marks free uploads."),
				 errhint("Create it with credits.attach_unlock_trigger().")));
	cols->org = trigger_column(td, 0, true);
	cols->member = trigger_column(td, 1, true);
	cols->prospect = trigger_column(td, 2, true);
	cols->marker = tg->tgnargs == 5 ? trigger_column(td, 3, false) : 0;
	cols->free_value = tg->tgnargs == 5 ? tg->tgargs[4] : NULL;
}

/* A column's text output, or NULL */
static char *
column_text(TriggerData *td, HeapTuple row, int attnum)
{
	return SPI_getvalue(row, RelationGetDescr(td->tg_relation), attnum);
}

static bool
same_text(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

/* Raises 22004 for a key column that is NULL in a row to be charged */
static Datum
key_datum(TriggerData *td, const char *value, int argno, const char *what)
{
	Datum		key;

	if (value == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s column \"%s\" of table \"%s\" is null in a row that unlocks a prospect",
						what, td->tg_trigger->tgargs[argno],
						RelationGetRelationName(td->tg_relation)),
				 errdetail("The row is not marked as a free upload, so it unlocks its prospect for its organization."),
				 errhint("A row that is not a free upload needs its org and prospect.")));
	key = CStringGetTextDatum(value);
	credits_check_key(key, false, what);
	return key;
}

PG_FUNCTION_INFO_V1(credits_unlock_trigger);
Datum
credits_unlock_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *td;
	TriggerColumns cols;
	HeapTuple	row;
	char	   *marker;
	char	   *member_text;
	Datum		org;
	Datum		prospect;
	Datum		member = (Datum) 0;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("credits.unlock_trigger() can only be called as a trigger"),
				 errdetail("It charges the rows of an app table as they are written."),
				 errhint("Attach it with credits.attach_unlock_trigger().")));
	td = (TriggerData *) fcinfo->context;
	if (!TRIGGER_FIRED_AFTER(td->tg_event))
		misuse(td, "an AFTER trigger");
	if (!TRIGGER_FIRED_FOR_ROW(td->tg_event))
		misuse(td, "a FOR EACH ROW trigger");
	if (!TRIGGER_FIRED_BY_INSERT(td->tg_event) &&
		!TRIGGER_FIRED_BY_UPDATE(td->tg_event))
		misuse(td, "fired by INSERT or UPDATE only");
	check_definition(td);
	resolve_columns(td, &cols);

	row = TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple : td->tg_trigtuple;

	/* free uploads are not unlocks */
	marker = cols.marker ? column_text(td, row, cols.marker) : NULL;
	if (marker != NULL && strcmp(marker, cols.free_value) == 0)
		return PointerGetDatum(NULL);

	/* an UPDATE charges only if it changes the org, prospect or marker */
	if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
	{
		HeapTuple	old = td->tg_trigtuple;

		if (same_text(column_text(td, old, cols.org), column_text(td, row, cols.org)) &&
			same_text(column_text(td, old, cols.prospect), column_text(td, row, cols.prospect)) &&
			(cols.marker == 0 ||
			 same_text(column_text(td, old, cols.marker), marker)))
			return PointerGetDatum(NULL);
	}

	org = key_datum(td, column_text(td, row, cols.org), 0, "organization");
	prospect = key_datum(td, column_text(td, row, cols.prospect), 2, "prospect");
	member_text = column_text(td, row, cols.member);
	if (member_text != NULL)
		member = CStringGetTextDatum(member_text);

	credits_begin();
	unlock_prospect(org, member, member_text == NULL, prospect, true);
	credits_end();
	return PointerGetDatum(NULL);
}
