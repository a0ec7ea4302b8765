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
-- a regrole made from a number that is no role's
SELECT pg_temp.err($$SELECT credits.grant_app_rights(1::oid::regrole)$$);
SELECT pg_temp.err($$SELECT credits.grant_admin_rights(0::oid::regrole)$$);
-- a role whose quoted name does not fit credits.rights' name column
CREATE ROLE "Credits role, a name that needs quotes when written: 62 bytes!";
SELECT pg_temp.err($$SELECT credits.grant_app_rights('"Credits role, a name that needs quotes when written: 62 bytes!"')$$);
DROP ROLE "Credits role, a name that needs quotes when written: 62 bytes!";

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

-- The default privileges of the role that creates the extension give
-- nobody anything on it: only the owner's own rights are kept, and
-- recorded as the initial ones
BEGIN;
SET LOCAL client_min_messages = warning;
DROP EXTENSION credits CASCADE;
ALTER DEFAULT PRIVILEGES GRANT ALL ON TABLES TO PUBLIC, credits_nobody;
ALTER DEFAULT PRIVILEGES GRANT ALL ON SEQUENCES TO PUBLIC, credits_nobody;
ALTER DEFAULT PRIVILEGES GRANT ALL ON FUNCTIONS TO credits_nobody;
ALTER DEFAULT PRIVILEGES GRANT ALL ON TYPES TO credits_nobody;
ALTER DEFAULT PRIVILEGES GRANT ALL ON SCHEMAS TO PUBLIC, credits_nobody;
CREATE EXTENSION credits;
CREATE TEMP VIEW member_acl AS
	SELECT d.classid::regclass AS catalog, d.objid, o.owner, o.acl
	FROM pg_depend d
	JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'credits'
	CROSS JOIN LATERAL (
		SELECT c.relowner, c.relacl FROM pg_class c
		WHERE d.classid = 'pg_class'::regclass AND c.oid = d.objid
		UNION ALL
		SELECT p.proowner, p.proacl FROM pg_proc p
		WHERE d.classid = 'pg_proc'::regclass AND p.oid = d.objid
		UNION ALL
		SELECT t.typowner, t.typacl FROM pg_type t
		WHERE d.classid = 'pg_type'::regclass AND t.oid = d.objid
		UNION ALL
		SELECT n.nspowner, n.nspacl FROM pg_namespace n
		WHERE d.classid = 'pg_namespace'::regclass AND n.oid = d.objid) AS o(owner, acl)
	WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e';
SELECT catalog, count(*) AS objects,
	count(*) FILTER (WHERE EXISTS (SELECT FROM aclexplode(acl) a
								   WHERE a.grantee <> owner)) AS with_others_rights
FROM member_acl GROUP BY catalog ORDER BY catalog::text;
SELECT count(*) AS initial_rights_of_others
FROM pg_init_privs ip, aclexplode(ip.initprivs) a, member_acl m
WHERE ip.classoid = m.catalog AND ip.objoid = m.objid AND a.grantee <> m.owner;
SET ROLE credits_nobody;
SELECT pg_temp.err(sql) FROM (VALUES
	($$SELECT count(*) FROM credits.orgs$$),
	($$INSERT INTO credits.unlock_rows VALUES ('r1', 'free', 'alice', now(), now(), 0, 'unlock')$$),
	($$SELECT credits.adjust('r1', 'x', 5, 'n')$$)
) v(sql);
RESET ROLE;
ROLLBACK;

DROP OWNED BY credits_app_role, credits_admin_role, credits_nobody;
DROP ROLE credits_app_role, credits_admin_role, credits_nobody;
