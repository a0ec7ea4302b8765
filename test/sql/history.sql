--
-- History: the ledger is append-only, grants and unlocks change only
-- through the extension, and verify() finds damage
--
\i test/helpers.sql
SET credits.clock = '2026-01-10T00:00:00Z';
INSERT INTO orgs (org, cycle, plan_credits) VALUES ('h1', 'R/2026-01-01/P1M', 5);
INSERT INTO members (org, member) VALUES ('h1', 'alice');
SELECT unlock('h1', 'alice', 'p1'), unlock('h1', 'alice', 'p2');

-- Refused for every role, the owner included (ZC006).  credits.grants and
-- credits.unlocks are views, which fire no TRUNCATE trigger: the library's
-- utility hook refuses it (this session has loaded the library), and the
-- tables behind them refuse it too.
SELECT pg_temp.err(sql) FROM (VALUES
	($$UPDATE credits.ledger SET amount = 0$$),
	($$DELETE FROM credits.ledger$$),
	($$TRUNCATE credits.ledger$$),
	($$UPDATE credits.grants SET remaining = 100$$),
	($$DELETE FROM credits.grants$$),
	($$TRUNCATE credits.grant_rows CASCADE$$),
	($$TRUNCATE credits.grant_left$$),
	($$UPDATE credits.grant_left SET remaining = 100$$),
	($$UPDATE credits.unlocks SET member = 'bob'$$),
	($$DELETE FROM credits.unlocks$$),
	($$TRUNCATE credits.unlock_rows$$),
	($$TRUNCATE credits.unlocks$$),
	($$TRUNCATE credits.grants$$)
) v(sql);
SELECT * FROM verify();

-- The internal tables hold what the ledger does not repeat (usage, plan
-- history and restarts, idempotency keys): TRUNCATE, say by a script that
-- empties each table of the schema, is refused too, and so are UPDATE and
-- DELETE outside the extension's operations; the rows stay
INSERT INTO orgs (org, cycle, plan_credits) VALUES ('ht', 'R/2026-01-01/P1M', 5);
INSERT INTO members (org, member) VALUES ('ht', 'alice');
SELECT unlock('ht', 'alice', 'p1'), adjust('ht', 'fix-1', 3, 'support');
UPDATE orgs SET plan_credits = 6 WHERE org = 'ht';
SELECT pg_temp.err(sql) FROM (VALUES
	($$TRUNCATE credits.usage$$),
	($$TRUNCATE credits.org_state$$),
	($$TRUNCATE credits.plan_changes$$),
	($$TRUNCATE credits.requests$$),
	($$UPDATE credits.usage SET used = 0 WHERE org = 'ht'$$),
	($$DELETE FROM credits.usage WHERE org = 'ht'$$),
	($$UPDATE credits.org_state SET armed = true WHERE org = 'ht'$$),
	($$DELETE FROM credits.org_state WHERE org = 'ht'$$),
	($$UPDATE credits.plan_changes SET plan_credits = 1000 WHERE org = 'ht'$$),
	($$DELETE FROM credits.plan_changes WHERE org = 'ht'$$),
	($$UPDATE credits.requests SET result = 0 WHERE org = 'ht'$$),
	($$DELETE FROM credits.requests WHERE org = 'ht'$$)
) v(sql);
SELECT (SELECT count(*) FROM usage WHERE org = 'ht') AS usage,
	(SELECT count(*) FROM org_state WHERE org = 'ht') AS org_state,
	(SELECT count(*) FROM plan_changes WHERE org = 'ht') AS plan_changes,
	(SELECT count(*) FROM requests WHERE org = 'ht') AS requests;
SELECT * FROM verify();

-- Damage done behind the triggers' back is reported
SET session_replication_role = replica;
UPDATE grant_left SET remaining = remaining + 2
WHERE grant_id IN (SELECT id FROM grant_rows WHERE org = 'h1');
DELETE FROM ledger WHERE org = 'h1' AND prospect = 'p2';
UPDATE usage SET used = 7 WHERE org = 'h1';
INSERT INTO ledger (org, at, recorded_at, actor, kind, amount, grant_id)
VALUES ('h1', '2026-01-10', now(), 'x', 'debit', -2, 424242);
-- a second debit for a prospect charged once, with the credits to match
INSERT INTO ledger (org, at, recorded_at, actor, kind, amount, grant_id, member, prospect)
SELECT 'h1', '2026-01-10', now(), 'x', 'debit', -1, id, 'alice', 'p1'
FROM grant_rows WHERE org = 'h1';
SET session_replication_role = origin;
SELECT org, regexp_replace(problem, '(entry|grant) \d+', '\1 N', 'g') AS problem
FROM verify();
SELECT org, regexp_replace(problem, '(entry|grant) \d+', '\1 N', 'g') AS problem
FROM verify('h1') LIMIT 1;
SELECT count(*) FROM verify('nobody');

-- The tables' constraints still guard the counters the extension updates
-- below the executor: a refund onto a grant a superuser filled back to its
-- amount fails (23514) and leaves no trace
INSERT INTO orgs (org, cycle, plan_credits) VALUES ('h2', 'R/2026-01-01/P1M', 3);
INSERT INTO members (org, member) VALUES ('h2', 'alice');
SELECT unlock('h2', 'alice', 'p1');
SET session_replication_role = replica;
UPDATE grant_left SET remaining = amount
WHERE grant_id IN (SELECT id FROM grant_rows WHERE org = 'h2');
SET session_replication_role = origin;
SELECT regexp_replace(e, '\(\d+,', '(N,')
FROM pg_temp.err($$SELECT credits.refund('h2', 'p1')$$) e;
SELECT is_unlocked('h2', 'p1'), (SELECT count(*) FROM ledger WHERE org = 'h2') AS entries,
	(SELECT remaining FROM grants WHERE org = 'h2') AS remaining;

-- Refs of the form refund:<debit id> are refund()'s: adjust() refuses
-- them, before and after the refund, so that no adjustment shares a
-- refund's key
INSERT INTO orgs (org, cycle, plan_credits) VALUES ('h3', 'R/2026-01-01/P1M', 3);
INSERT INTO members (org, member) VALUES ('h3', 'alice');
SELECT unlock('h3', 'alice', 'p1'), unlock('h3', 'alice', 'p2');
SELECT regexp_replace(pg_temp.err(format('SELECT credits.adjust(%L, %L, 1, %L)',
										 'h3', 'refund:' || id, 'goodwill')),
					  'refund:\d+', 'refund:N', 'g') AS adjust
FROM ledger WHERE org = 'h3' AND kind = 'debit' AND prospect = 'p1';
SET credits.clock = '2026-02-10T00:00:00Z';
SELECT refund('h3', 'p1');
SELECT count(*) AS refund_grants FROM grants
WHERE org = 'h3' AND kind = 'adjustment' AND ref LIKE 'refund:%';
SELECT regexp_replace(pg_temp.err(format('SELECT credits.adjust(%L, %L, 1, %L)',
										 'h3', ref, 'goodwill')),
					  'refund:\d+', 'refund:N', 'g') AS adjust
FROM grants WHERE org = 'h3' AND kind = 'adjustment';
SELECT count(*) AS adjustment_grants FROM grants
WHERE org = 'h3' AND kind = 'adjustment';

-- verify() tells a refund's grant from an adjustment that 1.0 let through
-- with a ref of the same form (never expiring), written here as 1.0 did
SET session_replication_role = replica;
WITH g AS (
	INSERT INTO grant_rows (org, kind, starts_at, expires_at, ref, created_at)
	SELECT 'h3', 'adjustment', '2026-02-10', NULL, 'refund:' || id, '2026-02-10'
	FROM ledger WHERE org = 'h3' AND kind = 'debit' AND prospect = 'p2'
	RETURNING id
), l AS (
	INSERT INTO grant_left (grant_id, amount, remaining) SELECT id, 1, 1 FROM g
)
INSERT INTO ledger (org, at, recorded_at, actor, kind, amount, grant_id, ref, note)
SELECT 'h3', '2026-02-10', now(), 'x', 'grant', 1, id, 'adjust', 'goodwill' FROM g;
SET session_replication_role = origin;
SELECT * FROM verify('h3');

-- With the library loaded at every session's start (session_preload_libraries,
-- README, Choices), TRUNCATE of the views is refused with ZC006 even as a
-- session's first statement (without it, PostgreSQL's 42809 there)
SELECT count(*) AS unlocks_before FROM unlocks \gset
SELECT format('ALTER DATABASE %I SET session_preload_libraries = %L',
			  current_database(), 'credits') AS preload \gset
:preload;
\c
\set VERBOSITY sqlstate
TRUNCATE credits.unlocks;
TRUNCATE credits.grants;
\set VERBOSITY default
SELECT format('ALTER DATABASE %I RESET session_preload_libraries',
			  current_database()) AS reset_preload \gset
:reset_preload;
\c
\i test/helpers.sql
SELECT count(*) = :unlocks_before AS unlocks_kept FROM unlocks;
