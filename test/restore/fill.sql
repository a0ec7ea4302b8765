--
-- Fills a database through the API for the dump/restore test: several
-- orgs, plans over several periods, members with limits, unlocks by every
-- path, refunds (to the grant and to a new grant), expiries, referrals,
-- purchases, adjustments, a revocation, an upgrade, a cycle change, rights.
--
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
CREATE EXTENSION credits;
SET credits.clock = '2026-01-10T00:00:00Z';
INSERT INTO credits.orgs (org, cycle, plan_credits, low_balance_threshold) VALUES
	('acme', 'R/2026-01-01/P1M', 10, 3),
	('globex', 'R12/2025-12-15T09:00[Europe/Stockholm]/P1M', 5, NULL),
	('initech', 'R/2025-06-01/P1Y', 100, 10),
	('quiet', 'R/2026-01-01/P1M', 0, NULL),
	-- created below its threshold, signalled at its INSERT and never
	-- written to since (no state row): the restore must not signal it
	('lowstart', 'R/2026-01-01/P1M', 2, 5);
INSERT INTO credits.members (org, member, period_limit) VALUES
	('acme', 'alice', 4), ('acme', 'bob', NULL),
	('globex', 'carol', NULL), ('initech', 'dave', 50);
SELECT credits.unlock('acme', 'alice', 'p' || g) FROM generate_series(1, 4) g;
SELECT credits.unlock('acme', 'bob', 'p1');
SELECT count(*) FROM credits.unlock_many('acme', 'bob', ARRAY['p5', 'p6', 'p7']);
INSERT INTO credits.unlocks (org, member, prospect) VALUES ('globex', 'carol', 'g1') ON CONFLICT DO NOTHING;
CREATE TABLE public.campaign_prospects (org_id text, added_by text, prospect_id text);
SELECT credits.attach_unlock_trigger('public.campaign_prospects', 'org_id', 'added_by', 'prospect_id');
INSERT INTO public.campaign_prospects VALUES ('initech', 'dave', 'i1'), ('initech', 'dave', 'i2');
SELECT credits.grant_one_time('acme', 'order-1', 20, '2026-03-01T00:00:00Z');
SELECT credits.grant_referral('globex', 'new-customer-1');
SELECT credits.adjust('initech', 'fix-1', -5, 'correction');
SELECT credits.refund('acme', 'p2', 'wrong prospect');
UPDATE credits.orgs SET plan_credits = 15 WHERE org = 'acme';
SET credits.clock = '2026-02-01T00:00:00Z';
SELECT credits.unlock('acme', 'alice', 'p8');
SELECT credits.refund('acme', 'p3');
SELECT credits.expire_due();
SELECT credits.renew_due();
UPDATE credits.orgs SET cycle = 'R/2026-02-10/P1M' WHERE org = 'globex';
SELECT credits.revoke_grant((SELECT id FROM credits.grants WHERE ref = 'new-customer-1'), 'fraud-1', 'fraud');
UPDATE credits.orgs SET plan_credits = 1 WHERE org = 'initech';
CREATE ROLE credits_restore_app;
SELECT credits.grant_app_rights('credits_restore_app');
-- an admin, with one right taken back: the dump keeps the revocation
CREATE ROLE credits_restore_admin;
SELECT credits.grant_admin_rights('credits_restore_admin');
REVOKE EXECUTE ON FUNCTION credits.adjust(text, text, bigint, text) FROM credits_restore_admin;
SELECT count(*) AS problems FROM credits.verify();
