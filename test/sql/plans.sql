--
-- Plans and periods: refills, no rollover, annual plans, contracts,
-- upgrades, downgrades, cycle changes, renewal and expiry.  Time is driven
-- with credits.clock.
--
\i test/helpers.sql

--
-- Monthly plan: credits from the period start, refilled each period,
-- unused credits never roll over; periods on the sign-up day, clamped
--
SET credits.clock = '2026-01-31T09:00:00Z';
INSERT INTO orgs (org, cycle, plan_credits) VALUES ('m', 'R/2026-01-31T09:00/P1M', 3);
INSERT INTO members (org, member) VALUES ('m', 'alice');
SELECT balance('m');
SELECT unlock('m', 'alice', 'a1');
SELECT balance('m');
-- the day before the period ends: 2 left, and they will not roll over
SET credits.clock = '2026-02-28T08:59:59Z';
SELECT balance('m'), period, plan_period FROM org_status WHERE org = 'm';
-- period 1 starts on February 28th (clamped), with a fresh 3
SET credits.clock = '2026-02-28T09:00:00Z';
SELECT balance('m'), period, plan_period, next_expiry FROM org_status WHERE org = 'm';
SELECT unlock('m', 'alice', 'a2'), unlock('m', 'alice', 'a3'),
	unlock('m', 'alice', 'a4');
SELECT pg_temp.err($$SELECT credits.unlock('m', 'alice', 'a5')$$);
-- and on March 31st, 3 again (no accumulated clamping)
SET credits.clock = '2026-03-31T09:00:00Z';
SELECT balance('m'), plan_period FROM org_status WHERE org = 'm';
-- an expired credit is never spendable, whether or not expire_due ran:
-- the January grant still shows 2 remaining but counts for nothing
SELECT kind, amount, remaining, starts_at, expires_at FROM grants WHERE org = 'm' ORDER BY id;
SELECT expire_due();
SELECT l.kind, l.amount, l.at, g.starts_at AS grant_start
FROM ledger l JOIN grants g ON g.id = l.grant_id
WHERE l.org = 'm' AND l.kind = 'expire' ORDER BY l.id;
SELECT expire_due();

--
-- Annual plan: the year's credits upfront, renewed on the anniversary
-- (February 29th renews on February 28th)
--
SET credits.clock = '2024-02-29T12:00:00Z';
INSERT INTO orgs (org, cycle, plan_credits) VALUES ('y', 'R/2024-02-29/P1Y', 120);
INSERT INTO members (org, member) VALUES ('y', 'alice');
SELECT unlock('y', 'alice', 'p' || g) FROM generate_series(1, 3) g;
SET credits.clock = '2025-02-27T23:59:59Z';
SELECT balance('y'), plan_period, monthly_goal FROM org_status WHERE org = 'y';
SET credits.clock = '2025-02-28T00:00:00Z';
SELECT balance('y'), plan_period FROM org_status WHERE org = 'y';
SET credits.clock = '2028-02-29T00:00:00Z';
SELECT balance('y'), plan_period FROM org_status WHERE org = 'y';

--
-- R<n> contracts: no plan credits after the contract, but usage periods go on
--
SET credits.clock = '2026-01-01T00:00:00Z';
INSERT INTO orgs (org, cycle, plan_credits) VALUES ('r', 'R2/2026-01-01/P1M', 10);
INSERT INTO members (org, member, period_limit) VALUES ('r', 'alice', 1);
SELECT unlock('r', 'alice', 'x1');
SET credits.clock = '2026-03-01T00:00:00Z';
SELECT period, plan_period, plan_credits, credits_left, monthly_goal FROM org_status WHERE org = 'r';
SELECT pg_temp.err($$SELECT credits.unlock('r', 'alice', 'x2')$$);
SELECT grant_one_time('r', 'after-contract', 5) IS NOT NULL AS granted;
SELECT unlock('r', 'alice', 'x2');
-- the member's limit still resets with each (extended) usage period
SELECT pg_temp.err($$SELECT credits.unlock('r', 'alice', 'x3')$$);
SET credits.clock = '2026-04-01T00:00:00Z';
SELECT unlock('r', 'alice', 'x3');
-- before the anchor: no plan period, usage periods extend backwards
SET credits.clock = '2025-12-15T00:00:00Z';
SELECT period, plan_period, plan_credits FROM org_status WHERE org = 'r';
SET credits.clock = '2026-04-01T00:00:00Z';

--
-- Per-member limit, reset each period; lowering it below the usage is allowed
--
SET credits.clock = '2026-01-10T00:00:00Z';
INSERT INTO orgs (org, cycle, plan_credits) VALUES ('l', 'R/2026-01-01/P1M', 100);
INSERT INTO members (org, member, period_limit) VALUES ('l', 'alice', 2), ('l', 'bob', NULL);
SELECT unlock('l', 'alice', 'a'), unlock('l', 'alice', 'b');
SELECT pg_temp.err($$SELECT credits.unlock('l', 'alice', 'c')$$);
SELECT unlock('l', 'bob', 'c');
UPDATE members SET period_limit = 1 WHERE org = 'l' AND member = 'alice';
SELECT member, period_limit, used_this_period, can_spend FROM member_status WHERE org = 'l' ORDER BY member;
SET credits.clock = '2026-02-01T00:00:00Z';
SELECT member, used_this_period, can_spend FROM member_status WHERE org = 'l' ORDER BY member;
SELECT unlock('l', 'alice', 'd');

--
-- Upgrades top up the current period at once; other changes wait for the
-- next period.  100 -> 200 -> 150 -> 250 holds 250; 100 -> 0 -> 100 holds 100
--
SET credits.clock = '2026-01-10T00:00:00Z';
INSERT INTO orgs (org, cycle, plan_credits) VALUES ('up', 'R/2026-01-01/P1M', 100), ('dn', 'R/2026-01-01/P1M', 100);
UPDATE orgs SET plan_credits = 200 WHERE org = 'up';
SELECT plan_credits, credits_left FROM org_status WHERE org = 'up';
UPDATE orgs SET plan_credits = 150 WHERE org = 'up';
SELECT plan_credits, credits_left FROM org_status WHERE org = 'up';
UPDATE orgs SET plan_credits = 250 WHERE org = 'up';
SELECT plan_credits, credits_left FROM org_status WHERE org = 'up';
SELECT kind, amount, note FROM ledger WHERE org = 'up' ORDER BY id;
UPDATE orgs SET plan_credits = 0 WHERE org = 'dn';
UPDATE orgs SET plan_credits = 100 WHERE org = 'dn';
SELECT org, plan_credits, credits_left FROM org_status WHERE org = 'dn';
SELECT (SELECT count(*) FROM grants WHERE org = 'dn') AS dn_grants_created;
-- the downgrade applies from the next period
UPDATE orgs SET plan_credits = 150 WHERE org = 'up';
SET credits.clock = '2026-02-01T00:00:00Z';
SELECT org, plan_credits, credits_left FROM org_status WHERE org IN ('up', 'dn') ORDER BY org;

-- an org inserted mid-period gets the full value, without proration
SET credits.clock = '2026-02-27T00:00:00Z';
INSERT INTO orgs (org, cycle, plan_credits) VALUES ('mid', 'R/2026-01-01/P1M', 30);
SELECT plan_period, plan_credits, credits_left FROM org_status WHERE org = 'mid';

--
-- Cycle change: same ranges change nothing; otherwise the plan restarts
--
SET credits.clock = '2026-01-10T00:00:00Z';
INSERT INTO orgs (org, cycle, plan_credits) VALUES ('c', 'R12/2026-01-01/P1M', 10);
INSERT INTO members (org, member, period_limit) VALUES ('c', 'alice', 3);
SELECT unlock('c', 'alice', 'c1'), unlock('c', 'alice', 'c2');
UPDATE orgs SET cycle = 'R24/2026-01-01/P1M' WHERE org = 'c';
SELECT period, plan_period, credits_left, used_this_period FROM org_status WHERE org = 'c';
-- a real change at the clock: the old plan grant ends now, the new
-- period is cut to start now, usage starts afresh
SET credits.clock = '2026-01-20T12:00:00Z';
UPDATE orgs SET cycle = 'R/2026-03-05/P1M' WHERE org = 'c';
SELECT period, plan_period, plan_credits, credits_left, used_this_period FROM org_status WHERE org = 'c';
SET credits.clock = '2026-03-05T00:00:00Z';
SELECT period, plan_period, plan_credits, credits_left FROM org_status WHERE org = 'c';
SELECT unlock('c', 'alice', 'c3');
SET credits.clock = '2026-03-10T00:00:00Z';
UPDATE orgs SET cycle = 'R/2026-01-10/P1Y', plan_credits = 50 WHERE org = 'c';
SELECT period, plan_period, plan_credits, credits_left, used_this_period FROM org_status WHERE org = 'c';
SELECT kind, amount, at, note FROM ledger WHERE org = 'c' ORDER BY id;
-- a downgrade at the same instant, after the restart, waits for the next
-- period; the next period gets it
UPDATE orgs SET plan_credits = 20 WHERE org = 'c';
SELECT plan_period, plan_credits, credits_left FROM org_status WHERE org = 'c';
SET credits.clock = '2027-01-10T00:00:00Z';
SELECT plan_period, plan_credits, credits_left FROM org_status WHERE org = 'c';

-- A charge at the very instant of a restart counts in the usage period
-- the restart starts, which holds its unlocked_at
SET credits.clock = '2026-04-05T00:00:00Z';
INSERT INTO orgs (org, cycle, plan_credits) VALUES ('same', 'R/2026-01-01/P1M', 10);
INSERT INTO members (org, member, period_limit) VALUES ('same', 'alice', 2);
SELECT unlock('same', 'alice', 's0');
SET credits.clock = '2026-04-10T00:00:00Z';
BEGIN;
SELECT unlock('same', 'alice', 's1');
UPDATE orgs SET cycle = 'R/2026-01-07/P1M' WHERE org = 'same';
COMMIT;
SELECT period, used_this_period,
	(SELECT count(*) FROM unlocks u WHERE u.org = o.org AND u.unlocked_at <@ o.period) AS unlocks_in_period
FROM org_status o WHERE org = 'same';
SELECT member, period_start, used FROM usage WHERE org = 'same' ORDER BY period_start;
-- the limit of 2 leaves room for one more in the new period
SELECT unlock('same', 'alice', 's2');
SELECT pg_temp.err($$SELECT credits.unlock('same', 'alice', 's3')$$);
-- and a refund gives the credit back to the period of its unlocked_at
SELECT refund('same', 's1');
SELECT member, period_start, used FROM usage WHERE org = 'same' ORDER BY period_start;
SELECT * FROM verify('same');

-- A cycle change whose statement also rolls a subtransaction back (which
-- empties the cache of orgs) still restarts the plan: the change reads
-- the org as it was from the trigger's old row
SET credits.clock = '2026-05-10T00:00:00Z';
INSERT INTO orgs (org, cycle, plan_credits) VALUES ('ra', 'R/2026-01-01/P1M', 10);
INSERT INTO orgs (org, cycle, plan_credits) VALUES ('rb', 'R/2026-01-01/P1M', 10);
INSERT INTO members (org, member) VALUES ('ra', 'alice');
SELECT unlock('ra', 'alice', 'r1');
CREATE FUNCTION pg_temp.try_unlock() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	PERFORM credits.unlock('rb', 'nobody', 'x');
	RETURN false;
EXCEPTION WHEN others THEN
	RETURN false;
END
$$;
UPDATE orgs SET cycle = 'R/2026-01-20/P1M'
WHERE org = 'ra' OR (org = 'rb' AND pg_temp.try_unlock());
SELECT plan_period, plan_credits, credits_left FROM org_status WHERE org = 'ra';
SELECT kind, amount, at, note FROM ledger WHERE org = 'ra' ORDER BY id;
-- ... and an org its statement is changing cannot be charged in it (55000),
-- after such a rollback, or after an UPDATE of another org nested in it
CREATE FUNCTION pg_temp.try_then_charge() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_temp.try_unlock();
	PERFORM credits.unlock('ra', 'alice', 'r2');
	RETURN false;
END
$$;
CREATE FUNCTION pg_temp.nested_then_charge() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	UPDATE credits.orgs SET frozen = frozen WHERE org = 'rb';
	PERFORM credits.unlock('ra', 'alice', 'r2');
	RETURN false;
END
$$;
SELECT pg_temp.err($$UPDATE credits.orgs SET cycle = 'R/2026-01-25/P1M'
	WHERE org = 'ra' OR (org = 'rb' AND pg_temp.try_then_charge())$$);
SELECT pg_temp.err($$UPDATE credits.orgs SET cycle = 'R/2026-01-25/P1M'
	WHERE org = 'ra' OR (org = 'rb' AND pg_temp.nested_then_charge())$$);
-- (also with the org cached by the transaction, its lock taken already)
CREATE FUNCTION pg_temp.noop() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	PERFORM 1;
	RETURN true;
END
$$;
BEGIN;
SELECT unlock('ra', 'alice', 'w0');
SELECT pg_temp.err($$UPDATE credits.orgs SET cycle = 'R/2026-01-25/P1M'
	WHERE (org = 'ra' AND pg_temp.noop()) OR (org = 'rb' AND pg_temp.nested_then_charge())$$);
ROLLBACK;
-- (and with a DBA's foreign key that cascades into credits.orgs, whose
-- statement triggers PostgreSQL does not pair up)
BEGIN;
CREATE TABLE public.tiers (name text PRIMARY KEY);
INSERT INTO public.tiers VALUES ('t');
ALTER TABLE credits.orgs ADD COLUMN tier text REFERENCES public.tiers ON UPDATE CASCADE;
INSERT INTO credits.orgs (org, cycle, plan_credits, tier) VALUES ('rt', 'R/2026-01-01/P1M', 10, 't');
CREATE FUNCTION pg_temp.cascade_then_charge() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_temp.try_unlock();
	WITH t AS (UPDATE public.tiers SET name = 't2' RETURNING 1)
	UPDATE credits.orgs SET frozen = frozen WHERE org = 'rb';
	PERFORM credits.unlock('ra', 'alice', 'r2');
	RETURN false;
END
$$;
SELECT pg_temp.err($$UPDATE credits.orgs SET cycle = 'R/2026-01-25/P1M'
	WHERE org = 'ra' OR (org = 'rb' AND pg_temp.cascade_then_charge())$$);
ROLLBACK;
SELECT plan_period, credits_left, is_unlocked('ra', 'r2') FROM org_status WHERE org = 'ra';

-- Plan changes at the very instant of a restart: those made before it
-- (by id) are the cut period's starting value, those after it changes
-- during that period
SET credits.clock = '2026-01-10T00:00:00Z';
INSERT INTO orgs (org, cycle, plan_credits) VALUES
	('cut1', 'R/2026-01-01/P1M', 100), ('cut2', 'R/2026-01-01/P1M', 100),
	('cut3', 'R/2026-01-01/P1M', 100);
INSERT INTO members (org, member) VALUES ('cut1', 'alice');
SET credits.clock = '2026-01-20T00:00:00Z';
-- an upgrade, then a restart: the cut period holds the upgraded value
BEGIN;
UPDATE orgs SET plan_credits = 300 WHERE org = 'cut1';
UPDATE orgs SET cycle = 'R/2026-01-20/P1M' WHERE org = 'cut1';
COMMIT;
SELECT unlock('cut1', 'alice', 'x');
SELECT plan_period, plan_credits, credits_left FROM org_status WHERE org = 'cut1';
-- and an upgrade after the restart, at the same instant, tops it up
UPDATE orgs SET plan_credits = 350 WHERE org = 'cut1';
SELECT plan_period, plan_credits, credits_left FROM org_status WHERE org = 'cut1';
-- an upgrade, then a restart with a lower value: the lower value holds,
-- now and later
BEGIN;
UPDATE orgs SET plan_credits = 300 WHERE org = 'cut2';
UPDATE orgs SET cycle = 'R/2026-01-20/P1M', plan_credits = 50 WHERE org = 'cut2';
COMMIT;
SELECT plan_period, plan_credits, credits_left FROM org_status WHERE org = 'cut2';
-- an org inserted, restarted with a new value at the same instant
INSERT INTO orgs (org, cycle, plan_credits) VALUES ('cut4', 'R/2026-01-01/P1M', 100);
UPDATE orgs SET cycle = 'R/2026-01-20/P1M', plan_credits = 20 WHERE org = 'cut4';
SELECT plan_period, plan_credits, credits_left FROM org_status WHERE org = 'cut4';
-- a restart that changes no value, then a downgrade at the same instant:
-- from the next period
UPDATE orgs SET cycle = 'R/2026-01-20/P1M' WHERE org = 'cut3';
UPDATE orgs SET plan_credits = 10 WHERE org = 'cut3';
SELECT plan_period, plan_credits, credits_left FROM org_status WHERE org = 'cut3';
SET credits.clock = '2026-02-20T00:00:00Z';
SELECT org, plan_period, plan_credits, credits_left FROM org_status
WHERE org LIKE 'cut_' ORDER BY org;
SELECT org, at, plan_credits FROM credits.plan_changes
WHERE org LIKE 'cut_' ORDER BY id;
SELECT * FROM verify();

-- created_at is only a record: a value in the future changes no period
SET credits.clock = '2026-01-10T00:00:00Z';
INSERT INTO orgs (org, cycle, plan_credits, created_at)
VALUES ('later', 'R/2026-01-01/P1M', 100, '2030-01-01');
UPDATE orgs SET plan_credits = 40 WHERE org = 'later';
SELECT plan_period, plan_credits, credits_left FROM org_status WHERE org = 'later';
SET credits.clock = '2026-02-10T00:00:00Z';
SELECT plan_period, plan_credits, credits_left FROM org_status WHERE org = 'later';

--
-- renew_due creates missing plan grants; nothing depends on it running
--
SET credits.clock = '2026-05-01T00:00:00Z';
SELECT renew_due(1);
SELECT renew_due();
SELECT renew_due();
SELECT org, kind, amount, starts_at, expires_at FROM grants
WHERE kind = 'plan' AND starts_at >= '2026-04-01' ORDER BY org, starts_at;
SELECT pg_temp.err($$SELECT credits.renew_due(-1)$$);

SELECT * FROM verify();

--
-- A cycle change exactly at a period start: the plan grant that started
-- then ends empty, and the new cycle's period starts at the same instant
--
SET credits.clock = '2026-02-01T00:00:00Z';
INSERT INTO orgs (org, cycle, plan_credits) VALUES ('edge', 'R/2026-01-01/P1M', 100);
INSERT INTO members (org, member) VALUES ('edge', 'alice');
SELECT unlock('edge', 'alice', 'e1');
UPDATE orgs SET cycle = 'R/2026-01-15/P1M' WHERE org = 'edge';
SELECT plan_period, credits_left FROM org_status WHERE org = 'edge';
SELECT unlock('edge', 'alice', 'e2');
-- and twice in one transaction at the same instant
BEGIN;
UPDATE orgs SET cycle = 'R/2026-01-20/P1M' WHERE org = 'edge';
SELECT unlock('edge', 'alice', 'e3');
UPDATE orgs SET cycle = 'R/2026-01-25/P1M' WHERE org = 'edge';
SELECT unlock('edge', 'alice', 'e4');
COMMIT;
SELECT kind, amount, remaining, starts_at, expires_at FROM grants WHERE org = 'edge' ORDER BY id;
SELECT plan_period, credits_left FROM org_status WHERE org = 'edge';

-- An upgrade is refused when it would take the org past 10^15 credits
SELECT count(adjust('edge', 'big' || g, 1000000000000, 'big')) AS adjustments
FROM generate_series(1, 999) g;
SELECT grant_one_time('edge', 'two', 2) > 0 AS granted, balance('edge');
SELECT pg_temp.err($$UPDATE credits.orgs SET plan_credits = 1000000000000 WHERE org = 'edge'$$);
-- and so is a refund, whose credit would come back on top of 10^15
SELECT grant_one_time('edge', 'fill', 1000000000000000 - balance('edge')) > 0 AS filled;
SELECT balance('edge');
SELECT pg_temp.err($$SELECT credits.refund('edge', 'e4')$$);
SELECT is_unlocked('edge', 'e4'), balance('edge');
SELECT * FROM verify('edge');

--
-- A plan of 0 credits makes no plan grants (a grant holds 1 credit or
-- more): its periods are still the org's plan periods, with 0 credits
--
SET credits.clock = '2026-03-10T00:00:00Z';
INSERT INTO orgs (org, cycle, plan_credits) VALUES ('free', 'R/2026-01-15/P1M', 0);
INSERT INTO members (org, member) VALUES ('free', 'alice');
SELECT pg_temp.err($$SELECT credits.unlock('free', 'alice', 'f1')$$);
SELECT grant_one_time('free', 'pack', 3) > 0 AS bought;
SELECT unlock('free', 'alice', 'f1');
SELECT renew_due() >= 0 AS renewed;
SELECT plan_period, plan_credits, credits_left, next_expiry FROM org_status WHERE org = 'free';
-- an upgrade during the period makes the period's grant, dated at the change
SET credits.clock = '2026-03-12T00:00:00Z';
UPDATE orgs SET plan_credits = 5 WHERE org = 'free';
-- the next period starts with 5; a downgrade to 0 leaves the one after empty
SET credits.clock = '2026-03-20T00:00:00Z';
SELECT unlock('free', 'alice', 'f2');
UPDATE orgs SET plan_credits = 0 WHERE org = 'free';
SET credits.clock = '2026-04-20T00:00:00Z';
SELECT unlock('free', 'alice', 'f3');
SELECT renew_due() >= 0 AS renewed;
SELECT kind, amount, remaining, starts_at, expires_at FROM grants WHERE org = 'free' ORDER BY id;
SELECT at, kind, amount, note FROM ledger
WHERE org = 'free' AND kind IN ('grant', 'expire') ORDER BY id;
SELECT plan_period, plan_credits, credits_left, monthly_goal FROM org_status WHERE org = 'free';
SELECT * FROM verify('free');

-- A write at a clock set before the org's last plan restart is refused:
-- the periods before it are gone (22023; a transaction that began before
-- a concurrent restart acts at the restart, test/specs/clock_behind.spec)
SET credits.clock = '2026-04-25T00:00:00Z';
UPDATE orgs SET cycle = 'R/2026-04-25/P1M' WHERE org = 'free';
SET credits.clock = '2026-04-24T00:00:00Z';
SELECT pg_temp.err($$SELECT credits.unlock('free', 'alice', 'f4')$$);
SELECT balance('free') AS readable_still;
SET credits.clock = '2026-04-25T00:00:00Z';
SELECT * FROM verify('free');
-- ... and so is a write at the real clock to an org whose plan restarted,
-- or a refund of a prospect unlocked, under a clock set ahead (the DETAIL,
-- which names the real clock, is left out here)
SET credits.clock = '2099-01-01T00:00:00Z';
UPDATE orgs SET cycle = 'R/2099-01-01/P1M' WHERE org = 'free';
INSERT INTO orgs (org, cycle, plan_credits) VALUES ('ahead', 'R/2026-01-01/P1M', 10);
INSERT INTO members (org, member) VALUES ('ahead', 'alice');
SELECT unlock('ahead', 'alice', 'a1');
RESET credits.clock;
SELECT e FROM pg_temp.err($$SELECT credits.unlock('free', 'alice', 'f6')$$) e
WHERE e NOT LIKE 'DETAIL%';
SELECT e FROM pg_temp.err($$SELECT credits.refund('ahead', 'a1')$$) e
WHERE e NOT LIKE 'DETAIL%';
SET credits.clock = '2099-01-01T00:00:00Z';
SELECT * FROM verify('free');
SELECT * FROM verify('ahead');
