--
-- More credits: purchases, referrals, adjustments, revocations, refunds,
-- and the order credits are spent in
--
\i test/helpers.sql
SET credits.clock = '2026-01-10T00:00:00Z';
INSERT INTO orgs (org, cycle, plan_credits) VALUES ('g', 'R/2026-01-01/P1M', 2), ('h', 'R/2026-01-01/P1M', 0);
INSERT INTO members (org, member) VALUES ('g', 'alice'), ('h', 'bob');

-- One-time purchases: idempotent by (org, ref)
SELECT grant_one_time('g', 'order-1', 10) = grant_one_time('g', 'order-1', 10) AS same_grant;
SELECT grant_one_time('h', 'order-1', 5) <> grant_one_time('g', 'order-1', 10) AS other_org_other_grant;
SELECT pg_temp.err(sql) FROM (VALUES
	($$SELECT credits.grant_one_time('g', 'order-1', 11)$$),
	($$SELECT credits.grant_one_time('g', 'order-1', 10, '2027-01-01')$$),
	($$SELECT credits.grant_one_time('g', 'order-2', 0)$$),
	($$SELECT credits.grant_one_time('g', 'order-2', -5)$$),
	($$SELECT credits.grant_one_time('g', 'order-2', 1000000000001)$$),
	($$SELECT credits.grant_one_time('g', 'order-2', NULL)$$),
	($$SELECT credits.grant_one_time('g', NULL, 5)$$),
	($$SELECT credits.grant_one_time('g', 'order-2', 5, '2026-01-01')$$),
	($$SELECT credits.grant_one_time('nope', 'order-2', 5)$$)
) v(sql);

-- Referral bonus: 20 by default, once per referred customer in the database
SELECT grant_referral('g', 'new-customer-1') = grant_referral('g', 'new-customer-1') AS same_grant;
SELECT amount, kind, ref FROM grants WHERE kind = 'referral';
SELECT pg_temp.err(sql) FROM (VALUES
	($$SELECT credits.grant_referral('h', 'new-customer-1')$$),
	($$SELECT credits.grant_referral('g', 'new-customer-1', 25)$$),
	($$SELECT credits.grant_referral('g', 'g')$$),
	($$SELECT credits.grant_referral('g', NULL)$$)
) v(sql);

-- Consumption order: soonest expiry first, never-expiring last
SELECT grant_one_time('g', 'order-3', 1, '2026-01-20T00:00:00Z') IS NOT NULL AS expiring;
SELECT unlock('g', 'alice', 'p1'), unlock('g', 'alice', 'p2'), unlock('g', 'alice', 'p3'),
	unlock('g', 'alice', 'p4');
SELECT l.prospect, g.kind, g.ref FROM ledger l JOIN grants g ON g.id = l.grant_id
WHERE l.org = 'g' AND l.kind = 'debit' ORDER BY l.id;
SELECT balance('g');

-- Adjustments: idempotent by (org, ref); add a grant, or remove credits
SELECT adjust('g', 'fix-1', 5, 'goodwill') AS added, adjust('g', 'fix-1', 5, 'goodwill') AS again;
SELECT adjust('g', 'fix-2', -3, 'double purchase') AS removed;
SELECT balance('g');
SELECT pg_temp.err(sql) FROM (VALUES
	($$SELECT credits.adjust('g', 'fix-1', 6, 'goodwill')$$),
	($$SELECT credits.adjust('g', 'fix-1', 5, 'other note')$$),
	($$SELECT credits.adjust('g', 'fix-3', 0, 'nothing')$$),
	($$SELECT credits.adjust('g', 'fix-3', -1000, 'too much')$$),
	($$SELECT credits.adjust('g', 'fix-3', 5, NULL)$$)
) v(sql);
SELECT balance('g');

-- Revoking a grant removes what is left of it; idempotent by ref
SELECT revoke_grant(id, 'chargeback-1', 'card disputed') AS removed,
	revoke_grant(id, 'chargeback-1', 'card disputed') AS again
FROM grants WHERE org = 'h' AND ref = 'order-1';
SELECT remaining FROM grants WHERE org = 'h' AND ref = 'order-1';
-- the ref is the key across orgs: another grant under the same ref is ZC005
SELECT pg_temp.err(format($$SELECT credits.revoke_grant(%s, 'chargeback-1', 'card disputed')$$, id))
FROM grants WHERE org = 'g' AND ref = 'order-1';
SELECT pg_temp.err(sql) FROM (VALUES
	($$SELECT credits.revoke_grant(999999, 'x', 'n')$$),
	($$SELECT credits.revoke_grant(NULL, 'x', 'n')$$)
) v(sql);

-- Refund: the credit returns to the grant it came from, usage goes down
SELECT balance('g'), (SELECT used_this_period FROM member_status WHERE org = 'g') AS used;
SELECT refund('g', 'p4', 'wrong prospect') AS refunded, refund('g', 'p4') AS again;
SELECT balance('g'), (SELECT used_this_period FROM member_status WHERE org = 'g') AS used;
SELECT is_unlocked('g', 'p4');
SELECT kind, amount, prospect, note FROM ledger WHERE org = 'g' AND kind = 'refund';
-- unlocking it again charges again
SELECT unlock('g', 'alice', 'p4');
-- a credit whose grant has expired goes to a new grant for the rest of
-- the current usage period (p1 came from the grant that expired on the 20th)
SET credits.clock = '2026-01-25T00:00:00Z';
SELECT refund('g', 'p1');
SELECT g.kind, g.amount, g.remaining, g.starts_at, g.expires_at,
	d.prospect AS refunded_debit_of
FROM grants g
JOIN ledger d ON g.ref = 'refund:' || d.id AND d.kind = 'debit'
WHERE g.org = 'g';
-- a refund at a clock set before the unlock is refused, and changes nothing
SELECT unlock('g', 'alice', 'p5');
SET credits.clock = '2026-01-24T00:00:00Z';
SELECT pg_temp.err($$SELECT credits.refund('g', 'p5')$$);
SET credits.clock = '2026-01-25T00:00:00Z';
SELECT is_unlocked('g', 'p5'), balance('g');

-- revoking a grant that has expired, before expire_due wrote its expiry:
-- the expiry is written, dated at expires_at, and nothing is revoked
SET credits.clock = '2026-01-25T00:00:00Z';
SELECT grant_one_time('g', 'short-lived', 5, '2026-01-26T00:00:00Z') AS short_id \gset
SET credits.clock = '2026-01-27T00:00:00Z';
SELECT revoke_grant(:short_id, 'late-revoke', 'too late') AS removed;
SELECT kind, amount, at FROM ledger WHERE grant_id = :short_id ORDER BY id;
SELECT remaining FROM grants WHERE id = :short_id;
SELECT expire_due() >= 0 AS ran;
SELECT count(*) AS entries FROM ledger WHERE grant_id = :short_id;


-- Used-up grants that never expire are not read again: an org's
-- operations and status start at org_state.spent_below, which moves past
-- them and back to a grant a refund gives a credit again
SET credits.clock = '2026-01-27T00:00:00Z';
INSERT INTO orgs (org, cycle, plan_credits) VALUES ('sb', 'R/2026-01-01/P1M', 0);
INSERT INTO members (org, member) VALUES ('sb', 'alice');
SELECT count(grant_referral('sb', 'sb-ref-' || g, 1)) AS referrals
FROM generate_series(1, 300) g;
SELECT min(id) AS first_ref, max(id) AS last_ref FROM grants
WHERE org = 'sb' AND kind = 'referral' \gset
SELECT count(unlock('sb', 'alice', 'sb-p' || g)) AS unlocks
FROM generate_series(1, 298) g;
-- the referrals were spent in id order; the next operation skips them
SELECT unlock('sb', 'alice', 'sb-p299');
SELECT spent_below - :first_ref AS spent_below_past_first FROM org_state WHERE org = 'sb';
SELECT credits_left FROM org_status WHERE org = 'sb';
-- an operation reads only the grants from spent_below on (counted in this
-- transaction's statistics of the index)
BEGIN;
SELECT pg_stat_get_xact_tuples_returned('credits.grant_rows_org_expiry'::regclass)
	AS read_before \gset
SELECT grant_one_time('sb', 'sb-order', 2) IS NOT NULL AS bought;
SELECT pg_stat_get_xact_tuples_returned('credits.grant_rows_org_expiry'::regclass)
	- :read_before AS grants_read;
COMMIT;
-- a refund puts the credit back in the used-up first referral: it is
-- read again, and spent first
SELECT grant_id = :first_ref AS from_first_referral FROM ledger
WHERE org = 'sb' AND kind = 'debit' AND prospect = 'sb-p1';
SELECT refund('sb', 'sb-p1');
SELECT spent_below = :first_ref AS spent_below_back FROM org_state WHERE org = 'sb';
SELECT credits_left FROM org_status WHERE org = 'sb';
SELECT unlock('sb', 'alice', 'sb-p1-again');
SELECT grant_id = :first_ref AS spent_first FROM ledger
WHERE org = 'sb' AND kind = 'debit' AND prospect = 'sb-p1-again';
SELECT unlock('sb', 'alice', 'sb-p300');
SELECT spent_below = :last_ref AS past_all_but_last FROM org_state WHERE org = 'sb';
SELECT * FROM verify('sb');
-- verify() reports a grant with credits below spent_below
BEGIN;
SET LOCAL session_replication_role = replica;	-- behind the triggers' back
UPDATE org_state SET spent_below = (SELECT max(id) + 1 FROM grants WHERE org = 'sb')
WHERE org = 'sb';
SELECT regexp_replace(problem, '\d{3,}', 'N', 'g') AS problem FROM verify('sb');
ROLLBACK;

SELECT * FROM verify();
