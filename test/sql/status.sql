--
-- The status views: what they show, and that they never write
--
\i test/helpers.sql
SET credits.clock = '2026-01-10T00:00:00Z';
INSERT INTO orgs (org, cycle, plan_credits) VALUES ('s', 'R/2026-01-01/P3M', 90), ('empty', 'R/2026-06-01/P1M', 10);
INSERT INTO members (org, member, period_limit) VALUES ('s', 'alice', 10), ('s', 'bob', NULL), ('s', 'carol', 5);
UPDATE members SET active = false WHERE member = 'carol';

-- Before anything has touched the org, the status is already right
SELECT * FROM org_status WHERE org IN ('s', 'empty') ORDER BY org;
SELECT * FROM member_status WHERE org IN ('s', 'empty') ORDER BY org, member;
SELECT count(*) AS grants_created FROM grants WHERE org IN ('s', 'empty');

-- monthly goal = plan credits / active members / months per period
SELECT unlock('s', 'alice', 'p1');
SELECT grant_one_time('s', 'order-1', 7, '2026-02-01T00:00:00Z') IS NOT NULL AS granted,
	grant_one_time('s', 'order-2', 4, '2026-02-01T00:00:00Z') IS NOT NULL AS granted,
	grant_one_time('s', 'order-3', 1000) IS NOT NULL AS granted;
SELECT org, plan_credits, credits_left, used_this_period, active_members, monthly_goal,
	next_expiry, next_expiry_credits FROM org_status WHERE org = 's';
SELECT member, active, period_limit, used_this_period, credits_left, can_spend, monthly_goal
FROM member_status WHERE org = 's' ORDER BY member;
-- a frozen org: nobody can spend
UPDATE orgs SET frozen = true WHERE org = 's';
SELECT member, can_spend FROM member_status WHERE org = 's' ORDER BY member;
UPDATE orgs SET frozen = false WHERE org = 's';

-- No active members: no goal, never an error
UPDATE members SET active = false WHERE org = 's';
SELECT active_members, monthly_goal FROM org_status WHERE org = 's';
UPDATE members SET active = true WHERE org = 's' AND member <> 'carol';

-- The views, balance, is_unlocked and verify never write and take no row
-- locks: they work in a READ ONLY transaction, even at a new period
SET credits.clock = '2026-04-02T00:00:00Z';
BEGIN READ ONLY;
SELECT org, plan_period, credits_left FROM org_status WHERE org IN ('s', 'empty') ORDER BY org;
SELECT count(*) FROM member_status WHERE org IN ('s', 'empty');
SELECT balance('s'), is_unlocked('s', 'p1');
SELECT count(*) FROM verify();
-- what writes is refused there (25006); an unlocked prospect still
-- answers false, which needs no write
SELECT pg_temp.err($$SELECT credits.unlock('s', 'alice', 'new-one')$$);
SELECT pg_temp.err($$SELECT credits.grant_one_time('s', 'ro', 1)$$);
SELECT unlock('s', 'alice', 'p1') AS unlocked_already;
COMMIT;
SELECT count(*) AS plan_grants FROM grants WHERE kind = 'plan' AND org IN ('s', 'empty');

-- usage_period: the usage period containing any instant, for reports
SELECT usage_period('s', '2026-02-15') AS february, usage_period('s', '2025-12-31') AS before_anchor,
	usage_period('s') = period AS now_is_current
FROM org_status WHERE org = 's';
SELECT pg_temp.err(sql) FROM (VALUES
	($$SELECT credits.usage_period('nope')$$),
	($$SELECT credits.usage_period(NULL)$$),
	($$SELECT credits.usage_period('s', 'infinity')$$),
	($$SELECT credits.usage_period('')$$),
	($$SELECT credits.org_status_of('')$$),
	($$SELECT credits.org_status_of('nope')$$)
) v(sql);

-- Filtering on org uses the primary keys, not a scan of all orgs
INSERT INTO orgs (org, cycle, plan_credits)
SELECT 'bulk' || g, 'R/2026-01-01/P1M', 1 FROM generate_series(1, 500) g;
INSERT INTO members (org, member)
SELECT 'bulk' || g, 'm' || k FROM generate_series(1, 500) g, generate_series(1, 4) k;
ANALYZE orgs;
ANALYZE members;
-- (the few usage rows here would be read whole once autovacuum analyzes
-- them, as small tables are: keep the plan what a large table gets)
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT * FROM org_status WHERE org = 's';
EXPLAIN (COSTS OFF) SELECT * FROM member_status WHERE org = 's' AND member = 'bob';
RESET enable_seqscan;

-- org_status_for and member_status_for give the views' rows of one org
SELECT count(*) > 0 AS orgs,
	count(*) FILTER (WHERE NOT EXISTS (
		SELECT 1 FROM credits.org_status_for(v.org) f
		WHERE (f.period, f.plan_period, f.plan_credits, f.credits_left,
			   f.used_this_period, f.active_members, f.monthly_goal,
			   f.next_expiry, f.next_expiry_credits)
			IS NOT DISTINCT FROM
			  (v.period, v.plan_period, v.plan_credits, v.credits_left,
			   v.used_this_period, v.active_members, v.monthly_goal,
			   v.next_expiry, v.next_expiry_credits))) AS differing
FROM credits.org_status v;
SELECT count(*) > 0 AS members,
	count(*) FILTER (WHERE NOT EXISTS (
		SELECT 1 FROM credits.member_status_for(v.org) f
		WHERE f.member = v.member
		  AND (f.active, f.period, f.period_limit, f.used_this_period,
			   f.credits_left, f.can_spend, f.monthly_goal)
			IS NOT DISTINCT FROM
			  (v.active, v.period, v.period_limit, v.used_this_period,
			   v.credits_left, v.can_spend, v.monthly_goal))) AS differing
FROM credits.member_status v;
SELECT (SELECT count(*) FROM credits.org_status_for('no such org')) AS unknown,
	(SELECT count(*) FROM credits.org_status_for(NULL)) AS null_org,
	(SELECT count(*) FROM credits.member_status_for(NULL)) AS null_members;
