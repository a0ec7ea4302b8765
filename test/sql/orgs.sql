--
-- Organizations and members: what admins write, and what is refused
--
\i test/helpers.sql
SET credits.clock = '2026-01-15T10:00:00Z';

-- A TRUNCATE of orgs (allowed while nothing has history) or of members
-- also drops what the transaction knew of them
BEGIN;
INSERT INTO orgs (org, cycle, plan_credits) VALUES ('t1', 'R/2026-01-01/P1M', 1000);
INSERT INTO members (org, member) VALUES ('t1', 'alice');
UPDATE orgs SET frozen = false WHERE org = 't1';
TRUNCATE orgs CASCADE;
INSERT INTO orgs (org, cycle, plan_credits, frozen) VALUES ('t1', 'R/2026-01-01/P1M', 5, true);
INSERT INTO members (org, member) VALUES ('t1', 'alice');
SELECT pg_temp.err($$SELECT credits.unlock('t1', 'alice', 'p1')$$);
UPDATE orgs SET frozen = false WHERE org = 't1';
SELECT unlock('t1', 'alice', 'p1');
SELECT amount FROM grants WHERE org = 't1';
TRUNCATE members;
SELECT pg_temp.err($$SELECT credits.unlock('t1', 'alice', 'p2')$$);
ROLLBACK;

-- An org is a plain INSERT; it writes nothing else (plan grants are lazy)
INSERT INTO orgs (org, cycle, plan_credits) VALUES ('o1', 'R/2026-01-01/P1M', 100);
SELECT org, cycle, plan_credits, low_balance_threshold, frozen, created_at FROM orgs WHERE org = 'o1';
SELECT (SELECT count(*) FROM grants WHERE org = 'o1') AS grants,
	(SELECT count(*) FROM ledger WHERE org = 'o1') AS ledger;

-- created_at defaults to the clock
SELECT created_at = '2026-01-15T10:00:00Z' AS created_at_is_clock FROM orgs WHERE org = 'o1';

-- Members
INSERT INTO members (org, member) VALUES ('o1', 'alice');
INSERT INTO members (org, member, period_limit, active) VALUES ('o1', 'bob', 5, false);
SELECT * FROM members WHERE org = 'o1' ORDER BY member;

-- Bad keys and values
SELECT pg_temp.err(sql) FROM (VALUES
	($$INSERT INTO credits.orgs (org, cycle, plan_credits) VALUES ('', 'R/2026-01-01/P1M', 1)$$),
	($$INSERT INTO credits.orgs (org, cycle, plan_credits) VALUES (repeat('x', 257), 'R/2026-01-01/P1M', 1)$$),
	($$INSERT INTO credits.orgs (org, cycle, plan_credits) VALUES (NULL, 'R/2026-01-01/P1M', 1)$$),
	($$INSERT INTO credits.orgs (org, cycle, plan_credits) VALUES ('o2', 'R/2026-01-01/P1M', -1)$$),
	($$INSERT INTO credits.orgs (org, cycle, plan_credits) VALUES ('o2', 'R/2026-01-01/P1M', 1000000000001)$$),
	($$INSERT INTO credits.orgs (org, cycle, plan_credits, low_balance_threshold) VALUES ('o2', 'R/2026-01-01/P1M', 1, -1)$$),
	($$INSERT INTO credits.members (org, member) VALUES ('o1', '')$$),
	($$INSERT INTO credits.members (org, member) VALUES ('o1', repeat('m', 300))$$),
	($$INSERT INTO credits.members (org, member, period_limit) VALUES ('o1', 'carol', -1)$$),
	($$INSERT INTO credits.members (org, member) VALUES ('nobody', 'carol')$$)
) v(sql);

-- 256-byte keys are fine
INSERT INTO orgs (org, cycle, plan_credits) VALUES (repeat('k', 256), 'R/2026-01-01/P1M', 1);
DELETE FROM orgs WHERE org = repeat('k', 256);

-- Keys are compared byte for byte: '007' and '7' are different orgs
INSERT INTO orgs (org, cycle, plan_credits) VALUES ('007', 'R/2026-01-01/P1M', 1), ('7', 'R/2026-01-01/P1M', 1);
SELECT org FROM orgs WHERE org IN ('007', '7') ORDER BY org;
DELETE FROM orgs WHERE org IN ('007', '7');

-- Keys cannot change (ZC006)
SELECT pg_temp.err(sql) FROM (VALUES
	($$UPDATE credits.orgs SET org = 'o9' WHERE org = 'o1'$$),
	($$UPDATE credits.members SET member = 'alicia' WHERE member = 'alice'$$),
	($$UPDATE credits.members SET org = 'o9' WHERE member = 'alice'$$)
) v(sql);

-- Other member changes are plain updates; DELETE of a member is allowed
UPDATE members SET period_limit = 3, active = true WHERE member = 'bob';
DELETE FROM members WHERE member = 'bob';
SELECT member, period_limit, active FROM members WHERE org = 'o1' ORDER BY member;

-- An org without history can be deleted, with its members
DELETE FROM orgs WHERE org = 'o1';
SELECT count(*) AS orgs, (SELECT count(*) FROM members WHERE org = 'o1') AS members
FROM orgs WHERE org = 'o1';

-- An org with history cannot be deleted or truncated (ZC006)
INSERT INTO orgs (org, cycle, plan_credits) VALUES ('o3', 'R/2026-01-01/P1M', 10);
INSERT INTO members (org, member) VALUES ('o3', 'alice');
SELECT unlock('o3', 'alice', 'p1');
SELECT pg_temp.err(sql) FROM (VALUES
	($$DELETE FROM credits.orgs WHERE org = 'o3'$$),
	($$TRUNCATE credits.orgs CASCADE$$),
	($$TRUNCATE credits.orgs$$),
	($$TRUNCATE credits.orgs, credits.members$$)
) v(sql);
SELECT org FROM orgs WHERE org = 'o3';
-- ... also for a role that may truncate the tables but not read the
-- history (it is read with the owner's rights); a read-only transaction
-- is refused by PostgreSQL first
CREATE ROLE credits_truncater;
GRANT USAGE ON SCHEMA credits TO credits_truncater;
GRANT TRUNCATE ON credits.orgs, credits.members TO credits_truncater;
SET ROLE credits_truncater;
SELECT pg_temp.err($$TRUNCATE credits.orgs$$);
RESET ROLE;
BEGIN READ ONLY;
SELECT pg_temp.err($$TRUNCATE credits.orgs$$);
ROLLBACK;
REVOKE ALL ON credits.orgs, credits.members FROM credits_truncater;
REVOKE ALL ON SCHEMA credits FROM credits_truncater;
DROP ROLE credits_truncater;

-- An org whose row an UPDATE is changing cannot be charged in the same
-- statement (55000): the change applies when the UPDATE ends
SELECT pg_temp.err($$WITH u AS (UPDATE credits.orgs SET frozen = true WHERE org = 'o3' RETURNING org)
	SELECT credits.unlock(u.org, 'alice', 'p2') FROM u$$);
SELECT frozen, is_unlocked('o3', 'p2') FROM orgs WHERE org = 'o3';
-- ... an update another trigger cancels changes nothing, and refuses
-- nothing, even inside one block
CREATE TRIGGER zz_suppress BEFORE UPDATE ON credits.orgs
	FOR EACH ROW EXECUTE FUNCTION suppress_redundant_updates_trigger();
DO $$
BEGIN
	UPDATE credits.orgs SET frozen = false WHERE org = 'o3';
	PERFORM credits.unlock('o3', 'alice', 'p2');
END
$$;
-- ... nor in a later real update of the row, or after the org is deleted
-- and inserted again
BEGIN;
UPDATE orgs SET frozen = false WHERE org = 'o3';
UPDATE orgs SET low_balance_threshold = 1 WHERE org = 'o3';
SELECT unlock('o3', 'alice', 'p3');
ROLLBACK;
BEGIN;
INSERT INTO orgs (org, cycle, plan_credits) VALUES ('t2', 'R/2026-01-01/P1M', 10);
UPDATE orgs SET frozen = false WHERE org = 't2';
DELETE FROM orgs WHERE org = 't2';
INSERT INTO orgs (org, cycle, plan_credits) VALUES ('t2', 'R/2026-01-01/P1M', 10);
INSERT INTO members (org, member) VALUES ('t2', 'alice');
SELECT unlock('t2', 'alice', 'p1');
ROLLBACK;
DROP TRIGGER zz_suppress ON credits.orgs;
SELECT is_unlocked('o3', 'p2');
-- An UPDATE of the same row nested in another trigger and rolled back
-- leaves the outer update's refusal in place
CREATE FUNCTION pg_temp.nested_undo() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF NEW.org = 'o3' AND pg_trigger_depth() = 1 THEN
		BEGIN
			UPDATE credits.orgs SET frozen = frozen WHERE org = 'o3';
			RAISE EXCEPTION 'undo';
		EXCEPTION WHEN others THEN
			NULL;
		END;
	END IF;
	RETURN NEW;
END
$$;
CREATE FUNCTION pg_temp.charge_o3() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	PERFORM credits.unlock('o3', 'alice', 'p4');
	RETURN false;
END
$$;
CREATE TRIGGER zz_nested BEFORE UPDATE ON credits.orgs
	FOR EACH ROW EXECUTE FUNCTION pg_temp.nested_undo();
SELECT pg_temp.err($$WITH u AS (UPDATE credits.orgs SET plan_credits = 20 WHERE org = 'o3' RETURNING org)
	SELECT pg_temp.charge_o3() FROM u$$);
DROP TRIGGER zz_nested ON credits.orgs;
SELECT is_unlocked('o3', 'p4');
-- ... and so does a DELETE of the org in another trigger, rolled back
CREATE FUNCTION pg_temp.delete_undo() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF pg_trigger_depth() = 1 THEN
		BEGIN
			DELETE FROM credits.orgs WHERE org = NEW.org;
			RAISE EXCEPTION 'undo';
		EXCEPTION WHEN raise_exception THEN
			NULL;
		END;
	END IF;
	RETURN NEW;
END
$$;
INSERT INTO orgs (org, cycle, plan_credits) VALUES ('o5', 'R/2026-01-01/P1M', 10);
INSERT INTO members (org, member) VALUES ('o5', 'bob');
CREATE TRIGGER zz_delete BEFORE UPDATE ON credits.orgs
	FOR EACH ROW EXECUTE FUNCTION pg_temp.delete_undo();
SELECT pg_temp.err($$WITH u AS (UPDATE credits.orgs SET cycle = 'R/2026-01-20/P1M' WHERE org = 'o5' RETURNING org)
	SELECT credits.unlock(u.org, 'bob', 'k1') FROM u$$);
DROP TRIGGER zz_delete ON credits.orgs;
SELECT is_unlocked('o5', 'k1');

-- UPDATEs of orgs in subtransactions, committed or rolled back, keep
-- nothing until the transaction ends (each kept about 600 bytes)
BEGIN;
INSERT INTO orgs (org, cycle, plan_credits)
SELECT 'sub' || g, 'R/2026-01-01/P1M', 10 FROM generate_series(1, 10000) g;
DO $$
BEGIN
	FOR i IN 1..5000 LOOP
		BEGIN
			UPDATE credits.orgs SET frozen = true WHERE org = 'sub' || i;
		EXCEPTION WHEN division_by_zero THEN
			NULL;
		END;
		BEGIN
			UPDATE credits.orgs SET frozen = true WHERE org = 'sub' || (i + 5000);
			PERFORM 1 / 0;
		EXCEPTION WHEN division_by_zero THEN
			NULL;
		END;
	END LOOP;
END
$$;
SELECT count(*) FILTER (WHERE frozen) AS frozen, count(*) AS orgs
FROM orgs WHERE org LIKE 'sub%';
SELECT total_bytes < 2 * 1024 * 1024 AS small_transaction_memory
FROM pg_backend_memory_contexts WHERE name = 'TopTransactionContext';
ROLLBACK;

-- The cycle, plan, threshold and frozen flag are plain updates
UPDATE orgs SET frozen = true, low_balance_threshold = 2 WHERE org = 'o3';
SELECT org, frozen, low_balance_threshold FROM orgs WHERE org = 'o3';
