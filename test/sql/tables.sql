--
-- The extension reads and writes its own tables below the executor: a
-- change a DBA makes that it would skip or misread is refused (55000),
-- constraints are still checked, and indexes are still maintained
--
\i test/helpers.sql
SET credits.clock = '2026-01-15T10:00:00Z';
INSERT INTO orgs (org, cycle, plan_credits) VALUES ('t1', 'R/2026-01-01/P1M', 100);
INSERT INTO members (org, member) VALUES ('t1', 'ann');
SELECT unlock('t1', 'ann', 'p1');

CREATE FUNCTION public.audit() RETURNS trigger LANGUAGE plpgsql
AS $$ BEGIN RETURN NEW; END $$;

-- A trigger that an append would not fire
BEGIN;
CREATE TRIGGER audit AFTER INSERT ON credits.ledger
	FOR EACH ROW EXECUTE FUNCTION public.audit();
SELECT pg_temp.err($$SELECT credits.unlock('t1', 'ann', 'p2')$$);
SELECT pg_temp.err($$SELECT credits.unlock_many('t1', 'ann', ARRAY['p2', 'p3'])$$);
ALTER TABLE credits.ledger DISABLE TRIGGER audit;
SELECT unlock('t1', 'ann', 'p2');
ROLLBACK;

-- ... or an update of a counter would not fire; a DELETE trigger is no
-- concern of a charge
BEGIN;
CREATE TRIGGER audit BEFORE UPDATE ON credits.usage
	FOR EACH ROW EXECUTE FUNCTION public.audit();
SELECT pg_temp.err($$SELECT credits.unlock('t1', 'ann', 'p2')$$);
ROLLBACK;
BEGIN;
CREATE TRIGGER audit BEFORE DELETE ON credits.usage
	FOR EACH ROW EXECUTE FUNCTION public.audit();
SELECT unlock('t1', 'ann', 'p2');
ROLLBACK;

-- Rules
BEGIN;
CREATE RULE noisy AS ON INSERT TO credits.ledger DO ALSO NOTIFY ledger_rule;
SELECT pg_temp.err($$SELECT credits.unlock('t1', 'ann', 'p2')$$);
ROLLBACK;

-- Other columns, types or collations
BEGIN;
ALTER TABLE credits.ledger ADD COLUMN extra int;
SELECT pg_temp.err($$SELECT credits.unlock('t1', 'ann', 'p2')$$);
ROLLBACK;
BEGIN;
ALTER TABLE credits.ledger ALTER COLUMN grant_id TYPE numeric;
SELECT pg_temp.err($$SELECT credits.unlock('t1', 'ann', 'p2')$$);
ROLLBACK;
BEGIN;
ALTER TABLE credits.ledger ALTER COLUMN note TYPE varchar(1000);
SELECT pg_temp.err($$SELECT credits.refund('t1', 'p1', 'a note that is long')$$);
ROLLBACK;
BEGIN;
ALTER TABLE credits.ledger ALTER COLUMN member TYPE text COLLATE "POSIX";
SELECT pg_temp.err($$SELECT credits.unlock('t1', 'ann', 'p2')$$);
ROLLBACK;

-- A column added and dropped again is no change
BEGIN;
ALTER TABLE credits.ledger ADD COLUMN extra int;
ALTER TABLE credits.ledger DROP COLUMN extra;
ALTER TABLE credits.unlock_rows ADD COLUMN extra int;
ALTER TABLE credits.unlock_rows DROP COLUMN extra;
SELECT unlock('t1', 'ann', 'p2');
SELECT count(*) FROM unlock_many('t1', 'ann', ARRAY['p3', 'p4']);
SELECT kind, amount, prospect FROM ledger WHERE org = 't1' AND prospect > 'p1' ORDER BY id;
ROLLBACK;

-- A trigger function in schema credits is not the extension's own
BEGIN;
CREATE FUNCTION credits.audit() RETURNS trigger LANGUAGE plpgsql
AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER audit AFTER INSERT ON credits.ledger
	FOR EACH ROW EXECUTE FUNCTION credits.audit();
SELECT pg_temp.err($$SELECT credits.unlock('t1', 'ann', 'p2')$$);
ROLLBACK;

-- An index the lookups rely on, made partial
BEGIN;
DROP INDEX credits.usage_key;
CREATE INDEX usage_key ON credits.usage (org, member, period_start) WHERE used > 0;
SELECT pg_temp.err($$SELECT credits.unlock('t1', 'ann', 'p2')$$);
ROLLBACK;

-- A publication of all tables carries the counters' updates (the tables
-- without a unique key are logged whole); one that could not is refused
-- as UPDATE refuses it
BEGIN;
SET client_min_messages = error;
CREATE PUBLICATION everything FOR ALL TABLES;
RESET client_min_messages;
SELECT unlock('t1', 'ann', 'p2');
ALTER TABLE credits.usage REPLICA IDENTITY NOTHING;
SELECT pg_temp.err($$SELECT credits.unlock('t1', 'ann', 'p3')$$);
ROLLBACK;

-- ... or given an operator class whose equality is another function
BEGIN;
CREATE FUNCTION public.same_text(text, text) RETURNS boolean
	LANGUAGE internal IMMUTABLE STRICT AS 'texteq';
CREATE OPERATOR public.=== (LEFTARG = text, RIGHTARG = text, FUNCTION = public.same_text);
CREATE OPERATOR CLASS public.other_text_ops FOR TYPE text USING btree AS
	OPERATOR 1 pg_catalog.<, OPERATOR 2 pg_catalog.<=, OPERATOR 3 public.===,
	OPERATOR 4 pg_catalog.>=, OPERATOR 5 pg_catalog.>,
	FUNCTION 1 pg_catalog.bttextcmp(text, text);
DROP INDEX credits.usage_key;
CREATE INDEX usage_key ON credits.usage (org public.other_text_ops, member, period_start);
SELECT pg_temp.err($$SELECT credits.unlock('t1', 'ann', 'p2')$$);
ROLLBACK;

-- Row-level security forced on the owner
BEGIN;
ALTER TABLE credits.grant_rows ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
SELECT pg_temp.err($$SELECT credits.unlock('t1', 'ann', 'p2')$$);
ROLLBACK;

-- Uniqueness checked at commit (a trigger checks it)
BEGIN;
ALTER TABLE credits.unlock_rows ADD CONSTRAINT unique_later
	UNIQUE (org, prospect, member) DEFERRABLE INITIALLY DEFERRED;
SELECT regexp_replace(e, '_\d+', '_N')
FROM pg_temp.err($$SELECT credits.unlock('t1', 'ann', 'p2')$$) e;
ROLLBACK;

-- Constraints a DBA adds are checked, as a statement would check them
BEGIN;
ALTER TABLE credits.unlock_rows ADD CONSTRAINT no_g CHECK (prospect <> 'g') NOT VALID;
ALTER TABLE credits.ledger ADD CONSTRAINT short_notes CHECK (length(note) < 10) NOT VALID;
SELECT e FROM pg_temp.err($$SELECT credits.unlock('t1', 'ann', 'g')$$) e
WHERE e NOT LIKE 'DETAIL%';
SELECT e FROM pg_temp.err($$SELECT credits.unlock_many('t1', 'ann', ARRAY['f', 'g'])$$) e
WHERE e NOT LIKE 'DETAIL%';
SELECT e FROM pg_temp.err($$SELECT credits.refund('t1', 'p1', 'a note that is long')$$) e
WHERE e NOT LIKE 'DETAIL%';
SELECT unlock('t1', 'ann', 'f');
ROLLBACK;

-- A constraint's function may roll back a subtransaction of its own while
-- a charge runs (the org cache it relies on is kept); one that calls the
-- extension again fails the charge (55000), whether it rolls that call
-- back or not
CREATE FUNCTION public.careful(bigint) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	BEGIN
		PERFORM 1 / 0;
	EXCEPTION WHEN division_by_zero THEN
		NULL;
	END;
	RETURN true;
END
$$;
CREATE FUNCTION public.reentrant(bigint) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	BEGIN
		PERFORM credits.unlock('t1', 'ann', 'inner');
		PERFORM 1 / 0;
	EXCEPTION WHEN division_by_zero THEN
		NULL;
	END;
	RETURN true;
END
$$;
BEGIN;
ALTER TABLE credits.ledger ADD CONSTRAINT careful CHECK (public.careful(amount)) NOT VALID;
SELECT unlock('t1', 'ann', 'c1');
SELECT prospect, charged FROM unlock_many('t1', 'ann', ARRAY['c2', 'c3']);
SELECT * FROM verify('t1');
ROLLBACK;
BEGIN;
ALTER TABLE credits.ledger ADD CONSTRAINT reentrant CHECK (public.reentrant(amount)) NOT VALID;
SELECT pg_temp.err($$SELECT credits.unlock('t1', 'ann', 'c1')$$);
ROLLBACK;
CREATE FUNCTION public.renews(bigint) RETURNS boolean LANGUAGE sql
AS $$ SELECT credits.renew_due() >= 0 $$;
BEGIN;
ALTER TABLE credits.usage ADD CONSTRAINT renews CHECK (public.renews(used)) NOT VALID;
SELECT pg_temp.err($$SELECT credits.unlock('t1', 'ann', 'c1')$$);
ROLLBACK;
DROP FUNCTION public.careful(bigint), public.reentrant(bigint), public.renews(bigint);

-- Nothing of the refused calls is left, and the tables are whole again
SELECT prospect FROM unlocks WHERE org = 't1' ORDER BY prospect;
SELECT kind, amount, prospect FROM ledger WHERE org = 't1' ORDER BY id;
SELECT unlock('t1', 'ann', 'p2');
SELECT * FROM verify('t1');
DROP FUNCTION public.audit();

-- The orgs a transaction has locked are cached for it, and made again
-- from the tables when they are replaced in the same transaction (DROP
-- and CREATE EXTENSION): a frozen org of the new tables is refused, and
-- no charge lands on the grant of another org that has the old id
BEGIN;
INSERT INTO orgs (org, cycle, plan_credits) VALUES ('re1', 'R/2026-01-01/P1M', 100);
INSERT INTO members (org, member) VALUES ('re1', 'ann');
SELECT unlock('re1', 'ann', 'p1');
-- a failed INSERT that reserved the next ledger id for a row it rolled back
SELECT last_value + 1 AS reserved FROM credits.ledger_id_seq \gset
SELECT pg_temp.err($$INSERT INTO credits.unlocks (org, member, prospect)
	VALUES ('re1', 'ann', 'p2'), ('nowhere', 'ann', 'p3')$$);
SET client_min_messages = warning;
DROP EXTENSION credits CASCADE;
CREATE EXTENSION credits;
RESET client_min_messages;
INSERT INTO credits.orgs (org, cycle, plan_credits) VALUES ('re2', 'R/2026-01-01/P1M', 10);
INSERT INTO credits.members (org, member) VALUES ('re2', 'ann');
SELECT credits.unlock('re2', 'ann', 'q0');
-- the new ledger gives that id to q1's debit: its refund is not taken for
-- a refund of a row still to be charged (55000)
SELECT setval('credits.ledger_id_seq', :reserved - 1) IS NOT NULL AS set;
SELECT credits.unlock('re2', 'ann', 'q1');
SELECT id = :reserved AS same_id FROM credits.ledger WHERE prospect = 'q1';
SELECT credits.refund('re2', 'q1');
INSERT INTO credits.orgs (org, cycle, plan_credits, frozen)
VALUES ('re1', 'R/2026-01-01/P1M', 0, true);
INSERT INTO credits.members (org, member) VALUES ('re1', 'ann');
SELECT pg_temp.err($$SELECT credits.unlock('re1', 'ann', 'p2')$$);
SELECT org, kind, amount, prospect FROM credits.ledger ORDER BY id;
SELECT * FROM credits.verify();
ROLLBACK;
