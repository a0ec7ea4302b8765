--
-- upsert_org and upsert_member: the function forms of the admin's INSERT
-- and UPDATE, with the same triggers and errors
--
\i test/helpers.sql
SET credits.clock = '2026-01-15T10:00:00Z';

-- created, then the same values again change nothing
SELECT upsert_org('ups1', 'R/2026-01-01/P1M', 100);
SELECT upsert_org('ups1', 'R/2026-01-01/P1M', 100);
SELECT org, cycle, plan_credits, low_balance_threshold, frozen, created_at
FROM orgs WHERE org = 'ups1';
SELECT upsert_member('ups1', 'alice');
SELECT upsert_member('ups1', 'alice');
SELECT upsert_member('ups1', 'bob', 1);
SELECT * FROM members WHERE org = 'ups1' ORDER BY member;
SELECT unlock('ups1', 'bob', 'p1');

-- an upgrade through upsert_org tops the period up as UPDATE does
SELECT upsert_org('ups1', 'R/2026-01-01/P1M', 150, 10);
SELECT plan_credits, credits_left FROM org_status WHERE org = 'ups1';
SELECT low_balance_threshold FROM orgs WHERE org = 'ups1';
SELECT kind, amount, note FROM ledger WHERE org = 'ups1' ORDER BY id;

-- a member's limit and active flag; omitted arguments take the defaults
SELECT pg_temp.err($$SELECT credits.unlock('ups1', 'bob', 'p2')$$);
SELECT upsert_member('ups1', 'bob', 2);
SELECT unlock('ups1', 'bob', 'p2');
SELECT upsert_member('ups1', 'bob', NULL, false);
SELECT pg_temp.err($$SELECT credits.unlock('ups1', 'bob', 'p3')$$);
SELECT upsert_member('ups1', 'bob');
SELECT * FROM members WHERE org = 'ups1' ORDER BY member;

-- frozen, and back
SELECT upsert_org('ups1', 'R/2026-01-01/P1M', 150, 10, true);
SELECT pg_temp.err($$SELECT credits.unlock('ups1', 'alice', 'p4')$$);
SELECT upsert_org('ups1', 'R/2026-01-01/P1M', 150, 10);
SELECT unlock('ups1', 'alice', 'p4');

-- a cycle change restarts the plan, as UPDATE does
SET credits.clock = '2026-01-20T00:00:00Z';
SELECT upsert_org('ups1', 'R/2026-01-20/P1M', 50, 10);
SELECT plan_period, plan_credits, credits_left FROM org_status WHERE org = 'ups1';

-- errors are the table's, and a failed call writes nothing
SELECT pg_temp.err(sql) FROM (VALUES
	($$SELECT credits.upsert_org(NULL, 'R/2026-01-01/P1M', 1)$$),
	($$SELECT credits.upsert_org('', 'R/2026-01-01/P1M', 1)$$),
	($$SELECT credits.upsert_org('ups2', NULL, 1)$$),
	($$SELECT credits.upsert_org('ups2', 'R/2026-01-01/P1M', NULL)$$),
	($$SELECT credits.upsert_org('ups2', 'R/2026-01-01/P1M', -1)$$),
	($$SELECT credits.upsert_org('ups2', 'R/2026-01-01/P1M', 1, -1)$$),
	($$SELECT credits.upsert_org('ups2', 'R/2026-01-01/P1M', 1, NULL, NULL)$$),
	($$SELECT credits.upsert_org('ups1', 'R/2026-01-01/P1M', -5)$$),
	($$SELECT credits.upsert_member('nobody', 'alice')$$),
	($$SELECT credits.upsert_member('ups1', NULL)$$),
	($$SELECT credits.upsert_member('ups1', 'carol', -1)$$),
	($$SELECT credits.upsert_member('ups1', 'carol', NULL, NULL)$$)
) AS t(sql);
SELECT count(*) AS orgs FROM orgs WHERE org LIKE 'ups%';
SELECT count(*) AS members FROM members WHERE org LIKE 'ups%';
SELECT plan_credits FROM orgs WHERE org = 'ups1';
SELECT * FROM verify();
