--
-- credits.unlock_trigger(): the database charges when a prospect enters
-- the app's own campaign table
--
\i test/helpers.sql
SET credits.clock = '2026-01-10T00:00:00Z';
INSERT INTO orgs (org, cycle, plan_credits) VALUES ('a1', 'R/2026-01-01/P1M', 5);
INSERT INTO members (org, member) VALUES ('a1', 'alice'), ('a1', 'bob');

CREATE SCHEMA app;
CREATE TABLE app.campaign_prospects (
	id serial PRIMARY KEY,
	campaign text NOT NULL,
	org_id text,
	added_by text,
	prospect_id text,
	source text NOT NULL DEFAULT 'search'
);
SELECT attach_unlock_trigger('app.campaign_prospects', 'org_id', 'added_by',
							 'prospect_id', 'source', 'upload');
SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger
WHERE tgrelid = 'app.campaign_prospects'::regclass;

CREATE FUNCTION pg_temp.state(o text DEFAULT 'a1')
RETURNS TABLE (balance bigint, unlocked text, debits bigint)
LANGUAGE sql AS $$
	SELECT credits.balance(o),
		(SELECT string_agg(prospect || ':' || member, ' ' ORDER BY prospect)
		 FROM credits.unlocks WHERE org = o),
		(SELECT count(*) FROM credits.ledger WHERE org = o AND kind = 'debit')
$$;

-- A new prospect in a campaign: one credit
INSERT INTO app.campaign_prospects (campaign, org_id, added_by, prospect_id)
VALUES ('spring', 'a1', 'alice', 'p1');
SELECT * FROM pg_temp.state();

-- Free: a colleague's row for it, a move between campaigns, a re-insert
INSERT INTO app.campaign_prospects (campaign, org_id, added_by, prospect_id)
VALUES ('bobs', 'a1', 'bob', 'p1');
UPDATE app.campaign_prospects SET campaign = 'summer' WHERE campaign = 'spring';
DELETE FROM app.campaign_prospects WHERE campaign = 'summer';
INSERT INTO app.campaign_prospects (campaign, org_id, added_by, prospect_id)
VALUES ('spring', 'a1', 'alice', 'p1');
SELECT * FROM pg_temp.state();

-- Uploads are free and are not unlocks
INSERT INTO app.campaign_prospects (campaign, org_id, added_by, prospect_id, source)
VALUES ('own', 'a1', 'alice', 'p2', 'upload');
SELECT * FROM pg_temp.state(), credits.is_unlocked('a1', 'p2') AS p2_unlocked;

-- Several rows, one new prospect twice, in one statement: one charge each
INSERT INTO app.campaign_prospects (campaign, org_id, added_by, prospect_id)
SELECT 'bulk', 'a1', 'bob', p FROM (VALUES ('p3'), ('p4'), ('p3'), ('p1')) v(p);
SELECT * FROM pg_temp.state();

-- COPY charges too
COPY app.campaign_prospects (campaign, org_id, added_by, prospect_id) FROM STDIN;
copied	a1	alice	p5
copied	a1	bob	p5
\.
SELECT * FROM pg_temp.state();

-- An UPDATE that changes the prospect charges for the new one; an upload
-- turned into a search result is an unlock
UPDATE app.campaign_prospects SET prospect_id = 'p6' WHERE campaign = 'copied' AND added_by = 'bob';
SELECT * FROM pg_temp.state();

-- A refused charge fails the app's statement: no row, no charge
SELECT pg_temp.err($$INSERT INTO app.campaign_prospects (campaign, org_id, added_by, prospect_id) VALUES ('late', 'a1', 'alice', 'p7')$$);
SELECT pg_temp.err($$UPDATE app.campaign_prospects SET source = 'search' WHERE source = 'upload'$$);
SELECT count(*) AS late_rows FROM app.campaign_prospects WHERE campaign = 'late';
SELECT * FROM pg_temp.state();

-- Editing an old row whose member has left works (no charge, no check)
UPDATE members SET active = false WHERE member = 'bob';
UPDATE app.campaign_prospects SET campaign = 'archive' WHERE added_by = 'bob';
-- ... but a charge needs an active member, an org and a prospect
SELECT grant_one_time('a1', 'top-up', 10) IS NOT NULL AS topped_up;
SELECT pg_temp.err(sql) FROM (VALUES
	($$INSERT INTO app.campaign_prospects (campaign, org_id, added_by, prospect_id) VALUES ('x', 'a1', 'bob', 'p8')$$),
	($$INSERT INTO app.campaign_prospects (campaign, org_id, added_by, prospect_id) VALUES ('x', 'a1', NULL, 'p8')$$),
	($$INSERT INTO app.campaign_prospects (campaign, org_id, added_by, prospect_id) VALUES ('x', NULL, 'alice', 'p8')$$),
	($$INSERT INTO app.campaign_prospects (campaign, org_id, added_by, prospect_id) VALUES ('x', 'a1', 'alice', NULL)$$),
	($$INSERT INTO app.campaign_prospects (campaign, org_id, added_by, prospect_id) VALUES ('x', 'nope', 'alice', 'p8')$$)
) v(sql);
-- already unlocked: free even for an inactive, missing or malformed member
INSERT INTO app.campaign_prospects (campaign, org_id, added_by, prospect_id)
VALUES ('x', 'a1', 'bob', 'p1'), ('x', 'a1', NULL, 'p1'), ('x', 'a1', '', 'p1'),
	('x', 'a1', repeat('m', 300), 'p1');
SELECT * FROM pg_temp.state();

-- DELETE and TRUNCATE of app rows change nothing in credits
TRUNCATE app.campaign_prospects;
SELECT * FROM pg_temp.state();

-- uuid and bigint keys are read as text, also through domains of domains
CREATE DOMAIN app.id AS bigint;
CREATE DOMAIN app.prospect_id AS app.id;
CREATE TABLE app.domain_rows (org_id text, member_id text, prospect app.prospect_id);
SELECT attach_unlock_trigger('app.domain_rows', 'org_id', 'member_id', 'prospect');
INSERT INTO app.domain_rows VALUES ('a1', 'alice', 42);
SELECT is_unlocked('a1', '42');
CREATE TABLE app.uuid_rows (org_id text, member_id text, prospect uuid);
CREATE TABLE app.int_rows (org_id text, member_id text, prospect bigint);
SELECT attach_unlock_trigger('app.uuid_rows', 'org_id', 'member_id', 'prospect');
SELECT attach_unlock_trigger('app.int_rows', 'org_id', 'member_id', 'prospect', trigger_name => 'charge_ints');
INSERT INTO app.uuid_rows VALUES ('a1', 'alice', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11');
INSERT INTO app.int_rows VALUES ('a1', 'alice', 7);
SELECT prospect, member FROM unlocks WHERE org = 'a1' AND prospect IN ('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '7')
ORDER BY prospect;

--
-- Misconfiguration: clear errors naming the argument and the table
--
CREATE TABLE app.bad (org_id text, member_id text, prospect_id text, score numeric, at timestamptz);
CREATE TABLE app."Odd Name" (org_id text);
SELECT pg_temp.err(sql) FROM (VALUES
	($$SELECT credits.attach_unlock_trigger('app."Odd Name"', 'org_id', 'member_id', 'nope')$$),
	($$SELECT credits.attach_unlock_trigger('app.bad', 'org_id', 'member_id', 'nope')$$),
	($$SELECT credits.attach_unlock_trigger('app.bad', 'org_id', 'member_id', 'score')$$),
	($$SELECT credits.attach_unlock_trigger('app.bad', 'org_id', 'member_id', 'prospect_id', 'at')$$),
	($$SELECT credits.attach_unlock_trigger('app.bad', 'org_id', 'member_id', 'prospect_id', 'nope', 'x')$$),
	($$SELECT credits.attach_unlock_trigger(NULL, 'org_id', 'member_id', 'prospect_id')$$)
) v(sql);
-- a marker value the column cannot print is attached with a warning: no
-- row would be a free upload (a boolean prints t, char(n) pads, 007 is 7,
-- and some values are not valid at all)
CREATE TABLE app.marked (org_id text, member_id text, prospect_id text,
	flag boolean, kind char(8), n int, rel regclass);
SELECT attach_unlock_trigger('app.marked', 'org_id', 'member_id', 'prospect_id', 'flag', 'true', 'c1');
SELECT attach_unlock_trigger('app.marked', 'org_id', 'member_id', 'prospect_id', 'kind', 'upload', 'c2');
SELECT attach_unlock_trigger('app.marked', 'org_id', 'member_id', 'prospect_id', 'n', '007', 'c3');
SELECT attach_unlock_trigger('app.marked', 'org_id', 'member_id', 'prospect_id', 'n', 'seven', 'c4');
SELECT attach_unlock_trigger('app.marked', 'org_id', 'member_id', 'prospect_id', 'rel', 'no_such_table', 'c6');
-- an enum's labels are checked; a domain's input is not run (it would
-- run its owner's code with the caller's rights), so it gets no warning
CREATE TYPE app.src AS ENUM ('search', 'upload');
CREATE FUNCTION app.noisy(v text) RETURNS boolean LANGUAGE plpgsql AS
$f$BEGIN RAISE NOTICE 'domain check ran as %', current_user; RETURN true; END$f$;
CREATE DOMAIN app.checked AS text CHECK (app.noisy(VALUE));
ALTER TABLE app.marked ADD COLUMN src app.src, ADD COLUMN dom app.checked;
SELECT attach_unlock_trigger('app.marked', 'org_id', 'member_id', 'prospect_id', 'src', 'Upload', 'c7');
SELECT attach_unlock_trigger('app.marked', 'org_id', 'member_id', 'prospect_id', 'src', 'upload', 'c8');
SELECT attach_unlock_trigger('app.marked', 'org_id', 'member_id', 'prospect_id', 'dom', 'upload', 'c9');
-- as printed, no warning
SELECT attach_unlock_trigger('app.marked', 'org_id', 'member_id', 'prospect_id', 'flag', 't', 'c5');
SELECT count(*) AS triggers FROM pg_trigger WHERE tgrelid = 'app.marked'::regclass;
DROP TABLE app.marked;
DROP DOMAIN app.checked;
DROP FUNCTION app.noisy(text);
DROP TYPE app.src;

-- triggers created by hand are checked when they fire
CREATE TRIGGER t_before BEFORE INSERT ON app.bad FOR EACH ROW
	EXECUTE FUNCTION credits.unlock_trigger('org_id', 'member_id', 'prospect_id');
SELECT pg_temp.err($$INSERT INTO app.bad VALUES ('a1', 'alice', 'q1')$$);
DROP TRIGGER t_before ON app.bad;
CREATE TRIGGER t_stmt AFTER INSERT ON app.bad FOR EACH STATEMENT
	EXECUTE FUNCTION credits.unlock_trigger('org_id', 'member_id', 'prospect_id');
SELECT pg_temp.err($$INSERT INTO app.bad VALUES ('a1', 'alice', 'q1')$$);
DROP TRIGGER t_stmt ON app.bad;
CREATE TRIGGER t_delete AFTER DELETE ON app.bad FOR EACH ROW
	EXECUTE FUNCTION credits.unlock_trigger('org_id', 'member_id', 'prospect_id');
INSERT INTO app.bad VALUES ('a1', 'alice', 'q1');
SELECT pg_temp.err($$DELETE FROM app.bad$$);
DROP TRIGGER t_delete ON app.bad;
CREATE TRIGGER t_args AFTER INSERT OR UPDATE ON app.bad FOR EACH ROW
	EXECUTE FUNCTION credits.unlock_trigger('org_id', 'member_id');
SELECT pg_temp.err($$INSERT INTO app.bad VALUES ('a1', 'alice', 'q1')$$);
DROP TRIGGER t_args ON app.bad;
CREATE TRIGGER t_col AFTER INSERT OR UPDATE ON app.bad FOR EACH ROW
	EXECUTE FUNCTION credits.unlock_trigger('org_id', 'member_id', 'missing');
SELECT pg_temp.err($$INSERT INTO app.bad VALUES ('a1', 'alice', 'q1')$$);
DROP TRIGGER t_col ON app.bad;
CREATE TRIGGER t_type AFTER INSERT OR UPDATE ON app.bad FOR EACH ROW
	EXECUTE FUNCTION credits.unlock_trigger('org_id', 'member_id', 'score');
SELECT pg_temp.err($$INSERT INTO app.bad VALUES ('a1', 'alice', 'q1', 1.5)$$);
DROP TRIGGER t_type ON app.bad;
SELECT pg_temp.err($$SELECT credits.unlock_trigger()$$);
-- a trigger must fire on INSERT and UPDATE (an UPDATE of the prospect
-- unlocks it), on every UPDATE of the columns it reads, and not on DELETE
DELETE FROM app.bad;
ALTER TABLE app.bad ADD COLUMN source text;
CREATE TRIGGER t_insert AFTER INSERT ON app.bad FOR EACH ROW
	EXECUTE FUNCTION credits.unlock_trigger('org_id', 'member_id', 'prospect_id');
SELECT pg_temp.err($$INSERT INTO app.bad VALUES ('a1', 'alice', 'q1')$$);
DROP TRIGGER t_insert ON app.bad;
CREATE TRIGGER t_all AFTER INSERT OR UPDATE OR DELETE ON app.bad FOR EACH ROW
	EXECUTE FUNCTION credits.unlock_trigger('org_id', 'member_id', 'prospect_id');
SELECT pg_temp.err($$INSERT INTO app.bad VALUES ('a1', 'alice', 'q1')$$);
DROP TRIGGER t_all ON app.bad;
-- nor for some UPDATEs only (UPDATE OF: PostgreSQL does not fire it for a
-- column only a BEFORE trigger changed), nor for some rows, nor deferred
CREATE TRIGGER t_of AFTER INSERT OR UPDATE OF prospect_id, source, org_id ON app.bad FOR EACH ROW
	EXECUTE FUNCTION credits.unlock_trigger('org_id', 'member_id', 'prospect_id', 'source', 'upload');
SELECT pg_temp.err($$INSERT INTO app.bad VALUES ('a1', 'alice', 'q1')$$);
DROP TRIGGER t_of ON app.bad;
CREATE TRIGGER t_when AFTER INSERT OR UPDATE ON app.bad FOR EACH ROW
	WHEN (NEW.source IS DISTINCT FROM 'skip')
	EXECUTE FUNCTION credits.unlock_trigger('org_id', 'member_id', 'prospect_id');
SELECT pg_temp.err($$INSERT INTO app.bad VALUES ('a1', 'alice', 'q1')$$);
DROP TRIGGER t_when ON app.bad;
CREATE CONSTRAINT TRIGGER t_deferred AFTER INSERT OR UPDATE ON app.bad
	DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
	EXECUTE FUNCTION credits.unlock_trigger('org_id', 'member_id', 'prospect_id');
BEGIN;
INSERT INTO app.bad VALUES ('a1', 'alice', 'q1');
SELECT pg_temp.err($$SET CONSTRAINTS ALL IMMEDIATE$$);
ROLLBACK;
DROP TRIGGER t_deferred ON app.bad;
SELECT count(*) AS rows_left FROM app.bad;

-- A partitioned app table: PostgreSQL runs an UPDATE that moves a row to
-- another partition as a delete and an insert, and the trigger sees an
-- insert.  Free while the prospect is unlocked, as it usually is; a
-- refunded prospect's row is charged when it moves (README)
INSERT INTO orgs (org, cycle, plan_credits) VALUES ('pa', 'R/2026-01-01/P1M', 10);
INSERT INTO members (org, member) VALUES ('pa', 'alice'), ('pa', 'bob');
CREATE TABLE app.parted (campaign int, org_id text, added_by text, prospect_id text,
	source text) PARTITION BY LIST (campaign);
CREATE TABLE app.parted_1 PARTITION OF app.parted FOR VALUES IN (1);
CREATE TABLE app.parted_2 PARTITION OF app.parted FOR VALUES IN (2);
SELECT attach_unlock_trigger('app.parted', 'org_id', 'added_by', 'prospect_id',
							 'source', 'upload');
INSERT INTO app.parted VALUES (1, 'pa', 'bob', 'x', NULL), (1, 'pa', 'alice', 'y', NULL);
SELECT * FROM pg_temp.state('pa');
UPDATE app.parted SET campaign = 2;
SELECT * FROM pg_temp.state('pa');
SELECT refund('pa', 'x');
UPDATE app.parted SET campaign = 1 WHERE prospect_id = 'x';
SELECT * FROM pg_temp.state('pa');

-- Tables that inherit from an app table do not fire its triggers: the
-- attach warns, naming each descendant no unlock trigger of its own covers
CREATE TABLE app.inh (org_id text, added_by text, prospect_id text);
CREATE TABLE app.inh_a () INHERITS (app.inh);
CREATE TABLE app.inh_b () INHERITS (app.inh);
CREATE TABLE app.inh_a1 () INHERITS (app.inh_a);
SELECT attach_unlock_trigger('app.inh', 'org_id', 'added_by', 'prospect_id');
INSERT INTO app.inh_a1 VALUES ('pa', 'bob', 'i1');
SELECT is_unlocked('pa', 'i1') AS child_row_charged;
-- a table without children attaches quietly; a parent whose children are
-- all covered too
SELECT attach_unlock_trigger('app.inh_a1', 'org_id', 'added_by', 'prospect_id');
SELECT attach_unlock_trigger('app.inh_b', 'org_id', 'added_by', 'prospect_id');
SELECT attach_unlock_trigger('app.inh_a', 'org_id', 'added_by', 'prospect_id');
DROP TRIGGER credits_charge ON app.inh;
SELECT attach_unlock_trigger('app.inh', 'org_id', 'added_by', 'prospect_id');
INSERT INTO app.inh_a1 VALUES ('pa', 'bob', 'i2');
SELECT is_unlocked('pa', 'i2') AS child_row_charged;
-- a disabled trigger charges nothing
ALTER TABLE app.inh_b DISABLE TRIGGER credits_charge;
DROP TRIGGER credits_charge ON app.inh;
SELECT attach_unlock_trigger('app.inh', 'org_id', 'added_by', 'prospect_id');
SELECT * FROM verify('pa');

SELECT * FROM verify('a1');
DROP SCHEMA app CASCADE;
