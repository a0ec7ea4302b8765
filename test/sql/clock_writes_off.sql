--
-- Writes under an overridden clock need credits.clock_writes (ZC007).
-- Run with credits.clock_writes = off (make installcheck-clock-off).
--
\i test/helpers.sql
SHOW credits.clock_writes;
INSERT INTO orgs (org, cycle, plan_credits) VALUES ('w', 'R/2026-01-01/P1M', 5);
INSERT INTO members (org, member) VALUES ('w', 'alice');

SET credits.clock = '2026-02-01T00:00:00Z';
-- reads are fine
SELECT balance('w'), is_unlocked('w', 'p1');
SELECT org, plan_period FROM org_status WHERE org = 'w';
-- every write is refused
SELECT pg_temp.err(sql) FROM (VALUES
	($$SELECT credits.unlock('w', 'alice', 'p1')$$),
	($$SELECT * FROM credits.unlock_many('w', 'alice', ARRAY['p1'])$$),
	($$INSERT INTO credits.unlocks (org, member, prospect) VALUES ('w', 'alice', 'p1')$$),
	($$SELECT credits.grant_one_time('w', 'r', 1)$$),
	($$SELECT credits.grant_referral('w', 'r')$$),
	($$SELECT credits.adjust('w', 'r', 1, 'n')$$),
	($$SELECT credits.refund('w', 'p1')$$),
	($$SELECT credits.renew_due()$$),
	($$SELECT credits.expire_due()$$),
	($$UPDATE credits.orgs SET plan_credits = 6 WHERE org = 'w'$$),
	($$INSERT INTO credits.members (org, member) VALUES ('w', 'bob')$$),
	($$TRUNCATE credits.members$$),
	($$TRUNCATE credits.orgs CASCADE$$)
) v(sql);
RESET credits.clock;
SELECT unlock('w', 'alice', 'p1');
-- an unlock that writes nothing (the prospect is unlocked) answers, as in
-- a read-only transaction; one that would charge is refused
SET credits.clock = '2026-02-01T00:00:00Z';
SELECT unlock('w', 'bob', 'p1') AS charged;
SELECT pg_temp.err($$SELECT credits.unlock('w', 'alice', 'p2')$$);
-- so does unlock_many of prospects all unlocked; one new one is refused
SELECT * FROM unlock_many('w', 'bob', ARRAY['p1', 'p1']);
SELECT pg_temp.err($$SELECT * FROM credits.unlock_many('w', 'alice', ARRAY['p1', 'p2'])$$);
RESET credits.clock;
SELECT * FROM verify();
