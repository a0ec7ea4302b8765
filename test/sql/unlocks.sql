--
-- Unlocking: one credit per prospect per org, whoever unlocks it and however
--
\i test/helpers.sql
SET credits.clock = '2026-01-15T10:00:00Z';

INSERT INTO orgs (org, cycle, plan_credits) VALUES ('u1', 'R/2026-01-01/P1M', 5);
INSERT INTO members (org, member) VALUES ('u1', 'alice'), ('u1', 'bob');
INSERT INTO members (org, member, active) VALUES ('u1', 'gone', false);

-- The first unlock costs one credit; again, by anyone, it is free
SELECT unlock('u1', 'alice', 'p1') AS first,
	unlock('u1', 'alice', 'p1') AS again,
	unlock('u1', 'bob', 'p1') AS colleague;
SELECT balance('u1');
SELECT prospect, member, unlocked_at FROM unlocks WHERE org = 'u1';
SELECT kind, amount, member, prospect, at FROM ledger WHERE org = 'u1' ORDER BY id;
SELECT member, used_this_period FROM member_status WHERE org = 'u1' ORDER BY member;
SELECT is_unlocked('u1', 'p1') AS p1, is_unlocked('u1', 'p2') AS p2;

-- A prospect that needs no charge costs nothing, even for an unknown or
-- inactive member; but a member argument that is no key at all (NULL,
-- empty, too long) is refused whatever the call needs (SPEC section 1)
SELECT unlock('u1', 'nobody', 'p1') AS unknown, unlock('u1', 'gone', 'p1') AS inactive;
SELECT pg_temp.err(sql) FROM (VALUES
	($$SELECT credits.unlock('u1', NULL, 'p1')$$),
	($$SELECT credits.unlock('u1', '', 'p1')$$),
	($$SELECT credits.unlock('u1', repeat('m', 257), 'p1')$$),
	($$SELECT count(*) FROM credits.unlock_many('u1', NULL, ARRAY['p1'])$$),
	($$SELECT count(*) FROM credits.unlock_many('u1', '', ARRAY['p1'])$$)
) v(sql);

-- The same org key must exist even then (ZC003)
SELECT pg_temp.err($$SELECT credits.unlock('nope', 'alice', 'p1')$$);

-- Through INSERT INTO credits.unlocks: each inserted row costs one credit;
-- conflicting rows, with stored rows or earlier rows of the statement,
-- cost nothing
INSERT INTO unlocks (org, member, prospect)
VALUES ('u1', 'bob', 'p2'), ('u1', 'bob', 'p2'), ('u1', 'alice', 'p1')
ON CONFLICT DO NOTHING;
INSERT INTO unlocks (org, member, prospect) VALUES ('u1', 'bob', 'p2')
ON CONFLICT (org, prospect) DO NOTHING;
SELECT balance('u1');
SELECT prospect, member FROM unlocks WHERE org = 'u1' ORDER BY prospect;
SELECT member, used_this_period FROM member_status WHERE org = 'u1' ORDER BY member;

-- A row that needs no charge is not checked for its member, as with
-- unlock(): an empty member key is no error here
INSERT INTO unlocks (org, member, prospect) VALUES ('u1', '', 'p1')
ON CONFLICT DO NOTHING;

-- Without ON CONFLICT a duplicate is a unique violation, and costs nothing
SELECT pg_temp.err($$INSERT INTO credits.unlocks (org, member, prospect) VALUES ('u1', 'bob', 'p2')$$);
-- unlocked_at is the clock's; UPDATE and DELETE are refused
SELECT pg_temp.err(sql) FROM (VALUES
	($$INSERT INTO credits.unlocks (org, member, prospect, unlocked_at) VALUES ('u1', 'bob', 'p3', '2026-01-15T10:00:00Z')$$),
	($$INSERT INTO credits.unlocks (org, member, prospect, unlocked_at) VALUES ('u1', 'bob', 'p3', NULL)$$),
	($$INSERT INTO credits.unlocks (org, member, prospect, unlocked_at) VALUES ('u1', 'bob', 'p2', 'infinity') ON CONFLICT DO NOTHING$$),
	($$INSERT INTO credits.unlocks (org, member, prospect) VALUES ('u1', 'bob', 'p2') ON CONFLICT (org, prospect) DO UPDATE SET member = 'alice'$$),
	($$INSERT INTO credits.unlocks (org, member, prospect) VALUES ('u1', 'bob', 'new-1') ON CONFLICT (org, prospect) DO UPDATE SET member = 'alice'$$),
	($$WITH i AS (INSERT INTO credits.unlocks (org, member, prospect) VALUES ('u1', 'bob', 'new-2') ON CONFLICT (org, prospect) DO UPDATE SET member = 'alice' RETURNING 1) SELECT count(*) FROM i$$),
	($$UPDATE credits.unlocks SET member = 'alice' WHERE prospect = 'p2'$$),
	($$DELETE FROM credits.unlocks WHERE prospect = 'p2'$$),
	($$INSERT INTO credits.unlocks (org, member, prospect) VALUES ('u1', NULL, 'p3')$$),
	($$INSERT INTO credits.unlocks (org, member, prospect) VALUES ('u1', 'bob', NULL)$$),
	($$INSERT INTO credits.unlocks (org, member, prospect) VALUES ('nope', 'bob', 'p3')$$)
) v(sql);
SELECT balance('u1');

-- unlock_many: one row per distinct prospect, in input order
SELECT * FROM unlock_many('u1', 'alice', ARRAY['p1', 'p3', 'p3', 'p2', 'p4']);
SELECT balance('u1');

-- all or nothing: too few credits raises, and nothing is spent
SELECT pg_temp.err($$SELECT * FROM credits.unlock_many('u1', 'alice', ARRAY['p5', 'p6', 'p7'])$$);
SELECT balance('u1'), (SELECT count(*) FROM unlocks WHERE org = 'u1') AS unlocks;

-- partial: pays in input order while credits last
SELECT * FROM unlock_many('u1', 'alice', ARRAY['p1', 'p5', 'p6', 'p7'], true);
SELECT balance('u1');

-- an empty array, and arguments that are wrong
SELECT count(*) FROM unlock_many('u1', 'alice', ARRAY[]::text[]);
SELECT pg_temp.err(sql) FROM (VALUES
	($$SELECT * FROM credits.unlock_many('u1', 'alice', NULL)$$),
	($$SELECT * FROM credits.unlock_many('u1', 'alice', ARRAY['a', NULL])$$),
	($$SELECT * FROM credits.unlock_many('u1', 'alice', ARRAY['a', ''])$$),
	($$SELECT * FROM credits.unlock_many('u1', 'alice', ARRAY['a'], NULL)$$),
	($$SELECT * FROM credits.unlock_many('u1', 'nobody', ARRAY['p1', 'p9'], true)$$)
) v(sql);
-- prospects all unlocked are answered without the org lock, as unlock()
-- answers one: in a read-only transaction too, where a charge is refused;
-- at REPEATABLE READ the lock is taken
BEGIN READ ONLY;
SELECT * FROM unlock_many('u1', 'nobody', ARRAY['p2', 'p1', 'p2']);
SELECT pg_temp.err($$SELECT * FROM credits.unlock_many('u1', 'alice', ARRAY['p1', 'p-new'])$$);
ROLLBACK;
BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;
SELECT pg_temp.err($$SELECT * FROM credits.unlock_many('u1', 'alice', ARRAY['p1'])$$);
ROLLBACK;
SELECT pg_temp.err($$SELECT * FROM credits.unlock_many('nowhere', 'alice', ARRAY['p1'])$$);
-- a call per row of a join keeps no memory of its own until the query
-- ends: 20,000 calls (over prospects unlocked or not) in one query leave
-- its executor's memory small (each call kept about 540 bytes before)
WITH calls AS MATERIALIZED (
	SELECT count(*) AS n
	FROM generate_series(1, 20000) g,
		LATERAL unlock_many('u1', 'nobody', ARRAY['p' || (g % 3 + 1)]) u
)
SELECT n, (SELECT sum(total_bytes) FROM pg_backend_memory_contexts
		   WHERE name = 'ExecutorState') < 2 * 1024 * 1024 AS small_query_memory
FROM calls;
-- a refund in the statement whose INSERT INTO credits.unlocks unlocks the
-- prospect (which it charges at its end) is refused, and leaves nothing
INSERT INTO orgs (org, cycle, plan_credits) VALUES ('u1w', 'R/2026-01-01/P1M', 5);
INSERT INTO members (org, member) VALUES ('u1w', 'alice');
SELECT pg_temp.err($$
	WITH i AS (INSERT INTO credits.unlocks (org, member, prospect)
			   VALUES ('u1w', 'alice', 'p1') RETURNING org, prospect)
	SELECT credits.refund(org, prospect) FROM i$$);
SELECT balance('u1w'), (SELECT count(*) FROM unlocks WHERE org = 'u1w') AS unlocks,
	(SELECT count(*) FROM ledger WHERE org = 'u1w') AS ledger;
SELECT delete_org('u1w');

--
-- The checks of a due charge, in order: ZC003, ZC008, ZC004, ZC002, ZC001
--
INSERT INTO orgs (org, cycle, plan_credits) VALUES ('u2', 'R/2026-01-01/P1M', 1);
INSERT INTO members (org, member, period_limit) VALUES ('u2', 'lim', 0), ('u2', 'ok', NULL);
INSERT INTO members (org, member, active) VALUES ('u2', 'off', false);
UPDATE orgs SET frozen = true WHERE org = 'u2';
SELECT pg_temp.err(sql) FROM (VALUES
	($$SELECT credits.unlock('u3', 'nobody', 'x')$$),
	($$SELECT credits.unlock('u2', 'nobody', 'x')$$)
) v(sql);
UPDATE orgs SET frozen = false WHERE org = 'u2';
SELECT pg_temp.err(sql) FROM (VALUES
	($$SELECT credits.unlock('u2', 'nobody', 'x')$$),
	($$SELECT credits.unlock('u2', 'off', 'x')$$),
	($$SELECT credits.unlock('u2', NULL, 'x')$$),
	($$SELECT credits.unlock('u2', 'lim', 'x')$$)
) v(sql);
SELECT unlock('u2', 'ok', 'x');
SELECT pg_temp.err($$SELECT credits.unlock('u2', 'ok', 'y')$$);
SELECT pg_temp.err($$SELECT credits.unlock('u2', 'lim', 'y')$$);
-- unlock_many too: a limit that is short is reported before credits that
-- are shorter still (room for 1, no credits, 2 due)
UPDATE members SET period_limit = 2 WHERE org = 'u2' AND member = 'ok';
SELECT pg_temp.err($$SELECT * FROM credits.unlock_many('u2', 'ok', ARRAY['y', 'z'])$$);
SELECT * FROM unlock_many('u2', 'ok', ARRAY['y', 'z'], true);

-- A failed call leaves no trace but its error
SELECT count(*) AS ledger,
	(SELECT count(*) FROM unlocks WHERE org IN ('u1', 'u2')) AS unlocks,
	(SELECT sum(used) FROM usage WHERE org IN ('u1', 'u2')) AS used
FROM ledger WHERE org IN ('u1', 'u2');

-- Bad keys
SELECT pg_temp.err(sql) FROM (VALUES
	($$SELECT credits.unlock(NULL, 'ok', 'x')$$),
	($$SELECT credits.unlock('u2', 'ok', NULL)$$),
	($$SELECT credits.unlock('', 'ok', 'x')$$),
	($$SELECT credits.unlock('u2', 'ok', repeat('p', 257))$$),
	($$SELECT credits.is_unlocked('u2', NULL)$$),
	($$SELECT credits.is_unlocked('nope', 'x')$$),
	($$SELECT credits.balance(NULL)$$),
	($$SELECT credits.balance('nope')$$)
) v(sql);

-- Unlock rows and ledger entries are appended below the executor, as COPY
-- appends them: indexes a DBA adds are kept up to date, partial and
-- expression indexes included, and every index holds every row
CREATE EXTENSION amcheck;
CREATE INDEX ledger_debits_by_prospect ON credits.ledger (prospect) WHERE kind = 'debit';
CREATE INDEX unlock_rows_lower ON credits.unlock_rows (lower(prospect));
INSERT INTO orgs (org, cycle, plan_credits) VALUES ('u4', 'R/2026-01-01/P1M', 10);
INSERT INTO members (org, member) VALUES ('u4', 'ann');
SELECT unlock('u4', 'ann', 'Idx-1');
SELECT prospect, charged FROM unlock_many('u4', 'ann', ARRAY['Idx-2', 'Idx-1', 'Idx-3']);
SET enable_seqscan = off;
SELECT prospect FROM ledger WHERE kind = 'debit' AND prospect LIKE 'Idx-%' ORDER BY prospect;
SELECT prospect FROM credits.unlock_rows WHERE lower(prospect) IN ('idx-1', 'idx-2', 'idx-3')
ORDER BY prospect;
RESET enable_seqscan;
SELECT c.relname, bt_index_check(i.indexrelid, true)
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
WHERE i.indrelid IN ('credits.ledger'::regclass, 'credits.unlock_rows'::regclass)
ORDER BY c.relname;
DROP INDEX credits.ledger_debits_by_prospect, credits.unlock_rows_lower;
DROP EXTENSION amcheck;

-- A batch that is the period's first use creates the plan grant first:
-- the ledger reads in id order, grant before debits
INSERT INTO orgs (org, cycle, plan_credits) VALUES ('u5', 'R/2026-01-01/P1M', 10);
INSERT INTO members (org, member) VALUES ('u5', 'ann');
SELECT count(*) FROM unlock_many('u5', 'ann', ARRAY['a', 'b', 'c']);
SELECT kind, amount, prospect FROM ledger WHERE org = 'u5' ORDER BY id;

-- unlocked_at left out, or given as DEFAULT, is the clock
SET credits.clock = '2026-01-20T08:30:00Z';
INSERT INTO credits.unlocks VALUES ('u5', 'd', 'ann', DEFAULT);
INSERT INTO credits.unlocks (org, member, prospect) SELECT 'u5', 'ann', 'e';
SELECT prospect, unlocked_at = '2026-01-20T08:30:00Z' AS at_clock
FROM unlocks WHERE org = 'u5' AND prospect IN ('d', 'e') ORDER BY prospect;
SET credits.clock = '2026-01-15T10:00:00Z';

-- verify(org) reads only that org's rows, through the indexes (each call is
-- planned for the org it is given): no table of the extension is scanned
-- (the transaction's counters may hold earlier transactions' scans not
-- yet reported: the difference counts)
BEGIN;
SET LOCAL enable_seqscan = off;
SELECT coalesce(sum(seq_scan), 0) AS scans_before FROM pg_stat_xact_user_tables
WHERE schemaname = 'credits' \gset
SELECT count(*) AS problems FROM verify('u1');
SELECT sum(seq_scan) - :scans_before AS tables_scanned FROM pg_stat_xact_user_tables
WHERE schemaname = 'credits';
COMMIT;

SELECT * FROM verify();
