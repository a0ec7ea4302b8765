--
-- A hostile search_path changes nothing: tables, functions and operators
-- that shadow names the extension uses, in a schema of the caller's and in
-- pg_temp, are never picked up (writing functions run with search_path =
-- pg_catalog, pg_temp and every statement names its schema).
--
\i test/helpers.sql
INSERT INTO orgs (org, cycle, plan_credits) VALUES ('sp', 'R/2020-01-01/P1M', 10);
INSERT INTO members (org, member) VALUES ('sp', 'm');

CREATE SCHEMA evil;
CREATE TABLE evil.orgs (org text, cycle text, plan_credits bigint);
INSERT INTO evil.orgs VALUES ('sp', 'fake', 1000000);
CREATE TABLE evil.ledger (id bigint);
CREATE FUNCTION evil.nextval(regclass) RETURNS bigint LANGUAGE sql AS 'SELECT 1::bigint';
CREATE FUNCTION evil.greatest_lie(text, text) RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE OPERATOR evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.greatest_lie);
CREATE FUNCTION evil.clock() RETURNS timestamptz LANGUAGE sql AS $$SELECT '1999-01-01'::timestamptz$$;
CREATE TEMP TABLE grant_left (grant_id bigint, amount bigint, remaining bigint);
CREATE TEMP TABLE unlock_rows (org text, prospect text);
INSERT INTO unlock_rows VALUES ('sp', 'p1');

SET search_path = pg_temp, evil, public;
SELECT credits.unlock('sp', 'm', 'p1') AS charged, credits.unlock('sp', 'm', 'p1') AS again,
	credits.unlock('sp', 'm', 'p2') AS charged_too;
SELECT credits.balance('sp'), credits.is_unlocked('sp', 'p1'), credits.is_unlocked('sp', 'nope');
SELECT count(*) FROM unnest(ARRAY(SELECT prospect FROM credits.unlock_many('sp', 'm', ARRAY['p3', 'p1']))) x;
INSERT INTO credits.unlocks (org, member, prospect) VALUES ('sp', 'm', 'p4') ON CONFLICT DO NOTHING;
SELECT credits.refund('sp', 'p4');
SELECT credits.grant_one_time('sp', 'o1', 5) > 0 AS granted;
SELECT plan_credits, credits_left, used_this_period FROM credits.org_status WHERE org = 'sp';
SELECT l.kind, l.amount, l.prospect FROM credits.ledger l WHERE l.org OPERATOR(pg_catalog.=) 'sp' ORDER BY l.id;
SELECT count(*) AS problems FROM credits.verify('sp');
RESET search_path;

-- ... nor with the caller's operators ahead of pg_catalog's: a statement
-- that charges several rows is signalled at its end, with the extension's
-- search_path (evil.= would make the state row update hit every org)
INSERT INTO credits.orgs (org, cycle, plan_credits, low_balance_threshold)
VALUES ('spa', 'R/2020-01-01/P1M', 3, 1), ('spb', 'R/2020-01-01/P1M', 100, 1);
INSERT INTO credits.members (org, member) VALUES ('spa', 'm'), ('spb', 'm');
SELECT credits.unlock('spb', 'm', 'x');
SET search_path = evil, pg_catalog, public;
INSERT INTO credits.unlocks (org, member, prospect) VALUES ('spa', 'm', 'a1'), ('spa', 'm', 'a2');
RESET search_path;
SELECT org, armed FROM credits.org_state WHERE org IN ('spa', 'spb') ORDER BY org;
DROP SCHEMA evil CASCADE;

-- The extension script binds no operator of the installer's schema: in
-- operators planted before CREATE EXTENSION that would beat pg_catalog's
-- for the script's views, index predicates, constraints and trigger
-- conditions (an enum against a literal, numeric by integer, ...), none is
-- used.  Run in a transaction that is rolled back.
BEGIN;
SET client_min_messages = warning;
DROP EXTENSION credits CASCADE;
RESET client_min_messages;
CREATE SCHEMA trap;
DO $$
DECLARE
	op text;
	l text;
	r text;
	n int := 0;
BEGIN
	FOREACH op IN ARRAY ARRAY['=', '<>', '<', '<=', '>', '>='] LOOP
		FOREACH l IN ARRAY ARRAY['anyenum', 'text', 'numeric', 'integer', 'bigint', 'timestamptz'] LOOP
			FOREACH r IN ARRAY ARRAY['anyenum', 'text', 'numeric', 'integer', 'bigint', 'timestamptz'] LOOP
				CONTINUE WHEN r = 'anyenum' AND l <> 'anyenum';
				n := n + 1;
				EXECUTE format('CREATE FUNCTION trap.f%s(%s, %s) RETURNS boolean LANGUAGE sql AS %L',
							   n, l, r, 'SELECT true');
				EXECUTE format('CREATE OPERATOR trap.%s (LEFTARG = %s, RIGHTARG = %s, FUNCTION = trap.f%s)',
							   op, l, r, n);
			END LOOP;
		END LOOP;
	END LOOP;
	FOREACH op IN ARRAY ARRAY['+', '-', '*', '/'] LOOP
		FOREACH l IN ARRAY ARRAY['numeric', 'integer', 'bigint'] LOOP
			FOREACH r IN ARRAY ARRAY['numeric', 'integer', 'bigint'] LOOP
				n := n + 1;
				EXECUTE format('CREATE FUNCTION trap.f%s(%s, %s) RETURNS numeric LANGUAGE sql AS %L',
							   n, l, r, 'SELECT 42::numeric');
				EXECUTE format('CREATE OPERATOR trap.%s (LEFTARG = %s, RIGHTARG = %s, FUNCTION = trap.f%s)',
							   op, l, r, n);
			END LOOP;
		END LOOP;
	END LOOP;
END
$$;
SET search_path = trap;
CREATE EXTENSION credits;
RESET search_path;
SELECT pg_catalog.pg_describe_object(d.classid, d.objid, d.objsubid) AS uses_a_planted_operator
FROM pg_catalog.pg_depend d
JOIN pg_catalog.pg_operator o ON d.refclassid = 'pg_catalog.pg_operator'::pg_catalog.regclass
	AND d.refobjid = o.oid
WHERE o.oprnamespace = 'trap'::pg_catalog.regnamespace
ORDER BY 1;
ROLLBACK;

-- The extension is recorded in pg_catalog whatever the search_path was at
-- CREATE EXTENSION: the owner of a schema on it (public, say) cannot drop
-- the extension and its ledger with DROP SCHEMA ... CASCADE
SELECT extnamespace::regnamespace AS recorded_in,
	(SELECT count(*) FROM pg_depend d
	 WHERE d.classid = 'pg_extension'::regclass AND d.objid = e.oid
	   AND d.refclassid = 'pg_namespace'::regclass) AS schema_dependencies
FROM pg_extension e WHERE e.extname = 'credits';
