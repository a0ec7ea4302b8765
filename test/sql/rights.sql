--
-- Rights: PUBLIC can do nothing; grant_app_rights and grant_admin_rights
--
\i test/helpers.sql
INSERT INTO orgs (org, cycle, plan_credits) VALUES ('r1', 'R/2020-01-01/P1M', 5);
INSERT INTO members (org, member) VALUES ('r1', 'alice');

CREATE ROLE credits_app_role;
CREATE ROLE credits_admin_role;
CREATE ROLE credits_nobody;
SELECT grant_app_rights('credits_app_role');
SELECT grant_admin_rights('credits_admin_role');
SELECT grant_app_rights('credits_app_role');
SELECT * FROM rights WHERE role_name LIKE 'credits_%' ORDER BY 1, 2;
SELECT pg_temp.err($$SELECT credits.grant_app_rights(NULL)$$);

-- PUBLIC: nothing
SET ROLE credits_nobody;
SELECT pg_temp.err(sql) FROM (VALUES
	($$SELECT credits.unlock('r1', 'alice', 'x')$$),
	($$SELECT * FROM credits.org_status$$),
	($$SELECT * FROM credits.orgs$$),
	($$SELECT credits.balance('r1')$$)
) v(sql);
RESET ROLE;

-- An app: unlocks and status, nothing of the admin's
SET ROLE credits_app_role;
SELECT pg_temp.err(sql) FROM (VALUES
	($$SELECT credits.unlock('r1', 'alice', 'p1')$$),
	($$INSERT INTO credits.unlocks (org, member, prospect) VALUES ('r1', 'alice', 'p2') ON CONFLICT DO NOTHING$$),
	($$SELECT count(*) FROM credits.unlock_many('r1', 'alice', ARRAY['p3'])$$),
	($$SELECT credits.is_unlocked('r1', 'p1')$$),
	($$SELECT credits.balance('r1')$$),
	($$SELECT org, credits_left, monthly_goal FROM credits.org_status WHERE org = 'r1'$$),
	($$SELECT can_spend FROM credits.member_status WHERE org = 'r1'$$),
	($$SELECT * FROM credits.orgs$$),
	($$SELECT * FROM credits.ledger$$),
	($$SELECT credits.grant_one_time('r1', 'x', 5)$$),
	($$SELECT credits.refund('r1', 'p1')$$),
	($$UPDATE credits.orgs SET frozen = true$$)
) v(sql);
RESET ROLE;
-- ... whose statements that charge several rows signal low balance at
-- their end with the extension's rights, not the app's
SELECT grant_one_time('r1', 'for-signal', 2) > 0 AS bought, balance('r1');
UPDATE credits.orgs SET low_balance_threshold = balance('r1') - 2 WHERE org = 'r1';
SELECT armed FROM credits.org_state WHERE org = 'r1';
SET ROLE credits_app_role;
SELECT pg_temp.err($$INSERT INTO credits.unlocks (org, member, prospect) VALUES ('r1', 'alice', 'p4'), ('r1', 'alice', 'p5')$$);
RESET ROLE;
SELECT armed FROM credits.org_state WHERE org = 'r1';
UPDATE credits.orgs SET low_balance_threshold = NULL WHERE org = 'r1';

-- An admin: all of that, plus orgs, members, grants and the admin functions
SET ROLE credits_admin_role;
SELECT pg_temp.err(sql) FROM (VALUES
	($$INSERT INTO credits.orgs (org, cycle, plan_credits) VALUES ('r2', 'R/2020-01-01/P1M', 1)$$),
	($$UPDATE credits.orgs SET plan_credits = 6 WHERE org = 'r1'$$),
	($$INSERT INTO credits.members (org, member) VALUES ('r1', 'bob')$$),
	($$SELECT count(*) FROM credits.grants$$),
	($$SELECT count(*) FROM credits.ledger$$),
	($$SELECT credits.grant_one_time('r1', 'x', 5) > 0$$),
	($$SELECT credits.refund('r1', 'p1')$$),
	($$SELECT credits.adjust('r1', 'a', 1, 'n')$$),
	($$SELECT credits.renew_due() >= 0$$),
	($$SELECT credits.expire_due() >= 0$$),
	($$SELECT count(*) FROM credits.verify()$$),
	($$SELECT credits.unlock('r1', 'bob', 'p9')$$),
	($$UPDATE credits.ledger SET amount = 0$$),
	($$SELECT * FROM credits.grant_left$$)
) v(sql);
RESET ROLE;

SELECT * FROM verify('r1');
DROP OWNED BY credits_app_role, credits_admin_role, credits_nobody;
DROP ROLE credits_app_role, credits_admin_role, credits_nobody;
