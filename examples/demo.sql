--
-- The story of credits, in psql.  scripts/demo plays it on a throwaway
-- cluster; it moves through time with credits.clock (which needs
-- credits.clock_writes on, as on a test cluster).
--
\pset footer off
\set QUIET on
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS credits;
RESET client_min_messages;
SET search_path = credits, public;
SET timezone = 'Europe/Stockholm';
SET datestyle = 'ISO, YMD';


\echo
\echo '== 31 January 2026, 09:00 in Stockholm: acme signs up for 5 credits a month.'
\echo '   Its billing cycle is anchored on the sign-up time.'
SET credits.clock = '2026-01-31T08:00:00Z';
INSERT INTO orgs (org, cycle, plan_credits)
VALUES ('acme', cycle_from(clock(), '1 month', NULL, 'Europe/Stockholm'), 5);
INSERT INTO members (org, member, period_limit) VALUES ('acme', 'alice', 3), ('acme', 'bob', NULL);
SELECT org, cycle FROM orgs;

\echo
\echo '== Status before anything is spent: 5 credits, a goal of 2.5 per member'
SELECT org, period, credits_left, used_this_period, active_members, monthly_goal
FROM org_status WHERE org = 'acme';

\echo
\echo '== Alice unlocks a prospect: one credit'
SELECT unlock('acme', 'alice', 'prospect-1') AS charged;

\echo
\echo '== Bob adds the same prospect to his own campaign: free, the org already has it'
SELECT unlock('acme', 'bob', 'prospect-1') AS charged;

\echo
\echo '== Alice unlocks two more, then hits her limit of 3 credits per period (ZC002)'
SELECT unlock('acme', 'alice', 'prospect-2') AS charged, unlock('acme', 'alice', 'prospect-3') AS charged;
\set ON_ERROR_STOP 0
SELECT unlock('acme', 'alice', 'prospect-4') AS charged;
\set ON_ERROR_STOP 1

\echo
\echo '== Someone signs up through acme''s referral link: 20 bonus credits'
SELECT grant_referral('acme', 'new-customer-77') IS NOT NULL AS bonus_granted;

\echo
\echo '== Status after: the members'' usage, what each can still spend'
SELECT org, credits_left, used_this_period, monthly_goal, next_expiry, next_expiry_credits
FROM org_status WHERE org = 'acme';
SELECT member, used_this_period, period_limit, can_spend FROM member_status
WHERE org = 'acme' ORDER BY member;

\echo
\echo '== 28 February, 09:00: the plan renews (the 31st clamped to the 28th).'
\echo '   The 2 unused plan credits expired; the bonus stays; alice''s limit resets.'
SET credits.clock = '2026-02-28T08:00:00Z';
SELECT org, period, plan_credits, credits_left, used_this_period
FROM org_status WHERE org = 'acme';
SELECT unlock('acme', 'alice', 'prospect-4') AS charged;
SELECT member, used_this_period, can_spend FROM member_status
WHERE org = 'acme' ORDER BY member;

\echo
\echo '== The ledger: every change to every grant, append-only'
SELECT l.at, l.kind, l.amount, g.kind AS grant_kind, l.member, l.prospect, l.ref
FROM ledger l JOIN grants g ON g.id = l.grant_id
WHERE l.org = 'acme' ORDER BY l.id;

\echo
\echo '== expire_due() writes the expiry of January''s unused credits, dated at the expiry'
SELECT expire_due() AS expire_entries_written;
SELECT at, kind, amount FROM ledger WHERE org = 'acme' AND kind = 'expire';

\echo
\echo '== verify() re-checks every invariant: no rows, consistent'
SELECT * FROM verify('acme');
