--
-- upsert_org and upsert_member: the function forms of the admin's INSERT
-- and UPDATE, with the same triggers and errors
--
\i test/helpers.sql
SET credits.clock = '2026-01-15T10:00:00Z';

-- created, then the same values again change nothing
SELECT upsert_org('ups1', 'R/2026-01-01/P1M', 100, NULL, false);
SELECT upsert_org('ups1', 'R/2026-01-01/P1M', 100, NULL, false);
SELECT org, cycle, plan_credits, low_balance_threshold, frozen, created_at
FROM orgs WHERE org = 'ups1';
SELECT upsert_member('ups1', 'alice', NULL, true);
SELECT upsert_member('ups1', 'alice', NULL, true);
SELECT upsert_member('ups1', 'bob', 1, true);
SELECT * FROM members WHERE org = 'ups1' ORDER BY member;
SELECT unlock('ups1', 'bob', 'p1');

-- an upgrade through upsert_org tops the period up as UPDATE does
SELECT upsert_org('ups1', 'R/2026-01-01/P1M', 150, 10, false);
SELECT plan_credits, credits_left FROM org_status WHERE org = 'ups1';
SELECT low_balance_threshold FROM orgs WHERE org = 'ups1';
SELECT kind, amount, note FROM ledger WHERE org = 'ups1' ORDER BY id;

-- a member's limit and active flag
SELECT pg_temp.err($$SELECT credits.unlock('ups1', 'bob', 'p2')$$);
SELECT upsert_member('ups1', 'bob', 2, true);
SELECT unlock('ups1', 'bob', 'p2');
SELECT upsert_member('ups1', 'bob', NULL, false);
SELECT pg_temp.err($$SELECT credits.unlock('ups1', 'bob', 'p3')$$);
SELECT upsert_member('ups1', 'bob', NULL, true);
SELECT * FROM members WHERE org = 'ups1' ORDER BY member;

-- frozen, and back
SELECT upsert_org('ups1', 'R/2026-01-01/P1M', 150, 10, true);
SELECT pg_temp.err($$SELECT credits.unlock('ups1', 'alice', 'p4')$$);
SELECT upsert_org('ups1', 'R/2026-01-01/P1M', 150, 10, false);
SELECT unlock('ups1', 'alice', 'p4');

-- a cycle change restarts the plan, as UPDATE does
SET credits.clock = '2026-01-20T00:00:00Z';
SELECT upsert_org('ups1', 'R/2026-01-20/P1M', 50, 10, false);
SELECT plan_period, plan_credits, credits_left FROM org_status WHERE org = 'ups1';

-- errors are the table's, and a failed call writes nothing
SELECT pg_temp.err(sql) FROM (VALUES
	($$SELECT credits.upsert_org(NULL, 'R/2026-01-01/P1M', 1, NULL, false)$$),
	($$SELECT credits.upsert_org('', 'R/2026-01-01/P1M', 1, NULL, false)$$),
	($$SELECT credits.upsert_org('ups2', NULL, 1, NULL, false)$$),
	($$SELECT credits.upsert_org('ups2', 'R/2026-01-01/P1M', NULL, NULL, false)$$),
	($$SELECT credits.upsert_org('ups2', 'R/2026-01-01/P1M', -1, NULL, false)$$),
	($$SELECT credits.upsert_org('ups2', 'R/2026-01-01/P1M', 1, -1, false)$$),
	($$SELECT credits.upsert_org('ups2', 'R/2026-01-01/P1M', 1, NULL, NULL)$$),
	($$SELECT credits.upsert_org('ups1', 'R/2026-01-01/P1M', -5, NULL, false)$$),
	($$SELECT credits.upsert_member('nobody', 'alice', NULL, true)$$),
	($$SELECT credits.upsert_member('ups1', NULL, NULL, true)$$),
	($$SELECT credits.upsert_member('ups1', 'carol', -1, true)$$),
	($$SELECT credits.upsert_member('ups1', 'carol', NULL, NULL)$$),
	($$SELECT credits.delete_org(NULL)$$),
	($$SELECT credits.delete_member('ups1', NULL)$$),
	($$SELECT credits.delete_org('')$$),
	($$SELECT credits.delete_member('ups1', repeat('m', 257))$$)
) AS t(sql);
SELECT count(*) AS orgs FROM orgs WHERE org LIKE 'ups%';
SELECT count(*) AS members FROM members WHERE org LIKE 'ups%';
SELECT plan_credits FROM orgs WHERE org = 'ups1';
SELECT * FROM verify() WHERE org LIKE 'ups%';

-- an admin role passes the cycle as a parameter cast from text, as a
-- client with bound parameters (or a PL/Proxy router) does
CREATE ROLE regress_credits_upsert_admin;
SELECT credits.grant_admin_rights('regress_credits_upsert_admin');
SET ROLE regress_credits_upsert_admin;
PREPARE ups(text) AS SELECT credits.upsert_org('ups3', $1::credits.cycle, 5, NULL, false);
EXECUTE ups('R/2026-01-01/P1M');
SELECT cycle::text FROM credits.orgs WHERE org = 'ups3';
DEALLOCATE ups;
RESET ROLE;
DELETE FROM credits.rights WHERE role_name = 'regress_credits_upsert_admin';
DROP OWNED BY regress_credits_upsert_admin;
DROP ROLE regress_credits_upsert_admin;

-- delete_org and delete_member: DELETE as functions
SELECT upsert_org('ups4', 'R/2026-01-01/P1M', 5, NULL, false);
SELECT upsert_member('ups4', 'dora', NULL, true);
SELECT delete_org('ups4');
SELECT delete_org('ups4');
SELECT count(*) AS members_left FROM members WHERE org = 'ups4';
SELECT delete_member('ups1', 'bob');
SELECT delete_member('ups1', 'bob');
SELECT member FROM members WHERE org = 'ups1' ORDER BY member;
SELECT pg_temp.err(sql) FROM (VALUES
	($$SELECT credits.delete_org('ups1')$$),
	($$SELECT credits.delete_org(NULL)$$),
	($$SELECT credits.delete_member(NULL, 'bob')$$),
	($$SELECT credits.delete_member('ups1', NULL)$$)
) AS t(sql);
SELECT count(*) AS ups1_kept FROM orgs WHERE org = 'ups1';
